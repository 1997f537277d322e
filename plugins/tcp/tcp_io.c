/*
 * tcp_io.c - framing, send/receive, request completion and progress.
 *
 * Every data message starts with one ZeroMQ message:
 *   [routing id]  only on the ROUTER side (a frame of its own)
 *   header        32 bytes: magic, type DATA, version, flags, tag, seq, len,
 *                 followed by the payload itself when len <= TCP_INLINE_MAX.
 * A larger payload (flag TCP_F_CHUNKED) follows as ceil(len / TCP_CHUNK)
 * further messages holding nothing but payload, sent zero-copy
 * (zmq_msg_init_data): the send is complete when ZeroMQ's I/O thread has
 * released every chunk (tcp_zc_free).  Received payloads are copied out of
 * ZeroMQ's messages into the user buffer, chunk by chunk as they arrive
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

#define LOGE(c, ...) spin_log((c)->kit.log, SPIN_LOG_ERROR, __VA_ARGS__)
#define LOGW(c, ...) spin_log((c)->kit.log, SPIN_LOG_WARN, __VA_ARGS__)
#define LOGD(c, ...) spin_log((c)->kit.log, SPIN_LOG_DEBUG, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* Requests.                                                                */
/* ------------------------------------------------------------------------ */

static int zc_released(spin_request_t *r)
{
    return atomic_load_explicit(&r->pending, memory_order_acquire) == 0;
}

static int complete(spin_request_t *r)
{
    if (r->kit.done) return 1;
    return r->zc && zc_released(r);
}

/* ZeroMQ's I/O thread (or zmq_msg_close on a failed send) calls this when it
 * no longer needs one chunk of a zero-copy send. */
static void tcp_zc_free(void *data, void *hint)
{
    (void)data;
    spin_request_t *r = hint;
    /* Read everything we need before the decrement: once pending reaches 0,
     * wait() may free r.  The comm (and its eventfd) outlives every
     * callback, because close() terminates the ZeroMQ context first. */
    int fd = r->comm->evfd;
    if (atomic_fetch_sub_explicit(&r->pending, 1, memory_order_acq_rel) == 1) {
        uint64_t one = 1;
        ssize_t w = write(fd, &one, sizeof one);
        (void)w;
    }
}

