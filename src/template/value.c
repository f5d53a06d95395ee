/* value.c — Python semantics of template values: truth, len, iteration, str/repr, equality,
 * ordering, and json.dumps as transformers' tojson calls it. */
#include "template/value.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/interp.h"
#include "template/pystr.h"

#define VALUE_MAX_NESTING 512 /* recursion bound for repr/json/== on nested values */

/* ---- constructors ---- */

tpl_value tpl_undef(const char *name, size_t n) {
    tpl_value v = {.kind = TPL_UNDEFINED};
    v.u.s.p = name;
    v.u.s.n = n;
    return v;
}
tpl_value tpl_none(void) { return (tpl_value){.kind = TPL_NONE}; }
tpl_value tpl_bool(int b) {
    tpl_value v = {.kind = TPL_BOOL};
    v.u.b = b != 0;
    return v;
}
tpl_value tpl_int(int64_t i) {
    tpl_value v = {.kind = TPL_INT};
    v.u.i = i;
    return v;
}
tpl_value tpl_float(double f) {
    tpl_value v = {.kind = TPL_FLOAT};
    v.u.f = f;
    return v;
}
tpl_value tpl_str(const char *p, size_t n) {
    tpl_value v = {.kind = TPL_STR};
    v.u.s.p = p ? p : "";
    v.u.s.n = n;
    return v;
}

tpl_value tpl_from_json(json_t *j) {
    tpl_value v = {.kind = TPL_NONE};
    switch (json_typeof(j)) {
    case JSON_OBJECT: v.kind = TPL_JDICT; v.u.json = j; break;
    case JSON_ARRAY: v.kind = TPL_JLIST; v.u.json = j; break;
    case JSON_STRING: v = tpl_str(json_string_value(j), json_string_length(j)); break;
    case JSON_INTEGER: v = tpl_int((int64_t)json_integer_value(j)); break;
    case JSON_REAL: v = tpl_float(json_real_value(j)); break;
    case JSON_TRUE: v = tpl_bool(1); break;
    case JSON_FALSE: v = tpl_bool(0); break;
    case JSON_NULL: break;
    }
    return v;
}

/* ---- string builder ---- */

void tpl_sb_init(tpl_sb *sb, lm_arena *a, size_t limit) {
    memset(sb, 0, sizeof *sb);
    sb->a = a;
    sb->limit = limit;
}

static int sb_reserve(tpl_sb *sb, size_t extra) {
    if (sb->failed) return 0;
    if (extra > sb->limit || sb->n > sb->limit - extra) {
        sb->failed = 1;
        return 0;
    }
    size_t need = sb->n + extra + 1;
    if (need <= sb->cap) return 1;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = arena_grow(sb->a, sb->p, sb->cap, cap);
    if (!p) {
        sb->failed = sb->a->over_limit ? 4 : 2;
        return 0;
    }
    sb->p = p;
    sb->cap = cap;
    return 1;
}

void tpl_sb_add(tpl_sb *sb, const char *s, size_t n) {
    if (!n || !sb_reserve(sb, n)) return;
    memcpy(sb->p + sb->n, s, n);
    sb->n += n;
    sb->p[sb->n] = '\0';
}

void tpl_sb_addc(tpl_sb *sb, char c) { tpl_sb_add(sb, &c, 1); }

void tpl_sb_addcp(tpl_sb *sb, uint32_t cp) {
    char b[4];
    tpl_sb_add(sb, b, (size_t)tpl_utf8_encode(cp, b));
}

