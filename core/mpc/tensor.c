/* tensor.c - secret-shared tensors: plugin memory, storage, views, fixed
 * point, input (no messages: pairwise seeds), share export/import and the
 * local (communication-free) linear operations.  Everything here is local:
 * openings (reveal included) are in open.c, which builds on this file. */
#include "config.h"
#include "mpc/mpc_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- plugin memory ------------------------------------------------------ */

int spin_mpc_buf_alloc(spin_ctx_t *ctx, size_t words, uint64_t **p)
{
    void *v = NULL;
    int rc = ctx->compute->mem_alloc(ctx->compute_state, (words ? words : 1) * sizeof(uint64_t), &v);
    if (rc) {
        MPC_ERR(ctx, "cannot allocate %zu words of %s memory: %s", words, ctx->compute_backend.desc->name,
                spin_strerror(rc));
        return rc;
    }
    *p = v;
    return 0;
}

void spin_mpc_buf_release(spin_ctx_t *ctx, uint64_t *p)
{
    if (p) ctx->compute->mem_free(ctx->compute_state, p);
}

/* Refuse protocol calls on the dealer's context (shared by the protocol
 * files; declared in mpc_internal.h). */
int spin_mpc_check_party(spin_ctx_t *ctx, const char *what)
{
    if (!ctx) return SPIN_ERR_INVAL;
    if (ctx->dealer) {
        MPC_ERR(ctx, "%s: the dealer takes no part in protocols; it runs spin_dealer_serve()", what);
        return SPIN_ERR_INVAL;
    }
    return 0;
}

/* ---- tensors ------------------------------------------------------------ */

static size_t numel_of(int ndim, const size_t *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

static int check_shape(spin_ctx_t *ctx, int ndim, const size_t *shape)
{
    if (ndim < 0 || ndim > SPIN_MAX_DIMS || (ndim && !shape)) {
        MPC_ERR(ctx, "a tensor needs 0..%d dimensions, got %d", SPIN_MAX_DIMS, ndim);
        return SPIN_ERR_INVAL;
    }
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && n > SIZE_MAX / 8 / shape[i]) {
            MPC_ERR(ctx, "tensor shape too large");
            return SPIN_ERR_INVAL;
        }
        n *= shape[i];
    }
    return 0;
}

int spin_mpc_tensor_wrap(spin_ctx_t *ctx, uint64_t *p, int ndim, const size_t *shape, spin_tensor_t **out)
{
    spin_tensor_t *t = calloc(1, sizeof *t);
    spin_buf_t *b = calloc(1, sizeof *b);
    if (!t || !b) {
        free(t);
        free(b);
        return SPIN_ERR_NOMEM;
    }
    b->refs = 1;
    b->ptr = p;
    b->words = numel_of(ndim, shape);
    b->ctx = ctx;
    t->ctx = ctx;
    t->buf = b;
    t->ndim = ndim;
    size_t st = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->strides[i] = st;
        st *= shape[i];
    }
    *out = t;
    return 0;
}

int spin_mpc_tensor_new_like(spin_ctx_t *ctx, int ndim, const size_t *shape, spin_tensor_t **out)
{
    int rc = check_shape(ctx, ndim, shape);
    if (rc) return rc;
    uint64_t *p;
    rc = spin_mpc_buf_alloc(ctx, numel_of(ndim, shape), &p);
    if (rc) return rc;
    rc = spin_mpc_tensor_wrap(ctx, p, ndim, shape, out);
    if (rc) spin_mpc_buf_release(ctx, p);
    return rc;
}

int spin_tensor_zeros(spin_ctx_t *ctx, int ndim, const size_t *shape, spin_tensor_t **out)
{
    spin_tensor_t *t;
    int rc = spin_mpc_tensor_new_like(ctx, ndim, shape, &t);
    if (rc) return rc;
    rc = ctx->compute->mem_zero(ctx->compute_state, t->buf->ptr, numel_of(ndim, shape) * 8, NULL);
    if (rc) {
        spin_tensor_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void spin_tensor_free(spin_tensor_t *t)
{
    if (!t) return;
    if (--t->buf->refs == 0) {
        spin_mpc_buf_release(t->buf->ctx, t->buf->ptr);
        free(t->buf);
    }
    free(t);
}

int spin_tensor_ndim(const spin_tensor_t *t) { return t->ndim; }
const size_t *spin_tensor_shape(const spin_tensor_t *t) { return t->shape; }
size_t spin_tensor_numel(const spin_tensor_t *t) { return numel_of(t->ndim, t->shape); }

int spin_mpc_tensor_is_contiguous(const spin_tensor_t *t)
{
    size_t st = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != st) return 0;
        st *= t->shape[i];
    }
    return 1;
}

