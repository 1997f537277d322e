/*
 * rdma_plugin.c - the rdma transport plugin: descriptor, init/fini (device,
 * port and GID choice, settings, GPU memory mode), small helpers.
 *
 * The communicator lives in rdma_conn.c (open/close, bootstrap handshake),
 * rdma_qp.c (queue pairs, endpoints, sockets), rdma_xfer.c (data path) and
 * rdma_mr.c (registered memory).  See README.md.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rdma_internal.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

int rdma_mtu_bytes(int mtu)
{
    return mtu >= IBV_MTU_256 && mtu <= IBV_MTU_4096 ? 128 << mtu : 0;
}

static const char *no_device_why =
    "no RDMA device (ibv_get_device_list found none; load a NIC driver or soft-RoCE: "
    "rdma link add rxe0 type rxe netdev eth0)";

static const char *env(const spin_plugin_host_t *h, const char *name)
{
    const char *v = h && h->getenv ? h->getenv(h->env_ctx, name) : NULL;
    return v && *v ? v : NULL;
}

/* "262144", "256K", "1M": bytes; returns 0 if malformed. */
static size_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return 0;
    if (*end == 'k' || *end == 'K') v <<= 10, end++;
    else if (*end == 'm' || *end == 'M') v <<= 20, end++;
    if (*end == 'i' && end[1] == 'B') end += 2;
    else if (*end == 'B') end++;
    return *end ? 0 : (size_t)v;
}

static int settings(rdma_state_t *s, char *why, size_t whylen)
{
    const spin_plugin_host_t *h = s->kit.host;
    const char *v;
    s->chunk = RDMA_DEF_CHUNK;
    s->slots = RDMA_DEF_SLOTS;
    if ((v = env(h, "SPIN_RDMA_CHUNK"))) {
        size_t c = parse_size(v);
        if (c < RDMA_MIN_CHUNK || c > RDMA_MAX_CHUNK || c % 4096) {
            snprintf(why, whylen, "SPIN_RDMA_CHUNK=\"%s\" is not a multiple of 4 KiB between 4K and "
                     "64M", v);
            return SPIN_ERR_CONFIG;
        }
        s->chunk = c;
    }
    if ((v = env(h, "SPIN_RDMA_SLOTS"))) {
        char *end;
        long k = strtol(v, &end, 10);
        if (*end || k < 1 || k > RDMA_MAX_SLOTS) {
            snprintf(why, whylen, "SPIN_RDMA_SLOTS=\"%s\" is not a count between 1 and %d", v,
                     RDMA_MAX_SLOTS);
            return SPIN_ERR_CONFIG;
        }
        s->slots = (int)k;
    }
    /* Room for the credit-only writes and a margin in every work queue. */
    int limit = s->dattr.max_qp_wr - 2 * RDMA_CTL_MAX - 4;
    if (limit < 1) limit = 1;
    if (s->slots > limit) {
        spin_log(s->kit.log, SPIN_LOG_WARN, "rdma: %s allows %d work requests per queue: using %d "
                 "slots instead of %d", s->dev_name, s->dattr.max_qp_wr, limit, s->slots);
        s->slots = limit;
    }
    int rc = rdma_gpu_setting(s, env(h, "SPIN_RDMA_GPUDIRECT"), why, whylen);
    if (rc) return rc;
    s->rcache_on = s->odp;
    if ((v = env(h, "SPIN_RDMA_REG_CACHE"))) {
        if (!strcmp(v, "1") || !strcmp(v, "on") || !strcmp(v, "yes")) s->rcache_on = 1;
        else if (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "no")) s->rcache_on = 0;
        else if (strcmp(v, "auto") != 0) {
            snprintf(why, whylen, "SPIN_RDMA_REG_CACHE=\"%s\" is not auto, on or off", v);
            return SPIN_ERR_CONFIG;
        }
    }
    return 0;
}

/* Score of GID `idx` for RoCE: v2 with an IPv4-mapped address first.  The
 * GID type comes from sysfs (ibv_query_gid_ex needs rdma-core 32). */
static int gid_score(const rdma_state_t *s, int idx, const union ibv_gid *gid)
{
    static const unsigned char zero[16];
    const unsigned char *g = gid->raw;
    if (memcmp(g, zero, 16) == 0) return -1;
    int v4 = memcmp(g, zero, 10) == 0 && g[10] == 0xff && g[11] == 0xff;
    char path[256], type[32] = "";
    snprintf(path, sizeof path, "/sys/class/infiniband/%s/ports/%u/gid_attrs/types/%d",
             s->dev_name, s->port, idx);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(type, sizeof type, f)) type[0] = '\0';
        fclose(f);
    }
    int v2 = strstr(type, "v2") != NULL;
    return 2 * v2 + v4;
}

