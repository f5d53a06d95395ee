/* tok_regex.c — regexes for pre-tokenizers and Replace steps. Not available in this build yet:
 * compiling a pattern fails with LM_ERR_UNSUPPORTED. */
#include "tokenizer/tok_impl.h"

lm_status tok_regex_compile(const char *pattern, size_t len, tok_regex **out, lm_error *err) {
    (void)pattern;
    (void)len;
    *out = NULL;
    return err_set(err, LM_ERR_UNSUPPORTED, "tokenizer: regex patterns are not supported yet");
}

void tok_regex_free(tok_regex *re) { (void)re; }

int tok_regex_find(const tok_regex *re, const char *s, size_t n, size_t start, size_t *ms,
                   size_t *me) {
    (void)re, (void)s, (void)n, (void)start, (void)ms, (void)me;
    return -1;
}
