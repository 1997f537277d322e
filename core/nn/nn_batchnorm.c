/* nn_batchnorm.c - BatchNorm2d over the protocols (spin/nn.h): training
 * forward with the running statistics' update, eval forward from the
 * running statistics, and the backward pass.  Nothing is revealed.
 *
 * x [N][C][H][W], statistics per channel over M = N H W values.  Per-channel
 * values are broadcast locally (spin_broadcast: exact copies of shares);
 * every protocol step batches its products into one Beaver opening
 * (spin_mul_raw_batch) and its truncations into one truncation opening
 * (spin_trunc_batch), so the rounds are:
 *
 *  training forward, 27 rounds:
 *   1      S1 = sum x (local); mean = trunc(S1 round(2^P/M)) and the new
 *          running mean (1 - m) rm + m S1 / M, one truncation batch;
 *   2-3    xc = x - mean (local); Q = sum xc^2 kept at scale 2^2f, one
 *          truncation per channel: Qf = M var at scale f;
 *   4-23   inv = sqrt(M) rsqrt(Qf + M eps) = 1 / sqrt(var + eps)
 *          (spin_rsqrt_scaled: a public factor, at scale os > f; M eps is
 *          added exactly at scale f, so eps is not rounded to 2^-f);
 *   24-25  xhat = xc inv, k = gamma inv and the new running variance
 *          (1 - m) rv + m Qf / (M - 1) (unbiased), one level;
 *   26-27  y = gamma xhat + beta, one level.
 *  eval forward, 24 rounds: inv = 2^7 rsqrt(2^14 (rv + eps)) (the factor
 *  2^14 keeps eps exact to 1e-3 relative), k = gamma inv (level), y = k (x -
 *  rm) + beta (level).
 *  backward, 4 rounds (2 without dx): with dbeta = sum dy (local),
 *   1      dy xhat, k dy, k xhat (products at 2^2f);
 *   2      dgamma = sum(dy xhat), mdg = dgamma / M, mdy = dbeta / M, z = k xhat
 *          (one truncation batch);
 *   3-4    dx = k dy - k mdy - z mdg, one product batch and one truncation
 *          (mdg and mdy at 2^2f: far below 2^-f in training, and their
 *          error is common to a whole channel; dx formed at 2^3f),
 *  which is PyTorch's dx = (inv / M) (M g - sum g - xhat sum(g xhat)) with
 *  g = gamma dy, since sum g = gamma dbeta and sum(g xhat) = gamma dgamma.
 */
#include "config.h"
#include "nn/nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct spin_bn_cache {
    spin_ctx_t *ctx;
    size_t shape[4];
    spin_tensor_t *xhat;   /* x's shape, scale f */
    spin_tensor_t *k;      /* [C]: gamma inv, scale f */
};

void spin_bn_cache_free(spin_bn_cache_t *c)
{
    if (!c) return;
    spin_tensor_free(c->xhat);
    spin_tensor_free(c->k);
    free(c);
}

/* round(v * 2^s) as a ring constant (for spin_mul_int) */
static int64_t fxi(double v, int s)
{
    return (int64_t)llround(ldexp(v, s));
}

/* S[c] = sum over n and hw of X[n][c][hw] (local) */
static int chan_sum(spin_ctx_t *ctx, const spin_tensor_t *X, spin_tensor_t **S)
{
    const size_t *sh = spin_tensor_shape(X);
    size_t s2[2] = {sh[1], sh[2] * sh[3]};
    spin_tensor_t *s0 = NULL, *v = NULL;
    int rc = spin_sum(ctx, X, 0, &s0);
    if (!rc) rc = spin_tensor_reshape(s0, 2, s2, &v);
    if (!rc) rc = spin_sum(ctx, v, 1, S);
    spin_tensor_free(s0);
    spin_tensor_free(v);
    return rc;
}

/* out[n][c][hw] = v[c] (local, exact) */
static int chan_bcast(spin_ctx_t *ctx, const spin_tensor_t *v, const size_t *sh, spin_tensor_t **out)
{
    return spin_broadcast(ctx, v, 4, sh, 1, out);
}