static int pick_gid(rdma_state_t *s, const struct ibv_port_attr *pa, char *why, size_t whylen)
{
    s->gid_index = -1;
    if (s->link_layer != IBV_LINK_LAYER_ETHERNET) return 0; /* InfiniBand: LIDs */
    const char *v = env(s->kit.host, "SPIN_RDMA_GID_INDEX");
    if (v) {
        char *end;
        long k = strtol(v, &end, 10);
        if (*end || k < 0 || k >= pa->gid_tbl_len ||
            ibv_query_gid(s->ctx, s->port, (int)k, &s->gid) != 0) {
            snprintf(why, whylen, "SPIN_RDMA_GID_INDEX=\"%s\" is not a valid GID index of %s port %u "
                     "(table of %d)", v, s->dev_name, s->port, pa->gid_tbl_len);
            return SPIN_ERR_CONFIG;
        }
        s->gid_index = (int)k;
        return 0;
    }
    int best = -1, best_score = -1;
    for (int i = 0; i < pa->gid_tbl_len; i++) {
        union ibv_gid g;
        if (ibv_query_gid(s->ctx, s->port, i, &g) != 0) continue;
        int sc = gid_score(s, i, &g);
        if (sc > best_score) {
            best_score = sc;
            best = i;
            s->gid = g;
        }
    }
    if (best < 0) {
        snprintf(why, whylen, "%s port %u (RoCE) has no usable GID: give its network interface an IP "
                 "address", s->dev_name, s->port);
        return SPIN_ERR_UNAVAILABLE;
    }
    s->gid_index = best;
    return 0;
}

/* Open `dev` and find an active port (or check `want_port`).  Returns 0 and
 * fills s, or appends why not to `note`. */
static int try_device(rdma_state_t *s, struct ibv_device *dev, int want_port, char *note,
                      size_t notelen, int *open_errno)
{
    const char *name = ibv_get_device_name(dev);
    size_t used = strlen(note);
    if (dev->transport_type != IBV_TRANSPORT_IB) { /* iWARP, usNIC, EFA: no RC writes with imm */
        snprintf(note + used, notelen - used, "%s%s: %s, not InfiniBand or RoCE", used ? "; " : "",
                 name, dev->transport_type == IBV_TRANSPORT_IWARP ? "iWARP" : "another transport");
        return -1;
    }
    struct ibv_context *ctx = ibv_open_device(dev);
    if (!ctx) {
        *open_errno = errno ? errno : EIO;
        snprintf(note + used, notelen - used, "%s%s: cannot open (%s)", used ? "; " : "", name,
                 strerror(*open_errno));
        return -1;
    }
    struct ibv_device_attr da;
    if (ibv_query_device(ctx, &da) != 0) {
        snprintf(note + used, notelen - used, "%s%s: cannot query (%s)", used ? "; " : "", name,
                 strerror(errno));
        ibv_close_device(ctx);
        return -1;
    }
    for (int p = 1; p <= da.phys_port_cnt; p++) {
        if (want_port && p != want_port) continue;
        struct ibv_port_attr pa;
        if (ibv_query_port(ctx, (uint8_t)p, &pa) != 0) continue;
        if (pa.state != IBV_PORT_ACTIVE) {
            used = strlen(note);
            snprintf(note + used, notelen - used, "%s%s port %d: %s", used ? "; " : "", name, p,
                     ibv_port_state_str(pa.state));
            continue;
        }
        s->ctx = ctx;
        s->dattr = da;
        s->port = (uint8_t)p;
        s->link_layer = pa.link_layer == IBV_LINK_LAYER_ETHERNET ? IBV_LINK_LAYER_ETHERNET
                                                                  : IBV_LINK_LAYER_INFINIBAND;
        s->lid = pa.lid;
        s->mtu = pa.active_mtu;
        snprintf(s->dev_name, sizeof s->dev_name, "%s", name);
        return 0;
    }
    if (want_port && want_port > da.phys_port_cnt) {
        used = strlen(note);
        snprintf(note + used, notelen - used, "%s%s has no port %d (%d ports)", used ? "; " : "",
                 name, want_port, da.phys_port_cnt);
    }
    ibv_close_device(ctx);
    return -1;
}

static void query_odp(rdma_state_t *s)
{
    struct ibv_device_attr_ex ax;
    memset(&ax, 0, sizeof ax);
    s->odp = 0;
    if (ibv_query_device_ex(s->ctx, NULL, &ax) != 0) return;
    s->odp = (ax.odp_caps.general_caps & IBV_ODP_SUPPORT) &&
             (ax.odp_caps.per_transport_caps.rc_odp_caps & IBV_ODP_SUPPORT_WRITE);
}

