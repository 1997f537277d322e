/* functions.c - secure non-linear functions of fixed-point values (see
 * spin/functions.h and docs/PROTOCOLS.md).
 *
 * Building blocks (all on n words of plugin memory):
 *  - beaver_batch: any number of ring products and squares of different
 *    operands in ONE opening (one round), no truncation;
 *  - trunc_batch: truncations of several buffers by different amounts in ONE
 *    opening (one round, the dealer pair protocol of beaver.c: result floor
 *    or floor + 1, stochastic, for |x| < 2^62);
 *  - a "level" is one of each: 2 rounds for any number of fixed-point
 *    products of a protocol step;
 *  - pw_eval: piecewise polynomials.  Per piece k the local variable
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
 *    powers of two 2^p (with bit * x products) gives the monotone bits
 *    b_p = [x >= 2^p]; any function of the position of the leading one, and
 *    x times any such function, is then LINEAR in b_p and b_p x with public
 *    coefficients (poslin).
 */
#include "config.h"
#include "mpc_internal.h"

#include <spin/functions.h>
#include <spin/reduce.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TAG_FN_BEAVER 0x0480
#define TAG_FN_TRUNC 0x0580

#define R1 (UINT64_C(1))

/* ---- small word helpers ----------------------------------------------------- */

static int wcopy(spin_ctx_t *ctx, uint64_t *d, const uint64_t *s, size_t n)
{
    return n ? ctx->c->copy_d2d(ctx->cs, d, s, n * 8, NULL) : 0;
}
static int wbin(spin_ctx_t *ctx, spin_ring_binop_t op, uint64_t *z, const uint64_t *x, const uint64_t *y, size_t n)
{
    return n ? ctx->c->ring_binary(ctx->cs, op, z, x, y, n, NULL) : 0;
}
static int wsc(spin_ctx_t *ctx, spin_ring_scalarop_t op, uint64_t *z, const uint64_t *x, uint64_t c, size_t n)
{
    return n ? ctx->c->ring_scalar(ctx->cs, op, z, x, c, n, NULL) : 0;
}
/* z += c * x (tmp: n words of scratch) */
static int waxpy(spin_ctx_t *ctx, uint64_t *z, uint64_t c, const uint64_t *x, size_t n, uint64_t *tmp)
{
    if (!c) return 0;
    int rc = wsc(ctx, SPIN_RING_MUL_S, tmp, x, c, n);
    return rc ? rc : wbin(ctx, SPIN_RING_ADD, z, z, tmp, n);
}
/* a public constant into shares: party 0 adds it */
static int wconst(spin_ctx_t *ctx, uint64_t *z, uint64_t c, size_t n)
{
    return ctx->party == 0 ? wsc(ctx, SPIN_RING_ADD_S, z, z, c, n) : 0;
}
static int wzero(spin_ctx_t *ctx, uint64_t *z, size_t n)
{
    return n ? ctx->c->mem_zero(ctx->cs, z, n * 8, NULL) : 0;
}
/* round(v * 2^s) as a ring element */
static uint64_t fx(double v, int s)
{
    return (uint64_t)(int64_t)llround(ldexp(v, s));
}
/* Allocate several buffers; on failure release those already taken. */
static int walloc(spin_ctx_t *ctx, size_t n, uint64_t **p)
{
    *p = NULL;
    return spin_buf_alloc(ctx, n, p);
}
#define WFREE(p) do { spin_buf_release(ctx, (p)); (p) = NULL; } while (0)

/* ---- batched Beaver products (one round) ------------------------------------ */

typedef struct prod {
    const uint64_t *x, *y;     /* y NULL: square of x */
    uint64_t *z;               /* may alias x or y */
    size_t n;
} prod_t;

static int req_bilinear(spin_ctx_t *ctx, req_kind_t kind, size_t m, uint64_t *nonce)
{
    bilinear_t L;
    memset(&L, 0, sizeof L);
    L.kind = kind;
    L.m = m;
    spin_bilinear_sizes(&L);
    dealer_req_t rq;
    spin_bilinear_to_req(&L, &rq);
    rq.nonce = *nonce = ctx->req_nonce++;
    return spin_dealer_request(ctx, &rq);
}

static int beaver_batch(spin_ctx_t *ctx, const prod_t *p, int k)
{
    size_t ns = 0, nm = 0;
    for (int i = 0; i < k; i++) {
        if (p[i].y) nm += p[i].n;
        else ns += p[i].n;
    }
    if (!ns && !nm) return 0;
    int p0 = ctx->party == 0, rc = 0;
    uint64_t nonce_s = 0, nonce_m = 0;
    if (ns) rc = req_bilinear(ctx, REQ_SQUARE, ns, &nonce_s);
    if (!rc && nm) rc = req_bilinear(ctx, REQ_MUL, nm, &nonce_m);
    if (rc) return rc;
    uint64_t *ef = NULL, *a = NULL, *b = NULL, *c = NULL, *t = NULL;
    size_t big = 0;
    for (int i = 0; i < k; i++) big = p[i].n > big ? p[i].n : big;
    rc = walloc(ctx, ns + 2 * nm, &ef);
    if (!rc) rc = walloc(ctx, ns + nm, &a);
    if (!rc) rc = walloc(ctx, nm, &b);
    if (!rc) rc = walloc(ctx, ns + nm, &c);
    if (!rc) rc = walloc(ctx, 2 * big, &t);
    if (!rc && ns) rc = spin_dealer_stream(ctx, nonce_s, 0, a, ns);
    if (!rc && nm) rc = spin_dealer_stream(ctx, nonce_m, 0, a + ns, nm);
    if (!rc && nm) rc = spin_dealer_stream(ctx, nonce_m, nm, b, nm);
    size_t os = 0, om = 0;
    for (int i = 0; i < k && !rc; i++) {
        size_t n = p[i].n;
        if (p[i].y) {
            rc = wbin(ctx, SPIN_RING_SUB, ef + ns + om, p[i].x, a + ns + om, n);
            if (!rc) rc = wbin(ctx, SPIN_RING_SUB, ef + ns + nm + om, p[i].y, b + om, n);
            om += n;
        } else {
            rc = wbin(ctx, SPIN_RING_SUB, ef + os, p[i].x, a + os, n);
            os += n;
        }
    }
    if (!rc) rc = ctx->c->stream_sync(ctx->cs, NULL);
    spin_opening_t op;
    if (!rc) rc = spin_open_start(ctx, TAG_FN_BEAVER, ef, ns + 2 * nm, -1, &op);
    if (rc) goto done;
    if (p0) {
        if (ns) rc = spin_dealer_receive(ctx, c, ns);
        if (!rc && nm) rc = spin_dealer_receive(ctx, c + ns, nm);
    } else {
        if (ns) rc = spin_dealer_stream(ctx, nonce_s, ns, c, ns);
        if (!rc && nm) rc = spin_dealer_stream(ctx, nonce_m, 2 * nm, c + ns, nm);
    }
    int rc2 = spin_open_finish(&op);
    if (!rc) rc = rc2;
    os = om = 0;
    for (int i = 0; i < k && !rc; i++) {
        size_t n = p[i].n;
        uint64_t *t1 = t, *t2 = t + big;
        if (p[i].y) {
            const uint64_t *e = ef + ns + om, *f = ef + ns + nm + om;
            /* z = C + E (B + [p0] F) + A F */
            rc = p0 ? wbin(ctx, SPIN_RING_ADD, t1, b + om, f, n) : wcopy(ctx, t1, b + om, n);
            if (!rc) rc = wbin(ctx, SPIN_RING_MUL, t1, t1, e, n);
            if (!rc) rc = wbin(ctx, SPIN_RING_MUL, t2, a + ns + om, f, n);
            if (!rc) rc = wbin(ctx, SPIN_RING_ADD, t1, t1, t2, n);
            if (!rc) rc = wbin(ctx, SPIN_RING_ADD, p[i].z, t1, c + ns + om, n);
            om += n;
        } else {
            const uint64_t *e = ef + os;
            /* z = C + E (2 A + [p0] E) */
            rc = wsc(ctx, SPIN_RING_MUL_S, t1, a + os, 2, n);
            if (!rc && p0) rc = wbin(ctx, SPIN_RING_ADD, t1, t1, e, n);
            if (!rc) rc = wbin(ctx, SPIN_RING_MUL, t1, t1, e, n);
            if (!rc) rc = wbin(ctx, SPIN_RING_ADD, p[i].z, t1, c + os, n);
            os += n;
        }
    }
    if (!rc) rc = ctx->c->stream_sync(ctx->cs, NULL);
done:
    WFREE(ef);
    WFREE(a);
    WFREE(b);
    WFREE(c);
    WFREE(t);
    return rc;
}

/* ---- batched truncations (one round) ---------------------------------------- */

typedef struct trn {
    uint64_t *x;               /* in place */
    size_t n;
    unsigned d;                /* 0: nothing to do */
} trn_t;

