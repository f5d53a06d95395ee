/* tests/tokenizer/test_tok_load_hf.c — tokenizer.json folders against Hugging Face tokenizers'
 * own outputs (tests/data/tokenizers/<name>/cases.jsonl): ids with and without special tokens,
 * decoding with special tokens kept and skipped, and streaming equal to whole decoding. Also
 * llama.cpp's vectors for the same vocabularies, and small hand-written tokenizer.json files for
 * the pipeline steps the real ones do not use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tok_test_util.h"
#include "tokenizer/tokenizer.h"

static tok_tokenizer *load_dir(const char *dir) {
    lm_error err;
    err_clear(&err);
    tok_tokenizer *t = NULL;
    if (tok_load_path(dir, &t, &err) != LM_OK) fail_msg("%s: %s", dir, err.msg);
    return t;
}

static int ids_equal(const tok_ids *a, json_t *arr) {
    if (json_array_size(arr) != a->n) return 0;
    for (size_t i = 0; i < a->n; i++)
        if (json_integer_value(json_array_get(arr, i)) != a->ids[i]) return 0;
    return 1;
}

static void print_json_ids(const char *label, json_t *arr) {
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < json_array_size(arr); i++)
        fprintf(stderr, " %lld", (long long)json_integer_value(json_array_get(arr, i)));
    fprintf(stderr, "\n");
}

typedef struct {
    int total, ids, ids_special, decoded, decoded_skip, stream;
} case_stats;

/* Whether the stream's text is the whole decode, allowing the one leading space a
 * SentencePiece-style decoder strips from a whole sequence (a continuation keeps it). */
static int stream_matches(const char *s, size_t sl, const char *d, size_t dl) {
    if (sl == dl && memcmp(s, d, dl) == 0) return 1;
    return sl == dl + 1 && s[0] == ' ' && memcmp(s + 1, d, dl) == 0;
}

static void check_decode(const tok_tokenizer *t, const tok_ids *ids, int skip, json_t *want,
                         const char *id, int *ok, int *stream_ok) {
    lm_buf out = {0};
    lm_error err;
    err_clear(&err);
    assert_int_equal(tok_decode(t, ids->ids, ids->n, skip, &out, &err), LM_OK);
    const char *w = json_string_value(want);
    size_t wl = json_string_length(want);
    if (out.len == wl && memcmp(buf_cstr(&out), w, wl) == 0) (*ok)++;
    else fprintf(stderr, "  %s: decode(skip=%d) gave \"%s\" want \"%s\"\n", id, skip, buf_cstr(&out), w);
    size_t sl;
    char *s = test_stream_all(t, ids->ids, ids->n, skip, &sl);
    if (stream_matches(s, sl, buf_cstr(&out), out.len)) (*stream_ok)++;
    else fprintf(stderr, "  %s: stream(skip=%d) gave \"%s\"\n", id, skip, s);
    free(s);
    buf_fini(&out);
}

