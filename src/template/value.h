/* value.h — template values: a tagged union of Python-like objects.
 *
 * Request JSON is never copied: a JSON array or object is a view (TPL_JLIST, TPL_JDICT) over the
 * jansson value, and a JSON string is a TPL_STR pointing into jansson's memory. Lists, dicts and
 * strings built while rendering live in the render's arena. Values are immutable except
 * namespaces (TPL_NS), as in Jinja2's immutable sandbox.
 *
 * The functions here implement Python's semantics for the operations templates use: truth,
 * str(), repr(), ==, ordering, len(), iteration, and transformers' tojson. Functions that can
 * fail take the render state `rt` (for its arena, limits and error) and return an lm_status. */
#ifndef LM_TEMPLATE_VALUE_H
#define LM_TEMPLATE_VALUE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/arena.h"

struct tpl_rt;
struct tpl_node;
struct tpl_frame;

typedef enum {
    TPL_UNDEFINED = 0, /* jinja2.Undefined: prints "", falsy, errors on most uses */
    TPL_NONE,
    TPL_BOOL,
    TPL_INT,
    TPL_FLOAT,
    TPL_STR,           /* UTF-8 bytes; flag MARKUP for markupsafe.Markup */
    TPL_LIST,          /* list or (flag TUPLE) tuple built while rendering */
    TPL_DICT,          /* dict built while rendering (literal, dict(), ...) */
    TPL_JLIST,         /* view of a JSON array */
    TPL_JDICT,         /* view of a JSON object */
    TPL_NS,            /* namespace(): the only mutable object */
    TPL_FUNC,          /* builtin function or bound method */
    TPL_MACRO,         /* template macro (or the caller of a call block) */
    TPL_LOOP,          /* the `loop` object of a for loop */
} tpl_kind;

enum {
    TPL_F_MARKUP = 1,  /* STR: Markup (|safe, |escape): `+` escapes the plain operand */
    TPL_F_TUPLE = 2,   /* LIST: tuple (repr with parentheses) */
    TPL_F_UNSAFE = 4,  /* UNDEFINED: a blocked attribute; calling it is a security error */
    TPL_F_ATTR = 8,    /* UNDEFINED: a missing attribute or key (not a missing variable) */
    TPL_F_GEN = 16,    /* LIST: a generator (what map/select/... return in Jinja2): always true,
                        * no len() or indexing, and consumed by iterating it */
};

typedef struct tpl_value tpl_value;

typedef struct {
    size_t n;
    tpl_value *items;
    size_t pos;  /* generators: items before pos were consumed */
    const char *error;  /* generators: the error the filter met, raised when consumed (Python
                         * generators fail lazily); NULL when none */
    lm_status error_code;
} tpl_list;

typedef struct {
    size_t n, cap;
    tpl_value *keys, *vals;
} tpl_dict;

/* Arguments of a call: positional values, then keyword (name, value) pairs. */
typedef struct {
    tpl_value *pos;
    size_t npos;
    const char **kwname;
    size_t *kwlen;
    tpl_value *kwval;
    size_t nkw;
} tpl_args;

typedef lm_status (*tpl_native_fn)(struct tpl_rt *rt, const tpl_value *self, tpl_args *args,
                                   tpl_value *out);

typedef struct {
    tpl_native_fn fn;
    const char *name;  /* for messages: "range", "str.split" */
    tpl_value *self;   /* bound receiver, or NULL */
} tpl_func;

typedef struct {
    const struct tpl_node *node;  /* MACRO or CALL_BLOCK node (params and body) */
    struct tpl_frame *closure;    /* scope the macro was defined in */
    const tpl_value *caller;      /* `caller` for a macro invoked by a call block, or NULL */
} tpl_macro;

typedef struct {
    size_t index0, length;
    tpl_value *items;              /* the (filtered) sequence being iterated */
    int depth0;                    /* recursion depth of a recursive loop */
    const struct tpl_node *node;   /* the FOR node (for recursive loops) */
    struct tpl_frame *scope;       /* scope the loop runs in (for recursive loops) */
    tpl_value *changed_last;       /* loop.changed() memory */
} tpl_loop;

struct tpl_value {
    uint8_t kind;
    uint8_t flags;
    union {
        int b;
        int64_t i;
        double f;
        struct {
            const char *p;
            size_t n;
        } s;             /* STR text; UNDEFINED: the missing name (p may be NULL) */
        tpl_list *list;
        tpl_dict *dict;  /* DICT and NS */
        json_t *json;    /* JLIST, JDICT */
        tpl_func *fn;
        tpl_macro *macro;
        tpl_loop *loop;
    } u;
};

/* ---- constructors (no allocation) ---- */
tpl_value tpl_undef(const char *name, size_t n);
tpl_value tpl_none(void);
tpl_value tpl_bool(int b);
tpl_value tpl_int(int64_t i);
tpl_value tpl_float(double f);
tpl_value tpl_str(const char *p, size_t n);
/* Wraps a JSON value: scalars are converted, strings/arrays/objects are views. */
tpl_value tpl_from_json(json_t *j);

