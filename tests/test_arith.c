/* test_arith.c - the arithmetic protocols on real multi-party runs (N = 2,
 * 3, 4 parties + dealer as threads over the tcp plugin's ipc:// and tcp://
 * links), checked against float64 math with stated error bounds, and the
 * transport counters checked against docs/PROTOCOLS.md.
 *
 * This file: the helpers the cases share (arith_suite.h) and main, which
 * runs them all in one test case, "protocols":
 *   test_arith_linear.c    input, reveal, linear and local ops, in place
 *   test_arith_products.c  products, static operands, convolutions, truncation
 *   test_arith_dealer.c    the dealer's run-ahead and SPIN_DEALER_PREFETCH_MB
 *   test_arith_setup.c     configuration and sequence mismatches, randomness */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/mpc.h>
#include "testutil.h"
#include "arith_suite.h"

const char *scheme = "ipc";

/* ---- deterministic public test data ------------------------------------- */

static double gauss(uint64_t *s)
{
    double u1 = ((double)(tu_rand64(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(tu_rand64(s) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double *gen(size_t n, uint64_t seed, double scale)
{
    double *v = malloc(n * sizeof *v);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) v[i] = gauss(&s) * scale;
    return v;
}

/* encoding error of a value (round to nearest) is at most half an ulp */
double q(double x) { return round(x * 65536.0) / 65536.0; }

spin_ctx_opts_t base_opts(void)
{
    spin_ctx_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.frac_bits = F;
    o.timeout_ms = 60000;
    return o;
}

/* Cost of one protocol step against docs/PROTOCOLS.md: bytes sent and
 * received (peers and dealer together) and rounds, from the counters
 * before (s0) and after. */
int cost_is(spin_ctx_t *ctx, const char *what, const spin_comm_stats_t *s0, uint64_t sent, uint64_t recv,
                   uint64_t rounds)
{
    spin_comm_stats_t s1;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    if (s1.bytes_sent - s0->bytes_sent != sent || s1.bytes_recv - s0->bytes_recv != recv ||
        s1.rounds - s0->rounds != rounds)
        FAILF("party %d, %s: sent %llu, received %llu bytes in %llu rounds; documented %llu, %llu, %llu\n",
              spin_ctx_party(ctx), what, (unsigned long long)(s1.bytes_sent - s0->bytes_sent),
              (unsigned long long)(s1.bytes_recv - s0->bytes_recv), (unsigned long long)(s1.rounds - s0->rounds),
              (unsigned long long)sent, (unsigned long long)recv, (unsigned long long)rounds);
    return 0;
}

/* C[b] = op(A[b]) op(B[b]) in float64, A row-major [ba][r][c]. */
void ref_matmul(const double *A, const double *B, double *C, size_t batch, size_t ba, size_t bb,
                       size_t m, size_t n, size_t k, int ta, int tb)
{
    for (size_t t = 0; t < batch; t++) {
        const double *a = A + (ba > 1 ? t * m * k : 0), *b = B + (bb > 1 ? t * k * n : 0);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double s = 0;
                for (size_t l = 0; l < k; l++)
                    s += q(ta ? a[l * m + i] : a[i * k + l]) * q(tb ? b[j * k + l] : b[l * n + j]);
                C[t * m * n + i * n + j] = s;
            }
    }
}

void run_all_n(spin_party_fn fn, void *arg)
{
    for (int n = 2; n <= 4; n++) {
        spin_ctx_opts_t o = base_opts();
        int rc = spin_run_local(n, scheme, &o, fn, arg);
        ck_assert_msg(rc == 0, "N = %d over %s: %s", n, scheme, spin_strerror(rc));
    }
}

int main(int argc, char **argv)
{
    if (argc > 1) scheme = argv[1];
    spin_runtime_t *rt;
    spin_backend_t be;
    rt = tu_runtime_for("tcp", SPIN_PLUGIN_TRANSPORT, &be);
    spin_runtime_close(rt);
    rt = tu_runtime_for("cpu", SPIN_PLUGIN_COMPUTE, &be);
    spin_runtime_close(rt);
    Suite *s = suite_create("arith");
    TCase *tc = tcase_create("protocols");
    tcase_set_timeout(tc, 600);
    arith_linear_tests(tc);
    arith_products_tests(tc);
    arith_dealer_tests(tc);
    arith_setup_tests(tc);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
