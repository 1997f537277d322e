/*
 * rdma_recv.c - the receive side: matching pieces with posted receives (or
 * keeping them as early messages), and the completion queue.  See
 * rdma_xfer.c for the protocol.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rdma_internal.h"

static int protocol_error(rdma_comm_t *c, rdma_peer_t *p, const char *what, unsigned long long a,
                          unsigned long long b)
{
    RDMA_LOGE(c, "rdma: party %d broke the wire protocol: %s (%llu, expected %llu)", p->id, what, a,
              b);
    rdma_fail_link(c, p->id, SPIN_ERR_PROTOCOL);
    return SPIN_ERR_PROTOCOL;
}

/* ------------------------------------------------------------------------ */
/* Receiving and matching.                                                  */
/* ------------------------------------------------------------------------ */

/* Match receive r with early message u (the head of the peer's queue). */
static void match_early(rdma_comm_t *c, rdma_peer_t *p, spin_request_t *r, rdma_umsg_t *u)
{
    SPIN_TKIT_QSHIFT(p->uq_head, p->uq_tail);
    int arriving = p->in_u == u;
    if (arriving) p->in_u = NULL; /* later pieces: into r, or dropped */
    if (spin_tkit_req_fits(&c->kit, &r->kit, u->tag, u->seq, u->len)) {
        if (u->have && r->dev) {
            /* synchronised at once: u->data is freed below */
            if (!rdma_gpu_h2d(c, p, r->buf, u->data, u->have)) (void)rdma_gpu_sync(c);
        } else if (u->have) {
            memcpy(r->buf, u->data, u->have);
        }
        if (p->broken) {
            spin_tkit_req_fail(&r->kit, p->broken);
            free(u->data);
            free(u);
            return;
        }
        if (arriving) {
            p->in_req = r;
            p->in_off = u->have;
        } else {
            spin_tkit_req_received(&c->kit, &r->kit);
        }
    }
    free(u->data);
    free(u);
}