void tpl_sb_printf(tpl_sb *sb, const char *fmt, ...) {
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof buf) {
        tpl_sb_add(sb, buf, (size_t)n);
        return;
    }
    if (!sb_reserve(sb, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(sb->p + sb->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->n += (size_t)n;
}

lm_status tpl_sb_finish(tpl_rt *rt, tpl_sb *sb, tpl_value *out) {
    switch (sb->failed) {
    case 0: break;
    case 1: return tpl_rt_fail(rt, LM_ERR_LIMIT, "string or output too long (limit is %zu bytes)", sb->limit);
    case 3: return tpl_rt_fail(rt, LM_ERR_LIMIT, "value nested too deeply (limit is %d levels)", VALUE_MAX_NESTING);
    case 4: return tpl_rt_fail(rt, LM_ERR_LIMIT, "template used too much memory (limit is %zu bytes)", rt->arena.limit);
    default: return tpl_rt_fail(rt, LM_ERR_NOMEM, "out of memory building a string");
    }
    *out = tpl_str(sb->p ? sb->p : "", sb->n);
    return tpl_rt_work(rt, sb->n); /* building it cost about its length */
}

/* ---- basic queries ---- */

const char *tpl_type_name(const tpl_value *v) {
    switch ((tpl_kind)v->kind) {
    case TPL_UNDEFINED: return "Undefined";
    case TPL_NONE: return "NoneType";
    case TPL_BOOL: return "bool";
    case TPL_INT: return "int";
    case TPL_FLOAT: return "float";
    case TPL_STR: return v->flags & TPL_F_MARKUP ? "Markup" : "str";
    case TPL_LIST: return v->flags & TPL_F_TUPLE ? "tuple" : v->flags & TPL_F_GEN ? "generator" : "list";
    case TPL_JLIST: return "list";
    case TPL_DICT:
    case TPL_JDICT: return "dict";
    case TPL_NS: return "Namespace";
    case TPL_FUNC: return "builtin_function_or_method";
    case TPL_MACRO: return "Macro";
    case TPL_LOOP: return "LoopContext";
    }
    return "object";
}

int tpl_truthy(const tpl_value *v) {
    switch ((tpl_kind)v->kind) {
    case TPL_UNDEFINED:
    case TPL_NONE: return 0;
    case TPL_BOOL: return v->u.b;
    case TPL_INT: return v->u.i != 0;
    case TPL_FLOAT: return v->u.f != 0.0;
    case TPL_STR: return v->u.s.n != 0;
    case TPL_LIST: return (v->flags & TPL_F_GEN) || v->u.list->n != 0;
    case TPL_JLIST: return json_array_size(v->u.json) != 0;
    case TPL_DICT: return v->u.dict->n != 0;
    case TPL_JDICT: return json_object_size(v->u.json) != 0;
    default: return 1;
    }
}

size_t tpl_seq_len(const tpl_value *v) {
    if (v->kind == TPL_LIST) return v->u.list->n;
    if (v->kind == TPL_JLIST) return json_array_size(v->u.json);
    return 0;
}

tpl_value tpl_seq_get(const tpl_value *v, size_t i) {
    if (v->kind == TPL_LIST) return v->u.list->items[i];
    return tpl_from_json(json_array_get(v->u.json, i));
}

lm_status tpl_len(tpl_rt *rt, const tpl_value *v, size_t *n) {
    switch ((tpl_kind)v->kind) {
    case TPL_UNDEFINED: *n = 0; return LM_OK;
    case TPL_STR: *n = tpl_utf8_count(v->u.s.p, v->u.s.n); return LM_OK;
    case TPL_LIST:
    case TPL_JLIST:
        if (tpl_is_gen(v)) break;
        *n = tpl_seq_len(v);
        return LM_OK;
    case TPL_DICT: *n = v->u.dict->n; return LM_OK;
    case TPL_JDICT: *n = json_object_size(v->u.json); return LM_OK;
    case TPL_LOOP: *n = v->u.loop->length; return LM_OK;
    default: break;
    }
    return tpl_rt_fail(rt, LM_ERR_INVALID, "object of type '%s' has no len()", tpl_type_name(v));
}

/* ---- maps ---- */

int tpl_map_get_str(const tpl_value *map, const char *key, size_t n, tpl_value *out) {
    if (map->kind == TPL_JDICT) {
        json_t *j = json_object_getn(map->u.json, key, n);
        if (!j) return 0;
        *out = tpl_from_json(j);
        return 1;
    }
    if (map->kind != TPL_DICT && map->kind != TPL_NS) return 0;
    const tpl_dict *d = map->u.dict;
    for (size_t i = 0; i < d->n; i++) {
        const tpl_value *k = &d->keys[i];
        if (k->kind == TPL_STR && k->u.s.n == n && memcmp(k->u.s.p, key, n) == 0) {
            *out = d->vals[i];
            return 1;
        }
    }
    return 0;
}

int tpl_map_get(const tpl_value *map, const tpl_value *key, tpl_value *out) {
    if (key->kind == TPL_STR) return tpl_map_get_str(map, key->u.s.p, key->u.s.n, out);
    if (map->kind != TPL_DICT && map->kind != TPL_NS) return 0;
    const tpl_dict *d = map->u.dict;
    for (size_t i = 0; i < d->n; i++) {
        if (tpl_equal(&d->keys[i], key)) {
            *out = d->vals[i];
            return 1;
        }
    }
    return 0;
}

lm_status tpl_map_pairs(tpl_rt *rt, const tpl_value *map, tpl_value **keys, tpl_value **vals,
                        size_t *n) {
    if (map->kind == TPL_DICT || map->kind == TPL_NS) {
        *keys = map->u.dict->keys;
        *vals = map->u.dict->vals;
        *n = map->u.dict->n;
        return LM_OK;
    }
    if (map->kind != TPL_JDICT) {
        *n = 0;
        return tpl_rt_fail(rt, LM_ERR_INVALID, "'%s' object has no attribute 'items'", tpl_type_name(map));
    }
    size_t count = json_object_size(map->u.json);
    tpl_value *k = tpl_rt_alloc(rt, (count ? count : 1) * sizeof *k);
    tpl_value *v = tpl_rt_alloc(rt, (count ? count : 1) * sizeof *v);
    if (!k || !v) return rt->err->code;
    size_t i = 0;
    for (void *it = json_object_iter(map->u.json); it && i < count;
         it = json_object_iter_next(map->u.json, it), i++) {
        k[i] = tpl_str(json_object_iter_key(it), json_object_iter_key_len(it));
        v[i] = tpl_from_json(json_object_iter_value(it));
    }
    *keys = k;
    *vals = v;
    *n = i;
    return LM_OK;
}

lm_status tpl_make_dict(tpl_rt *rt, tpl_value *out, int ns) {
    tpl_dict *d = tpl_rt_alloc(rt, sizeof *d);
    if (!d) return rt->err->code;
    memset(d, 0, sizeof *d);
    out->kind = ns ? TPL_NS : TPL_DICT;
    out->flags = 0;
    out->u.dict = d;
    return LM_OK;
}

lm_status tpl_dict_set(tpl_rt *rt, tpl_dict *d, const tpl_value *key, const tpl_value *val) {
    for (size_t i = 0; i < d->n; i++) {
        if (tpl_equal(&d->keys[i], key)) {
            d->vals[i] = *val;
            return LM_OK;
        }
    }
    return tpl_dict_append(rt, d, key, val);
}

lm_status tpl_dict_append(tpl_rt *rt, tpl_dict *d, const tpl_value *key, const tpl_value *val) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        tpl_value *k = arena_grow(&rt->arena, d->keys, d->cap * sizeof *k, cap * sizeof *k);
        if (!k) return tpl_rt_nomem(rt);
        d->keys = k;
        tpl_value *v = arena_grow(&rt->arena, d->vals, d->cap * sizeof *v, cap * sizeof *v);
        if (!v) return tpl_rt_nomem(rt);
        d->vals = v;
        d->cap = cap;
    }
    d->keys[d->n] = *key;
    d->vals[d->n] = *val;
    d->n++;
    return LM_OK;
}

