/* parsers.c — the parser table (names, creation, auto-detection from a chat template), and what
 * the parser files share: a strict incremental JSON scanner, tag search, and the tool-stage base
 * (whitespace next to calls, call ids, event emission). The formats are in reasoning.c and
 * toolcall*.c. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serving/parsers_impl.h"

/* ---- the table ------------------------------------------------------------------------------- */

static const char *const reasoning_names[] = {"qwen3", "gptoss", NULL};
static const char *const tool_names[] = {"hermes3", "llama3", "mistral", "devstral", "phi4",
                                         "qwen3coder", "gptoss", NULL};

const char *const *parser_names(parser_kind kind) {
    return kind == PARSER_REASONING ? reasoning_names : tool_names;
}

int parser_exists(parser_kind kind, const char *name) {
    if (!name) return 0;
    for (const char *const *n = parser_names(kind); *n; n++)
        if (!strcmp(*n, name)) return 1;
    return 0;
}

lm_status parser_create(parser_kind kind, const char *name, const parser_opts *opts, out_stage **out,
                        lm_error *err) {
    static const parser_opts zero;
    *out = NULL;
    if (!opts) opts = &zero;
    if (!parser_exists(kind, name)) {
        char list[256] = "";
        for (const char *const *n = parser_names(kind); *n; n++) {
            if (list[0]) strncat(list, ", ", sizeof list - strlen(list) - 1);
            strncat(list, *n, sizeof list - strlen(list) - 1);
        }
        return err_set(err, LM_ERR_NOT_FOUND, "unknown %s parser '%s' (known: %s, or none)",
                       kind == PARSER_REASONING ? "reasoning" : "tool", name ? name : "(null)", list);
    }
    lm_status s;
    if (!strcmp(name, "gptoss")) s = harmony_create(opts, out);
    else if (kind == PARSER_REASONING) s = reasoning_qwen3_create(opts, out);
    else if (!strcmp(name, "qwen3coder")) s = toolcall_qwen3coder_create(opts, out);
    else s = toolcall_json_create(name, opts, out);
    if (s != LM_OK) return err_set(err, s, "cannot create the %s parser: out of memory", name);
    return LM_OK;
}

/* OVMS's table, in its order (the first match wins); the formats lmserve lacks detect as none. */
void parser_detect(const char *src, const char **tool, const char **reasoning) {
    *tool = NULL;
    *reasoning = NULL;
    if (!src) return;
#define HAS(x) (strstr(src, (x)) != NULL)
    int think = HAS("<think>") || HAS("</think>");
    if (HAS("<|channel|>")) {
        *tool = "gptoss";
        *reasoning = "gptoss";
    } else if (HAS("<|start|>") && HAS("<|message|>") && HAS("<|eom|>") && HAS("<|eot|>")) {
        /* onyx: not implemented */
    } else if (HAS("<|tool_call>call:")) {
        /* gemma4: not implemented */
    } else if (HAS("<parameter=") && HAS("</parameter>") && HAS("<function=")) {
        *tool = "qwen3coder";
        if (think) *reasoning = "qwen3";
    } else if (HAS("<param name=\"")) {
        /* minicpm5: not implemented */
    } else if (HAS("<|assistant_tool_call|>") || HAS("<|tool_call_start|>") || HAS("keep_past_thinking")) {
        /* lfm2: not implemented */
    } else if (HAS("functools")) {
        *tool = "phi4";
    } else if (HAS("[TOOL_CALLS]") && HAS("[ARGS]")) {
        *tool = "devstral";
    } else if (HAS("[TOOL_CALLS]") || (HAS("[AVAILABLE_TOOLS]") && HAS("[/AVAILABLE_TOOLS]"))) {
        *tool = "mistral";
    } else if (HAS("<|python_tag|>")) {
        *tool = "llama3";
    } else if (HAS("<tool_call>") && HAS("</tool_call>")) {
        *tool = "hermes3";
        if (think || HAS("content.split('</think>')")) *reasoning = "qwen3";
    } else if (HAS("<think>")) {
        *reasoning = "qwen3";
    }
#undef HAS
}

const char *const *parser_special_tokens(const char *name) {
    static const char *const none[] = {NULL};
    static const char *const llama3[] = {"<|python_tag|>", NULL};
    static const char *const mistral[] = {"[TOOL_CALLS]", NULL};
    static const char *const devstral[] = {"[TOOL_CALLS]", "[CALL_ID]", "[ARGS]", NULL};
    static const char *const harmony[] = {"<|start|>", "<|channel|>", "<|message|>", "<|constrain|>",
                                          "<|end|>", "<|call|>", "<|return|>", NULL};
    if (!name) return none;
    if (!strcmp(name, "llama3")) return llama3;
    if (!strcmp(name, "mistral")) return mistral;
    if (!strcmp(name, "devstral")) return devstral;
    if (!strcmp(name, "gptoss")) return harmony;
    return none;
}

