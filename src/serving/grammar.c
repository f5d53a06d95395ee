/* grammar.c — JSON Schema -> node graph -> a byte-level pushdown matcher with a few parallel
 * threads (for anyOf), and the per-step token mask over the vocabulary (grammar.h).
 *
 * A thread is a stack of frames, one per value being written (object, array, string, number,
 * literal). Bytes are fed one at a time; a frame that ends on the byte after it (a number, a
 * literal that another literal extends) completes and hands that byte to its parent. The mask
 * tries every token from the current threads: tokens whose first byte cannot come next are
 * dropped at once (a 256-entry table per step), tokens inside an unconstrained string run of
 * plain characters are accepted from a per-token flag, the rest are fed byte by byte on a copy. */
#include "serving/grammar.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the compiled schema ------------------------------------------------------------------- */

enum { K_ANY, K_OBJ, K_ARR, K_STR, K_NUM, K_LIT, K_ALT, K_REF };

#define MAX_PROPS 64         /* declared properties per object (candidate bitmask) */
#define MAX_LITS 64          /* enum values */
#define MAX_NODES 4096
#define MAX_DIGITS 15        /* integer and fraction digits generated */
#define MAX_EXPAND 16        /* $ref / anyOf expansions without consuming a byte */

typedef struct {
    int kind;
    /* K_OBJ */
    int n_props;
    char **keys;             /* each key as its JSON string literal, quotes included */
    size_t *key_len;
    int *prop;               /* value node per property */
    uint8_t *required;
    int extra;               /* no declared properties: node of any member's value, -1 = {} only */
    /* K_ARR */
    int item, min_items, max_items;  /* max -1: unbounded */
    /* K_STR */
    int min_len, max_len;            /* max -1: unbounded */
    /* K_NUM */
    int integer, has_min, has_max, excl_min, excl_max;
    double min, max;
    /* K_LIT */
    int n_lits;
    char **lits;             /* compact JSON texts */
    size_t *lit_len;
    /* K_ALT */
    int n_alts;
    int *alts;
    /* K_REF */
    int target;
} gnode;

struct grammar {
    gnode *nodes;
    int n_nodes, cap_nodes;
    int root;
    int any;                 /* a K_ANY node */
    int str, num, lits;      /* an unconstrained string, number, and true/false/null (for K_ANY) */
    int any_obj, any_arr;    /* an object of any members, an array of any items */
    json_t *root_schema;     /* for $ref resolution while compiling */
};

static int new_node(grammar *g, int kind) {
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 32;
        gnode *p = realloc(g->nodes, (size_t)cap * sizeof *p);
        if (!p) return -1;
        g->nodes = p;
        g->cap_nodes = cap;
    }
    gnode *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->extra = n->item = n->target = -1;
    n->max_items = n->max_len = -1;
    return g->n_nodes++;
}

void grammar_destroy(grammar *g) {
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) {
        gnode *n = &g->nodes[i];
        for (int k = 0; k < n->n_props; k++) free(n->keys[k]);
        for (int k = 0; k < n->n_lits; k++) free(n->lits[k]);
        free(n->keys);
        free(n->key_len);
        free(n->prop);
        free(n->required);
        free(n->lits);
        free(n->lit_len);
        free(n->alts);
    }
    free(g->nodes);
    json_decref(g->root_schema);
    free(g);
}

/* ---- compiling ----------------------------------------------------------------------------- */

typedef struct {
    grammar *g;
    lm_error *err;
    json_t *refs;            /* object: "$ref string" -> node index, for recursion */
} cctx;

static const char *const ignored_keys[] = {"title", "description", "default", "examples", "format", "$schema",
                                           "$id", "$comment", "deprecated", "readOnly", "writeOnly",
                                           "strict", "$defs", "definitions", NULL};
static const char *const known_keys[] = {"type", "properties", "required", "additionalProperties", "enum",
                                         "const", "items", "minItems", "maxItems", "anyOf", "oneOf", "$ref",
                                         "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
                                         "exclusiveMaximum", "nullable", NULL};

static int in_list(const char *k, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(*list, k)) return 1;
    return 0;
}

static lm_status compile(cctx *c, json_t *s, const char *path, int depth, int *out);

static lm_status nomem(cctx *c) { return err_set(c->err, LM_ERR_NOMEM, "out of memory compiling the schema"); }

static lm_status add_literal(cctx *c, int node, json_t *v, const char *path) {
    gnode *n = &c->g->nodes[node];
    if (n->n_lits >= MAX_LITS)
        return err_set(c->err, LM_ERR_UNSUPPORTED, "schema at %s: enum with more than %d values is not supported",
                       path, MAX_LITS);
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    if (!text) return nomem(c);
    char **l = realloc(n->lits, (size_t)(n->n_lits + 1) * sizeof *l);
    size_t *ll = realloc(n->lit_len, (size_t)(n->n_lits + 1) * sizeof *ll);
    if (l) n->lits = l;
    if (ll) n->lit_len = ll;
    if (!l || !ll) {
        free(text);
        return nomem(c);
    }
    n->lits[n->n_lits] = text;
    n->lit_len[n->n_lits++] = strlen(text);
    return LM_OK;
}

static lm_status get_count(cctx *c, json_t *s, const char *key, const char *path, int *out) {
    json_t *v = json_object_get(s, key);
    if (!v) return LM_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000)
        return err_set(c->err, LM_ERR_INVALID, "schema at %s: %s must be an integer in [0, 100000]", path, key);
    *out = (int)json_integer_value(v);
    return LM_OK;
}

static lm_status get_number(cctx *c, json_t *s, const char *key, const char *path, int *has, double *out) {
    json_t *v = json_object_get(s, key);
    if (!v) return LM_OK;
    if (!json_is_number(v)) return err_set(c->err, LM_ERR_INVALID, "schema at %s: %s must be a number", path, key);
    double d = json_number_value(v);
    if (*has) { /* minimum and exclusiveMinimum together: the tighter one */
        if ((key[0] == 'e' && key[9] == 'M' && key[10] == 'i') || !strcmp(key, "minimum")) {
            if (d < *out) return LM_OK;
        } else if (d > *out) {
            return LM_OK;
        }
    }
    *has = 1;
    *out = d;
    return LM_OK;
}

