/* test_gpudirect.c - a small secure computation for
 * transport-rdma-gpudirect.test: N parties (threads, ipc:// endpoints) and
 * the dealer input two vectors of n values, multiply them (a dealer
 * triple: a correction for party 0; two openings), and reveal the product
 * (one more opening), with n above the core's chunk size so openings and
 * corrections travel as several messages.  The backends come from the
 * environment (SPIN_BACKEND, SPIN_PLUGIN_PATH); the script reads the log.
 *
 *   ./test_gpudirect [N [n]]      exit 0 when every party's result is right
 *   ./test_gpudirect --fail ...   exit 0 when opening fails (SPIN_ERR_*)
 *   ./test_gpudirect --mixed ...  as the first, but the first party to read
 *                                 SPIN_RDMA_GPUDIRECT gets "off" (a mixed run:
 *                                 staged and direct parties interoperate)
 */
#include "config.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/mpc.h>

typedef struct { size_t n; } job_t;

static double xval(size_t i) { return (double)(i % 97) / 8.0 - 6.0; }
static double yval(size_t i) { return (double)(i % 31) / 4.0 - 3.5; }

static int party(spin_ctx_t *ctx, int p, void *arg)
{
    const job_t *j = arg;
    size_t n = j->n, shape[1] = {n};
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *z = malloc(n * sizeof *z);
    spin_tensor_t *tx = NULL, *ty = NULL, *tz = NULL;
    int rc = x && y && z ? 0 : SPIN_ERR_NOMEM;
    for (size_t i = 0; !rc && i < n; i++) x[i] = xval(i), y[i] = yval(i);
    if (!rc) rc = spin_input_f64(ctx, 0, p == 0 ? x : NULL, 1, shape, &tx);
    if (!rc) rc = spin_input_f64(ctx, 1, p == 1 ? y : NULL, 1, shape, &ty);
    if (!rc) rc = spin_mul(ctx, tx, ty, &tz);
    if (!rc) rc = spin_reveal_f64(ctx, tz, -1, z);
    size_t bad = 0;
    for (size_t i = 0; !rc && i < n; i++)
        if (fabs(z[i] - x[i] * y[i]) > 1e-3) {
            if (!bad) fprintf(stderr, "party %d: z[%zu] = %g, expected %g\n", p, i, z[i], x[i] * y[i]);
            bad++;
        }
    if (bad) {
        fprintf(stderr, "party %d: %zu of %zu products wrong\n", p, bad, n);
        rc = SPIN_ERR_INTERNAL;
    }
    spin_tensor_free(tx);
    spin_tensor_free(ty);
    spin_tensor_free(tz);
    free(x);
    free(y);
    free(z);
    return rc;
}

static atomic_int gd_reads;

static const char *mixed_getenv(void *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "SPIN_RDMA_GPUDIRECT") == 0 && atomic_fetch_add(&gd_reads, 1) == 0) return "off";
    return getenv(name);
}

int main(int argc, char **argv)
{
    int expect_fail = argc > 1 && strcmp(argv[1], "--fail") == 0;
    int mixed = argc > 1 && strcmp(argv[1], "--mixed") == 0;
    int a = expect_fail || mixed ? 2 : 1;
    spin_runtime_opts_t ro;
    memset(&ro, 0, sizeof ro);
    ro.struct_size = sizeof ro;
    ro.getenv = mixed_getenv;
    int N = argc > a ? atoi(argv[a]) : 2;
    job_t j = {argc > a + 1 ? (size_t)strtoull(argv[a + 1], NULL, 10) : 300000};
    spin_ctx_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.frac_bits = 16;
    o.timeout_ms = expect_fail ? 3000 : 60000;
    if (mixed) o.runtime = &ro;
    int rc = spin_run_local(N, "ipc", &o, party, &j);
    printf("test_gpudirect: %d parties, %zu values: %s\n", N, j.n, rc ? spin_strerror(rc) : "ok");
    if (expect_fail) return rc ? 0 : 1;
    return rc ? 1 : 0;
}
