/* fuzz_dealer_req.c - the dealer's request parsers (core/mpc/bilinear.c:
 * spin_mpc_bilinear_from_req; core/mpc/boolean.c: spin_mpc_and_parse; and
 * the correction sizes the dealer computes from a request,
 * core/dealer/gen_bool.c spin_dealer_bool_words and core/dealer/gen_arith.c
 * spin_dealer_matmul_static_words).  The input is a dealer_req_t as it
 * arrives from party 0 (208 bytes: kind, nonce, p[24]; a shorter input is
 * padded with zeros), then optionally 8 bytes: the size of the one static
 * mask the dealer keeps (as request nonce p[19]).
 *
 * Checks beyond "no crash": an accepted bilinear request re-encodes to the
 * same words (spin_mpc_bilinear_to_req); its sizes na, nb, nc are the true
 * sizes of A, B and C computed without overflow (in 128-bit arithmetic, so
 * a product that wraps around in 64 bits is caught), each at most 2^34
 * words, and for a convolution the im2col buffer the dealer allocates
 * (cn * c*kh*kw * oh*ow words) does not overflow 64 bits; an accepted AND
 * request has 1..SPIN_AND_MAXSEG segments of 1..2^34 words, nt <= nx, and
 * offsets and correction words that are the exact running sums;
 * spin_dealer_bool_words agrees with the parser (0 for a refused request,
 * or one over the dealer's cap of 2^34 correction words). */
#include "config.h"

#include "dealer/dealer_internal.h"
#include "fuzz_common.h"

typedef unsigned __int128 u128;
#define LIM ((u128)1 << 34)
/* Saturating products: every factor is below 2^66, and SAT stands for
 * "at least 2^100", far above any bound checked here. */
#define SAT ((u128)1 << 100)

static u128 smul(u128 a, u128 b)
{
    if (!a || !b) return 0;
    return a >= SAT || b >= SAT || a > SAT / b ? SAT : a * b;
}

static u128 smul3(u128 a, u128 b, u128 c) { return smul(smul(a, b), c); }

static void check_bilinear(const dealer_req_t *rq)
{
    bilinear_t L;
    int rc = spin_mpc_bilinear_from_req(rq, &L);
    FUZZ_NOTE("bilinear_from_req(kind %llu): %d, na %zu nb %zu nc %zu", (unsigned long long)rq->kind,
              rc, L.na, L.nb, L.nc);
    if (rc != 0) return;
    dealer_req_t back;
    spin_mpc_bilinear_to_req(&L, &back);
    FUZZ_CHECK(back.kind == rq->kind && !memcmp(back.p, rq->p, 19 * sizeof rq->p[0]),
               "kind %llu: to_req(from_req(r)) != r", (unsigned long long)rq->kind);
    u128 na = 0, nb = 0, nc = 0, col = 0;
    const uint64_t *v = rq->p;
    u128 batch = v[0], m = v[1], n = v[2], k = v[3], ba = v[6], bb = v[7];
    u128 cn = v[8], cc = v[9], ch = v[10], cw = v[11], oc = v[12], kh = v[13], kw = v[14];
    u128 sh = v[15], sw = v[16], ph = v[17], pw = v[18];
    switch (rq->kind) {
    case REQ_MUL: na = nb = nc = v[1]; break;
    case REQ_SQUARE: na = nc = v[1]; break;
    case REQ_MATMUL:
        na = smul3(ba, m, k);
        nb = smul3(bb, k, n);
        nc = smul3(batch, m, n);
        break;
    case REQ_CONV:
    case REQ_CONV_DX:
    case REQ_CONV_DW: {
        FUZZ_CHECK(sh && sw && ch + 2 * ph >= kh && cw + 2 * pw >= kw,
                   "convolution with stride 0 or a kernel larger than the padded input accepted");
        u128 oh = (ch + 2 * ph - kh) / sh + 1, ow = (cw + 2 * pw - kw) / sw + 1;
        u128 x = smul(smul(cn, cc), smul(ch, cw));
        u128 ckk = smul3(cc, kh, kw);
        u128 w = smul(oc, ckk);
        u128 hw = smul(oh, ow);
        u128 y = smul3(cn, oc, hw);
        if (rq->kind == REQ_CONV) na = x, nb = w, nc = y;
        else if (rq->kind == REQ_CONV_DX) na = y, nb = w, nc = x;
        else na = x, nb = y, nc = w;
        /* the im2col buffer of spin_mpc_bilinear_eval: cn * ckk * oh*ow words */
        col = smul3(cn, ckk, hw);
        break;
    }
    default: break;
    }
    FUZZ_CHECK(na <= LIM && nb <= LIM && nc <= LIM,
               "kind %llu accepted with sizes over 2^34 words (true na %s, nb %s, nc %s 2^34; "
               "computed %zu %zu %zu): size overflow",
               (unsigned long long)rq->kind, na > LIM ? ">" : "<=", nb > LIM ? ">" : "<=",
               nc > LIM ? ">" : "<=", L.na, L.nb, L.nc);
    FUZZ_CHECK(L.na == na && L.nb == nb && L.nc == nc,
               "kind %llu: sizes %zu %zu %zu, true %llu %llu %llu", (unsigned long long)rq->kind,
               L.na, L.nb, L.nc, (unsigned long long)na, (unsigned long long)nb,
               (unsigned long long)nc);
    FUZZ_CHECK(col < ((u128)1 << 64),
               "accepted convolution: its im2col buffer (cn %llu x c*kh*kw x oh*ow words) "
               "overflows 64 bits", (unsigned long long)v[8]);
}

