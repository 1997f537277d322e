/*
 * tcp_io.c - framing, send/receive, request completion and progress.
 *
 * Every data message is one ZeroMQ multipart message:
 *   [routing id]  only on the ROUTER side
 *   header        32 bytes: magic, type DATA, version, tag, seq, len
 *   payload       len bytes (a second frame), unless len <= TCP_INLINE_MAX,
 *                 in which case it follows the header in the same frame.
 * Large payloads are sent zero-copy (zmq_msg_init_data); the request is
 * complete when ZeroMQ's I/O thread releases the buffer (tcp_zc_free).
 * Received payloads are copied out of ZeroMQ's message into the user buffer
 * (ZeroMQ cannot receive into a caller-provided buffer).
 *
 * Receives are matched per peer in the order they were posted; messages
 * that arrive before their receive is posted wait in a per-peer queue.  Any
 * wait() drains every socket, so all-to-all exchanges cannot deadlock.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcp_internal.h"

#define LOGE(c, ...) spin_log((c)->log, SPIN_LOG_ERROR, __VA_ARGS__)
#define LOGW(c, ...) spin_log((c)->log, SPIN_LOG_WARN, __VA_ARGS__)
#define LOGD(c, ...) spin_log((c)->log, SPIN_LOG_DEBUG, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* Requests.                                                                */
/* ------------------------------------------------------------------------ */

static void live_add(tcp_comm_t *c, spin_request_t *r)
{
    r->lprev = NULL;
    r->lnext = c->live;
    if (c->live) c->live->lprev = r;
    c->live = r;
}

static void live_del(tcp_comm_t *c, spin_request_t *r)
{
    if (r->lprev) r->lprev->lnext = r->lnext;
    else c->live = r->lnext;
    if (r->lnext) r->lnext->lprev = r->lprev;
}

static int complete(const spin_request_t *r)
{
    if (r->done) return 1;
    return r->zc && atomic_load_explicit(&r->released, memory_order_acquire);
}

/* ZeroMQ's I/O thread (or zmq_msg_close on a failed send) calls this when it
 * no longer needs a zero-copy buffer. */
static void tcp_zc_free(void *data, void *hint)
{
    (void)data;
    spin_request_t *r = hint;
    /* Read everything we need before the release store: after it, wait() may
     * free r.  The comm (and its eventfd) outlives every callback, because
     * close() terminates the ZeroMQ context first. */
    int fd = r->comm->evfd;
    atomic_store_explicit(&r->released, 1, memory_order_release);
    uint64_t one = 1;
    ssize_t w = write(fd, &one, sizeof one);
    (void)w;
}

