/* runtime.c - runtime object and backend selection (SPIN_BACKEND). */
#include "config.h"
#include "runtime/runtime.h"

#include <stdatomic.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *env_getenv(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

const char *spin_runtime_env(const spin_runtime_t *rt, const char *name)
{
    const char *v = rt->getenv(rt->env_ctx, name);
    return v && v[0] ? v : NULL;
}

static const char *kind_name(int kind)
{
    return kind == SPIN_PLUGIN_COMPUTE ? "compute"
         : kind == SPIN_PLUGIN_TRANSPORT ? "transport" : "unknown";
}

static const char *status_name(spin_plugin_status_t s)
{
    switch (s) {
    case SPIN_PLUGIN_LOADED: return "loaded";
    case SPIN_PLUGIN_READY: return "ready";
    case SPIN_PLUGIN_UNAVAILABLE: return "unavailable";
    case SPIN_PLUGIN_FAILED: return "failed";
    case SPIN_PLUGIN_REJECTED: return "rejected";
    case SPIN_PLUGIN_EXCLUDED: return "excluded";
    }
    return "?";
}

static int valid_name(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
            return 0;
    return 1;
}

/* Parse SPIN_BACKEND into include/exclude lists. */
static int parse_backend(spin_runtime_t *rt)
{
    char *copy = strdup(rt->backend_spec);
    if (!copy) return SPIN_ERR_NOMEM;
    int rc = 0;
    char *save = NULL;
    if (rt->backend_spec[0] && strspn(rt->backend_spec, " ,") == strlen(rt->backend_spec)) {
        spin_log(&rt->logger, SPIN_LOG_ERROR,
                 "SPIN_BACKEND=\"%s\" names no plugin: give names like \"cpu,tcp\" or unset it",
                 rt->backend_spec);
        free(copy);
        return SPIN_ERR_CONFIG;
    }
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        size_t len = strlen(tok);
        while (len && tok[len - 1] == ' ') tok[--len] = '\0';
        int excl = tok[0] == '^';
        const char *name = excl ? tok + 1 : tok;
        if (!valid_name(name)) {
            spin_log(&rt->logger, SPIN_LOG_ERROR,
                     "SPIN_BACKEND=\"%s\": \"%s\" is not a plugin name (expected "
                     "lower-case names like cpu or tcp, optionally prefixed by ^ "
                     "to exclude, separated by commas)",
                     rt->backend_spec, tok);
            rc = SPIN_ERR_CONFIG;
            break;
        }
        char **list = excl ? rt->exclude : rt->include;
        size_t *nl = excl ? &rt->n_exclude : &rt->n_include;
        if (*nl == SPIN_MAX_BACKEND_NAMES) {
            spin_log(&rt->logger, SPIN_LOG_ERROR, "SPIN_BACKEND names more than %d plugins",
                     SPIN_MAX_BACKEND_NAMES);
            rc = SPIN_ERR_CONFIG;
            break;
        }
        list[*nl] = strdup(name);
        if (!list[*nl]) { rc = SPIN_ERR_NOMEM; break; }
        (*nl)++;
    }
    free(copy);
    for (size_t i = 0; rc == 0 && i < rt->n_include; i++)
        for (size_t j = 0; j < rt->n_exclude; j++)
            if (strcmp(rt->include[i], rt->exclude[j]) == 0) {
                spin_log(&rt->logger, SPIN_LOG_ERROR,
                         "SPIN_BACKEND=\"%s\" both names and excludes %s",
                         rt->backend_spec, rt->include[i]);
                rc = SPIN_ERR_CONFIG;
            }
    return rc;
}

static spin_plugin_rec_t *find_rec(spin_runtime_t *rt, const char *name)
{
    spin_plugin_rec_t *any = NULL;
    for (size_t i = 0; i < rt->nrecs; i++) {
        if (strcmp(rt->recs[i].name, name) != 0) continue;
        if (rt->recs[i].desc) return &rt->recs[i];
        if (!any) any = &rt->recs[i];
    }
    return any;
}

