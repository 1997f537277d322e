/* open.c - batched openings: every party sends its share of all values of
 * one protocol step to every peer (or to one receiver), and the sum (or
 * XOR) is formed as the shares arrive.  start/finish are split so a caller
 * can do local work while the messages travel.
 *
 * Pipelining (docs/ARCHITECTURE.md, "Openings"): a share travels as
 * chunks of SPIN_CHUNK_WORDS words, one message each, whatever the
 * backends (so parties on different compute plugins agree on the
 * framing).  With device memory, start copies chunk j+1 to the host while
 * the transport's I/O thread sends chunk j; finish waits for chunk j from
 * every peer, then uploads and adds it while chunk j+1 is still arriving.
 * With host memory the chunks are sent from and added in place.
 * Direct path: when the communicator takes device memory (the transport's
 * comm_caps has SPIN_CAP_TRANSPORT_DEVICE_MEM, e.g. rdma with GPUDirect),
 * device shares are sent from and received into device memory (the
 * receive buffer is plugin memory) and added there: no host copies, the
 * same messages on the wire.  Each party decides for itself.
 *
 * Cost per opening of n words: to all, (N-1) 8n bytes sent by each party
 * in ceil(n / SPIN_CHUNK_WORDS) messages per peer (one for n = 0), one
 * round; to one receiver, 8n bytes from each other party, one round.
 * spin_reveal_ring / spin_reveal_f64 (the public reveal) are one opening. */
#include "config.h"
#include "mpc/mpc_internal.h"

#include <stdlib.h>
#include <string.h>

/* Device memory straight to the transport?  Constant for a context: the
 * compute plugin's memory is device memory and the communicator takes it. */
int spin_mpc_dev_direct(const spin_ctx_t *ctx)
{
    if (ctx->host_mem || !ctx->comm) return 0;
    uint64_t caps = ctx->transport->comm_caps ? ctx->transport->comm_caps(ctx->comm) : ctx->transport_backend.desc->caps;
    return (caps & SPIN_CAP_TRANSPORT_DEVICE_MEM) != 0;
}

void spin_mpc_desc_mix(spin_ctx_t *ctx, uint64_t v)
{
    /* splitmix64 finaliser over (hash ^ v) */
    uint64_t z = (ctx->desc_hash ^ v) + UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    ctx->desc_hash = z ^ (z >> 31);
}

size_t spin_mpc_chunks(size_t n)
{
    return n ? (n + SPIN_CHUNK_WORDS - 1) / SPIN_CHUNK_WORDS : 1;
}

size_t spin_mpc_chunk_len(size_t n, size_t j)
{
    size_t off = j * SPIN_CHUNK_WORDS;
    return n - off < SPIN_CHUNK_WORDS ? n - off : SPIN_CHUNK_WORDS;
}

/* Wait for every request still pending; report the first failure. */
static int wait_all(spin_opening_t *op, int rc)
{
    spin_ctx_t *ctx = op->ctx;
    size_t C = op->chunks;
    for (int p = 0; p < ctx->nparties; p++)
        for (size_t j = 0; op->sreq && op->rreq && j < C; j++) {
            spin_request_t **r[2] = {&op->rreq[(size_t)p * C + j], &op->sreq[(size_t)p * C + j]};
            for (int k = 0; k < 2; k++) {
                if (!*r[k]) continue;
                int e = ctx->transport->wait(ctx->comm, *r[k]);
                *r[k] = NULL;
                if (e && !rc) {
                    rc = e;
                    MPC_ERR(ctx, "opening (tag 0x%x): %s party %d failed: %s", op->tag,
                            k ? "sending to" : "receiving from", p, spin_strerror(e));
                }
            }
        }
    return rc;
}

static void release(spin_opening_t *op)
{
    if (op->hsend_owned) free(op->hsend);
    if (op->hrecv && spin_mpc_dev_direct(op->ctx)) spin_mpc_buf_release(op->ctx, op->hrecv);
    else free(op->hrecv);
    free(op->sreq);
    free(op->rreq);
    op->hsend = op->hrecv = NULL;
    op->sreq = op->rreq = NULL;
}

