/*
 * rdma_mr.c - registered memory: the fixed buffers of a communicator
 * (receive rings and send staging, page-aligned, registered once at open)
 * and the registration cache for large user send buffers.
 *
 * The cache maps address ranges to memory regions, most recently used
 * first, and evicts unused entries beyond RDMA_RCACHE_ENTRIES entries or
 * RDMA_RCACHE_BYTES bytes.  A classic registration pins the pages that were
 * mapped at registration time: if the program frees the buffer and a later
 * allocation reuses the address range with other pages, a cached region
 * would send stale data.  So the cache is only used with on-demand paging
 * (the region follows the page tables), unless SPIN_RDMA_REG_CACHE=on
 * forces it for programs that never unmap buffers they send from (see
 * README.md).  Device memory of the compute plugin (GPUDirect RDMA,
 * rdma_gpu.c) is cached by allocation: an entry covers the allocation that
 * mem_export_dmabuf reported and carries its id, which changes when the
 * address range is allocated anew, so stale entries are never used.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rdma_internal.h"

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

/* Constant access flags keep to ibv_reg_mr of every rdma-core (a variable
 * one makes verbs.h call ibv_reg_mr_iova2, rdma-core 22 and later). */
int rdma_buf_alloc(struct ibv_pd *pd, size_t size, int remote, rdma_buf_t *b)
{
    memset(b, 0, sizeof *b);
    size_t ps = page_size();
    size = (size + ps - 1) / ps * ps;
    void *p = NULL;
    if (posix_memalign(&p, ps, size) != 0) return SPIN_ERR_NOMEM;
    memset(p, 0, size);
    struct ibv_mr *mr =
        remote ? ibv_reg_mr(pd, p, size, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE)
               : ibv_reg_mr(pd, p, size, IBV_ACCESS_LOCAL_WRITE);
    if (!mr) {
        int e = errno;
        free(p);
        errno = e;
        return SPIN_ERR_IO;
    }
    b->addr = p;
    b->size = size;
    b->mr = mr;
    return 0;
}

void rdma_buf_free(rdma_buf_t *b)
{
    if (b->mr) ibv_dereg_mr(b->mr);
    free(b->addr);
    memset(b, 0, sizeof *b);
}

void rdma_rcache_init(rdma_rcache_t *rc, struct ibv_pd *pd, int odp)
{
    memset(rc, 0, sizeof *rc);
    rc->pd = pd;
    rc->odp = odp;
}

static void unlink_reg(rdma_rcache_t *rc, rdma_reg_t *r)
{
    if (r->prev) r->prev->next = r->next;
    else rc->head = r->next;
    if (r->next) r->next->prev = r->prev;
    else rc->tail = r->prev;
    r->prev = r->next = NULL;
}

static void push_front(rdma_rcache_t *rc, rdma_reg_t *r)
{
    r->prev = NULL;
    r->next = rc->head;
    if (rc->head) rc->head->prev = r;
    rc->head = r;
    if (!rc->tail) rc->tail = r;
}

static void drop(rdma_rcache_t *rc, rdma_reg_t *r)
{
    unlink_reg(rc, r);
    rc->n--;
    rc->bytes -= r->end - r->start;
    ibv_dereg_mr(r->mr);
    free(r);
}

/* Evict unused entries, least recently used first, until within limits. */
static void trim(rdma_rcache_t *rc)
{
    rdma_reg_t *r = rc->tail;
    while (r && (rc->n > RDMA_RCACHE_ENTRIES || rc->bytes > RDMA_RCACHE_BYTES)) {
        rdma_reg_t *prev = r->prev;
        if (r->refs == 0) drop(rc, r);
        r = prev;
    }
}

/* A region covering [addr, addr + len), registered for local reads (the
 * source of RDMA writes); held until rdma_rcache_put.  Fails (errno set)
 * when the range cannot be registered; the caller then copies instead. */
int rdma_rcache_get(rdma_rcache_t *rc, const void *addr, size_t len, rdma_reg_t **out)
{
    uintptr_t a = (uintptr_t)addr, e = a + len;
    for (rdma_reg_t *r = rc->head; r; r = r->next) {
        if (!r->dev && r->start <= a && e <= r->end) {
            unlink_reg(rc, r);
            push_front(rc, r);
            r->refs++;
            rc->hits++;
            *out = r;
            return 0;
        }
    }
    rc->misses++;
    size_t ps = page_size();
    uintptr_t start = a / ps * ps, end = (e + ps - 1) / ps * ps;
    rdma_reg_t *r = calloc(1, sizeof *r);
    if (!r) return SPIN_ERR_NOMEM;
    void *base = (void *)start;
    r->mr = rc->odp ? ibv_reg_mr(rc->pd, base, end - start, IBV_ACCESS_ON_DEMAND)
                    : ibv_reg_mr(rc->pd, base, end - start, 0);
    if (!r->mr) {
        int err = errno;
        free(r);
        errno = err;
        return SPIN_ERR_IO;
    }
    r->start = start;
    r->end = end;
    r->refs = 1;
    push_front(rc, r);
    rc->n++;
    rc->bytes += end - start;
    trim(rc);
    *out = r;
    return 0;
}

int rdma_rcache_get_dev(rdma_rcache_t *rc, const spin_dmabuf_t *q, const void *addr, size_t len,
                        struct ibv_mr *(*reg)(void *arg, uintptr_t *start, size_t *size),
                        void *arg, rdma_reg_t **out)
{
    uintptr_t a = (uintptr_t)addr, e = a + len;
    uintptr_t qs = (uintptr_t)q->base, qe = qs + q->size;
    for (rdma_reg_t *r = rc->head, *next; r; r = next) {
        next = r->next;
        if (!r->dev) continue;
        if (r->id == q->id && r->start <= a && e <= r->end) {
            unlink_reg(rc, r);
            push_front(rc, r);
            r->refs++;
            rc->hits++;
            *out = r;
            return 0;
        }
        /* an earlier allocation at these addresses: its region is stale */
        if (r->id != q->id && r->refs == 0 && r->start < qe && qs < r->end) drop(rc, r);
    }
    rc->misses++;
    rdma_reg_t *r = calloc(1, sizeof *r);
    if (!r) return SPIN_ERR_NOMEM;
    uintptr_t start = 0;
    size_t size = 0;
    r->mr = reg(arg, &start, &size);
    if (!r->mr) {
        int err = errno;
        free(r);
        errno = err;
        return SPIN_ERR_IO;
    }
    r->dev = 1;
    r->id = q->id;
    r->start = start;
    r->end = start + size;
    r->refs = 1;
    push_front(rc, r);
    rc->n++;
    rc->bytes += size;
    trim(rc);
    *out = r;
    return 0;
}

void rdma_rcache_put(rdma_rcache_t *rc, rdma_reg_t *r)
{
    if (!r) return;
    if (r->refs > 0) r->refs--;
    trim(rc);
}

void rdma_rcache_destroy(rdma_rcache_t *rc)
{
    while (rc->head) drop(rc, rc->head);
}
