/* test_loader.c - the plugin loader against deliberately broken plugins
 * (tests/broken/): each defect yields its documented message
 * (docs/PLUGINS.md, "Load errors"), and selection by SPIN_BACKEND follows
 * the documented rules. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Captured log lines. */
typedef struct capture {
    char buf[65536];
    size_t len;
    int warnings, errors, infos;
} capture_t;

static void sink(void *user, spin_log_level_t lv, const char *msg)
{
    capture_t *c = user;
    if (lv == SPIN_LOG_WARN) c->warnings++;
    if (lv == SPIN_LOG_ERROR) c->errors++;
    if (lv == SPIN_LOG_INFO) c->infos++;
    int n = snprintf(c->buf + c->len, sizeof c->buf - c->len, "%s\n", msg);
    if (n > 0) c->len += (size_t)n;
    if (c->len >= sizeof c->buf) c->len = sizeof c->buf - 1;
}

static const char *broken_dir(void)
{
    const char *d = getenv("SPIN_BROKEN_PLUGIN_DIR");
    ck_assert_msg(d != NULL, "SPIN_BROKEN_PLUGIN_DIR is not set (run through make check)");
    return d;
}

static int open_rt(const char *backend, capture_t *cap, spin_runtime_t **rt)
{
    memset(cap, 0, sizeof *cap);
    spin_logger_t lg = {SPIN_LOG_DEBUG, "test", sink, cap};
    spin_runtime_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.backend = backend ? backend : "";
    o.plugin_path = broken_dir();
    o.no_default_path = 1;
    o.log = &lg;
    *rt = NULL;
    return spin_runtime_open(&o, rt);
}

static const spin_plugin_info_t *info_of(spin_runtime_t *rt, const char *name)
{
    const spin_plugin_info_t *l;
    size_t n;
    ck_assert_int_eq(spin_runtime_plugins(rt, &l, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i].name, name) == 0) return &l[i];
    ck_abort_msg("plugin %s not in the inventory", name);
    return NULL;
}

#define ASSERT_HAS(hay, needle) \
    ck_assert_msg(strstr((hay), (needle)) != NULL, "expected \"%s\" in:\n%s", (needle), (hay))

START_TEST(wrong_major)
{
    capture_t cap; spin_runtime_t *rt;
    ck_assert_int_eq(open_rt(NULL, &cap, &rt), 0);
    const spin_plugin_info_t *i = info_of(rt, "badmajor");
    ck_assert_int_eq(i->status, SPIN_PLUGIN_REJECTED);
    char want[128];
    snprintf(want, sizeof want, "was built for plugin ABI %d.0, but this Spin has ABI %d.%d (major versions differ)",
             SPIN_ABI_MAJOR + 1, SPIN_ABI_MAJOR, SPIN_ABI_MINOR);
    ASSERT_HAS(i->why, want);
    ASSERT_HAS(cap.buf, want);       /* also logged, as a warning */
    ck_assert_int_ge(cap.warnings, 1);
    spin_runtime_close(rt);
}
END_TEST

START_TEST(newer_minor)
{
    capture_t cap; spin_runtime_t *rt;
    ck_assert_int_eq(open_rt(NULL, &cap, &rt), 0);
    const spin_plugin_info_t *i = info_of(rt, "newminor");
    ck_assert_int_eq(i->status, SPIN_PLUGIN_REJECTED);
    char want[128];
    snprintf(want, sizeof want, "needs plugin ABI %d.%d, newer than this Spin's %d.%d",
             SPIN_ABI_MAJOR, SPIN_ABI_MINOR + 1, SPIN_ABI_MAJOR, SPIN_ABI_MINOR);
    ASSERT_HAS(i->why, want);
    spin_runtime_close(rt);
}
END_TEST

START_TEST(missing_symbol)
{
    capture_t cap; spin_runtime_t *rt;
    ck_assert_int_eq(open_rt(NULL, &cap, &rt), 0);
    const spin_plugin_info_t *i = info_of(rt, "nosym");
    ck_assert_int_eq(i->status, SPIN_PLUGIN_REJECTED);
    ASSERT_HAS(i->why, "does not export spin_plugin_query(): it is not a Spin plugin");
    spin_runtime_close(rt);
}
END_TEST

START_TEST(undefined_symbol)
{
    capture_t cap; spin_runtime_t *rt;
    ck_assert_int_eq(open_rt(NULL, &cap, &rt), 0);
    const spin_plugin_info_t *i = info_of(rt, "undefsym");
    ck_assert_int_eq(i->status, SPIN_PLUGIN_REJECTED);
    ASSERT_HAS(i->why, "cannot be loaded: ");
    /* dlerror() names the symbol. */
    ASSERT_HAS(i->why, "spin_test_symbol_nobody_defines");
    ASSERT_HAS(cap.buf, "spin_test_symbol_nobody_defines");
    spin_runtime_close(rt);
}
END_TEST

