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
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <spin/spin.h>

#include "testutil.h"

#define MAXP 6

static const char *g_plugin;   /* plugin under test */
static const char *g_scheme;   /* tcp | ipc | rdma */
static uint64_t g_caps;        /* its capability bits */
static const char *g_schemes;  /* its endpoint schemes ("tcp ipc") */
static int g_fake_verbs;       /* rdma on the fake libibverbs (plugins/rdma) */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------------ */
/* Sessions: N parties as threads.                                          */
/* ------------------------------------------------------------------------ */

typedef struct sess sess_t;
typedef struct party party_t;
typedef void (*body_fn)(party_t *p);

typedef struct pcfg {
    int nparties;              /* 0: the session's n */
    uint64_t fingerprint;      /* 0: the default */
    const char *key_dir;
    int timeout_ms;            /* 0: 30 s */
    int skip;                  /* this party is not started (missing peer) */
} pcfg_t;

struct party {
    sess_t *s;
    int me;
    const spin_transport_ops_t *t;
    void *comm;
    int open_rc;
    double open_s;             /* seconds open() took */
    char fail[768];            /* first failure, "" if none */
    char log[8192];            /* captured log lines */
    size_t loglen;
    pthread_mutex_t log_mu;
};

struct sess {
    int n;
    char *dir;
    char *eps[MAXP];
    pcfg_t pc[MAXP];
    body_fn body;
    party_t p[MAXP];
    pthread_barrier_t bar;
    void *user;
};

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

static int logged(party_t *p, const char *needle)
{
    pthread_mutex_lock(&p->log_mu);
    int r = strstr(p->log, needle) != NULL;
    pthread_mutex_unlock(&p->log_mu);
    return r;
}

/* Record the first failure of a party thread. */
static void pfail(party_t *p, const char *fmt, ...)
{
    if (p->fail[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->fail, sizeof p->fail, fmt, ap);
    va_end(ap);
}

#define REQ(p, cond, ...)                                                     \
    do {                                                                      \
        if (!(cond)) {                                                        \
            pfail((p), __VA_ARGS__);                                          \
            return;                                                           \
        }                                                                     \
    } while (0)

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

static void sess_init(sess_t *s, int n)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->dir = tu_tmpdir("ct");
    ck_assert_msg(s->dir != NULL, "cannot create a temporary directory");
    make_endpoints(s);
}

static void sess_free(sess_t *s)
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
        cfg.nparties = pc->nparties ? pc->nparties : s->n;
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
static void sess_run(sess_t *s, body_fn body)
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

static void sess_destroy_logs(sess_t *s)
{
    for (int i = 0; i < s->n; i++) pthread_mutex_destroy(&s->p[i].log_mu);
}

/* Every party opened and its body passed. */
static void expect_clean(sess_t *s)
{
    for (int i = 0; i < s->n; i++) {
        if (s->pc[i].skip) continue;
        ck_assert_msg(s->p[i].open_rc == 0, "party %d: open failed: %s", i,
                      spin_strerror(s->p[i].open_rc));
        ck_assert_msg(s->p[i].fail[0] == '\0', "%s", s->p[i].fail);
    }
}

/* ------------------------------------------------------------------------ */
/* Test data.                                                               */
/* ------------------------------------------------------------------------ */

static const size_t k_sizes[] = {0,     1,     3,      8,      64,     1000,   4096,
                                 32767, 32768, 32769,  65536,  100003, 262144, 1u << 20};
#define NSIZES (sizeof k_sizes / sizeof k_sizes[0])

static size_t msg_size(int from, int to, int k)
{
    return k_sizes[(size_t)(k * 7 + from * 3 + to * 5) % NSIZES];
}

static uint64_t seed_of(int from, int to, int k, int salt)
{
    return ((uint64_t)from << 48) ^ ((uint64_t)to << 40) ^ ((uint64_t)salt << 32) ^ (uint64_t)k;
}

