/* local.c - spin_run_local: N parties and the dealer as threads of one
 * process over the real transport (tests, benchmarks, simulations). */
#include "config.h"
#include "mpc/mpc_internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* n distinct free loopback ports: every socket stays bound until all are
 * chosen, so the kernel cannot hand out the same port twice. */
int spin_loopback_ports(int n, int *ports)
{
    int fds[SPIN_MAX_PARTIES + 1];
    int rc = 0, i;
    if (n < 1 || n > SPIN_MAX_PARTIES + 1 || !ports) return SPIN_ERR_INVAL;
    for (i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(fds[i], (struct sockaddr *)&a, &len) != 0) {
            if (fds[i] >= 0) close(fds[i]);
            rc = SPIN_ERR_IO;
            break;
        }
        ports[i] = ntohs(a.sin_port);
    }
    while (i-- > 0) close(fds[i]);
    return rc;
}

int spin_run_local(int n, const char *scheme, const spin_ctx_opts_t *base, spin_party_fn fn, void *arg)
{
    if (n < 2 || n >= SPIN_MAX_PARTIES || !fn) return SPIN_ERR_INVAL;
    int tcp = scheme && strcmp(scheme, "tcp") == 0;
    char dir[256] = "";
    char *eps[SPIN_MAX_PARTIES + 1];
    memset(eps, 0, sizeof eps);
    int rc = 0;
    if (!tcp) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/spin-local-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) return SPIN_ERR_IO;
    }
    int ports[SPIN_MAX_PARTIES + 1];
    if (tcp && (rc = spin_loopback_ports(n + 1, ports)) != 0) goto out;
    for (int i = 0; i <= n; i++) {
        eps[i] = malloc(320);
        if (!eps[i]) { rc = SPIN_ERR_NOMEM; goto out; }
        if (tcp) {
            snprintf(eps[i], 320, "tcp://127.0.0.1:%d", ports[i]);
        } else {
            snprintf(eps[i], 320, "ipc://%s/p%d", dir, i);
        }
    }
    local_party_t *lp = calloc((size_t)n + 1, sizeof *lp);
    if (!lp) { rc = SPIN_ERR_NOMEM; goto out; }
    int started = 0;
    for (int i = 0; i <= n; i++) {
        lp[i].party = i;
        lp[i].n = n;
        lp[i].base = base;
        lp[i].eps = (const char *const *)eps;
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
    for (int i = 0; i <= n; i++) free(eps[i]);
    if (!tcp && dir[0]) {
        DIR *d = opendir(dir);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (e->d_name[0] == '.') continue;
                char p[600];
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                unlink(p);
            }
            closedir(d);
        }
        rmdir(dir);
    }
    return rc;
}
