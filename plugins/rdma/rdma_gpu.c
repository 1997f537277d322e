/*
 * rdma_gpu.c - GPU memory (GPUDirect RDMA): which mode a communicator uses,
 * device-memory registrations, and the copies for device receives.
 *
 * init detects what the machine has (ibv_reg_dmabuf_mr in libibverbs,
 * nvidia-peermem, the NVIDIA driver) and reads SPIN_RDMA_GPUDIRECT; open
 * decides, for the compute plugin of the context (spin_transport_cfg_t,
 * ABI 1.1), among
 *   gpudirect (dma-buf)  the compute plugin exports device memory as a
 *                        dma-buf (mem_export_dmabuf) and a trial
 *                        ibv_reg_dmabuf_mr of one exported buffer works;
 *   gpudirect (peermem)  nvidia-peermem is loaded and a trial ibv_reg_mr of
 *                        a device buffer works;
 *   staged               neither (or SPIN_RDMA_GPUDIRECT=off): the core
 *                        copies device memory through host buffers;
 * and reports SPIN_CAP_TRANSPORT_DEVICE_MEM through comm_caps in both
 * gpudirect modes.  Then sends from device memory are RDMA writes straight
 * from it, through a registration of its whole allocation in the
 * registration cache (keyed by the allocation's id, so a freed and reused
 * address never sends stale data); a send whose registration fails is
 * copied through the staging slots with the compute plugin's copy_d2h.
 * Receives into device memory are copied from the ring slot with copy_h2d,
 * synchronised once per completion batch, before any slot goes back as a
 * credit.  Host buffers keep the host path: every buffer is classified
 * with mem_export_dmabuf's query.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rdma_internal.h"

#define PROBE_BYTES 4096

const char *rdma_gpu_mode_name(int gpu)
{
    switch (gpu) {
    case RDMA_GPU_DMABUF: return "gpudirect (dma-buf)";
    case RDMA_GPU_PEERMEM: return "gpudirect (peermem)";
    case RDMA_GPU_STAGED: return "staged";
    default: return "host memory";
    }
}

/* ibv_reg_dmabuf_mr (rdma-core 34) of the libibverbs this plugin is linked
 * with.  Not dlsym(RTLD_DEFAULT, ...): the loader opens plugins RTLD_LOCAL,
 * so their libraries are not in the global scope.  The library is loaded
 * already (a dependency of this plugin): RTLD_NOLOAD finds it. */
static rdma_reg_dmabuf_fn find_reg_dmabuf(void)
{
    void *h = dlopen("libibverbs.so.1", RTLD_NOLOAD | RTLD_LAZY);
    if (!h) return NULL;
    void *f = dlsym(h, "ibv_reg_dmabuf_mr");
    dlclose(h); /* still loaded: this plugin depends on it */
    rdma_reg_dmabuf_fn fn = NULL;
    if (f) memcpy(&fn, &f, sizeof fn);
    return fn;
}

void rdma_gpu_detect(rdma_state_t *s)
{
    s->reg_dmabuf = find_reg_dmabuf();
    s->nvidia = access("/sys/module/nvidia", F_OK) == 0;
    s->peermem = access("/sys/kernel/mm/memory_peers/nv_mem/version", F_OK) == 0 ||
                 access("/sys/module/nvidia_peermem", F_OK) == 0;
}

int rdma_gpu_setting(rdma_state_t *s, const char *v, char *why, size_t whylen)
{
    s->gpudirect = RDMA_GD_AUTO;
    if (!v || !strcmp(v, "auto")) return 0;
    if (!strcmp(v, "off") || !strcmp(v, "0") || !strcmp(v, "no")) s->gpudirect = RDMA_GD_OFF;
    else if (!strcmp(v, "on") || !strcmp(v, "1") || !strcmp(v, "yes")) s->gpudirect = RDMA_GD_ON;
    else {
        snprintf(why, whylen, "SPIN_RDMA_GPUDIRECT=\"%s\" is not auto, on or off", v);
        return SPIN_ERR_CONFIG;
    }
    return 0;
}

