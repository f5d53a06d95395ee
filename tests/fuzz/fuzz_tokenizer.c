/* tests/fuzz/fuzz_tokenizer.c — any bytes through the tokenizers lmserve serves with: the demo
 * model's SentencePiece-style GGUF vocabulary and Qwen3's byte-level BPE tokenizer.json. Each
 * input is encoded (with and without special tokens), decoded whole and streamed; the promises
 * checked: ids stay inside the vocabulary, the stream equals the whole decode of the same ids
 * (as a continuation), and decoded text is valid UTF-8. Tokenizers load once per process. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "fuzzutil.h"

static tok_tokenizer *g_tok[2];

static void load_once(void) {
    static int done;
    if (done) return;
    done = 1;
    lm_error err;
    err_clear(&err);
    if (tok_load_path(LM_SOURCE_DIR "/models/demo/stories260K.gguf", &g_tok[0], &err) != LM_OK ||
        tok_load_path(LM_SOURCE_DIR "/tests/data/tokenizers/qwen3", &g_tok[1], &err) != LM_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.msg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    load_once();
    if (size > 1 << 16) return 0; /* long inputs only slow the search down */
    for (int k = 0; k < 2; k++) {
        const tok_tokenizer *t = g_tok[k];
        for (int special = 0; special < 2; special++) {
            tok_ids ids = {0};
            lm_error err;
            err_clear(&err);
            if (tok_encode(t, (const char *)data, size, special, &ids, &err) != LM_OK) abort();
            for (size_t i = 0; i < ids.n; i++)
                if (ids.ids[i] < 0 || (size_t)ids.ids[i] >= tok_vocab_size(t)) abort();
            lm_buf whole = {0}, streamed = {0};
            if (tok_decode(t, ids.ids, ids.n, 0, &whole, &err) != LM_OK) abort();
            if (!fuzz_valid_utf8((const unsigned char *)buf_cstr(&whole), whole.len)) abort();
            tok_stream s;
            tok_stream_init(&s, t, 0);
            for (size_t i = 0; i < ids.n; i++) tok_stream_push(&s, ids.ids[i], &streamed);
            tok_stream_flush(&s, &streamed);
            if (!fuzz_valid_utf8((const unsigned char *)buf_cstr(&streamed), streamed.len)) abort();
            /* a continuation may keep one leading space the whole decode drops */
            const char *w = buf_cstr(&whole), *st = buf_cstr(&streamed);
            size_t off = streamed.len == whole.len + 1 && st[0] == ' ' ? 1 : 0;
            if (streamed.len != whole.len + off || memcmp(st + off, w, whole.len) != 0) abort();
            buf_fini(&whole);
            buf_fini(&streamed);
            tok_ids_fini(&ids);
        }
    }
    return 0;
}
