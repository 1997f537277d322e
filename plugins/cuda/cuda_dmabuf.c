/*
 * cuda_dmabuf.c - mem_export_dmabuf (plugin ABI 1.1): device memory of the
 * caching allocator as a dma-buf, for transports that register GPU memory
 * with the NIC (GPUDirect RDMA: ibv_reg_dmabuf_mr in the rdma plugin).
 *
 * A query (SPIN_DMABUF_QUERY) finds the live block that holds the range
 * (cuda_alloc_find) and reports its page-aligned range and id: the id
 * changes with every cudaMalloc, so a registration kept for one block is
 * never used for another block at the same address.  An export asks the
 * driver: cuMemGetAddressRange for the CUDA allocation that holds the
 * block, then cuMemGetHandleForAddressRange(CU_MEM_RANGE_HANDLE_TYPE_
 * DMA_BUF_FD) over it (it must be aligned to the host page size: large
 * allocations are; a small one that the driver packed with others is not,
 * and that export fails with SPIN_ERR_NOTSUP, so the transport copies that
 * buffer instead).  The plugin does not link libcuda: the driver API is
 * looked up with dlopen("libcuda.so.1") / dlsym on the first export, so the
 * plugin still builds and loads on machines without a driver.  The
 * emulated GPU (emu/cuda_emu.c) has its own cuda_drv_dmabuf over a memfd.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cuda_internal.h"

static size_t host_page(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

int cuda_mem_export_dmabuf(void *state, const void *ptr, size_t bytes,
                           unsigned flags, spin_dmabuf_t *out)
{
    cuda_state_t *st = state;
    if (!st || !ptr || !out || out->struct_size < sizeof *out) return SPIN_ERR_INVAL;
    const cuda_block_t *b = cuda_alloc_find(st, ptr, bytes);
    if (!b) return SPIN_ERR_INVAL; /* not this instance's memory: no log */
    const size_t ps = host_page();
    const uintptr_t s = (uintptr_t)b->ptr / ps * ps;
    const uintptr_t e = ((uintptr_t)b->ptr + b->size + ps - 1) / ps * ps;
    out->fd = -1;
    out->base = (const void *)s;
    out->size = (size_t)(e - s);
    out->offset = 0;
    out->id = b->id;
    if (flags & SPIN_DMABUF_QUERY) return SPIN_OK;
    cudaStream_t cs;
    int rc = cuda_enter(st, "mem_export_dmabuf", NULL, &cs);
    if (rc) return rc;
    char why[256] = "";
    rc = cuda_drv_dmabuf(st, b, out, why, sizeof why);
    if (rc) {
        out->fd = -1;
        /* once per instance at info (the transport says what it does
         * instead), then at debug */
        spin_log(st->host ? st->host->log : NULL,
                 st->export_warned ? SPIN_LOG_DEBUG : SPIN_LOG_INFO,
                 "cuda: cannot export %zu bytes of device memory at %p as a dma-buf: %s",
                 b->size, b->ptr, why);
        st->export_warned = 1;
    }
    return rc;
}

#ifndef SPIN_CUDA_EMU
/* The driver API's values (cuda.h), so this file needs no libcuda. */
#define DRV_SUCCESS 0
#define DRV_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD 1

static const char *drv_err(const cuda_state_t *st, int e)
{
    const char *n = NULL;
    if (st->drv_error_name && st->drv_error_name(e, &n) == DRV_SUCCESS && n) return n;
    return "CUDA driver error";
}

/* Look up the three driver functions once per instance. */
static int drv_load(cuda_state_t *st)
{
    if (st->drv_state) return st->drv_state > 0 ? 0 : -1;
    st->drv_state = -1;
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *err = dlerror();
        snprintf(st->drv_why, sizeof st->drv_why, "libcuda.so.1 is not loadable (%s)",
                 err ? err : "dlopen failed");
        return -1;
    }
    void *r = dlsym(h, "cuMemGetAddressRange_v2");
    void *g = dlsym(h, "cuMemGetHandleForAddressRange");
    void *n = dlsym(h, "cuGetErrorName");
    if (!r || !g) {
        snprintf(st->drv_why, sizeof st->drv_why, "the CUDA driver has no %s (dma-buf export "
                 "needs CUDA 11.7 and driver 515 or later)",
                 !g ? "cuMemGetHandleForAddressRange" : "cuMemGetAddressRange_v2");
        dlclose(h);
        return -1;
    }
    /* POSIX: function pointers travel through void * from dlsym */
    memcpy(&st->drv_get_range, &r, sizeof r);
    memcpy(&st->drv_get_handle, &g, sizeof g);
    if (n) memcpy(&st->drv_error_name, &n, sizeof n);
    st->drv_handle = h;
    st->drv_state = 1;
    return 0;
}

int cuda_drv_dmabuf(cuda_state_t *st, const cuda_block_t *b, spin_dmabuf_t *out,
                    char *why, size_t whylen)
{
    if (drv_load(st) != 0) {
        snprintf(why, whylen, "%s", st->drv_why);
        return SPIN_ERR_NOTSUP;
    }
    unsigned long long base = 0;
    size_t size = 0;
    int e = st->drv_get_range(&base, &size, (unsigned long long)(uintptr_t)b->ptr);
    if (e != DRV_SUCCESS) {
        snprintf(why, whylen, "cuMemGetAddressRange: %s", drv_err(st, e));
        return SPIN_ERR_NOTSUP;
    }
    const size_t ps = host_page();
    if (base % ps || size % ps) {
        snprintf(why, whylen, "its CUDA allocation (%zu bytes at 0x%llx) is not aligned to the "
                 "host page size (%zu), as cuMemGetHandleForAddressRange requires", size, base, ps);
        return SPIN_ERR_NOTSUP;
    }
    int fd = -1;
    e = st->drv_get_handle(&fd, base, size, DRV_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, 0);
    if (e != DRV_SUCCESS || fd < 0) {
        snprintf(why, whylen, "cuMemGetHandleForAddressRange(DMA_BUF_FD): %s (the device or "
                 "driver may not support dma-buf: it needs the open GPU kernel modules)",
                 drv_err(st, e));
        return SPIN_ERR_NOTSUP;
    }
    out->fd = fd;
    out->base = (const void *)(uintptr_t)base;
    out->size = size;
    out->offset = 0;
    return SPIN_OK;
}
#endif /* !SPIN_CUDA_EMU */

void cuda_dmabuf_fini(cuda_state_t *st)
{
    /* The driver stays loaded (the CUDA runtime holds it anyway). */
    if (st->drv_handle) dlclose(st->drv_handle);
    st->drv_handle = NULL;
    st->drv_state = 0;
}
