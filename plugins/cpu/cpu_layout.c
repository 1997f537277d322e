/*
 * cpu_layout.c - im2col, col2im and sum_axis (see spin_conv_geom_t).
 *
 *   x:   [n][c][h][w]
 *   col: [n][c*kh*kw][oh*ow], row (ci*kh + i)*kw + j, column oy*ow + ox,
 *        value x[b][ci][oy*sh - ph + i*dh][ox*sw - pw + j*dw] (0 outside).
 *
 * Work is split over (image, channel) pairs: in col2im every pair owns its
 * own x plane, so threads never add into the same element.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "cpu_internal.h"

/* Validate g and compute the element counts of x and col. */
static int geom_check(const cpu_state_t *st, const char *what,
                      const spin_conv_geom_t *g, size_t *xcount,
                      size_t *colcount)
{
    if (!g) return cpu_inval(st, "%s: geometry is NULL", what);
    if (g->kh == 0 || g->kw == 0)
        return cpu_inval(st, "%s: kernel %zux%zu is empty", what, g->kh, g->kw);
    if (g->sh == 0 || g->sw == 0)
        return cpu_inval(st, "%s: stride %zux%zu must be >= 1", what, g->sh, g->sw);
    if (g->dh == 0 || g->dw == 0)
        return cpu_inval(st, "%s: dilation %zux%zu must be >= 1", what, g->dh,
                         g->dw);
    size_t hp, wp, ekh, ekw;
    if (!cpu_mul_ok(g->ph, 2, &hp) || __builtin_add_overflow(hp, g->h, &hp) ||
        !cpu_mul_ok(g->pw, 2, &wp) || __builtin_add_overflow(wp, g->w, &wp) ||
        !cpu_mul_ok(g->dh, g->kh - 1, &ekh) || ekh == SIZE_MAX ||
        !cpu_mul_ok(g->dw, g->kw - 1, &ekw) || ekw == SIZE_MAX)
        return cpu_inval(st, "%s: geometry overflows", what);
    ekh += 1; /* effective (dilated) kernel extent */
    ekw += 1;
    if (ekh > hp || ekw > wp)
        return cpu_inval(st, "%s: dilated kernel %zux%zu exceeds padded input "
                         "%zux%zu", what, ekh, ekw, hp, wp);
    const size_t oh = (hp - ekh) / g->sh + 1, ow = (wp - ekw) / g->sw + 1;
    if (g->oh != oh || g->ow != ow)
        return cpu_inval(st, "%s: output %zux%zu disagrees with the geometry "
                         "(expected %zux%zu)", what, g->oh, g->ow, oh, ow);
    size_t nc, x, rows, col;
    if (!cpu_mul_ok(g->n, g->c, &nc) || !cpu_mul_ok(nc, g->h, &x) ||
        !cpu_mul_ok(x, g->w, &x) || !cpu_mul_ok(x, 8, &(size_t){0}) ||
        !cpu_mul_ok(nc, g->kh, &rows) || !cpu_mul_ok(rows, g->kw, &rows) ||
        !cpu_mul_ok(rows, oh, &col) || !cpu_mul_ok(col, ow, &col) ||
        !cpu_mul_ok(col, 8, &(size_t){0}))
        return cpu_inval(st, "%s: sizes overflow the address space", what);
    *xcount = x;
    *colcount = col;
    return SPIN_OK;
}

/* Output positions ox in [lo, hi) for which ox*s - p + off is inside
 * [0, len): ox*s >= p - off and ox*s < len + p - off. */
static void valid_range(size_t len, size_t s, size_t p, size_t off, size_t out,
                        size_t *lo, size_t *hi)
{
    /* ox*s + off >= p  <=>  ox >= ceil((p - off) / s) */
    size_t l = 0;
    if (p > off) l = (p - off + s - 1) / s;
    /* ox*s + off < len + p  <=>  ox < ceil((len + p - off) / s) */
    size_t h = 0;
    if (len + p > off) h = (len + p - off + s - 1) / s;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

int cpu_im2col(void *state, const spin_conv_geom_t *g, void *colv,
               const void *xv, spin_stream_t *s)
{
    (void)s;
    cpu_state_t *st = state;
    size_t xn = 0, cn = 0;
    int rc = geom_check(st, "im2col", g, &xn, &cn);
    if (rc) return rc;
    if (cn == 0) return SPIN_OK;
    if (!colv || (xn > 0 && !xv))
        return cpu_inval(st, "im2col: NULL %s", !colv ? "col" : "x");
    const uint64_t *x = xv;
    uint64_t *col = colv;
    const size_t planes = g->n * g->c, hw = g->h * g->w, ohw = g->oh * g->ow;
    const size_t kk = g->kh * g->kw;
    #pragma omp parallel for schedule(static) if(cn >= CPU_PAR_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        const uint64_t *xp = x + pl * hw;
        uint64_t *cp = col + pl * kk * ohw;
        for (size_t i = 0; i < g->kh; i++) {
            size_t ylo, yhi;
            valid_range(g->h, g->sh, g->ph, i * g->dh, g->oh, &ylo, &yhi);
            for (size_t jj = 0; jj < g->kw; jj++) {
                size_t xlo, xhi;
                valid_range(g->w, g->sw, g->pw, jj * g->dw, g->ow, &xlo, &xhi);
                uint64_t *row = cp + (i * g->kw + jj) * ohw;
                for (size_t oy = 0; oy < g->oh; oy++) {
                    uint64_t *r = row + oy * g->ow;
                    if (oy < ylo || oy >= yhi) {
                        memset(r, 0, g->ow * 8);
                        continue;
                    }
                    const size_t iy = oy * g->sh + i * g->dh - g->ph;
                    const uint64_t *xr = xp + iy * g->w;
                    for (size_t ox = 0; ox < xlo; ox++) r[ox] = 0;
                    const size_t base = jj * g->dw - g->pw; /* mod 2^N */
                    if (g->sw == 1) {
                        for (size_t ox = xlo; ox < xhi; ox++) r[ox] = xr[ox + base];
                    } else {
                        for (size_t ox = xlo; ox < xhi; ox++)
                            r[ox] = xr[ox * g->sw + base];
                    }
                    for (size_t ox = xhi; ox < g->ow; ox++) r[ox] = 0;
                }
            }
        }
    }
    return SPIN_OK;
}