/* One type (a string) of a schema `s` as a node. */
static lm_status compile_type(cctx *c, json_t *s, const char *type, const char *path, int depth, int *out) {
    grammar *g = c->g;
    char sub[512];
    int id;
    if (!strcmp(type, "string")) {
        if ((id = new_node(g, K_STR)) < 0) return nomem(c);
        LM_TRY(get_count(c, s, "minLength", path, &g->nodes[id].min_len));
        LM_TRY(get_count(c, s, "maxLength", path, &g->nodes[id].max_len));
        if (g->nodes[id].max_len >= 0 && g->nodes[id].min_len > g->nodes[id].max_len)
            return err_set(c->err, LM_ERR_INVALID, "schema at %s: minLength > maxLength", path);
    } else if (!strcmp(type, "number") || !strcmp(type, "integer")) {
        if ((id = new_node(g, K_NUM)) < 0) return nomem(c);
        gnode *n = &g->nodes[id];
        n->integer = type[0] == 'i';
        int h = 0;
        LM_TRY(get_number(c, s, "minimum", path, &n->has_min, &n->min));
        LM_TRY(get_number(c, s, "exclusiveMinimum", path, &h, &n->min));
        if (h) {
            if (!n->has_min || n->min >= json_number_value(json_object_get(s, "minimum"))) n->excl_min = 1;
            n->has_min = 1;
        }
        h = 0;
        LM_TRY(get_number(c, s, "maximum", path, &n->has_max, &n->max));
        LM_TRY(get_number(c, s, "exclusiveMaximum", path, &h, &n->max));
        if (h) {
            if (!n->has_max || n->max <= json_number_value(json_object_get(s, "maximum"))) n->excl_max = 1;
            n->has_max = 1;
        }
        double lim = 999999999999999.0; /* MAX_DIGITS */
        if ((n->has_min && (n->min > lim || n->min < -lim)) || (n->has_max && (n->max > lim || n->max < -lim)))
            return err_set(c->err, LM_ERR_UNSUPPORTED, "schema at %s: bounds beyond 15 digits are not supported", path);
        if (n->has_min && n->has_max &&
            (n->min > n->max || (n->min == n->max && (n->excl_min || n->excl_max)) ||
             (n->integer && ceil(n->min + (n->excl_min ? 0.5 : 0)) > floor(n->max - (n->excl_max ? 0.5 : 0)))))
            return err_set(c->err, LM_ERR_INVALID, "schema at %s: no %s lies within the bounds", path, type);
    } else if (!strcmp(type, "boolean")) {
        if ((id = new_node(g, K_LIT)) < 0) return nomem(c);
        LM_TRY(add_literal(c, id, json_true(), path));
        LM_TRY(add_literal(c, id, json_false(), path));
    } else if (!strcmp(type, "null")) {
        if ((id = new_node(g, K_LIT)) < 0) return nomem(c);
        LM_TRY(add_literal(c, id, json_null(), path));
    } else if (!strcmp(type, "array")) {
        if ((id = new_node(g, K_ARR)) < 0) return nomem(c);
        json_t *items = json_object_get(s, "items");
        int item = g->any;
        if (items && !json_is_boolean(items)) {
            snprintf(sub, sizeof sub, "%s/items", path);
            LM_TRY(compile(c, items, sub, depth + 1, &item));
        } else if (json_is_false(items)) {
            g->nodes[id].max_items = 0;
        }
        gnode *n = &g->nodes[id];
        n->item = item;
        LM_TRY(get_count(c, s, "minItems", path, &n->min_items));
        int mx = n->max_items;
        LM_TRY(get_count(c, s, "maxItems", path, &mx));
        if (n->max_items != 0) n->max_items = mx;
        if (n->max_items >= 0 && n->min_items > n->max_items)
            return err_set(c->err, LM_ERR_INVALID, "schema at %s: minItems > maxItems", path);
    } else if (!strcmp(type, "object")) {
        if ((id = new_node(g, K_OBJ)) < 0) return nomem(c);
        json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
        json_t *add = json_object_get(s, "additionalProperties");
        if (props && !json_is_object(props))
            return err_set(c->err, LM_ERR_INVALID, "schema at %s: properties must be an object", path);
        if (req && !json_is_array(req))
            return err_set(c->err, LM_ERR_INVALID, "schema at %s: required must be an array", path);
        size_t np = json_object_size(props);
        if (np > MAX_PROPS)
            return err_set(c->err, LM_ERR_UNSUPPORTED, "schema at %s: more than %d properties are not supported",
                           path, MAX_PROPS);
        size_t ri;
        json_t *rv;
        json_array_foreach(req, ri, rv) {
            if (!json_is_string(rv) || !json_object_get(props, json_string_value(rv)))
                return err_set(c->err, LM_ERR_UNSUPPORTED,
                               "schema at %s: required lists '%s', which is not in properties", path,
                               json_is_string(rv) ? json_string_value(rv) : "(not a string)");
        }
        gnode *n = &g->nodes[id];
        n->keys = calloc(np + 1, sizeof *n->keys);
        n->key_len = calloc(np + 1, sizeof *n->key_len);
        n->prop = calloc(np + 1, sizeof *n->prop);
        n->required = calloc(np + 1, 1);
        if (!n->keys || !n->key_len || !n->prop || !n->required) return nomem(c);
        const char *key;
        json_t *ps;
        int k = 0;
        json_object_foreach(props, key, ps) {
            json_t *ks = json_string(key);
            char *lit = ks ? json_dumps(ks, JSON_ENCODE_ANY) : NULL;
            json_decref(ks);
            if (!lit) return nomem(c);
            n = &g->nodes[id];
            n->keys[k] = lit;
            n->key_len[k] = strlen(lit);
            json_array_foreach(req, ri, rv) if (!strcmp(json_string_value(rv), key)) n->required[k] = 1;
            n->n_props = ++k;
            snprintf(sub, sizeof sub, "%s/properties/%s", path, key);
            int pn;
            LM_TRY(compile(c, ps, sub, depth + 1, &pn));
            g->nodes[id].prop[k - 1] = pn;
        }
        n = &g->nodes[id];
        if (np == 0 && !json_is_false(add)) {
            int extra = g->any;
            if (add && !json_is_boolean(add)) {
                snprintf(sub, sizeof sub, "%s/additionalProperties", path);
                LM_TRY(compile(c, add, sub, depth + 1, &extra));
            }
            g->nodes[id].extra = extra;
        } else if (add && !json_is_boolean(add) && !json_is_object(add)) {
            return err_set(c->err, LM_ERR_INVALID, "schema at %s: additionalProperties must be a boolean or a schema",
                           path);
        }
    } else {
        return err_set(c->err, LM_ERR_INVALID, "schema at %s: unknown type '%s'", path, type);
    }
    *out = id;
    return LM_OK;
}