static void run_cases(const char *name, case_stats *st) {
    char dir[2048], rel[256], path[2400];
    snprintf(rel, sizeof rel, "tokenizers/%s", name);
    test_data_path(dir, sizeof dir, rel);
    tok_tokenizer *t = load_dir(dir);
    snprintf(path, sizeof path, "%s/cases.jsonl", dir);
    size_t len;
    char *data = test_read_file(path, &len);
    assert_non_null(data);
    tok_ids ids = {0};
    lm_error err;
    int stream_ok = 0;
    for (char *line = data; *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        json_error_t je;
        json_t *c = json_loadb(line, ll, JSON_ALLOW_NUL, &je);
        line = nl ? nl + 1 : line + ll;
        if (!c) continue;
        json_t *text = json_object_get(c, "text");
        const char *cid = json_string_value(json_object_get(c, "id"));
        st->total++;
        err_clear(&err);
        ids.n = 0;
        assert_int_equal(tok_encode(t, json_string_value(text), json_string_length(text), 0, &ids,
                                    &err), LM_OK);
        if (ids_equal(&ids, json_object_get(c, "ids"))) {
            st->ids++;
        } else {
            fprintf(stderr, "%s %s: ids differ\n", name, cid);
            print_json_ids("want", json_object_get(c, "ids"));
            test_print_ids("got ", ids.ids, ids.n);
        }
        tok_ids with = {0};
        assert_int_equal(tok_encode(t, json_string_value(text), json_string_length(text), 1, &with,
                                    &err), LM_OK);
        if (ids_equal(&with, json_object_get(c, "ids_with_special"))) st->ids_special++;
        else fprintf(stderr, "%s %s: ids_with_special differ\n", name, cid);
        tok_ids_fini(&with);
        /* decode the expected ids, so a decoding check does not depend on encoding */
        json_t *want_ids = json_object_get(c, "ids");
        ids.n = 0;
        for (size_t i = 0; i < json_array_size(want_ids); i++)
            tok_ids_push(&ids, (int32_t)json_integer_value(json_array_get(want_ids, i)));
        check_decode(t, &ids, 0, json_object_get(c, "decoded"), cid, &st->decoded, &stream_ok);
        check_decode(t, &ids, 1, json_object_get(c, "decoded_skip_special"), cid,
                     &st->decoded_skip, &stream_ok);
        json_decref(c);
    }
    st->stream = stream_ok / 2;
    fprintf(stderr, "%s: %d cases: ids %d, ids_with_special %d, decoded %d, decoded_skip %d, "
            "streams %d/%d\n", name, st->total, st->ids, st->ids_special, st->decoded,
            st->decoded_skip, stream_ok, 2 * st->total);
    tok_ids_fini(&ids);
    free(data);
    tok_destroy(t);
    assert_int_equal(stream_ok, 2 * st->total);
}

static void expect_all(const char *name) {
    case_stats st = {0};
    run_cases(name, &st);
    assert_true(st.total >= 100);
    assert_int_equal(st.ids, st.total);
    assert_int_equal(st.ids_special, st.total);
    assert_int_equal(st.decoded, st.total);
    assert_int_equal(st.decoded_skip, st.total);
}

static void test_qwen3(void **state) { (void)state; expect_all("qwen3"); }
static void test_qwen25(void **state) { (void)state; expect_all("qwen2.5"); }
static void test_llama3(void **state) { (void)state; expect_all("llama3"); }
static void test_mistral(void **state) { (void)state; expect_all("mistral-7b-v0.1"); }
static void test_phi3(void **state) { (void)state; expect_all("phi3"); }
static void test_gemma3(void **state) { (void)state; expect_all("gemma3"); }

/* BOS/EOS as the folders' configs name them, and the tokens that end generation. */
static void test_special_ids(void **state) {
    (void)state;
    static const struct {
        const char *name;
        int32_t bos, eos, eog;
    } want[] = {
        {"qwen3", -1, 151645, 151643},          /* eos <|im_end|>; <|endoftext|> also ends */
        {"llama3", 128000, 128009, 128001},     /* eos <|eot_id|>; <|end_of_text|> also ends */
        {"mistral-7b-v0.1", 1, 2, 2},
        {"phi3", 1, 32000, 32007},              /* eos <|endoftext|>; <|end|> also ends */
        {"gemma3", 2, 106, 1},                  /* eos <end_of_turn>; <eos> also ends */
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char dir[2048], rel[256];
        snprintf(rel, sizeof rel, "tokenizers/%s", want[i].name);
        test_data_path(dir, sizeof dir, rel);
        tok_tokenizer *t = load_dir(dir);
        assert_int_equal(tok_bos_id(t), want[i].bos);
        assert_int_equal(tok_eos_id(t), want[i].eos);
        assert_true(tok_is_eog(t, want[i].eos));
        assert_true(tok_is_special(t, want[i].eog));
        assert_true(tok_is_eog(t, want[i].eog));
        assert_false(tok_is_eog(t, 100));
        tok_destroy(t);
    }
}

/* ---------------------------------------------------------------- llama.cpp vectors */

