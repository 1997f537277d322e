/* runahead.c - the dealer's run-ahead: predict the next request and
 * prepare it.
 *
 * Training and inference repeat the same sequence of protocol steps, so the
 * dealer remembers which request followed each request descriptor (kind and
 * shape) and, once it has answered request r, prepares the predicted request
 * r+1 (and r+2) while party 0 computes.  A correct prediction is answered at
 * once; a wrong one is discarded and computed afresh (the answer is always
 * the one for the request received: a prediction only saves time).  The
 * queue is bounded by SPIN_DEALER_PREFETCH_MB of prepared corrections
 * (default 256; 0 turns run-ahead off).  Predictions use only shapes, never
 * values.  This file also picks the generator for each request kind, and
 * reads the cap of the kept static masks, SPIN_DEALER_STATIC_MB
 * (dealer_internal.h). */
#include "config.h"
#include "dealer/dealer_internal.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int same_desc(const dealer_req_t *a, const dealer_req_t *b)
{
    return a->kind == b->kind && memcmp(a->p, b->p, sizeof a->p) == 0;
}

static const dealer_req_t *predict(const spin_dealer_runahead_t *ra, const dealer_req_t *cur)
{
    for (size_t i = 0; i < ra->nhist; i++)
        if (same_desc(&ra->hist[i].cur, cur)) return &ra->hist[i].next;
    return NULL;
}

static void remember(spin_dealer_runahead_t *ra, const dealer_req_t *prev, const dealer_req_t *cur)
{
    for (size_t i = 0; i < ra->nhist; i++)
        if (same_desc(&ra->hist[i].cur, prev)) {
            ra->hist[i].next = *cur;
            return;
        }
    if (ra->hist && ra->nhist < SPIN_DEALER_HIST_MAX) {
        ra->hist[ra->nhist].cur = *prev;
        ra->hist[ra->nhist].next = *cur;
        ra->nhist++;
    }
}

/* The generator of each request kind. */
static int make_response(spin_ctx_t *ctx, spin_dealer_runahead_t *ra, const dealer_req_t *rq, uint64_t **buf,
                         size_t *words)
{
    if (rq->kind == REQ_TRUNC) return spin_dealer_make_trunc(ctx, rq, buf, words);
    if (rq->kind == REQ_STATIC_MASK) return spin_dealer_make_static_mask(ctx, &ra->masks, rq, buf, words);
    if (rq->kind == REQ_MATMUL_STATIC) return spin_dealer_make_matmul_static(ctx, &ra->masks, rq, buf, words);
    if (rq->kind == REQ_AND || rq->kind == REQ_EDABIT || rq->kind == REQ_DABIT)
        return spin_dealer_make_bool(ctx, rq, buf, words);
    return spin_dealer_make_bilinear(ctx, rq, buf, words);
}

/* Words of the correction; 0 for a request that must not be prepared ahead
 * (a static mask has an effect, a static matmul needs its mask kept). */
static size_t response_words(const spin_dealer_runahead_t *ra, const dealer_req_t *rq)
{
    if (rq->kind == REQ_TRUNC)
        return rq->p[0] <= SPIN_DEALER_MAX_WORDS && rq->p[1] >= 1 && rq->p[1] <= 62 ? 2 * (size_t)rq->p[0] : 0;
    if (rq->kind == REQ_STATIC_MASK) return 0;
    if (rq->kind == REQ_MATMUL_STATIC) return spin_dealer_matmul_static_words(&ra->masks, rq);
    if (rq->kind == REQ_AND || rq->kind == REQ_EDABIT || rq->kind == REQ_DABIT)
        return spin_dealer_bool_words(rq);
    bilinear_t L;
    return spin_mpc_bilinear_from_req(rq, &L) ? 0 : L.nc;
}

