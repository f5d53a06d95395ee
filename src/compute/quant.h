/* quant.h — quantized weight layouts, their exact dequantization, and quantizers.
 *
 * A quantized row of n weights is a sequence of fixed-size blocks (ggml's types) or a small row
 * header followed by packed values (lmserve's channel-wise types). The ggml blocks below match
 * GGUF bit for bit; their field order and sizes are checked by _Static_assert. All multi-byte
 * fields are little-endian (the only byte order this code runs on) and f16 fields are IEEE
 * binary16 bit patterns.
 *
 * Dequantization here is the reference: every weight is computed in f32 exactly as ggml computes
 * it (e.g. Q4_K: (d*sc)*q - dmin*m), so "exact dequantized weights" means these values. The
 * scalar reference dot products (kernels_ref.c) are dot(dequantized row, x) in f32.
 *
 * Quantizers are deterministic (no dependence on rounding mode or thread count) and round to
 * nearest, ties away from zero. They exist for lmserve's own types, for the types a test needs
 * to build (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1), and for F32/F16/BF16; the K-quants are read-only.
 *
 * lmserve's types (numbers >= LM_TYPE_FIRST, dtype.h) need n to be a multiple of 32:
 *   LM_TYPE_I8_CH    row = f32 d, then n int8 q;             w[i] = d * q[i], q in [-127, 127]
 *   LM_TYPE_I4_CH    row = f32 d, then n/32 nibble chunks;   w[i] = d * q[i], q in [-8, 7]
 *   LM_TYPE_I4_G<g>  row = n/g blocks {f16 d; g/32 chunks};  w[i] = d_group * q[i], q in [-8, 7]
 * A nibble chunk is 16 bytes holding 32 weights: byte j holds q[j] + 8 in its low nibble and
 * q[j+16] + 8 in its high nibble (Q4_0's order, so one SIMD inner loop serves all int4 types; an
 * I4_G32 row is byte-identical to a Q4_0 row of the same values). Scales are signed: the weight
 * of largest magnitude maps to q = -8 exactly, as NNCF's symmetric int4 and ggml's Q4_0 do. */
#ifndef LM_COMPUTE_QUANT_H
#define LM_COMPUTE_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "compute/dtype.h"

#define QUANT_QK 32    /* weights per block of the 32-element ggml types and per nibble chunk */
#define QUANT_QK_K 256 /* weights per super-block of the K-quants */

/* ---- ggml blocks (GGUF layouts) ----------------------------------------------------------- */

typedef struct {
    uint16_t d;                 /* f16 scale */
    uint8_t qs[QUANT_QK / 2];   /* byte j: q[j] (low nibble), q[j+16] (high); w = (q - 8) * d */
} quant_block_q4_0;
_Static_assert(sizeof(quant_block_q4_0) == 18, "q4_0 block must be 18 bytes");

typedef struct {
    uint16_t d;                 /* f16 scale */
    uint16_t m;                 /* f16 minimum; w = q * d + m */
    uint8_t qs[QUANT_QK / 2];   /* nibbles as in q4_0, unsigned 0..15 */
} quant_block_q4_1;
_Static_assert(sizeof(quant_block_q4_1) == 20, "q4_1 block must be 20 bytes");

typedef struct {
    uint16_t d;                 /* f16 scale */
    uint8_t qh[4];              /* bit j of the LE u32: 5th bit of q[j]; w = (q - 16) * d */
    uint8_t qs[QUANT_QK / 2];   /* low 4 bits, nibble order as in q4_0 */
} quant_block_q5_0;
_Static_assert(sizeof(quant_block_q5_0) == 22, "q5_0 block must be 22 bytes");

typedef struct {
    uint16_t d;                 /* f16 scale */
    uint16_t m;                 /* f16 minimum; w = q * d + m */
    uint8_t qh[4];              /* 5th bits as in q5_0 */
    uint8_t qs[QUANT_QK / 2];   /* low 4 bits as in q4_0 */
} quant_block_q5_1;
_Static_assert(sizeof(quant_block_q5_1) == 24, "q5_1 block must be 24 bytes");

typedef struct {
    uint16_t d;                 /* f16 scale */
    int8_t qs[QUANT_QK];        /* w = q * d */
} quant_block_q8_0;
_Static_assert(sizeof(quant_block_q8_0) == 34, "q8_0 block must be 34 bytes");

/* K-quants: a 256-weight super-block of 8 sub-blocks of 32 (Q4_K/Q5_K) or 16 of 16 (Q6_K). */
typedef struct {
    uint16_t d;                 /* f16 super-scale of the sub-block scales */
    uint16_t dmin;              /* f16 super-scale of the sub-block minimums */
    uint8_t scales[12];         /* 8 six-bit scales sc[j] and 8 six-bit mins m[j], packed:
                                 * j < 4: sc = b[j] & 63, m = b[j+4] & 63;
                                 * j >= 4: sc = (b[j+4] & 15) | (b[j-4] >> 6) << 4,
                                 *         m = (b[j+4] >> 4) | (b[j] >> 6) << 4 */
    uint8_t qs[QUANT_QK_K / 2]; /* 4 chunks of 32 bytes; chunk c byte l: low nibble is weight
                                 * 64c+l (sub-block 2c), high nibble 64c+32+l (sub-block 2c+1);
                                 * w = d*sc[j] * q - dmin*m[j] */
} quant_block_q4_K;
_Static_assert(sizeof(quant_block_q4_K) == 144, "q4_K block must be 144 bytes");