/* Append "  name (kind): status: why\n" for every plugin to buf. */
static void inventory(const spin_runtime_t *rt, char *buf, size_t len)
{
    size_t off = strlen(buf);
    if (rt->nrecs == 0 && off < len)
        off += (size_t)snprintf(buf + off, len - off, "  (no plugin files found)\n");
    for (size_t i = 0; i < rt->nrecs && off < len; i++) {
        const spin_plugin_rec_t *r = &rt->recs[i];
        int st = (int)r->info.status;
        off += (size_t)snprintf(buf + off, len - off, "  %s (%s): %s%s%s\n", r->name,
                                r->desc ? kind_name((int)r->desc->kind) : "?",
                                status_name((spin_plugin_status_t)st),
                                r->why[0] ? ": " : "", r->why);
    }
    if (off < len)
        snprintf(buf + off, len - off, "  plugin search path: %s", rt->search_path);
}

int spin_runtime_open(const spin_runtime_opts_t *opts, spin_runtime_t **out)
{
    if (!out) return SPIN_ERR_INVAL;
    spin_runtime_t *rt = calloc(1, sizeof *rt);
    if (!rt) return SPIN_ERR_NOMEM;
    int rc;
    rt->getenv = opts && opts->getenv ? opts->getenv : env_getenv;
    rt->env_ctx = opts ? opts->env_ctx : NULL;
    rt->selected[0] = rt->selected[1] = rt->selected[2] = -1;

    /* Logger. */
    if (opts && opts->log) {
        rt->logger = *opts->log;
        if (opts->log->prefix) {
            snprintf(rt->log_prefix, sizeof rt->log_prefix, "%s", opts->log->prefix);
            rt->logger.prefix = rt->log_prefix;
        }
    } else {
        rt->logger.level = SPIN_LOG_INFO;
        const char *lv = spin_runtime_env(rt, "SPIN_LOG_LEVEL");
        if (lv) {
            int l = spin_log_level_parse(lv);
            if (l < 0)
                spin_log(&rt->logger, SPIN_LOG_WARN,
                         "SPIN_LOG_LEVEL=\"%s\" is not one of error, warn, info, debug; using info", lv);
            else
                rt->logger.level = (spin_log_level_t)l;
        }
    }
    rt->host.struct_size = sizeof rt->host;
    rt->host.log = &rt->logger;
    rt->host.getenv = rt->getenv;
    rt->host.env_ctx = rt->env_ctx;

    /* Search path: SPIN_PLUGIN_PATH, then the installed directory. */
    const char *pp = opts && opts->plugin_path ? opts->plugin_path : spin_runtime_env(rt, "SPIN_PLUGIN_PATH");
    int nodef = opts && opts->no_default_path;
    size_t plen = (pp ? strlen(pp) : 0) + strlen(SPIN_PLUGINDIR) + 2;
    rt->search_path = malloc(plen);
    if (!rt->search_path) { rc = SPIN_ERR_NOMEM; goto fail; }
    if (pp && !nodef) snprintf(rt->search_path, plen, "%s:%s", pp, SPIN_PLUGINDIR);
    else if (pp) snprintf(rt->search_path, plen, "%s", pp);
    else if (!nodef) snprintf(rt->search_path, plen, "%s", SPIN_PLUGINDIR);
    else rt->search_path[0] = '\0';

    const char *be = opts && opts->backend ? opts->backend : spin_runtime_env(rt, "SPIN_BACKEND");
    rt->backend_spec = strdup(be ? be : "");
    if (!rt->backend_spec) { rc = SPIN_ERR_NOMEM; goto fail; }
    rc = parse_backend(rt);
    if (rc) goto fail;

    rc = spin_loader_scan(&rt->logger, rt->search_path, &rt->recs, &rt->nrecs);
    if (rc) goto fail;

    for (size_t i = 0; i < rt->n_exclude; i++) {
        for (size_t j = 0; j < rt->nrecs; j++)
            if (strcmp(rt->recs[j].name, rt->exclude[i]) == 0 && rt->recs[j].desc) {
                rt->recs[j].info.status = SPIN_PLUGIN_EXCLUDED;
                snprintf(rt->recs[j].why, sizeof rt->recs[j].why, "excluded by SPIN_BACKEND=\"%s\"",
                         rt->backend_spec);
            }
    }
    /* Every named plugin must exist and be loadable. */
    for (size_t i = 0; i < rt->n_include; i++) {
        spin_plugin_rec_t *r = find_rec(rt, rt->include[i]);
        if (r && r->desc) continue;
        char inv[4096];
        snprintf(inv, sizeof inv, "%s", "");
        inventory(rt, inv, sizeof inv);
        if (!r)
            spin_log(&rt->logger, SPIN_LOG_ERROR,
                     "SPIN_BACKEND=\"%s\" names plugin \"%s\", which was not found. "
                     "Available plugins:\n%s\nremedy: fix the name, or add the "
                     "directory of spin_%s.so to SPIN_PLUGIN_PATH",
                     rt->backend_spec, rt->include[i], inv, rt->include[i]);
        else
            spin_log(&rt->logger, SPIN_LOG_ERROR,
                     "SPIN_BACKEND=\"%s\" names plugin \"%s\", which cannot be loaded: "
                     "%s. Available plugins:\n%s",
                     rt->backend_spec, rt->include[i], r->why, inv);
        rc = SPIN_ERR_CONFIG;
        goto fail;
    }
    *out = rt;
    return 0;
fail:
    spin_runtime_close(rt);
    return rc;
}

