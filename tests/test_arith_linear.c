/* test_arith_linear.c - input and reveal (to all, to one party), sums,
 * linear combinations and views, broadcast, in-place updates and copies:
 * the free, exact steps, with their costs (test_arith). */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/mpc.h>
#include "testutil.h"
#include "arith_suite.h"

/* ---- input, reveal, local ops ------------------------------------------- */

static int p_input_reveal(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    int n = spin_ctx_nparties(ctx);
    size_t shape[2] = {3, 5};
    double *x = gen(15, 11, 3.0);
    spin_tensor_t *t, *s;
    int owner = n - 1;
    spin_comm_stats_t s0;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_input_f64(ctx, owner, party == owner ? x : NULL, 2, shape, &t));
    CHECK_RC(cost_is(ctx, "input", &s0, 0, 0, 0));
    double out[15];
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_reveal_f64(ctx, t, -1, out));
    uint64_t all = (uint64_t)(n - 1) * 15 * 8;
    CHECK_RC(cost_is(ctx, "reveal to all", &s0, all, all, 1));
    for (int i = 0; i < 15; i++)
        if (out[i] != q(x[i])) FAILF("reveal[%d] = %.17g, want %.17g\n", i, out[i], q(x[i]));
    /* reveal to party 0 only: others' buffers untouched */
    double only[15];
    for (int i = 0; i < 15; i++) only[i] = -777.0;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_reveal_f64(ctx, t, 0, only));
    CHECK_RC(cost_is(ctx, "reveal to party 0", &s0, party == 0 ? 0 : 15 * 8, party == 0 ? all : 0, 1));
    for (int i = 0; i < 15; i++) {
        if (party == 0 && only[i] != q(x[i])) FAILF("reveal-to-0 wrong\n");
        if (party != 0 && only[i] != -777.0) FAILF("party %d received a value revealed to party 0\n", party);
    }
    /* my share alone is not the value (it is a uniformly random ring element) */
    /* sum along axes, add, sub, add_public, mul_int: exact */
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_sum(ctx, t, 1, &s));
    CHECK_RC(cost_is(ctx, "sum", &s0, 0, 0, 0));
    double rs[3];
    CHECK_RC(spin_reveal_f64(ctx, s, -1, rs));
    for (int r = 0; r < 3; r++) {
        double want = 0;
        for (int c = 0; c < 5; c++) want += q(x[r * 5 + c]);
        if (fabs(rs[r] - want) > 1e-9) FAILF("sum row %d: %g vs %g\n", r, rs[r], want);
    }
    spin_tensor_free(s);
    CHECK_RC(spin_sum(ctx, t, 0, &s));
    double cs[5];
    CHECK_RC(spin_reveal_f64(ctx, s, -1, cs));
    for (int c = 0; c < 5; c++) {
        double want = q(x[c]) + q(x[5 + c]) + q(x[10 + c]);
        if (fabs(cs[c] - want) > 1e-9) FAILF("sum col %d\n", c);
    }
    spin_tensor_free(s);
    spin_tensor_t *u, *v, *w;
    double pub[15];
    for (int i = 0; i < 15; i++) pub[i] = 0.25 * i;
    CHECK_RC(spin_add(ctx, t, t, &u));
    CHECK_RC(spin_add_public(ctx, u, pub, &v));
    CHECK_RC(spin_mul_int(ctx, v, -3, &w));
    spin_tensor_free(u);
    CHECK_RC(spin_sub(ctx, w, t, &u));
    CHECK_RC(spin_reveal_f64(ctx, u, -1, out));
    for (int i = 0; i < 15; i++) {
        double want = -3.0 * (2 * q(x[i]) + 0.25 * i) - q(x[i]);
        if (fabs(out[i] - want) > 1e-9) FAILF("linear combination [%d]: %g vs %g\n", i, out[i], want);
    }
    /* views: transpose then contiguous, slice */
    spin_tensor_t *tt, *tc, *sl;
    CHECK_RC(spin_tensor_transpose(t, 0, 1, &tt));
    CHECK_RC(spin_tensor_contiguous(tt, &tc));
    CHECK_RC(spin_reveal_f64(ctx, tc, -1, out));
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 3; c++)
            if (out[r * 3 + c] != q(x[c * 5 + r])) FAILF("transpose view wrong\n");
    CHECK_RC(spin_tensor_slice(t, 1, 1, 3, &sl));
    CHECK_RC(spin_reveal_f64(ctx, sl, -1, out));
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            if (out[r * 3 + c] != q(x[r * 5 + 1 + c])) FAILF("slice view wrong\n");
    spin_tensor_free(sl);
    spin_tensor_free(tc);
    spin_tensor_free(tt);
    spin_tensor_free(u);
    spin_tensor_free(v);
    spin_tensor_free(w);
    spin_tensor_free(t);
    free(x);
    return 0;
}

/* ---- in place, broadcast (what spin/nn.h is built on) -------------------- */

