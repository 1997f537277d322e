/* conformance_compute_ring.c - ring GEMM against a naive reference (odd
 * shapes, transposes, batches, broadcast, accumulate) and every element-wise
 * ring op and fixed-point conversion on edge values; the float64 reference
 * ops (GEMM and element-wise) against plain C math. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "conformance_compute.h"

/* ------------------------------------------------------------------------ */
/* Ring GEMM.                                                               */
/* ------------------------------------------------------------------------ */

typedef struct gemm_case {
    size_t m, n, k;
    int ta, tb, acc;
    size_t pad;          /* added to every leading dimension */
    size_t batch;
    int bcast_a, bcast_b;
} gemm_case_t;

static void run_gemm_case(const gemm_case_t *t, uint64_t seed)
{
    const size_t m = t->m, n = t->n, k = t->k, batch = t->batch;
    const size_t ar = t->ta ? k : m, ac = t->ta ? m : k;
    const size_t br = t->tb ? n : k, bc = t->tb ? k : n;
    const size_t lda = ac + t->pad, ldb = bc + t->pad, ldc = n + t->pad;
    /* Batch strides leave a gap of 3 elements between entries. */
    const size_t sa = t->bcast_a ? 0 : ar * lda + 3;
    const size_t sb = t->bcast_b ? 0 : br * ldb + 3;
    const size_t sc = m * ldc + 3;
    const size_t na = (t->bcast_a ? 0 : (batch - 1) * sa) + ar * lda;
    const size_t nb = (t->bcast_b ? 0 : (batch - 1) * sb) + br * ldb;
    const size_t nc = (batch - 1) * sc + m * ldc;
    uint64_t *ha = hrand(na, seed), *hb = hrand(nb, seed + 1);
    uint64_t *hc0 = hrand(nc, seed + 2), *ref = malloc((nc ? nc : 1) * 8);
    uint64_t *got = malloc((nc ? nc : 1) * 8);
    memcpy(ref, hc0, nc * 8);
    for (size_t b = 0; b < batch; b++) {
        const uint64_t *A = ha + b * sa, *B = hb + b * sb;
        uint64_t *C = ref + b * sc;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                uint64_t s = 0;
                for (size_t p = 0; p < k; p++) {
                    uint64_t av = t->ta ? A[p * lda + i] : A[i * lda + p];
                    uint64_t bv = t->tb ? B[j * ldb + p] : B[p * ldb + j];
                    s += av * bv;
                }
                C[i * ldc + j] = t->acc ? C[i * ldc + j] + s : s;
            }
    }
    uint64_t *da = up64(ha, na), *db = up64(hb, nb), *dc = up64(hc0, nc);
    spin_gemm_t g = {
        .trans_a = t->ta, .trans_b = t->tb, .accumulate = t->acc,
        .m = m, .n = n, .k = k, .batch = batch,
        .a = da, .lda = lda, .stride_a = sa,
        .b = db, .ldb = ldb, .stride_b = sb,
        .c = dc, .ldc = ldc, .stride_c = sc,
    };
    OK(O->ring_gemm(S, &g, NULL));
    get(got, dc, nc * 8);
    for (size_t i = 0; i < nc; i++)
        EXPECT(got[i] == ref[i],
                      "gemm m=%zu n=%zu k=%zu ta=%d tb=%d acc=%d pad=%zu batch=%zu "
                      "bcast=%d/%d: C element %zu is %016llx, expected %016llx",
                      m, n, k, t->ta, t->tb, t->acc, t->pad, batch, t->bcast_a,
                      t->bcast_b, i, (unsigned long long)got[i],
                      (unsigned long long)ref[i]);
    dfree(da); dfree(db); dfree(dc);
    free(ha); free(hb); free(hc0); free(ref); free(got);
}

static const size_t GEMM_SHAPES[][3] = {
    { 1, 1, 1 }, { 3, 5, 7 }, { 17, 33, 65 }, { 129, 67, 255 }, { 4, 6, 0 },
    { 8, 24, 128 }, { 9, 25, 129 },
};