static int trunc_batch(spin_ctx_t *ctx, const trn_t *t, int k)
{
    size_t N = 0, big = 0;
    int rc = 0;
    uint64_t nonce[32];
    if (k > 32) return SPIN_ERR_INTERNAL;
    for (int i = 0; i < k && !rc; i++) {
        if (!t[i].d || !t[i].n) continue;
        if (t[i].d > 62) return SPIN_ERR_INTERNAL;
        dealer_req_t rq;
        memset(&rq, 0, sizeof rq);
        rq.kind = REQ_TRUNC;
        rq.nonce = nonce[i] = ctx->req_nonce++;
        rq.p[0] = t[i].n;
        rq.p[1] = t[i].d;
        rc = spin_dealer_request(ctx, &rq);
        N += t[i].n;
        big = t[i].n > big ? t[i].n : big;
    }
    if (rc || !N) return rc;
    int p0 = ctx->party == 0;
    uint64_t *c = NULL, *hm = NULL, *tm = NULL;
    rc = walloc(ctx, N, &c);
    if (!rc) rc = walloc(ctx, 2 * N, &hm);
    if (!rc) rc = walloc(ctx, big, &tm);
    size_t off = 0;
    for (int i = 0; i < k && !rc; i++) {
        if (!t[i].d || !t[i].n) continue;
        rc = spin_dealer_stream(ctx, nonce[i], 0, c + off, t[i].n);
        if (!rc) rc = wbin(ctx, SPIN_RING_ADD, c + off, c + off, t[i].x, t[i].n);
        if (!rc && p0) rc = wsc(ctx, SPIN_RING_ADD_S, c + off, c + off, R1 << 62, t[i].n);
        off += t[i].n;
    }
    if (!rc) rc = ctx->c->stream_sync(ctx->cs, NULL);
    spin_opening_t op;
    if (!rc) rc = spin_open_start(ctx, TAG_FN_TRUNC, c, N, -1, &op);
    if (rc) goto done;
    off = 0;
    for (int i = 0; i < k && !rc; i++) {
        if (!t[i].d || !t[i].n) continue;
        if (p0) rc = spin_dealer_receive(ctx, hm + 2 * off, 2 * t[i].n);
        else rc = spin_dealer_stream(ctx, nonce[i], t[i].n, hm + 2 * off, 2 * t[i].n);
        off += t[i].n;
    }
    int rc2 = spin_open_finish(&op);
    if (!rc) rc = rc2;
    off = 0;
    for (int i = 0; i < k && !rc; i++) {
        size_t n = t[i].n;
        unsigned d = t[i].d;
        if (!d || !n) continue;
        uint64_t *cc = c + off, *h = hm + 2 * off, *x = t[i].x;
        /* x = ((1 - msb(c)) msb(r) << (64 - d)) - (r >> d) [+ (c >> d) - 2^(62-d) on party 0] */
        rc = wsc(ctx, SPIN_RING_SHR_S, tm, cc, 63, n);
        if (!rc) rc = wsc(ctx, SPIN_RING_RSUB_S, tm, tm, 1, n);
        if (!rc) rc = wbin(ctx, SPIN_RING_MUL, tm, tm, h + n, n);
        if (!rc) rc = wsc(ctx, SPIN_RING_SHL_S, tm, tm, 64 - d, n);
        if (!rc) rc = wbin(ctx, SPIN_RING_SUB, x, tm, h, n);
        if (!rc && p0) {
            rc = wsc(ctx, SPIN_RING_SHR_S, cc, cc, d, n);
            if (!rc) rc = wbin(ctx, SPIN_RING_ADD, x, x, cc, n);
            if (!rc) rc = wsc(ctx, SPIN_RING_SUB_S, x, x, R1 << (62 - d), n);
        }
        off += n;
    }
    if (!rc) rc = ctx->c->stream_sync(ctx->cs, NULL);
done:
    WFREE(c);
    WFREE(hm);
    WFREE(tm);
    return rc;
}

/* One level: products then truncations (d[i] bits for product i). */
static int level(spin_ctx_t *ctx, const prod_t *p, const unsigned *d, int k)
{
    trn_t t[32];
    if (k > 32) return SPIN_ERR_INTERNAL;
    int rc = beaver_batch(ctx, p, k);
    if (rc) return rc;
    for (int i = 0; i < k; i++) {
        t[i].x = p[i].z;
        t[i].n = p[i].n;
        t[i].d = d[i];
    }
    return trunc_batch(ctx, t, k);
}

/* ---- piecewise polynomials ---------------------------------------------------- */

typedef struct pw {
    int K;                     /* polynomial pieces */
    int deg;                   /* degree, 1..8 */
    const double *bk;          /* K + 1 breakpoints (in units of t) */
    const double *mid;         /* K centres (multiples of 2^-8) */
    const int *e;              /* K exponents: u = (t - mid) 2^e, |u| <= 1 */
    const double *c;           /* K x (deg + 1) monomial coefficients in u */
    double left, right;        /* value for t < bk[0] and for t >= bk[K] */
} pw_t;

/* Fold mode: powers at scale 20, last level untruncated (scale 40),
 * coefficients at scale 20: values at scale 60, |value| < 1.9.
 * Precise mode: every power truncated to scale 24, coefficients at scale 30
 * (values at scale 54, |value| < 2^7): one more round, ~2^-26 accuracy. */
#define PW_FOLD_P 20
#define PW_FOLD_S 60
#define PW_PREC_P 24
#define PW_PREC_S 54

static int pw_levels(int deg) { return deg <= 1 ? 0 : deg <= 2 ? 1 : deg <= 4 ? 2 : 3; }

/* Rounds of pw_eval: powers (2 per level, the last one 1 in fold mode), the
 * comparison (7), the final truncation (1); plus one if the input scale is
 * too fine for the local variable (xs > P + e). */
