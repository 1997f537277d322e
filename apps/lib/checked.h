/* checked.h - overflow-checked size arithmetic for libspinapp's parsers
 * and the apps that size buffers from file contents or options (sizes
 * from a file are never trusted: a product or sum that does not fit is an
 * error, not a wrapped value). */
#ifndef SPIN_APPS_CHECKED_H
#define SPIN_APPS_CHECKED_H

#include <stddef.h>

/* *out = a * b; 0, or -1 (and *out = 0) if it does not fit in a size_t. */
static inline int checked_mul(size_t a, size_t b, size_t *out)
{
    if (__builtin_mul_overflow(a, b, out)) {
        *out = 0;
        return -1;
    }
    return 0;
}

/* *out = a + b; 0, or -1 (and *out = 0) if it does not fit in a size_t. */
static inline int checked_add(size_t a, size_t b, size_t *out)
{
    if (__builtin_add_overflow(a, b, out)) {
        *out = 0;
        return -1;
    }
    return 0;
}

/* *out = a * b * c; 0, or -1 if it does not fit. */
static inline int checked_mul3(size_t a, size_t b, size_t c, size_t *out)
{
    return checked_mul(a, b, out) || checked_mul(*out, c, out) ? -1 : 0;
}

#endif
