/* compute_testutil.h — shared by the tests of src/compute: a seeded generator and rows of every
 * weight type filled with plausible random contents. Header-only (each test is one program). */
#ifndef LM_TESTS_COMPUTE_TESTUTIL_H
#define LM_TESTS_COMPUTE_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compute/kernels.h"
#include "compute/quant.h"

/* Seed of the generator; LM_TEST_SEED overrides it (tests print it). */
static uint64_t g_rng = 0x1234567;

static inline void rng_seed_from_env(void) {
    const char *s = getenv("LM_TEST_SEED");
    if (s && *s) g_rng = strtoull(s, NULL, 0);
}

static inline uint32_t rng_u32(void) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(g_rng >> 32);
}

/* uniform in [-1, 1) */
static inline float frand(void) {
    return (float)(rng_u32() >> 8) / (float)0x1000000 * 2.0f - 1.0f;
}

/* roughly normal, std about `s` (sum of uniforms), with an occasional outlier as real weights */
static inline float wrand(float s) {
    float v = (frand() + frand() + frand()) * s;
    if ((rng_u32() & 255) == 0) v *= 6.0f;
    return v;
}

/* Every weight type the reference set handles. */
static const ggml_type k_all_types[] = {
    GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0,  GGML_TYPE_Q4_1,
    GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K,  GGML_TYPE_Q5_K,
    GGML_TYPE_Q6_K, LM_TYPE_I8_CH,  LM_TYPE_I4_CH,  LM_TYPE_I4_G32,  LM_TYPE_I4_G64,
    LM_TYPE_I4_G128,
};
#define N_ALL_TYPES (sizeof k_all_types / sizeof k_all_types[0])

/* Fills one row of type t and n weights (quant_row_bytes(t, n) bytes at row): quantized random
 * weights where a quantizer exists, random bits with sane f16 scales for the K-quants. */
static inline void fill_row(ggml_type t, int64_t n, void *row, float *scratch) {
    if (quant_can_quantize(t)) {
        for (int64_t i = 0; i < n; i++) scratch[i] = wrand(0.05f);
        lm_error err;
        err_clear(&err);
        if (quant_quantize_row(t, scratch, n, row, &err) != LM_OK) abort();
        return;
    }
    size_t bytes = quant_row_bytes(t, n);
    unsigned char *p = row;
    for (size_t i = 0; i < bytes; i++) p[i] = (unsigned char)rng_u32();
    for (int64_t b = 0; b < n / QUANT_QK_K; b++) {
        if (t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K) {
            size_t bb = t == GGML_TYPE_Q4_K ? sizeof(quant_block_q4_K) : sizeof(quant_block_q5_K);
            uint16_t d = kern_f32_to_f16(0.002f * (1.0f + frand()));
            uint16_t dmin = kern_f32_to_f16(0.001f * (1.0f + frand()));
            memcpy(p + (size_t)b * bb, &d, 2);
            memcpy(p + (size_t)b * bb + 2, &dmin, 2);
        } else if (t == GGML_TYPE_Q6_K) {
            quant_block_q6_K *blk = (quant_block_q6_K *)p + b;
            blk->d = kern_f32_to_f16(0.0005f * frand());
        }
    }
}

#endif
