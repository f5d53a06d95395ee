/* tests/repo/test_reload.c — the served models changing while lmserve runs (src/repo/reload.c),
 * through the binary over loopback, and the seed demo's flow end to end against the local fake
 * hub (tests/repo/fake_hub.py) with the bundled demo model published there as a Hugging
 * Face-style repository (org/demo: the GGUF, chat_template.jinja, config.json, README.md):
 *   - pull (task inferred from config.json), add_to_config, serve --config_path, /v1/config
 *     shows AVAILABLE, a chat request answers;
 *   - --source_model without --pull: live and LOADING during a (slowed) download, then serving;
 *     a repository that does not exist ends the server with exit code 1;
 *   - config.json reload: a model added while serving loads and serves while the other keeps
 *     answering; a request in flight on a removed model finishes normally, then the model is
 *     END; a broken config.json changes nothing and the reload endpoint answers the error; a
 *     model that cannot load is FAILED_PRECONDITION with the reason; a changed graph applies.
 * Every wait is bounded; nothing leaves 127.0.0.1. */
#include "server/srvtest.h" /* first: its locals would shadow the fixture's globals */
#include "hub_fixture.h"

#include <stdarg.h>

/* ---------------------------------------------------------------- helpers */

/* The server of the running test; teardown kills it if a failed assertion left it running. */
static st_server srv;

