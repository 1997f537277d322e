/* compare.c - sign, DReLU, ReLU, comparisons and select over arithmetic
 * shares, from one masked opening and the boolean borrow circuit.
 *
 * For n values x (shares over Z_2^64):
 *   round 1      open c = x + r with an edaBit r (and, for a product with a
 *                value v, d = v - a with the daBit's mask a, in the same
 *                message);
 *   rounds 2..6  the borrow circuit on the bits of c and r (boolean.c):
 *                XOR shares of msb(x); DReLU flips it on party 0;
 *   round 7      bit to arithmetic with a daBit (rho as XOR and arithmetic
 *                shares): open e = b ^ rho (one bit per value), then
 *                    [b]   = e + [rho] (1 - 2e)
 *                    [b v] = e [v] + (1 - 2e) [rho v],
 *                    [rho v] = [rho] d + [a rho]   (d = v - a public).
 * Everything opened is uniformly random whatever x is: c (r uniform), d
 * (a uniform), e (rho a uniform bit).  The sign is exact for every x in the
 * ring (msb of the full 64-bit word); as a fixed-point comparison x < y it
 * is exact while |x - y| < 2^63.
 *
 * The three dealer requests (edaBit, AND triples of the circuit, daBit) go
 * out before the first opening, so the dealer prepares them while the
 * parties work; party 0 receives their corrections in that order.
 */
#include "config.h"
#include "mpc/mpc_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cmp_plan {
    size_t n, W;
    uint64_t ne, nd;        /* edaBit and daBit request nonces */
    int prod;               /* a product b * v is wanted */
    spin_and_req_t tr;
} cmp_plan_t;

static int cmp_request(spin_ctx_t *ctx, size_t n, int prod, cmp_plan_t *pl)
{
    memset(pl, 0, sizeof *pl);
    pl->n = n;
    pl->W = SPIN_BITS_W(n);
    pl->prod = prod;
    int rc = spin_mpc_edabit_request(ctx, n, &pl->ne);
    if (!rc) rc = spin_mpc_cmp_and_request(ctx, pl->W, &pl->tr);
    if (!rc) rc = spin_mpc_dabit_request(ctx, n, prod, &pl->nd);
    return rc;
}

