/*
 * conformance_compute.c - the compute-plugin conformance suite: harness,
 * basics (capabilities, memory, streams, concurrent instances) and main.
 * The other cases live in conformance_compute_{prg,ring,layout}.c.
 *
 *   ./conformance_compute PLUGIN       (exit 77 = SKIP when not available)
 *
 * Plugin-agnostic: every buffer is plugin memory (mem_alloc), filled and read
 * back with copy_h2d / copy_d2h and stream_sync, so the same suite runs
 * against a device-memory plugin.  Every result is compared with a naive
 * reference computed here (including a small reference AES-128 for the PRG:
 * test code only; plugins must use a real crypto library).
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance_compute.h"

/* ------------------------------------------------------------------------ */
/* The backend under test, and a log sink that counts error lines.          */
/* ------------------------------------------------------------------------ */

spin_backend_t g_be;
const spin_compute_ops_t *O;
void *S;
int g_log_errors;
char g_log_last[512];

static void log_sink(void *user, spin_log_level_t level, const char *msg)
{
    (void)user;
    if (level == SPIN_LOG_ERROR) {
        g_log_errors++;
        snprintf(g_log_last, sizeof g_log_last, "%s", msg);
    }
    if (getenv("CONFORMANCE_VERBOSE")) fprintf(stderr, "log: %s\n", msg);
}

/* ------------------------------------------------------------------------ */
/* Plugin-memory helpers.                                                   */
/* ------------------------------------------------------------------------ */

void *dalloc(size_t bytes)
{
    void *p = NULL;
    OK(O->mem_alloc(S, bytes ? bytes : 8, &p));
    ck_assert_ptr_nonnull(p);
    EXPECT(((uintptr_t)p & 63) == 0, "mem_alloc: %p is not 64-aligned", p);
    return p;
}

void dfree(void *p)
{
    OK(O->mem_free(S, p));
}

void put(void *d, const void *h, size_t bytes)
{
    OK(O->copy_h2d(S, d, h, bytes, NULL));
    OK(O->stream_sync(S, NULL));
}

void get(void *h, const void *d, size_t bytes)
{
    OK(O->stream_sync(S, NULL));
    OK(O->copy_d2h(S, h, d, bytes, NULL));
    OK(O->stream_sync(S, NULL));
}

/* Upload n words; returns plugin memory. */
uint64_t *up64(const uint64_t *h, size_t n)
{
    uint64_t *d = dalloc(n * 8);
    if (n) put(d, h, n * 8);
    return d;
}

double *upf(const double *h, size_t n)
{
    double *d = dalloc(n * 8);
    if (n) put(d, h, n * 8);
    return d;
}

uint64_t *hrand(size_t n, uint64_t seed)
{
    uint64_t *h = malloc((n ? n : 1) * 8);
    ck_assert_ptr_nonnull(h);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) h[i] = tu_rand64(&s);
    return h;
}


const uint64_t EDGE[] = {
    0, 1, 2, 3, U64(0x7fffffffffffffff), U64(0x8000000000000000),
    U64(0xffffffffffffffff), U64(0xfffffffffffffffe), U64(0x123456789abcdef0),
    U64(0x8000000000000001), U64(0x00000000ffffffff), U64(0xdeadbeefcafebabe)
};
const size_t NEDGE = sizeof EDGE / sizeof EDGE[0];

/* Compare n words exactly, naming the op and the first bad element. */
void ew_check(const char *what, int op, const uint64_t *got,
                     const uint64_t *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        EXPECT(got[i] == want[i], "%s op %d n=%zu: element %zu is %016llx, "
                      "expected %016llx", what, op, n, i,
                      (unsigned long long)got[i], (unsigned long long)want[i]);
}


/* ------------------------------------------------------------------------ */
/* Capabilities, memory, streams.                                           */
/* ------------------------------------------------------------------------ */