static lm_status alt_add(cctx *c, int alt, int node) {
    gnode *n = &c->g->nodes[alt];
    int *p = realloc(n->alts, (size_t)(n->n_alts + 1) * sizeof *p);
    if (!p) return nomem(c);
    n->alts = p;
    n->alts[n->n_alts++] = node;
    return LM_OK;
}

static lm_status compile_ref(cctx *c, const char *ref, const char *path, int depth, int *out) {
    json_t *known = json_object_get(c->refs, ref);
    if (known) {
        *out = (int)json_integer_value(known);
        return LM_OK;
    }
    const char *name = NULL;
    json_t *defs = NULL;
    if (!strncmp(ref, "#/$defs/", 8)) {
        defs = json_object_get(c->g->root_schema, "$defs");
        name = ref + 8;
    } else if (!strncmp(ref, "#/definitions/", 14)) {
        defs = json_object_get(c->g->root_schema, "definitions");
        name = ref + 14;
    } else if (!strcmp(ref, "#")) {
        defs = NULL;
    } else {
        return err_set(c->err, LM_ERR_UNSUPPORTED, "schema at %s: $ref '%s' is not supported (only #, #/$defs/NAME, #/definitions/NAME)",
                       path, ref);
    }
    json_t *target = name ? json_object_get(defs, name) : c->g->root_schema;
    if (!target) return err_set(c->err, LM_ERR_INVALID, "schema at %s: $ref '%s' names nothing", path, ref);
    int id = new_node(c->g, K_REF);
    if (id < 0 || json_object_set_new(c->refs, ref, json_integer(id))) return nomem(c);
    int t;
    LM_TRY(compile(c, target, ref + 1, depth + 1, &t));
    c->g->nodes[id].target = t;
    *out = id;
    return LM_OK;
}

static lm_status compile(cctx *c, json_t *s, const char *path, int depth, int *out) {
    grammar *g = c->g;
    if (depth > 64 || g->n_nodes > MAX_NODES)
        return err_set(c->err, LM_ERR_UNSUPPORTED, "schema at %s: nested or large beyond the supported limits", path);
    if (json_is_true(s)) {
        *out = g->any;
        return LM_OK;
    }
    if (!json_is_object(s))
        return err_set(c->err, LM_ERR_INVALID, "schema at %s: a schema must be an object or true", path);
    const char *key;
    json_t *v;
    json_object_foreach(s, key, v) {
        if (!in_list(key, known_keys) && !in_list(key, ignored_keys))
            return err_set(c->err, LM_ERR_UNSUPPORTED, "schema at %s: keyword '%s' is not supported", path, key);
    }
    char sub[512];
    json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        if (!json_is_string(ref)) return err_set(c->err, LM_ERR_INVALID, "schema at %s: $ref must be a string", path);
        if (json_object_size(s) > 1) {
            const char *k2;
            json_t *v2;
            json_object_foreach(s, k2, v2) if (strcmp(k2, "$ref") && !in_list(k2, ignored_keys)) return err_set(
                c->err, LM_ERR_UNSUPPORTED, "schema at %s: '%s' beside $ref is not supported", path, k2);
        }
        return compile_ref(c, json_string_value(ref), path, depth, out);
    }
    json_t *cst = json_object_get(s, "const"), *en = json_object_get(s, "enum");
    if (cst || en) {
        int id = new_node(g, K_LIT);
        if (id < 0) return nomem(c);
        if (cst) LM_TRY(add_literal(c, id, cst, path));
        if (en) {
            if (!json_is_array(en) || json_array_size(en) == 0)
                return err_set(c->err, LM_ERR_INVALID, "schema at %s: enum must be a non-empty array", path);
            size_t i;
            json_array_foreach(en, i, v) if (!cst) LM_TRY(add_literal(c, id, v, path));
        }
        if (json_is_true(json_object_get(s, "nullable"))) LM_TRY(add_literal(c, id, json_null(), path));
        *out = id;
        return LM_OK;
    }
    json_t *any = json_object_get(s, "anyOf");
    const char *any_key = "anyOf";
    if (!any) {
        any = json_object_get(s, "oneOf");
        any_key = "oneOf";
    }
    json_t *type = json_object_get(s, "type");
    int nullable = json_is_true(json_object_get(s, "nullable"));
    if (any) {
        if (type) return err_set(c->err, LM_ERR_UNSUPPORTED, "schema at %s: 'type' beside %s is not supported", path, any_key);
        if (!json_is_array(any) || json_array_size(any) == 0)
            return err_set(c->err, LM_ERR_INVALID, "schema at %s: %s must be a non-empty array", path, any_key);
        int id = new_node(g, K_ALT);
        if (id < 0) return nomem(c);
        size_t i;
        json_array_foreach(any, i, v) {
            snprintf(sub, sizeof sub, "%s/%s/%zu", path, any_key, i);
            int a;
            LM_TRY(compile(c, v, sub, depth + 1, &a));
            LM_TRY(alt_add(c, id, a));
        }
        if (nullable) {
            int nn;
            LM_TRY(compile_type(c, s, "null", path, depth, &nn));
            LM_TRY(alt_add(c, id, nn));
        }
        *out = id;
        return LM_OK;
    }
    if (!type) {
        if (nullable) return err_set(c->err, LM_ERR_UNSUPPORTED, "schema at %s: nullable without a type", path);
        /* no type: guess from the keywords present, else any value */
        if (json_object_get(s, "properties") || json_object_get(s, "required") || json_object_get(s, "additionalProperties"))
            return compile_type(c, s, "object", path, depth, out);
        if (json_object_get(s, "items")) return compile_type(c, s, "array", path, depth, out);
        *out = g->any;
        return LM_OK;
    }
    if (json_is_string(type) && !nullable) return compile_type(c, s, json_string_value(type), path, depth, out);
    if (!json_is_string(type) && !json_is_array(type))
        return err_set(c->err, LM_ERR_INVALID, "schema at %s: type must be a string or an array", path);
    int id = new_node(g, K_ALT);
    if (id < 0) return nomem(c);
    int has_null = 0;
    for (size_t i = 0; i < (json_is_array(type) ? json_array_size(type) : 1); i++) {
        json_t *t = json_is_array(type) ? json_array_get(type, i) : type;
        if (!json_is_string(t)) return err_set(c->err, LM_ERR_INVALID, "schema at %s: type list holds a non-string", path);
        has_null |= !strcmp(json_string_value(t), "null");
        int a;
        LM_TRY(compile_type(c, s, json_string_value(t), path, depth, &a));
        LM_TRY(alt_add(c, id, a));
    }
    if (nullable && !has_null) {
        int a;
        LM_TRY(compile_type(c, s, "null", path, depth, &a));
        LM_TRY(alt_add(c, id, a));
    }
    *out = id;
    return LM_OK;
}

