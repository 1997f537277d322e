/* test_arith.c - the arithmetic protocols on real multi-party runs (N = 2,
 * 3, 4 parties + dealer as threads over the tcp plugin's ipc:// and tcp://
 * links), checked against float64 math with stated error bounds, and the
 * transport counters checked against docs/PROTOCOLS.md. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/mpc.h>
#include "testutil.h"

static const char *scheme = "ipc";
#define F 16
#define ULP (1.0 / 65536.0)

/* ---- deterministic public test data ------------------------------------- */

static double gauss(uint64_t *s)
{
    double u1 = ((double)(tu_rand64(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(tu_rand64(s) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static double *gen(size_t n, uint64_t seed, double scale)
{
    double *v = malloc(n * sizeof *v);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) v[i] = gauss(&s) * scale;
    return v;
}

/* encoding error of a value (round to nearest) is at most half an ulp */
static double q(double x) { return round(x * 65536.0) / 65536.0; }

static spin_ctx_opts_t base_opts(void)
{
    spin_ctx_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.frac_bits = F;
    o.timeout_ms = 60000;
    return o;
}

#define CHECK_RC(expr) do { int rc_ = (expr); if (rc_) { fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #expr, spin_strerror(rc_)); return rc_; } } while (0)
#define FAILF(...) do { fprintf(stderr, __VA_ARGS__); return SPIN_ERR_INTERNAL; } while (0)

/* Cost of one protocol step against docs/PROTOCOLS.md: bytes sent and
 * received (peers and dealer together) and rounds, from the counters
 * before (s0) and after. */
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

/* ---- input, reveal, local ops ------------------------------------------- */

static int p_input_reveal(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    int n = spin_ctx_nparties(ctx);
    size_t shape[2] = {3, 5};
    double *x = gen(15, 11, 3.0);
    spin_tensor_t *t, *s;
    int owner = n - 1;
    spin_comm_stats_t s0;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_input_f64(ctx, owner, party == owner ? x : NULL, 2, shape, &t));
    CHECK_RC(cost_is(ctx, "input", &s0, 0, 0, 0));
    double out[15];
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_reveal_f64(ctx, t, -1, out));
    uint64_t all = (uint64_t)(n - 1) * 15 * 8;
    CHECK_RC(cost_is(ctx, "reveal to all", &s0, all, all, 1));
    for (int i = 0; i < 15; i++)
        if (out[i] != q(x[i])) FAILF("reveal[%d] = %.17g, want %.17g\n", i, out[i], q(x[i]));
    /* reveal to party 0 only: others' buffers untouched */
    double only[15];
    for (int i = 0; i < 15; i++) only[i] = -777.0;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_reveal_f64(ctx, t, 0, only));
    CHECK_RC(cost_is(ctx, "reveal to party 0", &s0, party == 0 ? 0 : 15 * 8, party == 0 ? all : 0, 1));
    for (int i = 0; i < 15; i++) {
        if (party == 0 && only[i] != q(x[i])) FAILF("reveal-to-0 wrong\n");
        if (party != 0 && only[i] != -777.0) FAILF("party %d received a value revealed to party 0\n", party);
    }
    /* my share alone is not the value (it is a uniformly random ring element) */
    /* sum along axes, add, sub, add_public, mul_int: exact */
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_sum(ctx, t, 1, &s));
    CHECK_RC(cost_is(ctx, "sum", &s0, 0, 0, 0));
    double rs[3];
    CHECK_RC(spin_reveal_f64(ctx, s, -1, rs));
    for (int r = 0; r < 3; r++) {
        double want = 0;
        for (int c = 0; c < 5; c++) want += q(x[r * 5 + c]);
        if (fabs(rs[r] - want) > 1e-9) FAILF("sum row %d: %g vs %g\n", r, rs[r], want);
    }
    spin_tensor_free(s);
    CHECK_RC(spin_sum(ctx, t, 0, &s));
    double cs[5];
    CHECK_RC(spin_reveal_f64(ctx, s, -1, cs));
    for (int c = 0; c < 5; c++) {
        double want = q(x[c]) + q(x[5 + c]) + q(x[10 + c]);
        if (fabs(cs[c] - want) > 1e-9) FAILF("sum col %d\n", c);
    }
    spin_tensor_free(s);
    spin_tensor_t *u, *v, *w;
    double pub[15];
    for (int i = 0; i < 15; i++) pub[i] = 0.25 * i;
    CHECK_RC(spin_add(ctx, t, t, &u));
    CHECK_RC(spin_add_public(ctx, u, pub, &v));
    CHECK_RC(spin_mul_int(ctx, v, -3, &w));
    spin_tensor_free(u);
    CHECK_RC(spin_sub(ctx, w, t, &u));
    CHECK_RC(spin_reveal_f64(ctx, u, -1, out));
    for (int i = 0; i < 15; i++) {
        double want = -3.0 * (2 * q(x[i]) + 0.25 * i) - q(x[i]);
        if (fabs(out[i] - want) > 1e-9) FAILF("linear combination [%d]: %g vs %g\n", i, out[i], want);
    }
    /* views: transpose then contiguous, slice */
    spin_tensor_t *tt, *tc, *sl;
    CHECK_RC(spin_tensor_transpose(t, 0, 1, &tt));
    CHECK_RC(spin_tensor_contiguous(tt, &tc));
    CHECK_RC(spin_reveal_f64(ctx, tc, -1, out));
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 3; c++)
            if (out[r * 3 + c] != q(x[c * 5 + r])) FAILF("transpose view wrong\n");
    CHECK_RC(spin_tensor_slice(t, 1, 1, 3, &sl));
    CHECK_RC(spin_reveal_f64(ctx, sl, -1, out));
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            if (out[r * 3 + c] != q(x[r * 5 + 1 + c])) FAILF("slice view wrong\n");
    spin_tensor_free(sl);
    spin_tensor_free(tc);
    spin_tensor_free(tt);
    spin_tensor_free(u);
    spin_tensor_free(v);
    spin_tensor_free(w);
    spin_tensor_free(t);
    free(x);
    return 0;
}

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

