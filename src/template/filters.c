/* filters.c — Jinja2's builtin filters (3.1 semantics, autoescape off) and transformers' tojson,
 * one function each, looked up by name from one table at the end of the file. Filters that
 * return generators in Jinja2 (map, select, reverse...) return lists here. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/builtins.h"
#include "template/interp.h"
#include "template/pystr.h"

#define FILTER(name) static lm_status name(tpl_rt *rt, const tpl_value *in, tpl_args *args, tpl_value *out)

#define BIND(what, ...)                                                                          \
    static const char *const names_[] = {__VA_ARGS__};                                           \
    tpl_value a[sizeof names_ / sizeof names_[0]];                                               \
    LM_TRY(tpl_bind_args(rt, what, args, names_, sizeof names_ / sizeof names_[0], a, NULL))

#define NOARGS(what) LM_TRY(tpl_bind_args(rt, what, args, NULL, 0, NULL, NULL))

static int given(const tpl_value *v) { return !tpl_arg_missing(v); }
static int given_not_none(const tpl_value *v) { return given(v) && v->kind != TPL_NONE; }

static lm_status int_of(tpl_rt *rt, const char *what, const tpl_value *v, int64_t *out) {
    if (v->kind == TPL_INT) { *out = v->u.i; return LM_OK; }
    if (v->kind == TPL_BOOL) { *out = v->u.b; return LM_OK; }
    return tpl_rt_fail(rt, LM_ERR_INVALID, "%s: '%s' object cannot be interpreted as an integer",
                       what, tpl_type_name(v));
}

/* ---- attribute getters (Jinja2's make_attrgetter) ---- */

typedef struct {
    tpl_value *parts;  /* "a.b.0" -> 'a', 'b', 0 */
    size_t n;
    tpl_value deflt;
    int has_default;
} attrgetter;

static lm_status getter_init(tpl_rt *rt, const tpl_value *attr, attrgetter *g) {
    memset(g, 0, sizeof *g);
    if (!attr || !given_not_none(attr)) return LM_OK;
    if (attr->kind != TPL_STR) {
        g->parts = tpl_rt_alloc(rt, sizeof *g->parts);
        if (!g->parts) return rt->err->code;
        g->parts[0] = *attr;
        g->n = 1;
        return LM_OK;
    }
    size_t count = 1;
    for (size_t i = 0; i < attr->u.s.n; i++) count += attr->u.s.p[i] == '.';
    g->parts = tpl_rt_alloc(rt, count * sizeof *g->parts);
    if (!g->parts) return rt->err->code;
    const char *p = attr->u.s.p, *end = p + attr->u.s.n;
    while (g->n < count) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *e = dot ? dot : end;
        int digits = e > p;
        for (const char *q = p; q < e; q++) digits &= *q >= '0' && *q <= '9';
        if (digits && e - p < 19) g->parts[g->n++] = tpl_int(strtoll(p, NULL, 10));
        else g->parts[g->n++] = tpl_str(p, (size_t)(e - p));
        p = e + 1;
    }
    return LM_OK;
}

static lm_status getter_get(tpl_rt *rt, const attrgetter *g, const tpl_value *item, tpl_value *out) {
    tpl_value v = *item;
    for (size_t i = 0; i < g->n; i++) {
        LM_TRY(tpl_getitem(rt, &v, &g->parts[i], &v));
        if (g->has_default && v.kind == TPL_UNDEFINED) v = g->deflt;
    }
    *out = v;
    return LM_OK;
}

/* ---- stable merge sort with a comparison that can fail ---- */

typedef struct {
    tpl_rt *rt;
    int fold, reverse;
} sort_ctx;

/* Returns 1 when key b must come before key a (b < a, or a < b when reversed). */
static lm_status sort_before(sort_ctx *c, const tpl_value *a, const tpl_value *b, int *before) {
    int r;
    size_t cost = 8; /* a comparison of two long strings reads them: charged to the time budget */
    if (a->kind == TPL_STR && b->kind == TPL_STR) cost += a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
    LM_TRY(tpl_rt_work(c->rt, cost));
    LM_TRY(tpl_compare(c->rt, a, b, c->fold, &r));
    *before = c->reverse ? r < 0 : r > 0;
    return LM_OK;
}

static lm_status merge_sort(sort_ctx *c, const tpl_value *keys, size_t *idx, size_t *tmp, size_t n) {
    if (n < 2) return LM_OK;
    size_t h = n / 2;
    LM_TRY(merge_sort(c, keys, idx, tmp, h));
    LM_TRY(merge_sort(c, keys, idx + h, tmp, n - h));
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int before;
        LM_TRY(sort_before(c, &keys[idx[i]], &keys[idx[j]], &before));
        tmp[k++] = before ? idx[j++] : idx[i++];
    }
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
    return LM_OK;
}

/* Sorts items by keys (parallel arrays) into a new list. */
static lm_status sort_by_keys(tpl_rt *rt, const tpl_value *items, const tpl_value *keys, size_t n,
                              int fold, int reverse, tpl_value *out) {
    size_t *idx = tpl_rt_alloc(rt, (n ? n : 1) * sizeof *idx);
    size_t *tmp = tpl_rt_alloc(rt, (n ? n : 1) * sizeof *tmp);
    if (!idx || !tmp) return rt->err->code;
    for (size_t i = 0; i < n; i++) idx[i] = i;
    sort_ctx c = {rt, fold, reverse};
    LM_TRY(merge_sort(&c, keys, idx, tmp, n));
    LM_TRY(tpl_make_list(rt, NULL, n, 0, out));
    for (size_t i = 0; i < n; i++) out->u.list->items[i] = items[idx[i]];
    return LM_OK;
}

/* ---- the filters ---- */

