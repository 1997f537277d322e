/* fn_normalise.c - functions by normalisation to the leading one:
 * reciprocal, inverse square root, square root and natural logarithm.
 * See fn_internal.h. */
#include "config.h"
#include "fn/fn_internal.h"

#include <stdlib.h>
#include <string.h>

/* The reciprocal tail shared by spin_reciprocal and softmax: m and y0 (rows
 * words, scale PN; y0 ~ 1/m with relative error e0 = 1 - m y0 <= 1/17), a
 * row factor g (rows words) and an element factor F (elems words, row
 * i / per, scale fs): A0 = g F is formed at level 1 (truncated to scale
 * as) with m y0.  Then three Goldschmidt levels A <- A (1 + e), e <- e^2;
 * the last truncates to scale f: out = g F (1 - e0^8) / (m y0).  4 levels,
 * 8 rounds. */
int fn_recip_tail(spin_ctx_t *ctx, const uint64_t *m, const uint64_t *y0, const uint64_t *g, size_t rows,
                  const uint64_t *F, size_t elems, unsigned fs, unsigned as, int PN, uint64_t *out)
{
    size_t per = elems / rows;
    uint64_t *e = NULL, *ee = NULL, *A = NULL;
    int rc = fn_words_alloc(ctx, rows, &e);
    if (!rc) rc = fn_words_alloc(ctx, elems, &ee);
    if (!rc) rc = fn_words_alloc(ctx, elems, &A);
    if (!rc) rc = fn_bcast(ctx, ee, g, rows, per);
    /* level 1: e = m y0 (PN), A = g F (to scale as) */
    if (!rc) {
        prod_t p[2] = {{m, y0, e, rows}, {ee, F, A, elems}};
        unsigned d[2] = {(unsigned)PN, (unsigned)((int)fs + PN - (int)as)};
        rc = fn_level(ctx, p, d, 2);
    }
    /* e = 1 - m y0 */
    if (!rc) rc = fn_words_scalar(ctx, SPIN_RING_MUL_S, e, e, (uint64_t)-1, rows);
    if (!rc) rc = fn_words_add_const(ctx, e, R1 << PN, rows);
    for (int it = 0; it < 3 && !rc; it++) {
        rc = fn_bcast(ctx, ee, e, rows, per);
        if (!rc) rc = fn_words_add_const(ctx, ee, R1 << PN, elems);
        if (rc) break;
        prod_t p[2] = {{A, ee, it == 2 ? out : A, elems}, {e, NULL, e, rows}};
        unsigned d[2] = {(unsigned)(it == 2 ? PN + (int)as - (int)ctx->frac_bits : PN), (unsigned)PN};
        rc = fn_level(ctx, p, d, it == 2 ? 1 : 2);
    }
    FN_WORDS_FREE(e);
    FN_WORDS_FREE(ee);
    FN_WORDS_FREE(A);
    return rc;
}

/* Two-stage (coarse, then fine) normalisation of |X| < 2^K to Xc in
 * [2^(K-g), 2^K): coarse group j = 1..ng of |X| (thresholds 2^max(0, L_j),
 * L_j = K - (ng - j + 1) g), Xc = |X| 2^((ng - j) g), exact and linear in
 * the coarse bits and bit * X products (j = 0, X = 0: Xc = 2^(K-g)). */
#define RC_GW 8

/* 1/x for x != 0 (|X| in [1, 2^K), K = 2f): stage 1 compares X and -X
 * against 2^max(0, L_j) (2 ng comparisons, one batch): sign and group;
 * Xc = |X| 2^(D_j) (D_j = (ng - j) g) and F = sign 2^(D_j) (scale f).
 * Stage 2: Xc against 2^(K-g+1) .. 2^K (g comparisons): Xc in
 * [2^(e-1), 2^e), e = K - g + i + 1 (i = g: |X| >= 2^K, overflow);
 * m = Xc / 2^e in [0.5, 1), y0 = 48/17 - 32/17 m and G0 = y0 2^(K - e),
 * all linear at scale K + 8 (G0's coefficients are y0's times 2^(K-e), so
 * that G0 / y0 is exact), truncated to PN in one round; then recip_tail with
 * g = G0 and F: 1/x = sign 2^(f + D_j - e) / m = G0 F / (m y0).  16
 * comparisons per element (f = 16), 7 + 7 + 1 + 8 = 23 rounds.  |x| >= 2^f:
 * 0 (true value below one ulp); x = 0: 0. */
