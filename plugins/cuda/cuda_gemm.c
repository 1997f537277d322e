/*
 * cuda_gemm.c - 64-bit ring GEMM (mod 2^64) three ways, and the float64
 * GEMM (cuBLAS DGEMM).
 *
 *   limb16  4 limbs of 16 bits as float64; C_s = sum_{l+l'=s} A_l B_l' is
 *           ONE cuBLAS DGEMM per shift s over an inner dimension (s+1)*kp
 *           (the packed layout of cuda_math.h), 4 GEMMs and 10 limb
 *           products in all; exact while K chunks stay <= 2^19.
 *   int8    8 signed 8-bit digits, cublasGemmEx int8 x int8 -> int32 on
 *           tensor cores; 8 GEMMs (36 limb products); K chunks <= 16368.
 *   native  a tiled 64-bit integer kernel (cuda_k_gemm.cu), no workspace.
 *
 * Both limb methods run, per batch chunk and K chunk: split A and B into
 * packed limbs (cuda_k_limb_split), one strided-batched GEMM per shift,
 * then recombine C (=|+=) sum_s 2^(bits*s) C_s in one kernel.  The
 * workspace comes from the caching allocator and is kept below
 * st->gemm_ws_budget by chunking the batch (then K).  When the workspace
 * cannot be had, or cuBLAS refuses an int8 GEMM (NOT_SUPPORTED, before
 * anything was written), that GEMM runs on the native kernel.
 *
 * Choice (SPIN_CUDA_GEMM=auto|limb16|int8|native overrides): the table
 * below.  Its thresholds are a first estimate from peak rates (int8 tensor
 * cores: 36 products at ~30x the float64 rate; launch and split overhead
 * for small shapes) and have NOT been measured on a GPU yet: replace them
 * with the figures of `spin-bench kernel` (docs/PERFORMANCE.md).
 *
 * Batch entries sharing one C (stride_c == 0, batch > 1) behave as the
 * entries run one after the other: without accumulate only the last entry
 * counts, with accumulate C gets the sum of all.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "cuda_internal.h"

/* ------------------------------------------------------------------------ */
/* Method names and the selection table.                                    */
/* ------------------------------------------------------------------------ */

int cuda_gemm_parse(const char *v)
{
    if (!v || !*v || strcmp(v, "auto") == 0) return CUDA_GEMM_AUTO;
    if (strcmp(v, "limb16") == 0) return CUDA_GEMM_LIMB16;
    if (strcmp(v, "int8") == 0) return CUDA_GEMM_INT8;
    if (strcmp(v, "native") == 0) return CUDA_GEMM_NATIVE;
    return -1;
}

const char *cuda_gemm_name(cuda_gemm_method_t m)
{
    switch (m) {
    case CUDA_GEMM_LIMB16: return "limb16";
    case CUDA_GEMM_INT8: return "int8";
    case CUDA_GEMM_NATIVE: return "native";
    default: return "auto";
    }
}

/* First matching row wins.  min_cc: compute capability (major*10+minor);
 * min_work: m*n*k*batch multiply-adds; min_mn / min_k: smallest of m and n,
 * and k, for the limb methods to fill tensor-core tiles. */
typedef struct gemm_rule {
    int min_cc;
    double min_work;
    size_t min_mn, min_k;
    cuda_gemm_method_t method;
} gemm_rule_t;

static const gemm_rule_t gemm_table[] = {
    /* int8 tensor cores (Turing and later): large enough shapes. */
    { 75, 16777216.0, 64, 64, CUDA_GEMM_INT8 },
    /* Older GPUs: float64 limbs only for large shapes. */
    { 0, 1073741824.0, 256, 256, CUDA_GEMM_LIMB16 },
    /* Everything else: the native kernel (no workspace, one launch). */
    { 0, 0.0, 0, 0, CUDA_GEMM_NATIVE },
};

static cuda_gemm_method_t gemm_choose(const cuda_state_t *st, const spin_gemm_t *g)
{
    if (st->gemm_force != CUDA_GEMM_AUTO) return st->gemm_force;
    const double work = (double)g->m * (double)g->n * (double)g->k * (double)g->batch;
    const size_t mn = g->m < g->n ? g->m : g->n;
    for (size_t i = 0; i < sizeof gemm_table / sizeof gemm_table[0]; i++) {
        const gemm_rule_t *r = &gemm_table[i];
        if (st->cc >= r->min_cc && work >= r->min_work && mn >= r->min_mn &&
            g->k >= r->min_k)
            return r->method;
    }
    return CUDA_GEMM_NATIVE;
}

