/* kernels_avx2.c — AVX2/FMA/F16C kernels, 8 f32 lanes. Compiled for baseline x86-64 with
 * per-function target attributes, so the binary runs everywhere and these run only where cpu.c
 * found the features.
 *
 * Same shape as kernels_avx512.c: weights are dequantized into f32 registers exactly as the
 * reference computes them and multiply-added into x; one body per type serves dot (nx = 1) and
 * the multi-vector dotn (nx <= KERN_DOTN_MAX, inlined with nx constant). Q5_0/Q5_1 have no AVX2
 * body (rare in downloads); the dispatcher falls back to the reference for them. */
#include "compute/kernels_impl.h"
#include "compute/quant.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define T256 __attribute__((target("avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline))
#define NACC 4 /* independent accumulator chains per vector */

typedef __m256 accs[NACC][KERN_DOTN_MAX];

T256 INL void acc_zero(accs a, int nx) {
    for (int k = 0; k < NACC; k++)
        for (int b = 0; b < nx; b++) a[k][b] = _mm256_setzero_ps();
}

/* a[b] += w * x_b[0..8) for every vector b */
T256 INL void acc_fma(__m256 *a, __m256 w, const float *x, size_t xs, int nx) {
    for (int b = 0; b < nx; b++) a[b] = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + (size_t)b * xs), a[b]);
}

T256 INL float hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

T256 INL void acc_out(accs a, int nx, float scale, float *out) {
    for (int b = 0; b < nx; b++) {
        __m256 s = _mm256_add_ps(_mm256_add_ps(a[0][b], a[1][b]), _mm256_add_ps(a[2][b], a[3][b]));
        out[b] = hsum256(s) * scale;
    }
}

T256 INL __m256 f16s(uint16_t h) { return _mm256_set1_ps(_cvtsh_ss(h)); }

/* 16 unsigned bytes -> two vectors of 8 floats (bytes 0..7, 8..15) */
T256 INL void u8x16_ps(__m128i v, __m256 *lo, __m256 *hi) {
    *lo = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v));
    *hi = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(v, 8)));
}

T256 INL __m256 cvt_i8x8(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

T256 INL __m256i u8x8_epi32(const uint8_t *p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

/* ---- F32 / F16 / BF16 ----------------------------------------------------------------------- */

T256 INL __m256 ld_f32(const void *w, int64_t i) { return _mm256_loadu_ps((const float *)w + i); }
T256 INL __m256 ld_f16(const void *w, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
}
T256 INL __m256 ld_bf16(const void *w, int64_t i) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
static inline float sc_f32(const void *w, int64_t i) { return ((const float *)w)[i]; }
static inline float sc_f16(const void *w, int64_t i) { return kern_f16_to_f32(((const uint16_t *)w)[i]); }
static inline float sc_bf16(const void *w, int64_t i) { return kern_bf16_to_f32(((const uint16_t *)w)[i]); }

#define FLOAT_IMPL(name, LD, SC)                                                               \
    T256 INL void name##_impl(int64_t n, const void *w, const float *x, size_t xs, int nx,     \
                              float *out) {                                                    \
        accs a;                                                                                \
        acc_zero(a, nx);                                                                       \
        int64_t i = 0;                                                                         \
        for (; i + 32 <= n; i += 32)                                                           \
            for (int k = 0; k < NACC; k++) acc_fma(a[k], LD(w, i + 8 * k), x + i + 8 * k, xs, nx); \
        for (; i + 8 <= n; i += 8) acc_fma(a[0], LD(w, i), x + i, xs, nx);                     \
        acc_out(a, nx, 1.0f, out);                                                             \
        for (; i < n; i++)                                                                     \
            for (int b = 0; b < nx; b++) out[b] += SC(w, i) * x[(size_t)b * xs + (size_t)i];   \
    }
FLOAT_IMPL(f32, ld_f32, sc_f32)
FLOAT_IMPL(f16, ld_f16, sc_f16)
FLOAT_IMPL(bf16, ld_bf16, sc_bf16)

/* ---- int4 family: Q4_0, I4_G32/64/128, I4_CH, Q4_1 ------------------------------------------ */

/* One nibble chunk (32 weights) times d plus off (off = -8 d: (n - 8) * d rounded once, as the
 * reference) into chains a0 (weights 0..15) and a1 (16..31). */
T256 INL void i4_chunk(const uint8_t *qs, __m256 dv, __m256 off, const float *x, size_t xs, int nx,
                       __m256 *a0, __m256 *a1) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs), m15 = _mm_set1_epi8(15);
    __m128i lo = _mm_and_si128(b, m15), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m15);
    __m256 q0, q1, q2, q3;
    u8x16_ps(lo, &q0, &q1);
    u8x16_ps(hi, &q2, &q3);
    acc_fma(a0, _mm256_fmadd_ps(q0, dv, off), x, xs, nx);
    acc_fma(a0, _mm256_fmadd_ps(q1, dv, off), x + 8, xs, nx);
    acc_fma(a1, _mm256_fmadd_ps(q2, dv, off), x + 16, xs, nx);
    acc_fma(a1, _mm256_fmadd_ps(q3, dv, off), x + 24, xs, nx);
}

