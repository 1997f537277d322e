/* static.c - static right operands of matmuls (model weights).
 *
 * A Beaver matmul X W opens E = X - A and F = W - B.  When W is the same
 * in every call (the weights of a model at inference), F can be opened
 * once: the dealer keeps one mask B for W (REQ_STATIC_MASK) and hands out
 * fresh triples (A, C = A B) that share it (REQ_MATMUL_STATIC).  Each
 * later product opens E only:
 *     Z_i = C_i + E (B_i + [i = 0] F) + A_i F,
 * so a matmul of [m, k] by the static [k, n] sends m k words per peer
 * instead of (m + n) k.  F = W - B reveals nothing: B is uniform and
 * used with W only (the dealer never hands it out for another operand);
 * every call masks X with a fresh A.
 *
 * Streams (seed compression, dealer/gen_arith.c): the mask request's stream
 * gives B_i = words [0, nb); a static matmul request's stream gives
 * A_i = [0, na) and, for parties i >= 1, C_i = [na, na + nc). */
#include "config.h"
#include "mpc/mpc_internal.h"

#include <stdlib.h>
#include <string.h>

struct spin_static {
    spin_ctx_t *ctx;
    uint64_t mask;                       /* nonce of the mask request */
    int ndim;
    size_t shape[2];
    size_t nb;
    uint64_t *bf;                        /* B_i + [i = 0] F */
    uint64_t *f;                         /* F = W - B (public) */
};

void spin_static_free(spin_static_t *s)
{
    if (!s) return;
    spin_mpc_buf_release(s->ctx, s->bf);
    spin_mpc_buf_release(s->ctx, s->f);
    free(s);
}

const size_t *spin_static_shape(const spin_static_t *s)
{
    return s ? s->shape : NULL;
}

