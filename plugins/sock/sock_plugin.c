/*
 * sock_plugin.c - the sock transport plugin: descriptor and endpoint
 * parsing.  init/fini, configuration checks, the HELLO check, blocking
 * send/recv and the counters come from the transport kit (plugins/kit).
 *
 * The communicator lives in sock_open.c (open/close), sock_hs.c (the
 * handshake), sock_io.c (framing, sending, progress) and sock_rx.c
 * (receiving).  See README.md for the design and the wire format.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "sock_internal.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

/*
 * Parse "tcp://HOST:PORT" (HOST: a name, an IPv4 address, [IPv6], or "*" for
 * every interface when passive) or "ipc://PATH".  passive: the address is
 * for bind().  Returns 0, or -1 with a reason in why.
 */
int sock_parse_endpoint(const char *ep, int passive, sock_addr_t *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (!ep || !*ep) {
        snprintf(why, whylen, "empty endpoint");
        return -1;
    }
    if (strncmp(ep, "ipc://", 6) == 0) {
        const char *path = ep + 6;
        struct sockaddr_un *un = (struct sockaddr_un *)&out->sa;
        if (!*path || strlen(path) >= sizeof un->sun_path) {
            snprintf(why, whylen, "the path must have 1 to %zu characters",
                     sizeof un->sun_path - 1);
            return -1;
        }
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, path, strlen(path) + 1);
        out->len = (socklen_t)sizeof *un;
        out->family = AF_UNIX;
        return 0;
    }
    if (strncmp(ep, "tcp://", 6) != 0) {
        snprintf(why, whylen, "not tcp://HOST:PORT or ipc://PATH");
        return -1;
    }
    const char *hp = ep + 6;
    const char *colon = strrchr(hp, ':');
    if (!colon || colon == hp || !colon[1]) {
        snprintf(why, whylen, "no HOST:PORT after tcp://");
        return -1;
    }
    char host[256], port[16];
    size_t hl = (size_t)(colon - hp);
    if (hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']') {
        hp++;
        hl -= 2;
    }
    if (hl >= sizeof host) {
        snprintf(why, whylen, "host name too long");
        return -1;
    }
    memcpy(host, hp, hl);
    host[hl] = '\0';
    char *end;
    errno = 0;
    unsigned long pn = strtoul(colon + 1, &end, 10);
    if (*end || errno || pn < 1 || pn > 65535) {
        snprintf(why, whylen, "the port must be a number from 1 to 65535");
        return -1;
    }
    snprintf(port, sizeof port, "%lu", pn);
    int any = strcmp(host, "*") == 0;
    if (any && !passive) {
        snprintf(why, whylen, "\"*\" (every interface) can be listened on, not connected to");
        return -1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = any ? AF_INET : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int g = getaddrinfo(any ? NULL : host, port, &hints, &res);
    if (g != 0 || !res) {
        snprintf(why, whylen, "cannot resolve \"%s\": %s", host,
                 g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
        if (res) freeaddrinfo(res);
        return -1;
    }
    if (res->ai_addrlen > sizeof out->sa) {
        freeaddrinfo(res);
        snprintf(why, whylen, "address too long");
        return -1;
    }
    memcpy(&out->sa, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    out->family = res->ai_family;
    freeaddrinfo(res);
    return 0;
}

static const spin_transport_ops_t sock_ops = {
    .open = sock_open,
    .close = sock_close,
    .send = spin_tkit_send,
    .recv = spin_tkit_recv,
    .isend = sock_isend,
    .irecv = sock_irecv,
    .wait = sock_wait,
    .stats = spin_tkit_stats,
};

const spin_plugin_desc_t sock_desc = {
    .abi_major = SPIN_ABI_MAJOR,
    .abi_minor = SPIN_ABI_MINOR,
    .struct_size = sizeof(spin_plugin_desc_t),
    .kind = SPIN_PLUGIN_TRANSPORT,
    .name = "sock",
    .version = PACKAGE_VERSION,
    .description = "plain TCP / Unix-domain sockets over tcp:// and ipc://, low latency, "
                   "not encrypted",
    .caps = 0,
    .init = spin_tkit_init,
    .fini = spin_tkit_fini,
    .ops = &sock_ops,
    .ops_size = sizeof(spin_transport_ops_t),
    .endpoint_schemes = "tcp ipc",
};

SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void);

SPIN_PLUGIN_EXPORT const spin_plugin_desc_t *spin_plugin_query(void)
{
    return &sock_desc;
}
