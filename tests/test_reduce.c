/* test_reduce.c - max, argmax, max and average pooling on real multi-party
 * runs (N = 2, 3, 4 parties + dealer as threads over ipc:// links):
 * maxima are exact (compared as ring values), the argmax is exactly one-hot
 * at the first maximum, pooling against plain references computed here, and
 * round counts against docs/PROTOCOLS.md.  SPIN_TEST_SCALE=small (valgrind)
 * shrinks the sizes. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/mpc.h>
#include <spin/reduce.h>
#include "testutil.h"

static const char *scheme = "ipc";
static int small;
#define F 16
#define ONE (UINT64_C(1) << F)

#define CHECK_RC(expr) do { int rc_ = (expr); if (rc_) { fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #expr, spin_strerror(rc_)); return rc_; } } while (0)
#define FAILF(...) do { fprintf(stderr, __VA_ARGS__); return SPIN_ERR_INTERNAL; } while (0)

static spin_ctx_opts_t base_opts(void)
{
    spin_ctx_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.frac_bits = F;
    o.timeout_ms = 60000;
    return o;
}

static double gauss(uint64_t *s)
{
    double u1 = ((double)(tu_rand64(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(tu_rand64(s) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Documented rounds of one level of group size g (docs/PROTOCOLS.md). */
static unsigned clog2(size_t x)
{
    unsigned r = 0;
    while (((size_t)1 << r) < x) r++;
    return r;
}
static unsigned level_rounds(size_t g)
{
    if (g == 2) return 7;
    int fused = clog2(g - 1) < clog2(g);
    return 7 + clog2(g - (size_t)fused);
}
/* Rounds of a forced plan (comma-separated group sizes, then 2s) on m
 * candidates; the argmax multiplies the levels' one-hots in
 * ceil(log2 levels) rounds. */
static unsigned plan_rounds(const char *plan, size_t m, int argmax)
{
    unsigned r = 0, lev = 0;
    const char *s = plan;
    while (m > 1) {
        char *e;
        unsigned long g = strtoul(s, &e, 10);
        if (e == s || g < 2) g = 2;
        if (g > m) g = m;
        r += level_rounds(g);
        lev++;
        m = (m + g - 1) / g;
        s = *e == ',' ? e + 1 : e;
    }
    return r + (argmax ? clog2(lev) : 0);
}

/* Test values in the ring: N(0,1)*4 in fixed point, coarse values (many
 * ties), and the ends of the range (|x| up to 2^62 - 1, the encodable
 * limit). */
static void fill_values(int64_t *v, size_t n, uint64_t seed, int kind)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = tu_rand64(&s);
        if (kind == 1) v[i] = (int64_t)(r % 5) * (int64_t)(ONE / 2) - 2 * (int64_t)ONE;
        else v[i] = (int64_t)llround(gauss(&s) * 4.0 * (double)ONE);
        if (kind == 2 && r % 7 == 0) {
            int64_t big = (INT64_C(1) << 61) - (int64_t)(r >> 40);
            if (r % 3 == 0) big = (INT64_C(1) << 62) - 1 - (int64_t)(r >> 50);
            v[i] = (r >> 8) & 1 ? big : -big;
        }
    }
}

/* Check max / argmax of v viewed as [outer][m][inner] along the middle. */
static int check_max(const char *what, const int64_t *v, size_t outer, size_t m, size_t inner, const uint64_t *mx,
                     const uint64_t *am)
{
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            size_t best = 0;
            for (size_t j = 1; j < m; j++)
                if (v[(o * m + j) * inner + i] > v[(o * m + best) * inner + i]) best = j;
            int64_t want = v[(o * m + best) * inner + i], got = (int64_t)mx[o * inner + i];
            if (got != want)
                FAILF("%s: max of row (%zu, %zu) = %lld, want %lld (exact)\n", what, o, i, (long long)got,
                      (long long)want);
            if (!am) continue;
            for (size_t j = 0; j < m; j++) {
                uint64_t a = am[(o * m + j) * inner + i];
                if (a != (j == best ? ONE : 0))
                    FAILF("%s: argmax of row (%zu, %zu) at %zu is %llu (raw), want %s (first max at %zu of %zu)\n",
                          what, o, i, j, (unsigned long long)a, j == best ? "1.0" : "0", best, m);
            }
        }
    return 0;
}

