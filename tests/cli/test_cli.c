/* tests/cli/test_cli.c — the flag table parser (src/cli/cli.c) on the server table and on small
 * test tables, and the built lmserve binary (LM_BIN) for exit codes and messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/log.h"
#include "cli/cli.h"

/* ---------------------------------------------------------------- helpers */

/* Parses the NULL-terminated argument list (argv[0] supplied) against `cmd`. */
static lm_status parse_with(const cli_command *cmd, void *opts, lm_error *err, ...) {
    char *argv[32] = {"lmserve"};
    int argc = 1;
    va_list ap;
    va_start(ap, err);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 31;) argv[argc++] = (char *)a;
    va_end(ap);
    err_clear(err);
    return cli_parse(cmd, argc, argv, opts, err);
}

#define PARSE(opts, err, ...) parse_with(&cli_server_command, (opts), (err), __VA_ARGS__, (char *)NULL)
#define PARSE0(opts, err) parse_with(&cli_server_command, (opts), (err), (char *)NULL)

/* A value row `f` accepts, as text. */
static const char *sample_value(const cli_flag *f, char *buf, size_t cap) {
    switch (f->kind) {
    case CLI_SWITCH: return NULL;
    case CLI_BOOL: return "false";
    case CLI_INT: snprintf(buf, cap, "%lld", (long long)f->max); return buf;
    case CLI_FLOAT: snprintf(buf, cap, "%g", f->fmin); return buf;
    case CLI_STRING: return "some/value";
    case CLI_ENUM: {
        const char *last = strrchr(f->choices, '|');
        snprintf(buf, cap, "%s", last ? last + 1 : f->choices);
        return buf;
    }
    }
    return NULL;
}

/* Checks that the field of row `f` holds what sample_value() gave. */
static void assert_sample_stored(const cli_flag *f, const void *opts) {
    const char *field = (const char *)opts + f->offset;
    switch (f->kind) {
    case CLI_SWITCH: assert_true(*(const bool *)field); break;
    case CLI_BOOL: assert_false(*(const bool *)field); break;
    case CLI_INT: assert_true(*(const int64_t *)field == f->max); break;
    case CLI_FLOAT: assert_true(*(const double *)field == f->fmin); break;
    case CLI_STRING: assert_string_equal(*(const char *const *)field, "some/value"); break;
    case CLI_ENUM: {
        int n = 0;
        for (const char *c = f->choices; *c; c++) n += *c == '|';
        assert_int_equal(*(const int *)field, n);
        break;
    }
    }
}