/* C[b] = op(A[b]) op(B[b]) in float64, A row-major [ba][r][c]. */
static void ref_matmul(const double *A, const double *B, double *C, size_t batch, size_t ba, size_t bb,
                       size_t m, size_t n, size_t k, int ta, int tb)
{
    for (size_t t = 0; t < batch; t++) {
        const double *a = A + (ba > 1 ? t * m * k : 0), *b = B + (bb > 1 ? t * k * n : 0);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double s = 0;
                for (size_t l = 0; l < k; l++)
                    s += q(ta ? a[l * m + i] : a[i * k + l]) * q(tb ? b[j * k + l] : b[l * n + j]);
                C[t * m * n + i * n + j] = s;
            }
    }
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

/* ---- a repeating sequence (the dealer prepares requests ahead) ---------- */

/* The dealer prepares the next requests of a repeating sequence while the
 * parties compute: K iterations of {mul, matmul} (each with its
 * truncation), optionally with one extra step after iteration 3; every
 * result is checked, so predictions and mispredictions never change an
 * answer (this replaces the former repeating_sequence test). */
#define RA_ITERS 8
static int p_runahead(spin_ctx_t *ctx, int party, void *arg)
{
    int brk = *(const int *)arg;
    int N = spin_ctx_nparties(ctx);
    size_t sh[2] = {8, 16}, wsh[2] = {16, 4};
    double *x = gen(128, 43, 1.0), *w = gen(64, 44, 0.5);
    spin_tensor_t *a, *b, *z, *m;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 2, sh, &a));
    CHECK_RC(spin_input_f64(ctx, N - 1, party == N - 1 ? w : NULL, 2, wsh, &b));
    double out[128], ref[32];
    ref_matmul(x, w, ref, 1, 1, 1, 8, 4, 16, 0, 0);
    for (int it = 0; it < RA_ITERS; it++) {
        CHECK_RC(spin_mul(ctx, a, a, &z));
        CHECK_RC(spin_matmul(ctx, a, 0, b, 0, &m));
        CHECK_RC(spin_reveal_f64(ctx, z, -1, out));
        for (int i = 0; i < 128; i++)
            if (fabs(out[i] - x[i] * x[i]) > (2 * fabs(x[i]) + 1) * ULP / 2 + ULP) FAILF("iteration %d mul[%d] off\n", it, i);
        CHECK_RC(spin_reveal_f64(ctx, m, -1, out));
        for (int i = 0; i < 32; i++)
            if (fabs(out[i] - ref[i]) > ULP * 1.01) FAILF("iteration %d matmul[%d] off\n", it, i);
        spin_tensor_free(z);
        spin_tensor_free(m);
        if (brk && it == 3) {
            CHECK_RC(spin_square(ctx, b, &z));
            spin_tensor_free(z);
        }
    }
    spin_tensor_free(a);
    spin_tensor_free(b);
    free(x);
    free(w);
    return 0;
}

