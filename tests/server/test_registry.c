/* tests/server/test_registry.c — several models at once (src/server/registry.c), served from an
 * OVMS config.json with graph.pbtxt files: listing and status of each, names with '/', requests
 * routed to the right model, interleaved streams, and a graph's max_tokens_limit/best_of_limit. */
#include "srvtest.h"

#include <stdarg.h>
#include <sys/stat.h>

static st_server srv;
static char dir[256];

static void put(const char *rel, const char *fmt, ...) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0755);
    *slash = '/';
    FILE *f = fopen(path, "w");
    if (!f) fail_msg("cannot write %s", path);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

#define GRAPH(opts)                                                                                   \
    "input_stream: \"HTTP_REQUEST_PAYLOAD:input\"\n"                                                  \
    "output_stream: \"HTTP_RESPONSE_PAYLOAD:output\"\n"                                               \
    "node: {\n"                                                                                       \
    "  name: \"LLMExecutor\"\n"                                                                       \
    "  calculator: \"HttpLLMCalculator\"\n"                                                           \
    "  input_side_packet: \"LLM_NODE_RESOURCES:llm\"\n"                                               \
    "  node_options: {\n"                                                                             \
    "    [type.googleapis.com / mediapipe.LLMCalculatorOptions]: {\n" opts "    }\n"                   \
    "  }\n"                                                                                           \
    "}\n"

static int setup(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/lmserve-registry-%d", (int)getpid());
    mkdir(dir, 0755);
    put("config.json",
        "{\"model_config_list\": [\n"
        "  {\"config\": {\"name\": \"story-a\", \"base_path\": \"a\"}},\n"
        "  {\"config\": {\"name\": \"org/story-b\", \"base_path\": \"b\"}},\n"
        "  {\"config\": {\"name\": \"strict\", \"base_path\": \"c\"}}\n"
        "]}\n");
    put("a/graph.pbtxt", GRAPH("      models_path: \"%s\"\n"), lmtest_demo_model());
    put("b/graph.pbtxt", GRAPH("      models_path: \"%s\"\n      max_tokens_limit: 5\n      best_of_limit: 2\n"),
        lmtest_demo_model());
    /* a model whose chat template refuses system messages: the demo weights next to it */
    put("c/chat_template.jinja",
        "{%%- for m in messages -%%}{%%- if m['role'] == 'system' -%%}"
        "{{ raise_exception('System role not supported') }}{%%- endif -%%}{{ m['content'] }}{%%- endfor -%%}");
    put("c/graph.pbtxt", GRAPH("      models_path: \"stories260K.gguf\"\n"));
    char link[512];
    snprintf(link, sizeof link, "%s/c/stories260K.gguf", dir);
    if (symlink(lmtest_demo_model(), link) != 0) fail_msg("symlink %s", link);
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    const char *extra[] = {"--config_path", cfg, NULL};
    return st_server_start(&srv, extra);
}

static int teardown(void **state) {
    (void)state;
    int rc = st_server_stop(&srv, SIGTERM, 20000, NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (rc == 0) unlink(srv.log);
    return rc;
}

static json_t *request(const char *method, const char *path, const char *body, int want) {
    st_resp r = {0};
    if (st_request(srv.port, method, path, body, NULL, &r) != 0) fail_msg("%s %s: no response", method, path);
    if (r.status != want) fail_msg("%s %s: %d, want %d: %s", method, path, r.status, want, buf_cstr(&r.body));
    json_t *j = r.body.len ? st_json(&r) : NULL;
    st_resp_fini(&r);
    return j;
}

static void test_both_models_listed(void **state) {
    (void)state;
    json_t *m = request("GET", "/v3/models", NULL, 200);
    json_t *data = json_object_get(m, "data");
    assert_int_equal(json_array_size(data), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(data, 0), "id")), "story-a");
    assert_string_equal(json_string_value(json_object_get(json_array_get(data, 1), "id")), "org/story-b");
    json_decref(m);
    json_t *one = request("GET", "/v3/models/org/story-b", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(one, "id")), "org/story-b");
    json_decref(one);
    json_t *cfg = request("GET", "/v1/config", NULL, 200);
    assert_int_equal(json_object_size(cfg), 3);
    json_t *b = json_array_get(json_object_get(json_object_get(cfg, "org/story-b"), "model_version_status"), 0);
    assert_string_equal(json_string_value(json_object_get(b, "state")), "AVAILABLE");
    json_decref(cfg);
    json_decref(request("GET", "/v2/models/org/story-b/ready", NULL, 200));
    json_decref(request("GET", "/v2/models/story-a/ready", NULL, 200));
    json_decref(request("GET", "/v2/models/demo/ready", NULL, 404));
}

