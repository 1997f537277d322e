/* reduce.c - maximum, argmax, max and average pooling: the tournaments
 * (see spin/reduce.h; docs/PROTOCOLS.md has the costs; the plan of group
 * sizes is reduce_plan.c).
 *
 * Layout.  Every maximum is taken over the first index of a position-major
 * array X [L][I]: L candidates for each of I independent outputs, candidate
 * j of every output contiguous.  Plugin layout ops build it without host
 * copies: an axis of a [outer][m][inner] tensor moves to the front with one
 * im2col of geometry x [outer][m*inner], kernel 1 x m, dilation inner (a
 * permutation; col2im of the same geometry is its inverse); pooling windows
 * come from the convolution im2col ([n*c][K][P]) followed by the same
 * permutation to [K][n*c*P].
 *
 * Shift.  Party 0 adds 2^62 to every input share: real values (|x| < 2^62 in
 * the ring, every encodable value) land in (0, 2^63), and the zeros that
 * im2col pads with stand for -2^62, below every real value (the padding of
 * max pooling and of groups).  Differences of shifted values stay inside
 * (-2^63, 2^63), so every comparison is exact; 2^62 comes off at the end.
 *
 * Tournament.  A level splits the L candidates of every output into
 * q = ceil(L/g) groups of g consecutive candidates (the first group padded
 * in front) and keeps each group's maximum.  im2col (kernel g x 1, stride g)
 * gives col [g][q*I]: candidate j of every group contiguous.
 *   g = 2: one comparison b = [x0 >= x1] with the fused exact product
 *          b * (x0 - x1) (spin_mpc_cmp_words); max = x1 + b (x0 - x1).  7 rounds.
 *   g >= 3: all g(g-1)/2 pairs of a group in one comparison batch (pairs of
 *          one distance d = j - i are one contiguous block col[0..g-d) -
 *          col[d..g)); candidate i beats j iff x_i > x_j or x_i = x_j and
 *          i < j, a strict total order, so exactly one candidate beats all
 *          g - 1 others.  Its indicator w_i is the product of g - 1 bits,
 *          and max = sum_i w_i x_i: a product tree over the g - 1 bits and
 *          x_i, ceil(log2 g) Beaver rounds (exact ring products of 0/1
 *          integers and values, no truncation), every candidate of every
 *          group in one batch per round.  When g - 1 is a power of two one
 *          comparison per candidate carries the fused product (bit * x_i),
 *          which saves a round: ceil(log2 (g-1)).  7 + that many rounds.
 * Every level is exact (no truncation): the maximum is exact.
 *
 * Plan.  The sequence of group sizes comes from fn_reduce_plan
 * (reduce_plan.c: a cost model, or SPIN_REDUCE_PLAN).
 *
 * Argmax.  Each level keeps its integer one-hot w ([g][q*I]).  From the top
 * down, the one-hot of level k+1 (one entry per group of level k) is
 * replicated over the g members and multiplied into w_k (one exact Beaver
 * round per level boundary, all outputs batched), then col2im of level k's
 * geometry drops the padding: exactly one 1 per output, at the first of
 * equal maxima.
 */
#include "config.h"
#include "fn/fn_internal.h"

#include <spin/reduce.h>

#include <stdlib.h>
#include <string.h>

#define SHIFT (UINT64_C(1) << 62)
#define MAX_LEVELS FN_REDUCE_MAX_LEVELS

/* ---- one level ------------------------------------------------------------ */

typedef struct level {
    size_t L, I, g, q, p;       /* [L][I] in; q groups of g; p pads in front */
    uint64_t *w;                /* argmax: integer one-hot, [g][q*I] */
} level_t;

static void level_geom(const level_t *lv, spin_conv_geom_t *G)
{
    memset(G, 0, sizeof *G);
    G->n = G->c = 1;
    G->h = lv->L;
    G->w = lv->I;
    G->kh = lv->g;
    G->kw = 1;
    G->sh = lv->g;
    G->sw = 1;
    G->ph = lv->p;
    G->pw = 0;
    G->dh = G->dw = 1;
    G->oh = lv->q;
    G->ow = lv->I;
}

