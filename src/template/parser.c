/* parser.c — Jinja2 grammar by recursive descent; each function is preceded by its rule.
 * Binary operators come from a priority table (Lua's subexpr shape); every recursive entry
 * counts its depth. Errors: a parse function returns NULL and `err` holds the message. */
#include "template/parser.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "template/builtins.h"
#include "template/lexer.h"

#define ENDS_MAX 64 /* nesting of block statements remembered for "unknown tag" messages */

typedef struct {
    tpl_lexer lx;
    tpl_token tok;     /* current token */
    tpl_token ahead;   /* lookahead, valid when has_ahead */
    int has_ahead;
    lm_arena *a;
    tpl_symtab *syms;
    lm_error *err;
    int depth, max_depth;
    int loops;         /* for loops around the current statement, within the current macro */
    tpl_node *macro;   /* innermost macro or call block: flags varargs/kwargs/caller use */
    const char *const *ends[ENDS_MAX]; /* end tags looked for, innermost last */
    int nends;
} parser;

/* ---- tokens ---- */

static void *fail(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void *fail(parser *p, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tpl_lex_error_at(p->err, LM_ERR_FORMAT, p->tok.line, p->tok.col, "%s", msg);
    return NULL;
}

static int advance(parser *p) {
    if (p->has_ahead) {
        p->tok = p->ahead;
        p->has_ahead = 0;
        return 1;
    }
    return tpl_lex_next(&p->lx, &p->tok, p->err) == LM_OK;
}

static const tpl_token *peek(parser *p) {
    if (!p->has_ahead) {
        if (tpl_lex_next(&p->lx, &p->ahead, p->err) != LM_OK) return NULL;
        p->has_ahead = 1;
    }
    return &p->ahead;
}

static int tok_is_name(const tpl_token *t, const char *kw) {
    return t->type == TPL_TK_NAME && t->n == strlen(kw) && memcmp(t->p, kw, t->n) == 0;
}

static int is_name(parser *p, const char *kw) { return tok_is_name(&p->tok, kw); }

/* Describes the current token for messages: its text for names, else its kind. */
static void describe(const tpl_token *t, char *buf, size_t cap) {
    if (t->type == TPL_TK_NAME) snprintf(buf, cap, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->p);
    else snprintf(buf, cap, "%s", tpl_lex_describe(t->type));
}

static int expect(parser *p, tpl_token_type type, const char *what) {
    if (p->tok.type == type) return advance(p);
    char got[64];
    describe(&p->tok, got, sizeof got);
    if (p->tok.type == TPL_TK_EOF)
        fail(p, "unexpected end of template, expected %s", what);
    else
        fail(p, "expected %s, got %s", what, got);
    return 0;
}

static int expect_name(parser *p, const char *kw) {
    if (is_name(p, kw)) return advance(p);
    char want[48], got[64];
    snprintf(want, sizeof want, "'%s'", kw);
    describe(&p->tok, got, sizeof got);
    fail(p, "expected %s, got %s", want, got);
    return 0;
}

static int enter(parser *p) {
    if (++p->depth > p->max_depth) {
        tpl_lex_error_at(p->err, LM_ERR_LIMIT, p->tok.line, p->tok.col,
                         "template nesting too deep (limit is %d)", p->max_depth);
        return 0;
    }
    return 1;
}

static void leave(parser *p) { p->depth--; }

/* ---- nodes ---- */

static tpl_node *node_at(parser *p, tpl_node_kind kind, int line, int col) {
    tpl_node *n = arena_zalloc(p->a, sizeof *n);
    if (!n) {
        err_set(p->err, LM_ERR_NOMEM, "out of memory parsing template");
        return NULL;
    }
    n->kind = (uint8_t)kind;
    n->line = line;
    n->col = col;
    return n;
}

static tpl_node *node(parser *p, tpl_node_kind kind) {
    return node_at(p, kind, p->tok.line, p->tok.col);
}

/* Growable child list during parsing (arena-backed). */
typedef struct {
    tpl_node **v;
    uint32_t n, cap;
} kidvec;

static int kid_push(parser *p, kidvec *k, tpl_node *n) {
    if (k->n == k->cap) {
        uint32_t cap = k->cap ? k->cap * 2 : 4;
        tpl_node **v = arena_grow(p->a, k->v, k->cap * sizeof *v, cap * sizeof *v);
        if (!v) {
            err_set(p->err, LM_ERR_NOMEM, "out of memory parsing template");
            return 0;
        }
        k->v = v;
        k->cap = cap;
    }
    k->v[k->n++] = n;
    return 1;
}

static void kids_set(tpl_node *n, const kidvec *k) {
    n->kids = k->v;
    n->nkids = k->n;
}

static uint32_t name_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* Returns the symbol number of a name, adding it when new; a hash index keeps this constant
 * time however many names a (hostile) template has. */
static int intern(parser *p, const char *s, size_t n, uint32_t *sym) {
    tpl_symtab *t = p->syms;
    if (t->hcap == 0 || (t->n + 1) * 2 > t->hcap) { /* grow and rebuild the index */
        uint32_t hcap = t->hcap ? t->hcap * 2 : 64;
        uint32_t *slots = arena_zalloc(p->a, hcap * sizeof *slots);
        if (!slots) goto nomem;
        for (uint32_t i = 0; i < t->n; i++) {
            uint32_t k = name_hash(t->names[i], t->lens[i]) & (hcap - 1);
            while (slots[k]) k = (k + 1) & (hcap - 1);
            slots[k] = i + 1;
        }
        t->slots = slots;
        t->hcap = hcap;
    }
    uint32_t k = name_hash(s, n) & (t->hcap - 1);
    for (; t->slots[k]; k = (k + 1) & (t->hcap - 1)) {
        uint32_t i = t->slots[k] - 1;
        if (t->lens[i] == n && memcmp(t->names[i], s, n) == 0) {
            *sym = i;
            return 1;
        }
    }
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 32;
        const char **names = arena_grow(p->a, t->names, t->cap * sizeof *names, cap * sizeof *names);
        if (!names) goto nomem;
        t->names = names;
        size_t *lens = arena_grow(p->a, t->lens, t->cap * sizeof *lens, cap * sizeof *lens);
        if (!lens) goto nomem;
        t->lens = lens;
        t->cap = cap;
    }
    t->names[t->n] = s;
    t->lens[t->n] = n;
    t->slots[k] = t->n + 1;
    *sym = t->n++;
    return 1;
nomem:
    err_set(p->err, LM_ERR_NOMEM, "out of memory parsing template");
    return 0;
}

