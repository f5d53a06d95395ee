/* lexer.c — Jinja tokenizer: text/tag splitting with Jinja2's whitespace rules (trim_blocks,
 * lstrip_blocks, -/+ modifiers, raw, comments), then the tokens inside tags. */
#include "template/lexer.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/pystr.h"

enum { MODE_DATA, MODE_BLOCK, MODE_VAR };

void tpl_lex_init(tpl_lexer *lx, const char *src, size_t len, lm_arena *arena) {
    memset(lx, 0, sizeof *lx);
    lx->src = src;
    lx->len = len;
    lx->mode = MODE_DATA;
    lx->line_starting = 1; /* the template start counts as a line start */
    lx->line = 1;
    lx->col = 1;
    lx->arena = arena;
}

lm_status tpl_lex_error_at(lm_error *err, lm_status code, int line, int col, const char *fmt, ...) {
    if (!err || err->code != LM_OK) return err ? err->code : code;
    char msg[LM_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err_set(err, code, "%s (line %d, column %d)", msg, line, col);
    err->line = line;
    err->col = col;
    return code;
}

const char *tpl_lex_describe(tpl_token_type type) {
    static const char *const names[TPL_TK_COUNT_] = {
        [TPL_TK_EOF] = "end of template", [TPL_TK_DATA] = "template data",
        [TPL_TK_VAR_BEGIN] = "'{{'", [TPL_TK_VAR_END] = "'}}'",
        [TPL_TK_BLOCK_BEGIN] = "'{%'", [TPL_TK_BLOCK_END] = "'%}'",
        [TPL_TK_NAME] = "name", [TPL_TK_STRING] = "string", [TPL_TK_INT] = "integer",
        [TPL_TK_FLOAT] = "float", [TPL_TK_ADD] = "'+'", [TPL_TK_SUB] = "'-'",
        [TPL_TK_MUL] = "'*'", [TPL_TK_DIV] = "'/'", [TPL_TK_FLOORDIV] = "'//'",
        [TPL_TK_MOD] = "'%'", [TPL_TK_POW] = "'**'", [TPL_TK_TILDE] = "'~'",
        [TPL_TK_EQ] = "'=='", [TPL_TK_NE] = "'!='", [TPL_TK_LT] = "'<'", [TPL_TK_LTEQ] = "'<='",
        [TPL_TK_GT] = "'>'", [TPL_TK_GTEQ] = "'>='", [TPL_TK_ASSIGN] = "'='",
        [TPL_TK_DOT] = "'.'", [TPL_TK_COLON] = "':'", [TPL_TK_PIPE] = "'|'",
        [TPL_TK_COMMA] = "','", [TPL_TK_SEMICOLON] = "';'", [TPL_TK_LPAREN] = "'('",
        [TPL_TK_RPAREN] = "')'", [TPL_TK_LBRACKET] = "'['", [TPL_TK_RBRACKET] = "']'",
        [TPL_TK_LBRACE] = "'{'", [TPL_TK_RBRACE] = "'}'",
    };
    return (unsigned)type < TPL_TK_COUNT_ && names[type] ? names[type] : "token";
}

/* ---- positions ---- */

/* Line and column (in code points) of byte `pos`. Positions only move forward, so counting
 * resumes where the last call stopped: linear in the source however long its lines are. */
static void lex_where(tpl_lexer *lx, size_t pos, int *line, int *col) {
    if (pos < lx->scanned) { /* never happens with in-order tokens; recount from the start */
        lx->scanned = 0;
        lx->line = 1;
        lx->col = 1;
    }
    for (size_t i = lx->scanned; i < pos && i < lx->len; i++) {
        unsigned char c = (unsigned char)lx->src[i];
        if (c == '\n') {
            lx->line++;
            lx->col = 1;
        } else if ((c & 0xc0) != 0x80) {
            lx->col++;
        }
    }
    lx->scanned = pos > lx->len ? lx->len : pos;
    *line = lx->line;
    *col = lx->col;
}

static lm_status lex_fail(tpl_lexer *lx, size_t pos, lm_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static lm_status lex_fail(tpl_lexer *lx, size_t pos, lm_error *err, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    lex_where(lx, pos, &line, &col);
    return tpl_lex_error_at(err, LM_ERR_FORMAT, line, col, "%s", msg);
}

static void lex_push(tpl_lexer *lx, tpl_token_type type, size_t pos, const char *p, size_t n) {
    tpl_token *t = &lx->queue[(lx->qhead + lx->nqueue) % 3];
    memset(t, 0, sizeof *t);
    t->type = type;
    t->p = p;
    t->n = n;
    lex_where(lx, pos, &t->line, &t->col);
    lx->nqueue++;
}

/* ---- data between tags ---- */

static int starts(const tpl_lexer *lx, size_t pos, const char *s) {
    size_t n = strlen(s);
    return pos <= lx->len && lx->len - pos >= n && memcmp(lx->src + pos, s, n) == 0;
}

/* Skips Python whitespace (`\s*` in Jinja's regexes) from pos. */
static size_t skip_ws(const tpl_lexer *lx, size_t pos) {
    return pos + tpl_py_ws_prefix(lx->src + pos, lx->len - pos);
}

/* Matches a block-tag end at pos: "+%}", "-%}\s*" or "%}\n?" (trim_blocks). Returns the end of
 * the match, or 0 when there is none. */
static size_t match_block_end(const tpl_lexer *lx, size_t pos) {
    if (starts(lx, pos, "+%}")) return pos + 3;
    if (starts(lx, pos, "-%}")) return skip_ws(lx, pos + 3);
    if (starts(lx, pos, "%}")) return pos + 2 + (starts(lx, pos + 2, "\n") ? 1 : 0);
    return 0;
}

/* Matches `{%[-+]?\s*raw\s*(-%}\s*|%})` at pos (the opening of a raw block; note: no
 * trim_blocks newline after it, as in Jinja2). Returns the end of the match or 0. */
static size_t match_raw_begin(const tpl_lexer *lx, size_t pos) {
    size_t p = pos + 2;
    if (p < lx->len && (lx->src[p] == '-' || lx->src[p] == '+')) p++;
    p = skip_ws(lx, p);
    if (!starts(lx, p, "raw")) return 0;
    p = skip_ws(lx, p + 3);
    if (starts(lx, p, "-%}")) return skip_ws(lx, p + 3);
    if (starts(lx, p, "%}")) return p + 2;
    return 0;
}

/* Finds `{%[-+]?\s*endraw\s*(+%}|-%}\s*|%}\n?)` from pos: returns its start, the end of the
 * match in *end and the sign in *sign; (size_t)-1 when absent. */
static size_t find_raw_end(const tpl_lexer *lx, size_t pos, size_t *end, char *sign) {
    for (size_t q = pos; q + 1 < lx->len; q++) {
        if (lx->src[q] != '{' || lx->src[q + 1] != '%') continue;
        size_t p = q + 2;
        char s = 0;
        if (p < lx->len && (lx->src[p] == '-' || lx->src[p] == '+')) s = lx->src[p++];
        p = skip_ws(lx, p);
        if (!starts(lx, p, "endraw")) continue;
        p = skip_ws(lx, p + 6);
        size_t e = match_block_end(lx, p);
        if (!e) continue;
        *end = e;
        *sign = s;
        return q;
    }
    return (size_t)-1;
}

/* Applies the whitespace rules to data text [start, stop) that precedes a tag with modifier
 * `sign` ('-', '+' or 0); `lstrip` says whether lstrip_blocks applies to that tag kind.
 * Returns the new stop. */
static size_t strip_before_tag(const tpl_lexer *lx, size_t start, size_t stop, char sign,
                               int lstrip) {
    const char *text = lx->src + start;
    size_t n = stop - start;
    if (sign == '-') return stop - tpl_py_ws_suffix(text, n);
    if (sign == '+' || !lstrip) return stop;
    size_t l_pos = n;
    while (l_pos > 0 && text[l_pos - 1] != '\n') l_pos--;
    if (l_pos == 0 && !lx->line_starting) return stop;
    /* only whitespace (no newline by construction) between the line start and the tag? */
    if (l_pos < n && tpl_py_ws_prefix(text + l_pos, n - l_pos) == n - l_pos) return start + l_pos;
    return stop;
}

/* Lexes text up to the next tag (or the end), queueing DATA and the tag-opening token. Comments
 * and raw blocks are consumed here. */
static lm_status lex_data(tpl_lexer *lx, lm_error *err) {
    while (lx->nqueue == 0) {
        size_t start = lx->pos;
        if (start >= lx->len) {
            lex_push(lx, TPL_TK_EOF, lx->len, NULL, 0);
            return LM_OK;
        }
        size_t q = start;
        char kind = 0;
        for (;;) {
            const char *b = memchr(lx->src + q, '{', lx->len - q);
            if (!b) { q = lx->len; break; }
            q = (size_t)(b - lx->src);
            if (q + 1 < lx->len && (b[1] == '{' || b[1] == '%' || b[1] == '#')) {
                kind = b[1];
                break;
            }
            q++;
        }
        if (!kind) { /* plain text to the end */
            lex_push(lx, TPL_TK_DATA, start, lx->src + start, lx->len - start);
            lx->pos = lx->len;
            continue;
        }
        char sign = 0;
        if (q + 2 < lx->len && (lx->src[q + 2] == '-' || lx->src[q + 2] == '+'))
            sign = lx->src[q + 2];
        size_t raw_end = kind == '%' ? match_raw_begin(lx, q) : 0;
        size_t stop = strip_before_tag(lx, start, q, sign, kind != '{');
        if (stop > start) lex_push(lx, TPL_TK_DATA, start, lx->src + start, stop - start);

        if (kind == '#') { /* comment: first "#}" (with its own -/+ and trim rules) */
            size_t p = q + 2, end = 0;
            for (; p + 1 < lx->len; p++) {
                if (starts(lx, p, "+#}")) { end = p + 3; break; }
                if (starts(lx, p, "-#}")) { end = skip_ws(lx, p + 3); break; }
                if (starts(lx, p, "#}")) { end = p + 2 + (starts(lx, p + 2, "\n") ? 1 : 0); break; }
            }
            if (!end) return lex_fail(lx, q, err, "missing end of comment tag");
            lx->pos = end;
            lx->line_starting = lx->src[end - 1] == '\n';
            continue;
        }
        if (raw_end) { /* raw block: its body is data, with lstrip/'-' rules before endraw */
            lx->line_starting = lx->src[raw_end - 1] == '\n';
            size_t end;
            char esign;
            size_t e = find_raw_end(lx, raw_end, &end, &esign);
            if (e == (size_t)-1) return lex_fail(lx, q, err, "missing end of raw directive");
            size_t rstop = strip_before_tag(lx, raw_end, e, esign, 1);
            if (rstop > raw_end)
                lex_push(lx, TPL_TK_DATA, raw_end, lx->src + raw_end, rstop - raw_end);
            lx->pos = end;
            lx->line_starting = lx->src[end - 1] == '\n';
            continue;
        }
        lex_push(lx, kind == '{' ? TPL_TK_VAR_BEGIN : TPL_TK_BLOCK_BEGIN, q, NULL, 0);
        lx->pos = q + 2 + (sign ? 1 : 0);
        lx->mode = kind == '{' ? MODE_VAR : MODE_BLOCK;
        lx->depth = 0;
        lx->line_starting = 0;
    }
    return LM_OK;
}

/* ---- tokens inside tags ---- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_name_char(char c) { return is_name_start(c) || is_digit(c); }
static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Digits with single underscores between them: (\d+_)*\d+. Returns the end, or pos when none. */
static size_t scan_digits(const tpl_lexer *lx, size_t pos) {
    size_t p = pos;
    if (p >= lx->len || !is_digit(lx->src[p])) return pos;
    while (p < lx->len) {
        if (is_digit(lx->src[p])) p++;
        else if (lx->src[p] == '_' && p + 1 < lx->len && is_digit(lx->src[p + 1])) p++;
        else break;
    }
    return p;
}

/* Digits of `base` with optional single underscores before each: (_?[digit])+. */
static size_t scan_based(const tpl_lexer *lx, size_t pos, int base) {
    size_t p = pos;
    for (;;) {
        size_t q = p < lx->len && lx->src[p] == '_' ? p + 1 : p;
        int d = q < lx->len ? hexval(lx->src[q]) : -1;
        if (d < 0 || d >= base) break;
        p = q + 1;
    }
    return p;
}

/* Numbers as Jinja2 lexes them: the float rule first (not right after a '.'), then integers:
 * 0b/0o/0x forms, [1-9](_?\d)*, or 0(_?0)* — so "012" is "0" followed by "12". */
static lm_status lex_number(tpl_lexer *lx, lm_error *err) {
    size_t start = lx->pos, p = start;
    int is_float = 0, base = 10;
    if (!(start > 0 && lx->src[start - 1] == '.')) {
        size_t q = scan_digits(lx, start), f = 0;
        if (q + 1 < lx->len && lx->src[q] == '.' && is_digit(lx->src[q + 1])) f = scan_digits(lx, q + 1);
        size_t e = f ? f : q;
        if (e < lx->len && (lx->src[e] == 'e' || lx->src[e] == 'E')) {
            size_t r = e + 1;
            if (r < lx->len && (lx->src[r] == '+' || lx->src[r] == '-')) r++;
            size_t x = scan_digits(lx, r);
            if (x > r) { p = x; is_float = 1; }
        }
        if (!is_float && f) { p = f; is_float = 1; }
    }
    size_t digits_at = start;
    if (!is_float) {
        char c1 = start + 1 < lx->len ? (char)(lx->src[start + 1] | 0x20) : 0;
        if (lx->src[start] == '0' && (c1 == 'b' || c1 == 'o' || c1 == 'x')) {
            base = c1 == 'b' ? 2 : c1 == 'o' ? 8 : 16;
            p = scan_based(lx, start + 2, base);
            if (p == start + 2) { base = 10; p = start + 1; } /* just "0" */
            else digits_at = start + 2;
        } else if (lx->src[start] == '0') {
            p = start + 1;
            while (p + 1 < lx->len && lx->src[p] == '_' && lx->src[p + 1] == '0') p += 2;
            while (p < lx->len && lx->src[p] == '0') p++;
        } else {
            p = scan_based(lx, start + 1, 10);
        }
    }
    char buf[128];
    size_t n = 0;
    for (size_t i = digits_at; i < p; i++) {
        if (lx->src[i] == '_') continue;
        if (n + 1 >= sizeof buf) return lex_fail(lx, start, err, "number literal too long");
        buf[n++] = lx->src[i];
    }
    buf[n] = '\0';
    lex_push(lx, is_float ? TPL_TK_FLOAT : TPL_TK_INT, start, lx->src + start, p - start);
    tpl_token *t = &lx->queue[(lx->qhead + lx->nqueue - 1) % 3];
    if (is_float) {
        t->f = strtod(buf, NULL);
    } else {
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t d = (uint64_t)hexval(buf[i]);
            if (v > ((uint64_t)INT64_MAX - d) / (uint64_t)base) {
                lx->nqueue--;
                return lex_fail(lx, start, err, "integer literal %s is too large (limit is 2^63-1)", buf);
            }
            v = v * (uint64_t)base + d;
        }
        t->i = (int64_t)v;
    }
    lx->pos = p;
    return LM_OK;
}

/* Appends the Python escape text of code point cp ("\xe9", "\u2028", "\U0001f600") minus the
 * leading backslash; used for a backslash before a non-ASCII character (see lex_string). */
static size_t py_escape_text(uint32_t cp, char *out) {
    if (cp <= 0xff) return (size_t)snprintf(out, 12, "x%02x", cp);
    if (cp <= 0xffff) return (size_t)snprintf(out, 12, "u%04x", cp);
    return (size_t)snprintf(out, 12, "U%08x", cp);
}

/* Decodes a string literal's escapes the way Jinja2 does (Python's unicode-escape codec):
 * \\ \' \" \a \b \f \n \r \t \v, \ooo, \xhh, \uhhhh, \Uhhhhhhhh, backslash-newline removed,
 * unknown escapes kept as written. */
static lm_status lex_unescape(tpl_lexer *lx, size_t start, const char *s, size_t n, char **out,
                              size_t *outn, lm_error *err) {
    /* Worst case: "\" + a 2-byte character (3 bytes) becomes "\xhh"-style text of up to 10. */
    if (n > (SIZE_MAX - 1) / 4) return err_set(err, LM_ERR_LIMIT, "string literal too long");
    char *buf = arena_alloc(lx->arena, 4 * n + 1);
    if (!buf) return err_set(err, LM_ERR_NOMEM, "out of memory decoding a string literal");
    size_t o = 0;
    uint32_t pending_hi = 0; /* a \ud800-\udbff escape waiting for its low surrogate */
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\' || i + 1 >= n) {
            if (pending_hi) return lex_fail(lx, start, err, "unpaired surrogate escape in string");
            buf[o++] = s[i++];
            continue;
        }
        char c = s[i + 1];
        uint32_t cp;
        int digits = 0;
        i += 2;
        switch (c) {
        case '\n': continue;
        case '\\': cp = '\\'; break;
        case '\'': cp = '\''; break;
        case '"': cp = '"'; break;
        case 'a': cp = 7; break;
        case 'b': cp = 8; break;
        case 'f': cp = 12; break;
        case 'n': cp = 10; break;
        case 'r': cp = 13; break;
        case 't': cp = 9; break;
        case 'v': cp = 11; break;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
            if (c >= '0' && c <= '7') {
                cp = (uint32_t)(c - '0');
                for (int k = 0; k < 2 && i < n && s[i] >= '0' && s[i] <= '7'; k++)
                    cp = cp * 8 + (uint32_t)(s[i++] - '0');
                break;
            }
            if ((unsigned char)c >= 0x80) { /* backslash before non-ASCII: see py_escape_text */
                uint32_t u;
                int len = tpl_utf8_decode(s + i - 1, n - (i - 1), &u);
                if (len <= 0) return lex_fail(lx, start, err, "invalid UTF-8 in string literal");
                buf[o++] = '\\';
                o += py_escape_text(u, buf + o);
                i += (size_t)len - 1;
                continue;
            }
            buf[o++] = '\\'; /* unknown escape: kept */
            buf[o++] = c;
            continue;
        }
        if (digits) {
            cp = 0;
            for (int k = 0; k < digits; k++) {
                int h = i < n ? hexval(s[i]) : -1;
                if (h < 0)
                    return lex_fail(lx, start, err, "truncated \\%cXX escape in string literal", c);
                cp = cp * 16 + (uint32_t)h;
                i++;
            }
            if (cp > 0x10ffff) return lex_fail(lx, start, err, "illegal Unicode character escape");
        }
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (pending_hi) return lex_fail(lx, start, err, "unpaired surrogate escape in string");
            pending_hi = cp;
            continue;
        }
        if (cp >= 0xdc00 && cp <= 0xdfff) {
            if (!pending_hi) return lex_fail(lx, start, err, "unpaired surrogate escape in string");
            cp = 0x10000 + ((pending_hi - 0xd800) << 10) + (cp - 0xdc00);
            pending_hi = 0;
        } else if (pending_hi) {
            return lex_fail(lx, start, err, "unpaired surrogate escape in string");
        }
        o += (size_t)tpl_utf8_encode(cp, buf + o);
    }
    if (pending_hi) return lex_fail(lx, start, err, "unpaired surrogate escape in string");
    buf[o] = '\0';
    *out = buf;
    *outn = o;
    return LM_OK;
}

