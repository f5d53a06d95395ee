/* tests/tokenizer/test_tok_encode.c — properties on random input for every kind of tokenizer:
 * encoding never fails and gives ids in range, decoding gives valid UTF-8, streaming equals whole
 * decoding, and byte-level tokenizers round-trip any text (invalid bytes as U+FFFD). Inputs mix
 * raw bytes, characters that interact with normalization, whitespace runs and fragments of
 * special tokens. Prints its seed; LM_TEST_SEED=<n> replays one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>

#include "tok_test_util.h"
#include "tokenizer/tok_impl.h"
#include "tokenizer/tokenizer.h"

static uint64_t rng_state;

static uint32_t rnd(uint32_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static void random_text(lm_buf *b) {
    static const char *const frags[] = {
        "<|im_start|>", "<|im_end|>", "<|im_", "im_end|>", "<s>", "</s>", "<|user|>", "<|end|>\n",
        "[INST]", "<think>", "<|begin_of_text|>", "<start_of_turn>", "<0x0A>", "\xE2\x96\x81",
        " ", "  ", "\n", "\r\n", "\t", "'s", "'LL", "123456", "e\xCC\x81", "\xEF\xBF\xBD",
        "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9", "\xE4\xB8\xAD\xE6\x96\x87", "\xC2\x85",
    };
    buf_reset(b);
    int n = (int)rnd(24);
    for (int i = 0; i < n; i++) {
        switch (rnd(4)) {
        case 0: buf_append_str(b, frags[rnd(sizeof frags / sizeof frags[0])]); break;
        case 1: buf_append_char(b, (char)rnd(256)); break; /* any byte, often invalid UTF-8 */
        case 2: buf_append_char(b, (char)('a' + rnd(26))); break;
        default: {
            uint32_t cp = rnd(4) ? 0x80 + rnd(0x3000) : rnd(0x110000);
            if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;
            char e[4];
            buf_append(b, e, utf8_encode(cp, e));
        }
        }
    }
}

static void check_tokenizer(const char *rel, int lossless, int iterations) {
    char path[2048];
    test_data_path(path, sizeof path, rel);
    lm_error err;
    err_clear(&err);
    tok_tokenizer *t = NULL;
    if (tok_load_path(path, &t, &err) != LM_OK) fail_msg("%s: %s", path, err.msg);
    lm_buf text = {0}, dec = {0}, fixed = {0};
    tok_ids ids = {0};
    for (int it = 0; it < iterations; it++) {
        random_text(&text);
        ids.n = 0;
        err_clear(&err);
        assert_int_equal(tok_encode(t, text.data, text.len, (int)(it & 1), &ids, &err), LM_OK);
        for (size_t i = 0; i < ids.n; i++) assert_true(ids.ids[i] >= 0 && (size_t)ids.ids[i] < tok_vocab_size(t));
        for (int skip = 0; skip < 2; skip++) {
            buf_reset(&dec);
            assert_int_equal(tok_decode(t, ids.ids, ids.n, skip, &dec, &err), LM_OK);
            assert_true(utf8_is_valid(buf_cstr(&dec), dec.len));
            size_t sl;
            char *s = test_stream_all(t, ids.ids, ids.n, skip, &sl);
            int same = (sl == dec.len && !memcmp(s, buf_cstr(&dec), sl)) ||
                       (sl == dec.len + 1 && s[0] == ' ' && !memcmp(s + 1, buf_cstr(&dec), dec.len));
            if (!same) {
                fprintf(stderr, "%s: iteration %d: stream \"%s\" vs decode \"%s\"\n", rel, it, s,
                        buf_cstr(&dec));
                fail();
            }
            free(s);
        }
        if (lossless) {
            /* plain text (special tokens not parsed, none added) comes back as it went in */
            tok_encode_opts o = {.add_special = 0, .parse_special = 0};
            ids.n = 0;
            assert_int_equal(tok_encode_with(t, text.data, text.len, &o, &ids, &err), LM_OK);
            buf_reset(&dec);
            assert_int_equal(tok_decode(t, ids.ids, ids.n, 0, &dec, &err), LM_OK);
            buf_reset(&fixed);
            utf8_append_lossy(&fixed, text.data ? text.data : "", text.len);
            if (dec.len != fixed.len || memcmp(buf_cstr(&dec), buf_cstr(&fixed), dec.len)) {
                fprintf(stderr, "%s: iteration %d: round trip \"%s\" -> \"%s\"\n", rel, it,
                        buf_cstr(&fixed), buf_cstr(&dec));
                fail();
            }
        }
    }
    buf_fini(&text);
    buf_fini(&dec);
    buf_fini(&fixed);
    tok_ids_fini(&ids);
    tok_destroy(t);
}

