/*
 * tcp_comm.c - open/close of a communicator and the connection handshake.
 *
 * Topology: one connection per pair of parties.  Party i binds a ROUTER at
 * endpoints[i]; every higher party j > i connects a DEALER (routing id
 * "spin<j>") to it.  So party i talks to higher parties through its ROUTER and
 * to each lower party through its own DEALER.
 *
 * Handshake: each party sends HELLO {party, nparties, fingerprint} through
 * each DEALER; the ROUTER side checks it (spin_tkit_hello_verify and, with
 * CurveZMQ, the User-Id the ZAP handler gave the connection) and answers ACK
 * with its own values and a status, which the DEALER side checks the same
 * way.  open() returns once every link has completed the handshake.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tcp_internal.h"

#define LOGE(c, ...) spin_log((c)->kit.log, SPIN_LOG_ERROR, __VA_ARGS__)
#define LOGW(c, ...) spin_log((c)->kit.log, SPIN_LOG_WARN, __VA_ARGS__)

static int setopt_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

/* Common options of every link socket. */
static int link_opts(tcp_comm_t *c, void *s)
{
    int rc = 0;
    rc |= setopt_int(s, ZMQ_SNDHWM, 0);      /* 0: no limit, never drop or block */
    rc |= setopt_int(s, ZMQ_RCVHWM, 0);
    rc |= setopt_int(s, ZMQ_LINGER, 0);      /* raised at a clean close() */
    rc |= setopt_int(s, ZMQ_HEARTBEAT_IVL, 2000);
    int hb = c->kit.timeout_ms > 10000 ? c->kit.timeout_ms : 10000;
    rc |= setopt_int(s, ZMQ_HEARTBEAT_TIMEOUT, hb);
    rc |= setopt_int(s, ZMQ_HEARTBEAT_TTL, hb);
    return rc ? -1 : 0;
}

static int zerr(tcp_comm_t *c, const char *what)
{
    LOGE(c, "tcp: party %d: %s failed: %s", c->kit.me, what, zmq_strerror(errno));
    return SPIN_ERR_IO;
}

static void *make_monitor(tcp_comm_t *c, void *s, const char *name, int events)
{
    if (zmq_socket_monitor(s, name, events) != 0) return NULL;
    void *m = zmq_socket(c->ctx, ZMQ_PAIR);
    if (!m) return NULL;
    setopt_int(m, ZMQ_LINGER, 0);
    if (zmq_connect(m, name) != 0) {
        zmq_close(m);
        return NULL;
    }
    return m;
}

