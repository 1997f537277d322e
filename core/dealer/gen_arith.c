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

#include <stdlib.h>
#include <string.h>

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
    if (spin_mpc_bilinear_from_req(rq, &L)) {
        MPC_ERR(ctx, "dealer: malformed request (kind %llu) from party 0", (unsigned long long)rq->kind);
        return SPIN_ERR_PROTOCOL;
    }
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
    if (n > (UINT64_C(1) << 34) || bits < 1 || bits > 62) {
        MPC_ERR(ctx, "dealer: malformed truncation request from party 0");
        return SPIN_ERR_PROTOCOL;
    }
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
    for (size_t i = 0; i < st->n; i++) spin_mpc_buf_release(ctx, st->m[i].b);
    free(st->m);
    memset(st, 0, sizeof *st);
}

int spin_dealer_make_static_mask(spin_ctx_t *ctx, spin_dealer_masks_t *st, const dealer_req_t *rq, uint64_t **res,
                                 size_t *words)
{
    uint64_t nb = rq->p[0];
    if (!nb || nb > (UINT64_C(1) << 34)) {
        MPC_ERR(ctx, "dealer: malformed static-mask request from party 0");
        return SPIN_ERR_PROTOCOL;
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
    if (spin_mpc_bilinear_from_req(&m, L) || L->bb != 1) return SPIN_ERR_PROTOCOL;
    *mask = find_mask(st, rq->p[SPIN_STATIC_MASK_P]);
    if (!*mask || (*mask)->words != L->nb) return SPIN_ERR_PROTOCOL;
    return 0;
}

int spin_dealer_make_matmul_static(spin_ctx_t *ctx, const spin_dealer_masks_t *st, const dealer_req_t *rq,
                                   uint64_t **res, size_t *words)
{
    bilinear_t L;
    const spin_dealer_mask_t *mask;
    if (parse_matmul_static(st, rq, &L, &mask)) {
        MPC_ERR(ctx, "dealer: party 0 asked for a static matmul triple with no matching mask (request %llu)",
                (unsigned long long)rq->p[SPIN_STATIC_MASK_P]);
        return SPIN_ERR_PROTOCOL;
    }
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