int spin_mpc_open_start(spin_ctx_t *ctx, uint32_t tag, uint64_t *dev, size_t n, int to,
                    spin_opening_t *op)
{
    memset(op, 0, sizeof *op);
    spin_mpc_desc_mix(ctx, tag);
    spin_mpc_desc_mix(ctx, n);
    spin_mpc_desc_mix(ctx, (uint64_t)(int64_t)to);
    tag = (tag & 0xffffu) | (uint32_t)(ctx->desc_hash >> 48) << 16;
    op->ctx = ctx;
    op->tag = tag;
    op->to = to;
    op->n = n;
    op->dev = dev;
    op->chunks = spin_mpc_chunks(n);
    size_t C = op->chunks, N = (size_t)ctx->nparties;
    int rc = 0, receive = to < 0 || to == ctx->party, direct = spin_mpc_dev_direct(ctx);
    int staged = !ctx->host_mem && !direct;
    op->sreq = calloc(N * C, sizeof *op->sreq);
    op->rreq = calloc(N * C, sizeof *op->rreq);
    if (!op->sreq || !op->rreq) goto nomem;
    if (!staged) {
        op->hsend = dev;
    } else {
        op->hsend = malloc(n ? n * 8 : 1);
        op->hsend_owned = 1;
        if (!op->hsend) goto nomem;
    }
    /* direct: the share must be on the device before the transport reads it */
    if (direct && to != ctx->party) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    if (rc) goto fail;
    if (receive) {
        if (direct) {
            rc = spin_mpc_buf_alloc(ctx, (N - 1) * (n ? n : 1), &op->hrecv); /* device memory */
            if (rc) goto fail;
        } else {
            op->hrecv = malloc((N - 1) * (n ? n * 8 : 1));
        }
        if (!op->hrecv) goto nomem;
        /* every receive is posted first, so chunks land where they belong */
        int slot = 0;
        for (int p = 0; p < ctx->nparties && !rc; p++) {
            if (p == ctx->party) continue;
            for (size_t j = 0; j < C && !rc; j++)
                rc = ctx->transport->irecv(ctx->comm, p, tag, op->hrecv + (size_t)slot * n + j * SPIN_CHUNK_WORDS,
                                   spin_mpc_chunk_len(n, j) * 8, &op->rreq[(size_t)p * C + j]);
            slot++;
        }
    }
    for (size_t j = 0; j < C && !rc; j++) {
        size_t off = j * SPIN_CHUNK_WORDS, len = spin_mpc_chunk_len(n, j);
        if (staged && len) {
            /* chunk j to the host while chunk j-1 is on the wire */
            rc = ctx->compute->copy_d2h(ctx->compute_state, op->hsend + off, dev + off, len * 8, NULL);
            if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
        }
        for (int p = 0; p < ctx->nparties && !rc; p++) {
            if (p == ctx->party || (to >= 0 && to != p)) continue;
            rc = ctx->transport->isend(ctx->comm, p, tag, op->hsend + off, len * 8, &op->sreq[(size_t)p * C + j]);
        }
    }
    if (rc) goto fail;
    ctx->rounds++;
    return 0;
nomem:
    rc = SPIN_ERR_NOMEM;
fail:
    wait_all(op, rc);
    release(op);
    memset(op, 0, sizeof *op);
    return rc;
}

