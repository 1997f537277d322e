/* fn_softmax.c - exp, softmax, log-softmax (along any axis) and LayerNorm.
 * See fn_internal.h. */
#include "config.h"
#include "fn/fn_internal.h"

/* ---- exp ---------------------------------------------------------------------------
 * e^x = (e^(x/16))^16.  t = x/16 is x's own ring value read at scale f + 4.
 * e^t on t in [-0.75, 13/16) by one degree-8 polynomial (precise mode),
 * 0 below, e^(13/16) above (pw_eval's selection), then four squarings with
 * the scale lowered as the value grows (26, 26, 25, 21, then f).
 * Rounds: 14 + 8 = 22. */
static const double expg_bk[] = {-0.75, 0.8125};
static const double expg_mid[] = {0.03125};
static const int expg_e[] = {0};
static const double expg_c[] = {1.031743407499103, 1.0317433934531404, 0.51587170234785895, 0.17195754129465049, 0.042989339255482879, 0.0085960546994598395, 0.0014327965807057292, 0.00020864820479333333, 2.5982049297066666e-05};
static const pw_t PW_EXPG = {1, 8, expg_bk, expg_mid, expg_e, expg_c, 0.0, 2.2535347872132085};

static int w_exp(spin_ctx_t *ctx, const uint64_t *x, size_t n, uint64_t *out, const void *arg)
{
    (void)arg;
    int rc = fn_pw_eval(ctx, x, n, ctx->frac_bits + 4, &PW_EXPG, 1, 26, 0, out);
    /* squarings: (raw scale, truncate to) 52 -> 26, 52 -> 25, 50 -> 21, 42 -> f */
    static const unsigned to[4] = {26, 25, 21, 0};
    unsigned sc = 26;
    for (int i = 0; i < 4 && !rc; i++) {
        unsigned tgt = i < 3 ? to[i] : ctx->frac_bits;
        prod_t p = {out, NULL, out, n};
        unsigned d = 2 * sc - tgt;
        rc = fn_level(ctx, &p, &d, 1);
        sc = tgt;
    }
    return rc;
}

int spin_exp(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    return fn_unary(ctx, a, out, "exp", w_exp, NULL);
}

/* exp on [-12, 0] for softmax (tables: see fn_piecewise.c) */
/* expn: degree 8, 3 pieces on [-12, 0], max approximation error 1.79e-06 */
static const double expn_bk[] = {-12.0, -5.0, -1.125, 0.0};
static const double expn_mid[] = {-8.5, -3.0625, -0.5625};
static const int expn_e[] = {-2, -1, 0};
static const double expn_c[] = {
    0.00020346836901064422, 0.00081159651243687271, 0.001626872432895864, 0.0022096743857807815, 0.0021854588144400141, 0.0015551480619582286, 0.0010876342557926608, 0.00096143037340291958, 0.00044737101562892248,
    0.046770622383958987, 0.093539301882822404, 0.093540861090570249, 0.062388364155478784, 0.031185854564052203, 0.012367258949706483, 0.0041366404133293521, 0.0013345230213632497, 0.00032604536829296406,
    0.56978282473092323, 0.56978282417406834, 0.28489141230981746, 0.094963827582515176, 0.023740953374407396, 0.0047479234313160482, 0.00079133838030205541, 0.00011417480924084616, 1.4243706825545282e-05,
};
/* max sum |c| 1.549 */
static const pw_t PW_EXPN = PW(expn, 0.0, 1.0);

/* ---- softmax ---------------------------------------------------------------------- */

/* a with `axis` moved last, dense: X (rows x len words); tensor view kept in *t. */
static int axis_last(spin_ctx_t *ctx, const spin_tensor_t *a, int axis, spin_tensor_t **t, uint64_t **X)
{
    int last = a->ndim - 1, rc;
    *t = NULL;
    *X = NULL;
    if (axis != last) rc = spin_tensor_transpose(a, axis, last, t);
    else rc = spin_tensor_contiguous(a, t);
    if (!rc) rc = spin_mpc_dense_words(ctx, *t, X);
    if (rc) {
        spin_tensor_free(*t);
        *t = NULL;
    }
    return rc;
}

