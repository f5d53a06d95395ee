/* tests/repo/test_pull_ir.c — the OVMS NPU demo, word for word with lmserve, against a local fake
 * hub (tests/repo/fake_hub.py on 127.0.0.1) serving an OpenVINO IR folder as
 * OpenVINO/Qwen3-8B-int4-cw-ov: the pull command exactly as the demo writes it (--target_device
 * NPU, --cache_dir, --max_prompt_len ...), --add_to_config, serving the repository, /v1/config,
 * and the demo's chat and completions calls. The IR is tools/mkir.c's i4-cw variant of the qwen3
 * oracle model (written by lmserve-mkir), with a byte-level BPE tokenizer of the model's 512 ids and a tokenizer_config.json
 * carrying Hugging Face's "no limit" model_max_length, as real folders do. */
#include "server/srvtest.h" /* first: its locals would shadow the fixture's globals */
#include "hub_fixture.h"

#include "base/file.h"

static st_server srv;

static int run_in(const char *dir, const char *args, char *out, size_t cap) {
    char cmd[4096];
    setf(cmd, sizeof cmd, "cd '%s' && HF_ENDPOINT='%s' '%s' %s 2>&1 </dev/null", dir, endpoint, getenv("LM_BIN"), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* GPT-2's byte-to-character map, as UTF-8. */
static void byte_char(int b, char out[4]) {
    int cp = b;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) out[0] = (char)cp, out[1] = 0;
    else out[0] = (char)(0xC0 | cp >> 6), out[1] = (char)(0x80 | (cp & 63)), out[2] = 0;
}

/* A byte-level BPE with the 256 bytes and 256 letter-pair merges: exactly 512 ids. */
static void write_tokenizer(const char *dir) {
    json_t *vocab = json_object(), *merges = json_array();
    for (int b = 0; b < 256; b++) {
        char c[4];
        byte_char(b, c);
        json_object_set_new(vocab, c, json_integer(b));
    }
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            char tok[3] = {(char)('a' + i), (char)('a' + j), 0}, m[4] = {(char)('a' + i), ' ', (char)('a' + j), 0};
            json_object_set_new(vocab, tok, json_integer(256 + i * 16 + j));
            json_array_append_new(merges, json_string(m));
        }
    json_t *t = json_pack("{s:s, s:[], s:n, s:{s:s, s:b, s:b, s:b}, s:n, s:{s:s}, s:{s:s, s:o, s:o}}",
                          "version", "1.0", "added_tokens", "normalizer", "pre_tokenizer", "type", "ByteLevel",
                          "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 1, "post_processor", "decoder",
                          "type", "ByteLevel", "model", "type", "BPE", "vocab", vocab, "merges", merges);
    assert_non_null(t);
    char p[1200];
    setf(p, sizeof p, "%s/tokenizer.json", dir);
    assert_int_equal(json_dump_file(t, p, 0), 0);
    json_decref(t);
    /* the number every Llama 3 / Mistral folder carries: it must not cost the chat template */
    setf(p, sizeof p, "%s/tokenizer_config.json", dir);
    const char *cfg = "{\"model_max_length\": 1000000000000000019884624838656, \"chat_template\": "
                      "\"{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\\n{% endfor %}assistant:\"}";
    write_file(p, cfg, strlen(cfg));
}

