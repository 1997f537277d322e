/*
 * tcp_comm.c - open/close of a communicator and the connection handshake.
 *
 * Topology: one connection per pair of parties.  Party i binds a ROUTER at
 * endpoints[i]; every higher party j > i connects a DEALER (routing id
 * "spin<j>") to it.  So party i talks to higher parties through its ROUTER and
 * to each lower party through its own DEALER.
 *
 * Handshake: each party sends HELLO {party, nparties, fingerprint} through
 * each DEALER; the ROUTER side checks it (and, with CurveZMQ, the User-Id the
 * ZAP handler gave the connection) and answers ACK with its own values and a
 * status.  open() returns once every link has completed the handshake.
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

#define LOGE(c, ...) spin_log((c)->log, SPIN_LOG_ERROR, __VA_ARGS__)
#define LOGW(c, ...) spin_log((c)->log, SPIN_LOG_WARN, __VA_ARGS__)

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
    int hb = c->timeout_ms > 10000 ? c->timeout_ms : 10000;
    rc |= setopt_int(s, ZMQ_HEARTBEAT_TIMEOUT, hb);
    rc |= setopt_int(s, ZMQ_HEARTBEAT_TTL, hb);
    return rc ? -1 : 0;
}

static int zerr(tcp_comm_t *c, const char *what)
{
    LOGE(c, "tcp: party %d: %s failed: %s", c->me, what, zmq_strerror(errno));
    return SPIN_ERR_IO;
}

static int check_endpoint(tcp_comm_t *c, const char *const *eps, int i)
{
    const char *e = eps[i];
    if (!e || !*e) {
        LOGE(c, "tcp: no endpoint given for party %d", i);
        return SPIN_ERR_CONFIG;
    }
    if (strncmp(e, "tcp://", 6) != 0 && strncmp(e, "ipc://", 6) != 0) {
        LOGE(c, "tcp: endpoint \"%s\" of party %d is not tcp://HOST:PORT or ipc://PATH", e, i);
        return SPIN_ERR_CONFIG;
    }
    return 0;
}

static int parse_timeout(tcp_comm_t *c, const spin_transport_cfg_t *cfg)
{
    if (cfg->timeout_ms > 0) {
        c->timeout_ms = cfg->timeout_ms;
        c->timeout_src = "timeout setting";
        return 0;
    }
    c->timeout_ms = 60000;
    c->timeout_src = "SPIN_TIMEOUT";
    const spin_plugin_host_t *h = c->st->host;
    const char *v = h && h->getenv ? h->getenv(h->env_ctx, "SPIN_TIMEOUT") : NULL;
    if (v && *v) {
        char *end;
        double s = strtod(v, &end);
        while (*end == ' ') end++;
        if (*end || !(s > 0) || s > 1e6 || isnan(s)) {
            LOGW(c, "tcp: SPIN_TIMEOUT=\"%s\" is not a positive number of seconds; using 60", v);
        } else {
            c->timeout_ms = (int)ceil(s * 1000.0);
        }
    }
    return 0;
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
    tcp_put32(h, TCP_MAGIC);
    h[4] = (unsigned char)type;
    h[5] = TCP_WIRE_VERSION;
    h[6] = (unsigned char)status;
    tcp_put32(h + 8, (uint32_t)c->me);
    tcp_put32(h + 12, (uint32_t)c->n);
    tcp_put64(h + 16, c->fingerprint);
    if (rid && zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return -1;
    return zmq_send(sock, h, sizeof h, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

int tcp_send_hello(tcp_comm_t *c, int peer, int type, int status)
{
    tcp_peer_t *p = &c->peers[peer];
    if (peer < c->me) return send_ctl(c, p->dealer, NULL, 0, type, status);
    return send_ctl(c, c->router, p->rid, p->rid_len, type, status);
}

static const char *fix_hint = "start every party with the same configuration";

/* A HELLO arrived on the ROUTER. */
int tcp_on_hello(tcp_comm_t *c, const unsigned char *h, size_t hlen, const void *rid,
                 size_t rid_len, zmq_msg_t *m)
{
    if (hlen != TCP_HDR_LEN) {
        LOGW(c, "tcp: party %d: ignoring a malformed handshake (%zu bytes) on our endpoint", c->me,
             hlen);
        return 0;
    }
    unsigned ver = h[5];
    int party = (int)tcp_get32(h + 8);
    int np = (int)tcp_get32(h + 12);
    uint64_t fp = tcp_get64(h + 16);
    int rid_party = tcp_rid_party(rid, rid_len);
    int status = TCP_ACK_OK, rc = 0;

    if (ver != TCP_WIRE_VERSION) {
        LOGE(c, "tcp: party %d speaks wire protocol version %u, we (party %d) speak %u: install the "
                "same Spin on every party", party, ver, c->me, TCP_WIRE_VERSION);
        status = TCP_ACK_VERSION;
        rc = SPIN_ERR_CONFIG;
    } else if (np != c->n) {
        LOGE(c, "tcp: party %d runs with %d parties, we (party %d) run with %d: %s", party, np, c->me,
             c->n, fix_hint);
        status = TCP_ACK_NPARTIES;
        rc = SPIN_ERR_CONFIG;
    } else if (party <= c->me || party >= c->n || rid_party != party) {
        LOGE(c, "tcp: a peer claiming to be party %d connected to the endpoint of party %d; only "
                "parties %d..%d connect here: check the endpoint list", party, c->me, c->me + 1,
             c->n - 1);
        status = TCP_ACK_IDENTITY;
        rc = SPIN_ERR_CONFIG;
    } else if (fp != c->fingerprint) {
        LOGE(c, "tcp: party %d has configuration fingerprint %016llx, we (party %d) have %016llx: %s",
             party, (unsigned long long)fp, c->me, (unsigned long long)c->fingerprint, fix_hint);
        status = TCP_ACK_FINGERPRINT;
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
    if (status == TCP_ACK_OK && c->peers[party].up) {
        LOGW(c, "tcp: party %d connected a second time (restarted?); ignoring the new connection",
             party);
        return 0;
    }
    /* Answer in every case, so the other side reports the mismatch too. */
    if (send_ctl(c, c->router, rid, rid_len, TCP_T_ACK, status) != 0 && status == TCP_ACK_OK) {
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
    if (status != TCP_ACK_OK) {
        /* After open(), a stray peer must not break working links. */
        return c->opened ? 0 : rc;
    }
    tcp_peer_t *p = &c->peers[party];
    memcpy(p->rid, rid, rid_len);
    p->rid_len = rid_len;
    p->srcfd = zmq_msg_get(m, ZMQ_SRCFD);
    p->up = 1;
    p->last_heard = tcp_now_ms();
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
    unsigned ver = h[5], status = h[6];
    int party = (int)tcp_get32(h + 8);
    int np = (int)tcp_get32(h + 12);
    uint64_t fp = tcp_get64(h + 16);
    if (ver != TCP_WIRE_VERSION) {
        LOGE(c, "tcp: party %d speaks wire protocol version %u, we (party %d) speak %u: install the "
                "same Spin on every party", peer, ver, c->me, TCP_WIRE_VERSION);
        return SPIN_ERR_CONFIG;
    }
    if (np != c->n) {
        LOGE(c, "tcp: party %d runs with %d parties, we (party %d) run with %d: %s", peer, np, c->me,
             c->n, fix_hint);
        return SPIN_ERR_CONFIG;
    }
    if (party != peer) {
        LOGE(c, "tcp: party %d answered at the endpoint of party %d: check the endpoint list",
             party, peer);
        return SPIN_ERR_CONFIG;
    }
    if (fp != c->fingerprint) {
        LOGE(c, "tcp: party %d has configuration fingerprint %016llx, we (party %d) have %016llx: %s",
             peer, (unsigned long long)fp, c->me, (unsigned long long)c->fingerprint, fix_hint);
        return SPIN_ERR_CONFIG;
    }
    if (status == TCP_ACK_AUTH) {
        LOGE(c, "tcp: party %d refused our connection: the key it received is not party %d's "
                "(check party%d.pub in its key directory)", peer, c->me, c->me);
        return SPIN_ERR_AUTH;
    }
    if (status != TCP_ACK_OK) {
        LOGE(c, "tcp: party %d refused our handshake (reason %u): %s", peer, status, fix_hint);
        return SPIN_ERR_CONFIG;
    }
    p->up = 1;
    p->last_heard = tcp_now_ms();
    return 0;
}

/* Mark a link dead; its posted receives complete with the error. */
void tcp_fail_link(tcp_comm_t *c, int peer, int code)
{
    tcp_peer_t *p = &c->peers[peer];
    c->failed = 1;
    if (!p->broken) p->broken = code;
    for (spin_request_t *r = p->rq_head; r; r = r->next) {
        r->done = 1;
        r->status = p->broken;
    }
    p->rq_head = p->rq_tail = NULL;
    if (p->in_req) {
        p->in_req->done = 1;
        p->in_req->status = p->broken;
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
    for (int j = 0; c->peers && j < c->n; j++) {
        if (c->peers[j].dealer) {
            setopt_int(c->peers[j].dealer, ZMQ_LINGER, linger);
            zmq_close(c->peers[j].dealer);
            c->peers[j].dealer = NULL;
        }
    }
    if (c->router_mon) zmq_close(c->router_mon);
    c->router_mon = NULL;
    for (int j = 0; c->peers && j < c->n; j++) {
        if (c->peers[j].mon) zmq_close(c->peers[j].mon);
        c->peers[j].mon = NULL;
    }
}

static void destroy(tcp_comm_t *c, int linger)
{
    if (c->zap_running) tcp_zap_stop(c);
    close_sockets(c, linger);
    for (int j = 0; c->peers && j < c->n; j++) {
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
    spin_request_t *r = c->live;
    while (r) {
        spin_request_t *nx = r->lnext;
        free(r);
        r = nx;
    }
    if (c->evfd >= 0) close(c->evfd);
    free(c->items);
    free(c->peers);
    free(c->pub);
    free(c->zap.bin);
    /* The secret key never outlives the communicator in our memory. */
    volatile char *s = c->sec;
    for (size_t i = 0; i < sizeof c->sec; i++) s[i] = 0;
    free(c);
}

void tcp_close(void *comm)
{
    tcp_comm_t *c = comm;
    if (!c) return;
    /* Let small messages still queued to healthy peers leave, so a party
     * can close right after its last send; after an error, or with requests
     * never waited for (cancelled), drop everything at once. */
    int linger = c->timeout_ms < TCP_CLOSE_LINGER_MS ? c->timeout_ms : TCP_CLOSE_LINGER_MS;
    if (c->failed || c->live) linger = 0;
    destroy(c, linger);
}

/* Build the poll set: router, dealers, eventfd, monitors. */
static int build_items(tcp_comm_t *c)
{
    int cap = 2 * c->n + 4;
    c->items = calloc((size_t)cap, sizeof *c->items);
    if (!c->items) return SPIN_ERR_NOMEM;
    int k = 0;
    c->items[k++] = (zmq_pollitem_t){c->router, -1, ZMQ_POLLIN, 0};
    for (int j = 0; j < c->me; j++) c->items[k++] = (zmq_pollitem_t){c->peers[j].dealer, -1, ZMQ_POLLIN, 0};
    c->item_evfd = k;
    c->items[k++] = (zmq_pollitem_t){NULL, c->evfd, ZMQ_POLLIN, 0};
    c->items[k++] = (zmq_pollitem_t){c->router_mon, -1, ZMQ_POLLIN, 0};
    for (int j = 0; j < c->me; j++) c->items[k++] = (zmq_pollitem_t){c->peers[j].mon, -1, ZMQ_POLLIN, 0};
    c->nitems = k;
    return 0;
}

static void timeout_report(tcp_comm_t *c, const char *const *eps)
{
    char list[1024];
    size_t off = 0;
    list[0] = '\0';
    int missing = 0;
    for (int j = 0; j < c->n && off < sizeof list; j++) {
        if (j == c->me || c->peers[j].up) continue;
        missing++;
        if (j < c->me)
            off += (size_t)snprintf(list + off, sizeof list - off, "%sparty %d (we connect to %s)",
                                    missing > 1 ? ", " : "", j, eps[j]);
        else
            off += (size_t)snprintf(list + off, sizeof list - off, "%sparty %d (connects to us)",
                                    missing > 1 ? ", " : "", j);
    }
    LOGE(c, "tcp: party %d: no handshake within %g s (%s) with %s: are those parties running, "
            "with the same endpoint list?", c->me, c->timeout_ms / 1000.0, c->timeout_src, list);
    int refused = c->secure ? atomic_load(&c->zap.refused) : 0;
    if (refused)
        LOGE(c, "tcp: party %d refused %d connection(s) whose CurveZMQ key is not in the key "
                "directory", c->me, refused);
    if (c->router_hs_failed)
        LOGE(c, "tcp: party %d: %d security handshake(s) on our endpoint failed: do all parties "
                "use the same key_dir (SPIN_KEY_DIR) setting and key files?", c->me,
             c->router_hs_failed);
}

int tcp_open(void *state, const spin_transport_cfg_t *cfg, void **out)
{
    tcp_state_t *st = state;
    const spin_logger_t *log = st ? st->log : NULL;
    if (!st || !cfg || !out) {
        spin_log(log, SPIN_LOG_ERROR, "tcp: open: NULL argument");
        return SPIN_ERR_INVAL;
    }
    if (cfg->struct_size < offsetof(spin_transport_cfg_t, fingerprint) + sizeof(uint64_t)) {
        spin_log(log, SPIN_LOG_ERROR, "tcp: open: configuration struct too small (%u bytes)",
                 cfg->struct_size);
        return SPIN_ERR_INVAL;
    }
    if (cfg->nparties < 1 || cfg->nparties > TCP_MAX_PARTIES || cfg->party < 0 ||
        cfg->party >= cfg->nparties) {
        spin_log(log, SPIN_LOG_ERROR, "tcp: open: party %d of %d parties is out of range", cfg->party,
                 cfg->nparties);
        return SPIN_ERR_INVAL;
    }
    if (!cfg->endpoints) {
        spin_log(log, SPIN_LOG_ERROR, "tcp: open: no endpoint list");
        return SPIN_ERR_CONFIG;
    }
    tcp_comm_t *c = calloc(1, sizeof *c);
    if (!c) return SPIN_ERR_NOMEM;
    c->st = st;
    c->log = log;
    c->me = cfg->party;
    c->n = cfg->nparties;
    c->fingerprint = cfg->fingerprint;
    c->evfd = -1;
    int rc = 0;
    for (int i = 0; i <= c->me && !rc; i++) rc = check_endpoint(c, cfg->endpoints, i);
    if (rc) {
        free(c);
        return rc;
    }
    parse_timeout(c, cfg);
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) >= TCP_SPIN_MIN_CPUS)
        c->spin_us = TCP_SPIN_US;
    c->peers = calloc((size_t)c->n, sizeof *c->peers);
    if (!c->peers) {
        free(c);
        return SPIN_ERR_NOMEM;
    }
    for (int j = 0; j < c->n; j++) c->peers[j].srcfd = -1;
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
    if (zmq_bind(c->router, cfg->endpoints[c->me]) != 0) {
        LOGE(c, "tcp: party %d cannot listen on %s: %s", c->me, cfg->endpoints[c->me],
             zmq_strerror(errno));
        rc = errno == EINVAL || errno == EPROTONOSUPPORT || errno == ENODEV ? SPIN_ERR_CONFIG
                                                                             : SPIN_ERR_IO;
        goto fail;
    }

    /* One DEALER per lower party. */
    for (int j = 0; j < c->me; j++) {
        tcp_peer_t *p = &c->peers[j];
        p->dealer = zmq_socket(c->ctx, ZMQ_DEALER);
        if (!p->dealer) {
            rc = zerr(c, "creating a DEALER socket");
            goto fail;
        }
        char rid[16];
        size_t rlen;
        tcp_rid(c->me, rid, &rlen);
        if (link_opts(c, p->dealer) || zmq_setsockopt(p->dealer, ZMQ_ROUTING_ID, rid, rlen) ||
            setopt_int(p->dealer, ZMQ_RECONNECT_IVL, 20) ||
            setopt_int(p->dealer, ZMQ_RECONNECT_IVL_MAX, 500)) {
            rc = zerr(c, "setting DEALER options");
            goto fail;
        }
        if (c->secure) {
            if (zmq_setsockopt(p->dealer, ZMQ_CURVE_SERVERKEY, c->pub[j], 40) ||
                zmq_setsockopt(p->dealer, ZMQ_CURVE_PUBLICKEY, c->pub[c->me], 40) ||
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
            LOGE(c, "tcp: party %d cannot connect to party %d at %s: %s", c->me, j,
                 cfg->endpoints[j], zmq_strerror(errno));
            rc = SPIN_ERR_CONFIG;
            goto fail;
        }
        if (tcp_send_hello(c, j, TCP_T_HELLO, TCP_ACK_OK) != 0) {
            rc = zerr(c, "sending the handshake");
            goto fail;
        }
    }
    rc = build_items(c);
    if (rc) goto fail;

    double deadline = tcp_now_ms() + c->timeout_ms;
    for (;;) {
        rc = tcp_progress(c);
        if (!rc) rc = tcp_process_monitors(c);
        if (rc) goto fail;
        int up = 1;
        for (int j = 0; j < c->n; j++)
            if (j != c->me && !c->peers[j].up) up = 0;
        if (up) break;
        double now = tcp_now_ms();
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
