/* tests/tokenizer/test_tok_load_gguf.c — GGUF `llama` vocabularies: the demo model's prompts
 * (llama.cpp's ids), llama.cpp's Llama-2 and Phi-3 vectors, decoding and streaming. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>
#include <zlib.h>

#include "model/gguf.h"
#include "tok_test_util.h"
#include "tokenizer/tokenizer.h"
#include <unistd.h>

static tok_tokenizer *load(const char *path) {
    lm_error err;
    err_clear(&err);
    tok_tokenizer *t = NULL;
    if (tok_load_path(path, &t, &err) != LM_OK) fail_msg("%s: %s", path, err.msg);
    return t;
}

static tok_tokenizer *load_demo(void) { return load(LM_SOURCE_DIR "/models/demo/stories260K.gguf"); }

static void encode(const tok_tokenizer *t, const char *text, int add_special, tok_ids *out) {
    lm_error err;
    err_clear(&err);
    out->n = 0;
    if (tok_encode(t, text, strlen(text), add_special, out, &err) != LM_OK)
        fail_msg("encode: %s", err.msg);
}

static void assert_ids(const tok_ids *got, const int32_t *want, size_t n) {
    if (got->n != n || (n && memcmp(got->ids, want, n * sizeof *want) != 0)) {
        test_print_ids("want", want, n);
        test_print_ids("got ", got->ids, got->n);
        fail();
    }
}

/* ---------------------------------------------------------------- the demo model */

/* Greedy continuations from llama.cpp (tests/data/oracles/stories260K.md). */
static const int32_t GEN_ONCE[64] = {
    432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337,
    410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394,
    261, 370, 432, 352, 266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312, 432,
    398, 312, 286, 267, 414, 270, 333, 415, 426, 13,  438, 310, 439, 419, 357, 336};
static const char TEXT_ONCE[] =
    ", there was a little girl named Lily. She loved to play outside in the park. One day, she "
    "saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said";
static const int32_t GEN_LILY[64] = {
    382, 276, 337, 299, 322, 265, 282, 295, 433, 426, 342, 397, 355, 267, 337, 335,
    265, 315, 267, 422, 419, 269, 352, 379, 261, 420, 277, 264, 265, 282, 295, 433,
    426, 342, 394, 261, 370, 268, 414, 444, 335, 261, 370, 268, 414, 444, 426, 342,
    391, 266, 267, 337, 335, 265, 268, 414, 444, 426, 13,  436, 438, 347, 433, 432};
static const char TEXT_LILY[] =
    " were playing in the park. They liked to play with their toys and run around the park. They "
    "saw a big box with a big box. They wanted to play with the box.\n\"Look,";

static void test_demo_prompts(void **state) {
    (void)state;
    tok_tokenizer *t = load_demo();
    assert_int_equal(tok_vocab_size(t), 512);
    assert_int_equal(tok_bos_id(t), 1);
    assert_int_equal(tok_eos_id(t), 2);
    assert_true(tok_is_eog(t, 2));
    assert_true(tok_is_special(t, 1));
    assert_false(tok_is_special(t, 403));
    tok_ids ids = {0};
    encode(t, "Once upon a time", 1, &ids);
    assert_ids(&ids, (const int32_t[]){1, 403, 407, 261, 378}, 5);
    encode(t, "Lily and Tom", 1, &ids);
    assert_ids(&ids, (const int32_t[]){1, 317, 269, 274, 287}, 5);
    encode(t, "The cat", 1, &ids);
    assert_ids(&ids, (const int32_t[]){1, 291, 280, 294}, 4);
    encode(t, "The cat", 0, &ids);
    assert_ids(&ids, (const int32_t[]){291, 280, 294}, 3);
    encode(t, "", 1, &ids);
    assert_ids(&ids, (const int32_t[]){1}, 1);
    encode(t, "", 0, &ids);
    assert_int_equal(ids.n, 0);
    tok_ids_fini(&ids);
    tok_destroy(t);
}