static void check_and(const dealer_req_t *rq)
{
    spin_and_req_t tr;
    int rc = spin_mpc_and_parse(rq, &tr);
    size_t words = spin_dealer_bool_words(rq);
    FUZZ_NOTE("and_parse: %d, %zu correction words; bool_words %zu", rc, tr.cwords, words);
    /* 0: malformed, or (dealer/dealer_internal.h) over the cap of 2^34 words */
    if (rq->kind == REQ_AND)
        FUZZ_CHECK(rc ? words == 0 : words == tr.cwords || (words == 0 && tr.cwords > LIM),
                   "bool_words %zu, parser %d/%zu", words, rc, tr.cwords);
    if (rc) return;
    FUZZ_CHECK(rq->kind == REQ_AND, "kind %llu parsed as AND", (unsigned long long)rq->kind);
    FUZZ_CHECK(tr.nseg >= 1 && tr.nseg <= SPIN_AND_MAXSEG && (uint64_t)tr.nseg == rq->p[0],
               "%d segments", tr.nseg);
    FUZZ_CHECK(tr.nonce == rq->nonce, "nonce");
    u128 off = 0, coff = 0;
    for (int s = 0; s < tr.nseg; s++) {
        FUZZ_CHECK(tr.nx[s] >= 1 && tr.nx[s] <= LIM && tr.nt[s] <= tr.nx[s] &&
                       tr.nx[s] == rq->p[1 + 2 * s] && tr.nt[s] == rq->p[2 + 2 * s],
                   "segment %d: nx %zu nt %zu", s, tr.nx[s], tr.nt[s]);
        FUZZ_CHECK(tr.off[s] == off && tr.coff[s] == coff, "segment %d offsets", s);
        off += 3 * (u128)tr.nx[s] + 2 * (u128)tr.nt[s];
        coff += (u128)tr.nx[s] + tr.nt[s];
    }
    FUZZ_CHECK(tr.cwords == coff, "cwords %zu", tr.cwords);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dealer_req_t rq;
    memset(&rq, 0, sizeof rq);
    memcpy(&rq, data, size < sizeof rq ? size : sizeof rq);
    check_bilinear(&rq);
    check_and(&rq);
    if (rq.kind == REQ_EDABIT || rq.kind == REQ_DABIT) {
        size_t w = spin_dealer_bool_words(&rq);
        FUZZ_CHECK(w == 0 || (rq.p[0] >= 1 && rq.p[0] <= LIM), "bool words %zu for n %llu", w,
                   (unsigned long long)rq.p[0]);
    }
    /* a static matmul against the one kept mask */
    spin_dealer_mask_t mask = {.nonce = rq.p[SPIN_STATIC_MASK_P]};
    if (size >= sizeof rq + 8) mask.words = (size_t)fuzz_le(data + sizeof rq, 8);
    spin_dealer_masks_t st = {.m = &mask, .n = 1, .cap = 1};
    size_t w = spin_dealer_matmul_static_words(&st, &rq);
    FUZZ_NOTE("matmul_static_words (mask %zu words): %zu", mask.words, w);
    if (w) {
        dealer_req_t mm = rq;
        mm.kind = REQ_MATMUL;
        bilinear_t L;
        FUZZ_CHECK(spin_mpc_bilinear_from_req(&mm, &L) == 0 && L.bb == 1 && L.nb == mask.words &&
                       L.nc == w,
                   "static matmul: %zu words", w);
        check_bilinear(&mm);
    }
    return 0;
}