/* Permutation [outer][m][inner] -> [m][outer*inner] (im2col; col2im inverts). */
static void perm_geom(size_t outer, size_t m, size_t inner, spin_conv_geom_t *G)
{
    memset(G, 0, sizeof *G);
    G->n = G->c = 1;
    G->h = outer;
    G->w = m * inner;
    G->kh = 1;
    G->kw = m;
    G->sh = G->sw = 1;
    G->dh = 1;
    G->dw = inner;
    G->oh = outer;
    G->ow = inner;
}

/* z = 1 - x (integer shares), n words. */
static int one_minus(spin_ctx_t *ctx, uint64_t *z, const uint64_t *x, size_t n)
{
    const spin_compute_ops_t *o = ctx->compute;
    int rc = o->ring_unary(ctx->compute_state, SPIN_RING_NEG, z, x, n, NULL);
    if (!rc && ctx->party == 0) rc = o->ring_scalar(ctx->compute_state, SPIN_RING_ADD_S, z, z, 1, n, NULL);
    return rc;
}

static int copyw(spin_ctx_t *ctx, uint64_t *dst, const uint64_t *src, size_t n)
{
    return n ? ctx->compute->copy_d2d(ctx->compute_state, dst, src, n * 8, NULL) : 0;
}

/* Offset (in pairs of one group) of the block of distance d. */
static size_t dist_off(size_t g, size_t d)
{
    /* sum_{d' < d} (g - d') */
    return (d - 1) * g - (d - 1) * d / 2;
}

