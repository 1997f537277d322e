/* open.c - batched openings: every party sends its share of all values of
 * one protocol step to every peer in one message (or to one receiver), and
 * the sum is formed when the messages arrive.  start/finish are split so a
 * caller can do local work while the messages travel.
 *
 * Cost per opening of n words: to all, (N-1) messages of 8n bytes sent by
 * each party, one round; to one receiver, one message of 8n bytes from each
 * other party, one round. */
#include "config.h"
#include "mpc_internal.h"

#include <stdlib.h>
#include <string.h>

int spin_open_start(spin_ctx_t *ctx, uint32_t tag, uint64_t *dev, size_t n, int to,
                    spin_opening_t *op)
{
    memset(op, 0, sizeof *op);
    op->ctx = ctx;
    op->tag = tag;
    op->to = to;
    op->n = n;
    op->dev = dev;
    int rc = 0;
    size_t bytes = n * 8;
    if (ctx->host_mem) {
        op->hsend = dev;
    } else {
        op->hsend = malloc(bytes ? bytes : 1);
        op->hsend_owned = 1;
        if (!op->hsend) return SPIN_ERR_NOMEM;
        rc = ctx->c->copy_d2h(ctx->cs, op->hsend, dev, bytes, NULL);
        if (!rc) rc = ctx->c->stream_sync(ctx->cs, NULL);
        if (rc) goto fail;
    }
    int receive = to < 0 || to == ctx->party;
    if (receive) {
        op->hrecv = malloc((size_t)(ctx->n - 1) * (bytes ? bytes : 1));
        if (!op->hrecv) {
            rc = SPIN_ERR_NOMEM;
            goto fail;
        }
    }
    int slot = 0;
    for (int p = 0; p < ctx->n; p++) {
        if (p == ctx->party) continue;
        if (to < 0 || to == p) {
            rc = ctx->t->isend(ctx->comm, p, tag, op->hsend, bytes, &op->sreq[p]);
            if (rc) goto fail;
        }
        if (receive) {
            rc = ctx->t->irecv(ctx->comm, p, tag, (char *)op->hrecv + (size_t)slot * bytes, bytes,
                               &op->rreq[p]);
            if (rc) goto fail;
            slot++;
        }
    }
    ctx->rounds++;
    return 0;
fail:
    for (int p = 0; p < ctx->n; p++) {
        if (op->sreq[p]) ctx->t->wait(ctx->comm, op->sreq[p]);
        if (op->rreq[p]) ctx->t->wait(ctx->comm, op->rreq[p]);
    }
    if (op->hsend_owned) free(op->hsend);
    free(op->hrecv);
    memset(op, 0, sizeof *op);
    return rc;
}

int spin_open_finish(spin_opening_t *op)
{
    spin_ctx_t *ctx = op->ctx;
    int rc = 0;
    for (int p = 0; p < ctx->n; p++) {
        if (op->rreq[p]) {
            int r = ctx->t->wait(ctx->comm, op->rreq[p]);
            if (r && !rc) {
                rc = r;
                MPC_ERR(ctx, "opening (tag 0x%x): receiving from party %d failed: %s", op->tag, p,
                        spin_strerror(r));
            }
        }
        if (op->sreq[p]) {
            int r = ctx->t->wait(ctx->comm, op->sreq[p]);
            if (r && !rc) {
                rc = r;
                MPC_ERR(ctx, "opening (tag 0x%x): sending to party %d failed: %s", op->tag, p,
                        spin_strerror(r));
            }
        }
    }
    if (!rc && op->hrecv) {
        size_t n = op->n;
        if (ctx->host_mem) {
            for (int s = 0; s < ctx->n - 1 && !rc; s++)
                rc = ctx->c->ring_binary(ctx->cs, SPIN_RING_ADD, op->dev, op->dev, op->hrecv + (size_t)s * n, n,
                                         NULL);
        } else {
            uint64_t *d = NULL;
            rc = spin_buf_alloc(ctx, n * (size_t)(ctx->n - 1), &d);
            if (!rc) rc = ctx->c->copy_h2d(ctx->cs, d, op->hrecv, n * 8 * (size_t)(ctx->n - 1), NULL);
            for (int s = 0; s < ctx->n - 1 && !rc; s++)
                rc = ctx->c->ring_binary(ctx->cs, SPIN_RING_ADD, op->dev, op->dev, d + (size_t)s * n, n, NULL);
            if (!rc) rc = ctx->c->stream_sync(ctx->cs, NULL);
            spin_buf_release(ctx, d);
        }
    }
    if (op->hsend_owned) free(op->hsend);
    free(op->hrecv);
    op->hsend = op->hrecv = NULL;
    return rc;
}
