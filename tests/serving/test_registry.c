/* tests/serving/test_registry.c — several models at once (src/serving/registry.c), served from an
 * OVMS config.json with graph.pbtxt files: listing and status of each, names with '/', requests
 * routed to the right model, interleaved streams, and a graph's max_tokens_limit/best_of_limit.
 * A second group drives registry_sync() in-process (live reload): models added, removed while a
 * finder still holds them, changed, failing, pending, superseded. */
#include "server/srvtest.h"

#include "serving/registry.h"

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

/* ---------------------------------------------------------------- registry_sync, in-process */

static registry_model demo_model(const char *name) {
    registry_model m;
    memset(&m, 0, sizeof m);
    m.cfg.name = name;
    m.cfg.path = lmtest_demo_model();
    m.cfg.max_num_seqs = 4;
    m.cfg.n_ctx = 128;
    return m;
}

static registry_info info_of(registry *r, const char *name) {
    registry_info info;
    for (size_t i = 0; registry_info_at(r, i, &info) == 0; i++)
        if (strcmp(info.name, name) == 0) return info;
    fail_msg("no model '%s' in the registry", name);
    return info;
}

static void sync_ok(registry *r, const registry_model *m, size_t n, int want_changed) {
    lm_error err;
    err_clear(&err);
    int changed = -1;
    if (registry_sync(r, m, n, &changed, &err) != LM_OK) fail_msg("sync: %s", err.msg);
    assert_int_equal(changed, want_changed);
}

/* Runs a short request on sv to its end. */
static gen_finish generate(servable *sv) {
    static const int32_t prompt[] = {1, 403, 407};
    gen_params p = gen_params_default();
    p.prompt = prompt;
    p.n_prompt = 3;
    p.max_tokens = 4;
    gen_request *g = NULL;
    lm_error err;
    err_clear(&err);
    if (gen_submit(sv, &p, &g, &err) != LM_OK) fail_msg("submit: %s", err.msg);
    gen_finish fin = GEN_FINISH_NONE;
    while (fin == GEN_FINISH_NONE) {
        gen_chunk c = {0};
        if (!gen_poll(g, &c, 10000)) fail_msg("no output");
        fin = c.finish;
        gen_chunk_fini(&c);
    }
    gen_release(g);
    return fin;
}

