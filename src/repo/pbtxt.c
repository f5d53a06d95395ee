/* pbtxt.c — protobuf text format: lexer, recursive-descent parser into a field tree, typed
 * getters. The grammar is in pbtxt.h. All memory of a document lives in one arena freed at once. */
#include "repo/pbtxt.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/file.h"
#include "base/limits.h"
#include "base/utf8.h"

struct pbtxt_doc {
    lm_arena arena;              /* fields and texts of the document, freed together */
    pbtxt_field root;
};

/* ---------------------------------------------------------------- errors */

static lm_status verr_at(lm_error *err, lm_status code, const char *source, int line, int col,
                         const char *fmt, va_list ap) {
    if (!err) return code;
    if (err->code != LM_OK) return err->code; /* first failure wins */
    char what[LM_ERROR_MSG_MAX];
    vsnprintf(what, sizeof what, fmt, ap);
    err_set(err, code, "%s:%d:%d: %s", source ? source : "<input>", line, col, what);
    err->line = line;
    err->col = col;
    return code;
}

static lm_status err_at(lm_error *err, lm_status code, const char *source, int line, int col,
                        const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static lm_status err_at(lm_error *err, lm_status code, const char *source, int line, int col,
                        const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lm_status s = verr_at(err, code, source, line, col, fmt, ap);
    va_end(ap);
    return s;
}

lm_status pbtxt_error_at(lm_error *err, lm_status code, const pbtxt_field *f, const char *fmt, ...) {
    char what[LM_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return err_at(err, code, f->source, f->vline, f->vcol, "%s: %s", f->name, what);
}

const char *pbtxt_type_name(pbtxt_type type) {
    switch (type) {
    case PBTXT_MESSAGE: return "a message";
    case PBTXT_STRING: return "a string";
    case PBTXT_NUMBER: return "a number";
    case PBTXT_IDENT: return "an identifier";
    }
    return "a value";
}

/* ---------------------------------------------------------------- lexer */

typedef enum { TOK_EOF, TOK_IDENT, TOK_NUMBER, TOK_STRING, TOK_PUNCT } tok_kind;

typedef struct {
    tok_kind kind;
    const char *start; /* first byte of the token in the input */
    size_t len;        /* bytes in the input (for strings: including quotes) */
    int line, col;
} token;

typedef struct {
    const char *p, *end;
    int line, col;
    const char *source;
    token tok;           /* current (peeked) token */
    lm_error *err;
    lm_arena arena;
    size_t n_fields;
    lm_buf sbuf;         /* unescaped bytes of the string being read */
} parser;

static int is_ident_start(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_ident_char(int c) { return is_ident_start(c) || is_digit(c); }

static void advance(parser *ps, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (*ps->p == '\n') {
            ps->line++;
            ps->col = 1;
        } else {
            ps->col++;
        }
        ps->p++;
    }
}

/* Describes the current token for messages: "'}'", "identifier 'foo'", "end of input". */
static const char *tok_describe(const token *t, char *buf, size_t cap) {
    int n = t->len > 40 ? 40 : (int)t->len;
    switch (t->kind) {
    case TOK_EOF: return "end of input";
    case TOK_IDENT: snprintf(buf, cap, "identifier '%.*s'", n, t->start); break;
    case TOK_NUMBER: snprintf(buf, cap, "number '%.*s'", n, t->start); break;
    case TOK_STRING: snprintf(buf, cap, "string %.*s%s", n, t->start, t->len > 40 ? "..." : ""); break;
    case TOK_PUNCT:
        if ((unsigned char)t->start[0] < 0x20 || (unsigned char)t->start[0] >= 0x7f)
            snprintf(buf, cap, "byte 0x%02x", (unsigned char)t->start[0]);
        else
            snprintf(buf, cap, "'%c'", t->start[0]);
        break;
    }
    return buf;
}

/* Skips whitespace and comments, then reads one token into ps->tok. Returns LM_OK, or an error
 * for an unterminated string (strings are only delimited here; read_string unescapes). */
static lm_status next_token(parser *ps) {
    for (;;) {
        while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
                                   *ps->p == '\r' || *ps->p == '\v' || *ps->p == '\f'))
            advance(ps, 1);
        if (ps->p < ps->end && *ps->p == '#') {
            while (ps->p < ps->end && *ps->p != '\n') advance(ps, 1);
            continue;
        }
        break;
    }
    token *t = &ps->tok;
    t->start = ps->p;
    t->line = ps->line;
    t->col = ps->col;
    if (ps->p >= ps->end) {
        t->kind = TOK_EOF;
        t->len = 0;
        return LM_OK;
    }
    const char *s = ps->p;
    int c = (unsigned char)*s;
    size_t n = 1;
    if (is_ident_start(c)) {
        t->kind = TOK_IDENT;
        while (s + n < ps->end && is_ident_char((unsigned char)s[n])) n++;
    } else if (is_digit(c) || (c == '.' && s + 1 < ps->end && is_digit((unsigned char)s[1]))) {
        /* The maximal run of number-like characters; pbtxt_get_* validate its form, and a
         * letter glued to a number ("12abc") is caught here since it is part of the run. */
        t->kind = TOK_NUMBER;
        while (s + n < ps->end) {
            int d = (unsigned char)s[n];
            int prev = (unsigned char)s[n - 1];
            int hex = n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
            if (is_ident_char(d) || d == '.' ||
                ((d == '+' || d == '-') && !hex && (prev == 'e' || prev == 'E')))
                n++;
            else
                break;
        }
    } else if (c == '"' || c == '\'') {
        t->kind = TOK_STRING;
        while (s + n < ps->end && (unsigned char)s[n] != c) {
            if (s[n] == '\n')
                return err_at(ps->err, LM_ERR_FORMAT, ps->source, t->line, t->col,
                              "string not closed before the end of the line");
            if (s[n] == '\\' && s + n + 1 < ps->end && s[n + 1] != '\n') n++;
            n++;
        }
        if (s + n >= ps->end)
            return err_at(ps->err, LM_ERR_FORMAT, ps->source, t->line, t->col,
                          "string not closed before the end of the input");
        n++; /* closing quote */
    } else {
        t->kind = TOK_PUNCT;
    }
    t->len = n;
    advance(ps, n);
    return LM_OK;
}