/* z += c x (local; nothing for c = 0) */
static int axpy(spin_ctx_t *ctx, spin_tensor_t *z, int64_t c, const spin_tensor_t *x)
{
    if (!c) return 0;
    spin_tensor_t *t = NULL;
    int rc = spin_mul_int(ctx, x, c, &t);
    if (!rc) rc = spin_add_inplace(ctx, z, t);
    spin_tensor_free(t);
    return rc;
}

/* A copy of t in a new tensor. */
static int dup(spin_ctx_t *ctx, const spin_tensor_t *t, spin_tensor_t **out)
{
    int rc = spin_tensor_zeros(ctx, spin_tensor_ndim(t), spin_tensor_shape(t), out);
    if (!rc) rc = spin_copy(ctx, *out, t);
    if (rc) {
        spin_tensor_free(*out);
        *out = NULL;
    }
    return rc;
}

/* party 0 adds the public value v to every element of t (in value at scale
 * f: exact for v a multiple of 2^-f) */
static int add_const(spin_ctx_t *ctx, const spin_tensor_t *t, double v, spin_tensor_t **out)
{
    size_t n = spin_tensor_numel(t);
    double *c = malloc((n ? n : 1) * sizeof *c);
    if (!c) return SPIN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) c[i] = v;
    int rc = spin_add_public(ctx, t, c, out);
    free(c);
    return rc;
}

/* One level: the products p[i] = a[i] b[i], then truncation by d[i]. */
static int level(spin_ctx_t *ctx, int k, const spin_tensor_t *const *a, const spin_tensor_t *const *b,
                 const unsigned *d, spin_tensor_t **p)
{
    int rc = spin_mul_raw_batch(ctx, k, a, b, p);
    if (rc) return rc;
    rc = spin_trunc_batch(ctx, k, p, d);
    if (rc)
        for (int i = 0; i < k; i++) {
            spin_tensor_free(p[i]);
            p[i] = NULL;
        }
    return rc;
}

static int check_vec(spin_ctx_t *ctx, const spin_tensor_t *t, size_t C, int inplace)
{
    if (!t) return 0;
    if (spin_tensor_context(t) != ctx || spin_tensor_numel(t) != C || (inplace && !spin_tensor_is_contiguous(t)))
        return -1;
    return 0;
}

/* Checks shared by the forward passes; sh receives x's shape. */
static int check_fwd(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *gamma, const spin_tensor_t *beta,
                     const spin_tensor_t *rm, const spin_tensor_t *rv, double eps, spin_tensor_t **y,
                     const char *what, size_t sh[4])
{
    int rc = nn_check_party(ctx, what);
    if (rc) return rc;
    if (!x || !gamma || !beta || !y || spin_tensor_context(x) != ctx || spin_tensor_ndim(x) != 4) {
        NN_ERR(ctx, "%s: needs x [N][C][H][W], gamma, beta and an output", what);
        return SPIN_ERR_INVAL;
    }
    memcpy(sh, spin_tensor_shape(x), 4 * sizeof *sh);
    size_t C = sh[1];
    if (check_vec(ctx, gamma, C, 0) || check_vec(ctx, beta, C, 0) || check_vec(ctx, rm, C, 1) ||
        check_vec(ctx, rv, C, 1)) {
        NN_ERR(ctx, "%s: gamma, beta, running_mean and running_var need one value per channel (%zu); the "
                    "running statistics must be contiguous (updated in place)", what, C);
        return SPIN_ERR_INVAL;
    }
    if (!(eps > 0) || eps > 1e3) {
        NN_ERR(ctx, "%s: eps must be in (0, 1e3], got %g", what, eps);
        return SPIN_ERR_INVAL;
    }
    unsigned f = spin_ctx_frac_bits(ctx);
    if (f < 8 || f > 18) {
        NN_ERR(ctx, "%s: needs 8 <= f <= 18 (f = %u)", what, f);
        return SPIN_ERR_INVAL;
    }
    return 0;
}