static int w_recip(spin_ctx_t *ctx, const uint64_t *X, size_t n, uint64_t *out, const void *arg)
{
    (void)arg;
    int f = (int)ctx->frac_bits, K = 2 * f, g = RC_GW, ng = (K + g - 1) / g, T = K - g, G = K + 8;
    int PN = 57 - 2 * f < PN_MAX ? 57 - 2 * f : PN_MAX;
    int ex1[16], ex2[RC_GW];
    uint64_t *b1 = NULL, *b1x = NULL, *b2 = NULL, *b2x = NULL, *Xc = NULL, *F = NULL, *M = NULL, *Y0 = NULL,
             *G0 = NULL, *tmp = NULL;
    uint64_t A[2 * 17], B[2 * 17], Z[2 * 17];
    if (ng > 16) return SPIN_ERR_INTERNAL;
    int rc = fn_words_alloc(ctx, 2 * (size_t)ng * n, &b1);
    if (!rc) rc = fn_words_alloc(ctx, 2 * (size_t)ng * n, &b1x);
    if (!rc) rc = fn_words_alloc(ctx, (size_t)g * n, &b2);
    if (!rc) rc = fn_words_alloc(ctx, (size_t)g * n, &b2x);
    uint64_t **bufs[] = {&Xc, &F, &M, &Y0, &G0, &tmp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0] && !rc; i++) rc = fn_words_alloc(ctx, n, bufs[i]);
    if (rc) goto done;
    memset(Z, 0, sizeof Z);
    for (int j = 1; j <= ng; j++) {
        int L = K - (ng - j + 1) * g;
        ex1[j - 1] = L > 0 ? L : 0;
    }
    for (int i = 0; i < g; i++) ex2[i] = T + 1 + i;
    /* stage 1: both signs in one batch */
    rc = fn_lead_bits_e(ctx, X, n, ex1, ng, 2, b1, b1x);
    for (int s = 0; s < 2; s++)
        for (int j = 0; j <= ng; j++) {
            size_t k = (size_t)s * (size_t)(ng + 1) + (size_t)j;
            uint64_t d = j ? R1 << ((ng - j) * g) : 0;
            A[k] = j ? 0 : R1 << T;
            B[k] = s ? (uint64_t)0 - d : d;
            Z[k] = 0;
        }
    if (!rc) rc = fn_poslin(ctx, X, n, b1, b1x, ng, 2, A, B, Xc, tmp);
    for (int k = 0; k < 2 * (ng + 1); k++) {
        A[k] = B[k];
        B[k] = 0;
    }
    if (!rc) rc = fn_poslin(ctx, X, n, b1, b1x, ng, 2, A, Z, F, tmp);
    /* stage 2 on Xc >= 2^T */
    if (!rc) rc = fn_lead_bits_e(ctx, Xc, n, ex2, g, 1, b2, b2x);
    for (int pass = 0; pass < 3 && !rc; pass++) {
        for (int i = 0; i <= g; i++) {
            int in = i < g, e = T + i + 1;
            uint64_t ya = in ? fx(RC0, G) : fx(RC0 - RC1 * 0.75, G), yb = in ? fx(-RC1, G - e) : 0;
            switch (pass) {
            case 0: A[i] = in ? 0 : fx(0.75, G); B[i] = in ? R1 << (G - e) : 0; break;
            case 1: A[i] = ya; B[i] = yb; break;
            case 2: A[i] = in ? ya << (K - e) : 0; B[i] = in ? yb << (K - e) : 0; break;
            }
        }
        rc = fn_poslin(ctx, Xc, n, b2, b2x, g, 1, A, B, pass == 0 ? M : pass == 1 ? Y0 : G0, tmp);
    }
    if (!rc) {
        trn_t t[3] = {{M, n, (unsigned)(G - PN)}, {Y0, n, (unsigned)(G - PN)}, {G0, n, (unsigned)(G - PN)}};
        rc = fn_trunc_batch(ctx, t, 3);
    }
    if (!rc) rc = fn_recip_tail(ctx, M, Y0, G0, n, F, n, (unsigned)f, (unsigned)f + 4, PN, out);
done:
    FN_WORDS_FREE(b1);
    FN_WORDS_FREE(b1x);
    FN_WORDS_FREE(b2);
    FN_WORDS_FREE(b2x);
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) FN_WORDS_FREE(*bufs[i]);
    return rc;
}

int spin_reciprocal(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    if (ctx && !ctx->dealer && ctx->frac_bits > 22) {
        MPC_ERR(ctx, "reciprocal: needs f <= 22 (f = %u)", ctx->frac_bits);
        return SPIN_ERR_INVAL;
    }
    return fn_unary(ctx, a, out, "reciprocal", w_recip, NULL);
}

/* ---- inverse square root and square root ----------------------------------------- */

/* m^(-1/2) on [0.25, 1): y0 = Q0 + Q1 m + Q2 m^2 (Chebyshev, relative error 0.030). */
#define Q0 2.6286490080273532
#define Q1 (-3.133970819265516)
#define Q2 1.5231841742872212

