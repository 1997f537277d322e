/* test_setup.c - what spin_ctx_open sends, and the settings it resolves.
 *
 *  - setup_message_counts: for N = 2, 3, 4 (spin_run_local over ipc://),
 *    the transport counters right after spin_ctx_open: party i sends its
 *    pairwise input keys to the parties above it (N-1-i messages of 16
 *    bytes) and nothing else; the dealer sends one 16-byte seed per party
 *    (N messages; seen as one message from the dealer at every party).
 *    No configuration message: N, f and the build travel in the
 *    transports' HELLO (spin_transport_cfg_t.fingerprint).
 *  - timeout_*: SPIN_TIMEOUT injected through the runtime's getenv hook
 *    reaches the transport as timeout_ms: 0.5 makes a silent party fail
 *    in about 0.5 s; a malformed value is named in a warning and 60 s
 *    applies (a party 1.5 s late still joins); opts.timeout_ms wins.
 *    (tests/spin-timeout.test does the same from the process environment
 *    with spin-run.) */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <spin/mpc.h>
#include "testutil.h"

#define MAXN 4

/* ---- setup message counts ----------------------------------------------- */

typedef struct setup_rec {
    spin_comm_stats_t peer[MAXN][MAXN + 1];   /* [party][peer] */
    int done[MAXN];
} setup_rec_t;

static int p_record(spin_ctx_t *ctx, int party, void *arg)
{
    setup_rec_t *r = arg;
    int n = spin_ctx_nparties(ctx);
    for (int p = 0; p <= n; p++) {
        if (p == party) continue;
        int rc = spin_ctx_stats(ctx, p, &r->peer[party][p]);
        if (rc) return rc;
    }
    r->done[party] = 1;
    return 0;
}

START_TEST(setup_message_counts)
{
    for (int n = 2; n <= MAXN; n++) {
        setup_rec_t r;
        memset(&r, 0, sizeof r);
        spin_ctx_opts_t o;
        memset(&o, 0, sizeof o);
        o.struct_size = sizeof o;
        ck_assert_int_eq(spin_run_local(n, "ipc", &o, p_record, &r), 0);
        uint64_t from_dealer = 0;
        for (int i = 0; i < n; i++) {
            ck_assert(r.done[i]);
            uint64_t sent = 0;
            for (int p = 0; p <= n; p++) {
                if (p == i) continue;
                const spin_comm_stats_t *s = &r.peer[i][p];
                /* to party p: a pairwise key when p is above i */
                uint64_t want_sent = p < n && p > i ? 1 : 0;
                /* from party p: its key when p is below i; from the dealer: a seed */
                uint64_t want_recv = p == n || p < i ? 1 : 0;
                ck_assert_msg(s->msgs_sent == want_sent && s->bytes_sent == 16 * want_sent &&
                                  s->msgs_recv == want_recv && s->bytes_recv == 16 * want_recv,
                              "N = %d, party %d with %s %d: sent %llu messages (%llu bytes), received %llu "
                              "(%llu bytes); want %llu and %llu messages of 16 bytes",
                              n, i, p == n ? "the dealer" : "party", p, (unsigned long long)s->msgs_sent,
                              (unsigned long long)s->bytes_sent, (unsigned long long)s->msgs_recv,
                              (unsigned long long)s->bytes_recv, (unsigned long long)want_sent,
                              (unsigned long long)want_recv);
                sent += s->msgs_sent;
            }
            ck_assert_msg(sent == (uint64_t)(n - 1 - i), "N = %d: party %d sent %llu setup messages, want N-1-i = %d",
                          n, i, (unsigned long long)sent, n - 1 - i);
            ck_assert_msg(r.peer[i][i == 0 ? 1 : 0].rounds == 0, "N = %d: party %d counted %llu rounds at setup",
                          n, i, (unsigned long long)r.peer[i][i == 0 ? 1 : 0].rounds);
            from_dealer += r.peer[i][n].msgs_recv;
        }
        ck_assert_msg(from_dealer == (uint64_t)n, "N = %d: the dealer sent %llu messages, want N", n,
                      (unsigned long long)from_dealer);
    }
}
END_TEST

/* ---- SPIN_TIMEOUT through the getenv hook -------------------------------- */

/* The process environment, except SPIN_TIMEOUT (injected, or unset). */
typedef struct party_env {
    const char *timeout;        /* NULL: unset */
    int party, nparties;
    int delay_ms;               /* open this late */
    int opts_timeout_ms;
    const char *const *eps;
    int rc;
    double open_s;              /* how long spin_ctx_open took */
    char log[8192];
} party_env_t;

static const char *hook_getenv(void *ctx, const char *name)
{
    party_env_t *pe = ctx;
    if (strcmp(name, "SPIN_TIMEOUT") == 0) return pe->timeout;
    return getenv(name);
}

