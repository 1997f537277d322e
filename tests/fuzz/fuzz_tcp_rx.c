/* fuzz_tcp_rx.c - the tcp transport's receive path (plugins/tcp/tcp_io.c:
 * recv_one's dispatch of a ZeroMQ message by frames, routing id and type,
 * the 32-byte DATA header decoder deliver() with inline and chunked
 * payloads, deliver_chunk(), matching with posted receives and early
 * messages; tcp_comm.c: the HELLO and ACK handlers, link failures;
 * tcp_plugin.c: the routing-id decoder).  tcp_io.c is included here, so
 * that its static recv_one is called as wait() calls it: party 1 of 3
 * reads what arrives on the DEALER linked to party 0 and on its ROUTER
 * (party 2), here two in-process ZeroMQ PAIR sockets carrying the frames
 * the input describes.
 *
 * The input: byte 0: bit 0, party 0's link is up; bit 1, party 2's; byte
 * 1: the number of receives (low 4 bits); per receive its peer (bit 0 of a
 * byte: 0 or 2), tag (1 byte) and length (2 bytes little-endian); then
 * records: a control byte, then (unless bit 2 is set) a 16-bit length and
 * the frame.  Control bit 0: the socket (0: party 0's DEALER, 1: the
 * ROUTER; the first frame of a message decides), bit 1: more frames of
 * this message follow, bit 2: no frame, post the next receive now.  The
 * receives not posted by then are posted at the end.
 *
 * Checks beyond "no crash": a model of the dispatch, of the DATA framing
 * and of the matching rules decides, for every receive, whether posting it
 * is refused (a broken link), whether it is complete, with which status
 * and with which bytes; the per-peer counters match; a routing id that
 * decodes names a party that encodes back to the same party. */
#include "tcp_io.c"

#include "fuzz_common.h"

#define MAXR 16
#define ME 1
#define NP 3
#define FP UINT64_C(0x5350494e46555a5a)

/* ---- the model ---------------------------------------------------------- */

typedef struct m_early {
    struct m_early *next;
    uint32_t tag;
    uint64_t seq, len;
    int chunked;
    unsigned char *data; /* len bytes (what arrived so far) */
    size_t have;
} m_early_t;

typedef struct m_recv {
    int peer;
    uint32_t tag;
    size_t len;
    uint64_t seq;
    int posted, refused, done, status;
    unsigned char *want; /* the bytes the buffer must hold when done with 0 */
    size_t off;
    struct m_recv *next;
} m_recv_t;

typedef struct m_peer {
    int up, broken;
    uint64_t recv_seq, in_left;
    m_recv_t *rq_head, *rq_tail, *in_req;
    m_early_t *uq_head, *uq_tail, *in_u;
    uint64_t bytes, msgs;
} m_peer_t;

static m_peer_t mp[NP];

static void m_fail(int peer, int code)
{
    m_peer_t *p = &mp[peer];
    if (!p->broken) p->broken = code;
    for (m_recv_t *r = p->rq_head; r; r = r->next) r->done = 1, r->status = p->broken;
    p->rq_head = p->rq_tail = NULL;
    if (p->in_req) p->in_req->done = 1, p->in_req->status = p->broken;
    p->in_req = NULL;
    p->in_u = NULL;
    p->in_left = 0;
}

static void m_ok(int peer, m_recv_t *r)
{
    if (r->done) return;
    r->done = 1;
    r->status = 0;
    mp[peer].bytes += r->len;
    mp[peer].msgs++;
}

static int m_fits(m_recv_t *r, uint32_t tag, uint64_t seq, uint64_t len)
{
    if (tag == r->tag && seq == r->seq && len == r->len) return 1;
    if (!r->done) r->done = 1, r->status = SPIN_ERR_PROTOCOL;
    return 0;
}

