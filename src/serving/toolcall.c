/* toolcall.c — the tool-call formats whose calls are JSON:
 *
 *   hermes3   <tool_call>{"name": N, "arguments": {..}}</tool_call>     (Hermes, Qwen2.5, Qwen3)
 *   llama3    <|python_tag|>{"name": N, "parameters": {..}}; {..}       or a reply starting with {
 *   mistral   [TOOL_CALLS] [{"name": N, "arguments": {..}}, ..]        or a reply starting with [{
 *   devstral  [TOOL_CALLS]N[CALL_ID]id[ARGS]{..}                       ([CALL_ID] optional)
 *   phi4      functools[{"name": N, "arguments": {..}}, ..]
 *
 * One state machine: TEXT looks for the format's trigger (holding a partial one at the end), BODY
 * waits until the call(s) after it are complete JSON, then emits them. A body is judged only on
 * what cannot change with more text (a JSON prefix that is already invalid stays invalid), so a
 * reply gives the same events however it is split. A malformed body releases its trigger as
 * text and the text after it is scanned again as content. */
#include <stdlib.h>
#include <string.h>

#include "serving/parsers_impl.h"

typedef enum { F_HERMES3, F_LLAMA3, F_MISTRAL, F_DEVSTRAL, F_PHI4 } fmt;

enum { ST_TEXT, ST_BODY };

#define DEVSTRAL_MAX_NAME 256

typedef struct {
    fmt f;
    const char *trigger;   /* what was consumed to enter the body ("" for a start trigger) */
    int calls_in_body;     /* calls emitted since the trigger */
    int start_done;        /* the start-of-reply trigger ({ or [{) no longer applies */
} jx;

static const char *const hermes_tags[] = {"<tool_call>", NULL};
static const char *const llama_tags[] = {"<|python_tag|>", NULL};
static const char *const mistral_tags[] = {"[TOOL_CALLS]", NULL};
static const char *const phi4_tags[] = {"functools", NULL};

static const char *const *fmt_tags(fmt f) {
    switch (f) {
    case F_HERMES3: return hermes_tags;
    case F_LLAMA3: return llama_tags;
    case F_MISTRAL: case F_DEVSTRAL: return mistral_tags;
    case F_PHI4: return phi4_tags;
    }
    return hermes_tags;
}

static size_t skip_ws(const char *s, size_t n, size_t i) {
    while (i < n && is_ws(s[i])) i++;
    return i;
}

/* The body is not a call: its trigger becomes text (unless calls came out of it), and what
 * follows is scanned again as content. */
static int malformed(tc *t, out_sink *next) {
    jx *x = t->ext;
    if (!x->calls_in_body && x->trigger[0]) tc_text(t, x->trigger, strlen(x->trigger), next);
    x->trigger = "";
    x->start_done = 1;
    t->state = ST_TEXT;
    return 1;
}

static void enter_body(tc *t, const char *trigger) {
    jx *x = t->ext;
    x->trigger = trigger;
    x->calls_in_body = 0;
    x->start_done = 1;
    t->state = ST_BODY;
}

static int step_text(tc *t, int final, out_sink *next) {
    jx *x = t->ext;
    const char *s = t->pend.data;
    size_t n = t->pend.len;
    if (!n) return 0;
    if (!x->start_done && (x->f == F_LLAMA3 || x->f == F_MISTRAL)) {
        if (t->seen_text || t->n_calls) {
            x->start_done = 1;
        } else {
            size_t i = skip_ws(s, n, 0);
            if (i == n) { /* only whitespace so far: it is held either way */
                tc_text(t, s, n, next);
                tc_consume(t, n);
                return 0;
            }
            int hit = 0, wait = 0;
            if (x->f == F_LLAMA3) {
                hit = s[i] == '{';
            } else if (s[i] == '[') {
                if (i + 1 < n) hit = s[i + 1] == '{';
                else wait = !final;
            }
            if (wait) return 0;
            if (hit) {
                tc_text(t, s, i, next);
                tc_consume(t, i);
                enter_body(t, "");
                return 1;
            }
            x->start_done = 1;
        }
    }
    const char *tag = fmt_tags(x->f)[0];
    size_t p = tag_find(s, n, 0, tag);
    if (p != (size_t)-1) {
        tc_text(t, s, p, next);
        tc_consume(t, p + strlen(tag));
        enter_body(t, tag);
        return 1;
    }
    size_t hold = final ? 0 : tag_hold(s, n, fmt_tags(x->f));
    tc_text(t, s, n - hold, next);
    tc_consume(t, n - hold);
    return 0;
}