static int check_axis(spin_ctx_t *ctx, const spin_tensor_t *a, int *axis, const char *what)
{
    if (a->ndim < 1) {
        MPC_ERR(ctx, "%s: needs a tensor with at least one dimension", what);
        return SPIN_ERR_INVAL;
    }
    if (*axis < 0) *axis += a->ndim;
    if (*axis < 0 || *axis >= a->ndim) {
        MPC_ERR(ctx, "%s: axis out of range for a %d-d tensor", what, a->ndim);
        return SPIN_ERR_INVAL;
    }
    size_t len = a->shape[*axis];
    if (len < 1 || len > (1u << 15)) {
        MPC_ERR(ctx, "%s: the axis has %zu elements; 1..32768 are supported", what, len);
        return SPIN_ERR_INVAL;
    }
    return 0;
}

/* Scale of exp values and of row sums inside softmax. */
#define SM_SS(f) ((f) + 4)

/* Row maxima subtracted, exp of the (<= 0) differences, row sums s in
 * [1, len]: Z (rows x len, scale f), E (scale ss), S (rows, scale ss). */
static int sm_front_ex(spin_ctx_t *ctx, spin_tensor_t *t, const uint64_t *X, size_t rows, size_t len, uint64_t *Z,
                       uint64_t *E, uint64_t *S, int generic_exp);

static int sm_front(spin_ctx_t *ctx, spin_tensor_t *t, const uint64_t *X, size_t rows, size_t len, uint64_t *Z,
                    uint64_t *E, uint64_t *S)
{
    return sm_front_ex(ctx, t, X, rows, len, Z, E, S, 0);
}

/* generic_exp: the general spin_exp polynomial and squarings (scale f,
 * shifted to ss) instead of the exp specialised for inputs <= 0 - only to
 * measure what the specialisation saves. */
static int sm_front_ex(spin_ctx_t *ctx, spin_tensor_t *t, const uint64_t *X, size_t rows, size_t len, uint64_t *Z,
                       uint64_t *E, uint64_t *S, int generic_exp)
{
    spin_tensor_t *mx = NULL;
    uint64_t *M = NULL, *Mb = NULL;
    size_t n = rows * len;
    int rc = spin_max(ctx, t, t->ndim - 1, &mx, NULL);
    if (!rc) rc = spin_mpc_dense_words(ctx, mx, &M);
    if (!rc) rc = fn_words_alloc(ctx, n, &Mb);
    if (!rc) rc = fn_bcast(ctx, Mb, M, rows, len);
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_SUB, Z, X, Mb, n);
    if (!rc && !generic_exp) rc = fn_pw_eval(ctx, Z, n, ctx->frac_bits, &PW_EXPN, 0, SM_SS(ctx->frac_bits), 0, E);
    if (!rc && generic_exp) rc = w_exp(ctx, Z, n, E, NULL);
    if (!rc && generic_exp) rc = fn_words_scalar(ctx, SPIN_RING_SHL_S, E, E, (uint64_t)(SM_SS(ctx->frac_bits) - (int)ctx->frac_bits), n);
    if (!rc) rc = ctx->compute->sum_axis(ctx->compute_state, SPIN_DT_U64, S, E, rows, len, 1, 0, NULL);
    spin_tensor_free(mx);
    FN_WORDS_FREE(M);
    FN_WORDS_FREE(Mb);
    return rc;
}

/* Position constants of s in [1, len] at scale ss: states st = 0..Lb with
 * s 2^ss in [2^(ss+st), 2^(ss+st+1)), exponent E_st = ss + st + 1. */
static int sm_lb(size_t len)
{
    int Lb = 0;
    while (((size_t)1 << Lb) < len) Lb++;
    return Lb;
}

static int softmax_core(spin_ctx_t *ctx, spin_tensor_t *t, const uint64_t *X, size_t rows, size_t len,
                        int generic_exp, const spin_tensor_t *V, uint64_t *out);

static int softmax_words(spin_ctx_t *ctx, spin_tensor_t *t, const uint64_t *X, size_t rows, size_t len,
                         uint64_t *out)
{
    return softmax_core(ctx, t, X, rows, len, 0, NULL, out);
}

/* V == NULL: softmax of the rows into out (rows x len).  V != NULL
 * (attention, delayed normalisation): out (rows x dv) = diag(1/s) (E V),
 * E = exp(S - max) unnormalised, so the reciprocal's tail multiplies
 * rows x dv values instead of rows x len. */
