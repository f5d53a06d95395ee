/* methods.c — Python methods callable on template values (str, dict, list/tuple), printf-style
 * `%` and str.format() formatting, and markupsafe.escape. One table per receiver type. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/builtins.h"
#include "template/interp.h"
#include "template/pystr.h"

/* ---- small helpers ---- */

static lm_status want_str(tpl_rt *rt, const char *what, const tpl_value *v) {
    if (v->kind == TPL_STR) return LM_OK;
    if (v->kind == TPL_UNDEFINED && v->u.s.p)
        return tpl_rt_fail(rt, LM_ERR_INVALID, "'%.*s' is undefined", (int)v->u.s.n, v->u.s.p);
    return tpl_rt_fail(rt, LM_ERR_INVALID, "%s: expected str, got %s", what, tpl_type_name(v));
}

static lm_status want_int(tpl_rt *rt, const char *what, const tpl_value *v, int64_t *out) {
    if (v->kind == TPL_INT) { *out = v->u.i; return LM_OK; }
    if (v->kind == TPL_BOOL) { *out = v->u.b; return LM_OK; }
    return tpl_rt_fail(rt, LM_ERR_INVALID, "%s: '%s' object cannot be interpreted as an integer",
                       what, tpl_type_name(v));
}

static tpl_value substr(const tpl_value *s, size_t a, size_t b) {
    tpl_value v = tpl_str(s->u.s.p + a, b - a);
    v.flags = s->flags & TPL_F_MARKUP;
    return v;
}

/* Growable value array in the arena. */
typedef struct {
    tpl_value *v;
    size_t n, cap;
} valvec;

static lm_status vv_push(tpl_rt *rt, valvec *vv, tpl_value v) {
    /* a piece of a split stands for the bytes scanned to find it: charged to the time budget */
    LM_TRY(tpl_rt_work(rt, 8 + (v.kind == TPL_STR ? v.u.s.n : 0)));
    if (vv->n == vv->cap) {
        size_t cap = vv->cap ? vv->cap * 2 : 8;
        tpl_value *p = arena_grow(&rt->arena, vv->v, vv->cap * sizeof *p, cap * sizeof *p);
        if (!p) return tpl_rt_nomem(rt);
        vv->v = p;
        vv->cap = cap;
    }
    vv->v[vv->n++] = v;
    return LM_OK;
}

/* Offset of the last `sub` (sn > 0 bytes) inside p[lo, hi), or (size_t)-1 in *at. A plain backward
 * scan, up to (hi - lo) * sn byte comparisons for a hostile separator, so it charges its work to
 * the time budget as it goes. */
static lm_status rfind_bytes(tpl_rt *rt, const char *p, size_t lo, size_t hi, const char *sub, size_t sn,
                             size_t *at) {
    *at = (size_t)-1;
    if (hi < lo || sn > hi - lo) return LM_OK;
    size_t since = 0;
    for (size_t k = hi - sn + 1; k-- > lo;) {
        if (p[k] == sub[0] && memcmp(p + k, sub, sn) == 0) {
            *at = k;
            break;
        }
        if (++since == 1024) {
            since = 0;
            LM_TRY(tpl_rt_work(rt, 1024 * sn));
        }
    }
    return LM_OK;
}

static lm_status vv_list(tpl_rt *rt, valvec *vv, tpl_value *out) {
    return tpl_make_list(rt, vv->v, vv->n, 0, out);
}

/* Code point index (Python slice semantics for start/end arguments) to byte offsets. */
static void cp_range(const tpl_value *s, const tpl_value *start, const tpl_value *end, size_t *a,
                     size_t *b) {
    size_t len = tpl_utf8_count(s->u.s.p, s->u.s.n);
    int64_t st = 0, en = (int64_t)len;
    if (start && !tpl_arg_missing(start) && start->kind != TPL_NONE)
        st = start->kind == TPL_INT ? start->u.i : start->u.b;
    if (end && !tpl_arg_missing(end) && end->kind != TPL_NONE)
        en = end->kind == TPL_INT ? end->u.i : end->u.b;
    if (st < 0) st = st + (int64_t)len < 0 ? 0 : st + (int64_t)len;
    if (en < 0) en = en + (int64_t)len < 0 ? 0 : en + (int64_t)len;
    if (st > (int64_t)len) st = (int64_t)len;
    if (en > (int64_t)len) en = (int64_t)len;
    if (en < st) en = st;
    *a = tpl_utf8_offset(s->u.s.p, s->u.s.n, (size_t)st);
    *b = tpl_utf8_offset(s->u.s.p, s->u.s.n, (size_t)en);
}

/* ---- case, strip, replace, splitlines (shared with filters) ---- */

static int jinja_title_sep(uint32_t c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || tpl_py_isspace(c);
}

lm_status tpl_str_case(tpl_rt *rt, const tpl_value *s, int mode, tpl_value *out) {
    LM_TRY(want_str(rt, "case conversion", s));
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    const char *p = s->u.s.p;
    size_t n = s->u.s.n, i = 0;
    int prev_cased = 0, first = 1, prev_sep = -1;
    while (i < n) {
        uint32_t c;
        int len = tpl_utf8_decode(p + i, n - i, &c);
        if (len <= 0) { c = (unsigned char)p[i]; len = 1; }
        int up = 0;
        switch (mode) {
        case TPL_CASE_UPPER: up = 1; break;
        case TPL_CASE_LOWER: up = 0; break;
        case TPL_CASE_TITLE: up = !prev_cased; break;
        case TPL_CASE_CAPITALIZE: up = first; break;
        case TPL_CASE_SWAP: up = tpl_py_islower(c); break;
        case TPL_CASE_JINJA_TITLE: {
            int sep = jinja_title_sep(c);
            up = first || sep != prev_sep;
            prev_sep = sep;
            break;
        }
        }
        if (mode == TPL_CASE_SWAP && !tpl_py_iscased(c)) tpl_sb_addcp(&sb, c);
        else if (up && c == 0xdf) tpl_sb_add(&sb, "SS", 2);
        else if (!up && c == 0x130) tpl_sb_add(&sb, "i\xcc\x87", 3);
        else tpl_sb_addcp(&sb, up ? tpl_py_toupper(c) : tpl_py_tolower(c));
        prev_cased = tpl_py_iscased(c);
        first = 0;
        i += (size_t)len;
    }
    LM_TRY(tpl_sb_finish(rt, &sb, out));
    out->flags = s->flags & TPL_F_MARKUP;
    return LM_OK;
}

static int cp_in(uint32_t c, const tpl_value *chars) {
    const char *p = chars->u.s.p;
    size_t n = chars->u.s.n, i = 0;
    while (i < n) {
        uint32_t d;
        int len = tpl_utf8_decode(p + i, n - i, &d);
        if (len <= 0) return 0;
        if (d == c) return 1;
        i += (size_t)len;
    }
    return 0;
}