/* ------------------------------------------------------------------------ */
/* Validation (shared with f64_gemm).                                       */
/* ------------------------------------------------------------------------ */

/* Index one past the last element of a rows x cols matrix with leading
 * dimension ld, batch entries stride apart; 0 on overflow. */
static int extent_ok(size_t batch, size_t stride, size_t rows, size_t cols,
                     size_t ld)
{
    size_t t, u;
    if (rows == 0 || cols == 0) return 1;
    if (!cuda_mul_ok(batch - 1, stride, &t)) return 0;
    if (!cuda_mul_ok(rows - 1, ld, &u)) return 0;
    if (__builtin_add_overflow(t, u, &t)) return 0;
    if (__builtin_add_overflow(t, cols, &t)) return 0;
    return cuda_mul_ok(t, 8, &t) && t <= (size_t)INT64_MAX;
}

static int gemm_check(const cuda_state_t *st, const spin_gemm_t *g, const char *what)
{
    if (!g) return cuda_inval(st, "%s: gemm descriptor is NULL", what);
    if (g->batch == 0) return cuda_inval(st, "%s: batch is 0 (must be >= 1)", what);
    const size_t m = g->m, n = g->n, k = g->k;
    const size_t ar = g->trans_a ? k : m, ac = g->trans_a ? m : k;
    const size_t br = g->trans_b ? n : k, bc = g->trans_b ? k : n;
    if (ar > 0 && ac > 0 && g->lda < ac)
        return cuda_inval(st, "%s: lda=%zu is below %zu (%s, m=%zu k=%zu)", what,
                          g->lda, ac, g->trans_a ? "A transposed" : "A not transposed",
                          m, k);
    if (br > 0 && bc > 0 && g->ldb < bc)
        return cuda_inval(st, "%s: ldb=%zu is below %zu (%s, k=%zu n=%zu)", what,
                          g->ldb, bc, g->trans_b ? "B transposed" : "B not transposed",
                          k, n);
    if (m > 0 && n > 0 && g->ldc < n)
        return cuda_inval(st, "%s: ldc=%zu is below n=%zu", what, g->ldc, n);
    if (m > 0 && k > 0 && !g->a)
        return cuda_inval(st, "%s: A is NULL with m=%zu k=%zu", what, m, k);
    if (k > 0 && n > 0 && !g->b)
        return cuda_inval(st, "%s: B is NULL with k=%zu n=%zu", what, k, n);
    if (m > 0 && n > 0 && !g->c)
        return cuda_inval(st, "%s: C is NULL with m=%zu n=%zu", what, m, n);
    if (!extent_ok(g->batch, g->stride_a, ar, ac, g->lda) ||
        !extent_ok(g->batch, g->stride_b, br, bc, g->ldb) ||
        !extent_ok(g->batch, g->stride_c, m, n, g->ldc))
        return cuda_inval(st, "%s: sizes overflow the address space", what);
    return SPIN_OK;
}

/* The batch entry b of g alone. */
static spin_gemm_t gemm_entry(const spin_gemm_t *g, size_t b)
{
    spin_gemm_t e = *g;
    e.batch = 1;
    e.a = (const uint64_t *)g->a + b * g->stride_a;
    e.b = (const uint64_t *)g->b + b * g->stride_b;
    e.c = (uint64_t *)g->c + b * g->stride_c;
    e.stride_a = e.stride_b = e.stride_c = 0;
    return e;
}

/* ------------------------------------------------------------------------ */
/* Limb methods.                                                            */
/* ------------------------------------------------------------------------ */

typedef struct limb_kind {
    int bits;                 /* 16 or 8 */
    int L;                    /* limbs */
    size_t esz;               /* bytes per packed limb */
    size_t csz;               /* bytes per C_s element */
    size_t kmax;              /* K chunk */
} limb_kind_t;

static const limb_kind_t LIMB16 = { 16, CM_LIMB16_L, 8, 8, CM_LIMB16_KMAX };
static const limb_kind_t LIMB8 = { 8, CM_INT8_L, 1, 4, CM_INT8_KMAX };

