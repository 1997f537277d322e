/* loader.c - the plugin loader: dlopen, descriptor and ops checks, init.
 *
 * Policy (see docs/PLUGINS.md):
 *   - dlopen with RTLD_NOW | RTLD_LOCAL, so an undefined symbol shows now
 *     (and RTLD_NODELETE: runtimes of OpenMP/ZeroMQ threads are never
 *     unmapped under a thread still running in them);
 *   - a file that exists but fails to load is a warning with dlerror();
 *   - ABI major must match, a plugin's minor may not exceed the core's;
 *   - mandatory ops must be non-NULL; capability bits must agree with ops;
 *   - the first plugin of a name in search order wins, later ones are
 *     recorded as shadowed.
 */
#include "config.h"
#include "runtime/loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct op_slot {
    size_t offset;
    const char *name;
} op_slot_t;

#define COMPUTE_OP(f) {offsetof(spin_compute_ops_t, f), #f}
static const op_slot_t compute_mandatory[] = {
    COMPUTE_OP(mem_alloc), COMPUTE_OP(mem_free), COMPUTE_OP(copy_h2d),
    COMPUTE_OP(copy_d2h), COMPUTE_OP(copy_d2d), COMPUTE_OP(mem_zero),
    COMPUTE_OP(stream_create), COMPUTE_OP(stream_destroy),
    COMPUTE_OP(stream_sync), COMPUTE_OP(event_create),
    COMPUTE_OP(event_destroy), COMPUTE_OP(event_record),
    COMPUTE_OP(stream_wait_event), COMPUTE_OP(event_sync),
    COMPUTE_OP(ring_binary), COMPUTE_OP(ring_scalar), COMPUTE_OP(ring_unary),
    COMPUTE_OP(ring_gemm), COMPUTE_OP(im2col), COMPUTE_OP(col2im),
    COMPUTE_OP(sum_axis), COMPUTE_OP(prg_fill), COMPUTE_OP(ring_from_f64),
    COMPUTE_OP(ring_to_f64),
};
static const op_slot_t compute_f64[] = {
    COMPUTE_OP(f64_gemm), COMPUTE_OP(f64_binary), COMPUTE_OP(f64_scalar),
    COMPUTE_OP(f64_unary),
};
#define TRANSPORT_OP(f) {offsetof(spin_transport_ops_t, f), #f}
static const op_slot_t transport_mandatory[] = {
    TRANSPORT_OP(open), TRANSPORT_OP(close), TRANSPORT_OP(send),
    TRANSPORT_OP(recv), TRANSPORT_OP(isend), TRANSPORT_OP(irecv),
    TRANSPORT_OP(wait), TRANSPORT_OP(stats),
};
#define NSLOTS(a) (sizeof(a) / sizeof((a)[0]))

static int slot_is_null(const void *ops, const op_slot_t *s)
{
    void (*fn)(void);
    memcpy(&fn, (const char *)ops + s->offset, sizeof fn);
    return fn == NULL;
}