static int softmax_core(spin_ctx_t *ctx, spin_tensor_t *t, const uint64_t *X, size_t rows, size_t len,
                        int generic_exp, const spin_tensor_t *V, uint64_t *out)
{
    int f = (int)ctx->frac_bits, ss = SM_SS(f), Lb = sm_lb(len), PN = PN_MAX;
    int Gm = ss + Lb + 1 + 8, Gw = ss + 2 * Lb + 10;
    size_t n = rows * len;
    uint64_t *Z = NULL, *E = NULL, *S = NULL, *b = NULL, *bx = NULL, *M = NULL, *Y0 = NULL, *Y0W = NULL, *tmp = NULL;
    uint64_t A[3][17], B[3][17];
    int rc = fn_words_alloc(ctx, n, &Z);
    if (!rc) rc = fn_words_alloc(ctx, n, &E);
    if (!rc) rc = fn_words_alloc(ctx, rows, &S);
    if (!rc) rc = fn_words_alloc(ctx, (size_t)(Lb ? Lb : 1) * rows, &b);
    if (!rc) rc = fn_words_alloc(ctx, (size_t)(Lb ? Lb : 1) * rows, &bx);
    if (!rc) rc = fn_words_alloc(ctx, rows, &M);
    if (!rc) rc = fn_words_alloc(ctx, rows, &Y0);
    if (!rc) rc = fn_words_alloc(ctx, rows, &Y0W);
    if (!rc) rc = fn_words_alloc(ctx, rows, &tmp);
    if (!rc) rc = sm_front_ex(ctx, t, X, rows, len, Z, E, S, generic_exp);
    spin_tensor_t *Et = NULL, *EV = NULL;
    size_t nf = n;
    if (!rc && V) {
        /* E V at scale ss (the matmul truncates V's f bits) */
        rc = spin_mpc_tensor_new_like(ctx, t->ndim, t->shape, &Et);
        if (!rc) rc = ctx->compute->copy_d2d(ctx->compute_state, spin_mpc_tensor_data(Et), E, n * 8, NULL);
        if (!rc) rc = spin_matmul(ctx, Et, 0, V, 0, &EV);
        if (!rc) nf = spin_tensor_numel(EV);
    }
    if (!rc && Lb) rc = fn_lead_bits(ctx, S, rows, ss + 1, Lb, 1, b, bx);
    if (rc) {
        spin_tensor_free(Et);
        spin_tensor_free(EV);
        goto done;
    }
    for (int st = 0; st <= Lb; st++) {
        int e = ss + st + 1;
        A[0][st] = 0;
        B[0][st] = R1 << (Gm - e);
        A[1][st] = fx(RC0, Gm);
        B[1][st] = fx(-RC1, Gm - e);
        A[2][st] = fx(RC0, Gw + ss - e);
        B[2][st] = fx(-RC1, Gw + ss - 2 * e);
    }
    rc = fn_poslin(ctx, S, rows, b, bx, Lb, 1, A[0], B[0], M, tmp);
    if (!rc) rc = fn_poslin(ctx, S, rows, b, bx, Lb, 1, A[1], B[1], Y0, tmp);
    if (!rc) rc = fn_poslin(ctx, S, rows, b, bx, Lb, 1, A[2], B[2], Y0W, tmp);
    if (!rc) {
        trn_t tr[3] = {{M, rows, (unsigned)(Gm - PN)}, {Y0, rows, (unsigned)(Gm - PN)}, {Y0W, rows, (unsigned)(Gw - PN)}};
        rc = fn_trunc_batch(ctx, tr, 3);
    }
    if (!rc) rc = fn_recip_tail(ctx, M, Y0, Y0W, rows, EV ? spin_mpc_tensor_data(EV) : E, nf, (unsigned)ss, (unsigned)ss, PN,
                                out);
    spin_tensor_free(Et);
    spin_tensor_free(EV);
done:
    FN_WORDS_FREE(Z);
    FN_WORDS_FREE(E);
    FN_WORDS_FREE(S);
    FN_WORDS_FREE(b);
    FN_WORDS_FREE(bx);
    FN_WORDS_FREE(M);
    FN_WORDS_FREE(Y0);
    FN_WORDS_FREE(Y0W);
    FN_WORDS_FREE(tmp);
    return rc;
}