/* Send a HELLO or ACK frame on sock (to routing id rid when it is a ROUTER). */
static int send_ctl(tcp_comm_t *c, void *sock, const void *rid, size_t rid_len, int type,
                    int status)
{
    unsigned char h[TCP_HDR_LEN];
    memset(h, 0, sizeof h);
    spin_tkit_hello_encode(&c->kit, h, TCP_MAGIC, (unsigned)type, TCP_WIRE_VERSION,
                           (unsigned)status);
    if (rid && zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return -1;
    return zmq_send(sock, h, sizeof h, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

int tcp_send_hello(tcp_comm_t *c, int peer, int type, int status)
{
    tcp_peer_t *p = &c->peers[peer];
    if (peer < c->kit.me) return send_ctl(c, p->dealer, NULL, 0, type, status);
    return send_ctl(c, c->router, p->rid, p->rid_len, type, status);
}

/* A HELLO arrived on the ROUTER. */
int tcp_on_hello(tcp_comm_t *c, const unsigned char *h, size_t hlen, const void *rid,
                 size_t rid_len, zmq_msg_t *m)
{
    if (hlen != TCP_HDR_LEN) {
        LOGW(c, "tcp: party %d: ignoring a malformed handshake (%zu bytes) on our endpoint",
             c->kit.me, hlen);
        return 0;
    }
    spin_tkit_hello_t hi;
    spin_tkit_hello_decode(h, &hi);
    int party = (int)hi.party;
    int status = spin_tkit_hello_verify(&c->kit, &hi, TCP_WIRE_VERSION, -1), rc = 0;
    if (status != SPIN_TKIT_ST_OK) {
        rc = SPIN_ERR_CONFIG;
    } else if (tcp_rid_party(rid, rid_len) != party) {
        LOGE(c, "tcp: a peer claiming to be party %d connected to the endpoint of party %d under "
                "another routing id: refused", party, c->kit.me);
        status = SPIN_TKIT_ST_IDENTITY;
        rc = SPIN_ERR_CONFIG;
    } else if (c->secure) {
        const char *uid = zmq_msg_gets(m, "User-Id");
        char want[16];
        snprintf(want, sizeof want, "%d", party);
        if (!uid || strcmp(uid, want) != 0) {
            LOGE(c, "tcp: a peer claiming to be party %d authenticated with the key of %s%s: refused",
                 party, uid ? "party " : "", uid ? uid : "nobody");
            status = TCP_ACK_AUTH;
            rc = SPIN_ERR_AUTH;
        }
    }
    if (status == SPIN_TKIT_ST_OK && c->peers[party].up) {
        LOGW(c, "tcp: party %d connected a second time (restarted?); ignoring the new connection",
             party);
        return 0;
    }
    /* Answer in every case, so the other side reports the mismatch too. */
    if (send_ctl(c, c->router, rid, rid_len, TCP_T_ACK, status) != 0 &&
        status == SPIN_TKIT_ST_OK) {
        /* The peer left between its HELLO and our answer (it may have failed
         * against a third party): it is simply not connected yet.  Keep
         * waiting, so our own result is decided by what we see, not by a
         * race; open() times out on it if it never comes back. */
        if (zmq_errno() == EHOSTUNREACH) {
            LOGW(c, "tcp: party %d left before we answered its handshake; waiting for it to "
                    "connect again", party);
            return 0;
        }
        return zerr(c, "answering a handshake");
    }
    if (status != SPIN_TKIT_ST_OK) {
        /* After open(), a stray peer must not break working links. */
        return c->opened ? 0 : rc;
    }
    tcp_peer_t *p = &c->peers[party];
    memcpy(p->rid, rid, rid_len);
    p->rid_len = rid_len;
    p->srcfd = zmq_msg_get(m, ZMQ_SRCFD);
    p->up = 1;
    p->last_heard = spin_tkit_now_ms();
    return 0;
}

/* An ACK arrived from lower party `peer` on its DEALER. */
int tcp_on_ack(tcp_comm_t *c, int peer, const unsigned char *h, size_t hlen)
{
    tcp_peer_t *p = &c->peers[peer];
    if (hlen != TCP_HDR_LEN) {
        LOGE(c, "tcp: party %d answered our handshake with a malformed frame (%zu bytes)", peer, hlen);
        return SPIN_ERR_PROTOCOL;
    }
    if (p->up) return 0;
    spin_tkit_hello_t hi;
    spin_tkit_hello_decode(h, &hi);
    if (spin_tkit_hello_verify(&c->kit, &hi, TCP_WIRE_VERSION, peer) != SPIN_TKIT_ST_OK)
        return SPIN_ERR_CONFIG;
    if (hi.status == TCP_ACK_AUTH) {
        LOGE(c, "tcp: party %d refused our connection: the key it received is not party %d's "
                "(check party%d.pub in its key directory)", peer, c->kit.me, c->kit.me);
        return SPIN_ERR_AUTH;
    }
    if (hi.status != SPIN_TKIT_ST_OK) return spin_tkit_hello_refused(&c->kit, peer, hi.status);
    p->up = 1;
    p->last_heard = spin_tkit_now_ms();
    return 0;
}

/* Mark a link dead; its posted receives complete with the error. */
void tcp_fail_link(tcp_comm_t *c, int peer, int code)
{
    tcp_peer_t *p = &c->peers[peer];
    c->kit.failed = 1;
    if (!p->broken) p->broken = code;
    for (spin_request_t *r = p->rq_head; r; r = r->next) {
        r->kit.done = 1;
        r->kit.status = p->broken;
    }
    p->rq_head = p->rq_tail = NULL;
    if (p->in_req) {
        p->in_req->kit.done = 1;
        p->in_req->kit.status = p->broken;
        p->in_req = NULL;
    }
    p->in_u = NULL;
    p->in_left = 0;
}

static void close_sockets(tcp_comm_t *c, int linger)
{
    if (c->router) {
        setopt_int(c->router, ZMQ_LINGER, linger);
        zmq_close(c->router);
        c->router = NULL;
    }
    for (int j = 0; c->peers && j < c->kit.n; j++) {
        if (c->peers[j].dealer) {
            setopt_int(c->peers[j].dealer, ZMQ_LINGER, linger);
            zmq_close(c->peers[j].dealer);
            c->peers[j].dealer = NULL;
        }
    }
    if (c->router_mon) zmq_close(c->router_mon);
    c->router_mon = NULL;
    for (int j = 0; c->peers && j < c->kit.n; j++) {
        if (c->peers[j].mon) zmq_close(c->peers[j].mon);
        c->peers[j].mon = NULL;
    }
}

static void destroy(tcp_comm_t *c, int linger)
{
    if (c->zap_running) tcp_zap_stop(c);
    close_sockets(c, linger);
    for (int j = 0; c->peers && j < c->kit.n; j++) {
        tcp_umsg_t *u = c->peers[j].uq_head;
        while (u) {
            tcp_umsg_t *nx = u->next;
            tcp_umsg_free(u);
            u = nx;
        }
    }
    if (c->ctx) {
        /* Waits for queued messages (up to linger) and for ZeroMQ to release
         * every zero-copy buffer. */
        while (zmq_ctx_term(c->ctx) != 0 && errno == EINTR) {}
    }
    if (c->evfd >= 0) close(c->evfd);
    free(c->items);
    free(c->peers);
    free(c->pub);
    free(c->zap.bin);
    /* The secret key never outlives the communicator in our memory. */
    volatile char *s = c->sec;
    for (size_t i = 0; i < sizeof c->sec; i++) s[i] = 0;
    spin_tkit_comm_free(c); /* and the requests never waited for */
}

void tcp_close(void *comm)
{
    tcp_comm_t *c = comm;
    if (!c) return;
    /* Let small messages still queued to healthy peers leave, so a party
     * can close right after its last send; after an error, or with requests
     * never waited for (cancelled), drop everything at once. */
    int linger = c->kit.timeout_ms < TCP_CLOSE_LINGER_MS ? c->kit.timeout_ms : TCP_CLOSE_LINGER_MS;
    if (c->kit.failed || c->kit.live) linger = 0;
    destroy(c, linger);
}

/* Build the poll set: router, dealers, eventfd, monitors. */
static int build_items(tcp_comm_t *c)
{
    int cap = 2 * c->kit.n + 4;
    c->items = calloc((size_t)cap, sizeof *c->items);
    if (!c->items) return SPIN_ERR_NOMEM;
    int k = 0;
    c->items[k++] = (zmq_pollitem_t){c->router, -1, ZMQ_POLLIN, 0};
    for (int j = 0; j < c->kit.me; j++) c->items[k++] = (zmq_pollitem_t){c->peers[j].dealer, -1, ZMQ_POLLIN, 0};
    c->item_evfd = k;
    c->items[k++] = (zmq_pollitem_t){NULL, c->evfd, ZMQ_POLLIN, 0};
    c->items[k++] = (zmq_pollitem_t){c->router_mon, -1, ZMQ_POLLIN, 0};
    for (int j = 0; j < c->kit.me; j++) c->items[k++] = (zmq_pollitem_t){c->peers[j].mon, -1, ZMQ_POLLIN, 0};
    c->nitems = k;
    return 0;
}

static int link_up(void *arg, int peer, int *err)
{
    (void)err;
    return ((tcp_comm_t *)arg)->peers[peer].up;
}

static void timeout_report(tcp_comm_t *c, const char *const *eps)
{
    spin_tkit_log_open_timeout(&c->kit, eps, link_up, c);
    int refused = c->secure ? atomic_load(&c->zap.refused) : 0;
    if (refused)
        LOGE(c, "tcp: party %d refused %d connection(s) whose CurveZMQ key is not in the key "
                "directory", c->kit.me, refused);
    if (c->router_hs_failed)
        LOGE(c, "tcp: party %d: %d security handshake(s) on our endpoint failed: do all parties "
                "use the same key_dir (SPIN_KEY_DIR) setting and key files?", c->kit.me,
             c->router_hs_failed);
}

int tcp_open(void *state, const spin_transport_cfg_t *cfg, void **out)
{
    int rc = spin_tkit_check(&tcp_desc, state, cfg, out, TCP_MAX_PARTIES);
    if (rc) return rc;
    tcp_comm_t *c = spin_tkit_comm_new(&tcp_desc, state, cfg, sizeof *c);
    if (!c) return SPIN_ERR_NOMEM;
    c->evfd = -1;
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) >= TCP_SPIN_MIN_CPUS)
        c->spin_us = TCP_SPIN_US;
    c->peers = calloc((size_t)c->kit.n, sizeof *c->peers);
    if (!c->peers) {
        spin_tkit_comm_free(c);
        return SPIN_ERR_NOMEM;
    }
    for (int j = 0; j < c->kit.n; j++) c->peers[j].srcfd = -1;
    c->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->evfd < 0) {
        LOGE(c, "tcp: eventfd: %s", strerror(errno));
        destroy(c, 0);
        return SPIN_ERR_IO;
    }
    c->ctx = zmq_ctx_new();
    if (!c->ctx) {
        rc = zerr(c, "creating a ZeroMQ context");
        destroy(c, 0);
        return rc;
    }
    zmq_ctx_set(c->ctx, ZMQ_IO_THREADS, 1);
    zmq_ctx_set(c->ctx, ZMQ_BLOCKY, 0);

    if (cfg->key_dir && cfg->key_dir[0]) {
        rc = tcp_keys_load(c, cfg->key_dir);
        if (!rc) rc = tcp_zap_start(c);
        if (rc) goto fail;
        c->secure = 1;
    }

    /* My ROUTER: higher parties connect here.  Bound even when there is no
     * higher party, so a misconfigured one gets a clear answer. */
    c->router = zmq_socket(c->ctx, ZMQ_ROUTER);
    if (!c->router) {
        rc = zerr(c, "creating a ROUTER socket");
        goto fail;
    }
    if (link_opts(c, c->router) || setopt_int(c->router, ZMQ_ROUTER_MANDATORY, 1)) {
        rc = zerr(c, "setting ROUTER options");
        goto fail;
    }
    if (c->secure) {
        if (setopt_int(c->router, ZMQ_CURVE_SERVER, 1) ||
            zmq_setsockopt(c->router, ZMQ_CURVE_SECRETKEY, c->sec, 40) ||
            zmq_setsockopt(c->router, ZMQ_ZAP_DOMAIN, "spin", 4)) {
            rc = zerr(c, "setting CurveZMQ server options");
            goto fail;
        }
    }
    c->router_mon = make_monitor(c, c->router, "inproc://spin-mon-router",
                                 ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
    if (!c->router_mon) {
        rc = zerr(c, "monitoring the ROUTER socket");
        goto fail;
    }
    if (zmq_bind(c->router, cfg->endpoints[c->kit.me]) != 0) {
        LOGE(c, "tcp: party %d cannot listen on %s: %s", c->kit.me, cfg->endpoints[c->kit.me],
             zmq_strerror(errno));
        rc = errno == EINVAL || errno == EPROTONOSUPPORT || errno == ENODEV ? SPIN_ERR_CONFIG
                                                                             : SPIN_ERR_IO;
        goto fail;
    }

    /* One DEALER per lower party. */
    for (int j = 0; j < c->kit.me; j++) {
        tcp_peer_t *p = &c->peers[j];
        p->dealer = zmq_socket(c->ctx, ZMQ_DEALER);
        if (!p->dealer) {
            rc = zerr(c, "creating a DEALER socket");
            goto fail;
        }
        char rid[16];
        size_t rlen;
        tcp_rid(c->kit.me, rid, &rlen);
        if (link_opts(c, p->dealer) || zmq_setsockopt(p->dealer, ZMQ_ROUTING_ID, rid, rlen) ||
            setopt_int(p->dealer, ZMQ_RECONNECT_IVL, 20) ||
            setopt_int(p->dealer, ZMQ_RECONNECT_IVL_MAX, 500)) {
            rc = zerr(c, "setting DEALER options");
            goto fail;
        }
        if (c->secure) {
            if (zmq_setsockopt(p->dealer, ZMQ_CURVE_SERVERKEY, c->pub[j], 40) ||
                zmq_setsockopt(p->dealer, ZMQ_CURVE_PUBLICKEY, c->pub[c->kit.me], 40) ||
                zmq_setsockopt(p->dealer, ZMQ_CURVE_SECRETKEY, c->sec, 40)) {
                rc = zerr(c, "setting CurveZMQ client options");
                goto fail;
            }
        }
        char name[64];
        snprintf(name, sizeof name, "inproc://spin-mon-d%d", j);
        p->mon = make_monitor(c, p->dealer, name,
                              ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                  ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                  ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
        if (!p->mon) {
            rc = zerr(c, "monitoring a DEALER socket");
            goto fail;
        }
        if (zmq_connect(p->dealer, cfg->endpoints[j]) != 0) {
            LOGE(c, "tcp: party %d cannot connect to party %d at %s: %s", c->kit.me, j,
                 cfg->endpoints[j], zmq_strerror(errno));
            rc = SPIN_ERR_CONFIG;
            goto fail;
        }
        if (tcp_send_hello(c, j, TCP_T_HELLO, SPIN_TKIT_ST_OK) != 0) {
            rc = zerr(c, "sending the handshake");
            goto fail;
        }
    }
    rc = build_items(c);
    if (rc) goto fail;

    double deadline = spin_tkit_now_ms() + c->kit.timeout_ms;
    for (;;) {
        rc = tcp_progress(c);
        if (!rc) rc = tcp_process_monitors(c);
        if (rc) goto fail;
        int up = 1;
        for (int j = 0; j < c->kit.n; j++)
            if (j != c->kit.me && !c->peers[j].up) up = 0;
        if (up) break;
        double now = spin_tkit_now_ms();
        if (now >= deadline) {
            timeout_report(c, cfg->endpoints);
            rc = SPIN_ERR_TIMEOUT;
            goto fail;
        }
        double left = deadline - now;
        int ms = left > 100 ? 100 : (int)ceil(left);
        if (zmq_poll(c->items, c->nitems, ms) < 0 && errno != EINTR) {
            rc = zerr(c, "zmq_poll");
            goto fail;
        }
    }
    c->opened = 1;
    *out = c;
    return 0;
fail:
    /* After a refusal, let the HELLOs still queued to other peers leave,
     * so that they report the mismatch at once instead of timing out. */
    destroy(c, rc == SPIN_ERR_CONFIG || rc == SPIN_ERR_AUTH ? 1000 : 0);
    return rc;
}
