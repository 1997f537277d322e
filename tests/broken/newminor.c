/* Test plugin: needs a newer ABI minor than the core has.  Rejected with
 * "needs plugin ABI 1.<minor+1>, newer than this Spin's". */
#include "fake_ops.h"
static const spin_compute_ops_t ops = FAKE_COMPUTE_OPS_INIT;
static const spin_plugin_desc_t desc =
    FAKE_DESC("newminor", SPIN_PLUGIN_COMPUTE, SPIN_ABI_MAJOR, SPIN_ABI_MINOR + 1, 0, fake_init_ok, ops);
SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);
const spin_plugin_desc_t *spin_plugin_query(void) { return &desc; }
