/*
 * rdma_internal.h - private structures of the rdma transport plugin.
 *
 * One communicator (rdma_comm_t) per party and open(): one completion queue
 * with its completion channel, and per peer one reliable-connected queue
 * pair, a registered receive ring (the peer writes into it) and a registered
 * send staging area.  Connection data travels over a TCP bootstrap
 * connection per pair, which stays open to notice a peer that goes away.
 * A communicator is used by one thread at a time; there are no helper
 * threads.  Several communicators (parties as threads) can share a process.
 *
 * Files: rdma_plugin.c (descriptor, init: device, port, GID, settings),
 * rdma_conn.c (open/close), rdma_hs.c (bootstrap handshake), rdma_qp.c
 * (queue pairs, endpoints, sockets), rdma_xfer.c (send side, credits,
 * progress, wait), rdma_recv.c (receive side, completions), rdma_mr.c
 * (registered buffers, registration cache).  README.md has the design and
 * the wire format.
 */
#ifndef SPIN_RDMA_INTERNAL_H
#define SPIN_RDMA_INTERNAL_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <infiniband/verbs.h>

#include <spin/plugin.h>

#include "tkit.h"

#define RDMA_MAGIC 0x44525053u      /* "SPRD" read little-endian */
#define RDMA_WIRE_VERSION 1
#define RDMA_HS_LEN 96             /* bootstrap handshake message */
#define RDMA_HDR_LEN 32            /* message header, first piece of a message */
#define RDMA_MAX_PARTIES 4096

/* Bootstrap message types and refusal codes: the kit's (SPIN_TKIT_ST_*:
 * nparties, fingerprint, version, identity) and ours. */
enum { RDMA_HS_HELLO = 1, RDMA_HS_ACK = 2, RDMA_HS_READY = 3 };
enum {
    RDMA_ST_LINK = SPIN_TKIT_ST_OWN, /* InfiniBand on one side, Ethernet on the other */
    RDMA_ST_QP = 6,            /* could not connect the queue pair */
    RDMA_ST_GEOMETRY = 7       /* receive ring size out of range */
};

/* Immediate data of every RDMA WRITE WITH IMMEDIATE (host order here). */
#define RDMA_IMM_CTL (1u << 31)    /* credits only, no payload */
#define RDMA_IMM_FIRST (1u << 30)  /* first piece: the slot starts with a header */
#define RDMA_IMM_CREDIT_SHIFT 16
#define RDMA_IMM_CREDIT_MASK 0x3fffu
#define RDMA_IMM_SLOT_MASK 0xffffu

/* Tunables (see README.md). */
#define RDMA_DEF_CHUNK (256u * 1024u)  /* SPIN_RDMA_CHUNK */
#define RDMA_MIN_CHUNK 4096u
#define RDMA_MAX_CHUNK (64u << 20)
#define RDMA_DEF_SLOTS 16              /* SPIN_RDMA_SLOTS */
#define RDMA_MAX_SLOTS 4096            /* < RDMA_IMM_CREDIT_MASK, slot fits 16 bits */
#define RDMA_CTL_MAX 4                 /* credit-only writes in flight per peer */
#define RDMA_ZCOPY_MIN (1u << 20)      /* sends this large use the registration cache */
#define RDMA_RCACHE_ENTRIES 64
#define RDMA_RCACHE_BYTES ((size_t)4 << 30)
#define RDMA_SPIN_US 20                /* bounded CQ spin before blocking ... */
#define RDMA_SPIN_MIN_CPUS 4           /* ... on machines with this many CPUs */
#define RDMA_SLICE_MS 100              /* longest single block in poll() */
#define RDMA_GONE_GRACE_MS 200         /* after a bootstrap EOF */
#define RDMA_CLOSE_LINGER_MS 2000      /* close(): wait for posted writes */
#define RDMA_MAX_INLINE 64

/* Kinds of work requests, in wr_id bits 28..31; the peer is in bits 32..63. */
enum { RDMA_WR_DATA = 1, RDMA_WR_CTL = 2, RDMA_WR_RECV = 3 };
#define RDMA_WRID(peer, kind) (((uint64_t)(uint32_t)(peer) << 32) | ((uint64_t)(kind) << 28))
#define RDMA_WRID_PEER(id) ((int)((id) >> 32))
#define RDMA_WRID_KIND(id) ((int)(((id) >> 28) & 0xf))