static void test_demo_decode(void **state) {
    (void)state;
    tok_tokenizer *t = load_demo();
    lm_error err;
    err_clear(&err);
    /* a continuation streams with its leading space, exactly as llama.cpp printed it */
    size_t n;
    char *s = test_stream_all(t, GEN_ONCE, 64, 1, &n);
    assert_string_equal(s, TEXT_ONCE);
    free(s);
    s = test_stream_all(t, GEN_LILY, 64, 1, &n);
    assert_string_equal(s, TEXT_LILY);
    free(s);

    /* whole-sequence decode drops the SentencePiece leading space; BOS is skipped as special */
    int32_t seq[69] = {1, 317, 269, 274, 287};
    memcpy(seq + 5, GEN_LILY, sizeof GEN_LILY);
    lm_buf out = {0};
    assert_int_equal(tok_decode(t, seq, 69, 1, &out, &err), LM_OK);
    lm_buf want = {0};
    buf_append_str(&want, "Lily and Tom");
    buf_append_str(&want, TEXT_LILY);
    assert_string_equal(buf_cstr(&out), buf_cstr(&want));
    buf_reset(&out);
    assert_int_equal(tok_decode(t, seq, 69, 0, &out, &err), LM_OK);
    assert_memory_equal(buf_cstr(&out), "<s> Lily and Tom were", 21);
    buf_fini(&out);
    buf_fini(&want);
    tok_destroy(t);
}

/* ---------------------------------------------------------------- llama.cpp vectors */

typedef struct {
    int total, ok, roundtrip_ok, stream_ok;
} vec_stats;

static void run_vectors(const char *name, vec_stats *st) {
    char path[1024], inp_path[1100], out_path[1100];
    test_data_path(path, sizeof path, name);
    snprintf(inp_path, sizeof inp_path, "%s.inp", path);
    snprintf(out_path, sizeof out_path, "%s.out", path);
    size_t inp_len = 0, out_len = 0;
    char *inp = test_read_file(inp_path, &inp_len);
    char *outs = test_read_file(out_path, &out_len);
    assert_non_null(inp);
    assert_non_null(outs);
    tok_tokenizer *t = load(path);
    static const char SEP[] = "\n__ggml_vocab_test__\n";
    char *p = inp, *end = inp + inp_len, *line = outs;
    tok_ids ids = {0};
    lm_error err;
    while (p < end) {
        char *sep = memmem(p, (size_t)(end - p), SEP, sizeof SEP - 1);
        if (!sep) break;
        size_t tl = (size_t)(sep - p);
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
        assert_int_equal(tok_encode(t, p, tl, 0, &ids, &err), LM_OK);
        st->total++;
        if (ids.n == want.n && (ids.n == 0 || memcmp(ids.ids, want.ids, ids.n * sizeof *ids.ids) == 0)) {
            st->ok++;
        } else {
            fprintf(stderr, "%s: mismatch on text %d \"%.*s\"\n", name, st->total, (int)tl, p);
            test_print_ids("want", want.ids, want.n);
            test_print_ids("got ", ids.ids, ids.n);
        }
        /* decode(encode(x)) == x, and the stream gives the same text with its leading space */
        lm_buf dec = {0};
        assert_int_equal(tok_decode(t, ids.ids, ids.n, 1, &dec, &err), LM_OK);
        if (dec.len == tl && memcmp(buf_cstr(&dec), p, tl) == 0) st->roundtrip_ok++;
        else fprintf(stderr, "%s: round trip of text %d gave \"%s\"\n", name, st->total, buf_cstr(&dec));
        size_t sl;
        char *s = test_stream_all(t, ids.ids, ids.n, 1, &sl);
        if ((tl == 0 && sl == 0) || (sl == tl + 1 && s[0] == ' ' && memcmp(s + 1, p, tl) == 0))
            st->stream_ok++;
        else fprintf(stderr, "%s: stream of text %d gave \"%s\"\n", name, st->total, s);
        free(s);
        buf_fini(&dec);
        tok_ids_fini(&want);
        p = sep + sizeof SEP - 1;
        line = nl ? nl + 1 : line + strlen(line);
    }
    fprintf(stderr, "%s: %d/%d exact, %d round trips, %d streams\n", name, st->ok, st->total,
            st->roundtrip_ok, st->stream_ok);
    tok_ids_fini(&ids);
    tok_destroy(t);
    free(inp);
    free(outs);
}

