/* tests/engine/test_sampler.c — greedy ties, seeded reproducibility, top-k/top-p support sets,
 * parameter validation. */
#include "lmtest.h"

#include <string.h>

#include "engine/sampler.h"

static void test_greedy_ties_to_lower_id(void **state) {
    (void)state;
    float logits[5] = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f};
    assert_int_equal(sampler_argmax(logits, 5), 1);
    sampler s;
    lm_error err;
    err_clear(&err);
    sampler_params p = {.temperature = 0, .top_p = 1};
    assert_int_equal(sampler_init(&s, &p, 5, &err), LM_OK);
    assert_int_equal(sampler_sample(&s, logits), 1);
    sampler_fini(&s);
}

static void draw(uint64_t seed, float temp, int top_k, float top_p, int32_t *out, int n) {
    float logits[16];
    for (int i = 0; i < 16; i++) logits[i] = (float)(i % 7) * 0.5f;
    sampler s;
    lm_error err;
    err_clear(&err);
    sampler_params p = {.temperature = temp, .top_k = top_k, .top_p = top_p, .seed = seed};
    assert_int_equal(sampler_init(&s, &p, 16, &err), LM_OK);
    for (int i = 0; i < n; i++) out[i] = sampler_sample(&s, logits);
    sampler_fini(&s);
}

static void test_same_seed_same_tokens(void **state) {
    (void)state;
    int32_t a[200], b[200], c[200];
    draw(42, 1.0f, 0, 1.0f, a, 200);
    draw(42, 1.0f, 0, 1.0f, b, 200);
    draw(43, 1.0f, 0, 1.0f, c, 200);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    int seen[16] = {0};
    for (int i = 0; i < 200; i++) seen[a[i]]++;
    int distinct = 0;
    for (int i = 0; i < 16; i++) distinct += seen[i] > 0;
    assert_true(distinct > 4); /* temperature 1 really samples */
}

static void test_top_k_and_top_p_limit_support(void **state) {
    (void)state;
    int32_t out[300];
    /* logits peak at ids 6 and 13 (value 3.0); top_k 2 keeps exactly those */
    draw(7, 1.0f, 2, 1.0f, out, 300);
    for (int i = 0; i < 300; i++) assert_true(out[i] == 6 || out[i] == 13);
    /* a tiny top_p keeps only the single most likely (lower id on ties) */
    draw(7, 1.0f, 0, 1e-6f, out, 300);
    for (int i = 0; i < 300; i++) assert_int_equal(out[i], 6);
}

static void test_bad_params(void **state) {
    (void)state;
    sampler s;
    lm_error err;
    sampler_params bad[] = {
        {.temperature = -1, .top_p = 1}, {.temperature = 1, .top_p = 0},
        {.temperature = 1, .top_p = 1.5f}, {.temperature = 1, .top_k = -3, .top_p = 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear(&err);
        assert_int_equal(sampler_init(&s, &bad[i], 16, &err), LM_ERR_INVALID);
        assert_true(strlen(err.msg) > 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_ties_to_lower_id),
        cmocka_unit_test(test_same_seed_same_tokens),
        cmocka_unit_test(test_top_k_and_top_p_limit_support),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
