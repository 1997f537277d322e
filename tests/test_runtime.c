/* test_runtime.c - runtime pieces that need no plugin: status strings, log
 * levels and sinks, the environment table, capability names, configuration
 * through an injected getenv, and auto-selection of the real plugins of the
 * build tree. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

START_TEST(strerror_all_codes)
{
    for (int c = SPIN_ERR_INTERNAL; c <= 0; c++) {
        const char *s = spin_strerror(c);
        ck_assert_ptr_nonnull(s);
        ck_assert_str_ne(s, "unknown status code");
    }
    ck_assert_str_eq(spin_strerror(-999), "unknown status code");
    ck_assert_str_eq(spin_strerror(SPIN_ERR_TIMEOUT), "timed out waiting for a peer");
}
END_TEST

START_TEST(log_levels)
{
    ck_assert_int_eq(spin_log_level_parse("error"), SPIN_LOG_ERROR);
    ck_assert_int_eq(spin_log_level_parse("WARN"), SPIN_LOG_WARN);
    ck_assert_int_eq(spin_log_level_parse("info"), SPIN_LOG_INFO);
    ck_assert_int_eq(spin_log_level_parse("3"), SPIN_LOG_DEBUG);
    ck_assert_int_eq(spin_log_level_parse("loud"), -1);
    ck_assert_int_eq(spin_log_level_parse(""), -1);
}
END_TEST

typedef struct { int n; char last[256]; spin_log_level_t lv; } seen_t;
static void sink(void *u, spin_log_level_t lv, const char *msg)
{
    seen_t *s = u;
    s->n++;
    s->lv = lv;
    snprintf(s->last, sizeof s->last, "%s", msg);
}

START_TEST(log_filter_and_sink)
{
    seen_t s = {0, "", SPIN_LOG_ERROR};
    spin_logger_t lg = {SPIN_LOG_WARN, "p1", sink, &s};
    spin_log(&lg, SPIN_LOG_INFO, "dropped %d", 1);
    ck_assert_int_eq(s.n, 0);
    spin_log(&lg, SPIN_LOG_WARN, "kept %d\n", 2);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.last, "kept 2");      /* trailing newline stripped */
    ck_assert_int_eq(s.lv, SPIN_LOG_WARN);
}
END_TEST

START_TEST(env_table_complete)
{
    size_t n;
    const spin_env_var_t *v = spin_env_vars(&n);
    const char *must[] = {"SPIN_BACKEND", "SPIN_PLUGIN_PATH", "SPIN_LOG_LEVEL", "SPIN_TIMEOUT"};
    for (size_t m = 0; m < sizeof must / sizeof must[0]; m++) {
        int found = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(v[i].name, must[m]) == 0) {
                found = 1;
                ck_assert_msg(v[i].help && strlen(v[i].help) > 20, "%s lacks help", must[m]);
            }
        ck_assert_msg(found, "%s missing from the environment table", must[m]);
    }
}
END_TEST

START_TEST(caps_names)
{
    char b[128];
    spin_caps_string(SPIN_PLUGIN_COMPUTE, SPIN_CAP_COMPUTE_F64 | SPIN_CAP_COMPUTE_DEVICE_MEM, b, sizeof b);
    ck_assert_str_eq(b, "device-memory f64");
    spin_caps_string(SPIN_PLUGIN_TRANSPORT, 0, b, sizeof b);
    ck_assert_str_eq(b, "-");
}
END_TEST

static const char *fake_env(void *ctx, const char *name)
{
    const char *const *kv = ctx;
    for (; kv[0]; kv += 2)
        if (strcmp(kv[0], name) == 0) return kv[1];
    return NULL;
}

START_TEST(injected_environment)
{
    /* SPIN_BACKEND and SPIN_LOG_LEVEL come from the injected lookup. */
    const char *kv[] = {"SPIN_BACKEND", "nosuchplugin", "SPIN_LOG_LEVEL", "error", NULL, NULL};
    spin_runtime_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.getenv = fake_env;
    o.env_ctx = (void *)kv;
    o.plugin_path = getenv("SPIN_PLUGIN_PATH");
    o.no_default_path = 1;
    spin_runtime_t *rt = NULL;
    ck_assert_int_eq(spin_runtime_open(&o, &rt), SPIN_ERR_CONFIG);
    ck_assert_ptr_null(rt);
    kv[1] = "";
    ck_assert_int_eq(spin_runtime_open(&o, &rt), 0);
    ck_assert_int_eq(spin_runtime_logger(rt)->level, SPIN_LOG_ERROR);
    spin_runtime_close(rt);
}
END_TEST

