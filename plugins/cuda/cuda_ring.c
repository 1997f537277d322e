/*
 * cuda_ring.c - host side of the element-wise ops: ring ops, fixed-point
 * conversions, float64 ops and the AES-CTR PRG.  Arguments are checked here
 * (with the same rules and messages as the cpu plugin); the arithmetic is in
 * cuda_math.h and runs in the kernels of cuda_k_ew.cu / cuda_k_prg.cu.
 *
 * Every op is asynchronous on its stream, except ring_from_f64: its range
 * error must be returned by the call with nothing written, so it checks the
 * input on the device, waits for that check (one stream synchronisation),
 * and only then queues the conversion.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>

#include "cuda_internal.h"

int cuda_ring_binary(void *state, spin_ring_binop_t op, uint64_t *z,
                     const uint64_t *x, const uint64_t *y, size_t n,
                     spin_stream_t *s)
{
    cuda_state_t *st = state;
    if (!cm_ring_binop_valid((int)op))
        return cuda_inval(st, "ring_binary: unknown op %d", (int)op);
    if (n > 0 && (!z || !x || !y))
        return cuda_inval(st, "ring_binary: NULL %s with n=%zu",
                          !z ? "z" : !x ? "x" : "y", n);
    cudaStream_t cs;
    int rc = cuda_enter(st, "ring_binary", s, &cs);
    if (rc || n == 0) return rc;
    return cuda_check(st, cuda_k_ring_binary(cs, (int)op, z, x, y, n), "ring_binary");
}

int cuda_ring_scalar(void *state, spin_ring_scalarop_t op, uint64_t *z,
                     const uint64_t *x, uint64_t c, size_t n, spin_stream_t *s)
{
    cuda_state_t *st = state;
    if (!cm_ring_scalarop_valid((int)op))
        return cuda_inval(st, "ring_scalar: unknown op %d", (int)op);
    if ((op == SPIN_RING_SHL_S || op == SPIN_RING_SHR_S || op == SPIN_RING_SAR_S) &&
        c > 63)
        return cuda_inval(st, "ring_scalar: shift by %llu (must be 0..63)",
                          (unsigned long long)c);
    if (n > 0 && (!z || !x))
        return cuda_inval(st, "ring_scalar: NULL %s with n=%zu", !z ? "z" : "x", n);
    cudaStream_t cs;
    int rc = cuda_enter(st, "ring_scalar", s, &cs);
    if (rc || n == 0) return rc;
    return cuda_check(st, cuda_k_ring_scalar(cs, (int)op, z, x, c, n), "ring_scalar");
}

int cuda_ring_unary(void *state, spin_ring_unop_t op, uint64_t *z,
                    const uint64_t *x, size_t n, spin_stream_t *s)
{
    cuda_state_t *st = state;
    if (!cm_ring_unop_valid((int)op))
        return cuda_inval(st, "ring_unary: unknown op %d", (int)op);
    if (n > 0 && (!z || !x))
        return cuda_inval(st, "ring_unary: NULL %s with n=%zu", !z ? "z" : "x", n);
    cudaStream_t cs;
    int rc = cuda_enter(st, "ring_unary", s, &cs);
    if (rc || n == 0) return rc;
    if (op == SPIN_RING_COPY)
        return z == x ? SPIN_OK
                      : cuda_check(st, cudaMemcpyAsync(z, x, n * 8,
                                                       cudaMemcpyDeviceToDevice, cs),
                                   "ring_unary");
    return cuda_check(st, cuda_k_ring_unary(cs, (int)op, z, x, n), "ring_unary");
}

/* ------------------------------------------------------------------------ */
/* Fixed point.                                                             */
/* ------------------------------------------------------------------------ */

int cuda_ring_from_f64(void *state, uint64_t *z, const double *x, size_t n,
                       unsigned f, spin_stream_t *s)
{
    cuda_state_t *st = state;
    if (f > 63)
        return cuda_inval(st, "ring_from_f64: f=%u fractional bits (must be 0..63)", f);
    if (n > 0 && (!z || !x))
        return cuda_inval(st, "ring_from_f64: NULL %s with n=%zu", !z ? "z" : "x", n);
    cudaStream_t cs;
    int rc = cuda_enter(st, "ring_from_f64", s, &cs);
    if (rc || n == 0) return rc;
    const double lim = ldexp(1.0, 63 - (int)f);
    const double scale = ldexp(1.0, (int)f);
    /* Check everything first: nothing is written on a range error. */
    unsigned long long bad = 0;
    rc = cuda_check(st, cudaMemsetAsync(st->flag, 0xff, sizeof *st->flag, cs),
                    "ring_from_f64");
    if (!rc) rc = cuda_check(st, cuda_k_fix_check(cs, x, n, lim, st->flag),
                             "ring_from_f64: range check");
    if (!rc) rc = cuda_check(st, cudaMemcpyAsync(&bad, st->flag, sizeof bad,
                                                 cudaMemcpyDeviceToHost, cs),
                             "ring_from_f64");
    if (!rc) rc = cuda_check(st, cudaStreamSynchronize(cs), "ring_from_f64");
    if (rc) return rc;
    if (bad < n) {
        double v = NAN;
        if (cudaMemcpy(&v, x + bad, sizeof v, cudaMemcpyDeviceToHost) != cudaSuccess)
            (void)cudaGetLastError();
        return cuda_fail(st, SPIN_ERR_RANGE,
                         "ring_from_f64: x[%llu]=%g is outside (-2^%d, 2^%d) for f=%u",
                         bad, v, 63 - (int)f, 63 - (int)f, f);
    }
    return cuda_check(st, cuda_k_fix_from_f64(cs, z, x, n, scale), "ring_from_f64");
}