/* One level: cur [L][I] -> next [q][I]; lv->w set when want_w. */
static int level_run(spin_ctx_t *ctx, level_t *lv, const uint64_t *cur, uint64_t *next, int want_w)
{
    const spin_compute_ops_t *o = ctx->compute;
    const size_t g = lv->g, n = lv->q * lv->I, B = g * n;
    spin_conv_geom_t G;
    level_geom(lv, &G);
    uint64_t *col = NULL, *D = NULL, *C = NULL, *V = NULL, *BV = NULL, *F = NULL;
    uint64_t *X = NULL, *Y = NULL, *Z = NULL, *s = NULL, *w = NULL;
    int rc = spin_mpc_buf_alloc(ctx, B, &col);
    if (!rc) rc = o->im2col(ctx->compute_state, &G, col, cur, NULL);
    if (rc) goto done;
    if (g == 2) {
        rc = spin_mpc_buf_alloc(ctx, n, &D);
        if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &BV);
        if (!rc && want_w) rc = spin_mpc_buf_alloc(ctx, 2 * n, &w);
        if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_SUB, D, col, col + n, n, NULL);
        if (!rc) rc = spin_mpc_cmp_words(ctx, D, n, 0, w, D, BV);
        if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_ADD, next, col + n, BV, n, NULL);
        if (!rc && want_w) rc = one_minus(ctx, w + n, w, n);
        goto done;
    }
    const int fused = fn_group_fused(g);
    const size_t P = g * (g - 1) / 2;
    rc = spin_mpc_buf_alloc(ctx, P * n, &D);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, P * n, &C);
    for (size_t d = 1; d < g && !rc; d++)
        rc = o->ring_binary(ctx->compute_state, SPIN_RING_SUB, D + dist_off(g, d) * n, col, col + d * n, (g - d) * n, NULL);
    if (!rc && fused) {
        /* products bit * x_i on distance 1 (i beats i+1) and, for the last
         * candidate, on the pair (0, g-1): (1 - bit) x_{g-1} */
        rc = spin_mpc_buf_alloc(ctx, P * n, &V);
        if (!rc) rc = spin_mpc_buf_alloc(ctx, P * n, &BV);
        if (!rc) rc = o->mem_zero(ctx->compute_state, V, P * n * 8, NULL);
        if (!rc) rc = copyw(ctx, V, col, (g - 1) * n);
        if (!rc) rc = copyw(ctx, V + dist_off(g, g - 1) * n, col + (g - 1) * n, n);
    }
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
    if (!rc) rc = spin_mpc_cmp_words(ctx, D, P * n, 0, C, V, BV);
    if (rc) goto done;
    spin_mpc_buf_release(ctx, D);
    spin_mpc_buf_release(ctx, V);
    D = V = NULL;
    /* slots: slot of distance d holds, for every candidate i, the bit
     * "i beats (i + d) mod g" */
    size_t cnt = g - 1 - (size_t)fused;
    rc = spin_mpc_buf_alloc(ctx, cnt * B, &F);
    for (size_t d = 1 + (size_t)fused, k = 0; d < g && !rc; d++, k++) {
        uint64_t *dst = F + k * B;
        rc = copyw(ctx, dst, C + dist_off(g, d) * n, (g - d) * n);
        if (!rc) rc = one_minus(ctx, dst + (g - d) * n, C + dist_off(g, g - d) * n, d * n);
    }
    if (!rc) rc = spin_mpc_buf_alloc(ctx, B, &s);
    int hasw = 0;
    if (!rc && want_w) rc = spin_mpc_buf_alloc(ctx, B, &w);
    if (rc) goto done;
    if (fused) {
        rc = copyw(ctx, s, BV, (g - 1) * n);
        if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_SUB, s + (g - 1) * n, col + (g - 1) * n,
                                     BV + dist_off(g, g - 1) * n, n, NULL);
        if (!rc && want_w) {
            rc = copyw(ctx, w, C, (g - 1) * n);
            if (!rc) rc = one_minus(ctx, w + (g - 1) * n, C + dist_off(g, g - 1) * n, n);
            hasw = 1;
        }
    } else {
        rc = copyw(ctx, s, col, B);
    }
    spin_mpc_buf_release(ctx, C);
    spin_mpc_buf_release(ctx, BV);
    C = BV = NULL;
    size_t maxm = cnt / 2 + 2;
    if (!rc) rc = spin_mpc_buf_alloc(ctx, maxm * B, &X);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, maxm * B, &Y);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, maxm * B, &Z);
    /* product tree: each round pairs the slots; an odd slot multiplies the
     * value track s (and the one-hot track w) */
    while (cnt && !rc) {
        size_t h = cnt / 2, m = h;
        int odd = (int)(cnt & 1), wprod = 0;
        const uint64_t *fl = F + (cnt - 1) * B;
        rc = copyw(ctx, X, F, h * B);
        if (!rc) rc = copyw(ctx, Y, F + h * B, h * B);
        if (!rc && odd) {
            rc = copyw(ctx, X + m * B, s, B);
            if (!rc) rc = copyw(ctx, Y + m * B, fl, B);
            m++;
            if (!rc && want_w) {
                if (hasw) {
                    rc = copyw(ctx, X + m * B, w, B);
                    if (!rc) rc = copyw(ctx, Y + m * B, fl, B);
                    m++;
                    wprod = 1;
                } else {
                    rc = copyw(ctx, w, fl, B);
                    hasw = 1;
                }
            }
        }
        if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
        if (!rc) rc = spin_mpc_mul_words(ctx, X, Y, m * B, Z);
        if (!rc) rc = copyw(ctx, F, Z, h * B);
        if (!rc && odd) rc = copyw(ctx, s, Z + h * B, B);
        if (!rc && wprod) rc = copyw(ctx, w, Z + (h + 1) * B, B);
        cnt = h;
    }
    if (!rc) rc = o->sum_axis(ctx->compute_state, SPIN_DT_U64, next, s, 1, g, n, 0, NULL);
done:
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
    spin_mpc_buf_release(ctx, col);
    spin_mpc_buf_release(ctx, D);
    spin_mpc_buf_release(ctx, C);
    spin_mpc_buf_release(ctx, V);
    spin_mpc_buf_release(ctx, BV);
    spin_mpc_buf_release(ctx, F);
    spin_mpc_buf_release(ctx, X);
    spin_mpc_buf_release(ctx, Y);
    spin_mpc_buf_release(ctx, Z);
    spin_mpc_buf_release(ctx, s);
    if (rc || !want_w) {
        spin_mpc_buf_release(ctx, w);
        w = NULL;
    }
    lv->w = w;
    return rc;
}

/* Maximum over the first index of the shifted X [L][I] into out [I]; with
 * onehot, the integer one-hot [L][I] of the first maximum. */
