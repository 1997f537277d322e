/* Test plugin: a mandatory op (ring_gemm) is NULL.  Rejected with
 * "mandatory op ring_gemm is NULL". */
#include "fake_ops.h"
static spin_compute_ops_t make_ops(void)
{
    spin_compute_ops_t o = FAKE_COMPUTE_OPS_INIT;
    o.ring_gemm = NULL;
    return o;
}
static spin_compute_ops_t ops;
static spin_plugin_desc_t desc;
SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);
const spin_plugin_desc_t *spin_plugin_query(void)
{
    ops = make_ops();
    spin_plugin_desc_t d = FAKE_DESC("nullop", SPIN_PLUGIN_COMPUTE, SPIN_ABI_MAJOR,
                                     SPIN_ABI_MINOR, 0, fake_init_ok, ops);
    desc = d;
    return &desc;
}
