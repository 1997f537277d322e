/* test_arith_setup.c - parties that disagree: a different number of
 * fractional bits at open, different protocols or step descriptions in a
 * run (peers out of step); and fresh randomness from the OS, repeatable
 * only with a fixed seed; the SPIN_CHECK_RANGES debug mode (test_arith). */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/mpc.h>
#include "testutil.h"
#include "arith_suite.h"

/* ---- configuration and sequence mismatches ------------------------------ */

/* Party 0 records its share of a value input by party 1, and of a product. */
static int p_shares(spin_ctx_t *ctx, int party, void *arg)
{
    uint64_t *rec = arg;
    double x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    size_t shape[1] = {8};
    spin_tensor_t *t, *z;
    CHECK_RC(spin_input_f64(ctx, 1, party == 1 ? x : NULL, 1, shape, &t));
    CHECK_RC(spin_mul(ctx, t, t, &z));
    if (party == 0) {
        CHECK_RC(spin_share_export(ctx, t, rec));
        CHECK_RC(spin_share_export(ctx, z, rec + 8));
    }
    spin_tensor_free(t);
    spin_tensor_free(z);
    return 0;
}

static int p_desync(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    size_t shape[1] = {16};
    double x[16] = {0};
    spin_tensor_t *a, *z;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 1, shape, &a));
    /* party 1 squares while the others multiply: must fail, not answer */
    int rc = party == 1 ? spin_square(ctx, a, &z) : spin_mul(ctx, a, a, &z);
    spin_tensor_free(a);
    if (rc == 0) {
        spin_tensor_free(z);
        return 0;
    }
    return rc;
}

/* Same kind and sizes, different step: party 1 transposes a square operand
 * (arg = 0) or truncates by 8 bits instead of 16 (arg = 1).  Openings carry
 * a hash of every step's description, so this must fail at the next
 * opening instead of answering (wrongly). */
static int p_desync_shape(spin_ctx_t *ctx, int party, void *arg)
{
    int which = *(const int *)arg;
    size_t sh[2] = {6, 6};
    double x[36];
    for (int i = 0; i < 36; i++) x[i] = 0.25 * (i % 7) - 0.5;
    spin_tensor_t *a, *z = NULL;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 2, sh, &a));
    int rc;
    if (which == 0) rc = spin_matmul(ctx, a, party == 1, a, 0, &z);
    else rc = spin_trunc(ctx, a, party == 1 ? 8 : 16, &z);
    double out[36];
    if (!rc) rc = spin_reveal_f64(ctx, z, -1, out);
    spin_tensor_free(a);
    spin_tensor_free(z);
    return rc;
}

/* ---- the test cases ----------------------------------------------------- */

/* Two parties and a dealer opened by hand, party 1 with another f. */
#define LOG_CAP 8192
typedef struct { int party; unsigned f; const char *const *eps; int rc; char log[LOG_CAP]; } mm_t;
/* A logger sink appending every line to a char[LOG_CAP] (u). */
static void log_sink(void *u, spin_log_level_t lv, const char *msg)
{
    (void)lv;
    char *log = u;
    size_t l = strlen(log);
    snprintf(log + l, LOG_CAP - l, "%s\n", msg);
}
static void *mm_main(void *p)
{
    mm_t *m = p;
    spin_logger_t lg = {SPIN_LOG_WARN, NULL, log_sink, m->log};
    spin_runtime_opts_t ro;
    memset(&ro, 0, sizeof ro);
    ro.struct_size = sizeof ro;
    ro.log = &lg;
    ro.no_default_path = 1;
    spin_ctx_opts_t o = base_opts();
    o.party = m->party;
    o.nparties = 2;
    o.endpoints = m->eps;
    o.frac_bits = m->f;
    o.timeout_ms = 5000;
    o.runtime = &ro;
    spin_ctx_t *ctx = NULL;
    m->rc = spin_ctx_open(&o, &ctx);
    if (!m->rc) spin_ctx_close(ctx);
    return NULL;
}

/* SPIN_CHECK_RANGES=1 through the runtime's getenv hook: party 0 (only)
 * names the first product whose truncation input leaves |x| < 2^62. */
