/* tok_pretok.c — pre-tokenizer steps: cut normalized text into the pieces the model encodes one
 * by one (Split by regex or string, ByteLevel, Metaspace, Digits, Punctuation, Whitespace,
 * WhitespaceSplit, BERT, CharDelimiterSplit), as Hugging Face defines them.
 *
 * Every splitting step works like HF's NormalizedString::split: find the pattern's matches in a
 * piece, label the stretches between them, then keep, drop or merge matches per the step's
 * behavior; empty pieces are dropped. Steps that rewrite text (ByteLevel, Metaspace) build a new
 * buffer; the others only cut spans of the current one. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_impl.h"

lm_status tok_spans_push(tok_spans *s, size_t off, size_t len, int at_start) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        tok_span *p = realloc(s->v, cap * sizeof *p);
        if (!p) return LM_ERR_NOMEM;
        s->v = p;
        s->cap = cap;
    }
    s->v[s->n++] = (tok_span){off, len, at_start};
    return LM_OK;
}

void tok_spans_fini(tok_spans *s) {
    free(s->v);
    buf_fini(&s->text);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- matches inside one piece */

typedef struct {
    size_t s, e;  /* byte range in the piece */
    int m;        /* 1: a match of the pattern */
} seg;

typedef struct {
    seg *v;
    size_t n, cap;
} segs;

static lm_status segs_push(segs *g, size_t s, size_t e, int m) {
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        seg *p = realloc(g->v, cap * sizeof *p);
        if (!p) return LM_ERR_NOMEM;
        g->v = p;
        g->cap = cap;
    }
    g->v[g->n++] = (seg){s, e, m};
    return LM_OK;
}

/* Character classes for the per-character patterns. */
typedef enum { CLS_DIGIT, CLS_PUNCT, CLS_SPACE, CLS_CHAR } char_class;

static int in_class(char_class c, uint32_t cp, uint32_t delim) {
    switch (c) {
    case CLS_DIGIT: {
        int k = utf8proc_category((utf8proc_int32_t)cp);
        return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
    }
    case CLS_PUNCT: {
        if (cp < 0x80)
            return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) ||
                   (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
        int k = utf8proc_category((utf8proc_int32_t)cp);
        return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
    }
    case CLS_SPACE: return tok_utf8_is_space(cp);
    case CLS_CHAR: return cp == delim;
    }
    return 0;
}

/* HF's find_matches for a per-character pattern: every matching character is its own match. */
static lm_status matches_chars(const char *p, size_t n, char_class c, uint32_t delim, segs *g) {
    size_t prev = 0;
    tok_char_iter it = {p, n, 0, 0, 0};
    while (tok_char_next(&it)) {
        if (!in_class(c, it.cp, delim)) continue;
        if (prev != it.pos) LM_TRY(segs_push(g, prev, it.pos, 0));
        LM_TRY(segs_push(g, it.pos, it.pos + it.len, 1));
        prev = it.pos + it.len;
    }
    if (prev != n) LM_TRY(segs_push(g, prev, n, 0));
    return LM_OK;
}

static lm_status matches_regex(const char *p, size_t n, const tok_regex *re, segs *g) {
    size_t prev = 0, pos = 0, ms, me;
    while (pos <= n && tok_regex_find(re, p, n, pos, &ms, &me) == 1) {
        if (me == ms) { /* an empty match splits nothing; step over one character */
            size_t l = ms < n ? tok_utf8_valid_len((const unsigned char *)p + ms, n - ms) : 1;
            pos = ms + (l ? l : 1);
            continue;
        }
        if (prev != ms) LM_TRY(segs_push(g, prev, ms, 0));
        LM_TRY(segs_push(g, ms, me, 1));
        prev = pos = me;
    }
    if (prev != n) LM_TRY(segs_push(g, prev, n, 0));
    return LM_OK;
}

static lm_status matches_literal(const char *p, size_t n, const char *pat, size_t pl, segs *g) {
    size_t prev = 0, i = 0;
    while (pl && i + pl <= n) {
        if (memcmp(p + i, pat, pl) != 0) {
            i++;
            continue;
        }
        if (prev != i) LM_TRY(segs_push(g, prev, i, 0));
        LM_TRY(segs_push(g, i, i + pl, 1));
        i += pl;
        prev = i;
    }
    if (prev != n) LM_TRY(segs_push(g, prev, n, 0));
    return LM_OK;
}

/* Applies a split behavior to labelled segments (in place), HF's rules: a segment with m = 1
 * afterwards is removed. */
