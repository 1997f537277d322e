/* test_batchnorm.c - BatchNorm2d (spin/nn.h) on real multi-party runs
 * (N = 2, 3, 4 + dealer over ipc://) against float64 with PyTorch's
 * semantics: training forward (y and the running statistics, the running
 * variance unbiased), backward (dx, dgamma, dbeta), eval forward from the
 * running statistics, the documented round counts, and refused shapes.
 * Inputs include a constant channel (var = 0: y = beta, eps alone), a
 * channel with a large mean and one with a tiny variance. */
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
#define EPS 1e-5
#define MOM 0.1

#define CHECK_RC(expr) do { int rc_ = (expr); if (rc_) { fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #expr, spin_strerror(rc_)); return rc_; } } while (0)
#define FAILF(...) do { fprintf(stderr, __VA_ARGS__); return SPIN_ERR_INTERNAL; } while (0)

static double q(double x) { return round(x * 65536.0) / 65536.0; }

static double urand(uint64_t *s) { return (double)(tu_rand64(s) >> 11) / 9007199254740992.0 * 2.0 - 1.0; }

/* Largest error seen per quantity (party 0, printed at the end). */
static double worst[16], worst_share[16];
static const char *wname[16];

static _Thread_local int me_party;   /* only party 0 records */

/* |got - want| <= tol + rel |want| */
static int cmpr(int slot, const char *what, const double *got, const double *want, size_t n, double tol, double rel)
{
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]), b = tol + rel * fabs(want[i]);
        if (!(e <= b)) FAILF("%s[%zu] = %.9g, want %.9g (bound %.3g)\n", what, i, got[i], want[i], b);
        if (me_party == 0 && e / b > worst_share[slot]) worst_share[slot] = e / b;
        if (me_party == 0 && e > worst[slot]) worst[slot] = e;
    }
    if (me_party == 0) wname[slot] = what;
    return 0;
}

static int cmp(int slot, const char *what, const double *got, const double *want, size_t n, double tol)
{
    return cmpr(slot, what, got, want, n, tol, 0.0);
}

static int reveal(spin_ctx_t *ctx, spin_tensor_t *t, double *out)
{
    int rc = spin_reveal_f64(ctx, t, -1, out);
    spin_tensor_free(t);
    return rc;
}

static uint64_t rounds_now(spin_ctx_t *ctx)
{
    spin_comm_stats_t s;
    return spin_ctx_stats(ctx, -1, &s) ? 0 : s.rounds;
}

/* The test problem: x [NB][C][H][W] with per-channel scales and offsets;
 * channel 0 is constant when `flat`. */
typedef struct prob {
    size_t NB, C, H, W;
    int flat;
    uint64_t seed;
} prob_t;

typedef struct data {
    size_t n, C, M;
    double *x, *gamma, *beta, *rm, *rv, *dy;
} data_t;

static void make(const prob_t *p, data_t *d)
{
    size_t HW = p->H * p->W;
    d->C = p->C;
    d->M = p->NB * HW;
    d->n = p->NB * p->C * HW;
    d->x = malloc(d->n * sizeof(double));
    d->dy = malloc(d->n * sizeof(double));
    d->gamma = malloc(p->C * sizeof(double));
    d->beta = malloc(p->C * sizeof(double));
    d->rm = malloc(p->C * sizeof(double));
    d->rv = malloc(p->C * sizeof(double));
    uint64_t s = p->seed;
    static const double scale[4] = {1.0, 3.0, 0.02, 8.0}, off[4] = {0.5, -2.0, 0.1, 40.0};
    for (size_t c = 0; c < p->C; c++) {
        d->gamma[c] = q(1.0 + 0.5 * urand(&s));
        d->beta[c] = q(0.5 * urand(&s));
        d->rm[c] = q(0.2 * urand(&s));
        d->rv[c] = q(1.0 + 0.5 * urand(&s));
    }
    for (size_t i = 0; i < d->n; i++) {
        size_t c = (i / HW) % p->C;
        d->x[i] = (p->flat && c == 0) ? 0.75 : q(off[c % 4] + scale[c % 4] * urand(&s));
        d->dy[i] = q(0.5 * urand(&s));
    }
}

static void unmake(data_t *d)
{
    free(d->x); free(d->dy); free(d->gamma); free(d->beta); free(d->rm); free(d->rv);
}

/* float64 reference, PyTorch's rules, and per-element bounds from the
 * error model of spin/nn.h: xhat carries ~2 ulp inv (the mean's truncation
 * scaled by inv = 1/sqrt(var + eps)) plus the rsqrt's relative error
 * (bounded by 2e-5 here); everything else is a few ulp of truncation. */