typedef struct {
    int party, n, big;
    const char *value;                   /* SPIN_CHECK_RANGES */
    const char *const *eps;
    int rc;
    double out[16];
    char log[LOG_CAP];
} cr_t;
static const char *cr_env(void *u, const char *name)
{
    return strcmp(name, "SPIN_CHECK_RANGES") == 0 ? ((cr_t *)u)->value : getenv(name);
}
static void *cr_main(void *p)
{
    cr_t *m = p;
    spin_logger_t lg = {SPIN_LOG_WARN, NULL, log_sink, m->log};
    spin_runtime_opts_t ro;
    memset(&ro, 0, sizeof ro);
    ro.struct_size = sizeof ro;
    ro.log = &lg;
    ro.getenv = cr_env;
    ro.env_ctx = m;
    spin_ctx_opts_t o = base_opts();
    o.party = m->party;
    o.nparties = m->n;
    o.endpoints = m->eps;
    o.timeout_ms = 20000;
    o.runtime = &ro;
    spin_ctx_t *ctx = NULL;
    m->rc = spin_ctx_open(&o, &ctx);
    if (m->rc) return NULL;
    if (m->party == m->n) {
        m->rc = spin_dealer_serve(ctx);
    } else {
        double x[16], y[16];
        for (int i = 0; i < 16; i++) x[i] = y[i] = 1.5 + 0.1 * i;
        if (m->big) x[5] = y[5] = 40000; /* x*y = 1.6e9 > 2^(62-2f) = 2^30 at f = 16 */
        size_t sh[1] = {16};
        spin_tensor_t *a = NULL, *b = NULL, *z = NULL;
        m->rc = spin_input_f64(ctx, 0, m->party == 0 ? x : NULL, 1, sh, &a);
        if (!m->rc) m->rc = spin_input_f64(ctx, 1, m->party == 1 ? y : NULL, 1, sh, &b);
        if (!m->rc) m->rc = spin_mul(ctx, a, b, &z);
        if (!m->rc) m->rc = spin_reveal_f64(ctx, z, -1, m->out);
        spin_tensor_free(a);
        spin_tensor_free(b);
        spin_tensor_free(z);
    }
    spin_ctx_close(ctx);
    return NULL;
}

static void cr_run(int n, int big, const char *value, cr_t *m)
{
    char *dir = tu_tmpdir("cr");
    char ep[5][300];
    const char *eps[5];
    for (int i = 0; i <= n; i++) {
        snprintf(ep[i], sizeof ep[i], "ipc://%s/p%d", dir, i);
        eps[i] = ep[i];
    }
    pthread_t th[5];
    for (int i = 0; i <= n; i++) {
        memset(&m[i], 0, sizeof m[i]);
        m[i].party = i;
        m[i].n = n;
        m[i].big = big;
        m[i].value = value;
        m[i].eps = eps;
        pthread_create(&th[i], NULL, cr_main, &m[i]);
    }
    for (int i = 0; i <= n; i++) pthread_join(th[i], NULL);
    tu_rmdir(dir);
    free(dir);
}

START_TEST(check_ranges_debug)
{
    cr_t m[5];
    for (int n = 2; n <= 3; n++) {
        for (int big = 0; big <= 1; big++) {
            cr_run(n, big, "1", m);
            for (int i = 0; i <= n; i++) {
                ck_assert_msg(m[i].rc == 0, "N = %d, party %d: %s: %s", n, i, spin_strerror(m[i].rc), m[i].log);
                ck_assert_msg(strstr(m[i].log, "SPIN_CHECK_RANGES=1 (development only)") != NULL, "%s", m[i].log);
            }
            const char *hit = strstr(m[0].log, "SPIN_CHECK_RANGES: mul (truncation #1): element 5 of 16 (and 1 in all)");
            if (big) ck_assert_msg(hit != NULL, "N = %d: party 0 did not name the element: %s", n, m[0].log);
            else ck_assert_msg(strstr(m[0].log, "SPIN_CHECK_RANGES:") == NULL, "a false alarm: %s", m[0].log);
            for (int i = 1; i <= n; i++) /* only party 0 learns the verdicts */
                ck_assert_msg(strstr(m[i].log, "SPIN_CHECK_RANGES:") == NULL, "party %d: %s", i, m[i].log);
            /* the check changes no result: in-range products stay exact */
            for (int k = 0; k < 16; k++) {
                if (big && k == 5) continue;
                double v = (1.5 + 0.1 * k) * (1.5 + 0.1 * k);
                ck_assert_msg(fabs(m[0].out[k] - v) < 1e-3, "N = %d, element %d: %g, expected %g", n, k,
                              m[0].out[k], v);
            }
        }
    }
    /* a value other than 0 or 1 is refused at open, naming it */
    cr_run(2, 0, "yes", m);
    ck_assert_int_eq(m[0].rc, SPIN_ERR_CONFIG);
    ck_assert_msg(strstr(m[0].log, "SPIN_CHECK_RANGES=\"yes\" is neither 0 nor 1") != NULL, "%s", m[0].log);
}
END_TEST

