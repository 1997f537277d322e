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
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
