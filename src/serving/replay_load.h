/* replay_load.h — which model a servable loads: the replay test model (engine/replay.h) when the
 * folder's config.json names LmserveReplay, else the real weights (model_load). */
#ifndef LM_SERVING_REPLAY_LOAD_H
#define LM_SERVING_REPLAY_LOAD_H

#include "base/error.h"
#include "model/model.h"
#include "model/source.h"
#include "tokenizer/tokenizer.h"

/* Loads the model of `src`: a replay model encodes its replies with `tok` (which must outlive
 * the model); any other model is model_load_source(src, weights). */
lm_status servable_load_model(const model_source *src, const model_load_opts *weights, const tok_tokenizer *tok,
                              model **out, lm_error *err);

#endif
