/* fuzz_sock_rx.c - the sock transport's receive path (plugins/sock/
 * sock_rx.c: the 24-byte frame header {u32 tag, u32 "SPND", u64 seq, u64
 * len} parsed out of the byte stream, matching with posted receives, early
 * messages, the direct and header-alone reads; sock_io.c for link
 * failures).  Party 0 of 2 reads what party 1 sent through a real
 * socketpair, non-blocking (sock_read_some), exactly as in wait().
 *
 * The input: byte 0: low 3 bits, receives posted before the stream
 * arrives; bits 4-6, receives posted after it; byte 1: 0, the stream is
 * written at once, else in pieces of that many bytes (each read before the
 * next is written); then per receive its tag (1 byte) and length (3 bytes
 * little-endian, masked to 256 KiB); the rest is the stream.
 *
 * Checks beyond "no crash": a model of the wire format and of the
 * matching rules decides, for every receive, whether it is complete, with
 * which status (0, SPIN_ERR_PROTOCOL for a message whose tag, sequence
 * number or length differs, or for a malformed header, which takes the
 * link down) and with which bytes; the per-peer counters match.  A header
 * that arrives before its receive makes sock allocate the length it
 * claims (up to SIZE_MAX / 2; a failed malloc is handled): the harness
 * lowers such lengths to 20 bits in its copy of the stream so that
 * libFuzzer's malloc limit does not stop every run (README.md). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "fuzz_common.h"
#include "sock_internal.h"

#define MAXR 16

typedef struct msg {
    uint32_t tag;
    uint64_t seq, len;
    size_t at, have;   /* payload offset in the stream, bytes of it present */
} msg_t;

/* Read what has arrived, as wait() does: never from a broken link (wait()
 * reads only for a pending request, and a link failure completes every
 * request of its peer). */
