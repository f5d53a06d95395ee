/* tests/compute/test_kernels_q8.c — int8 activations: the q8 quantizer, every set's qgemm tiles
 * against the reference (kernels_q8.c), tile and batch invariance (bit equality), and the
 * reference against the f32 product within the activation quantization bound. */
#include "lmtest.h"

#include <math.h>

#include "compute_testutil.h"

/* Integer sums are exact; sets differ from the reference only in how the f32 scaling and the
 * block sums are ordered and rounded. */
#define TOL_SUM_ORDER 1e-5

static const ggml_type k_q8_types[] = {
    GGML_TYPE_Q4_0, LM_TYPE_I4_G32, LM_TYPE_I4_G64, LM_TYPE_I4_G128, LM_TYPE_I4_CH,
    GGML_TYPE_Q8_0, LM_TYPE_I8_CH,  GGML_TYPE_Q4_K, GGML_TYPE_Q6_K,
};
#define N_Q8_TYPES (sizeof k_q8_types / sizeof k_q8_types[0])

/* Row length for type t near `want` that t accepts. */
static int64_t fit_len(ggml_type t, int64_t want) {
    int64_t m = quant_row_multiple(t);
    if (m < 32) m = 32;
    int64_t n = (want + m - 1) / m * m;
    return n;
}

static void test_quantizer(void **state) {
    (void)state;
    rng_seed_from_env();
    enum { N = 256 };
    float x[N];
    static unsigned char row[4096];
    for (int rep = 0; rep < 50; rep++) {
        for (int i = 0; i < N; i++) x[i] = frand() * (rep % 7 == 0 ? 1e-30f : rep % 5 == 0 ? 1e4f : 1.0f);
        if (rep == 3) memset(x, 0, sizeof x);
        kern_quantize_q8(N, x, row);
        const int8_t *q = (const int8_t *)row;
        const float *d = (const float *)(row + N), *ds = d + N / 32;
        for (int b = 0; b < N / 32; b++) {
            float amax = 0;
            int sum = 0, hit = 0;
            for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[32 * b + i]));
            for (int i = 0; i < 32; i++) {
                int qi = q[32 * b + i];
                assert_true(qi >= -127 && qi <= 127);
                sum += qi;
                hit |= qi == 127 || qi == -127;
                double err = fabs((double)x[32 * b + i] - (double)d[b] * qi);
                if (!(err <= 0.5001 * d[b] + 1e-45))
                    fail_msg("rep %d block %d elem %d: x %g, q %d, d %g", rep, b, i, (double)x[32 * b + i], qi, (double)d[b]);
            }
            assert_true(d[b] == amax / 127.0f);
            assert_true(ds[b] == d[b] * (float)sum);
            if (amax > 0) assert_true(hit); /* the largest element lands on +-127 */
        }
    }
    /* non-finite inputs give a finite row */
    for (int i = 0; i < N; i++) x[i] = frand();
    x[5] = NAN;
    x[40] = INFINITY;
    kern_quantize_q8(N, x, row);
    for (int b = 0; b < N / 32; b++) assert_true(isfinite(((const float *)(row + N))[b]));
    assert_int_equal((int)kern_q8_row_bytes(32) % 64, 0);
    assert_true(kern_q8_row_bytes(4096) >= 4096 + 2 * 128 * sizeof(float));
}

/* Every set's tiles equal the reference within summation order, for every tile shape; and the
 * same (row, vector) pair gives the same bits in every tile shape. */
