/*
 * cuda_emu.c - an emulated GPU for testing the cuda plugin's host code on a
 * machine without one (built by `make check` only, never installed).
 *
 * Linked with the plugin's host sources (cuda_*.c, built with
 * -DSPIN_CUDA_EMU, which skips the driver probe), this file stands in for
 * the CUDA runtime, cuBLAS and the kernel launchers (cuda_k_*), so that
 * plugins/cuda/emu/compute-cuda-emu.test runs the compute conformance suite through
 * the plugin's real argument checks, allocator, staging, stream/event
 * handling and GEMM drivers (limb split, the packed-layout cuBLAS calls
 * with their column-major semantics, K and batch chunking, recombination,
 * fallbacks).  Everything runs synchronously on the host and "device"
 * memory is host memory; the launchers apply the same cuda_math.h functions
 * as the kernels, element by element.
 *
 * What this does NOT test: the kernels themselves (launch geometry, shared
 * memory tiling, grid-stride loops), real asynchrony, cuBLAS's own
 * requirements beyond those checked below.  Those need a GPU.
 *
 * Test knobs (environment, test-only):
 *   SPIN_CUDA_EMU_NOTREADY=1   every other event query reports "not ready"
 *                              (the allocator's reuse ordering path);
 *   SPIN_CUDA_EMU_MEM=BYTES    the device's memory size (the plugin keeps
 *                              its GEMM workspace below 1/8 of it: small
 *                              values force batch and K chunking);
 *   SPIN_CUDA_EMU_INT8=refuse  int8 GEMMs return NOT_SUPPORTED (fallback);
 *   SPIN_CUDA_EMU_DMABUF=refuse  dma-buf exports fail (SPIN_ERR_NOTSUP).
 *
 * dma-buf export (cuda_drv_dmabuf, behind the plugin's mem_export_dmabuf):
 * "device" memory comes from one memfd per process (an arena mapped
 * MAP_SHARED, sparse, as large as the device memory), so an exported
 * dma-buf is that memfd (a dup) with the block's offset: the fake
 * libibverbs (plugins/rdma/rdma_fake_verbs.c) maps it for
 * ibv_reg_dmabuf_mr, a second view of the same pages, as a NIC reads GPU
 * memory through its own mapping.  If the arena cannot be made, memory
 * comes from aligned_alloc and exports fail with SPIN_ERR_NOTSUP.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cuda_internal.h"

static int emu_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* ------------------------------------------------------------------------ */
/* Runtime.                                                                 */
/* ------------------------------------------------------------------------ */

struct CUstream_st { int unused; };
struct CUevent_st { int recorded; };

static __thread cudaError_t emu_last;
static unsigned emu_query_count;

static cudaError_t emu_err(cudaError_t e)
{
    if (e != cudaSuccess) emu_last = e;
    return e;
}

cudaError_t cudaGetLastError(void)
{
    const cudaError_t e = emu_last;
    emu_last = cudaSuccess;
    return e;
}

const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    default: return "cudaErrorEmulated";
    }
}

const char *cudaGetErrorString(cudaError_t e)
{
    (void)e;
    return "emulated GPU";
}

cudaError_t cudaRuntimeGetVersion(int *v)
{
    *v = CUDART_VERSION;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int *n)
{
    *n = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int d)
{
    return d == 0 ? cudaSuccess : emu_err(cudaErrorInvalidDevice);
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int d)
{
    if (d != 0) return emu_err(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "emulated GPU (host CPU)");
    p->major = 9;
    p->minor = 0;
    p->multiProcessorCount = 4;
    const char *mem = getenv("SPIN_CUDA_EMU_MEM");
    p->totalGlobalMem = mem && *mem ? (size_t)strtoull(mem, NULL, 0) : (size_t)1 << 34;
    return cudaSuccess;
}

/* Device memory: host memory behind a 256-byte header with the size (and,
 * in the arena, the page-rounded length of the whole piece). */
#define EMU_HDR 256

/* The arena (test double: process-wide, guarded by emu_mu; a forked child
 * makes its own).  Pieces are page-aligned; freed ones go to a first-fit
 * list and their pages back to the kernel. */
typedef struct emu_hole { size_t off, len; struct emu_hole *next; } emu_hole_t;
static pthread_mutex_t emu_mu = PTHREAD_MUTEX_INITIALIZER;
static int arena_fd = -1;
static char *arena;
static size_t arena_len, arena_top;
static pid_t arena_pid;
static emu_hole_t *arena_holes;