static void set_why(spin_plugin_rec_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_why(spin_plugin_rec_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

static void reject(const spin_logger_t *lg, spin_plugin_rec_t *r)
{
    r->info.status = SPIN_PLUGIN_REJECTED;
    spin_log(lg, SPIN_LOG_WARN, "%s", r->why);
    /* Keep the message short in the inventory: it is shown beside the path. */
    if (r->dl) {
        dlclose(r->dl);
        r->dl = NULL;
    }
    r->desc = NULL;
}

/* Check the descriptor and copy the ops table.  Returns 0 if valid. */
static int check_desc(const spin_logger_t *lg, spin_plugin_rec_t *r,
                      const spin_plugin_desc_t *d)
{
    if (d->abi_major != SPIN_ABI_MAJOR) {
        set_why(r, "plugin file %s was built for plugin ABI %u.%u, but this "
                   "Spin has ABI %u.%u (major versions differ): rebuild the "
                   "plugin against this Spin's headers",
                r->path, d->abi_major, d->abi_minor, SPIN_ABI_MAJOR, SPIN_ABI_MINOR);
        return -1;
    }
    if (d->abi_minor > SPIN_ABI_MINOR) {
        set_why(r, "plugin file %s needs plugin ABI %u.%u, newer than this "
                   "Spin's %u.%u: upgrade Spin or use a plugin built for it",
                r->path, d->abi_major, d->abi_minor, SPIN_ABI_MAJOR, SPIN_ABI_MINOR);
        return -1;
    }
    if (d->struct_size < SPIN_PLUGIN_DESC_SIZE_1_0) {
        set_why(r, "plugin file %s has a descriptor of %u bytes, smaller than "
                   "ABI 1.0's %zu: it is corrupt or not a Spin plugin",
                r->path, d->struct_size, (size_t)SPIN_PLUGIN_DESC_SIZE_1_0);
        return -1;
    }
    if (!d->name || !d->name[0] || strlen(d->name) >= sizeof r->name) {
        set_why(r, "plugin file %s has no valid name in its descriptor", r->path);
        return -1;
    }
    snprintf(r->name, sizeof r->name, "%s", d->name);
    if (!d->init || !d->fini || !d->ops) {
        set_why(r, "plugin %s (%s): mandatory descriptor field %s is NULL",
                r->name, r->path, !d->init ? "init" : !d->fini ? "fini" : "ops");
        return -1;
    }
    const op_slot_t *mand;
    size_t nmand, full, min;
    void *dst;
    if (d->kind == SPIN_PLUGIN_COMPUTE) {
        mand = compute_mandatory; nmand = NSLOTS(compute_mandatory);
        full = sizeof(spin_compute_ops_t); min = SPIN_COMPUTE_OPS_SIZE_1_0;
        dst = &r->ops.compute;
    } else if (d->kind == SPIN_PLUGIN_TRANSPORT) {
        mand = transport_mandatory; nmand = NSLOTS(transport_mandatory);
        full = sizeof(spin_transport_ops_t); min = SPIN_TRANSPORT_OPS_SIZE_1_0;
        dst = &r->ops.transport;
    } else {
        set_why(r, "plugin %s (%s) has unknown kind %u (expected compute=1 or "
                   "transport=2)", r->name, r->path, d->kind);
        return -1;
    }
    if (d->ops_size < min) {
        set_why(r, "plugin %s (%s) has an ops table of %u bytes, smaller than "
                   "ABI 1.0's %zu: it is corrupt",
                r->name, r->path, d->ops_size, min);
        return -1;
    }
    memset(dst, 0, full);
    memcpy(dst, d->ops, d->ops_size < full ? d->ops_size : full);
    for (size_t i = 0; i < nmand; i++) {
        if (slot_is_null(dst, &mand[i])) {
            set_why(r, "plugin %s (%s): mandatory op %s is NULL: the plugin "
                       "is incomplete",
                    r->name, r->path, mand[i].name);
            return -1;
        }
    }
    if (d->kind == SPIN_PLUGIN_COMPUTE) {
        int has_cap = (d->caps & SPIN_CAP_COMPUTE_F64) != 0;
        for (size_t i = 0; i < NSLOTS(compute_f64); i++) {
            int null = slot_is_null(dst, &compute_f64[i]);
            if (has_cap && null) {
                set_why(r, "plugin %s (%s) claims capability f64 but op %s is "
                           "NULL: capability bits disagree with the ops",
                        r->name, r->path, compute_f64[i].name);
                return -1;
            }
        }
    }
    r->info.name = r->name;
    r->info.kind = (int)d->kind;
    r->info.version = d->version ? d->version : "";
    r->info.description = d->description ? d->description : "";
    r->info.caps = d->caps;
    r->info.abi_major = d->abi_major;
    r->schemes = "tcp ipc";
    if (d->kind == SPIN_PLUGIN_TRANSPORT && d->abi_minor >= 2 && d->struct_size >= SPIN_PLUGIN_DESC_SIZE_1_2 &&
        d->endpoint_schemes && d->endpoint_schemes[0])
        r->schemes = d->endpoint_schemes;
    r->info.abi_minor = d->abi_minor;
    (void)lg;
    return 0;
}

static void load_one(const spin_logger_t *lg, spin_plugin_rec_t *r)
{
    r->info.status = SPIN_PLUGIN_REJECTED;
    r->info.path = r->path;
    r->info.name = r->name;
    r->info.why = r->why;
    dlerror();
    r->dl = dlopen(r->path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!r->dl) {
        const char *e = dlerror();
        set_why(r, "plugin file %s cannot be loaded: %s", r->path,
                e ? e : "unknown dlopen error");
        reject(lg, r);
        return;
    }
    dlerror();
    void *sym = dlsym(r->dl, SPIN_PLUGIN_QUERY_SYMBOL);
    if (!sym) {
        set_why(r, "plugin file %s does not export %s(): it is not a Spin "
                   "plugin; remove it from the plugin path",
                r->path, SPIN_PLUGIN_QUERY_SYMBOL);
        reject(lg, r);
        return;
    }
    spin_plugin_query_fn q;
    memcpy(&q, &sym, sizeof q);
    const spin_plugin_desc_t *d = q();
    if (!d) {
        set_why(r, "plugin file %s: %s() returned NULL", r->path,
                SPIN_PLUGIN_QUERY_SYMBOL);
        reject(lg, r);
        return;
    }
    if (check_desc(lg, r, d) != 0) {
        reject(lg, r);
        return;
    }
    r->desc = d;
    r->why[0] = '\0';
    r->info.status = SPIN_PLUGIN_LOADED;
    spin_log(lg, SPIN_LOG_DEBUG, "loaded plugin %s %s from %s", r->name,
             r->info.version, r->path);
}

static int is_plugin_file(const char *n)
{
    size_t len = strlen(n);
    return strncmp(n, "spin_", 5) == 0 && len > 8 && strcmp(n + len - 3, ".so") == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collect the sorted spin_*.so names of one directory. */
static int list_dir(const char *dir, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_plugin_file(e->d_name)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            char **nn = realloc(*names, cap * sizeof *nn);
            if (!nn) goto fail_nomem;
            *names = nn;
        }
        (*names)[*n] = strdup(e->d_name);
        if (!(*names)[*n]) goto fail_nomem;
        (*n)++;
    }
    closedir(d);
    if (*n) qsort(*names, *n, sizeof **names, cmp_str);
    return 0;
fail_nomem:
    closedir(d);
    for (size_t i = 0; i < *n; i++) free((*names)[i]);
    free(*names);
    *names = NULL;
    *n = 0;
    return SPIN_ERR_NOMEM;
}

int spin_loader_scan(const spin_logger_t *lg, const char *dirs,
                     spin_plugin_rec_t **recs, size_t *n)
{
    spin_plugin_rec_t *v = NULL;
    size_t nv = 0, cap = 0;
    char *copy = strdup(dirs ? dirs : "");
    if (!copy) return SPIN_ERR_NOMEM;
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            spin_log(lg, SPIN_LOG_DEBUG, "plugin directory %s does not exist; skipped", dir);
            continue;
        }
        char **names;
        size_t nn;
        if (list_dir(dir, &names, &nn) != 0) goto fail_nomem;
        for (size_t i = 0; i < nn; i++) {
            if (nv == cap) {
                cap = cap ? 2 * cap : 8;
                spin_plugin_rec_t *nvv = realloc(v, cap * sizeof *nvv);
                if (!nvv) {
                    for (size_t j = i; j < nn; j++) free(names[j]);
                    free(names);
                    goto fail_nomem;
                }
                v = nvv;
            }
            spin_plugin_rec_t *r = &v[nv];
            memset(r, 0, sizeof *r);
            size_t plen = strlen(dir) + strlen(names[i]) + 2;
            r->path = malloc(plen);
            if (!r->path) {
                for (size_t j = i; j < nn; j++) free(names[j]);
                free(names);
                goto fail_nomem;
            }
            snprintf(r->path, plen, "%s/%s", dir, names[i]);
            /* Name from the file until the descriptor says otherwise. */
            size_t blen = strlen(names[i]) - 8; /* "spin_" + ".so" */
            if (blen >= sizeof r->name) blen = sizeof r->name - 1;
            memcpy(r->name, names[i] + 5, blen);
            r->name[blen] = '\0';
            free(names[i]);
            nv++;
            load_one(lg, r);
            /* Relocate the info pointers (the array may move later). */
        }
        free(names);
    }
    free(copy);
    /* Shadowing: the first valid plugin of a name wins. */
    for (size_t i = 0; i < nv; i++) {
        if (v[i].info.status != SPIN_PLUGIN_LOADED) continue;
        for (size_t j = 0; j < i; j++) {
            if (v[j].info.status == SPIN_PLUGIN_LOADED && strcmp(v[j].name, v[i].name) == 0) {
                set_why(&v[i], "shadowed by %s (same plugin name, earlier in the search path)",
                        v[j].path);
                spin_log(lg, SPIN_LOG_DEBUG, "plugin file %s: %s", v[i].path, v[i].why);
                v[i].info.status = SPIN_PLUGIN_REJECTED;
                dlclose(v[i].dl);
                v[i].dl = NULL;
                v[i].desc = NULL;
                break;
            }
        }
    }
    for (size_t i = 0; i < nv; i++) {
        v[i].info.path = v[i].path;
        v[i].info.name = v[i].name;
        v[i].info.why = v[i].why;
    }
    *recs = v;
    *n = nv;
    return 0;