FILTER(f_abs) {
    NOARGS("abs");
    if (in->kind == TPL_FLOAT) { *out = tpl_float(fabs(in->u.f)); return LM_OK; }
    int64_t i;
    if (in->kind != TPL_INT && in->kind != TPL_BOOL)
        return tpl_rt_fail(rt, LM_ERR_INVALID, "bad operand type for abs(): '%s'", tpl_type_name(in));
    LM_TRY(int_of(rt, "abs", in, &i));
    if (i == INT64_MIN) return tpl_rt_fail(rt, LM_ERR_UNSUPPORTED, "integer overflow");
    *out = tpl_int(i < 0 ? -i : i);
    return LM_OK;
}

FILTER(f_attr) {
    BIND("attr", "name");
    if (a[0].kind != TPL_STR) return tpl_rt_fail(rt, LM_ERR_INVALID, "attribute name must be a string");
    if (tpl_is_map(in)) { /* attributes only: a dict's keys are not its attributes */
        int r = tpl_builtin_method(rt, in, a[0].u.s.p, a[0].u.s.n, out);
        if (r < 0) return rt->err->code;
        if (r == 0) *out = tpl_undef(a[0].u.s.p, a[0].u.s.n);
        return LM_OK;
    }
    return tpl_getattr(rt, in, a[0].u.s.p, a[0].u.s.n, out);
}

FILTER(f_batch_list) {
    BIND("batch", "linecount", "fill_with");
    int64_t count = 0;
    LM_TRY(int_of(rt, "batch", &a[0], &count));
    if (count <= 0) return tpl_rt_fail(rt, LM_ERR_INVALID, "batch size must be positive");
    tpl_value *items;
    size_t n;
    LM_TRY(tpl_iterate(rt, in, &items, &n));
    size_t groups = (n + (size_t)count - 1) / (size_t)count;
    LM_TRY(tpl_make_list(rt, NULL, groups, 0, out));
    for (size_t g = 0; g < groups; g++) {
        size_t start = g * (size_t)count, len = n - start < (size_t)count ? n - start : (size_t)count;
        size_t total = len < (size_t)count && given_not_none(&a[1]) ? (size_t)count : len;
        tpl_value *row = &out->u.list->items[g];
        LM_TRY(tpl_make_list(rt, items + start, len, 0, row));
        if (total > len) {
            LM_TRY(tpl_make_list(rt, NULL, total, 0, row));
            for (size_t i = 0; i < total; i++) row->u.list->items[i] = i < len ? items[start + i] : a[1];
        }
    }
    return LM_OK;
}

static lm_status string_case(tpl_rt *rt, const tpl_value *in, tpl_args *args, tpl_value *out,
                             int mode, const char *what) {
    NOARGS(what);
    tpl_value s;
    LM_TRY(tpl_to_str(rt, in, &s));
    return tpl_str_case(rt, &s, mode, out);
}

FILTER(f_capitalize) { return string_case(rt, in, args, out, TPL_CASE_CAPITALIZE, "capitalize"); }
FILTER(f_lower) { return string_case(rt, in, args, out, TPL_CASE_LOWER, "lower"); }
FILTER(f_upper) { return string_case(rt, in, args, out, TPL_CASE_UPPER, "upper"); }
FILTER(f_title) { return string_case(rt, in, args, out, TPL_CASE_JINJA_TITLE, "title"); }

FILTER(f_center) {
    BIND("center", "width");
    int64_t width = 80;
    if (given(&a[0])) LM_TRY(int_of(rt, "center", &a[0], &width));
    tpl_value s;
    LM_TRY(tpl_to_str(rt, in, &s));
    size_t len = tpl_utf8_count(s.u.s.p, s.u.s.n);
    if (width <= (int64_t)len) { *out = s; return LM_OK; }
    if ((uint64_t)width > rt->max_output) return tpl_rt_fail(rt, LM_ERR_LIMIT, "center width too large");
    size_t total = (size_t)width - len, left = total / 2 + (total & (size_t)width & 1);
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    for (size_t i = 0; i < left; i++) tpl_sb_addc(&sb, ' ');
    tpl_sb_add(&sb, s.u.s.p, s.u.s.n);
    for (size_t i = left; i < total; i++) tpl_sb_addc(&sb, ' ');
    return tpl_sb_finish(rt, &sb, out);
}

FILTER(f_length) {
    NOARGS("length");
    size_t n;
    LM_TRY(tpl_len(rt, in, &n));
    *out = tpl_int((int64_t)n);
    return LM_OK;
}

FILTER(f_default) {
    BIND("default", "default_value", "boolean");
    int boolean = given(&a[1]) && tpl_truthy(&a[1]);
    if (in->kind == TPL_UNDEFINED || (boolean && !tpl_truthy(in)))
        *out = given(&a[0]) ? a[0] : tpl_str("", 0);
    else
        *out = *in;
    return LM_OK;
}

FILTER(f_dictsort) {
    BIND("dictsort", "case_sensitive", "by", "reverse");
    int pos = 0;
    if (given(&a[1])) {
        if (a[1].kind == TPL_STR && a[1].u.s.n == 5 && memcmp(a[1].u.s.p, "value", 5) == 0) pos = 1;
        else if (!(a[1].kind == TPL_STR && a[1].u.s.n == 3 && memcmp(a[1].u.s.p, "key", 3) == 0))
            return tpl_rt_fail(rt, LM_ERR_INVALID, "You can only sort by either \"key\" or \"value\"");
    }
    if (!tpl_is_map(in)) return tpl_rt_fail(rt, LM_ERR_INVALID, "dictsort needs a mapping, got %s", tpl_type_name(in));
    tpl_value *keys, *vals;
    size_t n;
    LM_TRY(tpl_map_pairs(rt, in, &keys, &vals, &n));
    tpl_value *pairs = tpl_rt_alloc(rt, (n ? n : 1) * sizeof *pairs);
    if (!pairs) return rt->err->code;
    for (size_t i = 0; i < n; i++) {
        tpl_value kv[2] = {keys[i], vals[i]};
        LM_TRY(tpl_make_list(rt, kv, 2, 1, &pairs[i]));
    }
    int fold = !(given(&a[0]) && tpl_truthy(&a[0]));
    return sort_by_keys(rt, pairs, pos ? vals : keys, n, fold, given(&a[2]) && tpl_truthy(&a[2]), out);
}