static int choose_device(rdma_state_t *s, char *why, size_t whylen)
{
    int num = 0;
    struct ibv_device **list = ibv_get_device_list(&num);
    if (!list || num <= 0) {
        if (list) ibv_free_device_list(list);
        snprintf(why, whylen, "%s", no_device_why);
        return SPIN_ERR_UNAVAILABLE;
    }
    char want[64] = "";
    int want_port = 0;
    const char *v = env(s->kit.host, "SPIN_RDMA_DEVICE");
    if (v) {
        snprintf(want, sizeof want, "%s", v);
        char *colon = strchr(want, ':');
        if (colon) {
            *colon = '\0';
            want_port = atoi(colon + 1);
            if (want_port < 1 || want_port > 255) {
                ibv_free_device_list(list);
                snprintf(why, whylen, "SPIN_RDMA_DEVICE=\"%s\": the port after ':' must be 1..255",
                         v);
                return SPIN_ERR_CONFIG;
            }
        }
    }
    char note[512] = "";
    int found = 0, open_errno = 0, rc = -1;
    for (int i = 0; i < num && rc != 0; i++) {
        if (want[0] && strcmp(ibv_get_device_name(list[i]), want) != 0) continue;
        found = 1;
        rc = try_device(s, list[i], want_port, note, sizeof note, &open_errno);
    }
    if (rc != 0 && want[0] && !found) {
        size_t used = 0;
        char names[256] = "";
        for (int i = 0; i < num && used < sizeof names; i++)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                     ibv_get_device_name(list[i]));
        snprintf(why, whylen, "SPIN_RDMA_DEVICE=\"%s\": no such RDMA device (found: %s)", v, names);
    } else if (rc != 0 && open_errno) {
        snprintf(why, whylen, "cannot open the RDMA device: %s", note);
    } else if (rc != 0) {
        snprintf(why, whylen, "no active RDMA port (%s): check the cable or link with ibv_devinfo",
                 note[0] ? note : "no ports");
    }
    ibv_free_device_list(list);
    return rc == 0 ? 0 : SPIN_ERR_UNAVAILABLE;
}

static void rdma_fini(void *state)
{
    rdma_state_t *s = state;
    if (!s) return;
    if (s->pd) ibv_dealloc_pd(s->pd);
    if (s->ctx) ibv_close_device(s->ctx);
    free(s);
}

static int rdma_init(const spin_plugin_host_t *host, void **state, char *why, size_t whylen)
{
    rdma_state_t *s = spin_tkit_state_new(host, sizeof *s, why, whylen);
    if (!s) return SPIN_ERR_NOMEM;
    int rc = choose_device(s, why, whylen);
    if (!rc) {
        struct ibv_port_attr pa;
        if (ibv_query_port(s->ctx, s->port, &pa) != 0) {
            snprintf(why, whylen, "%s port %u: cannot query: %s", s->dev_name, s->port,
                     strerror(errno));
            rc = SPIN_ERR_UNAVAILABLE;
        } else {
            rc = pick_gid(s, &pa, why, whylen);
        }
    }
    if (!rc) {
        query_odp(s);
        rc = settings(s, why, whylen);
    }
    if (!rc) {
        s->pd = ibv_alloc_pd(s->ctx);
        if (!s->pd) {
            snprintf(why, whylen, "%s: cannot allocate a protection domain: %s", s->dev_name,
                     strerror(errno));
            rc = SPIN_ERR_UNAVAILABLE;
        }
    }
    if (rc) {
        rdma_fini(s);
        return rc;
    }
    rdma_gpu_detect(s);
    spin_log(s->kit.log, SPIN_LOG_INFO, "rdma: %s port %u (%s, MTU %d%s%d), %d slots of %zu KiB per peer, "
             "registration cache %s", s->dev_name, s->port,
             s->link_layer == IBV_LINK_LAYER_ETHERNET ? "RoCE" : "InfiniBand",
             rdma_mtu_bytes(s->mtu), s->gid_index >= 0 ? ", GID index " : ", LID ",
             s->gid_index >= 0 ? s->gid_index : s->lid, s->slots, s->chunk / 1024,
             s->rcache_on ? (s->odp ? "on (on-demand paging)" : "on (forced)") : "off");
    rdma_gpu_describe(s);
    *state = s;
    return SPIN_OK;
}

static const spin_transport_ops_t rdma_ops = {
    .open = rdma_open,
    .close = rdma_close,
    .send = spin_tkit_send,
    .recv = spin_tkit_recv,
    .isend = rdma_isend,
    .irecv = rdma_irecv,
    .wait = rdma_wait,
    .stats = spin_tkit_stats,
    .comm_caps = rdma_comm_caps,
};

const spin_plugin_desc_t rdma_desc = {
    .abi_major = SPIN_ABI_MAJOR,
    .abi_minor = SPIN_ABI_MINOR,
    .struct_size = sizeof(spin_plugin_desc_t),
    .kind = SPIN_PLUGIN_TRANSPORT,
    .name = "rdma",
    .version = PACKAGE_VERSION,
    .description = "libibverbs RC queue pairs (InfiniBand, RoCE), RDMA write with immediate, "
                   "rdma://HOST:PORT bootstrap",
    /* Per communicator, not per build: comm_caps (README.md, GPU memory). */
    .caps = 0,
    .init = rdma_init,
    .fini = rdma_fini,
    .ops = &rdma_ops,
    .ops_size = sizeof(spin_transport_ops_t),
    /* ipc://PATH: the bootstrap over a Unix-domain socket (one host) */
    .endpoint_schemes = "rdma ipc",
};

SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);

SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void)
{
    return &rdma_desc;
}