/* Scans a JSON value starting at s[i] (after whitespace). Returns -1 malformed, 0 wait, 1 done
 * (*end = offset after the value). A value must start with `open`. */
static int body_value(const char *s, size_t n, size_t i, char open, int final, size_t *end) {
    if (i >= n) return final ? -1 : 0;
    if (s[i] != open) return -1;
    size_t e;
    js_result r = js_scan(s + i, n - i, final, &e);
    if (r == JS_BAD) return -1;
    if (r == JS_PARTIAL) return final ? -1 : 0;
    *end = i + e;
    return 1;
}

static int step_hermes3(tc *t, int final, out_sink *next) {
    const char *s = t->pend.data;
    size_t n = t->pend.len;
    size_t i = skip_ws(s, n, 0), e;
    int r = body_value(s, n, i, '{', final, &e);
    if (r < 0) return malformed(t, next);
    if (r == 0) return 0;
    static const char end_tag[] = "</tool_call>";
    size_t j = skip_ws(s, n, e), tl = sizeof end_tag - 1;
    if (n - j >= tl && !memcmp(s + j, end_tag, tl)) {
        if (!tc_json_call(t, s + i, e - i, next)) return malformed(t, next);
        tc_consume(t, j + tl);
        t->state = ST_TEXT;
        return 1;
    }
    if (!tag_is_prefix(s + j, n - j, end_tag)) return malformed(t, next);
    if (!final) return 0;
    /* the last call may be unterminated */
    if (!tc_json_call(t, s + i, e - i, next)) return malformed(t, next);
    tc_consume(t, n);
    t->state = ST_TEXT;
    return 1;
}

static int step_llama3(tc *t, int final, out_sink *next) {
    jx *x = t->ext;
    const char *s = t->pend.data;
    size_t n = t->pend.len;
    size_t i = skip_ws(s, n, 0), e;
    if (x->calls_in_body && i < n && s[i] == ';') {
        tc_consume(t, i + 1);
        return 1;
    }
    if (x->calls_in_body && (i == n ? final : s[i] != '{')) { /* text after the calls */
        t->state = ST_TEXT;
        return 1;
    }
    int r = body_value(s, n, i, '{', final, &e);
    if (r < 0) return malformed(t, next);
    if (r == 0) return 0;
    if (!tc_json_call(t, s + i, e - i, next)) return malformed(t, next);
    x->calls_in_body++;
    tc_consume(t, e);
    return 1;
}

/* Checks (emit = 0) or emits (emit = 1) every element of the array s[0..n) as a call. */
static int array_calls(tc *t, const char *s, size_t n, int emit, out_sink *next) {
    size_t i = skip_ws(s, n, 0) + 1, e;
    int count = 0;
    for (;;) {
        i = skip_ws(s, n, i);
        if (i >= n || s[i] == ']') break;
        if (js_scan(s + i, n - i, 1, &e) != JS_DONE) return 0;
        if (emit) {
            if (!tc_json_call(t, s + i, e, next)) return 0;
        } else {
            const char *nv, *av;
            size_t nn, an;
            if (js_kind(s + i, e) != '{' || !js_member(s + i, e, "name", &nv, &nn) ||
                js_kind(nv, nn) != '"' || nn <= 2)
                return 0;
            if (!js_member(s + i, e, "arguments", &av, &an) && !js_member(s + i, e, "parameters", &av, &an))
                return 0;
            if (js_kind(av, an) != '{') return 0;
        }
        count++;
        i = skip_ws(s, n, i + e);
        if (i < n && s[i] == ',') i++;
    }
    return count > 0;
}

