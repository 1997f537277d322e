/* Test plugin: built for another ABI major version.  The loader must reject
 * it with "was built for plugin ABI 2.0 ... major versions differ". */
#include "fake_ops.h"
static const spin_compute_ops_t ops = FAKE_COMPUTE_OPS_INIT;
static const spin_plugin_desc_t desc =
    FAKE_DESC("badmajor", SPIN_PLUGIN_COMPUTE, SPIN_ABI_MAJOR + 1, 0, 0, fake_init_ok, ops);
SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);
const spin_plugin_desc_t *spin_plugin_query(void) { return &desc; }
