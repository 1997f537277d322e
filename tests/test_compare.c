/* test_compare.c - sign, DReLU, ReLU, comparisons and select on real
 * multi-party runs (N = 2, 3, 4 parties + dealer as threads over the tcp
 * plugin's ipc:// or tcp:// links): exact results against the plain
 * definitions, including the ends of the ring and the hard point 0, and
 * the transport counters against docs/PROTOCOLS.md. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/mpc.h>
#include "testutil.h"

static const char *scheme = "ipc";
#define F 16
#define ONE (UINT64_C(1) << F)

#define CHECK_RC(expr) do { int rc_ = (expr); if (rc_) { fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #expr, spin_strerror(rc_)); return rc_; } } while (0)
#define FAILF(...) do { fprintf(stderr, __VA_ARGS__); return SPIN_ERR_INTERNAL; } while (0)

static spin_ctx_opts_t base_opts(void)
{
    spin_ctx_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.frac_bits = F;
    o.timeout_ms = 60000;
    return o;
}

static double gauss(uint64_t *s)
{
    double u1 = ((double)(tu_rand64(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(tu_rand64(s) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Ring test values: the hard points (0, +-1 ulp, the ends of the ring and
 * of the fixed-point range), then N(0,1)*2 in fixed point, then uniform
 * ring elements. */
static uint64_t *ring_values(size_t n, uint64_t seed)
{
    static const uint64_t edges[] = {
        0, 1, UINT64_MAX, 2, UINT64_MAX - 1,
        UINT64_C(1) << 62, (uint64_t)-(INT64_C(1) << 62),
        (UINT64_C(1) << 63) - 1, UINT64_C(1) << 63, (UINT64_C(1) << 63) + 1,
        ONE, (uint64_t)-(int64_t)ONE, UINT64_C(1) << 47, (uint64_t)-(INT64_C(1) << 47)
    };
    uint64_t *v = malloc(n * sizeof *v), s = seed;
    size_t ne = sizeof edges / sizeof edges[0];
    for (size_t i = 0; i < n; i++) {
        if (i < ne) v[i] = edges[i];
        else if (i < n / 2) v[i] = (uint64_t)(int64_t)llround(gauss(&s) * 2.0 * ONE);
        else v[i] = tu_rand64(&s);
    }
    return v;
}

static size_t W_of(size_t n) { return (n + 63) / 64; }

/* Documented cost of one comparison of n values (docs/PROTOCOLS.md), words
 * sent to each other party: the mask (n, plus n for a product), the five
 * AND levels (88 W) and the bit-to-arithmetic opening (W). */
static uint64_t cmp_peer_words(size_t n, int prod) { return (prod ? 2 : 1) * n + 89 * W_of(n); }
/* Words party 0 receives from the dealer: edaBit bits and pairs (96 W),
 * AND corrections (57 W), daBit corrections (n, or 2n with a product). */
static uint64_t cmp_dealer_words(size_t n, int prod) { return 153 * W_of(n) + (prod ? 2 : 1) * n; }

static int check_cost(spin_ctx_t *ctx, const char *what, const spin_comm_stats_t *s0,
                      const spin_comm_stats_t *s1, uint64_t rounds, uint64_t peer_words,
                      uint64_t dealer_words, uint64_t requests)
{
    int party = spin_ctx_party(ctx), N = spin_ctx_nparties(ctx);
    uint64_t sent = (uint64_t)(N - 1) * peer_words * 8 + (party == 0 ? requests * 208 : 0);
    uint64_t recv = (uint64_t)(N - 1) * peer_words * 8 + (party == 0 ? dealer_words * 8 : 0);
    if (s1->rounds - s0->rounds != rounds)
        FAILF("%s took %llu rounds, documented %llu\n", what, (unsigned long long)(s1->rounds - s0->rounds),
              (unsigned long long)rounds);
    if (s1->bytes_sent - s0->bytes_sent != sent)
        FAILF("party %d sent %llu bytes for %s, documented %llu\n", party,
              (unsigned long long)(s1->bytes_sent - s0->bytes_sent), what, (unsigned long long)sent);
    if (s1->bytes_recv - s0->bytes_recv != recv)
        FAILF("party %d received %llu bytes for %s, documented %llu\n", party,
              (unsigned long long)(s1->bytes_recv - s0->bytes_recv), what, (unsigned long long)recv);
    return 0;
}

/* ---- sign, DReLU, ReLU: exact on every ring value ------------------------- */