static int max_engine(spin_ctx_t *ctx, const uint64_t *X, size_t L, size_t I, uint64_t *out, uint64_t *onehot)
{
    const spin_compute_ops_t *o = ctx->compute;
    const int want_w = onehot != NULL;
    if (!I) return 0;
    if (L == 1) {
        int rc = copyw(ctx, out, X, I);
        if (!rc && want_w) rc = o->mem_zero(ctx->compute_state, onehot, I * 8, NULL);
        if (!rc && want_w && ctx->party == 0) rc = o->ring_scalar(ctx->compute_state, SPIN_RING_ADD_S, onehot, onehot, 1, I, NULL);
        if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
        return rc;
    }
    size_t gs[MAX_LEVELS];
    int nlev;
    int rc = fn_reduce_plan(ctx, L, I, want_w, gs, &nlev);
    if (rc) return rc;
    level_t lv[MAX_LEVELS];
    memset(lv, 0, sizeof lv);
    const uint64_t *cur = X;
    uint64_t *owned = NULL, *rep = NULL;
    int k;
    size_t Lk = L;
    for (k = 0; k < nlev && !rc; k++) {
        level_t *v = &lv[k];
        v->L = Lk;
        v->I = I;
        v->g = gs[k];
        v->q = (Lk + v->g - 1) / v->g;
        v->p = v->q * v->g - Lk;
        uint64_t *next = out;
        if (k + 1 < nlev) {
            next = NULL;
            rc = spin_mpc_buf_alloc(ctx, v->q * I, &next);
        }
        if (!rc) rc = level_run(ctx, v, cur, next, want_w);
        spin_mpc_buf_release(ctx, owned);
        owned = next != out ? next : NULL;
        cur = next;
        Lk = v->q;
    }
    spin_mpc_buf_release(ctx, owned);
    if (!rc && Lk != 1) rc = SPIN_ERR_INTERNAL;
    /* argmax: every level's one-hot expanded to the candidates (a group's
     * entry replicated over its members, padding dropped by col2im), then
     * the product of the nlev factors in ceil(log2 nlev) rounds */
    const size_t LI = L * I;
    uint64_t *Fa = NULL;
    if (!rc && want_w) rc = spin_mpc_buf_alloc(ctx, (size_t)nlev * LI, &Fa);
    for (k = 0; k < nlev && !rc && want_w; k++) {
        spin_conv_geom_t G;
        level_geom(&lv[k], &G);
        /* tmp: level k's one-hot in the coordinates of level j's input,
         * for j = k, k-1, ..., 0 (level 0's goes straight into Fa) */
        uint64_t *tmp = k == 0 ? Fa : NULL;
        if (!tmp) rc = spin_mpc_buf_alloc(ctx, lv[k].L * I, &tmp);
        if (!rc) rc = o->col2im(ctx->compute_state, SPIN_DT_U64, &G, tmp, lv[k].w, NULL);
        for (int j = k - 1; j >= 0 && !rc; j--) {
            size_t n = lv[j].q * I;
            uint64_t *dst = j == 0 ? Fa + (size_t)k * LI : NULL;
            rc = spin_mpc_buf_alloc(ctx, lv[j].g * n, &rep);
            for (size_t t = 0; t < lv[j].g && !rc; t++) rc = copyw(ctx, rep + t * n, tmp, n);
            if (!rc && !dst) rc = spin_mpc_buf_alloc(ctx, lv[j].L * I, &dst);
            level_geom(&lv[j], &G);
            if (!rc) rc = o->col2im(ctx->compute_state, SPIN_DT_U64, &G, dst, rep, NULL);
            spin_mpc_buf_release(ctx, rep);
            rep = NULL;
            spin_mpc_buf_release(ctx, tmp);
            tmp = dst;
        }
        if (tmp != Fa + (size_t)k * LI) spin_mpc_buf_release(ctx, tmp);
    }
    size_t cnt = (size_t)nlev;
    while (!rc && want_w && cnt > 1) {
        size_t h = cnt / 2;
        rc = o->stream_sync(ctx->compute_state, NULL);
        if (!rc) rc = spin_mpc_mul_words(ctx, Fa, Fa + h * LI, h * LI, Fa);
        if (!rc && (cnt & 1)) rc = copyw(ctx, Fa + h * LI, Fa + (cnt - 1) * LI, LI);
        cnt = h + (cnt & 1);
    }
    if (!rc && want_w) rc = copyw(ctx, onehot, Fa, LI);
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
    spin_mpc_buf_release(ctx, Fa);
    for (k = 0; k < nlev; k++) spin_mpc_buf_release(ctx, lv[k].w);
    return rc;
}

