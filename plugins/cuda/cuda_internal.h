/*
 * cuda_internal.h - shared between the files of the cuda compute plugin.
 *
 * Host code (cuda_*.c) is plain C11 compiled by the C compiler against the
 * CUDA runtime and cuBLAS C APIs; kernels live in cuda_k_*.cu (nvcc) and are
 * reached only through the cuda_k_* launchers declared here, which return a
 * cudaError_t.  Everything is hidden (-fvisibility=hidden); the only exported
 * symbol is spin_plugin_query().
 */
#ifndef SPIN_CUDA_INTERNAL_H
#define SPIN_CUDA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include <spin/plugin.h>

#include "cuda_math.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Kernel launchers (cuda_k_*.cu).  All asynchronous on stream s; each      */
/* returns cudaSuccess or the launch error.  Sizes are validated by the     */
/* callers.                                                                 */
/* ------------------------------------------------------------------------ */

/* cuda_k_ew.cu: element-wise ops, op already validated. */
cudaError_t cuda_k_ring_binary(cudaStream_t s, int op, uint64_t *z,
                               const uint64_t *x, const uint64_t *y, size_t n);
cudaError_t cuda_k_ring_scalar(cudaStream_t s, int op, uint64_t *z,
                               const uint64_t *x, uint64_t c, size_t n);
cudaError_t cuda_k_ring_unary(cudaStream_t s, int op, uint64_t *z,
                              const uint64_t *x, size_t n);
cudaError_t cuda_k_f64_binary(cudaStream_t s, int op, double *z,
                              const double *x, const double *y, size_t n);
cudaError_t cuda_k_f64_scalar(cudaStream_t s, int op, double *z,
                              const double *x, double c, size_t n);
cudaError_t cuda_k_f64_unary(cudaStream_t s, int op, double *z,
                             const double *x, size_t n);
/* *bad (device) = min(*bad, first i with x[i] outside (-lim, lim) or NaN). */
cudaError_t cuda_k_fix_check(cudaStream_t s, const double *x, size_t n,
                             double lim, unsigned long long *bad);
cudaError_t cuda_k_fix_from_f64(cudaStream_t s, uint64_t *z, const double *x,
                                size_t n, double scale);
cudaError_t cuda_k_fix_to_f64(cudaStream_t s, double *z, const uint64_t *x,
                              size_t n, double inv);

/* cuda_k_layout.cu */
cudaError_t cuda_k_im2col(cudaStream_t s, const cm_geom_t *g, uint64_t *col,
                          const uint64_t *x, size_t colcount);
cudaError_t cuda_k_col2im(cudaStream_t s, int f64, const cm_geom_t *g, void *x,
                          const void *col, size_t xcount);
cudaError_t cuda_k_sum_axis(cudaStream_t s, int f64, void *y, const void *x,
                            size_t outer, size_t len, size_t inner, int acc);
/* Zero a batch of rows x cols matrices of 8-byte elements. */
cudaError_t cuda_k_zero_matrix(cudaStream_t s, void *c, size_t rows,
                               size_t cols, size_t ld, size_t batch,
                               size_t stride);

/* cuda_k_prg.cu: fill the 256-word AES T-table t0 (device memory). */
cudaError_t cuda_k_aes_table(cudaStream_t s, uint32_t *t0);
/* Words [first_word, first_word + n) of the AES-128-CTR stream of plugin.h
 * (range already checked), with the T-table t0 from cuda_k_aes_table. */
cudaError_t cuda_k_prg(cudaStream_t s, const uint32_t *t0, const uint8_t key[16],
                       uint64_t nonce, uint64_t first_word, uint64_t *out,
                       size_t n);
/* cuda_k_ew.cu: cudaSuccess when this build's kernels run on the current
 * device (an image for its architecture, or PTX it can compile). */
cudaError_t cuda_k_probe(void);

