/*
 * rdma_fake_verbs.c - test double: an in-process libibverbs.so.1, built on
 * `make check` only (fake/.libs).  First in LD_LIBRARY_PATH, it gives the
 * rdma plugin one device, "fake0"; all queue pairs live in this process (the
 * conformance suite runs its parties as threads).  RDMA WRITE WITH IMMEDIATE
 * is a copy into the peer's registered memory with real checks (rkey,
 * bounds, access; local keys abort), in-order delivery, receiver-not-ready
 * waiting, in-order completions, work-queue limits, completion-queue
 * overflow (abort) and a completion channel (a pipe).  A destroyed peer
 * makes writes fail with IBV_WC_RETRY_EXC_ERR, later ones flush.  Only what
 * the plugin uses exists.  It tests the protocol, not a NIC.
 * Env: FAKE_VERBS_NODEV=1 no device; FAKE_VERBS_LL=eth a RoCE port (default
 * InfiniBand); FAKE_VERBS_DELAY_US=N writes land N us after posting (helper
 * thread) instead of inside ibv_post_send; FAKE_VERBS_FAIL_WC=N the N-th
 * write carrying data in this process (counted from 1, from the first
 * ibv_get_device_list that sees this value) is not delivered: it completes
 * with IBV_WC_RETRY_EXC_ERR and its queue pair goes to the error state, as
 * when the peer's NIC stops answering; FAKE_VERBS_MEMLOCK=1 registrations
 * count against RLIMIT_MEMLOCK (ulimit -l) for the whole process and fail
 * with ENOMEM beyond it, as the kernel does for an unprivileged process.
 * ibv_reg_dmabuf_mr maps the dma-buf fd (the emulated GPU's memfd,
 * plugins/cuda/emu) at its offset: the region is addressed by its iova in
 * work requests and read or written through that mapping, as a NIC reads
 * GPU memory; an inline send from such a region aborts (a CPU cannot read
 * device memory at post time).  FAKE_VERBS_DMABUF_FAIL=1 makes it fail with
 * EOPNOTSUPP, as on a NIC or kernel without dma-buf support.
 * ibv_fake_verbs() returns 1: tests use it to know they run on the fake.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct fmr {
    struct ibv_mr mr;
    int access;
    size_t pinned;
    char *host;                /* dma-buf: where iova mr.addr is mapped */
    void *map;                 /* dma-buf: the mapping (maplen bytes) */
    size_t maplen;
    struct fmr *next;
} fmr_t;
static fmr_t *mrs;
static uint32_t next_key = 0x1000;
static size_t pinned_bytes;            /* registered, page-rounded (FAKE_VERBS_MEMLOCK) */
static long fail_wc_at;                /* FAKE_VERBS_FAIL_WC; 0: off */
static long data_writes;               /* writes with data delivered or failed */

typedef struct fcq {
    struct ibv_cq cq;
    struct ibv_wc *wc;
    int cap, head, n;
    int armed;
    int wfd;   /* write end of the channel pipe, -1 if none */
} fcq_t;

typedef struct pend {          /* a posted write */
    struct pend *next;
    uint64_t wr_id, raddr;
    uint32_t imm, rkey;
    int signaled, nsge;
    struct ibv_sge sge[4];
    unsigned char *inl;        /* inline copy */
    size_t len;
    double due;                /* ms */
} pend_t;

typedef struct fqp {
    struct ibv_qp qp;
    struct fqp *next;
    uint32_t dest;
    int max_send, max_recv;
    int sq_out;                /* send WRs not yet polled */
    uint64_t *rq;              /* posted receive wr_ids (ring) */
    int rq_head, rq_n;
    pend_t *ph, *pt;           /* writes not yet delivered */
} fqp_t;
static fqp_t *qps;
static uint32_t next_qpn = 0x100;
static double delay_ms;
static pthread_t deliverer;
static int deliverer_on;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static fqp_t *find_qp(uint32_t qpn)
{
    for (fqp_t *q = qps; q; q = q->next)
        if (q->qp.qp_num == qpn) return q;
    return NULL;
}

