/* beaver.c - products (Beaver triples for any bilinear map) and truncation.
 *
 * Bilinear product Z = L(X, Y) (element-wise mul, matmul, the three
 * convolutions): with a dealer triple (A, B, C = L(A, B)) open E = X - A and
 * F = Y - B in one message per peer, then
 *     Z_i = C_i + L(E, B_i + [i = 0] F) + L(A_i, F)
 * (two local evaluations of L).  Square: open E only,
 *     Z_i = C_i + E * (2 A_i + [i = 0] E).
 * The masks are opened on the un-expanded operands: a convolution opens x
 * and w, never an im2col copy.
 *
 * Truncation by d bits, any N (at most 1 ulp error for |x| < 2^62):
 * shift x' = x + 2^62 into [0, 2^63); open c = x' + r with a dealer r
 * uniform in Z_2^64.  x' + r wraps iff msb(r) = 1 and msb(c) = 0, so
 *     x' >> d = (c >> d) - (r >> d) + 2^(64-d) (1 - msb(c)) msb(r) - b,
 * b in {0, 1} the borrow of the low bits, which is dropped (the 1 ulp).
 * The dealer supplies shares of r, r >> d and msb(r); then subtract
 * 2^(62-d).  c is uniform whatever x is: nothing about x is revealed.
 */
#include "config.h"
#include "mpc/mpc_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- generic bilinear Beaver product ------------------------------------ */

/* Ask the dealer for a triple for L (party 0 sends; everyone counts). */
static int beaver_request(spin_ctx_t *ctx, bilinear_t *L, uint64_t *nonce)
{
    spin_mpc_bilinear_sizes(L);
    dealer_req_t rq;
    spin_mpc_bilinear_to_req(L, &rq);
    rq.nonce = *nonce = ctx->req_nonce++;
    return spin_mpc_dealer_request(ctx, &rq);
}

static int beaver(spin_ctx_t *ctx, const bilinear_t *L, uint64_t nonce, const uint64_t *x,
                  const uint64_t *y, uint64_t *z)
{
    const spin_compute_ops_t *o = ctx->compute;
    int rc;
    size_t na = L->na, nb = L->nb, nc = L->nc;
    uint64_t *ef = NULL, *a = NULL, *b = NULL;
    rc = spin_mpc_buf_alloc(ctx, na + nb, &ef);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, na, &a);
    if (!rc && nb) rc = spin_mpc_buf_alloc(ctx, nb, &b);
    if (!rc) rc = spin_mpc_dealer_stream(ctx, nonce, 0, a, na);
    if (!rc && nb) rc = spin_mpc_dealer_stream(ctx, nonce, na, b, nb);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_SUB, ef, x, a, na, NULL);
    if (!rc && nb) rc = o->ring_binary(ctx->compute_state, SPIN_RING_SUB, ef + na, y, b, nb, NULL);
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
    spin_opening_t op;
    if (!rc) rc = spin_mpc_open_start(ctx, TAG_BEAVER | (uint32_t)L->kind, ef, na + nb, -1, &op);
    if (rc) goto done;
    /* While the masked operands travel: my share of C. */
    if (ctx->party == 0) rc = spin_mpc_dealer_receive(ctx, z, nc);
    else rc = spin_mpc_dealer_stream(ctx, nonce, na + nb, z, nc);
    int rc2 = spin_mpc_open_finish(&op);
    if (!rc) rc = rc2;
    if (rc) goto done;
    const uint64_t *e = ef, *f = ef + na;
    if (L->kind == REQ_SQUARE) {
        /* b := 2 A_i + [i = 0] E, then Z += E * b */
        rc = spin_mpc_buf_alloc(ctx, na, &b);
        if (!rc) rc = o->ring_scalar(ctx->compute_state, SPIN_RING_MUL_S, b, a, 2, na, NULL);
        if (!rc && ctx->party == 0) rc = o->ring_binary(ctx->compute_state, SPIN_RING_ADD, b, b, e, na, NULL);
        bilinear_t M = *L;
        M.kind = REQ_MUL;
        if (!rc) rc = spin_mpc_bilinear_eval(ctx, &M, z, e, b, 1);
    } else {
        if (ctx->party == 0) rc = o->ring_binary(ctx->compute_state, SPIN_RING_ADD, b, b, f, nb, NULL);
        if (!rc) rc = spin_mpc_bilinear_eval(ctx, L, z, e, b, 1);
        if (!rc) rc = spin_mpc_bilinear_eval(ctx, L, z, a, f, 1);
    }
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
done:
    spin_mpc_buf_release(ctx, ef);
    spin_mpc_buf_release(ctx, a);
    spin_mpc_buf_release(ctx, b);
    return rc;
}