static void drop_queue(spin_ctx_t *ctx, spin_dealer_runahead_t *ra)
{
    for (int i = 0; i < ra->nq; i++) spin_mpc_buf_release(ctx, ra->q[i].buf);
    ra->nq = 0;
}

/* A whole number of MiB in [0, max] from the environment variable `name`;
 * unset: def; malformed: a warning naming it, and def. */
static size_t env_mb(spin_ctx_t *ctx, const char *name, size_t def, size_t max)
{
    const char *e = spin_runtime_env(ctx->rt, name);
    if (!e) return def;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(e, &end, 10);
    if (errno || end == e || *end || e[0] == '-' || v > max) {
        spin_log(ctx->log, SPIN_LOG_WARN, "dealer: %s=\"%s\" is not a whole number of MiB in [0, %zu]; using %zu",
                 name, e, max, def);
        return def;
    }
    return (size_t)v;
}

void spin_dealer_runahead_init(spin_ctx_t *ctx, spin_dealer_runahead_t *ra)
{
    memset(ra, 0, sizeof *ra);
    size_t mb = env_mb(ctx, "SPIN_DEALER_PREFETCH_MB", 256, 65536);
    ra->budget_words = mb * (1024 * 1024 / 8);
    if (ra->budget_words) ra->hist = calloc(SPIN_DEALER_HIST_MAX, sizeof *ra->hist);
    ra->masks.max_mb = env_mb(ctx, "SPIN_DEALER_STATIC_MB", SPIN_DEALER_STATIC_MB_DEFAULT, SPIN_DEALER_STATIC_MB_MAX);
    ra->masks.max_words = (uint64_t)ra->masks.max_mb * (1024 * 1024 / 8);
}

void spin_dealer_runahead_fini(spin_ctx_t *ctx, spin_dealer_runahead_t *ra)
{
    drop_queue(ctx, ra);
    spin_dealer_masks_free(ctx, &ra->masks);
    free(ra->hist);
    ra->hist = NULL;
}

void spin_dealer_runahead_note(spin_dealer_runahead_t *ra, const dealer_req_t *rq)
{
    if (ra->have_prev && ra->hist) remember(ra, &ra->prev, rq);
    ra->prev = *rq;
    ra->have_prev = 1;
}

int spin_dealer_answer(spin_ctx_t *ctx, spin_dealer_runahead_t *ra, const dealer_req_t *rq, uint64_t **buf,
                       size_t *words)
{
    if (ra->nq && ra->q[0].rq.nonce == rq->nonce && same_desc(&ra->q[0].rq, rq)) {
        *buf = ra->q[0].buf;
        *words = ra->q[0].words;
        memmove(&ra->q[0], &ra->q[1], (size_t)(ra->nq - 1) * sizeof ra->q[0]);
        ra->nq--;
        ra->hits++;
        return 0;
    }
    if (ra->nq) ra->misses++;
    drop_queue(ctx, ra);
    return make_response(ctx, ra, rq, buf, words);
}

int spin_dealer_runahead_prepare(spin_ctx_t *ctx, spin_dealer_runahead_t *ra, const dealer_req_t *last)
{
    if (!ra->hist) return 0;
    const dealer_req_t *from = ra->nq ? &ra->q[ra->nq - 1].rq : last;
    size_t used = 0;
    for (int i = 0; i < ra->nq; i++) used += ra->q[i].words;
    while (ra->nq < SPIN_DEALER_QUEUE_MAX) {
        const dealer_req_t *nx = predict(ra, from);
        if (!nx) return 0;
        size_t w = response_words(ra, nx);
        if (!w || used + w > ra->budget_words) return 0;
        spin_dealer_prepared_t *p = &ra->q[ra->nq];
        p->rq = *nx;
        p->rq.nonce = from->nonce + 1;
        int rc = make_response(ctx, ra, &p->rq, &p->buf, &p->words);
        if (rc) return rc;
        used += p->words;
        from = &ra->q[ra->nq++].rq;
    }
    return 0;
}
