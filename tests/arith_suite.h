/* arith_suite.h - what the parts of the test_arith program share: the
 * helpers of test_arith.c, and the functions with which each part adds its
 * test cases to the suite. */
#ifndef SPIN_TESTS_ARITH_SUITE_H
#define SPIN_TESTS_ARITH_SUITE_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <spin/mpc.h>

/* the endpoint scheme of every run: "ipc" (default) or argv[1] */
extern const char *scheme;
#define F 16
#define ULP (1.0 / 65536.0)

#define CHECK_RC(expr) do { int rc_ = (expr); if (rc_) { fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #expr, spin_strerror(rc_)); return rc_; } } while (0)
#define FAILF(...) do { fprintf(stderr, __VA_ARGS__); return SPIN_ERR_INTERNAL; } while (0)

/* ---- test_arith.c: shared helpers ---------------------------------------- */

/* n Gaussian values (deterministic in seed) times scale; malloc'd */
double *gen(size_t n, uint64_t seed, double scale);
/* x rounded to the fixed-point grid (2^-F) */
double q(double x);
/* context options of every run: F fractional bits, a 60 s timeout */
spin_ctx_opts_t base_opts(void);
/* 0 if the counters moved by exactly sent / recv bytes and rounds since s0 */
int cost_is(spin_ctx_t *ctx, const char *what, const spin_comm_stats_t *s0, uint64_t sent, uint64_t recv,
            uint64_t rounds);
/* the float64 reference of a (batched, transposed) product */
void ref_matmul(const double *A, const double *B, double *C, size_t batch, size_t ba, size_t bb,
                size_t m, size_t n, size_t k, int ta, int tb);
/* fn on N = 2, 3 and 4 parties + dealer over scheme; asserts that all pass */
void run_all_n(spin_party_fn fn, void *arg);

/* ---- the test cases: each adds its own to tc, in the suite's order ------- */

void arith_linear_tests(TCase *tc);   /* test_arith_linear.c */
void arith_products_tests(TCase *tc); /* test_arith_products.c */
void arith_dealer_tests(TCase *tc);   /* test_arith_dealer.c */
void arith_setup_tests(TCase *tc);    /* test_arith_setup.c */

#endif
