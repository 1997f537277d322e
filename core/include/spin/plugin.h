/*
 * spin/plugin.h - the whole Spin plugin SDK.
 *
 * A Spin plugin is a shared object that exports exactly one symbol,
 * SPIN_PLUGIN_QUERY_SYMBOL ("spin_plugin_query"), a function that returns a
 * pointer to a constant spin_plugin_desc_t.  The descriptor says which ABI the
 * plugin was compiled against, what kind of backend it is (compute or
 * transport), its name, version and capability bits, its init/fini functions
 * and its ops table.
 *
 * ABI rules (checked by the loader, see docs/PLUGINS.md):
 *   - abi_major must equal SPIN_ABI_MAJOR of the core;
 *   - abi_minor may not exceed the core's SPIN_ABI_MINOR;
 *   - struct_size / ops_size must be at least the size of the structure as it
 *     was in ABI 1.0; structures only ever grow by appending fields, so a core
 *     reads only the fields that the plugin's ABI minor version contains.
 *   - every op marked "mandatory" must be non-NULL, or the plugin is rejected;
 *     optional ops are never called when NULL.
 *   - plugin names are API: never rename one.
 *
 * Conventions: every function returns 0 (SPIN_OK) or a negative SPIN_ERR_*
 * code; outputs are written only on success.  "state" is the pointer that
 * init() produced; each init() call creates an independent instance, so
 * several Spin contexts (parties run as threads, say) can use one plugin file
 * in one process.  Plugins keep no global mutable state.
 */
#ifndef SPIN_PLUGIN_H
#define SPIN_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <spin/errors.h>
#include <spin/log.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPIN_ABI_MAJOR 1
#define SPIN_ABI_MINOR 2

/** Name of the one symbol a plugin exports. */
#define SPIN_PLUGIN_QUERY_SYMBOL "spin_plugin_query"

#if defined(__GNUC__)
#define SPIN_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define SPIN_PLUGIN_EXPORT
#endif

typedef enum spin_plugin_kind {
    SPIN_PLUGIN_COMPUTE = 1,
    SPIN_PLUGIN_TRANSPORT = 2
} spin_plugin_kind_t;

/* ------------------------------------------------------------------------ */
/* Capability bits (spin_plugin_desc_t.caps).                               */
/* ------------------------------------------------------------------------ */

/** Compute: memory returned by mem_alloc is device memory, not host memory;
 *  the core must use copy_h2d/copy_d2h to read or write it. */
#define SPIN_CAP_COMPUTE_DEVICE_MEM   (UINT64_C(1) << 0)
/** Compute: streams really run asynchronously (events are meaningful). */
#define SPIN_CAP_COMPUTE_ASYNC        (UINT64_C(1) << 1)
/** Compute: float64 ops for the plaintext reference are provided
 *  (f64_gemm, f64_binary, f64_scalar, f64_unary all non-NULL). */
#define SPIN_CAP_COMPUTE_F64          (UINT64_C(1) << 2)
/** Transport: send/recv (and isend/irecv) accept device-memory buffers of
 *  the context's compute plugin (spin_transport_cfg_t.compute_name, with its
 *  ops in compute_ops; ABI 1.1).  Whether that holds depends on the machine
 *  and on the compute plugin, so a transport reports it per communicator
 *  with spin_transport_ops_t.comm_caps; in a descriptor's caps the bit means
 *  "always, for every communicator".  Without it the core stages device
 *  memory through host buffers. */
#define SPIN_CAP_TRANSPORT_DEVICE_MEM (UINT64_C(1) << 16)
/** Transport: links can be authenticated and encrypted (key files). */
#define SPIN_CAP_TRANSPORT_SECURE     (UINT64_C(1) << 17)

/* ------------------------------------------------------------------------ */
/* What the core hands to a plugin at init.                                 */
/* ------------------------------------------------------------------------ */

typedef struct spin_plugin_host {
    uint32_t struct_size;        /**< sizeof(spin_plugin_host_t) of the core */
    const spin_logger_t *log;    /**< log through spin_log(host->log, ...) */
    /** Configuration lookup (environment by default); returns NULL if unset.
     *  Plugins must use this rather than getenv() so tests can inject it. */
    const char *(*getenv)(void *env_ctx, const char *name);
    void *env_ctx;
} spin_plugin_host_t;

/* ------------------------------------------------------------------------ */
/* Compute backend.                                                         */
/* ------------------------------------------------------------------------ */