/* Captures the dealer's closing line "served S requests: H prepared ahead,
 * M mispredicted"; passes warnings and errors on to stderr. */
typedef struct { long long served, hits, misses; int seen, env_warned; } ra_stats_t;
static void ra_sink(void *u, spin_log_level_t lv, const char *msg)
{
    ra_stats_t *st = u;
    long long s, h, m;
    if (sscanf(msg, "dealer: served %lld requests: %lld prepared ahead, %lld mispredicted", &s, &h, &m) == 3) {
        st->served = s; /* one dealer thread writes, after the parties finished */
        st->hits = h;
        st->misses = m;
        st->seen++;
    } else if (lv == SPIN_LOG_WARN && strstr(msg, "SPIN_DEALER_PREFETCH_MB=\"") &&
               strstr(msg, "is not a whole number of MiB in [0, 65536]; using 256")) {
        st->env_warned++;
    } else if (lv <= SPIN_LOG_WARN) {
        fprintf(stderr, "%s\n", msg);
    }
}

/* The runtime's environment hook: SPIN_DEALER_PREFETCH_MB from `u` (NULL:
 * unset), everything else from the process environment. */
static const char *prefetch_env(void *u, const char *name)
{
    return strcmp(name, "SPIN_DEALER_PREFETCH_MB") == 0 ? (const char *)u : getenv(name);
}

static ra_stats_t run_runahead_env(int n, int brk, const char *prefetch_mb)
{
    ra_stats_t st;
    memset(&st, 0, sizeof st);
    spin_logger_t lg = {SPIN_LOG_DEBUG, NULL, ra_sink, &st};
    spin_runtime_opts_t ro;
    memset(&ro, 0, sizeof ro);
    ro.struct_size = sizeof ro;
    ro.log = &lg;
    ro.getenv = prefetch_env;
    ro.env_ctx = (void *)prefetch_mb;
    spin_ctx_opts_t o = base_opts();
    o.runtime = &ro;
    int rc = spin_run_local(n, scheme, &o, p_runahead, &brk);
    ck_assert_msg(rc == 0, "N = %d over %s: %s", n, scheme, spin_strerror(rc));
    ck_assert_msg(st.seen == 1, "N = %d: the dealer's closing line was logged %d times", n, st.seen);
    return st;
}

static ra_stats_t run_runahead(int n, int brk) { return run_runahead_env(n, brk, NULL); }

/* ---- configuration and sequence mismatches ------------------------------ */

/* Party 0 records its share of a value input by party 1, and of a product. */
static int p_shares(spin_ctx_t *ctx, int party, void *arg)
{
    uint64_t *rec = arg;
    double x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    size_t shape[1] = {8};
    spin_tensor_t *t, *z;
    CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? x : NULL, 1, shape, &t));
    CHECK_RC(spin_mul(ctx, t, t, &z));
    if (party == 0) {
        CHECK_RC(spin_share_export(ctx, t, rec));
        CHECK_RC(spin_share_export(ctx, z, rec + 8));
    }
    spin_tensor_free(t);
    spin_tensor_free(z);
    return 0;
}

