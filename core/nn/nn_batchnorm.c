/* nn_batchnorm.c - BatchNorm2d over the protocols (spin/nn.h): training
 * forward with the running statistics' update, eval forward from the
 * running statistics, and the backward pass.  Nothing is revealed.
 *
 * x [N][C][H][W], statistics per channel over M = N H W values.  Per-channel
 * values are broadcast locally (exact copies of shares); every protocol step
 * batches its products into one Beaver opening and its truncations into one
 * truncation opening (fn_internal.h), so the rounds are:
 *
 *  training forward, 27 rounds:
 *   1      S1 = sum x (local); mean = trunc(S1 round(2^P/M)) and the new
 *          running mean (1 - m) rm + m S1 / M, one truncation batch;
 *   2-3    xc = x - mean (local); Q = sum xc^2 kept at scale 2^2f, one
 *          truncation per channel: Qf = M var at scale f;
 *   4-23   inv = sqrt(M) rsqrt(Qf + M eps) = 1 / sqrt(var + eps)
 *          (fn_rsqrt_core with a public factor, at scale os > f; M eps is
 *          added exactly at scale f, so eps is not rounded to 2^-f);
 *   24-25  xhat = xc inv, k = gamma inv and the new running variance
 *          (1 - m) rv + m Qf / (M - 1) (unbiased), one level;
 *   26-27  y = gamma xhat + beta, one level.
 *  eval forward, 24 rounds: inv = 32 rsqrt(2^10 (rv + eps)) (the factor
 *  2^10 keeps eps exact to 1e-3 relative), k = gamma inv (level), y = k (x -
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
#include "fn/fn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <spin/nn.h>

struct spin_bn_cache {
    spin_ctx_t *ctx;
    size_t shape[4];
    uint64_t *xhat;     /* n words, scale f */
    uint64_t *k;        /* C words: gamma inv, scale f */
};

void spin_bn_cache_free(spin_bn_cache_t *c)
{
    if (!c) return;
    spin_ctx_t *ctx = c->ctx;
    FN_WORDS_FREE(c->xhat);
    FN_WORDS_FREE(c->k);
    free(c);
}

/* S[c] = sum over n and hw of X[n][c][hw] (tmp: C HW words) */
static int chan_sum(spin_ctx_t *ctx, uint64_t *S, const uint64_t *X, const size_t *sh, uint64_t *tmp)
{
    size_t N = sh[0], C = sh[1], HW = sh[2] * sh[3];
    int rc = ctx->compute->sum_axis(ctx->compute_state, SPIN_DT_U64, tmp, X, 1, N, C * HW, 0, NULL);
    if (!rc) rc = ctx->compute->sum_axis(ctx->compute_state, SPIN_DT_U64, S, tmp, C, HW, 1, 0, NULL);
    return rc;
}

/* dst[n][c][hw] = src[c] (local, exact) */
static int chan_bcast(spin_ctx_t *ctx, uint64_t *dst, const uint64_t *src, const size_t *sh)
{
    size_t N = sh[0], C = sh[1], HW = sh[2] * sh[3];
    int rc = fn_bcast(ctx, dst, src, C, HW);
    for (size_t i = 1; i < N && !rc; i++) rc = fn_words_copy(ctx, dst + i * C * HW, dst, C * HW);
    return rc;
}

static int check_vec(spin_ctx_t *ctx, const spin_tensor_t *t, size_t C, int inplace)
{
    if (!t) return 0;
    if (t->ctx != ctx || spin_tensor_numel(t) != C || (inplace && !spin_mpc_tensor_is_contiguous(t))) return -1;
    return 0;
}

