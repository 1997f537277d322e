/* ctx.c - the MPC context: configuration, connection, seed agreement. */
#include "config.h"
#include "mpc/mpc_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef HAVE_GETRANDOM
#include <sys/random.h>
#endif

#define CFG_MAGIC UINT64_C(0x5350494e4d504331) /* "SPINMPC1" */

static const char *env_str(spin_ctx_t *ctx, const spin_runtime_opts_t *ro, const char *name)
{
    (void)ctx;
    const char *v = ro && ro->getenv ? ro->getenv(ro->env_ctx, name) : getenv(name);
    return v && v[0] ? v : NULL;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int spin_mpc_ctx_random_key(spin_ctx_t *ctx, spin_prg_key_t *key)
{
    if (ctx->fixed) {
        /* Deterministic: AES-CTR of the fixed seed, one block per key. */
        spin_prg_key_t k;
        memcpy(k.key, ctx->fixed_seed, 16);
        uint64_t nonce;
        memcpy(&nonce, ctx->fixed_seed + 16, 8);
        uint64_t w[2];
        uint64_t *dev;
        int rc = spin_mpc_buf_alloc(ctx, 2, &dev);
        if (rc) return rc;
        rc = ctx->compute->prg_fill(ctx->compute_state, &k, nonce ^ (uint64_t)ctx->party << 48,
                              2 * ctx->local_counter++, dev, 2, NULL);
        if (!rc) rc = ctx->compute->copy_d2h(ctx->compute_state, w, dev, sizeof w, NULL);
        if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
        spin_mpc_buf_release(ctx, dev);
        if (rc) return rc;
        memcpy(key->key, w, 16);
        return 0;
    }
#ifdef HAVE_GETRANDOM
    size_t got = 0;
    while (got < 16) {
        ssize_t r = getrandom(key->key + got, 16 - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            MPC_ERR(ctx, "getrandom failed: %s", strerror(errno));
            return SPIN_ERR_IO;
        }
        got += (size_t)r;
    }
    return 0;
#else
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(key->key, 1, 16, f) != 16) {
        if (f) fclose(f);
        MPC_ERR(ctx, "cannot read /dev/urandom");
        return SPIN_ERR_IO;
    }
    fclose(f);
    return 0;
#endif
}

/* Read a peers file: one endpoint per line, '#' comments, blanks ignored. */
static int read_peers(spin_ctx_t *ctx, const char *path, char ***eps, int *count)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        MPC_ERR(ctx, "cannot open peers file %s: %s", path, strerror(errno));
        return SPIN_ERR_CONFIG;
    }
    char line[1024];
    int n = 0, lineno = 0, rc = 0;
    char **v = calloc(SPIN_MAX_PARTIES + 1, sizeof *v);
    if (!v) { fclose(f); return SPIN_ERR_NOMEM; }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        char *hash = strchr(s, '#');
        if (hash) *hash = '\0';
        size_t len = strlen(s);
        while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
            s[--len] = '\0';
        if (!len) continue;
        if (strncmp(s, "tcp://", 6) && strncmp(s, "ipc://", 6) && strncmp(s, "rdma://", 7)) {
            MPC_ERR(ctx, "peers file %s, line %d: \"%s\" is not an endpoint "
                         "(expected tcp://HOST:PORT, ipc://PATH or rdma://HOST:PORT)", path, lineno, s);
            rc = SPIN_ERR_CONFIG;
            break;
        }
        if (n == SPIN_MAX_PARTIES + 1) {
            MPC_ERR(ctx, "peers file %s has more than %d endpoints", path, SPIN_MAX_PARTIES + 1);
            rc = SPIN_ERR_CONFIG;
            break;
        }
        v[n] = strdup(s);
        if (!v[n]) { rc = SPIN_ERR_NOMEM; break; }
        n++;
    }
    fclose(f);
    if (rc) {
        for (int i = 0; i < n; i++) free(v[i]);
        free(v);
        return rc;
    }
    *eps = v;
    *count = n;
    return 0;
}

