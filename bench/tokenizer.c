/* bench/tokenizer.c — encoding speed of the tokenizers, as a markdown table.
 *
 *   bench_tokenizer [--text FILE] [--repeats N] [TOKENIZER ...]
 *
 * TOKENIZER is anything tok_load_path() takes (model folder, tokenizer.json, .gguf); by default
 * the test-data tokenizers (Qwen3 and Llama 3 byte-level BPE, Mistral SentencePiece-style BPE,
 * the Llama-2 GGUF vocabulary). Inputs, per tokenizer, one thread:
 *   prose 1 KB / 100 KB / 10 MB  English text (--text FILE, or the repository's Markdown files
 *                                and the test cases' prose, repeated to size)
 *   mixed 1 MB                   all test-case texts (code, CJK, emoji, scripts, numbers, ...)
 *   word 100 KB / 1 MB           letters without a space: one pre-token; the ratio of the two
 *                                rates shows whether time grows linearly
 * Each cell is the median of N timed runs after one warm-up, in thread CPU time. Tokenizing is
 * compute-bound (no memory roofline applies): the goal is >= 10 MB/s per core on prose with a
 * 150k vocabulary. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/tokenizer.h"

/* CPU time of this thread: the figures are per core, and other processes on the machine do not
 * inflate them (wall time would). */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int append_file(lm_buf *b, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(b, chunk, n);
    fclose(f);
    return 1;
}

/* Texts of a cases.jsonl file, optionally only one category, each followed by a newline. */
static void append_cases(lm_buf *b, const char *path, const char *category) {
    lm_buf raw = {0};
    if (!append_file(&raw, path)) return;
    for (char *line = raw.data; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        json_t *c = json_loadb(line, ll, JSON_ALLOW_NUL, NULL);
        const char *cat = json_string_value(json_object_get(c, "category"));
        json_t *text = json_object_get(c, "text");
        if (json_is_string(text) && (!category || (cat && !strcmp(cat, category)))) {
            buf_append(b, json_string_value(text), json_string_length(text));
            buf_append(b, "\n", 1);
        }
        json_decref(c);
        line = nl ? nl + 1 : NULL;
    }
    buf_fini(&raw);
}

/* The first `size` bytes of `src` repeated, cut back to a UTF-8 character boundary. */
static char *repeat_to(const lm_buf *src, size_t size, size_t *len) {
    char *p = malloc(size + 1);
    for (size_t i = 0; i < size; i += src->len)
        memcpy(p + i, src->data, size - i < src->len ? size - i : src->len);
    size_t n = size;
    while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80 && n < size) n--;
    while (n > 0 && ((unsigned char)p[n - 1] & 0xC0) == 0xC0) n--; /* a cut lead byte */
    p[n] = '\0';
    *len = n;
    return p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double mbps, tokps;
    size_t tokens;
} result;

static result time_encode(const tok_tokenizer *t, const char *text, size_t len, int repeats) {
    double times[64];
    if (repeats > 64) repeats = 64;
    tok_ids ids = {0};
    lm_error err;
    result r = {0};
    for (int k = -1; k < repeats; k++) { /* k = -1: warm-up */
        ids.n = 0;
        err_clear(&err);
        double t0 = now_s();
        if (tok_encode(t, text, len, 0, &ids, &err) != LM_OK) {
            fprintf(stderr, "encode failed: %s\n", err.msg);
            exit(1);
        }
        double dt = now_s() - t0;
        if (k >= 0) times[k] = dt;
    }
    qsort(times, (size_t)repeats, sizeof times[0], cmp_double);
    double med = times[repeats / 2];
    r.tokens = ids.n;
    r.mbps = (double)len / med / 1e6;
    r.tokps = (double)ids.n / med;
    tok_ids_fini(&ids);
    return r;
}

int main(int argc, char **argv) {
    const char *text_file = NULL;
    int repeats = 5;
    const char *toks[16];
    int n_toks = 0;
    printf("<!-- command:");
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf(" -->\n");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--text") && i + 1 < argc) text_file = argv[++i];
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (n_toks < 16) toks[n_toks++] = argv[i];
    }
    if (repeats < 1) repeats = 1;
    if (n_toks == 0) {
        toks[n_toks++] = LM_SOURCE_DIR "/tests/data/tokenizers/qwen3";
        toks[n_toks++] = LM_SOURCE_DIR "/tests/data/tokenizers/llama3";
        toks[n_toks++] = LM_SOURCE_DIR "/tests/data/tokenizers/mistral-7b-v0.1";
        toks[n_toks++] = LM_SOURCE_DIR "/tests/data/llama-vocab/ggml-vocab-llama-spm.gguf";
    }

    lm_buf prose = {0}, mixed = {0};
    if (text_file) {
        if (!append_file(&prose, text_file)) {
            fprintf(stderr, "cannot read %s\n", text_file);
            return 1;
        }
    } else {
        static const char *const docs[] = {"README.md", "docs/architecture.md", "docs/cli.md",
                                           "docs/tokenizer.md"};
        for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", LM_SOURCE_DIR, docs[i]);
            append_file(&prose, path);
        }
        append_cases(&prose, LM_SOURCE_DIR "/tests/data/tokenizers/qwen3/cases.jsonl", "prose");
    }
    append_cases(&mixed, LM_SOURCE_DIR "/tests/data/tokenizers/qwen3/cases.jsonl", NULL);
    if (prose.len == 0 || mixed.len == 0) {
        fprintf(stderr, "no benchmark text found\n");
        return 1;
    }
    lm_buf word = {0};
    for (size_t i = 0; i < 4096; i++) buf_append_char(&word, "abcdefghijklmnopqrstuvwxyz"[(i * 7 + i / 26) % 26]);

    struct {
        const char *name;
        const lm_buf *src;
        size_t size;
    } inputs[] = {
        {"prose 1 KB", &prose, 1000},      {"prose 100 KB", &prose, 100000},
        {"prose 10 MB", &prose, 10000000}, {"mixed 1 MB", &mixed, 1000000},
        {"word 100 KB", &word, 100000},    {"word 1 MB", &word, 1000000},
    };
    size_t n_inputs = sizeof inputs / sizeof inputs[0];

    printf("\n| tokenizer | input | bytes | tokens | MB/s | tokens/s |\n");
    printf("|---|---|---:|---:|---:|---:|\n");
    for (int k = 0; k < n_toks; k++) {
        tok_tokenizer *t = NULL;
        lm_error err;
        err_clear(&err);
        double t0 = now_s();
        if (tok_load_path(toks[k], &t, &err) != LM_OK) {
            fprintf(stderr, "%s: %s\n", toks[k], err.msg);
            return 1;
        }
        double load_s = now_s() - t0;
        const char *name = strrchr(toks[k], '/') ? strrchr(toks[k], '/') + 1 : toks[k];
        for (size_t i = 0; i < n_inputs; i++) {
            size_t len;
            char *text = repeat_to(inputs[i].src, inputs[i].size, &len);
            int reps = inputs[i].size >= 5000000 ? (repeats < 3 ? repeats : 3) : repeats;
            result r = time_encode(t, text, len, reps);
            printf("| %s | %s | %zu | %zu | %.1f | %.0f |\n", name, inputs[i].name, len, r.tokens,
                   r.mbps, r.tokps);
            fflush(stdout);
            free(text);
        }
        fprintf(stderr, "%s: loaded in %.2f s (vocabulary %zu)\n", name, load_s, tok_vocab_size(t));
        tok_destroy(t);
    }
    buf_fini(&prose);
    buf_fini(&mixed);
    buf_fini(&word);
    return 0;
}