lm_status tpl_str_strip(tpl_rt *rt, const tpl_value *s, const tpl_value *chars, int left,
                        int right, tpl_value *out) {
    LM_TRY(want_str(rt, "strip", s));
    int ws = !chars || tpl_arg_missing(chars) || chars->kind == TPL_NONE;
    if (!ws) LM_TRY(want_str(rt, "strip arg", chars));
    const char *p = s->u.s.p;
    size_t a = 0, b = s->u.s.n;
    if (left) {
        while (a < b) {
            uint32_t c;
            int len = tpl_utf8_decode(p + a, b - a, &c);
            if (len <= 0 || !(ws ? tpl_py_isspace(c) : cp_in(c, chars))) break;
            a += (size_t)len;
            LM_TRY(tpl_rt_work(rt, ws ? 1 : chars->u.s.n)); /* cp_in scans all of chars */
        }
    }
    if (right) {
        while (b > a) {
            size_t st = b - 1;
            while (st > a && ((unsigned char)p[st] & 0xc0) == 0x80) st--;
            uint32_t c;
            if (tpl_utf8_decode(p + st, b - st, &c) <= 0 || !(ws ? tpl_py_isspace(c) : cp_in(c, chars))) break;
            LM_TRY(tpl_rt_work(rt, ws ? 1 : chars->u.s.n));
            b = st;
        }
    }
    *out = substr(s, a, b);
    return LM_OK;
}

lm_status tpl_str_replace(tpl_rt *rt, const tpl_value *s, const tpl_value *old,
                          const tpl_value *repl, int64_t count, tpl_value *out) {
    LM_TRY(want_str(rt, "replace", s));
    LM_TRY(want_str(rt, "replace arg 1", old));
    LM_TRY(want_str(rt, "replace arg 2", repl));
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    const char *p = s->u.s.p;
    size_t n = s->u.s.n;
    if (old->u.s.n == 0) { /* Python inserts `new` before every character and at the end */
        size_t i = 0;
        while (i <= n) {
            if (count != 0) {
                tpl_sb_add(&sb, repl->u.s.p, repl->u.s.n);
                if (count > 0) count--;
            }
            if (i == n) break;
            size_t j = i + 1;
            while (j < n && ((unsigned char)p[j] & 0xc0) == 0x80) j++;
            tpl_sb_add(&sb, p + i, j - i);
            i = j;
        }
    } else {
        size_t i = 0;
        while (i < n) {
            const char *hit = count != 0 ? memmem(p + i, n - i, old->u.s.p, old->u.s.n) : NULL;
            if (!hit) {
                tpl_sb_add(&sb, p + i, n - i);
                break;
            }
            tpl_sb_add(&sb, p + i, (size_t)(hit - (p + i)));
            tpl_sb_add(&sb, repl->u.s.p, repl->u.s.n);
            LM_TRY(tpl_rt_work(rt, 8 + (size_t)(hit - (p + i)) + old->u.s.n + repl->u.s.n));
            i = (size_t)(hit - p) + old->u.s.n;
            if (count > 0) count--;
        }
    }
    LM_TRY(tpl_sb_finish(rt, &sb, out));
    out->flags = s->flags & TPL_F_MARKUP;
    return LM_OK;
}

/* Line boundaries of str.splitlines(): \n \r \r\n \v \f \x1c-\x1e \x85 \u2028 \u2029. */
static int line_break(uint32_t c) {
    return c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || (c >= 0x1c && c <= 0x1e) ||
           c == 0x85 || c == 0x2028 || c == 0x2029;
}

lm_status tpl_str_splitlines(tpl_rt *rt, const tpl_value *s, int keepends, tpl_value *out) {
    LM_TRY(want_str(rt, "splitlines", s));
    valvec vv = {0};
    const char *p = s->u.s.p;
    size_t n = s->u.s.n, start = 0, i = 0;
    while (i < n) {
        uint32_t c;
        int len = tpl_utf8_decode(p + i, n - i, &c);
        if (len <= 0) { len = 1; c = 0; }
        if (!line_break(c)) { i += (size_t)len; continue; }
        size_t end = i + (size_t)len;
        if (c == '\r' && end < n && p[end] == '\n') end++;
        LM_TRY(vv_push(rt, &vv, substr(s, start, keepends ? end : i)));
        start = i = end;
    }
    if (start < n) LM_TRY(vv_push(rt, &vv, substr(s, start, n)));
    return vv_list(rt, &vv, out);
}

/* ---- str methods ---- */

#define METHOD(name) static lm_status name(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out)

#define BIND(what, ...)                                                                          \
    static const char *const names_[] = {__VA_ARGS__};                                           \
    tpl_value a[sizeof names_ / sizeof names_[0]];                                               \
    LM_TRY(tpl_bind_args(rt, what, args, names_, sizeof names_ / sizeof names_[0], a, NULL))

#define NOARGS(what)                                                                             \
    LM_TRY(tpl_bind_args(rt, what, args, NULL, 0, NULL, NULL))

/* Most Python str/dict/list methods take positional arguments only. */
#define POSONLY(what)                                                                            \
    do {                                                                                         \
        if (args->nkw)                                                                           \
            return tpl_rt_fail(rt, LM_ERR_INVALID, "%s() takes no keyword arguments", what);     \
    } while (0)

METHOD(m_strip) { POSONLY("str.strip"); BIND("str.strip", "chars"); return tpl_str_strip(rt, self, &a[0], 1, 1, out); }
METHOD(m_lstrip) { POSONLY("str.lstrip"); BIND("str.lstrip", "chars"); return tpl_str_strip(rt, self, &a[0], 1, 0, out); }
METHOD(m_rstrip) { POSONLY("str.rstrip"); BIND("str.rstrip", "chars"); return tpl_str_strip(rt, self, &a[0], 0, 1, out); }
METHOD(m_upper) { NOARGS("str.upper"); return tpl_str_case(rt, self, TPL_CASE_UPPER, out); }
METHOD(m_lower) { NOARGS("str.lower"); return tpl_str_case(rt, self, TPL_CASE_LOWER, out); }
METHOD(m_title) { NOARGS("str.title"); return tpl_str_case(rt, self, TPL_CASE_TITLE, out); }
METHOD(m_capitalize) { NOARGS("str.capitalize"); return tpl_str_case(rt, self, TPL_CASE_CAPITALIZE, out); }
METHOD(m_swapcase) { NOARGS("str.swapcase"); return tpl_str_case(rt, self, TPL_CASE_SWAP, out); }

METHOD(m_replace) {
    POSONLY("str.replace");
    BIND("str.replace", "old", "new", "count");
    if (tpl_arg_missing(&a[0]) || tpl_arg_missing(&a[1]))
        return tpl_rt_fail(rt, LM_ERR_INVALID, "str.replace() takes at least 2 arguments");
    int64_t count = -1;
    if (!tpl_arg_missing(&a[2])) LM_TRY(want_int(rt, "str.replace", &a[2], &count));
    return tpl_str_replace(rt, self, &a[0], &a[1], count, out);
}

METHOD(m_splitlines) {
    BIND("str.splitlines", "keepends");
    return tpl_str_splitlines(rt, self, !tpl_arg_missing(&a[0]) && tpl_truthy(&a[0]), out);
}

