/*
 * cuda_alloc.c - device memory: a caching allocator over cudaMalloc, and
 * host <-> device copies through pinned staging buffers.
 *
 * Allocator.  Requests are rounded up to a size class (cm_alloc_class:
 * powers of two up to 1 MiB, then four classes per power of two); each class
 * keeps a FIFO of free blocks, so after warm-up no operation calls cudaMalloc
 * or cudaFree (both synchronise the device).  Memory is stream-ordered with
 * respect to the instance's default stream:
 *   - mem_free(p) records an event on the default stream and queues the
 *     block; work already queued there may still use it;
 *   - mem_alloc hands a queued block out at once.  Later work on the default
 *     stream is ordered after the free anyway; for the other streams, the
 *     newest such "reuse" event is remembered and every op issued on another
 *     stream first makes that stream wait for it (cudaStreamWaitEvent: a
 *     device-side dependency, the host never blocks);
 *   - work on other streams that still uses a block must be finished, or
 *     ordered before the default stream (an event), when mem_free is called.
 * When cudaMalloc runs out of memory, the cached blocks are released
 * (after synchronising the default stream) and the allocation is retried.
 *
 * Copies.  Pinned (page-locked or registered) host memory is copied with
 * cudaMemcpyAsync directly.  Pageable host memory above CUDA_STAGE_MIN goes
 * through CUDA_STAGE_SLOTS pinned buffers of CUDA_STAGE_BYTES, round robin:
 *   h2d: memcpy a chunk into a free slot, DMA it to the device, record the
 *        slot's event (the host copies the next chunk while the DMA runs);
 *        the call returns when the source has been read, as cudaMemcpyAsync
 *        from pageable memory does;
 *   d2h: DMA a chunk into a slot, then a host function (cudaLaunchHostFunc,
 *        in stream order) copies it to the destination; the call returns at
 *        once and the data is in place when the stream reaches that point
 *        (stream_sync).  DMA of chunk i+1 overlaps the host copy of chunk i.
 * A slot is reused only after its event has completed.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

/* Largest request accepted (the class arithmetic stays in range). */
#define CUDA_ALLOC_MAX ((size_t)1 << 60)

/* ------------------------------------------------------------------------ */
/* Events and the hash of live blocks.                                      */
/* ------------------------------------------------------------------------ */

static int ev_get(cuda_state_t *st, cudaEvent_t *e)
{
    cuda_alloc_t *a = &st->alloc;
    if (a->nev > 0) {
        *e = a->evpool[--a->nev];
        return SPIN_OK;
    }
    return cuda_check(st, cudaEventCreateWithFlags(e, cudaEventDisableTiming),
                      "mem_free: event");
}

static void ev_put(cuda_state_t *st, cudaEvent_t e)
{
    cuda_alloc_t *a = &st->alloc;
    if (!e) return;
    if (a->nev == a->evcap) {
        size_t cap = a->evcap ? 2 * a->evcap : 64;
        cudaEvent_t *p = realloc(a->evpool, cap * sizeof *p);
        if (!p) {
            (void)cudaEventDestroy(e);
            return;
        }
        a->evpool = p;
        a->evcap = cap;
    }
    a->evpool[a->nev++] = e;
}

static size_t ptr_hash(const void *p, size_t nbuckets)
{
    uint64_t v = (uint64_t)(uintptr_t)p >> 8;
    v *= UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(v >> 32) & (nbuckets - 1);
}

static int live_grow(cuda_alloc_t *a)
{
    const size_t nb = a->nbuckets * 2;
    cuda_block_t **h = calloc(nb, sizeof *h);
    if (!h) return SPIN_ERR_NOMEM;
    for (size_t i = 0; i < a->nbuckets; i++) {
        cuda_block_t *b = a->live[i];
        while (b) {
            cuda_block_t *next = b->next;
            size_t k = ptr_hash(b->ptr, nb);
            b->next = h[k];
            h[k] = b;
            b = next;
        }
    }
    free(a->live);
    a->live = h;
    a->nbuckets = nb;
    return SPIN_OK;
}

