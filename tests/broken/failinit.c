/* Test plugin: valid, but init fails with SPIN_ERR_IO and a reason.
 * Selecting it explicitly is a hard error that lists every plugin. */
#include <stdio.h>
#include "fake_ops.h"
static int init_fail(const spin_plugin_host_t *host, void **state, char *why, size_t len)
{
    (void)host; (void)state;
    snprintf(why, len, "simulated initialisation failure (test plugin)");
    return SPIN_ERR_IO;
}
static const spin_compute_ops_t ops = FAKE_COMPUTE_OPS_INIT;
static const spin_plugin_desc_t desc =
    FAKE_DESC("failinit", SPIN_PLUGIN_COMPUTE, SPIN_ABI_MAJOR, SPIN_ABI_MINOR, 0, init_fail, ops);
SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);
const spin_plugin_desc_t *spin_plugin_query(void) { return &desc; }