/* str.split / str.rsplit: on runs of whitespace without `sep`, else on `sep` exactly. */
static lm_status split(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out, int from_right) {
    BIND(from_right ? "str.rsplit" : "str.split", "sep", "maxsplit");
    int64_t maxsplit = -1;
    if (!tpl_arg_missing(&a[1])) LM_TRY(want_int(rt, "split", &a[1], &maxsplit));
    int ws = tpl_arg_missing(&a[0]) || a[0].kind == TPL_NONE;
    if (!ws) {
        LM_TRY(want_str(rt, "split separator", &a[0]));
        if (a[0].u.s.n == 0) return tpl_rt_fail(rt, LM_ERR_INVALID, "empty separator");
    }
    const char *p = self->u.s.p;
    size_t n = self->u.s.n;
    valvec vv = {0};
    if (!ws) {
        const char *sep = a[0].u.s.p;
        size_t sn = a[0].u.s.n;
        if (!from_right) {
            size_t i = 0;
            for (;;) {
                const char *hit = maxsplit != 0 ? memmem(p + i, n - i, sep, sn) : NULL;
                if (!hit) break;
                LM_TRY(vv_push(rt, &vv, substr(self, i, (size_t)(hit - p))));
                i = (size_t)(hit - p) + sn;
                if (maxsplit > 0) maxsplit--;
            }
            LM_TRY(vv_push(rt, &vv, substr(self, i, n)));
        } else {
            size_t end = n;
            valvec rev = {0};
            while (maxsplit != 0 && end >= sn) {
                size_t found;
                LM_TRY(rfind_bytes(rt, p, 0, end, sep, sn, &found));
                if (found == (size_t)-1) break;
                LM_TRY(vv_push(rt, &rev, substr(self, found + sn, end)));
                end = found;
                if (maxsplit > 0) maxsplit--;
            }
            LM_TRY(vv_push(rt, &rev, substr(self, 0, end)));
            for (size_t k = rev.n; k-- > 0;) LM_TRY(vv_push(rt, &vv, rev.v[k]));
        }
        return vv_list(rt, &vv, out);
    }
    if (!from_right) {
        size_t i = tpl_py_ws_prefix(p, n);
        while (i < n) {
            if (maxsplit == 0) { /* the rest, trailing whitespace kept */
                LM_TRY(vv_push(rt, &vv, substr(self, i, n)));
                break;
            }
            size_t j = i;
            while (j < n) {
                uint32_t c;
                int len = tpl_utf8_decode(p + j, n - j, &c);
                if (len <= 0) len = 1;
                else if (tpl_py_isspace(c)) break;
                j += (size_t)len;
            }
            LM_TRY(vv_push(rt, &vv, substr(self, i, j)));
            i = j + tpl_py_ws_prefix(p + j, n - j);
            if (maxsplit > 0) maxsplit--;
        }
        return vv_list(rt, &vv, out);
    }
    valvec rev = {0};
    size_t end = n - tpl_py_ws_suffix(p, n);
    while (end > 0) {
        if (maxsplit == 0) { /* the rest, leading whitespace kept */
            LM_TRY(vv_push(rt, &rev, substr(self, 0, end)));
            break;
        }
        size_t j = end;
        while (j > 0) {
            size_t st = j - 1;
            while (st > 0 && ((unsigned char)p[st] & 0xc0) == 0x80) st--;
            uint32_t c;
            if (tpl_utf8_decode(p + st, j - st, &c) > 0 && tpl_py_isspace(c)) break;
            j = st;
        }
        LM_TRY(vv_push(rt, &rev, substr(self, j, end)));
        end = j - tpl_py_ws_suffix(p, j);
        if (maxsplit > 0) maxsplit--;
    }
    for (size_t k = rev.n; k-- > 0;) LM_TRY(vv_push(rt, &vv, rev.v[k]));
    return vv_list(rt, &vv, out);
}

METHOD(m_split) { return split(rt, self, args, out, 0); }
METHOD(m_rsplit) { return split(rt, self, args, out, 1); }

static lm_status affix(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out, int at_end) {
    POSONLY(at_end ? "str.endswith" : "str.startswith");
    BIND(at_end ? "str.endswith" : "str.startswith", "prefix", "start", "end");
    if (tpl_arg_missing(&a[0]))
        return tpl_rt_fail(rt, LM_ERR_INVALID, "startswith/endswith takes at least 1 argument");
    size_t lo, hi;
    cp_range(self, &a[1], &a[2], &lo, &hi);
    const char *p = self->u.s.p + lo;
    size_t n = hi - lo;
    tpl_value one = a[0], *cands = &one;
    size_t ncands = 1;
    if (tpl_is_seq(&a[0])) LM_TRY(tpl_iterate(rt, &a[0], &cands, &ncands));
    for (size_t i = 0; i < ncands; i++) {
        LM_TRY(want_str(rt, at_end ? "endswith" : "startswith", &cands[i]));
        size_t k = cands[i].u.s.n;
        if (k <= n && memcmp(at_end ? p + n - k : p, cands[i].u.s.p, k) == 0) {
            *out = tpl_bool(1);
            return LM_OK;
        }
    }
    *out = tpl_bool(0);
    return LM_OK;
}

METHOD(m_startswith) { return affix(rt, self, args, out, 0); }
METHOD(m_endswith) { return affix(rt, self, args, out, 1); }

/* find/rfind/index/rindex/count: code point positions, optional start/end. */
static lm_status search(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out,
                        const char *what, int from_right, int raise, int count) {
    POSONLY(what);
    BIND(what, "sub", "start", "end");
    if (tpl_arg_missing(&a[0])) return tpl_rt_fail(rt, LM_ERR_INVALID, "%s() takes at least 1 argument", what);
    LM_TRY(want_str(rt, what, &a[0]));
    size_t lo, hi;
    cp_range(self, &a[1], &a[2], &lo, &hi);
    const char *p = self->u.s.p, *sub = a[0].u.s.p;
    size_t sn = a[0].u.s.n;
    if (count) {
        int64_t c = 0;
        if (sn == 0) c = (int64_t)tpl_utf8_count(p + lo, hi - lo) + 1;
        else
            for (size_t i = lo; i + sn <= hi;) {
                const char *h = memmem(p + i, hi - i, sub, sn);
                if (!h) break;
                LM_TRY(tpl_rt_work(rt, 8 + (size_t)(h - (p + i)) + sn));
                c++;
                i = (size_t)(h - p) + sn;
            }
        *out = tpl_int(c);
        return LM_OK;
    }
    int64_t pos = -1;
    if (sn <= hi - lo) {
        if (!from_right) {
            const char *h = sn ? memmem(p + lo, hi - lo, sub, sn) : p + lo;
            if (h) pos = (int64_t)tpl_utf8_count(p, (size_t)(h - p));
        } else {
            size_t k;
            LM_TRY(sn ? rfind_bytes(rt, p, lo, hi, sub, sn, &k) : (k = hi, LM_OK));
            if (k != (size_t)-1) pos = (int64_t)tpl_utf8_count(p, k);
        }
    }
    if (pos < 0 && raise) return tpl_rt_fail(rt, LM_ERR_INVALID, "substring not found");
    *out = tpl_int(pos);
    return LM_OK;
}

METHOD(m_find) { return search(rt, self, args, out, "str.find", 0, 0, 0); }
METHOD(m_rfind) { return search(rt, self, args, out, "str.rfind", 1, 0, 0); }
METHOD(m_index) { return search(rt, self, args, out, "str.index", 0, 1, 0); }
METHOD(m_rindex) { return search(rt, self, args, out, "str.rindex", 1, 1, 0); }
METHOD(m_count) { return search(rt, self, args, out, "str.count", 0, 0, 1); }

METHOD(m_join) {
    POSONLY("str.join");
    BIND("str.join", "iterable");
    tpl_value *items;
    size_t n;
    LM_TRY(tpl_iterate(rt, &a[0], &items, &n));
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    for (size_t i = 0; i < n; i++) {
        if (items[i].kind != TPL_STR)
            return tpl_rt_fail(rt, LM_ERR_INVALID, "sequence item %zu: expected str instance, %s found",
                               i, tpl_type_name(&items[i]));
        if (i) tpl_sb_add(&sb, self->u.s.p, self->u.s.n);
        tpl_sb_add(&sb, items[i].u.s.p, items[i].u.s.n);
    }
    return tpl_sb_finish(rt, &sb, out);
}

