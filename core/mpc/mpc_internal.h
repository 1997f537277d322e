/* mpc_internal.h - internal layout of contexts and tensors, and the helpers
 * shared by the protocol files (hidden; not installed). */
#ifndef SPIN_MPC_INTERNAL_H
#define SPIN_MPC_INTERNAL_H

#include <spin/mpc.h>

#define SPIN_MAX_PARTIES 64

/* Message tags: protocol id << 8 | step.  A party running another protocol
 * than its peer fails at the next message with the transport's tag error. */
enum {
    TAG_SETUP_DEALER_KEY = 0x0101,
    TAG_SETUP_PAIR_KEY = 0x0102,
    TAG_DEALER_REQ = 0x0200,
    TAG_DEALER_RESP = 0x0201,
    TAG_REVEAL = 0x0300,
    TAG_BEAVER = 0x0400,
    TAG_TRUNC = 0x0500
};

/* Plugin memory with a reference count (views share it). */
typedef struct spin_buf {
    int refs;
    uint64_t *ptr;
    size_t words;
    spin_ctx_t *ctx;
} spin_buf_t;

struct spin_tensor {
    spin_ctx_t *ctx;
    spin_buf_t *buf;
    size_t offset;                       /* in elements */
    int ndim;
    size_t shape[SPIN_MAX_DIMS];
    size_t strides[SPIN_MAX_DIMS];       /* in elements */
};

struct spin_ctx {
    spin_runtime_t *rt;
    const spin_logger_t *log;
    spin_backend_t compute_backend, transport_backend;
    const spin_compute_ops_t *compute;   /* compute ops */
    void *compute_state;
    const spin_transport_ops_t *transport; /* transport ops */
    void *comm;                          /* the transport's communicator */
    int host_mem;                        /* plugin memory is host memory */
    int party;                           /* my id: 0..nparties-1, or nparties (dealer) */
    int nparties;                        /* computing parties (the dealer not counted) */
    int dealer;                          /* 1 if I am the dealer (id nparties) */
    unsigned frac_bits;                  /* fixed point: value = integer / 2^frac_bits */
    int timeout_ms;
    spin_prg_key_t dealer_key;           /* party: shared with the dealer */
    spin_prg_key_t *party_keys;          /* dealer: one per party */
    spin_prg_key_t pair_key[SPIN_MAX_PARTIES]; /* party: with each other party */
    uint64_t input_nonce;                /* next input-sharing nonce */
    uint64_t req_nonce;                  /* next dealer request */
    uint64_t rounds;
    uint64_t desc_hash;                  /* running hash of every protocol step's
                                          * description (open.c): its top 16 bits
                                          * go into the tags of the openings */
    uint64_t local_counter;              /* fixed-seed key derivation */
    int fixed;                           /* fixed seed in use */
    uint8_t fixed_seed[32];
    int check_ranges;                    /* SPIN_CHECK_RANGES=1: debug range checks */
    uint64_t range_checks;               /* truncations checked so far */
    int range_reported;                  /* party 0 has named the first violation */
};

/* Dealer requests. */
typedef enum req_kind {
    REQ_MUL = 1,        /* element-wise triple: A, B, C = A*B */
    REQ_SQUARE = 2,     /* A, C = A*A */
    REQ_MATMUL = 3,     /* A, B, C = gemm(A, B) with params */
    REQ_CONV = 4,       /* A, B, C = conv2d(A, B) */
    REQ_CONV_DX = 5,    /* A, B, C = conv2d_grad_input(A, B) */
    REQ_CONV_DW = 6,    /* A, B, C = conv2d_grad_weight(A, B) */
    REQ_TRUNC = 7,      /* r, r >> bits, msb(r) */
    REQ_BYE = 0xff
} req_kind_t;

/* A bilinear map L(A, B) and the sizes of A, B, C. */
typedef struct bilinear {
    req_kind_t kind;
    /* matmul: A [ba][m][k] (or [ba][k][m] if ta), B [bb][k][n] (or [bb][n][k]),
     * C [batch][m][n]; ba, bb in {1, batch}. */
    uint64_t batch, m, n, k, ta, tb, ba, bb;
    /* conv: x [N][C][H][W], w [OC][C][KH][KW], y [N][OC][OH][OW] */
    uint64_t cn, cc, ch, cw, oc, kh, kw, sh, sw, ph, pw;
    size_t na, nb, nc;
} bilinear_t;