#define COL2IM_BODY(T)                                                        \
    do {                                                                      \
        const T *col = colv;                                                  \
        T *x = xv;                                                            \
        _Pragma("omp parallel for schedule(static) if(cn >= CPU_PAR_MIN)")    \
        for (size_t pl = 0; pl < planes; pl++) {                              \
            T *xp = x + pl * hw;                                              \
            const T *cp = col + pl * kk * ohw;                                \
            memset(xp, 0, hw * sizeof(T));                                    \
            for (size_t i = 0; i < g->kh; i++) {                              \
                size_t ylo, yhi;                                              \
                valid_range(g->h, g->sh, g->ph, i * g->dh, g->oh, &ylo, &yhi);\
                for (size_t jj = 0; jj < g->kw; jj++) {                       \
                    size_t xlo, xhi;                                          \
                    valid_range(g->w, g->sw, g->pw, jj * g->dw, g->ow, &xlo,  \
                                &xhi);                                        \
                    const T *row = cp + (i * g->kw + jj) * ohw;               \
                    const size_t base = jj * g->dw - g->pw;                   \
                    for (size_t oy = ylo; oy < yhi; oy++) {                   \
                        const T *r = row + oy * g->ow;                        \
                        T *xr = xp + (oy * g->sh + i * g->dh - g->ph) * g->w; \
                        for (size_t ox = xlo; ox < xhi; ox++)                 \
                            xr[ox * g->sw + base] += r[ox];                   \
                    }                                                         \
                }                                                             \
            }                                                                 \
        }                                                                     \
    } while (0)

int cpu_col2im(void *state, spin_dtype_t dt, const spin_conv_geom_t *g,
               void *xv, const void *colv, spin_stream_t *s)
{
    (void)s;
    cpu_state_t *st = state;
    if (dt != SPIN_DT_U64 && dt != SPIN_DT_F64)
        return cpu_inval(st, "col2im: unknown dtype %d", (int)dt);
    size_t xn = 0, cn = 0;
    int rc = geom_check(st, "col2im", g, &xn, &cn);
    if (rc) return rc;
    if (xn == 0) return SPIN_OK;
    if (!xv || (cn > 0 && !colv))
        return cpu_inval(st, "col2im: NULL %s", !xv ? "x" : "col");
    const size_t planes = g->n * g->c, hw = g->h * g->w, ohw = g->oh * g->ow;
    const size_t kk = g->kh * g->kw;
    if (dt == SPIN_DT_U64) COL2IM_BODY(uint64_t);
    else COL2IM_BODY(double);
    return SPIN_OK;
}

#define SUM_AXIS_BODY(T)                                                      \
    do {                                                                      \
        const T *x = xv;                                                      \
        T *y = yv;                                                            \
        if (inner == 1) {                                                     \
            _Pragma("omp parallel for schedule(static) if(total >= CPU_PAR_MIN)") \
            for (size_t o = 0; o < outer; o++) {                              \
                const T *xo = x + o * len;                                    \
                T acc = 0;                                                    \
                for (size_t l = 0; l < len; l++) acc += xo[l];                \
                y[o] = accumulate ? y[o] + acc : acc;                         \
            }                                                                 \
        } else {                                                              \
            _Pragma("omp parallel for schedule(static) if(total >= CPU_PAR_MIN)") \
            for (size_t o = 0; o < outer; o++) {                              \
                const T *xo = x + o * len * inner;                            \
                T *yo = y + o * inner;                                        \
                if (!accumulate) memset(yo, 0, inner * sizeof(T));            \
                for (size_t l = 0; l < len; l++) {                            \
                    const T *xl = xo + l * inner;                             \
                    _Pragma("omp simd")                                       \
                    for (size_t i = 0; i < inner; i++) yo[i] += xl[i];        \
                }                                                             \
            }                                                                 \
        }                                                                     \
    } while (0)

int cpu_sum_axis(void *state, spin_dtype_t dt, void *yv, const void *xv,
                 size_t outer, size_t len, size_t inner, int accumulate,
                 spin_stream_t *s)
{
    (void)s;
    cpu_state_t *st = state;
    if (dt != SPIN_DT_U64 && dt != SPIN_DT_F64)
        return cpu_inval(st, "sum_axis: unknown dtype %d", (int)dt);
    size_t ny, total;
    if (!cpu_mul_ok(outer, inner, &ny) || !cpu_mul_ok(ny, len, &total) ||
        !cpu_mul_ok(total, 8, &(size_t){0}))
        return cpu_inval(st, "sum_axis: sizes overflow the address space");
    if (ny == 0) return SPIN_OK;
    if (!yv || (total > 0 && !xv))
        return cpu_inval(st, "sum_axis: NULL %s (outer=%zu len=%zu inner=%zu)",
                         !yv ? "y" : "x", outer, len, inner);
    if (dt == SPIN_DT_U64) SUM_AXIS_BODY(uint64_t);
    else SUM_AXIS_BODY(double);
    return SPIN_OK;
}
