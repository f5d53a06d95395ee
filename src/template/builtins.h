/* builtins.h — Jinja2's filters, tests and globals, transformers' additions (tojson,
 * raise_exception, strftime_now), and the Python str/dict/list methods templates call.
 *
 * Each family is a table from name to C function, so making one builtin match Jinja2 is a
 * change to one function. Argument binding follows Python: positional, then by keyword. */
#ifndef LM_TEMPLATE_BUILTINS_H
#define LM_TEMPLATE_BUILTINS_H

#include <stddef.h>

#include "template/ast.h"
#include "template/value.h"

/* Filter / test by name; NULL when there is none. */
tpl_filter_fn tpl_builtin_filter(const char *name, size_t n);
tpl_test_fn tpl_builtin_test(const char *name, size_t n);

/* Global function by name (range, namespace, dict, raise_exception, strftime_now, cycler,
 * joiner); returns 1 and fills `out` when found. */
int tpl_builtin_global(const char *name, size_t n, tpl_value *out);

/* Attribute `name` of `self` when it is a method (str.strip, dict.items, list.index...):
 * returns 1 and a bound TPL_FUNC in `out` (allocated in the render arena); 0 when `self` has
 * no such method. Mutating methods (list.append, dict.pop...) give an unsafe undefined, as
 * Jinja2's immutable sandbox does. NOMEM is reported through the return value -1. */
int tpl_builtin_method(struct tpl_rt *rt, const tpl_value *self, const char *name, size_t n,
                       tpl_value *out);

/* Binds call arguments to parameter names the way Python does: `names` lists the parameters
 * in order; out[i] receives the argument or stays TPL_UNDEFINED with flags 0xff when not given.
 * Errors on too many positionals, unknown keywords or a parameter given twice; `what` names the
 * callee in messages. `rest_pos`/`rest_kw` (may be NULL) receive extra arguments instead of an
 * error (for *args / **kwargs style builtins). */
lm_status tpl_bind_args(struct tpl_rt *rt, const char *what, tpl_args *args,
                        const char *const *names, size_t nnames, tpl_value *out,
                        size_t *rest_pos);

/* Python `fmt % args` for a string left operand (printf-style: %s %r %d %i %f %e %g %x %o %c
 * %%, flags, width, precision, %(name)s with a dict). */
lm_status tpl_str_percent(struct tpl_rt *rt, const tpl_value *fmt, const tpl_value *args,
                          tpl_value *out);

/* markupsafe.escape: & < > " ' as entities; a Markup input is returned unchanged. The result
 * is a Markup. */
lm_status tpl_html_escape(struct tpl_rt *rt, const tpl_value *in, tpl_value *out);

/* Python str.format(*args, **kwargs). */
lm_status tpl_str_format(struct tpl_rt *rt, const tpl_value *fmt, tpl_args *args, tpl_value *out);

/* Case conversions of a string, as Python's str methods and Jinja's |title filter do them. */
enum {
    TPL_CASE_UPPER,       /* str.upper() */
    TPL_CASE_LOWER,       /* str.lower() */
    TPL_CASE_TITLE,       /* str.title(): capitalise after every uncased character */
    TPL_CASE_CAPITALIZE,  /* str.capitalize(): first upper, rest lower */
    TPL_CASE_SWAP,        /* str.swapcase() */
    TPL_CASE_JINJA_TITLE, /* |title: capitalise after runs of - ( { [ < and whitespace */
};
lm_status tpl_str_case(struct tpl_rt *rt, const tpl_value *s, int mode, tpl_value *out);

/* str.strip/lstrip/rstrip: `chars` NULL or None strips whitespace. */
lm_status tpl_str_strip(struct tpl_rt *rt, const tpl_value *s, const tpl_value *chars, int left,
                        int right, tpl_value *out);

/* str.replace(old, new, count); count < 0 replaces all. */
lm_status tpl_str_replace(struct tpl_rt *rt, const tpl_value *s, const tpl_value *old,
                          const tpl_value *repl, int64_t count, tpl_value *out);

/* str.splitlines(keepends) as a list of strings. */
lm_status tpl_str_splitlines(struct tpl_rt *rt, const tpl_value *s, int keepends, tpl_value *out);

/* Marker for "argument not given" in tpl_bind_args results. */
static inline int tpl_arg_missing(const tpl_value *v) {
    return v->kind == TPL_UNDEFINED && v->flags == 0xff;
}

#endif