static void test_random_inputs(void **state) {
    (void)state;
    const char *s = getenv("LM_TEST_SEED");
    rng_state = s ? strtoull(s, NULL, 10) : 0x70CE11ull;
    if (!rng_state) rng_state = 1;
    fprintf(stderr, "seed %llu (LM_TEST_SEED to replay)\n", (unsigned long long)rng_state);
    check_tokenizer("tokenizers/llama3", 1, 1500);  /* byte-level, no normalizer: lossless */
    check_tokenizer("tokenizers/qwen2.5", 0, 1500); /* NFC */
    check_tokenizer("tokenizers/phi3", 0, 1500);    /* metaspace, rstrip tokens */
    check_tokenizer("llama-vocab/ggml-vocab-llama-spm.gguf", 0, 1500);
}

/* Every id alone decodes and streams without trouble, special or not. */
static void test_every_id(void **state) {
    (void)state;
    static const char *const rels[] = {"tokenizers/qwen3", "tokenizers/phi3",
                                       "llama-vocab/ggml-vocab-phi-3.gguf"};
    for (size_t k = 0; k < sizeof rels / sizeof rels[0]; k++) {
        char path[2048];
        test_data_path(path, sizeof path, rels[k]);
        lm_error err;
        err_clear(&err);
        tok_tokenizer *t = NULL;
        assert_int_equal(tok_load_path(path, &t, &err), LM_OK);
        tok_stream st;
        tok_stream_init(&st, t, 0);
        lm_buf out = {0}, dec = {0};
        for (int32_t id = 0; id < (int32_t)tok_vocab_size(t); id++) {
            tok_stream_push(&st, id, &out);
            buf_reset(&dec);
            assert_int_equal(tok_decode(t, &id, 1, 0, &dec, &err), LM_OK);
            assert_true(utf8_is_valid(buf_cstr(&dec), dec.len));
            if (out.len > 1 << 20) buf_reset(&out);
        }
        tok_stream_flush(&st, &out);
        assert_true(utf8_is_valid(buf_cstr(&out), out.len));
        buf_fini(&out);
        buf_fini(&dec);
        tok_destroy(t);
    }
}

/* One tokenizer shared by threads encoding at once gives each the single-thread answer. */
typedef struct {
    const tok_tokenizer *t;
    const lm_buf *texts;
    size_t n;
    const tok_ids *want;
    int mismatches;
} thread_job;

static void *encode_all(void *arg) {
    thread_job *j = arg;
    lm_error err;
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < j->n; i++) {
            tok_ids ids = {0};
            err_clear(&err);
            if (tok_encode(j->t, j->texts[i].data, j->texts[i].len, 1, &ids, &err) != LM_OK ||
                ids.n != j->want[i].n ||
                (ids.n && memcmp(ids.ids, j->want[i].ids, ids.n * sizeof *ids.ids)))
                j->mismatches++;
            tok_ids_fini(&ids);
        }
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    char path[2048];
    test_data_path(path, sizeof path, "tokenizers/qwen3");
    lm_error err;
    err_clear(&err);
    tok_tokenizer *t = NULL;
    assert_int_equal(tok_load_path(path, &t, &err), LM_OK);
    enum { N = 64, THREADS = 4 };
    lm_buf texts[N] = {{0}};
    tok_ids want[N] = {{0}};
    rng_state = 12345;
    for (int i = 0; i < N; i++) {
        random_text(&texts[i]);
        buf_append_str(&texts[i], " and some English words, 12345 <|im_end|>");
        assert_int_equal(tok_encode(t, texts[i].data, texts[i].len, 1, &want[i], &err), LM_OK);
    }
    pthread_t th[THREADS];
    thread_job jobs[THREADS];
    for (int k = 0; k < THREADS; k++) {
        jobs[k] = (thread_job){t, texts, N, want, 0};
        assert_int_equal(pthread_create(&th[k], NULL, encode_all, &jobs[k]), 0);
    }
    for (int k = 0; k < THREADS; k++) {
        pthread_join(th[k], NULL);
        assert_int_equal(jobs[k].mismatches, 0);
    }
    for (int i = 0; i < N; i++) {
        buf_fini(&texts[i]);
        tok_ids_fini(&want[i]);
    }
    tok_destroy(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_inputs),
        cmocka_unit_test(test_every_id),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
