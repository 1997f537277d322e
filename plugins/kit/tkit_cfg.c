/*
 * tkit_cfg.c - plugin state, the checks of open() and the communicator
 * header (tkit.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tkit.h"

#define LOGE(log, ...) spin_log((log), SPIN_LOG_ERROR, __VA_ARGS__)

double spin_tkit_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* ------------------------------------------------------------------------ */
/* Plugin state.                                                            */
/* ------------------------------------------------------------------------ */

void *spin_tkit_state_new(const spin_plugin_host_t *host, size_t size, char *why, size_t whylen)
{
    spin_tkit_state_t *st = size >= sizeof *st ? calloc(1, size) : NULL;
    if (!st) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    st->host = host;
    st->log = host ? host->log : NULL;
    return st;
}

int spin_tkit_init(const spin_plugin_host_t *host, void **state, char *why, size_t whylen)
{
    void *st = spin_tkit_state_new(host, sizeof(spin_tkit_state_t), why, whylen);
    if (!st) return SPIN_ERR_NOMEM;
    *state = st;
    return SPIN_OK;
}

void spin_tkit_fini(void *state)
{
    free(state);
}

/* ------------------------------------------------------------------------ */
/* open(): configuration checks.                                            */
/* ------------------------------------------------------------------------ */

static const char *schemes_of(const spin_plugin_desc_t *desc)
{
    /* plugin.h: NULL, or a descriptor older than ABI 1.2, means "tcp ipc" */
    if (desc->abi_minor >= 2 && desc->struct_size >= SPIN_PLUGIN_DESC_SIZE_1_2 &&
        desc->endpoint_schemes && desc->endpoint_schemes[0])
        return desc->endpoint_schemes;
    return "tcp ipc";
}

/* Is the scheme s (len bytes) one of the space-separated words of list? */
static int scheme_listed(const char *list, const char *s, size_t len)
{
    for (const char *w = list; *w;) {
        while (*w == ' ') w++;
        size_t wl = strcspn(w, " ");
        if (wl && wl == len && memcmp(w, s, len) == 0) return 1;
        w += wl;
    }
    return 0;
}

/* "tcp:// or ipc://" from "tcp ipc". */
static void schemes_text(const char *list, char *out, size_t outlen)
{
    size_t off = 0;
    int k = 0;
    out[0] = '\0';
    for (const char *w = list; *w && off < outlen;) {
        while (*w == ' ') w++;
        size_t wl = strcspn(w, " ");
        if (wl) {
            int r = snprintf(out + off, outlen - off, "%s%.*s://", k++ ? " or " : "", (int)wl, w);
            if (r < 0) break;
            off += (size_t)r;
        }
        w += wl;
    }
}

static int check_endpoint(const spin_plugin_desc_t *desc, const spin_logger_t *log, int me,
                          const char *e, int i)
{
    const char *name = desc->name;
    if (!e || !*e) {
        LOGE(log, "%s: party %d: no endpoint given for party %d: list one endpoint per party "
                  "(and the dealer last)", name, me, i);
        return SPIN_ERR_CONFIG;
    }
    const char *list = schemes_of(desc);
    char acc[128];
    schemes_text(list, acc, sizeof acc);
    const char *sep = strstr(e, "://");
    if (!sep || sep == e) {
        LOGE(log, "%s: party %d: endpoint \"%s\" of party %d is not SCHEME://ADDRESS; the %s "
                  "transport accepts %s", name, me, e, i, name, acc);
        return SPIN_ERR_CONFIG;
    }
    size_t sl = (size_t)(sep - e);
    if (!scheme_listed(list, e, sl)) {
        LOGE(log, "%s: party %d: endpoint \"%s\" of party %d has the scheme %.*s://, which the %s "
                  "transport does not accept (it accepts %s): give every party endpoints of those "
                  "schemes, or use a transport that accepts %.*s:// (SPIN_BACKEND)",
             name, me, e, i, (int)sl, e, name, acc, (int)sl, e);
        return SPIN_ERR_CONFIG;
    }
    return 0;
}

