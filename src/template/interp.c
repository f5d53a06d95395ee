/* interp.c — tree-walking evaluator: scopes, expressions with Python semantics, statements,
 * macros and loops, and the run-time limits (depth, steps, time, output, memory). */
#include "template/interp.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/limits.h"
#include "template/builtins.h"
#include "template/lexer.h"
#include "template/pystr.h"

/* ---- errors and limits ---- */

lm_status tpl_rt_fail(tpl_rt *rt, lm_status code, const char *fmt, ...) {
    char msg[LM_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(rt->err, code, "%s", msg);
}

lm_status tpl_rt_nomem(tpl_rt *rt) {
    if (rt->arena.over_limit)
        return tpl_rt_fail(rt, LM_ERR_LIMIT, "template used too much memory (limit is %zu bytes)",
                           rt->arena.limit);
    return tpl_rt_fail(rt, LM_ERR_NOMEM, "out of memory rendering template");
}

void *tpl_rt_alloc(tpl_rt *rt, size_t n) {
    void *p = arena_alloc(&rt->arena, n);
    if (!p) tpl_rt_nomem(rt);
    return p;
}

/* The coarse monotonic clock (a few ns to read, millisecond resolution) is enough for a budget
 * counted in seconds. */
static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the clock once 4096 units of work have gathered: every 64 evaluations or steps, or
 * every 4 KiB a built-in scans, so the deadline is noticed soon after it passes. */
lm_status tpl_rt_work(tpl_rt *rt, size_t units) {
    rt->work += units;
    if (rt->work < 4096) return LM_OK;
    rt->work = 0;
    if (rt->deadline_ms && now_ms() > rt->deadline_ms)
        return tpl_rt_fail(rt, LM_ERR_LIMIT, "template rendering took too long");
    return LM_OK;
}

static lm_status tick(tpl_rt *rt) {
    return tpl_rt_work(rt, 64);
}

lm_status tpl_rt_step(tpl_rt *rt) {
    if (++rt->steps > rt->max_steps)
        return tpl_rt_fail(rt, LM_ERR_LIMIT, "too many loop iterations or calls (limit is %" PRIu64 ")",
                           rt->max_steps);
    return tick(rt);
}

/* Attaches the node's position to an error that has none yet (the innermost node wins). The
 * message of raise_exception stays exactly as the template wrote it. */
static void locate(tpl_rt *rt, const tpl_node *n) {
    lm_error *e = rt->err;
    if (!e || e->code == LM_OK || e->line != 0) return;
    e->line = n->line;
    e->col = n->col;
    if (e->code == LM_ERR_TEMPLATE) return;
    size_t len = strlen(e->msg);
    if (len < sizeof e->msg)
        snprintf(e->msg + len, sizeof e->msg - len, " (line %d, column %d)", n->line, n->col);
}

static lm_status undefined_error(tpl_rt *rt, const tpl_value *u) {
    if (u->flags & TPL_F_UNSAFE)
        return tpl_rt_fail(rt, LM_ERR_INVALID, "access to attribute '%.*s' is unsafe (the template sandbox is immutable)",
                           (int)u->u.s.n, u->u.s.p ? u->u.s.p : "");
    if (!u->u.s.p) return tpl_rt_fail(rt, LM_ERR_INVALID, "undefined value used");
    if (u->flags & TPL_F_ATTR)
        return tpl_rt_fail(rt, LM_ERR_INVALID, "attribute or key '%.*s' is undefined",
                           (int)u->u.s.n, u->u.s.p);
    return tpl_rt_fail(rt, LM_ERR_INVALID, "'%.*s' is undefined", (int)u->u.s.n, u->u.s.p);
}

/* ---- scopes ---- */

static tpl_frame *frame_new(tpl_rt *rt, tpl_frame *parent) {
    tpl_frame *f = tpl_rt_alloc(rt, sizeof *f);
    if (f) {
        memset(f, 0, sizeof *f);
        f->parent = parent;
    }
    return f;
}

#define FRAME_INDEX_AT 16 /* variables in one scope before it gets an index */

/* Empties a scope for reuse (the next loop iteration). */
static void frame_clear(tpl_frame *f) {
    if (f->index)
        for (uint32_t i = 0; i < f->n; i++) f->index[f->syms[i]] = 0;
    f->n = 0;
}

/* Slot of `sym` in f, or -1. */
static int64_t frame_find(const tpl_frame *f, uint32_t sym) {
    if (f->index) return (int64_t)f->index[sym] - 1;
    for (uint32_t i = f->n; i-- > 0;)
        if (f->syms[i] == sym) return i;
    return -1;
}

static lm_status frame_set(tpl_rt *rt, tpl_frame *f, uint32_t sym, const tpl_value *v) {
    int64_t slot = frame_find(f, sym);
    if (slot >= 0) {
        f->vals[slot] = *v;
        return LM_OK;
    }
    if (!f->index && f->n >= FRAME_INDEX_AT && rt->nsyms) { /* many variables: index them */
        f->index = arena_zalloc(&rt->arena, rt->nsyms * sizeof *f->index);
        if (!f->index) return tpl_rt_nomem(rt);
        for (uint32_t i = 0; i < f->n; i++) f->index[f->syms[i]] = i + 1;
    }
    if (f->n == f->cap) {
        uint32_t cap = f->cap ? f->cap * 2 : 8;
        uint32_t *syms = arena_grow(&rt->arena, f->syms, f->cap * sizeof *syms, cap * sizeof *syms);
        if (!syms) return tpl_rt_nomem(rt);
        f->syms = syms;
        tpl_value *vals = arena_grow(&rt->arena, f->vals, f->cap * sizeof *vals, cap * sizeof *vals);
        if (!vals) return tpl_rt_nomem(rt);
        f->vals = vals;
        f->cap = cap;
    }
    f->syms[f->n] = sym;
    f->vals[f->n] = *v;
    f->n++;
    if (f->index) f->index[sym] = f->n;
    return LM_OK;
}

static int scope_lookup(const tpl_frame *f, uint32_t sym, tpl_value *out) {
    for (; f; f = f->parent) {
        int64_t slot = frame_find(f, sym);
        if (slot >= 0) {
            *out = f->vals[slot];
            return 1;
        }
    }
    return 0;
}

/* Template variables, then the render context, then the globals. */
static void lookup_name(tpl_rt *rt, const tpl_node *n, tpl_value *out) {
    if (scope_lookup(rt->scope, n->sym, out)) return;
    if (rt->ctx) {
        json_t *j = json_object_getn(rt->ctx, n->s, n->sn);
        if (j) {
            *out = tpl_from_json(j);
            return;
        }
    }
    if (tpl_builtin_global(n->s, n->sn, out)) return;
    *out = tpl_undef(n->s, n->sn);
}

/* ---- attribute and item access ---- */

static tpl_value attr_undef(const char *name, size_t n) {
    tpl_value u = tpl_undef(name, n);
    u.flags = TPL_F_ATTR;
    return u;
}

static int loop_attr(tpl_rt *rt, const tpl_value *obj, const char *name, size_t n, tpl_value *out);

lm_status tpl_getattr(tpl_rt *rt, const tpl_value *obj, const char *name, size_t n,
                      tpl_value *out) {
    if (obj->kind == TPL_UNDEFINED) return undefined_error(rt, obj);
    if (obj->kind == TPL_NS) {
        if (!tpl_map_get_str(obj, name, n, out)) *out = attr_undef(name, n);
        return LM_OK;
    }
    if (obj->kind == TPL_LOOP) {
        int r = loop_attr(rt, obj, name, n, out);
        if (r < 0) return rt->err->code;
        if (!r) *out = attr_undef(name, n);
        return LM_OK;
    }
    int r = tpl_builtin_method(rt, obj, name, n, out);
    if (r < 0) return rt->err->code;
    if (r > 0) return LM_OK;
    if (tpl_is_map(obj) && tpl_map_get_str(obj, name, n, out)) return LM_OK;
    *out = attr_undef(name, n);
    return LM_OK;
}

/* Python index normalisation: negative counts from the end; 0 when out of range. */
static int norm_index(int64_t i, size_t len, size_t *out) {
    if (i < 0) i += (int64_t)len;
    if (i < 0 || (uint64_t)i >= len) return 0;
    *out = (size_t)i;
    return 1;
}

lm_status tpl_getitem(tpl_rt *rt, const tpl_value *obj, const tpl_value *key, tpl_value *out) {
    if (obj->kind == TPL_UNDEFINED) return undefined_error(rt, obj);
    int int_key = key->kind == TPL_INT || key->kind == TPL_BOOL;
    int64_t ki = key->kind == TPL_INT ? key->u.i : key->u.b;
    size_t idx;
    if (tpl_is_gen(obj))
        return tpl_rt_fail(rt, LM_ERR_INVALID, "'generator' object is not subscriptable");
    if (tpl_is_seq(obj) && int_key) {
        if (norm_index(ki, tpl_seq_len(obj), &idx)) {
            *out = tpl_seq_get(obj, idx);
            return LM_OK;
        }
    } else if (obj->kind == TPL_STR && int_key) {
        size_t len = tpl_utf8_count(obj->u.s.p, obj->u.s.n);
        if (norm_index(ki, len, &idx)) {
            size_t a = tpl_utf8_offset(obj->u.s.p, obj->u.s.n, idx);
            size_t b = tpl_utf8_offset(obj->u.s.p + a, obj->u.s.n - a, 1) + a;
            *out = tpl_str(obj->u.s.p + a, b - a);
            return LM_OK;
        }
    } else if (tpl_is_map(obj)) {
        if (tpl_map_get(obj, key, out)) return LM_OK;
    }
    if (key->kind == TPL_STR && obj->kind != TPL_DICT && obj->kind != TPL_JDICT)
        return tpl_getattr(rt, obj, key->u.s.p, key->u.s.n, out);
    if (key->kind == TPL_STR) { /* a dict without that key: its methods, else undefined */
        int r = tpl_builtin_method(rt, obj, key->u.s.p, key->u.s.n, out);
        if (r < 0) return rt->err->code;
        if (r > 0) return LM_OK;
        *out = attr_undef(key->u.s.p, key->u.s.n);
        return LM_OK;
    }
    *out = attr_undef(NULL, 0);
    return LM_OK;
}

/* ---- evaluation ---- */

static lm_status eval(tpl_rt *rt, const tpl_node *n, tpl_value *out);
static lm_status exec_body(tpl_rt *rt, const tpl_node *body);
static lm_status call_macro(tpl_rt *rt, const tpl_macro *m, tpl_args *args, tpl_value *out);
static lm_status loop_call(tpl_rt *rt, tpl_loop *loop, tpl_args *args, tpl_value *out);

lm_status tpl_call(tpl_rt *rt, const tpl_value *fn, tpl_args *args, tpl_value *out) {
    switch ((tpl_kind)fn->kind) {
    case TPL_FUNC: return fn->u.fn->fn(rt, fn->u.fn->self, args, out);
    case TPL_MACRO: return call_macro(rt, fn->u.macro, args, out);
    case TPL_LOOP: return loop_call(rt, fn->u.loop, args, out);
    case TPL_UNDEFINED: return undefined_error(rt, fn);
    default:
        return tpl_rt_fail(rt, LM_ERR_INVALID, "'%s' object is not callable", tpl_type_name(fn));
    }
}

/* Evaluates the arguments of a CALL/FILTER/TEST node: kids (positional, KWARG), *c, **d. */
static lm_status eval_args(tpl_rt *rt, const tpl_node *n, tpl_args *args) {
    memset(args, 0, sizeof *args);
    size_t npos = 0, nkw = 0;
    for (uint32_t i = 0; i < n->nkids; i++) {
        if (n->kids[i]->kind == TPL_N_KWARG) nkw++;
        else npos++;
    }
    tpl_value star = {0}, dstar = {0};
    tpl_value *star_items = NULL;
    size_t nstar = 0;
    tpl_value *dkeys = NULL, *dvals = NULL;
    size_t ndstar = 0;
    if (n->c) {
        LM_TRY(eval(rt, n->c, &star));
        LM_TRY(tpl_iterate(rt, &star, &star_items, &nstar));
    }
    if (n->d) {
        LM_TRY(eval(rt, n->d, &dstar));
        if (!tpl_is_map(&dstar) && dstar.kind != TPL_UNDEFINED)
            return tpl_rt_fail(rt, LM_ERR_INVALID, "argument after ** must be a mapping, not %s",
                               tpl_type_name(&dstar));
        if (dstar.kind != TPL_UNDEFINED) LM_TRY(tpl_map_pairs(rt, &dstar, &dkeys, &dvals, &ndstar));
    }
    size_t tp = npos + nstar, tk = nkw + ndstar;
    if (tp) {
        args->pos = tpl_rt_alloc(rt, tp * sizeof *args->pos);
        if (!args->pos) return rt->err->code;
    }
    if (tk) {
        args->kwname = tpl_rt_alloc(rt, tk * sizeof *args->kwname);
        args->kwlen = tpl_rt_alloc(rt, tk * sizeof *args->kwlen);
        args->kwval = tpl_rt_alloc(rt, tk * sizeof *args->kwval);
        if (!args->kwname || !args->kwlen || !args->kwval) return rt->err->code;
    }
    for (uint32_t i = 0; i < n->nkids; i++) {
        const tpl_node *k = n->kids[i];
        if (k->kind == TPL_N_KWARG) {
            args->kwname[args->nkw] = k->s;
            args->kwlen[args->nkw] = k->sn;
            LM_TRY(eval(rt, k->a, &args->kwval[args->nkw]));
            args->nkw++;
        } else {
            LM_TRY(eval(rt, k, &args->pos[args->npos]));
            args->npos++;
        }
    }
    for (size_t i = 0; i < nstar; i++) args->pos[args->npos++] = star_items[i];
    for (size_t i = 0; i < ndstar; i++) {
        if (dkeys[i].kind != TPL_STR)
            return tpl_rt_fail(rt, LM_ERR_INVALID, "keywords must be strings");
        args->kwname[args->nkw] = dkeys[i].u.s.p;
        args->kwlen[args->nkw] = dkeys[i].u.s.n;
        args->kwval[args->nkw] = dvals[i];
        args->nkw++;
    }
    return LM_OK;
}

lm_status tpl_apply_test(tpl_rt *rt, const char *name, size_t n, const tpl_value *v,
                         tpl_args *args, int *out) {
    tpl_test_fn fn = tpl_builtin_test(name, n);
    if (!fn) return tpl_rt_fail(rt, LM_ERR_INVALID, "no test named '%.*s'", (int)n, name);
    tpl_args none = {0};
    return fn(rt, v, args ? args : &none, out);
}

lm_status tpl_apply_filter(tpl_rt *rt, const char *name, size_t n, const tpl_value *v,
                           tpl_args *args, tpl_value *out) {
    tpl_filter_fn fn = tpl_builtin_filter(name, n);
    if (!fn) return tpl_rt_fail(rt, LM_ERR_INVALID, "no filter named '%.*s'", (int)n, name);
    tpl_args none = {0};
    return fn(rt, v, args ? args : &none, out);
}

/* Applies a FILTER node chain to `in` (the chain's innermost input is `in`, not an expression:
 * used by filter blocks and `set x | f`). */
static lm_status enter(tpl_rt *rt);

static lm_status apply_filter_chain(tpl_rt *rt, const tpl_node *f, const tpl_value *in,
                                    tpl_value *out) {
    tpl_value v = *in;
    if (f->a) {
        LM_TRY(enter(rt)); /* the chain is as long as the template makes it */
        lm_status st = apply_filter_chain(rt, f->a, in, &v);
        rt->depth--;
        LM_TRY(st);
    }
    if (!f->fn.filter)
        return tpl_rt_fail(rt, LM_ERR_INVALID, "no filter named '%.*s'", (int)f->sn, f->s);
    tpl_args args;
    LM_TRY(eval_args(rt, f, &args));
    return f->fn.filter(rt, &v, &args, out);
}

/* -- arithmetic with Python's rules -- */

static lm_status type_error(tpl_rt *rt, const char *op, const tpl_value *a, const tpl_value *b) {
    if (a->kind == TPL_UNDEFINED) return undefined_error(rt, a);
    if (b->kind == TPL_UNDEFINED) return undefined_error(rt, b);
    return tpl_rt_fail(rt, LM_ERR_INVALID, "unsupported operand type(s) for %s: '%s' and '%s'", op,
                       tpl_type_name(a), tpl_type_name(b));
}

static int64_t as_i64(const tpl_value *v) { return v->kind == TPL_INT ? v->u.i : v->u.b; }
static double as_f64(const tpl_value *v) {
    return v->kind == TPL_FLOAT ? v->u.f : (double)as_i64(v);
}

static lm_status overflow(tpl_rt *rt) {
    return tpl_rt_fail(rt, LM_ERR_UNSUPPORTED, "integer overflow (integers are limited to 64 bits)");
}

/* Python's float floor division and modulo. */
static double py_fmod(double x, double y) {
    double m = fmod(x, y);
    if (m != 0 && ((y < 0) != (m < 0))) m += y;
    else if (m == 0) m = copysign(0.0, y);
    return m;
}

static double py_floordiv(double x, double y) {
    double mod = fmod(x, y);
    double div = (x - mod) / y;
    if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1.0;
    if (div == 0) return copysign(0.0, x / y);
    double fl = floor(div);
    if (div - fl > 0.5) fl += 1.0;
    return fl;
}

static lm_status repeat_seq(tpl_rt *rt, const tpl_value *seq, int64_t times, tpl_value *out) {
    if (times < 0) times = 0;
    if (seq->kind == TPL_STR) {
        if (seq->u.s.n && (uint64_t)times > rt->max_output / seq->u.s.n)
            return tpl_rt_fail(rt, LM_ERR_LIMIT, "string repetition too long (limit is %zu bytes)", rt->max_output);
        tpl_sb sb;
        tpl_sb_init(&sb, &rt->arena, rt->max_output);
        for (int64_t i = 0; i < times; i++) tpl_sb_add(&sb, seq->u.s.p, seq->u.s.n);
        LM_TRY(tpl_sb_finish(rt, &sb, out));
        out->flags = seq->flags & TPL_F_MARKUP;
        return LM_OK;
    }
    size_t n = tpl_seq_len(seq);
    if (n && (uint64_t)times > (uint64_t)LM_TPL_MAX_RANGE * 10 / n)
        return tpl_rt_fail(rt, LM_ERR_LIMIT, "list repetition too long");
    LM_TRY(tpl_make_list(rt, NULL, n * (size_t)times, seq->flags & TPL_F_TUPLE, out));
    for (int64_t t = 0; t < times; t++)
        for (size_t i = 0; i < n; i++) out->u.list->items[(size_t)t * n + i] = tpl_seq_get(seq, i);
    return LM_OK;
}

static lm_status concat_str(tpl_rt *rt, const tpl_value *a, const tpl_value *b, tpl_value *out) {
    tpl_value x = *a, y = *b;
    int markup = (a->flags | b->flags) & TPL_F_MARKUP;
    if (markup) { /* Markup + str escapes the plain operand */
        if (!(x.flags & TPL_F_MARKUP)) LM_TRY(tpl_html_escape(rt, a, &x));
        if (!(y.flags & TPL_F_MARKUP)) LM_TRY(tpl_html_escape(rt, b, &y));
    }
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    tpl_sb_add(&sb, x.u.s.p, x.u.s.n);
    tpl_sb_add(&sb, y.u.s.p, y.u.s.n);
    LM_TRY(tpl_sb_finish(rt, &sb, out));
    out->flags = markup ? TPL_F_MARKUP : 0;
    return LM_OK;
}

static lm_status binop(tpl_rt *rt, int op, const tpl_value *a, const tpl_value *b, tpl_value *out) {
    int num = tpl_is_num(a) && tpl_is_num(b);
    int ints = num && a->kind != TPL_FLOAT && b->kind != TPL_FLOAT;
    switch (op) {
    case TPL_TK_TILDE: {
        tpl_sb sb;
        tpl_sb_init(&sb, &rt->arena, rt->max_output);
        tpl_write_str(&sb, a);
        tpl_write_str(&sb, b);
        return tpl_sb_finish(rt, &sb, out);
    }
    case TPL_TK_ADD:
        if (ints) {
            int64_t r;
            if (__builtin_add_overflow(as_i64(a), as_i64(b), &r)) return overflow(rt);
            *out = tpl_int(r);
            return LM_OK;
        }
        if (num) { *out = tpl_float(as_f64(a) + as_f64(b)); return LM_OK; }
        if (a->kind == TPL_STR && b->kind == TPL_STR) return concat_str(rt, a, b, out);
        if (tpl_is_seq(a) && tpl_is_seq(b) && !tpl_is_gen(a) && !tpl_is_gen(b)) {
            int ta = a->kind == TPL_LIST && (a->flags & TPL_F_TUPLE);
            int tb = b->kind == TPL_LIST && (b->flags & TPL_F_TUPLE);
            if (ta != tb)
                return tpl_rt_fail(rt, LM_ERR_INVALID, "can only concatenate %s (not \"%s\") to %s",
                                   tpl_type_name(a), tpl_type_name(b), tpl_type_name(a));
            size_t na = tpl_seq_len(a), nb = tpl_seq_len(b);
            LM_TRY(tpl_make_list(rt, NULL, na + nb, ta, out));
            for (size_t i = 0; i < na; i++) out->u.list->items[i] = tpl_seq_get(a, i);
            for (size_t i = 0; i < nb; i++) out->u.list->items[na + i] = tpl_seq_get(b, i);
            return LM_OK;
        }
        return type_error(rt, "+", a, b);
    case TPL_TK_SUB:
        if (ints) {
            int64_t r;
            if (__builtin_sub_overflow(as_i64(a), as_i64(b), &r)) return overflow(rt);
            *out = tpl_int(r);
            return LM_OK;
        }
        if (num) { *out = tpl_float(as_f64(a) - as_f64(b)); return LM_OK; }
        return type_error(rt, "-", a, b);
    case TPL_TK_MUL:
        if (ints) {
            int64_t r;
            if (__builtin_mul_overflow(as_i64(a), as_i64(b), &r)) return overflow(rt);
            *out = tpl_int(r);
            return LM_OK;
        }
        if (num) { *out = tpl_float(as_f64(a) * as_f64(b)); return LM_OK; }
        if ((a->kind == TPL_STR || (tpl_is_seq(a) && !tpl_is_gen(a))) && (b->kind == TPL_INT || b->kind == TPL_BOOL))
            return repeat_seq(rt, a, as_i64(b), out);
        if ((b->kind == TPL_STR || (tpl_is_seq(b) && !tpl_is_gen(b))) && (a->kind == TPL_INT || a->kind == TPL_BOOL))
            return repeat_seq(rt, b, as_i64(a), out);
        return type_error(rt, "*", a, b);
    case TPL_TK_DIV:
        if (!num) return type_error(rt, "/", a, b);
        if (as_f64(b) == 0) return tpl_rt_fail(rt, LM_ERR_INVALID, "division by zero");
        *out = tpl_float(as_f64(a) / as_f64(b));
        return LM_OK;
    case TPL_TK_FLOORDIV:
        if (!num) return type_error(rt, "//", a, b);
        if (as_f64(b) == 0) return tpl_rt_fail(rt, LM_ERR_INVALID, "integer division or modulo by zero");
        if (ints) {
            int64_t x = as_i64(a), y = as_i64(b);
            if (x == INT64_MIN && y == -1) return overflow(rt);
            int64_t q = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
            *out = tpl_int(q);
        } else {
            *out = tpl_float(py_floordiv(as_f64(a), as_f64(b)));
        }
        return LM_OK;
    case TPL_TK_MOD:
        if (a->kind == TPL_STR) return tpl_str_percent(rt, a, b, out);
        if (!num) return type_error(rt, "%", a, b);
        if (as_f64(b) == 0) return tpl_rt_fail(rt, LM_ERR_INVALID, "integer division or modulo by zero");
        if (ints) {
            int64_t x = as_i64(a), y = as_i64(b);
            if (y == -1) { *out = tpl_int(0); return LM_OK; }
            int64_t m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) m += y;
            *out = tpl_int(m);
        } else {
            *out = tpl_float(py_fmod(as_f64(a), as_f64(b)));
        }
        return LM_OK;
    case TPL_TK_POW:
        if (!num) return type_error(rt, "**", a, b);
        if (ints && as_i64(b) >= 0) {
            int64_t base = as_i64(a), e = as_i64(b), r = 1;
            while (e > 0) {
                if ((e & 1) && __builtin_mul_overflow(r, base, &r)) return overflow(rt);
                e >>= 1;
                if (e > 0 && __builtin_mul_overflow(base, base, &base)) return overflow(rt);
            }
            *out = tpl_int(r);
            return LM_OK;
        }
        if (as_f64(a) == 0 && as_f64(b) < 0)
            return tpl_rt_fail(rt, LM_ERR_INVALID, "0.0 cannot be raised to a negative power");
        *out = tpl_float(pow(as_f64(a), as_f64(b)));
        return LM_OK;
    }
    return tpl_rt_fail(rt, LM_ERR_INTERNAL, "unknown binary operator %d", op);
}

