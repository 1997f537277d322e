/*
 * spin/reduce.h - secure maximum, argmax and pooling.  A maximum is a
 * tournament over every row at once: each level compares the candidates of
 * groups (pairs: one comparison with a fused exact select, 7 rounds; groups
 * of g >= 3: all pairs in one batch and an exact product tree, 7 +
 * ceil(log2 g) rounds), all rows in one batch.  The group sizes come from a
 * cost model (small batches: few rounds; large batches: the binary tree).
 * Maxima are exact (no truncation) for every encodable value (|x| < 2^62 in
 * the ring); nothing but the result shares is produced.  docs/PROTOCOLS.md
 * gives rounds and bytes.
 */
#ifndef SPIN_REDUCE_H
#define SPIN_REDUCE_H

#include <spin/mpc.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Maximum along `axis` (0..ndim-1, or negative from the end; that
 *  dimension is dropped from the result, a 1-d input gives a 0-d result).
 *  Exact.  If argmax is not NULL it receives a tensor of a's shape holding,
 *  in fixed point, a one-hot along `axis`: 1.0 at exactly one position of a
 *  maximum per row (the first of equal maxima), 0 elsewhere; it costs
 *  ceil(log2 levels) more rounds.  SPIN_ERR_INVAL for a bad axis or an empty
 *  axis (an empty batch gives empty results).  Inputs may be views. */
SPIN_API int spin_max(spin_ctx_t *ctx, const spin_tensor_t *a, int axis, spin_tensor_t **out,
                      spin_tensor_t **argmax);

typedef struct spin_pool2d_params {
    size_t kernel_h, kernel_w;   /**< >= 1 */
    size_t stride_h, stride_w;   /**< >= 1 */
    size_t pad_h, pad_w;         /**< < kernel; max pooling pads with -inf, average with 0 */
} spin_pool2d_params_t;

/** Max pooling of x [n][c][h][w] -> [n][c][oh][ow], exact; padding never
 *  wins.  If mask is not NULL it receives what spin_maxpool2d_backward
 *  needs: a tensor [kh*kw][n][c][oh][ow] holding, for each window, the
 *  one-hot of its first maximum over the kernel positions i*kw + j, as
 *  INTEGER 0/1 shares (not fixed point: 1 means 1, so that the backward
 *  product is exact without truncation). */
SPIN_API int spin_maxpool2d(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_pool2d_params_t *p,
                            spin_tensor_t **out, spin_tensor_t **mask);
/** Gradient with respect to x (of shape x_shape) from dy [n][c][oh][ow]
 *  and the mask: dy routed to each window's maximum, summed where windows
 *  overlap.  Exact; one round. */
SPIN_API int spin_maxpool2d_backward(spin_ctx_t *ctx, const spin_tensor_t *dy,
                                     const spin_tensor_t *mask, const spin_pool2d_params_t *p,
                                     const size_t x_shape[4], spin_tensor_t **out);
/** Average pooling (padding counts as zeros, divisor K = kernel_h *
 *  kernel_w, as PyTorch's count_include_pad) and its gradient; one round
 *  each.  Window sum times a public constant, truncated: within 1 ulp when
 *  K is a power of two (any range); otherwise times round(2^31/K),
 *  truncated by 31 bits, within 2 ulp while |window sum| < 2^(32-f) and
 *  valid while |mean| < 2^(31-f), the range of spin_mul's operands. */
SPIN_API int spin_avgpool2d(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_pool2d_params_t *p,
                            spin_tensor_t **out);
SPIN_API int spin_avgpool2d_backward(spin_ctx_t *ctx, const spin_tensor_t *dy,
                                     const spin_pool2d_params_t *p, const size_t x_shape[4],
                                     spin_tensor_t **out);

#ifdef __cplusplus
}
#endif

#endif /* SPIN_REDUCE_H */