static int bad_peer(tcp_comm_t *c, const char *op, int peer)
{
    if (peer < 0 || peer >= c->n) {
        LOGE(c, "tcp: %s: party %d does not exist (%d parties)", op, peer, c->n);
        return SPIN_ERR_INVAL;
    }
    if (peer == c->me) {
        LOGE(c, "tcp: %s: party %d cannot exchange messages with itself", op, peer);
        return SPIN_ERR_INVAL;
    }
    tcp_peer_t *p = &c->peers[peer];
    if (p->broken) {
        LOGE(c, "tcp: %s: the link to party %d is down after an earlier error (%s)", op, peer,
             spin_strerror(p->broken));
        return p->broken;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Send.                                                                    */
/* ------------------------------------------------------------------------ */

static int send_failed(tcp_comm_t *c, int peer, int err)
{
    if (err == EHOSTUNREACH) {
        LOGE(c, "tcp: cannot send to party %d: it is not connected (it closed or crashed)", peer);
        tcp_fail_link(c, peer, SPIN_ERR_PEER);
        return SPIN_ERR_PEER;
    }
    LOGE(c, "tcp: sending to party %d failed: %s", peer, zmq_strerror(err));
    tcp_fail_link(c, peer, SPIN_ERR_IO);
    return SPIN_ERR_IO;
}

int tcp_isend(void *comm, int peer, uint32_t tag, const void *buf, size_t len,
              spin_request_t **out)
{
    tcp_comm_t *c = comm;
    if (!c || !out || (!buf && len)) return SPIN_ERR_INVAL;
    int rc = bad_peer(c, "send", peer);
    if (rc) return rc;
    tcp_peer_t *p = &c->peers[peer];
    void *sock = peer < c->me ? p->dealer : c->router;
    if (!sock) {
        tcp_fail_link(c, peer, SPIN_ERR_PEER);
        return bad_peer(c, "send", peer);
    }
    spin_request_t *r = calloc(1, sizeof *r);
    if (!r) return SPIN_ERR_NOMEM;
    r->comm = c;
    r->is_send = 1;
    r->peer = peer;
    r->tag = tag;
    r->seq = p->send_seq;
    r->len = len;
    atomic_init(&r->released, 0);

    unsigned char h[TCP_HDR_LEN];
    memset(h, 0, sizeof h);
    tcp_put32(h, TCP_MAGIC);
    h[4] = TCP_T_DATA;
    h[5] = TCP_WIRE_VERSION;
    tcp_put32(h + 8, tag);
    tcp_put64(h + 16, r->seq);
    tcp_put64(h + 24, (uint64_t)len);

    if (peer > c->me && zmq_send(sock, p->rid, p->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        int e = errno;
        free(r);
        return send_failed(c, peer, e);
    }
    zmq_msg_t m;
    if (len <= TCP_INLINE_MAX) {
        if (zmq_msg_init_size(&m, TCP_HDR_LEN + len) != 0) {
            free(r);
            return SPIN_ERR_NOMEM;
        }
        unsigned char *d = zmq_msg_data(&m);
        memcpy(d, h, TCP_HDR_LEN);
        if (len) memcpy(d + TCP_HDR_LEN, buf, len);
        if (zmq_msg_send(&m, sock, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(&m);
            free(r);
            return send_failed(c, peer, e);
        }
        r->done = 1;
    } else {
        if (zmq_send(sock, h, sizeof h, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
            int e = errno;
            free(r);
            return send_failed(c, peer, e);
        }
        r->zc = 1;
        if (zmq_msg_init_data(&m, (void *)buf, len, tcp_zc_free, r) != 0) {
            free(r);
            tcp_fail_link(c, peer, SPIN_ERR_NOMEM);
            return SPIN_ERR_NOMEM;
        }
        if (zmq_msg_send(&m, sock, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(&m); /* runs tcp_zc_free here */
            free(r);
            return send_failed(c, peer, e);
        }
    }
    p->send_seq++;
    p->st.bytes_sent += len;
    p->st.msgs_sent++;
    live_add(c, r);
    *out = r;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Receive and matching.                                                    */
/* ------------------------------------------------------------------------ */

static void match(tcp_comm_t *c, spin_request_t *r, uint32_t tag, uint64_t seq, uint64_t len,
                  const void *data)
{
    tcp_peer_t *p = &c->peers[r->peer];
    if (tag != r->tag || seq != r->seq || len != (uint64_t)r->len) {
        LOGE(c, "tcp: peers out of step: party %d expected message #%llu from party %d with tag "
                "0x%x and %zu bytes, but received message #%llu with tag 0x%x and %llu bytes",
             c->me, (unsigned long long)r->seq, r->peer, r->tag, r->len, (unsigned long long)seq, tag,
             (unsigned long long)len);
        r->status = SPIN_ERR_PROTOCOL;
        c->failed = 1;
    } else {
        if (len) memcpy(r->buf, data, len);
        p->st.bytes_recv += len;
        p->st.msgs_recv++;
        r->status = 0;
    }
    r->done = 1;
}

int tcp_irecv(void *comm, int peer, uint32_t tag, void *buf, size_t len, spin_request_t **out)
{
    tcp_comm_t *c = comm;
    if (!c || !out || (!buf && len)) return SPIN_ERR_INVAL;
    int rc = bad_peer(c, "receive", peer);
    if (rc) return rc;
    tcp_peer_t *p = &c->peers[peer];
    spin_request_t *r = calloc(1, sizeof *r);
    if (!r) return SPIN_ERR_NOMEM;
    r->comm = c;
    r->peer = peer;
    r->tag = tag;
    r->seq = p->recv_seq++;
    r->len = len;
    r->buf = buf;
    atomic_init(&r->released, 0);
    tcp_umsg_t *u = p->uq_head;
    if (u) {
        /* Invariant: early messages wait only while no receive is posted. */
        p->uq_head = u->next;
        if (!p->uq_head) p->uq_tail = NULL;
        match(c, r, u->tag, u->seq, u->len, (const char *)zmq_msg_data(&u->msg) + u->off);
        zmq_msg_close(&u->msg);
        free(u);
    } else {
        if (p->rq_tail) p->rq_tail->next = r;
        else p->rq_head = r;
        p->rq_tail = r;
    }
    live_add(c, r);
    *out = r;
    return 0;
}

/* A data message from `peer`: hdr is the header frame; pay the payload frame
 * or NULL when the payload is inline. */
static void deliver(tcp_comm_t *c, int peer, zmq_msg_t *hdr, zmq_msg_t *pay)
{
    tcp_peer_t *p = &c->peers[peer];
    const unsigned char *h = zmq_msg_data(hdr);
    size_t hlen = zmq_msg_size(hdr);
    uint32_t tag = tcp_get32(h + 8);
    uint64_t seq = tcp_get64(h + 16);
    uint64_t len = tcp_get64(h + 24);
    const char *data;
    size_t plen;
    if (pay) {
        data = zmq_msg_data(pay);
        plen = zmq_msg_size(pay);
    } else {
        data = (const char *)h + TCP_HDR_LEN;
        plen = hlen - TCP_HDR_LEN;
    }
    p->last_heard = tcp_now_ms();
    if (plen != len) {
        LOGE(c, "tcp: party %d sent a malformed message #%llu (header says %llu bytes, frame has "
                "%zu)", peer, (unsigned long long)seq, (unsigned long long)len, plen);
        tcp_fail_link(c, peer, SPIN_ERR_PROTOCOL);
        return;
    }
    spin_request_t *r = p->rq_head;
    if (r) {
        p->rq_head = r->next;
        if (!p->rq_head) p->rq_tail = NULL;
        r->next = NULL;
        match(c, r, tag, seq, len, data);
        return;
    }
    tcp_umsg_t *u = malloc(sizeof *u);
    if (!u) {
        LOGE(c, "tcp: out of memory queueing a message from party %d", peer);
        tcp_fail_link(c, peer, SPIN_ERR_NOMEM);
        return;
    }
    u->next = NULL;
    u->tag = tag;
    u->seq = seq;
    u->len = len;
    u->off = pay ? 0 : TCP_HDR_LEN;
    zmq_msg_init(&u->msg);
    zmq_msg_move(&u->msg, pay ? pay : hdr);
    if (p->uq_tail) p->uq_tail->next = u;
    else p->uq_head = u;
    p->uq_tail = u;
}

/* Read every complete message waiting on sock.  dealer_peer >= 0: the DEALER
 * linked to that lower party; -1: the ROUTER. */
static int drain(tcp_comm_t *c, void *sock, int dealer_peer)
{
    for (;;) {
        zmq_msg_t f[3];
        int nf = 0, extra = 0;
        zmq_msg_init(&f[0]);
        if (zmq_msg_recv(&f[0], sock, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(&f[0]);
            if (e == EAGAIN) return 0;
            if (e == EINTR) continue;
            LOGE(c, "tcp: party %d: receiving failed: %s", c->me, zmq_strerror(e));
            c->failed = 1;
            return SPIN_ERR_IO;
        }
        nf = 1;
        while (zmq_msg_more(&f[nf - 1])) {
            zmq_msg_t *dst = &f[nf];
            zmq_msg_t junk;
            if (nf == 3) {
                dst = &junk;
                extra = 1;
            }
            zmq_msg_init(dst);
            if (zmq_msg_recv(dst, sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(dst);
                break; /* cannot happen: multipart messages arrive whole */
            }
            if (dst == &junk) {
                int more = zmq_msg_more(&junk);
                zmq_msg_close(&junk);
                if (!more) break;
            } else {
                nf++;
            }
        }
        int first = dealer_peer >= 0 ? 0 : 1; /* index of the header frame */
        int rc = 0;
        if (nf <= first || extra || zmq_msg_size(&f[first]) < TCP_HDR_LEN ||
            tcp_get32(zmq_msg_data(&f[first])) != TCP_MAGIC) {
            LOGW(c, "tcp: party %d: ignoring a malformed message on its %s", c->me,
                 dealer_peer >= 0 ? "link to a lower party" : "endpoint");
        } else {
            const unsigned char *h = zmq_msg_data(&f[first]);
            size_t hlen = zmq_msg_size(&f[first]);
            int type = h[4];
            zmq_msg_t *pay = nf > first + 1 ? &f[first + 1] : NULL;
            if (dealer_peer < 0) {
                const void *rid = zmq_msg_data(&f[0]);
                size_t rlen = zmq_msg_size(&f[0]);
                int peer = tcp_rid_party(rid, rlen);
                if (type == TCP_T_HELLO && !pay) {
                    rc = tcp_on_hello(c, h, hlen, rid, rlen, &f[first]);
                } else if (type == TCP_T_DATA && peer > c->me && peer < c->n &&
                           c->peers[peer].up) {
                    deliver(c, peer, &f[first], pay);
                } else {
                    LOGW(c, "tcp: party %d: ignoring a message of type %d from an unknown peer",
                         c->me, type);
                }
            } else if (type == TCP_T_ACK && !pay) {
                rc = tcp_on_ack(c, dealer_peer, h, hlen);
            } else if (type == TCP_T_DATA && c->peers[dealer_peer].up) {
                deliver(c, dealer_peer, &f[first], pay);
            } else {
                LOGW(c, "tcp: party %d: ignoring a message of type %d from party %d", c->me, type,
                     dealer_peer);
            }
        }
        for (int i = 0; i < nf; i++) zmq_msg_close(&f[i]);
        if (rc) return rc;
    }
}

int tcp_progress(tcp_comm_t *c)
{
    int rc = 0;
    for (int j = 0; j < c->me && !rc; j++)
        if (c->peers[j].dealer) rc = drain(c, c->peers[j].dealer, j);
    /* The last party's ROUTER carries no traffic after open(). */
    if (!rc && c->router && (!c->opened || c->me < c->n - 1)) rc = drain(c, c->router, -1);
    return rc;
}

/* Read one monitor event; returns 0 and sets ev/val, or -1 if none. */
static int mon_event(void *mon, unsigned *ev, unsigned *val)
{
    zmq_msg_t a, b;
    zmq_msg_init(&a);
    if (zmq_msg_recv(&a, mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&a);
        return -1;
    }
    int ok = zmq_msg_size(&a) >= 6;
    if (ok) {
        const unsigned char *d = zmq_msg_data(&a);
        *ev = (unsigned)d[0] | (unsigned)d[1] << 8;
        *val = tcp_get32(d + 2);
    }
    int more = zmq_msg_more(&a);
    zmq_msg_close(&a);
    while (more) {
        zmq_msg_init(&b);
        if (zmq_msg_recv(&b, mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&b);
            break;
        }
        more = zmq_msg_more(&b);
        zmq_msg_close(&b);
    }
    if (!ok) *ev = 0;
    return 0;
}

int tcp_process_monitors(tcp_comm_t *c)
{
    unsigned ev, val;
    double now = 0;
    while (c->router_mon && mon_event(c->router_mon, &ev, &val) == 0) {
        if (ev == ZMQ_EVENT_DISCONNECTED) {
            for (int j = c->me + 1; j < c->n; j++) {
                tcp_peer_t *p = &c->peers[j];
                if (p->up && p->srcfd == (int)val && !p->gone_at) {
                    if (!now) now = tcp_now_ms();
                    p->gone_at = now;
                    LOGD(c, "tcp: party %d: connection from party %d closed", c->me, j);
                }
            }
        } else if (ev & (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)) {
            c->router_hs_failed++;
            LOGD(c, "tcp: party %d: a security handshake on our endpoint failed (event 0x%x, %u)",
                 c->me, ev, val);
        }
    }
    for (int j = 0; j < c->me; j++) {
        tcp_peer_t *p = &c->peers[j];
        while (p->mon && mon_event(p->mon, &ev, &val) == 0) {
            if (ev == ZMQ_EVENT_DISCONNECTED) {
                if (p->up && !p->gone_at) {
                    if (!now) now = tcp_now_ms();
                    p->gone_at = now;
                    LOGD(c, "tcp: party %d: connection to party %d closed", c->me, j);
                }
            } else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && !p->up) {
                LOGE(c, "tcp: party %d refused our CurveZMQ key (status %u): its key directory "
                        "must hold our public key as party%d.pub", j, val, c->me);
                p->auth_failed = 1;
                return SPIN_ERR_AUTH;
            } else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && !p->up) {
                LOGE(c, "tcp: the security handshake with party %d failed (protocol error %u): do "
                        "all parties use the same key_dir (SPIN_KEY_DIR) setting?", j, val);
                return SPIN_ERR_CONFIG;
            } else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && !p->up) {
                LOGD(c, "tcp: party %d: handshake with party %d failed (%u); retrying", c->me, j,
                     val);
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Wait.                                                                    */
/* ------------------------------------------------------------------------ */

static void unlink_posted(tcp_peer_t *p, spin_request_t *r)
{
    spin_request_t *prev = NULL;
    for (spin_request_t *q = p->rq_head; q; prev = q, q = q->next) {
        if (q != r) continue;
        if (prev) prev->next = q->next;
        else p->rq_head = q->next;
        if (p->rq_tail == q) p->rq_tail = prev;
        q->next = NULL;
        return;
    }
}

/* A zero-copy send did not complete: close the socket carrying it so that
 * ZeroMQ drops the message and lets go of the caller's buffer. */
static void teardown(tcp_comm_t *c, spin_request_t *r)
{
    int linger = 0;
    if (r->peer < c->me) {
        tcp_peer_t *p = &c->peers[r->peer];
        if (p->dealer) {
            zmq_setsockopt(p->dealer, ZMQ_LINGER, &linger, sizeof linger);
            zmq_close(p->dealer);
            p->dealer = NULL;
            c->items[1 + r->peer].socket = NULL;
            c->items[1 + r->peer].fd = -1;
        }
        tcp_fail_link(c, r->peer, SPIN_ERR_TIMEOUT);
    } else {
        if (c->router) {
            zmq_setsockopt(c->router, ZMQ_LINGER, &linger, sizeof linger);
            zmq_close(c->router);
            c->router = NULL;
            c->items[0].socket = NULL;
            c->items[0].fd = -1;
        }
        for (int j = c->me + 1; j < c->n; j++) tcp_fail_link(c, j, SPIN_ERR_TIMEOUT);
    }
    /* ZeroMQ's reaper releases the message within milliseconds. */
    double until = tcp_now_ms() + 10000;
    zmq_pollitem_t it = {NULL, c->evfd, ZMQ_POLLIN, 0};
    while (!atomic_load_explicit(&r->released, memory_order_acquire) && tcp_now_ms() < until) {
        zmq_poll(&it, 1, 10);
        uint64_t v;
        ssize_t n = read(c->evfd, &v, sizeof v);
        (void)n;
    }
}

static int wait_loop(tcp_comm_t *c, spin_request_t *r)
{
    tcp_peer_t *p = &c->peers[r->peer];
    double t0 = tcp_now_ms();
    double spin_end = t0 + TCP_SPIN_NS * 1e-6;
    for (;;) {
        int rc = tcp_progress(c);
        if (rc) return rc;
        if (complete(r)) return 0;
        double now = tcp_now_ms();
        if (now < spin_end) {
            continue;
        }
        rc = tcp_process_monitors(c);
        if (rc) return rc;
        if (complete(r)) return 0;
        double wait_ms;
        if (!r->is_send) {
            if (p->gone_at && now - p->gone_at >= TCP_GONE_GRACE_MS) {
                LOGE(c, "tcp: party %d disconnected (it closed its communicator or exited) while "
                        "party %d waited for its message #%llu (tag 0x%x, %zu bytes)",
                     r->peer, c->me, (unsigned long long)r->seq, r->tag, r->len);
                tcp_fail_link(c, r->peer, SPIN_ERR_PEER);
                return SPIN_ERR_PEER;
            }
            double last = p->last_heard > t0 ? p->last_heard : t0;
            if (now - last >= c->timeout_ms) {
                LOGE(c, "tcp: party %d sent nothing for %g s (%s) while party %d waited for its "
                        "message #%llu (tag 0x%x, %zu bytes)",
                     r->peer, c->timeout_ms / 1000.0, c->timeout_src, c->me,
                     (unsigned long long)r->seq, r->tag, r->len);
                tcp_fail_link(c, r->peer, SPIN_ERR_TIMEOUT);
                return SPIN_ERR_TIMEOUT;
            }
            wait_ms = last + c->timeout_ms - now;
            if (p->gone_at) {
                double g = p->gone_at + TCP_GONE_GRACE_MS - now;
                if (g < wait_ms) wait_ms = g;
            }
        } else {
            if (now - t0 >= c->timeout_ms) {
                LOGE(c, "tcp: party %d did not take our %zu-byte message #%llu (tag 0x%x) for %g s "
                        "(%s)", r->peer, r->len, (unsigned long long)r->seq, r->tag,
                     c->timeout_ms / 1000.0, c->timeout_src);
                teardown(c, r);
                return SPIN_ERR_TIMEOUT;
            }
            wait_ms = t0 + c->timeout_ms - now;
        }
        int ms = (int)ceil(wait_ms);
        if (ms < 1) ms = 1;
        if (zmq_poll(c->items, c->nitems, ms) < 0 && errno != EINTR) {
            LOGE(c, "tcp: party %d: zmq_poll failed: %s", c->me, zmq_strerror(errno));
            c->failed = 1;
            return SPIN_ERR_IO;
        }
        if (c->items[c->item_evfd].revents & ZMQ_POLLIN) {
            uint64_t v;
            ssize_t n = read(c->evfd, &v, sizeof v);
            (void)n;
        }
        spin_end = tcp_now_ms() + TCP_SPIN_NS * 1e-6;
    }
}

int tcp_wait(void *comm, spin_request_t *r)
{
    tcp_comm_t *c = comm;
    if (!c || !r) return SPIN_ERR_INVAL;
    int rc = 0;
    if (!complete(r)) {
        rc = wait_loop(c, r);
        if (rc && !r->is_send && !r->done) unlink_posted(&c->peers[r->peer], r);
    }
    if (!rc) rc = r->status;
    if (r->zc && !atomic_load_explicit(&r->released, memory_order_acquire)) {
        /* ZeroMQ still holds the buffer (it could not be torn down): keep
         * the request until close(), which terminates the context. */
        LOGE(c, "tcp: party %d: a send to party %d is still queued inside ZeroMQ; its buffer "
                "must stay valid until close()", c->me, r->peer);
        r->done = 1;
        return rc;
    }
    live_del(c, r);
    free(r);
    return rc;
}

int tcp_send(void *comm, int peer, uint32_t tag, const void *buf, size_t len)
{
    spin_request_t *r;
    int rc = tcp_isend(comm, peer, tag, buf, len, &r);
    return rc ? rc : tcp_wait(comm, r);
}

int tcp_recv(void *comm, int peer, uint32_t tag, void *buf, size_t len)
{
    spin_request_t *r;
    int rc = tcp_irecv(comm, peer, tag, buf, len, &r);
    return rc ? rc : tcp_wait(comm, r);
}

int tcp_stats(void *comm, int peer, spin_transport_stats_t *out)
{
    tcp_comm_t *c = comm;
    if (!c || !out || peer < 0 || peer >= c->n) return SPIN_ERR_INVAL;
    *out = c->peers[peer].st;
    return 0;
}