int parser_prompt_opens_think(const char *prompt, size_t len) {
    while (len && is_ws(prompt[len - 1])) len--;
    return len >= 7 && !memcmp(prompt + len - 7, "<think>", 7);
}

/* ---- JSON scanning --------------------------------------------------------------------------- */

int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* s[*i] is '"'. */
static js_result scan_string(const char *s, size_t n, size_t *i) {
    size_t k = *i + 1;
    for (;;) {
        if (k >= n) return JS_PARTIAL;
        unsigned char c = (unsigned char)s[k];
        if (c == '"') {
            *i = k + 1;
            return JS_DONE;
        }
        if (c < 0x20) return JS_BAD;
        if (c != '\\') {
            k++;
            continue;
        }
        if (k + 1 >= n) return JS_PARTIAL;
        char e = s[k + 1];
        if (e == 'u') {
            for (size_t h = 0; h < 4; h++) {
                if (k + 2 + h >= n) return JS_PARTIAL;
                if (!is_hex(s[k + 2 + h])) return JS_BAD;
            }
            k += 6;
        } else if (strchr("\"\\/bfnrt", e) && e) {
            k += 2;
        } else {
            return JS_BAD;
        }
    }
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static js_result scan_number(const char *s, size_t n, int final, size_t *i) {
    size_t k = *i;
    int st = 0; /* 0 start, 1 after '-', 2 int (0), 3 int digits, 4 after '.', 5 frac, 6 after e,
                   7 after e sign, 8 exp digits */
    for (;; k++) {
        if (k >= n) {
            if (!final) return JS_PARTIAL;
            break;
        }
        char c = s[k];
        int next = -1;
        switch (st) {
        case 0: next = c == '-' ? 1 : c == '0' ? 2 : is_digit(c) ? 3 : -1; break;
        case 1: next = c == '0' ? 2 : is_digit(c) ? 3 : -1; break;
        case 2: next = c == '.' ? 4 : (c == 'e' || c == 'E') ? 6 : -1; break;
        case 3: next = is_digit(c) ? 3 : c == '.' ? 4 : (c == 'e' || c == 'E') ? 6 : -1; break;
        case 4: next = is_digit(c) ? 5 : -1; break;
        case 5: next = is_digit(c) ? 5 : (c == 'e' || c == 'E') ? 6 : -1; break;
        case 6: next = (c == '+' || c == '-') ? 7 : is_digit(c) ? 8 : -1; break;
        case 7: next = is_digit(c) ? 8 : -1; break;
        case 8: next = is_digit(c) ? 8 : -1; break;
        }
        if (next < 0) break;
        st = next;
    }
    if (st != 2 && st != 3 && st != 5 && st != 8) return JS_BAD;
    *i = k;
    return JS_DONE;
}

static js_result scan_literal(const char *s, size_t n, size_t *i) {
    static const char *const lits[] = {"true", "false", "null"};
    for (int l = 0; l < 3; l++) {
        const char *w = lits[l];
        if (s[*i] != w[0]) continue;
        size_t wl = strlen(w);
        size_t have = n - *i < wl ? n - *i : wl;
        if (memcmp(s + *i, w, have)) return JS_BAD;
        if (have < wl) return JS_PARTIAL;
        *i += wl;
        return JS_DONE;
    }
    return JS_BAD;
}

js_result js_scan(const char *s, size_t n, int final, size_t *end) {
    enum { VALUE, VALUE_OR_END, AFTER, KEY, KEY_OR_END, COLON } st = VALUE;
    char stack[PARSER_JSON_MAX_DEPTH];
    int depth = 0;
    size_t i = 0;
    for (;;) {
        if (st == AFTER && depth == 0) {
            *end = i;
            return JS_DONE;
        }
        while (i < n && is_ws(s[i])) i++;
        if (i >= n) return JS_PARTIAL;
        char c = s[i];
        js_result r;
        switch (st) {
        case VALUE_OR_END:
            if (c == ']') {
                depth--;
                i++;
                st = AFTER;
                break;
            }
            /* fall through */
        case VALUE:
            if (c == '{' || c == '[') {
                if (depth >= PARSER_JSON_MAX_DEPTH) return JS_BAD;
                stack[depth++] = c;
                i++;
                st = c == '{' ? KEY_OR_END : VALUE_OR_END;
                break;
            }
            if (c == '"') r = scan_string(s, n, &i);
            else if (c == '-' || is_digit(c)) r = scan_number(s, n, final, &i);
            else r = scan_literal(s, n, &i);
            if (r != JS_DONE) return r;
            st = AFTER;
            break;
        case AFTER:
            if (c == ',') {
                i++;
                st = stack[depth - 1] == '{' ? KEY : VALUE;
            } else if ((c == '}' && stack[depth - 1] == '{') || (c == ']' && stack[depth - 1] == '[')) {
                depth--;
                i++;
            } else {
                return JS_BAD;
            }
            break;
        case KEY_OR_END:
            if (c == '}') {
                depth--;
                i++;
                st = AFTER;
                break;
            }
            /* fall through */
        case KEY:
            if (c != '"') return JS_BAD;
            r = scan_string(s, n, &i);
            if (r != JS_DONE) return r;
            st = COLON;
            break;
        case COLON:
            if (c != ':') return JS_BAD;
            i++;
            st = VALUE;
            break;
        }
    }
}

void js_compact(const char *s, size_t n, lm_buf *out) {
    size_t i = 0, run = 0; /* run: start of the pending non-space span */
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            size_t k = i;
            if (scan_string(s, n, &k) != JS_DONE) k = n;
            i = k;
        } else if (is_ws(c)) {
            buf_append(out, s + run, i - run);
            while (i < n && is_ws(s[i])) i++;
            run = i;
        } else {
            i++;
        }
    }
    buf_append(out, s + run, n - run);
}

