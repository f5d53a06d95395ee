/* tests/cli/test_cmd_generate.c — `lmserve generate` on the bundled demo model reproduces, byte for
 * byte, llama.cpp's greedy continuation of every prompt in tests/data/oracles/stories260K.json;
 * seeded sampling repeats itself; bad input is a usage error. Runs the real binary (LM_BIN). */
#include "lmtest.h"

#include <jansson.h>
#include <string.h>


static void test_greedy_matches_oracle_texts(void **state) {
    (void)state;
    json_error_t jerr;
    json_t *root = json_load_file(lmtest_data("oracles/stories260K.json"), 0, &jerr);
    assert_non_null(root);
    json_t *prompts = json_object_get(root, "prompts");
    assert_true(json_array_size(prompts) >= 3);
    for (size_t i = 0; i < json_array_size(prompts); i++) {
        json_t *c = json_array_get(prompts, i);
        const char *prompt = json_string_value(json_object_get(c, "prompt"));
        const char *want = json_string_value(json_object_get(c, "generated_text"));
        char *argv[] = {"lmserve", "generate", "--prompt", (char *)prompt, "--max_tokens", "64",
                        "--ignore_eos", NULL};
        lm_buf out = {0};
        assert_int_equal(lmtest_run(argv, NULL, &out, NULL), 0);
        if (strcmp(buf_cstr(&out), want) != 0)
            fail_msg("prompt '%s':\n got: [%s]\nwant: [%s]", prompt, buf_cstr(&out), want);
        buf_fini(&out);
    }
    json_decref(root);
}

static void test_seed_repeats_and_differs(void **state) {
    (void)state;
    lm_buf a = {0}, b = {0}, c = {0};
    char *argv7[] = {"lmserve", "generate", "--prompt", "The cat", "--temperature", "1.0", "--seed",
                     "7", "--max_tokens", "48", NULL};
    char *argv8[] = {"lmserve", "generate", "--prompt", "The cat", "--temperature", "1.0", "--seed",
                     "8", "--max_tokens", "48", NULL};
    assert_int_equal(lmtest_run(argv7, NULL, &a, NULL), 0);
    assert_int_equal(lmtest_run(argv7, NULL, &b, NULL), 0);
    assert_int_equal(lmtest_run(argv8, NULL, &c, NULL), 0);
    assert_true(a.len > 0);
    assert_string_equal(buf_cstr(&a), buf_cstr(&b));
    assert_string_not_equal(buf_cstr(&a), buf_cstr(&c));
    buf_fini(&a);
    buf_fini(&b);
    buf_fini(&c);
}

static void test_usage_errors(void **state) {
    (void)state;
    lm_buf out = {0};
    char *no_prompt[] = {"lmserve", "generate", NULL};
    assert_int_equal(lmtest_run(no_prompt, NULL, &out, NULL), 64);
    char *bad_temp[] = {"lmserve", "generate", "--prompt", "x", "--temperature", "-1", NULL};
    assert_int_equal(lmtest_run(bad_temp, NULL, &out, NULL), 64);
    char *bad_model[] = {"lmserve", "generate", "--prompt", "x", "--model", "/nonexistent.gguf", NULL};
    assert_int_equal(lmtest_run(bad_model, NULL, &out, NULL), 1);
    assert_int_equal(out.len, 0);
    buf_fini(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_matches_oracle_texts),
        cmocka_unit_test(test_seed_repeats_and_differs),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
