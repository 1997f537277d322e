/*
 * sock_open.c - open/close of a communicator: listening, the data-path
 * set-up of each link.  The checks of open() are the kit's (plugins/kit),
 * the handshake is in sock_hs.c.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "sock_internal.h"

#define LOGE(c, ...) spin_log((c)->kit.log, SPIN_LOG_ERROR, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* open / close.                                                            */
/* ------------------------------------------------------------------------ */

static int do_listen(sock_comm_t *c, const char *ep, const sock_addr_t *a)
{
    int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        LOGE(c, "sock: party %d cannot listen on %s: %s", c->kit.me, ep, strerror(errno));
        return SPIN_ERR_IO;
    }
    const char *path = NULL;
    if (a->family == AF_UNIX) {
        path = ((const struct sockaddr_un *)&a->sa)->sun_path;
        unlink(path); /* a stale socket file from an earlier run */
    } else {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (bind(fd, (const struct sockaddr *)&a->sa, a->len) != 0 || listen(fd, c->kit.n + 8) != 0) {
        int e = errno;
        LOGE(c, "sock: party %d cannot listen on %s: %s", c->kit.me, ep, strerror(e));
        close(fd);
        return e == EADDRNOTAVAIL || e == EAFNOSUPPORT || e == EINVAL || e == ENOENT ||
                       e == ENOTDIR
                   ? SPIN_ERR_CONFIG
                   : SPIN_ERR_IO;
    }
    c->lfd = fd;
    if (path && !(c->ipc_path = strdup(path))) return SPIN_ERR_NOMEM;
    return 0;
}

void sock_close(void *comm)
{
    sock_comm_t *c = comm;
    if (!c) return;
    for (int j = 0; c->peers && j < c->kit.n; j++) {
        sock_peer_t *p = &c->peers[j];
        if (p->fd >= 0) close(p->fd);
        sock_umsg_t *u = p->uq_head;
        while (u) {
            sock_umsg_t *nx = u->next;
            sock_umsg_free(u);
            u = nx;
        }
        free(p->rx);
        free(p->spare);
    }
    spin_request_t *r = c->free_reqs;
    while (r) {
        spin_request_t *nx = r->next;
        free(r);
        r = nx;
    }
    if (c->lfd >= 0) close(c->lfd);
    if (c->ipc_path) unlink(c->ipc_path);
    free(c->ipc_path);
    free(c->peers);
    free(c->pfd);
    free(c->pfd_peer);
    spin_tkit_comm_free(c); /* and the requests never waited for: cancelled */
}

/* Data-path settings of an established link. */
static int link_ready(sock_comm_t *c, int j)
{
    sock_peer_t *p = &c->peers[j];
    p->rx = malloc(SOCK_RXBUF);
    if (!p->rx) return SPIN_ERR_NOMEM;
    int fl = fcntl(p->fd, F_GETFL);
    struct timeval tv = {c->kit.timeout_ms / 1000, (c->kit.timeout_ms % 1000) * 1000};
    if (fl < 0 || fcntl(p->fd, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
        setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
        LOGE(c, "sock: party %d: setting up the link to party %d: %s", c->kit.me, j, strerror(errno));
        return SPIN_ERR_IO;
    }
    p->last_rx = p->last_tx = spin_tkit_now_ms();
    return 0;
}

int sock_open(void *state, const spin_transport_cfg_t *cfg, void **out)
{
    int rc = spin_tkit_check(&sock_desc, state, cfg, out, SOCK_MAX_PARTIES);
    if (rc) return rc;
    sock_comm_t *c = spin_tkit_comm_new(&sock_desc, state, cfg, sizeof *c);
    if (!c) return SPIN_ERR_NOMEM;
    c->lfd = -1;
    c->peers = calloc((size_t)c->kit.n, sizeof *c->peers);
    c->pfd = calloc((size_t)c->kit.n, sizeof *c->pfd);
    c->pfd_peer = calloc((size_t)c->kit.n, sizeof *c->pfd_peer);
    sock_addr_t *addr = calloc((size_t)c->kit.me + 1, sizeof *addr);
    if (!c->peers || !c->pfd || !c->pfd_peer || !addr) rc = SPIN_ERR_NOMEM;
    for (int j = 0; c->peers && j < c->kit.n; j++) {
        c->peers[j].fd = -1;
        c->peers[j].backoff_ms = SOCK_RETRY_MIN_MS;
    }
    for (int i = 0; !rc && i <= c->kit.me; i++) {
        char why[256];
        if (sock_parse_endpoint(cfg->endpoints[i], i == c->kit.me, &addr[i], why, sizeof why)) {
            LOGE(c, "sock: endpoint \"%s\" of party %d: %s", cfg->endpoints[i], i, why);
            rc = SPIN_ERR_CONFIG;
        }
    }
    if (!rc) rc = do_listen(c, cfg->endpoints[c->kit.me], &addr[c->kit.me]);
    if (!rc) rc = sock_handshake(c, cfg->endpoints, addr);
    free(addr);
    for (int j = 0; !rc && j < c->kit.n; j++)
        if (j != c->kit.me) rc = link_ready(c, j);
    if (rc) {
        sock_close(c);
        return rc;
    }
    *out = c;
    return 0;
}