static size_t emu_page(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

/* Caller holds emu_mu.  0 if there is an arena for this process. */
static int arena_ready(void)
{
    if (arena && arena_pid == getpid()) return 0;
    if (arena_pid == getpid()) return -1; /* failed before */
    arena_pid = getpid();
    arena = NULL; /* a parent's arena stays mapped, unused */
    arena_holes = NULL;
    arena_top = 0;
    const char *mem = getenv("SPIN_CUDA_EMU_MEM");
    size_t len = mem && *mem ? (size_t)strtoull(mem, NULL, 0) : (size_t)1 << 34;
    len = (len + emu_page() - 1) / emu_page() * emu_page();
    int fd = memfd_create("spin-cuda-emu", MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)len) != 0) {
        close(fd);
        return -1;
    }
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        return -1;
    }
    arena_fd = fd;
    arena = m;
    arena_len = len;
    return 0;
}

static char *arena_get(size_t len)
{
    pthread_mutex_lock(&emu_mu);
    char *q = NULL;
    if (arena_ready() == 0) {
        for (emu_hole_t **hp = &arena_holes; *hp; hp = &(*hp)->next) {
            emu_hole_t *h = *hp;
            if (h->len < len) continue;
            q = arena + h->off;
            h->off += len;
            h->len -= len;
            if (!h->len) {
                *hp = h->next;
                free(h);
            }
            break;
        }
        if (!q && arena_len - arena_top >= len) {
            q = arena + arena_top;
            arena_top += len;
        }
    }
    pthread_mutex_unlock(&emu_mu);
    return q;
}

static int in_arena(const void *p)
{
    return arena && arena_pid == getpid() && (const char *)p >= arena &&
           (const char *)p < arena + arena_len;
}

static void arena_put(char *q, size_t len)
{
    pthread_mutex_lock(&emu_mu);
    (void)fallocate(arena_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, q - arena, (off_t)len);
    emu_hole_t *h = malloc(sizeof *h);
    if (h) {
        h->off = (size_t)(q - arena);
        h->len = len;
        h->next = arena_holes;
        arena_holes = h;
    }
    pthread_mutex_unlock(&emu_mu);
}

cudaError_t cudaMalloc(void **p, size_t n)
{
    size_t len = EMU_HDR + (n + 255) / 256 * 256;
    size_t plen = (len + emu_page() - 1) / emu_page() * emu_page();
    char *q = arena_get(plen);
    if (!q) {
        q = aligned_alloc(256, len);
        plen = 0;
    }
    if (!q) return emu_err(cudaErrorMemoryAllocation);
    memcpy(q, &n, sizeof n);
    memcpy(q + sizeof n, &plen, sizeof plen);
    memset(q + EMU_HDR, 0xcd, n); /* garbage, as fresh device memory */
    *p = q + EMU_HDR;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
    if (!p) return cudaSuccess;
    char *q = (char *)p - EMU_HDR;
    size_t plen;
    memcpy(&plen, q + sizeof(size_t), sizeof plen);
    if (plen && in_arena(q)) arena_put(q, plen);
    else free(q);
    return cudaSuccess;
}

/* The plugin's dma-buf export on the emulated GPU: a dup of the arena's
 * memfd, with the block's page-aligned range at its arena offset.
 * SPIN_CUDA_EMU_DMABUF=refuse: the driver refuses (SPIN_ERR_NOTSUP). */
int cuda_drv_dmabuf(cuda_state_t *st, const cuda_block_t *b, spin_dmabuf_t *out,
                    char *why, size_t whylen)
{
    (void)st;
    const char *r = getenv("SPIN_CUDA_EMU_DMABUF");
    if (r && strcmp(r, "refuse") == 0) {
        snprintf(why, whylen, "emulated driver: dma-buf export refused (SPIN_CUDA_EMU_DMABUF=refuse)");
        return SPIN_ERR_NOTSUP;
    }
    const char *q = (const char *)b->ptr - EMU_HDR;
    size_t plen;
    memcpy(&plen, q + sizeof(size_t), sizeof plen);
    pthread_mutex_lock(&emu_mu);
    int ok = plen && in_arena(q);
    int fd = ok ? fcntl(arena_fd, F_DUPFD_CLOEXEC, 0) : -1;
    int e = errno;
    pthread_mutex_unlock(&emu_mu);
    if (!ok) {
        snprintf(why, whylen, "emulated driver: this block is not in the memfd arena");
        return SPIN_ERR_NOTSUP;
    }
    if (fd < 0) {
        snprintf(why, whylen, "emulated driver: dup of the arena memfd: %s", strerror(e));
        return SPIN_ERR_NOTSUP;
    }
    out->fd = fd;
    out->base = q;
    out->size = plen;
    out->offset = (uint64_t)(q - arena);
    return SPIN_OK;
}

