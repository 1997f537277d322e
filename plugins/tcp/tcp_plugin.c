/*
 * tcp_plugin.c - the tcp transport plugin: descriptor, init/fini, routing ids.
 *
 * The communicator itself lives in tcp_comm.c (open/close, handshake),
 * tcp_io.c (framing, send/receive, progress) and tcp_keys.c (CurveZMQ key
 * files and the ZAP handler).  See README.md for the design and the wire
 * format.  Configuration checks, the HELLO check, blocking send/recv and
 * the counters come from the transport kit (plugins/kit).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <string.h>

#include "tcp_internal.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

/* Routing id of a party's DEALER: "spin<party>" (never starts with 0). */
void tcp_rid(int party, char *out, size_t *len)
{
    int k = snprintf(out, 16, "spin%d", party);
    *len = (size_t)k;
}

int tcp_rid_party(const void *rid, size_t len)
{
    const char *s = rid;
    if (len < 5 || len > 12 || memcmp(s, "spin", 4) != 0) return -1;
    int v = 0;
    for (size_t i = 4; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
        if (v > TCP_MAX_PARTIES) return -1;
    }
    return v;
}

static int tcp_init(const spin_plugin_host_t *host, void **state, char *why,
                    size_t whylen)
{
    int major = 0, minor = 0, patch = 0;
    zmq_version(&major, &minor, &patch);
    if (major < 4 || (major == 4 && minor < 2)) {
        snprintf(why, whylen, "libzmq %d.%d.%d is too old (need 4.2 or newer)", major, minor,
                 patch);
        return SPIN_ERR_UNAVAILABLE;
    }
    return spin_tkit_init(host, state, why, whylen);
}

static const spin_transport_ops_t tcp_ops = {
    .open = tcp_open,
    .close = tcp_close,
    .send = spin_tkit_send,
    .recv = spin_tkit_recv,
    .isend = tcp_isend,
    .irecv = tcp_irecv,
    .wait = tcp_wait,
    .stats = spin_tkit_stats,
};

const spin_plugin_desc_t tcp_desc = {
    .abi_major = SPIN_ABI_MAJOR,
    .abi_minor = SPIN_ABI_MINOR,
    .struct_size = sizeof(spin_plugin_desc_t),
    .kind = SPIN_PLUGIN_TRANSPORT,
    .name = "tcp",
    .version = PACKAGE_VERSION,
    .description = "ZeroMQ transport over tcp:// and ipc://, optional CurveZMQ encryption",
    .caps = SPIN_CAP_TRANSPORT_SECURE,
    .init = tcp_init,
    .fini = spin_tkit_fini,
    .ops = &tcp_ops,
    .ops_size = sizeof(spin_transport_ops_t),
    .endpoint_schemes = "tcp ipc",
};

SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);

SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void)
{
    return &tcp_desc;
}
