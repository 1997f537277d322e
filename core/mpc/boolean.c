/* boolean.c - XOR-shared bits, bit-sliced, and the comparison circuit.
 *
 * Bit-sliced layout: n elements give W = ceil(n/64) words per bit plane;
 * word w of plane j holds bit j of elements 64w .. 64w+63 (element 64w + i
 * in bit i).  A party's XOR share of a plane is W words; XOR and NOT (party
 * 0 flips) are local, and so is the AND of a public plane with a shared one.
 *
 * AND of shared planes, with a dealer triple (a, b, c = a AND b) derived
 * from the request's stream like a Beaver triple (party 0 receives its
 * correction c_0): open e = x ^ a and f = y ^ b in one message per peer,
 *     z_i = c_i ^ (e & b_i) ^ (f & a_i) ^ [i = 0] (e & f).
 * One request carries up to SPIN_AND_MAXSEG batches ("segments", one per
 * circuit level), so a whole circuit costs one dealer request.  A segment
 * (nx, nt) ANDs x (nx words) with y (nx + nt words): z[w] = x[w] & y[w] for
 * w < nx, and the tail of y is ANDed with the last nt words of x again,
 * z[nx + t] = x[nx - nt + t] & y[nx + t]: x is masked and opened once for
 * both uses.  Stream of segment s, from its offset: a (nx), b (nx + nt),
 * c (nx + nt, parties >= 1); the corrections of all segments are
 * concatenated.
 *
 * The comparison circuit (msb of x = c - r with c = x + r public, r from an
 * edaBit) is documented at spin_mpc_bool_msb below and in docs/PROTOCOLS.md.
 */
#include "config.h"
#include "mpc/mpc_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- bit slicing (host) -------------------------------------------------- */

/* In place: afterwards bit k of a[j] is what bit j of a[k] was. */
static void transpose64(uint64_t a[64])
{
    uint64_t m = UINT64_C(0x00000000FFFFFFFF);
    for (unsigned j = 32; j; j >>= 1, m ^= m << j) {
        for (unsigned k = 0; k < 64; k = ((k | j) + 1) & ~j) {
            uint64_t t = ((a[k] >> j) ^ a[k | j]) & m;
            a[k] ^= t << j;
            a[k | j] ^= t;
        }
    }
}

static unsigned rev5(unsigned v)
{
    unsigned r = 0;
    for (int i = 0; i < 5; i++) r |= ((v >> i) & 1u) << (4 - i);
    return r;
}

unsigned spin_mpc_bits_pos(unsigned j)
{
    return (j & 1u) * 32u + rev5(j >> 1);
}

static void slice_host(const uint64_t *x, size_t n, int complement, uint64_t *planes)
{
    size_t W = SPIN_BITS_W(n);
    unsigned pos[64];
    for (unsigned j = 0; j < 64; j++) pos[j] = spin_mpc_bits_pos(j);
    for (size_t w = 0; w < W; w++) {
        uint64_t a[64];
        size_t k0 = 64 * w, m = n - k0 < 64 ? n - k0 : 64;
        memcpy(a, x + k0, m * 8);
        memset(a + m, 0, (64 - m) * 8);
        if (complement)
            for (int i = 0; i < 64; i++) a[i] = ~a[i];
        transpose64(a);
        for (unsigned j = 0; j < 64; j++) planes[pos[j] * W + w] = a[j];
    }
}

/* n words of plugin memory readable on the host: the memory itself on a
 * host plugin, else a staged copy (*owned = 1; free it). */
static int host_view(spin_ctx_t *ctx, const uint64_t *dev, size_t n, uint64_t **h, int *owned)
{
    int rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    if (rc) return rc;
    if (ctx->host_mem) {
        *h = (uint64_t *)dev;
        *owned = 0;
        return 0;
    }
    *h = malloc(n ? n * 8 : 8);
    if (!*h) return SPIN_ERR_NOMEM;
    *owned = 1;
    rc = ctx->compute->copy_d2h(ctx->compute_state, *h, dev, n * 8, NULL);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    if (rc) {
        free(*h);
        *h = NULL;
    }
    return rc;
}

