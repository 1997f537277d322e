/*
 * cuda_k_ew.cu - element-wise kernels: ring ops, fixed-point conversions,
 * float64 ops.  One template instance per op (the op is a compile-time
 * constant, so cuda_math.h's switch folds away); z may alias x or y
 * exactly, since each element is read before it is written.
 */
#include "cuda_k.cuh"

template <int OP>
__global__ void k_ring_binary(uint64_t *z, const uint64_t *x, const uint64_t *y,
                              size_t n)
{
    CK_FOR(i, n) z[i] = cm_ring_binop(OP, x[i], y[i]);
}

template <int OP>
__global__ void k_ring_scalar(uint64_t *z, const uint64_t *x, uint64_t c, size_t n)
{
    CK_FOR(i, n) z[i] = cm_ring_scalarop(OP, x[i], c);
}

template <int OP>
__global__ void k_ring_unary(uint64_t *z, const uint64_t *x, size_t n)
{
    CK_FOR(i, n) z[i] = cm_ring_unop(OP, x[i]);
}

template <int OP>
__global__ void k_f64_binary(double *z, const double *x, const double *y, size_t n)
{
    CK_FOR(i, n) z[i] = cm_f64_binop(OP, x[i], y[i]);
}

template <int OP>
__global__ void k_f64_scalar(double *z, const double *x, double c, size_t n)
{
    CK_FOR(i, n) z[i] = cm_f64_scalarop(OP, x[i], c);
}

template <int OP>
__global__ void k_f64_unary(double *z, const double *x, size_t n)
{
    CK_FOR(i, n) z[i] = cm_f64_unop(OP, x[i]);
}

__global__ void k_fix_check(const double *x, size_t n, double lim,
                            unsigned long long *bad)
{
    CK_FOR(i, n)
        if (!cm_fix_in_range(x[i], lim)) atomicMin(bad, (unsigned long long)i);
}

__global__ void k_fix_from_f64(uint64_t *z, const double *x, size_t n, double scale)
{
    CK_FOR(i, n) z[i] = cm_fix_from_f64(x[i], scale);
}

__global__ void k_fix_to_f64(double *z, const uint64_t *x, size_t n, double inv)
{
    CK_FOR(i, n) z[i] = cm_fix_to_f64(x[i], inv);
}

__global__ void k_probe(void)
{
}

/* One case of a launcher's switch: kernel K for op OP. */
#define CK_CASE(K, OP, ...)                                                   \
    case OP:                                                                  \
        K<OP><<<ck_blocks(n), CK_THREADS, 0, s>>>(__VA_ARGS__);               \
        break