/* max (and argmax) of a [d0][d1][d2] (ndim 2 or 3) along every axis. */
static int max_case(spin_ctx_t *ctx, int party, int ndim, const size_t *shape, int kind, uint64_t seed,
                    const char *plan)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    int64_t *v = malloc(n * sizeof *v);
    uint64_t *mx = malloc(n * 8), *am = malloc(n * 8);
    fill_values(v, n, seed, kind);
    spin_tensor_t *a;
    CHECK_RC(spin_input_ring(ctx, 0, party == 0 ? (const uint64_t *)v : NULL, ndim, shape, &a));
    for (int axis = 0; axis < ndim; axis++) {
        size_t outer = 1, inner = 1, m = shape[axis];
        for (int d = 0; d < axis; d++) outer *= shape[d];
        for (int d = axis + 1; d < ndim; d++) inner *= shape[d];
        for (int wa = 0; wa < 2; wa++) {
            spin_tensor_t *r, *ar = NULL;
            spin_comm_stats_t s0, s1;
            CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
            CHECK_RC(spin_max(ctx, a, axis == ndim - 1 && wa ? -1 : axis, &r, wa ? &ar : NULL));
            CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
            unsigned rounds = (unsigned)(s1.rounds - s0.rounds);
            char what[160];
            snprintf(what, sizeof what, "max%s of [%zu,%zu,%zu] (ndim %d, kind %d) axis %d plan %s",
                     wa ? "+argmax" : "", shape[0], shape[1], ndim > 2 ? shape[2] : 1, ndim, kind, axis,
                     plan ? plan : "model");
            if (spin_tensor_ndim(r) != ndim - 1) FAILF("%s: result has %d dims\n", what, spin_tensor_ndim(r));
            if (plan && rounds != plan_rounds(plan, m, wa))
                FAILF("%s: %u rounds, documented %u\n", what, rounds, plan_rounds(plan, m, wa));
            /* the model never does worse than the binary tree */
            if (!plan && rounds > 7 * clog2(m) + (wa ? clog2(clog2(m)) : 0))
                FAILF("%s: %u rounds, more than the binary tree\n", what, rounds);
            CHECK_RC(spin_reveal_ring(ctx, r, -1, mx));
            if (ar) CHECK_RC(spin_reveal_ring(ctx, ar, -1, am));
            CHECK_RC(check_max(what, v, outer, m, inner, mx, ar ? am : NULL));
            spin_tensor_free(r);
            spin_tensor_free(ar);
        }
    }
    spin_tensor_free(a);
    free(v);
    free(mx);
    free(am);
    return 0;
}

static int p_max(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    static const size_t ms[] = {1, 3, 5, 128};
    for (int i = 0; i < 4; i++) {
        size_t s2[2] = {small ? 3 : 6, ms[i]};
        CHECK_RC(max_case(ctx, party, 2, s2, i % 3, 11 + (uint64_t)i, NULL));
        CHECK_RC(max_case(ctx, party, 2, s2, 1, 21 + (uint64_t)i, NULL));
    }
    size_t s3[3] = {3, 5, 4};
    for (int kind = 0; kind < 3; kind++) CHECK_RC(max_case(ctx, party, 3, s3, kind, 31 + (uint64_t)kind, NULL));
    /* non-contiguous input: max over axis 0 of a transposed view */
    {
        size_t shape[2] = {5, 7};
        int64_t v[35];
        uint64_t mx[7], am[35];
        fill_values(v, 35, 41, 1);
        spin_tensor_t *a, *t, *r, *ar;
        CHECK_RC(spin_input_ring(ctx, 0, party == 0 ? (const uint64_t *)v : NULL, 2, shape, &a));
        CHECK_RC(spin_tensor_transpose(a, 0, 1, &t));
        CHECK_RC(spin_max(ctx, t, 1, &r, &ar));
        CHECK_RC(spin_reveal_ring(ctx, r, -1, mx));
        CHECK_RC(spin_reveal_ring(ctx, ar, -1, am));
        /* t is [7][5]: rows of t are columns of v; compare through v^T */
        int64_t vt[35];
        for (size_t i = 0; i < 5; i++)
            for (size_t j = 0; j < 7; j++) vt[j * 5 + i] = v[i * 7 + j];
        CHECK_RC(check_max("max of a transposed view", vt, 7, 5, 1, mx, am));
        spin_tensor_free(a);
        spin_tensor_free(t);
        spin_tensor_free(r);
        spin_tensor_free(ar);
    }
    return 0;
}