/* is*(): true when non-empty and every code point passes `pred`. */
static lm_status all_chars(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out,
                           int (*pred)(uint32_t)) {
    NOARGS("str.is*");
    size_t i = 0, n = self->u.s.n;
    int ok = n > 0;
    while (i < n && ok) {
        uint32_t c;
        int len = tpl_utf8_decode(self->u.s.p + i, n - i, &c);
        if (len <= 0) break;
        ok = pred(c);
        i += (size_t)len;
    }
    *out = tpl_bool(ok);
    return LM_OK;
}

static int is_alnum(uint32_t c) { return tpl_py_isalpha(c) || tpl_py_isdigit(c); }

METHOD(m_isdigit) { return all_chars(rt, self, args, out, tpl_py_isdigit); }
METHOD(m_isalpha) { return all_chars(rt, self, args, out, tpl_py_isalpha); }
METHOD(m_isalnum) { return all_chars(rt, self, args, out, is_alnum); }
METHOD(m_isspace) { return all_chars(rt, self, args, out, tpl_py_isspace); }

/* islower/isupper: at least one cased character and none of the other case. */
static lm_status case_check(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out, int upper) {
    NOARGS("str.islower/isupper");
    size_t i = 0, n = self->u.s.n;
    int cased = 0, ok = 1;
    while (i < n) {
        uint32_t c;
        int len = tpl_utf8_decode(self->u.s.p + i, n - i, &c);
        if (len <= 0) break;
        if (upper ? tpl_py_islower(c) : tpl_py_isupper(c)) ok = 0;
        if (upper ? tpl_py_isupper(c) : tpl_py_islower(c)) cased = 1;
        i += (size_t)len;
    }
    *out = tpl_bool(ok && cased);
    return LM_OK;
}

METHOD(m_islower) { return case_check(rt, self, args, out, 0); }
METHOD(m_isupper) { return case_check(rt, self, args, out, 1); }

/* center/ljust/rjust/zfill: pad to a width in code points. */
static lm_status pad(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out, char how) {
    POSONLY("str.center/ljust/rjust/zfill");
    BIND("str.center/ljust/rjust", "width", "fillchar");
    int64_t width = 0;
    if (tpl_arg_missing(&a[0])) return tpl_rt_fail(rt, LM_ERR_INVALID, "padding needs a width");
    LM_TRY(want_int(rt, "width", &a[0], &width));
    const char *fill = " ";
    size_t fill_n = 1;
    if (!tpl_arg_missing(&a[1])) {
        LM_TRY(want_str(rt, "fillchar", &a[1]));
        if (tpl_utf8_count(a[1].u.s.p, a[1].u.s.n) != 1)
            return tpl_rt_fail(rt, LM_ERR_INVALID, "the fill character must be exactly one character long");
        fill = a[1].u.s.p;
        fill_n = a[1].u.s.n;
    }
    size_t len = tpl_utf8_count(self->u.s.p, self->u.s.n);
    if (width <= (int64_t)len) { *out = *self; return LM_OK; }
    if ((uint64_t)width > rt->max_output) return tpl_rt_fail(rt, LM_ERR_LIMIT, "padding width too large");
    size_t total = (size_t)width - len, left = 0;
    if (how == 'r') left = total;
    else if (how == 'c') left = total / 2 + (total & (size_t)width & 1); /* CPython's rounding */
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    if (how == 'z') {
        size_t sign = self->u.s.n && (self->u.s.p[0] == '-' || self->u.s.p[0] == '+');
        tpl_sb_add(&sb, self->u.s.p, sign);
        for (size_t i = 0; i < total; i++) tpl_sb_addc(&sb, '0');
        tpl_sb_add(&sb, self->u.s.p + sign, self->u.s.n - sign);
        return tpl_sb_finish(rt, &sb, out);
    }
    for (size_t i = 0; i < left; i++) tpl_sb_add(&sb, fill, fill_n);
    tpl_sb_add(&sb, self->u.s.p, self->u.s.n);
    for (size_t i = left; i < total; i++) tpl_sb_add(&sb, fill, fill_n);
    return tpl_sb_finish(rt, &sb, out);
}

METHOD(m_center) { return pad(rt, self, args, out, 'c'); }
METHOD(m_ljust) { return pad(rt, self, args, out, 'l'); }
METHOD(m_rjust) { return pad(rt, self, args, out, 'r'); }
METHOD(m_zfill) { return pad(rt, self, args, out, 'z'); }

static lm_status partition(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out, int right) {
    POSONLY("str.partition");
    BIND("str.partition", "sep");
    LM_TRY(want_str(rt, "partition", &a[0]));
    if (a[0].u.s.n == 0) return tpl_rt_fail(rt, LM_ERR_INVALID, "empty separator");
    const char *p = self->u.s.p, *sep = a[0].u.s.p;
    size_t n = self->u.s.n, sn = a[0].u.s.n, at = (size_t)-1;
    if (!right) {
        const char *h = memmem(p, n, sep, sn);
        if (h) at = (size_t)(h - p);
    } else {
        LM_TRY(rfind_bytes(rt, p, 0, n, sep, sn, &at));
    }
    tpl_value parts[3];
    if (at == (size_t)-1) {
        parts[0] = right ? tpl_str("", 0) : *self;
        parts[1] = tpl_str("", 0);
        parts[2] = right ? *self : tpl_str("", 0);
    } else {
        parts[0] = substr(self, 0, at);
        parts[1] = a[0];
        parts[2] = substr(self, at + sn, n);
    }
    return tpl_make_list(rt, parts, 3, 1, out);
}

METHOD(m_partition) { return partition(rt, self, args, out, 0); }
METHOD(m_rpartition) { return partition(rt, self, args, out, 1); }

static lm_status remove_affix(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out, int suffix) {
    POSONLY("str.removeprefix");
    BIND("str.removeprefix", "affix");
    LM_TRY(want_str(rt, "removeprefix/removesuffix", &a[0]));
    size_t k = a[0].u.s.n, n = self->u.s.n;
    *out = *self;
    if (k <= n && memcmp(suffix ? self->u.s.p + n - k : self->u.s.p, a[0].u.s.p, k) == 0)
        *out = suffix ? substr(self, 0, n - k) : substr(self, k, n);
    return LM_OK;
}

METHOD(m_removeprefix) { return remove_affix(rt, self, args, out, 0); }
METHOD(m_removesuffix) { return remove_affix(rt, self, args, out, 1); }

METHOD(m_format) { return tpl_str_format(rt, self, args, out); }

/* ---- dict methods ---- */

METHOD(m_items) {
    NOARGS("dict.items");
    tpl_value *keys, *vals;
    size_t n;
    LM_TRY(tpl_map_pairs(rt, self, &keys, &vals, &n));
    LM_TRY(tpl_make_list(rt, NULL, n, 0, out));
    for (size_t i = 0; i < n; i++) {
        tpl_value pair[2] = {keys[i], vals[i]};
        LM_TRY(tpl_make_list(rt, pair, 2, 1, &out->u.list->items[i]));
    }
    return LM_OK;
}

