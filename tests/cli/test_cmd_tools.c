/* tests/cli/test_cmd_tools.c — `lmserve tokenize`, `detokenize` and `chat-template` through the
 * real binary on the bundled demo model: ids as llama.cpp gives them, --jsonl, round trips,
 * the demo chat template, and errors. */
#include "lmtest.h"

#include <string.h>


#define MODEL (char *)LM_SOURCE_DIR "/models/demo/stories260K.gguf"

static void test_tokenize(void **state) {
    (void)state;
    lm_buf out = {0}, err = {0};
    char *plain[] = {"lmserve", "tokenize", "--model", MODEL, NULL};
    assert_int_equal(lmtest_run(plain, "Once upon a time", &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "[1, 403, 407, 261, 378]\n");
    buf_reset(&out);
    char *nobos[] = {"lmserve", "tokenize", "--model", MODEL, "--add_special_tokens", "false", NULL};
    assert_int_equal(lmtest_run(nobos, "The cat", &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "[291, 280, 294]\n");
    buf_reset(&out);
    char *jsonl[] = {"lmserve", "tokenize", "--model", MODEL, "--jsonl", NULL};
    assert_int_equal(lmtest_run(jsonl, "\"Lily and Tom\"\n\"The cat\"\n", &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "[1, 317, 269, 274, 287]\n[1, 291, 280, 294]\n");
    buf_reset(&out);
    assert_int_equal(lmtest_run(jsonl, "\"ok\"\nnot json\n", &out, &err), 64);
    assert_non_null(strstr(buf_cstr(&err), "line 2"));
    buf_fini(&out);
    buf_fini(&err);
}

static void test_detokenize_round_trip(void **state) {
    (void)state;
    lm_buf out = {0}, err = {0};
    char *skip[] = {"lmserve", "detokenize", "--model", MODEL, "--skip_special_tokens", "true", NULL};
    assert_int_equal(lmtest_run(skip, "[1, 403, 407, 261, 378]", &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "Once upon a time");
    buf_reset(&out);
    char *jsonl[] = {"lmserve", "detokenize", "--model", MODEL, "--jsonl", "--skip_special_tokens", "true", NULL};
    assert_int_equal(lmtest_run(jsonl, "[291, 280, 294]\n[13]\n", &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "\"The cat\"\n\"\\n\"\n");
    buf_reset(&out);
    assert_int_equal(lmtest_run(jsonl, "[1, \"x\"]\n", &out, &err), 64);
    buf_fini(&out);
    buf_fini(&err);
}

static void test_chat_template(void **state) {
    (void)state;
    lm_buf out = {0}, err = {0};
    /* the demo model's template (models/demo/chat_template.jinja) */
    char *model[] = {"lmserve", "chat-template", "--model", MODEL, NULL};
    const char *vars = "{\"messages\":[{\"role\":\"system\",\"content\":\"A story.\"},"
                       "{\"role\":\"user\",\"content\":\"Once upon a time\"}],"
                       "\"add_generation_prompt\":true}";
    assert_int_equal(lmtest_run(model, vars, &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "<s>A story.\n\nOnce upon a time");
    buf_reset(&out);

    /* a template file, a pinned date, extra keys and the model's absence of bos/eos */
    char path[] = "/tmp/lmtest_tpl_XXXXXX";
    int fd = mkstemp(path);
    const char *tpl = "{{ strftime_now('%Y-%m-%d %A') }}|{{ name }}|{{ bos_token is defined }}\n"
                      "{%- for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
                      "{% if fail %}{{ raise_exception('bad ' ~ fail) }}{% endif %}";
    assert_int_equal(write(fd, tpl, strlen(tpl)), (ssize_t)strlen(tpl));
    close(fd);
    char *file[] = {"lmserve", "chat-template", "--template", path, "--date", "2026-01-15", NULL};
    assert_int_equal(lmtest_run(file, "{\"name\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                                &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "2026-01-15 Thursday|x|False[user]hi");
    buf_reset(&out);
    /* a template error: message on stderr, exit 1, nothing on stdout */
    assert_int_equal(lmtest_run(file, "{\"messages\":[],\"fail\":\"input\"}", &out, &err), 1);
    assert_int_equal(out.len, 0);
    assert_non_null(strstr(buf_cstr(&err), "bad input"));
    buf_reset(&err);
    /* --jsonl: one JSON string or {"error": ...} per line */
    char *jsonl[] = {"lmserve", "chat-template", "--template", path, "--date", "2026-01-15", "--jsonl", NULL};
    assert_int_equal(lmtest_run(jsonl, "{\"name\":\"a\",\"messages\":[]}\n{\"messages\":[],\"fail\":\"x\"}\nnope\n",
                                &out, &err), 0);
    const char *o = buf_cstr(&out);
    assert_non_null(strstr(o, "\"2026-01-15 Thursday|a|False\"\n{\"error\":"));
    assert_non_null(strstr(o, "bad x"));
    int lines = 0;
    for (const char *p = o; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 3);
    unlink(path);
    buf_fini(&out);
    buf_fini(&err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize),
        cmocka_unit_test(test_detokenize_round_trip),
        cmocka_unit_test(test_chat_template),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