FILTER(f_escape) { NOARGS("escape"); return tpl_html_escape(rt, in, out); }

FILTER(f_forceescape) {
    NOARGS("forceescape");
    tpl_value s;
    LM_TRY(tpl_to_str(rt, in, &s));
    s.flags = 0;
    return tpl_html_escape(rt, &s, out);
}

FILTER(f_first) {
    NOARGS("first");
    if (tpl_is_gen(in)) { /* next(iter(generator)) takes one item */
        tpl_list *l = in->u.list;
        if (l->error) return tpl_rt_fail(rt, l->error_code, "%s", l->error);
        *out = l->pos < l->n ? l->items[l->pos++] : tpl_undef(NULL, 0);
        return LM_OK;
    }
    tpl_value *items;
    size_t n;
    LM_TRY(tpl_iterate(rt, in, &items, &n));
    *out = n ? items[0] : tpl_undef(NULL, 0);
    return LM_OK;
}

FILTER(f_last) {
    NOARGS("last");
    if (tpl_is_gen(in)) return tpl_rt_fail(rt, LM_ERR_INVALID, "'generator' object is not reversible");
    tpl_value *items;
    size_t n;
    LM_TRY(tpl_iterate(rt, in, &items, &n));
    *out = n ? items[n - 1] : tpl_undef(NULL, 0);
    return LM_OK;
}

/* Python float() of a string: whitespace, sign, digits with single underscores, '.', exponent,
 * inf/infinity/nan. Returns 0 when it is not a float literal. */
static int parse_py_float(const char *s, size_t n, double *out) {
    size_t a = tpl_py_ws_prefix(s, n), b = n - tpl_py_ws_suffix(s, n);
    if (a >= b) return 0;
    char buf[128];
    size_t k = 0, i = a;
    if (s[i] == '+' || s[i] == '-') buf[k++] = s[i++];
    static const char *const words[] = {"inf", "infinity", "nan"};
    for (size_t w = 0; w < 3; w++) {
        size_t wl = strlen(words[w]);
        if (b - i == wl && strncasecmp(s + i, words[w], wl) == 0) {
            double v = w == 2 ? NAN : INFINITY;
            *out = buf[0] == '-' ? -v : v;
            return 1;
        }
    }
    int digits = 0, prev_digit = 0;
    for (; i < b; i++) {
        char c = s[i];
        if (c == '_') {
            if (!prev_digit || i + 1 >= b || s[i + 1] < '0' || s[i + 1] > '9') return 0;
            prev_digit = 0;
            continue;
        }
        if (k + 1 >= sizeof buf) return 0;
        if (c >= '0' && c <= '9') { digits = 1; prev_digit = 1; }
        else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') prev_digit = 0;
        else return 0;
        buf[k++] = c;
    }
    buf[k] = '\0';
    if (!digits) return 0;
    char *end;
    *out = strtod(buf, &end);
    return *end == '\0';
}