static void test_llama_spm_vectors(void **state) {
    (void)state;
    vec_stats st = {0};
    run_vectors("llama-vocab/ggml-vocab-llama-spm.gguf", &st);
    assert_int_equal(st.total, 46);
    assert_int_equal(st.ok, st.total);
    assert_int_equal(st.roundtrip_ok, st.total);
    assert_int_equal(st.stream_ok, st.total);
}

static void test_phi3_vectors(void **state) {
    (void)state;
    vec_stats st = {0};
    run_vectors("llama-vocab/ggml-vocab-phi-3.gguf", &st);
    assert_int_equal(st.total, 46);
    assert_int_equal(st.ok, st.total);
    assert_int_equal(st.roundtrip_ok, st.total);
    assert_int_equal(st.stream_ok, st.total);
}

/* ---------------------------------------------------------------- special tokens */

static void test_phi3_special_tokens(void **state) {
    (void)state;
    char path[1024];
    test_data_path(path, sizeof path, "llama-vocab/ggml-vocab-phi-3.gguf");
    tok_tokenizer *t = load(path);
    tok_ids ids = {0};
    /* chat tokens are single ids, swallow the whitespace after them (rstrip), and the text after
     * a special token gets its own leading "▁" (as Phi-3's tokenizer.json does) */
    encode(t, "<|user|>\nHi<|end|>\n<|assistant|>", 1, &ids);
    int32_t hi = tok_token_id(t, "\xE2\x96\x81Hi", 5);
    assert_true(hi > 0);
    assert_ids(&ids, (const int32_t[]){1, 32010, hi, 32007, 32001}, 5);
    assert_true(tok_is_eog(t, 32007));  /* <|end|> */
    assert_true(tok_is_eog(t, 32000));  /* <|endoftext|> = EOS */
    assert_false(tok_is_eog(t, 32010));
    /* with parse_special off the markers are plain text */
    tok_encode_opts o = {.add_special = 0, .parse_special = 0};
    lm_error err;
    err_clear(&err);
    ids.n = 0;
    assert_int_equal(tok_encode_with(t, "<|user|>", 8, &o, &ids, &err), LM_OK);
    assert_true(ids.n > 1);
    for (size_t i = 0; i < ids.n; i++) assert_int_not_equal(ids.ids[i], 32010);
    /* decoding keeps or drops them */
    lm_buf out = {0};
    const int32_t seq[] = {32010, hi, 32007};
    assert_int_equal(tok_decode(t, seq, 3, 0, &out, &err), LM_OK);
    assert_string_equal(buf_cstr(&out), "<|user|> Hi<|end|>");
    buf_reset(&out);
    assert_int_equal(tok_decode(t, seq, 3, 1, &out, &err), LM_OK);
    assert_string_equal(buf_cstr(&out), "Hi");
    buf_fini(&out);
    tok_ids_fini(&ids);
    tok_destroy(t);
}

/* ---------------------------------------------------------------- streaming edge cases */

