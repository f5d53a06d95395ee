/* cli.c — parsing argv against a flag table, help output, and the server command's table.
 * What each flag does is left to the commands; this file only turns text into typed fields. */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Longest flag name a table may hold; bounds the edit-distance row below. */
#define NAME_MAX_LEN 63

/* ---------------------------------------------------------------- values */

static const char *kind_metavar(const cli_flag *f) {
    if (f->metavar) return f->metavar;
    switch (f->kind) {
    case CLI_SWITCH: return "";
    case CLI_BOOL: return "true|false";
    case CLI_INT: return "N";
    case CLI_FLOAT: return "X";
    case CLI_STRING: return "TEXT";
    case CLI_ENUM: return f->choices;
    }
    return "";
}

/* Writes "an integer in [0, 65535]" etc.: the expectation, shared by bad- and missing-value errors. */
static void describe_expected(const cli_flag *f, char *out, size_t cap) {
    switch (f->kind) {
    case CLI_SWITCH: snprintf(out, cap, "no value"); break;
    case CLI_BOOL: snprintf(out, cap, "true or false"); break;
    case CLI_INT:
        snprintf(out, cap, "an integer in [%" PRId64 ", %" PRId64 "]", f->min, f->max);
        break;
    case CLI_FLOAT: snprintf(out, cap, "a number in [%g, %g]", f->fmin, f->fmax); break;
    case CLI_STRING: snprintf(out, cap, "a non-empty %s", f->metavar ? f->metavar : "value"); break;
    case CLI_ENUM: {
        /* "one of A, B, C" from "A|B|C" */
        size_t n = (size_t)snprintf(out, cap, "one of ");
        for (const char *c = f->choices; *c && n + 3 < cap; c++) {
            if (*c == '|') {
                out[n++] = ',';
                out[n++] = ' ';
            } else {
                out[n++] = *c;
            }
        }
        out[n < cap ? n : cap - 1] = '\0';
        break;
    }
    }
}

static bool parse_int(const char *s, int64_t *out) {
    /* strtoll alone would accept leading blanks and a '+'; a flag value must be plain digits */
    const char *d = s[0] == '-' ? s + 1 : s;
    if (*d < '0' || *d > '9') return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end != '\0') return false;
    *out = (int64_t)v;
    return true;
}

static bool parse_float(const char *s, double *out) {
    const char *d = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
    if (!((*d >= '0' && *d <= '9') || *d == '.')) return false; /* no blanks, "inf", "nan" */
    if (strpbrk(s, "xX")) return false;                           /* no hex floats */
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno == ERANGE || *end != '\0' || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* Index of `word` in the '|'-separated `choices`, or -1. */
static int enum_index(const char *choices, const char *word) {
    size_t wlen = strlen(word);
    int i = 0;
    for (const char *c = choices;; i++) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == wlen && memcmp(c, word, len) == 0) return i;
        if (!bar) return -1;
        c = bar + 1;
    }
}

/* Converts `text` for row `f` and stores it in the field at opts + f->offset. */
static lm_status set_value(const cli_flag *f, const char *text, void *opts, lm_error *err) {
    char *field = (char *)opts + f->offset;
    char expected[256];
    describe_expected(f, expected, sizeof expected);
    switch (f->kind) {
    case CLI_SWITCH:
        *(bool *)field = true;
        return LM_OK;
    case CLI_BOOL:
        if (strcmp(text, "true") == 0) *(bool *)field = true;
        else if (strcmp(text, "false") == 0) *(bool *)field = false;
        else return err_set(err, LM_ERR_INVALID, "--%s: '%s' is not %s", f->name, text, expected);
        return LM_OK;
    case CLI_INT: {
        int64_t v;
        if (!parse_int(text, &v) || v < f->min || v > f->max)
            return err_set(err, LM_ERR_INVALID, "--%s: '%s' is not %s", f->name, text, expected);
        *(int64_t *)field = v;
        return LM_OK;
    }
    case CLI_FLOAT: {
        double v;
        if (!parse_float(text, &v) || v < f->fmin || v > f->fmax)
            return err_set(err, LM_ERR_INVALID, "--%s: '%s' is not %s", f->name, text, expected);
        *(double *)field = v;
        return LM_OK;
    }
    case CLI_STRING:
        if (text[0] == '\0') return err_set(err, LM_ERR_INVALID, "--%s: value is empty", f->name);
        *(const char **)field = text;
        return LM_OK;
    case CLI_ENUM: {
        int i = enum_index(f->choices, text);
        if (i < 0) return err_set(err, LM_ERR_INVALID, "--%s: '%s' is not %s", f->name, text, expected);
        *(int *)field = i;
        return LM_OK;
    }
    }
    return err_set(err, LM_ERR_INTERNAL, "--%s: unknown value kind %d", f->name, (int)f->kind);
}

