/*
 * tkit_stats.c - the stats op over the per-peer counters of the
 * communicator header (spin_tkit_count_sent / spin_tkit_count_recv).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "tkit.h"

int spin_tkit_stats(void *comm, int peer, spin_transport_stats_t *out)
{
    const spin_tkit_comm_t *k = comm;
    if (!k || !out || peer < 0 || peer >= k->n) return SPIN_ERR_INVAL;
    *out = k->stats[peer];
    return 0;
}
