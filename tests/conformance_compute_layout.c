/* conformance_compute_layout.c - im2col/col2im (adjoint and reference) and
 * sum_axis in both dtypes. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "conformance_compute.h"

/* ------------------------------------------------------------------------ */
/* im2col / col2im / sum_axis.                                              */
/* ------------------------------------------------------------------------ */

static const spin_conv_geom_t GEOMS[] = {
    /* n c h w kh kw sh sw ph pw dh dw  (oh ow filled in below) */
    { 1, 1, 5, 5, 3, 3, 1, 1, 0, 0, 1, 1, 0, 0 },
    { 2, 3, 7, 6, 3, 2, 2, 1, 1, 0, 1, 2, 0, 0 },
    { 1, 2, 9, 8, 3, 3, 2, 3, 2, 1, 2, 1, 0, 0 },
    { 3, 1, 4, 4, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0 },
    { 2, 4, 6, 5, 5, 5, 1, 1, 2, 2, 1, 1, 0, 0 },
    { 1, 1, 3, 3, 2, 2, 3, 3, 1, 1, 1, 1, 0, 0 },
    { 4, 16, 28, 28, 5, 5, 1, 1, 0, 0, 1, 1, 0, 0 }, /* large: threads */
};

static spin_conv_geom_t geom(size_t i)
{
    spin_conv_geom_t g = GEOMS[i];
    g.oh = (g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
    g.ow = (g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
    return g;
}

/* Naive im2col, returns the x index (or -1 for padding) of a col element. */
static long col_src(const spin_conv_geom_t *g, size_t b, size_t ci, size_t i,
                    size_t j, size_t oy, size_t ox)
{
    long iy = (long)(oy * g->sh + i * g->dh) - (long)g->ph;
    long ix = (long)(ox * g->sw + j * g->dw) - (long)g->pw;
    if (iy < 0 || ix < 0 || iy >= (long)g->h || ix >= (long)g->w) return -1;
    return (long)(((b * g->c + ci) * g->h + (size_t)iy) * g->w + (size_t)ix);
}

START_TEST(test_im2col_col2im)
{
    spin_conv_geom_t g = geom((size_t)_i);
    const size_t xn = g.n * g.c * g.h * g.w;
    const size_t rows = g.c * g.kh * g.kw, ohw = g.oh * g.ow;
    const size_t cn = g.n * rows * ohw;
    uint64_t *hx = hrand(xn, 31 + (uint64_t)_i), *hc = hrand(cn, 41 + (uint64_t)_i);
    uint64_t *col = malloc(cn * 8), *xb = malloc(xn * 8);
    uint64_t *wantc = malloc(cn * 8), *wantx = calloc(xn, 8);
    for (size_t b = 0; b < g.n; b++)
        for (size_t ci = 0; ci < g.c; ci++)
            for (size_t i = 0; i < g.kh; i++)
                for (size_t j = 0; j < g.kw; j++)
                    for (size_t oy = 0; oy < g.oh; oy++)
                        for (size_t ox = 0; ox < g.ow; ox++) {
                            size_t r = (ci * g.kh + i) * g.kw + j;
                            size_t ce = (b * rows + r) * ohw + oy * g.ow + ox;
                            long src = col_src(&g, b, ci, i, j, oy, ox);
                            wantc[ce] = src < 0 ? 0 : hx[src];
                            if (src >= 0) wantx[src] += hc[ce];
                        }
    uint64_t *dx = up64(hx, xn), *dc = dalloc(cn * 8);
    OK(O->im2col(S, &g, dc, dx, NULL));
    get(col, dc, cn * 8);
    ew_check("im2col", _i, col, wantc, cn);
    /* col2im of a random col (x is overwritten, not accumulated). */
    put(dc, hc, cn * 8);
    OK(O->col2im(S, SPIN_DT_U64, &g, dx, dc, NULL));
    get(xb, dx, xn * 8);
    ew_check("col2im", _i, xb, wantx, xn);
    /* Adjoint: <im2col(x), c> == <x, col2im(c)> in the ring. */
    uint64_t lhs = 0, rhs = 0;
    for (size_t i = 0; i < cn; i++) lhs += col[i] * hc[i];
    for (size_t i = 0; i < xn; i++) rhs += hx[i] * xb[i];
    ck_assert_uint_eq(lhs, rhs);
    /* Float col2im on small integers (exact). */
    double *fc = malloc(cn * 8), *fx = malloc(xn * 8), *fwant = calloc(xn, 8);
    for (size_t i = 0; i < cn; i++) fc[i] = (double)(hc[i] % 17) - 8.0;
    for (size_t b = 0; b < g.n; b++)
        for (size_t ci = 0; ci < g.c; ci++)
            for (size_t i = 0; i < g.kh; i++)
                for (size_t j = 0; j < g.kw; j++)
                    for (size_t oy = 0; oy < g.oh; oy++)
                        for (size_t ox = 0; ox < g.ow; ox++) {
                            size_t r = (ci * g.kh + i) * g.kw + j;
                            size_t ce = (b * rows + r) * ohw + oy * g.ow + ox;
                            long src = col_src(&g, b, ci, i, j, oy, ox);
                            if (src >= 0) fwant[src] += fc[ce];
                        }
    double *dfc = upf(fc, cn), *dfx = dalloc(xn * 8);
    OK(O->col2im(S, SPIN_DT_F64, &g, dfx, dfc, NULL));
    get(fx, dfx, xn * 8);
    for (size_t i = 0; i < xn; i++) EXPECT(fx[i] == fwant[i], "col2im f64 %zu", i);
    /* Geometry whose oh/ow disagree with the formula is rejected. */
    spin_conv_geom_t bad = g;
    bad.oh += 1;
    EXPECT_ERR(SPIN_ERR_INVAL, O->im2col(S, &bad, dc, dx, NULL));
    bad = g;
    bad.ow -= 1;
    EXPECT_ERR(SPIN_ERR_INVAL, O->col2im(S, SPIN_DT_U64, &bad, dx, dc, NULL));
    bad = g;
    bad.sh = 0;
    EXPECT_ERR(SPIN_ERR_INVAL, O->im2col(S, &bad, dc, dx, NULL));
    dfree(dx); dfree(dc); dfree(dfc); dfree(dfx);
    free(hx); free(hc); free(col); free(xb); free(wantc); free(wantx);
    free(fc); free(fx); free(fwant);
}
END_TEST

START_TEST(test_sum_axis)
{
    /* (outer, len, inner): reduce the first, middle and last axis. */
    const size_t shapes[][3] = {
        { 1, 37, 13 }, { 5, 9, 7 }, { 11, 33, 1 }, { 1, 1, 1 }, { 3, 0, 4 },
        { 2, 1000, 100 }, { 300, 300, 1 }, { 1, 5, 70000 },
    };
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const size_t outer = shapes[si][0], len = shapes[si][1], inner = shapes[si][2];
        const size_t xn = outer * len * inner, yn = outer * inner;
        uint64_t *hx = hrand(xn, 51 + si), *hy0 = hrand(yn, 61 + si);
        uint64_t *want = malloc(yn * 8), *got = malloc(yn * 8);
        uint64_t *dx = up64(hx, xn), *dy = dalloc(yn * 8);
        double *fx = malloc((xn ? xn : 1) * 8), *fy0 = malloc(yn * 8);
        double *fwant = malloc(yn * 8), *fgot = malloc(yn * 8);
        for (size_t i = 0; i < xn; i++) fx[i] = (double)(hx[i] % 1001) - 500.0;
        for (size_t i = 0; i < yn; i++) fy0[i] = (double)(hy0[i] % 101);
        double *dfx = upf(fx, xn), *dfy = dalloc(yn * 8);
        for (int acc = 0; acc < 2; acc++) {
            for (size_t o = 0; o < outer; o++)
                for (size_t i = 0; i < inner; i++) {
                    uint64_t s = acc ? hy0[o * inner + i] : 0;
                    double fs = acc ? fy0[o * inner + i] : 0.0;
                    for (size_t l = 0; l < len; l++) {
                        s += hx[(o * len + l) * inner + i];
                        fs += fx[(o * len + l) * inner + i];
                    }
                    want[o * inner + i] = s;
                    fwant[o * inner + i] = fs;
                }
            put(dy, hy0, yn * 8);
            OK(O->sum_axis(S, SPIN_DT_U64, dy, dx, outer, len, inner, acc, NULL));
            get(got, dy, yn * 8);
            ew_check("sum_axis", (int)si, got, want, yn);
            put(dfy, fy0, yn * 8);
            OK(O->sum_axis(S, SPIN_DT_F64, dfy, dfx, outer, len, inner, acc, NULL));
            get(fgot, dfy, yn * 8);
            for (size_t i = 0; i < yn; i++)
                EXPECT(fgot[i] == fwant[i], "sum_axis f64 shape %zu acc %d at %zu",
                              si, acc, i);
        }
        dfree(dx); dfree(dy); dfree(dfx); dfree(dfy);
        free(hx); free(hy0); free(want); free(got);
        free(fx); free(fy0); free(fwant); free(fgot);
    }
    uint64_t *d = dalloc(64);
    EXPECT_ERR(SPIN_ERR_INVAL, O->sum_axis(S, (spin_dtype_t)9, d, d, 1, 1, 1, 0, NULL));
    EXPECT_ERR(SPIN_ERR_INVAL, O->sum_axis(S, SPIN_DT_U64, NULL, d, 1, 1, 1, 0, NULL));
    dfree(d);
}
END_TEST


TCase *cc_tcase_layout(void)
{
    TCase *t = tcase_create("layout");
    tcase_add_loop_test(t, test_im2col_col2im, 0, (int)(sizeof GEOMS / sizeof GEOMS[0]));
    tcase_add_test(t, test_sum_axis);
    tcase_set_timeout(t, 300);
    return t;
}
