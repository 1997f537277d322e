/*
 * cuda_math.h - the arithmetic of the cuda plugin's kernels, as inline
 * functions that compile both as CUDA __host__ __device__ code (nvcc) and as
 * plain C11 (gcc), so that tests/test_cuda_host.c checks exactly the code the
 * kernels run against the cpu plugin, on a machine without a GPU.
 *
 *   ring ops         cm_ring_binop / cm_ring_scalarop / cm_ring_unop (mod 2^64)
 *   fixed point      cm_round_away, cm_fix_from_f64, cm_fix_to_f64
 *   float64 ops      cm_f64_binop / cm_f64_scalarop / cm_f64_unop
 *   GEMM limbs       16-bit limbs for float64 GEMMs, signed 8-bit digits for
 *                    int8 GEMMs, the packed limb layout, recombination
 *   AES-128          S-box and T-table computed from GF(2^8) arithmetic, key
 *                    expansion, one block, the CTR word layout of plugin.h
 *   layout           im2col source index, col2im gather
 *   allocator        size classes of the caching device allocator
 *
 * Nothing here touches memory other than its arguments; no global state.
 */
#ifndef SPIN_CUDA_MATH_H
#define SPIN_CUDA_MATH_H

#include <stddef.h>
#include <stdint.h>
#include <math.h>

#include <spin/plugin.h>

#if defined(__CUDACC__)
#define CM_HD static __host__ __device__ __forceinline__
#else
#define CM_HD static inline
#endif

/* Full unrolling where the device compiler understands it. */
#if defined(__CUDA_ARCH__)
#define CM_UNROLL _Pragma("unroll")
#else
#define CM_UNROLL
#endif

/* ------------------------------------------------------------------------ */
/* Ring Z_2^64.                                                             */
/* ------------------------------------------------------------------------ */

/* x as a two's complement int64 (GCC, Clang and nvcc define the conversion
 * as modular). */
CM_HD int64_t cm_as_i64(uint64_t x)
{
    return (int64_t)x;
}

/* Arithmetic right shift by sh in [0, 63], written without relying on >> of
 * a negative signed value. */
CM_HD uint64_t cm_sar(uint64_t x, unsigned sh)
{
    const uint64_t sign = (uint64_t)0 - (x >> 63);
    return (x >> sh) | ((sign << (63 - sh)) << 1);
}

/* z = x OP y; op is a spin_ring_binop_t (unknown ops give 0: the callers
 * validate op first). */
CM_HD uint64_t cm_ring_binop(int op, uint64_t x, uint64_t y)
{
    switch (op) {
    case SPIN_RING_ADD: return x + y;
    case SPIN_RING_SUB: return x - y;
    case SPIN_RING_MUL: return x * y;
    case SPIN_RING_AND: return x & y;
    case SPIN_RING_XOR: return x ^ y;
    case SPIN_RING_OR: return x | y;
    default: return 0;
    }
}

/* z = x OP c; op is a spin_ring_scalarop_t; shifts take c in [0, 63]. */
CM_HD uint64_t cm_ring_scalarop(int op, uint64_t x, uint64_t c)
{
    const unsigned sh = (unsigned)(c & 63);
    switch (op) {
    case SPIN_RING_ADD_S: return x + c;
    case SPIN_RING_SUB_S: return x - c;
    case SPIN_RING_MUL_S: return x * c;
    case SPIN_RING_AND_S: return x & c;
    case SPIN_RING_XOR_S: return x ^ c;
    case SPIN_RING_OR_S: return x | c;
    case SPIN_RING_RSUB_S: return c - x;
    case SPIN_RING_SHL_S: return x << sh;
    case SPIN_RING_SHR_S: return x >> sh;
    case SPIN_RING_SAR_S: return cm_sar(x, sh);
    default: return 0;
    }
}

/* z = OP x; op is a spin_ring_unop_t. */
CM_HD uint64_t cm_ring_unop(int op, uint64_t x)
{
    switch (op) {
    case SPIN_RING_NEG: return (uint64_t)0 - x;
    case SPIN_RING_NOT: return ~x;
    case SPIN_RING_COPY: return x;
    default: return 0;
    }
}

CM_HD int cm_ring_binop_valid(int op)
{
    return op >= SPIN_RING_ADD && op <= SPIN_RING_OR;
}

CM_HD int cm_ring_scalarop_valid(int op)
{
    return op >= SPIN_RING_ADD_S && op <= SPIN_RING_OR_S;
}

