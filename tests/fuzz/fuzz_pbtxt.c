/* tests/fuzz/fuzz_pbtxt.c — libFuzzer target for the protobuf text format reader
 * (src/repo/pbtxt.c).
 *
 * Parses the input; when it parses, walks every field, calls every typed getter on it and checks
 * what the reader promises: positions are 1-based and never past the input's lines, texts are
 * NUL-terminated at their length, lookups find the first field of a name, repeated-field
 * iteration visits exactly the fields of that name, nesting stays within LM_PBTXT_MAX_DEPTH. A
 * rejected input must carry a message with a position or a limit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "repo/pbtxt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static volatile unsigned fuzz_sink;

static void check_getters(const pbtxt_field *f) {
    lm_error err;
    int64_t i;
    double d;
    int b;
    const char *s;
    const pbtxt_field *m;
    err_clear(&err);
    if (pbtxt_get_int(f, INT64_MIN, INT64_MAX, &i, &err) != LM_OK) {
        FUZZ_CHECK(err.code == LM_ERR_FORMAT && err.msg[0]);
        FUZZ_CHECK(f->type != PBTXT_NUMBER || f->text[0]);
    }
    err_clear(&err);
    if (pbtxt_get_double(f, &d, &err) != LM_OK) FUZZ_CHECK(err.code == LM_ERR_FORMAT && err.msg[0]);
    err_clear(&err);
    if (pbtxt_get_bool(f, &b, &err) == LM_OK) FUZZ_CHECK(b == 0 || b == 1);
    err_clear(&err);
    if (pbtxt_get_string(f, &s, &err) == LM_OK) FUZZ_CHECK(f->type == PBTXT_STRING && strlen(s) == f->len);
    err_clear(&err);
    if (pbtxt_get_ident(f, &s, &err) == LM_OK) FUZZ_CHECK(f->type == PBTXT_IDENT);
    err_clear(&err);
    FUZZ_CHECK((pbtxt_get_message(f, &m, &err) == LM_OK) == (f->type == PBTXT_MESSAGE));
}

static void walk(const pbtxt_field *msg, int depth, int max_line) {
    FUZZ_CHECK(msg->type == PBTXT_MESSAGE && msg->text == NULL);
    FUZZ_CHECK(depth <= LM_PBTXT_MAX_DEPTH);
    for (const pbtxt_field *f = msg->first; f; f = f->next) {
        FUZZ_CHECK(f->name && f->name[0]);
        FUZZ_CHECK(f->line >= 1 && f->col >= 1 && f->line <= max_line);
        FUZZ_CHECK(f->vline > f->line || (f->vline == f->line && f->vcol > f->col));
        FUZZ_CHECK(f->vline <= max_line);
        FUZZ_CHECK(f->source && strcmp(f->source, "fuzz") == 0);
        FUZZ_CHECK(pbtxt_find(msg, f->name) != NULL);
        const pbtxt_field *first = pbtxt_find(msg, f->name);
        FUZZ_CHECK(strcmp(first->name, f->name) == 0);
        if (f->type == PBTXT_MESSAGE) {
            walk(f, depth + 1, max_line);
        } else {
            FUZZ_CHECK(f->text && f->text[f->len] == '\0' && f->first == NULL);
            if (f->len) fuzz_sink += (unsigned char)f->text[f->len - 1];
            if (f->type != PBTXT_STRING) FUZZ_CHECK(f->len > 0 && strlen(f->text) == f->len);
        }
        check_getters(f);
    }
    /* repeated-field iteration from the first of each name counts every field of that name */
    for (const pbtxt_field *f = msg->first; f; f = f->next) {
        if (pbtxt_find(msg, f->name) != f) continue;
        size_t n = 0, direct = 0;
        for (const pbtxt_field *g = f; g; g = pbtxt_find_next(g)) n++;
        for (const pbtxt_field *g = msg->first; g; g = g->next) direct += strcmp(g->name, f->name) == 0;
        FUZZ_CHECK(n == direct && n == pbtxt_count(msg, f->name));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    pbtxt_doc *doc = NULL;
    lm_error err;
    err_clear(&err);
    lm_status s = pbtxt_parse((const char *)data, size, "fuzz", &doc, &err);
    if (s == LM_OK) {
        FUZZ_CHECK(doc != NULL);
        const pbtxt_field *root = pbtxt_root(doc);
        FUZZ_CHECK(root->name && root->name[0] == '\0');
        walk(root, 0, lines);
        pbtxt_destroy(doc);
    } else {
        FUZZ_CHECK(doc == NULL && err.code == s && err.msg[0] != '\0');
        FUZZ_CHECK(s == LM_ERR_FORMAT || s == LM_ERR_LIMIT || s == LM_ERR_NOMEM);
        if (s == LM_ERR_FORMAT) {
            FUZZ_CHECK(strncmp(err.msg, "fuzz:", 5) == 0);
            FUZZ_CHECK(err.line >= 1 && err.line <= lines && err.col >= 1);
        }
    }
    return 0;
}