static int tok_is(const parser *ps, char c) {
    return ps->tok.kind == TOK_PUNCT && ps->tok.start[0] == c;
}

static lm_status expected(parser *ps, const char *what) {
    char d[96];
    return err_at(ps->err, LM_ERR_FORMAT, ps->source, ps->tok.line, ps->tok.col,
                  "expected %s, found %s", what, tok_describe(&ps->tok, d, sizeof d));
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void put_utf8(lm_buf *b, uint32_t cp) {
    char u[4];
    buf_append(b, u, utf8_encode(cp, u));
}

/* Appends the unescaped contents of the current string token to ps->sbuf. */
static lm_status read_string(parser *ps) {
    const token *t = &ps->tok;
    const char *s = t->start + 1, *end = t->start + t->len - 1;
    lm_buf *b = &ps->sbuf;
    while (s < end) {
        if (*s != '\\') {
            const char *q = s;
            while (q < end && *q != '\\') q++;
            buf_append(b, s, (size_t)(q - s));
            s = q;
            continue;
        }
        /* column of the backslash: the token is on one line */
        int col = t->col + (int)(s - t->start);
        s++;
        int c = (unsigned char)*s++;
        switch (c) {
        case 'a': buf_append_char(b, '\a'); break;
        case 'b': buf_append_char(b, '\b'); break;
        case 'f': buf_append_char(b, '\f'); break;
        case 'n': buf_append_char(b, '\n'); break;
        case 'r': buf_append_char(b, '\r'); break;
        case 't': buf_append_char(b, '\t'); break;
        case 'v': buf_append_char(b, '\v'); break;
        case '\\': case '\'': case '"': case '?': buf_append_char(b, (char)c); break;
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
            unsigned v = (unsigned)(c - '0');
            for (int i = 0; i < 2 && s < end && *s >= '0' && *s <= '7'; i++) v = v * 8 + (unsigned)(*s++ - '0');
            if (v > 0xFF)
                return err_at(ps->err, LM_ERR_FORMAT, ps->source, t->line, col,
                              "octal escape \\%o is larger than a byte", v);
            buf_append_char(b, (char)v);
            break;
        }
        case 'x': case 'X': {
            if (s >= end || hexval((unsigned char)*s) < 0)
                return err_at(ps->err, LM_ERR_FORMAT, ps->source, t->line, col,
                              "\\x must be followed by a hex digit");
            unsigned v = (unsigned)hexval((unsigned char)*s++);
            if (s < end && hexval((unsigned char)*s) >= 0) v = v * 16 + (unsigned)hexval((unsigned char)*s++);
            buf_append_char(b, (char)v);
            break;
        }
        case 'u': case 'U': {
            int nd = c == 'u' ? 4 : 8;
            uint32_t v = 0;
            for (int i = 0; i < nd; i++) {
                if (s >= end || hexval((unsigned char)*s) < 0)
                    return err_at(ps->err, LM_ERR_FORMAT, ps->source, t->line, col,
                                  "\\%c must be followed by %d hex digits", c, nd);
                v = v * 16 + (uint32_t)hexval((unsigned char)*s++);
            }
            if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
                return err_at(ps->err, LM_ERR_FORMAT, ps->source, t->line, col,
                              "\\%c%0*" PRIX32 " is not a Unicode scalar value", c, nd, v);
            put_utf8(b, v);
            break;
        }
        default:
            if (c < 0x20 || c >= 0x7f)
                return err_at(ps->err, LM_ERR_FORMAT, ps->source, t->line, col,
                              "invalid escape: backslash before byte 0x%02x", (unsigned)c);
            return err_at(ps->err, LM_ERR_FORMAT, ps->source, t->line, col,
                          "invalid escape '\\%c'", c);
        }
    }
    if (b->oom) return err_set(ps->err, LM_ERR_NOMEM, "%s: out of memory", ps->source);
    return LM_OK;
}

