/* gen_arith.c - the dealer's generators for the arithmetic protocols:
 * Beaver triples of every bilinear map, truncation pairs, and the masks of
 * static operands.
 *
 * Seed compression: request r owns the AES-CTR stream with nonce r under
 * every party's key K_i.  For a bilinear triple (A, B, C = L(A, B)) party i
 * takes A_i = words [0, na), B_i = [na, na+nb) of its stream, and parties
 * i >= 1 take C_i = [na+nb, na+nb+nc).  The dealer derives every stream
 * itself, forms A = sum A_i, B = sum B_i, C = L(A, B) and sends party 0
 * only its correction C_0 = C - sum_{i>=1} C_i: nc words per triple,
 * independent of N.  Truncation pairs: r = sum r_i from [0, n), and
 * corrections for party 0 of r >> bits and msb(r) (2n words).
 */
#include "config.h"
#include "dealer/dealer_internal.h"
#include "runtime/checked.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- refusals --------------------------------------------------------------- */

const char *spin_dealer_kind_name(uint64_t kind)
{
    switch (kind) {
    case REQ_MUL: return "mul";
    case REQ_SQUARE: return "square";
    case REQ_MATMUL: return "matmul";
    case REQ_CONV: return "conv2d";
    case REQ_CONV_DX: return "conv2d input gradient";
    case REQ_CONV_DW: return "conv2d weight gradient";
    case REQ_TRUNC: return "truncation";
    case REQ_AND: return "AND triples";
    case REQ_EDABIT: return "edaBits";
    case REQ_DABIT: return "daBits";
    case REQ_STATIC_MASK: return "static mask";
    case REQ_MATMUL_STATIC: return "static matmul";
    default: return "unknown kind";
    }
}

const char *spin_dealer_words_str(uint64_t n, char *buf, size_t len)
{
    if (n == UINT64_MAX) snprintf(buf, len, "more than 2^64");
    else snprintf(buf, len, "%llu", (unsigned long long)n);
    return buf;
}

/* words as "24.5 KiB", "3.0 MiB", "1.5 GiB" */
static const char *bytes_str(uint64_t words, char *buf, size_t len)
{
    double b = (double)words * 8;
    if (b < 1024.0 * 1024) snprintf(buf, len, "%.1f KiB", b / 1024);
    else if (b < 1024.0 * 1024 * 1024) snprintf(buf, len, "%.1f MiB", b / (1024.0 * 1024));
    else snprintf(buf, len, "%.1f GiB", b / (1024.0 * 1024 * 1024));
    return buf;
}

int spin_dealer_refuse(spin_ctx_t *ctx, const dealer_req_t *rq, int code, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    MPC_ERR(ctx, "dealer: request %llu (%s, kind %llu) from party 0 refused: %s", (unsigned long long)rq->nonce,
            spin_dealer_kind_name(rq->kind), (unsigned long long)rq->kind, why);
    return code;
}

/* The refusal of a bilinear descriptor that spin_mpc_bilinear_from_req
 * rejected with rc (L as it filled it). */
static int refuse_bilinear(spin_ctx_t *ctx, const dealer_req_t *rq, int rc, const bilinear_t *L)
{
    if (rc != SPIN_ERR_RANGE)
        return spin_dealer_refuse(ctx, rq, SPIN_ERR_PROTOCOL, "malformed descriptor (unknown kind, a transpose flag "
                                  "other than 0/1, a zero stride, a kernel larger than the padded input, or "
                                  "batch sizes that disagree)");
    char a[32], b[32], c[32];
    return spin_dealer_refuse(ctx, rq, SPIN_ERR_RANGE, "its operands are A %s, B %s and C %s words (or a dimension "
                              "or the im2col buffer is larger): over the cap of 2^34 words (128 GiB) per operand",
                              spin_dealer_words_str(L->na, a, sizeof a), spin_dealer_words_str(L->nb, b, sizeof b),
                              spin_dealer_words_str(L->nc, c, sizeof c));
}

/* out = sum over parties >= from of words [off, off+n) of their streams. */
int spin_dealer_sum_streams(spin_ctx_t *ctx, uint64_t nonce, uint64_t off, size_t n, int from, uint64_t *out,
                            uint64_t *tmp)
{
    int rc = ctx->compute->mem_zero(ctx->compute_state, out, n * 8, NULL);
    for (int p = from; p < ctx->nparties && !rc && n; p++) {
        rc = ctx->compute->prg_fill(ctx->compute_state, &ctx->party_keys[p], nonce, off, tmp, n, NULL);
        if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_ADD, out, out, tmp, n, NULL);
    }
    return rc;
}

