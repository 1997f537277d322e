/* dealer.c - correlated randomness with seed compression.
 *
 * At setup the dealer gave every party i a 128-bit key K_i (ctx.c).  Request
 * number r (all parties count requests in the same order) owns the AES-CTR
 * stream with nonce r under every K_i.  For a bilinear triple (A, B, C =
 * L(A, B)) party i takes A_i = words [0, na), B_i = [na, na+nb) of its
 * stream, and parties i >= 1 take C_i = [na+nb, na+nb+nc).  The dealer
 * derives every stream itself, forms A = sum A_i, B = sum B_i, C = L(A, B)
 * and sends party 0 only its correction C_0 = C - sum_{i>=1} C_i: nc words
 * per triple, independent of N.  Truncation pairs: r = sum r_i from
 * [0, n), and corrections for party 0 of r >> bits and msb(r) (2n words).
 *
 * Only party 0 talks to the dealer after setup: it sends each request when
 * its protocol starts, so the dealer computes while the parties exchange
 * their first opening, and party 0 receives the correction when it needs
 * it.  Requests are served in order; the nonce in each request is checked
 * against the dealer's own count, so a desynchronised party 0 is reported.
 */
#include "config.h"
#include "mpc/mpc_internal.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- bilinear maps ------------------------------------------------------- */

void spin_mpc_bilinear_sizes(bilinear_t *L)
{
    uint64_t ckk = L->cc * L->kh * L->kw;
    uint64_t oh = L->sh ? (L->ch + 2 * L->ph - L->kh) / L->sh + 1 : 0;
    uint64_t ow = L->sw ? (L->cw + 2 * L->pw - L->kw) / L->sw + 1 : 0;
    switch (L->kind) {
    case REQ_MUL: L->na = L->nb = L->nc = L->m; break;
    case REQ_SQUARE: L->na = L->nc = L->m; L->nb = 0; break;
    case REQ_MATMUL:
        L->na = L->ba * L->m * L->k;
        L->nb = L->bb * L->k * L->n;
        L->nc = L->batch * L->m * L->n;
        break;
    case REQ_CONV:
        L->na = L->cn * L->cc * L->ch * L->cw;
        L->nb = L->oc * ckk;
        L->nc = L->cn * L->oc * oh * ow;
        break;
    case REQ_CONV_DX:
        L->na = L->cn * L->oc * oh * ow;
        L->nb = L->oc * ckk;
        L->nc = L->cn * L->cc * L->ch * L->cw;
        break;
    case REQ_CONV_DW:
        L->na = L->cn * L->cc * L->ch * L->cw;
        L->nb = L->cn * L->oc * oh * ow;
        L->nc = L->oc * ckk;
        break;
    default: L->na = L->nb = L->nc = 0; break;
    }
}

void spin_mpc_bilinear_to_req(const bilinear_t *L, dealer_req_t *rq)
{
    memset(rq, 0, sizeof *rq);
    rq->kind = L->kind;
    uint64_t v[19] = {L->batch, L->m, L->n, L->k, L->ta, L->tb, L->ba, L->bb, L->cn, L->cc,
                      L->ch, L->cw, L->oc, L->kh, L->kw, L->sh, L->sw, L->ph, L->pw};
    memcpy(rq->p, v, sizeof v);
}

int spin_mpc_bilinear_from_req(const dealer_req_t *rq, bilinear_t *L)
{
    memset(L, 0, sizeof *L);
    L->kind = (req_kind_t)rq->kind;
    const uint64_t *v = rq->p;
    L->batch = v[0]; L->m = v[1]; L->n = v[2]; L->k = v[3]; L->ta = v[4]; L->tb = v[5];
    L->ba = v[6]; L->bb = v[7]; L->cn = v[8]; L->cc = v[9]; L->ch = v[10]; L->cw = v[11];
    L->oc = v[12]; L->kh = v[13]; L->kw = v[14]; L->sh = v[15]; L->sw = v[16]; L->ph = v[17];
    L->pw = v[18];
    if ((L->kind == REQ_CONV || L->kind == REQ_CONV_DX || L->kind == REQ_CONV_DW) &&
        (!L->sh || !L->sw || L->ch + 2 * L->ph < L->kh || L->cw + 2 * L->pw < L->kw))
        return SPIN_ERR_PROTOCOL;
    if (L->kind == REQ_MATMUL && (!L->batch || (L->ba != 1 && L->ba != L->batch) ||
                                  (L->bb != 1 && L->bb != L->batch)))
        return SPIN_ERR_PROTOCOL;
    spin_mpc_bilinear_sizes(L);
    /* Refuse absurd sizes (a corrupt request must not exhaust memory). */
    if (L->na > (UINT64_C(1) << 34) || L->nb > (UINT64_C(1) << 34) || L->nc > (UINT64_C(1) << 34))
        return SPIN_ERR_PROTOCOL;
    return 0;
}

