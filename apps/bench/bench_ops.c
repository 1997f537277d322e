/* bench_ops.c - `spin-bench ops`: secure operations with the shapes and
 * input distributions of the project's target table (TARGETS.md, kept beside
 * the repository), N parties + dealer as threads over the
 * real transport (ipc:// by default; --scheme tcp for loopback TCP).
 * Reports the median ms per call after one warm-up, bytes sent by party 0
 * and by all parties (dealer traffic included: party 0's requests; the
 * dealer's corrections are counted as received by party 0 and listed
 * separately), rounds, and mean/max absolute error against float64. */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/functions.h>
#include <spin/mpc.h>
#include <spin/reduce.h>

#include "bench.h"

#define MAXP 16

typedef struct ops_run ops_run_t;

/* One row of the target table: inputs, the secure operation and its float64
 * reference.  x [64,128] is N(0,1)*2 (party 0) or, for the positive-input
 * functions, U(0.1,10); the second operand (party 1) is y [64,128] ~ N(0,1)*2
 * or W [128,128] ~ N(0,1)/sqrt(128). */
enum { IN_X, IN_POS };
enum { SEC_NONE, SEC_Y, SEC_W };
typedef struct op_def {
    const char *name;
    int input, second;
    size_t out_n;
    int (*run)(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z);
    void (*ref)(const double *x, const double *y, double *out);
} op_def_t;

#define R 64
#define C 128