/* Exchange configurations with every peer and compare them field by field. */
static int check_config(spin_ctx_t *ctx)
{
    uint64_t mine[4] = {CFG_MAGIC, (uint64_t)ctx->nparties, ctx->frac_bits, SPIN_ABI_MAJOR * 1000 + SPIN_ABI_MINOR};
    uint64_t theirs[SPIN_MAX_PARTIES + 1][4];
    spin_request_t *rq[2 * (SPIN_MAX_PARTIES + 1)];
    int nr = 0, rc = 0;
    int total = ctx->nparties + 1;
    for (int p = 0; p < total && !rc; p++) {
        if (p == ctx->party) continue;
        rc = ctx->transport->isend(ctx->comm, p, TAG_SETUP_CFG, mine, sizeof mine, &rq[nr]);
        if (!rc) nr++;
        if (!rc) rc = ctx->transport->irecv(ctx->comm, p, TAG_SETUP_CFG, theirs[p], sizeof theirs[p], &rq[nr]);
        if (!rc) nr++;
    }
    for (int i = 0; i < nr; i++) {
        int r = ctx->transport->wait(ctx->comm, rq[i]);
        if (!rc) rc = r;
    }
    if (rc) return rc;
    for (int p = 0; p < total; p++) {
        if (p == ctx->party) continue;
        const char *who = p == ctx->nparties ? "the dealer" : "party";
        if (theirs[p][0] != CFG_MAGIC) {
            MPC_ERR(ctx, "%s %d did not send a Spin configuration: is it running another program?", who, p);
            return SPIN_ERR_CONFIG;
        }
        if (theirs[p][1] != mine[1]) {
            MPC_ERR(ctx, "%s %d runs with %llu computing parties, we run with %llu: start every "
                         "party with the same count", who, p, (unsigned long long)theirs[p][1],
                    (unsigned long long)mine[1]);
            return SPIN_ERR_CONFIG;
        }
        if (theirs[p][2] != mine[2]) {
            MPC_ERR(ctx, "%s %d uses %llu fractional bits, we use %llu: set the same "
                         "SPIN_FRAC_BITS (or frac_bits) on every party", who, p,
                    (unsigned long long)theirs[p][2], (unsigned long long)mine[2]);
            return SPIN_ERR_CONFIG;
        }
        if (theirs[p][3] != mine[3]) {
            MPC_ERR(ctx, "%s %d runs another Spin version (ABI code %llu, ours %llu): install the "
                         "same Spin everywhere", who, p, (unsigned long long)theirs[p][3],
                    (unsigned long long)mine[3]);
            return SPIN_ERR_CONFIG;
        }
    }
    return 0;
}

/* Dealer keys (dealer -> each party) and pairwise keys (lower id -> higher). */
static int agree_keys(spin_ctx_t *ctx)
{
    int rc = 0;
    if (ctx->dealer) {
        ctx->party_keys = calloc((size_t)ctx->nparties, sizeof *ctx->party_keys);
        if (!ctx->party_keys) return SPIN_ERR_NOMEM;
        for (int p = 0; p < ctx->nparties && !rc; p++) {
            rc = spin_mpc_ctx_random_key(ctx, &ctx->party_keys[p]);
            if (!rc) rc = ctx->transport->send(ctx->comm, p, TAG_SETUP_DEALER_KEY, &ctx->party_keys[p],
                                       sizeof(spin_prg_key_t));
        }
        return rc;
    }
    rc = ctx->transport->recv(ctx->comm, ctx->nparties, TAG_SETUP_DEALER_KEY, &ctx->dealer_key, sizeof ctx->dealer_key);
    for (int p = ctx->party + 1; p < ctx->nparties && !rc; p++) {
        rc = spin_mpc_ctx_random_key(ctx, &ctx->pair_key[p]);
        if (!rc) rc = ctx->transport->send(ctx->comm, p, TAG_SETUP_PAIR_KEY, &ctx->pair_key[p], sizeof(spin_prg_key_t));
    }
    for (int p = 0; p < ctx->party && !rc; p++)
        rc = ctx->transport->recv(ctx->comm, p, TAG_SETUP_PAIR_KEY, &ctx->pair_key[p], sizeof(spin_prg_key_t));
    return rc;
}

static uint64_t fingerprint(void)
{
    /* FNV-1a of the version string: links between different builds fail
     * at connection time; finer checks follow in check_config(). */
    const char *s = PACKAGE_VERSION "/spin-mpc";
    uint64_t h = UINT64_C(1469598103934665603);
    for (; *s; s++) h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return h;
}

