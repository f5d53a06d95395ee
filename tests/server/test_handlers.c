/* tests/server/test_handlers.c — the endpoints (src/server/handlers.c) against a real lmserve
 * serving the demo model: status and health JSON, unary and streamed chat/completions shapes,
 * SSE framing, stream == unary for deterministic requests, n, logprobs, stop strings, echo,
 * tokenize, and the error answers (status, OpenAI error body, the field named). */
#include "srvtest.h"

#include <math.h>

static st_server srv;

static int setup(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    return st_server_start(&srv, NULL);
}

static int teardown(void **state) {
    (void)state;
    int rc = st_server_stop(&srv, SIGTERM, 20000, NULL);
    if (rc != 0) fprintf(stderr, "lmserve exited %d (see %s)\n", rc, srv.log);
    else unlink(srv.log);
    return rc;
}

static json_t *get_json(const char *path, int want_status) {
    st_resp r = {0};
    if (st_request(srv.port, "GET", path, NULL, NULL, &r) != 0) fail_msg("GET %s: no response", path);
    if (r.status != want_status) fail_msg("GET %s: %d, want %d: %s", path, r.status, want_status, buf_cstr(&r.body));
    json_t *j = st_json(&r);
    st_resp_fini(&r);
    return j;
}

/* POSTs and expects want_status; returns the body's JSON. */
static json_t *post_json(const char *path, const char *body, int want_status) {
    st_resp r = {0};
    int status = st_post(srv.port, path, body, &r);
    if (status != want_status) fail_msg("POST %s %s: %d, want %d: %s", path, body, status, want_status, buf_cstr(&r.body));
    json_t *j = st_json(&r);
    st_resp_fini(&r);
    return j;
}

/* POSTs a streaming request; checks the SSE response framing and returns its events. */
static json_t *post_stream(const char *path, const char *body) {
    st_resp r = {0};
    int status = st_post(srv.port, path, body, &r);
    if (status != 200) fail_msg("POST %s %s: %d: %s", path, body, status, buf_cstr(&r.body));
    char ct[128];
    assert_non_null(st_header(&r, "Content-Type", ct, sizeof ct));
    assert_string_equal(ct, "text/event-stream");
    assert_true(r.chunked);
    json_t *ev = st_sse_events(r.body.data ? r.body.data : "", r.body.len);
    st_resp_fini(&r);
    size_t n = json_array_size(ev);
    assert_true(n >= 2);
    /* [DONE] ends the stream, exactly once */
    assert_string_equal(json_string_value(json_array_get(ev, n - 1)), "[DONE]");
    for (size_t i = 0; i + 1 < n; i++) assert_true(json_is_object(json_array_get(ev, i)));
    return ev;
}

/* The error body's parts; fails unless it has OpenAI's shape. */
static void expect_error(json_t *j, const char *param, const char *needle) {
    json_t *e = json_object_get(j, "error");
    if (!json_is_object(e)) fail_msg("no error object");
    const char *msg = json_string_value(json_object_get(e, "message"));
    assert_non_null(msg);
    assert_non_null(json_string_value(json_object_get(e, "type")));
    assert_non_null(json_object_get(e, "code"));
    json_t *p = json_object_get(e, "param");
    assert_non_null(p);
    if (param) {
        if (!json_is_string(p) || strcmp(json_string_value(p), param) != 0)
            fail_msg("param %s, want %s (%s)", json_string_value(p), param, msg);
    }
    if (needle && !strstr(msg, needle)) fail_msg("message '%s' lacks '%s'", msg, needle);
}

/* ---------------------------------------------------------------- status and health */

