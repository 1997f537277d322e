/*
 * cpu_internal.h - shared between the files of the cpu compute plugin.
 *
 * Everything declared here has hidden visibility (the plugin is built with
 * -fvisibility=hidden); the only exported symbol is spin_plugin_query().
 */
#ifndef SPIN_CPU_INTERNAL_H
#define SPIN_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <spin/plugin.h>

/* Element count above which element-wise kernels use OpenMP threads. */
#define CPU_PAR_MIN 65536
/* Elements per block of a threaded element-wise loop. */
#define CPU_EW_BLOCK 4096

/* Streams and events are real (small) objects, but the CPU runs every op
 * synchronously inside the call, so they carry no work. */
#define CPU_STREAM_MAGIC UINT32_C(0x5354524d) /* "STRM" */
#define CPU_EVENT_MAGIC  UINT32_C(0x45564e54) /* "EVNT" */

struct spin_stream { uint32_t magic; uint32_t pad; };
struct spin_event  { uint32_t magic; uint32_t recorded; };

typedef struct cpu_prg cpu_prg_t;

/* Ring GEMM micro-kernel: C (=|+=) Ap * Bp for one MR x NR tile. */
typedef void (*cpu_kernel_fn)(size_t kc, const uint64_t *ap, const uint64_t *bp,
                              uint64_t *c, size_t ldc, int add);

/* One plugin instance.  Instances share nothing; an instance is used by
 * one host thread at a time. */
typedef struct cpu_state {
    const spin_plugin_host_t *host;
    cpu_kernel_fn gemm_kernel; /* ring GEMM micro-kernel (cpu_gemm_select) */
    const char *gemm_kernel_name;
    int max_threads;           /* omp_get_max_threads() at init */
    cpu_prg_t *prg;            /* AES-CTR contexts (cpu_prg.c) */
    /* Ring GEMM packing buffer, kept between calls (first-touch page faults
     * on a fresh buffer per call cost more than a small GEMM itself). */
    uint64_t *gemm_buf;
    size_t gemm_buf_words;
} cpu_state_t;

/* Log one error line through the host logger and return SPIN_ERR_INVAL. */
int cpu_inval(const cpu_state_t *st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Same for another code. */
int cpu_fail(const cpu_state_t *st, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* a * b into *r; returns 0 on size_t overflow. */
static inline int cpu_mul_ok(size_t a, size_t b, size_t *r)
{
    return !__builtin_mul_overflow(a, b, r);
}

/* cpu_ring.c */
int cpu_ring_binary(void *state, spin_ring_binop_t op, uint64_t *z,
                    const uint64_t *x, const uint64_t *y, size_t n,
                    spin_stream_t *s);
int cpu_ring_scalar(void *state, spin_ring_scalarop_t op, uint64_t *z,
                    const uint64_t *x, uint64_t c, size_t n, spin_stream_t *s);
int cpu_ring_unary(void *state, spin_ring_unop_t op, uint64_t *z,
                   const uint64_t *x, size_t n, spin_stream_t *s);
int cpu_ring_from_f64(void *state, uint64_t *z, const double *x, size_t n,
                      unsigned f, spin_stream_t *s);
int cpu_ring_to_f64(void *state, double *z, const uint64_t *x, size_t n,
                    unsigned f, spin_stream_t *s);

/* cpu_gemm.c */
int cpu_gemm_check(const cpu_state_t *st, const spin_gemm_t *g,
                   const char *what);
int cpu_ring_gemm(void *state, const spin_gemm_t *g, spin_stream_t *s);

/* cpu_gemm_kernel.c: C (=|+=) Ap * Bp for one MR x NR tile. */
#define CPU_GEMM_MR 8
#define CPU_GEMM_NR 24
void cpu_gemm_kernel_generic(size_t kc, const uint64_t *ap, const uint64_t *bp,
                             uint64_t *c, size_t ldc, int add);
void cpu_gemm_kernel_avx512(size_t kc, const uint64_t *ap, const uint64_t *bp,
                            uint64_t *c, size_t ldc, int add);
void cpu_gemm_kernel_avx2(size_t kc, const uint64_t *ap, const uint64_t *bp,
                          uint64_t *c, size_t ldc, int add);
/* The best kernel this CPU runs, or the one named by want ("avx512",
 * "avx2", "generic"; NULL or "auto": best) when the CPU has it; returns the
 * name of the kernel chosen. */
const char *cpu_gemm_select(const char *want, cpu_kernel_fn *fn);

/* cpu_layout.c */
int cpu_im2col(void *state, const spin_conv_geom_t *g, void *col,
               const void *x, spin_stream_t *s);
int cpu_col2im(void *state, spin_dtype_t dt, const spin_conv_geom_t *g,
               void *x, const void *col, spin_stream_t *s);
int cpu_sum_axis(void *state, spin_dtype_t dt, void *y, const void *x,
                 size_t outer, size_t len, size_t inner, int accumulate,
                 spin_stream_t *s);

/* cpu_prg.c */
int cpu_prg_create(cpu_state_t *st, char *why, size_t whylen);
void cpu_prg_destroy(cpu_state_t *st);
int cpu_prg_fill(void *state, const spin_prg_key_t *key, uint64_t nonce,
                 uint64_t first_word, uint64_t *out, size_t n,
                 spin_stream_t *s);

/* cpu_f64.c */
int cpu_f64_gemm(void *state, const spin_gemm_t *g, spin_stream_t *s);
int cpu_f64_binary(void *state, spin_f64_binop_t op, double *z,
                   const double *x, const double *y, size_t n,
                   spin_stream_t *s);
int cpu_f64_scalar(void *state, spin_f64_scalarop_t op, double *z,
                   const double *x, double c, size_t n, spin_stream_t *s);
int cpu_f64_unary(void *state, spin_f64_unop_t op, double *z,
                  const double *x, size_t n, spin_stream_t *s);

#endif /* SPIN_CPU_INTERNAL_H */
