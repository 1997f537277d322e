/*
 * sock_io.c - requests, link failures, sending, wait and progress.
 *
 * Every message is a 24-byte header {u32 tag, u32 "SPND", u64 seq, u64 len}
 * followed by the payload, written with one sendmsg() straight from the
 * caller's buffer; what the socket does not take at once stays queued on
 * the peer (with a progress offset) and is written by wait().  Receiving,
 * matching and parsing live in sock_rx.c.  Everything runs on the caller's
 * thread.
 *
 * wait() makes progress on every peer (poll over all links: reads whatever
 * arrives, writes every queued send), so exchanges in which all parties
 * send to all before receiving cannot deadlock, however full the socket
 * buffers get.  Only with a single peer and nothing queued to it does a
 * receive block in recvmsg() on that one socket (no poll: the lowest
 * latency), with SO_RCVTIMEO as its timeout.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sock_internal.h"

#define LOGE(c, ...) spin_log((c)->kit.log, SPIN_LOG_ERROR, __VA_ARGS__)
#define LOGD(c, ...) spin_log((c)->kit.log, SPIN_LOG_DEBUG, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* Requests.                                                                */
/* ------------------------------------------------------------------------ */

spin_request_t *sock_req_get(sock_comm_t *c, int is_send, int peer, uint32_t tag, uint64_t seq,
                             size_t len)
{
    spin_request_t *r = c->free_reqs;
    if (r) {
        c->free_reqs = r->next;
        c->nfree--;
    } else if (!(r = malloc(sizeof *r))) {
        return NULL;
    }
    spin_tkit_req_init(&r->kit, is_send, peer, tag, seq, len);
    r->next = NULL;
    r->off = 0;
    spin_tkit_req_live(&c->kit, &r->kit);
    return r;
}

static void req_put(sock_comm_t *c, spin_request_t *r)
{
    spin_tkit_req_unlive(&c->kit, &r->kit);
    if (c->nfree < SOCK_FREE_REQS) {
        r->next = c->free_reqs;
        c->free_reqs = r;
        c->nfree++;
    } else {
        free(r);
    }
}

static void complete_all(spin_request_t **head, spin_request_t **tail, int code)
{
    spin_request_t *r = *head;
    while (r) {
        spin_request_t *nx = r->next;
        r->next = NULL;
        r->kit.done = 1;
        r->kit.status = code;
        r = nx;
    }
    *head = *tail = NULL;
}

/* Take a link down: every request queued on it completes with the error.
 * Early messages that arrived whole stay deliverable (a peer's last
 * messages before it closed); a half-arrived one is dropped. */
void sock_fail_link(sock_comm_t *c, int peer, int code)
{
    sock_peer_t *p = &c->peers[peer];
    if (!p->broken) p->broken = code;
    code = p->broken;
    complete_all(&p->rq_head, &p->rq_tail, code);
    complete_all(&p->sq_head, &p->sq_tail, code);
    if (p->in_req) {
        p->in_req->kit.done = 1;
        p->in_req->kit.status = code;
    }
    if (p->in_u) {
        sock_umsg_t **pp = &p->uq_head, *prev = NULL;
        while (*pp && *pp != p->in_u) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp) {
            *pp = p->in_u->next;
            if (p->uq_tail == p->in_u) p->uq_tail = prev;
            sock_umsg_release(p, p->in_u);
        }
    }
    p->in_req = NULL;
    p->in_u = NULL;
    p->in_msg = 0;
    p->in_dst = NULL;
    p->in_left = 0;
    p->rx_beg = p->rx_end = 0;
    /* Make sure the peer notices too (it reads EOF instead of waiting). */
    if (code != SPIN_ERR_PEER && p->fd >= 0) shutdown(p->fd, SHUT_RDWR);
}

/* The connection to `peer` ended (EOF or an error) or failed. */
void sock_link_lost(sock_comm_t *c, int peer, int code, int err)
{
    sock_peer_t *p = &c->peers[peer];
    spin_request_t *r = p->in_req ? p->in_req : p->rq_head;
    if (code == SPIN_ERR_PEER && (r || p->in_msg || p->sq_head)) {
        char what[160];
        if (r)
            snprintf(what, sizeof what, "waited for its message #%llu (tag 0x%x, %zu bytes)",
                     (unsigned long long)r->kit.seq, r->kit.tag, r->kit.len);
        else if (p->in_msg)
            snprintf(what, sizeof what, "was receiving a message from it");
        else
            snprintf(what, sizeof what, "was sending message #%llu (tag 0x%x, %zu bytes) to it",
                     (unsigned long long)p->sq_head->kit.seq, p->sq_head->kit.tag, p->sq_head->kit.len);
        LOGE(c, "sock: party %d %s (it closed its communicator or exited) while party %d %s",
             peer, err ? "reset the connection" : "disconnected", c->kit.me, what);
    } else if (code == SPIN_ERR_PEER) {
        LOGD(c, "sock: party %d: party %d closed the connection", c->kit.me, peer);
    } else {
        LOGE(c, "sock: party %d: the link to party %d failed: %s", c->kit.me, peer,
             err ? strerror(err) : spin_strerror(code));
    }
    sock_fail_link(c, peer, code);
}