/* ---------------------------------------------------------------- parser */

static pbtxt_field *new_field(parser *ps, const char *name, int extension, int line, int col) {
    if (ps->n_fields >= LM_PBTXT_MAX_FIELDS) {
        err_at(ps->err, LM_ERR_LIMIT, ps->source, ps->tok.line, ps->tok.col,
               "more than %u fields (LM_PBTXT_MAX_FIELDS)", (unsigned)LM_PBTXT_MAX_FIELDS);
        return NULL;
    }
    pbtxt_field *f = arena_alloc(&ps->arena, sizeof *f);
    if (!f) {
        err_set(ps->err, LM_ERR_NOMEM, "%s: out of memory", ps->source);
        return NULL;
    }
    memset(f, 0, sizeof *f);
    ps->n_fields++;
    f->name = name;
    f->extension = extension;
    f->source = ps->source;
    f->line = line;
    f->col = col;
    f->vline = ps->tok.line;
    f->vcol = ps->tok.col;
    return f;
}

static lm_status parse_body(parser *ps, pbtxt_field *msg, char close, int depth);

/* Reads a message value at '{' or '<' into f. */
static lm_status parse_message_value(parser *ps, pbtxt_field *f, int depth) {
    if (depth >= LM_PBTXT_MAX_DEPTH)
        return err_at(ps->err, LM_ERR_LIMIT, ps->source, ps->tok.line, ps->tok.col,
                      "messages nested deeper than %d levels (LM_PBTXT_MAX_DEPTH)",
                      LM_PBTXT_MAX_DEPTH);
    char close = tok_is(ps, '{') ? '}' : '>';
    f->type = PBTXT_MESSAGE;
    LM_TRY(next_token(ps));
    return parse_body(ps, f, close, depth + 1);
}