static void live_insert(cuda_alloc_t *a, cuda_block_t *b)
{
    if (a->nlive >= 2 * a->nbuckets) (void)live_grow(a); /* else: longer chains */
    size_t k = ptr_hash(b->ptr, a->nbuckets);
    b->next = a->live[k];
    a->live[k] = b;
    a->nlive++;
    a->live_bytes += b->size;
}

static cuda_block_t *live_remove(cuda_alloc_t *a, const void *p)
{
    cuda_block_t **pp = &a->live[ptr_hash(p, a->nbuckets)];
    for (; *pp; pp = &(*pp)->next) {
        cuda_block_t *b = *pp;
        if (b->ptr == p) {
            *pp = b->next;
            b->next = NULL;
            a->nlive--;
            a->live_bytes -= b->size;
            return b;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The allocator.                                                           */
/* ------------------------------------------------------------------------ */

int cuda_alloc_init(cuda_state_t *st)
{
    cuda_alloc_t *a = &st->alloc;
    a->nbuckets = 1024;
    a->live = calloc(a->nbuckets, sizeof *a->live);
    if (!a->live) return cuda_fail(st, SPIN_ERR_NOMEM, "allocator: out of memory");
    return SPIN_OK;
}

static void block_destroy(cuda_state_t *st, cuda_block_t *b)
{
    (void)cudaFree(b->ptr);
    if (b->ev) (void)cudaEventDestroy(b->ev);
    (void)st;
    free(b);
}

/* Give every cached block back to CUDA (the default stream is synchronised
 * first: queued work may still use them). */
static void cache_release(cuda_state_t *st)
{
    cuda_alloc_t *a = &st->alloc;
    (void)cudaStreamSynchronize(st->stream);
    for (int c = 0; c < CM_ALLOC_NCLASS; c++) {
        cuda_block_t *b = a->head[c];
        while (b) {
            cuda_block_t *next = b->next;
            ev_put(st, b->ev);
            b->ev = NULL;
            block_destroy(st, b);
            b = next;
        }
        a->head[c] = a->tail[c] = NULL;
    }
    a->cached_bytes = 0;
}

void cuda_alloc_fini(cuda_state_t *st)
{
    cuda_alloc_t *a = &st->alloc;
    if (a->live) {
        cache_release(st);
        size_t leaked = a->nlive;
        for (size_t i = 0; i < a->nbuckets; i++) {
            cuda_block_t *b = a->live[i];
            while (b) {
                cuda_block_t *next = b->next;
                block_destroy(st, b);
                b = next;
            }
        }
        free(a->live);
        a->live = NULL;
        if (leaked)
            spin_log(st->host ? st->host->log : NULL, SPIN_LOG_DEBUG,
                     "cuda: %zu device blocks (%zu bytes) were still allocated at "
                     "fini; freed", leaked, a->live_bytes);
    }
    for (size_t i = 0; i < a->nev; i++) (void)cudaEventDestroy(a->evpool[i]);
    free(a->evpool);
    a->evpool = NULL;
    a->nev = a->evcap = 0;
    if (a->reuse_ev) (void)cudaEventDestroy(a->reuse_ev);
    a->reuse_ev = NULL;
}

/* user: the stream that will use the block first when the caller knows it
 * (a plugin-internal workspace), else NULL. */
static int alloc_get(cuda_state_t *st, size_t bytes, void **ptr, int quiet,
                     cudaStream_t user)
{
    cuda_alloc_t *a = &st->alloc;
    if (bytes > CUDA_ALLOC_MAX)
        return quiet ? SPIN_ERR_NOMEM
                     : cuda_fail(st, SPIN_ERR_NOMEM, "mem_alloc: %zu bytes is too "
                                 "large", bytes);
    size_t size = 0;
    const int cls = cm_alloc_class(bytes ? bytes : 1, &size);
    cuda_block_t *b = a->head[cls];
    if (b) {
        a->head[cls] = b->next;
        if (!a->head[cls]) a->tail[cls] = NULL;
        b->next = NULL;
        a->cached_bytes -= b->size;
        const cudaError_t q = cudaEventQuery(b->ev);
        if (q == cudaErrorNotReady) {
            /* Still in use by queued default-stream work: other streams must
             * wait for it (cuda_alloc_order; the known first user at once).
             * Events recorded later on the default stream complete later, so
             * the newest one covers all. */
            if (user && user != st->stream &&
                cudaStreamWaitEvent(user, b->ev, 0) != cudaSuccess) {
                (void)cudaGetLastError();
                (void)cudaEventSynchronize(b->ev);
            }
            if (b->free_seq > a->reuse_seq) {
                ev_put(st, a->reuse_ev);
                a->reuse_ev = b->ev;
                a->reuse_seq = b->free_seq;
            } else {
                ev_put(st, b->ev);
            }
        } else {
            if (q != cudaSuccess) (void)cudaGetLastError();
            ev_put(st, b->ev);
        }
        b->ev = NULL;
    } else {
        b = calloc(1, sizeof *b);
        if (!b) return cuda_fail(st, SPIN_ERR_NOMEM, "mem_alloc: out of host memory");
        b->size = size;
        b->cls = cls;
        b->id = ++a->next_id;
        cudaError_t e = cudaMalloc(&b->ptr, size);
        if (e == cudaErrorMemoryAllocation && a->cached_bytes > 0) {
            (void)cudaGetLastError();
            cache_release(st);
            e = cudaMalloc(&b->ptr, size);
        }
        if (e != cudaSuccess) {
            free(b);
            (void)cudaGetLastError();
            if (quiet && e == cudaErrorMemoryAllocation) return SPIN_ERR_NOMEM;
            return cuda_fail(st, e == cudaErrorMemoryAllocation ? SPIN_ERR_NOMEM
                                                                : SPIN_ERR_INTERNAL,
                             "mem_alloc: cudaMalloc of %zu bytes: %s (%zu bytes in "
                             "use by this instance)", size, cudaGetErrorName(e),
                             a->live_bytes);
        }
    }
    live_insert(a, b);
    *ptr = b->ptr;
    return SPIN_OK;
}

int cuda_alloc_get(cuda_state_t *st, size_t bytes, void **ptr)
{
    return alloc_get(st, bytes, ptr, 0, NULL);
}

int cuda_alloc_try(cuda_state_t *st, size_t bytes, void **ptr, cudaStream_t cs)
{
    return alloc_get(st, bytes, ptr, 1, cs);
}

int cuda_alloc_put(cuda_state_t *st, void *ptr)
{
    cuda_alloc_t *a = &st->alloc;
    if (!ptr) return SPIN_OK;
    cuda_block_t *b = live_remove(a, ptr);
    if (!b)
        return cuda_inval(st, "mem_free: %p was not allocated by this instance "
                          "(or was freed already)", ptr);
    int rc = ev_get(st, &b->ev);
    if (!rc) rc = cuda_check(st, cudaEventRecord(b->ev, st->stream), "mem_free");
    if (rc) {
        /* Cannot order the reuse: give the block back to CUDA instead. */
        (void)cudaStreamSynchronize(st->stream);
        block_destroy(st, b);
        return rc;
    }
    b->free_seq = ++a->free_seq;
    if (a->tail[b->cls]) a->tail[b->cls]->next = b;
    else a->head[b->cls] = b;
    a->tail[b->cls] = b;
    a->cached_bytes += b->size;
    return SPIN_OK;
}

int cuda_alloc_put_after(cuda_state_t *st, void *ptr, cudaStream_t cs)
{
    if (ptr && cs != st->stream) {
        /* The default stream waits for cs: the free is ordered after the
         * work queued on cs, as mem_free's rule requires. */
        cudaEvent_t e = NULL;
        int rc = ev_get(st, &e);
        if (!rc) rc = cuda_check(st, cudaEventRecord(e, cs), "workspace release");
        if (!rc) rc = cuda_check(st, cudaStreamWaitEvent(st->stream, e, 0),
                                 "workspace release");
        if (e) ev_put(st, e);
        if (rc) (void)cudaStreamSynchronize(cs);
    }
    return cuda_alloc_put(st, ptr);
}

int cuda_alloc_order(cuda_state_t *st, spin_stream_t *s)
{
    cuda_alloc_t *a = &st->alloc;
    if (!s || s->seen_reuse >= a->reuse_seq || !a->reuse_ev) return SPIN_OK;
    int rc = cuda_check(st, cudaStreamWaitEvent(s->cs, a->reuse_ev, 0),
                        "ordering a stream after reused memory");
    if (!rc) s->seen_reuse = a->reuse_seq;
    return rc;
}

const cuda_block_t *cuda_alloc_find(const cuda_state_t *st, const void *p,
                                    size_t bytes)
{
    const cuda_alloc_t *a = &st->alloc;
    if (!a->live || !p) return NULL;
    const uintptr_t x = (uintptr_t)p;
    /* the start of a block (the common case), else any block holding it */
    for (const cuda_block_t *b = a->live[ptr_hash(p, a->nbuckets)]; b; b = b->next)
        if (b->ptr == p) return bytes <= b->size ? b : NULL;
    for (size_t i = 0; i < a->nbuckets; i++)
        for (const cuda_block_t *b = a->live[i]; b; b = b->next) {
            const uintptr_t s = (uintptr_t)b->ptr;
            if (x >= s && x - s < b->size) return bytes <= b->size - (x - s) ? b : NULL;
        }
    return NULL;
}

int cuda_mem_alloc(void *state, size_t bytes, void **ptr)
{
    cuda_state_t *st = state;
    if (!ptr) return cuda_inval(st, "mem_alloc: ptr is NULL");
    cudaStream_t cs;
    int rc = cuda_enter(st, "mem_alloc", NULL, &cs);
    if (rc) return rc;
    return cuda_alloc_get(st, bytes, ptr);
}

int cuda_mem_free(void *state, void *ptr)
{
    cuda_state_t *st = state;
    if (!ptr) return SPIN_OK;
    cudaStream_t cs;
    int rc = cuda_enter(st, "mem_free", NULL, &cs);
    if (rc) return rc;
    return cuda_alloc_put(st, ptr);
}

/* ------------------------------------------------------------------------ */
/* Pinned staging.                                                          */
/* ------------------------------------------------------------------------ */

static int stage_ready(cuda_state_t *st)
{
    if (st->stage_failed) return 0;
    if (st->stage[0].buf) return 1;
    void *buf = NULL;
    if (cudaHostAlloc(&buf, CUDA_STAGE_SLOTS * CUDA_STAGE_BYTES,
                      cudaHostAllocDefault) != cudaSuccess) {
        (void)cudaGetLastError();
        st->stage_failed = 1;
        spin_log(st->host ? st->host->log : NULL, SPIN_LOG_DEBUG,
                 "cuda: no pinned staging memory; pageable copies go straight "
                 "to cudaMemcpyAsync");
        return 0;
    }
    for (int i = 0; i < CUDA_STAGE_SLOTS; i++) {
        if (cudaEventCreateWithFlags(&st->stage[i].done, cudaEventDisableTiming) !=
            cudaSuccess) {
            (void)cudaGetLastError();
            for (int j = 0; j < i; j++) (void)cudaEventDestroy(st->stage[j].done);
            (void)cudaFreeHost(buf);
            st->stage_failed = 1;
            return 0;
        }
        st->stage[i].buf = (char *)buf + (size_t)i * CUDA_STAGE_BYTES;
        st->stage[i].busy = 0;
    }
    return 1;
}

void cuda_stage_fini(cuda_state_t *st)
{
    if (!st->stage[0].buf) return;
    for (int i = 0; i < CUDA_STAGE_SLOTS; i++) {
        if (st->stage[i].busy) (void)cudaEventSynchronize(st->stage[i].done);
        (void)cudaEventDestroy(st->stage[i].done);
    }
    (void)cudaFreeHost(st->stage[0].buf);
    memset(st->stage, 0, sizeof st->stage);
}

/* The next slot, once its previous use has completed. */
static int stage_slot(cuda_state_t *st, const char *what, cuda_stage_slot_t **out)
{
    cuda_stage_slot_t *sl = &st->stage[st->stage_next];
    st->stage_next = (st->stage_next + 1) % CUDA_STAGE_SLOTS;
    if (sl->busy) {
        int rc = cuda_check(st, cudaEventSynchronize(sl->done), what);
        if (rc) return rc;
        sl->busy = 0;
    }
    *out = sl;
    return SPIN_OK;
}

/* Host function run in stream order after a d2h chunk landed in a slot. */
static void CUDART_CB stage_copy_out(void *arg)
{
    const cuda_stage_slot_t *sl = arg;
    memcpy(sl->dst, sl->buf, sl->bytes);
}

/* Is p page-locked or registered host memory (or managed)? */
static int host_pinned(const void *p)
{
    struct cudaPointerAttributes at;
    if (cudaPointerGetAttributes(&at, p) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return at.type == cudaMemoryTypeHost || at.type == cudaMemoryTypeManaged;
}

int cuda_copy_h2d(void *state, void *dst, const void *src, size_t bytes,
                  spin_stream_t *s)
{
    cuda_state_t *st = state;
    cudaStream_t cs;
    if (bytes > 0 && (!dst || !src))
        return cuda_inval(st, "copy_h2d: NULL %s with %zu bytes",
                          dst ? "src" : "dst", bytes);
    int rc = cuda_enter(st, "copy_h2d", s, &cs);
    if (rc || bytes == 0) return rc;
    if (bytes < CUDA_STAGE_MIN || host_pinned(src) || !stage_ready(st))
        return cuda_check(st, cudaMemcpyAsync(dst, src, bytes,
                                              cudaMemcpyHostToDevice, cs),
                          "copy_h2d");
    for (size_t off = 0; off < bytes; off += CUDA_STAGE_BYTES) {
        const size_t len = bytes - off < CUDA_STAGE_BYTES ? bytes - off
                                                          : CUDA_STAGE_BYTES;
        cuda_stage_slot_t *sl;
        rc = stage_slot(st, "copy_h2d", &sl);
        if (rc) return rc;
        memcpy(sl->buf, (const char *)src + off, len);
        rc = cuda_check(st, cudaMemcpyAsync((char *)dst + off, sl->buf, len,
                                            cudaMemcpyHostToDevice, cs),
                        "copy_h2d");
        if (!rc) rc = cuda_check(st, cudaEventRecord(sl->done, cs), "copy_h2d");
        if (rc) return rc;
        sl->busy = 1;
    }
    return SPIN_OK;
}

int cuda_copy_d2h(void *state, void *dst, const void *src, size_t bytes,
                  spin_stream_t *s)
{
    cuda_state_t *st = state;
    cudaStream_t cs;
    if (bytes > 0 && (!dst || !src))
        return cuda_inval(st, "copy_d2h: NULL %s with %zu bytes",
                          dst ? "src" : "dst", bytes);
    int rc = cuda_enter(st, "copy_d2h", s, &cs);
    if (rc || bytes == 0) return rc;
    if (bytes < CUDA_STAGE_MIN || host_pinned(dst) || !stage_ready(st))
        return cuda_check(st, cudaMemcpyAsync(dst, src, bytes,
                                              cudaMemcpyDeviceToHost, cs),
                          "copy_d2h");
    for (size_t off = 0; off < bytes; off += CUDA_STAGE_BYTES) {
        const size_t len = bytes - off < CUDA_STAGE_BYTES ? bytes - off
                                                          : CUDA_STAGE_BYTES;
        cuda_stage_slot_t *sl;
        rc = stage_slot(st, "copy_d2h", &sl);
        if (rc) return rc;
        sl->dst = (char *)dst + off;
        sl->bytes = len;
        rc = cuda_check(st, cudaMemcpyAsync(sl->buf, (const char *)src + off, len,
                                            cudaMemcpyDeviceToHost, cs),
                        "copy_d2h");
        if (!rc) rc = cuda_check(st, cudaLaunchHostFunc(cs, stage_copy_out, sl),
                                 "copy_d2h");
        if (!rc) rc = cuda_check(st, cudaEventRecord(sl->done, cs), "copy_d2h");
        if (rc) return rc;
        sl->busy = 1;
    }
    return SPIN_OK;
}
