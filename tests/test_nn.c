/* test_nn.c - the neural-network building blocks (spin/nn.h) on real
 * multi-party runs (N = 2, 3, 4 + dealer over ipc://) against float64:
 * bias broadcast (exact), Linear and Conv2d forward and backward, softmax
 * cross-entropy (gradient and loss), and the batched SGD step against
 * PyTorch's rule, with stated error bounds. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/mpc.h>
#include <spin/functions.h>
#include <spin/nn.h>
#include "testutil.h"

#define F 16
#define ULP (1.0 / 65536.0)

#define CHECK_RC(expr) do { int rc_ = (expr); if (rc_) { fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #expr, spin_strerror(rc_)); return rc_; } } while (0)
#define FAILF(...) do { fprintf(stderr, __VA_ARGS__); return SPIN_ERR_INTERNAL; } while (0)

static double q(double x) { return round(x * 65536.0) / 65536.0; }

static double *gen(size_t n, uint64_t seed, double scale)
{
    double *v = malloc(n * sizeof *v);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) v[i] = q(((double)(tu_rand64(&s) >> 11) / 9007199254740992.0 * 2.0 - 1.0) * scale);
    return v;
}

static int cmp(const char *what, const double *got, const double *want, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol))
            FAILF("%s[%zu] = %.9g, want %.9g (bound %.3g)\n", what, i, got[i], want[i], tol);
    return 0;
}

static int reveal(spin_ctx_t *ctx, spin_tensor_t *t, double *out)
{
    int rc = spin_reveal_f64(ctx, t, -1, out);
    spin_tensor_free(t);
    return rc;
}

/* ---- Linear ------------------------------------------------------------ */

static int p_linear(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    const size_t B = 5, I = 7, O = 3;
    double *x = gen(B * I, 1, 2.0), *w = gen(O * I, 2, 0.5), *b = gen(O, 3, 1.0), *dy = gen(B * O, 4, 1.0);
    size_t xs[2] = {B, I}, ws[2] = {O, I}, bs[1] = {O}, ys[2] = {B, O};
    spin_tensor_t *tx, *tw, *tb, *tdy, *y, *dx, *dw, *db;
    int last = spin_ctx_nparties(ctx) - 1;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 2, xs, &tx));
    CHECK_RC(spin_input_f64(ctx, last, party == last ? w : NULL, 2, ws, &tw));
    CHECK_RC(spin_input_f64(ctx, last, party == last ? b : NULL, 1, bs, &tb));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? dy : NULL, 2, ys, &tdy));
    CHECK_RC(spin_linear(ctx, tx, tw, tb, &y));
    CHECK_RC(spin_linear_backward(ctx, tx, tw, tdy, &dx, &dw, &db));
    double gy[15], gdx[35], gdw[21], gdb[3], ry[15], rdx[35], rdw[21], rdb[3];
    CHECK_RC(reveal(ctx, y, gy));
    CHECK_RC(reveal(ctx, dx, gdx));
    CHECK_RC(reveal(ctx, dw, gdw));
    CHECK_RC(reveal(ctx, db, gdb));
    for (size_t r = 0; r < B; r++)
        for (size_t o = 0; o < O; o++) {
            double s = b[o];
            for (size_t i = 0; i < I; i++) s += x[r * I + i] * w[o * I + i];
            ry[r * O + o] = s;
        }
    for (size_t r = 0; r < B; r++)
        for (size_t i = 0; i < I; i++) {
            double s = 0;
            for (size_t o = 0; o < O; o++) s += dy[r * O + o] * w[o * I + i];
            rdx[r * I + i] = s;
        }
    for (size_t o = 0; o < O; o++) {
        rdb[o] = 0;
        for (size_t r = 0; r < B; r++) rdb[o] += dy[r * O + o];
        for (size_t i = 0; i < I; i++) {
            double s = 0;
            for (size_t r = 0; r < B; r++) s += dy[r * O + o] * x[r * I + i];
            rdw[o * I + i] = s;
        }
    }
    /* one truncation per product: at most 1 ulp (2 ulp margin for rounding) */
    CHECK_RC(cmp("linear y", gy, ry, B * O, 2 * ULP));
    CHECK_RC(cmp("linear dx", gdx, rdx, B * I, 2 * ULP));
    CHECK_RC(cmp("linear dw", gdw, rdw, O * I, 2 * ULP));
    CHECK_RC(cmp("linear db (exact)", gdb, rdb, O, 1e-12));
    /* a shape mismatch is refused with SPIN_ERR_INVAL */
    if (spin_linear(ctx, tx, tdy, NULL, &y) != SPIN_ERR_INVAL) FAILF("linear accepted mismatched shapes\n");
    spin_tensor_free(tx);
    spin_tensor_free(tw);
    spin_tensor_free(tb);
    spin_tensor_free(tdy);
    free(x); free(w); free(b); free(dy);
    return 0;
}

