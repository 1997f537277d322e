/* use_example.c - loads the backend SPIN_BACKEND names through the installed
 * libspin and adds two vectors with it: proof that an out-of-tree plugin
 * built with `pkg-config spin` loads and works. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <spin/spin.h>

int main(void)
{
    spin_runtime_t *rt;
    int rc = spin_runtime_open(NULL, &rt);
    if (rc) { fprintf(stderr, "open: %s\n", spin_strerror(rc)); return 1; }
    spin_backend_t be;
    rc = spin_runtime_compute(rt, &be);
    if (rc) { fprintf(stderr, "compute: %s\n", spin_strerror(rc)); spin_runtime_close(rt); return 1; }
    const spin_compute_ops_t *ops = be.ops;
    uint64_t x[4] = {1, 2, UINT64_MAX, 40}, y[4] = {10, 20, 2, 2}, z[4];
    void *dx, *dy, *dz;
    if (ops->mem_alloc(be.state, sizeof x, &dx) || ops->mem_alloc(be.state, sizeof y, &dy) ||
        ops->mem_alloc(be.state, sizeof z, &dz)) return 1;
    ops->copy_h2d(be.state, dx, x, sizeof x, NULL);
    ops->copy_h2d(be.state, dy, y, sizeof y, NULL);
    rc = ops->ring_binary(be.state, SPIN_RING_ADD, dz, dx, dy, 4, NULL);
    ops->copy_d2h(be.state, z, dz, sizeof z, NULL);
    ops->stream_sync(be.state, NULL);
    ops->mem_free(be.state, dx); ops->mem_free(be.state, dy); ops->mem_free(be.state, dz);
    int ok = rc == 0 && z[0] == 11 && z[1] == 22 && z[2] == 1 && z[3] == 42;
    printf("plugin %s: 1+10=%llu 2+20=%llu (2^64-1)+2=%llu 40+2=%llu: %s\n", be.desc->name,
           (unsigned long long)z[0], (unsigned long long)z[1], (unsigned long long)z[2],
           (unsigned long long)z[3], ok ? "ok" : "WRONG");
    spin_runtime_close(rt);
    return ok ? 0 : 1;
}
