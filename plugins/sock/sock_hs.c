/*
 * sock_hs.c - the connection handshake of open().
 *
 * Topology: one stream socket per pair of parties.  Party i listens on
 * endpoints[i] and accepts a connection from every higher party; it
 * connects to every lower party (retrying with backoff until the timeout,
 * since that party may start later).
 *
 * The connecting (higher) party sends HELLO {magic, version, party,
 * nparties, fingerprint}; the listening party checks it and answers with its
 * own HELLO and a status; the connecting party checks that too.  Any
 * mismatch is SPIN_ERR_CONFIG on both sides with a line naming the peer.
 * After a fatal error the handshake goes on for up to SOCK_GRACE_MS so that
 * every peer still gets our HELLO and reports the mismatch itself.  Exactly
 * one HELLO is read from each socket, so data a peer sends right after its
 * open() returned waits in the kernel for the data path.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sock_internal.h"

#define LOGE(c, ...) spin_log((c)->log, SPIN_LOG_ERROR, __VA_ARGS__)
#define LOGW(c, ...) spin_log((c)->log, SPIN_LOG_WARN, __VA_ARGS__)
#define LOGD(c, ...) spin_log((c)->log, SPIN_LOG_DEBUG, __VA_ARGS__)

static const char *fix_hint = "start every party with the same configuration";

/* A connection accepted on our endpoint whose HELLO has not arrived yet. */
typedef struct hs_pend {
    int fd;
    size_t got;
    unsigned char h[SOCK_HELLO_LEN];
} hs_pend_t;

typedef struct hs_ctx {
    sock_comm_t *c;
    const char *const *eps;
    const sock_addr_t *addr;           /* endpoints 0..me, parsed */
    unsigned char hello[SOCK_HELLO_LEN]; /* ours, status OK */
    hs_pend_t *pend;
    int npend, cap;
    struct pollfd *pfd;
    int *who;                          /* -1 listener, j >= 0 lower party, -2-k pend[k] */
    int fatal;
    double fatal_at;
    int foreign;                       /* connections in another protocol, refused */
} hs_ctx_t;

static void make_hello(const sock_comm_t *c, unsigned char *h, int status)
{
    memset(h, 0, SOCK_HELLO_LEN);
    sock_put32(h, SOCK_MAGIC);
    h[4] = SOCK_T_HELLO;
    h[5] = SOCK_WIRE_VERSION;
    h[6] = (unsigned char)status;
    sock_put32(h + 8, (uint32_t)c->me);
    sock_put32(h + 12, (uint32_t)c->n);
    sock_put64(h + 16, c->fingerprint);
}

/* Could the got bytes at h be the start of a HELLO? */
static int hello_start_ok(const unsigned char *h, size_t got)
{
    return (got < 4 || sock_get32(h) == SOCK_MAGIC) && (got < 5 || h[4] == SOCK_T_HELLO);
}

static const char *status_text(unsigned s)
{
    switch (s) {
    case SOCK_ST_NPARTIES: return "number of parties";
    case SOCK_ST_FINGERPRINT: return "configuration fingerprint";
    case SOCK_ST_VERSION: return "wire protocol version";
    case SOCK_ST_IDENTITY: return "party id not expected at this endpoint";
    default: return "unknown reason";
    }
}

static void nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ------------------------------------------------------------------------ */
/* The listening side: HELLOs from higher parties.                          */
/* ------------------------------------------------------------------------ */

