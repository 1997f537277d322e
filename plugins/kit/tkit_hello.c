/*
 * tkit_hello.c - the common fields of a transport handshake (tkit.h):
 * encoding, decoding, and the one check of a peer's fields, with messages
 * that say which part of the configuration differs and what to do.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <string.h>

#include "tkit.h"

#define LOGE(k, ...) spin_log((k)->log, SPIN_LOG_ERROR, __VA_ARGS__)

static const char *fix_hint = "start every party with the same configuration";

void spin_tkit_hello_encode(const spin_tkit_comm_t *k, unsigned char *m, uint32_t magic,
                            unsigned type, unsigned version, unsigned status)
{
    memset(m, 0, SPIN_TKIT_HELLO_LEN);
    spin_tkit_put32(m, magic);
    m[4] = (unsigned char)type;
    m[5] = (unsigned char)version;
    m[6] = (unsigned char)status;
    spin_tkit_put32(m + 8, (uint32_t)k->me);
    spin_tkit_put32(m + 12, (uint32_t)k->n);
    spin_tkit_put64(m + 16, k->fingerprint);
}

void spin_tkit_hello_decode(const unsigned char *m, spin_tkit_hello_t *h)
{
    h->magic = spin_tkit_get32(m);
    h->type = m[4];
    h->version = m[5];
    h->status = m[6];
    h->extra = m[7];
    h->party = spin_tkit_get32(m + 8);
    h->nparties = spin_tkit_get32(m + 12);
    h->fingerprint = spin_tkit_get64(m + 16);
}

/* The fingerprints differ: say which part (plugin.h, SPIN_FP_*). */
static void fingerprint_differs(const spin_tkit_comm_t *k, int party, uint64_t theirs)
{
    uint64_t ours = k->fingerprint;
    if (SPIN_FP_BUILD(theirs) != SPIN_FP_BUILD(ours))
        LOGE(k, "%s: party %d runs another Spin build (fingerprint %016llx, ours %016llx): "
                "install the same Spin everywhere", k->name, party, (unsigned long long)theirs,
             (unsigned long long)ours);
    else if (SPIN_FP_NPARTIES(theirs) != SPIN_FP_NPARTIES(ours))
        LOGE(k, "%s: party %d runs with %u computing parties, we run with %u: start every party "
                "with the same count", k->name, party, SPIN_FP_NPARTIES(theirs),
             SPIN_FP_NPARTIES(ours));
    else
        LOGE(k, "%s: party %d uses %u fractional bits, we use %u: set the same SPIN_FRAC_BITS "
                "(or frac_bits) on every party", k->name, party, SPIN_FP_FRAC_BITS(theirs),
             SPIN_FP_FRAC_BITS(ours));
}

int spin_tkit_hello_verify(const spin_tkit_comm_t *k, const spin_tkit_hello_t *h,
                           unsigned version, int expect)
{
    /* the party we name: the one whose endpoint we dialled, or the claim */
    int party = expect >= 0 ? expect : (int)h->party;
    if (h->version != version) {
        LOGE(k, "%s: party %d speaks wire protocol version %u, we (party %d) speak %u: install the "
                "same Spin on every party", k->name, party, h->version, k->me, version);
        return SPIN_TKIT_ST_VERSION;
    }
    if (h->fingerprint != k->fingerprint) {
        fingerprint_differs(k, party, h->fingerprint);
        return SPIN_TKIT_ST_FINGERPRINT;
    }
    if (h->nparties != (uint32_t)k->n) {
        LOGE(k, "%s: party %d runs with %u parties, we (party %d) run with %d: %s", k->name, party,
             h->nparties, k->me, k->n, fix_hint);
        return SPIN_TKIT_ST_NPARTIES;
    }
    if (expect >= 0 && h->party != (uint32_t)expect) {
        LOGE(k, "%s: party %u answered at the endpoint of party %d: check the endpoint list",
             k->name, h->party, expect);
        return SPIN_TKIT_ST_IDENTITY;
    }
    if (expect < 0 && (h->party <= (uint32_t)k->me || h->party >= (uint32_t)k->n)) {
        char who[64];
        if (k->me == k->n - 1) snprintf(who, sizeof who, "no party connects here");
        else snprintf(who, sizeof who, "only parties %d..%d connect here", k->me + 1, k->n - 1);
        LOGE(k, "%s: a peer claiming to be party %u connected to the endpoint of party %d; %s: "
                "check the endpoint list", k->name, h->party, k->me, who);
        return SPIN_TKIT_ST_IDENTITY;
    }
    return SPIN_TKIT_ST_OK;
}

int spin_tkit_hello_refused(const spin_tkit_comm_t *k, int peer, unsigned status)
{
    const char *what = NULL;
    switch (status) {
    case SPIN_TKIT_ST_IDENTITY:
        LOGE(k, "%s: party %d does not expect party %d to connect to it: check the endpoint list",
             k->name, peer, k->me);
        return SPIN_ERR_CONFIG;
    case SPIN_TKIT_ST_NPARTIES: what = "number of parties"; break;
    case SPIN_TKIT_ST_FINGERPRINT: what = "configuration fingerprint"; break;
    case SPIN_TKIT_ST_VERSION: what = "wire protocol version"; break;
    default: break;
    }
    if (what)
        LOGE(k, "%s: party %d refused our handshake (%s): %s", k->name, peer, what, fix_hint);
    else
        LOGE(k, "%s: party %d refused our handshake (reason %u): %s", k->name, peer, status,
             fix_hint);
    return SPIN_ERR_CONFIG;
}
