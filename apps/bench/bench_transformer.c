/* bench_transformer.c - `spin-bench transformer`: one secure forward pass
 * of a Transformer encoder (default: the 18.9M-parameter configuration,
 * 6 layers, d_model 512, 8 heads, FFN 2048, sequence 128) with N parties +
 * dealer as threads, with all attention optimisations and with each one
 * switched off: time, rounds, bytes sent by party 0 and by all parties,
 * dealer requests.  share_ms is the model load (sharing, and with static
 * weights their one-time openings); the other columns are one inference.  Random weights (the owner is party 0) and random token
 * states (the client is the last party). */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/mpc.h>

#include "bench.h"
#include "vit.h"

typedef struct tf_run {
    vit_t m;
    vit_opts_t o;
    size_t B;
    double ms, share_ms;
    uint64_t rounds, sent[64], dealer_sent;
} tf_run_t;

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static double *uni(size_t n, uint64_t *s, double a)
{
    double *v = malloc(n * sizeof *v);
    for (size_t i = 0; v && i < n; i++) v[i] = a * (2.0 * (double)(rnd(s) >> 11) / 9007199254740992.0 - 1.0);
    return v;
}

static void ones(double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) v[i] = 1.0 + 0.1 * v[i];
}

static int model_random(vit_t *m, const vit_cfg_t *c)
{
    memset(m, 0, sizeof *m);
    m->c = *c;
    m->tokens = c->seq;
    uint64_t s = 42;
    size_t d = (size_t)c->d_model, F = (size_t)c->ffn, T = (size_t)c->seq;
    double wd = 1.0 / sqrt((double)d), wf = 1.0 / sqrt((double)F);
    m->pe_w = uni(d * 49, &s, 0.1);
    m->pe_b = uni(d, &s, 0.1);
    m->cls = uni(d, &s, 0.1);
    m->pos = uni(T * d, &s, 0.1);
    m->norm_w = uni(d, &s, 1.0);
    m->norm_b = uni(d, &s, 0.1);
    m->head_w = uni((size_t)c->classes * d, &s, wd);
    m->head_b = uni((size_t)c->classes, &s, 0.1);
    if (m->norm_w) ones(m->norm_w, d);
    m->L = calloc((size_t)c->layers, sizeof *m->L);
    if (!m->L) return -1;
    for (int i = 0; i < c->layers; i++) {
        vit_layer_t *l = &m->L[i];
        l->in_w = uni(3 * d * d, &s, wd);
        l->in_b = uni(3 * d, &s, 0.1);
        l->out_w = uni(d * d, &s, wd);
        l->out_b = uni(d, &s, 0.1);
        l->l1_w = uni(F * d, &s, wd);
        l->l1_b = uni(F, &s, 0.1);
        l->l2_w = uni(d * F, &s, wf);
        l->l2_b = uni(d, &s, 0.1);
        l->n1_w = uni(d, &s, 1.0);
        l->n1_b = uni(d, &s, 0.1);
        l->n2_w = uni(d, &s, 1.0);
        l->n2_b = uni(d, &s, 0.1);
        if (!l->l2_w || !l->n1_w || !l->n2_w) return -1;
        ones(l->n1_w, d);
        ones(l->n2_w, d);
    }
    return 0;
}

static int tf_party(spin_ctx_t *ctx, int party, void *arg)
{
    tf_run_t *r = arg;
    int N = spin_ctx_nparties(ctx), client = N - 1;
    vit_shared_t s;
    double t0 = bench_now();
    int rc = vit_share(ctx, party == 0 ? &r->m : NULL, &r->m.c, 0, &r->o, &s);
    if (rc) return rc;
    double t1 = bench_now();
    size_t T = (size_t)r->m.c.seq, d = (size_t)r->m.c.d_model, sh[2] = {r->B * T, d};
    uint64_t seed = 7;
    double *x = party == client ? uni(r->B * T * d, &seed, 1.0) : NULL;
    spin_tensor_t *z = NULL;
    rc = spin_input_f64(ctx, client, x, 2, sh, &z);
    free(x);
    spin_comm_stats_t a, b, da, db;
    if (!rc) rc = spin_ctx_stats(ctx, -1, &a);
    if (!rc && party == 0) rc = spin_ctx_stats(ctx, N, &da);
    double t2 = bench_now();
    if (!rc) rc = vit_encode_secure(ctx, &s, r->B, &z);
    double t3 = bench_now();
    if (!rc) rc = spin_ctx_stats(ctx, -1, &b);
    if (!rc && party == 0) rc = spin_ctx_stats(ctx, N, &db);
    if (!rc) {
        r->sent[party] = b.bytes_sent - a.bytes_sent;
        if (party == 0) {
            r->ms = (t3 - t2) * 1e3;
            r->share_ms = (t1 - t0) * 1e3;
            r->rounds = b.rounds - a.rounds;
            r->dealer_sent = db.bytes_sent - da.bytes_sent;
        }
    }
    spin_tensor_free(z);
    vit_shared_free(&s);
    return rc;
}