int spin_tkit_check(const spin_plugin_desc_t *desc, const spin_tkit_state_t *st,
                    const spin_transport_cfg_t *cfg, void *const *out, int max_parties)
{
    const char *name = desc->name;
    const spin_logger_t *log = st ? st->log : NULL;
    if (!st || !cfg || !out) {
        LOGE(log, "%s: open: NULL argument", name);
        return SPIN_ERR_INVAL;
    }
    if (cfg->struct_size < SPIN_TRANSPORT_CFG_SIZE_1_0) {
        LOGE(log, "%s: open: configuration struct too small (%u bytes, ABI 1.0 has %zu): the "
                  "caller was built against another spin/plugin.h", name, cfg->struct_size,
             (size_t)SPIN_TRANSPORT_CFG_SIZE_1_0);
        return SPIN_ERR_INVAL;
    }
    if (cfg->nprocs < 2 || cfg->nprocs > max_parties || cfg->party < 0 ||
        cfg->party >= cfg->nprocs) {
        LOGE(log, "%s: open: party %d of %d parties is out of range: the %s transport links 2 to "
                  "%d parties, numbered from 0", name, cfg->party, cfg->nprocs, name,
             max_parties);
        return SPIN_ERR_INVAL;
    }
    if (cfg->key_dir && cfg->key_dir[0] && !(desc->caps & SPIN_CAP_TRANSPORT_SECURE)) {
        LOGE(log, "%s: party %d: key directory %s given, but %s links are not encrypted or "
                  "authenticated: use the tcp plugin (SPIN_BACKEND=tcp) for encrypted links, or "
                  "unset SPIN_KEY_DIR on a trusted network", name, cfg->party, cfg->key_dir, name);
        return SPIN_ERR_NOTSUP;
    }
    if (!cfg->endpoints) {
        LOGE(log, "%s: party %d: open: no endpoint list", name, cfg->party);
        return SPIN_ERR_CONFIG;
    }
    for (int i = 0; i < cfg->nprocs; i++) {
        int rc = check_endpoint(desc, log, cfg->party, cfg->endpoints[i], i);
        if (rc) return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The communicator header.                                                 */
/* ------------------------------------------------------------------------ */

void *spin_tkit_comm_new(const spin_plugin_desc_t *desc, const spin_tkit_state_t *st,
                         const spin_transport_cfg_t *cfg, size_t size)
{
    spin_tkit_comm_t *k = size >= sizeof *k ? calloc(1, size) : NULL;
    if (!k) return NULL;
    k->stats = calloc((size_t)cfg->nprocs, sizeof *k->stats);
    if (!k->stats) {
        free(k);
        return NULL;
    }
    k->desc = desc;
    k->name = desc->name;
    k->log = st->log;
    k->me = cfg->party;
    k->n = cfg->nprocs;
    k->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : SPIN_TKIT_DEFAULT_TIMEOUT_MS;
    k->fingerprint = cfg->fingerprint;
    return k;
}

void spin_tkit_comm_free(void *comm)
{
    spin_tkit_comm_t *k = comm;
    if (!k) return;
    while (k->live) { /* requests never waited for: cancelled */
        spin_tkit_req_t *r = k->live;
        k->live = r->lnext;
        free(r);
    }
    free(k->stats);
    free(k);
}

int spin_tkit_check_peer(const spin_tkit_comm_t *k, const char *op, int peer)
{
    if (peer < 0 || peer >= k->n) {
        LOGE(k->log, "%s: %s: party %d does not exist (%d parties)", k->name, op, peer, k->n);
        return SPIN_ERR_INVAL;
    }
    if (peer == k->me) {
        LOGE(k->log, "%s: %s: party %d cannot exchange messages with itself", k->name, op, peer);
        return SPIN_ERR_INVAL;
    }
    return 0;
}
