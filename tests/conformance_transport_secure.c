/* conformance_transport_secure.c - the "secure" test case of the transport
 * conformance suite: authenticated, encrypted links with CurveZMQ key files
 * (made with libzmq, loaded at run time), an unknown or missing key, and a
 * plugin without secure links refusing key files. */
#include "config.h"

#include <check.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spin/spin.h>

#include "testutil.h"
#include "conformance_transport.h"

/* ------------------------------------------------------------------------ */
/* Authenticated, encrypted links (SPIN_CAP_TRANSPORT_SECURE).              */
/* ------------------------------------------------------------------------ */

/* zmq_curve_keypair from libzmq, loaded at run time: the suite itself does
 * not link ZeroMQ (it also runs against other transports). */
void *g_zmq_lib;

keypair_fn curve_keypair(void)
{
    static keypair_fn fn;
    if (!fn) {
        if (!g_zmq_lib) g_zmq_lib = dlopen("libzmq.so.5", RTLD_NOW | RTLD_LOCAL);
        if (g_zmq_lib) fn = (keypair_fn)(uintptr_t)dlsym(g_zmq_lib, "zmq_curve_keypair");
    }
    return fn;
}

/* The secure-link tests apply to a plugin that claims secure links, and for
 * such a plugin not being able to run them is a failure with the reason,
 * never a silent pass.  (Check has no per-test SKIP.) */
static int secure_testable(void)
{
    if (!(g_caps & SPIN_CAP_TRANSPORT_SECURE)) {
        printf("SKIP secure-link tests: plugin %s has no SPIN_CAP_TRANSPORT_SECURE "
               "(insecure_refuses_key_dir checks that it refuses key files)\n", g_plugin);
        return 0;
    }
    ck_assert_msg(curve_keypair() != NULL,
                  "plugin %s claims secure links (SPIN_CAP_TRANSPORT_SECURE), but libzmq.so.5 "
                  "cannot be loaded here to make the CurveZMQ keys of the secure-link tests",
                  g_plugin);
    int (*has)(const char *) = (int (*)(const char *))(uintptr_t)dlsym(g_zmq_lib, "zmq_has");
    ck_assert_msg(!has || has("curve"),
                  "plugin %s claims secure links (SPIN_CAP_TRANSPORT_SECURE), but this libzmq "
                  "was built without CurveZMQ support (it needs libsodium): key files cannot work",
                  g_plugin);
    return 1;
}

static void write_file(const char *dir, const char *name, const char *text, int mode)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    ck_assert_msg(fd >= 0, "cannot write %s", path);
    ck_assert_int_eq(write(fd, text, strlen(text)), (long)strlen(text));
    ck_assert_int_eq(write(fd, "\n", 1), 1);
    close(fd);
}

/* A key pair for `party` in dir (public only when sec_too is 0). */
static void make_keys(const char *dir, int party, char pub[41], char sec[41])
{
    ck_assert_int_eq(curve_keypair()(pub, sec), 0);
    char name[64];
    snprintf(name, sizeof name, "party%d.pub", party);
    write_file(dir, name, pub, 0644);
    snprintf(name, sizeof name, "party%d.key", party);
    write_file(dir, name, sec, 0600);
}

START_TEST(secure_links)
{
    if (!secure_testable()) return;
    char *kd = tu_tmpdir("keys");
    char pub[41], sec[41];
    for (int i = 0; i < 3; i++) make_keys(kd, i, pub, sec);
    run_order(3, kd);
    tu_rmdir(kd);
    free(kd);
}
END_TEST

static void body_nothing_arrives(party_t *p)
{
    pfail(p, "party %d opened a link with a party whose key is unknown", p->me);
}