START_TEST(test_caps)
{
    const spin_plugin_desc_t *d = g_be.desc;
    ck_assert_int_eq(d->kind, SPIN_PLUGIN_COMPUTE);
    ck_assert_uint_ge(d->ops_size, SPIN_COMPUTE_OPS_SIZE_1_0);
    int have_f64 = O->f64_gemm && O->f64_binary && O->f64_scalar && O->f64_unary;
    int cap_f64 = (d->caps & SPIN_CAP_COMPUTE_F64) != 0;
    EXPECT(have_f64 == cap_f64,
                  "SPIN_CAP_COMPUTE_F64 is %s but the f64 ops are %s",
                  cap_f64 ? "set" : "clear", have_f64 ? "all present" : "not all present");
    /* Every mandatory op is present. */
    const void *mand[] = {
        (const void *)O->mem_alloc, (const void *)O->mem_free,
        (const void *)O->copy_h2d, (const void *)O->copy_d2h,
        (const void *)O->copy_d2d, (const void *)O->mem_zero,
        (const void *)O->stream_create, (const void *)O->stream_destroy,
        (const void *)O->stream_sync, (const void *)O->event_create,
        (const void *)O->event_destroy, (const void *)O->event_record,
        (const void *)O->stream_wait_event, (const void *)O->event_sync,
        (const void *)O->ring_binary, (const void *)O->ring_scalar,
        (const void *)O->ring_unary, (const void *)O->ring_gemm,
        (const void *)O->im2col, (const void *)O->col2im,
        (const void *)O->sum_axis, (const void *)O->prg_fill,
        (const void *)O->ring_from_f64, (const void *)O->ring_to_f64,
    };
    for (size_t i = 0; i < sizeof mand / sizeof mand[0]; i++)
        EXPECT(mand[i] != NULL, "mandatory op %zu is NULL", i);
}
END_TEST

START_TEST(test_memory)
{
    const size_t n = 1000;
    uint64_t *h = hrand(n, 1), *back = calloc(n, 8);
    uint64_t *a = up64(h, n), *b = dalloc(n * 8);
    OK(O->copy_d2d(S, b, a, n * 8, NULL));
    get(back, b, n * 8);
    ck_assert(memcmp(back, h, n * 8) == 0);
    /* mem_zero of a middle range only. */
    OK(O->mem_zero(S, b + 10, 100 * 8, NULL));
    get(back, b, n * 8);
    for (size_t i = 0; i < n; i++)
        EXPECT(back[i] == (i >= 10 && i < 110 ? 0 : h[i]), "mem_zero at %zu", i);
    /* Zero-length operations are no-ops. */
    OK(O->copy_h2d(S, a, h, 0, NULL));
    OK(O->mem_zero(S, a, 0, NULL));
    OK(O->mem_free(S, NULL));
    dfree(a);
    dfree(b);
    free(h);
    free(back);
}
END_TEST

START_TEST(test_streams)
{
    spin_stream_t *s1 = NULL, *s2 = NULL;
    spin_event_t *e = NULL;
    OK(O->stream_create(S, &s1));
    OK(O->stream_create(S, &s2));
    OK(O->event_create(S, &e));
    ck_assert_ptr_nonnull(s1);
    ck_assert_ptr_nonnull(e);
    const size_t n = 100003;
    uint64_t *hx = hrand(n, 2), *hy = hrand(n, 3), *hz = malloc(n * 8);
    uint64_t *x = dalloc(n * 8), *y = dalloc(n * 8), *z = dalloc(n * 8);
    /* s1: upload and add; s2 waits for s1 through the event, then muls. */
    OK(O->copy_h2d(S, x, hx, n * 8, s1));
    OK(O->copy_h2d(S, y, hy, n * 8, s1));
    OK(O->ring_binary(S, SPIN_RING_ADD, z, x, y, n, s1));
    OK(O->event_record(S, e, s1));
    OK(O->stream_wait_event(S, s2, e));
    OK(O->ring_binary(S, SPIN_RING_MUL, z, z, x, n, s2));
    OK(O->event_sync(S, e));
    OK(O->stream_sync(S, s2));
    OK(O->copy_d2h(S, hz, z, n * 8, s2));
    OK(O->stream_sync(S, s2));
    for (size_t i = 0; i < n; i++)
        EXPECT(hz[i] == (hx[i] + hy[i]) * hx[i], "stream result at %zu", i);
    OK(O->stream_sync(S, NULL));
    OK(O->event_destroy(S, e));
    OK(O->stream_destroy(S, s1));
    OK(O->stream_destroy(S, s2));
    dfree(x); dfree(y); dfree(z);
    free(hx); free(hy); free(hz);
}
END_TEST


/* ------------------------------------------------------------------------ */
/* Independent instances used concurrently from several threads.            */
/* ------------------------------------------------------------------------ */

const char *g_plugin_name;

typedef struct inst_job {
    int id;
    int rc;              /* 0 ok, >0 wrong result, <0 status code */
} inst_job_t;