uint64_t *spin_mpc_tensor_data(const spin_tensor_t *t)
{
    return t->buf->ptr + t->offset;
}

static int view_of(const spin_tensor_t *t, spin_tensor_t **out)
{
    spin_tensor_t *v = malloc(sizeof *v);
    if (!v) return SPIN_ERR_NOMEM;
    *v = *t;
    v->buf->refs++;
    *out = v;
    return 0;
}

int spin_tensor_reshape(const spin_tensor_t *t, int ndim, const size_t *shape, spin_tensor_t **out)
{
    spin_ctx_t *ctx = t->ctx;
    int rc = check_shape(ctx, ndim, shape);
    if (rc) return rc;
    if (numel_of(ndim, shape) != spin_tensor_numel(t)) {
        MPC_ERR(ctx, "reshape: %zu elements cannot take a shape of %zu", spin_tensor_numel(t),
                numel_of(ndim, shape));
        return SPIN_ERR_INVAL;
    }
    if (!spin_mpc_tensor_is_contiguous(t)) {
        MPC_ERR(ctx, "reshape needs a contiguous tensor: call spin_tensor_contiguous first");
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *v;
    rc = view_of(t, &v);
    if (rc) return rc;
    v->ndim = ndim;
    size_t st = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        v->shape[i] = shape[i];
        v->strides[i] = st;
        st *= shape[i];
    }
    *out = v;
    return 0;
}