/* ---- Conv2d with bias and its backward ---------------------------------- */

static int p_conv(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    const size_t N = 2, C = 3, H = 6, W = 5, OC = 4, K = 3, S = 1, P = 1;
    const size_t OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1;
    double *x = gen(N * C * H * W, 5, 2.0), *w = gen(OC * C * K * K, 6, 0.5), *b = gen(OC, 7, 1.0);
    double *dy = gen(N * OC * OH * OW, 8, 1.0);
    size_t xs[4] = {N, C, H, W}, ws[4] = {OC, C, K, K}, bs[1] = {OC}, ys[4] = {N, OC, OH, OW};
    spin_tensor_t *tx, *tw, *tb, *tdy, *y, *dx, *dw, *db;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 4, xs, &tx));
    CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? w : NULL, 4, ws, &tw));
    CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? b : NULL, 1, bs, &tb));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? dy : NULL, 4, ys, &tdy));
    spin_conv2d_params_t cp = {S, S, P, P};
    CHECK_RC(spin_conv2d_bias(ctx, tx, tw, tb, &cp, &y));
    CHECK_RC(spin_conv2d_backward(ctx, tx, tw, tdy, &cp, &dx, &dw, &db));
    size_t ny = N * OC * OH * OW, nx = N * C * H * W, nw = OC * C * K * K;
    double *gy = malloc(ny * 8), *gdx = malloc(nx * 8), *gdw = malloc(nw * 8), gdb[4];
    double *ry = calloc(ny, 8), *rdx = calloc(nx, 8), *rdw = calloc(nw, 8), rdb[4] = {0};
    CHECK_RC(reveal(ctx, y, gy));
    CHECK_RC(reveal(ctx, dx, gdx));
    CHECK_RC(reveal(ctx, dw, gdw));
    CHECK_RC(reveal(ctx, db, gdb));
    for (size_t n = 0; n < N; n++)
        for (size_t o = 0; o < OC; o++)
            for (size_t oh = 0; oh < OH; oh++)
                for (size_t ow = 0; ow < OW; ow++) {
                    size_t yi = ((n * OC + o) * OH + oh) * OW + ow;
                    ry[yi] += b[o];
                    rdb[o] += dy[yi];
                    for (size_t c = 0; c < C; c++)
                        for (size_t ki = 0; ki < K; ki++)
                            for (size_t kj = 0; kj < K; kj++) {
                                long ih = (long)(oh * S + ki) - (long)P, iw = (long)(ow * S + kj) - (long)P;
                                if (ih < 0 || iw < 0 || ih >= (long)H || iw >= (long)W) continue;
                                size_t xi = ((n * C + c) * H + (size_t)ih) * W + (size_t)iw;
                                size_t wi = ((o * C + c) * K + ki) * K + kj;
                                ry[yi] += x[xi] * w[wi];
                                rdx[xi] += dy[yi] * w[wi];
                                rdw[wi] += dy[yi] * x[xi];
                            }
                }
    CHECK_RC(cmp("conv y", gy, ry, ny, 2 * ULP));
    CHECK_RC(cmp("conv dx", gdx, rdx, nx, 2 * ULP));
    CHECK_RC(cmp("conv dw", gdw, rdw, nw, 2 * ULP));
    CHECK_RC(cmp("conv db (exact)", gdb, rdb, OC, 1e-12));
    spin_tensor_free(tx);
    spin_tensor_free(tw);
    spin_tensor_free(tb);
    spin_tensor_free(tdy);
    free(x); free(w); free(b); free(dy);
    free(gy); free(gdx); free(gdw); free(ry); free(rdx); free(rdw);
    return 0;
}