/* llama.cpp's vector texts (tests/data/llama-vocab/<name>.inp) and ids (.out). */
static void run_vectors(const char *tok_name, const char *vec_name) {
    char dir[2048], rel[256], inp_path[2048], out_path[2048];
    snprintf(rel, sizeof rel, "tokenizers/%s", tok_name);
    test_data_path(dir, sizeof dir, rel);
    snprintf(rel, sizeof rel, "llama-vocab/%s.inp", vec_name);
    test_data_path(inp_path, sizeof inp_path, rel);
    snprintf(rel, sizeof rel, "llama-vocab/%s.out", vec_name);
    test_data_path(out_path, sizeof out_path, rel);
    size_t inp_len = 0, out_len = 0;
    char *inp = test_read_file(inp_path, &inp_len), *outs = test_read_file(out_path, &out_len);
    assert_non_null(inp);
    assert_non_null(outs);
    tok_tokenizer *t = load_dir(dir);
    static const char SEP[] = "\n__ggml_vocab_test__\n";
    char *p = inp, *end = inp + inp_len, *line = outs;
    int total = 0, ok = 0;
    tok_ids ids = {0};
    lm_error err;
    while (p < end) {
        char *sep = memmem(p, (size_t)(end - p), SEP, sizeof SEP - 1);
        if (!sep) break;
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        tok_ids want = {0};
        for (char *q = line; *q;) {
            char *e;
            long v = strtol(q, &e, 10);
            if (e == q) break;
            tok_ids_push(&want, (int32_t)v);
            q = e;
        }
        err_clear(&err);
        ids.n = 0;
        assert_int_equal(tok_encode(t, p, (size_t)(sep - p), 0, &ids, &err), LM_OK);
        total++;
        if (ids.n == want.n && (!ids.n || !memcmp(ids.ids, want.ids, ids.n * sizeof *ids.ids))) {
            ok++;
        } else {
            fprintf(stderr, "%s on %s: text %d differs\n", tok_name, vec_name, total);
            test_print_ids("want", want.ids, want.n);
            test_print_ids("got ", ids.ids, ids.n);
        }
        tok_ids_fini(&want);
        p = sep + sizeof SEP - 1;
        line = nl ? nl + 1 : line + strlen(line);
    }
    fprintf(stderr, "%s on %s: %d/%d exact\n", tok_name, vec_name, ok, total);
    assert_int_equal(total, 46);
    assert_int_equal(ok, total);
    tok_ids_fini(&ids);
    tok_destroy(t);
    free(inp);
    free(outs);
}

static void test_vectors(void **state) {
    (void)state;
    run_vectors("phi3", "ggml-vocab-llama-spm.gguf");
    run_vectors("phi3", "ggml-vocab-phi-3.gguf");
    run_vectors("llama3", "ggml-vocab-llama-bpe.gguf");
    run_vectors("qwen2.5", "ggml-vocab-qwen2.gguf");
    run_vectors("qwen3", "ggml-vocab-qwen2.gguf");
}

/* ---------------------------------------------------------------- hand-written tokenizer.json */