int spin_mpc_cmp_words(spin_ctx_t *ctx, const uint64_t *x, size_t n, int ltz, uint64_t *b, const uint64_t *v,
                   uint64_t *bv)
{
    if (!n) return 0;
    if (bv && !v) return SPIN_ERR_INVAL;
    const spin_compute_ops_t *o = ctx->compute;
    int p0 = ctx->party == 0, prod = bv != NULL;
    cmp_plan_t pl;
    int rc = cmp_request(ctx, n, prod, &pl);
    if (rc) return rc;
    size_t W = pl.W, no = prod ? 2 * n : n;
    uint64_t *cd = NULL, *rb = NULL, *bits = NULL, *rho = NULL, *ra = NULL, *e = NULL, *t = NULL, *s = NULL;
    rc = spin_mpc_buf_alloc(ctx, no, &cd);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, 96 * W, &rb);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, W, &bits);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, W, &rho);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, prod ? 2 * n : n, &ra);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &e);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &t);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &s);
    if (rc) goto done;
    /* round 1: c = x + r, d = v - a */
    rc = spin_mpc_dealer_stream(ctx, pl.ne, 0, cd, n);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_ADD, cd, cd, x, n, NULL);
    if (!rc && prod) rc = spin_mpc_dealer_stream(ctx, pl.nd, W + n, cd + n, n);
    if (!rc && prod) rc = o->ring_binary(ctx->compute_state, SPIN_RING_SUB, cd + n, v, cd + n, n, NULL);
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
    spin_opening_t op;
    if (!rc) rc = spin_mpc_open_start(ctx, TAG_CMP_MASK, cd, no, -1, &op);
    if (rc) goto done;
    if (p0) rc = spin_mpc_dealer_receive(ctx, rb, 96 * W);
    else rc = spin_mpc_dealer_stream(ctx, pl.ne, n, rb, 96 * W);
    int rc2 = spin_mpc_open_finish(&op);
    if (!rc) rc = rc2;
    /* rounds 2..6: XOR shares of msb(x); DReLU = NOT msb */
    if (!rc) rc = spin_mpc_bool_msb(ctx, cd, n, rb, &pl.tr, bits);
    if (!rc && !ltz && p0) rc = o->ring_unary(ctx->compute_state, SPIN_RING_NOT, bits, bits, W, NULL);
    /* round 7: e = bits ^ rho */
    if (!rc) rc = spin_mpc_dealer_stream(ctx, pl.nd, 0, rho, W);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, bits, bits, rho, W, NULL);
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
    if (!rc) rc = spin_mpc_open_start(ctx, TAG_CMP_B2A, bits, W, -1, &op);
    if (rc) goto done;
    /* my arithmetic rho (and a rho) while e travels */
    if (p0) {
        rc = spin_mpc_dealer_receive(ctx, ra, prod ? 2 * n : n);
    } else {
        rc = spin_mpc_dealer_stream(ctx, pl.nd, W, ra, n);
        if (!rc && prod) rc = spin_mpc_dealer_stream(ctx, pl.nd, W + 2 * n, ra + n, n);
    }
    rc2 = spin_mpc_open_xor_finish(&op);
    if (!rc) rc = rc2;
    if (!rc) rc = spin_mpc_bits_unpack(ctx, bits, n, e);
    /* t = 1 - 2e (public) */
    if (!rc) rc = o->ring_scalar(ctx->compute_state, SPIN_RING_MUL_S, t, e, 2, n, NULL);
    if (!rc) rc = o->ring_scalar(ctx->compute_state, SPIN_RING_RSUB_S, t, t, 1, n, NULL);
    if (!rc && b) {
        rc = o->ring_binary(ctx->compute_state, SPIN_RING_MUL, s, ra, t, n, NULL);
        if (!rc && p0) rc = o->ring_binary(ctx->compute_state, SPIN_RING_ADD, s, s, e, n, NULL);
        if (!rc) rc = o->copy_d2d(ctx->compute_state, b, s, n * 8, NULL);
    }
    if (!rc && prod) {
        /* rho v = rho d + a rho;  b v = e v + t (rho v) */
        rc = o->ring_binary(ctx->compute_state, SPIN_RING_MUL, s, ra, cd + n, n, NULL);
        if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_ADD, s, s, ra + n, n, NULL);
        if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_MUL, s, s, t, n, NULL);
        if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_MUL, t, e, v, n, NULL);
        if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_ADD, bv, s, t, n, NULL);
    }
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
done:
    spin_mpc_and_release(ctx, &pl.tr);
    spin_mpc_buf_release(ctx, cd);
    spin_mpc_buf_release(ctx, rb);
    spin_mpc_buf_release(ctx, bits);
    spin_mpc_buf_release(ctx, rho);
    spin_mpc_buf_release(ctx, ra);
    spin_mpc_buf_release(ctx, e);
    spin_mpc_buf_release(ctx, t);
    spin_mpc_buf_release(ctx, s);
    return rc;
}

/* ---- public API ------------------------------------------------------------ */

static int same_shape(const spin_tensor_t *a, const spin_tensor_t *b)
{
    return a->ndim == b->ndim && !memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof(size_t));
}

/* Integer 0/1 shares (n words) to fixed-point 0/1 in place. */
static int bits_to_fixed(spin_ctx_t *ctx, uint64_t *b, size_t n)
{
    return ctx->compute->ring_scalar(ctx->compute_state, SPIN_RING_SHL_S, b, b, ctx->frac_bits, n, NULL);
}

/* sign-type result of x (a new tensor of a's shape). */
static int sign_op(spin_ctx_t *ctx, const spin_tensor_t *a, int ltz, const char *what, spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, what);
    if (rc) return rc;
    spin_tensor_t *r = NULL;
    uint64_t *x = NULL;
    size_t n = spin_tensor_numel(a);
    rc = spin_mpc_tensor_new_like(ctx, a->ndim, a->shape, &r);
    if (!rc) rc = spin_mpc_dense_words(ctx, a, &x);
    if (!rc) rc = spin_mpc_cmp_words(ctx, x, n, ltz, spin_mpc_tensor_data(r), NULL, NULL);
    if (!rc) rc = bits_to_fixed(ctx, spin_mpc_tensor_data(r), n);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    spin_mpc_buf_release(ctx, x);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int spin_ltz(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    return sign_op(ctx, a, 1, "ltz", out);
}

int spin_drelu(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    return sign_op(ctx, a, 0, "drelu", out);
}

/* ReLU and its mask: fixed point (spin_relu) or integer 0/1 (int_mask). */
static int relu_any(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out, spin_tensor_t **mask,
                    int int_mask, const char *what)
{
    int rc = spin_mpc_check_party(ctx, what);
    if (rc) return rc;
    spin_tensor_t *r = NULL, *m = NULL;
    uint64_t *x = NULL;
    size_t n = spin_tensor_numel(a);
    rc = spin_mpc_tensor_new_like(ctx, a->ndim, a->shape, &r);
    if (!rc && mask) rc = spin_mpc_tensor_new_like(ctx, a->ndim, a->shape, &m);
    if (!rc) rc = spin_mpc_dense_words(ctx, a, &x);
    if (!rc) rc = spin_mpc_cmp_words(ctx, x, n, 0, m ? spin_mpc_tensor_data(m) : NULL, x, spin_mpc_tensor_data(r));
    if (!rc && m && !int_mask) rc = bits_to_fixed(ctx, spin_mpc_tensor_data(m), n);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    spin_mpc_buf_release(ctx, x);
    if (rc) {
        spin_tensor_free(r);
        spin_tensor_free(m);
        return rc;
    }
    *out = r;
    if (mask) *mask = m;
    return 0;
}