static void apply_behavior(segs *g, tok_split_behavior b) {
    size_t w = 0;
    int prev_match = 0;
    switch (b) {
    case TOK_SPLIT_REMOVED:
        return; /* matches stay marked and are dropped */
    case TOK_SPLIT_ISOLATED:
        for (size_t i = 0; i < g->n; i++) g->v[i].m = 0;
        return;
    case TOK_SPLIT_MERGED_PREV:
        for (size_t i = 0; i < g->n; i++) {
            seg x = g->v[i];
            if (x.m && !prev_match && w > 0) g->v[w - 1].e = x.e;
            else g->v[w++] = (seg){x.s, x.e, 0};
            prev_match = x.m;
        }
        break;
    case TOK_SPLIT_MERGED_NEXT: {
        /* walk backwards: a match joins the segment after it */
        size_t r = g->n;
        for (size_t i = g->n; i-- > 0;) {
            seg x = g->v[i];
            if (x.m && !prev_match && r < g->n) g->v[r].s = x.s;
            else g->v[--r] = (seg){x.s, x.e, 0};
            prev_match = x.m;
        }
        memmove(g->v, g->v + r, (g->n - r) * sizeof *g->v);
        w = g->n - r;
        break;
    }
    case TOK_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < g->n; i++) {
            seg x = g->v[i];
            if (w > 0 && x.m == prev_match) g->v[w - 1].e = x.e;
            else g->v[w++] = (seg){x.s, x.e, 0};
            prev_match = x.m;
        }
        break;
    }
    g->n = w;
}

/* ---------------------------------------------------------------- steps */

typedef struct {
    const tok_tokenizer *t;
    tok_spans *cur, *next;
    segs g;
    lm_error *err;
} pre_ctx;

/* Splits every current span by the step's pattern into ctx->next (same text buffer). */
static lm_status split_step(pre_ctx *c, const tok_step *st, int kind, tok_split_behavior b,
                            int invert) {
    tok_spans *in = c->cur, *out = c->next;
    out->n = 0;
    for (size_t k = 0; k < in->n; k++) {
        tok_span sp = in->v[k];
        const char *p = in->text.data + sp.off;
        c->g.n = 0;
        lm_status s;
        switch (kind) {
        case 0: s = st->re ? matches_regex(p, sp.len, st->re, &c->g)
                           : matches_literal(p, sp.len, st->str, st->str_len, &c->g); break;
        case 1: s = matches_chars(p, sp.len, CLS_DIGIT, 0, &c->g); break;
        case 2: s = matches_chars(p, sp.len, CLS_PUNCT, 0, &c->g); break;
        case 3: s = matches_chars(p, sp.len, CLS_SPACE, 0, &c->g); break;
        default: {
            uint32_t d = st->str_len ? tok_utf8_decode((const unsigned char *)st->str, st->str_len) : 0;
            s = matches_chars(p, sp.len, CLS_CHAR, d, &c->g);
            break;
        }
        }
        if (s != LM_OK) return s;
        if (invert)
            for (size_t i = 0; i < c->g.n; i++) c->g.v[i].m = !c->g.v[i].m;
        apply_behavior(&c->g, b);
        for (size_t i = 0; i < c->g.n; i++) {
            seg x = c->g.v[i];
            if (x.m || x.e == x.s) continue;
            LM_TRY(tok_spans_push(out, sp.off + x.s, x.e - x.s, sp.at_start && x.s == 0));
        }
    }
    /* the next list shares the text: move the buffer over */
    lm_buf tmp = out->text;
    out->text = in->text;
    in->text = tmp;
    tok_spans *sw = c->cur;
    c->cur = c->next;
    c->next = sw;
    return LM_OK;
}

/* Rewrites each span's text through `fn` into a fresh buffer. */
typedef void (*rewrite_fn)(const tok_step *st, const tok_span *sp, const char *p, lm_buf *out);

static lm_status rewrite_step(pre_ctx *c, const tok_step *st, rewrite_fn fn) {
    tok_spans *in = c->cur, *out = c->next;
    out->n = 0;
    buf_reset(&out->text);
    for (size_t k = 0; k < in->n; k++) {
        size_t start = out->text.len;
        fn(st, &in->v[k], in->text.data + in->v[k].off, &out->text);
        LM_TRY(tok_spans_push(out, start, out->text.len - start, in->v[k].at_start));
    }
    if (out->text.oom) return LM_ERR_NOMEM;
    tok_spans *sw = c->cur;
    c->cur = c->next;
    c->next = sw;
    return LM_OK;
}