CM_HD int cm_ring_unop_valid(int op)
{
    return op >= SPIN_RING_NEG && op <= SPIN_RING_COPY;
}

/* ------------------------------------------------------------------------ */
/* Fixed point (value = integer / 2^f).                                     */
/* ------------------------------------------------------------------------ */

/* round_half_away(v) for |v| < 2^63. */
CM_HD int64_t cm_round_away(double v)
{
    int64_t t = (int64_t)v;            /* truncation, exact for |v| < 2^63 */
    const double frac = v - (double)t; /* exact: t is v's integer part */
    if (frac >= 0.5) t++;
    else if (frac <= -0.5) t--;
    return t;
}

/* x is convertible for limit lim = 2^(63-f): |x| < lim (false for NaN). */
CM_HD int cm_fix_in_range(double x, double lim)
{
    return x < lim && x > -lim;
}

/* round_half_away(x * 2^f) mod 2^64, scale = 2^f, x in range. */
CM_HD uint64_t cm_fix_from_f64(double x, double scale)
{
    return (uint64_t)cm_round_away(x * scale);
}

/* (int64)x / 2^f, inv = 2^-f (exact power of two). */
CM_HD double cm_fix_to_f64(uint64_t x, double inv)
{
    return (double)cm_as_i64(x) * inv;
}

/* ------------------------------------------------------------------------ */
/* float64 element-wise ops (plaintext reference).                          */
/* ------------------------------------------------------------------------ */

CM_HD double cm_f64_binop(int op, double x, double y)
{
    switch (op) {
    case SPIN_F64_ADD: return x + y;
    case SPIN_F64_SUB: return x - y;
    case SPIN_F64_MUL: return x * y;
    case SPIN_F64_DIV: return x / y;
    case SPIN_F64_MAX: return fmax(x, y);
    case SPIN_F64_MIN: return fmin(x, y);
    default: return 0.0;
    }
}

CM_HD double cm_f64_scalarop(int op, double x, double c)
{
    switch (op) {
    case SPIN_F64_ADD_S: return x + c;
    case SPIN_F64_MUL_S: return x * c;
    case SPIN_F64_MAX_S: return fmax(x, c);
    case SPIN_F64_MIN_S: return fmin(x, c);
    case SPIN_F64_RSUB_S: return c - x;
    case SPIN_F64_POW_S: return pow(x, c);
    default: return 0.0;
    }
}

CM_HD double cm_f64_unop(int op, double x)
{
    switch (op) {
    case SPIN_F64_NEG: return -x;
    case SPIN_F64_EXP: return exp(x);
    case SPIN_F64_LOG: return log(x);
    case SPIN_F64_SQRT: return sqrt(x);
    case SPIN_F64_RSQRT: return 1.0 / sqrt(x);
    case SPIN_F64_RECIP: return 1.0 / x;
    case SPIN_F64_TANH: return tanh(x);
    case SPIN_F64_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case SPIN_F64_ERF: return erf(x);
    case SPIN_F64_RELU: return x > 0.0 ? x : 0.0;
    case SPIN_F64_ABS: return fabs(x);
    case SPIN_F64_COPY: return x;
    default: return 0.0;
    }
}

CM_HD int cm_f64_binop_valid(int op)
{
    return op >= SPIN_F64_ADD && op <= SPIN_F64_MIN;
}

CM_HD int cm_f64_scalarop_valid(int op)
{
    return op >= SPIN_F64_ADD_S && op <= SPIN_F64_POW_S;
}

CM_HD int cm_f64_unop_valid(int op)
{
    return op >= SPIN_F64_NEG && op <= SPIN_F64_COPY;
}

