/* test_functions.c - the secure non-linear functions (exp, reciprocal, ln,
 * sqrt, rsqrt, sigmoid, tanh, erf, GeLU, softmax, log-softmax, LayerNorm)
 * on real multi-party runs (N = 2, 3, 4 parties + dealer as threads over
 * ipc:// links) against float64: maximum and mean absolute (or relative)
 * error bounds over each documented range including its ends, inputs beyond
 * the range (saturation), and the round count of every function against
 * docs/PROTOCOLS.md; every documented range ("Valid input ranges": products,
 * each function, LayerNorm's variance and any row mean) at both edges at
 * f = 16 and f = 18 for N = 2 and 3; the warning spin_ctx_open logs for f
 * whose products are short (SPIN_FRAC_BITS=24).  SPIN_TEST_SCALE=small
 * shrinks the sizes (valgrind). */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spin/mpc.h>
#include <spin/functions.h>
#include <spin/reduce.h>
#include "testutil.h"

static const char *scheme = "ipc";
static int small;
#define F 16
#define ULP (1.0 / (1 << F))

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

static double unif(uint64_t *s) { return ((double)(tu_rand64(s) >> 11) + 0.5) / 9007199254740992.0; }
static double gauss(uint64_t *s)
{
    double u1 = unif(s), u2 = unif(s);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
static double q(double x) { return round(x * (1 << F)) / (1 << F); }   /* the encoded input */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- reference functions ------------------------------------------------------- */
static double r_exp(double x) { return exp(x); }
static double r_sig(double x) { return 1.0 / (1.0 + exp(-x)); }
static double r_tanh(double x) { return tanh(x); }
static double r_erf(double x) { return erf(x); }
static double r_gelu(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double r_gelut(double x) { return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))); }
static double r_recip(double x) { return 1.0 / x; }
static inline double r_ln(double x) { return log(x); }
static double r_sqrt(double x) { return sqrt(x); }
static double r_rsqrt(double x) { return 1.0 / sqrt(x); }

static int c_gelu(spin_ctx_t *c, const spin_tensor_t *a, spin_tensor_t **o) { return spin_gelu(c, a, SPIN_GELU_ERF, o); }
static int c_gelut(spin_ctx_t *c, const spin_tensor_t *a, spin_tensor_t **o) { return spin_gelu(c, a, SPIN_GELU_TANH, o); }

/* One element-wise function: the TARGETS.md distribution (mean error bound),
 * a sweep over [lo, hi] (max error bound, absolute + rel * |f(x)|), and
 * special points with their own expected values (saturation). */
typedef struct ucase {
    const char *name;
    int (*call)(spin_ctx_t *, const spin_tensor_t *, spin_tensor_t **);
    double (*ref)(double);
    int dist;                  /* 0: N(0,1)*2, 1: U(0.1, 10) */
    double lo, hi;             /* sweep */
    double max_abs, max_rel;   /* |err| <= max_abs + max_rel |f(x)| on the sweep */
    double mean_abs;           /* mean |err| on the distribution */
    int rounds;
    const double *sx, *sy;     /* special inputs and wanted outputs */
    int ns;
    double s_tol;
    int logsweep;              /* sweep geometrically from lo to hi (lo > 0) */
} ucase_t;

static const double exp_sx[] = {-12.5, -30, -1000, -20000, 13.0, 14, 30, 5000, 0, -11.99};
static const double exp_sy[] = {0, 0, 0, 0, 442413.39200892050, 442413.39200892050, 442413.39200892050, 442413.39200892050, 1, 6.1997e-06};
static const double sig_sx[] = {13, 20, 1e4, -13, -20, -1e4, 0};
static const double sig_sy[] = {1, 1, 1, 0, 0, 0, 0.5};
static const double tanh_sx[] = {7.5, 20, 1e4, -7.5, -20, -1e4, 0};
static const double tanh_sy[] = {1, 1, 1, -1, -1, -1, 0};
static const double erf_sx[] = {4.25, 20, 1e4, -4.25, -20, -1e4, 0};
static const double erf_sy[] = {1, 1, 1, -1, -1, -1, 0};
static const double gelu_sx[] = {5.5, 20, 1e4, -5.5, -20, -1e4, 0};
static const double gelu_sy[] = {5.5, 20, 1e4, 0, 0, 0, 0};

static const double rec_sx[] = {1.0 / 65536, -1.0 / 65536, 32768, -32768, 65536, 1e6, -1e6, 0, 1, -1, 0.5, 3.0 / 65536};
static const double rec_sy[] = {65536, -65536, 1.0 / 32768, -1.0 / 32768, 0, 0, 0, 0, 1, -1, 2, 21845.333333333333};

static const double rsq_sx[] = {0, -1, -1e6, 32768.0 * 65536.0, 1e12, 1.0 / 65536, 1073741824.0, 1, 4, 0.25};
static const double rsq_sy[] = {0, 0, 0, 0, 0, 256, 1.0 / 32768, 1, 0.5, 2};

static const double sq_sx[] = {0, -1, -1e6, 1073741824.0, 4, 0.25, 1.0 / 65536};
static const double sq_sy[] = {0, 0, 0, 32768, 2, 0.5, 1.0 / 256};

/* ln: documented range 2^-16 <= x < 2^32 (X = x 2^16 in [1, 2^48)); x < 2^-16
 * (x <= 0 included) gives ln 2^-16 = -16 ln 2, x >= 2^32 gives 32 ln 2. */
#define LN2 0.69314718055994531
static const double ln_sx[] = {0, -1.0 / 65536, -1, -1e6, 1.0 / 65536, 2.0 / 65536, 3.0 / 65536,
                               4294967296.0, 1e12, 4294967296.0 - 1.0 / 65536, 2147483648.0, 1, 2, 0.5,
                               65536, 0.75, 1.5};
static const double ln_sy[] = {-16 * LN2, -16 * LN2, -16 * LN2, -16 * LN2, -16 * LN2, -15 * LN2,
                               -9.991742600291015, 32 * LN2, 32 * LN2, 32 * LN2, 31 * LN2, 0, LN2, -LN2,
                               16 * LN2, -0.28768207245178090, 0.40546510810816438};