static void test_sets_match_reference(void **state) {
    (void)state;
    rng_seed_from_env();
    print_message("seed %llu\n", (unsigned long long)g_rng);
    const kern_set *sets[8];
    size_t n_sets = kern_available(sets, 8);
    const kern_set *ref = kern_reference();
    const int64_t lens[] = {32, 96, 256, 1024, 4608};
    enum { MAXN = 4608, R = KERN_QGEMM_MR, C = KERN_QGEMM_NC };
    static unsigned char w[R * (MAXN + 64) * 2];
    static unsigned char xq[C * (MAXN + 2 * MAXN / 32 * 4 + 64)];
    static float x[MAXN], scratch[MAXN], deq[MAXN];
    for (size_t ti = 0; ti < N_Q8_TYPES; ti++) {
        ggml_type t = k_q8_types[ti];
        assert_true(kern_q8_supports(t));
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            int64_t n = fit_len(t, lens[li]);
            size_t rb = quant_row_bytes(t, n), xs = kern_q8_row_bytes(n);
            for (int r = 0; r < R; r++) fill_row(t, n, w + (size_t)r * rb, scratch);
            for (int c = 0; c < C; c++) {
                for (int64_t i = 0; i < n; i++) x[i] = frand() * (c == 2 ? 30.0f : 1.0f);
                kern_quantize_q8(n, x, xq + (size_t)c * xs);
            }
            float want[C][R], full[C][R], got[C][R];
            ref->qgemm[t](n, w, rb, R, xq, xs, C, &want[0][0], R);
            for (size_t s = 0; s < n_sets; s++) {
                kern_qgemm_fn fn = sets[s]->qgemm[t] ? sets[s]->qgemm[t] : ref->qgemm[t];
                fn(n, w, rb, R, xq, xs, C, &full[0][0], R);
                for (int c = 0; c < C; c++)
                    for (int r = 0; r < R; r++) {
                        /* scale: sum |w_i * x_i| in the quantized domain */
                        quant_dequantize_row(t, w + (size_t)r * rb, n, deq);
                        const int8_t *q = (const int8_t *)(xq + (size_t)c * xs);
                        const float *d = (const float *)(xq + (size_t)c * xs + n);
                        double scale = 0;
                        for (int64_t i = 0; i < n; i++) scale += fabs((double)deq[i] * d[i / 32] * q[i]);
                        double diff = fabs((double)full[c][r] - want[c][r]);
                        if (!(diff <= TOL_SUM_ORDER * scale + 1e-30))
                            fail_msg("set %s type %s n %lld: y[%d][%d] = %.9g, reference %.9g",
                                     sets[s]->name, quant_type_name(t), (long long)n, c, r,
                                     (double)full[c][r], (double)want[c][r]);
                    }
                /* the packed path (long batches): same bits as the direct tile */
                if (sets[s]->qpack[t]) {
                    size_t bytes = sets[s]->qpack[t](n, w, rb, R, NULL);
                    unsigned char *pk = malloc(bytes);
                    assert_non_null(pk);
                    for (int nr = 1; nr <= R; nr++) {
                        assert_int_equal(sets[s]->qpack[t](n, w, rb, nr, pk), bytes);
                        for (int nc = 1; nc <= C; nc++) {
                            for (int c = 0; c < C; c++)
                                for (int r = 0; r < R; r++) got[c][r] = NAN;
                            sets[s]->qgemm_packed[t](n, pk, 0, nr, xq, xs, nc, &got[0][0], R);
                            for (int c = 0; c < nc; c++)
                                for (int r = 0; r < nr; r++)
                                    if (memcmp(&got[c][r], &full[c][r], sizeof(float)) != 0)
                                        fail_msg("set %s type %s n %lld packed %dx%d at (%d,%d): %.9g, direct %.9g",
                                                 sets[s]->name, quant_type_name(t), (long long)n, nr, nc, r, c,
                                                 (double)got[c][r], (double)full[c][r]);
                        }
                    }
                    free(pk);
                }
                /* every tile shape: same bits as the full tile */
                for (int nr = 1; nr <= R; nr++)
                    for (int nc = 1; nc <= C; nc++)
                        for (int r0 = 0; r0 + nr <= R; r0 += nr)
                            for (int c0 = 0; c0 + nc <= C; c0 += nc) {
                                for (int c = 0; c < C; c++)
                                    for (int r = 0; r < R; r++) got[c][r] = NAN;
                                fn(n, w + (size_t)r0 * rb, rb, nr, xq + (size_t)c0 * xs, xs, nc, &got[c0][r0], R);
                                for (int c = c0; c < c0 + nc; c++)
                                    for (int r = r0; r < r0 + nr; r++)
                                        if (memcmp(&got[c][r], &full[c][r], sizeof(float)) != 0)
                                            fail_msg("set %s type %s n %lld tile %dx%d at (%d,%d): %.9g, full tile %.9g",
                                                     sets[s]->name, quant_type_name(t), (long long)n, nr, nc,
                                                     r, c, (double)got[c][r], (double)full[c][r]);
                            }
            }
        }
    }
}

/* The reference int8 product against the f32 product of the same row: the difference is the
 * activation rounding, at most half a step (d/2) per element times |w|, plus f32 rounding. */