START_TEST(test_gemm_shapes)
{
    /* _i: one shape, all transposes, accumulate on/off, tight and padded. */
    const size_t *sh = GEMM_SHAPES[_i];
    uint64_t seed = 100 + (uint64_t)_i * 16;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int acc = 0; acc < 2; acc++)
                for (size_t pad = 0; pad <= 3; pad += 3) {
                    gemm_case_t c = { sh[0], sh[1], sh[2], ta, tb, acc, pad, 1, 0, 0 };
                    run_gemm_case(&c, seed++);
                }
}
END_TEST

START_TEST(test_gemm_batched)
{
    const gemm_case_t cases[] = {
        { 17, 33, 65, 0, 0, 0, 2, 4, 0, 0 },
        { 17, 33, 65, 1, 1, 1, 1, 4, 1, 0 },    /* A broadcast */
        { 17, 33, 65, 0, 1, 0, 0, 5, 0, 1 },    /* B broadcast */
        { 40, 50, 60, 1, 0, 1, 0, 6, 0, 0 },    /* many medium entries */
        { 129, 67, 255, 0, 0, 0, 1, 3, 1, 1 },  /* large entries, both broadcast */
        { 3, 5, 0, 0, 0, 0, 0, 3, 0, 0 },       /* k = 0 zeroes C */
        { 3, 5, 0, 0, 0, 1, 2, 3, 0, 0 },       /* k = 0, accumulate keeps C */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_gemm_case(&cases[i], 900 + i * 8);
}
END_TEST

START_TEST(test_gemm_blocks)
{
    /* Crosses every blocking boundary a CPU kernel is likely to have
     * (k > 256, n > 4096, m not a multiple of anything, large B). */
    const gemm_case_t cases[] = {
        { 9, 4100, 130, 0, 0, 1, 1, 1, 0, 0 },
        { 9, 4100, 130, 1, 1, 0, 0, 1, 0, 0 },
        { 203, 61, 517, 0, 1, 0, 5, 1, 0, 0 },
        { 203, 61, 517, 1, 0, 1, 0, 1, 0, 0 },
        /* k*n above 2^21: B no longer fits one packed block on the cpu
         * plugin (column blocks, then row blocks of B). */
        { 5, 2100, 1100, 0, 0, 1, 0, 1, 0, 0 },
        { 37, 400, 6000, 1, 1, 0, 1, 2, 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_gemm_case(&cases[i], 1900 + i * 8);
}
END_TEST

START_TEST(test_gemm_invalid)
{
    uint64_t *d = dalloc(64 * 8);
    spin_gemm_t g = {
        .m = 4, .n = 4, .k = 4, .batch = 1,
        .a = d, .lda = 4, .b = d + 16, .ldb = 4, .c = d + 32, .ldc = 4,
    };
    OK(O->ring_gemm(S, &g, NULL));
    spin_gemm_t b = g;
    b.lda = 3;
    EXPECT_ERR(SPIN_ERR_INVAL, O->ring_gemm(S, &b, NULL));
    b = g; b.ldb = 3;
    EXPECT_ERR(SPIN_ERR_INVAL, O->ring_gemm(S, &b, NULL));
    b = g; b.ldc = 3;
    EXPECT_ERR(SPIN_ERR_INVAL, O->ring_gemm(S, &b, NULL));
    b = g; b.batch = 0;
    EXPECT_ERR(SPIN_ERR_INVAL, O->ring_gemm(S, &b, NULL));
    b = g; b.c = NULL;
    EXPECT_ERR(SPIN_ERR_INVAL, O->ring_gemm(S, &b, NULL));
    b = g; b.trans_a = 1; b.m = 5; b.lda = 4;   /* A^T is k x m: lda >= m */
    EXPECT_ERR(SPIN_ERR_INVAL, O->ring_gemm(S, &b, NULL));
    EXPECT_ERR(SPIN_ERR_INVAL, O->ring_gemm(S, NULL, NULL));
    dfree(d);
}
END_TEST


/* ------------------------------------------------------------------------ */
/* Element-wise ring ops.                                                   */
/* ------------------------------------------------------------------------ */

/* x, y: every pair of edge values, then random words: n is odd. */
static size_t ew_inputs(uint64_t **hx, uint64_t **hy, size_t extra)
{
    size_t n = NEDGE * NEDGE + extra;
    if (n % 2 == 0) n++;
    *hx = hrand(n, 11);
    *hy = hrand(n, 12);
    for (size_t i = 0; i < NEDGE; i++)
        for (size_t j = 0; j < NEDGE; j++) {
            (*hx)[i * NEDGE + j] = EDGE[i];
            (*hy)[i * NEDGE + j] = EDGE[j];
        }
    return n;
}

static uint64_t ref_bin(spin_ring_binop_t op, uint64_t x, uint64_t y)
{
    switch (op) {
    case SPIN_RING_ADD: return x + y;
    case SPIN_RING_SUB: return x - y;
    case SPIN_RING_MUL: return x * y;
    case SPIN_RING_AND: return x & y;
    case SPIN_RING_XOR: return x ^ y;
    case SPIN_RING_OR: return x | y;
    }
    return 0;
}

static uint64_t ref_sc(spin_ring_scalarop_t op, uint64_t x, uint64_t c)
{
    switch (op) {
    case SPIN_RING_ADD_S: return x + c;
    case SPIN_RING_SUB_S: return x - c;
    case SPIN_RING_MUL_S: return x * c;
    case SPIN_RING_AND_S: return x & c;
    case SPIN_RING_XOR_S: return x ^ c;
    case SPIN_RING_OR_S: return x | c;
    case SPIN_RING_RSUB_S: return c - x;
    case SPIN_RING_SHL_S: return x << c;
    case SPIN_RING_SHR_S: return x >> c;
    case SPIN_RING_SAR_S: {
        /* Sign-extending shift written without relying on >> of negatives. */
        uint64_t r = x >> c;
        if ((x >> 63) && c > 0) r |= ~(UINT64_MAX >> c);
        return r;
    }
    }
    return 0;
}

static uint64_t ref_un(spin_ring_unop_t op, uint64_t x)
{
    switch (op) {
    case SPIN_RING_NEG: return (uint64_t)0 - x;
    case SPIN_RING_NOT: return ~x;
    case SPIN_RING_COPY: return x;
    }
    return 0;
}


START_TEST(test_ring_binary)
{
    const spin_ring_binop_t ops[] = { SPIN_RING_ADD, SPIN_RING_SUB, SPIN_RING_MUL,
                                      SPIN_RING_AND, SPIN_RING_XOR, SPIN_RING_OR };
    /* _i = 0: small (edge pairs + few); 1: large (threaded paths). */
    uint64_t *hx, *hy;
    size_t n = ew_inputs(&hx, &hy, _i ? 200000 : 30);
    uint64_t *want = malloc(n * 8), *got = malloc(n * 8);
    uint64_t *x = up64(hx, n), *y = up64(hy, n), *z = dalloc(n * 8);
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (size_t i = 0; i < n; i++) want[i] = ref_bin(ops[o], hx[i], hy[i]);
        OK(O->ring_binary(S, ops[o], z, x, y, n, NULL));
        get(got, z, n * 8);
        ew_check("ring_binary", ops[o], got, want, n);
        /* In place on x, then on y. */
        put(z, hx, n * 8);
        OK(O->ring_binary(S, ops[o], z, z, y, n, NULL));
        get(got, z, n * 8);
        ew_check("ring_binary z=x", ops[o], got, want, n);
        put(z, hy, n * 8);
        OK(O->ring_binary(S, ops[o], z, x, z, n, NULL));
        get(got, z, n * 8);
        ew_check("ring_binary z=y", ops[o], got, want, n);
        /* Odd prefix length. */
        const size_t n2 = 7;
        OK(O->mem_zero(S, z, n * 8, NULL));
        OK(O->ring_binary(S, ops[o], z, x, y, n2, NULL));
        get(got, z, n * 8);
        ew_check("ring_binary n=7", ops[o], got, want, n2);
        ck_assert_uint_eq(got[n2], 0);
        /* x == y (squaring and friends). */
        for (size_t i = 0; i < n; i++) want[i] = ref_bin(ops[o], hx[i], hx[i]);
        OK(O->ring_binary(S, ops[o], z, x, x, n, NULL));
        get(got, z, n * 8);
        ew_check("ring_binary x=y", ops[o], got, want, n);
        OK(O->ring_binary(S, ops[o], NULL, NULL, NULL, 0, NULL));
    }
    EXPECT_ERR(SPIN_ERR_INVAL, O->ring_binary(S, (spin_ring_binop_t)99, z, x, y, n, NULL));
    EXPECT_ERR(SPIN_ERR_INVAL, O->ring_binary(S, SPIN_RING_ADD, z, NULL, y, n, NULL));
    dfree(x); dfree(y); dfree(z);
    free(hx); free(hy); free(want); free(got);
}
END_TEST

START_TEST(test_ring_scalar)
{
    const spin_ring_scalarop_t ops[] = {
        SPIN_RING_ADD_S, SPIN_RING_SUB_S, SPIN_RING_MUL_S, SPIN_RING_AND_S,
        SPIN_RING_XOR_S, SPIN_RING_SHL_S, SPIN_RING_SHR_S, SPIN_RING_SAR_S,
        SPIN_RING_RSUB_S, SPIN_RING_OR_S };
    uint64_t *hx, *hy;
    size_t n = ew_inputs(&hx, &hy, _i ? 150000 : 20);
    uint64_t *want = malloc(n * 8), *got = malloc(n * 8);
    uint64_t *x = up64(hx, n), *z = dalloc(n * 8);
    const uint64_t shifts[] = { 0, 1, 7, 31, 32, 62, 63 };
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        int is_shift = ops[o] == SPIN_RING_SHL_S || ops[o] == SPIN_RING_SHR_S ||
                       ops[o] == SPIN_RING_SAR_S;
        size_t nc = is_shift ? sizeof shifts / sizeof shifts[0] : NEDGE;
        for (size_t ci = 0; ci < nc; ci++) {
            uint64_t c = is_shift ? shifts[ci] : EDGE[ci];
            for (size_t i = 0; i < n; i++) want[i] = ref_sc(ops[o], hx[i], c);
            OK(O->ring_scalar(S, ops[o], z, x, c, n, NULL));
            get(got, z, n * 8);
            ew_check("ring_scalar", ops[o], got, want, n);
            if (ci % 3 == 0) { /* in place */
                put(z, hx, n * 8);
                OK(O->ring_scalar(S, ops[o], z, z, c, n, NULL));
                get(got, z, n * 8);
                ew_check("ring_scalar in place", ops[o], got, want, n);
            }
        }
        if (is_shift) {
            EXPECT_ERR(SPIN_ERR_INVAL, O->ring_scalar(S, ops[o], z, x, 64, n, NULL));
            EXPECT_ERR(SPIN_ERR_INVAL, O->ring_scalar(S, ops[o], z, x, UINT64_MAX, 1, NULL));
        }
        OK(O->ring_scalar(S, ops[o], NULL, NULL, 3, 0, NULL));
    }
    EXPECT_ERR(SPIN_ERR_INVAL, O->ring_scalar(S, (spin_ring_scalarop_t)0, z, x, 1, n, NULL));
    dfree(x); dfree(z);
    free(hx); free(hy); free(want); free(got);
}
END_TEST

START_TEST(test_ring_unary)
{
    const spin_ring_unop_t ops[] = { SPIN_RING_NEG, SPIN_RING_NOT, SPIN_RING_COPY };
    uint64_t *hx, *hy;
    size_t n = ew_inputs(&hx, &hy, _i ? 100000 : 10);
    uint64_t *want = malloc(n * 8), *got = malloc(n * 8);
    uint64_t *x = up64(hx, n), *z = dalloc(n * 8);
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (size_t i = 0; i < n; i++) want[i] = ref_un(ops[o], hx[i]);
        OK(O->ring_unary(S, ops[o], z, x, n, NULL));
        get(got, z, n * 8);
        ew_check("ring_unary", ops[o], got, want, n);
        put(z, hx, n * 8);
        OK(O->ring_unary(S, ops[o], z, z, n, NULL));
        get(got, z, n * 8);
        ew_check("ring_unary in place", ops[o], got, want, n);
        OK(O->ring_unary(S, ops[o], NULL, NULL, 0, NULL));
    }
    EXPECT_ERR(SPIN_ERR_INVAL, O->ring_unary(S, (spin_ring_unop_t)7, z, x, n, NULL));
    dfree(x); dfree(z);
    free(hx); free(hy); free(want); free(got);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Fixed-point conversion.                                                  */
/* ------------------------------------------------------------------------ */

START_TEST(test_from_f64)
{
    struct { double x; unsigned f; int64_t want; } cases[] = {
        { 0.0, 0, 0 }, { -0.0, 16, 0 }, { 0.5, 0, 1 }, { -0.5, 0, -1 },
        { 1.5, 0, 2 }, { 2.5, 0, 3 }, { -2.5, 0, -3 }, { -1.5, 0, -2 },
        { 0.49999999999999994, 0, 0 }, { -0.49999999999999994, 0, 0 },
        { 1.0, 16, 65536 }, { -1.0, 16, -65536 },
        { 1.5 / 65536.0, 16, 2 }, { -1.5 / 65536.0, 16, -2 },   /* ties */
        { 0.5 / 65536.0, 16, 1 }, { -0.5 / 65536.0, 16, -1 },
        { 0.49 / 65536.0, 16, 0 }, { 3.14159, 16, 205887 }, { -3.14159, 16, -205887 },
        { 4503599627370495.5, 0, INT64_C(4503599627370496) },
        { 9223372036854774784.0, 0, INT64_C(9223372036854774784) },  /* 2^63 - 1024 */
        { -9223372036854774784.0, 0, -INT64_C(9223372036854774784) },
        { 140737488355327.984375, 16, INT64_C(9223372036854774784) }, /* 2^47 - 2^-6 */
        { 0.75, 63, INT64_C(0x6000000000000000) },
        { -0.75, 63, -INT64_C(0x6000000000000000) },
        { 1e-30, 20, 0 },
    };
    const size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        double *dx = upf(&cases[i].x, 1);
        uint64_t *dz = dalloc(8), got;
        OK(O->ring_from_f64(S, dz, dx, 1, cases[i].f, NULL));
        get(&got, dz, 8);
        EXPECT(got == (uint64_t)cases[i].want,
                      "ring_from_f64(%.17g, f=%u) = %lld, expected %lld", cases[i].x,
                      cases[i].f, (long long)(int64_t)got, (long long)cases[i].want);
        dfree(dx);
        dfree(dz);
    }
    /* A vector of random values (and the threaded path) vs the reference. */
    const size_t nv = 100001;
    double *hx = malloc(nv * 8);
    uint64_t *got = malloc(nv * 8), s = 3;
    for (size_t i = 0; i < nv; i++)
        hx[i] = ((double)(int64_t)tu_rand64(&s) / 9.3e18) * 1000.0;
    double *dx = upf(hx, nv);
    uint64_t *dz = dalloc(nv * 8);
    OK(O->ring_from_f64(S, dz, dx, nv, 16, NULL));
    get(got, dz, nv * 8);
    for (size_t i = 0; i < nv; i++) {
        double v = hx[i] * 65536.0;
        int64_t w = (int64_t)round(v);    /* round(): half away from zero */
        EXPECT(got[i] == (uint64_t)w, "ring_from_f64 element %zu", i);
    }
    /* Range errors leave z untouched: 2^(63-f), NaN, inf, at any position. */
    const double bad[] = { 140737488355328.0 /* 2^47 */, -140737488355328.0,
                           NAN, INFINITY, -INFINITY, 1e300 };
    uint64_t *sent = malloc(nv * 8);
    for (size_t i = 0; i < nv; i++) sent[i] = U64(0xa5a5a5a5a5a5a5a5);
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        put(dz, sent, nv * 8);
        double save = hx[nv - 5 - b];
        hx[nv - 5 - b] = bad[b];
        put(dx, hx, nv * 8);
        EXPECT_ERR(SPIN_ERR_RANGE, O->ring_from_f64(S, dz, dx, nv, 16, NULL));
        get(got, dz, nv * 8);
        ck_assert(memcmp(got, sent, nv * 8) == 0);
        hx[nv - 5 - b] = save;
    }
    put(dx, hx, nv * 8);
    /* Largest allowed magnitude for f = 16 is just below 2^47. */
    double edge = nextafter(140737488355328.0, 0.0);
    double *de = upf(&edge, 1);
    OK(O->ring_from_f64(S, dz, de, 1, 16, NULL));
    EXPECT_ERR(SPIN_ERR_INVAL, O->ring_from_f64(S, dz, de, 1, 64, NULL));
    OK(O->ring_from_f64(S, NULL, NULL, 0, 16, NULL));
    dfree(de); dfree(dx); dfree(dz);
    free(hx); free(got); free(sent);
}
END_TEST