int sock_errno_code(int e)
{
    return e == ECONNRESET || e == EPIPE || e == ECONNABORTED || e == ENOTCONN || e == ETIMEDOUT ||
                   e == EHOSTUNREACH || e == ENETUNREACH
               ? SPIN_ERR_PEER
               : SPIN_ERR_IO;
}

/* Writing to `peer` failed.  A peer that closed or reset the connection
 * may still have sent messages that wait in our socket: only the sends
 * fail, and the link stays readable until its end of stream. */
static void write_failed(sock_comm_t *c, int peer, int e)
{
    sock_peer_t *p = &c->peers[peer];
    int code = sock_errno_code(e);
    if (code != SPIN_ERR_PEER) {
        sock_link_lost(c, peer, code, e);
        return;
    }
    if (p->sq_head)
        LOGE(c, "sock: party %d closed the connection (it closed its communicator or exited) while "
                "party %d was sending message #%llu (tag 0x%x, %zu bytes) to it", peer, c->kit.me,
             (unsigned long long)p->sq_head->kit.seq, p->sq_head->kit.tag, p->sq_head->kit.len);
    p->wdead = 1;
    complete_all(&p->sq_head, &p->sq_tail, SPIN_ERR_PEER);
}

int sock_link_down(sock_comm_t *c, const char *op, int peer)
{
    sock_peer_t *p = &c->peers[peer];
    if (p->broken == SPIN_ERR_PEER)
        LOGE(c, "sock: %s: party %d closed the connection (it closed its communicator or exited)",
             op, peer);
    else
        LOGE(c, "sock: %s: the link to party %d is down after an earlier error (%s)", op, peer,
             spin_strerror(p->broken));
    return p->broken;
}

/* ------------------------------------------------------------------------ */
/* Sending.                                                                 */
/* ------------------------------------------------------------------------ */

/* Write as much of the peer's send queue as the socket takes now. */
static int write_some(sock_comm_t *c, int peer)
{
    sock_peer_t *p = &c->peers[peer];
    struct iovec iov[SOCK_IOV];
    int k = 0;
    for (spin_request_t *r = p->sq_head; r && k + 2 <= SOCK_IOV; r = r->next) {
        size_t off = r->off;
        if (off < SOCK_HDR_LEN) {
            iov[k].iov_base = r->hdr + off;
            iov[k++].iov_len = SOCK_HDR_LEN - off;
            off = SOCK_HDR_LEN;
        }
        if (r->kit.len > off - SOCK_HDR_LEN) {
            iov[k].iov_base = r->buf + (off - SOCK_HDR_LEN);
            iov[k++].iov_len = r->kit.len - (off - SOCK_HDR_LEN);
        }
    }
    if (!k) return 0;
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = (size_t)k;
    ssize_t w = sendmsg(p->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0) {
        int e = errno;
        if (e == EINTR || e == EAGAIN || e == EWOULDBLOCK) return 0;
        write_failed(c, peer, e);
        return RD_FAILED;
    }
    p->last_tx = spin_tkit_now_ms();
    size_t left = (size_t)w;
    spin_request_t *r;
    while (left && (r = p->sq_head)) {
        size_t need = SOCK_HDR_LEN + r->kit.len - r->off;
        if (left < need) {
            r->off += left;
            break;
        }
        left -= need;
        r->off += need;
        SPIN_TKIT_QSHIFT(p->sq_head, p->sq_tail);
        r->kit.done = 1;
        r->kit.status = 0;
    }
    return 1;
}