/* How device memory of the compute plugin travels on a communicator
 * (rdma_gpu.c, README.md "GPU memory"). */
enum {
    RDMA_GPU_HOST = 0,         /* the compute plugin's memory is host memory */
    RDMA_GPU_STAGED = 1,       /* the core stages device memory through host buffers */
    RDMA_GPU_DMABUF = 2,       /* device buffers registered with ibv_reg_dmabuf_mr */
    RDMA_GPU_PEERMEM = 3       /* device buffers registered with ibv_reg_mr (nvidia-peermem) */
};
/* SPIN_RDMA_GPUDIRECT */
enum { RDMA_GD_AUTO = 0, RDMA_GD_OFF = 1, RDMA_GD_ON = 2 };

typedef struct ibv_mr *(*rdma_reg_dmabuf_fn)(struct ibv_pd *pd, uint64_t offset, size_t length,
                                            uint64_t iova, int fd, int access);

/* A page-aligned registered buffer. */
typedef struct rdma_buf {
    void *addr;
    size_t size;
    struct ibv_mr *mr;
} rdma_buf_t;

/* Registration cache entry (rdma_mr.c). */
typedef struct rdma_reg {
    struct rdma_reg *prev, *next;      /* LRU list, most recent first */
    uintptr_t start, end;
    struct ibv_mr *mr;
    int refs;
    int dev;                           /* device memory of the compute plugin */
    uint64_t id;                       /* dev: the allocation's id (spin_dmabuf_t) */
} rdma_reg_t;

typedef struct rdma_rcache {
    struct ibv_pd *pd;
    int odp;                           /* register with on-demand paging */
    rdma_reg_t *head, *tail;
    size_t n, bytes;
    uint64_t hits, misses;
} rdma_rcache_t;

typedef struct rdma_state {
    spin_tkit_state_t kit;             /* first: host, log */
    struct ibv_context *ctx;
    struct ibv_pd *pd;
    char dev_name[64];
    uint8_t port;
    uint8_t link_layer;                /* IBV_LINK_LAYER_* */
    uint16_t lid;
    enum ibv_mtu mtu;
    int gid_index;                     /* -1: none (InfiniBand without GRH) */
    union ibv_gid gid;
    struct ibv_device_attr dattr;
    int odp;                           /* on-demand paging for RC writes */
    size_t chunk;                      /* SPIN_RDMA_CHUNK */
    int slots;                         /* SPIN_RDMA_SLOTS */
    int rcache_on;                     /* SPIN_RDMA_REG_CACHE (resolved) */
    int gpudirect;                     /* SPIN_RDMA_GPUDIRECT: RDMA_GD_* */
    rdma_reg_dmabuf_fn reg_dmabuf;     /* libibverbs' ibv_reg_dmabuf_mr, or NULL */
    int peermem;                       /* nvidia-peermem is loaded */
    int nvidia;                        /* the NVIDIA kernel driver is loaded */
} rdma_state_t;

/* A message that arrived (or is arriving) before its receive was posted. */
typedef struct rdma_umsg {
    struct rdma_umsg *next;
    uint32_t tag;
    uint64_t seq, len, have;
    unsigned char *data;               /* len bytes (NULL if len == 0) */
} rdma_umsg_t;

struct rdma_comm;

struct spin_request {
    spin_tkit_req_t kit;       /* first: peer, tag, seq, len, done, status; live list */
    struct rdma_comm *comm;
    struct spin_request *next;           /* peer's send or receive FIFO */
    int dev;                   /* buf is device memory of the compute plugin */
    void *buf;
    /* send */
    int queued;                /* still in the peer's send FIFO */
    int started;               /* first piece posted */
    size_t off;                /* payload bytes posted */
    rdma_reg_t *reg;           /* zero-copy: registration held */
    uint64_t last_piece;       /* zero-copy: done when tx_done > last_piece */
};

/* Bootstrap progress of one link. */
enum {
    RDMA_LS_IDLE = 0,          /* connector: (re)connect at retry_at */
    RDMA_LS_CONNECTING,        /* connector: non-blocking connect() */
    RDMA_LS_WAIT_ACK,          /* connector: HELLO sent */
    RDMA_LS_WAIT_READY,        /* acceptor: ACK sent */
    RDMA_LS_UP
};

