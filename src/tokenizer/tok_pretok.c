/* tok_pretok.c — pre-tokenizer steps: cut normalized text into the pieces the model encodes one
 * by one (Split by regex or string, ByteLevel, Metaspace, Digits, Punctuation, Whitespace,
 * WhitespaceSplit, BERT, CharDelimiterSplit), as Hugging Face defines them.
 *
 * Every splitting step works like HF's NormalizedString::split: find the pattern's matches in a
 * piece, label the stretches between them, then keep, drop or merge matches per the step's
 * behavior; empty pieces are dropped. The pipeline runs depth first: a piece cut by one step goes
 * through the following steps (and the model) before the next piece is cut, so a 10 MB text
 * needs scratch memory for one piece per step, not for all of its pieces. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_impl.h"

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
    case CLS_SPACE: return utf8_is_space(cp);
    case CLS_CHAR: return cp == delim;
    }
    return 0;
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

/* ---------------------------------------------------------------- patterns */

typedef enum { PAT_STEP, PAT_DIGIT, PAT_PUNCT, PAT_SPACE, PAT_CHAR } pat_kind;

/* Finds a pattern's matches left to right in one piece. */
typedef struct {
    pat_kind kind;
    const tok_step *st;     /* PAT_STEP: the step's regex, else its literal string */
    uint32_t delim;         /* PAT_CHAR */
    const char *p;
    size_t n, pos;
} matcher;

static int matcher_next(matcher *m, size_t *ms, size_t *me) {
    if (m->kind == PAT_STEP && m->st->re) {
        while (m->pos <= m->n && tok_regex_find(m->st->re, m->p, m->n, m->pos, ms, me) == 1) {
            if (*me > *ms) {
                m->pos = *me;
                return 1;
            }
            /* an empty match splits nothing: step over one character */
            size_t l = *ms < m->n ? utf8_valid_len((const unsigned char *)m->p + *ms, m->n - *ms) : 1;
            m->pos = *ms + (l ? l : 1);
        }
        return 0;
    }
    if (m->kind == PAT_STEP) {
        size_t pl = m->st->str_len;
        if (pl == 0 || m->pos + pl > m->n) return 0;
        const char *hit = memmem(m->p + m->pos, m->n - m->pos, m->st->str, pl);
        if (!hit) return 0;
        *ms = (size_t)(hit - m->p);
        *me = *ms + pl;
        m->pos = *me;
        return 1;
    }
    /* per-character patterns: every matching character is its own match */
    tok_char_iter it = {m->p, m->n, m->pos, 0, 0};
    char_class cls = m->kind == PAT_DIGIT ? CLS_DIGIT : m->kind == PAT_PUNCT ? CLS_PUNCT
                   : m->kind == PAT_SPACE ? CLS_SPACE : CLS_CHAR;
    while (tok_char_next(&it)) {
        if (in_class(cls, it.cp, m->delim)) {
            *ms = it.pos;
            *me = it.pos + it.len;
            m->pos = *me;
            return 1;
        }
    }
    m->pos = m->n;
    return 0;
}

/* ---------------------------------------------------------------- the pipeline */

/* Levels of scratch per step: ByteLevel uses three (prefix space, regex split, byte mapping). */
#define SUBSTEPS 3

typedef struct {
    segs g;        /* labelled segments of the piece being cut at this level */
    lm_buf buf;    /* rewritten text of the piece at this level */
} level;

struct tok_pretok_state {
    level *lv;
    size_t n_lv;
};

typedef struct {
    const tok_tokenizer *t;
    tok_pretok_state *st;
    tok_piece_fn fn;
    void *ctx;
} run_ctx;

static lm_status run(run_ctx *c, size_t k, int sub, const char *p, size_t n, int at_start);

/* Passes p[0..n) on to the next level (sub + 1 of step k, or step k + 1). */
static lm_status pass_on(run_ctx *c, size_t k, int sub, const char *p, size_t n, int at_start) {
    if (n == 0) return LM_OK; /* HF drops empty pieces */
    if (sub + 1 < SUBSTEPS) return run(c, k, sub + 1, p, n, at_start);
    return run(c, k + 1, 0, p, n, at_start);
}