static void read_all(sock_comm_t *c)
{
    for (int guard = 0; guard < 1000000; guard++)
        if (c->peers[1].broken || sock_read_some(c, 1, 0) <= 0) return;
    FUZZ_CHECK(0, "sock_read_some keeps reporting progress");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size, 0};
    uint8_t b0 = fuzz_u8(&in), step = fuzz_u8(&in);
    int npre = b0 & 7, npost = (b0 >> 4) & 7, nr = npre + npost;
    uint32_t rtag[MAXR];
    size_t rlen[MAXR];
    for (int i = 0; i < nr; i++) {
        rtag[i] = fuzz_u8(&in);
        uint32_t l = fuzz_u8(&in);
        l |= (uint32_t)fuzz_u8(&in) << 8;
        l |= (uint32_t)fuzz_u8(&in) << 16;
        rlen[i] = l & 0x3FFFF;
    }
    size_t slen = in.at < size ? size - in.at : 0;
    uint8_t *s = malloc(slen ? slen : 1);
    if (!s) return 0;
    if (slen) memcpy(s, data + in.at, slen);

    /* The model: the messages of the stream, up to a malformed header or
     * the end; early ones (no receive posted yet) get their length capped. */
    msg_t msgs[64];
    int nm = 0, malformed = 0;
    size_t at = 0;
    while (at + SOCK_HDR_LEN <= slen && nm < 64) {
        uint8_t *h = s + at;
        uint32_t mark = (uint32_t)fuzz_le(h + 4, 4);
        uint64_t len = fuzz_le(h + 16, 8);
        if (mark != SOCK_DATA_MARK || len > (uint64_t)(SIZE_MAX / 2)) {
            malformed = 1;
            break;
        }
        if (nm >= npre && len > (1u << 20)) {
            len &= (1u << 20) - 1;
            for (int i = 0; i < 8; i++) h[16 + i] = (uint8_t)(len >> (8 * i));
        }
        msg_t *m = &msgs[nm++];
        m->tag = (uint32_t)fuzz_le(h, 4);
        m->seq = fuzz_le(h + 8, 8);
        m->len = len;
        m->at = at + SOCK_HDR_LEN;
        m->have = slen - m->at < len ? slen - m->at : (size_t)len;
        at = m->at + m->have;
        if (m->have < len) break;
    }
    if (nm == 64) slen = at; /* the model stops there: so does the stream */

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) abort();
    int big = 1 << 21;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);

    sock_comm_t *c = calloc(1, sizeof *c);
    c->kit.name = "sock";
    c->kit.log = &fuzz_logger;
    c->kit.me = 0;
    c->kit.n = 2;
    c->kit.timeout_ms = 1000;
    c->kit.stats = calloc(2, sizeof *c->kit.stats);
    c->peers = calloc(2, sizeof *c->peers);
    c->lfd = -1;
    c->peers[0].fd = -1;
    sock_peer_t *p = &c->peers[1];
    p->fd = sv[0];
    p->up = 1;
    p->rx = malloc(SOCK_RXBUF);
    if (!c->kit.stats || !c->peers || !p->rx) abort();

    spin_request_t *req[MAXR] = {0};
    unsigned char *buf[MAXR] = {0};
    int rc[MAXR];
    for (int i = 0; i < nr; i++) {
        buf[i] = malloc(rlen[i] ? rlen[i] : 1);
        if (!buf[i]) abort();
        memset(buf[i], 0xee, rlen[i]);
    }
    for (int i = 0; i < npre; i++) {
        rc[i] = sock_irecv(c, 1, rtag[i], buf[i], rlen[i], &req[i]);
        FUZZ_CHECK(rc[i] == 0, "posting receive %d: %d", i, rc[i]);
    }
    size_t chunk = step ? step : (slen ? slen : 1);
    for (size_t off = 0; off < slen;) {
        size_t k = slen - off < chunk ? slen - off : chunk;
        ssize_t w = send(sv[1], s + off, k, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !p->broken) {
            read_all(c);
            continue;
        }
        if (w <= 0) {
            /* a malformed header shut the link down: the rest is not read */
            FUZZ_CHECK(p->broken, "socketpair send: %s", strerror(errno));
            break;
        }
        off += (size_t)w;
        read_all(c);
    }
    read_all(c);
    for (int i = npre; i < nr; i++) {
        req[i] = NULL;
        rc[i] = sock_irecv(c, 1, rtag[i], buf[i], rlen[i], &req[i]);
        if (rc[i] == 0) read_all(c);
    }

    /* What the model says of each receive. */
    uint64_t bytes = 0, count = 0;
    for (int i = 0; i < nr; i++) {
        int have_msg = i < nm;
        const msg_t *m = have_msg ? &msgs[i] : NULL;
        int fits = m && m->tag == rtag[i] && m->seq == (uint64_t)i && m->len == rlen[i];
        int complete = m && m->have == m->len;
        if (i >= npre && malformed && !have_msg) {
            FUZZ_CHECK(rc[i] != 0 && !req[i], "receive %d posted on a broken link: %d", i, rc[i]);
            continue;
        }
        FUZZ_CHECK(rc[i] == 0 && req[i], "posting receive %d: %d", i, rc[i]);
        const spin_tkit_req_t *r = &req[i]->kit;
        FUZZ_NOTE("receive %d (tag %u, %zu bytes): done %d status %d; message %s", i, rtag[i], rlen[i],
                  r->done, r->status, !have_msg ? "none" : complete ? "complete" : "partial");
        if (have_msg && !fits) {
            FUZZ_CHECK(r->done && r->status == SPIN_ERR_PROTOCOL,
                       "receive %d (tag %u, %zu bytes): message tag %u seq %llu %llu bytes: done %d "
                       "status %d, expected a protocol error", i, rtag[i], rlen[i], m->tag,
                       (unsigned long long)m->seq, (unsigned long long)m->len, r->done, r->status);
        } else if (have_msg && complete) {
            FUZZ_CHECK(r->done && r->status == 0, "receive %d: done %d status %d, expected complete",
                       i, r->done, r->status);
            FUZZ_CHECK(rlen[i] == 0 || !memcmp(buf[i], s + m->at, rlen[i]),
                       "receive %d: payload differs", i);
            bytes += rlen[i];
            count++;
        } else if (!have_msg && malformed) {
            FUZZ_CHECK(r->done && r->status == SPIN_ERR_PROTOCOL,
                       "receive %d after a malformed header: done %d status %d", i, r->done,
                       r->status);
        } else {
            FUZZ_CHECK(!r->done, "receive %d complete (status %d) without its message", i, r->status);
        }
    }
    FUZZ_CHECK(c->kit.stats[1].bytes_recv == bytes && c->kit.stats[1].msgs_recv == count,
               "counters: %llu bytes, %llu messages; the model: %llu, %llu",
               (unsigned long long)c->kit.stats[1].bytes_recv,
               (unsigned long long)c->kit.stats[1].msgs_recv, (unsigned long long)bytes,
               (unsigned long long)count);
    FUZZ_CHECK(!malformed || p->broken, "a malformed header left the link up");

    /* Tear down: fail what is pending, release every request. */
    sock_fail_link(c, 1, SPIN_ERR_PEER);
    for (int i = 0; i < nr; i++)
        if (req[i]) sock_wait(c, req[i]);
    while (p->uq_head) {
        sock_umsg_t *u = p->uq_head;
        p->uq_head = u->next;
        sock_umsg_free(u);
    }
    while (c->free_reqs) {
        spin_request_t *r = c->free_reqs;
        c->free_reqs = r->next;
        free(r);
    }
    FUZZ_CHECK(c->kit.live == NULL, "requests left in the live list");
    for (int i = 0; i < nr; i++) free(buf[i]);
    free(p->spare);
    free(p->rx);
    free(c->peers);
    free(c->kit.stats);
    free(c);
    close(sv[0]);
    close(sv[1]);
    free(s);
    return 0;
}
