/* quant.c — type facts, exact reference dequantization and deterministic quantizers for every
 * weight type (layouts in quant.h). Scalar and plain on purpose: this is the oracle the SIMD
 * kernels are tested against, and quantizing runs once, at load time. */
#include "compute/quant.h"

#include <math.h>
#include <string.h>

#include "compute/kernels.h"

/* ---- type facts ----------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int64_t block_elems; /* weights per block; for *_CH types, the row-length multiple */
    size_t block_bytes;  /* bytes per block; 0 for *_CH types (header + packed values) */
} type_fact;

static const type_fact g_facts[LM_TYPE_COUNT] = {
    [GGML_TYPE_F32] = {"f32", 1, 4},
    [GGML_TYPE_F16] = {"f16", 1, 2},
    [GGML_TYPE_BF16] = {"bf16", 1, 2},
    [GGML_TYPE_Q4_0] = {"q4_0", QUANT_QK, sizeof(quant_block_q4_0)},
    [GGML_TYPE_Q4_1] = {"q4_1", QUANT_QK, sizeof(quant_block_q4_1)},
    [GGML_TYPE_Q5_0] = {"q5_0", QUANT_QK, sizeof(quant_block_q5_0)},
    [GGML_TYPE_Q5_1] = {"q5_1", QUANT_QK, sizeof(quant_block_q5_1)},
    [GGML_TYPE_Q8_0] = {"q8_0", QUANT_QK, sizeof(quant_block_q8_0)},
    [GGML_TYPE_Q4_K] = {"q4_K", QUANT_QK_K, sizeof(quant_block_q4_K)},
    [GGML_TYPE_Q5_K] = {"q5_K", QUANT_QK_K, sizeof(quant_block_q5_K)},
    [GGML_TYPE_Q6_K] = {"q6_K", QUANT_QK_K, sizeof(quant_block_q6_K)},
    [LM_TYPE_I8_CH] = {"i8_ch", QUANT_QK, 0},
    [LM_TYPE_I4_CH] = {"i4_ch", QUANT_QK, 0},
    [LM_TYPE_I4_G32] = {"i4_g32", 32, sizeof(quant_block_i4_g32)},
    [LM_TYPE_I4_G64] = {"i4_g64", 64, sizeof(quant_block_i4_g64)},
    [LM_TYPE_I4_G128] = {"i4_g128", 128, sizeof(quant_block_i4_g128)},
};

static const type_fact *fact(ggml_type t) {
    if ((unsigned)t >= LM_TYPE_COUNT || !g_facts[t].name) return NULL;
    return &g_facts[t];
}

const char *quant_type_name(ggml_type t) {
    const type_fact *f = fact(t);
    return f ? f->name : NULL;
}

int quant_type_known(ggml_type t) { return fact(t) != NULL; }

int64_t quant_row_multiple(ggml_type t) {
    const type_fact *f = fact(t);
    return f ? f->block_elems : 0;
}

size_t quant_row_bytes(ggml_type t, int64_t n) {
    const type_fact *f = fact(t);
    if (!f || n <= 0 || n % f->block_elems != 0) return 0;
    if (t == LM_TYPE_I8_CH) return sizeof(quant_row_header) + (size_t)n;
    if (t == LM_TYPE_I4_CH) return sizeof(quant_row_header) + (size_t)n / 2;
    return (size_t)(n / f->block_elems) * f->block_bytes;
}