static void test_sync_add_remove(void **state) {
    (void)state;
    registry *r = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(registry_create(&r, &err), LM_OK);
    registry_model a = demo_model("a");
    sync_ok(r, &a, 1, 1);
    assert_int_equal(registry_wait_settled(r, 20000), 1);
    assert_int_equal(info_of(r, "a").state, SERVABLE_AVAILABLE);
    assert_true(registry_all_ready(r));
    sync_ok(r, &a, 1, 0); /* same again: nothing to do */

    /* removed while a finder holds it: UNLOADING until released, and it still works meanwhile */
    int st = -1;
    servable *sv = registry_find(r, "a", &st, NULL);
    assert_non_null(sv);
    sync_ok(r, NULL, 0, 1);
    assert_int_equal(info_of(r, "a").state, SERVABLE_UNLOADING);
    assert_null(registry_find(r, "a", &st, NULL));
    assert_int_equal(st, SERVABLE_UNLOADING);
    assert_int_equal(registry_wait_settled(r, 100), 0);
    assert_int_equal(generate(sv), GEN_FINISH_LENGTH);
    servable_release(sv);
    assert_int_equal(registry_wait_settled(r, 20000), 1);
    assert_int_equal(info_of(r, "a").state, SERVABLE_END);
    assert_false(registry_all_ready(r)); /* nothing listed */

    /* back again */
    sync_ok(r, &a, 1, 1);
    assert_int_equal(registry_wait_settled(r, 20000), 1);
    assert_int_equal(info_of(r, "a").state, SERVABLE_AVAILABLE);
    assert_int_equal(registry_count(r), 1);

    /* a duplicate name changes nothing */
    registry_model two[2] = {demo_model("a"), demo_model("a")};
    err_clear(&err);
    assert_int_equal(registry_sync(r, two, 2, NULL, &err), LM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'a' is used twice"));
    assert_int_equal(info_of(r, "a").state, SERVABLE_AVAILABLE);
    registry_destroy(r);
}

static void test_sync_change(void **state) {
    (void)state;
    registry *r = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(registry_create(&r, &err), LM_OK);
    registry_model a = demo_model("a");
    assert_int_equal(registry_add(r, &a, &err), LM_OK);
    assert_int_equal(registry_load_all(r, &err), LM_OK);
    servable *old = registry_find(r, "a", NULL, NULL);
    assert_non_null(old);

    /* request limits alone: applied at once, no load */
    a.max_tokens_limit = 5;
    sync_ok(r, &a, 1, 1);
    assert_int_equal(registry_wait_settled(r, 0), 1);
    registry_model lim;
    servable *same = registry_find(r, "a", NULL, &lim);
    assert_ptr_equal(same, old);
    assert_int_equal(lim.max_tokens_limit, 5);
    servable_release(same);

    /* a servable option: loaded again while the old one serves, then swapped */
    a.cfg.max_num_seqs = 2;
    sync_ok(r, &a, 1, 1);
    assert_int_equal(info_of(r, "a").state, SERVABLE_AVAILABLE);
    assert_int_equal(registry_wait_settled(r, 100), 0); /* the old one is still held */
    servable_release(old);
    assert_int_equal(registry_wait_settled(r, 20000), 1);
    servable *now = registry_find(r, "a", NULL, &lim);
    assert_non_null(now);
    assert_int_equal(lim.cfg.max_num_seqs, 2);
    assert_int_equal(generate(now), GEN_FINISH_LENGTH);
    servable_release(now);

    /* changed twice in a row: the second wins, the first load is dropped */
    a.cfg.max_num_seqs = 3;
    sync_ok(r, &a, 1, 1);
    a.cfg.max_num_seqs = 1;
    sync_ok(r, &a, 1, 1);
    assert_int_equal(registry_wait_settled(r, 20000), 1);
    servable_release(registry_find(r, "a", NULL, &lim));
    assert_int_equal(lim.cfg.max_num_seqs, 1);
    assert_int_equal(info_of(r, "a").state, SERVABLE_AVAILABLE);
    registry_destroy(r);
}

static void test_sync_failures_and_pending(void **state) {
    (void)state;
    char bogus[128];
    snprintf(bogus, sizeof bogus, "/tmp/lmserve-registry-bogus-%d.gguf", (int)getpid());
    FILE *f = fopen(bogus, "w");
    assert_non_null(f);
    fputs("not a model", f);
    fclose(f);
    registry *r = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(registry_create(&r, &err), LM_OK);

    /* pending (being downloaded): LOADING, then failed with the reason, then loaded */
    assert_int_equal(registry_add_pending(r, "p", &err), LM_OK);
    assert_int_equal(registry_add_pending(r, "p", &err), LM_ERR_INVALID);
    assert_int_equal(info_of(r, "p").state, SERVABLE_LOADING);
    assert_false(registry_all_ready(r));
    registry_fail(r, "p", "the hub said no");
    assert_true(info_of(r, "p").failed);
    assert_string_equal(info_of(r, "p").error, "the hub said no");

    registry_model m[2] = {demo_model("p"), demo_model("bad")};
    m[1].cfg.path = bogus;
    sync_ok(r, m, 2, 1);
    assert_int_equal(registry_wait_settled(r, 20000), 1);
    registry_info p = info_of(r, "p"), b = info_of(r, "bad");
    assert_int_equal(p.state, SERVABLE_AVAILABLE);
    assert_false(p.failed);
    assert_string_equal(p.error, "");
    assert_int_equal(b.state, SERVABLE_LOADING);
    assert_true(b.failed);
    assert_true(strlen(b.error) > 0);
    assert_false(registry_all_ready(r));
    int st = -1;
    assert_null(registry_find(r, "bad", &st, NULL));
    assert_int_equal(st, SERVABLE_LOADING);

    /* a failed model is tried again on the next sync; removing it ends it */
    sync_ok(r, m, 2, 1);
    assert_int_equal(registry_wait_settled(r, 20000), 1);
    assert_true(info_of(r, "bad").failed);
    sync_ok(r, m, 1, 1);
    b = info_of(r, "bad");
    assert_int_equal(b.state, SERVABLE_END);
    assert_false(b.failed);
    assert_true(registry_all_ready(r));
    registry_destroy(r);
    unlink(bogus);
}

/* Start-up: a model that fails to load is reported, and every other model serves. Only when none
 * loads does registry_load_all fail. */
static void test_load_all_failure_spares_others(void **state) {
    (void)state;
    char bad[] = "/tmp/lmtest_registry_bad_XXXXXX";
    int fd = mkstemp(bad);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a model", 11), 11);
    close(fd);
    registry *r = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(registry_create(&r, &err), LM_OK);
    registry_model a = demo_model("a"), b = demo_model("broken"), c = demo_model("c");
    b.cfg.path = bad;
    assert_int_equal(registry_add(r, &a, &err), LM_OK);
    assert_int_equal(registry_add(r, &b, &err), LM_OK);
    assert_int_equal(registry_add(r, &c, &err), LM_OK);
    assert_int_equal(registry_load_all(r, &err), LM_OK);
    assert_int_equal(err.code, LM_OK);
    assert_int_equal(info_of(r, "a").state, SERVABLE_AVAILABLE);
    assert_int_equal(info_of(r, "c").state, SERVABLE_AVAILABLE);
    registry_info info = info_of(r, "broken");
    assert_int_equal(info.state, SERVABLE_LOADING);
    assert_true(info.failed);
    assert_non_null(info.error);
    registry_destroy(r);

    /* nothing loads: the first failure, naming the model and its file */
    assert_int_equal(registry_create(&r, &err), LM_OK);
    assert_int_equal(registry_add(r, &b, &err), LM_OK);
    assert_int_not_equal(registry_load_all(r, &err), LM_OK);
    assert_non_null(strstr(err.msg, "'broken'"));
    assert_non_null(strstr(err.msg, bad));
    registry_destroy(r);
    unlink(bad);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_models_listed),
        cmocka_unit_test(test_requests_reach_their_model),
        cmocka_unit_test(test_graph_limits),
        cmocka_unit_test(test_template_errors_are_400),
        cmocka_unit_test(test_interleaved_streams),
    };
    const struct CMUnitTest sync_tests[] = {
        cmocka_unit_test(test_sync_add_remove),
        cmocka_unit_test(test_sync_change),
        cmocka_unit_test(test_sync_failures_and_pending),
        cmocka_unit_test(test_load_all_failure_spares_others),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    return failed + cmocka_run_group_tests(sync_tests, NULL, NULL);
}
