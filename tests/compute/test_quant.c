/* tests/compute/test_quant.c — block layouts against hand-built blocks with known values, type
 * facts, and the quantizers (round trip bounds, exact cases, determinism, refusals). */
#include "lmtest.h"

#include <math.h>
#include <string.h>

#include "compute_testutil.h"

static uint16_t h(float f) { return kern_f32_to_f16(f); }

/* ---- type facts ----------------------------------------------------------------------------- */

static void test_type_facts(void **state) {
    (void)state;
    assert_int_equal(quant_row_bytes(GGML_TYPE_F32, 7), 28);
    assert_int_equal(quant_row_bytes(GGML_TYPE_BF16, 3), 6);
    assert_int_equal(quant_row_bytes(GGML_TYPE_Q4_0, 64), 36);
    assert_int_equal(quant_row_bytes(GGML_TYPE_Q4_0, 48), 0); /* not a multiple of 32 */
    assert_int_equal(quant_row_bytes(GGML_TYPE_Q8_0, 4096), 4096 / 32 * 34);
    assert_int_equal(quant_row_bytes(GGML_TYPE_Q4_K, 512), 288);
    assert_int_equal(quant_row_bytes(GGML_TYPE_Q4_K, 128), 0);
    assert_int_equal(quant_row_bytes(GGML_TYPE_Q5_K, 256), 176);
    assert_int_equal(quant_row_bytes(GGML_TYPE_Q6_K, 256), 210);
    assert_int_equal(quant_row_bytes(LM_TYPE_I8_CH, 64), 4 + 64);
    assert_int_equal(quant_row_bytes(LM_TYPE_I4_CH, 64), 4 + 32);
    assert_int_equal(quant_row_bytes(LM_TYPE_I4_G32, 64), 36);
    assert_int_equal(quant_row_bytes(LM_TYPE_I4_G64, 128), 68);
    assert_int_equal(quant_row_bytes(LM_TYPE_I4_G128, 256), 132);
    assert_int_equal(quant_row_bytes(LM_TYPE_I4_G128, 64), 0);
    assert_int_equal(quant_row_bytes(GGML_TYPE_Q2_K, 256), 0);     /* not supported here */
    assert_int_equal(quant_row_bytes((ggml_type)1000, 256), 0);
    assert_int_equal(quant_row_bytes(GGML_TYPE_F32, 0), 0);
    assert_string_equal(quant_type_name(GGML_TYPE_Q6_K), "q6_K");
    assert_string_equal(quant_type_name(LM_TYPE_I4_G128), "i4_g128");
    assert_null(quant_type_name((ggml_type)63));
    for (size_t i = 0; i < N_ALL_TYPES; i++) assert_true(kern_supports(k_all_types[i]));
    assert_false(kern_supports(GGML_TYPE_Q2_K));
    assert_false(kern_supports((ggml_type)LM_TYPE_COUNT));
}

/* ---- hand-built blocks ---------------------------------------------------------------------- */

static void test_q4_0_block(void **state) {
    (void)state;
    quant_block_q4_0 b;
    b.d = h(0.5f);
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | (15 - j) << 4);
    float out[32];
    quant_dequantize_row(GGML_TYPE_Q4_0, &b, 32, out);
    for (int j = 0; j < 16; j++) {
        assert_true(out[j] == (float)(j - 8) * 0.5f);
        assert_true(out[j + 16] == (float)(15 - j - 8) * 0.5f);
    }
    /* an I4_G32 row is the same bytes */
    float out2[32];
    quant_dequantize_row(LM_TYPE_I4_G32, &b, 32, out2);
    assert_memory_equal(out, out2, sizeof out);
}

static void test_q4_1_block(void **state) {
    (void)state;
    quant_block_q4_1 b;
    b.d = h(0.25f);
    b.m = h(-1.0f);
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | j << 4);
    float out[32];
    quant_dequantize_row(GGML_TYPE_Q4_1, &b, 32, out);
    for (int j = 0; j < 16; j++) {
        assert_true(out[j] == (float)j * 0.25f - 1.0f);
        assert_true(out[j + 16] == (float)j * 0.25f - 1.0f);
    }
}