static ucase_t ucases[] = {
    {"ln", spin_ln, r_ln, 1, 1.0 / 65536, 4294967296.0 - 1.0 / 65536, 2 * ULP, 0, 8e-6, 21, ln_sx, ln_sy, 17, 1.5 * ULP, 1},
    {"ln-near1", spin_ln, r_ln, 1, 0.25, 4, 2 * ULP, 0, 8e-6, 21, ln_sx, ln_sy, 17, 1.5 * ULP, 0},
    {"sqrt", spin_sqrt, r_sqrt, 1, 0.0, 1000, 3 * ULP, 3e-6, 1.3e-4, 25, sq_sx, sq_sy, 7, 1.5 * ULP, 0},
    {"rsqrt", spin_rsqrt, r_rsqrt, 1, 0.01, 1000, 3 * ULP, 2e-6, 4e-5, 25, rsq_sx, rsq_sy, 10, 1.5 * ULP, 0},
    {"reciprocal", spin_reciprocal, r_recip, 1, 0.05, 100, 3 * ULP, 2e-6, 1.1e-5, 23, rec_sx, rec_sy, 12, 1.5 * ULP, 0},
    {"reciprocal-", spin_reciprocal, r_recip, 1, -100, -0.05, 3 * ULP, 2e-6, 1.1e-5, 23, rec_sx, rec_sy, 12, 1.5 * ULP, 0},
    {"exp", spin_exp, r_exp, 0, -12, 13, 3 * ULP, 4e-6, 1.5e-5, 22, exp_sx, exp_sy, 10, 1e-5, 0},
    {"sigmoid", spin_sigmoid, r_sig, 0, -14, 14, 3 * ULP, 0, 7e-6, 13, sig_sx, sig_sy, 7, 1.5 * ULP, 0},
    {"tanh", spin_tanh, r_tanh, 0, -8, 8, 3 * ULP, 0, 7e-6, 13, tanh_sx, tanh_sy, 7, 1.5 * ULP, 0},
    {"erf", spin_erf, r_erf, 0, -5, 5, 3 * ULP, 0, 7e-6, 13, erf_sx, erf_sy, 7, 1.5 * ULP, 0},
    {"gelu", c_gelu, r_gelu, 0, -7, 7, 3 * ULP, 0, 7e-6, 13, gelu_sx, gelu_sy, 7, 1.5 * ULP, 0},
    {"gelu_tanh", c_gelut, r_gelut, 0, -7, 7, 3 * ULP, 0, 7e-6, 13, gelu_sx, gelu_sy, 7, 1.5 * ULP, 0},
};
#define NUCASES (sizeof ucases / sizeof ucases[0])

typedef struct uarg {
    const ucase_t *c;
    size_t n;                  /* distribution samples */
} uarg_t;

static int p_unary(spin_ctx_t *ctx, int party, void *arg)
{
    const uarg_t *ua = arg;
    const ucase_t *c = ua->c;
    size_t nd = ua->n, nsw = small ? 256 : 4096, n = nd + nsw + (size_t)c->ns;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    uint64_t s = 1234;
    for (size_t i = 0; i < nd; i++) x[i] = q(c->dist ? 0.1 + 9.9 * unif(&s) : 2.0 * gauss(&s));
    for (size_t i = 0; i < nsw; i++) {
        double t = (double)i / (double)(nsw - 1);
        x[nd + i] = q(c->logsweep ? c->lo * pow(c->hi / c->lo, t) : c->lo + (c->hi - c->lo) * t);
    }
    for (int i = 0; i < c->ns; i++) x[nd + nsw + (size_t)i] = c->sx[i];
    size_t shape[1] = {n};
    spin_tensor_t *a, *r;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 1, shape, &a));
    spin_comm_stats_t s0, s1;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    double t0 = now_ms();
    CHECK_RC(c->call(ctx, a, &r));
    double t1 = now_ms();
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    CHECK_RC(spin_reveal_f64(ctx, r, -1, y));
    int rounds = (int)(s1.rounds - s0.rounds);
    double emax = 0, esum = 0, xworst = 0;
    size_t iworst = nd;
    for (size_t i = 0; i < nd; i++) esum += fabs(y[i] - c->ref(x[i]));
    for (size_t i = nd; i < nd + nsw; i++) {
        double w = c->ref(x[i]), e = fabs(y[i] - w);
        double lim = c->max_abs + c->max_rel * fabs(w);
        if (e / lim > emax) { emax = e / lim; xworst = x[i]; iworst = i; }
    }
    double mean = nd ? esum / (double)nd : 0;
    if (party == 0)
        fprintf(stderr, "%-10s N=%d n=%zu: %.2f ms, %d rounds, %.1f KB sent, mean err %.2e, worst err/bound %.2f at %g\n",
                c->name, spin_ctx_nparties(ctx), n, t1 - t0, rounds, (double)(s1.bytes_sent - s0.bytes_sent) / 1024.0,
                mean, emax, xworst);
    if (rounds != c->rounds) FAILF("%s: %d rounds, documented %d\n", c->name, rounds, c->rounds);
    if (emax > 1.0) {
        double w = c->ref(xworst);
        FAILF("%s(%.17g) = %.17g, want %.17g (error above the bound)\n", c->name, xworst, y[iworst], w);
    }
    if (mean > c->mean_abs) FAILF("%s: mean error %.3g above %.3g\n", c->name, mean, c->mean_abs);
    for (int i = 0; i < c->ns; i++) {
        double got = y[nd + nsw + (size_t)i], want = c->sy[i];
        if (fabs(got - want) > c->s_tol + 1e-5 * fabs(want))
            FAILF("%s(%g) = %.10g, want %.10g (saturation / special point)\n", c->name, c->sx[i], got, want);
    }
    spin_tensor_free(a);
    spin_tensor_free(r);
    free(x);
    free(y);
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

/* ---- softmax / log-softmax along an axis --------------------------------------- */

typedef struct sarg {
    size_t rows, len;
    int axis;                  /* 1: rows x len; 0: the transposed layout len x rows */
    int log;
} sarg_t;

static int p_softmax(spin_ctx_t *ctx, int party, void *arg)
{
    const sarg_t *sa = arg;
    size_t R = sa->rows, L = sa->len, n = R * L;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *w = malloc(n * sizeof *w);
    uint64_t s = 77;
    /* element (r, j) at index r L + j (axis 1) or j R + r (axis 0) */
#define IX(r, j) (sa->axis ? (r) * L + (j) : (j) * R + (r))
    for (size_t r = 0; r < R; r++)
        for (size_t j = 0; j < L; j++) {
            double v = 2.0 * gauss(&s);
            if (r % 8 == 1) v = j % 3 == 0 ? 5.0 : v;               /* equal maxima */
            if (r % 8 == 2) v = j == 0 ? 3.0 : -50.0 - (double)j;    /* very negative entries */
            if (r % 8 == 3) v = 1000.0 * gauss(&s);                  /* huge spread */
            if (r % 8 == 4) v = 7.25;                                /* constant row */
            x[IX(r, j)] = q(v);
        }
    for (size_t r = 0; r < R; r++) {
        double mx = -1e300, sum = 0;
        for (size_t j = 0; j < L; j++) mx = fmax(mx, x[IX(r, j)]);
        for (size_t j = 0; j < L; j++) sum += exp(x[IX(r, j)] - mx);
        for (size_t j = 0; j < L; j++)
            w[IX(r, j)] = sa->log ? x[IX(r, j)] - mx - log(sum) : exp(x[IX(r, j)] - mx) / sum;
    }
    size_t shape[2] = {sa->axis ? R : L, sa->axis ? L : R};
    spin_tensor_t *a, *o, *mx;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 2, shape, &a));
    spin_comm_stats_t s0, s1, s2;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_max(ctx, a, sa->axis, &mx, NULL));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    double t0 = now_ms();
    CHECK_RC((sa->log ? spin_log_softmax : spin_softmax)(ctx, a, sa->axis, &o));
    double t1 = now_ms();
    CHECK_RC(spin_ctx_stats(ctx, -1, &s2));
    CHECK_RC(spin_reveal_f64(ctx, o, -1, y));
    int rmax = (int)(s1.rounds - s0.rounds), rounds = (int)(s2.rounds - s1.rounds);
    /* documented: softmax max + 29 (max + 22 for rows of 1: no positions);
     * log_softmax max + 26 (+1 for rows longer than 2^(27-f)), rows of 1: 0 */
    int want = sa->log ? (L == 1 ? 0 : rmax + 26 + (L > ((size_t)1 << (27 - F)) ? 1 : 0))
                       : rmax + 29 - (L == 1 ? 7 : 0);
    double emax = 0, esum = 0, rowerr = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(y[i] - w[i]);
        esum += e;
        if (e > emax) { emax = e; worst = i; }
    }
    for (size_t r = 0; r < R; r++) {
        double sum = 0;
        for (size_t j = 0; j < L; j++) sum += sa->log ? exp(y[IX(r, j)]) : y[IX(r, j)];
        rowerr = fmax(rowerr, fabs(sum - 1.0));
    }