static void test_status_endpoints(void **state) {
    (void)state;
    json_t *cfg = get_json("/v1/config", 200);
    json_t *v = json_array_get(json_object_get(json_object_get(cfg, "demo"), "model_version_status"), 0);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "AVAILABLE");
    assert_string_equal(json_string_value(json_object_get(v, "version")), "1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "status"), "error_code")), "OK");
    json_decref(cfg);

    static const char *const lists[] = {"/v3/models", "/v1/models", "/v3/v1/models", "/v3/models?limit=5"};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        json_t *m = get_json(lists[i], 200);
        assert_string_equal(json_string_value(json_object_get(m, "object")), "list");
        json_t *d = json_array_get(json_object_get(m, "data"), 0);
        assert_string_equal(json_string_value(json_object_get(d, "id")), "demo");
        assert_string_equal(json_string_value(json_object_get(d, "object")), "model");
        assert_true(json_integer_value(json_object_get(d, "created")) > 1600000000);
        assert_non_null(json_string_value(json_object_get(d, "owned_by")));
        json_decref(m);
    }
    json_t *one = get_json("/v3/models/demo", 200);
    assert_string_equal(json_string_value(json_object_get(one, "id")), "demo");
    json_decref(one);
    json_t *no = get_json("/v3/models/org/name", 404);
    expect_error(no, "model", "org/name");
    assert_string_equal(json_string_value(json_object_get(json_object_get(no, "error"), "code")), "model_not_found");
    json_decref(no);

    st_resp r = {0};
    assert_int_equal(st_request(srv.port, "GET", "/v2/health/live", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(st_request(srv.port, "GET", "/v2/health/ready", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(st_request(srv.port, "GET", "/v2/models/demo/ready", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(st_request(srv.port, "GET", "/v2/models/a/b/ready", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    st_resp_fini(&r);
}

/* ---------------------------------------------------------------- unary */

static void test_unary_completion(void **state) {
    (void)state;
    /* no Content-Type header at all: the body is JSON anyway */
    json_t *j = post_json("/v3/completions",
                          "{\"model\":\"demo\",\"prompt\":\"Once upon a time\",\"max_tokens\":10,\"temperature\":0,"
                          "\"ignore_eos\":true}",
                          200);
    assert_true(strncmp(json_string_value(json_object_get(j, "id")), "cmpl-", 5) == 0);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "text_completion");
    assert_string_equal(json_string_value(json_object_get(j, "model")), "demo");
    assert_non_null(json_string_value(json_object_get(j, "system_fingerprint")));
    json_t *c = json_array_get(json_object_get(j, "choices"), 0);
    assert_true(json_string_length(json_object_get(c, "text")) > 0);
    assert_string_equal(json_string_value(json_object_get(c, "finish_reason")), "length");
    assert_true(json_is_null(json_object_get(c, "logprobs")));
    json_t *u = json_object_get(j, "usage");
    assert_int_equal(json_integer_value(json_object_get(u, "completion_tokens")), 10);
    assert_true(json_integer_value(json_object_get(u, "prompt_tokens")) >= 4);
    assert_int_equal(json_integer_value(json_object_get(u, "total_tokens")),
                     json_integer_value(json_object_get(u, "prompt_tokens")) + 10);
    json_decref(j);

    /* the same on /v1 and /v3/v1 */
    j = post_json("/v1/completions", "{\"model\":\"demo\",\"prompt\":\"Hi\",\"max_tokens\":2}", 200);
    json_decref(j);
    j = post_json("/v3/v1/completions", "{\"model\":\"demo\",\"prompt\":\"Hi\",\"max_tokens\":2}", 200);
    json_decref(j);
}

static void test_unary_chat(void **state) {
    (void)state;
    json_t *j = post_json("/v3/chat/completions",
                          "{\"model\":\"demo\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                          "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Tell me\"},{\"type\":\"text\","
                          "\"text\":\"a story\"}]}],\"max_completion_tokens\":12,\"temperature\":0}",
                          200);
    assert_true(strncmp(json_string_value(json_object_get(j, "id")), "chatcmpl-", 9) == 0);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "chat.completion");
    json_t *c = json_array_get(json_object_get(j, "choices"), 0);
    json_t *m = json_object_get(c, "message");
    assert_string_equal(json_string_value(json_object_get(m, "role")), "assistant");
    assert_true(json_is_string(json_object_get(m, "content")));
    const char *fr = json_string_value(json_object_get(c, "finish_reason"));
    assert_true(strcmp(fr, "stop") == 0 || strcmp(fr, "length") == 0);
    assert_true(json_integer_value(json_object_get(json_object_get(j, "usage"), "completion_tokens")) <= 12);
    json_decref(j);
}

/* ---------------------------------------------------------------- streaming */

static void test_stream_framing_and_equality(void **state) {
    (void)state;
    static const char *const bodies[][2] = {
        {"/v3/completions", "\"prompt\":\"Once upon a time\",\"max_tokens\":24,\"temperature\":0"},
        {"/v3/completions", "\"prompt\":\"The dog\",\"max_tokens\":24,\"temperature\":1.0,\"seed\":42"},
        {"/v3/chat/completions", "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":24,"
                                 "\"temperature\":0.8,\"top_p\":0.9,\"seed\":7"},
    };
    for (size_t t = 0; t < sizeof bodies / sizeof bodies[0]; t++) {
        int chat = strstr(bodies[t][0], "chat") != NULL;
        char unary[512], stream[600];
        snprintf(unary, sizeof unary, "{\"model\":\"demo\",%s}", bodies[t][1]);
        snprintf(stream, sizeof stream,
                 "{\"model\":\"demo\",%s,\"stream\":true,\"stream_options\":{\"include_usage\":true}}", bodies[t][1]);
        for (int rep = 0; rep < 2; rep++) {
            json_t *u = post_json(bodies[t][0], unary, 200);
            json_t *uc = json_array_get(json_object_get(u, "choices"), 0);
            const char *want = json_string_value(chat ? json_object_get(json_object_get(uc, "message"), "content")
                                                      : json_object_get(uc, "text"));
            json_t *ev = post_stream(bodies[t][0], stream);
            size_t n = json_array_size(ev);
            lm_buf got = {0};
            st_stream_text(ev, 0, &got);
            if (strcmp(buf_cstr(&got), want) != 0)
                fail_msg("%s: streamed '%s' != unary '%s'", stream, buf_cstr(&got), want);
            /* the first chunk has the role (chat), every chunk the same id; the one before the
             * usage chunk has the finish_reason, which matches the unary one */
            const char *id = json_string_value(json_object_get(json_array_get(ev, 0), "id"));
            for (size_t i = 0; i + 1 < n; i++) {
                json_t *e = json_array_get(ev, i);
                assert_string_equal(json_string_value(json_object_get(e, "id")), id);
                assert_string_equal(json_string_value(json_object_get(e, "object")),
                                    chat ? "chat.completion.chunk" : "text_completion");
            }
            if (chat) {
                json_t *d0 = json_object_get(json_array_get(json_object_get(json_array_get(ev, 0), "choices"), 0), "delta");
                assert_string_equal(json_string_value(json_object_get(d0, "role")), "assistant");
            }
            json_t *fin = json_array_get(json_object_get(json_array_get(ev, n - 3), "choices"), 0);
            assert_string_equal(json_string_value(json_object_get(fin, "finish_reason")),
                                json_string_value(json_object_get(uc, "finish_reason")));
            json_t *usage_ev = json_array_get(ev, n - 2);
            assert_int_equal(json_array_size(json_object_get(usage_ev, "choices")), 0);
            assert_int_equal(json_integer_value(json_object_get(json_object_get(usage_ev, "usage"), "completion_tokens")),
                             json_integer_value(json_object_get(json_object_get(u, "usage"), "completion_tokens")));
            buf_fini(&got);
            json_decref(ev);
            json_decref(u);
        }
    }
}

static void test_n_samples(void **state) {
    (void)state;
    json_t *j = post_json("/v3/completions",
                          "{\"model\":\"demo\",\"prompt\":\"Once\",\"max_tokens\":16,\"n\":3,\"seed\":5,\"temperature\":1.2}",
                          200);
    json_t *ch = json_object_get(j, "choices");
    assert_int_equal(json_array_size(ch), 3);
    int differ = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(json_integer_value(json_object_get(json_array_get(ch, i), "index")), i);
        if (i && strcmp(json_string_value(json_object_get(json_array_get(ch, i), "text")),
                        json_string_value(json_object_get(json_array_get(ch, 0), "text"))) != 0)
            differ = 1;
    }
    assert_true(differ); /* independent samples (seed, seed+1, seed+2) */
    json_t *u = json_object_get(j, "usage");
    long long ct = json_integer_value(json_object_get(u, "completion_tokens"));
    assert_true(ct > 3 && ct <= 48);

    /* streamed: same texts per index */
    json_t *ev = post_stream("/v3/completions", "{\"model\":\"demo\",\"prompt\":\"Once\",\"max_tokens\":16,\"n\":3,"
                                                "\"seed\":5,\"temperature\":1.2,\"stream\":true}");
    for (int i = 0; i < 3; i++) {
        lm_buf t = {0};
        st_stream_text(ev, i, &t);
        assert_string_equal(buf_cstr(&t), json_string_value(json_object_get(json_array_get(ch, i), "text")));
        buf_fini(&t);
    }
    json_decref(ev);
    json_decref(j);
}

static void test_logprobs(void **state) {
    (void)state;
    json_t *j = post_json("/v3/chat/completions",
                          "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":8,"
                          "\"temperature\":0,\"ignore_eos\":true,\"logprobs\":true,\"top_logprobs\":3}",
                          200);
    json_t *c = json_array_get(json_object_get(j, "choices"), 0);
    json_t *content = json_object_get(json_object_get(c, "logprobs"), "content");
    assert_int_equal(json_array_size(content), 8);
    lm_buf joined = {0};
    for (size_t i = 0; i < 8; i++) {
        json_t *e = json_array_get(content, i);
        double lp = json_real_value(json_object_get(e, "logprob"));
        assert_true(lp <= 0.0);
        json_t *top = json_object_get(e, "top_logprobs");
        assert_int_equal(json_array_size(top), 3);
        /* greedy: the chosen token is the most likely one */
        assert_true(fabs(json_real_value(json_object_get(json_array_get(top, 0), "logprob")) - lp) < 1e-4);
        assert_true(json_is_array(json_object_get(e, "bytes")));
        buf_append_str(&joined, json_string_value(json_object_get(e, "token")));
    }
    assert_string_equal(buf_cstr(&joined), json_string_value(json_object_get(json_object_get(c, "message"), "content")));
    buf_fini(&joined);
    json_decref(j);

    /* streamed: each text chunk carries its tokens' logprobs */
    json_t *ev = post_stream("/v3/completions", "{\"model\":\"demo\",\"prompt\":\"Once\",\"max_tokens\":6,"
                                                "\"temperature\":0,\"ignore_eos\":true,\"logprobs\":2,\"stream\":true}");
    size_t n_tokens = 0, i;
    json_t *e;
    json_array_foreach(ev, i, e) {
        json_t *lp = json_object_get(json_array_get(json_object_get(e, "choices"), 0), "logprobs");
        if (!json_is_object(lp)) continue;
        size_t k = json_array_size(json_object_get(lp, "tokens"));
        assert_int_equal(json_array_size(json_object_get(lp, "token_logprobs")), k);
        assert_int_equal(json_array_size(json_object_get(lp, "top_logprobs")), k);
        assert_int_equal(json_array_size(json_object_get(lp, "text_offset")), k);
        n_tokens += k;
    }
    assert_int_equal(n_tokens, 6);
    json_decref(ev);
}

static void test_stop_strings(void **state) {
    (void)state;
    json_t *j = post_json("/v3/completions",
                          "{\"model\":\"demo\",\"prompt\":\"Once upon a time\",\"max_tokens\":30,\"temperature\":0,"
                          "\"ignore_eos\":true}",
                          200);
    const char *full = json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text"));
    /* stop at a word in the middle of the greedy continuation */
    size_t len = strlen(full);
    assert_true(len > 12);
    char stop[8];
    memcpy(stop, full + len / 2, 4);
    stop[4] = '\0';
    const char *at = strstr(full, stop);
    size_t prefix = (size_t)(at - full);
    for (int keep = 0; keep < 2; keep++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"model\":\"demo\",\"prompt\":\"Once upon a time\",\"max_tokens\":30,\"temperature\":0,"
                 "\"ignore_eos\":true,\"stop\":[\"zzzz\",\"%s\"],\"include_stop_str_in_output\":%s}",
                 stop, keep ? "true" : "false");
        json_t *s = post_json("/v3/completions", body, 200);
        json_t *c = json_array_get(json_object_get(s, "choices"), 0);
        const char *text = json_string_value(json_object_get(c, "text"));
        assert_string_equal(json_string_value(json_object_get(c, "finish_reason")), "stop");
        assert_int_equal(strlen(text), prefix + (keep ? 4 : 0));
        assert_memory_equal(text, full, strlen(text));
        json_decref(s);
    }
    json_decref(j);
}

static void test_echo_and_token_prompts(void **state) {
    (void)state;
    json_t *j = post_json("/v3/completions",
                          "{\"model\":\"demo\",\"prompt\":\"Once upon\",\"echo\":true,\"max_tokens\":4,\"temperature\":0}",
                          200);
    const char *t = json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text"));
    assert_true(strncmp(t, "Once upon", 9) == 0 && strlen(t) > 9);
    json_decref(j);

    json_t *tk = post_json("/v3/tokenize", "{\"model\":\"demo\",\"text\":\"Once upon\"}", 200);
    json_t *ids = json_object_get(tk, "tokens");
    assert_true(json_array_size(ids) >= 2);
    char *ids_text = json_dumps(ids, JSON_COMPACT);
    char body[512];
    snprintf(body, sizeof body, "{\"model\":\"demo\",\"prompt\":%s,\"max_tokens\":4,\"temperature\":0}", ids_text);
    free(ids_text);
    json_t *a = post_json("/v3/completions", body, 200);
    json_t *b = post_json("/v3/completions", "{\"model\":\"demo\",\"prompt\":\"Once upon\",\"max_tokens\":4,\"temperature\":0}",
                          200);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(a, "choices"), 0), "text")),
                        json_string_value(json_object_get(json_array_get(json_object_get(b, "choices"), 0), "text")));
    json_decref(a);
    json_decref(b);
    json_decref(tk);

    tk = post_json("/v3/tokenize", "{\"model\":\"demo\",\"text\":[\"a b\",\"c\"],\"add_special_tokens\":false}", 200);
    assert_int_equal(json_array_size(json_object_get(tk, "tokens")), 2);
    assert_true(json_is_array(json_array_get(json_object_get(tk, "tokens"), 0)));
    json_decref(tk);
}