static void test_q5_blocks(void **state) {
    (void)state;
    quant_block_q5_0 b;
    b.d = h(2.0f);
    /* q[j] = j for j < 32: low nibbles j & 15, 5th bit set for j >= 16 (bits 16..31 of qh) */
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | j << 4);
    uint32_t qh = 0xffff0000u;
    memcpy(b.qh, &qh, 4);
    float out[32];
    quant_dequantize_row(GGML_TYPE_Q5_0, &b, 32, out);
    for (int j = 0; j < 32; j++) assert_true(out[j] == (float)(j - 16) * 2.0f);
    /* a single 5th bit: weight 3 */
    qh = 1u << 3;
    memcpy(b.qh, &qh, 4);
    quant_dequantize_row(GGML_TYPE_Q5_0, &b, 32, out);
    assert_true(out[3] == (float)(3 + 16 - 16) * 2.0f);
    assert_true(out[4] == (float)(4 - 16) * 2.0f);
    assert_true(out[19] == (float)(3 - 16) * 2.0f);

    quant_block_q5_1 c;
    c.d = h(0.5f);
    c.m = h(1.0f);
    for (int j = 0; j < 16; j++) c.qs[j] = (uint8_t)(15 | 0 << 4);
    qh = 0x0000ffffu; /* weights 0..15 = 31, 16..31 = 0 */
    memcpy(c.qh, &qh, 4);
    quant_dequantize_row(GGML_TYPE_Q5_1, &c, 32, out);
    for (int j = 0; j < 16; j++) {
        assert_true(out[j] == 31 * 0.5f + 1.0f);
        assert_true(out[j + 16] == 1.0f);
    }
}

static void test_q8_0_block(void **state) {
    (void)state;
    quant_block_q8_0 b;
    b.d = h(0.125f);
    for (int j = 0; j < 32; j++) b.qs[j] = (int8_t)(j * 8 - 128);
    float out[32];
    quant_dequantize_row(GGML_TYPE_Q8_0, &b, 32, out);
    for (int j = 0; j < 32; j++) assert_true(out[j] == (float)(j * 8 - 128) * 0.125f);
}

/* Packs 8 six-bit scales and mins the way the K-quants store them. */
static void pack_k_scales(const uint8_t sc[8], const uint8_t m[8], uint8_t out[12]) {
    memset(out, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            out[j] = sc[j];
            out[j + 4] = m[j];
        } else {
            out[j + 4] = (uint8_t)((sc[j] & 15) | (m[j] & 15) << 4);
            out[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            out[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
}

static void test_k_scale_packing(void **state) {
    (void)state;
    uint8_t sc[8] = {0, 63, 17, 42, 63, 1, 33, 48}, m[8] = {63, 0, 5, 60, 2, 63, 31, 16}, packed[12];
    pack_k_scales(sc, m, packed);
    for (int j = 0; j < 8; j++) {
        uint8_t a, b;
        quant_k_scale_min(packed, j, &a, &b);
        assert_int_equal(a, sc[j]);
        assert_int_equal(b, m[j]);
    }
}

static void test_q4_K_block(void **state) {
    (void)state;
    quant_block_q4_K b;
    uint8_t sc[8] = {1, 2, 3, 4, 5, 6, 7, 63}, m[8] = {0, 1, 2, 3, 40, 50, 60, 63};
    pack_k_scales(sc, m, b.scales);
    b.d = h(0.5f);
    b.dmin = h(0.25f);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) b.qs[32 * c + l] = (uint8_t)((l & 15) | ((l + c) & 15) << 4);
    float out[256];
    quant_dequantize_row(GGML_TYPE_Q4_K, &b, 256, out);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            float lo = 0.5f * sc[2 * c] * (float)(l & 15) - 0.25f * m[2 * c];
            float hi = 0.5f * sc[2 * c + 1] * (float)((l + c) & 15) - 0.25f * m[2 * c + 1];
            assert_true(out[64 * c + l] == lo);
            assert_true(out[64 * c + 32 + l] == hi);
        }
}

static void test_q5_K_block(void **state) {
    (void)state;
    quant_block_q5_K b;
    uint8_t sc[8] = {1, 2, 3, 4, 5, 6, 7, 8}, m[8] = {0};
    pack_k_scales(sc, m, b.scales);
    b.d = h(1.0f);
    b.dmin = h(0.0f);
    memset(b.qs, 0x00, sizeof b.qs);
    /* 5th bit only for weight 64c + l (bit 2c) when l is even, for 64c + 32 + l (bit 2c+1) when odd */
    for (int l = 0; l < 32; l++) b.qh[l] = (uint8_t)((l & 1) ? 0xaa : 0x55);
    float out[256];
    quant_dequantize_row(GGML_TYPE_Q5_K, &b, 256, out);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            assert_true(out[64 * c + l] == ((l & 1) ? 0.0f : 16.0f * sc[2 * c]));
            assert_true(out[64 * c + 32 + l] == ((l & 1) ? 16.0f * sc[2 * c + 1] : 0.0f));
        }
}

