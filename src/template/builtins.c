/* builtins.c — argument binding, the global functions (Jinja2's range/namespace/dict and
 * transformers' raise_exception/strftime_now), and Jinja2's tests. Filters are in filters.c,
 * methods of values in methods.c. */
#include "template/builtins.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/limits.h"
#include "template/interp.h"
#include "template/pystr.h"

/* ---- argument binding ---- */

lm_status tpl_bind_args(tpl_rt *rt, const char *what, tpl_args *args, const char *const *names,
                        size_t nnames, tpl_value *out, size_t *rest_pos) {
    for (size_t i = 0; i < nnames; i++) {
        out[i] = tpl_undef(NULL, 0);
        out[i].flags = 0xff;
    }
    if (args->npos > nnames && !rest_pos)
        return tpl_rt_fail(rt, LM_ERR_INVALID, "%s() takes at most %zu argument(s) (%zu given)",
                           what, nnames, args->npos);
    if (rest_pos) *rest_pos = nnames < args->npos ? nnames : args->npos;
    for (size_t i = 0; i < args->npos && i < nnames; i++) out[i] = args->pos[i];
    for (size_t k = 0; k < args->nkw; k++) {
        size_t i = 0;
        while (i < nnames && !(strlen(names[i]) == args->kwlen[k] &&
                               memcmp(names[i], args->kwname[k], args->kwlen[k]) == 0))
            i++;
        if (i == nnames)
            return tpl_rt_fail(rt, LM_ERR_INVALID, "%s() got an unexpected keyword argument '%.*s'",
                               what, (int)args->kwlen[k], args->kwname[k]);
        if (!tpl_arg_missing(&out[i]))
            return tpl_rt_fail(rt, LM_ERR_INVALID, "%s() got multiple values for argument '%s'",
                               what, names[i]);
        out[i] = args->kwval[k];
    }
    return LM_OK;
}

/* ---- globals ---- */

static lm_status int_arg(tpl_rt *rt, const char *what, const tpl_value *v, int64_t *out) {
    if (v->kind == TPL_INT) { *out = v->u.i; return LM_OK; }
    if (v->kind == TPL_BOOL) { *out = v->u.b; return LM_OK; }
    return tpl_rt_fail(rt, LM_ERR_INVALID, "%s: '%s' object cannot be interpreted as an integer",
                       what, tpl_type_name(v));
}

static lm_status g_range(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out) {
    (void)self;
    if (args->nkw) return tpl_rt_fail(rt, LM_ERR_INVALID, "range() takes no keyword arguments");
    if (args->npos < 1 || args->npos > 3)
        return tpl_rt_fail(rt, LM_ERR_INVALID, "range expected 1 to 3 arguments, got %zu", args->npos);
    int64_t start = 0, stop = 0, step = 1;
    if (args->npos == 1) {
        LM_TRY(int_arg(rt, "range", &args->pos[0], &stop));
    } else {
        LM_TRY(int_arg(rt, "range", &args->pos[0], &start));
        LM_TRY(int_arg(rt, "range", &args->pos[1], &stop));
        if (args->npos == 3) LM_TRY(int_arg(rt, "range", &args->pos[2], &step));
    }
    if (step == 0) return tpl_rt_fail(rt, LM_ERR_INVALID, "range() arg 3 must not be zero");
    /* element count without overflow: computed in long double, compared to the limit */
    long double span = step > 0 ? (long double)stop - start : (long double)start - stop;
    long double count = span <= 0 ? 0 : ceill(span / (step > 0 ? (long double)step : -(long double)step));
    if (count > LM_TPL_MAX_RANGE)
        return tpl_rt_fail(rt, LM_ERR_LIMIT,
                           "range too big: the sandbox blocks ranges larger than %d elements",
                           LM_TPL_MAX_RANGE);
    size_t n = (size_t)count;
    LM_TRY(tpl_make_list(rt, NULL, n, 0, out));
    /* every element lies between start and stop, but i * step alone may not fit int64: sum in
     * unsigned (wrapping) arithmetic, whose result is the element */
    for (size_t i = 0; i < n; i++)
        out->u.list->items[i] = tpl_int((int64_t)((uint64_t)start + (uint64_t)i * (uint64_t)step));
    return LM_OK;
}