/* One-stage rsqrt (one comparison per position: kept for the per-row and
 * per-channel uses, LayerNorm and BatchNorm, where rounds matter more than
 * bytes; spin_rsqrt and spin_sqrt use the two-stage rsqrt2 below).
 * out = wmul rsqrt(x) at scale os, x = X / 2^f > 0, for X in [2^plo, 2^K),
 * K <= 52 (3f - 1 for rsqrt): positions plo..K (one comparison batch), m = X / 2^E in
 * [0.25, 1) with E = f mod 2; M, Q1 m and sqrt(Q2) m at scale PN (one
 * truncation round); y0 = Q0 + Q1 m + (sqrt(Q2) m)^2 (level 1), Newton
 * y <- y (3 - m y^2) / 2 twice (levels 2-3 and 4-6, the last one carrying
 * W = wmul 2^((3f - E)/2), so that y W = wmul rsqrt(x) 2^f).  20 rounds.
 * X < 2^plo: as X = 2^(plo-1) (X <= 0 included, plo = 0: 0 returned);
 * X >= 2^K: 0. */
int fn_rsqrt_core(spin_ctx_t *ctx, const uint64_t *X, size_t n, int plo, int K, double wmul, int ws,
                  unsigned os, uint64_t *out)
{
    int f = (int)ctx->frac_bits, np = K - plo + 1, G = K + 9, PN = PN_MAX;
    int as = (int)os + 4;
    size_t tot = (size_t)np * n;
    uint64_t *b = NULL, *bx = NULL, *M = NULL, *L = NULL, *Sq = NULL, *W = NULL, *Y = NULL, *y2 = NULL,
             *my = NULL, *t = NULL, *A = NULL, *tmp = NULL;
    uint64_t *CA = calloc((size_t)np + 1, 8), *CB = calloc((size_t)np + 1, 8);
    int rc = CA && CB ? 0 : SPIN_ERR_NOMEM;
    if (!rc) rc = fn_words_alloc(ctx, tot, &b);
    if (!rc) rc = fn_words_alloc(ctx, tot, &bx);
    uint64_t **bufs[] = {&M, &L, &Sq, &W, &Y, &y2, &my, &t, &A, &tmp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0] && !rc; i++) rc = fn_words_alloc(ctx, n, bufs[i]);
    if (!rc) rc = fn_lead_bits(ctx, X, n, plo, np, 1, b, bx);
    if (rc) goto done;
    /* state st = 0..np: X in [2^(plo+st-1), 2^(plo+st)); st = 0 as if X = 2^(plo-1), st = np: overflow */
#define EXP_OF(st) ((plo + (st)) + (((plo + (st)) - f) & 1))
    for (int pass = 0; pass < 4 && !rc; pass++) {
        for (int st = 0; st <= np; st++) {
            int in = st >= 1 && st < np, e = EXP_OF(st);
            double mc = st == 0 ? ldexp(1.0, plo - 1 - EXP_OF(0)) : 0.5;   /* m of the constant states */
            if (st == 0 && plo == 0) mc = 0.5;
            double wv = (st == np || (st == 0 && plo == 0)) ? 0.0 : wmul * ldexp(1.0, (3 * f - (st == 0 ? EXP_OF(0) : e)) / 2);
            switch (pass) {
            case 0: CA[st] = in ? 0 : fx(mc, G); CB[st] = in ? R1 << (G - e) : 0; break;
            case 1: CA[st] = fx(Q0 + (in ? 0 : Q1 * mc), G); CB[st] = in ? fx(Q1, G - e) : 0; break;
            case 2: CA[st] = in ? 0 : fx(sqrt(Q2) * mc, G); CB[st] = in ? fx(sqrt(Q2), G - e) : 0; break;
            case 3: CA[st] = fx(wv, ws); CB[st] = 0; break;
            }
        }
        uint64_t *dst = pass == 0 ? M : pass == 1 ? L : pass == 2 ? Sq : W;
        rc = fn_poslin(ctx, X, n, b, bx, np, 1, CA, CB, dst, tmp);
    }
#undef EXP_OF
    if (!rc) {
        trn_t tr[3] = {{M, n, (unsigned)(G - PN)}, {L, n, (unsigned)(G - PN)}, {Sq, n, (unsigned)(G - PN)}};
        rc = fn_trunc_batch(ctx, tr, 3);
    }
    /* level 1: y0 = L + Sq^2 */
    if (!rc) {
        prod_t p = {Sq, NULL, Sq, n};
        unsigned d = (unsigned)PN;
        rc = fn_level(ctx, &p, &d, 1);
    }
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_ADD, Y, L, Sq, n);
    /* Newton 1: y2 = y^2, my = m y; t = my y2 raw; y = (3 y 2^PN - t) >> (PN + 1) */
    if (!rc) {
        prod_t p[2] = {{Y, NULL, y2, n}, {M, Y, my, n}};
        unsigned d[2] = {(unsigned)PN, (unsigned)PN};
        rc = fn_level(ctx, p, d, 2);
    }
    if (!rc) {
        prod_t p = {my, y2, t, n};
        rc = fn_beaver_batch(ctx, &p, 1);
    }
    if (!rc) rc = fn_words_scalar(ctx, SPIN_RING_MUL_S, Y, Y, (uint64_t)3 << PN, n);
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_SUB, Y, Y, t, n);
    if (!rc) {
        trn_t tr = {Y, n, (unsigned)PN + 1};
        rc = fn_trunc_batch(ctx, &tr, 1);
    }
    /* Newton 2 carrying W: y2 = y^2, A = y W (scale as); t = m y2; out = A (3 - t) / 2 */
    if (!rc) {
        prod_t p[2] = {{Y, NULL, y2, n}, {Y, W, A, n}};
        unsigned d[2] = {(unsigned)PN, (unsigned)(PN + ws + f - as)};
        rc = fn_level(ctx, p, d, 2);
    }
    if (!rc) {
        prod_t p = {M, y2, t, n};
        unsigned d = (unsigned)PN;
        rc = fn_level(ctx, &p, &d, 1);
    }
    if (!rc) rc = fn_words_scalar(ctx, SPIN_RING_MUL_S, t, t, (uint64_t)-1, n);
    if (!rc) rc = fn_words_add_const(ctx, t, (uint64_t)3 << PN, n);
    if (!rc) {
        prod_t p = {A, t, out, n};
        unsigned d = (unsigned)(PN + 1 + as - (int)os);
        rc = fn_level(ctx, &p, &d, 1);
    }