/* Leading dimension of the C_s planes: a multiple of 4 elements keeps
 * every row 16-byte aligned (cuBLAS int8 tensor-core kernels want it). */
static size_t limb_ldcs(size_t n)
{
    return (n + 3) / 4 * 4;
}

/* Workspace bytes for nb batch entries and K chunk kc, or SIZE_MAX. */
static size_t limb_ws(const limb_kind_t *lk, const spin_gemm_t *g, size_t nb,
                      size_t kc, int bca, int bcb)
{
    const size_t kp = cm_limb_kpad(kc);
    size_t pa, pb, pc, t;
    if (!cuda_mul_ok(g->m, (size_t)lk->L * kp * lk->esz, &pa) ||
        !cuda_mul_ok(g->n, (size_t)lk->L * kp * lk->esz, &pb) ||
        !cuda_mul_ok(g->m, limb_ldcs(g->n), &pc) ||
        !cuda_mul_ok(pc, (size_t)lk->L * lk->csz, &pc))
        return SIZE_MAX;
    if (!bca && !cuda_mul_ok(pa, nb, &pa)) return SIZE_MAX;
    if (!bcb && !cuda_mul_ok(pb, nb, &pb)) return SIZE_MAX;
    if (!cuda_mul_ok(pc, nb, &pc)) return SIZE_MAX;
    /* Each part is rounded up to 256 bytes. */
    t = 0;
    if (__builtin_add_overflow(pa + 255, pb + 255, &t) ||
        __builtin_add_overflow(t, pc + 255, &t))
        return SIZE_MAX;
    return t;
}

static int limb_gemm_shift(cuda_state_t *st, const limb_kind_t *lk, int s,
                           const void *ap, const void *bp, void *cs, size_t m,
                           size_t n, size_t kp, size_t nb, int bca, int bcb)
{
    const size_t ld = (size_t)lk->L * kp;
    const size_t kk = (size_t)(s + 1) * kp;
    const size_t boff = cm_pack_bslice(lk->L, s, kp);
    const long long sa = bca ? 0 : (long long)(m * ld);
    const long long sb = bcb ? 0 : (long long)(n * ld);
    const size_t ldcs = limb_ldcs(n);
    const long long sc = (long long)(m * ldcs);
    void *c = (char *)cs + (size_t)s * nb * m * ldcs * lk->csz;
    /* Row-major C (m x n) is column-major C^T (n x m) = B_slice^T A_pack:
     * both packed operands are K-contiguous rows (the "TN" layout). */
    if (lk->bits == 16) {
        const double one = 1.0, zero = 0.0;
        return cuda_check_blas(st, cublasDgemmStridedBatched_64(
            st->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int64_t)n, (int64_t)m, (int64_t)kk,
            &one, (const double *)bp + boff, (int64_t)ld, sb,
            (const double *)ap, (int64_t)ld, sa, &zero, (double *)c, (int64_t)ldcs, sc,
            (int64_t)nb), "ring_gemm (limb16 DGEMM)");
    }
    const int32_t one = 1, zero = 0;
    cublasStatus_t e = cublasGemmStridedBatchedEx_64(
        st->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int64_t)n, (int64_t)m, (int64_t)kk,
        &one, (const int8_t *)bp + boff, CUDA_R_8I, (int64_t)ld, sb,
        ap, CUDA_R_8I, (int64_t)ld, sa, &zero, c, CUDA_R_32I, (int64_t)ldcs, sc,
        (int64_t)nb, CUBLAS_COMPUTE_32I, CUBLAS_GEMM_DEFAULT);
    if (e == CUBLAS_STATUS_NOT_SUPPORTED) return SPIN_ERR_NOTSUP; /* caller falls back */
    return cuda_check_blas(st, e, "ring_gemm (int8 GemmEx)");
}

/* One GEMM (batch entries with their own C) through limbs.  SPIN_ERR_NOTSUP
 * / SPIN_ERR_NOMEM before anything was written: the caller runs the native
 * kernel instead. */