static fmr_t *find_key(uint32_t key, int remote)
{
    for (fmr_t *m = mrs; m; m = m->next)
        if ((remote ? m->mr.rkey : m->mr.lkey) == key) return m;
    return NULL;
}

/* Where the process reads or writes address a of region m. */
static uintptr_t host_addr(const fmr_t *m, uint64_t a)
{
    return m->host ? (uintptr_t)m->host + (uintptr_t)(a - (uintptr_t)m->mr.addr) : (uintptr_t)a;
}

static void push_cqe(struct ibv_cq *cq, const struct ibv_wc *wc)
{
    fcq_t *c = (fcq_t *)cq;
    if (c->n >= c->cap) {
        fprintf(stderr, "fake_verbs: CQ overflow (%d entries): the plugin overran its CQ\n", c->cap);
        abort();
    }
    c->wc[(c->head + c->n) % c->cap] = *wc;
    c->n++;
    if (c->armed && c->wfd >= 0) {
        c->armed = 0;
        char b = 1;
        ssize_t w = write(c->wfd, &b, 1);
        (void)w;
    }
}

static void send_cqe(fqp_t *q, pend_t *p, enum ibv_wc_status st)
{
    if (!p->signaled && st == IBV_WC_SUCCESS) {
        q->sq_out--;
        return;
    }
    struct ibv_wc wc = {.wr_id = p->wr_id, .status = st, .opcode = IBV_WC_RDMA_WRITE,
                        .qp_num = q->qp.qp_num};
    push_cqe(q->qp.send_cq, &wc);
}

static void free_pend(pend_t *p)
{
    free(p->inl);
    free(p);
}

static void drop_pending(fqp_t *q)
{
    while (q->ph) {
        pend_t *p = q->ph;
        q->ph = p->next;
        free_pend(p);
    }
    q->pt = NULL;
}

static void qp_error(fqp_t *q, enum ibv_wc_status first)
{
    q->qp.state = IBV_QPS_ERR;
    enum ibv_wc_status st = first;
    while (q->ph) {
        pend_t *p = q->ph;
        q->ph = p->next;
        send_cqe(q, p, st);
        st = IBV_WC_WR_FLUSH_ERR;
        free_pend(p);
    }
    q->pt = NULL;
    while (q->rq_n) {
        struct ibv_wc wc = {.wr_id = q->rq[q->rq_head], .status = IBV_WC_WR_FLUSH_ERR,
                            .qp_num = q->qp.qp_num};
        q->rq_head = (q->rq_head + 1) % q->max_recv;
        q->rq_n--;
        push_cqe(q->qp.recv_cq, &wc);
    }
}

