/* test_arith_dealer.c - the dealer prepares the requests of a repeating
 * sequence ahead (hits and mispredictions from its closing log line), and
 * SPIN_DEALER_PREFETCH_MB through the runtime's environment hook
 * (test_arith). */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/mpc.h>
#include "testutil.h"
#include "arith_suite.h"

/* ---- a repeating sequence (the dealer prepares requests ahead) ---------- */

/* The dealer prepares the next requests of a repeating sequence while the
 * parties compute: K iterations of {mul, matmul} (each with its
 * truncation), optionally with one extra step after iteration 3; every
 * result is checked, so predictions and mispredictions never change an
 * answer (this replaces the former repeating_sequence test). */
#define RA_ITERS 8
static int p_runahead(spin_ctx_t *ctx, int party, void *arg)
{
    int brk = *(const int *)arg;
    int N = spin_ctx_nparties(ctx);
    size_t sh[2] = {8, 16}, wsh[2] = {16, 4};
    double *x = gen(128, 43, 1.0), *w = gen(64, 44, 0.5);
    spin_tensor_t *a, *b, *z, *m;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 2, sh, &a));
    CHECK_RC(spin_input_f64(ctx, N - 1, party == N - 1 ? w : NULL, 2, wsh, &b));
    double out[128], ref[32];
    ref_matmul(x, w, ref, 1, 1, 1, 8, 4, 16, 0, 0);
    for (int it = 0; it < RA_ITERS; it++) {
        CHECK_RC(spin_mul(ctx, a, a, &z));
        CHECK_RC(spin_matmul(ctx, a, 0, b, 0, &m));
        CHECK_RC(spin_reveal_f64(ctx, z, -1, out));
        for (int i = 0; i < 128; i++)
            if (fabs(out[i] - x[i] * x[i]) > (2 * fabs(x[i]) + 1) * ULP / 2 + ULP) FAILF("iteration %d mul[%d] off\n", it, i);
        CHECK_RC(spin_reveal_f64(ctx, m, -1, out));
        for (int i = 0; i < 32; i++)
            if (fabs(out[i] - ref[i]) > ULP * 1.01) FAILF("iteration %d matmul[%d] off\n", it, i);
        spin_tensor_free(z);
        spin_tensor_free(m);
        if (brk && it == 3) {
            CHECK_RC(spin_square(ctx, b, &z));
            spin_tensor_free(z);
        }
    }
    spin_tensor_free(a);
    spin_tensor_free(b);
    free(x);
    free(w);
    return 0;
}

/* Captures the dealer's closing line "served S requests: H prepared ahead,
 * M mispredicted"; passes warnings and errors on to stderr. */
typedef struct { long long served, hits, misses; int seen, env_warned; } ra_stats_t;
static void ra_sink(void *u, spin_log_level_t lv, const char *msg)
{
    ra_stats_t *st = u;
    long long s, h, m;
    if (sscanf(msg, "dealer: served %lld requests: %lld prepared ahead, %lld mispredicted", &s, &h, &m) == 3) {
        st->served = s; /* one dealer thread writes, after the parties finished */
        st->hits = h;
        st->misses = m;
        st->seen++;
    } else if (lv == SPIN_LOG_WARN && strstr(msg, "SPIN_DEALER_PREFETCH_MB=\"") &&
               strstr(msg, "is not a whole number of MiB in [0, 65536]; using 256")) {
        st->env_warned++;
    } else if (lv <= SPIN_LOG_WARN) {
        fprintf(stderr, "%s\n", msg);
    }
}

/* The runtime's environment hook: SPIN_DEALER_PREFETCH_MB from `u` (NULL:
 * unset), everything else from the process environment. */
static const char *prefetch_env(void *u, const char *name)
{
    return strcmp(name, "SPIN_DEALER_PREFETCH_MB") == 0 ? (const char *)u : getenv(name);
}

