/* spin-bench - measures kernels and the network (more subcommands arrive
 * with the protocols).  Each subcommand lives in bench_<name>.c and measures
 * its own baseline in the same run, so ratios are meaningful. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: spin-bench [--json] [--reps N] [--quick] SUBCOMMAND [ARGS]\n"
            "Subcommands:\n"
            "  kernel   ring GEMM vs float64 GEMM (OpenBLAS), AES-CTR PRG vs OpenSSL EVP,\n"
            "           element-wise ring ops, on the compute plugin SPIN_BACKEND selects\n"
            "  net      transport bandwidth by message size and 8-byte round trip vs a\n"
            "           plain blocking socket pair (run with --help for its options)\n"
            "  ops      every TARGETS.md micro-operation with N parties + dealer:\n"
            "           median ms, bytes, rounds, error vs float64 (ops --help)\n"
            "  transformer  one secure Transformer encoder pass, with and without each\n"
            "           attention optimisation (transformer --help)\n"
            "  train    secure training iterations of a model: s/iteration, bytes, rounds,\n"
            "           per-layer split (train --help)\n"
            "Options:\n"
            "  --json    one JSON object per result line\n"
            "  --reps N  timed repetitions per measurement, median reported (default 5)\n"
            "  --quick   small sizes (for tests)\n");
}

int main(int argc, char **argv)
{
    bench_opts_t o = {0, 5, 0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0) o.json = 1;
        else if (strcmp(argv[i], "--quick") == 0) o.quick = 1;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 100000) {
                fprintf(stderr, "spin-bench: --reps needs a positive integer, got \"%s\"\n", argv[i]);
                return 2;
            }
            o.reps = (int)v;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "spin-bench: unknown option \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "spin-bench: missing subcommand\n");
        usage(stderr);
        return 2;
    }
    const char *sub = argv[i];
    if (strcmp(sub, "kernel") == 0) return bench_kernel_main(&o, argc - i - 1, argv + i + 1);
    if (strcmp(sub, "net") == 0) return bench_net_main(&o, argc - i - 1, argv + i + 1);
    if (strcmp(sub, "ops") == 0) return bench_ops_main(&o, argc - i - 1, argv + i + 1);
    if (strcmp(sub, "transformer") == 0) return bench_transformer_main(&o, argc - i - 1, argv + i + 1);
    if (strcmp(sub, "train") == 0) return bench_train_main(&o, argc - i - 1, argv + i + 1);
    fprintf(stderr, "spin-bench: unknown subcommand \"%s\" (kernel, net, ops, transformer, train)\n", sub);
    return 2;
}