/* Every level type, forced (SPIN_REDUCE_PLAN, set before the parties
 * start): exact results and documented rounds. */
static int p_plans(spin_ctx_t *ctx, int party, void *arg)
{
    const char *plan = arg;
    size_t s2[2] = {small ? 3 : 7, 37};
    CHECK_RC(max_case(ctx, party, 2, s2, 1, 51, plan));
    CHECK_RC(max_case(ctx, party, 2, s2, 2, 52, plan));
    return 0;
}

/* The benchmark shape [64,128] row-wise with the model's plan. */
static int p_max_bench(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    size_t s2[2] = {small ? 8 : 64, 128};
    int64_t *v = malloc(s2[0] * 128 * sizeof *v);
    uint64_t *mx = malloc(s2[0] * 8), *am = malloc(s2[0] * 128 * 8);
    fill_values(v, s2[0] * 128, 61, 0);
    spin_tensor_t *a, *r, *ar;
    CHECK_RC(spin_input_ring(ctx, 0, party == 0 ? (const uint64_t *)v : NULL, 2, s2, &a));
    CHECK_RC(spin_max(ctx, a, 1, &r, &ar));
    CHECK_RC(spin_reveal_ring(ctx, r, -1, mx));
    CHECK_RC(spin_reveal_ring(ctx, ar, -1, am));
    CHECK_RC(check_max("max [64,128] rows", v, s2[0], 128, 1, mx, am));
    spin_tensor_free(a);
    spin_tensor_free(r);
    spin_tensor_free(ar);
    free(v);
    free(mx);
    free(am);
    return 0;
}

/* ---- pooling ----------------------------------------------------------------- */

typedef struct pool_case {
    size_t n, c, h, w;
    spin_pool2d_params_t p;
} pool_case_t;

static size_t out_dim(size_t in, size_t k, size_t s, size_t pad) { return (in + 2 * pad - k) / s + 1; }

