/* bench_train.c - `spin-bench train MODEL`: secure training iterations of
 * one of spin-train's models (the secure engine of train_secure.c) with N
 * parties + dealer as threads, on random MNIST-shaped data owned by party
 * 0: seconds per iteration (median after one warm-up), bytes sent by party
 * 0 and by all parties, rounds, and the per-layer split of party 0's time
 * and bytes. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/mpc.h>

#include "bench.h"
#include "train.h"

typedef struct tr_run {
    model_spec_t m;
    train_hp_t hp;
    int reps;
    double s[64];
    uint64_t sent[64], rounds;
    layer_stat_t stats[MODEL_MAX_LAYERS];
} tr_run_t;

static int tr_party(spin_ctx_t *ctx, int party, void *arg)
{
    tr_run_t *r = arg;
    char msg[256];
    engine_t *e = train_secure_new(ctx, &r->m, &r->hp, msg, sizeof msg);
    if (!e) return SPIN_ERR_INTERNAL;
    size_t B = r->hp.batch, pix = 28 * 28;
    double *x = NULL;
    uint8_t *y = malloc(B);
    int rc = y ? 0 : SPIN_ERR_NOMEM;
    if (!rc && party == 0) {
        x = malloc(B * pix * sizeof *x);
        uint64_t s = 3;
        for (size_t i = 0; x && i < B * pix; i++) x[i] = (double)(train_rand64(&s) % 256) / 255.0;
        for (size_t i = 0; i < B; i++) y[i] = (uint8_t)(train_rand64(&s) % 10);
        if (!x) rc = SPIN_ERR_NOMEM;
    }
    for (int it = -1; it < r->reps && !rc; it++) {
        spin_comm_stats_t a, b;
        if (it == 0) memset(e->stats, 0, sizeof e->stats);
        rc = spin_ctx_stats(ctx, -1, &a);
        double t0 = bench_now();
        if (!rc) rc = e->step(e, x, y, B, 0, NULL);
        double t1 = bench_now();
        if (!rc) rc = spin_ctx_stats(ctx, -1, &b);
        if (!rc && it >= 0) {
            r->sent[party] = b.bytes_sent - a.bytes_sent;
            if (party == 0) {
                r->s[it] = t1 - t0;
                r->rounds = b.rounds - a.rounds;
            }
        }
    }
    if (!rc && party == 0) memcpy(r->stats, e->stats, sizeof r->stats);
    free(x);
    free(y);
    e->destroy(e);
    return rc;
}

int bench_train_main(const bench_opts_t *o, int argc, char **argv)
{
    int plist[8] = {2, 3}, np = 2;
    const char *model = NULL;
    size_t batch = 128;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--parties") && i + 1 < argc) {
            np = 0;
            char *s = argv[++i], *tok, *save = NULL;
            for (tok = strtok_r(s, ",", &save); tok && np < 8; tok = strtok_r(NULL, ",", &save)) {
                int v = atoi(tok);
                if (v < 2 || v > 16) {
                    fprintf(stderr, "spin-bench train: --parties takes counts 2..16\n");
                    return 2;
                }
                plist[np++] = v;
            }
        } else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            int v = atoi(argv[++i]);
            if (v < 1 || v > 4096) {
                fprintf(stderr, "spin-bench train: --batch takes 1..4096\n");
                return 2;
            }
            batch = (size_t)v;
        } else if (!strcmp(argv[i], "--help")) {
            printf("usage: spin-bench [--json] [--reps N] [--quick] train MODEL [--parties 2,3] [--batch 128]\n"
                   "Secure training iterations of MODEL (%s) on random data; --quick: batch 8.\n",
                   model_names());
            return 0;
        } else if (argv[i][0] != '-' && !model) {
            model = argv[i];
        } else {
            fprintf(stderr, "spin-bench train: unknown argument \"%s\" (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "spin-bench train: name a model (%s)\n", model_names());
        return 2;
    }
    if (o->quick) batch = 8;
    int reps = o->reps < 1 ? 1 : o->reps > 64 ? 64 : o->reps;
    for (int pi = 0; pi < np; pi++) {
        tr_run_t *r = calloc(1, sizeof *r);
        char msg[256];
        if (!r) return 1;
        if (model_build(model, &r->m, msg, sizeof msg)) {
            fprintf(stderr, "spin-bench train: %s\n", msg);
            free(r);
            return 2;
        }
        r->hp.batch = batch;
        r->hp.lr = 0.05;
        r->hp.momentum = 0.9;
        r->hp.seed = 1;
        r->reps = reps;
        spin_ctx_opts_t co;
        memset(&co, 0, sizeof co);
        co.struct_size = sizeof co;
        int rc = spin_run_local(plist[pi], "ipc", &co, tr_party, r);
        if (rc) {
            fprintf(stderr, "spin-bench train: %s with %d parties failed: %s\n", model, plist[pi], spin_strerror(rc));
            free(r);
            return 1;
        }
        double med = bench_median(r->s, (size_t)reps);
        uint64_t all = 0;
        for (int p = 0; p < plist[pi]; p++) all += r->sent[p];
        if (o->json) {
            printf("{\"bench\":\"train\",\"model\":\"%s\",\"parties\":%d,\"batch\":%zu,\"s_per_iter\":%.3f,"
                   "\"p0_sent_bytes\":%llu,\"all_sent_bytes\":%llu,\"rounds\":%llu,\"reps\":%d,\"layers\":[",
                   model, plist[pi], batch, med, (unsigned long long)r->sent[0], (unsigned long long)all,
                   (unsigned long long)r->rounds, reps);
            for (int i = 0; i < r->m.nl; i++)
                printf("%s{\"name\":\"%s\",\"fwd_s\":%.4f,\"bwd_s\":%.4f,\"fwd_bytes\":%llu,\"bwd_bytes\":%llu}",
                       i ? "," : "", r->m.L[i].name, r->stats[i].fwd_s / reps, r->stats[i].bwd_s / reps,
                       (unsigned long long)(r->stats[i].fwd_bytes / (uint64_t)reps),
                       (unsigned long long)(r->stats[i].bwd_bytes / (uint64_t)reps));
            printf("]}\n");
        } else {
            printf("%s, %dP+D, batch %zu: %.3f s per iteration (median of %d), party 0 sent %.3f GB, all parties "
                   "%.3f GB, %llu rounds\n",
                   model, plist[pi], batch, med, reps, (double)r->sent[0] / 1e9, (double)all / 1e9,
                   (unsigned long long)r->rounds);
            printf("  %-10s %9s %9s %12s %12s\n", "layer", "fwd_s", "bwd_s", "fwd_MB", "bwd_MB");
            for (int i = 0; i < r->m.nl; i++)
                printf("  %-10s %9.3f %9.3f %12.1f %12.1f\n", r->m.L[i].name, r->stats[i].fwd_s / reps,
                       r->stats[i].bwd_s / reps, (double)r->stats[i].fwd_bytes / reps / 1e6,
                       (double)r->stats[i].bwd_bytes / reps / 1e6);
        }
        fflush(stdout);
        free(r);
    }
    return 0;
}