static void test_stream_utf8(void **state) {
    (void)state;
    char path[1024];
    test_data_path(path, sizeof path, "llama-vocab/ggml-vocab-llama-spm.gguf");
    tok_tokenizer *t = load(path);
    /* 🦙 = F0 9F A6 99 as byte tokens <0xF0> = 243 ...: nothing comes out until it completes */
    const int32_t llama[] = {243, 162, 169, 156};
    tok_stream s;
    tok_stream_init(&s, t, 1);
    lm_buf out = {0};
    for (int i = 0; i < 3; i++) {
        tok_stream_push(&s, llama[i], &out);
        assert_int_equal(out.len, 0);
    }
    tok_stream_push(&s, llama[3], &out);
    assert_string_equal(buf_cstr(&out), "\xF0\x9F\xA6\x99");
    /* an incomplete character broken by the next token becomes U+FFFD, then the token's text */
    buf_reset(&out);
    int32_t hello = tok_token_id(t, "\xE2\x96\x81Hello", 8);
    assert_true(hello > 0);
    tok_stream_push(&s, 243, &out);
    tok_stream_push(&s, 162, &out);
    tok_stream_push(&s, hello, &out);
    assert_string_equal(buf_cstr(&out), "\xEF\xBF\xBD Hello");
    /* a lone continuation byte is invalid at once; an unfinished character is flushed as U+FFFD */
    buf_reset(&out);
    tok_stream_push(&s, 3 + 0x80, &out);
    assert_string_equal(buf_cstr(&out), "\xEF\xBF\xBD");
    tok_stream_push(&s, 3 + 0xE2, &out);
    tok_stream_flush(&s, &out);
    assert_string_equal(buf_cstr(&out), "\xEF\xBF\xBD\xEF\xBF\xBD");
    /* a token's raw bytes: part of a character, and a piece with its leading space */
    buf_reset(&out);
    tok_token_bytes(t, 243, &out);
    assert_int_equal(out.len, 1);
    assert_int_equal((unsigned char)out.data[0], 0xF0);
    buf_reset(&out);
    tok_token_bytes(t, hello, &out);
    assert_string_equal(buf_cstr(&out), " Hello");
    buf_reset(&out);
    tok_token_bytes(t, -1, &out);
    assert_int_equal(out.len, 0);
    /* ids outside the vocabulary are ignored, by the stream and by whole decoding */
    buf_reset(&out);
    tok_stream_push(&s, -5, &out);
    tok_stream_push(&s, 1 << 30, &out);
    assert_int_equal(out.len, 0);
    lm_error err;
    err_clear(&err);
    const int32_t bad[] = {hello, 99999, -1};
    assert_int_equal(tok_decode(t, bad, 3, 1, &out, &err), LM_OK);
    assert_string_equal(buf_cstr(&out), "Hello");
    /* whole decoding of an invalid byte run: one U+FFFD per byte, as HF's ByteFallback does */
    buf_reset(&out);
    const int32_t broken[] = {243, 162, hello};
    assert_int_equal(tok_decode(t, broken, 3, 1, &out, &err), LM_OK);
    assert_string_equal(buf_cstr(&out), "\xEF\xBF\xBD\xEF\xBF\xBD Hello");
    buf_fini(&out);
    tok_destroy(t);
}

static void test_invalid_input(void **state) {
    (void)state;
    tok_tokenizer *t = load_demo();
    tok_ids ids = {0};
    lm_error err;
    err_clear(&err);
    /* invalid UTF-8 (a lone continuation byte, a UTF-8 encoded surrogate, a cut character) is
     * read as U+FFFD, which this vocabulary spells as bytes */
    const char bad[] = "a\x80 b\xED\xA0\x80 c\xE2\x82";
    assert_int_equal(tok_encode(t, bad, sizeof bad - 1, 0, &ids, &err), LM_OK);
    lm_buf out = {0};
    assert_int_equal(tok_decode(t, ids.ids, ids.n, 1, &out, &err), LM_OK);
    assert_string_equal(buf_cstr(&out),
                        "a\xEF\xBF\xBD b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD c\xEF\xBF\xBD");
    buf_fini(&out);
    /* a long text without spaces finishes (linear merge) and round-trips */
    size_t n = 200000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++) big[i] = "abcdefghij"[(i * 7 + i / 13) % 10];
    big[n] = '\0';
    ids.n = 0;
    assert_int_equal(tok_encode(t, big, n, 0, &ids, &err), LM_OK);
    lm_buf dec = {0};
    assert_int_equal(tok_decode(t, ids.ids, ids.n, 1, &dec, &err), LM_OK);
    assert_int_equal(dec.len, n);
    assert_memory_equal(dec.data, big, n);
    buf_fini(&dec);
    free(big);
    tok_ids_fini(&ids);
    tok_destroy(t);
}