/* cuda_k_gemm.cu */
/* Native tiled 64-bit GEMM for every batch entry (stride_c != 0 or batch 1). */
cudaError_t cuda_k_gemm_native(cudaStream_t s, const spin_gemm_t *g);
/* Limb split of rows x [k0, k0 + kc) of a matrix whose element (r, p) is
 * src[b*stride + r*rs + p*ps], for batch entries b < batch, into
 * dst[b][r][L*kp] (cm_pack_pos order rev).  limb_bits 16: doubles, L = 4;
 * limb_bits 8: int8 digits, L = 8. */
cudaError_t cuda_k_limb_split(cudaStream_t s, int limb_bits, int rev,
                              const uint64_t *src, size_t rows, size_t k0,
                              size_t kc, size_t rs, size_t ps, size_t stride,
                              size_t batch, void *dst, size_t kp);
/* C_b (= or +=) sum_s 2^(bits s) cs[s][b] for b < batch; cs holds L planes
 * of batch m x n matrices (leading dimension ldcs, batch stride m*ldcs) of
 * doubles (16) or int32 (8). */
cudaError_t cuda_k_limb_combine(cudaStream_t s, int limb_bits, const void *cs,
                                size_t m, size_t n, size_t ldcs, size_t batch,
                                uint64_t *c, size_t ldc, size_t stride_c, int acc);

#ifdef __cplusplus
}
#endif

#ifndef __CUDACC__
/* ------------------------------------------------------------------------ */
/* Host side (C only).                                                      */
/* ------------------------------------------------------------------------ */

#include <cublas_v2.h>

#define CUDA_STREAM_MAGIC UINT32_C(0x43535452) /* "CSTR" */
#define CUDA_EVENT_MAGIC  UINT32_C(0x43455654) /* "CEVT" */

struct spin_stream {
    uint32_t magic;
    uint32_t pad;
    cudaStream_t cs;
    uint64_t seen_reuse;      /* last allocator reuse this stream waited for */
};

struct spin_event {
    uint32_t magic;
    uint32_t pad;
    cudaEvent_t ce;
};

/* A device block of the caching allocator. */
typedef struct cuda_block {
    void *ptr;
    size_t size;              /* class size (what cudaMalloc got) */
    int cls;
    cudaEvent_t ev;           /* free: recorded on the default stream */
    uint64_t free_seq;        /* order of that event among all frees */
    uint64_t id;              /* unique per cudaMalloc (dma-buf identity) */
    struct cuda_block *next;  /* free FIFO of its class, or hash chain */
} cuda_block_t;

typedef struct cuda_alloc {
    cuda_block_t *head[CM_ALLOC_NCLASS], *tail[CM_ALLOC_NCLASS]; /* free FIFOs */
    cuda_block_t **live;      /* hash of blocks handed out, by pointer */
    size_t nbuckets, nlive;
    size_t cached_bytes;      /* in free FIFOs */
    size_t live_bytes;        /* handed out */
    cudaEvent_t *evpool;      /* spare events */
    size_t nev, evcap;
    /* Reuse of a block whose free event is still pending: later work on
     * other streams waits for reuse_ev (see cuda_alloc.c). */
    uint64_t free_seq;        /* frees so far */
    uint64_t reuse_seq;       /* free_seq of reuse_ev (0: none) */
    cudaEvent_t reuse_ev;
    uint64_t next_id;         /* ids of blocks: cudaMalloc calls so far */
} cuda_alloc_t;

/* Pinned host staging for copies from / to pageable host memory. */
#define CUDA_STAGE_SLOTS 4
#define CUDA_STAGE_BYTES ((size_t)4 << 20)
/* Pageable copies below this go straight to cudaMemcpyAsync. */
#define CUDA_STAGE_MIN ((size_t)256 << 10)

