/*
 * sock_rx.c - receiving: posted receives, early messages, parsing, reads.
 *
 * Reads go through a per-peer buffer (SOCK_RXBUF): one recvmsg() may bring
 * several small messages, which are copied out; the rest of a payload of at
 * least SOCK_DIRECT_MIN bytes is read straight into its destination, and a
 * large posted receive (SOCK_HDR_ALONE_MIN) gets its message's header read
 * alone so that the whole payload lands in its buffer without a copy.
 *
 * Receives are matched per peer in the order they were posted; a message
 * that arrives before its receive is posted is read into an early message
 * (malloc'd, or the peer's spare buffer) and copied out when the receive
 * comes (a half-arrived one is redirected: the rest goes straight into the
 * receive's buffer).  A message whose tag, sequence number or length does
 * not match its receive fails that receive with SPIN_ERR_PROTOCOL and is
 * dropped.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "sock_internal.h"

#define LOGE(c, ...) spin_log((c)->kit.log, SPIN_LOG_ERROR, __VA_ARGS__)

void sock_umsg_free(sock_umsg_t *u)
{
    free(u->data);
    free(u);
}

/* Free an early message, keeping its buffer as the peer's spare if it is
 * the larger one. */
void sock_umsg_release(sock_peer_t *p, sock_umsg_t *u)
{
    if (u->data && u->cap <= SOCK_SPARE_MAX && u->cap > p->spare_cap) {
        free(p->spare);
        p->spare = u->data;
        p->spare_cap = u->cap;
        u->data = NULL;
    }
    sock_umsg_free(u);
}

/* ------------------------------------------------------------------------ */
/* Receiving: matching and parsing.                                         */
/* ------------------------------------------------------------------------ */

static void end_msg(sock_comm_t *c, sock_peer_t *p)
{
    p->in_msg = 0;
    if (p->in_req) spin_tkit_req_received(&c->kit, &p->in_req->kit);
    if (p->in_u) p->in_u->complete = 1;
    p->in_req = NULL;
    p->in_u = NULL;
    p->in_dst = NULL;
}

/* A header arrived from `peer`: find the payload's destination. */
static int begin_msg(sock_comm_t *c, int peer, const unsigned char *h)
{
    sock_peer_t *p = &c->peers[peer];
    uint32_t tag = spin_tkit_get32(h), mark = spin_tkit_get32(h + 4);
    uint64_t seq = spin_tkit_get64(h + 8), len = spin_tkit_get64(h + 16);
    if (mark != SOCK_DATA_MARK || len > (uint64_t)(SIZE_MAX / 2)) {
        LOGE(c, "sock: party %d sent a malformed message header (mark 0x%08x, length %llu): the "
                "stream is corrupt", peer, mark, (unsigned long long)len);
        sock_fail_link(c, peer, SPIN_ERR_PROTOCOL);
        return SPIN_ERR_PROTOCOL;
    }
    p->in_msg = 1;
    p->in_left = (size_t)len;
    p->in_dst = NULL;
    p->in_req = NULL;
    p->in_u = NULL;
    spin_request_t *r = p->rq_head;
    if (r) {
        SPIN_TKIT_QSHIFT(p->rq_head, p->rq_tail);
        /* a message that does not fit: its payload is dropped */
        if (spin_tkit_req_fits(&c->kit, &r->kit, tag, seq, len)) {
            p->in_req = r;
            p->in_dst = r->buf;
        }
    } else {
        sock_umsg_t *u = calloc(1, sizeof *u);
        if (u && len && len <= p->spare_cap) {
            u->data = p->spare;
            u->cap = p->spare_cap;
            p->spare = NULL;
            p->spare_cap = 0;
        } else if (u && len) {
            u->data = malloc((size_t)len);
            u->cap = (size_t)len;
        }
        if (!u || (len && !u->data)) {
            free(u);
            LOGE(c, "sock: out of memory queueing a %llu-byte message from party %d",
                 (unsigned long long)len, peer);
            p->in_msg = 0;
            sock_fail_link(c, peer, SPIN_ERR_NOMEM);
            return SPIN_ERR_NOMEM;
        }
        u->tag = tag;
        u->seq = seq;
        u->len = (size_t)len;
        SPIN_TKIT_QPUSH(p->uq_head, p->uq_tail, u);
        p->in_u = u;
        p->in_dst = u->data;
    }
    if (!len) end_msg(c, p);
    return 0;
}

/* Consume what the receive buffer holds. */
static int parse(sock_comm_t *c, int peer)
{
    sock_peer_t *p = &c->peers[peer];
    while (p->rx_beg < p->rx_end) {
        size_t avail = p->rx_end - p->rx_beg;
        if (p->in_msg) {
            size_t k = avail < p->in_left ? avail : p->in_left;
            if (p->in_dst) {
                memcpy(p->in_dst, p->rx + p->rx_beg, k);
                p->in_dst += k;
            }
            p->rx_beg += k;
            p->in_left -= k;
            if (!p->in_left) end_msg(c, p);
        } else {
            if (avail < SOCK_HDR_LEN) break;
            const unsigned char *h = p->rx + p->rx_beg;
            p->rx_beg += SOCK_HDR_LEN;
            int rc = begin_msg(c, peer, h);
            if (rc) return rc;
        }
    }
    if (p->rx_beg == p->rx_end) p->rx_beg = p->rx_end = 0;
    return 0;
}