void spin_runtime_close(spin_runtime_t *rt)
{
    if (!rt) return;
    spin_loader_release(rt->recs, rt->nrecs);
    for (size_t i = 0; i < rt->n_include; i++) free(rt->include[i]);
    for (size_t i = 0; i < rt->n_exclude; i++) free(rt->exclude[i]);
    free(rt->infos);
    free(rt->search_path);
    free(rt->backend_spec);
    free(rt);
}

const spin_logger_t *spin_runtime_logger(const spin_runtime_t *rt)
{
    return rt ? &rt->logger : NULL;
}

const char *spin_runtime_search_path(const spin_runtime_t *rt)
{
    return rt ? rt->search_path : NULL;
}

/* Preference for auto-selection, from capabilities, not names: a compute
 * plugin with device memory (a GPU) first, then one with the float64
 * reference; a transport that can authenticate and encrypt its links first.
 * Ties keep search order.  Transports that do not take the endpoints'
 * schemes are not candidates at all (scheme_ok). */
static int preference(const spin_plugin_rec_t *r)
{
    uint64_t caps = r->desc->caps;
    if (r->desc->kind == SPIN_PLUGIN_COMPUTE)
        return (caps & SPIN_CAP_COMPUTE_DEVICE_MEM) ? 0 : (caps & SPIN_CAP_COMPUTE_F64) ? 1 : 2;
    return (caps & SPIN_CAP_TRANSPORT_SECURE) ? 0 : 1;
}

/* Does the space-separated scheme list take endpoint ep ("scheme://...")?
 * On failure, the scheme it lacks goes into miss. */
static int scheme_ok(const char *schemes, const char *ep, char *miss, size_t misslen)
{
    const char *sep = strstr(ep, "://");
    size_t len = sep ? (size_t)(sep - ep) : strlen(ep);
    for (const char *s = schemes; *s;) {
        while (*s == ' ') s++;
        size_t w = strcspn(s, " ");
        if (w && w == len && strncmp(s, ep, len) == 0) return 1;
        s += w;
    }
    snprintf(miss, misslen, "%.*s", (int)(len < 32 ? len : 32), ep);
    return 0;
}

/* The first endpoint scheme of eps that r does not take (miss), or 1. */
static int takes_all(const spin_plugin_rec_t *r, const char *const *eps, int neps, char *miss, size_t misslen)
{
    for (int i = 0; i < neps; i++)
        if (eps[i] && !scheme_ok(r->schemes, eps[i], miss, misslen)) return 0;
    return 1;
}

