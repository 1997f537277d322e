/*
 * cpu_gemm_kernel.c - ring GEMM micro-kernels: one MR x NR (8 x 24) tile of
 * C, from a packed A micro-panel (kc x MR, k-major) and a packed B
 * micro-panel (kc x NR, k-major).  add = 0: C = Ap*Bp;  add = 1: C += Ap*Bp.
 * All arithmetic is mod 2^64 (uint64 wrap).
 *
 * The AVX-512 kernel keeps the 8 x 24 tile in 24 zmm accumulators (8 rows x
 * 3 vectors of 8 lanes); each k step loads 3 B vectors, broadcasts 8 A
 * values and issues 24 vpmullq + 24 vpaddq.  The AVX2 kernel (no 64-bit
 * vector multiply there) builds each product from three vpmuludq
 * (lo*lo + (lo*hi + hi*lo) << 32) on 4 x 8 sub-tiles.  Both are compiled with
 * target attributes and selected at run time (cpu_gemm_select), so the
 * plugin runs on any CPU, down to the portable C kernel.
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
    /* 2 x 4 sub-tiles: 8 scalar accumulators stay in registers. */
    for (int i0 = 0; i0 < CPU_GEMM_MR; i0 += 2) {
        for (int j0 = 0; j0 < CPU_GEMM_NR; j0 += 4) {
            uint64_t s00 = 0, s01 = 0, s02 = 0, s03 = 0;
            uint64_t s10 = 0, s11 = 0, s12 = 0, s13 = 0;
            const uint64_t *a = ap + i0, *b = bp + j0;
            for (size_t p = 0; p < kc; p++) {
                const uint64_t a0 = a[0], a1 = a[1];
                const uint64_t b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
                s00 += a0 * b0; s01 += a0 * b1; s02 += a0 * b2; s03 += a0 * b3;
                s10 += a1 * b0; s11 += a1 * b1; s12 += a1 * b2; s13 += a1 * b3;
                a += CPU_GEMM_MR;
                b += CPU_GEMM_NR;
            }
            uint64_t *c0 = c + (size_t)i0 * ldc + j0, *c1 = c0 + ldc;
            if (add) {
                c0[0] += s00; c0[1] += s01; c0[2] += s02; c0[3] += s03;
                c1[0] += s10; c1[1] += s11; c1[2] += s12; c1[3] += s13;
            } else {
                c0[0] = s00; c0[1] = s01; c0[2] = s02; c0[3] = s03;
                c1[0] = s10; c1[1] = s11; c1[2] = s12; c1[3] = s13;
            }
        }
    }
}

#ifdef CPU_HAVE_X86

static int have_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512dq");
}

static int have_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

/* One 4 x 8 sub-tile (rows i0.., columns j0..) of the AVX2 kernel. */
#define CPU_AVX2_MUL(acc, a, ah, b, bh)                                       \
    do {                                                                      \
        const __m256i lo_ = _mm256_mul_epu32(a, b);                           \
        const __m256i x_ = _mm256_add_epi64(_mm256_mul_epu32(ah, b),          \
                                            _mm256_mul_epu32(a, bh));         \
        acc = _mm256_add_epi64(acc, _mm256_add_epi64(lo_,                     \
                                    _mm256_slli_epi64(x_, 32)));              \
    } while (0)

__attribute__((target("avx2")))
static void avx2_subtile(size_t kc, const uint64_t *ap, const uint64_t *bp,
                         uint64_t *c, size_t ldc, int add)
{
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00;
    __m256i c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (size_t p = 0; p < kc; p++) {
        const __m256i b0 = _mm256_loadu_si256((const __m256i *)bp);
        const __m256i b1 = _mm256_loadu_si256((const __m256i *)(bp + 4));
        const __m256i b0h = _mm256_srli_epi64(b0, 32);
        const __m256i b1h = _mm256_srli_epi64(b1, 32);
        __m256i a, ah;
        a = _mm256_set1_epi64x((long long)ap[0]);
        ah = _mm256_set1_epi64x((long long)(ap[0] >> 32));
        CPU_AVX2_MUL(c00, a, ah, b0, b0h);
        CPU_AVX2_MUL(c01, a, ah, b1, b1h);
        a = _mm256_set1_epi64x((long long)ap[1]);
        ah = _mm256_set1_epi64x((long long)(ap[1] >> 32));
        CPU_AVX2_MUL(c10, a, ah, b0, b0h);
        CPU_AVX2_MUL(c11, a, ah, b1, b1h);
        a = _mm256_set1_epi64x((long long)ap[2]);
        ah = _mm256_set1_epi64x((long long)(ap[2] >> 32));
        CPU_AVX2_MUL(c20, a, ah, b0, b0h);
        CPU_AVX2_MUL(c21, a, ah, b1, b1h);
        a = _mm256_set1_epi64x((long long)ap[3]);
        ah = _mm256_set1_epi64x((long long)(ap[3] >> 32));
        CPU_AVX2_MUL(c30, a, ah, b0, b0h);
        CPU_AVX2_MUL(c31, a, ah, b1, b1h);
        ap += CPU_GEMM_MR;
        bp += CPU_GEMM_NR;
    }
    __m256i *r[4][2] = { { &c00, &c01 }, { &c10, &c11 }, { &c20, &c21 },
                         { &c30, &c31 } };
    for (int i = 0; i < 4; i++) {
        for (int v = 0; v < 2; v++) {
            __m256i *cp = (__m256i *)(c + (size_t)i * ldc + 4 * v);
            __m256i x = *r[i][v];
            if (add) x = _mm256_add_epi64(x, _mm256_loadu_si256(cp));
            _mm256_storeu_si256(cp, x);
        }
    }
}

__attribute__((target("avx2")))
void cpu_gemm_kernel_avx2(size_t kc, const uint64_t *ap, const uint64_t *bp,
                          uint64_t *c, size_t ldc, int add)
{
    for (int i0 = 0; i0 < CPU_GEMM_MR; i0 += 4)
        for (int j0 = 0; j0 < CPU_GEMM_NR; j0 += 8)
            avx2_subtile(kc, ap + i0, bp + j0, c + (size_t)i0 * ldc + j0, ldc, add);
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

static int have_avx512(void)
{
    return 0;
}

static int have_avx2(void)
{
    return 0;
}

void cpu_gemm_kernel_avx512(size_t kc, const uint64_t *ap, const uint64_t *bp,
                            uint64_t *c, size_t ldc, int add)
{
    cpu_gemm_kernel_generic(kc, ap, bp, c, ldc, add);
}

void cpu_gemm_kernel_avx2(size_t kc, const uint64_t *ap, const uint64_t *bp,
                          uint64_t *c, size_t ldc, int add)
{
    cpu_gemm_kernel_generic(kc, ap, bp, c, ldc, add);
}

#endif

const char *cpu_gemm_select(const char *want, cpu_kernel_fn *fn)
{
    const int a512 = have_avx512(), a2 = have_avx2();
    if (want && strcmp(want, "generic") == 0) {
        *fn = cpu_gemm_kernel_generic;
        return "generic";
    }
    if (want && strcmp(want, "avx2") == 0 && a2) {
        *fn = cpu_gemm_kernel_avx2;
        return "avx2";
    }
    /* auto (or a kernel this CPU lacks): the best one available */
    if (a512) {
        *fn = cpu_gemm_kernel_avx512;
        return "avx512";
    }
    if (a2) {
        *fn = cpu_gemm_kernel_avx2;
        return "avx2";
    }
    *fn = cpu_gemm_kernel_generic;
    return "generic";
}