lm_status tpl_make_list(tpl_rt *rt, const tpl_value *items, size_t n, int tuple, tpl_value *out) {
    tpl_list *l = tpl_rt_alloc(rt, sizeof *l);
    if (!l) return rt->err->code;
    l->n = n;
    l->pos = 0;
    l->error = NULL;
    l->error_code = LM_OK;
    l->items = NULL;
    if (n) {
        if (n > SIZE_MAX / sizeof(tpl_value)) return tpl_rt_fail(rt, LM_ERR_LIMIT, "list too long");
        l->items = tpl_rt_alloc(rt, n * sizeof(tpl_value));
        if (!l->items) return rt->err->code;
        LM_TRY(tpl_rt_work(rt, n));
        if (items) memcpy(l->items, items, n * sizeof(tpl_value));
    }
    out->kind = TPL_LIST;
    out->flags = tuple ? TPL_F_TUPLE : 0;
    out->u.list = l;
    return LM_OK;
}

lm_status tpl_iterate(tpl_rt *rt, const tpl_value *v, tpl_value **items, size_t *n) {
    *items = NULL;
    *n = 0;
    switch ((tpl_kind)v->kind) {
    case TPL_UNDEFINED: return LM_OK;
    case TPL_LIST:
        if (v->u.list->error) return tpl_rt_fail(rt, v->u.list->error_code, "%s", v->u.list->error);
        *items = v->u.list->items ? v->u.list->items + v->u.list->pos : NULL;
        *n = v->u.list->n - v->u.list->pos;
        if (v->flags & TPL_F_GEN) v->u.list->pos = v->u.list->n; /* consumed */
        return LM_OK;
    case TPL_JLIST: {
        size_t count = json_array_size(v->u.json);
        tpl_value *it = tpl_rt_alloc(rt, (count ? count : 1) * sizeof *it);
        if (!it) return rt->err->code;
        for (size_t i = 0; i < count; i++) it[i] = tpl_from_json(json_array_get(v->u.json, i));
        *items = it;
        *n = count;
        return LM_OK;
    }
    case TPL_DICT:
    case TPL_JDICT: {
        tpl_value *vals;
        return tpl_map_pairs(rt, v, items, &vals, n);
    }
    case TPL_STR: {
        size_t count = tpl_utf8_count(v->u.s.p, v->u.s.n);
        tpl_value *it = tpl_rt_alloc(rt, (count ? count : 1) * sizeof *it);
        if (!it) return rt->err->code;
        const char *s = v->u.s.p;
        size_t i = 0, k = 0;
        while (i < v->u.s.n) {
            size_t j = i + 1;
            while (j < v->u.s.n && ((unsigned char)s[j] & 0xc0) == 0x80) j++;
            it[k++] = tpl_str(s + i, j - i);
            i = j;
        }
        *items = it;
        *n = k;
        return LM_OK;
    }
    default:
        return tpl_rt_fail(rt, LM_ERR_INVALID, "'%s' object is not iterable", tpl_type_name(v));
    }
}