/* Auto-selection is logged at info level once per process and kind (a
 * benchmark opens hundreds of contexts), at debug level after that: the one
 * piece of process-wide state in the core, and it only affects logging. */
static _Atomic int auto_logged[3];

static void fill_backend(spin_runtime_t *rt, int kind, size_t idx)
{
    spin_plugin_rec_t *r = &rt->recs[idx];
    rt->selected[kind] = (int)idx;
    rt->backend[kind].desc = r->desc;
    rt->backend[kind].ops = kind == SPIN_PLUGIN_COMPUTE ? (const void *)&r->ops.compute
                                                        : (const void *)&r->ops.transport;
    rt->backend[kind].state = r->state;
    rt->backend[kind].path = r->path;
    r->info.selected = 1;
}

static int select_kind(spin_runtime_t *rt, int kind, const char *const *eps, int neps, spin_backend_t *out)
{
    if (!rt || !out) return SPIN_ERR_INVAL;
    if (rt->selected[kind] >= 0) {
        *out = rt->backend[kind];
        return 0;
    }
    size_t cand[64];
    size_t nc = 0;
    int named = 0;
    for (size_t i = 0; i < rt->n_include && nc < 64; i++) {
        spin_plugin_rec_t *r = find_rec(rt, rt->include[i]);
        if (r && r->desc && (int)r->desc->kind == kind) cand[nc++] = (size_t)(r - rt->recs);
    }
    if (nc) {
        named = 1;
    } else {
        for (size_t i = 0; i < rt->nrecs && nc < 64; i++) {
            spin_plugin_rec_t *r = &rt->recs[i];
            if (r->desc && (int)r->desc->kind == kind && r->info.status != SPIN_PLUGIN_EXCLUDED)
                cand[nc++] = i;
        }
        /* Stable sort by preference, then search order. */
        for (size_t i = 1; i < nc; i++)
            for (size_t j = i; j > 0 && preference(&rt->recs[cand[j]]) <
                                        preference(&rt->recs[cand[j - 1]]); j--) {
                size_t t = cand[j]; cand[j] = cand[j - 1]; cand[j - 1] = t;
            }
    }
    int first_rc = SPIN_ERR_UNAVAILABLE;
    char skipped[1024] = "";
    for (size_t c = 0; c < nc; c++) {
        spin_plugin_rec_t *r = &rt->recs[cand[c]];
        char miss[40];
        if (kind == SPIN_PLUGIN_TRANSPORT && !takes_all(r, eps, neps, miss, sizeof miss)) {
            size_t off = strlen(skipped);
            snprintf(skipped + off, sizeof skipped - off, "%s%s: does not take %s:// endpoints (takes %s)",
                     off ? "; " : "", r->name, miss, r->schemes);
            if (c == 0) first_rc = SPIN_ERR_CONFIG;
            continue;
        }
        int rc = spin_loader_init(r, &rt->host);
        if (rc == 0) {
            fill_backend(rt, kind, cand[c]);
            if (named && skipped[0])
                spin_log(&rt->logger, SPIN_LOG_WARN, "using %s plugin %s; skipped: %s",
                         kind_name(kind), r->name, skipped);
            else if (!named)
                spin_log(&rt->logger, atomic_exchange(&auto_logged[kind], 1) ? SPIN_LOG_DEBUG : SPIN_LOG_INFO,
                         "auto-selected %s plugin %s (%s)%s%s; set SPIN_BACKEND to choose",
                         kind_name(kind), r->name, r->path, skipped[0] ? "; skipped: " : "",
                         skipped);
            *out = rt->backend[kind];
            return 0;
        }
        if (c == 0) first_rc = rc;
        size_t off = strlen(skipped);
        snprintf(skipped + off, sizeof skipped - off, "%s%s: %s", off ? "; " : "", r->name, r->why);
    }
    char inv[4096] = "";
    inventory(rt, inv, sizeof inv);
    if (first_rc == SPIN_ERR_CONFIG && skipped[0])
        spin_log(&rt->logger, SPIN_LOG_ERROR,
                 "no %s plugin takes these endpoints (%s)%s%s: name one that does in SPIN_BACKEND, "
                 "or write the peers file for the transport you use",
                 kind_name(kind), skipped, named ? "; SPIN_BACKEND=" : "", named ? rt->backend_spec : "");
    else if (named)
        spin_log(&rt->logger, SPIN_LOG_ERROR,
                 "no %s plugin named in SPIN_BACKEND=\"%s\" could be initialised. Plugins:\n%s",
                 kind_name(kind), rt->backend_spec, inv);
    else
        spin_log(&rt->logger, SPIN_LOG_ERROR,
                 "no %s plugin could be initialised. Plugins:\n%s\nremedy: build one "
                 "(see the configure summary) or add its directory to SPIN_PLUGIN_PATH",
                 kind_name(kind), inv);
    return nc ? first_rc : SPIN_ERR_UNAVAILABLE;
}

