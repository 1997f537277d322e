/*
 * spin/mpc.h - secure computation: contexts, secret-shared tensors and the
 * arithmetic protocols (see docs/API.md for a walk-through and
 * docs/PROTOCOLS.md for the cost of every protocol).
 *
 * N >= 2 computing parties (ids 0..N-1) hold N-out-of-N additive shares over
 * Z_2^64 of fixed-point values (value = integer / 2^f).  A dealer (id N)
 * supplies correlated randomness.  Every party runs the same sequence of
 * calls on the same shapes; the dealer runs spin_dealer_serve().
 */
#ifndef SPIN_MPC_H
#define SPIN_MPC_H

#include <stddef.h>
#include <stdint.h>

#include <spin/spin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPIN_MAX_DIMS 6

typedef struct spin_ctx spin_ctx_t;
typedef struct spin_tensor spin_tensor_t;

/* ------------------------------------------------------------------------ */
/* Context.                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct spin_ctx_opts {
    uint32_t struct_size;        /**< sizeof(spin_ctx_opts_t) */
    /** My id: 0..nparties-1 for a computing party, nparties for the dealer.
     *  -1: from SPIN_PARTY, else SLURM_PROCID, OMPI_COMM_WORLD_RANK, PMI_RANK. */
    int party;
    /** Computing parties N >= 2 (the dealer is extra).  0: SPIN_NPARTIES. */
    int nparties;
    /** nparties + 1 endpoints, the dealer's last.  NULL: read the peers file. */
    const char *const *endpoints;
    /** One endpoint per line (dealer last); NULL: SPIN_PEERS_FILE. */
    const char *peers_file;
    /** Fixed-point fractional bits f, 1..30.  0: SPIN_FRAC_BITS, else 16. */
    unsigned frac_bits;
    /** CurveZMQ key directory for encrypted links; NULL: SPIN_KEY_DIR. */
    const char *key_dir;
    /** Peer timeout in ms; 0: SPIN_TIMEOUT. */
    int timeout_ms;
    /** 32 bytes: derive all of this party's randomness from it instead of
     *  the operating system.  Tests only: a warning is logged. */
    const uint8_t *fixed_seed;
    /** Runtime options (backends, plugin path, logger); NULL: defaults. */
    const spin_runtime_opts_t *runtime;
} spin_ctx_opts_t;

/** Connect to every party and the dealer, agree seeds, check that every
 *  party runs the same configuration (N, f, Spin version). */
SPIN_API int spin_ctx_open(const spin_ctx_opts_t *opts, spin_ctx_t **out);
/** Close; a computing party tells the dealer it is done. */
SPIN_API void spin_ctx_close(spin_ctx_t *ctx);

SPIN_API int spin_ctx_party(const spin_ctx_t *ctx);
SPIN_API int spin_ctx_nparties(const spin_ctx_t *ctx);
SPIN_API int spin_ctx_is_dealer(const spin_ctx_t *ctx);
SPIN_API unsigned spin_ctx_frac_bits(const spin_ctx_t *ctx);
SPIN_API const spin_logger_t *spin_ctx_logger(const spin_ctx_t *ctx);

/** Dealer role: serve correlated randomness until every party has closed. */
SPIN_API int spin_dealer_serve(spin_ctx_t *ctx);

/** Communication so far (payload bytes and messages) with one peer, or the
 *  sum over every peer (peer = -1), and the number of communication rounds
 *  this party has started. */
typedef struct spin_comm_stats {
    uint64_t bytes_sent, bytes_recv, msgs_sent, msgs_recv;
    uint64_t rounds;
} spin_comm_stats_t;
SPIN_API int spin_ctx_stats(const spin_ctx_t *ctx, int peer, spin_comm_stats_t *out);

/**
 * Run N computing parties and the dealer as threads of this process,
 * connected through the real transport (ipc:// sockets in a private
 * temporary directory, or tcp:// on loopback if scheme is "tcp": the
 * endpoints of spin_launch_local_endpoints(), spin/launch.h).  Each
 * party thread opens its own context (with `base` as a template: frac_bits,
 * fixed seeds, runtime options; party/endpoints are filled in) and calls
 * fn(ctx, party, arg); the dealer thread serves.  Returns 0 if every party's
 * fn and the dealer returned 0, else the first failure.  For tests,
 * benchmarks and single-machine simulations.
 */
typedef int (*spin_party_fn)(spin_ctx_t *ctx, int party, void *arg);
SPIN_API int spin_run_local(int nparties, const char *scheme, const spin_ctx_opts_t *base,
                            spin_party_fn fn, void *arg);

/* ------------------------------------------------------------------------ */
/* Fixed point.                                                             */
/* ------------------------------------------------------------------------ */