#undef IX
    if (party == 0)
        fprintf(stderr, "%s N=%d [%zu x %zu] axis %d: %.2f ms, %d rounds (max %d), mean err %.2e, max err %.2e, row-sum err %.2e\n",
                sa->log ? "log_softmax" : "softmax", spin_ctx_nparties(ctx), R, L, sa->axis, t1 - t0, rounds, rmax,
                esum / (double)n, emax, rowerr);
    if (rounds != want) FAILF("softmax: %d rounds, documented max + %d = %d\n", rounds, want - rmax, want);
    /* log_softmax: measured max 1.8e-5, mean 4.6e-6 (N = 2, [64 x 128]) */
    double bound = sa->log ? 6e-5 : 1e-4;
    if (emax > bound) FAILF("softmax: element %zu: %.10g, want %.10g\n", worst, y[worst], w[worst]);
    if (esum / (double)n > (sa->log ? 1e-5 : 1.5e-5)) FAILF("softmax: mean error %.3g\n", esum / (double)n);
    if (rowerr > 1e-3) FAILF("softmax: a row sums to 1 +- %.3g\n", rowerr);
    /* bad axis: a clear error */
    if ((sa->log ? spin_log_softmax : spin_softmax)(ctx, a, 2, &o) != SPIN_ERR_INVAL) FAILF("softmax accepted axis 2\n");
    spin_tensor_free(a);
    spin_tensor_free(o);
    spin_tensor_free(mx);
    free(x);
    free(y);
    free(w);
    return 0;
}

static void run_softmax(int log)
{
    for (int N = 2; N <= 4; N++) {
        sarg_t sa = {small ? 8 : N == 2 ? 64 : 16, small ? 16 : 128, 1, log};
        spin_ctx_opts_t o = base_opts();
        int rc = spin_run_local(N, scheme, &o, p_softmax, &sa);
        ck_assert_msg(rc == 0, "softmax N = %d: %s", N, spin_strerror(rc));
        sarg_t sb = {16, N == 3 ? 1 : 10, 0, log};
        rc = spin_run_local(N, scheme, &o, p_softmax, &sb);
        ck_assert_msg(rc == 0, "softmax axis 0, N = %d: %s", N, spin_strerror(rc));
    }
}

/* ---- LayerNorm ------------------------------------------------------------------ */

typedef struct larg {
    size_t rows, d;
    int affine;
} larg_t;

static int p_layernorm(spin_ctx_t *ctx, int party, void *arg)
{
    const larg_t *la = arg;
    size_t R = la->rows, D = la->d, n = R * D;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *w = malloc(n * sizeof *w);
    double *g = malloc(D * sizeof *g), *b = malloc(D * sizeof *b);
    uint64_t s = 5;
    const double eps = 1e-5;
    for (size_t j = 0; j < D; j++) {
        g[j] = q(la->affine ? 1.0 + 0.5 * gauss(&s) : 1.0);
        b[j] = q(la->affine ? 0.5 * gauss(&s) : 0.0);
    }
    for (size_t r = 0; r < R; r++)
        for (size_t j = 0; j < D; j++) {
            double v = 2.0 * gauss(&s);
            if (r % 8 == 1) v = 3.0 + (j % 2 ? ULP : 0);                 /* near-constant row */
            if (r % 8 == 2) v = -7.0;                                    /* constant row */
            if (r % 8 == 3) v = 30.0 * gauss(&s);                        /* wide row */
            if (r % 8 == 4) v = 0.01 * gauss(&s);                        /* small variance */
            if (r % 8 == 5) v = 100.0 * gauss(&s);                       /* variance 1e4 */
            x[r * D + j] = q(v);
        }
    for (size_t r = 0; r < R; r++) {
        double mu = 0, var = 0;
        for (size_t j = 0; j < D; j++) mu += x[r * D + j];
        mu /= (double)D;
        for (size_t j = 0; j < D; j++) var += (x[r * D + j] - mu) * (x[r * D + j] - mu);
        var /= (double)D;
        for (size_t j = 0; j < D; j++) w[r * D + j] = (x[r * D + j] - mu) / sqrt(var + eps) * g[j] + b[j];
    }
    size_t shape[2] = {R, D}, gs[1] = {D};
    spin_tensor_t *a, *o, *gt = NULL, *bt = NULL;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 2, shape, &a));
    if (la->affine) {
        CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? g : NULL, 1, gs, &gt));
        CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? b : NULL, 1, gs, &bt));
    }
    spin_comm_stats_t s0, s1;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    double t0 = now_ms();
    CHECK_RC(spin_layernorm(ctx, a, gt, bt, eps, &o));
    double t1 = now_ms();
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    CHECK_RC(spin_reveal_f64(ctx, o, -1, y));
    int rounds = (int)(s1.rounds - s0.rounds);
    double emax = 0, esum = 0, rsum = 0;
    size_t worst = 0, nr = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(y[i] - w[i]);
        esum += e;
        if ((i / D) % 8 >= 5 || (i / D) % 8 == 0) { rsum += e; nr++; }
        if (e > emax) { emax = e; worst = i; }
    }
    if (party == 0)
        fprintf(stderr, "layernorm N=%d [%zu x %zu]%s: %.2f ms, %d rounds, mean err %.2e (normal rows %.2e), max err %.2e at %zu\n",
                spin_ctx_nparties(ctx), R, D, la->affine ? " affine" : "", t1 - t0, rounds, esum / (double)n,
                nr ? rsum / (double)nr : 0.0, emax, worst);
    if (rounds != 24) FAILF("layernorm: %d rounds, documented 24\n", rounds);
    if (emax > 2e-3) FAILF("layernorm: element %zu (x %.10g): %.10g, want %.10g\n", worst, x[worst], y[worst], w[worst]);
    if (nr && rsum / (double)nr > 2.7e-5) FAILF("layernorm: mean error %.3g on N(0,4) rows\n", rsum / (double)nr);
    /* gamma of the wrong length: a clear error */
    if (la->affine) {
        spin_tensor_t *g2;
        CHECK_RC(spin_tensor_slice(gt, 0, 0, D - 1, &g2));
        if (spin_layernorm(ctx, a, g2, NULL, eps, &o) != SPIN_ERR_INVAL) FAILF("layernorm accepted a short gamma\n");
        spin_tensor_free(g2);
    }
    spin_tensor_free(a);
    spin_tensor_free(o);
    spin_tensor_free(gt);
    spin_tensor_free(bt);
    free(x);
    free(y);
    free(w);
    free(g);
    free(b);
    return 0;
}