int spin_runtime_compute(spin_runtime_t *rt, spin_backend_t *out)
{
    return select_kind(rt, SPIN_PLUGIN_COMPUTE, NULL, 0, out);
}

int spin_runtime_transport(spin_runtime_t *rt, spin_backend_t *out)
{
    return select_kind(rt, SPIN_PLUGIN_TRANSPORT, NULL, 0, out);
}

int spin_runtime_transport_for(spin_runtime_t *rt, const char *const *endpoints, int n, spin_backend_t *out)
{
    if (n < 0 || (n > 0 && !endpoints)) return SPIN_ERR_INVAL;
    return select_kind(rt, SPIN_PLUGIN_TRANSPORT, endpoints, n, out);
}

int spin_runtime_probe(spin_runtime_t *rt)
{
    if (!rt) return SPIN_ERR_INVAL;
    for (size_t i = 0; i < rt->nrecs; i++) {
        spin_plugin_rec_t *r = &rt->recs[i];
        if (!r->desc || r->state || r->info.status == SPIN_PLUGIN_EXCLUDED) continue;
        if (spin_loader_init(r, &rt->host) == 0) {
            r->desc->fini(r->state);
            r->state = NULL;
        }
    }
    return 0;
}

int spin_runtime_plugins(const spin_runtime_t *crt, const spin_plugin_info_t **list, size_t *n)
{
    if (!crt || !list || !n) return SPIN_ERR_INVAL;
    spin_runtime_t *rt = (spin_runtime_t *)crt; /* the snapshot is a cache */
    spin_plugin_info_t *v = calloc(rt->nrecs ? rt->nrecs : 1, sizeof *v);
    if (!v) return SPIN_ERR_NOMEM;
    for (size_t i = 0; i < rt->nrecs; i++) v[i] = rt->recs[i].info;
    free(rt->infos);
    rt->infos = v;
    *list = v;
    *n = rt->nrecs;
    return 0;
}

void spin_caps_string(int kind, uint64_t caps, char *buf, size_t len)
{
    static const struct { uint64_t bit; int kind; const char *name; } names[] = {
        {SPIN_CAP_COMPUTE_DEVICE_MEM, SPIN_PLUGIN_COMPUTE, "device-memory"},
        {SPIN_CAP_COMPUTE_ASYNC, SPIN_PLUGIN_COMPUTE, "async"},
        {SPIN_CAP_COMPUTE_F64, SPIN_PLUGIN_COMPUTE, "f64"},
        {SPIN_CAP_TRANSPORT_DEVICE_MEM, SPIN_PLUGIN_TRANSPORT, "device-memory"},
        {SPIN_CAP_TRANSPORT_SECURE, SPIN_PLUGIN_TRANSPORT, "secure-links"},
    };
    if (!buf || !len) return;
    buf[0] = '\0';
    size_t off = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && off < len; i++)
        if ((caps & names[i].bit) && names[i].kind == kind)
            off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? " " : "", names[i].name);
    if (off == 0) snprintf(buf, len, "-");
}