static size_t skip_ws(const char *s, size_t n, size_t i) {
    while (i < n && is_ws(s[i])) i++;
    return i;
}

int js_member(const char *s, size_t n, const char *key, const char **val, size_t *val_len) {
    size_t i = skip_ws(s, n, 0);
    if (i >= n || s[i] != '{') return 0;
    i = skip_ws(s, n, i + 1);
    size_t klen = strlen(key);
    while (i < n && s[i] == '"') {
        size_t k0 = i + 1, k = i;
        if (scan_string(s, n, &k) != JS_DONE) return 0;
        size_t k1 = k - 1; /* the closing quote */
        i = skip_ws(s, n, k);
        if (i >= n || s[i] != ':') return 0;
        i = skip_ws(s, n, i + 1);
        size_t e;
        if (js_scan(s + i, n - i, 1, &e) != JS_DONE) return 0;
        if (k1 - k0 == klen && !memcmp(s + k0, key, klen)) {
            *val = s + i;
            *val_len = e;
            return 1;
        }
        i = skip_ws(s, n, i + e);
        if (i < n && s[i] == ',') i = skip_ws(s, n, i + 1);
    }
    return 0;
}

char js_kind(const char *s, size_t n) {
    size_t i = skip_ws(s, n, 0);
    if (i >= n) return 0;
    char c = s[i];
    if (c == '-' || is_digit(c)) return '0';
    return c;
}

int js_string_decode(const char *s, size_t n, lm_buf *out) {
    json_error_t je;
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v || !json_is_string(v)) {
        json_decref(v);
        return 0;
    }
    const char *str = json_string_value(v);
    size_t len = json_string_length(v);
    int ok = memchr(str, 0, len) == NULL;
    if (ok) buf_append(out, str, len);
    json_decref(v);
    return ok;
}

void js_quote(const char *s, size_t n, lm_buf *out) {
    buf_append_char(out, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char tmp[8];
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            esc = tmp;
        }
        if (!esc) continue;
        buf_append(out, s + run, i - run);
        buf_append_str(out, esc);
        run = i + 1;
    }
    buf_append(out, s + run, n - run);
    buf_append_char(out, '"');
}

/* ---- tags ------------------------------------------------------------------------------------ */

size_t tag_find(const char *s, size_t n, size_t from, const char *tag) {
    size_t tl = strlen(tag);
    if (from > n || n - from < tl) return (size_t)-1;
    const char *p = memmem(s + from, n - from, tag, tl);
    return p ? (size_t)(p - s) : (size_t)-1;
}

size_t tag_hold(const char *s, size_t n, const char *const *tags) {
    size_t best = 0;
    for (; *tags; tags++) {
        size_t tl = strlen(*tags);
        size_t k = tl - 1 < n ? tl - 1 : n;
        for (; k > best; k--)
            if (!memcmp(s + n - k, *tags, k)) {
                best = k;
                break;
            }
    }
    return best;
}

int tag_is_prefix(const char *s, size_t n, const char *tag) {
    size_t tl = strlen(tag);
    return n <= tl && !memcmp(s, tag, n);
}

/* ---- the tool-call stage base ---------------------------------------------------------------- */

static void emit(out_sink *next, out_kind kind, int index, const char *id, const char *s, size_t n) {
    out_event ev = {kind, index, id, s, n};
    next->emit(next, &ev);
}

