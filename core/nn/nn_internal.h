/* nn_internal.h - helpers shared by the layers (nn.c, nn_batchnorm.c).
 * Public headers only: the layers are built on the public protocols of
 * spin/mpc.h, spin/functions.h and spin/reduce.h (README.md). */
#ifndef SPIN_NN_INTERNAL_H
#define SPIN_NN_INTERNAL_H

#include <spin/mpc.h>
#include <spin/functions.h>
#include <spin/nn.h>
#include <spin/reduce.h>

#define NN_ERR(ctx, ...) spin_log(spin_ctx_logger(ctx), SPIN_LOG_ERROR, __VA_ARGS__)

/* SPIN_ERR_INVAL (with a message naming `what`) on a NULL or dealer
 * context (nn.c). */
int nn_check_party(spin_ctx_t *ctx, const char *what);
/* A view of t's elements in row-major order with another shape of as many
 * elements (a contiguous copy first when t is not contiguous); free it
 * with spin_tensor_free (nn.c). */
int nn_view_as(const spin_tensor_t *t, int ndim, const size_t *shape, spin_tensor_t **out);

#endif