static int pw_eval(spin_ctx_t *ctx, const uint64_t *X, size_t n, unsigned xs, const pw_t *pw, int precise,
                   unsigned out_scale, int relu, uint64_t *out)
{
    int K = pw->K, d = pw->deg, L = pw_levels(d);
    int P = precise ? PW_PREC_P : PW_FOLD_P, S = precise ? PW_PREC_S : PW_FOLD_S;
    int Pc = S - (precise || L == 0 ? P : 2 * P);
    size_t Kn = (size_t)K * n;
    int ncmp = K + 1 + (relu ? 1 : 0);
    size_t Cn = (size_t)ncmp * n;
    uint64_t *pw_[9] = {0}, *V = NULL, *D = NULL, *Vv = NULL, *BV = NULL, *tmp = NULL;
    int rc = 0;
    for (int j = 1; j <= d && !rc; j++) rc = walloc(ctx, Kn, &pw_[j]);
    if (!rc) rc = walloc(ctx, Kn, &V);
    if (!rc) rc = walloc(ctx, Cn, &D);
    if (!rc) rc = walloc(ctx, Cn, &Vv);
    if (!rc) rc = walloc(ctx, Cn, &BV);
    if (!rc) rc = walloc(ctx, Kn > n ? Kn : n, &tmp);
    if (rc) goto done;
    /* u_k at scale P */
    int need_tr = 0;
    for (int k = 0; k < K && !rc; k++) {
        uint64_t *u = pw_[1] + (size_t)k * n;
        rc = wcopy(ctx, u, X, n);
        if (!rc) rc = wconst(ctx, u, (uint64_t)0 - fx(pw->mid[k], (int)xs), n);
        int sh = P - (int)xs + pw->e[k];
        if (!rc && sh > 0) rc = wsc(ctx, SPIN_RING_SHL_S, u, u, (uint64_t)sh, n);
        if (sh < 0) need_tr = 1;
    }
    if (!rc && need_tr) {
        trn_t t[32];
        if (K > 32) { rc = SPIN_ERR_INTERNAL; goto done; }
        for (int k = 0; k < K; k++) {
            int sh = P - (int)xs + pw->e[k];
            t[k].x = pw_[1] + (size_t)k * n;
            t[k].n = n;
            t[k].d = sh < 0 ? (unsigned)-sh : 0;
        }
        rc = trunc_batch(ctx, t, K);
    }
    if (rc) goto done;
    /* powers; raw[j] = 1 if pw_[j] is at scale 2P */
    int raw[9] = {0};
    int lastraw = !precise;
    if (L >= 1) {
        prod_t p[1] = {{pw_[1], NULL, pw_[2], Kn}};
        unsigned dd[1] = {(unsigned)P};
        if (L == 1 && lastraw) { rc = beaver_batch(ctx, p, 1); raw[2] = 1; }
        else rc = level(ctx, p, dd, 1);
    }
    if (!rc && L >= 2) {
        prod_t p[2];
        int np = 0;
        if (d >= 3) p[np++] = (prod_t){pw_[1], pw_[2], pw_[3], Kn};
        if (d >= 4) p[np++] = (prod_t){pw_[2], NULL, pw_[4], Kn};
        unsigned dd[2] = {(unsigned)P, (unsigned)P};
        if (L == 2 && lastraw) { rc = beaver_batch(ctx, p, np); raw[3] = raw[4] = 1; }
        else rc = level(ctx, p, dd, np);
    }
    if (!rc && L >= 3) {
        prod_t p[4];
        int np = 0;
        for (int j = 5; j <= d; j++) p[np++] = (prod_t){pw_[j - 4], j == 8 ? NULL : pw_[4], pw_[j], Kn};
        unsigned dd[4] = {(unsigned)P, (unsigned)P, (unsigned)P, (unsigned)P};
        if (lastraw) { rc = beaver_batch(ctx, p, np); for (int j = 5; j <= 8; j++) raw[j] = 1; }
        else rc = level(ctx, p, dd, np);
    }
    if (rc) goto done;
    /* V_k = sum_j c_jk u^j at scale S */
    rc = wzero(ctx, V, Kn);
    for (int k = 0; k < K && !rc; k++) {
        const double *ck = pw->c + (size_t)k * (size_t)(d + 1);
        uint64_t *v = V + (size_t)k * n;
        rc = wconst(ctx, v, fx(ck[0], S), n);
        for (int j = 1; j <= d && !rc; j++) {
            uint64_t C = fx(ck[j], Pc);
            if (!raw[j] && lastraw && L > 0) C <<= P;   /* scale P -> 2P */
            rc = waxpy(ctx, v, C, pw_[j] + (size_t)k * n, n, tmp);
        }
    }
    /* comparisons t >= bk[k] with values piece_{k+1} - piece_k */
    for (int k = 0; k <= K && !rc; k++) {
        uint64_t *dk = D + (size_t)k * n, *vk = Vv + (size_t)k * n;
        rc = wcopy(ctx, dk, X, n);
        if (!rc) rc = wconst(ctx, dk, (uint64_t)0 - fx(pw->bk[k], (int)xs), n);
        /* piece_{k+1} */
        if (!rc) {
            if (k < K) rc = wcopy(ctx, vk, V + (size_t)k * n, n);
            else rc = wzero(ctx, vk, n), rc = rc ? rc : wconst(ctx, vk, fx(pw->right, S), n);
        }
        /* - piece_k */
        if (!rc) {
            if (k > 0) rc = wbin(ctx, SPIN_RING_SUB, vk, vk, V + (size_t)(k - 1) * n, n);
            else rc = wconst(ctx, vk, (uint64_t)0 - fx(pw->left, S), n);
        }
    }
    if (!rc && relu) {
        rc = wcopy(ctx, D + (size_t)(K + 1) * n, X, n);
        if (!rc) rc = wcopy(ctx, Vv + (size_t)(K + 1) * n, X, n);
    }
    if (!rc) rc = ctx->c->stream_sync(ctx->cs, NULL);
    if (!rc) rc = spin_cmp_words(ctx, D, Cn, 0, NULL, Vv, BV);
    /* out = left + sum_k BV_k */
    if (!rc) rc = wzero(ctx, out, n);
    if (!rc) rc = wconst(ctx, out, fx(pw->left, S), n);
    for (int k = 0; k <= K && !rc; k++) rc = wbin(ctx, SPIN_RING_ADD, out, out, BV + (size_t)k * n, n);
    if (!rc) {
        trn_t t = {out, n, (unsigned)(S - (int)out_scale)};
        rc = trunc_batch(ctx, &t, 1);
    }
    if (!rc && relu) rc = wbin(ctx, SPIN_RING_ADD, out, out, BV + (size_t)(K + 1) * n, n);
    if (!rc) rc = ctx->c->stream_sync(ctx->cs, NULL);
done:
    for (int j = 1; j <= 8; j++) WFREE(pw_[j]);
    WFREE(V);
    WFREE(D);
    WFREE(Vv);
    WFREE(BV);
    WFREE(tmp);
    return rc;
}

/* ---- tensor plumbing ------------------------------------------------------------ */

static int check_args(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out, const char *what)
{
    if (!ctx) return SPIN_ERR_INVAL;
    if (ctx->dealer) {
        MPC_ERR(ctx, "%s: the dealer takes no part in protocols; it runs spin_dealer_serve()", what);
        return SPIN_ERR_INVAL;
    }
    if (!a || !out) {
        MPC_ERR(ctx, "%s: NULL tensor or output", what);
        return SPIN_ERR_INVAL;
    }
    if (a->ctx != ctx) {
        MPC_ERR(ctx, "%s: the tensor belongs to another context", what);
        return SPIN_ERR_INVAL;
    }
    return 0;
}

/* A dense copy of a's words in fresh plugin memory (n words). */
static int dense_words(spin_ctx_t *ctx, const spin_tensor_t *a, uint64_t **out)
{
    spin_tensor_t *d;
    int owned;
    size_t n = spin_tensor_numel(a);
    *out = NULL;
    int rc = spin_tensor_dense(a, &d, &owned);
    if (rc) return rc;
    rc = spin_buf_alloc(ctx, n, out);
    if (!rc) rc = wcopy(ctx, *out, spin_tensor_data(d), n);
    if (owned) spin_tensor_free(d);
    if (rc) WFREE(*out);
    return rc;
}

typedef int (*word_fn)(spin_ctx_t *ctx, const uint64_t *x, size_t n, uint64_t *out, const void *arg);