/* ---------------------------------------------------------------- gpt2 (byte-level) GGUF */

/* A vocabulary-only GGUF written from a tokenizer.json, the way llama.cpp's converter does it. */
typedef struct {
    lm_buf b;
    uint64_t n_kv;
} gguf_writer;

static void w_u32(gguf_writer *w, uint32_t v) { buf_append(&w->b, &v, 4); }
static void w_u64(gguf_writer *w, uint64_t v) { buf_append(&w->b, &v, 8); }
static void w_str(gguf_writer *w, const char *s, size_t n) {
    w_u64(w, n);
    buf_append(&w->b, s, n);
}
static void w_key(gguf_writer *w, const char *key, uint32_t type) {
    w_str(w, key, strlen(key));
    w_u32(w, type);
    w->n_kv++;
}

static char *read_gz(const char *path, size_t *len) {
    gzFile f = gzopen(path, "rb");
    assert_non_null(f);
    lm_buf b = {0};
    char chunk[65536];
    int n;
    while ((n = gzread(f, chunk, sizeof chunk)) > 0) buf_append(&b, chunk, (size_t)n);
    gzclose(f);
    *len = b.len;
    return b.data;
}

static void write_gpt2_gguf(const char *tok_dir, const char *pre, int32_t bos, int32_t eos,
                            int add_bos, const char *out_path) {
    char path[2400];
    snprintf(path, sizeof path, "%s/tokenizer.json.gz", tok_dir);
    size_t len;
    char *text = read_gz(path, &len);
    json_t *j = json_loadb(text, len, 0, NULL);
    free(text);
    assert_non_null(j);
    json_t *vocab = json_object_get(json_object_get(j, "model"), "vocab");
    json_t *merges = json_object_get(json_object_get(j, "model"), "merges");
    json_t *added = json_object_get(j, "added_tokens");
    size_t n = json_object_size(vocab) + json_array_size(added);
    const char **tok = calloc(n, sizeof *tok);
    size_t *tl = calloc(n, sizeof *tl);
    int32_t *type = calloc(n, sizeof *type);
    const char *key;
    size_t kl;
    json_t *v;
    json_object_keylen_foreach(vocab, key, kl, v) {
        size_t id = (size_t)json_integer_value(v);
        assert_true(id < n);
        tok[id] = key;
        tl[id] = kl;
        type[id] = 1;
    }
    size_t i;
    json_array_foreach(added, i, v) {
        size_t id = (size_t)json_integer_value(json_object_get(v, "id"));
        assert_true(id < n);
        tok[id] = json_string_value(json_object_get(v, "content"));
        tl[id] = json_string_length(json_object_get(v, "content"));
        type[id] = json_is_true(json_object_get(v, "special")) ? 3 : 4;
    }
    gguf_writer w = {0};
    buf_append(&w.b, "GGUF", 4);
    w_u32(&w, 3);
    w_u64(&w, 0);
    size_t n_kv_at = w.b.len;
    w_u64(&w, 0); /* patched below */
    w_key(&w, "general.architecture", 8);
    w_str(&w, "test", 4);
    w_key(&w, "tokenizer.ggml.model", 8);
    w_str(&w, "gpt2", 4);
    w_key(&w, "tokenizer.ggml.pre", 8);
    w_str(&w, pre, strlen(pre));
    w_key(&w, "tokenizer.ggml.tokens", 9);
    w_u32(&w, 8);
    w_u64(&w, n);
    for (size_t k = 0; k < n; k++) w_str(&w, tok[k] ? tok[k] : "", tok[k] ? tl[k] : 0);
    w_key(&w, "tokenizer.ggml.token_type", 9);
    w_u32(&w, 5);
    w_u64(&w, n);
    buf_append(&w.b, type, n * 4);
    w_key(&w, "tokenizer.ggml.merges", 9);
    w_u32(&w, 8);
    w_u64(&w, json_array_size(merges));
    json_array_foreach(merges, i, v) {
        if (json_is_string(v)) {
            w_str(&w, json_string_value(v), json_string_length(v));
        } else {
            lm_buf m = {0};
            buf_append(&m, json_string_value(json_array_get(v, 0)), json_string_length(json_array_get(v, 0)));
            buf_append(&m, " ", 1);
            buf_append(&m, json_string_value(json_array_get(v, 1)), json_string_length(json_array_get(v, 1)));
            w_str(&w, m.data, m.len);
            buf_fini(&m);
        }
    }
    if (bos >= 0) {
        w_key(&w, "tokenizer.ggml.bos_token_id", 4);
        w_u32(&w, (uint32_t)bos);
    }
    w_key(&w, "tokenizer.ggml.eos_token_id", 4);
    w_u32(&w, (uint32_t)eos);
    w_key(&w, "tokenizer.ggml.add_bos_token", 7);
    buf_append_char(&w.b, (char)add_bos);
    memcpy(w.b.data + n_kv_at, &w.n_kv, 8);
    while (w.b.len % 32) buf_append_char(&w.b, 0);
    FILE *f = fopen(out_path, "wb");
    assert_non_null(f);
    fwrite(w.b.data, 1, w.b.len, f);
    fclose(f);
    buf_fini(&w.b);
    free(tok);
    free(tl);
    free(type);
    json_decref(j);
}

