/* kernels_avx512.c — AVX-512 (F/BW/VL) kernels, 16 f32 lanes. Compiled for baseline x86-64 with
 * per-function target attributes; cpu.c decides whether they may run.
 *
 * Every kernel dequantizes 16 weights at a time into f32 registers, computed as the reference
 * computes them (quant.c), and multiply-adds them into x, so it differs from the reference only
 * in summation order. One body per type serves both the single dot and the multi-vector dotn:
 * it takes nx (1..KERN_DOTN_MAX) as a parameter and is inlined with nx constant, so the weights
 * are decoded once per row for all vectors. Independent accumulator chains (acc[k]) hide FMA
 * latency when nx is 1.
 *
 * 4- and 5-bit weights are dequantized by table lookup: per block (or sub-block) a vector holds
 * the f32 value of each of the 16 (32) codes, computed as the reference computes a weight, and
 * vpermps picks 16 weights at once from their codes (it reads only the low 4 bits of each index,
 * vpermt2ps the low 5), replacing a convert and a multiply-add per 16 weights. */
#include "compute/kernels_impl.h"
#include "compute/quant.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline))
#define NACC 4 /* independent accumulator chains per vector */

typedef __m512 accs[NACC][KERN_DOTN_MAX];

T512 INL void acc_zero(accs a, int nx) {
    for (int k = 0; k < NACC; k++)
        for (int b = 0; b < nx; b++) a[k][b] = _mm512_setzero_ps();
}

/* a[b] += w * x_b[0..16) for every vector b */
T512 INL void acc_fma(__m512 *a, __m512 w, const float *x, size_t xs, int nx) {
    for (int b = 0; b < nx; b++) a[b] = _mm512_fmadd_ps(w, _mm512_loadu_ps(x + (size_t)b * xs), a[b]);
}

/* masked tail: only the first `m` lanes of w and x take part */
T512 INL void acc_fma_mask(__m512 *a, __m512 w, __mmask16 m, const float *x, size_t xs, int nx) {
    for (int b = 0; b < nx; b++)
        a[b] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m, x + (size_t)b * xs), a[b]);
}

T512 INL void acc_out(accs a, int nx, float scale, float *out) {
    for (int b = 0; b < nx; b++) {
        __m512 s = _mm512_add_ps(_mm512_add_ps(a[0][b], a[1][b]), _mm512_add_ps(a[2][b], a[3][b]));
        out[b] = _mm512_reduce_add_ps(s) * scale;
    }
}

T512 INL __m512 f16s(uint16_t h) { return _mm512_set1_ps(_cvtsh_ss(h)); }

T512 INL __m512 cvt_u8(const uint8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

static inline __mmask16 tail_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

/* ---- F32 / F16 / BF16 ----------------------------------------------------------------------- */

T512 INL __m512 ld_f32(const void *w, int64_t i) { return _mm512_loadu_ps((const float *)w + i); }
T512 INL __m512 ld_f16(const void *w, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i)));
}
T512 INL __m512 ld_bf16(const void *w, int64_t i) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
T512 INL __m512 ldm_f32(const void *w, int64_t i, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, (const float *)w + i);
}
T512 INL __m512 ldm_f16(const void *w, int64_t i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i));
}
T512 INL __m512 ldm_bf16(const void *w, int64_t i, __mmask16 m) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

/* Results must not depend on where a row lives in memory (a model loaded from a file and the
 * same model converted at load must give the same bits), so the summation order is fixed by the
 * index alone: no address-dependent peeling. Loads that straddle cache lines cost speed on
 * unaligned rows; the loader keeps converted weights 64-byte aligned instead (model.c). */
#define FLOAT_IMPL(name, LD, LDM, ELEM)                                                        \
    T512 INL void name##_impl(int64_t n, const void *w, const float *x, size_t xs, int nx,     \
                              float *out) {                                                    \
        accs a;                                                                                \
        acc_zero(a, nx);                                                                       \
        int64_t i = 0;                                                                         \
        for (; i + 64 <= n; i += 64)                                                           \
            for (int k = 0; k < NACC; k++) acc_fma(a[k], LD(w, i + 16 * k), x + i + 16 * k, xs, nx); \
        for (; i < n; i += 16) {                                                               \
            __mmask16 m = tail_mask(n - i);                                                    \
            acc_fma_mask(a[0], LDM(w, i, m), m, x + i, xs, nx);                                \
        }                                                                                      \
        acc_out(a, nx, 1.0f, out);                                                             \
    }