START_TEST(real_plugins_auto_selected)
{
    if (tu_why_not_built("cpu")[0] || tu_why_not_built("tcp")[0]) return;
    spin_runtime_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.backend = "";
    o.no_default_path = 1;
    seen_t s = {0, "", SPIN_LOG_ERROR};
    spin_logger_t lg = {SPIN_LOG_INFO, NULL, sink, &s};
    o.log = &lg;
    spin_runtime_t *rt;
    ck_assert_int_eq(spin_runtime_open(&o, &rt), 0);
    spin_backend_t c, t;
    ck_assert_int_eq(spin_runtime_compute(rt, &c), 0);
    ck_assert_str_eq(c.desc->name, "cpu");
    ck_assert_int_eq(s.n, 1);
    ck_assert_msg(strstr(s.last, "auto-selected compute plugin cpu") != NULL, "%s", s.last);
    ck_assert_int_eq(spin_runtime_transport(rt, &t), 0);
    ck_assert_str_eq(t.desc->name, "tcp");
    ck_assert_int_eq(s.n, 2);
    spin_runtime_close(rt);
}
END_TEST

/* A transport is chosen by the endpoints' schemes (its descriptor's
 * endpoint_schemes), auto-selected or named. */
static int transport_for(const char *backend, const char *ep, seen_t *s, spin_backend_t *t)
{
    spin_runtime_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.backend = backend;
    o.no_default_path = 1;
    spin_logger_t lg = {SPIN_LOG_DEBUG, NULL, sink, s};
    o.log = &lg;
    spin_runtime_t *rt;
    ck_assert_int_eq(spin_runtime_open(&o, &rt), 0);
    const char *eps[3] = {ep, ep, ep};
    int rc = spin_runtime_transport_for(rt, eps, 3, t);
    spin_runtime_close(rt);
    return rc;
}

START_TEST(transport_by_endpoint_scheme)
{
    if (tu_why_not_built("tcp")[0]) return;
    seen_t s = {0, "", SPIN_LOG_ERROR};
    spin_backend_t t;
    ck_assert_int_eq(transport_for("", "tcp://127.0.0.1:7000", &s, &t), 0);
    ck_assert_str_eq(t.desc->name, "tcp");   /* secure links first */
    ck_assert_int_eq(transport_for("", "ipc:///tmp/x/p0", &s, &t), 0);
    ck_assert_str_eq(t.desc->name, "tcp");
    /* A scheme no transport takes: an error naming it, whoever is tried. */
    s.n = 0;
    ck_assert_int_eq(transport_for("", "foo://h:1", &s, &t), SPIN_ERR_CONFIG);
    ck_assert_int_eq(s.lv, SPIN_LOG_ERROR);
    ck_assert_msg(strstr(s.last, "tcp: does not take foo:// endpoints (takes tcp ipc)") != NULL, "%s", s.last);
    ck_assert_msg(strstr(s.last, "sock: does not take foo:// endpoints") != NULL, "%s", s.last);
    /* Named in SPIN_BACKEND but not taking the scheme. */
    ck_assert_int_eq(transport_for("sock", "rdma://h:1", &s, &t), SPIN_ERR_CONFIG);
    ck_assert_msg(strstr(s.last, "sock: does not take rdma:// endpoints") != NULL, "%s", s.last);
    ck_assert_msg(strstr(s.last, "SPIN_BACKEND=sock") != NULL, "%s", s.last);
    /* Bad arguments. */
    spin_runtime_t *rt;
    spin_runtime_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.no_default_path = 1;
    ck_assert_int_eq(spin_runtime_open(&o, &rt), 0);
    ck_assert_int_eq(spin_runtime_transport_for(rt, NULL, 2, &t), SPIN_ERR_INVAL);
    spin_runtime_close(rt);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, strerror_all_codes);
    tcase_add_test(tc, log_levels);
    tcase_add_test(tc, log_filter_and_sink);
    tcase_add_test(tc, env_table_complete);
    tcase_add_test(tc, caps_names);
    tcase_add_test(tc, injected_environment);
    tcase_add_test(tc, real_plugins_auto_selected);
    tcase_add_test(tc, transport_by_endpoint_scheme);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
