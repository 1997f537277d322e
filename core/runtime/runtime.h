/* runtime.h - the runtime object (internal layout). */
#ifndef SPIN_RUNTIME_H
#define SPIN_RUNTIME_H

#include <spin/spin.h>
#include "runtime/loader.h"

#define SPIN_MAX_BACKEND_NAMES 16

struct spin_runtime {
    spin_logger_t logger;
    char log_prefix[32];
    const char *(*getenv)(void *env_ctx, const char *name);
    void *env_ctx;
    spin_plugin_host_t host;

    char *search_path;
    char *backend_spec;              /* copy of SPIN_BACKEND, "" if unset */
    char *include[SPIN_MAX_BACKEND_NAMES];
    size_t n_include;
    char *exclude[SPIN_MAX_BACKEND_NAMES];
    size_t n_exclude;

    spin_plugin_rec_t *recs;
    size_t nrecs;
    spin_plugin_info_t *infos;       /* snapshot for spin_runtime_plugins */

    int selected[3];                 /* index by kind; -1 if none */
    spin_backend_t backend[3];
};

/* The variable `name` through the runtime's getenv hook (the environment
 * unless spin_runtime_opts_t set one); NULL when unset or empty. */
const char *spin_runtime_env(const spin_runtime_t *rt, const char *name);

#endif