FLOAT_IMPL(f32, ld_f32, ldm_f32, 4)
FLOAT_IMPL(f16, ld_f16, ldm_f16, 2)
FLOAT_IMPL(bf16, ld_bf16, ldm_bf16, 2)

/* ---- int4 family: Q4_0, I4_G32/64/128, I4_CH (nibble chunks, quant.h) ------------------------ */

/* Codes 0..15 as floats, and 0..15 minus 8 (the int4 value of a stored nibble). */
T512 INL __m512 iota16(void) {
    return _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}
T512 INL __m512 iota16_m8(void) {
    return _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
}

/* One nibble chunk (32 weights) through the table of its block: weights 0..15 from the low
 * nibbles, 16..31 from the high ones (vpermps ignores index bits above 3). */
T512 INL void i4_chunk(const uint8_t *qs, __m512 table, __m512 *w0, __m512 *w1) {
    __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)qs));
    *w0 = _mm512_permutexvar_ps(v, table);
    *w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table);
}

/* Chunk k of a block of g weights (f16 scale first) through the block's table, into chains
 * a0, a1. table[code] = (code - 8) * d, the reference's weight. */
T512 INL void i4g_chunk(const uint8_t *blk, int k, __m512 table, const float *x, size_t xs, int nx,
                        __m512 *a0, __m512 *a1) {
    __m512 w0, w1;
    i4_chunk(blk + 2 + 16 * k, table, &w0, &w1);
    acc_fma(a0, w0, x + 32 * k, xs, nx);
    acc_fma(a1, w1, x + 32 * k + 16, xs, nx);
}

T512 INL __m512 i4g_table(const uint8_t *blk) {
    uint16_t d16;
    memcpy(&d16, blk, 2);
    return _mm512_mul_ps(iota16_m8(), f16s(d16));
}

/* Rows of blocks of g weights; Q4_0 and I4_G32 are g = 32. Chunks alternate between two pairs of
 * chains (for g = 32, pairs of blocks). */
T512 INL void i4g_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out,
                       const int g) {
    const int cpb = g / 32;              /* chunks per block */
    const size_t bb = 2 + (size_t)g / 2; /* bytes per block */
    const uint8_t *base = w;
    accs a;
    acc_zero(a, nx);
    int64_t nb = n / g, ib = 0;
    if (cpb == 1) {
        for (; ib + 2 <= nb; ib += 2) {
            const uint8_t *b0 = base + (size_t)ib * bb, *b1 = b0 + bb;
            i4g_chunk(b0, 0, i4g_table(b0), x + 32 * ib, xs, nx, a[0], a[1]);
            i4g_chunk(b1, 0, i4g_table(b1), x + 32 * ib + 32, xs, nx, a[2], a[3]);
        }
    }
    for (; ib < nb; ib++) {
        const uint8_t *b = base + (size_t)ib * bb;
        __m512 table = i4g_table(b);
        for (int k = 0; k < cpb; k++)
            i4g_chunk(b, k, table, x + (size_t)g * ib, xs, nx, a[2 * (k & 1)], a[2 * (k & 1) + 1]);
    }
    acc_out(a, nx, 1.0f, out);
}
T512 INL void q4_0_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    i4g_impl(n, w, x, xs, nx, out, 32);
}
T512 INL void i4_g64_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    i4g_impl(n, w, x, xs, nx, out, 64);
}
T512 INL void i4_g128_impl(int64_t n, const void *w, const float *x, size_t xs, int nx,
                           float *out) {
    i4g_impl(n, w, x, xs, nx, out, 128);
}

/* Channel-wise: one table for the whole row. */
T512 INL void i4_ch_chunk(const uint8_t *qs, int64_t c, __m512 table, const float *x, size_t xs,
                          int nx, __m512 *a0, __m512 *a1) {
    __m512 w0, w1;
    i4_chunk(qs + 16 * c, table, &w0, &w1);
    acc_fma(a0, w0, x + 32 * c, xs, nx);
    acc_fma(a1, w1, x + 32 * c + 16, xs, nx);
}

