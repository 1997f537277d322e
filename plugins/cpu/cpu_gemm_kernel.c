/*
 * cpu_gemm_kernel.c - ring GEMM micro-kernels: one MR x NR (8 x 24) tile of
 * C, from a packed A micro-panel (kc x MR, k-major) and a packed B
 * micro-panel (kc x NR, k-major).  add = 0: C = Ap*Bp;  add = 1: C += Ap*Bp.
 * All arithmetic is mod 2^64 (uint64 wrap).
 *
 * The AVX-512 kernel keeps the 8 x 24 tile in 24 zmm accumulators (8 rows x
 * 3 vectors of 8 lanes); each k step loads 3 B vectors, broadcasts 8 A
 * values and issues 24 vpmullq + 24 vpaddq.  It is compiled with a target
 * attribute and selected at run time, so the plugin runs on CPUs without
 * AVX-512 using the portable kernel.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "cpu_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define CPU_HAVE_X86 1
#include <immintrin.h>
#endif

void cpu_gemm_kernel_generic(size_t kc, const uint64_t *ap, const uint64_t *bp,
                             uint64_t *c, size_t ldc, int add)
{
    uint64_t acc[CPU_GEMM_MR][CPU_GEMM_NR];
    memset(acc, 0, sizeof acc);
    for (size_t p = 0; p < kc; p++) {
        const uint64_t *a = ap + p * CPU_GEMM_MR;
        const uint64_t *b = bp + p * CPU_GEMM_NR;
        for (int i = 0; i < CPU_GEMM_MR; i++) {
            const uint64_t ai = a[i];
            #pragma omp simd
            for (int j = 0; j < CPU_GEMM_NR; j++) acc[i][j] += ai * b[j];
        }
    }
    for (int i = 0; i < CPU_GEMM_MR; i++) {
        uint64_t *ci = c + (size_t)i * ldc;
        if (add) {
            for (int j = 0; j < CPU_GEMM_NR; j++) ci[j] += acc[i][j];
        } else {
            for (int j = 0; j < CPU_GEMM_NR; j++) ci[j] = acc[i][j];
        }
    }
}

#ifdef CPU_HAVE_X86

int cpu_gemm_have_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512dq");
}

#define CPU_ROW_DECL(i) __m512i c##i##0 = z, c##i##1 = z, c##i##2 = z
#define CPU_ROW_STEP(i)                                                       \
    do {                                                                      \
        const __m512i x = _mm512_set1_epi64((long long)a[i]);                 \
        c##i##0 = _mm512_add_epi64(c##i##0, _mm512_mullo_epi64(x, b0));       \
        c##i##1 = _mm512_add_epi64(c##i##1, _mm512_mullo_epi64(x, b1));       \
        c##i##2 = _mm512_add_epi64(c##i##2, _mm512_mullo_epi64(x, b2));       \
    } while (0)
#define CPU_ROW_STORE(i)                                                      \
    do {                                                                      \
        uint64_t *ci = c + (size_t)(i) * ldc;                                 \
        if (add) {                                                            \
            c##i##0 = _mm512_add_epi64(c##i##0, _mm512_loadu_si512(ci));      \
            c##i##1 = _mm512_add_epi64(c##i##1, _mm512_loadu_si512(ci + 8));  \
            c##i##2 = _mm512_add_epi64(c##i##2, _mm512_loadu_si512(ci + 16)); \
        }                                                                     \
        _mm512_storeu_si512(ci, c##i##0);                                     \
        _mm512_storeu_si512(ci + 8, c##i##1);                                 \
        _mm512_storeu_si512(ci + 16, c##i##2);                                \
    } while (0)

/* GCC's partial PRE (on at -O3) makes this loop spill accumulators to the
 * stack on every iteration (about 25% slower); keep it off here. */
#if defined(__clang__)
#define CPU_KERNEL_ATTR __attribute__((target("avx512f,avx512dq")))
#else
#define CPU_KERNEL_ATTR \
    __attribute__((target("avx512f,avx512dq"), optimize("no-tree-partial-pre")))
#endif

CPU_KERNEL_ATTR
void cpu_gemm_kernel_avx512(size_t kc, const uint64_t *ap, const uint64_t *bp,
                            uint64_t *c, size_t ldc, int add)
{
    /* C is touched only at the end: start fetching it now (it is usually
     * far out of cache and its rows are ldc apart). */
    for (int i = 0; i < CPU_GEMM_MR; i++) {
        const char *ci = (const char *)(c + (size_t)i * ldc);
        _mm_prefetch(ci, _MM_HINT_T0);
        _mm_prefetch(ci + 64, _MM_HINT_T0);
        _mm_prefetch(ci + 128, _MM_HINT_T0);
        _mm_prefetch(ci + 191, _MM_HINT_T0);
    }
    const __m512i z = _mm512_setzero_si512();
    CPU_ROW_DECL(0); CPU_ROW_DECL(1); CPU_ROW_DECL(2); CPU_ROW_DECL(3);
    CPU_ROW_DECL(4); CPU_ROW_DECL(5); CPU_ROW_DECL(6); CPU_ROW_DECL(7);
    const uint64_t *a = ap;
    const uint64_t *b = bp;
    for (size_t p = 0; p < kc; p++) {
        const __m512i b0 = _mm512_load_si512(b);
        const __m512i b1 = _mm512_load_si512(b + 8);
        const __m512i b2 = _mm512_load_si512(b + 16);
        CPU_ROW_STEP(0); CPU_ROW_STEP(1); CPU_ROW_STEP(2); CPU_ROW_STEP(3);
        CPU_ROW_STEP(4); CPU_ROW_STEP(5); CPU_ROW_STEP(6); CPU_ROW_STEP(7);
        a += CPU_GEMM_MR;
        b += CPU_GEMM_NR;
    }
    CPU_ROW_STORE(0); CPU_ROW_STORE(1); CPU_ROW_STORE(2); CPU_ROW_STORE(3);
    CPU_ROW_STORE(4); CPU_ROW_STORE(5); CPU_ROW_STORE(6); CPU_ROW_STORE(7);
}

#else /* !CPU_HAVE_X86 */

int cpu_gemm_have_avx512(void)
{
    return 0;
}

void cpu_gemm_kernel_avx512(size_t kc, const uint64_t *ap, const uint64_t *bp,
                            uint64_t *c, size_t ldc, int add)
{
    cpu_gemm_kernel_generic(kc, ap, bp, c, ldc, add);
}

#endif