START_TEST(test_to_f64)
{
    const unsigned fs[] = { 0, 1, 16, 20, 63 };
    size_t n = NEDGE + 1000;
    uint64_t *hx = hrand(n, 21);
    memcpy(hx, EDGE, NEDGE * sizeof EDGE[0]);
    double *got = malloc(n * 8);
    uint64_t *dx = up64(hx, n);
    double *dz = dalloc(n * 8);
    for (size_t fi = 0; fi < sizeof fs / sizeof fs[0]; fi++) {
        OK(O->ring_to_f64(S, dz, dx, n, fs[fi], NULL));
        get(got, dz, n * 8);
        for (size_t i = 0; i < n; i++) {
            double want = (double)(int64_t)hx[i] / ldexp(1.0, (int)fs[fi]);
            EXPECT(got[i] == want, "ring_to_f64(%016llx, f=%u) = %.17g, want %.17g",
                          (unsigned long long)hx[i], fs[fi], got[i], want);
        }
    }
    /* Round trip through from_f64 for values that fit. */
    double v[] = { -3.25, 0.0, 1.0 / 65536.0, 12345.5, -0.125 };
    double *dv = upf(v, 5), back[5];
    uint64_t *dr = dalloc(5 * 8);
    OK(O->ring_from_f64(S, dr, dv, 5, 16, NULL));
    OK(O->ring_to_f64(S, dv, dr, 5, 16, NULL));
    get(back, dv, sizeof back);
    for (int i = 0; i < 5; i++) ck_assert(back[i] == v[i]);
    EXPECT_ERR(SPIN_ERR_INVAL, O->ring_to_f64(S, dz, dx, 1, 64, NULL));
    dfree(dx); dfree(dz); dfree(dv); dfree(dr);
    free(hx); free(got);
}
END_TEST