static void conv_geom(const bilinear_t *L, spin_conv_geom_t *g)
{
    memset(g, 0, sizeof *g);
    g->n = L->cn; g->c = L->cc; g->h = L->ch; g->w = L->cw;
    g->kh = L->kh; g->kw = L->kw; g->sh = L->sh; g->sw = L->sw;
    g->ph = L->ph; g->pw = L->pw; g->dh = g->dw = 1;
    g->oh = (L->ch + 2 * L->ph - L->kh) / L->sh + 1;
    g->ow = (L->cw + 2 * L->pw - L->kw) / L->sw + 1;
}

static int eval_into(spin_ctx_t *ctx, const bilinear_t *L, uint64_t *c, const uint64_t *a,
                     const uint64_t *b)
{
    const spin_compute_ops_t *o = ctx->compute;
    spin_gemm_t g;
    memset(&g, 0, sizeof g);
    switch (L->kind) {
    case REQ_MUL:
        return o->ring_binary(ctx->compute_state, SPIN_RING_MUL, c, a, b, L->m, NULL);
    case REQ_SQUARE:
        return o->ring_binary(ctx->compute_state, SPIN_RING_MUL, c, a, a, L->m, NULL);
    case REQ_MATMUL:
        g.trans_a = (int)L->ta; g.trans_b = (int)L->tb;
        g.m = L->m; g.n = L->n; g.k = L->k; g.batch = L->batch;
        g.a = a; g.lda = L->ta ? L->m : L->k; g.stride_a = L->ba == 1 ? 0 : L->m * L->k;
        g.b = b; g.ldb = L->tb ? L->k : L->n; g.stride_b = L->bb == 1 ? 0 : L->k * L->n;
        g.c = c; g.ldc = L->n; g.stride_c = L->m * L->n;
        return o->ring_gemm(ctx->compute_state, &g, NULL);
    case REQ_CONV:
    case REQ_CONV_DX:
    case REQ_CONV_DW: {
        spin_conv_geom_t cg;
        conv_geom(L, &cg);
        size_t ckk = L->cc * L->kh * L->kw, hw = cg.oh * cg.ow;
        uint64_t *col;
        int rc = spin_mpc_buf_alloc(ctx, L->cn * ckk * hw, &col);
        if (rc) return rc;
        if (L->kind == REQ_CONV) {
            /* y[n] = W [oc][ckk] x col(x)[n] [ckk][hw] */
            rc = o->im2col(ctx->compute_state, &cg, col, a, NULL);
            g.m = L->oc; g.n = hw; g.k = ckk; g.batch = L->cn;
            g.a = b; g.lda = ckk; g.stride_a = 0;
            g.b = col; g.ldb = hw; g.stride_b = ckk * hw;
            g.c = c; g.ldc = hw; g.stride_c = L->oc * hw;
            if (!rc) rc = o->ring_gemm(ctx->compute_state, &g, NULL);
        } else if (L->kind == REQ_CONV_DX) {
            /* col[n] = W^T [ckk][oc] x dy[n] [oc][hw]; dx = col2im(col) */
            g.trans_a = 1; g.m = ckk; g.n = hw; g.k = L->oc; g.batch = L->cn;
            g.a = b; g.lda = ckk; g.stride_a = 0;
            g.b = a; g.ldb = hw; g.stride_b = L->oc * hw;
            g.c = col; g.ldc = hw; g.stride_c = ckk * hw;
            rc = o->ring_gemm(ctx->compute_state, &g, NULL);
            if (!rc) rc = o->col2im(ctx->compute_state, SPIN_DT_U64, &cg, c, col, NULL);
        } else {
            /* dW [oc][ckk] = sum_n dy[n] [oc][hw] x col(x)[n]^T [hw][ckk] */
            rc = o->im2col(ctx->compute_state, &cg, col, a, NULL);
            for (size_t i = 0; i < L->cn && !rc; i++) {
                memset(&g, 0, sizeof g);
                g.trans_b = 1; g.accumulate = i > 0;
                g.m = L->oc; g.n = ckk; g.k = hw; g.batch = 1;
                g.a = b + i * L->oc * hw; g.lda = hw;
                g.b = col + i * ckk * hw; g.ldb = hw;
                g.c = c; g.ldc = ckk;
                rc = o->ring_gemm(ctx->compute_state, &g, NULL);
            }
            if (!rc && L->cn == 0) rc = o->mem_zero(ctx->compute_state, c, L->nc * 8, NULL);
        }
        spin_mpc_buf_release(ctx, col);
        return rc;
    }
    default:
        return SPIN_ERR_INVAL;
    }
}

