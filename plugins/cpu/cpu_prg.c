/*
 * cpu_prg.c - the AES-128-CTR PRG (layout in spin/plugin.h) through OpenSSL
 * EVP (AES-NI / VAES where the CPU has them; no AES code of our own).
 *
 *   counter block i = nonce (big-endian, bytes 0..7) || i (big-endian, 8..15)
 *   word j          = keystream bytes [8j, 8j+8), little-endian
 *
 * prg_fill(first_word, n): an odd first word is the high half of block
 * first_word/2 and a trailing odd word the low half of the next block; the
 * whole blocks in between are encrypted straight into the output, from a
 * buffer of zeros, in 32 KiB chunks.  Large fills are split over OpenMP
 * threads, each with its own EVP context, each starting its own counter.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/opensslv.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_internal.h"

#define PRG_CHUNK 32768u                 /* bytes per EVP_EncryptUpdate */
#define PRG_PAR_MIN_BLOCKS (1u << 15)    /* 512 KiB: thread above this */

typedef struct prg_ctx {
    EVP_CIPHER_CTX *ctx;
    uint8_t key[16];
    int keyed;
} prg_ctx_t;

struct cpu_prg {
    EVP_CIPHER *fetched;                 /* OpenSSL 3: fetched once */
    const EVP_CIPHER *cipher;
    int nctx;
    prg_ctx_t *c;                        /* one per OpenMP thread */
    uint8_t *zero;                       /* PRG_CHUNK zero bytes (read-only) */
};

int cpu_prg_create(cpu_state_t *st, char *why, size_t whylen)
{
    cpu_prg_t *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(why, whylen, "out of memory");
        return SPIN_ERR_NOMEM;
    }
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    p->fetched = EVP_CIPHER_fetch(NULL, "AES-128-CTR", NULL);
    p->cipher = p->fetched;
#else
    p->cipher = EVP_aes_128_ctr();
#endif
    if (!p->cipher) {
        snprintf(why, whylen, "OpenSSL has no AES-128-CTR cipher");
        free(p);
        return SPIN_ERR_UNAVAILABLE;
    }
    p->nctx = st->max_threads;
    p->c = calloc((size_t)p->nctx, sizeof *p->c);
    p->zero = calloc(1, PRG_CHUNK);
    int ok = p->c && p->zero;
    for (int i = 0; ok && i < p->nctx; i++) {
        p->c[i].ctx = EVP_CIPHER_CTX_new();
        if (!p->c[i].ctx) ok = 0;
    }
    st->prg = p;
    if (!ok) {
        cpu_prg_destroy(st);
        snprintf(why, whylen, "out of memory for AES contexts");
        return SPIN_ERR_NOMEM;
    }
    return SPIN_OK;
}

void cpu_prg_destroy(cpu_state_t *st)
{
    cpu_prg_t *p = st->prg;
    if (!p) return;
    if (p->c) {
        /* EVP_CIPHER_CTX_free cleanses the key schedule; our copies of the
         * last key of each context are wiped here. */
        for (int i = 0; i < p->nctx; i++) EVP_CIPHER_CTX_free(p->c[i].ctx);
        explicit_bzero(p->c, (size_t)p->nctx * sizeof *p->c);
        free(p->c);
    }
    free(p->zero);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    EVP_CIPHER_free(p->fetched);
#endif
    free(p);
    st->prg = NULL;
}

