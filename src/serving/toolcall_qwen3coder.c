/* toolcall_qwen3coder.c — Qwen3-Coder's XML tool calls:
 *
 *   <tool_call>
 *   <function=NAME>
 *   <parameter=P>
 *   value
 *   </parameter>
 *   </function>
 *   </tool_call>
 *
 * (a bare <function=...> without <tool_call> is accepted too). A value loses one newline at each
 * end and is typed by the request's tool schema: "string" stays a string, "boolean" accepts any
 * case of true/false, other types (and parameters the schema does not list) are JSON when the
 * value parses as JSON, else a string. A call is emitted at </function>. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serving/parsers_impl.h"

enum { ST_TEXT, ST_BODY };

#define QC_MAX_NAME 256

static const char *const triggers[] = {"<tool_call>", "<function=", NULL};

typedef struct {
    int wrapped;      /* the body began with <tool_call> */
} qc;

static size_t skip_ws(const char *s, size_t n, size_t i) {
    while (i < n && is_ws(s[i])) i++;
    return i;
}

static int malformed(tc *t, out_sink *next) {
    qc *x = t->ext;
    const char *tag = x->wrapped ? "<tool_call>" : "<function=";
    tc_text(t, tag, strlen(tag), next);
    t->state = ST_TEXT;
    return 1;
}

static int step_text(tc *t, int final, out_sink *next) {
    qc *x = t->ext;
    const char *s = t->pend.data;
    size_t n = t->pend.len;
    if (!n) return 0;
    size_t a = tag_find(s, n, 0, triggers[0]), b = tag_find(s, n, 0, triggers[1]);
    size_t p = a < b ? a : b;
    if (p != (size_t)-1) {
        tc_text(t, s, p, next);
        x->wrapped = p == a;
        tc_consume(t, p + strlen(x->wrapped ? triggers[0] : triggers[1]));
        t->state = ST_BODY;
        t->scanned = 0;
        return 1;
    }
    size_t hold = final ? 0 : tag_hold(s, n, triggers);
    tc_text(t, s, n - hold, next);
    tc_consume(t, n - hold);
    return 0;
}

/* The JSON schema types the tool `fn` declares for parameter `p` (bits below); 0 if unknown. */
enum { T_STRING = 1, T_BOOL = 2, T_OTHER = 4 };

static int type_bit(const char *ty) {
    if (!strcmp(ty, "string")) return T_STRING;
    if (!strcmp(ty, "boolean")) return T_BOOL;
    return T_OTHER;
}

static int param_types(json_t *tools, const char *fn, const char *p) {
    size_t i;
    json_t *tool;
    json_array_foreach(tools, i, tool) {
        json_t *f = json_object_get(tool, "function");
        if (!f) f = tool;
        json_t *name = json_object_get(f, "name");
        if (!json_is_string(name) || strcmp(json_string_value(name), fn)) continue;
        json_t *ty = json_object_get(json_object_get(json_object_get(json_object_get(f, "parameters"),
                                                                     "properties"), p), "type");
        if (json_is_string(ty)) return type_bit(json_string_value(ty));
        int bits = 0;
        size_t k;
        json_t *v;
        json_array_foreach(ty, k, v) if (json_is_string(v)) bits |= type_bit(json_string_value(v));
        return bits;
    }
    return 0;
}

static void put_value(json_t *tools, const char *fn, const char *p, const char *v, size_t n, lm_buf *out) {
    int types = tools ? param_types(tools, fn, p) : 0;
    if (types == T_STRING) {
        js_quote(v, n, out);
        return;
    }
    if ((types & T_BOOL) && ((n == 4 && !strncasecmp(v, "true", 4)) || (n == 5 && !strncasecmp(v, "false", 5)))) {
        buf_append_str(out, n == 4 ? "true" : "false");
        return;
    }
    size_t e;
    if (js_kind(v, n) && js_scan(v, n, 1, &e) == JS_DONE && skip_ws(v, n, e) == n &&
        (types == 0 || (types & T_OTHER) || js_kind(v, n) == 't' || js_kind(v, n) == 'f')) {
        js_compact(v, n, out);
        return;
    }
    js_quote(v, n, out);
}

/* Parses the parameters in s[0..n) (between <function=NAME> and </function>) into a JSON
 * object. 0 when something other than parameters is there. */
