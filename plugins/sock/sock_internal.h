/*
 * sock_internal.h - private structures of the sock transport plugin: plain
 * blocking TCP / Unix-domain stream sockets, no I/O threads.
 *
 * One communicator (sock_comm_t) per party and open(); it owns one stream
 * socket per peer and is used by one thread at a time (the caller's: every
 * byte is moved by send/recv/wait on that thread).  No global state, so
 * several parties can run as threads of one process.
 *
 * Wire format: see README.md.  All integers little-endian.
 */
#ifndef SPIN_SOCK_INTERNAL_H
#define SPIN_SOCK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <sys/socket.h>

#include <spin/plugin.h>

#include "tkit.h"

#define SOCK_MAGIC 0x534e5053u        /* "SPNS" read little-endian: handshake */
#define SOCK_DATA_MARK 0x444e5053u    /* "SPND": second word of a data header */
#define SOCK_WIRE_VERSION 1
#define SOCK_T_HELLO 1
#define SOCK_HELLO_LEN 32
#define SOCK_HDR_LEN 24               /* tag u32, mark u32, seq u64, len u64 */
/* Handshake status: the kit's (SPIN_TKIT_ST_*). */

/* Per-peer receive buffer: headers and small payloads are read in bulk into
 * it (one syscall may bring many messages) and copied out; the rest of a
 * payload of at least SOCK_DIRECT_MIN bytes is read straight into its
 * destination. */
#define SOCK_RXBUF (64u * 1024u)
#define SOCK_DIRECT_MIN (8u * 1024u)
/* For a posted receive of at least this size the header is read alone, so
 * that the whole payload goes straight into the receive's buffer: one more
 * system call, one copy less (receiver CPU time per message, measured on
 * loopback and AF_UNIX: worse at 16 KiB, a wash at 64 KiB, 10-15% better
 * from 128 KiB). */
#define SOCK_HDR_ALONE_MIN (96u * 1024u)
/* At most this many iovecs per sendmsg (queued messages go out together). */
#define SOCK_IOV 64
/* Read calls per peer per poll wake-up, so one busy peer cannot starve the
 * others. */
#define SOCK_READS_PER_WAKE 16
/* Connection retries back off from MIN to MAX. */
#define SOCK_RETRY_MIN_MS 10
#define SOCK_RETRY_MAX_MS 200
/* After a fatal handshake error, open() goes on this long at most so that
 * every peer still gets our HELLO (and reports the mismatch itself). */
#define SOCK_GRACE_MS 1000
#define SOCK_MAX_PARTIES 4096
#define SOCK_FREE_REQS 64              /* cached request structures */
/* The buffer of an early message is kept per peer for the next one (up to
 * this size), so a recurring pattern costs no malloc/free (and, for sizes
 * above glibc's mmap threshold, no page faults) per message. */
#define SOCK_SPARE_MAX (8u * 1024u * 1024u)

/* A parsed endpoint. */
typedef struct sock_addr {
    struct sockaddr_storage sa;
    socklen_t len;
    int family;                        /* AF_INET, AF_INET6 or AF_UNIX */
} sock_addr_t;

/* A message that arrived (or is arriving) before its receive was posted. */
typedef struct sock_umsg {
    struct sock_umsg *next;
    uint32_t tag;
    uint64_t seq;
    size_t len;
    unsigned char *data;               /* cap >= len bytes; NULL when len == 0 */
    size_t cap;
    int complete;
} sock_umsg_t;

struct spin_request {
    spin_tkit_req_t kit;               /* first: peer, tag, seq, len, done, status; live list */
    struct spin_request *next;         /* the peer's send or receive queue */
    unsigned char *buf;
    size_t off;                        /* sends: bytes written, header first */
    unsigned char hdr[SOCK_HDR_LEN];   /* sends: the framing header */
};