/* ---- str() and repr() ---- */

static void write_str_repr(tpl_sb *sb, const char *s, size_t n) {
    int has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char quote = has_sq && !has_dq ? '"' : '\'';
    tpl_sb_addc(sb, quote);
    size_t i = 0;
    while (i < n) {
        uint32_t c;
        int len = tpl_utf8_decode(s + i, n - i, &c);
        if (len <= 0) { c = (unsigned char)s[i]; len = 1; }
        if (c == (uint32_t)quote || c == '\\') {
            tpl_sb_addc(sb, '\\');
            tpl_sb_addc(sb, (char)c);
        } else if (c == '\t') tpl_sb_add(sb, "\\t", 2);
        else if (c == '\n') tpl_sb_add(sb, "\\n", 2);
        else if (c == '\r') tpl_sb_add(sb, "\\r", 2);
        else if (c < 0x20 || c == 0x7f) tpl_sb_printf(sb, "\\x%02x", c);
        else if (c < 0x7f || tpl_py_isprintable(c)) tpl_sb_add(sb, s + i, (size_t)len);
        else if (c <= 0xff) tpl_sb_printf(sb, "\\x%02x", c);
        else if (c <= 0xffff) tpl_sb_printf(sb, "\\u%04x", c);
        else tpl_sb_printf(sb, "\\U%08x", c);
        i += (size_t)len;
    }
    tpl_sb_addc(sb, quote);
}

static void write_repr(tpl_sb *sb, const tpl_value *v, int depth);

static void write_scalar(tpl_sb *sb, const tpl_value *v) {
    char buf[40];
    switch ((tpl_kind)v->kind) {
    case TPL_NONE: tpl_sb_add(sb, "None", 4); break;
    case TPL_BOOL: v->u.b ? tpl_sb_add(sb, "True", 4) : tpl_sb_add(sb, "False", 5); break;
    case TPL_INT: tpl_sb_printf(sb, "%" PRId64, v->u.i); break;
    case TPL_FLOAT: tpl_sb_add(sb, buf, (size_t)tpl_py_float_repr(v->u.f, buf)); break;
    default: break;
    }
}