/* A NAME node for the current NAME token; notes macro-special names. */
static tpl_node *name_node(parser *p) {
    tpl_node *n = node(p, TPL_N_NAME);
    if (!n || !intern(p, p->tok.p, p->tok.n, &n->sym)) return NULL;
    n->s = p->tok.p;
    n->sn = p->tok.n;
    if (p->macro) {
        if (n->sym == TPL_SYM_VARARGS) p->macro->flags |= TPL_NF_VARARGS;
        if (n->sym == TPL_SYM_KWARGS) p->macro->flags |= TPL_NF_KWARGS;
        if (n->sym == TPL_SYM_CALLER) p->macro->flags |= TPL_NF_CALLER;
    }
    return advance(p) ? n : NULL;
}

/* ---- expressions ---- */

static tpl_node *parse_expression(parser *p, int with_condexpr);
static tpl_node *parse_tuple(parser *p, int simplified, int with_condexpr, const char *extra_end,
                             int explicit_parens);
static tpl_node *parse_unary(parser *p, int with_filter);
static tpl_node *parse_primary(parser *p);
static tpl_node *parse_postfix(parser *p, tpl_node *n);
static tpl_node *parse_filter(parser *p, tpl_node *n, int start_inline);

/* Binary operator priorities (higher binds tighter). `not` is a prefix operator sitting between
 * `and` and the comparisons; unary minus/plus bind tighter than everything here. */
enum { PRI_NONE = 0, PRI_OR = 1, PRI_AND = 2, PRI_NOT = 3, PRI_COMPARE = 4, PRI_ADD = 5,
       PRI_CONCAT = 6, PRI_MUL = 7, PRI_POW = 8 };

static const uint8_t priority[TPL_TK_COUNT_] = {
    [TPL_TK_ADD] = PRI_ADD, [TPL_TK_SUB] = PRI_ADD, [TPL_TK_TILDE] = PRI_CONCAT,
    [TPL_TK_MUL] = PRI_MUL, [TPL_TK_DIV] = PRI_MUL, [TPL_TK_FLOORDIV] = PRI_MUL,
    [TPL_TK_MOD] = PRI_MUL, [TPL_TK_POW] = PRI_POW, [TPL_TK_EQ] = PRI_COMPARE,
    [TPL_TK_NE] = PRI_COMPARE, [TPL_TK_LT] = PRI_COMPARE, [TPL_TK_LTEQ] = PRI_COMPARE,
    [TPL_TK_GT] = PRI_COMPARE, [TPL_TK_GTEQ] = PRI_COMPARE,
};

/* The binary operator at the current token: a token type, TPL_OP_IN/NOT_IN, or one of the
 * name operators 'and'/'or' (returned as OP_AND/OP_OR); 0 when none. Sets *pri. */
enum { OP_AND = 210, OP_OR = 211 };

static int binop_at(parser *p, int *pri) {
    if (p->tok.type == TPL_TK_NAME) {
        if (is_name(p, "or")) { *pri = PRI_OR; return OP_OR; }
        if (is_name(p, "and")) { *pri = PRI_AND; return OP_AND; }
        if (is_name(p, "in")) { *pri = PRI_COMPARE; return TPL_OP_IN; }
        if (is_name(p, "not")) {
            const tpl_token *t = peek(p);
            if (t && tok_is_name(t, "in")) { *pri = PRI_COMPARE; return TPL_OP_NOT_IN; }
        }
        return 0;
    }
    if ((unsigned)p->tok.type < TPL_TK_COUNT_ && priority[p->tok.type]) {
        *pri = priority[p->tok.type];
        return (int)p->tok.type;
    }
    return 0;
}

/* subexpr -> ( 'not' subexpr(PRI_NOT) | unary ) { binop subexpr(priority of binop) }
 * Only operators binding tighter than `limit` are taken; comparisons chain (a < b < c). */
static tpl_node *subexpr(parser *p, int limit) {
    if (!enter(p)) return NULL;
    tpl_node *left;
    if (is_name(p, "not")) {
        left = node(p, TPL_N_NOT);
        if (!left || !advance(p)) return NULL;
        if (!(left->a = subexpr(p, PRI_NOT))) return NULL;
    } else {
        left = parse_unary(p, 1);
    }
    if (!left) return NULL;
    for (;;) {
        int pri = 0;
        int op = binop_at(p, &pri);
        if (!op || pri <= limit) break;
        if (pri == PRI_COMPARE) {
            tpl_node *cmp = node_at(p, TPL_N_COMPARE, left->line, left->col);
            if (!cmp) return NULL;
            cmp->a = left;
            kidvec ops = {0};
            while ((op = binop_at(p, &pri)) && pri == PRI_COMPARE) {
                tpl_node *o = node(p, TPL_N_OPERAND);
                if (!o || !advance(p)) return NULL;
                if (op == TPL_OP_NOT_IN && !advance(p)) return NULL; /* 'not' 'in' */
                o->op = (uint8_t)op;
                if (!(o->a = subexpr(p, PRI_COMPARE)) || !kid_push(p, &ops, o)) return NULL;
            }
            kids_set(cmp, &ops);
            left = cmp;
            continue;
        }
        tpl_node *bin = node_at(p, op == OP_AND ? TPL_N_AND : op == OP_OR ? TPL_N_OR : TPL_N_BINOP,
                                left->line, left->col);
        if (!bin || !advance(p)) return NULL;
        bin->op = (uint8_t)(op == OP_AND || op == OP_OR ? 0 : op);
        bin->a = left;
        if (!(bin->b = subexpr(p, pri))) return NULL;
        left = bin;
    }
    leave(p);
    return left;
}