static int p_pool(spin_ctx_t *ctx, int party, void *arg)
{
    const pool_case_t *pc = arg;
    const spin_pool2d_params_t *p = &pc->p;
    size_t xs[4] = {pc->n, pc->c, pc->h, pc->w};
    size_t oh = out_dim(pc->h, p->kernel_h, p->stride_h, p->pad_h), ow = out_dim(pc->w, p->kernel_w, p->stride_w, p->pad_w);
    size_t ys[4] = {pc->n, pc->c, oh, ow};
    size_t nx = pc->n * pc->c * pc->h * pc->w, ny = pc->n * pc->c * oh * ow, K = p->kernel_h * p->kernel_w;
    int64_t *x = malloc(nx * 8), *dy = malloc(ny * 8), *refmax = malloc(ny * 8), *refdx = calloc(nx, 8);
    double *refavg = malloc(ny * 8), *refadx = calloc(nx, 8), *cover = calloc(nx, 8);
    uint64_t *got = malloc((nx > K * ny ? nx : K * ny) * 8);
    double *gotf = malloc((nx > ny ? nx : ny) * 8);
    fill_values(x, nx, 71, 1); /* coarse: many ties inside windows */
    fill_values(dy, ny, 72, 0);
    /* references */
    for (size_t b = 0; b < pc->n * pc->c; b++)
        for (size_t oy = 0; oy < oh; oy++)
            for (size_t ox = 0; ox < ow; ox++) {
                size_t o = (b * oh + oy) * ow + ox, bi = 0;
                int have = 0;
                double sum = 0;
                for (size_t i = 0; i < p->kernel_h; i++)
                    for (size_t j = 0; j < p->kernel_w; j++) {
                        long iy = (long)(oy * p->stride_h + i) - (long)p->pad_h;
                        long ix = (long)(ox * p->stride_w + j) - (long)p->pad_w;
                        if (iy < 0 || ix < 0 || iy >= (long)pc->h || ix >= (long)pc->w) continue;
                        size_t xi = (b * pc->h + (size_t)iy) * pc->w + (size_t)ix;
                        sum += (double)x[xi];
                        if (!have || x[xi] > x[bi]) bi = xi;
                        have = 1;
                    }
                refmax[o] = x[bi];
                refdx[bi] += dy[o];
                refavg[o] = sum / (double)K / (double)ONE;
                for (size_t i = 0; i < p->kernel_h; i++)
                    for (size_t j = 0; j < p->kernel_w; j++) {
                        long iy = (long)(oy * p->stride_h + i) - (long)p->pad_h;
                        long ix = (long)(ox * p->stride_w + j) - (long)p->pad_w;
                        if (iy < 0 || ix < 0 || iy >= (long)pc->h || ix >= (long)pc->w) continue;
                        size_t xi = (b * pc->h + (size_t)iy) * pc->w + (size_t)ix;
                        refadx[xi] += (double)dy[o] / (double)K / (double)ONE;
                        cover[xi] += 1;
                    }
            }
    spin_tensor_t *tx, *tdy, *y, *mask, *dx, *ya, *dxa;
    CHECK_RC(spin_input_ring(ctx, 0, party == 0 ? (const uint64_t *)x : NULL, 4, xs, &tx));
    CHECK_RC(spin_input_ring(ctx, 0, party == 0 ? (const uint64_t *)dy : NULL, 4, ys, &tdy));
    spin_comm_stats_t s0, s1;
    /* max pooling: exact, mask one-hot, backward exact, 1 round */
    CHECK_RC(spin_maxpool2d(ctx, tx, p, &y, &mask));
    CHECK_RC(spin_reveal_ring(ctx, y, -1, got));
    for (size_t i = 0; i < ny; i++)
        if ((int64_t)got[i] != refmax[i])
            FAILF("maxpool %zux%zu/%zu pad %zu: output %zu = %lld, want %lld\n", p->kernel_h, p->kernel_w,
                  p->stride_h, p->pad_h, i, (long long)got[i], (long long)refmax[i]);
    if (spin_tensor_ndim(mask) != 5 || spin_tensor_shape(mask)[0] != K) FAILF("maxpool: mask shape\n");
    CHECK_RC(spin_reveal_ring(ctx, mask, -1, got));
    for (size_t o = 0; o < ny; o++) {
        uint64_t ones = 0;
        for (size_t k = 0; k < K; k++) {
            if (got[k * ny + o] > 1) FAILF("maxpool: mask entry %llu is not 0/1\n", (unsigned long long)got[k * ny + o]);
            ones += got[k * ny + o];
        }
        if (ones != 1) FAILF("maxpool: window %zu has %llu ones in its mask\n", o, (unsigned long long)ones);
    }
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_maxpool2d_backward(ctx, tdy, mask, p, xs, &dx));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    if (s1.rounds - s0.rounds != 1) FAILF("maxpool backward: %llu rounds, documented 1\n", (unsigned long long)(s1.rounds - s0.rounds));
    CHECK_RC(spin_reveal_ring(ctx, dx, -1, got));
    for (size_t i = 0; i < nx; i++)
        if ((int64_t)got[i] != refdx[i])
            FAILF("maxpool backward: dx[%zu] = %lld, want %lld (exact)\n", i, (long long)got[i], (long long)refdx[i]);
    /* average pooling: forward 1 round within 2 ulp; backward 1 round */
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_avgpool2d(ctx, tx, p, &ya));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    if (s1.rounds - s0.rounds != 1) FAILF("avgpool: %llu rounds, documented 1\n", (unsigned long long)(s1.rounds - s0.rounds));
    CHECK_RC(spin_reveal_f64(ctx, ya, -1, gotf));
    double ulp = 1.0 / (double)ONE;
    for (size_t i = 0; i < ny; i++)
        if (fabs(gotf[i] - refavg[i]) > 2 * ulp + 1e-12)
            FAILF("avgpool: output %zu = %.10g, want %.10g (2 ulp)\n", i, gotf[i], refavg[i]);
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_avgpool2d_backward(ctx, tdy, p, xs, &dxa));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    if (s1.rounds - s0.rounds != 1) FAILF("avgpool backward: %llu rounds, documented 1\n", (unsigned long long)(s1.rounds - s0.rounds));
    CHECK_RC(spin_reveal_f64(ctx, dxa, -1, gotf));
    for (size_t i = 0; i < nx; i++)
        if (fabs(gotf[i] - refadx[i]) > 2 * ulp * cover[i] + 1e-12)
            FAILF("avgpool backward: dx[%zu] = %.10g, want %.10g (2 ulp per window)\n", i, gotf[i], refadx[i]);
    spin_tensor_free(tx);
    spin_tensor_free(tdy);
    spin_tensor_free(y);
    spin_tensor_free(mask);
    spin_tensor_free(dx);
    spin_tensor_free(ya);
    spin_tensor_free(dxa);
    free(x);
    free(dy);
    free(refmax);
    free(refdx);
    free(refavg);
    free(refadx);
    free(cover);
    free(got);
    free(gotf);
    return 0;
}

