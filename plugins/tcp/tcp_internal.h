/*
 * tcp_internal.h - private structures of the tcp transport plugin (ZeroMQ).
 *
 * One communicator (tcp_comm_t) per party and open(); each has its own ZeroMQ
 * context, so several parties can run as threads of one process.  A
 * communicator is used by one thread at a time (ZeroMQ sockets are not
 * thread-safe); the only other threads that touch it are ZeroMQ's I/O thread
 * (the zero-copy free callback, see tcp_zc_free) and the ZAP thread, which
 * only reads the key table and bumps an atomic counter.
 *
 * Wire format: see README.md.  All integers little-endian.
 */
#ifndef SPIN_TCP_INTERNAL_H
#define SPIN_TCP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include <spin/plugin.h>

#include "tkit.h"

#define TCP_MAGIC 0x4e495053u      /* "SPIN" read little-endian */
#define TCP_WIRE_VERSION 1
#define TCP_HDR_LEN 32             /* every control/data header */

enum { TCP_T_HELLO = 1, TCP_T_ACK = 2, TCP_T_DATA = 3 };

/* ACK status codes (why the lower party refused a HELLO): the kit's
 * (SPIN_TKIT_ST_*: nparties, fingerprint, version, identity) and ours. */
enum { TCP_ACK_AUTH = SPIN_TKIT_ST_OWN };

/* Payloads up to this size travel copied, in the same frame as the header;
 * larger ones follow the header zero-copy, as separate messages of at most
 * TCP_CHUNK bytes each.  Chunking keeps ZeroMQ's receive buffers small
 * enough for malloc to recycle them (a fresh 64 MiB buffer per message costs
 * page faults on every page), and lets the copy out of one chunk overlap the
 * arrival of the next. */
#define TCP_INLINE_MAX (32u * 1024u)
#define TCP_CHUNK (1024u * 1024u)
/* Header flag: the payload follows in chunk messages. */
#define TCP_F_CHUNKED 1u
/* Before it sleeps, a receive polls its socket for this long, but only on
 * machines with at least TCP_SPIN_MIN_CPUS usable CPUs: with fewer, the
 * polling thread takes the CPU away from ZeroMQ's I/O threads, which made
 * round trips slower (measured on 2 cores). */
#define TCP_SPIN_US 20
#define TCP_SPIN_MIN_CPUS 8
/* After a peer's connection drops, messages it sent before are still
 * delivered; a receive from it fails only after this grace period. */
#define TCP_GONE_GRACE_MS 200
/* Longest linger at close for messages still queued to healthy peers. */
#define TCP_CLOSE_LINGER_MS 2000
#define TCP_MAX_PARTIES 4096

/* One received chunk of an early message. */
typedef struct tcp_chunk {
    struct tcp_chunk *next;
    zmq_msg_t msg;
} tcp_chunk_t;

/* A message that arrived (or is arriving) before its receive was posted. */
typedef struct tcp_umsg {
    struct tcp_umsg *next;
    uint32_t tag;
    uint64_t seq, len;
    int chunked;
    zmq_msg_t msg;             /* inline: the frame; payload at data + off */
    size_t off;
    tcp_chunk_t *chunks, *chunks_tail;   /* chunked: what arrived so far */
    uint64_t have;             /* chunked: payload bytes in chunks */
} tcp_umsg_t;

struct tcp_comm;

struct spin_request {
    spin_tkit_req_t kit;       /* first: peer, tag, seq, len, done, status; live list */
    struct tcp_comm *comm;
    struct spin_request *next;           /* posted-receive FIFO of the peer */
    void *buf;
    int zc;                    /* zero-copy send: complete when pending == 0 */
    atomic_long pending;       /* chunks ZeroMQ still holds (free callback) */
};