/*
 * Read from `peer` what is there (blocking: wait for data; SO_RCVTIMEO
 * bounds it).  A payload remainder of at least SOCK_DIRECT_MIN bytes is read
 * straight into its destination (blocking: with MSG_WAITALL and nothing
 * beyond it).  When the first posted receive has at least
 * SOCK_HDR_ALONE_MIN bytes, the next message most likely is its one: its
 * header is read alone, then its payload straight into the receive's buffer
 * (no copy through the receive buffer).  Otherwise the receive buffer is filled, which may bring several
 * small messages at once.  Returns 2 (the read filled what it asked for:
 * more may be waiting), 1 (bytes arrived), 0 (nothing yet), RD_TIMEOUT or
 * RD_FAILED.
 */
int sock_read_some(sock_comm_t *c, int peer, int blocking)
{
    sock_peer_t *p = &c->peers[peer];
    int progressed = 0;
    for (;;) {
        struct iovec iov[2];
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = iov;
        mh.msg_iovlen = 1;
        int flags = blocking ? 0 : MSG_DONTWAIT;
        /* After parse(), a message in its payload phase has nothing buffered. */
        int direct = p->in_msg && p->in_dst && p->in_left >= SOCK_DIRECT_MIN;
        int hdr_only = !p->in_msg && p->rq_head && p->rq_head->kit.len >= SOCK_HDR_ALONE_MIN;
        if (!direct && p->rx_beg) {
            memmove(p->rx, p->rx + p->rx_beg, p->rx_end - p->rx_beg);
            p->rx_end -= p->rx_beg;
            p->rx_beg = 0;
        }
        if (direct) {
            iov[0].iov_base = p->in_dst;
            iov[0].iov_len = p->in_left;
            if (blocking) {
                flags |= MSG_WAITALL;
            } else {
                iov[1].iov_base = p->rx;
                iov[1].iov_len = SOCK_RXBUF;
                mh.msg_iovlen = 2;
            }
        } else if (hdr_only) {
            iov[0].iov_base = p->rx + p->rx_end;
            iov[0].iov_len = SOCK_HDR_LEN - p->rx_end;
            if (blocking) flags |= MSG_WAITALL;
        } else {
            iov[0].iov_base = p->rx + p->rx_end;
            iov[0].iov_len = SOCK_RXBUF - p->rx_end;
        }
        size_t want = iov[0].iov_len + (mh.msg_iovlen == 2 ? iov[1].iov_len : 0);
        ssize_t got = recvmsg(p->fd, &mh, flags);
        if (got > 0) {
            if (!blocking) p->last_rx = spin_tkit_now_ms();
            if (direct) {
                size_t k = (size_t)got < p->in_left ? (size_t)got : p->in_left;
                p->in_dst += k;
                p->in_left -= k;
                p->rx_end = (size_t)got - k;
                if (!p->in_left) end_msg(c, p);
            } else {
                p->rx_end += (size_t)got;
            }
            if (parse(c, peer)) return RD_FAILED;
            progressed = 1;
            if (hdr_only && p->in_msg && p->in_dst && p->in_left >= SOCK_DIRECT_MIN) continue;
            return (size_t)got == want ? 2 : 1;
        }
        if (got == 0) {
            sock_link_lost(c, peer, SPIN_ERR_PEER, 0);
            return RD_FAILED;
        }
        int e = errno;
        if (e == EINTR) return progressed;
        if (e == EAGAIN || e == EWOULDBLOCK) return blocking ? RD_TIMEOUT : progressed;
        sock_link_lost(c, peer, sock_errno_code(e), e);
        return RD_FAILED;
    }
}

int sock_irecv(void *comm, int peer, uint32_t tag, void *buf, size_t len, spin_request_t **out)
{
    sock_comm_t *c = comm;
    if (!c || !out || (!buf && len)) return SPIN_ERR_INVAL;
    int rc = spin_tkit_check_peer(&c->kit, "receive", peer);
    if (rc) return rc;
    sock_peer_t *p = &c->peers[peer];
    /* Invariant: early messages wait only while no receive is posted. */
    sock_umsg_t *u = p->uq_head;
    if (!u && p->broken) return sock_link_down(c, "receive", peer);
    spin_request_t *r = sock_req_get(c, 0, peer, tag, p->recv_seq, len);
    if (!r) return SPIN_ERR_NOMEM;
    p->recv_seq++;
    r->buf = buf;
    if (u) {
        SPIN_TKIT_QSHIFT(p->uq_head, p->uq_tail);
        int arriving = p->in_u == u;
        if (arriving) p->in_u = NULL;
        if (spin_tkit_req_fits(&c->kit, &r->kit, u->tag, u->seq, u->len)) {
            size_t have = arriving ? (size_t)(p->in_dst - u->data) : u->len;
            if (have) memcpy(r->buf, u->data, have);
            if (arriving) { /* the rest goes straight into r's buffer */
                p->in_req = r;
                p->in_dst = r->buf + have;
            } else {
                spin_tkit_req_received(&c->kit, &r->kit);
            }
        } else if (arriving) {
            p->in_dst = NULL; /* drop the rest */
        }
        sock_umsg_release(p, u);
    } else {
        SPIN_TKIT_QPUSH(p->rq_head, p->rq_tail, r);
    }
    *out = r;
    return 0;
}