int spin_mpc_bilinear_eval(spin_ctx_t *ctx, const bilinear_t *L, uint64_t *c, const uint64_t *a,
                       const uint64_t *b, int accumulate)
{
    if (!accumulate) return eval_into(ctx, L, c, a, b);
    uint64_t *t;
    int rc = spin_mpc_buf_alloc(ctx, L->nc, &t);
    if (rc) return rc;
    rc = eval_into(ctx, L, t, a, b);
    if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_ADD, c, c, t, L->nc, NULL);
    spin_mpc_buf_release(ctx, t);
    return rc;
}

/* ---- party side ----------------------------------------------------------- */

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

/* ---- dealer side ---------------------------------------------------------- */

/* out = sum over parties >= from of words [off, off+n) of their streams. */
static int sum_streams(spin_ctx_t *ctx, uint64_t nonce, uint64_t off, size_t n, int from,
                       uint64_t *out, uint64_t *tmp)
{
    int rc = ctx->compute->mem_zero(ctx->compute_state, out, n * 8, NULL);
    for (int p = from; p < ctx->nparties && !rc && n; p++) {
        rc = ctx->compute->prg_fill(ctx->compute_state, &ctx->party_keys[p], nonce, off, tmp, n, NULL);
        if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_ADD, out, out, tmp, n, NULL);
    }
    return rc;
}

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

static int make_bilinear(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t **res, size_t *words)
{
    bilinear_t L;
    if (spin_mpc_bilinear_from_req(rq, &L)) {
        MPC_ERR(ctx, "dealer: malformed request (kind %llu) from party 0", (unsigned long long)rq->kind);
        return SPIN_ERR_PROTOCOL;
    }
    size_t big = L.na > L.nb ? L.na : L.nb;
    if (L.nc > big) big = L.nc;
    uint64_t *a = NULL, *b = NULL, *c = NULL, *s = NULL, *tmp = NULL;
    int rc = spin_mpc_buf_alloc(ctx, L.na, &a);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, L.nb, &b);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, L.nc, &c);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, L.nc, &s);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, big, &tmp);
    if (!rc) rc = sum_streams(ctx, rq->nonce, 0, L.na, 0, a, tmp);
    if (!rc) rc = sum_streams(ctx, rq->nonce, L.na, L.nb, 0, b, tmp);
    if (!rc) rc = spin_mpc_bilinear_eval(ctx, &L, c, a, b, 0);
    if (!rc) rc = sum_streams(ctx, rq->nonce, L.na + L.nb, L.nc, 1, s, tmp);
    if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_SUB, c, c, s, L.nc, NULL);
    if (!rc) {
        *res = c;
        *words = L.nc;
        c = NULL;
    }
    spin_mpc_buf_release(ctx, a);
    spin_mpc_buf_release(ctx, b);
    spin_mpc_buf_release(ctx, c);
    spin_mpc_buf_release(ctx, s);
    spin_mpc_buf_release(ctx, tmp);
    return rc;
}