/* Follows K_REF chains (cycles of bare refs are refused at the first use). */
static int resolve(const grammar *g, int n) {
    for (int i = 0; i < MAX_EXPAND && n >= 0 && g->nodes[n].kind == K_REF; i++) n = g->nodes[n].target;
    return n;
}

lm_status grammar_compile(json_t *schema, grammar **out, lm_error *err) {
    *out = NULL;
    grammar *g = calloc(1, sizeof *g);
    if (!g) return err_set(err, LM_ERR_NOMEM, "out of memory compiling the schema");
    g->root_schema = json_incref(schema);
    cctx c = {g, err, json_object()};
    lm_status s = c.refs ? LM_OK : err_set(err, LM_ERR_NOMEM, "out of memory compiling the schema");
    if (s == LM_OK) {
        g->any = new_node(g, K_ANY);
        g->str = new_node(g, K_STR);
        g->num = new_node(g, K_NUM);
        g->lits = new_node(g, K_LIT);
        if (g->any < 0 || g->str < 0 || g->num < 0 || g->lits < 0) s = nomem(&c);
    }
    if (s == LM_OK) s = add_literal(&c, g->lits, json_true(), "#");
    if (s == LM_OK) s = add_literal(&c, g->lits, json_false(), "#");
    if (s == LM_OK) s = add_literal(&c, g->lits, json_null(), "#");
    if (s == LM_OK) {
        g->any_obj = new_node(g, K_OBJ);
        g->any_arr = new_node(g, K_ARR);
        if (g->any_obj < 0 || g->any_arr < 0) s = nomem(&c);
        else {
            g->nodes[g->any_obj].extra = g->any;
            g->nodes[g->any_arr].item = g->any;
        }
    }
    if (s == LM_OK) s = compile(&c, schema, "#", 0, &g->root);
    json_decref(c.refs);
    for (int i = 0; s == LM_OK && i < g->n_nodes; i++) /* a $ref cycle that never reaches a value */
        if (g->nodes[i].kind == K_REF && (g->nodes[resolve(g, i)].kind == K_REF || resolve(g, i) < 0))
            s = err_set(err, LM_ERR_INVALID, "schema: $ref cycle with no value");
    if (s != LM_OK) {
        grammar_destroy(g);
        return s;
    }
    *out = g;
    return LM_OK;
}

lm_status grammar_any_object(grammar **out, lm_error *err) {
    json_t *s = json_pack("{s:s}", "type", "object");
    if (!s) return err_set(err, LM_ERR_NOMEM, "out of memory");
    lm_status st = grammar_compile(s, out, err);
    json_decref(s);
    return st;
}

/* ---- matching ------------------------------------------------------------------------------ */

enum { FEED_REJECT = 0, FEED_OK = 1 };

typedef struct {
    int n;
    gthread *t;              /* room for GMATCH_MAX_THREADS */
} tset;

static void copy_thread(gthread *dst, const gthread *src) {
    int d = src->depth < 0 ? 0 : src->depth > GMATCH_MAX_DEPTH ? GMATCH_MAX_DEPTH : src->depth;
    dst->depth = d;
    memcpy(dst->f, src->f, (size_t)d * sizeof(gframe));
}

/* A fresh frame for node n (K_REF resolved; K_ALT and K_ANY stay, resolved at the first byte). */
static int push(const grammar *g, gthread *t, int n) {
    if (t->depth >= GMATCH_MAX_DEPTH) return 0;
    n = resolve(g, n);
    if (n < 0) return 0;
    gframe *f = &t->f[t->depth++];
    memset(f, 0, sizeof *f);
    f->node = n;
    f->kind = (uint8_t)g->nodes[n].kind;
    f->fscale = 1.0;
    if (f->kind == K_LIT) f->cand = g->nodes[n].n_lits >= 64 ? ~0ull : (1ull << g->nodes[n].n_lits) - 1;
    return 1;
}

