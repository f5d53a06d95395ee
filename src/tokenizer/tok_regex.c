/* tok_regex.c — the regexes of tokenizer.json (pre-tokenizer Split, Replace steps) on PCRE2
 * with JIT.
 *
 * Hugging Face runs these patterns with Oniguruma. The one difference that matters for real
 * patterns is `\s`: Oniguruma's Unicode \s includes U+0085 (NEL), PCRE2's does not, so `\s` is
 * rewritten to an explicit class before compiling. Patterns are compiled with UTF + UCP (Unicode
 * \p{..}, \w, \d) and MATCH_INVALID_UTF: the encoder repairs its input, but decoder strings can
 * hold stray bytes (a byte-fallback token), which then simply never match. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

struct tok_regex {
    pcre2_code *code;
    int jit;            /* JIT compilation succeeded */
};

/* Per-thread match state: compiled patterns are shared by all threads, match data is not. A
 * pthread key frees a thread's state when the thread exits. */
typedef struct {
    pcre2_match_data *md;
    pcre2_jit_stack *stack;
    pcre2_match_context *mctx;
} thread_state;

static _Thread_local thread_state tls;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *p) {
    thread_state *st = p;
    pcre2_match_data_free(st->md);
    pcre2_match_context_free(st->mctx);
    pcre2_jit_stack_free(st->stack);
    memset(st, 0, sizeof *st);
}

static void tls_make_key(void) { (void)pthread_key_create(&tls_key, tls_free); }

static int tls_ready(void) {
    if (tls.md) return 1;
    pthread_once(&tls_once, tls_make_key);
    tls.md = pcre2_match_data_create(1, NULL);
    tls.mctx = pcre2_match_context_create(NULL);
    tls.stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
    if (!tls.md || !tls.mctx) {
        tls_free(&tls);
        return 0;
    }
    if (tls.stack) pcre2_jit_stack_assign(tls.mctx, NULL, tls.stack);
    pthread_setspecific(tls_key, &tls);
    return 1;
}

/* Oniguruma's Unicode \s: White_Space = 9..D, 20, 85, and the Z categories. */
#define SPACE_ITEMS "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\p{Z}"

/* Rewrites \s and \S (outside classes) and \s (inside classes) to the Oniguruma set. */
static char *translate(const char *p, size_t n) {
    lm_buf out = {0};
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char d = p[i + 1];
            if (d == 's') buf_append_str(&out, in_class ? SPACE_ITEMS : "[" SPACE_ITEMS "]");
            else if (d == 'S' && !in_class) buf_append_str(&out, "[^" SPACE_ITEMS "]");
            else buf_append(&out, p + i, 2);
            i++;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = 1;
            buf_append(&out, &c, 1);
            /* a ']' right after '[' or '[^' is a literal member */
            if (i + 1 < n && p[i + 1] == '^') buf_append(&out, p + ++i, 1);
            if (i + 1 < n && p[i + 1] == ']') buf_append(&out, p + ++i, 1);
            continue;
        }
        if (in_class && c == ']') in_class = 0;
        buf_append(&out, &c, 1);
    }
    if (out.oom) {
        buf_fini(&out);
        return NULL;
    }
    return out.data ? out.data : calloc(1, 1);
}

lm_status tok_regex_compile(const char *pattern, size_t len, tok_regex **out, lm_error *err) {
    *out = NULL;
    char *pat = translate(pattern, len);
    if (!pat) return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory compiling a regex");
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, strlen(pat),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code,
                                   &off, NULL);
    free(pat);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return err_set(err, LM_ERR_FORMAT, "tokenizer: bad regex '%.*s': %s",
                       (int)(len > 200 ? 200 : len), pattern, (const char *)msg);
    }
    tok_regex *r = calloc(1, sizeof *r);
    if (!r) {
        pcre2_code_free(re);
        return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory compiling a regex");
    }
    r->code = re;
    r->jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
    *out = r;
    return LM_OK;
}

void tok_regex_free(tok_regex *re) {
    if (!re) return;
    pcre2_code_free(re->code);
    free(re);
}

int tok_regex_find(const tok_regex *re, const char *s, size_t n, size_t start, size_t *ms,
                   size_t *me) {
    if (!re || start > n || !tls_ready()) return -1;
    int rc;
    if (re->jit)
        rc = pcre2_jit_match(re->code, (PCRE2_SPTR)s, n, start, 0, tls.md, tls.mctx);
    else
        rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, tls.md, tls.mctx);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) return -1;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tls.md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}