/* Python int(str, base). Returns 0 when the text is not an integer literal. */
static int parse_py_int(const char *s, size_t n, int base, int64_t *out) {
    size_t a = tpl_py_ws_prefix(s, n), b = n - tpl_py_ws_suffix(s, n), i = a;
    if (a >= b) return 0;
    int neg = 0;
    if (s[i] == '+' || s[i] == '-') neg = s[i++] == '-';
    if (base == 0 || base == 16 || base == 8 || base == 2) {
        if (b - i > 2 && s[i] == '0') {
            char x = (char)(s[i + 1] | 0x20);
            int pb = x == 'x' ? 16 : x == 'o' ? 8 : x == 'b' ? 2 : 0;
            if (pb && (base == 0 || base == pb)) { base = pb; i += 2; if (s[i] == '_') i++; }
        }
        if (base == 0) base = 10;
    }
    uint64_t v = 0;
    int digits = 0, prev_digit = 0;
    for (; i < b; i++) {
        char c = s[i];
        if (c == '_' && prev_digit && i + 1 < b) { prev_digit = 0; continue; }
        int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? (c | 0x20) - 'a' + 10 : 99;
        if (d >= base) return 0;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return 0;
        v = v * (uint64_t)base + (uint64_t)d;
        digits = 1;
        prev_digit = 1;
    }
    if (!digits || !prev_digit || v > (uint64_t)INT64_MAX + (uint64_t)neg) return 0;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

FILTER(f_float) {
    BIND("float", "default");
    tpl_value dflt = given(&a[0]) ? a[0] : tpl_float(0.0);
    double d;
    if (in->kind == TPL_FLOAT) *out = *in;
    else if (in->kind == TPL_INT || in->kind == TPL_BOOL) *out = tpl_float((double)(in->kind == TPL_INT ? in->u.i : in->u.b));
    else if (in->kind == TPL_STR && parse_py_float(in->u.s.p, in->u.s.n, &d)) *out = tpl_float(d);
    else *out = dflt;
    return LM_OK;
}

FILTER(f_int) {
    BIND("int", "default", "base");
    tpl_value dflt = given(&a[0]) ? a[0] : tpl_int(0);
    int64_t base = 10, i;
    if (given(&a[1])) LM_TRY(int_of(rt, "int", &a[1], &base));
    double d;
    if (in->kind == TPL_INT || in->kind == TPL_BOOL) {
        *out = tpl_int(in->kind == TPL_INT ? in->u.i : in->u.b);
    } else if (in->kind == TPL_STR && base >= 0 && base <= 36 && base != 1 &&
               parse_py_int(in->u.s.p, in->u.s.n, (int)base, &i)) {
        *out = tpl_int(i);
    } else if (in->kind == TPL_FLOAT || (in->kind == TPL_STR && parse_py_float(in->u.s.p, in->u.s.n, &d))) {
        d = in->kind == TPL_FLOAT ? in->u.f : d;
        if (isnan(d)) { *out = dflt; return LM_OK; }
        if (!isfinite(d) || fabs(d) >= 9.2e18)
            return tpl_rt_fail(rt, LM_ERR_INVALID, "cannot convert float %s to integer",
                               isfinite(d) ? "(too large)" : "infinity");
        *out = tpl_int((int64_t)d);
    } else {
        *out = dflt;
    }
    return LM_OK;
}

FILTER(f_format) {
    if (args->npos && args->nkw)
        return tpl_rt_fail(rt, LM_ERR_INVALID, "can't handle positional and keyword arguments at the same time");
    tpl_value s, params;
    LM_TRY(tpl_to_str(rt, in, &s));
    if (args->nkw) {
        LM_TRY(tpl_make_dict(rt, &params, 0));
        for (size_t k = 0; k < args->nkw; k++) {
            tpl_value key = tpl_str(args->kwname[k], args->kwlen[k]);
            LM_TRY(tpl_dict_set(rt, params.u.dict, &key, &args->kwval[k]));
        }
    } else {
        LM_TRY(tpl_make_list(rt, args->pos, args->npos, 1, &params));
    }
    return tpl_str_percent(rt, &s, &params, out);
}

/* Python str.splitlines() on a string built from parts; used by indent. */
FILTER(f_indent) {
    BIND("indent", "width", "first", "blank");
    if (in->kind != TPL_STR) {
        if (in->kind == TPL_UNDEFINED && in->u.s.p)
            return tpl_rt_fail(rt, LM_ERR_INVALID, "'%.*s' is undefined", (int)in->u.s.n, in->u.s.p);
        return tpl_rt_fail(rt, LM_ERR_INVALID, "indent needs a string, got %s", tpl_type_name(in));
    }
    tpl_value ind = tpl_str("    ", 4);
    if (given(&a[0])) {
        if (a[0].kind == TPL_STR) {
            ind = a[0];
        } else {
            int64_t w = 0;
            LM_TRY(int_of(rt, "indent", &a[0], &w));
            if (w > 4096) return tpl_rt_fail(rt, LM_ERR_LIMIT, "indent width too large");
            char *sp = tpl_rt_alloc(rt, w > 0 ? (size_t)w : 1);
            if (!sp) return rt->err->code;
            memset(sp, ' ', w > 0 ? (size_t)w : 0);
            ind = tpl_str(sp, w > 0 ? (size_t)w : 0);
        }
    }
    int first = given(&a[1]) && tpl_truthy(&a[1]);
    int blank = given(&a[2]) && tpl_truthy(&a[2]);
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    tpl_sb_add(&sb, in->u.s.p, in->u.s.n);
    tpl_sb_addc(&sb, '\n'); /* Jinja2 appends a newline so splitlines keeps a last empty line */
    tpl_value withnl, lines;
    LM_TRY(tpl_sb_finish(rt, &sb, &withnl));
    LM_TRY(tpl_str_splitlines(rt, &withnl, 0, &lines));
    tpl_sb r;
    tpl_sb_init(&r, &rt->arena, rt->max_output);
    if (first) tpl_sb_add(&r, ind.u.s.p, ind.u.s.n);
    for (size_t i = 0; i < lines.u.list->n; i++) {
        const tpl_value *line = &lines.u.list->items[i];
        if (i) {
            tpl_sb_addc(&r, '\n');
            if (blank || line->u.s.n) tpl_sb_add(&r, ind.u.s.p, ind.u.s.n);
        }
        tpl_sb_add(&r, line->u.s.p, line->u.s.n);
    }
    LM_TRY(tpl_sb_finish(rt, &r, out));
    out->flags = in->flags & TPL_F_MARKUP;
    return LM_OK;
}

FILTER(f_items_list) {
    NOARGS("items");
    if (in->kind == TPL_UNDEFINED) return tpl_make_list(rt, NULL, 0, 0, out);
    if (!tpl_is_map(in)) return tpl_rt_fail(rt, LM_ERR_INVALID, "Can only get item pairs from a mapping.");
    tpl_value *keys, *vals;
    size_t n;
    LM_TRY(tpl_map_pairs(rt, in, &keys, &vals, &n));
    LM_TRY(tpl_make_list(rt, NULL, n, 0, out));
    for (size_t i = 0; i < n; i++) {
        tpl_value kv[2] = {keys[i], vals[i]};
        LM_TRY(tpl_make_list(rt, kv, 2, 1, &out->u.list->items[i]));
    }
    return LM_OK;
}

FILTER(f_join) {
    BIND("join", "d", "attribute");
    tpl_value sep = tpl_str("", 0);
    if (given(&a[0])) LM_TRY(tpl_to_str(rt, &a[0], &sep));
    attrgetter g;
    LM_TRY(getter_init(rt, &a[1], &g));
    tpl_value *items;
    size_t n;
    LM_TRY(tpl_iterate(rt, in, &items, &n));
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    for (size_t i = 0; i < n; i++) {
        tpl_value v;
        LM_TRY(getter_get(rt, &g, &items[i], &v));
        if (i) tpl_sb_add(&sb, sep.u.s.p, sep.u.s.n);
        tpl_write_str(&sb, &v);
    }
    return tpl_sb_finish(rt, &sb, out);
}

FILTER(f_list) {
    NOARGS("list");
    tpl_value *items;
    size_t n;
    LM_TRY(tpl_iterate(rt, in, &items, &n));
    return tpl_make_list(rt, items, n, 0, out);
}

FILTER(f_map_list) {
    tpl_value *items;
    size_t n;
    if (!tpl_truthy(in)) return tpl_make_list(rt, NULL, 0, 0, out); /* Jinja2: `if value:` */
    if (args->npos == 0) {
        BIND("map", "attribute", "default");
        if (!given(&a[0])) return tpl_rt_fail(rt, LM_ERR_INVALID, "map requires a filter argument");
        attrgetter g;
        LM_TRY(getter_init(rt, &a[0], &g));
        if (given_not_none(&a[1])) {
            g.deflt = a[1];
            g.has_default = 1;
        }
        LM_TRY(tpl_iterate(rt, in, &items, &n));
        LM_TRY(tpl_make_list(rt, NULL, n, 0, out));
        for (size_t i = 0; i < n; i++) LM_TRY(getter_get(rt, &g, &items[i], &out->u.list->items[i]));
        return LM_OK;
    }
    if (args->pos[0].kind != TPL_STR) return tpl_rt_fail(rt, LM_ERR_INVALID, "map: filter name must be a string");
    tpl_value name = args->pos[0];
    tpl_args rest = *args;
    rest.pos++;
    rest.npos--;
    LM_TRY(tpl_iterate(rt, in, &items, &n));
    LM_TRY(tpl_make_list(rt, NULL, n, 0, out));
    for (size_t i = 0; i < n; i++)
        LM_TRY(tpl_apply_filter(rt, name.u.s.p, name.u.s.n, &items[i], &rest, &out->u.list->items[i]));
    return LM_OK;
}

/* select/reject/selectattr/rejectattr: keep items whose (attribute's) test result is `keep`. */
static lm_status select_items(tpl_rt *rt, const tpl_value *in, tpl_args *args, tpl_value *out,
                              int by_attr, int keep, const char *what) {
    if (!tpl_truthy(in)) return tpl_make_list(rt, NULL, 0, 0, out); /* Jinja2: `if value:` */
    size_t off = 0;
    attrgetter g;
    memset(&g, 0, sizeof g);
    if (by_attr) {
        if (args->npos < 1) return tpl_rt_fail(rt, LM_ERR_INVALID, "%s: missing parameter for attribute name", what);
        LM_TRY(getter_init(rt, &args->pos[0], &g));
        off = 1;
    }
    const tpl_value *test = args->npos > off ? &args->pos[off] : NULL;
    if (test && test->kind != TPL_STR) return tpl_rt_fail(rt, LM_ERR_INVALID, "%s: test name must be a string", what);
    tpl_args targs = *args;
    targs.npos = args->npos > off ? args->npos - off - 1 : 0;
    targs.pos = targs.npos ? args->pos + off + 1 : NULL;
    tpl_value *items;
    size_t n;
    LM_TRY(tpl_iterate(rt, in, &items, &n));
    tpl_value *kept = tpl_rt_alloc(rt, (n ? n : 1) * sizeof *kept);
    if (!kept) return rt->err->code;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        tpl_value v;
        LM_TRY(getter_get(rt, &g, &items[i], &v));
        int r;
        if (test) LM_TRY(tpl_apply_test(rt, test->u.s.p, test->u.s.n, &v, &targs, &r));
        else r = tpl_truthy(&v);
        if ((r != 0) == keep) kept[k++] = items[i];
    }
    return tpl_make_list(rt, kept, k, 0, out);
}

