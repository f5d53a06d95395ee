/* tests/server/test_oai_response.c — response writing (src/server/oai_response.c): unary and
 * chunk shapes as OpenAI clients read them, logprobs in both shapes, lossy UTF-8, error bodies,
 * SSE framing, ids. */
#include "lmtest.h"

#include <math.h>
#include <string.h>

#include "server/oai.h"

static const oai_meta chat_meta = {OAI_CHAT, "chatcmpl-abc", "demo", 1700000000};
static const oai_meta comp_meta = {OAI_COMPLETIONS, "cmpl-abc", "demo", 1700000000};

static void test_unary_chat_shape(void **state) {
    (void)state;
    json_t *lp = json_object();
    json_object_set_new(lp, "content", json_array());
    oai_choice c[2] = {{"Hello", 5, lp, GEN_FINISH_STOP, NULL, 0, NULL}, {"Hi", 2, NULL, GEN_FINISH_LENGTH, NULL, 0, NULL}};
    oai_usage u = {7, 9, 4};
    json_t *r = oai_response_unary(&chat_meta, c, 2, &u);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "chatcmpl-abc");
    assert_string_equal(json_string_value(json_object_get(r, "object")), "chat.completion");
    assert_int_equal(json_integer_value(json_object_get(r, "created")), 1700000000);
    assert_string_equal(json_string_value(json_object_get(r, "model")), "demo");
    assert_string_equal(json_string_value(json_object_get(r, "system_fingerprint")), OAI_SYSTEM_FINGERPRINT);
    json_t *ch = json_object_get(r, "choices");
    assert_int_equal(json_array_size(ch), 2);
    json_t *c0 = json_array_get(ch, 0), *c1 = json_array_get(ch, 1);
    assert_int_equal(json_integer_value(json_object_get(c1, "index")), 1);
    json_t *msg = json_object_get(c0, "message");
    assert_string_equal(json_string_value(json_object_get(msg, "role")), "assistant");
    assert_string_equal(json_string_value(json_object_get(msg, "content")), "Hello");
    assert_true(json_object_get(c0, "logprobs") == lp);
    assert_true(json_is_null(json_object_get(c1, "logprobs")));
    assert_string_equal(json_string_value(json_object_get(c0, "finish_reason")), "stop");
    assert_string_equal(json_string_value(json_object_get(c1, "finish_reason")), "length");
    json_t *usage = json_object_get(r, "usage");
    assert_int_equal(json_integer_value(json_object_get(usage, "prompt_tokens")), 7);
    assert_int_equal(json_integer_value(json_object_get(usage, "completion_tokens")), 9);
    assert_int_equal(json_integer_value(json_object_get(usage, "total_tokens")), 16);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(usage, "prompt_tokens_details"),
                                                        "cached_tokens")), 4);
    json_decref(r);
    json_decref(lp);
}

static void test_unary_completions_shape(void **state) {
    (void)state;
    oai_choice c = {"text\xff", 5, NULL, GEN_FINISH_CANCELLED, NULL, 0, NULL};
    oai_usage u = {1, 2, 0};
    json_t *r = oai_response_unary(&comp_meta, &c, 1, &u);
    assert_string_equal(json_string_value(json_object_get(r, "object")), "text_completion");
    json_t *c0 = json_array_get(json_object_get(r, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "text")), "text\xEF\xBF\xBD");
    assert_null(json_object_get(c0, "message"));
    assert_true(json_is_null(json_object_get(c0, "finish_reason")));
    json_decref(r);
}