/** Opaque, plugin-defined.  NULL always means the plugin's default stream,
 *  which is synchronous with respect to the host for the CPU plugin. */
typedef struct spin_stream spin_stream_t;
typedef struct spin_event spin_event_t;

/** Element types for the ops that take one. */
typedef enum spin_dtype {
    SPIN_DT_U64 = 1,   /**< ring Z_2^64, wrap-around arithmetic */
    SPIN_DT_F64 = 2    /**< IEEE double, plaintext reference */
} spin_dtype_t;

/** Element-wise binary ring ops: z[i] = x[i] OP y[i] (mod 2^64). */
typedef enum spin_ring_binop {
    SPIN_RING_ADD = 1,
    SPIN_RING_SUB = 2,
    SPIN_RING_MUL = 3,
    SPIN_RING_AND = 4,
    SPIN_RING_XOR = 5,
    SPIN_RING_OR = 6
} spin_ring_binop_t;

/** Element-wise ring ops with a scalar: z[i] = x[i] OP c.
 *  Shifts take c in [0, 63]; larger c is SPIN_ERR_INVAL.
 *  SPIN_RING_RSUB_S is c - x[i]. */
typedef enum spin_ring_scalarop {
    SPIN_RING_ADD_S = 1,
    SPIN_RING_SUB_S = 2,
    SPIN_RING_MUL_S = 3,
    SPIN_RING_AND_S = 4,
    SPIN_RING_XOR_S = 5,
    SPIN_RING_SHL_S = 6,   /**< logical left shift */
    SPIN_RING_SHR_S = 7,   /**< logical right shift (zero fill) */
    SPIN_RING_SAR_S = 8,   /**< arithmetic right shift (x as int64) */
    SPIN_RING_RSUB_S = 9,
    SPIN_RING_OR_S = 10
} spin_ring_scalarop_t;

/** Element-wise unary ring ops. */
typedef enum spin_ring_unop {
    SPIN_RING_NEG = 1,     /**< -x mod 2^64 */
    SPIN_RING_NOT = 2,     /**< ~x */
    SPIN_RING_COPY = 3
} spin_ring_unop_t;

/** Element-wise float64 ops (plaintext reference). */
typedef enum spin_f64_binop {
    SPIN_F64_ADD = 1, SPIN_F64_SUB = 2, SPIN_F64_MUL = 3, SPIN_F64_DIV = 4,
    SPIN_F64_MAX = 5, SPIN_F64_MIN = 6
} spin_f64_binop_t;

typedef enum spin_f64_scalarop {
    SPIN_F64_ADD_S = 1, SPIN_F64_MUL_S = 2, SPIN_F64_MAX_S = 3,
    SPIN_F64_MIN_S = 4, SPIN_F64_RSUB_S = 5, SPIN_F64_POW_S = 6
} spin_f64_scalarop_t;

typedef enum spin_f64_unop {
    SPIN_F64_NEG = 1, SPIN_F64_EXP = 2, SPIN_F64_LOG = 3, SPIN_F64_SQRT = 4,
    SPIN_F64_RSQRT = 5, SPIN_F64_RECIP = 6, SPIN_F64_TANH = 7,
    SPIN_F64_SIGMOID = 8, SPIN_F64_ERF = 9, SPIN_F64_RELU = 10,
    SPIN_F64_ABS = 11, SPIN_F64_COPY = 12
} spin_f64_unop_t;

/**
 * A (batched) GEMM, row-major:  C_b (= or +=) op(A_b) * op(B_b),  b < batch.
 * op(A) is m x k: A is stored m x k (lda >= k) or, if trans_a, k x m
 * (lda >= m).  op(B) is k x n: B is stored k x n (ldb >= n) or, if trans_b,
 * n x k (ldb >= k).  C is m x n, ldc >= n.  Leading dimensions and batch
 * strides count elements.  A batch stride of 0 reuses the same matrix for
 * every batch entry (broadcast).  For the ring, arithmetic is mod 2^64; for
 * f64 it is IEEE double.  k == 0 sets C to 0 (or leaves it, if accumulate).
 */
typedef struct spin_gemm {
    int trans_a, trans_b;
    int accumulate;            /**< 0: C = AB;  1: C += AB */
    size_t m, n, k;
    size_t batch;              /**< >= 1 */
    const void *a; size_t lda; size_t stride_a;
    const void *b; size_t ldb; size_t stride_b;
    void *c;       size_t ldc; size_t stride_c;
} spin_gemm_t;