typedef struct dealer_req {
    uint64_t kind;
    uint64_t nonce;
    uint64_t p[24];
} dealer_req_t;

/* ---- ctx.c ---- */
int spin_mpc_ctx_random_key(spin_ctx_t *ctx, spin_prg_key_t *key);

/* ---- buffers and tensors (tensor.c) ---- */
int spin_mpc_buf_alloc(spin_ctx_t *ctx, size_t words, uint64_t **p);
void spin_mpc_buf_release(spin_ctx_t *ctx, uint64_t *p);
int spin_mpc_tensor_wrap(spin_ctx_t *ctx, uint64_t *p, int ndim, const size_t *shape, spin_tensor_t **out);
int spin_mpc_tensor_new_like(spin_ctx_t *ctx, int ndim, const size_t *shape, spin_tensor_t **out);
int spin_mpc_tensor_is_contiguous(const spin_tensor_t *t);
/* Pointer to the first element of a contiguous tensor (plugin memory). */
uint64_t *spin_mpc_tensor_data(const spin_tensor_t *t);
/* A contiguous tensor or a contiguous copy; *owned says whether to free it. */
int spin_mpc_tensor_dense(const spin_tensor_t *t, spin_tensor_t **dense, int *owned);
/* A dense copy of t's n words in fresh plugin memory (*out NULL on failure). */
int spin_mpc_dense_words(spin_ctx_t *ctx, const spin_tensor_t *t, uint64_t **out);

/* ---- open.c: batched all-to-all openings, pipelined in chunks ---- */
/* Every share and every dealer correction travels as chunks of this many
 * words (1 MiB), one message each, on every backend (a protocol constant:
 * the framing must agree between parties on different plugins). */
#define SPIN_CHUNK_WORDS ((size_t)1 << 17)
/* Fold v into the context's description hash: every party describes each
 * protocol step (dealer request: kind and shape; opening: tag, size,
 * receiver) in the same order, and the openings carry 16 bits of the hash
 * in their tags, so two parties running different steps of the same kind
 * and size (e.g. a transposed matmul, another truncation width) fail at
 * the next opening with the transport's "out of step" error naming the
 * peer, instead of computing a wrong answer. */
void spin_mpc_desc_mix(spin_ctx_t *ctx, uint64_t v);
/* Messages for n words: ceil(n / SPIN_CHUNK_WORDS), one for n = 0. */
/* Do openings and dealer corrections hand device memory to the transport
 * directly (its communicator has SPIN_CAP_TRANSPORT_DEVICE_MEM)?  open.c */
int spin_mpc_dev_direct(const spin_ctx_t *ctx);
size_t spin_mpc_chunks(size_t n);
/* Words in chunk j of n words. */
size_t spin_mpc_chunk_len(size_t n, size_t j);

typedef struct spin_opening {
    spin_ctx_t *ctx;
    uint32_t tag;
    int to;                              /* -1: all; else the one receiver */
    size_t n, chunks;
    uint64_t *dev;                       /* my share in, the sum out */
    uint64_t *hsend;                     /* host copy of my share */
    uint64_t *hrecv;                     /* (N-1) x n host words */
    int hsend_owned;
    spin_request_t **sreq, **rreq;       /* [party][chunk] */
} spin_opening_t;

int spin_mpc_open_start(spin_ctx_t *ctx, uint32_t tag, uint64_t *dev, size_t n, int to,
                    spin_opening_t *op);
/* Combine the shares with `combine` (ADD: arithmetic, XOR: boolean). */
int spin_mpc_open_finish_op(spin_opening_t *op, spin_ring_binop_t combine);
int spin_mpc_open_finish(spin_opening_t *op);

/* ---- dealer_client.c: the party side of the dealer ---- */
/* Every party describes the request (spin_mpc_desc_mix); party 0 sends it. */
int spin_mpc_dealer_request(spin_ctx_t *ctx, const dealer_req_t *rq);
/* Party 0: the dealer's correction (words words) into plugin memory. */
int spin_mpc_dealer_receive(spin_ctx_t *ctx, uint64_t *dev, size_t words);
/* Party side of seed compression: my shares of words [off, off+n) of
 * request nonce's stream. */
int spin_mpc_dealer_stream(spin_ctx_t *ctx, uint64_t nonce, uint64_t off, uint64_t *dev, size_t n);