static int step_array(tc *t, int final, out_sink *next) {
    jx *x = t->ext;
    const char *s = t->pend.data;
    size_t n = t->pend.len;
    size_t i = skip_ws(s, n, 0), e;
    int r = body_value(s, n, i, '[', final, &e);
    if (r < 0) return malformed(t, next);
    if (r == 0) return 0;
    if (!array_calls(t, s + i, e - i, 0, next)) return malformed(t, next);
    array_calls(t, s + i, e - i, 1, next);
    x->calls_in_body++;
    tc_consume(t, e);
    t->state = ST_TEXT;
    return 1;
}

static int name_char(char c) { return !is_ws(c) && c != '[' && c != '{' && c != '"' && (unsigned char)c >= 0x20; }

static int step_devstral(tc *t, int final, out_sink *next) {
    const char *s = t->pend.data;
    size_t n = t->pend.len;
    size_t i = 0;
    while (i < n && i <= DEVSTRAL_MAX_NAME && name_char(s[i])) i++;
    if (i > DEVSTRAL_MAX_NAME) return malformed(t, next);
    if (i == n) return final ? malformed(t, next) : 0;
    if (i == 0 || s[i] != '[') return malformed(t, next);
    size_t name_len = i;
    static const char call_id[] = "[CALL_ID]", args[] = "[ARGS]";
    if (tag_is_prefix(s + i, n - i, call_id) || tag_is_prefix(s + i, n - i, args))
        return final ? malformed(t, next) : 0;
    if (n - i >= sizeof call_id - 1 && !memcmp(s + i, call_id, sizeof call_id - 1)) {
        i += sizeof call_id - 1;
        while (i < n && i - name_len <= 64 + sizeof call_id && name_char(s[i])) i++;
        if (i == n) return final ? malformed(t, next) : 0;
        if (s[i] != '[') return malformed(t, next);
        if (tag_is_prefix(s + i, n - i, args) && n - i < sizeof args - 1) return final ? malformed(t, next) : 0;
    }
    if (n - i < sizeof args - 1 || memcmp(s + i, args, sizeof args - 1)) return malformed(t, next);
    size_t a = skip_ws(s, n, i + sizeof args - 1), e;
    int r = body_value(s, n, a, '{', final, &e);
    if (r < 0) return malformed(t, next);
    if (r == 0) return 0;
    tc_call(t, s, name_len, s + a, e - a, next);
    tc_consume(t, e);
    t->state = ST_TEXT;
    return 1;
}

static int step(tc *t, int final, out_sink *next) {
    jx *x = t->ext;
    if (t->state == ST_TEXT) return step_text(t, final, next);
    switch (x->f) {
    case F_HERMES3: return step_hermes3(t, final, next);
    case F_LLAMA3: return step_llama3(t, final, next);
    case F_MISTRAL: case F_PHI4: return step_array(t, final, next);
    case F_DEVSTRAL: return step_devstral(t, final, next);
    }
    return 0;
}

static void fini(tc *t) { free(t->ext); }

lm_status toolcall_json_create(const char *name, const parser_opts *opts, out_stage **out) {
    tc *t = malloc(sizeof *t);
    jx *x = calloc(1, sizeof *x);
    if (!t || !x) {
        free(t);
        free(x);
        return LM_ERR_NOMEM;
    }
    tc_init(t, step, opts);
    t->fini = fini;
    t->ext = x;
    x->trigger = "";
    x->f = !strcmp(name, "llama3") ? F_LLAMA3 : !strcmp(name, "mistral") ? F_MISTRAL
         : !strcmp(name, "devstral") ? F_DEVSTRAL : !strcmp(name, "phi4") ? F_PHI4 : F_HERMES3;
    *out = &t->stage;
    return LM_OK;
}