/* ---- spin_max --------------------------------------------------------------- */

int spin_max(spin_ctx_t *ctx, const spin_tensor_t *a, int axis, spin_tensor_t **out, spin_tensor_t **argmax)
{
    int rc = spin_mpc_check_party(ctx, "max");
    if (rc) return rc;
    if (!a || !out) {
        MPC_ERR(ctx, "max: NULL tensor or result pointer");
        return SPIN_ERR_INVAL;
    }
    const int axis0 = axis;
    if (axis < 0) axis += a->ndim;
    if (a->ndim < 1 || axis < 0 || axis >= a->ndim) {
        MPC_ERR(ctx, "max: axis %d of a %d-d tensor (use 0..%d, or -1 for the last)", axis0, a->ndim,
                a->ndim - 1);
        return SPIN_ERR_INVAL;
    }
    const size_t m = a->shape[axis];
    if (!m) {
        MPC_ERR(ctx, "max: the axis %d is empty (no maximum)", axis);
        return SPIN_ERR_INVAL;
    }
    const spin_compute_ops_t *o = ctx->compute;
    size_t outer = 1, inner = 1, oshape[SPIN_MAX_DIMS];
    for (int d = 0; d < axis; d++) outer *= a->shape[d];
    for (int d = axis + 1; d < a->ndim; d++) inner *= a->shape[d];
    for (int d = 0, k = 0; d < a->ndim; d++)
        if (d != axis) oshape[k++] = a->shape[d];
    const size_t I = outer * inner, n = I * m;
    spin_tensor_t *r = NULL, *am = NULL, *dense = NULL;
    int owned = 0;
    uint64_t *X = NULL, *oh = NULL;
    rc = spin_mpc_tensor_new_like(ctx, a->ndim - 1, oshape, &r);
    if (!rc && argmax) rc = spin_mpc_tensor_new_like(ctx, a->ndim, a->shape, &am);
    if (rc || !n) goto done;
    spin_conv_geom_t T;
    perm_geom(outer, m, inner, &T);
    rc = spin_mpc_tensor_dense(a, &dense, &owned);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &X);
    if (!rc && argmax) rc = spin_mpc_buf_alloc(ctx, n, &oh);
    if (!rc) rc = o->im2col(ctx->compute_state, &T, X, spin_mpc_tensor_data(dense), NULL);
    if (!rc && ctx->party == 0) rc = o->ring_scalar(ctx->compute_state, SPIN_RING_ADD_S, X, X, SHIFT, n, NULL);
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
    if (!rc) rc = max_engine(ctx, X, m, I, spin_mpc_tensor_data(r), oh);
    if (!rc && ctx->party == 0)
        rc = o->ring_scalar(ctx->compute_state, SPIN_RING_SUB_S, spin_mpc_tensor_data(r), spin_mpc_tensor_data(r), SHIFT, I, NULL);
    if (!rc && argmax) {
        rc = o->col2im(ctx->compute_state, SPIN_DT_U64, &T, spin_mpc_tensor_data(am), oh, NULL);
        if (!rc) rc = o->ring_scalar(ctx->compute_state, SPIN_RING_SHL_S, spin_mpc_tensor_data(am), spin_mpc_tensor_data(am), ctx->frac_bits, n, NULL);
    }
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
done:
    if (owned) spin_tensor_free(dense);
    spin_mpc_buf_release(ctx, X);
    spin_mpc_buf_release(ctx, oh);
    if (rc) {
        spin_tensor_free(r);
        spin_tensor_free(am);
        return rc;
    }
    *out = r;
    if (argmax) *argmax = am;
    return 0;
}

/* ---- pooling ------------------------------------------------------------------ */

typedef struct pool {
    size_t n, c, h, w, oh, ow, K, N, P, M;
    spin_conv_geom_t G;          /* windows: x -> [n*c][K][P] */
    spin_conv_geom_t T;          /* [n*c][K][P] -> [K][n*c*P] */
} pool_t;