FILTER(f_select_list) { return select_items(rt, in, args, out, 0, 1, "select"); }
FILTER(f_reject_list) { return select_items(rt, in, args, out, 0, 0, "reject"); }
FILTER(f_selectattr_list) { return select_items(rt, in, args, out, 1, 1, "selectattr"); }
FILTER(f_rejectattr_list) { return select_items(rt, in, args, out, 1, 0, "rejectattr"); }

/* min/max: first smallest/largest by (attribute, case-folded) key. */
static lm_status min_max(tpl_rt *rt, const tpl_value *in, tpl_args *args, tpl_value *out, int want_max) {
    BIND(want_max ? "max" : "min", "case_sensitive", "attribute");
    int fold = !(given(&a[0]) && tpl_truthy(&a[0]));
    attrgetter g;
    LM_TRY(getter_init(rt, &a[1], &g));
    tpl_value *items;
    size_t n;
    LM_TRY(tpl_iterate(rt, in, &items, &n));
    if (n == 0) {
        *out = tpl_undef(NULL, 0);
        return LM_OK;
    }
    size_t best = 0;
    tpl_value best_key;
    LM_TRY(getter_get(rt, &g, &items[0], &best_key));
    for (size_t i = 1; i < n; i++) {
        tpl_value key;
        int c;
        LM_TRY(getter_get(rt, &g, &items[i], &key));
        LM_TRY(tpl_compare(rt, &key, &best_key, fold, &c));
        if (want_max ? c > 0 : c < 0) {
            best = i;
            best_key = key;
        }
    }
    *out = items[best];
    return LM_OK;
}

FILTER(f_min) { return min_max(rt, in, args, out, 0); }
FILTER(f_max) { return min_max(rt, in, args, out, 1); }

FILTER(f_replace) {
    BIND("replace", "old", "new", "count");
    if (!given(&a[0]) || !given(&a[1])) return tpl_rt_fail(rt, LM_ERR_INVALID, "replace needs old and new");
    int64_t count = -1;
    if (given_not_none(&a[2])) LM_TRY(int_of(rt, "replace", &a[2], &count));
    tpl_value s, o, r;
    LM_TRY(tpl_to_str(rt, in, &s));
    LM_TRY(tpl_to_str(rt, &a[0], &o));
    LM_TRY(tpl_to_str(rt, &a[1], &r));
    s.flags = 0;
    return tpl_str_replace(rt, &s, &o, &r, count, out);
}