/* Host scratch for n words that end up in dev (the memory itself on a host
 * plugin); host_commit copies it there and frees it. */
static int host_scratch(spin_ctx_t *ctx, uint64_t *dev, size_t n, uint64_t **h)
{
    if (ctx->host_mem) {
        int rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
        *h = dev;
        return rc;
    }
    *h = malloc(n ? n * 8 : 8);
    return *h ? 0 : SPIN_ERR_NOMEM;
}

static int host_commit(spin_ctx_t *ctx, uint64_t *dev, uint64_t *h, size_t n, int rc)
{
    if (ctx->host_mem || !h) return rc;
    if (!rc) rc = ctx->compute->copy_h2d(ctx->compute_state, dev, h, n * 8, NULL);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    free(h);
    return rc;
}

int spin_mpc_bits_slice(spin_ctx_t *ctx, const uint64_t *x, size_t n, int complement, uint64_t *planes)
{
    uint64_t *hx, *hp = NULL;
    int owned;
    size_t pw = 64 * SPIN_BITS_W(n);
    int rc = host_view(ctx, x, n, &hx, &owned);
    if (rc) return rc;
    rc = host_scratch(ctx, planes, pw, &hp);
    if (!rc) slice_host(hx, n, complement, hp);
    rc = host_commit(ctx, planes, hp, pw, rc);
    if (owned) free(hx);
    return rc;
}

int spin_mpc_bits_unpack(spin_ctx_t *ctx, const uint64_t *plane, size_t n, uint64_t *out)
{
    uint64_t *hp, *ho = NULL;
    int owned;
    int rc = host_view(ctx, plane, SPIN_BITS_W(n), &hp, &owned);
    if (rc) return rc;
    rc = host_scratch(ctx, out, n, &ho);
    if (!rc)
        for (size_t i = 0; i < n; i++) ho[i] = (hp[i >> 6] >> (i & 63)) & 1u;
    rc = host_commit(ctx, out, ho, n, rc);
    if (owned) free(hp);
    return rc;
}

/* ---- XOR openings ------------------------------------------------------- */

/* Like spin_mpc_open_finish, but the shares are combined with XOR. */
int spin_mpc_open_xor_finish(spin_opening_t *op)
{
    return spin_mpc_open_finish_op(op, SPIN_RING_XOR);
}

/* ---- AND triples ---------------------------------------------------------- */

int spin_mpc_and_parse(const dealer_req_t *rq, spin_and_req_t *tr)
{
    memset(tr, 0, sizeof *tr);
    if (rq->kind != REQ_AND || rq->p[0] < 1 || rq->p[0] > SPIN_AND_MAXSEG) return SPIN_ERR_PROTOCOL;
    tr->nonce = rq->nonce;
    tr->nseg = (int)rq->p[0];
    uint64_t off = 0, coff = 0;
    for (int s = 0; s < tr->nseg; s++) {
        uint64_t nx = rq->p[1 + 2 * s], nt = rq->p[2 + 2 * s];
        if (!nx || nx > (UINT64_C(1) << 34) || nt > nx) return SPIN_ERR_PROTOCOL;
        tr->nx[s] = (size_t)nx;
        tr->nt[s] = (size_t)nt;
        tr->off[s] = off;
        tr->coff[s] = (size_t)coff;
        off += 3 * nx + 2 * nt;
        coff += nx + nt;
    }
    tr->cwords = (size_t)coff;
    return 0;
}

