/*
 * rdma_xfer.c - the data path: pieces, credits, progress, wait.
 *
 * A message travels as pieces of at most `piece` bytes (the smaller chunk
 * size of the two ends), each one RDMA WRITE WITH IMMEDIATE into the next
 * slot of the receiver's ring.  The first piece starts with a 32-byte header
 * {magic, tag, seq, len}.  The immediate says which slot, whether it is a
 * first piece, and returns credits for the sender's own ring.  A sender
 * holds one credit per free slot of the peer's ring; the receiver copies a
 * piece out of its slot as soon as it polls the completion (into the posted
 * receive, or into an early-message buffer), so slots never stay occupied
 * and no exchange pattern can deadlock.  Freed slots go back as credits on
 * the next piece to that peer, or in a credit-only write (no payload) once
 * half the ring is free.
 *
 * Send payloads are copied into registered staging slots (the send is
 * complete once posted); large ones with the registration cache on are
 * written straight from the caller's buffer (complete when written), and
 * so is device memory in the GPUDirect modes (rdma_gpu.c).
 * Progress happens in wait() (and close()), for every peer at once.
 *
 * This file: requests, the send side, progress, blocking and wait();
 * rdma_recv.c: the receive side and completions.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rdma_internal.h"

/* ------------------------------------------------------------------------ */
/* Requests and links.                                                      */
/* ------------------------------------------------------------------------ */

static void release(rdma_comm_t *c, spin_request_t *r)
{
    spin_tkit_req_unlive(&c->kit, &r->kit);
    rdma_rcache_put(&c->rc, r->reg);
    free(r);
}

void rdma_free_requests(rdma_comm_t *c)
{
    while (c->kit.live) release(c, (spin_request_t *)c->kit.live);
}

/* Mark a link dead: every request waiting on it fails with the error. */
void rdma_fail_link(rdma_comm_t *c, int peer, int code)
{
    rdma_peer_t *p = &c->peers[peer];
    c->kit.failed = 1;
    if (!p->broken) p->broken = code;
    for (spin_request_t *r = p->rq_head; r; r = r->next) spin_tkit_req_fail(&r->kit, p->broken);
    p->rq_head = p->rq_tail = NULL;
    for (spin_request_t *r = p->sq_head; r; r = r->next) {
        r->queued = 0;
        spin_tkit_req_fail(&r->kit, p->broken);
    }
    p->sq_head = p->sq_tail = NULL;
    if (p->in_req) spin_tkit_req_fail(&p->in_req->kit, p->broken);
    p->in_req = NULL;
    p->in_u = NULL;
    p->in_left = 0;
}

/* Complete?  Zero-copy sends are when their last write has completed. */
static int complete(rdma_comm_t *c, spin_request_t *r)
{
    if (r->kit.done) return 1;
    rdma_peer_t *p = &c->peers[r->kit.peer];
    if (r->kit.is_send && r->reg && r->started && !r->queued && p->tx_done > r->last_piece) {
        r->kit.done = 1;
        r->kit.status = r->last_piece < p->tx_err_at ? 0 : p->broken ? p->broken : SPIN_ERR_PEER;
        return 1;
    }
    return 0;
}

