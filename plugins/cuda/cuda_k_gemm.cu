/*
 * cuda_k_gemm.cu - ring GEMM kernels.
 *
 *   k_gemm_native   64 x 64 tile of C per block of 256 threads, 4 x 4
 *                   outputs per thread, K in steps of 16 through shared
 *                   memory; transposes, leading dimensions, batch strides
 *                   (0 = broadcast) and accumulate handled in the loads and
 *                   the final store.  64-bit multiply-adds (mod 2^64).
 *   k_limb_split    32 x 32 tiles of op(A) or op(B) (rows x K): loaded along
 *                   whichever dimension is contiguous in memory, stored as
 *                   16-bit limbs (float64) or signed 8-bit digits (int8) in
 *                   the packed K-contiguous layout of cuda_math.h.
 *   k_limb_combine  C (=|+=) sum_s 2^(bits s) C_s.
 */
#include "cuda_k.cuh"

#define NT_BM 64
#define NT_BN 64
#define NT_BK 16

__global__ void __launch_bounds__(256)
k_gemm_native(const uint64_t *a, size_t lda, size_t sa, int ta,
              const uint64_t *b, size_t ldb, size_t sb, int tb,
              uint64_t *c, size_t ldc, size_t sc, size_t m, size_t n, size_t k,
              int acc, size_t ioff, size_t zoff)
{
    __shared__ uint64_t As[NT_BK][NT_BM + 1];
    __shared__ uint64_t Bs[NT_BK][NT_BN + 1];
    const size_t z = zoff + blockIdx.z;
    a += z * sa;
    b += z * sb;
    c += z * sc;
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const size_t i0 = ioff + (size_t)blockIdx.y * NT_BM;
    const size_t j0 = (size_t)blockIdx.x * NT_BN;
    uint64_t accv[4][4];
#pragma unroll
    for (int r = 0; r < 4; r++)
#pragma unroll
        for (int q = 0; q < 4; q++) accv[r][q] = 0;
    for (size_t p0 = 0; p0 < k; p0 += NT_BK) {
        /* Tiles of op(A) (64 x 16) and op(B) (16 x 64); consecutive threads
         * walk the dimension that is contiguous in memory. */
        for (int e = tid; e < NT_BM * NT_BK; e += 256) {
            const int r = ta ? e % NT_BM : e / NT_BK;
            const int q = ta ? e / NT_BM : e % NT_BK;
            const size_t gi = i0 + r, gp = p0 + q;
            As[q][r] = gi < m && gp < k ? (ta ? a[gp * lda + gi] : a[gi * lda + gp]) : 0;
        }
        for (int e = tid; e < NT_BN * NT_BK; e += 256) {
            const int col = tb ? e / NT_BK : e % NT_BN;
            const int q = tb ? e % NT_BK : e / NT_BN;
            const size_t gj = j0 + col, gp = p0 + q;
            Bs[q][col] = gj < n && gp < k ? (tb ? b[gj * ldb + gp] : b[gp * ldb + gj]) : 0;
        }
        __syncthreads();
#pragma unroll
        for (int q = 0; q < NT_BK; q++) {
            uint64_t av[4], bv[4];
#pragma unroll
            for (int r = 0; r < 4; r++) av[r] = As[q][ty + 16 * r];
#pragma unroll
            for (int u = 0; u < 4; u++) bv[u] = Bs[q][tx + 16 * u];
#pragma unroll
            for (int r = 0; r < 4; r++)
#pragma unroll
                for (int u = 0; u < 4; u++) accv[r][u] += av[r] * bv[u];
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < 4; r++) {
        const size_t gi = i0 + ty + 16 * r;
        if (gi >= m) continue;
#pragma unroll
        for (int u = 0; u < 4; u++) {
            const size_t gj = j0 + tx + 16 * u;
            if (gj >= n) continue;
            uint64_t *cp = c + gi * ldc + gj;
            *cp = acc ? *cp + accv[r][u] : accv[r][u];
        }
    }
}

template <int BITS>
__global__ void k_limb_split(const uint64_t *src, size_t rows, size_t k0, size_t kc,
                             size_t rs, size_t ps, size_t stride, int rev, void *dst,
                             size_t kp, size_t roff, size_t zoff)
{
    __shared__ uint64_t tile[32][33];   /* [row][p] */
    const size_t z = zoff + blockIdx.z;
    const uint64_t *S = src + z * stride;
    const size_t p_base = (size_t)blockIdx.x * 32;
    const size_t r_base = roff + (size_t)blockIdx.y * 32;
    const int tx = threadIdx.x, ty = threadIdx.y;
    if (ps == 1) {
        for (int yy = ty; yy < 32; yy += 8) {
            const size_t r = r_base + yy, p = p_base + tx;
            tile[yy][tx] = r < rows && p < kc ? S[r * rs + k0 + p] : 0;
        }
    } else {
        for (int yy = ty; yy < 32; yy += 8) {
            const size_t r = r_base + tx, p = p_base + yy;
            tile[tx][yy] = r < rows && p < kc ? S[r * rs + (k0 + p) * ps] : 0;
        }
    }
    __syncthreads();
    const int L = BITS == 16 ? CM_LIMB16_L : CM_INT8_L;
    for (int yy = ty; yy < 32; yy += 8) {
        const size_t r = r_base + yy, p = p_base + tx;
        if (r >= rows || p >= kp) continue;
        const uint64_t v = tile[yy][tx];
        const size_t row = (z * rows + r) * (size_t)L * kp;
        if (BITS == 16) {
            double *o = (double *)dst + row;
#pragma unroll
            for (int l = 0; l < CM_LIMB16_L; l++)
                o[cm_pack_pos(L, rev, l, kp, p)] = cm_limb16(v, l);
        } else {
            int8_t d[CM_INT8_L];
            cm_digits8(v, d);
            int8_t *o = (int8_t *)dst + row;
#pragma unroll
            for (int l = 0; l < CM_INT8_L; l++) o[cm_pack_pos(L, rev, l, kp, p)] = d[l];
        }
    }
}

template <int BITS>
__global__ void k_limb_combine(const void *cs, size_t m, size_t n, size_t ldcs,
                               size_t batch, uint64_t *c, size_t ldc,
                               size_t stride_c, int acc)
{
    const size_t mn = m * n, plane = batch * m * ldcs;
    CK_FOR(idx, batch * mn) {
        const size_t b = idx / mn, i = idx % mn / n, j = idx % n;
        const size_t at = (b * m + i) * ldcs + j;
        uint64_t r;
        if (BITS == 16) {
            double v[CM_LIMB16_L];
#pragma unroll
            for (int s = 0; s < CM_LIMB16_L; s++) v[s] = ((const double *)cs)[s * plane + at];
            r = cm_combine16(v);
        } else {
            int32_t v[CM_INT8_L];
#pragma unroll
            for (int s = 0; s < CM_INT8_L; s++) v[s] = ((const int32_t *)cs)[s * plane + at];
            r = cm_combine8(v);
        }
        uint64_t *cp = c + b * stride_c + i * ldc + j;
        *cp = acc ? *cp + r : r;
    }
}

extern "C" cudaError_t cuda_k_gemm_native(cudaStream_t s, const spin_gemm_t *g)
{
    const size_t gy = (g->m + NT_BM - 1) / NT_BM;
    const unsigned gx = (unsigned)((g->n + NT_BN - 1) / NT_BN);
    for (size_t z0 = 0; z0 < g->batch; z0 += 65535u)
        for (size_t y0 = 0; y0 < gy; y0 += 65535u) {
            const dim3 grid(gx, ck_dim(gy - y0), ck_dim(g->batch - z0));
            k_gemm_native<<<grid, 256, 0, s>>>(
                (const uint64_t *)g->a, g->lda, g->stride_a, g->trans_a != 0,
                (const uint64_t *)g->b, g->ldb, g->stride_b, g->trans_b != 0,
                (uint64_t *)g->c, g->ldc, g->stride_c, g->m, g->n, g->k,
                g->accumulate != 0, y0 * NT_BM, z0);
            const cudaError_t e = cudaGetLastError();
            if (e != cudaSuccess) return e;
        }
    return cudaSuccess;
}

extern "C" cudaError_t cuda_k_limb_split(cudaStream_t s, int limb_bits, int rev,
                                         const uint64_t *src, size_t rows, size_t k0,
                                         size_t kc, size_t rs, size_t ps,
                                         size_t stride, size_t batch, void *dst,
                                         size_t kp)
{
    const unsigned gx = (unsigned)((kp + 31) / 32);
    const size_t gy = (rows + 31) / 32;
    const dim3 block(32, 8);
    for (size_t z0 = 0; z0 < batch; z0 += 65535u)
        for (size_t y0 = 0; y0 < gy; y0 += 65535u) {
            const dim3 grid(gx, ck_dim(gy - y0), ck_dim(batch - z0));
            if (limb_bits == 16)
                k_limb_split<16><<<grid, block, 0, s>>>(src, rows, k0, kc, rs, ps,
                                                        stride, rev, dst, kp, y0 * 32,
                                                        z0);
            else
                k_limb_split<8><<<grid, block, 0, s>>>(src, rows, k0, kc, rs, ps,
                                                       stride, rev, dst, kp, y0 * 32,
                                                       z0);
            const cudaError_t e = cudaGetLastError();
            if (e != cudaSuccess) return e;
        }
    return cudaSuccess;
}

extern "C" cudaError_t cuda_k_limb_combine(cudaStream_t s, int limb_bits,
                                           const void *cs, size_t m, size_t n,
                                           size_t ldcs, size_t batch, uint64_t *c,
                                           size_t ldc, size_t stride_c, int acc)
{
    const unsigned blocks = ck_blocks(batch * m * n);
    if (limb_bits == 16)
        k_limb_combine<16><<<blocks, CK_THREADS, 0, s>>>(cs, m, n, ldcs, batch, c,
                                                         ldc, stride_c, acc);
    else
        k_limb_combine<8><<<blocks, CK_THREADS, 0, s>>>(cs, m, n, ldcs, batch, c,
                                                        ldc, stride_c, acc);
    return cudaGetLastError();
}
