/* Test plugin: claims SPIN_CAP_COMPUTE_F64 but has no f64 ops.  Rejected
 * with "claims capability f64 but op f64_gemm is NULL". */
#include "fake_ops.h"
static const spin_compute_ops_t ops = FAKE_COMPUTE_OPS_INIT;
static const spin_plugin_desc_t desc =
    FAKE_DESC("capmismatch", SPIN_PLUGIN_COMPUTE, SPIN_ABI_MAJOR, SPIN_ABI_MINOR,
              SPIN_CAP_COMPUTE_F64, fake_init_ok, ops);
SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);
const spin_plugin_desc_t *spin_plugin_query(void) { return &desc; }