int rdma_bad_peer(rdma_comm_t *c, const char *op, int peer)
{
    int rc = spin_tkit_check_peer(&c->kit, op, peer);
    if (rc) return rc;
    rdma_peer_t *p = &c->peers[peer];
    if (p->broken) {
        char vs[256];
        RDMA_LOGE(c, "rdma: %s: the link to party %d is down after an earlier error (%s; %s)", op,
                  peer, spin_strerror(p->broken), rdma_verbs_status(p, vs, sizeof vs));
        return p->broken;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Sending.                                                                 */
/* ------------------------------------------------------------------------ */

int rdma_post_failed(rdma_comm_t *c, rdma_peer_t *p, int err, const char *what)
{
    RDMA_LOGE(c, "rdma: party %d: posting a %s to party %d failed: %s", c->kit.me, what, p->id,
              strerror(err));
    rdma_fail_link(c, p->id, SPIN_ERR_IO);
    return -1;
}

/* Post the next piece of send r (resources checked by the caller). */
static int post_piece(rdma_comm_t *c, rdma_peer_t *p, spin_request_t *r)
{
    rdma_state_t *s = c->st;
    int first = !r->started;
    size_t hdr = first ? RDMA_HDR_LEN : 0, cap = p->piece - hdr;
    size_t n = r->kit.len - r->off < cap ? r->kit.len - r->off : cap;
    unsigned char *stg = (unsigned char *)p->stage.addr +
                         (size_t)(p->tx_posted % (uint64_t)s->slots) * s->chunk;
    if (first) {
        memset(stg, 0, RDMA_HDR_LEN);
        spin_tkit_put32(stg, RDMA_MAGIC);
        stg[4] = RDMA_WIRE_VERSION;
        spin_tkit_put32(stg + 8, r->kit.tag);
        spin_tkit_put64(stg + 16, r->kit.seq);
        spin_tkit_put64(stg + 24, (uint64_t)r->kit.len);
    }
    struct ibv_sge sge[2];
    int nsge = 0;
    if (r->reg) {
        if (first) sge[nsge++] = (struct ibv_sge){(uintptr_t)stg, RDMA_HDR_LEN, p->stage.mr->lkey};
        if (n)
            sge[nsge++] = (struct ibv_sge){(uintptr_t)r->buf + r->off, (uint32_t)n,
                                           r->reg->mr->lkey};
    } else {
        if (n && r->dev) {
            if (rdma_gpu_d2h(c, p, stg + hdr, (const char *)r->buf + r->off, n)) return -1;
        } else if (n) {
            memcpy(stg + hdr, (const char *)r->buf + r->off, n);
        }
        sge[nsge++] = (struct ibv_sge){(uintptr_t)stg, (uint32_t)(hdr + n), p->stage.mr->lkey};
    }
    uint32_t cred = p->rx_freed > RDMA_IMM_CREDIT_MASK ? RDMA_IMM_CREDIT_MASK : p->rx_freed;
    uint32_t imm = (first ? RDMA_IMM_FIRST : 0) | cred << RDMA_IMM_CREDIT_SHIFT | p->tx_slot;
    struct ibv_send_wr wr, *bad = NULL;
    memset(&wr, 0, sizeof wr);
    wr.wr_id = RDMA_WRID(p->id, RDMA_WR_DATA);
    wr.sg_list = sge;
    wr.num_sge = nsge;
    wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
    wr.imm_data = htonl(imm);
    /* inline: the CPU reads the scatter list at post time, so never from
     * device memory */
    int inl = hdr + n <= (size_t)c->max_inline && !(r->reg && r->reg->dev && n);
    wr.send_flags = IBV_SEND_SIGNALED | (inl ? IBV_SEND_INLINE : 0);
    wr.wr.rdma.remote_addr = p->r_addr + (uint64_t)p->tx_slot * p->r_chunk;
    wr.wr.rdma.rkey = p->r_rkey;
    int e = ibv_post_send(p->qp, &wr, &bad);
    if (e) return rdma_post_failed(c, p, e, "write");
    p->rx_freed -= cred;
    p->tx_posted++;
    p->credits--;
    p->tx_slot = (p->tx_slot + 1) % p->r_slots;
    r->off += n;
    r->started = 1;
    return 0;
}

/* Post what credits and staging allow, oldest send first. */
static void push_sends(rdma_comm_t *c, rdma_peer_t *p)
{
    spin_request_t *r;
    while (!p->broken && !p->qp_err && (r = p->sq_head)) {
        while (!r->started || r->off < r->kit.len) {
            if (p->credits == 0 || p->tx_posted - p->tx_done >= (uint64_t)c->st->slots) return;
            if (post_piece(c, p, r) != 0) return;
        }
        SPIN_TKIT_QSHIFT(p->sq_head, p->sq_tail);
        r->queued = 0;
        if (r->reg) r->last_piece = p->tx_posted - 1;
        else spin_tkit_req_fail(&r->kit, 0); /* copied: complete */
    }
}

/* Return freed slots in a credit-only write once half the ring is free. */
static void send_credits(rdma_comm_t *c, rdma_peer_t *p)
{
    uint32_t thr = c->st->slots / 2 ? (uint32_t)c->st->slots / 2 : 1;
    if (p->broken || p->qp_err || p->rx_freed < thr || p->ctl_inflight >= RDMA_CTL_MAX) return;
    uint32_t cred = p->rx_freed > RDMA_IMM_CREDIT_MASK ? RDMA_IMM_CREDIT_MASK : p->rx_freed;
    struct ibv_send_wr wr, *bad = NULL;
    memset(&wr, 0, sizeof wr);
    wr.wr_id = RDMA_WRID(p->id, RDMA_WR_CTL);
    wr.num_sge = 0;
    wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
    wr.imm_data = htonl(RDMA_IMM_CTL | cred << RDMA_IMM_CREDIT_SHIFT);
    wr.send_flags = IBV_SEND_SIGNALED;
    wr.wr.rdma.remote_addr = p->r_addr;
    wr.wr.rdma.rkey = p->r_rkey;
    int e = ibv_post_send(p->qp, &wr, &bad);
    if (e) {
        rdma_post_failed(c, p, e, "credit return");
        return;
    }
    p->rx_freed -= cred;
    p->ctl_inflight++;
}

int rdma_isend(void *comm, int peer, uint32_t tag, const void *buf, size_t len,
               spin_request_t **out)
{
    rdma_comm_t *c = comm;
    if (!c || !out || (!buf && len)) return SPIN_ERR_INVAL;
    int rc = rdma_bad_peer(c, "send", peer);
    if (rc) return rc;
    rdma_peer_t *p = &c->peers[peer];
    spin_request_t *r = calloc(1, sizeof *r);
    if (!r) return SPIN_ERR_NOMEM;
    spin_tkit_req_init(&r->kit, 1, peer, tag, p->send_seq++, len);
    r->comm = c;
    r->buf = (void *)(uintptr_t)buf;
    spin_dmabuf_t q;
    if (rdma_gpu_is_dev(c, buf, len, &q)) {
        /* GPUDirect: written straight from device memory (any size: a copy
         * would cost a device-to-host transfer and a synchronisation) */
        r->dev = 1;
        if (rdma_gpu_reg(c, &q, buf, len, &r->reg) == 0) c->dev_sent_reg++;
        else c->dev_sent_copied++;
    } else if (len >= RDMA_ZCOPY_MIN && c->st->rcache_on &&
               rdma_rcache_get(&c->rc, buf, len, &r->reg)) {
        RDMA_LOGD(c, "rdma: registering a %zu-byte send buffer failed (%s): copying instead", len,
                  strerror(errno));
        r->reg = NULL;
    }
    r->queued = 1;
    SPIN_TKIT_QPUSH(p->sq_head, p->sq_tail, r);
    spin_tkit_count_sent(&c->kit, peer, len);
    spin_tkit_req_live(&c->kit, &r->kit);
    push_sends(c, p);
    *out = r;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Progress and blocking.                                                   */
/* ------------------------------------------------------------------------ */

int rdma_progress(rdma_comm_t *c)
{
    int k = rdma_poll_cq(c);
    if (k < 0) return k;
    for (int j = 0; j < c->kit.n; j++) {
        if (j == c->kit.me) continue;
        push_sends(c, &c->peers[j]);
        send_credits(c, &c->peers[j]);
    }
    return 0;
}

/* Sleep until a completion or a bootstrap event arrives, or ms pass. */
int rdma_block(rdma_comm_t *c, int ms)
{
    if (ibv_req_notify_cq(c->cq, 0) != 0) {
        RDMA_LOGE(c, "rdma: party %d: arming the completion queue failed", c->kit.me);
        return SPIN_ERR_IO;
    }
    int k = rdma_poll_cq(c); /* what arrived before arming raises no event */
    if (k) return k < 0 ? k : 0;
    int np = 0;
    c->pfd[np++] = (struct pollfd){c->chan->fd, POLLIN, 0};
    for (int j = 0; j < c->kit.n; j++)
        if (j != c->kit.me && c->peers[j].fd >= 0) c->pfd[np++] = (struct pollfd){c->peers[j].fd, POLLIN, 0};
    if (poll(c->pfd, (nfds_t)np, ms) <= 0) return 0;
    if (c->pfd[0].revents) {
        struct ibv_cq *cq;
        void *ctx;
        while (ibv_get_cq_event(c->chan, &cq, &ctx) == 0) c->unacked++;
        if (c->unacked >= 64) {
            ibv_ack_cq_events(c->cq, c->unacked);
            c->unacked = 0;
        }
    }
    for (int i = 1; i < np; i++) {
        if (!c->pfd[i].revents) continue;
        unsigned char b[64];
        ssize_t r = recv(c->pfd[i].fd, b, sizeof b, 0);
        if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR))) continue;
        for (int j = 0; j < c->kit.n; j++) {
            rdma_peer_t *p = &c->peers[j];
            if (j == c->kit.me || p->fd != c->pfd[i].fd) continue;
            close(p->fd);
            p->fd = -1;
            p->gone_at = spin_tkit_now_ms();
            RDMA_LOGD(c, "rdma: party %d: bootstrap connection of party %d closed", c->kit.me, j);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Wait.                                                                    */
/* ------------------------------------------------------------------------ */

static void unlink_req(rdma_comm_t *c, spin_request_t *r)
{
    rdma_peer_t *p = &c->peers[r->kit.peer];
    if (p->in_req == r) p->in_req = NULL; /* its remaining pieces are dropped */
    spin_request_t **head = r->kit.is_send ? &p->sq_head : &p->rq_head;
    spin_request_t **tail = r->kit.is_send ? &p->sq_tail : &p->rq_tail;
    spin_request_t *prev = NULL;
    for (spin_request_t *q = *head; q; prev = q, q = q->next) {
        if (q != r) continue;
        if (prev) prev->next = q->next;
        else *head = q->next;
        if (*tail == q) *tail = prev;
        q->next = NULL;
        break;
    }
    /* Half a message on the wire: the stream cannot continue. */
    if (r->kit.is_send && r->started && !p->broken) rdma_fail_link(c, r->kit.peer, SPIN_ERR_INTERNAL);
}

static int wait_loop(rdma_comm_t *c, spin_request_t *r)
{
    rdma_peer_t *p = &c->peers[r->kit.peer];
    double t0 = spin_tkit_now_ms();
    double spin_end = t0 + c->spin_us * 1e-3;
    const char *dir = r->kit.is_send ? "our" : "its";
    for (;;) {
        int rc = rdma_progress(c);
        if (rc) return rc;
        if (complete(c, r)) return 0;
        if (p->broken) return p->broken;
        double now = spin_tkit_now_ms();
        char vs[256];
        if (p->gone_at && now - p->gone_at >= RDMA_GONE_GRACE_MS) {
            RDMA_LOGE(c, "rdma: party %d disconnected (it closed its communicator or exited) while "
                      "party %d waited for %s message #%llu (tag 0x%x, %zu bytes); %s", r->kit.peer,
                      c->kit.me, dir, (unsigned long long)r->kit.seq, r->kit.tag, r->kit.len,
                      rdma_verbs_status(p, vs, sizeof vs));
            rdma_fail_link(c, r->kit.peer, SPIN_ERR_PEER);
            return SPIN_ERR_PEER;
        }
        double last = r->kit.is_send ? p->last_tx : p->last_rx;
        if (last < t0) last = t0;
        if (now - last >= c->kit.timeout_ms) {
            char detail[300];
            snprintf(detail, sizeof detail, "%s%s",
                     r->kit.is_send ? ": it is not receiving; " : "; ",
                     rdma_verbs_status(p, vs, sizeof vs));
            spin_tkit_log_timeout(&c->kit, r->kit.is_send, r->kit.peer, r->kit.seq, r->kit.tag,
                                  r->kit.len, detail);
            rdma_fail_link(c, r->kit.peer, SPIN_ERR_TIMEOUT);
            return SPIN_ERR_TIMEOUT;
        }
        if (now < spin_end) continue;
        double wait_ms = last + c->kit.timeout_ms - now;
        if (p->gone_at && p->gone_at + RDMA_GONE_GRACE_MS - now < wait_ms)
            wait_ms = p->gone_at + RDMA_GONE_GRACE_MS - now;
        int ms = (int)ceil(wait_ms);
        if (ms > RDMA_SLICE_MS) ms = RDMA_SLICE_MS;
        if (ms < 1) ms = 1;
        rc = rdma_block(c, ms);
        if (rc) return rc;
    }
}

int rdma_wait(void *comm, spin_request_t *r)
{
    rdma_comm_t *c = comm;
    if (!c || !r) return SPIN_ERR_INVAL;
    int rc = 0;
    if (!complete(c, r)) {
        rc = wait_loop(c, r);
        if (rc && !r->kit.done) unlink_req(c, r);
    }
    if (!rc) rc = r->kit.status;
    release(c, r);
    return rc;
}