static int make_trunc(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t **res, size_t *words)
{
    uint64_t n = rq->p[0], bits = rq->p[1];
    if (n > (UINT64_C(1) << 34) || bits < 1 || bits > 62) {
        MPC_ERR(ctx, "dealer: malformed truncation request from party 0");
        return SPIN_ERR_PROTOCOL;
    }
    uint64_t *r = NULL, *out = NULL, *s = NULL, *tmp = NULL;
    int rc = spin_mpc_buf_alloc(ctx, n, &r);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, 2 * n, &out);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &s);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &tmp);
    if (!rc) rc = sum_streams(ctx, rq->nonce, 0, n, 0, r, tmp);
    /* out[0..n) = (r >> bits) - sum_{i>=1} hi_i;  out[n..2n) = msb(r) - ... */
    if (!rc) rc = ctx->compute->ring_scalar(ctx->compute_state, SPIN_RING_SHR_S, out, r, bits, n, NULL);
    if (!rc) rc = ctx->compute->ring_scalar(ctx->compute_state, SPIN_RING_SHR_S, out + n, r, 63, n, NULL);
    if (!rc) rc = sum_streams(ctx, rq->nonce, n, n, 1, s, tmp);
    if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_SUB, out, out, s, n, NULL);
    if (!rc) rc = sum_streams(ctx, rq->nonce, 2 * n, n, 1, s, tmp);
    if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_SUB, out + n, out + n, s, n, NULL);
    if (!rc) {
        *res = out;
        *words = 2 * n;
        out = NULL;
    }
    spin_mpc_buf_release(ctx, r);
    spin_mpc_buf_release(ctx, out);
    spin_mpc_buf_release(ctx, s);
    spin_mpc_buf_release(ctx, tmp);
    return rc;
}

/* ---- static operands: masks the dealer keeps -------------------------------
 *
 * REQ_STATIC_MASK (p[0] = nb): B = sum of the parties' streams [0, nb) of
 * that request; the dealer keeps B for the rest of the session (nb words)
 * and answers with an empty correction.  REQ_MATMUL_STATIC (a matmul
 * descriptor with bb = 1, p[SPIN_STATIC_MASK_P] = the mask request's
 * nonce): fresh A = sum of streams [0, na), C = gemm(A, B) with the kept
 * B, and party 0's correction C - sum_{i>=1} of streams [na, na+nc). */

typedef struct kept_mask {
    uint64_t nonce;
    size_t words;
    uint64_t *b;
} kept_mask_t;

typedef struct mask_store {
    kept_mask_t *m;
    size_t n, cap;
} mask_store_t;

static const kept_mask_t *find_mask(const mask_store_t *st, uint64_t nonce)
{
    for (size_t i = 0; st && i < st->n; i++)
        if (st->m[i].nonce == nonce) return &st->m[i];
    return NULL;
}

static void free_masks(spin_ctx_t *ctx, mask_store_t *st)
{
    for (size_t i = 0; i < st->n; i++) spin_mpc_buf_release(ctx, st->m[i].b);
    free(st->m);
    memset(st, 0, sizeof *st);
}

static int make_static_mask(spin_ctx_t *ctx, mask_store_t *st, const dealer_req_t *rq, uint64_t **res,
                            size_t *words)
{
    uint64_t nb = rq->p[0];
    if (!nb || nb > (UINT64_C(1) << 34)) {
        MPC_ERR(ctx, "dealer: malformed static-mask request from party 0");
        return SPIN_ERR_PROTOCOL;
    }
    if (st->n == st->cap) {
        size_t cap = st->cap ? 2 * st->cap : 16;
        kept_mask_t *m = realloc(st->m, cap * sizeof *m);
        if (!m) return SPIN_ERR_NOMEM;
        st->m = m;
        st->cap = cap;
    }
    uint64_t *b = NULL, *tmp = NULL, *empty = NULL;
    int rc = spin_mpc_buf_alloc(ctx, nb, &b);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, nb, &tmp);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, 1, &empty);
    if (!rc) rc = sum_streams(ctx, rq->nonce, 0, nb, 0, b, tmp);
    spin_mpc_buf_release(ctx, tmp);
    if (rc) {
        spin_mpc_buf_release(ctx, b);
        spin_mpc_buf_release(ctx, empty);
        return rc;
    }
    st->m[st->n++] = (kept_mask_t){rq->nonce, (size_t)nb, b};
    *res = empty;
    *words = 0;
    return 0;
}

