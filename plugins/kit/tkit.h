/*
 * tkit.h - the transport kit: the scaffolding that the tcp, sock and rdma
 * transport plugins share (after libfabric's prov/util), so each plugin
 * keeps only what is its own.  README.md says what lives here.
 *
 * libspin_tkit.la is a libtool convenience library: its objects are linked
 * into each transport plugin, compiled with -fvisibility=hidden (and every
 * declaration here is hidden), so a plugin still exports only
 * spin_plugin_query().  It uses libc and spin/plugin.h only (spin_log and
 * spin_strerror come from libspin, which every plugin links).
 *
 * Conventions of a kit transport:
 *   - its plugin state starts with a spin_tkit_state_t (init: spin_tkit_init
 *     or spin_tkit_state_new), its communicator with a spin_tkit_comm_t
 *     (open: spin_tkit_check, then spin_tkit_comm_new), its requests
 *     (struct spin_request) with a spin_tkit_req_t;
 *   - its descriptor names its endpoint schemes, and its ops table may use
 *     spin_tkit_send / spin_tkit_recv (isend or irecv, then wait) and
 *     spin_tkit_stats directly;
 *   - its handshake message starts with the common HELLO fields
 *     (SPIN_TKIT_HELLO_LEN bytes, below), checked by spin_tkit_hello_verify
 *     on both ends of every link;
 *   - it has one timeout, spin_tkit_comm_t.timeout_ms (> 0), and names the
 *     knob SPIN_TIMEOUT in its timeout errors.
 * All integers on the wire are little-endian (spin_tkit_put* / get*).
 */
#ifndef SPIN_TKIT_H
#define SPIN_TKIT_H

#include <stddef.h>
#include <stdint.h>

#include <spin/plugin.h>

#if defined(__GNUC__)
#define SPIN_TKIT_API __attribute__((visibility("hidden")))
#else
#define SPIN_TKIT_API
#endif

/** What a timeout of cfg->timeout_ms <= 0 means (a test harness, say). */
#define SPIN_TKIT_DEFAULT_TIMEOUT_MS 60000

/* ------------------------------------------------------------------------ */
/* Little-endian integers.                                                  */
/* ------------------------------------------------------------------------ */

static inline void spin_tkit_put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static inline void spin_tkit_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline void spin_tkit_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint16_t spin_tkit_get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t spin_tkit_get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static inline uint64_t spin_tkit_get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/** Monotonic clock, in ms. */
SPIN_TKIT_API double spin_tkit_now_ms(void);

/* ------------------------------------------------------------------------ */
/* Plugin state and communicator (tkit_cfg.c).                              */
/* ------------------------------------------------------------------------ */

/** The first member of a kit transport's plugin state. */
typedef struct spin_tkit_state {
    const spin_plugin_host_t *host;
    const spin_logger_t *log;
} spin_tkit_state_t;

/** size bytes, zeroed, starting with a spin_tkit_state_t taken from host;
 *  NULL, with "out of memory" in why, if there is no memory. */
SPIN_TKIT_API void *spin_tkit_state_new(const spin_plugin_host_t *host, size_t size, char *why,
                                        size_t whylen);
/** init() and fini() of a transport whose state is just that. */
SPIN_TKIT_API int spin_tkit_init(const spin_plugin_host_t *host, void **state, char *why,
                                 size_t whylen);
SPIN_TKIT_API void spin_tkit_fini(void *state);

/** The first member of a kit transport's request (struct spin_request):
 *  what every transport keeps of a send or receive (tkit_req.c). */
typedef struct spin_tkit_req {
    struct spin_tkit_req *lprev, *lnext; /**< the communicator's live list */
    int is_send;
    int peer;
    uint32_t tag;
    uint64_t seq;                    /**< per direction, per peer */
    size_t len;
    int done;                        /**< completed: status is valid */
    int status;
} spin_tkit_req_t;

/** The first member of a kit transport's communicator: who we are on it
 *  (filled by spin_tkit_comm_new, constant until close), the counters and
 *  the requests not yet released. */
typedef struct spin_tkit_comm {
    const spin_plugin_desc_t *desc;  /**< the transport: name, schemes, ops */
    const char *name;                /**< desc->name: the prefix of its messages */
    const spin_logger_t *log;
    int me, n;                       /**< my party id, the number of parties */
    int timeout_ms;                  /**< > 0: cfg->timeout_ms, or the default */
    uint64_t fingerprint;
    spin_transport_stats_t *stats;   /**< n counters, by peer */
    spin_tkit_req_t *live;           /**< every request not yet released by wait() */
    int failed;                      /**< a link or message failed: close() lingers not */
} spin_tkit_comm_t;

