/*
 * rdma_hs.c - the bootstrap handshake of open().
 *
 * Topology: one TCP bootstrap connection per pair.  Party i listens at
 * endpoints[i] (rdma://HOST:PORT); every higher party j > i connects to it.
 * Over that connection (96-byte messages, README.md):
 *   j -> i  HELLO  {party, nparties, fingerprint, its queue pair for i}
 *   i -> j  ACK    {status, the same of i}; i has moved its queue pair to
 *                  RTS before it answers OK
 *   j -> i  READY  {status}; j has moved its queue pair to RTS
 * Any mismatch is refused with a status in ACK (or READY), and both sides
 * fail with SPIN_ERR_CONFIG naming each other.  The connection then stays
 * open: its end-of-file tells that the peer has gone.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rdma_internal.h"

#define PEND_MAX 64
#define RETRY_MS 50

typedef struct pend {
    int fd;
    size_t have;
    unsigned char buf[RDMA_HS_LEN];
} pend_t;

static const char *fix_hint = "start every party with the same configuration";

static void hs_encode(rdma_comm_t *c, rdma_peer_t *p, int type, int status, unsigned char *m)
{
    rdma_state_t *s = c->st;
    memset(m, 0, RDMA_HS_LEN);
    rdma_put32(m, RDMA_MAGIC);
    m[4] = (unsigned char)type;
    m[5] = RDMA_WIRE_VERSION;
    m[6] = (unsigned char)status;
    m[7] = s->link_layer;
    rdma_put32(m + 8, (uint32_t)c->me);
    rdma_put32(m + 12, (uint32_t)c->n);
    rdma_put64(m + 16, c->fingerprint);
    if (type == RDMA_HS_READY || !p || !p->qp) return;
    rdma_put32(m + 24, p->qp->qp_num);
    rdma_put32(m + 28, p->psn);
    rdma_put16(m + 32, s->lid);
    m[34] = (unsigned char)s->mtu;
    rdma_put32(m + 36, (uint32_t)s->slots);
    rdma_put32(m + 40, (uint32_t)s->chunk);
    rdma_put32(m + 44, p->ring.mr->rkey);
    rdma_put64(m + 48, (uint64_t)(uintptr_t)p->ring.addr);
    memcpy(m + 56, s->gid.raw, 16);
}

static void hs_decode_qp(rdma_peer_t *p, const unsigned char *m)
{
    p->r_qpn = rdma_get32(m + 24);
    p->r_psn = rdma_get32(m + 28) & 0xffffff;
    p->r_lid = rdma_get16(m + 32);
    p->r_mtu = m[34];
    p->r_slots = rdma_get32(m + 36);
    p->r_chunk = rdma_get32(m + 40);
    p->r_rkey = rdma_get32(m + 44);
    p->r_addr = rdma_get64(m + 48);
    memcpy(p->r_gid.raw, m + 56, 16);
}

static const char *ll_name(int ll)
{
    return ll == IBV_LINK_LAYER_ETHERNET ? "RoCE (Ethernet)" : "InfiniBand";
}

/* Compare a peer's message m with our settings: RDMA_ST_OK or a status. */
static int hs_check(rdma_comm_t *c, const unsigned char *m, int expect_party)
{
    int party = (int)rdma_get32(m + 8);
    if (m[5] != RDMA_WIRE_VERSION) return RDMA_ST_VERSION;
    if ((int)rdma_get32(m + 12) != c->n) return RDMA_ST_NPARTIES;
    if (expect_party >= 0 ? party != expect_party : party <= c->me || party >= c->n)
        return RDMA_ST_IDENTITY;
    if (rdma_get64(m + 16) != c->fingerprint) return RDMA_ST_FINGERPRINT;
    if (m[7] != c->st->link_layer) return RDMA_ST_LINK;
    uint32_t slots = rdma_get32(m + 36), chunk = rdma_get32(m + 40);
    if (m[4] != RDMA_HS_READY && (slots < 1 || slots > RDMA_MAX_SLOTS || chunk < RDMA_MIN_CHUNK ||
                                  chunk > RDMA_MAX_CHUNK || rdma_mtu_bytes(m[34]) == 0))
        return RDMA_ST_GEOMETRY;
    return RDMA_ST_OK;
}

