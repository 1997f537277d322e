/*
 * spin/functions.h - secure non-linear functions of fixed-point values:
 * exp, reciprocal, log, sqrt, inverse sqrt, sigmoid, tanh, erf, GeLU,
 * softmax, log-softmax and LayerNorm.  Nothing is revealed: no magnitude,
 * row sum, variance or intermediate value.  docs/PROTOCOLS.md lists, per
 * function, the method, rounds, bytes per element, the valid input range,
 * what happens outside it and the measured error; its table "Valid input
 * ranges" gives every range below as a formula of the fractional bits f
 * with the numbers at f = 16 and 18.  Ranges are not checked at run time:
 * where a comment names no saturation, inputs outside the range give wrong
 * results.  All return a new tensor of a's shape in *out.
 */
#ifndef SPIN_FUNCTIONS_H
#define SPIN_FUNCTIONS_H

#include <spin/mpc.h>

#ifdef __cplusplus
extern "C" {
#endif

/** e^x, for every encodable input (|x| < 2^(62-f)) and every f <= 30:
 *  e^(x/16) by a degree-8 polynomial on [-12, 13], then four squarings at
 *  fixed scales (no truncated value above 2^61); 22 rounds.  x < -12: 0
 *  (true value < 6.2e-6); x >= 13: e^13 (saturation). */
SPIN_API int spin_exp(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out);
/** 1/x for x != 0 (either sign), 2^-f <= |x| < 2^f (f = 16: 1.5e-5 ..
 *  65536, f = 18: 3.8e-6 .. 262144): normalisation by the
 *  leading one in two steps (2 x 4 coarse comparisons for both signs, then
 *  8 fine ones per element at f = 16), Goldschmidt iterations; 23 rounds,
 *  relative error ~1e-9 plus rounding.  |x| >= 2^f: 0 (true value below one
 *  ulp); x = 0: 0.  Needs f <= 22. */
SPIN_API int spin_reciprocal(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out);
/** Natural logarithm ln x (spin_log is the logger), 2^-f <= x < 2^(48-f)
 *  (raw value 1 .. 2^48; f = 16: 2^-16 .. 2^32, f = 18: 2^-18 .. 2^30):
 *  the leading one found in two steps (6 coarse then 8 fine comparisons
 *  per element), ln m by a degree-7 polynomial on [0.5, 1), e ln 2 added
 *  exactly; 21 rounds.  Below the range (x <= 0 included): ln 2^-f
 *  (-11.0904 at f = 16); above: (48 - f) ln 2.  Needs f <= 24. */
SPIN_API int spin_ln(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out);
/** sqrt(x) and 1/sqrt(x) for 2^-f <= x < 2^(2f-1) (sqrt(0) = 0; f = 16:
 *  x < 2^31, f = 18: x < 2^35): leading
 *  one normalisation in two steps keeping exponents in pairs (6 coarse then
 *  5 fine comparisons per element at f = 16), quadratic start, two Newton
 *  steps; 25 rounds each.  x <= 0 or x >= 2^(2f-1): 0.  Need f <= 18. */
SPIN_API int spin_sqrt(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out);
SPIN_API int spin_rsqrt(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out);
/** w / sqrt(x) for a public factor w > 0 and xmin <= x < 2^(52-f) (f = 16:
 *  2^36, f = 18: 2^34), at a
 *  precision above f: out has *scale fractional bits (f + 2 .. f + 16, as
 *  many as w / sqrt(xmin) leaves room for), for products that are then
 *  truncated by *scale (spin_mul_raw_batch, spin_trunc_batch).  One
 *  comparison per power of two from xmin up to 2^(52-f) (the one-stage
 *  normalisation of LayerNorm and BatchNorm: fewer rounds than spin_rsqrt
 *  for per-row or per-channel values, more bytes), a quadratic start and
 *  two Newton steps; 20 rounds, relative error < 2e-5.  x below the
 *  largest power of two <= xmin reads as half that power (x <= 0
 *  included); x >= 2^(52-f): 0.  SPIN_ERR_INVAL when f > 18 or w /
 *  sqrt(xmin / 2) exceeds about 2^min(15, 27 - f).  With out NULL, only
 *  checks the range and sets *scale (no communication, nothing logged). */
SPIN_API int spin_rsqrt_scaled(spin_ctx_t *ctx, const spin_tensor_t *x, double xmin, double w,
                               spin_tensor_t **out, unsigned *scale);
/** Logistic sigmoid, tanh and erf, for every encodable input and every f
 *  (they saturate; above f = 18 the error stays about 2e-6, the internal
 *  scale being 2^-20):
 *  piecewise degree-8 polynomials (5, 7, 6 pieces on [-13, 13], [-7.5, 7.5],
 *  [-4.25, 4.25]), the piece chosen exactly by one comparison batch; 13
 *  rounds; outside the range the constant limits (0/1, -1/1). */
SPIN_API int spin_sigmoid(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out);
SPIN_API int spin_tanh(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out);
SPIN_API int spin_erf(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out);

typedef enum spin_gelu_form {
    SPIN_GELU_ERF = 0,   /**< x/2 (1 + erf(x / sqrt 2)), nn.GELU() */
    SPIN_GELU_TANH = 1   /**< tanh approximation, nn.GELU(approximate="tanh") */
} spin_gelu_form_t;
/** GeLU for every encodable input: ReLU(x) plus a piecewise degree-8
 *  polynomial of the (even, decaying) difference on [-5.5, 5.5], 0
 *  outside; 13 rounds. */
SPIN_API int spin_gelu(spin_ctx_t *ctx, const spin_tensor_t *a, spin_gelu_form_t form,
                       spin_tensor_t **out);

/** Softmax and log-softmax along an axis (the row maximum is subtracted
 *  first; rows with equal maxima are fine).  Every encodable input
 *  (|x| < 2^(62-f)); axis length 1..32768; f <= 18.  Softmax: rounds of spin_max + 29.  log_softmax:
 *  (x - max) - ln(sum exp(x - max)), the sum known to lie in [1, n], so its
 *  logarithm needs log2(n) + 1 positions; rounds of spin_max + 26. */
SPIN_API int spin_softmax(spin_ctx_t *ctx, const spin_tensor_t *a, int axis, spin_tensor_t **out);
SPIN_API int spin_log_softmax(spin_ctx_t *ctx, const spin_tensor_t *a, int axis,
                              spin_tensor_t **out);

/** Attention's softmax(S) V, softmax along S's last axis: S [b,] T x L,
 *  V [b,] L x dv -> [b,] T x dv.  Options (NULL: both on):
 *  delayed   - diag(1/s) (E V) with E = exp(S - max) unnormalised, so the
 *              reciprocal's factors multiply T dv values instead of T L;
 *  nonpos_exp - exp specialised for the inputs <= 0 left after the max
 *              subtraction (3 pieces on [-12, 0], 13 rounds) instead of
 *              the general exp (22 rounds).
 *  Switching either off is for measurement (spin-bench transformer).
 *  Range: delayed, L max|V| < 2^(58-2f) (E V is a product at scale
 *  2^(2f+4) whose elements reach L max|V|) and max|V| < 2^(34-f): f = 16:
 *  L |V| < 2^26 and |V| < 2^18, f = 18: 2^22 and 2^16; not delayed,
 *  max|V| < 2^(62-2f).  S: every encodable value; f <= 18. */
typedef struct spin_attn_opts {
    int delayed;
    int nonpos_exp;
} spin_attn_opts_t;
SPIN_API int spin_attention_softmax(spin_ctx_t *ctx, const spin_tensor_t *S, const spin_tensor_t *V,
                                    const spin_attn_opts_t *o, spin_tensor_t **out);

/** Building blocks for protocols with fewer rounds (BatchNorm, custom
 *  layers): k element-wise ring products out[i] = a[i] * b[i] (b NULL or
 *  b[i] NULL: a[i] squared) in ONE Beaver opening, without truncation
 *  (each result has the scale of its operands' product, 2^2f for two
 *  fixed-point values; exact in the ring); out receives k new tensors of
 *  the operands' shapes.  One round, 8 (2 n_mul + n_square) bytes per
 *  peer, one dealer request per kind (products, squares). */
SPIN_API int spin_mul_raw_batch(spin_ctx_t *ctx, int k, const spin_tensor_t *const *a,
                                const spin_tensor_t *const *b, spin_tensor_t **out);
/** k <= 32 truncations in place in ONE opening: t[i] (contiguous) is
 *  divided by 2^bits[i] (0: left alone), within 1 ulp for |t[i]| < 2^62 in
 *  the ring, as spin_trunc (outside, off by 2^(64-bits) for a fraction
 *  (|t| - 2^62) / 2^63 of the elements): a product of two values at scale
 *  2^f needs |x y| < 2^(62-2f) before its truncation by f.  One round, 8 n bytes per peer for n values
 *  in all; one dealer request per tensor. */
SPIN_API int spin_trunc_batch(spin_ctx_t *ctx, int k, spin_tensor_t *const *t, const unsigned *bits);

/** LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * gamma + beta,
 *  gamma and beta of the last axis' length (NULL: no affine part).  24
 *  rounds; eps > 0 recommended (eps = 0 with a constant row saturates);
 *  f <= 18.  Range: any row mean (every encodable x); rows of d with
 *  d^2 (var + eps) < 2^(62-2f) for 10 <= f <= 18 (2^(52-f) below): f = 16:
 *  2^30 (e.g. std < 42.6 at d = 768, < 512 at d = 64), f = 18: 2^26 (std
 *  < 10.6 at d = 768); with gamma also d |x_j - mean| |gamma_j| <
 *  2^(62-2f) and |gamma_j| sqrt(d) < max(2^(46-2f), 2^(33-f) / (d
 *  sqrt(eps))) (d = 768, eps = 1e-5: |gamma| < 1182 at f = 16 and 295 at
 *  f = 18 satisfy both for every row in range). */
SPIN_API int spin_layernorm(spin_ctx_t *ctx, const spin_tensor_t *a, const spin_tensor_t *gamma,
                            const spin_tensor_t *beta, double eps, spin_tensor_t **out);

#ifdef __cplusplus
}
#endif

#endif /* SPIN_FUNCTIONS_H */
