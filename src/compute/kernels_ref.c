/* kernels_ref.c — scalar reference kernels (clear over clever: the oracle for SIMD variants) and
 * the f16/bf16 conversions. The run-time choice of a kernel set is kernels_pick.c. */
#include <stdlib.h>
#include <string.h>

#include "compute/cpu.h"
#include "compute/kernels.h"
#include "compute/kernels_impl.h"
#include "compute/quant.h"

float kern_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) { mant <<= 1; exp--; }
            bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t kern_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffff;
    if (absx >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to inf */
    if (absx < 0x38800000u) { /* subnormal or zero in f16 */
        if (absx < 0x33000000u) return (uint16_t)sign;
        uint32_t mant = (absx & 0x7fffff) | 0x800000;
        int shift = 126 - (int)(absx >> 23); /* 14..24 */
        uint32_t r = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((absx >> 13) - ((127 - 15) << 10));
    uint32_t rem = absx & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

float kern_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t kern_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    x += 0x7fff + ((x >> 16) & 1); /* round to nearest, ties to even; overflow becomes inf */
    return (uint16_t)(x >> 16);
}

/* ---- reference dot products ----------------------------------------------------------------- */

static float dot_f32(int64_t n, const void *w_row, const float *x) {
    const float *w = w_row;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += w[i] * x[i];
    return sum;
}

static float dot_f16(int64_t n, const void *w_row, const float *x) {
    const uint16_t *w = w_row;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += kern_f16_to_f32(w[i]) * x[i];
    return sum;
}

static float dot_bf16(int64_t n, const void *w_row, const float *x) {
    const uint16_t *w = w_row;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += kern_bf16_to_f32(w[i]) * x[i];
    return sum;
}

/* Quantized types: dequantize a piece of the row exactly, then multiply-add in f32, in order. */
static float dot_dequant(ggml_type t, int64_t n, const void *w_row, const float *x) {
    float tmp[256];
    const int64_t piece = 256; /* a multiple of every type's block (quant_row_multiple <= 256) */
    float sum = 0.0f;
    for (int64_t i0 = 0; i0 < n; i0 += piece) {
        int64_t m = n - i0 < piece ? n - i0 : piece;
        quant_dequantize_range(t, w_row, i0, m, tmp);
        for (int64_t i = 0; i < m; i++) sum += tmp[i] * x[i0 + i];
    }
    return sum;
}

#define REF_DOT(name, type)                                                                    \
    static float dot_##name(int64_t n, const void *w_row, const float *x) {                    \
        return dot_dequant(type, n, w_row, x);                                                 \
    }
REF_DOT(q4_0, GGML_TYPE_Q4_0)
REF_DOT(q4_1, GGML_TYPE_Q4_1)
REF_DOT(q5_0, GGML_TYPE_Q5_0)
REF_DOT(q5_1, GGML_TYPE_Q5_1)
REF_DOT(q8_0, GGML_TYPE_Q8_0)
REF_DOT(q4_K, GGML_TYPE_Q4_K)
REF_DOT(q5_K, GGML_TYPE_Q5_K)
REF_DOT(q6_K, GGML_TYPE_Q6_K)
REF_DOT(i8_ch, LM_TYPE_I8_CH)
REF_DOT(i4_ch, LM_TYPE_I4_CH)
REF_DOT(i4_g32, LM_TYPE_I4_G32)
REF_DOT(i4_g64, LM_TYPE_I4_G64)
REF_DOT(i4_g128, LM_TYPE_I4_G128)

static void axpy_f32(int64_t n, float a, const void *row, float *y) {
    const float *x = row;
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void axpy_f16(int64_t n, float a, const void *row, float *y) {
    const uint16_t *x = row;
    for (int64_t i = 0; i < n; i++) y[i] += a * kern_f16_to_f32(x[i]);
}

static const kern_set g_reference = {
    .name = "scalar",
    .axpy = {[GGML_TYPE_F32] = axpy_f32, [GGML_TYPE_F16] = axpy_f16},
    .dot = {
        [GGML_TYPE_F32] = dot_f32,
        [GGML_TYPE_F16] = dot_f16,
        [GGML_TYPE_BF16] = dot_bf16,
        [GGML_TYPE_Q4_0] = dot_q4_0,
        [GGML_TYPE_Q4_1] = dot_q4_1,
        [GGML_TYPE_Q5_0] = dot_q5_0,
        [GGML_TYPE_Q5_1] = dot_q5_1,
        [GGML_TYPE_Q8_0] = dot_q8_0,
        [GGML_TYPE_Q4_K] = dot_q4_K,
        [GGML_TYPE_Q5_K] = dot_q5_K,
        [GGML_TYPE_Q6_K] = dot_q6_K,
        [LM_TYPE_I8_CH] = dot_i8_ch,
        [LM_TYPE_I4_CH] = dot_i4_ch,
        [LM_TYPE_I4_G32] = dot_i4_g32,
        [LM_TYPE_I4_G64] = dot_i4_g64,
        [LM_TYPE_I4_G128] = dot_i4_g128,
    },
    .qgemm = {
        [GGML_TYPE_Q4_0] = kern_ref_qgemm_q4_0,
        [LM_TYPE_I4_G32] = kern_ref_qgemm_i4_g32,
        [LM_TYPE_I4_G64] = kern_ref_qgemm_i4_g64,
        [LM_TYPE_I4_G128] = kern_ref_qgemm_i4_g128,
        [LM_TYPE_I4_CH] = kern_ref_qgemm_i4_ch,
        [GGML_TYPE_Q8_0] = kern_ref_qgemm_q8_0,
        [LM_TYPE_I8_CH] = kern_ref_qgemm_i8_ch,
        [GGML_TYPE_Q4_K] = kern_ref_qgemm_q4_K,
        [GGML_TYPE_Q6_K] = kern_ref_qgemm_q6_K,
    },
};

const kern_set *kern_reference(void) { return &g_reference; }

int kern_supports(ggml_type t) {
    return (unsigned)t < LM_TYPE_COUNT && g_reference.dot[t] != NULL;
}

kern_dot_fn kern_dot_for(const kern_set *k, ggml_type t) {
    return k->dot[t] ? k->dot[t] : g_reference.dot[t];
}

void kern_matvec(const kern_set *k, ggml_type t, const void *w, size_t row_bytes, int64_t rows,
                 int64_t cols, const float *x, float *y) {
    kern_dot_fn dot = kern_dot_for(k, t);
    const unsigned char *row = w;
    for (int64_t r = 0; r < rows; r++, row += row_bytes) y[r] = dot(cols, row, x);
}

void kern_row_to_f32(ggml_type t, const void *row, int64_t n, float *out) {
    quant_dequantize_row(t, row, n, out);
}
