/* cmd_tools.c — the tokenizer and template tools: `lmserve tokenize`, `lmserve detokenize` and
 * `lmserve chat-template`. They load only what they need (a tokenizer, a template), never weights. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/limits.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "serving/chat.h"
#include "tokenizer/tokenizer.h"

/* Reads all of stdin. */
static void read_stdin(lm_buf *b) {
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) buf_append(b, chunk, n);
}

static int fail(const char *cmd, const lm_error *err) {
    fprintf(stderr, "%s: %s\n", cmd, err->msg);
    return err->code == LM_ERR_INVALID ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
}

static void print_ids(const tok_ids *ids) {
    putchar('[');
    for (size_t i = 0; i < ids->n; i++) printf("%s%d", i ? ", " : "", ids->ids[i]);
    printf("]\n");
}

/* ---------------------------------------------------------------- tokenize */

typedef struct {
    const char *model;
    bool add_special_tokens;
    bool jsonl;
    bool help;
} tokenize_opts;

static const cli_flag tokenize_flags[] = {
    {.name = "model", .kind = CLI_STRING, .offset = offsetof(tokenize_opts, model),
     .metavar = "PATH", .required = true,
     .help = "model whose tokenizer is used (.gguf file, model folder or tokenizer.json)",
     .implemented = true},
    {.name = "add_special_tokens", .kind = CLI_BOOL,
     .offset = offsetof(tokenize_opts, add_special_tokens), .def = "true",
     .help = "add the model's special tokens (BOS, ...) around the text", .implemented = true},
    {.name = "jsonl", .kind = CLI_SWITCH, .offset = offsetof(tokenize_opts, jsonl),
     .help = "each input line is a JSON string; print one JSON array per line", .implemented = true},
    {.name = "help", .kind = CLI_SWITCH, .offset = offsetof(tokenize_opts, help),
     .help = "show this help and exit", .implemented = true},
};

static const cli_command tokenize_command = {
    .name = "lmserve tokenize",
    .usage = "lmserve tokenize --model PATH [--add_special_tokens true|false] [--jsonl] < text",
    .about = "Reads text from stdin and prints its token ids as a JSON array, e.g. [1, 415, 2936]. "
             "With --jsonl, every input line is a JSON string and every output line an array.",
    .flags = tokenize_flags,
    .n_flags = sizeof tokenize_flags / sizeof tokenize_flags[0],
};

int cmd_tokenize(int argc, char **argv) {
    tokenize_opts o;
    int rc = cli_parse_or_exit(&tokenize_command, argc, argv, &o);
    if (rc != CLI_CONTINUE) return rc;
    lm_error err;
    err_clear(&err);
    tok_tokenizer *t = NULL;
    if (tok_load_path(o.model, &t, &err) != LM_OK) return fail(tokenize_command.name, &err);
    lm_buf in = {0};
    read_stdin(&in);
    rc = CLI_EXIT_OK;
    if (!o.jsonl) {
        tok_ids ids = {0};
        if (tok_encode(t, buf_cstr(&in), in.len, o.add_special_tokens, &ids, &err) != LM_OK)
            rc = fail(tokenize_command.name, &err);
        else
            print_ids(&ids);
        tok_ids_fini(&ids);
    } else {
        char *line = in.data, *end = in.data ? in.data + in.len : NULL;
        for (size_t lineno = 1; line && line < end && rc == CLI_EXIT_OK; lineno++) {
            char *nl = memchr(line, '\n', (size_t)(end - line));
            size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
            json_error_t jerr;
            json_t *s = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
            if (!json_is_string(s)) {
                fprintf(stderr, "%s: line %zu is not a JSON string%s%s\n", tokenize_command.name,
                        lineno, s ? "" : ": ", s ? "" : jerr.text);
                rc = CLI_EXIT_USAGE;
            } else {
                tok_ids ids = {0};
                if (tok_encode(t, json_string_value(s), json_string_length(s), o.add_special_tokens,
                               &ids, &err) != LM_OK)
                    rc = fail(tokenize_command.name, &err);
                else
                    print_ids(&ids);
                tok_ids_fini(&ids);
            }
            json_decref(s);
            line = nl ? nl + 1 : end;
        }
    }
    buf_fini(&in);
    tok_destroy(t);
    return rc;
}

/* ---------------------------------------------------------------- detokenize */

typedef struct {
    const char *model;
    bool skip_special_tokens;
    bool jsonl;
    bool help;
} detokenize_opts;

static const cli_flag detokenize_flags[] = {
    {.name = "model", .kind = CLI_STRING, .offset = offsetof(detokenize_opts, model),
     .metavar = "PATH", .required = true,
     .help = "model whose tokenizer is used (.gguf file, model folder or tokenizer.json)",
     .implemented = true},
    {.name = "skip_special_tokens", .kind = CLI_BOOL,
     .offset = offsetof(detokenize_opts, skip_special_tokens), .def = "false",
     .help = "leave special tokens (BOS, EOS, ...) out of the text", .implemented = true},
    {.name = "jsonl", .kind = CLI_SWITCH, .offset = offsetof(detokenize_opts, jsonl),
     .help = "each input line is a JSON array; print one JSON string per line", .implemented = true},
    {.name = "help", .kind = CLI_SWITCH, .offset = offsetof(detokenize_opts, help),
     .help = "show this help and exit", .implemented = true},
};