typedef struct ref {
    double *y, *ye, *dx, *by, *bdx;
    double rm[8], rv[8], dg[8], db[8], bdg[8];
} ref_t;

static void reference(const prob_t *p, const data_t *d, ref_t *r)
{
    size_t HW = p->H * p->W, M = d->M;
    for (size_t c = 0; c < p->C; c++) {
        double s = 0, ss = 0;
        for (size_t b = 0; b < p->NB; b++)
            for (size_t j = 0; j < HW; j++) s += d->x[(b * p->C + c) * HW + j];
        double mean = s / (double)M;
        for (size_t b = 0; b < p->NB; b++)
            for (size_t j = 0; j < HW; j++) {
                double t = d->x[(b * p->C + c) * HW + j] - mean;
                ss += t * t;
            }
        double var = ss / (double)M, inv = 1.0 / sqrt(var + EPS), ga = d->gamma[c], k = ga * inv;
        r->rm[c] = (1 - MOM) * d->rm[c] + MOM * mean;
        r->rv[c] = (1 - MOM) * d->rv[c] + MOM * ss / (double)(M - 1);
        double sdy = 0, sdyx = 0, bdg = 2 * ULP;
        for (size_t b = 0; b < p->NB; b++)
            for (size_t j = 0; j < HW; j++) {
                size_t i = (b * p->C + c) * HW + j;
                double xh = (d->x[i] - mean) * inv, exh = 2 * ULP * inv + 2e-5 * fabs(xh);
                r->y[i] = ga * xh + d->beta[c];
                r->by[i] = 4 * ULP + fabs(ga) * exh;
                r->ye[i] = ga * (d->x[i] - d->rm[c]) / sqrt(d->rv[c] + EPS) + d->beta[c];
                sdy += d->dy[i];
                sdyx += d->dy[i] * xh;
                bdg += fabs(d->dy[i]) * exh + ULP;
            }
        r->dg[c] = sdyx;
        r->db[c] = sdy;
        r->bdg[c] = bdg;
        double mdy = sdy / (double)M, mdg = sdyx / (double)M;
        for (size_t b = 0; b < p->NB; b++)
            for (size_t j = 0; j < HW; j++) {
                size_t i = (b * p->C + c) * HW + j;
                double xh = (d->x[i] - mean) * inv, g = d->dy[i] * ga;
                r->dx[i] = inv / (double)M * ((double)M * g - ga * sdy - xh * ga * sdyx);
                double exh = 2 * ULP * inv + 2e-5 * fabs(xh);
                r->bdx[i] = 8 * ULP + fabs(k) * (exh * fabs(mdg) + 4 * ULP + bdg / (double)M * fabs(xh)) +
                            2e-5 * fabs(k) * (fabs(d->dy[i]) + fabs(mdy) + fabs(xh * mdg));
            }
    }
}

/* |got - want| <= bound[i] (the error model); the largest error and the
 * largest share of its bound are recorded */
static int cmpb(int slot, const char *what, const double *got, const double *want, const double *bound, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]);
        if (!(e <= bound[i])) FAILF("%s[%zu] = %.9g, want %.9g (bound %.3g)\n", what, i, got[i], want[i], bound[i]);
        if (me_party == 0 && e > worst[slot]) worst[slot] = e;
        if (me_party == 0 && e / bound[i] > worst_share[slot]) worst_share[slot] = e / bound[i];
    }
    if (me_party == 0) wname[slot] = what;
    return 0;
}

