/*
 * cuda_k_layout.cu - im2col, col2im (gather: one thread per x element, no
 * atomics), sum_axis, and zeroing a batch of matrices.
 */
#include "cuda_k.cuh"

/* sum_axis uses one block per output when the outputs are at most this
 * many and the reduced axis at least CK_SUM_BLOCK_LEN long. */
#define CK_SUM_BLOCK_OUT 4096
#define CK_SUM_BLOCK_LEN 2048

__global__ void k_im2col(cm_geom_t g, uint64_t *col, const uint64_t *x, size_t cn)
{
    CK_FOR(e, cn) {
        const int64_t src = cm_im2col_src(&g, e);
        col[e] = src < 0 ? 0 : x[src];
    }
}

template <typename T>
__global__ void k_col2im(cm_geom_t g, T *x, const T *col, size_t xn)
{
    CK_FOR(e, xn) {
        T acc = 0;
#define CK_ADD(ci) acc += col[(ci)]
        CM_COL2IM_GATHER(&g, e, CK_ADD);
#undef CK_ADD
        x[e] = acc;
    }
}

/* One thread per output y[o][i], in the cpu plugin's order of additions. */
template <typename T>
__global__ void k_sum_thread(T *y, const T *x, size_t outer, size_t len,
                             size_t inner, int acc)
{
    CK_FOR(idx, outer * inner) {
        const size_t o = idx / inner, i = idx % inner;
        const T *xo = x + o * len * inner + i;
        if (inner == 1) {
            T s = 0;
            for (size_t l = 0; l < len; l++) s += xo[l];
            y[idx] = acc ? y[idx] + s : s;
        } else {
            T s = acc ? y[idx] : (T)0;
            for (size_t l = 0; l < len; l++) s += xo[l * inner];
            y[idx] = s;
        }
    }
}

/* One block per output: strided partial sums and a tree in shared memory. */
template <typename T>
__global__ void k_sum_block(T *y, const T *x, size_t outer, size_t len,
                            size_t inner, int acc)
{
    __shared__ T part[CK_THREADS];
    for (size_t idx = blockIdx.x; idx < outer * inner; idx += gridDim.x) {
        const size_t o = idx / inner, i = idx % inner;
        const T *xo = x + o * len * inner + i;
        T s = 0;
        for (size_t l = threadIdx.x; l < len; l += blockDim.x) s += xo[l * inner];
        part[threadIdx.x] = s;
        __syncthreads();
        for (unsigned w = blockDim.x / 2; w > 0; w >>= 1) {
            if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
            __syncthreads();
        }
        if (threadIdx.x == 0) y[idx] = acc ? y[idx] + part[0] : part[0];
        __syncthreads();
    }
}

__global__ void k_zero_matrix(uint64_t *c, size_t rows, size_t cols, size_t ld,
                              size_t batch, size_t stride)
{
    const size_t per = rows * cols;
    CK_FOR(idx, batch * per) {
        const size_t b = idx / per, r = idx % per / cols, j = idx % cols;
        c[b * stride + r * ld + j] = 0;
    }
}

extern "C" cudaError_t cuda_k_im2col(cudaStream_t s, const cm_geom_t *g,
                                     uint64_t *col, const uint64_t *x, size_t cn)
{
    k_im2col<<<ck_blocks(cn), CK_THREADS, 0, s>>>(*g, col, x, cn);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_col2im(cudaStream_t s, int f64, const cm_geom_t *g,
                                     void *x, const void *col, size_t xn)
{
    if (f64)
        k_col2im<double><<<ck_blocks(xn), CK_THREADS, 0, s>>>(
            *g, (double *)x, (const double *)col, xn);
    else
        k_col2im<uint64_t><<<ck_blocks(xn), CK_THREADS, 0, s>>>(
            *g, (uint64_t *)x, (const uint64_t *)col, xn);
    return cudaGetLastError();
}

template <typename T>
static void sum_axis_launch(cudaStream_t s, T *y, const T *x, size_t outer,
                            size_t len, size_t inner, int acc)
{
    const size_t ny = outer * inner;
    if (ny <= CK_SUM_BLOCK_OUT && len >= CK_SUM_BLOCK_LEN)
        k_sum_block<T><<<ck_dim(ny), CK_THREADS, 0, s>>>(y, x, outer, len, inner, acc);
    else
        k_sum_thread<T><<<ck_blocks(ny), CK_THREADS, 0, s>>>(y, x, outer, len, inner,
                                                             acc);
}

extern "C" cudaError_t cuda_k_sum_axis(cudaStream_t s, int f64, void *y,
                                       const void *x, size_t outer, size_t len,
                                       size_t inner, int acc)
{
    if (f64)
        sum_axis_launch<double>(s, (double *)y, (const double *)x, outer, len, inner,
                                acc);
    else
        sum_axis_launch<uint64_t>(s, (uint64_t *)y, (const uint64_t *)x, outer, len,
                                  inner, acc);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_zero_matrix(cudaStream_t s, void *c, size_t rows,
                                          size_t cols, size_t ld, size_t batch,
                                          size_t stride)
{
    k_zero_matrix<<<ck_blocks(batch * rows * cols), CK_THREADS, 0, s>>>(
        (uint64_t *)c, rows, cols, ld, batch, stride);
    return cudaGetLastError();
}