static const cli_command detokenize_command = {
    .name = "lmserve detokenize",
    .usage = "lmserve detokenize --model PATH [--skip_special_tokens true|false] [--jsonl] < ids",
    .about = "Reads a JSON array of token ids from stdin and prints the decoded text. With --jsonl, "
             "every input line is an array and every output line a JSON string.",
    .flags = detokenize_flags,
    .n_flags = sizeof detokenize_flags / sizeof detokenize_flags[0],
};

/* Decodes one JSON array of ids into *out; LM_ERR_INVALID for anything but an array of ints. */
static lm_status decode_array(const tok_tokenizer *t, json_t *arr, int skip, lm_buf *out, lm_error *err) {
    if (!json_is_array(arr)) return err_set(err, LM_ERR_INVALID, "input is not a JSON array of token ids");
    tok_ids ids = {0};
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) {
            tok_ids_fini(&ids);
            return err_set(err, LM_ERR_INVALID, "element %zu is not a token id", i);
        }
        tok_ids_push(&ids, (int32_t)json_integer_value(v));
    }
    lm_status s = tok_decode(t, ids.ids, ids.n, skip, out, err);
    tok_ids_fini(&ids);
    return s;
}

int cmd_detokenize(int argc, char **argv) {
    detokenize_opts o;
    int rc = cli_parse_or_exit(&detokenize_command, argc, argv, &o);
    if (rc != CLI_CONTINUE) return rc;
    lm_error err;
    err_clear(&err);
    tok_tokenizer *t = NULL;
    if (tok_load_path(o.model, &t, &err) != LM_OK) return fail(detokenize_command.name, &err);
    lm_buf in = {0}, text = {0};
    read_stdin(&in);
    rc = CLI_EXIT_OK;
    char *line = in.data, *end = in.data ? in.data + in.len : NULL;
    if (!o.jsonl) { /* the whole input is one array */
        json_t *arr = json_loadb(buf_cstr(&in), in.len, 0, NULL);
        if (decode_array(t, arr, o.skip_special_tokens, &text, &err) != LM_OK)
            rc = fail(detokenize_command.name, &err);
        else
            fwrite(text.data ? text.data : "", 1, text.len, stdout);
        json_decref(arr);
        line = end;
    }
    for (size_t lineno = 1; line && line < end && rc == CLI_EXIT_OK; lineno++) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
        json_t *arr = json_loadb(line, len, 0, NULL);
        buf_reset(&text);
        if (decode_array(t, arr, o.skip_special_tokens, &text, &err) != LM_OK) {
            fprintf(stderr, "%s: line %zu: %s\n", detokenize_command.name, lineno, err.msg);
            rc = CLI_EXIT_USAGE;
        } else {
            json_t *s = json_stringn(text.data ? text.data : "", text.len);
            char *dump = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
            printf("%s\n", dump ? dump : "\"\"");
            free(dump);
            json_decref(s);
        }
        json_decref(arr);
        line = nl ? nl + 1 : end;
    }
    buf_fini(&text);
    buf_fini(&in);
    tok_destroy(t);
    return rc;
}

/* ---------------------------------------------------------------- chat-template */

typedef struct {
    const char *model;
    const char *template_file;
    const char *date;
    bool jsonl;
    bool help;
} chat_template_opts;

static const cli_flag chat_template_flags[] = {
    {.name = "model", .kind = CLI_STRING, .offset = offsetof(chat_template_opts, model),
     .metavar = "PATH", .help = "model whose chat template is rendered (.gguf file or folder)",
     .implemented = true},
    {.name = "template", .kind = CLI_STRING, .offset = offsetof(chat_template_opts, template_file),
     .metavar = "FILE", .help = "a template file to render instead of a model's", .implemented = true},
    {.name = "date", .kind = CLI_STRING, .offset = offsetof(chat_template_opts, date),
     .metavar = "YYYY-MM-DD", .help = "the day strftime_now() sees (noon), for reproducible renders",
     .implemented = true},
    {.name = "jsonl", .kind = CLI_SWITCH, .offset = offsetof(chat_template_opts, jsonl),
     .help = "one JSON object per input line; print one JSON string (or {\"error\": ...}) per line",
     .implemented = true},
    {.name = "help", .kind = CLI_SWITCH, .offset = offsetof(chat_template_opts, help),
     .help = "show this help and exit", .implemented = true},
};