/** Encode: round half away from zero of x * 2^f into the ring.  Valid range
 *  |x| < 2^(62-f) (the truncation's input range at scale 2^f);
 *  SPIN_ERR_RANGE outside.  A product of two encoded values is formed at
 *  scale 2^2f and is only exact while |x y| < 2^(62-2f) (spin_mul below;
 *  docs/PROTOCOLS.md, "Valid input ranges"). */
SPIN_API int spin_fixed_encode(unsigned f, const double *x, uint64_t *out, size_t n);
SPIN_API void spin_fixed_decode(unsigned f, const uint64_t *x, double *out, size_t n);

/* ------------------------------------------------------------------------ */
/* Secret-shared tensors.                                                   */
/* ------------------------------------------------------------------------ */

SPIN_API int spin_tensor_ndim(const spin_tensor_t *t);
SPIN_API const size_t *spin_tensor_shape(const spin_tensor_t *t);
SPIN_API size_t spin_tensor_numel(const spin_tensor_t *t);
SPIN_API void spin_tensor_free(spin_tensor_t *t);

/** A share of zero with this shape. */
SPIN_API int spin_tensor_zeros(spin_ctx_t *ctx, int ndim, const size_t *shape,
                               spin_tensor_t **out);
/** Views (no copy): reshape needs a contiguous tensor; transpose swaps two
 *  dimensions; slice keeps [start, start+len) of one dimension. */
SPIN_API int spin_tensor_reshape(const spin_tensor_t *t, int ndim, const size_t *shape,
                                 spin_tensor_t **out);
SPIN_API int spin_tensor_transpose(const spin_tensor_t *t, int d0, int d1, spin_tensor_t **out);
SPIN_API int spin_tensor_slice(const spin_tensor_t *t, int dim, size_t start, size_t len,
                               spin_tensor_t **out);
/** A contiguous copy (or a new reference if already contiguous). */
SPIN_API int spin_tensor_contiguous(const spin_tensor_t *t, spin_tensor_t **out);
/** 1 if t's elements are contiguous in row-major order (a fresh tensor, a
 *  reshape or a slice of the first dimension), else 0 (a transpose, most
 *  slices).  Only contiguous tensors can be written in place. */
SPIN_API int spin_tensor_is_contiguous(const spin_tensor_t *t);
/** The context t belongs to. */
SPIN_API spin_ctx_t *spin_tensor_context(const spin_tensor_t *t);

/** Secret-share a value held by party `owner`: only the owner reads x
 *  (others pass NULL).  Costs no messages: shares come from pairwise seeds. */
SPIN_API int spin_input_f64(spin_ctx_t *ctx, int owner, const double *x, int ndim,
                            const size_t *shape, spin_tensor_t **out);
SPIN_API int spin_input_ring(spin_ctx_t *ctx, int owner, const uint64_t *x, int ndim,
                             const size_t *shape, spin_tensor_t **out);
/** Reveal to every party (to = -1) or to party `to` only; out (numel
 *  values, row-major) is written on the receiving parties only. */
SPIN_API int spin_reveal_f64(spin_ctx_t *ctx, const spin_tensor_t *t, int to, double *out);
SPIN_API int spin_reveal_ring(spin_ctx_t *ctx, const spin_tensor_t *t, int to, uint64_t *out);

/** This party's own share (numel words, row-major) and a tensor from a
 *  share (checkpoints).  A share alone says nothing about the value. */
SPIN_API int spin_share_export(spin_ctx_t *ctx, const spin_tensor_t *t, uint64_t *out);
SPIN_API int spin_share_import(spin_ctx_t *ctx, const uint64_t *share, int ndim, const size_t *shape,
                               spin_tensor_t **out);

/* ------------------------------------------------------------------------ */
/* Arithmetic protocols (all return a new tensor in *out).                   */
/* ------------------------------------------------------------------------ */

/** Local (free): a + b, a - b, a + public c (numel values), c * a for a
 *  public integer c, sum along an axis. */
SPIN_API int spin_add(spin_ctx_t *ctx, const spin_tensor_t *a, const spin_tensor_t *b, spin_tensor_t **out);
SPIN_API int spin_sub(spin_ctx_t *ctx, const spin_tensor_t *a, const spin_tensor_t *b, spin_tensor_t **out);
SPIN_API int spin_add_public(spin_ctx_t *ctx, const spin_tensor_t *a, const double *c, spin_tensor_t **out);
SPIN_API int spin_mul_int(spin_ctx_t *ctx, const spin_tensor_t *a, int64_t c, spin_tensor_t **out);
SPIN_API int spin_sum(spin_ctx_t *ctx, const spin_tensor_t *a, int axis, spin_tensor_t **out);
/** v (a vector of shape[axis] values, any shape with that many elements)
 *  repeated along every other dimension of `shape` (axis negative: from
 *  the end): out[i..][c][j..] = v[c].  Local (free), exact: copies of this
 *  party's shares.  E.g. a bias or a per-channel value spread over NCHW. */
