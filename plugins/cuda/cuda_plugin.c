/*
 * cuda_plugin.c - the cuda compute plugin: descriptor, init/fini, error
 * logging, streams and events, device-to-device copies and memset.
 *
 * init() tells "no driver / no device here" (SPIN_ERR_UNAVAILABLE, with the
 * reason) from real failures.  The plugin does not link libcuda: the CUDA
 * runtime loads the driver (libcuda.so.1) itself, so the plugin loads on a
 * machine without one, and init first probes libcuda.so.1 with dlopen to say
 * precisely what is missing.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

/* Device workspace of one limb GEMM step is kept below this (and below an
 * eighth of the device memory). */
#define CUDA_GEMM_WS_MAX ((size_t)1 << 30)

/* ------------------------------------------------------------------------ */
/* Logging and error mapping.                                               */
/* ------------------------------------------------------------------------ */

static void cuda_vlog_error(const cuda_state_t *st, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    spin_log(st && st->host ? st->host->log : NULL, SPIN_LOG_ERROR, "cuda: %s",
             msg);
}

int cuda_inval(const cuda_state_t *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cuda_vlog_error(st, fmt, ap);
    va_end(ap);
    return SPIN_ERR_INVAL;
}

int cuda_fail(const cuda_state_t *st, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cuda_vlog_error(st, fmt, ap);
    va_end(ap);
    return code;
}

static int cuda_code(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return SPIN_OK;
    case cudaErrorMemoryAllocation: return SPIN_ERR_NOMEM;
    case cudaErrorInvalidValue: return SPIN_ERR_INVAL;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorStubLibrary:
    case cudaErrorDevicesUnavailable:
        return SPIN_ERR_UNAVAILABLE;
    default: return SPIN_ERR_INTERNAL;
    }
}

int cuda_check(const cuda_state_t *st, cudaError_t e, const char *what)
{
    if (e == cudaSuccess) return SPIN_OK;
    /* Clear the (non-sticky) error so that it is not reported again. */
    (void)cudaGetLastError();
    return cuda_fail(st, cuda_code(e), "%s: %s (%s)", what, cudaGetErrorName(e),
                     cudaGetErrorString(e));
}

int cuda_check_blas(const cuda_state_t *st, cublasStatus_t e, const char *what)
{
    if (e == CUBLAS_STATUS_SUCCESS) return SPIN_OK;
    int code = e == CUBLAS_STATUS_ALLOC_FAILED ? SPIN_ERR_NOMEM
             : e == CUBLAS_STATUS_NOT_SUPPORTED ? SPIN_ERR_NOTSUP
             : e == CUBLAS_STATUS_INVALID_VALUE ? SPIN_ERR_INVAL
             : SPIN_ERR_INTERNAL;
    return cuda_fail(st, code, "%s: cuBLAS %s (%s)", what, cublasGetStatusName(e),
                     cublasGetStatusString(e));
}

int cuda_enter(cuda_state_t *st, const char *what, spin_stream_t *s,
               cudaStream_t *cs)
{
    if (s && s->magic != CUDA_STREAM_MAGIC)
        return cuda_inval(st, "%s: not a stream of the cuda plugin", what);
    int rc = cuda_check(st, cudaSetDevice(st->device), what);
    if (rc) return rc;
    if (!s) {
        *cs = st->stream;
        return SPIN_OK;
    }
    rc = cuda_alloc_order(st, s);
    if (rc) return rc;
    *cs = s->cs;
    return SPIN_OK;
}

/* ------------------------------------------------------------------------ */
/* Device-to-device copies and memset.                                      */
/* ------------------------------------------------------------------------ */

static int cuda_copy_d2d(void *state, void *dst, const void *src, size_t bytes,
                         spin_stream_t *s)
{
    cuda_state_t *st = state;
    cudaStream_t cs;
    if (bytes == 0) return cuda_enter(st, "copy_d2d", s, &cs);
    if (!dst || !src)
        return cuda_inval(st, "copy_d2d: NULL %s with %zu bytes",
                          dst ? "src" : "dst", bytes);
    int rc = cuda_enter(st, "copy_d2d", s, &cs);
    if (rc || dst == src) return rc;
    return cuda_check(st, cudaMemcpyAsync(dst, src, bytes,
                                          cudaMemcpyDeviceToDevice, cs),
                      "copy_d2d");
}

