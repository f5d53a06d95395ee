/* tests/fuzz/fuzz_gguf_model.c — libFuzzer target for what is read from a GGUF file's metadata
 * after the container parses: the vocabulary (src/tokenizer/tok_load_gguf.c: SentencePiece-style
 * and byte-level BPE vocabularies, scores, token types, merges, special ids) and the model's
 * hyper-parameters and tensor binding (src/model/model.c).
 *
 * The input is parsed with gguf_parse(); when it parses, its vocabulary is loaded and, when that
 * works, exercised on fixed texts (ids inside the vocabulary, valid UTF-8 out). The input is also
 * written to a scratch file and loaded as a model; a loaded model must have hyper-parameters inside
 * base/limits.h's bounds and consistent with each other. Refusals must carry a message.
 * Seeds: tests/fuzz/seeds/gguf_seeds.py shrinks the oracle models to loadable 1-layer files. */
#include "fuzzutil.h"

#include "base/limits.h"
#include "model/gguf.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

static void check_vocab(const gguf_file *f) {
    tok_tokenizer *t = NULL;
    lm_error err;
    err_clear(&err);
    if (tok_load_gguf(f, &t, &err) != LM_OK) {
        FUZZ_CHECK(t == NULL && err.msg[0]);
        return;
    }
    size_t nv = tok_vocab_size(t);
    FUZZ_CHECK(nv > 0 && nv <= (size_t)LM_TOK_MAX_VOCAB);
    int32_t bos = tok_bos_id(t), eos = tok_eos_id(t);
    FUZZ_CHECK(bos == -1 || (bos >= 0 && (size_t)bos < nv));
    FUZZ_CHECK(eos == -1 || (eos >= 0 && (size_t)eos < nv));
    static const char *const texts[] = {"Once upon a time, 42 cats!", " \xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80\n\t",
                                        "\xFF\xC0\xAF<s></s><|endoftext|>"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        tok_ids ids = {0};
        FUZZ_CHECK(tok_encode(t, texts[i], strlen(texts[i]), (int)(i & 1), &ids, &err) == LM_OK);
        for (size_t k = 0; k < ids.n; k++) FUZZ_CHECK(ids.ids[k] >= 0 && (size_t)ids.ids[k] < nv);
        lm_buf out = {0};
        FUZZ_CHECK(tok_decode(t, ids.ids, ids.n, 0, &out, &err) == LM_OK);
        FUZZ_CHECK(fuzz_valid_utf8((const unsigned char *)buf_cstr(&out), out.len));
        buf_fini(&out);
        tok_ids_fini(&ids);
    }
    tok_destroy(t);
}

static void check_model(const uint8_t *data, size_t size) {
    fuzz_dir();
    const char *path = fuzz_write("model.gguf", data, size);
    model *m = NULL;
    lm_error err;
    err_clear(&err);
    if (model_load_gguf(path, &m, &err) != LM_OK) {
        FUZZ_CHECK(m == NULL && err.msg[0]);
        return;
    }
    const model_hparams *hp = &m->hp;
    FUZZ_CHECK(hp->n_layer > 0 && hp->n_layer <= LM_MODEL_MAX_LAYERS && m->layers != NULL);
    FUZZ_CHECK(hp->n_head > 0 && hp->n_head <= LM_MODEL_MAX_HEADS);
    FUZZ_CHECK(hp->n_head_kv > 0 && hp->n_head % hp->n_head_kv == 0);
    FUZZ_CHECK(hp->head_dim > 0 && hp->head_dim <= LM_MODEL_MAX_HEADS);
    FUZZ_CHECK(hp->n_embd > 0 && hp->n_embd <= LM_MODEL_MAX_EMBD);
    FUZZ_CHECK(hp->n_ff > 0 && hp->n_ff <= LM_MODEL_MAX_FF);
    FUZZ_CHECK(hp->n_vocab > 0 && hp->n_vocab <= LM_MODEL_MAX_VOCAB);
    FUZZ_CHECK(hp->n_ctx_train > 0 && hp->n_ctx_train <= LM_MODEL_MAX_CTX);
    FUZZ_CHECK(hp->sliding_window >= 0 && hp->sliding_window <= LM_MODEL_MAX_CTX);
    FUZZ_CHECK(hp->rope_dim > 0 && hp->rope_dim <= hp->head_dim && hp->rope_dim % 2 == 0);
    FUZZ_CHECK(hp->norm_eps > 0 && hp->rope_theta > 0);
    FUZZ_CHECK(m->tok_embd.data != NULL && m->output.data != NULL);
    model_destroy(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 20) return 0;
    gguf_file *f = NULL;
    lm_error err;
    err_clear(&err);
    if (gguf_parse(data, size, &f, &err) != LM_OK) {
        FUZZ_CHECK(f == NULL && err.msg[0]);
        return 0;
    }
    check_vocab(f);
    gguf_close(f);
    check_model(data, size);
    return 0;
}