/* Checks shared by the forward passes; sh receives x's shape. */
static int check_fwd(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *gamma, const spin_tensor_t *beta,
                     const spin_tensor_t *rm, const spin_tensor_t *rv, double eps, spin_tensor_t **y,
                     const char *what, size_t sh[4])
{
    if (!ctx) return SPIN_ERR_INVAL;
    if (ctx->dealer) {
        MPC_ERR(ctx, "%s: the dealer takes no part in protocols; it runs spin_dealer_serve()", what);
        return SPIN_ERR_INVAL;
    }
    if (!x || !gamma || !beta || !y || x->ctx != ctx || x->ndim != 4) {
        MPC_ERR(ctx, "%s: needs x [N][C][H][W], gamma, beta and an output", what);
        return SPIN_ERR_INVAL;
    }
    memcpy(sh, x->shape, 4 * sizeof *sh);
    size_t C = sh[1];
    if (check_vec(ctx, gamma, C, 0) || check_vec(ctx, beta, C, 0) || check_vec(ctx, rm, C, 1) ||
        check_vec(ctx, rv, C, 1)) {
        MPC_ERR(ctx, "%s: gamma, beta, running_mean and running_var need one value per channel (%zu); the "
                     "running statistics must be contiguous (updated in place)", what, C);
        return SPIN_ERR_INVAL;
    }
    if (!(eps > 0) || eps > 1e3) {
        MPC_ERR(ctx, "%s: eps must be in (0, 1e3], got %g", what, eps);
        return SPIN_ERR_INVAL;
    }
    if (ctx->frac_bits < 8 || ctx->frac_bits > 18) {
        MPC_ERR(ctx, "%s: needs 8 <= f <= 18 (f = %u)", what, ctx->frac_bits);
        return SPIN_ERR_INVAL;
    }
    return 0;
}

/* fn_rsqrt_core's parameters for X >= xmin (raw, scale f) and an output
 * factor wmul (as in spin_layernorm): plo, ws, os; -1 if eps is too small. */
static int rsqrt_params(spin_ctx_t *ctx, double xmin, int K, double wmul, int *plo, int *ws, int *os)
{
    int f = (int)ctx->frac_bits;
    *plo = 0;
    while (*plo < K - 8 && ldexp(1.0, *plo + 1) <= xmin) (*plo)++;
    /* the output is at most rmax (X below 2^plo reads as 2^(plo - 1)) */
    int lr = (int)ceil(log2(wmul / sqrt(ldexp(1.0, *plo - 1 - f))));
    *ws = 19 - lr;
    *os = 29 - lr;
    if (*ws > 16) *ws = 16;
    if (*os > f + 16) *os = f + 16;
    return *ws < 4 || *os < f + 2 ? -1 : 0;
}

#define BN_XBITS 10     /* |x| < 2^10: mean and variance constants */
#define BN_DYBITS 4     /* |dy| < 2^4: backward constants */
#define BN_K 52         /* rsqrt_core's inputs below 2^52 */
#define BN_QE 6         /* M (var + eps) enters rsqrt at scale 2^(f + 6) */
#define BN_EVAL_SH 14   /* eval: rsqrt of 2^14 (rv + eps) */