/* Log why the link with `peer` cannot be used; m holds its values.  local:
 * we found the problem in its message; else it refused ours. */
static int hs_explain(rdma_comm_t *c, int peer, int status, const unsigned char *m, int local)
{
    switch (status) {
    case RDMA_ST_VERSION:
        RDMA_LOGE(c, "rdma: party %d speaks wire protocol version %u, we (party %d) speak %u: install "
                  "the same Spin on every party", peer, m[5], c->me, RDMA_WIRE_VERSION);
        return SPIN_ERR_CONFIG;
    case RDMA_ST_NPARTIES:
        RDMA_LOGE(c, "rdma: party %d runs with %u parties, we (party %d) run with %d: %s", peer,
                  rdma_get32(m + 12), c->me, c->n, fix_hint);
        return SPIN_ERR_CONFIG;
    case RDMA_ST_IDENTITY:
        if (local && peer == (int)rdma_get32(m + 8))
            RDMA_LOGE(c, "rdma: a peer claiming to be party %d connected to the endpoint of party %d; "
                      "only parties %d..%d connect here: check the endpoint list", peer, c->me,
                      c->me + 1, c->n - 1);
        else if (local)
            RDMA_LOGE(c, "rdma: the endpoint of party %d (%s) is served by party %u: check the "
                      "endpoint list", peer, c->eps[peer], rdma_get32(m + 8));
        else
            RDMA_LOGE(c, "rdma: party %d does not expect party %d to connect to it: check the "
                      "endpoint list", peer, c->me);
        return SPIN_ERR_CONFIG;
    case RDMA_ST_FINGERPRINT:
        RDMA_LOGE(c, "rdma: party %d has configuration fingerprint %016llx, we (party %d) have "
                  "%016llx: %s", peer, (unsigned long long)rdma_get64(m + 16), c->me,
                  (unsigned long long)c->fingerprint, fix_hint);
        return SPIN_ERR_CONFIG;
    case RDMA_ST_LINK:
        RDMA_LOGE(c, "rdma: party %d uses %s, we (party %d) use %s: both ends of a link must use "
                  "the same kind of network (SPIN_RDMA_DEVICE)", peer, ll_name(m[7]), c->me,
                  ll_name(c->st->link_layer));
        return SPIN_ERR_CONFIG;
    case RDMA_ST_GEOMETRY:
        if (local)
            RDMA_LOGE(c, "rdma: party %d announced a receive ring of %u slots of %u bytes (MTU code "
                      "%u), which party %d does not accept", peer, rdma_get32(m + 36),
                      rdma_get32(m + 40), m[34], c->me);
        else
            RDMA_LOGE(c, "rdma: party %d does not accept our receive ring (%d slots of %zu bytes)",
                      peer, c->st->slots, c->st->chunk);
        return SPIN_ERR_CONFIG;
    case RDMA_ST_QP:
        RDMA_LOGE(c, "rdma: party %d could not connect its queue pair to ours (see its log)", peer);
        return SPIN_ERR_IO;
    default:
        RDMA_LOGE(c, "rdma: party %d refused the link with party %d (reason %d): %s", peer, c->me,
                  status, fix_hint);
        return SPIN_ERR_CONFIG;
    }
}

/* Our HELLO to lower party p (in p->hs, unused while connecting). */
static const unsigned char *hs_hello(rdma_comm_t *c, rdma_peer_t *p)
{
    hs_encode(c, p, RDMA_HS_HELLO, RDMA_ST_OK, p->hs);
    return p->hs;
}

static int send_hs(rdma_comm_t *c, rdma_peer_t *p, int fd, int type, int status)
{
    unsigned char m[RDMA_HS_LEN];
    hs_encode(c, p, type, status, m);
    if (rdma_sock_send(fd, m, sizeof m) == 0) return 0;
    RDMA_LOGE(c, "rdma: party %d: sending the handshake to party %d failed: %s", c->me, p->id,
              strerror(errno));
    return SPIN_ERR_IO;
}