static int limb_gemm(cuda_state_t *st, const limb_kind_t *lk, const spin_gemm_t *g,
                     cudaStream_t cs)
{
    const size_t m = g->m, n = g->n, k = g->k, batch = g->batch;
    const int bca = g->stride_a == 0 && batch > 1;
    const int bcb = g->stride_b == 0 && batch > 1;
    size_t kc = k < lk->kmax ? k : lk->kmax;
    size_t nb = batch;
    /* Fit the budget: fewer batch entries per step, then smaller K chunks. */
    while (nb > 1 && limb_ws(lk, g, nb, kc, bca, bcb) > st->gemm_ws_budget)
        nb = (nb + 1) / 2;
    while (kc > 1024 && limb_ws(lk, g, nb, kc, bca, bcb) > st->gemm_ws_budget)
        kc = cm_limb_kpad((kc + 1) / 2);
    const size_t ws = limb_ws(lk, g, nb, kc, bca, bcb);
    if (ws == SIZE_MAX) return SPIN_ERR_NOMEM;
    void *buf = NULL;
    int rc = cuda_alloc_try(st, ws, &buf, cs);
    if (rc) return rc;
    int rcb = cuda_check_blas(st, cublasSetStream(st->blas, cs), "ring_gemm");
    if (rcb) {
        (void)cuda_alloc_put_after(st, buf, cs);
        return rcb;
    }
    const size_t kpmax = cm_limb_kpad(kc);
    const size_t pa = (bca ? 1 : nb) * m * (size_t)lk->L * kpmax * lk->esz;
    const size_t pb = (bcb ? 1 : nb) * n * (size_t)lk->L * kpmax * lk->esz;
    char *apack = buf;
    char *bpack = apack + (pa + 255) / 256 * 256;
    char *cbuf = bpack + (pb + 255) / 256 * 256;
    const uint64_t *A = g->a, *B = g->b;
    uint64_t *C = g->c;
    /* op(A)(i, p) = A[i*lda + p] or A[p*lda + i]; op(B)(p, j) likewise. */
    const size_t ars = g->trans_a ? 1 : g->lda, aps = g->trans_a ? g->lda : 1;
    const size_t brs = g->trans_b ? g->ldb : 1, bps = g->trans_b ? 1 : g->ldb;
    for (size_t b0 = 0; b0 < batch && !rc; b0 += nb) {
        const size_t nbc = batch - b0 < nb ? batch - b0 : nb;
        for (size_t k0 = 0; k0 < k && !rc; k0 += kc) {
            const size_t kcur = k - k0 < kc ? k - k0 : kc;
            const size_t kp = cm_limb_kpad(kcur);
            rc = cuda_check(st, cuda_k_limb_split(cs, lk->bits, 0, A + b0 * g->stride_a,
                                                  m, k0, kcur, ars, aps, g->stride_a,
                                                  bca ? 1 : nbc, apack, kp),
                            "ring_gemm: limb split of A");
            if (!rc)
                rc = cuda_check(st, cuda_k_limb_split(cs, lk->bits, 1,
                                                      B + b0 * g->stride_b, n, k0,
                                                      kcur, brs, bps, g->stride_b,
                                                      bcb ? 1 : nbc, bpack, kp),
                                "ring_gemm: limb split of B");
            for (int s = 0; s < lk->L && !rc; s++)
                rc = limb_gemm_shift(st, lk, s, apack, bpack, cbuf, m, n, kp, nbc,
                                     bca, bcb);
            if (rc == SPIN_ERR_NOTSUP && (b0 > 0 || k0 > 0))
                rc = cuda_fail(st, SPIN_ERR_INTERNAL, "ring_gemm: cuBLAS refused an "
                               "int8 GEMM after accepting the same shape");
            if (!rc)
                rc = cuda_check(st, cuda_k_limb_combine(cs, lk->bits, cbuf, m, n,
                                                        limb_ldcs(n), nbc,
                                                        C + b0 * g->stride_c, g->ldc,
                                                        g->stride_c,
                                                        g->accumulate || k0 > 0),
                                "ring_gemm: recombination");
        }
    }
    (void)cuda_alloc_put_after(st, buf, cs);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Entry points.                                                            */
/* ------------------------------------------------------------------------ */

static int ring_gemm_run(cuda_state_t *st, const spin_gemm_t *g, cudaStream_t cs)
{
    const cuda_gemm_method_t m = gemm_choose(st, g);
    if (m == CUDA_GEMM_LIMB16 || m == CUDA_GEMM_INT8) {
        int rc = limb_gemm(st, m == CUDA_GEMM_INT8 ? &LIMB8 : &LIMB16, g, cs);
        if (rc != SPIN_ERR_NOTSUP && rc != SPIN_ERR_NOMEM) return rc;
        if (rc == SPIN_ERR_NOTSUP) {
            if (!st->int8_refused++)
                spin_log(st->host ? st->host->log : NULL, SPIN_LOG_WARN,
                         "cuda: cuBLAS refused an int8 GEMM on %s (m=%zu n=%zu "
                         "k=%zu); using the native ring GEMM kernel for such "
                         "shapes (warned once)", st->name, g->m, g->n, g->k);
        } else {
            spin_log(st->host ? st->host->log : NULL, SPIN_LOG_DEBUG,
                     "cuda: no workspace for a %s ring GEMM (m=%zu n=%zu k=%zu "
                     "batch=%zu); using the native kernel", cuda_gemm_name(m),
                     g->m, g->n, g->k, g->batch);
        }
    }
    return cuda_check(st, cuda_k_gemm_native(cs, g), "ring_gemm (native kernel)");
}

int cuda_ring_gemm(void *state, const spin_gemm_t *g, spin_stream_t *s)
{
    cuda_state_t *st = state;
    int rc = gemm_check(st, g, "ring_gemm");
    if (rc) return rc;
    cudaStream_t cs;
    rc = cuda_enter(st, "ring_gemm", s, &cs);
    if (rc || g->m == 0 || g->n == 0) return rc;
    if (g->k == 0) {
        if (g->accumulate) return SPIN_OK;
        return cuda_check(st, cuda_k_zero_matrix(cs, g->c, g->m, g->n, g->ldc,
                                                 g->stride_c ? g->batch : 1,
                                                 g->stride_c),
                          "ring_gemm");
    }
    if (g->stride_c == 0 && g->batch > 1) {
        /* One C for every entry: as if the entries ran in turn. */
        if (!g->accumulate) {
            spin_gemm_t e = gemm_entry(g, g->batch - 1);
            return ring_gemm_run(st, &e, cs);
        }
        for (size_t b = 0; b < g->batch && !rc; b++) {
            spin_gemm_t e = gemm_entry(g, b);
            rc = ring_gemm_run(st, &e, cs);
        }
        return rc;
    }
    return ring_gemm_run(st, g, cs);
}

static int f64_gemm_run(cuda_state_t *st, const spin_gemm_t *g)
{
    const double one = 1.0, beta = g->accumulate ? 1.0 : 0.0;
    /* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: the
     * stored B (n x k or k x n row-major) is op(B)^T or its transpose in
     * column-major terms, likewise A. */
    return cuda_check_blas(st, cublasDgemmStridedBatched_64(
        st->blas, g->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
        g->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int64_t)g->n, (int64_t)g->m,
        (int64_t)g->k, &one, g->b, (int64_t)g->ldb, (long long)g->stride_b,
        g->a, (int64_t)g->lda, (long long)g->stride_a, &beta, g->c,
        (int64_t)g->ldc, (long long)g->stride_c, (int64_t)g->batch),
        "f64_gemm (DGEMM)");
}

