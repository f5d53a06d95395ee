/* tests/repo/test_manage.c — config management: --add_to_config / --remove_from_config editing
 * config.json, --list_models, OVMS's messages and exit codes, OVMS_MODEL_REPOSITORY_PATH, and the
 * same commands through the lmserve binary. */
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/serve.h"
#include "lmtest.h"
#include "repo/config.h"
#include "repo/manage.h"

static char scratch[256];

static void setf(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void setf(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

static int setup_scratch(void **state) {
    (void)state;
    snprintf(scratch, sizeof scratch, "/tmp/lm_test_manage_XXXXXX");
    unsetenv("OVMS_MODEL_REPOSITORY_PATH");
    return mkdtemp(scratch) ? 0 : -1;
}

static int teardown_scratch(void **state) {
    (void)state;
    unsetenv("OVMS_MODEL_REPOSITORY_PATH");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

/* scratch/rel in a rotating buffer (several may be alive at once). */
static const char *sp(const char *rel) {
    static char bufs[8][1024];
    static int k;
    char *b = bufs[k++ % 8];
    setf(b, sizeof bufs[0], "%s/%s", scratch, rel);
    return b;
}

static void put(const char *rel, const char *text) {
    char path[1024];
    setf(path, sizeof path, "%s/%s", scratch, rel);
    for (char *p = path + strlen(scratch) + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* Whole file as a malloc'd string. */
static char *slurp(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return strdup(buf);
}

static void assert_file_equals(const char *path, const char *want) {
    char *got = slurp(path);
    assert_non_null(got);
    if (strcmp(got, want) != 0) fail_msg("%s is\n%s\nexpected\n%s", path, got, want);
    free(got);
}

/* ---- the functions ---- */

static void test_add_creates_and_appends(void **state) {
    (void)state;
    char cfg[1024];
    setf(cfg, sizeof cfg, "%s", sp("models/config.json"));
    mkdir(sp("models"), 0755);
    lm_error err;
    err_clear(&err);
    assert_int_equal(repo_config_add(cfg, "Qwen/Qwen3-0.6B", "Qwen/Qwen3-0.6B", &err), LM_OK);
    /* as OVMS writes it: 4-space indent, "key": value */
    assert_file_equals(cfg,
                       "{\n"
                       "    \"model_config_list\": [\n"
                       "        {\n"
                       "            \"config\": {\n"
                       "                \"name\": \"Qwen/Qwen3-0.6B\",\n"
                       "                \"base_path\": \"Qwen/Qwen3-0.6B\"\n"
                       "            }\n"
                       "        }\n"
                       "    ]\n"
                       "}\n");
    assert_int_equal(repo_config_add(cfg, "second", "/abs/second", &err), LM_OK);
    char *text = slurp(cfg);
    assert_non_null(strstr(text, "\"name\": \"second\",\n                \"base_path\": \"/abs/second\""));
    assert_true(strstr(text, "Qwen/Qwen3-0.6B") < strstr(text, "second"));
    free(text);

    /* duplicate name */
    assert_int_equal(repo_config_add(cfg, "second", "x", &err), LM_ERR_INVALID);
    assert_string_equal(err.msg, "Given model name is already occupied: 'second'");
    /* no temporary files left behind */
    char cmd[1200];
    setf(cmd, sizeof cmd, "test $(ls -a '%s' | wc -l) -eq 3", sp("models"));
    assert_int_equal(system(cmd), 0);

    /* the folder must exist */
    err_clear(&err);
    assert_int_equal(repo_config_add(sp("nope/config.json"), "a", "a", &err), LM_ERR_IO);
    assert_non_null(strstr(err.msg, "cannot create"));
}

static void test_add_keeps_the_rest(void **state) {
    (void)state;
    put("c/config.json",
        "{\"monitoring\": {\"metrics\": {\"enable\": true}},\n"
        " \"mediapipe_config_list\": [{\"name\": \"mp\", \"base_path\": \"mp\"}],\n"
        " \"model_config_list\": [{\"config\": {\"name\": \"a\", \"base_path\": \"a\", \"nireq\": 2}}]}");
    char cfg[1024];
    setf(cfg, sizeof cfg, "%s", sp("c/config.json"));
    chmod(cfg, 0640);
    lm_error err;
    err_clear(&err);
    assert_int_equal(repo_config_add(cfg, "mp", "x", &err), LM_ERR_INVALID); /* also the other list */
    err_clear(&err);
    assert_int_equal(repo_config_add(cfg, "b", "b", &err), LM_OK);
    assert_file_equals(cfg,
                       "{\n"
                       "    \"monitoring\": {\n"
                       "        \"metrics\": {\n"
                       "            \"enable\": true\n"
                       "        }\n"
                       "    },\n"
                       "    \"mediapipe_config_list\": [\n"
                       "        {\n"
                       "            \"name\": \"mp\",\n"
                       "            \"base_path\": \"mp\"\n"
                       "        }\n"
                       "    ],\n"
                       "    \"model_config_list\": [\n"
                       "        {\n"
                       "            \"config\": {\n"
                       "                \"name\": \"a\",\n"
                       "                \"base_path\": \"a\",\n"
                       "                \"nireq\": 2\n"
                       "            }\n"
                       "        },\n"
                       "        {\n"
                       "            \"config\": {\n"
                       "                \"name\": \"b\",\n"
                       "                \"base_path\": \"b\"\n"
                       "            }\n"
                       "        }\n"
                       "    ]\n"
                       "}\n");
    struct stat st;
    assert_int_equal(stat(cfg, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);

    /* a file without model_config_list gets one */
    put("c/config.json", "{\"mediapipe_config_list\": []}");
    assert_int_equal(repo_config_add(cfg, "z", "z", &err), LM_OK);
    char *text = slurp(cfg);
    assert_non_null(strstr(text, "\"mediapipe_config_list\": [],\n    \"model_config_list\": ["));
    free(text);
}

static void test_remove(void **state) {
    (void)state;
    put("r/config.json",
        "{\"model_config_list\": [{\"config\": {\"name\": \"a\", \"base_path\": \"a\"}},\n"
        "                        {\"config\": {\"name\": \"b\", \"base_path\": \"b\"}}],\n"
        " \"mediapipe_config_list\": [{\"name\": \"mp\"}]}");
    char cfg[1024];
    setf(cfg, sizeof cfg, "%s", sp("r/config.json"));
    lm_error err;
    err_clear(&err);
    assert_int_equal(repo_config_remove(cfg, "a", &err), LM_OK);
    assert_int_equal(repo_config_remove(cfg, "mp", &err), LM_OK);
    assert_file_equals(cfg,
                       "{\n"
                       "    \"model_config_list\": [\n"
                       "        {\n"
                       "            \"config\": {\n"
                       "                \"name\": \"b\",\n"
                       "                \"base_path\": \"b\"\n"
                       "            }\n"
                       "        }\n"
                       "    ],\n"
                       "    \"mediapipe_config_list\": []\n"
                       "}\n");
    assert_int_equal(repo_config_remove(cfg, "a", &err), LM_ERR_NOT_FOUND);
    assert_string_equal(err.msg, "Model with requested name is not found: 'a'");
    err_clear(&err);
    assert_int_equal(repo_config_remove(sp("r/none.json"), "a", &err), LM_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "The provided base path is invalid or doesn't exists: "));
    assert_int_equal(repo_config_remove(cfg, "b", &err), LM_OK);
    assert_file_equals(cfg, "{\n    \"model_config_list\": [],\n    \"mediapipe_config_list\": []\n}\n");
}

static void test_bad_files(void **state) {
    (void)state;
    char cfg[1024];
    setf(cfg, sizeof cfg, "%s", sp("b/config.json"));
    lm_error err;
    put("b/config.json", "{\n  \"model_config_list\": [\n    {\"config\": {\"name\": \"a\"}},\n  ]\n}\n");
    err_clear(&err);
    assert_int_equal(repo_config_add(cfg, "x", "x", &err), LM_ERR_FORMAT);
    char want[1200];
    setf(want, sizeof want, "%s:4:3: ", cfg);
    assert_memory_equal(err.msg, want, strlen(want));
    assert_int_equal(err.line, 4);
    put("b/config.json", "{\"model_config_list\": {}}");
    err_clear(&err);
    assert_int_equal(repo_config_add(cfg, "x", "x", &err), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "model_config_list: expected an array"));
    err_clear(&err);
    assert_int_equal(repo_config_remove(cfg, "x", &err), LM_ERR_FORMAT);
    put("b/config.json", "[1]");
    err_clear(&err);
    assert_int_equal(repo_config_remove(cfg, "x", &err), LM_ERR_FORMAT);
    /* the broken file is left as it was */
    assert_file_equals(cfg, "[1]");
}

static void test_list_models(void **state) {
    (void)state;
    repo_name_list l;
    lm_error err;
    err_clear(&err);
    assert_int_equal(repo_list_models(lmtest_data("repo/demo/models"), &l, &err), LM_OK);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.names[0], "OpenVINO/Phi-3.5-mini-instruct-int4-ov");
    assert_string_equal(l.names[1], "Qwen/Qwen3-0.6B");
    assert_string_equal(l.names[2], "unsloth/Qwen3-0.6B-GGUF");
    repo_name_list_fini(&l);
    assert_int_equal(repo_list_models(lmtest_data("repo/mediapipe"), &l, &err), LM_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.names[0], "llm");
    repo_name_list_fini(&l);

    /* nested servables are not searched; hidden folders skipped; a graph at the top is not a
     * servable name */
    put("L/graph.pbtxt", "");
    put("L/a/graph.pbtxt", "");
    put("L/a/inner/graph.pbtxt", "");
    put("L/.cache/x/graph.pbtxt", "");
    put("L/org/m1/graph.pbtxt", "");
    put("L/org/m2/config.json", "{}");
    put("L/deep/1/2/3/4/5/6/7/graph.pbtxt", "");
    put("L/deeper/1/2/3/4/5/6/7/8/graph.pbtxt", "");
    assert_int_equal(repo_list_models(sp("L"), &l, &err), LM_OK);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.names[0], "a");
    assert_string_equal(l.names[1], "deep/1/2/3/4/5/6/7");
    assert_string_equal(l.names[2], "org/m1");
    repo_name_list_fini(&l);

    mkdir(sp("E"), 0755);
    assert_int_equal(repo_list_models(sp("E"), &l, &err), LM_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(repo_list_models(sp("missing"), &l, &err), LM_ERR_NOT_FOUND);
    char want[1200];
    setf(want, sizeof want, "Path is not a directory: %s", sp("missing"));
    assert_string_equal(err.msg, want);
}

/* ---- the command (flags -> messages, exit codes) ---- */

typedef struct {
    int rc;
    char out[8192], err[8192];
} run_result;

static run_result run_cmd(const char *const *args, int n) {
    char *argv[32];
    argv[0] = (char *)"lmserve";
    for (int i = 0; i < n; i++) argv[i + 1] = (char *)args[i];
    cli_server_opts o;
    lm_error e;
    err_clear(&e);
    lm_status s = cli_parse(&cli_server_command, n + 1, argv, &o, &e);
    if (s != LM_OK && s != LM_ERR_UNSUPPORTED) fail_msg("cli: %s", e.msg);
    run_result r;
    memset(&r, 0, sizeof r);
    FILE *out = fmemopen(r.out, sizeof r.out - 1, "w");
    FILE *err = fmemopen(r.err, sizeof r.err - 1, "w");
    assert_true(cli_manage_requested(&o));
    r.rc = cli_manage_run(&o, out, err);
    fclose(out);
    fclose(err);
    return r;
}

#define RUN(...)                                                                          \
    run_cmd((const char *const[]){__VA_ARGS__},                                           \
            (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))

static void test_command_messages(void **state) {
    (void)state;
    char cfg[1024], repo[1024], want[2400];
    setf(cfg, sizeof cfg, "%s", sp("models/config.json"));
    setf(repo, sizeof repo, "%s", sp("models"));
    mkdir(repo, 0755);

    run_result r = RUN("--add_to_config", "--config_path", cfg, "--model_name", "m", "--model_path", "m");
    assert_int_equal(r.rc, 0);
    setf(want, sizeof want, "Config updated: %s\n", cfg);
    assert_string_equal(r.out, want);
    assert_string_equal(r.err, "");

    r = RUN("--add_to_config", "--config_path", cfg, "--model_name", "m", "--model_path", "m");
    assert_int_equal(r.rc, 1);
    setf(want, sizeof want, "%s error on config update : Given model name is already occupied: 'm'\n", cfg);
    assert_string_equal(r.err, want);

    /* from --model_repository_path: relative to the config's folder when it is the repository */
    r = RUN("--add_to_config", "--config_path", cfg, "--model_name", "org/x", "--model_repository_path", repo);
    assert_int_equal(r.rc, 0);
    char *text = slurp(cfg);
    assert_non_null(strstr(text, "\"name\": \"org/x\",\n                \"base_path\": \"org/x\""));
    free(text);
    mkdir(sp("other"), 0755);
    r = RUN("--add_to_config", "--config_path", cfg, "--model_name", "y", "--model_repository_path", sp("other"));
    assert_int_equal(r.rc, 0);
    text = slurp(cfg);
    setf(want, sizeof want, "\"base_path\": \"%s/other/y\"", scratch);
    assert_non_null(strstr(text, want));
    free(text);

    r = RUN("--remove_from_config", "--config_path", cfg, "--model_name", "m");
    assert_int_equal(r.rc, 0);
    r = RUN("--remove_from_config", "--config_path", cfg, "--model_name", "m");
    assert_int_equal(r.rc, 1);
    setf(want, sizeof want, "%s error on config update : Model with requested name is not found: 'm'\n", cfg);
    assert_string_equal(r.err, want);

    /* usage errors: exit 64 with OVMS's words */
    r = RUN("--add_to_config", "--model_name", "m", "--model_path", "m");
    assert_int_equal(r.rc, 64);
    assert_string_equal(r.err, "Set config_path with add_to_config/remove_from_config\n");
    r = RUN("--add_to_config", "--config_path", cfg, "--model_path", "m");
    assert_int_equal(r.rc, 64);
    assert_non_null(strstr(r.err, "Set model_name with add_to_config/remove_from_config\nUsage:"));
    r = RUN("--add_to_config", "--config_path", cfg, "--model_name", "m");
    assert_int_equal(r.rc, 64);
    assert_non_null(strstr(r.err, "Set model_name either with model_path or model_repository_path with add_to_config"));
    r = RUN("--remove_from_config", "--config_path", cfg, "--model_name", "m", "--model_path", "m");
    assert_int_equal(r.rc, 64);
    assert_string_equal(r.err, "error parsing options - --model_path cannot be used with --remove_from_config\n");
    r = RUN("--add_to_config", "--pull", "--config_path", cfg, "--model_name", "m", "--model_path", "m");
    assert_int_equal(r.rc, 64);
    assert_string_equal(r.err, "error parsing options - --add_to_config cannot be used with --pull or --task\n");
    r = RUN("--remove_from_config", "--source_model", "a/b", "--config_path", cfg, "--model_name", "m");
    assert_int_equal(r.rc, 64);
    r = RUN("--list_models", "--add_to_config");
    assert_int_equal(r.rc, 64);
    assert_string_equal(r.err, "error parsing options - --list_models cannot be used with --add_to_config\n");
    r = RUN("--list_models", "--remove_from_config");
    assert_int_equal(r.rc, 64);
    r = RUN("--list_models", "--pull");
    assert_int_equal(r.rc, 64);
    assert_string_equal(r.err, "error parsing options - --list_models cannot be used with --pull or --task\n");
    r = RUN("--list_models");
    assert_int_equal(r.rc, 64);
    assert_string_equal(r.err, "Use --list_models with --model_repository_path\n");
    r = RUN("--add_to_config", "--remove_from_config", "--config_path", cfg, "--model_name", "m");
    assert_int_equal(r.rc, 64);

    /* listing */
    char demo[4200];
    setf(demo, sizeof demo, "%s", lmtest_data("repo/demo/models"));
    r = RUN("--list_models", "--model_repository_path", demo);
    assert_int_equal(r.rc, 0);
    setf(want, sizeof want,
         "Listing models in repository...\nModel repository path: %s\n"
         "OpenVINO/Phi-3.5-mini-instruct-int4-ov\nQwen/Qwen3-0.6B\nunsloth/Qwen3-0.6B-GGUF\n", demo);
    assert_string_equal(r.out, want);
    r = RUN("--list_models", "--model_repository_path", sp("nowhere"));
    assert_int_equal(r.rc, 1);
    setf(want, sizeof want, "Path is not a directory: %s\n", sp("nowhere"));
    assert_string_equal(r.err, want);
}

static void test_command_env_repository(void **state) {
    (void)state;
    mkdir(sp("envrepo"), 0755);
    put("envrepo/org/m/graph.pbtxt", "");
    char repo[1024], want[2400];
    setf(repo, sizeof repo, "%s", sp("envrepo"));
    setenv("OVMS_MODEL_REPOSITORY_PATH", repo, 1);

    run_result r = RUN("--list_models");
    assert_int_equal(r.rc, 0);
    setf(want, sizeof want, "Listing models in repository...\nModel repository path: %s\norg/m\n", repo);
    assert_string_equal(r.out, want);

    /* default config path <repo>/config.json; model path from the repository */
    r = RUN("--add_to_config", "--model_name", "org/m");
    assert_int_equal(r.rc, 0);
    setf(want, sizeof want, "Using default config path: %s/config.json\nConfig updated: %s/config.json\n", repo, repo);
    assert_string_equal(r.out, want);
    char cfg[1200];
    setf(cfg, sizeof cfg, "%s/config.json", repo);
    char *text = slurp(cfg);
    assert_non_null(strstr(text, "\"base_path\": \"org/m\""));
    free(text);

    /* and the result serves: the reader finds the graph (models_path checked there) */
    put("envrepo/org/m/graph.pbtxt",
        "node { calculator: \"HttpLLMCalculator\" node_options: { "
        "[type.googleapis.com/mediapipe.LLMCalculatorOptions]: { models_path: \"./\" } } }\n");
    repo_config c = {0};
    lm_error err;
    err_clear(&err);
    if (repo_load_config(cfg, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(c.n_models, 1);
    setf(want, sizeof want, "%s/org/m", repo);
    assert_string_equal(c.models[0].cfg.path, want);
    repo_config_fini(&c);

    /* an explicit flag wins over the variable; an empty variable is unset */
    r = RUN("--remove_from_config", "--model_name", "org/m");
    assert_int_equal(r.rc, 0);
    setenv("OVMS_MODEL_REPOSITORY_PATH", "", 1);
    r = RUN("--list_models");
    assert_int_equal(r.rc, 64);
}

/* ---- through the binary ---- */

static int run_bin(const char *args, char *out, size_t cap) {
    const char *bin = getenv("LM_BIN");
    char cmd[4096];
    setf(cmd, sizeof cmd, "'%s' %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_binary(void **state) {
    (void)state;
    const char *bin = getenv("LM_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        print_message("LM_BIN not set or not built; skipping the binary checks\n");
        skip();
    }
    /* only once main.c runs the management mode */
    char out[8192], args[4096];
    mkdir(sp("bin"), 0755);
    setf(args, sizeof args, "--add_to_config --config_path '%s' --model_name q --model_path q", sp("bin/config.json"));
    int rc = run_bin(args, out, sizeof out);
    if (rc == 2 && strstr(out, "not supported yet")) {
        print_message("the binary does not run --add_to_config yet; skipping\n");
        skip();
    }
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "Config updated: "));
    rc = run_bin(args, out, sizeof out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "Given model name is already occupied"));
    setf(args, sizeof args, "--list_models --model_repository_path '%s'", lmtest_data("repo/demo/models"));
    rc = run_bin(args, out, sizeof out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\nQwen/Qwen3-0.6B\n"));
    rc = run_bin("--list_models", out, sizeof out);
    assert_int_equal(rc, 64);
    setf(args, sizeof args, "--remove_from_config --config_path '%s' --model_name q", sp("bin/config.json"));
    rc = run_bin(args, out, sizeof out);
    assert_int_equal(rc, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_creates_and_appends, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_add_keeps_the_rest, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_remove, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_bad_files, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_list_models, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_command_messages, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_command_env_repository, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_binary, setup_scratch, teardown_scratch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
