/* test_arith_products.c - the steps that need the dealer: element-wise
 * products, matmul in every form, static operands, one-hot lookup,
 * convolutions forward and backward, products without truncation, and
 * truncation over the whole documented range (test_arith). */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/mpc.h>
#include "testutil.h"
#include "arith_suite.h"

/* ---- products ----------------------------------------------------------- */

static int p_mul(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    const size_t n = 8192;
    size_t shape[2] = {64, 128};
    double *x = gen(n, 1, 2.0), *y = gen(n, 2, 2.0);
    int ownx = 0, owny = spin_ctx_nparties(ctx) - 1;
    spin_tensor_t *a, *b, *z, *sq;
    CHECK_RC(spin_input_f64(ctx, ownx, party == ownx ? x : NULL, 2, shape, &a));
    CHECK_RC(spin_input_f64(ctx, owny, party == owny ? y : NULL, 2, shape, &b));
    spin_comm_stats_t s0, s1;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_mul(ctx, a, b, &z));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    /* Cost (docs/PROTOCOLS.md): 2 rounds; to each other party 2n + n words. */
    int N = spin_ctx_nparties(ctx);
    uint64_t peer_bytes = (uint64_t)(N - 1) * (3 * n * 8);
    uint64_t dealer_sent = party == 0 ? 2 * 208 : 0;           /* two requests */
    uint64_t dealer_recv = party == 0 ? (n + 2 * n) * 8 : 0;   /* C_0, trunc corrections */
    if (s1.rounds - s0.rounds != 2) FAILF("mul took %llu rounds, documented 2\n", (unsigned long long)(s1.rounds - s0.rounds));
    if (s1.bytes_sent - s0.bytes_sent != peer_bytes + dealer_sent)
        FAILF("party %d sent %llu bytes for mul, documented %llu\n", party,
              (unsigned long long)(s1.bytes_sent - s0.bytes_sent), (unsigned long long)(peer_bytes + dealer_sent));
    if (s1.bytes_recv - s0.bytes_recv != peer_bytes + dealer_recv)
        FAILF("party %d received %llu bytes for mul, documented %llu\n", party,
              (unsigned long long)(s1.bytes_recv - s0.bytes_recv), (unsigned long long)(peer_bytes + dealer_recv));
    double *out = malloc(n * sizeof *out);
    CHECK_RC(spin_reveal_f64(ctx, z, -1, out));
    double maxerr = 0;
    for (size_t i = 0; i < n; i++) {
        /* encoding: half an ulp on each factor; truncation: one ulp */
        double bound = (fabs(x[i]) + fabs(y[i]) + 1) * ULP / 2 + ULP + 1e-12;
        double e = fabs(out[i] - x[i] * y[i]);
        if (e > bound) FAILF("mul[%zu]: %.10g vs %.10g (err %g > %g)\n", i, out[i], x[i] * y[i], e, bound);
        if (e > maxerr) maxerr = e;
    }
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_square(ctx, a, &sq));
    /* square: 2 rounds, (N-1) 8 (n + n); party 0: 2 requests, C_0 and the truncation pair */
    CHECK_RC(cost_is(ctx, "square", &s0, (uint64_t)(N - 1) * 16 * n + (party == 0 ? 2 * 208 : 0),
                     (uint64_t)(N - 1) * 16 * n + (party == 0 ? 24 * n : 0), 2));
    CHECK_RC(spin_reveal_f64(ctx, sq, -1, out));
    for (size_t i = 0; i < n; i++) {
        double bound = (2 * fabs(x[i]) + 1) * ULP / 2 + ULP + 1e-12;
        if (fabs(out[i] - x[i] * x[i]) > bound) FAILF("square[%zu] off\n", i);
    }
    spin_tensor_free(sq);
    /* public scale */
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_scale(ctx, a, -0.375, &sq));
    CHECK_RC(cost_is(ctx, "scale", &s0, (uint64_t)(N - 1) * 8 * n + (party == 0 ? 208 : 0),
                     (uint64_t)(N - 1) * 8 * n + (party == 0 ? 16 * n : 0), 1));
    CHECK_RC(spin_reveal_f64(ctx, sq, -1, out));
    for (size_t i = 0; i < n; i++)
        if (fabs(out[i] + 0.375 * x[i]) > ULP * 2) FAILF("scale[%zu] off\n", i);
    spin_tensor_free(sq);
    spin_tensor_free(a);
    spin_tensor_free(b);
    spin_tensor_free(z);
    free(out);
    free(x);
    free(y);
    return 0;
}