static int run_mul(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { return spin_mul(c, x, y, z); }
static int run_matmul(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { return spin_matmul(c, x, 0, y, 0, z); }
static int run_ltz(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { (void)y; return spin_ltz(c, x, z); }
static int run_relu(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { (void)y; return spin_relu(c, x, z, NULL); }
static int run_max(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { (void)y; return spin_max(c, x, 1, z, NULL); }
static int run_maxpool(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z)
{
    (void)y;
    size_t s4[4] = {1, 1, R, C};
    spin_pool2d_params_t p = {2, 2, 2, 2, 0, 0};
    spin_tensor_t *v;
    int rc = spin_tensor_reshape(x, 4, s4, &v);
    if (!rc) rc = spin_maxpool2d(c, v, &p, z, NULL);
    spin_tensor_free(v);
    return rc;
}
static int run_exp(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { (void)y; return spin_exp(c, x, z); }
static int run_recip(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { (void)y; return spin_reciprocal(c, x, z); }
static int run_ln(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { (void)y; return spin_ln(c, x, z); }
static int run_sqrt(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { (void)y; return spin_sqrt(c, x, z); }
static int run_rsqrt(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { (void)y; return spin_rsqrt(c, x, z); }
static int run_sigmoid(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { (void)y; return spin_sigmoid(c, x, z); }
static int run_tanh(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { (void)y; return spin_tanh(c, x, z); }
static int run_erf(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { (void)y; return spin_erf(c, x, z); }
static int run_softmax(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { (void)y; return spin_softmax(c, x, 1, z); }
static int run_gelu(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { (void)y; return spin_gelu(c, x, SPIN_GELU_ERF, z); }
static int run_layernorm(spin_ctx_t *c, const spin_tensor_t *x, const spin_tensor_t *y, spin_tensor_t **z) { (void)y; return spin_layernorm(c, x, NULL, NULL, 1e-5, z); }

static void ref_mul(const double *x, const double *y, double *o) { for (size_t i = 0; i < R * C; i++) o[i] = x[i] * y[i]; }
static void ref_matmul(const double *x, const double *w, double *o)
{
    for (size_t i = 0; i < R; i++)
        for (size_t j = 0; j < C; j++) {
            double acc = 0;
            for (size_t k = 0; k < C; k++) acc += x[i * C + k] * w[k * C + j];
            o[i * C + j] = acc;
        }
}
#define EW_REF(nm, expr) static void nm(const double *x, const double *y, double *o) { (void)y; for (size_t i = 0; i < R * C; i++) { double v = x[i]; o[i] = (expr); } }
EW_REF(ref_ltz, v < 0 ? 1.0 : 0.0)
EW_REF(ref_relu, v > 0 ? v : 0.0)
EW_REF(ref_exp, exp(v))
EW_REF(ref_recip, 1.0 / v)
EW_REF(ref_ln, log(v))
EW_REF(ref_sqrt, sqrt(v))
EW_REF(ref_rsqrt, 1.0 / sqrt(v))
EW_REF(ref_sigmoid, 1.0 / (1.0 + exp(-v)))
EW_REF(ref_tanh, tanh(v))
EW_REF(ref_erf, erf(v))
EW_REF(ref_gelu, 0.5 * v * (1.0 + erf(v / sqrt(2.0))))
static void ref_max(const double *x, const double *y, double *o)
{
    (void)y;
    for (size_t i = 0; i < R; i++) {
        double m = x[i * C];
        for (size_t j = 1; j < C; j++) m = x[i * C + j] > m ? x[i * C + j] : m;
        o[i] = m;
    }
}
static void ref_maxpool(const double *x, const double *y, double *o)
{
    (void)y;
    for (size_t i = 0; i < R / 2; i++)
        for (size_t j = 0; j < C / 2; j++) {
            double m = x[2 * i * C + 2 * j];
            for (size_t a = 0; a < 2; a++)
                for (size_t b = 0; b < 2; b++) m = fmax(m, x[(2 * i + a) * C + 2 * j + b]);
            o[i * (C / 2) + j] = m;
        }
}
static void ref_softmax(const double *x, const double *y, double *o)
{
    double mx[R];
    ref_max(x, y, mx);
    for (size_t i = 0; i < R; i++) {
        double s = 0;
        for (size_t j = 0; j < C; j++) s += (o[i * C + j] = exp(x[i * C + j] - mx[i]));
        for (size_t j = 0; j < C; j++) o[i * C + j] /= s;
    }
}
static void ref_layernorm(const double *x, const double *y, double *o)
{
    (void)y;
    for (size_t i = 0; i < R; i++) {
        double m = 0, v = 0;
        for (size_t j = 0; j < C; j++) m += x[i * C + j];
        m /= C;
        for (size_t j = 0; j < C; j++) v += (x[i * C + j] - m) * (x[i * C + j] - m);
        v /= C;
        for (size_t j = 0; j < C; j++) o[i * C + j] = (x[i * C + j] - m) / sqrt(v + 1e-5);
    }
}

static const op_def_t op_defs[] = {
    {"mul", IN_X, SEC_Y, R * C, run_mul, ref_mul},
    {"matmul", IN_X, SEC_W, R * C, run_matmul, ref_matmul},
    {"ltz", IN_X, SEC_NONE, R * C, run_ltz, ref_ltz},
    {"relu", IN_X, SEC_NONE, R * C, run_relu, ref_relu},
    {"max", IN_X, SEC_NONE, R, run_max, ref_max},
    {"maxpool", IN_X, SEC_NONE, R * C / 4, run_maxpool, ref_maxpool},
    {"exp", IN_X, SEC_NONE, R * C, run_exp, ref_exp},
    {"reciprocal", IN_POS, SEC_NONE, R * C, run_recip, ref_recip},
    {"log", IN_POS, SEC_NONE, R * C, run_ln, ref_ln},
    {"sqrt", IN_POS, SEC_NONE, R * C, run_sqrt, ref_sqrt},
    {"inv_sqrt", IN_POS, SEC_NONE, R * C, run_rsqrt, ref_rsqrt},
    {"sigmoid", IN_X, SEC_NONE, R * C, run_sigmoid, ref_sigmoid},
    {"tanh", IN_X, SEC_NONE, R * C, run_tanh, ref_tanh},
    {"erf", IN_X, SEC_NONE, R * C, run_erf, ref_erf},
    {"softmax", IN_X, SEC_NONE, R * C, run_softmax, ref_softmax},
    {"gelu", IN_X, SEC_NONE, R * C, run_gelu, ref_gelu},
    {"layernorm", IN_X, SEC_NONE, R * C, run_layernorm, ref_layernorm},
};
#define NOPS (sizeof op_defs / sizeof op_defs[0])

struct ops_run {
    const op_def_t *op;
    int reps;
    double ms[1024];
    uint64_t sent[MAXP], dealer_recv;
    uint64_t rounds;
    double mean_err, max_err;
    pthread_mutex_t mu;
};

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static void gauss(double *v, size_t n, uint64_t seed, double scale)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        double u1 = ((double)(rnd(&s) >> 11) + 0.5) / 9007199254740992.0;
        double u2 = ((double)(rnd(&s) >> 11) + 0.5) / 9007199254740992.0;
        v[i] = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2) * scale;
    }
}

static void uniform(double *v, size_t n, uint64_t seed, double lo, double hi)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * ((double)(rnd(&s) >> 11) / 9007199254740992.0);
}

/* A cheap barrier: everyone reveals one element. */
static int barrier(spin_ctx_t *ctx, spin_tensor_t *one)
{
    uint64_t v;
    return spin_reveal_ring(ctx, one, -1, &v);
}

static int ops_party(spin_ctx_t *ctx, int party, void *arg)
{
    ops_run_t *r = arg;
    const op_def_t *d = r->op;
    int N = spin_ctx_nparties(ctx);
    size_t xs[2] = {R, C}, ws[2] = {C, C};
    size_t n = R * C;
    double *x = malloc(n * 8), *y = malloc(C * C * 8), *out = malloc(n * 8), *ref = malloc(n * 8);
    if (!x || !y || !out || !ref) return SPIN_ERR_NOMEM;
    if (d->input == IN_POS) uniform(x, n, 1, 0.1, 10.0);
    else gauss(x, n, 1, 2.0);
    if (d->second == SEC_W) gauss(y, C * C, 3, 1.0 / sqrt((double)C));
    else gauss(y, n, 2, 2.0);
    spin_tensor_t *tx = NULL, *ty = NULL, *one = NULL, *z = NULL;
    size_t oneshape = 1;
    int rc = spin_input_f64(ctx, 0, party == 0 ? x : NULL, 2, xs, &tx);
    if (!rc && d->second != SEC_NONE)
        rc = spin_input_f64(ctx, 1 % N, party == 1 % N ? y : NULL, 2, d->second == SEC_W ? ws : xs, &ty);
    if (!rc) rc = spin_tensor_zeros(ctx, 1, &oneshape, &one);
    for (int rep = -1; rep < r->reps && !rc; rep++) {
        rc = barrier(ctx, one);
        spin_comm_stats_t s0, s1, d0, d1;
        if (!rc) rc = spin_ctx_stats(ctx, -1, &s0);
        if (!rc && party == 0) rc = spin_ctx_stats(ctx, N, &d0);
        double t0 = bench_now();
        if (!rc) rc = d->run(ctx, tx, ty, &z);
        double t1 = bench_now();
        if (!rc) rc = spin_ctx_stats(ctx, -1, &s1);
        if (!rc && party == 0) rc = spin_ctx_stats(ctx, N, &d1);
        if (rc) break;
        if (rep == r->reps - 1) {
            pthread_mutex_lock(&r->mu);
            r->sent[party] = s1.bytes_sent - s0.bytes_sent;
            if (party == 0) {
                r->rounds = s1.rounds - s0.rounds;
                r->dealer_recv = d1.bytes_recv - d0.bytes_recv;
            }
            pthread_mutex_unlock(&r->mu);
        }
        if (party == 0 && rep >= 0) r->ms[rep] = (t1 - t0) * 1e3;
        if (rep == r->reps - 1) {
            rc = spin_reveal_f64(ctx, z, 0, out);
            if (!rc && party == 0) {
                double se = 0, me = 0;
                d->ref(x, y, ref);
                for (size_t i = 0; i < d->out_n; i++) {
                    double e = fabs(out[i] - ref[i]);
                    se += e;
                    if (e > me) me = e;
                }
                r->mean_err = se / (double)d->out_n;
                r->max_err = me;
            }
        }
        spin_tensor_free(z);
        z = NULL;
    }
    spin_tensor_free(tx);
    spin_tensor_free(ty);
    spin_tensor_free(one);
    free(x); free(y); free(out); free(ref);
    return rc;
}

static const op_def_t *find_op(const char *name)
{
    for (size_t i = 0; i < NOPS; i++)
        if (strcmp(op_defs[i].name, name) == 0) return &op_defs[i];
    return NULL;
}

static void list_ops(FILE *f)
{
    for (size_t i = 0; i < NOPS; i++) fprintf(f, "%s%s", i ? ", " : "", op_defs[i].name);
    fputc('\n', f);
}

int bench_ops_main(const bench_opts_t *o, int argc, char **argv)
{
    int plist[8] = {2}, np = 1;
    const char *scheme = "ipc";
    const op_def_t *ops[NOPS];
    size_t nops = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--parties") == 0 && i + 1 < argc) {
            np = 0;
            char *s = argv[++i], *tok, *save = NULL;
            for (tok = strtok_r(s, ",", &save); tok && np < 8; tok = strtok_r(NULL, ",", &save)) {
                int v = atoi(tok);
                if (v < 2 || v >= MAXP) {
                    fprintf(stderr, "spin-bench ops: --parties takes counts 2..%d, got \"%s\"\n", MAXP - 1, tok);
                    return 2;
                }
                plist[np++] = v;
            }
        } else if (strcmp(argv[i], "--op") == 0 && i + 1 < argc) {
            char *s = argv[++i], *tok, *save = NULL;
            for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                const op_def_t *d = find_op(tok);
                if (!d) {
                    fprintf(stderr, "spin-bench ops: unknown --op \"%s\"; known: ", tok);
                    list_ops(stderr);
                    return 2;
                }
                if (nops < NOPS) ops[nops++] = d;
            }
        } else if (strcmp(argv[i], "--scheme") == 0 && i + 1 < argc) {
            scheme = argv[++i];
            if (strcmp(scheme, "ipc") && strcmp(scheme, "tcp")) {
                fprintf(stderr, "spin-bench ops: --scheme is ipc or tcp\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: spin-bench [--json] [--reps N] ops [--parties 2,3] [--op NAME[,NAME...]] [--scheme ipc|tcp]\n"
                   "The micro-operations of the project's target table (TARGETS.md) on x [64,128] ~\n"
                   "N(0,1)*2 (party 0; U(0.1,10) for reciprocal, log, sqrt, inv_sqrt), y ~ N(0,1)*2 or\n"
                   "W [128,128] ~ N(0,1)/sqrt(128) (party 1); max, softmax, layernorm (no affine, eps\n"
                   "1e-5) row-wise; maxpool 2x2 on x viewed as [1,1,64,128].  Parties + dealer as\n"
                   "threads.  Operations: ");
            list_ops(stdout);
            return 0;
        } else {
            fprintf(stderr, "spin-bench ops: unknown argument \"%s\" (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!nops)
        for (size_t i = 0; i < NOPS; i++) ops[nops++] = &op_defs[i];
    int reps = o->reps > 1000 ? 1000 : o->reps;
    if (!o->json)
        printf("%-10s %-5s %10s %14s %14s %12s %7s %10s %10s\n", "op", "setup", "median_ms", "p0_sent_B",
               "all_sent_B", "dealer_B", "rounds", "mean_err", "max_err");
    for (int pi = 0; pi < np; pi++)
        for (size_t oi = 0; oi < nops; oi++) {
            ops_run_t *r = calloc(1, sizeof *r);
            if (!r) return 1;
            pthread_mutex_init(&r->mu, NULL);
            r->op = ops[oi];
            r->reps = reps;
            spin_ctx_opts_t co;
            memset(&co, 0, sizeof co);
            co.struct_size = sizeof co;
            int rc = spin_run_local(plist[pi], scheme, &co, ops_party, r);
            if (rc) {
                fprintf(stderr, "spin-bench ops: %s with %d parties failed: %s\n", ops[oi]->name, plist[pi],
                        spin_strerror(rc));
                pthread_mutex_destroy(&r->mu);
                free(r);
                return 1;
            }
            double med = bench_median(r->ms, (size_t)reps);
            uint64_t all = 0;
            for (int p = 0; p < plist[pi]; p++) all += r->sent[p];
            char setup[16];
            snprintf(setup, sizeof setup, "%dP+D", plist[pi]);
            if (o->json)
                printf("{\"bench\":\"ops\",\"op\":\"%s\",\"parties\":%d,\"scheme\":\"%s\",\"median_ms\":%.4f,"
                       "\"p0_sent_bytes\":%llu,\"all_sent_bytes\":%llu,\"dealer_to_p0_bytes\":%llu,"
                       "\"rounds\":%llu,\"mean_abs_err\":%.3g,\"max_abs_err\":%.3g,\"reps\":%d}\n",
                       ops[oi]->name, plist[pi], scheme, med, (unsigned long long)r->sent[0],
                       (unsigned long long)all, (unsigned long long)r->dealer_recv, (unsigned long long)r->rounds,
                       r->mean_err, r->max_err, reps);
            else
                printf("%-10s %-5s %10.3f %14llu %14llu %12llu %7llu %10.2g %10.2g\n", ops[oi]->name, setup, med,
                       (unsigned long long)r->sent[0], (unsigned long long)all, (unsigned long long)r->dealer_recv,
                       (unsigned long long)r->rounds, r->mean_err, r->max_err);
            fflush(stdout);
            pthread_mutex_destroy(&r->mu);
            free(r);
        }
    return 0;
}