int spin_mpc_and_request(spin_ctx_t *ctx, int nseg, const size_t *nx, const size_t *nt, spin_and_req_t *tr)
{
    dealer_req_t rq;
    memset(&rq, 0, sizeof rq);
    rq.kind = REQ_AND;
    rq.p[0] = (uint64_t)nseg;
    for (int s = 0; s < nseg && s < SPIN_AND_MAXSEG; s++) {
        rq.p[1 + 2 * s] = nx[s];
        rq.p[2 + 2 * s] = nt[s];
    }
    if (spin_mpc_and_parse(&rq, tr)) {
        MPC_ERR(ctx, "AND request: %d batches (1..%d), each of 1..2^34 words", nseg, SPIN_AND_MAXSEG);
        return SPIN_ERR_INVAL;
    }
    rq.nonce = tr->nonce = ctx->req_nonce++;
    return spin_mpc_dealer_request(ctx, &rq);
}

void spin_mpc_and_release(spin_ctx_t *ctx, spin_and_req_t *tr)
{
    spin_mpc_buf_release(ctx, tr->corr);
    tr->corr = NULL;
}

int spin_mpc_and_run(spin_ctx_t *ctx, spin_and_req_t *tr, int seg, const uint64_t *x, const uint64_t *yh,
                 const uint64_t *yt, uint64_t *z)
{
    const spin_compute_ops_t *o = ctx->compute;
    size_t nx = tr->nx[seg], nt = tr->nt[seg], ny = nx + nt;
    uint64_t off = tr->off[seg];
    uint64_t *a = NULL, *b = NULL, *ef = NULL, *t = NULL;
    int rc = spin_mpc_buf_alloc(ctx, nx, &a);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, ny, &b);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, nx + ny, &ef);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, ny, &t);
    if (!rc) rc = spin_mpc_dealer_stream(ctx, tr->nonce, off, a, nx);
    if (!rc) rc = spin_mpc_dealer_stream(ctx, tr->nonce, off + nx, b, ny);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, ef, x, a, nx, NULL);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, ef + nx, yh, b, nx, NULL);
    if (!rc && nt) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, ef + 2 * nx, yt, b + nx, nt, NULL);
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
    spin_opening_t op;
    if (!rc) rc = spin_mpc_open_start(ctx, TAG_BOOL_AND, ef, nx + ny, -1, &op);
    if (rc) goto done;
    /* While the masked bits travel: my share of c. */
    if (ctx->party == 0) {
        if (!tr->corr) {
            rc = spin_mpc_buf_alloc(ctx, tr->cwords, &tr->corr);
            if (!rc) rc = spin_mpc_dealer_receive(ctx, tr->corr, tr->cwords);
            if (rc) spin_mpc_and_release(ctx, tr);
        }
        if (!rc) rc = o->copy_d2d(ctx->compute_state, z, tr->corr + tr->coff[seg], ny * 8, NULL);
    } else {
        rc = spin_mpc_dealer_stream(ctx, tr->nonce, off + nx + ny, z, ny);
    }
    int rc2 = spin_mpc_open_xor_finish(&op);
    if (!rc) rc = rc2;
    if (rc) goto done;
    const uint64_t *e = ef, *f = ef + nx, *et = ef + nx - nt, *at = a + nx - nt;
    /* z ^= e & (b ^ [i = 0] f) ^ f & a, with the tails reusing x's last nt words */
    if (ctx->party == 0) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, b, b, f, ny, NULL);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_AND, t, e, b, nx, NULL);
    if (!rc && nt) rc = o->ring_binary(ctx->compute_state, SPIN_RING_AND, t + nx, et, b + nx, nt, NULL);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, z, z, t, ny, NULL);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_AND, t, f, a, nx, NULL);
    if (!rc && nt) rc = o->ring_binary(ctx->compute_state, SPIN_RING_AND, t + nx, f + nx, at, nt, NULL);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, z, z, t, ny, NULL);
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
done:
    spin_mpc_buf_release(ctx, a);
    spin_mpc_buf_release(ctx, b);
    spin_mpc_buf_release(ctx, ef);
    spin_mpc_buf_release(ctx, t);
    return rc;
}

/* ---- edaBits and daBits (requests; the dealer side: dealer/gen_bool.c) - */

