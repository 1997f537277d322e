/*
 * spin/plugin_compute.h - the compute backend's ops table (part of the
 * plugin SDK: include <spin/plugin.h>, which includes this file; the ABI
 * rules, threading and error conventions at the top of plugin.h apply to
 * every slot here).
 */
#ifndef SPIN_PLUGIN_COMPUTE_H
#define SPIN_PLUGIN_COMPUTE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
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

#ifdef __cplusplus
}
#endif

#endif /* SPIN_PLUGIN_COMPUTE_H */
