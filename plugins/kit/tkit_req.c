/*
 * tkit_req.c - requests (tkit.h): the fields every transport keeps of a
 * send or receive, the communicator's list of live requests, matching an
 * arriving message with its receive, and completion.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "tkit.h"

void spin_tkit_req_init(spin_tkit_req_t *r, int is_send, int peer, uint32_t tag, uint64_t seq,
                        size_t len)
{
    r->lprev = r->lnext = NULL;
    r->is_send = is_send;
    r->peer = peer;
    r->tag = tag;
    r->seq = seq;
    r->len = len;
    r->done = 0;
    r->status = 0;
}

void spin_tkit_req_live(spin_tkit_comm_t *k, spin_tkit_req_t *r)
{
    r->lprev = NULL;
    r->lnext = k->live;
    if (k->live) k->live->lprev = r;
    k->live = r;
}

void spin_tkit_req_unlive(spin_tkit_comm_t *k, spin_tkit_req_t *r)
{
    if (r->lprev) r->lprev->lnext = r->lnext;
    else k->live = r->lnext;
    if (r->lnext) r->lnext->lprev = r->lprev;
    r->lprev = r->lnext = NULL;
}

void spin_tkit_req_fail(spin_tkit_req_t *r, int code)
{
    if (r->done) return;
    r->done = 1;
    r->status = code;
}

int spin_tkit_req_fits(spin_tkit_comm_t *k, spin_tkit_req_t *r, uint32_t tag, uint64_t seq,
                       uint64_t len)
{
    if (tag == r->tag && seq == r->seq && len == (uint64_t)r->len) return 1;
    spin_log(k->log, SPIN_LOG_ERROR, "%s: peers out of step: party %d expected message #%llu from "
             "party %d with tag 0x%x and %zu bytes, but received message #%llu with tag 0x%x and "
             "%llu bytes", k->name, k->me, (unsigned long long)r->seq, r->peer, r->tag, r->len,
             (unsigned long long)seq, tag, (unsigned long long)len);
    spin_tkit_req_fail(r, SPIN_ERR_PROTOCOL);
    k->failed = 1;
    return 0;
}

void spin_tkit_req_received(spin_tkit_comm_t *k, spin_tkit_req_t *r)
{
    if (r->done) return;
    spin_tkit_count_recv(k, r->peer, r->len);
    r->done = 1;
    r->status = 0;
}