static const cli_command chat_template_command = {
    .name = "lmserve chat-template",
    .usage = "lmserve chat-template (--model PATH | --template FILE) [--date YYYY-MM-DD] [--jsonl] < vars.json",
    .about = "Reads one JSON object on stdin (messages, optional tools, add_generation_prompt, "
             "bos_token, eos_token and any extra keys, all passed to the template as variables) and "
             "prints the rendered prompt exactly, nothing else. With --model, bos_token and eos_token "
             "default to the model's. A template error goes to stderr and exits 1.",
    .flags = chat_template_flags,
    .n_flags = sizeof chat_template_flags / sizeof chat_template_flags[0],
};

/* Parses YYYY-MM-DD into a struct tm at 12:00:00; 0 on success. */
static int parse_date(const char *s, struct tm *tm) {
    int y, m, d;
    char extra;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    memset(tm, 0, sizeof *tm);
    tm->tm_year = y - 1900;
    tm->tm_mon = m - 1;
    tm->tm_mday = d;
    tm->tm_hour = 12;
    tm->tm_isdst = -1;
    time_t t = timegm(tm); /* normalises and fills the weekday, so %A and %a work */
    if (t == (time_t)-1) return -1;
    gmtime_r(&t, tm);
    return tm->tm_mday == d ? 0 : -1; /* 2026-02-30 rolled over: refuse */
}

/* Prints one --jsonl result line: the rendered text or {"error": message}. */
static void print_json_line(const char *text, size_t len, const char *error) {
    json_t *v = error ? json_pack("{s:s}", "error", error) : json_stringn(text, len);
    char *dump = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
    printf("%s\n", dump ? dump : "{\"error\":\"output is not valid UTF-8\"}");
    free(dump);
    json_decref(v);
}

int cmd_chat_template(int argc, char **argv) {
    chat_template_opts o;
    int rc = cli_parse_or_exit(&chat_template_command, argc, argv, &o);
    if (rc != CLI_CONTINUE) return rc;
    const char *name = chat_template_command.name;
    if (!o.model == !o.template_file) {
        fprintf(stderr, "%s: give exactly one of --model and --template\nTry '%s --help'.\n", name, name);
        return CLI_EXIT_USAGE;
    }
    struct tm day, *now = NULL;
    if (o.date) {
        if (parse_date(o.date, &day) != 0) {
            fprintf(stderr, "%s: --date: '%s' is not a date YYYY-MM-DD\n", name, o.date);
            return CLI_EXIT_USAGE;
        }
        now = &day;
    }
    lm_error err;
    err_clear(&err);
    tok_tokenizer *t = NULL;
    chat_template *ct = NULL;
    lm_buf in = {0}, out = {0};
    rc = CLI_EXIT_FAILURE;
    if (o.model) {
        if (tok_load_path(o.model, &t, &err) != LM_OK || chat_template_load(o.model, t, &ct, &err) != LM_OK)
            goto done;
    } else {
        size_t len;
        char *src = file_read_all(o.template_file, LM_TPL_MAX_SOURCE, &len);
        if (!src) {
            err_set(&err, LM_ERR_IO, "cannot read template '%s' (missing, unreadable or too large)",
                    o.template_file);
            goto done;
        }
        lm_status s = chat_template_compile(src, len, NULL, &ct, &err);
        free(src);
        if (s != LM_OK) goto done;
    }
    read_stdin(&in);
    if (!o.jsonl) {
        json_error_t jerr;
        json_t *vars = json_loadb(buf_cstr(&in), in.len, 0, &jerr);
        if (!json_is_object(vars)) {
            err_set(&err, LM_ERR_INVALID, "stdin must hold one JSON object%s%s", vars ? "" : ": ",
                    vars ? "" : jerr.text);
        } else if (chat_template_render_vars(ct, vars, now, &out, &err) == LM_OK) {
            fwrite(out.data ? out.data : "", 1, out.len, stdout);
            rc = CLI_EXIT_OK;
        }
        json_decref(vars);
        goto done;
    }
    rc = CLI_EXIT_OK; /* --jsonl: errors are reported per line */
    for (char *line = in.data, *end = in.data ? in.data + in.len : NULL; line && line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
        json_error_t jerr;
        json_t *vars = json_loadb(line, len, 0, &jerr);
        lm_error lerr;
        err_clear(&lerr);
        buf_reset(&out);
        if (!json_is_object(vars))
            print_json_line(NULL, 0, vars ? "the line is not a JSON object" : jerr.text);
        else if (chat_template_render_vars(ct, vars, now, &out, &lerr) != LM_OK)
            print_json_line(NULL, 0, lerr.msg);
        else
            print_json_line(out.data ? out.data : "", out.len, NULL);
        json_decref(vars);
        line = nl ? nl + 1 : end;
    }
done:
    if (rc != CLI_EXIT_OK) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        if (err.code == LM_ERR_INVALID && !ct) rc = CLI_EXIT_USAGE;
    }
    buf_fini(&in);
    buf_fini(&out);
    chat_template_destroy(ct);
    tok_destroy(t);
    return rc;
}