static int parse_params(tc *t, const char *fn, const char *s, size_t n, lm_buf *args) {
    static const char open[] = "<parameter=", close[] = "</parameter>";
    size_t i = 0;
    int count = 0;
    buf_append_char(args, '{');
    for (;;) {
        i = skip_ws(s, n, i);
        if (i >= n) break;
        if (n - i < sizeof open - 1 || memcmp(s + i, open, sizeof open - 1)) return 0;
        i += sizeof open - 1;
        size_t k = i;
        while (k < n && s[k] != '>' && (unsigned char)s[k] >= 0x20 && k - i <= QC_MAX_NAME) k++;
        if (k >= n || s[k] != '>' || k == i) return 0;
        char pname[QC_MAX_NAME + 2];
        memcpy(pname, s + i, k - i);
        pname[k - i] = 0;
        size_t v0 = k + 1;
        size_t c = tag_find(s, n, v0, close), o = tag_find(s, n, v0, open);
        size_t v1 = c < o ? c : o;
        if (v1 == (size_t)-1) v1 = n;
        size_t a = v0, b = v1;
        if (a < b && s[a] == '\n') a++;
        if (b > a && s[b - 1] == '\n') b--;
        if (count++) buf_append_char(args, ',');
        js_quote(pname, k - i, args);
        buf_append_char(args, ':');
        put_value(t->tools, fn, pname, s + a, b - a, args);
        i = v1 == c ? c + sizeof close - 1 : v1;
    }
    buf_append_char(args, '}');
    return 1;
}

static int step_body(tc *t, int final, out_sink *next) {
    qc *x = t->ext;
    const char *s = t->pend.data;
    size_t n = t->pend.len;
    static const char fopen_[] = "<function=", fclose_[] = "</function>", wclose[] = "</tool_call>";
    size_t i = 0;
    if (x->wrapped) {
        i = skip_ws(s, n, 0);
        if (tag_is_prefix(s + i, n - i, fopen_) && n - i < sizeof fopen_ - 1) return final ? malformed(t, next) : 0;
        if (memcmp(s + i, fopen_, sizeof fopen_ - 1)) return malformed(t, next);
        i += sizeof fopen_ - 1;
    }
    size_t k = i;
    while (k < n && s[k] != '>' && (unsigned char)s[k] > 0x20 && s[k] != '<' && k - i <= QC_MAX_NAME) k++;
    if (k - i > QC_MAX_NAME) return malformed(t, next);
    if (k == n) return final ? malformed(t, next) : 0;
    if (s[k] != '>' || k == i) return malformed(t, next);
    size_t q = tag_find(s, n, t->scanned > k + 1 ? t->scanned : k + 1, fclose_);
    if (q == (size_t)-1) {
        if (final) return malformed(t, next);
        t->scanned = n >= sizeof fclose_ ? n - (sizeof fclose_ - 2) : 0;
        return 0;
    }
    size_t end = q + sizeof fclose_ - 1;
    if (x->wrapped) {
        size_t j = skip_ws(s, n, end);
        if (!final && tag_is_prefix(s + j, n - j, wclose) && n - j < sizeof wclose - 1) {
            t->scanned = q; /* keep finding the same </function> */
            return 0;
        }
        if (n - j >= sizeof wclose - 1 && !memcmp(s + j, wclose, sizeof wclose - 1)) end = j + sizeof wclose - 1;
        else if (tag_is_prefix(s + j, n - j, wclose)) end = n; /* final: a cut-off closing tag */
    }
    char fn[QC_MAX_NAME + 2];
    memcpy(fn, s + i, k - i);
    fn[k - i] = 0;
    lm_buf args = {0};
    int ok = parse_params(t, fn, s + k + 1, q - (k + 1), &args);
    if (args.oom) t->status = LM_ERR_NOMEM;
    if (ok) tc_call(t, fn, k - i, args.data, args.len, next);
    buf_fini(&args);
    if (!ok) return malformed(t, next);
    tc_consume(t, end);
    t->state = ST_TEXT;
    return 1;
}

static int step(tc *t, int final, out_sink *next) {
    return t->state == ST_TEXT ? step_text(t, final, next) : step_body(t, final, next);
}

static void fini(tc *t) { free(t->ext); }

lm_status toolcall_qwen3coder_create(const parser_opts *opts, out_stage **out) {
    tc *t = malloc(sizeof *t);
    qc *x = calloc(1, sizeof *x);
    if (!t || !x) {
        free(t);
        free(x);
        return LM_ERR_NOMEM;
    }
    tc_init(t, step, opts);
    t->fini = fini;
    t->ext = x;
    *out = &t->stage;
    return LM_OK;
}