/* ---------------------------------------------------------------- errors */

static void test_errors(void **state) {
    (void)state;
    static const struct {
        const char *path, *body;
        int status;
        const char *param, *needle;
    } cases[] = {
        {"/v3/completions", "{\"model\":\"demo\",\"prompt\":\"x\",\"temperature\":5}", 400, "temperature", "out of range"},
        {"/v3/completions", "{\"model\":\"demo\",\"prompt\":\"x\",\"max_tokens\":\"ten\"}", 400, "max_tokens", "unsigned"},
        {"/v3/completions", "{\"model\":\"demo\",\"prompt\":\"x\",", 400, NULL, "invalid JSON at byte"},
        {"/v3/completions", "", 400, NULL, "empty"},
        {"/v3/completions", "{\"model\":\"nope\",\"prompt\":\"x\"}", 404, "model", "nope"},
        {"/v3/completions", "{\"model\":\"demo\",\"prompt\":[999999]}", 400, "prompt", "outside the vocabulary"},
        {"/v3/chat/completions", "{\"model\":\"demo\",\"messages\":[]}", 400, "messages", "cannot be empty"},
        {"/v3/chat/completions", "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                                 "\"response_format\":{\"type\":\"json_object\"}}", 400, "response_format", "not supported yet"},
        {"/v3/chat/completions", "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":0}", 400,
         "n", "greater than 0"},
        {"/v3/tokenize", "{\"model\":\"demo\"}", 400, "text", "required"},
        {"/v3/tokenize", "{\"model\":\"zz\",\"text\":\"a\"}", 404, "model", "zz"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = post_json(cases[i].path, cases[i].body, cases[i].status);
        expect_error(j, cases[i].param, cases[i].needle);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                            cases[i].status >= 500 ? "server_error" : "invalid_request_error");
        json_decref(j);
    }

    /* a prompt longer than the model accepts: both numbers in the message */
    lm_buf body = {0};
    buf_append_str(&body, "{\"model\":\"demo\",\"prompt\":\"");
    for (int i = 0; i < 400; i++) buf_append_str(&body, "Once upon a time ");
    buf_append_str(&body, "\"}");
    json_t *j = post_json("/v3/completions", buf_cstr(&body), 400);
    expect_error(j, "prompt", "tokens");
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    int a = 0, b = 0;
    for (const char *p = msg; *p; p++)
        if (*p >= '0' && *p <= '9' && (p == msg || p[-1] < '0' || p[-1] > '9')) (a ? (b = atoi(p)) : (a = atoi(p)));
    assert_true(a > b && b > 0);
    json_decref(j);
    buf_fini(&body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_endpoints),
        cmocka_unit_test(test_unary_completion),
        cmocka_unit_test(test_unary_chat),
        cmocka_unit_test(test_stream_framing_and_equality),
        cmocka_unit_test(test_n_samples),
        cmocka_unit_test(test_logprobs),
        cmocka_unit_test(test_stop_strings),
        cmocka_unit_test(test_echo_and_token_prompts),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