static int one_matmul(spin_ctx_t *ctx, int party, size_t batch, size_t ba, size_t bb, size_t m, size_t n,
                      size_t k, int ta, int tb, uint64_t seed)
{
    int N = spin_ctx_nparties(ctx);
    double *x = gen(ba * m * k, seed, 2.0), *w = gen(bb * k * n, seed + 1, 1.0 / sqrt((double)k));
    size_t sa[3], sb[3];
    int na = 0, nb = 0;
    if (ba > 1 || batch > 1) sa[na++] = ba;
    sa[na++] = ta ? k : m;
    sa[na++] = ta ? m : k;
    if (bb > 1 || batch > 1) sb[nb++] = bb;
    sb[nb++] = tb ? n : k;
    sb[nb++] = tb ? k : n;
    if (batch == 1) { na = 2; nb = 2; sa[0] = ta ? k : m; sa[1] = ta ? m : k; sb[0] = tb ? n : k; sb[1] = tb ? k : n; }
    spin_tensor_t *a, *b, *z;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, na, sa, &a));
    CHECK_RC(spin_input_f64(ctx, N - 1, party == N - 1 ? w : NULL, nb, sb, &b));
    spin_comm_stats_t s0, s1;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_matmul(ctx, a, ta, b, tb, &z));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    uint64_t words = (uint64_t)(N - 1) * (ba * m * k + bb * k * n + batch * m * n);
    uint64_t want = words * 8 + (party == 0 ? 2 * 208 : 0);
    if (s1.bytes_sent - s0.bytes_sent != want || s1.rounds - s0.rounds != 2)
        FAILF("matmul cost: %llu bytes / %llu rounds, documented %llu / 2\n",
              (unsigned long long)(s1.bytes_sent - s0.bytes_sent), (unsigned long long)(s1.rounds - s0.rounds),
              (unsigned long long)want);
    size_t nc = batch * m * n;
    double *out = malloc(nc * 8), *ref = malloc(nc * 8);
    CHECK_RC(spin_reveal_f64(ctx, z, -1, out));
    ref_matmul(x, w, ref, batch, ba, bb, m, n, k, ta, tb);
    for (size_t i = 0; i < nc; i++)
        if (fabs(out[i] - ref[i]) > ULP * 1.01)
            FAILF("matmul b%zu %zux%zux%zu ta%d tb%d [%zu]: %.10g vs %.10g\n", batch, m, n, k, ta, tb, i, out[i], ref[i]);
    spin_tensor_free(a);
    spin_tensor_free(b);
    spin_tensor_free(z);
    free(out);
    free(ref);
    free(x);
    free(w);
    return 0;
}

static int p_matmul(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    CHECK_RC(one_matmul(ctx, party, 1, 1, 1, 64, 128, 128, 0, 0, 100));
    CHECK_RC(one_matmul(ctx, party, 1, 1, 1, 7, 5, 3, 1, 0, 200));
    CHECK_RC(one_matmul(ctx, party, 1, 1, 1, 7, 5, 3, 0, 1, 300));
    CHECK_RC(one_matmul(ctx, party, 1, 1, 1, 9, 4, 6, 1, 1, 400));
    CHECK_RC(one_matmul(ctx, party, 3, 3, 3, 5, 4, 7, 0, 0, 500));
    CHECK_RC(one_matmul(ctx, party, 4, 4, 1, 6, 3, 5, 0, 1, 600));  /* shared weight */
    CHECK_RC(one_matmul(ctx, party, 2, 1, 2, 3, 6, 4, 1, 0, 700));
    return 0;
}