/* The matmul descriptor of a REQ_MATMUL_STATIC request and its kept mask. */
static int parse_matmul_static(const mask_store_t *st, const dealer_req_t *rq, bilinear_t *L,
                               const kept_mask_t **mask)
{
    dealer_req_t m = *rq;
    m.kind = REQ_MATMUL;
    if (spin_mpc_bilinear_from_req(&m, L) || L->bb != 1) return SPIN_ERR_PROTOCOL;
    *mask = find_mask(st, rq->p[SPIN_STATIC_MASK_P]);
    if (!*mask || (*mask)->words != L->nb) return SPIN_ERR_PROTOCOL;
    return 0;
}

static int make_matmul_static(spin_ctx_t *ctx, const mask_store_t *st, const dealer_req_t *rq, uint64_t **res,
                              size_t *words)
{
    bilinear_t L;
    const kept_mask_t *mask;
    if (parse_matmul_static(st, rq, &L, &mask)) {
        MPC_ERR(ctx, "dealer: party 0 asked for a static matmul triple with no matching mask (request %llu)",
                (unsigned long long)rq->p[SPIN_STATIC_MASK_P]);
        return SPIN_ERR_PROTOCOL;
    }
    uint64_t *a = NULL, *c = NULL, *s = NULL, *tmp = NULL;
    size_t big = L.na > L.nc ? L.na : L.nc;
    int rc = spin_mpc_buf_alloc(ctx, L.na, &a);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, L.nc, &c);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, L.nc, &s);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, big, &tmp);
    if (!rc) rc = sum_streams(ctx, rq->nonce, 0, L.na, 0, a, tmp);
    if (!rc) rc = spin_mpc_bilinear_eval(ctx, &L, c, a, mask->b, 0);
    if (!rc) rc = sum_streams(ctx, rq->nonce, L.na, L.nc, 1, s, tmp);
    if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_SUB, c, c, s, L.nc, NULL);
    if (!rc) {
        *res = c;
        *words = L.nc;
        c = NULL;
    }
    spin_mpc_buf_release(ctx, a);
    spin_mpc_buf_release(ctx, c);
    spin_mpc_buf_release(ctx, s);
    spin_mpc_buf_release(ctx, tmp);
    return rc;
}

/* ---- run-ahead: predict the next request and prepare it ------------------
 *
 * Training and inference repeat the same sequence of protocol steps, so the
 * dealer remembers which request followed each request descriptor (kind and
 * shape) and, once it has answered request r, prepares the predicted request
 * r+1 (and r+2) while party 0 computes.  A correct prediction is answered at
 * once; a wrong one is discarded and computed afresh.  The queue is bounded
 * by SPIN_DEALER_PREFETCH_MB of prepared corrections (default 256; 0 turns
 * run-ahead off).  Predictions use only shapes, never values. */

#define HIST_MAX 4096
#define QUEUE_MAX 2

typedef struct hist_ent {
    dealer_req_t cur, next;              /* nonces ignored */
} hist_ent_t;

typedef struct prepared {
    dealer_req_t rq;
    uint64_t *buf;
    size_t words;
} prepared_t;

typedef struct runahead {
    mask_store_t masks;                  /* static-operand masks (kept all session) */
    hist_ent_t *hist;
    size_t nhist;
    prepared_t q[QUEUE_MAX];
    int nq;
    size_t budget_words;
    uint64_t hits, misses;
} runahead_t;

static int same_desc(const dealer_req_t *a, const dealer_req_t *b)
{
    return a->kind == b->kind && memcmp(a->p, b->p, sizeof a->p) == 0;
}

static const dealer_req_t *predict(const runahead_t *ra, const dealer_req_t *cur)
{
    for (size_t i = 0; i < ra->nhist; i++)
        if (same_desc(&ra->hist[i].cur, cur)) return &ra->hist[i].next;
    return NULL;
}

static void remember(runahead_t *ra, const dealer_req_t *prev, const dealer_req_t *cur)
{
    for (size_t i = 0; i < ra->nhist; i++)
        if (same_desc(&ra->hist[i].cur, prev)) {
            ra->hist[i].next = *cur;
            return;
        }
    if (ra->hist && ra->nhist < HIST_MAX) {
        ra->hist[ra->nhist].cur = *prev;
        ra->hist[ra->nhist].next = *cur;
        ra->nhist++;
    }
}