/* Could a number that starts as the frame so far still end inside the node's bounds? */
static int num_feasible(const gnode *n, const gframe *f, int complete) {
    if (!n->has_min && !n->has_max) return 1;
    double sgn = f->neg ? -1.0 : 1.0;
    double lo, hi; /* magnitudes reachable */
    if (complete) {
        lo = hi = f->v + f->f;
    } else if (f->phase == 4 || f->phase == 5) { /* in the fraction */
        lo = f->v + f->f;
        hi = f->v + f->f + f->fscale;
    } else if (f->phase == 2) { /* leading 0: only a fraction may follow */
        lo = 0;
        hi = n->integer ? 0 : 1;
    } else if (f->phase == 3) { /* more integer digits, or a fraction */
        lo = f->v;
        hi = n->integer ? f->v : f->v + 1;
        double p = 1;
        for (int k = f->ndig; k < MAX_DIGITS; k++) {
            p *= 10;
            double a = f->v * p, b = (f->v + 1) * p; /* [a, b) with k - ndig + 1 more digits */
            double l2 = a, h2 = n->integer ? b - 1 : b;
            double vlo = sgn > 0 ? l2 : -h2, vhi = sgn > 0 ? h2 : -l2;
            int ok = (!n->has_min || vhi > n->min || (!n->excl_min && vhi >= n->min)) &&
                     (!n->has_max || vlo < n->max || (!n->excl_max && vlo <= n->max));
            if (ok) return 1;
        }
    } else { /* start or after '-': anything of that sign */
        lo = 0;
        hi = 1e15;
    }
    double vlo = sgn > 0 ? lo : -hi, vhi = sgn > 0 ? hi : -lo;
    if (complete) {
        double x = vlo;
        if (n->has_min && (x < n->min || (n->excl_min && x == n->min))) return 0;
        if (n->has_max && (x > n->max || (n->excl_max && x == n->max))) return 0;
        return 1;
    }
    /* the open interval test is loose at the edges; completion checks exactly */
    return (!n->has_min || vhi >= n->min) && (!n->has_max || vlo <= n->max);
}

static int num_accepting(const gnode *n, const gframe *f) {
    return (f->phase == 2 || f->phase == 3 || f->phase == 5 || f->phase == 8) && num_feasible(n, f, 1);
}

static int lit_complete(const gnode *n, const gframe *f) {
    for (int k = 0; k < n->n_lits; k++)
        if ((f->cand >> k & 1) && n->lit_len[k] == (size_t)f->count) return 1;
    return 0;
}