/* ------------------------------------------------------------------------ */
/* float64 reference ops (only with SPIN_CAP_COMPUTE_F64).                  */
/* ------------------------------------------------------------------------ */

static int have_f64(void)
{
    return (g_be.desc->caps & SPIN_CAP_COMPUTE_F64) != 0;
}

static void close_enough(const char *what, int op, size_t i, double got, double want,
                         double x)
{
    if (isnan(want)) {
        EXPECT(isnan(got), "%s op %d at %zu (x=%.17g): got %.17g, want NaN",
                      what, op, i, x, got);
        return;
    }
    double tol = 1e-13 * fmax(1.0, fabs(want));
    EXPECT(got == want || fabs(got - want) <= tol,
                  "%s op %d at %zu (x=%.17g): got %.17g, want %.17g", what, op, i,
                  x, got, want);
}

START_TEST(test_f64_gemm)
{
    if (!have_f64()) return;
    const gemm_case_t cases[] = {
        { 1, 1, 1, 0, 0, 0, 0, 1, 0, 0 }, { 3, 5, 7, 1, 0, 1, 2, 1, 0, 0 },
        { 17, 33, 65, 0, 1, 0, 1, 3, 0, 1 }, { 129, 67, 255, 1, 1, 1, 0, 2, 1, 0 },
        { 4, 6, 0, 0, 0, 0, 1, 2, 0, 0 }, { 4, 6, 0, 0, 0, 1, 1, 2, 0, 0 },
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const gemm_case_t *t = &cases[ci];
        const size_t m = t->m, n = t->n, k = t->k, batch = t->batch;
        const size_t ar = t->ta ? k : m, ac = t->ta ? m : k;
        const size_t br = t->tb ? n : k, bc = t->tb ? k : n;
        const size_t lda = ac + t->pad, ldb = bc + t->pad, ldc = n + t->pad;
        const size_t sa = t->bcast_a ? 0 : ar * lda + 1;
        const size_t sb = t->bcast_b ? 0 : br * ldb + 1, sc = m * ldc + 1;
        const size_t na = (t->bcast_a ? 0 : (batch - 1) * sa) + ar * lda;
        const size_t nb = (t->bcast_b ? 0 : (batch - 1) * sb) + br * ldb;
        const size_t nc = (batch - 1) * sc + m * ldc;
        uint64_t s = 71 + ci;
        double *ha = malloc((na ? na : 1) * 8), *hb = malloc((nb ? nb : 1) * 8);
        double *hc = malloc(nc * 8), *ref = malloc(nc * 8), *got = malloc(nc * 8);
        /* Small integers: every sum is exact, whatever the order. */
        for (size_t i = 0; i < na; i++) ha[i] = (double)(tu_rand64(&s) % 21) - 10.0;
        for (size_t i = 0; i < nb; i++) hb[i] = (double)(tu_rand64(&s) % 21) - 10.0;
        for (size_t i = 0; i < nc; i++) hc[i] = (double)(tu_rand64(&s) % 7);
        memcpy(ref, hc, nc * 8);
        for (size_t b = 0; b < batch; b++)
            for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < n; j++) {
                    double acc = 0;
                    for (size_t p = 0; p < k; p++)
                        acc += (t->ta ? ha[b * sa + p * lda + i] : ha[b * sa + i * lda + p]) *
                               (t->tb ? hb[b * sb + j * ldb + p] : hb[b * sb + p * ldb + j]);
                    double *c = ref + b * sc + i * ldc + j;
                    *c = t->acc ? *c + acc : acc;
                }
        double *da = upf(ha, na), *db = upf(hb, nb), *dc = upf(hc, nc);
        spin_gemm_t g = {
            .trans_a = t->ta, .trans_b = t->tb, .accumulate = t->acc,
            .m = m, .n = n, .k = k, .batch = batch,
            .a = da, .lda = lda, .stride_a = sa, .b = db, .ldb = ldb, .stride_b = sb,
            .c = dc, .ldc = ldc, .stride_c = sc,
        };
        OK(O->f64_gemm(S, &g, NULL));
        get(got, dc, nc * 8);
        for (size_t i = 0; i < nc; i++)
            EXPECT(got[i] == ref[i], "f64_gemm case %zu element %zu: %g vs %g",
                          ci, i, got[i], ref[i]);
        g.ldc = n - 1;
        if (n > 1) EXPECT_ERR(SPIN_ERR_INVAL, O->f64_gemm(S, &g, NULL));
        dfree(da); dfree(db); dfree(dc);
        free(ha); free(hb); free(hc); free(ref); free(got);
    }
}
END_TEST

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