static void test_q6_K_block(void **state) {
    (void)state;
    quant_block_q6_K b;
    b.d = h(0.5f);
    for (int i = 0; i < 16; i++) b.scales[i] = (int8_t)(i - 8);
    /* weight i of half hf gets q = (i + 7 * hf) & 63, stored by the layout in quant.h */
    uint8_t q[256];
    for (int i = 0; i < 256; i++) q[i] = (uint8_t)((i + 7 * (i / 128)) & 63);
    memset(b.ql, 0, sizeof b.ql);
    memset(b.qh, 0, sizeof b.qh);
    for (int hf = 0; hf < 2; hf++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *qq = q + 128 * hf;
            b.ql[64 * hf + l] = (uint8_t)((qq[l] & 15) | (qq[l + 64] & 15) << 4);
            b.ql[64 * hf + 32 + l] = (uint8_t)((qq[l + 32] & 15) | (qq[l + 96] & 15) << 4);
            b.qh[32 * hf + l] = (uint8_t)((qq[l] >> 4) | (qq[l + 32] >> 4) << 2 | (qq[l + 64] >> 4) << 4 |
                                          (qq[l + 96] >> 4) << 6);
        }
    float out[256];
    quant_dequantize_row(GGML_TYPE_Q6_K, &b, 256, out);
    for (int i = 0; i < 256; i++) {
        float want = 0.5f * (float)b.scales[i / 16] * (float)(q[i] - 32);
        if (out[i] != want) fail_msg("q6_K weight %d: %g, want %g", i, (double)out[i], (double)want);
    }
}

static void test_lm_rows(void **state) {
    (void)state;
    /* I8_CH: header d, then int8 */
    unsigned char row[4 + 64];
    float d = 0.25f;
    memcpy(row, &d, 4);
    for (int i = 0; i < 64; i++) row[4 + i] = (unsigned char)(int8_t)(i - 32);
    float out[128];
    quant_dequantize_row(LM_TYPE_I8_CH, row, 64, out);
    for (int i = 0; i < 64; i++) assert_true(out[i] == (float)(i - 32) * 0.25f);

    /* I4_CH: header d, then nibble chunks */
    unsigned char row4[4 + 32];
    d = -0.5f;
    memcpy(row4, &d, 4);
    for (int c = 0; c < 2; c++)
        for (int j = 0; j < 16; j++) row4[4 + 16 * c + j] = (uint8_t)(j | ((j + c) & 15) << 4);
    quant_dequantize_row(LM_TYPE_I4_CH, row4, 64, out);
    for (int c = 0; c < 2; c++)
        for (int j = 0; j < 16; j++) {
            assert_true(out[32 * c + j] == (float)(j - 8) * -0.5f);
            assert_true(out[32 * c + 16 + j] == (float)(((j + c) & 15) - 8) * -0.5f);
        }

    /* I4_G64: one f16 scale per 64 weights */
    quant_block_i4_g64 g[2];
    g[0].d = h(1.0f);
    g[1].d = h(2.0f);
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 32; j++) g[k].qs[j] = (uint8_t)(15 | 0 << 4);
    quant_dequantize_row(LM_TYPE_I4_G64, g, 128, out);
    for (int i = 0; i < 128; i++) {
        float s = i < 64 ? 1.0f : 2.0f;
        float want = ((i % 32) < 16 ? 7.0f : -8.0f) * s;
        assert_true(out[i] == want);
    }
    /* ranges: the second group alone */
    float part[64];
    quant_dequantize_range(LM_TYPE_I4_G64, g, 64, 64, part);
    assert_memory_equal(part, out + 64, sizeof part);
    quant_dequantize_range(LM_TYPE_I8_CH, row, 32, 32, part);
    for (int i = 0; i < 32; i++) assert_true(part[i] == (float)(i) * 0.25f);
}

