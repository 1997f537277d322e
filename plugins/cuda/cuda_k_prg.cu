/*
 * cuda_k_prg.cu - the AES-128-CTR PRG (layout in spin/plugin.h).
 *
 * Each block copies the instance's T-table (1 KiB, computed once at init
 * by k_aes_table from cuda_math.h's GF(2^8) arithmetic) into shared memory,
 * one thread expands the key, and every thread then encrypts whole counter
 * blocks (grid-stride), writing the one or two of its words that fall in
 * [first_word, first_word + n): a fill may start and end at odd words.
 *
 * Table lookups in shared memory take data-dependent time (bank conflicts);
 * see README.md on what that means for the keys.
 */
#include "cuda_k.cuh"

#define CK_PRG_MAX_BLOCKS 2048u

struct ck_key {
    uint8_t b[16];
};

__global__ void k_aes_table(uint32_t *t0)
{
    t0[threadIdx.x] = cm_aes_t0((uint8_t)threadIdx.x);
}

__global__ void __launch_bounds__(CK_THREADS)
k_prg(const uint32_t *t0g, ck_key key, uint64_t nonce, uint64_t first,
      uint64_t *out, size_t n, uint64_t nblocks)
{
    __shared__ uint32_t t0[256];
    __shared__ uint32_t rk[44];
    for (unsigned i = threadIdx.x; i < 256; i += blockDim.x) t0[i] = t0g[i];
    __syncthreads();
    if (threadIdx.x == 0) cm_aes128_expand(key.b, t0, rk);
    __syncthreads();
    const uint64_t b0 = first >> 1;
    for (uint64_t t = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; t < nblocks;
         t += (uint64_t)gridDim.x * blockDim.x) {
        const uint64_t blk = b0 + t;
        uint64_t w[2];
        cm_prg_block_words(rk, t0, nonce, blk, w);
        cm_prg_store(blk, first, n, w, out);
    }
}

extern "C" cudaError_t cuda_k_aes_table(cudaStream_t s, uint32_t *t0)
{
    k_aes_table<<<1, 256, 0, s>>>(t0);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_prg(cudaStream_t s, const uint32_t *t0,
                                  const uint8_t key[16], uint64_t nonce,
                                  uint64_t first_word, uint64_t *out, size_t n)
{
    ck_key k;
    for (int i = 0; i < 16; i++) k.b[i] = key[i];
    /* The caller checked first_word + n - 1 <= 2^64 - 1. */
    const uint64_t nblocks = cm_prg_nblocks(first_word, n);
    uint64_t grid = (nblocks + CK_THREADS - 1) / CK_THREADS;
    if (grid > CK_PRG_MAX_BLOCKS) grid = CK_PRG_MAX_BLOCKS;
    k_prg<<<(unsigned)grid, CK_THREADS, 0, s>>>(t0, k, nonce, first_word, out, n,
                                                 nblocks);
    return cudaGetLastError();
}