/* Cuts p[0..n) by the pattern and passes the kept pieces on. Isolated and Removed need no
 * look-ahead and stream; the merging behaviors label all segments of the piece first. */
static lm_status split(run_ctx *c, size_t k, int sub, matcher m, tok_split_behavior b, int invert,
                       int at_start) {
    const char *p = m.p;
    size_t n = m.n, prev = 0, ms, me;
    if (b == TOK_SPLIT_ISOLATED || b == TOK_SPLIT_REMOVED) {
        int keep_gap = b == TOK_SPLIT_ISOLATED || !invert;
        int keep_match = b == TOK_SPLIT_ISOLATED || invert;
        while (matcher_next(&m, &ms, &me)) {
            if (keep_gap && prev < ms) LM_TRY(pass_on(c, k, sub, p + prev, ms - prev, at_start && prev == 0));
            if (keep_match) LM_TRY(pass_on(c, k, sub, p + ms, me - ms, at_start && ms == 0));
            prev = me;
        }
        if (keep_gap && prev < n) LM_TRY(pass_on(c, k, sub, p + prev, n - prev, at_start && prev == 0));
        return LM_OK;
    }
    segs *g = &c->st->lv[k * SUBSTEPS + (size_t)sub].g;
    g->n = 0;
    while (matcher_next(&m, &ms, &me)) {
        if (prev != ms) LM_TRY(segs_push(g, prev, ms, invert));
        LM_TRY(segs_push(g, ms, me, !invert));
        prev = me;
    }
    if (prev != n) LM_TRY(segs_push(g, prev, n, invert));
    apply_behavior(g, b);
    for (size_t i = 0; i < g->n; i++) {
        seg x = g->v[i]; /* copied: deeper levels use their own arrays, but stay safe */
        if (!x.m) LM_TRY(pass_on(c, k, sub, p + x.s, x.e - x.s, at_start && x.s == 0));
    }
    return LM_OK;
}

/* Metaspace: spaces become the replacement, which is prepended per the scheme (HF checks the
 * text after the replacement, so a leading space counts as a leading replacement). */
static void metaspace_map(const tok_step *st, const char *p, size_t n, int at_start, lm_buf *out) {
    int starts = (n >= st->str_len && memcmp(p, st->str, st->str_len) == 0) || (n > 0 && p[0] == ' ');
    int prepend = st->num == TOK_PREPEND_ALWAYS || (st->num == TOK_PREPEND_FIRST && at_start);
    if (prepend && !starts) buf_append(out, st->str, st->str_len);
    size_t run_start = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != ' ') continue;
        buf_append(out, p + run_start, i - run_start);
        buf_append(out, st->str, st->str_len);
        run_start = i + 1;
    }
    buf_append(out, p + run_start, n - run_start);
}