int spin_static_new(spin_ctx_t *ctx, const spin_tensor_t *w, spin_static_t **out)
{
    int rc = spin_mpc_check_party(ctx, "static_new");
    if (rc) return rc;
    if (!w || !out || w->ndim != 2) {
        MPC_ERR(ctx, "static_new: the operand must be a 2-d tensor (a weight matrix)");
        return SPIN_ERR_INVAL;
    }
    spin_static_t *s = calloc(1, sizeof *s);
    if (!s) return SPIN_ERR_NOMEM;
    s->ctx = ctx;
    s->ndim = 2;
    s->shape[0] = w->shape[0];
    s->shape[1] = w->shape[1];
    s->nb = spin_tensor_numel(w);
    spin_tensor_t *dw = NULL;
    int owned = 0;
    rc = spin_mpc_tensor_dense(w, &dw, &owned);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, s->nb, &s->bf);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, s->nb, &s->f);
    dealer_req_t rq;
    memset(&rq, 0, sizeof rq);
    rq.kind = REQ_STATIC_MASK;
    rq.p[0] = s->nb;
    rq.nonce = s->mask = ctx->req_nonce++;
    if (!rc) rc = spin_mpc_dealer_request(ctx, &rq);
    /* F_i = W_i - B_i, opened to all */
    if (!rc) rc = spin_mpc_dealer_stream(ctx, s->mask, 0, s->bf, s->nb);
    if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_SUB, s->f, spin_mpc_tensor_data(dw), s->bf, s->nb, NULL);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    spin_opening_t op;
    if (!rc) rc = spin_mpc_open_start(ctx, TAG_BEAVER | REQ_STATIC_MASK, s->f, s->nb, -1, &op);
    if (!rc) {
        /* the dealer's (empty) answer keeps party 0 in step with it */
        uint64_t none;
        if (ctx->party == 0) rc = spin_mpc_dealer_receive(ctx, &none, 0);
        int rc2 = spin_mpc_open_finish(&op);
        if (!rc) rc = rc2;
    }
    if (!rc && ctx->party == 0) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_ADD, s->bf, s->bf, s->f, s->nb, NULL);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    if (owned) spin_tensor_free(dw);
    if (rc) {
        spin_static_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int matmul_static(spin_ctx_t *ctx, const spin_tensor_t *x, int trans_x, const spin_static_t *w,
                         int trans_w, int trunc, spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "matmul_static");
    if (rc) return rc;
    if (!x || !w || !out || w->ctx != ctx || x->ndim < 2 || x->ndim > 3) {
        MPC_ERR(ctx, "matmul_static: x must be 2-d or 3-d and w a static operand of this context");
        return SPIN_ERR_INVAL;
    }
    bilinear_t L;
    size_t shape[3];
    int nd;
    rc = spin_mpc_matmul_geometry(ctx, "matmul_static", x->ndim, x->shape, trans_x, w->ndim, w->shape, trans_w, &L,
                              shape, &nd);
    if (rc) return rc;
    spin_mpc_bilinear_sizes(&L);

    spin_tensor_t *dx = NULL, *z = NULL;
    int owned = 0;
    uint64_t *e = NULL, *a = NULL;
    rc = spin_mpc_tensor_dense(x, &dx, &owned);
    if (!rc) rc = spin_mpc_tensor_new_like(ctx, nd, shape, &z);
    dealer_req_t rq;
    spin_mpc_bilinear_to_req(&L, &rq);
    rq.kind = REQ_MATMUL_STATIC;
    rq.p[SPIN_STATIC_MASK_P] = w->mask;
    uint64_t nonce = rq.nonce = ctx->req_nonce++;
    if (!rc) rc = spin_mpc_dealer_request(ctx, &rq);
    uint64_t nt = 0;
    /* the truncation pair's request goes out before the opening (after the
     * product with SPIN_CHECK_RANGES, whose check comes first) */
    int early = trunc && !ctx->check_ranges;
    if (!rc && early) rc = spin_mpc_trunc_request(ctx, spin_tensor_numel(z), ctx->frac_bits, &nt);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, L.na, &e);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, L.na, &a);
    if (!rc) rc = spin_mpc_dealer_stream(ctx, nonce, 0, a, L.na);
    if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_SUB, e, spin_mpc_tensor_data(dx), a, L.na, NULL);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    spin_opening_t op;
    if (!rc) rc = spin_mpc_open_start(ctx, TAG_BEAVER | REQ_MATMUL_STATIC, e, L.na, -1, &op);
    if (!rc) {
        if (ctx->party == 0) rc = spin_mpc_dealer_receive(ctx, spin_mpc_tensor_data(z), L.nc);
        else rc = spin_mpc_dealer_stream(ctx, nonce, L.na, spin_mpc_tensor_data(z), L.nc);
        int rc2 = spin_mpc_open_finish(&op);
        if (!rc) rc = rc2;
    }
    if (!rc) rc = spin_mpc_bilinear_eval(ctx, &L, spin_mpc_tensor_data(z), e, w->bf, 1);
    if (!rc) rc = spin_mpc_bilinear_eval(ctx, &L, spin_mpc_tensor_data(z), a, w->f, 1);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    if (!rc && trunc && !early) {
        rc = spin_mpc_range_check(ctx, spin_mpc_tensor_data(z), spin_tensor_numel(z), "matmul (static operand)");
        if (!rc) rc = spin_mpc_trunc_request(ctx, spin_tensor_numel(z), ctx->frac_bits, &nt);
    }
    if (!rc && trunc) rc = spin_mpc_trunc_run(ctx, spin_mpc_tensor_data(z), spin_tensor_numel(z), ctx->frac_bits, nt);
    spin_mpc_buf_release(ctx, e);
    spin_mpc_buf_release(ctx, a);
    if (owned) spin_tensor_free(dx);
    if (rc) {
        spin_tensor_free(z);
        return rc;
    }
    *out = z;
    return 0;
}

int spin_matmul_static(spin_ctx_t *ctx, const spin_tensor_t *x, int trans_x, const spin_static_t *w,
                       int trans_w, spin_tensor_t **out)
{
    return matmul_static(ctx, x, trans_x, w, trans_w, 1, out);
}

int spin_matmul_static_raw(spin_ctx_t *ctx, const spin_tensor_t *x, int trans_x, const spin_static_t *w,
                           int trans_w, spin_tensor_t **out)
{
    return matmul_static(ctx, x, trans_x, w, trans_w, 0, out);
}