SPIN_API int spin_broadcast(spin_ctx_t *ctx, const spin_tensor_t *v, int ndim, const size_t *shape, int axis,
                            spin_tensor_t **out);
/** In place (local, free): a += b, a -= b, dst = src (a copy of the
 *  shares).  The tensor written (a, dst) must be contiguous
 *  (spin_tensor_is_contiguous) and every view of it sees the change; the
 *  other operand has its shape and may be any view. */
SPIN_API int spin_add_inplace(spin_ctx_t *ctx, spin_tensor_t *a, const spin_tensor_t *b);
SPIN_API int spin_sub_inplace(spin_ctx_t *ctx, spin_tensor_t *a, const spin_tensor_t *b);
SPIN_API int spin_copy(spin_ctx_t *ctx, spin_tensor_t *dst, const spin_tensor_t *src);
/** Multiply by a public fixed-point scalar, then truncate (one round).
 *  Exact while |c a| < 2^(62-2f) (as spin_mul). */
SPIN_API int spin_scale(spin_ctx_t *ctx, const spin_tensor_t *a, double c, spin_tensor_t **out);

/** Truncate by `bits` (probabilistic-free: at most 1 ulp error for
 *  |x| < 2^62 in the ring, dealer pair with MSB correction; one round).
 *  Outside that range a fraction (|x| - 2^62) / 2^63 of the elements is
 *  off by 2^(64-bits), undetected. */
SPIN_API int spin_trunc(spin_ctx_t *ctx, const spin_tensor_t *a, unsigned bits, spin_tensor_t **out);

/** Fixed-point products (one Beaver round + one truncation round):
 *  element-wise mul and square; matmul of [.., m, k] x [.., k, n] with
 *  optional transposes of the last two dims and a batch dimension.
 *  Range: the product is formed at scale 2^2f and truncated by f, so it is
 *  exact only while |x y| < 2^(62-2f) per element (square: |x| <
 *  2^(31-f)): f = 16: 2^30 (|x| < 32768), f = 18: 2^26 (|x| < 8192),
 *  f = 24: 2^14, f = 30: 4.  For matmul every output element
 *  |sum_k a_ik b_kj| < 2^(62-2f) (sum_k |a_ik b_kj| below it suffices;
 *  partial sums may exceed it, the ring arithmetic being exact modulo
 *  2^64).  Outside, as spin_trunc: errors of 2^(64-2f) in value (2^32 at
 *  f = 16) for a growing fraction of the elements, not detected. */
SPIN_API int spin_mul(spin_ctx_t *ctx, const spin_tensor_t *a, const spin_tensor_t *b, spin_tensor_t **out);
SPIN_API int spin_square(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out);
/** Element-wise product without the truncation (one round, exact in the
 *  ring): the result has the scale of a times the scale of b, e.g. a
 *  value masked by integer 0/1 shares (spin_relu_int_mask), or 2^2f for
 *  the caller to truncate later.  No messages for empty tensors.  Exact
 *  modulo 2^64 for any operands; a later truncation needs its input below
 *  2^62 in the ring (2^(62-2f) in value at scale 2^2f). */
SPIN_API int spin_mul_raw(spin_ctx_t *ctx, const spin_tensor_t *a, const spin_tensor_t *b, spin_tensor_t **out);
SPIN_API int spin_matmul(spin_ctx_t *ctx, const spin_tensor_t *a, int trans_a,
                         const spin_tensor_t *b, int trans_b, spin_tensor_t **out);
/** The same matmul without the truncation (one round): the result has the
 *  scale of a times the scale of b, e.g. the fixed-point rows of b picked
 *  by an integer one-hot a (secret table lookup), or 2^2f for the caller
 *  to truncate later. */
SPIN_API int spin_matmul_raw(spin_ctx_t *ctx, const spin_tensor_t *a, int trans_a,
                             const spin_tensor_t *b, int trans_b, spin_tensor_t **out);

/** Static right operands (model weights used by many products): the
 *  parties open W - B once against a mask B that the dealer keeps, and
 *  every later product with W opens only its left operand (m k words per
 *  peer instead of (m + n) k for [m, k] x [k, n]; docs/PROTOCOLS.md).
 *  spin_static_new is collective (one round, W's size per peer); w stays
 *  the caller's.  The dealer keeps every mask for the session (8 bytes per
 *  element of W).  matmul_static is spin_matmul with b = W (2-d) and
 *  x 2-d or batched 3-d; the _raw form skips the truncation.  Range as
 *  spin_matmul: every output element below 2^(62-2f) in value. */
