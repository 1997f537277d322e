/*
 * cuda_layout.c - host side of im2col, col2im and sum_axis (see
 * spin_conv_geom_t): the geometry and the sizes are checked here, with the
 * cpu plugin's rules; the kernels are in cuda_k_layout.cu.
 *
 *   im2col: one thread per col element (cm_im2col_src).
 *   col2im: one thread per x element gathering every col element that came
 *           from it (CM_COL2IM_GATHER): no atomics, deterministic, and float
 *           sums in the cpu plugin's order.
 *   sum_axis: one thread per output, or one block per output when the
 *           reduced axis is long and the outputs are few.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cuda_internal.h"

/* Validate g and compute the element counts of x and col. */
static int geom_check(const cuda_state_t *st, const char *what,
                      const spin_conv_geom_t *g, size_t *xcount,
                      size_t *colcount)
{
    if (!g) return cuda_inval(st, "%s: geometry is NULL", what);
    if (g->kh == 0 || g->kw == 0)
        return cuda_inval(st, "%s: kernel %zux%zu is empty", what, g->kh, g->kw);
    if (g->sh == 0 || g->sw == 0)
        return cuda_inval(st, "%s: stride %zux%zu must be >= 1", what, g->sh, g->sw);
    if (g->dh == 0 || g->dw == 0)
        return cuda_inval(st, "%s: dilation %zux%zu must be >= 1", what, g->dh,
                          g->dw);
    size_t hp, wp, ekh, ekw;
    if (!cuda_mul_ok(g->ph, 2, &hp) || __builtin_add_overflow(hp, g->h, &hp) ||
        !cuda_mul_ok(g->pw, 2, &wp) || __builtin_add_overflow(wp, g->w, &wp) ||
        !cuda_mul_ok(g->dh, g->kh - 1, &ekh) || ekh == SIZE_MAX ||
        !cuda_mul_ok(g->dw, g->kw - 1, &ekw) || ekw == SIZE_MAX ||
        hp > INT64_MAX / 2 || wp > INT64_MAX / 2)
        return cuda_inval(st, "%s: geometry overflows", what);
    ekh += 1; /* effective (dilated) kernel extent */
    ekw += 1;
    if (ekh > hp || ekw > wp)
        return cuda_inval(st, "%s: dilated kernel %zux%zu exceeds padded input "
                          "%zux%zu", what, ekh, ekw, hp, wp);
    const size_t oh = (hp - ekh) / g->sh + 1, ow = (wp - ekw) / g->sw + 1;
    if (g->oh != oh || g->ow != ow)
        return cuda_inval(st, "%s: output %zux%zu disagrees with the geometry "
                          "(expected %zux%zu)", what, g->oh, g->ow, oh, ow);
    size_t nc, x, rows, col, t;
    if (!cuda_mul_ok(g->n, g->c, &nc) || !cuda_mul_ok(nc, g->h, &x) ||
        !cuda_mul_ok(x, g->w, &x) || !cuda_mul_ok(x, 8, &t) ||
        !cuda_mul_ok(nc, g->kh, &rows) || !cuda_mul_ok(rows, g->kw, &rows) ||
        !cuda_mul_ok(rows, oh, &col) || !cuda_mul_ok(col, ow, &col) ||
        !cuda_mul_ok(col, 8, &t))
        return cuda_inval(st, "%s: sizes overflow the address space", what);
    *xcount = x;
    *colcount = col;
    return SPIN_OK;
}

static cm_geom_t to_cm(const spin_conv_geom_t *g)
{
    cm_geom_t c = {
        g->n, g->c, g->h, g->w, g->kh, g->kw, g->sh, g->sw,
        g->ph, g->pw, g->dh, g->dw, g->oh, g->ow
    };
    return c;
}

int cuda_im2col(void *state, const spin_conv_geom_t *g, void *col,
                const void *x, spin_stream_t *s)
{
    cuda_state_t *st = state;
    size_t xn = 0, cn = 0;
    int rc = geom_check(st, "im2col", g, &xn, &cn);
    if (rc) return rc;
    if (cn > 0 && (!col || (xn > 0 && !x)))
        return cuda_inval(st, "im2col: NULL %s", !col ? "col" : "x");
    cudaStream_t cs;
    rc = cuda_enter(st, "im2col", s, &cs);
    if (rc || cn == 0) return rc;
    const cm_geom_t cg = to_cm(g);
    return cuda_check(st, cuda_k_im2col(cs, &cg, col, x, cn), "im2col");
}

int cuda_col2im(void *state, spin_dtype_t dt, const spin_conv_geom_t *g,
                void *x, const void *col, spin_stream_t *s)
{
    cuda_state_t *st = state;
    if (dt != SPIN_DT_U64 && dt != SPIN_DT_F64)
        return cuda_inval(st, "col2im: unknown dtype %d", (int)dt);
    size_t xn = 0, cn = 0;
    int rc = geom_check(st, "col2im", g, &xn, &cn);
    if (rc) return rc;
    if (xn > 0 && (!x || (cn > 0 && !col)))
        return cuda_inval(st, "col2im: NULL %s", !x ? "x" : "col");
    cudaStream_t cs;
    rc = cuda_enter(st, "col2im", s, &cs);
    if (rc || xn == 0) return rc;
    const cm_geom_t cg = to_cm(g);
    return cuda_check(st, cuda_k_col2im(cs, dt == SPIN_DT_F64, &cg, x, col, xn),
                      "col2im");
}

int cuda_sum_axis(void *state, spin_dtype_t dt, void *y, const void *x,
                  size_t outer, size_t len, size_t inner, int accumulate,
                  spin_stream_t *s)
{
    cuda_state_t *st = state;
    if (dt != SPIN_DT_U64 && dt != SPIN_DT_F64)
        return cuda_inval(st, "sum_axis: unknown dtype %d", (int)dt);
    size_t ny, total, t;
    if (!cuda_mul_ok(outer, inner, &ny) || !cuda_mul_ok(ny, len, &total) ||
        !cuda_mul_ok(total, 8, &t))
        return cuda_inval(st, "sum_axis: sizes overflow the address space");
    if (ny > 0 && (!y || (total > 0 && !x)))
        return cuda_inval(st, "sum_axis: NULL %s (outer=%zu len=%zu inner=%zu)",
                          !y ? "y" : "x", outer, len, inner);
    cudaStream_t cs;
    int rc = cuda_enter(st, "sum_axis", s, &cs);
    if (rc || ny == 0) return rc;
    if (len == 0) {
        if (accumulate) return SPIN_OK;
        return cuda_check(st, cudaMemsetAsync(y, 0, ny * 8, cs), "sum_axis");
    }
    return cuda_check(st, cuda_k_sum_axis(cs, dt == SPIN_DT_F64, y, x, outer, len,
                                          inner, accumulate != 0),
                      "sum_axis");
}