T256 INL void i4g_chunk(const uint8_t *base, int64_t c, const int g, const float *x, size_t xs,
                        int nx, __m256 *a0, __m256 *a1) {
    const int cpb = g / 32; /* chunks per block */
    const uint8_t *blk = base + (size_t)(c / cpb) * (2 + (size_t)g / 2);
    uint16_t d16;
    memcpy(&d16, blk, 2);
    __m256 dv = f16s(d16);
    i4_chunk(blk + 2 + 16 * (c % cpb), dv, _mm256_mul_ps(dv, _mm256_set1_ps(-8.0f)), x + 32 * c,
             xs, nx, a0, a1);
}

/* Q4_0 and I4_G32 are g = 32. Chunks alternate between two pairs of chains. */
T256 INL void i4g_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out,
                       const int g) {
    accs a;
    acc_zero(a, nx);
    int64_t nc = n / 32, c = 0;
    for (; c + 2 <= nc; c += 2) {
        i4g_chunk(w, c, g, x, xs, nx, a[0], a[1]);
        i4g_chunk(w, c + 1, g, x, xs, nx, a[2], a[3]);
    }
    if (c < nc) i4g_chunk(w, c, g, x, xs, nx, a[0], a[1]);
    acc_out(a, nx, 1.0f, out);
}
T256 INL void q4_0_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    i4g_impl(n, w, x, xs, nx, out, 32);
}
T256 INL void i4_g64_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    i4g_impl(n, w, x, xs, nx, out, 64);
}
T256 INL void i4_g128_impl(int64_t n, const void *w, const float *x, size_t xs, int nx,
                           float *out) {
    i4g_impl(n, w, x, xs, nx, out, 128);
}

/* Channel-wise: sum (n - 8) * x over the row, times the row's scale at the end. */
T256 INL void i4_ch_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    float d;
    memcpy(&d, w, sizeof d);
    const uint8_t *qs = (const uint8_t *)w + sizeof(quant_row_header);
    __m256 one = _mm256_set1_ps(1.0f), m8 = _mm256_set1_ps(-8.0f);
    accs a;
    acc_zero(a, nx);
    int64_t nc = n / 32, c = 0;
    for (; c + 2 <= nc; c += 2) {
        i4_chunk(qs + 16 * c, one, m8, x + 32 * c, xs, nx, a[0], a[1]);
        i4_chunk(qs + 16 * (c + 1), one, m8, x + 32 * (c + 1), xs, nx, a[2], a[3]);
    }
    if (c < nc) i4_chunk(qs + 16 * c, one, m8, x + 32 * c, xs, nx, a[0], a[1]);
    acc_out(a, nx, d, out);
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

T256 INL void q4_1_blk(const void *w, int64_t ib, const float *x, size_t xs, int nx, __m256 *a0,
                       __m256 *a1) {
    const quant_block_q4_1 *b = (const quant_block_q4_1 *)w + ib;
    i4_chunk(b->qs, f16s(b->d), f16s(b->m), x + 32 * ib, xs, nx, a0, a1); /* q * d + m */
}
T256 INL void q4_1_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    BLOCKS32(q4_1_blk);
}

