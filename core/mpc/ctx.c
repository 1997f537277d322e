/* ctx.c - the MPC context: configuration, connection, seed agreement. */
#include "config.h"
#include "mpc/mpc_internal.h"
#include "runtime/runtime.h"

#include <spin/launch.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef HAVE_GETRANDOM
#include <sys/random.h>
#else
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* Every setting goes through the runtime's getenv hook (spin_runtime_opts_t):
 * this adapter hands it to the launch functions. */
static const char *rt_env(void *rt, const char *name)
{
    return spin_runtime_env(rt, name);
}

#define DEFAULT_TIMEOUT_MS 60000

/* The peer timeout every transport gets: opts->timeout_ms if > 0, else
 * SPIN_TIMEOUT (positive seconds, fractions allowed, blanks after it), else
 * 60 s; a malformed SPIN_TIMEOUT is named in a warning and 60 s applies. */
static int resolve_timeout_ms(spin_ctx_t *ctx, int given)
{
    if (given > 0) return given;
    const char *v = spin_runtime_env(ctx->rt, "SPIN_TIMEOUT");
    if (!v) return DEFAULT_TIMEOUT_MS;
    char *end;
    errno = 0;
    double s = strtod(v, &end);
    while (*end == ' ' || *end == '\t') end++;
    if (errno || end == v || *end || isnan(s) || !(s > 0) || s > 1e6) {
        spin_log(ctx->log, SPIN_LOG_WARN, "SPIN_TIMEOUT=\"%s\" is not a positive number of seconds; "
                                          "using 60 (set it to e.g. 30 or 0.5)", v);
        return DEFAULT_TIMEOUT_MS;
    }
    return (int)ceil(s * 1000.0);
}

