/* Test plugin: a transport plugin built against plugin ABI 1.0, before
 * comm_caps existed (1.0-sized descriptor and ops table; the slot after
 * the table is poisoned and must not be read: the core sees NULL). */
#include "fake_ops.h"
__attribute__((unused)) static uint64_t poison(void *comm)
{
    FAKE_UNUSED(comm);
    abort();
}
static const spin_transport_ops_t ops = {
    .open = FAKE(int (*)(void *, const spin_transport_cfg_t *, void **)),
    .close = FAKE(void (*)(void *)),
    .send = FAKE(int (*)(void *, int, uint32_t, const void *, size_t)),
    .recv = FAKE(int (*)(void *, int, uint32_t, void *, size_t)),
    .isend = FAKE(int (*)(void *, int, uint32_t, const void *, size_t, spin_request_t **)),
    .irecv = FAKE(int (*)(void *, int, uint32_t, void *, size_t, spin_request_t **)),
    .wait = FAKE(int (*)(void *, spin_request_t *)),
    .stats = FAKE(int (*)(void *, int, spin_transport_stats_t *)),
    .comm_caps = poison,
};
static const spin_plugin_desc_t desc = {
    .abi_major = 1, .abi_minor = 0,
    .struct_size = SPIN_PLUGIN_DESC_SIZE_1_0, .kind = SPIN_PLUGIN_TRANSPORT,
    .name = "old10net", .version = "test", .description = "loader test plugin (ABI 1.0)",
    .caps = 0, .init = fake_init_ok, .fini = fake_fini,
    .ops = &ops, .ops_size = SPIN_TRANSPORT_OPS_SIZE_1_0,
};
SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);
const spin_plugin_desc_t *spin_plugin_query(void) { return &desc; }