/* Acceptor: a complete HELLO on a new connection.  Takes the fd. */
static int on_hello(rdma_comm_t *c, int fd, const unsigned char *m)
{
    if (rdma_get32(m) != RDMA_MAGIC || m[4] != RDMA_HS_HELLO) {
        RDMA_LOGW(c, "rdma: party %d: ignoring a connection that is not a Spin rdma handshake",
                  c->me);
        close(fd);
        return 0;
    }
    int party = (int)rdma_get32(m + 8);
    int st = hs_check(c, m, -1);
    if (st == RDMA_ST_OK && c->peers[party].ls != RDMA_LS_IDLE) {
        RDMA_LOGW(c, "rdma: party %d connected a second time (restarted?); ignoring the new "
                  "connection", party);
        close(fd);
        return 0;
    }
    rdma_peer_t tmp, *p = st == RDMA_ST_OK ? &c->peers[party] : &tmp;
    if (p == &tmp) {
        memset(&tmp, 0, sizeof tmp);
        tmp.id = party;
    }
    int rc = 0;
    if (st == RDMA_ST_OK) {
        hs_decode_qp(p, m);
        rc = rdma_qp_connect(c, p);
        if (rc) st = RDMA_ST_QP;
    } else {
        rc = hs_explain(c, party, st, m, 1);
    }
    /* Answer in every case, so the other side reports the mismatch too. */
    int src = send_hs(c, p, fd, RDMA_HS_ACK, st);
    if (st != RDMA_ST_OK) {
        shutdown(fd, SHUT_WR);
        close(fd);
        return rc;
    }
    if (src) {
        close(fd);
        return src;
    }
    p->fd = fd;
    p->hs_have = 0;
    p->ls = RDMA_LS_WAIT_READY;
    return 0;
}

/* Connector: the ACK of lower party p. */
static int on_ack(rdma_comm_t *c, rdma_peer_t *p)
{
    const unsigned char *m = p->hs;
    if (rdma_get32(m) != RDMA_MAGIC || m[4] != RDMA_HS_ACK) {
        RDMA_LOGE(c, "rdma: %s (party %d's endpoint) answered our handshake with something else: "
                  "is it a Spin rdma endpoint?", c->eps[p->id], p->id);
        return SPIN_ERR_PROTOCOL;
    }
    if (m[6] != RDMA_ST_OK) return hs_explain(c, p->id, m[6], m, 0);
    int st = hs_check(c, m, p->id);
    int rc = 0;
    if (st != RDMA_ST_OK) {
        rc = hs_explain(c, p->id, st, m, 1);
    } else {
        hs_decode_qp(p, m);
        rc = rdma_qp_connect(c, p);
        if (rc) st = RDMA_ST_QP;
    }
    int src = send_hs(c, p, p->fd, RDMA_HS_READY, st);
    if (rc || src) return rc ? rc : src;
    p->ls = RDMA_LS_UP;
    p->last_rx = p->last_tx = rdma_now_ms();
    return 0;
}

/* Acceptor: the READY of higher party p. */
static int on_ready(rdma_comm_t *c, rdma_peer_t *p)
{
    const unsigned char *m = p->hs;
    if (rdma_get32(m) != RDMA_MAGIC || m[4] != RDMA_HS_READY) {
        RDMA_LOGE(c, "rdma: party %d sent a malformed handshake message", p->id);
        return SPIN_ERR_PROTOCOL;
    }
    if (m[6] != RDMA_ST_OK) {
        RDMA_LOGE(c, "rdma: party %d refused our handshake answer (reason %u; see its log): %s",
                  p->id, m[6], fix_hint);
        return m[6] == RDMA_ST_QP ? SPIN_ERR_IO : SPIN_ERR_CONFIG;
    }
    p->ls = RDMA_LS_UP;
    p->last_rx = p->last_tx = rdma_now_ms();
    return 0;
}

static void drop_conn(rdma_peer_t *p, double now, int err)
{
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    p->ls = RDMA_LS_IDLE;
    p->last_err = err;
    p->retry_at = now + RETRY_MS;
}

