/* nn.c - neural-network building blocks over the public protocols
 * (spin/nn.h): layers are compositions of spin/mpc.h, spin/functions.h and
 * spin/reduce.h calls (README.md: no protocol internals, no plugin ops).
 *
 * Bias broadcasts are local: every party adds its share of b_c to every
 * element of channel c.  The SGD step batches the truncations of all
 * parameters into one buffer: round 1 truncates momentum v + wd w (both at
 * scale 2^2f), round 2 truncates lr v'.
 */
#include "config.h"
#include "nn/nn_internal.h"

#include <stdlib.h>
#include <string.h>

int nn_check_party(spin_ctx_t *ctx, const char *what)
{
    if (!ctx) return SPIN_ERR_INVAL;
    if (spin_ctx_is_dealer(ctx)) {
        NN_ERR(ctx, "%s: the dealer takes no part in protocols; it runs spin_dealer_serve()", what);
        return SPIN_ERR_INVAL;
    }
    return 0;
}

int nn_view_as(const spin_tensor_t *t, int ndim, const size_t *shape, spin_tensor_t **out)
{
    spin_tensor_t *c;
    int rc = spin_tensor_contiguous(t, &c);
    if (rc) return rc;
    rc = spin_tensor_reshape(c, ndim, shape, out);
    spin_tensor_free(c);
    return rc;
}

int spin_add_bias(spin_ctx_t *ctx, const spin_tensor_t *y, const spin_tensor_t *b, int axis, spin_tensor_t **out)
{
    int rc = nn_check_party(ctx, "add_bias");
    if (rc) return rc;
    int nd = spin_tensor_ndim(y);
    const size_t *ys = spin_tensor_shape(y);
    if (axis < 0) axis += nd;
    if (axis < 0 || axis >= nd || spin_tensor_numel(b) != ys[axis]) {
        NN_ERR(ctx, "add_bias: the bias has %zu values; it needs one per index of axis %d of y",
               spin_tensor_numel(b), axis);
        return SPIN_ERR_INVAL;
    }
    /* b_c spread over y's shape (copies of my shares), then one addition */
    spin_tensor_t *bb = NULL;
    rc = spin_broadcast(ctx, b, nd, ys, axis, &bb);
    if (!rc) rc = spin_add(ctx, y, bb, out);
    spin_tensor_free(bb);
    return rc;
}