done:
    free(CA);
    free(CB);
    FN_WORDS_FREE(b);
    FN_WORDS_FREE(bx);
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) FN_WORDS_FREE(*bufs[i]);
    return rc;
}

/* rsqrt (sq = 0) or sqrt (sq = 1) of x = X / 2^f for X in [1, 2^K), K = 3f - 1,
 * by a two-stage normalisation that keeps exponents in pairs (m = X / 2^E in
 * [0.25, 1) with E = f mod 2 needs only the even boundaries):
 *  1. X against 2^max(0, L_j), L_j = top - (ng - j + 1) g, top = K - 1, g = 8
 *     (ng = 6 comparisons at f = 16, with b X): Xc = X 2^(D_j), D_j =
 *     (ng - j) g, in [2^(top-g), 2^top) (j = 0, X < 1: Xc = 2^(top-g));
 *     W1 = 2^(D_j / 2) (rsqrt) or X 2^(D_j / 2) (sqrt), 0 for j = 0;
 *  2. Xc against 2^(top-g+2), ..., 2^(top-2), 2^top, 2^K (g/2 + 1 = 5
 *     comparisons): Xc in [2^(Ec-2), 2^Ec) (Ec up to top + 2; Xc >= 2^K:
 *     overflow, W2 = 0); m = Xc / 2^Ec, L = Q0 + Q1 m, Sq = sqrt(Q2) m at
 *     scale 3f + 8, W2 = 2^((3f - Ec) / 2).
 * Then one truncation round (m, L, Sq to PN); level 1: y0 = L + Sq^2 and
 * W = W1 W2 (rsqrt: 2^((3f - E)/2), E = Ec - D_j, so that y W = rsqrt(x)
 * 2^f; sqrt: X 2^((3f - E)/2) >> (f - 4), i.e. y W 2^-4 = sqrt(x) 2^f);
 * Newton 1 (level: y^2, m y, m W; product t = m y y^2; y = (3y - t) / 2)
 * and Newton 2 carrying W (level: y^2, A = y W, B = y m W; product
 * C = B y^2; out = (3 A - C) / 2).  11 comparisons per element (f = 16);
 * rounds 7 + 7 + 1 + 2 + 4 + 4 = 25.  X < 1 (x <= 0 included): 0;
 * X >= 2^K: 0. */
#define RS_GW 8