static void write_repr(tpl_sb *sb, const tpl_value *v, int depth) {
    if (depth > VALUE_MAX_NESTING) {
        if (!sb->failed) sb->failed = 3;
        return;
    }
    switch ((tpl_kind)v->kind) {
    case TPL_UNDEFINED: tpl_sb_add(sb, "Undefined", 9); break;
    case TPL_STR:
        if (v->flags & TPL_F_MARKUP) tpl_sb_add(sb, "Markup(", 7);
        write_str_repr(sb, v->u.s.p, v->u.s.n);
        if (v->flags & TPL_F_MARKUP) tpl_sb_addc(sb, ')');
        break;
    case TPL_LIST:
    case TPL_JLIST: {
        if (tpl_is_gen(v)) {
            tpl_sb_add(sb, "<generator object>", 18);
            break;
        }
        int tuple = v->kind == TPL_LIST && (v->flags & TPL_F_TUPLE);
        size_t n = tpl_seq_len(v);
        tpl_sb_addc(sb, tuple ? '(' : '[');
        for (size_t i = 0; i < n; i++) {
            if (i) tpl_sb_add(sb, ", ", 2);
            tpl_value item = tpl_seq_get(v, i);
            write_repr(sb, &item, depth + 1);
        }
        if (tuple && n == 1) tpl_sb_addc(sb, ',');
        tpl_sb_addc(sb, tuple ? ')' : ']');
        break;
    }
    case TPL_DICT:
        tpl_sb_addc(sb, '{');
        for (size_t i = 0; i < v->u.dict->n; i++) {
            if (i) tpl_sb_add(sb, ", ", 2);
            write_repr(sb, &v->u.dict->keys[i], depth + 1);
            tpl_sb_add(sb, ": ", 2);
            write_repr(sb, &v->u.dict->vals[i], depth + 1);
        }
        tpl_sb_addc(sb, '}');
        break;
    case TPL_JDICT: {
        tpl_sb_addc(sb, '{');
        int first = 1;
        for (void *it = json_object_iter(v->u.json); it; it = json_object_iter_next(v->u.json, it)) {
            if (!first) tpl_sb_add(sb, ", ", 2);
            first = 0;
            write_str_repr(sb, json_object_iter_key(it), json_object_iter_key_len(it));
            tpl_sb_add(sb, ": ", 2);
            tpl_value item = tpl_from_json(json_object_iter_value(it));
            write_repr(sb, &item, depth + 1);
        }
        tpl_sb_addc(sb, '}');
        break;
    }
    case TPL_NS: {
        tpl_value attrs = *v;
        attrs.kind = TPL_DICT;
        tpl_sb_add(sb, "<Namespace ", 11);
        write_repr(sb, &attrs, depth + 1);
        tpl_sb_addc(sb, '>');
        break;
    }
    case TPL_FUNC: tpl_sb_printf(sb, "<built-in function %s>", v->u.fn->name); break;
    case TPL_MACRO: {
        const struct tpl_node *node = v->u.macro->node;
        if (node->kind == TPL_N_MACRO) tpl_sb_printf(sb, "<Macro '%.*s'>", (int)node->sn, node->s);
        else tpl_sb_add(sb, "<Macro 'caller'>", 16);
        break;
    }
    case TPL_LOOP:
        tpl_sb_printf(sb, "<LoopContext %zu/%zu>", v->u.loop->index0 + 1, v->u.loop->length);
        break;
    default: write_scalar(sb, v); break;
    }
}

void tpl_write_repr(tpl_sb *sb, const tpl_value *v) { write_repr(sb, v, 0); }

void tpl_write_str(tpl_sb *sb, const tpl_value *v) {
    if (v->kind == TPL_STR) tpl_sb_add(sb, v->u.s.p, v->u.s.n);
    else if (v->kind != TPL_UNDEFINED) write_repr(sb, v, 0);
}

lm_status tpl_to_str(tpl_rt *rt, const tpl_value *v, tpl_value *out) {
    if (v->kind == TPL_STR) {
        *out = *v;
        return LM_OK;
    }
    if (v->kind == TPL_UNDEFINED) {
        *out = tpl_str("", 0);
        return LM_OK;
    }
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    tpl_write_str(&sb, v);
    return tpl_sb_finish(rt, &sb, out);
}

/* ---- equality and ordering ---- */

static double num_of(const tpl_value *v) {
    return v->kind == TPL_FLOAT ? v->u.f : v->kind == TPL_INT ? (double)v->u.i : (double)v->u.b;
}