/* Bytes from the kernel's random source (no file to open below launch/). */
static long os_random(void *buf, size_t len)
{
#ifdef HAVE_GETRANDOM
    return (long)getrandom(buf, len, 0);
#elif defined(SYS_getrandom)
    return syscall(SYS_getrandom, buf, len, 0);
#else
#error "Spin needs getrandom() for its keys"
#endif
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
        /* the key in plugin memory, and our copies of the seed: wiped */
        int zr = ctx->compute->mem_zero(ctx->compute_state, dev, sizeof w, NULL);
        int sr = ctx->compute->stream_sync(ctx->compute_state, NULL);
        if (!rc) rc = zr ? zr : sr;
        spin_mpc_buf_release(ctx, dev);
        explicit_bzero(&k, sizeof k);
        explicit_bzero(&nonce, sizeof nonce);
        if (!rc) memcpy(key->key, w, 16);
        explicit_bzero(w, sizeof w);
        return rc;
    }
    size_t got = 0;
    while (got < 16) {
        long r = os_random(key->key + got, 16 - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            MPC_ERR(ctx, "getrandom failed: %s", strerror(errno));
            return SPIN_ERR_IO;
        }
        got += (size_t)r;
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

/* The context's secrets (the fixed seed, the keys with the dealer and the
 * other parties, the dealer's party keys) wiped, then the context freed. */
static void ctx_wipe_free(spin_ctx_t *ctx)
{
    if (ctx->party_keys) explicit_bzero(ctx->party_keys, (size_t)ctx->nparties * sizeof *ctx->party_keys);
    free(ctx->party_keys);
    explicit_bzero(ctx, sizeof *ctx);
    free(ctx);
}

#define STR_(x) #x
#define STR(x) STR_(x)

/* The setup fingerprint every transport checks in its HELLO (plugin.h,
 * SPIN_FP_*): this build (a 48-bit FNV-1a of the Spin version and the
 * plugin ABI), the computing parties N and the fractional bits f.  One
 * message per peer checks the whole configuration. */
static uint64_t fingerprint(int nparties, unsigned frac_bits)
{
    const char *s = PACKAGE_VERSION "/spin-mpc/abi-" STR(SPIN_ABI_MAJOR) "." STR(SPIN_ABI_MINOR);
    uint64_t h = UINT64_C(1469598103934665603);
    for (; *s; s++) h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    uint64_t build = (h ^ (h >> 48)) & ((UINT64_C(1) << 48) - 1);   /* fold to 48 bits */
    return SPIN_FP_MAKE(build, nparties, frac_bits);
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
    spin_launch_peers_t peers;
    memset(&peers, 0, sizeof peers);
    char err[1024];
    int rc;

    /* The runtime first: every setting below is read through its getenv
     * hook (spin_runtime_env), never from the process environment directly. */
    rc = spin_runtime_open(o->runtime, &ctx->rt);
    if (rc) goto fail;
    ctx->log = spin_runtime_logger(ctx->rt);

    /* Where everyone listens, how many we are, who I am (spin/launch.h). */
    const char *const *endpoints = o->endpoints;
    if (!endpoints) {
        const char *pf = o->peers_file ? o->peers_file : spin_runtime_env(ctx->rt, "SPIN_PEERS_FILE");
        if (!pf) {
            MPC_ERR(ctx, "no peers: pass endpoints in the options, or a peers file (SPIN_PEERS_FILE; "
                         "spin-run writes one)");
            rc = SPIN_ERR_CONFIG;
            goto fail;
        }
        rc = spin_launch_peers_read(pf, &peers, err, sizeof err);
        if (rc) {
            MPC_ERR(ctx, "%s", err);
            goto fail;
        }
        endpoints = (const char *const *)peers.endpoints;
    }
    int n;
    rc = spin_launch_nparties(rt_env, ctx->rt, o->nparties, peers.endpoints ? &peers : NULL, &n, err,
                              sizeof err);
    if (rc) {
        MPC_ERR(ctx, "%s", err);
        goto fail;
    }
    int party = o->party;
    if (party < 0) {
        const char *var;
        rc = spin_launch_party(rt_env, ctx->rt, n, &party, &var, err, sizeof err);
        if (rc) {
            MPC_ERR(ctx, "%s%s", err, var ? "" : "; or pass the id in spin_ctx_opts_t.party "
                                             "(spin-run sets SPIN_PARTY)");
            goto fail;
        }
    }
    if (party > n) {
        MPC_ERR(ctx, "party id %d is out of range: parties are 0..%d and the dealer is %d", party, n - 1, n);
        rc = SPIN_ERR_CONFIG;
        goto fail;
    }
    ctx->party = party;
    ctx->nparties = n;
    ctx->dealer = party == n;

    long v;
    unsigned f = o->frac_bits;
    if (!f) {
        const char *s = spin_runtime_env(ctx->rt, "SPIN_FRAC_BITS");
        f = 16;
        if (s) {
            if (spin_launch_parse_int(s, 1, 30, &v)) {
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
    if (f > 21) /* products exact only below 2^(62-2f) < 2^20 (docs/PROTOCOLS.md, "Valid input ranges") */
        spin_log(ctx->log, SPIN_LOG_WARN, "f = %u fractional bits: a product x*y is exact only while |x*y| < "
                 "2^%u = %g, and x*x while |x| < 2^%u = %g; beyond, results are wrong (by 2^%u)", f,
                 62 - 2 * f, ldexp(1.0, 62 - 2 * (int)f), 31 - f, ldexp(1.0, 31 - (int)f), 64 - 2 * f);
    ctx->timeout_ms = resolve_timeout_ms(ctx, o->timeout_ms);
    const char *cr = spin_runtime_env(ctx->rt, "SPIN_CHECK_RANGES");
    if (cr && strcmp(cr, "0") != 0) {
        if (strcmp(cr, "1") != 0) {
            MPC_ERR(ctx, "SPIN_CHECK_RANGES=\"%s\" is neither 0 nor 1", cr);
            rc = SPIN_ERR_CONFIG;
            goto fail;
        }
        ctx->check_ranges = 1;
        spin_log(ctx->log, SPIN_LOG_WARN, "%s %d: SPIN_CHECK_RANGES=1 (development only): every truncation's "
                 "input is range-checked, which reveals one bit per element to party 0 and costs two "
                 "comparisons per truncation; every party must set it alike", party == n ? "dealer" : "party",
                 party);
    }
    if (o->fixed_seed) {
        ctx->fixed = 1;
        memcpy(ctx->fixed_seed, o->fixed_seed, 32);
        spin_log(ctx->log, SPIN_LOG_WARN, "party %d uses a fixed seed: its randomness is "
                                          "predictable (tests only)", party);
    }

    rc = spin_runtime_compute(ctx->rt, &ctx->compute_backend);
    if (rc) goto fail;
    /* The transport that takes these endpoints' schemes. */
    rc = spin_runtime_transport_for(ctx->rt, endpoints, n + 1, &ctx->transport_backend);
    if (rc) goto fail;
    ctx->compute = ctx->compute_backend.ops;
    ctx->compute_state = ctx->compute_backend.state;
    ctx->transport = ctx->transport_backend.ops;
    ctx->host_mem = !(ctx->compute_backend.desc->caps & SPIN_CAP_COMPUTE_DEVICE_MEM);

    spin_transport_cfg_t tc;
    memset(&tc, 0, sizeof tc);
    tc.struct_size = sizeof tc;
    tc.party = party;
    tc.nprocs = n + 1;
    tc.endpoints = endpoints;
    tc.timeout_ms = ctx->timeout_ms;
    tc.key_dir = o->key_dir ? o->key_dir : spin_runtime_env(ctx->rt, "SPIN_KEY_DIR");
    /* N, f and the build in one value: the transports' HELLO compares it,
     * so there is no configuration round of our own. */
    tc.fingerprint = fingerprint(n, f);
    /* ABI 1.1: the compute backend, so a transport can take its memory */
    tc.compute_name = ctx->compute_backend.desc->name;
    tc.compute_caps = ctx->compute_backend.desc->caps;
    tc.compute_ops = ctx->compute;
    tc.compute_state = ctx->compute_state;
    rc = ctx->transport->open(ctx->transport_backend.state, &tc, &ctx->comm);
    if (rc) {
        /* Our side of the configuration, so that a mismatch the transport
         * reported can be read from either party's log. */
        MPC_ERR(ctx, "%s %d: cannot connect to the other parties: %s (we run N = %d computing parties, "
                     "f = %u fractional bits, Spin %s, plugin ABI %d.%d)", ctx->dealer ? "dealer" : "party",
                party, spin_strerror(rc), n, f, PACKAGE_VERSION, SPIN_ABI_MAJOR, SPIN_ABI_MINOR);
        ctx->comm = NULL;
        goto fail;
    }
    if (!ctx->host_mem)
        spin_log(ctx->log, SPIN_LOG_INFO, "%s %d: openings and dealer corrections %s", ctx->dealer ? "dealer" : "party",
                 party, spin_mpc_dev_direct(ctx) ? "go between device memory and the transport directly (the "
                 "transport takes device memory)" : "are staged through host memory (the transport's "
                 "communicator takes host memory only)");
    rc = agree_keys(ctx);
    if (rc) goto fail;
    spin_launch_peers_free(&peers);
    *out = ctx;
    return 0;
fail:
    spin_launch_peers_free(&peers);
    if (ctx->comm) ctx->transport->close(ctx->comm);
    ctx->comm = NULL;
    spin_runtime_close(ctx->rt);
    ctx_wipe_free(ctx);
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
    ctx_wipe_free(ctx);
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