static void m_deliver(int peer, const unsigned char *h, size_t flen)
{
    m_peer_t *p = &mp[peer];
    int chunked = (h[6] & TCP_F_CHUNKED) != 0;
    uint32_t tag = (uint32_t)fuzz_le(h + 8, 4);
    uint64_t seq = fuzz_le(h + 16, 8), len = fuzz_le(h + 24, 8);
    if (chunked ? flen != TCP_HDR_LEN || len == 0 : flen - TCP_HDR_LEN != len) {
        m_fail(peer, SPIN_ERR_PROTOCOL);
        return;
    }
    m_recv_t *r = p->rq_head;
    if (r) {
        p->rq_head = r->next;
        if (!p->rq_head) p->rq_tail = NULL;
        r->next = NULL;
        if (m_fits(r, tag, seq, len)) {
            if (!chunked) {
                if (len) memcpy(r->want, h + TCP_HDR_LEN, len);
                m_ok(peer, r);
            } else {
                p->in_req = r;
                r->off = 0;
            }
        }
        if (chunked) p->in_left = len;
        return;
    }
    m_early_t *u = calloc(1, sizeof *u);
    if (!u) abort();
    u->tag = tag;
    u->seq = seq;
    u->len = len;
    u->chunked = chunked;
    if (!chunked) {
        u->data = malloc(len ? len : 1);
        if (!u->data) abort();
        if (len) memcpy(u->data, h + TCP_HDR_LEN, len);
        u->have = len;
    } else {
        /* the chunks add up to at most len bytes, and at most what the input holds */
        u->data = NULL;
        p->in_left = len;
        p->in_u = u;
    }
    if (p->uq_tail) p->uq_tail->next = u;
    else p->uq_head = u;
    p->uq_tail = u;
}

static void m_chunk(int peer, const unsigned char *d, size_t n)
{
    m_peer_t *p = &mp[peer];
    if (n == 0 || n > p->in_left) {
        m_fail(peer, SPIN_ERR_PROTOCOL);
        return;
    }
    if (p->in_req) {
        memcpy(p->in_req->want + p->in_req->off, d, n);
        p->in_req->off += n;
    } else if (p->in_u) {
        unsigned char *nd = realloc(p->in_u->data, p->in_u->have + n);
        if (!nd) abort();
        memcpy(nd + p->in_u->have, d, n);
        p->in_u->data = nd;
        p->in_u->have += n;
    }
    p->in_left -= n;
    if (p->in_left == 0) {
        if (p->in_req) m_ok(peer, p->in_req);
        p->in_req = NULL;
        p->in_u = NULL;
    }
}

static void m_post(m_recv_t *r)
{
    m_peer_t *p = &mp[r->peer];
    r->posted = 1;
    if (p->broken) {
        r->refused = 1;
        return;
    }
    r->seq = p->recv_seq++;
    m_early_t *u = p->uq_head;
    if (!u) {
        if (p->rq_tail) p->rq_tail->next = r;
        else p->rq_head = r;
        p->rq_tail = r;
        return;
    }
    p->uq_head = u->next;
    if (!p->uq_head) p->uq_tail = NULL;
    int arriving = p->in_u == u;
    if (arriving) p->in_u = NULL;
    if (m_fits(r, u->tag, u->seq, u->len)) {
        if (u->have) memcpy(r->want, u->data, u->have);
        if (arriving) {
            p->in_req = r;
            r->off = u->have;
        } else {
            m_ok(r->peer, r);
        }
    }
    free(u->data);
    free(u);
}

/* One message of nf frames on the DEALER (dealer 1) or the ROUTER. */
static void m_message(int dealer, unsigned char **f, size_t *fl, int nf)
{
    int body = dealer ? 0 : 1, peer = 0;
    if (nf != body + 1) return;
    if (!dealer) peer = tcp_rid_party(f[0], fl[0]);
    int known = peer >= 0 && peer < NP && peer != ME && mp[peer].up && (dealer || peer > ME);
    const unsigned char *h = f[body];
    size_t n = fl[body];
    if (known && mp[peer].in_left) {
        m_chunk(peer, h, n);
    } else if (n < TCP_HDR_LEN || fuzz_le(h, 4) != TCP_MAGIC) {
        return;
    } else if (h[4] == TCP_T_DATA && known) {
        m_deliver(peer, h, n);
    } else if (h[4] == TCP_T_ACK && dealer && n == TCP_HDR_LEN && !mp[0].up) {
        /* tcp_on_ack: the ACK of party 0 to our HELLO brings the link up */
        if (h[5] == TCP_WIRE_VERSION && fuzz_le(h + 16, 8) == FP && fuzz_le(h + 12, 4) == NP &&
            fuzz_le(h + 8, 4) == 0 && h[6] == SPIN_TKIT_ST_OK)
            mp[0].up = 1;
    }
    /* a HELLO on the ROUTER changes nothing here: our answer cannot be sent
     * (no ROUTER socket), and a party already up is ignored */
}