static int cuda_mem_zero(void *state, void *dst, size_t bytes, spin_stream_t *s)
{
    cuda_state_t *st = state;
    cudaStream_t cs;
    if (bytes > 0 && !dst)
        return cuda_inval(st, "mem_zero: NULL dst with %zu bytes", bytes);
    int rc = cuda_enter(st, "mem_zero", s, &cs);
    if (rc || bytes == 0) return rc;
    return cuda_check(st, cudaMemsetAsync(dst, 0, bytes, cs), "mem_zero");
}

/* ------------------------------------------------------------------------ */
/* Streams and events: CUDA streams (non-blocking with respect to the        */
/* legacy NULL stream) and events without timing.                           */
/* ------------------------------------------------------------------------ */

static int cuda_stream_create(void *state, spin_stream_t **s)
{
    cuda_state_t *st = state;
    if (!s) return cuda_inval(st, "stream_create: s is NULL");
    cudaStream_t cs;
    int rc = cuda_enter(st, "stream_create", NULL, &cs);
    if (rc) return rc;
    spin_stream_t *p = calloc(1, sizeof *p);
    if (!p) return cuda_fail(st, SPIN_ERR_NOMEM, "stream_create: out of memory");
    rc = cuda_check(st, cudaStreamCreateWithFlags(&p->cs, cudaStreamNonBlocking),
                    "stream_create");
    if (rc) {
        free(p);
        return rc;
    }
    p->magic = CUDA_STREAM_MAGIC;
    *s = p;
    return SPIN_OK;
}

static int cuda_stream_destroy(void *state, spin_stream_t *s)
{
    cuda_state_t *st = state;
    if (!s) return SPIN_OK; /* the default stream is never destroyed */
    cudaStream_t cs;
    int rc = cuda_enter(st, "stream_destroy", s, &cs);
    if (rc) return rc;
    /* Work still queued completes; the stream goes away afterwards. */
    rc = cuda_check(st, cudaStreamDestroy(cs), "stream_destroy");
    s->magic = 0;
    free(s);
    return rc;
}

static int cuda_stream_sync(void *state, spin_stream_t *s)
{
    cuda_state_t *st = state;
    cudaStream_t cs;
    int rc = cuda_enter(st, "stream_sync", s, &cs);
    if (rc) return rc;
    return cuda_check(st, cudaStreamSynchronize(cs), "stream_sync");
}

static int cuda_check_event(cuda_state_t *st, const char *what, spin_event_t *e)
{
    if (!e) return cuda_inval(st, "%s: event is NULL", what);
    if (e->magic != CUDA_EVENT_MAGIC)
        return cuda_inval(st, "%s: not an event of the cuda plugin", what);
    return SPIN_OK;
}

static int cuda_event_create(void *state, spin_event_t **e)
{
    cuda_state_t *st = state;
    if (!e) return cuda_inval(st, "event_create: e is NULL");
    cudaStream_t cs;
    int rc = cuda_enter(st, "event_create", NULL, &cs);
    if (rc) return rc;
    spin_event_t *p = calloc(1, sizeof *p);
    if (!p) return cuda_fail(st, SPIN_ERR_NOMEM, "event_create: out of memory");
    rc = cuda_check(st, cudaEventCreateWithFlags(&p->ce, cudaEventDisableTiming),
                    "event_create");
    if (rc) {
        free(p);
        return rc;
    }
    p->magic = CUDA_EVENT_MAGIC;
    *e = p;
    return SPIN_OK;
}