static int p_local_inplace(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    int N = spin_ctx_nparties(ctx), last = N - 1;
    size_t sh[3] = {2, 3, 4}, s3[1] = {3}, s4[1] = {4}, sz[3] = {1, 4, 3};
    double *x = gen(24, 41, 2.0), *y = gen(24, 42, 2.0), *v = gen(3, 43, 1.0), *u = gen(4, 44, 1.0),
           *z = gen(12, 45, 3.0), out[24];
    spin_tensor_t *tx, *ty, *tv, *tu, *tz, *b, *tt, *xs, *ys, *zt;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 3, sh, &tx));
    CHECK_RC(spin_input_f64(ctx, last, party == last ? y : NULL, 3, sh, &ty));
    CHECK_RC(spin_input_f64(ctx, last, party == last ? v : NULL, 1, s3, &tv));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? u : NULL, 1, s4, &tu));
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? z : NULL, 3, sz, &tz));
    /* accessors: a transpose is not contiguous, a slice of dimension 0 is */
    CHECK_RC(spin_tensor_transpose(tx, 1, 2, &tt));
    CHECK_RC(spin_tensor_slice(tx, 0, 1, 1, &xs));
    CHECK_RC(spin_tensor_slice(ty, 0, 1, 1, &ys));
    if (spin_tensor_context(tx) != ctx || spin_tensor_context(xs) != ctx || !spin_tensor_is_contiguous(tx) ||
        spin_tensor_is_contiguous(tt) || !spin_tensor_is_contiguous(xs) || spin_tensor_is_contiguous(NULL))
        FAILF("tensor_context / tensor_is_contiguous wrong\n");
    /* broadcast (free, exact): along the middle axis, and along the last
     * (negative axis) */
    spin_comm_stats_t s0;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_broadcast(ctx, tv, 3, sh, 1, &b));
    CHECK_RC(cost_is(ctx, "broadcast", &s0, 0, 0, 0));
    CHECK_RC(spin_reveal_f64(ctx, b, -1, out));
    for (size_t i = 0; i < 24; i++)
        if (out[i] != q(v[(i / 4) % 3])) FAILF("broadcast axis 1 [%zu]: %g vs %g\n", i, out[i], q(v[(i / 4) % 3]));
    spin_tensor_free(b);
    CHECK_RC(spin_broadcast(ctx, tu, 3, sh, -1, &b));
    CHECK_RC(spin_reveal_f64(ctx, b, -1, out));
    for (size_t i = 0; i < 24; i++)
        if (out[i] != q(u[i % 4])) FAILF("broadcast axis -1 [%zu]: %g vs %g\n", i, out[i], q(u[i % 4]));
    spin_tensor_free(b);
    if (spin_broadcast(ctx, tv, 3, sh, 2, &b) != SPIN_ERR_INVAL) FAILF("broadcast accepted 3 values for 4\n");
    /* in place on a view (free, exact): x[1] += y[1], then -= y[1] twice */
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_add_inplace(ctx, xs, ys));
    CHECK_RC(cost_is(ctx, "add_inplace", &s0, 0, 0, 0));
    CHECK_RC(spin_reveal_f64(ctx, tx, -1, out));
    for (size_t i = 0; i < 24; i++) {
        double want = q(x[i]) + (i >= 12 ? q(y[i]) : 0);
        if (fabs(out[i] - want) > 1e-12) FAILF("add_inplace [%zu]: %g vs %g\n", i, out[i], want);
    }
    CHECK_RC(spin_sub_inplace(ctx, xs, ys));
    CHECK_RC(spin_sub_inplace(ctx, xs, ys));
    CHECK_RC(spin_reveal_f64(ctx, tx, -1, out));
    for (size_t i = 0; i < 24; i++) {
        double want = q(x[i]) - (i >= 12 ? q(y[i]) : 0);
        if (fabs(out[i] - want) > 1e-12) FAILF("sub_inplace [%zu]: %g vs %g\n", i, out[i], want);
    }
    /* copy from a non-contiguous view into x[1] */
    CHECK_RC(spin_tensor_transpose(tz, 1, 2, &zt));
    CHECK_RC(spin_copy(ctx, xs, zt));
    CHECK_RC(spin_reveal_f64(ctx, tx, -1, out));
    for (size_t i = 0; i < 24; i++) {
        size_t k = i - 12, want_i = (k % 4) * 3 + k / 4;
        double want = i < 12 ? q(x[i]) : q(z[want_i]);
        if (out[i] != want) FAILF("copy [%zu]: %g vs %g\n", i, out[i], want);
    }
    /* refused: writing into a non-contiguous view, another shape */
    spin_tensor_t *tt2;
    CHECK_RC(spin_tensor_transpose(ty, 1, 2, &tt2));
    if (spin_add_inplace(ctx, tt, tt2) != SPIN_ERR_INVAL) FAILF("add_inplace wrote into a transpose\n");
    if (spin_copy(ctx, tx, xs) != SPIN_ERR_INVAL) FAILF("copy accepted another shape\n");
    spin_tensor_free(tt2);
    spin_tensor_free(zt);
    spin_tensor_free(tt);
    spin_tensor_free(xs);
    spin_tensor_free(ys);
    spin_tensor_free(tx);
    spin_tensor_free(ty);
    spin_tensor_free(tv);
    spin_tensor_free(tu);
    spin_tensor_free(tz);
    free(x);
    free(y);
    free(v);
    free(u);
    free(z);
    return 0;
}

/* ---- the test cases ----------------------------------------------------- */

START_TEST(input_reveal_linear) { run_all_n(p_input_reveal, NULL); }
END_TEST
START_TEST(inplace_broadcast_local) { run_all_n(p_local_inplace, NULL); }
END_TEST

void arith_linear_tests(TCase *tc)
{
    tcase_add_test(tc, input_reveal_linear);
    tcase_add_test(tc, inplace_broadcast_local);
}