/* Runs `$LM_BIN <args>` with stderr merged into stdout; returns the exit code and fills `out`. */
static int run_bin(const char *args, char *out, size_t cap) {
    const char *bin = getenv("LM_BIN");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1 </dev/null", bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

#define NEED_BIN()                                                                              \
    do {                                                                                        \
        if (!getenv("LM_BIN")) skip();                                                          \
    } while (0)

/* ---------------------------------------------------------------- server table */

static void test_every_flag_both_forms(void **state) {
    (void)state;
    const cli_command *cmd = &cli_server_command;
    for (size_t i = 0; i < cmd->n_flags; i++) {
        const cli_flag *f = &cmd->flags[i];
        char val[64], spaced[96], joined[160];
        const char *v = sample_value(f, val, sizeof val);
        snprintf(spaced, sizeof spaced, "--%s", f->name);
        lm_status want = f->implemented ? LM_OK : LM_ERR_UNSUPPORTED;
        char want_msg[96];
        snprintf(want_msg, sizeof want_msg, "--%s: not supported yet", f->name);

        cli_server_opts o;
        lm_error err;
        lm_status s = v ? PARSE(&o, &err, spaced, v) : PARSE(&o, &err, spaced);
        if (s != want) fail_msg("%s %s: %s", spaced, v ? v : "", err.msg);
        if (!f->implemented) assert_string_equal(err.msg, want_msg);
        assert_sample_stored(f, &o);

        if (!v) continue; /* switches have no --flag=value form */
        snprintf(joined, sizeof joined, "--%s=%s", f->name, v);
        memset(&o, 0xAB, sizeof o);
        s = PARSE(&o, &err, joined);
        if (s != want) fail_msg("%s: %s", joined, err.msg);
        assert_sample_stored(f, &o);
    }
}

static void test_ovms_flag_set_is_complete(void **state) {
    (void)state;
    static const char *const names[] = {
        "rest_port", "port", "rest_bind_address", "config_path", "model_path", "model_name",
        "log_level", "pull", "source_model", "model_repository_path", "target_device", "task",
        "add_to_config", "remove_from_config", "list_models", "overwrite_models", "cache_dir",
        "enable_prefix_caching", "max_prompt_len", "tool_parser", "reasoning_parser",
        "rest_workers", "max_num_seqs", "cache_size", "help", "version",
        "file_system_poll_wait_seconds", "gguf_filename", "max_num_batched_tokens",
        "dynamic_split_fuse", "plugin_config", "log_format", "metrics_enable", "metrics_list",
        "api_key_file", "api_key_protect_health", "max_queued_requests", "request_timeout_s"};
    size_t n = sizeof names / sizeof names[0];
    assert_int_equal(cli_server_command.n_flags, n);
    for (size_t i = 0; i < n; i++) assert_non_null(cli_find_flag(&cli_server_command, names[i]));
    /* implemented today: exactly these */
    static const char *const done[] = {"help", "version", "log_level", "model_path", "model_name",
                                       "rest_port", "rest_bind_address", "rest_workers",
                                       "model_repository_path", "add_to_config", "remove_from_config",
                                       "list_models", "pull", "overwrite_models", "config_path",
                                       "max_prompt_len", "max_num_seqs", "cache_size",
                                       "source_model", "task", "file_system_poll_wait_seconds",
                                       "gguf_filename", "max_num_batched_tokens",
                                       "dynamic_split_fuse", "plugin_config", "enable_prefix_caching",
                                       "target_device", "log_format", "metrics_enable", "metrics_list",
                                       "api_key_file", "api_key_protect_health",
                                       "max_queued_requests", "request_timeout_s", "tool_parser",
                                       "reasoning_parser"};
    size_t n_done = 0;
    for (size_t i = 0; i < cli_server_command.n_flags; i++)
        n_done += cli_server_command.flags[i].implemented;
    assert_int_equal(n_done, sizeof done / sizeof done[0]);
    for (size_t i = 0; i < sizeof done / sizeof done[0]; i++)
        assert_true(cli_find_flag(&cli_server_command, done[i])->implemented);
    /* the switches take no value */
    static const char *const switches[] = {"pull", "add_to_config", "remove_from_config",
                                           "list_models", "overwrite_models", "help", "version"};
    for (size_t i = 0; i < sizeof switches / sizeof switches[0]; i++)
        assert_int_equal(cli_find_flag(&cli_server_command, switches[i])->kind, CLI_SWITCH);
}

static void test_defaults(void **state) {
    (void)state;
    cli_server_opts o;
    lm_error err;
    memset(&o, 0x5A, sizeof o);
    assert_int_equal(PARSE0(&o, &err), LM_OK);
    assert_int_equal(o.rest_port, 0);
    assert_int_equal(o.port, 0);
    assert_string_equal(o.rest_bind_address, "0.0.0.0");
    assert_int_equal(o.log_level, LOG_INFO);
    assert_true(o.enable_prefix_caching);
    assert_int_equal(o.max_num_seqs, 256);
    assert_int_equal(o.cache_size, 0);
    assert_int_equal(o.rest_workers, 0);
    assert_null(o.model_path);
    assert_null(o.tool_parser);
    assert_false(o.pull);
    assert_false(o.help);
    assert_int_equal(o.task, -1); /* not given: inferred from the repository */
    assert_int_equal(o.file_system_poll_wait_seconds, 1);
    assert_true(o.dynamic_split_fuse);
    assert_int_equal(o.max_num_batched_tokens, 0);
    assert_null(o.gguf_filename);
    assert_null(o.plugin_config);
}

static void test_log_levels_map_to_log_enum(void **state) {
    (void)state;
    static const char *const levels[] = {"TRACE", "DEBUG", "INFO", "WARNING", "ERROR"};
    for (size_t i = 0; i < 5; i++) {
        cli_server_opts o;
        lm_error err;
        assert_int_equal(PARSE(&o, &err, "--log_level", levels[i]), LM_OK);
        log_level want;
        assert_int_equal(log_parse_level(levels[i], &want), 0);
        assert_int_equal(o.log_level, want);
    }
    cli_server_opts o;
    lm_error err;
    assert_int_equal(PARSE(&o, &err, "--log_level=LOUD"), LM_ERR_INVALID);
    assert_string_equal(err.msg, "--log_level: 'LOUD' is not one of TRACE, DEBUG, INFO, WARNING, ERROR");
}

static void test_int_range_errors(void **state) {
    (void)state;
    cli_server_opts o;
    lm_error err;
    assert_int_equal(PARSE(&o, &err, "--rest_port", "80x"), LM_ERR_INVALID);
    assert_string_equal(err.msg, "--rest_port: '80x' is not an integer in [0, 65535]");
    assert_int_equal(PARSE(&o, &err, "--rest_port=65536"), LM_ERR_INVALID);
    assert_string_equal(err.msg, "--rest_port: '65536' is not an integer in [0, 65535]");
    static const char *const bad[] = {"-1", "", " 80", "+80", "8 0", "0x50", "1e3",
                                      "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char arg[64];
        snprintf(arg, sizeof arg, "--port=%s", bad[i]);
        if (PARSE(&o, &err, arg) != LM_ERR_INVALID) fail_msg("%s accepted", arg);
        assert_non_null(strstr(err.msg, "is not an integer in [0, 65535]"));
    }
    assert_int_equal(PARSE(&o, &err, "--max_num_seqs", "0"), LM_ERR_INVALID);
    assert_string_equal(err.msg, "--max_num_seqs: '0' is not an integer in [1, 65536]");
    assert_int_equal(PARSE(&o, &err, "--rest_port", "65535"), LM_OK);
    assert_int_equal(o.rest_port, 65535);
}

static void test_bool_words(void **state) {
    (void)state;
    cli_server_opts o;
    lm_error err;
    assert_int_equal(PARSE(&o, &err, "--enable_prefix_caching=false"), LM_OK);
    assert_false(o.enable_prefix_caching);
    assert_int_equal(PARSE(&o, &err, "--enable_prefix_caching", "true"), LM_OK);
    assert_true(o.enable_prefix_caching);
    assert_int_equal(PARSE(&o, &err, "--enable_prefix_caching", "yes"), LM_ERR_INVALID);
    assert_string_equal(err.msg, "--enable_prefix_caching: 'yes' is not true or false");
    assert_int_equal(PARSE(&o, &err, "--enable_prefix_caching"), LM_ERR_INVALID);
    assert_string_equal(err.msg, "--enable_prefix_caching: missing value; expected true or false");
}

static void test_switches_take_no_value(void **state) {
    (void)state;
    cli_server_opts o;
    lm_error err;
    assert_int_equal(PARSE(&o, &err, "--pull=true"), LM_ERR_INVALID);
    assert_string_equal(err.msg, "--pull: takes no value (got '--pull=true')");
    assert_int_equal(PARSE(&o, &err, "--help=1"), LM_ERR_INVALID);
    assert_int_equal(PARSE(&o, &err, "--list_models", "yes"), LM_ERR_INVALID);
    assert_string_equal(err.msg, "unexpected argument 'yes' (--list_models takes no value)");
    /* a switch followed by another flag is fine */
    assert_int_equal(PARSE(&o, &err, "--help", "--model_name", "m"), LM_OK);
    assert_true(o.help);
    assert_string_equal(o.model_name, "m");
}

static void test_missing_and_stray_values(void **state) {
    (void)state;
    cli_server_opts o;
    lm_error err;
    assert_int_equal(PARSE(&o, &err, "--model_name"), LM_ERR_INVALID);
    assert_string_equal(err.msg, "--model_name: missing value; expected a non-empty NAME");
    /* the next flag is not swallowed as a value */
    assert_int_equal(PARSE(&o, &err, "--model_path", "--log_level", "DEBUG"), LM_ERR_INVALID);
    assert_string_equal(err.msg, "--model_path: missing value; expected a non-empty PATH");
    assert_int_equal(PARSE(&o, &err, "--model_path="), LM_ERR_INVALID);
    assert_string_equal(err.msg, "--model_path: value is empty");
    assert_int_equal(PARSE(&o, &err, "serve"), LM_ERR_INVALID);
    assert_string_equal(err.msg, "unexpected argument 'serve'");
    assert_int_equal(PARSE(&o, &err, "--"), LM_ERR_INVALID);
    assert_int_equal(PARSE(&o, &err, "-"), LM_ERR_INVALID);
    /* values that start with one dash are values */
    assert_int_equal(PARSE(&o, &err, "--model_name", "-m-"), LM_OK);
    assert_string_equal(o.model_name, "-m-");
    /* '=' inside a value is kept */
    assert_int_equal(PARSE(&o, &err, "--model_path=a=b"), LM_OK);
    assert_string_equal(o.model_path, "a=b");
}

static void test_last_value_wins(void **state) {
    (void)state;
    cli_server_opts o;
    lm_error err;
    assert_int_equal(PARSE(&o, &err, "--log_level", "ERROR", "--log_level=DEBUG"), LM_OK);
    assert_int_equal(o.log_level, LOG_DEBUG);
}

static void expect_suggestion(const char *typed, const char *want_flag) {
    cli_server_opts o;
    lm_error err;
    char want[160];
    assert_int_equal(PARSE(&o, &err, typed), LM_ERR_INVALID);
    const char *eq = strchr(typed, '=');
    int len = eq ? (int)(eq - typed) : (int)strlen(typed);
    snprintf(want, sizeof want, "unknown flag '%.*s'; did you mean '%s'?", len, typed, want_flag);
    assert_string_equal(err.msg, want);
}

static void test_unknown_flag_suggestions(void **state) {
    (void)state;
    expect_suggestion("--rest-port", "--rest_port");
    expect_suggestion("--rest-port=8000", "--rest_port");
    expect_suggestion("--modelpath", "--model_path");
    expect_suggestion("--model_nam", "--model_name");
    expect_suggestion("--log-level", "--log_level");
    expect_suggestion("--verison", "--version");
    expect_suggestion("--hlep", "--help");
    expect_suggestion("-help", "--help");
    expect_suggestion("--source-model", "--source_model");
    expect_suggestion("--enable-prefix-caching", "--enable_prefix_caching");
    expect_suggestion("--max_num_seq", "--max_num_seqs");
    /* whatever is nearest for --bogus, the message names a real flag */
    cli_server_opts o;
    lm_error err;
    assert_int_equal(PARSE(&o, &err, "--bogus"), LM_ERR_INVALID);
    const cli_flag *near = cli_nearest_flag(&cli_server_command, "--bogus");
    assert_non_null(near);
    char want[128];
    snprintf(want, sizeof want, "unknown flag '--bogus'; did you mean '--%s'?", near->name);
    assert_string_equal(err.msg, want);
    /* a very long unknown flag is cut, not overflowed */
    char longflag[600] = "--";
    memset(longflag + 2, 'x', 500);
    longflag[502] = '\0';
    assert_int_equal(PARSE(&o, &err, longflag), LM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "did you mean"));
}

