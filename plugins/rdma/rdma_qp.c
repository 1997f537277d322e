/*
 * rdma_qp.c - endpoints and bootstrap sockets, and the queue pair of each
 * link: creation (with its receive ring and send staging), the transitions
 * INIT -> RTR -> RTS from the peer's handshake data, receive posting.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rdma_internal.h"

/* ------------------------------------------------------------------------ */
/* Endpoints: rdma://HOST:PORT, HOST a name, an IPv4 address or [IPv6].     */
/* ------------------------------------------------------------------------ */

int rdma_parse_endpoint(rdma_comm_t *c, int i, int passive)
{
    const char *e = c->eps[i];
    if (!e || !*e) {
        RDMA_LOGE(c, "rdma: no endpoint given for party %d", i);
        return SPIN_ERR_CONFIG;
    }
    if (strncmp(e, "rdma://", 7) != 0) {
        RDMA_LOGE(c, "rdma: endpoint \"%s\" of party %d is not rdma://HOST:PORT (the TCP address "
                  "where it takes bootstrap connections); for tcp:// or ipc:// endpoints use the "
                  "tcp plugin (SPIN_BACKEND=tcp)", e, i);
        return SPIN_ERR_CONFIG;
    }
    char host[256];
    const char *hp = e + 7, *colon;
    size_t hl;
    if (*hp == '[') {
        const char *rb = strchr(hp, ']');
        if (!rb || rb[1] != ':') goto bad;
        hl = (size_t)(rb - hp - 1);
        hp++;
        colon = rb + 1;
    } else {
        colon = strrchr(hp, ':');
        if (!colon) goto bad;
        hl = (size_t)(colon - hp);
    }
    if (hl == 0 || hl >= sizeof host) goto bad;
    memcpy(host, hp, hl);
    host[hl] = '\0';
    const char *port = colon + 1;
    char *end;
    long pv = strtol(port, &end, 10);
    if (*port == '\0' || *end || pv < 1 || pv > 65535) goto bad;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0 || !res) {
        RDMA_LOGE(c, "rdma: cannot resolve the host of party %d's endpoint %s: %s", i, e,
                  gai_strerror(g));
        if (res) freeaddrinfo(res);
        return SPIN_ERR_CONFIG;
    }
    memcpy(&c->addr[i], res->ai_addr, res->ai_addrlen);
    c->addrlen[i] = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
bad:
    RDMA_LOGE(c, "rdma: endpoint \"%s\" of party %d is not rdma://HOST:PORT", e, i);
    return SPIN_ERR_CONFIG;
}

static int sock_opts(int fd)
{
    int one = 1;
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) return -1;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

int rdma_listen(rdma_comm_t *c)
{
    const struct sockaddr *a = (const struct sockaddr *)&c->addr[c->me];
    int fd = socket(a->sa_family, SOCK_STREAM, 0);
    int one = 1, e;
    if (fd < 0) goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (sock_opts(fd) != 0 || bind(fd, a, c->addrlen[c->me]) != 0 ||
        listen(fd, c->n + 16) != 0)
        goto fail;
    c->lfd = fd;
    return 0;
fail:
    e = errno;
    if (fd >= 0) close(fd);
    RDMA_LOGE(c, "rdma: party %d cannot listen on %s: %s", c->me, c->eps[c->me], strerror(e));
    return e == EADDRNOTAVAIL || e == EAFNOSUPPORT ? SPIN_ERR_CONFIG : SPIN_ERR_IO;
}

