/*
 * rdma_conn.c - open/close of a communicator: settings, completion queue,
 * queue pairs and buffers (rdma_qp.c), the bootstrap handshake (rdma_hs.c);
 * close lets posted writes finish, then tears everything down.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rdma_internal.h"

static void parse_timeout(rdma_comm_t *c, const spin_transport_cfg_t *cfg)
{
    if (cfg->timeout_ms > 0) {
        c->timeout_ms = cfg->timeout_ms;
        c->timeout_src = "timeout setting";
        return;
    }
    c->timeout_ms = 60000;
    c->timeout_src = "SPIN_TIMEOUT";
    const spin_plugin_host_t *h = c->st->host;
    const char *v = h && h->getenv ? h->getenv(h->env_ctx, "SPIN_TIMEOUT") : NULL;
    if (v && *v) {
        char *end;
        double s = strtod(v, &end);
        while (*end == ' ') end++;
        if (*end || !(s > 0) || s > 1e6 || isnan(s))
            RDMA_LOGW(c, "rdma: SPIN_TIMEOUT=\"%s\" is not a positive number of seconds; using 60", v);
        else
            c->timeout_ms = (int)ceil(s * 1000.0);
    }
}

static void destroy(rdma_comm_t *c)
{
    rdma_unlisten(c);
    for (int j = 0; c->peers && j < c->n; j++) {
        rdma_peer_t *p = &c->peers[j];
        if (p->fd >= 0) close(p->fd);
        if (p->qp) ibv_destroy_qp(p->qp);
        p->qp = NULL;
    }
    rdma_free_requests(c);
    for (int j = 0; c->peers && j < c->n; j++) {
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
    free(c);
}

static int outstanding(rdma_comm_t *c)
{
    for (int j = 0; j < c->n; j++) {
        rdma_peer_t *p = &c->peers[j];
        if (j != c->me && !p->broken && !p->qp_err && !p->gone_at &&
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
    if (c->opened && !c->failed && !c->live) {
        int linger = c->timeout_ms < RDMA_CLOSE_LINGER_MS ? c->timeout_ms : RDMA_CLOSE_LINGER_MS;
        double until = rdma_now_ms() + linger;
        while (outstanding(c) && rdma_now_ms() < until) {
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
    for (int i = 0; i <= c->me && !rc; i++) rc = rdma_parse_endpoint(c, i, i == c->me);
    if (rc) return rc;
    c->chan = ibv_create_comp_channel(s->ctx);
    if (!c->chan) {
        RDMA_LOGE(c, "rdma: party %d: creating a completion channel failed: %s", c->me,
                  strerror(errno));
        return SPIN_ERR_IO;
    }
    fcntl(c->chan->fd, F_SETFL, fcntl(c->chan->fd, F_GETFL) | O_NONBLOCK);
    long need = (long)(c->n - 1) * (2L * s->slots + 3 * RDMA_CTL_MAX + 4) + 16;
    if (need > s->dattr.max_cqe) {
        RDMA_LOGE(c, "rdma: %d parties with %d slots each need a completion queue of %ld entries; "
                  "%s allows %d: lower SPIN_RDMA_SLOTS", c->n, s->slots, need, s->dev_name,
                  s->dattr.max_cqe);
        return SPIN_ERR_CONFIG;
    }
    c->cq = ibv_create_cq(s->ctx, (int)need, NULL, c->chan, 0);
    if (!c->cq) {
        RDMA_LOGE(c, "rdma: party %d: creating a completion queue of %ld entries failed: %s", c->me,
                  need, strerror(errno));
        return SPIN_ERR_IO;
    }
    c->max_inline = RDMA_MAX_INLINE;
    for (int j = 0; j < c->n && !rc; j++)
        if (j != c->me) rc = rdma_qp_create(c, &c->peers[j]);
    if (!rc) rc = rdma_listen(c);
    return rc;
}

int rdma_open(void *state, const spin_transport_cfg_t *cfg, void **out)
{
    rdma_state_t *st = state;
    const spin_logger_t *log = st ? st->log : NULL;
    if (!st || !cfg || !out) {
        spin_log(log, SPIN_LOG_ERROR, "rdma: open: NULL argument");
        return SPIN_ERR_INVAL;
    }
    if (cfg->struct_size < offsetof(spin_transport_cfg_t, fingerprint) + sizeof(uint64_t)) {
        spin_log(log, SPIN_LOG_ERROR, "rdma: open: configuration struct too small (%u bytes)",
                 cfg->struct_size);
        return SPIN_ERR_INVAL;
    }
    if (cfg->nparties < 1 || cfg->nparties > RDMA_MAX_PARTIES || cfg->party < 0 ||
        cfg->party >= cfg->nparties) {
        spin_log(log, SPIN_LOG_ERROR, "rdma: open: party %d of %d parties is out of range",
                 cfg->party, cfg->nparties);
        return SPIN_ERR_INVAL;
    }
    if (cfg->key_dir && cfg->key_dir[0]) {
        spin_log(log, SPIN_LOG_ERROR, "rdma: key directory %s given, but RDMA links are not "
                 "encrypted or authenticated: use the tcp plugin (SPIN_BACKEND=tcp) for encrypted "
                 "links, or unset SPIN_KEY_DIR on a trusted fabric", cfg->key_dir);
        return SPIN_ERR_NOTSUP;
    }
    if (!cfg->endpoints) {
        spin_log(log, SPIN_LOG_ERROR, "rdma: open: no endpoint list");
        return SPIN_ERR_CONFIG;
    }
    rdma_comm_t *c = calloc(1, sizeof *c);
    if (!c) return SPIN_ERR_NOMEM;
    c->st = st;
    c->log = log;
    c->me = cfg->party;
    c->n = cfg->nparties;
    c->fingerprint = cfg->fingerprint;
    c->eps = cfg->endpoints;
    c->lfd = -1;
    parse_timeout(c, cfg);
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) >= RDMA_SPIN_MIN_CPUS)
        c->spin_us = RDMA_SPIN_US;
    rdma_rcache_init(&c->rc, st->pd, st->odp);
    c->peers = calloc((size_t)c->n, sizeof *c->peers);
    c->addr = calloc((size_t)c->n, sizeof *c->addr);
    c->addrlen = calloc((size_t)c->n, sizeof *c->addrlen);
    c->pfd = calloc((size_t)c->n, sizeof *c->pfd);
    if (!c->peers || !c->addr || !c->addrlen || !c->pfd) {
        destroy(c);
        return SPIN_ERR_NOMEM;
    }
    for (int j = 0; j < c->n; j++) {
        c->peers[j].id = j;
        c->peers[j].fd = -1;
        c->peers[j].tx_err_at = UINT64_MAX;
    }
    int rc = setup(c);
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