static void test_usage_errors_beat_not_supported(void **state) {
    (void)state;
    cli_server_opts o;
    lm_error err;
    /* the unsupported flag comes first, but the typo later on the line is what gets reported */
    assert_int_equal(PARSE(&o, &err, "--pull", "--bogus"), LM_ERR_INVALID);
    assert_int_equal(PARSE(&o, &err, "--rest_port", "8000", "--log_level", "LOUD"), LM_ERR_INVALID);
    /* the first unsupported flag is named, and the line is fully parsed */
    assert_int_equal(PARSE(&o, &err, "--cache_dir", "/tmp/c", "--rest_port", "8000", "--help"),
                     LM_ERR_UNSUPPORTED);
    assert_string_equal(err.msg, "--cache_dir: not supported yet");
    assert_int_equal(o.rest_port, 8000);
    assert_true(o.help);
}

static void test_exit_codes(void **state) {
    (void)state;
    assert_int_equal(cli_exit_code(LM_OK), 0);
    assert_int_equal(cli_exit_code(LM_ERR_INVALID), 64);
    assert_int_equal(cli_exit_code(LM_ERR_UNSUPPORTED), 2);
    assert_int_equal(cli_exit_code(LM_ERR_IO), 1);
    assert_int_equal(cli_exit_code(LM_ERR_INTERNAL), 1);
}