static int make_response(spin_ctx_t *ctx, runahead_t *ra, const dealer_req_t *rq, uint64_t **buf,
                         size_t *words)
{
    if (rq->kind == REQ_TRUNC) return make_trunc(ctx, rq, buf, words);
    if (rq->kind == REQ_STATIC_MASK) return make_static_mask(ctx, &ra->masks, rq, buf, words);
    if (rq->kind == REQ_MATMUL_STATIC) return make_matmul_static(ctx, &ra->masks, rq, buf, words);
    if (rq->kind == REQ_AND || rq->kind == REQ_EDABIT || rq->kind == REQ_DABIT)
        return spin_dealer_make_bool(ctx, rq, buf, words);
    return make_bilinear(ctx, rq, buf, words);
}

/* Words of the correction; 0 for a request that must not be prepared ahead
 * (a static mask has an effect, a static matmul needs its mask kept). */
static size_t response_words(const runahead_t *ra, const dealer_req_t *rq)
{
    if (rq->kind == REQ_TRUNC) return 2 * (size_t)rq->p[0];
    if (rq->kind == REQ_STATIC_MASK) return 0;
    if (rq->kind == REQ_MATMUL_STATIC) {
        bilinear_t L;
        const kept_mask_t *mask;
        return parse_matmul_static(&ra->masks, rq, &L, &mask) ? 0 : L.nc;
    }
    if (rq->kind == REQ_AND || rq->kind == REQ_EDABIT || rq->kind == REQ_DABIT)
        return spin_dealer_bool_words(rq);
    bilinear_t L;
    return spin_mpc_bilinear_from_req(rq, &L) ? 0 : L.nc;
}

static void drop_queue(spin_ctx_t *ctx, runahead_t *ra)
{
    for (int i = 0; i < ra->nq; i++) spin_mpc_buf_release(ctx, ra->q[i].buf);
    ra->nq = 0;
}

/* Prepare predictions after `last` until the queue or the budget is full. */
static int run_ahead(spin_ctx_t *ctx, runahead_t *ra, const dealer_req_t *last)
{
    const dealer_req_t *from = ra->nq ? &ra->q[ra->nq - 1].rq : last;
    size_t used = 0;
    for (int i = 0; i < ra->nq; i++) used += ra->q[i].words;
    while (ra->nq < QUEUE_MAX) {
        const dealer_req_t *nx = predict(ra, from);
        if (!nx) return 0;
        size_t w = response_words(ra, nx);
        if (!w || used + w > ra->budget_words) return 0;
        prepared_t *p = &ra->q[ra->nq];
        p->rq = *nx;
        p->rq.nonce = from->nonce + 1;
        int rc = make_response(ctx, ra, &p->rq, &p->buf, &p->words);
        if (rc) return rc;
        used += p->words;
        from = &ra->q[ra->nq++].rq;
    }
    return 0;
}

int spin_dealer_serve(spin_ctx_t *ctx)
{
    if (!ctx || !ctx->dealer) return SPIN_ERR_INVAL;
    runahead_t ra;
    memset(&ra, 0, sizeof ra);
    size_t mb = 256;
    const char *e = spin_runtime_env(ctx->rt, "SPIN_DEALER_PREFETCH_MB");
    if (e) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(e, &end, 10);
        if (errno || end == e || *end || e[0] == '-' || v > 65536)
            spin_log(ctx->log, SPIN_LOG_WARN,
                     "dealer: SPIN_DEALER_PREFETCH_MB=\"%s\" is not a whole number of MiB in [0, 65536]; "
                     "using 256", e);
        else
            mb = (size_t)v;
    }
    ra.budget_words = mb * (1024 * 1024 / 8);
    if (ra.budget_words) ra.hist = calloc(HIST_MAX, sizeof *ra.hist);
    uint64_t expect = 0;
    dealer_req_t prev;
    int have_prev = 0, rc = 0;
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
        if (have_prev && ra.hist) remember(&ra, &prev, &rq);
        prev = rq;
        have_prev = 1;
        uint64_t *buf = NULL;
        size_t words = 0;
        if (ra.nq && ra.q[0].rq.nonce == rq.nonce && same_desc(&ra.q[0].rq, &rq)) {
            buf = ra.q[0].buf;
            words = ra.q[0].words;
            memmove(&ra.q[0], &ra.q[1], (size_t)(ra.nq - 1) * sizeof ra.q[0]);
            ra.nq--;
            ra.hits++;
        } else {
            if (ra.nq) ra.misses++;
            drop_queue(ctx, &ra);
            rc = make_response(ctx, &ra, &rq, &buf, &words);
            if (rc) break;
        }
        rc = send_correction(ctx, buf, words);
        spin_mpc_buf_release(ctx, buf);
        if (rc) break;
        if (ra.hist) {
            rc = run_ahead(ctx, &ra, &rq);
            if (rc) break;
        }
    }
    drop_queue(ctx, &ra);
    free_masks(ctx, &ra.masks);
    free(ra.hist);
    return rc;
}