void quant_k_scale_min(const uint8_t scales[12], int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = scales[j] & 63;
        *m = scales[j + 4] & 63;
    } else {
        *sc = (uint8_t)((scales[j + 4] & 15) | ((scales[j - 4] >> 6) << 4));
        *m = (uint8_t)((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
    }
}

/* ---- element conversions, inlined so row loops vectorize ------------------------------------- */

/* IEEE half -> single, exact for every input (subnormals by an exact float subtraction), written
 * without branches on data so the compiler can vectorize it. Same bits as kern_f16_to_f32. */
static inline float f16_to_f32(uint16_t h) {
    uint32_t em = (uint32_t)(h & 0x7fff) << 13, e = em & 0x0f800000u;
    /* normal, inf, nan: rebias the exponent (inf/nan keep all exponent bits) */
    uint32_t norm = em + ((uint32_t)(127 - 15) << 23) + (e == 0x0f800000u ? (uint32_t)(128 - 16) << 23 : 0);
    /* zero, subnormal: 2^-14 (1 + m/1024) - 2^-14, exact; computed always (it is finite), chosen
     * below by an integer select so NaN payloads never pass through float arithmetic */
    uint32_t sb = em + (113u << 23), subb;
    float sub;
    memcpy(&sub, &sb, 4);
    sub -= 0x1p-14f;
    memcpy(&subb, &sub, 4);
    uint32_t b = (e == 0 ? subb : norm) | (uint32_t)(h & 0x8000) << 16;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static inline float bf16_to_f32(uint16_t h) {
    uint32_t b = (uint32_t)h << 16;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* ---- dequantization: one block (or chunk) at a time ----------------------------------------- */

/* A nibble chunk (16 bytes, 32 signed int4 weights stored as q + 8) times scale d. */
static void dequant_i4_chunk(const uint8_t *qs, float d, float *out) {
    for (int j = 0; j < 16; j++) {
        out[j] = (float)((qs[j] & 15) - 8) * d;
        out[j + 16] = (float)((qs[j] >> 4) - 8) * d;
    }
}

static void dequant_q4_1(const quant_block_q4_1 *b, float *out) {
    float d = f16_to_f32(b->d), m = f16_to_f32(b->m);
    for (int j = 0; j < 16; j++) {
        out[j] = (float)(b->qs[j] & 15) * d + m;
        out[j + 16] = (float)(b->qs[j] >> 4) * d + m;
    }
}

/* The 5-bit values of a Q5_0/Q5_1 block: low nibbles from qs, 5th bit from the LE u32 qh. */
static void q5_values(const uint8_t qh_bytes[4], const uint8_t qs[16], int q[32]) {
    uint32_t qh = (uint32_t)qh_bytes[0] | (uint32_t)qh_bytes[1] << 8 | (uint32_t)qh_bytes[2] << 16 |
                  (uint32_t)qh_bytes[3] << 24;
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 15) | (int)((qh >> j) & 1) << 4;
        q[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
    }
}

static void dequant_q5_0(const quant_block_q5_0 *b, float *out) {
    int q[32];
    q5_values(b->qh, b->qs, q);
    float d = f16_to_f32(b->d);
    for (int j = 0; j < 32; j++) out[j] = (float)(q[j] - 16) * d;
}

static void dequant_q5_1(const quant_block_q5_1 *b, float *out) {
    int q[32];
    q5_values(b->qh, b->qs, q);
    float d = f16_to_f32(b->d), m = f16_to_f32(b->m);
    for (int j = 0; j < 32; j++) out[j] = (float)q[j] * d + m;
}

static void dequant_q8_0(const quant_block_q8_0 *b, float *out) {
    float d = f16_to_f32(b->d);
    for (int j = 0; j < 32; j++) out[j] = (float)b->qs[j] * d;
}

static void dequant_q4_K(const quant_block_q4_K *b, float *out) {
    float d = f16_to_f32(b->d), dmin = f16_to_f32(b->dmin);
    for (int c = 0; c < 4; c++) {
        const uint8_t *q = b->qs + 32 * c;
        uint8_t sc0, m0, sc1, m1;
        quant_k_scale_min(b->scales, 2 * c, &sc0, &m0);
        quant_k_scale_min(b->scales, 2 * c + 1, &sc1, &m1);
        float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
        float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
        for (int l = 0; l < 32; l++) {
            out[64 * c + l] = d0 * (float)(q[l] & 15) - mm0;
            out[64 * c + 32 + l] = d1 * (float)(q[l] >> 4) - mm1;
        }
    }
}

static void dequant_q5_K(const quant_block_q5_K *b, float *out) {
    float d = f16_to_f32(b->d), dmin = f16_to_f32(b->dmin);
    for (int c = 0; c < 4; c++) {
        const uint8_t *q = b->qs + 32 * c;
        uint8_t sc0, m0, sc1, m1;
        quant_k_scale_min(b->scales, 2 * c, &sc0, &m0);
        quant_k_scale_min(b->scales, 2 * c + 1, &sc1, &m1);
        float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
        float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
        for (int l = 0; l < 32; l++) {
            int lo = (q[l] & 15) | ((b->qh[l] >> (2 * c)) & 1) << 4;
            int hi = (q[l] >> 4) | ((b->qh[l] >> (2 * c + 1)) & 1) << 4;
            out[64 * c + l] = d0 * (float)lo - mm0;
            out[64 * c + 32 + l] = d1 * (float)hi - mm1;
        }
    }
}

static void dequant_q6_K(const quant_block_q6_K *b, float *out) {
    float d = f16_to_f32(b->d);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        const int8_t *sc = b->scales + 8 * h;
        float *o = out + 128 * h;
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32;
            int q2 = ((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32;
            int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
            int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
            o[l] = d * (float)sc[is + 0] * (float)q1;
            o[l + 32] = d * (float)sc[is + 2] * (float)q2;
            o[l + 64] = d * (float)sc[is + 4] * (float)q3;
            o[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
    }
}

void quant_dequantize_row(ggml_type t, const void *row, int64_t n, float *out) {
    quant_dequantize_range(t, row, 0, n, out);
}

void quant_dequantize_range(ggml_type t, const void *row, int64_t i0, int64_t n, float *out) {
    const unsigned char *p = row;
    const type_fact *f = fact(t);
    if (f && f->block_bytes) {
        p += (size_t)(i0 / f->block_elems) * f->block_bytes;
        row = p;
    }
    switch (t) {
    case GGML_TYPE_F32: memcpy(out, row, (size_t)n * sizeof(float)); return;
    case GGML_TYPE_F16:
        for (int64_t i = 0; i < n; i++) out[i] = f16_to_f32(((const uint16_t *)row)[i]);
        return;
    case GGML_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) out[i] = bf16_to_f32(((const uint16_t *)row)[i]);
        return;
    case GGML_TYPE_Q4_0:
    case LM_TYPE_I4_G32:
        for (int64_t i = 0; i < n; i += 32, p += sizeof(quant_block_q4_0)) {
            const quant_block_q4_0 *b = (const quant_block_q4_0 *)p;
            dequant_i4_chunk(b->qs, f16_to_f32(b->d), out + i);
        }
        return;
    case LM_TYPE_I4_G64:
    case LM_TYPE_I4_G128: {
        int64_t g = quant_row_multiple(t);
        size_t bytes = g == 64 ? sizeof(quant_block_i4_g64) : sizeof(quant_block_i4_g128);
        for (int64_t i = 0; i < n; i += g, p += bytes) {
            float d = f16_to_f32(*(const uint16_t *)p);
            for (int64_t c = 0; c < g / 32; c++) dequant_i4_chunk(p + 2 + 16 * c, d, out + i + 32 * c);
        }
        return;
    }
    case LM_TYPE_I4_CH: {
        float d;
        memcpy(&d, p, sizeof d);
        for (int64_t i = 0; i < n; i += 32) dequant_i4_chunk(p + 4 + (i0 + i) / 2, d, out + i);
        return;
    }
    case LM_TYPE_I8_CH: {
        float d;
        memcpy(&d, p, sizeof d);
        const int8_t *q = (const int8_t *)(p + 4 + i0);
        for (int64_t i = 0; i < n; i++) out[i] = (float)q[i] * d;
        return;
    }
    case GGML_TYPE_Q4_1:
        for (int64_t i = 0; i < n; i += 32, p += sizeof(quant_block_q4_1))
            dequant_q4_1((const quant_block_q4_1 *)p, out + i);
        return;
    case GGML_TYPE_Q5_0:
        for (int64_t i = 0; i < n; i += 32, p += sizeof(quant_block_q5_0))
            dequant_q5_0((const quant_block_q5_0 *)p, out + i);
        return;
    case GGML_TYPE_Q5_1:
        for (int64_t i = 0; i < n; i += 32, p += sizeof(quant_block_q5_1))
            dequant_q5_1((const quant_block_q5_1 *)p, out + i);
        return;
    case GGML_TYPE_Q8_0:
        for (int64_t i = 0; i < n; i += 32, p += sizeof(quant_block_q8_0))
            dequant_q8_0((const quant_block_q8_0 *)p, out + i);
        return;
    case GGML_TYPE_Q4_K:
        for (int64_t i = 0; i < n; i += 256, p += sizeof(quant_block_q4_K))
            dequant_q4_K((const quant_block_q4_K *)p, out + i);
        return;
    case GGML_TYPE_Q5_K:
        for (int64_t i = 0; i < n; i += 256, p += sizeof(quant_block_q5_K))
            dequant_q5_K((const quant_block_q5_K *)p, out + i);
        return;
    case GGML_TYPE_Q6_K:
        for (int64_t i = 0; i < n; i += 256, p += sizeof(quant_block_q6_K))
            dequant_q6_K((const quant_block_q6_K *)p, out + i);
        return;
    default:
        memset(out, 0, (size_t)n * sizeof(float)); /* unknown: callers check quant_type_known */
        return;
    }
}

/* ---- quantization --------------------------------------------------------------------------- */

int quant_can_quantize(ggml_type t) {
    switch (t) {
    case GGML_TYPE_F32: case GGML_TYPE_F16: case GGML_TYPE_BF16:
    case GGML_TYPE_Q8_0: case GGML_TYPE_Q4_0: case GGML_TYPE_Q4_1:
    case GGML_TYPE_Q5_0: case GGML_TYPE_Q5_1:
    case LM_TYPE_I8_CH: case LM_TYPE_I4_CH:
    case LM_TYPE_I4_G32: case LM_TYPE_I4_G64: case LM_TYPE_I4_G128:
        return 1;
    default:
        return 0;
    }
}

#define F16_MAX 65504.0f

/* The loops below are written for the compiler's vectorizer (plain SSE2 in the baseline build):
 * no calls, no early exits, selects instead of branches. Quantizing an 8B-parameter model runs
 * them 8e9 times at load. */

/* q[i] = round(x[i] / d) with ties away from zero, clamped to [lo, hi]; all 0 when d is 0 (an
 * all-zero group). Truncate, then step by the exact remainder: the same as roundf, vectorizable.
 * Clamping v first keeps the conversion defined for any finite x. */
__attribute__((noinline)) static void round_div(const float *x, int64_t n, float d, int lo, int hi,
                                                 int32_t *q) {
    if (d == 0.0f) {
        memset(q, 0, (size_t)n * sizeof *q);
        return;
    }
    const float vlo = (float)(lo - 1), vhi = (float)(hi + 1);
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] / d;
        v = v < vlo ? vlo : v;
        v = v > vhi ? vhi : v;
        int32_t t = (int32_t)v;
        float f = v - (float)t;
        t += (f >= 0.5f) - (f <= -0.5f);
        t = t < lo ? lo : t;
        q[i] = t > hi ? hi : t;
    }
}

/* Largest |x[i]| of finite x. Compared as integers: for non-negative floats the bit patterns
 * order as the values do, and an integer max reduction vectorizes where a float one does not. */
static float absmax(const float *x, int64_t n) {
    int32_t amax = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t b;
        memcpy(&b, &x[i], 4);
        b &= 0x7fffffff;
        amax = b > amax ? b : amax;
    }
    float f;
    memcpy(&f, &amax, 4);
    return f;
}

