/*
 * cpu_gemm.c - native 64-bit ring GEMM (mod 2^64), BLIS-style:
 *
 *   for each B block (all of B when it fits 16 MiB packed)
 *     pack B into NR-wide micro-panels, KC rows at a time (threads split
 *     the panels), barrier
 *     tasks (MC rows of C x a chunk of panels), taken dynamically:
 *       for pc (KC of the k dimension)
 *         pack A block MC x KC             per thread, in L2
 *         for jr, ir: 8x24 micro-kernel    B micro-panel in L1, A from L2
 *     barrier
 *
 * Small batched GEMMs run one batch entry per thread instead.  Transposes,
 * leading dimensions, batch strides (0 = broadcast) and accumulate are
 * handled in the packing and the final tile update.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_internal.h"

#define MR CPU_GEMM_MR
#define NR CPU_GEMM_NR

/* Block sizes (elements).  KC x NR x 8 bytes of B plus KC x MR x 8 of A
 * stay in L1; MC x KC x 8 of A in L2. */
#ifndef CPU_GEMM_KC
#define CPU_GEMM_KC 128
#endif
#ifndef CPU_GEMM_MC
#define CPU_GEMM_MC 96
#endif
#define KC CPU_GEMM_KC
#define MC CPU_GEMM_MC

/* Below this many multiply-adds (m*n*k*batch) no threads are started. */
#define CPU_GEMM_PAR_MIN (UINT64_C(1) << 18)

/* ------------------------------------------------------------------------ */
/* Validation (shared with f64_gemm).                                       */
/* ------------------------------------------------------------------------ */

/* Index one past the last element of a rows x cols matrix with leading
 * dimension ld, batch entries stride apart; 0 on overflow. */
static int cpu_extent_ok(size_t batch, size_t stride, size_t rows, size_t cols,
                         size_t ld)
{
    size_t t, u;
    if (rows == 0 || cols == 0) return 1;
    if (!cpu_mul_ok(batch - 1, stride, &t)) return 0;
    if (!cpu_mul_ok(rows - 1, ld, &u)) return 0;
    if (__builtin_add_overflow(t, u, &t)) return 0;
    if (__builtin_add_overflow(t, cols, &t)) return 0;
    return cpu_mul_ok(t, 8, &t);
}

int cpu_gemm_check(const cpu_state_t *st, const spin_gemm_t *g, const char *what)
{
    if (!g) return cpu_inval(st, "%s: gemm descriptor is NULL", what);
    if (g->batch == 0) return cpu_inval(st, "%s: batch is 0 (must be >= 1)", what);
    const size_t m = g->m, n = g->n, k = g->k;
    /* Stored shapes: A is m x k or (trans) k x m, B is k x n or n x k. */
    const size_t ar = g->trans_a ? k : m, ac = g->trans_a ? m : k;
    const size_t br = g->trans_b ? n : k, bc = g->trans_b ? k : n;
    if (ar > 0 && ac > 0 && g->lda < ac)
        return cpu_inval(st, "%s: lda=%zu is below %zu (%s, m=%zu k=%zu)", what,
                         g->lda, ac, g->trans_a ? "A transposed" : "A not transposed",
                         m, k);
    if (br > 0 && bc > 0 && g->ldb < bc)
        return cpu_inval(st, "%s: ldb=%zu is below %zu (%s, k=%zu n=%zu)", what,
                         g->ldb, bc, g->trans_b ? "B transposed" : "B not transposed",
                         k, n);
    if (m > 0 && n > 0 && g->ldc < n)
        return cpu_inval(st, "%s: ldc=%zu is below n=%zu", what, g->ldc, n);
    if (m > 0 && k > 0 && !g->a)
        return cpu_inval(st, "%s: A is NULL with m=%zu k=%zu", what, m, k);
    if (k > 0 && n > 0 && !g->b)
        return cpu_inval(st, "%s: B is NULL with k=%zu n=%zu", what, k, n);
    if (m > 0 && n > 0 && !g->c)
        return cpu_inval(st, "%s: C is NULL with m=%zu n=%zu", what, m, n);
    if (!cpu_extent_ok(g->batch, g->stride_a, ar, ac, g->lda) ||
        !cpu_extent_ok(g->batch, g->stride_b, br, bc, g->ldb) ||
        !cpu_extent_ok(g->batch, g->stride_c, m, n, g->ldc))
        return cpu_inval(st, "%s: sizes overflow the address space", what);
    return SPIN_OK;
}