/* scalar := string {string} | [-] number | [-] inf/nan | identifier; fills f. */
static lm_status parse_scalar(parser *ps, pbtxt_field *f) {
    if (ps->tok.kind == TOK_STRING) {
        buf_reset(&ps->sbuf);
        while (ps->tok.kind == TOK_STRING) {
            LM_TRY(read_string(ps));
            LM_TRY(next_token(ps));
        }
        f->type = PBTXT_STRING;
        f->len = ps->sbuf.len;
        f->text = arena_strdup(&ps->arena, ps->sbuf.data ? ps->sbuf.data : "", ps->sbuf.len);
        if (!f->text) return err_set(ps->err, LM_ERR_NOMEM, "%s: out of memory", ps->source);
        return LM_OK;
    }
    int neg = 0;
    if (tok_is(ps, '-')) {
        neg = 1;
        LM_TRY(next_token(ps));
        if (ps->tok.kind == TOK_IDENT) {
            const token *t = &ps->tok;
            int special = (t->len == 3 && (strncasecmp(t->start, "inf", 3) == 0 ||
                                           strncasecmp(t->start, "nan", 3) == 0)) ||
                          (t->len == 8 && strncasecmp(t->start, "infinity", 8) == 0);
            if (!special) return expected(ps, "a number after '-'");
        } else if (ps->tok.kind != TOK_NUMBER) {
            return expected(ps, "a number after '-'");
        }
    }
    if (ps->tok.kind != TOK_NUMBER && ps->tok.kind != TOK_IDENT)
        return expected(ps, "a value (string, number, identifier, '{' or '[')");
    f->type = ps->tok.kind == TOK_NUMBER ? PBTXT_NUMBER : PBTXT_IDENT;
    char *text = arena_alloc(&ps->arena, ps->tok.len + 2);
    if (!text) return err_set(ps->err, LM_ERR_NOMEM, "%s: out of memory", ps->source);
    size_t n = 0;
    if (neg) text[n++] = '-';
    memcpy(text + n, ps->tok.start, ps->tok.len);
    n += ps->tok.len;
    text[n] = '\0';
    f->text = text;
    f->len = n;
    return next_token(ps);
}

/* Appends f to the message's field list (tail kept in *tail). */
static void link_field(pbtxt_field *msg, pbtxt_field **tail, pbtxt_field *f) {
    if (*tail)
        (*tail)->next = f;
    else
        msg->first = f;
    *tail = f;
}

/* name := identifier | "[" identifier { ("." | "/") identifier } "]". On success *name is the
 * normalised name in the arena. */
static lm_status parse_name(parser *ps, const char **name, int *extension) {
    if (ps->tok.kind == TOK_IDENT) {
        *name = arena_strdup(&ps->arena, ps->tok.start, ps->tok.len);
        *extension = 0;
        if (!*name) return err_set(ps->err, LM_ERR_NOMEM, "%s: out of memory", ps->source);
        return next_token(ps);
    }
    if (!tok_is(ps, '[')) return expected(ps, "a field name");
    *extension = 1;
    lm_buf b = {0};
    lm_status s = next_token(ps);
    while (s == LM_OK) {
        if (ps->tok.kind != TOK_IDENT) {
            s = expected(ps, "a type name inside '[...]'");
            break;
        }
        buf_append(&b, ps->tok.start, ps->tok.len);
        if ((s = next_token(ps)) != LM_OK) break;
        if (tok_is(ps, ']')) break;
        if (!tok_is(ps, '.') && !tok_is(ps, '/')) {
            s = expected(ps, "'.', '/' or ']' in an extension name");
            break;
        }
        buf_append_char(&b, ps->tok.start[0]);
        s = next_token(ps);
    }
    if (s == LM_OK) {
        if (b.oom) s = err_set(ps->err, LM_ERR_NOMEM, "%s: out of memory", ps->source);
        else if (!(*name = arena_strdup(&ps->arena, b.data, b.len)))
            s = err_set(ps->err, LM_ERR_NOMEM, "%s: out of memory", ps->source);
        else
            s = next_token(ps); /* past ']' */
    }
    buf_fini(&b);
    return s;
}