/* ---- softmax cross-entropy ------------------------------------------------ */

static int p_xent(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    const size_t B = 8, K = 10;
    double *z = gen(B * K, 9, 6.0), oh[80] = {0};
    for (size_t r = 0; r < B; r++) oh[r * K + (r * 7) % K] = 1.0;
    /* a row with equal maxima */
    for (size_t c = 0; c < K; c++) z[c] = c < 3 ? 4.0 : -2.0;
    size_t s2[2] = {B, K};
    spin_tensor_t *tz, *to, *g, *loss, *pr;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? z : NULL, 2, s2, &tz));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? oh : NULL, 2, s2, &to));
    CHECK_RC(spin_softmax_xent(ctx, tz, to, &g, &loss, &pr));
    double gg[80], gp[80], gl, rg[80], rp[80], rl = 0;
    CHECK_RC(reveal(ctx, g, gg));
    CHECK_RC(reveal(ctx, pr, gp));
    CHECK_RC(reveal(ctx, loss, &gl));
    for (size_t r = 0; r < B; r++) {
        double mx = z[r * K], s = 0;
        for (size_t c = 1; c < K; c++) mx = fmax(mx, z[r * K + c]);
        for (size_t c = 0; c < K; c++) s += exp(z[r * K + c] - mx);
        for (size_t c = 0; c < K; c++) {
            rp[r * K + c] = exp(z[r * K + c] - mx) / s;
            rg[r * K + c] = (rp[r * K + c] - oh[r * K + c]) / (double)B;
            if (oh[r * K + c] > 0) rl -= (z[r * K + c] - mx - log(s)) / (double)B;
        }
    }
    /* bounds: the softmax's documented error (docs/PROTOCOLS.md) plus
     * the truncation of the 1/B scaling */
    CHECK_RC(cmp("softmax probs", gp, rp, B * K, 1e-3));
    CHECK_RC(cmp("xent grad", gg, rg, B * K, 1e-3 / (double)B + 2 * ULP));
    CHECK_RC(cmp("xent loss", &gl, &rl, 1, 5e-3));
    spin_tensor_free(tz);
    spin_tensor_free(to);
    free(z);
    return 0;
}

/* ---- SGD step -------------------------------------------------------------- */

