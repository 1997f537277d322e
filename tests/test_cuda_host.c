/*
 * test_cuda_host.c - the cuda plugin's kernel arithmetic, on the host.
 *
 * plugins/cuda/cuda_math.h holds every piece of arithmetic the CUDA kernels
 * run (ring ops, fixed point, GEMM limb split and recombination, AES-128 and
 * the CTR layout, im2col/col2im indexing, allocator size classes) as
 * __host__ __device__ functions that also compile as C11.  This test builds
 * them with the C compiler and checks them against the cpu plugin, loaded
 * through the runtime, on random data -- so it runs (and must pass) on
 * machines without a GPU.  It does NOT exercise the kernels' launch
 * geometry, cuBLAS or device memory: compute-cuda.test does, on a GPU.
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/spin.h>

#include "testutil.h"
#include "cuda_math.h"

static spin_backend_t g_be;
static const spin_compute_ops_t *O;
static void *S;

#define U64(x) UINT64_C(x)

/* Silent unless it fails (Check's own asserts are slow inside big loops). */
#define EXPECT(cond, ...)                                                     \
    do {                                                                      \
        if (!(cond)) ck_abort_msg(__VA_ARGS__);                               \
    } while (0)

#define OK(call)                                                              \
    do {                                                                      \
        int rc_ = (call);                                                     \
        EXPECT(rc_ == 0, "%s failed: %d (%s)", #call, rc_, spin_strerror(rc_)); \
    } while (0)

static const uint64_t EDGE[] = {
    0, 1, 2, 3, U64(0x7fffffffffffffff), U64(0x8000000000000000),
    U64(0xffffffffffffffff), U64(0xfffffffffffffffe), U64(0x123456789abcdef0),
    U64(0x8000000000000001), U64(0x00000000ffffffff), U64(0xdeadbeefcafebabe),
    U64(0x8080808080808080), U64(0x7f7f7f7f7f7f7f7f), U64(0x00000000000000ff),
    U64(0x0000000000000080), U64(0xff00ff00ff00ff00)
};
#define NEDGE (sizeof EDGE / sizeof EDGE[0])

/* ------------------------------------------------------------------------ */
/* cpu plugin helpers: buffers in its memory, ops, back to the host.        */
/* ------------------------------------------------------------------------ */

/* Plugin memory of bytes, filled from h unless h is NULL. */
static void *up(const void *h, size_t bytes)
{
    void *d = NULL;
    OK(O->mem_alloc(S, bytes ? bytes : 8, &d));
    if (h && bytes) OK(O->copy_h2d(S, d, h, bytes, NULL));
    OK(O->stream_sync(S, NULL));
    return d;
}

static void down(void *h, const void *d, size_t bytes)
{
    OK(O->stream_sync(S, NULL));
    OK(O->copy_d2h(S, h, d, bytes, NULL));
    OK(O->stream_sync(S, NULL));
}

static uint64_t *hrand(size_t n, uint64_t seed)
{
    uint64_t *h = malloc((n ? n : 1) * 8);
    ck_assert_ptr_nonnull(h);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) h[i] = tu_rand64(&s);
    return h;
}

/* x, y: every pair of edge values, then random words. */
static size_t ew_inputs(uint64_t **hx, uint64_t **hy, size_t extra)
{
    const size_t n = NEDGE * NEDGE + extra;
    *hx = hrand(n, 11);
    *hy = hrand(n, 12);
    for (size_t i = 0; i < NEDGE; i++)
        for (size_t j = 0; j < NEDGE; j++) {
            (*hx)[i * NEDGE + j] = EDGE[i];
            (*hy)[i * NEDGE + j] = EDGE[j];
        }
    return n;
}

/* ------------------------------------------------------------------------ */
/* Ring ops.                                                                */
/* ------------------------------------------------------------------------ */