/**
 * The checks of open() before anything is allocated: no NULL argument,
 * cfg->struct_size at least SPIN_TRANSPORT_CFG_SIZE_1_0, 2 <= nprocs <=
 * max_parties, 0 <= party < nparties, an endpoint list with an endpoint for
 * every party whose scheme desc->endpoint_schemes names, and no key_dir
 * when desc->caps lacks SPIN_CAP_TRANSPORT_SECURE.  0, or the error, logged
 * with the transport, the party and the remedy.
 */
SPIN_TKIT_API int spin_tkit_check(const spin_plugin_desc_t *desc, const spin_tkit_state_t *st,
                                  const spin_transport_cfg_t *cfg, void *const *out,
                                  int max_parties);
/** A communicator of size bytes, zeroed, whose first member (a
 *  spin_tkit_comm_t) is filled from cfg (checked by spin_tkit_check): the
 *  timeout is cfg->timeout_ms when > 0, else SPIN_TKIT_DEFAULT_TIMEOUT_MS.
 *  NULL if there is no memory.  spin_tkit_comm_free frees it, with the
 *  requests still in its live list (malloc'd, starting with their
 *  spin_tkit_req_t: cancelled). */
SPIN_TKIT_API void *spin_tkit_comm_new(const spin_plugin_desc_t *desc, const spin_tkit_state_t *st,
                                       const spin_transport_cfg_t *cfg, size_t size);
SPIN_TKIT_API void spin_tkit_comm_free(void *comm);

/** peer is another party of this communicator: 0, or SPIN_ERR_INVAL,
 *  logged with op ("send", "receive"). */
SPIN_TKIT_API int spin_tkit_check_peer(const spin_tkit_comm_t *k, const char *op, int peer);

/* ------------------------------------------------------------------------ */
/* The common HELLO fields (tkit_hello.c).                                  */
/* ------------------------------------------------------------------------ */

/*
 * Every kit transport's handshake message starts with these 24 bytes:
 *   0-3 magic (the transport's)   4 type   5 wire version   6 status
 *   7 the transport's own (rdma: link layer; else 0)
 *   8-11 sender's party id   12-15 nparties   16-23 fingerprint
 */
#define SPIN_TKIT_HELLO_LEN 24

typedef struct spin_tkit_hello {
    uint32_t magic;
    unsigned type, version, status, extra;
    uint32_t party, nparties;
    uint64_t fingerprint;
} spin_tkit_hello_t;

/** Status of an answer: why a party refused the other's HELLO.  Values from
 *  SPIN_TKIT_ST_OWN on are the transport's own. */
enum {
    SPIN_TKIT_ST_OK = 0,
    SPIN_TKIT_ST_NPARTIES = 1,
    SPIN_TKIT_ST_FINGERPRINT = 2,
    SPIN_TKIT_ST_VERSION = 3,
    SPIN_TKIT_ST_IDENTITY = 4,
    SPIN_TKIT_ST_OWN = 5
};

/** Write our fields (party, nparties, fingerprint of k; extra 0) into the
 *  first SPIN_TKIT_HELLO_LEN bytes of m. */
SPIN_TKIT_API void spin_tkit_hello_encode(const spin_tkit_comm_t *k, unsigned char *m,
                                          uint32_t magic, unsigned type, unsigned version,
                                          unsigned status);
/** Read the fields from the first SPIN_TKIT_HELLO_LEN bytes of m. */
SPIN_TKIT_API void spin_tkit_hello_decode(const unsigned char *m, spin_tkit_hello_t *h);
/**
 * Compare a peer's fields with ours (the one check of N, f and the build
 * since ABI 1.2, done on both ends of every link).  expect >= 0: h answers
 * us at the endpoint of party expect; -1: h arrived at our endpoint, from
 * a party above us.  Checks the wire version, the fingerprint (naming the
 * part that differs in the core's layout, SPIN_FP_*), nparties and the
 * sender's identity.  Returns SPIN_TKIT_ST_OK, or the status to answer
 * with, having logged why, naming the peer.
 */
SPIN_TKIT_API int spin_tkit_hello_verify(const spin_tkit_comm_t *k, const spin_tkit_hello_t *h,
                                         unsigned version, int expect);
/** peer's answer refused our HELLO with status (< SPIN_TKIT_ST_OWN, or one
 *  the transport does not explain itself) although its fields agree with
 *  ours: log it; returns SPIN_ERR_CONFIG. */
