/* serve.c - the dealer role: serve party 0's requests in order until
 * every party has closed.
 *
 * Only party 0 talks to the dealer after setup: it sends each request when
 * its protocol starts, so the dealer computes while the parties exchange
 * their first opening, and party 0 receives the correction when it needs
 * it.  Requests are served in order; the nonce in each request is checked
 * against the dealer's own count, so a desynchronised party 0 is reported.
 * Each answer comes from the run-ahead queue or a generator (runahead.c).
 * A request the dealer cannot answer (malformed, beyond a cap of
 * dealer_internal.h, out of memory) is refused: the generator has logged
 * why, party 0 gets a REFUSAL message in place of the correction (4 bytes,
 * never the length of a correction, so its receive fails at once instead
 * of waiting for the timeout) and the dealer stops serving with the error.
 */
#include "config.h"
#include "dealer/dealer_internal.h"

#include <stdlib.h>

/* The correction to party 0 in spin_mpc_chunks(words) messages; with device
 * memory, chunk j+1 is copied to the host while chunk j is on the wire,
 * unless the transport takes device memory (direct: sent from dev, after
 * the stream_sync below). */
static int send_correction(spin_ctx_t *ctx, const uint64_t *dev, size_t words)
{
    size_t C = spin_mpc_chunks(words);
    spin_request_t **rq = calloc(C, sizeof *rq);
    int staged = !ctx->host_mem && !spin_mpc_dev_direct(ctx);
    uint64_t *h = !staged ? (uint64_t *)dev : malloc(words ? words * 8 : 1);
    int rc = rq && h ? ctx->compute->stream_sync(ctx->compute_state, NULL) : SPIN_ERR_NOMEM;
    for (size_t j = 0; j < C && !rc; j++) {
        size_t off = j * SPIN_CHUNK_WORDS, len = spin_mpc_chunk_len(words, j);
        if (staged && len) {
            rc = ctx->compute->copy_d2h(ctx->compute_state, h + off, dev + off, len * 8, NULL);
            if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
        }
        if (!rc) rc = ctx->transport->isend(ctx->comm, 0, TAG_DEALER_RESP, h + off, len * 8, &rq[j]);
    }
    for (size_t j = 0; rq && j < C; j++) {
        if (!rq[j]) continue;
        int e = ctx->transport->wait(ctx->comm, rq[j]);
        if (e && !rc) rc = e;
    }
    if (h != dev) free(h);
    free(rq);
    return rc;
}

/* What party 0 receives in place of a correction that was refused. */
static const char REFUSAL[4] = "NAK";

int spin_dealer_serve(spin_ctx_t *ctx)
{
    if (!ctx || !ctx->dealer) return SPIN_ERR_INVAL;
    spin_dealer_runahead_t ra;
    spin_dealer_runahead_init(ctx, &ra);
    uint64_t expect = 0;
    int rc = 0;
    for (;;) {
        dealer_req_t rq;
        rc = ctx->transport->recv(ctx->comm, 0, TAG_DEALER_REQ, &rq, sizeof rq);
        if (rc) {
            MPC_ERR(ctx, "dealer: lost party 0: %s", spin_strerror(rc));
            break;
        }
        if (rq.kind == REQ_BYE) {
            /* tests/test_arith.c (dealer_runahead) reads this line */
            spin_log(ctx->log, SPIN_LOG_DEBUG,
                     "dealer: served %llu requests: %llu prepared ahead, %llu mispredicted",
                     (unsigned long long)expect, (unsigned long long)ra.hits,
                     (unsigned long long)ra.misses);
            break;
        }
        if (rq.nonce != expect) {
            MPC_ERR(ctx, "dealer: party 0 sent request %llu, expected %llu: parties out of step",
                    (unsigned long long)rq.nonce, (unsigned long long)expect);
            rc = SPIN_ERR_PROTOCOL;
            break;
        }
        expect++;
        spin_dealer_runahead_note(&ra, &rq);
        uint64_t *buf = NULL;
        size_t words = 0;
        rc = spin_dealer_answer(ctx, &ra, &rq, &buf, &words);
        if (rc) {
            spin_log(ctx->log, SPIN_LOG_ERROR, "dealer: stopping: request %llu (%s) could not be answered: %s",
                     (unsigned long long)rq.nonce, spin_dealer_kind_name(rq.kind), spin_strerror(rc));
            ctx->transport->send(ctx->comm, 0, TAG_DEALER_RESP, REFUSAL, sizeof REFUSAL);
            break;
        }
        rc = send_correction(ctx, buf, words);
        spin_mpc_buf_release(ctx, buf);
        if (rc) break;
        rc = spin_dealer_runahead_prepare(ctx, &ra, &rq);
        if (rc) break;
    }
    spin_dealer_runahead_fini(ctx, &ra);
    return rc;
}