/* The tokenizer.json cases, through a GGUF made from the same vocabulary. */
static void run_gpt2_cases(const char *name, const char *pre, int32_t bos, int32_t eos,
                           int add_bos) {
    char dir[2048], rel[256], path[2400], gguf_path[] = "/tmp/lmserve-tok-XXXXXX";
    snprintf(rel, sizeof rel, "tokenizers/%s", name);
    test_data_path(dir, sizeof dir, rel);
    int fd = mkstemp(gguf_path);
    assert_true(fd >= 0);
    close(fd);
    write_gpt2_gguf(dir, pre, bos, eos, add_bos, gguf_path);
    tok_tokenizer *t = load(gguf_path);
    unlink(gguf_path);
    assert_int_equal(tok_eos_id(t), eos);
    snprintf(path, sizeof path, "%s/cases.jsonl", dir);
    size_t len;
    char *data = test_read_file(path, &len);
    assert_non_null(data);
    int total = 0, ok = 0, ok_special = 0, ok_dec = 0;
    tok_ids ids = {0};
    lm_error err;
    for (char *line = data; *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        json_t *c = json_loadb(line, ll, JSON_ALLOW_NUL, NULL);
        line = nl ? nl + 1 : line + ll;
        if (!c) continue;
        json_t *text = json_object_get(c, "text");
        total++;
        for (int special = 0; special < 2; special++) {
            json_t *want = json_object_get(c, special ? "ids_with_special" : "ids");
            err_clear(&err);
            ids.n = 0;
            assert_int_equal(tok_encode(t, json_string_value(text), json_string_length(text),
                                        special, &ids, &err), LM_OK);
            int same = json_array_size(want) == ids.n;
            for (size_t k = 0; same && k < ids.n; k++)
                same = json_integer_value(json_array_get(want, k)) == ids.ids[k];
            if (same) special ? ok_special++ : ok++;
            else fprintf(stderr, "%s (gguf) %s: ids differ (add_special=%d)\n", name,
                         json_string_value(json_object_get(c, "id")), special);
        }
        json_t *want = json_object_get(c, "ids");
        ids.n = 0;
        for (size_t k = 0; k < json_array_size(want); k++)
            tok_ids_push(&ids, (int32_t)json_integer_value(json_array_get(want, k)));
        lm_buf dec = {0};
        assert_int_equal(tok_decode(t, ids.ids, ids.n, 0, &dec, &err), LM_OK);
        json_t *wd = json_object_get(c, "decoded");
        if (dec.len == json_string_length(wd) && !memcmp(buf_cstr(&dec), json_string_value(wd), dec.len)) ok_dec++;
        buf_fini(&dec);
        json_decref(c);
    }
    fprintf(stderr, "%s (gguf gpt2, pre %s): %d cases: ids %d, ids_with_special %d, decoded %d\n",
            name, pre, total, ok, ok_special, ok_dec);
    assert_true(total >= 100);
    assert_int_equal(ok, total);
    assert_int_equal(ok_special, total);
    assert_int_equal(ok_dec, total);
    tok_ids_fini(&ids);
    free(data);
    tok_destroy(t);
}