int rdma_irecv(void *comm, int peer, uint32_t tag, void *buf, size_t len, spin_request_t **out)
{
    rdma_comm_t *c = comm;
    if (!c || !out || (!buf && len)) return SPIN_ERR_INVAL;
    int rc = rdma_bad_peer(c, "receive", peer);
    if (rc) return rc;
    rdma_peer_t *p = &c->peers[peer];
    spin_request_t *r = calloc(1, sizeof *r);
    if (!r) return SPIN_ERR_NOMEM;
    spin_tkit_req_init(&r->kit, 0, peer, tag, p->recv_seq++, len);
    r->comm = c;
    r->buf = buf;
    spin_dmabuf_t q;
    if (rdma_gpu_is_dev(c, buf, len, &q)) {
        r->dev = 1; /* pieces are copied in with the compute plugin's copy_h2d */
        c->dev_recv++;
    }
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

/* A header arrived: find where its payload goes. */
static void begin_message(rdma_comm_t *c, rdma_peer_t *p, uint32_t tag, uint64_t seq, uint64_t len)
{
    p->in_left = len;
    p->in_req = NULL;
    p->in_u = NULL;
    p->in_off = 0;
    spin_request_t *r = p->rq_head;
    if (r) {
        SPIN_TKIT_QSHIFT(p->rq_head, p->rq_tail);
        /* a message that does not fit: its payload is dropped */
        if (spin_tkit_req_fits(&c->kit, &r->kit, tag, seq, len)) p->in_req = r;
        return;
    }
    rdma_umsg_t *u = calloc(1, sizeof *u);
    if (u && len) u->data = malloc(len);
    if (!u || (len && !u->data)) {
        RDMA_LOGE(c, "rdma: out of memory keeping a %llu-byte message from party %d that arrived "
                  "before its receive", (unsigned long long)len, p->id);
        free(u);
        rdma_fail_link(c, p->id, SPIN_ERR_NOMEM);
        return;
    }
    u->tag = tag;
    u->seq = seq;
    u->len = len;
    SPIN_TKIT_QPUSH(p->uq_head, p->uq_tail, u);
    p->in_u = u;
}

static void deliver(rdma_comm_t *c, rdma_peer_t *p, const unsigned char *d, size_t n)
{
    if (n && p->in_req && p->in_req->dev) {
        /* device memory: synchronised (rdma_gpu_sync) before this slot
         * goes back to the sender as a credit */
        if (rdma_gpu_h2d(c, p, (char *)p->in_req->buf + p->in_off, d, n)) return;
        p->in_off += n;
    } else if (n && p->in_req) {
        memcpy((char *)p->in_req->buf + p->in_off, d, n);
        p->in_off += n;
    } else if (n && p->in_u) {
        memcpy(p->in_u->data + p->in_u->have, d, n);
        p->in_u->have += n;
    }
    p->in_left -= n;
    if (p->in_left == 0) {
        if (p->in_req) spin_tkit_req_received(&c->kit, &p->in_req->kit);
        p->in_req = NULL;
        p->in_u = NULL;
    }
}

/* A write with immediate from peer p landed in my ring. */
static int on_recv(rdma_comm_t *c, rdma_peer_t *p, const struct ibv_wc *wc, double now)
{
    uint32_t imm = ntohl(wc->imm_data);
    p->last_rx = now;
    uint32_t cred = (imm >> RDMA_IMM_CREDIT_SHIFT) & RDMA_IMM_CREDIT_MASK;
    if (cred) {
        p->credits += cred;
        p->last_tx = now;
    }
    if (wc->opcode != IBV_WC_RECV_RDMA_WITH_IMM || !(wc->wc_flags & IBV_WC_WITH_IMM))
        return protocol_error(c, p, "completion of another kind than a write with immediate",
                              wc->opcode, IBV_WC_RECV_RDMA_WITH_IMM);
    if (p->credits > p->r_slots) return protocol_error(c, p, "credits", p->credits, p->r_slots);
    if (imm & RDMA_IMM_CTL) return 0;
    uint32_t slot = imm & RDMA_IMM_SLOT_MASK;
    if (slot != p->rx_next) return protocol_error(c, p, "slot", slot, p->rx_next);
    size_t n = wc->byte_len;
    const unsigned char *d = (const unsigned char *)p->ring.addr + (size_t)slot * c->st->chunk;
    p->rx_next = (slot + 1) % (uint32_t)c->st->slots;
    p->rx_freed++; /* copied out below, before anyone polls again */
    if (imm & RDMA_IMM_FIRST) {
        if (p->in_left) return protocol_error(c, p, "header inside a message", 0, p->in_left);
        if (n < RDMA_HDR_LEN || spin_tkit_get32(d) != RDMA_MAGIC)
            return protocol_error(c, p, "malformed header of length", n, RDMA_HDR_LEN);
        uint64_t len = spin_tkit_get64(d + 24);
        size_t want = len < p->piece - RDMA_HDR_LEN ? (size_t)len : p->piece - RDMA_HDR_LEN;
        if (n - RDMA_HDR_LEN != want) return protocol_error(c, p, "first piece bytes", n, want);
        begin_message(c, p, spin_tkit_get32(d + 8), spin_tkit_get64(d + 16), len);
        if (p->broken) return p->broken;
        d += RDMA_HDR_LEN;
        n -= RDMA_HDR_LEN;
    } else {
        size_t want = p->in_left < p->piece ? (size_t)p->in_left : p->piece;
        if (!p->in_left || n != want) return protocol_error(c, p, "piece bytes", n, want);
    }
    deliver(c, p, d, n);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Completions.                                                             */
/* ------------------------------------------------------------------------ */

static int wc_error_code(enum ibv_wc_status s)
{
    switch (s) {
    case IBV_WC_RETRY_EXC_ERR:
    case IBV_WC_RNR_RETRY_EXC_ERR:
    case IBV_WC_REM_ACCESS_ERR:
    case IBV_WC_REM_OP_ERR:
    case IBV_WC_REM_INV_REQ_ERR:
    case IBV_WC_REM_ABORT_ERR:
    case IBV_WC_WR_FLUSH_ERR:
        return SPIN_ERR_PEER;
    default:
        return SPIN_ERR_IO;
    }
}

/* Has p's bootstrap connection reached end of file? */
static int peer_closed(rdma_peer_t *p, double now)
{
    char b;
    if (!p->gone_at && p->fd >= 0 && recv(p->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
        p->gone_at = now;
    return p->gone_at != 0;
}

static void on_wc(rdma_comm_t *c, const struct ibv_wc *wc, double now)
{
    int peer = RDMA_WRID_PEER(wc->wr_id), kind = RDMA_WRID_KIND(wc->wr_id);
    if (peer < 0 || peer >= c->kit.n || peer == c->kit.me) {
        RDMA_LOGW(c, "rdma: party %d: ignoring a completion of unknown origin (%llx)", c->kit.me,
                  (unsigned long long)wc->wr_id);
        return;
    }
    rdma_peer_t *p = &c->peers[peer];
    if (kind == RDMA_WR_DATA && wc->status != IBV_WC_SUCCESS && p->tx_err_at > p->tx_done)
        p->tx_err_at = p->tx_done;
    if (kind == RDMA_WR_DATA) p->tx_done++;
    else if (kind == RDMA_WR_CTL) p->ctl_inflight--;
    if (wc->status != IBV_WC_SUCCESS) {
        if (!p->wc_failed) {
            p->wc_failed = 1;
            p->wc_status = wc->status;
            p->wc_kind = kind;
            p->wc_vendor = wc->vendor_err;
        }
        if (!p->broken && !p->qp_err && peer_closed(p, now)) {
            /* It closed (or exited).  A data write that fails now did not
             * arrive: that is an error.  A credit return or a flushed
             * receive racing with its close carries no data; waits on it
             * fail as "disconnected" after the grace period, with this
             * status in the message. */
            p->qp_err = 1;
            if (kind == RDMA_WR_DATA)
                RDMA_LOGE(c, "rdma: party %d: a write to party %d failed after it closed its "
                          "connection: %s (vendor error 0x%x): the message did not arrive", c->kit.me,
                          peer, ibv_wc_status_str(wc->status), wc->vendor_err);
            else
                RDMA_LOGI(c, "rdma: party %d: a %s on the link to party %d failed after it "
                          "closed its connection: %s (no data lost)", c->kit.me, rdma_wr_kind_str(kind),
                          peer, ibv_wc_status_str(wc->status));
        } else if (!p->broken && !p->qp_err) {
            char qs[96];
            RDMA_LOGE(c, "rdma: party %d: work completion failed: %s (%s on the link from party %d, "
                      "vendor error 0x%x, %s)", peer, ibv_wc_status_str(wc->status),
                      rdma_wr_kind_str(kind), c->kit.me, wc->vendor_err,
                      rdma_qp_status(p, qs, sizeof qs));
            rdma_fail_link(c, peer, wc_error_code(wc->status));
        }
        return;
    }
    if (kind == RDMA_WR_RECV) {
        if (p->broken || p->qp_err) return;
        (void)on_recv(c, p, wc, now);
        int e = p->broken ? 0 : rdma_post_recvs(c, p, 1);
        if (e) rdma_post_failed(c, p, e, "receive");
    } else {
        p->last_tx = now;
    }
}

int rdma_poll_cq(rdma_comm_t *c)
{
    struct ibv_wc wc[32];
    int total = 0;
    for (;;) {
        int k = ibv_poll_cq(c->cq, 32, wc);
        if (k < 0) {
            RDMA_LOGE(c, "rdma: party %d: polling the completion queue failed", c->kit.me);
            for (int j = 0; j < c->kit.n; j++)
                if (j != c->kit.me) rdma_fail_link(c, j, SPIN_ERR_IO);
            return SPIN_ERR_IO;
        }
        double now = k ? spin_tkit_now_ms() : 0;
        for (int i = 0; i < k; i++) on_wc(c, &wc[i], now);
        total += k;
        if (k < 32) {
            /* device receives are in place before any caller sees them
             * complete and before their slots return as credits */
            int rc = rdma_gpu_sync(c);
            return rc ? rc : total;
        }
    }
}