static lm_status dict_part(tpl_rt *rt, const tpl_value *self, tpl_args *args, tpl_value *out, int values) {
    NOARGS(values ? "dict.values" : "dict.keys");
    tpl_value *keys, *vals;
    size_t n;
    LM_TRY(tpl_map_pairs(rt, self, &keys, &vals, &n));
    return tpl_make_list(rt, values ? vals : keys, n, 0, out);
}

METHOD(m_keys) { return dict_part(rt, self, args, out, 0); }
METHOD(m_values) { return dict_part(rt, self, args, out, 1); }

METHOD(m_get) {
    POSONLY("dict.get");
    BIND("dict.get", "key", "default");
    if (tpl_arg_missing(&a[0])) return tpl_rt_fail(rt, LM_ERR_INVALID, "get expected at least 1 argument, got 0");
    if (tpl_map_get(self, &a[0], out)) return LM_OK;
    *out = tpl_arg_missing(&a[1]) ? tpl_none() : a[1];
    return LM_OK;
}

METHOD(m_copy) {
    NOARGS("copy");
    *out = *self;
    return LM_OK;
}

/* ---- list/tuple methods ---- */

METHOD(m_list_index) {
    POSONLY("list.index");
    BIND("list.index", "value", "start", "end");
    size_t n = tpl_seq_len(self);
    int64_t st = 0, en = (int64_t)n;
    if (!tpl_arg_missing(&a[1])) LM_TRY(want_int(rt, "index", &a[1], &st));
    if (!tpl_arg_missing(&a[2])) LM_TRY(want_int(rt, "index", &a[2], &en));
    if (st < 0) st = st + (int64_t)n < 0 ? 0 : st + (int64_t)n;
    if (en < 0) en = en + (int64_t)n < 0 ? 0 : en + (int64_t)n;
    for (int64_t i = st; i < en && i < (int64_t)n; i++) {
        tpl_value x = tpl_seq_get(self, (size_t)i);
        if (tpl_equal(&x, &a[0])) { *out = tpl_int(i); return LM_OK; }
    }
    return tpl_rt_fail(rt, LM_ERR_INVALID, "value is not in list");
}

METHOD(m_list_count) {
    POSONLY("list.count");
    BIND("list.count", "value");
    size_t n = tpl_seq_len(self);
    int64_t c = 0;
    for (size_t i = 0; i < n; i++) {
        tpl_value x = tpl_seq_get(self, i);
        c += tpl_equal(&x, &a[0]);
    }
    *out = tpl_int(c);
    return LM_OK;
}

/* ---- method tables ---- */

typedef struct {
    const char *name;
    tpl_native_fn fn;  /* NULL: exists but mutates (blocked by the immutable sandbox) */
} method_entry;

static const method_entry str_methods[] = {
    {"strip", m_strip}, {"lstrip", m_lstrip}, {"rstrip", m_rstrip}, {"split", m_split},
    {"rsplit", m_rsplit}, {"splitlines", m_splitlines}, {"startswith", m_startswith},
    {"endswith", m_endswith}, {"upper", m_upper}, {"lower", m_lower}, {"casefold", m_lower},
    {"title", m_title}, {"capitalize", m_capitalize}, {"swapcase", m_swapcase},
    {"replace", m_replace}, {"format", m_format}, {"join", m_join}, {"find", m_find},
    {"rfind", m_rfind}, {"index", m_index}, {"rindex", m_rindex}, {"count", m_count},
    {"isdigit", m_isdigit}, {"isdecimal", m_isdigit}, {"isnumeric", m_isdigit},
    {"isalpha", m_isalpha}, {"isalnum", m_isalnum}, {"isspace", m_isspace},
    {"islower", m_islower}, {"isupper", m_isupper}, {"center", m_center}, {"ljust", m_ljust},
    {"rjust", m_rjust}, {"zfill", m_zfill}, {"partition", m_partition},
    {"rpartition", m_rpartition}, {"removeprefix", m_removeprefix},
    {"removesuffix", m_removesuffix},
};

static const method_entry dict_methods[] = {
    {"items", m_items}, {"keys", m_keys}, {"values", m_values}, {"get", m_get}, {"copy", m_copy},
    {"pop", NULL}, {"popitem", NULL}, {"setdefault", NULL}, {"update", NULL}, {"clear", NULL},
};

static const method_entry list_methods[] = {
    {"index", m_list_index}, {"count", m_list_count}, {"copy", m_copy}, {"append", NULL},
    {"extend", NULL}, {"insert", NULL}, {"pop", NULL}, {"remove", NULL}, {"reverse", NULL},
    {"sort", NULL}, {"clear", NULL},
};

static const method_entry tuple_methods[] = {{"index", m_list_index}, {"count", m_list_count}};

int tpl_builtin_method(tpl_rt *rt, const tpl_value *self, const char *name, size_t n, tpl_value *out) {
    const method_entry *table;
    size_t count;
    switch ((tpl_kind)self->kind) {
    case TPL_STR: table = str_methods; count = sizeof str_methods / sizeof *str_methods; break;
    case TPL_DICT:
    case TPL_JDICT: table = dict_methods; count = sizeof dict_methods / sizeof *dict_methods; break;
    case TPL_LIST:
        if (self->flags & TPL_F_GEN) return 0;
        if (self->flags & TPL_F_TUPLE) {
            table = tuple_methods;
            count = sizeof tuple_methods / sizeof *tuple_methods;
            break;
        }
        /* fall through */
    case TPL_JLIST: table = list_methods; count = sizeof list_methods / sizeof *list_methods; break;
    default: return 0;
    }
    for (size_t i = 0; i < count; i++) {
        if (strlen(table[i].name) != n || memcmp(table[i].name, name, n) != 0) continue;
        if (!table[i].fn) {
            *out = tpl_undef(table[i].name, n);
            out->flags = TPL_F_UNSAFE;
            return 1;
        }
        tpl_func *fn = tpl_rt_alloc(rt, sizeof *fn);
        tpl_value *bound = tpl_rt_alloc(rt, sizeof *bound);
        if (!fn || !bound) return -1;
        *bound = *self;
        fn->fn = table[i].fn;
        fn->name = table[i].name;
        fn->self = bound;
        out->kind = TPL_FUNC;
        out->flags = 0;
        out->u.fn = fn;
        return 1;
    }
    return 0;
}

/* ---- markupsafe.escape ---- */

lm_status tpl_html_escape(tpl_rt *rt, const tpl_value *in, tpl_value *out) {
    if (in->kind == TPL_STR && (in->flags & TPL_F_MARKUP)) {
        *out = *in;
        return LM_OK;
    }
    tpl_value s;
    LM_TRY(tpl_to_str(rt, in, &s));
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    for (size_t i = 0; i < s.u.s.n; i++) {
        char c = s.u.s.p[i];
        switch (c) {
        case '&': tpl_sb_add(&sb, "&amp;", 5); break;
        case '<': tpl_sb_add(&sb, "&lt;", 4); break;
        case '>': tpl_sb_add(&sb, "&gt;", 4); break;
        case '"': tpl_sb_add(&sb, "&#34;", 5); break;
        case '\'': tpl_sb_add(&sb, "&#39;", 5); break;
        default: tpl_sb_addc(&sb, c); break;
        }
    }
    LM_TRY(tpl_sb_finish(rt, &sb, out));
    out->flags = TPL_F_MARKUP;
    return LM_OK;
}

/* ---- printf-style formatting: fmt % args ---- */