/* Runs level `sub` of step k on one piece. */
static lm_status run(run_ctx *c, size_t k, int sub, const char *p, size_t n, int at_start) {
    const tok_tokenizer *t = c->t;
    if (k == t->n_pre) return c->fn(c->ctx, p, n);
    const tok_step *st = &t->pre[k];
    lm_buf *buf = &c->st->lv[k * SUBSTEPS + (size_t)sub].buf;
    matcher m = {.kind = PAT_STEP, .st = st, .p = p, .n = n};
    switch (st->kind) {
    case TOK_PRE_SPLIT:
        if (sub > 0) break;
        return split(c, k, SUBSTEPS - 1, m, (tok_split_behavior)st->behavior, st->flag_a, at_start);
    case TOK_PRE_BYTELEVEL:
        if (sub == 0 && st->flag_a && (n == 0 || p[0] != ' ')) {
            buf_reset(buf);
            buf_append(buf, " ", 1);
            buf_append(buf, p, n);
            if (buf->oom) return LM_ERR_NOMEM;
            return pass_on(c, k, 0, buf->data, buf->len, at_start);
        }
        if (sub == 1 && st->flag_b) return split(c, k, 1, m, TOK_SPLIT_ISOLATED, 0, at_start);
        /* the last step leaves raw bytes: the byte-level model spells them itself */
        if (sub == 2 && !(k + 1 == t->n_pre && t->byte_level)) {
            buf_reset(buf);
            char e[4];
            for (size_t i = 0; i < n; i++)
                buf_append(buf, e, utf8_encode(tok_bytelevel_char((uint8_t)p[i]), e));
            if (buf->oom) return LM_ERR_NOMEM;
            return pass_on(c, k, 2, buf->data, buf->len, at_start);
        }
        break;
    case TOK_PRE_METASPACE:
        if (sub == 0) {
            buf_reset(buf);
            metaspace_map(st, p, n, at_start, buf);
            if (buf->oom) return LM_ERR_NOMEM;
            return pass_on(c, k, 0, buf->data, buf->len, at_start);
        }
        if (sub == 1 && st->flag_a) {
            tok_step lit = *st; /* split on the replacement, which stays with what follows */
            lit.re = NULL;
            m.st = &lit;
            return split(c, k, 1, m, TOK_SPLIT_MERGED_NEXT, 0, at_start);
        }
        break;
    case TOK_PRE_DIGITS:
        if (sub > 0) break;
        m.kind = PAT_DIGIT;
        return split(c, k, SUBSTEPS - 1, m, st->flag_a ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS, 0,
                     at_start);
    case TOK_PRE_PUNCTUATION:
        if (sub > 0) break;
        m.kind = PAT_PUNCT;
        return split(c, k, SUBSTEPS - 1, m, (tok_split_behavior)st->behavior, 0, at_start);
    case TOK_PRE_WHITESPACE: /* keep the matches of \w+|[^\w\s]+ */
        if (sub > 0) break;
        return split(c, k, SUBSTEPS - 1, m, TOK_SPLIT_REMOVED, 1, at_start);
    case TOK_PRE_WHITESPACE_SPLIT:
        if (sub > 0) break;
        m.kind = PAT_SPACE;
        return split(c, k, SUBSTEPS - 1, m, TOK_SPLIT_REMOVED, 0, at_start);
    case TOK_PRE_BERT:
        if (sub == 0) {
            m.kind = PAT_SPACE;
            return split(c, k, 0, m, TOK_SPLIT_REMOVED, 0, at_start);
        }
        if (sub == 1) {
            m.kind = PAT_PUNCT;
            return split(c, k, SUBSTEPS - 1, m, TOK_SPLIT_ISOLATED, 0, at_start);
        }
        break;
    case TOK_PRE_CHAR_DELIMITER:
        if (sub > 0) break;
        m.kind = PAT_CHAR;
        m.delim = st->str_len ? utf8_decode((const unsigned char *)st->str, st->str_len) : 0;
        return split(c, k, SUBSTEPS - 1, m, TOK_SPLIT_REMOVED, 0, at_start);
    default:
        return LM_ERR_UNSUPPORTED;
    }
    return pass_on(c, k, sub, p, n, at_start); /* this level has nothing to do */
}

lm_status tok_pretokenize(const tok_tokenizer *t, tok_pretok_state **stp, const char *text,
                          size_t n, int at_start, tok_piece_fn fn, void *ctx, lm_error *err) {
    if (n == 0) return LM_OK;
    if (t->n_pre == 0) return fn(ctx, text, n);
    if (!*stp) {
        tok_pretok_state *st = calloc(1, sizeof *st);
        if (st) st->lv = calloc(t->n_pre * SUBSTEPS, sizeof *st->lv);
        if (!st || !st->lv) {
            free(st);
            return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory");
        }
        st->n_lv = t->n_pre * SUBSTEPS;
        *stp = st;
    }
    run_ctx c = {.t = t, .st = *stp, .fn = fn, .ctx = ctx};
    lm_status s = run(&c, 0, 0, text, n, at_start);
    if (s != LM_OK && err && err->code == LM_OK)
        err_set(err, s, "tokenizer: pre-tokenizer failed (%s)", err_status_name(s));
    return s;
}

void tok_pretok_fini(tok_pretok_state *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n_lv; i++) {
        free(st->lv[i].g.v);
        buf_fini(&st->lv[i].buf);
    }
    free(st->lv);
    free(st);
}