/* ---- truncation ----------------------------------------------------------- */

static int trunc_request(spin_ctx_t *ctx, size_t n, unsigned d, uint64_t *nonce)
{
    dealer_req_t rq;
    memset(&rq, 0, sizeof rq);
    rq.kind = REQ_TRUNC;
    rq.nonce = *nonce = ctx->req_nonce++;
    rq.p[0] = n;
    rq.p[1] = d;
    return spin_mpc_dealer_request(ctx, &rq);
}

/* Truncate n words in place with the pair of request `nonce`. */
static int trunc_run(spin_ctx_t *ctx, uint64_t *x, size_t n, unsigned d, uint64_t nonce)
{
    const spin_compute_ops_t *o = ctx->compute;
    int rc;
    uint64_t *c = NULL, *hm = NULL, *t = NULL;
    rc = spin_mpc_buf_alloc(ctx, n, &c);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, 2 * n, &hm);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &t);
    /* c_i = x_i + r_i (+ 2^62 on party 0) */
    if (!rc) rc = spin_mpc_dealer_stream(ctx, nonce, 0, c, n);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_ADD, c, c, x, n, NULL);
    if (!rc && ctx->party == 0) rc = o->ring_scalar(ctx->compute_state, SPIN_RING_ADD_S, c, c, UINT64_C(1) << 62, n, NULL);
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
    spin_opening_t op;
    if (!rc) rc = spin_mpc_open_start(ctx, TAG_TRUNC, c, n, -1, &op);
    if (rc) goto done;
    if (ctx->party == 0) rc = spin_mpc_dealer_receive(ctx, hm, 2 * n);
    else rc = spin_mpc_dealer_stream(ctx, nonce, n, hm, 2 * n);
    int rc2 = spin_mpc_open_finish(&op);
    if (!rc) rc = rc2;
    if (rc) goto done;
    /* t = (1 - msb(c)) * msb(r)_i << (64 - d) */
    rc = o->ring_scalar(ctx->compute_state, SPIN_RING_SHR_S, t, c, 63, n, NULL);
    if (!rc) rc = o->ring_scalar(ctx->compute_state, SPIN_RING_RSUB_S, t, t, 1, n, NULL);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_MUL, t, t, hm + n, n, NULL);
    if (!rc) rc = o->ring_scalar(ctx->compute_state, SPIN_RING_SHL_S, t, t, 64 - d, n, NULL);
    /* x_i = t - (r >> d)_i  (+ (c >> d) - 2^(62-d) on party 0) */
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_SUB, x, t, hm, n, NULL);
    if (!rc && ctx->party == 0) {
        rc = o->ring_scalar(ctx->compute_state, SPIN_RING_SHR_S, c, c, d, n, NULL);
        if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_ADD, x, x, c, n, NULL);
        if (!rc) rc = o->ring_scalar(ctx->compute_state, SPIN_RING_SUB_S, x, x, UINT64_C(1) << (62 - d), n, NULL);
    }
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
done:
    spin_mpc_buf_release(ctx, c);
    spin_mpc_buf_release(ctx, hm);
    spin_mpc_buf_release(ctx, t);
    return rc;
}

static int trunc_words(spin_ctx_t *ctx, uint64_t *x, size_t n, unsigned d)
{
    uint64_t nonce;
    int rc = spin_mpc_range_check(ctx, x, n, "truncation");
    if (!rc) rc = trunc_request(ctx, n, d, &nonce);
    return rc ? rc : trunc_run(ctx, x, n, d, nonce);
}