/* dict(mapping_or_pairs, **kwargs) into a new DICT or NS. */
static lm_status make_mapping(tpl_rt *rt, const char *what, tpl_args *args, tpl_value *out, int ns) {
    if (args->npos > 1)
        return tpl_rt_fail(rt, LM_ERR_INVALID, "%s expected at most 1 positional argument, got %zu",
                           what, args->npos);
    LM_TRY(tpl_make_dict(rt, out, ns));
    if (args->npos == 1) {
        const tpl_value *src = &args->pos[0];
        if (tpl_is_map(src) || src->kind == TPL_NS) {
            tpl_value *keys, *vals;
            size_t n;
            if (src->kind == TPL_NS) {
                keys = src->u.dict->keys;
                vals = src->u.dict->vals;
                n = src->u.dict->n;
            } else {
                LM_TRY(tpl_map_pairs(rt, src, &keys, &vals, &n));
            }
            for (size_t i = 0; i < n; i++) { /* keys are unique: append without searching */
                LM_TRY(tpl_rt_step(rt));
                LM_TRY(tpl_dict_append(rt, out->u.dict, &keys[i], &vals[i]));
            }
        } else {
            tpl_value *items;
            size_t n;
            LM_TRY(tpl_iterate(rt, src, &items, &n));
            for (size_t i = 0; i < n; i++) {
                LM_TRY(tpl_rt_step(rt)); /* tpl_dict_set searches: quadratic, so counted */
                tpl_value *kv;
                size_t m;
                LM_TRY(tpl_iterate(rt, &items[i], &kv, &m));
                if (m != 2)
                    return tpl_rt_fail(rt, LM_ERR_INVALID,
                                       "%s update sequence element #%zu has length %zu; 2 is required",
                                       what, i, m);
                LM_TRY(tpl_dict_set(rt, out->u.dict, &kv[0], &kv[1]));
            }
        }
    }
    for (size_t k = 0; k < args->nkw; k++) {
        tpl_value key = tpl_str(args->kwname[k], args->kwlen[k]);
        LM_TRY(tpl_dict_set(rt, out->u.dict, &key, &args->kwval[k]));
    }
    return LM_OK;
}

static lm_status g_namespace(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out) {
    (void)self;
    return make_mapping(rt, "namespace", args, out, 1);
}

static lm_status g_dict(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out) {
    (void)self;
    return make_mapping(rt, "dict", args, out, 0);
}

/* transformers: raise_exception(message) raises TemplateError(message). */
static lm_status g_raise_exception(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out) {
    (void)self;
    (void)out;
    static const char *const names[] = {"message"};
    tpl_value a[1];
    LM_TRY(tpl_bind_args(rt, "raise_exception", args, names, 1, a, NULL));
    if (tpl_arg_missing(&a[0])) return tpl_rt_fail(rt, LM_ERR_INVALID, "raise_exception() needs a message");
    tpl_value msg;
    LM_TRY(tpl_to_str(rt, &a[0], &msg));
    return err_set(rt->err, LM_ERR_TEMPLATE, "%.*s", (int)(msg.u.s.n > 480 ? 480 : msg.u.s.n), msg.u.s.p);
}

/* transformers: strftime_now(format) = datetime.now().strftime(format). Python's datetime
 * handles %f, %z, %Z and %:z itself (naive time: zone fields are empty); the rest is C's. */
