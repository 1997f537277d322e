/*
 * conformance_transport.c - the transport-plugin conformance suite.
 *
 *   ./conformance_transport PLUGIN SCHEME     SCHEME: tcp | ipc | rdma
 *   (exit 77 = SKIP when the plugin was not built or is unavailable here)
 *
 * Every test runs N parties as threads of this process; each party opens its
 * own runtime (so its own plugin instance) and its own communicator, exactly
 * as separate processes would.  Thread bodies never call Check's assertions
 * (they are not thread-safe): they record their first failure, and the test
 * asserts on it after joining the threads.
 *
 * The communication patterns are deadlock-free for any transport, also one
 * whose sends wait for the matching receive: blocking exchanges go pairwise
 * in ascending peer order (the lower party sends first), everything else
 * posts all non-blocking requests before waiting.
 *
 * This file: the harness (conformance_transport.h) and main.  The test
 * cases, one Check test case per file:
 *   conformance_transport_data.c    "data": ordering, counters, zero-length
 *                                   and 64 MiB messages, all-to-all
 *   conformance_transport_errors.c  "errors": tag/length and configuration
 *                                   mismatches, schemes, timeouts, a peer
 *                                   that closes; "rdma-faults" (fake verbs)
 *   conformance_transport_secure.c  "secure": CurveZMQ links or their refusal
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <spin/spin.h>

#include "testutil.h"
#include "conformance_transport.h"

/* the run's plugin and scheme (conformance_transport.h) */
const char *g_plugin;
const char *g_scheme;
uint64_t g_caps;
const char *g_schemes;
static int g_fake_verbs;       /* rdma on the fake libibverbs (plugins/rdma) */

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------------ */
/* Sessions: N parties as threads (the types: conformance_transport.h).     */
/* ------------------------------------------------------------------------ */

static void log_sink(void *user, spin_log_level_t level, const char *msg)
{
    party_t *p = user;
    pthread_mutex_lock(&p->log_mu);
    int k = snprintf(p->log + p->loglen, sizeof p->log - p->loglen, "%s\n", msg);
    if (k > 0 && p->loglen + (size_t)k < sizeof p->log) p->loglen += (size_t)k;
    pthread_mutex_unlock(&p->log_mu);
    if (level <= SPIN_LOG_WARN || getenv("CONFORMANCE_VERBOSE"))
        fprintf(stderr, "  [party %d log] %s\n", p->me, msg);
}

int logged(party_t *p, const char *needle)
{
    pthread_mutex_lock(&p->log_mu);
    int r = strstr(p->log, needle) != NULL;
    pthread_mutex_unlock(&p->log_mu);
    return r;
}

/* Record the first failure of a party thread. */
void pfail(party_t *p, const char *fmt, ...)
{
    if (p->fail[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->fail, sizeof p->fail, fmt, ap);
    va_end(ap);
}

/* Can a listening socket be bound to 127.0.0.1:port right now? */
static int port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* A free TCP port on 127.0.0.1, chosen below the kernel's ephemeral range
 * (so that no outgoing connection takes it between this probe and the
 * plugin's bind); the caller retries a session if it is taken anyway. */
static int free_port(void)
{
    static uint64_t rng;
    if (!rng) rng = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ (uint64_t)(now_s() * 1e9);
    int lo = 32768;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        int a, b;
        if (fscanf(f, "%d %d", &a, &b) == 2 && a > 12000) lo = a;
        fclose(f);
    }
    for (int tries = 0; tries < 200; tries++) {
        int port = 10000 + (int)(tu_rand64(&rng) % (uint64_t)(lo - 10000));
        if (port_free(port)) return port;
    }
    return -1;
}

static void make_endpoints(sess_t *s)
{
    for (int i = 0; i < MAXP; i++) {
        char buf[512];
        if (strcmp(g_scheme, "ipc") == 0) {
            snprintf(buf, sizeof buf, "ipc://%s/p%d", s->dir, i);
        } else {
            int port = free_port();
            ck_assert_msg(port > 0, "no free TCP port");
            snprintf(buf, sizeof buf, "%s://127.0.0.1:%d", g_scheme, port);
        }
        free(s->eps[i]);
        s->eps[i] = strdup(buf);
    }
}

void sess_init(sess_t *s, int n)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->dir = tu_tmpdir("ct");
    ck_assert_msg(s->dir != NULL, "cannot create a temporary directory");
    make_endpoints(s);
}

void sess_free(sess_t *s)
{
    for (int i = 0; i < MAXP; i++) free(s->eps[i]);
    tu_rmdir(s->dir);
    free(s->dir);
}

static int open_runtime(party_t *p, spin_runtime_t **rt, spin_backend_t *be)
{
    spin_logger_t lg = {SPIN_LOG_WARN, NULL, log_sink, p};
    spin_runtime_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.backend = g_plugin;
    o.no_default_path = 1;
    o.log = &lg;
    int rc = spin_runtime_open(&o, rt);
    if (rc) return rc;
    rc = spin_runtime_transport(*rt, be);
    if (rc) {
        spin_runtime_close(*rt);
        *rt = NULL;
    }
    return rc;
}