/* ---- bilinear.c: bilinear maps (parties and dealer) ---- */
/* The local evaluation of a bilinear map (parties and dealer). */
int spin_mpc_bilinear_eval(spin_ctx_t *ctx, const bilinear_t *L, uint64_t *c,
                       const uint64_t *a, const uint64_t *b, int accumulate);
void spin_mpc_bilinear_sizes(bilinear_t *L);
/* Matmul of an [ba?, ar, ac] and a [bb?, br, bc] operand (transposes
 * applied, batch 1 broadcast): fills L (kind REQ_MATMUL, sizes not yet
 * computed) and the product's shape; a mismatch is an error naming what. */
int spin_mpc_matmul_geometry(spin_ctx_t *ctx, const char *what, int nda, const size_t *sa, int trans_a, int ndb,
                         const size_t *sb, int trans_b, bilinear_t *L, size_t shape[3], int *nd);
void spin_mpc_bilinear_to_req(const bilinear_t *L, dealer_req_t *rq);
int spin_mpc_bilinear_from_req(const dealer_req_t *rq, bilinear_t *L);
/* Static operands (static.c): the request word holding the mask's nonce. */
#define SPIN_STATIC_MASK_P 19

/* SPIN_ERR_INVAL (with a message naming `what`) on a NULL or dealer context
 * (tensor.c). */
int spin_mpc_check_party(spin_ctx_t *ctx, const char *what);

/* ---- beaver.c: word-level helpers (n words of plugin memory) ---- */
/* Truncate in place by d bits (one round, at most 1 ulp). */
int spin_mpc_trunc_words(spin_ctx_t *ctx, uint64_t *x, size_t n, unsigned d);
/* Truncation split in two: the dealer request (send it before an opening
 * so the dealer works meanwhile), then the run on n words in place. */
int spin_mpc_trunc_request(spin_ctx_t *ctx, size_t n, unsigned d, uint64_t *nonce);
int spin_mpc_trunc_run(spin_ctx_t *ctx, uint64_t *x, size_t n, unsigned d, uint64_t nonce);
/* z = x * y in the ring, no truncation (one Beaver round); z may alias. */
int spin_mpc_mul_words(spin_ctx_t *ctx, const uint64_t *x, const uint64_t *y, size_t n, uint64_t *z);

/* ---- logging helper ---- */
#define MPC_ERR(ctx, ...) spin_log((ctx)->log, SPIN_LOG_ERROR, __VA_ARGS__)

/* ---- comparison: boolean shares, edaBits, daBits (boolean.c, compare.c) ---- */

enum {
    TAG_CMP_MASK = 0x0600,      /* c = x + r (and x - a for a bit times a value) */
    TAG_BOOL_AND = 0x0601,      /* e = x ^ a, f = y ^ b of an AND level */
    TAG_CMP_B2A = 0x0602,       /* e = b ^ rho (bit to arithmetic) */
    TAG_CMP_SELECT = 0x0603     /* Beaver openings of select */
};

enum {
    REQ_AND = 8,        /* XOR triples a, b, c = a & b in batches (segments) */
    REQ_EDABIT = 9,     /* r arithmetic and its bits XOR-shared, bit-sliced */
    REQ_DABIT = 10,     /* a bit rho XOR-shared and arithmetic */
    REQ_STATIC_MASK = 11, /* a mask B (p[0] words) the dealer keeps; no correction */
    REQ_MATMUL_STATIC = 12 /* A, C = gemm(A, B) for the kept mask B of request p[19] */
};

/* Words per bit plane of n elements. */
#define SPIN_BITS_W(n) (((n) + 63) / 64)

/* REQ_EDABIT, p[0] = n, p[1] = flags.  Stream of party i: r_i in [0, n)
 * (arithmetic; r = sum r_i, no correction), then 64 W words of bit-plane
 * shares in circuit order (plane of bit j at position spin_mpc_bits_pos(j)),
 * then with SPIN_EDABIT_PAIRS 32 W words of pair products: position p holds
 * bit(2k+1) & bit(2k) for k = rev5(p), i.e. plane p+32 & plane p.  Parties
 * >= 1 take the bit shares from their stream; party 0 receives them
 * (64 W or 96 W words). */
#define SPIN_EDABIT_PAIRS 1u
/* REQ_DABIT, p[0] = n, p[1] = flags.  Stream: rho_i bit-packed in [0, W)
 * (rho = xor rho_i), arithmetic share of rho in [W, W+n) (parties >= 1);
 * with SPIN_DABIT_PRODUCT also a_i in [W+n, W+2n) (all) and c_i in
 * [W+2n, W+3n) (parties >= 1) with c = a * rho: a mask of a value to be
 * multiplied by rho.  Party 0 receives n (or 2n) words: its rho, its c. */