static int p_sgd(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    const size_t n1 = 37, n2 = 5;
    double *w1 = gen(n1, 10, 1.0), *w2 = gen(n2, 11, 1.0), *g1 = gen(n1, 12, 0.5), *g2 = gen(n2, 13, 0.5);
    double *v1 = gen(n1, 14, 0.5), *v2 = gen(n2, 15, 0.5);
    size_t s1 = n1, s2 = n2;
    spin_tensor_t *P[2], *G[2], *V[2];
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? w1 : NULL, 1, &s1, &P[0]));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? w2 : NULL, 1, &s2, &P[1]));
    CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? g1 : NULL, 1, &s1, &G[0]));
    CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? g2 : NULL, 1, &s2, &G[1]));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? v1 : NULL, 1, &s1, &V[0]));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? v2 : NULL, 1, &s2, &V[1]));
    const double lr = 0.125, mom = 0.875, wd = 0.0625;   /* exact in fixed point */
    spin_comm_stats_t a, b;
    CHECK_RC(spin_ctx_stats(ctx, -1, &a));
    CHECK_RC(spin_sgd_step(ctx, P, G, V, 2, lr, mom, wd));
    CHECK_RC(spin_ctx_stats(ctx, -1, &b));
    if (b.rounds - a.rounds != 2) FAILF("sgd_step took %llu rounds, documented 2\n", (unsigned long long)(b.rounds - a.rounds));
    double gw1[37], gw2[5], gv1[37], gv2[5];
    CHECK_RC(spin_reveal_f64(ctx, P[0], -1, gw1));
    CHECK_RC(spin_reveal_f64(ctx, P[1], -1, gw2));
    CHECK_RC(spin_reveal_f64(ctx, V[0], -1, gv1));
    CHECK_RC(spin_reveal_f64(ctx, V[1], -1, gv2));
    for (int t = 0; t < 2; t++) {
        size_t n = t ? n2 : n1;
        double *w = t ? w2 : w1, *g = t ? g2 : g1, *v = t ? v2 : v1, *gw = t ? gw2 : gw1, *gv = t ? gv2 : gv1;
        for (size_t i = 0; i < n; i++) {
            double nv = mom * v[i] + g[i] + wd * w[i];
            double nw = w[i] - lr * nv;
            if (fabs(gv[i] - nv) > 2 * ULP) FAILF("sgd velocity[%d][%zu] = %g, want %g\n", t, i, gv[i], nv);
            if (fabs(gw[i] - nw) > 3 * ULP) FAILF("sgd weight[%d][%zu] = %g, want %g\n", t, i, gw[i], nw);
        }
    }
    for (int t = 0; t < 2; t++) {
        spin_tensor_free(P[t]);
        spin_tensor_free(G[t]);
        spin_tensor_free(V[t]);
    }
    free(w1); free(w2); free(g1); free(g2); free(v1); free(v2);
    return 0;
}

/* ---- bias broadcast (exact) --------------------------------------------- */

static int p_bias(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    double *y = gen(2 * 3 * 4, 16, 3.0), *b = gen(3, 17, 3.0), out[24];
    size_t ys[3] = {2, 3, 4}, bs[1] = {3};
    spin_tensor_t *ty, *tb, *r;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? y : NULL, 3, ys, &ty));
    CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? b : NULL, 1, bs, &tb));
    CHECK_RC(spin_add_bias(ctx, ty, tb, 1, &r));
    CHECK_RC(reveal(ctx, r, out));
    for (size_t i = 0; i < 24; i++)
        if (out[i] != y[i] + b[(i / 4) % 3]) FAILF("add_bias[%zu] wrong\n", i);
    if (spin_add_bias(ctx, ty, tb, 2, &r) != SPIN_ERR_INVAL) FAILF("add_bias accepted a bias of the wrong length\n");
    spin_tensor_free(ty);
    spin_tensor_free(tb);
    free(y);
    free(b);
    return 0;
}

/* got[i] against c x[i] y[i] within 1 ulp (truncation) */
static int cmp_prod(const char *what, const double *got, const double *x, const double *y, size_t n, double c)
{
    for (size_t i = 0; i < n; i++) {
        double want = c * x[i] * y[i];
        if (!(fabs(got[i] - want) <= ULP * 1.000001))
            FAILF("%s[%zu] = %.9g, want %.9g\n", what, i, got[i], want);
    }
    return 0;
}

/* ---- public building blocks of the layers ---------------------------- */