static void run_layernorm(void)
{
    for (int N = 2; N <= 4; N++) {
        for (int aff = 0; aff < 2; aff++) {
            larg_t la = {small ? 8 : N == 2 ? 64 : 16, small ? 32 : 128, aff};
            spin_ctx_opts_t o = base_opts();
            int rc = spin_run_local(N, scheme, &o, p_layernorm, &la);
            ck_assert_msg(rc == 0, "layernorm N = %d: %s", N, spin_strerror(rc));
        }
    }
}

static void run_unary(const char *name)
{
    for (size_t i = 0; i < NUCASES; i++) {
        if (strcmp(ucases[i].name, name)) continue;
        for (int N = 2; N <= 4; N++) {
            uarg_t ua = {&ucases[i], small ? 256 : N == 2 ? 8192 : 2048};
            spin_ctx_opts_t o = base_opts();
            int rc = spin_run_local(N, scheme, &o, p_unary, &ua);
            ck_assert_msg(rc == 0, "%s, N = %d over %s: %s", name, N, scheme, spin_strerror(rc));
        }
    }
}

/* ---- attention: softmax(S) V, every option combination ---------------------- */

static int p_attention(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    enum { B = 2, T = 5, L = 7, DV = 3 };
    double S[B * T * L], V[B * L * DV], ref[B * T * DV], got[B * T * DV];
    uint64_t st = 77;
    for (int i = 0; i < B * T * L; i++) S[i] = round(((double)(tu_rand64(&st) >> 11) / 9007199254740992.0 * 16 - 8) * 65536) / 65536;
    for (int i = 0; i < B * L * DV; i++) V[i] = round(((double)(tu_rand64(&st) >> 11) / 9007199254740992.0 * 6 - 3) * 65536) / 65536;
    /* a row with equal maxima and one far below the rest */
    for (int j = 0; j < L; j++) S[j] = j < 3 ? 2.5 : -40.0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const double *row = S + (b * T + t) * L;
            double mx = row[0], sum = 0, e[L];
            for (int j = 1; j < L; j++) mx = fmax(mx, row[j]);
            for (int j = 0; j < L; j++) sum += (e[j] = exp(row[j] - mx));
            for (int k = 0; k < DV; k++) {
                double a = 0;
                for (int j = 0; j < L; j++) a += e[j] / sum * V[(b * L + j) * DV + k];
                ref[(b * T + t) * DV + k] = a;
            }
        }
    size_t ss[3] = {B, T, L}, vs[3] = {B, L, DV};
    spin_tensor_t *tS, *tV, *r;
    int last = spin_ctx_nparties(ctx) - 1;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? S : NULL, 3, ss, &tS));
    CHECK_RC(spin_input_f64(ctx, last, party == last ? V : NULL, 3, vs, &tV));
    for (int combo = 0; combo < 4; combo++) {
        spin_attn_opts_t o = {combo & 1, (combo >> 1) & 1};
        CHECK_RC(spin_attention_softmax(ctx, tS, tV, &o, &r));
        CHECK_RC(spin_reveal_f64(ctx, r, -1, got));
        spin_tensor_free(r);
        /* softmax's weights carry up to 2e-5 each (its documented max
         * error), summed over L = 7 terms of |V| <= 3: 4.2e-4, plus the
         * product's truncation.  The general exp (nonpos_exp = 0) works at
         * scale f, 4 bits below the specialised one: a looser bound. */
        double bound = o.nonpos_exp ? 5e-4 : 1e-3;
        for (int i = 0; i < B * T * DV; i++)
            if (fabs(got[i] - ref[i]) > bound)
                FAILF("attention (delayed %d, nonpos_exp %d)[%d] = %.7g, want %.7g (bound %g)\n", o.delayed,
                      o.nonpos_exp, i, got[i], ref[i], bound);
    }
    if (spin_attention_softmax(ctx, tV, tS, NULL, &r) != SPIN_ERR_INVAL) FAILF("attention accepted mismatched shapes\n");
    spin_tensor_free(tS);
    spin_tensor_free(tV);
    return 0;
}

/* ---- LayerNorm on rows with a large mean ------------------------------------ */

/* The row sum S used to be squared and truncated at scale 2^2f, which
 * needs |S| < 2^(31-f) (f = 16: 32768): a mean of 400 at d = 64 (|S| =
 * 25600) was right, 600 (38400) gave errors of 2.5 and 100 at d = 768
 * (76800) errors of 4.3.  Only V = d sum x^2 - S^2 is truncated now: the
 * mean is free (docs/PROTOCOLS.md, "Valid input ranges"). */
typedef struct lmcase {
    size_t d, rows;
    double mean, sd;
} lmcase_t;

static const lmcase_t lm_cases[] = {{64, 16, 400, 2}, {64, 16, 600, 2}, {768, 8, 100, 2}, {64, 8, -600, 0.5},
                                    {128, 8, 1e6, 3}};

/* rows of d: mean + sd N(0,1) (sd < 0: every row rescaled to standard
 * deviation exactly -sd before rounding), LayerNorm (gamma, beta when
 * affine) against float64; returns the max error in *emax and the max of
 * error / documented bound in *eratio, the bound being
 * 3e-5 + |out| (2e-5 + 2e-6 std sqrt(1e-5 / eps)) (docs/PROTOCOLS.md: the
 * factor 1 / (d sqrt(var + eps)) is held at a scale chosen for the
 * smallest variance, so its relative precision falls with the row's std) */
