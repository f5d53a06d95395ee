/* tok_encode.c — text to ids: the encoding pipeline of tok_impl.h, step by step.
 *
 * Added tokens are split out first (in the raw text, leftmost-longest, as Hugging Face's
 * AddedVocabulary does); each stretch of text between them is then normalized, pre-tokenized and
 * handed piece by piece to the model; the post-processor's ids go around the result. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

/* Per-call state: the model's scratch plus reusable buffers. */
typedef struct {
    const tok_tokenizer *t;
    const tok_encode_opts *opts;
    tok_workspace *ws;
    lm_buf norm;
    tok_pretok_state *pre;
    tok_ids *out;
    lm_error *err;
} enc_ctx;

/* ---------------------------------------------------------------- added-token matching */

/* A word character for single_word tokens (Rust's char::is_alphanumeric, approximated by ASCII
 * alphanumerics, '_' and every non-ASCII letter-or-digit we cannot classify cheaply: any
 * character >= U+0080 that is not whitespace). */
static int is_word_char(uint32_t cp) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
                          (cp >= 'A' && cp <= 'Z') || cp == '_';
    return !utf8_is_space(cp);
}

/* Code point of the character that ends at s[end) (s valid UTF-8), and its start. */
static uint32_t char_before(const char *s, size_t end, size_t *start) {
    size_t i = end - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80 && end - i < 4) i--;
    *start = i;
    return utf8_decode((const unsigned char *)s + i, end - i);
}

static uint32_t char_at(const char *s, size_t n, size_t i, size_t *len) {
    size_t l = utf8_valid_len((const unsigned char *)s + i, n - i);
    if (!l) l = 1;
    *len = l;
    return utf8_decode((const unsigned char *)s + i, l);
}

typedef lm_status (*segment_fn)(enc_ctx *c, const char *s, size_t n, int at_start);

/* Splits s[0..n) on the tokens of `trie`: text between them goes to `text_fn`, matched tokens to
 * the output. Mirrors HF's find_matches: a rejected match (single_word, or special with
 * parse_special off) is skipped whole; lstrip/rstrip widen the token over adjacent whitespace. */
static lm_status split_added(enc_ctx *c, const tok_trie *trie, const char *s, size_t n,
                             int at_start, segment_fn text_fn) {
    const tok_tokenizer *t = c->t;
    size_t start_offset = 0, i = 0;
    while (i < n) {
        size_t mlen = 0;
        int32_t id = tok_trie_longest(trie, s + i, n - i, &mlen);
        if (id < 0) {
            i++;
            continue;
        }
        size_t start = i, stop = i + mlen;
        uint8_t fl = t->pieces[id].flags;
        i = stop; /* matching resumes after the match, whatever becomes of it */
        if ((fl & TOK_F_SPECIAL) && !c->opts->parse_special) continue;
        if (fl & TOK_F_SINGLE_WORD) {
            size_t cs, cl;
            int start_space = start == 0 || !is_word_char(char_before(s, start, &cs));
            int stop_space = stop == n || !is_word_char(char_at(s, n, stop, &cl));
            if (!start_space || !stop_space) continue;
        }
        if (fl & TOK_F_LSTRIP) {
            size_t ns = start;
            while (ns > 0) {
                size_t cs;
                if (!utf8_is_space(char_before(s, ns, &cs))) break;
                ns = cs;
            }
            start = ns > start_offset ? ns : start_offset;
        }
        if (fl & TOK_F_RSTRIP) {
            while (stop < n) {
                size_t cl;
                if (!utf8_is_space(char_at(s, n, stop, &cl))) break;
                stop += cl;
            }
        }
        if (start_offset < start) LM_TRY(text_fn(c, s + start_offset, start - start_offset,
                                                 at_start && start_offset == 0));
        tok_ids_push(c->out, id);
        start_offset = stop;
    }
    if (start_offset < n || n == 0)
        LM_TRY(text_fn(c, s + start_offset, n - start_offset, at_start && start_offset == 0));
    return LM_OK;
}

/* ---------------------------------------------------------------- one stretch of text */

static lm_status encode_piece(void *ctx, const char *p, size_t n) {
    enc_ctx *c = ctx;
    return tok_model_encode(c->t, c->ws, p, n, c->out, c->err);
}

/* Normalized text (after added tokens matched in normalized text): pre-tokenize and encode. */
static lm_status encode_normalized(enc_ctx *c, const char *s, size_t n, int at_start) {
    return tok_pretokenize(c->t, &c->pre, s, n, at_start, encode_piece, c, c->err);
}

/* Raw text between added tokens: normalize, then look for normalized added tokens. */
static lm_status encode_raw(enc_ctx *c, const char *s, size_t n, int at_start) {
    const tok_tokenizer *t = c->t;
    lm_buf *nb = &c->norm;
    buf_reset(nb);
    buf_append(nb, s, n);
    if (nb->oom) return err_set(c->err, LM_ERR_NOMEM, "tokenizer: out of memory");
    LM_TRY(tok_normalize(t, t->norm, t->n_norm, at_start, nb, c->err));
    if (nb->len == 0) return LM_OK;
    if (!t->has_added_norm) return encode_normalized(c, nb->data, nb->len, at_start);
    /* the normalized copy is reused by the next stretch: work from a private copy */
    char *copy = malloc(nb->len);
    if (!copy) return err_set(c->err, LM_ERR_NOMEM, "tokenizer: out of memory");
    memcpy(copy, nb->data, nb->len);
    lm_status st = split_added(c, &t->added_norm, copy, nb->len, at_start, encode_normalized);
    free(copy);
    return st;
}

/* ---------------------------------------------------------------- entry points */

lm_status tok_encode_with(const tok_tokenizer *t, const char *text, size_t len,
                          const tok_encode_opts *opts, tok_ids *out, lm_error *err) {
    if (len > LM_TOK_MAX_TEXT_BYTES)
        return err_set(err, LM_ERR_LIMIT, "tokenizer: text of %zu bytes exceeds the limit of %u",
                       len, (unsigned)LM_TOK_MAX_TEXT_BYTES);
    if (!text) text = "";
    enc_ctx c = {.t = t, .opts = opts, .out = out, .err = err};
    c.ws = tok_workspace_create();
    if (!c.ws) return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory");

    /* bytes that are not UTF-8 become U+FFFD first, as a Rust String would have them */
    lm_buf fixed = {0};
    if (!utf8_is_valid(text, len)) {
        utf8_append_lossy(&fixed, text, len);
        if (fixed.oom) {
            tok_workspace_destroy(c.ws);
            return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory");
        }
        text = fixed.data;
        len = fixed.len;
    }

    if (opts->add_special)
        for (size_t k = 0; k < t->n_post_prefix; k++) tok_ids_push(out, t->post_prefix[k]);
    lm_status st = t->has_added ? split_added(&c, &t->added_raw, text, len, 1, encode_raw)
                                : encode_raw(&c, text, len, 1);
    if (st == LM_OK && opts->add_special)
        for (size_t k = 0; k < t->n_post_suffix; k++) tok_ids_push(out, t->post_suffix[k]);

    buf_fini(&fixed);
    buf_fini(&c.norm);
    tok_pretok_fini(c.pre);
    tok_workspace_destroy(c.ws);
    return st;
}

lm_status tok_encode(const tok_tokenizer *t, const char *text, size_t len, int add_special,
                     tok_ids *out, lm_error *err) {
    tok_encode_opts o = {.add_special = add_special, .parse_special = 1};
    return tok_encode_with(t, text, len, &o, out, err);
}