static lm_status lex_string(tpl_lexer *lx, lm_error *err) {
    size_t start = lx->pos;
    char quote = lx->src[start];
    size_t p = start + 1;
    int escapes = 0;
    while (p < lx->len && lx->src[p] != quote) {
        if (lx->src[p] == '\\') {
            escapes = 1;
            p++;
        }
        p++;
    }
    if (p >= lx->len) return lex_fail(lx, start, err, "unterminated string literal");
    const char *body = lx->src + start + 1;
    size_t n = p - start - 1;
    lex_push(lx, TPL_TK_STRING, start, body, n);
    if (escapes) {
        char *dec = NULL;
        size_t decn = 0;
        lm_status st = lex_unescape(lx, start, body, n, &dec, &decn, err);
        tpl_token *t = &lx->queue[(lx->qhead + lx->nqueue - 1) % 3];
        if (st != LM_OK) {
            lx->nqueue--;
            return st;
        }
        t->p = dec;
        t->n = decn;
    }
    lx->pos = p + 1;
    return LM_OK;
}

static const struct {
    char s[3];
    tpl_token_type type;
} operators[] = {
    {"//", TPL_TK_FLOORDIV}, {"**", TPL_TK_POW}, {"==", TPL_TK_EQ}, {"!=", TPL_TK_NE},
    {">=", TPL_TK_GTEQ}, {"<=", TPL_TK_LTEQ}, {"+", TPL_TK_ADD}, {"-", TPL_TK_SUB},
    {"/", TPL_TK_DIV}, {"*", TPL_TK_MUL}, {"%", TPL_TK_MOD}, {"~", TPL_TK_TILDE},
    {"[", TPL_TK_LBRACKET}, {"]", TPL_TK_RBRACKET}, {"(", TPL_TK_LPAREN}, {")", TPL_TK_RPAREN},
    {"{", TPL_TK_LBRACE}, {"}", TPL_TK_RBRACE}, {">", TPL_TK_GT}, {"<", TPL_TK_LT},
    {"=", TPL_TK_ASSIGN}, {".", TPL_TK_DOT}, {":", TPL_TK_COLON}, {"|", TPL_TK_PIPE},
    {",", TPL_TK_COMMA}, {";", TPL_TK_SEMICOLON},
};