/* Pads `text` (n bytes) to `width` code points, on the right when `left_align`. */
static void pad_text(tpl_sb *sb, const char *text, size_t n, int64_t width, int left_align, char fill) {
    size_t len = tpl_utf8_count(text, n);
    size_t padn = width > (int64_t)len ? (size_t)width - len : 0;
    if (!left_align) for (size_t i = 0; i < padn; i++) tpl_sb_addc(sb, fill);
    tpl_sb_add(sb, text, n);
    if (left_align) for (size_t i = 0; i < padn; i++) tpl_sb_addc(sb, fill);
}

static lm_status percent_one(tpl_rt *rt, tpl_sb *sb, const tpl_value *v, const char flags[8],
                             int64_t width, int64_t prec, char type) {
    int left = strchr(flags, '-') != NULL;
    if ((width > 0 && (uint64_t)width > rt->max_output) || prec > 4096)
        return tpl_rt_fail(rt, LM_ERR_LIMIT, "format width or precision too large");
    if (type == 's' || type == 'r' || type == 'a') {
        tpl_sb tmp;
        tpl_sb_init(&tmp, &rt->arena, rt->max_output);
        if (type == 's') tpl_write_str(&tmp, v);
        else tpl_write_repr(&tmp, v);
        tpl_value s;
        LM_TRY(tpl_sb_finish(rt, &tmp, &s));
        size_t n = s.u.s.n;
        if (prec >= 0) n = tpl_utf8_offset(s.u.s.p, s.u.s.n, (size_t)prec);
        pad_text(sb, s.u.s.p, n, width, left, ' ');
        return LM_OK;
    }
    if (type == 'c') {
        char buf[4];
        size_t n;
        if (v->kind == TPL_STR && tpl_utf8_count(v->u.s.p, v->u.s.n) == 1) {
            pad_text(sb, v->u.s.p, v->u.s.n, width, left, ' ');
            return LM_OK;
        }
        if (v->kind != TPL_INT || v->u.i < 0 || v->u.i > 0x10ffff || (v->u.i >= 0xd800 && v->u.i <= 0xdfff))
            return tpl_rt_fail(rt, LM_ERR_INVALID, "%%c requires a Unicode scalar value or a single character");
        n = (size_t)tpl_utf8_encode((uint32_t)v->u.i, buf);
        pad_text(sb, buf, n, width, left, ' ');
        return LM_OK;
    }
    char cfmt[32], out[512];
    int o = 0;
    cfmt[o++] = '%';
    for (size_t k = 0; k < 7 && flags[k]; k++) cfmt[o++] = flags[k];
    if (width >= 0) o += snprintf(cfmt + o, sizeof cfmt - (size_t)o, "%d", (int)(width > 400 ? 400 : width));
    if (prec >= 0) o += snprintf(cfmt + o, sizeof cfmt - (size_t)o, ".%d", (int)prec);
    int n;
    if (strchr("diuoxX", type)) {
        int64_t i;
        if (v->kind == TPL_INT || v->kind == TPL_BOOL) i = v->kind == TPL_INT ? v->u.i : v->u.b;
        else if (v->kind == TPL_FLOAT && strchr("diu", type)) {
            if (!isfinite(v->u.f)) return tpl_rt_fail(rt, LM_ERR_INVALID, "cannot convert float infinity or NaN to integer");
            i = (int64_t)v->u.f;
        } else {
            return tpl_rt_fail(rt, LM_ERR_INVALID, "%%%c format: a real number is required, not %s",
                               type, tpl_type_name(v));
        }
        snprintf(cfmt + o, sizeof cfmt - (size_t)o, "ll%c", type == 'i' || type == 'u' ? 'd' : type);
        n = snprintf(out, sizeof out, cfmt, (long long)i);
    } else if (strchr("eEfFgG", type)) {
        if (!tpl_is_num(v))
            return tpl_rt_fail(rt, LM_ERR_INVALID, "must be real number, not %s", tpl_type_name(v));
        double d = v->kind == TPL_FLOAT ? v->u.f : (double)(v->kind == TPL_INT ? v->u.i : v->u.b);
        snprintf(cfmt + o, sizeof cfmt - (size_t)o, "%c", type);
        n = snprintf(out, sizeof out, cfmt, d);
    } else {
        return tpl_rt_fail(rt, LM_ERR_INVALID, "unsupported format character '%c'", type);
    }
    if (n < 0) return tpl_rt_fail(rt, LM_ERR_INTERNAL, "formatting failed");
    if ((size_t)n >= sizeof out) n = (int)sizeof out - 1;
    size_t len = (size_t)n;
    if (width > 400) pad_text(sb, out, len, width, left, ' ');
    else tpl_sb_add(sb, out, len);
    return LM_OK;
}

lm_status tpl_str_percent(tpl_rt *rt, const tpl_value *fmt, const tpl_value *args, tpl_value *out) {
    const tpl_value *argv = args;
    size_t argc = 1, next = 0;
    int tuple = args->kind == TPL_LIST && (args->flags & TPL_F_TUPLE);
    int mapping = tpl_is_map(args);
    /* Python skips the "not all arguments converted" check for any non-tuple argument with
     * __getitem__ (dicts, and lists too) */
    int getitem = mapping || (tpl_is_seq(args) && !tuple && !tpl_is_gen(args));
    if (tuple) {
        argv = args->u.list->items;
        argc = args->u.list->n;
    }
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    const char *p = fmt->u.s.p;
    size_t n = fmt->u.s.n, i = 0;
    int used_key = 0;
    while (i < n) {
        const char *pc = memchr(p + i, '%', n - i);
        if (!pc) {
            tpl_sb_add(&sb, p + i, n - i);
            break;
        }
        tpl_sb_add(&sb, p + i, (size_t)(pc - (p + i)));
        i = (size_t)(pc - p) + 1;
        if (i >= n) return tpl_rt_fail(rt, LM_ERR_INVALID, "incomplete format");
        if (p[i] == '%') {
            tpl_sb_addc(&sb, '%');
            i++;
            continue;
        }
        const tpl_value *val = NULL;
        tpl_value keyed;
        if (p[i] == '(') {
            size_t k = i + 1;
            int depth = 1;
            while (k < n && depth) {
                if (p[k] == '(') depth++;
                else if (p[k] == ')') depth--;
                k++;
            }
            if (depth) return tpl_rt_fail(rt, LM_ERR_INVALID, "incomplete format key");
            if (!mapping) return tpl_rt_fail(rt, LM_ERR_INVALID, "format requires a mapping");
            if (!tpl_map_get_str(args, p + i + 1, k - i - 2, &keyed))
                return tpl_rt_fail(rt, LM_ERR_INVALID, "KeyError: '%.*s'", (int)(k - i - 2), p + i + 1);
            val = &keyed;
            used_key = 1;
            i = k;
        }
        char flags[8];
        int nf = 0;
        while (i < n && strchr("-+ #0", p[i]) && nf < 7) flags[nf++] = p[i++];
        flags[nf] = '\0';
        int64_t width = -1, prec = -1;
        if (i < n && p[i] == '*') {
            if (next >= argc) return tpl_rt_fail(rt, LM_ERR_INVALID, "not enough arguments for format string");
            LM_TRY(want_int(rt, "* width", &argv[next++], &width));
            i++;
        } else {
            while (i < n && p[i] >= '0' && p[i] <= '9') {
                width = (width < 0 ? 0 : width) * 10 + (p[i++] - '0');
                if (width > 100000000) return tpl_rt_fail(rt, LM_ERR_LIMIT, "format width too large");
            }
        }
        if (i < n && p[i] == '.') {
            i++;
            prec = 0;
            if (i < n && p[i] == '*') {
                if (next >= argc) return tpl_rt_fail(rt, LM_ERR_INVALID, "not enough arguments for format string");
                LM_TRY(want_int(rt, "* precision", &argv[next++], &prec));
                i++;
            } else {
                while (i < n && p[i] >= '0' && p[i] <= '9') {
                    prec = prec * 10 + (p[i++] - '0');
                    if (prec > 100000) return tpl_rt_fail(rt, LM_ERR_LIMIT, "format precision too large");
                }
            }
        }
        while (i < n && (p[i] == 'h' || p[i] == 'l' || p[i] == 'L')) i++;
        if (i >= n) return tpl_rt_fail(rt, LM_ERR_INVALID, "incomplete format");
        char type = p[i++];
        if (!val) {
            if (next >= argc) return tpl_rt_fail(rt, LM_ERR_INVALID, "not enough arguments for format string");
            val = &argv[next++];
        }
        LM_TRY(percent_one(rt, &sb, val, flags, width, prec, type));
    }
    if (!used_key && !getitem && next < argc)
        return tpl_rt_fail(rt, LM_ERR_INVALID, "not all arguments converted during string formatting");
    return tpl_sb_finish(rt, &sb, out);
}

