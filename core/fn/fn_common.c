/* fn_common.c - building blocks of the secure non-linear functions:
 * batched Beaver products and truncations (one round each), tensor
 * plumbing, and the lead-one normalisation (one comparison batch of x
 * against public powers of two, then functions of the position linear in
 * the bits).  See fn_internal.h. */
#include "config.h"
#include "fn/fn_internal.h"

#include <stdlib.h>
#include <string.h>

#define TAG_FN_BEAVER 0x0480
#define TAG_FN_TRUNC 0x0580

/* ---- batched Beaver products (one round) ------------------------------------ */

static int req_bilinear(spin_ctx_t *ctx, req_kind_t kind, size_t m, uint64_t *nonce)
{
    bilinear_t L;
    memset(&L, 0, sizeof L);
    L.kind = kind;
    L.m = m;
    spin_mpc_bilinear_sizes(&L);
    dealer_req_t rq;
    spin_mpc_bilinear_to_req(&L, &rq);
    rq.nonce = *nonce = ctx->req_nonce++;
    return spin_mpc_dealer_request(ctx, &rq);
}

int fn_beaver_batch(spin_ctx_t *ctx, const prod_t *p, int k)
{
    size_t ns = 0, nm = 0;
    for (int i = 0; i < k; i++) {
        if (p[i].y) nm += p[i].n;
        else ns += p[i].n;
    }
    if (!ns && !nm) return 0;
    int p0 = ctx->party == 0, rc = 0;
    uint64_t nonce_s = 0, nonce_m = 0;
    if (ns) rc = req_bilinear(ctx, REQ_SQUARE, ns, &nonce_s);
    if (!rc && nm) rc = req_bilinear(ctx, REQ_MUL, nm, &nonce_m);
    if (rc) return rc;
    uint64_t *ef = NULL, *a = NULL, *b = NULL, *c = NULL, *t = NULL;
    size_t big = 0;
    for (int i = 0; i < k; i++) big = p[i].n > big ? p[i].n : big;
    rc = fn_words_alloc(ctx, ns + 2 * nm, &ef);
    if (!rc) rc = fn_words_alloc(ctx, ns + nm, &a);
    if (!rc) rc = fn_words_alloc(ctx, nm, &b);
    if (!rc) rc = fn_words_alloc(ctx, ns + nm, &c);
    if (!rc) rc = fn_words_alloc(ctx, 2 * big, &t);
    if (!rc && ns) rc = spin_mpc_dealer_stream(ctx, nonce_s, 0, a, ns);
    if (!rc && nm) rc = spin_mpc_dealer_stream(ctx, nonce_m, 0, a + ns, nm);
    if (!rc && nm) rc = spin_mpc_dealer_stream(ctx, nonce_m, nm, b, nm);
    size_t os = 0, om = 0;
    for (int i = 0; i < k && !rc; i++) {
        size_t n = p[i].n;
        if (p[i].y) {
            rc = fn_words_binary(ctx, SPIN_RING_SUB, ef + ns + om, p[i].x, a + ns + om, n);
            if (!rc) rc = fn_words_binary(ctx, SPIN_RING_SUB, ef + ns + nm + om, p[i].y, b + om, n);
            om += n;
        } else {
            rc = fn_words_binary(ctx, SPIN_RING_SUB, ef + os, p[i].x, a + os, n);
            os += n;
        }
    }
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    spin_opening_t op;
    if (!rc) rc = spin_mpc_open_start(ctx, TAG_FN_BEAVER, ef, ns + 2 * nm, -1, &op);
    if (rc) goto done;
    if (p0) {
        if (ns) rc = spin_mpc_dealer_receive(ctx, c, ns);
        if (!rc && nm) rc = spin_mpc_dealer_receive(ctx, c + ns, nm);
    } else {
        if (ns) rc = spin_mpc_dealer_stream(ctx, nonce_s, ns, c, ns);
        if (!rc && nm) rc = spin_mpc_dealer_stream(ctx, nonce_m, 2 * nm, c + ns, nm);
    }
    int rc2 = spin_mpc_open_finish(&op);
    if (!rc) rc = rc2;
    os = om = 0;
    for (int i = 0; i < k && !rc; i++) {
        size_t n = p[i].n;
        uint64_t *t1 = t, *t2 = t + big;
        if (p[i].y) {
            const uint64_t *e = ef + ns + om, *f = ef + ns + nm + om;
            /* z = C + E (B + [p0] F) + A F */
            rc = p0 ? fn_words_binary(ctx, SPIN_RING_ADD, t1, b + om, f, n) : fn_words_copy(ctx, t1, b + om, n);
            if (!rc) rc = fn_words_binary(ctx, SPIN_RING_MUL, t1, t1, e, n);
            if (!rc) rc = fn_words_binary(ctx, SPIN_RING_MUL, t2, a + ns + om, f, n);
            if (!rc) rc = fn_words_binary(ctx, SPIN_RING_ADD, t1, t1, t2, n);
            if (!rc) rc = fn_words_binary(ctx, SPIN_RING_ADD, p[i].z, t1, c + ns + om, n);
            om += n;
        } else {
            const uint64_t *e = ef + os;
            /* z = C + E (2 A + [p0] E) */
            rc = fn_words_scalar(ctx, SPIN_RING_MUL_S, t1, a + os, 2, n);
            if (!rc && p0) rc = fn_words_binary(ctx, SPIN_RING_ADD, t1, t1, e, n);
            if (!rc) rc = fn_words_binary(ctx, SPIN_RING_MUL, t1, t1, e, n);
            if (!rc) rc = fn_words_binary(ctx, SPIN_RING_ADD, p[i].z, t1, c + os, n);
            os += n;
        }
    }
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
done:
    FN_WORDS_FREE(ef);
    FN_WORDS_FREE(a);
    FN_WORDS_FREE(b);
    FN_WORDS_FREE(c);
    FN_WORDS_FREE(t);
    return rc;
}

