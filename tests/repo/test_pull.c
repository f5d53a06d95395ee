/* tests/repo/test_pull.c — pull mode against the local fake hub: which files are fetched (whole
 * repository, one GGUF, split GGUF parts), the graph written and read back, re-runs, overwrite,
 * the --pull command's messages and exit codes, and the OVMS demo flow through the binary
 * (pull, add_to_config, list_models), and pulls killed at random moments then re-run. */
#include "hub_fixture.h"
#include "cli/serve.h"
#include "lmtest.h"
#include "repo/config.h"
#include "repo/manage.h"
#include "repo/pull.h"

#include <time.h>

static repo_pull_opts popts(const char *id) {
    if (!quiet_log) quiet_log = fopen("/dev/null", "w");
    repo_pull_opts p = {.source_model = id, .repository_path = dest, .graph = repo_graph_defaults(),
                        .hub = opts()};
    return p;
}

static void test_pull_single_gguf(void **state) {
    (void)state;
    char out[4096] = "";
    FILE *fp = fmemopen(out, sizeof out - 1, "w");
    repo_pull_opts p = popts("org/tiny");
    p.out = fp;
    p.graph.max_num_seqs = 4;
    p.graph.tool_parser = "hermes3";
    lm_error err;
    err_clear(&err);
    char *dir = NULL;
    if (repo_pull(&p, &dir, &err) != LM_OK) fail_msg("%s", err.msg);
    fclose(fp);
    char want[2048];
    setf(want, sizeof want, "%s/org/tiny", dest);
    assert_string_equal(dir, want);
    setf(want, sizeof want, "Model: org/tiny downloaded to: %s/org/tiny\nGraph: graph.pbtxt created in: %s/org/tiny\n",
         dest, dest);
    assert_string_equal(out, want);
    /* the graph names the GGUF file and reads back */
    repo_config c = {0};
    if (repo_add_model("org/tiny", dir, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    setf(want, sizeof want, "%s/org/tiny/model.gguf", dest);
    assert_string_equal(c.models[0].cfg.path, want);
    assert_int_equal(c.models[0].cfg.max_num_seqs, 4);
    assert_string_equal(c.models[0].cfg.tool_parser, "hermes3");
    repo_config_fini(&c);
    char a[2048], b[2048];
    setf(a, sizeof a, "%s/org/tiny/sub/tokenizer.json", dest);
    setf(b, sizeof b, "%s/org/tiny/sub/tokenizer.json", root);
    assert_same_file(a, b);

    /* again: nothing downloaded, the graph rewritten from the new options */
    unlink(hublog);
    p = popts("org/tiny");
    p.graph.max_num_seqs = 9;
    if (repo_pull(&p, NULL, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(log_count("/resolve/"), 0);
    if (repo_add_model("org/tiny", dir, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(c.models[0].cfg.max_num_seqs, 9);
    repo_config_fini(&c);

    /* --overwrite_models starts from an empty folder */
    setf(a, sizeof a, "%s/stray.txt", dir);
    write_file(a, "x", 1);
    p.overwrite = 1;
    if (repo_pull(&p, NULL, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_false(exists(a));
    assert_int_equal(log_count("/cdn/org/tiny/model.gguf 200"), 1);
    free(dir);
}

static void test_pull_hf_folder(void **state) {
    (void)state;
    repo_pull_opts p = popts("org/hf");
    lm_error err;
    err_clear(&err);
    char *dir = NULL;
    if (repo_pull(&p, &dir, &err) != LM_OK) fail_msg("%s", err.msg);
    repo_config c = {0};
    if (repo_add_model("org/hf", dir, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_string_equal(c.models[0].cfg.path, dir); /* models_path "./" */
    repo_config_fini(&c);
    free(dir);
}

static void test_pull_gguf_selection(void **state) {
    (void)state;
    repo_pull_opts p = popts("org/multi");
    lm_error err;
    err_clear(&err);
    assert_int_equal(repo_pull(&p, NULL, &err), LM_ERR_INVALID);
    assert_string_equal(err.msg, "org/multi holds several GGUF models; pick one with --gguf_filename: "
                                 "a-Q4_K_M.gguf, a-Q8_0.gguf, b-00001-of-00002.gguf");
    assert_int_equal(log_count("/resolve/"), 0);

    p.gguf_filename = "a-Q8_0.gguf";
    char *dir = NULL;
    err_clear(&err);
    if (repo_pull(&p, &dir, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(log_count("/resolve/"), 1);
    repo_config c = {0};
    if (repo_add_model("m", dir, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    char want[2048];
    setf(want, sizeof want, "%s/a-Q8_0.gguf", dir);
    assert_string_equal(c.models[0].cfg.path, want);
    repo_config_fini(&c);

    /* a split file: every part */
    unlink(hublog);
    p.gguf_filename = "b-00001-of-00002.gguf";
    if (repo_pull(&p, NULL, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(log_count("/resolve/main/b-00001-of-00002.gguf"), 1);
    assert_int_equal(log_count("/resolve/main/b-00002-of-00002.gguf"), 1);
    assert_int_equal(log_count("/resolve/"), 2);
    free(dir);

    p.gguf_filename = "b-00002-of-00002.gguf";
    err_clear(&err);
    assert_int_equal(repo_pull(&p, NULL, &err), LM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "looks like a part of a split file"));
    p.gguf_filename = "c.gguf";
    err_clear(&err);
    assert_int_equal(repo_pull(&p, NULL, &err), LM_ERR_NOT_FOUND);
    assert_string_equal(err.msg, "--gguf_filename: c.gguf is not in org/multi (its .gguf files: "
                                 "a-Q4_K_M.gguf, a-Q8_0.gguf, b-00001-of-00002.gguf, b-00002-of-00002.gguf)");
    p.gguf_filename = "../c.gguf";
    err_clear(&err);
    assert_int_equal(repo_pull(&p, NULL, &err), LM_ERR_FORMAT);
}

static void test_pull_errors(void **state) {
    (void)state;
    repo_pull_opts p = popts("org/none");
    lm_error err;
    err_clear(&err);
    assert_int_equal(repo_pull(&p, NULL, &err), LM_ERR_NOT_FOUND);
    p = popts("../escape");
    err_clear(&err);
    assert_int_equal(repo_pull(&p, NULL, &err), LM_ERR_INVALID);
    p = popts("org/private");
    err_clear(&err);
    assert_int_equal(repo_pull(&p, NULL, &err), LM_ERR_IO);
    assert_non_null(strstr(err.msg, "set HF_TOKEN"));
    p.hub.token = "secret";
    err_clear(&err);
    assert_int_equal(repo_pull(&p, NULL, &err), LM_OK); /* a folder without a model still pulls */
}

/* ---- the command ---- */

typedef struct {
    int rc;
    char out[8192], err[8192];
} run_result;

static run_result run_pull(const char *const *args, int n) {
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
    r.rc = cli_pull_run(&o, out, err);
    fclose(out);
    fclose(err);
    return r;
}

#define PULL(...)                                                                        \
    run_pull((const char *const[]){__VA_ARGS__},                                         \
             (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))

static void test_pull_command(void **state) {
    (void)state;
    setenv("HF_ENDPOINT", endpoint, 1);
    run_result r = PULL("--pull", "--source_model", "org/tiny", "--model_repository_path", dest,
                        "--task", "text_generation", "--max_num_seqs", "7", "--enable_prefix_caching",
                        "false", "--cache_size", "2", "--max_prompt_len", "512");
    if (r.rc != 0) fail_msg("rc %d: %s", r.rc, r.err);
    char want[2048];
    setf(want, sizeof want, "Model: org/tiny downloaded to: %s/org/tiny\nGraph: graph.pbtxt created in: %s/org/tiny\n",
         dest, dest);
    assert_string_equal(r.out, want);
    /* progress went to errs as lines (not a terminal) */
    assert_non_null(strstr(r.err, "model.gguf: done"));
    repo_config c = {0};
    lm_error err;
    err_clear(&err);
    setf(want, sizeof want, "%s/org/tiny", dest);
    if (repo_add_model("org/tiny", want, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(c.models[0].cfg.max_num_seqs, 7);
    assert_int_equal(c.models[0].cfg.enable_prefix_caching, 0);
    assert_true(c.models[0].cfg.cache_size_gb == 2.0);
    assert_int_equal(c.models[0].cfg.max_prompt_len, 512);
    repo_config_fini(&c);

    r = PULL("--pull", "--model_repository_path", dest);
    assert_int_equal(r.rc, 64);
    assert_string_equal(r.err, "source_model parameter is required for pull mode\n");
    r = PULL("--pull", "--source_model", "org/tiny");
    assert_int_equal(r.rc, 64);
    assert_string_equal(r.err, "model_repository_path parameter is required for pull mode\n");
    setenv("OVMS_MODEL_REPOSITORY_PATH", dest, 1);
    r = PULL("--pull", "--source_model", "org/tiny");
    assert_int_equal(r.rc, 0);
    unsetenv("OVMS_MODEL_REPOSITORY_PATH");
    r = PULL("--pull", "--source_model", "org/tiny", "--model_repository_path", dest, "--task", "embeddings");
    assert_int_equal(r.rc, 2);
    r = PULL("--pull", "--source_model", "org/none", "--model_repository_path", dest);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "lmserve: pulling org/none failed: model org/none (revision main) not found"));
    r = PULL("--pull", "--source_model", "org/multi", "--model_repository_path", dest);
    assert_int_equal(r.rc, 64);
    unsetenv("HF_ENDPOINT");
}

/* ---- the demo flow through the binary ---- */

static int run_bin(const char *args, char *out, size_t cap) {
    const char *bin = getenv("LM_BIN");
    char cmd[4096];
    setf(cmd, sizeof cmd, "HF_ENDPOINT='%s' '%s' %s 2>&1", endpoint, bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_demo_flow_binary(void **state) {
    (void)state;
    const char *bin = getenv("LM_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        print_message("LM_BIN not set or not built; skipping\n");
        skip();
    }
    char out[8192], args[4096];
    setf(args, sizeof args, "--pull --source_model org/tiny --model_repository_path '%s' --task text_generation", dest);
    int rc = run_bin(args, out, sizeof out);
    if (rc == 2 && strstr(out, "not supported yet")) {
        print_message("the binary does not run --pull yet; skipping\n");
        skip();
    }
    if (rc != 0) fail_msg("pull: rc %d: %s", rc, out);
    assert_non_null(strstr(out, "Graph: graph.pbtxt created in: "));
    setf(args, sizeof args, "--add_to_config --config_path '%s/config.json' --model_name org/tiny --model_path org/tiny", dest);
    rc = run_bin(args, out, sizeof out);
    if (rc != 0) fail_msg("add_to_config: rc %d: %s", rc, out);
    setf(args, sizeof args, "--list_models --model_repository_path '%s'", dest);
    rc = run_bin(args, out, sizeof out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\norg/tiny\n"));
    /* and the config the server will read names the pulled GGUF */
    repo_config c = {0};
    lm_error err;
    err_clear(&err);
    setf(args, sizeof args, "%s/config.json", dest);
    if (repo_load_config(args, &c, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(c.n_models, 1);
    assert_non_null(strstr(c.models[0].cfg.path, "/org/tiny/model.gguf"));
    repo_config_fini(&c);
}

/* ---- interrupted pulls ---- */

/* Starts `lmserve --pull` for org/tiny into dir (its output appended to <dest>/pull.log); returns
 * its pid. */
static char pull_log[700];
static pid_t spawn_pull(const char *dir) {
    setf(pull_log, sizeof pull_log, "%s/pull.log", dest);
    pid_t pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        int out = open(pull_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (nul >= 0) dup2(nul, 0);
        if (out >= 0) dup2(out, 1), dup2(out, 2);
        setenv("HF_ENDPOINT", endpoint, 1);
        execl(getenv("LM_BIN"), "lmserve", "--pull", "--source_model", "org/tiny", "--model_repository_path", dir,
              "--task", "text_generation", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits up to 60 s for pid; returns its exit code, or 128 + signal. */
static void show_log(void) {
    char cmd[800];
    setf(cmd, sizeof cmd, "tail -n 20 '%s' >&2", pull_log);
    if (system(cmd) != 0) print_message("(no pull log)\n");
}

static int wait_pull(pid_t pid) {
    int status = 0;
    for (int64_t deadline = now_ms() + 60000; waitpid(pid, &status, WNOHANG) != pid;) {
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fail_msg("the pull did not end within 60 s");
        }
        usleep(2000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The files under dir, sorted, one per line, relative to dir. */
static void list_files(const char *dir, char *out, size_t cap) {
    char cmd[1200];
    setf(cmd, sizeof cmd, "cd '%s' && find . -type f | sort", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    pclose(p);
}

/* Kills pulls at random moments (SIGKILL or SIGINT, one to three times in a row), then re-runs
 * the pull: it must always end with every file complete and verified (same bytes as the hub's),
 * graph.pbtxt written, and nothing else in the folder (no .part, no temporary graph). The seed is
 * printed; LM_TEST_SEED repeats a run. */
static void test_kill_and_rerun(void **state) {
    (void)state;
    const char *bin = getenv("LM_BIN");
    if (!bin || access(bin, X_OK) != 0) skip();
    const char *env_seed = getenv("LM_TEST_SEED");
    uint32_t seed = env_seed ? (uint32_t)strtoul(env_seed, NULL, 10) : (uint32_t)time(NULL);
    print_message("kill test seed %u (LM_TEST_SEED=%u repeats it)\n", seed, seed);
    uint32_t x = seed * 2654435761u + 12345u;
#define NEXT() (x = x * 1664525u + 1013904223u, x >> 8)
    /* slow enough that a kill can land in every phase: listing, each file, graph */
    set_faults("{\"faults\": [{\"kind\": \"slow\", \"delay\": 0.03}]}");
    char dir[1200];
    setf(dir, sizeof dir, "%s/full", dest);
    sh("mkdir -p '%s'", dest);
    int64_t t0 = now_ms();
    int rc0 = wait_pull(spawn_pull(dir));
    if (rc0 != 0) {
        show_log();
        fail_msg("the first pull exited %d", rc0);
    }
    int full_ms = (int)(now_ms() - t0) + 20;
    char want[4096], sub[1300];
    setf(sub, sizeof sub, "%s/org/tiny", dir);
    list_files(sub, want, sizeof want);
    assert_string_equal(want, "./config.json\n./graph.pbtxt\n./model.gguf\n./sub/tokenizer.json\n");

    for (int round = 0; round < 10; round++) {
        setf(dir, sizeof dir, "%s/round%d", dest, round);
        int kills = 1 + (int)(NEXT() % 3);
        for (int k = 0; k < kills; k++) {
            pid_t pid = spawn_pull(dir);
            int after = (int)(NEXT() % (uint32_t)full_ms);
            int sig = NEXT() % 2 ? SIGKILL : SIGINT;
            usleep((useconds_t)after * 1000);
            kill(pid, sig);
            int rc = wait_pull(pid);
            print_message("round %d: %s after %d ms -> %d\n", round, sig == SIGKILL ? "SIGKILL" : "SIGINT", after, rc);
        }
        int rc = wait_pull(spawn_pull(dir));
        if (rc != 0) {
            show_log();
            fail_msg("round %d (seed %u): the re-run exited %d", round, seed, rc);
        }
        char have[4096];
        setf(sub, sizeof sub, "%s/org/tiny", dir);
        list_files(sub, have, sizeof have);
        if (strcmp(have, want) != 0) fail_msg("round %d (seed %u): files\n%s\nwant\n%s", round, seed, have, want);
        const char *files[] = {"config.json", "model.gguf", "sub/tokenizer.json"};
        for (size_t i = 0; i < 3; i++) {
            char a[1400], b[1400];
            setf(a, sizeof a, "%s/org/tiny/%s", dir, files[i]);
            setf(b, sizeof b, "%s/org/tiny/%s", root, files[i]);
            assert_same_file(a, b);
        }
    }
#undef NEXT
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_pull_single_gguf, each_setup),
        cmocka_unit_test_setup(test_pull_hf_folder, each_setup),
        cmocka_unit_test_setup(test_pull_gguf_selection, each_setup),
        cmocka_unit_test_setup(test_pull_errors, each_setup),
        cmocka_unit_test_setup(test_pull_command, each_setup),
        cmocka_unit_test_setup(test_demo_flow_binary, each_setup),
        cmocka_unit_test_setup(test_kill_and_rerun, each_setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