/* expression -> subexpr [ 'if' subexpr [ 'else' expression ] ]   (when with_condexpr) */
static tpl_node *parse_expression(parser *p, int with_condexpr) {
    tpl_node *e = subexpr(p, PRI_NONE);
    if (!e || !with_condexpr) return e;
    while (is_name(p, "if")) {
        if (!enter(p)) return NULL;
        tpl_node *c = node_at(p, TPL_N_COND, e->line, e->col);
        if (!c || !advance(p)) return NULL;
        c->b = e;
        if (!(c->a = subexpr(p, PRI_NONE))) return NULL;
        if (is_name(p, "else")) {
            if (!advance(p) || !(c->c = parse_expression(p, 1))) return NULL;
        }
        e = c;
        leave(p);
    }
    return e;
}

static int is_tuple_end(parser *p, const char *extra_end) {
    tpl_token_type t = p->tok.type;
    if (t == TPL_TK_VAR_END || t == TPL_TK_BLOCK_END || t == TPL_TK_RPAREN) return 1;
    return extra_end && is_name(p, extra_end);
}

/* tuple -> [ item { ',' item } [ ',' ] ]    item is a primary (simplified), or an expression;
 * one item without a comma is that item, not a tuple. */
static tpl_node *parse_tuple(parser *p, int simplified, int with_condexpr, const char *extra_end,
                             int explicit_parens) {
    int line = p->tok.line, col = p->tok.col;
    kidvec items = {0};
    int is_tuple = 0;
    for (;;) {
        if (items.n && !expect(p, TPL_TK_COMMA, "','")) return NULL;
        if (is_tuple_end(p, extra_end)) break;
        tpl_node *e;
        if (simplified) {
            e = parse_primary(p);
        } else {
            e = parse_expression(p, with_condexpr);
        }
        if (!e || !kid_push(p, &items, e)) return NULL;
        if (p->tok.type == TPL_TK_COMMA) is_tuple = 1;
        else break;
    }
    if (!is_tuple) {
        if (items.n) return items.v[0];
        if (!explicit_parens) {
            char got[64];
            describe(&p->tok, got, sizeof got);
            return fail(p, "expected an expression, got %s", got);
        }
    }
    tpl_node *t = node_at(p, TPL_N_TUPLE, line, col);
    if (t) kids_set(t, &items);
    return t;
}

/* unary -> ( '-' | '+' ) unary_without_filters | primary ; postfix ; [ filters/tests/calls ] */
static tpl_node *parse_unary(parser *p, int with_filter) {
    if (!enter(p)) return NULL;
    tpl_node *n;
    if (p->tok.type == TPL_TK_SUB || p->tok.type == TPL_TK_ADD) {
        n = node(p, p->tok.type == TPL_TK_SUB ? TPL_N_NEG : TPL_N_POS);
        if (!n || !advance(p)) return NULL;
        if (!(n->a = parse_unary(p, 0))) return NULL;
    } else {
        n = parse_primary(p);
    }
    if (!n || !(n = parse_postfix(p, n))) return NULL;
    if (with_filter) {
        /* filter_expr -> { '|' filter | 'is' test | call } */
        for (;;) {
            if (p->tok.type == TPL_TK_PIPE) {
                n = parse_filter(p, n, 0);
            } else if (is_name(p, "is")) {
                /* test -> 'is' [ 'not' ] name { '.' name } [ call_args | primary postfix ] */
                tpl_node *t = node_at(p, TPL_N_TEST, n->line, n->col);
                if (!t || !advance(p)) return NULL;
                int negated = 0;
                if (is_name(p, "not")) {
                    negated = 1;
                    if (!advance(p)) return NULL;
                }
                if (p->tok.type != TPL_TK_NAME) return fail(p, "expected a test name after 'is'");
                t->s = p->tok.p;
                t->sn = p->tok.n;
                t->a = n;
                if (!advance(p)) return NULL;
                while (p->tok.type == TPL_TK_DOT) { /* dotted names: kept whole, never builtins */
                    if (!advance(p) || p->tok.type != TPL_TK_NAME) return fail(p, "expected name");
                    t->sn = (size_t)(p->tok.p + p->tok.n - t->s);
                    if (!advance(p)) return NULL;
                }
                t->fn.test = tpl_builtin_test(t->s, t->sn);
                tpl_token_type ty = p->tok.type;
                if (ty == TPL_TK_LPAREN) {
                    if (!(t = parse_postfix(p, t))) return NULL; /* parsed as a call below */
                } else if ((ty == TPL_TK_NAME || ty == TPL_TK_STRING || ty == TPL_TK_INT ||
                            ty == TPL_TK_FLOAT || ty == TPL_TK_LBRACKET || ty == TPL_TK_LBRACE) &&
                           !is_name(p, "else") && !is_name(p, "or") && !is_name(p, "and")) {
                    if (is_name(p, "is")) return fail(p, "you cannot chain multiple tests with is");
                    tpl_node *arg = parse_primary(p);
                    if (!arg || !(arg = parse_postfix(p, arg))) return NULL;
                    kidvec args = {0};
                    if (!kid_push(p, &args, arg)) return NULL;
                    kids_set(t, &args);
                }
                if (negated) {
                    tpl_node *no = node_at(p, TPL_N_NOT, t->line, t->col);
                    if (!no) return NULL;
                    no->a = t;
                    t = no;
                }
                n = t;
            } else if (p->tok.type == TPL_TK_LPAREN) {
                n = parse_postfix(p, n);
            } else {
                break;
            }
            if (!n) return NULL;
        }
    }
    leave(p);
    return n;
}

