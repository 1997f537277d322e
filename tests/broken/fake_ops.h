/* fake_ops.h - a complete but inert ops table for the loader's test
 * plugins.  Every op returns SPIN_ERR_NOTSUP: these plugins exist only to
 * exercise the loader's checks, never to compute. */
#ifndef SPIN_FAKE_OPS_H
#define SPIN_FAKE_OPS_H

#include <stdlib.h>
#include <string.h>
#include <spin/plugin.h>

#define FAKE_UNUSED(x) (void)(x)

__attribute__((unused)) static int fake_any(void) { return SPIN_ERR_NOTSUP; }
/* Cast an inert function to each op type (same calling convention for our
 * purpose: these are never called by the loader tests). */
#define FAKE(type) ((type)(void (*)(void))fake_any)

__attribute__((unused)) static int fake_init_ok(const spin_plugin_host_t *host, void **state, char *why, size_t len)
{
    FAKE_UNUSED(host); FAKE_UNUSED(why); FAKE_UNUSED(len);
    *state = malloc(1);
    return *state ? 0 : SPIN_ERR_NOMEM;
}

__attribute__((unused)) static void fake_fini(void *state) { free(state); }

#define FAKE_COMPUTE_OPS_INIT { \
    .mem_alloc = FAKE(int (*)(void *, size_t, void **)), \
    .mem_free = FAKE(int (*)(void *, void *)), \
    .copy_h2d = FAKE(int (*)(void *, void *, const void *, size_t, spin_stream_t *)), \
    .copy_d2h = FAKE(int (*)(void *, void *, const void *, size_t, spin_stream_t *)), \
    .copy_d2d = FAKE(int (*)(void *, void *, const void *, size_t, spin_stream_t *)), \
    .mem_zero = FAKE(int (*)(void *, void *, size_t, spin_stream_t *)), \
    .stream_create = FAKE(int (*)(void *, spin_stream_t **)), \
    .stream_destroy = FAKE(int (*)(void *, spin_stream_t *)), \
    .stream_sync = FAKE(int (*)(void *, spin_stream_t *)), \
    .event_create = FAKE(int (*)(void *, spin_event_t **)), \
    .event_destroy = FAKE(int (*)(void *, spin_event_t *)), \
    .event_record = FAKE(int (*)(void *, spin_event_t *, spin_stream_t *)), \
    .stream_wait_event = FAKE(int (*)(void *, spin_stream_t *, spin_event_t *)), \
    .event_sync = FAKE(int (*)(void *, spin_event_t *)), \
    .ring_binary = FAKE(int (*)(void *, spin_ring_binop_t, uint64_t *, const uint64_t *, const uint64_t *, size_t, spin_stream_t *)), \
    .ring_scalar = FAKE(int (*)(void *, spin_ring_scalarop_t, uint64_t *, const uint64_t *, uint64_t, size_t, spin_stream_t *)), \
    .ring_unary = FAKE(int (*)(void *, spin_ring_unop_t, uint64_t *, const uint64_t *, size_t, spin_stream_t *)), \
    .ring_gemm = FAKE(int (*)(void *, const spin_gemm_t *, spin_stream_t *)), \
    .im2col = FAKE(int (*)(void *, const spin_conv_geom_t *, void *, const void *, spin_stream_t *)), \
    .col2im = FAKE(int (*)(void *, spin_dtype_t, const spin_conv_geom_t *, void *, const void *, spin_stream_t *)), \
    .sum_axis = FAKE(int (*)(void *, spin_dtype_t, void *, const void *, size_t, size_t, size_t, int, spin_stream_t *)), \
    .prg_fill = FAKE(int (*)(void *, const spin_prg_key_t *, uint64_t, uint64_t, uint64_t *, size_t, spin_stream_t *)), \
    .ring_from_f64 = FAKE(int (*)(void *, uint64_t *, const double *, size_t, unsigned, spin_stream_t *)), \
    .ring_to_f64 = FAKE(int (*)(void *, double *, const uint64_t *, size_t, unsigned, spin_stream_t *)), \
}

#define FAKE_TRANSPORT_OPS_INIT { \
    .open = FAKE(int (*)(void *, const spin_transport_cfg_t *, void **)), \
    .close = FAKE(void (*)(void *)), \
    .send = FAKE(int (*)(void *, int, uint32_t, const void *, size_t)), \
    .recv = FAKE(int (*)(void *, int, uint32_t, void *, size_t)), \
    .isend = FAKE(int (*)(void *, int, uint32_t, const void *, size_t, spin_request_t **)), \
    .irecv = FAKE(int (*)(void *, int, uint32_t, void *, size_t, spin_request_t **)), \
    .wait = FAKE(int (*)(void *, spin_request_t *)), \
    .stats = FAKE(int (*)(void *, int, spin_transport_stats_t *)), \
}

/* A descriptor with the given ABI numbers, init function and ops. */
#define FAKE_DESC(NAME, KIND, MAJOR, MINOR, CAPS, INIT, OPS) { \
    .abi_major = (MAJOR), .abi_minor = (MINOR), \
    .struct_size = sizeof(spin_plugin_desc_t), .kind = (KIND), \
    .name = (NAME), .version = "test", .description = "loader test plugin", \
    .caps = (CAPS), .init = (INIT), .fini = fake_fini, \
    .ops = &(OPS), .ops_size = sizeof(OPS) }

#endif