int sock_isend(void *comm, int peer, uint32_t tag, const void *buf, size_t len,
               spin_request_t **out)
{
    sock_comm_t *c = comm;
    if (!c || !out || (!buf && len)) return SPIN_ERR_INVAL;
    int rc = spin_tkit_check_peer(&c->kit, "send", peer);
    if (rc) return rc;
    sock_peer_t *p = &c->peers[peer];
    if (p->broken) return sock_link_down(c, "send", peer);
    if (p->wdead) {
        LOGE(c, "sock: send: party %d closed the connection (it closed its communicator or exited)",
             peer);
        return SPIN_ERR_PEER;
    }
    spin_request_t *r = sock_req_get(c, 1, peer, tag, p->send_seq, len);
    if (!r) return SPIN_ERR_NOMEM;
    r->buf = (unsigned char *)(uintptr_t)buf;
    spin_tkit_put32(r->hdr, tag);
    spin_tkit_put32(r->hdr + 4, SOCK_DATA_MARK);
    spin_tkit_put64(r->hdr + 8, r->kit.seq);
    spin_tkit_put64(r->hdr + 16, (uint64_t)len);
    if (!p->sq_head) {
        /* Nothing queued before it: try to write it all now. */
        struct iovec iov[2] = {{r->hdr, SOCK_HDR_LEN}, {r->buf, len}};
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = iov;
        mh.msg_iovlen = len ? 2 : 1;
        ssize_t w = sendmsg(p->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w >= 0) {
            r->off = (size_t)w;
            if (r->off == SOCK_HDR_LEN + len) r->kit.done = 1;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            int e = errno;
            req_put(c, r);
            write_failed(c, peer, e);
            if (p->broken) return sock_link_down(c, "send", peer);
            LOGE(c, "sock: send: party %d closed the connection (it closed its communicator or "
                    "exited)", peer);
            return SPIN_ERR_PEER;
        }
    }
    if (!r->kit.done) {
        SPIN_TKIT_QPUSH(p->sq_head, p->sq_tail, r);
    }
    p->send_seq++;
    spin_tkit_count_sent(&c->kit, peer, len);
    *out = r;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Wait.                                                                    */
/* ------------------------------------------------------------------------ */

static void timed_out(sock_comm_t *c, spin_request_t *r)
{
    spin_tkit_log_timeout(&c->kit, r->kit.is_send, r->kit.peer, r->kit.seq, r->kit.tag, r->kit.len,
                          NULL);
    sock_fail_link(c, r->kit.peer, SPIN_ERR_TIMEOUT);
}

/* Progress on every link until r completes.  Returns 0 (r->status says how
 * it completed) or an error of the wait itself. */
static int poll_until(sock_comm_t *c, spin_request_t *r)
{
    sock_peer_t *rp = &c->peers[r->kit.peer];
    double t0 = spin_tkit_now_ms();
    /* The data may be there already: one read instead of poll + read. */
    if (!r->kit.is_send) sock_read_some(c, r->kit.peer, 0);
    while (!r->kit.done) {
        int k = 0;
        for (int j = 0; j < c->kit.n; j++) {
            sock_peer_t *q = &c->peers[j];
            if (j == c->kit.me || q->fd < 0 || q->broken) continue;
            c->pfd[k].fd = q->fd;
            c->pfd[k].events = (short)(POLLIN | (q->sq_head ? POLLOUT : 0));
            c->pfd[k].revents = 0;
            c->pfd_peer[k++] = j;
        }
        double now = spin_tkit_now_ms();
        double last = r->kit.is_send ? rp->last_tx : rp->last_rx;
        if (last < t0) last = t0;
        double left = last + c->kit.timeout_ms - now;
        if (left <= 0) {
            timed_out(c, r);
            break;
        }
        if (!k) {
            LOGE(c, "sock: party %d: internal error: a request waits on no link", c->kit.me);
            return SPIN_ERR_INTERNAL;
        }
        int np = poll(c->pfd, (nfds_t)k, left > 1e9 ? 1000000000 : (int)left + 1);
        if (np < 0) {
            if (errno == EINTR) continue;
            LOGE(c, "sock: party %d: poll failed: %s", c->kit.me, strerror(errno));
            return SPIN_ERR_IO;
        }
        for (int i = 0; i < k && np > 0; i++) {
            short ev = c->pfd[i].revents;
            if (!ev) continue;
            np--;
            int j = c->pfd_peer[i];
            if ((ev & (POLLOUT | POLLERR | POLLHUP)) && c->peers[j].sq_head) write_some(c, j);
            if ((ev & (POLLIN | POLLERR | POLLHUP)) && !c->peers[j].broken) {
                int rc = 2;
                for (int t = 0; rc == 2 && t < SOCK_READS_PER_WAKE; t++) rc = sock_read_some(c, j, 0);
            }
        }
    }
    return 0;
}

int sock_wait(void *comm, spin_request_t *r)
{
    sock_comm_t *c = comm;
    if (!c || !r) return SPIN_ERR_INVAL;
    int rc = 0;
    if (!r->kit.done) {
        sock_peer_t *p = &c->peers[r->kit.peer];
        if (!r->kit.is_send && c->kit.n == 2 && !p->sq_head) {
            /* The only link, nothing to write on it: block in recvmsg().
             * The peer always reads us while it waits, so this cannot
             * deadlock. */
            while (!r->kit.done)
                if (sock_read_some(c, r->kit.peer, 1) == RD_TIMEOUT) timed_out(c, r);
        } else {
            rc = poll_until(c, r);
        }
        /* A wait that failed by itself takes the link down, so that no
         * queue refers to r any more. */
        if (!r->kit.done) sock_fail_link(c, r->kit.peer, rc ? rc : SPIN_ERR_INTERNAL);
    }
    rc = r->kit.status;
    req_put(c, r);
    return rc;
}