extern "C" cudaError_t cuda_k_ring_binary(cudaStream_t s, int op, uint64_t *z,
                                          const uint64_t *x, const uint64_t *y,
                                          size_t n)
{
    switch (op) {
    CK_CASE(k_ring_binary, SPIN_RING_ADD, z, x, y, n);
    CK_CASE(k_ring_binary, SPIN_RING_SUB, z, x, y, n);
    CK_CASE(k_ring_binary, SPIN_RING_MUL, z, x, y, n);
    CK_CASE(k_ring_binary, SPIN_RING_AND, z, x, y, n);
    CK_CASE(k_ring_binary, SPIN_RING_XOR, z, x, y, n);
    CK_CASE(k_ring_binary, SPIN_RING_OR, z, x, y, n);
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_ring_scalar(cudaStream_t s, int op, uint64_t *z,
                                          const uint64_t *x, uint64_t c, size_t n)
{
    switch (op) {
    CK_CASE(k_ring_scalar, SPIN_RING_ADD_S, z, x, c, n);
    CK_CASE(k_ring_scalar, SPIN_RING_SUB_S, z, x, c, n);
    CK_CASE(k_ring_scalar, SPIN_RING_MUL_S, z, x, c, n);
    CK_CASE(k_ring_scalar, SPIN_RING_AND_S, z, x, c, n);
    CK_CASE(k_ring_scalar, SPIN_RING_XOR_S, z, x, c, n);
    CK_CASE(k_ring_scalar, SPIN_RING_SHL_S, z, x, c, n);
    CK_CASE(k_ring_scalar, SPIN_RING_SHR_S, z, x, c, n);
    CK_CASE(k_ring_scalar, SPIN_RING_SAR_S, z, x, c, n);
    CK_CASE(k_ring_scalar, SPIN_RING_RSUB_S, z, x, c, n);
    CK_CASE(k_ring_scalar, SPIN_RING_OR_S, z, x, c, n);
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_ring_unary(cudaStream_t s, int op, uint64_t *z,
                                         const uint64_t *x, size_t n)
{
    switch (op) {
    CK_CASE(k_ring_unary, SPIN_RING_NEG, z, x, n);
    CK_CASE(k_ring_unary, SPIN_RING_NOT, z, x, n);
    CK_CASE(k_ring_unary, SPIN_RING_COPY, z, x, n);
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_f64_binary(cudaStream_t s, int op, double *z,
                                         const double *x, const double *y, size_t n)
{
    switch (op) {
    CK_CASE(k_f64_binary, SPIN_F64_ADD, z, x, y, n);
    CK_CASE(k_f64_binary, SPIN_F64_SUB, z, x, y, n);
    CK_CASE(k_f64_binary, SPIN_F64_MUL, z, x, y, n);
    CK_CASE(k_f64_binary, SPIN_F64_DIV, z, x, y, n);
    CK_CASE(k_f64_binary, SPIN_F64_MAX, z, x, y, n);
    CK_CASE(k_f64_binary, SPIN_F64_MIN, z, x, y, n);
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_f64_scalar(cudaStream_t s, int op, double *z,
                                         const double *x, double c, size_t n)
{
    switch (op) {
    CK_CASE(k_f64_scalar, SPIN_F64_ADD_S, z, x, c, n);
    CK_CASE(k_f64_scalar, SPIN_F64_MUL_S, z, x, c, n);
    CK_CASE(k_f64_scalar, SPIN_F64_MAX_S, z, x, c, n);
    CK_CASE(k_f64_scalar, SPIN_F64_MIN_S, z, x, c, n);
    CK_CASE(k_f64_scalar, SPIN_F64_RSUB_S, z, x, c, n);
    CK_CASE(k_f64_scalar, SPIN_F64_POW_S, z, x, c, n);
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_f64_unary(cudaStream_t s, int op, double *z,
                                        const double *x, size_t n)
{
    switch (op) {
    CK_CASE(k_f64_unary, SPIN_F64_NEG, z, x, n);
    CK_CASE(k_f64_unary, SPIN_F64_EXP, z, x, n);
    CK_CASE(k_f64_unary, SPIN_F64_LOG, z, x, n);
    CK_CASE(k_f64_unary, SPIN_F64_SQRT, z, x, n);
    CK_CASE(k_f64_unary, SPIN_F64_RSQRT, z, x, n);
    CK_CASE(k_f64_unary, SPIN_F64_RECIP, z, x, n);
    CK_CASE(k_f64_unary, SPIN_F64_TANH, z, x, n);
    CK_CASE(k_f64_unary, SPIN_F64_SIGMOID, z, x, n);
    CK_CASE(k_f64_unary, SPIN_F64_ERF, z, x, n);
    CK_CASE(k_f64_unary, SPIN_F64_RELU, z, x, n);
    CK_CASE(k_f64_unary, SPIN_F64_ABS, z, x, n);
    CK_CASE(k_f64_unary, SPIN_F64_COPY, z, x, n);
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_fix_check(cudaStream_t s, const double *x, size_t n,
                                        double lim, unsigned long long *bad)
{
    k_fix_check<<<ck_blocks(n), CK_THREADS, 0, s>>>(x, n, lim, bad);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_fix_from_f64(cudaStream_t s, uint64_t *z,
                                           const double *x, size_t n, double scale)
{
    k_fix_from_f64<<<ck_blocks(n), CK_THREADS, 0, s>>>(z, x, n, scale);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_fix_to_f64(cudaStream_t s, double *z,
                                         const uint64_t *x, size_t n, double inv)
{
    k_fix_to_f64<<<ck_blocks(n), CK_THREADS, 0, s>>>(z, x, n, inv);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_probe(void)
{
    cudaFuncAttributes a;
    return cudaFuncGetAttributes(&a, k_probe);
}