/* ---- errors ------------------------------------------------------------------ */

static int p_errors(spin_ctx_t *ctx, int party, void *arg)
{
    (void)party;
    (void)arg;
    size_t s2[2] = {3, 4}, s0[2] = {3, 0}, e0[2] = {0, 4}, s4[4] = {1, 1, 4, 4};
    spin_tensor_t *a, *z, *ze, *x4, *r = NULL, *m = NULL;
    CHECK_RC(spin_tensor_zeros(ctx, 2, s2, &a));
    CHECK_RC(spin_tensor_zeros(ctx, 2, s0, &z));
    CHECK_RC(spin_tensor_zeros(ctx, 2, e0, &ze));
    CHECK_RC(spin_tensor_zeros(ctx, 4, s4, &x4));
    if (spin_max(ctx, a, 2, &r, NULL) != SPIN_ERR_INVAL) FAILF("max accepted axis 2 of a 2-d tensor\n");
    if (spin_max(ctx, a, -3, &r, NULL) != SPIN_ERR_INVAL) FAILF("max accepted axis -3\n");
    if (spin_max(ctx, z, 1, &r, NULL) != SPIN_ERR_INVAL) FAILF("max accepted an empty axis\n");
    if (spin_max(ctx, a, 0, NULL, NULL) != SPIN_ERR_INVAL) FAILF("max accepted a NULL result\n");
    /* an empty batch is fine: an empty result */
    CHECK_RC(spin_max(ctx, ze, 1, &r, &m));
    if (spin_tensor_numel(r) != 0 || spin_tensor_numel(m) != 0) FAILF("max of an empty batch is not empty\n");
    spin_tensor_free(r);
    spin_tensor_free(m);
    spin_pool2d_params_t bad[] = {
        {2, 2, 2, 2, 2, 0}, /* pad = kernel */
        {2, 2, 0, 2, 0, 0}, /* stride 0 */
        {0, 2, 1, 1, 0, 0}, /* empty kernel */
        {5, 5, 1, 1, 0, 0}, /* kernel larger than the input */
    };
    for (int i = 0; i < 4; i++) {
        if (spin_maxpool2d(ctx, x4, &bad[i], &r, &m) != SPIN_ERR_INVAL) FAILF("maxpool accepted bad params %d\n", i);
        if (spin_avgpool2d(ctx, x4, &bad[i], &r) != SPIN_ERR_INVAL) FAILF("avgpool accepted bad params %d\n", i);
    }
    spin_pool2d_params_t p = {2, 2, 2, 2, 0, 0};
    if (spin_maxpool2d(ctx, a, &p, &r, &m) != SPIN_ERR_INVAL) FAILF("maxpool accepted a 2-d x\n");
    if (spin_maxpool2d(ctx, x4, NULL, &r, &m) != SPIN_ERR_INVAL) FAILF("maxpool accepted NULL params\n");
    spin_tensor_t *y, *mk;
    CHECK_RC(spin_maxpool2d(ctx, x4, &p, &y, &mk));
    size_t wrong[4] = {1, 1, 4, 4};
    if (spin_maxpool2d_backward(ctx, x4, mk, &p, s4, &r) != SPIN_ERR_INVAL) FAILF("maxpool backward accepted a wrong dy\n");
    if (spin_maxpool2d_backward(ctx, y, NULL, &p, s4, &r) != SPIN_ERR_INVAL) FAILF("maxpool backward accepted no mask\n");
    if (spin_maxpool2d_backward(ctx, y, y, &p, s4, &r) != SPIN_ERR_INVAL) FAILF("maxpool backward accepted a wrong mask\n");
    if (spin_avgpool2d_backward(ctx, x4, &p, wrong, &r) != SPIN_ERR_INVAL) FAILF("avgpool backward accepted a wrong dy\n");
    spin_tensor_free(y);
    spin_tensor_free(mk);
    spin_tensor_free(a);
    spin_tensor_free(z);
    spin_tensor_free(ze);
    spin_tensor_free(x4);
    return 0;
}