/* The element of largest magnitude (the first, on ties), with its sign. */
static float signed_absmax(const float *x, int64_t n) {
    float amax = absmax(x, n);
    for (int64_t i = 0; i < n; i++)
        if (fabsf(x[i]) == amax) return x[i];
    return 0.0f;
}

static void minmax(const float *x, int64_t n, float *mn, float *mx) {
    float a = x[0], b = x[0];
    for (int64_t i = 1; i < n; i++) {
        a = x[i] < a ? x[i] : a;
        b = x[i] > b ? x[i] : b;
    }
    *mn = a;
    *mx = b;
}

/* Index of the first NaN or infinity, or -1. */
static int64_t first_non_finite(const float *x, int64_t n) {
    uint32_t any = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], 4);
        any |= (b & 0x7f800000u) == 0x7f800000u;
    }
    if (!any) return -1;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

/* Rounds a scale to f16 storage; fails when it does not fit. */
static lm_status f16_scale(float d, int64_t at, uint16_t *out, lm_error *err) {
    if (!(fabsf(d) <= F16_MAX))
        return err_set(err, LM_ERR_INVALID,
                       "scale %g of the block at weight %lld does not fit f16 (max 65504)",
                       (double)d, (long long)at);
    *out = kern_f32_to_f16(d);
    return LM_OK;
}