int spin_batchnorm2d_forward(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *gamma,
                             const spin_tensor_t *beta, spin_tensor_t *running_mean, spin_tensor_t *running_var,
                             double momentum, double eps, spin_tensor_t **y, spin_bn_cache_t **cache)
{
    size_t sh[4];
    int rc = check_fwd(ctx, x, gamma, beta, running_mean, running_var, eps, y, "batchnorm2d_forward", sh);
    if (rc) return rc;
    const int f = (int)ctx->frac_bits;
    size_t N = sh[0], C = sh[1], HW = sh[2] * sh[3], M = N * HW, n = N * C * HW;
    if (M < 2 || !C || !(momentum >= 0 && momentum <= 1) || !running_mean != !running_var) {
        MPC_ERR(ctx, "batchnorm2d_forward: needs N H W >= 2 values per channel (got %zu), momentum in [0, 1] "
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
    int plo, ws, os;
    if (rsqrt_params(ctx, meps * ldexp(1.0, f + BN_QE), BN_K, sqrt((double)M) * ldexp(1.0, BN_QE / 2), &plo, &ws,
                     &os) || meps >= ldexp(1.0, 30)) {
        MPC_ERR(ctx, "batchnorm2d_forward: eps %g is out of range for %zu values per channel at f = %d", eps, M, f);
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *r = NULL;
    spin_bn_cache_t *cc = NULL;
    uint64_t *X = NULL, *G = NULL, *B = NULL, *S = NULL, *tmp = NULL, *E = NULL, *Q = NULL, *T = NULL, *Tv = NULL,
             *I = NULL, *Ib = NULL, *XH = NULL, *KK = NULL;
    rc = spin_mpc_tensor_new_like(ctx, 4, sh, &r);
    if (!rc) rc = fn_dense_words(ctx, x, &X);
    if (!rc) rc = fn_dense_words(ctx, gamma, &G);
    if (!rc) rc = fn_dense_words(ctx, beta, &B);
    if (!rc) rc = fn_words_alloc(ctx, C, &S);
    if (!rc) rc = fn_words_alloc(ctx, C * HW, &tmp);
    if (!rc) rc = fn_words_alloc(ctx, n, &E);
    if (!rc) rc = fn_words_alloc(ctx, C, &Q);
    if (!rc) rc = fn_words_alloc(ctx, C, &T);
    if (!rc) rc = fn_words_alloc(ctx, C, &Tv);
    if (!rc) rc = fn_words_alloc(ctx, C, &I);
    if (!rc) rc = fn_words_alloc(ctx, n, &Ib);
    if (!rc) rc = fn_words_alloc(ctx, n, &XH);
    if (!rc) rc = fn_words_alloc(ctx, C, &KK);
    if (rc) goto done;
    /* 1: mean (S, scale f) and the running mean (T) */
    rc = chan_sum(ctx, S, X, sh, tmp);
    if (!rc) rc = fn_words_scalar(ctx, SPIN_RING_MUL_S, T, S, fx(momentum / (double)M, Pm), C);
    if (!rc) rc = fn_words_scalar(ctx, SPIN_RING_MUL_S, S, S, fx(1.0 / (double)M, Pm), C);
    if (!rc && running_mean) rc = fn_words_axpy(ctx, T, fx(1.0 - momentum, Pm), spin_mpc_tensor_data(running_mean), C, Tv);
    if (!rc) {
        trn_t t[2] = {{S, C, (unsigned)Pm}, {T, C, (unsigned)Pm}};
        rc = fn_trunc_batch(ctx, t, running_mean ? 2 : 1);
    }
    if (!rc && running_mean) rc = fn_words_copy(ctx, spin_mpc_tensor_data(running_mean), T, C);
    /* 2-3: xc = x - mean (E); Q = sum xc^2 at 2^2f, truncated per channel */
    if (!rc) rc = chan_bcast(ctx, E, S, sh);
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_SUB, E, X, E, n);
    if (!rc) {
        prod_t p = {E, NULL, XH, n};
        rc = fn_beaver_batch(ctx, &p, 1);
    }
    if (!rc) rc = chan_sum(ctx, Q, XH, sh, tmp);
    if (!rc) rc = fn_words_copy(ctx, T, Q, C);
    if (!rc) {
        trn_t t[2] = {{Q, C, (unsigned)f}, {T, C, (unsigned)(f - BN_QE)}};
        rc = fn_trunc_batch(ctx, t, 2);
    }
    /* 4-23: inv = sqrt(M) 2^(e/2) rsqrt(2^e M (var + eps)) at scale os */
    if (!rc) rc = fn_words_add_const(ctx, T, fx(meps, f + BN_QE), C);
    if (!rc) rc = fn_rsqrt_core(ctx, T, C, plo, BN_K, sqrt((double)M) * ldexp(1.0, BN_QE / 2), ws, (unsigned)os, I);
    /* 24-25: xhat = xc inv, k = gamma inv (scale f), running var */
    if (!rc) rc = chan_bcast(ctx, Ib, I, sh);
    if (!rc && running_var) {
        rc = fn_words_scalar(ctx, SPIN_RING_MUL_S, Tv, Q, fx(momentum / (double)(M - 1), Pv), C);
        if (!rc) rc = fn_words_axpy(ctx, Tv, fx(1.0 - momentum, Pv), spin_mpc_tensor_data(running_var), C, T);
    }
    if (!rc) {
        prod_t p[2] = {{E, Ib, XH, n}, {G, I, KK, C}};
        rc = fn_beaver_batch(ctx, p, 2);
    }
    if (!rc) {
        trn_t t[3] = {{XH, n, (unsigned)os}, {KK, C, (unsigned)os}, {Tv, C, (unsigned)Pv}};
        rc = fn_trunc_batch(ctx, t, running_var ? 3 : 2);
    }
    if (!rc && running_var) rc = fn_words_copy(ctx, spin_mpc_tensor_data(running_var), Tv, C);
    /* 26-27: y = gamma xhat + beta */
    if (!rc) rc = chan_bcast(ctx, Ib, G, sh);
    if (!rc) {
        prod_t p = {Ib, XH, spin_mpc_tensor_data(r), n};
        unsigned d = (unsigned)f;
        rc = fn_level(ctx, &p, &d, 1);
    }
    if (!rc) rc = chan_bcast(ctx, Ib, B, sh);
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_ADD, spin_mpc_tensor_data(r), spin_mpc_tensor_data(r), Ib, n);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
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
done:
    FN_WORDS_FREE(X);
    FN_WORDS_FREE(G);
    FN_WORDS_FREE(B);
    FN_WORDS_FREE(S);
    FN_WORDS_FREE(tmp);
    FN_WORDS_FREE(E);
    FN_WORDS_FREE(Q);
    FN_WORDS_FREE(T);
    FN_WORDS_FREE(Tv);
    FN_WORDS_FREE(I);
    FN_WORDS_FREE(Ib);
    FN_WORDS_FREE(XH);
    FN_WORDS_FREE(KK);
    if (rc) {
        spin_tensor_free(r);
        spin_bn_cache_free(cc);
        return rc;
    }
    *y = r;
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
        MPC_ERR(ctx, "batchnorm2d_eval: needs the running statistics");
        return SPIN_ERR_INVAL;
    }
    const int f = (int)ctx->frac_bits;
    size_t C = sh[1], n = sh[0] * C * sh[2] * sh[3];
    double ee = ldexp(eps, BN_EVAL_SH);
    int plo, ws, os;
    if (rsqrt_params(ctx, ee * ldexp(1.0, f), BN_K, ldexp(1.0, BN_EVAL_SH / 2), &plo, &ws, &os)) {
        MPC_ERR(ctx, "batchnorm2d_eval: eps %g is too small at f = %d", eps, f);
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *r = NULL;
    uint64_t *X = NULL, *G = NULL, *B = NULL, *V = NULL, *I = NULL, *KK = NULL, *E = NULL, *Kb = NULL;
    rc = spin_mpc_tensor_new_like(ctx, 4, sh, &r);
    if (!rc) rc = fn_dense_words(ctx, x, &X);
    if (!rc) rc = fn_dense_words(ctx, gamma, &G);
    if (!rc) rc = fn_dense_words(ctx, beta, &B);
    if (!rc) rc = fn_dense_words(ctx, running_var, &V);
    if (!rc) rc = fn_words_alloc(ctx, C, &I);
    if (!rc) rc = fn_words_alloc(ctx, C, &KK);
    if (!rc) rc = fn_words_alloc(ctx, n, &E);
    if (!rc) rc = fn_words_alloc(ctx, n, &Kb);
    if (rc) goto done;
    /* inv = 2^(sh/2) rsqrt(2^sh (rv + eps)) at scale os (20 rounds) */
    rc = fn_words_scalar(ctx, SPIN_RING_SHL_S, V, V, BN_EVAL_SH, C);
    if (!rc) rc = fn_words_add_const(ctx, V, fx(ee, f), C);
    if (!rc) rc = fn_rsqrt_core(ctx, V, C, plo, BN_K, ldexp(1.0, BN_EVAL_SH / 2), ws, (unsigned)os, I);
    /* k = gamma inv at scale os (2 rounds) */
    if (!rc) {
        prod_t p = {G, I, KK, C};
        unsigned d = (unsigned)f;
        rc = fn_level(ctx, &p, &d, 1);
    }
    /* y = k (x - rm) + beta (2 rounds) */
    if (!rc) rc = chan_bcast(ctx, E, spin_mpc_tensor_data(running_mean), sh);
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_SUB, E, X, E, n);
    if (!rc) rc = chan_bcast(ctx, Kb, KK, sh);
    if (!rc) {
        prod_t p = {Kb, E, spin_mpc_tensor_data(r), n};
        unsigned d = (unsigned)os;
        rc = fn_level(ctx, &p, &d, 1);
    }
    if (!rc) rc = chan_bcast(ctx, E, B, sh);
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_ADD, spin_mpc_tensor_data(r), spin_mpc_tensor_data(r), E, n);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
done:
    FN_WORDS_FREE(X);
    FN_WORDS_FREE(G);
    FN_WORDS_FREE(B);
    FN_WORDS_FREE(V);
    FN_WORDS_FREE(I);
    FN_WORDS_FREE(KK);
    FN_WORDS_FREE(E);
    FN_WORDS_FREE(Kb);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *y = r;
    return 0;
}