FILTER(f_reverse_list) {
    NOARGS("reverse");
    tpl_value *items;
    size_t n;
    LM_TRY(tpl_iterate(rt, in, &items, &n));
    if (in->kind == TPL_STR) {
        tpl_sb sb;
        tpl_sb_init(&sb, &rt->arena, rt->max_output);
        for (size_t i = n; i-- > 0;) tpl_sb_add(&sb, items[i].u.s.p, items[i].u.s.n);
        return tpl_sb_finish(rt, &sb, out);
    }
    LM_TRY(tpl_make_list(rt, NULL, n, 0, out));
    for (size_t i = 0; i < n; i++) out->u.list->items[i] = items[n - 1 - i];
    return LM_OK;
}

FILTER(f_round) {
    BIND("round", "precision", "method");
    int64_t prec = 0;
    if (given(&a[0])) LM_TRY(int_of(rt, "round", &a[0], &prec));
    char method = 'c';
    if (given(&a[1])) {
        if (a[1].kind == TPL_STR && a[1].u.s.n == 4 && memcmp(a[1].u.s.p, "ceil", 4) == 0) method = 'u';
        else if (a[1].kind == TPL_STR && a[1].u.s.n == 5 && memcmp(a[1].u.s.p, "floor", 5) == 0) method = 'f';
        else if (!(a[1].kind == TPL_STR && a[1].u.s.n == 6 && memcmp(a[1].u.s.p, "common", 6) == 0))
            return tpl_rt_fail(rt, LM_ERR_INVALID, "method must be common, ceil or floor");
    }
    if (!tpl_is_num(in)) return tpl_rt_fail(rt, LM_ERR_INVALID, "type %s doesn't define __round__ method", tpl_type_name(in));
    if (prec < -300 || prec > 300) return tpl_rt_fail(rt, LM_ERR_INVALID, "round precision out of range");
    if (method == 'c' && in->kind != TPL_FLOAT) { /* round(int, n) stays an int */
        *out = tpl_int(in->kind == TPL_INT ? in->u.i : in->u.b);
        return LM_OK;
    }
    double x = in->kind == TPL_FLOAT ? in->u.f : (double)(in->kind == TPL_INT ? in->u.i : in->u.b);
    if (method == 'c') {
        if (!isfinite(x) || prec < 0) {
            double m = pow(10.0, (double)-prec);
            *out = tpl_float(isfinite(x) ? nearbyint(x / m) * m : x);
        } else { /* correctly rounded, ties to even, like Python's round() */
            char buf[720]; /* 309 integer digits + 300 decimals */
            snprintf(buf, sizeof buf, "%.*f", (int)prec, x);
            *out = tpl_float(strtod(buf, NULL));
        }
        return LM_OK;
    }
    double m = pow(10.0, (double)prec);
    *out = tpl_float((method == 'u' ? ceil(x * m) : floor(x * m)) / m);
    return LM_OK;
}

FILTER(f_safe) {
    NOARGS("safe");
    LM_TRY(tpl_to_str(rt, in, out));
    out->flags = TPL_F_MARKUP;
    return LM_OK;
}

FILTER(f_slice_list) {
    BIND("slice", "slices", "fill_with");
    int64_t slices = 0;
    LM_TRY(int_of(rt, "slice", &a[0], &slices));
    if (slices <= 0 || slices > 100000) return tpl_rt_fail(rt, LM_ERR_INVALID, "slice count out of range");
    tpl_value *items;
    size_t n;
    LM_TRY(tpl_iterate(rt, in, &items, &n));
    size_t per = n / (size_t)slices, extra = n % (size_t)slices, offset = 0;
    LM_TRY(tpl_make_list(rt, NULL, (size_t)slices, 0, out));
    for (size_t s = 0; s < (size_t)slices; s++) {
        size_t start = offset + s * per;
        if (s < extra) offset++;
        size_t end = offset + (s + 1) * per;
        int fill = given_not_none(&a[1]) && s >= extra;
        tpl_value *row = &out->u.list->items[s];
        LM_TRY(tpl_make_list(rt, NULL, end - start + (size_t)fill, 0, row));
        for (size_t i = start; i < end; i++) row->u.list->items[i - start] = items[i];
        if (fill) row->u.list->items[end - start] = a[1];
    }
    return LM_OK;
}

/* Sort keys for sort/unique: attribute "a,b" gives a tuple key per item. */
static lm_status multi_keys(tpl_rt *rt, const tpl_value *attr, const tpl_value *items, size_t n,
                            tpl_value **keys) {
    *keys = tpl_rt_alloc(rt, (n ? n : 1) * sizeof **keys);
    if (!*keys) return rt->err->code;
    if (!given_not_none(attr)) {
        if (n) memcpy(*keys, items, n * sizeof **keys);
        return LM_OK;
    }
    size_t nparts = 1;
    if (attr->kind == TPL_STR)
        for (size_t i = 0; i < attr->u.s.n; i++) nparts += attr->u.s.p[i] == ',';
    attrgetter *gs = tpl_rt_alloc(rt, nparts * sizeof *gs);
    if (!gs) return rt->err->code;
    if (attr->kind == TPL_STR) {
        const char *p = attr->u.s.p, *end = p + attr->u.s.n;
        for (size_t k = 0; k < nparts; k++) {
            const char *c = memchr(p, ',', (size_t)(end - p));
            const char *e = c ? c : end;
            tpl_value part = tpl_str(p, (size_t)(e - p));
            LM_TRY(getter_init(rt, &part, &gs[k]));
            p = e + 1;
        }
    } else {
        LM_TRY(getter_init(rt, attr, &gs[0]));
    }
    for (size_t i = 0; i < n; i++) {
        if (nparts == 1) {
            LM_TRY(getter_get(rt, &gs[0], &items[i], &(*keys)[i]));
            continue;
        }
        LM_TRY(tpl_make_list(rt, NULL, nparts, 0, &(*keys)[i]));
        for (size_t k = 0; k < nparts; k++)
            LM_TRY(getter_get(rt, &gs[k], &items[i], &(*keys)[i].u.list->items[k]));
    }
    return LM_OK;
}