/* ---- str.format ---- */

typedef struct {
    uint32_t fill;
    char align, sign, type;
    int alt, zero, grouping;
    int64_t width, prec;
} fmt_spec;

static lm_status parse_spec(tpl_rt *rt, const char *s, size_t n, fmt_spec *f) {
    memset(f, 0, sizeof *f);
    f->fill = ' ';
    f->width = f->prec = -1;
    size_t i = 0;
    uint32_t c0 = 0;
    int l0 = n ? tpl_utf8_decode(s, n, &c0) : 0;
    if (l0 > 0 && (size_t)l0 < n && strchr("<>=^", s[l0])) {
        f->fill = c0;
        f->align = s[l0];
        i = (size_t)l0 + 1;
    } else if (n && strchr("<>=^", s[0])) {
        f->align = s[0];
        i = 1;
    }
    if (i < n && strchr("+- ", s[i])) f->sign = s[i++];
    if (i < n && s[i] == '#') { f->alt = 1; i++; }
    if (i < n && s[i] == '0') { f->zero = 1; i++; }
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        f->width = (f->width < 0 ? 0 : f->width) * 10 + (s[i++] - '0');
        if (f->width > 100000000) return tpl_rt_fail(rt, LM_ERR_LIMIT, "format width too large");
    }
    if (i < n && (s[i] == ',' || s[i] == '_')) f->grouping = s[i++];
    if (i < n && s[i] == '.') {
        i++;
        f->prec = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            f->prec = f->prec * 10 + (s[i++] - '0');
            if (f->prec > 4096) return tpl_rt_fail(rt, LM_ERR_LIMIT, "format precision too large");
        }
    }
    if (i < n) f->type = s[i++];
    if (i < n) return tpl_rt_fail(rt, LM_ERR_INVALID, "Invalid format specifier");
    if (f->zero && !f->align) {
        f->fill = '0';
        f->align = '=';
    }
    return LM_OK;
}

/* Inserts a separator every three digits of the integer part of body[0..n). */
static void add_grouped(tpl_sb *sb, const char *body, size_t n, char sep) {
    size_t digits = 0;
    while (digits < n && body[digits] >= '0' && body[digits] <= '9') digits++;
    for (size_t i = 0; i < digits; i++) {
        if (i && (digits - i) % 3 == 0) tpl_sb_addc(sb, sep);
        tpl_sb_addc(sb, body[i]);
    }
    tpl_sb_add(sb, body + digits, n - digits);
}

static lm_status format_value(tpl_rt *rt, tpl_sb *sb, const tpl_value *v, const fmt_spec *f) {
    char body[512];
    if (f->width > 0 && (uint64_t)f->width > rt->max_output)
        return tpl_rt_fail(rt, LM_ERR_LIMIT, "format width too large (limit is %zu)", rt->max_output);
    int neg = 0;
    size_t bn = 0;
    char type = f->type;
    if (v->kind == TPL_STR || (!tpl_is_num(v) && !type) || (v->kind == TPL_BOOL && !type)) {
        tpl_sb tmp;
        tpl_sb_init(&tmp, &rt->arena, rt->max_output);
        tpl_write_str(&tmp, v);
        tpl_value s;
        LM_TRY(tpl_sb_finish(rt, &tmp, &s));
        if (type && type != 's')
            return tpl_rt_fail(rt, LM_ERR_INVALID, "Unknown format code '%c' for object of type '%s'",
                               type, tpl_type_name(v));
        size_t n = s.u.s.n;
        if (f->prec >= 0) n = tpl_utf8_offset(s.u.s.p, s.u.s.n, (size_t)f->prec);
        size_t len = tpl_utf8_count(s.u.s.p, n);
        size_t padn = f->width > (int64_t)len ? (size_t)f->width - len : 0;
        char align = f->align ? f->align : '<';
        size_t left = align == '>' ? padn : align == '^' ? padn / 2 : 0;
        for (size_t i = 0; i < left; i++) tpl_sb_addcp(sb, f->fill);
        tpl_sb_add(sb, s.u.s.p, n);
        for (size_t i = left; i < padn; i++) tpl_sb_addcp(sb, f->fill);
        return LM_OK;
    }
    if (!tpl_is_num(v))
        return tpl_rt_fail(rt, LM_ERR_INVALID, "Unknown format code '%c' for object of type '%s'",
                           type, tpl_type_name(v));
    int is_int = v->kind != TPL_FLOAT;
    if (is_int && (!type || strchr("dbcoxXn", type))) {
        int64_t i = v->kind == TPL_INT ? v->u.i : v->u.b;
        uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
        neg = i < 0;
        if (type == 'c') {
            if (neg || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff))
                return tpl_rt_fail(rt, LM_ERR_INVALID, "%%c arg not a Unicode scalar value");
            bn = (size_t)tpl_utf8_encode((uint32_t)u, body);
        } else if (type == 'b') {
            char tmp[70];
            int k = 0;
            do { tmp[k++] = (char)('0' + (u & 1)); u >>= 1; } while (u);
            while (k) body[bn++] = tmp[--k];
        } else {
            bn = (size_t)snprintf(body, sizeof body, type == 'o' ? "%llo" : type == 'x' ? "%llx"
                                  : type == 'X' ? "%llX" : "%llu", (unsigned long long)u);
        }
    } else {
        double d = v->kind == TPL_FLOAT ? v->u.f : (double)(v->kind == TPL_INT ? v->u.i : v->u.b);
        neg = signbit(d) && !isnan(d);
        double a = fabs(d);
        int prec = f->prec >= 0 ? (int)f->prec : 6;
        if (!type && f->prec < 0) {
            bn = (size_t)tpl_py_float_repr(a, body);
        } else if (!isfinite(a)) {
            bn = (size_t)snprintf(body, sizeof body, "%s", isnan(a) ? "nan" : "inf");
            if (type && strchr("EFG", type)) for (size_t i = 0; i < bn; i++) body[i] = (char)(body[i] - 32);
        } else if (type == '%') {
            bn = (size_t)snprintf(body, sizeof body, "%.*f%%", prec, a * 100);
        } else if (!type) { /* like 'g', but never fewer digits than repr shows */
            bn = (size_t)snprintf(body, sizeof body, "%.*g", prec ? prec : 1, a);
            if (!strpbrk(body, ".e") && bn + 2 < sizeof body) { body[bn++] = '.'; body[bn++] = '0'; body[bn] = 0; }
        } else if (strchr("eEfFgGn", type)) {
            char t = type == 'n' ? 'g' : type;
            char cf[16];
            snprintf(cf, sizeof cf, f->alt ? "%%#.%d%c" : "%%.%d%c", prec, t);
            bn = (size_t)snprintf(body, sizeof body, cf, a);
        } else {
            return tpl_rt_fail(rt, LM_ERR_INVALID, "Unknown format code '%c' for object of type 'float'", type);
        }
    }
    if (bn >= sizeof body) bn = sizeof body - 1;
    const char *prefix = "";
    if (f->alt && is_int) prefix = type == 'x' ? "0x" : type == 'X' ? "0X" : type == 'o' ? "0o" : type == 'b' ? "0b" : "";
    char sign[2] = {0, 0};
    if (neg) sign[0] = '-';
    else if (f->sign == '+') sign[0] = '+';
    else if (f->sign == ' ') sign[0] = ' ';
    tpl_sb num;
    tpl_sb_init(&num, &rt->arena, rt->max_output);
    if (f->grouping) add_grouped(&num, body, bn, (char)f->grouping);
    else tpl_sb_add(&num, body, bn);
    tpl_value numv;
    LM_TRY(tpl_sb_finish(rt, &num, &numv));
    size_t len = strlen(sign) + strlen(prefix) + tpl_utf8_count(numv.u.s.p, numv.u.s.n);
    size_t padn = f->width > (int64_t)len ? (size_t)f->width - len : 0;
    char align = f->align ? f->align : '>';
    size_t left = align == '>' ? padn : align == '^' ? padn / 2 : 0;
    if (align == '=') {
        tpl_sb_add(sb, sign, strlen(sign));
        tpl_sb_add(sb, prefix, strlen(prefix));
        for (size_t i = 0; i < padn; i++) tpl_sb_addcp(sb, f->fill);
        tpl_sb_add(sb, numv.u.s.p, numv.u.s.n);
        return LM_OK;
    }
    for (size_t i = 0; i < left; i++) tpl_sb_addcp(sb, f->fill);
    tpl_sb_add(sb, sign, strlen(sign));
    tpl_sb_add(sb, prefix, strlen(prefix));
    tpl_sb_add(sb, numv.u.s.p, numv.u.s.n);
    for (size_t i = left; i < padn; i++) tpl_sb_addcp(sb, f->fill);
    return LM_OK;
}