/* [C] views of the per-channel operands (any shapes of C elements; the
 * running statistics are contiguous, so their views write through). */
static int chan_views(const spin_tensor_t *const *in, spin_tensor_t **out, int k, size_t C)
{
    int rc = 0;
    for (int i = 0; i < k; i++) out[i] = NULL;
    for (int i = 0; i < k && !rc; i++)
        if (in[i]) rc = nn_view_as(in[i], 1, &C, &out[i]);
    return rc;
}

#define BN_XBITS 10     /* |x| < 2^10: mean and variance constants */
#define BN_DYBITS 4     /* |dy| < 2^4: backward constants */
#define BN_QE 6         /* M (var + eps) enters rsqrt at scale 2^(f + 6) */
#define BN_EVAL_SH 14   /* eval: rsqrt of 2^14 (rv + eps) */

int spin_batchnorm2d_forward(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *gamma,
                             const spin_tensor_t *beta, spin_tensor_t *running_mean, spin_tensor_t *running_var,
                             double momentum, double eps, spin_tensor_t **y, spin_bn_cache_t **cache)
{
    size_t sh[4];
    int rc = check_fwd(ctx, x, gamma, beta, running_mean, running_var, eps, y, "batchnorm2d_forward", sh);
    if (rc) return rc;
    const int f = (int)spin_ctx_frac_bits(ctx);
    size_t N = sh[0], C = sh[1], HW = sh[2] * sh[3], M = N * HW;
    if (M < 2 || !C || !(momentum >= 0 && momentum <= 1) || !running_mean != !running_var) {
        NN_ERR(ctx, "batchnorm2d_forward: needs N H W >= 2 values per channel (got %zu), momentum in [0, 1] "
                    "and both running statistics or neither", M);
        return SPIN_ERR_INVAL;
    }
    /* constants: mean and running mean at 2^Pm (|mean| < 2^10); running var
     * at 2^Pv (var_u < min(2^20, 2^(62-2f) / (M - 1))) */
    const int Pm = 61 - f - BN_XBITS;
    int lm1 = (int)floor(log2((double)(M - 1)));
    int Lv = 62 - 2 * f - lm1 < 2 * BN_XBITS ? 62 - 2 * f - lm1 : 2 * BN_XBITS;
    const int Pv = 60 - f - Lv;
    double meps = (double)M * eps;
    /* inv = wq / sqrt(xq) with xq = 2^6 M (var + eps) >= 2^6 M eps */
    const double xq = ldexp(meps, BN_QE), wq = sqrt((double)M) * ldexp(1.0, BN_QE / 2);
    unsigned os;
    if (spin_rsqrt_scaled(ctx, NULL, xq, wq, NULL, &os) || meps >= ldexp(1.0, 30)) {
        NN_ERR(ctx, "batchnorm2d_forward: eps %g is out of range for %zu values per channel at f = %d", eps, M, f);
        return SPIN_ERR_INVAL;
    }
    spin_bn_cache_t *cc = NULL;
    spin_tensor_t *S = NULL, *S1 = NULL, *T = NULL, *E = NULL, *Eb = NULL, *Q2 = NULL, *Q = NULL, *Qe = NULL,
                  *Tq = NULL, *I = NULL, *Ib = NULL, *Tv = NULL, *XH = NULL, *KK = NULL, *Gb = NULL, *Y = NULL,
                  *Bb = NULL, *v[3];
    const spin_tensor_t *vin[3] = {gamma, running_mean, running_var};
    rc = chan_views(vin, v, 3, C);
    spin_tensor_t *g = v[0], *rm = v[1], *rv = v[2];
    /* 1: mean (S1, scale f) and the running mean (T) */
    if (!rc) rc = chan_sum(ctx, x, &S);
    if (!rc && running_mean) rc = spin_mul_int(ctx, S, fxi(momentum / (double)M, Pm), &T);
    if (!rc) rc = spin_mul_int(ctx, S, fxi(1.0 / (double)M, Pm), &S1);
    if (!rc && running_mean) rc = axpy(ctx, T, fxi(1.0 - momentum, Pm), rm);
    if (!rc) {
        spin_tensor_t *t[2] = {S1, T};
        unsigned d[2] = {(unsigned)Pm, (unsigned)Pm};
        rc = spin_trunc_batch(ctx, running_mean ? 2 : 1, t, d);
    }
    if (!rc && running_mean) rc = spin_copy(ctx, rm, T);
    /* 2-3: xc = x - mean (E); Q = sum xc^2 at 2^2f, truncated per channel */
    if (!rc) rc = chan_bcast(ctx, S1, sh, &Eb);
    if (!rc) rc = spin_sub(ctx, x, Eb, &E);
    if (!rc) {
        const spin_tensor_t *a[1] = {E}, *b[1] = {NULL};
        rc = spin_mul_raw_batch(ctx, 1, a, b, &Q2);
    }
    if (!rc) rc = chan_sum(ctx, Q2, &Q);
    if (!rc) rc = dup(ctx, Q, &Tq);
    if (!rc) {
        spin_tensor_t *t[2] = {Q, Tq};
        unsigned d[2] = {(unsigned)f, (unsigned)(f - BN_QE)};
        rc = spin_trunc_batch(ctx, 2, t, d);
    }
    /* 4-23: inv = sqrt(M) 2^(e/2) rsqrt(2^e M (var + eps)) at scale os */
    if (!rc) rc = add_const(ctx, Tq, xq, &Qe);
    if (!rc) rc = spin_rsqrt_scaled(ctx, Qe, xq, wq, &I, &os);
    /* 24-25: xhat = xc inv, k = gamma inv (scale f), running var */
    if (!rc) rc = chan_bcast(ctx, I, sh, &Ib);
    if (!rc && running_var) {
        rc = spin_mul_int(ctx, Q, fxi(momentum / (double)(M - 1), Pv), &Tv);
        if (!rc) rc = axpy(ctx, Tv, fxi(1.0 - momentum, Pv), rv);
    }
    if (!rc) {
        const spin_tensor_t *a[2] = {E, g}, *b[2] = {Ib, I};
        spin_tensor_t *p[2] = {NULL, NULL};
        rc = spin_mul_raw_batch(ctx, 2, a, b, p);
        XH = p[0];
        KK = p[1];
    }
    if (!rc) {
        spin_tensor_t *t[3] = {XH, KK, Tv};
        unsigned d[3] = {os, os, (unsigned)Pv};
        rc = spin_trunc_batch(ctx, running_var ? 3 : 2, t, d);
    }
    if (!rc && running_var) rc = spin_copy(ctx, rv, Tv);
    /* 26-27: y = gamma xhat + beta */
    if (!rc) rc = chan_bcast(ctx, gamma, sh, &Gb);
    if (!rc) {
        const spin_tensor_t *a[1] = {Gb}, *b[1] = {XH};
        unsigned d = (unsigned)f;
        rc = level(ctx, 1, a, b, &d, &Y);
    }
    if (!rc) rc = chan_bcast(ctx, beta, sh, &Bb);
    if (!rc) rc = spin_add_inplace(ctx, Y, Bb);
    if (!rc && cache) {
        cc = calloc(1, sizeof *cc);
        if (!cc) {
            rc = SPIN_ERR_NOMEM;
        } else {
            cc->ctx = ctx;
            memcpy(cc->shape, sh, sizeof cc->shape);
            cc->xhat = XH;
            cc->k = KK;
            XH = KK = NULL;
        }
    }
    spin_tensor_t *tmp[] = {S, S1, T, E, Eb, Q2, Q, Qe, Tq, I, Ib, Tv, XH, KK, Gb, Bb, g, rm, rv};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) spin_tensor_free(tmp[i]);
    if (rc) {
        spin_tensor_free(Y);
        spin_bn_cache_free(cc);
        return rc;
    }
    *y = Y;
    if (cache) *cache = cc;
    return 0;
}

