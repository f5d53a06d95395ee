/* tests/repo/test_config.c — OVMS config.json and graph.pbtxt into servable configs: the samples
 * under tests/data/repo (as OVMS's pull and export script write them), relative paths, both list
 * kinds, the direct flags, warnings for options lmserve does not use, and errors with positions. */
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/serve.h"
#include "lmtest.h"
#include "repo/config.h"

/* snprintf without gcc's truncation guesses (the test paths are short; a cut one fails a check). */
static void setf(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void setf(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

/* ---- a scratch folder per test ---- */

static char scratch[256];

static int setup_scratch(void **state) {
    (void)state;
    setf(scratch, sizeof scratch, "/tmp/lm_test_config_XXXXXX");
    return mkdtemp(scratch) ? 0 : -1;
}

static int teardown_scratch(void **state) {
    (void)state;
    char cmd[300];
    setf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes scratch/rel (creating folders) with printf-style content. */
static const char *put(const char *rel, const char *fmt, ...) {
    static char path[512];
    setf(path, sizeof path, "%s/%s", scratch, rel);
    for (char *p = path + strlen(scratch) + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(fp, fmt, ap);
    va_end(ap);
    fclose(fp);
    return path;
}

static const char *sp(const char *rel) {
    static char path[512];
    setf(path, sizeof path, "%s/%s", scratch, rel);
    return path;
}

/* A minimal LLM graph around the given calculator options. */
#define GRAPH(opts)                                                                          \
    "input_stream: \"HTTP_REQUEST_PAYLOAD:input\"\n"                                         \
    "output_stream: \"HTTP_RESPONSE_PAYLOAD:output\"\n"                                      \
    "node: {\n"                                                                              \
    "  name: \"LLMExecutor\"\n"                                                              \
    "  calculator: \"HttpLLMCalculator\"\n"                                                  \
    "  input_side_packet: \"LLM_NODE_RESOURCES:llm\"\n"                                      \
    "  node_options: {\n"                                                                    \
    "    [type.googleapis.com / mediapipe.LLMCalculatorOptions]: {\n"                        \
    opts                                                                                     \
    "    }\n"                                                                                \
    "  }\n"                                                                                  \
    "}\n"

static int has_warning(const repo_config *c, const char *part) {
    for (size_t i = 0; i < c->n_warnings; i++)
        if (strstr(c->warnings[i], part)) return 1;
    return 0;
}

static void print_warnings(const repo_config *c) {
    for (size_t i = 0; i < c->n_warnings; i++) print_message("warning: %s\n", c->warnings[i]);
}

/* Loads a config that must fail; checks code and message part; the list must stay empty. */
static void load_fails(const char *path, lm_status code, const char *part) {
    repo_config c = {0};
    lm_error err;
    err_clear(&err);
    lm_status s = repo_load_config(path, &c, &err);
    if (s == LM_OK) fail_msg("loaded, but should fail: %s", path);
    if (s != code) fail_msg("status %s, expected %s: %s", err_status_name(s), err_status_name(code), err.msg);
    if (!strstr(err.msg, part)) fail_msg("message '%s' lacks '%s'", err.msg, part);
    assert_int_equal(c.n_models, 0);
    repo_config_fini(&c);
}

/* ---- the samples ---- */

static void test_ovms_demo_repository(void **state) {
    (void)state;
    repo_config c = {0};
    lm_error err;
    err_clear(&err);
    const char *cfg = lmtest_data("repo/demo/models/config.json");
    char dir[8192];
    setf(dir, sizeof dir, "%s", cfg);
    *strrchr(dir, '/') = '\0';
    if (repo_load_config(cfg, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    print_warnings(&c);
    assert_int_equal(c.n_models, 3);

    /* written by ovms --pull */
    const repo_model *m = &c.models[0];
    char want[8192];
    assert_string_equal(m->cfg.name, "Qwen/Qwen3-0.6B");
    setf(want, sizeof want, "%s/Qwen/Qwen3-0.6B", dir);
    assert_string_equal(m->base_path, want);
    assert_string_equal(m->cfg.path, want); /* models_path "./" */
    setf(want, sizeof want, "%s/Qwen/Qwen3-0.6B/graph.pbtxt", dir);
    assert_string_equal(m->graph_path, want);
    assert_int_equal(m->cfg.max_num_seqs, 256);
    assert_true(m->cfg.cache_size_gb == 10.0);
    assert_int_equal(m->cfg.enable_prefix_caching, 1);
    assert_string_equal(m->cfg.reasoning_parser, "qwen3");
    assert_string_equal(m->cfg.tool_parser, "hermes3");
    assert_int_equal(m->cfg.max_prompt_len, 0);
    assert_string_equal(m->device, "CPU");
    assert_string_equal(m->plugin_config, "{ }");
    assert_null(m->kv_cache_precision);
    assert_true(m->max_tokens_limit == -1 && m->best_of_limit == -1);
    assert_true(m->max_num_batched_tokens == -1 && m->dynamic_split_fuse == -1);
    assert_non_null(m->options);
    assert_int_equal(json_integer_value(json_object_get(m->options, "max_num_seqs")), 256);
    assert_true(json_is_true(json_object_get(m->options, "enable_prefix_caching")));
    assert_string_equal(json_string_value(json_object_get(m->options, "models_path")), "./");

    /* written by export_model.py */
    m = repo_config_find(&c, "OpenVINO/Phi-3.5-mini-instruct-int4-ov");
    assert_non_null(m);
    assert_int_equal(m->cfg.max_num_seqs, 64);
    assert_true(m->cfg.cache_size_gb == 2.0);
    assert_int_equal(m->cfg.enable_prefix_caching, 0);
    assert_int_equal(m->cfg.max_prompt_len, 2048);
    assert_string_equal(m->kv_cache_precision, "u8");
    assert_int_equal(m->max_num_batched_tokens, 4096);
    assert_int_equal(m->dynamic_split_fuse, 0);
    assert_int_equal(m->max_tokens_limit, 4096);
    assert_int_equal(m->best_of_limit, 4);
    assert_string_equal(m->cfg.tool_parser, "phi4");
    assert_null(m->cfg.reasoning_parser);
    assert_string_equal(json_string_value(json_object_get(m->options, "pipeline_type")), "LM_CB");

    /* a GGUF file as models_path */
    m = repo_config_find(&c, "qwen3-gguf");
    assert_non_null(m);
    setf(want, sizeof want, "%s/unsloth/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q4_K_M.gguf", dir);
    assert_string_equal(m->cfg.path, want);
    assert_true(m->cfg.cache_size_gb == 0.0);

    /* nothing in these files is unknown or ignored */
    assert_int_equal(c.n_warnings, 0);
    assert_null(repo_config_find(&c, "nope"));
    repo_config_fini(&c);
    assert_int_equal(c.n_models, 0);
    repo_config_fini(&c); /* twice is fine */
}

static void test_mediapipe_config_list(void **state) {
    (void)state;
    repo_config c = {0};
    lm_error err;
    err_clear(&err);
    const char *cfg = lmtest_data("repo/mediapipe/config.json");
    char dir[8192];
    setf(dir, sizeof dir, "%s", cfg);
    *strrchr(dir, '/') = '\0';
    if (repo_load_config(cfg, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    print_warnings(&c);
    assert_int_equal(c.n_models, 2);
    char want[8192];
    /* base_path defaults to the name; graph_path to graph.pbtxt */
    const repo_model *m = repo_config_find(&c, "llm");
    setf(want, sizeof want, "%s/llm", dir);
    assert_string_equal(m->base_path, want);
    setf(want, sizeof want, "%s/llm/graph.pbtxt", dir);
    assert_string_equal(m->graph_path, want);
    setf(want, sizeof want, "%s/llm/../graphs/custom/model", dir);
    assert_string_equal(m->cfg.path, want);
    assert_true(m->cfg.cache_size_gb == 1.0);
    /* graph_path relative to base_path; plugin MAX_PROMPT_LEN as a string */
    m = repo_config_find(&c, "custom");
    setf(want, sizeof want, "%s/graphs/custom/llm_graph.pbtxt", dir);
    assert_string_equal(m->graph_path, want);
    setf(want, sizeof want, "%s/graphs/custom/model", dir);
    assert_string_equal(m->cfg.path, want);
    assert_int_equal(m->cfg.max_num_seqs, 8);
    assert_int_equal(m->cfg.max_prompt_len, 1024);
    assert_string_equal(m->kv_cache_precision, "f16");
    assert_int_equal(c.n_warnings, 0);
    repo_config_fini(&c);
}

/* ---- relative paths, defaults, warnings (scratch folder) ---- */

static void test_relative_paths_and_cwd(void **state) {
    (void)state;
    put("repo/models/a/graph.pbtxt", GRAPH("      models_path: \"weights\"\n"));
    put("repo/models/a/weights/config.json", "{}");
    put("repo/models/g/graph.pbtxt", GRAPH("      models_path: \"../shared/m.gguf\"\n"));
    put("repo/models/shared/m.gguf", "x");
    put("repo/models/other/elsewhere.pbtxt", GRAPH("      models_path: \"./\"\n"));
    put("repo/abs/graph.pbtxt", GRAPH("      models_path: \"%s/repo/models/shared/m.gguf\"\n"), scratch);
    put("repo/models/config.json",
        "{\"model_config_list\": [\n"
        "  {\"config\": {\"name\": \"a\", \"base_path\": \"a\"}},\n"
        "  {\"config\": {\"name\": \"g\", \"base_path\": \"./g/\"}},\n"
        "  {\"config\": {\"name\": \"abs\", \"base_path\": \"%s/repo/abs\"}},\n"
        "  {\"config\": {\"name\": \"b\"}},\n"
        "  {\"config\": {\"name\": \"o\", \"base_path\": \"a\", \"graph_path\": \"../other/elsewhere.pbtxt\"}}\n"
        "]}\n", scratch);
    put("repo/models/b/model.gguf", "x");

    /* from the repository's parent folder, with a relative config path */
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(sp("repo")), 0);
    repo_config c = {0};
    lm_error err;
    err_clear(&err);
    lm_status s = repo_load_config("models/config.json", &c, &err);
    assert_int_equal(chdir(cwd), 0);
    if (s != LM_OK) fail_msg("%s", err.msg);
    print_warnings(&c);
    assert_int_equal(c.n_models, 5);
    assert_string_equal(c.models[0].cfg.path, "models/a/weights");
    assert_string_equal(c.models[0].graph_path, "models/a/graph.pbtxt");
    assert_string_equal(c.models[1].base_path, "models/g");
    assert_string_equal(c.models[1].cfg.path, "models/g/../shared/m.gguf");
    char want[8192];
    setf(want, sizeof want, "%s/repo/models/shared/m.gguf", scratch);
    assert_string_equal(c.models[2].cfg.path, want);
    /* no graph: the folder's model with default options, and a warning */
    assert_string_equal(c.models[3].cfg.name, "b");
    assert_string_equal(c.models[3].cfg.path, "models/b/model.gguf");
    assert_null(c.models[3].graph_path);
    assert_null(c.models[3].options);
    assert_int_equal(c.models[3].cfg.max_num_seqs, 0);
    assert_true(has_warning(&c, "models/config.json: model_config_list[3].config.name: no graph.pbtxt "
                                "in 'models/b': serving model 'b' with default options"));
    /* a graph outside base_path: models_path is still relative to base_path, as in OVMS */
    assert_string_equal(c.models[4].graph_path, "models/a/../other/elsewhere.pbtxt");
    assert_string_equal(c.models[4].cfg.path, "models/a");
    assert_int_equal(c.n_warnings, 1);
    repo_config_fini(&c);
}

static void test_folder_without_graph(void **state) {
    (void)state;
    repo_config c = {0};
    lm_error err;
    err_clear(&err);
    /* a split GGUF: its first part */
    put("s/x-00002-of-00002.gguf", "x");
    put("s/x-00001-of-00002.gguf", "x");
    put("s/README.md", "x");
    if (repo_add_model("s", sp("s"), &c, &err) != LM_OK) fail_msg("%s", err.msg);
    char want[8192];
    setf(want, sizeof want, "%s/s/x-00001-of-00002.gguf", scratch);
    assert_string_equal(c.models[0].cfg.path, want);
    /* a Hugging Face folder wins over stray GGUF files */
    put("h/config.json", "{}");
    put("h/extra.gguf", "x");
    if (repo_add_model("h", sp("h"), &c, &err) != LM_OK) fail_msg("%s", err.msg);
    setf(want, sizeof want, "%s/h", scratch);
    assert_string_equal(c.models[1].cfg.path, want);
    /* several GGUF models: the user must pick */
    put("m/a.gguf", "x");
    put("m/b.gguf", "x");
    err_clear(&err);
    assert_int_equal(repo_add_model("m", sp("m"), &c, &err), LM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "several GGUF models ("));
    assert_non_null(strstr(err.msg, "a.gguf"));
    assert_int_equal(c.n_models, 2);
    repo_config_fini(&c);
}

static void test_unknown_and_ignored_reported(void **state) {
    (void)state;
    put("m/x/graph.pbtxt",
        "input_stream: \"HTTP_REQUEST_PAYLOAD:input\"\n"
        "node {\n"
        "  calculator: \"HttpLLMCalculator\"\n"
        "  node_options: {\n"
        "    [type.googleapis.com/mediapipe.LLMCalculatorOptions]: {\n"
        "      models_path: \"./\"\n"
        "      draft_models_path: \"draft\"\n"
        "      cache_eviction_config: { start_size: 32 recent_size: 128 max_cache_size: 672 }\n"
        "      device: \"NPU\"\n"
        "      plugin_config: '{\"NUM_STREAMS\": 2, \"MAX_PROMPT_LEN\": 512}'\n"
        "      shiny_new_option: 7\n"
        "      pipeline_type: VLM_CB\n"
        "    }\n"
        "  }\n"
        "}\n"
        "node { calculator: \"PassThroughCalculator\" }\n");
    put("m/config.json",
        "{\"model_config_list\": [{\"config\": {\"name\": \"x\", \"nireq\": 4, \"colour\": 1}, \"extra\": 1}],\n"
        " \"monitoring\": {\"metrics\": {\"enable\": true}}, \"whatever\": []}");
    repo_config c = {0};
    lm_error err;
    err_clear(&err);
    if (repo_load_config(sp("m/config.json"), &c, &err) != LM_OK) fail_msg("%s", err.msg);
    print_warnings(&c);
    assert_int_equal(c.n_models, 1);
    char g[8192];
    setf(g, sizeof g, "%s/m/x/graph.pbtxt", scratch);
    char want[8192];
#define EXPECT_WARNING(fmt, ...)                                                   \
    do {                                                                           \
        setf(want, sizeof want, fmt, __VA_ARGS__);                             \
        if (!has_warning(&c, want)) fail_msg("no warning '%s'", want);             \
    } while (0)
    EXPECT_WARNING("%s:7:7: draft_models_path: speculative decoding is not supported; ignored", g);
    EXPECT_WARNING("%s:8:7: cache_eviction_config: KV cache eviction is not supported", g);
    EXPECT_WARNING("%s:9:7: device: no NPU support: serving this model on the CPU", g);
    EXPECT_WARNING("%s:10:7: plugin_config: plugin option 'NUM_STREAMS' is not used by lmserve", g);
    EXPECT_WARNING("%s:11:7: shiny_new_option: unknown LLM calculator option; ignored", g);
    EXPECT_WARNING("%s:12:7: pipeline_type: VLM_CB pipelines", g);
    EXPECT_WARNING("%s:16:8: calculator: node with calculator 'PassThroughCalculator' is not run", g);
    EXPECT_WARNING("%s/m/config.json: model_config_list[0].config.nireq: not used for LLM graphs", scratch);
    EXPECT_WARNING("%s/m/config.json: model_config_list[0].config.colour: unknown key", scratch);
    EXPECT_WARNING("%s/m/config.json: model_config_list[0].extra: unknown key", scratch);
    EXPECT_WARNING("%s/m/config.json: whatever: unknown key", scratch);
    assert_int_equal(c.n_warnings, 11);
    assert_int_equal(c.metrics_enable, 1); /* monitoring is read (docs/operations.md) */
    assert_null(c.metrics_list);
    /* the options are kept, unknown ones included */
    const repo_model *m = &c.models[0];
    assert_int_equal(m->cfg.max_prompt_len, 512);
    assert_int_equal(json_integer_value(json_object_get(m->options, "shiny_new_option")), 7);
    json_t *ce = json_object_get(m->options, "cache_eviction_config");
    assert_int_equal(json_integer_value(json_object_get(ce, "max_cache_size")), 672);
    repo_config_fini(&c);
}

static void test_graph_errors(void **state) {
    (void)state;
    put("e/config.json", "{\"model_config_list\": [{\"config\": {\"name\": \"e\"}}]}");
    char cfg[8192];
    setf(cfg, sizeof cfg, "%s", sp("e/config.json"));
    char g[8192], want[800];
    setf(g, sizeof g, "%s/e/e/graph.pbtxt", scratch);

    put("e/e/graph.pbtxt", "node {\n  calculator: \"HttpLLMCalculator\"\n  node_options: {\n");
    setf(want, sizeof want, "%s:4:1: expected '}' to close 'node_options'", g);
    load_fails(cfg, LM_ERR_FORMAT, want);

    put("e/e/graph.pbtxt", GRAPH("      models_path: \"./\"\n      max_num_seqs: 0\n"));
    setf(want, sizeof want, "%s:10:21: max_num_seqs: 0 is out of range [1, 65536]", g);
    load_fails(cfg, LM_ERR_FORMAT, want);

    put("e/e/graph.pbtxt", GRAPH("      models_path: \"./\"\n      cache_size: \"8\"\n"));
    setf(want, sizeof want, "%s:10:19: cache_size: expected an integer, found a string", g);
    load_fails(cfg, LM_ERR_FORMAT, want);

    put("e/e/graph.pbtxt", GRAPH("      models_path: \"./\"\n      enable_prefix_caching: yes\n"));
    setf(want, sizeof want, "%s:10:30: enable_prefix_caching: expected true or false, found 'yes'", g);
    load_fails(cfg, LM_ERR_FORMAT, want);

    put("e/e/graph.pbtxt", GRAPH("      models_path: \"./\"\n      max_num_seqs: 4\n      max_num_seqs: 8\n"));
    setf(want, sizeof want, "%s:11:21: max_num_seqs: given twice (first at 10:7)", g);
    load_fails(cfg, LM_ERR_FORMAT, want);

    put("e/e/graph.pbtxt", GRAPH("      cache_size: 1\n"));
    setf(want, sizeof want, "%s:8:5: type.googleapis.com/mediapipe.LLMCalculatorOptions: models_path is required", g);
    load_fails(cfg, LM_ERR_FORMAT, want);

    put("e/e/graph.pbtxt", GRAPH("      models_path: \"missing\"\n"));
    setf(want, sizeof want, "%s:9:20: models_path: 'missing' (resolved to '%s/e/e/missing') does not exist", g, scratch);
    load_fails(cfg, LM_ERR_NOT_FOUND, want);

    put("e/e/notgguf.bin", "x");
    put("e/e/graph.pbtxt", GRAPH("      models_path: \"notgguf.bin\"\n"));
    load_fails(cfg, LM_ERR_INVALID, "is not a folder nor a .gguf file");

    put("e/e/graph.pbtxt", GRAPH("      models_path: \"./\"\n      plugin_config: '{\"MAX_PROMPT_LEN\": 2048,}'\n"));
    setf(want, sizeof want, "%s:10:22: plugin_config: not valid JSON", g);
    load_fails(cfg, LM_ERR_FORMAT, want);

    put("e/e/graph.pbtxt", GRAPH("      models_path: \"./\"\n      plugin_config: '{\"MAX_PROMPT_LEN\": \"lots\"}'\n"));
    load_fails(cfg, LM_ERR_INVALID, "MAX_PROMPT_LEN must be an integer");

    put("e/e/graph.pbtxt", GRAPH("      models_path: \"./\"\n      plugin_config: '[1]'\n"));
    load_fails(cfg, LM_ERR_FORMAT, "expected a JSON object");

    put("e/e/graph.pbtxt", GRAPH("      models_path: \"./\"\n      pipeline_type: FAST\n"));
    load_fails(cfg, LM_ERR_FORMAT, "unknown pipeline type 'FAST'");

    put("e/e/graph.pbtxt", "node { calculator: \"EmbeddingsCalculatorOV\" }\n");
    setf(want, sizeof want, "%s: no node with calculator \"HttpLLMCalculator\"", g);
    load_fails(cfg, LM_ERR_UNSUPPORTED, want);

    put("e/e/graph.pbtxt", "node { calculator: \"HttpLLMCalculator\" }\n");
    load_fails(cfg, LM_ERR_FORMAT, "the HttpLLMCalculator node has no options");

    put("e/e/graph.pbtxt", GRAPH("      models_path: \"./\"\n") "node { calculator: \"HttpLLMCalculator\" }\n");
    load_fails(cfg, LM_ERR_UNSUPPORTED, "a second HttpLLMCalculator node (the first is at 3:1)");

    put("e/e/graph.pbtxt", "node { name: \"x\" }\n");
    load_fails(cfg, LM_ERR_FORMAT, "node: has no calculator");

    /* the older options form works */
    put("e/e/graph.pbtxt",
        "node { calculator: \"HttpLLMCalculator\"\n"
        "  options { [mediapipe.LLMCalculatorOptions.ext] { models_path: \"./\" max_num_seqs: 3 } } }\n");
    repo_config c = {0};
    lm_error err;
    err_clear(&err);
    if (repo_load_config(cfg, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(c.models[0].cfg.max_num_seqs, 3);
    repo_config_fini(&c);
}

static void test_monitoring(void **state) {
    (void)state;
    put("k/a/graph.pbtxt", GRAPH("      models_path: \"./\"\n"));
    char cfg[8192];
    setf(cfg, sizeof cfg, "%s", sp("k/config.json"));
    put("k/config.json", "{\"model_config_list\": [{\"config\": {\"name\": \"a\"}}], \"monitoring\": "
                         "{\"metrics\": {\"enable\": true, \"metrics_list\": [\"ovms_requests_accepted\", "
                         "\"lmserve_time_to_first_token_seconds\"], \"port\": 1}, \"other\": 2}}");
    repo_config c = {0};
    lm_error err;
    err_clear(&err);
    if (repo_load_config(cfg, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(c.metrics_enable, 1);
    assert_string_equal(c.metrics_list, "ovms_requests_accepted,lmserve_time_to_first_token_seconds");
    assert_int_equal(c.n_warnings, 2); /* monitoring.other, monitoring.metrics.port */
    repo_config_fini(&c);
    put("k/config.json", "{\"model_config_list\": [], \"monitoring\": {\"metrics\": {\"enable\": false}}}");
    memset(&c, 0, sizeof c);
    if (repo_load_config(cfg, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(c.metrics_enable, 0);
    repo_config_fini(&c);
    put("k/config.json", "{\"model_config_list\": [], \"monitoring\": []}");
    load_fails(cfg, LM_ERR_FORMAT, "monitoring: expected an object");
    put("k/config.json", "{\"model_config_list\": [], \"monitoring\": {\"metrics\": {\"enable\": \"yes\"}}}");
    load_fails(cfg, LM_ERR_FORMAT, "monitoring.metrics.enable: expected true or false");
    put("k/config.json", "{\"model_config_list\": [], \"monitoring\": {\"metrics\": {\"metrics_list\": \"a,b\"}}}");
    load_fails(cfg, LM_ERR_FORMAT, "monitoring.metrics.metrics_list: expected an array");
    put("k/config.json", "{\"model_config_list\": [], \"monitoring\": {\"metrics\": {\"metrics_list\": [\"a,b\"]}}}");
    load_fails(cfg, LM_ERR_FORMAT, "monitoring.metrics.metrics_list[0]: expected a metric name");
}

static void test_config_json_errors(void **state) {
    (void)state;
    put("j/a/graph.pbtxt", GRAPH("      models_path: \"./\"\n"));
    char want[8192], cfg[8192];
    setf(cfg, sizeof cfg, "%s", sp("j/config.json"));

    put("j/config.json", "{\n  \"model_config_list\": [\n    {\"config\": {\"name\": \"a\"}},\n  ]\n}\n");
    setf(want, sizeof want, "%s:4:3: ", cfg);
    load_fails(cfg, LM_ERR_FORMAT, want);
    {
        repo_config c = {0};
        lm_error err;
        err_clear(&err);
        assert_int_equal(repo_load_config(cfg, &c, &err), LM_ERR_FORMAT);
        assert_int_equal(err.line, 4);
        assert_int_equal(err.col, 3);
        repo_config_fini(&c);
    }

    put("j/config.json", "[]");
    load_fails(cfg, LM_ERR_FORMAT, "expected a JSON object with \"model_config_list\", found an array");
    put("j/config.json", "{}");
    load_fails(cfg, LM_ERR_FORMAT, "\"model_config_list\" is required");
    put("j/config.json", "{\"model_config_list\": {}}");
    load_fails(cfg, LM_ERR_FORMAT, "model_config_list: expected an array, found an object");
    put("j/config.json", "{\"model_config_list\": [{\"name\": \"a\"}]}");
    load_fails(cfg, LM_ERR_FORMAT, "model_config_list[0]: \"config\" is required");
    put("j/config.json", "{\"model_config_list\": [{\"config\": {\"base_path\": \"a\"}}]}");
    load_fails(cfg, LM_ERR_FORMAT, "model_config_list[0].config: \"name\" is required");
    put("j/config.json", "{\"model_config_list\": [{\"config\": {\"name\": 5}}]}");
    load_fails(cfg, LM_ERR_FORMAT, "model_config_list[0].config.name: expected a string, found a number");
    put("j/config.json", "{\"model_config_list\": [{\"config\": {\"name\": \"a\"}}, {\"config\": {\"name\": \"a\"}}]}");
    load_fails(cfg, LM_ERR_INVALID, "model_config_list[1].config.name: model 'a' is defined twice");
    put("j/config.json", "{\"model_config_list\": [{\"config\": {\"name\": \"a\"}}], \"mediapipe_config_list\": [{\"name\": \"a\"}]}");
    load_fails(cfg, LM_ERR_INVALID, "mediapipe_config_list[0].name: model 'a' is defined twice");
    put("j/config.json", "{\"model_config_list\": [{\"config\": {\"name\": \"zz\", \"base_path\": \"nope\"}}]}");
    setf(want, sizeof want, "%s: model_config_list[0].config.base_path: '%s/j/nope' does not exist", cfg, scratch);
    load_fails(cfg, LM_ERR_NOT_FOUND, want);
    put("j/config.json", "{\"model_config_list\": [{\"config\": {\"name\": \"a\", \"graph_path\": \"g2.pbtxt\"}}]}");
    load_fails(cfg, LM_ERR_NOT_FOUND, "graph '");
    put("j/empty/.keep", "");
    put("j/config.json", "{\"model_config_list\": [{\"config\": {\"name\": \"empty\"}}]}");
    load_fails(cfg, LM_ERR_NOT_FOUND, "has no graph.pbtxt and no model");
    put("j/config.json", "{\"model_config_list\": [{\"config\": {\"name\": \"a\", \"name\": \"b\"}}]}");
    load_fails(cfg, LM_ERR_FORMAT, "duplicate object key");
    load_fails(sp("j/missing.json"), LM_ERR_IO, "cannot open");

    /* a failure leaves earlier results untouched */
    repo_config c = {0};
    lm_error err;
    err_clear(&err);
    assert_int_equal(repo_add_model("first", sp("j/a"), &c, &err), LM_OK);
    put("j/config.json", "{\"model_config_list\": [{\"config\": {\"name\": \"a\"}}, {\"config\": {\"name\": \"q\"}}]}");
    assert_int_equal(repo_load_config(cfg, &c, &err), LM_ERR_NOT_FOUND);
    assert_int_equal(c.n_models, 1);
    assert_string_equal(c.models[0].cfg.name, "first");
    repo_config_fini(&c);
}

/* ---- the direct flags ---- */

static void parse_flags(cli_server_opts *o, const char *const *args, int n) {
    char *argv[32];
    argv[0] = (char *)"lmserve";
    for (int i = 0; i < n; i++) argv[i + 1] = (char *)args[i];
    lm_error err;
    err_clear(&err);
    lm_status s = cli_parse(&cli_server_command, n + 1, argv, o, &err);
    if (s != LM_OK && s != LM_ERR_UNSUPPORTED) fail_msg("cli: %s", err.msg);
}

/* The flags as the server command hands them to the repository (cli_config_opts). */
static lm_status repo_from_flags(const cli_server_opts *o, repo_config *c, lm_error *err) {
    repo_config_opts ro = cli_config_opts(o);
    return repo_config_from_opts(&ro, c, err);
}

static void test_from_flags(void **state) {
    (void)state;
    put("f/hf/config.json", "{}");
    put("f/graph/graph.pbtxt", GRAPH("      models_path: \"./\"\n      max_num_seqs: 2\n"));
    put("f/tiny.gguf", "x");
    put("f/repo/org/model/config.json", "{}");
    cli_server_opts o;
    repo_config c = {0};
    lm_error err;

    /* a Hugging Face folder: the flags give the options */
    char hf[8192];
    setf(hf, sizeof hf, "%s", sp("f/hf"));
    const char *a1[] = {"--model_path", hf, "--model_name", "m", "--max_num_seqs", "4", "--cache_size", "3",
                        "--enable_prefix_caching", "false", "--max_prompt_len", "100", "--tool_parser",
                        "hermes3", "--reasoning_parser", "qwen3"};
    parse_flags(&o, a1, 16);
    err_clear(&err);
    if (repo_from_flags(&o, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(c.n_models, 1);
    const repo_model *m = &c.models[0];
    assert_string_equal(m->cfg.name, "m");
    assert_string_equal(m->cfg.path, hf);
    assert_int_equal(m->cfg.max_num_seqs, 4);
    assert_true(m->cfg.cache_size_gb == 3.0);
    assert_int_equal(m->cfg.enable_prefix_caching, 0);
    assert_int_equal(m->cfg.max_prompt_len, 100);
    assert_string_equal(m->cfg.tool_parser, "hermes3");
    assert_string_equal(m->cfg.reasoning_parser, "qwen3");
    repo_config_fini(&c);

    /* defaults from the flag table; name from the file */
    const char *a2[] = {"--model_path", sp("f/tiny.gguf")};
    char p2[8192];
    setf(p2, sizeof p2, "%s", a2[1]);
    a2[1] = p2;
    parse_flags(&o, a2, 2);
    err_clear(&err);
    if (repo_from_flags(&o, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_string_equal(c.models[0].cfg.name, "tiny");
    assert_int_equal(c.models[0].cfg.max_num_seqs, 256);
    assert_int_equal(c.models[0].cfg.enable_prefix_caching, 1);
    assert_true(has_warning(&c, "no --model_name: serving"));
    repo_config_fini(&c);

    /* a folder with graph.pbtxt: the graph wins and changed flags are reported */
    char gp[8192];
    setf(gp, sizeof gp, "%s", sp("f/graph"));
    const char *a3[] = {"--model_path", gp, "--model_name", "g", "--max_num_seqs", "9", "--tool_parser", "x"};
    parse_flags(&o, a3, 8);
    err_clear(&err);
    if (repo_from_flags(&o, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(c.models[0].cfg.max_num_seqs, 2);
    assert_null(c.models[0].cfg.tool_parser);
    assert_true(has_warning(&c, "--max_num_seqs is ignored"));
    assert_true(has_warning(&c, "--tool_parser is ignored"));
    assert_int_equal(c.n_warnings, 2);
    repo_config_fini(&c);

    /* --source_model without --pull: the model under the repository */
    char rp[8192];
    setf(rp, sizeof rp, "%s", sp("f/repo"));
    const char *a4[] = {"--source_model", "org/model", "--model_repository_path", rp};
    parse_flags(&o, a4, 4);
    err_clear(&err);
    if (repo_from_flags(&o, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_string_equal(c.models[0].cfg.name, "org/model");
    char want[8192];
    setf(want, sizeof want, "%s/org/model", rp);
    assert_string_equal(c.models[0].cfg.path, want);
    repo_config_fini(&c);

    /* --config_path */
    char cp[8192];
    setf(cp, sizeof cp, "%s", lmtest_data("repo/demo/models/config.json"));
    const char *a5[] = {"--config_path", cp};
    parse_flags(&o, a5, 2);
    err_clear(&err);
    if (repo_from_flags(&o, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(c.n_models, 3);
    repo_config_fini(&c);

    /* nothing asked */
    parse_flags(&o, NULL, 0);
    err_clear(&err);
    assert_int_equal(repo_from_flags(&o, &c, &err), LM_OK);
    assert_int_equal(c.n_models, 0);

    /* usage errors, with OVMS's rule */
    const char *a6[] = {"--config_path", cp, "--model_path", hf, "--model_name", "x"};
    parse_flags(&o, a6, 6);
    err_clear(&err);
    assert_int_equal(repo_from_flags(&o, &c, &err), LM_ERR_INVALID);
    assert_string_equal(err.msg, "use either --config_path or --model_path with --model_name, not both");
    const char *a7[] = {"--model_name", "x"};
    parse_flags(&o, a7, 2);
    err_clear(&err);
    assert_int_equal(repo_from_flags(&o, &c, &err), LM_ERR_INVALID);
    const char *a8[] = {"--model_path", "/nonexistent/x", "--model_name", "x"};
    parse_flags(&o, a8, 4);
    err_clear(&err);
    assert_int_equal(repo_from_flags(&o, &c, &err), LM_ERR_NOT_FOUND);
    assert_string_equal(err.msg, "model 'x': '/nonexistent/x' does not exist");
    assert_int_equal(c.n_models, 0);
    repo_config_fini(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ovms_demo_repository),
        cmocka_unit_test(test_mediapipe_config_list),
        cmocka_unit_test_setup_teardown(test_relative_paths_and_cwd, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_folder_without_graph, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_unknown_and_ignored_reported, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_graph_errors, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_config_json_errors, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_monitoring, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_from_flags, setup_scratch, teardown_scratch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