/* ---- static operands (weights opened once) and products without truncation */

/* One product x W with a static W: the result against float64 and the
 * cost against docs/PROTOCOLS.md (2 rounds, (N-1) 8 (m k + m n) bytes). */
static int one_static(spin_ctx_t *ctx, int party, const spin_static_t *sw, const double *w, size_t ba, size_t m,
                      size_t n, size_t k, int tx, int tw, uint64_t seed)
{
    int N = spin_ctx_nparties(ctx);
    double *x = gen(ba * m * k, seed, 2.0);
    size_t sa[3];
    int na = 0;
    if (ba > 1) sa[na++] = ba;
    sa[na++] = tx ? k : m;
    sa[na++] = tx ? m : k;
    spin_tensor_t *a, *z;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, na, sa, &a));
    spin_comm_stats_t s0, s1;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_matmul_static(ctx, a, tx, sw, tw, &z));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    uint64_t want = (uint64_t)(N - 1) * (ba * m * k + ba * m * n) * 8 + (party == 0 ? 2 * 208 : 0);
    if (s1.bytes_sent - s0.bytes_sent != want || s1.rounds - s0.rounds != 2)
        FAILF("static matmul cost: %llu bytes / %llu rounds, documented %llu / 2\n",
              (unsigned long long)(s1.bytes_sent - s0.bytes_sent), (unsigned long long)(s1.rounds - s0.rounds),
              (unsigned long long)want);
    size_t nc = ba * m * n;
    double *out = malloc(nc * 8), *ref = malloc(nc * 8);
    CHECK_RC(spin_reveal_f64(ctx, z, -1, out));
    ref_matmul(x, w, ref, ba, ba, 1, m, n, k, tx, tw);
    for (size_t i = 0; i < nc; i++)
        if (fabs(out[i] - ref[i]) > ULP * 1.01)
            FAILF("static matmul b%zu %zux%zux%zu tx%d tw%d [%zu]: %.10g vs %.10g\n", ba, m, n, k, tx, tw, i, out[i],
                  ref[i]);
    spin_tensor_free(a);
    spin_tensor_free(z);
    free(out);
    free(ref);
    free(x);
    return 0;
}