int spin_linear(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w, const spin_tensor_t *b,
                spin_tensor_t **y)
{
    int rc = nn_check_party(ctx, "linear");
    if (rc) return rc;
    if (spin_tensor_ndim(x) != 2 || spin_tensor_ndim(w) != 2 || spin_tensor_shape(x)[1] != spin_tensor_shape(w)[1]) {
        NN_ERR(ctx, "linear: x must be [batch, in] and w [out, in] with the same in");
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
    int rc = nn_check_party(ctx, "linear_static");
    if (rc) return rc;
    const size_t *ws = spin_static_shape(w);
    if (!x || !ws || spin_tensor_ndim(x) != 2 || spin_tensor_shape(x)[1] != ws[1]) {
        NN_ERR(ctx, "linear_static: x must be [batch, in] and w a static [out, in] with the same in");
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
    int rc = nn_check_party(ctx, "linear_backward");
    if (rc) return rc;
    const size_t *xs = spin_tensor_shape(x), *ws = spin_tensor_shape(w), *ys = spin_tensor_shape(dy);
    if (spin_tensor_ndim(x) != 2 || spin_tensor_ndim(w) != 2 || spin_tensor_ndim(dy) != 2 || ys[0] != xs[0] ||
        ys[1] != ws[0] || xs[1] != ws[1]) {
        NN_ERR(ctx, "linear_backward: shapes of x, w and dy do not match a Linear layer");
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
    int rc = nn_check_party(ctx, "conv2d_backward");
    if (rc) return rc;
    if (spin_tensor_ndim(x) != 4 || spin_tensor_ndim(w) != 4 || spin_tensor_ndim(dy) != 4) {
        NN_ERR(ctx, "conv2d_backward: x, w and dy must be 4-d");
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *gx = NULL, *gw = NULL, *gb = NULL, *s0 = NULL, *v = NULL;
    const size_t *ys = spin_tensor_shape(dy);
    if (dx) rc = spin_conv2d_grad_input(ctx, dy, w, spin_tensor_shape(x), p, &gx);
    if (!rc && dw) rc = spin_conv2d_grad_weight(ctx, x, dy, spin_tensor_shape(w), p, &gw);
    if (!rc && db) {
        /* sum over n, then over h*w */
        size_t s2[2] = {ys[1], ys[2] * ys[3]};
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
    int rc = nn_check_party(ctx, "softmax_xent");
    if (rc) return rc;
    const size_t *ls0 = spin_tensor_shape(logits), *os0 = spin_tensor_shape(onehot);
    if (spin_tensor_ndim(logits) != 2 || spin_tensor_ndim(onehot) != 2 || ls0[0] != os0[0] || ls0[1] != os0[1]) {
        NN_ERR(ctx, "softmax_xent: logits and one-hot targets must both be [batch, classes]");
        return SPIN_ERR_INVAL;
    }
    size_t B = ls0[0];
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

/* A view of words [off, off + numel(like)) of the flat buf, in like's shape. */
static int flat_part(const spin_tensor_t *buf, size_t off, const spin_tensor_t *like, spin_tensor_t **out)
{
    spin_tensor_t *s;
    int rc = spin_tensor_slice(buf, 0, off, spin_tensor_numel(like), &s);
    if (rc) return rc;
    rc = spin_tensor_reshape(s, spin_tensor_ndim(like), spin_tensor_shape(like), out);
    spin_tensor_free(s);
    return rc;
}

/* dst (a view of the flat buffer, see flat_part) = c * a */
static int put_scaled(spin_ctx_t *ctx, spin_tensor_t *dst, const spin_tensor_t *a, int64_t c)
{
    spin_tensor_t *t;
    int rc = spin_mul_int(ctx, a, c, &t);
    if (!rc) rc = spin_copy(ctx, dst, t);
    spin_tensor_free(t);
    return rc;
}

int spin_sgd_step(spin_ctx_t *ctx, spin_tensor_t *const *params, spin_tensor_t *const *grads,
                  spin_tensor_t *const *vels, int count, double lr, double momentum, double weight_decay)
{
    int rc = nn_check_party(ctx, "sgd_step");
    if (rc) return rc;
    if (count < 0 || (count && (!params || !grads || !vels))) return SPIN_ERR_INVAL;
    size_t total = 0;
    for (int i = 0; i < count; i++) {
        size_t n = spin_tensor_numel(params[i]);
        if (spin_tensor_numel(grads[i]) != n || spin_tensor_numel(vels[i]) != n ||
            !spin_tensor_is_contiguous(params[i]) || !spin_tensor_is_contiguous(vels[i])) {
            NN_ERR(ctx, "sgd_step: parameter %d: gradient and velocity must have its size, and the "
                        "parameter and velocity must be contiguous tensors", i);
            return SPIN_ERR_INVAL;
        }
        total += n;
    }
    if (!total) return 0;
    const unsigned f = spin_ctx_frac_bits(ctx);
    double cs[3] = {lr, momentum, weight_decay};
    uint64_t enc[3];
    if (lr < 0 || momentum < 0 || weight_decay < 0 || spin_fixed_encode(f, cs, enc, 3)) {
        NN_ERR(ctx, "sgd_step: lr, momentum and weight decay must be non-negative fixed-point values");
        return SPIN_ERR_RANGE;
    }
    /* every parameter's words side by side in one flat buffer, so that each
     * round truncates all of them at once */
    spin_tensor_t *buf = NULL, *tr = NULL, *part = NULL, *t = NULL, *g = NULL;
    rc = spin_tensor_zeros(ctx, 1, &total, &buf);
    /* round 1: buf = trunc(m v + wd w) */
    size_t off = 0;
    for (int i = 0; i < count && !rc; i++) {
        rc = flat_part(buf, off, params[i], &part);
        if (!rc) rc = put_scaled(ctx, part, vels[i], (int64_t)enc[1]);
        if (!rc) rc = spin_mul_int(ctx, params[i], (int64_t)enc[2], &t);
        if (!rc) rc = spin_add_inplace(ctx, part, t);
        spin_tensor_free(part);
        spin_tensor_free(t);
        part = t = NULL;
        off += spin_tensor_numel(params[i]);
    }
    if (!rc) rc = spin_trunc(ctx, buf, f, &tr);
    /* v = trunc(...) + dw (exact); buf = lr v at scale 2^2f */
    off = 0;
    for (int i = 0; i < count && !rc; i++) {
        rc = flat_part(tr, off, vels[i], &part);
        if (!rc) rc = spin_copy(ctx, vels[i], part);
        if (!rc) rc = nn_view_as(grads[i], spin_tensor_ndim(vels[i]), spin_tensor_shape(vels[i]), &g);
        if (!rc) rc = spin_add_inplace(ctx, vels[i], g);
        spin_tensor_free(part);
        part = NULL;
        if (!rc) rc = flat_part(buf, off, vels[i], &part);
        if (!rc) rc = put_scaled(ctx, part, vels[i], (int64_t)enc[0]);
        spin_tensor_free(part);
        spin_tensor_free(g);
        part = g = NULL;
        off += spin_tensor_numel(params[i]);
    }
    /* round 2: w -= trunc(lr v) */
    spin_tensor_free(tr);
    tr = NULL;
    if (!rc) rc = spin_trunc(ctx, buf, f, &tr);
    off = 0;
    for (int i = 0; i < count && !rc; i++) {
        rc = flat_part(tr, off, params[i], &part);
        if (!rc) rc = spin_sub_inplace(ctx, params[i], part);
        spin_tensor_free(part);
        part = NULL;
        off += spin_tensor_numel(params[i]);
    }
    spin_tensor_free(buf);
    spin_tensor_free(tr);
    return rc;
}

int spin_conv2d_maxpool(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w, const spin_tensor_t *b,
                        const spin_conv2d_params_t *cp, const spin_pool2d_params_t *pp, spin_tensor_t **y,
                        spin_tensor_t **mask)
{
    int rc = nn_check_party(ctx, "conv2d_maxpool");
    if (rc) return rc;
    spin_tensor_t *raw = NULL, *bb = NULL, *rb = NULL, *pooled = NULL, *m = NULL;
    rc = spin_conv2d_raw(ctx, x, w, cp, &raw);
    /* the bias at the product's scale 2^2f: shares times 2^f, exact */
    if (!rc && b) rc = spin_mul_int(ctx, b, (int64_t)1 << spin_ctx_frac_bits(ctx), &bb);
    if (!rc && b) rc = spin_add_bias(ctx, raw, bb, 1, &rb);
    if (!rc) rc = spin_maxpool2d(ctx, b ? rb : raw, pp, &pooled, mask ? &m : NULL);
    /* truncate the pooled values only (nothing to do for none) */
    spin_tensor_t *r = NULL;
    if (!rc && spin_tensor_numel(pooled)) rc = spin_trunc(ctx, pooled, spin_ctx_frac_bits(ctx), &r);
    if (!rc && !r) {
        r = pooled;
        pooled = NULL;
    }
    spin_tensor_free(raw);
    spin_tensor_free(bb);
    spin_tensor_free(rb);
    spin_tensor_free(pooled);
    if (rc) {
        spin_tensor_free(r);
        spin_tensor_free(m);
        return rc;
    }
    *y = r;
    if (mask) *mask = m;
    return 0;
}

int spin_relu_forward(spin_ctx_t *ctx, const spin_tensor_t *x, spin_tensor_t **y, spin_tensor_t **mask)
{
    int rc = nn_check_party(ctx, "relu_forward");
    if (rc) return rc;
    spin_tensor_t *m = NULL;
    rc = spin_relu_int_mask(ctx, x, y, &m);
    if (rc) return rc;
    if (mask) *mask = m;
    else spin_tensor_free(m);
    return 0;
}

int spin_relu_backward(spin_ctx_t *ctx, const spin_tensor_t *mask, const spin_tensor_t *dy, spin_tensor_t **dx)
{
    int rc = nn_check_party(ctx, "relu_backward");
    if (rc) return rc;
    size_t n = spin_tensor_numel(dy);
    if (spin_tensor_numel(mask) != n) {
        NN_ERR(ctx, "relu_backward: the mask has %zu values, dy %zu", spin_tensor_numel(mask), n);
        return SPIN_ERR_INVAL;
    }
    /* integer 0/1 mask times dy: exact, one round, no truncation */
    spin_tensor_t *m = NULL;
    rc = nn_view_as(mask, spin_tensor_ndim(dy), spin_tensor_shape(dy), &m);
    if (!rc) rc = spin_mul_raw(ctx, m, dy, dx);
    spin_tensor_free(m);
    return rc;
}