/* field := name ( ":" scalar | [":"] message | ":" "[" elements "]" ); appends to msg. */
static lm_status parse_field(parser *ps, pbtxt_field *msg, pbtxt_field **tail, int depth) {
    int line = ps->tok.line, col = ps->tok.col;
    const char *name = NULL;
    int ext = 0;
    LM_TRY(parse_name(ps, &name, &ext));
    int colon = 0;
    if (tok_is(ps, ':')) {
        colon = 1;
        LM_TRY(next_token(ps));
    }
    if (tok_is(ps, '{') || tok_is(ps, '<')) {
        pbtxt_field *f = new_field(ps, name, ext, line, col);
        if (!f) return ps->err->code;
        link_field(msg, tail, f);
        return parse_message_value(ps, f, depth);
    }
    if (!colon) {
        char d[96];
        return err_at(ps->err, LM_ERR_FORMAT, ps->source, ps->tok.line, ps->tok.col,
                      "expected ':' or '{' after field name '%s', found %s", name,
                      tok_describe(&ps->tok, d, sizeof d));
    }
    if (!tok_is(ps, '[')) {
        pbtxt_field *f = new_field(ps, name, ext, line, col);
        if (!f) return ps->err->code;
        link_field(msg, tail, f);
        return parse_scalar(ps, f);
    }
    /* a list: each element becomes one field of the same name */
    int lline = ps->tok.line, lcol = ps->tok.col;
    LM_TRY(next_token(ps));
    if (tok_is(ps, ']')) return next_token(ps);
    for (;;) {
        if (ps->tok.kind == TOK_EOF)
            return err_at(ps->err, LM_ERR_FORMAT, ps->source, lline, lcol,
                          "list of '%s' opened here is not closed with ']'", name);
        pbtxt_field *f = new_field(ps, name, ext, line, col);
        if (!f) return ps->err->code;
        link_field(msg, tail, f);
        if (tok_is(ps, '{') || tok_is(ps, '<'))
            LM_TRY(parse_message_value(ps, f, depth));
        else
            LM_TRY(parse_scalar(ps, f));
        if (tok_is(ps, ']')) return next_token(ps);
        if (!tok_is(ps, ',')) return expected(ps, "',' or ']' in a list");
        LM_TRY(next_token(ps));
    }
}

/* message := { field [","|";"] } up to `close` ('}' or '>'), or to the end of input when
 * close is 0 (the root). Consumes the closing delimiter. */
static lm_status parse_body(parser *ps, pbtxt_field *msg, char close, int depth) {
    int oline = ps->tok.line, ocol = ps->tok.col;
    pbtxt_field *tail = NULL;
    for (;;) {
        if (ps->tok.kind == TOK_EOF) {
            if (!close) return LM_OK;
            return err_at(ps->err, LM_ERR_FORMAT, ps->source, ps->tok.line, ps->tok.col,
                          "expected '%c' to close '%s' (its fields start at %d:%d), found end "
                          "of input", close, msg->name, oline, ocol);
        }
        if (close && tok_is(ps, close)) return next_token(ps);
        if (tok_is(ps, '}') || tok_is(ps, '>')) {
            char d[96];
            if (!close)
                return err_at(ps->err, LM_ERR_FORMAT, ps->source, ps->tok.line, ps->tok.col,
                              "unexpected %s: no message is open",
                              tok_describe(&ps->tok, d, sizeof d));
            return err_at(ps->err, LM_ERR_FORMAT, ps->source, ps->tok.line, ps->tok.col,
                          "expected '%c' to close '%s', found %s", close, msg->name,
                          tok_describe(&ps->tok, d, sizeof d));
        }
        LM_TRY(parse_field(ps, msg, &tail, depth));
        if (tok_is(ps, ',') || tok_is(ps, ';')) LM_TRY(next_token(ps));
    }
}