static int ln_rows(spin_ctx_t *ctx, int party, size_t R, size_t D, double mean, double sd, int affine, double eps,
                   uint64_t seed, double *emax, double *eratio)
{
    double sc = ldexp(1.0, (int)spin_ctx_frac_bits(ctx));
    size_t n = R * D;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *g = malloc(D * sizeof *g),
           *b = malloc(D * sizeof *b);
    uint64_t s = seed;
    for (size_t j = 0; j < D; j++) {
        g[j] = round((affine ? 1.0 + 0.5 * gauss(&s) : 1.0) * sc) / sc;
        b[j] = round((affine ? 0.5 * gauss(&s) : 0.0) * sc) / sc;
    }
    for (size_t r = 0; r < R; r++) {
        double *row = x + r * D, mu = 0, v = 0;
        for (size_t j = 0; j < D; j++) mu += (row[j] = gauss(&s)) / (double)D;
        for (size_t j = 0; j < D; j++) v += (row[j] - mu) * (row[j] - mu) / (double)D;
        for (size_t j = 0; j < D; j++)
            row[j] = round((mean + (sd < 0 ? -sd * (row[j] - mu) / sqrt(v) : sd * row[j])) * sc) / sc;
    }
    size_t shape[2] = {R, D}, gs[1] = {D};
    spin_tensor_t *a, *o, *gt = NULL, *bt = NULL;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 2, shape, &a));
    if (affine) {
        CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? g : NULL, 1, gs, &gt));
        CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? b : NULL, 1, gs, &bt));
    }
    spin_comm_stats_t s0, s1;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_layernorm(ctx, a, gt, bt, eps, &o));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    CHECK_RC(spin_reveal_f64(ctx, o, -1, y));
    if (s1.rounds - s0.rounds != 24) FAILF("layernorm: %d rounds, documented 24\n", (int)(s1.rounds - s0.rounds));
    *emax = *eratio = 0;
    for (size_t r = 0; r < R; r++) {
        /* x - x_0 is exact in float64 even for means near 2^(52-f), the sum of x is not */
        double x0 = x[r * D], mu = 0, var = 0;
        for (size_t j = 0; j < D; j++) mu += x[r * D + j] - x0;
        mu /= (double)D;
        for (size_t j = 0; j < D; j++) var += (x[r * D + j] - x0 - mu) * (x[r * D + j] - x0 - mu);
        var /= (double)D;
        for (size_t j = 0; j < D; j++) {
            double w = (x[r * D + j] - x0 - mu) / sqrt(var + eps) * g[j] + b[j], e = fabs(y[r * D + j] - w);
            double lim = 3e-5 + fabs(w - b[j]) * (2e-5 + 2e-6 * sqrt(var) * sqrt(1e-5 / eps));
            *emax = fmax(*emax, e);
            *eratio = fmax(*eratio, e / lim);
        }
    }
    spin_tensor_free(a);
    spin_tensor_free(o);
    spin_tensor_free(gt);
    spin_tensor_free(bt);
    free(x);
    free(y);
    free(g);
    free(b);
    return 0;
}

static int p_layernorm_mean(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof lm_cases / sizeof lm_cases[0]; i++)
        for (int aff = 0; aff < 2; aff++) {
            const lmcase_t *c = &lm_cases[i];
            double e, er;
            CHECK_RC(ln_rows(ctx, party, c->rows, c->d, c->mean, c->sd, aff, 1e-5, 11 + i, &e, &er));
            if (party == 0)
                fprintf(stderr, "layernorm N=%d d=%zu mean %g sd %g%s: max err %.2e (err/bound %.2f)\n",
                        spin_ctx_nparties(ctx), c->d, c->mean, c->sd, aff ? " affine" : "", e, er);
            if (e > 1e-3 || er > 1) FAILF("layernorm d=%zu mean %g: max error %.3g (1e-3; %.2f of the documented bound)\n", c->d, c->mean, e, er);
        }
    return 0;
}

START_TEST(t_layernorm_mean)
{
    for (int N = 2; N <= 3; N++) {
        spin_ctx_opts_t o = base_opts();
        int rc = spin_run_local(N, scheme, &o, p_layernorm_mean, NULL);
        ck_assert_msg(rc == 0, "layernorm with large row means, N = %d: %s", N, spin_strerror(rc));
    }
}
END_TEST

/* ---- every documented range at both edges, f = 16 and 18 --------------------- */

/* Inputs at the edges of each function's documented range (and beyond it,
 * where the documentation promises saturation) as formulas of f, each
 * with its documented error bound abs_ulps 2^-f + rel |want|
 * (docs/PROTOCOLS.md, "Valid input ranges").  want NAN: the float64
 * reference. */
typedef struct edge {
    const char *name;
    int (*call)(spin_ctx_t *, const spin_tensor_t *, spin_tensor_t **);
    double (*ref)(double);
    double abs_ulps, rel;
} edge_t;

static const edge_t edges[] = {
    {"exp", spin_exp, r_exp, 3, 4e-6},
    {"reciprocal", spin_reciprocal, r_recip, 3, 2e-6},
    {"rsqrt", spin_rsqrt, r_rsqrt, 3, 3e-6},
    {"sqrt", spin_sqrt, r_sqrt, 3, 3e-6},
    {"ln", spin_ln, r_ln, 2, 0},
    {"sigmoid", spin_sigmoid, r_sig, 3, 0},
    {"tanh", spin_tanh, r_tanh, 3, 0},
    {"erf", spin_erf, r_erf, 3, 0},
    {"gelu", c_gelu, r_gelu, 3, 0},
    {"gelu_tanh", c_gelut, r_gelut, 3, 0},
};

#define EDGE_MAX 32
/* the edge inputs of function `name` at f; want[i] NAN: the reference */
static int edge_points(const char *name, int f, double *x, double *want)
{
    const double U = ldexp(1.0, -f), BIG = ldexp(1.0, 62 - f) - 1.0, P = ldexp(1.0, f);
    const double R2 = ldexp(1.0, 2 * f - 1), L48 = ldexp(1.0, 48 - f);
    int k = 0;
#define PT(v, w) do { x[k] = (v); want[k] = (w); k++; } while (0)
    if (!strcmp(name, "exp")) {
        PT(-12, NAN); PT(-12 + U, NAN); PT(-11.5, NAN); PT(0, 1); PT(12.5, NAN); PT(13 - U, NAN);
        PT(13, exp(13.0)); PT(BIG, exp(13.0)); PT(-12 - U, 0); PT(-BIG, 0);
    } else if (!strcmp(name, "reciprocal")) {
        for (int s = -1; s <= 1; s += 2) {
            PT(s * U, NAN); PT(s * 2 * U, NAN); PT(s * 3 * U, NAN); PT(s * 1.0, NAN); PT(s * (P - U), NAN);
            PT(s * P, 0); PT(s * BIG, 0);
        }
        PT(0, 0);
    } else if (!strcmp(name, "rsqrt")) {
        PT(U, NAN); PT(2 * U, NAN); PT(1, 1); PT(R2 - U, NAN); PT(R2, 0); PT(BIG, 0); PT(0, 0); PT(-U, 0); PT(-BIG, 0);
    } else if (!strcmp(name, "sqrt")) {
        PT(0, 0); PT(U, NAN); PT(2 * U, NAN); PT(R2 - U, NAN); PT(R2, 0); PT(BIG, 0); PT(-1, 0); PT(-BIG, 0);
    } else if (!strcmp(name, "ln")) {
        PT(U, NAN); PT(2 * U, NAN); PT(1, 0); PT(L48 - U, NAN);
        PT(L48, (48 - f) * LN2); PT(BIG, (48 - f) * LN2); PT(0, -f * LN2); PT(-BIG, -f * LN2);
    } else {
        /* saturating functions: their breakpoints and the encoding's ends */
        double t = !strcmp(name, "sigmoid") ? 13 : !strcmp(name, "tanh") ? 7.5 : !strcmp(name, "erf") ? 4.25 : 5.5;
        PT(t, NAN); PT(t - U, NAN); PT(-t, NAN); PT(-t + U, NAN); PT(0, NAN); PT(BIG, NAN); PT(-BIG, NAN);
        PT(BIG / 2, NAN); PT(-BIG / 2, NAN);
    }
#undef PT
    return k;
}

