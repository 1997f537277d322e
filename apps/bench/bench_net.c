/*
 * bench_net.c - spin-bench net: the transport plugin against a plain
 * blocking socket pair, in the same run.
 *
 *   spin-bench [--json] [--reps N] [--quick] net [--scheme tcp|ipc|rdma]
 *
 * (a) baseline: two threads joined by a plain blocking stream socket (TCP on
 *     127.0.0.1 with TCP_NODELAY; AF_UNIX for --scheme ipc), write()/recv()
 *     loops;
 * (b) the transport plugin SPIN_BACKEND selects (--scheme rdma: the rdma
 *     plugin unless SPIN_BACKEND is set): two parties as threads, each with
 *     its own runtime and communicator, over tcp:// loopback (ipc://, or
 *     rdma:// with its TCP bootstrap on 127.0.0.1).
 * Both pairs are up at once and the main thread drives them alternately,
 * batch by batch, so load from elsewhere on the machine hits both alike.
 * Bandwidth: one-way streaming of K messages of each size (1 KiB .. 64 MiB),
 * the receiver acknowledging the batch with one byte; the median of --reps
 * batches.  The plugin side keeps up to 4 isends / irecvs in flight.
 * Latency: ping-pong of 8 B, 1 KiB and 64 KiB messages, per size the median
 * over many round trips (taken in ten alternating blocks).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"

#include <spin/launch.h>

#define NET_WINDOW 4
#define NET_TAG_DATA 0x4e01
#define NET_TAG_ACK 0x4e02
#define NET_TAG_PING 0x4e03

/* Endpoint scheme for TCP-addressed transports: "tcp", or "rdma" (the rdma
 * plugin's bootstrap address); the plain baseline is a TCP pair either way. */
static const char *net_scheme = "tcp";

#define NET_NLAT 3
static const size_t net_lat_sizes[NET_NLAT] = {8, 1024, 64 * 1024};

typedef struct net_plan {
    int nsizes;
    size_t sizes[16];
    long count[16];            /* messages per batch, per size */
    int reps;
    int nlat;
    size_t lat[NET_NLAT];      /* round-trip message sizes */
    int pings;                 /* timed round trips, per size */
    int warm_pings;
} net_plan_t;

typedef struct net_result {
    double bw[16];             /* bytes/s, median */
    double rtt[NET_NLAT];      /* seconds, median, per round-trip size */
} net_result_t;

