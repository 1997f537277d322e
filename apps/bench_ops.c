/* bench_ops.c - `spin-bench ops`: secure operations with the shapes and
 * input distributions of TARGETS.md, N parties + dealer as threads over the
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

#include <spin/mpc.h>

#include "bench.h"

#define MAXP 16

typedef struct ops_run {
    const char *op;
    int reps;
    double ms[1024];
    uint64_t sent[MAXP], dealer_recv;
    uint64_t rounds;
    double mean_err, max_err;
    pthread_mutex_t mu;
} ops_run_t;

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

/* A cheap barrier: everyone reveals one element. */
static int barrier(spin_ctx_t *ctx, spin_tensor_t *one)
{
    uint64_t v;
    return spin_reveal_ring(ctx, one, -1, &v);
}

static int ops_party(spin_ctx_t *ctx, int party, void *arg)
{
    ops_run_t *r = arg;
    int N = spin_ctx_nparties(ctx);
    size_t xs[2] = {64, 128}, ws[2] = {128, 128};
    size_t n = 64 * 128;
    double *x = malloc(n * 8), *w = malloc(128 * 128 * 8), *y = malloc(n * 8), *out = malloc(n * 8);
    if (!x || !w || !y || !out) return SPIN_ERR_NOMEM;
    gauss(x, n, 1, 2.0);
    gauss(y, n, 2, 2.0);
    gauss(w, 128 * 128, 3, 1.0 / sqrt(128.0));
    spin_tensor_t *tx = NULL, *ty = NULL, *one = NULL, *z = NULL;
    int is_mm = strcmp(r->op, "matmul") == 0;
    size_t oneshape = 1;
    int rc = spin_input_f64(ctx, 0, party == 0 ? x : NULL, 2, xs, &tx);
    if (!rc) rc = is_mm ? spin_input_f64(ctx, 1 % N, party == 1 % N ? w : NULL, 2, ws, &ty)
                        : spin_input_f64(ctx, 1 % N, party == 1 % N ? y : NULL, 2, xs, &ty);
    if (!rc) rc = spin_tensor_zeros(ctx, 1, &oneshape, &one);
    for (int rep = -1; rep < r->reps && !rc; rep++) {
        rc = barrier(ctx, one);
        spin_comm_stats_t s0, s1, d0, d1;
        if (!rc) rc = spin_ctx_stats(ctx, -1, &s0);
        if (!rc && party == 0) rc = spin_ctx_stats(ctx, N, &d0);
        double t0 = bench_now();
        if (!rc) rc = is_mm ? spin_matmul(ctx, tx, 0, ty, 0, &z) : spin_mul(ctx, tx, ty, &z);
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
                size_t m = is_mm ? 64 * 128 : n;
                for (size_t i = 0; i < m; i++) {
                    double ref;
                    if (is_mm) {
                        ref = 0;
                        for (size_t k = 0; k < 128; k++) ref += x[(i / 128) * 128 + k] * w[k * 128 + i % 128];
                    } else {
                        ref = x[i] * y[i];
                    }
                    double e = fabs(out[i] - ref);
                    se += e;
                    if (e > me) me = e;
                }
                r->mean_err = se / (double)m;
                r->max_err = me;
            }
        }
        spin_tensor_free(z);
        z = NULL;
    }
    spin_tensor_free(tx);
    spin_tensor_free(ty);
    spin_tensor_free(one);
    free(x); free(w); free(y); free(out);
    return rc;
}

int bench_ops_main(const bench_opts_t *o, int argc, char **argv)
{
    int plist[8] = {2}, np = 1;
    const char *scheme = "ipc";
    const char *ops[4] = {"mul", "matmul"};
    int nops = 2;
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
            const char *v = argv[++i];
            if (strcmp(v, "mul") && strcmp(v, "matmul")) {
                fprintf(stderr, "spin-bench ops: unknown --op \"%s\" (mul, matmul)\n", v);
                return 2;
            }
            ops[0] = v;
            nops = 1;
        } else if (strcmp(argv[i], "--scheme") == 0 && i + 1 < argc) {
            scheme = argv[++i];
            if (strcmp(scheme, "ipc") && strcmp(scheme, "tcp")) {
                fprintf(stderr, "spin-bench ops: --scheme is ipc or tcp\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: spin-bench [--json] [--reps N] ops [--parties 2,3] [--op mul|matmul] [--scheme ipc|tcp]\n"
                   "Secure mul and matmul on TARGETS.md shapes: x [64,128] ~ N(0,1)*2 (party 0),\n"
                   "y ~ N(0,1)*2 or W [128,128] ~ N(0,1)/sqrt(128) (party 1); parties + dealer as threads.\n");
            return 0;
        } else {
            fprintf(stderr, "spin-bench ops: unknown argument \"%s\" (see --help)\n", argv[i]);
            return 2;
        }
    }
    int reps = o->reps > 1000 ? 1000 : o->reps;
    if (!o->json)
        printf("%-7s %-5s %10s %14s %14s %12s %7s %10s %10s\n", "op", "setup", "median_ms", "p0_sent_B",
               "all_sent_B", "dealer_B", "rounds", "mean_err", "max_err");
    for (int pi = 0; pi < np; pi++)
        for (int oi = 0; oi < nops; oi++) {
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
                fprintf(stderr, "spin-bench ops: %s with %d parties failed: %s\n", ops[oi], plist[pi], spin_strerror(rc));
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
                       ops[oi], plist[pi], scheme, med, (unsigned long long)r->sent[0], (unsigned long long)all,
                       (unsigned long long)r->dealer_recv, (unsigned long long)r->rounds, r->mean_err, r->max_err, reps);
            else
                printf("%-7s %-5s %10.3f %14llu %14llu %12llu %7llu %10.2g %10.2g\n", ops[oi], setup, med,
                       (unsigned long long)r->sent[0], (unsigned long long)all, (unsigned long long)r->dealer_recv,
                       (unsigned long long)r->rounds, r->mean_err, r->max_err);
            pthread_mutex_destroy(&r->mu);
            free(r);
        }
    return 0;
}
