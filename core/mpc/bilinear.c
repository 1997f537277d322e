/* bilinear.c - the bilinear maps of Beaver products, shared by the parties
 * (beaver.c, static.c, fn/) and the dealer (dealer/gen_arith.c).
 *
 * A map L(A, B) is an element-wise product (REQ_MUL), a square (REQ_SQUARE,
 * no B), a matrix product with transposes, batch and broadcast
 * (REQ_MATMUL), or one of the three convolutions (REQ_CONV, REQ_CONV_DX,
 * REQ_CONV_DW).  Its descriptor travels in a dealer request (to_req /
 * from_req, the 19 words p[0..18]); the sizes of A, B and C follow from
 * it; evaluation is local (ring GEMM, im2col + GEMM for the convolutions).
 */
#include "config.h"
#include "mpc/mpc_internal.h"
#include "runtime/checked.h"

#include <string.h>

/* The most words of one operand (or dimension) a request may describe:
 * 2^34 words, 128 GiB (the dealer's cap, dealer/dealer_internal.h
 * SPIN_DEALER_MAX_WORDS, is the same). */
#define BILINEAR_MAX_WORDS (UINT64_C(1) << 34)

/* Output size of a convolution along one axis; 0 when the kernel does not
 * fit the padded input or the stride is 0 (from_req refuses both). */
static uint64_t conv_out(uint64_t in, uint64_t pad, uint64_t k, uint64_t stride)
{
    uint64_t span = spin_sat_add(in, spin_sat_mul(2, pad));
    if (!stride || span < k || span == UINT64_MAX) return 0;
    return (span - k) / stride + 1;
}

/* Every product saturates (runtime/checked.h): a size that does not fit in
 * 64 bits reads as UINT64_MAX, which from_req refuses. */