/* ---- quantizers ----------------------------------------------------------------------------- */

static void test_quantize_exact_values(void **state) {
    (void)state;
    /* values on the grid of their own scale come back exactly */
    float x[128], y[128];
    unsigned char row[1024];
    lm_error err;
    err_clear(&err);
    for (int i = 0; i < 128; i++) x[i] = (float)((i % 16) - 8) * 0.125f; /* -1 .. 0.875 */
    const ggml_type i4[] = {GGML_TYPE_Q4_0, LM_TYPE_I4_CH, LM_TYPE_I4_G32, LM_TYPE_I4_G64, LM_TYPE_I4_G128};
    for (size_t k = 0; k < sizeof i4 / sizeof i4[0]; k++) {
        assert_int_equal(quant_quantize_row(i4[k], x, 128, row, &err), LM_OK);
        quant_dequantize_row(i4[k], row, 128, y);
        assert_memory_equal(x, y, sizeof x);
    }
    for (int i = 0; i < 128; i++) x[i] = (float)(i - 64) * 2.0f; /* multiples of 2, |max| 128 */
    x[0] = -127.0f * 2.0f;
    assert_int_equal(quant_quantize_row(LM_TYPE_I8_CH, x, 128, row, &err), LM_OK);
    quant_dequantize_row(LM_TYPE_I8_CH, row, 128, y);
    assert_memory_equal(x, y, sizeof x);
    /* the extreme weight maps to -8 (signed scale): check the stored nibble */
    float z[128] = {0};
    z[5] = 3.0f;
    z[6] = -1.5f;
    assert_int_equal(quant_quantize_row(GGML_TYPE_Q4_0, z, 32, row, &err), LM_OK);
    const quant_block_q4_0 *b = (const quant_block_q4_0 *)row;
    assert_true(kern_f16_to_f32(b->d) == -0.375f);
    assert_int_equal(b->qs[5] & 15, 0);     /* -8 + 8 */
    assert_int_equal(b->qs[6] & 15, 4 + 8); /* -1.5 / -0.375 = 4 */
    /* all-zero input: zero scale, zero weights */
    memset(z, 0, sizeof z);
    for (size_t k = 0; k < sizeof i4 / sizeof i4[0]; k++) {
        assert_int_equal(quant_quantize_row(i4[k], z, 128, row, &err), LM_OK);
        quant_dequantize_row(i4[k], row, 128, y);
        for (int i = 0; i < 128; i++) assert_true(y[i] == 0.0f);
    }
    assert_int_equal(quant_quantize_row(LM_TYPE_I8_CH, z, 32, row, &err), LM_OK);
    quant_dequantize_row(LM_TYPE_I8_CH, row, 32, y);
    for (int i = 0; i < 32; i++) assert_true(y[i] == 0.0f);
}