T512 INL void i4_ch_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    float d;
    memcpy(&d, w, sizeof d);
    const uint8_t *qs = (const uint8_t *)w + sizeof(quant_row_header);
    __m512 table = _mm512_mul_ps(iota16_m8(), _mm512_set1_ps(d));
    accs a;
    acc_zero(a, nx);
    int64_t nc = n / 32, c = 0;
    for (; c + 2 <= nc; c += 2) {
        i4_ch_chunk(qs, c, table, x, xs, nx, a[0], a[1]);
        i4_ch_chunk(qs, c + 1, table, x, xs, nx, a[2], a[3]);
    }
    if (c < nc) i4_ch_chunk(qs, c, table, x, xs, nx, a[0], a[1]);
    acc_out(a, nx, 1.0f, out);
}

/* ---- int8 family: Q8_0, I8_CH ------------------------------------------------------------- */

T512 INL __m512 cvt_i8(const int8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

/* Runs blk_fn(w, ib, x, xs, nx, chain0, chain1) over the n/32 blocks of a row, alternating
 * blocks between two pairs of chains. */
#define BLOCKS32(blk_fn)                                                                       \
    accs a;                                                                                    \
    acc_zero(a, nx);                                                                           \
    int64_t nb = n / 32, ib = 0;                                                               \
    for (; ib + 2 <= nb; ib += 2) {                                                            \
        blk_fn(w, ib, x, xs, nx, a[0], a[1]);                                                  \
        blk_fn(w, ib + 1, x, xs, nx, a[2], a[3]);                                              \
    }                                                                                          \
    if (ib < nb) blk_fn(w, ib, x, xs, nx, a[0], a[1]);                                         \
    acc_out(a, nx, 1.0f, out)

T512 INL void q8_0_blk(const void *w, int64_t ib, const float *x, size_t xs, int nx, __m512 *a0,
                       __m512 *a1) {
    const quant_block_q8_0 *b = (const quant_block_q8_0 *)w + ib;
    __m512 dv = f16s(b->d);
    acc_fma(a0, _mm512_mul_ps(cvt_i8(b->qs), dv), x + 32 * ib, xs, nx);
    acc_fma(a1, _mm512_mul_ps(cvt_i8(b->qs + 16), dv), x + 32 * ib + 16, xs, nx);
}
T512 INL void q8_0_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    BLOCKS32(q8_0_blk);
}

T512 INL void i8_ch_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    float d;
    memcpy(&d, w, sizeof d);
    const int8_t *q = (const int8_t *)((const uint8_t *)w + sizeof(quant_row_header));
    accs a;
    acc_zero(a, nx);
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int k = 0; k < NACC; k++) acc_fma(a[k], cvt_i8(q + i + 16 * k), x + i + 16 * k, xs, nx);
    for (; i < n; i += 16) acc_fma(a[0], cvt_i8(q + i), x + i, xs, nx); /* n % 32 == 0 */
    acc_out(a, nx, d, out);
}

/* ---- Q4_1, Q5_0, Q5_1 ----------------------------------------------------------------------- */

T512 INL void q4_1_blk(const void *w, int64_t ib, const float *x, size_t xs, int nx, __m512 *a0,
                       __m512 *a1) {
    const quant_block_q4_1 *b = (const quant_block_q4_1 *)w + ib;
    __m512 w0, w1; /* table[k] = k * d + m */
    i4_chunk(b->qs, _mm512_add_ps(_mm512_mul_ps(iota16(), f16s(b->d)), f16s(b->m)), &w0, &w1);
    acc_fma(a0, w0, x + 32 * ib, xs, nx);
    acc_fma(a1, w1, x + 32 * ib + 16, xs, nx);
}
T512 INL void q4_1_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    BLOCKS32(q4_1_blk);
}

/* 5-bit codes of a Q5_0/Q5_1 block: low nibbles from qs, the 5th bit from the mask of qh (bit j
 * = weight j). */
T512 INL void q5_codes(const uint8_t *qs, const uint8_t *qh_bytes, __m512i *c0, __m512i *c1) {
    uint32_t qh;
    memcpy(&qh, qh_bytes, 4);
    __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)qs)), s16 = _mm512_set1_epi32(16);
    __m512i lo = _mm512_and_si512(v, _mm512_set1_epi32(15)), hi = _mm512_srli_epi32(v, 4);
    *c0 = _mm512_mask_or_epi32(lo, (__mmask16)(qh & 0xffff), lo, s16);
    *c1 = _mm512_mask_or_epi32(hi, (__mmask16)(qh >> 16), hi, s16);
}