static int p_desync(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    size_t shape[1] = {16};
    double x[16] = {0};
    spin_tensor_t *a, *z;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 1, shape, &a));
    /* party 1 squares while the others multiply: must fail, not answer */
    int rc = party == 1 ? spin_square(ctx, a, &z) : spin_mul(ctx, a, a, &z);
    spin_tensor_free(a);
    if (rc == 0) {
        spin_tensor_free(z);
        return 0;
    }
    return rc;
}

/* Same kind and sizes, different step: party 1 transposes a square operand
 * (arg = 0) or truncates by 8 bits instead of 16 (arg = 1).  Openings carry
 * a hash of every step's description, so this must fail at the next
 * opening instead of answering (wrongly). */
static int p_desync_shape(spin_ctx_t *ctx, int party, void *arg)
{
    int which = *(const int *)arg;
    size_t sh[2] = {6, 6};
    double x[36];
    for (int i = 0; i < 36; i++) x[i] = 0.25 * (i % 7) - 0.5;
    spin_tensor_t *a, *z = NULL;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 2, sh, &a));
    int rc;
    if (which == 0) rc = spin_matmul(ctx, a, party == 1, a, 0, &z);
    else rc = spin_trunc(ctx, a, party == 1 ? 8 : 16, &z);
    double out[36];
    if (!rc) rc = spin_reveal_f64(ctx, z, -1, out);
    spin_tensor_free(a);
    spin_tensor_free(z);
    return rc;
}

/* ---- in place, broadcast, raw products (what spin/nn.h is built on) ------ */

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