static int equal_depth(const tpl_value *a, const tpl_value *b, int depth) {
    if (depth > VALUE_MAX_NESTING) return 0;
    if (tpl_is_num(a) && tpl_is_num(b)) {
        if (a->kind != TPL_FLOAT && b->kind != TPL_FLOAT) {
            int64_t x = a->kind == TPL_INT ? a->u.i : a->u.b;
            int64_t y = b->kind == TPL_INT ? b->u.i : b->u.b;
            return x == y;
        }
        return num_of(a) == num_of(b);
    }
    if (a->kind == TPL_STR && b->kind == TPL_STR)
        return a->u.s.n == b->u.s.n && memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0;
    if (tpl_is_gen(a) || tpl_is_gen(b)) return a->kind == b->kind && a->u.list == b->u.list;
    if (tpl_is_seq(a) && tpl_is_seq(b)) {
        int ta = a->kind == TPL_LIST && (a->flags & TPL_F_TUPLE);
        int tb = b->kind == TPL_LIST && (b->flags & TPL_F_TUPLE);
        if (ta != tb) return 0;
        size_t n = tpl_seq_len(a);
        if (n != tpl_seq_len(b)) return 0;
        for (size_t i = 0; i < n; i++) {
            tpl_value x = tpl_seq_get(a, i), y = tpl_seq_get(b, i);
            if (!equal_depth(&x, &y, depth + 1)) return 0;
        }
        return 1;
    }
    if (tpl_is_map(a) && tpl_is_map(b)) {
        size_t na = a->kind == TPL_DICT ? a->u.dict->n : json_object_size(a->u.json);
        size_t nb = b->kind == TPL_DICT ? b->u.dict->n : json_object_size(b->u.json);
        if (na != nb) return 0;
        if (a->kind == TPL_DICT) {
            for (size_t i = 0; i < na; i++) {
                tpl_value y;
                if (!tpl_map_get(b, &a->u.dict->keys[i], &y) ||
                    !equal_depth(&a->u.dict->vals[i], &y, depth + 1))
                    return 0;
            }
            return 1;
        }
        for (void *it = json_object_iter(a->u.json); it; it = json_object_iter_next(a->u.json, it)) {
            tpl_value x = tpl_from_json(json_object_iter_value(it)), y;
            if (!tpl_map_get_str(b, json_object_iter_key(it), json_object_iter_key_len(it), &y) ||
                !equal_depth(&x, &y, depth + 1))
                return 0;
        }
        return 1;
    }
    if (a->kind != b->kind) return 0;
    switch ((tpl_kind)a->kind) {
    case TPL_UNDEFINED:
    case TPL_NONE: return 1;
    case TPL_NS: return a->u.dict == b->u.dict;
    case TPL_FUNC: return a->u.fn == b->u.fn;
    case TPL_MACRO: return a->u.macro == b->u.macro;
    case TPL_LOOP: return a->u.loop == b->u.loop;
    default: return 0;
    }
}

int tpl_equal(const tpl_value *a, const tpl_value *b) { return equal_depth(a, b, 0); }

static int cmp_folded(const char *a, size_t na, const char *b, size_t nb) {
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        uint32_t x, y;
        int lx = tpl_utf8_decode(a + i, na - i, &x), ly = tpl_utf8_decode(b + j, nb - j, &y);
        if (lx <= 0) { x = (unsigned char)a[i]; lx = 1; }
        if (ly <= 0) { y = (unsigned char)b[j]; ly = 1; }
        x = tpl_py_tolower(x);
        y = tpl_py_tolower(y);
        if (x != y) return x < y ? -1 : 1;
        i += (size_t)lx;
        j += (size_t)ly;
    }
    return (i < na) - (j < nb);
}