static int unary(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out, const char *what, word_fn fn,
                 const void *arg)
{
    int rc = check_args(ctx, a, out, what);
    if (rc) return rc;
    spin_tensor_t *r = NULL;
    uint64_t *x = NULL;
    size_t n = spin_tensor_numel(a);
    rc = spin_tensor_new_like(ctx, a->ndim, a->shape, &r);
    if (!rc) rc = dense_words(ctx, a, &x);
    if (!rc && n) rc = fn(ctx, x, n, spin_tensor_data(r), arg);
    if (!rc) rc = ctx->c->stream_sync(ctx->cs, NULL);
    WFREE(x);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* ---- tables (tools: Chebyshev interpolation at degree 8 on each piece,
 * converted to monomials in the piece's u; the error figures include the
 * coefficients' rounding to 2^-20) ------------------------------------------------ */
/* sig: degree 8, 5 pieces on [-13, 13], max approximation error 1.38e-06 */
static const double sig_bk[] = {-13.0, -4.5, -1.25, 1.25, 4.5, 13.0};
static const double sig_mid[] = {-8.75, -2.875, 0.0, 2.875, 8.75};
static const int sig_e[] = {-3, -1, -1, -1, -3};
static const double sig_c[] = {
    0.00015843621910252453, 0.001252691648073378, 0.0050587959140268399, 0.014191276039534769, 0.027390325439567449, 0.034412561746059701, 0.051783140758223732, 0.10400372607212897, 0.088649298299358303,
    0.053403329799824199, 0.10110052473497172, 0.090302810154306024, 0.047004365269304078, 0.011873005584552076, -0.003073220135351099, -0.0046403890065178557, -0.0017610774942792833, -6.9255169223730799e-05,
    0.50000000000000022, 0.49999360844133162, -6.8527899404418543e-15, -0.16644591111585974, 1.0251015838649538e-13, 0.064566589112517225, -4.6028031243218312e-13, -0.019270130460447735, 6.1882866753472218e-13,
    0.94659667020017602, 0.10110052473496685, -0.090302810154324425, 0.047004365269359603, -0.011873005584381225, -0.0030732201355161042, 0.0046403890060567315, -0.0017610774941364028, 6.9255169595960621e-05,
    0.99984156378089806, 0.0012526916480640107, -0.0050587959140943562, 0.014191276039777946, -0.027390325438147914, 0.034412561744368443, -0.051783140767060219, 0.10400372607557173, -0.088649298282763592,
};
/* max sum |c| 1.327 */
/* tanh: degree 8, 7 pieces on [-7.5, 7.5], max approximation error 1.29e-06 */
static const double tanh_bk[] = {-7.5, -3.0, -1.25, -0.375, 0.375, 1.25, 3.0, 7.5};
static const double tanh_mid[] = {-5.25, -2.125, -0.8125, 0.0, 0.8125, 2.125, 5.25};
static const int tanh_e[] = {-2, 0, 1, 1, 1, 0, -2};
static const double tanh_c[] = {
    -0.9999449286177714, 0.00043024157083448411, 0.0017546643254827536, 0.0051284444913830794, 0.009707204585451875, 0.01028160962980107, 0.01654729105112222, 0.041408393364791997, 0.036557729536749989,
    -0.97187274591350947, 0.055464836667961155, 0.053903670399390022, 0.03387377055412414, 0.014972199995701334, 0.0046100619920924259, 0.00059688377288583604, -0.000517846874882763, -0.00032225944658812166,
    -0.67096707420687418, 0.27490159968661987, 0.092224996066906914, 0.0080313761631490097, -0.0049916327926697876, -0.001961460278448028, -0.00011109810219976054, 0.00012701512072822848, 3.684241066865108e-05,
    -1.1256427888560614e-16, 0.49999986740580032, 1.1250259982868251e-14, -0.04166351025865097, -1.2803414783188854e-13, 0.0041462318296995801, 4.1364611950776069e-13, -0.00037187646240674607, -3.9627224317454818e-13,
    0.67096707420687385, 0.27490159968661304, -0.092224996066895853, 0.00803137616321703, 0.004991632792578876, -0.0019614602786249447, 0.00011109810241525466, 0.0001270151208614202, -3.6842410820295775e-05,
    0.97187274591350969, 0.055464836667950802, -0.053903670399387794, 0.033873770554227252, -0.014972199995722881, 0.004610061991825367, -0.00059688377283218246, -0.00051784687468171896, 0.0003222594465490617,
    0.99994492861777129, 0.00043024157081713812, -0.0017546643254848591, 0.0051284444917917334, -0.0097072045854341288, 0.010281609627274041, -0.016547291051184534, 0.041408393369355805, -0.036557729536671212,
};
/* max sum |c| 1.136 */
/* erf: degree 8, 6 pieces on [-4.25, 4.25], max approximation error 7.21e-07 */
static const double erf_bk[] = {-4.25, -2.0, -0.75, 0.0, 0.75, 2.0, 4.25};
static const double erf_mid[] = {-3.125, -1.375, -0.375, 0.375, 1.375, 3.125};
static const int erf_e[] = {-1, 0, 1, 1, 0, -1};
static const double erf_c[] = {
    -0.99999010326537519, 0.00012841664803406254, 0.00081327377741115562, 0.0032515313883858649, 0.0087645119979991668, 0.017725034108977397, 0.030635596110814421, 0.038713750336427967, 0.022343922598951939,
    -0.94817007278209076, 0.17035870906839229, 0.2342449696561783, 0.1579742946329255, 0.030491040280567382, -0.030949400139144729, -0.022073433627287545, -0.0001965812346988254, 0.0039646940112982856,
    -0.40411690943482265, 0.49017640368140025, 0.091908069304144163, -0.029359498553240448, -0.01041130525077503, 0.0014209434458884408, 0.00078191081791360428, -4.2283168801384778e-05, -4.1533639147541049e-05,
    0.40411690943482231, 0.49017640368139487, -0.09190806930412096, -0.029359498553172717, 0.010411305250519687, 0.0014209434456543938, -0.00078191081709852819, -4.2283168563371914e-05, 4.1533638371692744e-05,
    0.94817007278209064, 0.17035870906837811, -0.23424496965616437, 0.15797429463318866, -0.030491040280784688, -0.030949400140441334, 0.022073433628267716, -0.00019658123282326591, -0.0039646940126207139,
    0.99999010326537507, 0.00012841664801643019, -0.00081327377740936149, 0.0032515313887956318, -0.0087645119980070546, 0.017725034106432839, -0.030635596110801955, 0.038713750341036086, -0.022343922598951939,
};
/* max sum |c| 1.598 */
/* gelu: degree 8, 4 pieces on [-5.5, 5.5], max approximation error 4.04e-06 */
static const double gelu_bk[] = {-5.5, -2.0, 0.0, 2.0, 5.5};
static const double gelu_mid[] = {-3.75, -1.0, 1.0, 3.75};
static const int gelu_e[] = {-1, 0, 0, -1};
static const double gelu_c[] = {
    -0.00033156481950305533, -0.002506234342385233, -0.0085009210730554088, -0.017049797741090916, -0.024370505108214677, -0.025004025335978813, -0.0096416483557111264, 0.0093896376069169118, 0.0078681943921128112,
    -0.1586552539314571, -0.083314010796002966, 0.12098802329069008, 0.12096602614991064, 0.020128534867945649, -0.016063042478641296, -0.0059187019681054371, 0.0011613327392714368, 0.00070753932869596333,
    -0.1586552539314571, 0.083314010796003174, 0.1209880232906889, -0.12096602614991259, 0.020128534867950611, 0.016063042478645373, -0.0059187019681126562, -0.0011613327392738732, 0.00070753932869940502,
    -0.00033156481950326306, 0.0025062343423859425, -0.0085009210730448009, 0.017049797741083061, -0.024370505108278696, 0.025004025335997781, -0.0096416483555839868, -0.0093896376069300819, 0.0078681943920316296,
};
/* max sum |c| 0.528 */
/* gelut: degree 8, 4 pieces on [-5.5, 5.5], max approximation error 3.16e-06 */
static const double gelut_bk[] = {-5.5, -2.0, 0.0, 2.0, 5.5};
static const double gelut_mid[] = {-3.75, -1.0, 1.0, 3.75};
static const int gelut_e[] = {-1, 0, 0, -1};
static const double gelut_c[] = {
    -0.00021925207244172362, -0.0019280317497612446, -0.0075021527415413715, -0.017152225927188618, -0.026634264267565433, -0.026702462770253378, -0.0086099139456173885, 0.010621848391290359, 0.0079747509739804424,
    -0.15880800939172324, -0.082963417722026672, 0.12107719140237959, 0.12027813304630904, 0.020379315962226443, -0.015690887177525106, -0.0060991165787796699, 0.0010774248731942018, 0.00074977782589637069,
    -0.15880800939172324, 0.082963417722027519, 0.1210771914023803, -0.12027813304631613, 0.020379315962220541, 0.015690887177539952, -0.0060991165787674453, -0.0010774248732030218, 0.00074977782588924054,
    -0.00021925207244156869, 0.0019280317497623648, -0.0075021527415394503, 0.017152225927177151, -0.026634264267604069, 0.026702462770280291, -0.0086099139455109632, -0.010621848391308593, 0.0079747509739019513,
};
/* max sum |c| 0.527 */
/* expn: degree 8, 3 pieces on [-12, 0], max approximation error 1.79e-06 */
static const double expn_bk[] = {-12.0, -5.0, -1.125, 0.0};
static const double expn_mid[] = {-8.5, -3.0625, -0.5625};
static const int expn_e[] = {-2, -1, 0};
static const double expn_c[] = {
    0.00020346836901064422, 0.00081159651243687271, 0.001626872432895864, 0.0022096743857807815, 0.0021854588144400141, 0.0015551480619582286, 0.0010876342557926608, 0.00096143037340291958, 0.00044737101562892248,
    0.046770622383958987, 0.093539301882822404, 0.093540861090570249, 0.062388364155478784, 0.031185854564052203, 0.012367258949706483, 0.0041366404133293521, 0.0013345230213632497, 0.00032604536829296406,
    0.56978282473092323, 0.56978282417406834, 0.28489141230981746, 0.094963827582515176, 0.023740953374407396, 0.0047479234313160482, 0.00079133838030205541, 0.00011417480924084616, 1.4243706825545282e-05,
};
/* max sum |c| 1.549 */

#define PW(name, lo, hi) \
    { (int)(sizeof name##_mid / sizeof name##_mid[0]), 8, name##_bk, name##_mid, name##_e, name##_c, lo, hi }

static const pw_t PW_SIG = PW(sig, 0.0, 1.0);
static const pw_t PW_TANH = PW(tanh, -1.0, 1.0);
static const pw_t PW_ERF = PW(erf, -1.0, 1.0);
static const pw_t PW_GELU = PW(gelu, 0.0, 0.0);
static const pw_t PW_GELUT = PW(gelut, 0.0, 0.0);
static const pw_t PW_EXPN = PW(expn, 0.0, 1.0);

static int w_pw(spin_ctx_t *ctx, const uint64_t *x, size_t n, uint64_t *out, const void *arg)
{
    const pw_t *pw = arg;
    int relu = pw == &PW_GELU || pw == &PW_GELUT;
    return pw_eval(ctx, x, n, ctx->f, pw, 0, ctx->f, relu, out);
}

int spin_sigmoid(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    return unary(ctx, a, out, "sigmoid", w_pw, &PW_SIG);
}

int spin_tanh(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    return unary(ctx, a, out, "tanh", w_pw, &PW_TANH);
}

int spin_erf(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    return unary(ctx, a, out, "erf", w_pw, &PW_ERF);
}

int spin_gelu(spin_ctx_t *ctx, const spin_tensor_t *a, spin_gelu_form_t form, spin_tensor_t **out)
{
    if (form != SPIN_GELU_ERF && form != SPIN_GELU_TANH) {
        if (ctx) MPC_ERR(ctx, "gelu: unknown form %d (SPIN_GELU_ERF or SPIN_GELU_TANH)", (int)form);
        return SPIN_ERR_INVAL;
    }
    return unary(ctx, a, out, "gelu", w_pw, form == SPIN_GELU_ERF ? &PW_GELU : &PW_GELUT);
}

/* ---- exp ---------------------------------------------------------------------------
 * e^x = (e^(x/16))^16.  t = x/16 is x's own ring value read at scale f + 4.
 * e^t on t in [-0.75, 13/16) by one degree-8 polynomial (precise mode),
 * 0 below, e^(13/16) above (pw_eval's selection), then four squarings with
 * the scale lowered as the value grows (26, 26, 25, 21, then f).
 * Rounds: 14 + 8 = 22. */
static const double expg_bk[] = {-0.75, 0.8125};
static const double expg_mid[] = {0.03125};
static const int expg_e[] = {0};
static const double expg_c[] = {1.031743407499103, 1.0317433934531404, 0.51587170234785895, 0.17195754129465049, 0.042989339255482879, 0.0085960546994598395, 0.0014327965807057292, 0.00020864820479333333, 2.5982049297066666e-05};
static const pw_t PW_EXPG = {1, 8, expg_bk, expg_mid, expg_e, expg_c, 0.0, 2.2535347872132085};

static int w_exp(spin_ctx_t *ctx, const uint64_t *x, size_t n, uint64_t *out, const void *arg)
{
    (void)arg;
    int rc = pw_eval(ctx, x, n, ctx->f + 4, &PW_EXPG, 1, 26, 0, out);
    /* squarings: (raw scale, truncate to) 52 -> 26, 52 -> 25, 50 -> 21, 42 -> f */
    static const unsigned to[4] = {26, 25, 21, 0};
    unsigned sc = 26;
    for (int i = 0; i < 4 && !rc; i++) {
        unsigned tgt = i < 3 ? to[i] : ctx->f;
        prod_t p = {out, NULL, out, n};
        unsigned d = 2 * sc - tgt;
        rc = level(ctx, &p, &d, 1);
        sc = tgt;
    }
    return rc;
}

int spin_exp(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    return unary(ctx, a, out, "exp", w_exp, NULL);
}

/* ---- normalisation by the leading one ------------------------------------------ */

/* b_(s,p) = [sgn_s X >= 2^(thr0 + p)] for p < np (sgn_0 = +1, sgn_1 = -1 when
 * sides = 2) and bx = b X, in one comparison (7 rounds).  Layout (s np + p) n. */
static int lead_bits(spin_ctx_t *ctx, const uint64_t *X, size_t n, int thr0, int np, int sides, uint64_t *b,
                     uint64_t *bx)
{
    size_t tot = (size_t)sides * (size_t)np * n;
    uint64_t *D = NULL, *V = NULL;
    int rc = walloc(ctx, tot, &D);
    if (!rc) rc = walloc(ctx, tot, &V);
    for (int s = 0; s < sides && !rc; s++)
        for (int p = 0; p < np && !rc; p++) {
            size_t o = ((size_t)s * (size_t)np + (size_t)p) * n;
            rc = s ? wsc(ctx, SPIN_RING_MUL_S, D + o, X, (uint64_t)-1, n) : wcopy(ctx, D + o, X, n);
            if (!rc) rc = wconst(ctx, D + o, (uint64_t)0 - (R1 << (thr0 + p)), n);
            if (!rc) rc = wcopy(ctx, V + o, X, n);
        }
    if (!rc) rc = ctx->c->stream_sync(ctx->cs, NULL);
    if (!rc) rc = spin_cmp_words(ctx, D, tot, 0, b, V, bx);
    WFREE(D);
    WFREE(V);
    return rc;
}

/* out = A_0 + B_0 X + sum_(s,p) b_(s,p) (A_(s,p+1) - A_(s,p)) + bx_(s,p) (B_(s,p+1) - B_(s,p)):
 * the function of the state (which interval [2^(thr0+p-1), 2^(thr0+p)) |X|
 * lies in, and its sign) that is A_st + B_st X in state st.  A and B hold
 * sides x (np + 1) ring constants (side 1's entry 0 is side 0's). */
static int poslin(spin_ctx_t *ctx, const uint64_t *X, size_t n, const uint64_t *b, const uint64_t *bx, int np,
                  int sides, const uint64_t *A, const uint64_t *B, uint64_t *out, uint64_t *tmp)
{
    int rc = wzero(ctx, out, n);
    if (!rc) rc = wconst(ctx, out, A[0], n);
    if (!rc) rc = waxpy(ctx, out, B[0], X, n, tmp);
    for (int s = 0; s < sides && !rc; s++) {
        const uint64_t *As = A + (size_t)s * (size_t)(np + 1), *Bs = B + (size_t)s * (size_t)(np + 1);
        for (int p = 0; p < np && !rc; p++) {
            size_t o = ((size_t)s * (size_t)np + (size_t)p) * n;
            uint64_t a0 = p ? As[p] : A[0], b0 = p ? Bs[p] : B[0];
            rc = waxpy(ctx, out, As[p + 1] - a0, b + o, n, tmp);
            if (!rc) rc = waxpy(ctx, out, Bs[p + 1] - b0, bx + o, n, tmp);
        }
    }
    return rc;
}

/* 1/m on [0.5, 1): y0 = 48/17 - 32/17 m, relative error <= 1/17. */
#define RC0 (48.0 / 17.0)
#define RC1 (32.0 / 17.0)
#define PN_MAX 24

/* dst[r per + j] = src[r] */
static int bcast(spin_ctx_t *ctx, uint64_t *dst, const uint64_t *src, size_t rows, size_t per)
{
    int rc = 0;
    if (per == 1) return wcopy(ctx, dst, src, rows);
    for (size_t r = 0; r < rows && !rc; r++) {
        rc = wcopy(ctx, dst + r * per, src + r, 1);
        for (size_t k = 1; k < per && !rc; k *= 2) rc = wcopy(ctx, dst + r * per + k, dst + r * per, k < per - k ? k : per - k);
    }
    return rc;
}

/* The reciprocal tail shared by spin_reciprocal and softmax: m and y0 (rows
 * words, scale PN; y0 ~ 1/m with relative error e0 = 1 - m y0 <= 1/17), a
 * row factor g (rows words) and an element factor F (elems words, row
 * i / per, scale fs): A0 = g F is formed at level 1 (truncated to scale
 * as) with m y0.  Then three Goldschmidt levels A <- A (1 + e), e <- e^2;
 * the last truncates to scale f: out = g F (1 - e0^8) / (m y0).  4 levels,
 * 8 rounds. */
static int recip_tail(spin_ctx_t *ctx, const uint64_t *m, const uint64_t *y0, const uint64_t *g, size_t rows,
                      const uint64_t *F, size_t elems, unsigned fs, unsigned as, int PN, uint64_t *out)
{
    size_t per = elems / rows;
    uint64_t *e = NULL, *ee = NULL, *A = NULL;
    int rc = walloc(ctx, rows, &e);
    if (!rc) rc = walloc(ctx, elems, &ee);
    if (!rc) rc = walloc(ctx, elems, &A);
    if (!rc) rc = bcast(ctx, ee, g, rows, per);
    /* level 1: e = m y0 (PN), A = g F (to scale as) */
    if (!rc) {
        prod_t p[2] = {{m, y0, e, rows}, {ee, F, A, elems}};
        unsigned d[2] = {(unsigned)PN, (unsigned)((int)fs + PN - (int)as)};
        rc = level(ctx, p, d, 2);
    }
    /* e = 1 - m y0 */
    if (!rc) rc = wsc(ctx, SPIN_RING_MUL_S, e, e, (uint64_t)-1, rows);
    if (!rc) rc = wconst(ctx, e, R1 << PN, rows);
    for (int it = 0; it < 3 && !rc; it++) {
        rc = bcast(ctx, ee, e, rows, per);
        if (!rc) rc = wconst(ctx, ee, R1 << PN, elems);
        if (rc) break;
        prod_t p[2] = {{A, ee, it == 2 ? out : A, elems}, {e, NULL, e, rows}};
        unsigned d[2] = {(unsigned)(it == 2 ? PN + (int)as - (int)ctx->f : PN), (unsigned)PN};
        rc = level(ctx, p, d, it == 2 ? 1 : 2);
    }
    WFREE(e);
    WFREE(ee);
    WFREE(A);
    return rc;
}

/* 1/x for x != 0: positions 2^0 .. 2^(2f) of |x| on both signs (one
 * comparison batch of 2 (2f + 1) values), m = |x| / 2^(e) in [0.5, 1),
 * W = sign 2^(2f - e) (integer); y0 and m at scale PN (one truncation
 * round), then recip_tail with F = W.  16 rounds.  |x| >= 2^f: 0 (true value
 * below one ulp); x = 0: 0. */
static int w_recip(spin_ctx_t *ctx, const uint64_t *X, size_t n, uint64_t *out, const void *arg)
{
    (void)arg;
    int f = (int)ctx->f, K = 2 * f, np = K + 1, G = K + 8;
    int PN = 57 - 2 * f < PN_MAX ? 57 - 2 * f : PN_MAX;
    size_t tot = 2 * (size_t)np * n, ns = 2 * (size_t)(np + 1);
    uint64_t *b = NULL, *bx = NULL, *M = NULL, *Y0 = NULL, *W = NULL, *tmp = NULL;
    uint64_t *A = calloc(ns, 8), *B = calloc(ns, 8);
    int rc = A && B ? 0 : SPIN_ERR_NOMEM;
    if (!rc) rc = walloc(ctx, tot, &b);
    if (!rc) rc = walloc(ctx, tot, &bx);
    if (!rc) rc = walloc(ctx, n, &M);
    if (!rc) rc = walloc(ctx, n, &Y0);
    if (!rc) rc = walloc(ctx, n, &W);
    if (!rc) rc = walloc(ctx, n, &tmp);
    if (!rc) rc = lead_bits(ctx, X, n, 0, np, 2, b, bx);
    if (rc) goto done;
    /* state st (1..K): |X| in [2^(st-1), 2^st), m = |X| 2^-st; 0 and K+1: m = 0.75, W = 0 */
    for (int s = 0; s < 2; s++)
        for (int st = 0; st <= np; st++) {
            size_t i = (size_t)s * (size_t)(np + 1) + (size_t)st;
            int in = st >= 1 && st <= K;
            A[i] = in ? 0 : fx(0.75, G);
            B[i] = in ? (s ? (uint64_t)0 - (R1 << (G - st)) : R1 << (G - st)) : 0;
        }
    rc = poslin(ctx, X, n, b, bx, np, 2, A, B, M, tmp);
    for (int s = 0; s < 2 && !rc; s++)
        for (int st = 0; st <= np; st++) {
            size_t i = (size_t)s * (size_t)(np + 1) + (size_t)st;
            int in = st >= 1 && st <= K;
            A[i] = in ? fx(RC0, G) : fx(RC0 - RC1 * 0.75, G);
            B[i] = in ? fx(s ? RC1 : -RC1, G - st) : 0;
        }
    if (!rc) rc = poslin(ctx, X, n, b, bx, np, 2, A, B, Y0, tmp);
    for (int s = 0; s < 2 && !rc; s++)
        for (int st = 0; st <= np; st++) {
            size_t i = (size_t)s * (size_t)(np + 1) + (size_t)st;
            int in = st >= 1 && st <= K;
            A[i] = in ? (s ? (uint64_t)0 - (R1 << (K - st)) : R1 << (K - st)) : 0;
            B[i] = 0;
        }
    if (!rc) rc = poslin(ctx, X, n, b, bx, np, 2, A, B, W, tmp);
    if (!rc) {
        trn_t t[2] = {{M, n, (unsigned)(G - PN)}, {Y0, n, (unsigned)(G - PN)}};
        rc = trunc_batch(ctx, t, 2);
    }
    if (!rc) rc = recip_tail(ctx, M, Y0, Y0, n, W, n, (unsigned)f, (unsigned)f + 4, PN, out);
done:
    free(A);
    free(B);
    WFREE(b);
    WFREE(bx);
    WFREE(M);
    WFREE(Y0);
    WFREE(W);
    WFREE(tmp);
    return rc;
}

int spin_reciprocal(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    if (ctx && !ctx->dealer && ctx->f > 22) {
        MPC_ERR(ctx, "reciprocal: needs f <= 22 (f = %u)", ctx->f);
        return SPIN_ERR_INVAL;
    }
    return unary(ctx, a, out, "reciprocal", w_recip, NULL);
}

/* ---- softmax ---------------------------------------------------------------------- */

/* a with `axis` moved last, dense: X (rows x len words); tensor view kept in *t. */
static int axis_last(spin_ctx_t *ctx, const spin_tensor_t *a, int axis, spin_tensor_t **t, uint64_t **X)
{
    int last = a->ndim - 1, rc;
    *t = NULL;
    *X = NULL;
    if (axis != last) rc = spin_tensor_transpose(a, axis, last, t);
    else rc = spin_tensor_contiguous(a, t);
    if (!rc) rc = dense_words(ctx, *t, X);
    if (rc) {
        spin_tensor_free(*t);
        *t = NULL;
    }
    return rc;
}

static int check_axis(spin_ctx_t *ctx, const spin_tensor_t *a, int *axis, const char *what)
{
    if (a->ndim < 1) {
        MPC_ERR(ctx, "%s: needs a tensor with at least one dimension", what);
        return SPIN_ERR_INVAL;
    }
    if (*axis < 0) *axis += a->ndim;
    if (*axis < 0 || *axis >= a->ndim) {
        MPC_ERR(ctx, "%s: axis out of range for a %d-d tensor", what, a->ndim);
        return SPIN_ERR_INVAL;
    }
    size_t len = a->shape[*axis];
    if (len < 1 || len > (1u << 15)) {
        MPC_ERR(ctx, "%s: the axis has %zu elements; 1..32768 are supported", what, len);
        return SPIN_ERR_INVAL;
    }
    return 0;
}

/* Scale of exp values and of row sums inside softmax. */
#define SM_SS(f) ((f) + 4)

/* Row maxima subtracted, exp of the (<= 0) differences, row sums s in
 * [1, len]: Z (rows x len, scale f), E (scale ss), S (rows, scale ss). */
static int sm_front(spin_ctx_t *ctx, spin_tensor_t *t, const uint64_t *X, size_t rows, size_t len, uint64_t *Z,
                    uint64_t *E, uint64_t *S)
{
    spin_tensor_t *mx = NULL;
    uint64_t *M = NULL, *Mb = NULL;
    size_t n = rows * len;
    int rc = spin_max(ctx, t, t->ndim - 1, &mx, NULL);
    if (!rc) rc = dense_words(ctx, mx, &M);
    if (!rc) rc = walloc(ctx, n, &Mb);
    if (!rc) rc = bcast(ctx, Mb, M, rows, len);
    if (!rc) rc = wbin(ctx, SPIN_RING_SUB, Z, X, Mb, n);
    if (!rc) rc = pw_eval(ctx, Z, n, ctx->f, &PW_EXPN, 0, SM_SS(ctx->f), 0, E);
    if (!rc) rc = ctx->c->sum_axis(ctx->cs, SPIN_DT_U64, S, E, rows, len, 1, 0, NULL);
    spin_tensor_free(mx);
    WFREE(M);
    WFREE(Mb);
    return rc;
}

/* Position constants of s in [1, len] at scale ss: states st = 0..Lb with
 * s 2^ss in [2^(ss+st), 2^(ss+st+1)), exponent E_st = ss + st + 1. */
static int sm_lb(size_t len)
{
    int Lb = 0;
    while (((size_t)1 << Lb) < len) Lb++;
    return Lb;
}

static int softmax_words(spin_ctx_t *ctx, spin_tensor_t *t, const uint64_t *X, size_t rows, size_t len,
                         uint64_t *out)
{
    int f = (int)ctx->f, ss = SM_SS(f), Lb = sm_lb(len), PN = PN_MAX;
    int Gm = ss + Lb + 1 + 8, Gw = ss + 2 * Lb + 10;
    size_t n = rows * len;
    uint64_t *Z = NULL, *E = NULL, *S = NULL, *b = NULL, *bx = NULL, *M = NULL, *Y0 = NULL, *Y0W = NULL, *tmp = NULL;
    uint64_t A[3][17], B[3][17];
    int rc = walloc(ctx, n, &Z);
    if (!rc) rc = walloc(ctx, n, &E);
    if (!rc) rc = walloc(ctx, rows, &S);
    if (!rc) rc = walloc(ctx, (size_t)(Lb ? Lb : 1) * rows, &b);
    if (!rc) rc = walloc(ctx, (size_t)(Lb ? Lb : 1) * rows, &bx);
    if (!rc) rc = walloc(ctx, rows, &M);
    if (!rc) rc = walloc(ctx, rows, &Y0);
    if (!rc) rc = walloc(ctx, rows, &Y0W);
    if (!rc) rc = walloc(ctx, rows, &tmp);
    if (!rc) rc = sm_front(ctx, t, X, rows, len, Z, E, S);
    if (!rc && Lb) rc = lead_bits(ctx, S, rows, ss + 1, Lb, 1, b, bx);
    if (rc) goto done;
    for (int st = 0; st <= Lb; st++) {
        int e = ss + st + 1;
        A[0][st] = 0;
        B[0][st] = R1 << (Gm - e);
        A[1][st] = fx(RC0, Gm);
        B[1][st] = fx(-RC1, Gm - e);
        A[2][st] = fx(RC0, Gw + ss - e);
        B[2][st] = fx(-RC1, Gw + ss - 2 * e);
    }
    rc = poslin(ctx, S, rows, b, bx, Lb, 1, A[0], B[0], M, tmp);
    if (!rc) rc = poslin(ctx, S, rows, b, bx, Lb, 1, A[1], B[1], Y0, tmp);
    if (!rc) rc = poslin(ctx, S, rows, b, bx, Lb, 1, A[2], B[2], Y0W, tmp);
    if (!rc) {
        trn_t tr[3] = {{M, rows, (unsigned)(Gm - PN)}, {Y0, rows, (unsigned)(Gm - PN)}, {Y0W, rows, (unsigned)(Gw - PN)}};
        rc = trunc_batch(ctx, tr, 3);
    }
    if (!rc) rc = recip_tail(ctx, M, Y0, Y0W, rows, E, n, (unsigned)ss, (unsigned)ss, PN, out);
done:
    WFREE(Z);
    WFREE(E);
    WFREE(S);
    WFREE(b);
    WFREE(bx);
    WFREE(M);
    WFREE(Y0);
    WFREE(Y0W);
    WFREE(tmp);
    return rc;
}

typedef int (*rows_fn)(spin_ctx_t *ctx, spin_tensor_t *t, const uint64_t *X, size_t rows, size_t len, uint64_t *out);

static int along_axis(spin_ctx_t *ctx, const spin_tensor_t *a, int axis, spin_tensor_t **out, const char *what,
                      rows_fn fn)
{
    int rc = check_args(ctx, a, out, what);
    if (!rc) rc = check_axis(ctx, a, &axis, what);
    if (rc) return rc;
    if (ctx->f > 18) {
        MPC_ERR(ctx, "%s: needs f <= 18 (f = %u)", what, ctx->f);
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *t = NULL, *r = NULL, *rt = NULL;
    uint64_t *X = NULL;
    size_t n = spin_tensor_numel(a), len = a->shape[axis];
    rc = axis_last(ctx, a, axis, &t, &X);
    if (!rc) rc = spin_tensor_new_like(ctx, t->ndim, t->shape, &r);
    if (!rc && n) rc = fn(ctx, t, X, n / len, len, spin_tensor_data(r));
    if (!rc && axis != a->ndim - 1) {
        rc = spin_tensor_transpose(r, axis, a->ndim - 1, &rt);
        spin_tensor_t *c = NULL;
        if (!rc) rc = spin_tensor_contiguous(rt, &c);
        spin_tensor_free(rt);
        spin_tensor_free(r);
        r = c;
    }
    if (!rc) rc = ctx->c->stream_sync(ctx->cs, NULL);
    spin_tensor_free(t);
    WFREE(X);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int spin_softmax(spin_ctx_t *ctx, const spin_tensor_t *a, int axis, spin_tensor_t **out)
{
    return along_axis(ctx, a, axis, out, "softmax", softmax_words);
}

/* ---- inverse square root and LayerNorm ----------------------------------------- */

/* m^(-1/2) on [0.25, 1): y0 = Q0 + Q1 m + Q2 m^2 (Chebyshev, relative error 0.030). */
#define Q0 2.6286490080273532
#define Q1 (-3.133970819265516)
#define Q2 1.5231841742872212

/* out = wmul rsqrt(x) at scale os, x = X / 2^f > 0, for X in [2^plo, 2^K),
 * K <= 52 (3f - 1 for rsqrt): positions plo..K (one comparison batch), m = X / 2^E in
 * [0.25, 1) with E = f mod 2; M, Q1 m and sqrt(Q2) m at scale PN (one
 * truncation round); y0 = Q0 + Q1 m + (sqrt(Q2) m)^2 (level 1), Newton
 * y <- y (3 - m y^2) / 2 twice (levels 2-3 and 4-6, the last one carrying
 * W = wmul 2^((3f - E)/2), so that y W = wmul rsqrt(x) 2^f).  20 rounds.
 * X < 2^plo: as X = 2^(plo-1) (X <= 0 included, plo = 0: 0 returned);
 * X >= 2^K: 0. */
static int rsqrt_core(spin_ctx_t *ctx, const uint64_t *X, size_t n, int plo, int K, double wmul, int ws,
                      unsigned os, uint64_t *out)
{
    int f = (int)ctx->f, np = K - plo + 1, G = K + 9, PN = PN_MAX;
    int as = (int)os + 4;
    size_t tot = (size_t)np * n;
    uint64_t *b = NULL, *bx = NULL, *M = NULL, *L = NULL, *Sq = NULL, *W = NULL, *Y = NULL, *y2 = NULL,
             *my = NULL, *t = NULL, *A = NULL, *tmp = NULL;
    uint64_t *CA = calloc((size_t)np + 1, 8), *CB = calloc((size_t)np + 1, 8);
    int rc = CA && CB ? 0 : SPIN_ERR_NOMEM;
    if (!rc) rc = walloc(ctx, tot, &b);
    if (!rc) rc = walloc(ctx, tot, &bx);
    uint64_t **bufs[] = {&M, &L, &Sq, &W, &Y, &y2, &my, &t, &A, &tmp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0] && !rc; i++) rc = walloc(ctx, n, bufs[i]);
    if (!rc) rc = lead_bits(ctx, X, n, plo, np, 1, b, bx);
    if (rc) goto done;
    /* state st = 0..np: X in [2^(plo+st-1), 2^(plo+st)); st = 0 as if X = 2^(plo-1), st = np: overflow */
#define EXP_OF(st) ((plo + (st)) + (((plo + (st)) - f) & 1))
    for (int pass = 0; pass < 4 && !rc; pass++) {
        for (int st = 0; st <= np; st++) {
            int in = st >= 1 && st < np, e = EXP_OF(st);
            double mc = st == 0 ? ldexp(1.0, plo - 1 - EXP_OF(0)) : 0.5;   /* m of the constant states */
            if (st == 0 && plo == 0) mc = 0.5;
            double wv = (st == np || (st == 0 && plo == 0)) ? 0.0 : wmul * ldexp(1.0, (3 * f - (st == 0 ? EXP_OF(0) : e)) / 2);
            switch (pass) {
            case 0: CA[st] = in ? 0 : fx(mc, G); CB[st] = in ? R1 << (G - e) : 0; break;
            case 1: CA[st] = fx(Q0 + (in ? 0 : Q1 * mc), G); CB[st] = in ? fx(Q1, G - e) : 0; break;
            case 2: CA[st] = in ? 0 : fx(sqrt(Q2) * mc, G); CB[st] = in ? fx(sqrt(Q2), G - e) : 0; break;
            case 3: CA[st] = fx(wv, ws); CB[st] = 0; break;
            }
        }
        uint64_t *dst = pass == 0 ? M : pass == 1 ? L : pass == 2 ? Sq : W;
        rc = poslin(ctx, X, n, b, bx, np, 1, CA, CB, dst, tmp);
    }
#undef EXP_OF
    if (!rc) {
        trn_t tr[3] = {{M, n, (unsigned)(G - PN)}, {L, n, (unsigned)(G - PN)}, {Sq, n, (unsigned)(G - PN)}};
        rc = trunc_batch(ctx, tr, 3);
    }
    /* level 1: y0 = L + Sq^2 */
    if (!rc) {
        prod_t p = {Sq, NULL, Sq, n};
        unsigned d = (unsigned)PN;
        rc = level(ctx, &p, &d, 1);
    }
    if (!rc) rc = wbin(ctx, SPIN_RING_ADD, Y, L, Sq, n);
    /* Newton 1: y2 = y^2, my = m y; t = my y2 raw; y = (3 y 2^PN - t) >> (PN + 1) */
    if (!rc) {
        prod_t p[2] = {{Y, NULL, y2, n}, {M, Y, my, n}};
        unsigned d[2] = {(unsigned)PN, (unsigned)PN};
        rc = level(ctx, p, d, 2);
    }
    if (!rc) {
        prod_t p = {my, y2, t, n};
        rc = beaver_batch(ctx, &p, 1);
    }
    if (!rc) rc = wsc(ctx, SPIN_RING_MUL_S, Y, Y, (uint64_t)3 << PN, n);
    if (!rc) rc = wbin(ctx, SPIN_RING_SUB, Y, Y, t, n);
    if (!rc) {
        trn_t tr = {Y, n, (unsigned)PN + 1};
        rc = trunc_batch(ctx, &tr, 1);
    }
    /* Newton 2 carrying W: y2 = y^2, A = y W (scale as); t = m y2; out = A (3 - t) / 2 */
    if (!rc) {
        prod_t p[2] = {{Y, NULL, y2, n}, {Y, W, A, n}};
        unsigned d[2] = {(unsigned)PN, (unsigned)(PN + ws + f - as)};
        rc = level(ctx, p, d, 2);
    }
    if (!rc) {
        prod_t p = {M, y2, t, n};
        unsigned d = (unsigned)PN;
        rc = level(ctx, &p, &d, 1);
    }
    if (!rc) rc = wsc(ctx, SPIN_RING_MUL_S, t, t, (uint64_t)-1, n);
    if (!rc) rc = wconst(ctx, t, (uint64_t)3 << PN, n);
    if (!rc) {
        prod_t p = {A, t, out, n};
        unsigned d = (unsigned)(PN + 1 + as - (int)os);
        rc = level(ctx, &p, &d, 1);
    }
done:
    free(CA);
    free(CB);
    WFREE(b);
    WFREE(bx);
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) WFREE(*bufs[i]);
    return rc;
}

static int w_rsqrt(spin_ctx_t *ctx, const uint64_t *X, size_t n, uint64_t *out, const void *arg)
{
    (void)arg;
    return rsqrt_core(ctx, X, n, 0, 3 * (int)ctx->f - 1, 1.0, 0, ctx->f, out);
}

int spin_rsqrt(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    if (ctx && !ctx->dealer && ctx->f > 18) {
        MPC_ERR(ctx, "rsqrt: needs f <= 18 (f = %u)", ctx->f);
        return SPIN_ERR_INVAL;
    }
    return unary(ctx, a, out, "rsqrt", w_rsqrt, NULL);
}

/* LayerNorm over rows of d: S = sum x, D = d x - S = d (x - mean) (exact,
 * local); level 1: T = x^2 >> (f - 8), S2 = S^2 >> (f - 8) and (with gamma)
 * G = D gamma; V = d sum T - S2 = d^2 var (scale f + 8); r = 16 rsqrt(V +
 * d^2 eps) = rsqrt(var + eps) / d (rsqrt_core reading V at scale f,
 * positions from d^2 eps up to 2^LN_K); out = (D or G) r + beta (one
 * level).  Rounds: 2 + 20 + 2 = 24.  Valid while d |x| < 2^(27 - f/2)
 * (f = 16: d |x| < 2^19, e.g. |x| < 4096 for d = 128) and
 * d^2 var < 2^(LN_K - f - 8). */
#define LN_K 52

int spin_layernorm(spin_ctx_t *ctx, const spin_tensor_t *a, const spin_tensor_t *gamma, const spin_tensor_t *beta,
                   double eps, spin_tensor_t **out)
{
    int rc = check_args(ctx, a, out, "layernorm");
    if (rc) return rc;
    int f = (int)ctx->f;
    size_t d = a->ndim ? a->shape[a->ndim - 1] : 0;
    if (a->ndim < 1 || d < 1 || f > 18 || !(eps >= 0) || eps > 1e6 ||
        (gamma && (gamma->ndim != 1 || gamma->shape[0] != d || gamma->ctx != ctx)) ||
        (beta && (beta->ndim != 1 || beta->shape[0] != d || beta->ctx != ctx))) {
        MPC_ERR(ctx, "layernorm: needs a tensor of >= 1 dimension, gamma and beta of the last dimension's "
                     "length (or NULL), eps >= 0 and f <= 18");
        return SPIN_ERR_INVAL;
    }
    double d3e = (double)d * (double)d * eps;
    int plo = 0;
    while (plo < LN_K - 8 && ldexp(1.0, plo + 1) <= d3e * ldexp(1.0, f + 8)) plo++;
    /* r = 16 rsqrt(V) <= rmax (V >= 2^(plo-1)); rsqrt_core needs rmax 2^(f + PN + ws) and
     * rmax 2^(os + 4 + PN + 1.6) below 2^62; the output product rmax sqrt(d) 2^(f + os) too */
    int lr = (int)ceil(log2(16.0 / sqrt(ldexp(1.0, plo - 1 - f))));
    int ws = 19 - lr, os = 29 - lr;
    if (ws > 16) ws = 16;
    if (os > f + 16) os = f + 16;
    if (ws < 4 || os < f + 4) {
        MPC_ERR(ctx, "layernorm: eps %g is too small for rows of %zu at f = %d", eps, d, f);
        return SPIN_ERR_INVAL;
    }
    size_t n = spin_tensor_numel(a), rows = d ? n / d : 0;
    spin_tensor_t *r = NULL;
    uint64_t *X = NULL, *S = NULL, *S2 = NULL, *D = NULL, *T = NULL, *Gm = NULL, *Bb = NULL, *V = NULL, *R = NULL,
             *Rb = NULL;
    rc = spin_tensor_new_like(ctx, a->ndim, a->shape, &r);
    if (!rc) rc = dense_words(ctx, a, &X);
    if (!rc) rc = walloc(ctx, rows, &S);
    if (!rc) rc = walloc(ctx, rows, &S2);
    if (!rc) rc = walloc(ctx, n, &D);
    if (!rc) rc = walloc(ctx, n, &T);
    if (!rc) rc = walloc(ctx, rows, &V);
    if (!rc) rc = walloc(ctx, rows, &R);
    if (!rc) rc = walloc(ctx, n, &Rb);
    if (!rc && gamma) rc = walloc(ctx, n, &Gm);
    if (!rc && gamma) {
        uint64_t *g = NULL;
        rc = dense_words(ctx, gamma, &g);
        for (size_t i = 0; i < rows && !rc; i++) rc = wcopy(ctx, Gm + i * d, g, d);
        WFREE(g);
    }
    if (!rc && beta) {
        uint64_t *g = NULL;
        rc = dense_words(ctx, beta, &g);
        if (!rc) rc = walloc(ctx, n, &Bb);
        for (size_t i = 0; i < rows && !rc; i++) rc = wcopy(ctx, Bb + i * d, g, d);
        WFREE(g);
    }
    if (rc || !n) goto done;
    rc = ctx->c->sum_axis(ctx->cs, SPIN_DT_U64, S, X, rows, d, 1, 0, NULL);
    if (!rc) rc = bcast(ctx, T, S, rows, d);
    if (!rc) rc = wsc(ctx, SPIN_RING_MUL_S, D, X, (uint64_t)d, n);
    if (!rc) rc = wbin(ctx, SPIN_RING_SUB, D, D, T, n);
    if (!rc) {
        prod_t p[3] = {{X, NULL, T, n}, {S, NULL, S2, rows}, {D, Gm, Gm, n}};
        unsigned dd[3] = {(unsigned)f - 8, (unsigned)f - 8, (unsigned)f};
        rc = level(ctx, p, dd, gamma ? 3 : 2);
    }
    if (!rc) rc = ctx->c->sum_axis(ctx->cs, SPIN_DT_U64, V, T, rows, d, 1, 0, NULL);
    if (!rc) rc = wsc(ctx, SPIN_RING_MUL_S, V, V, (uint64_t)d, rows);
    if (!rc) rc = wbin(ctx, SPIN_RING_SUB, V, V, S2, rows);
    if (!rc) rc = wconst(ctx, V, fx(d3e, f + 8), rows);
    /* V is 256 d^2 (var + eps) read at scale f: rsqrt(V) 16 = rsqrt(var + eps) / d */
    if (!rc) rc = rsqrt_core(ctx, V, rows, plo, LN_K, 16.0, ws, (unsigned)os, R);
    if (!rc) rc = bcast(ctx, Rb, R, rows, d);
    if (!rc) {
        prod_t p = {gamma ? Gm : D, Rb, spin_tensor_data(r), n};
        unsigned dd = (unsigned)os;
        rc = level(ctx, &p, &dd, 1);
    }
    if (!rc && beta) rc = wbin(ctx, SPIN_RING_ADD, spin_tensor_data(r), spin_tensor_data(r), Bb, n);
    if (!rc) rc = ctx->c->stream_sync(ctx->cs, NULL);
done:
    WFREE(X);
    WFREE(S);
    WFREE(S2);
    WFREE(D);
    WFREE(T);
    WFREE(Gm);
    WFREE(Bb);
    WFREE(V);
    WFREE(R);
    WFREE(Rb);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* sqrt(x) = x rsqrt(x): rsqrt_core at scale f + 8, then one product.
 * 22 rounds; x <= 0: 0; x >= 2^(2f-1): 0 (outside the range). */
static int w_sqrt(spin_ctx_t *ctx, const uint64_t *X, size_t n, uint64_t *out, const void *arg)
{
    (void)arg;
    uint64_t *R = NULL;
    int rc = walloc(ctx, n, &R);
    if (!rc) rc = rsqrt_core(ctx, X, n, 0, 3 * (int)ctx->f - 1, 1.0, 0, ctx->f + 8, R);
    if (!rc) {
        prod_t p = {X, R, out, n};
        unsigned d = ctx->f + 8;
        rc = level(ctx, &p, &d, 1);
    }
    WFREE(R);
    return rc;
}

int spin_sqrt(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    if (ctx && !ctx->dealer && ctx->f > 18) {
        MPC_ERR(ctx, "sqrt: needs f <= 18 (f = %u)", ctx->f);
        return SPIN_ERR_INVAL;
    }
    return unary(ctx, a, out, "sqrt", w_sqrt, NULL);
}

/* Not implemented yet: a clear error, never garbage. */
int spin_ln(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    int rc = check_args(ctx, a, out, "ln");
    if (rc) return rc;
    MPC_ERR(ctx, "ln: not implemented yet");
    return SPIN_ERR_NOTSUP;
}

int spin_log_softmax(spin_ctx_t *ctx, const spin_tensor_t *a, int axis, spin_tensor_t **out)
{
    int rc = check_args(ctx, a, out, "log_softmax");
    if (rc) return rc;
    (void)axis;
    MPC_ERR(ctx, "log_softmax: not implemented yet");
    return SPIN_ERR_NOTSUP;
}