/* call_args -> '(' [ arg { ',' arg } [ ',' ] ] ')'
 * arg -> expression | name '=' expression | '*' expression | '**' expression
 * Fills `call`'s kids (positional, then KWARG nodes), c (*args) and d (**kwargs). */
static int parse_call_args(parser *p, tpl_node *call) {
    int line = p->tok.line, col = p->tok.col;
    if (!expect(p, TPL_TK_LPAREN, "'('")) return 0;
    kidvec args = {0};
    int nkw = 0, require_comma = 0;
    while (p->tok.type != TPL_TK_RPAREN) {
        if (require_comma) {
            if (!expect(p, TPL_TK_COMMA, "','")) return 0;
            if (p->tok.type == TPL_TK_RPAREN) break;
        }
        int bad = 0;
        if (p->tok.type == TPL_TK_MUL) {
            bad = call->c || call->d;
            if (!advance(p) || !(call->c = parse_expression(p, 1))) return 0;
        } else if (p->tok.type == TPL_TK_POW) {
            bad = call->d != NULL;
            if (!advance(p) || !(call->d = parse_expression(p, 1))) return 0;
        } else {
            const tpl_token *t = p->tok.type == TPL_TK_NAME ? peek(p) : NULL;
            if (p->tok.type == TPL_TK_NAME && !t) return 0;
            if (t && t->type == TPL_TK_ASSIGN) {
                bad = call->d != NULL;
                tpl_node *kw = node(p, TPL_N_KWARG);
                if (!kw) return 0;
                kw->s = p->tok.p;
                kw->sn = p->tok.n;
                if (!advance(p) || !advance(p) || !(kw->a = parse_expression(p, 1))) return 0;
                if (!kid_push(p, &args, kw)) return 0;
                nkw++;
            } else {
                bad = call->c || call->d || nkw;
                tpl_node *e = parse_expression(p, 1);
                if (!e || !kid_push(p, &args, e)) return 0;
            }
        }
        if (bad) {
            tpl_lex_error_at(p->err, LM_ERR_FORMAT, line, col,
                             "invalid syntax for function call expression");
            return 0;
        }
        require_comma = 1;
    }
    if (!expect(p, TPL_TK_RPAREN, "')'")) return 0;
    kids_set(call, &args);
    return 1;
}

/* filter -> '|' name { '.' name } [ call_args ]   (the '|' is absent when start_inline) */
static tpl_node *parse_filter(parser *p, tpl_node *n, int start_inline) {
    while (p->tok.type == TPL_TK_PIPE || start_inline) {
        if (!start_inline && !advance(p)) return NULL;
        start_inline = 0;
        if (p->tok.type != TPL_TK_NAME) return fail(p, "expected a filter name");
        tpl_node *f = node(p, TPL_N_FILTER);
        if (!f) return NULL;
        f->s = p->tok.p;
        f->sn = p->tok.n;
        f->a = n;
        if (!advance(p)) return NULL;
        while (p->tok.type == TPL_TK_DOT) {
            if (!advance(p) || p->tok.type != TPL_TK_NAME) return fail(p, "expected name");
            f->sn = (size_t)(p->tok.p + p->tok.n - f->s);
            if (!advance(p)) return NULL;
        }
        f->fn.filter = tpl_builtin_filter(f->s, f->sn);
        if (p->tok.type == TPL_TK_LPAREN && !parse_call_args(p, f)) return NULL;
        n = f;
    }
    return n;
}

/* subscribed -> expression | [ expression ] ':' [ expression ] [ ':' [ expression ] ] */
static tpl_node *parse_subscribed(parser *p, tpl_node *obj) {
    tpl_node *start = NULL;
    int line = p->tok.line, col = p->tok.col;
    if (p->tok.type != TPL_TK_COLON) {
        start = parse_expression(p, 1);
        if (!start) return NULL;
        if (p->tok.type != TPL_TK_COLON) {
            tpl_node *g = node_at(p, TPL_N_GETITEM, obj->line, obj->col);
            if (!g) return NULL;
            g->a = obj;
            g->b = start;
            return g;
        }
    }
    tpl_node *s = node_at(p, TPL_N_SLICE, line, col);
    if (!s || !advance(p)) return NULL; /* first ':' */
    s->a = obj;
    s->b = start;
    if (p->tok.type != TPL_TK_COLON && p->tok.type != TPL_TK_RBRACKET &&
        p->tok.type != TPL_TK_COMMA) {
        if (!(s->c = parse_expression(p, 1))) return NULL;
    }
    if (p->tok.type == TPL_TK_COLON) {
        if (!advance(p)) return NULL;
        if (p->tok.type != TPL_TK_RBRACKET && p->tok.type != TPL_TK_COMMA) {
            if (!(s->d = parse_expression(p, 1))) return NULL;
        }
    }
    return s;
}