START_TEST(null_mandatory_op)
{
    capture_t cap; spin_runtime_t *rt;
    ck_assert_int_eq(open_rt(NULL, &cap, &rt), 0);
    const spin_plugin_info_t *i = info_of(rt, "nullop");
    ck_assert_int_eq(i->status, SPIN_PLUGIN_REJECTED);
    ASSERT_HAS(i->why, "mandatory op ring_gemm is NULL");
    spin_runtime_close(rt);
}
END_TEST

START_TEST(capability_mismatch)
{
    capture_t cap; spin_runtime_t *rt;
    ck_assert_int_eq(open_rt(NULL, &cap, &rt), 0);
    const spin_plugin_info_t *i = info_of(rt, "capmismatch");
    ck_assert_int_eq(i->status, SPIN_PLUGIN_REJECTED);
    ASSERT_HAS(i->why, "claims capability f64 but op f64_gemm is NULL");
    spin_runtime_close(rt);
}
END_TEST

START_TEST(failing_init_named)
{
    capture_t cap; spin_runtime_t *rt;
    ck_assert_int_eq(open_rt("failinit", &cap, &rt), 0);
    spin_backend_t be;
    ck_assert_int_eq(spin_runtime_compute(rt, &be), SPIN_ERR_IO);
    ASSERT_HAS(cap.buf, "no compute plugin named in SPIN_BACKEND=\"failinit\" could be initialised");
    /* The hard error lists every plugin and why the others failed. */
    ASSERT_HAS(cap.buf, "failinit (compute): failed: simulated initialisation failure");
    ASSERT_HAS(cap.buf, "good (compute): loaded");
    ASSERT_HAS(cap.buf, "badmajor (?): rejected: ");
    ck_assert_int_eq(info_of(rt, "failinit")->status, SPIN_PLUGIN_FAILED);
    spin_runtime_close(rt);
}
END_TEST

START_TEST(unavailable_named)
{
    capture_t cap; spin_runtime_t *rt;
    ck_assert_int_eq(open_rt("nodev", &cap, &rt), 0);
    spin_backend_t be;
    ck_assert_int_eq(spin_runtime_compute(rt, &be), SPIN_ERR_UNAVAILABLE);
    ASSERT_HAS(cap.buf, "nodev (compute): unavailable: no test device present");
    spin_runtime_close(rt);
}
END_TEST

START_TEST(named_missing_is_hard_error)
{
    capture_t cap; spin_runtime_t *rt;
    ck_assert_int_eq(open_rt("nosuch,goodnet", &cap, &rt), SPIN_ERR_CONFIG);
    ck_assert_ptr_null(rt);
    ASSERT_HAS(cap.buf, "names plugin \"nosuch\", which was not found");
    ASSERT_HAS(cap.buf, "good (compute): loaded");   /* lists what is available */
    ASSERT_HAS(cap.buf, "SPIN_PLUGIN_PATH");          /* and the remedy */
}
END_TEST

START_TEST(named_rejected_is_hard_error)
{
    capture_t cap; spin_runtime_t *rt;
    ck_assert_int_eq(open_rt("badmajor", &cap, &rt), SPIN_ERR_CONFIG);
    ASSERT_HAS(cap.buf, "names plugin \"badmajor\", which cannot be loaded");
    ASSERT_HAS(cap.buf, "major versions differ");
}
END_TEST

START_TEST(malformed_backend)
{
    capture_t cap; spin_runtime_t *rt;
    ck_assert_int_eq(open_rt("CPU!", &cap, &rt), SPIN_ERR_CONFIG);
    ASSERT_HAS(cap.buf, "\"CPU!\" is not a plugin name");
    ck_assert_int_eq(open_rt(",", &cap, &rt), SPIN_ERR_CONFIG);
    ASSERT_HAS(cap.buf, "names no plugin");
    ck_assert_int_eq(open_rt("good,^good", &cap, &rt), SPIN_ERR_CONFIG);
    ASSERT_HAS(cap.buf, "both names and excludes good");
}
END_TEST