typedef struct {
    uint16_t d;                 /* as q4_K */
    uint16_t dmin;              /* as q4_K */
    uint8_t scales[12];         /* as q4_K */
    uint8_t qh[QUANT_QK_K / 8]; /* byte l, bit 2c: 5th bit of weight 64c+l; bit 2c+1: of 64c+32+l */
    uint8_t qs[QUANT_QK_K / 2]; /* low 4 bits, as q4_K's qs */
} quant_block_q5_K;
_Static_assert(sizeof(quant_block_q5_K) == 176, "q5_K block must be 176 bytes");

typedef struct {
    uint8_t ql[QUANT_QK_K / 2]; /* low 4 bits; per half h (128 weights, 64 bytes at 64h):
                                 * byte l < 32: weight l (low nibble), l+64 (high);
                                 * byte 32+l: weight l+32 (low), l+96 (high) */
    uint8_t qh[QUANT_QK_K / 4]; /* high 2 bits; per half h (32 bytes at 32h), byte l: bits 0-1 for
                                 * weight l, 2-3 for l+32, 4-5 for l+64, 6-7 for l+96 */
    int8_t scales[QUANT_QK_K / 16]; /* signed scale per 16 weights */
    uint16_t d;                 /* f16 super-scale; w = d*scales[i/16] * (q - 32) */
} quant_block_q6_K;
_Static_assert(sizeof(quant_block_q6_K) == 210, "q6_K block must be 210 bytes");

/* ---- lmserve blocks (load-time formats; see the header comment for the row layouts) -------- */

typedef struct {
    float d;                    /* f32 scale of the row; n int8 (I8_CH) or n/32 chunks follow */
} quant_row_header;
_Static_assert(sizeof(quant_row_header) == 4, "row header must be 4 bytes");

typedef struct {
    uint16_t d;                 /* f16 scale of the group */
    uint8_t qs[16];             /* one nibble chunk */
} quant_block_i4_g32;
_Static_assert(sizeof(quant_block_i4_g32) == 18, "i4 g32 block must be 18 bytes");

typedef struct {
    uint16_t d;                 /* f16 scale of the group */
    uint8_t qs[32];             /* two nibble chunks */
} quant_block_i4_g64;
_Static_assert(sizeof(quant_block_i4_g64) == 34, "i4 g64 block must be 34 bytes");

typedef struct {
    uint16_t d;                 /* f16 scale of the group */
    uint8_t qs[64];             /* four nibble chunks */
} quant_block_i4_g128;
_Static_assert(sizeof(quant_block_i4_g128) == 66, "i4 g128 block must be 66 bytes");

/* ---- type facts --------------------------------------------------------------------------- */

/* Short name ("q4_K", "i4_g128"); NULL for a type this module does not know. */
const char *quant_type_name(ggml_type t);

/* Whether rows of type t can be dequantized (and dotted) here. */
int quant_type_known(ggml_type t);

/* Elements a row length must be a multiple of (1 for F32/F16/BF16, 32, or 256, and g for
 * I4_G<g>); 0 for an unknown type. */
int64_t quant_row_multiple(ggml_type t);

/* Bytes of one row of n weights; 0 when t is unknown or n is not a positive multiple of
 * quant_row_multiple(t). */
size_t quant_row_bytes(ggml_type t, int64_t n);

/* ---- reference conversions ---------------------------------------------------------------- */

/* out[0..n) = the exact f32 values of a row of type t (n as for quant_row_bytes). Reads
 * quant_row_bytes(t, n) bytes. Non-finite scales give non-finite outputs; it never fails. */
void quant_dequantize_row(ggml_type t, const void *row, int64_t n, float *out);

/* out[0..n) = weights [i0, i0 + n) of a row of type t, exactly as quant_dequantize_row gives
 * them; i0 and n are multiples of quant_row_multiple(t) (the row's header, if any, is at row). */
void quant_dequantize_range(ggml_type t, const void *row, int64_t i0, int64_t n, float *out);

/* Whether quant_quantize_row handles destination type t. */
int quant_can_quantize(ggml_type t);

/* Writes the row of type t (quant_row_bytes(t, n) bytes) closest to x[0..n) under that type's
 * scheme. Fails with LM_ERR_INVALID if some x is NaN or infinite, or a scale does not fit its
 * field (an f16 scale above 65504), naming the element; LM_ERR_UNSUPPORTED if t has no quantizer
 * or n does not fit t. */
lm_status quant_quantize_row(ggml_type t, const float *x, int64_t n, void *row, lm_error *err);

/* Converts a row of any known type src_t to type dst_t (quant_can_quantize) through f32: the
 * exact dequantization of src, then quant_quantize_row. `scratch` holds n floats (unused when
 * src_t is F32). Errors as quant_quantize_row. */
lm_status quant_convert_row(ggml_type dst_t, void *dst, ggml_type src_t, const void *src,
                            int64_t n, float *scratch, lm_error *err);

/* The six-bit scale and min j (0..7) of a Q4_K/Q5_K super-block's packed scales. */
void quant_k_scale_min(const uint8_t scales[12], int j, uint8_t *sc, uint8_t *m);

#endif