/* The top frame finished: pop it and tell the parent its child is done. */
static void child_done(gthread *t) {
    t->depth--;
    if (t->depth == 0) return;
    gframe *p = &t->f[t->depth - 1];
    if (p->kind == K_ARR) {
        p->phase = 2;
        p->count++;
    } else if (p->kind == K_OBJ) {
        p->phase = (p->phase == 4) ? 5 : 3; /* a value, or a generic key */
        p->flag = 0;
    }
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static int is_hex(int c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* Feeds byte c to thread t (deterministic part). Returns FEED_OK, FEED_REJECT, or 2 when the top
 * frame is K_ALT/K_ANY and must be resolved by the caller. */
static int step(const grammar *g, gthread *t, int c) {
    for (;;) {
        if (t->depth == 0) return FEED_REJECT;
        gframe *f = &t->f[t->depth - 1];
        const gnode *n = &g->nodes[f->node];
        switch (f->kind) {
        case K_ALT:
        case K_ANY:
            return 2;
        case K_STR:
            if (f->phase == 0) {
                if (c != '"') return FEED_REJECT;
                f->phase = 1;
                return FEED_OK;
            }
            if (f->phase == 2) { /* after a backslash */
                if (c == 'u') {
                    f->phase = 3;
                    f->idx = 4;
                    return FEED_OK;
                }
                if (!c || !strchr("\"\\/bfnrt", c)) return FEED_REJECT;
                f->phase = 1;
                return FEED_OK;
            }
            if (f->phase == 3) {
                if (!is_hex(c)) return FEED_REJECT;
                if (--f->idx == 0) f->phase = 1;
                return FEED_OK;
            }
            if (f->utf8) {
                if ((c & 0xC0) != 0x80) return FEED_REJECT;
                f->utf8--;
                return FEED_OK;
            }
            if (c == '"') {
                if (f->count < n->min_len) return FEED_REJECT;
                child_done(t);
                return FEED_OK;
            }
            if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xC2) || c > 0xF4) return FEED_REJECT;
            if (n->max_len >= 0 && f->count >= n->max_len) return FEED_REJECT;
            f->count++;
            if (c == '\\') f->phase = 2;
            else if (c >= 0xF0) f->utf8 = 3;
            else if (c >= 0xE0) f->utf8 = 2;
            else if (c >= 0xC2) f->utf8 = 1;
            return FEED_OK;
        case K_NUM: {
            int ph = f->phase, np = -1;
            int bounded = n->has_min || n->has_max;
            switch (ph) {
            case 0: np = c == '-' ? 1 : c == '0' ? 2 : is_digit(c) ? 3 : -1; break;
            case 1: np = c == '0' ? 2 : is_digit(c) ? 3 : -1; break;
            case 2: np = (c == '.' && !n->integer) ? 4 : ((c == 'e' || c == 'E') && !n->integer && !bounded) ? 6 : -1; break;
            case 3: np = is_digit(c) && f->ndig < MAX_DIGITS ? 3 : (c == '.' && !n->integer) ? 4
                       : ((c == 'e' || c == 'E') && !n->integer && !bounded) ? 6 : -1; break;
            case 4: np = is_digit(c) ? 5 : -1; break;
            case 5: np = is_digit(c) && f->nfrac < MAX_DIGITS ? 5 : ((c == 'e' || c == 'E') && !bounded) ? 6 : -1; break;
            case 6: np = (c == '+' || c == '-') ? 7 : is_digit(c) ? 8 : -1; break;
            case 7: np = is_digit(c) ? 8 : -1; break;
            case 8: np = is_digit(c) && f->ndig < 3 ? 8 : -1; break; /* ndig reused: exponent digits */
            }
            if (np < 0) {
                /* the number ends here: the byte belongs to the parent */
                if (!num_accepting(n, f)) return FEED_REJECT;
                child_done(t);
                continue;
            }
            gframe save = *f;
            if (np == 1) f->neg = 1;
            else if (np == 3) {
                f->v = f->v * 10 + (c - '0');
                f->ndig++;
            } else if (np == 5) {
                f->fscale /= 10;
                f->f += (c - '0') * f->fscale;
                f->nfrac++;
            } else if (np == 6) {
                f->ndig = 0;
            } else if (np == 8) {
                f->ndig++;
            } else if (np == 2) {
                f->ndig = 1;
            }
            f->phase = (uint8_t)np;
            if (np != 6 && np != 7 && np != 8 && !num_feasible(n, f, 0)) {
                *f = save;
                return FEED_REJECT;
            }
            return FEED_OK;
        }
        case K_LIT: {
            uint64_t keep = 0;
            for (int k = 0; k < n->n_lits; k++)
                if ((f->cand >> k & 1) && (size_t)f->count < n->lit_len[k] && (unsigned char)n->lits[k][f->count] == c)
                    keep |= 1ull << k;
            if (keep) {
                f->cand = keep;
                f->count++;
                return FEED_OK;
            }
            if (!lit_complete(n, f)) return FEED_REJECT;
            child_done(t);
            continue;
        }
        case K_ARR:
            switch (f->phase) {
            case 0:
                if (c != '[') return FEED_REJECT;
                f->phase = 1;
                return FEED_OK;
            case 1:
                if (c == ']') {
                    if (n->min_items > 0) return FEED_REJECT;
                    child_done(t);
                    return FEED_OK;
                }
                if (n->max_items == 0 || !push(g, t, n->item)) return FEED_REJECT;
                continue;
            case 2:
                if (c == ',' && (n->max_items < 0 || f->count < n->max_items)) {
                    f->phase = 3;
                    f->flag = 0;
                    return FEED_OK;
                }
                if (c == ']' && f->count >= n->min_items) {
                    child_done(t);
                    return FEED_OK;
                }
                return FEED_REJECT;
            default: /* 3: after ',' */
                if (c == ' ' && !f->flag) {
                    f->flag = 1;
                    return FEED_OK;
                }
                if (!push(g, t, n->item)) return FEED_REJECT;
                continue;
            }
        case K_OBJ: {
            int generic = n->n_props == 0;
            /* first property that cannot be skipped, from idx on */
            int req = n->n_props;
            for (int k = f->idx; k < n->n_props; k++)
                if (n->required[k]) {
                    req = k;
                    break;
                }
            switch (f->phase) {
            case 0:
                if (c != '{') return FEED_REJECT;
                f->phase = 1;
                return FEED_OK;
            case 1: /* after '{' */
            case 6: /* after ',' */
                if (f->phase == 6 && c == ' ' && !f->flag) {
                    f->flag = 1;
                    return FEED_OK;
                }
                if (f->phase == 1 && c == '}') {
                    if (req < n->n_props) return FEED_REJECT;
                    child_done(t);
                    return FEED_OK;
                }
                if (c != '"') return FEED_REJECT;
                if (generic) { /* any key: a string frame; its completion moves us to phase 3 */
                    if (n->extra < 0 || !push(g, t, g->str)) return FEED_REJECT;
                    continue;
                }
                if (f->idx >= n->n_props) return FEED_REJECT;
                f->cand = 0;
                for (int k = f->idx; k <= req && k < n->n_props; k++) f->cand |= 1ull << k;
                f->count = 0;
                f->phase = 2;
                continue;
            case 2: { /* matching a declared key */
                uint64_t keep = 0;
                int done = -1;
                for (int k = 0; k < n->n_props; k++)
                    if ((f->cand >> k & 1) && (size_t)f->count < n->key_len[k] && (unsigned char)n->keys[k][f->count] == c) {
                        keep |= 1ull << k;
                        if ((size_t)f->count + 1 == n->key_len[k]) done = k;
                    }
                if (!keep) return FEED_REJECT;
                f->cand = keep;
                f->count++;
                if (done >= 0) {
                    f->idx = done + 1;
                    f->count = done; /* the property whose value comes next */
                    f->phase = 3;
                }
                return FEED_OK;
            }
            case 3:
                if (c != ':') return FEED_REJECT;
                f->phase = 4;
                f->flag = 0;
                return FEED_OK;
            case 4:
                if (c == ' ' && !f->flag) {
                    f->flag = 1;
                    return FEED_OK;
                }
                if (!push(g, t, generic ? n->extra : n->prop[f->count])) return FEED_REJECT;
                continue;
            default: /* 5: after a value */
                if (c == ',' && (generic || f->idx < n->n_props)) {
                    f->phase = 6;
                    f->flag = 0;
                    return FEED_OK;
                }
                if (c == '}' && req >= n->n_props) {
                    child_done(t);
                    return FEED_OK;
                }
                return FEED_REJECT;
            }
        }
        }
        return FEED_REJECT;
    }
}

/* An any-value object (members of any value) and array, made on first use. */
static int any_object(const grammar *g) { return g->any_obj; }

