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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
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
    if (strncmp(e, "ipc://", 6) == 0) {
        /* parties on one host: the bootstrap over a Unix-domain socket */
        struct sockaddr_un un;
        memset(&un, 0, sizeof un);
        un.sun_family = AF_UNIX;
        size_t pl = strlen(e + 6);
        if (pl == 0 || pl >= sizeof un.sun_path) {
            RDMA_LOGE(c, "rdma: endpoint \"%s\" of party %d: the socket path must have 1 to %zu bytes",
                      e, i, sizeof un.sun_path - 1);
            return SPIN_ERR_CONFIG;
        }
        memcpy(un.sun_path, e + 6, pl);
        memcpy(&c->addr[i], &un, sizeof un);
        c->addrlen[i] = (socklen_t)sizeof un;
        return 0;
    }
    if (strncmp(e, "rdma://", 7) != 0) {
        RDMA_LOGE(c, "rdma: endpoint \"%s\" of party %d is not rdma://HOST:PORT (the TCP address "
                  "where it takes bootstrap connections) or ipc://PATH (a Unix-domain socket, for "
                  "parties on one host); for tcp:// endpoints use the tcp plugin (SPIN_BACKEND=tcp)",
                  e, i);
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
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on AF_UNIX */
    return 0;
}

int rdma_listen(rdma_comm_t *c)
{
    const struct sockaddr *a = (const struct sockaddr *)&c->addr[c->kit.me];
    int fd = socket(a->sa_family, SOCK_STREAM, 0);
    int one = 1, e;
    if (fd < 0) goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a->sa_family == AF_UNIX) /* a socket file left by an earlier run */
        (void)unlink(((const struct sockaddr_un *)a)->sun_path);
    if (sock_opts(fd) != 0 || bind(fd, a, c->addrlen[c->kit.me]) != 0 ||
        listen(fd, c->kit.n + 16) != 0)
        goto fail;
    c->lfd = fd;
    return 0;
fail:
    e = errno;
    if (fd >= 0) close(fd);
    RDMA_LOGE(c, "rdma: party %d cannot listen on %s: %s", c->kit.me, c->eps[c->kit.me], strerror(e));
    return e == EADDRNOTAVAIL || e == EAFNOSUPPORT ? SPIN_ERR_CONFIG : SPIN_ERR_IO;
}

void rdma_unlisten(rdma_comm_t *c)
{
    if (c->lfd < 0) return;
    close(c->lfd);
    c->lfd = -1;
    const struct sockaddr *a = (const struct sockaddr *)&c->addr[c->kit.me];
    if (a->sa_family == AF_UNIX) (void)unlink(((const struct sockaddr_un *)a)->sun_path);
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
    RDMA_LOGE(c, "rdma: party %d: %s for the link to party %d failed: %s", c->kit.me, what, p->id,
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
    uint64_t t = (uint64_t)(spin_tkit_now_ms() * 1000.0);
    p->psn = (uint32_t)((t * 2654435761u) ^ ((uintptr_t)p >> 4) ^ ((uint64_t)p->id << 12)) & 0xffffff;
    p->credits = 0;
    return 0;
}

/* Registering `bytes` of `what` for the link to p failed with errno err.
 * ENOMEM / EPERM / EAGAIN from ibv_reg_mr mostly mean the locked-memory
 * limit (RLIMIT_MEMLOCK): every registered byte of every party in this
 * process counts against it. */
static int reg_failed(rdma_comm_t *c, rdma_peer_t *p, const char *what, size_t bytes, int err)
{
    rdma_state_t *s = c->st;
    if (err != ENOMEM && err != EPERM && err != EAGAIN) {
        RDMA_LOGE(c, "rdma: party %d: registering %zu KiB of %s for party %d on %s failed: %s",
                  c->kit.me, bytes / 1024, what, p->id, s->dev_name, strerror(err));
        return SPIN_ERR_IO;
    }
    char lim[64] = "unlimited";
    struct rlimit rl;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0)
        snprintf(lim, sizeof lim, "unknown");
    else if (rl.rlim_cur != RLIM_INFINITY)
        snprintf(lim, sizeof lim, "%llu KiB", (unsigned long long)rl.rlim_cur / 1024);
    size_t link = 2 * (size_t)s->slots * s->chunk;
    RDMA_LOGE(c, "rdma: party %d: registering %zu KiB of %s for party %d on %s failed: %s. "
              "Registered memory counts against the locked-memory limit (ulimit -l: %s, for the "
              "whole process); each party locks 2 x SPIN_RDMA_SLOTS x SPIN_RDMA_CHUNK = 2 x %d x "
              "%zu KiB = %zu KiB per peer (%d peers: %zu KiB). Raise the limit (ulimit -l "
              "unlimited, or memlock in /etc/security/limits.conf) or lower SPIN_RDMA_SLOTS / "
              "SPIN_RDMA_CHUNK (e.g. SPIN_RDMA_SLOTS=4 SPIN_RDMA_CHUNK=64K)", c->kit.me, bytes / 1024,
              what, p->id, s->dev_name, strerror(err), lim, s->slots, s->chunk / 1024, link / 1024,
              c->kit.n - 1, link / 1024 * (size_t)(c->kit.n - 1));
    return SPIN_ERR_IO;
}