START_TEST(test_f64_elementwise)
{
    if (!have_f64()) return;
    const size_t n = 70001;   /* above any threading threshold, odd */
    double *hx = malloc(n * 8), *hy = malloc(n * 8), *want = malloc(n * 8);
    double *got = malloc(n * 8);
    uint64_t s = 99;
    const double special[] = { 0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -3.75, 1e-3, 40.0, -40.0 };
    for (size_t i = 0; i < n; i++) {
        hx[i] = i < 10 ? special[i] : ((double)(tu_rand64(&s) >> 11) / 9007199254740992.0 - 0.5) * 20.0;
        hy[i] = i < 10 ? special[9 - i] : ((double)(tu_rand64(&s) >> 11) / 9007199254740992.0 - 0.5) * 20.0;
        if (hy[i] == 0.0) hy[i] = 1.0;
    }
    double *x = upf(hx, n), *y = upf(hy, n), *z = dalloc(n * 8);
    for (int op = SPIN_F64_ADD; op <= SPIN_F64_MIN; op++) {
        for (size_t i = 0; i < n; i++) {
            double a = hx[i], b = hy[i];
            switch (op) {
            case SPIN_F64_ADD: want[i] = a + b; break;
            case SPIN_F64_SUB: want[i] = a - b; break;
            case SPIN_F64_MUL: want[i] = a * b; break;
            case SPIN_F64_DIV: want[i] = a / b; break;
            case SPIN_F64_MAX: want[i] = fmax(a, b); break;
            default: want[i] = fmin(a, b); break;
            }
        }
        OK(O->f64_binary(S, (spin_f64_binop_t)op, z, x, y, n, NULL));
        get(got, z, n * 8);
        for (size_t i = 0; i < n; i++) close_enough("f64_binary", op, i, got[i], want[i], hx[i]);
    }
    const double cs[] = { 2.5, -1.0, 0.0, 3.0 };
    for (int op = SPIN_F64_ADD_S; op <= SPIN_F64_POW_S; op++)
        for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
            double c = cs[ci];
            for (size_t i = 0; i < n; i++) {
                double a = hx[i];
                switch (op) {
                case SPIN_F64_ADD_S: want[i] = a + c; break;
                case SPIN_F64_MUL_S: want[i] = a * c; break;
                case SPIN_F64_MAX_S: want[i] = fmax(a, c); break;
                case SPIN_F64_MIN_S: want[i] = fmin(a, c); break;
                case SPIN_F64_RSUB_S: want[i] = c - a; break;
                default: want[i] = pow(a, c); break;
                }
            }
            OK(O->f64_scalar(S, (spin_f64_scalarop_t)op, z, x, c, n, NULL));
            get(got, z, n * 8);
            for (size_t i = 0; i < n; i++)
                close_enough("f64_scalar", op, i, got[i], want[i], hx[i]);
        }
    /* Positive inputs for log/sqrt/rsqrt. */
    double *hp = malloc(n * 8);
    for (size_t i = 0; i < n; i++) hp[i] = fabs(hx[i]) + 1e-3;
    double *p = upf(hp, n);
    for (int op = SPIN_F64_NEG; op <= SPIN_F64_COPY; op++) {
        int pos = op == SPIN_F64_LOG || op == SPIN_F64_SQRT || op == SPIN_F64_RSQRT;
        const double *in = pos ? hp : hx;
        for (size_t i = 0; i < n; i++) {
            double a = in[i];
            switch (op) {
            case SPIN_F64_NEG: want[i] = -a; break;
            case SPIN_F64_EXP: want[i] = exp(a); break;
            case SPIN_F64_LOG: want[i] = log(a); break;
            case SPIN_F64_SQRT: want[i] = sqrt(a); break;
            case SPIN_F64_RSQRT: want[i] = 1.0 / sqrt(a); break;
            case SPIN_F64_RECIP: want[i] = 1.0 / a; break;
            case SPIN_F64_TANH: want[i] = tanh(a); break;
            case SPIN_F64_SIGMOID: want[i] = sigmoid(a); break;
            case SPIN_F64_ERF: want[i] = erf(a); break;
            case SPIN_F64_RELU: want[i] = a > 0 ? a : 0.0; break;
            case SPIN_F64_ABS: want[i] = fabs(a); break;
            default: want[i] = a; break;
            }
        }
        OK(O->f64_unary(S, (spin_f64_unop_t)op, z, pos ? p : x, n, NULL));
        get(got, z, n * 8);
        for (size_t i = 0; i < n; i++) close_enough("f64_unary", op, i, got[i], want[i], in[i]);
    }
    /* In place. */
    OK(O->f64_unary(S, SPIN_F64_NEG, x, x, n, NULL));
    get(got, x, n * 8);
    for (size_t i = 0; i < n; i++) EXPECT(got[i] == -hx[i], "in-place neg at %zu", i);
    EXPECT_ERR(SPIN_ERR_INVAL, O->f64_unary(S, (spin_f64_unop_t)99, z, x, n, NULL));
    EXPECT_ERR(SPIN_ERR_INVAL, O->f64_binary(S, SPIN_F64_ADD, z, x, NULL, n, NULL));
    dfree(x); dfree(y); dfree(z); dfree(p);
    free(hx); free(hy); free(hp); free(want); free(got);
}
END_TEST


TCase *cc_tcase_gemm(void)
{
    TCase *t = tcase_create("gemm");
    tcase_add_loop_test(t, test_gemm_shapes, 0, (int)(sizeof GEMM_SHAPES / sizeof GEMM_SHAPES[0]));
    tcase_add_test(t, test_gemm_batched);
    tcase_add_test(t, test_gemm_blocks);
    tcase_add_test(t, test_gemm_invalid);
    tcase_set_timeout(t, 300);
    return t;
}

TCase *cc_tcase_elementwise(void)
{
    TCase *t = tcase_create("elementwise");
    tcase_add_loop_test(t, test_ring_binary, 0, 2);
    tcase_add_loop_test(t, test_ring_scalar, 0, 2);
    tcase_add_loop_test(t, test_ring_unary, 0, 2);
    tcase_add_test(t, test_from_f64);
    tcase_add_test(t, test_to_f64);
    tcase_set_timeout(t, 300);
    return t;
}

TCase *cc_tcase_f64(void)
{
    TCase *t = tcase_create("f64");
    tcase_add_test(t, test_f64_gemm);
    tcase_add_test(t, test_f64_elementwise);
    tcase_set_timeout(t, 300);
    return t;
}