/* max |dequant(quant(x)) - x| per scheme: half a step of the (stored) scale, plus rounding */
static void test_quantize_round_trip(void **state) {
    (void)state;
    rng_seed_from_env();
    print_message("seed %llu\n", (unsigned long long)g_rng);
    enum { N = 1024 };
    static float x[N], y[N];
    static unsigned char row[8 * N];
    lm_error err;
    err_clear(&err);
    for (size_t k = 0; k < N_ALL_TYPES; k++) {
        ggml_type t = k_all_types[k];
        if (!quant_can_quantize(t)) continue;
        for (int rep = 0; rep < 20; rep++) {
            for (int i = 0; i < N; i++) x[i] = wrand(rep % 2 ? 0.02f : 3.0f);
            assert_int_equal(quant_quantize_row(t, x, N, row, &err), LM_OK);
            quant_dequantize_row(t, row, N, y);
            int64_t g = t == LM_TYPE_I8_CH || t == LM_TYPE_I4_CH ? N : quant_row_multiple(t);
            for (int64_t i0 = 0; i0 < N; i0 += g) {
                float amax = 0, mn = x[i0], mx = x[i0];
                for (int64_t i = i0; i < i0 + g; i++) {
                    amax = fmaxf(amax, fabsf(x[i]));
                    mn = fminf(mn, x[i]);
                    mx = fmaxf(mx, x[i]);
                }
                double step; /* one quantization step of this group */
                switch (t) {
                case GGML_TYPE_F32: step = 0; break;
                case GGML_TYPE_F16: step = amax * 0x1p-10; break;
                case GGML_TYPE_BF16: step = amax * 0x1p-7; break;
                case GGML_TYPE_Q8_0: case LM_TYPE_I8_CH: step = amax / 127.0; break;
                case GGML_TYPE_Q4_1: step = (mx - mn) / 15.0; break;
                case GGML_TYPE_Q5_1: step = (mx - mn) / 31.0; break;
                case GGML_TYPE_Q5_0: step = amax / 16.0; break;
                default: step = amax / 8.0; break; /* int4 symmetric */
                }
                /* half a step, plus the f16 rounding of the scale and of the minimum */
                double tol = 0.5 * step * (1 + 0x1p-9) + amax * 0x1p-10 + 0x1p-24;
                /* symmetric schemes with a signed scale map the extreme weight to the negative
                 * end: a weight of the other sign near it clamps to qmax (7 or 15) steps */
                int qmax = t == GGML_TYPE_Q5_0 ? 15 : 7;
                int signed_scale = t == GGML_TYPE_Q4_0 || t == GGML_TYPE_Q5_0 || t == LM_TYPE_I4_CH ||
                                   t == LM_TYPE_I4_G32 || t == LM_TYPE_I4_G64 || t == LM_TYPE_I4_G128;
                for (int64_t i = i0; i < i0 + g; i++) {
                    double ti = tol;
                    if (signed_scale && fabs(x[i]) - qmax * step + amax * 0x1p-10 > ti)
                        ti = fabs(x[i]) - qmax * step + amax * 0x1p-10;
                    if (fabs((double)y[i] - x[i]) > ti)
                        fail_msg("%s rep %d weight %lld: %g -> %g (tolerance %g)", quant_type_name(t),
                                 rep, (long long)i, (double)x[i], (double)y[i], ti);
                }
            }
            /* deterministic: the same input gives the same bytes */
            static unsigned char row2[8 * N];
            assert_int_equal(quant_quantize_row(t, x, N, row2, &err), LM_OK);
            assert_memory_equal(row, row2, quant_row_bytes(t, N));
        }
    }
}

static void test_quantize_refusals(void **state) {
    (void)state;
    float x[64] = {0};
    unsigned char row[512];
    lm_error err;
    err_clear(&err);
    x[17] = NAN;
    assert_int_equal(quant_quantize_row(LM_TYPE_I4_G32, x, 64, row, &err), LM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "weight 17"));
    err_clear(&err);
    x[17] = INFINITY;
    assert_int_equal(quant_quantize_row(LM_TYPE_I8_CH, x, 64, row, &err), LM_ERR_INVALID);
    err_clear(&err);
    x[17] = 1e9f; /* scale 1.25e8 does not fit f16 */
    assert_int_equal(quant_quantize_row(LM_TYPE_I4_G64, x, 64, row, &err), LM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "f16"));
    err_clear(&err);
    assert_int_equal(quant_quantize_row(LM_TYPE_I4_CH, x, 64, row, &err), LM_OK); /* f32 scale */
    assert_int_equal(quant_quantize_row(GGML_TYPE_F16, x, 64, row, &err), LM_ERR_INVALID);
    err_clear(&err);
    assert_int_equal(quant_quantize_row(GGML_TYPE_Q4_K, x, 256, row, &err), LM_ERR_UNSUPPORTED);
    err_clear(&err);
    assert_int_equal(quant_quantize_row(LM_TYPE_I4_G128, x, 64, row, &err), LM_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "128"));
}

