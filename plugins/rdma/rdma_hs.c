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

static void hs_encode(rdma_comm_t *c, rdma_peer_t *p, int type, int status, unsigned char *m)
{
    rdma_state_t *s = c->st;
    memset(m, 0, RDMA_HS_LEN);
    spin_tkit_hello_encode(&c->kit, m, RDMA_MAGIC, (unsigned)type, RDMA_WIRE_VERSION,
                           (unsigned)status);
    m[7] = s->link_layer;
    if (type == RDMA_HS_READY || !p || !p->qp) return;
    spin_tkit_put32(m + 24, p->qp->qp_num);
    spin_tkit_put32(m + 28, p->psn);
    spin_tkit_put16(m + 32, s->lid);
    m[34] = (unsigned char)s->mtu;
    spin_tkit_put32(m + 36, (uint32_t)s->slots);
    spin_tkit_put32(m + 40, (uint32_t)s->chunk);
    spin_tkit_put32(m + 44, p->ring.mr->rkey);
    spin_tkit_put64(m + 48, (uint64_t)(uintptr_t)p->ring.addr);
    memcpy(m + 56, s->gid.raw, 16);
}

static void hs_decode_qp(rdma_peer_t *p, const unsigned char *m)
{
    p->r_qpn = spin_tkit_get32(m + 24);
    p->r_psn = spin_tkit_get32(m + 28) & 0xffffff;
    p->r_lid = spin_tkit_get16(m + 32);
    p->r_mtu = m[34];
    p->r_slots = spin_tkit_get32(m + 36);
    p->r_chunk = spin_tkit_get32(m + 40);
    p->r_rkey = spin_tkit_get32(m + 44);
    p->r_addr = spin_tkit_get64(m + 48);
    memcpy(p->r_gid.raw, m + 56, 16);
}

static const char *ll_name(int ll)
{
    return ll == IBV_LINK_LAYER_ETHERNET ? "RoCE (Ethernet)" : "InfiniBand";
}

/* What the kit does not check in a peer's HELLO or ACK m (its common fields
 * agree with ours): link layer and ring geometry.  SPIN_TKIT_ST_OK or a
 * status. */
static int hs_check(rdma_comm_t *c, const unsigned char *m)
{
    if (m[7] != c->st->link_layer) return RDMA_ST_LINK;
    uint32_t slots = spin_tkit_get32(m + 36), chunk = spin_tkit_get32(m + 40);
    if (slots < 1 || slots > RDMA_MAX_SLOTS || chunk < RDMA_MIN_CHUNK || chunk > RDMA_MAX_CHUNK ||
        rdma_mtu_bytes(m[34]) == 0)
        return RDMA_ST_GEOMETRY;
    return SPIN_TKIT_ST_OK;
}

/* Log why the link with `peer` cannot be used; m holds its values.  local:
 * we found the problem in its message; else it refused ours (the kit
 * explains the statuses it shares with us). */
static int hs_explain(rdma_comm_t *c, int peer, int status, const unsigned char *m, int local)
{
    switch (status) {
    case RDMA_ST_LINK:
        RDMA_LOGE(c, "rdma: party %d uses %s, we (party %d) use %s: both ends of a link must use "
                  "the same kind of network (SPIN_RDMA_DEVICE)", peer, ll_name(m[7]), c->kit.me,
                  ll_name(c->st->link_layer));
        return SPIN_ERR_CONFIG;
    case RDMA_ST_GEOMETRY:
        if (local)
            RDMA_LOGE(c, "rdma: party %d announced a receive ring of %u slots of %u bytes (MTU code "
                      "%u), which party %d does not accept", peer, spin_tkit_get32(m + 36),
                      spin_tkit_get32(m + 40), m[34], c->kit.me);
        else
            RDMA_LOGE(c, "rdma: party %d does not accept our receive ring (%d slots of %zu bytes)",
                      peer, c->st->slots, c->st->chunk);
        return SPIN_ERR_CONFIG;
    case RDMA_ST_QP:
        RDMA_LOGE(c, "rdma: party %d could not connect its queue pair to ours (see its log)", peer);
        return SPIN_ERR_IO;
    default:
        return spin_tkit_hello_refused(&c->kit, peer, (unsigned)status);
    }
}

/* Our HELLO to lower party p (in p->hs, unused while connecting). */
static const unsigned char *hs_hello(rdma_comm_t *c, rdma_peer_t *p)
{
    hs_encode(c, p, RDMA_HS_HELLO, SPIN_TKIT_ST_OK, p->hs);
    return p->hs;
}