static lm_status lex_operator(tpl_lexer *lx, lm_error *err) {
    size_t start = lx->pos;
    for (size_t k = 0; k < sizeof operators / sizeof operators[0]; k++) {
        if (!starts(lx, start, operators[k].s)) continue;
        tpl_token_type type = operators[k].type;
        char open = 0;
        if (type == TPL_TK_LPAREN) open = ')';
        if (type == TPL_TK_LBRACKET) open = ']';
        if (type == TPL_TK_LBRACE) open = '}';
        if (open) {
            if (lx->depth < (int)sizeof lx->brackets) lx->brackets[lx->depth] = open;
            lx->depth++;
        } else if (type == TPL_TK_RPAREN || type == TPL_TK_RBRACKET || type == TPL_TK_RBRACE) {
            char c = operators[k].s[0];
            if (lx->depth == 0) return lex_fail(lx, start, err, "unexpected '%c'", c);
            char want = lx->depth <= (int)sizeof lx->brackets ? lx->brackets[lx->depth - 1] : c;
            if (want != c) return lex_fail(lx, start, err, "unexpected '%c', expected '%c'", c, want);
            lx->depth--;
        }
        lex_push(lx, type, start, lx->src + start, strlen(operators[k].s));
        lx->pos = start + strlen(operators[k].s);
        return LM_OK;
    }
    uint32_t cp = 0;
    tpl_utf8_decode(lx->src + start, lx->len - start, &cp);
    if (cp >= 0x20 && cp < 0x7f) return lex_fail(lx, start, err, "unexpected char '%c'", (char)cp);
    return lex_fail(lx, start, err, "unexpected char U+%04X", cp);
}

