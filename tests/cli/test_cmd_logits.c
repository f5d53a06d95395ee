/* tests/cli/test_cmd_logits.c — `lmserve logits` prints, for the demo model, the same top-5 logits
 * at the last prompt position as llama.cpp recorded (tests/data/oracles/stories260K.json). */
#include "lmtest.h"

#include <jansson.h>
#include <math.h>
#include <string.h>


static void test_logits_match_oracle(void **state) {
    (void)state;
    json_error_t jerr;
    json_t *root = json_load_file(lmtest_data("oracles/stories260K.json"), 0, &jerr);
    assert_non_null(root);
    json_t *c = json_array_get(json_object_get(root, "prompts"), 0);
    json_t *jp = json_object_get(c, "prompt_tokens");
    lm_buf ids = {0};
    for (size_t i = 0; i < json_array_size(jp); i++)
        buf_printf(&ids, "%s%lld", i ? " " : "", (long long)json_integer_value(json_array_get(jp, i)));
    char *argv[] = {"lmserve", "logits", "--ids", (char *)buf_cstr(&ids), "--top", "5", NULL};
    lm_buf out = {0};
    assert_int_equal(lmtest_run(argv, NULL, &out, NULL), 0);
    json_t *got = json_loads(buf_cstr(&out), 0, &jerr);
    if (!got) fail_msg("output is not JSON: %s\n%s", jerr.text, buf_cstr(&out));
    json_t *positions = json_object_get(got, "positions");
    assert_int_equal(json_array_size(positions), json_array_size(jp));
    json_t *last = json_array_get(positions, json_array_size(jp) - 1);
    json_t *want = json_array_get(json_object_get(c, "top_logits_first_steps"), 0);
    json_t *gi = json_object_get(last, "top_ids"), *gl = json_object_get(last, "top_logits");
    json_t *wi = json_object_get(want, "top_ids"), *wl = json_object_get(want, "top_logits");
    for (size_t j = 0; j < 5; j++) {
        assert_int_equal(json_integer_value(json_array_get(gi, j)), json_integer_value(json_array_get(wi, j)));
        assert_true(fabs(json_number_value(json_array_get(gl, j)) - json_number_value(json_array_get(wl, j))) < 1e-3);
    }
    json_decref(got);
    json_decref(root);
    buf_fini(&out);
    buf_fini(&ids);
}

static void test_weight_format(void **state) {
    (void)state;
    /* the oracle llama HF folder as int8: loads, answers, and stays close to the F32 top-1 */
    lm_buf out = {0};
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", lmtest_data("oracles/llama-hf-bf16"));
    char *argv[] = {"lmserve", "logits", "--model", dir, "--ids", "1 403 407 261", "--top", "3",
                    "--weight_format", "int8", NULL};
    assert_int_equal(lmtest_run(argv, NULL, &out, NULL), 0);
    json_error_t jerr;
    json_t *got = json_loads(buf_cstr(&out), 0, &jerr);
    assert_non_null(got);
    assert_int_equal(json_array_size(json_object_get(got, "positions")), 4);
    json_decref(got);
    buf_reset(&out);
    char *bad[] = {"lmserve", "logits", "--ids", "1", "--weight_format", "int3", NULL};
    assert_int_equal(lmtest_run(bad, NULL, &out, NULL), 64);
    buf_fini(&out);
}

static void test_bad_ids(void **state) {
    (void)state;
    lm_buf out = {0};
    char *words[] = {"lmserve", "logits", "--ids", "1 two 3", NULL};
    assert_int_equal(lmtest_run(words, NULL, &out, NULL), 64);
    char *range[] = {"lmserve", "logits", "--ids", "1 99999", NULL};
    assert_int_equal(lmtest_run(range, NULL, &out, NULL), 64);
    assert_int_equal(out.len, 0);
    buf_fini(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logits_match_oracle),
        cmocka_unit_test(test_weight_format),
        cmocka_unit_test(test_bad_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