/* Deliver q's pending writes, in order, while the target can take them. */
static void deliver(fqp_t *q)
{
    double now = delay_ms > 0 ? now_ms() : 0;
    while (q->ph && q->qp.state == IBV_QPS_RTS) {
        pend_t *p = q->ph;
        if (delay_ms > 0 && p->due > now) return;
        fqp_t *d = find_qp(q->dest);
        if (!d || (d->qp.state != IBV_QPS_RTR && d->qp.state != IBV_QPS_RTS)) {
            qp_error(q, IBV_WC_RETRY_EXC_ERR);
            return;
        }
        if (d->rq_n == 0) return; /* RNR: wait for a receive */
        if (p->len && fail_wc_at > 0 && ++data_writes == fail_wc_at) {
            /* injected: the peer never acknowledges this write */
            qp_error(q, IBV_WC_RETRY_EXC_ERR);
            return;
        }
        enum ibv_wc_status st = IBV_WC_SUCCESS;
        if (p->len) {
            fmr_t *m = find_key(p->rkey, 1);
            if (!m || !(m->access & IBV_ACCESS_REMOTE_WRITE) || p->raddr < (uintptr_t)m->mr.addr ||
                p->raddr + p->len > (uintptr_t)m->mr.addr + m->mr.length) {
                fprintf(stderr, "fake_verbs: remote access error (rkey %x addr %llx len %zu)\n",
                        p->rkey, (unsigned long long)p->raddr, p->len);
                st = IBV_WC_REM_ACCESS_ERR;
            } else if (p->inl) {
                memcpy((void *)host_addr(m, p->raddr), p->inl, p->len);
            } else {
                size_t off = 0;
                for (int i = 0; i < p->nsge; i++) { /* sge addresses translated at post */
                    memcpy((char *)host_addr(m, p->raddr) + off, (void *)(uintptr_t)p->sge[i].addr,
                           p->sge[i].length);
                    off += p->sge[i].length;
                }
            }
        }
        if (st != IBV_WC_SUCCESS) {
            qp_error(q, st);
            qp_error(d, IBV_WC_REM_ACCESS_ERR);
            return;
        }
        struct ibv_wc wc = {.wr_id = d->rq[d->rq_head], .status = IBV_WC_SUCCESS,
                            .opcode = IBV_WC_RECV_RDMA_WITH_IMM, .wc_flags = IBV_WC_WITH_IMM,
                            .imm_data = p->imm, .byte_len = (uint32_t)p->len,
                            .qp_num = d->qp.qp_num, .src_qp = q->qp.qp_num};
        d->rq_head = (d->rq_head + 1) % d->max_recv;
        d->rq_n--;
        push_cqe(d->qp.recv_cq, &wc);
        send_cqe(q, p, IBV_WC_SUCCESS);
        q->ph = p->next;
        if (!q->ph) q->pt = NULL;
        free_pend(p);
    }
}

static void *deliver_thread(void *arg)
{
    (void)arg;
    for (;;) {
        usleep(20);
        pthread_mutex_lock(&mu);
        for (fqp_t *q = qps; q; q = q->next) deliver(q);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

/* ---- ops ---------------------------------------------------------------- */

static int f_poll_cq(struct ibv_cq *cq, int num, struct ibv_wc *wc)
{
    fcq_t *c = (fcq_t *)cq;
    pthread_mutex_lock(&mu);
    int k = 0;
    while (k < num && c->n) {
        wc[k] = c->wc[c->head];
        c->head = (c->head + 1) % c->cap;
        c->n--;
        fqp_t *q = find_qp(wc[k].qp_num);
        if (q && wc[k].opcode == IBV_WC_RDMA_WRITE) q->sq_out--;
        k++;
    }
    pthread_mutex_unlock(&mu);
    return k;
}

static int f_req_notify(struct ibv_cq *cq, int solicited_only)
{
    (void)solicited_only;
    pthread_mutex_lock(&mu);
    ((fcq_t *)cq)->armed = 1;
    pthread_mutex_unlock(&mu);
    return 0;
}

static int f_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
    fqp_t *q = (fqp_t *)qp;
    pthread_mutex_lock(&mu);
    int rc = 0;
    for (; wr; wr = wr->next) {
        if (qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_ERR) { rc = EINVAL; break; }
        if (wr->opcode != IBV_WR_RDMA_WRITE_WITH_IMM || wr->num_sge > 4) { rc = EINVAL; break; }
        if (q->sq_out >= q->max_send) { /* the plugin overran its send queue */
            fprintf(stderr, "fake_verbs: send queue full (%d)\n", q->max_send);
            abort();
        }
        pend_t *p = malloc(sizeof *p);
        *p = (pend_t){.wr_id = wr->wr_id, .imm = wr->imm_data, .raddr = wr->wr.rdma.remote_addr,
                      .rkey = wr->wr.rdma.rkey, .nsge = wr->num_sge, .due = now_ms() + delay_ms,
                      .signaled = (wr->send_flags & IBV_SEND_SIGNALED) != 0};
        for (int i = 0; i < wr->num_sge; i++) {
            p->sge[i] = wr->sg_list[i];
            p->len += wr->sg_list[i].length;
            if (!(wr->send_flags & IBV_SEND_INLINE)) {
                fmr_t *m = find_key(wr->sg_list[i].lkey, 0);
                if (!m || wr->sg_list[i].addr < (uintptr_t)m->mr.addr ||
                    wr->sg_list[i].addr + wr->sg_list[i].length >
                        (uintptr_t)m->mr.addr + m->mr.length) {
                    fprintf(stderr, "fake_verbs: local protection error (lkey %x)\n",
                            wr->sg_list[i].lkey);
                    abort();
                }
                p->sge[i].addr = host_addr(m, wr->sg_list[i].addr);
            } else {
                fmr_t *m = find_key(wr->sg_list[i].lkey, 0);
                if (m && m->host && wr->sg_list[i].length) {
                    fprintf(stderr, "fake_verbs: inline send from a dma-buf region (device memory: "
                            "the CPU cannot read it at post time)\n");
                    abort();
                }
            }
        }
        if (wr->send_flags & IBV_SEND_INLINE) {
            if (p->len > 64) { free(p); rc = EINVAL; break; }
            p->inl = malloc(p->len ? p->len : 1);
            size_t off = 0;
            for (int i = 0; i < p->nsge; i++) {
                memcpy(p->inl + off, (void *)(uintptr_t)p->sge[i].addr, p->sge[i].length);
                off += p->sge[i].length;
            }
        }
        q->sq_out++;
        if (qp->state == IBV_QPS_ERR) { /* flushed at once */
            send_cqe(q, p, IBV_WC_WR_FLUSH_ERR);
            free_pend(p);
            continue;
        }
        if (q->pt) q->pt->next = p;
        else q->ph = p;
        q->pt = p;
    }
    if (!delay_ms) deliver(q);
    pthread_mutex_unlock(&mu);
    if (rc && bad) *bad = wr;
    return rc;
}

static int f_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
    fqp_t *q = (fqp_t *)qp;
    pthread_mutex_lock(&mu);
    int rc = 0;
    for (; wr; wr = wr->next) {
        if (qp->state == IBV_QPS_RESET) { rc = EINVAL; break; }
        if (q->rq_n >= q->max_recv) { rc = ENOMEM; break; }
        q->rq[(q->rq_head + q->rq_n++) % q->max_recv] = wr->wr_id;
    }
    if (!delay_ms)
        for (fqp_t *s = qps; s; s = s->next)
            if (s->dest == qp->qp_num && s->ph) deliver(s);
    pthread_mutex_unlock(&mu);
    if (rc && bad) *bad = wr;
    return rc;
}