int spin_trunc(spin_ctx_t *ctx, const spin_tensor_t *a, unsigned bits, spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "trunc");
    if (rc) return rc;
    if (bits < 1 || bits > 62) {
        MPC_ERR(ctx, "trunc: %u bits; truncate by 1..62", bits);
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *r;
    rc = spin_mpc_tensor_new_like(ctx, a->ndim, a->shape, &r);
    if (rc) return rc;
    spin_tensor_t *d;
    int owned;
    rc = spin_mpc_tensor_dense(a, &d, &owned);
    if (!rc) {
        rc = ctx->compute->copy_d2d(ctx->compute_state, spin_mpc_tensor_data(r), spin_mpc_tensor_data(d), spin_tensor_numel(a) * 8, NULL);
        if (owned) spin_tensor_free(d);
    }
    if (!rc) rc = trunc_words(ctx, spin_mpc_tensor_data(r), spin_tensor_numel(a), bits);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static const char *bilinear_name(req_kind_t k)
{
    switch (k) {
    case REQ_MUL: return "mul";
    case REQ_SQUARE: return "square";
    case REQ_MATMUL: return "matmul";
    case REQ_CONV: return "conv2d";
    case REQ_CONV_DX: return "conv2d_grad_input";
    case REQ_CONV_DW: return "conv2d_grad_weight";
    default: return "product";
    }
}

/* Run a bilinear product of dense operands into a new tensor of shape
 * (ndim, shape), then truncate by f. */
static int product_ex(spin_ctx_t *ctx, bilinear_t *L, const spin_tensor_t *x, const spin_tensor_t *y,
                      int ndim, const size_t *shape, int trunc, spin_tensor_t **out);

static int product(spin_ctx_t *ctx, bilinear_t *L, const spin_tensor_t *x, const spin_tensor_t *y,
                   int ndim, const size_t *shape, spin_tensor_t **out)
{
    return product_ex(ctx, L, x, y, ndim, shape, 1, out);
}

/* trunc = 0: the product stays at scale 2^2f (the caller truncates later,
 * e.g. after max-pooling, on 4x fewer values). */
static int product_ex(spin_ctx_t *ctx, bilinear_t *L, const spin_tensor_t *x, const spin_tensor_t *y,
                      int ndim, const size_t *shape, int trunc, spin_tensor_t **out)
{
    spin_tensor_t *dx = NULL, *dy = NULL, *z = NULL;
    int ox = 0, oy = 0;
    int rc = spin_mpc_tensor_dense(x, &dx, &ox);
    if (!rc && y) rc = spin_mpc_tensor_dense(y, &dy, &oy);
    if (!rc) rc = spin_mpc_tensor_new_like(ctx, ndim, shape, &z);
    /* Both dealer requests go out first, so the dealer prepares the
     * truncation pair while the parties exchange the masked operands. */
    uint64_t nb = 0, nt = 0;
    /* (With SPIN_CHECK_RANGES the truncation is requested after the check,
     * whose own dealer requests must come first.) */
    int early = trunc && !ctx->check_ranges;
    if (!rc) rc = beaver_request(ctx, L, &nb);
    if (!rc && early) rc = trunc_request(ctx, spin_tensor_numel(z), ctx->frac_bits, &nt);
    if (!rc) rc = beaver(ctx, L, nb, spin_mpc_tensor_data(dx), dy ? spin_mpc_tensor_data(dy) : NULL, spin_mpc_tensor_data(z));
    if (!rc && trunc && !early) {
        rc = spin_mpc_range_check(ctx, spin_mpc_tensor_data(z), spin_tensor_numel(z), bilinear_name(L->kind));
        if (!rc) rc = trunc_request(ctx, spin_tensor_numel(z), ctx->frac_bits, &nt);
    }
    if (!rc && trunc) rc = trunc_run(ctx, spin_mpc_tensor_data(z), spin_tensor_numel(z), ctx->frac_bits, nt);
    if (ox) spin_tensor_free(dx);
    if (oy) spin_tensor_free(dy);
    if (rc) {
        spin_tensor_free(z);
        return rc;
    }
    *out = z;
    return 0;
}

int spin_mul(spin_ctx_t *ctx, const spin_tensor_t *a, const spin_tensor_t *b, spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "mul");
    if (rc) return rc;
    if (a->ndim != b->ndim || memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof(size_t))) {
        MPC_ERR(ctx, "mul: operands have different shapes");
        return SPIN_ERR_INVAL;
    }
    bilinear_t L;
    memset(&L, 0, sizeof L);
    L.kind = REQ_MUL;
    L.m = spin_tensor_numel(a);
    return product(ctx, &L, a, b, a->ndim, a->shape, out);
}

int spin_square(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "square");
    if (rc) return rc;
    bilinear_t L;
    memset(&L, 0, sizeof L);
    L.kind = REQ_SQUARE;
    L.m = spin_tensor_numel(a);
    return product(ctx, &L, a, NULL, a->ndim, a->shape, out);
}

