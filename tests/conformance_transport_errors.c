/* conformance_transport_errors.c - the "errors" test case of the transport
 * conformance suite: peers out of step (tag, length), configuration
 * mismatches refused at open naming the peer, the endpoint schemes,
 * timeouts that never hang, a peer that closes; and "rdma-faults", the
 * faults injected into the fake libibverbs. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spin/spin.h>

#include "testutil.h"
#include "conformance_transport.h"

/* ------------------------------------------------------------------------ */
/* Peers out of step: tag and length mismatches.                            */
/* ------------------------------------------------------------------------ */

static void body_tag_mismatch(party_t *p)
{
    uint64_t v = 42;
    if (p->me == 0) {
        int rc = p->t->send(p->comm, 1, 7, &v, sizeof v);
        REQ(p, rc == 0, "send: %s", spin_strerror(rc));
    } else {
        int rc = p->t->recv(p->comm, 0, 9, &v, sizeof v);
        REQ(p, rc == SPIN_ERR_PROTOCOL, "receiving tag 9 when tag 7 was sent returned %s",
            spin_strerror(rc));
        REQ(p, logged(p, "party 0"), "the error does not name party 0:\n%s", p->log);
    }
}

static void body_len_mismatch(party_t *p)
{
    uint64_t v[2] = {1, 2};
    if (p->me == 0) {
        int rc = p->t->send(p->comm, 1, 7, v, sizeof v);
        REQ(p, rc == 0, "send: %s", spin_strerror(rc));
    } else {
        int rc = p->t->recv(p->comm, 0, 7, v, 8);
        REQ(p, rc == SPIN_ERR_PROTOCOL, "receiving 8 bytes when 16 were sent returned %s",
            spin_strerror(rc));
        REQ(p, logged(p, "party 0"), "the error does not name party 0:\n%s", p->log);
    }
}

START_TEST(tag_mismatch)
{
    sess_t s;
    sess_init(&s, 2);
    sess_run(&s, body_tag_mismatch);
    expect_clean(&s);
    sess_destroy_logs(&s);
    sess_free(&s);
}
END_TEST