/* ---- batched truncations (one round) ---------------------------------------- */

int fn_trunc_batch(spin_ctx_t *ctx, const trn_t *t, int k)
{
    size_t N = 0, big = 0;
    int rc = 0;
    uint64_t nonce[32];
    if (k > 32) return SPIN_ERR_INTERNAL;
    for (int i = 0; i < k && !rc; i++) {
        if (!t[i].d || !t[i].n) continue;
        if (t[i].d > 62) return SPIN_ERR_INTERNAL;
        dealer_req_t rq;
        memset(&rq, 0, sizeof rq);
        rq.kind = REQ_TRUNC;
        rq.nonce = nonce[i] = ctx->req_nonce++;
        rq.p[0] = t[i].n;
        rq.p[1] = t[i].d;
        rc = spin_mpc_dealer_request(ctx, &rq);
        N += t[i].n;
        big = t[i].n > big ? t[i].n : big;
    }
    if (rc || !N) return rc;
    int p0 = ctx->party == 0;
    uint64_t *c = NULL, *hm = NULL, *tm = NULL;
    rc = fn_words_alloc(ctx, N, &c);
    if (!rc) rc = fn_words_alloc(ctx, 2 * N, &hm);
    if (!rc) rc = fn_words_alloc(ctx, big, &tm);
    size_t off = 0;
    for (int i = 0; i < k && !rc; i++) {
        if (!t[i].d || !t[i].n) continue;
        rc = spin_mpc_dealer_stream(ctx, nonce[i], 0, c + off, t[i].n);
        if (!rc) rc = fn_words_binary(ctx, SPIN_RING_ADD, c + off, c + off, t[i].x, t[i].n);
        if (!rc && p0) rc = fn_words_scalar(ctx, SPIN_RING_ADD_S, c + off, c + off, R1 << 62, t[i].n);
        off += t[i].n;
    }
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    spin_opening_t op;
    if (!rc) rc = spin_mpc_open_start(ctx, TAG_FN_TRUNC, c, N, -1, &op);
    if (rc) goto done;
    off = 0;
    for (int i = 0; i < k && !rc; i++) {
        if (!t[i].d || !t[i].n) continue;
        if (p0) rc = spin_mpc_dealer_receive(ctx, hm + 2 * off, 2 * t[i].n);
        else rc = spin_mpc_dealer_stream(ctx, nonce[i], t[i].n, hm + 2 * off, 2 * t[i].n);
        off += t[i].n;
    }
    int rc2 = spin_mpc_open_finish(&op);
    if (!rc) rc = rc2;
    off = 0;
    for (int i = 0; i < k && !rc; i++) {
        size_t n = t[i].n;
        unsigned d = t[i].d;
        if (!d || !n) continue;
        uint64_t *cc = c + off, *h = hm + 2 * off, *x = t[i].x;
        /* x = ((1 - msb(c)) msb(r) << (64 - d)) - (r >> d) [+ (c >> d) - 2^(62-d) on party 0] */
        rc = fn_words_scalar(ctx, SPIN_RING_SHR_S, tm, cc, 63, n);
        if (!rc) rc = fn_words_scalar(ctx, SPIN_RING_RSUB_S, tm, tm, 1, n);
        if (!rc) rc = fn_words_binary(ctx, SPIN_RING_MUL, tm, tm, h + n, n);
        if (!rc) rc = fn_words_scalar(ctx, SPIN_RING_SHL_S, tm, tm, 64 - d, n);
        if (!rc) rc = fn_words_binary(ctx, SPIN_RING_SUB, x, tm, h, n);
        if (!rc && p0) {
            rc = fn_words_scalar(ctx, SPIN_RING_SHR_S, cc, cc, d, n);
            if (!rc) rc = fn_words_binary(ctx, SPIN_RING_ADD, x, x, cc, n);
            if (!rc) rc = fn_words_scalar(ctx, SPIN_RING_SUB_S, x, x, R1 << (62 - d), n);
        }
        off += n;
    }
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
done:
    FN_WORDS_FREE(c);
    FN_WORDS_FREE(hm);
    FN_WORDS_FREE(tm);
    return rc;
}