/* A whole HELLO arrived on accepted socket fd; answer it.  Takes fd. */
static int on_hello(hs_ctx_t *x, int fd, const unsigned char *h)
{
    sock_comm_t *c = x->c;
    unsigned ver = h[5];
    int party = (int)sock_get32(h + 8), np = (int)sock_get32(h + 12);
    uint64_t fp = sock_get64(h + 16);
    int status = SOCK_ST_OK;
    if (ver != SOCK_WIRE_VERSION) {
        LOGE(c, "sock: party %d speaks wire protocol version %u, we (party %d) speak %u: install "
                "the same Spin on every party", party, ver, c->me, SOCK_WIRE_VERSION);
        status = SOCK_ST_VERSION;
    } else if (np != c->n) {
        LOGE(c, "sock: party %d runs with %d parties, we (party %d) run with %d: %s", party, np,
             c->me, c->n, fix_hint);
        status = SOCK_ST_NPARTIES;
    } else if (party <= c->me || party >= c->n) {
        char who[64];
        if (c->me == c->n - 1) snprintf(who, sizeof who, "no party connects here");
        else snprintf(who, sizeof who, "only parties %d..%d connect here", c->me + 1, c->n - 1);
        LOGE(c, "sock: a peer claiming to be party %d connected to the endpoint of party %d; %s: "
                "check the endpoint list", party, c->me, who);
        status = SOCK_ST_IDENTITY;
    } else if (fp != c->fingerprint) {
        LOGE(c, "sock: party %d has configuration fingerprint %016llx, we (party %d) have "
                "%016llx: %s", party, (unsigned long long)fp, c->me,
             (unsigned long long)c->fingerprint, fix_hint);
        status = SOCK_ST_FINGERPRINT;
    }
    int rc = status == SOCK_ST_OK ? 0 : SPIN_ERR_CONFIG;
    if (status == SOCK_ST_OK && c->peers[party].up) {
        LOGW(c, "sock: party %d connected a second time (restarted?); refusing the new connection",
             party);
        status = SOCK_ST_IDENTITY;
    }
    /* Answer in every case, so the other side reports the mismatch too. */
    unsigned char reply[SOCK_HELLO_LEN];
    make_hello(c, reply, status);
    ssize_t w = send(fd, reply, sizeof reply, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (status != SOCK_ST_OK || w != (ssize_t)sizeof reply) {
        close(fd); /* a lost answer: the other side connects again */
        return rc;
    }
    c->peers[party].fd = fd;
    c->peers[party].up = 1;
    return 0;
}

static void hs_accept(hs_ctx_t *x)
{
    sock_comm_t *c = x->c;
    for (;;) {
        int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                LOGW(c, "sock: party %d: accept failed: %s", c->me, strerror(errno));
            return;
        }
        if (!c->ipc_path) nodelay(fd);
        if (x->npend == x->cap) {
            int cap = x->cap ? 2 * x->cap : 8;
            hs_pend_t *np = realloc(x->pend, (size_t)cap * sizeof *np);
            struct pollfd *pf = realloc(x->pfd, (size_t)(c->n + 1 + cap) * sizeof *pf);
            if (pf) x->pfd = pf;
            int *wh = realloc(x->who, (size_t)(c->n + 1 + cap) * sizeof *wh);
            if (wh) x->who = wh;
            if (np) x->pend = np;
            if (!np || !pf || !wh) {
                close(fd);
                return;
            }
            x->cap = cap;
        }
        x->pend[x->npend].fd = fd;
        x->pend[x->npend].got = 0;
        x->npend++;
    }
}

/* Read on accepted connection k; returns 0 or a fatal error. */
static int pend_read(hs_ctx_t *x, int k)
{
    sock_comm_t *c = x->c;
    hs_pend_t *q = &x->pend[k];
    ssize_t g = recv(q->fd, q->h + q->got, SOCK_HELLO_LEN - q->got, MSG_DONTWAIT);
    if (g < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    if (g <= 0) {
        close(q->fd); /* gone before its HELLO: it connects again */
        q->fd = -1;
        return 0;
    }
    q->got += (size_t)g;
    if (!hello_start_ok(q->h, q->got)) {
        if (x->foreign++ == 0) /* ZeroMQ, say, reconnects every few ms: say it once */
            LOGW(c, "sock: party %d: refusing a connection on our endpoint that does not speak "
                    "the sock transport's protocol (every party must use the same SPIN_BACKEND)",
                 c->me);
        close(q->fd);
        q->fd = -1;
        return 0;
    }
    if (q->got < SOCK_HELLO_LEN) return 0;
    int fd = q->fd;
    q->fd = -1;
    return on_hello(x, fd, q->h);
}

/* ------------------------------------------------------------------------ */
/* The connecting side: links to lower parties.                             */
/* ------------------------------------------------------------------------ */

static void hs_retry(hs_ctx_t *x, int j, int err)
{
    sock_peer_t *p = &x->c->peers[j];
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    p->hs = HS_IDLE;
    p->hs_got = p->hs_sent = 0;
    if (err) p->last_err = err;
    p->retry_at = sock_now_ms() + p->backoff_ms;
    p->backoff_ms = p->backoff_ms * 2 > SOCK_RETRY_MAX_MS ? SOCK_RETRY_MAX_MS : p->backoff_ms * 2;
}

static void hs_connect(hs_ctx_t *x, int j)
{
    sock_peer_t *p = &x->c->peers[j];
    const sock_addr_t *a = &x->addr[j];
    int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        hs_retry(x, j, errno);
        return;
    }
    if (a->family != AF_UNIX) nodelay(fd);
    p->fd = fd;
    if (connect(fd, (const struct sockaddr *)&a->sa, a->len) == 0) p->hs = HS_SEND;
    else if (errno == EINPROGRESS) p->hs = HS_CONNECTING;
    else hs_retry(x, j, errno);
}