int spin_relu(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out, spin_tensor_t **mask)
{
    return relu_any(ctx, a, out, mask, 0, "relu");
}

int spin_relu_int_mask(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out, spin_tensor_t **mask)
{
    return relu_any(ctx, a, out, mask, 1, "relu_int_mask");
}

/* d = a - b as dense words (b a tensor or, when bt is NULL, public values). */
static int diff_words(spin_ctx_t *ctx, const spin_tensor_t *a, const spin_tensor_t *bt, const double *bc,
                      uint64_t **out)
{
    size_t n = spin_tensor_numel(a);
    spin_tensor_t *d = NULL;
    int rc;
    if (bt) {
        rc = spin_sub(ctx, a, bt, &d);
    } else {
        double *neg = malloc(n ? n * sizeof *neg : 1);
        if (!neg) return SPIN_ERR_NOMEM;
        for (size_t i = 0; i < n; i++) neg[i] = -bc[i];
        rc = spin_add_public(ctx, a, neg, &d);
        free(neg);
    }
    if (!rc) rc = spin_mpc_dense_words(ctx, d, out);
    spin_tensor_free(d);
    return rc;
}

static int cmp_any(spin_ctx_t *ctx, spin_cmp_op_t op, const spin_tensor_t *a, const spin_tensor_t *bt,
                   const double *bc, spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "cmp");
    if (rc) return rc;
    if ((bt && !same_shape(a, bt)) || (!bt && !bc)) {
        MPC_ERR(ctx, "cmp: the operands have different shapes (or no public operand was given)");
        return SPIN_ERR_INVAL;
    }
    if (op < SPIN_CMP_LT || op > SPIN_CMP_EQ) {
        MPC_ERR(ctx, "cmp: unknown comparison %d (use SPIN_CMP_LT, _LE, _GT, _GE or _EQ)", (int)op);
        return SPIN_ERR_INVAL;
    }
    const spin_compute_ops_t *o = ctx->compute;
    size_t n = spin_tensor_numel(a);
    spin_tensor_t *r = NULL;
    uint64_t *d = NULL, *x2 = NULL, *b2 = NULL;
    rc = spin_mpc_tensor_new_like(ctx, a->ndim, a->shape, &r);
    if (!rc) rc = diff_words(ctx, a, bt, bc, &d);
    if (rc) goto done;
    uint64_t *res = spin_mpc_tensor_data(r);
    switch (op) {
    case SPIN_CMP_LT: /* a - b < 0 */
        rc = spin_mpc_cmp_words(ctx, d, n, 1, res, NULL, NULL);
        break;
    case SPIN_CMP_GE:
        rc = spin_mpc_cmp_words(ctx, d, n, 0, res, NULL, NULL);
        break;
    case SPIN_CMP_GT: /* b - a < 0 */
    case SPIN_CMP_LE:
        rc = o->ring_unary(ctx->compute_state, SPIN_RING_NEG, d, d, n, NULL);
        if (!rc) rc = spin_mpc_cmp_words(ctx, d, n, op == SPIN_CMP_GT, res, NULL, NULL);
        break;
    case SPIN_CMP_EQ:
        /* 1 - [d < 0] - [-d < 0], both in one circuit */
        rc = spin_mpc_buf_alloc(ctx, 2 * n, &x2);
        if (!rc) rc = spin_mpc_buf_alloc(ctx, 2 * n, &b2);
        if (!rc) rc = o->copy_d2d(ctx->compute_state, x2, d, n * 8, NULL);
        if (!rc) rc = o->ring_unary(ctx->compute_state, SPIN_RING_NEG, x2 + n, d, n, NULL);
        if (!rc) rc = spin_mpc_cmp_words(ctx, x2, 2 * n, 1, b2, NULL, NULL);
        if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_ADD, res, b2, b2 + n, n, NULL);
        if (!rc) rc = o->ring_unary(ctx->compute_state, SPIN_RING_NEG, res, res, n, NULL);
        if (!rc && ctx->party == 0) rc = o->ring_scalar(ctx->compute_state, SPIN_RING_ADD_S, res, res, 1, n, NULL);
        break;
    }
    if (!rc) rc = bits_to_fixed(ctx, res, n);
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
done:
    spin_mpc_buf_release(ctx, d);
    spin_mpc_buf_release(ctx, x2);
    spin_mpc_buf_release(ctx, b2);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int spin_cmp(spin_ctx_t *ctx, spin_cmp_op_t op, const spin_tensor_t *a, const spin_tensor_t *b,
             spin_tensor_t **out)
{
    if (!b) return SPIN_ERR_INVAL;
    return cmp_any(ctx, op, a, b, NULL, out);
}

