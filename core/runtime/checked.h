/* checked.h - overflow-checked size arithmetic for libspin's parsers of
 * sizes that come from outside (dealer requests: mpc/bilinear.c, dealer/).
 * Hidden; not installed.
 *
 * The saturating forms return UINT64_MAX when the exact result does not fit,
 * so a chain of them followed by one comparison with a cap refuses every
 * overflow (a product with a zero factor is exactly 0 and stays 0). */
#ifndef SPIN_RUNTIME_CHECKED_H
#define SPIN_RUNTIME_CHECKED_H

#include <stdint.h>

/* a * b, or UINT64_MAX if it does not fit in 64 bits. */
static inline uint64_t spin_sat_mul(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* a + b, or UINT64_MAX if it does not fit in 64 bits. */
static inline uint64_t spin_sat_add(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

#endif