static void fill(unsigned char *b, size_t len, uint64_t seed)
{
    uint64_t st = seed;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = tu_rand64(&st);
        memcpy(b + i, &w, 8);
    }
    if (i < len) {
        uint64_t w = tu_rand64(&st);
        memcpy(b + i, &w, len - i);
    }
}

/* Offset of the first wrong byte, or -1. */
static long long verify(const unsigned char *b, size_t len, uint64_t seed)
{
    uint64_t st = seed;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = tu_rand64(&st);
        if (memcmp(b + i, &w, 8) != 0) return (long long)i;
    }
    if (i < len) {
        uint64_t w = tu_rand64(&st);
        if (memcmp(b + i, &w, len - i) != 0) return (long long)i;
    }
    return -1;
}

static unsigned char *make_msg(int from, int to, int k, int salt, size_t len)
{
    unsigned char *b = malloc(len ? len : 1);
    if (b) fill(b, len, seed_of(from, to, k, salt));
    return b;
}

/* ------------------------------------------------------------------------ */
/* Ordering: blocking pairwise, then everything non-blocking; counters.     */
/* ------------------------------------------------------------------------ */

#define ORDER_M 24

static void body_order(party_t *p)
{
    const spin_transport_ops_t *t = p->t;
    int n = p->s->n, me = p->me;
    uint64_t exp_bs[MAXP] = {0}, exp_br[MAXP] = {0};

    /* Phase 1: blocking send/recv, pairwise in ascending peer order. */
    for (int j = 0; j < n; j++) {
        if (j == me) continue;
        for (int half = 0; half < 2; half++) {
            int sending = (half == 0) == (me < j);
            for (int k = 0; k < ORDER_M; k++) {
                if (sending) {
                    size_t len = msg_size(me, j, k);
                    unsigned char *b = make_msg(me, j, k, 1, len);
                    int rc = t->send(p->comm, j, 100 + (uint32_t)k, b, len);
                    free(b);
                    REQ(p, rc == 0, "party %d: send #%d to %d failed: %s", me, k, j,
                        spin_strerror(rc));
                    exp_bs[j] += len;
                } else {
                    size_t len = msg_size(j, me, k);
                    unsigned char *b = malloc(len ? len : 1);
                    int rc = t->recv(p->comm, j, 100 + (uint32_t)k, b, len);
                    long long bad = rc ? -1 : verify(b, len, seed_of(j, me, k, 1));
                    free(b);
                    REQ(p, rc == 0, "party %d: recv #%d from %d failed: %s", me, k, j,
                        spin_strerror(rc));
                    REQ(p, bad < 0, "party %d: message #%d from %d (%zu bytes) wrong at byte %lld",
                        me, k, j, len, bad);
                    exp_br[j] += len;
                }
            }
        }
    }

    /* Phase 2: post everything, then wait in posting order. */
    int nreq = 2 * ORDER_M * (n - 1);
    spin_request_t **rq = calloc((size_t)nreq, sizeof *rq);
    unsigned char **bufs = calloc((size_t)nreq, sizeof *bufs);
    int *isrecv = calloc((size_t)nreq, sizeof *isrecv);
    int *from = calloc((size_t)nreq, sizeof *from);
    int *kk = calloc((size_t)nreq, sizeof *kk);
    REQ(p, rq && bufs && isrecv && from && kk, "out of memory");
    int r = 0, rc = 0;
    for (int k = 0; k < ORDER_M && !rc; k++) {
        for (int j = 0; j < n && !rc; j++) {
            if (j == me) continue;
            size_t len = msg_size(me, j, k + 50);
            bufs[r] = make_msg(me, j, k, 2, len);
            rc = t->isend(p->comm, j, 500 + (uint32_t)k, bufs[r], len, &rq[r]);
            exp_bs[j] += len;
            r++;
            if (rc) break;
            len = msg_size(j, me, k + 50);
            bufs[r] = malloc(len ? len : 1);
            isrecv[r] = 1;
            from[r] = j;
            kk[r] = k;
            rc = t->irecv(p->comm, j, 500 + (uint32_t)k, bufs[r], len, &rq[r]);
            exp_br[j] += len;
            r++;
        }
    }
    for (int i = 0; i < r; i++) {
        int w = rq[i] ? t->wait(p->comm, rq[i]) : 0;
        if (w && !rc) rc = w;
        if (!w && isrecv[i] && !p->fail[0]) {
            size_t len = msg_size(from[i], me, kk[i] + 50);
            long long bad = verify(bufs[i], len, seed_of(from[i], me, kk[i], 2));
            if (bad >= 0)
                pfail(p, "party %d: non-blocking message #%d from %d wrong at byte %lld", me, kk[i],
                      from[i], bad);
        }
        free(bufs[i]);
    }
    free(rq);
    free(bufs);
    free(isrecv);
    free(from);
    free(kk);
    REQ(p, rc == 0, "party %d: non-blocking phase failed: %s", me, spin_strerror(rc));

    /* Counters: exact payload bytes and message counts, per peer. */
    for (int j = 0; j < n; j++) {
        spin_transport_stats_t st;
        memset(&st, 0xff, sizeof st);
        rc = t->stats(p->comm, j, &st);
        REQ(p, rc == 0, "party %d: stats(%d) failed: %s", me, j, spin_strerror(rc));
        uint64_t em = j == me ? 0 : 2 * ORDER_M;
        REQ(p, st.bytes_sent == exp_bs[j] && st.bytes_recv == exp_br[j],
            "party %d: stats for peer %d: %llu bytes sent / %llu received, expected %llu / %llu", me,
            j, (unsigned long long)st.bytes_sent, (unsigned long long)st.bytes_recv,
            (unsigned long long)exp_bs[j], (unsigned long long)exp_br[j]);
        REQ(p, st.msgs_sent == em && st.msgs_recv == em,
            "party %d: stats for peer %d: %llu messages sent / %llu received, expected %llu", me, j,
            (unsigned long long)st.msgs_sent, (unsigned long long)st.msgs_recv,
            (unsigned long long)em);
    }
}