int spin_mpc_edabit_request(spin_ctx_t *ctx, size_t n, uint64_t *nonce)
{
    dealer_req_t rq;
    memset(&rq, 0, sizeof rq);
    rq.kind = REQ_EDABIT;
    rq.nonce = *nonce = ctx->req_nonce++;
    rq.p[0] = n;
    rq.p[1] = SPIN_EDABIT_PAIRS;
    return spin_mpc_dealer_request(ctx, &rq);
}

int spin_mpc_dabit_request(spin_ctx_t *ctx, size_t n, int with_product, uint64_t *nonce)
{
    dealer_req_t rq;
    memset(&rq, 0, sizeof rq);
    rq.kind = REQ_DABIT;
    rq.nonce = *nonce = ctx->req_nonce++;
    rq.p[0] = n;
    rq.p[1] = with_product ? SPIN_DABIT_PRODUCT : 0;
    return spin_mpc_dealer_request(ctx, &rq);
}

/* ---- the comparison circuit ---------------------------------------------- */

int spin_mpc_cmp_and_request(spin_ctx_t *ctx, size_t W, spin_and_req_t *tr)
{
    size_t nx[SPIN_CMP_LEVELS], nt[SPIN_CMP_LEVELS];
    size_t h = 16;
    for (int s = 0; s < SPIN_CMP_LEVELS; s++, h /= 2) {
        nx[s] = h * W;
        nt[s] = (h - 1) * W;
    }
    return spin_mpc_and_request(ctx, SPIN_CMP_LEVELS, nx, nt, tr);
}

/*
 * msb(x) for x = c - r (mod 2^64), c public (n words), r an edaBit whose bit
 * shares rb (96 W words, SPIN_EDABIT_PAIRS layout) this party holds:
 *     msb(x) = c_63 ^ r_63 ^ borrow into bit 63 of c - r,
 * the borrow over bits 0..62 with generate g_j = ~c_j & r_j and propagate
 * p_j = ~(c_j ^ r_j), combined as (G, P) o (G', P') = (G ^ P G', P P').
 *
 * Level 1 (bit pairs 2k, 2k+1) is local: with u = ~c public and the dealer's
 * q_k = r_{2k+1} r_{2k},
 *     G = u_h r_h ^ u_h u_l r_l ^ u_l q,   P = u_h u_l ^ u_h r_l ^ u_l r_h ^ q;
 * the pair (62, 63) is replaced by bit 62 alone.  Levels 2..6 halve the 32
 * groups with one AND segment each (SPIN_CMP_LEVELS openings).  Planes are
 * kept in bit-reversed group order (spin_mpc_bits_pos), so at every level the
 * low groups are the first half, the high groups the second half, and the
 * results land in bit-reversed order again: every step is one operation
 * over contiguous words.
 */
