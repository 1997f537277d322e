/* dealer_internal.h - the dealer role's internals, shared by the files of
 * core/dealer/ (hidden; not installed; see README.md).
 *
 * The dealer answers party 0's requests in order (serve.c).  Each answer is
 * a correction in plugin memory, made by a generator (gen_arith.c: products,
 * truncation pairs, static masks; gen_bool.c: AND triples, edaBits,
 * daBits) or taken from the run-ahead queue (runahead.c), which prepares
 * the predicted next requests while party 0 computes.  Request layouts and
 * streams: mpc/mpc_internal.h and docs/PROTOCOLS.md. */
#ifndef SPIN_DEALER_INTERNAL_H
#define SPIN_DEALER_INTERNAL_H

#include "mpc/mpc_internal.h"

/* ---- caps ------------------------------------------------------------------
 *
 * Every size in a request is checked (overflow-checked arithmetic,
 * runtime/checked.h) before anything is allocated: one operand or
 * dimension of a request holds at most SPIN_DEALER_MAX_WORDS words (2^34
 * words, 128 GiB; mpc/bilinear.c applies the same cap to the bilinear maps
 * and their im2col buffers; a correction is at most a small multiple of
 * it), and the static masks kept for the session at most
 * SPIN_DEALER_STATIC_MB (default 1024 MiB; each mask counts its words plus
 * SPIN_DEALER_MASK_OVERHEAD words of bookkeeping).  A request beyond a cap
 * is refused (spin_dealer_refuse: an error naming the request and the cap),
 * party 0 is told at once (serve.c) and the dealer stops serving. */

#define SPIN_DEALER_MAX_WORDS (UINT64_C(1) << 34)
#define SPIN_DEALER_STATIC_MB_DEFAULT 1024
#define SPIN_DEALER_STATIC_MB_MAX 1048576
#define SPIN_DEALER_MASK_OVERHEAD 8

/* Log "dealer: request R (KIND) from party 0 refused: WHY" and return code
 * (SPIN_ERR_PROTOCOL: malformed; SPIN_ERR_RANGE: beyond a cap) (gen_arith.c). */