static void test_help_lists_every_flag(void **state) {
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    cli_print_help(f, &cli_server_command);
    fclose(f);
    size_t n_unsupported = 0;
    for (size_t i = 0; i < cli_server_command.n_flags; i++) {
        const cli_flag *row = &cli_server_command.flags[i];
        char needle[80];
        snprintf(needle, sizeof needle, "  --%s ", row->name);
        if (!strstr(text, needle)) {
            snprintf(needle, sizeof needle, "  --%s\n", row->name);
            if (!strstr(text, needle)) fail_msg("help lacks --%s", row->name);
        }
        n_unsupported += !row->implemented;
    }
    size_t marks = 0;
    for (const char *p = text; (p = strstr(p, " [not supported yet]\n")) != NULL; p++) marks++;
    assert_int_equal(marks, n_unsupported);
    assert_non_null(strstr(text, "(default: 0.0.0.0)"));
    assert_non_null(strstr(text, "(default: INFO)"));
    assert_non_null(strstr(text, "\nServer:\n"));
    assert_non_null(strstr(text, "\nText generation:\n"));
    free(text);
}

/* ---------------------------------------------------------------- a subcommand table */

typedef struct {
    const char *model, *prompt;
    int64_t max_tokens;
    double temperature;
    bool help;
} gen_opts;