int spin_mul_raw(spin_ctx_t *ctx, const spin_tensor_t *a, const spin_tensor_t *b, spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "mul_raw");
    if (rc) return rc;
    if (!a || !b || !out || a->ndim != b->ndim || memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof(size_t))) {
        MPC_ERR(ctx, "mul_raw: operands have different shapes");
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *da = NULL, *db = NULL, *z = NULL;
    int oa = 0, ob = 0;
    rc = spin_mpc_tensor_dense(a, &da, &oa);
    if (!rc) rc = spin_mpc_tensor_dense(b, &db, &ob);
    if (!rc) rc = spin_mpc_tensor_new_like(ctx, a->ndim, a->shape, &z);
    /* no messages for an empty tensor */
    if (!rc)
        rc = spin_mpc_mul_words(ctx, spin_mpc_tensor_data(da), spin_mpc_tensor_data(db), spin_tensor_numel(a),
                                spin_mpc_tensor_data(z));
    if (oa) spin_tensor_free(da);
    if (ob) spin_tensor_free(db);
    if (rc) {
        spin_tensor_free(z);
        return rc;
    }
    *out = z;
    return 0;
}

static int matmul_ex(spin_ctx_t *ctx, const spin_tensor_t *a, int trans_a, const spin_tensor_t *b,
                     int trans_b, int trunc, spin_tensor_t **out);

int spin_matmul(spin_ctx_t *ctx, const spin_tensor_t *a, int trans_a, const spin_tensor_t *b,
                int trans_b, spin_tensor_t **out)
{
    return matmul_ex(ctx, a, trans_a, b, trans_b, 1, out);
}

int spin_matmul_raw(spin_ctx_t *ctx, const spin_tensor_t *a, int trans_a, const spin_tensor_t *b,
                    int trans_b, spin_tensor_t **out)
{
    return matmul_ex(ctx, a, trans_a, b, trans_b, 0, out);
}

static int matmul_ex(spin_ctx_t *ctx, const spin_tensor_t *a, int trans_a, const spin_tensor_t *b,
                     int trans_b, int trunc, spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "matmul");
    if (rc) return rc;
    bilinear_t L;
    size_t shape[3];
    int nd;
    rc = spin_mpc_matmul_geometry(ctx, "matmul", a->ndim, a->shape, trans_a, b->ndim, b->shape, trans_b, &L, shape,
                              &nd);
    if (rc) return rc;
    return product_ex(ctx, &L, a, b, nd, shape, trunc, out);
}

static int conv_setup(spin_ctx_t *ctx, bilinear_t *L, const size_t xs[4], const size_t ws[4],
                      const spin_conv2d_params_t *p, size_t ys[4])
{
    memset(L, 0, sizeof *L);
    if (!p || !p->stride_h || !p->stride_w || ws[1] != xs[1] || xs[2] + 2 * p->pad_h < ws[2] ||
        xs[3] + 2 * p->pad_w < ws[3]) {
        MPC_ERR(ctx, "conv2d: x [%zu,%zu,%zu,%zu] and w [%zu,%zu,%zu,%zu] do not fit (channels, "
                     "kernel larger than the padded input, or a zero stride)",
                xs[0], xs[1], xs[2], xs[3], ws[0], ws[1], ws[2], ws[3]);
        return SPIN_ERR_INVAL;
    }
    L->cn = xs[0]; L->cc = xs[1]; L->ch = xs[2]; L->cw = xs[3];
    L->oc = ws[0]; L->kh = ws[2]; L->kw = ws[3];
    L->sh = p->stride_h; L->sw = p->stride_w; L->ph = p->pad_h; L->pw = p->pad_w;
    ys[0] = xs[0];
    ys[1] = ws[0];
    ys[2] = (xs[2] + 2 * p->pad_h - ws[2]) / p->stride_h + 1;
    ys[3] = (xs[3] + 2 * p->pad_w - ws[3]) / p->stride_w + 1;
    return 0;
}

int spin_conv2d_raw(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w, const spin_conv2d_params_t *p,
                    spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "conv2d");
    if (rc) return rc;
    if (x->ndim != 4 || w->ndim != 4) {
        MPC_ERR(ctx, "conv2d: x and w must be 4-d (NCHW, OIHW)");
        return SPIN_ERR_INVAL;
    }
    bilinear_t L;
    size_t ys[4];
    rc = conv_setup(ctx, &L, x->shape, w->shape, p, ys);
    if (rc) return rc;
    L.kind = REQ_CONV;
    return product_ex(ctx, &L, x, w, 4, ys, 0, out);
}