/* postfix -> { '.' name | '.' integer | '[' subscribed { ',' subscribed } ']' | call_args } */
static tpl_node *parse_postfix(parser *p, tpl_node *n) {
    for (;;) {
        if (p->tok.type == TPL_TK_DOT) {
            if (!advance(p)) return NULL;
            if (p->tok.type == TPL_TK_NAME) {
                tpl_node *g = node_at(p, TPL_N_GETATTR, n->line, n->col);
                if (!g) return NULL;
                g->a = n;
                g->s = p->tok.p;
                g->sn = p->tok.n;
                uint32_t sym; /* interned only so that tpl_mentions() sees attribute names */
                if (!intern(p, g->s, g->sn, &sym) || !advance(p)) return NULL;
                n = g;
            } else if (p->tok.type == TPL_TK_INT) {
                tpl_node *g = node_at(p, TPL_N_GETITEM, n->line, n->col);
                tpl_node *k = node(p, TPL_N_CONST);
                if (!g || !k) return NULL;
                k->value = tpl_int(p->tok.i);
                g->a = n;
                g->b = k;
                if (!advance(p)) return NULL;
                n = g;
            } else {
                return fail(p, "expected name or number after '.'");
            }
        } else if (p->tok.type == TPL_TK_LBRACKET) {
            if (!advance(p)) return NULL;
            tpl_node *first = parse_subscribed(p, n);
            if (!first) return NULL;
            if (p->tok.type == TPL_TK_COMMA) { /* a[x, y]: tuple key (no slices in it) */
                if (first->kind != TPL_N_GETITEM) return fail(p, "slices are not allowed in a tuple subscript");
                tpl_node *tup = node_at(p, TPL_N_TUPLE, first->b->line, first->b->col);
                kidvec items = {0};
                if (!tup || !kid_push(p, &items, first->b)) return NULL;
                while (p->tok.type == TPL_TK_COMMA) {
                    if (!advance(p)) return NULL;
                    if (p->tok.type == TPL_TK_RBRACKET) break;
                    tpl_node *e = parse_expression(p, 1);
                    if (!e || !kid_push(p, &items, e)) return NULL;
                }
                kids_set(tup, &items);
                first->b = tup;
            }
            if (!expect(p, TPL_TK_RBRACKET, "']'")) return NULL;
            n = first;
        } else if (p->tok.type == TPL_TK_LPAREN) {
            tpl_node *c = node_at(p, TPL_N_CALL, n->line, n->col);
            if (!c) return NULL;
            if (n->kind == TPL_N_TEST && !n->kids) { /* `x is test(args)`: the args are the test's */
                if (!parse_call_args(p, n)) return NULL;
                return n;
            }
            c->a = n;
            if (!parse_call_args(p, c)) return NULL;
            n = c;
        } else {
            return n;
        }
    }
}

static tpl_node *const_node(parser *p, tpl_value v) {
    tpl_node *n = node(p, TPL_N_CONST);
    if (n) n->value = v;
    return n;
}

/* primary -> name | true | false | none | string { string } | integer | float
 *          | '(' tuple ')' | '[' [ expression { ',' expression } [','] ] ']'
 *          | '{' [ expression ':' expression { ',' ... } [','] ] '}' */
static tpl_node *parse_primary(parser *p) {
    tpl_node *n;
    switch (p->tok.type) {
    case TPL_TK_NAME:
        if (is_name(p, "true") || is_name(p, "True")) n = const_node(p, tpl_bool(1));
        else if (is_name(p, "false") || is_name(p, "False")) n = const_node(p, tpl_bool(0));
        else if (is_name(p, "none") || is_name(p, "None")) n = const_node(p, tpl_none());
        else return name_node(p);
        return n && advance(p) ? n : NULL;
    case TPL_TK_STRING: {
        n = node(p, TPL_N_CONST);
        if (!n) return NULL;
        const char *s = p->tok.p;
        size_t len = p->tok.n;
        if (!advance(p)) return NULL;
        while (p->tok.type == TPL_TK_STRING) { /* adjacent literals concatenate */
            char *cat = arena_alloc(p->a, len + p->tok.n + 1);
            if (!cat) return fail(p, "out of memory");
            memcpy(cat, s, len);
            memcpy(cat + len, p->tok.p, p->tok.n);
            len += p->tok.n;
            cat[len] = '\0';
            s = cat;
            if (!advance(p)) return NULL;
        }
        n->value = tpl_str(s, len);
        return n;
    }
    case TPL_TK_INT:
        n = const_node(p, tpl_int(p->tok.i));
        return n && advance(p) ? n : NULL;
    case TPL_TK_FLOAT:
        n = const_node(p, tpl_float(p->tok.f));
        return n && advance(p) ? n : NULL;
    case TPL_TK_LPAREN:
        if (!enter(p) || !advance(p)) return NULL;
        n = parse_tuple(p, 0, 1, NULL, 1);
        if (!n || !expect(p, TPL_TK_RPAREN, "')'")) return NULL;
        leave(p);
        return n;
    case TPL_TK_LBRACKET: {
        if (!enter(p)) return NULL;
        n = node(p, TPL_N_LIST);
        if (!n || !advance(p)) return NULL;
        kidvec items = {0};
        while (p->tok.type != TPL_TK_RBRACKET) {
            if (items.n && !expect(p, TPL_TK_COMMA, "','")) return NULL;
            if (p->tok.type == TPL_TK_RBRACKET) break;
            tpl_node *e = parse_expression(p, 1);
            if (!e || !kid_push(p, &items, e)) return NULL;
        }
        if (!expect(p, TPL_TK_RBRACKET, "']'")) return NULL;
        kids_set(n, &items);
        leave(p);
        return n;
    }
    case TPL_TK_LBRACE: {
        if (!enter(p)) return NULL;
        n = node(p, TPL_N_DICT);
        if (!n || !advance(p)) return NULL;
        kidvec items = {0};
        while (p->tok.type != TPL_TK_RBRACE) {
            if (items.n && !expect(p, TPL_TK_COMMA, "','")) return NULL;
            if (p->tok.type == TPL_TK_RBRACE) break;
            tpl_node *pair = node(p, TPL_N_PAIR);
            if (!pair || !(pair->a = parse_expression(p, 1))) return NULL;
            if (!expect(p, TPL_TK_COLON, "':'") || !(pair->b = parse_expression(p, 1))) return NULL;
            if (!kid_push(p, &items, pair)) return NULL;
        }
        if (!expect(p, TPL_TK_RBRACE, "'}'")) return NULL;
        kids_set(n, &items);
        leave(p);
        return n;
    }
    default: {
        char got[64];
        describe(&p->tok, got, sizeof got);
        if (p->tok.type == TPL_TK_EOF) return fail(p, "unexpected end of template");
        return fail(p, "unexpected %s", got);
    }
    }
}

