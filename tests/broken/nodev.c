/* Test plugin: init reports "no such device here" (SPIN_ERR_UNAVAILABLE),
 * as a GPU or RDMA plugin does on a machine without the hardware. */
#include <stdio.h>
#include "fake_ops.h"
static int init_nodev(const spin_plugin_host_t *host, void **state, char *why, size_t len)
{
    (void)host; (void)state;
    snprintf(why, len, "no test device present");
    return SPIN_ERR_UNAVAILABLE;
}
static const spin_compute_ops_t ops = FAKE_COMPUTE_OPS_INIT;
static const spin_plugin_desc_t desc =
    FAKE_DESC("nodev", SPIN_PLUGIN_COMPUTE, SPIN_ABI_MAJOR, SPIN_ABI_MINOR, 0, init_nodev, ops);
SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);
const spin_plugin_desc_t *spin_plugin_query(void) { return &desc; }