/* init's info line: how GPU memory would travel (spin-info shows it). */
void rdma_gpu_describe(const rdma_state_t *s)
{
    const char *set = s->gpudirect == RDMA_GD_OFF ? "off" : s->gpudirect == RDMA_GD_ON ? "on" : "auto";
    if (s->gpudirect == RDMA_GD_OFF) {
        spin_log(s->kit.log, SPIN_LOG_INFO, "rdma: GPU memory: staged (SPIN_RDMA_GPUDIRECT=off): the core "
                 "copies device memory through host buffers");
        return;
    }
    char cand[160] = "";
    if (s->reg_dmabuf) snprintf(cand, sizeof cand, "gpudirect (dma-buf) if the compute plugin exports "
                                "dma-bufs and ibv_reg_dmabuf_mr takes them");
    if (s->peermem)
        snprintf(cand + strlen(cand), sizeof cand - strlen(cand), "%sgpudirect (peermem)",
                 cand[0] ? ", else " : "");
    if (cand[0])
        spin_log(s->kit.log, SPIN_LOG_INFO, "rdma: GPU memory (SPIN_RDMA_GPUDIRECT=%s), chosen at open for "
                 "a compute plugin with device memory: %s, else %s (libibverbs %s ibv_reg_dmabuf_mr; "
                 "nvidia-peermem %s; the NVIDIA driver is %s)", set, cand,
                 s->gpudirect == RDMA_GD_ON ? "an error" : "staged",
                 s->reg_dmabuf ? "has" : "lacks", s->peermem ? "loaded" : "not loaded",
                 s->nvidia ? "loaded" : "not loaded");
    else
        spin_log(s->kit.log, SPIN_LOG_INFO, "rdma: GPU memory (SPIN_RDMA_GPUDIRECT=%s): %s (libibverbs "
                 "lacks ibv_reg_dmabuf_mr and nvidia-peermem is not loaded; the NVIDIA driver is %s)",
                 set, s->gpudirect == RDMA_GD_ON ? "gpudirect impossible here: open fails with a "
                 "device-memory compute plugin" : "staged through host memory by the core",
                 s->nvidia ? "loaded" : "not loaded");
}

/* ---- registrations ------------------------------------------------------ */

typedef struct reg_arg {
    rdma_comm_t *c;
    int mode;                  /* RDMA_GPU_DMABUF or RDMA_GPU_PEERMEM */
    const void *buf;
    size_t len;
    const spin_dmabuf_t *q;
    int spin_rc;               /* export failure, 0 if it was the verbs call */
} reg_arg_t;

/* Register the allocation that holds [a->buf, +len); sets *start, *size. */
static struct ibv_mr *reg_dev(void *arg, uintptr_t *start, size_t *size)
{
    reg_arg_t *a = arg;
    rdma_comm_t *c = a->c;
    a->spin_rc = 0;
    if (a->mode == RDMA_GPU_PEERMEM) {
        *start = (uintptr_t)a->q->base;
        *size = a->q->size;
        return ibv_reg_mr(c->st->pd, (void *)(uintptr_t)a->q->base, a->q->size,
                          IBV_ACCESS_LOCAL_WRITE);
    }
    spin_dmabuf_t x;
    memset(&x, 0, sizeof x);
    x.struct_size = sizeof x;
    x.fd = -1;
    int rc = c->cops->mem_export_dmabuf(c->cstate, a->buf, a->len, 0, &x);
    if (rc || x.fd < 0) {
        a->spin_rc = rc ? rc : SPIN_ERR_INTERNAL;
        errno = EINVAL;
        return NULL;
    }
    struct ibv_mr *mr = c->st->reg_dmabuf(c->st->pd, x.offset, x.size, (uint64_t)(uintptr_t)x.base,
                                          x.fd, IBV_ACCESS_LOCAL_WRITE);
    int e = errno;
    close(x.fd); /* the registration holds the dma-buf */
    errno = e;
    *start = (uintptr_t)x.base;
    *size = x.size;
    return mr;
}

static const char *reg_what(int mode)
{
    return mode == RDMA_GPU_PEERMEM ? "ibv_reg_mr of device memory" : "ibv_reg_dmabuf_mr";
}

int rdma_gpu_reg(rdma_comm_t *c, const spin_dmabuf_t *q, const void *buf, size_t len,
                 rdma_reg_t **out)
{
    reg_arg_t a = {c, c->gpu, buf, len, q, 0};
    uint64_t misses = c->rc.misses;
    int rc = rdma_rcache_get_dev(&c->rc, q, buf, len, reg_dev, &a, out);
    if (!rc) {
        if (c->rc.misses != misses) c->dev_regs++;
        return 0;
    }
    if (!c->copy_warned)
        RDMA_LOGW(c, "rdma: party %d: registering %zu bytes of device memory failed (%s: %s): such "
                  "sends are copied through host staging slots", c->kit.me, len, reg_what(c->gpu),
                  a.spin_rc ? spin_strerror(a.spin_rc) : strerror(errno));
    c->copy_warned = 1;
    *out = NULL;
    return -1;
}