static lm_status compare_depth(tpl_rt *rt, const tpl_value *a, const tpl_value *b, int fold,
                               int *res, int depth) {
    if (depth > VALUE_MAX_NESTING)
        return tpl_rt_fail(rt, LM_ERR_LIMIT, "value nested too deeply to compare");
    if (tpl_is_num(a) && tpl_is_num(b)) {
        if (a->kind != TPL_FLOAT && b->kind != TPL_FLOAT) {
            int64_t x = a->kind == TPL_INT ? a->u.i : a->u.b;
            int64_t y = b->kind == TPL_INT ? b->u.i : b->u.b;
            *res = (x > y) - (x < y);
        } else {
            double x = num_of(a), y = num_of(b);
            *res = (x > y) - (x < y);
        }
        return LM_OK;
    }
    if (a->kind == TPL_STR && b->kind == TPL_STR) {
        if (fold) {
            *res = cmp_folded(a->u.s.p, a->u.s.n, b->u.s.p, b->u.s.n);
        } else {
            size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
            int c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
            *res = c ? (c < 0 ? -1 : 1) : (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
        }
        return LM_OK;
    }
    int ta = a->kind == TPL_LIST && (a->flags & TPL_F_TUPLE);
    int tb = b->kind == TPL_LIST && (b->flags & TPL_F_TUPLE);
    if (tpl_is_seq(a) && tpl_is_seq(b) && ta == tb && !tpl_is_gen(a) && !tpl_is_gen(b)) {
        size_t na = tpl_seq_len(a), nb = tpl_seq_len(b);
        for (size_t i = 0; i < na && i < nb; i++) {
            tpl_value x = tpl_seq_get(a, i), y = tpl_seq_get(b, i);
            if (equal_depth(&x, &y, depth + 1)) continue;
            return compare_depth(rt, &x, &y, fold, res, depth + 1);
        }
        *res = (na > nb) - (na < nb);
        return LM_OK;
    }
    return tpl_rt_fail(rt, LM_ERR_INVALID, "'<' not supported between instances of '%s' and '%s'",
                       tpl_type_name(a), tpl_type_name(b));
}

lm_status tpl_compare(tpl_rt *rt, const tpl_value *a, const tpl_value *b, int fold_case, int *res) {
    return compare_depth(rt, a, b, fold_case, res, 0);
}

/* ---- json.dumps ---- */

static void json_quote(tpl_sb *sb, const char *s, size_t n, int ascii) {
    tpl_sb_addc(sb, '"');
    size_t i = 0, run = 0; /* run: start of bytes copied verbatim */
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        }
        if (!esc && c >= 0x20 && (c < 0x7f || (!ascii && c >= 0x7f))) {
            i++;
            continue;
        }
        tpl_sb_add(sb, s + run, i - run);
        if (esc) {
            tpl_sb_add(sb, esc, strlen(esc));
            i++;
        } else if (c < 0x80) {
            tpl_sb_printf(sb, "\\u%04x", c);
            i++;
        } else { /* ensure_ascii: \uXXXX, astral planes as a surrogate pair */
            uint32_t cp;
            int len = tpl_utf8_decode(s + i, n - i, &cp);
            if (len <= 0) { cp = 0xfffd; len = 1; }
            if (cp >= 0x10000) {
                cp -= 0x10000;
                tpl_sb_printf(sb, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
            } else {
                tpl_sb_printf(sb, "\\u%04x", cp);
            }
            i += (size_t)len;
        }
        run = i;
    }
    tpl_sb_add(sb, s + run, n - run);
    tpl_sb_addc(sb, '"');
}

static void json_newline(tpl_sb *sb, const tpl_json_opts *o, int level) {
    tpl_sb_addc(sb, '\n');
    for (int i = 0; i < level; i++) tpl_sb_add(sb, o->indent, o->indent_n);
}

/* A dict key as json.dumps writes it: strings quoted, numbers/bools/None converted. */
static lm_status json_key(tpl_rt *rt, tpl_sb *sb, const tpl_value *k, int ascii) {
    char buf[40];
    switch ((tpl_kind)k->kind) {
    case TPL_STR: json_quote(sb, k->u.s.p, k->u.s.n, ascii); return LM_OK;
    case TPL_NONE: tpl_sb_add(sb, "\"null\"", 6); return LM_OK;
    case TPL_BOOL: tpl_sb_add(sb, k->u.b ? "\"true\"" : "\"false\"", k->u.b ? 6 : 7); return LM_OK;
    case TPL_INT: tpl_sb_printf(sb, "\"%" PRId64 "\"", k->u.i); return LM_OK;
    case TPL_FLOAT:
        tpl_py_float_repr(k->u.f, buf);
        tpl_sb_printf(sb, "\"%s\"", buf);
        return LM_OK;
    default:
        return tpl_rt_fail(rt, LM_ERR_INVALID,
                           "keys must be str, int, float, bool or None, not %s", tpl_type_name(k));
    }
}

typedef struct {
    tpl_value k, v;
} kv_pair;

