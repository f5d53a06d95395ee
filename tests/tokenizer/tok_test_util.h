/* tok_test_util.h — helpers shared by the tokenizer tests (header-only, static): reading test
 * data files, and the checks every vocabulary gets (decode round trip, streaming equals whole
 * decoding). */
#ifndef LM_TESTS_TOKENIZER_TOK_TEST_UTIL_H
#define LM_TESTS_TOKENIZER_TOK_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "tokenizer/tokenizer.h"

/* Path of a file under tests/data (LM_TEST_DATA, or the source tree when run by hand). */
static inline void test_data_path(char *out, size_t cap, const char *rel) {
    const char *root = getenv("LM_TEST_DATA");
    if (root) snprintf(out, cap, "%s/%s", root, rel);
    else snprintf(out, cap, "%s/tests/data/%s", LM_SOURCE_DIR, rel);
}

/* Whole file into a malloc'd NUL-terminated buffer; NULL when unreadable. */
static inline char *test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    lm_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, n);
    fclose(f);
    if (len) *len = b.len;
    if (!b.data) return calloc(1, 1);
    return b.data;
}

/* Streams ids through tok_stream and returns the concatenated output (caller frees). */
static inline char *test_stream_all(const tok_tokenizer *t, const int32_t *ids, size_t n, int skip,
                             size_t *len) {
    tok_stream s;
    tok_stream_init(&s, t, skip);
    lm_buf out = {0};
    for (size_t i = 0; i < n; i++) tok_stream_push(&s, ids[i], &out);
    tok_stream_flush(&s, &out);
    if (len) *len = out.len;
    return out.data ? out.data : calloc(1, 1);
}

static inline void test_print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

#endif
