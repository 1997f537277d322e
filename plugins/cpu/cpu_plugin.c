/*
 * cpu_plugin.c - the cpu compute plugin: descriptor, init/fini, memory,
 * streams and events.
 *
 * Memory is ordinary host memory (64-byte aligned).  Every op runs
 * synchronously inside the call (using OpenMP threads for large inputs), so
 * streams and events are small real objects that carry no pending work.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_internal.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

/* ------------------------------------------------------------------------ */
/* Logging helpers.                                                         */
/* ------------------------------------------------------------------------ */

static void cpu_vlog_error(const cpu_state_t *st, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    spin_log(st && st->host ? st->host->log : NULL, SPIN_LOG_ERROR, "cpu: %s",
             msg);
}

int cpu_inval(const cpu_state_t *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cpu_vlog_error(st, fmt, ap);
    va_end(ap);
    return SPIN_ERR_INVAL;
}

int cpu_fail(const cpu_state_t *st, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cpu_vlog_error(st, fmt, ap);
    va_end(ap);
    return code;
}

/* ------------------------------------------------------------------------ */
/* Memory.                                                                  */
/* ------------------------------------------------------------------------ */

static int cpu_mem_alloc(void *state, size_t bytes, void **ptr)
{
    cpu_state_t *st = state;
    if (!ptr) return cpu_inval(st, "mem_alloc: ptr is NULL");
    /* aligned_alloc wants a multiple of the alignment; 0 bytes still gets a
     * unique pointer. */
    size_t sz = bytes == 0 ? 64 : bytes;
    if (sz > SIZE_MAX - 63)
        return cpu_fail(st, SPIN_ERR_NOMEM, "mem_alloc: %zu bytes is too large",
                        bytes);
    sz = (sz + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, sz);
    if (!p)
        return cpu_fail(st, SPIN_ERR_NOMEM, "mem_alloc: out of memory (%zu bytes)",
                        bytes);
    *ptr = p;
    return SPIN_OK;
}

static int cpu_mem_free(void *state, void *ptr)
{
    (void)state;
    free(ptr);
    return SPIN_OK;
}

static int cpu_copy(cpu_state_t *st, const char *what, void *dst,
                    const void *src, size_t bytes)
{
    if (bytes == 0) return SPIN_OK;
    if (!dst || !src)
        return cpu_inval(st, "%s: NULL %s with %zu bytes", what,
                         dst ? "src" : "dst", bytes);
    if (dst != src) memmove(dst, src, bytes);
    return SPIN_OK;
}

static int cpu_copy_h2d(void *state, void *dst, const void *src, size_t bytes,
                        spin_stream_t *s)
{
    (void)s;
    return cpu_copy(state, "copy_h2d", dst, src, bytes);
}

static int cpu_copy_d2h(void *state, void *dst, const void *src, size_t bytes,
                        spin_stream_t *s)
{
    (void)s;
    return cpu_copy(state, "copy_d2h", dst, src, bytes);
}

static int cpu_copy_d2d(void *state, void *dst, const void *src, size_t bytes,
                        spin_stream_t *s)
{
    (void)s;
    return cpu_copy(state, "copy_d2d", dst, src, bytes);
}

static int cpu_mem_zero(void *state, void *dst, size_t bytes, spin_stream_t *s)
{
    (void)s;
    if (bytes == 0) return SPIN_OK;
    if (!dst) return cpu_inval(state, "mem_zero: NULL dst with %zu bytes", bytes);
    memset(dst, 0, bytes);
    return SPIN_OK;
}

/* ------------------------------------------------------------------------ */
/* Streams and events: the CPU runs each op synchronously, so a stream is    */
/* always idle and an event is complete as soon as it is recorded.          */
/* ------------------------------------------------------------------------ */

static int cpu_stream_create(void *state, spin_stream_t **s)
{
    if (!s) return cpu_inval(state, "stream_create: s is NULL");
    spin_stream_t *p = calloc(1, sizeof *p);
    if (!p) return cpu_fail(state, SPIN_ERR_NOMEM, "stream_create: out of memory");
    p->magic = CPU_STREAM_MAGIC;
    *s = p;
    return SPIN_OK;
}

static int cpu_check_stream(cpu_state_t *st, const char *what, spin_stream_t *s)
{
    if (s && s->magic != CPU_STREAM_MAGIC)
        return cpu_inval(st, "%s: not a stream of the cpu plugin", what);
    return SPIN_OK;
}

static int cpu_check_event(cpu_state_t *st, const char *what, spin_event_t *e)
{
    if (!e) return cpu_inval(st, "%s: event is NULL", what);
    if (e->magic != CPU_EVENT_MAGIC)
        return cpu_inval(st, "%s: not an event of the cpu plugin", what);
    return SPIN_OK;
}

static int cpu_stream_destroy(void *state, spin_stream_t *s)
{
    if (!s) return SPIN_OK; /* the default stream is never destroyed */
    int rc = cpu_check_stream(state, "stream_destroy", s);
    if (rc) return rc;
    s->magic = 0;
    free(s);
    return SPIN_OK;
}

static int cpu_stream_sync(void *state, spin_stream_t *s)
{
    return cpu_check_stream(state, "stream_sync", s);
}

