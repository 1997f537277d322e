/* fn_internal.h - internals shared by the secure non-linear functions
 * (fn_common.c, fn_piecewise.c, fn_normalise.c, fn_softmax.c) and the
 * maximum and pooling (reduce_plan.c, reduce.c); see spin/functions.h,
 * spin/reduce.h and docs/PROTOCOLS.md.
 *
 * Building blocks (all on n words of plugin memory):
 *  - fn_beaver_batch: any number of ring products and squares of different
 *    operands in ONE opening (one round), no truncation;
 *  - fn_trunc_batch: truncations of several buffers by different amounts in
 *    ONE opening (one round, the dealer pair protocol of beaver.c: result
 *    floor or floor + 1, stochastic, for |x| < 2^62);
 *  - a "level" (fn_level) is one of each: 2 rounds for any number of
 *    fixed-point products of a protocol step;
 *  - fn_pw_eval: piecewise polynomials.  Per piece k the local variable
 *    u = (t - mid_k) 2^e_k lies in [-1, 1]; its powers for every piece are
 *    computed in one batch per level (u^2 | u^3, u^4 | u^5..u^8), the
 *    coefficients are applied at a high scale, and ONE comparison batch of
 *    t against every breakpoint, with the bit-times-value product of the
 *    comparison protocol, selects exactly
 *        left + sum_k [t >= t_k] (piece_{k+1} - piece_k)
 *    (telescoping: for t in piece k* every other piece's value cancels
 *    exactly in the ring, so pieces evaluated far outside their interval,
 *    even overflowing ones, never matter).  No clamping is needed and
 *    inputs of any size saturate to the outer constants;
 *  - lead-one normalisation: one comparison batch of x against public
 *    powers of two 2^p (with bit * x products, fn_lead_bits) gives the
 *    monotone bits b_p = [x >= 2^p]; any function of the position of the
 *    leading one, and x times any such function, is then LINEAR in b_p and
 *    b_p x with public coefficients (fn_poslin).  Two-stage (ln,
 *    reciprocal, rsqrt, sqrt): a coarse batch against every g-th power
 *    (fn_lead_bits_e: any exponents) gives Xc = |x| 2^shift in one window
 *    [2^(K-g), 2^K) exactly (linear in b, b x), a fine batch on Xc the
 *    position inside it; a function of the position that is a product of
 *    a coarse and a fine factor is split between the two operands of a
 *    product the protocol forms anyway (reciprocal: G0 = y0 2^(K-e) times
 *    F = sign 2^shift; rsqrt/sqrt: W1 W2 beside y0's square).
 */
#ifndef SPIN_FN_INTERNAL_H
#define SPIN_FN_INTERNAL_H

#include "mpc/mpc_internal.h"

#include <spin/functions.h>
#include <spin/reduce.h>

#include <math.h>
#include <stdint.h>

#define R1 (UINT64_C(1))

/* ---- small word helpers ----------------------------------------------------- */

static inline int fn_words_copy(spin_ctx_t *ctx, uint64_t *d, const uint64_t *s, size_t n)
{
    return n ? ctx->compute->copy_d2d(ctx->compute_state, d, s, n * 8, NULL) : 0;
}
static inline int fn_words_binary(spin_ctx_t *ctx, spin_ring_binop_t op, uint64_t *z, const uint64_t *x, const uint64_t *y,
                       size_t n)
{
    return n ? ctx->compute->ring_binary(ctx->compute_state, op, z, x, y, n, NULL) : 0;
}
static inline int fn_words_scalar(spin_ctx_t *ctx, spin_ring_scalarop_t op, uint64_t *z, const uint64_t *x, uint64_t c, size_t n)
{
    return n ? ctx->compute->ring_scalar(ctx->compute_state, op, z, x, c, n, NULL) : 0;
}
/* z += c * x (tmp: n words of scratch) */
static inline int fn_words_axpy(spin_ctx_t *ctx, uint64_t *z, uint64_t c, const uint64_t *x, size_t n, uint64_t *tmp)
{
    if (!c) return 0;
    int rc = fn_words_scalar(ctx, SPIN_RING_MUL_S, tmp, x, c, n);
    return rc ? rc : fn_words_binary(ctx, SPIN_RING_ADD, z, z, tmp, n);
}
/* a public constant into shares: party 0 adds it */
static inline int fn_words_add_const(spin_ctx_t *ctx, uint64_t *z, uint64_t c, size_t n)
{
    return ctx->party == 0 ? fn_words_scalar(ctx, SPIN_RING_ADD_S, z, z, c, n) : 0;
}
static inline int fn_words_zero(spin_ctx_t *ctx, uint64_t *z, size_t n)
{
    return n ? ctx->compute->mem_zero(ctx->compute_state, z, n * 8, NULL) : 0;
}
/* round(v * 2^s) as a ring element */
static inline uint64_t fx(double v, int s)
{
    return (uint64_t)(int64_t)llround(ldexp(v, s));
}
/* n words of plugin memory (*p NULL on failure) */
static inline int fn_words_alloc(spin_ctx_t *ctx, size_t n, uint64_t **p)
{
    *p = NULL;
    return spin_mpc_buf_alloc(ctx, n, p);
}
#define FN_WORDS_FREE(p) do { spin_mpc_buf_release(ctx, (p)); (p) = NULL; } while (0)