/**
 * Convolution geometry for im2col / col2im (NCHW).
 *   x:   [n][c][h][w]
 *   col: [n][c*kh*kw][oh*ow], row index (ci*kh + i)*kw + j, column oy*ow + ox,
 *        value x[b][ci][oy*sh - ph + i*dh][ox*sw - pw + j*dw] or 0 outside.
 * oh = (h + 2 ph - dh (kh-1) - 1) / sh + 1, likewise ow; the caller fills
 * them and the plugin checks them (SPIN_ERR_INVAL on mismatch).
 * col2im is the adjoint: x is zeroed and every col element added back into
 * the x element it came from (ring or float addition by dtype).
 */
typedef struct spin_conv_geom {
    size_t n, c, h, w;
    size_t kh, kw;
    size_t sh, sw;             /**< strides, >= 1 */
    size_t ph, pw;             /**< zero padding */
    size_t dh, dw;             /**< dilation, >= 1 */
    size_t oh, ow;
} spin_conv_geom_t;

/**
 * AES-128-CTR PRG layout (identical on every compute plugin):
 *   key:     16 bytes;
 *   counter block for block index i (i = 0, 1, ...):
 *            the 128-bit big-endian integer (nonce * 2^64 + i) mod 2^128,
 *            i.e. bytes 0..7 = nonce big-endian, bytes 8..15 = i big-endian;
 *   stream:  AES_key(block 0) || AES_key(block 1) || ...  (16 bytes each);
 *   words:   word j of the stream is bytes [8j, 8j+8) read little-endian.
 * prg_fill writes words [first_word, first_word + n) of that stream, so
 * a stream can be consumed in pieces, from any offset, on any plugin.
 */
typedef struct spin_prg_key {
    uint8_t key[16];
} spin_prg_key_t;

/** What mem_export_dmabuf says about plugin memory (ABI 1.1). */
typedef struct spin_dmabuf {
    uint32_t struct_size;      /**< set by the caller: sizeof(spin_dmabuf_t) */
    /** Out: a new dma-buf file descriptor that the caller owns (close it),
     *  or -1 with SPIN_DMABUF_QUERY. */
    int fd;
    /** Out: a page-aligned range [base, base + size) that holds the queried
     *  one (the plugin's allocation; an export may give a larger range,
     *  e.g. the driver's allocation).  An exported dma-buf holds it from
     *  byte `offset` on, so the queried ptr is at dma-buf byte
     *  offset + (ptr - base): ibv_reg_dmabuf_mr(pd, offset, size,
     *  (uintptr_t)base, fd, access) registers it with iova = base, so work
     *  requests address device memory by its own pointer values. */
    const void *base;
    size_t size;
    uint64_t offset;
    /** Out: identity of the allocation behind [base, base + size): another
     *  allocation at the same address (after a free) has another id, so a
     *  registration made for one id is never used for another. */
    uint64_t id;
} spin_dmabuf_t;

/** mem_export_dmabuf flag: only identify the memory (fd = -1, no dma-buf
 *  created); cheap enough for every transfer. */
#define SPIN_DMABUF_QUERY 1u