typedef struct spin_static spin_static_t;
SPIN_API int spin_static_new(spin_ctx_t *ctx, const spin_tensor_t *w, spin_static_t **out);
SPIN_API void spin_static_free(spin_static_t *s);
/** W's shape (2 values). */
SPIN_API const size_t *spin_static_shape(const spin_static_t *s);
SPIN_API int spin_matmul_static(spin_ctx_t *ctx, const spin_tensor_t *x, int trans_x,
                                const spin_static_t *w, int trans_w, spin_tensor_t **out);
SPIN_API int spin_matmul_static_raw(spin_ctx_t *ctx, const spin_tensor_t *x, int trans_x,
                                    const spin_static_t *w, int trans_w, spin_tensor_t **out);

/** 2-D convolution, NCHW: x [n][c][h][w], w [oc][c][kh][kw] -> [n][oc][oh][ow];
 *  and its two backward convolutions (dy: [n][oc][oh][ow]).  Range as
 *  spin_matmul: every output element (a sum of products) below 2^(62-2f)
 *  in value (f = 16: 2^30, f = 18: 2^26). */
typedef struct spin_conv2d_params {
    size_t stride_h, stride_w, pad_h, pad_w;   /**< stride >= 1 */
} spin_conv2d_params_t;
SPIN_API int spin_conv2d(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w,
                         const spin_conv2d_params_t *p, spin_tensor_t **out);
SPIN_API int spin_conv2d_grad_input(spin_ctx_t *ctx, const spin_tensor_t *dy, const spin_tensor_t *w,
                                    const size_t x_shape[4], const spin_conv2d_params_t *p,
                                    spin_tensor_t **out);
SPIN_API int spin_conv2d_grad_weight(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *dy,
                                     const size_t w_shape[4], const spin_conv2d_params_t *p,
                                     spin_tensor_t **out);
/** spin_conv2d without the final truncation (one round): the result is at
 *  scale 2^2f, for the caller to truncate later (e.g. after a max pool,
 *  on fewer values: spin_conv2d_maxpool). */
SPIN_API int spin_conv2d_raw(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w,
                             const spin_conv2d_params_t *p, spin_tensor_t **out);

/* ------------------------------------------------------------------------ */
/* Boolean shares.                                                          */
/* ------------------------------------------------------------------------ */

/** AND of XOR-shared words in host memory: z = x & y bit by bit, where
 *  each party holds XOR shares of x and y (`words` words each).  One round
 *  with a dealer triple; for tests and custom boolean circuits. */
SPIN_API int spin_xor_and(spin_ctx_t *ctx, const uint64_t *x, const uint64_t *y, size_t words,
                          uint64_t *z);

/* ------------------------------------------------------------------------ */
/* Comparison (docs/PROTOCOLS.md: 7 rounds, one masked opening, a 5-level   */
/* AND circuit, one bit-to-arithmetic opening; nothing else is revealed).   */
/* Results are fixed-point 0 or 1 (1.0 = 2^f).                              */
/* ------------------------------------------------------------------------ */

/** [a < 0] (sign) and [a >= 0] (DReLU); exact for every ring value. */
SPIN_API int spin_ltz(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out);
SPIN_API int spin_drelu(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out);
/** max(a, 0), exact (no truncation); mask (may be NULL) receives DReLU(a)
 *  for the backward pass.  Same 7 rounds as the sign. */
SPIN_API int spin_relu(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out,
                       spin_tensor_t **mask);
/** spin_relu with the mask (may be NULL) as INTEGER 0/1 shares (1 means 1,
 *  not 1.0), so that spin_mul_raw by it is exact without a truncation (the
 *  backward pass of a ReLU layer).  Same 7 rounds and bytes. */
SPIN_API int spin_relu_int_mask(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out,
                                spin_tensor_t **mask);

typedef enum spin_cmp_op {
    SPIN_CMP_LT = 1, SPIN_CMP_LE, SPIN_CMP_GT, SPIN_CMP_GE, SPIN_CMP_EQ
} spin_cmp_op_t;
/** a OP b element-wise, b secret (same shape) or public (numel values, the
 *  same on every party).  Exact while |a - b| < 2^(63-f) in value. */
SPIN_API int spin_cmp(spin_ctx_t *ctx, spin_cmp_op_t op, const spin_tensor_t *a,
                      const spin_tensor_t *b, spin_tensor_t **out);
SPIN_API int spin_cmp_public(spin_ctx_t *ctx, spin_cmp_op_t op, const spin_tensor_t *a,
                             const double *c, spin_tensor_t **out);
/** b ? x : y for a fixed-point 0/1 condition b (a comparison's result):
 *  y + b (x - y), one product (two rounds, at most 1 ulp). */
SPIN_API int spin_select(spin_ctx_t *ctx, const spin_tensor_t *b, const spin_tensor_t *x,
                         const spin_tensor_t *y, spin_tensor_t **out);

#ifdef __cplusplus
}
#endif

#endif /* SPIN_MPC_H */