static int p_sign(spin_ctx_t *ctx, int party, void *arg)
{
    size_t n = *(size_t *)arg;
    size_t shape[1] = {n};
    uint64_t *x = ring_values(n, 7), *out = malloc(n * 8), *msk = malloc(n * 8);
    spin_tensor_t *a, *s, *d, *r, *m;
    int owner = spin_ctx_nparties(ctx) - 1;
    CHECK_RC(spin_input_ring(ctx, owner, party == owner ? x : NULL, 1, shape, &a));
    spin_comm_stats_t s0, s1;
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_ltz(ctx, a, &s));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    CHECK_RC(check_cost(ctx, "ltz", &s0, &s1, 7, cmp_peer_words(n, 0), cmp_dealer_words(n, 0), 3));
    CHECK_RC(spin_reveal_ring(ctx, s, -1, out));
    for (size_t i = 0; i < n; i++)
        if (out[i] != ((int64_t)x[i] < 0 ? ONE : 0))
            FAILF("ltz(%lld) = %llu (raw), want %s\n", (long long)x[i], (unsigned long long)out[i],
                  (int64_t)x[i] < 0 ? "1.0" : "0");
    CHECK_RC(spin_drelu(ctx, a, &d));
    CHECK_RC(spin_reveal_ring(ctx, d, -1, out));
    for (size_t i = 0; i < n; i++)
        if (out[i] != ((int64_t)x[i] >= 0 ? ONE : 0)) FAILF("drelu(%lld) wrong\n", (long long)x[i]);
    CHECK_RC(spin_ctx_stats(ctx, -1, &s0));
    CHECK_RC(spin_relu(ctx, a, &r, &m));
    CHECK_RC(spin_ctx_stats(ctx, -1, &s1));
    CHECK_RC(check_cost(ctx, "relu", &s0, &s1, 7, cmp_peer_words(n, 1), cmp_dealer_words(n, 1), 3));
    CHECK_RC(spin_reveal_ring(ctx, r, -1, out));
    CHECK_RC(spin_reveal_ring(ctx, m, -1, msk));
    for (size_t i = 0; i < n; i++) {
        uint64_t want = (int64_t)x[i] >= 0 ? x[i] : 0;
        if (out[i] != want)
            FAILF("relu(%lld) = %lld, want %lld (exact)\n", (long long)x[i], (long long)out[i], (long long)want);
        if (msk[i] != ((int64_t)x[i] >= 0 ? ONE : 0)) FAILF("relu mask(%lld) wrong\n", (long long)x[i]);
    }
    spin_tensor_free(a);
    spin_tensor_free(s);
    spin_tensor_free(d);
    spin_tensor_free(r);
    spin_tensor_free(m);
    free(x);
    free(out);
    free(msk);
    return 0;
}

/* ---- comparisons, secret and public operands; select ---------------------- */

static int p_cmp(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    const size_t n = 1000;
    size_t shape[2] = {10, 100};
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *out = malloc(n * sizeof *out);
    uint64_t s = 99;
    for (size_t i = 0; i < n; i++) {
        x[i] = round(gauss(&s) * 3.0 * ONE) / ONE;
        /* every third pair equal; some differ by one ulp */
        y[i] = i % 3 == 0 ? x[i] : i % 3 == 1 ? x[i] + (i % 2 ? 1.0 : -1.0) / ONE : round(gauss(&s) * 3.0 * ONE) / ONE;
    }
    int N = spin_ctx_nparties(ctx);
    spin_tensor_t *a, *b, *r;
    CHECK_RC(spin_input_f64(ctx, 0, party == 0 ? x : NULL, 2, shape, &a));
    CHECK_RC(spin_input_f64(ctx, N - 1, party == N - 1 ? y : NULL, 2, shape, &b));
    static const char *names[] = {"", "lt", "le", "gt", "ge", "eq"};
    for (int op = SPIN_CMP_LT; op <= SPIN_CMP_EQ; op++) {
        for (int pub = 0; pub < 2; pub++) {
            if (pub) CHECK_RC(spin_cmp_public(ctx, (spin_cmp_op_t)op, a, y, &r));
            else CHECK_RC(spin_cmp(ctx, (spin_cmp_op_t)op, a, b, &r));
            CHECK_RC(spin_reveal_f64(ctx, r, -1, out));
            for (size_t i = 0; i < n; i++) {
                int w = op == SPIN_CMP_LT ? x[i] < y[i] : op == SPIN_CMP_LE ? x[i] <= y[i]
                      : op == SPIN_CMP_GT ? x[i] > y[i] : op == SPIN_CMP_GE ? x[i] >= y[i] : x[i] == y[i];
                if (out[i] != (double)w)
                    FAILF("%s%s(%.17g, %.17g) = %g, want %d\n", names[op], pub ? " public" : "", x[i], y[i],
                          out[i], w);
            }
            spin_tensor_free(r);
        }
    }
    /* select on a comparison: min(x, y) = (x < y) ? x : y, at most 1 ulp */
    spin_tensor_t *lt, *mn;
    CHECK_RC(spin_cmp(ctx, SPIN_CMP_LT, a, b, &lt));
    CHECK_RC(spin_select(ctx, lt, a, b, &mn));
    CHECK_RC(spin_reveal_f64(ctx, mn, -1, out));
    for (size_t i = 0; i < n; i++) {
        double want = x[i] < y[i] ? x[i] : y[i];
        if (fabs(out[i] - want) > 1.0 / ONE) FAILF("select: min(%g, %g) = %g\n", x[i], y[i], out[i]);
    }
    /* shape mismatch: a clear error, not a crash */
    spin_tensor_t *row;
    CHECK_RC(spin_tensor_slice(a, 0, 0, 1, &row));
    if (spin_cmp(ctx, SPIN_CMP_LT, row, b, &r) != SPIN_ERR_INVAL) FAILF("cmp accepted different shapes\n");
    if (spin_cmp(ctx, (spin_cmp_op_t)42, a, b, &r) != SPIN_ERR_INVAL) FAILF("cmp accepted op 42\n");
    spin_tensor_free(row);
    spin_tensor_free(lt);
    spin_tensor_free(mn);
    spin_tensor_free(a);
    spin_tensor_free(b);
    free(x);
    free(y);
    free(out);
    return 0;
}