#define SPIN_DABIT_PRODUCT 1u

/* Circuit position of bit plane j (0..63): low bits of pairs first, in
 * bit-reversed pair order, then the high bits. */
unsigned spin_mpc_bits_pos(unsigned j);
/* Bit-slice n words (plugin memory) into 64 W words of planes in circuit
 * order; complement slices ~x. */
int spin_mpc_bits_slice(spin_ctx_t *ctx, const uint64_t *x, size_t n, int complement, uint64_t *planes);
/* One bit-packed plane (W words) to n words of 0/1. */
int spin_mpc_bits_unpack(spin_ctx_t *ctx, const uint64_t *plane, size_t n, uint64_t *out);
/* spin_mpc_open_finish for XOR shares. */
int spin_mpc_open_xor_finish(spin_opening_t *op);

/* An AND request (REQ_AND): p[0] = segments, then (nx, nt) per segment. */
#define SPIN_AND_MAXSEG 11
typedef struct spin_and_req {
    uint64_t nonce;
    int nseg;
    size_t nx[SPIN_AND_MAXSEG], nt[SPIN_AND_MAXSEG];
    uint64_t off[SPIN_AND_MAXSEG];       /* stream offset of each segment */
    size_t coff[SPIN_AND_MAXSEG];        /* correction offset of each segment */
    size_t cwords;                       /* correction words in all */
    uint64_t *corr;                      /* party 0: corrections, at first run */
} spin_and_req_t;
int spin_mpc_and_parse(const dealer_req_t *rq, spin_and_req_t *tr);
int spin_mpc_and_request(spin_ctx_t *ctx, int nseg, const size_t *nx, const size_t *nt, spin_and_req_t *tr);
/* Segment seg: z (nx + nt words) = x & yh (nx words), then the last nt
 * words of x & yt (nt words).  One round. */
int spin_mpc_and_run(spin_ctx_t *ctx, spin_and_req_t *tr, int seg, const uint64_t *x, const uint64_t *yh,
                 const uint64_t *yt, uint64_t *z);
void spin_mpc_and_release(spin_ctx_t *ctx, spin_and_req_t *tr);
int spin_mpc_edabit_request(spin_ctx_t *ctx, size_t n, uint64_t *nonce);
int spin_mpc_dabit_request(spin_ctx_t *ctx, size_t n, int with_product, uint64_t *nonce);

/* The comparison circuit: SPIN_CMP_LEVELS AND rounds after the opening. */
#define SPIN_CMP_LEVELS 5
int spin_mpc_cmp_and_request(spin_ctx_t *ctx, size_t W, spin_and_req_t *tr);
/* XOR share (W words) of msb(c - r), c public (n words), rb my shares of
 * the edaBit bits and pairs (96 W words). */
int spin_mpc_bool_msb(spin_ctx_t *ctx, const uint64_t *c, size_t n, const uint64_t *rb, spin_and_req_t *tr,
                  uint64_t *out);

/* compare.c: for n words x (plugin memory), integer 0/1 shares of
 * [x < 0] (ltz = 1) or [x >= 0] (ltz = 0) into b (NULL: not wanted) and of
 * that bit times v into bv (NULL: not wanted; v is n words).  7 rounds.
 * b and bv must not alias x or v. */
int spin_mpc_cmp_words(spin_ctx_t *ctx, const uint64_t *x, size_t n, int ltz, uint64_t *b, const uint64_t *v,
                   uint64_t *bv);

/* SPIN_CHECK_RANGES=1 (a debug mode, off by default): is every one of the n
 * words of x (a truncation's input, plugin memory) inside the truncation's
 * range |x| < 2^62?  Two comparisons (7 rounds) and one opening of the
 * 0/1 verdicts to party 0, which logs the first operation (`what`, and the
 * count of truncations so far) and element outside it; no other party
 * learns anything.  Reveals one bit per element to party 0.  Off: returns
 * 0 at once, no message.  Call it before the truncation's dealer request
 * (every party must run with the same setting).  compare.c */
#define TAG_RANGE_CHECK 0x0700u
int spin_mpc_range_check(spin_ctx_t *ctx, const uint64_t *x, size_t n, const char *what);

#endif