/* cost of one step (peers and dealer together) from the counters s0 */
static int cost_is(spin_ctx_t *ctx, const char *what, const spin_comm_stats_t *s0, uint64_t sent, uint64_t recv,
                   uint64_t rounds)
{
    spin_comm_stats_t s1;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    if (s1.bytes_sent - s0->bytes_sent != sent || s1.bytes_recv - s0->bytes_recv != recv ||
        s1.rounds - s0->rounds != rounds)
        FAILF("party %d, %s: sent %llu, received %llu bytes in %llu rounds; documented %llu, %llu, %llu\n",
              spin_ctx_party(ctx), what, (unsigned long long)(s1.bytes_sent - s0->bytes_sent),
              (unsigned long long)(s1.bytes_recv - s0->bytes_recv), (unsigned long long)(s1.rounds - s0->rounds),
              (unsigned long long)sent, (unsigned long long)recv, (unsigned long long)rounds);
    return 0;
}

/* revealed words decoded at scale 2^-sc */
static int reveal_at(spin_ctx_t *ctx, const spin_tensor_t *t, int sc, double *out)
{
    size_t n = spin_tensor_numel(t);
    uint64_t *r = malloc((n ? n : 1) * 8);
    if (!r) return SPIN_ERR_NOMEM;
    int rc = spin_reveal_ring(ctx, t, -1, r);
    for (size_t i = 0; !rc && i < n; i++) out[i] = ldexp((double)(int64_t)r[i], -sc);
    free(r);
    return rc;
}

/* ReLU with an integer mask; the mask times dy exactly (spin_mul_raw) */
static int p_relu_int(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    int N = spin_ctx_nparties(ctx);
    const size_t n = 300;
    size_t sh[2] = {3, 100};
    double *x = gen(n, 61, 4.0), *dy = gen(n, 62, 1.0), out[300], m[300];
    x[0] = 0;
    x[1] = -ULP;
    spin_tensor_t *tx, *tdy, *y, *mask, *dx;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 2, sh, &tx));
    CHECK_RC(spin_input_f64(ctx, N - 1, party == N - 1 ? dy : NULL, 2, sh, &tdy));
    spin_comm_stats_t s0;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_relu_int_mask(ctx, tx, &y, &mask));
    /* as spin_relu (docs/PROTOCOLS.md): 7 rounds, (N-1) (16n + 712 W); party 0: 3 requests, 8 (153 W + 2n) */
    uint64_t W = (n + 63) / 64, peers = (uint64_t)(N - 1) * (16 * n + 712 * W);
    CHECK_RC(cost_is(ctx, "relu_int_mask", &s0, peers + (party == 0 ? 3 * 208 : 0),
                     peers + (party == 0 ? 8 * (153 * W + 2 * n) : 0), 7));
    CHECK_RC(spin_reveal_f64(ctx, y, -1, out));
    CHECK_RC(reveal_at(ctx, mask, 0, m));
    for (size_t i = 0; i < n; i++) {
        if (out[i] != (x[i] > 0 ? x[i] : 0)) FAILF("relu_int_mask y[%zu] = %g for x = %g\n", i, out[i], x[i]);
        if (m[i] != (x[i] >= 0 ? 1.0 : 0.0)) FAILF("relu_int_mask mask[%zu] = %g for x = %g\n", i, m[i], x[i]);
    }
    CHECK_RC(spin_mul_raw(ctx, mask, tdy, &dx));
    CHECK_RC(reveal(ctx, dx, out));
    for (size_t i = 0; i < n; i++)
        if (out[i] != (x[i] >= 0 ? dy[i] : 0)) FAILF("mask * dy [%zu] = %g\n", i, out[i]);
    spin_tensor_free(y);
    spin_tensor_free(mask);
    spin_tensor_free(tx);
    spin_tensor_free(tdy);
    free(x);
    free(dy);
    return 0;
}