static void test_chunks(void **state) {
    (void)state;
    json_t *r = oai_chunk_text(&chat_meta, 2, "Once", 4, 1, NULL);
    assert_string_equal(json_string_value(json_object_get(r, "object")), "chat.completion.chunk");
    json_t *c = json_array_get(json_object_get(r, "choices"), 0);
    assert_int_equal(json_integer_value(json_object_get(c, "index")), 2);
    json_t *delta = json_object_get(c, "delta");
    assert_string_equal(json_string_value(json_object_get(delta, "role")), "assistant");
    assert_string_equal(json_string_value(json_object_get(delta, "content")), "Once");
    assert_true(json_is_null(json_object_get(c, "finish_reason")));
    assert_true(json_is_null(json_object_get(c, "logprobs")));
    json_decref(r);

    r = oai_chunk_text(&chat_meta, 0, " upon", 5, 0, NULL);
    delta = json_object_get(json_array_get(json_object_get(r, "choices"), 0), "delta");
    assert_null(json_object_get(delta, "role"));
    json_decref(r);

    r = oai_chunk_finish(&chat_meta, 0, GEN_FINISH_LENGTH);
    c = json_array_get(json_object_get(r, "choices"), 0);
    assert_int_equal(json_object_size(json_object_get(c, "delta")), 0);
    assert_string_equal(json_string_value(json_object_get(c, "finish_reason")), "length");
    json_decref(r);

    r = oai_chunk_text(&comp_meta, 0, "x", 1, 1, NULL);
    assert_string_equal(json_string_value(json_object_get(r, "object")), "text_completion");
    c = json_array_get(json_object_get(r, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "text")), "x");
    json_decref(r);

    oai_usage u = {3, 4, 0};
    r = oai_chunk_usage(&comp_meta, &u);
    assert_int_equal(json_array_size(json_object_get(r, "choices")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "usage"), "total_tokens")), 7);
    json_decref(r);
}

static void test_logprobs_chat(void **state) {
    (void)state;
    gen_token t[2];
    memset(t, 0, sizeof t);
    char a[] = " the", b[] = "\xe2\x80"; /* the second token is half a character */
    t[0].id = 5, t[0].logprob = -0.5f, t[0].text = a, t[0].text_len = 4, t[0].n_top = 2;
    t[0].top[0] = (sampler_logprob){5, -0.5f};
    t[0].top[1] = (sampler_logprob){9, -1.5f};
    t[1].id = 7, t[1].logprob = -1.0f / 0.0f, t[1].text = b, t[1].text_len = 2;
    json_t *content = json_array();
    oai_logprobs_append_chat(content, t, 2);
    assert_int_equal(json_array_size(content), 2);
    json_t *e0 = json_array_get(content, 0), *e1 = json_array_get(content, 1);
    assert_string_equal(json_string_value(json_object_get(e0, "token")), " the");
    assert_true(json_real_value(json_object_get(e0, "logprob")) == -0.5);
    json_t *bytes = json_object_get(e0, "bytes");
    assert_int_equal(json_array_size(bytes), 4);
    assert_int_equal(json_integer_value(json_array_get(bytes, 1)), 't');
    json_t *top = json_object_get(e0, "top_logprobs");
    assert_int_equal(json_array_size(top), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(top, 1), "token")), "<9>");
    assert_true(json_real_value(json_object_get(json_array_get(top, 1), "logprob")) == -1.5);
    /* partial UTF-8: the token text is lossy, the bytes exact; -inf is written as -9999 */
    assert_string_equal(json_string_value(json_object_get(e1, "token")), "\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(e1, "bytes"), 0)), 0xe2);
    assert_true(json_real_value(json_object_get(e1, "logprob")) == -9999.0);
    assert_int_equal(json_array_size(json_object_get(e1, "top_logprobs")), 0);
    char *dump = json_dumps(content, JSON_COMPACT);
    assert_non_null(dump); /* the whole thing serializes: valid UTF-8, no NaN/inf */
    free(dump);
    json_decref(content);
}