/* ---- a string builder in an arena with a size limit ---- */
typedef struct {
    lm_arena *a;
    char *p;
    size_t n, cap;
    size_t limit;  /* most bytes this string may hold */
    int failed;    /* 1: limit exceeded, 2: out of memory */
} tpl_sb;

void tpl_sb_init(tpl_sb *sb, lm_arena *a, size_t limit);
void tpl_sb_add(tpl_sb *sb, const char *s, size_t n);
void tpl_sb_addc(tpl_sb *sb, char c);
void tpl_sb_addcp(tpl_sb *sb, uint32_t cp);
void tpl_sb_printf(tpl_sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Turns the builder into a STR value; reports a limit/memory failure of any add. */
lm_status tpl_sb_finish(struct tpl_rt *rt, tpl_sb *sb, tpl_value *out);

/* ---- predicates and conversions ---- */
static inline int tpl_is_str(const tpl_value *v) { return v->kind == TPL_STR; }
static inline int tpl_is_seq(const tpl_value *v) { return v->kind == TPL_LIST || v->kind == TPL_JLIST; }
static inline int tpl_is_gen(const tpl_value *v) { return v->kind == TPL_LIST && (v->flags & TPL_F_GEN); }
static inline int tpl_is_map(const tpl_value *v) { return v->kind == TPL_DICT || v->kind == TPL_JDICT; }
static inline int tpl_is_num(const tpl_value *v) {
    return v->kind == TPL_INT || v->kind == TPL_FLOAT || v->kind == TPL_BOOL;
}
/* Python type name for messages ("str", "int", "list", "dict", "NoneType", "Undefined"). */
const char *tpl_type_name(const tpl_value *v);

/* Python truth value. */
int tpl_truthy(const tpl_value *v);

/* Number of items (list, dict), code points (str); 0 for undefined. Error for others. */
lm_status tpl_len(struct tpl_rt *rt, const tpl_value *v, size_t *n);

/* Item i (0 <= i < len) of a LIST or JLIST. */
tpl_value tpl_seq_get(const tpl_value *v, size_t i);
size_t tpl_seq_len(const tpl_value *v);

/* Looks a key up in DICT, JDICT or NS; returns 1 when found. */
int tpl_map_get(const tpl_value *map, const tpl_value *key, tpl_value *out);
int tpl_map_get_str(const tpl_value *map, const char *key, size_t n, tpl_value *out);

/* The (key, value) pairs of DICT, JDICT or NS in order, as arena arrays. */
lm_status tpl_map_pairs(struct tpl_rt *rt, const tpl_value *map, tpl_value **keys,
                        tpl_value **vals, size_t *n);

/* What iterating `v` yields (list items, dict keys, characters of a str; nothing for
 * undefined), as an arena array. Error for values that are not iterable. Iterating a generator
 * consumes it (a second iteration yields nothing), as in Python. */
lm_status tpl_iterate(struct tpl_rt *rt, const tpl_value *v, tpl_value **items, size_t *n);

/* New LIST (or tuple) of n items copied from `items`. */
lm_status tpl_make_list(struct tpl_rt *rt, const tpl_value *items, size_t n, int tuple,
                        tpl_value *out);

/* Adds or replaces key -> val in a DICT/NS (growing it in the arena); a linear search. */
lm_status tpl_dict_set(struct tpl_rt *rt, tpl_dict *d, const tpl_value *key, const tpl_value *val);
/* Adds a key known not to be in the dict yet. */
lm_status tpl_dict_append(struct tpl_rt *rt, tpl_dict *d, const tpl_value *key, const tpl_value *val);
lm_status tpl_make_dict(struct tpl_rt *rt, tpl_value *out, int ns);

/* Appends Python str(v) / repr(v). Undefined gives "". */
void tpl_write_str(tpl_sb *sb, const tpl_value *v);
void tpl_write_repr(tpl_sb *sb, const tpl_value *v);

/* str(v) as a STR value (a STR is returned as is, keeping its Markup flag). */
lm_status tpl_to_str(struct tpl_rt *rt, const tpl_value *v, tpl_value *out);

/* Python ==. */
int tpl_equal(const tpl_value *a, const tpl_value *b);

/* Python ordering: *res < 0, 0, > 0; TypeError (LM_ERR_INVALID) for unorderable types.
 * `fold_case` lowercases strings first (Jinja's case-insensitive sort). */
lm_status tpl_compare(struct tpl_rt *rt, const tpl_value *a, const tpl_value *b, int fold_case,
                      int *res);

/* json.dumps(v, ensure_ascii, indent, separators, sort_keys) as transformers' tojson does.
 * `indent` NULL: no indent; `item_sep`/`key_sep` NULL: Python's defaults. */
typedef struct {
    int ensure_ascii;
    const char *indent;  /* NULL: single line */
    size_t indent_n;
    const char *item_sep, *key_sep;
    size_t item_sep_n, key_sep_n;
    int sort_keys;
} tpl_json_opts;
lm_status tpl_to_json(struct tpl_rt *rt, tpl_sb *sb, const tpl_value *v, const tpl_json_opts *o);

#endif