static const char *fmt_size(size_t s, char *buf, size_t len)
{
    if (s >= (1u << 20)) snprintf(buf, len, "%zu MiB", s >> 20);
    else if (s >= 1024) snprintf(buf, len, "%zu KiB", s >> 10);
    else snprintf(buf, len, "%zu B", s);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* (a) plain blocking socket pair.                                          */
/* ------------------------------------------------------------------------ */

static int full_write(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int full_read(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t r = recv(fd, p, len, MSG_WAITALL);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            return -1;
        }
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

typedef struct plain_peer {
    int fd;
    const net_plan_t *plan;
    char *buf;
    int rc;
} plain_peer_t;

/* Receiver / echo side of the plain baseline; follows the plan. */
static void *plain_rx(void *arg)
{
    plain_peer_t *pp = arg;
    const net_plan_t *pl = pp->plan;
    char ack = 1;
    for (int s = 0; s < pl->nsizes; s++) {
        for (int r = 0; r < pl->reps + 1; r++) {
            for (long k = 0; k < pl->count[s]; k++)
                if (full_read(pp->fd, pp->buf, pl->sizes[s])) goto fail;
            if (full_write(pp->fd, &ack, 1)) goto fail;
        }
    }
    for (int l = 0; l < pl->nlat; l++) {
        for (int i = 0; i < pl->pings + pl->warm_pings; i++) {
            if (full_read(pp->fd, pp->buf, pl->lat[l]) || full_write(pp->fd, pp->buf, pl->lat[l]))
                goto fail;
        }
    }
    pp->rc = 0;
    return NULL;
fail:
    pp->rc = -1;
    return NULL;
}

static int plain_pair(int ipc, int fds[2])
{
    if (ipc) return socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    int rc = -1;
    if (bind(ls, (struct sockaddr *)&a, sizeof a) == 0 && listen(ls, 1) == 0 &&
        getsockname(ls, (struct sockaddr *)&a, &al) == 0) {
        fds[0] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[0] >= 0 && connect(fds[0], (struct sockaddr *)&a, sizeof a) == 0) {
            fds[1] = accept(ls, NULL, NULL);
            if (fds[1] >= 0) {
                int one = 1;
                setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                rc = 0;
            }
        }
        if (rc && fds[0] >= 0) close(fds[0]);
    }
    close(ls);
    return rc;
}

/* Sender side, one batch of count messages of len bytes, then the ack. */
static int plain_batch(int fd, const char *buf, size_t len, long count)
{
    char ack;
    for (long k = 0; k < count; k++)
        if (full_write(fd, buf, len)) return -1;
    return full_read(fd, &ack, 1);
}

static int plain_ping(int fd, char *buf, size_t len)
{
    if (full_write(fd, buf, len)) return -1;
    return full_read(fd, buf, len);
}

/* ------------------------------------------------------------------------ */
/* (b) the transport plugin.                                                */
/* ------------------------------------------------------------------------ */

typedef struct tparty {
    int me;
    const net_plan_t *plan;
    const char *const *eps;
    char *buf;
    spin_runtime_t *rt;
    spin_backend_t be;
    const spin_transport_ops_t *t;
    void *comm;
    int rc;
} tparty_t;

static int tp_open(tparty_t *tp)
{
    spin_runtime_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    /* rdma:// endpoints need the rdma plugin: auto-selection would pick tcp. */
    const char *env_be = getenv("SPIN_BACKEND");
    if (strcmp(net_scheme, "rdma") == 0 && !(env_be && *env_be)) o.backend = "rdma";
    int rc = spin_runtime_open(&o, &tp->rt);
    if (!rc) rc = spin_runtime_transport(tp->rt, &tp->be);
    if (rc) {
        if (o.backend)
            fprintf(stderr, "spin-bench net: party %d: the rdma transport plugin is not usable: %s "
                            "(spin-info says why; SPIN_PLUGIN_PATH must reach spin_rdma.so)\n",
                    tp->me, spin_strerror(rc));
        else
            fprintf(stderr, "spin-bench net: party %d: no transport plugin: %s (set SPIN_BACKEND, "
                            "e.g. SPIN_BACKEND=tcp, and SPIN_PLUGIN_PATH)\n", tp->me,
                    spin_strerror(rc));
        return rc;
    }
    tp->t = tp->be.ops;
    spin_transport_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = sizeof cfg;
    cfg.party = tp->me;
    cfg.nprocs = 2;
    cfg.endpoints = tp->eps;
    cfg.timeout_ms = 60000;
    cfg.fingerprint = 0x62656e63686e6574ULL;
    rc = tp->t->open(tp->be.state, &cfg, &tp->comm);
    if (rc) {
        fprintf(stderr, "spin-bench net: party %d: open failed: %s\n", tp->me, spin_strerror(rc));
        if (strcmp(net_scheme, "rdma") == 0 && strcmp(tp->be.desc->name, "rdma") != 0)
            fprintf(stderr, "spin-bench net: --scheme rdma needs the rdma plugin, but "
                            "SPIN_BACKEND=\"%s\" selected %s: unset it or name rdma\n",
                    env_be ? env_be : "", tp->be.desc->name);
        tp->comm = NULL;
    }
    return rc;
}

/* Stream count messages of len bytes with up to NET_WINDOW in flight. */
static int tp_stream(tparty_t *tp, int send, size_t len, long count)
{
    spin_request_t *win[NET_WINDOW];
    int rc = 0;
    long posted = 0, done = 0;
    while (done < count && !rc) {
        while (posted < count && posted - done < NET_WINDOW && !rc) {
            rc = send ? tp->t->isend(tp->comm, 1 - tp->me, NET_TAG_DATA, tp->buf, len,
                                     &win[posted % NET_WINDOW])
                      : tp->t->irecv(tp->comm, 1 - tp->me, NET_TAG_DATA, tp->buf, len,
                                     &win[posted % NET_WINDOW]);
            if (!rc) posted++;
        }
        if (done < posted) {
            int w = tp->t->wait(tp->comm, win[done % NET_WINDOW]);
            if (!rc) rc = w;
            done++;
        }
    }
    while (done < posted) tp->t->wait(tp->comm, win[done++ % NET_WINDOW]);
    return rc;
}

static int tp_batch(tparty_t *tp, size_t len, long count)
{
    char ack;
    int rc = tp_stream(tp, 1, len, count);
    return rc ? rc : tp->t->recv(tp->comm, 1, NET_TAG_ACK, &ack, 1);
}

static int tp_ping(tparty_t *tp, size_t len)
{
    int rc = tp->t->send(tp->comm, 1, NET_TAG_PING, tp->buf, len);
    return rc ? rc : tp->t->recv(tp->comm, 1, NET_TAG_PING, tp->buf, len);
}

/* Party 1: receiver / echo side; follows the plan. */
static void *tparty_rx(void *arg)
{
    tparty_t *tp = arg;
    const net_plan_t *pl = tp->plan;
    int rc = tp_open(tp);
    char ack = 1;
    for (int s = 0; s < pl->nsizes && !rc; s++) {
        for (int r = 0; r < pl->reps + 1 && !rc; r++) {
            rc = tp_stream(tp, 0, pl->sizes[s], pl->count[s]);
            if (!rc) rc = tp->t->send(tp->comm, 0, NET_TAG_ACK, &ack, 1);
        }
    }
    for (int l = 0; l < pl->nlat && !rc; l++) {
        for (int i = 0; i < pl->pings + pl->warm_pings && !rc; i++) {
            rc = tp->t->recv(tp->comm, 0, NET_TAG_PING, tp->buf, pl->lat[l]);
            if (!rc) rc = tp->t->send(tp->comm, 0, NET_TAG_PING, tp->buf, pl->lat[l]);
        }
    }
    if (tp->comm) tp->t->close(tp->comm);
    if (tp->rt) spin_runtime_close(tp->rt);
    tp->rc = rc;
    return NULL;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * Both measurements run in the same time window, alternating batch by batch
 * (and block by block for the pings), so that load from elsewhere on the
 * machine hits both alike.  The main thread sends for both.
 */
static int run_both(const net_plan_t *pl, int ipc, char *sbuf, char *rbuf, char *rbuf2,
                    net_result_t *plain, net_result_t *tr, char *name, size_t namelen)
{
    char ep[2][256], dir[128] = "", err[512];
    /* Endpoints from the launch module, as spin-run and spin_run_local
     * make them: a private directory, or two distinct free ports. */
    if (ipc) {
        if (spin_launch_tmpdir(NULL, NULL, "spin-bench", dir, sizeof dir, err, sizeof err)) {
            fprintf(stderr, "spin-bench net: cannot create a directory for ipc:// endpoints: %s\n", err);
            return -1;
        }
        for (int i = 0; i < 2; i++) snprintf(ep[i], sizeof ep[i], "ipc://%s/p%d", dir, i);
    } else {
        int ports[2];
        if (spin_launch_loopback_ports(2, ports, err, sizeof err)) {
            fprintf(stderr, "spin-bench net: %s\n", err);
            return -1;
        }
        for (int i = 0; i < 2; i++) snprintf(ep[i], sizeof ep[i], "%s://127.0.0.1:%d", net_scheme, ports[i]);
    }
    int fds[2];
    if (plain_pair(ipc, fds) != 0) {
        fprintf(stderr, "spin-bench net: cannot make a %s socket pair: %s\n", ipc ? "unix" : "TCP",
                strerror(errno));
        return -1;
    }
    const char *eps[2] = {ep[0], ep[1]};
    tparty_t tp[2];
    memset(tp, 0, sizeof tp);
    for (int i = 0; i < 2; i++) {
        tp[i].me = i;
        tp[i].plan = pl;
        tp[i].eps = eps;
        tp[i].buf = i == 0 ? sbuf : rbuf;
    }
    plain_peer_t pp = {fds[1], pl, rbuf2, 0};
    pthread_t th_plain, th_tp;
    int have_plain = pthread_create(&th_plain, NULL, plain_rx, &pp) == 0;
    int have_tp = pthread_create(&th_tp, NULL, tparty_rx, &tp[1]) == 0;
    int prc = have_plain ? 0 : -1;
    int trc = have_tp ? tp_open(&tp[0]) : -1;
    double tp_[128], tt[128];
    for (int s = 0; s < pl->nsizes; s++) {
        double bytes = (double)pl->sizes[s] * (double)pl->count[s];
        for (int r = 0; r < pl->reps + 1; r++) {
            double t0 = bench_now();
            if (!prc) prc = plain_batch(fds[0], sbuf, pl->sizes[s], pl->count[s]);
            double t1 = bench_now();
            if (!trc) trc = tp_batch(&tp[0], pl->sizes[s], pl->count[s]);
            double t2 = bench_now();
            if (r > 0) {
                tp_[r - 1] = bytes / (t1 - t0);
                tt[r - 1] = bytes / (t2 - t1);
            }
        }
        plain->bw[s] = bench_median(tp_, (size_t)pl->reps);
        tr->bw[s] = bench_median(tt, (size_t)pl->reps);
    }
    int total = pl->pings + pl->warm_pings, blocks = 10;
    double *lp = malloc(sizeof(double) * (size_t)total);
    double *lt = malloc(sizeof(double) * (size_t)total);
    if (!lp || !lt) prc = trc = -1;
    for (int l = 0; l < pl->nlat; l++) {
        size_t len = pl->lat[l];
        int np = 0, nt = 0;
        for (int b = 0; b < blocks; b++) {
            int from = total * b / blocks, to = total * (b + 1) / blocks;
            for (int i = from; i < to && !prc; i++) {
                double t0 = bench_now();
                prc = plain_ping(fds[0], sbuf, len);
                if (i >= pl->warm_pings) lp[np++] = bench_now() - t0;
            }
            for (int i = from; i < to && !trc; i++) {
                double t0 = bench_now();
                trc = tp_ping(&tp[0], len);
                if (i >= pl->warm_pings) lt[nt++] = bench_now() - t0;
            }
        }
        if (!prc && np) {
            qsort(lp, (size_t)np, sizeof *lp, cmp_dbl);
            plain->rtt[l] = lp[np / 2];
        }
        if (!trc && nt) {
            qsort(lt, (size_t)nt, sizeof *lt, cmp_dbl);
            tr->rtt[l] = lt[nt / 2];
        }
    }
    free(lp);
    free(lt);
    if (prc) shutdown(fds[0], SHUT_RDWR);
    if (have_plain) pthread_join(th_plain, NULL);
    if (tp[0].comm) tp[0].t->close(tp[0].comm);
    if (tp[0].be.desc) snprintf(name, namelen, "%s", tp[0].be.desc->name);
    if (have_tp) pthread_join(th_tp, NULL);
    if (tp[0].rt) spin_runtime_close(tp[0].rt);
    close(fds[0]);
    close(fds[1]);
    if (ipc) {
        if (spin_launch_tmpdir_remove(dir, err, sizeof err))
            fprintf(stderr, "spin-bench net: %s\n", err);
    }
    if (prc || pp.rc) fprintf(stderr, "spin-bench net: the plain socket baseline failed\n");
    if (trc || tp[1].rc)
        fprintf(stderr, "spin-bench net: the transport run failed: %s\n",
                spin_strerror(trc ? trc : tp[1].rc));
    return prc || pp.rc || trc || tp[1].rc ? -1 : 0;
}

/* ------------------------------------------------------------------------ */

static void net_usage(FILE *f)
{
    fprintf(f,
            "usage: spin-bench [--json] [--reps N] [--quick] net [--scheme tcp|ipc|rdma] [--size B]...\n"
            "Bandwidth (one-way streaming, 1 KiB .. 64 MiB messages) and round trips of 8 B,\n"
            "1 KiB and 64 KiB of the transport plugin SPIN_BACKEND selects (--scheme rdma: the\n"
            "rdma plugin unless SPIN_BACKEND is set), against a plain blocking socket pair\n"
            "(TCP loopback with TCP_NODELAY; a unix socket pair for --scheme ipc), measured in\n"
            "the same run; two parties as threads.  --quick: sizes up to 1 MiB, fewer pings.\n"
            "--size B (repeatable, suffix K or M): measure only these bandwidth sizes.\n");
}

int bench_net_main(const bench_opts_t *o, int argc, char **argv)
{
    int ipc = 0, nonly = 0;
    size_t only[16];
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--scheme") == 0 && i + 1 < argc) {
            const char *s = argv[++i];
            if (strcmp(s, "ipc") == 0) ipc = 1;
            else if (strcmp(s, "tcp") == 0) { ipc = 0; net_scheme = "tcp"; }
            else if (strcmp(s, "rdma") == 0) { ipc = 0; net_scheme = "rdma"; }
            else {
                fprintf(stderr, "spin-bench net: --scheme must be tcp, ipc or rdma, got \"%s\"\n", s);
                return 2;
            }
        } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            char *end;
            const char *v = argv[++i];
            unsigned long long b = strtoull(v, &end, 10);
            if (*end == 'k' || *end == 'K') b <<= 10, end++;
            else if (*end == 'm' || *end == 'M') b <<= 20, end++;
            if (*end || b < 1 || b > (1ull << 30) || nonly == 16) {
                fprintf(stderr, "spin-bench net: --size needs a message size from 1 to 1G bytes "
                                "(suffix K or M allowed), got \"%s\"\n", v);
                return 2;
            }
            only[nonly++] = (size_t)b;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            net_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "spin-bench net: unknown argument \"%s\"\n", argv[i]);
            net_usage(stderr);
            return 2;
        }
    }
    net_plan_t pl;
    memset(&pl, 0, sizeof pl);
    pl.reps = o->reps < 1 ? 1 : o->reps > 127 ? 127 : o->reps;
    size_t maxsz = o->quick ? (size_t)1 << 20 : (size_t)64 << 20;
    double batch = o->quick ? 4.0 * (1 << 20) : 64.0 * (1 << 20); /* bytes per batch */
    if (nonly) {
        maxsz = 0;
        for (int i = 0; i < nonly; i++) {
            pl.sizes[i] = only[i];
            if (only[i] > maxsz) maxsz = only[i];
        }
        pl.nsizes = nonly;
    } else {
        for (size_t s = 1024; s <= maxsz && pl.nsizes < 16; s *= 4) pl.sizes[pl.nsizes++] = s;
    }
    for (int i = 0; i < pl.nsizes; i++) {
        long k = (long)(batch / (double)pl.sizes[i]);
        pl.count[i] = k < 2 ? 2 : k;
    }
    pl.pings = o->quick ? 300 : 3000;
    pl.warm_pings = o->quick ? 50 : 300;
    pl.nlat = NET_NLAT;
    for (int l = 0; l < NET_NLAT; l++) {
        pl.lat[l] = net_lat_sizes[l];
        if (pl.lat[l] > maxsz) maxsz = pl.lat[l];
    }

    char *sbuf = malloc(maxsz), *rbuf = malloc(maxsz), *rbuf2 = malloc(maxsz);
    if (!sbuf || !rbuf || !rbuf2) {
        fprintf(stderr, "spin-bench net: out of memory\n");
        free(sbuf);
        free(rbuf);
        free(rbuf2);
        return 1;
    }
    memset(sbuf, 0x5a, maxsz);
    memset(rbuf, 0, maxsz);
    memset(rbuf2, 0, maxsz);
    net_result_t plain, tr;
    memset(&plain, 0, sizeof plain);
    memset(&tr, 0, sizeof tr);
    char name[64] = "?";
    int rc = run_both(&pl, ipc, sbuf, rbuf, rbuf2, &plain, &tr, name, sizeof name);
    free(sbuf);
    free(rbuf);
    free(rbuf2);
    if (rc) return 1;

    const char *base = ipc ? "unix socket pair" : "TCP socket pair";
    const char *scheme = ipc ? "ipc" : net_scheme;
    char sz[32];
    if (o->json) {
        for (int s = 0; s < pl.nsizes; s++)
            printf("{\"bench\":\"net\",\"what\":\"bandwidth\",\"scheme\":\"%s\",\"transport\":\"%s\","
                   "\"bytes\":%zu,\"messages\":%ld,\"reps\":%d,\"plain_MBps\":%.1f,"
                   "\"transport_MBps\":%.1f,\"ratio\":%.3f}\n",
                   scheme, name, pl.sizes[s], pl.count[s], pl.reps, plain.bw[s] / 1e6, tr.bw[s] / 1e6,
                   tr.bw[s] / plain.bw[s]);
        for (int l = 0; l < pl.nlat; l++)
            printf("{\"bench\":\"net\",\"what\":\"rtt\",\"scheme\":\"%s\",\"transport\":\"%s\","
                   "\"bytes\":%zu,\"pings\":%d,\"plain_us\":%.2f,\"transport_us\":%.2f,"
                   "\"ratio\":%.3f}\n",
                   scheme, name, pl.lat[l], pl.pings, plain.rtt[l] * 1e6, tr.rtt[l] * 1e6,
                   tr.rtt[l] / plain.rtt[l]);
        return 0;
    }
    printf("spin-bench net: transport \"%s\" over %s:// vs a plain blocking %s\n", name, scheme,
           base);
    printf("bandwidth, one-way streaming (median of %d batches)\n", pl.reps);
    printf("  %-10s %14s %14s %8s\n", "size", "plain MB/s", "transport MB/s", "ratio");
    for (int s = 0; s < pl.nsizes; s++)
        printf("  %-10s %14.1f %14.1f %8.2f\n", fmt_size(pl.sizes[s], sz, sizeof sz),
               plain.bw[s] / 1e6, tr.bw[s] / 1e6, tr.bw[s] / plain.bw[s]);
    printf("round trip, ping-pong (median of %d)\n", pl.pings);
    printf("  %-10s %14s %14s %8s\n", "size", "plain us", "transport us", "ratio");
    for (int l = 0; l < pl.nlat; l++)
        printf("  %-10s %14.1f %14.1f %8.2f\n", fmt_size(pl.lat[l], sz, sizeof sz),
               plain.rtt[l] * 1e6, tr.rtt[l] * 1e6, tr.rtt[l] / plain.rtt[l]);
    return 0;
}