static int pool_setup(spin_ctx_t *ctx, const char *what, const size_t xs[4], const spin_pool2d_params_t *p,
                      pool_t *pl)
{
    if (!p) {
        MPC_ERR(ctx, "%s: no parameters", what);
        return SPIN_ERR_INVAL;
    }
    if (!p->kernel_h || !p->kernel_w || !p->stride_h || !p->stride_w || p->pad_h >= p->kernel_h ||
        p->pad_w >= p->kernel_w || xs[2] + 2 * p->pad_h < p->kernel_h || xs[3] + 2 * p->pad_w < p->kernel_w) {
        MPC_ERR(ctx, "%s: kernel %zux%zu, stride %zux%zu, pad %zux%zu on a %zux%zu input: kernel and "
                     "stride must be >= 1, pad < kernel, kernel within the padded input",
                what, p->kernel_h, p->kernel_w, p->stride_h, p->stride_w, p->pad_h, p->pad_w, xs[2], xs[3]);
        return SPIN_ERR_INVAL;
    }
    memset(pl, 0, sizeof *pl);
    pl->n = xs[0];
    pl->c = xs[1];
    pl->h = xs[2];
    pl->w = xs[3];
    pl->oh = (xs[2] + 2 * p->pad_h - p->kernel_h) / p->stride_h + 1;
    pl->ow = (xs[3] + 2 * p->pad_w - p->kernel_w) / p->stride_w + 1;
    pl->K = p->kernel_h * p->kernel_w;
    pl->N = pl->n * pl->c;
    pl->P = pl->oh * pl->ow;
    pl->M = pl->N * pl->P;
    spin_conv_geom_t *G = &pl->G;
    G->n = pl->n;
    G->c = pl->c;
    G->h = pl->h;
    G->w = pl->w;
    G->kh = p->kernel_h;
    G->kw = p->kernel_w;
    G->sh = p->stride_h;
    G->sw = p->stride_w;
    G->ph = p->pad_h;
    G->pw = p->pad_w;
    G->dh = G->dw = 1;
    G->oh = pl->oh;
    G->ow = pl->ow;
    perm_geom(pl->N, pl->K, pl->P, &pl->T);
    return 0;
}

static int check_x4(spin_ctx_t *ctx, const char *what, const spin_tensor_t *x)
{
    if (!x || x->ndim != 4) {
        MPC_ERR(ctx, "%s: x must be a 4-d tensor [n][c][h][w]", what);
        return SPIN_ERR_INVAL;
    }
    return 0;
}

/* dy must be [n][c][oh][ow] for x_shape and p. */
static int check_dy(spin_ctx_t *ctx, const char *what, const spin_tensor_t *dy, const pool_t *pl)
{
    if (!dy || dy->ndim != 4 || dy->shape[0] != pl->n || dy->shape[1] != pl->c || dy->shape[2] != pl->oh ||
        dy->shape[3] != pl->ow) {
        MPC_ERR(ctx, "%s: dy must be [%zu][%zu][%zu][%zu] for this input shape and pooling", what, pl->n, pl->c,
                pl->oh, pl->ow);
        return SPIN_ERR_INVAL;
    }
    return 0;
}