/* `item in container` with Python's rules. */
static lm_status contains(tpl_rt *rt, const tpl_value *container, const tpl_value *item, int *res) {
    *res = 0;
    switch ((tpl_kind)container->kind) {
    case TPL_UNDEFINED: return LM_OK;
    case TPL_STR:
        if (item->kind != TPL_STR) {
            if (item->kind == TPL_UNDEFINED) return undefined_error(rt, item);
            return tpl_rt_fail(rt, LM_ERR_INVALID, "'in <string>' requires string as left operand, not %s",
                               tpl_type_name(item));
        }
        *res = item->u.s.n == 0 ||
               memmem(container->u.s.p, container->u.s.n, item->u.s.p, item->u.s.n) != NULL;
        return LM_OK;
    case TPL_LIST:
    case TPL_JLIST: {
        if (container->kind == TPL_LIST && container->u.list->error)
            return tpl_rt_fail(rt, container->u.list->error_code, "%s", container->u.list->error);
        size_t n = tpl_seq_len(container);
        size_t i = tpl_is_gen(container) ? container->u.list->pos : 0;
        for (; i < n && !*res; i++) {
            tpl_value x = tpl_seq_get(container, i);
            *res = tpl_equal(&x, item);
        }
        if (tpl_is_gen(container)) container->u.list->pos = i; /* consumed up to the match */
        return LM_OK;
    }
    case TPL_DICT:
    case TPL_JDICT: {
        tpl_value dummy;
        *res = tpl_map_get(container, item, &dummy);
        return LM_OK;
    }
    default:
        return tpl_rt_fail(rt, LM_ERR_INVALID, "argument of type '%s' is not iterable",
                           tpl_type_name(container));
    }
}