static int p_local_inplace(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    int N = spin_ctx_nparties(ctx), last = N - 1;
    size_t sh[3] = {2, 3, 4}, s3[1] = {3}, s4[1] = {4}, sz[3] = {1, 4, 3};
    double *x = gen(24, 41, 2.0), *y = gen(24, 42, 2.0), *v = gen(3, 43, 1.0), *u = gen(4, 44, 1.0),
           *z = gen(12, 45, 3.0), out[24];
    spin_tensor_t *tx, *ty, *tv, *tu, *tz, *b, *tt, *xs, *ys, *zt;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 3, sh, &tx));
    CHECK_RC(spin_input_f64(ctx, last, party == last ? y : NULL, 3, sh, &ty));
    CHECK_RC(spin_input_f64(ctx, last, party == last ? v : NULL, 1, s3, &tv));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? u : NULL, 1, s4, &tu));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? z : NULL, 3, sz, &tz));
    /* accessors: a transpose is not contiguous, a slice of dimension 0 is */
    CHECK_RC(spin_tensor_transpose(tx, 1, 2, &tt));
    CHECK_RC(spin_tensor_slice(tx, 0, 1, 1, &xs));
    CHECK_RC(spin_tensor_slice(ty, 0, 1, 1, &ys));
    if (spin_tensor_context(tx) != ctx || spin_tensor_context(xs) != ctx || !spin_tensor_is_contiguous(tx) ||
        spin_tensor_is_contiguous(tt) || !spin_tensor_is_contiguous(xs) || spin_tensor_is_contiguous(NULL))
        FAILF("tensor_context / tensor_is_contiguous wrong\n");
    /* broadcast (free, exact): along the middle axis, and along the last
     * (negative axis) */
    spin_comm_stats_t s0;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_broadcast(ctx, tv, 3, sh, 1, &b));
    CHECK_RC(cost_is(ctx, "broadcast", &s0, 0, 0, 0));
    CHECK_RC(spin_reveal_f64(ctx, b, -1, out));
    for (size_t i = 0; i < 24; i++)
        if (out[i] != q(v[(i / 4) % 3])) FAILF("broadcast axis 1 [%zu]: %g vs %g\n", i, out[i], q(v[(i / 4) % 3]));
    spin_tensor_free(b);
    CHECK_RC(spin_broadcast(ctx, tu, 3, sh, -1, &b));
    CHECK_RC(spin_reveal_f64(ctx, b, -1, out));
    for (size_t i = 0; i < 24; i++)
        if (out[i] != q(u[i % 4])) FAILF("broadcast axis -1 [%zu]: %g vs %g\n", i, out[i], q(u[i % 4]));
    spin_tensor_free(b);
    if (spin_broadcast(ctx, tv, 3, sh, 2, &b) != SPIN_ERR_INVAL) FAILF("broadcast accepted 3 values for 4\n");
    /* in place on a view (free, exact): x[1] += y[1], then -= y[1] twice */
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_add_inplace(ctx, xs, ys));
    CHECK_RC(cost_is(ctx, "add_inplace", &s0, 0, 0, 0));
    CHECK_RC(spin_reveal_f64(ctx, tx, -1, out));
    for (size_t i = 0; i < 24; i++) {
        double want = q(x[i]) + (i >= 12 ? q(y[i]) : 0);
        if (fabs(out[i] - want) > 1e-12) FAILF("add_inplace [%zu]: %g vs %g\n", i, out[i], want);
    }
    CHECK_RC(spin_sub_inplace(ctx, xs, ys));
    CHECK_RC(spin_sub_inplace(ctx, xs, ys));
    CHECK_RC(spin_reveal_f64(ctx, tx, -1, out));
    for (size_t i = 0; i < 24; i++) {
        double want = q(x[i]) - (i >= 12 ? q(y[i]) : 0);
        if (fabs(out[i] - want) > 1e-12) FAILF("sub_inplace [%zu]: %g vs %g\n", i, out[i], want);
    }
    /* copy from a non-contiguous view into x[1] */
    CHECK_RC(spin_tensor_transpose(tz, 1, 2, &zt));
    CHECK_RC(spin_copy(ctx, xs, zt));
    CHECK_RC(spin_reveal_f64(ctx, tx, -1, out));
    for (size_t i = 0; i < 24; i++) {
        size_t k = i - 12, want_i = (k % 4) * 3 + k / 4;
        double want = i < 12 ? q(x[i]) : q(z[want_i]);
        if (out[i] != want) FAILF("copy [%zu]: %g vs %g\n", i, out[i], want);
    }
    /* refused: writing into a non-contiguous view, another shape */
    spin_tensor_t *tt2;
    CHECK_RC(spin_tensor_transpose(ty, 1, 2, &tt2));
    if (spin_add_inplace(ctx, tt, tt2) != SPIN_ERR_INVAL) FAILF("add_inplace wrote into a transpose\n");
    if (spin_copy(ctx, tx, xs) != SPIN_ERR_INVAL) FAILF("copy accepted another shape\n");
    spin_tensor_free(tt2);
    spin_tensor_free(zt);
    spin_tensor_free(tt);
    spin_tensor_free(xs);
    spin_tensor_free(ys);
    spin_tensor_free(tx);
    spin_tensor_free(ty);
    spin_tensor_free(tv);
    spin_tensor_free(tu);
    spin_tensor_free(tz);
    free(x);
    free(y);
    free(v);
    free(u);
    free(z);
    return 0;
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

/* ---- the test cases ----------------------------------------------------- */

static void run_all_n(spin_party_fn fn, void *arg)
{
    for (int n = 2; n <= 4; n++) {
        spin_ctx_opts_t o = base_opts();
        int rc = spin_run_local(n, scheme, &o, fn, arg);
        ck_assert_msg(rc == 0, "N = %d over %s: %s", n, scheme, spin_strerror(rc));
    }
}

START_TEST(input_reveal_linear) { run_all_n(p_input_reveal, NULL); }
END_TEST
START_TEST(inplace_broadcast_local) { run_all_n(p_local_inplace, NULL); }
END_TEST
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
/* From the second iteration on, every request of a repeating sequence was
 * prepared before it arrived: all but the first iteration's S requests and
 * the first of the second (the dealer has not yet seen what follows the
 * last step).  One extra step after iteration 3 costs exactly two
 * mispredictions: the detour itself, and the return to the sequence one
 * iteration later (the dealer has learnt the detour as what follows). */
