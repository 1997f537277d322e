/*
 * spin/plugin_transport.h - the transport backend's configuration and ops
 * table (part of the plugin SDK: include <spin/plugin.h>, which includes
 * this file; the ABI rules, threading and error conventions at the top of
 * plugin.h apply to every slot here).
 */
#ifndef SPIN_PLUGIN_TRANSPORT_H
#define SPIN_PLUGIN_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <spin/plugin_compute.h>

#ifdef __cplusplus
extern "C" {
#endif
/* ------------------------------------------------------------------------ */
/* Transport backend.                                                       */
/* ------------------------------------------------------------------------ */

/** Configuration of one party's communicator (one per context). */
typedef struct spin_transport_cfg {
    uint32_t struct_size;        /**< sizeof(spin_transport_cfg_t) of the core */
    int party;                   /**< my id, 0 <= party < nprocs */
    /** Processes linked: the N computing parties and the dealer (N + 1).
     *  Named nprocs since ABI 1.2 (the field was called nparties, the name
     *  the core uses for N alone); the layout is unchanged. */
    int nprocs;
    /** endpoints[i]: where party i listens, e.g. "tcp://10.0.0.2:7100" or
     *  "ipc:///tmp/spin-x/p1".  A party binds its own and connects to others. */
    const char *const *endpoints;
    /** A silent peer is an error after this many ms.  The core resolves it
     *  (spin_ctx_opts_t.timeout_ms, else SPIN_TIMEOUT seconds, else 60 s) and
     *  passes a value > 0; a transport treats <= 0 (a test harness, say) as
     *  60 s and never reads SPIN_TIMEOUT itself. */
    int timeout_ms;
    /** Directory with key files for authenticated, encrypted links, or NULL.
     *  Layout: party<i>.pub for every party, party<me>.key for my secret. */
    const char *key_dir;
    /** Value every party must agree on (protocol/config fingerprint); a peer
     *  with another value is refused at connection time, naming it.  The
     *  core's layout (SPIN_FP_*): bits 0..7 the fractional bits f, bits 8..15
     *  the computing parties N, bits 16..63 a hash of the Spin version and
     *  plugin ABI, so one HELLO checks the whole configuration and an error
     *  can say which part differs.  Transports compare all 64 bits. */
    uint64_t fingerprint;

    /* --- ABI 1.1: the context's compute backend.  Read these only when
     * struct_size >= SPIN_TRANSPORT_CFG_SIZE_1_1 (an older core passes a
     * shorter struct).  All stay valid until close. ------------------------ */
    const char *compute_name;    /**< e.g. "cuda"; NULL if unknown */
    uint64_t compute_caps;       /**< its SPIN_CAP_COMPUTE_* bits */
    /** Its ops as the core sees them (ops a plugin of an older ABI lacks are
     *  NULL) and its state: a transport may call them (copies, allocation,
     *  stream_sync, mem_export_dmabuf) from inside its own ops, which the
     *  core calls on the context's thread.  NULL if unknown. */
    const spin_compute_ops_t *compute_ops;
    void *compute_state;
} spin_transport_cfg_t;

/** Fields of spin_transport_cfg_t.fingerprint as the core fills it. */
#define SPIN_FP_FRAC_BITS(fp)  ((unsigned)((fp) & 0xff))
#define SPIN_FP_NPARTIES(fp)   ((unsigned)(((fp) >> 8) & 0xff))
#define SPIN_FP_BUILD(fp)      ((fp) >> 16)
#define SPIN_FP_MAKE(build, nparties, frac_bits) \
    (((uint64_t)(build) << 16) | ((uint64_t)((nparties) & 0xff) << 8) | ((uint64_t)(frac_bits) & 0xff))

/** Opaque, plugin-defined request handle for non-blocking operations. */
typedef struct spin_request spin_request_t;

/** Counters for one peer, since open. */
typedef struct spin_transport_stats {
    uint64_t bytes_sent, bytes_recv;   /**< payload bytes, no framing */
    uint64_t msgs_sent, msgs_recv;
} spin_transport_stats_t;

/*
 * The transport ops.  Parties are 0 .. nparties - 1 (the dealer included);
 * a peer is any party but oneself.  Messages between two parties are
 * matched in order: the k-th receive posted for a peer gets the k-th
 * message that peer sent to us, whatever its tag; the tag and the length
 * are checked, never used to select.  Zero-length messages are messages
 * (buf may then be NULL, and a receive writes nothing).  Thread, for every
 * op: the thread that drives the context, one call per communicator at a
 * time (see "Threading" above); communicators of distinct instances run
 * concurrently.  Timeouts: a receive fails with SPIN_ERR_TIMEOUT once the
 * peer has sent nothing for timeout_ms (counted from the later of the
 * wait's start and the last bytes heard from that peer), a send the peer
 * does not take likewise (tcp counts from the wait's start); the link is
 * then failed.  Every link failure is logged naming the peer.  A link
 * failed by an earlier error (SPIN_ERR_TIMEOUT, SPIN_ERR_PEER, SPIN_ERR_IO,
 * malformed framing) fails every later operation on it at once with its
 * code; a receive of another tag or length fails only that receive
 * (SPIN_ERR_PROTOCOL), but the peers are then out of step.
 */
typedef struct spin_transport_ops {
    /** Open my communicator and connect to every peer; returns when all
     *  links are up (or timeout).  comm is an independent instance.
     *  Each party binds endpoints[party] and connects to every lower
     *  party's endpoint (higher ones connect to it); the handshake checks
     *  nparties and fingerprint with every peer.  *comm is written only on
     *  success; close it with close().  cfg and the strings it points to
     *  are read during the call; the compute backend it names
     *  (compute_ops, compute_state) stays valid until close.  The core
     *  opens one communicator per instance.
     *  Mandatory.  Thread: the context's; opens of distinct instances run
     *  concurrently (all parties of a spin_run_local() open at once).
     *  Returns 0; SPIN_ERR_INVAL for a NULL argument, cfg->struct_size below
     *  SPIN_TRANSPORT_CFG_SIZE_1_0, or a party or party count out of range;
     *  SPIN_ERR_CONFIG for no endpoint list, a missing or malformed
     *  endpoint (or one of a scheme the transport does not take), one that
     *  cannot be listened on, a missing or bad key file, or a peer
     *  with another nparties or fingerprint (at connection time, not after
     *  the timeout; the peer reports it too, or times out); SPIN_ERR_NOTSUP,
     *  at once and logged, when key_dir is set on a transport without
     *  SPIN_CAP_TRANSPORT_SECURE; SPIN_ERR_AUTH when a key is refused;
     *  SPIN_ERR_TIMEOUT when a peer has not completed the handshake within
     *  timeout_ms (naming it); SPIN_ERR_IO for a socket or device failure
     *  (an endpoint taken by another process, say); SPIN_ERR_NOMEM. */
    int (*open)(void *state, const spin_transport_cfg_t *cfg, void **comm);
    /** Close; pending requests are cancelled.
     *  Close and free the communicator; NULL does nothing.  Requests never
     *  waited for become invalid, and the transport no longer touches their
     *  buffers once close returns.  Messages of completed sends still reach
     *  healthy peers (tcp and rdma linger up to min(timeout_ms, 2 s) for
     *  them), except after a link failed or with requests still pending:
     *  then tcp and rdma drop everything at once.  A peer waiting on us then
     *  gets its earlier messages, then SPIN_ERR_PEER (or SPIN_ERR_TIMEOUT).
     *  Mandatory.  Thread: the context's; no call on comm may follow, and
     *  the core closes the comm before fini() of its instance.
     *  Returns nothing. */
    void (*close)(void *comm);
    /** Blocking send of len bytes to peer with a tag.  Messages between two
     *  parties arrive in send order; a tag mismatch at recv is an error.
     *  Returns when buf may be reused: possibly before the peer has
     *  received the message (it was copied or handed to the kernel), or
     *  only once the peer has posted its receive, so pair blocking sends
     *  and receives in an order that cannot deadlock (the conformance
     *  suite: the lower party sends first).  As isend followed by wait.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for a NULL comm or buf NULL with len > 0
     *  (not logged), or a peer out of range or oneself (nothing is sent);
     *  the failed link's code; SPIN_ERR_PEER when the peer is gone;
     *  SPIN_ERR_TIMEOUT when the peer takes nothing for timeout_ms;
     *  SPIN_ERR_IO; SPIN_ERR_NOMEM. */
    int (*send)(void *comm, int peer, uint32_t tag, const void *buf, size_t len);
    /** Blocking receive of exactly len bytes from peer with tag; a message
     *  of another length or tag is SPIN_ERR_PROTOCOL, naming the peer.
     *  It takes the next message from peer (see the matching rule above);
     *  on a mismatch that message is consumed and nothing is written to
     *  buf.  Messages a peer sent before it closed are still delivered.
     *  As irecv followed by wait.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for a NULL comm or buf NULL with len > 0
     *  (not logged), or a peer out of range or oneself; SPIN_ERR_PROTOCOL
     *  as above; SPIN_ERR_TIMEOUT when the peer sends nothing for
     *  timeout_ms; SPIN_ERR_PEER when it disconnected (after its earlier
     *  messages); the failed link's code; SPIN_ERR_IO; SPIN_ERR_NOMEM. */
    int (*recv)(void *comm, int peer, uint32_t tag, void *buf, size_t len);
    /** Non-blocking forms; buf must stay valid until wait() returns.
     *  isend: post a send of len bytes of buf to peer, and write the request
     *  to *req (only on success); pass it to wait() exactly once.  buf must
     *  also stay unchanged until then.  Sends to a peer go out in posting
     *  order and are counted in stats when posted.  Device memory of
     *  cfg->compute_ops only where comm_caps (or the descriptor's caps) has
     *  SPIN_CAP_TRANSPORT_DEVICE_MEM.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for a NULL comm or req or buf NULL with
     *  len > 0 (not logged), or a peer out of range or oneself; the failed
     *  link's code; SPIN_ERR_PEER when the peer is known to be gone;
     *  SPIN_ERR_IO; SPIN_ERR_NOMEM.  Failures after the post are returned
     *  by wait(). */
    int (*isend)(void *comm, int peer, uint32_t tag, const void *buf,
                 size_t len, spin_request_t **req);
    /** Post a receive of exactly len bytes from peer into buf (the next
     *  message from peer in posting order, see above), and write the
     *  request to *req (only on success); pass it to wait() exactly once.
     *  buf must stay valid, and is not to be read, until then.  A message
     *  that arrived before its receive is kept by the transport meanwhile.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL for a NULL comm or req or buf NULL with
     *  len > 0 (not logged), or a peer out of range or oneself; the failed
     *  link's code (sock still delivers messages that arrived whole before
     *  the failure); SPIN_ERR_NOMEM.  Mismatches and timeouts are returned
     *  by wait(). */
    int (*irecv)(void *comm, int peer, uint32_t tag, void *buf, size_t len,
                 spin_request_t **req);
    /** Wait for a request to complete and release it.
     *  The request is released also when the wait fails: never wait twice
     *  or use req afterwards.  Requests may be waited for in any order, and
     *  every link keeps moving while any wait runs, so posting all requests
     *  of an exchange before waiting cannot deadlock.  A request whose link
     *  failed meanwhile completes at once with that link's code.  After a
     *  failed wait on a send, tcp may still hold buf until close() (it logs
     *  so).
     *  Mandatory.  Thread: the context's.
     *  Returns the request's status: 0; SPIN_ERR_PROTOCOL (receive: another
     *  tag or length arrived); SPIN_ERR_TIMEOUT (the peer stayed silent, or
     *  took nothing, for timeout_ms); SPIN_ERR_PEER (it disconnected); the
     *  failed link's code; SPIN_ERR_IO; SPIN_ERR_INVAL, not logged, for a
     *  NULL comm or req. */
    int (*wait)(void *comm, spin_request_t *req);
    /** Counters for one peer.
     *  Copies the counters of the link to peer since open (payload bytes
     *  and messages, zero-length ones included; sends counted when posted,
     *  receives when complete) to *out.  peer == my own id gives 0 and zero
     *  counters; counters stay readable after the link failed.
     *  Mandatory.  Thread: the context's.
     *  Returns 0; SPIN_ERR_INVAL, not logged, for a NULL comm or out or a
     *  peer outside [0, nparties). */
    int (*stats)(void *comm, int peer, spin_transport_stats_t *out);

    /* --- ABI 1.1 --------------------------------------------------------- */
    /** Optional (NULL: the descriptor's caps hold).  The SPIN_CAP_TRANSPORT_*
     *  bits in effect for this open communicator: with
     *  SPIN_CAP_TRANSPORT_DEVICE_MEM, send/recv/isend/irecv take device
     *  memory of cfg->compute_ops (and host memory as before: the transport
     *  tells them apart, e.g. with mem_export_dmabuf's query), the core
     *  synchronises the compute stream before it posts a send from device
     *  memory, and a device receive holds its data (visible to later work on
     *  any stream) once wait() has returned.  Constant for the comm's life.
     *  Thread: the context's; the core calls it after open, as often as it
     *  likes, so it must be cheap.  No errors: 0 means host memory only
     *  (the rdma plugin returns SPIN_CAP_TRANSPORT_DEVICE_MEM when its
     *  GPUDirect check at open succeeded; tcp and sock leave it NULL). */
    uint64_t (*comm_caps)(void *comm);
    /* Append new ops here only. */
} spin_transport_ops_t;

#ifdef __cplusplus
}
#endif

#endif /* SPIN_PLUGIN_TRANSPORT_H */