/* Packs 32 signed int4 values (x / d rounded) into a nibble chunk. */
static void quant_i4_chunk(const float *x, float d, uint8_t *qs) {
    int32_t q[32];
    round_div(x, 32, d, -8, 7, q);
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] + 8) | (q[j + 16] + 8) << 4);
}

/* One Q4_1 / Q5_1 style block: w = q*d + m with q in [0, qmax]; returns the q values. */
static lm_status quant_affine(const float *x, int qmax, int64_t at, uint16_t *d16, uint16_t *m16,
                              int q[32], lm_error *err) {
    float mn, mx;
    minmax(x, 32, &mn, &mx);
    LM_TRY(f16_scale((mx - mn) / (float)qmax, at, d16, err));
    LM_TRY(f16_scale(mn, at, m16, err));
    float d = f16_to_f32(*d16), m = f16_to_f32(*m16), xm[32];
    for (int j = 0; j < 32; j++) xm[j] = x[j] - m;
    int32_t q32[32];
    round_div(xm, 32, d, 0, qmax, q32);
    for (int j = 0; j < 32; j++) q[j] = q32[j];
    return LM_OK;
}

static void pack_q5(const int q[32], uint8_t qh[4], uint8_t qs[16]) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
        h |= (uint32_t)((q[j] >> 4) & 1) << j;
        h |= (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
    }
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