static int run_prob(spin_ctx_t *ctx, int party, const prob_t *p)
{
    data_t d;
    me_party = party;
    make(p, &d);
    size_t n = d.n, C = d.C;
    size_t xs[4] = {p->NB, p->C, p->H, p->W}, cs[1] = {C};
    spin_tensor_t *tx, *tg, *tb, *trm, *trv, *tdy, *y, *ye, *dx, *dg, *db, *dg2, *db2;
    spin_bn_cache_t *cache;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? d.x : NULL, 4, xs, &tx));
    CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? d.gamma : NULL, 1, cs, &tg));
    CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? d.beta : NULL, 1, cs, &tb));
    CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? d.rm : NULL, 1, cs, &trm));
    CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? d.rv : NULL, 1, cs, &trv));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? d.dy : NULL, 4, xs, &tdy));
    /* eval first: it reads the running statistics before the update */
    uint64_t r0 = rounds_now(ctx);
    CHECK_RC(spin_batchnorm2d_eval(ctx, tx, tg, tb, trm, trv, EPS, &ye));
    uint64_t r1 = rounds_now(ctx);
    CHECK_RC(spin_batchnorm2d_forward(ctx, tx, tg, tb, trm, trv, MOM, EPS, &y, &cache));
    uint64_t r2 = rounds_now(ctx);
    CHECK_RC(spin_batchnorm2d_backward(ctx, cache, tdy, &dx, &dg, &db));
    uint64_t r3 = rounds_now(ctx);
    CHECK_RC(spin_batchnorm2d_backward(ctx, cache, tdy, NULL, &dg2, &db2));
    uint64_t r4 = rounds_now(ctx);
    if (r1 - r0 != 24) FAILF("eval took %llu rounds, documented 24\n", (unsigned long long)(r1 - r0));
    if (r2 - r1 != 27) FAILF("training forward took %llu rounds, documented 27\n", (unsigned long long)(r2 - r1));
    if (r3 - r2 != 4) FAILF("backward took %llu rounds, documented 4\n", (unsigned long long)(r3 - r2));
    if (r4 - r3 != 2) FAILF("backward without dx took %llu rounds, documented 2\n", (unsigned long long)(r4 - r3));
    double *gy = malloc(n * 8), *gye = malloc(n * 8), *gdx = malloc(n * 8);
    double grm[8], grv[8], gdg[8], gdb[8], gdg2[8], gdb2[8];
    ref_t r;
    r.y = malloc(n * 8); r.ye = malloc(n * 8); r.dx = malloc(n * 8); r.by = malloc(n * 8); r.bdx = malloc(n * 8);
    CHECK_RC(reveal(ctx, y, gy));
    CHECK_RC(reveal(ctx, ye, gye));
    CHECK_RC(reveal(ctx, dx, gdx));
    CHECK_RC(reveal(ctx, dg, gdg));
    CHECK_RC(reveal(ctx, db, gdb));
    CHECK_RC(reveal(ctx, dg2, gdg2));
    CHECK_RC(reveal(ctx, db2, gdb2));
    CHECK_RC(spin_reveal_f64(ctx, trm, -1, grm));
    CHECK_RC(spin_reveal_f64(ctx, trv, -1, grv));
    reference(p, &d, &r);
    CHECK_RC(cmpb(0, "train y", gy, r.y, r.by, n));
    CHECK_RC(cmp(1, "running_mean", grm, r.rm, C, 4 * ULP));
    CHECK_RC(cmpr(2, "running_var", grv, r.rv, C, 4 * ULP, 1e-4));
    /* eval: 1e-5 relative of the rsqrt and eps, ulp of the products */
    CHECK_RC(cmpr(3, "eval y", gye, r.ye, n, 8 * ULP, 2e-5));
    CHECK_RC(cmpb(4, "dx", gdx, r.dx, r.bdx, n));
    CHECK_RC(cmpb(5, "dgamma", gdg, r.dg, r.bdg, C));
    CHECK_RC(cmp(6, "dbeta (exact)", gdb, r.db, C, 1e-9));
    CHECK_RC(cmp(7, "dgamma (no dx)", gdg2, gdg, C, 2 * ULP));
    CHECK_RC(cmp(8, "dbeta (no dx)", gdb2, gdb, C, 1e-9));
    free(r.y); free(r.ye); free(r.dx); free(r.by); free(r.bdx);
    spin_bn_cache_free(cache);
    spin_tensor_free(tx); spin_tensor_free(tg); spin_tensor_free(tb);
    spin_tensor_free(trm); spin_tensor_free(trv); spin_tensor_free(tdy);
    free(gy); free(gye); free(gdx);
    unmake(&d);
    return 0;
}

static int p_small(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    prob_t p = {2, 4, 4, 5, 0, 1};
    return run_prob(ctx, party, &p);
}

static int p_flat(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    /* a constant channel, M = 3 * 7 * 7 = 147 */
    prob_t p = {3, 4, 7, 7, 1, 2};
    return run_prob(ctx, party, &p);
}

static int p_larger(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    /* M = 8 * 13 * 13 = 1352 per channel (AlexNet's first BatchNorm at batch 8) */
    prob_t p = {8, 3, 13, 13, 0, 3};
    return run_prob(ctx, party, &p);
}

/* ---- refused arguments ------------------------------------------------------- */

