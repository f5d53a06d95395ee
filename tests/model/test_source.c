/* tests/model/test_source.c — probing a model location once (src/model/source.c): each kind, the
 * side files found once (chat template precedence, generation_config.json, a malformed one), a
 * missing path, and the GGUF parse shared by the model loaded from the source. */
#include "lmtest.h"

#include <sys/stat.h>

#include "model/model.h"
#include "model/source.h"

static char g_dir[256];

static void write_file(const char *dir, const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/lmserve-source-%d", (int)getpid());
    mkdir(g_dir, 0777);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_gguf_file(void **state) {
    (void)state;
    model_source *s = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(model_source_open(lmtest_demo_model(), &s, &err), LM_OK);
    assert_int_equal(model_source_get_kind(s), MODEL_SOURCE_GGUF);
    assert_non_null(model_source_gguf(s));
    assert_false(model_source_hf_tokenizer(s));
    /* models/demo/chat_template.jinja beside the file wins over the GGUF metadata */
    assert_non_null(model_source_chat_template(s));
    assert_non_null(strstr(model_source_chat_template(s), "{%"));

    /* the model shares the source's parse and keeps it after the source is closed */
    model *m = NULL;
    assert_int_equal(model_load_source(s, NULL, &m, &err), LM_OK);
    model_source_close(s);
    assert_true(m->hp.n_layer > 0);
    assert_true(model_weight_bytes(m) > 0);
    model_destroy(m);
}

static void test_folders(void **state) {
    (void)state;
    model_source *s = NULL;
    lm_error err;
    err_clear(&err);
    /* a Hugging Face folder: its generation_config.json and tokenizer_config.json template */
    write_file(g_dir, "config.json", "{\"architectures\": [\"LlamaForCausalLM\"]}");
    write_file(g_dir, "generation_config.json", "{\"temperature\": 0.5, \"eos_token_id\": [7, 9]}");
    write_file(g_dir, "tokenizer_config.json", "{\"chat_template\": [{\"name\": \"default\", \"template\": \"T\"}]}");
    assert_int_equal(model_source_open(g_dir, &s, &err), LM_OK);
    assert_int_equal(model_source_get_kind(s), MODEL_SOURCE_HF_DIR);
    assert_true(model_source_hf_tokenizer(s));
    assert_null(model_source_gguf(s));
    assert_string_equal(model_source_chat_template(s), "T");
    const hfconfig_generation *g = model_source_generation(s);
    assert_true(g->present);
    assert_true(g->has_temperature);
    assert_int_equal(g->n_eos, 2);
    assert_string_equal(model_source_generation_error(s), "");
    model_source_close(s);

    /* chat_template.jinja wins; a malformed generation_config.json is reported, not fatal */
    write_file(g_dir, "chat_template.jinja", "J");
    write_file(g_dir, "generation_config.json", "{not json");
    assert_int_equal(model_source_open(g_dir, &s, &err), LM_OK);
    assert_string_equal(model_source_chat_template(s), "J");
    assert_false(model_source_generation(s)->present);
    assert_string_not_equal(model_source_generation_error(s), "");
    model_source_close(s);

    /* an OpenVINO IR folder is its own kind (the IR loader reads it) */
    write_file(g_dir, "openvino_model.xml", "<net/>");
    assert_int_equal(model_source_open(g_dir, &s, &err), LM_OK);
    assert_int_equal(model_source_get_kind(s), MODEL_SOURCE_IR_DIR);
    assert_true(model_source_hf_tokenizer(s));
    model_source_close(s);
}

static void test_missing(void **state) {
    (void)state;
    model_source *s = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_not_equal(model_source_open("/nonexistent/model.gguf", &s, &err), LM_OK);
    assert_null(s);
    assert_non_null(strstr(err.msg, "/nonexistent/model.gguf"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_file),
        cmocka_unit_test(test_folders),
        cmocka_unit_test(test_missing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