int bench_transformer_main(const bench_opts_t *o, int argc, char **argv)
{
    int plist[8] = {2, 3}, np = 2;
    vit_cfg_t c;
    memset(&c, 0, sizeof c);
    c.layers = 6;
    c.d_model = 512;
    c.heads = 8;
    c.ffn = 2048;
    c.seq = 128;
    c.gelu = 1;
    c.norm_first = 1;
    c.pool_cls = 1;
    c.eps = 1e-5;
    c.std = 1.0;
    c.classes = 10;
    c.patch = 7;
    c.image = 28;
    c.channels = 1;
    for (int i = 0; i < argc; i++) {
        int *dst = NULL;
        if (!strcmp(argv[i], "--layers")) dst = &c.layers;
        else if (!strcmp(argv[i], "--d-model")) dst = &c.d_model;
        else if (!strcmp(argv[i], "--heads")) dst = &c.heads;
        else if (!strcmp(argv[i], "--ffn")) dst = &c.ffn;
        else if (!strcmp(argv[i], "--seq")) dst = &c.seq;
        if (dst && i + 1 < argc) {
            *dst = atoi(argv[++i]);
            if (*dst < 1) {
                fprintf(stderr, "spin-bench transformer: %s takes a positive integer\n", argv[i - 1]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--parties") && i + 1 < argc) {
            np = 0;
            char *s = argv[++i], *tok, *save = NULL;
            for (tok = strtok_r(s, ",", &save); tok && np < 8; tok = strtok_r(NULL, ",", &save)) {
                int v = atoi(tok);
                if (v < 2 || v > 16) {
                    fprintf(stderr, "spin-bench transformer: --parties takes counts 2..16\n");
                    return 2;
                }
                plist[np++] = v;
            }
        } else if (!strcmp(argv[i], "--help")) {
            printf("usage: spin-bench [--json] [--quick] transformer [--parties 2,3] [--layers 6] [--d-model 512]\n"
                   "       [--heads 8] [--ffn 2048] [--seq 128]\n"
                   "One secure encoder forward pass (pre-norm, GeLU) with all optimisations and with each\n"
                   "switched off; --quick: 1 layer, d_model 64, 4 heads, FFN 128, sequence 17.\n");
            return 0;
        } else {
            fprintf(stderr, "spin-bench transformer: unknown argument \"%s\" (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (o->quick) {
        c.layers = 1;
        c.d_model = 64;
        c.heads = 4;
        c.ffn = 128;
        c.seq = 17;
    }
    if (c.d_model % c.heads) {
        fprintf(stderr, "spin-bench transformer: d_model must be a multiple of heads\n");
        return 2;
    }
    static const struct { const char *name; int fold, fused, delayed, nonpos, stat; } var[] = {
        {"all", 1, 1, 1, 1, 1}, {"no-fold-scale", 0, 1, 1, 1, 1}, {"no-fused-qkv", 1, 0, 1, 1, 1},
        {"no-delayed-sm", 1, 1, 0, 1, 1}, {"no-nonpos-exp", 1, 1, 1, 0, 1}, {"no-static-w", 1, 1, 1, 1, 0},
        {"none", 0, 0, 0, 0, 0}};
    double params = (double)c.layers * (4.0 * c.d_model * c.d_model + 2.0 * c.d_model * c.ffn);
    if (!o->json)
        printf("encoder: %d layers, d_model %d, %d heads, FFN %d, sequence %d (%.1fM parameters)\n%-14s %-5s %10s %8s %14s %14s %10s\n",
               c.layers, c.d_model, c.heads, c.ffn, c.seq, params / 1e6, "variant", "setup", "ms", "rounds",
               "p0_sent_B", "all_sent_B", "share_ms");
    for (int pi = 0; pi < np; pi++)
        for (size_t v = 0; v < sizeof var / sizeof var[0]; v++) {
            tf_run_t *r = calloc(1, sizeof *r);
            if (!r || model_random(&r->m, &c)) {
                fprintf(stderr, "spin-bench transformer: out of memory\n");
                free(r);
                return 1;
            }
            r->o.fold_scale = var[v].fold;
            r->o.fused_qkv = var[v].fused;
            r->o.delayed_softmax = var[v].delayed;
            r->o.nonpos_exp = var[v].nonpos;
            r->o.static_weights = var[v].stat;
            r->B = 1;
            spin_ctx_opts_t co;
            memset(&co, 0, sizeof co);
            co.struct_size = sizeof co;
            int rc = spin_run_local(plist[pi], "ipc", &co, tf_party, r);
            if (rc) {
                fprintf(stderr, "spin-bench transformer: %s with %d parties failed: %s\n", var[v].name, plist[pi],
                        spin_strerror(rc));
                vit_free(&r->m);
                free(r);
                return 1;
            }
            uint64_t all = 0;
            for (int p = 0; p < plist[pi]; p++) all += r->sent[p];
            if (o->json)
                printf("{\"bench\":\"transformer\",\"variant\":\"%s\",\"parties\":%d,\"layers\":%d,\"d_model\":%d,"
                       "\"heads\":%d,\"ffn\":%d,\"seq\":%d,\"ms\":%.2f,\"rounds\":%llu,\"p0_sent_bytes\":%llu,"
                       "\"all_sent_bytes\":%llu,\"share_ms\":%.2f}\n",
                       var[v].name, plist[pi], c.layers, c.d_model, c.heads, c.ffn, c.seq, r->ms,
                       (unsigned long long)r->rounds, (unsigned long long)r->sent[0], (unsigned long long)all,
                       r->share_ms);
            else
                printf("%-14s %dP+D %10.1f %8llu %14llu %14llu %10.1f\n", var[v].name, plist[pi], r->ms,
                       (unsigned long long)r->rounds, (unsigned long long)r->sent[0], (unsigned long long)all,
                       r->share_ms);
            fflush(stdout);
            vit_free(&r->m);
            free(r);
        }
    return 0;
}