static lm_status lex_tag(tpl_lexer *lx, lm_error *err) {
    size_t p = lx->pos;
    while (p < lx->len && (lx->src[p] == ' ' || lx->src[p] == '\t' || lx->src[p] == '\n' ||
                           lx->src[p] == '\r' || lx->src[p] == '\f' || lx->src[p] == '\v'))
        p++;
    lx->pos = p;
    if (p >= lx->len) {
        lex_push(lx, TPL_TK_EOF, p, NULL, 0); /* the parser reports what it expected */
        return LM_OK;
    }
    if (lx->depth == 0) { /* inside brackets `}}` and `%}` are operators, as in Jinja2 */
        size_t end = 0;
        tpl_token_type type = TPL_TK_EOF;
        if (lx->mode == MODE_BLOCK && (end = match_block_end(lx, p))) type = TPL_TK_BLOCK_END;
        if (lx->mode == MODE_VAR) {
            if (starts(lx, p, "-}}")) end = skip_ws(lx, p + 3);
            else if (starts(lx, p, "}}")) end = p + 2;
            if (end) type = TPL_TK_VAR_END;
        }
        if (end) {
            lex_push(lx, type, p, NULL, 0);
            lx->pos = end;
            lx->mode = MODE_DATA;
            lx->line_starting = lx->src[end - 1] == '\n';
            return LM_OK;
        }
    }
    char c = lx->src[p];
    if (is_digit(c)) return lex_number(lx, err);
    if (c == '\'' || c == '"') return lex_string(lx, err);
    if (is_name_start(c)) {
        size_t q = p;
        while (q < lx->len && is_name_char(lx->src[q])) q++;
        lex_push(lx, TPL_TK_NAME, p, lx->src + p, q - p);
        lx->pos = q;
        return LM_OK;
    }
    return lex_operator(lx, err);
}

lm_status tpl_lex_next(tpl_lexer *lx, tpl_token *tok, lm_error *err) {
    if (lx->nqueue == 0) {
        lm_status st = lx->mode == MODE_DATA ? lex_data(lx, err) : lex_tag(lx, err);
        if (st != LM_OK) return st;
    }
    *tok = lx->queue[lx->qhead];
    if (tok->type == TPL_TK_EOF) return LM_OK; /* EOF stays queued: sticky */
    lx->qhead = (lx->qhead + 1) % 3;
    lx->nqueue--;
    return LM_OK;
}
