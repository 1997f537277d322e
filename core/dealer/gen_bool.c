/* gen_bool.c - the dealer's generators for comparison: AND triples,
 * edaBits and daBits (layouts: mpc/mpc_internal.h, REQ_AND,
 * SPIN_EDABIT_PAIRS, SPIN_DABIT_PRODUCT; the party side is mpc/boolean.c
 * and mpc/compare.c).
 *
 * Every random value is the sum (or XOR) of the parties' streams of the
 * request; party 0 receives the corrections of the derived values only.
 */
#include "config.h"
#include "dealer/dealer_internal.h"

/* out = XOR over parties >= from of words [off, off+n) of their streams. */
static int xor_streams(spin_ctx_t *ctx, uint64_t nonce, uint64_t off, size_t n, int from, uint64_t *out,
                       uint64_t *tmp)
{
    int rc = ctx->compute->mem_zero(ctx->compute_state, out, n * 8, NULL);
    for (int p = from; p < ctx->nparties && !rc && n; p++) {
        rc = ctx->compute->prg_fill(ctx->compute_state, &ctx->party_keys[p], nonce, off, tmp, n, NULL);
        if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_XOR, out, out, tmp, n, NULL);
    }
    return rc;
}

static int make_and(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t **res, size_t *words)
{
    spin_and_req_t L;
    for (uint64_t g = 0; g < rq->p[0] && g < SPIN_AND_MAXSEG; g++)
        if (rq->p[1 + 2 * g] > SPIN_DEALER_MAX_WORDS)
            return spin_dealer_refuse(ctx, rq, SPIN_ERR_RANGE, "batch %llu holds %llu words, over the cap of 2^34 "
                                      "words (128 GiB)", (unsigned long long)g,
                                      (unsigned long long)rq->p[1 + 2 * g]);
    if (spin_mpc_and_parse(rq, &L))
        return spin_dealer_refuse(ctx, rq, SPIN_ERR_PROTOCOL, "malformed: %llu batches (1..%d), each of 1..2^34 "
                                  "words with a tail no longer than the batch", (unsigned long long)rq->p[0],
                                  SPIN_AND_MAXSEG);
    if (L.cwords > SPIN_DEALER_MAX_WORDS)
        return spin_dealer_refuse(ctx, rq, SPIN_ERR_RANGE, "its %d batches make a correction of %zu words, over the "
                                  "cap of 2^34 words (128 GiB)", L.nseg, L.cwords);
    size_t big = 0;
    for (int s = 0; s < L.nseg; s++)
        if (L.nx[s] + L.nt[s] > big) big = L.nx[s] + L.nt[s];
    uint64_t *out = NULL, *a = NULL, *b = NULL, *s = NULL, *tmp = NULL;
    int rc = spin_mpc_buf_alloc(ctx, L.cwords, &out);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, big, &a);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, big, &b);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, big, &s);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, big, &tmp);
    for (int g = 0; g < L.nseg && !rc; g++) {
        size_t nx = L.nx[g], nt = L.nt[g], ny = nx + nt;
        uint64_t off = L.off[g], *c = out + L.coff[g];
        rc = xor_streams(ctx, rq->nonce, off, nx, 0, a, tmp);
        if (!rc) rc = xor_streams(ctx, rq->nonce, off + nx, ny, 0, b, tmp);
        if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_AND, c, a, b, nx, NULL);
        if (!rc && nt) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_AND, c + nx, a + nx - nt, b + nx, nt, NULL);
        if (!rc) rc = xor_streams(ctx, rq->nonce, off + nx + ny, ny, 1, s, tmp);
        if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_XOR, c, c, s, ny, NULL);
    }
    if (!rc) {
        *res = out;
        *words = L.cwords;
        out = NULL;
    }
    spin_mpc_buf_release(ctx, out);
    spin_mpc_buf_release(ctx, a);
    spin_mpc_buf_release(ctx, b);
    spin_mpc_buf_release(ctx, s);
    spin_mpc_buf_release(ctx, tmp);
    return rc;
}

/* An edaBit or daBit request: p[0] = n values (1..2^34), p[1] = flags
 * (only those in `known`). */
static int check_n_flags(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t known)
{
    uint64_t n = rq->p[0], flags = rq->p[1];
    if (!n || (flags & ~known))
        return spin_dealer_refuse(ctx, rq, SPIN_ERR_PROTOCOL, "malformed: %llu values (1..2^34), flags 0x%llx "
                                  "(known: 0x%llx)", (unsigned long long)n, (unsigned long long)flags,
                                  (unsigned long long)known);
    if (n > SPIN_DEALER_MAX_WORDS)
        return spin_dealer_refuse(ctx, rq, SPIN_ERR_RANGE, "%llu values, over the cap of 2^34 words (128 GiB)",
                                  (unsigned long long)n);
    return 0;
}