typedef int (*rows_fn)(spin_ctx_t *ctx, spin_tensor_t *t, const uint64_t *X, size_t rows, size_t len, uint64_t *out);

static int along_axis(spin_ctx_t *ctx, const spin_tensor_t *a, int axis, spin_tensor_t **out, const char *what,
                      rows_fn fn)
{
    int rc = fn_check_args(ctx, a, out, what);
    if (!rc) rc = check_axis(ctx, a, &axis, what);
    if (rc) return rc;
    if (ctx->frac_bits > 18) {
        MPC_ERR(ctx, "%s: needs f <= 18 (f = %u)", what, ctx->frac_bits);
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *t = NULL, *r = NULL, *rt = NULL;
    uint64_t *X = NULL;
    size_t n = spin_tensor_numel(a), len = a->shape[axis];
    rc = axis_last(ctx, a, axis, &t, &X);
    if (!rc) rc = spin_mpc_tensor_new_like(ctx, t->ndim, t->shape, &r);
    if (!rc && n) rc = fn(ctx, t, X, n / len, len, spin_mpc_tensor_data(r));
    if (!rc && axis != a->ndim - 1) {
        rc = spin_tensor_transpose(r, axis, a->ndim - 1, &rt);
        spin_tensor_t *c = NULL;
        if (!rc) rc = spin_tensor_contiguous(rt, &c);
        spin_tensor_free(rt);
        spin_tensor_free(r);
        r = c;
    }
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    spin_tensor_free(t);
    FN_WORDS_FREE(X);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int spin_softmax(spin_ctx_t *ctx, const spin_tensor_t *a, int axis, spin_tensor_t **out)
{
    return along_axis(ctx, a, axis, out, "softmax", softmax_words);
}

/* ---- LayerNorm ------------------------------------------------------------------ */

/* LayerNorm over rows of d: S = sum x, D = d x - S = d (x - mean) (exact,
 * local); level 1 (one Beaver opening): x^2 and S^2 raw (scale 2f) and,
 * with gamma, G = D gamma; then V = d sum x^2 - S^2 = d^2 var is formed in
 * the ring at scale 2f and truncated ONCE, to scale f + vs, in the same
 * truncation round as G (to scale f).  Only V itself has to be in the
 * truncation's range: x^2, S^2 and d sum x^2 may wrap around the ring
 * (their wraps cancel exactly), so the row mean is not limited (an earlier
 * version truncated S^2 itself, which failed once |S| >= 2^(31-f), i.e.
 * |mean| >= 2^(31-f) / d).  r = 2^(vs/2) rsqrt(V + d^2 eps) = rsqrt(var +
 * eps) / d (rsqrt_core reading V at scale f, positions from d^2 eps up to
 * 2^LN_K); out = (D or G) r + beta (one level).  Rounds: 2 + 20 + 2 = 24.
 * vs is the even number <= min(8, f - 10) (0 for f < 10), so that the
 * rsqrt core's range 2^(LN_K - f - vs) is at least the truncation's
 * 2^(62 - 2f).  Valid while d^2 (var + eps) < 2^(62 - 2f) for 10 <= f <= 18
 * (f = 16: 2^30, f = 18: 2^26; 2^(52 - f) for f < 10); with gamma also
 * d |x - mean| |gamma| < 2^(62 - 2f) and |gamma| sqrt(d) 2^(f + os) < 2^62
 * (os below).  V's error is one truncation (2^-(f+vs)) instead of the d^2
 * + 1 ulps of truncating every square. */
#define LN_K 52

static int ln_vscale(int f)
{
    int vs = f - 10 < 8 ? f - 10 : 8;
    if (vs < 0) vs = 0;
    return vs & ~1;
}

int spin_layernorm(spin_ctx_t *ctx, const spin_tensor_t *a, const spin_tensor_t *gamma, const spin_tensor_t *beta,
                   double eps, spin_tensor_t **out)
{
    int rc = fn_check_args(ctx, a, out, "layernorm");
    if (rc) return rc;
    int f = (int)ctx->frac_bits;
    size_t d = a->ndim ? a->shape[a->ndim - 1] : 0;
    if (a->ndim < 1 || d < 1 || f > 18 || !(eps >= 0) || eps > 1e6 ||
        (gamma && (gamma->ndim != 1 || gamma->shape[0] != d || gamma->ctx != ctx)) ||
        (beta && (beta->ndim != 1 || beta->shape[0] != d || beta->ctx != ctx))) {
        MPC_ERR(ctx, "layernorm: needs a tensor of >= 1 dimension, gamma and beta of the last dimension's "
                     "length (or NULL), eps >= 0 and f <= 18");
        return SPIN_ERR_INVAL;
    }
    double d3e = (double)d * (double)d * eps;
    int vs = ln_vscale(f), plo = 0;
    double wv = ldexp(1.0, vs / 2);
    while (plo < LN_K - 8 && ldexp(1.0, plo + 1) <= d3e * ldexp(1.0, f + vs)) plo++;
    /* r = 2^(vs/2) rsqrt(V) <= rmax (V >= 2^(plo-1)); rsqrt_core needs rmax 2^(f + PN + ws) and
     * rmax 2^(os + 4 + PN + 1.6) below 2^62; the output product rmax sqrt(d) 2^(f + os) too */
    int lr = (int)ceil(log2(wv / sqrt(ldexp(1.0, plo - 1 - f))));
    int ws = 19 - lr, os = 29 - lr;
    if (ws > 16) ws = 16;
    if (os > f + 16) os = f + 16;
    if (ws < 4 || os < f + 4) {
        MPC_ERR(ctx, "layernorm: eps %g is too small for rows of %zu at f = %d", eps, d, f);
        return SPIN_ERR_INVAL;
    }
    size_t n = spin_tensor_numel(a), rows = d ? n / d : 0;
    spin_tensor_t *r = NULL;
    uint64_t *X = NULL, *S = NULL, *S2 = NULL, *D = NULL, *T = NULL, *Gm = NULL, *Bb = NULL, *V = NULL, *R = NULL,
             *Rb = NULL;
    rc = spin_mpc_tensor_new_like(ctx, a->ndim, a->shape, &r);
    if (!rc) rc = spin_mpc_dense_words(ctx, a, &X);
    if (!rc) rc = fn_words_alloc(ctx, rows, &S);
    if (!rc) rc = fn_words_alloc(ctx, rows, &S2);
    if (!rc) rc = fn_words_alloc(ctx, n, &D);
    if (!rc) rc = fn_words_alloc(ctx, n, &T);
    if (!rc) rc = fn_words_alloc(ctx, rows, &V);
    if (!rc) rc = fn_words_alloc(ctx, rows, &R);
    if (!rc) rc = fn_words_alloc(ctx, n, &Rb);
    if (!rc && gamma) rc = fn_words_alloc(ctx, n, &Gm);
    if (!rc && gamma) {
        uint64_t *g = NULL;
        rc = spin_mpc_dense_words(ctx, gamma, &g);
        for (size_t i = 0; i < rows && !rc; i++) rc = fn_words_copy(ctx, Gm + i * d, g, d);
        FN_WORDS_FREE(g);
    }
    if (!rc && beta) {
        uint64_t *g = NULL;
        rc = spin_mpc_dense_words(ctx, beta, &g);
        if (!rc) rc = fn_words_alloc(ctx, n, &Bb);
        for (size_t i = 0; i < rows && !rc; i++) rc = fn_words_copy(ctx, Bb + i * d, g, d);
        FN_WORDS_FREE(g);
    }
    if (rc || !n) goto done;
    rc = ctx->compute->sum_axis(ctx->compute_state, SPIN_DT_U64, S, X, rows, d, 1, 0, NULL);
    if (!rc) rc = fn_bcast(ctx, T, S, rows, d);
    if (!rc) rc = fn_words_scalar(ctx, SPIN_RING_MUL_S, D, X, (uint64_t)d, n);
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_SUB, D, D, T, n);
    /* level 1: the products raw (scale 2f), V = d sum x^2 - S^2 in the ring, then one
     * truncation round for V (rows words) and G */
    if (!rc) {
        prod_t p[3] = {{X, NULL, T, n}, {S, NULL, S2, rows}, {D, Gm, Gm, n}};
        rc = fn_beaver_batch(ctx, p, gamma ? 3 : 2);
    }
    if (!rc) rc = ctx->compute->sum_axis(ctx->compute_state, SPIN_DT_U64, V, T, rows, d, 1, 0, NULL);
    if (!rc) rc = fn_words_scalar(ctx, SPIN_RING_MUL_S, V, V, (uint64_t)d, rows);
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_SUB, V, V, S2, rows);
    if (!rc) {
        trn_t tr[2] = {{V, rows, (unsigned)(f - vs)}, {Gm, n, (unsigned)f}};
        rc = fn_trunc_batch(ctx, tr, gamma ? 2 : 1);
    }
    if (!rc) rc = fn_words_add_const(ctx, V, fx(d3e, f + vs), rows);
    /* V is 2^vs d^2 (var + eps) read at scale f: rsqrt(V) 2^(vs/2) = rsqrt(var + eps) / d */
    if (!rc) rc = fn_rsqrt_core(ctx, V, rows, plo, LN_K, wv, ws, (unsigned)os, R);
    if (!rc) rc = fn_bcast(ctx, Rb, R, rows, d);
    if (!rc) {
        prod_t p = {gamma ? Gm : D, Rb, spin_mpc_tensor_data(r), n};
        unsigned dd = (unsigned)os;
        rc = fn_level(ctx, &p, &dd, 1);
    }
    if (!rc && beta) rc = fn_words_binary(ctx, SPIN_RING_ADD, spin_mpc_tensor_data(r), spin_mpc_tensor_data(r), Bb, n);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
done:
    FN_WORDS_FREE(X);
    FN_WORDS_FREE(S);
    FN_WORDS_FREE(S2);
    FN_WORDS_FREE(D);
    FN_WORDS_FREE(T);
    FN_WORDS_FREE(Gm);
    FN_WORDS_FREE(Bb);
    FN_WORDS_FREE(V);
    FN_WORDS_FREE(R);
    FN_WORDS_FREE(Rb);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* ---- log-softmax ------------------------------------------------------------------ */

/* out = (x - max) - ln s, s = sum exp(x - max) in [1, len] (sm_front).  ln s
 * by the lead-one normalisation of the row sums (Lb = ceil(log2 len)
 * comparisons per ROW, as in softmax): s in [2^st, 2^(st+1)), st = 0..Lb,
 * m = s / 2^(st+1), u = 4m - 3 linear at scale G = max(ss + Lb - 1, 20),
 * ln s = (st + 1) ln 2 + ln m (fn_ln_poly; the exponent part's rounding to
 * scale f is added after the truncation, the remainder at scale 60).
 * Rounds: rounds(spin_max) + 13 (exp) + 7 (positions; none for len <= 1)
 * + 5 (powers; 6 when 2 G > 61, i.e. len > 2^(27 - f)) + 1.  len = 1: 0
 * exactly, no rounds. */
static int log_softmax_words(spin_ctx_t *ctx, spin_tensor_t *t, const uint64_t *X, size_t rows, size_t len,
                             uint64_t *out)
{
    const double ln2 = 0.69314718055994531;
    int f = (int)ctx->frac_bits, ss = SM_SS(f), Lb = sm_lb(len);
    int G = ss + Lb - 1 > LN_P ? ss + Lb - 1 : LN_P;
    size_t n = rows * len;
    if (len == 1) return fn_words_zero(ctx, out, n);
    uint64_t *Z = NULL, *E = NULL, *S = NULL, *b = NULL, *bx = NULL, *U = NULL, *V = NULL, *C = NULL, *tmp = NULL,
             *Lr = NULL;
    uint64_t A[3][17], B0[17], Bu[17];
    int rc = fn_words_alloc(ctx, n, &Z);
    if (!rc) rc = fn_words_alloc(ctx, n, &E);
    if (!rc) rc = fn_words_alloc(ctx, n, &Lr);
    if (!rc) rc = fn_words_alloc(ctx, (size_t)Lb * rows, &b);
    if (!rc) rc = fn_words_alloc(ctx, (size_t)Lb * rows, &bx);
    uint64_t **bufs[] = {&S, &U, &V, &C, &tmp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0] && !rc; i++) rc = fn_words_alloc(ctx, rows, bufs[i]);
    if (!rc) rc = sm_front(ctx, t, X, rows, len, Z, E, S);
    if (!rc) rc = fn_lead_bits(ctx, S, rows, ss + 1, Lb, 1, b, bx);
    if (rc) goto done;
    for (int st = 0; st <= Lb; st++) {
        double e = (double)(st + 1) * ln2;
        uint64_t ci = fx(e, f);
        A[0][st] = (uint64_t)0 - ((uint64_t)3 << G);              /* u at scale G */
        Bu[st] = R1 << (G + 1 - ss - st);
        A[1][st] = ci;                                            /* exponent part, scale f */
        A[2][st] = fx(e - ldexp((double)(int64_t)ci, -f) + fn_lnm_c[0], LN_S);
        B0[st] = 0;
    }
    rc = fn_poslin(ctx, S, rows, b, bx, Lb, 1, A[0], Bu, U, tmp);
    if (!rc) rc = fn_poslin(ctx, S, rows, b, bx, Lb, 1, A[1], B0, C, tmp);
    if (!rc) rc = fn_poslin(ctx, S, rows, b, bx, Lb, 1, A[2], B0, V, tmp);
    if (!rc) rc = fn_ln_poly(ctx, U, rows, G, V);
    if (!rc) {
        trn_t tr = {V, rows, (unsigned)(LN_S - f)};
        rc = fn_trunc_batch(ctx, &tr, 1);
    }
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_ADD, V, V, C, rows);
    if (!rc) rc = fn_bcast(ctx, Lr, V, rows, len);
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_SUB, out, Z, Lr, n);
done:
    FN_WORDS_FREE(Z);
    FN_WORDS_FREE(E);
    FN_WORDS_FREE(Lr);
    FN_WORDS_FREE(b);
    FN_WORDS_FREE(bx);
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) FN_WORDS_FREE(*bufs[i]);
    return rc;
}