/* One level: products then truncations (d[i] bits for product i). */
int fn_level(spin_ctx_t *ctx, const prod_t *p, const unsigned *d, int k)
{
    trn_t t[32];
    if (k > 32) return SPIN_ERR_INTERNAL;
    int rc = fn_beaver_batch(ctx, p, k);
    if (rc) return rc;
    for (int i = 0; i < k; i++) {
        t[i].x = p[i].z;
        t[i].n = p[i].n;
        t[i].d = d[i];
    }
    return fn_trunc_batch(ctx, t, k);
}

/* ---- tensor plumbing ------------------------------------------------------------ */

int fn_check_args(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out, const char *what)
{
    if (!ctx) return SPIN_ERR_INVAL;
    if (ctx->dealer) {
        MPC_ERR(ctx, "%s: the dealer takes no part in protocols; it runs spin_dealer_serve()", what);
        return SPIN_ERR_INVAL;
    }
    if (!a || !out) {
        MPC_ERR(ctx, "%s: NULL tensor or output", what);
        return SPIN_ERR_INVAL;
    }
    if (a->ctx != ctx) {
        MPC_ERR(ctx, "%s: the tensor belongs to another context", what);
        return SPIN_ERR_INVAL;
    }
    return 0;
}

int fn_unary(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out, const char *what, word_fn fn,
             const void *arg)
{
    int rc = fn_check_args(ctx, a, out, what);
    if (rc) return rc;
    spin_tensor_t *r = NULL;
    uint64_t *x = NULL;
    size_t n = spin_tensor_numel(a);
    rc = spin_mpc_tensor_new_like(ctx, a->ndim, a->shape, &r);
    if (!rc) rc = spin_mpc_dense_words(ctx, a, &x);
    if (!rc && n) rc = fn(ctx, x, n, spin_mpc_tensor_data(r), arg);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    FN_WORDS_FREE(x);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* ---- normalisation by the leading one ------------------------------------------ */

/* b_(s,p) = [sgn_s X >= 2^(thr0 + p)] for p < np (sgn_0 = +1, sgn_1 = -1 when
 * sides = 2) and bx = b X, in one comparison (7 rounds).  Layout (s np + p) n. */
int fn_lead_bits(spin_ctx_t *ctx, const uint64_t *X, size_t n, int thr0, int np, int sides, uint64_t *b,
                 uint64_t *bx)
{
    return fn_lead_bits_s(ctx, X, n, thr0, 1, np, sides, b, bx);
}

/* The same against 2^(thr0 + p step). */
int fn_lead_bits_s(spin_ctx_t *ctx, const uint64_t *X, size_t n, int thr0, int step, int np, int sides,
                   uint64_t *b, uint64_t *bx)
{
    int ex[64];
    if (np > 64) return SPIN_ERR_INTERNAL;
    for (int p = 0; p < np; p++) ex[p] = thr0 + p * step;
    return fn_lead_bits_e(ctx, X, n, ex, np, sides, b, bx);
}

/* The same against 2^ex[p] (any increasing exponents in 0..62). */
int fn_lead_bits_e(spin_ctx_t *ctx, const uint64_t *X, size_t n, const int *ex, int np, int sides, uint64_t *b,
                   uint64_t *bx)
{
    size_t tot = (size_t)sides * (size_t)np * n;
    uint64_t *D = NULL, *V = NULL;
    int rc = fn_words_alloc(ctx, tot, &D);
    if (!rc) rc = fn_words_alloc(ctx, tot, &V);
    for (int s = 0; s < sides && !rc; s++)
        for (int p = 0; p < np && !rc; p++) {
            size_t o = ((size_t)s * (size_t)np + (size_t)p) * n;
            if (ex[p] < 0 || ex[p] > 62) { rc = SPIN_ERR_INTERNAL; break; }
            rc = s ? fn_words_scalar(ctx, SPIN_RING_MUL_S, D + o, X, (uint64_t)-1, n) : fn_words_copy(ctx, D + o, X, n);
            if (!rc) rc = fn_words_add_const(ctx, D + o, (uint64_t)0 - (R1 << ex[p]), n);
            if (!rc) rc = fn_words_copy(ctx, V + o, X, n);
        }
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    if (!rc) rc = spin_mpc_cmp_words(ctx, D, tot, 0, b, V, bx);
    FN_WORDS_FREE(D);
    FN_WORDS_FREE(V);
    return rc;
}

/* out = A_0 + B_0 X + sum_(s,p) b_(s,p) (A_(s,p+1) - A_(s,p)) + bx_(s,p) (B_(s,p+1) - B_(s,p)):
 * the function of the state (which interval [2^(thr0+p-1), 2^(thr0+p)) |X|
 * lies in, and its sign) that is A_st + B_st X in state st.  A and B hold
 * sides x (np + 1) ring constants (side 1's entry 0 is side 0's). */
int fn_poslin(spin_ctx_t *ctx, const uint64_t *X, size_t n, const uint64_t *b, const uint64_t *bx, int np,
              int sides, const uint64_t *A, const uint64_t *B, uint64_t *out, uint64_t *tmp)
{
    int rc = fn_words_zero(ctx, out, n);
    if (!rc) rc = fn_words_add_const(ctx, out, A[0], n);
    if (!rc) rc = fn_words_axpy(ctx, out, B[0], X, n, tmp);
    for (int s = 0; s < sides && !rc; s++) {
        const uint64_t *As = A + (size_t)s * (size_t)(np + 1), *Bs = B + (size_t)s * (size_t)(np + 1);
        for (int p = 0; p < np && !rc; p++) {
            size_t o = ((size_t)s * (size_t)np + (size_t)p) * n;
            uint64_t a0 = p ? As[p] : A[0], b0 = p ? Bs[p] : B[0];
            rc = fn_words_axpy(ctx, out, As[p + 1] - a0, b + o, n, tmp);
            if (!rc) rc = fn_words_axpy(ctx, out, Bs[p + 1] - b0, bx + o, n, tmp);
        }
    }
    return rc;
}

/* dst[r per + j] = src[r] */
int fn_bcast(spin_ctx_t *ctx, uint64_t *dst, const uint64_t *src, size_t rows, size_t per)
{
    int rc = 0;
    if (per == 1) return fn_words_copy(ctx, dst, src, rows);
    for (size_t r = 0; r < rows && !rc; r++) {
        rc = fn_words_copy(ctx, dst + r * per, src + r, 1);
        for (size_t k = 1; k < per && !rc; k *= 2) rc = fn_words_copy(ctx, dst + r * per + k, dst + r * per, k < per - k ? k : per - k);
    }
    return rc;
}

/* ---- public: batched raw products and truncations ------------------------------ */

int spin_mul_raw_batch(spin_ctx_t *ctx, int k, const spin_tensor_t *const *a, const spin_tensor_t *const *b,
                       spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "mul_raw_batch");
    if (rc) return rc;
    if (k < 0 || (k && (!a || !out))) return SPIN_ERR_INVAL;
    for (int i = 0; i < k; i++) {
        const spin_tensor_t *y = b ? b[i] : NULL;
        if (!a[i] || a[i]->ctx != ctx || (y && (y->ctx != ctx || y->ndim != a[i]->ndim ||
                                              memcmp(y->shape, a[i]->shape, (size_t)y->ndim * sizeof(size_t))))) {
            MPC_ERR(ctx, "mul_raw_batch: product %d: the operands must be tensors of this context with the same "
                         "shape", i);
            return SPIN_ERR_INVAL;
        }
    }
    if (!k) return 0;
    prod_t *p = calloc((size_t)k, sizeof *p);
    spin_tensor_t **z = calloc((size_t)k, sizeof *z), **da = calloc((size_t)k, sizeof *da),
                  **db = calloc((size_t)k, sizeof *db);
    int *oa = calloc((size_t)k, sizeof *oa), *ob = calloc((size_t)k, sizeof *ob);
    rc = p && z && da && db && oa && ob ? 0 : SPIN_ERR_NOMEM;
    for (int i = 0; i < k && !rc; i++) {
        const spin_tensor_t *y = b ? b[i] : NULL;
        rc = spin_mpc_tensor_dense(a[i], &da[i], &oa[i]);
        if (!rc && y) rc = spin_mpc_tensor_dense(y, &db[i], &ob[i]);
        if (!rc) rc = spin_mpc_tensor_new_like(ctx, a[i]->ndim, a[i]->shape, &z[i]);
        if (rc) break;
        p[i].x = spin_mpc_tensor_data(da[i]);
        p[i].y = y ? spin_mpc_tensor_data(db[i]) : NULL;
        p[i].z = spin_mpc_tensor_data(z[i]);
        p[i].n = spin_tensor_numel(a[i]);
    }
    if (!rc) rc = fn_beaver_batch(ctx, p, k);
    for (int i = 0; i < k && oa && ob && da && db && z; i++) {
        if (oa[i]) spin_tensor_free(da[i]);
        if (ob[i]) spin_tensor_free(db[i]);
        if (rc) spin_tensor_free(z[i]);
        else out[i] = z[i];
    }
    free(p);
    free(z);
    free(da);
    free(db);
    free(oa);
    free(ob);
    return rc;
}

int spin_trunc_batch(spin_ctx_t *ctx, int k, spin_tensor_t *const *t, const unsigned *bits)
{
    int rc = spin_mpc_check_party(ctx, "trunc_batch");
    if (rc) return rc;
    if (k < 0 || k > 32 || (k && (!t || !bits))) {
        MPC_ERR(ctx, "trunc_batch: %d tensors (0..32, with as many bit counts)", k);
        return SPIN_ERR_INVAL;
    }
    trn_t tr[32];
    for (int i = 0; i < k; i++) {
        if (!t[i] || t[i]->ctx != ctx || !spin_mpc_tensor_is_contiguous(t[i]) || bits[i] > 62) {
            MPC_ERR(ctx, "trunc_batch: tensor %d: a contiguous tensor of this context, truncated by 0..62 bits", i);
            return SPIN_ERR_INVAL;
        }
        tr[i].x = spin_mpc_tensor_data(t[i]);
        tr[i].n = spin_tensor_numel(t[i]);
        tr[i].d = bits[i];
    }
    return fn_trunc_batch(ctx, tr, k);
}