static const cli_flag gen_flags[] = {
    {.name = "model", .kind = CLI_STRING, .offset = offsetof(gen_opts, model), .def = "demo.gguf",
     .implemented = true},
    {.name = "prompt", .kind = CLI_STRING, .offset = offsetof(gen_opts, prompt), .required = true,
     .implemented = true},
    {.name = "max_tokens", .kind = CLI_INT, .offset = offsetof(gen_opts, max_tokens), .min = 1,
     .max = 4096, .def = "64", .implemented = true},
    {.name = "temperature", .kind = CLI_FLOAT, .offset = offsetof(gen_opts, temperature),
     .fmin = 0, .fmax = 2, .def = "0", .implemented = true},
    {.name = "help", .kind = CLI_SWITCH, .offset = offsetof(gen_opts, help), .implemented = true},
};
static const cli_command gen_cmd = {.name = "t gen", .usage = "t gen --prompt TEXT",
                                    .flags = gen_flags, .n_flags = 5};

#define GEN(opts, err, ...) parse_with(&gen_cmd, (opts), (err), __VA_ARGS__, (char *)NULL)

static void test_subcommand_table(void **state) {
    (void)state;
    gen_opts o;
    lm_error err;
    assert_int_equal(GEN(&o, &err, "--prompt", "Once upon", "--temperature=0.7"), LM_OK);
    assert_string_equal(o.model, "demo.gguf");
    assert_string_equal(o.prompt, "Once upon");
    assert_int_equal(o.max_tokens, 64);
    assert_true(o.temperature == 0.7);
    assert_int_equal(GEN(&o, &err, "--max_tokens", "8"), LM_ERR_INVALID);
    assert_string_equal(err.msg, "missing required flag --prompt");
    static const char *const bad_t[] = {"nan", "inf", "-0.5", "2.5", "1e999", "abc", "", " 1",
                                        "0.5x", "0x1p0"};
    for (size_t i = 0; i < sizeof bad_t / sizeof bad_t[0]; i++) {
        char arg[64];
        snprintf(arg, sizeof arg, "--temperature=%s", bad_t[i]);
        if (GEN(&o, &err, "--prompt", "p", arg) != LM_ERR_INVALID) fail_msg("%s accepted", arg);
        assert_non_null(strstr(err.msg, "is not a number in [0, 2]"));
    }
    assert_int_equal(GEN(&o, &err, "--prompt", "p", "--temperature", "2"), LM_OK);
    assert_true(o.temperature == 2.0);
    assert_int_equal(GEN(&o, &err, "--prompt", "p", "--temprature", "1"), LM_ERR_INVALID);
    assert_string_equal(err.msg, "unknown flag '--temprature'; did you mean '--temperature'?");
}