static void test_logprobs_completions(void **state) {
    (void)state;
    gen_token t[3];
    memset(t, 0, sizeof t);
    char a[] = "Once", b[] = " upon", c[] = " a";
    t[0] = (gen_token){.id = 1, .logprob = -0.1f, .text = a, .text_len = 4, .n_top = 2};
    t[0].top[0] = (sampler_logprob){1, -0.1f};
    t[0].top[1] = (sampler_logprob){2, -3.0f};
    t[1] = (gen_token){.id = 2, .logprob = -0.2f, .text = b, .text_len = 5};
    t[2] = (gen_token){.id = 3, .logprob = -0.3f, .text = c, .text_len = 2};
    json_t *lp = oai_logprobs_completions_new();
    size_t off = 0;
    oai_logprobs_append_completions(lp, t, 2, &off);
    oai_logprobs_append_completions(lp, t + 2, 1, &off);
    assert_int_equal(off, 11);
    json_t *tokens = json_object_get(lp, "tokens"), *offs = json_object_get(lp, "text_offset");
    assert_int_equal(json_array_size(tokens), 3);
    assert_string_equal(json_string_value(json_array_get(tokens, 1)), " upon");
    assert_int_equal(json_integer_value(json_array_get(offs, 0)), 0);
    assert_int_equal(json_integer_value(json_array_get(offs, 1)), 4);
    assert_int_equal(json_integer_value(json_array_get(offs, 2)), 9);
    json_t *tops = json_object_get(lp, "top_logprobs");
    json_t *top0 = json_array_get(tops, 0);
    assert_int_equal(json_object_size(top0), 2);
    assert_true(json_real_value(json_object_get(top0, "<2>")) == -3.0);
    assert_int_equal(json_object_size(json_array_get(tops, 1)), 0);
    assert_true(fabs(json_real_value(json_array_get(json_object_get(lp, "token_logprobs"), 2)) + 0.3) < 1e-6);
    json_decref(lp);
}

static void test_lossy_strings(void **state) {
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"plain", 5, "plain"},
        {"\xc3\xa9", 2, "\xc3\xa9"},                         /* é */
        {"\xc0\xaf", 2, "\xEF\xBF\xBD\xEF\xBF\xBD"},         /* overlong '/' */
        {"\xed\xa0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* surrogate */
        {"a\xf0\x9f\x98", 4, "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* cut emoji */
        {"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80"},         /* emoji */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = oai_json_string_lossy(cases[i].in, cases[i].len);
        assert_non_null(j);
        if (strcmp(json_string_value(j), cases[i].out) != 0) fail_msg("case %zu: got '%s'", i, json_string_value(j));
        json_decref(j);
    }
    /* NUL is a valid code point: kept, and written as \u0000 */
    json_t *j = oai_json_string_lossy("a\0b\xff", 4);
    assert_int_equal(json_string_length(j), 6);
    char *dump = json_dumps(j, JSON_ENCODE_ANY);
    assert_string_equal(dump, "\"a\\u0000b\xEF\xBF\xBD\"");
    free(dump);
    json_decref(j);
}

static void test_errors_and_status(void **state) {
    (void)state;
    assert_int_equal(oai_http_status(LM_ERR_INVALID), 400);
    assert_int_equal(oai_http_status(LM_ERR_FORMAT), 400);
    assert_int_equal(oai_http_status(LM_ERR_TEMPLATE), 400);
    assert_int_equal(oai_http_status(LM_ERR_LIMIT), 400);
    assert_int_equal(oai_http_status(LM_ERR_UNSUPPORTED), 400);
    assert_int_equal(oai_http_status(LM_ERR_NOT_FOUND), 404);
    assert_int_equal(oai_http_status(LM_ERR_NOMEM), 500);
    assert_int_equal(oai_http_status(LM_ERR_INTERNAL), 500);

    json_t *b = oai_error_body(400, "temperature out of range", "temperature", NULL);
    json_t *e = json_object_get(b, "error");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "temperature out of range");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "invalid_request_error");
    assert_string_equal(json_string_value(json_object_get(e, "param")), "temperature");
    assert_true(json_is_null(json_object_get(e, "code")));
    json_decref(b);
    b = oai_error_body(503, "down", "", "unavailable");
    e = json_object_get(b, "error");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "server_error");
    assert_true(json_is_null(json_object_get(e, "param")));
    assert_string_equal(json_string_value(json_object_get(e, "code")), "unavailable");
    json_decref(b);
}