typedef struct tcp_peer {
    void *dealer;              /* lower peers: my DEALER connected to them */
    void *mon;                 /* monitor of that DEALER */
    char rid[16];              /* higher peers: their routing id */
    size_t rid_len;
    int up;                    /* handshake completed */
    int srcfd;                 /* higher peers: fd of the ROUTER connection */
    uint64_t send_seq;         /* next sequence number I send */
    uint64_t recv_seq;         /* next sequence number I post a receive for */
    spin_request_t *rq_head, *rq_tail;   /* posted receives, in order */
    tcp_umsg_t *uq_head, *uq_tail;       /* early messages, in order */
    /* A chunked message being received: in_left payload bytes still to
     * come, into in_req (at in_off), or into the early message in_u, or
     * dropped (both NULL: it did not match its receive). */
    uint64_t in_left;
    spin_request_t *in_req;
    size_t in_off;
    tcp_umsg_t *in_u;
    double last_heard;         /* ms, monotonic */
    double gone_at;            /* ms; 0 while connected */
    int broken;                /* 0 or the SPIN_ERR_* that killed the link */
    int auth_failed;           /* its CurveZMQ handshake failed */
} tcp_peer_t;

typedef struct tcp_zap {
    void *rep;                 /* inproc://zeromq.zap.01 */
    void *ctl;                 /* PAIR: "stop" from close() */
    int n;
    unsigned char (*bin)[32];  /* binary public key of every party */
    atomic_int refused;        /* connections refused (unknown key) */
} tcp_zap_t;

typedef struct tcp_comm {
    spin_tkit_comm_t kit;      /* first: me, n, log, timeout, fingerprint, stats */
    int spin_us;               /* see TCP_SPIN_US */
    void *ctx;
    void *router;
    void *router_mon;
    int router_dead;
    int evfd;                  /* written by the zero-copy free callback */
    tcp_peer_t *peers;
    zmq_pollitem_t *items;     /* router, dealers (peer order), evfd, monitors */
    int nitems;
    int item_evfd;             /* index of the eventfd in items */
    int opened;                /* open() has completed */
    int router_hs_failed;      /* handshakes that failed on our ROUTER */
    /* CurveZMQ */
    int secure;
    char (*pub)[41];
    char sec[41];
    tcp_zap_t zap;
    pthread_t zap_thread;
    int zap_running;
    int refused_seen;
    void *zap_ctl;             /* my end of the ZAP thread's control pair */
} tcp_comm_t;

/* tcp_plugin.c */
extern const spin_plugin_desc_t tcp_desc;
void tcp_rid(int party, char *out, size_t *len);
int tcp_rid_party(const void *rid, size_t len);

/* tcp_keys.c */
int tcp_keys_load(tcp_comm_t *c, const char *dir);
int tcp_zap_start(tcp_comm_t *c);
void tcp_zap_stop(tcp_comm_t *c);

/* tcp_comm.c */
int tcp_open(void *state, const spin_transport_cfg_t *cfg, void **comm);
void tcp_close(void *comm);
void tcp_fail_link(tcp_comm_t *c, int peer, int code);

/* tcp_io.c */
void tcp_umsg_free(tcp_umsg_t *u);
int tcp_progress(tcp_comm_t *c);
int tcp_process_monitors(tcp_comm_t *c);
int tcp_send_hello(tcp_comm_t *c, int peer, int type, int status);
int tcp_isend(void *comm, int peer, uint32_t tag, const void *buf, size_t len,
              spin_request_t **req);
int tcp_irecv(void *comm, int peer, uint32_t tag, void *buf, size_t len,
              spin_request_t **req);
int tcp_wait(void *comm, spin_request_t *req);

/* handshake hooks (tcp_comm.c), called by the dispatcher in tcp_io.c */
int tcp_on_hello(tcp_comm_t *c, const unsigned char *h, size_t hlen,
                 const void *rid, size_t rid_len, zmq_msg_t *m);
int tcp_on_ack(tcp_comm_t *c, int peer, const unsigned char *h, size_t hlen);

#endif