static int cuda_event_destroy(void *state, spin_event_t *e)
{
    cuda_state_t *st = state;
    if (!e) return SPIN_OK;
    int rc = cuda_check_event(st, "event_destroy", e);
    cudaStream_t cs;
    if (!rc) rc = cuda_enter(st, "event_destroy", NULL, &cs);
    if (rc) return rc;
    rc = cuda_check(st, cudaEventDestroy(e->ce), "event_destroy");
    e->magic = 0;
    free(e);
    return rc;
}

static int cuda_event_record(void *state, spin_event_t *e, spin_stream_t *s)
{
    cuda_state_t *st = state;
    cudaStream_t cs;
    int rc = cuda_check_event(st, "event_record", e);
    if (!rc) rc = cuda_enter(st, "event_record", s, &cs);
    if (rc) return rc;
    return cuda_check(st, cudaEventRecord(e->ce, cs), "event_record");
}

static int cuda_stream_wait_event(void *state, spin_stream_t *s, spin_event_t *e)
{
    cuda_state_t *st = state;
    cudaStream_t cs;
    int rc = cuda_check_event(st, "stream_wait_event", e);
    if (!rc) rc = cuda_enter(st, "stream_wait_event", s, &cs);
    if (rc) return rc;
    return cuda_check(st, cudaStreamWaitEvent(cs, e->ce, 0), "stream_wait_event");
}

static int cuda_event_sync(void *state, spin_event_t *e)
{
    cuda_state_t *st = state;
    cudaStream_t cs;
    int rc = cuda_check_event(st, "event_sync", e);
    if (!rc) rc = cuda_enter(st, "event_sync", NULL, &cs);
    if (rc) return rc;
    return cuda_check(st, cudaEventSynchronize(e->ce), "event_sync");
}

/* ------------------------------------------------------------------------ */
/* Instance.                                                                */
/* ------------------------------------------------------------------------ */

static const char *host_getenv(const spin_plugin_host_t *host, const char *name)
{
    if (!host || !host->getenv) return NULL;
    return host->getenv(host->env_ctx, name);
}

/* Is there a usable driver and device?  0, or SPIN_ERR_UNAVAILABLE with the
 * reason in why. */
static int cuda_probe(int *count, char *why, size_t whylen)
{
#ifndef SPIN_CUDA_EMU /* the emulated test build (emu/) has no driver */
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *err = dlerror();
        snprintf(why, whylen, "no CUDA driver: libcuda.so.1 is not loadable (%s)",
                 err ? err : "dlopen failed");
        return SPIN_ERR_UNAVAILABLE;
    }
    dlclose(h);
    /* From here on the CUDA runtime gets initialised: keep this plugin (and
     * with it libcudart and cuBLAS) loaded for the rest of the process, so
     * that a Spin runtime's close followed by another open does not unload
     * and reload them (they are not made for that). */
    Dl_info self;
    if (dladdr((void *)cuda_probe, &self) && self.dli_fname)
        (void)dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
#endif
    const cudaError_t e = cudaGetDeviceCount(count);
    if (e != cudaSuccess) {
        int rt = 0;
        (void)cudaRuntimeGetVersion(&rt);
        const char *what =
            e == cudaErrorStubLibrary ? "only the toolkit's stub libcuda was found, not a driver"
            : e == cudaErrorInsufficientDriver ? "the CUDA driver is missing or older than the runtime"
            : e == cudaErrorNoDevice ? "no CUDA device"
            : "the CUDA runtime cannot use the driver";
        snprintf(why, whylen, "%s: %s (%s; runtime %d.%d)", what, cudaGetErrorName(e),
                 cudaGetErrorString(e), rt / 1000, rt % 1000 / 10);
        (void)cudaGetLastError();
        return SPIN_ERR_UNAVAILABLE;
    }
    if (*count <= 0) {
        snprintf(why, whylen, "no CUDA device (the driver reports none; "
                 "check CUDA_VISIBLE_DEVICES)");
        return SPIN_ERR_UNAVAILABLE;
    }
    return SPIN_OK;
}

static void cuda_fini(void *state);