/* ---- int8 family: Q8_0, I8_CH ------------------------------------------------------------- */

T256 INL void q8_0_blk(const void *w, int64_t ib, const float *x, size_t xs, int nx, __m256 *a0,
                       __m256 *a1) {
    const quant_block_q8_0 *b = (const quant_block_q8_0 *)w + ib;
    __m256 dv = f16s(b->d);
    const float *xb = x + 32 * ib;
    acc_fma(a0, _mm256_mul_ps(cvt_i8x8(b->qs), dv), xb, xs, nx);
    acc_fma(a0, _mm256_mul_ps(cvt_i8x8(b->qs + 8), dv), xb + 8, xs, nx);
    acc_fma(a1, _mm256_mul_ps(cvt_i8x8(b->qs + 16), dv), xb + 16, xs, nx);
    acc_fma(a1, _mm256_mul_ps(cvt_i8x8(b->qs + 24), dv), xb + 24, xs, nx);
}
T256 INL void q8_0_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    BLOCKS32(q8_0_blk);
}

T256 INL void i8_ch_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    float d;
    memcpy(&d, w, sizeof d);
    const int8_t *q = (const int8_t *)((const uint8_t *)w + sizeof(quant_row_header));
    accs a;
    acc_zero(a, nx);
    for (int64_t i = 0; i < n; i += 32) /* n % 32 == 0 */
        for (int k = 0; k < NACC; k++) acc_fma(a[k], cvt_i8x8(q + i + 8 * k), x + i + 8 * k, xs, nx);
    acc_out(a, nx, d, out);
}

/* ---- K-quants ------------------------------------------------------------------------------- */

/* 16 values (floats lo: 0..7, hi: 8..15) times d minus m, into chain a at x. */
T256 INL void acc16_fmsub(__m256 *a, __m256 lo, __m256 hi, __m256 dv, __m256 mv, const float *x,
                          size_t xs, int nx) {
    acc_fma(a, _mm256_fmsub_ps(lo, dv, mv), x, xs, nx);
    acc_fma(a, _mm256_fmsub_ps(hi, dv, mv), x + 8, xs, nx);
}

T256 INL void q4_K_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    const quant_block_q4_K *blk = w;
    __m128i m15 = _mm_set1_epi8(15);
    accs a;
    acc_zero(a, nx);
    for (int64_t ib = 0; ib < n / 256; ib++, x += 256) {
        const quant_block_q4_K *b = &blk[ib];
        float d = _cvtsh_ss(b->d), dmin = _cvtsh_ss(b->dmin);
        float dsc[8], dm[8];
        kern_k4_scales(b->scales, d, dmin, dsc, dm);
        for (int c = 0; c < 4; c++) {
            __m256 d0 = _mm256_set1_ps(dsc[2 * c]), mm0 = _mm256_set1_ps(dm[2 * c]);
            __m256 d1 = _mm256_set1_ps(dsc[2 * c + 1]), mm1 = _mm256_set1_ps(dm[2 * c + 1]);
            const uint8_t *q = b->qs + 32 * c;
            __m128i b0 = _mm_loadu_si128((const __m128i *)q), b1 = _mm_loadu_si128((const __m128i *)(q + 16));
            __m256 p, r;
            const float *xc = x + 64 * c;
            u8x16_ps(_mm_and_si128(b0, m15), &p, &r);
            acc16_fmsub(a[0], p, r, d0, mm0, xc, xs, nx);
            u8x16_ps(_mm_and_si128(b1, m15), &p, &r);
            acc16_fmsub(a[1], p, r, d0, mm0, xc + 16, xs, nx);
            u8x16_ps(_mm_and_si128(_mm_srli_epi16(b0, 4), m15), &p, &r);
            acc16_fmsub(a[2], p, r, d1, mm1, xc + 32, xs, nx);
            u8x16_ps(_mm_and_si128(_mm_srli_epi16(b1, 4), m15), &p, &r);
            acc16_fmsub(a[3], p, r, d1, mm1, xc + 48, xs, nx);
        }
    }
    acc_out(a, nx, 1.0f, out);
}