static lm_status g_strftime_now(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out) {
    (void)self;
    static const char *const names[] = {"format"};
    tpl_value a[1];
    LM_TRY(tpl_bind_args(rt, "strftime_now", args, names, 1, a, NULL));
    if (a[0].kind != TPL_STR)
        return tpl_rt_fail(rt, LM_ERR_INVALID, "strftime_now() argument must be str, not %s", tpl_type_name(&a[0]));
    tpl_sb fmt;
    tpl_sb_init(&fmt, &rt->arena, rt->max_output);
    const char *p = a[0].u.s.p;
    size_t n = a[0].u.s.n;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%' && i + 1 < n) {
            char c = p[i + 1];
            if (c == 'f') { tpl_sb_add(&fmt, "000000", 6); i++; continue; }
            if (c == 'z' || c == 'Z') { i++; continue; }
            if (c == ':' && i + 2 < n && p[i + 2] == 'z') { i += 2; continue; }
            tpl_sb_addc(&fmt, '%');
            tpl_sb_addc(&fmt, c);
            i++;
            continue;
        }
        tpl_sb_addc(&fmt, p[i]);
    }
    tpl_value f;
    LM_TRY(tpl_sb_finish(rt, &fmt, &f));
    if (memchr(f.u.s.p, '\0', f.u.s.n))
        return tpl_rt_fail(rt, LM_ERR_INVALID, "embedded null character in strftime format");
    if (f.u.s.n == 0) {
        *out = tpl_str("", 0);
        return LM_OK;
    }
    for (size_t cap = 256; cap <= (1u << 20) && cap <= rt->max_output * 2; cap *= 4) {
        char *buf = tpl_rt_alloc(rt, cap);
        if (!buf) return rt->err->code;
        size_t len = strftime(buf, cap, f.u.s.p, &rt->now);
        if (len > 0) {
            *out = tpl_str(buf, len);
            return LM_OK;
        }
    }
    *out = tpl_str("", 0); /* strftime output empty (e.g. "%p" in some locales) */
    return LM_OK;
}

static tpl_func fn_range = {g_range, "range", NULL};
static tpl_func fn_namespace = {g_namespace, "namespace", NULL};
static tpl_func fn_dict = {g_dict, "dict", NULL};
static tpl_func fn_raise = {g_raise_exception, "raise_exception", NULL};
static tpl_func fn_strftime = {g_strftime_now, "strftime_now", NULL};

int tpl_builtin_global(const char *name, size_t n, tpl_value *out) {
    static tpl_func *const globals[] = {&fn_range, &fn_namespace, &fn_dict, &fn_raise, &fn_strftime};
    for (size_t i = 0; i < sizeof globals / sizeof *globals; i++) {
        if (strlen(globals[i]->name) == n && memcmp(globals[i]->name, name, n) == 0) {
            out->kind = TPL_FUNC;
            out->flags = 0;
            out->u.fn = globals[i];
            return 1;
        }
    }
    return 0;
}

/* ---- tests ---- */

#define TEST(name) static lm_status name(tpl_rt *rt, const tpl_value *v, tpl_args *args, int *out)

/* The single optional argument of a test. */
static lm_status test_arg(tpl_rt *rt, const char *what, tpl_args *args, tpl_value *arg) {
    static const char *const names[] = {"other"};
    LM_TRY(tpl_bind_args(rt, what, args, names, 1, arg, NULL));
    if (tpl_arg_missing(arg)) return tpl_rt_fail(rt, LM_ERR_INVALID, "test '%s' needs an argument", what);
    return LM_OK;
}

TEST(t_defined) { (void)rt; (void)args; *out = v->kind != TPL_UNDEFINED; return LM_OK; }
TEST(t_undefined) { (void)rt; (void)args; *out = v->kind == TPL_UNDEFINED; return LM_OK; }
TEST(t_none) { (void)rt; (void)args; *out = v->kind == TPL_NONE; return LM_OK; }
TEST(t_boolean) { (void)rt; (void)args; *out = v->kind == TPL_BOOL; return LM_OK; }
TEST(t_true) { (void)rt; (void)args; *out = v->kind == TPL_BOOL && v->u.b; return LM_OK; }
TEST(t_false) { (void)rt; (void)args; *out = v->kind == TPL_BOOL && !v->u.b; return LM_OK; }
TEST(t_integer) { (void)rt; (void)args; *out = v->kind == TPL_INT; return LM_OK; }
TEST(t_float) { (void)rt; (void)args; *out = v->kind == TPL_FLOAT; return LM_OK; }
TEST(t_number) { (void)rt; (void)args; *out = tpl_is_num(v); return LM_OK; }
TEST(t_string) { (void)rt; (void)args; *out = v->kind == TPL_STR; return LM_OK; }
TEST(t_mapping) { (void)rt; (void)args; *out = tpl_is_map(v); return LM_OK; }
TEST(t_escaped) { (void)rt; (void)args; *out = v->kind == TPL_STR && (v->flags & TPL_F_MARKUP); return LM_OK; }

