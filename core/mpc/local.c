/* local.c - spin_run_local: N parties and the dealer as threads of one
 * process over the real transport (tests, benchmarks, simulations). */
#include "config.h"
#include "mpc/mpc_internal.h"

#include <spin/launch.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct local_party {
    pthread_t th;
    int party, n;
    const spin_ctx_opts_t *base;
    const char *const *eps;
    spin_party_fn fn;
    void *arg;
    int rc;
} local_party_t;

static void *party_main(void *p)
{
    local_party_t *lp = p;
    spin_ctx_opts_t o;
    if (lp->base) o = *lp->base;
    else memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.party = lp->party;
    o.nparties = lp->n;
    o.endpoints = lp->eps;
    o.peers_file = NULL;
    uint8_t seed[32];
    if (lp->base && lp->base->fixed_seed) {
        /* Distinct fixed seeds per party, derived from the caller's. */
        memcpy(seed, lp->base->fixed_seed, 32);
        seed[31] ^= (uint8_t)(lp->party + 1);
        o.fixed_seed = seed;
    }
    spin_ctx_t *ctx = NULL;
    lp->rc = spin_ctx_open(&o, &ctx);
    if (lp->rc) return NULL;
    if (lp->party == lp->n) lp->rc = spin_dealer_serve(ctx);
    else lp->rc = lp->fn(ctx, lp->party, lp->arg);
    spin_ctx_close(ctx);
    return NULL;
}

int spin_run_local(int n, const char *scheme, const spin_ctx_opts_t *base, spin_party_fn fn, void *arg)
{
    if (n < 2 || n >= SPIN_MAX_PARTIES || !fn) return SPIN_ERR_INVAL;
    int tcp = scheme && strcmp(scheme, "tcp") == 0;
    const spin_runtime_opts_t *ro = base ? base->runtime : NULL;
    const spin_logger_t *log = ro ? ro->log : NULL;
    char dir[256] = "", err[512] = "";
    spin_launch_peers_t eps;
    memset(&eps, 0, sizeof eps);
    int rc = tcp ? 0 : spin_launch_tmpdir(ro ? ro->getenv : NULL, ro ? ro->env_ctx : NULL, "spin-local",
                                          dir, sizeof dir, err, sizeof err);
    if (!rc) rc = spin_launch_local_endpoints(tcp ? "tcp" : "ipc", n, dir, &eps, err, sizeof err);
    if (rc) {
        if (err[0]) spin_log(log, SPIN_LOG_ERROR, "spin_run_local: %s", err);
        goto out;
    }
    local_party_t *lp = calloc((size_t)n + 1, sizeof *lp);
    if (!lp) { rc = SPIN_ERR_NOMEM; goto out; }
    int started = 0;
    for (int i = 0; i <= n; i++) {
        lp[i].party = i;
        lp[i].n = n;
        lp[i].base = base;
        lp[i].eps = (const char *const *)eps.endpoints;
        lp[i].fn = fn;
        lp[i].arg = arg;
        if (pthread_create(&lp[i].th, NULL, party_main, &lp[i])) {
            rc = SPIN_ERR_NOMEM;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) pthread_join(lp[i].th, NULL);
    for (int i = 0; i < started && !rc; i++)
        if (lp[i].rc) rc = lp[i].rc;
    free(lp);
out:
    spin_launch_peers_free(&eps);
    if (dir[0] && spin_launch_tmpdir_remove(dir, err, sizeof err))
        spin_log(log, SPIN_LOG_WARN, "spin_run_local: %s", err);
    return rc;
}