/* ---- exported ------------------------------------------------------------ */

static struct ibv_device fake_dev;

struct ibv_device **ibv_get_device_list(int *num)
{
    const char *nd = getenv("FAKE_VERBS_NODEV");
    const char *d = getenv("FAKE_VERBS_DELAY_US");
    const char *fw = getenv("FAKE_VERBS_FAIL_WC");
    long fail_at = fw ? atol(fw) : 0;
    pthread_mutex_lock(&mu);
    if (fail_at != fail_wc_at) {
        fail_wc_at = fail_at;
        data_writes = 0;
    }
    /* (threads do not survive fork: Check forks a child per test) */
    if (d && deliverer_on != (int)getpid()) {
        delay_ms = atof(d) / 1000.0;
        if (delay_ms > 0 && pthread_create(&deliverer, NULL, deliver_thread, NULL) == 0) {
            pthread_detach(deliverer);
            deliverer_on = (int)getpid();
        }
    }
    pthread_mutex_unlock(&mu);
    struct ibv_device **l = calloc(2, sizeof *l);
    snprintf(fake_dev.name, sizeof fake_dev.name, "fake0");
    snprintf(fake_dev.ibdev_path, sizeof fake_dev.ibdev_path, "/nonexistent/fake0");
    fake_dev.transport_type = IBV_TRANSPORT_IB;
    int none = nd && *nd == '1';
    if (!none) l[0] = &fake_dev;
    if (num) *num = none ? 0 : 1;
    return l;
}

void ibv_free_device_list(struct ibv_device **list) { free(list); }
const char *ibv_get_device_name(struct ibv_device *d) { return d->name; }

