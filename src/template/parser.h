/* parser.h — recursive-descent parser from template source to the syntax tree (ast.h).
 *
 * The grammar is Jinja2's (each parse function in parser.c is preceded by its rule). Statements:
 * if/elif/else, for (with else, inline `if` filter, `recursive`), set (expression, block, with a
 * filter, namespace attribute), macro, call, filter, with, break/continue, and transformers'
 * generation tag. Template inheritance and imports (extends, block, include, import, from) are
 * rejected with LM_ERR_UNSUPPORTED: chat templates are single files. */
#ifndef LM_TEMPLATE_PARSER_H
#define LM_TEMPLATE_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/arena.h"
#include "template/ast.h"

/* Interned names of one template: symbol number i is names[i] (lens[i] bytes). */
typedef struct {
    const char **names;
    size_t *lens;
    uint32_t n, cap;
    uint32_t *slots;   /* open-addressing index: symbol + 1, 0 = empty; hcap is a power of 2 */
    uint32_t hcap;
} tpl_symtab;

/* Parses `src` (valid UTF-8, "\n" line endings, already stripped of its trailing newline) into
 * a BODY node. Nodes, decoded literals and symbol names are allocated in `arena` and may point
 * into `src`, which must outlive them. `max_nesting` bounds syntactic nesting. Syntax errors
 * return LM_ERR_FORMAT with line and column; LM_ERR_LIMIT when nesting is exceeded. */
lm_status tpl_parse(const char *src, size_t len, lm_arena *arena, tpl_symtab *syms,
                    int max_nesting, tpl_node **root, lm_error *err);

#endif