void tc_consume(tc *t, size_t n) {
    if (n > t->pend.len) n = t->pend.len;
    memmove(t->pend.data, t->pend.data + n, t->pend.len - n);
    t->pend.len -= n;
    if (t->pend.data) t->pend.data[t->pend.len] = 0;
    t->scanned = t->scanned > n ? t->scanned - n : 0;
}

void tc_text(tc *t, const char *s, size_t n, out_sink *next) {
    size_t i = 0;
    while (i < n && is_ws(s[i])) i++;
    if (i == n) {
        buf_append(&t->ws, s, n);
        return;
    }
    if (!t->after_call) {
        if (t->ws.len) emit(next, OUT_TEXT, 0, NULL, t->ws.data, t->ws.len);
        if (i) emit(next, OUT_TEXT, 0, NULL, s, i);
    }
    buf_reset(&t->ws);
    t->after_call = 0;
    size_t j = n;
    while (j > i && is_ws(s[j - 1])) j--;
    emit(next, OUT_TEXT, 0, NULL, s + i, j - i);
    t->seen_text = 1;
    buf_append(&t->ws, s + j, n - j);
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void tc_call(tc *t, const char *name, size_t name_len, const char *args, size_t args_len,
             out_sink *next) {
    buf_reset(&t->ws);
    /* splitmix64 is a bijection: distinct indexes give distinct ids within one stage. */
    char id[32];
    snprintf(id, sizeof id, "call_%016llx", (unsigned long long)splitmix64(t->id_seed + (uint64_t)t->n_calls));
    emit(next, OUT_TOOL_BEGIN, t->n_calls, id, name, name_len);
    lm_buf a = {0};
    js_compact(args, args_len, &a);
    if (a.oom) t->status = LM_ERR_NOMEM;
    emit(next, OUT_TOOL_ARGS, t->n_calls, NULL, a.len ? a.data : "", a.len);
    buf_fini(&a);
    t->n_calls++;
    t->after_call = 1;
}

void tc_pass(tc *t, const out_event *ev, out_sink *next) {
    (void)t;
    next->emit(next, ev);
}

int tc_json_call(tc *t, const char *obj, size_t n, out_sink *next) {
    const char *nv, *av;
    size_t nn, an;
    if (js_kind(obj, n) != '{' || !js_member(obj, n, "name", &nv, &nn) || js_kind(nv, nn) != '"')
        return 0;
    if (!js_member(obj, n, "arguments", &av, &an) && !js_member(obj, n, "parameters", &av, &an))
        return 0;
    if (js_kind(av, an) != '{') return 0;
    lm_buf name = {0};
    int ok = js_string_decode(nv, nn, &name) && name.len > 0;
    if (ok) tc_call(t, name.data, name.len, av, an, next);
    if (name.oom) t->status = LM_ERR_NOMEM;
    buf_fini(&name);
    return ok;
}

static void tc_drive(tc *t, int final, out_sink *next) {
    while (t->step(t, final, next)) {
    }
}

static lm_status tc_push(out_stage *self, const out_event *ev, out_sink *next) {
    tc *t = (tc *)self;
    if (ev->kind != OUT_TEXT) {
        tc_pass(t, ev, next);
        return t->status;
    }
    buf_append(&t->pend, ev->text, ev->len);
    if (t->pend.oom) return t->status = LM_ERR_NOMEM;
    tc_drive(t, 0, next);
    return t->status;
}

static lm_status tc_flush(out_stage *self, out_sink *next) {
    tc *t = (tc *)self;
    tc_drive(t, 1, next);
    if (t->pend.len) { /* a parser left text undecided at the end: it is content */
        tc_text(t, t->pend.data, t->pend.len, next);
        tc_consume(t, t->pend.len);
    }
    if (t->ws.len && !t->after_call) emit(next, OUT_TEXT, 0, NULL, t->ws.data, t->ws.len);
    buf_reset(&t->ws);
    return t->status;
}

static void tc_destroy(out_stage *self) {
    tc *t = (tc *)self;
    if (!t) return;
    if (t->fini) t->fini(t);
    buf_fini(&t->pend);
    buf_fini(&t->ws);
    json_decref(t->tools);
    free(t);
}

static uint64_t fresh_seed(void) {
    static _Atomic uint64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t c = atomic_fetch_add(&counter, 1);
    return splitmix64(((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ (c << 48) ^ c * 0x10001ull);
}

void tc_init(tc *t, tc_step_fn step, const parser_opts *opts) {
    memset(t, 0, sizeof *t);
    t->stage.push = tc_push;
    t->stage.flush = tc_flush;
    t->stage.destroy = tc_destroy;
    t->step = step;
    t->id_seed = opts->id_seed ? opts->id_seed : fresh_seed();
    t->tools = opts->tools ? json_deep_copy(opts->tools) : NULL; /* the request's JSON may go first */
}
