/* test_jsonnum.c — integers beyond int64 in JSON files (src/base/jsonnum.c), and the files that
 * must survive them: tokenizer_config.json's chat template, config.json. */
#include <jansson.h>
#include <sys/stat.h>

#include "lmtest.h"
#include "base/jsonnum.h"
#include "model/hfconfig.h"
#include "serving/chat.h"

static const char *widen(const char *in, size_t *count) {
    static lm_buf out;
    buf_fini(&out);
    *count = jsonnum_widen(in, strlen(in), &out);
    return buf_cstr(&out);
}

static void test_widen(void **state) {
    size_t n;
    assert_string_equal(widen("{\"model_max_length\": 1000000000000000019884624838656}", &n),
                        "{\"model_max_length\": 1000000000000000019884624838656.0}");
    assert_int_equal(n, 1);
    /* int64's own bounds stay integers; one past them is widened */
    assert_string_equal(widen("[9223372036854775807,-9223372036854775808,9223372036854775808,-9223372036854775809]", &n),
                        "[9223372036854775807,-9223372036854775808,9223372036854775808.0,-9223372036854775809.0]");
    assert_int_equal(n, 2);
    /* inside strings, reals and exponents: untouched */
    assert_string_equal(widen("{\"a\\\"99999999999999999999\": \"1000000000000000000000\", \"b\": 1e400, \"c\": 1.5}", &n),
                        "{\"a\\\"99999999999999999999\": \"1000000000000000000000\", \"b\": 1e400, \"c\": 1.5}");
    assert_int_equal(n, 0);
    /* beyond a double: the largest double with its sign */
    lm_buf big = {0};
    buf_append_str(&big, "[-");
    for (int i = 0; i < 400; i++) buf_append_char(&big, '7');
    buf_append_str(&big, "]");
    assert_string_equal(widen(buf_cstr(&big), &n), "[-1e308]");
    buf_fini(&big);
    json_error_t je;
    json_t *j = json_loads(widen("{\"x\": 1000000000000000019884624838656}", &n), 0, &je);
    assert_non_null(j);
    assert_true(json_real_value(json_object_get(j, "x")) > 9e29);
    json_decref(j);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Every Llama 3 / Mistral folder: the chat template must not vanish with the huge number. */
static void test_tokenizer_config_keeps_template(void **state) {
    char dir[] = "/tmp/lmtest_jsonnum_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    write_file(path, "{\"model_max_length\": 1000000000000000019884624838656, "
                     "\"chat_template\": \"{% for m in messages %}[{{ m.content }}]{% endfor %}\"}");
    chat_template *ct = NULL;
    lm_error err;
    err_clear(&err);
    if (chat_template_load(dir, NULL, &ct, &err) != LM_OK) fail_msg("chat template: %s", err.msg);
    chat_template_destroy(ct);
    unlink(path);
    rmdir(dir);
}

static void test_config_json(void **state) {
    static const char cfg[] = "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 1, "
                              "\"num_attention_heads\": 1, \"vocab_size\": 10, \"intermediate_size\": 8, "
                              "\"some_limit\": 1000000000000000019884624838656}";
    hfconfig *c = malloc(sizeof *c);
    lm_error err;
    err_clear(&err);
    if (hfconfig_parse(cfg, sizeof cfg - 1, c, &err) != LM_OK) fail_msg("config.json: %s", err.msg);
    assert_int_equal(c->hidden_size, 64);
    free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_widen),
        cmocka_unit_test(test_tokenizer_config_keeps_template),
        cmocka_unit_test(test_config_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