START_TEST(dealer_runahead)
{
    for (int n = 2; n <= 4; n++) {
        ra_stats_t st = run_runahead(n, 0);
        long long S = st.served / RA_ITERS;
        ck_assert_msg(S >= 4 && st.served == S * RA_ITERS, "N = %d: %lld requests for %d iterations", n,
                      st.served, RA_ITERS);
        ck_assert_msg(st.hits == st.served - S - 1 && st.misses == 0,
                      "N = %d: %lld of %lld requests prepared ahead (want %lld), %lld mispredicted", n, st.hits,
                      st.served, st.served - S - 1, st.misses);
        ra_stats_t br = run_runahead(n, 1);
        ck_assert_msg(br.served > st.served, "N = %d: the extra step made %lld requests, not more than %lld", n,
                      br.served, st.served);
        ck_assert_msg(br.misses == 2 && br.hits > st.hits - 2 * S - 2,
                      "N = %d with a break: %lld prepared ahead, %lld mispredicted (want 2)", n, br.hits,
                      br.misses);
    }
}
END_TEST
/* SPIN_DEALER_PREFETCH_MB, read through the runtime's environment hook: 0
 * turns the run-ahead off (nothing prepared, the same requests served); a
 * malformed or out-of-range value is named in a warning and the default
 * 256 MiB applies (the run-ahead works). */