static int edge_unary(spin_ctx_t *ctx, int party, const edge_t *e)
{
    int f = (int)spin_ctx_frac_bits(ctx);
    double x[EDGE_MAX], want[EDGE_MAX], y[EDGE_MAX];
    int n = edge_points(e->name, f, x, want);
    size_t shape[1] = {(size_t)n};
    spin_tensor_t *a, *r;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 1, shape, &a));
    CHECK_RC(e->call(ctx, a, &r));
    CHECK_RC(spin_reveal_f64(ctx, r, -1, y));
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double w = isnan(want[i]) ? e->ref(x[i]) : want[i];
        double lim = e->abs_ulps * ldexp(1.0, -f) + e->rel * fabs(w), err = fabs(y[i] - w);
        worst = fmax(worst, err / lim);
        if (err > lim)
            FAILF("%s at f = %d: %s(%.17g) = %.17g, want %.17g (error %.3g, bound %.3g)\n", e->name, f, e->name,
                  x[i], y[i], w, err, lim);
    }
    if (party == 0)
        fprintf(stderr, "edges %-10s f=%d N=%d: %d points, worst err/bound %.2f\n", e->name, f, spin_ctx_nparties(ctx),
                n, worst);
    spin_tensor_free(a);
    spin_tensor_free(r);
    return 0;
}

/* Products at their edge |x y| < 2^(62-2f): element-wise at 0.5..0.999 of
 * the bound (both signs, squares at |x| just below 2^(31-f)), and a matmul
 * whose output is inside the range while its partial sums are not (they
 * even wrap around the ring): exact within one ulp. */
static int edge_products(spin_ctx_t *ctx, int party)
{
    int f = (int)spin_ctx_frac_bits(ctx);
    const double B = ldexp(1.0, 62 - 2 * f), h = ldexp(1.0, 31 - f), sc = ldexp(1.0, f);
    enum { M = 256 };
    double x[M], y[M], z[M];
    uint64_t s = 99;
    for (int i = 0; i < M; i++) {
        double mag = (0.5 + 0.499 * unif(&s)) * B, a = h * (0.25 + 0.75 * unif(&s));
        x[i] = round(a * sc) / sc;
        y[i] = floor(mag / x[i] * sc) / sc * (i % 2 ? -1 : 1);
        if (i % 4 == 3) { x[i] = (h - ldexp(1.0, -f)) * (i % 8 == 3 ? -1 : 1); y[i] = x[i]; }
    }
    size_t shape[1] = {M};
    spin_tensor_t *ta, *tb, *r;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 1, shape, &ta));
    CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? y : NULL, 1, shape, &tb));
    CHECK_RC(spin_mul(ctx, ta, tb, &r));
    CHECK_RC(spin_reveal_f64(ctx, r, -1, z));
    for (int i = 0; i < M; i++)
        if (fabs(z[i] - x[i] * y[i]) > 1.01 / sc)
            FAILF("mul at f = %d: %.17g * %.17g = %.17g, want %.17g (|xy| < 2^(62-2f) = %g)\n", f, x[i], y[i], z[i],
                  x[i] * y[i], B);
    spin_tensor_free(r);
    CHECK_RC(spin_square(ctx, ta, &r));
    CHECK_RC(spin_reveal_f64(ctx, r, -1, z));
    for (int i = 0; i < M; i++)
        if (fabs(z[i] - x[i] * x[i]) > 1.01 / sc)
            FAILF("square at f = %d: %.17g^2 = %.17g, want %.17g\n", f, x[i], z[i], x[i] * x[i]);
    spin_tensor_free(r);
    spin_tensor_free(ta);
    spin_tensor_free(tb);
    /* [2 x 3] x [3 x 1]: terms 1.5 B, 1.5 B, -2.5 B (partial sum 3 B, beyond 2^(63-2f)) and
     * 1.5 B, 1.5 B, -3.999 B */
    double A[6] = {h, h, h, h, h, h}, W[3] = {1.5 * h, 1.5 * h, -2.5 * h},
           W2[3] = {1.5 * h, 1.5 * h, round(-3.999 * h * sc) / sc};
    double got[2], got2[2];
    size_t as[2] = {2, 3}, ws[2] = {3, 1};
    spin_tensor_t *tA, *tW, *tW2, *o, *o2;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? A : NULL, 2, as, &tA));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? W : NULL, 2, ws, &tW));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? W2 : NULL, 2, ws, &tW2));
    CHECK_RC(spin_matmul(ctx, tA, 0, tW, 0, &o));
    CHECK_RC(spin_matmul(ctx, tA, 0, tW2, 0, &o2));
    CHECK_RC(spin_reveal_f64(ctx, o, -1, got));
    CHECK_RC(spin_reveal_f64(ctx, o2, -1, got2));
    for (int i = 0; i < 2; i++) {
        double w1 = h * (W[0] + W[1] + W[2]), w2 = h * (W2[0] + W2[1] + W2[2]);
        if (fabs(got[i] - w1) > 1.01 / sc || fabs(got2[i] - w2) > 1.01 / sc)
            FAILF("matmul at f = %d with partial sums beyond the range: %.17g, %.17g, want %.17g, %.17g\n", f,
                  got[i], got2[i], w1, w2);
    }
    spin_tensor_free(tA);
    spin_tensor_free(tW);
    spin_tensor_free(tW2);
    spin_tensor_free(o);
    spin_tensor_free(o2);
    if (party == 0)
        fprintf(stderr, "edges products f=%d N=%d: mul/square at |xy| up to 0.999 2^%d, matmul with partial sums "
                        "of 3 2^%d: within 1 ulp\n", f, spin_ctx_nparties(ctx), 62 - 2 * f, 62 - 2 * f);
    return 0;
}

/* softmax and log-softmax on the encoding's extremes and rows of the
 * longest length; attention at L max|V| and max|V| near their bounds. */
