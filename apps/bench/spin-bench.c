/* spin-bench - measures kernels, the network, the secure operations, a
 * Transformer encoder and training iterations.  Each subcommand lives in
 * bench_<name>.c and measures its own baseline in the same run, so ratios are
 * meaningful.  This file: the options common to every subcommand (before or
 * after its name) and the dispatch. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: spin-bench [--json] [--reps N] [--quick] SUBCOMMAND [ARGS]\n"
            "       (the options may also follow the subcommand: spin-bench ops --json)\n"
            "Subcommands:\n"
            "  kernel   ring GEMM vs float64 GEMM (OpenBLAS), AES-CTR PRG vs OpenSSL EVP,\n"
            "           element-wise ring ops, on the compute plugin SPIN_BACKEND selects\n"
            "  net      transport bandwidth by message size and 8-byte round trip vs a\n"
            "           plain blocking socket pair (run with --help for its options)\n"
            "  ops      every micro-operation of the project's target table (TARGETS.md)\n"
            "           with N parties + dealer:\n"
            "           median ms, bytes, rounds, error vs float64 (ops --help)\n"
            "  transformer  one secure Transformer encoder pass, with and without each\n"
            "           attention optimisation (transformer --help)\n"
            "  train    secure training iterations of a model: s/iteration, bytes, rounds,\n"
            "           per-layer split (train --help)\n"
            "Options (before or after the subcommand):\n"
            "  --json    one JSON object per result line\n"
            "  --reps N  timed repetitions per measurement, median reported (default 5)\n"
            "  --quick   small sizes (for tests)\n");
}

/* One of the options common to every subcommand at argv[*i] (before or after
 * the subcommand): 1 taken (*i moved past its value), 0 not one of them, -1
 * a bad value (message printed). */
static int global_option(bench_opts_t *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (strcmp(a, "--json") == 0) o->json = 1;
    else if (strcmp(a, "--quick") == 0) o->quick = 1;
    else if (strcmp(a, "--reps") == 0) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "spin-bench: --reps needs a positive integer\n");
            return -1;
        }
        char *end;
        long v = strtol(argv[++*i], &end, 10);
        if (!*argv[*i] || *end || v < 1 || v > 100000) {
            fprintf(stderr, "spin-bench: --reps needs a positive integer, got \"%s\"\n", argv[*i]);
            return -1;
        }
        o->reps = (int)v;
    } else
        return 0;
    return 1;
}

int main(int argc, char **argv)
{
    bench_opts_t o = {0, 5, 0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        int g = global_option(&o, argc, argv, &i);
        if (g < 0) return 2;
        if (g) continue;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "spin-bench: unknown option \"%s\"\n", argv[i]);
        usage(stderr);
        return 2;
    }
    if (i >= argc) {
        fprintf(stderr, "spin-bench: missing subcommand\n");
        usage(stderr);
        return 2;
    }
    const char *sub = argv[i];
    /* The common options may follow the subcommand too: take them out, pass
     * the rest (in order) to the subcommand, which refuses what it does not
     * know. */
    int sargc = 0;
    char **sargv = calloc((size_t)argc, sizeof *sargv);
    if (!sargv) {
        fprintf(stderr, "spin-bench: out of memory\n");
        return 1;
    }
    for (int j = i + 1; j < argc; j++) {
        int g = global_option(&o, argc, argv, &j);
        if (g < 0) {
            free(sargv);
            return 2;
        }
        if (!g) sargv[sargc++] = argv[j];
    }
    int rc;
    if (strcmp(sub, "kernel") == 0) rc = bench_kernel_main(&o, sargc, sargv);
    else if (strcmp(sub, "net") == 0) rc = bench_net_main(&o, sargc, sargv);
    else if (strcmp(sub, "ops") == 0) rc = bench_ops_main(&o, sargc, sargv);
    else if (strcmp(sub, "transformer") == 0) rc = bench_transformer_main(&o, sargc, sargv);
    else if (strcmp(sub, "train") == 0) rc = bench_train_main(&o, sargc, sargv);
    else {
        fprintf(stderr, "spin-bench: unknown subcommand \"%s\" (kernel, net, ops, transformer, train)\n", sub);
        rc = 2;
    }
    free(sargv);
    return rc;
}
