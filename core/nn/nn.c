/* nn.c - neural-network building blocks over the protocols (spin/nn.h).
 *
 * Bias broadcasts are local: every party adds its share of b_c to every
 * element of channel c.  The SGD step batches the truncations of all
 * parameters into one buffer: round 1 truncates momentum v + wd w (both at
 * scale 2^2f), round 2 truncates lr v'.
 */
#include "config.h"
#include "mpc/mpc_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <spin/functions.h>
#include <spin/nn.h>
#include <spin/reduce.h>

int spin_add_bias(spin_ctx_t *ctx, const spin_tensor_t *y, const spin_tensor_t *b, int axis, spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "add_bias");
    if (rc) return rc;
    if (axis < 0) axis += y->ndim;
    if (axis < 0 || axis >= y->ndim || spin_tensor_numel(b) != y->shape[axis]) {
        MPC_ERR(ctx, "add_bias: the bias has %zu values; it needs one per index of axis %d of y",
                spin_tensor_numel(b), axis);
        return SPIN_ERR_INVAL;
    }
    size_t outer = 1, inner = 1, C = y->shape[axis];
    for (int i = 0; i < y->ndim; i++) {
        if (i < axis) outer *= y->shape[i];
        if (i > axis) inner *= y->shape[i];
    }
    spin_tensor_t *r = NULL, *db = NULL, *dy = NULL;
    int ob = 0, oy = 0;
    uint64_t *hb = malloc((C ? C : 1) * 8);
    if (!hb) return SPIN_ERR_NOMEM;
    rc = spin_mpc_tensor_dense(b, &db, &ob);
    if (!rc) rc = spin_mpc_tensor_dense(y, &dy, &oy);
    if (!rc) rc = spin_mpc_tensor_new_like(ctx, y->ndim, y->shape, &r);
    if (!rc) rc = ctx->compute->copy_d2h(ctx->compute_state, hb, spin_mpc_tensor_data(db), C * 8, NULL);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    const uint64_t *src = rc ? NULL : spin_mpc_tensor_data(dy);
    uint64_t *dst = rc ? NULL : spin_mpc_tensor_data(r);
    if (!rc && inner == 1) {
        /* rows of C: add the bias vector row by row */
        for (size_t o = 0; o < outer && !rc; o++)
            rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_ADD, dst + o * C, src + o * C, spin_mpc_tensor_data(db), C, NULL);
    } else {
        for (size_t o = 0; o < outer && !rc; o++)
            for (size_t c = 0; c < C && !rc; c++) {
                size_t off = (o * C + c) * inner;
                rc = ctx->compute->ring_scalar(ctx->compute_state, SPIN_RING_ADD_S, dst + off, src + off, hb[c], inner, NULL);
            }
    }
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    free(hb);
    if (ob) spin_tensor_free(db);
    if (oy) spin_tensor_free(dy);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int spin_linear(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w, const spin_tensor_t *b,
                spin_tensor_t **y)
{
    int rc = spin_mpc_check_party(ctx, "linear");
    if (rc) return rc;
    if (x->ndim != 2 || w->ndim != 2 || x->shape[1] != w->shape[1]) {
        MPC_ERR(ctx, "linear: x must be [batch, in] and w [out, in] with the same in");
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *z;
    rc = spin_matmul(ctx, x, 0, w, 1, &z);
    if (rc || !b) {
        if (!rc) *y = z;
        return rc;
    }
    rc = spin_add_bias(ctx, z, b, 1, y);
    spin_tensor_free(z);
    return rc;
}

int spin_linear_static(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_static_t *w, const spin_tensor_t *b,
                       spin_tensor_t **y)
{
    int rc = spin_mpc_check_party(ctx, "linear_static");
    if (rc) return rc;
    const size_t *ws = spin_static_shape(w);
    if (!x || !ws || x->ndim != 2 || x->shape[1] != ws[1]) {
        MPC_ERR(ctx, "linear_static: x must be [batch, in] and w a static [out, in] with the same in");
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *z;
    rc = spin_matmul_static(ctx, x, 0, w, 1, &z);
    if (rc || !b) {
        if (!rc) *y = z;
        return rc;
    }
    rc = spin_add_bias(ctx, z, b, 1, y);
    spin_tensor_free(z);
    return rc;
}

int spin_linear_backward(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w, const spin_tensor_t *dy,
                         spin_tensor_t **dx, spin_tensor_t **dw, spin_tensor_t **db)
{
    int rc = spin_mpc_check_party(ctx, "linear_backward");
    if (rc) return rc;
    if (x->ndim != 2 || w->ndim != 2 || dy->ndim != 2 || dy->shape[0] != x->shape[0] ||
        dy->shape[1] != w->shape[0] || x->shape[1] != w->shape[1]) {
        MPC_ERR(ctx, "linear_backward: shapes of x, w and dy do not match a Linear layer");
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *gx = NULL, *gw = NULL, *gb = NULL;
    if (dx) rc = spin_matmul(ctx, dy, 0, w, 0, &gx);
    if (!rc && dw) rc = spin_matmul(ctx, dy, 1, x, 0, &gw);
    if (!rc && db) rc = spin_sum(ctx, dy, 0, &gb);
    if (rc) {
        spin_tensor_free(gx);
        spin_tensor_free(gw);
        spin_tensor_free(gb);
        return rc;
    }
    if (dx) *dx = gx;
    if (dw) *dw = gw;
    if (db) *db = gb;
    return 0;
}

int spin_conv2d_bias(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w, const spin_tensor_t *b,
                     const spin_conv2d_params_t *p, spin_tensor_t **y)
{
    spin_tensor_t *z;
    int rc = spin_conv2d(ctx, x, w, p, &z);
    if (rc || !b) {
        if (!rc) *y = z;
        return rc;
    }
    rc = spin_add_bias(ctx, z, b, 1, y);
    spin_tensor_free(z);
    return rc;
}

int spin_conv2d_backward(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w, const spin_tensor_t *dy,
                         const spin_conv2d_params_t *p, spin_tensor_t **dx, spin_tensor_t **dw, spin_tensor_t **db)
{
    int rc = spin_mpc_check_party(ctx, "conv2d_backward");
    if (rc) return rc;
    if (x->ndim != 4 || w->ndim != 4 || dy->ndim != 4) {
        MPC_ERR(ctx, "conv2d_backward: x, w and dy must be 4-d");
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *gx = NULL, *gw = NULL, *gb = NULL, *s0 = NULL, *v = NULL;
    if (dx) rc = spin_conv2d_grad_input(ctx, dy, w, x->shape, p, &gx);
    if (!rc && dw) rc = spin_conv2d_grad_weight(ctx, x, dy, w->shape, p, &gw);
    if (!rc && db) {
        /* sum over n, then over h*w */
        size_t s2[2] = {dy->shape[1], dy->shape[2] * dy->shape[3]};
        rc = spin_sum(ctx, dy, 0, &s0);
        if (!rc) rc = spin_tensor_reshape(s0, 2, s2, &v);
        if (!rc) rc = spin_sum(ctx, v, 1, &gb);
    }
    spin_tensor_free(s0);
    spin_tensor_free(v);
    if (rc) {
        spin_tensor_free(gx);
        spin_tensor_free(gw);
        spin_tensor_free(gb);
        return rc;
    }
    if (dx) *dx = gx;
    if (dw) *dw = gw;
    if (db) *db = gb;
    return 0;
}

int spin_softmax_xent(spin_ctx_t *ctx, const spin_tensor_t *logits, const spin_tensor_t *onehot,
                      spin_tensor_t **grad, spin_tensor_t **loss, spin_tensor_t **probs)
{
    int rc = spin_mpc_check_party(ctx, "softmax_xent");
    if (rc) return rc;
    if (logits->ndim != 2 || onehot->ndim != 2 || logits->shape[0] != onehot->shape[0] ||
        logits->shape[1] != onehot->shape[1]) {
        MPC_ERR(ctx, "softmax_xent: logits and one-hot targets must both be [batch, classes]");
        return SPIN_ERR_INVAL;
    }
    size_t B = logits->shape[0];
    spin_tensor_t *p = NULL, *d = NULL, *ls = NULL, *pr = NULL, *s = NULL, *t = NULL;
    rc = spin_softmax(ctx, logits, 1, &p);
    if (!rc) rc = spin_sub(ctx, p, onehot, &d);
    if (!rc) rc = spin_scale(ctx, d, 1.0 / (double)B, grad);
    if (!rc && loss) {
        /* -(1/B) sum onehot * log_softmax: the one-hot is 0/1, so the
         * product is exact up to one truncation */
        size_t one = 1;
        rc = spin_log_softmax(ctx, logits, 1, &ls);
        if (!rc) rc = spin_mul(ctx, ls, onehot, &pr);
        size_t flat = rc ? 0 : spin_tensor_numel(pr);
        if (!rc) rc = spin_tensor_reshape(pr, 1, &flat, &t);
        if (!rc) rc = spin_sum(ctx, t, 0, &s);
        spin_tensor_t *s1 = NULL;
        if (!rc) rc = spin_tensor_reshape(s, 1, &one, &s1);
        if (!rc) rc = spin_scale(ctx, s1, -1.0 / (double)B, loss);
        spin_tensor_free(s1);
    }
    spin_tensor_free(d);
    spin_tensor_free(ls);
    spin_tensor_free(pr);
    spin_tensor_free(s);
    spin_tensor_free(t);
    if (!rc && probs) *probs = p;
    else spin_tensor_free(p);
    return rc;
}

int spin_sgd_step(spin_ctx_t *ctx, spin_tensor_t *const *params, spin_tensor_t *const *grads,
                  spin_tensor_t *const *vels, int count, double lr, double momentum, double weight_decay)
{
    int rc = spin_mpc_check_party(ctx, "sgd_step");
    if (rc) return rc;
    if (count < 0 || (count && (!params || !grads || !vels))) return SPIN_ERR_INVAL;
    size_t total = 0;
    for (int i = 0; i < count; i++) {
        size_t n = spin_tensor_numel(params[i]);
        if (spin_tensor_numel(grads[i]) != n || spin_tensor_numel(vels[i]) != n ||
            !spin_mpc_tensor_is_contiguous(params[i]) || !spin_mpc_tensor_is_contiguous(vels[i])) {
            MPC_ERR(ctx, "sgd_step: parameter %d: gradient and velocity must have its size, and the "
                         "parameter and velocity must be contiguous tensors", i);
            return SPIN_ERR_INVAL;
        }
        total += n;
    }
    if (!total) return 0;
    double cs[3] = {lr, momentum, weight_decay};
    uint64_t enc[3];
    if (lr < 0 || momentum < 0 || weight_decay < 0 || spin_fixed_encode(ctx->frac_bits, cs, enc, 3)) {
        MPC_ERR(ctx, "sgd_step: lr, momentum and weight decay must be non-negative fixed-point values");
        return SPIN_ERR_RANGE;
    }
    const spin_compute_ops_t *o = ctx->compute;
    uint64_t *buf = NULL, *t = NULL;
    rc = spin_mpc_buf_alloc(ctx, total, &buf);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, total, &t);
    /* round 1: buf = trunc(m v + wd w) */
    size_t off = 0;
    for (int i = 0; i < count && !rc; i++) {
        size_t n = spin_tensor_numel(params[i]);
        rc = o->ring_scalar(ctx->compute_state, SPIN_RING_MUL_S, buf + off, spin_mpc_tensor_data(vels[i]), enc[1], n, NULL);
        if (!rc) rc = o->ring_scalar(ctx->compute_state, SPIN_RING_MUL_S, t + off, spin_mpc_tensor_data(params[i]), enc[2], n, NULL);
        off += n;
    }
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_ADD, buf, buf, t, total, NULL);
    if (!rc) rc = spin_mpc_trunc_words(ctx, buf, total, ctx->frac_bits);
    /* v = buf + dw (exact); buf = lr v at scale 2^2f */
    off = 0;
    for (int i = 0; i < count && !rc; i++) {
        size_t n = spin_tensor_numel(params[i]);
        spin_tensor_t *g;
        int og;
        rc = spin_mpc_tensor_dense(grads[i], &g, &og);
        if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_ADD, spin_mpc_tensor_data(vels[i]), buf + off, spin_mpc_tensor_data(g), n, NULL);
        if (!rc) rc = o->ring_scalar(ctx->compute_state, SPIN_RING_MUL_S, buf + off, spin_mpc_tensor_data(vels[i]), enc[0], n, NULL);
        if (og) spin_tensor_free(g);
        off += n;
    }
    /* round 2: w -= trunc(lr v) */
    if (!rc) rc = spin_mpc_trunc_words(ctx, buf, total, ctx->frac_bits);
    off = 0;
    for (int i = 0; i < count && !rc; i++) {
        size_t n = spin_tensor_numel(params[i]);
        rc = o->ring_binary(ctx->compute_state, SPIN_RING_SUB, spin_mpc_tensor_data(params[i]), spin_mpc_tensor_data(params[i]), buf + off, n, NULL);
        off += n;
    }
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
    spin_mpc_buf_release(ctx, buf);
    spin_mpc_buf_release(ctx, t);
    return rc;
}

int spin_conv2d_maxpool(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w, const spin_tensor_t *b,
                        const spin_conv2d_params_t *cp, const spin_pool2d_params_t *pp, spin_tensor_t **y,
                        spin_tensor_t **mask)
{
    int rc = spin_mpc_check_party(ctx, "conv2d_maxpool");
    if (rc) return rc;
    spin_tensor_t *raw = NULL, *bb = NULL, *rb = NULL, *pooled = NULL, *m = NULL;
    rc = spin_mpc_conv2d_raw(ctx, x, w, cp, &raw);
    /* the bias at the product's scale 2^2f: shares times 2^f, exact */
    if (!rc && b) rc = spin_mul_int(ctx, b, (int64_t)1 << ctx->frac_bits, &bb);
    if (!rc && b) rc = spin_add_bias(ctx, raw, bb, 1, &rb);
    if (!rc) rc = spin_maxpool2d(ctx, b ? rb : raw, pp, &pooled, mask ? &m : NULL);
    if (!rc) rc = spin_mpc_trunc_words(ctx, spin_mpc_tensor_data(pooled), spin_tensor_numel(pooled), ctx->frac_bits);
    spin_tensor_free(raw);
    spin_tensor_free(bb);
    spin_tensor_free(rb);
    if (rc) {
        spin_tensor_free(pooled);
        spin_tensor_free(m);
        return rc;
    }
    *y = pooled;
    if (mask) *mask = m;
    return 0;
}

int spin_relu_forward(spin_ctx_t *ctx, const spin_tensor_t *x, spin_tensor_t **y, spin_tensor_t **mask)
{
    int rc = spin_mpc_check_party(ctx, "relu_forward");
    if (rc) return rc;
    size_t n = spin_tensor_numel(x);
    spin_tensor_t *d = NULL, *r = NULL, *m = NULL;
    int od = 0;
    rc = spin_mpc_tensor_dense(x, &d, &od);
    if (!rc) rc = spin_mpc_tensor_new_like(ctx, x->ndim, x->shape, &r);
    if (!rc) rc = spin_mpc_tensor_new_like(ctx, x->ndim, x->shape, &m);
    if (!rc) rc = spin_mpc_cmp_words(ctx, spin_mpc_tensor_data(d), n, 0, spin_mpc_tensor_data(m), spin_mpc_tensor_data(d),
                                 spin_mpc_tensor_data(r));
    if (od) spin_tensor_free(d);
    if (rc) {
        spin_tensor_free(r);
        spin_tensor_free(m);
        return rc;
    }
    *y = r;
    if (mask) *mask = m;
    else spin_tensor_free(m);
    return 0;
}

int spin_relu_backward(spin_ctx_t *ctx, const spin_tensor_t *mask, const spin_tensor_t *dy, spin_tensor_t **dx)
{
    int rc = spin_mpc_check_party(ctx, "relu_backward");
    if (rc) return rc;
    size_t n = spin_tensor_numel(dy);
    if (spin_tensor_numel(mask) != n) {
        MPC_ERR(ctx, "relu_backward: the mask has %zu values, dy %zu", spin_tensor_numel(mask), n);
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *dm = NULL, *dd = NULL, *r = NULL;
    int om = 0, odd = 0;
    rc = spin_mpc_tensor_dense(mask, &dm, &om);
    if (!rc) rc = spin_mpc_tensor_dense(dy, &dd, &odd);
    if (!rc) rc = spin_mpc_tensor_new_like(ctx, dy->ndim, dy->shape, &r);
    if (!rc) rc = spin_mpc_mul_words(ctx, spin_mpc_tensor_data(dm), spin_mpc_tensor_data(dd), n, spin_mpc_tensor_data(r));
    if (om) spin_tensor_free(dm);
    if (odd) spin_tensor_free(dd);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *dx = r;
    return 0;
}