static int edge_rows(spin_ctx_t *ctx, int party)
{
    int f = (int)spin_ctx_frac_bits(ctx);
    const double BIG = ldexp(1.0, 62 - f) - 1.0, sc = ldexp(1.0, f);
    for (int lg = 0; lg < 2; lg++) {
        /* row 0: +-BIG (BIG / 2 for log_softmax, whose outputs x - max must stay encodable) and zeros;
         * row 1: constant -BIG (/ 2); row 2 of the longest length 32768: N(0, 4) */
        enum { L = 8 };
        const int LL = small ? 1024 : 32768;   /* the longest row (valgrind: shorter) */
        double e = lg ? BIG / 2 : BIG, x[3 * L], y[3 * L], w[3 * L];
        for (int j = 0; j < L; j++) {
            x[j] = j == 2 ? e : j % 2 ? -e : 0;
            x[L + j] = -e;
        }
        for (int j = 0; j < 2 * L; j++) {
            int r = j / L;
            double mx = -1e300, sum = 0;
            for (int i = 0; i < L; i++) mx = fmax(mx, x[r * L + i]);
            for (int i = 0; i < L; i++) sum += exp(x[r * L + i] - mx);
            w[j] = lg ? x[j] - mx - log(sum) : exp(x[j] - mx) / sum;
        }
        size_t shape[2] = {2, L};
        spin_tensor_t *a, *o;
        CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 2, shape, &a));
        CHECK_RC((lg ? spin_log_softmax : spin_softmax)(ctx, a, 1, &o));
        CHECK_RC(spin_reveal_f64(ctx, o, -1, y));
        for (int j = 0; j < 2 * L; j++)
            if (fabs(y[j] - w[j]) > (lg ? 6e-5 : 1e-4))
                FAILF("%s at f = %d on the encoding's ends: element %d = %.10g, want %.10g\n",
                      lg ? "log_softmax" : "softmax", f, j, y[j], w[j]);
        spin_tensor_free(a);
        spin_tensor_free(o);
        double *xl = malloc(LL * sizeof *xl), *yl = malloc(LL * sizeof *yl);
        uint64_t s = 5 + (uint64_t)lg;
        double mx = -1e300, sum = 0, emax = 0;
        for (int j = 0; j < LL; j++) mx = fmax(mx, xl[j] = round(2.0 * gauss(&s) * sc) / sc);
        for (int j = 0; j < LL; j++) sum += exp(xl[j] - mx);
        size_t ls[2] = {1, LL};
        CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? xl : NULL, 2, ls, &a));
        CHECK_RC((lg ? spin_log_softmax : spin_softmax)(ctx, a, 1, &o));
        CHECK_RC(spin_reveal_f64(ctx, o, -1, yl));
        for (int j = 0; j < LL; j++)
            emax = fmax(emax, fabs(yl[j] - (lg ? xl[j] - mx - log(sum) : exp(xl[j] - mx) / sum)));
        if (emax > (lg ? 6e-5 : 1e-4))
            FAILF("%s at f = %d on a row of %d: max error %.3g\n", lg ? "log_softmax" : "softmax", f, LL, emax);
        spin_tensor_free(a);
        spin_tensor_free(o);
        free(xl);
        free(yl);
    }
    /* attention, delayed: constant rows (s = L, E V = L V) at L max|V| and max|V| just below
     * 2^(58-2f) and 2^(34-f); the tail holds 1/s to 2^-24: error about L 2^-24 max|V| */
    {
        int L = 1 << (24 - f), T = 2, DV = 2;
        double vmax = floor(0.9 * ldexp(1.0, 34 - f)), *S = calloc((size_t)T * L, sizeof *S),
               *V = malloc((size_t)L * DV * sizeof *V), got[4];
        for (int j = 0; j < L * DV; j++) V[j] = j % DV ? -vmax : vmax;
        for (int j = 0; j < L; j++) S[L + j] = j % 3 ? 1.0 : 0.0;   /* row 1: two levels */
        size_t ss[2] = {(size_t)T, (size_t)L}, vs[2] = {(size_t)L, (size_t)DV};
        spin_tensor_t *tS, *tV, *r;
        CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? S : NULL, 2, ss, &tS));
        CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? V : NULL, 2, vs, &tV));
        CHECK_RC(spin_attention_softmax(ctx, tS, tV, NULL, &r));
        CHECK_RC(spin_reveal_f64(ctx, r, -1, got));
        double bound = 2.0 * L * ldexp(vmax, -24), emax = 0;
        for (int i = 0; i < T * DV; i++) emax = fmax(emax, fabs(got[i] - (i % DV ? -vmax : vmax)));
        if (party == 0)
            fprintf(stderr, "edges attention f=%d N=%d: L = %d, |V| = %g (L |V| = 2^%.2f): max err %.3g (bound %.3g)\n",
                    f, spin_ctx_nparties(ctx), L, vmax, log2(L * vmax), emax, bound);
        if (emax > bound) FAILF("attention at f = %d, L = %d, |V| = %g: error %.3g above %.3g\n", f, L, vmax, emax, bound);
        spin_tensor_free(tS);
        spin_tensor_free(tV);
        spin_tensor_free(r);
        free(S);
        free(V);
    }
    return 0;
}

/* LayerNorm at its edge d^2 (var + eps) < 2^(62-2f) (0.9 of it: a row's
 * variance is rescaled to that exactly) and with a mean near the largest a
 * float64 reference can check (2^(52-f)). */
static int edge_layernorm(spin_ctx_t *ctx, int party)
{
    int f = (int)spin_ctx_frac_bits(ctx);
    double e, er;
    const size_t ds[2] = {64, 768};
    for (int k = 0; k < 2; k++) {
        size_t D = ds[k], R = 4;
        double sd = sqrt(0.9 * ldexp(1.0, 62 - 2 * f)) / (double)D;
        for (int aff = 0; aff < 2; aff++) {
            CHECK_RC(ln_rows(ctx, party, R, D, 0.0, -sd, aff, 1e-5, 31 + k, &e, &er));
            if (party == 0)
                fprintf(stderr, "edges layernorm f=%d N=%d d=%zu%s sd %.4g (d^2 var = 0.9 2^%d): max err %.2e "
                                "(err/bound %.2f)\n", f, spin_ctx_nparties(ctx), D, aff ? " affine" : "", sd,
                        62 - 2 * f, e, er);
            if (er > 1) FAILF("layernorm at f = %d, d = %zu, sd %g: max error %.3g, %.2f of the bound\n", f, D, sd, e, er);
        }
        CHECK_RC(ln_rows(ctx, party, R, D, ldexp(1.0, 52 - f) * 0.75, 4.0, 1, 1e-5, 41 + k, &e, &er));
        if (party == 0)
            fprintf(stderr, "edges layernorm f=%d N=%d d=%zu affine mean 0.75 2^%d: max err %.2e (err/bound %.2f)\n",
                    f, spin_ctx_nparties(ctx), D, 52 - f, e, er);
        if (e > 1e-3 || er > 1) FAILF("layernorm at f = %d, d = %zu, mean 2^%d: max error %.3g\n", f, D, 52 - f, e);
    }
    return 0;
}

