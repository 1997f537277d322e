/*
 * cpu_f64.c - float64 ops for the plaintext reference: OpenBLAS DGEMM (one
 * call per batch entry) and element-wise libm.
 *   sigmoid(x) = 1 / (1 + exp(-x)),  rsqrt(x) = 1 / sqrt(x),
 *   relu(x) = x > 0 ? x : 0,  max/min = fmax/fmin.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <string.h>

#include <cblas.h>

#include "cpu_internal.h"

/* Element-wise loop in blocks, as CPU_EW_LOOP in cpu_ring.c.  No "omp
 * simd" here: fmax/fmin/sqrt do not vectorise everywhere, and a simd
 * request the compiler cannot honour is a warning; the compiler still
 * vectorises what it can. */
#define F64_LOOP(EXPR)                                                        \
    do {                                                                      \
        _Pragma("omp parallel for schedule(static) if(n >= CPU_PAR_MIN)")    \
        for (size_t b_ = 0; b_ < n; b_ += CPU_EW_BLOCK) {                     \
            const size_t e_ = n - b_ < CPU_EW_BLOCK ? n : b_ + CPU_EW_BLOCK;  \
            for (size_t i = b_; i < e_; i++) z[i] = (EXPR);                   \
        }                                                                     \
    } while (0)

/* Non-vectorisable libm calls: plain parallel loop. */
#define F64_LOOP_LIBM(EXPR)                                                   \
    do {                                                                      \
        _Pragma("omp parallel for schedule(static) if(n >= CPU_PAR_MIN / 8)") \
        for (size_t i = 0; i < n; i++) z[i] = (EXPR);                         \
    } while (0)

int cpu_f64_gemm(void *state, const spin_gemm_t *g, spin_stream_t *s)
{
    (void)s;
    cpu_state_t *st = state;
    int rc = cpu_gemm_check(st, g, "f64_gemm");
    if (rc) return rc;
    if (g->m == 0 || g->n == 0) return SPIN_OK;
    const size_t big = sizeof(blasint) >= 8 ? SIZE_MAX : (size_t)INT32_MAX;
    if (g->m > big || g->n > big || g->k > big || g->lda > big ||
        g->ldb > big || g->ldc > big)
        return cpu_inval(st, "f64_gemm: a dimension exceeds the BLAS integer "
                         "range (m=%zu n=%zu k=%zu)", g->m, g->n, g->k);
    const double *a = g->a, *b = g->b;
    double *c = g->c;
    for (size_t bi = 0; bi < g->batch; bi++) {
        double *cb = c + bi * g->stride_c;
        if (g->k == 0) {
            if (!g->accumulate)
                for (size_t i = 0; i < g->m; i++)
                    memset(cb + i * g->ldc, 0, g->n * sizeof(double));
            continue;
        }
        cblas_dgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans,
                    g->trans_b ? CblasTrans : CblasNoTrans, (blasint)g->m,
                    (blasint)g->n, (blasint)g->k, 1.0, a + bi * g->stride_a,
                    (blasint)g->lda, b + bi * g->stride_b, (blasint)g->ldb,
                    g->accumulate ? 1.0 : 0.0, cb, (blasint)g->ldc);
    }
    return SPIN_OK;
}

int cpu_f64_binary(void *state, spin_f64_binop_t op, double *z,
                   const double *x, const double *y, size_t n,
                   spin_stream_t *s)
{
    (void)s;
    cpu_state_t *st = state;
    if (n > 0 && (!z || !x || !y))
        return cpu_inval(st, "f64_binary: NULL %s with n=%zu",
                         !z ? "z" : !x ? "x" : "y", n);
    switch (op) {
    case SPIN_F64_ADD: F64_LOOP(x[i] + y[i]); break;
    case SPIN_F64_SUB: F64_LOOP(x[i] - y[i]); break;
    case SPIN_F64_MUL: F64_LOOP(x[i] * y[i]); break;
    case SPIN_F64_DIV: F64_LOOP(x[i] / y[i]); break;
    case SPIN_F64_MAX: F64_LOOP(fmax(x[i], y[i])); break;
    case SPIN_F64_MIN: F64_LOOP(fmin(x[i], y[i])); break;
    default: return cpu_inval(st, "f64_binary: unknown op %d", (int)op);
    }
    return SPIN_OK;
}

int cpu_f64_scalar(void *state, spin_f64_scalarop_t op, double *z,
                   const double *x, double c, size_t n, spin_stream_t *s)
{
    (void)s;
    cpu_state_t *st = state;
    if (n > 0 && (!z || !x))
        return cpu_inval(st, "f64_scalar: NULL %s with n=%zu", !z ? "z" : "x", n);
    switch (op) {
    case SPIN_F64_ADD_S:  F64_LOOP(x[i] + c); break;
    case SPIN_F64_MUL_S:  F64_LOOP(x[i] * c); break;
    case SPIN_F64_MAX_S:  F64_LOOP(fmax(x[i], c)); break;
    case SPIN_F64_MIN_S:  F64_LOOP(fmin(x[i], c)); break;
    case SPIN_F64_RSUB_S: F64_LOOP(c - x[i]); break;
    case SPIN_F64_POW_S:  F64_LOOP_LIBM(pow(x[i], c)); break;
    default: return cpu_inval(st, "f64_scalar: unknown op %d", (int)op);
    }
    return SPIN_OK;
}

int cpu_f64_unary(void *state, spin_f64_unop_t op, double *z, const double *x,
                  size_t n, spin_stream_t *s)
{
    (void)s;
    cpu_state_t *st = state;
    if (n > 0 && (!z || !x))
        return cpu_inval(st, "f64_unary: NULL %s with n=%zu", !z ? "z" : "x", n);
    switch (op) {
    case SPIN_F64_NEG:     F64_LOOP(-x[i]); break;
    case SPIN_F64_EXP:     F64_LOOP_LIBM(exp(x[i])); break;
    case SPIN_F64_LOG:     F64_LOOP_LIBM(log(x[i])); break;
    case SPIN_F64_SQRT:    F64_LOOP(sqrt(x[i])); break;
    case SPIN_F64_RSQRT:   F64_LOOP(1.0 / sqrt(x[i])); break;
    case SPIN_F64_RECIP:   F64_LOOP(1.0 / x[i]); break;
    case SPIN_F64_TANH:    F64_LOOP_LIBM(tanh(x[i])); break;
    case SPIN_F64_SIGMOID: F64_LOOP_LIBM(1.0 / (1.0 + exp(-x[i]))); break;
    case SPIN_F64_ERF:     F64_LOOP_LIBM(erf(x[i])); break;
    case SPIN_F64_RELU:    F64_LOOP(x[i] > 0.0 ? x[i] : 0.0); break;
    case SPIN_F64_ABS:     F64_LOOP(fabs(x[i])); break;
    case SPIN_F64_COPY:
        if (z != x) F64_LOOP(x[i]);
        break;
    default: return cpu_inval(st, "f64_unary: unknown op %d", (int)op);
    }
    return SPIN_OK;
}