static int rsqrt2(spin_ctx_t *ctx, const uint64_t *X, size_t n, int sq, uint64_t *out)
{
    int f = (int)ctx->frac_bits, K = 3 * f - 1, top = K - 1, g = RS_GW, ng = (top + g - 1) / g;
    /* m, L = Q0 + Q1 m (< 1.85) and Sq at scale G must stay below 2^62 (truncation) and Q0 2^G
     * below 2^63 (int64): G <= 61 (3f + 8 = 62 at f = 18 overflowed) */
    int G = 3 * f + 8 < 61 ? 3 * f + 8 : 61;
    /* sqrt: y W (sqrt(x) 2^(f + ws + PN), W's products) and 3 A 2^PN (sqrt(x) 2^(f + xs + PN + 1.6))
     * must stay below 2^62: ws = 4, xs = 3 up to f = 17, ws = 2, xs = 1 at f = 18 */
    int PN = PN_MAX, nf = g / 2 + 1, ws = sq ? (38 - 2 * f < 4 ? 38 - 2 * f : 4) : 0, xs = sq ? ws - 1 : 4;
    int ex1[16], ex2[RS_GW];
    uint64_t *b1 = NULL, *b1x = NULL, *b2 = NULL, *b2x = NULL, *Xc = NULL, *W1 = NULL, *M = NULL, *L = NULL,
             *Sq = NULL, *W2 = NULL, *W = NULL, *Y = NULL, *y2 = NULL, *my = NULL, *mW = NULL, *t = NULL,
             *tmp = NULL;
    uint64_t A[17], B[17], Z[17];
    if (ng > 16) return SPIN_ERR_INTERNAL;
    int rc = fn_words_alloc(ctx, (size_t)ng * n, &b1);
    if (!rc) rc = fn_words_alloc(ctx, (size_t)ng * n, &b1x);
    if (!rc) rc = fn_words_alloc(ctx, (size_t)nf * n, &b2);
    if (!rc) rc = fn_words_alloc(ctx, (size_t)nf * n, &b2x);
    uint64_t **bufs[] = {&Xc, &W1, &M, &L, &Sq, &W2, &W, &Y, &y2, &my, &mW, &t, &tmp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0] && !rc; i++) rc = fn_words_alloc(ctx, n, bufs[i]);
    if (rc) goto done;
    memset(Z, 0, sizeof Z);
    for (int j = 1; j <= ng; j++) {
        int Lj = top - (ng - j + 1) * g;
        ex1[j - 1] = Lj > 0 ? Lj : 0;
    }
    for (int i = 0; i < g / 2 - 1; i++) ex2[i] = top - g + 2 * (i + 1);
    ex2[g / 2 - 1] = top;
    ex2[g / 2] = K;
    /* stage 1 */
    rc = fn_lead_bits_e(ctx, X, n, ex1, ng, 1, b1, b1x);
    for (int j = 0; j <= ng; j++) {
        int D = (ng - j) * g;
        A[j] = j ? 0 : R1 << (top - g);
        B[j] = j ? R1 << D : 0;
    }
    if (!rc) rc = fn_poslin(ctx, X, n, b1, b1x, ng, 1, A, B, Xc, tmp);
    for (int j = 0; j <= ng; j++) {
        uint64_t w = j ? R1 << ((ng - j) * g / 2) : 0;
        A[j] = sq ? 0 : w;
        B[j] = sq ? w : 0;
    }
    if (!rc) rc = fn_poslin(ctx, X, n, b1, b1x, ng, 1, A, B, W1, tmp);
    /* stage 2: state i = 0..nf, Ec = top - g + 2 (i + 1) for i < nf */
    if (!rc) rc = fn_lead_bits_e(ctx, Xc, n, ex2, nf, 1, b2, b2x);
    for (int pass = 0; pass < 4 && !rc; pass++) {
        for (int i = 0; i <= nf; i++) {
            int in = i < nf, e = top - g + 2 * (i + 1);
            switch (pass) {
            case 0: A[i] = in ? 0 : fx(0.5, G); B[i] = in ? R1 << (G - e) : 0; break;
            case 1: A[i] = fx(Q0 + (in ? 0 : Q1 * 0.5), G); B[i] = in ? fx(Q1, G - e) : 0; break;
            case 2: A[i] = in ? 0 : fx(sqrt(Q2) * 0.5, G); B[i] = in ? fx(sqrt(Q2), G - e) : 0; break;
            case 3: A[i] = in ? R1 << ((3 * f - e) / 2) : 0; B[i] = 0; break;
            }
        }
        uint64_t *dst = pass == 0 ? M : pass == 1 ? L : pass == 2 ? Sq : W2;
        rc = fn_poslin(ctx, Xc, n, b2, b2x, nf, 1, A, B, dst, tmp);
    }
    if (!rc) {
        trn_t tr[3] = {{M, n, (unsigned)(G - PN)}, {L, n, (unsigned)(G - PN)}, {Sq, n, (unsigned)(G - PN)}};
        rc = fn_trunc_batch(ctx, tr, 3);
    }
    /* level 1: y0 = L + Sq^2, W = W1 W2 (>> f - ws for sqrt) */
    if (!rc) {
        prod_t p[2] = {{Sq, NULL, Sq, n}, {W1, W2, W, n}};
        unsigned d[2] = {(unsigned)PN, sq ? (unsigned)(f - ws) : 0};
        rc = fn_level(ctx, p, d, 2);
    }
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_ADD, Y, L, Sq, n);
    /* Newton 1: y2 = y^2, my = m y, mW = m W (scale xs); t = my y2 raw; y = (3 y 2^PN - t) >> (PN + 1) */
    if (!rc) {
        prod_t p[3] = {{Y, NULL, y2, n}, {M, Y, my, n}, {M, W, mW, n}};
        unsigned d[3] = {(unsigned)PN, (unsigned)PN, (unsigned)(PN + ws - xs)};
        rc = fn_level(ctx, p, d, 3);
    }
    if (!rc) {
        prod_t p = {my, y2, t, n};
        rc = fn_beaver_batch(ctx, &p, 1);
    }
    if (!rc) rc = fn_words_scalar(ctx, SPIN_RING_MUL_S, Y, Y, (uint64_t)3 << PN, n);
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_SUB, Y, Y, t, n);
    if (!rc) {
        trn_t tr = {Y, n, (unsigned)PN + 1};
        rc = fn_trunc_batch(ctx, &tr, 1);
    }
    /* Newton 2 carrying W: y2 = y^2, A = y W (my), B = y m W (t), scale xs; C = B y2 raw (scale PN + xs) */
    if (!rc) {
        prod_t p[3] = {{Y, NULL, y2, n}, {Y, W, my, n}, {Y, mW, t, n}};
        unsigned d[3] = {(unsigned)PN, (unsigned)(PN + ws - xs), (unsigned)PN};
        rc = fn_level(ctx, p, d, 3);
    }
    if (!rc) {
        prod_t p = {t, y2, W2, n};
        rc = fn_beaver_batch(ctx, &p, 1);
    }
    if (!rc) rc = fn_words_scalar(ctx, SPIN_RING_MUL_S, my, my, (uint64_t)3 << PN, n);
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_SUB, out, my, W2, n);
    if (!rc) {
        trn_t tr = {out, n, (unsigned)(PN + xs + 1)};
        rc = fn_trunc_batch(ctx, &tr, 1);
    }