/* ---- boolean correlations (comparison): AND triples, edaBits, daBits ------
 *
 * Layouts: mpc_internal.h (REQ_AND, SPIN_EDABIT_PAIRS, SPIN_DABIT_PRODUCT).
 * Every random value is the sum (or XOR) of the parties' streams; party 0
 * receives the corrections of the derived values only. */

/* out = XOR over parties >= from of words [off, off+n) of their streams. */
static int xor_streams(spin_ctx_t *ctx, uint64_t nonce, uint64_t off, size_t n, int from, uint64_t *out,
                       uint64_t *tmp)
{
    int rc = ctx->compute->mem_zero(ctx->compute_state, out, n * 8, NULL);
    for (int p = from; p < ctx->nparties && !rc && n; p++) {
        rc = ctx->compute->prg_fill(ctx->compute_state, &ctx->party_keys[p], nonce, off, tmp, n, NULL);
        if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_XOR, out, out, tmp, n, NULL);
    }
    return rc;
}

static int make_and(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t **res, size_t *words)
{
    spin_and_req_t L;
    if (spin_mpc_and_parse(rq, &L)) {
        MPC_ERR(ctx, "dealer: malformed AND request from party 0");
        return SPIN_ERR_PROTOCOL;
    }
    size_t big = 0;
    for (int s = 0; s < L.nseg; s++)
        if (L.nx[s] + L.nt[s] > big) big = L.nx[s] + L.nt[s];
    uint64_t *out = NULL, *a = NULL, *b = NULL, *s = NULL, *tmp = NULL;
    int rc = spin_mpc_buf_alloc(ctx, L.cwords, &out);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, big, &a);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, big, &b);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, big, &s);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, big, &tmp);
    for (int g = 0; g < L.nseg && !rc; g++) {
        size_t nx = L.nx[g], nt = L.nt[g], ny = nx + nt;
        uint64_t off = L.off[g], *c = out + L.coff[g];
        rc = xor_streams(ctx, rq->nonce, off, nx, 0, a, tmp);
        if (!rc) rc = xor_streams(ctx, rq->nonce, off + nx, ny, 0, b, tmp);
        if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_AND, c, a, b, nx, NULL);
        if (!rc && nt) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_AND, c + nx, a + nx - nt, b + nx, nt, NULL);
        if (!rc) rc = xor_streams(ctx, rq->nonce, off + nx + ny, ny, 1, s, tmp);
        if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_XOR, c, c, s, ny, NULL);
    }
    if (!rc) {
        *res = out;
        *words = L.cwords;
        out = NULL;
    }
    spin_mpc_buf_release(ctx, out);
    spin_mpc_buf_release(ctx, a);
    spin_mpc_buf_release(ctx, b);
    spin_mpc_buf_release(ctx, s);
    spin_mpc_buf_release(ctx, tmp);
    return rc;
}