static lm_status compare_op(tpl_rt *rt, int op, const tpl_value *a, const tpl_value *b, int *res) {
    int c;
    switch (op) {
    case TPL_TK_EQ: *res = tpl_equal(a, b); return LM_OK;
    case TPL_TK_NE: *res = !tpl_equal(a, b); return LM_OK;
    case TPL_OP_IN: return contains(rt, b, a, res);
    case TPL_OP_NOT_IN: LM_TRY(contains(rt, b, a, res)); *res = !*res; return LM_OK;
    }
    if (a->kind == TPL_UNDEFINED) return undefined_error(rt, a);
    if (b->kind == TPL_UNDEFINED) return undefined_error(rt, b);
    LM_TRY(tpl_compare(rt, a, b, 0, &c));
    switch (op) {
    case TPL_TK_LT: *res = c < 0; break;
    case TPL_TK_LTEQ: *res = c <= 0; break;
    case TPL_TK_GT: *res = c > 0; break;
    default: *res = c >= 0; break;
    }
    return LM_OK;
}

/* Python slice index adjustment (PySlice_AdjustIndices). */
static size_t slice_indices(tpl_rt *rt, const tpl_value *vs, const tpl_value *ve, const tpl_value *vt,
                            size_t len, int64_t *start, int64_t *step, lm_status *st) {
    int64_t n = (int64_t)len, b, e, s = 1;
    *st = LM_OK;
    const tpl_value *parts[3] = {vs, ve, vt};
    for (int i = 0; i < 3; i++) {
        const tpl_value *p = parts[i];
        if (p && p->kind != TPL_NONE && p->kind != TPL_INT && p->kind != TPL_BOOL) {
            *st = tpl_rt_fail(rt, LM_ERR_INVALID,
                              "slice indices must be integers or None, not %s", tpl_type_name(p));
            return 0;
        }
    }
    if (vt && vt->kind != TPL_NONE) s = as_i64(vt);
    if (s == 0) {
        *st = tpl_rt_fail(rt, LM_ERR_INVALID, "slice step cannot be zero");
        return 0;
    }
    if (s == INT64_MIN) s = -INT64_MAX;
    if (!vs || vs->kind == TPL_NONE) b = s < 0 ? n - 1 : 0;
    else {
        b = as_i64(vs);
        if (b < 0) { b += n; if (b < 0) b = s < 0 ? -1 : 0; }
        else if (b >= n) b = s < 0 ? n - 1 : n;
    }
    if (!ve || ve->kind == TPL_NONE) e = s < 0 ? -1 : n;
    else {
        e = as_i64(ve);
        if (e < 0) { e += n; if (e < 0) e = s < 0 ? -1 : 0; }
        else if (e >= n) e = s < 0 ? n - 1 : n;
    }
    *start = b;
    *step = s;
    if (s > 0) return e > b ? (size_t)((e - b - 1) / s + 1) : 0;
    return b > e ? (size_t)((b - e - 1) / (-s) + 1) : 0;
}