int spin_maxpool2d(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_pool2d_params_t *p, spin_tensor_t **out,
                   spin_tensor_t **mask)
{
    int rc = spin_mpc_check_party(ctx, "maxpool2d");
    if (!rc) rc = check_x4(ctx, "maxpool2d", x);
    if (rc) return rc;
    if (!out) return SPIN_ERR_INVAL;
    pool_t pl;
    rc = pool_setup(ctx, "maxpool2d", x->shape, p, &pl);
    if (rc) return rc;
    const spin_compute_ops_t *o = ctx->compute;
    size_t oshape[4] = {pl.n, pl.c, pl.oh, pl.ow}, mshape[5] = {pl.K, pl.n, pl.c, pl.oh, pl.ow};
    size_t nx = spin_tensor_numel(x);
    spin_tensor_t *r = NULL, *mk = NULL;
    uint64_t *xs = NULL, *col = NULL, *X = NULL;
    rc = spin_mpc_tensor_new_like(ctx, 4, oshape, &r);
    if (!rc && mask) rc = spin_mpc_tensor_new_like(ctx, 5, mshape, &mk);
    if (rc || !pl.M) goto done;
    rc = spin_mpc_dense_words(ctx, x, &xs);
    if (!rc && ctx->party == 0) rc = o->ring_scalar(ctx->compute_state, SPIN_RING_ADD_S, xs, xs, SHIFT, nx, NULL);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, pl.K * pl.M, &col);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, pl.K * pl.M, &X);
    if (!rc) rc = o->im2col(ctx->compute_state, &pl.G, col, xs, NULL);
    if (!rc) rc = o->im2col(ctx->compute_state, &pl.T, X, col, NULL);
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
    spin_mpc_buf_release(ctx, col);
    spin_mpc_buf_release(ctx, xs);
    col = xs = NULL;
    if (!rc) rc = max_engine(ctx, X, pl.K, pl.M, spin_mpc_tensor_data(r), mk ? spin_mpc_tensor_data(mk) : NULL);
    if (!rc && ctx->party == 0)
        rc = o->ring_scalar(ctx->compute_state, SPIN_RING_SUB_S, spin_mpc_tensor_data(r), spin_mpc_tensor_data(r), SHIFT, pl.M, NULL);
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
done:
    spin_mpc_buf_release(ctx, xs);
    spin_mpc_buf_release(ctx, col);
    spin_mpc_buf_release(ctx, X);
    if (rc) {
        spin_tensor_free(r);
        spin_tensor_free(mk);
        return rc;
    }
    *out = r;
    if (mask) *mask = mk;
    return 0;
}

/* dx [x_shape] = sum over windows of Z [K][n*c*P] (position-major). */
static int scatter_windows(spin_ctx_t *ctx, const pool_t *pl, const uint64_t *Z, spin_tensor_t *dx)
{
    uint64_t *col = NULL;
    int rc = spin_mpc_buf_alloc(ctx, pl->K * pl->M, &col);
    if (!rc) rc = ctx->compute->col2im(ctx->compute_state, SPIN_DT_U64, &pl->T, col, Z, NULL);
    if (!rc) rc = ctx->compute->col2im(ctx->compute_state, SPIN_DT_U64, &pl->G, spin_mpc_tensor_data(dx), col, NULL);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    spin_mpc_buf_release(ctx, col);
    return rc;
}

/* K copies of dy's words side by side: [K][M]. */
static int replicate(spin_ctx_t *ctx, const uint64_t *v, size_t M, size_t K, uint64_t **out)
{
    int rc = spin_mpc_buf_alloc(ctx, K * M, out);
    for (size_t j = 0; j < K && !rc; j++) rc = copyw(ctx, *out + j * M, v, M);
    return rc;
}

int spin_maxpool2d_backward(spin_ctx_t *ctx, const spin_tensor_t *dy, const spin_tensor_t *mask,
                            const spin_pool2d_params_t *p, const size_t x_shape[4], spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "maxpool2d_backward");
    if (rc) return rc;
    if (!x_shape || !out) return SPIN_ERR_INVAL;
    pool_t pl;
    rc = pool_setup(ctx, "maxpool2d_backward", x_shape, p, &pl);
    if (!rc) rc = check_dy(ctx, "maxpool2d_backward", dy, &pl);
    if (rc) return rc;
    if (!mask || mask->ndim != 5 || mask->shape[0] != pl.K || mask->shape[1] != pl.n || mask->shape[2] != pl.c ||
        mask->shape[3] != pl.oh || mask->shape[4] != pl.ow) {
        MPC_ERR(ctx, "maxpool2d_backward: the mask must be spin_maxpool2d's, [%zu][%zu][%zu][%zu][%zu]", pl.K,
                pl.n, pl.c, pl.oh, pl.ow);
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *dx = NULL, *md = NULL;
    int mowned = 0;
    uint64_t *d = NULL, *rep = NULL;
    rc = spin_tensor_zeros(ctx, 4, x_shape, &dx);
    if (rc || !pl.M) goto done;
    rc = spin_mpc_dense_words(ctx, dy, &d);
    if (!rc) rc = spin_mpc_tensor_dense(mask, &md, &mowned);
    if (!rc) rc = replicate(ctx, d, pl.M, pl.K, &rep);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    /* integer 0/1 mask times dy: exact */
    if (!rc) rc = spin_mpc_mul_words(ctx, spin_mpc_tensor_data(md), rep, pl.K * pl.M, rep);
    if (!rc) rc = scatter_windows(ctx, &pl, rep, dx);
done:
    if (mowned) spin_tensor_free(md);
    spin_mpc_buf_release(ctx, d);
    spin_mpc_buf_release(ctx, rep);
    if (rc) {
        spin_tensor_free(dx);
        return rc;
    }
    *out = dx;
    return 0;
}