static int p_errors(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    (void)party;
    size_t xs[4] = {2, 3, 2, 2}, x3[3] = {2, 3, 4}, c3[1] = {3}, c4[1] = {4}, x1[4] = {1, 3, 1, 1};
    spin_tensor_t *x, *x3t, *x1t, *g, *g4, *r = NULL, *dg = NULL, *db = NULL;
    spin_bn_cache_t *cache = NULL;
    CHECK_RC(spin_tensor_zeros(ctx, 4, xs, &x));
    CHECK_RC(spin_tensor_zeros(ctx, 3, x3, &x3t));
    CHECK_RC(spin_tensor_zeros(ctx, 4, x1, &x1t));
    CHECK_RC(spin_tensor_zeros(ctx, 1, c3, &g));
    CHECK_RC(spin_tensor_zeros(ctx, 1, c4, &g4));
    if (spin_batchnorm2d_forward(ctx, x3t, g, g, NULL, NULL, MOM, EPS, &r, NULL) != SPIN_ERR_INVAL)
        FAILF("forward accepted a 3-d input\n");
    if (spin_batchnorm2d_forward(ctx, x, g4, g, NULL, NULL, MOM, EPS, &r, NULL) != SPIN_ERR_INVAL)
        FAILF("forward accepted gamma of the wrong length\n");
    if (spin_batchnorm2d_forward(ctx, x, g, g, g4, g4, MOM, EPS, &r, NULL) != SPIN_ERR_INVAL)
        FAILF("forward accepted running statistics of the wrong length\n");
    if (spin_batchnorm2d_forward(ctx, x, g, g, g, NULL, MOM, EPS, &r, NULL) != SPIN_ERR_INVAL)
        FAILF("forward accepted one running statistic without the other\n");
    if (spin_batchnorm2d_forward(ctx, x, g, g, NULL, NULL, MOM, 0.0, &r, NULL) != SPIN_ERR_INVAL)
        FAILF("forward accepted eps = 0\n");
    if (spin_batchnorm2d_forward(ctx, x1t, g, g, NULL, NULL, MOM, EPS, &r, NULL) != SPIN_ERR_INVAL)
        FAILF("forward accepted one value per channel\n");
    if (spin_batchnorm2d_eval(ctx, x, g, g, NULL, NULL, EPS, &r) != SPIN_ERR_INVAL)
        FAILF("eval accepted missing running statistics\n");
    if (spin_batchnorm2d_eval(ctx, x, g, g4, g, g, EPS, &r) != SPIN_ERR_INVAL)
        FAILF("eval accepted beta of the wrong length\n");
    /* a valid forward (all zeros), then a backward with dy of another shape */
    CHECK_RC(spin_batchnorm2d_forward(ctx, x, g, g, NULL, NULL, MOM, EPS, &r, &cache));
    if (spin_batchnorm2d_backward(ctx, cache, x1t, NULL, &dg, &db) != SPIN_ERR_INVAL)
        FAILF("backward accepted dy of another shape\n");
    if (spin_batchnorm2d_backward(ctx, NULL, x, NULL, &dg, &db) != SPIN_ERR_INVAL)
        FAILF("backward accepted no cache\n");
    double out[24];
    CHECK_RC(reveal(ctx, r, out));
    for (int i = 0; i < 24; i++)
        if (out[i] != 0.0) FAILF("batchnorm of zeros with gamma = beta = 0 gave %g\n", out[i]);
    spin_bn_cache_free(cache);
    spin_tensor_free(x); spin_tensor_free(x3t); spin_tensor_free(x1t); spin_tensor_free(g); spin_tensor_free(g4);
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

START_TEST(bn_small) { run_all_n(p_small); }
END_TEST
START_TEST(bn_constant_channel) { run_all_n(p_flat); }
END_TEST
START_TEST(bn_larger) { run_all_n(p_larger); }
END_TEST
START_TEST(bn_errors) { run_all_n(p_errors); }
END_TEST

int main(void)
{
    spin_runtime_t *rt;
    spin_backend_t be;
    rt = tu_runtime_for("tcp", SPIN_PLUGIN_TRANSPORT, &be);
    spin_runtime_close(rt);
    rt = tu_runtime_for("cpu", SPIN_PLUGIN_COMPUTE, &be);
    spin_runtime_close(rt);
    Suite *s = suite_create("batchnorm");
    TCase *tc = tcase_create("batchnorm");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, bn_small);
    tcase_add_test(tc, bn_constant_channel);
    tcase_add_test(tc, bn_larger);
    tcase_add_test(tc, bn_errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (int i = 0; i < 16; i++)
        if (wname[i]) printf("max |error| %-16s %.3g (%.2f of its bound)\n", wname[i], worst[i], worst_share[i]);
    return failed ? 1 : 0;
}