static lm_status eval_slice(tpl_rt *rt, const tpl_node *n, tpl_value *out) {
    tpl_value obj, parts[3];
    const tpl_value *pp[3] = {NULL, NULL, NULL};
    LM_TRY(eval(rt, n->a, &obj));
    const tpl_node *pn[3] = {n->b, n->c, n->d};
    for (int i = 0; i < 3; i++) {
        if (!pn[i]) continue;
        LM_TRY(eval(rt, pn[i], &parts[i]));
        pp[i] = &parts[i];
    }
    if (obj.kind == TPL_UNDEFINED) return undefined_error(rt, &obj);
    /* slices bypass Jinja2's lenient getitem: Python's TypeErrors surface */
    if (tpl_is_map(&obj)) return tpl_rt_fail(rt, LM_ERR_INVALID, "unhashable type: 'slice'");
    if (obj.kind != TPL_STR && (!tpl_is_seq(&obj) || tpl_is_gen(&obj)))
        return tpl_rt_fail(rt, LM_ERR_INVALID, "'%s' object is not subscriptable", tpl_type_name(&obj));
    int64_t start, step;
    lm_status st;
    if (obj.kind == TPL_STR) {
        size_t len = tpl_utf8_count(obj.u.s.p, obj.u.s.n);
        size_t count = slice_indices(rt, pp[0], pp[1], pp[2], len, &start, &step, &st);
        if (st != LM_OK) return st;
        if (step == 1) {
            size_t a = tpl_utf8_offset(obj.u.s.p, obj.u.s.n, (size_t)start);
            size_t b = a + tpl_utf8_offset(obj.u.s.p + a, obj.u.s.n - a, count);
            *out = tpl_str(obj.u.s.p + a, b - a);
            out->flags = obj.flags & TPL_F_MARKUP;
            return LM_OK;
        }
        tpl_value *chars;
        size_t nchars;
        LM_TRY(tpl_iterate(rt, &obj, &chars, &nchars));
        tpl_sb sb;
        tpl_sb_init(&sb, &rt->arena, rt->max_output);
        for (size_t i = 0; i < count; i++) {
            const tpl_value *c = &chars[start + (int64_t)i * step];
            tpl_sb_add(&sb, c->u.s.p, c->u.s.n);
        }
        LM_TRY(tpl_sb_finish(rt, &sb, out));
        out->flags = obj.flags & TPL_F_MARKUP;
        return LM_OK;
    }
    size_t count = slice_indices(rt, pp[0], pp[1], pp[2], tpl_seq_len(&obj), &start, &step, &st);
    if (st != LM_OK) return st;
    LM_TRY(tpl_make_list(rt, NULL, count, obj.kind == TPL_LIST && (obj.flags & TPL_F_TUPLE), out));
    for (size_t i = 0; i < count; i++)
        out->u.list->items[i] = tpl_seq_get(&obj, (size_t)(start + (int64_t)i * step));
    return LM_OK;
}