/* Handshake states of a link to a lower party (we connect to it). */
enum { HS_IDLE = 0, HS_CONNECTING, HS_SEND, HS_REPLY, HS_UP };

typedef struct sock_peer {
    int fd;
    int up;
    int broken;                        /* 0 or the SPIN_ERR_* that ended the link */
    int wdead;                         /* writing failed (peer gone); reads go on */
    uint64_t send_seq;                 /* next sequence number I send */
    uint64_t recv_seq;                 /* next sequence number I post a receive for */
    spin_request_t *sq_head, *sq_tail; /* sends not yet fully written, in order */
    spin_request_t *rq_head, *rq_tail; /* posted receives not yet matched */
    sock_umsg_t *uq_head, *uq_tail;    /* early messages, in order */
    /* The message being received: payload bytes still due (in_left) go to
     * in_dst (NULL: dropped, it did not match its receive), which belongs
     * to in_req or to the early message in_u. */
    int in_msg;
    unsigned char *in_dst;
    size_t in_left;
    spin_request_t *in_req;
    sock_umsg_t *in_u;
    unsigned char *spare;              /* a free early-message buffer, see SOCK_SPARE_MAX */
    size_t spare_cap;
    unsigned char *rx;                 /* SOCK_RXBUF bytes */
    size_t rx_beg, rx_end;
    double last_rx, last_tx;           /* ms, monotonic: last bytes moved */
    /* handshake (open) */
    int hs;                            /* HS_* for lower parties */
    double retry_at;
    int backoff_ms;
    int last_err;                      /* errno of the last failed connect */
    int greeted;                       /* our whole HELLO went out to it once */
    unsigned char hello[SOCK_HELLO_LEN];
    size_t hs_got, hs_sent;
} sock_peer_t;

typedef struct sock_comm {
    spin_tkit_comm_t kit;              /* first: me, n, log, timeout, fingerprint, stats */
    int lfd;                           /* listening socket */
    char *ipc_path;                    /* our bound ipc:// path, unlinked at close */
    sock_peer_t *peers;
    struct pollfd *pfd;                /* n entries */
    int *pfd_peer;
    spin_request_t *free_reqs;
    int nfree;
} sock_comm_t;

/* sock_plugin.c */
extern const spin_plugin_desc_t sock_desc;
int sock_parse_endpoint(const char *ep, int passive, sock_addr_t *out, char *why, size_t whylen);

/* sock_open.c */
int sock_open(void *state, const spin_transport_cfg_t *cfg, void **comm);
void sock_close(void *comm);

/* sock_hs.c */
int sock_handshake(sock_comm_t *c, const char *const *eps, const sock_addr_t *addr);

/* sock_io.c */
spin_request_t *sock_req_get(sock_comm_t *c, int is_send, int peer, uint32_t tag, uint64_t seq,
                             size_t len);
void sock_fail_link(sock_comm_t *c, int peer, int code);
void sock_link_lost(sock_comm_t *c, int peer, int code, int err);
int sock_errno_code(int e);
int sock_link_down(sock_comm_t *c, const char *op, int peer);
int sock_isend(void *comm, int peer, uint32_t tag, const void *buf, size_t len,
               spin_request_t **req);
int sock_wait(void *comm, spin_request_t *req);

/* sock_rx.c: sock_read_some() returns 2 (it got all it asked for: more may
 * be waiting), 1 (bytes arrived), 0 (nothing yet) or one of these. */
#define RD_FAILED (-1)   /* the link failed (p->broken is set) */
#define RD_TIMEOUT (-2)  /* a blocking read hit SO_RCVTIMEO */
int sock_read_some(sock_comm_t *c, int peer, int blocking);
void sock_umsg_free(sock_umsg_t *u);
void sock_umsg_release(sock_peer_t *p, sock_umsg_t *u);
int sock_irecv(void *comm, int peer, uint32_t tag, void *buf, size_t len,
               spin_request_t **req);

#endif