static int query(rdma_comm_t *c, const void *buf, size_t len, spin_dmabuf_t *q)
{
    memset(q, 0, sizeof *q);
    q->struct_size = sizeof *q;
    q->fd = -1;
    return c->cops->mem_export_dmabuf(c->cstate, buf, len, SPIN_DMABUF_QUERY, q) == 0;
}

int rdma_gpu_is_dev(rdma_comm_t *c, const void *buf, size_t len, spin_dmabuf_t *q)
{
    if (c->gpu < RDMA_GPU_DMABUF || !buf || !len) return 0;
    return query(c, buf, len, q);
}

/* ---- copies --------------------------------------------------------------- */

int rdma_gpu_d2h(rdma_comm_t *c, rdma_peer_t *p, void *dst, const void *src, size_t n)
{
    int rc = c->cops->copy_d2h(c->cstate, dst, src, n, NULL);
    if (!rc) rc = c->cops->stream_sync(c->cstate, NULL);
    if (rc) {
        RDMA_LOGE(c, "rdma: party %d: copying %zu bytes of a message to party %d out of device memory "
                  "(%s copy_d2h) failed: %s", c->kit.me, n, p->id, c->compute_name, spin_strerror(rc));
        rdma_fail_link(c, p->id, rc);
    }
    return rc;
}

int rdma_gpu_h2d(rdma_comm_t *c, rdma_peer_t *p, void *dst, const void *src, size_t n)
{
    int rc = c->cops->copy_h2d(c->cstate, dst, src, n, NULL);
    if (rc) {
        RDMA_LOGE(c, "rdma: party %d: copying %zu bytes of a message from party %d into device memory "
                  "(%s copy_h2d) failed: %s", c->kit.me, n, p->id, c->compute_name, spin_strerror(rc));
        rdma_fail_link(c, p->id, rc);
        return rc;
    }
    c->h2d_pending = 1;
    return 0;
}

int rdma_gpu_sync(rdma_comm_t *c)
{
    if (!c->h2d_pending) return 0;
    c->h2d_pending = 0;
    int rc = c->cops->stream_sync(c->cstate, NULL);
    if (rc) {
        RDMA_LOGE(c, "rdma: party %d: waiting for copies of received messages into device memory "
                  "(%s stream_sync) failed: %s", c->kit.me, c->compute_name, spin_strerror(rc));
        for (int j = 0; j < c->kit.n; j++)
            if (j != c->kit.me) rdma_fail_link(c, j, rc);
    }
    return rc;
}

/* ---- mode selection at open ------------------------------------------- */

/* A trial registration of PROBE_BYTES of device memory in `mode`: 0, or
 * the reason in why and -2 when the verbs call failed (-1 otherwise). */
static int probe(rdma_comm_t *c, int mode, char *why, size_t whylen)
{
    void *buf = NULL;
    int rc = c->cops->mem_alloc(c->cstate, PROBE_BYTES, &buf);
    if (rc) {
        snprintf(why, whylen, "allocating %d bytes of %s memory for a trial registration failed: %s",
                 PROBE_BYTES, c->compute_name, spin_strerror(rc));
        return -1;
    }
    spin_dmabuf_t q;
    int ok = -1;
    if (!query(c, buf, PROBE_BYTES, &q)) {
        snprintf(why, whylen, "%s does not recognise its own memory (mem_export_dmabuf query)",
                 c->compute_name);
    } else {
        reg_arg_t a = {c, mode, buf, PROBE_BYTES, &q, 0};
        uintptr_t st;
        size_t sz;
        errno = 0;
        struct ibv_mr *mr = reg_dev(&a, &st, &sz);
        if (mr) {
            ibv_dereg_mr(mr);
            ok = 0;
        } else if (a.spin_rc) {
            snprintf(why, whylen, "%s cannot export device memory as a dma-buf (%s)", c->compute_name,
                     spin_strerror(a.spin_rc));
        } else {
            snprintf(why, whylen, "%s on %s failed: %s", reg_what(mode), c->st->dev_name,
                     strerror(errno ? errno : EIO));
            ok = -2; /* the NIC side refused */
        }
    }
    (void)c->cops->mem_free(c->cstate, buf);
    return ok;
}