/* 32-entry table lookup: t0 holds codes 0..15, t1 codes 16..31 (vpermt2ps reads 5 index bits). */
T512 INL __m512 lut32(__m512i code, __m512 t0, __m512 t1) {
    return _mm512_permutex2var_ps(t0, code, t1);
}

T512 INL void q5_0_blk(const void *w, int64_t ib, const float *x, size_t xs, int nx, __m512 *a0,
                       __m512 *a1) {
    const quant_block_q5_0 *b = (const quant_block_q5_0 *)w + ib;
    __m512 dv = f16s(b->d); /* table: (k - 16) * d */
    __m512 t0 = _mm512_mul_ps(_mm512_sub_ps(iota16(), _mm512_set1_ps(16.0f)), dv);
    __m512 t1 = _mm512_mul_ps(iota16(), dv);
    __m512i c0, c1;
    q5_codes(b->qs, b->qh, &c0, &c1);
    acc_fma(a0, lut32(c0, t0, t1), x + 32 * ib, xs, nx);
    acc_fma(a1, lut32(c1, t0, t1), x + 32 * ib + 16, xs, nx);
}
T512 INL void q5_0_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    BLOCKS32(q5_0_blk);
}

T512 INL void q5_1_blk(const void *w, int64_t ib, const float *x, size_t xs, int nx, __m512 *a0,
                       __m512 *a1) {
    const quant_block_q5_1 *b = (const quant_block_q5_1 *)w + ib;
    __m512 dv = f16s(b->d), mv = f16s(b->m); /* table: k * d + m */
    __m512 t0 = _mm512_add_ps(_mm512_mul_ps(iota16(), dv), mv);
    __m512 t1 = _mm512_add_ps(_mm512_mul_ps(_mm512_add_ps(iota16(), _mm512_set1_ps(16.0f)), dv), mv);
    __m512i c0, c1;
    q5_codes(b->qs, b->qh, &c0, &c1);
    acc_fma(a0, lut32(c0, t0, t1), x + 32 * ib, xs, nx);
    acc_fma(a1, lut32(c1, t0, t1), x + 32 * ib + 16, xs, nx);
}
T512 INL void q5_1_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    BLOCKS32(q5_1_blk);
}

/* ---- K-quants ------------------------------------------------------------------------------- */

T512 INL void q4_K_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    const quant_block_q4_K *blk = w;
    accs a;
    acc_zero(a, nx);
    for (int64_t ib = 0; ib < n / 256; ib++, x += 256) {
        const quant_block_q4_K *b = &blk[ib];
        float d = _cvtsh_ss(b->d), dmin = _cvtsh_ss(b->dmin);
        float dsc[8], dm[8];
        kern_k4_scales(b->scales, d, dmin, dsc, dm);
        for (int c = 0; c < 4; c++) {
            /* tables of the two sub-blocks: (d*sc) * k - dmin*m, as the reference rounds it */
            __m512 t0 = _mm512_sub_ps(_mm512_mul_ps(iota16(), _mm512_set1_ps(dsc[2 * c])), _mm512_set1_ps(dm[2 * c]));
            __m512 t1 = _mm512_sub_ps(_mm512_mul_ps(iota16(), _mm512_set1_ps(dsc[2 * c + 1])), _mm512_set1_ps(dm[2 * c + 1]));
            const uint8_t *q = b->qs + 32 * c;
            __m512i v0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)q));
            __m512i v1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(q + 16)));
            const float *xc = x + 64 * c;
            acc_fma(a[0], _mm512_permutexvar_ps(v0, t0), xc, xs, nx);
            acc_fma(a[1], _mm512_permutexvar_ps(v1, t0), xc + 16, xs, nx);
            acc_fma(a[2], _mm512_permutexvar_ps(_mm512_srli_epi32(v0, 4), t1), xc + 32, xs, nx);
            acc_fma(a[3], _mm512_permutexvar_ps(_mm512_srli_epi32(v1, 4), t1), xc + 48, xs, nx);
        }
    }
    acc_out(a, nx, 1.0f, out);
}

