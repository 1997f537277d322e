/* bench.h - shared pieces of spin-bench (one file per subcommand). */
#ifndef SPIN_BENCH_H
#define SPIN_BENCH_H

#include <stddef.h>
#include <stdio.h>
#include <spin/spin.h>

/* Options common to every subcommand. */
typedef struct bench_opts {
    int json;          /* --json: one JSON object per result line */
    int reps;          /* --reps N: timed repetitions (median reported) */
    int quick;         /* --quick: small sizes, for tests */
} bench_opts_t;

/* Monotonic time in seconds. */
double bench_now(void);
/* Median of n values (sorts v in place). */
double bench_median(double *v, size_t n);

/* Subcommands: argc/argv start after the subcommand name. */
int bench_kernel_main(const bench_opts_t *o, int argc, char **argv);
int bench_net_main(const bench_opts_t *o, int argc, char **argv);
int bench_ops_main(const bench_opts_t *o, int argc, char **argv);
int bench_transformer_main(const bench_opts_t *o, int argc, char **argv);
int bench_train_main(const bench_opts_t *o, int argc, char **argv);

#endif