int spin_batchnorm2d_eval(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *gamma,
                          const spin_tensor_t *beta, const spin_tensor_t *running_mean,
                          const spin_tensor_t *running_var, double eps, spin_tensor_t **y)
{
    size_t sh[4];
    int rc = check_fwd(ctx, x, gamma, beta, running_mean, running_var, eps, y, "batchnorm2d_eval", sh);
    if (rc) return rc;
    if (!running_mean || !running_var) {
        NN_ERR(ctx, "batchnorm2d_eval: needs the running statistics");
        return SPIN_ERR_INVAL;
    }
    const int f = (int)spin_ctx_frac_bits(ctx);
    /* inv = we / sqrt(2^sh (rv + eps)), we = 2^(sh/2) */
    const double ee = ldexp(eps, BN_EVAL_SH), we = ldexp(1.0, BN_EVAL_SH / 2);
    unsigned os;
    if (spin_rsqrt_scaled(ctx, NULL, ee, we, NULL, &os)) {
        NN_ERR(ctx, "batchnorm2d_eval: eps %g is too small at f = %d", eps, f);
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *V = NULL, *Ve = NULL, *I = NULL, *KK = NULL, *Rb = NULL, *E = NULL, *Kb = NULL, *Y = NULL,
                  *Bb = NULL, *v[2];
    const spin_tensor_t *vin[2] = {gamma, running_var};
    rc = chan_views(vin, v, 2, sh[1]);
    spin_tensor_t *g = v[0], *rv = v[1];
    /* inv = 2^(sh/2) rsqrt(2^sh (rv + eps)) at scale os (20 rounds) */
    if (!rc) rc = spin_mul_int(ctx, rv, (int64_t)1 << BN_EVAL_SH, &V);
    if (!rc) rc = add_const(ctx, V, ee, &Ve);
    if (!rc) rc = spin_rsqrt_scaled(ctx, Ve, ee, we, &I, &os);
    /* k = gamma inv at scale os (2 rounds) */
    if (!rc) {
        const spin_tensor_t *a[1] = {g}, *b[1] = {I};
        unsigned d = (unsigned)f;
        rc = level(ctx, 1, a, b, &d, &KK);
    }
    /* y = k (x - rm) + beta (2 rounds) */
    if (!rc) rc = chan_bcast(ctx, running_mean, sh, &Rb);
    if (!rc) rc = spin_sub(ctx, x, Rb, &E);
    if (!rc) rc = chan_bcast(ctx, KK, sh, &Kb);
    if (!rc) {
        const spin_tensor_t *a[1] = {Kb}, *b[1] = {E};
        unsigned d = os;
        rc = level(ctx, 1, a, b, &d, &Y);
    }
    if (!rc) rc = chan_bcast(ctx, beta, sh, &Bb);
    if (!rc) rc = spin_add_inplace(ctx, Y, Bb);
    spin_tensor_t *tmp[] = {V, Ve, I, KK, Rb, E, Kb, Bb, g, rv};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) spin_tensor_free(tmp[i]);
    if (rc) {
        spin_tensor_free(Y);
        return rc;
    }
    *y = Y;
    return 0;
}