/* ---- batched products and truncations (fn_common.c) ------------------------- */

typedef struct prod {
    const uint64_t *x, *y;     /* y NULL: square of x */
    uint64_t *z;               /* may alias x or y */
    size_t n;
} prod_t;

typedef struct trn {
    uint64_t *x;               /* in place */
    size_t n;
    unsigned d;                /* 0: nothing to do */
} trn_t;

/* k products in one opening (one round), no truncation. */
int fn_beaver_batch(spin_ctx_t *ctx, const prod_t *p, int k);
/* k <= 32 truncations in one opening (one round). */
int fn_trunc_batch(spin_ctx_t *ctx, const trn_t *t, int k);
/* One level: products then truncations (d[i] bits for product i), 2 rounds. */
int fn_level(spin_ctx_t *ctx, const prod_t *p, const unsigned *d, int k);

/* ---- tensor plumbing (fn_common.c) ------------------------------------------- */

int fn_check_args(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out, const char *what);
typedef int (*word_fn)(spin_ctx_t *ctx, const uint64_t *x, size_t n, uint64_t *out, const void *arg);
/* out = fn(a) element-wise on a dense copy of a's words. */
int fn_unary(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out, const char *what, word_fn fn,
             const void *arg);
/* dst[r per + j] = src[r] */
int fn_bcast(spin_ctx_t *ctx, uint64_t *dst, const uint64_t *src, size_t rows, size_t per);

/* ---- lead-one normalisation (fn_common.c) ------------------------------------ */

int fn_lead_bits(spin_ctx_t *ctx, const uint64_t *X, size_t n, int thr0, int np, int sides, uint64_t *b,
                 uint64_t *bx);
int fn_lead_bits_s(spin_ctx_t *ctx, const uint64_t *X, size_t n, int thr0, int step, int np, int sides,
                   uint64_t *b, uint64_t *bx);
int fn_lead_bits_e(spin_ctx_t *ctx, const uint64_t *X, size_t n, const int *ex, int np, int sides, uint64_t *b,
                   uint64_t *bx);
int fn_poslin(spin_ctx_t *ctx, const uint64_t *X, size_t n, const uint64_t *b, const uint64_t *bx, int np,
              int sides, const uint64_t *A, const uint64_t *B, uint64_t *out, uint64_t *tmp);

/* ---- piecewise polynomials (fn_piecewise.c) ---------------------------------- */

typedef struct pw {
    int K;                     /* polynomial pieces */
    int deg;                   /* degree, 1..8 */
    const double *bk;          /* K + 1 breakpoints (in units of t) */
    const double *mid;         /* K centres (multiples of 2^-8) */
    const int *e;              /* K exponents: u = (t - mid) 2^e, |u| <= 1 */
    const double *c;           /* K x (deg + 1) monomial coefficients in u */
    double left, right;        /* value for t < bk[0] and for t >= bk[K] */
} pw_t;

#define PW(name, lo, hi) \
    { (int)(sizeof name##_mid / sizeof name##_mid[0]), 8, name##_bk, name##_mid, name##_e, name##_c, lo, hi }

int fn_pw_eval(spin_ctx_t *ctx, const uint64_t *X, size_t n, unsigned xs, const pw_t *pw, int precise,
               unsigned out_scale, int relu, uint64_t *out);

/* ---- reciprocal, rsqrt, ln cores (fn_normalise.c) ---------------------------- */

/* 1/m on [0.5, 1): y0 = 48/17 - 32/17 m, relative error <= 1/17. */
#define RC0 (48.0 / 17.0)
#define RC1 (32.0 / 17.0)
#define PN_MAX 24

int fn_recip_tail(spin_ctx_t *ctx, const uint64_t *m, const uint64_t *y0, const uint64_t *g, size_t rows,
                  const uint64_t *F, size_t elems, unsigned fs, unsigned as, int PN, uint64_t *out);
int fn_rsqrt_core(spin_ctx_t *ctx, const uint64_t *X, size_t n, int plo, int K, double wmul, int ws,
                  unsigned os, uint64_t *out);

/* ln m = p(u) for m in [0.5, 1], u = 4m - 3: the polynomial's value is
 * formed at scale LN_S (|p| < 0.7) */
#define LN_P 20
#define LN_S 60
extern const double fn_lnm_c[8];
int fn_ln_poly(spin_ctx_t *ctx, uint64_t *U, size_t n, int us, uint64_t *V);

/* ---- maximum: the plan of the tournament (reduce_plan.c; reduce.c) ---------- */

#define FN_REDUCE_MAX_LEVELS 64
#define FN_REDUCE_MAX_GROUP 64

/* ceil(log2 x) (0 for x <= 1) */
unsigned fn_clog2(size_t x);
/* g >= 3 with g - 1 a power of two: x_i is fused into one comparison. */
int fn_group_fused(size_t g);
/* The group sizes gs[0..*nlev) of a tournament over L candidates for I
 * outputs (want_w: with the argmax's one-hot track): the cost model's
 * plan, or SPIN_REDUCE_PLAN (through the runtime's environment hook). */
int fn_reduce_plan(spin_ctx_t *ctx, size_t L, size_t I, int want_w, size_t *gs, int *nlev);

#endif /* SPIN_FN_INTERNAL_H */