/* ------------------------------------------------------------------------ */
/* Packing.                                                                 */
/* ------------------------------------------------------------------------ */

/* Pack op(A)[i0 .. i0+mc) x [p0 .. p0+kc) into MR-row micro-panels:
 * dst[ip][p][r] = op(A)(i0 + ip*MR + r, p0 + p), zero beyond mc. */
static void pack_a(uint64_t *restrict dst, const uint64_t *restrict a,
                   size_t lda, int trans, size_t i0, size_t mc, size_t p0,
                   size_t kc)
{
    for (size_t ip = 0; ip * MR < mc; ip++) {
        uint64_t *d = dst + ip * MR * kc;
        const size_t r0 = i0 + ip * MR;
        const size_t rows = mc - ip * MR < MR ? mc - ip * MR : MR;
        if (!trans) {
            /* A(i, p) = a[i*lda + p]: rows are contiguous.  Walk the MR
             * rows together, 8 columns (one cache line) at a time, so that
             * all of them stream at once. */
            const uint64_t *s[MR];
            for (size_t r = 0; r < MR; r++)
                s[r] = a + (r0 + (r < rows ? r : 0)) * lda + p0;
            size_t p = 0;
            if (rows == MR) {
                for (; p + 8 <= kc; p += 8)
                    for (size_t q = 0; q < 8; q++)
                        #pragma omp simd
                        for (size_t r = 0; r < MR; r++)
                            d[(p + q) * MR + r] = s[r][p + q];
            }
            for (; p < kc; p++)
                for (size_t r = 0; r < rows; r++) d[p * MR + r] = s[r][p];
        } else {
            /* A(i, p) = a[p*lda + i]: MR consecutive rows are contiguous. */
            if (rows == MR) {
                for (size_t p = 0; p < kc; p++) {
                    const uint64_t *s = a + (p0 + p) * lda + r0;
                    #pragma omp simd
                    for (size_t r = 0; r < MR; r++) d[p * MR + r] = s[r];
                }
            } else {
                for (size_t p = 0; p < kc; p++) {
                    const uint64_t *s = a + (p0 + p) * lda + r0;
                    for (size_t r = 0; r < rows; r++) d[p * MR + r] = s[r];
                }
            }
        }
        if (rows < MR) {
            for (size_t p = 0; p < kc; p++)
                for (size_t r = rows; r < MR; r++) d[p * MR + r] = 0;
        }
    }
}

/* Pack the NR-column micro-panels [jp0, jp1) of op(B) rows [p0, p0+kc),
 * columns [j0, j0+nc): panel jp is dst + jp*NR*kc with
 * dst[jp][p][c] = op(B)(p0 + p, j0 + jp*NR + c), zero beyond nc. */