START_TEST(mismatched_frac_bits)
{
    char *dir = tu_tmpdir("mm");
    char e0[300], e1[300], e2[300];
    snprintf(e0, sizeof e0, "ipc://%s/a", dir);
    snprintf(e1, sizeof e1, "ipc://%s/b", dir);
    snprintf(e2, sizeof e2, "ipc://%s/c", dir);
    const char *eps[3] = {e0, e1, e2};
    mm_t m[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        memset(&m[i], 0, sizeof m[i]);
        m[i].party = i;
        m[i].f = i == 1 ? 20 : 16;
        m[i].eps = eps;
        pthread_create(&th[i], NULL, mm_main, &m[i]);
    }
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    tu_rmdir(dir);
    free(dir);
    ck_assert_msg(m[0].rc == SPIN_ERR_CONFIG, "party 0: %s, log: %s", spin_strerror(m[0].rc), m[0].log);
    ck_assert_msg(m[1].rc == SPIN_ERR_CONFIG, "party 1: %s, log: %s", spin_strerror(m[1].rc), m[1].log);
    ck_assert_msg(strstr(m[0].log, "party 1 uses 20 fractional bits, we use 16") != NULL, "%s", m[0].log);
    ck_assert_msg(strstr(m[1].log, "uses 16 fractional bits, we use 20") != NULL, "%s", m[1].log);
}
END_TEST

START_TEST(protocol_sequence_mismatch)
{
    spin_ctx_opts_t o = base_opts();
    o.timeout_ms = 3000;
    int rc = spin_run_local(2, scheme, &o, p_desync, NULL);
    ck_assert_msg(rc != 0, "parties running different protocols must fail");
}
END_TEST

START_TEST(step_description_mismatch)
{
    for (int which = 0; which < 2; which++)
        for (int n = 2; n <= 3; n++) {
            spin_ctx_opts_t o = base_opts();
            o.timeout_ms = 3000;
            int rc = spin_run_local(n, scheme, &o, p_desync_shape, &which);
            ck_assert_msg(rc == SPIN_ERR_PROTOCOL, "%s with N = %d: %s (want: peers out of step)",
                          which ? "different truncation widths" : "transposed vs plain matmul", n, spin_strerror(rc));
        }
}
END_TEST

START_TEST(fresh_randomness)
{
    /* Randomness comes from the OS: two runs on the same inputs give party 0
     * different shares, and a share is not the value. */
    uint64_t r1[16], r2[16];
    spin_ctx_opts_t o = base_opts();
    ck_assert_int_eq(spin_run_local(2, scheme, &o, p_shares, r1), 0);
    ck_assert_int_eq(spin_run_local(2, scheme, &o, p_shares, r2), 0);
    int same = 0, plain = 0;
    for (int i = 0; i < 16; i++) {
        same += r1[i] == r2[i];
        plain += r1[i] == (uint64_t)((i % 8 + 1) * 65536);
    }
    ck_assert_int_eq(same, 0);
    ck_assert_int_eq(plain, 0);
    /* A fixed seed (tests only) makes runs repeatable. */
    uint8_t seed[32] = {7};
    o.fixed_seed = seed;
    ck_assert_int_eq(spin_run_local(2, scheme, &o, p_shares, r1), 0);
    ck_assert_int_eq(spin_run_local(2, scheme, &o, p_shares, r2), 0);
    ck_assert_int_eq(memcmp(r1, r2, sizeof r1), 0);
}
END_TEST

void arith_setup_tests(TCase *tc)
{
    tcase_add_test(tc, protocol_sequence_mismatch);
    tcase_add_test(tc, step_description_mismatch);
    tcase_add_test(tc, mismatched_frac_bits);
    tcase_add_test(tc, check_ranges_debug);
    tcase_add_test(tc, fresh_randomness);
}