static lm_status eval_inner(tpl_rt *rt, const tpl_node *n, tpl_value *out) {
    tpl_value a, b;
    switch ((tpl_node_kind)n->kind) {
    case TPL_N_CONST:
        *out = n->value;
        return LM_OK;
    case TPL_N_NAME:
        lookup_name(rt, n, out);
        return LM_OK;
    case TPL_N_LIST:
    case TPL_N_TUPLE:
        LM_TRY(tpl_make_list(rt, NULL, n->nkids, n->kind == TPL_N_TUPLE, out));
        for (uint32_t i = 0; i < n->nkids; i++) LM_TRY(eval(rt, n->kids[i], &out->u.list->items[i]));
        return LM_OK;
    case TPL_N_DICT:
        LM_TRY(tpl_make_dict(rt, out, 0));
        for (uint32_t i = 0; i < n->nkids; i++) {
            LM_TRY(eval(rt, n->kids[i]->a, &a));
            LM_TRY(eval(rt, n->kids[i]->b, &b));
            if (!(a.kind == TPL_STR || tpl_is_num(&a) || a.kind == TPL_NONE ||
                  (a.kind == TPL_LIST && (a.flags & TPL_F_TUPLE))))
                return tpl_rt_fail(rt, LM_ERR_INVALID, "unhashable type: '%s'", tpl_type_name(&a));
            LM_TRY(tpl_dict_set(rt, out->u.dict, &a, &b));
        }
        return LM_OK;
    case TPL_N_GETATTR:
        LM_TRY(eval(rt, n->a, &a));
        return tpl_getattr(rt, &a, n->s, n->sn, out);
    case TPL_N_GETITEM:
        LM_TRY(eval(rt, n->a, &a));
        LM_TRY(eval(rt, n->b, &b));
        return tpl_getitem(rt, &a, &b, out);
    case TPL_N_SLICE:
        return eval_slice(rt, n, out);
    case TPL_N_CALL: {
        LM_TRY(eval(rt, n->a, &a));
        tpl_args args;
        LM_TRY(eval_args(rt, n, &args));
        return tpl_call(rt, &a, &args, out);
    }
    case TPL_N_FILTER: {
        LM_TRY(eval(rt, n->a, &a));
        if (!n->fn.filter)
            return tpl_rt_fail(rt, LM_ERR_INVALID, "no filter named '%.*s'", (int)n->sn, n->s);
        tpl_args args;
        LM_TRY(eval_args(rt, n, &args));
        return n->fn.filter(rt, &a, &args, out);
    }
    case TPL_N_TEST: {
        LM_TRY(eval(rt, n->a, &a));
        if (!n->fn.test)
            return tpl_rt_fail(rt, LM_ERR_INVALID, "no test named '%.*s'", (int)n->sn, n->s);
        tpl_args args;
        LM_TRY(eval_args(rt, n, &args));
        int r = 0;
        LM_TRY(n->fn.test(rt, &a, &args, &r));
        *out = tpl_bool(r);
        return LM_OK;
    }
    case TPL_N_BINOP:
        LM_TRY(eval(rt, n->a, &a));
        LM_TRY(eval(rt, n->b, &b));
        return binop(rt, n->op, &a, &b, out);
    case TPL_N_COMPARE: {
        LM_TRY(eval(rt, n->a, &a));
        int res = 1;
        for (uint32_t i = 0; i < n->nkids && res; i++) {
            LM_TRY(eval(rt, n->kids[i]->a, &b));
            LM_TRY(compare_op(rt, n->kids[i]->op, &a, &b, &res));
            a = b;
        }
        *out = tpl_bool(res);
        return LM_OK;
    }
    case TPL_N_AND:
        LM_TRY(eval(rt, n->a, out));
        return tpl_truthy(out) ? eval(rt, n->b, out) : LM_OK;
    case TPL_N_OR:
        LM_TRY(eval(rt, n->a, out));
        return tpl_truthy(out) ? LM_OK : eval(rt, n->b, out);
    case TPL_N_NOT:
        LM_TRY(eval(rt, n->a, &a));
        *out = tpl_bool(!tpl_truthy(&a));
        return LM_OK;
    case TPL_N_NEG:
    case TPL_N_POS:
        LM_TRY(eval(rt, n->a, &a));
        if (a.kind == TPL_UNDEFINED) return undefined_error(rt, &a);
        if (!tpl_is_num(&a))
            return tpl_rt_fail(rt, LM_ERR_INVALID, "bad operand type for unary %c: '%s'",
                               n->kind == TPL_N_NEG ? '-' : '+', tpl_type_name(&a));
        if (a.kind == TPL_FLOAT) *out = tpl_float(n->kind == TPL_N_NEG ? -a.u.f : a.u.f);
        else if (n->kind == TPL_N_NEG && as_i64(&a) == INT64_MIN) return overflow(rt);
        else *out = tpl_int(n->kind == TPL_N_NEG ? -as_i64(&a) : as_i64(&a));
        return LM_OK;
    case TPL_N_COND:
        LM_TRY(eval(rt, n->a, &a));
        if (tpl_truthy(&a)) return eval(rt, n->b, out);
        if (n->c) return eval(rt, n->c, out);
        *out = tpl_undef(NULL, 0);
        return LM_OK;
    default:
        return tpl_rt_fail(rt, LM_ERR_INTERNAL, "node kind %d is not an expression", n->kind);
    }
}