int spin_tensor_transpose(const spin_tensor_t *t, int d0, int d1, spin_tensor_t **out)
{
    if (d0 < 0 || d1 < 0 || d0 >= t->ndim || d1 >= t->ndim) {
        MPC_ERR(t->ctx, "transpose: dimensions %d, %d of a %d-d tensor", d0, d1, t->ndim);
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *v;
    int rc = view_of(t, &v);
    if (rc) return rc;
    size_t s = v->shape[d0], st = v->strides[d0];
    v->shape[d0] = v->shape[d1];
    v->strides[d0] = v->strides[d1];
    v->shape[d1] = s;
    v->strides[d1] = st;
    *out = v;
    return 0;
}

int spin_tensor_slice(const spin_tensor_t *t, int dim, size_t start, size_t len, spin_tensor_t **out)
{
    if (dim < 0 || dim >= t->ndim || start > t->shape[dim] || len > t->shape[dim] - start) {
        MPC_ERR(t->ctx, "slice: [%zu, %zu) of dimension %d (size %zu) is out of range", start,
                start + len, dim, dim >= 0 && dim < t->ndim ? t->shape[dim] : 0);
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *v;
    int rc = view_of(t, &v);
    if (rc) return rc;
    v->offset += start * v->strides[dim];
    v->shape[dim] = len;
    *out = v;
    return 0;
}

/* Gather a strided view into contiguous host memory (h). */
static void gather(const spin_tensor_t *t, const uint64_t *base, uint64_t *h)
{
    size_t idx[SPIN_MAX_DIMS] = {0};
    size_t n = spin_tensor_numel(t);
    for (size_t i = 0; i < n; i++) {
        size_t off = 0;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * t->strides[d];
        h[i] = base[off];
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
}

int spin_tensor_contiguous(const spin_tensor_t *t, spin_tensor_t **out)
{
    if (spin_mpc_tensor_is_contiguous(t)) return view_of(t, out);
    spin_ctx_t *ctx = t->ctx;
    spin_tensor_t *r;
    int rc = spin_mpc_tensor_new_like(ctx, t->ndim, t->shape, &r);
    if (rc) return rc;
    size_t n = spin_tensor_numel(t);
    const uint64_t *base = t->buf->ptr + t->offset;
    if (ctx->host_mem) {
        gather(t, base, r->buf->ptr);
    } else {
        /* Device memory: stage the whole buffer through the host. */
        size_t words = t->buf->words - t->offset;
        uint64_t *hb = malloc(words * 8), *hr = malloc((n ? n : 1) * 8);
        rc = hb && hr ? 0 : SPIN_ERR_NOMEM;
        if (!rc) rc = ctx->compute->copy_d2h(ctx->compute_state, hb, base, words * 8, NULL);
        if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
        if (!rc) {
            gather(t, hb, hr);
            rc = ctx->compute->copy_h2d(ctx->compute_state, r->buf->ptr, hr, n * 8, NULL);
        }
        if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
        free(hb);
        free(hr);
        if (rc) {
            spin_tensor_free(r);
            return rc;
        }
    }
    *out = r;
    return 0;
}

int spin_mpc_tensor_dense(const spin_tensor_t *t, spin_tensor_t **dense, int *owned)
{
    if (spin_mpc_tensor_is_contiguous(t)) {
        *dense = (spin_tensor_t *)t;
        *owned = 0;
        return 0;
    }
    *owned = 1;
    return spin_tensor_contiguous(t, dense);
}

int spin_mpc_dense_words(spin_ctx_t *ctx, const spin_tensor_t *t, uint64_t **out)
{
    spin_tensor_t *d;
    int owned;
    size_t n = spin_tensor_numel(t);
    *out = NULL;
    int rc = spin_mpc_tensor_dense(t, &d, &owned);
    if (rc) return rc;
    rc = spin_mpc_buf_alloc(ctx, n, out);
    if (!rc && n) rc = ctx->compute->copy_d2d(ctx->compute_state, *out, spin_mpc_tensor_data(d), n * 8, NULL);
    if (owned) spin_tensor_free(d);
    if (rc) {
        spin_mpc_buf_release(ctx, *out);
        *out = NULL;
    }
    return rc;
}

/* ---- fixed point -------------------------------------------------------- */

int spin_fixed_encode(unsigned f, const double *x, uint64_t *out, size_t n)
{
    double lim = ldexp(1.0, 62 - (int)f);
    for (size_t i = 0; i < n; i++)
        if (!(fabs(x[i]) < lim)) return SPIN_ERR_RANGE;
    double s = ldexp(1.0, (int)f);
    for (size_t i = 0; i < n; i++) out[i] = (uint64_t)(int64_t)llround(x[i] * s);
    return 0;
}

void spin_fixed_decode(unsigned f, const uint64_t *x, double *out, size_t n)
{
    double s = ldexp(1.0, -(int)f);
    for (size_t i = 0; i < n; i++) out[i] = (double)(int64_t)x[i] * s;
}

/* ---- input and shares ---------------------------------------------------- */

int spin_input_ring(spin_ctx_t *ctx, int owner, const uint64_t *x, int ndim, const size_t *shape,
                    spin_tensor_t **out)
{
    if (ctx->dealer || owner < 0 || owner >= ctx->nparties || (ctx->party == owner && !x)) {
        MPC_ERR(ctx, "input: owner %d is not a computing party (0..%d), or the owner passed no data",
                owner, ctx->nparties - 1);
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *t;
    int rc = spin_mpc_tensor_new_like(ctx, ndim, shape, &t);
    if (rc) return rc;
    size_t n = spin_tensor_numel(t);
    uint64_t nonce = ctx->input_nonce++;
    uint64_t *d = t->buf->ptr;
    if (ctx->party != owner) {
        /* My share is the stream I share with the owner. */
        rc = ctx->compute->prg_fill(ctx->compute_state, &ctx->pair_key[owner], nonce, 0, d, n, NULL);
    } else {
        /* Owner: x minus every other party's stream. */
        uint64_t *r = NULL;
        rc = ctx->compute->copy_h2d(ctx->compute_state, d, x, n * 8, NULL);
        if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &r);
        for (int p = 0; p < ctx->nparties && !rc; p++) {
            if (p == owner) continue;
            rc = ctx->compute->prg_fill(ctx->compute_state, &ctx->pair_key[p], nonce, 0, r, n, NULL);
            if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_SUB, d, d, r, n, NULL);
        }
        if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
        spin_mpc_buf_release(ctx, r);
    }
    if (rc) {
        spin_tensor_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int spin_input_f64(spin_ctx_t *ctx, int owner, const double *x, int ndim, const size_t *shape,
                   spin_tensor_t **out)
{
    uint64_t *enc = NULL;
    if (!ctx->dealer && ctx->party == owner) {
        if (!x) return SPIN_ERR_INVAL;
        int rc = check_shape(ctx, ndim, shape);
        if (rc) return rc;
        size_t n = numel_of(ndim, shape);
        enc = malloc((n ? n : 1) * 8);
        if (!enc) return SPIN_ERR_NOMEM;
        if (spin_fixed_encode(ctx->frac_bits, x, enc, n)) {
            MPC_ERR(ctx, "input: a value is outside the fixed-point range |x| < 2^%u (f = %u) or NaN",
                    62 - ctx->frac_bits, ctx->frac_bits);
            free(enc);
            return SPIN_ERR_RANGE;
        }
    }
    int rc = spin_input_ring(ctx, owner, enc, ndim, shape, out);
    free(enc);
    return rc;
}

int spin_share_export(spin_ctx_t *ctx, const spin_tensor_t *t, uint64_t *out)
{
    spin_tensor_t *d;
    int owned;
    int rc = spin_mpc_tensor_dense(t, &d, &owned);
    if (rc) return rc;
    rc = ctx->compute->copy_d2h(ctx->compute_state, out, spin_mpc_tensor_data(d), spin_tensor_numel(t) * 8, NULL);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    if (owned) spin_tensor_free(d);
    return rc;
}

int spin_share_import(spin_ctx_t *ctx, const uint64_t *share, int ndim, const size_t *shape,
                      spin_tensor_t **out)
{
    spin_tensor_t *t;
    int rc = spin_mpc_tensor_new_like(ctx, ndim, shape, &t);
    if (rc) return rc;
    rc = ctx->compute->copy_h2d(ctx->compute_state, spin_mpc_tensor_data(t), share, spin_tensor_numel(t) * 8, NULL);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    if (rc) {
        spin_tensor_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ---- local linear operations -------------------------------------------- */

static int same_shape(spin_ctx_t *ctx, const spin_tensor_t *a, const spin_tensor_t *b, const char *op)
{
    if (a->ndim != b->ndim || memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof(size_t))) {
        MPC_ERR(ctx, "%s: operands have different shapes", op);
        return SPIN_ERR_INVAL;
    }
    return 0;
}

static int binary_local(spin_ctx_t *ctx, spin_ring_binop_t op, const spin_tensor_t *a,
                        const spin_tensor_t *b, spin_tensor_t **out, const char *name)
{
    int rc = same_shape(ctx, a, b, name);
    if (rc) return rc;
    spin_tensor_t *da, *db, *r;
    int oa, ob;
    rc = spin_mpc_tensor_dense(a, &da, &oa);
    if (rc) return rc;
    rc = spin_mpc_tensor_dense(b, &db, &ob);
    if (rc) goto done_a;
    rc = spin_mpc_tensor_new_like(ctx, a->ndim, a->shape, &r);
    if (rc) goto done_b;
    rc = ctx->compute->ring_binary(ctx->compute_state, op, spin_mpc_tensor_data(r), spin_mpc_tensor_data(da),
                             spin_mpc_tensor_data(db), spin_tensor_numel(a), NULL);
    if (rc) spin_tensor_free(r);
    else *out = r;
done_b:
    if (ob) spin_tensor_free(db);
done_a:
    if (oa) spin_tensor_free(da);
    return rc;
}

int spin_add(spin_ctx_t *ctx, const spin_tensor_t *a, const spin_tensor_t *b, spin_tensor_t **out)
{
    return binary_local(ctx, SPIN_RING_ADD, a, b, out, "add");
}

int spin_sub(spin_ctx_t *ctx, const spin_tensor_t *a, const spin_tensor_t *b, spin_tensor_t **out)
{
    return binary_local(ctx, SPIN_RING_SUB, a, b, out, "sub");
}

int spin_add_public(spin_ctx_t *ctx, const spin_tensor_t *a, const double *c, spin_tensor_t **out)
{
    spin_tensor_t *r;
    int rc = spin_tensor_contiguous(a, &r);
    if (rc) return rc;
    if (ctx->party == 0) {
        /* Only party 0 adds the public value; the copy is private to r. */
        spin_tensor_t *own;
        if (r->buf->refs > 1) {
            rc = spin_mpc_tensor_new_like(ctx, a->ndim, a->shape, &own);
            if (!rc) rc = ctx->compute->copy_d2d(ctx->compute_state, spin_mpc_tensor_data(own), spin_mpc_tensor_data(r),
                                           spin_tensor_numel(a) * 8, NULL);
            spin_tensor_free(r);
            if (rc) return rc;
            r = own;
        }
        size_t n = spin_tensor_numel(a);
        uint64_t *h = malloc((n ? n : 1) * 8), *d = NULL;
        rc = h ? 0 : SPIN_ERR_NOMEM;
        if (!rc && spin_fixed_encode(ctx->frac_bits, c, h, n)) {
            MPC_ERR(ctx, "add_public: a value is outside the fixed-point range or NaN");
            rc = SPIN_ERR_RANGE;
        }
        if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &d);
        if (!rc) rc = ctx->compute->copy_h2d(ctx->compute_state, d, h, n * 8, NULL);
        if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_ADD, spin_mpc_tensor_data(r), spin_mpc_tensor_data(r), d, n, NULL);
        if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
        spin_mpc_buf_release(ctx, d);
        free(h);
    } else if (r->buf->refs > 1) {
        spin_tensor_t *own;
        rc = spin_mpc_tensor_new_like(ctx, a->ndim, a->shape, &own);
        if (!rc) rc = ctx->compute->copy_d2d(ctx->compute_state, spin_mpc_tensor_data(own), spin_mpc_tensor_data(r),
                                       spin_tensor_numel(a) * 8, NULL);
        spin_tensor_free(r);
        if (rc) return rc;
        r = own;
    }
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int spin_mul_int(spin_ctx_t *ctx, const spin_tensor_t *a, int64_t c, spin_tensor_t **out)
{
    spin_tensor_t *da, *r;
    int oa;
    int rc = spin_mpc_tensor_dense(a, &da, &oa);
    if (rc) return rc;
    rc = spin_mpc_tensor_new_like(ctx, a->ndim, a->shape, &r);
    if (!rc) {
        rc = ctx->compute->ring_scalar(ctx->compute_state, SPIN_RING_MUL_S, spin_mpc_tensor_data(r), spin_mpc_tensor_data(da),
                                 (uint64_t)c, spin_tensor_numel(a), NULL);
        if (rc) spin_tensor_free(r);
        else *out = r;
    }
    if (oa) spin_tensor_free(da);
    return rc;
}

int spin_sum(spin_ctx_t *ctx, const spin_tensor_t *a, int axis, spin_tensor_t **out)
{
    if (axis < 0) axis += a->ndim;
    if (axis < 0 || axis >= a->ndim) {
        MPC_ERR(ctx, "sum: axis out of range for a %d-d tensor", a->ndim);
        return SPIN_ERR_INVAL;
    }
    size_t outer = 1, inner = 1, shape[SPIN_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < a->ndim; i++) {
        if (i < axis) outer *= a->shape[i];
        if (i > axis) inner *= a->shape[i];
        if (i != axis) shape[nd++] = a->shape[i];
    }
    spin_tensor_t *da, *r;
    int oa;
    int rc = spin_mpc_tensor_dense(a, &da, &oa);
    if (rc) return rc;
    rc = spin_mpc_tensor_new_like(ctx, nd, shape, &r);
    if (!rc) {
        rc = ctx->compute->sum_axis(ctx->compute_state, SPIN_DT_U64, spin_mpc_tensor_data(r), spin_mpc_tensor_data(da), outer,
                              a->shape[axis], inner, 0, NULL);
        if (rc) spin_tensor_free(r);
        else *out = r;
    }
    if (oa) spin_tensor_free(da);
    return rc;
}

/* ---- in place and broadcast ------------------------------------------------ */

spin_ctx_t *spin_tensor_context(const spin_tensor_t *t)
{
    return t ? t->ctx : NULL;
}

int spin_tensor_is_contiguous(const spin_tensor_t *t)
{
    return t && spin_mpc_tensor_is_contiguous(t);
}

/* dst may be written in place: contiguous, of src's shape. */
static int check_inplace(spin_ctx_t *ctx, const spin_tensor_t *dst, const spin_tensor_t *src, const char *op)
{
    if (!ctx || !dst || !src) return SPIN_ERR_INVAL;
    int rc = same_shape(ctx, dst, src, op);
    if (rc) return rc;
    if (!spin_mpc_tensor_is_contiguous(dst)) {
        MPC_ERR(ctx, "%s: the tensor written in place must be contiguous", op);
        return SPIN_ERR_INVAL;
    }
    return 0;
}

static int binary_inplace(spin_ctx_t *ctx, spin_ring_binop_t op, spin_tensor_t *a, const spin_tensor_t *b,
                          const char *name)
{
    int rc = check_inplace(ctx, a, b, name);
    if (rc) return rc;
    spin_tensor_t *db;
    int ob;
    rc = spin_mpc_tensor_dense(b, &db, &ob);
    if (rc) return rc;
    size_t n = spin_tensor_numel(a);
    if (n)
        rc = ctx->compute->ring_binary(ctx->compute_state, op, spin_mpc_tensor_data(a), spin_mpc_tensor_data(a),
                                       spin_mpc_tensor_data(db), n, NULL);
    if (ob) spin_tensor_free(db);
    return rc;
}

int spin_add_inplace(spin_ctx_t *ctx, spin_tensor_t *a, const spin_tensor_t *b)
{
    return binary_inplace(ctx, SPIN_RING_ADD, a, b, "add_inplace");
}

int spin_sub_inplace(spin_ctx_t *ctx, spin_tensor_t *a, const spin_tensor_t *b)
{
    return binary_inplace(ctx, SPIN_RING_SUB, a, b, "sub_inplace");
}

int spin_copy(spin_ctx_t *ctx, spin_tensor_t *dst, const spin_tensor_t *src)
{
    int rc = check_inplace(ctx, dst, src, "copy");
    if (rc) return rc;
    spin_tensor_t *ds;
    int os;
    rc = spin_mpc_tensor_dense(src, &ds, &os);
    if (rc) return rc;
    size_t n = spin_tensor_numel(dst);
    if (n && spin_mpc_tensor_data(dst) != spin_mpc_tensor_data(ds))
        rc = ctx->compute->copy_d2d(ctx->compute_state, spin_mpc_tensor_data(dst), spin_mpc_tensor_data(ds), n * 8, NULL);
    if (os) spin_tensor_free(ds);
    return rc;
}

/* dst[k] = dst[0] for blocks k = 1 .. count-1 of `block` words, by doubling. */
static int replicate_blocks(spin_ctx_t *ctx, uint64_t *dst, size_t block, size_t count)
{
    int rc = 0;
    for (size_t k = 1; k < count && !rc; k *= 2) {
        size_t m = k < count - k ? k : count - k;
        rc = ctx->compute->copy_d2d(ctx->compute_state, dst + k * block, dst, m * block * 8, NULL);
    }
    return rc;
}

int spin_broadcast(spin_ctx_t *ctx, const spin_tensor_t *v, int ndim, const size_t *shape, int axis,
                   spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "broadcast");
    if (rc) return rc;
    if (!v || !out) return SPIN_ERR_INVAL;
    rc = check_shape(ctx, ndim, shape);
    if (rc) return rc;
    if (axis < 0) axis += ndim;
    if (axis < 0 || axis >= ndim || spin_tensor_numel(v) != shape[axis]) {
        MPC_ERR(ctx, "broadcast: %zu values cannot fill axis %d of a %d-d shape (they must match its extent)",
                spin_tensor_numel(v), axis, ndim);
        return SPIN_ERR_INVAL;
    }
    size_t outer = 1, inner = 1, C = shape[axis];
    for (int i = 0; i < ndim; i++) {
        if (i < axis) outer *= shape[i];
        if (i > axis) inner *= shape[i];
    }
    spin_tensor_t *r, *dv;
    int ov;
    rc = spin_mpc_tensor_new_like(ctx, ndim, shape, &r);
    if (rc) return rc;
    rc = spin_mpc_tensor_dense(v, &dv, &ov);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    if (outer && C && inner) {
        uint64_t *d = spin_mpc_tensor_data(r);
        const uint64_t *s = spin_mpc_tensor_data(dv);
        if (inner == 1) {
            rc = ctx->compute->copy_d2d(ctx->compute_state, d, s, C * 8, NULL);
        } else {
            /* d[c][j] = s[c]: one word, then doubling */
            for (size_t c = 0; c < C && !rc; c++) {
                rc = ctx->compute->copy_d2d(ctx->compute_state, d + c * inner, s + c, 8, NULL);
                if (!rc) rc = replicate_blocks(ctx, d + c * inner, 1, inner);
            }
        }
        if (!rc) rc = replicate_blocks(ctx, d, C * inner, outer);
    }
    if (ov) spin_tensor_free(dv);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}