/* ---------------------------------------------------------------- lookup */

const cli_flag *cli_find_flag(const cli_command *cmd, const char *name) {
    for (size_t i = 0; i < cmd->n_flags; i++)
        if (strcmp(cmd->flags[i].name, name) == 0) return &cmd->flags[i];
    return NULL;
}

/* Levenshtein distance; `b` is a table name (at most NAME_MAX_LEN), `a` any user text. */
static size_t edit_distance(const char *a, const char *b) {
    size_t blen = strlen(b);
    size_t row[NAME_MAX_LEN + 2];
    for (size_t j = 0; j <= blen; j++) row[j] = j;
    for (size_t i = 1; a[i - 1]; i++) {
        size_t diag = row[0]; /* row[i-1][j-1] */
        row[0] = i;
        for (size_t j = 1; j <= blen; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[blen];
}

const cli_flag *cli_nearest_flag(const cli_command *cmd, const char *name) {
    while (*name == '-') name++;
    const cli_flag *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < cmd->n_flags; i++) {
        if (strlen(cmd->flags[i].name) > NAME_MAX_LEN) continue; /* cli_parse reports it */
        size_t d = edit_distance(name, cmd->flags[i].name);
        if (d < best_d) {
            best_d = d;
            best = &cmd->flags[i];
        }
    }
    return best;
}

/* ---------------------------------------------------------------- parsing */

static lm_status check_table(const cli_command *cmd, lm_error *err) {
    if (cmd->n_flags > CLI_MAX_FLAGS)
        return err_set(err, LM_ERR_INTERNAL, "%s: %zu flags, more than %d", cmd->name, cmd->n_flags,
                       CLI_MAX_FLAGS);
    for (size_t i = 0; i < cmd->n_flags; i++) {
        const cli_flag *f = &cmd->flags[i];
        if (!f->name || strlen(f->name) == 0 || strlen(f->name) > NAME_MAX_LEN)
            return err_set(err, LM_ERR_INTERNAL, "%s: flag %zu has a bad name", cmd->name, i);
        if (f->kind == CLI_ENUM && !f->choices)
            return err_set(err, LM_ERR_INTERNAL, "--%s: enum without choices", f->name);
    }
    return LM_OK;
}

static lm_status apply_defaults(const cli_command *cmd, void *opts, lm_error *err) {
    for (size_t i = 0; i < cmd->n_flags; i++) {
        const cli_flag *f = &cmd->flags[i];
        if (!f->def && f->kind == CLI_ENUM) *(int *)((char *)opts + f->offset) = -1; /* not given */
        if (!f->def) continue;
        lm_error e;
        err_clear(&e);
        if (f->kind == CLI_SWITCH || set_value(f, f->def, opts, &e) != LM_OK)
            return err_set(err, LM_ERR_INTERNAL, "--%s: bad default '%s' in the table: %s", f->name,
                           f->def, e.msg);
    }
    return LM_OK;
}

/* Zeroes `opts`: the table says how big the struct is only through its offsets, so clear up to
 * the end of the furthest field. */
static void clear_opts(const cli_command *cmd, void *opts) {
    size_t end = 0;
    for (size_t i = 0; i < cmd->n_flags; i++) {
        const cli_flag *f = &cmd->flags[i];
        size_t size = f->kind == CLI_INT ? sizeof(int64_t)
                      : f->kind == CLI_FLOAT ? sizeof(double)
                      : f->kind == CLI_STRING ? sizeof(const char *)
                      : f->kind == CLI_ENUM ? sizeof(int)
                      : sizeof(bool);
        if (f->offset + size > end) end = f->offset + size;
    }
    memset(opts, 0, end);
}

lm_status cli_parse(const cli_command *cmd, int argc, char **argv, void *opts, lm_error *err) {
    LM_TRY(check_table(cmd, err));
    clear_opts(cmd, opts);
    LM_TRY(apply_defaults(cmd, opts, err));

    uint64_t given = 0;
    const cli_flag *unsupported = NULL; /* reported after the whole line parsed */
    const cli_flag *prev_switch = NULL; /* for the hint "--pull takes no value" */
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0' || strcmp(arg, "--") == 0) {
            if (prev_switch)
                return err_set(err, LM_ERR_INVALID, "unexpected argument '%s' (--%s takes no value)",
                               arg, prev_switch->name);
            return err_set(err, LM_ERR_INVALID, "unexpected argument '%s'", arg);
        }
        prev_switch = NULL;

        /* Split "--name=value"; a single dash is not an OVMS flag, but report it as unknown
         * with a suggestion rather than as a stray argument. */
        const char *name = arg[1] == '-' ? arg + 2 : arg + 1;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_flag *f = NULL;
        for (size_t k = 0; k < cmd->n_flags && arg[1] == '-'; k++) {
            if (strlen(cmd->flags[k].name) == name_len &&
                memcmp(cmd->flags[k].name, name, name_len) == 0)
                f = &cmd->flags[k];
        }
        if (!f) {
            char typed[NAME_MAX_LEN * 2 + 1];
            size_t n = (size_t)(name - arg) + name_len;
            if (n >= sizeof typed) n = sizeof typed - 1;
            memcpy(typed, arg, n);
            typed[n] = '\0';
            const cli_flag *near = cli_nearest_flag(cmd, typed);
            if (near)
                return err_set(err, LM_ERR_INVALID, "unknown flag '%s'; did you mean '--%s'?", typed,
                               near->name);
            return err_set(err, LM_ERR_INVALID, "unknown flag '%s'", typed);
        }

        const char *value;
        if (f->kind == CLI_SWITCH) {
            if (eq) return err_set(err, LM_ERR_INVALID, "--%s: takes no value (got '%s')", f->name, arg);
            value = "";
            prev_switch = f;
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            value = argv[++i];
        } else {
            char expected[256];
            describe_expected(f, expected, sizeof expected);
            return err_set(err, LM_ERR_INVALID, "--%s: missing value; expected %s", f->name, expected);
        }
        LM_TRY(set_value(f, value, opts, err));
        given |= UINT64_C(1) << (f - cmd->flags);
        if (!f->implemented && !unsupported) unsupported = f;
    }

    for (size_t k = 0; k < cmd->n_flags; k++)
        if (cmd->flags[k].required && !(given & (UINT64_C(1) << k)))
            return err_set(err, LM_ERR_INVALID, "missing required flag --%s", cmd->flags[k].name);
    if (unsupported)
        return err_set(err, LM_ERR_UNSUPPORTED, "--%s: not supported yet", unsupported->name);
    return LM_OK;
}