SPIN_TKIT_API int spin_tkit_hello_refused(const spin_tkit_comm_t *k, int peer, unsigned status);

/* ------------------------------------------------------------------------ */
/* Data path helpers (tkit_io.c, tkit_req.c, tkit_stats.c).                 */
/* ------------------------------------------------------------------------ */

/** Blocking send / receive: isend / irecv of k->desc->ops, then wait.
 *  comm starts with a spin_tkit_comm_t; usable as the ops themselves. */
SPIN_TKIT_API int spin_tkit_send(void *comm, int peer, uint32_t tag, const void *buf, size_t len);
SPIN_TKIT_API int spin_tkit_recv(void *comm, int peer, uint32_t tag, void *buf, size_t len);

/* Requests (tkit_req.c). */

/** A new request: its fields, not done, not in the live list yet. */
SPIN_TKIT_API void spin_tkit_req_init(spin_tkit_req_t *r, int is_send, int peer, uint32_t tag,
                                      uint64_t seq, size_t len);
/** FIFO queues of requests, early messages or chunks: any struct with a
 *  `next` pointer, held as a head and a tail pointer (both NULL: empty).
 *  QPUSH appends item; QSHIFT removes the head, which must exist, and
 *  clears its next. */
#define SPIN_TKIT_QPUSH(head, tail, item) \
    do { \
        (item)->next = NULL; \
        if (tail) (tail)->next = (item); \
        else (head) = (item); \
        (tail) = (item); \
    } while (0)
#define SPIN_TKIT_QSHIFT(head, tail) \
    do { \
        __typeof__(head) tkit_q_ = (head); \
        (head) = tkit_q_->next; \
        if (!(head)) (tail) = NULL; \
        tkit_q_->next = NULL; \
    } while (0)

/** Into / out of k->live (close releases what is left there). */
SPIN_TKIT_API void spin_tkit_req_live(spin_tkit_comm_t *k, spin_tkit_req_t *r);
SPIN_TKIT_API void spin_tkit_req_unlive(spin_tkit_comm_t *k, spin_tkit_req_t *r);
/** Complete r with status code, unless it has completed already. */
SPIN_TKIT_API void spin_tkit_req_fail(spin_tkit_req_t *r, int code);
/** Does message (tag, seq, len) fit receive r?  1, or 0 with the "peers out
 *  of step" error logged, r failed with SPIN_ERR_PROTOCOL and k->failed set. */
SPIN_TKIT_API int spin_tkit_req_fits(spin_tkit_comm_t *k, spin_tkit_req_t *r, uint32_t tag,
                                     uint64_t seq, uint64_t len);
/** Receive r has all its bytes: counted, complete with status 0 (nothing
 *  happens if it has completed already). */
SPIN_TKIT_API void spin_tkit_req_received(spin_tkit_comm_t *k, spin_tkit_req_t *r);

/** A wait on peer gave up after k->timeout_ms: log "party P sent nothing
 *  for T s (SPIN_TIMEOUT) while ..." (a receive) or "party P did not take
 *  our ... message ... for T s (SPIN_TIMEOUT)" (a send), then detail
 *  verbatim (NULL: nothing). */
SPIN_TKIT_API void spin_tkit_log_timeout(const spin_tkit_comm_t *k, int is_send, int peer,
                                         uint64_t seq, uint32_t tag, size_t len,
                                         const char *detail);

/** open() had no handshake with some party within k->timeout_ms: log one
 *  line naming each of them.  up(arg, j, &err): 1 when the link to j is
 *  up; err: the errno of our last connect to j, 0 if none. */
SPIN_TKIT_API void spin_tkit_log_open_timeout(const spin_tkit_comm_t *k, const char *const *eps,
                                              int (*up)(void *arg, int peer, int *err), void *arg);

/** Counting payload bytes and messages per peer (k->stats). */
static inline void spin_tkit_count_sent(spin_tkit_comm_t *k, int peer, size_t len)
{
    k->stats[peer].bytes_sent += len;
    k->stats[peer].msgs_sent++;
}

static inline void spin_tkit_count_recv(spin_tkit_comm_t *k, int peer, size_t len)
{
    k->stats[peer].bytes_recv += len;
    k->stats[peer].msgs_recv++;
}

/** The stats op: the counters of one peer. */
SPIN_TKIT_API int spin_tkit_stats(void *comm, int peer, spin_transport_stats_t *out);

#endif /* SPIN_TKIT_H */