static void *instance_thread(void *arg)
{
    inst_job_t *j = arg;
    spin_runtime_t *rt = NULL;
    spin_backend_t be;
    j->rc = tu_runtime_try(g_plugin_name, SPIN_PLUGIN_COMPUTE, &rt, &be);
    if (j->rc) return NULL;
    const spin_compute_ops_t *o = be.ops;
    void *st = be.state;
    const size_t n = 48, nw = 4001;
    uint64_t *ha = hrand(n * n, 500 + (uint64_t)j->id), *hc = malloc(n * n * 8);
    uint64_t *w = malloc(nw * 8);
    spin_prg_key_t k;
    memset(&k, j->id + 1, sizeof k);
    void *da = NULL, *dc = NULL, *dw = NULL;
    int rc = o->mem_alloc(st, n * n * 8, &da);
    if (!rc) rc = o->mem_alloc(st, n * n * 8, &dc);
    if (!rc) rc = o->mem_alloc(st, nw * 8, &dw);
    for (int rep = 0; !rc && rep < 20 && j->rc == 0; rep++) {
        spin_gemm_t g = { .m = n, .n = n, .k = n, .batch = 1, .a = da, .lda = n,
                          .b = da, .ldb = n, .c = dc, .ldc = n };
        rc = o->copy_h2d(st, da, ha, n * n * 8, NULL);
        if (!rc) rc = o->ring_gemm(st, &g, NULL);
        if (!rc) rc = o->prg_fill(st, &k, (uint64_t)j->id, 3, dw, nw, NULL);
        if (!rc) rc = o->stream_sync(st, NULL);
        if (!rc) rc = o->copy_d2h(st, hc, dc, n * n * 8, NULL);
        if (!rc) rc = o->copy_d2h(st, w, dw, nw * 8, NULL);
        if (!rc) rc = o->stream_sync(st, NULL);
        for (size_t i = 0; !rc && i < n; i += 7)
            for (size_t jj = 0; jj < n; jj += 5) {
                uint64_t s = 0;
                for (size_t p = 0; p < n; p++) s += ha[i * n + p] * ha[p * n + jj];
                if (hc[i * n + jj] != s) j->rc = 1;
            }
        for (size_t i = 0; !rc && i < nw; i += 97)
            if (w[i] != ref_word(&k, (uint64_t)j->id, 3 + i)) j->rc = 2;
    }
    if (rc) j->rc = rc;
    o->mem_free(st, da);
    o->mem_free(st, dc);
    o->mem_free(st, dw);
    free(ha); free(hc); free(w);
    spin_runtime_close(rt);
    return NULL;
}

START_TEST(test_instances)
{
    enum { NT = 3 };
    pthread_t th[NT];
    inst_job_t jobs[NT];
    for (int i = 0; i < NT; i++) {
        jobs[i].id = i;
        jobs[i].rc = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, instance_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < NT; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NT; i++)
        EXPECT(jobs[i].rc == 0, "instance %d in its own thread: %s", i,
               jobs[i].rc > 0 ? "wrong result" : spin_strerror(jobs[i].rc));
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *compute_suite(void)
{
    Suite *s = suite_create("compute");
    TCase *t;

    t = tcase_create("basics");
    tcase_add_test(t, test_caps);
    tcase_add_test(t, test_memory);
    tcase_add_test(t, test_streams);
    tcase_add_test(t, test_instances);
    tcase_set_timeout(t, 300);
    suite_add_tcase(s, t);

    suite_add_tcase(s, cc_tcase_prg());
    suite_add_tcase(s, cc_tcase_gemm());
    suite_add_tcase(s, cc_tcase_elementwise());
    suite_add_tcase(s, cc_tcase_layout());
    suite_add_tcase(s, cc_tcase_f64());
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PLUGIN\n", argv[0]);
        return 2;
    }
    /* tu_runtime_for handles "not built" / "unavailable" (exit 77). */
    spin_runtime_t *probe = tu_runtime_for(argv[1], SPIN_PLUGIN_COMPUTE, &g_be);
    spin_runtime_close(probe);

    /* Reopen with a logger that counts error lines, so the suite can check
     * that invalid arguments are reported. */
    static spin_logger_t lg = { SPIN_LOG_WARN, "conformance", log_sink, NULL };
    spin_runtime_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.backend = argv[1];
    o.no_default_path = 1;
    o.log = &lg;
    spin_runtime_t *rt = NULL;
    int rc = spin_runtime_open(&o, &rt);
    if (rc == 0) rc = spin_runtime_compute(rt, &g_be);
    if (rc != 0) {
        fprintf(stderr, "FAIL: cannot use the %s plugin: %s\n", argv[1], spin_strerror(rc));
        return 1;
    }
    O = g_be.ops;
    S = g_be.state;
    g_plugin_name = argv[1];
    printf("conformance_compute: plugin %s (%s) from %s\n", g_be.desc->name,
           g_be.desc->version, g_be.path);

    SRunner *sr = srunner_create(compute_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    spin_runtime_close(rt);
    return failed == 0 ? 0 : 1;
}
