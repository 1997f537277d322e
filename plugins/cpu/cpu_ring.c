/*
 * cpu_ring.c - element-wise ring (Z_2^64) ops and fixed-point conversions.
 *
 * Loops are written so that the compiler vectorises them (#pragma omp simd)
 * and are split over OpenMP threads above CPU_PAR_MIN elements.  z may
 * alias x or y exactly: every loop reads element i before writing it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>

#include "cpu_internal.h"

/* One element-wise loop over the variables z and n of the caller:
 * z[i] = EXPR for i < n.  Blocks of CPU_EW_BLOCK elements are spread over
 * OpenMP threads when n is large; each block is a plain simd loop (the
 * combined "parallel for simd" defeats some compilers' vectorisers). */
#define CPU_EW_LOOP(EXPR)                                                     \
    do {                                                                      \
        _Pragma("omp parallel for schedule(static) if(n >= CPU_PAR_MIN)")    \
        for (size_t b_ = 0; b_ < n; b_ += CPU_EW_BLOCK) {                     \
            const size_t e_ = n - b_ < CPU_EW_BLOCK ? n : b_ + CPU_EW_BLOCK;  \
            _Pragma("omp simd")                                               \
            for (size_t i = b_; i < e_; i++) z[i] = (EXPR);                   \
        }                                                                     \
    } while (0)

int cpu_ring_binary(void *state, spin_ring_binop_t op, uint64_t *z,
                    const uint64_t *x, const uint64_t *y, size_t n,
                    spin_stream_t *s)
{
    (void)s;
    cpu_state_t *st = state;
    if (n > 0 && (!z || !x || !y))
        return cpu_inval(st, "ring_binary: NULL %s with n=%zu",
                         !z ? "z" : !x ? "x" : "y", n);
    switch (op) {
    case SPIN_RING_ADD: CPU_EW_LOOP(x[i] + y[i]); break;
    case SPIN_RING_SUB: CPU_EW_LOOP(x[i] - y[i]); break;
    case SPIN_RING_MUL: CPU_EW_LOOP(x[i] * y[i]); break;
    case SPIN_RING_AND: CPU_EW_LOOP(x[i] & y[i]); break;
    case SPIN_RING_XOR: CPU_EW_LOOP(x[i] ^ y[i]); break;
    case SPIN_RING_OR:  CPU_EW_LOOP(x[i] | y[i]); break;
    default: return cpu_inval(st, "ring_binary: unknown op %d", (int)op);
    }
    return SPIN_OK;
}

int cpu_ring_scalar(void *state, spin_ring_scalarop_t op, uint64_t *z,
                    const uint64_t *x, uint64_t c, size_t n, spin_stream_t *s)
{
    (void)s;
    cpu_state_t *st = state;
    if ((op == SPIN_RING_SHL_S || op == SPIN_RING_SHR_S ||
         op == SPIN_RING_SAR_S) && c > 63)
        return cpu_inval(st, "ring_scalar: shift by %llu (must be 0..63)",
                         (unsigned long long)c);
    if (n > 0 && (!z || !x))
        return cpu_inval(st, "ring_scalar: NULL %s with n=%zu", !z ? "z" : "x", n);
    const unsigned sh = (unsigned)(c & 63);
    switch (op) {
    case SPIN_RING_ADD_S:  CPU_EW_LOOP(x[i] + c); break;
    case SPIN_RING_SUB_S:  CPU_EW_LOOP(x[i] - c); break;
    case SPIN_RING_RSUB_S: CPU_EW_LOOP(c - x[i]); break;
    case SPIN_RING_MUL_S:  CPU_EW_LOOP(x[i] * c); break;
    case SPIN_RING_AND_S:  CPU_EW_LOOP(x[i] & c); break;
    case SPIN_RING_XOR_S:  CPU_EW_LOOP(x[i] ^ c); break;
    case SPIN_RING_OR_S:   CPU_EW_LOOP(x[i] | c); break;
    case SPIN_RING_SHL_S:  CPU_EW_LOOP(x[i] << sh); break;
    case SPIN_RING_SHR_S:  CPU_EW_LOOP(x[i] >> sh); break;
    /* Arithmetic shift of a negative int64 is implementation-defined in C;
     * GCC and Clang define it as sign-extending, which is what we want. */
    case SPIN_RING_SAR_S:
        CPU_EW_LOOP((uint64_t)((int64_t)x[i] >> sh));
        break;
    default: return cpu_inval(st, "ring_scalar: unknown op %d", (int)op);
    }
    return SPIN_OK;
}

