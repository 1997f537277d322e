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

#ifdef __cplusplus
}
#endif

#endif /* SPIN_NN_H */
