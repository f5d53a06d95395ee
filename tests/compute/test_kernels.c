/* tests/compute/test_kernels.c — every kernel set this machine can run against the scalar
 * reference, and the half/bfloat16 conversions against known bit patterns. */
#include "lmtest.h"

#include <math.h>
#include <string.h>

#include "compute/cpu.h"
#include "compute/kernels.h"

static uint64_t g_rng = 0x1234567;
static float frand(void) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((g_rng >> 40) & 0xffffff) / (float)0x1000000 * 2.0f - 1.0f;
}

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

static void test_sets_match_reference(void **state) {
    (void)state;
    char desc[256];
    cpu_features_describe(cpu_features_get(), desc, sizeof desc);
    print_message("cpu: %s\n", desc);
    const kern_set *sets[8];
    size_t n = kern_available(sets, 8);
    assert_true(n >= 1);
    assert_ptr_equal(sets[0], kern_reference());
    enum { ROWS = 7, COLS = 1024 + 96 };
    static float wf[ROWS * COLS], x[COLS];
    static uint16_t wh[ROWS * COLS];
    for (int i = 0; i < ROWS * COLS; i++) {
        wf[i] = frand();
        wh[i] = kern_f32_to_f16(wf[i]);
    }
    for (int i = 0; i < COLS; i++) x[i] = frand();
    const struct { ggml_type t; const void *w; size_t row_bytes; } cases[] = {
        {GGML_TYPE_F32, wf, COLS * 4}, {GGML_TYPE_F16, wh, COLS * 2}, {GGML_TYPE_BF16, wh, COLS * 2},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        float ref[ROWS], got[ROWS];
        for (int cols = 8; cols <= COLS; cols += cols < 64 ? 8 : 520) {
            kern_matvec(kern_reference(), cases[c].t, cases[c].w, cases[c].row_bytes, ROWS, cols, x, ref);
            for (size_t s = 0; s < n; s++) {
                kern_matvec(sets[s], cases[c].t, cases[c].w, cases[c].row_bytes, ROWS, cols, x, got);
                for (int r = 0; r < ROWS; r++) {
                    /* relative to the sum of |w*x|: summation order is the only difference */
                    double tol = 1e-5 * cols;
                    if (fabs(got[r] - ref[r]) > tol)
                        fail_msg("set %s type %d cols %d row %d: %g vs reference %g",
                                 sets[s]->name, (int)cases[c].t, cols, r, (double)got[r], (double)ref[r]);
                }
            }
        }
    }
}

static void test_forced_set(void **state) {
    (void)state;
    /* LM_KERNELS is read once by kern_best(); this process has not called it yet */
    setenv("LM_KERNELS", "scalar", 1);
    assert_string_equal(kern_best()->name, "scalar");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_conversions),
        cmocka_unit_test(test_sets_match_reference),
        cmocka_unit_test(test_forced_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