/* ---- statements ---- */

static tpl_node *subparse(parser *p, const char *const *ends);
static tpl_node *parse_statement(parser *p);

static int is_end(parser *p, const char *const *ends) {
    for (; ends && *ends; ends++)
        if (is_name(p, *ends)) return 1;
    return 0;
}

static void *fail_eof(parser *p, const char *const *ends) {
    char want[160] = "";
    size_t o = 0;
    for (const char *const *e = ends; e && *e && o < sizeof want - 40; e++)
        o += (size_t)snprintf(want + o, sizeof want - o, "%s'%s'", e == ends ? "" : " or ", *e);
    if (!ends || !*ends) return fail(p, "unexpected end of template");
    return fail(p, "unexpected end of template, expected %s", want);
}

/* statements -> [ ':' ] '%}' body   — body runs until one of `ends`; the end tag's name is the
 * current token afterwards (consumed too when drop). */
static tpl_node *parse_statements(parser *p, const char *const *ends, int drop) {
    if (p->tok.type == TPL_TK_COLON && !advance(p)) return NULL;
    if (!expect(p, TPL_TK_BLOCK_END, "end of statement block")) return NULL;
    tpl_node *body = subparse(p, ends);
    if (!body) return NULL;
    if (p->tok.type == TPL_TK_EOF) return fail_eof(p, ends);
    if (drop && !advance(p)) return NULL;
    return body;
}

/* assign_target -> name | name '.' name (namespace, when with_ns) | tuple of primaries */
static tpl_node *parse_assign_target(parser *p, int name_only, int with_ns, const char *extra_end) {
    if (name_only) {
        if (p->tok.type != TPL_TK_NAME) return fail(p, "expected name");
        return name_node(p);
    }
    if (with_ns && p->tok.type == TPL_TK_NAME) {
        const tpl_token *t = peek(p);
        if (!t) return NULL;
        if (t->type == TPL_TK_DOT) {
            tpl_node *ref = node(p, TPL_N_NSREF);
            if (!ref || !(ref->a = name_node(p)) || !advance(p)) return NULL;
            if (p->tok.type != TPL_TK_NAME) return fail(p, "expected attribute name");
            ref->s = p->tok.p;
            ref->sn = p->tok.n;
            return advance(p) ? ref : NULL;
        }
    }
    tpl_node *t = parse_tuple(p, 1, 1, extra_end, 0);
    if (!t) return NULL;
    int ok = t->kind == TPL_N_NAME;
    if (t->kind == TPL_N_TUPLE) {
        ok = 1;
        for (uint32_t i = 0; i < t->nkids; i++) ok &= t->kids[i]->kind == TPL_N_NAME;
    }
    if (!ok) {
        tpl_lex_error_at(p->err, LM_ERR_FORMAT, t->line, t->col, "can't assign to this expression");
        return NULL;
    }
    return t;
}

static const char *const ends_for[] = {"endfor", "else", NULL};
static const char *const ends_endfor[] = {"endfor", NULL};
static const char *const ends_if[] = {"elif", "else", "endif", NULL};
static const char *const ends_endif[] = {"endif", NULL};
static const char *const ends_set[] = {"endset", NULL};
static const char *const ends_macro[] = {"endmacro", NULL};
static const char *const ends_call[] = {"endcall", NULL};
static const char *const ends_filter[] = {"endfilter", NULL};
static const char *const ends_with[] = {"endwith", NULL};
static const char *const ends_generation[] = {"endgeneration", NULL};

/* for -> 'for' assign_target 'in' tuple [ 'if' expression ] [ 'recursive' ] statements
 *        [ 'else' statements ] 'endfor' */
static tpl_node *parse_for(parser *p) {
    tpl_node *n = node(p, TPL_N_FOR);
    if (!n || !advance(p)) return NULL;
    if (!(n->a = parse_assign_target(p, 0, 0, "in"))) return NULL;
    if (!expect_name(p, "in")) return NULL;
    if (!(n->b = parse_tuple(p, 0, 0, "recursive", 0))) return NULL;
    if (is_name(p, "if")) {
        if (!advance(p) || !(n->c = parse_expression(p, 1))) return NULL;
    }
    if (is_name(p, "recursive")) {
        n->flags |= TPL_NF_RECURSIVE;
        if (!advance(p)) return NULL;
    }
    p->loops++;
    n->body = parse_statements(p, ends_for, 0);
    p->loops--;
    if (!n->body) return NULL;
    if (is_name(p, "else")) {
        if (!advance(p) || !(n->orelse = parse_statements(p, ends_endfor, 1))) return NULL;
    } else if (!advance(p)) { /* endfor */
        return NULL;
    }
    return n;
}