int spin_ctx_open(const spin_ctx_opts_t *o, spin_ctx_t **out)
{
    if (!out) return SPIN_ERR_INVAL;
    spin_ctx_opts_t def;
    if (!o) {
        memset(&def, 0, sizeof def);
        def.struct_size = sizeof def;
        def.party = -1;
        o = &def;
    }
    spin_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return SPIN_ERR_NOMEM;
    char **eps = NULL;
    int neps = 0, rc;
    const spin_runtime_opts_t *ro = o->runtime;

    rc = spin_runtime_open(ro, &ctx->rt);
    if (rc) goto fail;
    ctx->log = spin_runtime_logger(ctx->rt);

    /* Who am I, how many are we. */
    long v;
    int party = o->party;
    if (party < 0) {
        static const char *const vars[] = {"SPIN_PARTY", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK"};
        for (size_t i = 0; i < 4 && party < 0; i++) {
            const char *s = env_str(ctx, ro, vars[i]);
            if (!s) continue;
            if (parse_int(s, 0, SPIN_MAX_PARTIES, &v)) {
                MPC_ERR(ctx, "%s=\"%s\" is not a party id (0..%d)", vars[i], s, SPIN_MAX_PARTIES);
                rc = SPIN_ERR_CONFIG;
                goto fail;
            }
            party = (int)v;
        }
        if (party < 0) {
            MPC_ERR(ctx, "no party id: pass it in the options, or set SPIN_PARTY (spin-run does), "
                         "SLURM_PROCID, OMPI_COMM_WORLD_RANK or PMI_RANK");
            rc = SPIN_ERR_CONFIG;
            goto fail;
        }
    }
    const char *pf = o->peers_file ? o->peers_file : env_str(ctx, ro, "SPIN_PEERS_FILE");
    const char *const *endpoints = o->endpoints;
    if (!endpoints) {
        if (!pf) {
            MPC_ERR(ctx, "no peers: pass endpoints in the options, or a peers file (SPIN_PEERS_FILE; "
                         "spin-run writes one)");
            rc = SPIN_ERR_CONFIG;
            goto fail;
        }
        rc = read_peers(ctx, pf, &eps, &neps);
        if (rc) goto fail;
        endpoints = (const char *const *)eps;
    }
    int n = o->nparties;
    if (n <= 0) {
        const char *s = env_str(ctx, ro, "SPIN_NPARTIES");
        if (s) {
            if (parse_int(s, 2, SPIN_MAX_PARTIES - 1, &v)) {
                MPC_ERR(ctx, "SPIN_NPARTIES=\"%s\" is not a party count (2..%d)", s, SPIN_MAX_PARTIES - 1);
                rc = SPIN_ERR_CONFIG;
                goto fail;
            }
            n = (int)v;
        } else if (eps) {
            n = neps - 1;
        }
    }
    if (n < 2 || n >= SPIN_MAX_PARTIES) {
        MPC_ERR(ctx, "%d computing parties: Spin needs 2..%d plus the dealer", n, SPIN_MAX_PARTIES - 1);
        rc = SPIN_ERR_CONFIG;
        goto fail;
    }
    if (eps && neps != n + 1) {
        MPC_ERR(ctx, "peers file %s lists %d endpoints, but %d computing parties need %d (the "
                     "dealer's last)", pf, neps, n, n + 1);
        rc = SPIN_ERR_CONFIG;
        goto fail;
    }
    if (party > n) {
        MPC_ERR(ctx, "party id %d is out of range: parties are 0..%d and the dealer is %d", party, n - 1, n);
        rc = SPIN_ERR_CONFIG;
        goto fail;
    }
    ctx->party = party;
    ctx->nparties = n;
    ctx->dealer = party == n;

    unsigned f = o->frac_bits;
    if (!f) {
        const char *s = env_str(ctx, ro, "SPIN_FRAC_BITS");
        f = 16;
        if (s) {
            if (parse_int(s, 1, 30, &v)) {
                MPC_ERR(ctx, "SPIN_FRAC_BITS=\"%s\" is not in 1..30", s);
                rc = SPIN_ERR_CONFIG;
                goto fail;
            }
            f = (unsigned)v;
        }
    }
    if (f < 1 || f > 30) {
        MPC_ERR(ctx, "frac_bits %u is not in 1..30", f);
        rc = SPIN_ERR_CONFIG;
        goto fail;
    }
    ctx->frac_bits = f;
    ctx->timeout_ms = o->timeout_ms;
    if (o->fixed_seed) {
        ctx->fixed = 1;
        memcpy(ctx->fixed_seed, o->fixed_seed, 32);
        spin_log(ctx->log, SPIN_LOG_WARN, "party %d uses a fixed seed: its randomness is "
                                          "predictable (tests only)", party);
    }

    rc = spin_runtime_compute(ctx->rt, &ctx->compute_backend);
    if (rc) goto fail;
    rc = spin_runtime_transport(ctx->rt, &ctx->transport_backend);
    if (rc) goto fail;
    ctx->compute = ctx->compute_backend.ops;
    ctx->compute_state = ctx->compute_backend.state;
    ctx->transport = ctx->transport_backend.ops;
    ctx->host_mem = !(ctx->compute_backend.desc->caps & SPIN_CAP_COMPUTE_DEVICE_MEM);

    spin_transport_cfg_t tc;
    memset(&tc, 0, sizeof tc);
    tc.struct_size = sizeof tc;
    tc.party = party;
    tc.nparties = n + 1;
    tc.endpoints = endpoints;
    tc.timeout_ms = o->timeout_ms;
    tc.key_dir = o->key_dir ? o->key_dir : env_str(ctx, ro, "SPIN_KEY_DIR");
    tc.fingerprint = fingerprint();
    /* ABI 1.1: the compute backend, so a transport can take its memory */
    tc.compute_name = ctx->compute_backend.desc->name;
    tc.compute_caps = ctx->compute_backend.desc->caps;
    tc.compute_ops = ctx->compute;
    tc.compute_state = ctx->compute_state;
    rc = ctx->transport->open(ctx->transport_backend.state, &tc, &ctx->comm);
    if (rc) {
        MPC_ERR(ctx, "%s %d: cannot connect to the other parties: %s", ctx->dealer ? "dealer" : "party",
                party, spin_strerror(rc));
        ctx->comm = NULL;
        goto fail;
    }
    if (!ctx->host_mem)
        spin_log(ctx->log, SPIN_LOG_INFO, "%s %d: openings and dealer corrections %s", ctx->dealer ? "dealer" : "party",
                 party, spin_mpc_dev_direct(ctx) ? "go between device memory and the transport directly (the "
                 "transport takes device memory)" : "are staged through host memory (the transport's "
                 "communicator takes host memory only)");
    rc = check_config(ctx);
    if (!rc) rc = agree_keys(ctx);
    if (rc) goto fail;
    if (eps) {
        for (int i = 0; i < neps; i++) free(eps[i]);
        free(eps);
    }
    *out = ctx;
    return 0;
fail:
    if (eps) {
        for (int i = 0; i < neps; i++) free(eps[i]);
        free(eps);
    }
    if (ctx->comm) ctx->transport->close(ctx->comm);
    ctx->comm = NULL;
    spin_runtime_close(ctx->rt);
    free(ctx->party_keys);
    free(ctx);
    return rc;
}

void spin_ctx_close(spin_ctx_t *ctx)
{
    if (!ctx) return;
    if (!ctx->dealer && ctx->party == 0 && ctx->comm) {
        dealer_req_t bye;
        memset(&bye, 0, sizeof bye);
        bye.kind = REQ_BYE;
        spin_mpc_dealer_request(ctx, &bye);
    }
    if (ctx->comm) ctx->transport->close(ctx->comm);
    spin_runtime_close(ctx->rt);
    free(ctx->party_keys);
    memset(ctx, 0, sizeof *ctx); /* wipe keys */
    free(ctx);
}

int spin_ctx_party(const spin_ctx_t *ctx) { return ctx->party; }
int spin_ctx_nparties(const spin_ctx_t *ctx) { return ctx->nparties; }
int spin_ctx_is_dealer(const spin_ctx_t *ctx) { return ctx->dealer; }
unsigned spin_ctx_frac_bits(const spin_ctx_t *ctx) { return ctx->frac_bits; }
const spin_logger_t *spin_ctx_logger(const spin_ctx_t *ctx) { return ctx->log; }

int spin_ctx_stats(const spin_ctx_t *ctx, int peer, spin_comm_stats_t *out)
{
    if (!ctx || !out || peer < -1 || peer > ctx->nparties || peer == ctx->party) return SPIN_ERR_INVAL;
    memset(out, 0, sizeof *out);
    for (int p = 0; p <= ctx->nparties; p++) {
        if (p == ctx->party || (peer >= 0 && p != peer)) continue;
        spin_transport_stats_t s;
        int rc = ctx->transport->stats(ctx->comm, p, &s);
        if (rc) return rc;
        out->bytes_sent += s.bytes_sent;
        out->bytes_recv += s.bytes_recv;
        out->msgs_sent += s.msgs_sent;
        out->msgs_recv += s.msgs_recv;
    }
    out->rounds = ctx->rounds;
    return 0;
}
