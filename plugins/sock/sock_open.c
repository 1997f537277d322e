/*
 * sock_open.c - open/close of a communicator: settings, listening, the
 * data-path set-up of each link.  The handshake itself is in sock_hs.c.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "sock_internal.h"

#define LOGE(c, ...) spin_log((c)->log, SPIN_LOG_ERROR, __VA_ARGS__)
#define LOGW(c, ...) spin_log((c)->log, SPIN_LOG_WARN, __VA_ARGS__)

static void parse_timeout(sock_comm_t *c, const spin_transport_cfg_t *cfg)
{
    if (cfg->timeout_ms > 0) {
        c->timeout_ms = cfg->timeout_ms;
        c->timeout_src = "timeout setting";
        return;
    }
    c->timeout_ms = 60000;
    c->timeout_src = "SPIN_TIMEOUT";
    const spin_plugin_host_t *h = c->st->host;
    const char *v = h && h->getenv ? h->getenv(h->env_ctx, "SPIN_TIMEOUT") : NULL;
    if (v && *v) {
        char *end;
        double s = strtod(v, &end);
        while (*end == ' ') end++;
        if (*end || !(s > 0) || s > 1e6 || isnan(s))
            LOGW(c, "sock: SPIN_TIMEOUT=\"%s\" is not a positive number of seconds; using 60", v);
        else
            c->timeout_ms = (int)ceil(s * 1000.0);
    }
}

/* ------------------------------------------------------------------------ */
/* open / close.                                                            */
/* ------------------------------------------------------------------------ */

static int do_listen(sock_comm_t *c, const char *ep, const sock_addr_t *a)
{
    int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        LOGE(c, "sock: party %d cannot listen on %s: %s", c->me, ep, strerror(errno));
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
    if (bind(fd, (const struct sockaddr *)&a->sa, a->len) != 0 || listen(fd, c->n + 8) != 0) {
        int e = errno;
        LOGE(c, "sock: party %d cannot listen on %s: %s", c->me, ep, strerror(e));
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
    for (int j = 0; c->peers && j < c->n; j++) {
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
    /* Requests never waited for are cancelled. */
    spin_request_t *lists[2] = {c->live, c->free_reqs};
    for (int l = 0; l < 2; l++) {
        spin_request_t *r = lists[l];
        while (r) {
            spin_request_t *nx = l ? r->next : r->lnext;
            free(r);
            r = nx;
        }
    }
    if (c->lfd >= 0) close(c->lfd);
    if (c->ipc_path) unlink(c->ipc_path);
    free(c->ipc_path);
    free(c->peers);
    free(c->pfd);
    free(c->pfd_peer);
    free(c);
}

/* Data-path settings of an established link. */
static int link_ready(sock_comm_t *c, int j)
{
    sock_peer_t *p = &c->peers[j];
    p->rx = malloc(SOCK_RXBUF);
    if (!p->rx) return SPIN_ERR_NOMEM;
    int fl = fcntl(p->fd, F_GETFL);
    struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
    if (fl < 0 || fcntl(p->fd, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
        setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
        LOGE(c, "sock: party %d: setting up the link to party %d: %s", c->me, j, strerror(errno));
        return SPIN_ERR_IO;
    }
    p->last_rx = p->last_tx = sock_now_ms();
    return 0;
}

int sock_open(void *state, const spin_transport_cfg_t *cfg, void **out)
{
    sock_state_t *st = state;
    const spin_logger_t *log = st ? st->log : NULL;
    if (!st || !cfg || !out) {
        spin_log(log, SPIN_LOG_ERROR, "sock: open: NULL argument");
        return SPIN_ERR_INVAL;
    }
    if (cfg->struct_size < offsetof(spin_transport_cfg_t, fingerprint) + sizeof(uint64_t)) {
        spin_log(log, SPIN_LOG_ERROR, "sock: open: configuration struct too small (%u bytes)",
                 cfg->struct_size);
        return SPIN_ERR_INVAL;
    }
    if (cfg->nparties < 1 || cfg->nparties > SOCK_MAX_PARTIES || cfg->party < 0 ||
        cfg->party >= cfg->nparties) {
        spin_log(log, SPIN_LOG_ERROR, "sock: open: party %d of %d parties is out of range",
                 cfg->party, cfg->nparties);
        return SPIN_ERR_INVAL;
    }
    if (cfg->key_dir && cfg->key_dir[0]) {
        spin_log(log, SPIN_LOG_ERROR, "sock: links are not encrypted; use SPIN_BACKEND=tcp "
                 "(CurveZMQ) for key files (key directory %s given)", cfg->key_dir);
        return SPIN_ERR_NOTSUP;
    }
    if (!cfg->endpoints) {
        spin_log(log, SPIN_LOG_ERROR, "sock: open: no endpoint list");
        return SPIN_ERR_CONFIG;
    }
    sock_comm_t *c = calloc(1, sizeof *c);
    if (!c) return SPIN_ERR_NOMEM;
    c->st = st;
    c->log = log;
    c->me = cfg->party;
    c->n = cfg->nparties;
    c->fingerprint = cfg->fingerprint;
    c->lfd = -1;
    parse_timeout(c, cfg);
    c->peers = calloc((size_t)c->n, sizeof *c->peers);
    c->pfd = calloc((size_t)c->n, sizeof *c->pfd);
    c->pfd_peer = calloc((size_t)c->n, sizeof *c->pfd_peer);
    sock_addr_t *addr = calloc((size_t)c->me + 1, sizeof *addr);
    int rc = 0;
    if (!c->peers || !c->pfd || !c->pfd_peer || !addr) rc = SPIN_ERR_NOMEM;
    for (int j = 0; c->peers && j < c->n; j++) {
        c->peers[j].fd = -1;
        c->peers[j].backoff_ms = SOCK_RETRY_MIN_MS;
    }
    for (int i = 0; !rc && i <= c->me; i++) {
        char why[256];
        if (sock_parse_endpoint(cfg->endpoints[i], i == c->me, &addr[i], why, sizeof why)) {
            LOGE(c, "sock: endpoint \"%s\" of party %d: %s", cfg->endpoints[i] ? cfg->endpoints[i]
                                                                               : "(null)", i, why);
            rc = SPIN_ERR_CONFIG;
        }
    }
    if (!rc) rc = do_listen(c, cfg->endpoints[c->me], &addr[c->me]);
    if (!rc) rc = sock_handshake(c, cfg->endpoints, addr);
    free(addr);
    for (int j = 0; !rc && j < c->n; j++)
        if (j != c->me) rc = link_ready(c, j);
    if (rc) {
        sock_close(c);
        return rc;
    }
    *out = c;
    return 0;
}