static void test_requests_reach_their_model(void **state) {
    (void)state;
    /* both serve the same weights: the same greedy text, each under its own name */
    json_t *a = request("POST", "/v3/completions",
                        "{\"model\":\"story-a\",\"prompt\":\"Once\",\"max_tokens\":5,\"temperature\":0,\"ignore_eos\":true}", 200);
    json_t *b = request("POST", "/v3/completions",
                        "{\"model\":\"org/story-b\",\"prompt\":\"Once\",\"temperature\":0,\"ignore_eos\":true}", 200);
    assert_string_equal(json_string_value(json_object_get(a, "model")), "story-a");
    assert_string_equal(json_string_value(json_object_get(b, "model")), "org/story-b");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(a, "choices"), 0), "text")),
                        json_string_value(json_object_get(json_array_get(json_object_get(b, "choices"), 0), "text")));
    /* story-b's graph: max_tokens defaults to its max_tokens_limit */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "usage"), "completion_tokens")), 5);
    json_decref(a);
    json_decref(b);
    json_t *e = request("POST", "/v3/completions", "{\"model\":\"demo\",\"prompt\":\"Once\"}", 404);
    json_decref(e);
}

static void test_graph_limits(void **state) {
    (void)state;
    json_t *e = request("POST", "/v3/completions", "{\"model\":\"org/story-b\",\"prompt\":\"Once\",\"max_tokens\":6}", 400);
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(e, "error"), "message")),
                           "max_tokens exceeds limit provided in graph config: 5"));
    json_decref(e);
    e = request("POST", "/v3/completions", "{\"model\":\"org/story-b\",\"prompt\":\"Once\",\"n\":3}", 400);
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "error"), "param")), "n");
    json_decref(e);
    json_t *ok = request("POST", "/v3/completions", "{\"model\":\"org/story-b\",\"prompt\":\"Once\",\"n\":2}", 200);
    json_decref(ok);
    /* story-a has no limits beyond the defaults */
    ok = request("POST", "/v3/completions", "{\"model\":\"story-a\",\"prompt\":\"Once\",\"max_tokens\":6,\"n\":3}", 200);
    json_decref(ok);
}

static void test_template_errors_are_400(void **state) {
    (void)state;
    json_t *e = request("POST", "/v3/chat/completions",
                        "{\"model\":\"strict\",\"messages\":[{\"role\":\"system\",\"content\":\"x\"},"
                        "{\"role\":\"user\",\"content\":\"hi\"}]}",
                        400);
    json_t *err = json_object_get(e, "error");
    assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "System role not supported"));
    assert_string_equal(json_string_value(json_object_get(err, "param")), "messages");
    assert_string_equal(json_string_value(json_object_get(err, "type")), "invalid_request_error");
    json_decref(e);
    /* streamed requests fail the same way, before any event */
    e = request("POST", "/v3/chat/completions",
                "{\"model\":\"strict\",\"stream\":true,\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}", 400);
    json_decref(e);
    json_t *ok = request("POST", "/v3/chat/completions",
                         "{\"model\":\"strict\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 200);
    json_decref(ok);
}

static void test_interleaved_streams(void **state) {
    (void)state;
    const char *models[] = {"story-a", "org/story-b"};
    int fds[8];
    lm_buf raw[8];
    for (int i = 0; i < 8; i++) {
        memset(&raw[i], 0, sizeof raw[i]);
        char body[256], req[512];
        snprintf(body, sizeof body,
                 "{\"model\":\"%s\",\"prompt\":\"The cat\",\"max_tokens\":5,\"seed\":%d,\"stream\":true}", models[i % 2], i);
        snprintf(req, sizeof req, "POST /v3/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                 strlen(body), body);
        fds[i] = st_connect(srv.port);
        assert_int_equal(st_send(fds[i], req, strlen(req)), 0);
    }
    for (int i = 0; i < 8; i++) {
        while (st_recv_some(fds[i], &raw[i], 30000) > 0) {
        }
        close(fds[i]);
        st_resp r = {0};
        assert_true(st_parse(raw[i].data, raw[i].len, 1, &r) > 0);
        assert_int_equal(r.status, 200);
        json_t *ev = st_sse_events(r.body.data, r.body.len);
        assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "model")), models[i % 2]);
        /* the same text as that model's unary answer */
        char body[256];
        snprintf(body, sizeof body, "{\"model\":\"%s\",\"prompt\":\"The cat\",\"max_tokens\":5,\"seed\":%d}", models[i % 2], i);
        json_t *u = request("POST", "/v3/completions", body, 200);
        lm_buf got = {0};
        st_stream_text(ev, 0, &got);
        assert_string_equal(buf_cstr(&got),
                            json_string_value(json_object_get(json_array_get(json_object_get(u, "choices"), 0), "text")));
        buf_fini(&got);
        json_decref(u);
        json_decref(ev);
        st_resp_fini(&r);
        buf_fini(&raw[i]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_models_listed),
        cmocka_unit_test(test_requests_reach_their_model),
        cmocka_unit_test(test_graph_limits),
        cmocka_unit_test(test_template_errors_are_400),
        cmocka_unit_test(test_interleaved_streams),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
