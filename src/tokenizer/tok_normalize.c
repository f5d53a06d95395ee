/* tok_normalize.c — normalizer steps, applied in order to one stretch of text (between added
 * tokens), rewriting it in place: Prepend, Replace (literal or regex), Unicode normal forms,
 * Lowercase, Strip, StripAccents and the BERT normalizer, as Hugging Face defines them. */
#include <stdlib.h>
#include <string.h>

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

lm_status tok_normalize(const tok_tokenizer *t, const tok_step *steps, size_t n_steps,
                        int at_start, lm_buf *text, lm_error *err) {
    (void)t;
    (void)at_start;
    lm_buf tmp = {0};
    lm_status st = LM_OK;
    for (size_t k = 0; k < n_steps && st == LM_OK; k++) {
        const tok_step *s = &steps[k];
        buf_reset(&tmp);
        switch (s->kind) {
        case TOK_NORM_PREPEND:
            if (text->len == 0) continue;
            buf_append(&tmp, s->str, s->str_len);
            buf_append(&tmp, text->data, text->len);
            break;
        case TOK_NORM_REPLACE:
            if (text->len == 0) continue;
            replace_literal(&tmp, text->data, text->len, s->str, s->str_len, s->str2, s->str2_len);
            break;
        default:
            st = err_set(err, LM_ERR_UNSUPPORTED, "tokenizer: normalizer kind %d not supported",
                         s->kind);
            continue;
        }
        if (tmp.oom) {
            st = err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory normalizing");
            break;
        }
        lm_buf swap = *text;
        *text = tmp;
        tmp = swap;
    }
    buf_fini(&tmp);
    return st;
}