/* Writes `json` as tokenizer.json in a fresh temporary folder and loads it. */
static tok_tokenizer *load_json(const char *json, char *dir, size_t cap) {
    snprintf(dir, cap, "/tmp/lmserve-tok-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[1100];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
    tok_tokenizer *t = load_dir(dir);
    unlink(path);
    rmdir(dir);
    return t;
}

static void encode_expect(const tok_tokenizer *t, const char *text, const int32_t *want, size_t n) {
    tok_ids ids = {0};
    lm_error err;
    err_clear(&err);
    assert_int_equal(tok_encode(t, text, strlen(text), 0, &ids, &err), LM_OK);
    if (ids.n != n || (n && memcmp(ids.ids, want, n * sizeof *want))) {
        fprintf(stderr, "text \"%s\"\n", text);
        test_print_ids("want", want, n);
        test_print_ids("got ", ids.ids, ids.n);
        fail();
    }
    tok_ids_fini(&ids);
}

static void decode_expect(const tok_tokenizer *t, const int32_t *ids, size_t n, const char *want) {
    lm_buf out = {0};
    lm_error err;
    err_clear(&err);
    assert_int_equal(tok_decode(t, ids, n, 0, &out, &err), LM_OK);
    assert_string_equal(buf_cstr(&out), want);
    buf_fini(&out);
}

/* A character-level vocabulary with no merges; pre-tokenizers decide the pieces. */
static const char VOCAB_ABC[] =
    "\"vocab\": {\"[UNK]\": 0, \"a\": 1, \"b\": 2, \"c\": 3, \"1\": 4, \"2\": 5, \"!\": 6, "
    "\"ab\": 7, \"abc\": 8, \"\\u2581\": 9, \"\\u2581a\": 10, \"12\": 11, \"##b\": 12}";

static void test_pipeline_steps(void **state) {
    (void)state;
    char dir[64], json[4096];
    /* Lowercase + NFKC, Digits (individual) + Punctuation, BPE with merges, WordPiece-ish decoder */
    snprintf(json, sizeof json,
             "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFKC\"}, "
             "{\"type\": \"Lowercase\"}, {\"type\": \"Strip\", \"strip_left\": true, "
             "\"strip_right\": true}]},"
             "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
             "{\"type\": \"WhitespaceSplit\"}, {\"type\": \"Digits\", \"individual_digits\": true},"
             "{\"type\": \"Punctuation\", \"behavior\": \"Isolated\"}]},"
             "\"decoder\": {\"type\": \"WordPiece\", \"prefix\": \"##\", \"cleanup\": true},"
             "\"added_tokens\": [], \"model\": {\"type\": \"BPE\", \"unk_token\": \"[UNK]\", "
             "\"fuse_unk\": true, %s, \"merges\": [\"a b\", \"ab c\", \"1 2\"]}}",
             VOCAB_ABC);
    tok_tokenizer *t = load_json(json, dir, sizeof dir);
    /* "ＡＢc" is NFKC "ABc", lowercased "abc"; digits split one by one so "12" never merges */
    encode_expect(t, "  \xEF\xBC\xA1\xEF\xBC\xA2" "c 12!! xyz a", (const int32_t[]){8, 4, 5, 6, 6, 0, 1}, 7);
    decode_expect(t, (const int32_t[]){8, 12, 6}, 3, "abcb!");
    tok_destroy(t);

    /* Metaspace pre-tokenizer (prepend first, split) with the Metaspace decoder */
    snprintf(json, sizeof json,
             "{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", "
             "\"prepend_scheme\": \"first\", \"split\": true},"
             "\"decoder\": {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", "
             "\"prepend_scheme\": \"first\", \"split\": true},"
             "\"added_tokens\": [{\"id\": 13, \"content\": \"<x>\", \"special\": true, "
             "\"lstrip\": true, \"rstrip\": false, \"single_word\": false, \"normalized\": false}],"
             "\"model\": {\"type\": \"BPE\", \"unk_token\": \"[UNK]\", %s, "
             "\"merges\": [\"\\u2581 a\"]}}",
             VOCAB_ABC);
    t = load_json(json, dir, sizeof dir);
    /* " a" after <x>: lstrip swallows the spaces before <x>; text after it is not "first" */
    encode_expect(t, "a b  <x>a", (const int32_t[]){10, 9, 2, 13, 1}, 5);
    decode_expect(t, (const int32_t[]){10, 9, 2}, 3, "a b");
    tok_destroy(t);

    /* Split by a string, MergedWithPrevious; Replace normalizer; ByteFallback-less unknowns */
    snprintf(json, sizeof json,
             "{\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \"c+\"}, "
             "\"content\": \"b\"},"
             "\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \"!\"}, "
             "\"behavior\": \"MergedWithPrevious\", \"invert\": false},"
             "\"decoder\": null, \"post_processor\": {\"type\": \"TemplateProcessing\", "
             "\"single\": [{\"SpecialToken\": {\"id\": \"[UNK]\", \"type_id\": 0}}, "
             "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"!\", "
             "\"type_id\": 0}}], \"special_tokens\": {\"[UNK]\": {\"id\": \"[UNK]\", \"ids\": [0], "
             "\"tokens\": [\"[UNK]\"]}, \"!\": {\"id\": \"!\", \"ids\": [6], \"tokens\": [\"!\"]}}},"
             "\"added_tokens\": [], \"model\": {\"type\": \"BPE\", %s, \"merges\": [[\"a\", \"b\"]]}}",
             VOCAB_ABC);
    t = load_json(json, dir, sizeof dir);
    /* "accc!a!" -> "ab!a!" -> pieces "ab!" "a!" ; "ab" merges */
    encode_expect(t, "accc!a!", (const int32_t[]){7, 6, 1, 6}, 4);
    tok_ids ids = {0};
    lm_error err;
    err_clear(&err);
    assert_int_equal(tok_encode(t, "a", 1, 1, &ids, &err), LM_OK);
    assert_int_equal(ids.n, 3);
    assert_int_equal(ids.ids[0], 0);
    assert_int_equal(ids.ids[2], 6);
    tok_ids_fini(&ids);
    /* no decoder: tokens joined with spaces */
    decode_expect(t, (const int32_t[]){7, 6}, 2, "ab !");
    tok_destroy(t);

    /* a regex Replace decoder sees a stray byte (half a character) while streaming */
    t = load_json("{\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"ByteFallback\"}, "
                  "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"a+\"}, \"content\": \"b\"}]},"
                  "\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0, "
                  "\"<0xE2>\": 1, \"<0x82>\": 2, \"<0xAC>\": 3}, \"merges\": []}}", dir, sizeof dir);
    size_t sl;
    char *s = test_stream_all(t, (const int32_t[]){1, 0, 0, 1, 2, 3}, 6, 0, &sl);
    assert_string_equal(s, "\xEF\xBF\xBD" "bb\xE2\x82\xAC");
    free(s);
    decode_expect(t, (const int32_t[]){0, 0, 1, 2, 3}, 5, "bb\xE2\x82\xAC"); /* per token */
    tok_destroy(t);
}

static void test_bad_json(void **state) {
    (void)state;
    char dir[64] = "/tmp/lmserve-tok-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[1100];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    static const char *const bad[] = {
        "",
        "{",
        "[]",
        "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
        "\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
        "\"normalizer\": {\"type\": \"Nope\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
        "\"added_tokens\": [{\"id\": 99999999999, \"content\": \"x\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(path, "wb");
        fputs(bad[i], f);
        fclose(f);
        tok_tokenizer *t = NULL;
        lm_error err;
        err_clear(&err);
        assert_int_not_equal(tok_load_hf(dir, &t, &err), LM_OK);
        assert_null(t);
        assert_true(strlen(err.msg) > 0);
    }
    unlink(path);
    tok_tokenizer *t = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(tok_load_hf(dir, &t, &err), LM_ERR_NOT_FOUND);
    rmdir(dir);
}