/* ---- boolean AND of raw XOR shares --------------------------------------- */

static int p_and(spin_ctx_t *ctx, int party, void *arg)
{
    (void)arg;
    const size_t w = 37;
    uint64_t x[37], y[37], z[37], s = 5;
    /* party 0 holds the values, the others hold 0 shares XORed with a pad
     * that cancels: shares of x are x ^ pad on party 0 and pad on party 1 */
    uint64_t vx[37], vy[37], pad[37];
    for (size_t i = 0; i < w; i++) {
        vx[i] = tu_rand64(&s);
        vy[i] = tu_rand64(&s);
        pad[i] = tu_rand64(&s);
    }
    for (size_t i = 0; i < w; i++) {
        x[i] = party == 0 ? vx[i] ^ pad[i] : party == 1 ? pad[i] : 0;
        y[i] = party == 0 ? vy[i] ^ pad[i] : party == 1 ? pad[i] : 0;
    }
    CHECK_RC(spin_xor_and(ctx, x, y, w, z));
    /* reveal by summing XOR shares through ring reveals of each share */
    size_t shape[1] = {w};
    uint64_t acc[37] = {0};
    for (int p = 0; p < spin_ctx_nparties(ctx); p++) {
        spin_tensor_t *t;
        uint64_t got[37];
        CHECK_RC(spin_input_ring(ctx, p, party == p ? z : NULL, 1, shape, &t));
        CHECK_RC(spin_reveal_ring(ctx, t, -1, got));
        for (size_t i = 0; i < w; i++) acc[i] ^= got[i];
        spin_tensor_free(t);
    }
    for (size_t i = 0; i < w; i++)
        if (acc[i] != (vx[i] & vy[i])) FAILF("xor_and word %zu wrong\n", i);
    return 0;
}

static void run_all_n(spin_party_fn fn, void *arg)
{
    for (int n = 2; n <= 4; n++) {
        spin_ctx_opts_t o = base_opts();
        int rc = spin_run_local(n, scheme, &o, fn, arg);
        ck_assert_msg(rc == 0, "N = %d over %s: %s", n, scheme, spin_strerror(rc));
    }
}

START_TEST(sign_drelu_relu_exact)
{
    /* odd sizes cover partial bit-slice words */
    size_t sizes[] = {1, 63, 8192 + 5};
    for (int i = 0; i < 3; i++) run_all_n(p_sign, &sizes[i]);
}
END_TEST
START_TEST(comparisons_and_select) { run_all_n(p_cmp, NULL); }
END_TEST
START_TEST(boolean_and) { run_all_n(p_and, NULL); }
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1) scheme = argv[1];
    spin_runtime_t *rt;
    spin_backend_t be;
    rt = tu_runtime_for("tcp", SPIN_PLUGIN_TRANSPORT, &be);
    spin_runtime_close(rt);
    rt = tu_runtime_for("cpu", SPIN_PLUGIN_COMPUTE, &be);
    spin_runtime_close(rt);
    Suite *s = suite_create("compare");
    TCase *tc = tcase_create("compare");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, sign_drelu_relu_exact);
    tcase_add_test(tc, comparisons_and_select);
    tcase_add_test(tc, boolean_and);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