int spin_mpc_open_finish_op(spin_opening_t *op, spin_ring_binop_t combine)
{
    spin_ctx_t *ctx = op->ctx;
    size_t n = op->n, C = op->chunks, peers = (size_t)(ctx->nparties - 1);
    int rc = 0, direct = spin_mpc_dev_direct(ctx), staged = !ctx->host_mem && !direct;
    uint64_t *d = NULL;                  /* device staging: one chunk per peer */
    size_t per = n < SPIN_CHUNK_WORDS ? (n ? n : 1) : SPIN_CHUNK_WORDS;
    if (op->hrecv && staged) rc = spin_mpc_buf_alloc(ctx, peers * per, &d);
    for (size_t j = 0; j < C && op->hrecv; j++) {
        size_t off = j * SPIN_CHUNK_WORDS, len = spin_mpc_chunk_len(n, j);
        /* chunk j from every peer (and, with host memory or the direct
         * path, chunk j sent from the very words that the sum will
         * overwrite: zero-copy sends) ... */
        for (int p = 0; p < ctx->nparties; p++)
            for (int k = 0; k < (staged ? 1 : 2); k++) {
                spin_request_t **r = k ? &op->sreq[(size_t)p * C + j] : &op->rreq[(size_t)p * C + j];
                if (!*r) continue;
                int e = ctx->transport->wait(ctx->comm, *r);
                *r = NULL;
                if (e && !rc) {
                    rc = e;
                    MPC_ERR(ctx, "opening (tag 0x%x): %s party %d failed: %s", op->tag,
                            k ? "sending to" : "receiving from", p, spin_strerror(e));
                }
            }
        if (rc || !len) continue;
        /* ... is combined while chunk j+1 is still arriving */
        for (size_t s = 0; s < peers && !rc; s++) {
            const uint64_t *src = op->hrecv + s * n + off; /* direct: device memory */
            if (staged) {
                rc = ctx->compute->copy_h2d(ctx->compute_state, d + s * per, src, len * 8, NULL);
                src = d + s * per;
            }
            if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, combine, op->dev + off, op->dev + off, src, len, NULL);
        }
    }
    if (!rc && op->hrecv) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    rc = wait_all(op, rc);
    spin_mpc_buf_release(ctx, d);
    release(op);
    return rc;
}

int spin_mpc_open_finish(spin_opening_t *op)
{
    return spin_mpc_open_finish_op(op, SPIN_RING_ADD);
}

/* ---- reveal ------------------------------------------------------------- */

int spin_reveal_ring(spin_ctx_t *ctx, const spin_tensor_t *t, int to, uint64_t *out)
{
    if (ctx->dealer || to < -1 || to >= ctx->nparties) {
        MPC_ERR(ctx, "reveal: receiver %d is not -1 (all) or a computing party", to);
        return SPIN_ERR_INVAL;
    }
    spin_tensor_t *d;
    int owned;
    int rc = spin_mpc_tensor_dense(t, &d, &owned);
    if (rc) return rc;
    size_t n = spin_tensor_numel(t);
    uint64_t *tmp;
    rc = spin_mpc_buf_alloc(ctx, n, &tmp);
    if (!rc) rc = ctx->compute->copy_d2d(ctx->compute_state, tmp, spin_mpc_tensor_data(d), n * 8, NULL);
    spin_opening_t op;
    if (!rc) rc = spin_mpc_open_start(ctx, TAG_REVEAL, tmp, n, to, &op);
    if (!rc) rc = spin_mpc_open_finish(&op);
    if (!rc && (to < 0 || to == ctx->party)) {
        rc = ctx->compute->copy_d2h(ctx->compute_state, out, tmp, n * 8, NULL);
        if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    }
    spin_mpc_buf_release(ctx, tmp);
    if (owned) spin_tensor_free(d);
    return rc;
}

int spin_reveal_f64(spin_ctx_t *ctx, const spin_tensor_t *t, int to, double *out)
{
    size_t n = spin_tensor_numel(t);
    int receiver = to < 0 || to == ctx->party;
    uint64_t *h = receiver ? malloc((n ? n : 1) * 8) : NULL;
    if (receiver && !h) return SPIN_ERR_NOMEM;
    int rc = spin_reveal_ring(ctx, t, to, h);
    if (!rc && receiver) spin_fixed_decode(ctx->frac_bits, h, out, n);
    free(h);
    return rc;
}
