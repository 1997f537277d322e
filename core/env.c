/* env.c - the one table of environment variables Spin reads.
 * Every variable read anywhere in Spin (core or bundled plugins) is listed
 * here with its help text; spin-info prints this table. */
#include "config.h"

#include <spin/spin.h>

static const spin_env_var_t env_table[] = {
    {"SPIN_BACKEND", NULL,
     "Backends to use, comma-separated, e.g. \"cpu,tcp\". Per kind the named "
     "plugins are tried in order and the first that initialises is used; none "
     "working is a hard error. \"^name\" excludes a plugin from auto-selection. "
     "Unset: auto-select (one info line names the choice)."},
    {"SPIN_PLUGIN_PATH", NULL,
     "Colon-separated directories searched for plugins (spin_*.so) before the "
     "installed plugin directory."},
    {"SPIN_LOG_LEVEL", "info", "Log verbosity: error, warn, info or debug."},
    {"SPIN_TIMEOUT", "60",
     "Seconds a peer may stay silent before the transport reports an error "
     "naming it (tcp plugin)."},
    {"OMP_NUM_THREADS", NULL,
     "Threads used by the cpu plugin's kernels (OpenMP); default: all cores."},
};

const spin_env_var_t *spin_env_vars(size_t *n)
{
    if (n) *n = sizeof env_table / sizeof env_table[0];
    return env_table;
}