/* TCP "simultaneous open" onto our own port when nobody listens there. */
static int self_connected(int fd)
{
    struct sockaddr_storage a, b;
    socklen_t la = sizeof a, lb = sizeof b;
    if (getsockname(fd, (struct sockaddr *)&a, &la) || getpeername(fd, (struct sockaddr *)&b, &lb))
        return 0;
    return a.ss_family != AF_UNIX && la == lb && memcmp(&a, &b, la) == 0;
}

/* Our HELLO reached lower party j; check its answer h. */
static int check_reply(sock_comm_t *c, int j, const unsigned char *h)
{
    unsigned ver = h[5], status = h[6];
    int party = (int)sock_get32(h + 8), np = (int)sock_get32(h + 12);
    uint64_t fp = sock_get64(h + 16);
    if (ver != SOCK_WIRE_VERSION) {
        LOGE(c, "sock: party %d speaks wire protocol version %u, we (party %d) speak %u: install "
                "the same Spin on every party", j, ver, c->me, SOCK_WIRE_VERSION);
        return SPIN_ERR_CONFIG;
    }
    if (np != c->n) {
        LOGE(c, "sock: party %d runs with %d parties, we (party %d) run with %d: %s", j, np, c->me,
             c->n, fix_hint);
        return SPIN_ERR_CONFIG;
    }
    if (party != j) {
        LOGE(c, "sock: party %d answered at the endpoint of party %d: check the endpoint list",
             party, j);
        return SPIN_ERR_CONFIG;
    }
    if (fp != c->fingerprint) {
        LOGE(c, "sock: party %d has configuration fingerprint %016llx, we (party %d) have "
                "%016llx: %s", j, (unsigned long long)fp, c->me,
             (unsigned long long)c->fingerprint, fix_hint);
        return SPIN_ERR_CONFIG;
    }
    if (status != SOCK_ST_OK) {
        LOGE(c, "sock: party %d refused our handshake (%s): %s", j, status_text(status), fix_hint);
        return SPIN_ERR_CONFIG;
    }
    return 0;
}