typedef struct rdma_peer {
    int id;
    int ls;                    /* RDMA_LS_* */
    int fd;                    /* bootstrap socket, -1 if none */
    double retry_at;           /* connector: next connect attempt (ms) */
    int last_err;              /* connector: errno of the last failed attempt */
    unsigned char hs[RDMA_HS_LEN];
    size_t hs_have;
    struct ibv_qp *qp;
    uint32_t psn;
    rdma_buf_t ring;           /* my slots for this peer's data */
    rdma_buf_t stage;          /* my send staging slots */
    /* the peer's side, from the handshake */
    uint32_t r_qpn, r_psn, r_rkey, r_slots, r_chunk;
    uint16_t r_lid;
    uint8_t r_mtu;
    uint64_t r_addr;
    union ibv_gid r_gid;
    size_t piece;              /* min(my chunk, its chunk) */
    /* flow control */
    uint32_t credits;          /* free slots in its ring */
    uint32_t tx_slot;          /* next slot of its ring */
    uint64_t tx_posted, tx_done;   /* data writes posted / completed */
    uint64_t tx_err_at;        /* index of the first failed data write */
    int ctl_inflight;
    uint32_t rx_next;          /* next slot of my ring it fills */
    uint32_t rx_freed;         /* slots freed, credit not yet returned */
    /* messages */
    uint64_t send_seq, recv_seq;
    spin_request_t *sq_head, *sq_tail;   /* sends not yet fully posted */
    spin_request_t *rq_head, *rq_tail;   /* posted receives */
    rdma_umsg_t *uq_head, *uq_tail;      /* early messages */
    /* message arriving: in_left bytes still to come, into in_req (at
     * in_off) or the early message in_u, or dropped (both NULL) */
    uint64_t in_left;
    spin_request_t *in_req;
    size_t in_off;
    rdma_umsg_t *in_u;
    double last_rx, last_tx;   /* ms: last completion from / for it */
    double gone_at;            /* ms: bootstrap connection closed; 0 if not */
    int qp_err;                /* a work request failed after it closed */
    /* the first failed work completion on this link (for error messages) */
    int wc_failed;             /* 0: none yet */
    enum ibv_wc_status wc_status;
    int wc_kind;               /* RDMA_WR_* */
    uint32_t wc_vendor;
    int broken;                /* 0 or the SPIN_ERR_* that killed the link */
} rdma_peer_t;

typedef struct rdma_comm {
    spin_tkit_comm_t kit;              /* first: me, n, log, timeout, fingerprint, stats */
    rdma_state_t *st;
    struct sockaddr_storage *addr;     /* resolved endpoints (n) */
    socklen_t *addrlen;
    const char *const *eps;            /* valid during open() only */
    int lfd;                           /* listening socket during open() */
    struct ibv_comp_channel *chan;
    struct ibv_cq *cq;
    unsigned unacked;                  /* CQ events not yet acknowledged */
    int max_inline;
    int spin_us;
    struct pollfd *pfd;                /* n entries, for rdma_block */
    rdma_peer_t *peers;
    rdma_rcache_t rc;
    int opened;
    /* GPU memory (rdma_gpu.c) */
    int gpu;                           /* RDMA_GPU_* */
    const char *compute_name;
    const spin_compute_ops_t *cops;    /* the compute plugin, when it has device memory */
    void *cstate;
    int h2d_pending;                   /* device receives copied, not yet synchronised */
    int copy_warned;
    uint64_t dev_sent_reg, dev_sent_copied, dev_recv, dev_regs;
} rdma_comm_t;

#define RDMA_LOGE(c, ...) spin_log((c)->kit.log, SPIN_LOG_ERROR, __VA_ARGS__)
#define RDMA_LOGW(c, ...) spin_log((c)->kit.log, SPIN_LOG_WARN, __VA_ARGS__)
#define RDMA_LOGI(c, ...) spin_log((c)->kit.log, SPIN_LOG_INFO, __VA_ARGS__)
#define RDMA_LOGD(c, ...) spin_log((c)->kit.log, SPIN_LOG_DEBUG, __VA_ARGS__)

/* rdma_plugin.c */
extern const spin_plugin_desc_t rdma_desc;
int rdma_mtu_bytes(int mtu);

/* rdma_mr.c */
int rdma_buf_alloc(struct ibv_pd *pd, size_t size, int remote, rdma_buf_t *b);
void rdma_buf_free(rdma_buf_t *b);
void rdma_rcache_init(rdma_rcache_t *rc, struct ibv_pd *pd, int odp);
int rdma_rcache_get(rdma_rcache_t *rc, const void *addr, size_t len, rdma_reg_t **out);
/* Device memory: the entry for allocation q->id holding [addr, addr + len),
 * else a new one registered by reg(arg, &start, &len) (NULL: failed, errno
 * set).  Entries of other ids over the same addresses are dropped. */