/* Feeds c to `in`, appending every resulting thread to out (K_ALT forks, K_ANY picks by byte). */
static void feed(const grammar *g, const gthread *in, int c, tset *out, int expand) {
    if (out->n >= GMATCH_MAX_THREADS) return;
    gthread *t = &out->t[out->n];
    copy_thread(t, in);
    int r = step(g, t, c);
    if (r == FEED_OK) {
        out->n++;
        return;
    }
    if (r != 2 || expand >= MAX_EXPAND) return;
    gframe *f = &t->f[t->depth - 1];
    const gnode *n = &g->nodes[f->node];
    gthread tmp;
    copy_thread(&tmp, t);
    tmp.depth--;
    if (f->kind == K_ALT) {
        for (int a = 0; a < n->n_alts; a++) {
            gthread alt;
            copy_thread(&alt, &tmp);
            if (push(g, &alt, n->alts[a])) feed(g, &alt, c, out, expand + 1);
        }
        return;
    }
    /* K_ANY: the first byte says which kind of value */
    int node = c == '{' ? any_object(g) : c == '[' ? g->any_arr : c == '"' ? g->str
             : (c == '-' || is_digit(c)) ? g->num : (c == 't' || c == 'f' || c == 'n') ? g->lits : -1;
    if (node < 0) return;
    if (tmp.depth >= GMATCH_MAX_DEPTH - 1 && (c == '{' || c == '[')) return; /* too deep to nest */
    if (push(g, &tmp, node)) feed(g, &tmp, c, out, expand + 1);
}

static void feed_set(const grammar *g, const gmatch *in, int c, gmatch *out) {
    tset ts = {0, out->t};
    for (int i = 0; i < in->n; i++) feed(g, &in->t[i], c, &ts, 0);
    out->n = ts.n;
    out->g = g;
}

void gmatch_init(gmatch *m, const grammar *g) {
    m->g = g;
    m->n = 1;
    m->t[0].depth = 0;
    push(g, &m->t[0], g->root);
}

static int thread_done(const grammar *g, const gthread *t) {
    if (t->depth == 0) return 1;
    if (t->depth > 1) return 0;
    const gframe *f = &t->f[0];
    const gnode *n = &g->nodes[f->node];
    if (f->kind == K_NUM) return num_accepting(n, f);
    if (f->kind == K_LIT) return lit_complete(n, f);
    return 0;
}

int gmatch_done(const gmatch *m) {
    for (int i = 0; i < m->n; i++)
        if (thread_done(m->g, &m->t[i])) return 1;
    return 0;
}

int gmatch_accept_text(gmatch *m, const char *s, size_t len) {
    gmatch *tmp = malloc(sizeof *tmp);
    if (!tmp) {
        m->n = 0;
        return 0;
    }
    for (size_t i = 0; i < len && m->n; i++) {
        feed_set(m->g, m, (unsigned char)s[i], tmp);
        m->n = tmp->n;
        for (int k = 0; k < tmp->n && k < GMATCH_MAX_THREADS; k++) copy_thread(&m->t[k], &tmp->t[k]);
    }
    free(tmp);
    return m->n > 0;
}

/* ---- the vocabulary ------------------------------------------------------------------------ */

enum { V_TEXT = 0, V_EOG = 1, V_SPECIAL = 2 };

struct grammar_vocab {
    int n;
    uint32_t *off, *len;     /* (n) each token's bytes in `bytes` */
    char *bytes;
    uint8_t *kind;           /* V_* */
    uint8_t *plain;          /* only characters a string may hold as they are (no '"', '\\',
                                control), complete UTF-8 */
    uint32_t *chars;         /* characters in the token (plain tokens) */
    int32_t *sorted;         /* text tokens by their bytes (memcmp order) */
    int n_sorted;
    int32_t *sorted_np;      /* the same order, tokens that are not plain */
    int n_np;
};

void grammar_vocab_destroy(grammar_vocab *v) {
    if (!v) return;
    free(v->off);
    free(v->len);
    free(v->bytes);
    free(v->kind);
    free(v->plain);
    free(v->chars);
    free(v->sorted);
    free(v->sorted_np);
    free(v);
}

int grammar_vocab_size(const grammar_vocab *v) { return v->n; }

static int plain_chars(const unsigned char *s, size_t n, uint32_t *chars) {
    uint32_t count = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t l = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        if (!l || i + l > n || c < 0x20 || c == '"' || c == '\\' || c == 0x7F) return 0;
        for (size_t k = 1; k < l; k++)
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        i += l;
        count++;
    }
    *chars = count;
    return n > 0;
}

static _Thread_local const grammar_vocab *sort_vocab; /* qsort has no context argument */

static int cmp_token(const void *a, const void *b) {
    const grammar_vocab *v = sort_vocab;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = v->len[x], ly = v->len[y];
    int c = memcmp(v->bytes + v->off[x], v->bytes + v->off[y], lx < ly ? lx : ly);
    return c ? c : (lx > ly) - (lx < ly);
}