T512 INL void q5_K_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    const quant_block_q5_K *blk = w;
    __m512i m15 = _mm512_set1_epi32(15), one = _mm512_set1_epi32(1);
    accs a;
    acc_zero(a, nx);
    for (int64_t ib = 0; ib < n / 256; ib++, x += 256) {
        const quant_block_q5_K *b = &blk[ib];
        float d = _cvtsh_ss(b->d), dmin = _cvtsh_ss(b->dmin);
        /* 5th bits of weights l and 16+l of every chunk; shifted right by 2 per chunk */
        __m512i h0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b->qh));
        __m512i h1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b->qh + 16)));
        float dsc[8], dm[8];
        kern_k4_scales(b->scales, d, dmin, dsc, dm);
        for (int c = 0; c < 4; c++) {
            /* 32-entry tables of the two sub-blocks: (d*sc) * k - dmin*m */
            __m512 d0 = _mm512_set1_ps(dsc[2 * c]), mm0 = _mm512_set1_ps(dm[2 * c]);
            __m512 d1 = _mm512_set1_ps(dsc[2 * c + 1]), mm1 = _mm512_set1_ps(dm[2 * c + 1]);
            __m512 k16 = _mm512_add_ps(iota16(), _mm512_set1_ps(16.0f));
            __m512 t00 = _mm512_sub_ps(_mm512_mul_ps(iota16(), d0), mm0), t01 = _mm512_sub_ps(_mm512_mul_ps(k16, d0), mm0);
            __m512 t10 = _mm512_sub_ps(_mm512_mul_ps(iota16(), d1), mm1), t11 = _mm512_sub_ps(_mm512_mul_ps(k16, d1), mm1);
            const uint8_t *q = b->qs + 32 * c;
            __m512i v0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)q));
            __m512i v1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(q + 16)));
            __m512i l0 = _mm512_or_si512(_mm512_and_si512(v0, m15), _mm512_slli_epi32(_mm512_and_si512(h0, one), 4));
            __m512i l1 = _mm512_or_si512(_mm512_and_si512(v1, m15), _mm512_slli_epi32(_mm512_and_si512(h1, one), 4));
            __m512i u0 = _mm512_or_si512(_mm512_srli_epi32(v0, 4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h0, 1), one), 4));
            __m512i u1 = _mm512_or_si512(_mm512_srli_epi32(v1, 4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h1, 1), one), 4));
            h0 = _mm512_srli_epi32(h0, 2);
            h1 = _mm512_srli_epi32(h1, 2);
            const float *xc = x + 64 * c;
            acc_fma(a[0], lut32(l0, t00, t01), xc, xs, nx);
            acc_fma(a[1], lut32(l1, t00, t01), xc + 16, xs, nx);
            acc_fma(a[2], lut32(u0, t10, t11), xc + 32, xs, nx);
            acc_fma(a[3], lut32(u1, t10, t11), xc + 48, xs, nx);
        }
    }
    acc_out(a, nx, 1.0f, out);
}

T512 INL void q6_K_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    const quant_block_q6_K *blk = w;
    __m512i m15 = _mm512_set1_epi32(15), m3 = _mm512_set1_epi32(3);
    __m512i m0c = _mm512_set1_epi32(0x0c), m30 = _mm512_set1_epi32(0x30), mc0 = _mm512_set1_epi32(0xc0);
    accs a;
    acc_zero(a, nx);
    for (int64_t ib = 0; ib < n / 256; ib++, x += 256) {
        const quant_block_q6_K *b = &blk[ib];
        float ds[16], m32s[16];
        kern_k6_scales(b->scales, _cvtsh_ss(b->d), ds, m32s);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            for (int g = 0; g < 2; g++) { /* weights 16g.. of each quarter: one scale each */
                __m512i va = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(ql + 16 * g)));
                __m512i vb = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(ql + 32 + 16 * g)));
                __m512i vh = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(qh + 16 * g)));
                __m512i q1 = _mm512_or_si512(_mm512_and_si512(va, m15), _mm512_slli_epi32(_mm512_and_si512(vh, m3), 4));
                __m512i q2 = _mm512_or_si512(_mm512_and_si512(vb, m15), _mm512_slli_epi32(_mm512_and_si512(vh, m0c), 2));
                __m512i q3 = _mm512_or_si512(_mm512_srli_epi32(va, 4), _mm512_and_si512(vh, m30));
                __m512i q4 = _mm512_or_si512(_mm512_srli_epi32(vb, 4), _mm512_srli_epi32(_mm512_and_si512(vh, mc0), 2));
                __m512i qs[4] = {q1, q2, q3, q4};
                for (int k = 0; k < 4; k++) {
                    __m512 dv = _mm512_set1_ps(ds[8 * h + g + 2 * k]), m32 = _mm512_set1_ps(m32s[8 * h + g + 2 * k]);
                    acc_fma(a[k], _mm512_fmadd_ps(_mm512_cvtepi32_ps(qs[k]), dv, m32),
                            x + 128 * h + 32 * k + 16 * g, xs, nx);
                }
            }
        }
    }
    acc_out(a, nx, 1.0f, out);
}