static int kv_cmp(const void *x, const void *y) {
    const tpl_value *a = &((const kv_pair *)x)->k, *b = &((const kv_pair *)y)->k;
    size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
    int c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
    return c ? c : (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
}

static lm_status to_json(tpl_rt *rt, tpl_sb *sb, const tpl_value *v, const tpl_json_opts *o,
                         int level) {
    if (level > VALUE_MAX_NESTING)
        return tpl_rt_fail(rt, LM_ERR_LIMIT, "value nested too deeply for tojson");
    const char *item_sep = o->item_sep ? o->item_sep : (o->indent ? "," : ", ");
    size_t item_sep_n = o->item_sep ? o->item_sep_n : strlen(item_sep);
    const char *key_sep = o->key_sep ? o->key_sep : ": ";
    size_t key_sep_n = o->key_sep ? o->key_sep_n : 2;
    char buf[40];
    switch ((tpl_kind)v->kind) {
    case TPL_NONE: tpl_sb_add(sb, "null", 4); return LM_OK;
    case TPL_BOOL: tpl_sb_add(sb, v->u.b ? "true" : "false", v->u.b ? 4 : 5); return LM_OK;
    case TPL_INT: tpl_sb_printf(sb, "%" PRId64, v->u.i); return LM_OK;
    case TPL_FLOAT:
        if (isnan(v->u.f)) tpl_sb_add(sb, "NaN", 3);
        else if (isinf(v->u.f)) tpl_sb_add(sb, v->u.f < 0 ? "-Infinity" : "Infinity", v->u.f < 0 ? 9 : 8);
        else tpl_sb_add(sb, buf, (size_t)tpl_py_float_repr(v->u.f, buf));
        return LM_OK;
    case TPL_STR: json_quote(sb, v->u.s.p, v->u.s.n, o->ensure_ascii); return LM_OK;
    case TPL_LIST:
    case TPL_JLIST: {
        if (tpl_is_gen(v)) break;
        size_t n = tpl_seq_len(v);
        if (n == 0) {
            tpl_sb_add(sb, "[]", 2);
            return LM_OK;
        }
        tpl_sb_addc(sb, '[');
        for (size_t i = 0; i < n; i++) {
            if (i) tpl_sb_add(sb, item_sep, item_sep_n);
            if (o->indent) json_newline(sb, o, level + 1);
            tpl_value item = tpl_seq_get(v, i);
            LM_TRY(to_json(rt, sb, &item, o, level + 1));
        }
        if (o->indent) json_newline(sb, o, level);
        tpl_sb_addc(sb, ']');
        return LM_OK;
    }
    case TPL_DICT:
    case TPL_JDICT: {
        tpl_value *keys, *vals;
        size_t n;
        LM_TRY(tpl_map_pairs(rt, v, &keys, &vals, &n));
        if (n == 0) {
            tpl_sb_add(sb, "{}", 2);
            return LM_OK;
        }
        kv_pair *pairs = NULL;
        if (o->sort_keys) {
            pairs = tpl_rt_alloc(rt, n * sizeof *pairs);
            if (!pairs) return rt->err->code;
            for (size_t i = 0; i < n; i++) {
                if (keys[i].kind != TPL_STR)
                    return tpl_rt_fail(rt, LM_ERR_INVALID, "sort_keys needs str keys, got %s",
                                       tpl_type_name(&keys[i]));
                pairs[i].k = keys[i];
                pairs[i].v = vals[i];
            }
            qsort(pairs, n, sizeof *pairs, kv_cmp); /* keys are unique: stability is moot */
        }
        tpl_sb_addc(sb, '{');
        for (size_t i = 0; i < n; i++) {
            if (i) tpl_sb_add(sb, item_sep, item_sep_n);
            if (o->indent) json_newline(sb, o, level + 1);
            LM_TRY(json_key(rt, sb, pairs ? &pairs[i].k : &keys[i], o->ensure_ascii));
            tpl_sb_add(sb, key_sep, key_sep_n);
            LM_TRY(to_json(rt, sb, pairs ? &pairs[i].v : &vals[i], o, level + 1));
        }
        if (o->indent) json_newline(sb, o, level);
        tpl_sb_addc(sb, '}');
        return LM_OK;
    }
    default: break;
    }
    return tpl_rt_fail(rt, LM_ERR_INVALID, "Object of type %s is not JSON serializable",
                       tpl_type_name(v));
}

lm_status tpl_to_json(tpl_rt *rt, tpl_sb *sb, const tpl_value *v, const tpl_json_opts *o) {
    return to_json(rt, sb, v, o, 0);
}
