/* conformance_compute_prg.c - AES-128-CTR PRG: FIPS-197 known answer,
 * the counter layout, large fills, range errors (reference AES here is
 * test code only). */
#include "config.h"

#include <math.h>
#include <string.h>

#include "conformance_compute.h"

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
uint64_t ref_word(const spin_prg_key_t *k, uint64_t nonce, uint64_t j)
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


TCase *cc_tcase_prg(void)
{
    TCase *t = tcase_create("prg");
    tcase_add_test(t, test_prg_fips197);
    tcase_add_test(t, test_prg_layout);
    tcase_add_test(t, test_prg_large);
    tcase_add_test(t, test_prg_range);
    tcase_set_timeout(t, 300);
    return t;
}