static int p_static(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    int N = spin_ctx_nparties(ctx);
    const size_t k = 48, n = 24;
    double *w = gen(k * n, 900, 1.0 / sqrt((double)k));
    size_t ws[2] = {k, n};
    spin_tensor_t *wt;
    spin_static_t *sw;
    CHECK_RC(spin_input_f64(ctx, N - 1, party == N - 1 ? w : NULL, 2, ws, &wt));
    spin_comm_stats_t s0, s1;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_static_new(ctx, wt, &sw));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    /* one opening of W - B: (N-1) 8 k n bytes, 1 round; party 0 sends the
     * dealer one request and receives an empty answer */
    uint64_t want = (uint64_t)(N - 1) * k * n * 8 + (party == 0 ? 208 : 0);
    if (s1.bytes_sent - s0.bytes_sent != want || s1.rounds - s0.rounds != 1)
        FAILF("static_new cost: %llu bytes / %llu rounds, documented %llu / 1\n",
              (unsigned long long)(s1.bytes_sent - s0.bytes_sent), (unsigned long long)(s1.rounds - s0.rounds),
              (unsigned long long)want);
    if (s1.bytes_recv - s0.bytes_recv != (uint64_t)(N - 1) * k * n * 8)
        FAILF("static_new: party %d received %llu bytes\n", party, (unsigned long long)(s1.bytes_recv - s0.bytes_recv));
    if (spin_static_shape(sw)[0] != k || spin_static_shape(sw)[1] != n) FAILF("static shape\n");
    /* the same W in many products, each with a fresh mask of x; the same
     * shape three times lets the dealer prepare the later ones ahead */
    for (int it = 0; it < 3; it++) CHECK_RC(one_static(ctx, party, sw, w, 1, 16, n, k, 0, 0, 910 + (uint64_t)it));
    CHECK_RC(one_static(ctx, party, sw, w, 1, 5, n, k, 1, 0, 920));        /* x^T W */
    CHECK_RC(one_static(ctx, party, sw, w, 3, 5, n, k, 0, 0, 930));        /* batched x */
    CHECK_RC(one_static(ctx, party, sw, w, 1, 7, k, n, 0, 1, 940));        /* x W^T, W read as [n][k] */
    /* ordinary products still work after static ones (dealer in step) */
    CHECK_RC(one_matmul(ctx, party, 1, 1, 1, 7, 5, 3, 0, 0, 950));
    /* a wrong inner dimension is refused before any message */
    size_t bs[2] = {4, 5};
    spin_tensor_t *bad, *z = NULL;
    CHECK_RC(spin_tensor_zeros(ctx, 2, bs, &bad));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    if (spin_matmul_static(ctx, bad, 0, sw, 0, &z) != SPIN_ERR_INVAL) FAILF("bad static matmul accepted\n");
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    if (s1.bytes_sent != s0.bytes_sent) FAILF("refused static matmul sent bytes\n");
    /* the raw form: the exact ring product of the encodings (scale 2^2f) */
    size_t xs[2] = {6, k};
    double *x = gen(6 * k, 960, 1.0);
    spin_tensor_t *a;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 2, xs, &a));
    CHECK_RC(spin_matmul_static_raw(ctx, a, 0, sw, 0, &z));
    uint64_t *got = malloc(6 * n * 8), *ex = malloc(6 * k * 8), *ew = malloc(k * n * 8);
    CHECK_RC(spin_reveal_ring(ctx, z, -1, got));
    spin_fixed_encode(F, x, ex, 6 * k);
    spin_fixed_encode(F, w, ew, k * n);
    for (size_t i = 0; i < 6; i++)
        for (size_t j = 0; j < n; j++) {
            uint64_t acc = 0;
            for (size_t l = 0; l < k; l++) acc += ex[i * k + l] * ew[l * n + j];
            if (got[i * n + j] != acc) FAILF("static raw [%zu,%zu] not exact\n", i, j);
        }
    spin_tensor_free(z);
    spin_tensor_free(a);
    spin_tensor_free(bad);
    spin_static_free(sw);
    spin_tensor_free(wt);
    free(got);
    free(ex);
    free(ew);
    free(x);
    free(w);
    return 0;
}

/* Secret table lookup: an integer one-hot [r, V] times a fixed-point table
 * [V, d] without truncation gives the chosen rows exactly, in one round. */
static int p_lookup(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    int N = spin_ctx_nparties(ctx);
    const size_t V = 11, d = 6, r = 9;
    double *tab = gen(V * d, 970, 3.0);
    uint64_t *oh = calloc(r * V, 8), *enc = malloc(V * d * 8), *got = malloc(r * d * 8);
    size_t ids[9] = {0, 10, 3, 3, 7, 1, 9, 2, 5};
    for (size_t i = 0; i < r; i++) oh[i * V + ids[i]] = 1;
    size_t os[2] = {r, V}, ts[2] = {V, d};
    spin_tensor_t *o, *t, *z;
    CHECK_RC(spin_input_ring(ctx, N - 1, party == N - 1 ? oh : NULL, 2, os, &o));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? tab : NULL, 2, ts, &t));
    spin_comm_stats_t s0, s1;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_matmul_raw(ctx, o, 0, t, 0, &z));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    uint64_t want = (uint64_t)(N - 1) * (r * V + V * d) * 8 + (party == 0 ? 208 : 0);
    if (s1.bytes_sent - s0.bytes_sent != want || s1.rounds - s0.rounds != 1)
        FAILF("matmul_raw cost: %llu bytes / %llu rounds, documented %llu / 1\n",
              (unsigned long long)(s1.bytes_sent - s0.bytes_sent), (unsigned long long)(s1.rounds - s0.rounds),
              (unsigned long long)want);
    CHECK_RC(spin_reveal_ring(ctx, z, -1, got));
    spin_fixed_encode(F, tab, enc, V * d);
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < d; j++)
            if (got[i * d + j] != enc[ids[i] * d + j]) FAILF("lookup row %zu col %zu not exact\n", i, j);
    spin_tensor_free(o);
    spin_tensor_free(t);
    spin_tensor_free(z);
    free(oh);
    free(enc);
    free(got);
    free(tab);
    return 0;
}