static int make_edabit(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t **res, size_t *words)
{
    uint64_t n = rq->p[0], flags = rq->p[1];
    int rc = check_n_flags(ctx, rq, SPIN_EDABIT_PAIRS);
    if (rc) return rc;
    size_t W = SPIN_BITS_W((size_t)n), nb = ((flags & SPIN_EDABIT_PAIRS) ? 96 : 64) * W;
    size_t big = n > nb ? n : nb;
    uint64_t *r = NULL, *out = NULL, *s = NULL, *tmp = NULL;
    rc = spin_mpc_buf_alloc(ctx, n, &r);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, nb, &out);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, nb, &s);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, big, &tmp);
    if (!rc) rc = spin_dealer_sum_streams(ctx, rq->nonce, 0, n, 0, r, tmp);
    if (!rc) rc = spin_mpc_bits_slice(ctx, r, n, 0, out);
    if (!rc && (flags & SPIN_EDABIT_PAIRS))
        rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_AND, out + 64 * W, out + 32 * W, out, 32 * W, NULL);
    if (!rc) rc = xor_streams(ctx, rq->nonce, n, nb, 1, s, tmp);
    if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_XOR, out, out, s, nb, NULL);
    if (!rc) {
        *res = out;
        *words = nb;
        out = NULL;
    }
    spin_mpc_buf_release(ctx, r);
    spin_mpc_buf_release(ctx, out);
    spin_mpc_buf_release(ctx, s);
    spin_mpc_buf_release(ctx, tmp);
    return rc;
}

static int make_dabit(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t **res, size_t *words)
{
    uint64_t n = rq->p[0], flags = rq->p[1];
    int rc = check_n_flags(ctx, rq, SPIN_DABIT_PRODUCT);
    if (rc) return rc;
    int prod = (flags & SPIN_DABIT_PRODUCT) != 0;
    size_t W = SPIN_BITS_W((size_t)n), nw = prod ? 2 * n : n;
    uint64_t *rb = NULL, *out = NULL, *a = NULL, *s = NULL, *tmp = NULL;
    rc = spin_mpc_buf_alloc(ctx, W, &rb);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, nw, &out);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &a);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &s);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &tmp);
    /* rho as 0/1 words, then c = a * rho */
    if (!rc) rc = xor_streams(ctx, rq->nonce, 0, W, 0, rb, tmp);
    if (!rc) rc = spin_mpc_bits_unpack(ctx, rb, n, out);
    if (!rc && prod) rc = spin_dealer_sum_streams(ctx, rq->nonce, W + n, n, 0, a, tmp);
    if (!rc && prod) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_MUL, out + n, a, out, n, NULL);
    /* corrections: minus the shares of parties >= 1 */
    if (!rc) rc = spin_dealer_sum_streams(ctx, rq->nonce, W, n, 1, s, tmp);
    if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_SUB, out, out, s, n, NULL);
    if (!rc && prod) rc = spin_dealer_sum_streams(ctx, rq->nonce, W + 2 * n, n, 1, s, tmp);
    if (!rc && prod) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_SUB, out + n, out + n, s, n, NULL);
    if (!rc) {
        *res = out;
        *words = nw;
        out = NULL;
    }
    spin_mpc_buf_release(ctx, rb);
    spin_mpc_buf_release(ctx, out);
    spin_mpc_buf_release(ctx, a);
    spin_mpc_buf_release(ctx, s);
    spin_mpc_buf_release(ctx, tmp);
    return rc;
}

int spin_dealer_make_bool(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t **res, size_t *words)
{
    if (rq->kind == REQ_AND) return make_and(ctx, rq, res, words);
    if (rq->kind == REQ_EDABIT) return make_edabit(ctx, rq, res, words);
    return make_dabit(ctx, rq, res, words);
}

size_t spin_dealer_bool_words(const dealer_req_t *rq)
{
    uint64_t n = rq->p[0];
    if (rq->kind == REQ_AND) {
        spin_and_req_t L;
        return spin_mpc_and_parse(rq, &L) || L.cwords > SPIN_DEALER_MAX_WORDS ? 0 : L.cwords;
    }
    if (!n || n > SPIN_DEALER_MAX_WORDS) return 0;
    if (rq->kind == REQ_EDABIT && !(rq->p[1] & ~(uint64_t)SPIN_EDABIT_PAIRS))
        return ((rq->p[1] & SPIN_EDABIT_PAIRS) ? 96 : 64) * SPIN_BITS_W((size_t)n);
    if (rq->kind == REQ_DABIT && !(rq->p[1] & ~(uint64_t)SPIN_DABIT_PRODUCT))
        return ((rq->p[1] & SPIN_DABIT_PRODUCT) ? 2 : 1) * (size_t)n;
    return 0;
}