static int cuda_init(const spin_plugin_host_t *host, void **state, char *why,
                     size_t whylen)
{
    if (!state) {
        snprintf(why, whylen, "init: state is NULL");
        return SPIN_ERR_INVAL;
    }
    int count = 0;
    int rc = cuda_probe(&count, why, whylen);
    if (rc) return rc;

    int dev = 0;
    const char *dv = host_getenv(host, "SPIN_CUDA_DEVICE");
    if (dv && *dv) {
        char *end = NULL;
        long v = strtol(dv, &end, 10);
        if (*end != '\0' || v < 0 || v >= count) {
            snprintf(why, whylen, "SPIN_CUDA_DEVICE=%s is not a device index "
                     "0..%d", dv, count - 1);
            return SPIN_ERR_CONFIG;
        }
        dev = (int)v;
    }
    cudaError_t e = cudaSetDevice(dev);
    struct cudaDeviceProp prop;
    if (e == cudaSuccess) e = cudaGetDeviceProperties(&prop, dev);
    if (e != cudaSuccess) {
        snprintf(why, whylen, "CUDA device %d: %s (%s)", dev, cudaGetErrorName(e),
                 cudaGetErrorString(e));
        (void)cudaGetLastError();
        return cuda_code(e) == SPIN_ERR_UNAVAILABLE ? SPIN_ERR_UNAVAILABLE
                                                    : SPIN_ERR_INTERNAL;
    }
    e = cuda_k_probe();
    if (e != cudaSuccess) {
        snprintf(why, whylen, "%s (sm_%d%d) cannot run this build's kernels "
                 "(built for %s): %s", prop.name, prop.major, prop.minor,
                 SPIN_CUDA_ARCHS, cudaGetErrorName(e));
        (void)cudaGetLastError();
        return SPIN_ERR_UNAVAILABLE;
    }

    cuda_state_t *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(why, whylen, "out of memory");
        return SPIN_ERR_NOMEM;
    }
    st->host = host;
    st->device = dev;
    st->cc = prop.major * 10 + prop.minor;
    st->sm_count = prop.multiProcessorCount;
    st->total_mem = prop.totalGlobalMem;
    snprintf(st->name, sizeof st->name, "%s", prop.name);
    st->gemm_ws_budget = st->total_mem / 8 < CUDA_GEMM_WS_MAX ? st->total_mem / 8
                                                             : CUDA_GEMM_WS_MAX;

    const char *gv = host_getenv(host, "SPIN_CUDA_GEMM");
    int m = cuda_gemm_parse(gv);
    if (m < 0) {
        spin_log(host ? host->log : NULL, SPIN_LOG_WARN,
                 "cuda: SPIN_CUDA_GEMM=%s is unknown (known: auto, limb16, int8, "
                 "native); using auto", gv);
        m = CUDA_GEMM_AUTO;
    }
    st->gemm_force = (cuda_gemm_method_t)m;

    e = cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        snprintf(why, whylen, "cannot create a CUDA stream: %s (%s)",
                 cudaGetErrorName(e), cudaGetErrorString(e));
        free(st);
        return SPIN_ERR_INTERNAL;
    }
    cublasStatus_t bs = cublasCreate(&st->blas);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        snprintf(why, whylen, "cuBLAS: %s (%s)", cublasGetStatusName(bs),
                 cublasGetStatusString(bs));
        st->blas = NULL;
        cuda_fini(st);
        return bs == CUBLAS_STATUS_NOT_INITIALIZED ? SPIN_ERR_UNAVAILABLE
                                                   : SPIN_ERR_INTERNAL;
    }
    /* Plain IEEE float64 (no emulation): the limb GEMMs rely on exact
     * integer sums below 2^53. */
    (void)cublasSetMathMode(st->blas, CUBLAS_DEFAULT_MATH);
    void *flag = NULL, *t0 = NULL;
    rc = cuda_alloc_init(st);
    if (!rc) rc = cuda_alloc_get(st, sizeof *st->flag, &flag);
    st->flag = flag;
    if (!rc) rc = cuda_alloc_get(st, 256 * sizeof(uint32_t), &t0);
    st->aes_t0 = t0;
    if (!rc)
        rc = cuda_check(st, cuda_k_aes_table(st->stream, st->aes_t0),
                        "init: AES table");
    if (!rc) rc = cuda_check(st, cudaStreamSynchronize(st->stream), "init");
    if (rc) {
        snprintf(why, whylen, "device setup failed: %s (see the log)", spin_strerror(rc));
        cuda_fini(st);
        return rc;
    }
    spin_log(host ? host->log : NULL, SPIN_LOG_DEBUG,
             "cuda: device %d %s (sm_%d, %d SMs, %zu MiB), ring GEMM %s", dev,
             st->name, st->cc, st->sm_count, st->total_mem >> 20,
             cuda_gemm_name(st->gemm_force));
    *state = st;
    return SPIN_OK;
}