T256 INL void q5_K_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    const quant_block_q5_K *blk = w;
    __m256i m15 = _mm256_set1_epi32(15), one = _mm256_set1_epi32(1);
    accs a;
    acc_zero(a, nx);
    for (int64_t ib = 0; ib < n / 256; ib++, x += 256) {
        const quant_block_q5_K *b = &blk[ib];
        float d = _cvtsh_ss(b->d), dmin = _cvtsh_ss(b->dmin);
        float dsc[8], dm[8];
        kern_k4_scales(b->scales, d, dmin, dsc, dm);
        for (int c = 0; c < 4; c++) {
            __m256 d0 = _mm256_set1_ps(dsc[2 * c]), mm0 = _mm256_set1_ps(dm[2 * c]);
            __m256 d1 = _mm256_set1_ps(dsc[2 * c + 1]), mm1 = _mm256_set1_ps(dm[2 * c + 1]);
            __m128i sh_lo = _mm_cvtsi32_si128(2 * c), sh_hi = _mm_cvtsi32_si128(2 * c + 1);
            const float *xc = x + 64 * c;
            for (int gq = 0; gq < 4; gq++) { /* 8 bytes of the chunk: weights 8gq.., 32+8gq.. */
                __m256i v = u8x8_epi32(b->qs + 32 * c + 8 * gq), h = u8x8_epi32(b->qh + 8 * gq);
                __m256i lo = _mm256_or_si256(_mm256_and_si256(v, m15),
                                             _mm256_slli_epi32(_mm256_and_si256(_mm256_srl_epi32(h, sh_lo), one), 4));
                __m256i hi = _mm256_or_si256(_mm256_srli_epi32(v, 4),
                                             _mm256_slli_epi32(_mm256_and_si256(_mm256_srl_epi32(h, sh_hi), one), 4));
                acc_fma(a[gq & 1], _mm256_fmsub_ps(_mm256_cvtepi32_ps(lo), d0, mm0), xc + 8 * gq, xs, nx);
                acc_fma(a[2 + (gq & 1)], _mm256_fmsub_ps(_mm256_cvtepi32_ps(hi), d1, mm1), xc + 32 + 8 * gq, xs, nx);
            }
        }
    }
    acc_out(a, nx, 1.0f, out);
}

T256 INL void q6_K_impl(int64_t n, const void *w, const float *x, size_t xs, int nx, float *out) {
    const quant_block_q6_K *blk = w;
    __m256i m15 = _mm256_set1_epi32(15), m3 = _mm256_set1_epi32(3);
    __m256i m0c = _mm256_set1_epi32(0x0c), m30 = _mm256_set1_epi32(0x30), mc0 = _mm256_set1_epi32(0xc0);
    accs a;
    acc_zero(a, nx);
    for (int64_t ib = 0; ib < n / 256; ib++, x += 256) {
        const quant_block_q6_K *b = &blk[ib];
        float ds[16], m32s[16];
        kern_k6_scales(b->scales, _cvtsh_ss(b->d), ds, m32s);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            for (int l = 0; l < 32; l += 8) {
                __m256i va = u8x8_epi32(ql + l), vb = u8x8_epi32(ql + 32 + l), vh = u8x8_epi32(qh + l);
                __m256i q1 = _mm256_or_si256(_mm256_and_si256(va, m15), _mm256_slli_epi32(_mm256_and_si256(vh, m3), 4));
                __m256i q2 = _mm256_or_si256(_mm256_and_si256(vb, m15), _mm256_slli_epi32(_mm256_and_si256(vh, m0c), 2));
                __m256i q3 = _mm256_or_si256(_mm256_srli_epi32(va, 4), _mm256_and_si256(vh, m30));
                __m256i q4 = _mm256_or_si256(_mm256_srli_epi32(vb, 4), _mm256_srli_epi32(_mm256_and_si256(vh, mc0), 2));
                __m256i qv[4] = {q1, q2, q3, q4};
                for (int k = 0; k < 4; k++) {
                    __m256 dv = _mm256_set1_ps(ds[8 * h + l / 16 + 2 * k]), m32 = _mm256_set1_ps(m32s[8 * h + l / 16 + 2 * k]);
                    acc_fma(a[k], _mm256_fmadd_ps(_mm256_cvtepi32_ps(qv[k]), dv, m32),
                            x + 128 * h + 32 * k + l, xs, nx);
                }
            }
        }
    }
    acc_out(a, nx, 1.0f, out);
}