lm_status quant_quantize_row(ggml_type t, const float *x, int64_t n, void *row, lm_error *err) {
    if (!quant_can_quantize(t))
        return err_set(err, LM_ERR_UNSUPPORTED, "no quantizer for weight type %s (%d)",
                       quant_type_name(t) ? quant_type_name(t) : "unknown", (int)t);
    if (quant_row_bytes(t, n) == 0)
        return err_set(err, LM_ERR_UNSUPPORTED, "row of %lld weights cannot be stored as %s (needs "
                       "a multiple of %lld)", (long long)n, quant_type_name(t),
                       (long long)quant_row_multiple(t));
    int64_t bad = first_non_finite(x, n);
    if (bad >= 0)
        return err_set(err, LM_ERR_INVALID, "weight %lld is %g: cannot quantize a non-finite "
                       "value", (long long)bad, (double)x[bad]);
    unsigned char *p = row;
    switch (t) {
    case GGML_TYPE_F32: memcpy(row, x, (size_t)n * sizeof(float)); return LM_OK;
    case GGML_TYPE_F16:
        for (int64_t i = 0; i < n; i++) {
            if (fabsf(x[i]) > F16_MAX)
                return err_set(err, LM_ERR_INVALID, "weight %lld is %g: does not fit f16",
                               (long long)i, (double)x[i]);
            ((uint16_t *)row)[i] = kern_f32_to_f16(x[i]);
        }
        return LM_OK;
    case GGML_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = kern_f32_to_bf16(x[i]);
            if (isinf(kern_bf16_to_f32(h)))
                return err_set(err, LM_ERR_INVALID, "weight %lld is %g: does not fit bf16",
                               (long long)i, (double)x[i]);
            ((uint16_t *)row)[i] = h;
        }
        return LM_OK;
    case GGML_TYPE_Q8_0:
        for (int64_t i = 0; i < n; i += 32, p += sizeof(quant_block_q8_0)) {
            quant_block_q8_0 *b = (quant_block_q8_0 *)p;
            LM_TRY(f16_scale(absmax(x + i, 32) / 127.0f, i, &b->d, err));
            int32_t q[32];
            round_div(x + i, 32, f16_to_f32(b->d), -127, 127, q);
            for (int j = 0; j < 32; j++) b->qs[j] = (int8_t)q[j];
        }
        return LM_OK;
    case GGML_TYPE_Q4_0:
    case LM_TYPE_I4_G32:
    case LM_TYPE_I4_G64:
    case LM_TYPE_I4_G128: {
        int64_t g = t == GGML_TYPE_Q4_0 ? 32 : quant_row_multiple(t);
        size_t bytes = 2 + (size_t)g / 2;
        for (int64_t i = 0; i < n; i += g, p += bytes) {
            uint16_t d16 = 0;
            LM_TRY(f16_scale(signed_absmax(x + i, g) / -8.0f, i, &d16, err));
            memcpy(p, &d16, 2);
            float d = f16_to_f32(d16);
            for (int64_t c = 0; c < g / 32; c++) quant_i4_chunk(x + i + 32 * c, d, p + 2 + 16 * c);
        }
        return LM_OK;
    }
    case LM_TYPE_I4_CH: {
        float d = signed_absmax(x, n) / -8.0f;
        memcpy(p, &d, sizeof d);
        for (int64_t i = 0; i < n; i += 32) quant_i4_chunk(x + i, d, p + 4 + i / 2);
        return LM_OK;
    }
    case LM_TYPE_I8_CH: {
        float d = absmax(x, n) / 127.0f;
        memcpy(p, &d, sizeof d);
        int8_t *q = (int8_t *)(p + 4);
        int32_t piece[256];
        for (int64_t i0 = 0; i0 < n; i0 += 256) {
            int64_t m = n - i0 < 256 ? n - i0 : 256;
            round_div(x + i0, m, d, -127, 127, piece);
            for (int64_t i = 0; i < m; i++) q[i0 + i] = (int8_t)piece[i];
        }
        return LM_OK;
    }
    case GGML_TYPE_Q4_1:
        for (int64_t i = 0; i < n; i += 32, p += sizeof(quant_block_q4_1)) {
            quant_block_q4_1 *b = (quant_block_q4_1 *)p;
            int q[32];
            LM_TRY(quant_affine(x + i, 15, i, &b->d, &b->m, q, err));
            for (int j = 0; j < 16; j++) b->qs[j] = (uint8_t)(q[j] | q[j + 16] << 4);
        }
        return LM_OK;
    case GGML_TYPE_Q5_1:
        for (int64_t i = 0; i < n; i += 32, p += sizeof(quant_block_q5_1)) {
            quant_block_q5_1 *b = (quant_block_q5_1 *)p;
            int q[32];
            LM_TRY(quant_affine(x + i, 31, i, &b->d, &b->m, q, err));
            pack_q5(q, b->qh, b->qs);
        }
        return LM_OK;
    case GGML_TYPE_Q5_0:
        for (int64_t i = 0; i < n; i += 32, p += sizeof(quant_block_q5_0)) {
            quant_block_q5_0 *b = (quant_block_q5_0 *)p;
            LM_TRY(f16_scale(signed_absmax(x + i, 32) / -16.0f, i, &b->d, err));
            int32_t q32[32];
            round_div(x + i, 32, f16_to_f32(b->d), -16, 15, q32);
            int q[32];
            for (int j = 0; j < 32; j++) q[j] = q32[j] + 16;
            pack_q5(q, b->qh, b->qs);
        }
        return LM_OK;
    default:
        return LM_ERR_INTERNAL; /* excluded by quant_can_quantize */
    }
}

lm_status quant_convert_row(ggml_type dst_t, void *dst, ggml_type src_t, const void *src,
                            int64_t n, float *scratch, lm_error *err) {
    if (!quant_type_known(src_t) || quant_row_bytes(src_t, n) == 0)
        return err_set(err, LM_ERR_UNSUPPORTED, "cannot read a row of %lld weights of type %d",
                       (long long)n, (int)src_t);
    const float *x = src;
    if (src_t != GGML_TYPE_F32) {
        quant_dequantize_row(src_t, src, n, scratch);
        x = scratch;
    }
    return quant_quantize_row(dst_t, x, n, dst, err);
}
