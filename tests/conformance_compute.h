/* conformance_compute.h - shared pieces of the compute-plugin conformance
 * suite (conformance_compute*.c): the backend under test, assertion macros
 * that stay silent when they hold, plugin-memory helpers, edge values, and
 * the test cases each file contributes. */
#ifndef SPIN_CONFORMANCE_COMPUTE_H
#define SPIN_CONFORMANCE_COMPUTE_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <spin/spin.h>

#include "testutil.h"

extern spin_backend_t g_be;
extern const spin_compute_ops_t *O;
extern void *S;
extern int g_log_errors;
extern char g_log_last[512];
extern const char *g_plugin_name;

/* Like ck_assert_msg, but silent when it holds: Check's own assertions
 * report every passing check to the parent process (a system call each),
 * far too slow inside loops over a million elements. */
#define EXPECT(cond, ...)                                                     \
    do {                                                                      \
        if (!(cond)) ck_abort_msg(__VA_ARGS__);                               \
    } while (0)

/* Expect rc == want and (for errors) one new error log line. */
#define EXPECT_ERR(want, call)                                                \
    do {                                                                      \
        int before_ = g_log_errors;                                           \
        int rc_ = (call);                                                     \
        EXPECT(rc_ == (want), "%s returned %d (%s), expected %d",             \
               #call, rc_, spin_strerror(rc_), (int)(want));                  \
        EXPECT(g_log_errors > before_, "%s: no error was logged", #call);     \
    } while (0)

#define OK(call)                                                              \
    do {                                                                      \
        int rc_ = (call);                                                     \
        EXPECT(rc_ == 0, "%s failed: %d (%s)", #call, rc_, spin_strerror(rc_)); \
    } while (0)

#define U64(x) UINT64_C(x)

void *dalloc(size_t bytes);
void dfree(void *p);
void put(void *d, const void *h, size_t bytes);
void get(void *h, const void *d, size_t bytes);
uint64_t *up64(const uint64_t *h, size_t n);
double *upf(const double *h, size_t n);
uint64_t *hrand(size_t n, uint64_t seed);

void ew_check(const char *what, int op, const uint64_t *got, const uint64_t *want, size_t n);

extern const uint64_t EDGE[];
extern const size_t NEDGE;

/* Word j of the AES-CTR stream by the reference AES (conformance_compute_prg.c). */
uint64_t ref_word(const spin_prg_key_t *k, uint64_t nonce, uint64_t j);

/* Test cases, one function per file. */
TCase *cc_tcase_prg(void);          /* conformance_compute_prg.c */
TCase *cc_tcase_gemm(void);         /* conformance_compute_ring.c */
TCase *cc_tcase_elementwise(void);  /* conformance_compute_ring.c */
TCase *cc_tcase_layout(void);       /* conformance_compute_layout.c */
TCase *cc_tcase_f64(void);          /* conformance_compute_ring.c */

#endif