struct ibv_context *ibv_open_device(struct ibv_device *d)
{
    struct ibv_context *c = calloc(1, sizeof *c);
    c->device = d;
    c->ops.poll_cq = f_poll_cq;
    c->ops.req_notify_cq = f_req_notify;
    c->ops.post_send = f_post_send;
    c->ops.post_recv = f_post_recv;
    c->num_comp_vectors = 1;
    c->cmd_fd = c->async_fd = -1;
    return c;
}

int ibv_close_device(struct ibv_context *c) { free(c); return 0; }

int ibv_query_device(struct ibv_context *c, struct ibv_device_attr *a)
{
    (void)c;
    memset(a, 0, sizeof *a);
    snprintf(a->fw_ver, sizeof a->fw_ver, "fake");
    a->max_qp = a->max_cq = a->max_mr = 1 << 16;
    a->max_qp_wr = 16384;
    a->max_sge = 30;
    a->max_cqe = 1 << 20;
    a->phys_port_cnt = 1;
    return 0;
}

static int eth(void)
{
    const char *v = getenv("FAKE_VERBS_LL");
    return v && strcmp(v, "eth") == 0;
}

#undef ibv_query_port
int ibv_query_port(struct ibv_context *c, uint8_t port, struct _compat_ibv_port_attr *pa)
{
    (void)c;
    if (port != 1) return EINVAL;
    struct ibv_port_attr *a = (struct ibv_port_attr *)pa;
    memset(a, 0, sizeof *a);
    a->state = IBV_PORT_ACTIVE, a->max_mtu = IBV_MTU_4096;
    a->active_mtu = eth() ? IBV_MTU_1024 : IBV_MTU_4096;
    a->gid_tbl_len = eth() ? 4 : 1;
    a->lid = eth() ? 0 : 7;
    a->link_layer = eth() ? IBV_LINK_LAYER_ETHERNET : IBV_LINK_LAYER_INFINIBAND;
    return 0;
}

const char *ibv_port_state_str(enum ibv_port_state s)
{
    return s == IBV_PORT_ACTIVE ? "ACTIVE" : "DOWN";
}

int ibv_query_gid(struct ibv_context *c, uint8_t port, int idx, union ibv_gid *g)
{
    (void)c, (void)port;
    memset(g, 0, sizeof *g);
    if (eth()) {
        if (idx == 0) { g->raw[0] = 0xfe; g->raw[1] = 0x80; g->raw[15] = 1; return 0; }
        if (idx == 1) { g->raw[10] = g->raw[11] = 0xff; g->raw[12] = 127; g->raw[15] = 1; return 0; }
        if (idx < 4) return 0; /* empty */
        return EINVAL;
    }
    g->raw[0] = 0xfe, g->raw[1] = 0x80, g->raw[15] = 7;
    return idx == 0 ? 0 : EINVAL;
}

struct ibv_pd *ibv_alloc_pd(struct ibv_context *c)
{
    struct ibv_pd *pd = calloc(1, sizeof *pd);
    return pd->context = c, pd;
}

int ibv_dealloc_pd(struct ibv_pd *pd) { free(pd); return 0; }

/* A new region at addr (its own iova) of len bytes, linked into the list;
 * called with mu held. */
static fmr_t *link_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
    fmr_t *m = calloc(1, sizeof *m);
    m->mr.context = pd->context, m->mr.pd = pd, m->mr.addr = addr, m->mr.length = len;
    m->mr.lkey = next_key++;
    m->mr.rkey = next_key++;
    m->access = access;
    m->next = mrs;
    mrs = m;
    return m;
}

#undef ibv_reg_mr
struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
    if (!addr && len) { errno = EINVAL; return NULL; }
    const char *ml = getenv("FAKE_VERBS_MEMLOCK");
    size_t pinned = 0;
    if (ml && *ml == '1' && !(access & IBV_ACCESS_ON_DEMAND)) {
        long ps = sysconf(_SC_PAGESIZE);
        uintptr_t a = (uintptr_t)addr, pg = ps > 0 ? (uintptr_t)ps : 4096;
        pinned = (size_t)(((a + len + pg - 1) / pg - a / pg) * pg);
    }
    struct rlimit rl = {0, 0};
    if (pinned && (getrlimit(RLIMIT_MEMLOCK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)) pinned = 0;
    pthread_mutex_lock(&mu);
    if (pinned && pinned_bytes + pinned > rl.rlim_cur) {
        pthread_mutex_unlock(&mu);
        errno = ENOMEM;
        return NULL;
    }
    fmr_t *m = link_mr(pd, addr, len, access);
    m->pinned = pinned;
    pinned_bytes += pinned;
    pthread_mutex_unlock(&mu);
    return &m->mr;
}