int rdma_rcache_get_dev(rdma_rcache_t *rc, const spin_dmabuf_t *q, const void *addr, size_t len,
                        struct ibv_mr *(*reg)(void *arg, uintptr_t *start, size_t *size),
                        void *arg, rdma_reg_t **out);
void rdma_rcache_put(rdma_rcache_t *rc, rdma_reg_t *r);
void rdma_rcache_destroy(rdma_rcache_t *rc);

/* rdma_qp.c */
int rdma_parse_endpoint(rdma_comm_t *c, int i, int passive);
int rdma_listen(rdma_comm_t *c);
/* Close the listening socket (and remove an ipc:// socket file). */
void rdma_unlisten(rdma_comm_t *c);
int rdma_connect_start(rdma_comm_t *c, rdma_peer_t *p);
int rdma_connect_check(rdma_comm_t *c, rdma_peer_t *p);
int rdma_sock_send(int fd, const unsigned char *m, size_t len);
int rdma_sock_fill(int fd, unsigned char *buf, size_t want, size_t *have);
int rdma_qp_create(rdma_comm_t *c, rdma_peer_t *p);
int rdma_qp_connect(rdma_comm_t *c, rdma_peer_t *p);
int rdma_qp_reset(rdma_comm_t *c, rdma_peer_t *p);
int rdma_post_recvs(rdma_comm_t *c, rdma_peer_t *p, int count);
const char *rdma_wr_kind_str(int kind);
const char *rdma_qp_status(rdma_peer_t *p, char *buf, size_t len);
const char *rdma_verbs_status(rdma_peer_t *p, char *buf, size_t len);

/* rdma_hs.c */
int rdma_handshake(rdma_comm_t *c);

/* rdma_conn.c */
int rdma_open(void *state, const spin_transport_cfg_t *cfg, void **comm);
void rdma_close(void *comm);

/* rdma_xfer.c */
int rdma_bad_peer(rdma_comm_t *c, const char *op, int peer);
int rdma_post_failed(rdma_comm_t *c, rdma_peer_t *p, int err, const char *what);
void rdma_fail_link(rdma_comm_t *c, int peer, int code);
int rdma_progress(rdma_comm_t *c);
int rdma_block(rdma_comm_t *c, int ms);
void rdma_free_requests(rdma_comm_t *c);
int rdma_isend(void *comm, int peer, uint32_t tag, const void *buf, size_t len,
               spin_request_t **req);
int rdma_irecv(void *comm, int peer, uint32_t tag, void *buf, size_t len,
               spin_request_t **req);
int rdma_wait(void *comm, spin_request_t *req);

/* rdma_recv.c */
int rdma_poll_cq(rdma_comm_t *c);

/* rdma_gpu.c */
const char *rdma_gpu_mode_name(int gpu);
void rdma_gpu_detect(rdma_state_t *s);
int rdma_gpu_setting(rdma_state_t *s, const char *v, char *why, size_t whylen);
void rdma_gpu_describe(const rdma_state_t *s);
int rdma_gpu_open(rdma_comm_t *c, const spin_transport_cfg_t *cfg);
void rdma_gpu_close(rdma_comm_t *c);
uint64_t rdma_comm_caps(void *comm);
/* Is [buf, buf + len) device memory (to be handled as such)?  1 or 0. */
int rdma_gpu_is_dev(rdma_comm_t *c, const void *buf, size_t len, spin_dmabuf_t *q);
/* A registration for a device send, or -1 (then the send copies). */
int rdma_gpu_reg(rdma_comm_t *c, const spin_dmabuf_t *q, const void *buf, size_t len,
                 rdma_reg_t **out);
/* Device <-> host copies (synchronous d2h; h2d synchronised by
 * rdma_gpu_sync): 0, or fail the link to p and return the error. */
int rdma_gpu_d2h(rdma_comm_t *c, rdma_peer_t *p, void *dst, const void *src, size_t n);
int rdma_gpu_h2d(rdma_comm_t *c, rdma_peer_t *p, void *dst, const void *src, size_t n);
int rdma_gpu_sync(rdma_comm_t *c);

#endif