done:
    FN_WORDS_FREE(b1);
    FN_WORDS_FREE(b1x);
    FN_WORDS_FREE(b2);
    FN_WORDS_FREE(b2x);
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) FN_WORDS_FREE(*bufs[i]);
    return rc;
}

static int w_rsqrt(spin_ctx_t *ctx, const uint64_t *X, size_t n, uint64_t *out, const void *arg)
{
    (void)arg;
    return rsqrt2(ctx, X, n, 0, out);
}

int spin_rsqrt(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    if (ctx && !ctx->dealer && ctx->frac_bits > 18) {
        MPC_ERR(ctx, "rsqrt: needs f <= 18 (f = %u)", ctx->frac_bits);
        return SPIN_ERR_INVAL;
    }
    return fn_unary(ctx, a, out, "rsqrt", w_rsqrt, NULL);
}

/* sqrt(x) = x rsqrt(x) with x folded into the carried factor (rsqrt2, sq = 1):
 * 25 rounds; x <= 0: 0; x >= 2^(2f-1): 0 (outside the range). */
static int w_sqrt(spin_ctx_t *ctx, const uint64_t *X, size_t n, uint64_t *out, const void *arg)
{
    (void)arg;
    return rsqrt2(ctx, X, n, 1, out);
}

/* fn_rsqrt_core's parameters for X >= xmin (raw, scale f) and an output
 * factor wmul: the lowest position plo, the carried factor's scale ws and
 * the output scale os (as large as the range allows); -1 when xmin is too
 * small for wmul (the output would not fit). */
static int rsqrt_scaled_params(int f, double xmin, int K, double wmul, int *plo, int *ws, int *os)
{
    *plo = 0;
    while (*plo < K - 8 && ldexp(1.0, *plo + 1) <= xmin) (*plo)++;
    /* the output is at most rmax (X below 2^plo reads as 2^(plo - 1)) */
    int lr = (int)ceil(log2(wmul / sqrt(ldexp(1.0, *plo - 1 - f))));
    *ws = 19 - lr;
    *os = 29 - lr;
    if (*ws > 16) *ws = 16;
    if (*os > f + 16) *os = f + 16;
    return *ws < 4 || *os < f + 2 ? -1 : 0;
}

#define RSQRT_SCALED_K 52   /* inputs below 2^52 (raw) */

typedef struct rsqrt_scaled_arg {
    int plo, ws, os;
    double w;
} rsqrt_scaled_arg_t;

static int w_rsqrt_scaled(spin_ctx_t *ctx, const uint64_t *x, size_t n, uint64_t *out, const void *arg)
{
    const rsqrt_scaled_arg_t *r = arg;
    return fn_rsqrt_core(ctx, x, n, r->plo, RSQRT_SCALED_K, r->w, r->ws, (unsigned)r->os, out);
}

int spin_rsqrt_scaled(spin_ctx_t *ctx, const spin_tensor_t *x, double xmin, double w, spin_tensor_t **out,
                      unsigned *scale)
{
    int rc = spin_mpc_check_party(ctx, "rsqrt_scaled");
    if (rc) return rc;
    int f = (int)ctx->frac_bits;
    rsqrt_scaled_arg_t r = {0, 0, 0, w};
    int bad = f > 18 || !scale || !(xmin > 0) || !(w > 0) || !isfinite(xmin) || !isfinite(w) ||
              rsqrt_scaled_params(f, ldexp(xmin, f), RSQRT_SCALED_K, w, &r.plo, &r.ws, &r.os);
    if (bad) {
        /* a query (out NULL) only reports */
        if (out)
            MPC_ERR(ctx, "rsqrt_scaled: needs f <= 18 (f = %d), xmin > 0 and w > 0 with w / sqrt(xmin / 2) "
                         "at most about 2^min(15, 27 - f) (xmin %g, w %g)", f, xmin, w);
        return SPIN_ERR_INVAL;
    }
    *scale = (unsigned)r.os;
    if (!out) return 0;
    return fn_unary(ctx, x, out, "rsqrt_scaled", w_rsqrt_scaled, &r);
}