/* Readable/writable bootstrap socket of peer p during open(). */
static int on_peer_event(rdma_comm_t *c, rdma_peer_t *p, double now)
{
    if (p->ls == RDMA_LS_CONNECTING) {
        if (rdma_connect_check(c, p) != 0) {
            drop_conn(p, now, errno);
            return 0;
        }
        p->ls = RDMA_LS_WAIT_ACK;
        p->hs_have = 0;
        if (send_hs(c, p, p->fd, RDMA_HS_HELLO, RDMA_ST_OK) != 0) drop_conn(p, now, errno);
        return 0;
    }
    if (p->ls == RDMA_LS_UP) {
        /* Nothing travels here after the handshake: end of file. */
        unsigned char b[64];
        ssize_t r = recv(p->fd, b, sizeof b, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            close(p->fd);
            p->fd = -1;
            p->gone_at = now;
        }
        return 0;
    }
    int f = rdma_sock_fill(p->fd, p->hs, RDMA_HS_LEN, &p->hs_have);
    if (f == 0) return 0;
    if (f < 0) {
        int e = errno;
        if (p->ls == RDMA_LS_WAIT_READY) {
            /* It failed (on another link, say) or restarts: wait for its
             * next connection with a fresh queue pair. */
            RDMA_LOGD(c, "rdma: party %d: party %d closed the bootstrap connection during the "
                      "handshake", c->me, p->id);
            close(p->fd);
            p->fd = -1;
            p->ls = RDMA_LS_IDLE;
            return rdma_qp_reset(c, p);
        }
        drop_conn(p, now, e ? e : ECONNRESET); /* the listener went away: try again */
        return 0;
    }
    return p->ls == RDMA_LS_WAIT_ACK ? on_ack(c, p) : on_ready(c, p);
}

static void timeout_report(rdma_comm_t *c)
{
    char list[1024];
    size_t off = 0;
    list[0] = '\0';
    int missing = 0;
    for (int j = 0; j < c->n && off < sizeof list; j++) {
        rdma_peer_t *p = &c->peers[j];
        if (j == c->me || p->ls == RDMA_LS_UP) continue;
        missing++;
        if (j < c->me)
            off += (size_t)snprintf(list + off, sizeof list - off, "%sparty %d (we connect to %s%s%s)",
                                    missing > 1 ? ", " : "", j, c->eps[j],
                                    p->last_err ? ": " : "",
                                    p->last_err ? strerror(p->last_err) : "");
        else
            off += (size_t)snprintf(list + off, sizeof list - off, "%sparty %d (connects to us)",
                                    missing > 1 ? ", " : "", j);
    }
    RDMA_LOGE(c, "rdma: party %d: no handshake within %g s (%s) with %s: are those parties running, "
              "with the same endpoint list?", c->me, c->timeout_ms / 1000.0, c->timeout_src, list);
}

/* Accept every waiting connection into pend[]. */
static void accept_all(rdma_comm_t *c, pend_t *pend, int *npend)
{
    for (;;) {
        int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        if (*npend >= PEND_MAX) {
            close(fd);
            continue;
        }
        pend[*npend].fd = fd;
        pend[*npend].have = 0;
        (*npend)++;
    }
}

/* After a refusal: still greet the lower parties not reached yet (for up to
 * a second), so that they report the mismatch at once instead of timing out
 * waiting for us. */