static lm_status enter(tpl_rt *rt) {
    if (++rt->depth > rt->max_depth) {
        rt->depth--;
        return tpl_rt_fail(rt, LM_ERR_LIMIT,
                           "template recursion too deep (limit is %d nested evaluations)", rt->max_depth);
    }
    return LM_OK;
}

static lm_status eval(tpl_rt *rt, const tpl_node *n, tpl_value *out) {
    lm_status st = tick(rt);
    if (st == LM_OK) st = enter(rt);
    if (st == LM_OK) {
        st = eval_inner(rt, n, out);
        rt->depth--;
    }
    if (st != LM_OK) locate(rt, n);
    return st;
}

/* ---- macros ---- */

static int arg_name_is(const tpl_args *args, size_t k, const char *s, size_t n) {
    return args->kwlen[k] == n && memcmp(args->kwname[k], s, n) == 0;
}

static lm_status capture(tpl_rt *rt, const tpl_node *body, tpl_value *out) {
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    tpl_sb *saved = rt->out;
    rt->out = &sb;
    lm_status st = exec_body(rt, body);
    rt->out = saved;
    if (st != LM_OK) return st;
    return tpl_sb_finish(rt, &sb, out);
}

/* Captures a set/filter block body, which runs in a scope of its own (as in Jinja2). */
static lm_status capture_scoped(tpl_rt *rt, const tpl_node *body, tpl_value *out) {
    tpl_frame *f = frame_new(rt, rt->scope);
    if (!f) return rt->err->code;
    tpl_frame *saved = rt->scope;
    rt->scope = f;
    lm_status st = capture(rt, body, out);
    rt->scope = saved;
    return st;
}

static lm_status call_macro(tpl_rt *rt, const tpl_macro *m, tpl_args *args, tpl_value *out) {
    LM_TRY(tpl_rt_step(rt));
    const tpl_node *node = m->node;
    const char *name = node->kind == TPL_N_MACRO ? node->s : "caller";
    int name_n = node->kind == TPL_N_MACRO ? (int)node->sn : 6;
    tpl_frame *f = frame_new(rt, m->closure);
    if (!f) return rt->err->code;
    uint32_t nparams = node->nkids;
    unsigned char *used = NULL; /* keyword arguments consumed by parameters */
    if (args->nkw) {
        used = tpl_rt_alloc(rt, args->nkw);
        if (!used) return rt->err->code;
        memset(used, 0, args->nkw);
    }
    int found_caller = 0;
    tpl_frame *saved = rt->scope;
    rt->scope = f; /* defaults are evaluated inside the macro's scope */
    lm_status st = LM_OK;
    for (uint32_t i = 0; i < nparams && st == LM_OK; i++) {
        const tpl_node *prm = node->kids[i];
        tpl_value v;
        int have = 0;
        if (i < args->npos) {
            v = args->pos[i];
            have = 1;
        } else {
            for (size_t k = 0; k < args->nkw; k++) {
                if (!used[k] && arg_name_is(args, k, prm->s, prm->sn)) {
                    v = args->kwval[k];
                    used[k] = 1;
                    have = 1;
                    break;
                }
            }
            if (prm->sym == TPL_SYM_CALLER) found_caller = 1;
        }
        if (!have) {
            if (prm->a) st = eval(rt, prm->a, &v);
            else v = tpl_undef(prm->s, prm->sn);
        }
        if (st == LM_OK) st = frame_set(rt, f, prm->sym, &v);
    }
    if (st == LM_OK && (node->flags & TPL_NF_CALLER) && !found_caller) {
        tpl_value caller = tpl_undef("caller", 6);
        for (size_t k = 0; k < args->nkw; k++) {
            if (!used[k] && arg_name_is(args, k, "caller", 6)) {
                caller = args->kwval[k];
                used[k] = 1;
            }
        }
        st = frame_set(rt, f, TPL_SYM_CALLER, &caller);
    }
    if (st == LM_OK && (node->flags & TPL_NF_KWARGS)) {
        tpl_value kw;
        st = tpl_make_dict(rt, &kw, 0);
        for (size_t k = 0; k < args->nkw && st == LM_OK; k++) {
            if (used[k]) continue;
            tpl_value key = tpl_str(args->kwname[k], args->kwlen[k]);
            st = tpl_dict_set(rt, kw.u.dict, &key, &args->kwval[k]);
            used[k] = 1;
        }
        if (st == LM_OK) st = frame_set(rt, f, TPL_SYM_KWARGS, &kw);
    }
    for (size_t k = 0; k < args->nkw && st == LM_OK; k++) {
        if (used[k]) continue;
        if (arg_name_is(args, k, "caller", 6)) /* a call block around a macro that never calls caller() */
            st = tpl_rt_fail(rt, LM_ERR_INVALID, "macro '%.*s' was invoked with two values for the special caller argument",
                             name_n, name);
        else
            st = tpl_rt_fail(rt, LM_ERR_INVALID, "macro '%.*s' takes no keyword argument '%.*s'",
                             name_n, name, (int)args->kwlen[k], args->kwname[k]);
    }
    if (st == LM_OK && (node->flags & TPL_NF_VARARGS)) {
        tpl_value va;
        size_t extra = args->npos > nparams ? args->npos - nparams : 0;
        st = tpl_make_list(rt, extra ? args->pos + nparams : NULL, extra, 1, &va);
        if (st == LM_OK) st = frame_set(rt, f, TPL_SYM_VARARGS, &va);
    } else if (st == LM_OK && args->npos > nparams) {
        st = tpl_rt_fail(rt, LM_ERR_INVALID, "macro '%.*s' takes not more than %u argument(s)",
                         name_n, name, nparams);
    }
    if (st == LM_OK && m->caller) st = frame_set(rt, f, TPL_SYM_CALLER, m->caller);
    if (st == LM_OK) st = capture(rt, node->body, out);
    rt->scope = saved;
    return st;
}

