/*
 * tkit_io.c - data path helpers (tkit.h): the blocking forms over the
 * non-blocking ones, and the timeout reports, which all name the knob
 * SPIN_TIMEOUT.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <string.h>

#include "tkit.h"

#define LOGE(k, ...) spin_log((k)->log, SPIN_LOG_ERROR, __VA_ARGS__)

static const spin_transport_ops_t *ops_of(const spin_tkit_comm_t *k)
{
    return (const spin_transport_ops_t *)k->desc->ops;
}

int spin_tkit_send(void *comm, int peer, uint32_t tag, const void *buf, size_t len)
{
    spin_tkit_comm_t *k = comm;
    if (!k) return SPIN_ERR_INVAL;
    spin_request_t *r;
    int rc = ops_of(k)->isend(comm, peer, tag, buf, len, &r);
    return rc ? rc : ops_of(k)->wait(comm, r);
}

int spin_tkit_recv(void *comm, int peer, uint32_t tag, void *buf, size_t len)
{
    spin_tkit_comm_t *k = comm;
    if (!k) return SPIN_ERR_INVAL;
    spin_request_t *r;
    int rc = ops_of(k)->irecv(comm, peer, tag, buf, len, &r);
    return rc ? rc : ops_of(k)->wait(comm, r);
}

void spin_tkit_log_timeout(const spin_tkit_comm_t *k, int is_send, int peer, uint64_t seq,
                           uint32_t tag, size_t len, const char *detail)
{
    double s = k->timeout_ms / 1000.0;
    if (!detail) detail = "";
    if (is_send)
        LOGE(k, "%s: party %d did not take our %zu-byte message #%llu (tag 0x%x) for %g s "
                "(SPIN_TIMEOUT)%s", k->name, peer, len, (unsigned long long)seq, tag, s, detail);
    else
        LOGE(k, "%s: party %d sent nothing for %g s (SPIN_TIMEOUT) while party %d waited for its "
                "message #%llu (tag 0x%x, %zu bytes)%s", k->name, peer, s, k->me,
             (unsigned long long)seq, tag, len, detail);
}

void spin_tkit_log_open_timeout(const spin_tkit_comm_t *k, const char *const *eps,
                                int (*up)(void *arg, int peer, int *err), void *arg)
{
    char list[1024];
    size_t off = 0;
    list[0] = '\0';
    int missing = 0;
    for (int j = 0; j < k->n && off < sizeof list; j++) {
        int e = 0;
        if (j == k->me || up(arg, j, &e)) continue;
        const char *sep = missing++ ? ", " : "";
        int w;
        if (j < k->me)
            w = snprintf(list + off, sizeof list - off, "%sparty %d (we connect to %s%s%s)", sep, j,
                         eps[j], e ? ": " : "", e ? strerror(e) : "");
        else
            w = snprintf(list + off, sizeof list - off, "%sparty %d (connects to us)", sep, j);
        if (w < 0) break;
        off += (size_t)w;
    }
    LOGE(k, "%s: party %d: no handshake within %g s (SPIN_TIMEOUT) with %s: are those parties "
            "running, with the same endpoint list?", k->name, k->me, k->timeout_ms / 1000.0, list);
}
