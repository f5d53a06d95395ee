/* replay_load.c — the servable's model choice (replay_load.h) and the tokenizer callbacks a
 * replay model uses (the engine has no tokenizer of its own). */
#include "serving/replay_load.h"

#include <stdlib.h>
#include <string.h>

#include "engine/replay.h"

static lm_status encode(void *ctx, const char *text, size_t len, int32_t **ids, size_t *n, lm_error *err) {
    tok_ids v = {0};
    tok_encode_opts o = {.add_special = 0, .parse_special = 1};
    lm_status s = tok_encode_with(ctx, text, len, &o, &v, err);
    if (s != LM_OK) {
        tok_ids_fini(&v);
        return s;
    }
    *ids = v.ids;
    *n = v.n;
    return LM_OK;
}

static void decode(void *ctx, const int32_t *ids, size_t n, lm_buf *out) {
    lm_error err;
    err_clear(&err);
    tok_decode(ctx, ids, n, 0, out, &err);
}

lm_status servable_load_model(const model_source *src, const model_load_opts *weights, const tok_tokenizer *tok,
                              model **out, lm_error *err) {
    const char *path = model_source_path(src);
    if (!replay_is_model_dir(path)) return model_load_source(src, weights, out, err);
    replay_codec c = {(void *)tok, encode, decode, (int)tok_vocab_size(tok), tok_eos_id(tok)};
    return replay_model_load(path, &c, out, err);
}
