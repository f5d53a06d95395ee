/* tests/compute/test_kernels_mt.c — the threaded and batched products against the single-threaded
 * matvec of the same kernel set: every set, every type, several pool sizes, batch sizes around
 * the multi-vector width and row counts that do not divide evenly among threads. */
#include "lmtest.h"

#include <math.h>

#include "compute_testutil.h"

/* kern_matmul and kern_matvec_mt call the same per-row kernels as kern_matvec; the multi-vector
 * kernel may sum in another order, so the bound is the summation-order one of test_kernels.c. */
#define TOL_SUM_ORDER 1e-5

static void test_matmul_matches_matvec(void **state) {
    (void)state;
    rng_seed_from_env();
    print_message("seed %llu\n", (unsigned long long)g_rng);
    const kern_set *sets[8];
    size_t n_sets = kern_available(sets, 8);
    enum { ROWS = 67, COLS = 512, MAXB = 11 };
    static unsigned char w[ROWS * COLS * 4];
    static float x[MAXB * COLS], scratch[COLS], want[MAXB * ROWS], got[MAXB * ROWS], deq[COLS];
    for (int i = 0; i < MAXB * COLS; i++) x[i] = frand();
    lm_error err;
    err_clear(&err);
    pool *pools[3] = {NULL, NULL, NULL};
    assert_int_equal(pool_create(2, &pools[1], &err), LM_OK);
    assert_int_equal(pool_create(3, &pools[2], &err), LM_OK);
    for (size_t ti = 0; ti < N_ALL_TYPES; ti++) {
        ggml_type t = k_all_types[ti];
        size_t rb = quant_row_bytes(t, COLS);
        for (int r = 0; r < ROWS; r++) fill_row(t, COLS, w + (size_t)r * rb, scratch);
        for (size_t s = 0; s < n_sets; s++) {
            for (int b = 0; b < MAXB; b++)
                kern_matvec(sets[s], t, w, rb, ROWS, COLS, x + (size_t)b * COLS, want + (size_t)b * ROWS);
            for (int pi = 0; pi < 3; pi++) {
                const int batches[] = {1, 2, 3, 4, 5, 8, MAXB};
                for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
                    int nb = batches[bi];
                    for (int i = 0; i < nb * ROWS; i++) got[i] = NAN;
                    if (nb == 1)
                        kern_matvec_mt(sets[s], pools[pi], t, w, rb, ROWS, COLS, x, got);
                    else
                        kern_matmul(sets[s], pools[pi], t, w, rb, ROWS, COLS, x, nb, got);
                    for (int b = 0; b < nb; b++)
                        for (int r = 0; r < ROWS; r++) {
                            quant_dequantize_row(t, w + (size_t)r * rb, COLS, deq);
                            double scale = 0;
                            for (int i = 0; i < COLS; i++) scale += fabs((double)deq[i] * x[b * COLS + i]);
                            double d = fabs((double)got[b * ROWS + r] - want[b * ROWS + r]);
                            if (!(d <= TOL_SUM_ORDER * scale + 1e-30))
                                fail_msg("set %s type %s pool %d batch %d: y[%d][%d] = %.9g, matvec %.9g",
                                         sets[s]->name, quant_type_name(t), pool_size(pools[pi]), nb,
                                         b, r, (double)got[b * ROWS + r], (double)want[b * ROWS + r]);
                        }
                }
            }
        }
    }
    pool_destroy(pools[1]);
    pool_destroy(pools[2]);
}

/* A large product (many tiles per thread) against the reference. */
static void test_large_matmul(void **state) {
    (void)state;
    enum { ROWS = 1000, COLS = 1024, NB = 6 };
    static unsigned char w[ROWS * (COLS + 4)];
    static float x[NB * COLS], scratch[COLS], want[NB * ROWS], got[NB * ROWS];
    for (int i = 0; i < NB * COLS; i++) x[i] = frand();
    ggml_type t = LM_TYPE_I8_CH;
    size_t rb = quant_row_bytes(t, COLS);
    for (int r = 0; r < ROWS; r++) fill_row(t, COLS, w + (size_t)r * rb, scratch);
    for (int b = 0; b < NB; b++)
        kern_matvec(kern_reference(), t, w, rb, ROWS, COLS, x + b * COLS, want + b * ROWS);
    lm_error err;
    err_clear(&err);
    pool *p = NULL;
    assert_int_equal(pool_create(0, &p, &err), LM_OK);
    kern_matmul(kern_best(), p, t, w, rb, ROWS, COLS, x, NB, got);
    for (int i = 0; i < NB * ROWS; i++) assert_true(fabs(got[i] - want[i]) <= 1e-3);
    pool_destroy(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_matches_matvec),
        cmocka_unit_test(test_large_matmul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