static void run_order(int n, const char *key_dir)
{
    sess_t s;
    sess_init(&s, n);
    for (int i = 0; i < n; i++) s.pc[i].key_dir = key_dir;
    sess_run(&s, body_order);
    expect_clean(&s);
    sess_destroy_logs(&s);
    sess_free(&s);
}

START_TEST(order_2) { run_order(2, NULL); }
END_TEST
START_TEST(order_3) { run_order(3, NULL); }
END_TEST
START_TEST(order_4) { run_order(4, NULL); }
END_TEST

/* ------------------------------------------------------------------------ */
/* Zero-length messages, invalid arguments, exact counters.                 */
/* ------------------------------------------------------------------------ */

static void body_zero(party_t *p)
{
    const spin_transport_ops_t *t = p->t;
    int me = p->me, peer = 1 - me;
    unsigned char small[16] = {0}, got[16];
    if (me == 0) {
        /* Invalid arguments are refused, not sent. */
        int rc = t->send(p->comm, 0, 1, small, 1);
        REQ(p, rc == SPIN_ERR_INVAL, "send to myself returned %s", spin_strerror(rc));
        rc = t->send(p->comm, 7, 1, small, 1);
        REQ(p, rc == SPIN_ERR_INVAL, "send to party 7 of 2 returned %s", spin_strerror(rc));
        rc = t->send(p->comm, -1, 1, small, 1);
        REQ(p, rc == SPIN_ERR_INVAL, "send to party -1 returned %s", spin_strerror(rc));
        for (int k = 0; k < 20; k++) {
            size_t len = k % 3 == 2 ? 16 : 0;
            for (int b = 0; b < 16; b++) small[b] = (unsigned char)(k + b);
            rc = t->send(p->comm, peer, 40 + (uint32_t)k, k % 3 == 0 ? NULL : small, len);
            REQ(p, rc == 0, "zero-length send #%d: %s", k, spin_strerror(rc));
        }
        /* Counters: 20 messages, 6 of them 16 bytes long. */
        spin_transport_stats_t st;
        rc = t->stats(p->comm, peer, &st);
        REQ(p, rc == 0 && st.msgs_sent == 20 && st.bytes_sent == 6 * 16 && st.msgs_recv == 0 &&
                   st.bytes_recv == 0,
            "sender counters: %llu msgs, %llu bytes (expected 20, 96)",
            (unsigned long long)st.msgs_sent, (unsigned long long)st.bytes_sent);
    } else {
        for (int k = 0; k < 20; k++) {
            size_t len = k % 3 == 2 ? 16 : 0;
            memset(got, 0xee, sizeof got);
            int rc = t->recv(p->comm, peer, 40 + (uint32_t)k, k % 3 == 1 ? NULL : got, len);
            REQ(p, rc == 0, "zero-length recv #%d: %s", k, spin_strerror(rc));
            if (len) {
                for (int b = 0; b < 16; b++)
                    REQ(p, got[b] == (unsigned char)(k + b), "message #%d byte %d wrong", k, b);
            } else if (k % 3 != 1) {
                REQ(p, got[0] == 0xee, "a zero-length receive wrote into the buffer");
            }
        }
        spin_transport_stats_t st;
        int rc = t->stats(p->comm, peer, &st);
        REQ(p, rc == 0 && st.msgs_recv == 20 && st.bytes_recv == 6 * 16 && st.msgs_sent == 0,
            "receiver counters: %llu msgs, %llu bytes (expected 20, 96)",
            (unsigned long long)st.msgs_recv, (unsigned long long)st.bytes_recv);
    }
}

