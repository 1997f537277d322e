/*
 * cuda_k.cuh - launch helpers shared by the kernel files (cuda_k_*.cu).
 * Element-wise kernels are grid-stride loops over size_t indices with
 * CK_THREADS threads per block and at most CK_MAX_BLOCKS blocks.
 */
#ifndef SPIN_CUDA_K_CUH
#define SPIN_CUDA_K_CUH

#include "cuda_internal.h"

#define CK_THREADS 256
#define CK_MAX_BLOCKS 65535u

/* Blocks for n elements (n > 0). */
static inline unsigned ck_blocks(size_t n)
{
    const size_t b = (n + CK_THREADS - 1) / CK_THREADS;
    return b > CK_MAX_BLOCKS ? CK_MAX_BLOCKS : (unsigned)b;
}

/* Blocks of a 2-D grid dimension limited to 65535. */
static inline unsigned ck_dim(size_t n)
{
    return n > 65535u ? 65535u : (unsigned)n;
}

#define CK_FOR(i, n)                                                          \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);  \
         i += (size_t)gridDim.x * blockDim.x)

#endif /* SPIN_CUDA_K_CUH */