int cuda_ring_to_f64(void *state, double *z, const uint64_t *x, size_t n,
                     unsigned f, spin_stream_t *s)
{
    cuda_state_t *st = state;
    if (f > 63)
        return cuda_inval(st, "ring_to_f64: f=%u fractional bits (must be 0..63)", f);
    if (n > 0 && (!z || !x))
        return cuda_inval(st, "ring_to_f64: NULL %s with n=%zu", !z ? "z" : "x", n);
    cudaStream_t cs;
    int rc = cuda_enter(st, "ring_to_f64", s, &cs);
    if (rc || n == 0) return rc;
    return cuda_check(st, cuda_k_fix_to_f64(cs, z, x, n, ldexp(1.0, -(int)f)),
                      "ring_to_f64");
}

/* ------------------------------------------------------------------------ */
/* float64 reference ops.                                                   */
/* ------------------------------------------------------------------------ */

int cuda_f64_binary(void *state, spin_f64_binop_t op, double *z,
                    const double *x, const double *y, size_t n,
                    spin_stream_t *s)
{
    cuda_state_t *st = state;
    if (!cm_f64_binop_valid((int)op))
        return cuda_inval(st, "f64_binary: unknown op %d", (int)op);
    if (n > 0 && (!z || !x || !y))
        return cuda_inval(st, "f64_binary: NULL %s with n=%zu",
                          !z ? "z" : !x ? "x" : "y", n);
    cudaStream_t cs;
    int rc = cuda_enter(st, "f64_binary", s, &cs);
    if (rc || n == 0) return rc;
    return cuda_check(st, cuda_k_f64_binary(cs, (int)op, z, x, y, n), "f64_binary");
}

int cuda_f64_scalar(void *state, spin_f64_scalarop_t op, double *z,
                    const double *x, double c, size_t n, spin_stream_t *s)
{
    cuda_state_t *st = state;
    if (!cm_f64_scalarop_valid((int)op))
        return cuda_inval(st, "f64_scalar: unknown op %d", (int)op);
    if (n > 0 && (!z || !x))
        return cuda_inval(st, "f64_scalar: NULL %s with n=%zu", !z ? "z" : "x", n);
    cudaStream_t cs;
    int rc = cuda_enter(st, "f64_scalar", s, &cs);
    if (rc || n == 0) return rc;
    return cuda_check(st, cuda_k_f64_scalar(cs, (int)op, z, x, c, n), "f64_scalar");
}

int cuda_f64_unary(void *state, spin_f64_unop_t op, double *z,
                   const double *x, size_t n, spin_stream_t *s)
{
    cuda_state_t *st = state;
    if (!cm_f64_unop_valid((int)op))
        return cuda_inval(st, "f64_unary: unknown op %d", (int)op);
    if (n > 0 && (!z || !x))
        return cuda_inval(st, "f64_unary: NULL %s with n=%zu", !z ? "z" : "x", n);
    cudaStream_t cs;
    int rc = cuda_enter(st, "f64_unary", s, &cs);
    if (rc || n == 0) return rc;
    return cuda_check(st, cuda_k_f64_unary(cs, (int)op, z, x, n), "f64_unary");
}

/* ------------------------------------------------------------------------ */
/* AES-128-CTR PRG (layout in spin/plugin.h).                               */
/* ------------------------------------------------------------------------ */

int cuda_prg_fill(void *state, const spin_prg_key_t *key, uint64_t nonce,
                  uint64_t first_word, uint64_t *out, size_t n,
                  spin_stream_t *s)
{
    cuda_state_t *st = state;
    if (!key) return cuda_inval(st, "prg_fill: key is NULL");
    if (n > 0 && !out) return cuda_inval(st, "prg_fill: out is NULL with n=%zu", n);
    /* Words j < 2^64, i.e. block indices below 2^63. */
    if (n > 0 && (uint64_t)(n - 1) > UINT64_MAX - first_word)
        return cuda_fail(st, SPIN_ERR_RANGE,
                         "prg_fill: words [%llu, +%zu) run past word 2^64-1 "
                         "(block index 2^63)", (unsigned long long)first_word, n);
    cudaStream_t cs;
    int rc = cuda_enter(st, "prg_fill", s, &cs);
    if (rc || n == 0) return rc;
    return cuda_check(st, cuda_k_prg(cs, st->aes_t0, key->key, nonce, first_word,
                                     out, n),
                      "prg_fill");
}
