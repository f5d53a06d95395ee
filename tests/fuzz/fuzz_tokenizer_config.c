/* tests/fuzz/fuzz_tokenizer_config.c — libFuzzer target for the files that configure a
 * tokenizer.json folder (src/tokenizer/tok_load_hf.c) and its chat template (src/serving/chat.c):
 * tokenizer_config.json (BOS/EOS names, add_bos_token, added_tokens_decoder, chat_template as a
 * string or a named list), special_tokens_map.json and generation_config.json.
 *
 * The input holds up to three files separated by a line "#lmfuzz#": tokenizer_config.json,
 * special_tokens_map.json, generation_config.json (missing parts: no such file). They join a
 * fixed byte-level tokenizer.json in a scratch folder, which is loaded. A refusal must carry a
 * message; a loaded tokenizer must keep BOS/EOS inside the vocabulary and encode with and without
 * special tokens inside it. The chat template is then looked up and, when it compiles, rendered
 * once with a short conversation under a small time budget (template errors are fine; a crash or
 * a sanitizer report is not). */
#include "fuzzutil.h"

#include <jansson.h>

#include "serving/chat.h"
#include "tokenizer/tokenizer.h"

/* Byte-level BPE over a few bytes, with the special tokens configs name. */
static const char TOKENIZER_JSON[] =
    "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,"
    "\"use_regex\":true},\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"added_tokens\":[{\"id\":10,\"content\":\"<s>\",\"special\":true},"
    "{\"id\":11,\"content\":\"</s>\",\"special\":true},{\"id\":12,\"content\":\"<|im_start|>\","
    "\"special\":true},{\"id\":13,\"content\":\"<|im_end|>\",\"special\":true},"
    "{\"id\":14,\"content\":\"<think>\",\"special\":false}],"
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"\\u0120\":3,\"ab\":4,"
    "\"\\u0120a\":5,\"!\":6,\"h\":7,\"i\":8,\"hi\":9},\"merges\":[\"a b\",\"\\u0120 a\",\"h i\"]}}";

static const char *const files[] = {"tokenizer_config.json", "special_tokens_map.json",
                                    "generation_config.json"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 18) return 0;
    const char *dir = fuzz_dir();
    fuzz_write("tokenizer.json", TOKENIZER_JSON, sizeof TOKENIZER_JSON - 1);
    const uint8_t *part[3];
    size_t len[3];
    size_t n = fuzz_split(data, size, "\n#lmfuzz#\n", part, len, 3);
    for (size_t i = 0; i < n; i++) fuzz_write(files[i], part[i], len[i]);

    tok_tokenizer *t = NULL;
    lm_error err;
    err_clear(&err);
    if (tok_load_hf(dir, &t, &err) != LM_OK) {
        FUZZ_CHECK(t == NULL && err.code != LM_OK && err.msg[0]);
        return 0;
    }
    size_t nv = tok_vocab_size(t);
    int32_t bos = tok_bos_id(t), eos = tok_eos_id(t);
    FUZZ_CHECK(bos == -1 || (bos >= 0 && (size_t)bos < nv));
    FUZZ_CHECK(eos == -1 || (eos >= 0 && (size_t)eos < nv));
    static const char text[] = "<s>hi ab<|im_end|> a!";
    for (int special = 0; special < 2; special++) {
        tok_ids ids = {0};
        FUZZ_CHECK(tok_encode(t, text, sizeof text - 1, special, &ids, &err) == LM_OK);
        for (size_t k = 0; k < ids.n; k++) FUZZ_CHECK(ids.ids[k] >= 0 && (size_t)ids.ids[k] < nv);
        lm_buf out = {0};
        FUZZ_CHECK(tok_decode(t, ids.ids, ids.n, 1, &out, &err) == LM_OK);
        buf_fini(&out);
        tok_ids_fini(&ids);
    }

    chat_template *ct = NULL;
    err_clear(&err);
    lm_status s = chat_template_load(dir, t, &ct, &err);
    if (s != LM_OK) {
        FUZZ_CHECK(ct == NULL && err.msg[0]);
    } else {
        json_t *msgs = json_loads("[{\"role\":\"system\",\"content\":\"be brief\"},"
                                  "{\"role\":\"user\",\"content\":\"hi\"},"
                                  "{\"role\":\"assistant\",\"content\":\"ab\"},"
                                  "{\"role\":\"user\",\"content\":\"a!\"}]", 0, NULL);
        FUZZ_CHECK(msgs != NULL);
        lm_buf out = {0};
        err_clear(&err);
        if (chat_template_render(ct, msgs, NULL, NULL, &out, &err) != LM_OK) FUZZ_CHECK(err.msg[0]);
        buf_fini(&out);
        json_decref(msgs);
        chat_template_destroy(ct);
    }
    tok_destroy(t);
    return 0;
}