/* if -> 'if' tuple statements { 'elif' tuple statements } [ 'else' statements ] 'endif' */
static tpl_node *parse_if(parser *p) {
    tpl_node *top = node(p, TPL_N_IF);
    if (!top || !advance(p)) return NULL;
    tpl_node *cur = top;
    for (;;) {
        if (!(cur->a = parse_tuple(p, 0, 0, NULL, 0))) return NULL;
        if (!(cur->body = parse_statements(p, ends_if, 0))) return NULL;
        if (is_name(p, "elif")) {
            tpl_node *elif = node(p, TPL_N_IF);
            tpl_node *wrap = node(p, TPL_N_BODY);
            kidvec k = {0};
            if (!elif || !wrap || !kid_push(p, &k, elif) || !advance(p)) return NULL;
            kids_set(wrap, &k);
            cur->orelse = wrap;
            cur = elif;
            continue;
        }
        if (is_name(p, "else")) {
            if (!advance(p) || !(cur->orelse = parse_statements(p, ends_endif, 1))) return NULL;
        } else if (!advance(p)) { /* endif */
            return NULL;
        }
        return top;
    }
}

/* signature -> '(' [ name [ '=' expression ] { ',' name [ '=' expression ] } ] ')' */
static int parse_signature(parser *p, tpl_node *n) {
    if (!expect(p, TPL_TK_LPAREN, "'('")) return 0;
    kidvec params = {0};
    int defaults = 0;
    while (p->tok.type != TPL_TK_RPAREN) {
        if (params.n && !expect(p, TPL_TK_COMMA, "','")) return 0;
        if (p->tok.type != TPL_TK_NAME) {
            fail(p, "expected parameter name");
            return 0;
        }
        tpl_node *prm = node(p, TPL_N_PARAM);
        if (!prm || !intern(p, p->tok.p, p->tok.n, &prm->sym)) return 0;
        prm->s = p->tok.p;
        prm->sn = p->tok.n;
        if (!advance(p)) return 0;
        if (p->tok.type == TPL_TK_ASSIGN) {
            if (!advance(p) || !(prm->a = parse_expression(p, 1))) return 0;
            defaults = 1;
        } else if (defaults) {
            tpl_lex_error_at(p->err, LM_ERR_FORMAT, prm->line, prm->col,
                             "non-default argument follows default argument");
            return 0;
        }
        if (!kid_push(p, &params, prm)) return 0;
    }
    kids_set(n, &params);
    return expect(p, TPL_TK_RPAREN, "')'");
}

/* macro -> 'macro' name signature statements 'endmacro' */
static tpl_node *parse_macro(parser *p) {
    tpl_node *n = node(p, TPL_N_MACRO);
    if (!n || !advance(p)) return NULL;
    if (p->tok.type != TPL_TK_NAME) return fail(p, "expected macro name");
    n->s = p->tok.p;
    n->sn = p->tok.n;
    if (!intern(p, n->s, n->sn, &n->sym) || !advance(p)) return NULL;
    tpl_node *outer = p->macro;
    int loops = p->loops;
    p->macro = n;
    p->loops = 0; /* break/continue cannot cross a macro */
    int ok = parse_signature(p, n) && (n->body = parse_statements(p, ends_macro, 1)) != NULL;
    p->macro = outer;
    p->loops = loops;
    return ok ? n : NULL;
}

/* call -> 'call' [ signature ] expression(a call) statements 'endcall' */
static tpl_node *parse_call_block(parser *p) {
    tpl_node *n = node(p, TPL_N_CALL_BLOCK);
    if (!n || !advance(p)) return NULL;
    tpl_node *outer = p->macro;
    int loops = p->loops;
    if (p->tok.type == TPL_TK_LPAREN) {
        p->macro = n; /* defaults belong to the caller */
        int ok = parse_signature(p, n);
        p->macro = outer;
        if (!ok) return NULL;
    }
    if (!(n->a = parse_expression(p, 1))) return NULL;
    if (n->a->kind != TPL_N_CALL) {
        tpl_lex_error_at(p->err, LM_ERR_FORMAT, n->line, n->col, "expected call");
        return NULL;
    }
    p->macro = n;
    p->loops = 0;
    n->body = parse_statements(p, ends_call, 1);
    p->macro = outer;
    p->loops = loops;
    return n->body ? n : NULL;
}

/* set -> 'set' assign_target '=' tuple | 'set' assign_target [ filter ] statements 'endset' */
static tpl_node *parse_set(parser *p) {
    int line = p->tok.line, col = p->tok.col;
    if (!advance(p)) return NULL;
    tpl_node *target = parse_assign_target(p, 0, 1, NULL);
    if (!target) return NULL;
    if (p->tok.type == TPL_TK_ASSIGN) {
        tpl_node *n = node_at(p, TPL_N_SET, line, col);
        if (!n || !advance(p)) return NULL;
        n->a = target;
        return (n->b = parse_tuple(p, 0, 1, NULL, 0)) ? n : NULL;
    }
    tpl_node *n = node_at(p, TPL_N_SET_BLOCK, line, col);
    if (!n) return NULL;
    n->a = target;
    if (p->tok.type == TPL_TK_PIPE && !(n->c = parse_filter(p, NULL, 0))) return NULL;
    return (n->body = parse_statements(p, ends_set, 1)) ? n : NULL;
}

/* filter_block -> 'filter' filter statements 'endfilter' */
static tpl_node *parse_filter_block(parser *p) {
    tpl_node *n = node(p, TPL_N_FILTER_BLOCK);
    if (!n || !advance(p)) return NULL;
    if (!(n->a = parse_filter(p, NULL, 1))) return NULL;
    return (n->body = parse_statements(p, ends_filter, 1)) ? n : NULL;
}