START_TEST(length_mismatch)
{
    sess_t s;
    sess_init(&s, 2);
    sess_run(&s, body_len_mismatch);
    expect_clean(&s);
    sess_destroy_logs(&s);
    sess_free(&s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Configuration mismatches are refused at open, naming the peer.           */
/* ------------------------------------------------------------------------ */

START_TEST(nparties_mismatch)
{
    sess_t s;
    sess_init(&s, 2);
    s.pc[0].timeout_ms = s.pc[1].timeout_ms = 10000;
    s.pc[1].nparties = 3; /* party 1 believes in a party 2 that never comes */
    double t0 = now_s();
    sess_run(&s, NULL);
    double el = now_s() - t0;
    ck_assert_msg(s.p[0].open_rc == SPIN_ERR_CONFIG, "party 0: open returned %s, expected %s",
                  spin_strerror(s.p[0].open_rc), spin_strerror(SPIN_ERR_CONFIG));
    ck_assert_msg(s.p[1].open_rc == SPIN_ERR_CONFIG, "party 1: open returned %s, expected %s",
                  spin_strerror(s.p[1].open_rc), spin_strerror(SPIN_ERR_CONFIG));
    ck_assert_msg(logged(&s.p[0], "party 1"), "party 0's error does not name party 1:\n%s",
                  s.p[0].log);
    ck_assert_msg(logged(&s.p[1], "party 0"), "party 1's error does not name party 0:\n%s",
                  s.p[1].log);
    ck_assert_msg(el < 8.0, "the mismatch took %.1f s to detect (not at connection time)", el);
    sess_destroy_logs(&s);
    sess_free(&s);
}
END_TEST

START_TEST(fingerprint_mismatch)
{
    sess_t s;
    sess_init(&s, 3);
    for (int i = 0; i < 3; i++) s.pc[i].timeout_ms = 8000;
    s.pc[2].fingerprint = 0xdeadbeef;
    double t0 = now_s();
    sess_run(&s, NULL);
    double el = now_s() - t0;
    ck_assert_msg(s.p[2].open_rc == SPIN_ERR_CONFIG, "party 2: open returned %s, expected %s",
                  spin_strerror(s.p[2].open_rc), spin_strerror(SPIN_ERR_CONFIG));
    for (int i = 0; i < 2; i++) {
        /* Both lower parties check party 2's HELLO.  A transport may stop
         * greeting the others after the first refusal (they time out then);
         * tcp delivers its HELLOs anyway, so everyone fails at once. */
        int rc = s.p[i].open_rc;
        if (strcmp(g_plugin, "tcp") == 0 || rc != SPIN_ERR_TIMEOUT) {
            ck_assert_msg(rc == SPIN_ERR_CONFIG, "party %d: open returned %s, expected %s", i,
                          spin_strerror(rc), spin_strerror(SPIN_ERR_CONFIG));
            ck_assert_msg(logged(&s.p[i], "party 2"), "party %d's error does not name party 2:\n%s",
                          i, s.p[i].log);
        }
    }
    if (strcmp(g_plugin, "tcp") == 0)
        ck_assert_msg(el < 6.0, "the mismatch took %.1f s to detect (not at connection time)", el);
    sess_destroy_logs(&s);
    sess_free(&s);
}
END_TEST

/* The fingerprint's parts (plugin.h, SPIN_FP_*): a mismatch in one part is
 * named as such by both ends of the link. */
static void run_fp_part_mismatch(uint64_t fp0, uint64_t fp1, const char *log0, const char *log1)
{
    sess_t s;
    sess_init(&s, 2);
    s.pc[0].timeout_ms = s.pc[1].timeout_ms = 8000;
    s.pc[0].fingerprint = fp0;
    s.pc[1].fingerprint = fp1;
    double t0 = now_s();
    sess_run(&s, NULL);
    double el = now_s() - t0;
    const char *want[2] = {log0, log1};
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(s.p[i].open_rc == SPIN_ERR_CONFIG, "party %d: open returned %s, expected %s",
                      i, spin_strerror(s.p[i].open_rc), spin_strerror(SPIN_ERR_CONFIG));
        ck_assert_msg(logged(&s.p[i], want[i]), "party %d did not log \"%s\":\n%s", i, want[i],
                      s.p[i].log);
    }
    ck_assert_msg(el < 6.0, "the mismatch took %.1f s to detect (not at connection time)", el);
    sess_destroy_logs(&s);
    sess_free(&s);
}

#define FP_BUILD UINT64_C(0x5350494e5445)

START_TEST(fingerprint_frac_bits)
{
    run_fp_part_mismatch(SPIN_FP_MAKE(FP_BUILD, 1, 16), SPIN_FP_MAKE(FP_BUILD, 1, 20),
                         "party 1 uses 20 fractional bits, we use 16: set the same SPIN_FRAC_BITS "
                         "(or frac_bits) on every party",
                         "party 0 uses 16 fractional bits, we use 20: set the same SPIN_FRAC_BITS "
                         "(or frac_bits) on every party");
}
END_TEST

START_TEST(fingerprint_nparties)
{
    /* the f parts differ too: the count is named first */
    run_fp_part_mismatch(SPIN_FP_MAKE(FP_BUILD, 2, 16), SPIN_FP_MAKE(FP_BUILD, 3, 20),
                         "party 1 runs with 3 computing parties, we run with 2: start every party "
                         "with the same count",
                         "party 0 runs with 2 computing parties, we run with 3: start every party "
                         "with the same count");
}
END_TEST

START_TEST(fingerprint_build)
{
    /* N and f differ too: another build is named first */
    uint64_t a = SPIN_FP_MAKE(FP_BUILD, 2, 16), b = SPIN_FP_MAKE(FP_BUILD + 1, 3, 20);
    char w0[160], w1[160];
    snprintf(w0, sizeof w0, "party 1 runs another Spin build (fingerprint %016llx, ours %016llx): "
             "install the same Spin everywhere", (unsigned long long)b, (unsigned long long)a);
    snprintf(w1, sizeof w1, "party 0 runs another Spin build (fingerprint %016llx, ours %016llx): "
             "install the same Spin everywhere", (unsigned long long)a, (unsigned long long)b);
    run_fp_part_mismatch(a, b, w0, w1);
}
END_TEST

/* The descriptor lists the scheme this run uses (plugin ABI 1.2,
 * endpoint_schemes: the core picks a transport by it). */
START_TEST(scheme_listed)
{
    size_t sl = strlen(g_scheme);
    int found = 0;
    for (const char *w = g_schemes; *w;) {
        while (*w == ' ') w++;
        size_t wl = strcspn(w, " ");
        if (wl == sl && strncmp(w, g_scheme, sl) == 0) found = 1;
        w += wl;
    }
    ck_assert_msg(found, "plugin %s runs on %s:// endpoints but its descriptor's endpoint_schemes "
                  "is \"%s\"", g_plugin, g_scheme, g_schemes);
}
END_TEST

/* An endpoint of a scheme the transport does not list in its descriptor
 * (endpoint_schemes) is refused at open, by every party, naming the
 * endpoint and the schemes it accepts. */
START_TEST(foreign_scheme)
{
    const char *foreign = strstr(g_schemes, "rdma") ? "tcp://127.0.0.1:9" : "rdma://127.0.0.1:9";
    sess_t s;
    sess_init(&s, 2);
    s.pc[0].timeout_ms = s.pc[1].timeout_ms = 3000;
    free(s.eps[1]);
    s.eps[1] = strdup(foreign);
    double t0 = now_s();
    sess_run(&s, NULL);
    double el = now_s() - t0;
    for (int i = 0; i < 2; i++) {
        party_t *p = &s.p[i];
        ck_assert_msg(p->open_rc == SPIN_ERR_CONFIG, "party %d: open with endpoint %s returned %s, "
                      "expected %s", i, foreign, spin_strerror(p->open_rc),
                      spin_strerror(SPIN_ERR_CONFIG));
        char want[128];
        snprintf(want, sizeof want, "endpoint \"%s\" of party 1", foreign);
        ck_assert_msg(logged(p, want), "party %d's error does not name the endpoint:\n%s", i,
                      p->log);
        /* every accepted scheme is named */
        for (const char *w = g_schemes; *w;) {
            while (*w == ' ') w++;
            size_t wl = strcspn(w, " ");
            if (wl) {
                snprintf(want, sizeof want, "%.*s://", (int)wl, w);
                ck_assert_msg(logged(p, "accepts") && logged(p, want),
                              "party %d's error does not say that %s is accepted:\n%s", i, want,
                              p->log);
            }
            w += wl;
        }
    }
    ck_assert_msg(el < 2.5, "refusing a foreign scheme took %.1f s (not at once)", el);
    sess_destroy_logs(&s);
    sess_free(&s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Timeouts: never hang.                                                    */
/* ------------------------------------------------------------------------ */

static void body_silent(party_t *p)
{
    if (p->me == 0) return; /* never sends */
    uint64_t v;
    double t0 = now_s();
    int rc = p->t->recv(p->comm, 0, 1, &v, sizeof v);
    double el = now_s() - t0;
    REQ(p, rc == SPIN_ERR_TIMEOUT, "receiving from a silent peer returned %s", spin_strerror(rc));
    REQ(p, el >= 0.45 && el < 5.0, "the 500 ms timeout fired after %.3f s", el);
    REQ(p, logged(p, "party 0"), "the timeout error does not name party 0:\n%s", p->log);
}

START_TEST(timeout_silent_peer)
{
    sess_t s;
    sess_init(&s, 2);
    s.pc[0].timeout_ms = 500;
    s.pc[1].timeout_ms = 500;
    sess_run(&s, body_silent);
    expect_clean(&s);
    sess_destroy_logs(&s);
    sess_free(&s);
}
END_TEST

static void run_missing(int missing)
{
    sess_t s;
    sess_init(&s, 2);
    s.pc[missing].skip = 1;
    s.pc[1 - missing].timeout_ms = 500;
    sess_run(&s, NULL);
    party_t *p = &s.p[1 - missing];
    ck_assert_msg(p->open_rc == SPIN_ERR_TIMEOUT, "open without party %d returned %s", missing,
                  spin_strerror(p->open_rc));
    ck_assert_msg(p->open_s >= 0.45 && p->open_s < 5.0, "the 500 ms open timeout took %.3f s",
                  p->open_s);
    char who[32];
    snprintf(who, sizeof who, "party %d", missing);
    ck_assert_msg(logged(p, who), "the timeout error does not name %s:\n%s", who, p->log);
    sess_destroy_logs(&s);
    sess_free(&s);
}

START_TEST(timeout_open_missing_lower) { run_missing(0); }
END_TEST
START_TEST(timeout_open_missing_higher) { run_missing(1); }
END_TEST

/* ------------------------------------------------------------------------ */
/* A peer that closes: the last messages still arrive; then an error.       */
/* ------------------------------------------------------------------------ */

static void body_close_early(party_t *p)
{
    int closer = *(int *)p->s->user;
    int other = 1 - closer;
    if (p->me == closer) {
        for (uint64_t k = 0; k < 3; k++) {
            int rc = p->t->send(p->comm, other, 5, &k, sizeof k);
            REQ(p, rc == 0, "send before close: %s", spin_strerror(rc));
        }
        p->t->close(p->comm); /* right after the sends */
        p->comm = NULL;
        return;
    }
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    for (uint64_t k = 0; k < 3; k++) {
        uint64_t v = 99;
        int rc = p->t->recv(p->comm, closer, 5, &v, sizeof v);
        REQ(p, rc == 0 && v == k, "message %llu sent just before close: %s (got %llu)",
            (unsigned long long)k, spin_strerror(rc), (unsigned long long)v);
    }
    uint64_t v;
    double t0 = now_s();
    int rc = p->t->recv(p->comm, closer, 5, &v, sizeof v);
    double el = now_s() - t0;
    REQ(p, rc == SPIN_ERR_PEER || rc == SPIN_ERR_TIMEOUT,
        "receiving from a closed peer returned %s", spin_strerror(rc));
    if (strcmp(g_plugin, "tcp") == 0) {
        REQ(p, rc == SPIN_ERR_PEER && el < 2.5,
            "tcp detects a closed peer (got %s after %.2f s)", spin_strerror(rc), el);
        char who[32];
        snprintf(who, sizeof who, "party %d", closer);
        REQ(p, logged(p, who), "the error does not name %s:\n%s", who, p->log);
    }
    if (strcmp(g_plugin, "rdma") == 0) {
        REQ(p, rc == SPIN_ERR_PEER && el < 2.5,
            "rdma detects a closed peer (got %s after %.2f s)", spin_strerror(rc), el);
        char who[32];
        snprintf(who, sizeof who, "party %d disconnected", closer);
        REQ(p, logged(p, who) && logged(p, "queue pair"),
            "the error does not say \"%s\" with the queue pair state:\n%s", who, p->log);
    }
}

static void run_close_early(int closer)
{
    sess_t s;
    sess_init(&s, 2);
    s.user = &closer;
    s.pc[0].timeout_ms = s.pc[1].timeout_ms = 3000;
    sess_run(&s, body_close_early);
    expect_clean(&s);
    sess_destroy_logs(&s);
    sess_free(&s);
}

START_TEST(peer_closes_lower) { run_close_early(0); }
END_TEST
START_TEST(peer_closes_higher) { run_close_early(1); }
END_TEST

/* ------------------------------------------------------------------------ */
/* rdma on the fake libibverbs: injected faults (FAKE_VERBS_*).             */
/* ------------------------------------------------------------------------ */

/* FAKE_VERBS_FAIL_WC=1: party 0's first data write completes with
 * IBV_WC_RETRY_EXC_ERR and is not delivered.  Party 0 must fail at its next
 * wait with SPIN_ERR_PEER naming party 1 and the verbs status, and every
 * later operation on the link at once; party 1, whose queue pair is fine,
 * times out naming party 0 and its queue pair state.  Nobody hangs. */
static void body_wc_error(party_t *p)
{
    uint64_t v = 42;
    double t0 = now_s();
    if (p->me == 0) {
        int rc = p->t->send(p->comm, 1, 3, &v, sizeof v); /* copied: may complete at once */
        if (rc == 0) rc = p->t->recv(p->comm, 1, 4, &v, sizeof v);
        double el = now_s() - t0;
        REQ(p, rc == SPIN_ERR_PEER, "after an injected completion error party 0 got %s, expected %s",
            spin_strerror(rc), spin_strerror(SPIN_ERR_PEER));
        REQ(p, el < 2.0, "the completion error took %.2f s to surface", el);
        REQ(p, logged(p, "party 1: work completion failed: transport retry counter exceeded"),
            "the error does not name party 1 and the verbs status:\n%s", p->log);
        REQ(p, logged(p, "queue pair ERR"), "the error does not give the queue pair state:\n%s",
            p->log);
        t0 = now_s();
        rc = p->t->send(p->comm, 1, 5, &v, sizeof v);
        REQ(p, rc == SPIN_ERR_PEER && now_s() - t0 < 0.5,
            "a send on the failed link returned %s after %.2f s, expected %s at once",
            spin_strerror(rc), now_s() - t0, spin_strerror(SPIN_ERR_PEER));
        REQ(p, logged(p, "the link to party 1 is down after an earlier error") &&
                   logged(p, "first failed completion: transport retry counter exceeded (write"),
            "the later error does not give the first failed completion:\n%s", p->log);
    } else {
        int rc = p->t->recv(p->comm, 0, 3, &v, sizeof v);
        double el = now_s() - t0;
        REQ(p, rc == SPIN_ERR_TIMEOUT || rc == SPIN_ERR_PEER,
            "waiting for the lost message returned %s", spin_strerror(rc));
        REQ(p, el < 5.0, "waiting for the lost message took %.2f s (1 s timeout)", el);
        REQ(p, logged(p, "party 0") && logged(p, "queue pair RTS"),
            "the error does not name party 0 and the queue pair state:\n%s", p->log);
    }
}

START_TEST(rdma_completion_error)
{
    setenv("FAKE_VERBS_FAIL_WC", "1", 1); /* read by the fake at each party's init */
    sess_t s;
    sess_init(&s, 2);
    s.pc[0].timeout_ms = s.pc[1].timeout_ms = 1000;
    double t0 = now_s();
    sess_run(&s, body_wc_error);
    double el = now_s() - t0;
    unsetenv("FAKE_VERBS_FAIL_WC");
    expect_clean(&s);
    ck_assert_msg(el < 10.0, "the session took %.1f s", el);
    sess_destroy_logs(&s);
    sess_free(&s);
}
END_TEST

TCase *errors_tcase(void)
{
    TCase *tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tag_mismatch);
    tcase_add_test(tc, length_mismatch);
    tcase_add_test(tc, nparties_mismatch);
    tcase_add_test(tc, fingerprint_mismatch);
    tcase_add_test(tc, fingerprint_frac_bits);
    tcase_add_test(tc, fingerprint_nparties);
    tcase_add_test(tc, fingerprint_build);
    tcase_add_test(tc, scheme_listed);
    tcase_add_test(tc, foreign_scheme);
    tcase_add_test(tc, timeout_silent_peer);
    tcase_add_test(tc, timeout_open_missing_lower);
    tcase_add_test(tc, timeout_open_missing_higher);
    tcase_add_test(tc, peer_closes_lower);
    tcase_add_test(tc, peer_closes_higher);
    return tc;
}

TCase *rdma_faults_tcase(void)
{
    TCase *tc = tcase_create("rdma-faults");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rdma_completion_error);
    return tc;
}