START_TEST(named_selection_and_fallback)
{
    capture_t cap; spin_runtime_t *rt;
    spin_backend_t be, be2;
    ck_assert_int_eq(open_rt("good,goodnet", &cap, &rt), 0);
    ck_assert_int_eq(spin_runtime_compute(rt, &be), 0);
    ck_assert_str_eq(be.desc->name, "good");
    ck_assert_int_eq(spin_runtime_transport(rt, &be2), 0);
    ck_assert_str_eq(be2.desc->name, "goodnet");
    ck_assert_int_eq(info_of(rt, "good")->selected, 1);
    ck_assert_int_eq(info_of(rt, "good")->status, SPIN_PLUGIN_READY);
    /* idempotent */
    spin_backend_t again;
    ck_assert_int_eq(spin_runtime_compute(rt, &again), 0);
    ck_assert_ptr_eq(again.state, be.state);
    spin_runtime_close(rt);

    /* A named list is a preference order: nodev fails, good is used, warn. */
    ck_assert_int_eq(open_rt("nodev,good", &cap, &rt), 0);
    ck_assert_int_eq(spin_runtime_compute(rt, &be), 0);
    ck_assert_str_eq(be.desc->name, "good");
    ASSERT_HAS(cap.buf, "using compute plugin good; skipped: nodev: no test device present");
    spin_runtime_close(rt);
}
END_TEST

START_TEST(abi_1_0_plugins_load)
{
    /* Plugins built for ABI 1.0 (1.0-sized descriptor and ops tables) load
     * and initialise; the ops ABI 1.1 appended (mem_export_dmabuf,
     * comm_caps) read as NULL, whatever lies after their tables. */
    capture_t cap; spin_runtime_t *rt;
    spin_backend_t c, t;
    ck_assert_int_eq(open_rt("old10,old10net", &cap, &rt), 0);
    ck_assert_int_eq(spin_runtime_compute(rt, &c), 0);
    ck_assert_int_eq(spin_runtime_transport(rt, &t), 0);
    ck_assert_str_eq(c.desc->name, "old10");
    ck_assert_str_eq(t.desc->name, "old10net");
    ck_assert_int_eq(info_of(rt, "old10")->status, SPIN_PLUGIN_READY);
    ck_assert_int_eq(info_of(rt, "old10")->abi_minor, 0);
    ck_assert_int_eq(info_of(rt, "old10net")->status, SPIN_PLUGIN_READY);
    const spin_compute_ops_t *co = c.ops;
    const spin_transport_ops_t *to = t.ops;
    ck_assert_ptr_nonnull(co->ring_to_f64);           /* the last 1.0 mandatory op */
    ck_assert_ptr_null(co->f64_unary);                /* optional, not given */
    ck_assert_ptr_null(co->mem_export_dmabuf);        /* past ops_size */
    ck_assert_ptr_nonnull(to->stats);
    ck_assert_ptr_null(to->comm_caps);                /* past ops_size */
    ASSERT_HAS(cap.buf, "loaded plugin old10 test from");
    spin_runtime_close(rt);
    /* ABI 1.1 plugins see the 1.1 tables (the ops they leave out NULL) */
    ck_assert_int_eq(SPIN_ABI_MINOR, 2);
    ck_assert_uint_gt(sizeof(spin_compute_ops_t), SPIN_COMPUTE_OPS_SIZE_1_0);
    ck_assert_uint_gt(sizeof(spin_transport_ops_t), SPIN_TRANSPORT_OPS_SIZE_1_0);
    ck_assert_uint_eq(sizeof(spin_transport_cfg_t), SPIN_TRANSPORT_CFG_SIZE_1_1);
    ck_assert_uint_gt(SPIN_TRANSPORT_CFG_SIZE_1_1, SPIN_TRANSPORT_CFG_SIZE_1_0);
}
END_TEST