int spin_log_softmax(spin_ctx_t *ctx, const spin_tensor_t *a, int axis, spin_tensor_t **out)
{
    return along_axis(ctx, a, axis, out, "log_softmax", log_softmax_words);
}

/* ---- attention: softmax(S) V ------------------------------------------------------ */

int spin_attention_softmax(spin_ctx_t *ctx, const spin_tensor_t *S, const spin_tensor_t *V,
                           const spin_attn_opts_t *o, spin_tensor_t **out)
{
    int rc = fn_check_args(ctx, S, out, "attention_softmax");
    if (rc) return rc;
    int nd = S->ndim;
    if (!V || (nd != 2 && nd != 3) || V->ndim != nd || V->shape[nd - 2] != S->shape[nd - 1] ||
        (nd == 3 && V->shape[0] != S->shape[0]) || S->shape[nd - 1] == 0) {
        MPC_ERR(ctx, "attention_softmax: S must be [b,] T x L and V [b,] L x dv with the same b and L");
        return SPIN_ERR_INVAL;
    }
    if (ctx->frac_bits > 18) {
        MPC_ERR(ctx, "attention_softmax: needs f <= 18 (f = %u)", ctx->frac_bits);
        return SPIN_ERR_INVAL;
    }
    spin_attn_opts_t def = {1, 1};
    if (!o) o = &def;
    size_t len = S->shape[nd - 1], n = spin_tensor_numel(S), rows = n / len;
    if (!o->delayed) {
        /* normalise E first, then the product: for measurement */
        spin_tensor_t *t = NULL, *P = NULL;
        uint64_t *X = NULL;
        rc = axis_last(ctx, S, nd - 1, &t, &X);
        if (!rc) rc = spin_mpc_tensor_new_like(ctx, t->ndim, t->shape, &P);
        if (!rc) rc = softmax_core(ctx, t, X, rows, len, !o->nonpos_exp, NULL, spin_mpc_tensor_data(P));
        if (!rc) rc = spin_matmul(ctx, P, 0, V, 0, out);
        spin_tensor_free(t);
        spin_tensor_free(P);
        FN_WORDS_FREE(X);
        return rc;
    }
    spin_tensor_t *t = NULL, *r = NULL;
    uint64_t *X = NULL;
    size_t shape[3];
    for (int i = 0; i < nd; i++) shape[i] = S->shape[i];
    shape[nd - 1] = V->shape[nd - 1];
    rc = axis_last(ctx, S, nd - 1, &t, &X);
    if (!rc) rc = spin_mpc_tensor_new_like(ctx, nd, shape, &r);
    if (!rc) rc = softmax_core(ctx, t, X, rows, len, !o->nonpos_exp, V, spin_mpc_tensor_data(r));
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    spin_tensor_free(t);
    FN_WORDS_FREE(X);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}