int spin_sqrt(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    if (ctx && !ctx->dealer && ctx->frac_bits > 18) {
        MPC_ERR(ctx, "sqrt: needs f <= 18 (f = %u)", ctx->frac_bits);
        return SPIN_ERR_INVAL;
    }
    return fn_unary(ctx, a, out, "sqrt", w_sqrt, NULL);
}

/* ---- natural logarithm ---------------------------------------------------------- */

/* ln m for m in [0.5, 1] as a degree-7 polynomial in u = 4m - 3 in [-1, 1]
 * (Chebyshev interpolation; c5..c7 rounded to 2^-20, since they multiply
 * raw powers at scale 2^-40, then c0..c4 refitted by least squares): max
 * error 2.75e-7 on [-1, 1], sum |c| 0.693. */
const double fn_lnm_c[8] = {-0.28768189834462001, 0.33333320763995289, -0.05556118185086234,
                            0.012347670491180907, -0.003058511338167591, 0.0008144378662109375,
                            -0.00027179718017578125, 7.82012939453125e-5};

/* V += sum_(j=1..7) c_j u^j at scale LN_S (V holds the constant term), U
 * holding u at scale us >= 1 (overwritten).  Powers at scale LN_P = 20:
 * u^2 | u^3, u^4 | u^5..u^7 untruncated (scale 40).  Rounds: 5 when
 * us <= LN_P or 2 us <= 61 (u^2 is then formed from u at scale us and
 * truncated in the same round as u), else 6. */
int fn_ln_poly(spin_ctx_t *ctx, uint64_t *U, size_t n, int us, uint64_t *V)
{
    const int P = LN_P;
    uint64_t *pw[8] = {0}, *tmp = NULL;
    int rc = 0;
    pw[1] = U;
    for (int j = 2; j <= 7 && !rc; j++) rc = fn_words_alloc(ctx, n, &pw[j]);
    if (!rc) rc = fn_words_alloc(ctx, n, &tmp);
    if (rc) goto done;
    if (us > P && 2 * us <= 61) {
        prod_t p = {U, NULL, pw[2], n};
        rc = fn_beaver_batch(ctx, &p, 1);
        trn_t t[2] = {{U, n, (unsigned)(us - P)}, {pw[2], n, (unsigned)(2 * us - P)}};
        if (!rc) rc = fn_trunc_batch(ctx, t, 2);
    } else {
        if (us > P) {
            trn_t t = {U, n, (unsigned)(us - P)};
            rc = fn_trunc_batch(ctx, &t, 1);
        } else if (us < P) {
            rc = fn_words_scalar(ctx, SPIN_RING_SHL_S, U, U, (uint64_t)(P - us), n);
        }
        prod_t p = {U, NULL, pw[2], n};
        unsigned d = (unsigned)P;
        if (!rc) rc = fn_level(ctx, &p, &d, 1);
    }
    if (!rc) {
        prod_t p[2] = {{pw[1], pw[2], pw[3], n}, {pw[2], NULL, pw[4], n}};
        unsigned d[2] = {(unsigned)P, (unsigned)P};
        rc = fn_level(ctx, p, d, 2);
    }
    if (!rc) {
        prod_t p[3] = {{pw[1], pw[4], pw[5], n}, {pw[2], pw[4], pw[6], n}, {pw[3], pw[4], pw[7], n}};
        rc = fn_beaver_batch(ctx, p, 3);
    }
    for (int j = 1; j <= 7 && !rc; j++)
        rc = fn_words_axpy(ctx, V, fx(fn_lnm_c[j], LN_S - (j <= 4 ? P : 2 * P)), pw[j], n, tmp);
done:
    for (int j = 2; j <= 7; j++) FN_WORDS_FREE(pw[j]);
    FN_WORDS_FREE(tmp);
    return rc;
}

/* ln x for x = X / 2^f, X in [1, 2^(LN_NG LN_GW)) = [1, 2^48): the position
 * of the leading one in two stages of comparisons (coarse, then fine):
 *  1. X against 2^0, 2^8, ..., 2^40 (6 comparisons, with b X): group j = 0
 *     (X < 1) .. 6; Xc = X 2^(8 (6 - j)) in [2^40, 2^48) (exact, linear in
 *     b X; j = 0: Xc = 2^40, i.e. as X = 1);
 *  2. Xc against 2^41, ..., 2^48 (8 comparisons, with b Xc): i = 0..8,
 *     Xc in [2^(40+i), 2^(41+i)), i = 8: X >= 2^48 (saturation).
 * The position is st = 8 (j - 1) + i + 1 (X in [2^(st-1), 2^st)), m =
 * Xc / 2^(41+i) in [0.5, 1), ln x = (st - f) ln 2 + ln m: u = 4m - 3 is
 * linear in stage 2 (scale 46), (st - f) ln 2 is the sum of a linear
 * function of each stage (its rounding to scale f is added after the
 * final truncation, the remainder below 2^-(f+1) joins the polynomial at
 * scale 60).  Then fn_ln_poly (6 rounds: u is truncated to 2^-20 first)
 * and one truncation: 7 + 7 + 6 + 1 = 21 rounds, 14 comparisons.
 * Outside: X < 1 (x <= 0 included): ln 2^-f; X >= 2^48: (48 - f) ln 2. */
