/* tok_normalize.c — normalizer steps, applied in order to one stretch of text (between added
 * tokens), rewriting it in place: Prepend, Replace (literal or regex), Unicode normal forms
 * (utf8proc), Lowercase, Strip, StripAccents and the BERT normalizer, as Hugging Face defines
 * them. The text is valid UTF-8 on entry and stays so. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_impl.h"

/* Replaces every non-overlapping occurrence of pat (left to right) with rep. */
static void replace_literal(lm_buf *dst, const char *s, size_t n, const char *pat, size_t pl,
                            const char *rep, size_t rl) {
    size_t i = 0, run = 0;
    if (pl == 0) {
        buf_append(dst, s, n);
        return;
    }
    while (i + pl <= n) {
        const char *hit = memchr(s + i, pat[0], n - i - pl + 1);
        if (!hit) break;
        i = (size_t)(hit - s);
        if (memcmp(s + i, pat, pl) == 0) {
            buf_append(dst, s + run, i - run);
            buf_append(dst, rep, rl);
            i += pl;
            run = i;
        } else {
            i++;
        }
    }
    buf_append(dst, s + run, n - run);
}

static void replace_regex(lm_buf *dst, const char *s, size_t n, const tok_regex *re,
                          const char *rep, size_t rl) {
    size_t pos = 0, ms, me;
    while (pos <= n && tok_regex_find(re, s, n, pos, &ms, &me) == 1) {
        buf_append(dst, s + pos, ms - pos);
        buf_append(dst, rep, rl);
        if (me == ms) { /* an empty match: keep the next character and move past it */
            size_t cl = ms < n ? utf8_valid_len((const unsigned char *)s + ms, n - ms) : 0;
            if (ms < n) buf_append(dst, s + ms, cl ? cl : 1);
            pos = ms + (cl ? cl : 1);
        } else {
            pos = me;
        }
    }
    if (pos < n) buf_append(dst, s + pos, n - pos);
}

static void put_cp(lm_buf *b, uint32_t cp) {
    char e[4];
    buf_append(b, e, utf8_encode(cp, e));
}

static int category(uint32_t cp) { return utf8proc_category((utf8proc_int32_t)cp); }

static int is_mark(uint32_t cp) {
    int c = category(cp);
    return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME;
}

static int is_cased(uint32_t cp) {
    int c = category(cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

static int is_case_ignorable(uint32_t cp) {
    int c = category(cp);
    return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_ME || c == UTF8PROC_CATEGORY_CF ||
           c == UTF8PROC_CATEGORY_LM || c == UTF8PROC_CATEGORY_SK || cp == '\'' || cp == '.' ||
           cp == ':' || cp == 0x2019;
}

/* Rust's str::to_lowercase: per-character mapping plus U+0130 -> "i\u0307" and the final sigma
 * rule (Σ at the end of a word becomes ς). */
static void lowercase(lm_buf *dst, const char *s, size_t n) {
    tok_char_iter it = {s, n, 0, 0, 0};
    while (tok_char_next(&it)) {
        uint32_t cp = it.cp;
        size_t i = it.pos, cl = it.len;
        if (cp == 0x130) {
            buf_append(dst, "i\xCC\x87", 3);
        } else if (cp == 0x3A3) {
            /* final if a cased letter comes before and none after (skipping ignorables) */
            int before = 0, after = 0;
            size_t k = i;
            while (k > 0) {
                size_t st = k - 1;
                while (st > 0 && ((unsigned char)s[st] & 0xC0) == 0x80) st--;
                uint32_t c = utf8_decode((const unsigned char *)s + st, k - st);
                k = st;
                if (is_case_ignorable(c)) continue;
                before = is_cased(c);
                break;
            }
            for (size_t j = i + cl; j < n;) {
                size_t l = utf8_valid_len((const unsigned char *)s + j, n - j);
                if (!l) l = 1;
                uint32_t c = utf8_decode((const unsigned char *)s + j, l);
                j += l;
                if (is_case_ignorable(c)) continue;
                after = is_cased(c);
                break;
            }
            put_cp(dst, before && !after ? 0x3C2 : 0x3C3);
        } else {
            put_cp(dst, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp));
        }
    }
}

static lm_status unicode_form_region(lm_buf *dst, const char *s, size_t n, int options) {
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &res,
                                      (utf8proc_option_t)(UTF8PROC_STABLE | options));
    if (r < 0) {
        free(res);
        return r == UTF8PROC_ERROR_NOMEM ? LM_ERR_NOMEM : LM_ERR_INVALID;
    }
    buf_append(dst, res, (size_t)r);
    free(res);
    return LM_OK;
}

/* A Unicode normal form. ASCII is unchanged by all four forms, and nothing composes with, reorders
 * around or decomposes into an ASCII character that follows, so the text can be cut before every
 * ASCII character: only an ASCII character plus the non-ASCII run after it goes to utf8proc. */
static lm_status unicode_form(lm_buf *dst, const char *s, size_t n, int options) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && u[j] < 0x80) j++;
        if (j == n) {
            buf_append(dst, s + i, n - i);
            break;
        }
        size_t start = j > i ? j - 1 : j, e = j;
        while (e < n && u[e] >= 0x80) e++;
        buf_append(dst, s + i, start - i);
        LM_TRY(unicode_form_region(dst, s + start, e - start, options));
        i = e;
    }
    return LM_OK;
}