/* batched raw products and truncations, rsqrt with a factor */
static int p_batch_blocks(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    int N = spin_ctx_nparties(ctx), last = N - 1;
    uint64_t p0 = party == 0;
    size_t s0s[2] = {5, 10}, s1s[1] = {30}, s2s[3] = {2, 2, 5};
    double *x0 = gen(50, 71, 3.0), *y0 = gen(50, 72, 3.0), *x1 = gen(30, 73, 3.0), *x2 = gen(20, 74, 3.0),
           *y2 = gen(20, 75, 3.0), out[50];
    spin_tensor_t *a0, *b0, *a1, *a2, *b2, *z[3] = {NULL, NULL, NULL};
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x0 : NULL, 2, s0s, &a0));
    CHECK_RC(spin_input_f64(ctx, last, party == last ? y0 : NULL, 2, s0s, &b0));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x1 : NULL, 1, s1s, &a1));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x2 : NULL, 3, s2s, &a2));
    CHECK_RC(spin_input_f64(ctx, last, party == last ? y2 : NULL, 3, s2s, &b2));
    const spin_tensor_t *a[3] = {a0, a1, a2}, *b[3] = {b0, NULL, b2};
    spin_comm_stats_t s0;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_mul_raw_batch(ctx, 3, a, b, z));
    /* one round: (N-1) 8 (2 (50 + 20) + 30); party 0: a request per kind, the C_0 of all */
    uint64_t peers = (uint64_t)(N - 1) * 8 * (2 * 70 + 30);
    CHECK_RC(cost_is(ctx, "mul_raw_batch", &s0, peers + p0 * 2 * 208, peers + p0 * 8 * 100, 1));
    /* exact in the ring (2^-2f) */
    CHECK_RC(reveal_at(ctx, z[0], 2 * F, out));
    for (size_t i = 0; i < 50; i++)
        if (out[i] != x0[i] * y0[i]) FAILF("mul_raw_batch product 0 [%zu]\n", i);
    CHECK_RC(reveal_at(ctx, z[1], 2 * F, out));
    for (size_t i = 0; i < 30; i++)
        if (out[i] != x1[i] * x1[i]) FAILF("mul_raw_batch square [%zu]\n", i);
    /* the three truncated together: by f, f, f + 1 */
    unsigned d[3] = {F, F, F + 1};
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_trunc_batch(ctx, 3, z, d));
    peers = (uint64_t)(N - 1) * 8 * 100;
    CHECK_RC(cost_is(ctx, "trunc_batch", &s0, peers + p0 * 3 * 208, peers + p0 * 16 * 100, 1));
    CHECK_RC(spin_reveal_f64(ctx, z[0], -1, out));
    CHECK_RC(cmp_prod("trunc_batch 0", out, x0, y0, 50, 1.0));
    CHECK_RC(spin_reveal_f64(ctx, z[1], -1, out));
    CHECK_RC(cmp_prod("trunc_batch 1", out, x1, x1, 30, 1.0));
    CHECK_RC(spin_reveal_f64(ctx, z[2], -1, out));
    CHECK_RC(cmp_prod("trunc_batch 2", out, x2, y2, 20, 0.5));
    /* nothing to do: no messages; refused: a shift above 62, a non-contiguous tensor */
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_mul_raw_batch(ctx, 0, NULL, NULL, NULL));
    CHECK_RC(spin_trunc_batch(ctx, 0, NULL, NULL));
    CHECK_RC(cost_is(ctx, "empty batches", &s0, 0, 0, 0));
    unsigned big = 63;
    if (spin_trunc_batch(ctx, 1, z, &big) != SPIN_ERR_INVAL) FAILF("trunc_batch accepted 63 bits\n");
    spin_tensor_t *tt;
    CHECK_RC(spin_tensor_transpose(z[0], 0, 1, &tt));
    if (spin_trunc_batch(ctx, 1, &tt, d) != SPIN_ERR_INVAL) FAILF("trunc_batch accepted a transpose\n");
    spin_tensor_free(tt);
    for (int i = 0; i < 3; i++) spin_tensor_free(z[i]);
    /* w / sqrt(x) at a higher scale: x in [0.01, 100) */
    const size_t n = 40;
    size_t sn[1] = {n};
    double xv[40], ro[40];
    for (size_t i = 0; i < n; i++) xv[i] = q(0.01 * pow(10000.0, (double)i / (double)n));
    unsigned sc = 0, sq = 0;
    CHECK_RC(spin_rsqrt_scaled(ctx, NULL, 0.01, 3.0, NULL, &sq));
    spin_tensor_t *tx, *r;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? xv : NULL, 1, sn, &tx));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_rsqrt_scaled(ctx, tx, 0.01, 3.0, &r, &sc));
    spin_comm_stats_t s1;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    if (s1.rounds - s0.rounds != 20) FAILF("rsqrt_scaled took %llu rounds, documented 20\n",
                                           (unsigned long long)(s1.rounds - s0.rounds));
    if (sc != sq || sc < F + 2 || sc > F + 16) FAILF("rsqrt_scaled: scale %u (query %u)\n", sc, sq);
    CHECK_RC(reveal_at(ctx, r, (int)sc, ro));
    for (size_t i = 0; i < n; i++) {
        double want = 3.0 / sqrt(xv[i]);
        if (!(fabs(ro[i] - want) <= 2e-5 * want + 4 * ULP))
            FAILF("rsqrt_scaled(%g) = %.9g, want %.9g\n", xv[i], ro[i], want);
    }
    if (spin_rsqrt_scaled(ctx, NULL, 1e-6, 100.0, NULL, &sq) != SPIN_ERR_INVAL)
        FAILF("rsqrt_scaled accepted a factor too large for its range\n");
    spin_tensor_free(r);
    spin_tensor_free(tx);
    spin_tensor_t *all[5] = {a0, b0, a1, a2, b2};
    for (int i = 0; i < 5; i++) spin_tensor_free(all[i]);
    free(x0);
    free(y0);
    free(x1);
    free(x2);
    free(y2);
    return 0;
}