lm_status tpl_str_format(tpl_rt *rt, const tpl_value *fmt, tpl_args *args, tpl_value *out) {
    tpl_sb sb;
    tpl_sb_init(&sb, &rt->arena, rt->max_output);
    const char *p = fmt->u.s.p;
    size_t n = fmt->u.s.n, i = 0, auto_idx = 0;
    int manual = 0, automatic = 0;
    while (i < n) {
        char c = p[i];
        if (c == '}') {
            if (i + 1 < n && p[i + 1] == '}') { tpl_sb_addc(&sb, '}'); i += 2; continue; }
            return tpl_rt_fail(rt, LM_ERR_INVALID, "Single '}' encountered in format string");
        }
        if (c != '{') { tpl_sb_addc(&sb, c); i++; continue; }
        if (i + 1 < n && p[i + 1] == '{') { tpl_sb_addc(&sb, '{'); i += 2; continue; }
        size_t j = i + 1;
        while (j < n && p[j] != '}' && p[j] != '{') j++;
        if (j >= n || p[j] != '}')
            return tpl_rt_fail(rt, LM_ERR_INVALID, "unsupported or unterminated replacement field in format string");
        const char *field = p + i + 1;
        size_t fn = j - i - 1, name_end = 0;
        while (name_end < fn && field[name_end] != '!' && field[name_end] != ':' &&
               field[name_end] != '.' && field[name_end] != '[')
            name_end++;
        tpl_value v;
        if (name_end == 0 || (field[0] >= '0' && field[0] <= '9')) {
            size_t idx;
            if (name_end == 0) {
                if (manual) return tpl_rt_fail(rt, LM_ERR_INVALID, "cannot switch from manual field specification to automatic field numbering");
                automatic = 1;
                idx = auto_idx++;
            } else {
                if (automatic) return tpl_rt_fail(rt, LM_ERR_INVALID, "cannot switch from automatic field numbering to manual field specification");
                manual = 1;
                idx = (size_t)strtoul(field, NULL, 10);
            }
            if (idx >= args->npos)
                return tpl_rt_fail(rt, LM_ERR_INVALID, "Replacement index %zu out of range for positional args tuple", idx);
            v = args->pos[idx];
        } else {
            size_t k = 0;
            for (; k < args->nkw; k++)
                if (args->kwlen[k] == name_end && memcmp(args->kwname[k], field, name_end) == 0) break;
            if (k == args->nkw) return tpl_rt_fail(rt, LM_ERR_INVALID, "KeyError: '%.*s'", (int)name_end, field);
            v = args->kwval[k];
        }
        size_t q = name_end;
        while (q < fn && (field[q] == '.' || field[q] == '[')) { /* .attr and [key] chains */
            size_t e = q + 1;
            if (field[q] == '.') {
                while (e < fn && field[e] != '.' && field[e] != '[' && field[e] != '!' && field[e] != ':') e++;
                LM_TRY(tpl_getattr(rt, &v, field + q + 1, e - q - 1, &v));
                q = e;
            } else {
                while (e < fn && field[e] != ']') e++;
                if (e >= fn) return tpl_rt_fail(rt, LM_ERR_INVALID, "Missing ']' in format string");
                tpl_value key = tpl_str(field + q + 1, e - q - 1);
                int digits = e > q + 1;
                for (size_t d = q + 1; d < e; d++) digits &= field[d] >= '0' && field[d] <= '9';
                if (digits) key = tpl_int((int64_t)strtoll(field + q + 1, NULL, 10));
                LM_TRY(tpl_getitem(rt, &v, &key, &v));
                q = e + 1;
            }
        }
        if (q < fn && field[q] == '!') {
            if (q + 1 >= fn) return tpl_rt_fail(rt, LM_ERR_INVALID, "end of string while looking for conversion specifier");
            char conv = field[q + 1];
            tpl_sb tmp;
            tpl_sb_init(&tmp, &rt->arena, rt->max_output);
            if (conv == 's') tpl_write_str(&tmp, &v);
            else if (conv == 'r' || conv == 'a') tpl_write_repr(&tmp, &v);
            else return tpl_rt_fail(rt, LM_ERR_INVALID, "Unknown conversion specifier %c", conv);
            LM_TRY(tpl_sb_finish(rt, &tmp, &v));
            q += 2;
        }
        fmt_spec spec;
        if (q < fn && field[q] == ':') LM_TRY(parse_spec(rt, field + q + 1, fn - q - 1, &spec));
        else if (q < fn) return tpl_rt_fail(rt, LM_ERR_INVALID, "expected ':' after conversion specifier");
        else LM_TRY(parse_spec(rt, "", 0, &spec));
        LM_TRY(format_value(rt, &sb, &v, &spec));
        i = j + 1;
    }
    return tpl_sb_finish(rt, &sb, out);
}
