/*
 * sock_hs.c - the connection handshake of open().
 *
 * Topology: one stream socket per pair of parties.  Party i listens on
 * endpoints[i] and accepts a connection from every higher party; it
 * connects to every lower party (retrying with backoff until the timeout,
 * since that party may start later).
 *
 * The connecting (higher) party sends HELLO {magic, version, party,
 * nparties, fingerprint}; the listening party checks it (the kit's
 * spin_tkit_hello_verify) and answers with its own HELLO and a status; the
 * connecting party checks that too.  Any mismatch is SPIN_ERR_CONFIG on both
 * sides with a line naming the peer.
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

#define LOGE(c, ...) spin_log((c)->kit.log, SPIN_LOG_ERROR, __VA_ARGS__)
#define LOGW(c, ...) spin_log((c)->kit.log, SPIN_LOG_WARN, __VA_ARGS__)
#define LOGD(c, ...) spin_log((c)->kit.log, SPIN_LOG_DEBUG, __VA_ARGS__)

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
    spin_tkit_hello_encode(&c->kit, h, SOCK_MAGIC, SOCK_T_HELLO, SOCK_WIRE_VERSION,
                           (unsigned)status);
}

/* Could the got bytes at h be the start of a HELLO? */
static int hello_start_ok(const unsigned char *h, size_t got)
{
    return (got < 4 || spin_tkit_get32(h) == SOCK_MAGIC) && (got < 5 || h[4] == SOCK_T_HELLO);
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
    spin_tkit_hello_t hi;
    spin_tkit_hello_decode(h, &hi);
    int party = (int)hi.party;
    int status = spin_tkit_hello_verify(&c->kit, &hi, SOCK_WIRE_VERSION, -1);
    int rc = status == SPIN_TKIT_ST_OK ? 0 : SPIN_ERR_CONFIG;
    if (status == SPIN_TKIT_ST_OK && c->peers[party].up) {
        LOGW(c, "sock: party %d connected a second time (restarted?); refusing the new connection",
             party);
        status = SPIN_TKIT_ST_IDENTITY;
    }
    /* Answer in every case, so the other side reports the mismatch too. */
    unsigned char reply[SOCK_HELLO_LEN];
    make_hello(c, reply, status);
    ssize_t w = send(fd, reply, sizeof reply, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (status != SPIN_TKIT_ST_OK || w != (ssize_t)sizeof reply) {
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
                LOGW(c, "sock: party %d: accept failed: %s", c->kit.me, strerror(errno));
            return;
        }
        if (!c->ipc_path) nodelay(fd);
        if (x->npend == x->cap) {
            int cap = x->cap ? 2 * x->cap : 8;
            hs_pend_t *np = realloc(x->pend, (size_t)cap * sizeof *np);
            struct pollfd *pf = realloc(x->pfd, (size_t)(c->kit.n + 1 + cap) * sizeof *pf);
            if (pf) x->pfd = pf;
            int *wh = realloc(x->who, (size_t)(c->kit.n + 1 + cap) * sizeof *wh);
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
                 c->kit.me);
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
    p->retry_at = spin_tkit_now_ms() + p->backoff_ms;
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
    spin_tkit_hello_t hi;
    spin_tkit_hello_decode(h, &hi);
    if (spin_tkit_hello_verify(&c->kit, &hi, SOCK_WIRE_VERSION, j) != SPIN_TKIT_ST_OK)
        return SPIN_ERR_CONFIG;
    if (hi.status != SPIN_TKIT_ST_OK) return spin_tkit_hello_refused(&c->kit, j, hi.status);
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
                    "connecting again", c->kit.me, j);
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

static int link_up(void *arg, int peer, int *err)
{
    const sock_peer_t *p = &((sock_comm_t *)arg)->peers[peer];
    *err = p->last_err;
    return p->up;
}

static void timeout_report(hs_ctx_t *x)
{
    sock_comm_t *c = x->c;
    spin_tkit_log_open_timeout(&c->kit, x->eps, link_up, c);
    if (x->foreign)
        LOGE(c, "sock: party %d refused %d connection(s) that do not speak the sock transport's "
                "protocol: does every party use SPIN_BACKEND=sock?", c->kit.me, x->foreign);
}

/* After a fatal error: has every peer had its chance to hear from us? */
static int grace_done(const hs_ctx_t *x)
{
    for (int j = 0; j < x->c->kit.me; j++)
        if (!x->c->peers[j].greeted) return 0;
    return x->npend == 0;
}

static int run(hs_ctx_t *x)
{
    sock_comm_t *c = x->c;
    double deadline = spin_tkit_now_ms() + c->kit.timeout_ms;
    for (;;) {
        double now = spin_tkit_now_ms();
        for (int j = 0; j < c->kit.me; j++) {
            sock_peer_t *p = &c->peers[j];
            if (p->hs == HS_IDLE && now >= p->retry_at && !(x->fatal && p->greeted))
                hs_connect(x, j);
        }
        int all_up = 1;
        for (int j = 0; j < c->kit.n; j++)
            if (j != c->kit.me && !c->peers[j].up) all_up = 0;
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
        for (int j = 0; j < c->kit.me; j++) {
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
            LOGE(c, "sock: party %d: poll failed: %s", c->kit.me, strerror(errno));
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
                x->fatal_at = spin_tkit_now_ms();
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
    x.pfd = calloc((size_t)c->kit.n + 1, sizeof *x.pfd);
    x.who = calloc((size_t)c->kit.n + 1, sizeof *x.who);
    int rc = SPIN_ERR_NOMEM;
    if (x.pfd && x.who) {
        make_hello(c, x.hello, SPIN_TKIT_ST_OK);
        rc = run(&x);
    }
    for (int q = 0; q < x.npend; q++) close(x.pend[q].fd);
    free(x.pend);
    free(x.pfd);
    free(x.who);
    return rc;
}