/* ---- convolutions ------------------------------------------------------- */

typedef struct { size_t n, c, h, w, oc, kh, kw, sh, sw, ph, pw; } conv_t;

static double xat(const double *x, const conv_t *g, size_t b, size_t c, long i, long j)
{
    if (i < 0 || j < 0 || i >= (long)g->h || j >= (long)g->w) return 0;
    return q(x[((b * g->c + c) * g->h + (size_t)i) * g->w + (size_t)j]);
}

static int p_conv(spin_ctx_t *ctx, int party, void *arg)
{
    const conv_t *g = arg;
    int N = spin_ctx_nparties(ctx);
    size_t oh = (g->h + 2 * g->ph - g->kh) / g->sh + 1, ow = (g->w + 2 * g->pw - g->kw) / g->sw + 1;
    size_t xs[4] = {g->n, g->c, g->h, g->w}, ws[4] = {g->oc, g->c, g->kh, g->kw}, ys[4] = {g->n, g->oc, oh, ow};
    size_t nx = g->n * g->c * g->h * g->w, nw = g->oc * g->c * g->kh * g->kw, ny = g->n * g->oc * oh * ow;
    double *x = gen(nx, 31, 1.0), *w = gen(nw, 32, 0.5), *dy = gen(ny, 33, 1.0);
    spin_conv2d_params_t p = {g->sh, g->sw, g->ph, g->pw};
    spin_tensor_t *tx, *tw, *tdy, *y, *dx, *dw;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 4, xs, &tx));
    CHECK_RC(spin_input_f64(ctx, N - 1, party == N - 1 ? w : NULL, 4, ws, &tw));
    CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? dy : NULL, 4, ys, &tdy));
    spin_comm_stats_t s0, s1;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_conv2d(ctx, tx, tw, &p, &y));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    /* masks opened on x and w, not on im2col copies */
    uint64_t want = (uint64_t)(N - 1) * (nx + nw + ny) * 8 + (party == 0 ? 2 * 208 : 0);
    if (s1.bytes_sent - s0.bytes_sent != want) FAILF("conv cost %llu, documented %llu\n",
        (unsigned long long)(s1.bytes_sent - s0.bytes_sent), (unsigned long long)want);
    if (s1.rounds - s0.rounds != 2) FAILF("conv took %llu rounds, documented 2\n", (unsigned long long)(s1.rounds - s0.rounds));
    uint64_t p0 = party == 0;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_conv2d_grad_input(ctx, tdy, tw, xs, &p, &dx));
    CHECK_RC(cost_is(ctx, "conv grad input", &s0, (uint64_t)(N - 1) * (ny + nw + nx) * 8 + p0 * 2 * 208,
                     (uint64_t)(N - 1) * (ny + nw + nx) * 8 + p0 * 24 * nx, 2));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_conv2d_grad_weight(ctx, tx, tdy, ws, &p, &dw));
    CHECK_RC(cost_is(ctx, "conv grad weight", &s0, (uint64_t)(N - 1) * (nx + ny + nw) * 8 + p0 * 2 * 208,
                     (uint64_t)(N - 1) * (nx + ny + nw) * 8 + p0 * 24 * nw, 2));
    double *oy = malloc(ny * 8), *odx = malloc(nx * 8), *odw = malloc(nw * 8);
    CHECK_RC(spin_reveal_f64(ctx, y, -1, oy));
    CHECK_RC(spin_reveal_f64(ctx, dx, -1, odx));
    CHECK_RC(spin_reveal_f64(ctx, dw, -1, odw));
    double *rdx = calloc(nx, 8), *rdw = calloc(nw, 8);
    for (size_t b = 0; b < g->n; b++)
        for (size_t o = 0; o < g->oc; o++)
            for (size_t i = 0; i < oh; i++)
                for (size_t j = 0; j < ow; j++) {
                    double s = 0, d = q(dy[((b * g->oc + o) * oh + i) * ow + j]);
                    for (size_t c = 0; c < g->c; c++)
                        for (size_t u = 0; u < g->kh; u++)
                            for (size_t v = 0; v < g->kw; v++) {
                                long ii = (long)(i * g->sh + u) - (long)g->ph, jj = (long)(j * g->sw + v) - (long)g->pw;
                                double wv = q(w[((o * g->c + c) * g->kh + u) * g->kw + v]);
                                s += xat(x, g, b, c, ii, jj) * wv;
                                if (ii >= 0 && jj >= 0 && ii < (long)g->h && jj < (long)g->w)
                                    rdx[((b * g->c + c) * g->h + (size_t)ii) * g->w + (size_t)jj] += d * wv;
                                rdw[((o * g->c + c) * g->kh + u) * g->kw + v] += d * xat(x, g, b, c, ii, jj);
                            }
                    size_t yi = ((b * g->oc + o) * oh + i) * ow + j;
                    if (fabs(oy[yi] - s) > ULP * 1.01) FAILF("conv y[%zu]: %g vs %g\n", yi, oy[yi], s);
                }
    for (size_t i = 0; i < nx; i++)
        if (fabs(odx[i] - rdx[i]) > ULP * 1.01) FAILF("conv dx[%zu]: %g vs %g\n", i, odx[i], rdx[i]);
    for (size_t i = 0; i < nw; i++)
        if (fabs(odw[i] - rdw[i]) > ULP * 1.01) FAILF("conv dw[%zu]: %g vs %g\n", i, odw[i], rdw[i]);
    spin_tensor_free(tx); spin_tensor_free(tw); spin_tensor_free(tdy);
    spin_tensor_free(y); spin_tensor_free(dx); spin_tensor_free(dw);
    free(oy); free(odx); free(odw); free(rdx); free(rdw); free(x); free(w); free(dy);
    return 0;
}