int spin_cmp_public(spin_ctx_t *ctx, spin_cmp_op_t op, const spin_tensor_t *a, const double *c,
                    spin_tensor_t **out)
{
    if (!c) return SPIN_ERR_INVAL;
    return cmp_any(ctx, op, a, NULL, c, out);
}

int spin_select(spin_ctx_t *ctx, const spin_tensor_t *b, const spin_tensor_t *x, const spin_tensor_t *y,
                spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "select");
    if (rc) return rc;
    if (!same_shape(b, x) || !same_shape(x, y)) {
        MPC_ERR(ctx, "select: the condition and both operands must have the same shape");
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *d = NULL, *p = NULL;
    rc = spin_sub(ctx, x, y, &d);
    if (!rc) rc = spin_mul(ctx, b, d, &p);
    if (!rc) rc = spin_add(ctx, y, p, out);
    spin_tensor_free(d);
    spin_tensor_free(p);
    return rc;
}

/* ---- SPIN_CHECK_RANGES: is a truncation's input inside |x| < 2^62? ---------- */

int spin_mpc_range_check(spin_ctx_t *ctx, const uint64_t *x, size_t n, const char *what)
{
    if (!ctx->check_ranges || !n) return 0;
    const spin_compute_ops_t *o = ctx->compute;
    void *st = ctx->compute_state;
    uint64_t k = ++ctx->range_checks;
    uint64_t *y = NULL, *b = NULL, *h = NULL;
    int rc = spin_mpc_buf_alloc(ctx, 2 * n, &y);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, 2 * n, &b);
    /* y = [x + 2^62, (2^62 - 1) - x]: both >= 0 exactly when -2^62 <= x < 2^62 */
    if (!rc) rc = o->copy_d2d(st, y, x, n * 8, NULL);
    if (!rc) rc = o->ring_unary(st, SPIN_RING_NEG, y + n, x, n, NULL);
    if (!rc && ctx->party == 0) rc = o->ring_scalar(st, SPIN_RING_ADD_S, y, y, UINT64_C(1) << 62, n, NULL);
    if (!rc && ctx->party == 0)
        rc = o->ring_scalar(st, SPIN_RING_ADD_S, y + n, y + n, (UINT64_C(1) << 62) - 1, n, NULL);
    if (!rc) rc = spin_mpc_cmp_words(ctx, y, 2 * n, 1, b, NULL, NULL);
    if (!rc) rc = o->ring_binary(st, SPIN_RING_ADD, b, b, b + n, n, NULL);
    if (!rc) rc = o->stream_sync(st, NULL);
    spin_opening_t op;
    if (!rc) rc = spin_mpc_open_start(ctx, TAG_RANGE_CHECK, b, n, 0, &op);
    if (!rc) rc = spin_mpc_open_finish(&op);
    if (!rc && ctx->party == 0 && !ctx->range_reported) {
        h = malloc(n * sizeof *h);
        if (!h) rc = SPIN_ERR_NOMEM;
        if (!rc) rc = o->copy_d2h(st, h, b, n * 8, NULL);
        if (!rc) rc = o->stream_sync(st, NULL);
        size_t bad = 0, first = n;
        for (size_t i = 0; !rc && i < n; i++)
            if (h[i]) {
                if (first == n) first = i;
                bad++;
            }
        if (!rc && bad) {
            ctx->range_reported = 1;
            spin_log(ctx->log, SPIN_LOG_ERROR,
                     "SPIN_CHECK_RANGES: %s (truncation #%llu): element %zu of %zu (and %zu in all) is outside "
                     "the truncation's range |x| < 2^62: a product beyond |x*y| < 2^(62-2f) = 2^%d, or a sum "
                     "beyond the documented range (docs/PROTOCOLS.md, \"Valid input ranges\"); its result is "
                     "wrong. Later violations are not reported.", what, (unsigned long long)k, first, n, bad,
                     62 - 2 * (int)ctx->frac_bits);
        }
    }
    free(h);
    spin_mpc_buf_release(ctx, y);
    spin_mpc_buf_release(ctx, b);
    return rc;
}