START_TEST(auto_selection)
{
    capture_t cap; spin_runtime_t *rt;
    spin_backend_t be;
    /* Preference comes from capabilities, not names: old10 has device
     * memory (an accelerator), so it goes before good. */
    ck_assert_int_eq(open_rt(NULL, &cap, &rt), 0);
    ck_assert_int_eq(spin_runtime_compute(rt, &be), 0);
    ck_assert_str_eq(be.desc->name, "old10");
    spin_runtime_close(rt);

    ck_assert_int_eq(open_rt("^old10", &cap, &rt), 0);
    cap.len = 0; cap.buf[0] = '\0'; cap.infos = 0;
    ck_assert_int_eq(spin_runtime_compute(rt, &be), 0);
    /* failinit, good and nodev are valid; failinit and nodev fail. */
    ck_assert_str_eq(be.desc->name, "good");
    /* exactly one line names the choice (info level the first time in a
     * process, debug after that) */
    const char *hit = strstr(cap.buf, "auto-selected compute plugin good");
    ck_assert_msg(hit != NULL, "%s", cap.buf);
    ck_assert_msg(strstr(hit + 1, "auto-selected") == NULL, "%s", cap.buf);
    ASSERT_HAS(cap.buf, "failinit: simulated initialisation failure");
    spin_runtime_close(rt);

    /* A second auto-selection in this process is logged at debug level
     * only: a benchmark opening a hundred contexts prints one info line. */
    ck_assert_int_eq(open_rt("^old10", &cap, &rt), 0);
    cap.infos = 0;
    ck_assert_int_eq(spin_runtime_compute(rt, &be), 0);
    ASSERT_HAS(cap.buf, "auto-selected compute plugin good");
    ck_assert_int_eq(cap.infos, 0);
    spin_runtime_close(rt);

    /* Excluding good (and old10, the ABI 1.0 one) leaves no usable compute
     * plugin. */
    ck_assert_int_eq(open_rt("^good,^old10", &cap, &rt), 0);
    ck_assert_int_ne(spin_runtime_compute(rt, &be), 0);
    ASSERT_HAS(cap.buf, "no compute plugin could be initialised");
    ASSERT_HAS(cap.buf, "good (compute): excluded");
    spin_runtime_close(rt);
}
END_TEST

START_TEST(independent_runtimes)
{
    /* No global state: two runtimes in one process get separate instances. */
    capture_t c1, c2; spin_runtime_t *r1, *r2;
    spin_backend_t b1, b2;
    ck_assert_int_eq(open_rt("good", &c1, &r1), 0);
    ck_assert_int_eq(open_rt("good", &c2, &r2), 0);
    ck_assert_int_eq(spin_runtime_compute(r1, &b1), 0);
    ck_assert_int_eq(spin_runtime_compute(r2, &b2), 0);
    ck_assert_ptr_ne(b1.state, b2.state);
    spin_runtime_close(r1);
    /* r2 still works after r1 is gone. */
    ck_assert_int_eq(spin_runtime_compute(r2, &b1), 0);
    ck_assert_ptr_eq(b1.state, b2.state);
    spin_runtime_close(r2);
}
END_TEST

START_TEST(probe_records_reasons)
{
    capture_t cap; spin_runtime_t *rt;
    ck_assert_int_eq(open_rt(NULL, &cap, &rt), 0);
    ck_assert_int_eq(spin_runtime_probe(rt), 0);
    ck_assert_int_eq(info_of(rt, "nodev")->status, SPIN_PLUGIN_UNAVAILABLE);
    ck_assert_int_eq(info_of(rt, "failinit")->status, SPIN_PLUGIN_FAILED);
    ck_assert_int_eq(info_of(rt, "good")->status, SPIN_PLUGIN_READY);
    ck_assert_int_eq(info_of(rt, "good")->selected, 0);
    spin_runtime_close(rt);
}
END_TEST

START_TEST(empty_path)
{
    capture_t cap; spin_runtime_t *rt;
    memset(&cap, 0, sizeof cap);
    spin_logger_t lg = {SPIN_LOG_DEBUG, NULL, sink, &cap};
    spin_runtime_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.backend = "";
    o.plugin_path = "/nonexistent/spin-plugins";
    o.no_default_path = 1;
    o.log = &lg;
    ck_assert_int_eq(spin_runtime_open(&o, &rt), 0);
    spin_backend_t be;
    ck_assert_int_eq(spin_runtime_compute(rt, &be), SPIN_ERR_UNAVAILABLE);
    ASSERT_HAS(cap.buf, "(no plugin files found)");
    ASSERT_HAS(cap.buf, "/nonexistent/spin-plugins");
    spin_runtime_close(rt);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("broken-plugins");
    tcase_add_test(tc, wrong_major);
    tcase_add_test(tc, newer_minor);
    tcase_add_test(tc, missing_symbol);
    tcase_add_test(tc, undefined_symbol);
    tcase_add_test(tc, null_mandatory_op);
    tcase_add_test(tc, capability_mismatch);
    tcase_add_test(tc, failing_init_named);
    tcase_add_test(tc, unavailable_named);
    suite_add_tcase(s, tc);
    TCase *sel = tcase_create("selection");
    tcase_add_test(sel, named_missing_is_hard_error);
    tcase_add_test(sel, named_rejected_is_hard_error);
    tcase_add_test(sel, malformed_backend);
    tcase_add_test(sel, named_selection_and_fallback);
    tcase_add_test(sel, abi_1_0_plugins_load);
    tcase_add_test(sel, auto_selection);
    tcase_add_test(sel, independent_runtimes);
    tcase_add_test(sel, probe_records_reasons);
    tcase_add_test(sel, empty_path);
    suite_add_tcase(s, sel);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