/* What verbs.h calls for non-constant access flags (and references at -O0). */
struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t len, uint64_t iova,
                                unsigned int access)
{
    (void)iova;
    return ibv_reg_mr(pd, addr, len, (int)access);
}

int ibv_dereg_mr(struct ibv_mr *mr)
{
    pthread_mutex_lock(&mu);
    for (fmr_t **pp = &mrs; *pp; pp = &(*pp)->next) {
        if (&(*pp)->mr != mr) continue;
        fmr_t *m = *pp;
        *pp = m->next;
        pinned_bytes -= m->pinned;
        if (m->map) munmap(m->map, m->maplen);
        free(m);
        break;
    }
    pthread_mutex_unlock(&mu);
    return 0;
}

struct ibv_mr *ibv_reg_dmabuf_mr(struct ibv_pd *pd, uint64_t offset, size_t length,
                                 uint64_t iova, int fd, int access)
{
    const char *f = getenv("FAKE_VERBS_DMABUF_FAIL");
    if (f && *f == '1') {
        errno = EOPNOTSUPP;
        return NULL;
    }
    if (fd < 0 || !length) {
        errno = EINVAL;
        return NULL;
    }
    long ps = sysconf(_SC_PAGESIZE);
    uint64_t pg = ps > 0 ? (uint64_t)ps : 4096, skip = offset % pg;
    size_t maplen = (size_t)(skip + length);
    void *map = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)(offset - skip));
    if (map == MAP_FAILED) return NULL; /* errno from mmap */
    pthread_mutex_lock(&mu);
    fmr_t *m = link_mr(pd, (void *)(uintptr_t)iova, length, access);
    m->map = map;
    m->maplen = maplen;
    m->host = (char *)map + skip;
    pthread_mutex_unlock(&mu);
    return &m->mr;
}

int ibv_fake_verbs(void);
int ibv_fake_verbs(void) { return 1; }

typedef struct fchan { struct ibv_comp_channel ch; int wfd; fcq_t *cq; } fchan_t;

struct ibv_comp_channel *ibv_create_comp_channel(struct ibv_context *c)
{
    fchan_t *f = calloc(1, sizeof *f);
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) { free(f); return NULL; }
    f->ch.context = c, f->ch.fd = p[0], f->wfd = p[1];
    return &f->ch;
}

int ibv_destroy_comp_channel(struct ibv_comp_channel *ch)
{
    fchan_t *f = (fchan_t *)ch;
    close(f->ch.fd);
    close(f->wfd);
    free(f);
    return 0;
}

struct ibv_cq *ibv_create_cq(struct ibv_context *c, int cqe, void *ctx,
                             struct ibv_comp_channel *ch, int vec)
{
    (void)vec;
    fcq_t *q = calloc(1, sizeof *q);
    q->cq.context = c, q->cq.channel = ch, q->cq.cq_context = ctx;
    q->cq.cqe = q->cap = cqe;
    q->wc = calloc((size_t)cqe, sizeof *q->wc);
    q->wfd = ch ? ((fchan_t *)ch)->wfd : -1;
    if (ch) ((fchan_t *)ch)->cq = q;
    return &q->cq;
}

int ibv_destroy_cq(struct ibv_cq *cq)
{
    fcq_t *q = (fcq_t *)cq;
    pthread_mutex_lock(&mu);
    for (fqp_t *p = qps; p; p = p->next)
        if (p->qp.send_cq == cq || p->qp.recv_cq == cq) {
            fprintf(stderr, "fake_verbs: destroying a CQ still used by a QP\n");
            abort();
        }
    pthread_mutex_unlock(&mu);
    free(q->wc);
    free(q);
    return 0;
}