static int cpu_event_create(void *state, spin_event_t **e)
{
    if (!e) return cpu_inval(state, "event_create: e is NULL");
    spin_event_t *p = calloc(1, sizeof *p);
    if (!p) return cpu_fail(state, SPIN_ERR_NOMEM, "event_create: out of memory");
    p->magic = CPU_EVENT_MAGIC;
    *e = p;
    return SPIN_OK;
}

static int cpu_event_destroy(void *state, spin_event_t *e)
{
    if (!e) return SPIN_OK;
    int rc = cpu_check_event(state, "event_destroy", e);
    if (rc) return rc;
    e->magic = 0;
    free(e);
    return SPIN_OK;
}

static int cpu_event_record(void *state, spin_event_t *e, spin_stream_t *s)
{
    int rc = cpu_check_event(state, "event_record", e);
    if (!rc) rc = cpu_check_stream(state, "event_record", s);
    if (rc) return rc;
    e->recorded = 1;
    return SPIN_OK;
}

static int cpu_stream_wait_event(void *state, spin_stream_t *s, spin_event_t *e)
{
    int rc = cpu_check_event(state, "stream_wait_event", e);
    if (!rc) rc = cpu_check_stream(state, "stream_wait_event", s);
    return rc;
}

static int cpu_event_sync(void *state, spin_event_t *e)
{
    return cpu_check_event(state, "event_sync", e);
}

/* ------------------------------------------------------------------------ */
/* Instance and descriptor.                                                 */
/* ------------------------------------------------------------------------ */

static int cpu_init(const spin_plugin_host_t *host, void **state, char *why,
                    size_t whylen)
{
    if (!state) {
        snprintf(why, whylen, "init: state is NULL");
        return SPIN_ERR_INVAL;
    }
    cpu_state_t *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(why, whylen, "out of memory");
        return SPIN_ERR_NOMEM;
    }
    st->host = host;
    /* SPIN_CPU_GEMM=avx512|avx2|generic forces a micro-kernel (tests,
     * emulating older CPUs); default: the best this CPU has. */
    const char *want = NULL;
    if (host && host->getenv) want = host->getenv(host->env_ctx, "SPIN_CPU_GEMM");
    st->gemm_kernel_name = cpu_gemm_select(want, &st->gemm_kernel);
    if (want && *want && strcmp(want, "auto") != 0 &&
        strcmp(want, st->gemm_kernel_name) != 0)
        spin_log(host->log, SPIN_LOG_WARN,
                 "cpu: SPIN_CPU_GEMM=%s is not available here (known: avx512, "
                 "avx2, generic, auto); using %s", want, st->gemm_kernel_name);
#ifdef _OPENMP
    st->max_threads = omp_get_max_threads();
#else
    st->max_threads = 1;
#endif
    if (st->max_threads < 1) st->max_threads = 1;
    int rc = cpu_prg_create(st, why, whylen);
    if (rc) {
        free(st);
        return rc;
    }
    spin_log(host ? host->log : NULL, SPIN_LOG_DEBUG,
             "cpu: ring GEMM kernel %s, %d OpenMP threads",
             st->gemm_kernel_name, st->max_threads);
    *state = st;
    return SPIN_OK;
}

static void cpu_fini(void *state)
{
    cpu_state_t *st = state;
    if (!st) return;
    cpu_prg_destroy(st);
    free(st->gemm_buf);
    free(st);
}

static const spin_compute_ops_t cpu_ops = {
    .mem_alloc = cpu_mem_alloc,
    .mem_free = cpu_mem_free,
    .copy_h2d = cpu_copy_h2d,
    .copy_d2h = cpu_copy_d2h,
    .copy_d2d = cpu_copy_d2d,
    .mem_zero = cpu_mem_zero,
    .stream_create = cpu_stream_create,
    .stream_destroy = cpu_stream_destroy,
    .stream_sync = cpu_stream_sync,
    .event_create = cpu_event_create,
    .event_destroy = cpu_event_destroy,
    .event_record = cpu_event_record,
    .stream_wait_event = cpu_stream_wait_event,
    .event_sync = cpu_event_sync,
    .ring_binary = cpu_ring_binary,
    .ring_scalar = cpu_ring_scalar,
    .ring_unary = cpu_ring_unary,
    .ring_gemm = cpu_ring_gemm,
    .im2col = cpu_im2col,
    .col2im = cpu_col2im,
    .sum_axis = cpu_sum_axis,
    .prg_fill = cpu_prg_fill,
    .ring_from_f64 = cpu_ring_from_f64,
    .ring_to_f64 = cpu_ring_to_f64,
    .f64_gemm = cpu_f64_gemm,
    .f64_binary = cpu_f64_binary,
    .f64_scalar = cpu_f64_scalar,
    .f64_unary = cpu_f64_unary,
};

static const spin_plugin_desc_t cpu_desc = {
    .abi_major = SPIN_ABI_MAJOR,
    .abi_minor = SPIN_ABI_MINOR,
    .struct_size = sizeof(spin_plugin_desc_t),
    .kind = SPIN_PLUGIN_COMPUTE,
    .name = "cpu",
    .version = PACKAGE_VERSION,
    .description = "host CPU: OpenMP ring kernels, AVX-512 ring GEMM, "
                   "OpenSSL AES-CTR, OpenBLAS float64",
    .caps = SPIN_CAP_COMPUTE_F64,
    .init = cpu_init,
    .fini = cpu_fini,
    .ops = &cpu_ops,
    .ops_size = sizeof(spin_compute_ops_t),
};

SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);

SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void)
{
    return &cpu_desc;
}