static void *party_main(void *arg)
{
    party_t *p = arg;
    sess_t *s = p->s;
    const pcfg_t *pc = &s->pc[p->me];
    spin_runtime_t *rt = NULL;
    spin_backend_t be;
    int rc = open_runtime(p, &rt, &be);
    p->open_rc = rc;
    if (rc) {
        pfail(p, "party %d: cannot open the %s plugin: %s", p->me, g_plugin, spin_strerror(rc));
    } else {
        p->t = be.ops;
        spin_transport_cfg_t cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.struct_size = sizeof cfg;
        cfg.party = p->me;
        cfg.nprocs = pc->nparties ? pc->nparties : s->n;
        cfg.endpoints = (const char *const *)s->eps;
        cfg.timeout_ms = pc->timeout_ms ? pc->timeout_ms : 30000;
        cfg.key_dir = pc->key_dir;
        cfg.fingerprint = pc->fingerprint ? pc->fingerprint : UINT64_C(0x5350494e54455354);
        double t0 = now_s();
        p->open_rc = p->t->open(be.state, &cfg, &p->comm);
        p->open_s = now_s() - t0;
        if (p->open_rc) p->comm = NULL;
        if (!p->open_rc && s->body) s->body(p);
    }
    pthread_barrier_wait(&s->bar);
    if (p->comm) p->t->close(p->comm);
    if (rt) spin_runtime_close(rt);
    return NULL;
}

/* Run the session once; returns after every party thread has finished. */
static void sess_run_once(sess_t *s, body_fn body)
{
    s->body = body;
    int running = 0;
    for (int i = 0; i < s->n; i++)
        if (!s->pc[i].skip) running++;
    pthread_barrier_init(&s->bar, NULL, (unsigned)running);
    pthread_t th[MAXP];
    for (int i = 0; i < s->n; i++) {
        party_t *p = &s->p[i];
        memset(p, 0, sizeof *p);
        p->s = s;
        p->me = i;
        pthread_mutex_init(&p->log_mu, NULL);
        if (s->pc[i].skip) continue;
        ck_assert_int_eq(pthread_create(&th[i], NULL, party_main, p), 0);
    }
    for (int i = 0; i < s->n; i++)
        if (!s->pc[i].skip) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&s->bar);
}

/* Run the session; if a party could not listen (another process took its
 * port meanwhile), run it again on fresh ports. */
void sess_run(sess_t *s, body_fn body)
{
    for (int attempt = 0;; attempt++) {
        sess_run_once(s, body);
        int port_taken = 0;
        for (int i = 0; i < s->n; i++)
            if (!s->pc[i].skip && s->p[i].open_rc == SPIN_ERR_IO && logged(&s->p[i], "cannot listen"))
                port_taken = 1;
        if (!port_taken || attempt == 3) return;
        fprintf(stderr, "  (an endpoint was taken by another process: running again)\n");
        for (int i = 0; i < s->n; i++) pthread_mutex_destroy(&s->p[i].log_mu);
        make_endpoints(s);
    }
}

void sess_destroy_logs(sess_t *s)
{
    for (int i = 0; i < s->n; i++) pthread_mutex_destroy(&s->p[i].log_mu);
}

/* Every party opened and its body passed. */
void expect_clean(sess_t *s)
{
    for (int i = 0; i < s->n; i++) {
        if (s->pc[i].skip) continue;
        ck_assert_msg(s->p[i].open_rc == 0, "party %d: open failed: %s", i,
                      spin_strerror(s->p[i].open_rc));
        ck_assert_msg(s->p[i].fail[0] == '\0', "%s", s->p[i].fail);
    }
}

/* ------------------------------------------------------------------------ */

static Suite *transport_suite(void)
{
    Suite *s = suite_create("transport");
    suite_add_tcase(s, data_tcase());
    suite_add_tcase(s, errors_tcase());
    suite_add_tcase(s, secure_tcase());
    if (g_fake_verbs) suite_add_tcase(s, rdma_faults_tcase());
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[2], "tcp") && strcmp(argv[2], "ipc") && strcmp(argv[2], "rdma"))) {
        fprintf(stderr, "usage: %s PLUGIN SCHEME   (SCHEME: tcp, ipc or rdma)\n", argv[0]);
        return 2;
    }
    g_plugin = argv[1];
    g_scheme = argv[2];
    /* Load libzmq (for test keys) before any plugin: loading it in the
     * middle of the run makes valgrind see the loader's bookkeeping of an
     * earlier plugin load as lost. */
    curve_keypair();
    /* Exits 77 (SKIP) with the reason when the plugin is not built or has
     * no hardware here. */
    spin_backend_t be;
    spin_runtime_t *probe = tu_runtime_for(g_plugin, SPIN_PLUGIN_TRANSPORT, &be);
    g_caps = be.desc->caps;
    /* a copy: the descriptor belongs to the probe's plugin (plugin.h: NULL, or
     * a descriptor older than ABI 1.2, means "tcp ipc") */
    static char schemes[128];
    int has_schemes = be.desc->abi_minor >= 2 && be.desc->struct_size >= SPIN_PLUGIN_DESC_SIZE_1_2 &&
                      be.desc->endpoint_schemes && be.desc->endpoint_schemes[0];
    snprintf(schemes, sizeof schemes, "%s", has_schemes ? be.desc->endpoint_schemes : "tcp ipc");
    g_schemes = schemes;
    if (strcmp(g_plugin, "rdma") == 0) {
        /* The plugin loaded libibverbs: is it the fake (fault injection)? */
        void *h = dlopen("libibverbs.so.1", RTLD_NOLOAD | RTLD_LAZY);
        if (h) {
            g_fake_verbs = dlsym(h, "ibv_fake_verbs") != NULL;
            dlclose(h);
        }
    }
    printf("conformance_transport: plugin %s (%s) from %s, %s:// endpoints (it accepts %s)\n",
           be.desc->name, be.desc->version, be.path, g_scheme, g_schemes);
    spin_runtime_close(probe);

    SRunner *sr = srunner_create(transport_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (g_zmq_lib) dlclose(g_zmq_lib);
    return failed == 0 ? 0 : 1;
}