static void pack_b(uint64_t *restrict dst, const uint64_t *restrict b,
                   size_t ldb, int trans, size_t j0, size_t nc, size_t p0,
                   size_t kc, size_t jp0, size_t jp1)
{
    if (jp0 >= jp1) return;
    /* The last panel may be partial. */
    const size_t npan = (nc + NR - 1) / NR;
    const size_t full1 = jp1 < npan || nc % NR == 0 ? jp1 : jp1 - 1;
    if (!trans) {
        /* B(p, j) = b[p*ldb + j]: walk each row of B once, left to right. */
        for (size_t p = 0; p < kc; p++) {
            const uint64_t *s = b + (p0 + p) * ldb + j0;
            for (size_t jp = jp0; jp < full1; jp++) {
                uint64_t *d = dst + jp * NR * kc + p * NR;
                const uint64_t *sp = s + jp * NR;
                #pragma omp simd
                for (size_t c = 0; c < NR; c++) d[c] = sp[c];
            }
        }
    } else {
        /* B(p, j) = b[j*ldb + p]: columns of op(B) are contiguous; take 8
         * of them at a time, 8 rows deep, so that they stream together. */
        for (size_t jp = jp0; jp < full1; jp++) {
            uint64_t *d = dst + jp * NR * kc;
            for (size_t c0 = 0; c0 < NR; c0 += 8) {
                const uint64_t *s[8];
                for (size_t c = 0; c < 8; c++)
                    s[c] = b + (j0 + jp * NR + c0 + c) * ldb + p0;
                size_t p = 0;
                for (; p + 8 <= kc; p += 8)
                    for (size_t q = 0; q < 8; q++)
                        #pragma omp simd
                        for (size_t c = 0; c < 8; c++)
                            d[(p + q) * NR + c0 + c] = s[c][p + q];
                for (; p < kc; p++)
                    for (size_t c = 0; c < 8; c++)
                        d[p * NR + c0 + c] = s[c][p];
            }
        }
    }
    if (full1 < jp1) {
        /* Partial last panel. */
        const size_t jp = full1, cols = nc - jp * NR;
        uint64_t *d = dst + jp * NR * kc;
        for (size_t p = 0; p < kc; p++) {
            for (size_t c = 0; c < cols; c++)
                d[p * NR + c] = trans ? b[(j0 + jp * NR + c) * ldb + p0 + p]
                                      : b[(p0 + p) * ldb + j0 + jp * NR + c];
            for (size_t c = cols; c < NR; c++) d[p * NR + c] = 0;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* One batch entry, by the calling thread (tid of nth; team: the threads    */
/* of the enclosing parallel region share the work and synchronise).        */
/* ------------------------------------------------------------------------ */

typedef struct gemm_job {
    cpu_kernel_fn kern;
    int ta, tb, acc;
    size_t m, n, k;
    size_t lda, ldb, ldc;
    size_t ncb;                /* columns of C per B block (multiple of NR) */
    size_t kb;                 /* rows of B per B block (multiple of KC) */
} gemm_job_t;

static void tile_update(const gemm_job_t *j, size_t kc, const uint64_t *ap,
                        const uint64_t *bp, uint64_t *c, size_t rows,
                        size_t cols, int add)
{
    if (rows == MR && cols == NR) {
        j->kern(kc, ap, bp, c, j->ldc, add);
        return;
    }
    uint64_t tmp[MR * NR] __attribute__((aligned(64)));
    j->kern(kc, ap, bp, tmp, NR, 0);
    for (size_t r = 0; r < rows; r++) {
        uint64_t *cr = c + r * j->ldc;
        const uint64_t *tr = tmp + r * NR;
        if (add) {
            for (size_t q = 0; q < cols; q++) cr[q] += tr[q];
        } else {
            for (size_t q = 0; q < cols; q++) cr[q] = tr[q];
        }
    }
}

static void team_barrier(int team)
{
    if (team) {
        #pragma omp barrier
    }
}

/* Next task index: a shared counter for a team (dynamic scheduling, so a
 * thread that loses its core does not hold the others up), else local. */
static size_t next_task(size_t *counter, int team)
{
    size_t t;
    if (team) {
        #pragma omp atomic capture
        t = (*counter)++;
    } else {
        t = (*counter)++;
    }
    return t;
}

/* counters: one zeroed counter per B block (shared by the team). */
static void gemm_one(const gemm_job_t *j, const uint64_t *a, const uint64_t *b,
                     uint64_t *c, uint64_t *apack, uint64_t *bpack,
                     size_t *counters, int tid, int nth, int team)
{
    const size_t m = j->m, n = j->n, k = j->k;
    const size_t nic = (m + MC - 1) / MC;
    size_t blk = 0;
    for (size_t jc = 0; jc < n; jc += j->ncb) {
        const size_t nc = n - jc < j->ncb ? n - jc : j->ncb;
        const size_t npan = (nc + NR - 1) / NR, ncpad = npan * NR;
        /* Enough (row block, column chunk) tasks for every thread. */
        size_t nchunk = 1;
        if (nic < 4 * (size_t)nth) {
            nchunk = (4 * (size_t)nth + nic - 1) / nic;
            if (nchunk > npan) nchunk = npan;
        }
        const size_t ntask = nic * nchunk;
        for (size_t pb = 0; pb < k; pb += j->kb, blk++) {
            const size_t pe = k - pb < j->kb ? k : pb + j->kb;
            /* Pack rows [pb, pe) of this column block of B, KC at a time:
             * the KC block at row pc starts at bpack + (pc - pb) * ncpad. */
            for (size_t pc = pb; pc < pe; pc += KC) {
                const size_t kc = pe - pc < KC ? pe - pc : KC;
                pack_b(bpack + (pc - pb) * ncpad, b, j->ldb, j->tb, jc, nc, pc, kc,
                       npan * (size_t)tid / (size_t)nth,
                       npan * (size_t)(tid + 1) / (size_t)nth);
            }
            team_barrier(team);
            size_t local = 0;
            size_t *ctr = team ? &counters[blk] : &local;
            for (size_t t = next_task(ctr, team); t < ntask; t = next_task(ctr, team)) {
                const size_t ic = t / nchunk, ch = t % nchunk;
                const size_t i0 = ic * MC;
                const size_t mc = m - i0 < MC ? m - i0 : MC;
                const size_t jp0 = npan * ch / nchunk, jp1 = npan * (ch + 1) / nchunk;
                for (size_t pc = pb; pc < pe; pc += KC) {
                    const size_t kc = pe - pc < KC ? pe - pc : KC;
                    const int add = j->acc || pc > 0;
                    pack_a(apack, a, j->lda, j->ta, i0, mc, pc, kc);
                    const uint64_t *bblk = bpack + (pc - pb) * ncpad;
                    for (size_t jp = jp0; jp < jp1; jp++) {
                        const size_t col0 = jp * NR;
                        const size_t cols = nc - col0 < NR ? nc - col0 : NR;
                        const uint64_t *bp = bblk + jp * NR * kc;
                        for (size_t ip = 0; ip * MR < mc; ip++) {
                            const size_t rows = mc - ip * MR < MR ? mc - ip * MR : MR;
                            uint64_t *ct = c + (i0 + ip * MR) * j->ldc + jc + col0;
                            tile_update(j, kc, apack + ip * MR * kc, bp, ct, rows,
                                        cols, add);
                        }
                    }
                }
            }
            team_barrier(team);   /* before B is packed again */
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Entry point.                                                             */
/* ------------------------------------------------------------------------ */

/* Packed B is kept below this many words (16 MiB) per block. */
#define CPU_GEMM_B_BUDGET ((size_t)1 << 21)

static void zero_c(const spin_gemm_t *g)
{
    uint64_t *c = g->c;
    for (size_t bi = 0; bi < g->batch; bi++) {
        uint64_t *cb = c + bi * g->stride_c;
        for (size_t i = 0; i < g->m; i++) memset(cb + i * g->ldc, 0, g->n * 8);
    }
}

/* Choose the B block (kb rows x ncb columns): all of B when it fits the
 * budget (then a GEMM has just two barriers), else fewer columns (at least
 * 16 panels), then fewer rows. */
static void choose_blocks(gemm_job_t *j)
{
    const size_t npad = (j->n + NR - 1) / NR * NR;
    size_t ncb = npad, kb = j->k;
    if (kb > CPU_GEMM_B_BUDGET / ncb) {
        size_t panels = CPU_GEMM_B_BUDGET / NR / kb;
        if (panels < 16) panels = 16;
        ncb = panels * NR < npad ? panels * NR : npad;
        if (kb > CPU_GEMM_B_BUDGET / ncb) {
            kb = CPU_GEMM_B_BUDGET / ncb / KC * KC;
            if (kb < KC) kb = KC;
        }
    }
    j->ncb = ncb;
    j->kb = kb;
}

int cpu_ring_gemm(void *state, const spin_gemm_t *g, spin_stream_t *s)
{
    (void)s;
    cpu_state_t *st = state;
    int rc = cpu_gemm_check(st, g, "ring_gemm");
    if (rc) return rc;
    if (g->m == 0 || g->n == 0) return SPIN_OK;
    if (g->k == 0) {
        if (!g->accumulate) zero_c(g);
        return SPIN_OK;
    }
    gemm_job_t j = {
        .kern = st->gemm_kernel,
        .ta = g->trans_a != 0, .tb = g->trans_b != 0, .acc = g->accumulate != 0,
        .m = g->m, .n = g->n, .k = g->k,
        .lda = g->lda, .ldb = g->ldb, .ldc = g->ldc,
    };
    choose_blocks(&j);
    const size_t batch = g->batch;
    int nth = 1;
#ifdef _OPENMP
    nth = omp_get_max_threads();
#endif
    const double work = (double)g->m * (double)g->n * (double)g->k;
    if (work * (double)batch < (double)CPU_GEMM_PAR_MIN) nth = 1;
    /* One whole batch entry per thread when entries are small or plenty
     * (not when C is broadcast: entries would race on it). */
    const int per_batch = nth > 1 && g->stride_c != 0 && batch >= (size_t)nth &&
        (work < (double)(1u << 21) || batch % (size_t)nth == 0 ||
         batch >= 4 * (size_t)nth);

    const size_t kc_max = g->k < KC ? g->k : KC;
    const size_t mc_max = g->m < MC ? g->m : MC;
    const size_t asz = ((mc_max + MR - 1) / MR) * MR * kc_max;
    const size_t bsz = j.ncb * j.kb + NR * KC;
    const size_t nbbuf = per_batch ? (size_t)nth : 1;
    /* One counter per B block, per batch entry (team mode). */
    const size_t nblk = ((g->n + j.ncb - 1) / j.ncb) * ((g->k + j.kb - 1) / j.kb);
    const size_t ncnt = per_batch || nth == 1 ? 0 : nblk * batch;
    const size_t total = asz * (size_t)nth + bsz * nbbuf + ncnt;
    if (st->gemm_buf_words < total) {
        free(st->gemm_buf);
        st->gemm_buf_words = 0;
        st->gemm_buf = aligned_alloc(64, ((total * 8) + 63) & ~(size_t)63);
        if (!st->gemm_buf)
            return cpu_fail(st, SPIN_ERR_NOMEM, "ring_gemm: out of memory for "
                            "packing (%zu bytes)", total * 8);
        st->gemm_buf_words = total;
    }
    uint64_t *buf = st->gemm_buf;
    size_t *counters = (size_t *)(buf + asz * (size_t)nth + bsz * nbbuf);
    if (ncnt) memset(counters, 0, ncnt * sizeof(size_t));

    const uint64_t *a = g->a, *b = g->b;
    uint64_t *c = g->c;
    if (nth == 1) {
        for (size_t bi = 0; bi < batch; bi++)
            gemm_one(&j, a + bi * g->stride_a, b + bi * g->stride_b,
                     c + bi * g->stride_c, buf, buf + asz, NULL, 0, 1, 0);
    } else if (per_batch) {
        #pragma omp parallel num_threads(nth)
        {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            uint64_t *ap = buf + asz * (size_t)tid;
            uint64_t *bp = buf + asz * (size_t)nth + bsz * (size_t)tid;
            #pragma omp for schedule(dynamic, 1)
            for (size_t bi = 0; bi < batch; bi++)
                gemm_one(&j, a + bi * g->stride_a, b + bi * g->stride_b,
                         c + bi * g->stride_c, ap, bp, NULL, 0, 1, 0);
        }
    } else {
        #pragma omp parallel num_threads(nth)
        {
            int tid = 0, team = 1;
#ifdef _OPENMP
            tid = omp_get_thread_num();
            team = omp_get_num_threads();
#endif
            uint64_t *ap = buf + asz * (size_t)tid;
            uint64_t *bp = buf + asz * (size_t)nth;
            for (size_t bi = 0; bi < batch; bi++)
                gemm_one(&j, a + bi * g->stride_a, b + bi * g->stride_b,
                         c + bi * g->stride_c, ap, bp, counters + bi * nblk,
                         tid, team, team > 1);
        }
    }
    return SPIN_OK;
}