int cli_exit_code(lm_status status) {
    switch (status) {
    case LM_OK: return CLI_EXIT_OK;
    case LM_ERR_INVALID: return CLI_EXIT_USAGE;
    case LM_ERR_UNSUPPORTED: return CLI_EXIT_UNSUPPORTED;
    default: return CLI_EXIT_FAILURE;
    }
}

int cli_parse_or_exit(const cli_command *cmd, int argc, char **argv, void *opts) {
    if (cli_find_flag(cmd, "help")) {
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--help") == 0) {
                cli_print_help(stdout, cmd);
                return CLI_EXIT_OK;
            }
        }
    }
    lm_error err;
    err_clear(&err);
    lm_status s = cli_parse(cmd, argc, argv, opts, &err);
    if (s == LM_OK) return CLI_CONTINUE;
    fprintf(stderr, "%s: %s\n", cmd->name, err.msg);
    if (s == LM_ERR_INVALID && cli_find_flag(cmd, "help"))
        fprintf(stderr, "Try '%s --help'.\n", cmd->name);
    return cli_exit_code(s);
}

/* ---------------------------------------------------------------- help */

/* Help layout: flag and value in a left column, the description wrapped to the right of it. */
enum { HELP_LEFT = 38, HELP_WIDTH = 100 };

