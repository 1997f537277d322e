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
 * code; outputs are written only on success (the few exceptions are named
 * at their op).  "state" is the pointer that init() produced; each init()
 * call creates an independent instance, so several Spin contexts (parties
 * run as threads, say) can use one plugin file in one process.  Plugins keep
 * no global mutable state.  Every slot's comment below says what it does,
 * whether it is mandatory (and what NULL means if not), which thread may
 * call it, what it returns on each error, and its edge cases.  The
 * conformance suites (tests/conformance_compute*.c,
 * tests/conformance_transport.c) define the contract and run against every
 * bundled plugin.
 *
 * Threading.  The core makes one instance (one init() call) per plugin and
 * runtime, and spin_ctx_open() opens one runtime per context: parties run as
 * threads of one process (spin_run_local(), the conformance suites) each
 * have their own compute instance, transport instance and communicator, so
 * init() of one plugin file may run on several threads at once.  All calls
 * on one instance, and on what it made (memory, streams, events, a
 * communicator, its requests), come from the thread that drives the
 * context, one call at a time: no two calls on one state or comm are ever
 * concurrent, and plugins need no locks for that.  Distinct instances are
 * used concurrently.  A transport may call its context's compute ops
 * (spin_transport_cfg_t.compute_ops) from inside its own ops: the same
 * thread.  A plugin may run threads of its own inside a call (OpenMP,
 * ZeroMQ's I/O thread, CUDA host functions).
 *
 * Errors.  Unless a slot's comment says otherwise, a failing op logs the
 * reason at SPIN_LOG_ERROR through host->log where the problem is found,
 * naming the op and the value or peer (the conformance suites check for
 * it), and returns one of:
 *   SPIN_ERR_INVAL     a bad argument: a NULL pointer with a non-zero size,
 *                      an unknown op or dtype, a bad shape, geometry or
 *                      leading dimension, a shift or f above 63, a peer out
 *                      of range or oneself, a stream or event that is not
 *                      the plugin's;
 *   SPIN_ERR_NOMEM     out of host or device memory;
 *   SPIN_ERR_RANGE     a value outside its documented range (ring_from_f64,
 *                      prg_fill);
 *   SPIN_ERR_INTERNAL  a device, driver or library failure, or a bug (the
 *                      cuda plugin maps CUDA's out-of-memory to
 *                      SPIN_ERR_NOMEM, invalid-value to SPIN_ERR_INVAL,
 *                      no-device/no-driver to SPIN_ERR_UNAVAILABLE and every
 *                      other CUDA error to SPIN_ERR_INTERNAL; the cpu plugin
 *                      returns it when OpenSSL fails);
 *   SPIN_ERR_UNAVAILABLE  init(): no such device or driver here;
 *   SPIN_ERR_NOTSUP    not supported by this plugin or machine (a plugin
 *                      may return it from a mandatory op it does not
 *                      implement, as examples/plugin does; such a plugin
 *                      does not pass the conformance suite);
 *   SPIN_ERR_CONFIG    a bad setting, endpoint or key file, or a peer
 *                      configured differently (party count, fingerprint);
 *   SPIN_ERR_AUTH      a peer's key was refused;
 *   SPIN_ERR_TIMEOUT   a peer stayed silent for timeout_ms;
 *   SPIN_ERR_PEER      a peer closed its communicator, exited or reset the
 *                      link;
 *   SPIN_ERR_PROTOCOL  a peer is out of step: another tag, length or
 *                      sequence number than the receive expects, or
 *                      malformed framing;
 *   SPIN_ERR_IO        a system call or network operation failed.
 * An asynchronous compute plugin (SPIN_CAP_COMPUTE_ASYNC) checks the
 * arguments and queues the work inside the call: a failure of the queued
 * work is returned by a later call on that stream (stream_sync, event_sync
 * or a later op), and that work's outputs are undefined.  A transport link
 * that failed stays failed: every later operation on it returns that
 * link's code at once.
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

/*
 * The compute ops.  Data pointers are plugin memory (from mem_alloc, at any
 * offset inside an allocation; without SPIN_CAP_COMPUTE_DEVICE_MEM it is
 * host memory that the caller also reads and writes directly), except
 * copy_h2d's src and copy_d2h's dst, which are host memory; descriptors
 * (spin_gemm_t, spin_conv_geom_t, spin_prg_key_t) are host memory, read
 * during the call only.  Every op that takes a stream s queues its work on
 * s in order; NULL is the plugin's default stream.  Streams and events
 * belong to the instance that created them.  Thread, for every op: the
 * thread that drives the context, one call per instance at a time (see
 * "Threading" above); distinct instances run concurrently.  The cpu plugin
 * runs every op inside the call; the cuda plugin (SPIN_CAP_COMPUTE_ASYNC)
 * queues it and returns.
 */
typedef struct spin_compute_ops {
    /* --- memory (all mandatory) ----------------------------------------- */
    /** Allocate bytes of plugin memory (host or device), aligned to 64
     *  bytes, contents undefined, into *ptr (written only on success); free
     *  it with mem_free.  bytes == 0 gives a valid, distinct pointer.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL if ptr is NULL; SPIN_ERR_NOMEM when memory
     *  runs out or bytes is too large to allocate; cuda: SPIN_ERR_INTERNAL
     *  on another device failure. */
    int (*mem_alloc)(void *state, size_t bytes, void **ptr);
    /** Free memory from this instance's mem_alloc; NULL is a no-op.  The
     *  free is ordered after the work already queued on the default stream
     *  (that work may still use ptr); work on other streams that uses ptr
     *  must have completed, or been ordered before the default stream with
     *  an event, when mem_free is called.  A pointer not from mem_alloc, or
     *  freed twice, is undefined (the cuda plugin detects it:
     *  SPIN_ERR_INVAL).
     *  Mandatory.  Thread: the context's.
     *  Returns 0; cuda: SPIN_ERR_INVAL as above, SPIN_ERR_INTERNAL if the
     *  device fails (the block is then released at once). */
    int (*mem_free)(void *state, void *ptr);
    /** Copy bytes from host memory src to plugin memory dst, ordered on s.
     *  Later work on s sees the data.  Keep src unchanged until the copy
     *  has completed (stream_sync(s), or an event recorded after it); the
     *  cpu plugin, and the cuda plugin for pageable host memory, have read
     *  src when the call returns.  bytes == 0 does nothing (the pointers may
     *  be NULL).  dst and src must not overlap.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for a NULL pointer with bytes > 0 or a
     *  stream that is not the plugin's; cuda: SPIN_ERR_INTERNAL (or
     *  SPIN_ERR_INVAL for a bad address) when the device fails. */
    int (*copy_h2d)(void *state, void *dst, const void *src, size_t bytes,
                    spin_stream_t *s);
    /** Copy bytes from plugin memory src to host memory dst, ordered on s.
     *  dst holds the data once the copy has completed (stream_sync(s), or
     *  event_sync of an event recorded after it); the cpu plugin has
     *  written it when the call returns, the cuda plugin may write it
     *  later (by DMA, or from a CUDA host function).  bytes == 0 does
     *  nothing (the pointers may be NULL).  dst and src must not overlap.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for a NULL pointer with bytes > 0 or a
     *  stream that is not the plugin's; cuda: SPIN_ERR_INTERNAL (or
     *  SPIN_ERR_INVAL for a bad address) when the device fails. */
    int (*copy_d2h)(void *state, void *dst, const void *src, size_t bytes,
                    spin_stream_t *s);
    /** Copy bytes of plugin memory from src to dst, ordered on s.  dst ==
     *  src does nothing; other overlapping regions are undefined (the cpu
     *  plugin copies as memmove does, the cuda plugin does not).  bytes == 0
     *  does nothing (the pointers may be NULL).
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for a NULL pointer with bytes > 0 or a
     *  stream that is not the plugin's; cuda: SPIN_ERR_INTERNAL when the
     *  device fails. */
    int (*copy_d2d)(void *state, void *dst, const void *src, size_t bytes,
                    spin_stream_t *s);
    /** Set bytes of plugin memory at dst to 0, ordered on s.  bytes == 0
     *  does nothing (dst may be NULL).
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for dst NULL with bytes > 0 or a stream
     *  that is not the plugin's; cuda: SPIN_ERR_INTERNAL when the device
     *  fails. */
    int (*mem_zero)(void *state, void *dst, size_t bytes, spin_stream_t *s);

    /* --- streams and events (all mandatory) ------------------------------ */
    /** Create a stream in *s (written only on success).  Work on one
     *  stream runs in order; streams are not ordered with respect to each
     *  other, the default stream included: order them with events.  With
     *  SPIN_CAP_COMPUTE_ASYNC the work also runs asynchronously to the host.
     *  A plugin that runs every op inside the call still returns a real,
     *  distinct object (the cpu plugin does).
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL if s is NULL; SPIN_ERR_NOMEM; cuda:
     *  SPIN_ERR_INTERNAL when the device fails. */
    int (*stream_create)(void *state, spin_stream_t **s);
    /** Destroy a stream from stream_create; work already queued on it still
     *  completes.  NULL (the default stream, never destroyed) does nothing.
     *  s is invalid afterwards, also when the device reports an error.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for a pointer that is not one of the
     *  plugin's streams; cuda: SPIN_ERR_INTERNAL when the device fails. */
    int (*stream_destroy)(void *state, spin_stream_t *s);
    /** Block the calling thread until all work queued on s (NULL: the
     *  default stream) has finished.  This is where an asynchronous plugin
     *  reports a failure of that work.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for a stream that is not the plugin's;
     *  cuda: the mapped code of a failure of the queued work (usually
     *  SPIN_ERR_INTERNAL). */
    int (*stream_sync)(void *state, spin_stream_t *s);
    /** Create an event in *e (written only on success), not yet recorded:
     *  event_sync and stream_wait_event on it return at once.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL if e is NULL; SPIN_ERR_NOMEM; cuda:
     *  SPIN_ERR_INTERNAL when the device fails. */
    int (*event_create)(void *state, spin_event_t **e);
    /** Destroy an event from event_create; NULL does nothing.  It may be
     *  destroyed while the work it was recorded after is still running.
     *  e is invalid afterwards.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for a pointer that is not one of the
     *  plugin's events; cuda: SPIN_ERR_INTERNAL when the device fails. */
    int (*event_destroy)(void *state, spin_event_t *e);
    /** Record e at the current end of stream s (NULL: the default stream):
     *  e completes when the work queued on s so far has.  Recording it
     *  again moves it to the new end.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL if e is NULL or not the plugin's, or s is
     *  not the plugin's; cuda: SPIN_ERR_INTERNAL when the device fails. */
    int (*event_record)(void *state, spin_event_t *e, spin_stream_t *s);
    /** Make later work on s (NULL: the default stream) wait until e (as
     *  last recorded) has completed; the host does not block.  An event
     *  never recorded imposes no wait.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL if e is NULL or not the plugin's, or s is
     *  not the plugin's; cuda: SPIN_ERR_INTERNAL when the device fails. */
    int (*stream_wait_event)(void *state, spin_stream_t *s, spin_event_t *e);
    /** Block the calling thread until e (as last recorded) has completed;
     *  an event never recorded returns at once.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL if e is NULL or not the plugin's; cuda:
     *  the mapped code of a failure of the work e waits for (usually
     *  SPIN_ERR_INTERNAL). */
    int (*event_sync)(void *state, spin_event_t *e);

    /* --- element-wise ring ops on n contiguous uint64 (mandatory) -------- */
    /* z may alias x or y exactly (in place); partial overlap is undefined. */
    /** z[i] = x[i] OP y[i] (mod 2^64) for i < n, OP one of
     *  spin_ring_binop_t, on s.  z may equal x or y, and x may equal y.
     *  n == 0 does nothing (the pointers may be NULL).
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for an unknown op (also with n == 0), a
     *  NULL pointer with n > 0 or a stream that is not the plugin's; cuda:
     *  SPIN_ERR_INTERNAL if the kernel launch fails. */
    int (*ring_binary)(void *state, spin_ring_binop_t op, uint64_t *z,
                       const uint64_t *x, const uint64_t *y, size_t n,
                       spin_stream_t *s);
    /** z[i] = x[i] OP c for i < n, OP one of spin_ring_scalarop_t (RSUB_S
     *  is c - x[i]; the shifts take c in [0, 63]), on s.  z may equal x.
     *  n == 0 does nothing (the pointers may be NULL).
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for an unknown op or a shift by more than
     *  63 (both also with n == 0), a NULL pointer with n > 0 or a stream
     *  that is not the plugin's; cuda: SPIN_ERR_INTERNAL if the kernel
     *  launch fails. */
    int (*ring_scalar)(void *state, spin_ring_scalarop_t op, uint64_t *z,
                       const uint64_t *x, uint64_t c, size_t n,
                       spin_stream_t *s);
    /** z[i] = OP x[i] for i < n, OP one of spin_ring_unop_t (NEG, NOT,
     *  COPY), on s.  z may equal x (COPY in place does nothing).  n == 0
     *  does nothing (the pointers may be NULL).
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for an unknown op (also with n == 0), a
     *  NULL pointer with n > 0 or a stream that is not the plugin's; cuda:
     *  SPIN_ERR_INTERNAL if the launch fails. */
    int (*ring_unary)(void *state, spin_ring_unop_t op, uint64_t *z,
                      const uint64_t *x, size_t n, spin_stream_t *s);

    /* --- linear algebra and layout (mandatory) --------------------------- */
    /** 64-bit ring GEMM, see spin_gemm_t, on s.  m == 0 or n == 0 does
     *  nothing; k == 0 sets C to 0 (accumulate: leaves it).  stride_c == 0
     *  with batch > 1 is as if the entries ran in turn (C ends as the last
     *  entry's product, or, with accumulate, gains every entry's).  A may
     *  equal B; C must not overlap A or B.  Leading dimensions and NULL
     *  pointers are checked only for matrices that are not empty.
     *  Mandatory.  Thread: the context's (the cpu plugin keeps its packing
     *  buffer in the instance).
     *  Returns 0; SPIN_ERR_INVAL if g is NULL, batch is 0, lda, ldb or ldc
     *  is below its minimum, A, B or C is NULL while not empty, the extents
     *  overflow, or s is not the plugin's; SPIN_ERR_NOMEM (cpu: no packing
     *  buffer); cuda: SPIN_ERR_INTERNAL (SPIN_ERR_NOMEM) when the device or
     *  cuBLAS fails (a refused or too large limb GEMM falls back to the
     *  native kernel, no error). */
    int (*ring_gemm)(void *state, const spin_gemm_t *g, spin_stream_t *s);
    /** im2col on 8-byte elements (a copy: the same for both dtypes), see
     *  spin_conv_geom_t, on s: col gets every element, padding as 0.  The
     *  geometry is always checked; with no col element (n or c is 0)
     *  nothing else happens (the pointers may be NULL).  col and x must not
     *  overlap.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL if g is NULL, kh or kw is 0, a stride or
     *  dilation is 0, the dilated kernel exceeds the padded input, oh or ow
     *  disagree with the formula, the sizes overflow, col or x is NULL while
     *  needed, or s is not the plugin's; cuda: SPIN_ERR_INTERNAL if the
     *  launch fails. */
    int (*im2col)(void *state, const spin_conv_geom_t *g, void *col,
                  const void *x, spin_stream_t *s);
    /** col2im (adds; see spin_conv_geom_t) in ring or float arithmetic
     *  (dt), on s: x is overwritten, not accumulated into.  Geometry and
     *  NULL rules as im2col; with no x element nothing happens.  x and col
     *  must not overlap.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for an unknown dtype and as im2col; cuda:
     *  SPIN_ERR_INTERNAL if the launch fails. */
    int (*col2im)(void *state, spin_dtype_t dt, const spin_conv_geom_t *g,
                  void *x, const void *col, spin_stream_t *s);
    /** Sum along an axis: x viewed as [outer][len][inner],
     *  y[o][i] (= or +=) sum_l x[o][l][i], in ring or float arithmetic (dt),
     *  on s.  len == 0 sets y to 0 (accumulate: leaves it); outer or inner
     *  0 does nothing (the pointers may be NULL).  Float sums may be added
     *  in any order.  y must not overlap x.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for an unknown dtype (also with nothing to
     *  do), sizes that overflow, y NULL with outer * inner > 0, x NULL with
     *  elements to read, or a stream that is not the plugin's; cuda:
     *  SPIN_ERR_INTERNAL if the launch fails. */
    int (*sum_axis)(void *state, spin_dtype_t dt, void *y, const void *x,
                    size_t outer, size_t len, size_t inner, int accumulate,
                    spin_stream_t *s);

    /* --- randomness (mandatory) ------------------------------------------ */
    /** AES-128-CTR stream words [first_word, first_word+n), see
     *  spin_prg_key_t for the exact layout, into out (plugin memory), on
     *  s.  Any nonce; the last word of a stream is 2^64 - 1.  key is read
     *  during the call.  n == 0 does nothing (out may be NULL).
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL if key is NULL, out is NULL with n > 0, or
     *  s is not the plugin's; SPIN_ERR_RANGE, with nothing written, if the
     *  words run past 2^64 - 1; SPIN_ERR_INTERNAL if the cipher fails (cpu:
     *  OpenSSL; out may then be partly written) or the launch fails
     *  (cuda). */
    int (*prg_fill)(void *state, const spin_prg_key_t *key, uint64_t nonce,
                    uint64_t first_word, uint64_t *out, size_t n,
                    spin_stream_t *s);

    /* --- fixed-point conversion (mandatory) ------------------------------ */
    /** z[i] = round_half_away(x[i] * 2^f) as int64 mod 2^64; |x| must be
     *  below 2^(63-f) (SPIN_ERR_RANGE otherwise, z untouched), NaN likewise.
     *  For i < n, f in [0, 63], on s.  Every element is checked before any
     *  is written, so the call may block until s is idle (the cuda plugin
     *  synchronises s to return the range error).  z and x must not
     *  overlap.  n == 0 does nothing (the pointers may be NULL).
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for f > 63 (also with n == 0), a NULL
     *  pointer with n > 0 or a stream that is not the plugin's;
     *  SPIN_ERR_RANGE for a value out of range, infinite or NaN (logged with
     *  the first such index); cuda: SPIN_ERR_INTERNAL when the device
     *  fails. */
    int (*ring_from_f64)(void *state, uint64_t *z, const double *x, size_t n,
                         unsigned f, spin_stream_t *s);
    /** z[i] = (int64)x[i] / 2^f.
     *  For i < n, f in [0, 63], on s; the value is rounded to the nearest
     *  double (exact while |x| < 2^53).  z and x must not overlap.  n == 0
     *  does nothing (the pointers may be NULL).
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for f > 63 (also with n == 0), a NULL
     *  pointer with n > 0 or a stream that is not the plugin's; cuda:
     *  SPIN_ERR_INTERNAL if the launch fails. */
    int (*ring_to_f64)(void *state, double *z, const uint64_t *x, size_t n,
                       unsigned f, spin_stream_t *s);

    /* --- float64 reference (optional: SPIN_CAP_COMPUTE_F64) -------------- */
    /* The four are present exactly when the descriptor has
     * SPIN_CAP_COMPUTE_F64: the loader rejects the bit without all four, the
     * conformance suite also fails the ops without the bit.  NULL: the
     * plugin has no float64 reference.  The core never calls them
     * (spin-bench kernel uses f64_gemm as its baseline).  IEEE double
     * semantics: NaN and infinities are values like any other, never an
     * error. */
    /** IEEE double GEMM, see spin_gemm_t, on s; the shape, aliasing and
     *  stride_c == 0 rules of ring_gemm.
     *  Optional (see above).  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL as ring_gemm, and (cpu) for a dimension
     *  beyond the BLAS integer range; cuda: the mapped code
     *  (SPIN_ERR_INTERNAL, SPIN_ERR_NOMEM, SPIN_ERR_NOTSUP) when the
     *  device or cuBLAS fails. */
    int (*f64_gemm)(void *state, const spin_gemm_t *g, spin_stream_t *s);
    /** z[i] = x[i] OP y[i] for i < n, OP one of spin_f64_binop_t (MAX and
     *  MIN as fmax and fmin), on s.  Aliasing and n == 0 as ring_binary.
     *  Optional (see above).  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for an unknown op, a NULL pointer with
     *  n > 0 or a stream that is not the plugin's; cuda: SPIN_ERR_INTERNAL
     *  if the launch fails. */
    int (*f64_binary)(void *state, spin_f64_binop_t op, double *z,
                      const double *x, const double *y, size_t n,
                      spin_stream_t *s);
    /** z[i] = x[i] OP c for i < n, OP one of spin_f64_scalarop_t (RSUB_S is
     *  c - x[i], POW_S is pow(x[i], c)), on s.  Aliasing and n == 0 as
     *  ring_scalar.
     *  Optional (see above).  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for an unknown op, a NULL pointer with
     *  n > 0 or a stream that is not the plugin's; cuda: SPIN_ERR_INTERNAL
     *  if the launch fails. */
    int (*f64_scalar)(void *state, spin_f64_scalarop_t op, double *z,
                      const double *x, double c, size_t n, spin_stream_t *s);
    /** z[i] = OP x[i] for i < n, OP one of spin_f64_unop_t (libm functions;
     *  SIGMOID is 1 / (1 + exp(-x)), RSQRT 1 / sqrt(x), RELU x > 0 ? x : 0),
     *  on s; the suite accepts a relative difference of 1e-13 from libm.
     *  Aliasing and n == 0 as ring_unary.
     *  Optional (see above).  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for an unknown op, a NULL pointer with
     *  n > 0 or a stream that is not the plugin's; cuda: SPIN_ERR_INTERNAL
     *  if the launch fails. */
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
     *  thread that drives the context; the memory stays the caller's.
     *  A range inside an allocation is fine (bytes == 0 too); each export
     *  makes a new fd.  The query only reads the plugin's bookkeeping and
     *  queues no work.  The cpu plugin leaves it NULL; the cuda plugin has
     *  it (its emulated GPU exports a memfd).
     *  Thread: the context's (also from inside the transport's ops).
     *  Returns 0; SPIN_ERR_INVAL, not logged, if ptr or out is NULL,
     *  out->struct_size is too small, or the range is not this instance's
     *  memory; SPIN_ERR_NOTSUP when the export is impossible here (logged
     *  once per instance at info level, then at debug: the transport says
     *  what it does instead), with out->fd = -1 (the cuda plugin has then
     *  already filled base, size and id: only fd is meaningful); cuda:
     *  SPIN_ERR_INTERNAL when the device fails. */
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

/*
 * The transport ops.  Parties are 0 .. nparties - 1 (the dealer included);
 * a peer is any party but oneself.  Messages between two parties are
 * matched in order: the k-th receive posted for a peer gets the k-th
 * message that peer sent to us, whatever its tag; the tag and the length
 * are checked, never used to select.  Zero-length messages are messages
 * (buf may then be NULL, and a receive writes nothing).  Thread, for every
 * op: the thread that drives the context, one call per communicator at a
 * time (see "Threading" above); communicators of distinct instances run
 * concurrently.  Timeouts: a receive fails with SPIN_ERR_TIMEOUT once the
 * peer has sent nothing for timeout_ms (counted from the later of the
 * wait's start and the last bytes heard from that peer), a send the peer
 * does not take likewise (tcp counts from the wait's start); the link is
 * then failed.  Every link failure is logged naming the peer.  A link
 * failed by an earlier error (SPIN_ERR_TIMEOUT, SPIN_ERR_PEER, SPIN_ERR_IO,
 * malformed framing) fails every later operation on it at once with its
 * code; a receive of another tag or length fails only that receive
 * (SPIN_ERR_PROTOCOL), but the peers are then out of step.
 */
typedef struct spin_transport_ops {
    /** Open my communicator and connect to every peer; returns when all
     *  links are up (or timeout).  comm is an independent instance.
     *  Each party binds endpoints[party] and connects to every lower
     *  party's endpoint (higher ones connect to it); the handshake checks
     *  nparties and fingerprint with every peer.  *comm is written only on
     *  success; close it with close().  cfg and the strings it points to
     *  are read during the call; the compute backend it names
     *  (compute_ops, compute_state) stays valid until close.  The core
     *  opens one communicator per instance.
     *  Mandatory.  Thread: the context's; opens of distinct instances run
     *  concurrently (all parties of a spin_run_local() open at once).
     *  Returns 0; SPIN_ERR_INVAL for a NULL argument, cfg->struct_size below
     *  SPIN_TRANSPORT_CFG_SIZE_1_0, or a party or party count out of range;
     *  SPIN_ERR_CONFIG for no endpoint list, a missing or malformed
     *  endpoint (or one of a scheme the transport does not take), one that
     *  cannot be listened on, a missing or bad key file, or a peer
     *  with another nparties or fingerprint (at connection time, not after
     *  the timeout; the peer reports it too, or times out); SPIN_ERR_NOTSUP,
     *  at once and logged, when key_dir is set on a transport without
     *  SPIN_CAP_TRANSPORT_SECURE; SPIN_ERR_AUTH when a key is refused;
     *  SPIN_ERR_TIMEOUT when a peer has not completed the handshake within
     *  timeout_ms (naming it); SPIN_ERR_IO for a socket or device failure
     *  (an endpoint taken by another process, say); SPIN_ERR_NOMEM. */
    int (*open)(void *state, const spin_transport_cfg_t *cfg, void **comm);
    /** Close; pending requests are cancelled.
     *  Close and free the communicator; NULL does nothing.  Requests never
     *  waited for become invalid, and the transport no longer touches their
     *  buffers once close returns.  Messages of completed sends still reach
     *  healthy peers (tcp and rdma linger up to min(timeout_ms, 2 s) for
     *  them), except after a link failed or with requests still pending:
     *  then tcp and rdma drop everything at once.  A peer waiting on us then
     *  gets its earlier messages, then SPIN_ERR_PEER (or SPIN_ERR_TIMEOUT).
     *  Mandatory.  Thread: the context's; no call on comm may follow, and
     *  the core closes the comm before fini() of its instance.
     *  Returns nothing. */
    void (*close)(void *comm);
    /** Blocking send of len bytes to peer with a tag.  Messages between two
     *  parties arrive in send order; a tag mismatch at recv is an error.
     *  Returns when buf may be reused: possibly before the peer has
     *  received the message (it was copied or handed to the kernel), or
     *  only once the peer has posted its receive, so pair blocking sends
     *  and receives in an order that cannot deadlock (the conformance
     *  suite: the lower party sends first).  As isend followed by wait.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for a NULL comm or buf NULL with len > 0
     *  (not logged), or a peer out of range or oneself (nothing is sent);
     *  the failed link's code; SPIN_ERR_PEER when the peer is gone;
     *  SPIN_ERR_TIMEOUT when the peer takes nothing for timeout_ms;
     *  SPIN_ERR_IO; SPIN_ERR_NOMEM. */
    int (*send)(void *comm, int peer, uint32_t tag, const void *buf, size_t len);
    /** Blocking receive of exactly len bytes from peer with tag; a message
     *  of another length or tag is SPIN_ERR_PROTOCOL, naming the peer.
     *  It takes the next message from peer (see the matching rule above);
     *  on a mismatch that message is consumed and nothing is written to
     *  buf.  Messages a peer sent before it closed are still delivered.
     *  As irecv followed by wait.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for a NULL comm or buf NULL with len > 0
     *  (not logged), or a peer out of range or oneself; SPIN_ERR_PROTOCOL
     *  as above; SPIN_ERR_TIMEOUT when the peer sends nothing for
     *  timeout_ms; SPIN_ERR_PEER when it disconnected (after its earlier
     *  messages); the failed link's code; SPIN_ERR_IO; SPIN_ERR_NOMEM. */
    int (*recv)(void *comm, int peer, uint32_t tag, void *buf, size_t len);
    /** Non-blocking forms; buf must stay valid until wait() returns.
     *  isend: post a send of len bytes of buf to peer, and write the request
     *  to *req (only on success); pass it to wait() exactly once.  buf must
     *  also stay unchanged until then.  Sends to a peer go out in posting
     *  order and are counted in stats when posted.  Device memory of
     *  cfg->compute_ops only where comm_caps (or the descriptor's caps) has
     *  SPIN_CAP_TRANSPORT_DEVICE_MEM.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for a NULL comm or req or buf NULL with
     *  len > 0 (not logged), or a peer out of range or oneself; the failed
     *  link's code; SPIN_ERR_PEER when the peer is known to be gone;
     *  SPIN_ERR_IO; SPIN_ERR_NOMEM.  Failures after the post are returned
     *  by wait(). */
    int (*isend)(void *comm, int peer, uint32_t tag, const void *buf,
                 size_t len, spin_request_t **req);
    /** Post a receive of exactly len bytes from peer into buf (the next
     *  message from peer in posting order, see above), and write the
     *  request to *req (only on success); pass it to wait() exactly once.
     *  buf must stay valid, and is not to be read, until then.  A message
     *  that arrived before its receive is kept by the transport meanwhile.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for a NULL comm or req or buf NULL with
     *  len > 0 (not logged), or a peer out of range or oneself; the failed
     *  link's code (sock still delivers messages that arrived whole before
     *  the failure); SPIN_ERR_NOMEM.  Mismatches and timeouts are returned
     *  by wait(). */
    int (*irecv)(void *comm, int peer, uint32_t tag, void *buf, size_t len,
                 spin_request_t **req);
    /** Wait for a request to complete and release it.
     *  The request is released also when the wait fails: never wait twice
     *  or use req afterwards.  Requests may be waited for in any order, and
     *  every link keeps moving while any wait runs, so posting all requests
     *  of an exchange before waiting cannot deadlock.  A request whose link
     *  failed meanwhile completes at once with that link's code.  After a
     *  failed wait on a send, tcp may still hold buf until close() (it logs
     *  so).
     *  Mandatory.  Thread: the context's.
     *  Returns the request's status: 0; SPIN_ERR_PROTOCOL (receive: another
     *  tag or length arrived); SPIN_ERR_TIMEOUT (the peer stayed silent, or
     *  took nothing, for timeout_ms); SPIN_ERR_PEER (it disconnected); the
     *  failed link's code; SPIN_ERR_IO; SPIN_ERR_INVAL, not logged, for a
     *  NULL comm or req. */
    int (*wait)(void *comm, spin_request_t *req);
    /** Counters for one peer.
     *  Copies the counters of the link to peer since open (payload bytes
     *  and messages, zero-length ones included; sends counted when posted,
     *  receives when complete) to *out.  peer == my own id gives 0 and zero
     *  counters; counters stay readable after the link failed.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL, not logged, for a NULL comm or out or a
     *  peer outside [0, nparties). */
    int (*stats)(void *comm, int peer, spin_transport_stats_t *out);

    /* --- ABI 1.1 --------------------------------------------------------- */
    /** Optional (NULL: the descriptor's caps hold).  The SPIN_CAP_TRANSPORT_*
     *  bits in effect for this open communicator: with
     *  SPIN_CAP_TRANSPORT_DEVICE_MEM, send/recv/isend/irecv take device
     *  memory of cfg->compute_ops (and host memory as before: the transport
     *  tells them apart, e.g. with mem_export_dmabuf's query), the core
     *  synchronises the compute stream before it posts a send from device
     *  memory, and a device receive holds its data (visible to later work on
     *  any stream) once wait() has returned.  Constant for the comm's life.
     *  Thread: the context's; the core calls it after open, as often as it
     *  likes, so it must be cheap.  No errors: 0 means host memory only
     *  (the rdma plugin returns SPIN_CAP_TRANSPORT_DEVICE_MEM when its
     *  GPUDirect check at open succeeded; tcp and sock leave it NULL). */
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
     *
     * The instance goes to *state (written only on success, never NULL
     * then: the core counts success without a state, and any positive
     * return, as SPIN_ERR_INTERNAL).  host (and host->log) stays valid
     * until fini.  why has whylen bytes (512 from the core) and is shown in
     * spin-info and in selection errors; an unavailable plugin is listed as
     * such and the test suites skip it.  Other codes: SPIN_ERR_NOMEM,
     * SPIN_ERR_CONFIG for a bad setting read through host->getenv (a device
     * index, a ring size), SPIN_ERR_INTERNAL for a device or library
     * failure.  On failure the plugin releases everything itself: fini is
     * not called.  Configuration comes from host->getenv only.
     * Mandatory.  Thread: any; the core keeps at most one instance per
     * runtime (init runs when the plugin is first selected or probed, and
     * again only after a failure), and runtimes of different contexts call
     * it on their own threads, at the same time.
     */
    int (*init)(const spin_plugin_host_t *host, void **state,
                char *why, size_t whylen);
    /** Destroy an instance made by init and everything it still holds.
     *  Called exactly once per successful init, when its runtime closes:
     *  after the context has closed its communicator, with no other call
     *  on the instance in flight.  Compute memory still allocated becomes
     *  invalid (the cuda plugin releases such blocks; the cpu plugin does
     *  not track them).  The core never passes NULL (the bundled plugins
     *  accept it anyway).
     *  Mandatory.  Thread: the one closing the runtime.  Returns nothing. */
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