lm_status pbtxt_parse(const char *text, size_t len, const char *source, pbtxt_doc **out,
                      lm_error *err) {
    *out = NULL;
    if (!source) source = "<input>";
    if (len > LM_PBTXT_MAX_BYTES)
        return err_set(err, LM_ERR_LIMIT, "%s: %zu bytes is larger than the %u bytes allowed "
                       "(LM_PBTXT_MAX_BYTES)", source, len, (unsigned)LM_PBTXT_MAX_BYTES);
    lm_error local;
    err_clear(&local);
    if (!err) err = &local;

    pbtxt_doc *doc = calloc(1, sizeof *doc);
    if (!doc) return err_set(err, LM_ERR_NOMEM, "%s: out of memory", source);
    parser ps = {.p = text, .end = text + len, .line = 1, .col = 1, .err = err};
    arena_init(&ps.arena, 0);
    ps.source = arena_strdup(&ps.arena, source, strlen(source));
    lm_status s = ps.source ? LM_OK : err_set(err, LM_ERR_NOMEM, "%s: out of memory", source);
    if (s == LM_OK) {
        doc->root.name = "";
        doc->root.type = PBTXT_MESSAGE;
        doc->root.source = ps.source;
        doc->root.line = doc->root.col = doc->root.vline = doc->root.vcol = 1;
        s = next_token(&ps);
        if (s == LM_OK) s = parse_body(&ps, &doc->root, 0, 0);
    }
    buf_fini(&ps.sbuf);
    doc->arena = ps.arena;
    if (s != LM_OK) {
        pbtxt_destroy(doc);
        return s;
    }
    *out = doc;
    return LM_OK;
}

lm_status pbtxt_parse_file(const char *path, pbtxt_doc **out, lm_error *err) {
    *out = NULL;
    /* one byte past the limit reaches pbtxt_parse, which reports the limit as it always has */
    char *buf = NULL;
    size_t len = 0;
    LM_TRY(file_read(path, (size_t)LM_PBTXT_MAX_BYTES + 1, &buf, &len, err));
    lm_status s = pbtxt_parse(buf, len, path, out, err);
    free(buf);
    return s;
}

void pbtxt_destroy(pbtxt_doc *doc) {
    if (!doc) return;
    arena_fini(&doc->arena);
    free(doc);
}

const pbtxt_field *pbtxt_root(const pbtxt_doc *doc) { return &doc->root; }

/* ---------------------------------------------------------------- lookups */

const pbtxt_field *pbtxt_find(const pbtxt_field *msg, const char *name) {
    if (!msg || msg->type != PBTXT_MESSAGE) return NULL;
    for (const pbtxt_field *f = msg->first; f; f = f->next)
        if (strcmp(f->name, name) == 0) return f;
    return NULL;
}

const pbtxt_field *pbtxt_find_next(const pbtxt_field *f) {
    for (const pbtxt_field *g = f->next; g; g = g->next)
        if (strcmp(g->name, f->name) == 0) return g;
    return NULL;
}

size_t pbtxt_count(const pbtxt_field *msg, const char *name) {
    size_t n = 0;
    for (const pbtxt_field *f = pbtxt_find(msg, name); f; f = pbtxt_find_next(f)) n++;
    return n;
}

/* ---------------------------------------------------------------- typed getters */

static lm_status wrong_type(const pbtxt_field *f, const char *want, lm_error *err) {
    if (f->type == PBTXT_MESSAGE || f->type == PBTXT_STRING)
        return pbtxt_error_at(err, LM_ERR_FORMAT, f, "expected %s, found %s", want,
                              pbtxt_type_name(f->type));
    return pbtxt_error_at(err, LM_ERR_FORMAT, f, "expected %s, found '%s'", want, f->text);
}

/* Parses an integer literal ([-] decimal | 0x hex | 0 octal). Returns 0 on success; -1 when the
 * form is wrong; 1 when it overflows 64 bits (signed). */
static int parse_int_literal(const char *s, int64_t *out) {
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        if (!*s) return -1;
    } else if (s[0] == '0' && s[1]) {
        base = 8;
        s++;
    }
    if (!*s) return -1;
    uint64_t v = 0;
    int overflow = 0;
    for (; *s; s++) {
        int d = hexval((unsigned char)*s);
        if (d < 0 || (unsigned)d >= base) return -1;
        if (v > (UINT64_MAX - (unsigned)d) / base) overflow = 1;
        else v = v * base + (unsigned)d;
    }
    if (overflow) return 1;
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return 1;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return 1;
        *out = (int64_t)v;
    }
    return 0;
}