typedef struct spin_compute_ops {
    /* --- memory (all mandatory) ----------------------------------------- */
    /** Allocate bytes of plugin memory (host or device), aligned to 64. */
    int (*mem_alloc)(void *state, size_t bytes, void **ptr);
    /** Free memory from mem_alloc; NULL is a no-op. */
    int (*mem_free)(void *state, void *ptr);
    /** Host -> plugin memory, ordered on stream s. */
    int (*copy_h2d)(void *state, void *dst, const void *src, size_t bytes,
                    spin_stream_t *s);
    /** Plugin -> host memory, ordered on stream s. */
    int (*copy_d2h)(void *state, void *dst, const void *src, size_t bytes,
                    spin_stream_t *s);
    /** Plugin -> plugin memory, ordered on stream s (regions may not overlap). */
    int (*copy_d2d)(void *state, void *dst, const void *src, size_t bytes,
                    spin_stream_t *s);
    /** Set bytes of plugin memory to 0. */
    int (*mem_zero)(void *state, void *dst, size_t bytes, spin_stream_t *s);

    /* --- streams and events (all mandatory) ------------------------------ */
    int (*stream_create)(void *state, spin_stream_t **s);
    int (*stream_destroy)(void *state, spin_stream_t *s);
    /** Block the host until all work queued on s has finished. */
    int (*stream_sync)(void *state, spin_stream_t *s);
    int (*event_create)(void *state, spin_event_t **e);
    int (*event_destroy)(void *state, spin_event_t *e);
    /** Record e at the current end of stream s. */
    int (*event_record)(void *state, spin_event_t *e, spin_stream_t *s);
    /** Make later work on s wait until e has completed. */
    int (*stream_wait_event)(void *state, spin_stream_t *s, spin_event_t *e);
    /** Block the host until e has completed. */
    int (*event_sync)(void *state, spin_event_t *e);

    /* --- element-wise ring ops on n contiguous uint64 (mandatory) -------- */
    /* z may alias x or y exactly (in place); partial overlap is undefined. */
    int (*ring_binary)(void *state, spin_ring_binop_t op, uint64_t *z,
                       const uint64_t *x, const uint64_t *y, size_t n,
                       spin_stream_t *s);
    int (*ring_scalar)(void *state, spin_ring_scalarop_t op, uint64_t *z,
                       const uint64_t *x, uint64_t c, size_t n,
                       spin_stream_t *s);
    int (*ring_unary)(void *state, spin_ring_unop_t op, uint64_t *z,
                      const uint64_t *x, size_t n, spin_stream_t *s);

    /* --- linear algebra and layout (mandatory) --------------------------- */
    /** 64-bit ring GEMM, see spin_gemm_t. */
    int (*ring_gemm)(void *state, const spin_gemm_t *g, spin_stream_t *s);
    /** im2col on 8-byte elements (a copy: the same for both dtypes). */
    int (*im2col)(void *state, const spin_conv_geom_t *g, void *col,
                  const void *x, spin_stream_t *s);
    /** col2im (adds; see spin_conv_geom_t) in ring or float arithmetic. */
    int (*col2im)(void *state, spin_dtype_t dt, const spin_conv_geom_t *g,
                  void *x, const void *col, spin_stream_t *s);
    /** Sum along an axis: x viewed as [outer][len][inner],
     *  y[o][i] (= or +=) sum_l x[o][l][i]. */
    int (*sum_axis)(void *state, spin_dtype_t dt, void *y, const void *x,
                    size_t outer, size_t len, size_t inner, int accumulate,
                    spin_stream_t *s);

    /* --- randomness (mandatory) ------------------------------------------ */
    /** AES-128-CTR stream words [first_word, first_word+n), see
     *  spin_prg_key_t for the exact layout. */
    int (*prg_fill)(void *state, const spin_prg_key_t *key, uint64_t nonce,
                    uint64_t first_word, uint64_t *out, size_t n,
                    spin_stream_t *s);

    /* --- fixed-point conversion (mandatory) ------------------------------ */
    /** z[i] = round_half_away(x[i] * 2^f) as int64 mod 2^64; |x| must be
     *  below 2^(63-f) (SPIN_ERR_RANGE otherwise, z untouched), NaN likewise. */
    int (*ring_from_f64)(void *state, uint64_t *z, const double *x, size_t n,
                         unsigned f, spin_stream_t *s);
    /** z[i] = (int64)x[i] / 2^f. */
    int (*ring_to_f64)(void *state, double *z, const uint64_t *x, size_t n,
                       unsigned f, spin_stream_t *s);

    /* --- float64 reference (optional: SPIN_CAP_COMPUTE_F64) -------------- */
    int (*f64_gemm)(void *state, const spin_gemm_t *g, spin_stream_t *s);
    int (*f64_binary)(void *state, spin_f64_binop_t op, double *z,
                      const double *x, const double *y, size_t n,
                      spin_stream_t *s);
    int (*f64_scalar)(void *state, spin_f64_scalarop_t op, double *z,
                      const double *x, double c, size_t n, spin_stream_t *s);
    int (*f64_unary)(void *state, spin_f64_unop_t op, double *z,
                     const double *x, size_t n, spin_stream_t *s);

    /* --- ABI 1.1 --------------------------------------------------------- */
    /** Optional (NULL: unsupported).  Is [ptr, ptr + bytes) memory of this
     *  instance (from mem_alloc, not freed)?  0 and *out filled if so;
     *  SPIN_ERR_INVAL, without logging, if it is not (host memory, say).
     *  Without SPIN_DMABUF_QUERY in flags it also exports the allocation as
     *  a dma-buf (out->fd, for ibv_reg_dmabuf_mr and the like), or returns
     *  SPIN_ERR_NOTSUP (driver or device cannot) with a logged reason.
     *  Transports call it (through spin_transport_cfg_t.compute_ops) on the
     *  thread that drives the context; the memory stays the caller's. */
    int (*mem_export_dmabuf)(void *state, const void *ptr, size_t bytes,
                             unsigned flags, spin_dmabuf_t *out);
    /* Append new ops here only. */
} spin_compute_ops_t;