static void add_prefix_space(const tok_step *st, const tok_span *sp, const char *p, lm_buf *out) {
    (void)st;
    if (sp->len == 0 || p[0] != ' ') buf_append(out, " ", 1);
    buf_append(out, p, sp->len);
}

static void bytelevel_map(const tok_step *st, const tok_span *sp, const char *p, lm_buf *out) {
    (void)st;
    char e[4];
    for (size_t i = 0; i < sp->len; i++)
        buf_append(out, e, tok_utf8_encode(tok_bytelevel_char((uint8_t)p[i]), e));
}

/* Metaspace: spaces become the replacement, and the replacement is prepended per the scheme. */
static void metaspace_map(const tok_step *st, const tok_span *sp, const char *p, lm_buf *out) {
    int starts = sp->len >= st->str_len && memcmp(p, st->str, st->str_len) == 0;
    int prepend = st->num == TOK_PREPEND_ALWAYS || (st->num == TOK_PREPEND_FIRST && sp->at_start);
    /* the check looks at the text after spaces are replaced */
    if (!starts && sp->len > 0 && p[0] == ' ') starts = 1;
    if (prepend && !starts) buf_append(out, st->str, st->str_len);
    for (size_t i = 0; i < sp->len; i++) {
        if (p[i] == ' ') buf_append(out, st->str, st->str_len);
        else buf_append(out, p + i, 1);
    }
}

lm_status tok_pretokenize(const tok_tokenizer *t, tok_spans *spans, lm_error *err) {
    if (t->n_pre == 0) return LM_OK;
    tok_spans other = {0};
    pre_ctx c = {.t = t, .cur = spans, .next = &other, .err = err};
    lm_status s = LM_OK;
    for (size_t k = 0; k < t->n_pre && s == LM_OK; k++) {
        const tok_step *st = &t->pre[k];
        int last = k + 1 == t->n_pre;
        switch (st->kind) {
        case TOK_PRE_SPLIT:
            s = split_step(&c, st, 0, (tok_split_behavior)st->behavior, st->flag_a);
            break;
        case TOK_PRE_BYTELEVEL:
            if (st->flag_a) s = rewrite_step(&c, st, add_prefix_space);
            if (s == LM_OK && st->flag_b) s = split_step(&c, st, 0, TOK_SPLIT_ISOLATED, 0);
            /* the last step leaves raw bytes: the byte-level model spells them itself */
            if (s == LM_OK && !(last && t->byte_level)) s = rewrite_step(&c, st, bytelevel_map);
            break;
        case TOK_PRE_METASPACE:
            s = rewrite_step(&c, st, metaspace_map);
            if (s == LM_OK && st->flag_a) {
                tok_step lit = *st; /* split on the replacement, keeping it with what follows */
                lit.re = NULL;
                s = split_step(&c, &lit, 0, TOK_SPLIT_MERGED_NEXT, 0);
            }
            break;
        case TOK_PRE_DIGITS:
            s = split_step(&c, st, 1, st->flag_a ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS, 0);
            break;
        case TOK_PRE_PUNCTUATION:
            s = split_step(&c, st, 2, (tok_split_behavior)st->behavior, 0);
            break;
        case TOK_PRE_WHITESPACE: /* keep the matches of \w+|[^\w\s]+ */
            s = split_step(&c, st, 0, TOK_SPLIT_REMOVED, 1);
            break;
        case TOK_PRE_WHITESPACE_SPLIT:
            s = split_step(&c, st, 3, TOK_SPLIT_REMOVED, 0);
            break;
        case TOK_PRE_BERT:
            s = split_step(&c, st, 3, TOK_SPLIT_REMOVED, 0);
            if (s == LM_OK) s = split_step(&c, st, 2, TOK_SPLIT_ISOLATED, 0);
            break;
        case TOK_PRE_CHAR_DELIMITER:
            s = split_step(&c, st, 4, TOK_SPLIT_REMOVED, 0);
            break;
        default:
            s = LM_ERR_UNSUPPORTED;
            break;
        }
    }
    /* the result must end up in *spans */
    if (c.cur != spans) {
        tok_spans tmp = *spans;
        *spans = *c.cur;
        *c.cur = tmp;
    }
    tok_spans_fini(&other);
    free(c.g.v);
    if (s != LM_OK)
        return err_set(err, s, "tokenizer: pre-tokenizer failed (%s)", err_status_name(s));
    return LM_OK;
}
