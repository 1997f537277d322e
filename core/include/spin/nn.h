/*
 * spin/nn.h - neural-network building blocks over the secure protocols:
 * bias broadcasts, Linear and Conv2d forward/backward, softmax
 * cross-entropy (its gradient and, on request, the mean loss), and an SGD
 * step with momentum and weight decay over many parameters at once (two
 * rounds for the whole model).  The layers of spin-train and spin-infer
 * are made from these.  Nothing is revealed unless a function says so.
 */
#ifndef SPIN_NN_H
#define SPIN_NN_H

#include <spin/mpc.h>
#include <spin/reduce.h>

#ifdef __cplusplus
extern "C" {
#endif

/** y + b broadcast along `axis` of y (b has y's extent on that axis); local. */
SPIN_API int spin_add_bias(spin_ctx_t *ctx, const spin_tensor_t *y, const spin_tensor_t *b, int axis,
                           spin_tensor_t **out);

/** Linear: x [B, in], w [out, in] (PyTorch layout), b [out] or NULL:
 *  y = x w^T + b.  One matmul (2 rounds). */
SPIN_API int spin_linear(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w,
                         const spin_tensor_t *b, spin_tensor_t **y);
/** Linear with a static weight (spin_static_new of w [out, in]): the same
 *  result, opening only x (inference with weights opened once). */
SPIN_API int spin_linear_static(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_static_t *w,
                                const spin_tensor_t *b, spin_tensor_t **y);
/** Gradients of Linear: dx = dy w (NULL: not wanted), dw = dy^T x, db = sum
 *  of dy over the batch (NULL: not wanted).  The two matmuls share no
 *  openings yet: 4 rounds. */
SPIN_API int spin_linear_backward(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w,
                                  const spin_tensor_t *dy, spin_tensor_t **dx, spin_tensor_t **dw,
                                  spin_tensor_t **db);

/** Conv2d with bias (b [oc] or NULL) and its gradients (dx may be NULL for
 *  the first layer; db may be NULL). */
SPIN_API int spin_conv2d_bias(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w,
                              const spin_tensor_t *b, const spin_conv2d_params_t *p, spin_tensor_t **y);
SPIN_API int spin_conv2d_backward(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w,
                                  const spin_tensor_t *dy, const spin_conv2d_params_t *p,
                                  spin_tensor_t **dx, spin_tensor_t **dw, spin_tensor_t **db);

/** Conv2d (with bias) followed by max pooling, truncating after the pool:
 *  the convolution's product stays at scale 2^2f through the (exact) max,
 *  so only the pooled values are truncated (4x fewer for a 2x2 pool).
 *  The result equals maxpool(conv2d_bias(x)) within 1 ulp.  mask (may be
 *  NULL) is spin_maxpool2d's; the backward pass is
 *  spin_maxpool2d_backward then spin_conv2d_backward. */
SPIN_API int spin_conv2d_maxpool(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w,
                                 const spin_tensor_t *b, const spin_conv2d_params_t *cp,
                                 const spin_pool2d_params_t *pp, spin_tensor_t **y,
                                 spin_tensor_t **mask);

/** ReLU for training: y = max(x, 0) and an integer 0/1 mask (not fixed
 *  point) that spin_relu_backward applies exactly in one round (no
 *  truncation). */
SPIN_API int spin_relu_forward(spin_ctx_t *ctx, const spin_tensor_t *x, spin_tensor_t **y,
                               spin_tensor_t **mask);
SPIN_API int spin_relu_backward(spin_ctx_t *ctx, const spin_tensor_t *mask, const spin_tensor_t *dy,
                                spin_tensor_t **dx);

/** Softmax cross-entropy of logits [B, K] against one-hot targets [B, K]
 *  (fixed-point 0/1): grad = (softmax(logits) - onehot) / B, the gradient
 *  of the mean loss.  If loss is not NULL it receives the mean loss as a
 *  shared scalar [1] (reveal it only if you mean to).  probs (NULL: not
 *  wanted) receives softmax(logits). */
SPIN_API int spin_softmax_xent(spin_ctx_t *ctx, const spin_tensor_t *logits,
                               const spin_tensor_t *onehot, spin_tensor_t **grad,
                               spin_tensor_t **loss, spin_tensor_t **probs);

/** SGD with momentum and weight decay, PyTorch's rule, in place on `count`
 *  parameters:  g = dw + wd w;  v = momentum v + g;  w = w - lr v.
 *  params, grads and vels are arrays of tensors of matching shapes (vels
 *  start as zeros).  Two truncation rounds for all parameters together. */
SPIN_API int spin_sgd_step(spin_ctx_t *ctx, spin_tensor_t *const *params,
                           spin_tensor_t *const *grads, spin_tensor_t *const *vels, int count,
                           double lr, double momentum, double weight_decay);

/* ---- BatchNorm2d (nn_batchnorm.c) ------------------------------------------
 *
 * PyTorch's BatchNorm2d over x [N][C][H][W], statistics per channel over the
 * M = N H W values of a channel; gamma, beta, running_mean and running_var
 * are [C].  Nothing is revealed (no mean, variance or scale).
 *
 * Training forward (27 rounds): mean, biased variance var, inv =
 * 1/sqrt(var + eps), xhat = (x - mean) inv, y = gamma xhat + beta; the
 * running statistics (if not NULL; contiguous, updated in place) become
 * (1 - momentum) r + momentum s with the UNBIASED variance var M/(M - 1),
 * as PyTorch.  Rounds: 1 (mean), 2 (the channel's sum of squares, kept at
 * scale 2^2f and truncated once per channel), 20 (rsqrt of M (var + eps)
 * with a public factor sqrt(M); M eps is added exactly), 2 (xhat and
 * gamma inv), 2 (y).  cache (NULL: no backward wanted) keeps xhat and
 * gamma inv for spin_batchnorm2d_backward; free it with spin_bn_cache_free.
 * Eval forward (24 rounds): y = gamma (x - running_mean) / sqrt(running_var
 * + eps) + beta: rsqrt of 2^14 (running_var + eps) (eps kept to 1e-3
 * relative), then two levels.
 * Backward (4 rounds; 2 when dx is NULL): dgamma = sum(dy xhat), dbeta =
 * sum(dy) (exact), dx = (inv / M) (M g - sum g - xhat sum(g xhat)) with
 * g = gamma dy, computed as k dy - k mean(dy) - (k xhat) dgamma / M with
 * k = gamma inv; mean(dy) and dgamma / M are kept at 2^-2f (in training
 * they are far below 2^-f and their error is common to a whole channel).
 *
 * Range (f = 16; f must be 8..18): |x| < 2^10, M (var + eps) < 2^30 (the
 * sum of squares at scale 2^2f), N H W >= 2, eps >= ~1e-6 (the rsqrt's
 * output range; SPIN_ERR_INVAL below), |dy| < 2^4, |dx| < 2^(62-3f) =
 * 2^14, running_var < 2^22.  Outside: wrong values, never a crash.
 * Error (tests/test_batchnorm.c, M = 40..1352): the mean's truncation (1
 * ulp) moves xhat by ~inv 2^-f; with the rsqrt's relative error (< 2e-5)
 * y is within 4 ulp + |gamma| (2 ulp inv + 2e-5 |xhat|) (measured 4e-5 on
 * channels of variance ~1, 7e-4 on one of std 0.01, inv = 87); running
 * statistics within 4 ulp and 1e-4 relative (measured 1.4e-5 and 5e-5);
 * eval y within 8 ulp + 2e-5 relative; dbeta exact; dgamma and dx within
 * the xhat error times dy (dx measured 1e-2 on values of 100, inv = 316,
 * i.e. ~1e-4 relative). */
typedef struct spin_bn_cache spin_bn_cache_t;

SPIN_API int spin_batchnorm2d_forward(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *gamma,
                                      const spin_tensor_t *beta, spin_tensor_t *running_mean,
                                      spin_tensor_t *running_var, double momentum, double eps,
                                      spin_tensor_t **y, spin_bn_cache_t **cache);
SPIN_API int spin_batchnorm2d_eval(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *gamma,
                                   const spin_tensor_t *beta, const spin_tensor_t *running_mean,
                                   const spin_tensor_t *running_var, double eps, spin_tensor_t **y);
/** dx may be NULL (first layer); dgamma and dbeta are [C]. */
SPIN_API int spin_batchnorm2d_backward(spin_ctx_t *ctx, const spin_bn_cache_t *cache, const spin_tensor_t *dy,
                                       spin_tensor_t **dx, spin_tensor_t **dgamma, spin_tensor_t **dbeta);
SPIN_API void spin_bn_cache_free(spin_bn_cache_t *cache);

#ifdef __cplusplus
}
#endif

#endif /* SPIN_NN_H */