/* ------------------------------------------------------------------------ */
/* Ring GEMM through limbs.                                                 */
/*                                                                          */
/* A 64-bit word is split into L limbs of B bits, a = sum_l a_l 2^(B l), and */
/* the product mod 2^64 keeps the limb pairs with l + l' < L:               */
/*     C = sum_s 2^(B s) C_s,   C_s = sum_{l + l' = s} A_l B_l'.             */
/* Packed layout (per batch entry, K-contiguous rows of length L*kp):       */
/*     Apack[i][l*kp + p]          = limb l of op(A)(i, p)                  */
/*     Bpack[j][(L-1-l)*kp + p]    = limb l of op(B)(p, j)                  */
/* so that C_s is ONE GEMM over an inner dimension of (s+1)*kp: row i of    */
/* Apack from offset 0 against row j of Bpack from offset (L-1-s)*kp pairs  */
/* segment t of A (limb t) with segment t of the B slice (limb s - t).      */
/* Zero padding p in [kc, kp) contributes nothing.                          */
/*                                                                          */
/* limb16: L = 4 unsigned 16-bit limbs in float64.  A limb product is below */
/*   2^32; C_s sums at most 4*kc of them, exact while 4*kc*2^32 <= 2^53,    */
/*   i.e. kc <= 2^19 (K is split in chunks of that size beyond).            */
/* int8:   L = 8 signed 8-bit digits d_l in [-128, 127] (carry recoding:    */
/*   a = sum_l d_l 2^(8l) mod 2^64), int8 x int8 -> int32 GEMMs.  A product */
/*   lies in [-16256, 16384]; C_s sums at most 8*kc of them, exact in int32 */
/*   while 8*kc*16384 < 2^31, i.e. kc <= 16383 (16368: a multiple of 16).   */
/* ------------------------------------------------------------------------ */

#define CM_LIMB16_L 4
#define CM_LIMB16_KMAX ((size_t)1 << 19)
#define CM_INT8_L 8
#define CM_INT8_KMAX ((size_t)16368)
/* Packed rows are padded to a multiple of this (cuBLAS int8 GEMMs want
 * 4-byte aligned operands and leading dimensions). */
#define CM_LIMB_KALIGN 16

CM_HD size_t cm_limb_kpad(size_t kc)
{
    return (kc + CM_LIMB_KALIGN - 1) / CM_LIMB_KALIGN * CM_LIMB_KALIGN;
}

/* 16-bit limb l (0..3) of a, as a double (exact). */
CM_HD double cm_limb16(uint64_t a, int l)
{
    return (double)((a >> (16 * l)) & 0xffff);
}

/* Signed 8-bit digits of a: d[l] in [-128, 127], a = sum d[l] 2^(8l) mod
 * 2^64 (the carry out of the top digit is a multiple of 2^64). */
CM_HD void cm_digits8(uint64_t a, int8_t d[CM_INT8_L])
{
    unsigned carry = 0;
    CM_UNROLL
    for (int l = 0; l < CM_INT8_L; l++) {
        const unsigned t = (unsigned)((a >> (8 * l)) & 0xff) + carry;
        if (t >= 128) {
            d[l] = (int8_t)((int)t - 256);
            carry = 1;
        } else {
            d[l] = (int8_t)t;
            carry = 0;
        }
    }
}

/* Position of limb l of element (row r, p) in a packed row of L*kp:
 * A order (rev = 0) puts limb l in segment l, B order (rev = 1) in L-1-l. */
CM_HD size_t cm_pack_pos(int L, int rev, int l, size_t kp, size_t p)
{
    return (size_t)(rev ? L - 1 - l : l) * kp + p;
}

/* Offset of the B slice used for C_s within a packed row. */
CM_HD size_t cm_pack_bslice(int L, int s, size_t kp)
{
    return (size_t)(L - 1 - s) * kp;
}

/* Recombination: c = sum_s 2^(16 s) C_s mod 2^64 from the exact float64
 * sums (non-negative integers below 2^53). */
CM_HD uint64_t cm_combine16(const double cs[CM_LIMB16_L])
{
    uint64_t r = 0;
    CM_UNROLL
    for (int s = 0; s < CM_LIMB16_L; s++) r += (uint64_t)cs[s] << (16 * s);
    return r;
}

/* Recombination from the exact int32 sums of the int8 GEMMs. */
CM_HD uint64_t cm_combine8(const int32_t cs[CM_INT8_L])
{
    uint64_t r = 0;
    CM_UNROLL
    for (int s = 0; s < CM_INT8_L; s++)
        r += (uint64_t)(int64_t)cs[s] << (8 * s);
    return r;
}

/* ------------------------------------------------------------------------ */
/* AES-128 (FIPS-197) with one 256-entry T-table.                           */
/*                                                                          */
/* The state is four column words, little-endian: column c is              */
/* byte(4c) | byte(4c+1) << 8 | byte(4c+2) << 16 | byte(4c+3) << 24, so row */
/* r of a column is bits [8r, 8r+8).  T0[x] = (2s, s, s, 3s) with s = S(x), */
/* the MixColumns column of an S-box output in row 0; rows 1, 2, 3 are T0   */
/* rotated left by 8, 16, 24 bits.  S(x) = byte 1 of T0[x].                 */
/* The tables are computed (GF(2^8) inverse and affine map), not stored, so */
/* the host test checks the computation against FIPS-197.                  */
/* ------------------------------------------------------------------------ */