int spin_dealer_refuse(spin_ctx_t *ctx, const dealer_req_t *rq, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "matmul", "truncation", "edaBit", ... for messages (gen_arith.c). */
const char *spin_dealer_kind_name(uint64_t kind);
/* Words n as "12345" or, when it did not fit in 64 bits (saturated), as
 * "more than 2^64" (gen_arith.c). */
const char *spin_dealer_words_str(uint64_t n, char *buf, size_t len);

/* ---- streams (gen_arith.c) ----------------------------------------------- */

/* out = sum over parties >= from of words [off, off+n) of their streams of
 * request nonce (tmp: n words of scratch). */
int spin_dealer_sum_streams(spin_ctx_t *ctx, uint64_t nonce, uint64_t off, size_t n, int from, uint64_t *out,
                            uint64_t *tmp);

/* ---- static-operand masks the dealer keeps for the session (gen_arith.c) - */

typedef struct spin_dealer_mask {
    uint64_t nonce;                      /* the mask request's */
    size_t words;
    uint64_t *b;                         /* B = sum of the parties' streams */
} spin_dealer_mask_t;

typedef struct spin_dealer_masks {
    spin_dealer_mask_t *m;
    size_t n, cap;
    uint64_t kept_words;                 /* sum of words + SPIN_DEALER_MASK_OVERHEAD per mask */
    uint64_t max_words;                  /* SPIN_DEALER_STATIC_MB in words */
    size_t max_mb;                       /* SPIN_DEALER_STATIC_MB, for messages */
} spin_dealer_masks_t;

/* Wipes every kept mask (they mask the parties' static operands) and frees
 * the store. */
void spin_dealer_masks_free(spin_ctx_t *ctx, spin_dealer_masks_t *st);

/* ---- generators: the correction for one request -------------------------
 *
 * Each returns 0 and a new plugin buffer *res of *words words (free it with
 * spin_mpc_buf_release), or an error; a malformed request is reported
 * (naming its kind) as SPIN_ERR_PROTOCOL. */

/* REQ_MUL, REQ_SQUARE, REQ_MATMUL and the convolutions (gen_arith.c). */
int spin_dealer_make_bilinear(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t **res, size_t *words);
/* REQ_TRUNC: r >> bits and msb(r), 2n words (gen_arith.c). */
int spin_dealer_make_trunc(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t **res, size_t *words);
/* REQ_STATIC_MASK: keeps B in st, within st->max_words (else refused with
 * SPIN_ERR_RANGE); the correction is empty (gen_arith.c). */
int spin_dealer_make_static_mask(spin_ctx_t *ctx, spin_dealer_masks_t *st, const dealer_req_t *rq, uint64_t **res,
                                 size_t *words);
/* REQ_MATMUL_STATIC: C = gemm(A, B) with a kept B (gen_arith.c). */
int spin_dealer_make_matmul_static(spin_ctx_t *ctx, const spin_dealer_masks_t *st, const dealer_req_t *rq,
                                   uint64_t **res, size_t *words);
/* Correction words of a REQ_MATMUL_STATIC request; 0 if it is malformed or
 * its mask is not kept (gen_arith.c). */
size_t spin_dealer_matmul_static_words(const spin_dealer_masks_t *st, const dealer_req_t *rq);
/* REQ_AND, REQ_EDABIT, REQ_DABIT (gen_bool.c). */
int spin_dealer_make_bool(spin_ctx_t *ctx, const dealer_req_t *rq, uint64_t **res, size_t *words);
/* Correction words of a REQ_AND, REQ_EDABIT or REQ_DABIT request; 0 if it
 * is malformed (gen_bool.c). */
size_t spin_dealer_bool_words(const dealer_req_t *rq);

/* ---- run-ahead (runahead.c) ------------------------------------------------
 *
 * The dealer remembers which request followed each request descriptor (kind
 * and shape, never values) and, once it has answered request r, prepares
 * the predicted requests r+1 and r+2, up to SPIN_DEALER_PREFETCH_MB of
 * prepared corrections (0: run-ahead off). */

#define SPIN_DEALER_HIST_MAX 4096
#define SPIN_DEALER_QUEUE_MAX 2

typedef struct spin_dealer_hist {
    dealer_req_t cur, next;              /* nonces ignored */
} spin_dealer_hist_t;

typedef struct spin_dealer_prepared {
    dealer_req_t rq;
    uint64_t *buf;
    size_t words;
} spin_dealer_prepared_t;

typedef struct spin_dealer_runahead {
    spin_dealer_masks_t masks;           /* static-operand masks (kept all session) */
    spin_dealer_hist_t *hist;            /* NULL: run-ahead off */
    size_t nhist;
    dealer_req_t prev;                   /* the request before the current one */
    int have_prev;
    spin_dealer_prepared_t q[SPIN_DEALER_QUEUE_MAX];
    int nq;
    size_t budget_words;
    uint64_t hits, misses;
} spin_dealer_runahead_t;

/* Reads SPIN_DEALER_PREFETCH_MB and SPIN_DEALER_STATIC_MB through the
 * runtime's environment hook (a bad value is named in a warning and the
 * default, 256 and 1024, applies). */
void spin_dealer_runahead_init(spin_ctx_t *ctx, spin_dealer_runahead_t *ra);
void spin_dealer_runahead_fini(spin_ctx_t *ctx, spin_dealer_runahead_t *ra);
/* Request rq arrived (its nonce checked): remember that it followed the
 * previous one. */
void spin_dealer_runahead_note(spin_dealer_runahead_t *ra, const dealer_req_t *rq);
/* The correction for rq: the queue's head if it was predicted (a hit),
 * else computed now (the queue is dropped; a miss if it was not empty). */
int spin_dealer_answer(spin_ctx_t *ctx, spin_dealer_runahead_t *ra, const dealer_req_t *rq, uint64_t **buf,
                       size_t *words);
/* After answering `last`: prepare the predictions that follow it until
 * the queue or the budget is full. */
int spin_dealer_runahead_prepare(spin_ctx_t *ctx, spin_dealer_runahead_t *ra, const dealer_req_t *last);

#endif
