/*
 * rdma_conn.c - open/close of a communicator: completion queue, queue pairs
 * and buffers (rdma_qp.c), the bootstrap handshake (rdma_hs.c); close lets
 * posted writes finish, then tears everything down.  The checks of open()
 * are the kit's (plugins/kit).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rdma_internal.h"

static void destroy(rdma_comm_t *c)
{
    rdma_unlisten(c);
    for (int j = 0; c->peers && j < c->kit.n; j++) {
        rdma_peer_t *p = &c->peers[j];
        if (p->fd >= 0) close(p->fd);
        if (p->qp) ibv_destroy_qp(p->qp);
        p->qp = NULL;
    }
    rdma_free_requests(c);
    for (int j = 0; c->peers && j < c->kit.n; j++) {
        rdma_peer_t *p = &c->peers[j];
        rdma_umsg_t *u = p->uq_head;
        while (u) {
            rdma_umsg_t *nx = u->next;
            free(u->data);
            free(u);
            u = nx;
        }
        rdma_buf_free(&p->ring);
        rdma_buf_free(&p->stage);
    }
    rdma_rcache_destroy(&c->rc);
    if (c->cq) {
        if (c->unacked) ibv_ack_cq_events(c->cq, c->unacked);
        ibv_destroy_cq(c->cq);
    }
    if (c->chan) ibv_destroy_comp_channel(c->chan);
    free(c->pfd);
    free(c->addr);
    free(c->addrlen);
    free(c->peers);
    spin_tkit_comm_free(c);
}

static int outstanding(rdma_comm_t *c)
{
    for (int j = 0; j < c->kit.n; j++) {
        rdma_peer_t *p = &c->peers[j];
        if (j != c->kit.me && !p->broken && !p->qp_err && !p->gone_at &&
            (p->tx_posted != p->tx_done || p->ctl_inflight))
            return 1;
    }
    return 0;
}

void rdma_close(void *comm)
{
    rdma_comm_t *c = comm;
    if (!c) return;
    /* A send completes once its data is copied and posted: let posted
     * writes reach healthy peers, so a party can close right after its last
     * send.  After an error, or with requests never waited for, drop all. */
    if (c->opened && !c->kit.failed && !c->kit.live) {
        int linger = c->kit.timeout_ms < RDMA_CLOSE_LINGER_MS ? c->kit.timeout_ms : RDMA_CLOSE_LINGER_MS;
        double until = spin_tkit_now_ms() + linger;
        while (outstanding(c) && spin_tkit_now_ms() < until) {
            if (rdma_progress(c) != 0) break;
            if (outstanding(c)) rdma_block(c, 10);
        }
    }
    rdma_gpu_close(c);
    destroy(c);
}

/* Endpoints, completion channel and queue, a queue pair per peer, and the
 * listening socket. */
static int setup(rdma_comm_t *c)
{
    rdma_state_t *s = c->st;
    int rc = 0;
    for (int i = 0; i <= c->kit.me && !rc; i++) rc = rdma_parse_endpoint(c, i, i == c->kit.me);
    if (rc) return rc;
    c->chan = ibv_create_comp_channel(s->ctx);
    if (!c->chan) {
        RDMA_LOGE(c, "rdma: party %d: creating a completion channel failed: %s", c->kit.me,
                  strerror(errno));
        return SPIN_ERR_IO;
    }
    fcntl(c->chan->fd, F_SETFL, fcntl(c->chan->fd, F_GETFL) | O_NONBLOCK);
    long need = (long)(c->kit.n - 1) * (2L * s->slots + 3 * RDMA_CTL_MAX + 4) + 16;
    if (need > s->dattr.max_cqe) {
        RDMA_LOGE(c, "rdma: %d parties with %d slots each need a completion queue of %ld entries; "
                  "%s allows %d: lower SPIN_RDMA_SLOTS", c->kit.n, s->slots, need, s->dev_name,
                  s->dattr.max_cqe);
        return SPIN_ERR_CONFIG;
    }
    c->cq = ibv_create_cq(s->ctx, (int)need, NULL, c->chan, 0);
    if (!c->cq) {
        RDMA_LOGE(c, "rdma: party %d: creating a completion queue of %ld entries failed: %s", c->kit.me,
                  need, strerror(errno));
        return SPIN_ERR_IO;
    }
    c->max_inline = RDMA_MAX_INLINE;
    for (int j = 0; j < c->kit.n && !rc; j++)
        if (j != c->kit.me) rc = rdma_qp_create(c, &c->peers[j]);
    if (!rc) rc = rdma_listen(c);
    return rc;
}

int rdma_open(void *state, const spin_transport_cfg_t *cfg, void **out)
{
    int rc = spin_tkit_check(&rdma_desc, state, cfg, out, RDMA_MAX_PARTIES);
    if (rc) return rc;
    rdma_state_t *st = state;
    rdma_comm_t *c = spin_tkit_comm_new(&rdma_desc, &st->kit, cfg, sizeof *c);
    if (!c) return SPIN_ERR_NOMEM;
    c->st = st;
    c->eps = cfg->endpoints;
    c->lfd = -1;
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) >= RDMA_SPIN_MIN_CPUS)
        c->spin_us = RDMA_SPIN_US;
    rdma_rcache_init(&c->rc, st->pd, st->odp);
    c->peers = calloc((size_t)c->kit.n, sizeof *c->peers);
    c->addr = calloc((size_t)c->kit.n, sizeof *c->addr);
    c->addrlen = calloc((size_t)c->kit.n, sizeof *c->addrlen);
    c->pfd = calloc((size_t)c->kit.n, sizeof *c->pfd);
    if (!c->peers || !c->addr || !c->addrlen || !c->pfd) {
        destroy(c);
        return SPIN_ERR_NOMEM;
    }
    for (int j = 0; j < c->kit.n; j++) {
        c->peers[j].id = j;
        c->peers[j].fd = -1;
        c->peers[j].tx_err_at = UINT64_MAX;
    }
    rc = setup(c);
    /* before the handshake: with SPIN_RDMA_GPUDIRECT=on, a party that
     * cannot have it fails here, naming why, and its peers time out */
    if (!rc) rc = rdma_gpu_open(c, cfg);
    if (!rc) rc = rdma_handshake(c);
    if (rc) {
        destroy(c);
        return rc;
    }
    rdma_unlisten(c);
    c->eps = NULL;
    c->opened = 1;
    *out = c;
    return 0;
}