static void test_broken_tables_are_internal_errors(void **state) {
    (void)state;
    static const cli_flag bad_default[] = {
        {.name = "n", .kind = CLI_INT, .offset = 0, .min = 0, .max = 9, .def = "10"},
    };
    static const cli_command bad = {.name = "t", .flags = bad_default, .n_flags = 1};
    int64_t n;
    lm_error err;
    assert_int_equal(parse_with(&bad, &n, &err, (char *)NULL), LM_ERR_INTERNAL);
    assert_non_null(strstr(err.msg, "bad default '10'"));
    static const cli_flag no_choices[] = {{.name = "e", .kind = CLI_ENUM}};
    static const cli_command bad2 = {.name = "t", .flags = no_choices, .n_flags = 1};
    int e;
    assert_int_equal(parse_with(&bad2, &e, &err, (char *)NULL), LM_ERR_INTERNAL);
}

/* ---------------------------------------------------------------- the binary */

static void test_bin_bogus_names_nearest_flag(void **state) {
    (void)state;
    NEED_BIN();
    char out[4096];
    assert_int_equal(run_bin("--bogus", out, sizeof out), 64);
    assert_non_null(strstr(out, "unknown flag '--bogus'; did you mean '--"));
    assert_int_equal(run_bin("--rest-port 8000", out, sizeof out), 64);
    assert_non_null(strstr(out, "did you mean '--rest_port'?"));
    assert_int_equal(run_bin("--rest_port=80x", out, sizeof out), 64);
    assert_non_null(strstr(out, "--rest_port: '80x' is not an integer in [0, 65535]"));
}

static void test_bin_help_and_version(void **state) {
    (void)state;
    NEED_BIN();
    char out[16384];
    assert_int_equal(run_bin("--help", out, sizeof out), 0);
    for (size_t i = 0; i < cli_server_command.n_flags; i++) {
        char needle[80];
        snprintf(needle, sizeof needle, "--%s", cli_server_command.flags[i].name);
        if (!strstr(out, needle)) fail_msg("lmserve --help lacks %s", needle);
    }
    assert_non_null(strstr(out, "lmserve generate"));
    /* --help wins over a flag that is not built yet */
    assert_int_equal(run_bin("--rest_port 8000 --help", out, sizeof out), 0);
    assert_int_equal(run_bin("--version", out, sizeof out), 0);
    assert_string_equal(out, "lmserve " LM_VERSION "\n");
}