FILTER(f_sort) {
    BIND("sort", "reverse", "case_sensitive", "attribute");
    tpl_value *items, *keys;
    size_t n;
    LM_TRY(tpl_iterate(rt, in, &items, &n));
    LM_TRY(multi_keys(rt, &a[2], items, n, &keys));
    int fold = !(given(&a[1]) && tpl_truthy(&a[1]));
    return sort_by_keys(rt, items, keys, n, fold, given(&a[0]) && tpl_truthy(&a[0]), out);
}

FILTER(f_unique_list) {
    BIND("unique", "case_sensitive", "attribute");
    int fold = !(given(&a[0]) && tpl_truthy(&a[0]));
    tpl_value *items, *keys;
    size_t n;
    LM_TRY(tpl_iterate(rt, in, &items, &n));
    LM_TRY(multi_keys(rt, &a[1], items, n, &keys));
    tpl_value *kept = tpl_rt_alloc(rt, (n ? n : 1) * sizeof *kept);
    tpl_value *seen = tpl_rt_alloc(rt, (n ? n : 1) * sizeof *seen);
    if (!kept || !seen) return rt->err->code;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        LM_TRY(tpl_rt_step(rt)); /* quadratic: counted so the step and time limits apply */
        tpl_value key = keys[i];
        if (fold && key.kind == TPL_STR) LM_TRY(tpl_str_case(rt, &key, TPL_CASE_LOWER, &key));
        int dup = 0;
        for (size_t j = 0; j < k && !dup; j++) dup = tpl_equal(&seen[j], &key);
        if (dup) continue;
        seen[k] = key;
        kept[k++] = items[i];
    }
    return tpl_make_list(rt, kept, k, 0, out);
}

FILTER(f_string) { NOARGS("string"); return tpl_to_str(rt, in, out); }

FILTER(f_sum) {
    BIND("sum", "attribute", "start");
    attrgetter g;
    LM_TRY(getter_init(rt, &a[0], &g));
    tpl_value acc = given(&a[1]) ? a[1] : tpl_int(0);
    tpl_value *items;
    size_t n;
    LM_TRY(tpl_iterate(rt, in, &items, &n));
    for (size_t i = 0; i < n; i++) {
        tpl_value v;
        LM_TRY(getter_get(rt, &g, &items[i], &v));
        if (!tpl_is_num(&v) || !tpl_is_num(&acc))
            return tpl_rt_fail(rt, LM_ERR_INVALID, "unsupported operand type(s) for +: '%s' and '%s'",
                               tpl_type_name(&acc), tpl_type_name(&v));
        if (acc.kind == TPL_FLOAT || v.kind == TPL_FLOAT) {
            double x = acc.kind == TPL_FLOAT ? acc.u.f : (double)(acc.kind == TPL_INT ? acc.u.i : acc.u.b);
            double y = v.kind == TPL_FLOAT ? v.u.f : (double)(v.kind == TPL_INT ? v.u.i : v.u.b);
            acc = tpl_float(x + y);
        } else {
            int64_t r;
            if (__builtin_add_overflow(acc.kind == TPL_INT ? acc.u.i : acc.u.b, v.kind == TPL_INT ? v.u.i : v.u.b, &r))
                return tpl_rt_fail(rt, LM_ERR_UNSUPPORTED, "integer overflow");
            acc = tpl_int(r);
        }
    }
    *out = acc;
    return LM_OK;
}

/* transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
 * json.dumps with those arguments (no HTML escaping, unlike Jinja2's own tojson). */
FILTER(f_tojson) {
    BIND("tojson", "ensure_ascii", "indent", "separators", "sort_keys");
    tpl_json_opts o;
    memset(&o, 0, sizeof o);
    o.ensure_ascii = given(&a[0]) && tpl_truthy(&a[0]);
    o.sort_keys = given(&a[3]) && tpl_truthy(&a[3]);
    if (given_not_none(&a[1])) {
        if (a[1].kind == TPL_STR) {
            o.indent = a[1].u.s.p;
            o.indent_n = a[1].u.s.n;
        } else {
            int64_t w = 0;
            LM_TRY(int_of(rt, "tojson indent", &a[1], &w));
            if (w > 4096) return tpl_rt_fail(rt, LM_ERR_LIMIT, "tojson indent too large");
            char *sp = tpl_rt_alloc(rt, w > 0 ? (size_t)w : 1);
            if (!sp) return rt->err->code;
            memset(sp, ' ', w > 0 ? (size_t)w : 0);
            o.indent = sp;
            o.indent_n = w > 0 ? (size_t)w : 0;
        }
    }
    if (given_not_none(&a[2])) {
        tpl_value *seps;
        size_t n;
        LM_TRY(tpl_iterate(rt, &a[2], &seps, &n));
        if (n != 2 || seps[0].kind != TPL_STR || seps[1].kind != TPL_STR)
            return tpl_rt_fail(rt, LM_ERR_INVALID, "tojson separators must be two strings");
        o.item_sep = seps[0].u.s.p;
        o.item_sep_n = seps[0].u.s.n;
        o.key_sep = seps[1].u.s.p;
        o.key_sep_n = seps[1].u.s.n;
    }
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    LM_TRY(tpl_to_json(rt, &sb, in, &o));
    return tpl_sb_finish(rt, &sb, out);
}

FILTER(f_trim) {
    BIND("trim", "chars");
    tpl_value s;
    LM_TRY(tpl_to_str(rt, in, &s));
    return tpl_str_strip(rt, &s, &a[0], 1, 1, out);
}