/* iter() works: str, list, dict, and (Jinja2's lenient) Undefined. */
TEST(t_iterable) {
    (void)rt; (void)args;
    *out = v->kind == TPL_STR || tpl_is_seq(v) || tpl_is_map(v) || v->kind == TPL_UNDEFINED ||
           v->kind == TPL_LOOP;
    return LM_OK;
}

/* len() and __getitem__ exist: str, list, dict, and Undefined (not generators). */
TEST(t_sequence) {
    (void)rt; (void)args;
    *out = v->kind == TPL_STR || (tpl_is_seq(v) && !tpl_is_gen(v)) || tpl_is_map(v) || v->kind == TPL_UNDEFINED;
    return LM_OK;
}

TEST(t_callable) {
    (void)rt; (void)args;
    *out = v->kind == TPL_FUNC || v->kind == TPL_MACRO || v->kind == TPL_LOOP || v->kind == TPL_UNDEFINED;
    return LM_OK;
}

/* value % n == r with Python's modulo. */
static lm_status modulo_is(tpl_rt *rt, const tpl_value *v, int64_t n, int64_t r, int *out) {
    if (v->kind == TPL_INT || v->kind == TPL_BOOL) {
        int64_t x = v->kind == TPL_INT ? v->u.i : v->u.b, m = x % n;
        if (m != 0 && ((m < 0) != (n < 0))) m += n;
        *out = m == r;
        return LM_OK;
    }
    if (v->kind == TPL_FLOAT) {
        double m = fmod(v->u.f, (double)n);
        if (m != 0 && ((m < 0) != (n < 0))) m += (double)n;
        *out = m == (double)r;
        return LM_OK;
    }
    if (v->kind == TPL_UNDEFINED && v->u.s.p)
        return tpl_rt_fail(rt, LM_ERR_INVALID, "'%.*s' is undefined", (int)v->u.s.n, v->u.s.p);
    return tpl_rt_fail(rt, LM_ERR_INVALID, "unsupported operand type(s) for %%: '%s' and 'int'",
                       tpl_type_name(v));
}

TEST(t_odd) { LM_TRY(tpl_bind_args(rt, "odd", args, NULL, 0, NULL, NULL)); return modulo_is(rt, v, 2, 1, out); }
TEST(t_even) { LM_TRY(tpl_bind_args(rt, "even", args, NULL, 0, NULL, NULL)); return modulo_is(rt, v, 2, 0, out); }

TEST(t_divisibleby) {
    static const char *const names[] = {"num"};
    tpl_value a[1];
    LM_TRY(tpl_bind_args(rt, "divisibleby", args, names, 1, a, NULL));
    int64_t num = 0;
    LM_TRY(int_arg(rt, "divisibleby", &a[0], &num));
    if (num == 0) return tpl_rt_fail(rt, LM_ERR_INVALID, "integer division or modulo by zero");
    return modulo_is(rt, v, num, 0, out);
}

TEST(t_eq) { tpl_value a; LM_TRY(test_arg(rt, "eq", args, &a)); *out = tpl_equal(v, &a); return LM_OK; }
TEST(t_ne) { tpl_value a; LM_TRY(test_arg(rt, "ne", args, &a)); *out = !tpl_equal(v, &a); return LM_OK; }

static lm_status order_test(tpl_rt *rt, const tpl_value *v, tpl_args *args, int *out, int want) {
    tpl_value a;
    LM_TRY(test_arg(rt, "comparison", args, &a));
    int c;
    LM_TRY(tpl_compare(rt, v, &a, 0, &c));
    switch (want) {
    case 0: *out = c < 0; break;
    case 1: *out = c <= 0; break;
    case 2: *out = c > 0; break;
    default: *out = c >= 0; break;
    }
    return LM_OK;
}

TEST(t_lt) { return order_test(rt, v, args, out, 0); }
TEST(t_le) { return order_test(rt, v, args, out, 1); }
TEST(t_gt) { return order_test(rt, v, args, out, 2); }
TEST(t_ge) { return order_test(rt, v, args, out, 3); }