int spin_dealer_make_bilinear(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t **res, size_t *words)
{
    bilinear_t L;
    int prc = spin_mpc_bilinear_from_req(rq, &L);
    if (prc) return refuse_bilinear(ctx, rq, prc, &L);
    size_t big = L.na > L.nb ? L.na : L.nb;
    if (L.nc > big) big = L.nc;
    uint64_t *a = NULL, *b = NULL, *c = NULL, *s = NULL, *tmp = NULL;
    int rc = spin_mpc_buf_alloc(ctx, L.na, &a);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, L.nb, &b);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, L.nc, &c);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, L.nc, &s);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, big, &tmp);
    if (!rc) rc = spin_dealer_sum_streams(ctx, rq->nonce, 0, L.na, 0, a, tmp);
    if (!rc) rc = spin_dealer_sum_streams(ctx, rq->nonce, L.na, L.nb, 0, b, tmp);
    if (!rc) rc = spin_mpc_bilinear_eval(ctx, &L, c, a, b, 0);
    if (!rc) rc = spin_dealer_sum_streams(ctx, rq->nonce, L.na + L.nb, L.nc, 1, s, tmp);
    if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_SUB, c, c, s, L.nc, NULL);
    if (!rc) {
        *res = c;
        *words = L.nc;
        c = NULL;
    }
    spin_mpc_buf_release(ctx, a);
    spin_mpc_buf_release(ctx, b);
    spin_mpc_buf_release(ctx, c);
    spin_mpc_buf_release(ctx, s);
    spin_mpc_buf_release(ctx, tmp);
    return rc;
}

int spin_dealer_make_trunc(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t **res, size_t *words)
{
    uint64_t n = rq->p[0], bits = rq->p[1];
    if (bits < 1 || bits > 62)
        return spin_dealer_refuse(ctx, rq, SPIN_ERR_PROTOCOL, "a shift of %llu bits (1..62)", (unsigned long long)bits);
    if (n > SPIN_DEALER_MAX_WORDS)
        return spin_dealer_refuse(ctx, rq, SPIN_ERR_RANGE, "%llu values, over the cap of 2^34 words (128 GiB)",
                                  (unsigned long long)n);
    uint64_t *r = NULL, *out = NULL, *s = NULL, *tmp = NULL;
    int rc = spin_mpc_buf_alloc(ctx, n, &r);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, 2 * n, &out);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &s);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &tmp);
    if (!rc) rc = spin_dealer_sum_streams(ctx, rq->nonce, 0, n, 0, r, tmp);
    /* out[0..n) = (r >> bits) - sum_{i>=1} hi_i;  out[n..2n) = msb(r) - ... */
    if (!rc) rc = ctx->compute->ring_scalar(ctx->compute_state, SPIN_RING_SHR_S, out, r, bits, n, NULL);
    if (!rc) rc = ctx->compute->ring_scalar(ctx->compute_state, SPIN_RING_SHR_S, out + n, r, 63, n, NULL);
    if (!rc) rc = spin_dealer_sum_streams(ctx, rq->nonce, n, n, 1, s, tmp);
    if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_SUB, out, out, s, n, NULL);
    if (!rc) rc = spin_dealer_sum_streams(ctx, rq->nonce, 2 * n, n, 1, s, tmp);
    if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_SUB, out + n, out + n, s, n, NULL);
    if (!rc) {
        *res = out;
        *words = 2 * n;
        out = NULL;
    }
    spin_mpc_buf_release(ctx, r);
    spin_mpc_buf_release(ctx, out);
    spin_mpc_buf_release(ctx, s);
    spin_mpc_buf_release(ctx, tmp);
    return rc;
}

/* ---- static operands: masks the dealer keeps -------------------------------
 *
 * REQ_STATIC_MASK (p[0] = nb): B = sum of the parties' streams [0, nb) of
 * that request; the dealer keeps B for the rest of the session (nb words)
 * and answers with an empty correction.  REQ_MATMUL_STATIC (a matmul
 * descriptor with bb = 1, p[SPIN_STATIC_MASK_P] = the mask request's
 * nonce): fresh A = sum of streams [0, na), C = gemm(A, B) with the kept
 * B, and party 0's correction C - sum_{i>=1} of streams [na, na+nc). */

static const spin_dealer_mask_t *find_mask(const spin_dealer_masks_t *st, uint64_t nonce)
{
    for (size_t i = 0; st && i < st->n; i++)
        if (st->m[i].nonce == nonce) return &st->m[i];
    return NULL;
}

void spin_dealer_masks_free(spin_ctx_t *ctx, spin_dealer_masks_t *st)
{
    for (size_t i = 0; i < st->n; i++) {
        /* B masks a party's static operand (F = W - B is public): wipe it */
        if (st->m[i].words) ctx->compute->mem_zero(ctx->compute_state, st->m[i].b, st->m[i].words * 8, NULL);
        spin_mpc_buf_release(ctx, st->m[i].b);
    }
    if (st->n) ctx->compute->stream_sync(ctx->compute_state, NULL);
    free(st->m);
    uint64_t max = st->max_words;
    size_t mb = st->max_mb;
    memset(st, 0, sizeof *st);
    st->max_words = max;
    st->max_mb = mb;
}