lm_status grammar_vocab_create(const tok_tokenizer *t, grammar_vocab **out, lm_error *err) {
    *out = NULL;
    grammar_vocab *v = calloc(1, sizeof *v);
    if (!v) return err_set(err, LM_ERR_NOMEM, "out of memory");
    v->n = (int)tok_vocab_size(t);
    size_t n = (size_t)v->n;
    v->off = malloc(n * sizeof *v->off);
    v->len = malloc(n * sizeof *v->len);
    v->kind = calloc(n, 1);
    v->plain = calloc(n, 1);
    v->chars = calloc(n, sizeof *v->chars);
    lm_buf all = {0};
    if (!v->off || !v->len || !v->kind || !v->plain || !v->chars) {
        grammar_vocab_destroy(v);
        return err_set(err, LM_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        int32_t id = (int32_t)i;
        size_t before = all.len;
        if (tok_is_eog(t, id)) v->kind[i] = V_EOG;
        else if (tok_is_special(t, id)) v->kind[i] = V_SPECIAL;
        else tok_token_bytes(t, id, &all);
        v->off[i] = (uint32_t)before;
        v->len[i] = (uint32_t)(all.len - before);
        v->plain[i] = v->kind[i] == V_TEXT && plain_chars((const unsigned char *)all.data + before, all.len - before, &v->chars[i]);
    }
    if (all.oom) {
        buf_fini(&all);
        grammar_vocab_destroy(v);
        return err_set(err, LM_ERR_NOMEM, "out of memory");
    }
    v->bytes = all.data ? all.data : calloc(1, 1);
    v->sorted = malloc(n * sizeof *v->sorted + 1);
    v->sorted_np = malloc(n * sizeof *v->sorted_np + 1);
    if (!v->bytes || !v->sorted || !v->sorted_np) {
        grammar_vocab_destroy(v);
        return err_set(err, LM_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        if (v->kind[i] == V_TEXT && v->len[i] > 0) v->sorted[v->n_sorted++] = (int32_t)i;
    sort_vocab = v;
    qsort(v->sorted, (size_t)v->n_sorted, sizeof *v->sorted, cmp_token);
    sort_vocab = NULL;
    for (int i = 0; i < v->n_sorted; i++)
        if (!v->plain[v->sorted[i]]) v->sorted_np[v->n_np++] = v->sorted[i];
    *out = v;
    return LM_OK;
}

/* ---- the mask ------------------------------------------------------------------------------ */

/* Every thread is inside the body of a string, between characters: a plain token of at most
 * *room characters keeps it there (room -1: unbounded). */
static int all_in_string(const gmatch *m, int *room) {
    *room = -1;
    for (int i = 0; i < m->n; i++) {
        const gthread *t = &m->t[i];
        if (t->depth == 0) return 0;
        const gframe *f = &t->f[t->depth - 1];
        if (f->kind != K_STR || f->phase != 1 || f->utf8) return 0;
        const gnode *n = &m->g->nodes[f->node];
        if (n->max_len >= 0) {
            int r = n->max_len - f->count;
            if (*room < 0 || r < *room) *room = r;
        }
    }
    return m->n > 0;
}

struct gmatch_scratch {
    gmatch st[GMATCH_DFS_DEPTH + 2]; /* st[d]: the threads after the first d bytes of a token */
    gmatch a, b;
};

gmatch_scratch *gmatch_scratch_create(void) { return malloc(sizeof(gmatch_scratch)); }

void gmatch_scratch_destroy(gmatch_scratch *s) { free(s); }

/* Marks the tokens of `list` (memcmp order) that the threads in st[0] accept. Tokens share the
 * work on their common prefix with the token before; once a prefix is refused, every following
 * token that starts with it is skipped without feeding. */
static void mask_list(const grammar *g, const grammar_vocab *v, gmatch_scratch *sc, const int32_t *list, int n,
                      uint8_t *allowed) {
    const unsigned char *prev = NULL;
    uint32_t prev_len = 0;
    int have = 0;        /* st[0..have] are valid for prev's first `have` bytes */
    int dead = -1;       /* prev's first dead+1 bytes are refused (-1: none) */
    for (int i = 0; i < n; i++) {
        int32_t id = list[i];
        const unsigned char *s = (const unsigned char *)v->bytes + v->off[id];
        uint32_t len = v->len[id];
        uint32_t l = 0, lim = len < prev_len ? len : prev_len;
        while (l < lim && s[l] == prev[l]) l++;
        if (dead >= 0 && l > (uint32_t)dead) {
            allowed[id] = 0;
            continue;
        }
        int d = (int)l < have ? (int)l : have;
        dead = -1;
        int ok = 1;
        for (uint32_t k = (uint32_t)d; k < len; k++) {
            if (k < GMATCH_DFS_DEPTH) {
                feed_set(g, &sc->st[k], s[k], &sc->st[k + 1]);
                if (!sc->st[k + 1].n) {
                    dead = (int)k;
                    have = (int)k;
                    ok = 0;
                    break;
                }
                have = (int)k + 1;
            } else { /* long tokens: the rest on two scratch states */
                gmatch *cur = &sc->st[GMATCH_DFS_DEPTH], *nxt = &sc->a;
                for (uint32_t q = k; q < len && cur->n; q++) {
                    feed_set(g, cur, s[q], nxt);
                    cur = nxt;
                    nxt = cur == &sc->a ? &sc->b : &sc->a;
                }
                ok = cur->n > 0;
                break;
            }
        }
        allowed[id] = (uint8_t)ok;
        prev = s;
        prev_len = len;
    }
}

void gmatch_mask(const gmatch *m, const grammar_vocab *v, gmatch_scratch *sc, uint8_t *allowed) {
    const grammar *g = m->g;
    int done = gmatch_done(m);
    memset(allowed, 0, (size_t)v->n);
    for (int i = 0; i < v->n; i++)
        if (v->kind[i] == V_EOG) allowed[i] = (uint8_t)done;
    sc->st[0].g = g;
    sc->st[0].n = m->n;
    for (int k = 0; k < m->n; k++) copy_thread(&sc->st[0].t[k], &m->t[k]);
    int room;
    if (all_in_string(m, &room)) {
        /* plain tokens keep the string going while they fit; the others are fed */
        for (int i = 0; i < v->n; i++)
            if (v->plain[i]) allowed[i] = room < 0 || v->chars[i] <= (uint32_t)room;
        mask_list(g, v, sc, v->sorted_np, v->n_np, allowed);
    } else {
        mask_list(g, v, sc, v->sorted, v->n_sorted, allowed);
    }
}

int gmatch_accept(gmatch *m, const grammar_vocab *v, int32_t id) {
    if (id < 0 || id >= v->n) {
        m->n = 0;
        return 0;
    }
    if (v->kind[id] == V_EOG) {
        if (!gmatch_done(m)) m->n = 0;
        return m->n > 0;
    }
    if (v->kind[id] != V_TEXT || v->len[id] == 0) {
        m->n = 0;
        return 0;
    }
    return gmatch_accept_text(m, v->bytes + v->off[id], v->len[id]);
}
