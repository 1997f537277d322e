/* example_plugin.c - a third-party compute plugin, built out of tree against
 * the installed Spin headers:
 *
 *   cc -std=c11 -fPIC -shared $(pkg-config --cflags spin) \
 *      -o spin_example.so example_plugin.c $(pkg-config --libs spin)
 *   SPIN_PLUGIN_PATH=$PWD SPIN_BACKEND=example spin-info
 *
 * It keeps data in host memory and runs every op synchronously with plain C
 * loops: a starting point, not a fast backend.  Ops it does not implement
 * return SPIN_ERR_NOTSUP (mandatory slots must still be filled).  See
 * docs/PLUGINS.md for the rules every plugin follows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <spin/plugin.h>

typedef struct ex_state {
    const spin_plugin_host_t *host;
} ex_state_t;

struct spin_stream { int unused; };
struct spin_event { int unused; };

static int ex_init(const spin_plugin_host_t *host, void **state, char *why, size_t len)
{
    (void)why; (void)len;
    ex_state_t *st = calloc(1, sizeof *st);
    if (!st) return SPIN_ERR_NOMEM;
    st->host = host;
    spin_log(host->log, SPIN_LOG_DEBUG, "example plugin initialised");
    *state = st;
    return 0;
}

static void ex_fini(void *state) { free(state); }

static int ex_alloc(void *s, size_t n, void **p)
{
    (void)s;
    *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
    return *p ? 0 : SPIN_ERR_NOMEM;
}
static int ex_free(void *s, void *p) { (void)s; free(p); return 0; }
static int ex_copy(void *s, void *d, const void *src, size_t n, spin_stream_t *st)
{
    (void)s; (void)st;
    if (n) memmove(d, src, n);
    return 0;
}
static int ex_zero(void *s, void *d, size_t n, spin_stream_t *st)
{
    (void)s; (void)st;
    if (n) memset(d, 0, n);
    return 0;
}
static int ex_stream_create(void *s, spin_stream_t **st)
{
    (void)s;
    *st = calloc(1, sizeof **st);
    return *st ? 0 : SPIN_ERR_NOMEM;
}
static int ex_stream_destroy(void *s, spin_stream_t *st) { (void)s; free(st); return 0; }
static int ex_stream_sync(void *s, spin_stream_t *st) { (void)s; (void)st; return 0; }
static int ex_event_create(void *s, spin_event_t **e)
{
    (void)s;
    *e = calloc(1, sizeof **e);
    return *e ? 0 : SPIN_ERR_NOMEM;
}
static int ex_event_destroy(void *s, spin_event_t *e) { (void)s; free(e); return 0; }
static int ex_event_record(void *s, spin_event_t *e, spin_stream_t *st) { (void)s; (void)e; (void)st; return 0; }
static int ex_wait_event(void *s, spin_stream_t *st, spin_event_t *e) { (void)s; (void)e; (void)st; return 0; }
static int ex_event_sync(void *s, spin_event_t *e) { (void)s; (void)e; return 0; }

static int ex_binary(void *s, spin_ring_binop_t op, uint64_t *z, const uint64_t *x,
                     const uint64_t *y, size_t n, spin_stream_t *st)
{
    (void)st;
    for (size_t i = 0; i < n; i++) {
        switch (op) {
        case SPIN_RING_ADD: z[i] = x[i] + y[i]; break;
        case SPIN_RING_SUB: z[i] = x[i] - y[i]; break;
        case SPIN_RING_MUL: z[i] = x[i] * y[i]; break;
        case SPIN_RING_AND: z[i] = x[i] & y[i]; break;
        case SPIN_RING_XOR: z[i] = x[i] ^ y[i]; break;
        case SPIN_RING_OR: z[i] = x[i] | y[i]; break;
        default:
            spin_log(((ex_state_t *)s)->host->log, SPIN_LOG_ERROR, "example: unknown ring op %d", (int)op);
            return SPIN_ERR_INVAL;
        }
    }
    return 0;
}

/* Everything else: not implemented by this example. */
static int ex_notsup(void) { return SPIN_ERR_NOTSUP; }
#define NOTSUP(type) ((type)(void (*)(void))ex_notsup)

static const spin_compute_ops_t ex_ops = {
    .mem_alloc = ex_alloc, .mem_free = ex_free,
    .copy_h2d = ex_copy, .copy_d2h = ex_copy, .copy_d2d = ex_copy, .mem_zero = ex_zero,
    .stream_create = ex_stream_create, .stream_destroy = ex_stream_destroy,
    .stream_sync = ex_stream_sync, .event_create = ex_event_create,
    .event_destroy = ex_event_destroy, .event_record = ex_event_record,
    .stream_wait_event = ex_wait_event, .event_sync = ex_event_sync,
    .ring_binary = ex_binary,
    .ring_scalar = NOTSUP(int (*)(void *, spin_ring_scalarop_t, uint64_t *, const uint64_t *, uint64_t, size_t, spin_stream_t *)),
    .ring_unary = NOTSUP(int (*)(void *, spin_ring_unop_t, uint64_t *, const uint64_t *, size_t, spin_stream_t *)),
    .ring_gemm = NOTSUP(int (*)(void *, const spin_gemm_t *, spin_stream_t *)),
    .im2col = NOTSUP(int (*)(void *, const spin_conv_geom_t *, void *, const void *, spin_stream_t *)),
    .col2im = NOTSUP(int (*)(void *, spin_dtype_t, const spin_conv_geom_t *, void *, const void *, spin_stream_t *)),
    .sum_axis = NOTSUP(int (*)(void *, spin_dtype_t, void *, const void *, size_t, size_t, size_t, int, spin_stream_t *)),
    .prg_fill = NOTSUP(int (*)(void *, const spin_prg_key_t *, uint64_t, uint64_t, uint64_t *, size_t, spin_stream_t *)),
    .ring_from_f64 = NOTSUP(int (*)(void *, uint64_t *, const double *, size_t, unsigned, spin_stream_t *)),
    .ring_to_f64 = NOTSUP(int (*)(void *, double *, const uint64_t *, size_t, unsigned, spin_stream_t *)),
    /* f64 ops left NULL: SPIN_CAP_COMPUTE_F64 is not claimed. */
};

static const spin_plugin_desc_t ex_desc = {
    .abi_major = SPIN_ABI_MAJOR,
    .abi_minor = SPIN_ABI_MINOR,
    .struct_size = sizeof(spin_plugin_desc_t),
    .kind = SPIN_PLUGIN_COMPUTE,
    .name = "example",
    .version = "1.0",
    .description = "out-of-tree example compute plugin (plain C loops)",
    .caps = 0,
    .init = ex_init,
    .fini = ex_fini,
    .ops = &ex_ops,
    .ops_size = sizeof ex_ops,
};

SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);
const spin_plugin_desc_t *spin_plugin_query(void)
{
    return &ex_desc;
}