/* Inside help text, a space that must not break a line ("[not supported yet]" stays whole). */
#define NBSP '\x1f'
#define NBSP_S "\x1f"

/* Prints `text` word-wrapped into the right column, which starts at column `col`. */
static void print_wrapped(FILE *out, const char *text, size_t col) {
    size_t pos = col;
    while (*text) {
        while (*text == ' ') text++;
        size_t len = strcspn(text, " ");
        if (len == 0) break;
        if (pos > col && pos + 1 + len > HELP_WIDTH) {
            fprintf(out, "\n%*s", (int)col, "");
            pos = col;
        } else if (pos > col) {
            fputc(' ', out);
            pos++;
        }
        for (size_t k = 0; k < len; k++) fputc(text[k] == NBSP ? ' ' : text[k], out);
        pos += len;
        text += len;
    }
    fputc('\n', out);
}

void cli_print_help(FILE *out, const cli_command *cmd) {
    fprintf(out, "Usage: %s\n", cmd->usage);
    if (cmd->about) fprintf(out, "\n%s\n", cmd->about);
    const char *group = NULL;
    for (size_t i = 0; i < cmd->n_flags; i++) {
        const cli_flag *f = &cmd->flags[i];
        if (f->group && (!group || strcmp(f->group, group) != 0)) {
            group = f->group;
            fprintf(out, "\n%s:\n", group);
        } else if (i == 0) {
            fprintf(out, "\nFlags:\n");
        }
        const char *mv = kind_metavar(f);
        int left = fprintf(out, "  --%s%s%s", f->name, *mv ? " " : "", mv);
        if (left < 0) return;
        if ((size_t)left + 1 > HELP_LEFT) {
            fprintf(out, "\n%*s", HELP_LEFT, "");
        } else {
            fprintf(out, "%*s", HELP_LEFT - left, "");
        }
        char text[768];
        snprintf(text, sizeof text, "%s%s%s%s%s%s", f->help ? f->help : "",
                 f->def ? " (default:" NBSP_S : "", f->def ? f->def : "", f->def ? ")" : "",
                 f->required ? " (required)" : "",
                 f->implemented ? "" : " [not" NBSP_S "supported" NBSP_S "yet]");
        print_wrapped(out, text, HELP_LEFT);
    }
}

/* ---------------------------------------------------------------- the server command */

/* One row per OVMS flag, in the order --help shows them. Turning a feature on is flipping its
 * .implemented to true once the code behind it exists. */