/* ---- raw products (what spin/nn.h is built on) -------------------------- */

/* this party's words of an n-element tensor, decoded at scale 2^-s */
static int reveal_scaled(spin_ctx_t *ctx, const spin_tensor_t *t, int s, double *out)
{
    size_t n = spin_tensor_numel(t);
    uint64_t *r = malloc((n ? n : 1) * 8);
    if (!r) return SPIN_ERR_NOMEM;
    int rc = spin_reveal_ring(ctx, t, -1, r);
    for (size_t i = 0; !rc && i < n; i++) out[i] = ldexp((double)(int64_t)r[i], -s);
    free(r);
    return rc;
}

static int p_raw_products(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    int N = spin_ctx_nparties(ctx), last = N - 1;
    uint64_t p0 = party == 0;
    /* element-wise, no truncation: the ring product of the encodings, at 2^-2f */
    const size_t n = 1000;
    size_t sh[2] = {10, 100};
    double *x = gen(n, 51, 2.0), *y = gen(n, 52, 2.0), *out = malloc(n * sizeof *out);
    spin_tensor_t *a, *b, *z;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 2, sh, &a));
    CHECK_RC(spin_input_f64(ctx, last, party == last ? y : NULL, 2, sh, &b));
    spin_comm_stats_t s0;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_mul_raw(ctx, a, b, &z));
    /* 1 round, (N-1) 8 (n + n); party 0: one request, C_0 */
    CHECK_RC(cost_is(ctx, "mul_raw", &s0, (uint64_t)(N - 1) * 16 * n + p0 * 208,
                     (uint64_t)(N - 1) * 16 * n + p0 * 8 * n, 1));
    CHECK_RC(reveal_scaled(ctx, z, 2 * F, out));
    for (size_t i = 0; i < n; i++)
        if (out[i] != q(x[i]) * q(y[i])) FAILF("mul_raw[%zu]: %.17g vs %.17g\n", i, out[i], q(x[i]) * q(y[i]));
    spin_tensor_free(z);
    /* conv2d without the truncation */
    conv_t g = {2, 3, 5, 6, 4, 3, 3, 1, 2, 1, 0};
    size_t oh = (g.h + 2 * g.ph - g.kh) / g.sh + 1, ow = (g.w + 2 * g.pw - g.kw) / g.sw + 1;
    size_t xs[4] = {g.n, g.c, g.h, g.w}, ws[4] = {g.oc, g.c, g.kh, g.kw};
    size_t nx = g.n * g.c * g.h * g.w, nw = g.oc * g.c * g.kh * g.kw, ny = g.n * g.oc * oh * ow;
    double *cx = gen(nx, 53, 1.0), *cw = gen(nw, 54, 0.5), *oy = malloc(ny * sizeof *oy);
    spin_conv2d_params_t p = {g.sh, g.sw, g.ph, g.pw};
    spin_tensor_t *tx, *tw, *cy;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? cx : NULL, 4, xs, &tx));
    CHECK_RC(spin_input_f64(ctx, last, party == last ? cw : NULL, 4, ws, &tw));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_conv2d_raw(ctx, tx, tw, &p, &cy));
    CHECK_RC(cost_is(ctx, "conv2d_raw", &s0, (uint64_t)(N - 1) * (nx + nw) * 8 + p0 * 208,
                     (uint64_t)(N - 1) * (nx + nw) * 8 + p0 * 8 * ny, 1));
    CHECK_RC(reveal_scaled(ctx, cy, 2 * F, oy));
    for (size_t bb = 0; bb < g.n; bb++)
        for (size_t o = 0; o < g.oc; o++)
            for (size_t i = 0; i < oh; i++)
                for (size_t j = 0; j < ow; j++) {
                    double s = 0;
                    for (size_t c = 0; c < g.c; c++)
                        for (size_t uu = 0; uu < g.kh; uu++)
                            for (size_t vv = 0; vv < g.kw; vv++) {
                                long ii = (long)(i * g.sh + uu) - (long)g.ph, jj = (long)(j * g.sw + vv) - (long)g.pw;
                                s += xat(cx, &g, bb, c, ii, jj) * q(cw[((o * g.c + c) * g.kh + uu) * g.kw + vv]);
                            }
                    size_t yi = ((bb * g.oc + o) * oh + i) * ow + j;
                    /* exact: the ring sum of products of encodings */
                    if (fabs(oy[yi] - s) > 1e-12) FAILF("conv2d_raw y[%zu]: %.17g vs %.17g\n", yi, oy[yi], s);
                }
    spin_tensor_free(cy);
    spin_tensor_free(tx);
    spin_tensor_free(tw);
    spin_tensor_free(a);
    spin_tensor_free(b);
    free(x);
    free(y);
    free(out);
    free(cx);
    free(cw);
    free(oy);
    return 0;
}