/* ---- the harness --------------------------------------------------------- */

static void *zctx, *dtx, *drx, *rtx, *rrx;

static void zsetup(void)
{
    if (zctx) return;
    zctx = zmq_ctx_new();
    dtx = zmq_socket(zctx, ZMQ_PAIR);
    drx = zmq_socket(zctx, ZMQ_PAIR);
    rtx = zmq_socket(zctx, ZMQ_PAIR);
    rrx = zmq_socket(zctx, ZMQ_PAIR);
    if (!zctx || !dtx || !drx || !rtx || !rrx || zmq_bind(drx, "inproc://fuzz-dealer") ||
        zmq_connect(dtx, "inproc://fuzz-dealer") || zmq_bind(rrx, "inproc://fuzz-router") ||
        zmq_connect(rtx, "inproc://fuzz-router")) {
        fprintf(stderr, "zmq setup: %s\n", zmq_strerror(errno));
        abort();
    }
}

static void drain_sock(tcp_comm_t *c, int dealer)
{
    for (int guard = 0; guard < 100000; guard++)
        if (recv_one(c, dealer ? drx : rrx, dealer ? 0 : -1, 0) == 0) return;
    FUZZ_CHECK(0, "recv_one keeps finding messages");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zsetup();
    fuzz_in_t in = {data, size, 0};
    uint8_t flags = fuzz_u8(&in);
    int nr = fuzz_u8(&in) & 15;
    m_recv_t mr[MAXR];
    memset(mr, 0, sizeof mr);
    memset(mp, 0, sizeof mp);
    mp[0].up = flags & 1;
    mp[2].up = (flags >> 1) & 1;
    for (int i = 0; i < nr; i++) {
        mr[i].peer = fuzz_u8(&in) & 1 ? 2 : 0;
        mr[i].tag = fuzz_u8(&in);
        mr[i].len = fuzz_u16(&in);
        mr[i].want = calloc(1, mr[i].len ? mr[i].len : 1);
        if (!mr[i].want) abort();
    }

    tcp_comm_t *c = calloc(1, sizeof *c);
    c->kit.name = "tcp";
    c->kit.log = &fuzz_logger;
    c->kit.me = ME;
    c->kit.n = NP;
    c->kit.timeout_ms = 1000;
    c->kit.fingerprint = FP;
    c->kit.stats = calloc(NP, sizeof *c->kit.stats);
    c->peers = calloc(NP, sizeof *c->peers);
    c->evfd = -1;
    c->opened = 1;
    if (!c->kit.stats || !c->peers) abort();
    for (int j = 0; j < NP; j++) {
        c->peers[j].up = mp[j].up;
        c->peers[j].srcfd = -1;
    }
    tcp_rid(2, c->peers[2].rid, &c->peers[2].rid_len);

    spin_request_t *req[MAXR] = {0};
    unsigned char *buf[MAXR] = {0};
    int rc[MAXR] = {0};
    int next = 0;
    for (int i = 0; i < nr; i++) {
        buf[i] = malloc(mr[i].len ? mr[i].len : 1);
        if (!buf[i]) abort();
    }

    /* the frames of the message being built */
    unsigned char *f[8];
    size_t fl[8];
    int nf = 0, extra = 0, dealer = 1;
    for (;;) {
        int end = in.at >= size;
        uint8_t ctl = end ? 0 : fuzz_u8(&in);
        if (!end && (ctl & 4)) {
            if (next < nr) {
                rc[next] = tcp_irecv(c, mr[next].peer, mr[next].tag, buf[next], mr[next].len,
                                     &req[next]);
                m_post(&mr[next]);
                next++;
            }
            continue;
        }
        if (end && nf == 0 && !extra) break;
        size_t len = end ? 0 : fuzz_u16(&in);
        if (len > size - in.at) len = size - in.at;
        const unsigned char *fr = data + in.at;
        in.at += len;
        int more = !end && (ctl & 2);
        if (nf == 0 && !extra) dealer = !(ctl & 1);
        if (!dealer && nf == 0 && !extra && len <= 16) {
            /* a routing id: one that decodes names a party that encodes back to it */
            int party = tcp_rid_party(fr, len);
            if (party >= 0) {
                char rid[16];
                size_t rl;
                FUZZ_CHECK(party <= TCP_MAX_PARTIES && len >= 5, "routing id decoded as %d", party);
                tcp_rid(party, rid, &rl);
                FUZZ_CHECK(tcp_rid_party(rid, rl) == party, "routing id of party %d", party);
            }
        }
        if (zmq_send(dealer ? dtx : rtx, fr, len, more ? ZMQ_SNDMORE : 0) != (int)len) {
            fprintf(stderr, "zmq_send: %s\n", zmq_strerror(errno));
            abort();
        }
        if (nf < 8) {
            f[nf] = malloc(len ? len : 1);
            if (!f[nf]) abort();
            if (len) memcpy(f[nf], fr, len);
            fl[nf++] = len;
        } else {
            extra = 1;
        }
        if (more) continue;
        /* recv_one keeps two frames at most, a message with more is ignored */
        m_message(dealer, f, fl, nf > 2 || extra ? 99 : nf);
        for (int i = 0; i < nf; i++) free(f[i]);
        nf = 0;
        extra = 0;
        drain_sock(c, dealer);
        if (end) break;
    }
    for (; next < nr; next++) {
        rc[next] = tcp_irecv(c, mr[next].peer, mr[next].tag, buf[next], mr[next].len, &req[next]);
        m_post(&mr[next]);
    }

    /* the code against the model */
    for (int i = 0; i < nr; i++) {
        m_recv_t *m = &mr[i];
        FUZZ_NOTE("receive %d (party %d, tag %u, %zu bytes): rc %d, done %d status %d; model: refused "
                  "%d done %d status %d", i, m->peer, m->tag, m->len, rc[i], req[i] ? req[i]->kit.done : -1,
                  req[i] ? req[i]->kit.status : -1, m->refused, m->done, m->status);
        if (m->refused) {
            FUZZ_CHECK(rc[i] != 0, "receive %d from party %d posted on a broken link", i, m->peer);
            continue;
        }
        FUZZ_CHECK(rc[i] == 0 && req[i], "receive %d from party %d refused: %d", i, m->peer, rc[i]);
        const spin_tkit_req_t *r = &req[i]->kit;
        FUZZ_CHECK(r->seq == m->seq, "receive %d: seq %llu, model %llu", i,
                   (unsigned long long)r->seq, (unsigned long long)m->seq);
        FUZZ_CHECK(r->done == m->done && (!m->done || r->status == m->status),
                   "receive %d (party %d, tag %u, %zu bytes): done %d status %d, the model: done %d "
                   "status %d", i, m->peer, m->tag, m->len, r->done, r->status, m->done, m->status);
        if (m->done && m->status == 0)
            FUZZ_CHECK(m->len == 0 || !memcmp(buf[i], m->want, m->len), "receive %d: payload differs",
                       i);
    }
    for (int j = 0; j < NP; j++) {
        FUZZ_CHECK(c->kit.stats[j].bytes_recv == mp[j].bytes && c->kit.stats[j].msgs_recv == mp[j].msgs,
                   "party %d counters: %llu bytes %llu messages, the model %llu %llu", j,
                   (unsigned long long)c->kit.stats[j].bytes_recv,
                   (unsigned long long)c->kit.stats[j].msgs_recv, (unsigned long long)mp[j].bytes,
                   (unsigned long long)mp[j].msgs);
        FUZZ_CHECK(!c->peers[j].broken == !mp[j].broken && c->peers[j].up == mp[j].up,
                   "party %d: broken %d up %d, the model %d %d", j, c->peers[j].broken,
                   c->peers[j].up, mp[j].broken, mp[j].up);
    }

    /* tear down */
    for (int j = 0; j < NP; j++)
        if (j != ME) tcp_fail_link(c, j, SPIN_ERR_PEER);
    for (int i = 0; i < nr; i++)
        if (req[i]) tcp_wait(c, req[i]);
    FUZZ_CHECK(c->kit.live == NULL, "requests left in the live list");
    for (int j = 0; j < NP; j++) {
        while (c->peers[j].uq_head) {
            tcp_umsg_t *u = c->peers[j].uq_head;
            c->peers[j].uq_head = u->next;
            tcp_umsg_free(u);
        }
        while (mp[j].uq_head) {
            m_early_t *u = mp[j].uq_head;
            mp[j].uq_head = u->next;
            free(u->data);
            free(u);
        }
    }
    for (int i = 0; i < nr; i++) {
        free(buf[i]);
        free(mr[i].want);
    }
    free(c->peers);
    free(c->kit.stats);
    free(c);
    return 0;
}