static int p_edges(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) CHECK_RC(edge_unary(ctx, party, &edges[i]));
    CHECK_RC(edge_products(ctx, party));
    CHECK_RC(edge_rows(ctx, party));
    CHECK_RC(edge_layernorm(ctx, party));
    return 0;
}

START_TEST(t_ranges)
{
    for (int f = 16; f <= 18; f += 2)
        for (int N = 2; N <= 3; N++) {
            spin_ctx_opts_t o = base_opts();
            o.frac_bits = (unsigned)f;
            int rc = spin_run_local(N, scheme, &o, p_edges, NULL);
            ck_assert_msg(rc == 0, "documented ranges at f = %d, N = %d: %s", f, N, spin_strerror(rc));
        }
}
END_TEST

/* ---- the warning about f whose products are short ----------------------------- */

typedef struct fwarn {
    const char *frac_bits;     /* SPIN_FRAC_BITS as the runtime's hook returns it */
    int warned;                /* warnings naming the product bound (atomic) */
    int other;
} fwarn_t;

static void fw_sink(void *u, spin_log_level_t lv, const char *msg)
{
    fwarn_t *w = u;
    if (lv == SPIN_LOG_WARN && strstr(msg, "fractional bits: a product x*y is exact only while"))
        __atomic_add_fetch(&w->warned, 1, __ATOMIC_SEQ_CST);
    else if (lv <= SPIN_LOG_WARN)
        fprintf(stderr, "%s\n", msg);
    if (lv == SPIN_LOG_WARN && strstr(msg, "f = 24 ") &&
        !(strstr(msg, "2^14 = 16384") && strstr(msg, "|x| < 2^7 = 128")))
        __atomic_add_fetch(&w->other, 1, __ATOMIC_SEQ_CST);
}

static const char *fw_env(void *u, const char *name)
{
    return strcmp(name, "SPIN_FRAC_BITS") == 0 ? ((const fwarn_t *)u)->frac_bits : getenv(name);
}

static int p_fwarn(spin_ctx_t *ctx, int party, void *arg)
{
    const fwarn_t *w = arg;
    if ((int)spin_ctx_frac_bits(ctx) != atoi(w->frac_bits)) FAILF("f = %u, injected %s\n", spin_ctx_frac_bits(ctx), w->frac_bits);
    /* 100 * 100 = 10^4 is exact at f = 24 (below 2^14) */
    double x[2] = {100, -3.5}, y[2];
    size_t sh[1] = {2};
    spin_tensor_t *a, *r;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 1, sh, &a));
    CHECK_RC(spin_mul(ctx, a, a, &r));
    CHECK_RC(spin_reveal_f64(ctx, r, -1, y));
    if (fabs(y[0] - 1e4) > 1e-4 || fabs(y[1] - 12.25) > 1e-4) FAILF("products at f = %s: %g %g\n", w->frac_bits, y[0], y[1]);
    spin_tensor_free(a);
    spin_tensor_free(r);
    return 0;
}

START_TEST(t_frac_warning)
{
    const char *fs[2] = {"24", "18"};
    for (int i = 0; i < 2; i++) {
        fwarn_t w = {fs[i], 0, 0};
        spin_logger_t lg = {SPIN_LOG_WARN, NULL, fw_sink, &w};
        spin_runtime_opts_t ro;
        memset(&ro, 0, sizeof ro);
        ro.struct_size = sizeof ro;
        ro.log = &lg;
        ro.getenv = fw_env;
        ro.env_ctx = &w;
        spin_ctx_opts_t o = base_opts();
        o.frac_bits = 0;   /* from SPIN_FRAC_BITS */
        o.runtime = &ro;
        int rc = spin_run_local(2, scheme, &o, p_fwarn, &w);
        ck_assert_msg(rc == 0, "SPIN_FRAC_BITS=%s: %s", fs[i], spin_strerror(rc));
        /* one warning per context: 2 parties and the dealer at f = 24, none at f = 18 */
        int want = i == 0 ? 3 : 0;
        ck_assert_msg(w.warned == want, "SPIN_FRAC_BITS=%s: %d product-range warnings, want %d", fs[i], w.warned, want);
        ck_assert_msg(w.other == 0, "SPIN_FRAC_BITS=24: the warning does not name 2^14 = 16384 and |x| < 2^7 = 128");
    }
}
END_TEST

START_TEST(t_attention) { run_all_n(p_attention, NULL); }
END_TEST

START_TEST(t_recip) { run_unary("reciprocal"); run_unary("reciprocal-"); }
END_TEST
START_TEST(t_softmax) { run_softmax(0); }
END_TEST
START_TEST(t_rsqrt) { run_unary("rsqrt"); run_unary("sqrt"); }
END_TEST
START_TEST(t_layernorm) { run_layernorm(); }
END_TEST
START_TEST(t_exp) { run_unary("exp"); }
END_TEST
START_TEST(t_sigmoid) { run_unary("sigmoid"); }
END_TEST
START_TEST(t_tanh) { run_unary("tanh"); }
END_TEST
START_TEST(t_erf) { run_unary("erf"); }
END_TEST
START_TEST(t_gelu) { run_unary("gelu"); run_unary("gelu_tanh"); }
END_TEST
START_TEST(t_ln) { run_unary("ln"); run_unary("ln-near1"); }
END_TEST
START_TEST(t_log_softmax) { run_softmax(1); }
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1) scheme = argv[1];
    const char *sc = getenv("SPIN_TEST_SCALE");
    small = sc && !strcmp(sc, "small");
    spin_runtime_t *rt;
    spin_backend_t be;
    rt = tu_runtime_for("tcp", SPIN_PLUGIN_TRANSPORT, &be);
    spin_runtime_close(rt);
    rt = tu_runtime_for("cpu", SPIN_PLUGIN_COMPUTE, &be);
    spin_runtime_close(rt);
    Suite *s = suite_create("functions");
    TCase *tc = tcase_create("functions");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, t_recip);
    tcase_add_test(tc, t_softmax);
    tcase_add_test(tc, t_rsqrt);
    tcase_add_test(tc, t_layernorm);
    tcase_add_test(tc, t_exp);
    tcase_add_test(tc, t_sigmoid);
    tcase_add_test(tc, t_tanh);
    tcase_add_test(tc, t_erf);
    tcase_add_test(tc, t_gelu);
    tcase_add_test(tc, t_ln);
    tcase_add_test(tc, t_log_softmax);
    tcase_add_test(tc, t_attention);
    tcase_add_test(tc, t_layernorm_mean);
    tcase_add_test(tc, t_ranges);
    tcase_add_test(tc, t_frac_warning);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    (void)run_all_n;
    return failed ? 1 : 0;
}