int rdma_qp_create(rdma_comm_t *c, rdma_peer_t *p)
{
    rdma_state_t *s = c->st;
    size_t ring = (size_t)s->slots * s->chunk;
    int rc = rdma_buf_alloc(s->pd, ring, 1, &p->ring);
    if (rc) return rc == SPIN_ERR_NOMEM ? rc : reg_failed(c, p, "receive slots", ring, errno);
    rc = rdma_buf_alloc(s->pd, ring, 0, &p->stage);
    if (rc) return rc == SPIN_ERR_NOMEM ? rc : reg_failed(c, p, "send staging", ring, errno);
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

const char *rdma_wr_kind_str(int kind)
{
    return kind == RDMA_WR_DATA ? "write" : kind == RDMA_WR_CTL ? "credit return"
           : kind == RDMA_WR_RECV ? "receive" : "work request";
}

static const char *qp_state_str(enum ibv_qp_state st)
{
    switch (st) {
    case IBV_QPS_RESET: return "RESET";
    case IBV_QPS_INIT: return "INIT";
    case IBV_QPS_RTR: return "RTR";
    case IBV_QPS_RTS: return "RTS";
    case IBV_QPS_SQD: return "SQD";
    case IBV_QPS_SQE: return "SQE";
    case IBV_QPS_ERR: return "ERR";
    default: return "unknown";
    }
}

/* "queue pair RTS": the state of p's queue pair, for error messages. */
const char *rdma_qp_status(rdma_peer_t *p, char *buf, size_t len)
{
    struct ibv_qp_attr a;
    struct ibv_qp_init_attr ia;
    int e;
    memset(&a, 0, sizeof a);
    if (!p->qp)
        snprintf(buf, len, "no queue pair");
    else if ((e = ibv_query_qp(p->qp, &a, IBV_QP_STATE, &ia)) != 0)
        snprintf(buf, len, "queue pair state unknown (ibv_query_qp: %s)",
                 strerror(e > 0 ? e : errno));
    else
        snprintf(buf, len, "queue pair %s", qp_state_str(a.qp_state));
    return buf;
}

/* "queue pair RTS, no failed completion" / "queue pair ERR, first failed
 * completion: transport retry counter exceeded (write, vendor error 0x81)":
 * the verbs side of a link, for error messages. */
const char *rdma_verbs_status(rdma_peer_t *p, char *buf, size_t len)
{
    char qs[96];
    rdma_qp_status(p, qs, sizeof qs);
    if (p->wc_failed)
        snprintf(buf, len, "%s, first failed completion: %s (%s, vendor error 0x%x)", qs,
                 ibv_wc_status_str(p->wc_status), rdma_wr_kind_str(p->wc_kind), p->wc_vendor);
    else
        snprintf(buf, len, "%s, no failed completion", qs);
    return buf;
}
