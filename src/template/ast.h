/* ast.h — the syntax tree of a compiled template (parse lifetime: owned by the template's arena).
 *
 * One node struct for every kind; each kind uses the fields listed next to it. Bodies are
 * TPL_N_BODY nodes whose `kids` are statements. Names are interned: a TPL_N_NAME carries a
 * symbol number that scopes compare, plus its text for context and global lookups. */
#ifndef LM_TEMPLATE_AST_H
#define LM_TEMPLATE_AST_H

#include <stddef.h>
#include <stdint.h>

#include "template/value.h"

typedef enum {
    /* expressions */
    TPL_N_CONST,        /* value */
    TPL_N_NAME,         /* s, sym */
    TPL_N_LIST,         /* kids: items */
    TPL_N_TUPLE,        /* kids: items */
    TPL_N_DICT,         /* kids: PAIR (a: key, b: value) */
    TPL_N_PAIR,
    TPL_N_GETATTR,      /* a: object, s: attribute */
    TPL_N_GETITEM,      /* a: object, b: key */
    TPL_N_SLICE,        /* a: object, b: start, c: stop, d: step (each may be NULL) */
    TPL_N_CALL,         /* a: callee, kids: args (KWARG for name=value), c: *args, d: **kwargs */
    TPL_N_KWARG,        /* s: name, a: value */
    TPL_N_FILTER,       /* a: input (NULL inside a filter block), s: name, kids/c/d: args, fn */
    TPL_N_TEST,         /* a: input, s: name, kids/c/d: args, fn */
    TPL_N_BINOP,        /* op: TPL_TK_ADD.. TPL_TK_TILDE, a, b */
    TPL_N_COMPARE,      /* a: first operand, kids: OPERAND (op, a) */
    TPL_N_OPERAND,
    TPL_N_AND,          /* a, b */
    TPL_N_OR,           /* a, b */
    TPL_N_NOT,          /* a */
    TPL_N_NEG,          /* a */
    TPL_N_POS,          /* a */
    TPL_N_COND,         /* a: test, b: value if true, c: value if false (NULL: undefined) */
    /* statements */
    TPL_N_BODY,         /* kids: statements */
    TPL_N_DATA,         /* s: text */
    TPL_N_OUTPUT,       /* a: expression to print */
    TPL_N_IF,           /* a: test, body, orelse (BODY holding elif IF, or else statements) */
    TPL_N_FOR,          /* a: target, b: iterable, c: filter (or NULL), body, orelse; flags */
    TPL_N_SET,          /* a: target (NAME, TUPLE of NAME, NSREF), b: value */
    TPL_N_SET_BLOCK,    /* a: target, body, c: filter chain (or NULL) */
    TPL_N_NSREF,        /* a: NAME of the namespace, s: attribute */
    TPL_N_MACRO,        /* s, sym: name; kids: PARAM; body; flags */
    TPL_N_PARAM,        /* s, sym: parameter name; a: default (or NULL) */
    TPL_N_CALL_BLOCK,   /* a: CALL expression; kids: PARAM of caller; body; flags */
    TPL_N_FILTER_BLOCK, /* a: filter chain (innermost input NULL); body */
    TPL_N_WITH,         /* kids: PAIR (a: target NAME, b: value); body */
    TPL_N_BREAK,
    TPL_N_CONTINUE,
} tpl_node_kind;

enum {
    TPL_NF_RECURSIVE = 1,  /* FOR: `recursive` loop */
    TPL_NF_VARARGS = 2,    /* MACRO/CALL_BLOCK: body reads `varargs` */
    TPL_NF_KWARGS = 4,     /* MACRO/CALL_BLOCK: body reads `kwargs` */
    TPL_NF_CALLER = 8,     /* MACRO: body reads `caller` */
};

/* Symbols interned in every template first, so the interpreter can name them. */
enum { TPL_SYM_LOOP = 0, TPL_SYM_VARARGS, TPL_SYM_KWARGS, TPL_SYM_CALLER, TPL_SYM_FIRST_FREE };

typedef struct tpl_node tpl_node;

/* Builtin filter / test implementations, resolved by name at parse time. */
typedef lm_status (*tpl_filter_fn)(struct tpl_rt *rt, const tpl_value *in, tpl_args *args,
                                   tpl_value *out);
typedef lm_status (*tpl_test_fn)(struct tpl_rt *rt, const tpl_value *in, tpl_args *args,
                                 int *out);

struct tpl_node {
    uint8_t kind;        /* tpl_node_kind */
    uint8_t op;          /* BINOP, OPERAND: the operator's token type; OPERAND also TPL_OP_IN.. */
    uint16_t flags;      /* TPL_NF_* */
    int line, col;       /* where the node starts in the source */
    tpl_node *a, *b, *c, *d;
    tpl_node *body, *orelse;
    tpl_node **kids;
    uint32_t nkids;
    uint32_t sym;        /* NAME, MACRO, PARAM: interned symbol */
    const char *s;       /* NAME, GETATTR, KWARG, FILTER, TEST, DATA, MACRO, PARAM, NSREF */
    size_t sn;
    tpl_value value;     /* CONST */
    union {
        tpl_filter_fn filter;
        tpl_test_fn test;
    } fn;                /* FILTER, TEST: NULL when unknown (an error if ever evaluated) */
};

/* Extra comparison operators of OPERAND nodes beyond the token types. */
enum { TPL_OP_IN = 200, TPL_OP_NOT_IN = 201 };

#endif