/* ------------------------------------------------------------------------ */
/* Transport backend.                                                       */
/* ------------------------------------------------------------------------ */

/** Configuration of one party's communicator (one per context). */
typedef struct spin_transport_cfg {
    uint32_t struct_size;        /**< sizeof(spin_transport_cfg_t) of the core */
    int party;                   /**< my id, 0 <= party < nparties */
    int nparties;                /**< number of processes linked (incl. dealer) */
    /** endpoints[i]: where party i listens, e.g. "tcp://10.0.0.2:7100" or
     *  "ipc:///tmp/spin-x/p1".  A party binds its own and connects to others. */
    const char *const *endpoints;
    /** A silent peer is an error after this many ms.  The core resolves it
     *  (spin_ctx_opts_t.timeout_ms, else SPIN_TIMEOUT seconds, else 60 s) and
     *  passes a value > 0; a transport treats <= 0 (a test harness, say) as
     *  60 s and never reads SPIN_TIMEOUT itself. */
    int timeout_ms;
    /** Directory with key files for authenticated, encrypted links, or NULL.
     *  Layout: party<i>.pub for every party, party<me>.key for my secret. */
    const char *key_dir;
    /** Value every party must agree on (protocol/config fingerprint); a peer
     *  with another value is refused at connection time, naming it.  The
     *  core's layout (SPIN_FP_*): bits 0..7 the fractional bits f, bits 8..15
     *  the computing parties N, bits 16..63 a hash of the Spin version and
     *  plugin ABI, so one HELLO checks the whole configuration and an error
     *  can say which part differs.  Transports compare all 64 bits. */
    uint64_t fingerprint;

    /* --- ABI 1.1: the context's compute backend.  Read these only when
     * struct_size >= SPIN_TRANSPORT_CFG_SIZE_1_1 (an older core passes a
     * shorter struct).  All stay valid until close. ------------------------ */
    const char *compute_name;    /**< e.g. "cuda"; NULL if unknown */
    uint64_t compute_caps;       /**< its SPIN_CAP_COMPUTE_* bits */
    /** Its ops as the core sees them (ops a plugin of an older ABI lacks are
     *  NULL) and its state: a transport may call them (copies, allocation,
     *  stream_sync, mem_export_dmabuf) from inside its own ops, which the
     *  core calls on the context's thread.  NULL if unknown. */
    const spin_compute_ops_t *compute_ops;
    void *compute_state;
} spin_transport_cfg_t;

/** Fields of spin_transport_cfg_t.fingerprint as the core fills it. */
#define SPIN_FP_FRAC_BITS(fp)  ((unsigned)((fp) & 0xff))
#define SPIN_FP_NPARTIES(fp)   ((unsigned)(((fp) >> 8) & 0xff))
#define SPIN_FP_BUILD(fp)      ((fp) >> 16)
#define SPIN_FP_MAKE(build, nparties, frac_bits) \
    (((uint64_t)(build) << 16) | ((uint64_t)((nparties) & 0xff) << 8) | ((uint64_t)(frac_bits) & 0xff))

/** Opaque, plugin-defined request handle for non-blocking operations. */
typedef struct spin_request spin_request_t;

/** Counters for one peer, since open. */
typedef struct spin_transport_stats {
    uint64_t bytes_sent, bytes_recv;   /**< payload bytes, no framing */
    uint64_t msgs_sent, msgs_recv;
} spin_transport_stats_t;

