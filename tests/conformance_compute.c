/*
 * conformance_compute.c - the compute-plugin conformance suite.
 *
 *   ./conformance_compute PLUGIN       (exit 77 = SKIP when not available)
 *
 * Plugin-agnostic: every buffer is plugin memory (mem_alloc), filled and read
 * back with copy_h2d / copy_d2h and stream_sync, so the same suite runs
 * against a device-memory plugin.  Every result is compared with a naive
 * reference computed here (including a small reference AES-128 for the PRG:
 * test code only; plugins must use a real crypto library).
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/spin.h>

#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* The backend under test, and a log sink that counts error lines.          */
/* ------------------------------------------------------------------------ */

static spin_backend_t g_be;
static const spin_compute_ops_t *O;
static void *S;
static int g_log_errors;
static char g_log_last[512];

static void log_sink(void *user, spin_log_level_t level, const char *msg)
{
    (void)user;
    if (level == SPIN_LOG_ERROR) {
        g_log_errors++;
        snprintf(g_log_last, sizeof g_log_last, "%s", msg);
    }
    if (getenv("CONFORMANCE_VERBOSE")) fprintf(stderr, "log: %s\n", msg);
}

/* Like ck_assert_msg, but silent when it holds: Check's own assertions
 * report every passing check to the parent process (a system call each),
 * far too slow inside loops over a million elements. */
#define EXPECT(cond, ...)                                                     \
    do {                                                                      \
        if (!(cond)) ck_abort_msg(__VA_ARGS__);                               \
    } while (0)

