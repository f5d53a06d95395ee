/* kernels_ref.c — scalar reference kernels: clear over clever, the oracle for SIMD variants. */
#include <stdlib.h>
#include <string.h>

#include "compute/cpu.h"
#include "compute/kernels.h"
#include "compute/kernels_impl.h"

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

void kern_dequantize_row(ggml_type t, const void *row, float *out, int64_t n) {
    const uint16_t *h = row;
    switch (t) {
    case GGML_TYPE_F32: memcpy(out, row, (size_t)n * sizeof(float)); return;
    case GGML_TYPE_F16: for (int64_t i = 0; i < n; i++) out[i] = kern_f16_to_f32(h[i]); return;
    case GGML_TYPE_BF16: for (int64_t i = 0; i < n; i++) out[i] = kern_bf16_to_f32(h[i]); return;
    default: memset(out, 0, (size_t)n * sizeof(float)); return; /* unreachable: kern_supports */
    }
}

static const kern_set g_reference = {
    .name = "scalar",
    .dot = {
        [GGML_TYPE_F32] = dot_f32,
        [GGML_TYPE_F16] = dot_f16,
        [GGML_TYPE_BF16] = dot_bf16,
    },
};

const kern_set *kern_reference(void) { return &g_reference; }

int kern_supports(ggml_type t) {
    return (unsigned)t < GGML_TYPE_COUNT && g_reference.dot[t] != NULL;
}

void kern_matvec(const kern_set *k, ggml_type t, const void *w, size_t row_bytes, int64_t rows,
                 int64_t cols, const float *x, float *y) {
    kern_dot_fn dot = k->dot[t] ? k->dot[t] : g_reference.dot[t];
    const unsigned char *row = w;
    for (int64_t r = 0; r < rows; r++, row += row_bytes) y[r] = dot(cols, row, x);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

size_t kern_available(const kern_set **out, size_t max) {
    const cpu_features *f = cpu_features_get();
    size_t n = 0;
    if (n < max) out[n++] = &g_reference;
    if (f->avx2 && f->fma && f->f16c && n < max) out[n++] = kern_avx2();
    return n;
}

static const kern_set *choose(void) {
    const kern_set *sets[8];
    size_t n = kern_available(sets, 8);
    const char *force = getenv("LM_KERNELS");
    if (force && *force) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(sets[i]->name, force) == 0) return sets[i];
    }
    return sets[n - 1]; /* sets are listed from plainest to best */
}

const kern_set *kern_best(void) {
    static const kern_set *chosen; /* benign race: every thread computes the same pointer */
    if (!chosen) chosen = choose();
    return chosen;
}