/* ---- table ---------------------------------------------------------------------------------- */

#define DEFINE_DOTS(name) KERN_DEFINE_DOTS(T512, name)
DEFINE_DOTS(f32)
DEFINE_DOTS(f16)
DEFINE_DOTS(bf16)
DEFINE_DOTS(q4_0)
DEFINE_DOTS(i4_g64)
DEFINE_DOTS(i4_g128)
DEFINE_DOTS(i4_ch)
DEFINE_DOTS(q8_0)
DEFINE_DOTS(i8_ch)
DEFINE_DOTS(q4_1)
DEFINE_DOTS(q5_0)
DEFINE_DOTS(q5_1)
DEFINE_DOTS(q4_K)
DEFINE_DOTS(q5_K)
DEFINE_DOTS(q6_K)

/* y += a * row (attention values); the tail through a mask */
T512 static void axpy_f32(int64_t n, float a, const void *row, float *y) {
    const float *x = row;
    __m512 va = _mm512_set1_ps(a);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, v, _mm512_maskz_loadu_ps(m, y + i)));
    }
}

T512 static void axpy_f16(int64_t n, float a, const void *row, float *y) {
    __m512 va = _mm512_set1_ps(a);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = ldm_f16(row, i, m);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, v, _mm512_maskz_loadu_ps(m, y + i)));
    }
}

#define ENTRY(t, name) [t] = dot_##name
#define ENTRYN(t, name) [t] = dotn_##name
static const kern_set g_avx512 = {
    .name = "avx512",
    .axpy = {[GGML_TYPE_F32] = axpy_f32, [GGML_TYPE_F16] = axpy_f16},
    .dot = {
        ENTRY(GGML_TYPE_F32, f32), ENTRY(GGML_TYPE_F16, f16), ENTRY(GGML_TYPE_BF16, bf16),
        ENTRY(GGML_TYPE_Q4_0, q4_0), ENTRY(LM_TYPE_I4_G32, q4_0), ENTRY(LM_TYPE_I4_G64, i4_g64),
        ENTRY(LM_TYPE_I4_G128, i4_g128), ENTRY(LM_TYPE_I4_CH, i4_ch), ENTRY(GGML_TYPE_Q8_0, q8_0),
        ENTRY(LM_TYPE_I8_CH, i8_ch), ENTRY(GGML_TYPE_Q4_1, q4_1), ENTRY(GGML_TYPE_Q5_0, q5_0),
        ENTRY(GGML_TYPE_Q5_1, q5_1), ENTRY(GGML_TYPE_Q4_K, q4_K), ENTRY(GGML_TYPE_Q5_K, q5_K),
        ENTRY(GGML_TYPE_Q6_K, q6_K),
    },
    .dotn = {
        ENTRYN(GGML_TYPE_F32, f32), ENTRYN(GGML_TYPE_F16, f16), ENTRYN(GGML_TYPE_BF16, bf16),
        ENTRYN(GGML_TYPE_Q4_0, q4_0), ENTRYN(LM_TYPE_I4_G32, q4_0), ENTRYN(LM_TYPE_I4_G64, i4_g64),
        ENTRYN(LM_TYPE_I4_G128, i4_g128), ENTRYN(LM_TYPE_I4_CH, i4_ch), ENTRYN(GGML_TYPE_Q8_0, q8_0),
        ENTRYN(LM_TYPE_I8_CH, i8_ch), ENTRYN(GGML_TYPE_Q4_1, q4_1), ENTRYN(GGML_TYPE_Q5_0, q5_0),
        ENTRYN(GGML_TYPE_Q5_1, q5_1), ENTRYN(GGML_TYPE_Q4_K, q4_K), ENTRYN(GGML_TYPE_Q5_K, q5_K),
        ENTRYN(GGML_TYPE_Q6_K, q6_K),
    },
};

const kern_set *kern_avx512(void) { return &g_avx512; }
#else
const kern_set *kern_avx512(void) { return kern_reference(); }
#endif