/* ---- loops ---- */

static int loop_attr(tpl_rt *rt, const tpl_value *obj, const char *name, size_t n, tpl_value *out);

static lm_status loop_cycle(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out) {
    if (args->npos == 0) return tpl_rt_fail(rt, LM_ERR_INVALID, "no items for cycling given");
    *out = args->pos[self->u.loop->index0 % args->npos];
    return LM_OK;
}

static lm_status loop_changed(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out) {
    tpl_loop *l = self->u.loop;
    tpl_value now;
    LM_TRY(tpl_make_list(rt, args->pos, args->npos, 1, &now));
    if (l->changed_last && tpl_equal(l->changed_last, &now)) {
        *out = tpl_bool(0);
        return LM_OK;
    }
    tpl_value *keep = tpl_rt_alloc(rt, sizeof *keep);
    if (!keep) return rt->err->code;
    *keep = now;
    l->changed_last = keep;
    *out = tpl_bool(1);
    return LM_OK;
}

/* Returns 1 when `name` is a loop attribute (filled in `out`), 0 when not, -1 on error. */
static int loop_attr(tpl_rt *rt, const tpl_value *obj, const char *name, size_t n, tpl_value *out) {
    const tpl_loop *l = obj->u.loop;
#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
    if (IS("index")) *out = tpl_int((int64_t)l->index0 + 1);
    else if (IS("index0")) *out = tpl_int((int64_t)l->index0);
    else if (IS("revindex")) *out = tpl_int((int64_t)(l->length - l->index0));
    else if (IS("revindex0")) *out = tpl_int((int64_t)(l->length - l->index0 - 1));
    else if (IS("first")) *out = tpl_bool(l->index0 == 0);
    else if (IS("last")) *out = tpl_bool(l->index0 + 1 == l->length);
    else if (IS("length")) *out = tpl_int((int64_t)l->length);
    else if (IS("depth")) *out = tpl_int(l->depth0 + 1);
    else if (IS("depth0")) *out = tpl_int(l->depth0);
    else if (IS("previtem")) *out = l->index0 > 0 ? l->items[l->index0 - 1] : tpl_undef("previtem", 8);
    else if (IS("nextitem"))
        *out = l->index0 + 1 < l->length ? l->items[l->index0 + 1] : tpl_undef("nextitem", 8);
    else if (IS("cycle") || IS("changed")) {
        tpl_func *fn = tpl_rt_alloc(rt, sizeof *fn);
        tpl_value *self = tpl_rt_alloc(rt, sizeof *self);
        if (!fn || !self) return -1;
        *self = *obj;
        fn->fn = IS("cycle") ? loop_cycle : loop_changed;
        fn->name = IS("cycle") ? "loop.cycle" : "loop.changed";
        fn->self = self;
        out->kind = TPL_FUNC;
        out->flags = 0;
        out->u.fn = fn;
    } else {
        return 0;
    }
#undef IS
    return 1;
}

/* Binds a loop or set target: a NAME, or a TUPLE of NAMEs unpacking a sequence. */
static lm_status bind_target(tpl_rt *rt, tpl_frame *f, const tpl_node *target, const tpl_value *v) {
    if (target->kind == TPL_N_NAME) return frame_set(rt, f, target->sym, v);
    tpl_value *items;
    size_t n;
    LM_TRY(tpl_iterate(rt, v, &items, &n));
    if (n != target->nkids) {
        if (n < target->nkids)
            return tpl_rt_fail(rt, LM_ERR_INVALID, "not enough values to unpack (expected %u, got %zu)",
                               target->nkids, n);
        return tpl_rt_fail(rt, LM_ERR_INVALID, "too many values to unpack (expected %u)", target->nkids);
    }
    for (uint32_t i = 0; i < n; i++) LM_TRY(frame_set(rt, f, target->kids[i]->sym, &items[i]));
    return LM_OK;
}

/* Runs a for loop's body over `seq` in the scope `outer`; depth0 counts recursive calls. */
static lm_status run_loop(tpl_rt *rt, const tpl_node *n, const tpl_value *seq, tpl_frame *outer,
                          int depth0) {
    tpl_value *items;
    size_t count;
    LM_TRY(tpl_iterate(rt, seq, &items, &count));
    tpl_frame *saved = rt->scope;
    lm_status st = LM_OK;
    if (n->c) { /* for x in xs if cond: filter before numbering */
        tpl_value *kept = tpl_rt_alloc(rt, (count ? count : 1) * sizeof *kept);
        tpl_frame *f = frame_new(rt, outer);
        if (!kept || !f) return rt->err->code;
        size_t k = 0;
        rt->scope = f;
        for (size_t i = 0; i < count && st == LM_OK; i++) {
            frame_clear(f);
            tpl_value c;
            st = tpl_rt_step(rt);
            if (st == LM_OK) st = bind_target(rt, f, n->a, &items[i]);
            if (st == LM_OK) st = eval(rt, n->c, &c);
            if (st == LM_OK && tpl_truthy(&c)) kept[k++] = items[i];
        }
        rt->scope = saved;
        if (st != LM_OK) return st;
        items = kept;
        count = k;
    }
    if (count == 0) {
        if (!n->orelse) return LM_OK;
        tpl_frame *f = frame_new(rt, outer);
        if (!f) return rt->err->code;
        rt->scope = f;
        st = exec_body(rt, n->orelse);
        rt->scope = saved;
        return st;
    }
    tpl_loop *loop = tpl_rt_alloc(rt, sizeof *loop);
    if (!loop) return rt->err->code;
    memset(loop, 0, sizeof *loop);
    loop->items = items;
    loop->length = count;
    loop->depth0 = depth0;
    loop->node = n;
    loop->scope = outer;
    tpl_value loopv = {.kind = TPL_LOOP};
    loopv.u.loop = loop;
    tpl_frame *f = frame_new(rt, outer);
    if (!f) return rt->err->code;
    for (size_t i = 0; i < count && st == LM_OK; i++) {
        st = tpl_rt_step(rt);
        if (st != LM_OK) break;
        if (f->captured) { /* a macro defined in the last iteration keeps that scope */
            f = frame_new(rt, outer);
            if (!f) { st = rt->err->code; break; }
        }
        frame_clear(f); /* each iteration starts with fresh local variables */
        loop->index0 = i;
        st = frame_set(rt, f, TPL_SYM_LOOP, &loopv);
        if (st == LM_OK) st = bind_target(rt, f, n->a, &items[i]);
        if (st != LM_OK) break;
        rt->scope = f;
        st = exec_body(rt, n->body);
        rt->scope = saved;
        if (rt->ctl == TPL_CTL_BREAK) { rt->ctl = TPL_CTL_NONE; break; }
        rt->ctl = TPL_CTL_NONE;
    }
    rt->scope = saved;
    return st;
}