static void hook_sink(void *u, spin_log_level_t lv, const char *msg)
{
    (void)lv;
    party_env_t *pe = u;
    size_t l = strlen(pe->log);
    snprintf(pe->log + l, sizeof pe->log - l, "%s\n", msg);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *open_main(void *arg)
{
    party_env_t *pe = arg;
    if (pe->delay_ms) usleep((useconds_t)pe->delay_ms * 1000);
    spin_logger_t lg = {SPIN_LOG_WARN, NULL, hook_sink, pe};
    spin_runtime_opts_t ro;
    memset(&ro, 0, sizeof ro);
    ro.struct_size = sizeof ro;
    ro.log = &lg;
    ro.getenv = hook_getenv;
    ro.env_ctx = pe;
    spin_ctx_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.party = pe->party;
    o.nparties = pe->nparties;
    o.endpoints = pe->eps;
    o.timeout_ms = pe->opts_timeout_ms;
    o.runtime = &ro;
    spin_ctx_t *ctx = NULL;
    double t0 = now_s();
    pe->rc = spin_ctx_open(&o, &ctx);
    pe->open_s = now_s() - t0;
    if (pe->rc) return NULL;
    if (spin_ctx_is_dealer(ctx)) pe->rc = spin_dealer_serve(ctx);
    spin_ctx_close(ctx);
    return NULL;
}

/* Two parties and the dealer opened by hand; party 1 opens delay1_ms late,
 * or never (delay1_ms < 0). */
static void run_three(const char *timeout, int opts_timeout_ms, int delay1_ms, party_env_t pe[3])
{
    char *dir = tu_tmpdir("setup");
    ck_assert_ptr_nonnull(dir);
    char e[3][300];
    const char *eps[3];
    for (int i = 0; i < 3; i++) {
        snprintf(e[i], sizeof e[i], "ipc://%s/e%d", dir, i);
        eps[i] = e[i];
    }
    pthread_t th[3];
    int started[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        memset(&pe[i], 0, sizeof pe[i]);
        pe[i].timeout = timeout;
        pe[i].party = i;
        pe[i].nparties = 2;
        pe[i].eps = eps;
        pe[i].opts_timeout_ms = opts_timeout_ms;
        if (i == 1 && delay1_ms < 0) continue;   /* the silent party */
        if (i == 1) pe[i].delay_ms = delay1_ms;
        ck_assert_int_eq(pthread_create(&th[i], NULL, open_main, &pe[i]), 0);
        started[i] = 1;
    }
    for (int i = 0; i < 3; i++)
        if (started[i]) pthread_join(th[i], NULL);
    tu_rmdir(dir);
    free(dir);
}

START_TEST(timeout_injected_fraction)
{
    party_env_t pe[3];
    run_three("0.5", 0, -1, pe);
    for (int i = 0; i < 3; i += 2) {
        ck_assert_msg(pe[i].rc != 0, "%s opened without party 1", i ? "the dealer" : "party 0");
        ck_assert_msg(pe[i].open_s > 0.3 && pe[i].open_s < 3.0,
                      "%s: SPIN_TIMEOUT=0.5 failed after %.2f s (want about 0.5 s): %s",
                      i ? "the dealer" : "party 0", pe[i].open_s, pe[i].log);
        ck_assert_msg(strstr(pe[i].log, "0.5 s") != NULL, "no \"0.5 s\" in the error: %s", pe[i].log);
        ck_assert_msg(strstr(pe[i].log, "is not a positive number") == NULL, "unexpected warning: %s", pe[i].log);
    }
    /* The option wins over the variable: 0.5 s although SPIN_TIMEOUT says 30. */
    run_three("30", 500, -1, pe);
    ck_assert_msg(pe[0].rc != 0 && pe[0].open_s < 3.0, "timeout_ms = 500 with SPIN_TIMEOUT=30: rc %d after %.2f s",
                  pe[0].rc, pe[0].open_s);
}
END_TEST

START_TEST(timeout_injected_malformed)
{
    /* A party 1.5 s late joins under the 60 s that applies... */
    static const char *const bad[] = {"abc", "-3", "0", "1s", "nan", "1e9"};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        party_env_t pe[3];
        run_three(bad[b], 0, b == 0 ? 1500 : 0, pe);
        char want[128];
        snprintf(want, sizeof want, "SPIN_TIMEOUT=\"%s\" is not a positive number of seconds; using 60", bad[b]);
        for (int i = 0; i < 3; i++) {
            ck_assert_msg(pe[i].rc == 0, "SPIN_TIMEOUT=\"%s\", party %d: %s\n%s", bad[b], i, spin_strerror(pe[i].rc),
                          pe[i].log);
            const char *w = strstr(pe[i].log, want);
            ck_assert_msg(w != NULL, "SPIN_TIMEOUT=\"%s\", party %d: no warning \"%s\" in: %s", bad[b], i, want,
                          pe[i].log);
            ck_assert_msg(strstr(w + 1, want) == NULL, "SPIN_TIMEOUT=\"%s\", party %d: warned twice: %s", bad[b],
                          i, pe[i].log);
        }
    }
    /* ... while under SPIN_TIMEOUT=0.5 it is too late; a valid value with
     * blanks after it gives no warning. */
    party_env_t pe[3];
    run_three("0.5", 0, 1500, pe);
    ck_assert_msg(pe[0].rc != 0, "party 0 waited 1.5 s for party 1 under SPIN_TIMEOUT=0.5");
    run_three("30 ", 0, 0, pe);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(pe[i].rc == 0 && !strstr(pe[i].log, "SPIN_TIMEOUT"), "SPIN_TIMEOUT=\"30 \", party %d: %s", i,
                      pe[i].log);
}
END_TEST

int main(void)
{
    spin_runtime_t *rt;
    spin_backend_t be;
    rt = tu_runtime_for("tcp", SPIN_PLUGIN_TRANSPORT, &be);
    spin_runtime_close(rt);
    rt = tu_runtime_for("cpu", SPIN_PLUGIN_COMPUTE, &be);
    spin_runtime_close(rt);
    Suite *s = suite_create("setup");
    TCase *tc = tcase_create("setup");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, setup_message_counts);
    tcase_add_test(tc, timeout_injected_fraction);
    tcase_add_test(tc, timeout_injected_malformed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