typedef struct cuda_stage_slot {
    void *buf;                /* CUDA_STAGE_BYTES of pinned memory */
    cudaEvent_t done;         /* recorded after the slot's last use */
    int busy;                 /* done has been recorded */
    void *dst;                /* d2h: where the host callback copies to */
    size_t bytes;
} cuda_stage_slot_t;

/* Ring GEMM methods (SPIN_CUDA_GEMM). */
typedef enum cuda_gemm_method {
    CUDA_GEMM_AUTO = 0,
    CUDA_GEMM_LIMB16 = 1,
    CUDA_GEMM_INT8 = 2,
    CUDA_GEMM_NATIVE = 3
} cuda_gemm_method_t;

/* One plugin instance.  Instances share nothing; an instance is used by one
 * host thread at a time. */
typedef struct cuda_state {
    const spin_plugin_host_t *host;
    int device;
    int cc;                       /* compute capability, major*10 + minor */
    int sm_count;
    size_t total_mem;
    char name[256];
    cudaStream_t stream;          /* the instance's default stream (NULL) */
    cublasHandle_t blas;
    cuda_gemm_method_t gemm_force; /* SPIN_CUDA_GEMM, AUTO if unset */
    unsigned int8_refused;        /* int8 GEMMs cuBLAS refused (warned once) */
    size_t gemm_ws_budget;        /* bytes of limb workspace per GEMM step */
    cuda_alloc_t alloc;
    cuda_stage_slot_t stage[CUDA_STAGE_SLOTS];
    int stage_next;
    int stage_failed;             /* pinned allocation failed: copy directly */
    unsigned long long *flag;     /* device word for range checks */
    uint32_t *aes_t0;             /* device AES T-table (cuda_k_aes_table) */
    /* dma-buf export (cuda_dmabuf.c): the driver API, looked up in
     * libcuda.so.1 on first use (the plugin does not link it) */
    int drv_state;                /* 0 not tried, 1 usable, -1 unusable */
    char drv_why[160];            /* why unusable */
    int export_warned;
    void *drv_handle;
    int (*drv_get_range)(unsigned long long *base, size_t *size,
                         unsigned long long ptr);
    int (*drv_get_handle)(void *handle, unsigned long long ptr, size_t size,
                          int type, unsigned long long flags);
    int (*drv_error_name)(int err, const char **name);
} cuda_state_t;