int spin_mpc_bool_msb(spin_ctx_t *ctx, const uint64_t *c, size_t n, const uint64_t *rb, spin_and_req_t *tr,
                  uint64_t *out)
{
    const spin_compute_ops_t *o = ctx->compute;
    size_t W = SPIN_BITS_W(n), H = 32 * W;
    int p0 = ctx->party == 0;
    uint64_t *pub = NULL, *G = NULL, *P = NULL, *z = NULL, *t = NULL;
    int rc = spin_mpc_buf_alloc(ctx, 97 * W, &pub);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, H, &G);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, H, &P);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, H, &z);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, H, &t);
    if (rc) goto done;
    const uint64_t *Rl = rb, *Rh = rb + H, *Q = rb + 2 * H;
    uint64_t *Ul = pub, *Uh = pub + H, *UU = pub + 2 * H, *C63 = pub + 3 * H;
    /* public planes: u = ~c, u_l & u_h, c_63 */
    rc = spin_mpc_bits_slice(ctx, c, n, 1, pub);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_AND, UU, Ul, Uh, H, NULL);
    if (!rc) rc = o->ring_unary(ctx->compute_state, SPIN_RING_NOT, C63, Uh + 31 * W, W, NULL);
    /* level 1 */
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_AND, G, Uh, Rh, H, NULL);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_AND, t, UU, Rl, H, NULL);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, G, G, t, H, NULL);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_AND, t, Ul, Q, H, NULL);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, G, G, t, H, NULL);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_AND, P, Uh, Rl, H, NULL);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_AND, t, Ul, Rh, H, NULL);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, P, P, t, H, NULL);
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, P, P, Q, H, NULL);
    if (!rc && p0) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, P, P, UU, H, NULL);
    /* group 31 (position 31): bit 62 alone, g = u r, p = u ^ r */
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_AND, G + 31 * W, Ul + 31 * W, Rl + 31 * W, W, NULL);
    if (!rc) rc = o->copy_d2d(ctx->compute_state, P + 31 * W, Rl + 31 * W, W * 8, NULL);
    if (!rc && p0) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, P + 31 * W, P + 31 * W, Ul + 31 * W, W, NULL);
    /* levels 2..6: (G, P)[k] = (G, P)[h + k] o (G, P)[k], k < h */
    size_t h = 16;
    for (int s = 0; s < SPIN_CMP_LEVELS && !rc; s++, h /= 2) {
        rc = spin_mpc_and_run(ctx, tr, s, P + h * W, G, P + W, z);
        if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, G, G + h * W, z, h * W, NULL);
        if (!rc && h > 1) rc = o->copy_d2d(ctx->compute_state, P + W, z + h * W, (h - 1) * W * 8, NULL);
    }
    /* msb = borrow ^ r_63 ^ c_63 */
    if (!rc) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, out, G, Rh + 31 * W, W, NULL);
    if (!rc && p0) rc = o->ring_binary(ctx->compute_state, SPIN_RING_XOR, out, out, C63, W, NULL);
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
done:
    spin_mpc_buf_release(ctx, pub);
    spin_mpc_buf_release(ctx, G);
    spin_mpc_buf_release(ctx, P);
    spin_mpc_buf_release(ctx, z);
    spin_mpc_buf_release(ctx, t);
    return rc;
}

/* ---- public: AND of raw XOR shares ---------------------------------------- */

int spin_xor_and(spin_ctx_t *ctx, const uint64_t *x, const uint64_t *y, size_t words, uint64_t *z)
{
    if (!ctx || ctx->dealer) {
        if (ctx) MPC_ERR(ctx, "xor_and: the dealer takes no part in protocols; it runs spin_dealer_serve()");
        return SPIN_ERR_INVAL;
    }
    if (!words) return 0;
    if (!x || !y || !z) return SPIN_ERR_INVAL;
    const spin_compute_ops_t *o = ctx->compute;
    spin_and_req_t tr;
    size_t nt = 0;
    uint64_t *dx = NULL, *dy = NULL, *dz = NULL;
    int rc = spin_mpc_buf_alloc(ctx, words, &dx);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, words, &dy);
    if (!rc) rc = spin_mpc_buf_alloc(ctx, words, &dz);
    if (!rc) rc = o->copy_h2d(ctx->compute_state, dx, x, words * 8, NULL);
    if (!rc) rc = o->copy_h2d(ctx->compute_state, dy, y, words * 8, NULL);
    if (rc) goto done;
    rc = spin_mpc_and_request(ctx, 1, &words, &nt, &tr);
    if (rc) goto done;
    rc = spin_mpc_and_run(ctx, &tr, 0, dx, dy, NULL, dz);
    spin_mpc_and_release(ctx, &tr);
    if (!rc) rc = o->copy_d2h(ctx->compute_state, z, dz, words * 8, NULL);
    if (!rc) rc = o->stream_sync(ctx->compute_state, NULL);
done:
    spin_mpc_buf_release(ctx, dx);
    spin_mpc_buf_release(ctx, dy);
    spin_mpc_buf_release(ctx, dz);
    return rc;
}
