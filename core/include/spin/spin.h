/*
 * spin/spin.h - the Spin API.
 *
 * A runtime (spin_runtime_t) finds, loads and selects the backend plugins
 * (one compute plugin, one transport plugin) and owns the logger.  There is
 * no global mutable state: several runtimes can live in one process (tests
 * run several parties as threads), each with its own plugin instances.
 *
 * Backend selection (see docs/ARCHITECTURE.md):
 *   SPIN_BACKEND       comma list, e.g. "cpu,tcp"; "^name" excludes a plugin
 *                      from auto-selection.  Per kind, the named plugins are
 *                      tried in the order given; if none initialises, that is
 *                      a hard error listing every plugin and why it failed.
 *                      A named plugin that is not found at all is a hard
 *                      error at spin_runtime_open().  Kinds not named are
 *                      auto-selected (one info line says which).
 *   SPIN_PLUGIN_PATH   colon list of directories searched first; then the
 *                      installed plugin directory (pkg-config --variable=
 *                      plugindir spin).
 */
#ifndef SPIN_SPIN_H
#define SPIN_SPIN_H

#include <stddef.h>
#include <stdint.h>

#include <spin/errors.h>
#include <spin/log.h>
#include <spin/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Library version, "MAJOR.MINOR.PATCH". */
SPIN_API const char *spin_version(void);

/* ------------------------------------------------------------------------ */
/* Environment variables: one table, printed by spin-info.                  */
/* ------------------------------------------------------------------------ */

typedef struct spin_env_var {
    const char *name;
    const char *default_value;   /**< as text; NULL if none */
    const char *help;
} spin_env_var_t;

/** The table of every environment variable Spin reads; *n gets its length. */
SPIN_API const spin_env_var_t *spin_env_vars(size_t *n);

/* ------------------------------------------------------------------------ */
/* Runtime.                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct spin_runtime spin_runtime_t;

typedef struct spin_runtime_opts {
    uint32_t struct_size;        /**< sizeof(spin_runtime_opts_t) */
    const char *backend;         /**< overrides SPIN_BACKEND when non-NULL */
    const char *plugin_path;     /**< overrides SPIN_PLUGIN_PATH when non-NULL */
    /** Log configuration; NULL: stderr, level from SPIN_LOG_LEVEL (info).
     *  The runtime copies it. */
    const spin_logger_t *log;
    /** Configuration lookup replacing getenv() (tests); NULL: getenv. */
    const char *(*getenv)(void *env_ctx, const char *name);
    void *env_ctx;
    /** Do not search the installed plugin directory (tests). */
    int no_default_path;
} spin_runtime_opts_t;

/** Discover plugins.  opts may be NULL.  Fails (SPIN_ERR_CONFIG) when
 *  SPIN_BACKEND is malformed or names a plugin that is not found. */
SPIN_API int spin_runtime_open(const spin_runtime_opts_t *opts, spin_runtime_t **out);
SPIN_API void spin_runtime_close(spin_runtime_t *rt);

/** The runtime's logger (valid until close). */
SPIN_API const spin_logger_t *spin_runtime_logger(const spin_runtime_t *rt);

/** A selected, initialised backend. */
typedef struct spin_backend {
    const spin_plugin_desc_t *desc;
    const void *ops;             /**< spin_compute_ops_t / spin_transport_ops_t */
    void *state;                 /**< pass as first argument of the ops */
    const char *path;            /**< file it was loaded from */
} spin_backend_t;

/** Select and initialise the compute (or transport) backend; idempotent.
 *  *out stays valid until spin_runtime_close(). */
SPIN_API int spin_runtime_compute(spin_runtime_t *rt, spin_backend_t *out);
SPIN_API int spin_runtime_transport(spin_runtime_t *rt, spin_backend_t *out);
/** The transport for these n endpoints ("scheme://..."): only a transport
 *  whose descriptor lists every endpoint's scheme (plugin.h,
 *  endpoint_schemes) is taken; one named in SPIN_BACKEND that does not is
 *  an error naming the scheme.  n = 0 is spin_runtime_transport. */
SPIN_API int spin_runtime_transport_for(spin_runtime_t *rt, const char *const *endpoints, int n,
                                        spin_backend_t *out);

/* Plugin inventory (for spin-info and error messages). */
typedef enum spin_plugin_status {
    SPIN_PLUGIN_LOADED = 0,      /**< valid, not initialised yet */
    SPIN_PLUGIN_READY = 1,       /**< initialised successfully */
    SPIN_PLUGIN_UNAVAILABLE = 2, /**< init: no device/driver (why says) */
    SPIN_PLUGIN_FAILED = 3,      /**< init failed (why says) */
    SPIN_PLUGIN_REJECTED = 4,    /**< dlopen/ABI/ops check failed (why says) */
    SPIN_PLUGIN_EXCLUDED = 5     /**< excluded by ^name in SPIN_BACKEND */
} spin_plugin_status_t;

typedef struct spin_plugin_info {
    const char *name;            /**< from the descriptor, or the file name */
    const char *path;
    int kind;                    /**< spin_plugin_kind_t, 0 if unknown */
    const char *version;         /**< NULL if rejected */
    const char *description;
    uint64_t caps;
    uint32_t abi_major, abi_minor;
    spin_plugin_status_t status;
    const char *why;             /**< reason for the status ("" if none) */
    int selected;                /**< 1 if it is this runtime's backend */
} spin_plugin_info_t;

/** Initialise (and finalise again) every loaded plugin that is not
 *  selected yet, so that its availability and reason are known. */
SPIN_API int spin_runtime_probe(spin_runtime_t *rt);

/** Every plugin file found, in search order.  Valid until close. */
SPIN_API int spin_runtime_plugins(const spin_runtime_t *rt,
                         const spin_plugin_info_t **list, size_t *n);

/** The directories searched, colon-separated.  Valid until close. */
SPIN_API const char *spin_runtime_search_path(const spin_runtime_t *rt);

/** Names of capability bits set in caps, space-separated, into buf. */
SPIN_API void spin_caps_string(int kind, uint64_t caps, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SPIN_SPIN_H */