int cuda_f64_gemm(void *state, const spin_gemm_t *g, spin_stream_t *s)
{
    cuda_state_t *st = state;
    int rc = gemm_check(st, g, "f64_gemm");
    if (rc) return rc;
    cudaStream_t cs;
    rc = cuda_enter(st, "f64_gemm", s, &cs);
    if (rc || g->m == 0 || g->n == 0) return rc;
    if (g->k == 0) {
        if (g->accumulate) return SPIN_OK;
        return cuda_check(st, cuda_k_zero_matrix(cs, g->c, g->m, g->n, g->ldc,
                                                 g->stride_c ? g->batch : 1,
                                                 g->stride_c),
                          "f64_gemm");
    }
    rc = cuda_check_blas(st, cublasSetStream(st->blas, cs), "f64_gemm");
    if (rc) return rc;
    if (g->stride_c == 0 && g->batch > 1) {
        if (!g->accumulate) {
            spin_gemm_t e = gemm_entry(g, g->batch - 1);
            return f64_gemm_run(st, &e);
        }
        for (size_t b = 0; b < g->batch && !rc; b++) {
            spin_gemm_t e = gemm_entry(g, b);
            rc = f64_gemm_run(st, &e);
        }
        return rc;
    }
    return f64_gemm_run(st, g);
}