#define SRV(field) .offset = offsetof(cli_server_opts, field)
static const cli_flag server_flags[] = {
    {.name = "rest_port", .kind = CLI_INT, SRV(rest_port), .min = 0, .max = 65535, .def = "0",
     .metavar = "PORT", .group = "Server",
     .help = "port of the REST API (OpenAI endpoints); 0 (no gRPC either) serves on 8000",
     .implemented = true},
    {.name = "port", .kind = CLI_INT, SRV(port), .min = 0, .max = 65535, .def = "0",
     .metavar = "PORT", .help = "port of the gRPC API; 0 turns gRPC off"},
    {.name = "rest_bind_address", .kind = CLI_STRING, SRV(rest_bind_address), .def = "0.0.0.0",
     .metavar = "ADDRESS", .help = "network interface the REST API listens on", .implemented = true},
    {.name = "rest_workers", .kind = CLI_INT, SRV(rest_workers), .min = 1, .max = 10000,
     .metavar = "N", .help = "REST worker threads (default: from the CPU count)", .implemented = true},
    {.name = "log_level", .kind = CLI_ENUM, SRV(log_level),
     .choices = "TRACE|DEBUG|INFO|WARNING|ERROR", .def = "INFO", .metavar = "LEVEL",
     .help = "least severe log messages printed: TRACE, DEBUG, INFO, WARNING or ERROR",
     .implemented = true},
    {.name = "log_format", .kind = CLI_ENUM, SRV(log_format), .choices = "text|json",
     .def = "text", .metavar = "FORMAT",
     .help = "log lines as text, or as one JSON object per line for log shippers",
     .implemented = true},
    {.name = "metrics_enable", .kind = CLI_SWITCH, SRV(metrics_enable),
     .help = "serve Prometheus metrics on GET /metrics (docs/operations.md)", .implemented = true},
    {.name = "metrics_list", .kind = CLI_STRING, SRV(metrics_list), .metavar = "NAMES",
     .help = "comma-separated metric families to expose (default: OVMS's default set and "
             "lmserve's own); needs --metrics_enable", .implemented = true},
    {.name = "api_key_file", .kind = CLI_STRING, SRV(api_key_file), .metavar = "PATH",
     .help = "file whose first line is the API key clients must send (Authorization: Bearer "
             "KEY or x-api-key: KEY); default: the API_KEY environment variable", .implemented = true},
    {.name = "api_key_protect_health", .kind = CLI_SWITCH, SRV(api_key_protect_health),
     .help = "require the API key on health endpoints and /metrics too", .implemented = true},
    {.name = "max_queued_requests", .kind = CLI_INT, SRV(max_queued_requests), .min = 1,
     .max = 1 << 20, .metavar = "N",
     .help = "requests that may wait per model before new ones get 503 with Retry-After "
             "(default: 4 x --max_num_seqs)", .implemented = true},
    {.name = "request_timeout_s", .kind = CLI_INT, SRV(request_timeout_s), .min = 0,
     .max = 7 * 86400, .def = "0", .metavar = "SECONDS",
     .help = "end a generation request that takes longer with an error; 0: no limit", .implemented = true},

    {.name = "config_path", .kind = CLI_STRING, SRV(config_path), .metavar = "PATH",
     .group = "Models", .help = "config.json listing the models to serve", .implemented = true},
    {.name = "file_system_poll_wait_seconds", .kind = CLI_INT, SRV(file_system_poll_wait_seconds),
     .min = 0, .max = 86400, .def = "1", .metavar = "SECONDS",
     .help = "how often --config_path (and its graphs) is checked for changes, which are then "
             "applied while serving; 0: only POST /v1/config/reload applies them", .implemented = true},
    {.name = "model_path", .kind = CLI_STRING, SRV(model_path), .metavar = "PATH",
     .help = "model to serve (or to add to the config)", .implemented = true},
    {.name = "model_name", .kind = CLI_STRING, SRV(model_name), .metavar = "NAME",
     .help = "name clients use for the model", .implemented = true},
    {.name = "target_device", .kind = CLI_ENUM, SRV(target_device), .choices = "CPU|NPU", .def = "CPU",
     .metavar = "DEVICE", .help = "device written into pulled graphs; lmserve runs every model on "
     "the CPU (an NPU graph is served on the CPU, and says so)", .implemented = true},
    {.name = "cache_dir", .kind = CLI_STRING, SRV(cache_dir), .metavar = "PATH",
     .help = "folder for the model cache"},

    {.name = "pull", .kind = CLI_SWITCH, SRV(pull), .group = "Pulling and configuration",
     .help = "download --source_model into --model_repository_path", .implemented = true},
    {.name = "source_model", .kind = CLI_STRING, SRV(source_model), .metavar = "ORG/NAME",
     .help = "Hugging Face model id to pull (without --pull: pull it, then serve it)",
     .implemented = true},
    {.name = "model_repository_path", .kind = CLI_STRING, SRV(model_repository_path),
     .metavar = "PATH", .help = "folder that holds pulled models", .implemented = true},
    {.name = "gguf_filename", .kind = CLI_STRING, SRV(gguf_filename), .metavar = "FILE",
     .help = "the GGUF file to pull from a repository that has several (a split file's first "
             "part brings every part)", .implemented = true},
    {.name = "task", .kind = CLI_ENUM, SRV(task),
     .choices = "text_generation|embeddings|rerank|image_generation", .metavar = "TASK",
     .help = "what the pulled model is served for (default: inferred from the repository; "
             "lmserve serves text_generation)", .implemented = true},
    {.name = "overwrite_models", .kind = CLI_SWITCH, SRV(overwrite_models),
     .help = "replace a model that is already in the repository", .implemented = true},
    {.name = "add_to_config", .kind = CLI_SWITCH, SRV(add_to_config),
     .help = "add --model_name (at --model_path) to --config_path and exit", .implemented = true},
    {.name = "remove_from_config", .kind = CLI_SWITCH, SRV(remove_from_config),
     .help = "remove --model_name from --config_path and exit", .implemented = true},
    {.name = "list_models", .kind = CLI_SWITCH, SRV(list_models),
     .help = "list the models in --model_repository_path and exit", .implemented = true},

    {.name = "enable_prefix_caching", .kind = CLI_BOOL, SRV(enable_prefix_caching), .def = "true",
     .group = "Text generation", .help = "reuse the KV cache of prompt prefixes seen before",
     .implemented = true},
    {.name = "max_prompt_len", .kind = CLI_INT, SRV(max_prompt_len), .min = 1, .max = 1 << 24,
     .metavar = "TOKENS", .help = "longest prompt accepted (default: the model's context)",
     .implemented = true},
    {.name = "max_num_seqs", .kind = CLI_INT, SRV(max_num_seqs), .min = 1, .max = 65536,
     .def = "256", .metavar = "N", .help = "most sequences generated together in one batch",
     .implemented = true},
    {.name = "cache_size", .kind = CLI_INT, SRV(cache_size), .min = 0, .max = 1 << 20, .def = "0",
     .metavar = "GB", .help = "KV cache size in GB; 0 grows it as needed", .implemented = true},
    {.name = "tool_parser", .kind = CLI_STRING, SRV(tool_parser), .metavar = "NAME",
     .help = "parser for tool calls in model output: hermes3, llama3, mistral, devstral, phi4, qwen3coder, gptoss, "
             "none (default: detected from the chat template)", .implemented = true},
    {.name = "reasoning_parser", .kind = CLI_STRING, SRV(reasoning_parser), .metavar = "NAME",
     .help = "parser that separates reasoning from the answer: qwen3, gptoss, none (default: detected from the "
             "chat template)", .implemented = true},
    {.name = "max_num_batched_tokens", .kind = CLI_INT, SRV(max_num_batched_tokens), .min = 1,
     .max = 1 << 24, .metavar = "TOKENS",
     .help = "most tokens in one scheduler step (written to the graph by --pull)", .implemented = true},
    {.name = "dynamic_split_fuse", .kind = CLI_BOOL, SRV(dynamic_split_fuse), .def = "true",
     .help = "split long prompts across scheduler steps (written to the graph by --pull)",
     .implemented = true},
    {.name = "plugin_config", .kind = CLI_STRING, SRV(plugin_config), .metavar = "JSON",
     .help = "device plugin options as a JSON object, e.g. {\"KV_CACHE_PRECISION\":\"u8\"} "
             "(written to the graph by --pull)", .implemented = true},

    {.name = "help", .kind = CLI_SWITCH, SRV(help), .group = "Other",
     .help = "show this help and exit", .implemented = true},
    {.name = "version", .kind = CLI_SWITCH, SRV(version), .help = "show the version and exit",
     .implemented = true},
};
#undef SRV

const cli_command cli_server_command = {
    .name = "lmserve",
    .usage = "lmserve [flags]                      serve models (OVMS-compatible flags)\n"
             "       lmserve generate [flags]             generate text from a prompt\n"
             "       lmserve tokenize [flags]             print the token ids of text\n"
             "       lmserve detokenize [flags]           print the text of token ids\n"
             "       lmserve chat-template [flags]        render a chat template\n"
             "       lmserve logits [flags]               print top logits per position\n"
             "       lmserve <subcommand> --help          flags of a subcommand",
    .about = "An OpenAI-compatible LLM server for the CPU that takes OpenVINO Model Server's\n"
             "flags. Flags marked [not supported yet] are recognised but fail until their\n"
             "feature is built (exit code 2); usage errors exit 64.",
    .flags = server_flags,
    .n_flags = sizeof server_flags / sizeof server_flags[0],
};
