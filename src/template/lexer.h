/* lexer.h — Jinja tokens from template source, one at a time (the parser pulls them).
 *
 * The lexer owns Jinja's whitespace rules, applied as transformers configures Jinja2:
 * trim_blocks (drop the first newline after a block or comment tag), lstrip_blocks (drop spaces
 * and tabs before a block or comment tag that starts a line), `-` on either side of a tag (strip
 * all whitespace on that side), `+` (turn lstrip/trim off for that tag side), raw blocks, and
 * comments (skipped). Text between tags comes out as TPL_TK_DATA; inside `{{ }}` and `{% %}` it
 * yields names, literals and operators. Line endings must already be "\n" (see template.c). */
#ifndef LM_TEMPLATE_LEXER_H
#define LM_TEMPLATE_LEXER_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/arena.h"

typedef enum {
    TPL_TK_EOF = 0,
    TPL_TK_DATA,         /* literal text between tags */
    TPL_TK_VAR_BEGIN,    /* {{ */
    TPL_TK_VAR_END,      /* }} */
    TPL_TK_BLOCK_BEGIN,  /* {% */
    TPL_TK_BLOCK_END,    /* %} */
    TPL_TK_NAME,         /* identifier, including keywords (the parser tells them apart) */
    TPL_TK_STRING,       /* quoted literal, escapes already decoded */
    TPL_TK_INT,
    TPL_TK_FLOAT,
    /* operators */
    TPL_TK_ADD, TPL_TK_SUB, TPL_TK_MUL, TPL_TK_DIV, TPL_TK_FLOORDIV, TPL_TK_MOD, TPL_TK_POW,
    TPL_TK_TILDE, TPL_TK_EQ, TPL_TK_NE, TPL_TK_LT, TPL_TK_LTEQ, TPL_TK_GT, TPL_TK_GTEQ,
    TPL_TK_ASSIGN, TPL_TK_DOT, TPL_TK_COLON, TPL_TK_PIPE, TPL_TK_COMMA, TPL_TK_SEMICOLON,
    TPL_TK_LPAREN, TPL_TK_RPAREN, TPL_TK_LBRACKET, TPL_TK_RBRACKET, TPL_TK_LBRACE, TPL_TK_RBRACE,
    TPL_TK_COUNT_
} tpl_token_type;

typedef struct {
    tpl_token_type type;
    const char *p;  /* DATA, NAME, STRING: the text (into the source or the arena) */
    size_t n;
    int64_t i;      /* INT */
    double f;       /* FLOAT */
    int line, col;  /* 1-based start of the token */
} tpl_token;

typedef struct {
    const char *src;
    size_t len, pos;
    int mode;           /* data, block tag or variable tag */
    int line_starting;  /* the last match ended with "\n" (Jinja's lstrip_blocks condition) */
    int depth;          /* open brackets inside the current tag */
    char brackets[64];  /* expected closers, innermost last (deeper nesting still counted) */
    tpl_token queue[3]; /* tokens produced ahead (data + tag start) */
    int nqueue, qhead;
    int line, col;      /* position of byte `scanned` (positions only move forward) */
    size_t scanned;
    lm_arena *arena;   /* decoded string literals live here */
} tpl_lexer;

/* Starts lexing `src` (valid UTF-8, "\n" line endings); decoded strings go to `arena`. */
void tpl_lex_init(tpl_lexer *lx, const char *src, size_t len, lm_arena *arena);

/* Produces the next token; after TPL_TK_EOF it keeps returning TPL_TK_EOF. A lexical error
 * (unterminated string or comment, stray character, bad escape) returns LM_ERR_FORMAT with line
 * and column in `err`. */
lm_status tpl_lex_next(tpl_lexer *lx, tpl_token *tok, lm_error *err);

/* Human-readable description of a token type ("'}}'", "name", "end of template"). */
const char *tpl_lex_describe(tpl_token_type type);

/* Fills err with `msg` at (line, col) in the project's format: "<msg> (line L, column C)". */
lm_status tpl_lex_error_at(lm_error *err, lm_status code, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
