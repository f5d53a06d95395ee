/* parsers_impl.h — private to the parser files (parsers.c, reasoning.c, toolcall*.c): a strict
 * incremental JSON scanner, tag search helpers, and the base every tool-call stage shares. */
#ifndef LM_SERVING_PARSERS_IMPL_H
#define LM_SERVING_PARSERS_IMPL_H

#include <stddef.h>

#include "base/buf.h"
#include "serving/parsers.h"

/* Deepest JSON nesting accepted in a tool call (deeper is malformed, so released as text). */
#define PARSER_JSON_MAX_DEPTH 64

/* ---- JSON scanning (RFC 8259, strict) -------------------------------------------------------- */

typedef enum {
    JS_PARTIAL,   /* s[0..n) is a prefix of a JSON value (or only whitespace) */
    JS_DONE,      /* a complete value ends at *end */
    JS_BAD,       /* not JSON */
} js_result;

/* Scans one JSON value at the start of s[0..n) (leading whitespace skipped). With `final`, the
 * input ends at n (a number running to n is complete). *end: offset just after the value. */
js_result js_scan(const char *s, size_t n, int final, size_t *end);

/* Appends the value s[0..n) (already scanned as DONE) with the whitespace outside strings
 * removed: strings, numbers and member order stay as the model wrote them. */
void js_compact(const char *s, size_t n, lm_buf *out);

/* In the object s[0..n) (scanned as DONE), finds the first member whose key is `key` (compared
 * as written, without escapes) and returns its value span. 1 when found. */
int js_member(const char *s, size_t n, const char *key, const char **val, size_t *val_len);

/* The type of a scanned value by its first character: '{', '[', '"', 'n' (null), 't'/'f'
 * (boolean), '0' (number). */
char js_kind(const char *s, size_t n);

/* Decodes the JSON string value s[0..n) (scanned as DONE) into UTF-8; 0 when it is not a
 * string or holds a NUL. */
int js_string_decode(const char *s, size_t n, lm_buf *out);

/* Appends `s` as a JSON string literal (quotes, escapes). */
void js_quote(const char *s, size_t n, lm_buf *out);

/* ---- tags ------------------------------------------------------------------------------------ */

/* Offset of the first occurrence of `tag` in s[from..n), or (size_t)-1. */
size_t tag_find(const char *s, size_t n, size_t from, const char *tag);

/* Bytes at the end of s[0..n) to hold back because they are a proper prefix of one of `tags`
 * (NULL-terminated): the longest such suffix. */
size_t tag_hold(const char *s, size_t n, const char *const *tags);

/* 1 when s[0..n) is a proper prefix of tag (or equal when allow_equal). */
int tag_is_prefix(const char *s, size_t n, const char *tag);

int is_ws(char c);

/* ---- the tool-call stage base ---------------------------------------------------------------- */

typedef struct tc tc;

/* Consumes what it can decide from the front of t->pend (tc_consume), emitting through the
 * helpers below; `final` = the generation has ended. Returns 1 when it made progress (the
 * driver calls again), 0 when it needs more text. */
typedef int (*tc_step_fn)(tc *t, int final, out_sink *next);

struct tc {
    out_stage stage;
    tc_step_fn step;
    void (*fini)(tc *t);       /* frees what the parser added (may be NULL) */
    lm_buf pend;               /* text received and not yet decided */
    size_t scanned;            /* parser-defined scan cursor into pend */
    int state;                 /* parser-defined */
    int seen_text;             /* non-whitespace content was emitted */
    int after_call;            /* a call was emitted and no content since */
    lm_buf ws;                 /* whitespace-only content held (dropped next to a call) */
    int n_calls;
    uint64_t id_seed;
    json_t *tools;             /* a copy of the request's tools, may be NULL */
    lm_status status;          /* LM_ERR_NOMEM once an append failed */
    void *ext;                 /* parser-specific state */
};

/* Fills the base (the caller then sets step/fini/ext). */
void tc_init(tc *t, tc_step_fn step, const parser_opts *opts);

/* Drops the first n bytes of pend (and moves `scanned` back with them). */
void tc_consume(tc *t, size_t n);

/* Emits content text (whitespace-only runs next to a call are held then dropped). */
void tc_text(tc *t, const char *s, size_t n, out_sink *next);

/* Emits one call: OUT_TOOL_BEGIN (index, a fresh id, name) then OUT_TOOL_ARGS (args, compact). */
void tc_call(tc *t, const char *name, size_t name_len, const char *args, size_t args_len,
             out_sink *next);

/* Emits an event of another kind unchanged. */
void tc_pass(tc *t, const out_event *ev, out_sink *next);

/* Parses `obj` (a DONE-scanned JSON object {"name": S, "arguments"|"parameters": {...}}) and
 * emits it as a call. 0 when it does not have that shape (nothing emitted). */
int tc_json_call(tc *t, const char *obj, size_t n, out_sink *next);

/* ---- constructors ---------------------------------------------------------------------------- */

lm_status reasoning_qwen3_create(const parser_opts *opts, out_stage **out);
lm_status harmony_create(const parser_opts *opts, out_stage **out);
/* fmt: "hermes3", "llama3", "mistral", "devstral", "phi4". */
lm_status toolcall_json_create(const char *fmt, const parser_opts *opts, out_stage **out);
lm_status toolcall_qwen3coder_create(const parser_opts *opts, out_stage **out);

#endif