static void cuda_fini(void *state)
{
    cuda_state_t *st = state;
    if (!st) return;
    (void)cudaSetDevice(st->device);
    if (st->stream) (void)cudaStreamSynchronize(st->stream);
    cuda_stage_fini(st);
    cuda_dmabuf_fini(st);
    if (st->flag) (void)cuda_alloc_put(st, st->flag);
    if (st->aes_t0) (void)cuda_alloc_put(st, st->aes_t0);
    cuda_alloc_fini(st);
    if (st->blas) (void)cublasDestroy(st->blas);
    if (st->stream) (void)cudaStreamDestroy(st->stream);
    (void)cudaGetLastError();
    free(st);
}

static const spin_compute_ops_t cuda_ops = {
    .mem_alloc = cuda_mem_alloc,
    .mem_free = cuda_mem_free,
    .copy_h2d = cuda_copy_h2d,
    .copy_d2h = cuda_copy_d2h,
    .copy_d2d = cuda_copy_d2d,
    .mem_zero = cuda_mem_zero,
    .stream_create = cuda_stream_create,
    .stream_destroy = cuda_stream_destroy,
    .stream_sync = cuda_stream_sync,
    .event_create = cuda_event_create,
    .event_destroy = cuda_event_destroy,
    .event_record = cuda_event_record,
    .stream_wait_event = cuda_stream_wait_event,
    .event_sync = cuda_event_sync,
    .ring_binary = cuda_ring_binary,
    .ring_scalar = cuda_ring_scalar,
    .ring_unary = cuda_ring_unary,
    .ring_gemm = cuda_ring_gemm,
    .im2col = cuda_im2col,
    .col2im = cuda_col2im,
    .sum_axis = cuda_sum_axis,
    .prg_fill = cuda_prg_fill,
    .ring_from_f64 = cuda_ring_from_f64,
    .ring_to_f64 = cuda_ring_to_f64,
    .f64_gemm = cuda_f64_gemm,
    .f64_binary = cuda_f64_binary,
    .f64_scalar = cuda_f64_scalar,
    .f64_unary = cuda_f64_unary,
    .mem_export_dmabuf = cuda_mem_export_dmabuf,
};

static const spin_plugin_desc_t cuda_desc = {
    .abi_major = SPIN_ABI_MAJOR,
    .abi_minor = SPIN_ABI_MINOR,
    .struct_size = sizeof(spin_plugin_desc_t),
    .kind = SPIN_PLUGIN_COMPUTE,
    .name = "cuda",
    .version = PACKAGE_VERSION,
    .description = "NVIDIA GPU: CUDA ring kernels, limb-decomposed cuBLAS ring "
                   "GEMM (int8 tensor cores / float64), AES-CTR kernel",
    .caps = SPIN_CAP_COMPUTE_DEVICE_MEM | SPIN_CAP_COMPUTE_ASYNC |
            SPIN_CAP_COMPUTE_F64,
    .init = cuda_init,
    .fini = cuda_fini,
    .ops = &cuda_ops,
    .ops_size = sizeof(spin_compute_ops_t),
};

SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);

SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void)
{
    return &cuda_desc;
}
