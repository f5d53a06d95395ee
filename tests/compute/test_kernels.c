/* tests/compute/test_kernels.c — every kernel set this machine can run against the scalar
 * reference, for every weight type at several row lengths (dot and multi-vector dot), and the
 * half/bfloat16 conversions against known bit patterns. LM_TEST_SEED=<n> changes the data. */
#include "lmtest.h"

#include <math.h>
#include <string.h>

#include "compute/cpu.h"
#include "compute/kernels.h"
#include "compute/quant.h"
#include "compute_testutil.h"

/* Tolerances. A SIMD set computes the same dequantized weights as the reference and differs in
 * summation order (and in fused multiply-adds), so its error is a few f32 roundings of the
 * partial sums: relative to sum |w_i x_i| it stays near 1e-7; 1e-5 leaves a wide margin while a
 * wrong weight (a misplaced nibble, scale or bit) moves the result by 1e-3 or more. */
#define TOL_SUM_ORDER 1e-5
/* The multi-vector dot decodes the row once for all vectors; same tolerance. */
#define TOL_DOTN TOL_SUM_ORDER

static void test_f16_conversions(void **state) {
    (void)state;
    assert_true(kern_f16_to_f32(0x3c00) == 1.0f);
    assert_true(kern_f16_to_f32(0xc000) == -2.0f);
    assert_true(kern_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(kern_f16_to_f32(0x0001) == 0x1.0p-24f); /* smallest subnormal */
    assert_true(isinf(kern_f16_to_f32(0x7c00)));
    assert_true(isnan(kern_f16_to_f32(0x7e00)));
    assert_int_equal(kern_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(kern_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(kern_f32_to_f16(1e6f), 0x7c00);
    assert_int_equal(kern_f32_to_f16(0x1.0p-24f), 0x0001);
    assert_int_equal(kern_f32_to_f16(1.0f + 0x1.0p-11f), 0x3c00);       /* tie to even */
    assert_int_equal(kern_f32_to_f16(1.0f + 3 * 0x1.0p-11f), 0x3c02);   /* tie to even, up */
    /* every finite half survives a round trip */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        assert_int_equal(kern_f32_to_f16(kern_f16_to_f32((uint16_t)h)), h);
    }
    assert_true(kern_bf16_to_f32(0x3f80) == 1.0f);
}

/* sum |w_i x_i| in double over the exact dequantized row: the scale of summation error */
static double abs_dot(ggml_type t, const void *row, int64_t n, const float *x, float *scratch) {
    quant_dequantize_row(t, row, n, scratch);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)scratch[i] * x[i]);
    return s;
}

/* Row lengths for type t: multiples of its block, several sizes, plus ragged ones for the float
 * types (SIMD tails). */
static int row_lengths(ggml_type t, int64_t *out) {
    int64_t m = quant_row_multiple(t);
    int k = 0;
    if (m == 1) {
        const int64_t ragged[] = {1, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 100, 1000, 4099};
        for (size_t i = 0; i < sizeof ragged / sizeof ragged[0]; i++) out[k++] = ragged[i];
        m = 32;
    }
    const int64_t mult[] = {1, 2, 3, 5, 8, 16};
    for (size_t i = 0; i < sizeof mult / sizeof mult[0]; i++) out[k++] = m * mult[i];
    out[k++] = 4096;
    out[k++] = 4096 + 2 * 256;
    return k;
}

static void test_sets_match_reference(void **state) {
    (void)state;
    rng_seed_from_env();
    char desc[256];
    cpu_features_describe(cpu_features_get(), desc, sizeof desc);
    print_message("cpu: %s; seed %llu\n", desc, (unsigned long long)g_rng);
    const kern_set *sets[8];
    size_t n = kern_available(sets, 8);
    assert_true(n >= 1);
    assert_ptr_equal(sets[0], kern_reference());
    for (size_t s = 0; s < n; s++) print_message("set %s\n", sets[s]->name);
    enum { ROWS = 5, MAXN = 4096 + 512 + 64 };
    static unsigned char w[ROWS * (MAXN * 4 + 64)];
    static float x[KERN_DOTN_MAX * MAXN], scratch[MAXN];
    for (int i = 0; i < KERN_DOTN_MAX * MAXN; i++) x[i] = frand();
    for (size_t ti = 0; ti < N_ALL_TYPES; ti++) {
        ggml_type t = k_all_types[ti];
        int64_t lens[32];
        int n_lens = row_lengths(t, lens);
        for (int li = 0; li < n_lens; li++) {
            int64_t cols = lens[li];
            size_t rb = quant_row_bytes(t, cols);
            assert_true(rb > 0);
            for (int r = 0; r < ROWS; r++) fill_row(t, cols, w + (size_t)r * rb, scratch);
            float ref[ROWS], got[ROWS];
            kern_matvec(kern_reference(), t, w, rb, ROWS, cols, x, ref);
            for (size_t s = 0; s < n; s++) {
                kern_matvec(sets[s], t, w, rb, ROWS, cols, x, got);
                for (int r = 0; r < ROWS; r++) {
                    double scale = abs_dot(t, w + (size_t)r * rb, cols, x, scratch);
                    double tol = TOL_SUM_ORDER * scale + 1e-30;
                    if (!(fabs((double)got[r] - ref[r]) <= tol))
                        fail_msg("set %s type %s cols %lld row %d: %.9g vs reference %.9g (tol %g)",
                                 sets[s]->name, quant_type_name(t), (long long)cols, r,
                                 (double)got[r], (double)ref[r], tol);
                }
                /* the multi-vector dot, each count of vectors, against the single dot */
                kern_dotn_fn dotn = sets[s]->dotn[t];
                if (!dotn) continue;
                for (int nx = 1; nx <= KERN_DOTN_MAX; nx++) {
                    float outn[KERN_DOTN_MAX];
                    dotn(cols, w, x, MAXN, nx, outn);
                    for (int b = 0; b < nx; b++) {
                        float one = sets[s]->dot[t](cols, w, x + (size_t)b * MAXN);
                        double tol = TOL_DOTN * abs_dot(t, w, cols, x + (size_t)b * MAXN, scratch);
                        if (!(fabs((double)outn[b] - one) <= tol + 1e-30))
                            fail_msg("set %s type %s cols %lld: dotn(nx=%d)[%d] %.9g vs dot %.9g",
                                     sets[s]->name, quant_type_name(t), (long long)cols, nx, b,
                                     (double)outn[b], (double)one);
                    }
                }
            }
        }
    }
}