/* Expect rc == want and (for errors) one new error log line. */
#define EXPECT_ERR(want, call)                                                \
    do {                                                                      \
        int before_ = g_log_errors;                                           \
        int rc_ = (call);                                                     \
        EXPECT(rc_ == (want), "%s returned %d (%s), expected %d",      \
                      #call, rc_, spin_strerror(rc_), (int)(want));           \
        EXPECT(g_log_errors > before_, "%s: no error was logged",      \
                      #call);                                                 \
    } while (0)

#define OK(call)                                                              \
    do {                                                                      \
        int rc_ = (call);                                                     \
        EXPECT(rc_ == 0, "%s failed: %d (%s)", #call, rc_,             \
                      spin_strerror(rc_));                                    \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Plugin-memory helpers.                                                   */
/* ------------------------------------------------------------------------ */

static void *dalloc(size_t bytes)
{
    void *p = NULL;
    OK(O->mem_alloc(S, bytes ? bytes : 8, &p));
    ck_assert_ptr_nonnull(p);
    EXPECT(((uintptr_t)p & 63) == 0, "mem_alloc: %p is not 64-aligned", p);
    return p;
}

static void dfree(void *p)
{
    OK(O->mem_free(S, p));
}

static void put(void *d, const void *h, size_t bytes)
{
    OK(O->copy_h2d(S, d, h, bytes, NULL));
    OK(O->stream_sync(S, NULL));
}

static void get(void *h, const void *d, size_t bytes)
{
    OK(O->stream_sync(S, NULL));
    OK(O->copy_d2h(S, h, d, bytes, NULL));
    OK(O->stream_sync(S, NULL));
}

/* Upload n words; returns plugin memory. */
static uint64_t *up64(const uint64_t *h, size_t n)
{
    uint64_t *d = dalloc(n * 8);
    if (n) put(d, h, n * 8);
    return d;
}

static double *upf(const double *h, size_t n)
{
    double *d = dalloc(n * 8);
    if (n) put(d, h, n * 8);
    return d;
}

static uint64_t *hrand(size_t n, uint64_t seed)
{
    uint64_t *h = malloc((n ? n : 1) * 8);
    ck_assert_ptr_nonnull(h);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) h[i] = tu_rand64(&s);
    return h;
}

#define U64(x) UINT64_C(x)

static const uint64_t EDGE[] = {
    0, 1, 2, 3, U64(0x7fffffffffffffff), U64(0x8000000000000000),
    U64(0xffffffffffffffff), U64(0xfffffffffffffffe), U64(0x123456789abcdef0),
    U64(0x8000000000000001), U64(0x00000000ffffffff), U64(0xdeadbeefcafebabe)
};
#define NEDGE (sizeof EDGE / sizeof EDGE[0])

/* ------------------------------------------------------------------------ */
/* Capabilities, memory, streams.                                           */
/* ------------------------------------------------------------------------ */

START_TEST(test_caps)
{
    const spin_plugin_desc_t *d = g_be.desc;
    ck_assert_int_eq(d->kind, SPIN_PLUGIN_COMPUTE);
    ck_assert_uint_ge(d->ops_size, SPIN_COMPUTE_OPS_SIZE_1_0);
    int have_f64 = O->f64_gemm && O->f64_binary && O->f64_scalar && O->f64_unary;
    int cap_f64 = (d->caps & SPIN_CAP_COMPUTE_F64) != 0;
    EXPECT(have_f64 == cap_f64,
                  "SPIN_CAP_COMPUTE_F64 is %s but the f64 ops are %s",
                  cap_f64 ? "set" : "clear", have_f64 ? "all present" : "not all present");
    /* Every mandatory op is present. */
    const void *mand[] = {
        (const void *)O->mem_alloc, (const void *)O->mem_free,
        (const void *)O->copy_h2d, (const void *)O->copy_d2h,
        (const void *)O->copy_d2d, (const void *)O->mem_zero,
        (const void *)O->stream_create, (const void *)O->stream_destroy,
        (const void *)O->stream_sync, (const void *)O->event_create,
        (const void *)O->event_destroy, (const void *)O->event_record,
        (const void *)O->stream_wait_event, (const void *)O->event_sync,
        (const void *)O->ring_binary, (const void *)O->ring_scalar,
        (const void *)O->ring_unary, (const void *)O->ring_gemm,
        (const void *)O->im2col, (const void *)O->col2im,
        (const void *)O->sum_axis, (const void *)O->prg_fill,
        (const void *)O->ring_from_f64, (const void *)O->ring_to_f64,
    };
    for (size_t i = 0; i < sizeof mand / sizeof mand[0]; i++)
        EXPECT(mand[i] != NULL, "mandatory op %zu is NULL", i);
}
END_TEST

START_TEST(test_memory)
{
    const size_t n = 1000;
    uint64_t *h = hrand(n, 1), *back = calloc(n, 8);
    uint64_t *a = up64(h, n), *b = dalloc(n * 8);
    OK(O->copy_d2d(S, b, a, n * 8, NULL));
    get(back, b, n * 8);
    ck_assert(memcmp(back, h, n * 8) == 0);
    /* mem_zero of a middle range only. */
    OK(O->mem_zero(S, b + 10, 100 * 8, NULL));
    get(back, b, n * 8);
    for (size_t i = 0; i < n; i++)
        EXPECT(back[i] == (i >= 10 && i < 110 ? 0 : h[i]), "mem_zero at %zu", i);
    /* Zero-length operations are no-ops. */
    OK(O->copy_h2d(S, a, h, 0, NULL));
    OK(O->mem_zero(S, a, 0, NULL));
    OK(O->mem_free(S, NULL));
    dfree(a);
    dfree(b);
    free(h);
    free(back);
}
END_TEST

START_TEST(test_streams)
{
    spin_stream_t *s1 = NULL, *s2 = NULL;
    spin_event_t *e = NULL;
    OK(O->stream_create(S, &s1));
    OK(O->stream_create(S, &s2));
    OK(O->event_create(S, &e));
    ck_assert_ptr_nonnull(s1);
    ck_assert_ptr_nonnull(e);
    const size_t n = 100003;
    uint64_t *hx = hrand(n, 2), *hy = hrand(n, 3), *hz = malloc(n * 8);
    uint64_t *x = dalloc(n * 8), *y = dalloc(n * 8), *z = dalloc(n * 8);
    /* s1: upload and add; s2 waits for s1 through the event, then muls. */
    OK(O->copy_h2d(S, x, hx, n * 8, s1));
    OK(O->copy_h2d(S, y, hy, n * 8, s1));
    OK(O->ring_binary(S, SPIN_RING_ADD, z, x, y, n, s1));
    OK(O->event_record(S, e, s1));
    OK(O->stream_wait_event(S, s2, e));
    OK(O->ring_binary(S, SPIN_RING_MUL, z, z, x, n, s2));
    OK(O->event_sync(S, e));
    OK(O->stream_sync(S, s2));
    OK(O->copy_d2h(S, hz, z, n * 8, s2));
    OK(O->stream_sync(S, s2));
    for (size_t i = 0; i < n; i++)
        EXPECT(hz[i] == (hx[i] + hy[i]) * hx[i], "stream result at %zu", i);
    OK(O->stream_sync(S, NULL));
    OK(O->event_destroy(S, e));
    OK(O->stream_destroy(S, s1));
    OK(O->stream_destroy(S, s2));
    dfree(x); dfree(y); dfree(z);
    free(hx); free(hy); free(hz);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* AES-128-CTR PRG.  Reference AES-128 (FIPS-197), test code only.          */
/* ------------------------------------------------------------------------ */

static const uint8_t SBOX[256] = {
    0x63,0x7c,0x77,0x7b,0xf2,0x6b,0x6f,0xc5,0x30,0x01,0x67,0x2b,0xfe,0xd7,0xab,0x76,
    0xca,0x82,0xc9,0x7d,0xfa,0x59,0x47,0xf0,0xad,0xd4,0xa2,0xaf,0x9c,0xa4,0x72,0xc0,
    0xb7,0xfd,0x93,0x26,0x36,0x3f,0xf7,0xcc,0x34,0xa5,0xe5,0xf1,0x71,0xd8,0x31,0x15,
    0x04,0xc7,0x23,0xc3,0x18,0x96,0x05,0x9a,0x07,0x12,0x80,0xe2,0xeb,0x27,0xb2,0x75,
    0x09,0x83,0x2c,0x1a,0x1b,0x6e,0x5a,0xa0,0x52,0x3b,0xd6,0xb3,0x29,0xe3,0x2f,0x84,
    0x53,0xd1,0x00,0xed,0x20,0xfc,0xb1,0x5b,0x6a,0xcb,0xbe,0x39,0x4a,0x4c,0x58,0xcf,
    0xd0,0xef,0xaa,0xfb,0x43,0x4d,0x33,0x85,0x45,0xf9,0x02,0x7f,0x50,0x3c,0x9f,0xa8,
    0x51,0xa3,0x40,0x8f,0x92,0x9d,0x38,0xf5,0xbc,0xb6,0xda,0x21,0x10,0xff,0xf3,0xd2,
    0xcd,0x0c,0x13,0xec,0x5f,0x97,0x44,0x17,0xc4,0xa7,0x7e,0x3d,0x64,0x5d,0x19,0x73,
    0x60,0x81,0x4f,0xdc,0x22,0x2a,0x90,0x88,0x46,0xee,0xb8,0x14,0xde,0x5e,0x0b,0xdb,
    0xe0,0x32,0x3a,0x0a,0x49,0x06,0x24,0x5c,0xc2,0xd3,0xac,0x62,0x91,0x95,0xe4,0x79,
    0xe7,0xc8,0x37,0x6d,0x8d,0xd5,0x4e,0xa9,0x6c,0x56,0xf4,0xea,0x65,0x7a,0xae,0x08,
    0xba,0x78,0x25,0x2e,0x1c,0xa6,0xb4,0xc6,0xe8,0xdd,0x74,0x1f,0x4b,0xbd,0x8b,0x8a,
    0x70,0x3e,0xb5,0x66,0x48,0x03,0xf6,0x0e,0x61,0x35,0x57,0xb9,0x86,0xc1,0x1d,0x9e,
    0xe1,0xf8,0x98,0x11,0x69,0xd9,0x8e,0x94,0x9b,0x1e,0x87,0xe9,0xce,0x55,0x28,0xdf,
    0x8c,0xa1,0x89,0x0d,0xbf,0xe6,0x42,0x68,0x41,0x99,0x2d,0x0f,0xb0,0x54,0xbb,0x16
};

static uint8_t xtime(uint8_t x)
{
    return (uint8_t)((x << 1) ^ ((x & 0x80) ? 0x1b : 0));
}

static void ref_aes128(const uint8_t key[16], const uint8_t in[16], uint8_t out[16])
{
    uint8_t rk[176], s[16], t[16];
    memcpy(rk, key, 16);
    uint8_t rcon = 1;
    for (int i = 16; i < 176; i += 4) {
        uint8_t w[4] = { rk[i - 4], rk[i - 3], rk[i - 2], rk[i - 1] };
        if (i % 16 == 0) {
            uint8_t tmp = w[0];
            w[0] = (uint8_t)(SBOX[w[1]] ^ rcon);
            w[1] = SBOX[w[2]];
            w[2] = SBOX[w[3]];
            w[3] = SBOX[tmp];
            rcon = xtime(rcon);
        }
        for (int j = 0; j < 4; j++) rk[i + j] = (uint8_t)(rk[i - 16 + j] ^ w[j]);
    }
    for (int i = 0; i < 16; i++) s[i] = (uint8_t)(in[i] ^ rk[i]);
    for (int r = 1; r <= 10; r++) {
        /* SubBytes + ShiftRows (state is column-major: s[c*4 + row]). */
        for (int c = 0; c < 4; c++)
            for (int row = 0; row < 4; row++)
                t[c * 4 + row] = SBOX[s[((c + row) % 4) * 4 + row]];
        if (r < 10) {
            for (int c = 0; c < 4; c++) {
                uint8_t *q = t + 4 * c;
                uint8_t a0 = q[0], a1 = q[1], a2 = q[2], a3 = q[3];
                uint8_t all = (uint8_t)(a0 ^ a1 ^ a2 ^ a3);
                q[0] = (uint8_t)(a0 ^ all ^ xtime((uint8_t)(a0 ^ a1)));
                q[1] = (uint8_t)(a1 ^ all ^ xtime((uint8_t)(a1 ^ a2)));
                q[2] = (uint8_t)(a2 ^ all ^ xtime((uint8_t)(a2 ^ a3)));
                q[3] = (uint8_t)(a3 ^ all ^ xtime((uint8_t)(a3 ^ a0)));
            }
        }
        for (int i = 0; i < 16; i++) s[i] = (uint8_t)(t[i] ^ rk[16 * r + i]);
    }
    memcpy(out, s, 16);
}

/* Word j of the stream for (key, nonce), per the layout in plugin.h. */
static uint64_t ref_word(const spin_prg_key_t *k, uint64_t nonce, uint64_t j)
{
    uint8_t ctr[16], ks[16];
    uint64_t blk = j >> 1;
    for (int i = 0; i < 8; i++) {
        ctr[i] = (uint8_t)(nonce >> (56 - 8 * i));
        ctr[8 + i] = (uint8_t)(blk >> (56 - 8 * i));
    }
    ref_aes128(k->key, ctr, ks);
    uint64_t w = 0;
    for (int i = 7; i >= 0; i--) w = (w << 8) | ks[8 * (j & 1) + (unsigned)i];
    return w;
}

static void fill(const spin_prg_key_t *k, uint64_t nonce, uint64_t first,
                 uint64_t *host, size_t n)
{
    uint64_t *d = dalloc(n * 8);
    OK(O->prg_fill(S, k, nonce, first, d, n, NULL));
    get(host, d, n * 8);
    dfree(d);
}

static void hexkey(spin_prg_key_t *k, const char *hex)
{
    for (int i = 0; i < 16; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        k->key[i] = (uint8_t)v;
    }
}

START_TEST(test_prg_fips197)
{
    /* FIPS-197 Appendix B: AES_2b7e...(3243f6a8885a308d313198a2e0370734)
     * = 3925841d02dc09fbdc118597196a0b32.  As a counter block: nonce
     * 0x3243f6a8885a308d, block index 0x313198a2e0370734 (words 2i, 2i+1). */
    spin_prg_key_t k;
    hexkey(&k, "2b7e151628aed2a6abf7158809cf4f3c");
    const uint64_t nonce = U64(0x3243f6a8885a308d), blk = U64(0x313198a2e0370734);
    const uint64_t w0 = U64(0xfb09dc021d842539), w1 = U64(0x320b6a19978511dc);
    /* The reference AES agrees first. */
    ck_assert_uint_eq(ref_word(&k, nonce, 2 * blk), w0);
    ck_assert_uint_eq(ref_word(&k, nonce, 2 * blk + 1), w1);
    uint64_t out[3];
    fill(&k, nonce, 2 * blk, out, 2);
    EXPECT(out[0] == w0 && out[1] == w1, "KAT: got %016llx %016llx",
                  (unsigned long long)out[0], (unsigned long long)out[1]);
    fill(&k, nonce, 2 * blk + 1, out, 1);
    ck_assert_uint_eq(out[0], w1);
    fill(&k, nonce, 2 * blk, out, 1);
    ck_assert_uint_eq(out[0], w0);
    fill(&k, nonce, 2 * blk - 1, out, 3);
    ck_assert_uint_eq(out[1], w0);
    ck_assert_uint_eq(out[2], w1);
    ck_assert_uint_eq(out[0], ref_word(&k, nonce, 2 * blk - 1));
}
END_TEST

START_TEST(test_prg_layout)
{
    spin_prg_key_t k;
    uint64_t s = 77;
    for (int i = 0; i < 16; i++) k.key[i] = (uint8_t)tu_rand64(&s);
    const uint64_t nonce = U64(0x0123456789abcdef);
    const size_t n = 1001;
    uint64_t *all = malloc(n * 8), *piece = malloc(n * 8);
    fill(&k, nonce, 0, all, n);
    for (size_t j = 0; j < n; j++)
        EXPECT(all[j] == ref_word(&k, nonce, j), "word %zu", j);
    /* Pieces starting at odd and even offsets, of odd and even lengths. */
    const size_t cuts[] = { 0, 1, 2, 5, 6, 17, 64, 65, 300, 301, 1000, 1001 };
    for (size_t c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; c++) {
        size_t a = cuts[c], b = cuts[c + 1];
        fill(&k, nonce, a, piece + a, b - a);
    }
    ck_assert(memcmp(all, piece, n * 8) == 0);
    /* Another nonce, another key: another stream. */
    fill(&k, nonce + 1, 0, piece, n);
    size_t same = 0;
    for (size_t j = 0; j < n; j++) same += piece[j] == all[j];
    ck_assert_uint_lt(same, 3);
    for (size_t j = 0; j < 16; j++)
        ck_assert_uint_eq(piece[j], ref_word(&k, nonce + 1, j));
    spin_prg_key_t k2 = k;
    k2.key[15] ^= 1;
    fill(&k2, nonce, 0, piece, n);
    same = 0;
    for (size_t j = 0; j < n; j++) same += piece[j] == all[j];
    ck_assert_uint_lt(same, 3);
    /* n = 0 is a no-op. */
    OK(O->prg_fill(S, &k, nonce, 5, NULL, 0, NULL));
    free(all);
    free(piece);
}
END_TEST

START_TEST(test_prg_large)
{
    /* Large enough for a multi-threaded / multi-block-launch path, at an odd
     * offset; compared with pieces and with the reference at samples. */
    spin_prg_key_t k;
    hexkey(&k, "000102030405060708090a0b0c0d0e0f");
    const uint64_t nonce = 42, first = 1234567;
    const size_t n = (1u << 20) + 3;
    uint64_t *big = malloc(n * 8), *piece = malloc(n * 8);
    fill(&k, nonce, first, big, n);
    size_t half = n / 2 + 1; /* odd split */
    fill(&k, nonce, first, piece, half);
    fill(&k, nonce, first + half, piece + half, n - half);
    ck_assert(memcmp(big, piece, n * 8) == 0);
    uint64_t s = 5;
    for (int t = 0; t < 200; t++) {
        size_t j = t < 2 ? (t ? n - 1 : 0) : (size_t)(tu_rand64(&s) % n);
        EXPECT(big[j] == ref_word(&k, nonce, first + j), "word %zu", j);
    }
    free(big);
    free(piece);
}
END_TEST

START_TEST(test_prg_range)
{
    spin_prg_key_t k;
    hexkey(&k, "2b7e151628aed2a6abf7158809cf4f3c");
    uint64_t out[16];
    /* The last words of the stream (block 2^63 - 1) are fine ... */
    fill(&k, 9, UINT64_MAX - 9, out, 10);
    for (int j = 0; j < 10; j++)
        ck_assert_uint_eq(out[j], ref_word(&k, 9, UINT64_MAX - 9 + (uint64_t)j));
    fill(&k, 9, UINT64_MAX, out, 1);
    ck_assert_uint_eq(out[0], ref_word(&k, 9, UINT64_MAX));
    /* ... one past them is a range error, with nothing written. */
    uint64_t *d = dalloc(16 * 8);
    uint64_t sentinel[16];
    for (int i = 0; i < 16; i++) sentinel[i] = U64(0x5a5a5a5a5a5a5a5a);
    put(d, sentinel, sizeof sentinel);
    EXPECT_ERR(SPIN_ERR_RANGE, O->prg_fill(S, &k, 9, UINT64_MAX - 9, d, 11, NULL));
    EXPECT_ERR(SPIN_ERR_RANGE, O->prg_fill(S, &k, 9, UINT64_MAX, d, 2, NULL));
    EXPECT_ERR(SPIN_ERR_RANGE, O->prg_fill(S, &k, 9, (U64(1) << 63) + 2,
                                            d, (size_t)(U64(1) << 63) - 1, NULL));
    get(out, d, sizeof out);
    ck_assert(memcmp(out, sentinel, sizeof out) == 0);
    EXPECT_ERR(SPIN_ERR_INVAL, O->prg_fill(S, &k, 9, 0, NULL, 4, NULL));
    dfree(d);
}
END_TEST

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

static void ew_check(const char *what, int op, const uint64_t *got,
                     const uint64_t *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        EXPECT(got[i] == want[i], "%s op %d n=%zu: element %zu is %016llx, "
                      "expected %016llx", what, op, n, i,
                      (unsigned long long)got[i], (unsigned long long)want[i]);
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
    memcpy(hx, EDGE, sizeof EDGE);
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
/* im2col / col2im / sum_axis.                                              */
/* ------------------------------------------------------------------------ */

static const spin_conv_geom_t GEOMS[] = {
    /* n c h w kh kw sh sw ph pw dh dw  (oh ow filled in below) */
    { 1, 1, 5, 5, 3, 3, 1, 1, 0, 0, 1, 1, 0, 0 },
    { 2, 3, 7, 6, 3, 2, 2, 1, 1, 0, 1, 2, 0, 0 },
    { 1, 2, 9, 8, 3, 3, 2, 3, 2, 1, 2, 1, 0, 0 },
    { 3, 1, 4, 4, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0 },
    { 2, 4, 6, 5, 5, 5, 1, 1, 2, 2, 1, 1, 0, 0 },
    { 1, 1, 3, 3, 2, 2, 3, 3, 1, 1, 1, 1, 0, 0 },
    { 4, 16, 28, 28, 5, 5, 1, 1, 0, 0, 1, 1, 0, 0 }, /* large: threads */
};

static spin_conv_geom_t geom(size_t i)
{
    spin_conv_geom_t g = GEOMS[i];
    g.oh = (g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
    g.ow = (g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
    return g;
}

/* Naive im2col, returns the x index (or -1 for padding) of a col element. */
static long col_src(const spin_conv_geom_t *g, size_t b, size_t ci, size_t i,
                    size_t j, size_t oy, size_t ox)
{
    long iy = (long)(oy * g->sh + i * g->dh) - (long)g->ph;
    long ix = (long)(ox * g->sw + j * g->dw) - (long)g->pw;
    if (iy < 0 || ix < 0 || iy >= (long)g->h || ix >= (long)g->w) return -1;
    return (long)(((b * g->c + ci) * g->h + (size_t)iy) * g->w + (size_t)ix);
}

START_TEST(test_im2col_col2im)
{
    spin_conv_geom_t g = geom((size_t)_i);
    const size_t xn = g.n * g.c * g.h * g.w;
    const size_t rows = g.c * g.kh * g.kw, ohw = g.oh * g.ow;
    const size_t cn = g.n * rows * ohw;
    uint64_t *hx = hrand(xn, 31 + (uint64_t)_i), *hc = hrand(cn, 41 + (uint64_t)_i);
    uint64_t *col = malloc(cn * 8), *xb = malloc(xn * 8);
    uint64_t *wantc = malloc(cn * 8), *wantx = calloc(xn, 8);
    for (size_t b = 0; b < g.n; b++)
        for (size_t ci = 0; ci < g.c; ci++)
            for (size_t i = 0; i < g.kh; i++)
                for (size_t j = 0; j < g.kw; j++)
                    for (size_t oy = 0; oy < g.oh; oy++)
                        for (size_t ox = 0; ox < g.ow; ox++) {
                            size_t r = (ci * g.kh + i) * g.kw + j;
                            size_t ce = (b * rows + r) * ohw + oy * g.ow + ox;
                            long src = col_src(&g, b, ci, i, j, oy, ox);
                            wantc[ce] = src < 0 ? 0 : hx[src];
                            if (src >= 0) wantx[src] += hc[ce];
                        }
    uint64_t *dx = up64(hx, xn), *dc = dalloc(cn * 8);
    OK(O->im2col(S, &g, dc, dx, NULL));
    get(col, dc, cn * 8);
    ew_check("im2col", _i, col, wantc, cn);
    /* col2im of a random col (x is overwritten, not accumulated). */
    put(dc, hc, cn * 8);
    OK(O->col2im(S, SPIN_DT_U64, &g, dx, dc, NULL));
    get(xb, dx, xn * 8);
    ew_check("col2im", _i, xb, wantx, xn);
    /* Adjoint: <im2col(x), c> == <x, col2im(c)> in the ring. */
    uint64_t lhs = 0, rhs = 0;
    for (size_t i = 0; i < cn; i++) lhs += col[i] * hc[i];
    for (size_t i = 0; i < xn; i++) rhs += hx[i] * xb[i];
    ck_assert_uint_eq(lhs, rhs);
    /* Float col2im on small integers (exact). */
    double *fc = malloc(cn * 8), *fx = malloc(xn * 8), *fwant = calloc(xn, 8);
    for (size_t i = 0; i < cn; i++) fc[i] = (double)(hc[i] % 17) - 8.0;
    for (size_t b = 0; b < g.n; b++)
        for (size_t ci = 0; ci < g.c; ci++)
            for (size_t i = 0; i < g.kh; i++)
                for (size_t j = 0; j < g.kw; j++)
                    for (size_t oy = 0; oy < g.oh; oy++)
                        for (size_t ox = 0; ox < g.ow; ox++) {
                            size_t r = (ci * g.kh + i) * g.kw + j;
                            size_t ce = (b * rows + r) * ohw + oy * g.ow + ox;
                            long src = col_src(&g, b, ci, i, j, oy, ox);
                            if (src >= 0) fwant[src] += fc[ce];
                        }
    double *dfc = upf(fc, cn), *dfx = dalloc(xn * 8);
    OK(O->col2im(S, SPIN_DT_F64, &g, dfx, dfc, NULL));
    get(fx, dfx, xn * 8);
    for (size_t i = 0; i < xn; i++) EXPECT(fx[i] == fwant[i], "col2im f64 %zu", i);
    /* Geometry whose oh/ow disagree with the formula is rejected. */
    spin_conv_geom_t bad = g;
    bad.oh += 1;
    EXPECT_ERR(SPIN_ERR_INVAL, O->im2col(S, &bad, dc, dx, NULL));
    bad = g;
    bad.ow -= 1;
    EXPECT_ERR(SPIN_ERR_INVAL, O->col2im(S, SPIN_DT_U64, &bad, dx, dc, NULL));
    bad = g;
    bad.sh = 0;
    EXPECT_ERR(SPIN_ERR_INVAL, O->im2col(S, &bad, dc, dx, NULL));
    dfree(dx); dfree(dc); dfree(dfc); dfree(dfx);
    free(hx); free(hc); free(col); free(xb); free(wantc); free(wantx);
    free(fc); free(fx); free(fwant);
}
END_TEST

START_TEST(test_sum_axis)
{
    /* (outer, len, inner): reduce the first, middle and last axis. */
    const size_t shapes[][3] = {
        { 1, 37, 13 }, { 5, 9, 7 }, { 11, 33, 1 }, { 1, 1, 1 }, { 3, 0, 4 },
        { 2, 1000, 100 }, { 300, 300, 1 }, { 1, 5, 70000 },
    };
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const size_t outer = shapes[si][0], len = shapes[si][1], inner = shapes[si][2];
        const size_t xn = outer * len * inner, yn = outer * inner;
        uint64_t *hx = hrand(xn, 51 + si), *hy0 = hrand(yn, 61 + si);
        uint64_t *want = malloc(yn * 8), *got = malloc(yn * 8);
        uint64_t *dx = up64(hx, xn), *dy = dalloc(yn * 8);
        double *fx = malloc((xn ? xn : 1) * 8), *fy0 = malloc(yn * 8);
        double *fwant = malloc(yn * 8), *fgot = malloc(yn * 8);
        for (size_t i = 0; i < xn; i++) fx[i] = (double)(hx[i] % 1001) - 500.0;
        for (size_t i = 0; i < yn; i++) fy0[i] = (double)(hy0[i] % 101);
        double *dfx = upf(fx, xn), *dfy = dalloc(yn * 8);
        for (int acc = 0; acc < 2; acc++) {
            for (size_t o = 0; o < outer; o++)
                for (size_t i = 0; i < inner; i++) {
                    uint64_t s = acc ? hy0[o * inner + i] : 0;
                    double fs = acc ? fy0[o * inner + i] : 0.0;
                    for (size_t l = 0; l < len; l++) {
                        s += hx[(o * len + l) * inner + i];
                        fs += fx[(o * len + l) * inner + i];
                    }
                    want[o * inner + i] = s;
                    fwant[o * inner + i] = fs;
                }
            put(dy, hy0, yn * 8);
            OK(O->sum_axis(S, SPIN_DT_U64, dy, dx, outer, len, inner, acc, NULL));
            get(got, dy, yn * 8);
            ew_check("sum_axis", (int)si, got, want, yn);
            put(dfy, fy0, yn * 8);
            OK(O->sum_axis(S, SPIN_DT_F64, dfy, dfx, outer, len, inner, acc, NULL));
            get(fgot, dfy, yn * 8);
            for (size_t i = 0; i < yn; i++)
                EXPECT(fgot[i] == fwant[i], "sum_axis f64 shape %zu acc %d at %zu",
                              si, acc, i);
        }
        dfree(dx); dfree(dy); dfree(dfx); dfree(dfy);
        free(hx); free(hy0); free(want); free(got);
        free(fx); free(fy0); free(fwant); free(fgot);
    }
    uint64_t *d = dalloc(64);
    EXPECT_ERR(SPIN_ERR_INVAL, O->sum_axis(S, (spin_dtype_t)9, d, d, 1, 1, 1, 0, NULL));
    EXPECT_ERR(SPIN_ERR_INVAL, O->sum_axis(S, SPIN_DT_U64, NULL, d, 1, 1, 1, 0, NULL));
    dfree(d);
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

/* ------------------------------------------------------------------------ */
/* Independent instances used concurrently from several threads.            */
/* ------------------------------------------------------------------------ */

static const char *g_plugin_name;

typedef struct inst_job {
    int id;
    int rc;              /* 0 ok, >0 wrong result, <0 status code */
} inst_job_t;

static void *instance_thread(void *arg)
{
    inst_job_t *j = arg;
    spin_runtime_t *rt = NULL;
    spin_backend_t be;
    j->rc = tu_runtime_try(g_plugin_name, SPIN_PLUGIN_COMPUTE, &rt, &be);
    if (j->rc) return NULL;
    const spin_compute_ops_t *o = be.ops;
    void *st = be.state;
    const size_t n = 48, nw = 4001;
    uint64_t *ha = hrand(n * n, 500 + (uint64_t)j->id), *hc = malloc(n * n * 8);
    uint64_t *w = malloc(nw * 8);
    spin_prg_key_t k;
    memset(&k, j->id + 1, sizeof k);
    void *da = NULL, *dc = NULL, *dw = NULL;
    int rc = o->mem_alloc(st, n * n * 8, &da);
    if (!rc) rc = o->mem_alloc(st, n * n * 8, &dc);
    if (!rc) rc = o->mem_alloc(st, nw * 8, &dw);
    for (int rep = 0; !rc && rep < 20 && j->rc == 0; rep++) {
        spin_gemm_t g = { .m = n, .n = n, .k = n, .batch = 1, .a = da, .lda = n,
                          .b = da, .ldb = n, .c = dc, .ldc = n };
        rc = o->copy_h2d(st, da, ha, n * n * 8, NULL);
        if (!rc) rc = o->ring_gemm(st, &g, NULL);
        if (!rc) rc = o->prg_fill(st, &k, (uint64_t)j->id, 3, dw, nw, NULL);
        if (!rc) rc = o->stream_sync(st, NULL);
        if (!rc) rc = o->copy_d2h(st, hc, dc, n * n * 8, NULL);
        if (!rc) rc = o->copy_d2h(st, w, dw, nw * 8, NULL);
        if (!rc) rc = o->stream_sync(st, NULL);
        for (size_t i = 0; !rc && i < n; i += 7)
            for (size_t jj = 0; jj < n; jj += 5) {
                uint64_t s = 0;
                for (size_t p = 0; p < n; p++) s += ha[i * n + p] * ha[p * n + jj];
                if (hc[i * n + jj] != s) j->rc = 1;
            }
        for (size_t i = 0; !rc && i < nw; i += 97)
            if (w[i] != ref_word(&k, (uint64_t)j->id, 3 + i)) j->rc = 2;
    }
    if (rc) j->rc = rc;
    o->mem_free(st, da);
    o->mem_free(st, dc);
    o->mem_free(st, dw);
    free(ha); free(hc); free(w);
    spin_runtime_close(rt);
    return NULL;
}

START_TEST(test_instances)
{
    enum { NT = 3 };
    pthread_t th[NT];
    inst_job_t jobs[NT];
    for (int i = 0; i < NT; i++) {
        jobs[i].id = i;
        jobs[i].rc = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, instance_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < NT; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NT; i++)
        EXPECT(jobs[i].rc == 0, "instance %d in its own thread: %s", i,
               jobs[i].rc > 0 ? "wrong result" : spin_strerror(jobs[i].rc));
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *compute_suite(void)
{
    Suite *s = suite_create("compute");
    TCase *t;

    t = tcase_create("basics");
    tcase_add_test(t, test_caps);
    tcase_add_test(t, test_memory);
    tcase_add_test(t, test_streams);
    tcase_add_test(t, test_instances);
    tcase_set_timeout(t, 300);
    suite_add_tcase(s, t);

    t = tcase_create("prg");
    tcase_add_test(t, test_prg_fips197);
    tcase_add_test(t, test_prg_layout);
    tcase_add_test(t, test_prg_large);
    tcase_add_test(t, test_prg_range);
    tcase_set_timeout(t, 300);
    suite_add_tcase(s, t);

    t = tcase_create("gemm");
    tcase_add_loop_test(t, test_gemm_shapes, 0,
                        (int)(sizeof GEMM_SHAPES / sizeof GEMM_SHAPES[0]));
    tcase_add_test(t, test_gemm_batched);
    tcase_add_test(t, test_gemm_blocks);
    tcase_add_test(t, test_gemm_invalid);
    tcase_set_timeout(t, 300);
    suite_add_tcase(s, t);

    t = tcase_create("elementwise");
    tcase_add_loop_test(t, test_ring_binary, 0, 2);
    tcase_add_loop_test(t, test_ring_scalar, 0, 2);
    tcase_add_loop_test(t, test_ring_unary, 0, 2);
    tcase_add_test(t, test_from_f64);
    tcase_add_test(t, test_to_f64);
    tcase_set_timeout(t, 300);
    suite_add_tcase(s, t);

    t = tcase_create("layout");
    tcase_add_loop_test(t, test_im2col_col2im, 0,
                        (int)(sizeof GEOMS / sizeof GEOMS[0]));
    tcase_add_test(t, test_sum_axis);
    tcase_set_timeout(t, 300);
    suite_add_tcase(s, t);

    t = tcase_create("f64");
    tcase_add_test(t, test_f64_gemm);
    tcase_add_test(t, test_f64_elementwise);
    tcase_set_timeout(t, 300);
    suite_add_tcase(s, t);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PLUGIN\n", argv[0]);
        return 2;
    }
    /* tu_runtime_for handles "not built" / "unavailable" (exit 77). */
    spin_runtime_t *probe = tu_runtime_for(argv[1], SPIN_PLUGIN_COMPUTE, &g_be);
    spin_runtime_close(probe);

    /* Reopen with a logger that counts error lines, so the suite can check
     * that invalid arguments are reported. */
    static spin_logger_t lg = { SPIN_LOG_WARN, "conformance", log_sink, NULL };
    spin_runtime_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.backend = argv[1];
    o.no_default_path = 1;
    o.log = &lg;
    spin_runtime_t *rt = NULL;
    int rc = spin_runtime_open(&o, &rt);
    if (rc == 0) rc = spin_runtime_compute(rt, &g_be);
    if (rc != 0) {
        fprintf(stderr, "FAIL: cannot use the %s plugin: %s\n", argv[1], spin_strerror(rc));
        return 1;
    }
    O = g_be.ops;
    S = g_be.state;
    g_plugin_name = argv[1];
    printf("conformance_compute: plugin %s (%s) from %s\n", g_be.desc->name,
           g_be.desc->version, g_be.path);

    SRunner *sr = srunner_create(compute_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    spin_runtime_close(rt);
    return failed == 0 ? 0 : 1;
}