int cpu_ring_unary(void *state, spin_ring_unop_t op, uint64_t *z,
                   const uint64_t *x, size_t n, spin_stream_t *s)
{
    (void)s;
    cpu_state_t *st = state;
    if (n > 0 && (!z || !x))
        return cpu_inval(st, "ring_unary: NULL %s with n=%zu", !z ? "z" : "x", n);
    switch (op) {
    case SPIN_RING_NEG: CPU_EW_LOOP((uint64_t)0 - x[i]); break;
    case SPIN_RING_NOT: CPU_EW_LOOP(~x[i]); break;
    case SPIN_RING_COPY:
        if (z != x) CPU_EW_LOOP(x[i]);
        break;
    default: return cpu_inval(st, "ring_unary: unknown op %d", (int)op);
    }
    return SPIN_OK;
}

/* ------------------------------------------------------------------------ */
/* Fixed point.                                                             */
/* ------------------------------------------------------------------------ */

/* round_half_away(v) for |v| < 2^63 (v already scaled). */
static inline int64_t cpu_round_away(double v)
{
    int64_t t = (int64_t)v;            /* truncation, exact for |v| < 2^63 */
    double frac = v - (double)t;       /* exact: t is v's integer part */
    if (frac >= 0.5) t++;
    else if (frac <= -0.5) t--;
    return t;
}

int cpu_ring_from_f64(void *state, uint64_t *z, const double *x, size_t n,
                      unsigned f, spin_stream_t *s)
{
    (void)s;
    cpu_state_t *st = state;
    if (f > 63)
        return cpu_inval(st, "ring_from_f64: f=%u fractional bits (must be 0..63)", f);
    if (n > 0 && (!z || !x))
        return cpu_inval(st, "ring_from_f64: NULL %s with n=%zu", !z ? "z" : "x", n);
    const double lim = ldexp(1.0, 63 - (int)f);
    const double scale = ldexp(1.0, (int)f);
    /* Check everything first: nothing is written on a range error. */
    size_t bad = n;
    #pragma omp parallel for schedule(static) reduction(min:bad) if(n >= CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        /* !(|x| < lim) is also true for NaN. */
        if (!(fabs(x[i]) < lim) && i < bad) bad = i;
    }
    if (bad < n)
        return cpu_fail(st, SPIN_ERR_RANGE,
                        "ring_from_f64: x[%zu]=%g is outside (-2^%d, 2^%d) for f=%u",
                        bad, x[bad], 63 - (int)f, 63 - (int)f, f);
    /* |x * 2^f| < 2^63: the product is exact (a power-of-two scaling) and the
     * rounded value fits int64. */
    #pragma omp parallel for schedule(static) if(n >= CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        z[i] = (uint64_t)cpu_round_away(x[i] * scale);
    return SPIN_OK;
}

int cpu_ring_to_f64(void *state, double *z, const uint64_t *x, size_t n,
                    unsigned f, spin_stream_t *s)
{
    (void)s;
    cpu_state_t *st = state;
    if (f > 63)
        return cpu_inval(st, "ring_to_f64: f=%u fractional bits (must be 0..63)", f);
    if (n > 0 && (!z || !x))
        return cpu_inval(st, "ring_to_f64: NULL %s with n=%zu", !z ? "z" : "x", n);
    const double inv = ldexp(1.0, -(int)f); /* exact: x * 2^-f == x / 2^f */
    #pragma omp parallel for schedule(static) if(n >= CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        z[i] = (double)(int64_t)x[i] * inv;
    return SPIN_OK;
}