int ibv_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq, void **ctx)
{
    fchan_t *f = (fchan_t *)ch;
    char b;
    if (read(ch->fd, &b, 1) != 1) return -1; /* EAGAIN on a non-blocking channel */
    *cq = &f->cq->cq;
    *ctx = f->cq->cq.cq_context;
    return 0;
}

void ibv_ack_cq_events(struct ibv_cq *cq, unsigned int n) { (void)cq; (void)n; }

struct ibv_qp *ibv_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *ia)
{
    if (ia->qp_type != IBV_QPT_RC || ia->cap.max_inline_data > 64 || ia->cap.max_send_sge > 4) {
        errno = EINVAL;
        return NULL;
    }
    fqp_t *q = calloc(1, sizeof *q);
    pthread_mutex_lock(&mu);
    q->qp.context = pd->context, q->qp.pd = pd;
    q->qp.send_cq = ia->send_cq, q->qp.recv_cq = ia->recv_cq;
    q->qp.qp_num = next_qpn++, q->qp.state = IBV_QPS_RESET, q->qp.qp_type = IBV_QPT_RC;
    q->max_send = (int)ia->cap.max_send_wr;
    q->max_recv = (int)ia->cap.max_recv_wr;
    q->rq = calloc((size_t)q->max_recv, sizeof *q->rq);
    q->next = qps;
    qps = q;
    pthread_mutex_unlock(&mu);
    return &q->qp;
}

int ibv_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask)
{
    fqp_t *q = (fqp_t *)qp;
    pthread_mutex_lock(&mu);
    int rc = 0;
    if (mask & IBV_QP_STATE) {
        switch (a->qp_state) {
        case IBV_QPS_RESET:
            q->rq_n = q->sq_out = 0;
            drop_pending(q);
            break;
        case IBV_QPS_INIT:
            if (qp->state != IBV_QPS_RESET && qp->state != IBV_QPS_INIT) rc = EINVAL;
            break;
        case IBV_QPS_RTR:
            if (qp->state != IBV_QPS_INIT || !(mask & IBV_QP_DEST_QPN) || !(mask & IBV_QP_AV)) rc = EINVAL;
            else q->dest = a->dest_qp_num;
            break;
        case IBV_QPS_RTS:
            if (qp->state != IBV_QPS_RTR) rc = EINVAL;
            break;
        default:
            break;
        }
        if (!rc) qp->state = a->qp_state;
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

int ibv_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask, struct ibv_qp_init_attr *ia)
{
    (void)mask;
    pthread_mutex_lock(&mu);
    memset(a, 0, sizeof *a);
    memset(ia, 0, sizeof *ia);
    a->qp_state = a->cur_qp_state = qp->state;
    pthread_mutex_unlock(&mu);
    return 0;
}

int ibv_destroy_qp(struct ibv_qp *qp)
{
    fqp_t *q = (fqp_t *)qp;
    pthread_mutex_lock(&mu);
    for (fqp_t **pp = &qps; *pp; pp = &(*pp)->next)
        if (*pp == q) { *pp = q->next; break; }
    drop_pending(q);
    /* writers waiting for it will never get through */
    for (fqp_t *s = qps; s; s = s->next)
        if (s->dest == qp->qp_num && s->ph && s->qp.state == IBV_QPS_RTS) qp_error(s, IBV_WC_RETRY_EXC_ERR);
    pthread_mutex_unlock(&mu);
    free(q->rq);
    free(q);
    return 0;
}

const char *ibv_wc_status_str(enum ibv_wc_status s)
{
    return s == IBV_WC_SUCCESS          ? "success"
           : s == IBV_WC_RETRY_EXC_ERR  ? "transport retry counter exceeded"
           : s == IBV_WC_WR_FLUSH_ERR   ? "Work Request Flushed Error"
           : s == IBV_WC_REM_ACCESS_ERR ? "remote access error"
                                        : "unknown";
}
