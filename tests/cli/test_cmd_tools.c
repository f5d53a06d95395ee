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
    char path[] = "/tmp/lmtest_msgs_XXXXXX";
    int fd = mkstemp(path);
    const char *msgs = "[{\"role\":\"system\",\"content\":\"A story.\"},"
                       "{\"role\":\"user\",\"content\":\"Once upon a time\"}]";
    assert_int_equal(write(fd, msgs, strlen(msgs)), (ssize_t)strlen(msgs));
    close(fd);
    lm_buf out = {0}, err = {0};
    char *argv[] = {"lmserve", "chat-template", "--model", MODEL, "--messages", path, NULL};
    assert_int_equal(lmtest_run(argv, "", &out, &err), 0);
    /* models/demo/chat_template.jinja: system text, a blank line, the user text, then " " */
    assert_string_equal(buf_cstr(&out), "A story.\n\nOnce upon a time ");
    buf_reset(&out);
    char *nogen[] = {"lmserve", "chat-template", "--model", MODEL, "--messages", path,
                     "--add_generation_prompt", "false", NULL};
    assert_int_equal(lmtest_run(nogen, "", &out, &err), 0);
    assert_string_equal(buf_cstr(&out), "A story.\n\nOnce upon a time");
    buf_reset(&out);
    char *stdin_msgs[] = {"lmserve", "chat-template", "--model", MODEL, "--messages", "-", NULL};
    assert_int_equal(lmtest_run(stdin_msgs, "{\"not\": \"an array\"}", &out, &err), 64);
    assert_non_null(strstr(buf_cstr(&err), "messages must be an array"));
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