static void strip_spaces(lm_buf *dst, const char *s, size_t n, int left, int right) {
    size_t a = 0, b = n;
    while (left && a < b) {
        size_t l = utf8_valid_len((const unsigned char *)s + a, b - a);
        if (!l || !utf8_is_space(utf8_decode((const unsigned char *)s + a, l))) break;
        a += l;
    }
    while (right && b > a) {
        size_t st = b - 1;
        while (st > a && ((unsigned char)s[st] & 0xC0) == 0x80) st--;
        if (!utf8_is_space(utf8_decode((const unsigned char *)s + st, b - st))) break;
        b = st;
    }
    buf_append(dst, s + a, b - a);
}

static int is_chinese_char(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* BertNormalizer: clean_text (drop NUL, U+FFFD and controls, whitespace -> ' '), spaces around
 * CJK ideographs, optional accent stripping (after NFD) and lowercasing. */
static lm_status bert(lm_buf *dst, const char *s, size_t n, const tok_step *st) {
    lm_buf a = {0};
    tok_char_iter it = {s, n, 0, 0, 0};
    while (tok_char_next(&it)) {
        uint32_t cp = it.cp;
        if (st->flag_a) {
            int c = category(cp);
            if (cp == 0 || cp == 0xFFFD) continue;
            if (cp != '\t' && cp != '\n' && cp != '\r' &&
                (c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF))
                continue;
            if (utf8_is_space(cp)) {
                buf_append(&a, " ", 1);
                continue;
            }
        }
        if (st->flag_b && is_chinese_char(cp)) {
            buf_append(&a, " ", 1);
            put_cp(&a, cp);
            buf_append(&a, " ", 1);
            continue;
        }
        put_cp(&a, cp);
    }
    lm_status r = LM_OK;
    if (st->flag_c) {
        lm_buf d = {0};
        r = unicode_form(&d, a.data ? a.data : "", a.len, UTF8PROC_DECOMPOSE);
        buf_reset(&a);
        tok_char_iter di = {d.data ? d.data : "", d.len, 0, 0, 0};
        while (tok_char_next(&di))
            if (!is_mark(di.cp)) put_cp(&a, di.cp);
        buf_fini(&d);
    }
    if (st->flag_d) lowercase(dst, a.data ? a.data : "", a.len);
    else buf_append(dst, a.data ? a.data : "", a.len);
    if (a.oom) r = LM_ERR_NOMEM;
    buf_fini(&a);
    return r;
}

lm_status tok_normalize(const tok_tokenizer *t, const tok_step *steps, size_t n_steps,
                        int at_start, lm_buf *text, lm_error *err) {
    (void)t;
    (void)at_start;
    lm_buf tmp = {0};
    lm_status st = LM_OK;
    for (size_t k = 0; k < n_steps && st == LM_OK; k++) {
        const tok_step *s = &steps[k];
        if (text->len == 0) break; /* every step maps empty text to empty text */
        const char *p = text->data;
        size_t n = text->len;
        buf_reset(&tmp);
        switch (s->kind) {
        case TOK_NORM_PREPEND:
            buf_append(&tmp, s->str, s->str_len);
            buf_append(&tmp, p, n);
            break;
        case TOK_NORM_REPLACE:
            replace_literal(&tmp, p, n, s->str, s->str_len, s->str2, s->str2_len);
            break;
        case TOK_NORM_REPLACE_RE:
            replace_regex(&tmp, p, n, s->re, s->str2, s->str2_len);
            break;
        case TOK_NORM_NFC: st = unicode_form(&tmp, p, n, UTF8PROC_COMPOSE); break;
        case TOK_NORM_NFD: st = unicode_form(&tmp, p, n, UTF8PROC_DECOMPOSE); break;
        case TOK_NORM_NFKC: st = unicode_form(&tmp, p, n, UTF8PROC_COMPOSE | UTF8PROC_COMPAT); break;
        case TOK_NORM_NFKD:
            st = unicode_form(&tmp, p, n, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
            break;
        case TOK_NORM_LOWERCASE: lowercase(&tmp, p, n); break;
        case TOK_NORM_STRIP: strip_spaces(&tmp, p, n, s->flag_a, s->flag_b); break;
        case TOK_NORM_STRIP_ACCENTS: {
            tok_char_iter it = {p, n, 0, 0, 0};
            while (tok_char_next(&it))
                if (!is_mark(it.cp)) buf_append(&tmp, p + it.pos, it.len);
            break;
        }
        case TOK_NORM_BERT: st = bert(&tmp, p, n, s); break;
        default:
            st = LM_ERR_UNSUPPORTED;
            break;
        }
        if (st == LM_OK && tmp.oom) st = LM_ERR_NOMEM;
        if (st != LM_OK) {
            err_set(err, st, "tokenizer: normalizer step %zu (kind %d) failed", k, s->kind);
            break;
        }
        lm_buf swap = *text;
        *text = tmp;
        tmp = swap;
    }
    buf_fini(&tmp);
    return st;
}