int spin_conv2d(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w,
                const spin_conv2d_params_t *p, spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "conv2d");
    if (rc) return rc;
    if (x->ndim != 4 || w->ndim != 4) {
        MPC_ERR(ctx, "conv2d: x and w must be 4-d (NCHW, OIHW)");
        return SPIN_ERR_INVAL;
    }
    bilinear_t L;
    size_t ys[4];
    rc = conv_setup(ctx, &L, x->shape, w->shape, p, ys);
    if (rc) return rc;
    L.kind = REQ_CONV;
    return product(ctx, &L, x, w, 4, ys, out);
}

int spin_conv2d_grad_input(spin_ctx_t *ctx, const spin_tensor_t *dy, const spin_tensor_t *w,
                           const size_t x_shape[4], const spin_conv2d_params_t *p, spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "conv2d_grad_input");
    if (rc) return rc;
    bilinear_t L;
    size_t ys[4];
    if (dy->ndim != 4 || w->ndim != 4) return SPIN_ERR_INVAL;
    rc = conv_setup(ctx, &L, x_shape, w->shape, p, ys);
    if (rc) return rc;
    if (memcmp(ys, dy->shape, sizeof ys)) {
        MPC_ERR(ctx, "conv2d_grad_input: dy has the wrong shape for this convolution");
        return SPIN_ERR_INVAL;
    }
    L.kind = REQ_CONV_DX;
    return product(ctx, &L, dy, w, 4, x_shape, out);
}

int spin_conv2d_grad_weight(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *dy,
                            const size_t w_shape[4], const spin_conv2d_params_t *p, spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "conv2d_grad_weight");
    if (rc) return rc;
    bilinear_t L;
    size_t ys[4];
    if (dy->ndim != 4 || x->ndim != 4) return SPIN_ERR_INVAL;
    rc = conv_setup(ctx, &L, x->shape, w_shape, p, ys);
    if (rc) return rc;
    if (memcmp(ys, dy->shape, sizeof ys)) {
        MPC_ERR(ctx, "conv2d_grad_weight: dy has the wrong shape for this convolution");
        return SPIN_ERR_INVAL;
    }
    L.kind = REQ_CONV_DW;
    return product(ctx, &L, x, dy, 4, w_shape, out);
}

int spin_scale(spin_ctx_t *ctx, const spin_tensor_t *a, double c, spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "scale");
    if (rc) return rc;
    uint64_t enc;
    if (spin_fixed_encode(ctx->frac_bits, &c, &enc, 1)) {
        MPC_ERR(ctx, "scale: %g is outside the fixed-point range", c);
        return SPIN_ERR_RANGE;
    }
    spin_tensor_t *m;
    rc = spin_mul_int(ctx, a, (int64_t)enc, &m);
    if (rc) return rc;
    rc = trunc_words(ctx, spin_mpc_tensor_data(m), spin_tensor_numel(m), ctx->frac_bits);
    if (rc) {
        spin_tensor_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* ---- internal word-level helpers for the non-linear protocols ------------- */

int spin_mpc_trunc_request(spin_ctx_t *ctx, size_t n, unsigned d, uint64_t *nonce)
{
    return trunc_request(ctx, n, d, nonce);
}

int spin_mpc_trunc_run(spin_ctx_t *ctx, uint64_t *x, size_t n, unsigned d, uint64_t nonce)
{
    return trunc_run(ctx, x, n, d, nonce);
}

int spin_mpc_trunc_words(spin_ctx_t *ctx, uint64_t *x, size_t n, unsigned d)
{
    return n ? trunc_words(ctx, x, n, d) : 0;
}

int spin_mpc_mul_words(spin_ctx_t *ctx, const uint64_t *x, const uint64_t *y, size_t n, uint64_t *z)
{
    if (!n) return 0;
    bilinear_t L;
    memset(&L, 0, sizeof L);
    L.kind = REQ_MUL;
    L.m = n;
    uint64_t nonce;
    int rc = beaver_request(ctx, &L, &nonce);
    return rc ? rc : beaver(ctx, &L, nonce, x, y, z);
}