int spin_batchnorm2d_backward(spin_ctx_t *ctx, const spin_bn_cache_t *cache, const spin_tensor_t *dy,
                              spin_tensor_t **dx, spin_tensor_t **dgamma, spin_tensor_t **dbeta)
{
    if (!ctx) return SPIN_ERR_INVAL;
    if (ctx->dealer) {
        MPC_ERR(ctx, "batchnorm2d_backward: the dealer takes no part in protocols; it runs spin_dealer_serve()");
        return SPIN_ERR_INVAL;
    }
    if (!cache || cache->ctx != ctx || !dy || dy->ctx != ctx || !dgamma || !dbeta || dy->ndim != 4 ||
        memcmp(dy->shape, cache->shape, sizeof cache->shape)) {
        MPC_ERR(ctx, "batchnorm2d_backward: needs the forward pass' cache, dy of x's shape, dgamma and dbeta");
        return SPIN_ERR_INVAL;
    }
    const int f = (int)ctx->frac_bits;
    const size_t *sh = cache->shape;
    size_t C = sh[1], HW = sh[2] * sh[3], M = sh[0] * HW, n = sh[0] * C * HW;
    /* mdg = dgamma / M from 2^(2f + P1) (|mdg| <= rms(dy) < 2^4), mdy = dbeta
     * / M from 2^(f + P2), both kept at 2^2f: they are far below 2^-f in
     * training (gradients of a mean loss), and an error of theirs is the same
     * for the whole channel, so at 2^-f it would sum to M ulp in the next
     * layer's bias gradient.  dx is formed at 2^3f (exact in the ring: only
     * the sum must fit, |dx| < 2^(62 - 3f)) and truncated by 2f. */
    const int P1 = 61 - 2 * f - BN_DYBITS, P2 = 61 - f - BN_DYBITS;
    size_t c1[1] = {C};
    spin_tensor_t *tdx = NULL, *tdg = NULL, *tdb = NULL;
    uint64_t *D = NULL, *tmp = NULL, *P = NULL, *KD = NULL, *Z = NULL, *Kb = NULL, *Sg = NULL, *Mg = NULL,
             *Md = NULL, *KM = NULL;
    int rc = spin_mpc_tensor_new_like(ctx, 1, c1, &tdg);
    if (!rc) rc = spin_mpc_tensor_new_like(ctx, 1, c1, &tdb);
    if (!rc && dx) rc = spin_mpc_tensor_new_like(ctx, 4, sh, &tdx);
    if (!rc) rc = fn_dense_words(ctx, dy, &D);
    if (!rc) rc = fn_words_alloc(ctx, C * HW, &tmp);
    if (!rc) rc = fn_words_alloc(ctx, n, &P);
    if (!rc) rc = fn_words_alloc(ctx, C, &Sg);
    if (!rc && dx) {
        rc = fn_words_alloc(ctx, n, &KD);
        if (!rc) rc = fn_words_alloc(ctx, n, &Z);
        if (!rc) rc = fn_words_alloc(ctx, n, &Kb);
        if (!rc) rc = fn_words_alloc(ctx, C, &Mg);
        if (!rc) rc = fn_words_alloc(ctx, C, &Md);
        if (!rc) rc = fn_words_alloc(ctx, C, &KM);
    }
    if (rc) goto done;
    uint64_t *db = spin_mpc_tensor_data(tdb), *dg = spin_mpc_tensor_data(tdg);
    rc = chan_sum(ctx, db, D, sh, tmp);
    if (!rc && dx) rc = chan_bcast(ctx, Kb, cache->k, sh);
    /* 1: dy xhat (and k dy, k xhat) at 2^2f */
    if (!rc) {
        prod_t p[3] = {{D, cache->xhat, P, n}, {Kb, D, KD, n}, {Kb, cache->xhat, Z, n}};
        rc = fn_beaver_batch(ctx, p, dx ? 3 : 1);
    }
    /* 2: dgamma, mdg = dgamma / M, mdy = dbeta / M, z = k xhat */
    if (!rc) rc = chan_sum(ctx, Sg, P, sh, tmp);
    if (!rc) rc = fn_words_copy(ctx, dg, Sg, C);
    if (!rc && dx) {
        rc = fn_words_scalar(ctx, SPIN_RING_MUL_S, Mg, Sg, fx(1.0 / (double)M, P1), C);
        if (!rc) rc = fn_words_scalar(ctx, SPIN_RING_MUL_S, Md, db, fx(1.0 / (double)M, P2), C);
    }
    if (!rc) {
        trn_t t[4] = {{dg, C, (unsigned)f}, {Mg, C, (unsigned)P1}, {Md, C, (unsigned)(P2 - f)}, {Z, n, (unsigned)f}};
        rc = fn_trunc_batch(ctx, t, dx ? 4 : 1);
    }
    /* 3-4: dx = k dy - k mdy - z mdg */
    if (!rc && dx) {
        rc = chan_bcast(ctx, Kb, Mg, sh);
        if (!rc) {
            prod_t p[2] = {{Z, Kb, P, n}, {cache->k, Md, KM, C}};
            rc = fn_beaver_batch(ctx, p, 2);
        }
        if (!rc) rc = fn_words_scalar(ctx, SPIN_RING_SHL_S, KD, KD, (uint64_t)f, n);
        if (!rc) rc = fn_words_binary(ctx, SPIN_RING_SUB, KD, KD, P, n);
        if (!rc) rc = chan_bcast(ctx, Kb, KM, sh);
        if (!rc) rc = fn_words_binary(ctx, SPIN_RING_SUB, KD, KD, Kb, n);
        if (!rc) {
            trn_t t = {KD, n, (unsigned)(2 * f)};
            rc = fn_trunc_batch(ctx, &t, 1);
        }
        if (!rc) rc = fn_words_copy(ctx, spin_mpc_tensor_data(tdx), KD, n);
    }
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
done:
    FN_WORDS_FREE(D);
    FN_WORDS_FREE(tmp);
    FN_WORDS_FREE(P);
    FN_WORDS_FREE(KD);
    FN_WORDS_FREE(Z);
    FN_WORDS_FREE(Kb);
    FN_WORDS_FREE(Sg);
    FN_WORDS_FREE(Mg);
    FN_WORDS_FREE(Md);
    FN_WORDS_FREE(KM);
    if (rc) {
        spin_tensor_free(tdx);
        spin_tensor_free(tdg);
        spin_tensor_free(tdb);
        return rc;
    }
    if (dx) *dx = tdx;
    *dgamma = tdg;
    *dbeta = tdb;
    return 0;
}