static void test_convert_row(void **state) {
    (void)state;
    /* f16 source -> i4_g32 equals f32 source -> i4_g32 when the f32 values are the f16 ones */
    enum { N = 256 };
    float x[N], scratch[N];
    uint16_t xh[N], xb[N];
    unsigned char a[N + 64], b[N + 64], c[N + 64];
    lm_error err;
    err_clear(&err);
    for (int i = 0; i < N; i++) {
        xh[i] = kern_f32_to_f16(wrand(0.1f));
        x[i] = kern_f16_to_f32(xh[i]);
    }
    assert_int_equal(quant_quantize_row(LM_TYPE_I4_G32, x, N, a, &err), LM_OK);
    assert_int_equal(quant_convert_row(LM_TYPE_I4_G32, b, GGML_TYPE_F16, xh, N, scratch, &err), LM_OK);
    assert_memory_equal(a, b, quant_row_bytes(LM_TYPE_I4_G32, N));
    for (int i = 0; i < N; i++) {
        xb[i] = kern_f32_to_bf16(x[i]);
        x[i] = kern_bf16_to_f32(xb[i]);
    }
    assert_int_equal(quant_quantize_row(LM_TYPE_I8_CH, x, N, a, &err), LM_OK);
    assert_int_equal(quant_convert_row(LM_TYPE_I8_CH, c, GGML_TYPE_BF16, xb, N, scratch, &err), LM_OK);
    assert_memory_equal(a, c, quant_row_bytes(LM_TYPE_I8_CH, N));
    /* f32 -> bf16 -> f32 is the bf16 rounding */
    uint16_t back[N];
    assert_int_equal(quant_convert_row(GGML_TYPE_BF16, back, GGML_TYPE_F32, x, N, NULL, &err), LM_OK);
    assert_memory_equal(back, xb, sizeof back);
}

/* The row conversion of F16 (branch-free, vectorized) gives kern_f16_to_f32's bits for all
 * 65536 halves, NaNs included. */
static void test_f16_row_exhaustive(void **state) {
    (void)state;
    static uint16_t hs[65536];
    static float out[65536];
    for (uint32_t i = 0; i < 65536; i++) hs[i] = (uint16_t)i;
    quant_dequantize_row(GGML_TYPE_F16, hs, 65536, out);
    for (uint32_t i = 0; i < 65536; i++) {
        float want = kern_f16_to_f32((uint16_t)i);
        if (memcmp(&want, &out[i], 4) != 0)
            fail_msg("half 0x%04x: row conversion %a, scalar %a", i, (double)out[i], (double)want);
    }
}

static void test_bf16_rounding(void **state) {
    (void)state;
    assert_int_equal(kern_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(kern_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);            /* tie to even (down) */
    assert_int_equal(kern_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);        /* tie to even (up) */
    assert_int_equal(kern_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81); /* above the tie */
    assert_int_equal(kern_f32_to_bf16(-2.0f), 0xc000);
    assert_true(isnan(kern_bf16_to_f32(kern_f32_to_bf16(NAN))));
    assert_int_equal(kern_f32_to_bf16(INFINITY), 0x7f80);
    assert_int_equal(kern_f32_to_bf16(3.4e38f), 0x7f80); /* rounds up to inf */
    for (uint32_t b = 0; b < 0x10000; b++) {
        if ((b & 0x7f80) == 0x7f80) continue;
        assert_int_equal(kern_f32_to_bf16(kern_bf16_to_f32((uint16_t)b)), b);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_facts),
        cmocka_unit_test(test_q4_0_block),
        cmocka_unit_test(test_q4_1_block),
        cmocka_unit_test(test_q5_blocks),
        cmocka_unit_test(test_q8_0_block),
        cmocka_unit_test(test_k_scale_packing),
        cmocka_unit_test(test_q4_K_block),
        cmocka_unit_test(test_q5_K_block),
        cmocka_unit_test(test_q6_K_block),
        cmocka_unit_test(test_lm_rows),
        cmocka_unit_test(test_quantize_exact_values),
        cmocka_unit_test(test_quantize_round_trip),
        cmocka_unit_test(test_quantize_refusals),
        cmocka_unit_test(test_convert_row),
        cmocka_unit_test(test_f16_row_exhaustive),
        cmocka_unit_test(test_bf16_rounding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
