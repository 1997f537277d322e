/*
 * tcp_plugin.c - the tcp transport plugin: descriptor, init/fini, helpers.
 *
 * The communicator itself lives in tcp_comm.c (open/close, handshake),
 * tcp_io.c (framing, send/receive, progress) and tcp_keys.c (CurveZMQ key
 * files and the ZAP handler).  See README.md for the design and the wire
 * format.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tcp_internal.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

double tcp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

void tcp_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

void tcp_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

uint32_t tcp_get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

uint64_t tcp_get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

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
    tcp_state_t *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(why, whylen, "out of memory");
        return SPIN_ERR_NOMEM;
    }
    st->host = host;
    st->log = host ? host->log : NULL;
    *state = st;
    return SPIN_OK;
}

static void tcp_fini(void *state)
{
    free(state);
}

static const spin_transport_ops_t tcp_ops = {
    .open = tcp_open,
    .close = tcp_close,
    .send = tcp_send,
    .recv = tcp_recv,
    .isend = tcp_isend,
    .irecv = tcp_irecv,
    .wait = tcp_wait,
    .stats = tcp_stats,
};

static const spin_plugin_desc_t tcp_desc = {
    .abi_major = SPIN_ABI_MAJOR,
    .abi_minor = SPIN_ABI_MINOR,
    .struct_size = sizeof(spin_plugin_desc_t),
    .kind = SPIN_PLUGIN_TRANSPORT,
    .name = "tcp",
    .version = PACKAGE_VERSION,
    .description = "ZeroMQ transport over tcp:// and ipc://, optional CurveZMQ encryption",
    .caps = SPIN_CAP_TRANSPORT_SECURE,
    .init = tcp_init,
    .fini = tcp_fini,
    .ops = &tcp_ops,
    .ops_size = sizeof(spin_transport_ops_t),
};

SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);

SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void)
{
    return &tcp_desc;
}
