/* tests/fuzz/fuzz_tokenizer_json.c — libFuzzer target for tokenizer.json (src/tokenizer/
 * tok_load_hf.c and the pipeline steps it builds: normalizers, pre-tokenizers, BPE model, added
 * tokens, post-processor, decoders).
 *
 * The input is written as tokenizer.json in a scratch folder and loaded with tok_load_hf(). A
 * rejected file must come with a message. A loaded tokenizer is exercised on fixed texts (ASCII,
 * multi-byte and invalid UTF-8, text naming its own added tokens): every id stays inside the
 * vocabulary, decoding and streaming give valid UTF-8, every token's text and bytes can be read,
 * and BOS/EOS are -1 or inside the vocabulary. */
#include "fuzzutil.h"

#include "tokenizer/tokenizer.h"

static const char *const texts[] = {
    "Hello world! 123 abc",
    "  leading and trailing  \n\n\t tabs",
    "\xC3\xA9t\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80 \xE2\x80\xA8",
    "bad \xC0\xAF \xED\xA0\x80 \xFF\xFE half \xE2\x82",
    "<s></s><|im_start|>user<|im_end|>[INST]<unk>",
};

static void exercise(const tok_tokenizer *t) {
    size_t nv = tok_vocab_size(t);
    FUZZ_CHECK(nv > 0);
    int32_t bos = tok_bos_id(t), eos = tok_eos_id(t);
    FUZZ_CHECK(bos == -1 || (bos >= 0 && (size_t)bos < nv));
    FUZZ_CHECK(eos == -1 || (eos >= 0 && (size_t)eos < nv));
    lm_buf bytes = {0};
    size_t probe = nv < 512 ? nv : 512; /* the first ids and the last ones */
    for (size_t k = 0; k < 2 * probe; k++) {
        int32_t id = (int32_t)(k < probe ? k : nv - 1 - (k - probe));
        size_t len = 0;
        const char *s = tok_token_text(t, id, &len);
        FUZZ_CHECK(s ? tok_token_id(t, s, len) >= 0 : len == 0); /* NULL: a hole */
        buf_reset(&bytes);
        tok_token_bytes(t, id, &bytes);
        (void)tok_is_special(t, id);
        (void)tok_is_eog(t, id);
    }
    size_t len = 0;
    FUZZ_CHECK(tok_token_text(t, (int32_t)nv, &len) == NULL && len == 0);
    buf_fini(&bytes);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        for (int special = 0; special < 2; special++) {
            tok_ids ids = {0};
            lm_error err;
            err_clear(&err);
            FUZZ_CHECK(tok_encode(t, texts[i], strlen(texts[i]), special, &ids, &err) == LM_OK);
            for (size_t k = 0; k < ids.n; k++) FUZZ_CHECK(ids.ids[k] >= 0 && (size_t)ids.ids[k] < nv);
            lm_buf whole = {0}, streamed = {0};
            FUZZ_CHECK(tok_decode(t, ids.ids, ids.n, special, &whole, &err) == LM_OK);
            FUZZ_CHECK(fuzz_valid_utf8((const unsigned char *)buf_cstr(&whole), whole.len));
            tok_stream s;
            tok_stream_init(&s, t, special);
            for (size_t k = 0; k < ids.n; k++) tok_stream_push(&s, ids.ids[k], &streamed);
            tok_stream_flush(&s, &streamed);
            FUZZ_CHECK(fuzz_valid_utf8((const unsigned char *)buf_cstr(&streamed), streamed.len));
            buf_fini(&whole);
            buf_fini(&streamed);
            tok_ids_fini(&ids);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 20) return 0;
    const char *dir = fuzz_dir();
    fuzz_write("tokenizer.json", data, size);
    tok_tokenizer *t = NULL;
    lm_error err;
    err_clear(&err);
    if (tok_load_hf(dir, &t, &err) != LM_OK) {
        FUZZ_CHECK(t == NULL && err.code != LM_OK && err.msg[0]);
        return 0;
    }
    FUZZ_CHECK(t != NULL);
    exercise(t);
    tok_destroy(t);
    return 0;
}