int spin_batchnorm2d_backward(spin_ctx_t *ctx, const spin_bn_cache_t *cache, const spin_tensor_t *dy,
                              spin_tensor_t **dx, spin_tensor_t **dgamma, spin_tensor_t **dbeta)
{
    int rc = nn_check_party(ctx, "batchnorm2d_backward");
    if (rc) return rc;
    if (!cache || cache->ctx != ctx || !dy || spin_tensor_context(dy) != ctx || !dgamma || !dbeta ||
        spin_tensor_ndim(dy) != 4 || memcmp(spin_tensor_shape(dy), cache->shape, sizeof cache->shape)) {
        NN_ERR(ctx, "batchnorm2d_backward: needs the forward pass' cache, dy of x's shape, dgamma and dbeta");
        return SPIN_ERR_INVAL;
    }
    const int f = (int)spin_ctx_frac_bits(ctx);
    const size_t *sh = cache->shape;
    size_t HW = sh[2] * sh[3], M = sh[0] * HW;
    /* mdg = dgamma / M from 2^(2f + P1) (|mdg| <= rms(dy) < 2^4), mdy = dbeta
     * / M from 2^(f + P2), both kept at 2^2f: they are far below 2^-f in
     * training (gradients of a mean loss), and an error of theirs is the same
     * for the whole channel, so at 2^-f it would sum to M ulp in the next
     * layer's bias gradient.  dx is formed at 2^3f (exact in the ring: only
     * the sum must fit, |dx| < 2^(62 - 3f)) and truncated by 2f. */
    const int P1 = 61 - 2 * f - BN_DYBITS, P2 = 61 - f - BN_DYBITS;
    spin_tensor_t *db = NULL, *Kb = NULL, *P = NULL, *KD = NULL, *Z = NULL, *dg = NULL, *Mg = NULL, *Md = NULL,
                  *Mb = NULL, *P2t = NULL, *KM = NULL, *KD2 = NULL, *KMb = NULL;
    rc = chan_sum(ctx, dy, &db);
    if (!rc && dx) rc = chan_bcast(ctx, cache->k, sh, &Kb);
    /* 1: dy xhat (and k dy, k xhat) at 2^2f */
    if (!rc) {
        const spin_tensor_t *a[3] = {dy, Kb, Kb}, *b[3] = {cache->xhat, dy, cache->xhat};
        spin_tensor_t *p[3] = {NULL, NULL, NULL};
        rc = spin_mul_raw_batch(ctx, dx ? 3 : 1, a, b, p);
        P = p[0];
        KD = p[1];
        Z = p[2];
    }
    /* 2: dgamma, mdg = dgamma / M, mdy = dbeta / M, z = k xhat */
    if (!rc) rc = chan_sum(ctx, P, &dg);
    if (!rc && dx) {
        rc = spin_mul_int(ctx, dg, fxi(1.0 / (double)M, P1), &Mg);
        if (!rc) rc = spin_mul_int(ctx, db, fxi(1.0 / (double)M, P2), &Md);
    }
    if (!rc) {
        spin_tensor_t *t[4] = {dg, Mg, Md, Z};
        unsigned d[4] = {(unsigned)f, (unsigned)P1, (unsigned)(P2 - f), (unsigned)f};
        rc = spin_trunc_batch(ctx, dx ? 4 : 1, t, d);
    }
    /* 3-4: dx = k dy - k mdy - z mdg */
    if (!rc && dx) {
        rc = chan_bcast(ctx, Mg, sh, &Mb);
        if (!rc) {
            const spin_tensor_t *a[2] = {Z, cache->k}, *b[2] = {Mb, Md};
            spin_tensor_t *p[2] = {NULL, NULL};
            rc = spin_mul_raw_batch(ctx, 2, a, b, p);
            P2t = p[0];
            KM = p[1];
        }
        if (!rc) rc = spin_mul_int(ctx, KD, (int64_t)1 << f, &KD2);
        if (!rc) rc = spin_sub_inplace(ctx, KD2, P2t);
        if (!rc) rc = chan_bcast(ctx, KM, sh, &KMb);
        if (!rc) rc = spin_sub_inplace(ctx, KD2, KMb);
        if (!rc) {
            unsigned d = (unsigned)(2 * f);
            rc = spin_trunc_batch(ctx, 1, &KD2, &d);
        }
    }
    spin_tensor_t *tmp[] = {Kb, P, KD, Z, Mg, Md, Mb, P2t, KM, KMb};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) spin_tensor_free(tmp[i]);
    if (rc) {
        spin_tensor_free(db);
        spin_tensor_free(dg);
        spin_tensor_free(KD2);
        return rc;
    }
    if (dx) *dx = KD2;
    *dgamma = dg;
    *dbeta = db;
    return 0;
}