static void run_all_n(spin_party_fn fn, void *arg)
{
    for (int n = 2; n <= 4; n++) {
        spin_ctx_opts_t o = base_opts();
        int rc = spin_run_local(n, scheme, &o, fn, arg);
        ck_assert_msg(rc == 0, "N = %d over %s: %s", n, scheme, spin_strerror(rc));
    }
}

START_TEST(max_argmax_exact) { run_all_n(p_max, NULL); }
END_TEST
START_TEST(max_every_level_type)
{
    static const char *plans[] = {"2", "3", "4", "5", "8", "9,4", "16", "3,4,2"};
    int np = small ? 3 : 8;
    for (int i = 0; i < np; i++) {
        setenv("SPIN_REDUCE_PLAN", plans[i], 1);
        run_all_n(p_plans, (void *)plans[i]);
    }
    unsetenv("SPIN_REDUCE_PLAN");
}
END_TEST
START_TEST(max_bench_shape) { run_all_n(p_max_bench, NULL); }
END_TEST
START_TEST(pooling)
{
    pool_case_t cases[] = {
        {2, 3, 6, 8, {2, 2, 2, 2, 0, 0}},
        {1, 2, 7, 9, {2, 2, 2, 2, 0, 0}},
        {2, 2, 7, 9, {3, 3, 2, 2, 1, 1}},
        {1, 3, 5, 6, {3, 2, 1, 2, 1, 0}},
    };
    for (int i = 0; i < 4; i++) run_all_n(p_pool, &cases[i]);
}
END_TEST
START_TEST(errors) { run_all_n(p_errors, NULL); }
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1) scheme = argv[1];
    const char *sc = getenv("SPIN_TEST_SCALE");
    small = sc && !strcmp(sc, "small");
    unsetenv("SPIN_REDUCE_PLAN");
    spin_runtime_t *rt;
    spin_backend_t be;
    rt = tu_runtime_for("tcp", SPIN_PLUGIN_TRANSPORT, &be);
    spin_runtime_close(rt);
    rt = tu_runtime_for("cpu", SPIN_PLUGIN_COMPUTE, &be);
    spin_runtime_close(rt);
    Suite *s = suite_create("reduce");
    TCase *tc = tcase_create("reduce");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, max_argmax_exact);
    tcase_add_test(tc, max_every_level_type);
    tcase_add_test(tc, max_bench_shape);
    tcase_add_test(tc, pooling);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