static void test_gpt2_qwen3(void **state) {
    (void)state;
    run_gpt2_cases("qwen3", "qwen2", -1, 151645, 0);
}

static void test_gpt2_llama3(void **state) {
    (void)state;
    run_gpt2_cases("llama3", "llama-bpe", 128000, 128009, 1);
}

/* A GGUF holding only tokenizer.ggml.model (and, for gpt2, tokens) is refused with a message:
 * the missing array came back as the getter's silent LM_ERR_NOT_FOUND, an error with no text
 * (found by fuzz_gguf_model). */
static void test_missing_arrays(void **state) {
    (void)state;
    for (int gpt2 = 0; gpt2 < 2; gpt2++) {
        gguf_writer w = {0};
        w_key(&w, "tokenizer.ggml.model", 8);
        w_str(&w, gpt2 ? "gpt2" : "llama", gpt2 ? 4 : 5);
        if (gpt2) {
            w_key(&w, "tokenizer.ggml.tokens", 9);
            w_u32(&w, 8);
            w_u64(&w, 2);
            w_str(&w, "a", 1);
            w_str(&w, "b", 1);
        }
        lm_buf file = {0};
        buf_append(&file, "GGUF", 4);
        uint32_t version = 3;
        uint64_t n_tensors = 0;
        buf_append(&file, &version, 4);
        buf_append(&file, &n_tensors, 8);
        buf_append(&file, &w.n_kv, 8);
        buf_append(&file, w.b.data, w.b.len);
        gguf_file *f = NULL;
        lm_error err;
        err_clear(&err);
        assert_int_equal(gguf_parse(file.data, file.len, &f, &err), LM_OK);
        tok_tokenizer *t = NULL;
        assert_int_equal(tok_load_gguf(f, &t, &err), LM_ERR_FORMAT);
        assert_null(t);
        assert_non_null(strstr(err.msg, gpt2 ? "tokenizer.ggml.merges" : "tokenizer.ggml.tokens"));
        gguf_close(f);
        buf_fini(&file);
        buf_fini(&w.b);
    }
}

static void test_load_errors(void **state) {
    (void)state;
    tok_tokenizer *t = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_not_equal(tok_load_path("/nonexistent/file.gguf", &t, &err), LM_OK);
    assert_null(t);
    tok_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_prompts),
        cmocka_unit_test(test_demo_decode),
        cmocka_unit_test(test_llama_spm_vectors),
        cmocka_unit_test(test_phi3_vectors),
        cmocka_unit_test(test_phi3_special_tokens),
        cmocka_unit_test(test_stream_utf8),
        cmocka_unit_test(test_invalid_input),
        cmocka_unit_test(test_gpt2_qwen3),
        cmocka_unit_test(test_gpt2_llama3),
        cmocka_unit_test(test_missing_arrays),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