/* Start a non-blocking connect to lower party p; 0, or -1 with errno. */
int rdma_connect_start(rdma_comm_t *c, rdma_peer_t *p)
{
    const struct sockaddr *a = (const struct sockaddr *)&c->addr[p->id];
    int fd = socket(a->sa_family, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (sock_opts(fd) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    p->fd = fd;
    p->hs_have = 0;
    if (connect(fd, a, c->addrlen[p->id]) == 0 || errno == EINPROGRESS) {
        p->ls = RDMA_LS_CONNECTING;
        return 0;
    }
    int e = errno;
    close(fd);
    p->fd = -1;
    errno = e;
    return -1;
}

/* After POLLOUT on a connecting socket: 0 connected, -1 with errno. */
int rdma_connect_check(rdma_comm_t *c, rdma_peer_t *p)
{
    (void)c;
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) err = errno;
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

/* Handshake messages are tiny: one send on a fresh socket takes them. */
int rdma_sock_send(int fd, const unsigned char *m, size_t len)
{
    ssize_t w;
    do {
        w = send(fd, m, len, MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    if (w == (ssize_t)len) return 0;
    if (w >= 0) errno = EAGAIN;
    return -1;
}

/* Read towards `want` bytes: 1 complete, 0 not yet, -1 EOF (errno 0) or
 * error. */
int rdma_sock_fill(int fd, unsigned char *buf, size_t want, size_t *have)
{
    while (*have < want) {
        ssize_t r = recv(fd, buf + *have, want - *have, 0);
        if (r > 0) {
            *have += (size_t)r;
            continue;
        }
        if (r == 0) {
            errno = 0;
            return -1;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -1;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Queue pairs.                                                             */
/* ------------------------------------------------------------------------ */

static int verr(rdma_comm_t *c, rdma_peer_t *p, const char *what)
{
    RDMA_LOGE(c, "rdma: party %d: %s for the link to party %d failed: %s", c->me, what, p->id,
              strerror(errno));
    return errno == ENOMEM ? SPIN_ERR_NOMEM : SPIN_ERR_IO;
}

/* Post `count` receives; 0 or the errno value of the failure. */
int rdma_post_recvs(rdma_comm_t *c, rdma_peer_t *p, int count)
{
    (void)c;
    for (int i = 0; i < count; i++) {
        /* RDMA WRITE WITH IMMEDIATE consumes a receive but writes where the
         * sender says: no scatter list needed. */
        struct ibv_recv_wr wr, *bad = NULL;
        memset(&wr, 0, sizeof wr);
        wr.wr_id = RDMA_WRID(p->id, RDMA_WR_RECV);
        int e = ibv_post_recv(p->qp, &wr, &bad);
        if (e) return e;
    }
    return 0;
}

/* RESET -> INIT, receives posted, a new initial packet sequence number. */
static int qp_init(rdma_comm_t *c, rdma_peer_t *p)
{
    rdma_state_t *s = c->st;
    struct ibv_qp_attr a;
    memset(&a, 0, sizeof a);
    a.qp_state = IBV_QPS_INIT;
    a.pkey_index = 0;
    a.port_num = s->port;
    a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
    if (ibv_modify_qp(p->qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
                                     IBV_QP_ACCESS_FLAGS) != 0)
        return verr(c, p, "moving a queue pair to INIT");
    int e = rdma_post_recvs(c, p, s->slots + 2 * RDMA_CTL_MAX);
    if (e) {
        errno = e;
        return verr(c, p, "posting receives");
    }
    /* Any start value works; vary it so stale packets of an earlier
     * connection are not taken for new ones. */
    uint64_t t = (uint64_t)(rdma_now_ms() * 1000.0);
    p->psn = (uint32_t)((t * 2654435761u) ^ ((uintptr_t)p >> 4) ^ ((uint64_t)p->id << 12)) & 0xffffff;
    p->credits = 0;
    return 0;
}

int rdma_qp_create(rdma_comm_t *c, rdma_peer_t *p)
{
    rdma_state_t *s = c->st;
    size_t ring = (size_t)s->slots * s->chunk;
    int rc = rdma_buf_alloc(s->pd, ring, 1, &p->ring);
    if (rc) {
        if (rc == SPIN_ERR_NOMEM) return rc;
        RDMA_LOGE(c, "rdma: party %d: registering %zu KiB of receive slots for party %d failed: %s "
                  "(raise the locked-memory limit: ulimit -l unlimited)", c->me, ring / 1024,
                  p->id, strerror(errno));
        return SPIN_ERR_IO;
    }
    rc = rdma_buf_alloc(s->pd, ring, 0, &p->stage);
    if (rc) {
        if (rc == SPIN_ERR_NOMEM) return rc;
        RDMA_LOGE(c, "rdma: party %d: registering %zu KiB of send staging for party %d failed: %s "
                  "(raise the locked-memory limit: ulimit -l unlimited)", c->me, ring / 1024,
                  p->id, strerror(errno));
        return SPIN_ERR_IO;
    }
    struct ibv_qp_init_attr ia;
    memset(&ia, 0, sizeof ia);
    ia.send_cq = c->cq;
    ia.recv_cq = c->cq;
    ia.qp_type = IBV_QPT_RC;
    ia.cap.max_send_wr = (uint32_t)(s->slots + RDMA_CTL_MAX + 2);
    ia.cap.max_recv_wr = (uint32_t)(s->slots + 2 * RDMA_CTL_MAX + 2);
    ia.cap.max_send_sge = 2;
    ia.cap.max_recv_sge = 1;
    ia.cap.max_inline_data = (uint32_t)c->max_inline;
    p->qp = ibv_create_qp(s->pd, &ia);
    if (!p->qp && c->max_inline) {
        ia.cap.max_inline_data = 0; /* some devices have no inline sends */
        p->qp = ibv_create_qp(s->pd, &ia);
        if (p->qp) c->max_inline = 0;
    }
    if (!p->qp) return verr(c, p, "creating a queue pair");
    if ((int)ia.cap.max_inline_data < c->max_inline) c->max_inline = (int)ia.cap.max_inline_data;

    return qp_init(c, p);
}

/* Back to a fresh INIT state (the peer went away during the handshake and
 * will connect again with a new queue pair of its own). */
int rdma_qp_reset(rdma_comm_t *c, rdma_peer_t *p)
{
    struct ibv_qp_attr a;
    memset(&a, 0, sizeof a);
    a.qp_state = IBV_QPS_RESET;
    if (ibv_modify_qp(p->qp, &a, IBV_QP_STATE) != 0) return verr(c, p, "resetting a queue pair");
    return qp_init(c, p);
}

/* INIT -> RTR -> RTS with the peer's data (r_* fields). */
int rdma_qp_connect(rdma_comm_t *c, rdma_peer_t *p)
{
    rdma_state_t *s = c->st;
    struct ibv_qp_attr a;
    memset(&a, 0, sizeof a);
    a.qp_state = IBV_QPS_RTR;
    a.path_mtu = s->mtu < (enum ibv_mtu)p->r_mtu ? s->mtu : (enum ibv_mtu)p->r_mtu;
    a.dest_qp_num = p->r_qpn;
    a.rq_psn = p->r_psn;
    a.max_dest_rd_atomic = 1;
    a.min_rnr_timer = 12; /* 0.64 ms */
    a.ah_attr.port_num = s->port;
    a.ah_attr.sl = 0;
    a.ah_attr.src_path_bits = 0;
    if (s->gid_index >= 0) {
        a.ah_attr.is_global = 1;
        a.ah_attr.grh.dgid = p->r_gid;
        a.ah_attr.grh.sgid_index = (uint8_t)s->gid_index;
        a.ah_attr.grh.hop_limit = 64;
    } else {
        a.ah_attr.dlid = p->r_lid;
    }
    if (ibv_modify_qp(p->qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
                                     IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
                                     IBV_QP_MIN_RNR_TIMER) != 0)
        return verr(c, p, "moving the queue pair to RTR");
    memset(&a, 0, sizeof a);
    a.qp_state = IBV_QPS_RTS;
    a.timeout = 14;   /* 4.096 us * 2^14 = 67 ms per try ... */
    a.retry_cnt = 7;  /* ... 7 retries: a vanished peer fails a write in about 0.5 s */
    a.rnr_retry = 7;  /* the peer reposts receives as it polls: wait for it */
    a.sq_psn = p->psn;
    a.max_rd_atomic = 1;
    if (ibv_modify_qp(p->qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
                                     IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC) != 0)
        return verr(c, p, "moving the queue pair to RTS");
    p->piece = s->chunk < p->r_chunk ? s->chunk : p->r_chunk;
    p->credits = p->r_slots;
    return 0;
}