/* cuda_plugin.c: logging and error mapping. */
int cuda_inval(const cuda_state_t *st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
int cuda_fail(const cuda_state_t *st, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* cudaSuccess -> 0; otherwise log "what: cudaErrorX (text)" and map. */
int cuda_check(const cuda_state_t *st, cudaError_t e, const char *what);
int cuda_check_blas(const cuda_state_t *st, cublasStatus_t e, const char *what);
/* Make the instance's device current on this thread and resolve s (NULL:
 * the default stream) to a CUDA stream; 0 or SPIN_ERR_INVAL. */
int cuda_enter(cuda_state_t *st, const char *what, spin_stream_t *s,
               cudaStream_t *cs);

static inline int cuda_mul_ok(size_t a, size_t b, size_t *r)
{
    return !__builtin_mul_overflow(a, b, r);
}

/* cuda_alloc.c */
int cuda_alloc_init(cuda_state_t *st);
void cuda_alloc_fini(cuda_state_t *st);
int cuda_alloc_get(cuda_state_t *st, size_t bytes, void **ptr);
/* A workspace for work about to be queued on cs: running out of device
 * memory is SPIN_ERR_NOMEM without a log line (callers with a fallback),
 * and a reused block's pending uses are ordered before cs. */
int cuda_alloc_try(cuda_state_t *st, size_t bytes, void **ptr, cudaStream_t cs);
int cuda_alloc_put(cuda_state_t *st, void *ptr);
/* Free a workspace used by work queued on cs (ordered after that work). */
int cuda_alloc_put_after(cuda_state_t *st, void *ptr, cudaStream_t cs);
/* Order stream cs (not the default stream) after any pending reuse. */
int cuda_alloc_order(cuda_state_t *st, spin_stream_t *s);
int cuda_mem_alloc(void *state, size_t bytes, void **ptr);
int cuda_mem_free(void *state, void *ptr);
int cuda_copy_h2d(void *state, void *dst, const void *src, size_t bytes,
                  spin_stream_t *s);
int cuda_copy_d2h(void *state, void *dst, const void *src, size_t bytes,
                  spin_stream_t *s);
void cuda_stage_fini(cuda_state_t *st);
/* The live block that holds [p, p + bytes), or NULL. */
const cuda_block_t *cuda_alloc_find(const cuda_state_t *st, const void *p,
                                    size_t bytes);

/* cuda_dmabuf.c: mem_export_dmabuf (ABI 1.1). */
int cuda_mem_export_dmabuf(void *state, const void *ptr, size_t bytes,
                           unsigned flags, spin_dmabuf_t *out);
void cuda_dmabuf_fini(cuda_state_t *st);
/* Export the device range of block b as a dma-buf: out->fd, base, size,
 * offset; SPIN_ERR_NOTSUP with the reason in why when the driver or device
 * cannot.  The driver API in the plugin, the emulated GPU's in emu/. */
int cuda_drv_dmabuf(cuda_state_t *st, const cuda_block_t *b, spin_dmabuf_t *out,
                    char *why, size_t whylen);

/* cuda_ring.c */
int cuda_ring_binary(void *state, spin_ring_binop_t op, uint64_t *z,
                     const uint64_t *x, const uint64_t *y, size_t n,
                     spin_stream_t *s);
int cuda_ring_scalar(void *state, spin_ring_scalarop_t op, uint64_t *z,
                     const uint64_t *x, uint64_t c, size_t n, spin_stream_t *s);
int cuda_ring_unary(void *state, spin_ring_unop_t op, uint64_t *z,
                    const uint64_t *x, size_t n, spin_stream_t *s);
int cuda_ring_from_f64(void *state, uint64_t *z, const double *x, size_t n,
                       unsigned f, spin_stream_t *s);
int cuda_ring_to_f64(void *state, double *z, const uint64_t *x, size_t n,
                     unsigned f, spin_stream_t *s);
int cuda_f64_binary(void *state, spin_f64_binop_t op, double *z,
                    const double *x, const double *y, size_t n,
                    spin_stream_t *s);
int cuda_f64_scalar(void *state, spin_f64_scalarop_t op, double *z,
                    const double *x, double c, size_t n, spin_stream_t *s);
int cuda_f64_unary(void *state, spin_f64_unop_t op, double *z,
                   const double *x, size_t n, spin_stream_t *s);
int cuda_prg_fill(void *state, const spin_prg_key_t *key, uint64_t nonce,
                  uint64_t first_word, uint64_t *out, size_t n,
                  spin_stream_t *s);

/* cuda_gemm.c */
int cuda_ring_gemm(void *state, const spin_gemm_t *g, spin_stream_t *s);
int cuda_f64_gemm(void *state, const spin_gemm_t *g, spin_stream_t *s);
/* Parse SPIN_CUDA_GEMM; -1 if unknown. */
int cuda_gemm_parse(const char *v);
const char *cuda_gemm_name(cuda_gemm_method_t m);

/* cuda_layout.c */
int cuda_im2col(void *state, const spin_conv_geom_t *g, void *col,
                const void *x, spin_stream_t *s);
int cuda_col2im(void *state, spin_dtype_t dt, const spin_conv_geom_t *g,
                void *x, const void *col, spin_stream_t *s);
int cuda_sum_axis(void *state, spin_dtype_t dt, void *y, const void *x,
                  size_t outer, size_t len, size_t inner, int accumulate,
                  spin_stream_t *s);

#endif /* !__CUDACC__ */

#endif /* SPIN_CUDA_INTERNAL_H */