/* x / K in place (n words, fixed point unchanged): a shift when K is a power
 * of two, else x * round(2^31 / K) truncated by 31 bits. */
static int div_public(spin_ctx_t *ctx, uint64_t *x, size_t n, size_t K)
{
    if (K == 1 || !n) return 0;
    if (!(K & (K - 1))) return spin_mpc_trunc_words(ctx, x, n, fn_clog2(K));
    const unsigned d = 31;
    uint64_t c = ((UINT64_C(1) << d) + K / 2) / K;
    int rc = ctx->compute->ring_scalar(ctx->compute_state, SPIN_RING_MUL_S, x, x, c, n, NULL);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    if (!rc) rc = spin_mpc_trunc_words(ctx, x, n, d);
    return rc;
}

int spin_avgpool2d(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_pool2d_params_t *p, spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "avgpool2d");
    if (!rc) rc = check_x4(ctx, "avgpool2d", x);
    if (rc) return rc;
    if (!out) return SPIN_ERR_INVAL;
    pool_t pl;
    rc = pool_setup(ctx, "avgpool2d", x->shape, p, &pl);
    if (rc) return rc;
    size_t oshape[4] = {pl.n, pl.c, pl.oh, pl.ow};
    spin_tensor_t *r = NULL, *dense = NULL;
    int owned = 0;
    uint64_t *col = NULL;
    rc = spin_mpc_tensor_new_like(ctx, 4, oshape, &r);
    if (rc || !pl.M) goto done;
    rc = spin_mpc_tensor_dense(x, &dense, &owned);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, pl.K * pl.M, &col);
    if (!rc) rc = ctx->compute->im2col(ctx->compute_state, &pl.G, col, spin_mpc_tensor_data(dense), NULL);
    if (!rc) rc = ctx->compute->sum_axis(ctx->compute_state, SPIN_DT_U64, spin_mpc_tensor_data(r), col, pl.N, pl.K, pl.P, 0, NULL);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    if (!rc) rc = div_public(ctx, spin_mpc_tensor_data(r), pl.M, pl.K);
done:
    if (owned) spin_tensor_free(dense);
    spin_mpc_buf_release(ctx, col);
    if (rc) {
        spin_tensor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int spin_avgpool2d_backward(spin_ctx_t *ctx, const spin_tensor_t *dy, const spin_pool2d_params_t *p,
                            const size_t x_shape[4], spin_tensor_t **out)
{
    int rc = spin_mpc_check_party(ctx, "avgpool2d_backward");
    if (rc) return rc;
    if (!x_shape || !out) return SPIN_ERR_INVAL;
    pool_t pl;
    rc = pool_setup(ctx, "avgpool2d_backward", x_shape, p, &pl);
    if (!rc) rc = check_dy(ctx, "avgpool2d_backward", dy, &pl);
    if (rc) return rc;
    spin_tensor_t *dx = NULL;
    uint64_t *d = NULL, *rep = NULL;
    rc = spin_tensor_zeros(ctx, 4, x_shape, &dx);
    if (rc || !pl.M) goto done;
    rc = spin_mpc_dense_words(ctx, dy, &d);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    if (!rc) rc = div_public(ctx, d, pl.M, pl.K);
    if (!rc) rc = replicate(ctx, d, pl.M, pl.K, &rep);
    if (!rc) rc = scatter_windows(ctx, &pl, rep, dx);
done:
    spin_mpc_buf_release(ctx, d);
    spin_mpc_buf_release(ctx, rep);
    if (rc) {
        spin_tensor_free(dx);
        return rc;
    }
    *out = dx;
    return 0;
}