static void test_adversarial(void **state) {
    (void)state;
    char dir[1024];
    test_data_path(dir, sizeof dir, "tokenizers/qwen3");
    tok_tokenizer *t = load_dir(dir);
    lm_error err;
    err_clear(&err);
    tok_ids ids = {0};
    /* special-token look-alikes, invalid UTF-8 and encoded surrogates: a sane result, no error */
    lm_buf text = {0};
    for (int i = 0; i < 2000; i++) buf_append_str(&text, "<|im_start|<|im_end|><|im_sta\xED\xA0\x80\xC0");
    assert_int_equal(tok_encode(t, text.data, text.len, 0, &ids, &err), LM_OK);
    assert_true(ids.n > 2000);
    lm_buf out = {0};
    assert_int_equal(tok_decode(t, ids.ids, ids.n, 0, &out, &err), LM_OK);
    assert_true(out.len > text.len / 2);
    buf_fini(&out);
    /* 1 MB without spaces finishes and round-trips */
    buf_reset(&text);
    for (int i = 0; i < 1 << 20; i++) buf_append_char(&text, "abcdefghijklmnopqrstuvwxyz"[(i * 7 + i / 5) % 26]);
    ids.n = 0;
    assert_int_equal(tok_encode(t, text.data, text.len, 0, &ids, &err), LM_OK);
    assert_int_equal(tok_decode(t, ids.ids, ids.n, 0, &out, &err), LM_OK);
    assert_int_equal(out.len, text.len);
    assert_memory_equal(out.data, text.data, text.len);
    buf_fini(&out);
    buf_fini(&text);
    tok_ids_fini(&ids);
    tok_destroy(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen3),
        cmocka_unit_test(test_qwen25),
        cmocka_unit_test(test_llama3),
        cmocka_unit_test(test_mistral),
        cmocka_unit_test(test_phi3),
        cmocka_unit_test(test_gemma3),
        cmocka_unit_test(test_special_ids),
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_pipeline_steps),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_adversarial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