static int setup(void **state) {
    if (group_setup(state) != 0) return -1;
    signal(SIGPIPE, SIG_IGN);
    char dir[1200], src[1200];
    setf(dir, sizeof dir, "%s/OpenVINO/Qwen3-8B-int4-cw-ov", root);
    sh("mkdir -p '%s/OpenVINO'", root);
    setf(src, sizeof src, "%s/oracles/qwen3-hf-f32", getenv("LM_TEST_DATA") ? getenv("LM_TEST_DATA") : LM_SOURCE_DIR "/tests/data");
    /* tools/mkir.c, built beside lmserve */
    char mkir[1200];
    setf(mkir, sizeof mkir, "%s", getenv("LM_BIN"));
    char *slash = strrchr(mkir, '/');
    if (!slash) return -1;
    setf(slash + 1, sizeof mkir - (size_t)(slash + 1 - mkir), "lmserve-mkir");
    sh("'%s' --from '%s' --out '%s' --variant i4-cw", mkir, src, dir);
    write_tokenizer(dir);
    char p[1300];
    setf(p, sizeof p, "%s/README.md", dir);
    write_file(p, "# tiny IR fixture\n", 18);
    return 0;
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

static json_t *call(int port, const char *method, const char *path, const char *body, int *status) {
    st_resp r = {0};
    if (st_request(port, method, path, body, NULL, &r) != 0) fail_msg("%s %s: no response", method, path);
    *status = r.status;
    json_t *j = r.body.len ? st_json(&r) : json_object();
    st_resp_fini(&r);
    return j;
}

static void test_npu_demo(void **state) {
    (void)state;
    char out[16384];
    sh("mkdir -p '%s'", dest);
    /* the demo's pull command, exactly */
    int rc = run_in(dest, "--pull --source_model OpenVINO/Qwen3-8B-int4-cw-ov --model_repository_path models "
                          "--target_device NPU --task text_generation --tool_parser hermes3 --cache_dir .ov_cache "
                          "--enable_prefix_caching true --max_prompt_len 4000", out, sizeof out);
    if (rc != 0) fail_msg("pull: rc %d: %s", rc, out);
    assert_non_null(strstr(out, "Model: OpenVINO/Qwen3-8B-int4-cw-ov downloaded to: "));
    char p[1300], a[1300];
    setf(p, sizeof p, "%s/models/OpenVINO/Qwen3-8B-int4-cw-ov/openvino_model.bin", dest);
    setf(a, sizeof a, "%s/OpenVINO/Qwen3-8B-int4-cw-ov/openvino_model.bin", root);
    assert_same_file(p, a);
    /* the graph says what OVMS writes for NPU */
    setf(p, sizeof p, "%s/models/OpenVINO/Qwen3-8B-int4-cw-ov/graph.pbtxt", dest);
    size_t n = 0;
    char *graph = file_read_all(p, 1 << 20, &n);
    assert_non_null(graph);
    if (!strstr(graph, "device: \"NPU\"") || !strstr(graph, "MAX_PROMPT_LEN") || !strstr(graph, "4000"))
        fail_msg("graph.pbtxt:\n%s", graph);
    free(graph);

    rc = run_in(dest, "--add_to_config --config_path models/config.json --model_name OpenVINO/Qwen3-8B-int4-cw-ov "
                      "--model_path OpenVINO/Qwen3-8B-int4-cw-ov", out, sizeof out);
    if (rc != 0) fail_msg("add_to_config: rc %d: %s", rc, out);

    char cfg[1300];
    setf(cfg, sizeof cfg, "%s/models/config.json", dest);
    const char *extra[] = {"--config_path", cfg, NULL};
    st_server_start(&srv, extra);
    assert_true(st_log_count(&srv, "no NPU support: serving this model on the CPU") >= 1);
    int status;
    json_t *j = call(srv.port, "GET", "/v1/config", NULL, &status);
    assert_int_equal(status, 200);
    json_t *v = json_array_get(json_object_get(json_object_get(j, "OpenVINO/Qwen3-8B-int4-cw-ov"), "model_version_status"), 0);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "AVAILABLE");
    json_decref(j);

    /* the demo's chat call, and a completion */
    j = call(srv.port, "POST", "/v3/chat/completions",
             "{\"model\":\"OpenVINO/Qwen3-8B-int4-cw-ov\",\"max_completion_tokens\":16,\"temperature\":0,"
             "\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"},"
             "{\"role\":\"user\",\"content\":\"What is OpenVINO?\"}]}",
             &status);
    if (status != 200) fail_msg("chat: %d %s", status, json_dumps(j, 0));
    json_t *msg = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
    assert_string_equal(json_string_value(json_object_get(msg, "role")), "assistant");
    assert_non_null(json_string_value(json_object_get(msg, "content")));
    /* the template from tokenizer_config.json was used: its text counts in the prompt */
    json_t *usage = json_object_get(j, "usage");
    assert_true(json_integer_value(json_object_get(usage, "prompt_tokens")) > 20);
    assert_true(json_integer_value(json_object_get(usage, "completion_tokens")) > 0);
    json_decref(j);
    j = call(srv.port, "POST", "/v3/completions",
             "{\"model\":\"OpenVINO/Qwen3-8B-int4-cw-ov\",\"prompt\":\"OpenVINO is\",\"max_tokens\":8,\"temperature\":0}",
             &status);
    if (status != 200) fail_msg("completions: %d %s", status, json_dumps(j, 0));
    assert_non_null(json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text")));
    json_decref(j);
    assert_int_equal(st_server_stop(&srv, SIGTERM, 20000, NULL), 0);
    unlink(srv.log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_npu_demo, each_setup, kill_server),
    };
    return cmocka_run_group_tests(tests, setup, group_teardown);
}
