/* tests/fuzz/fuzz_parsers.c — libFuzzer target for the reasoning and tool-call parsers
 * (src/serving/parsers.c, reasoning.c, toolcall*.c).
 *
 * Byte 0 picks the chain (a tool parser, alone or behind the qwen3 or gptoss reasoning parser,
 * with or without the implicit <think> start), byte 1 seeds where the text is cut; the rest is
 * the model's text (bytes that are not UTF-8 become '?', as the detokenizer never sends them).
 * Checks the parsers' promises: the text gives the same events in one piece and cut into pieces,
 * every event's text is valid UTF-8, call ids are non-empty and unique, call indexes count from
 * 0, every call's arguments are one JSON object, and a stage never fails. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "serving/parsers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* Length of the valid UTF-8 sequence at s[0..n), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 0;
    if (len > n) return 0;
    unsigned cp = c & (0xFF >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static int valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len((const unsigned char *)s + i, n - i);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

typedef struct {
    out_sink sink;
    lm_buf canon;
    int last, last_idx, n_calls;
    char ids[64][40];
    lm_buf args;          /* the current call's arguments */
} rec;

static void end_call(rec *r) {
    if (r->n_calls == 0) return;
    json_error_t je;
    json_t *v = json_loadb(r->args.data ? r->args.data : "", r->args.len, JSON_ALLOW_NUL, &je);
    FUZZ_CHECK(v && json_is_object(v));
    json_decref(v);
    buf_reset(&r->args);
}

static void rec_emit(out_sink *self, const out_event *ev) {
    rec *r = (rec *)self;
    FUZZ_CHECK(ev->len == 0 || ev->text);
    FUZZ_CHECK(valid_utf8(ev->text, ev->len));
    if (ev->kind == OUT_TOOL_BEGIN) {
        end_call(r);
        FUZZ_CHECK(ev->index == r->n_calls);
        FUZZ_CHECK(ev->id && ev->id[0] && strlen(ev->id) < 40);
        for (int k = 0; k < r->n_calls && k < 64; k++) FUZZ_CHECK(strcmp(r->ids[k], ev->id));
        if (r->n_calls < 64) strcpy(r->ids[r->n_calls], ev->id);
        FUZZ_CHECK(ev->len > 0);
        r->n_calls++;
    } else if (ev->kind == OUT_TOOL_ARGS) {
        FUZZ_CHECK(r->n_calls > 0 && ev->index == r->n_calls - 1);
        buf_append(&r->args, ev->text, ev->len);
    }
    if (ev->len == 0 && (ev->kind == OUT_TEXT || ev->kind == OUT_REASONING)) return;
    int merge = (int)ev->kind == r->last && ev->kind != OUT_TOOL_BEGIN && ev->index == r->last_idx;
    if (!merge) buf_printf(&r->canon, "|%d.%d:", (int)ev->kind, ev->index);
    buf_append(&r->canon, ev->text, ev->len);
    r->last = (int)ev->kind;
    r->last_idx = ev->index;
}

typedef struct {
    out_sink sink;
    out_stage *next_stage;
    out_sink *to;
} link_;

static void link_emit(out_sink *self, const out_event *ev) {
    link_ *l = (link_ *)self;
    FUZZ_CHECK(l->next_stage->push(l->next_stage, ev, l->to) == LM_OK);
}

static json_t *tools_json(void) {
    static json_t *tools;
    if (!tools) {
        json_error_t je;
        tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\","
                           "\"properties\":{\"s\":{\"type\":\"string\"},\"n\":{\"type\":\"integer\"},"
                           "\"b\":{\"type\":\"boolean\"},\"u\":{\"type\":[\"string\",\"null\"]}}}}}]",
                           0, &je);
    }
    return tools;
}

/* Runs the chain over text cut at the marked offsets; returns the canonical event string. */
static char *run(const char *reasoning, const char *tool, const parser_opts *o, const char *text, size_t n,
                 const unsigned char *cut) {
    out_stage *st[2] = {NULL, NULL};
    int ns = 0;
    lm_error err;
    err_clear(&err);
    if (reasoning) FUZZ_CHECK(parser_create(PARSER_REASONING, reasoning, o, &st[ns++], &err) == LM_OK);
    if (tool) FUZZ_CHECK(parser_create(PARSER_TOOL, tool, o, &st[ns++], &err) == LM_OK);
    rec r;
    memset(&r, 0, sizeof r);
    r.sink.emit = rec_emit;
    r.last = -1;
    link_ l = {{link_emit}, st[1], &r.sink};
    out_sink *first = ns == 2 ? &l.sink : &r.sink;
    size_t prev = 0;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && !cut[i]) continue;
        out_event ev = {OUT_TEXT, 0, NULL, text + prev, i - prev};
        FUZZ_CHECK(st[0]->push(st[0], &ev, first) == LM_OK);
        prev = i;
    }
    FUZZ_CHECK(st[0]->flush(st[0], first) == LM_OK);
    if (ns == 2) FUZZ_CHECK(st[1]->flush(st[1], &r.sink) == LM_OK);
    end_call(&r);
    for (int i = 0; i < ns; i++) st[i]->destroy(st[i]);
    char *out = strdup(r.canon.data ? r.canon.data : "");
    buf_fini(&r.canon);
    buf_fini(&r.args);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    static const char *const tools[] = {"hermes3", "llama3", "mistral", "devstral", "phi4", "qwen3coder", "gptoss", NULL};
    unsigned pick = data[0];
    const char *tool = tools[pick % 8];
    const char *reasoning = (pick / 8) % 3 == 1 ? "qwen3" : (pick / 8) % 3 == 2 ? "gptoss" : NULL;
    if (!tool && !reasoning) reasoning = "qwen3";
    parser_opts o = {.tools = tools_json(), .prompt_opens_think = (pick / 24) & 1, .id_seed = 7};
    unsigned seed = data[1];
    size_t n = size - 2;
    char *text = malloc(n + 1);
    unsigned char *cut = calloc(n + 1, 1);
    unsigned char *cut1 = calloc(n + 1, 1);
    for (size_t i = 0; i < n;) { /* keep valid UTF-8, '?' for the rest */
        size_t l = utf8_len(data + 2 + i, n - i);
        if (!l) {
            text[i++] = '?';
            continue;
        }
        memcpy(text + i, data + 2 + i, l);
        if (i) {
            seed = seed * 1103515245u + 12345u;
            cut[i] = (seed >> 16) % 3 == 0;
            cut1[i] = 1;
        }
        i += l;
    }
    text[n] = 0;
    unsigned char *none = calloc(n + 1, 1);
    char *unary = run(reasoning, tool, &o, text, n, none);
    char *split = run(reasoning, tool, &o, text, n, cut);
    char *chars = run(reasoning, tool, &o, text, n, cut1);
    FUZZ_CHECK(!strcmp(unary, split));
    FUZZ_CHECK(!strcmp(unary, chars));
    free(unary);
    free(split);
    free(chars);
    free(none);
    free(cut);
    free(cut1);
    free(text);
    return 0;
}