/* The link to lower party j is ready for what its state waits for. */
static int hs_step(hs_ctx_t *x, int j)
{
    sock_comm_t *c = x->c;
    sock_peer_t *p = &c->peers[j];
    if (p->hs == HS_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0) err = errno;
        if (!err && self_connected(p->fd)) err = ECONNREFUSED;
        if (err) hs_retry(x, j, err);
        else p->hs = HS_SEND;
    } else if (p->hs == HS_SEND) {
        ssize_t w = send(p->fd, x->hello + p->hs_sent, SOCK_HELLO_LEN - p->hs_sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            hs_retry(x, j, errno);
        } else if (w > 0 && (p->hs_sent += (size_t)w) == SOCK_HELLO_LEN) {
            p->hs = HS_REPLY;
            p->greeted = 1;
        }
    } else if (p->hs == HS_REPLY) {
        ssize_t g = recv(p->fd, p->hello + p->hs_got, SOCK_HELLO_LEN - p->hs_got, MSG_DONTWAIT);
        if (g < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
        if (g <= 0) {
            LOGD(c, "sock: party %d: party %d closed the connection during the handshake; "
                    "connecting again", c->me, j);
            hs_retry(x, j, g == 0 ? ECONNRESET : errno);
            return 0;
        }
        p->hs_got += (size_t)g;
        int rc = 0;
        if (!hello_start_ok(p->hello, p->hs_got)) {
            LOGE(c, "sock: party %d at %s does not speak the sock transport's protocol: every "
                    "party must use the same transport plugin (SPIN_BACKEND)", j, x->eps[j]);
            rc = SPIN_ERR_CONFIG;
        } else if (p->hs_got == SOCK_HELLO_LEN) {
            rc = check_reply(c, j, p->hello);
            if (!rc) {
                p->hs = HS_UP;
                p->up = 1;
                return 0;
            }
        } else {
            return 0;
        }
        close(p->fd);
        p->fd = -1;
        p->hs = HS_IDLE;
        return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The handshake loop.                                                      */
/* ------------------------------------------------------------------------ */

static void timeout_report(hs_ctx_t *x)
{
    sock_comm_t *c = x->c;
    char list[1024];
    size_t off = 0;
    list[0] = '\0';
    int missing = 0;
    for (int j = 0; j < c->n && off < sizeof list; j++) {
        if (j == c->me || c->peers[j].up) continue;
        missing++;
        const char *sep = missing > 1 ? ", " : "";
        int e = c->peers[j].last_err;
        if (j < c->me)
            off += (size_t)snprintf(list + off, sizeof list - off, "%sparty %d (we connect to %s%s%s)",
                                    sep, j, x->eps[j], e ? ": " : "", e ? strerror(e) : "");
        else
            off += (size_t)snprintf(list + off, sizeof list - off, "%sparty %d (connects to us)",
                                    sep, j);
    }
    LOGE(c, "sock: party %d: no handshake within %g s (%s) with %s: are those parties running, "
            "with the same endpoint list?", c->me, c->timeout_ms / 1000.0, c->timeout_src, list);
    if (x->foreign)
        LOGE(c, "sock: party %d refused %d connection(s) that do not speak the sock transport's "
                "protocol: does every party use SPIN_BACKEND=sock?", c->me, x->foreign);
}

/* After a fatal error: has every peer had its chance to hear from us? */
static int grace_done(const hs_ctx_t *x)
{
    for (int j = 0; j < x->c->me; j++)
        if (!x->c->peers[j].greeted) return 0;
    return x->npend == 0;
}

static int run(hs_ctx_t *x)
{
    sock_comm_t *c = x->c;
    double deadline = sock_now_ms() + c->timeout_ms;
    for (;;) {
        double now = sock_now_ms();
        for (int j = 0; j < c->me; j++) {
            sock_peer_t *p = &c->peers[j];
            if (p->hs == HS_IDLE && now >= p->retry_at && !(x->fatal && p->greeted))
                hs_connect(x, j);
        }
        int all_up = 1;
        for (int j = 0; j < c->n; j++)
            if (j != c->me && !c->peers[j].up) all_up = 0;
        if (x->fatal) {
            if (now >= x->fatal_at + SOCK_GRACE_MS || grace_done(x)) return x->fatal;
        } else if (all_up) {
            return 0;
        } else if (now >= deadline) {
            timeout_report(x);
            return SPIN_ERR_TIMEOUT;
        }
        int k = 0;
        x->pfd[k] = (struct pollfd){c->lfd, POLLIN, 0};
        x->who[k++] = -1;
        double until = x->fatal ? x->fatal_at + SOCK_GRACE_MS : deadline;
        for (int j = 0; j < c->me; j++) {
            sock_peer_t *p = &c->peers[j];
            if (p->hs == HS_IDLE && !(x->fatal && p->greeted) && p->retry_at < until)
                until = p->retry_at;
            if (p->hs != HS_CONNECTING && p->hs != HS_SEND && p->hs != HS_REPLY) continue;
            x->pfd[k] = (struct pollfd){p->fd, p->hs == HS_REPLY ? POLLIN : POLLOUT, 0};
            x->who[k++] = j;
        }
        for (int q = 0; q < x->npend; q++) {
            x->pfd[k] = (struct pollfd){x->pend[q].fd, POLLIN, 0};
            x->who[k++] = -2 - q;
        }
        double left = until - now;
        int ms = left <= 0 ? 0 : left > 100 ? 100 : (int)ceil(left);
        int np = poll(x->pfd, (nfds_t)k, ms);
        if (np < 0 && errno != EINTR) {
            LOGE(c, "sock: party %d: poll failed: %s", c->me, strerror(errno));
            return SPIN_ERR_IO;
        }
        for (int i = 0; i < k && np > 0; i++) {
            if (!x->pfd[i].revents) continue;
            int w = x->who[i], rc = 0;
            if (w == -1) hs_accept(x);
            else if (w >= 0) rc = hs_step(x, w);
            else rc = pend_read(x, -2 - w);
            if (rc && !x->fatal) {
                x->fatal = rc;
                x->fatal_at = sock_now_ms();
            }
        }
        int m = 0;
        for (int q = 0; q < x->npend; q++)
            if (x->pend[q].fd >= 0) x->pend[m++] = x->pend[q];
        x->npend = m;
    }
}

/* Bring every link up (c->lfd listens already); closes what it leaves
 * unfinished except the peers' sockets, which close() releases. */
int sock_handshake(sock_comm_t *c, const char *const *eps, const sock_addr_t *addr)
{
    hs_ctx_t x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.eps = eps;
    x.addr = addr;
    x.pfd = calloc((size_t)c->n + 1, sizeof *x.pfd);
    x.who = calloc((size_t)c->n + 1, sizeof *x.who);
    int rc = SPIN_ERR_NOMEM;
    if (x.pfd && x.who) {
        make_hello(c, x.hello, SOCK_ST_OK);
        rc = run(&x);
    }
    for (int q = 0; q < x.npend; q++) close(x.pend[q].fd);
    free(x.pend);
    free(x.pfd);
    free(x.who);
    return rc;
}
