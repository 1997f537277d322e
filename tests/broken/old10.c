/* Test plugin: a compute plugin built against plugin ABI 1.0, before
 * mem_export_dmabuf existed.  Its descriptor and ops table have the 1.0
 * sizes; the slot after them (here filled with a poison function, standing
 * for whatever follows the table in an old plugin's memory) must not be
 * read: the loader accepts the plugin and the core sees that op as NULL. */
#include "fake_ops.h"
__attribute__((unused)) static int poison(void *s, const void *p, size_t b, unsigned f, spin_dmabuf_t *o)
{
    FAKE_UNUSED(s); FAKE_UNUSED(p); FAKE_UNUSED(b); FAKE_UNUSED(f); FAKE_UNUSED(o);
    abort();
}
static const spin_compute_ops_t ops = {
    .mem_alloc = FAKE(int (*)(void *, size_t, void **)),
    .mem_free = FAKE(int (*)(void *, void *)),
    .copy_h2d = FAKE(int (*)(void *, void *, const void *, size_t, spin_stream_t *)),
    .copy_d2h = FAKE(int (*)(void *, void *, const void *, size_t, spin_stream_t *)),
    .copy_d2d = FAKE(int (*)(void *, void *, const void *, size_t, spin_stream_t *)),
    .mem_zero = FAKE(int (*)(void *, void *, size_t, spin_stream_t *)),
    .stream_create = FAKE(int (*)(void *, spin_stream_t **)),
    .stream_destroy = FAKE(int (*)(void *, spin_stream_t *)),
    .stream_sync = FAKE(int (*)(void *, spin_stream_t *)),
    .event_create = FAKE(int (*)(void *, spin_event_t **)),
    .event_destroy = FAKE(int (*)(void *, spin_event_t *)),
    .event_record = FAKE(int (*)(void *, spin_event_t *, spin_stream_t *)),
    .stream_wait_event = FAKE(int (*)(void *, spin_stream_t *, spin_event_t *)),
    .event_sync = FAKE(int (*)(void *, spin_event_t *)),
    .ring_binary = FAKE(int (*)(void *, spin_ring_binop_t, uint64_t *, const uint64_t *, const uint64_t *, size_t, spin_stream_t *)),
    .ring_scalar = FAKE(int (*)(void *, spin_ring_scalarop_t, uint64_t *, const uint64_t *, uint64_t, size_t, spin_stream_t *)),
    .ring_unary = FAKE(int (*)(void *, spin_ring_unop_t, uint64_t *, const uint64_t *, size_t, spin_stream_t *)),
    .ring_gemm = FAKE(int (*)(void *, const spin_gemm_t *, spin_stream_t *)),
    .im2col = FAKE(int (*)(void *, const spin_conv_geom_t *, void *, const void *, spin_stream_t *)),
    .col2im = FAKE(int (*)(void *, spin_dtype_t, const spin_conv_geom_t *, void *, const void *, spin_stream_t *)),
    .sum_axis = FAKE(int (*)(void *, spin_dtype_t, void *, const void *, size_t, size_t, size_t, int, spin_stream_t *)),
    .prg_fill = FAKE(int (*)(void *, const spin_prg_key_t *, uint64_t, uint64_t, uint64_t *, size_t, spin_stream_t *)),
    .ring_from_f64 = FAKE(int (*)(void *, uint64_t *, const double *, size_t, unsigned, spin_stream_t *)),
    .ring_to_f64 = FAKE(int (*)(void *, double *, const uint64_t *, size_t, unsigned, spin_stream_t *)),
    .mem_export_dmabuf = poison,
};
static const spin_plugin_desc_t desc = {
    .abi_major = 1, .abi_minor = 0,
    .struct_size = SPIN_PLUGIN_DESC_SIZE_1_0, .kind = SPIN_PLUGIN_COMPUTE,
    .name = "old10", .version = "test", .description = "loader test plugin (ABI 1.0)",
    .caps = SPIN_CAP_COMPUTE_DEVICE_MEM, .init = fake_init_ok, .fini = fake_fini,
    .ops = &ops, .ops_size = SPIN_COMPUTE_OPS_SIZE_1_0,
};
SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);
const spin_plugin_desc_t *spin_plugin_query(void) { return &desc; }