#define LN_GW 8
#define LN_NG 6

static int w_ln(spin_ctx_t *ctx, const uint64_t *X, size_t n, uint64_t *out, const void *arg)
{
    (void)arg;
    const int f = (int)ctx->frac_bits, g = LN_GW, ng = LN_NG, T = (ng - 1) * g, G = T + g - 2;
    const double ln2 = 0.69314718055994531;
    uint64_t *b1 = NULL, *b1x = NULL, *b2 = NULL, *b2x = NULL, *Xc = NULL, *U = NULL, *V = NULL, *C = NULL,
             *W = NULL, *tmp = NULL;
    uint64_t A[3][LN_GW + 1], B[2][LN_GW + 1], Z0[LN_GW + 1];
    int rc = fn_words_alloc(ctx, (size_t)ng * n, &b1);
    if (!rc) rc = fn_words_alloc(ctx, (size_t)ng * n, &b1x);
    if (!rc) rc = fn_words_alloc(ctx, (size_t)g * n, &b2);
    if (!rc) rc = fn_words_alloc(ctx, (size_t)g * n, &b2x);
    uint64_t **bufs[] = {&Xc, &U, &V, &C, &W, &tmp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0] && !rc; i++) rc = fn_words_alloc(ctx, n, bufs[i]);
    if (rc) goto done;
    memset(Z0, 0, sizeof Z0);
    /* stage 1: groups j = 0..ng */
    rc = fn_lead_bits_s(ctx, X, n, 0, g, ng, 1, b1, b1x);
    for (int j = 0; j <= ng; j++) {
        double e = j ? (double)((j - 1) * g) * ln2 : 0.0;
        uint64_t ci = fx(e, f);
        A[0][j] = j ? 0 : R1 << T;                           /* Xc */
        B[0][j] = j ? R1 << ((ng - j) * g) : 0;
        A[1][j] = ci;                                        /* exponent part, scale f */
        A[2][j] = fx(e - ldexp((double)(int64_t)ci, -f) + fn_lnm_c[0], LN_S);   /* remainder + c0 */
    }
    if (!rc) rc = fn_poslin(ctx, X, n, b1, b1x, ng, 1, A[0], B[0], Xc, tmp);
    if (!rc) rc = fn_poslin(ctx, X, n, b1, b1x, ng, 1, A[1], Z0, C, tmp);
    if (!rc) rc = fn_poslin(ctx, X, n, b1, b1x, ng, 1, A[2], Z0, V, tmp);
    /* stage 2: i = 0..g */
    if (!rc) rc = fn_lead_bits(ctx, Xc, n, T + 1, g, 1, b2, b2x);
    for (int i = 0; i <= g; i++) {
        double e = (double)((i < g ? i + 1 : g) - f) * ln2;
        uint64_t ci = fx(e, f);
        A[0][i] = i < g ? (uint64_t)0 - ((uint64_t)3 << G) : R1 << G;   /* u at scale G */
        B[0][i] = i < g ? R1 << (G + 1 - T - i) : 0;
        A[1][i] = ci;
        A[2][i] = fx(e - ldexp((double)(int64_t)ci, -f), LN_S);
    }
    if (!rc) rc = fn_poslin(ctx, Xc, n, b2, b2x, g, 1, A[0], B[0], U, tmp);
    if (!rc) rc = fn_poslin(ctx, Xc, n, b2, b2x, g, 1, A[1], Z0, W, tmp);
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_ADD, C, C, W, n);
    if (!rc) rc = fn_poslin(ctx, Xc, n, b2, b2x, g, 1, A[2], Z0, W, tmp);
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_ADD, V, V, W, n);
    if (!rc) rc = fn_ln_poly(ctx, U, n, G, V);
    if (!rc) {
        trn_t t = {V, n, (unsigned)(LN_S - f)};
        rc = fn_trunc_batch(ctx, &t, 1);
    }
    if (!rc) rc = fn_words_binary(ctx, SPIN_RING_ADD, out, V, C, n);
done:
    FN_WORDS_FREE(b1);
    FN_WORDS_FREE(b1x);
    FN_WORDS_FREE(b2);
    FN_WORDS_FREE(b2x);
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) FN_WORDS_FREE(*bufs[i]);
    return rc;
}

int spin_ln(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    if (ctx && !ctx->dealer && ctx->frac_bits > 24) {
        MPC_ERR(ctx, "ln: needs f <= 24 (f = %u)", ctx->frac_bits);
        return SPIN_ERR_INVAL;
    }
    return fn_unary(ctx, a, out, "ln", w_ln, NULL);
}