/* ---- table ---------------------------------------------------------------------------------- */

#define DEFINE_DOTS(name) KERN_DEFINE_DOTS(T256, name)
DEFINE_DOTS(f32)
DEFINE_DOTS(f16)
DEFINE_DOTS(bf16)
DEFINE_DOTS(q4_0)
DEFINE_DOTS(i4_g64)
DEFINE_DOTS(i4_g128)
DEFINE_DOTS(i4_ch)
DEFINE_DOTS(q4_1)
DEFINE_DOTS(q8_0)
DEFINE_DOTS(i8_ch)
DEFINE_DOTS(q4_K)
DEFINE_DOTS(q5_K)
DEFINE_DOTS(q6_K)

/* y += a * row (attention values); the tail is scalar */
T256 static void axpy_f32(int64_t n, float a, const void *row, float *y) {
    const float *x = row;
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

T256 static void axpy_f16(int64_t n, float a, const void *row, float *y) {
    const uint16_t *x = row;
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, v, _mm256_loadu_ps(y + i)));
    }
    for (; i < n; i++) y[i] += a * kern_f16_to_f32(x[i]);
}

/* int8-activation tiles: vpdpbusd emulated as vpmaddubsw (pairs, exact below 2^15 for the
 * codes kernels_q8_256.h feeds it) + vpmaddwd with ones */
T256 static inline __attribute__((always_inline)) __m256i maddubs_dpbusd(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
#define Q8_TARGET T256
#define Q8_DPBUSD maddubs_dpbusd
#define Q8_NAME(x) avx2_##x
#include "compute/kernels_q8_256.h"

#define ENTRY(t, name) [t] = dot_##name
#define ENTRYN(t, name) [t] = dotn_##name
static const kern_set g_avx2 = {
    .qgemm = {Q8_TABLE},
    .name = "avx2",
    .axpy = {[GGML_TYPE_F32] = axpy_f32, [GGML_TYPE_F16] = axpy_f16},
    .dot = {
        ENTRY(GGML_TYPE_F32, f32), ENTRY(GGML_TYPE_F16, f16), ENTRY(GGML_TYPE_BF16, bf16),
        ENTRY(GGML_TYPE_Q4_0, q4_0), ENTRY(LM_TYPE_I4_G32, q4_0), ENTRY(LM_TYPE_I4_G64, i4_g64),
        ENTRY(LM_TYPE_I4_G128, i4_g128), ENTRY(LM_TYPE_I4_CH, i4_ch), ENTRY(GGML_TYPE_Q4_1, q4_1),
        ENTRY(GGML_TYPE_Q8_0, q8_0), ENTRY(LM_TYPE_I8_CH, i8_ch), ENTRY(GGML_TYPE_Q4_K, q4_K),
        ENTRY(GGML_TYPE_Q5_K, q5_K), ENTRY(GGML_TYPE_Q6_K, q6_K),
    },
    .dotn = {
        ENTRYN(GGML_TYPE_F32, f32), ENTRYN(GGML_TYPE_F16, f16), ENTRYN(GGML_TYPE_BF16, bf16),
        ENTRYN(GGML_TYPE_Q4_0, q4_0), ENTRYN(LM_TYPE_I4_G32, q4_0), ENTRYN(LM_TYPE_I4_G64, i4_g64),
        ENTRYN(LM_TYPE_I4_G128, i4_g128), ENTRYN(LM_TYPE_I4_CH, i4_ch), ENTRYN(GGML_TYPE_Q4_1, q4_1),
        ENTRYN(GGML_TYPE_Q8_0, q8_0), ENTRYN(LM_TYPE_I8_CH, i8_ch), ENTRYN(GGML_TYPE_Q4_K, q4_K),
        ENTRYN(GGML_TYPE_Q5_K, q5_K), ENTRYN(GGML_TYPE_Q6_K, q6_K),
    },
};

const kern_set *kern_avx2(void) { return &g_avx2; }
#else
const kern_set *kern_avx2(void) { return kern_reference(); }
#endif