START_TEST(zero_length)
{
    sess_t s;
    sess_init(&s, 2);
    sess_run(&s, body_zero);
    expect_clean(&s);
    sess_destroy_logs(&s);
    sess_free(&s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 64 MiB messages, pattern-checked, both directions.                       */
/* ------------------------------------------------------------------------ */

#define BIG (64u << 20)

static void body_large(party_t *p)
{
    const spin_transport_ops_t *t = p->t;
    int me = p->me, peer = 1 - me;
    for (int dir = 0; dir < 2; dir++) {
        int sender = dir == 0 ? 0 : 1;
        if (me == sender) {
            unsigned char *b = make_msg(me, peer, dir, 3, BIG);
            REQ(p, b, "out of memory");
            int rc = t->send(p->comm, peer, 77, b, BIG);
            free(b);
            REQ(p, rc == 0, "party %d: 64 MiB send failed: %s", me, spin_strerror(rc));
        } else {
            unsigned char *b = malloc(BIG);
            REQ(p, b, "out of memory");
            int rc = t->recv(p->comm, peer, 77, b, BIG);
            long long bad = rc ? -1 : verify(b, BIG, seed_of(peer, me, dir, 3));
            free(b);
            REQ(p, rc == 0, "party %d: 64 MiB recv failed: %s", me, spin_strerror(rc));
            REQ(p, bad < 0, "party %d: 64 MiB message wrong at byte %lld", me, bad);
        }
    }
    spin_transport_stats_t st;
    int rc = t->stats(p->comm, peer, &st);
    REQ(p, rc == 0 && st.bytes_sent == BIG && st.bytes_recv == BIG && st.msgs_sent == 1 &&
               st.msgs_recv == 1,
        "party %d: counters after 64 MiB each way: %llu/%llu bytes", me,
        (unsigned long long)st.bytes_sent, (unsigned long long)st.bytes_recv);
}

START_TEST(large_64mib)
{
    sess_t s;
    sess_init(&s, 2);
    sess_run(&s, body_large);
    expect_clean(&s);
    sess_destroy_logs(&s);
    sess_free(&s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Concurrent non-blocking all-to-all, waits out of order.                  */
/* ------------------------------------------------------------------------ */

#define A2A_ROUNDS 6
#define A2A_PER 3

static void body_a2a(party_t *p)
{
    const spin_transport_ops_t *t = p->t;
    int n = p->s->n, me = p->me;
    int per = A2A_PER * (n - 1);
    spin_request_t *sq[A2A_PER * MAXP], *rq[A2A_PER * MAXP];
    unsigned char *sb[A2A_PER * MAXP], *rb[A2A_PER * MAXP];
    int rfrom[A2A_PER * MAXP], rk[A2A_PER * MAXP];
    for (int round = 0; round < A2A_ROUNDS; round++) {
        int ns = 0, nr = 0, rc = 0;
        /* Everyone sends to everyone ... */
        for (int j = 0; j < n && !rc; j++) {
            if (j == me) continue;
            for (int k = 0; k < A2A_PER && !rc; k++) {
                int kid = round * A2A_PER + k;
                size_t len = msg_size(me, j, kid + 3);
                sb[ns] = make_msg(me, j, kid, 4, len);
                rc = t->isend(p->comm, j, 900 + (uint32_t)k, sb[ns], len, &sq[ns]);
                if (rc) free(sb[ns]);
                else ns++;
            }
        }
        /* ... then receives from everyone. */
        for (int j = 0; j < n && !rc; j++) {
            if (j == me) continue;
            for (int k = 0; k < A2A_PER && !rc; k++) {
                int kid = round * A2A_PER + k;
                size_t len = msg_size(j, me, kid + 3);
                rb[nr] = malloc(len ? len : 1);
                rfrom[nr] = j;
                rk[nr] = kid;
                rc = t->irecv(p->comm, j, 900 + (uint32_t)k, rb[nr], len, &rq[nr]);
                if (rc) free(rb[nr]);
                else nr++;
            }
        }
        /* Wait for the receives last-posted first, then the sends. */
        for (int i = nr - 1; i >= 0; i--) {
            int w = t->wait(p->comm, rq[i]);
            if (w && !rc) rc = w;
            if (!w && !p->fail[0]) {
                size_t len = msg_size(rfrom[i], me, rk[i] + 3);
                long long bad = verify(rb[i], len, seed_of(rfrom[i], me, rk[i], 4));
                if (bad >= 0)
                    pfail(p, "party %d: all-to-all message %d from %d wrong at byte %lld", me, rk[i],
                          rfrom[i], bad);
            }
            free(rb[i]);
        }
        for (int i = 0; i < ns; i++) {
            int w = t->wait(p->comm, sq[i]);
            if (w && !rc) rc = w;
            free(sb[i]);
        }
        REQ(p, rc == 0 && ns == per && nr == per, "party %d: all-to-all round %d failed: %s", me,
            round, spin_strerror(rc));
    }
}

START_TEST(alltoall_4)
{
    sess_t s;
    sess_init(&s, 4);
    sess_run(&s, body_a2a);
    expect_clean(&s);
    sess_destroy_logs(&s);
    sess_free(&s);
}
END_TEST

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

/* ------------------------------------------------------------------------ */
/* Authenticated, encrypted links (SPIN_CAP_TRANSPORT_SECURE).              */
/* ------------------------------------------------------------------------ */

typedef int (*keypair_fn)(char *pub, char *sec);

/* zmq_curve_keypair from libzmq, loaded at run time: the suite itself does
 * not link ZeroMQ (it also runs against other transports). */
static void *g_zmq_lib;

static keypair_fn curve_keypair(void)
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

/* ------------------------------------------------------------------------ */

static Suite *transport_suite(void)
{
    Suite *s = suite_create("transport");
    TCase *tc = tcase_create("data");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, order_2);
    tcase_add_test(tc, order_3);
    tcase_add_test(tc, order_4);
    tcase_add_test(tc, zero_length);
    tcase_add_test(tc, large_64mib);
    tcase_add_test(tc, alltoall_4);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
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
    suite_add_tcase(s, tc);
    tc = tcase_create("secure");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, secure_links);
    tcase_add_test(tc, secure_unknown_key);
    tcase_add_test(tc, secure_missing_key_file);
    tcase_add_test(tc, insecure_refuses_key_dir);
    suite_add_tcase(s, tc);
    if (g_fake_verbs) {
        tc = tcase_create("rdma-faults");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, rdma_completion_error);
        suite_add_tcase(s, tc);
    }
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
