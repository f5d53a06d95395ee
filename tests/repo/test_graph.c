/* tests/repo/test_graph.c — graph.pbtxt writing from the pull task flags: the text as OVMS writes
 * it, and every option read back by the config reader (including escaping). */
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmtest.h"
#include "repo/config.h"
#include "repo/graph.h"
#include "repo/pbtxt.h"

static char scratch[256];

static int setup_scratch(void **state) {
    (void)state;
    snprintf(scratch, sizeof scratch, "/tmp/lm_test_graph_XXXXXX");
    return mkdtemp(scratch) ? 0 : -1;
}

static int teardown_scratch(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_defaults_text(void **state) {
    (void)state;
    repo_graph_opts o = repo_graph_defaults();
    lm_buf b = {0};
    lm_error err;
    err_clear(&err);
    assert_int_equal(repo_graph_render(&o, &b, &err), LM_OK);
    const char *want =
        "# File created with: lmserve " LM_VERSION "\n"
        "# OVMS_GRAPH_QUEUE_MAX_SIZE: AUTO\n"
        "input_stream: \"HTTP_REQUEST_PAYLOAD:input\"\n"
        "output_stream: \"HTTP_RESPONSE_PAYLOAD:output\"\n"
        "\n"
        "node: {\n"
        "  name: \"LLMExecutor\"\n"
        "  calculator: \"HttpLLMCalculator\"\n"
        "  input_stream: \"LOOPBACK:loopback\"\n"
        "  input_stream: \"HTTP_REQUEST_PAYLOAD:input\"\n"
        "  input_side_packet: \"LLM_NODE_RESOURCES:llm\"\n"
        "  input_side_packet: \"LLM_NODE_EXECUTION_CONTEXTS:llm_ctx\"\n"
        "  output_stream: \"LOOPBACK:loopback\"\n"
        "  output_stream: \"HTTP_RESPONSE_PAYLOAD:output\"\n"
        "  input_stream_info: {\n"
        "    tag_index: 'LOOPBACK:0',\n"
        "    back_edge: true\n"
        "  }\n"
        "  node_options: {\n"
        "    [type.googleapis.com / mediapipe.LLMCalculatorOptions]: {\n"
        "      max_num_seqs: 256,\n"
        "      device: \"CPU\",\n"
        "      models_path: \"./\",\n"
        "      enable_prefix_caching: true,\n"
        "      cache_size: 10,\n"
        "    }\n"
        "  }\n"
        "  input_stream_handler {\n"
        "    input_stream_handler: \"SyncSetInputStreamHandler\",\n"
        "    options {\n"
        "      [mediapipe.SyncSetInputStreamHandlerOptions.ext] {\n"
        "        sync_set {\n"
        "          tag_index: \"LOOPBACK:0\"\n"
        "        }\n"
        "      }\n"
        "    }\n"
        "  }\n"
        "}\n";
    assert_string_equal(buf_cstr(&b), want);
    buf_fini(&b);
}

static void test_round_trip(void **state) {
    (void)state;
    char dir[512], gguf[600];
    snprintf(dir, sizeof dir, "%s/org/model", scratch);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    assert_int_equal(system(cmd), 0);
    snprintf(gguf, sizeof gguf, "%s/m-Q4_K_M.gguf", dir);
    FILE *fp = fopen(gguf, "w");
    assert_non_null(fp);
    fclose(fp);

    repo_graph_opts o = repo_graph_defaults();
    o.models_path = "./m-Q4_K_M.gguf";
    o.max_num_seqs = 8;
    o.enable_prefix_caching = 0;
    o.cache_size = 3;
    o.max_prompt_len = 4096;
    o.kv_cache_precision = "u8";
    o.cache_dir = "/tmp/it's \"cached\"";
    o.plugin_config = "{\"NUM_STREAMS\": 1, \"MAX_PROMPT_LEN\": 1}";
    o.tool_parser = "hermes3";
    o.reasoning_parser = "qwen3";
    o.max_num_batched_tokens = 2048;
    o.dynamic_split_fuse = 0;
    lm_error err;
    err_clear(&err);
    assert_int_equal(repo_graph_write(dir, &o, &err), LM_OK);
    /* the write leaves no temporary file */
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 2", dir);
    assert_int_equal(system(cmd), 0);

    repo_config c = {0};
    if (repo_add_model("org/model", dir, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    const repo_model *m = &c.models[0];
    char want[700];
    snprintf(want, sizeof want, "%s/m-Q4_K_M.gguf", dir);
    assert_string_equal(m->cfg.path, want);
    assert_int_equal(m->cfg.max_num_seqs, 8);
    assert_int_equal(m->cfg.enable_prefix_caching, 0);
    assert_true(m->cfg.cache_size_gb == 3.0);
    assert_int_equal(m->cfg.max_prompt_len, 4096); /* the flag wins over --plugin_config */
    assert_string_equal(m->kv_cache_precision, "u8");
    assert_string_equal(m->cfg.tool_parser, "hermes3");
    assert_string_equal(m->cfg.reasoning_parser, "qwen3");
    assert_int_equal(m->max_num_batched_tokens, 2048);
    assert_int_equal(m->dynamic_split_fuse, 0);
    assert_string_equal(m->device, "CPU");
    /* plugin keys lmserve does not use are reported when read, as always */
    assert_int_equal(c.n_warnings, 2);
    /* the JSON survived the single-quoted pbtxt string */
    json_error_t je;
    json_t *pc = json_loads(m->plugin_config, 0, &je);
    assert_non_null(pc);
    assert_string_equal(json_string_value(json_object_get(pc, "CACHE_DIR")), "/tmp/it's \"cached\"");
    assert_int_equal(json_integer_value(json_object_get(pc, "NUM_STREAMS")), 1);
    json_decref(pc);
    repo_config_fini(&c);

    /* re-running rewrites it */
    o = repo_graph_defaults();
    o.models_path = "./m-Q4_K_M.gguf";
    o.max_num_seqs = 2;
    assert_int_equal(repo_graph_write(dir, &o, &err), LM_OK);
    if (repo_add_model("org/model", dir, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(c.models[0].cfg.max_num_seqs, 2);
    assert_null(c.models[0].plugin_config);
    assert_int_equal(c.n_warnings, 0);
    repo_config_fini(&c);
}

static void test_strings_escaped(void **state) {
    (void)state;
    repo_graph_opts o = repo_graph_defaults();
    o.tool_parser = "a\"b\\c\nd\x01";
    lm_buf b = {0};
    lm_error err;
    err_clear(&err);
    assert_int_equal(repo_graph_render(&o, &b, &err), LM_OK);
    pbtxt_doc *doc = NULL;
    if (pbtxt_parse(b.data, b.len, "g", &doc, &err) != LM_OK) fail_msg("%s", err.msg);
    const pbtxt_field *opts = pbtxt_find(pbtxt_find(pbtxt_find(pbtxt_root(doc), "node"), "node_options"),
                                         "type.googleapis.com/mediapipe.LLMCalculatorOptions");
    assert_string_equal(pbtxt_find(opts, "tool_parser")->text, "a\"b\\c\nd\x01");
    pbtxt_destroy(doc);
    buf_fini(&b);
}

static void test_invalid(void **state) {
    (void)state;
    lm_buf b = {0};
    lm_error err;
    repo_graph_opts o = repo_graph_defaults();
    o.plugin_config = "{\"a\": 1,}";
    err_clear(&err);
    assert_int_equal(repo_graph_render(&o, &b, &err), LM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "--plugin_config: not valid JSON"));
    o.plugin_config = "[]";
    err_clear(&err);
    assert_int_equal(repo_graph_render(&o, &b, &err), LM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "expected a JSON object"));
    o = repo_graph_defaults();
    o.max_num_seqs = 0;
    err_clear(&err);
    assert_int_equal(repo_graph_render(&o, &b, &err), LM_ERR_INVALID);
    o = repo_graph_defaults();
    o.reasoning_parser = "\xff";
    err_clear(&err);
    assert_int_equal(repo_graph_render(&o, &b, &err), LM_ERR_INVALID);
    o = repo_graph_defaults();
    err_clear(&err);
    assert_int_equal(repo_graph_write("/nonexistent/dir", &o, &err), LM_ERR_IO);
    buf_fini(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_text),
        cmocka_unit_test_setup_teardown(test_round_trip, setup_scratch, teardown_scratch),
        cmocka_unit_test(test_strings_escaped),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