int rdma_gpu_open(rdma_comm_t *c, const spin_transport_cfg_t *cfg)
{
    rdma_state_t *s = c->st;
    c->gpu = RDMA_GPU_HOST;
    if (cfg->struct_size < SPIN_TRANSPORT_CFG_SIZE_1_1 || !cfg->compute_ops ||
        !(cfg->compute_caps & SPIN_CAP_COMPUTE_DEVICE_MEM))
        return 0; /* host memory (or a core that does not say): nothing to decide */
    c->compute_name = cfg->compute_name ? cfg->compute_name : "the compute plugin";
    c->cops = cfg->compute_ops;
    c->cstate = cfg->compute_state;
    c->gpu = RDMA_GPU_STAGED;
    if (s->gpudirect == RDMA_GD_OFF) {
        RDMA_LOGI(c, "rdma: party %d: GPU memory: staged (SPIN_RDMA_GPUDIRECT=off)", c->kit.me);
        return 0;
    }
    char dm[320] = "", pm[320] = "";
    int refused = 0, r; /* refused: a trial registration failed on the NIC side */
    if (!c->cops->mem_export_dmabuf)
        snprintf(dm, sizeof dm, "%s cannot export dma-bufs (no mem_export_dmabuf)", c->compute_name);
    else if (!s->reg_dmabuf)
        snprintf(dm, sizeof dm, "libibverbs lacks ibv_reg_dmabuf_mr (rdma-core 34 or later has it)");
    else if ((r = probe(c, RDMA_GPU_DMABUF, dm, sizeof dm)) == 0)
        c->gpu = RDMA_GPU_DMABUF;
    else
        refused |= r == -2;
    if (c->gpu == RDMA_GPU_STAGED) {
        if (!s->peermem)
            snprintf(pm, sizeof pm, "nvidia-peermem is not loaded (no /sys/module/nvidia_peermem or "
                     "/sys/kernel/mm/memory_peers/nv_mem)");
        else if (!c->cops->mem_export_dmabuf)
            snprintf(pm, sizeof pm, "%s cannot identify its memory (no mem_export_dmabuf)",
                     c->compute_name);
        else if ((r = probe(c, RDMA_GPU_PEERMEM, pm, sizeof pm)) == 0)
            c->gpu = RDMA_GPU_PEERMEM;
        else
            refused |= r == -2;
    }
    if (c->gpu == RDMA_GPU_DMABUF) {
        RDMA_LOGI(c, "rdma: party %d: GPU memory: gpudirect (dma-buf): %s device buffers are registered "
                  "on %s with ibv_reg_dmabuf_mr", c->kit.me, c->compute_name, s->dev_name);
        return 0;
    }
    if (c->gpu == RDMA_GPU_PEERMEM) {
        RDMA_LOGI(c, "rdma: party %d: GPU memory: gpudirect (peermem): %s device buffers are registered "
                  "on %s with ibv_reg_mr through nvidia-peermem (dma-buf: %s)", c->kit.me, c->compute_name,
                  s->dev_name, dm);
        return 0;
    }
    if (s->gpudirect == RDMA_GD_ON) {
        RDMA_LOGE(c, "rdma: party %d: SPIN_RDMA_GPUDIRECT=on, but GPUDirect RDMA is not possible for %s "
                  "memory on %s: dma-buf: %s; peermem: %s", c->kit.me, c->compute_name, s->dev_name, dm, pm);
        return SPIN_ERR_NOTSUP;
    }
    /* auto: a registration the NIC refused is worth a warning (everything
     * else said it should work); missing prerequisites are the normal case
     * on most machines: info */
    spin_log(c->kit.log, refused ? SPIN_LOG_WARN : SPIN_LOG_INFO,
             "rdma: party %d: GPU memory: staged through host memory, as GPUDirect RDMA is not possible "
             "here (dma-buf: %s; peermem: %s)%s", c->kit.me, dm, pm,
             refused ? "; SPIN_RDMA_GPUDIRECT=off skips the attempt" : "");
    c->gpu = RDMA_GPU_STAGED;
    return 0;
}

void rdma_gpu_close(rdma_comm_t *c)
{
    if (c->gpu < RDMA_GPU_DMABUF || !c->opened) return;
    RDMA_LOGI(c, "rdma: party %d: %s: %llu device-memory messages sent from %llu registrations, %llu "
              "copied through host staging; %llu received into device memory", c->kit.me,
              rdma_gpu_mode_name(c->gpu), (unsigned long long)c->dev_sent_reg,
              (unsigned long long)c->dev_regs, (unsigned long long)c->dev_sent_copied,
              (unsigned long long)c->dev_recv);
}

uint64_t rdma_comm_caps(void *comm)
{
    const rdma_comm_t *c = comm;
    return c && c->gpu >= RDMA_GPU_DMABUF ? SPIN_CAP_TRANSPORT_DEVICE_MEM : 0;
}