static void run_all_n(spin_party_fn fn)
{
    for (int n = 2; n <= 4; n++) {
        spin_ctx_opts_t o;
        memset(&o, 0, sizeof o);
        o.struct_size = sizeof o;
        o.frac_bits = F;
        o.timeout_ms = 60000;
        int rc = spin_run_local(n, "ipc", &o, fn, NULL);
        ck_assert_msg(rc == 0, "N = %d: %s", n, spin_strerror(rc));
    }
}

START_TEST(bias_broadcast) { run_all_n(p_bias); }
END_TEST
START_TEST(linear_forward_backward) { run_all_n(p_linear); }
END_TEST
START_TEST(conv_forward_backward) { run_all_n(p_conv); }
END_TEST
START_TEST(softmax_cross_entropy) { run_all_n(p_xent); }
END_TEST
START_TEST(sgd_momentum_weight_decay) { run_all_n(p_sgd); }
END_TEST
START_TEST(relu_integer_mask) { run_all_n(p_relu_int); }
END_TEST
START_TEST(batched_products_truncations_rsqrt) { run_all_n(p_batch_blocks); }
END_TEST

int main(void)
{
    spin_runtime_t *rt;
    spin_backend_t be;
    rt = tu_runtime_for("tcp", SPIN_PLUGIN_TRANSPORT, &be);
    spin_runtime_close(rt);
    rt = tu_runtime_for("cpu", SPIN_PLUGIN_COMPUTE, &be);
    spin_runtime_close(rt);
    Suite *s = suite_create("nn");
    TCase *tc = tcase_create("nn");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, bias_broadcast);
    tcase_add_test(tc, linear_forward_backward);
    tcase_add_test(tc, conv_forward_backward);
    tcase_add_test(tc, sgd_momentum_weight_decay);
    tcase_add_test(tc, softmax_cross_entropy);
    tcase_add_test(tc, relu_integer_mask);
    tcase_add_test(tc, batched_products_truncations_rsqrt);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