static int send_hs(rdma_comm_t *c, rdma_peer_t *p, int fd, int type, int status)
{
    unsigned char m[RDMA_HS_LEN];
    hs_encode(c, p, type, status, m);
    if (rdma_sock_send(fd, m, sizeof m) == 0) return 0;
    RDMA_LOGE(c, "rdma: party %d: sending the handshake to party %d failed: %s", c->kit.me, p->id,
              strerror(errno));
    return SPIN_ERR_IO;
}

/* Acceptor: a complete HELLO on a new connection.  Takes the fd. */
static int on_hello(rdma_comm_t *c, int fd, const unsigned char *m)
{
    if (spin_tkit_get32(m) != RDMA_MAGIC || m[4] != RDMA_HS_HELLO) {
        RDMA_LOGW(c, "rdma: party %d: ignoring a connection that is not a Spin rdma handshake",
                  c->kit.me);
        close(fd);
        return 0;
    }
    spin_tkit_hello_t hi;
    spin_tkit_hello_decode(m, &hi);
    int party = (int)hi.party;
    int st = spin_tkit_hello_verify(&c->kit, &hi, RDMA_WIRE_VERSION, -1);
    int rc = st == SPIN_TKIT_ST_OK ? 0 : SPIN_ERR_CONFIG;
    if (!rc && (st = hs_check(c, m)) != SPIN_TKIT_ST_OK) rc = hs_explain(c, party, st, m, 1);
    if (st == SPIN_TKIT_ST_OK && c->peers[party].ls != RDMA_LS_IDLE) {
        RDMA_LOGW(c, "rdma: party %d connected a second time (restarted?); ignoring the new "
                  "connection", party);
        close(fd);
        return 0;
    }
    rdma_peer_t tmp, *p = st == SPIN_TKIT_ST_OK ? &c->peers[party] : &tmp;
    if (p == &tmp) {
        memset(&tmp, 0, sizeof tmp);
        tmp.id = party;
    }
    if (st == SPIN_TKIT_ST_OK) {
        hs_decode_qp(p, m);
        rc = rdma_qp_connect(c, p);
        if (rc) st = RDMA_ST_QP;
    }
    /* Answer in every case, so the other side reports the mismatch too. */
    int src = send_hs(c, p, fd, RDMA_HS_ACK, st);
    if (st != SPIN_TKIT_ST_OK) {
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
    if (spin_tkit_get32(m) != RDMA_MAGIC || m[4] != RDMA_HS_ACK) {
        RDMA_LOGE(c, "rdma: %s (party %d's endpoint) answered our handshake with something else: "
                  "is it a Spin rdma endpoint?", c->eps[p->id], p->id);
        return SPIN_ERR_PROTOCOL;
    }
    /* its fields first (both ends check them), then its answer */
    spin_tkit_hello_t hi;
    spin_tkit_hello_decode(m, &hi);
    int st = spin_tkit_hello_verify(&c->kit, &hi, RDMA_WIRE_VERSION, p->id);
    int rc = st == SPIN_TKIT_ST_OK ? 0 : SPIN_ERR_CONFIG;
    if (hi.status != SPIN_TKIT_ST_OK) return rc ? rc : hs_explain(c, p->id, (int)hi.status, m, 0);
    if (!rc && (st = hs_check(c, m)) != SPIN_TKIT_ST_OK) rc = hs_explain(c, p->id, st, m, 1);
    if (!rc) {
        hs_decode_qp(p, m);
        rc = rdma_qp_connect(c, p);
        if (rc) st = RDMA_ST_QP;
    }
    int src = send_hs(c, p, p->fd, RDMA_HS_READY, st);
    if (rc || src) return rc ? rc : src;
    p->ls = RDMA_LS_UP;
    p->last_rx = p->last_tx = spin_tkit_now_ms();
    return 0;
}

/* Acceptor: the READY of higher party p. */
static int on_ready(rdma_comm_t *c, rdma_peer_t *p)
{
    const unsigned char *m = p->hs;
    if (spin_tkit_get32(m) != RDMA_MAGIC || m[4] != RDMA_HS_READY) {
        RDMA_LOGE(c, "rdma: party %d sent a malformed handshake message", p->id);
        return SPIN_ERR_PROTOCOL;
    }
    if (m[6] != SPIN_TKIT_ST_OK) {
        RDMA_LOGE(c, "rdma: party %d refused our handshake answer (reason %u; see its log): start "
                  "every party with the same configuration", p->id, m[6]);
        return m[6] == RDMA_ST_QP ? SPIN_ERR_IO : SPIN_ERR_CONFIG;
    }
    p->ls = RDMA_LS_UP;
    p->last_rx = p->last_tx = spin_tkit_now_ms();
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
        if (send_hs(c, p, p->fd, RDMA_HS_HELLO, SPIN_TKIT_ST_OK) != 0) drop_conn(p, now, errno);
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
                      "handshake", c->kit.me, p->id);
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

static int link_up(void *arg, int peer, int *err)
{
    const rdma_peer_t *p = &((rdma_comm_t *)arg)->peers[peer];
    *err = p->last_err;
    return p->ls == RDMA_LS_UP;
}

static void timeout_report(rdma_comm_t *c)
{
    spin_tkit_log_open_timeout(&c->kit, c->eps, link_up, c);
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

/* After a refusal: still greet the lower parties not reached yet, so that
 * they report the mismatch at once instead of timing out waiting for us.
 * It returns as soon as every one has our HELLO; the bound (the timeout, at
 * most 10 s) only matters on a loaded machine, where a second was seen to
 * be too short: a lower party then saw our half-made connection close and
 * reported an I/O error instead of the mismatch. */
static void greet_rest(rdma_comm_t *c)
{
    double until = spin_tkit_now_ms() + (c->kit.timeout_ms < 10000 ? c->kit.timeout_ms : 10000);
    for (;;) {
        double now = spin_tkit_now_ms();
        int todo = 0;
        for (int j = 0; j < c->kit.me; j++) {
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
    struct pollfd *pf = calloc((size_t)(c->kit.n + PEND_MAX + 1), sizeof *pf);
    int *who = calloc((size_t)(c->kit.n + PEND_MAX + 1), sizeof *who);
    if (!pf || !who) {
        free(pf);
        free(who);
        return SPIN_ERR_NOMEM;
    }
    double deadline = spin_tkit_now_ms() + c->kit.timeout_ms;
    /* A peer that vanished mid-handshake (I/O error) is often one that a
     * third party refused for its configuration: keep serving the others
     * for a short grace, so that a configuration mismatch reported to us
     * is what we return, not the broken pipe it caused. */
    int lost = 0;
    double grace = 0;
    for (;;) {
        int up = 1;
        for (int j = 0; j < c->kit.n; j++)
            if (j != c->kit.me && c->peers[j].ls != RDMA_LS_UP) up = 0;
        if (up && !lost) break;
        double now = spin_tkit_now_ms();
        if (lost && (up || now >= grace)) {
            rc = lost;
            break;
        }
        if (now >= deadline) {
            timeout_report(c);
            rc = SPIN_ERR_TIMEOUT;
            break;
        }
        double wake = deadline;
        for (int j = 0; j < c->kit.me; j++) {
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
        for (int j = 0; j < c->kit.n; j++) {
            rdma_peer_t *p = &c->peers[j];
            if (j == c->kit.me || p->fd < 0) continue;
            pf[k] = (struct pollfd){p->fd, p->ls == RDMA_LS_CONNECTING ? POLLOUT : POLLIN, 0};
            who[k++] = j;
        }
        for (int i = 0; i < npend; i++) {
            pf[k] = (struct pollfd){pend[i].fd, POLLIN, 0};
            who[k++] = c->kit.n + i;
        }
        double left = wake - now;
        int ms = left > RDMA_SLICE_MS ? RDMA_SLICE_MS : (int)ceil(left);
        if (ms < 1) ms = 1;
        int nr = poll(pf, (nfds_t)k, ms);
        if (nr < 0 && errno != EINTR) {
            RDMA_LOGE(c, "rdma: party %d: poll: %s", c->kit.me, strerror(errno));
            rc = SPIN_ERR_IO;
            break;
        }
        if (nr <= 0) continue;
        now = spin_tkit_now_ms();
        int npend_before = npend;
        /* Pending connections first, from the back (removal swaps). */
        for (int i = k - 1; i >= 1 && !rc; i--) {
            if (!pf[i].revents || who[i] < c->kit.n) continue;
            int pi = who[i] - c->kit.n;
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
            if (pf[i].revents && who[i] >= 0 && who[i] < c->kit.n)
                rc = on_peer_event(c, &c->peers[who[i]], now);
        if (!rc && (pf[0].revents & POLLIN)) accept_all(c, pend, &npend);
        if ((rc == SPIN_ERR_IO || rc == SPIN_ERR_PEER) && !lost) {
            lost = rc;
            rc = 0;
            grace = now + (c->kit.timeout_ms < 2000 ? c->kit.timeout_ms : 2000);
        }
        if (rc) break;
    }
    for (int i = 0; i < npend; i++) close(pend[i].fd);
    free(pf);
    free(who);
    if (rc == SPIN_ERR_CONFIG) greet_rest(c);
    return rc;
}

