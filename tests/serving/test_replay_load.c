/* tests/serving/test_replay_load.c — the replay model (src/engine/replay.c) loaded by a servable
 * (src/serving/replay_load.c): with the real Qwen3 tokenizer and chat template, each prompt gets
 * the reply of the first matching rule whatever the sampling parameters, special tokens in a
 * reply come out as single tokens, prompts sharing cached prefix blocks still match on their
 * whole text, and a bad replay.json is a clear load error. */
#include "lmtest.h"

#include <sys/stat.h>

#include "base/file.h"
#include "engine/replay.h"
#include "serving/serving.h"

static char dir[256];

static void put(const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void copy(const char *from, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    char *data = file_read_all(from, 64u << 20, &len);
    assert_non_null(data);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    free(data);
}

static const char *replay_json =
    "{\"rules\": ["
    "{\"when\": \"weather\", \"reply\": \"<think>\\nThe user wants weather.\\n</think>\\n\\n<tool_call>\\n"
    "{\\\"name\\\": \\\"get_weather\\\", \\\"arguments\\\": {\\\"city\\\": \\\"Paris\\\"}}\\n</tool_call>\"},"
    "{\"when\": \"<|im_start|>user\\nsecond\", \"reply\": \"Second rule.<|im_end|>ignored\"},"
    "{\"reply\": \"Default reply: héllo!\"}]}";

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/lm_replay_test_%d", (int)getpid());
    mkdir(dir, 0755);
    put("config.json", "{\"architectures\": [\"LmserveReplay\"], \"max_position_embeddings\": 4096}");
    put("replay.json", replay_json);
    copy(lmtest_data("tokenizers/qwen3/tokenizer.json.gz"), "tokenizer.json.gz");
    copy(lmtest_data("tokenizers/qwen3/tokenizer_config.json"), "tokenizer_config.json");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static servable *make(int prefix) {
    servable_config c = {0};
    c.name = "replay";
    c.path = dir;
    c.max_num_seqs = 4;
    c.enable_prefix_caching = prefix;
    servable *s = NULL;
    lm_error err;
    err_clear(&err);
    if (servable_create(&c, &s, &err) != LM_OK) fail_msg("servable_create: %s", err.msg);
    return s;
}

/* Renders one user message, generates with `sampling`, returns the text (caller frees). */
static char *ask(servable *s, const char *user, const sampler_params *sampling, gen_finish *fin) {
    json_error_t je;
    json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", user);
    assert_non_null(msgs);
    lm_buf prompt = {0};
    lm_error err;
    err_clear(&err);
    if (servable_render_chat(s, msgs, NULL, NULL, &prompt, &err) != LM_OK) fail_msg("render: %s", err.msg);
    json_decref(msgs);
    (void)je;
    tok_ids ids = {0};
    assert_int_equal(servable_tokenize(s, prompt.data, prompt.len, 0, &ids, &err), LM_OK);
    gen_params p = gen_params_default();
    if (sampling) p.sampling = *sampling;
    p.prompt = ids.ids;
    p.n_prompt = ids.n;
    p.max_tokens = 200;
    p.skip_special_tokens = 0;
    gen_request *r = NULL;
    if (gen_submit(s, &p, &r, &err) != LM_OK) fail_msg("submit: %s", err.msg);
    lm_buf text = {0};
    *fin = GEN_FINISH_NONE;
    while (*fin == GEN_FINISH_NONE) {
        gen_chunk c = {0};
        if (!gen_poll(r, &c, 20000)) fail_msg("no output within 20 s");
        buf_append(&text, c.text.data, c.text.len);
        *fin = c.finish;
        gen_chunk_fini(&c);
    }
    gen_release(r);
    tok_ids_fini(&ids);
    buf_fini(&prompt);
    char *out = strdup(buf_cstr(&text));
    buf_fini(&text);
    return out;
}

static void test_rules(void **state) {
    (void)state;
    servable *s = make(0);
    gen_finish fin;
    char *t = ask(s, "What is the weather in Paris?", NULL, &fin);
    assert_string_equal(t, "<think>\nThe user wants weather.\n</think>\n\n<tool_call>\n"
                           "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
    assert_int_equal(fin, GEN_FINISH_STOP);
    free(t);
    /* the reply's <|im_end|> is the end-of-sequence token: generation stops there */
    t = ask(s, "second question", NULL, &fin);
    assert_string_equal(t, "Second rule.");
    free(t);
    t = ask(s, "anything else", NULL, &fin);
    assert_string_equal(t, "Default reply: héllo!");
    free(t);
    /* sampling cannot change the reply */
    sampler_params sp = {0};
    sp.temperature = 2.0f;
    sp.top_p = 1.0f;
    sp.top_k = 0;
    sp.repetition_penalty = 1.5f;
    sp.presence_penalty = 2.0f;
    sp.frequency_penalty = 2.0f;
    sp.seed = 99;
    t = ask(s, "anything else", &sp, &fin);
    assert_string_equal(t, "Default reply: héllo!");
    free(t);
    servable_destroy(s);
}

static void test_prefix_cache(void **state) {
    (void)state;
    servable *s = make(1);
    gen_finish fin;
    /* long shared beginnings: the second and third prompts attach cached blocks */
    char q[600];
    memset(q, 'x', 400);
    q[400] = 0;
    strcat(q, " first");
    char *t = ask(s, q, NULL, &fin);
    assert_string_equal(t, "Default reply: héllo!");
    free(t);
    memcpy(q + 400, " weather", 9);
    t = ask(s, q, NULL, &fin);
    assert_non_null(strstr(t, "get_weather"));
    free(t);
    memcpy(q + 400, " other", 7);
    t = ask(s, q, NULL, &fin);
    assert_string_equal(t, "Default reply: héllo!");
    free(t);
    servable_destroy(s);
}

static void test_bad_files(void **state) {
    (void)state;
    servable_config c = {0};
    c.name = "replay";
    c.path = dir;
    servable *s = NULL;
    lm_error err;
    const char *bad[] = {"{\"rules\": []}", "{\"rules\": [{\"when\": 1, \"reply\": \"x\"}]}", "not json",
                         "{\"rules\": [{\"when\": \"a\"}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put("replay.json", bad[i]);
        err_clear(&err);
        assert_int_not_equal(servable_create(&c, &s, &err), LM_OK);
        assert_null(s);
        assert_non_null(strstr(err.msg, "replay.json"));
    }
    put("replay.json", replay_json);
    assert_true(replay_is_model_dir(dir));
    assert_false(replay_is_model_dir(lmtest_data("tokenizers/qwen3")));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_prefix_cache),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
