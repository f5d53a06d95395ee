/* replay.h — the replay model: a test model whose forward pass replays scripted replies.
 *
 * A replay model folder is a normal Hugging Face folder (tokenizer.json, tokenizer_config.json
 * with the chat template) whose config.json says `"architectures": ["LmserveReplay"]`, plus
 * replay.json:
 *
 *   {"rules": [{"when": "text", "reply": "text"}, ..., {"reply": "default"}]}
 *
 * Each request gets the reply of the first rule whose `when` occurs in its prompt (the prompt's
 * ids decoded with special tokens kept; a rule without `when` always matches), one token per
 * step (the reply tokenized with the model's tokenizer, special tokens recognised), then the
 * end-of-sequence token. Its logits are 0 for that token and -1e9 for every other, so no sampling
 * parameter changes the reply. Only the forward pass is replaced: a tiny zero-weight transformer
 * runs so the engine, KV cache and prefix sharing work unchanged, and the replay overwrites the
 * logits the step asked for. Tokens live in the replay's own per-block table, keyed by the KV
 * block, so a sequence that starts from shared prefix blocks still sees its whole prompt.
 *
 * The engine has no tokenizer: the caller passes encode/decode callbacks (replay_codec).
 * Threads: a replay model is driven by its engine's thread only. */
#ifndef LM_ENGINE_REPLAY_H
#define LM_ENGINE_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "engine/engine.h"
#include "model/model.h"

typedef struct {
    void *ctx;
    /* Tokenizes text (special tokens recognised, no BOS/EOS added) into a malloc'd array. */
    lm_status (*encode)(void *ctx, const char *text, size_t len, int32_t **ids, size_t *n, lm_error *err);
    /* Appends the text of ids (special tokens kept). */
    void (*decode)(void *ctx, const int32_t *ids, size_t n, lm_buf *out);
    int n_vocab;
    int32_t eos;       /* the token that ends every reply */
} replay_codec;

/* The architecture name config.json gives a replay model. */
#define REPLAY_ARCHITECTURE "LmserveReplay"

/* 1 when `path` is a folder whose config.json's architectures[0] is LmserveReplay. */
int replay_is_model_dir(const char *path);

/* Loads the replay model of the folder `path` (config.json, replay.json), encoding every reply
 * with `codec` now (codec->ctx must outlive the model). Errors name the file and the rule. */
lm_status replay_model_load(const char *path, const replay_codec *codec, model **out, lm_error *err);

/* 1 when m was made by replay_model_load. */
int replay_is(const model *m);

/* The engine's hook, called at the end of engine_step on a replay model: records the items'
 * tokens and overwrites the logits they asked for. */
void replay_logits(engine *e, const engine_item *items, int n_items);

#endif