START_TEST(secure_unknown_key)
{
    if (!secure_testable()) return;
    /* Party 0 knows party 1 by one key; party 1 runs with another pair. */
    char *kd0 = tu_tmpdir("keys0"), *kd1 = tu_tmpdir("keys1");
    char pub[41], sec[41], pub0[41];
    make_keys(kd0, 0, pub0, sec);
    write_file(kd1, "party0.pub", pub0, 0644);
    make_keys(kd0, 1, pub, sec);  /* what party 0 expects */
    make_keys(kd1, 1, pub, sec);  /* what party 1 really has */
    sess_t s;
    sess_init(&s, 2);
    s.pc[0].key_dir = kd0;
    s.pc[1].key_dir = kd1;
    s.pc[0].timeout_ms = s.pc[1].timeout_ms = 1500;
    sess_run(&s, body_nothing_arrives);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(s.p[i].open_rc == SPIN_ERR_AUTH || s.p[i].open_rc == SPIN_ERR_TIMEOUT,
                      "party %d: open with an unknown key returned %s", i,
                      spin_strerror(s.p[i].open_rc));
        ck_assert_msg(s.p[i].fail[0] == '\0', "%s", s.p[i].fail);
    }
    if (strcmp(g_plugin, "tcp") == 0)
        ck_assert_msg(logged(&s.p[0], "refused"), "party 0 did not log the refusal:\n%s",
                      s.p[0].log);
    sess_destroy_logs(&s);
    sess_free(&s);
    tu_rmdir(kd0);
    tu_rmdir(kd1);
    free(kd0);
    free(kd1);
}
END_TEST

START_TEST(secure_missing_key_file)
{
    if (!secure_testable()) return;
    char *kd = tu_tmpdir("keys");
    char pub[41], sec[41];
    make_keys(kd, 0, pub, sec); /* no party1.pub */
    sess_t s;
    sess_init(&s, 2);
    s.pc[0].key_dir = s.pc[1].key_dir = kd;
    s.pc[0].timeout_ms = s.pc[1].timeout_ms = 3000;
    sess_run(&s, NULL);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(s.p[i].open_rc == SPIN_ERR_CONFIG,
                      "party %d: open with party1.pub missing returned %s", i,
                      spin_strerror(s.p[i].open_rc));
        ck_assert_msg(logged(&s.p[i], "party1."), "party %d's error does not name the file:\n%s",
                      i, s.p[i].log);
    }
    sess_destroy_logs(&s);
    sess_free(&s);
    tu_rmdir(kd);
    free(kd);
}
END_TEST

/* A plugin without SPIN_CAP_TRANSPORT_SECURE must refuse key files at open
 * (SPIN_ERR_NOTSUP, with a log line) rather than run links in the clear that
 * the user asked to be encrypted. */
START_TEST(insecure_refuses_key_dir)
{
    if (g_caps & SPIN_CAP_TRANSPORT_SECURE) {
        printf("(plugin %s has SPIN_CAP_TRANSPORT_SECURE: the key-refusal test passes trivially)\n",
               g_plugin);
        return;
    }
    char *kd = tu_tmpdir("keys");
    ck_assert_msg(kd != NULL, "cannot create a temporary directory");
    sess_t s;
    sess_init(&s, 2);
    s.pc[0].key_dir = s.pc[1].key_dir = kd;
    s.pc[0].timeout_ms = s.pc[1].timeout_ms = 3000;
    double t0 = now_s();
    sess_run(&s, body_nothing_arrives);
    double el = now_s() - t0;
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(s.p[i].open_rc == SPIN_ERR_NOTSUP,
                      "party %d: open with key_dir on a plugin without secure links returned %s, "
                      "expected %s", i, spin_strerror(s.p[i].open_rc),
                      spin_strerror(SPIN_ERR_NOTSUP));
        ck_assert_msg(s.p[i].fail[0] == '\0', "%s", s.p[i].fail);
        ck_assert_msg(s.p[i].loglen > 0, "party %d refused key_dir without saying why", i);
    }
    ck_assert_msg(el < 2.5, "refusing key_dir took %.1f s (not at once)", el);
    sess_destroy_logs(&s);
    sess_free(&s);
    tu_rmdir(kd);
    free(kd);
}
END_TEST

TCase *secure_tcase(void)
{
    TCase *tc = tcase_create("secure");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, secure_links);
    tcase_add_test(tc, secure_unknown_key);
    tcase_add_test(tc, secure_missing_key_file);
    tcase_add_test(tc, insecure_refuses_key_dir);
    return tc;
}