/* loop(items) inside a recursive for: renders the body again one level deeper. */
static lm_status loop_call(tpl_rt *rt, tpl_loop *loop, tpl_args *args, tpl_value *out) {
    if (!(loop->node->flags & TPL_NF_RECURSIVE))
        return tpl_rt_fail(rt, LM_ERR_INVALID, "the loop must be marked 'recursive' to be called");
    if (args->npos != 1 || args->nkw)
        return tpl_rt_fail(rt, LM_ERR_INVALID, "loop() takes exactly one argument");
    LM_TRY(tpl_rt_step(rt));
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    tpl_sb *saved = rt->out;
    rt->out = &sb;
    int ctl = rt->ctl;
    lm_status st = run_loop(rt, loop->node, &args->pos[0], loop->scope, loop->depth0 + 1);
    rt->ctl = ctl;
    rt->out = saved;
    if (st != LM_OK) return st;
    return tpl_sb_finish(rt, &sb, out);
}

/* ---- statements ---- */

static lm_status write_out(tpl_rt *rt, const tpl_value *v) {
    tpl_write_str(rt->out, v);
    if (rt->out->failed) {
        tpl_value dummy;
        return tpl_sb_finish(rt, rt->out, &dummy);
    }
    return LM_OK;
}

static lm_status assign(tpl_rt *rt, const tpl_node *target, const tpl_value *v) {
    if (target->kind == TPL_N_NSREF) {
        tpl_value ns;
        lookup_name(rt, target->a, &ns);
        if (ns.kind != TPL_NS)
            return tpl_rt_fail(rt, LM_ERR_INVALID, "cannot assign attribute on non-namespace object");
        tpl_value key = tpl_str(target->s, target->sn);
        return tpl_dict_set(rt, ns.u.dict, &key, v);
    }
    return bind_target(rt, rt->scope, target, v);
}

static lm_status exec_stmt(tpl_rt *rt, const tpl_node *n) {
    tpl_value v;
    switch ((tpl_node_kind)n->kind) {
    case TPL_N_DATA:
        tpl_sb_add(rt->out, n->s, n->sn);
        if (rt->out->failed) return tpl_sb_finish(rt, rt->out, &v);
        return LM_OK;
    case TPL_N_OUTPUT:
        LM_TRY(eval(rt, n->a, &v));
        return write_out(rt, &v);
    case TPL_N_IF:
        LM_TRY(eval(rt, n->a, &v));
        if (tpl_truthy(&v)) return exec_body(rt, n->body);
        return n->orelse ? exec_body(rt, n->orelse) : LM_OK;
    case TPL_N_FOR:
        LM_TRY(eval(rt, n->b, &v));
        return run_loop(rt, n, &v, rt->scope, 0);
    case TPL_N_SET:
        LM_TRY(eval(rt, n->b, &v));
        return assign(rt, n->a, &v);
    case TPL_N_SET_BLOCK:
        LM_TRY(capture_scoped(rt, n->body, &v));
        if (n->c) LM_TRY(apply_filter_chain(rt, n->c, &v, &v));
        return assign(rt, n->a, &v);
    case TPL_N_FILTER_BLOCK:
        LM_TRY(capture_scoped(rt, n->body, &v));
        LM_TRY(apply_filter_chain(rt, n->a, &v, &v));
        return write_out(rt, &v);
    case TPL_N_MACRO: {
        tpl_macro *m = tpl_rt_alloc(rt, sizeof *m);
        if (!m) return rt->err->code;
        m->node = n;
        m->closure = rt->scope;
        m->caller = NULL;
        rt->scope->captured = 1;
        v.kind = TPL_MACRO;
        v.flags = 0;
        v.u.macro = m;
        return frame_set(rt, rt->scope, n->sym, &v);
    }
    case TPL_N_CALL_BLOCK: {
        /* {% call(params) m(args) %}body{% endcall %}: m(args, caller=<body as a macro>) */
        tpl_macro *caller = tpl_rt_alloc(rt, sizeof *caller);
        if (!caller) return rt->err->code;
        caller->node = n;
        caller->closure = rt->scope;
        caller->caller = NULL;
        rt->scope->captured = 1;
        tpl_value callee, callerv = {.kind = TPL_MACRO};
        callerv.u.macro = caller;
        LM_TRY(eval(rt, n->a->a, &callee));
        tpl_args args, full;
        LM_TRY(eval_args(rt, n->a, &args));
        full = args;
        full.kwname = tpl_rt_alloc(rt, (args.nkw + 1) * sizeof *full.kwname);
        full.kwlen = tpl_rt_alloc(rt, (args.nkw + 1) * sizeof *full.kwlen);
        full.kwval = tpl_rt_alloc(rt, (args.nkw + 1) * sizeof *full.kwval);
        if (!full.kwname || !full.kwlen || !full.kwval) return rt->err->code;
        for (size_t i = 0; i < args.nkw; i++) {
            full.kwname[i] = args.kwname[i];
            full.kwlen[i] = args.kwlen[i];
            full.kwval[i] = args.kwval[i];
        }
        full.kwname[args.nkw] = "caller";
        full.kwlen[args.nkw] = 6;
        full.kwval[args.nkw] = callerv;
        full.nkw = args.nkw + 1;
        LM_TRY(tpl_call(rt, &callee, &full, &v));
        return write_out(rt, &v);
    }
    case TPL_N_WITH: {
        tpl_frame *f = frame_new(rt, rt->scope);
        if (!f) return rt->err->code;
        for (uint32_t i = 0; i < n->nkids; i++) { /* values see the outer scope */
            LM_TRY(eval(rt, n->kids[i]->b, &v));
            LM_TRY(bind_target(rt, f, n->kids[i]->a, &v));
        }
        tpl_frame *saved = rt->scope;
        rt->scope = f;
        lm_status st = exec_body(rt, n->body);
        rt->scope = saved;
        return st;
    }
    case TPL_N_BREAK:
        rt->ctl = TPL_CTL_BREAK;
        return LM_OK;
    case TPL_N_CONTINUE:
        rt->ctl = TPL_CTL_CONTINUE;
        return LM_OK;
    case TPL_N_BODY:
        return exec_body(rt, n);
    default:
        return tpl_rt_fail(rt, LM_ERR_INTERNAL, "node kind %d is not a statement", n->kind);
    }
}

static lm_status exec_body(tpl_rt *rt, const tpl_node *body) {
    LM_TRY(enter(rt));
    lm_status st = LM_OK;
    for (uint32_t i = 0; i < body->nkids && st == LM_OK && rt->ctl == TPL_CTL_NONE; i++) {
        const tpl_node *s = body->kids[i];
        st = exec_stmt(rt, s);
        if (st != LM_OK) locate(rt, s);
    }
    rt->depth--;
    return st;
}

lm_status tpl_interp_run(tpl_rt *rt, const tpl_node *root) {
    if (!rt->scope) {
        rt->scope = frame_new(rt, NULL);
        if (!rt->scope) return rt->err->code;
    }
    return exec_body(rt, root);
}