static int make_edabit(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t **res, size_t *words)
{
    uint64_t n = rq->p[0], flags = rq->p[1];
    if (!n || n > (UINT64_C(1) << 34) || (flags & ~(uint64_t)SPIN_EDABIT_PAIRS)) {
        MPC_ERR(ctx, "dealer: malformed edaBit request from party 0");
        return SPIN_ERR_PROTOCOL;
    }
    size_t W = SPIN_BITS_W((size_t)n), nb = ((flags & SPIN_EDABIT_PAIRS) ? 96 : 64) * W;
    size_t big = n > nb ? n : nb;
    uint64_t *r = NULL, *out = NULL, *s = NULL, *tmp = NULL;
    int rc = spin_mpc_buf_alloc(ctx, n, &r);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, nb, &out);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, nb, &s);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, big, &tmp);
    if (!rc) rc = sum_streams(ctx, rq->nonce, 0, n, 0, r, tmp);
    if (!rc) rc = spin_mpc_bits_slice(ctx, r, n, 0, out);
    if (!rc && (flags & SPIN_EDABIT_PAIRS))
        rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_AND, out + 64 * W, out + 32 * W, out, 32 * W, NULL);
    if (!rc) rc = xor_streams(ctx, rq->nonce, n, nb, 1, s, tmp);
    if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_XOR, out, out, s, nb, NULL);
    if (!rc) {
        *res = out;
        *words = nb;
        out = NULL;
    }
    spin_mpc_buf_release(ctx, r);
    spin_mpc_buf_release(ctx, out);
    spin_mpc_buf_release(ctx, s);
    spin_mpc_buf_release(ctx, tmp);
    return rc;
}

static int make_dabit(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t **res, size_t *words)
{
    uint64_t n = rq->p[0], flags = rq->p[1];
    if (!n || n > (UINT64_C(1) << 34) || (flags & ~(uint64_t)SPIN_DABIT_PRODUCT)) {
        MPC_ERR(ctx, "dealer: malformed daBit request from party 0");
        return SPIN_ERR_PROTOCOL;
    }
    int prod = (flags & SPIN_DABIT_PRODUCT) != 0;
    size_t W = SPIN_BITS_W((size_t)n), nw = prod ? 2 * n : n;
    uint64_t *rb = NULL, *out = NULL, *a = NULL, *s = NULL, *tmp = NULL;
    int rc = spin_mpc_buf_alloc(ctx, W, &rb);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, nw, &out);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &a);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &s);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, n, &tmp);
    /* rho as 0/1 words, then c = a * rho */
    if (!rc) rc = xor_streams(ctx, rq->nonce, 0, W, 0, rb, tmp);
    if (!rc) rc = spin_mpc_bits_unpack(ctx, rb, n, out);
    if (!rc && prod) rc = sum_streams(ctx, rq->nonce, W + n, n, 0, a, tmp);
    if (!rc && prod) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_MUL, out + n, a, out, n, NULL);
    /* corrections: minus the shares of parties >= 1 */
    if (!rc) rc = sum_streams(ctx, rq->nonce, W, n, 1, s, tmp);
    if (!rc) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_SUB, out, out, s, n, NULL);
    if (!rc && prod) rc = sum_streams(ctx, rq->nonce, W + 2 * n, n, 1, s, tmp);
    if (!rc && prod) rc = ctx->compute->ring_binary(ctx->compute_state, SPIN_RING_SUB, out + n, out + n, s, n, NULL);
    if (!rc) {
        *res = out;
        *words = nw;
        out = NULL;
    }
    spin_mpc_buf_release(ctx, rb);
    spin_mpc_buf_release(ctx, out);
    spin_mpc_buf_release(ctx, a);
    spin_mpc_buf_release(ctx, s);
    spin_mpc_buf_release(ctx, tmp);
    return rc;
}

int spin_dealer_make_bool(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t **res, size_t *words)
{
    if (rq->kind == REQ_AND) return make_and(ctx, rq, res, words);
    if (rq->kind == REQ_EDABIT) return make_edabit(ctx, rq, res, words);
    return make_dabit(ctx, rq, res, words);
}

size_t spin_dealer_bool_words(const dealer_req_t *rq)
{
    uint64_t n = rq->p[0];
    if (rq->kind == REQ_AND) {
        spin_and_req_t L;
        return spin_mpc_and_parse(rq, &L) ? 0 : L.cwords;
    }
    if (!n || n > (UINT64_C(1) << 34)) return 0;
    if (rq->kind == REQ_EDABIT) return ((rq->p[1] & SPIN_EDABIT_PAIRS) ? 96 : 64) * SPIN_BITS_W((size_t)n);
    if (rq->kind == REQ_DABIT) return ((rq->p[1] & SPIN_DABIT_PRODUCT) ? 2 : 1) * (size_t)n;
    return 0;
}
