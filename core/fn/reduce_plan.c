/* reduce_plan.c - the plan of a maximum's tournament (reduce.c): the group
 * size of every level.
 *
 * The sequence of group sizes minimises a cost model of rounds,
 * comparisons and products (measured constants below) by dynamic
 * programming over the candidate count L; small batches favour large groups
 * (fewer rounds), large batches the binary tree (fewest comparisons).
 * Rounds of a level of group size g: 7 for g = 2; 7 + ceil(log2 g) for
 * g >= 3, or 7 + ceil(log2 (g-1)) when g - 1 is a power of two (one
 * comparison per candidate carries the fused product).  SPIN_REDUCE_PLAN
 * forces a plan (measurements, tests); it must be the same on every party.
 */
#include "config.h"
#include "fn/fn_internal.h"
#include "runtime/runtime.h"

#include <stdlib.h>

/* Cost model (microseconds), measured with 2P+D on loopback (2 cores):
 * a round, one comparison (per value; the fused product adds a little)
 * and one Beaver product (per word). */
#define COST_ROUND 60.0
#define COST_CMP 0.15
#define COST_CMP_PROD 0.03
#define COST_MUL 0.05

unsigned fn_clog2(size_t x)
{
    unsigned r = 0;
    while (((size_t)1 << r) < x) r++;
    return r;
}

/* g >= 3 with g - 1 a power of two: fuse x_i into one comparison. */
int fn_group_fused(size_t g)
{
    return g >= 3 && fn_clog2(g - 1) < fn_clog2(g);
}

static unsigned group_rounds(size_t g)
{
    if (g <= 1) return 0;
    if (g == 2) return 7;
    return 7 + fn_clog2(g - (size_t)fn_group_fused(g));
}

/* Slot products (each g words per group) of a g >= 3 level. */
static size_t group_slot_products(size_t g, int want_w)
{
    int fused = fn_group_fused(g), hasw = fused;
    size_t cnt = g - 1 - (size_t)fused, prods = 0;
    while (cnt) {
        size_t h = cnt / 2;
        prods += h;
        if (cnt & 1) {
            prods++;
            if (want_w) {
                if (hasw) prods++;
                hasw = 1;
            }
        }
        cnt = h;
    }
    return prods;
}

static double level_cost(size_t g, size_t L, size_t I, int want_w, int last)
{
    size_t q = (L + g - 1) / g;
    double groups = (double)q * (double)I;
    double c = COST_ROUND * group_rounds(g);
    if (g == 2) {
        c += groups * (COST_CMP + COST_CMP_PROD);
    } else {
        double pairs = (double)(g * (g - 1) / 2);
        c += groups * pairs * (COST_CMP + (fn_group_fused(g) ? COST_CMP_PROD : 0));
        c += groups * (double)g * (double)group_slot_products(g, want_w) * COST_MUL;
    }
    if (want_w && !last) c += (double)L * (double)I * COST_MUL;
    return c;
}

/* ---- plan: dynamic programming over the candidate count ----------------- */

typedef struct plan_memo {
    size_t *key;
    double *cost;
    size_t *g;
    size_t cap;
} plan_memo_t;

static double plan_best(plan_memo_t *m, size_t L, size_t I, int want_w, size_t *gout)
{
    if (L <= 1) return 0;
    size_t h = (L * UINT64_C(0x9E3779B97F4A7C15)) & (m->cap - 1);
    while (m->key[h]) {
        if (m->key[h] == L) {
            *gout = m->g[h];
            return m->cost[h];
        }
        h = (h + 1) & (m->cap - 1);
    }
    double best = 0;
    size_t bg = 2, gmax = L < FN_REDUCE_MAX_GROUP ? L : FN_REDUCE_MAX_GROUP;
    for (size_t g = 2; g <= gmax; g++) {
        size_t q = (L + g - 1) / g, dummy;
        double c = level_cost(g, L, I, want_w, q == 1) + plan_best(m, q, I, want_w, &dummy);
        if (g == 2 || c < best) {
            best = c;
            bg = g;
        }
    }
    /* re-probe: the recursion may have filled slots */
    h = (L * UINT64_C(0x9E3779B97F4A7C15)) & (m->cap - 1);
    while (m->key[h]) h = (h + 1) & (m->cap - 1);
    m->key[h] = L;
    m->cost[h] = best;
    m->g[h] = bg;
    *gout = bg;
    return best;
}

/* Group sizes for L candidates and I outputs; 0 on success.  SPIN_REDUCE_PLAN
 * (comma-separated group sizes, read through the runtime's environment
 * hook) overrides the model, for measurements. */
int fn_reduce_plan(spin_ctx_t *ctx, size_t L, size_t I, int want_w, size_t *gs, int *nlev)
{
    *nlev = 0;
    const char *env = spin_runtime_env(ctx->rt, "SPIN_REDUCE_PLAN");
    if (env) {
        size_t cur = L;
        const char *s = env;
        while (cur > 1 && *nlev < FN_REDUCE_MAX_LEVELS) {
            char *e;
            unsigned long g = strtoul(s, &e, 10);
            if (e == s || g < 2) g = 2;
            if (g > FN_REDUCE_MAX_GROUP) g = FN_REDUCE_MAX_GROUP;
            if (g > cur) g = cur;
            gs[(*nlev)++] = g;
            cur = (cur + g - 1) / g;
            s = *e == ',' ? e + 1 : e;
        }
        return 0;
    }
    /* distinct values of ceil(L / k) number at most 2 sqrt(L) */
    size_t cap = 64;
    while (cap < 8 * 2 * 65536 && (cap / 8) * (cap / 8) < 4 * L) cap *= 2;
    plan_memo_t m;
    m.cap = cap;
    m.key = calloc(cap, sizeof *m.key);
    m.cost = calloc(cap, sizeof *m.cost);
    m.g = calloc(cap, sizeof *m.g);
    if (!m.key || !m.cost || !m.g) {
        free(m.key);
        free(m.cost);
        free(m.g);
        return SPIN_ERR_NOMEM;
    }
    size_t cur = L;
    while (cur > 1 && *nlev < FN_REDUCE_MAX_LEVELS) {
        size_t g = 2;
        if (cur <= ((size_t)1 << 24)) plan_best(&m, cur, I, want_w, &g);
        gs[(*nlev)++] = g;
        cur = (cur + g - 1) / g;
    }
    free(m.key);
    free(m.cost);
    free(m.g);
    return 0;
}