CM_HD uint8_t cm_gf_xtime(uint8_t x)
{
    return (uint8_t)((x << 1) ^ ((x & 0x80) ? 0x1b : 0));
}

CM_HD uint8_t cm_gf_mul(uint8_t a, uint8_t b)
{
    uint8_t r = 0;
    for (int i = 0; i < 8; i++) {
        if (b & 1) r ^= a;
        a = cm_gf_xtime(a);
        b >>= 1;
    }
    return r;
}

CM_HD uint8_t cm_rotl8(uint8_t x, int n)
{
    return (uint8_t)((x << n) | (x >> (8 - n)));
}

/* The AES S-box: affine map of the GF(2^8) inverse (x^254; 0 -> 0). */
CM_HD uint8_t cm_aes_sbox(uint8_t x)
{
    const uint8_t x2 = cm_gf_mul(x, x);
    const uint8_t x3 = cm_gf_mul(x2, x);
    const uint8_t x7 = cm_gf_mul(cm_gf_mul(x3, x3), x);
    const uint8_t x15 = cm_gf_mul(cm_gf_mul(x7, x7), x);
    const uint8_t x31 = cm_gf_mul(cm_gf_mul(x15, x15), x);
    const uint8_t x63 = cm_gf_mul(cm_gf_mul(x31, x31), x);
    const uint8_t x127 = cm_gf_mul(cm_gf_mul(x63, x63), x);
    const uint8_t b = cm_gf_mul(x127, x127);
    return (uint8_t)(b ^ cm_rotl8(b, 1) ^ cm_rotl8(b, 2) ^ cm_rotl8(b, 3) ^
                     cm_rotl8(b, 4) ^ 0x63);
}

/* T0[x] for one x. */
CM_HD uint32_t cm_aes_t0(uint8_t x)
{
    const uint8_t s = cm_aes_sbox(x);
    const uint8_t s2 = cm_gf_xtime(s);
    const uint8_t s3 = (uint8_t)(s2 ^ s);
    return (uint32_t)s2 | (uint32_t)s << 8 | (uint32_t)s << 16 |
           (uint32_t)s3 << 24;
}