static void test_bin_exit_codes(void **state) {
    (void)state;
    NEED_BIN();
    char out[8192];
    /* (no arguments serves the demo model: tests/server covers that) */
    assert_int_equal(run_bin("--port 9000", out, sizeof out), 2);
    assert_non_null(strstr(out, "--port: not supported yet"));
    /* a config file that does not exist fails before the server binds its port */
    assert_int_equal(run_bin("--rest_port 8000 --config_path c.json", out, sizeof out), 1);
    assert_non_null(strstr(out, "c.json"));
    assert_int_equal(run_bin("--rest_port 8000 --cache_dir /tmp/c", out, sizeof out), 2);
    assert_non_null(strstr(out, "--cache_dir: not supported yet"));
    /* pull mode runs (src/repo/pull.h; tests/repo/test_pull.c pulls from a local hub) */
    assert_int_equal(run_bin("--pull", out, sizeof out), 64);
    assert_non_null(strstr(out, "source_model parameter is required for pull mode"));
    /* a model path that does not exist fails before the server binds its port */
    assert_int_equal(run_bin("--model_path m --model_name n --log_level DEBUG", out, sizeof out), 1);
    assert_non_null(strstr(out, "'m' does not exist"));
    assert_int_equal(run_bin("--pull=true", out, sizeof out), 64);
    assert_int_equal(run_bin("stray", out, sizeof out), 64);
}

static void test_bin_subcommands(void **state) {
    (void)state;
    NEED_BIN();
    char out[8192];
    assert_int_equal(run_bin("tokenize --help", out, sizeof out), 0);
    assert_non_null(strstr(out, "--model PATH"));
    assert_non_null(strstr(out, "--add_special_tokens true|false"));
    assert_non_null(strstr(out, "--jsonl"));
    assert_int_equal(run_bin("tokenize --model m.gguf", out, sizeof out), 1);
    assert_non_null(strstr(out, "m.gguf"));
    assert_int_equal(run_bin("tokenize", out, sizeof out), 64);
    assert_non_null(strstr(out, "missing required flag --model"));
    assert_int_equal(run_bin("tokenize --model m --jsnol", out, sizeof out), 64);
    assert_non_null(strstr(out, "did you mean '--jsonl'?"));

    assert_int_equal(run_bin("chat-template --help", out, sizeof out), 0);
    assert_non_null(strstr(out, "--template FILE"));
    assert_non_null(strstr(out, "--date YYYY-MM-DD"));
    assert_int_equal(run_bin("chat-template --model m --messages x.json", out, sizeof out), 64);
    assert_non_null(strstr(out, "--messages"));
    assert_int_equal(run_bin("chat-template", out, sizeof out), 64);
    assert_non_null(strstr(out, "exactly one of --model and --template"));
    assert_int_equal(run_bin("chat-template --template t.jinja --date 2026-13-01", out, sizeof out), 64);

    assert_int_equal(run_bin("generate --help", out, sizeof out), 0);
    assert_non_null(strstr(out, "--prompt"));
    assert_int_equal(run_bin("generate --prompt hi --max_tokenz 3", out, sizeof out), 64);
    assert_non_null(strstr(out, "did you mean '--max_tokens'?"));

    /* a subcommand name is only recognised first; later it is a stray argument */
    assert_int_equal(run_bin("--log_level INFO tokenize", out, sizeof out), 64);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_flag_both_forms),
        cmocka_unit_test(test_ovms_flag_set_is_complete),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_log_levels_map_to_log_enum),
        cmocka_unit_test(test_int_range_errors),
        cmocka_unit_test(test_bool_words),
        cmocka_unit_test(test_switches_take_no_value),
        cmocka_unit_test(test_missing_and_stray_values),
        cmocka_unit_test(test_last_value_wins),
        cmocka_unit_test(test_unknown_flag_suggestions),
        cmocka_unit_test(test_usage_errors_beat_not_supported),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_help_lists_every_flag),
        cmocka_unit_test(test_subcommand_table),
        cmocka_unit_test(test_broken_tables_are_internal_errors),
        cmocka_unit_test(test_bin_bogus_names_nearest_flag),
        cmocka_unit_test(test_bin_help_and_version),
        cmocka_unit_test(test_bin_exit_codes),
        cmocka_unit_test(test_bin_subcommands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