static int bad_peer(tcp_comm_t *c, const char *op, int peer)
{
    int rc = spin_tkit_check_peer(&c->kit, op, peer);
    if (rc) return rc;
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
    void *sock = peer < c->kit.me ? p->dealer : c->router;
    if (!sock) {
        tcp_fail_link(c, peer, SPIN_ERR_PEER);
        return bad_peer(c, "send", peer);
    }
    spin_request_t *r = calloc(1, sizeof *r);
    if (!r) return SPIN_ERR_NOMEM;
    spin_tkit_req_init(&r->kit, 1, peer, tag, p->send_seq, len);
    r->comm = c;
    atomic_init(&r->pending, 0);
    int chunked = len > TCP_INLINE_MAX;
    int router = peer > c->kit.me;

    zmq_msg_t m;
    size_t hsize = TCP_HDR_LEN + (chunked ? 0 : len);
    if (zmq_msg_init_size(&m, hsize) != 0) {
        free(r);
        return SPIN_ERR_NOMEM;
    }
    unsigned char *h = zmq_msg_data(&m);
    memset(h, 0, TCP_HDR_LEN);
    spin_tkit_put32(h, TCP_MAGIC);
    h[4] = TCP_T_DATA;
    h[5] = TCP_WIRE_VERSION;
    h[6] = chunked ? TCP_F_CHUNKED : 0;
    spin_tkit_put32(h + 8, tag);
    spin_tkit_put64(h + 16, r->kit.seq);
    spin_tkit_put64(h + 24, (uint64_t)len);
    if (!chunked && len) memcpy(h + TCP_HDR_LEN, buf, len);
    if ((router && zmq_send(sock, p->rid, p->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) ||
        zmq_msg_send(&m, sock, ZMQ_DONTWAIT) < 0) {
        int e = errno;
        zmq_msg_close(&m);
        free(r);
        return send_failed(c, peer, e);
    }
    if (!chunked) {
        r->kit.done = 1;
    } else {
        size_t nchunks = (len + TCP_CHUNK - 1) / TCP_CHUNK;
        r->zc = 1;
        atomic_store(&r->pending, (long)nchunks);
        for (size_t k = 0; k < nchunks; k++) {
            size_t off = k * (size_t)TCP_CHUNK;
            size_t clen = len - off < TCP_CHUNK ? len - off : TCP_CHUNK;
            int e = 0;
            if (router && zmq_send(sock, p->rid, p->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
                e = errno;
            if (!e && zmq_msg_init_data(&m, (char *)buf + off, clen, tcp_zc_free, r) != 0)
                e = ENOMEM;
            else if (!e && zmq_msg_send(&m, sock, ZMQ_DONTWAIT) < 0) {
                e = errno;
                zmq_msg_close(&m); /* runs tcp_zc_free for this chunk */
                k++;
            }
            if (e) {
                /* Half a message is on the wire: the link is lost.  Account
                 * for the chunks never handed over; ZeroMQ still releases
                 * the ones it has, so the request lives until then. */
                atomic_fetch_sub(&r->pending, (long)(nchunks - k));
                r->kit.done = 1;
                r->kit.status = send_failed(c, peer, e);
                spin_tkit_req_live(&c->kit, &r->kit);
                return r->kit.status;
            }
        }
    }
    p->send_seq++;
    spin_tkit_count_sent(&c->kit, peer, len);
    spin_tkit_req_live(&c->kit, &r->kit);
    *out = r;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Receive and matching.                                                    */
/* ------------------------------------------------------------------------ */

void tcp_umsg_free(tcp_umsg_t *u)
{
    tcp_chunk_t *ch = u->chunks;
    while (ch) {
        tcp_chunk_t *nx = ch->next;
        zmq_msg_close(&ch->msg);
        free(ch);
        ch = nx;
    }
    zmq_msg_close(&u->msg);
    free(u);
}

/* Match receive r with early message u (the head of the peer's queue). */
static void match_early(tcp_comm_t *c, tcp_peer_t *p, spin_request_t *r, tcp_umsg_t *u)
{
    SPIN_TKIT_QSHIFT(p->uq_head, p->uq_tail);
    int arriving = p->in_u == u;
    if (arriving) p->in_u = NULL; /* later chunks: into r, or dropped */
    if (spin_tkit_req_fits(&c->kit, &r->kit, u->tag, u->seq, u->len)) {
        if (!u->chunked) {
            if (u->len) memcpy(r->buf, (const char *)zmq_msg_data(&u->msg) + u->off, u->len);
        } else {
            size_t off = 0;
            for (tcp_chunk_t *ch = u->chunks; ch; ch = ch->next) {
                memcpy((char *)r->buf + off, zmq_msg_data(&ch->msg), zmq_msg_size(&ch->msg));
                off += zmq_msg_size(&ch->msg);
            }
            if (arriving) {
                p->in_req = r;
                p->in_off = off;
            }
        }
        if (!arriving) spin_tkit_req_received(&c->kit, &r->kit);
    }
    tcp_umsg_free(u);
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
    spin_tkit_req_init(&r->kit, 0, peer, tag, p->recv_seq++, len);
    r->comm = c;
    r->buf = buf;
    atomic_init(&r->pending, 0);
    /* Invariant: early messages wait only while no receive is posted. */
    if (p->uq_head) {
        match_early(c, p, r, p->uq_head);
    } else {
        SPIN_TKIT_QPUSH(p->rq_head, p->rq_tail, r);
    }
    spin_tkit_req_live(&c->kit, &r->kit);
    *out = r;
    return 0;
}

/* A DATA header (and, if inline, its payload) from `peer`, in frame m. */
static void deliver(tcp_comm_t *c, int peer, zmq_msg_t *m)
{
    tcp_peer_t *p = &c->peers[peer];
    const unsigned char *h = zmq_msg_data(m);
    size_t flen = zmq_msg_size(m);
    int chunked = (h[6] & TCP_F_CHUNKED) != 0;
    uint32_t tag = spin_tkit_get32(h + 8);
    uint64_t seq = spin_tkit_get64(h + 16);
    uint64_t len = spin_tkit_get64(h + 24);
    if (chunked ? flen != TCP_HDR_LEN || len == 0 : flen - TCP_HDR_LEN != len) {
        LOGE(c, "tcp: party %d sent a malformed message #%llu (header says %llu bytes, frame has "
                "%zu)", peer, (unsigned long long)seq, (unsigned long long)len, flen);
        tcp_fail_link(c, peer, SPIN_ERR_PROTOCOL);
        return;
    }
    spin_request_t *r = p->rq_head;
    if (r) {
        SPIN_TKIT_QSHIFT(p->rq_head, p->rq_tail);
        if (spin_tkit_req_fits(&c->kit, &r->kit, tag, seq, len)) {
            if (!chunked) {
                if (len) memcpy(r->buf, h + TCP_HDR_LEN, len);
                spin_tkit_req_received(&c->kit, &r->kit);
            } else {
                p->in_req = r;
                p->in_off = 0;
            }
        }
        if (chunked) p->in_left = len; /* a mismatch drops the chunks */
        return;
    }
    tcp_umsg_t *u = calloc(1, sizeof *u);
    if (!u) {
        LOGE(c, "tcp: out of memory queueing a message from party %d", peer);
        tcp_fail_link(c, peer, SPIN_ERR_NOMEM);
        return;
    }
    u->tag = tag;
    u->seq = seq;
    u->len = len;
    u->chunked = chunked;
    zmq_msg_init(&u->msg);
    if (!chunked) {
        u->off = TCP_HDR_LEN;
        zmq_msg_move(&u->msg, m);
    } else {
        p->in_left = len;
        p->in_u = u;
    }
    SPIN_TKIT_QPUSH(p->uq_head, p->uq_tail, u);
}

/* One chunk of the chunked message arriving from `peer`. */
static void deliver_chunk(tcp_comm_t *c, int peer, zmq_msg_t *m)
{
    tcp_peer_t *p = &c->peers[peer];
    size_t n = zmq_msg_size(m);
    if (n == 0 || n > p->in_left) {
        LOGE(c, "tcp: party %d sent a %zu-byte chunk where %llu bytes were due", peer, n,
             (unsigned long long)p->in_left);
        tcp_fail_link(c, peer, SPIN_ERR_PROTOCOL);
        return;
    }
    if (p->in_req) {
        memcpy((char *)p->in_req->buf + p->in_off, zmq_msg_data(m), n);
        p->in_off += n;
    } else if (p->in_u) {
        tcp_chunk_t *ch = malloc(sizeof *ch);
        if (!ch) {
            LOGE(c, "tcp: out of memory queueing a message from party %d", peer);
            tcp_fail_link(c, peer, SPIN_ERR_NOMEM);
            return;
        }
        ch->next = NULL;
        zmq_msg_init(&ch->msg);
        zmq_msg_move(&ch->msg, m);
        tcp_umsg_t *u = p->in_u;
        SPIN_TKIT_QPUSH(u->chunks, u->chunks_tail, ch);
        u->have += n;
    }
    p->in_left -= n;
    if (p->in_left == 0) {
        if (p->in_req) spin_tkit_req_received(&c->kit, &p->in_req->kit);
        p->in_req = NULL;
        p->in_u = NULL;
    }
}

/* Receive one message from sock and dispatch it.  timeout_ms: 0 = do not
 * block, > 0 = block at most that long.  Returns 1 if a message was handled,
 * 0 if none came, or a negative error.  dealer_peer >= 0: the DEALER linked
 * to that lower party; -1: the ROUTER. */
static int recv_one(tcp_comm_t *c, void *sock, int dealer_peer, int timeout_ms)
{
    zmq_msg_t f[2];
    int nf = 0, extra = 0;
    zmq_msg_init(&f[0]);
    if (timeout_ms > 0) zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    if (zmq_msg_recv(&f[0], sock, timeout_ms > 0 ? 0 : ZMQ_DONTWAIT) < 0) {
        int e = errno;
        zmq_msg_close(&f[0]);
        if (e == EAGAIN || e == EINTR) return 0;
        LOGE(c, "tcp: party %d: receiving failed: %s", c->kit.me, zmq_strerror(e));
        c->kit.failed = 1;
        return SPIN_ERR_IO;
    }
    nf = 1;
    while (zmq_msg_more(&f[nf - 1])) {
        zmq_msg_t junk;
        zmq_msg_t *dst = nf < 2 ? &f[nf] : &junk;
        zmq_msg_init(dst);
        if (zmq_msg_recv(dst, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(dst);
            break; /* cannot happen: multipart messages arrive whole */
        }
        if (dst == &junk) {
            extra = 1;
            int more = zmq_msg_more(&junk);
            zmq_msg_close(&junk);
            if (!more) break;
        } else {
            nf++;
        }
    }
    /* Who sent it, and which frame is the body. */
    int peer = dealer_peer, body = 0;
    if (dealer_peer < 0) {
        peer = tcp_rid_party(zmq_msg_data(&f[0]), zmq_msg_size(&f[0]));
        body = 1;
    }
    int rc = 1;
    if (nf != body + 1 || extra) {
        LOGW(c, "tcp: party %d: ignoring a message with %d frames", c->kit.me, nf + extra);
    } else {
        zmq_msg_t *m = &f[body];
        int known = peer >= 0 && peer < c->kit.n && peer != c->kit.me && c->peers[peer].up &&
                    (dealer_peer >= 0 || peer > c->kit.me);
        if (known) c->peers[peer].last_heard = spin_tkit_now_ms();
        if (known && c->peers[peer].in_left) {
            deliver_chunk(c, peer, m);
        } else if (zmq_msg_size(m) < TCP_HDR_LEN || spin_tkit_get32(zmq_msg_data(m)) != TCP_MAGIC) {
            LOGW(c, "tcp: party %d: ignoring a malformed message on its %s", c->kit.me,
                 dealer_peer >= 0 ? "link to a lower party" : "endpoint");
        } else {
            const unsigned char *h = zmq_msg_data(m);
            int type = h[4];
            if (type == TCP_T_DATA && known) {
                deliver(c, peer, m);
            } else if (type == TCP_T_HELLO && dealer_peer < 0) {
                int r = tcp_on_hello(c, h, zmq_msg_size(m), zmq_msg_data(&f[0]),
                                     zmq_msg_size(&f[0]), m);
                if (r) rc = r;
            } else if (type == TCP_T_ACK && dealer_peer >= 0) {
                int r = tcp_on_ack(c, dealer_peer, h, zmq_msg_size(m));
                if (r) rc = r;
            } else {
                LOGW(c, "tcp: party %d: ignoring a message of type %d from %s %d", c->kit.me, type,
                     known ? "party" : "unknown peer", peer);
            }
        }
    }
    for (int i = 0; i < nf; i++) zmq_msg_close(&f[i]);
    return rc;
}

/* Dispatch every message already waiting on sock. */
static int drain(tcp_comm_t *c, void *sock, int dealer_peer)
{
    int rc;
    while ((rc = recv_one(c, sock, dealer_peer, 0)) == 1) {}
    return rc;
}

int tcp_progress(tcp_comm_t *c)
{
    int rc = 0;
    for (int j = 0; j < c->kit.me && !rc; j++)
        if (c->peers[j].dealer) rc = drain(c, c->peers[j].dealer, j);
    /* The last party's ROUTER carries no traffic after open(). */
    if (!rc && c->router && (!c->opened || c->kit.me < c->kit.n - 1)) rc = drain(c, c->router, -1);
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
        *val = spin_tkit_get32(d + 2);
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
            for (int j = c->kit.me + 1; j < c->kit.n; j++) {
                tcp_peer_t *p = &c->peers[j];
                if (p->up && p->srcfd == (int)val && !p->gone_at) {
                    if (!now) now = spin_tkit_now_ms();
                    p->gone_at = now;
                    LOGD(c, "tcp: party %d: connection from party %d closed", c->kit.me, j);
                }
            }
        } else if (ev & (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)) {
            c->router_hs_failed++;
            LOGD(c, "tcp: party %d: a security handshake on our endpoint failed (event 0x%x, %u)",
                 c->kit.me, ev, val);
        }
    }
    for (int j = 0; j < c->kit.me; j++) {
        tcp_peer_t *p = &c->peers[j];
        while (p->mon && mon_event(p->mon, &ev, &val) == 0) {
            if (ev == ZMQ_EVENT_DISCONNECTED) {
                if (p->up && !p->gone_at) {
                    if (!now) now = spin_tkit_now_ms();
                    p->gone_at = now;
                    LOGD(c, "tcp: party %d: connection to party %d closed", c->kit.me, j);
                }
            } else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && !p->up) {
                LOGE(c, "tcp: party %d refused our CurveZMQ key (status %u): its key directory "
                        "must hold our public key as party%d.pub", j, val, c->kit.me);
                p->auth_failed = 1;
                return SPIN_ERR_AUTH;
            } else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && !p->up) {
                LOGE(c, "tcp: the security handshake with party %d failed (protocol error %u): do "
                        "all parties use the same key_dir (SPIN_KEY_DIR) setting?", j, val);
                return SPIN_ERR_CONFIG;
            } else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && !p->up) {
                LOGD(c, "tcp: party %d: handshake with party %d failed (%u); retrying", c->kit.me, j,
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
    if (p->in_req == r) p->in_req = NULL; /* its remaining chunks are dropped */
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
    if (r->kit.peer < c->kit.me) {
        tcp_peer_t *p = &c->peers[r->kit.peer];
        if (p->dealer) {
            zmq_setsockopt(p->dealer, ZMQ_LINGER, &linger, sizeof linger);
            zmq_close(p->dealer);
            p->dealer = NULL;
            c->items[1 + r->kit.peer].socket = NULL;
            c->items[1 + r->kit.peer].fd = -1;
        }
        tcp_fail_link(c, r->kit.peer, SPIN_ERR_TIMEOUT);
    } else {
        if (c->router) {
            zmq_setsockopt(c->router, ZMQ_LINGER, &linger, sizeof linger);
            zmq_close(c->router);
            c->router = NULL;
            c->items[0].socket = NULL;
            c->items[0].fd = -1;
        }
        for (int j = c->kit.me + 1; j < c->kit.n; j++) tcp_fail_link(c, j, SPIN_ERR_TIMEOUT);
    }
    /* ZeroMQ's reaper releases the message within milliseconds. */
    double until = spin_tkit_now_ms() + 10000;
    zmq_pollitem_t it = {NULL, c->evfd, ZMQ_POLLIN, 0};
    while (!zc_released(r) && spin_tkit_now_ms() < until) {
        zmq_poll(&it, 1, 10);
        uint64_t v;
        ssize_t n = read(c->evfd, &v, sizeof v);
        (void)n;
    }
}

/*
 * Wait for one request.  ZeroMQ's I/O thread moves every byte between the
 * kernel and the socket queues by itself (the high-water marks are
 * unlimited), so no link ever stalls because we are not reading it: a wait
 * only has to watch the one socket its request depends on (the peer's
 * DEALER, or the ROUTER for a higher peer, whose other peers' messages are
 * queued per peer on the way), or the eventfd that the zero-copy free
 * callback signals.  Blocking in zmq_msg_recv on that one socket is the
 * cheapest wake-up ZeroMQ offers.  Every slice (at most TCP_SLICE_MS) the
 * monitors (disconnects) and the silence timeout are checked.
 */
#define TCP_SLICE_MS 100

static int wait_loop(tcp_comm_t *c, spin_request_t *r)
{
    tcp_peer_t *p = &c->peers[r->kit.peer];
    double t0 = spin_tkit_now_ms();
    void *sock = r->kit.is_send ? NULL : r->kit.peer < c->kit.me ? p->dealer : c->router;
    int dpeer = r->kit.peer < c->kit.me ? r->kit.peer : -1;
    if (sock && c->spin_us > 0) {
        double spin_end = t0 + c->spin_us * 1e-3;
        do {
            int rc = drain(c, sock, dpeer);
            if (rc < 0) return rc;
            if (complete(r)) return 0;
        } while (spin_tkit_now_ms() < spin_end);
    }
    for (;;) {
        if (complete(r)) return 0;
        double now = spin_tkit_now_ms();
        double wait_ms;
        if (!r->kit.is_send) {
            if (!sock) {
                tcp_fail_link(c, r->kit.peer, SPIN_ERR_PEER);
                return p->broken;
            }
            if (p->gone_at && now - p->gone_at >= TCP_GONE_GRACE_MS) {
                int rc = drain(c, sock, dpeer); /* what it sent before leaving */
                if (rc < 0) return rc;
                if (complete(r)) return 0;
                LOGE(c, "tcp: party %d disconnected (it closed its communicator or exited) while "
                        "party %d waited for its message #%llu (tag 0x%x, %zu bytes)",
                     r->kit.peer, c->kit.me, (unsigned long long)r->kit.seq, r->kit.tag, r->kit.len);
                tcp_fail_link(c, r->kit.peer, SPIN_ERR_PEER);
                return SPIN_ERR_PEER;
            }
            double last = p->last_heard > t0 ? p->last_heard : t0;
            if (now - last >= c->kit.timeout_ms) {
                spin_tkit_log_timeout(&c->kit, 0, r->kit.peer, r->kit.seq, r->kit.tag, r->kit.len,
                                      NULL);
                tcp_fail_link(c, r->kit.peer, SPIN_ERR_TIMEOUT);
                return SPIN_ERR_TIMEOUT;
            }
            wait_ms = last + c->kit.timeout_ms - now;
            if (p->gone_at) {
                double g = p->gone_at + TCP_GONE_GRACE_MS - now;
                if (g < wait_ms) wait_ms = g;
            }
        } else {
            if (now - t0 >= c->kit.timeout_ms) {
                spin_tkit_log_timeout(&c->kit, 1, r->kit.peer, r->kit.seq, r->kit.tag, r->kit.len,
                                      NULL);
                teardown(c, r);
                return SPIN_ERR_TIMEOUT;
            }
            wait_ms = t0 + c->kit.timeout_ms - now;
        }
        int ms = (int)ceil(wait_ms);
        if (ms > TCP_SLICE_MS) ms = TCP_SLICE_MS;
        if (ms < 1) ms = 1;
        int got;
        if (sock) {
            got = recv_one(c, sock, dpeer, ms);
            if (got < 0) return got;
        } else {
            zmq_pollitem_t it = {NULL, c->evfd, ZMQ_POLLIN, 0};
            got = zmq_poll(&it, 1, complete(r) ? 0 : ms);
            if (got > 0) {
                uint64_t v;
                ssize_t n = read(c->evfd, &v, sizeof v);
                (void)n;
            }
        }
        if (!got) {
            int rc = tcp_process_monitors(c);
            if (rc) return rc;
        }
    }
}

int tcp_wait(void *comm, spin_request_t *r)
{
    tcp_comm_t *c = comm;
    if (!c || !r) return SPIN_ERR_INVAL;
    int rc = 0;
    if (!complete(r)) {
        rc = wait_loop(c, r);
        if (rc && !r->kit.is_send && !r->kit.done) unlink_posted(&c->peers[r->kit.peer], r);
    }
    if (!rc) rc = r->kit.status;
    if (r->zc && !zc_released(r)) {
        /* ZeroMQ still holds the buffer (it could not be torn down): keep
         * the request until close(), which terminates the context. */
        LOGE(c, "tcp: party %d: a send to party %d is still queued inside ZeroMQ; its buffer "
                "must stay valid until close()", c->kit.me, r->kit.peer);
        r->kit.done = 1;
        return rc;
    }
    spin_tkit_req_unlive(&c->kit, &r->kit);
    free(r);
    return rc;
}