typedef struct spin_transport_ops {
    /** Open my communicator and connect to every peer; returns when all
     *  links are up (or timeout).  comm is an independent instance. */
    int (*open)(void *state, const spin_transport_cfg_t *cfg, void **comm);
    /** Close; pending requests are cancelled. */
    void (*close)(void *comm);
    /** Blocking send of len bytes to peer with a tag.  Messages between two
     *  parties arrive in send order; a tag mismatch at recv is an error. */
    int (*send)(void *comm, int peer, uint32_t tag, const void *buf, size_t len);
    /** Blocking receive of exactly len bytes from peer with tag; a message
     *  of another length or tag is SPIN_ERR_PROTOCOL, naming the peer. */
    int (*recv)(void *comm, int peer, uint32_t tag, void *buf, size_t len);
    /** Non-blocking forms; buf must stay valid until wait() returns. */
    int (*isend)(void *comm, int peer, uint32_t tag, const void *buf,
                 size_t len, spin_request_t **req);
    int (*irecv)(void *comm, int peer, uint32_t tag, void *buf, size_t len,
                 spin_request_t **req);
    /** Wait for a request to complete and release it. */
    int (*wait)(void *comm, spin_request_t *req);
    /** Counters for one peer. */
    int (*stats)(void *comm, int peer, spin_transport_stats_t *out);

    /* --- ABI 1.1 --------------------------------------------------------- */
    /** Optional (NULL: the descriptor's caps hold).  The SPIN_CAP_TRANSPORT_*
     *  bits in effect for this open communicator: with
     *  SPIN_CAP_TRANSPORT_DEVICE_MEM, send/recv/isend/irecv take device
     *  memory of cfg->compute_ops (and host memory as before: the transport
     *  tells them apart, e.g. with mem_export_dmabuf's query), the core
     *  synchronises the compute stream before it posts a send from device
     *  memory, and a device receive holds its data (visible to later work on
     *  any stream) once wait() has returned.  Constant for the comm's life. */
    uint64_t (*comm_caps)(void *comm);
    /* Append new ops here only. */
} spin_transport_ops_t;

/* ------------------------------------------------------------------------ */
/* The descriptor.                                                          */
/* ------------------------------------------------------------------------ */

typedef struct spin_plugin_desc {
    uint32_t abi_major;          /**< SPIN_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor;          /**< SPIN_ABI_MINOR the plugin was built with */
    uint32_t struct_size;        /**< sizeof(spin_plugin_desc_t) */
    uint32_t kind;               /**< spin_plugin_kind_t */
    const char *name;            /**< short, stable, [a-z0-9_]+ */
    const char *version;         /**< free-form, for spin-info */
    const char *description;     /**< one line, for spin-info */
    uint64_t caps;               /**< SPIN_CAP_* */
    /**
     * Create an instance.  On "no such device / driver here" return
     * SPIN_ERR_UNAVAILABLE with a reason in why; on other failures another
     * code, again with a reason.  why is always NUL-terminated by the core.
     */
    int (*init)(const spin_plugin_host_t *host, void **state,
                char *why, size_t whylen);
    void (*fini)(void *state);
    const void *ops;             /**< spin_compute_ops_t / spin_transport_ops_t */
    uint32_t ops_size;           /**< sizeof of that ops struct */

    /* --- ABI 1.2 (read only when struct_size >= SPIN_PLUGIN_DESC_SIZE_1_2) */
    /** Transport: the endpoint schemes it accepts, space-separated without
     *  "://", e.g. "tcp ipc".  The core picks (or checks) a transport by the
     *  schemes of the endpoints, so a new scheme needs no core edit.  NULL,
     *  or a plugin of ABI < 1.2: "tcp ipc".  Compute plugins: NULL. */
    const char *endpoint_schemes;
    /* Append new fields here only. */
} spin_plugin_desc_t;

typedef const spin_plugin_desc_t *(*spin_plugin_query_fn)(void);

/** Size of spin_compute_ops_t / spin_transport_ops_t in ABI 1.0. */
#define SPIN_COMPUTE_OPS_SIZE_1_0 (offsetof(spin_compute_ops_t, f64_unary) + sizeof(void (*)(void)))
#define SPIN_TRANSPORT_OPS_SIZE_1_0 (offsetof(spin_transport_ops_t, stats) + sizeof(void (*)(void)))
#define SPIN_PLUGIN_DESC_SIZE_1_0 (offsetof(spin_plugin_desc_t, ops_size) + sizeof(uint32_t))
#define SPIN_PLUGIN_DESC_SIZE_1_2 (offsetof(spin_plugin_desc_t, endpoint_schemes) + sizeof(const char *))
/** Size of spin_transport_cfg_t in ABI 1.0, and since ABI 1.1 (the compute
 *  backend fields). */
#define SPIN_TRANSPORT_CFG_SIZE_1_0 (offsetof(spin_transport_cfg_t, fingerprint) + sizeof(uint64_t))
#define SPIN_TRANSPORT_CFG_SIZE_1_1 (offsetof(spin_transport_cfg_t, compute_state) + sizeof(void *))

#ifdef __cplusplus
}
#endif

#endif /* SPIN_PLUGIN_H */