static void put_be64(uint8_t *d, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        d[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_le64(const uint8_t *s)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | s[i];
    return v;
}

/* Keystream blocks [block0, block0 + nblocks) into out (16 bytes each). */
static int prg_blocks(const cpu_prg_t *p, prg_ctx_t *c, const uint8_t key[16],
                      uint64_t nonce, uint64_t block0, uint8_t *out,
                      size_t nblocks)
{
    uint8_t iv[16];
    put_be64(iv, nonce);
    put_be64(iv + 8, block0);
    int ok;
    if (c->keyed && memcmp(c->key, key, 16) == 0) {
        ok = EVP_EncryptInit_ex(c->ctx, NULL, NULL, NULL, iv);
    } else {
        ok = EVP_EncryptInit_ex(c->ctx, p->cipher, NULL, key, iv);
        if (ok) {
            memcpy(c->key, key, 16);
            c->keyed = 1;
        } else {
            c->keyed = 0;
        }
    }
    size_t left = nblocks * 16;
    while (ok && left > 0) {
        const int len = (int)(left < PRG_CHUNK ? left : PRG_CHUNK);
        int outl = 0;
        ok = EVP_EncryptUpdate(c->ctx, out, &outl, p->zero, len) && outl == len;
        out += len;
        left -= (size_t)len;
    }
    return ok ? SPIN_OK : SPIN_ERR_INTERNAL;
}

/* Whole blocks [block0, block0 + nblocks) as 2*nblocks words at out. */
static int prg_words(const cpu_state_t *st, const uint8_t key[16],
                     uint64_t nonce, uint64_t block0, uint64_t *out,
                     size_t nblocks)
{
    cpu_prg_t *p = st->prg;
    int rc = SPIN_OK;
    int nth = 1;
#ifdef _OPENMP
    if (nblocks >= PRG_PAR_MIN_BLOCKS) {
        nth = omp_get_max_threads();
        if (nth > p->nctx) nth = p->nctx;
    }
#endif
    if (nth <= 1) {
        rc = prg_blocks(p, &p->c[0], key, nonce, block0, (uint8_t *)out, nblocks);
    } else {
        #pragma omp parallel num_threads(nth)
        {
            int tid = 0, team = 1;
#ifdef _OPENMP
            tid = omp_get_thread_num();
            team = omp_get_num_threads();
#endif
            /* Contiguous, 4-block aligned ranges per thread. */
            const size_t q = nblocks / 4;
            const size_t b0 = q * (size_t)tid / (size_t)team * 4;
            const size_t b1 = tid == team - 1 ? nblocks
                                              : q * (size_t)(tid + 1) / (size_t)team * 4;
            int r = prg_blocks(p, &p->c[tid], key, nonce, block0 + b0,
                               (uint8_t *)(out + 2 * b0), b1 - b0);
            if (r) {
                #pragma omp atomic write
                rc = r;
            }
        }
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < 2 * nblocks; i++)
        out[i] = get_le64((const uint8_t *)&out[i]);
#endif
    return rc;
}

int cpu_prg_fill(void *state, const spin_prg_key_t *key, uint64_t nonce,
                 uint64_t first_word, uint64_t *out, size_t n, spin_stream_t *s)
{
    (void)s;
    cpu_state_t *st = state;
    if (!key) return cpu_inval(st, "prg_fill: key is NULL");
    if (n > 0 && !out) return cpu_inval(st, "prg_fill: out is NULL with n=%zu", n);
    /* Words j < 2^64, i.e. block indices below 2^63. */
    if (n > 0 && (uint64_t)(n - 1) > UINT64_MAX - first_word)
        return cpu_fail(st, SPIN_ERR_RANGE,
                        "prg_fill: words [%llu, +%zu) run past word 2^64-1 "
                        "(block index 2^63)", (unsigned long long)first_word, n);
    if (n == 0) return SPIN_OK;
    const uint8_t *k = key->key;
    uint8_t tmp[16];
    uint64_t w = first_word;
    size_t left = n;
    int rc;
    if (w & 1) {
        rc = prg_blocks(st->prg, &st->prg->c[0], k, nonce, w >> 1, tmp, 1);
        if (rc) goto fail;
        *out++ = get_le64(tmp + 8);
        left--;
        if (left == 0) goto done;
        w++;
    }
    const size_t nb = left / 2;
    if (nb > 0) {
        rc = prg_words(st, k, nonce, w >> 1, out, nb);
        if (rc) goto fail;
        out += 2 * nb;
        left -= 2 * nb;
        w += 2 * (uint64_t)nb;
    }
    if (left == 1) {
        rc = prg_blocks(st->prg, &st->prg->c[0], k, nonce, w >> 1, tmp, 1);
        if (rc) goto fail;
        *out = get_le64(tmp);
    }
done:
    /* the half block not handed out is keystream of other words */
    explicit_bzero(tmp, sizeof tmp);
    return SPIN_OK;
fail:
    explicit_bzero(tmp, sizeof tmp);
    return cpu_fail(st, rc, "prg_fill: OpenSSL AES-128-CTR failed");
}