START_TEST(dealer_prefetch_env)
{
    ra_stats_t on = run_runahead(2, 0);
    ck_assert_msg(on.hits > 0 && on.env_warned == 0, "default: %lld prepared ahead, %d warnings", on.hits,
                  on.env_warned);
    ra_stats_t off = run_runahead_env(2, 0, "0");
    ck_assert_msg(off.served == on.served && off.hits == 0 && off.misses == 0 && off.env_warned == 0,
                  "SPIN_DEALER_PREFETCH_MB=0: %lld of %lld served, %lld prepared ahead, %lld mispredicted",
                  off.served, on.served, off.hits, off.misses);
    const char *bad[] = {"lots", "12MB", "-1", "65537", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ra_stats_t b = run_runahead_env(2, 0, bad[i]);
        ck_assert_msg(b.env_warned == 1 && b.hits == on.hits && b.served == on.served,
                      "SPIN_DEALER_PREFETCH_MB=\"%s\": %d warnings (want 1), %lld prepared ahead (want %lld)",
                      bad[i], b.env_warned, b.hits, on.hits);
    }
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

/* Two parties and a dealer opened by hand, party 1 with another f. */
typedef struct { int party; unsigned f; const char *const *eps; int rc; char log[4096]; } mm_t;
static void mm_sink(void *u, spin_log_level_t lv, const char *msg)
{
    (void)lv;
    mm_t *m = u;
    size_t l = strlen(m->log);
    snprintf(m->log + l, sizeof m->log - l, "%s\n", msg);
}
#include <pthread.h>
static void *mm_main(void *p)
{
    mm_t *m = p;
    spin_logger_t lg = {SPIN_LOG_WARN, NULL, mm_sink, m};
    spin_runtime_opts_t ro;
    memset(&ro, 0, sizeof ro);
    ro.struct_size = sizeof ro;
    ro.log = &lg;
    ro.no_default_path = 1;
    spin_ctx_opts_t o = base_opts();
    o.party = m->party;
    o.nparties = 2;
    o.endpoints = m->eps;
    o.frac_bits = m->f;
    o.timeout_ms = 5000;
    o.runtime = &ro;
    spin_ctx_t *ctx = NULL;
    m->rc = spin_ctx_open(&o, &ctx);
    if (!m->rc) spin_ctx_close(ctx);
    return NULL;
}

START_TEST(mismatched_frac_bits)
{
    char *dir = tu_tmpdir("mm");
    char e0[300], e1[300], e2[300];
    snprintf(e0, sizeof e0, "ipc://%s/a", dir);
    snprintf(e1, sizeof e1, "ipc://%s/b", dir);
    snprintf(e2, sizeof e2, "ipc://%s/c", dir);
    const char *eps[3] = {e0, e1, e2};
    mm_t m[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        memset(&m[i], 0, sizeof m[i]);
        m[i].party = i;
        m[i].f = i == 1 ? 20 : 16;
        m[i].eps = eps;
        pthread_create(&th[i], NULL, mm_main, &m[i]);
    }
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    tu_rmdir(dir);
    free(dir);
    ck_assert_int_eq(m[0].rc, SPIN_ERR_CONFIG);
    ck_assert_int_eq(m[1].rc, SPIN_ERR_CONFIG);
    ck_assert_msg(strstr(m[0].log, "party 1 uses 20 fractional bits, we use 16") != NULL, "%s", m[0].log);
    ck_assert_msg(strstr(m[1].log, "uses 16 fractional bits, we use 20") != NULL, "%s", m[1].log);
}
END_TEST

START_TEST(protocol_sequence_mismatch)
{
    spin_ctx_opts_t o = base_opts();
    o.timeout_ms = 3000;
    int rc = spin_run_local(2, scheme, &o, p_desync, NULL);
    ck_assert_msg(rc != 0, "parties running different protocols must fail");
}
END_TEST

START_TEST(step_description_mismatch)
{
    for (int which = 0; which < 2; which++)
        for (int n = 2; n <= 3; n++) {
            spin_ctx_opts_t o = base_opts();
            o.timeout_ms = 3000;
            int rc = spin_run_local(n, scheme, &o, p_desync_shape, &which);
            ck_assert_msg(rc == SPIN_ERR_PROTOCOL, "%s with N = %d: %s (want: peers out of step)",
                          which ? "different truncation widths" : "transposed vs plain matmul", n, spin_strerror(rc));
        }
}
END_TEST

START_TEST(fresh_randomness)
{
    /* Randomness comes from the OS: two runs on the same inputs give party 0
     * different shares, and a share is not the value. */
    uint64_t r1[16], r2[16];
    spin_ctx_opts_t o = base_opts();
    ck_assert_int_eq(spin_run_local(2, scheme, &o, p_shares, r1), 0);
    ck_assert_int_eq(spin_run_local(2, scheme, &o, p_shares, r2), 0);
    int same = 0, plain = 0;
    for (int i = 0; i < 16; i++) {
        same += r1[i] == r2[i];
        plain += r1[i] == (uint64_t)((i % 8 + 1) * 65536);
    }
    ck_assert_int_eq(same, 0);
    ck_assert_int_eq(plain, 0);
    /* A fixed seed (tests only) makes runs repeatable. */
    uint8_t seed[32] = {7};
    o.fixed_seed = seed;
    ck_assert_int_eq(spin_run_local(2, scheme, &o, p_shares, r1), 0);
    ck_assert_int_eq(spin_run_local(2, scheme, &o, p_shares, r2), 0);
    ck_assert_int_eq(memcmp(r1, r2, sizeof r1), 0);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1) scheme = argv[1];
    spin_runtime_t *rt;
    spin_backend_t be;
    rt = tu_runtime_for("tcp", SPIN_PLUGIN_TRANSPORT, &be);
    spin_runtime_close(rt);
    rt = tu_runtime_for("cpu", SPIN_PLUGIN_COMPUTE, &be);
    spin_runtime_close(rt);
    Suite *s = suite_create("arith");
    TCase *tc = tcase_create("protocols");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, input_reveal_linear);
    tcase_add_test(tc, inplace_broadcast_local);
    tcase_add_test(tc, raw_products);
    tcase_add_test(tc, mul_square_scale);
    tcase_add_test(tc, matmul_all_forms);
    tcase_add_test(tc, conv_forward_backward);
    tcase_add_test(tc, static_operands);
    tcase_add_test(tc, lookup_by_onehot);
    tcase_add_test(tc, trunc_million);
    tcase_add_test(tc, dealer_runahead);
    tcase_add_test(tc, dealer_prefetch_env);
    tcase_add_test(tc, protocol_sequence_mismatch);
    tcase_add_test(tc, step_description_mismatch);
    tcase_add_test(tc, mismatched_frac_bits);
    tcase_add_test(tc, fresh_randomness);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