static void greet_rest(rdma_comm_t *c)
{
    double until = rdma_now_ms() + 1000;
    for (;;) {
        double now = rdma_now_ms();
        int todo = 0;
        for (int j = 0; j < c->me; j++) {
            rdma_peer_t *p = &c->peers[j];
            if (p->ls == RDMA_LS_IDLE && now >= p->retry_at && rdma_connect_start(c, p) != 0)
                drop_conn(p, now, errno);
            if (p->ls == RDMA_LS_IDLE || p->ls == RDMA_LS_CONNECTING) todo = 1;
            if (p->ls != RDMA_LS_CONNECTING) continue;
            struct pollfd q = {p->fd, POLLOUT, 0};
            if (poll(&q, 1, 0) > 0) {
                if (rdma_connect_check(c, p) == 0 &&
                    rdma_sock_send(p->fd, hs_hello(c, p), RDMA_HS_LEN) == 0)
                    p->ls = RDMA_LS_WAIT_ACK;
                else
                    drop_conn(p, now, errno);
            }
        }
        if (!todo || now >= until) return;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int rdma_handshake(rdma_comm_t *c)
{
    pend_t pend[PEND_MAX];
    int npend = 0, rc = 0;
    struct pollfd *pf = calloc((size_t)(c->n + PEND_MAX + 1), sizeof *pf);
    int *who = calloc((size_t)(c->n + PEND_MAX + 1), sizeof *who);
    if (!pf || !who) {
        free(pf);
        free(who);
        return SPIN_ERR_NOMEM;
    }
    double deadline = rdma_now_ms() + c->timeout_ms;
    for (;;) {
        int up = 1;
        for (int j = 0; j < c->n; j++)
            if (j != c->me && c->peers[j].ls != RDMA_LS_UP) up = 0;
        if (up) break;
        double now = rdma_now_ms();
        if (now >= deadline) {
            timeout_report(c);
            rc = SPIN_ERR_TIMEOUT;
            break;
        }
        double wake = deadline;
        for (int j = 0; j < c->me; j++) {
            rdma_peer_t *p = &c->peers[j];
            if (p->ls != RDMA_LS_IDLE) continue;
            if (now >= p->retry_at) {
                if (rdma_connect_start(c, p) != 0) drop_conn(p, now, errno);
            }
            if (p->ls == RDMA_LS_IDLE && p->retry_at < wake) wake = p->retry_at;
        }
        int k = 0;
        pf[k] = (struct pollfd){c->lfd, POLLIN, 0};
        who[k++] = -1;
        for (int j = 0; j < c->n; j++) {
            rdma_peer_t *p = &c->peers[j];
            if (j == c->me || p->fd < 0) continue;
            pf[k] = (struct pollfd){p->fd, p->ls == RDMA_LS_CONNECTING ? POLLOUT : POLLIN, 0};
            who[k++] = j;
        }
        for (int i = 0; i < npend; i++) {
            pf[k] = (struct pollfd){pend[i].fd, POLLIN, 0};
            who[k++] = c->n + i;
        }
        double left = wake - now;
        int ms = left > RDMA_SLICE_MS ? RDMA_SLICE_MS : (int)ceil(left);
        if (ms < 1) ms = 1;
        int nr = poll(pf, (nfds_t)k, ms);
        if (nr < 0 && errno != EINTR) {
            RDMA_LOGE(c, "rdma: party %d: poll: %s", c->me, strerror(errno));
            rc = SPIN_ERR_IO;
            break;
        }
        if (nr <= 0) continue;
        now = rdma_now_ms();
        int npend_before = npend;
        /* Pending connections first, from the back (removal swaps). */
        for (int i = k - 1; i >= 1 && !rc; i--) {
            if (!pf[i].revents || who[i] < c->n) continue;
            int pi = who[i] - c->n;
            if (pi >= npend_before) continue;
            pend_t *q = &pend[pi];
            int f = rdma_sock_fill(q->fd, q->buf, RDMA_HS_LEN, &q->have);
            if (f == 0) continue;
            int fd = q->fd;
            unsigned char m[RDMA_HS_LEN];
            memcpy(m, q->buf, sizeof m);
            pend[pi] = pend[--npend];
            if (f < 0) close(fd);
            else rc = on_hello(c, fd, m);
        }
        for (int i = 1; i < k && !rc; i++)
            if (pf[i].revents && who[i] >= 0 && who[i] < c->n)
                rc = on_peer_event(c, &c->peers[who[i]], now);
        if (!rc && (pf[0].revents & POLLIN)) accept_all(c, pend, &npend);
        if (rc) break;
    }
    for (int i = 0; i < npend; i++) close(pend[i].fd);
    free(pf);
    free(who);
    if (rc == SPIN_ERR_CONFIG) greet_rest(c);
    return rc;
}

