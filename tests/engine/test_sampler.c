/* tests/engine/test_sampler.c — greedy ties, seeded reproducibility, top-k/top-p support sets,
 * parameter validation. */
#include "lmtest.h"

#include <math.h>
#include <string.h>

#include "engine/sampler.h"

static void test_greedy_ties_to_lower_id(void **state) {
    (void)state;
    float logits[5] = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f};
    assert_int_equal(sampler_argmax(logits, 5), 1);
    sampler s;
    lm_error err;
    err_clear(&err);
    sampler_params p = sampler_params_default();
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
    sampler_params p = sampler_params_default();
    p.temperature = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.seed = seed;
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
    for (int i = 0; i < 8; i++) {
        sampler_params p = sampler_params_default();
        switch (i) {
        case 0: p.temperature = -1; break;
        case 1: p.top_p = 0; break;
        case 2: p.top_p = 1.5f; break;
        case 3: p.top_k = -3; break;
        case 4: p.min_p = 1.5f; break;
        case 5: p.repetition_penalty = 0; break;
        case 6: p.presence_penalty = 3; break;
        case 7: p.frequency_penalty = -2.5f; break;
        }
        err_clear(&err);
        assert_int_equal(sampler_init(&s, &p, 16, &err), LM_ERR_INVALID);
        assert_true(strlen(err.msg) > 0);
    }
}

static void test_min_p(void **state) {
    (void)state;
    /* logits: id 0 = log(1), id 1 = log(0.5), id 2 = log(0.05): min_p 0.1 keeps 0 and 1 only */
    float logits[3] = {0.0f, logf(0.5f), logf(0.05f)};
    sampler s;
    lm_error err;
    err_clear(&err);
    sampler_params p = sampler_params_default();
    p.temperature = 1;
    p.min_p = 0.1f;
    p.seed = 3;
    assert_int_equal(sampler_init(&s, &p, 3, &err), LM_OK);
    int seen[3] = {0};
    for (int i = 0; i < 2000; i++) seen[sampler_sample(&s, logits)]++;
    assert_int_equal(seen[2], 0);
    assert_true(seen[0] > seen[1] && seen[1] > 400);
    sampler_fini(&s);
}

static void test_penalties(void **state) {
    (void)state;
    float logits[4] = {2.0f, 1.9f, -1.0f, 0.5f};
    sampler s;
    lm_error err;
    err_clear(&err);
    sampler_params p = sampler_params_default();
    p.repetition_penalty = 2.0f; /* seen token 0: 2.0 -> 1.0, below token 1 */
    assert_int_equal(sampler_init(&s, &p, 4, &err), LM_OK);
    assert_int_equal(sampler_sample(&s, logits), 0);
    int32_t prompt[1] = {0};
    sampler_set_prompt(&s, prompt, 1);
    assert_int_equal(sampler_sample(&s, logits), 1);
    sampler_fini(&s);

    p = sampler_params_default();
    p.frequency_penalty = 0.06f; /* token 0 once: 1.94 > 1.9; twice: 1.88 < 1.9 */
    assert_int_equal(sampler_init(&s, &p, 4, &err), LM_OK);
    sampler_accept(&s, 0);
    assert_int_equal(sampler_sample(&s, logits), 0); /* 1.94 still wins */
    sampler_accept(&s, 0);
    assert_int_equal(sampler_sample(&s, logits), 1);
    sampler_fini(&s);

    p = sampler_params_default();
    p.presence_penalty = 0.2f; /* token 0 once: 1.8 < 1.9 */
    assert_int_equal(sampler_init(&s, &p, 4, &err), LM_OK);
    sampler_accept(&s, 0);
    assert_int_equal(sampler_sample(&s, logits), 1);
    sampler_fini(&s);
}

static void test_logprobs(void **state) {
    (void)state;
    float logits[5] = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f};
    sampler_logprob top[3];
    float lp = sampler_logprobs(logits, 5, 2, 3, top);
    double z = log(exp(1.0) + 2 * exp(3.0) + exp(2.0) + exp(-1.0));
    assert_true(fabs(lp - (2.0 - z)) < 1e-5);
    assert_int_equal(top[0].id, 1); /* tie 1 and 3: lower id first */
    assert_int_equal(top[1].id, 3);
    assert_int_equal(top[2].id, 2);
    assert_true(fabs(top[0].logprob - (3.0 - z)) < 1e-5);
    double total = 0;
    for (int i = 0; i < 5; i++) total += exp(sampler_logprobs(logits, 5, i, 0, top));
    assert_true(fabs(total - 1.0) < 1e-5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_ties_to_lower_id),
        cmocka_unit_test(test_same_seed_same_tokens),
        cmocka_unit_test(test_top_k_and_top_p_limit_support),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_penalties),
        cmocka_unit_test(test_logprobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
