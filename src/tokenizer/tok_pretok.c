/* tok_pretok.c — pre-tokenizer steps: cut normalized text into the pieces the model encodes one
 * by one (Split by regex, ByteLevel, Metaspace, Digits, Punctuation, Whitespace, ...), as Hugging
 * Face defines them. Each step reads the current spans and writes a new list. */
#include <stdlib.h>
#include <string.h>

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

lm_status tok_pretokenize(const tok_tokenizer *t, tok_spans *spans, lm_error *err) {
    (void)spans;
    if (t->n_pre)
        return err_set(err, LM_ERR_UNSUPPORTED, "tokenizer: pre-tokenizer kind %d not supported",
                       t->pre[0].kind);
    return LM_OK;
}