TEST(t_in) {
    tpl_value seq;
    LM_TRY(test_arg(rt, "in", args, &seq));
    if (seq.kind == TPL_STR) {
        if (v->kind != TPL_STR)
            return tpl_rt_fail(rt, LM_ERR_INVALID, "'in <string>' requires string as left operand, not %s",
                               tpl_type_name(v));
        *out = v->u.s.n == 0 || memmem(seq.u.s.p, seq.u.s.n, v->u.s.p, v->u.s.n) != NULL;
        return LM_OK;
    }
    if (tpl_is_map(&seq)) {
        tpl_value dummy;
        *out = tpl_map_get(&seq, v, &dummy);
        return LM_OK;
    }
    tpl_value *items;
    size_t n;
    LM_TRY(tpl_iterate(rt, &seq, &items, &n));
    *out = 0;
    for (size_t i = 0; i < n && !*out; i++) *out = tpl_equal(&items[i], v);
    return LM_OK;
}

/* `is sameas`: Python identity. Singletons and small ints are identical when equal; containers
 * when they are the same object. */
TEST(t_sameas) {
    tpl_value a;
    LM_TRY(test_arg(rt, "sameas", args, &a));
    if (v->kind != a.kind) { *out = 0; return LM_OK; }
    switch ((tpl_kind)v->kind) {
    case TPL_NONE: *out = 1; break;
    case TPL_BOOL: *out = v->u.b == a.u.b; break;
    case TPL_INT: *out = v->u.i == a.u.i && v->u.i >= -5 && v->u.i <= 256; break;
    case TPL_STR: *out = v->u.s.p == a.u.s.p && v->u.s.n == a.u.s.n; break;
    case TPL_JLIST:
    case TPL_JDICT: *out = v->u.json == a.u.json; break;
    default: *out = v->u.list == a.u.list; break;
    }
    return LM_OK;
}

static lm_status case_test(tpl_rt *rt, const tpl_value *v, int *out, int upper) {
    tpl_value s;
    LM_TRY(tpl_to_str(rt, v, &s));
    int cased = 0, ok = 1;
    size_t i = 0;
    while (i < s.u.s.n) {
        uint32_t c;
        int len = tpl_utf8_decode(s.u.s.p + i, s.u.s.n - i, &c);
        if (len <= 0) break;
        if (upper ? tpl_py_islower(c) : tpl_py_isupper(c)) ok = 0;
        if (upper ? tpl_py_isupper(c) : tpl_py_islower(c)) cased = 1;
        i += (size_t)len;
    }
    *out = ok && cased;
    return LM_OK;
}

TEST(t_lower) { (void)args; return case_test(rt, v, out, 0); }
TEST(t_upper) { (void)args; return case_test(rt, v, out, 1); }

TEST(t_filter) {
    (void)args;
    *out = v->kind == TPL_STR && tpl_builtin_filter(v->u.s.p, v->u.s.n) != NULL;
    (void)rt;
    return LM_OK;
}

TEST(t_test) {
    (void)args;
    *out = v->kind == TPL_STR && tpl_builtin_test(v->u.s.p, v->u.s.n) != NULL;
    (void)rt;
    return LM_OK;
}

static const struct {
    const char *name;
    tpl_test_fn fn;
} tests[] = {
    {"defined", t_defined}, {"undefined", t_undefined}, {"none", t_none},
    {"boolean", t_boolean}, {"true", t_true}, {"false", t_false}, {"integer", t_integer},
    {"float", t_float}, {"number", t_number}, {"string", t_string}, {"mapping", t_mapping},
    {"iterable", t_iterable}, {"sequence", t_sequence}, {"callable", t_callable},
    {"escaped", t_escaped}, {"odd", t_odd}, {"even", t_even}, {"divisibleby", t_divisibleby},
    {"eq", t_eq}, {"equalto", t_eq}, {"==", t_eq}, {"ne", t_ne}, {"!=", t_ne},
    {"lt", t_lt}, {"lessthan", t_lt}, {"<", t_lt}, {"le", t_le}, {"<=", t_le},
    {"gt", t_gt}, {"greaterthan", t_gt}, {">", t_gt}, {"ge", t_ge}, {">=", t_ge},
    {"in", t_in}, {"sameas", t_sameas}, {"lower", t_lower}, {"upper", t_upper},
    {"filter", t_filter}, {"test", t_test},
};

tpl_test_fn tpl_builtin_test(const char *name, size_t n) {
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++)
        if (strlen(tests[i].name) == n && memcmp(tests[i].name, name, n) == 0) return tests[i].fn;
    return NULL;
}