static void test_sse_framing(void **state) {
    (void)state;
    lm_buf out = {0};
    oai_sse_append(&out, oai_chunk_text(&comp_meta, 0, "line1\nline2\n\n", 13, 1, NULL));
    oai_sse_append(&out, NULL);
    const char *s = buf_cstr(&out);
    assert_true(strncmp(s, "data: {", 7) == 0);
    assert_true(out.len > 2 && strcmp(s + out.len - 2, "\n\n") == 0);
    /* exactly one event: the only newlines are the terminator (the text's are escaped) */
    assert_ptr_equal(strchr(s, '\n'), s + out.len - 2);
    json_t *j = json_loadb(s + 6, out.len - 8, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text")),
                        "line1\nline2\n\n");
    json_decref(j);
    buf_fini(&out);
}

static void test_stream_endings(void **state) {
    (void)state;
    lm_buf out = {0};
    oai_usage u = {2, 3, 0};
    oai_stream_end ok = {NULL, 0, &u};
    oai_sse_finish(&out, &chat_meta, &ok);
    json_t *ev = json_loadb(out.data + 6, (size_t)(strchr(out.data, '\n') - out.data) - 6, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ev, "usage"), "total_tokens")), 5);
    json_decref(ev);
    assert_non_null(strstr(buf_cstr(&out), "\n\ndata: [DONE]\n\n"));

    /* an error after the stream began: an error event, then [DONE]; no usage */
    buf_reset(&out);
    lm_error e;
    err_clear(&e);
    err_set(&e, LM_ERR_NOMEM, "out of KV cache");
    oai_stream_end failed = {&e, 0, &u};
    oai_sse_finish(&out, &chat_meta, &failed);
    ev = json_loadb(out.data + 6, (size_t)(strchr(out.data, '\n') - out.data) - 6, 0, NULL);
    json_t *err = json_object_get(ev, "error");
    assert_string_equal(json_string_value(json_object_get(err, "message")), "out of KV cache");
    assert_string_equal(json_string_value(json_object_get(err, "type")), "server_error");
    assert_null(json_object_get(ev, "usage"));
    json_decref(ev);
    assert_true(strcmp(buf_cstr(&out) + out.len - 14, "data: [DONE]\n\n") == 0);

    buf_reset(&out);
    oai_stream_end cancelled = {NULL, 1, NULL};
    oai_sse_finish(&out, &comp_meta, &cancelled);
    assert_non_null(strstr(buf_cstr(&out), "\"code\":\"unavailable\""));
    buf_reset(&out);
    oai_stream_end plain = {NULL, 0, NULL};
    oai_sse_finish(&out, &comp_meta, &plain);
    assert_string_equal(buf_cstr(&out), "data: [DONE]\n\n");
    buf_fini(&out);
}

static void test_ids(void **state) {
    (void)state;
    char a[64], b[64];
    oai_make_id("chatcmpl-", a, sizeof a);
    oai_make_id("chatcmpl-", b, sizeof b);
    assert_int_equal(strlen(a), 9 + 24);
    assert_true(strncmp(a, "chatcmpl-", 9) == 0);
    for (const char *p = a + 9; *p; p++) assert_true((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                                     (*p >= '0' && *p <= '9'));
    assert_string_not_equal(a, b);
    char small[8];
    oai_make_id("cmpl-", small, sizeof small);
    assert_int_equal(strlen(small), 7);
    assert_string_equal(oai_finish_reason(GEN_FINISH_STOP), "stop");
    assert_string_equal(oai_finish_reason(GEN_FINISH_LENGTH), "length");
    assert_null(oai_finish_reason(GEN_FINISH_ERROR));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_chat_shape),
        cmocka_unit_test(test_unary_completions_shape),
        cmocka_unit_test(test_chunks),
        cmocka_unit_test(test_logprobs_chat),
        cmocka_unit_test(test_logprobs_completions),
        cmocka_unit_test(test_lossy_strings),
        cmocka_unit_test(test_errors_and_status),
        cmocka_unit_test(test_sse_framing),
        cmocka_unit_test(test_stream_endings),
        cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
