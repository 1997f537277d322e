/* dealer_client.c - the party side of the dealer (dealer/ is the dealer's
 * side): requests, corrections, and the seed-compressed streams.
 *
 * At setup the dealer gave every party i a 128-bit key K_i (ctx.c).  Request
 * number r (all parties count requests in the same order) owns the AES-CTR
 * stream with nonce r under every K_i; a party reads its shares of the
 * request's correlated randomness from that stream (spin_mpc_dealer_stream),
 * and party 0 alone receives the dealer's corrections
 * (spin_mpc_dealer_receive): one share of the derived values, independent
 * of N.  Every party describes each request (spin_mpc_desc_mix) whoever
 * sends it; only party 0 talks to the dealer after setup, and it sends each
 * request when its protocol starts, so the dealer computes while the parties
 * exchange their first opening.
 */
#include "config.h"
#include "mpc/mpc_internal.h"

#include <stdlib.h>

int spin_mpc_dealer_request(spin_ctx_t *ctx, const dealer_req_t *rq)
{
    /* every party describes the step, whoever sends it */
    spin_mpc_desc_mix(ctx, rq->kind);
    for (size_t i = 0; i < sizeof rq->p / sizeof rq->p[0]; i++) spin_mpc_desc_mix(ctx, rq->p[i]);
    if (ctx->party != 0) return 0;
    int rc = ctx->transport->send(ctx->comm, ctx->nparties, TAG_DEALER_REQ, rq, sizeof *rq);
    if (rc) MPC_ERR(ctx, "party 0: cannot reach the dealer: %s", spin_strerror(rc));
    return rc;
}

/* Party 0 receives a correction as spin_mpc_chunks(words) messages, all posted
 * at once; with device memory, chunk j is uploaded while chunk j+1 is
 * still arriving, unless the transport takes device memory (the direct
 * path: chunks land in dev). */
int spin_mpc_dealer_receive(spin_ctx_t *ctx, uint64_t *dev, size_t words)
{
    size_t C = spin_mpc_chunks(words);
    spin_request_t **rq = calloc(C, sizeof *rq);
    int staged = !ctx->host_mem && !spin_mpc_dev_direct(ctx);
    uint64_t *h = !staged ? dev : malloc(words ? words * 8 : 1);
    int rc = rq && h ? 0 : SPIN_ERR_NOMEM;
    for (size_t j = 0; j < C && !rc; j++) {
        size_t off = j * SPIN_CHUNK_WORDS, len = spin_mpc_chunk_len(words, j);
        rc = ctx->transport->irecv(ctx->comm, ctx->nparties, TAG_DEALER_RESP, h + off, len * 8, &rq[j]);
    }
    for (size_t j = 0; rq && j < C; j++) {
        if (!rq[j]) continue;
        int e = ctx->transport->wait(ctx->comm, rq[j]);
        if (e && !rc) rc = e;
        size_t off = j * SPIN_CHUNK_WORDS, len = spin_mpc_chunk_len(words, j);
        if (!rc && staged && len) rc = ctx->compute->copy_h2d(ctx->compute_state, dev + off, h + off, len * 8, NULL);
    }
    if (!rc && staged) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    if (h != dev) free(h);
    free(rq);
    if (rc) MPC_ERR(ctx, "party 0: no correlated randomness from the dealer: %s", spin_strerror(rc));
    return rc;
}

int spin_mpc_dealer_stream(spin_ctx_t *ctx, uint64_t nonce, uint64_t off, uint64_t *dev, size_t n)
{
    if (!n) return 0;
    return ctx->compute->prg_fill(ctx->compute_state, &ctx->dealer_key, nonce, off, dev, n, NULL);
}