static void put_file(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_file(const char *path, const char *fmt, ...) {
    char tmp_path[1100];
    setf(tmp_path, sizeof tmp_path, "%s.tmp", path);
    FILE *f = fopen(tmp_path, "w");
    if (!f) fail_msg("cannot write %s", tmp_path);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    if (rename(tmp_path, path) != 0) fail_msg("cannot rename %s", tmp_path);
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

/* GET/POST and parse the JSON body; *status gets the HTTP status. */
static json_t *call(int port, const char *method, const char *path, const char *body, int *status) {
    st_resp r = {0};
    if (st_request(port, method, path, body, NULL, &r) != 0) fail_msg("%s %s: no response", method, path);
    *status = r.status;
    json_t *j = r.body.len ? st_json(&r) : json_object();
    st_resp_fini(&r);
    return j;
}

/* The state and error_code of `name` in /v1/config ("" when absent). */
static void model_state(int port, const char *name, char *state, size_t scap, char *code, size_t ccap,
                        char *msg, size_t mcap) {
    int status;
    json_t *j = call(port, "GET", "/v1/config", NULL, &status);
    assert_int_equal(status, 200);
    json_t *v = json_array_get(json_object_get(json_object_get(j, name), "model_version_status"), 0);
    const char *s = json_string_value(json_object_get(v, "state"));
    json_t *st = json_object_get(v, "status");
    const char *c = json_string_value(json_object_get(st, "error_code"));
    const char *m = json_string_value(json_object_get(st, "error_message"));
    setf(state, scap, "%s", s ? s : "");
    if (code) setf(code, ccap, "%s", c ? c : "");
    if (msg) setf(msg, mcap, "%s", m ? m : "");
    json_decref(j);
}

/* Waits up to timeout_ms for `name` to reach `want` in /v1/config. */
static void wait_state(int port, const char *name, const char *want, int timeout_ms) {
    char state[64] = "";
    int64_t deadline = st_now_ms() + timeout_ms;
    while (st_now_ms() < deadline) {
        model_state(port, name, state, sizeof state, NULL, 0, NULL, 0);
        if (strcmp(state, want) == 0) return;
        st_sleep_ms(50);
    }
    fail_msg("model '%s' is '%s', not '%s', after %d ms", name, state, want, timeout_ms);
}

/* A completion request to `model`; returns the status. */
static int complete(int port, const char *model, int max_tokens) {
    char body[256];
    setf(body, sizeof body, "{\"model\":\"%s\",\"prompt\":\"Once upon a time\",\"max_tokens\":%d,\"temperature\":0}", model,
         max_tokens);
    st_resp r = {0};
    if (st_request(port, "POST", "/v3/completions", body, NULL, &r) != 0) fail_msg("completion: no response");
    int status = r.status;
    st_resp_fini(&r);
    return status;
}

/* Starts LM_BIN like st_server_start(), without waiting for anything. */
static void spawn(st_server *s, const char *const *extra) {
    const char *bin = getenv("LM_BIN");
    if (!bin) fail_msg("LM_BIN is not set (run through ctest)");
    s->port = st_free_port();
    snprintf(s->log, sizeof s->log, "/tmp/lmserve-test-%d-%d.log", (int)getpid(), s->port);
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    const char *argv[32] = {bin, "--rest_port", port, "--rest_bind_address", "127.0.0.1", "--log_level", "DEBUG"};
    int argc = 7;
    for (int i = 0; extra[i] && argc < 31; i++) argv[argc++] = extra[i];
    argv[argc] = NULL;
    s->pid = fork();
    if (s->pid == 0) {
        int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 2);
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) dup2(nul, 1), dup2(nul, 0);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
}

/* Starts LM_BIN and waits only until /v2/health/live answers. */
static void start_live(st_server *s, const char *const *extra) {
    spawn(s, extra);
    int64_t deadline = st_now_ms() + 20000;
    while (st_now_ms() < deadline) {
        st_resp r = {0};
        int ok = st_request(s->port, "GET", "/v2/health/live", NULL, NULL, &r) == 0 && r.status == 200;
        st_resp_fini(&r);
        if (ok) return;
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) fail_msg("lmserve exited (see %s)", s->log);
        st_sleep_ms(20);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    fail_msg("lmserve did not answer /v2/health/live (see %s)", s->log);
}

/* Waits up to timeout_ms for the server to exit by itself; returns its exit code. */
static int wait_exit(st_server *s, int timeout_ms) {
    int64_t deadline = st_now_ms() + timeout_ms;
    int status = 0;
    while (waitpid(s->pid, &status, WNOHANG) != s->pid) {
        if (st_now_ms() > deadline) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            fail_msg("lmserve did not exit within %d ms (see %s)", timeout_ms, s->log);
        }
        st_sleep_ms(20);
    }
    s->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int kill_server(void **state) {
    (void)state;
    if (srv.pid > 0) {
        kill(srv.pid, SIGKILL);
        waitpid(srv.pid, NULL, 0);
        srv.pid = 0;
    }
    return 0;
}

static int run_lmserve(const char *args, char *out, size_t cap) {
    char cmd[4096];
    setf(cmd, sizeof cmd, "HF_ENDPOINT='%s' '%s' %s 2>&1 </dev/null", endpoint, getenv("LM_BIN"), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Files under dir whose name ends in .part or starts with ".graph" (left by an interrupted run),
 * one per line in out; returns how many. */
static int stray_files(const char *dir, char *out, size_t cap) {
    char cmd[1200];
    setf(cmd, sizeof cmd, "find '%s' -name '*.part' -o -name '.graph*' -o -name '*.tmp*'", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    pclose(p);
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += out[i] == '\n';
    return lines;
}

/* Publishes the bundled demo model on the fake hub as org/demo, and a BERT-like org/embed. */
static int setup(void **state) {
    if (group_setup(state) != 0) return -1;
    signal(SIGPIPE, SIG_IGN);
    sh("mkdir -p '%s/org/demo' '%s/org/embed'", root, root);
    sh("cp '%s/models/demo/stories260K.gguf' '%s/models/demo/chat_template.jinja' '%s/org/demo/'", LM_SOURCE_DIR,
       LM_SOURCE_DIR, root);
    char p[1024];
    setf(p, sizeof p, "%s/org/demo/config.json", root);
    put_file(p, "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\"}\n");
    setf(p, sizeof p, "%s/org/demo/README.md", root);
    put_file(p, "---\nlicense: mit\n---\n# stories260K\nA tiny llama trained on TinyStories.\n");
    setf(p, sizeof p, "%s/org/embed/config.json", root);
    put_file(p, "{\"architectures\": [\"BertModel\"], \"model_type\": \"bert\"}\n");
    unsigned char *w = pattern(5000, 30);
    setf(p, sizeof p, "%s/org/embed/model.safetensors", root);
    write_file(p, w, 5000);
    free(w);
    return 0;
}

/* ---------------------------------------------------------------- the seed demo's flow */

static void test_demo_flow(void **state) {
    (void)state;
    char out[8192], args[4096];
    /* pull without --task: config.json says LlamaForCausalLM */
    setf(args, sizeof args, "--pull --source_model org/demo --model_repository_path '%s'", dest);
    int rc = run_lmserve(args, out, sizeof out);
    if (rc != 0) fail_msg("pull: rc %d: %s", rc, out);
    assert_non_null(strstr(out, "Model: org/demo downloaded to: "));
    assert_non_null(strstr(out, "Graph: graph.pbtxt created in: "));
    char a[1200], b[1200];
    setf(a, sizeof a, "%s/org/demo/stories260K.gguf", dest);
    setf(b, sizeof b, "%s/org/demo/stories260K.gguf", root);
    assert_same_file(a, b);
    setf(args, sizeof args, "--add_to_config --config_path '%s/config.json' --model_name org/demo --model_path org/demo",
         dest);
    rc = run_lmserve(args, out, sizeof out);
    if (rc != 0) fail_msg("add_to_config: rc %d: %s", rc, out);

    char cfg[1200];
    setf(cfg, sizeof cfg, "%s/config.json", dest);
    const char *extra[] = {"--config_path", cfg, NULL};
    st_server_start(&srv, extra);
    char st[64];
    model_state(srv.port, "org/demo", st, sizeof st, NULL, 0, NULL, 0);
    assert_string_equal(st, "AVAILABLE");
    int status;
    json_t *j = call(srv.port, "POST", "/v3/chat/completions",
                     "{\"model\":\"org/demo\",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}],"
                     "\"max_tokens\":16,\"temperature\":0}",
                     &status);
    assert_int_equal(status, 200);
    json_t *msg = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
    assert_string_equal(json_string_value(json_object_get(msg, "role")), "assistant");
    const char *content = json_string_value(json_object_get(msg, "content"));
    assert_non_null(content);
    assert_true(strlen(content) > 0);
    json_decref(j);
    assert_int_equal(st_server_stop(&srv, SIGTERM, 20000, NULL), 0);
    unlink(srv.log);
}

/* A task other than text_generation, inferred from config.json, is refused before the weights
 * are fetched. */
static void test_inferred_task(void **state) {
    (void)state;
    char out[8192], args[4096];
    setf(args, sizeof args, "--pull --source_model org/embed --model_repository_path '%s'", dest);
    int rc = run_lmserve(args, out, sizeof out);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "--task embeddings (inferred from the repository): lmserve serves text_generation only"));
    assert_int_equal(log_count("model.safetensors"), 0);
}

/* ---------------------------------------------------------------- --source_model */

static void test_source_model_serves_after_download(void **state) {
    (void)state;
    setenv("HF_ENDPOINT", endpoint, 1);
    /* ~19 chunks of 64 KiB at 0.1 s each: about two seconds of download */
    set_faults("{\"faults\": [{\"path\": \"stories260K.gguf\", \"kind\": \"slow\", \"delay\": 0.1}]}");
    const char *extra[] = {"--source_model", "org/demo", "--model_repository_path", dest, NULL};
    start_live(&srv, extra);
    /* during the download: live, not ready, LOADING, requests 503 */
    int status;
    json_t *j = call(srv.port, "GET", "/v2/health/ready", NULL, &status);
    json_decref(j);
    assert_int_equal(status, 503);
    char st[64];
    model_state(srv.port, "org/demo", st, sizeof st, NULL, 0, NULL, 0);
    assert_string_equal(st, "LOADING");
    assert_int_equal(complete(srv.port, "org/demo", 4), 503);
    /* then it serves */
    wait_state(srv.port, "org/demo", "AVAILABLE", 60000);
    j = call(srv.port, "GET", "/v2/health/ready", NULL, &status);
    json_decref(j);
    assert_int_equal(status, 200);
    j = call(srv.port, "POST", "/v3/chat/completions",
             "{\"model\":\"org/demo\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":8}", &status);
    json_decref(j);
    assert_int_equal(status, 200);
    assert_int_equal(st_server_stop(&srv, SIGTERM, 20000, NULL), 0);
    char stray[4096], dir[1200];
    setf(dir, sizeof dir, "%s/org/demo", dest);
    if (stray_files(dir, stray, sizeof stray)) fail_msg("stray files:\n%s", stray);
    unlink(srv.log);

    /* again, with everything in place: nothing is downloaded */
    set_faults("{}");
    unlink(hublog);
    start_live(&srv, extra);
    wait_state(srv.port, "org/demo", "AVAILABLE", 30000);
    assert_int_equal(log_count("/resolve/"), 0);
    assert_int_equal(st_server_stop(&srv, SIGTERM, 20000, NULL), 0);
    unlink(srv.log);

    /* a repository that does not exist: the server says why and exits 1 */
    const char *none[] = {"--source_model", "org/none", "--model_repository_path", dest, NULL};
    spawn(&srv, none);
    assert_int_equal(wait_exit(&srv, 30000), 1);
    assert_int_equal(st_log_count(&srv, "lmserve: pulling org/none failed:"), 1);
    unlink(srv.log);
    unsetenv("HF_ENDPOINT");
}

/* ---------------------------------------------------------------- config.json reload */

static char cfgdir[700], cfgpath[800];

static void write_config(const char *models_json) {
    put_file(cfgpath, "{\"model_config_list\": [%s]}\n", models_json);
}

#define MODEL(name, dir) "{\"config\": {\"name\": \"" name "\", \"base_path\": \"" dir "\"}}"

/* A streamed completion on `model` left open after its first event: returns the socket. */
static int open_stream(int port, const char *model, lm_buf *raw) {
    int fd = st_connect(port);
    assert_true(fd >= 0);
    char body[256];
    setf(body, sizeof body,
         "{\"model\":\"%s\",\"prompt\":\"Once\",\"max_tokens\":100,\"ignore_eos\":true,\"stream\":true}", model);
    char req[512];
    setf(req, sizeof req, "POST /v3/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
         strlen(body), body);
    assert_int_equal(st_send(fd, req, strlen(req)), 0);
    int64_t deadline = st_now_ms() + 10000;
    while (!memmem(raw->data ? raw->data : "", raw->len, "data: ", 6) && st_now_ms() < deadline)
        st_recv_some(fd, raw, 1000);
    assert_non_null(memmem(raw->data, raw->len, "data: ", 6));
    return fd;
}

static void test_reload(void **state) {
    (void)state;
    setf(cfgdir, sizeof cfgdir, "%s/cfg", dest);
    setf(cfgpath, sizeof cfgpath, "%s/config.json", cfgdir);
    sh("mkdir -p '%s/a' '%s/b' '%s/c'", cfgdir, cfgdir, cfgdir);
    char p[1200];
    setf(p, sizeof p, "%s/a/graph.pbtxt", cfgdir);
    put_file(p, GRAPH("      models_path: \"%s\"\n"), lmtest_demo_model());
    setf(p, sizeof p, "%s/b/graph.pbtxt", cfgdir);
    put_file(p, GRAPH("      models_path: \"%s\"\n"), lmtest_demo_model());
    /* c: a model file that exists but is not a model */
    setf(p, sizeof p, "%s/c/broken.gguf", cfgdir);
    put_file(p, "GGUF but not really");
    setf(p, sizeof p, "%s/c/graph.pbtxt", cfgdir);
    put_file(p, GRAPH("      models_path: \"broken.gguf\"\n"));
    write_config(MODEL("story-a", "a"));

    const char *extra[] = {"--config_path", cfgpath, "--file_system_poll_wait_seconds", "1", NULL};
    st_server_start(&srv, extra);

    /* added while serving: loads in the background, story-a keeps answering */
    write_config(MODEL("story-a", "a") "," MODEL("story-b", "b"));
    char st[64] = "";
    int64_t deadline = st_now_ms() + 20000;
    int answered = 0;
    while (st_now_ms() < deadline) {
        assert_int_equal(complete(srv.port, "story-a", 4), 200);
        answered++;
        model_state(srv.port, "story-b", st, sizeof st, NULL, 0, NULL, 0);
        if (strcmp(st, "AVAILABLE") == 0) break;
        st_sleep_ms(50);
    }
    assert_string_equal(st, "AVAILABLE");
    assert_true(answered > 0);
    assert_int_equal(complete(srv.port, "story-b", 4), 200);
    assert_int_equal(complete(srv.port, "story-a", 4), 200);
    assert_true(st_log_count(&srv, "changed: reloading") >= 1);

    /* removed with a request in flight: the request finishes normally, then the model is END */
    lm_buf raw = {0};
    int fd = open_stream(srv.port, "story-b", &raw);
    write_config(MODEL("story-a", "a"));
    int status;
    json_t *j = call(srv.port, "POST", "/v1/config/reload", NULL, &status);
    assert_true(status == 201 || status == 200); /* 200 when the watcher was first */
    json_decref(j);
    deadline = st_now_ms() + 20000;
    while (st_now_ms() < deadline && st_recv_some(fd, &raw, 1000) > 0) {}
    close(fd);
    const char *body = memmem(raw.data, raw.len, "\r\n\r\n", 4);
    assert_non_null(body);
    assert_non_null(strstr(body, "\"finish_reason\":\"length\""));
    assert_null(strstr(body, "\"error\""));
    assert_non_null(strstr(body, "data: [DONE]"));
    buf_fini(&raw);
    wait_state(srv.port, "story-b", "END", 20000);
    assert_int_not_equal(complete(srv.port, "story-b", 4), 200);
    assert_int_equal(complete(srv.port, "story-a", 4), 200);
    j = call(srv.port, "GET", "/v2/health/ready", NULL, &status);
    json_decref(j);
    assert_int_equal(status, 200);

    /* a broken config.json changes nothing: the watcher logs why, the endpoint answers it */
    put_file(cfgpath, "{\"model_config_list\": [ {\"config\": {\"name\": \"story-a\"");
    deadline = st_now_ms() + 10000;
    while (st_now_ms() < deadline && st_log_count(&srv, "the served models did not change") < 1) st_sleep_ms(50);
    assert_int_equal(st_log_count(&srv, "the served models did not change"), 1);
    j = call(srv.port, "POST", "/v1/config/reload", NULL, &status);
    assert_int_equal(status, 400);
    const char *why = json_string_value(json_object_get(j, "error"));
    assert_non_null(why);
    assert_non_null(strstr(why, "config.json"));
    json_decref(j);
    assert_int_equal(st_log_count(&srv, "the served models did not change"), 2);
    model_state(srv.port, "story-a", st, sizeof st, NULL, 0, NULL, 0);
    assert_string_equal(st, "AVAILABLE");
    model_state(srv.port, "story-b", st, sizeof st, NULL, 0, NULL, 0);
    assert_string_equal(st, "END");
    assert_int_equal(complete(srv.port, "story-a", 4), 200);

    /* a model that cannot load: FAILED_PRECONDITION with the reason; not ready meanwhile */
    write_config(MODEL("story-a", "a") "," MODEL("story-c", "c"));
    j = call(srv.port, "POST", "/v1/config/reload", NULL, &status);
    json_decref(j);
    assert_true(status == 201 || status == 200);
    char code[64] = "", msg[600] = "";
    deadline = st_now_ms() + 20000;
    while (st_now_ms() < deadline) {
        model_state(srv.port, "story-c", st, sizeof st, code, sizeof code, msg, sizeof msg);
        if (strcmp(code, "FAILED_PRECONDITION") == 0) break;
        st_sleep_ms(50);
    }
    assert_string_equal(code, "FAILED_PRECONDITION");
    assert_string_equal(st, "LOADING");
    assert_true(strlen(msg) > 0 && strcmp(msg, "FAILED_PRECONDITION") != 0);
    j = call(srv.port, "GET", "/v2/health/ready", NULL, &status);
    json_decref(j);
    assert_int_equal(status, 503);
    assert_int_equal(complete(srv.port, "story-a", 4), 200);

    /* a changed graph applies (the watcher checks graphs too): story-a's max_tokens_limit */
    write_config(MODEL("story-a", "a"));
    setf(p, sizeof p, "%s/a/graph.pbtxt", cfgdir);
    put_file(p, GRAPH("      models_path: \"%s\"\n      max_tokens_limit: 3\n"), lmtest_demo_model());
    deadline = st_now_ms() + 20000;
    while (st_now_ms() < deadline && complete(srv.port, "story-a", 8) == 200) st_sleep_ms(100);
    assert_int_equal(complete(srv.port, "story-a", 8), 400);
    assert_int_equal(complete(srv.port, "story-a", 3), 200);
    wait_state(srv.port, "story-c", "END", 20000);
    j = call(srv.port, "GET", "/v2/health/ready", NULL, &status);
    json_decref(j);
    assert_int_equal(status, 200);

    assert_int_equal(st_server_stop(&srv, SIGTERM, 20000, NULL), 0);
    unlink(srv.log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_demo_flow, each_setup, kill_server),
        cmocka_unit_test_setup_teardown(test_inferred_task, each_setup, kill_server),
        cmocka_unit_test_setup_teardown(test_source_model_serves_after_download, each_setup, kill_server),
        cmocka_unit_test_setup_teardown(test_reload, each_setup, kill_server),
    };
    return cmocka_run_group_tests(tests, setup, group_teardown);
}