int spin_dealer_make_static_mask(spin_ctx_t *ctx, spin_dealer_masks_t *st, const dealer_req_t *rq, uint64_t **res,
                                 size_t *words)
{
    uint64_t nb = rq->p[0];
    if (!nb) return spin_dealer_refuse(ctx, rq, SPIN_ERR_PROTOCOL, "a mask of 0 words");
    if (nb > SPIN_DEALER_MAX_WORDS)
        return spin_dealer_refuse(ctx, rq, SPIN_ERR_RANGE, "a mask of %llu words, over the cap of 2^34 words "
                                  "(128 GiB)", (unsigned long long)nb);
    uint64_t kept = spin_sat_add(st->kept_words, spin_sat_add(nb, SPIN_DEALER_MASK_OVERHEAD));
    if (kept > st->max_words) {
        char b1[32], b2[32];
        return spin_dealer_refuse(ctx, rq, SPIN_ERR_RANGE,
                                  "keeping its mask of %llu words (%s) would bring the static masks kept for this "
                                  "session to %s, over the cap SPIN_DEALER_STATIC_MB=%zu MiB (%zu static operand%s "
                                  "kept so far); set SPIN_DEALER_STATIC_MB higher for the dealer, or use fewer "
                                  "static operands", (unsigned long long)nb, bytes_str(nb, b1, sizeof b1),
                                  bytes_str(kept, b2, sizeof b2), st->max_mb, st->n, st->n == 1 ? "" : "s");
    }
    if (st->n == st->cap) {
        size_t cap = st->cap ? 2 * st->cap : 16;
        spin_dealer_mask_t *m = realloc(st->m, cap * sizeof *m);
        if (!m) return SPIN_ERR_NOMEM;
        st->m = m;
        st->cap = cap;
    }
    uint64_t *b = NULL, *tmp = NULL, *empty = NULL;
    int rc = spin_mpc_buf_alloc(ctx, nb, &b);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, nb, &tmp);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, 1, &empty);
    if (!rc) rc = spin_dealer_sum_streams(ctx, rq->nonce, 0, nb, 0, b, tmp);
    spin_mpc_buf_release(ctx, tmp);
    if (rc) {
        spin_mpc_buf_release(ctx, b);
        spin_mpc_buf_release(ctx, empty);
        return rc;
    }
    st->m[st->n++] = (spin_dealer_mask_t){rq->nonce, (size_t)nb, b};
    st->kept_words = kept;
    *res = empty;
    *words = 0;
    return 0;
}

/* The matmul descriptor of a REQ_MATMUL_STATIC request and its kept mask. */
static int parse_matmul_static(const spin_dealer_masks_t *st, const dealer_req_t *rq, bilinear_t *L,
                               const spin_dealer_mask_t **mask)
{
    dealer_req_t m = *rq;
    m.kind = REQ_MATMUL;
    int rc = spin_mpc_bilinear_from_req(&m, L);
    if (rc) return rc;
    if (L->bb != 1) return SPIN_ERR_PROTOCOL;
    *mask = find_mask(st, rq->p[SPIN_STATIC_MASK_P]);
    if (!*mask || (*mask)->words != L->nb) return SPIN_ERR_PROTOCOL;
    return 0;
}

int spin_dealer_make_matmul_static(spin_ctx_t *ctx, const spin_dealer_masks_t *st, const dealer_req_t *rq,
                                   uint64_t **res, size_t *words)
{
    bilinear_t L;
    const spin_dealer_mask_t *mask;
    dealer_req_t mm = *rq;
    mm.kind = REQ_MATMUL;
    int prc = spin_mpc_bilinear_from_req(&mm, &L);
    if (prc) return refuse_bilinear(ctx, rq, prc, &L);
    if (parse_matmul_static(st, rq, &L, &mask))
        return spin_dealer_refuse(ctx, rq, SPIN_ERR_PROTOCOL, "no kept static mask of request %llu matches it "
                                  "(a matmul with a broadcast B of the mask's size)",
                                  (unsigned long long)rq->p[SPIN_STATIC_MASK_P]);
    uint64_t *a = NULL, *c = NULL, *s = NULL, *tmp = NULL;
    size_t big = L.na > L.nc ? L.na : L.nc;
    int rc = spin_mpc_buf_alloc(ctx, L.na, &a);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, L.nc, &c);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, L.nc, &s);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, big, &tmp);
    if (!rc) rc = spin_dealer_sum_streams(ctx, rq->nonce, 0, L.na, 0, a, tmp);
    if (!rc) rc = spin_mpc_bilinear_eval(ctx, &L, c, a, mask->b, 0);
    if (!rc) rc = spin_dealer_sum_streams(ctx, rq->nonce, L.na, L.nc, 1, s, tmp);
    if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_SUB, c, c, s, L.nc, NULL);
    if (!rc) {
        *res = c;
        *words = L.nc;
        c = NULL;
    }
    spin_mpc_buf_release(ctx, a);
    spin_mpc_buf_release(ctx, c);
    spin_mpc_buf_release(ctx, s);
    spin_mpc_buf_release(ctx, tmp);
    return rc;
}

size_t spin_dealer_matmul_static_words(const spin_dealer_masks_t *st, const dealer_req_t *rq)
{
    bilinear_t L;
    const spin_dealer_mask_t *mask;
    return parse_matmul_static(st, rq, &L, &mask) ? 0 : L.nc;
}