static ra_stats_t run_runahead_env(int n, int brk, const char *prefetch_mb)
{
    ra_stats_t st;
    memset(&st, 0, sizeof st);
    spin_logger_t lg = {SPIN_LOG_DEBUG, NULL, ra_sink, &st};
    spin_runtime_opts_t ro;
    memset(&ro, 0, sizeof ro);
    ro.struct_size = sizeof ro;
    ro.log = &lg;
    ro.getenv = prefetch_env;
    ro.env_ctx = (void *)prefetch_mb;
    spin_ctx_opts_t o = base_opts();
    o.runtime = &ro;
    int rc = spin_run_local(n, scheme, &o, p_runahead, &brk);
    ck_assert_msg(rc == 0, "N = %d over %s: %s", n, scheme, spin_strerror(rc));
    ck_assert_msg(st.seen == 1, "N = %d: the dealer's closing line was logged %d times", n, st.seen);
    return st;
}

static ra_stats_t run_runahead(int n, int brk) { return run_runahead_env(n, brk, NULL); }

/* ---- the test cases ----------------------------------------------------- */

/* From the second iteration on, every request of a repeating sequence was
 * prepared before it arrived: all but the first iteration's S requests and
 * the first of the second (the dealer has not yet seen what follows the
 * last step).  One extra step after iteration 3 costs exactly two
 * mispredictions: the detour itself, and the return to the sequence one
 * iteration later (the dealer has learnt the detour as what follows). */
START_TEST(dealer_runahead)
{
    for (int n = 2; n <= 4; n++) {
        ra_stats_t st = run_runahead(n, 0);
        long long S = st.served / RA_ITERS;
        ck_assert_msg(S >= 4 && st.served == S * RA_ITERS, "N = %d: %lld requests for %d iterations", n,
                      st.served, RA_ITERS);
        ck_assert_msg(st.hits == st.served - S - 1 && st.misses == 0,
                      "N = %d: %lld of %lld requests prepared ahead (want %lld), %lld mispredicted", n, st.hits,
                      st.served, st.served - S - 1, st.misses);
        ra_stats_t br = run_runahead(n, 1);
        ck_assert_msg(br.served > st.served, "N = %d: the extra step made %lld requests, not more than %lld", n,
                      br.served, st.served);
        ck_assert_msg(br.misses == 2 && br.hits > st.hits - 2 * S - 2,
                      "N = %d with a break: %lld prepared ahead, %lld mispredicted (want 2)", n, br.hits,
                      br.misses);
    }
}
END_TEST
/* SPIN_DEALER_PREFETCH_MB, read through the runtime's environment hook: 0
 * turns the run-ahead off (nothing prepared, the same requests served); a
 * malformed or out-of-range value is named in a warning and the default
 * 256 MiB applies (the run-ahead works). */
START_TEST(dealer_prefetch_env)
{
    ra_stats_t on = run_runahead(2, 0);
    ck_assert_msg(on.hits > 0 && on.env_warned == 0, "default: %lld prepared ahead, %d warnings", on.hits,
                  on.env_warned);
    ra_stats_t off = run_runahead_env(2, 0, "0");
    ck_assert_msg(off.served == on.served && off.hits == 0 && off.misses == 0 && off.env_warned == 0,
                  "SPIN_DEALER_PREFETCH_MB=0: %lld of %lld served, %lld prepared ahead, %lld mispredicted",
                  off.served, on.served, off.hits, off.misses);
    const char *bad[] = {"lots", "12MB", "-1", "65537", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ra_stats_t b = run_runahead_env(2, 0, bad[i]);
        ck_assert_msg(b.env_warned == 1 && b.hits == on.hits && b.served == on.served,
                      "SPIN_DEALER_PREFETCH_MB=\"%s\": %d warnings (want 1), %lld prepared ahead (want %lld)",
                      bad[i], b.env_warned, b.hits, on.hits);
    }
}
END_TEST

void arith_dealer_tests(TCase *tc)
{
    tcase_add_test(tc, dealer_runahead);
    tcase_add_test(tc, dealer_prefetch_env);
}