lm_status pbtxt_get_int(const pbtxt_field *f, int64_t min, int64_t max, int64_t *out,
                        lm_error *err) {
    if (f->type != PBTXT_NUMBER) return wrong_type(f, "an integer", err);
    int64_t v = 0;
    int r = parse_int_literal(f->text, &v);
    if (r < 0) return wrong_type(f, "an integer", err);
    if (r > 0 || v < min || v > max)
        return pbtxt_error_at(err, LM_ERR_FORMAT, f, "%s is out of range [%" PRId64 ", %" PRId64 "]",
                              f->text, min, max);
    *out = v;
    return LM_OK;
}

/* Checks a float literal's form: digits [. digits] [e [+-] digits] [f|F], or an integer
 * literal. strtod alone would also accept hex floats and "1e" prefixes. */
static int is_float_literal(const char *s) {
    if (*s == '-') s++;
    int digits = 0;
    while (is_digit((unsigned char)*s)) s++, digits++;
    if (*s == '.') {
        s++;
        while (is_digit((unsigned char)*s)) s++, digits++;
    }
    if (!digits) return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!is_digit((unsigned char)*s)) return 0;
        while (is_digit((unsigned char)*s)) s++;
    }
    if (*s == 'f' || *s == 'F') s++;
    return *s == '\0';
}

lm_status pbtxt_get_double(const pbtxt_field *f, double *out, lm_error *err) {
    if (f->type == PBTXT_IDENT) {
        const char *s = f->text;
        int neg = *s == '-';
        if (neg) s++;
        if (strcasecmp(s, "inf") == 0 || strcasecmp(s, "infinity") == 0) {
            *out = neg ? -INFINITY : INFINITY;
            return LM_OK;
        }
        if (strcasecmp(s, "nan") == 0) {
            *out = NAN;
            return LM_OK;
        }
        return wrong_type(f, "a number", err);
    }
    if (f->type != PBTXT_NUMBER) return wrong_type(f, "a number", err);
    int64_t iv;
    if (parse_int_literal(f->text, &iv) == 0) { /* hex and octal read as protobuf does */
        *out = (double)iv;
        return LM_OK;
    }
    if (!is_float_literal(f->text)) return wrong_type(f, "a number", err);
    *out = strtod(f->text, NULL); /* stops before an f/F suffix */
    return LM_OK;
}

lm_status pbtxt_get_bool(const pbtxt_field *f, int *out, lm_error *err) {
    if (f->type == PBTXT_IDENT) {
        const char *s = f->text;
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "t")) {
            *out = 1;
            return LM_OK;
        }
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "f")) {
            *out = 0;
            return LM_OK;
        }
    } else if (f->type == PBTXT_NUMBER) {
        int64_t v;
        if (parse_int_literal(f->text, &v) == 0 && (v == 0 || v == 1)) {
            *out = (int)v;
            return LM_OK;
        }
    }
    return wrong_type(f, "true or false", err);
}

lm_status pbtxt_get_string(const pbtxt_field *f, const char **out, lm_error *err) {
    if (f->type != PBTXT_STRING) return wrong_type(f, "a string", err);
    if (memchr(f->text, '\0', f->len))
        return pbtxt_error_at(err, LM_ERR_FORMAT, f, "the string holds a NUL byte");
    *out = f->text;
    return LM_OK;
}

lm_status pbtxt_get_ident(const pbtxt_field *f, const char **out, lm_error *err) {
    if (f->type != PBTXT_IDENT || f->text[0] == '-') return wrong_type(f, "an identifier", err);
    *out = f->text;
    return LM_OK;
}

lm_status pbtxt_get_message(const pbtxt_field *f, const pbtxt_field **out, lm_error *err) {
    if (f->type != PBTXT_MESSAGE) return wrong_type(f, "a message ('{ ... }')", err);
    *out = f;
    return LM_OK;
}