/* ---- truncation over the whole documented range ------------------------- */

static int p_trunc(spin_ctx_t *ctx, int party, void *arg)
{
    size_t n = *(size_t *)arg;
    uint64_t *x = malloc(n * 8), *out = malloc(n * 8);
    uint64_t s = 0xC0FFEE;
    const int64_t lo = -(INT64_C(1) << 62), hi = (INT64_C(1) << 62) - 1;
    int64_t ends[] = {lo, lo + 1, hi, hi - 1, 0, 1, -1, 65535, 65536, -65536, -65537};
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        if (i < sizeof ends / sizeof ends[0]) v = ends[i];
        else if (i % 3 == 0) v = (int64_t)(tu_rand64(&s) >> 1) - (INT64_C(1) << 62); /* whole range, both signs */
        else if (i % 3 == 1) v = (int64_t)(tu_rand64(&s) >> 40) - (INT64_C(1) << 23);    /* small */
        else v = (int64_t)(tu_rand64(&s) >> 20) - (INT64_C(1) << 43);                   /* medium */
        if (v < lo) v = lo;
        if (v > hi) v = hi;
        x[i] = (uint64_t)v;
    }
    spin_tensor_t *t, *r;
    CHECK_RC(spin_input_ring(ctx, 1, party == 1 ? x : NULL, 1, &n, &t));
    spin_comm_stats_t s0, s1;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_trunc(ctx, t, F, &r));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    int N = spin_ctx_nparties(ctx);
    uint64_t want = (uint64_t)(N - 1) * n * 8 + (party == 0 ? 208 : 0);
    if (s1.bytes_sent - s0.bytes_sent != want || s1.rounds - s0.rounds != 1)
        FAILF("trunc cost %llu bytes, documented %llu\n", (unsigned long long)(s1.bytes_sent - s0.bytes_sent),
              (unsigned long long)want);
    CHECK_RC(spin_reveal_ring(ctx, r, -1, out));
    for (size_t i = 0; i < n; i++) {
        int64_t want_v = (int64_t)x[i] >> F;   /* floor */
        int64_t d = (int64_t)out[i] - want_v;
        if (d != 0 && d != 1)
            FAILF("trunc[%zu] of %lld: got %lld, floor %lld (error %lld ulp)\n", i, (long long)(int64_t)x[i],
                  (long long)(int64_t)out[i], (long long)want_v, (long long)d);
    }
    spin_tensor_free(t);
    spin_tensor_free(r);
    free(x);
    free(out);
    return 0;
}