/* with -> 'with' [ assign_target '=' expression { ',' ... } ] statements 'endwith' */
static tpl_node *parse_with(parser *p) {
    tpl_node *n = node(p, TPL_N_WITH);
    if (!n || !advance(p)) return NULL;
    kidvec pairs = {0};
    while (p->tok.type != TPL_TK_BLOCK_END) {
        if (pairs.n && !expect(p, TPL_TK_COMMA, "','")) return NULL;
        tpl_node *pair = node(p, TPL_N_PAIR);
        if (!pair || !(pair->a = parse_assign_target(p, 0, 0, NULL))) return NULL;
        if (!expect(p, TPL_TK_ASSIGN, "'='") || !(pair->b = parse_expression(p, 1))) return NULL;
        if (!kid_push(p, &pairs, pair)) return NULL;
    }
    kids_set(n, &pairs);
    return (n->body = parse_statements(p, ends_with, 1)) ? n : NULL;
}

/* statement -> for | if | set | macro | call | filter | with | break | continue | generation */
static tpl_node *parse_statement(parser *p) {
    if (p->tok.type != TPL_TK_NAME) {
        if (p->tok.type == TPL_TK_EOF) return fail(p, "unexpected end of template");
        return fail(p, "tag name expected");
    }
    if (!enter(p)) return NULL;
    tpl_node *n = NULL;
    if (is_name(p, "for")) n = parse_for(p);
    else if (is_name(p, "if")) n = parse_if(p);
    else if (is_name(p, "set")) n = parse_set(p);
    else if (is_name(p, "macro")) n = parse_macro(p);
    else if (is_name(p, "call")) n = parse_call_block(p);
    else if (is_name(p, "filter")) n = parse_filter_block(p);
    else if (is_name(p, "with")) n = parse_with(p);
    else if (is_name(p, "generation")) {
        /* transformers' {% generation %}: renders its body in a scope of its own */
        n = node(p, TPL_N_WITH);
        if (!n || !advance(p) || !(n->body = parse_statements(p, ends_generation, 1))) return NULL;
    } else if (is_name(p, "break") || is_name(p, "continue")) {
        if (p->loops == 0) return fail(p, "'%.*s' outside a loop", (int)p->tok.n, p->tok.p);
        n = node(p, is_name(p, "break") ? TPL_N_BREAK : TPL_N_CONTINUE);
        if (n && !advance(p)) return NULL;
    } else if (is_name(p, "extends") || is_name(p, "include") || is_name(p, "import") ||
               is_name(p, "from") || is_name(p, "block")) {
        tpl_lex_error_at(p->err, LM_ERR_UNSUPPORTED, p->tok.line, p->tok.col,
                         "tag '%.*s' is not supported in chat templates", (int)p->tok.n, p->tok.p);
        return NULL;
    } else {
        /* Jinja2's message: also say which end tags are being looked for */
        char msg[256];
        int o = snprintf(msg, sizeof msg, "encountered unknown tag '%.*s'",
                         (int)(p->tok.n > 40 ? 40 : p->tok.n), p->tok.p);
        if (p->nends > 0 && p->nends <= ENDS_MAX) {
            o += snprintf(msg + o, sizeof msg - (size_t)o, "; the innermost block needs to be closed by");
            for (const char *const *e = p->ends[p->nends - 1]; *e && o < 200; e++)
                o += snprintf(msg + o, sizeof msg - (size_t)o, " '%s'", *e);
        }
        return fail(p, "%s", msg);
    }
    if (!n) return NULL;
    leave(p);
    return n;
}

/* body -> { DATA | '{{' tuple '}}' | '{%' statement '%}' }   until '{%' end-name or EOF */
static tpl_node *subparse(parser *p, const char *const *ends) {
    tpl_node *body = node(p, TPL_N_BODY);
    if (!body) return NULL;
    kidvec stmts = {0};
    if (ends && p->nends < ENDS_MAX) p->ends[p->nends] = ends;
    if (ends) p->nends++;
    tpl_node *result = body;
    for (;;) {
        tpl_node *s = NULL;
        if (p->tok.type == TPL_TK_EOF) break;
        if (p->tok.type == TPL_TK_DATA) {
            s = node(p, TPL_N_DATA);
            if (!s) { result = NULL; break; }
            s->s = p->tok.p;
            s->sn = p->tok.n;
            if (!advance(p)) { result = NULL; break; }
        } else if (p->tok.type == TPL_TK_VAR_BEGIN) {
            s = node(p, TPL_N_OUTPUT);
            if (!s || !advance(p) || !(s->a = parse_tuple(p, 0, 1, NULL, 0)) ||
                !expect(p, TPL_TK_VAR_END, "end of print statement")) {
                result = NULL;
                break;
            }
        } else if (p->tok.type == TPL_TK_BLOCK_BEGIN) {
            if (!advance(p)) { result = NULL; break; }
            if (is_end(p, ends)) break;
            if (!(s = parse_statement(p)) || !expect(p, TPL_TK_BLOCK_END, "end of statement block")) {
                result = NULL;
                break;
            }
        } else {
            result = fail(p, "internal parser error: unexpected %s", tpl_lex_describe(p->tok.type));
            break;
        }
        if (!kid_push(p, &stmts, s)) { result = NULL; break; }
    }
    if (ends) p->nends--;
    if (result) kids_set(body, &stmts);
    return result;
}

lm_status tpl_parse(const char *src, size_t len, lm_arena *arena, tpl_symtab *syms,
                    int max_nesting, tpl_node **root, lm_error *err) {
    parser p;
    memset(&p, 0, sizeof p);
    tpl_lex_init(&p.lx, src, len, arena);
    p.a = arena;
    p.syms = syms;
    p.err = err;
    p.max_depth = max_nesting;
    static const char *const fixed[] = {"loop", "varargs", "kwargs", "caller"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        uint32_t sym;
        if (!intern(&p, fixed[i], strlen(fixed[i]), &sym)) return err->code;
    }
    if (!advance(&p)) return err->code;
    tpl_node *body = subparse(&p, NULL);
    if (!body) return err->code ? err->code : LM_ERR_INTERNAL;
    *root = body;
    return LM_OK;
}