CM_HD uint32_t cm_rotl32(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

CM_HD uint32_t cm_bswap32(uint32_t x)
{
    return (x >> 24) | ((x >> 8) & 0xff00u) | ((x << 8) & 0xff0000u) | (x << 24);
}

CM_HD uint32_t cm_aes_s(const uint32_t *t0, uint32_t x)
{
    return (t0[x & 0xff] >> 8) & 0xff;
}

/* Round keys (44 column words) of a 16-byte key. */
CM_HD void cm_aes128_expand(const uint8_t key[16], const uint32_t *t0,
                            uint32_t rk[44])
{
    for (int i = 0; i < 4; i++)
        rk[i] = (uint32_t)key[4 * i] | (uint32_t)key[4 * i + 1] << 8 |
                (uint32_t)key[4 * i + 2] << 16 | (uint32_t)key[4 * i + 3] << 24;
    uint8_t rcon = 1;
    for (int i = 4; i < 44; i++) {
        uint32_t t = rk[i - 1];
        if (i % 4 == 0) {
            /* RotWord (bytes a1 a2 a3 a0) is a right rotation of the
             * little-endian word; then SubWord and Rcon into byte 0. */
            t = (t >> 8) | (t << 24);
            t = cm_aes_s(t0, t) | cm_aes_s(t0, t >> 8) << 8 |
                cm_aes_s(t0, t >> 16) << 16 | cm_aes_s(t0, t >> 24) << 24;
            t ^= rcon;
            rcon = cm_gf_xtime(rcon);
        }
        rk[i] = rk[i - 4] ^ t;
    }
}

/* One AES-128 block: in/out are column words. */
CM_HD void cm_aes128_block(const uint32_t *rk, const uint32_t *t0,
                           const uint32_t in[4], uint32_t out[4])
{
    uint32_t s0 = in[0] ^ rk[0], s1 = in[1] ^ rk[1];
    uint32_t s2 = in[2] ^ rk[2], s3 = in[3] ^ rk[3];
#define CM_AES_COL(a, b, c, d)                                                \
    (t0[(a) & 0xff] ^ cm_rotl32(t0[((b) >> 8) & 0xff], 8) ^                   \
     cm_rotl32(t0[((c) >> 16) & 0xff], 16) ^ cm_rotl32(t0[(d) >> 24], 24))
    CM_UNROLL
    for (int r = 1; r < 10; r++) {
        const uint32_t u0 = CM_AES_COL(s0, s1, s2, s3) ^ rk[4 * r];
        const uint32_t u1 = CM_AES_COL(s1, s2, s3, s0) ^ rk[4 * r + 1];
        const uint32_t u2 = CM_AES_COL(s2, s3, s0, s1) ^ rk[4 * r + 2];
        const uint32_t u3 = CM_AES_COL(s3, s0, s1, s2) ^ rk[4 * r + 3];
        s0 = u0; s1 = u1; s2 = u2; s3 = u3;
    }
#undef CM_AES_COL
#define CM_AES_LAST(a, b, c, d)                                               \
    (cm_aes_s(t0, a) | cm_aes_s(t0, (b) >> 8) << 8 |                          \
     cm_aes_s(t0, (c) >> 16) << 16 | cm_aes_s(t0, (d) >> 24) << 24)
    out[0] = CM_AES_LAST(s0, s1, s2, s3) ^ rk[40];
    out[1] = CM_AES_LAST(s1, s2, s3, s0) ^ rk[41];
    out[2] = CM_AES_LAST(s2, s3, s0, s1) ^ rk[42];
    out[3] = CM_AES_LAST(s3, s0, s1, s2) ^ rk[43];
#undef CM_AES_LAST
}

/* The counter block of plugin.h, nonce (bytes 0..7) and block index (8..15)
 * big-endian, as column words. */
CM_HD void cm_prg_counter(uint64_t nonce, uint64_t blk, uint32_t w[4])
{
    w[0] = cm_bswap32((uint32_t)(nonce >> 32));
    w[1] = cm_bswap32((uint32_t)nonce);
    w[2] = cm_bswap32((uint32_t)(blk >> 32));
    w[3] = cm_bswap32((uint32_t)blk);
}

/* Keystream block blk as stream words 2*blk (w[0]) and 2*blk+1 (w[1]):
 * bytes [0, 8) and [8, 16) read little-endian. */
CM_HD void cm_prg_block_words(const uint32_t *rk, const uint32_t *t0,
                              uint64_t nonce, uint64_t blk, uint64_t w[2])
{
    uint32_t in[4], out[4];
    cm_prg_counter(nonce, blk, in);
    cm_aes128_block(rk, t0, in, out);
    w[0] = (uint64_t)out[0] | (uint64_t)out[1] << 32;
    w[1] = (uint64_t)out[2] | (uint64_t)out[3] << 32;
}

/* Keystream blocks covering words [first, first + n), n > 0 and
 * first + n - 1 <= 2^64 - 1: blocks first/2 .. (first + n - 1)/2. */
CM_HD uint64_t cm_prg_nblocks(uint64_t first, size_t n)
{
    return ((first + (uint64_t)(n - 1)) >> 1) - (first >> 1) + 1;
}

/* Store the words of block blk (w from cm_prg_block_words) that fall in
 * [first, first + n); out[0] is word first.  blk is one of the blocks of
 * cm_prg_nblocks, so 2*blk + 1 >= first and 2*blk < first + n. */
CM_HD void cm_prg_store(uint64_t blk, uint64_t first, size_t n,
                        const uint64_t w[2], uint64_t *out)
{
    const uint64_t j0 = 2 * blk;
    if (j0 >= first) out[j0 - first] = w[0];
    if (j0 + 1 - first < (uint64_t)n) out[j0 + 1 - first] = w[1];
}

/* ------------------------------------------------------------------------ */
/* im2col / col2im index arithmetic (see spin_conv_geom_t).                 */
/* ------------------------------------------------------------------------ */

typedef struct cm_geom {
    uint64_t n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
} cm_geom_t;

/* Index in x of col element e, or -1 where it is padding.
 * col is [n][c*kh*kw][oh*ow], row (ci*kh + i)*kw + j. */
CM_HD int64_t cm_im2col_src(const cm_geom_t *g, uint64_t e)
{
    const uint64_t ohw = g->oh * g->ow;
    const uint64_t col = e % ohw;
    uint64_t t = e / ohw;              /* ((b*c + ci)*kh + i)*kw + j */
    const uint64_t j = t % g->kw;
    t /= g->kw;
    const uint64_t i = t % g->kh;
    const uint64_t plane = t / g->kh;  /* b*c + ci */
    const uint64_t oy = col / g->ow, ox = col % g->ow;
    const int64_t iy = (int64_t)(oy * g->sh + i * g->dh) - (int64_t)g->ph;
    const int64_t ix = (int64_t)(ox * g->sw + j * g->dw) - (int64_t)g->pw;
    if (iy < 0 || ix < 0 || iy >= (int64_t)g->h || ix >= (int64_t)g->w)
        return -1;
    return (int64_t)((plane * g->h + (uint64_t)iy) * g->w + (uint64_t)ix);
}

/* col2im as a gather: calls ADD(col_index) for every col element that
 * im2col takes from x element e, in the order (i, j) ascending -- the order
 * in which the cpu plugin adds them, so float sums agree bit for bit. */
#define CM_COL2IM_GATHER(g, e, ADD)                                           \
    do {                                                                      \
        const uint64_t ix_ = (e) % (g)->w;                                    \
        const uint64_t t_ = (e) / (g)->w;                                     \
        const uint64_t iy_ = t_ % (g)->h;                                     \
        const uint64_t plane_ = t_ / (g)->h;                                  \
        const uint64_t ohw_ = (g)->oh * (g)->ow;                              \
        for (uint64_t i_ = 0; i_ < (g)->kh; i_++) {                           \
            const int64_t y_ = (int64_t)(iy_ + (g)->ph) -                     \
                               (int64_t)(i_ * (g)->dh);                       \
            if (y_ < 0 || (uint64_t)y_ % (g)->sh != 0) continue;              \
            const uint64_t oy_ = (uint64_t)y_ / (g)->sh;                      \
            if (oy_ >= (g)->oh) continue;                                     \
            for (uint64_t j_ = 0; j_ < (g)->kw; j_++) {                       \
                const int64_t x_ = (int64_t)(ix_ + (g)->pw) -                 \
                                   (int64_t)(j_ * (g)->dw);                   \
                if (x_ < 0 || (uint64_t)x_ % (g)->sw != 0) continue;          \
                const uint64_t ox_ = (uint64_t)x_ / (g)->sw;                  \
                if (ox_ >= (g)->ow) continue;                                 \
                ADD((((plane_ * (g)->kh + i_) * (g)->kw + j_) * ohw_ +        \
                     oy_ * (g)->ow + ox_));                                   \
            }                                                                 \
        }                                                                     \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Caching allocator size classes.                                          */
/*                                                                          */
/* Up to 1 MiB: powers of two from 512 bytes (classes 0..11); above, four   */
/* classes per power of two (2^e + q 2^(e-2), q = 1..4), so a block wastes  */
/* at most a quarter of its size.                                           */
/* ------------------------------------------------------------------------ */

#define CM_ALLOC_MIN_LOG 9
#define CM_ALLOC_POW2_LOG 20
#define CM_ALLOC_NCLASS (12 + 4 * (64 - CM_ALLOC_POW2_LOG))

CM_HD int cm_floor_log2(uint64_t x)
{
    int r = 0;
    while (x >>= 1) r++;
    return r;
}

/* Class of a request of bytes (> 0), and the class's block size. */
CM_HD int cm_alloc_class(size_t bytes, size_t *block)
{
    if (bytes <= ((size_t)1 << CM_ALLOC_MIN_LOG)) {
        *block = (size_t)1 << CM_ALLOC_MIN_LOG;
        return 0;
    }
    const int e = cm_floor_log2((uint64_t)(bytes - 1)); /* 2^e < bytes <= 2^(e+1) */
    if (e + 1 <= CM_ALLOC_POW2_LOG) {
        *block = (size_t)1 << (e + 1);
        return e + 1 - CM_ALLOC_MIN_LOG;
    }
    const size_t step = (size_t)1 << (e - 2);
    const size_t q = (bytes - ((size_t)1 << e) + step - 1) / step; /* 1..4 */
    *block = ((size_t)1 << e) + q * step;
    return 12 + 4 * (e - CM_ALLOC_POW2_LOG) + (int)q - 1;
}

#endif /* SPIN_CUDA_MATH_H */