/* ---- the test cases ----------------------------------------------------- */

START_TEST(raw_products) { run_all_n(p_raw_products, NULL); }
END_TEST
START_TEST(mul_square_scale) { run_all_n(p_mul, NULL); }
END_TEST
START_TEST(matmul_all_forms) { run_all_n(p_matmul, NULL); }
END_TEST
START_TEST(static_operands) { run_all_n(p_static, NULL); }
END_TEST
START_TEST(lookup_by_onehot) { run_all_n(p_lookup, NULL); }
END_TEST
START_TEST(conv_forward_backward)
{
    conv_t a = {2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1};
    conv_t b = {3, 2, 8, 9, 3, 3, 2, 2, 3, 0, 1};
    run_all_n(p_conv, &a);
    run_all_n(p_conv, &b);
}
END_TEST

START_TEST(trunc_million)
{
    /* 10^6 values per N; SPIN_TEST_SCALE=small (valgrind runs) uses 10^4. */
    const char *sc = getenv("SPIN_TEST_SCALE");
    size_t n = sc && strcmp(sc, "small") == 0 ? 10000 : 1000000;
    run_all_n(p_trunc, &n);
}
END_TEST

void arith_products_tests(TCase *tc)
{
    tcase_add_test(tc, raw_products);
    tcase_add_test(tc, mul_square_scale);
    tcase_add_test(tc, matmul_all_forms);
    tcase_add_test(tc, conv_forward_backward);
    tcase_add_test(tc, static_operands);
    tcase_add_test(tc, lookup_by_onehot);
    tcase_add_test(tc, trunc_million);
}
