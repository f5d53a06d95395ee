/* source.h — one model location, probed once: what kind it is, where its tokenizer, chat template
 * and generation config live, and each of those files parsed once for every loader.
 *
 *   kind                 what `path` is                                model      tokenizer
 *   MODEL_SOURCE_GGUF    a .gguf file                                  the GGUF   the GGUF's vocabulary
 *   MODEL_SOURCE_GGUF_DIR a folder without config.json holding          model.gguf tokenizer.json when
 *                        model.gguf (what `lmserve export` writes)                 present, else model.gguf's
 *   MODEL_SOURCE_HF_DIR  a Hugging Face folder (config.json +           safetensors tokenizer.json
 *                        safetensors)
 *   MODEL_SOURCE_IR_DIR  an OpenVINO IR folder (openvino_model.xml);    the IR     tokenizer.json
 *                        the IR loader (model/ir*.c) reads its graph
 *
 * Side files are looked up in the model's folder (the file's folder for a .gguf file): the chat
 * template (chat_template.jinja, else tokenizer_config.json's chat_template, else for a .gguf file
 * its tokenizer.chat_template, as OVMS orders them) and generation_config.json. The GGUF file is
 * mapped and parsed once (model_source_gguf); the model, the tokenizer and the template loaders
 * share that parse (model_load_source, tok_load_source, chat_template_load_source). A source is
 * used by one thread, during loading; close it once the loaders are done (the model keeps its own
 * hold on the GGUF mapping). */
#ifndef LM_MODEL_SOURCE_H
#define LM_MODEL_SOURCE_H

#include <stddef.h>

#include "base/error.h"
#include "model/gguf.h"
#include "model/hfconfig.h"

typedef enum {
    MODEL_SOURCE_GGUF,           /* a .gguf file */
    MODEL_SOURCE_GGUF_DIR,       /* a folder holding model.gguf and no config.json */
    MODEL_SOURCE_HF_DIR,         /* a Hugging Face folder */
    MODEL_SOURCE_IR_DIR,         /* an OpenVINO IR folder (openvino_model.xml) */
} model_source_kind;

typedef struct model_source model_source;

/* Probes `path` and parses what it finds: the GGUF file (GGUF kinds, or a folder's model.gguf
 * whose vocabulary is the tokenizer), the chat template's text, generation_config.json. Errors:
 * LM_ERR_IO for a path that does not exist, the GGUF reader's errors for a bad .gguf. A missing or
 * malformed side file is no error (see the getters). */
lm_status model_source_open(const char *path, model_source **out, lm_error *err);

/* Accepts NULL. */
void model_source_close(model_source *s);

model_source_kind model_source_get_kind(const model_source *s);
/* The path as given, and the folder its side files are in. */
const char *model_source_path(const model_source *s);
const char *model_source_dir(const model_source *s);
/* The GGUF file holding the weights (GGUF kinds) or the vocabulary (GGUF_DIR without
 * tokenizer.json), parsed; NULL otherwise. Borrowed: gguf_retain() it to keep it past
 * model_source_close(). */
gguf_file *model_source_gguf(const model_source *s);
/* 1 when the tokenizer is a Hugging Face tokenizer.json (.gz) in the model's folder, 0 when it is
 * the GGUF file's vocabulary. */
int model_source_hf_tokenizer(const model_source *s);
/* The chat template's source text (NUL-terminated), or NULL when the model has none. */
const char *model_source_chat_template(const model_source *s);
/* generation_config.json, parsed (present == 0 when there is none); when the file exists but
 * does not parse, present == 0 and model_source_generation_error() says why. */
const hfconfig_generation *model_source_generation(const model_source *s);
const char *model_source_generation_error(const model_source *s); /* "" when none */

#endif