fail_nomem:
    free(copy);
    spin_loader_release(v, nv);
    return SPIN_ERR_NOMEM;
}

int spin_loader_init(spin_plugin_rec_t *r, const spin_plugin_host_t *host)
{
    if (r->state) return 0;
    if (!r->desc) return SPIN_ERR_ABI;
    char why[SPIN_WHY_LEN];
    why[0] = '\0';
    void *state = NULL;
    int rc = r->desc->init(host, &state, why, sizeof why);
    why[sizeof why - 1] = '\0';
    if (rc == 0 && !state) {
        rc = SPIN_ERR_INTERNAL;
        snprintf(why, sizeof why, "init returned success but no state");
    }
    if (rc != 0) {
        if (rc > 0) rc = SPIN_ERR_INTERNAL;
        if (!why[0]) snprintf(why, sizeof why, "%s", spin_strerror(rc));
        snprintf(r->why, sizeof r->why, "%s", why);
        r->info.status = rc == SPIN_ERR_UNAVAILABLE ? SPIN_PLUGIN_UNAVAILABLE
                                                    : SPIN_PLUGIN_FAILED;
        return rc;
    }
    r->state = state;
    r->why[0] = '\0';
    r->info.status = SPIN_PLUGIN_READY;
    return 0;
}

void spin_loader_release(spin_plugin_rec_t *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        spin_plugin_rec_t *r = &recs[i];
        if (r->state && r->desc) r->desc->fini(r->state);
        r->state = NULL;
        if (r->dl) dlclose(r->dl);
        free(r->path);
    }
    free(recs);
}