FILTER(f_truncate) {
    BIND("truncate", "length", "killwords", "end", "leeway");
    int64_t length = 255, leeway = 5;
    if (given(&a[0])) LM_TRY(int_of(rt, "truncate", &a[0], &length));
    if (given_not_none(&a[3])) LM_TRY(int_of(rt, "truncate", &a[3], &leeway));
    tpl_value end = tpl_str("...", 3), s = *in;
    if (given(&a[2])) LM_TRY(tpl_to_str(rt, &a[2], &end));
    if (in->kind != TPL_STR) { /* Jinja2 truncates what it is given: short values pass unchanged */
        size_t n;
        LM_TRY(tpl_len(rt, in, &n));
        if ((int64_t)n <= length + leeway) {
            *out = *in;
            return LM_OK;
        }
        return tpl_rt_fail(rt, LM_ERR_INVALID, "truncate: '%s' object cannot be truncated", tpl_type_name(in));
    }
    int64_t end_len = (int64_t)tpl_utf8_count(end.u.s.p, end.u.s.n);
    if (length < end_len) return tpl_rt_fail(rt, LM_ERR_INVALID, "expected length >= %" PRId64 ", got %" PRId64, end_len, length);
    if (leeway < 0) return tpl_rt_fail(rt, LM_ERR_INVALID, "expected leeway >= 0, got %" PRId64, leeway);
    int64_t len = (int64_t)tpl_utf8_count(s.u.s.p, s.u.s.n);
    if (len <= length + leeway) { *out = s; return LM_OK; }
    size_t cut = tpl_utf8_offset(s.u.s.p, s.u.s.n, (size_t)(length - end_len));
    if (!(given(&a[1]) && tpl_truthy(&a[1]))) { /* drop the last partial word: rsplit(" ", 1)[0] */
        size_t k = cut;
        while (k > 0 && s.u.s.p[k - 1] != ' ') k--;
        if (k > 0) cut = k - 1;
    }
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    tpl_sb_add(&sb, s.u.s.p, cut);
    tpl_sb_add(&sb, end.u.s.p, end.u.s.n);
    return tpl_sb_finish(rt, &sb, out);
}

FILTER(f_wordcount) {
    NOARGS("wordcount");
    tpl_value s;
    LM_TRY(tpl_to_str(rt, in, &s));
    int64_t words = 0;
    int inword = 0;
    size_t i = 0;
    while (i < s.u.s.n) { /* runs of \w: letters, digits, underscore */
        uint32_t c;
        int len = tpl_utf8_decode(s.u.s.p + i, s.u.s.n - i, &c);
        if (len <= 0) len = 1;
        int w = c == '_' || tpl_py_isalpha(c) || tpl_py_isdigit(c);
        if (w && !inword) words++;
        inword = w;
        i += (size_t)len;
    }
    *out = tpl_int(words);
    return LM_OK;
}

/* Filters that return generators in Jinja2 return generator-flagged lists here (see TPL_F_GEN).
 * Python runs a generator's body only when it is consumed, so an error the filter meets is
 * stored in the generator and raised by whatever consumes it (limits are not deferred). */
static lm_status generator(tpl_rt *rt, lm_status st, tpl_value *out) {
    if (st == LM_ERR_INVALID || st == LM_ERR_UNSUPPORTED) {
        char *msg = arena_strdup(&rt->arena, rt->err->msg, strlen(rt->err->msg));
        if (!msg) return st;
        err_clear(rt->err);
        LM_TRY(tpl_make_list(rt, NULL, 0, 0, out));
        out->u.list->error = msg;
        out->u.list->error_code = st;
        st = LM_OK;
    }
    if (st == LM_OK && out->kind == TPL_LIST) out->flags |= TPL_F_GEN;
    return st;
}

#define GENERATOR(name)                                                                          \
    FILTER(name) { return generator(rt, name##_list(rt, in, args, out), out); }

GENERATOR(f_map)
GENERATOR(f_select)
GENERATOR(f_reject)
GENERATOR(f_selectattr)
GENERATOR(f_rejectattr)
GENERATOR(f_unique)
GENERATOR(f_batch)
GENERATOR(f_slice)
GENERATOR(f_items)
GENERATOR(f_reverse)

static const struct {
    const char *name;
    tpl_filter_fn fn;
} filters[] = {
    {"abs", f_abs}, {"attr", f_attr}, {"batch", f_batch}, {"capitalize", f_capitalize},
    {"center", f_center}, {"count", f_length}, {"d", f_default}, {"default", f_default},
    {"dictsort", f_dictsort}, {"e", f_escape}, {"escape", f_escape}, {"first", f_first},
    {"float", f_float}, {"forceescape", f_forceescape}, {"format", f_format},
    {"indent", f_indent}, {"int", f_int}, {"items", f_items}, {"join", f_join},
    {"last", f_last}, {"length", f_length}, {"list", f_list}, {"lower", f_lower},
    {"map", f_map}, {"max", f_max}, {"min", f_min}, {"reject", f_reject},
    {"rejectattr", f_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse},
    {"round", f_round}, {"safe", f_safe}, {"select", f_select}, {"selectattr", f_selectattr},
    {"slice", f_slice}, {"sort", f_sort}, {"string", f_string}, {"sum", f_sum},
    {"title", f_title}, {"tojson", f_tojson}, {"trim", f_trim}, {"truncate", f_truncate},
    {"unique", f_unique}, {"upper", f_upper}, {"wordcount", f_wordcount},
};

tpl_filter_fn tpl_builtin_filter(const char *name, size_t n) {
    for (size_t i = 0; i < sizeof filters / sizeof *filters; i++)
        if (strlen(filters[i].name) == n && memcmp(filters[i].name, name, n) == 0) return filters[i].fn;
    return NULL;
}