static void test_reference_within_quantization_bound(void **state) {
    (void)state;
    rng_seed_from_env();
    enum { N = 1024 };
    static unsigned char w[N * 2], xq[N * 2];
    static float x[N], scratch[N], deq[N];
    const kern_set *ref = kern_reference();
    for (size_t ti = 0; ti < N_Q8_TYPES; ti++) {
        ggml_type t = k_q8_types[ti];
        for (int rep = 0; rep < 10; rep++) {
            fill_row(t, N, w, scratch);
            for (int i = 0; i < N; i++) x[i] = wrand(1.0f);
            kern_quantize_q8(N, x, xq);
            quant_dequantize_row(t, w, N, deq);
            const float *d = (const float *)(xq + N);
            double exact = 0, bound = 0, mag = 0;
            for (int i = 0; i < N; i++) {
                exact += (double)deq[i] * x[i];
                bound += fabs((double)deq[i]) * d[i / 32] * 0.5;
                mag += fabs((double)deq[i] * x[i]);
            }
            float got;
            ref->qgemm[t](N, w, quant_row_bytes(t, N), 1, xq, kern_q8_row_bytes(N), 1, &got, 1);
            double diff = fabs((double)got - exact);
            if (!(diff <= bound * 1.0001 + 1e-5 * mag + 1e-30))
                fail_msg("type %s rep %d: int8 %.9g, f32 %.9g, bound %.3g", quant_type_name(t), rep,
                         (double)got, exact, bound);
        }
    }
}

/* kern_matmul_q8 over pools and batch sizes gives each vector the bits it gets alone. */
static void test_matmul_q8_batch_invariant(void **state) {
    (void)state;
    rng_seed_from_env();
    const kern_set *sets[8];
    size_t n_sets = kern_available(sets, 8);
    enum { ROWS = 67, COLS = 512, MAXB = 11 };
    static unsigned char w[ROWS * COLS * 2];
    static unsigned char xq[MAXB * (COLS + 2 * COLS / 32 * 4 + 64)];
    static float x[COLS], scratch[COLS], alone[MAXB * ROWS], got[MAXB * ROWS];
    size_t xs = kern_q8_row_bytes(COLS);
    for (int b = 0; b < MAXB; b++) {
        for (int i = 0; i < COLS; i++) x[i] = frand();
        kern_quantize_q8(COLS, x, xq + (size_t)b * xs);
    }
    lm_error err;
    err_clear(&err);
    pool *pools[3] = {NULL, NULL, NULL};
    assert_int_equal(pool_create(2, &pools[1], &err), LM_OK);
    assert_int_equal(pool_create(3, &pools[2], &err), LM_OK);
    for (size_t ti = 0; ti < N_Q8_TYPES; ti++) {
        ggml_type t = k_q8_types[ti];
        size_t rb = quant_row_bytes(t, COLS);
        for (int r = 0; r < ROWS; r++) fill_row(t, COLS, w + (size_t)r * rb, scratch);
        for (size_t s = 0; s < n_sets; s++) {
            for (int b = 0; b < MAXB; b++)
                kern_matmul_q8(sets[s], NULL, t, w, rb, ROWS, COLS, xq + (size_t)b * xs, 1, alone + (size_t)b * ROWS);
            for (int pi = 0; pi < 3; pi++) {
                const int batches[] = {1, 2, 3, 4, 5, 8, MAXB};
                for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
                    int nb = batches[bi];
                    for (int i = 0; i < nb * ROWS; i++) got[i] = NAN;
                    kern_matmul_q8(sets[s], pools[pi], t, w, rb, ROWS, COLS, xq, nb, got);
                    if (memcmp(got, alone, (size_t)nb * ROWS * sizeof(float)) != 0)
                        fail_msg("set %s type %s pool %d batch %d differs from single vectors",
                                 sets[s]->name, quant_type_name(t), pool_size(pools[pi]), nb);
                }
            }
        }
    }
    pool_destroy(pools[1]);
    pool_destroy(pools[2]);
}

static void test_native_sets(void **state) {
    (void)state;
    const kern_set *sets[8];
    size_t n = kern_available(sets, 8);
    for (size_t s = 0; s < n; s++) {
        int any = 0;
        for (size_t ti = 0; ti < N_Q8_TYPES; ti++) any |= kern_q8_native(sets[s], k_q8_types[ti]);
        print_message("set %-10s int8 activations: %s\n", sets[s]->name, any ? "own kernels" : "none");
        assert_false(kern_q8_native(sets[s], GGML_TYPE_F32));
        assert_false(kern_q8_native(sets[s], GGML_TYPE_Q5_0));
        assert_false(kern_q8_native(sets[s], GGML_TYPE_Q4_K)); /* slower than f32 at batch 1 */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantizer),
        cmocka_unit_test(test_sets_match_reference),
        cmocka_unit_test(test_reference_within_quantization_bound),
        cmocka_unit_test(test_matmul_q8_batch_invariant),
        cmocka_unit_test(test_native_sets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
