/* fuzz_hello.c - the transports' common HELLO fields (plugins/kit/
 * tkit_hello.c: spin_tkit_hello_decode, _verify, _refused, _encode).  The
 * input: the 24-byte HELLO as it arrives, then our side of the link: byte
 * 24 our party id, 25 the party count (2 + b % 63), 26..33 our
 * fingerprint, 34 the party we dialled (0xff: the HELLO arrived at our
 * endpoint; else b % n, never ourselves), 35 our wire version; a shorter
 * input is padded with zeros.
 *
 * Checks beyond "no crash": decode reads the documented little-endian
 * layout and encode writes it back byte for byte (byte 7 aside, which
 * encode zeroes); verify returns exactly the status the documented order
 * of checks gives (version, fingerprint, party count, identity), and
 * accepts the HELLO of every legitimate peer made with encode; refused
 * explains every status as SPIN_ERR_CONFIG. */
#include "config.h"

#include "fuzz_common.h"
#include "tkit.h"

static int expected(const spin_tkit_comm_t *k, const spin_tkit_hello_t *h, unsigned version,
                    int expect)
{
    if (h->version != version) return SPIN_TKIT_ST_VERSION;
    if (h->fingerprint != k->fingerprint) return SPIN_TKIT_ST_FINGERPRINT;
    if (h->nparties != (uint32_t)k->n) return SPIN_TKIT_ST_NPARTIES;
    if (expect >= 0 && h->party != (uint32_t)expect) return SPIN_TKIT_ST_IDENTITY;
    if (expect < 0 && (h->party <= (uint32_t)k->me || h->party >= (uint32_t)k->n))
        return SPIN_TKIT_ST_IDENTITY;
    return SPIN_TKIT_ST_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t in[36];
    memset(in, 0, sizeof in);
    memcpy(in, data, size < sizeof in ? size : sizeof in);
    const uint8_t *m = in;

    spin_tkit_comm_t k;
    memset(&k, 0, sizeof k);
    k.name = "fuzz";
    k.log = &fuzz_logger;
    k.n = 2 + in[25] % 63;
    k.me = in[24] % k.n;
    k.fingerprint = fuzz_le(in + 26, 8);
    int expect = in[34] == 0xff ? -1 : in[34] % k.n;
    if (expect == k.me) expect = -1;
    unsigned version = in[35];

    spin_tkit_hello_t h;
    memset(&h, 0xa5, sizeof h);
    spin_tkit_hello_decode(m, &h);
    FUZZ_CHECK(h.magic == fuzz_le(m, 4) && h.type == m[4] && h.version == m[5] && h.status == m[6] &&
                   h.extra == m[7] && h.party == fuzz_le(m + 8, 4) && h.nparties == fuzz_le(m + 12, 4) &&
                   h.fingerprint == fuzz_le(m + 16, 8),
               "decode does not read the documented layout");

    /* encode the fields back: the same bytes (byte 7 is zeroed) */
    spin_tkit_comm_t src = k;
    src.me = (int)h.party;
    src.n = (int)h.nparties;
    src.fingerprint = h.fingerprint;
    unsigned char back[SPIN_TKIT_HELLO_LEN];
    spin_tkit_hello_encode(&src, back, h.magic, h.type, h.version, h.status);
    FUZZ_CHECK(!memcmp(back, m, 7) && back[7] == 0 && !memcmp(back + 8, m + 8, 16),
               "encode(decode(m)) != m");

    int st = spin_tkit_hello_verify(&k, &h, version, expect);
    int want = expected(&k, &h, version, expect);
    FUZZ_NOTE("verify (me %d, n %d, expect %d, version %u): %d", k.me, k.n, expect, version, st);
    FUZZ_CHECK(st == want, "verify says %d, the documented checks %d (me %d, n %d, expect %d)", st,
               want, k.me, k.n, expect);
    FUZZ_CHECK(spin_tkit_hello_refused(&k, expect >= 0 ? expect : (k.me + 1) % k.n, h.status) ==
                   SPIN_ERR_CONFIG,
               "refused");

    /* a legitimate peer's HELLO, made by encode, passes */
    int peer = expect;
    if (peer < 0 && k.me < k.n - 1) peer = k.me + 1 + (int)(m[0] % (uint8_t)(k.n - 1 - k.me));
    if (peer >= 0) {
        spin_tkit_comm_t pk = k;
        pk.me = peer;
        unsigned char msg[SPIN_TKIT_HELLO_LEN];
        spin_tkit_hello_encode(&pk, msg, h.magic, h.type, version, SPIN_TKIT_ST_OK);
        spin_tkit_hello_t ph;
        spin_tkit_hello_decode(msg, &ph);
        FUZZ_CHECK(spin_tkit_hello_verify(&k, &ph, version, expect) == SPIN_TKIT_ST_OK,
                   "the HELLO of party %d refused by party %d (n %d, expect %d)", peer, k.me, k.n,
                   expect);
    }
    return 0;
}