/* The reference dot of a quantized type is dot(exact dequantized row, x) in f32. */
static void test_reference_is_dequant_dot(void **state) {
    (void)state;
    enum { N = 512 };
    static unsigned char w[N * 4];
    static float x[N], deq[N], scratch[N];
    for (int i = 0; i < N; i++) x[i] = frand();
    for (size_t ti = 0; ti < N_ALL_TYPES; ti++) {
        ggml_type t = k_all_types[ti];
        fill_row(t, N, w, scratch);
        kern_row_to_f32(t, w, N, deq);
        float want = 0.0f;
        for (int i = 0; i < N; i++) want += deq[i] * x[i];
        float got = kern_reference()->dot[t](N, w, x);
        if (got != want) fail_msg("type %s: reference dot %.9g, dequantized dot %.9g",
                                  quant_type_name(t), (double)got, (double)want);
    }
}

static void test_forced_set(void **state) {
    (void)state;
    /* LM_KERNELS is read once by kern_best(); this process has not called it yet */
    setenv("LM_KERNELS", "scalar", 1);
    assert_string_equal(kern_best()->name, "scalar");
}

/* axpy (y += a * row) of every set against the reference, F32 and F16 rows, ragged lengths. */
static void test_axpy_matches_reference(void **state) {
    (void)state;
    enum { N = 203 };
    static float w[N], y0[N], ref[N], got[N];
    static uint16_t h[N];
    for (int i = 0; i < N; i++) {
        w[i] = (float)((i * 37) % 101 - 50) / 25.0f;
        h[i] = kern_f32_to_f16(w[i]);
        y0[i] = (float)((i * 13) % 17 - 8) / 4.0f;
    }
    const kern_set *sets[8];
    size_t n_sets = kern_available(sets, 8);
    const ggml_type types[2] = {GGML_TYPE_F32, GGML_TYPE_F16};
    const void *rows[2] = {w, h};
    for (int k = 0; k < 2; k++) {
        assert_non_null(kern_reference()->axpy[types[k]]);
        for (int n = 1; n <= N; n += 7) {
            memcpy(ref, y0, sizeof ref);
            kern_reference()->axpy[types[k]](n, 0.375f, rows[k], ref);
            for (int i = n; i < N; i++) assert_true(ref[i] == y0[i]); /* nothing past n */
            for (size_t s = 0; s < n_sets; s++) {
                if (!sets[s]->axpy[types[k]]) continue;
                memcpy(got, y0, sizeof got);
                sets[s]->axpy[types[k]](n, 0.375f, rows[k], got);
                for (int i = 0; i < N; i++)
                    if (fabsf(got[i] - ref[i]) > 1e-6f * (1 + fabsf(ref[i])))
                        fail_msg("set %s type %d n %d: y[%d] %g vs %g", sets[s]->name, (int)types[k], n, i,
                                 (double)got[i], (double)ref[i]);
            }
        }
    }
}

/* The same row gives the same bits wherever it lives: a model mapped from a file and the same
 * model converted into a heap buffer must produce identical logits. */
static void test_results_do_not_depend_on_address(void **state) {
    (void)state;
    const ggml_type types[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                               GGML_TYPE_Q4_0, LM_TYPE_I8_CH, LM_TYPE_I4_CH, LM_TYPE_I4_G128};
    enum { N = 768 };
    static float w[N], x[N];
    for (int i = 0; i < N; i++) {
        w[i] = (float)((i * 7919) % 2001 - 1000) / 1000.0f;
        x[i] = (float)((i * 104729) % 2001 - 1000) / 1000.0f;
    }
    const kern_set *sets[8];
    size_t n_sets = kern_available(sets, 8);
    static unsigned char row[N * 4], big[N * 4 + 128];
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        ggml_type t = types[ti];
        size_t rb = quant_row_bytes(t, N);
        lm_error err;
        err_clear(&err);
        assert_int_equal(quant_convert_row(t, row, GGML_TYPE_F32, w, N, NULL, &err), LM_OK);
        for (size_t k = 0; k < n_sets; k++) {
            float first = 0;
            for (int off = 0; off < 64; off += 4) { /* element-aligned, as in files */
                memset(big, 0x5a, sizeof big);
                memcpy(big + off, row, rb);
                float y;
                kern_matvec(sets[k], t, big + off, rb, 1, N, x, &y);
                if (off == 0) first = y;
                else if (memcmp(&y, &first, sizeof y) != 0)
                    fail_msg("set %s type %s: offset %d gives %.9g, offset 0 %.9g", sets[k]->name,
                             quant_type_name(t), off, (double)y, (double)first);
            }
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_conversions),
        cmocka_unit_test(test_sets_match_reference),
        cmocka_unit_test(test_reference_is_dequant_dot),
        cmocka_unit_test(test_results_do_not_depend_on_address),
        cmocka_unit_test(test_axpy_matches_reference),
        cmocka_unit_test(test_forced_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