void spin_mpc_bilinear_sizes(bilinear_t *L)
{
    uint64_t ckk = spin_sat_mul(spin_sat_mul(L->cc, L->kh), L->kw);
    uint64_t oh = conv_out(L->ch, L->ph, L->kh, L->sh), ow = conv_out(L->cw, L->pw, L->kw, L->sw);
    uint64_t x = spin_sat_mul(spin_sat_mul(spin_sat_mul(L->cn, L->cc), L->ch), L->cw);   /* conv input */
    uint64_t y = spin_sat_mul(spin_sat_mul(spin_sat_mul(L->cn, L->oc), oh), ow);         /* conv output */
    uint64_t w = spin_sat_mul(L->oc, ckk);                                                /* conv weights */
    switch (L->kind) {
    case REQ_MUL: L->na = L->nb = L->nc = L->m; break;
    case REQ_SQUARE: L->na = L->nc = L->m; L->nb = 0; break;
    case REQ_MATMUL:
        L->na = spin_sat_mul(spin_sat_mul(L->ba, L->m), L->k);
        L->nb = spin_sat_mul(spin_sat_mul(L->bb, L->k), L->n);
        L->nc = spin_sat_mul(spin_sat_mul(L->batch, L->m), L->n);
        break;
    case REQ_CONV: L->na = x; L->nb = w; L->nc = y; break;
    case REQ_CONV_DX: L->na = y; L->nb = w; L->nc = x; break;
    case REQ_CONV_DW: L->na = x; L->nb = y; L->nc = w; break;
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
    /* the kind is checked as the 64-bit word it arrived in: a cast first
     * would serve kind 2^32 + 1 as a MUL (tests/fuzz/regress/dealer_req) */
    if (rq->kind != REQ_MUL && rq->kind != REQ_SQUARE && rq->kind != REQ_MATMUL && rq->kind != REQ_CONV &&
        rq->kind != REQ_CONV_DX && rq->kind != REQ_CONV_DW)
        return SPIN_ERR_PROTOCOL;
    L->kind = (req_kind_t)rq->kind;
    const uint64_t *v = rq->p;
    L->batch = v[0]; L->m = v[1]; L->n = v[2]; L->k = v[3]; L->ta = v[4]; L->tb = v[5];
    L->ba = v[6]; L->bb = v[7]; L->cn = v[8]; L->cc = v[9]; L->ch = v[10]; L->cw = v[11];
    L->oc = v[12]; L->kh = v[13]; L->kw = v[14]; L->sh = v[15]; L->sw = v[16]; L->ph = v[17];
    L->pw = v[18];
    int conv = L->kind == REQ_CONV || L->kind == REQ_CONV_DX || L->kind == REQ_CONV_DW;
    if (L->kind != REQ_MUL && L->kind != REQ_SQUARE && L->kind != REQ_MATMUL && !conv) return SPIN_ERR_PROTOCOL;
    if (L->ta > 1 || L->tb > 1) return SPIN_ERR_PROTOCOL;
    if (conv && (!L->sh || !L->sw || !conv_out(L->ch, L->ph, L->kh, L->sh) || !conv_out(L->cw, L->pw, L->kw, L->sw)))
        return SPIN_ERR_PROTOCOL;
    if (L->kind == REQ_MATMUL && (!L->batch || (L->ba != 1 && L->ba != L->batch) ||
                                  (L->bb != 1 && L->bb != L->batch)))
        return SPIN_ERR_PROTOCOL;
    spin_mpc_bilinear_sizes(L);
    /* Refuse absurd sizes (a corrupt request must not exhaust memory, nor
     * a zero-sized operand hide a loop over a huge dimension): every
     * dimension, every operand and the convolutions' im2col buffer
     * (cn x ckk x oh x ow words, allocated by eval) within BILINEAR_MAX_WORDS. */
    const uint64_t cap = BILINEAR_MAX_WORDS;
    for (int i = 0; i < 19; i++)
        if (v[i] > cap) return SPIN_ERR_RANGE;
    if (L->na > cap || L->nb > cap || L->nc > cap) return SPIN_ERR_RANGE;
    if (conv) {
        uint64_t ckk = spin_sat_mul(spin_sat_mul(L->cc, L->kh), L->kw);
        uint64_t hw = spin_sat_mul(conv_out(L->ch, L->ph, L->kh, L->sh), conv_out(L->cw, L->pw, L->kw, L->sw));
        if (spin_sat_mul(ckk, hw) > cap || spin_sat_mul(spin_sat_mul(L->cn, ckk), hw) > cap) return SPIN_ERR_RANGE;
    }
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

int spin_mpc_matmul_geometry(spin_ctx_t *ctx, const char *what, int nda, const size_t *sa, int trans_a, int ndb,
                         const size_t *sb, int trans_b, bilinear_t *L, size_t shape[3], int *nd)
{
    if (nda < 2 || nda > 3 || ndb < 2 || ndb > 3) {
        MPC_ERR(ctx, "%s: operands must be 2-d or 3-d (batched), got %d-d and %d-d", what, nda, ndb);
        return SPIN_ERR_INVAL;
    }
    memset(L, 0, sizeof *L);
    L->kind = REQ_MATMUL;
    size_t ar = sa[nda - 2], ac = sa[nda - 1];
    size_t br = sb[ndb - 2], bc = sb[ndb - 1];
    L->m = trans_a ? ac : ar;
    L->k = trans_a ? ar : ac;
    size_t kb = trans_b ? bc : br;
    L->n = trans_b ? br : bc;
    L->ta = trans_a != 0;
    L->tb = trans_b != 0;
    L->ba = nda == 3 ? sa[0] : 1;
    L->bb = ndb == 3 ? sb[0] : 1;
    L->batch = L->ba > L->bb ? L->ba : L->bb;
    if (kb != L->k || (L->ba != 1 && L->bb != 1 && L->ba != L->bb)) {
        MPC_ERR(ctx, "%s: inner dimensions %llu and %zu differ, or batch sizes %llu and %llu disagree", what,
                (unsigned long long)L->k, kb, (unsigned long long)L->ba, (unsigned long long)L->bb);
        return SPIN_ERR_INVAL;
    }
    *nd = 0;
    if (nda == 3 || ndb == 3) shape[(*nd)++] = L->batch;
    shape[(*nd)++] = L->m;
    shape[(*nd)++] = L->n;
    return 0;
}