cudaError_t cudaHostAlloc(void **p, size_t n, unsigned flags)
{
    (void)flags;
    *p = malloc(n);
    return *p ? cudaSuccess : emu_err(cudaErrorMemoryAllocation);
}

cudaError_t cudaFreeHost(void *p)
{
    free(p);
    return cudaSuccess;
}

cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *a, const void *p)
{
    (void)p;
    memset(a, 0, sizeof *a);
    a->type = cudaMemoryTypeUnregistered;
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, enum cudaMemcpyKind k,
                            cudaStream_t st)
{
    (void)k;
    (void)st;
    memmove(d, s, n);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *d, const void *s, size_t n, enum cudaMemcpyKind k)
{
    (void)k;
    memmove(d, s, n);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *d, int v, size_t n, cudaStream_t st)
{
    (void)st;
    memset(d, v, n);
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags)
{
    (void)flags;
    *s = calloc(1, sizeof **s);
    return *s ? cudaSuccess : emu_err(cudaErrorMemoryAllocation);
}

cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    free(s);
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
    (void)s;
    return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags)
{
    (void)flags;
    *e = calloc(1, sizeof **e);
    return *e ? cudaSuccess : emu_err(cudaErrorMemoryAllocation);
}

cudaError_t cudaEventDestroy(cudaEvent_t e)
{
    free(e);
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s)
{
    (void)s;
    if (!e) return emu_err(cudaErrorInvalidResourceHandle);
    e->recorded = 1;
    return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t e)
{
    if (!e) return emu_err(cudaErrorInvalidResourceHandle);
    if (emu_flag("SPIN_CUDA_EMU_NOTREADY") && (emu_query_count++ & 1))
        return cudaErrorNotReady;
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t e)
{
    return e ? cudaSuccess : emu_err(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags)
{
    (void)s;
    (void)flags;
    return e ? cudaSuccess : emu_err(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaLaunchHostFunc(cudaStream_t s, cudaHostFn_t fn, void *user)
{
    (void)s;
    fn(user);
    return cudaSuccess;
}

/* ------------------------------------------------------------------------ */
/* cuBLAS: the two strided-batched GEMMs, column-major, with the argument   */
/* rules of the real library (and the int8 tensor-core requirements).      */
/* ------------------------------------------------------------------------ */

struct cublasContext { int unused; };

cublasStatus_t cublasCreate_v2(cublasHandle_t *h)
{
    *h = calloc(1, sizeof **h);
    return *h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t h)
{
    free(h);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m)
{
    (void)h;
    (void)m;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s)
{
    (void)h;
    (void)s;
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusName(cublasStatus_t s)
{
    return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS"
         : s == CUBLAS_STATUS_NOT_SUPPORTED ? "CUBLAS_STATUS_NOT_SUPPORTED"
         : s == CUBLAS_STATUS_INVALID_VALUE ? "CUBLAS_STATUS_INVALID_VALUE"
         : "CUBLAS_STATUS_EMULATED";
}

const char *cublasGetStatusString(cublasStatus_t s)
{
    (void)s;
    return "emulated cuBLAS";
}

#define ELT(P, ld, r, c) (P)[(size_t)(c) * (size_t)(ld) + (size_t)(r)]

static int emu_dims_ok(cublasOperation_t ta, cublasOperation_t tb, int64_t m,
                       int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc)
{
    const int64_t ra = ta == CUBLAS_OP_N ? m : k, rb = tb == CUBLAS_OP_N ? k : n;
    return m >= 0 && n >= 0 && k >= 0 && lda >= (ra > 1 ? ra : 1) &&
           ldb >= (rb > 1 ? rb : 1) && ldc >= (m > 1 ? m : 1);
}

cublasStatus_t cublasDgemmStridedBatched_64(
    cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m,
    int64_t n, int64_t k, const double *alpha, const double *A, int64_t lda,
    long long sa, const double *B, int64_t ldb, long long sb, const double *beta,
    double *C, int64_t ldc, long long sc, int64_t batch)
{
    (void)h;
    if (!emu_dims_ok(ta, tb, m, n, k, lda, ldb, ldc) || batch < 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < m; i++) {
                double s = 0.0;
                for (int64_t p = 0; p < k; p++) {
                    const double x = ta == CUBLAS_OP_N ? ELT(A + b * sa, lda, i, p)
                                                       : ELT(A + b * sa, lda, p, i);
                    const double y = tb == CUBLAS_OP_N ? ELT(B + b * sb, ldb, p, j)
                                                       : ELT(B + b * sb, ldb, j, p);
                    s += x * y;
                }
                double *c = &ELT(C + b * sc, ldc, i, j);
                *c = *alpha * s + (*beta == 0.0 ? 0.0 : *beta * *c);
            }
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmStridedBatchedEx_64(
    cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m,
    int64_t n, int64_t k, const void *alpha, const void *A, cudaDataType at,
    int64_t lda, long long sa, const void *B, cudaDataType bt, int64_t ldb,
    long long sb, const void *beta, void *C, cudaDataType ct, int64_t ldc,
    long long sc, int64_t batch, cublasComputeType_t comp, cublasGemmAlgo_t algo)
{
    (void)h;
    (void)algo;
    const char *mode = getenv("SPIN_CUDA_EMU_INT8");
    if (mode && strcmp(mode, "refuse") == 0) return CUBLAS_STATUS_NOT_SUPPORTED;
    /* Only what the plugin uses, with the int8 path's requirements: 4-byte
     * aligned operands and leading dimensions, 16-byte aligned C rows,
     * alpha 1 and beta 0. */
    if (at != CUDA_R_8I || bt != CUDA_R_8I || ct != CUDA_R_32I ||
        comp != CUBLAS_COMPUTE_32I || lda % 4 || ldb % 4 || ldc % 4 ||
        ((uintptr_t)A & 3) || ((uintptr_t)B & 3) || ((uintptr_t)C & 15) ||
        *(const int32_t *)alpha != 1 || *(const int32_t *)beta != 0)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    if (!emu_dims_ok(ta, tb, m, n, k, lda, ldb, ldc) || batch < 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    const int8_t *a8 = A, *b8 = B;
    int32_t *c32 = C;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < m; i++) {
                int64_t s = 0;
                for (int64_t p = 0; p < k; p++) {
                    const int x = ta == CUBLAS_OP_N ? ELT(a8 + b * sa, lda, i, p)
                                                    : ELT(a8 + b * sa, lda, p, i);
                    const int y = tb == CUBLAS_OP_N ? ELT(b8 + b * sb, ldb, p, j)
                                                    : ELT(b8 + b * sb, ldb, j, p);
                    s += x * y;
                }
                if (s > INT32_MAX || s < INT32_MIN) {
                    fprintf(stderr, "cuda_emu: int32 accumulator overflow in an int8 "
                            "GEMM (the plugin's K chunk is too large)\n");
                    abort();
                }
                ELT(c32 + b * sc, ldc, i, j) = (int32_t)s;
            }
    return CUBLAS_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Kernel launchers: the kernels' per-element arithmetic, sequentially.     */
/* ------------------------------------------------------------------------ */

cudaError_t cuda_k_probe(void)
{
    return cudaSuccess;
}

cudaError_t cuda_k_ring_binary(cudaStream_t s, int op, uint64_t *z,
                               const uint64_t *x, const uint64_t *y, size_t n)
{
    (void)s;
    for (size_t i = 0; i < n; i++) z[i] = cm_ring_binop(op, x[i], y[i]);
    return cudaSuccess;
}

cudaError_t cuda_k_ring_scalar(cudaStream_t s, int op, uint64_t *z,
                               const uint64_t *x, uint64_t c, size_t n)
{
    (void)s;
    for (size_t i = 0; i < n; i++) z[i] = cm_ring_scalarop(op, x[i], c);
    return cudaSuccess;
}

cudaError_t cuda_k_ring_unary(cudaStream_t s, int op, uint64_t *z,
                              const uint64_t *x, size_t n)
{
    (void)s;
    for (size_t i = 0; i < n; i++) z[i] = cm_ring_unop(op, x[i]);
    return cudaSuccess;
}

cudaError_t cuda_k_f64_binary(cudaStream_t s, int op, double *z, const double *x,
                              const double *y, size_t n)
{
    (void)s;
    for (size_t i = 0; i < n; i++) z[i] = cm_f64_binop(op, x[i], y[i]);
    return cudaSuccess;
}

cudaError_t cuda_k_f64_scalar(cudaStream_t s, int op, double *z, const double *x,
                              double c, size_t n)
{
    (void)s;
    for (size_t i = 0; i < n; i++) z[i] = cm_f64_scalarop(op, x[i], c);
    return cudaSuccess;
}

cudaError_t cuda_k_f64_unary(cudaStream_t s, int op, double *z, const double *x,
                             size_t n)
{
    (void)s;
    for (size_t i = 0; i < n; i++) z[i] = cm_f64_unop(op, x[i]);
    return cudaSuccess;
}

cudaError_t cuda_k_fix_check(cudaStream_t s, const double *x, size_t n, double lim,
                             unsigned long long *bad)
{
    (void)s;
    for (size_t i = 0; i < n; i++)
        if (!cm_fix_in_range(x[i], lim) && i < *bad) *bad = i;
    return cudaSuccess;
}

cudaError_t cuda_k_fix_from_f64(cudaStream_t s, uint64_t *z, const double *x,
                                size_t n, double scale)
{
    (void)s;
    for (size_t i = 0; i < n; i++) z[i] = cm_fix_from_f64(x[i], scale);
    return cudaSuccess;
}

cudaError_t cuda_k_fix_to_f64(cudaStream_t s, double *z, const uint64_t *x,
                              size_t n, double inv)
{
    (void)s;
    for (size_t i = 0; i < n; i++) z[i] = cm_fix_to_f64(x[i], inv);
    return cudaSuccess;
}

cudaError_t cuda_k_im2col(cudaStream_t s, const cm_geom_t *g, uint64_t *col,
                          const uint64_t *x, size_t colcount)
{
    (void)s;
    for (size_t e = 0; e < colcount; e++) {
        const int64_t src = cm_im2col_src(g, e);
        col[e] = src < 0 ? 0 : x[src];
    }
    return cudaSuccess;
}

cudaError_t cuda_k_col2im(cudaStream_t s, int f64, const cm_geom_t *g, void *xv,
                          const void *colv, size_t xcount)
{
    (void)s;
    for (size_t e = 0; e < xcount; e++) {
        if (f64) {
            const double *col = colv;
            double acc = 0.0;
#define EMU_ADD(ci) acc += col[(ci)]
            CM_COL2IM_GATHER(g, e, EMU_ADD);
#undef EMU_ADD
            ((double *)xv)[e] = acc;
        } else {
            const uint64_t *col = colv;
            uint64_t acc = 0;
#define EMU_ADD(ci) acc += col[(ci)]
            CM_COL2IM_GATHER(g, e, EMU_ADD);
#undef EMU_ADD
            ((uint64_t *)xv)[e] = acc;
        }
    }
    return cudaSuccess;
}

cudaError_t cuda_k_sum_axis(cudaStream_t s, int f64, void *yv, const void *xv,
                            size_t outer, size_t len, size_t inner, int acc)
{
    (void)s;
    for (size_t idx = 0; idx < outer * inner; idx++) {
        const size_t o = idx / inner, i = idx % inner;
        if (f64) {
            const double *x = (const double *)xv + o * len * inner + i;
            double *y = yv;
            double t = inner > 1 && acc ? y[idx] : 0.0;
            for (size_t l = 0; l < len; l++) t += x[l * inner];
            y[idx] = inner == 1 && acc ? y[idx] + t : t;
        } else {
            const uint64_t *x = (const uint64_t *)xv + o * len * inner + i;
            uint64_t *y = yv, t = 0;
            for (size_t l = 0; l < len; l++) t += x[l * inner];
            y[idx] = acc ? y[idx] + t : t;
        }
    }
    return cudaSuccess;
}

cudaError_t cuda_k_zero_matrix(cudaStream_t s, void *c, size_t rows, size_t cols,
                               size_t ld, size_t batch, size_t stride)
{
    (void)s;
    for (size_t b = 0; b < batch; b++)
        for (size_t r = 0; r < rows; r++)
            memset((uint64_t *)c + b * stride + r * ld, 0, cols * 8);
    return cudaSuccess;
}

cudaError_t cuda_k_aes_table(cudaStream_t s, uint32_t *t0)
{
    (void)s;
    for (int i = 0; i < 256; i++) t0[i] = cm_aes_t0((uint8_t)i);
    return cudaSuccess;
}

cudaError_t cuda_k_prg(cudaStream_t s, const uint32_t *t0, const uint8_t key[16],
                       uint64_t nonce, uint64_t first_word, uint64_t *out, size_t n)
{
    (void)s;
    uint32_t rk[44];
    cm_aes128_expand(key, t0, rk);
    const uint64_t nb = cm_prg_nblocks(first_word, n);
    for (uint64_t t = 0; t < nb; t++) {
        uint64_t w[2];
        const uint64_t blk = (first_word >> 1) + t;
        cm_prg_block_words(rk, t0, nonce, blk, w);
        cm_prg_store(blk, first_word, n, w, out);
    }
    return cudaSuccess;
}

cudaError_t cuda_k_gemm_native(cudaStream_t s, const spin_gemm_t *g)
{
    (void)s;
    const uint64_t *A = g->a, *B = g->b;
    uint64_t *C = g->c;
    for (size_t b = 0; b < g->batch; b++)
        for (size_t i = 0; i < g->m; i++)
            for (size_t j = 0; j < g->n; j++) {
                uint64_t t = 0;
                for (size_t p = 0; p < g->k; p++) {
                    const uint64_t x = g->trans_a ? A[b * g->stride_a + p * g->lda + i]
                                                  : A[b * g->stride_a + i * g->lda + p];
                    const uint64_t y = g->trans_b ? B[b * g->stride_b + j * g->ldb + p]
                                                  : B[b * g->stride_b + p * g->ldb + j];
                    t += x * y;
                }
                uint64_t *c = C + b * g->stride_c + i * g->ldc + j;
                *c = g->accumulate ? *c + t : t;
            }
    return cudaSuccess;
}

cudaError_t cuda_k_limb_split(cudaStream_t s, int limb_bits, int rev,
                              const uint64_t *src, size_t rows, size_t k0, size_t kc,
                              size_t rs, size_t ps, size_t stride, size_t batch,
                              void *dst, size_t kp)
{
    (void)s;
    const int L = limb_bits == 16 ? CM_LIMB16_L : CM_INT8_L;
    for (size_t z = 0; z < batch; z++)
        for (size_t r = 0; r < rows; r++)
            for (size_t p = 0; p < kp; p++) {
                const uint64_t v = p < kc ? src[z * stride + r * rs + (k0 + p) * ps] : 0;
                const size_t row = (z * rows + r) * (size_t)L * kp;
                if (limb_bits == 16) {
                    for (int l = 0; l < L; l++)
                        ((double *)dst)[row + cm_pack_pos(L, rev, l, kp, p)] =
                            cm_limb16(v, l);
                } else {
                    int8_t d[CM_INT8_L];
                    cm_digits8(v, d);
                    for (int l = 0; l < L; l++)
                        ((int8_t *)dst)[row + cm_pack_pos(L, rev, l, kp, p)] = d[l];
                }
            }
    return cudaSuccess;
}

cudaError_t cuda_k_limb_combine(cudaStream_t s, int limb_bits, const void *cs,
                                size_t m, size_t n, size_t ldcs, size_t batch,
                                uint64_t *c, size_t ldc, size_t stride_c, int acc)
{
    (void)s;
    const size_t plane = batch * m * ldcs;
    for (size_t b = 0; b < batch; b++)
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                const size_t at = (b * m + i) * ldcs + j;
                uint64_t r;
                if (limb_bits == 16) {
                    double v[CM_LIMB16_L];
                    for (int q = 0; q < CM_LIMB16_L; q++)
                        v[q] = ((const double *)cs)[q * plane + at];
                    r = cm_combine16(v);
                } else {
                    int32_t v[CM_INT8_L];
                    for (int q = 0; q < CM_INT8_L; q++)
                        v[q] = ((const int32_t *)cs)[q * plane + at];
                    r = cm_combine8(v);
                }
                uint64_t *cp = c + b * stride_c + i * ldc + j;
                *cp = acc ? *cp + r : r;
            }
    return cudaSuccess;
}