START_TEST(test_ring_ops)
{
    uint64_t *hx, *hy;
    const size_t n = ew_inputs(&hx, &hy, 5000);
    uint64_t *got = malloc(n * 8);
    uint64_t *x = up(hx, n * 8), *y = up(hy, n * 8), *z = up(NULL, n * 8);
    for (int op = SPIN_RING_ADD; op <= SPIN_RING_OR; op++) {
        ck_assert(cm_ring_binop_valid(op));
        OK(O->ring_binary(S, (spin_ring_binop_t)op, z, x, y, n, NULL));
        down(got, z, n * 8);
        for (size_t i = 0; i < n; i++)
            EXPECT(cm_ring_binop(op, hx[i], hy[i]) == got[i],
                   "binop %d at %zu: %016llx vs cpu %016llx", op, i,
                   (unsigned long long)cm_ring_binop(op, hx[i], hy[i]),
                   (unsigned long long)got[i]);
    }
    ck_assert(!cm_ring_binop_valid(0) && !cm_ring_binop_valid(SPIN_RING_OR + 1));
    const uint64_t shifts[] = { 0, 1, 7, 31, 32, 33, 62, 63 };
    for (int op = SPIN_RING_ADD_S; op <= SPIN_RING_OR_S; op++) {
        const int shift = op == SPIN_RING_SHL_S || op == SPIN_RING_SHR_S ||
                          op == SPIN_RING_SAR_S;
        const size_t nc = shift ? sizeof shifts / sizeof shifts[0] : NEDGE;
        for (size_t ci = 0; ci < nc; ci++) {
            const uint64_t c = shift ? shifts[ci] : EDGE[ci];
            OK(O->ring_scalar(S, (spin_ring_scalarop_t)op, z, x, c, n, NULL));
            down(got, z, n * 8);
            for (size_t i = 0; i < n; i++)
                EXPECT(cm_ring_scalarop(op, hx[i], c) == got[i],
                       "scalarop %d c=%llu at %zu", op, (unsigned long long)c, i);
        }
    }
    ck_assert(!cm_ring_scalarop_valid(0) && !cm_ring_scalarop_valid(SPIN_RING_OR_S + 1));
    for (int op = SPIN_RING_NEG; op <= SPIN_RING_COPY; op++) {
        OK(O->ring_unary(S, (spin_ring_unop_t)op, z, x, n, NULL));
        down(got, z, n * 8);
        for (size_t i = 0; i < n; i++)
            EXPECT(cm_ring_unop(op, hx[i]) == got[i], "unop %d at %zu", op, i);
    }
    /* The portable arithmetic shift against the compiler's. */
    for (size_t i = 0; i < n; i++)
        for (unsigned sh = 0; sh < 64; sh += 9)
            EXPECT(cm_sar(hx[i], sh) == (uint64_t)((int64_t)hx[i] >> sh),
                   "cm_sar(%016llx, %u)", (unsigned long long)hx[i], sh);
    O->mem_free(S, x); O->mem_free(S, y); O->mem_free(S, z);
    free(hx); free(hy); free(got);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Fixed point.                                                             */
/* ------------------------------------------------------------------------ */

START_TEST(test_fixed_point)
{
    const unsigned fs[] = { 0, 1, 16, 20, 40, 63 };
    const size_t n = 20000;
    double *hx = malloc(n * 8), *dback = malloc(n * 8);
    uint64_t *got = malloc(n * 8), s = 5;
    for (size_t fi = 0; fi < sizeof fs / sizeof fs[0]; fi++) {
        const unsigned f = fs[fi];
        const double lim = ldexp(1.0, 63 - (int)f), scale = ldexp(1.0, (int)f);
        for (size_t i = 0; i < n; i++) {
            /* Magnitudes spread over the whole range, ties included. */
            const double u = (double)(int64_t)tu_rand64(&s) / 9.3e18;
            const int e = (int)(tu_rand64(&s) % (uint64_t)(64 - f)) - 2;
            hx[i] = i % 7 == 0 ? (double)((int64_t)(tu_rand64(&s) % 2001) - 1000) / 2.0 / scale
                               : ldexp(u, e);
            if (!(fabs(hx[i]) < lim)) hx[i] = 0.25;
            ck_assert(cm_fix_in_range(hx[i], lim));
        }
        double *dx = up(hx, n * 8);
        uint64_t *dz = up(NULL, n * 8);
        OK(O->ring_from_f64(S, dz, dx, n, f, NULL));
        down(got, dz, n * 8);
        for (size_t i = 0; i < n; i++)
            EXPECT(cm_fix_from_f64(hx[i], scale) == got[i],
                   "from_f64(%.17g, f=%u): %lld vs cpu %lld", hx[i], f,
                   (long long)cm_fix_from_f64(hx[i], scale), (long long)got[i]);
        /* to_f64 of random words. */
        uint64_t *hw = hrand(n, 77 + f);
        memcpy(hw, EDGE, sizeof EDGE);
        uint64_t *dw = up(hw, n * 8);
        double *dd = up(NULL, n * 8);
        OK(O->ring_to_f64(S, dd, dw, n, f, NULL));
        down(dback, dd, n * 8);
        const double inv = ldexp(1.0, -(int)f);
        for (size_t i = 0; i < n; i++)
            EXPECT(cm_fix_to_f64(hw[i], inv) == dback[i], "to_f64(%016llx, f=%u)",
                   (unsigned long long)hw[i], f);
        O->mem_free(S, dx); O->mem_free(S, dz); O->mem_free(S, dw); O->mem_free(S, dd);
        free(hw);
    }
    /* Range: NaN, infinities and +-2^(63-f) are out. */
    const double lim16 = ldexp(1.0, 47);
    ck_assert(!cm_fix_in_range(NAN, lim16));
    ck_assert(!cm_fix_in_range(INFINITY, lim16));
    ck_assert(!cm_fix_in_range(-lim16, lim16));
    ck_assert(cm_fix_in_range(nextafter(lim16, 0.0), lim16));
    ck_assert_int_eq(cm_round_away(2.5), 3);
    ck_assert_int_eq(cm_round_away(-2.5), -3);
    ck_assert_int_eq(cm_round_away(0.49999999999999994), 0);
    free(hx); free(dback); free(got);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* GEMM limbs.                                                              */
/* ------------------------------------------------------------------------ */

START_TEST(test_limbs_words)
{
    uint64_t s = 9;
    for (size_t t = 0; t < 200000; t++) {
        const uint64_t a = t < NEDGE ? EDGE[t] : tu_rand64(&s);
        const uint64_t b = tu_rand64(&s);
        /* 16-bit limbs: exact doubles that add back to a. */
        uint64_t r = 0;
        for (int l = 0; l < CM_LIMB16_L; l++) {
            const double v = cm_limb16(a, l);
            EXPECT(v >= 0.0 && v < 65536.0 && v == floor(v), "limb16 range");
            r += (uint64_t)v << (16 * l);
        }
        EXPECT(r == a, "limb16 of %016llx", (unsigned long long)a);
        /* Signed digits in [-128, 127] that add back to a mod 2^64. */
        int8_t d[CM_INT8_L], e[CM_INT8_L];
        cm_digits8(a, d);
        cm_digits8(b, e);
        r = 0;
        for (int l = 0; l < CM_INT8_L; l++) r += (uint64_t)(int64_t)d[l] << (8 * l);
        EXPECT(r == a, "digits8 of %016llx", (unsigned long long)a);
        /* Products through limb pairs l + l' < L, recombined. */
        double c16[CM_LIMB16_L] = { 0 };
        for (int l = 0; l < CM_LIMB16_L; l++)
            for (int m = 0; l + m < CM_LIMB16_L; m++)
                c16[l + m] += cm_limb16(a, l) * cm_limb16(b, m);
        EXPECT(cm_combine16(c16) == a * b, "limb16 product");
        int32_t c8[CM_INT8_L] = { 0 };
        for (int l = 0; l < CM_INT8_L; l++)
            for (int m = 0; l + m < CM_INT8_L; m++) c8[l + m] += d[l] * e[m];
        EXPECT(cm_combine8(c8) == a * b, "int8 product of %016llx, %016llx",
               (unsigned long long)a, (unsigned long long)b);
    }
}
END_TEST

START_TEST(test_limbs_bounds)
{
    /* int8: the largest product is (-128)^2; C_7 sums 8*KMAX of them. */
    ck_assert(8 * (int64_t)CM_INT8_KMAX * 16384 <= INT32_MAX);
    ck_assert(CM_INT8_KMAX % CM_LIMB_KALIGN == 0);
    ck_assert(CM_LIMB16_KMAX % CM_LIMB_KALIGN == 0);
    /* A word whose digits are all -128, dotted with itself over KMAX terms,
     * accumulated in int32 exactly as the int8 GEMM of shift 7 does. */
    uint64_t w = 0;
    for (int l = 0; l < CM_INT8_L; l++) w += (uint64_t)(int64_t)-128 << (8 * l);
    int8_t d[CM_INT8_L];
    cm_digits8(w, d);
    for (int l = 0; l < CM_INT8_L; l++) ck_assert_int_eq(d[l], -128);
    int64_t c8w[CM_INT8_L] = { 0 };
    for (size_t p = 0; p < CM_INT8_KMAX; p++)
        for (int l = 0; l < CM_INT8_L; l++)
            for (int m = 0; l + m < CM_INT8_L; m++) c8w[l + m] += d[l] * d[m];
    int32_t c8[CM_INT8_L];
    for (int s = 0; s < CM_INT8_L; s++) {
        ck_assert(c8w[s] <= INT32_MAX && c8w[s] >= INT32_MIN);
        c8[s] = (int32_t)c8w[s];
    }
    ck_assert_uint_eq(cm_combine8(c8), w * w * (uint64_t)CM_INT8_KMAX);
    /* limb16: all-ones limbs, C_3 sums 4*KMAX products of 65535^2 in
     * float64: still exact. */
    double c3 = 0.0;
    for (size_t p = 0; p < 4 * CM_LIMB16_KMAX; p++) c3 += 65535.0 * 65535.0;
    ck_assert(c3 < 9007199254740992.0);
    ck_assert_uint_eq((uint64_t)c3, U64(4294836225) * 4 * CM_LIMB16_KMAX);
}
END_TEST

/* The limb GEMM of cuda_gemm.c on the host: K chunks of kc, per chunk the
 * packed layout (cm_pack_pos), one "GEMM" per shift s over (s+1)*kp with
 * the B slice at cm_pack_bslice, then C (=|+=) the recombination. */
static void host_limb_gemm(int bits, const spin_gemm_t *g, size_t kc_max,
                           uint64_t *C)
{
    const int L = bits == 16 ? CM_LIMB16_L : CM_INT8_L;
    const uint64_t *A = g->a, *B = g->b;
    for (size_t b = 0; b < g->batch; b++) {
        const uint64_t *Ab = A + b * g->stride_a, *Bb = B + b * g->stride_b;
        uint64_t *Cb = C + b * g->stride_c;
        for (size_t k0 = 0; k0 < g->k; k0 += kc_max) {
            const size_t kc = g->k - k0 < kc_max ? g->k - k0 : kc_max;
            const size_t kp = cm_limb_kpad(kc), ld = (size_t)L * kp;
            double *ap16 = calloc(g->m * ld, 8), *bp16 = calloc(g->n * ld, 8);
            int8_t *ap8 = calloc(g->m * ld, 1), *bp8 = calloc(g->n * ld, 1);
            ck_assert(ap16 && bp16 && ap8 && bp8);
            for (size_t i = 0; i < g->m; i++)
                for (size_t p = 0; p < kc; p++) {
                    const uint64_t v = g->trans_a ? Ab[(k0 + p) * g->lda + i]
                                                  : Ab[i * g->lda + k0 + p];
                    int8_t d[CM_INT8_L];
                    cm_digits8(v, d);
                    for (int l = 0; l < L; l++) {
                        const size_t pos = i * ld + cm_pack_pos(L, 0, l, kp, p);
                        if (bits == 16) ap16[pos] = cm_limb16(v, l);
                        else ap8[pos] = d[l];
                    }
                }
            for (size_t j = 0; j < g->n; j++)
                for (size_t p = 0; p < kc; p++) {
                    const uint64_t v = g->trans_b ? Bb[j * g->ldb + k0 + p]
                                                  : Bb[(k0 + p) * g->ldb + j];
                    int8_t d[CM_INT8_L];
                    cm_digits8(v, d);
                    for (int l = 0; l < L; l++) {
                        const size_t pos = j * ld + cm_pack_pos(L, 1, l, kp, p);
                        if (bits == 16) bp16[pos] = cm_limb16(v, l);
                        else bp8[pos] = d[l];
                    }
                }
            for (size_t i = 0; i < g->m; i++)
                for (size_t j = 0; j < g->n; j++) {
                    double c16[CM_LIMB16_L];
                    int32_t c8[CM_INT8_L];
                    for (int s = 0; s < L; s++) {
                        const size_t off = cm_pack_bslice(L, s, kp);
                        const size_t kk = (size_t)(s + 1) * kp;
                        if (bits == 16) {
                            double acc = 0.0;
                            for (size_t q = 0; q < kk; q++)
                                acc += ap16[i * ld + q] * bp16[j * ld + off + q];
                            c16[s] = acc;
                        } else {
                            int64_t acc = 0;
                            for (size_t q = 0; q < kk; q++)
                                acc += ap8[i * ld + q] * bp8[j * ld + off + q];
                            EXPECT(acc >= INT32_MIN && acc <= INT32_MAX,
                                   "int32 overflow at shift %d", s);
                            c8[s] = (int32_t)acc;
                        }
                    }
                    const uint64_t r = bits == 16 ? cm_combine16(c16) : cm_combine8(c8);
                    uint64_t *cp = Cb + i * g->ldc + j;
                    *cp = g->accumulate || k0 > 0 ? *cp + r : r;
                }
            free(ap16); free(bp16); free(ap8); free(bp8);
        }
    }
}

typedef struct gcase {
    size_t m, n, k;
    int ta, tb, acc;
    size_t pad, batch;
    size_t kc16, kc8;       /* K chunks used on the host (small: many chunks) */
} gcase_t;

START_TEST(test_limb_gemm)
{
    const gcase_t cases[] = {
        { 1, 1, 1, 0, 0, 0, 0, 1, CM_LIMB16_KMAX, CM_INT8_KMAX },
        { 3, 5, 7, 1, 0, 1, 2, 1, CM_LIMB16_KMAX, CM_INT8_KMAX },
        { 17, 33, 65, 0, 1, 0, 1, 2, 16, 32 },
        { 9, 25, 129, 1, 1, 1, 3, 1, 48, 16 },
        { 20, 12, 300, 0, 0, 1, 0, 3, CM_LIMB16_KMAX, 100 },
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const gcase_t *t = &cases[ci];
        const size_t ar = t->ta ? t->k : t->m, ac = t->ta ? t->m : t->k;
        const size_t br = t->tb ? t->n : t->k, bc = t->tb ? t->k : t->n;
        const size_t lda = ac + t->pad, ldb = bc + t->pad, ldc = t->n + t->pad;
        const size_t sa = ar * lda + 1, sb = br * ldb + 2, sc = t->m * ldc + 3;
        const size_t na = (t->batch - 1) * sa + ar * lda;
        const size_t nb = (t->batch - 1) * sb + br * ldb;
        const size_t nc = (t->batch - 1) * sc + t->m * ldc;
        uint64_t *ha = hrand(na, 300 + ci), *hb = hrand(nb, 400 + ci);
        uint64_t *hc = hrand(nc, 500 + ci);
        for (size_t i = 0; i < na && i < NEDGE; i++) ha[i] = EDGE[i];
        for (size_t i = 0; i < nb && i < NEDGE; i++) hb[nb - 1 - i] = EDGE[i];
        uint64_t *want = malloc(nc * 8), *c16 = malloc(nc * 8), *c8 = malloc(nc * 8);
        memcpy(c16, hc, nc * 8);
        memcpy(c8, hc, nc * 8);
        uint64_t *da = up(ha, na * 8), *db = up(hb, nb * 8), *dc = up(hc, nc * 8);
        spin_gemm_t g = {
            .trans_a = t->ta, .trans_b = t->tb, .accumulate = t->acc,
            .m = t->m, .n = t->n, .k = t->k, .batch = t->batch,
            .a = da, .lda = lda, .stride_a = sa, .b = db, .ldb = ldb, .stride_b = sb,
            .c = dc, .ldc = ldc, .stride_c = sc,
        };
        OK(O->ring_gemm(S, &g, NULL));
        down(want, dc, nc * 8);
        spin_gemm_t h = g;
        h.a = ha;
        h.b = hb;
        host_limb_gemm(16, &h, t->kc16, c16);
        host_limb_gemm(8, &h, t->kc8, c8);
        for (size_t i = 0; i < nc; i++) {
            EXPECT(c16[i] == want[i], "limb16 GEMM case %zu element %zu", ci, i);
            EXPECT(c8[i] == want[i], "int8 GEMM case %zu element %zu", ci, i);
        }
        O->mem_free(S, da); O->mem_free(S, db); O->mem_free(S, dc);
        free(ha); free(hb); free(hc); free(want); free(c16); free(c8);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* AES-128 and the CTR layout.                                              */
/* ------------------------------------------------------------------------ */

static uint32_t g_t0[256];

static void tables(void)
{
    for (int x = 0; x < 256; x++) g_t0[x] = cm_aes_t0((uint8_t)x);
}

static void hexbytes(uint8_t *out, const char *hex, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

/* Bytes <-> column words (little-endian). */
static void to_cols(const uint8_t b[16], uint32_t w[4])
{
    for (int c = 0; c < 4; c++)
        w[c] = (uint32_t)b[4 * c] | (uint32_t)b[4 * c + 1] << 8 |
               (uint32_t)b[4 * c + 2] << 16 | (uint32_t)b[4 * c + 3] << 24;
}

START_TEST(test_aes_fips197)
{
    tables();
    /* S-box spot values (FIPS-197 Figure 7). */
    ck_assert_uint_eq(cm_aes_sbox(0x00), 0x63);
    ck_assert_uint_eq(cm_aes_sbox(0x01), 0x7c);
    ck_assert_uint_eq(cm_aes_sbox(0x53), 0xed);
    ck_assert_uint_eq(cm_aes_sbox(0xff), 0x16);
    /* A bijection. */
    int seen[256] = { 0 };
    for (int x = 0; x < 256; x++) seen[cm_aes_sbox((uint8_t)x)]++;
    for (int x = 0; x < 256; x++) ck_assert_int_eq(seen[x], 1);
    /* Appendix A.1: key expansion of 2b7e1516 28aed2a6 abf71588 09cf4f3c. */
    uint8_t key[16], in[16], want[16];
    hexbytes(key, "2b7e151628aed2a6abf7158809cf4f3c", 16);
    uint32_t rk[44];
    cm_aes128_expand(key, g_t0, rk);
    uint8_t last[16];
    hexbytes(last, "d014f9a8c9ee2589e13f0cc8b6630ca6", 16);
    uint32_t lastw[4];
    to_cols(last, lastw);
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(rk[40 + i], lastw[i]);
    /* Appendix B: 3243f6a8885a308d313198a2e0370734 -> 3925841d02dc09fbdc118597196a0b32. */
    hexbytes(in, "3243f6a8885a308d313198a2e0370734", 16);
    hexbytes(want, "3925841d02dc09fbdc118597196a0b32", 16);
    uint32_t iw[4], ow[4], ww[4];
    to_cols(in, iw);
    to_cols(want, ww);
    cm_aes128_block(rk, g_t0, iw, ow);
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(ow[i], ww[i]);
    /* Appendix C.1 (AES-128): 00112233...ff under 000102...0f. */
    hexbytes(key, "000102030405060708090a0b0c0d0e0f", 16);
    hexbytes(in, "00112233445566778899aabbccddeeff", 16);
    hexbytes(want, "69c4e0d86a7b0430d8cdb78070b4c55a", 16);
    cm_aes128_expand(key, g_t0, rk);
    to_cols(in, iw);
    to_cols(want, ww);
    cm_aes128_block(rk, g_t0, iw, ow);
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(ow[i], ww[i]);
    /* The same block as CTR words: nonce = bytes 0..7, block = bytes 8..15. */
    hexbytes(key, "2b7e151628aed2a6abf7158809cf4f3c", 16);
    cm_aes128_expand(key, g_t0, rk);
    uint64_t w[2];
    cm_prg_block_words(rk, g_t0, U64(0x3243f6a8885a308d), U64(0x313198a2e0370734), w);
    ck_assert_uint_eq(w[0], U64(0xfb09dc021d842539));
    ck_assert_uint_eq(w[1], U64(0x320b6a19978511dc));
}
END_TEST

/* What the k_prg kernel computes, block by block. */
static void host_prg(const uint8_t key[16], uint64_t nonce, uint64_t first,
                     uint64_t *out, size_t n)
{
    uint32_t rk[44];
    cm_aes128_expand(key, g_t0, rk);
    const uint64_t nb = cm_prg_nblocks(first, n);
    for (uint64_t t = nb; t-- > 0;) {     /* any order: blocks are independent */
        uint64_t w[2];
        const uint64_t blk = (first >> 1) + t;
        cm_prg_block_words(rk, g_t0, nonce, blk, w);
        cm_prg_store(blk, first, n, w, out);
    }
}

START_TEST(test_aes_ctr_vs_cpu)
{
    tables();
    spin_prg_key_t k;
    uint64_t s = 123;
    for (int i = 0; i < 16; i++) k.key[i] = (uint8_t)tu_rand64(&s);
    const uint64_t nonces[] = { 0, 1, U64(0x0123456789abcdef), UINT64_MAX };
    const uint64_t firsts[] = { 0, 1, 2, 3, 17, 1001, U64(1) << 40,
                                (U64(1) << 63) + 5, UINT64_MAX - 600 };
    const size_t lens[] = { 1, 2, 3, 300, 301, 601 };
    uint64_t *want = malloc(601 * 8), *got = malloc(602 * 8);
    uint64_t *d = up(NULL, 601 * 8);
    for (size_t ni = 0; ni < sizeof nonces / sizeof nonces[0]; ni++)
        for (size_t fi = 0; fi < sizeof firsts / sizeof firsts[0]; fi++)
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
                const size_t n = lens[li];
                OK(O->prg_fill(S, &k, nonces[ni], firsts[fi], d, n, NULL));
                down(want, d, n * 8);
                got[n] = U64(0x5a5a5a5a5a5a5a5a);
                host_prg(k.key, nonces[ni], firsts[fi], got, n);
                ck_assert_uint_eq(got[n], U64(0x5a5a5a5a5a5a5a5a));
                for (size_t j = 0; j < n; j++)
                    EXPECT(got[j] == want[j], "nonce %llu first %llu n %zu word %zu",
                           (unsigned long long)nonces[ni],
                           (unsigned long long)firsts[fi], n, j);
            }
    /* The very last word of the stream. */
    OK(O->prg_fill(S, &k, 9, UINT64_MAX, d, 1, NULL));
    down(want, d, 8);
    host_prg(k.key, 9, UINT64_MAX, got, 1);
    ck_assert_uint_eq(got[0], want[0]);
    O->mem_free(S, d);
    free(want);
    free(got);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* im2col / col2im indexing.                                                */
/* ------------------------------------------------------------------------ */

static const spin_conv_geom_t GEOMS[] = {
    { 1, 1, 5, 5, 3, 3, 1, 1, 0, 0, 1, 1, 0, 0 },
    { 2, 3, 7, 6, 3, 2, 2, 1, 1, 0, 1, 2, 0, 0 },
    { 1, 2, 9, 8, 3, 3, 2, 3, 2, 1, 2, 1, 0, 0 },
    { 2, 4, 6, 5, 5, 5, 1, 1, 2, 2, 1, 1, 0, 0 },
    { 1, 1, 3, 3, 2, 2, 3, 3, 1, 1, 1, 1, 0, 0 },
    { 1, 2, 11, 4, 4, 1, 3, 2, 3, 0, 2, 1, 0, 0 },
};

START_TEST(test_im2col_index)
{
    spin_conv_geom_t g = GEOMS[_i];
    g.oh = (g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
    g.ow = (g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
    const cm_geom_t cg = { g.n, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw,
                           g.ph, g.pw, g.dh, g.dw, g.oh, g.ow };
    const size_t xn = g.n * g.c * g.h * g.w;
    const size_t cn = g.n * g.c * g.kh * g.kw * g.oh * g.ow;
    uint64_t *hx = hrand(xn, 60 + (uint64_t)_i), *hc = hrand(cn, 70 + (uint64_t)_i);
    uint64_t *want = malloc(cn * 8), *wantx = malloc(xn * 8);
    uint64_t *dx = up(hx, xn * 8), *dc = up(NULL, cn * 8);
    OK(O->im2col(S, &g, dc, dx, NULL));
    down(want, dc, cn * 8);
    for (size_t e = 0; e < cn; e++) {
        const int64_t src = cm_im2col_src(&cg, e);
        EXPECT((src < 0 ? 0 : hx[src]) == want[e], "im2col geom %d element %zu", _i, e);
    }
    /* col2im: ring and float, against the cpu plugin (float bit for bit). */
    OK(O->copy_h2d(S, dc, hc, cn * 8, NULL));
    OK(O->col2im(S, SPIN_DT_U64, &g, dx, dc, NULL));
    down(wantx, dx, xn * 8);
    for (size_t e = 0; e < xn; e++) {
        uint64_t acc = 0;
#define ADD_U(ci) acc += hc[(ci)]
        CM_COL2IM_GATHER(&cg, e, ADD_U);
#undef ADD_U
        EXPECT(acc == wantx[e], "col2im geom %d element %zu", _i, e);
    }
    double *fc = malloc(cn * 8), *fx = malloc(xn * 8);
    for (size_t i = 0; i < cn; i++) fc[i] = (double)(int64_t)hc[i] / 1e15;
    double *dfc = up(fc, cn * 8), *dfx = up(NULL, xn * 8);
    OK(O->col2im(S, SPIN_DT_F64, &g, dfx, dfc, NULL));
    down(fx, dfx, xn * 8);
    for (size_t e = 0; e < xn; e++) {
        double acc = 0.0;
#define ADD_F(ci) acc += fc[(ci)]
        CM_COL2IM_GATHER(&cg, e, ADD_F);
#undef ADD_F
        EXPECT(acc == fx[e], "col2im f64 geom %d element %zu: %.17g vs %.17g", _i, e,
               acc, fx[e]);
    }
    O->mem_free(S, dx); O->mem_free(S, dc); O->mem_free(S, dfc); O->mem_free(S, dfx);
    free(hx); free(hc); free(want); free(wantx); free(fc); free(fx);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Allocator size classes.                                                  */
/* ------------------------------------------------------------------------ */

START_TEST(test_alloc_classes)
{
    size_t prev_block = 0;
    int prev_cls = -1;
    uint64_t s = 3;
    for (size_t t = 0; t < 200000; t++) {
        /* Sizes in increasing order: small steps, then geometric. */
        const size_t bytes = t < 100000 ? t * 37 + 1
                                        : ((size_t)1 << (20 + (t - 100000) / 4000)) +
                                              (size_t)(tu_rand64(&s) % 4096);
        size_t block = 0;
        const int cls = cm_alloc_class(bytes, &block);
        EXPECT(cls >= 0 && cls < CM_ALLOC_NCLASS, "class %d of %zu", cls, bytes);
        EXPECT(block >= bytes, "block %zu below request %zu", block, bytes);
        EXPECT(bytes <= 512 || block < 2 * bytes, "block %zu for %zu", block, bytes);
        EXPECT(bytes <= ((size_t)1 << 20) || block - bytes <= block / 4,
               "block %zu wastes more than a quarter of %zu", block, bytes);
        EXPECT(block % 512 == 0, "block %zu not a multiple of 512", block);
        /* The same request size always gets the same class. */
        size_t b2 = 0;
        EXPECT(cm_alloc_class(block, &b2) == cls && b2 == block,
               "a block size %zu is its own class", block);
        if (t < 100000) {
            EXPECT(cls >= prev_cls && (cls != prev_cls || block == prev_block),
                   "classes are monotone at %zu", bytes);
            prev_cls = cls;
            prev_block = block;
        }
    }
    size_t block = 0;
    ck_assert_int_eq(cm_alloc_class(1, &block), 0);
    ck_assert_uint_eq(block, 512);
    ck_assert_int_eq(cm_alloc_class((size_t)1 << 20, &block), 11);
    ck_assert_uint_eq(block, (size_t)1 << 20);
    ck_assert_int_eq(cm_alloc_class(((size_t)1 << 20) + 1, &block), 12);
    ck_assert_uint_eq(block, ((size_t)1 << 20) + ((size_t)1 << 18));
    ck_assert_int_lt(cm_alloc_class((size_t)1 << 61, &block), CM_ALLOC_NCLASS);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *cuda_host_suite(void)
{
    Suite *s = suite_create("cuda_host");
    TCase *t = tcase_create("math");
    tcase_add_test(t, test_ring_ops);
    tcase_add_test(t, test_fixed_point);
    tcase_add_test(t, test_limbs_words);
    tcase_add_test(t, test_limbs_bounds);
    tcase_add_test(t, test_limb_gemm);
    tcase_add_test(t, test_aes_fips197);
    tcase_add_test(t, test_aes_ctr_vs_cpu);
    tcase_add_loop_test(t, test_im2col_index, 0,
                        (int)(sizeof GEOMS / sizeof GEOMS[0]));
    tcase_add_test(t, test_alloc_classes);
    tcase_set_timeout(t, 300);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    /* The reference: the cpu plugin (exit 77 when it was not built). */
    spin_runtime_t *rt = tu_runtime_for("cpu", SPIN_PLUGIN_COMPUTE, &g_be);
    O = g_be.ops;
    S = g_be.state;
    SRunner *sr = srunner_create(cuda_host_suite());
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    spin_runtime_close(rt);
    return failed == 0 ? 0 : 1;
}
