/* chat.h — a model's chat template, found and rendered as transformers' apply_chat_template does.
 *
 * The template comes from the model: GGUF metadata tokenizer.chat_template, else
 * tokenizer_config.json's chat_template string, else chat_template.jinja in the model folder.
 * Rendering sees messages, tools, add_generation_prompt (default true), bos_token, eos_token and
 * every chat_template_kwargs key as variables. A loaded template is immutable: any number of
 * threads may render it at once. */
#ifndef LM_SERVING_CHAT_H
#define LM_SERVING_CHAT_H

#include <jansson.h>
#include <time.h>

#include "base/buf.h"
#include "base/error.h"
#include "tokenizer/tokenizer.h"

typedef struct chat_template chat_template;

/* Finds and compiles the chat template of the model at `path` (a .gguf file or a model folder);
 * `tok` supplies bos_token/eos_token. LM_ERR_NOT_FOUND when the model has no template; template
 * syntax errors give LM_ERR_FORMAT with line and column. */
lm_status chat_template_load(const char *path, const tok_tokenizer *tok, chat_template **out,
                             lm_error *err);

/* The same for a probed model source (its template text was found once, model/source.h). */
lm_status chat_template_load_source(const model_source *src, const tok_tokenizer *tok, chat_template **out,
                                    lm_error *err);

/* Compiles template source text directly (a template file given by hand); `tok` (may be NULL)
 * supplies bos_token/eos_token defaults. */
lm_status chat_template_compile(const char *source, size_t len, const tok_tokenizer *tok,
                                chat_template **out, lm_error *err);

/* Renders `messages` (a JSON array), `tools` (NULL or an array) and `kwargs` (NULL or an object)
 * into *out. raise_exception() and render errors give LM_ERR_TEMPLATE / LM_ERR_LIMIT with the
 * template's message; `out` is unchanged on failure. */
lm_status chat_template_render(const chat_template *ct, json_t *messages, json_t *tools,
                               json_t *kwargs, lm_buf *out, lm_error *err);

/* Renders with `vars` (a JSON object) as the template's variables exactly as given, adding only
 * bos_token/eos_token when absent. `now` (NULL: the system clock) pins what strftime_now()
 * reads, so renders are reproducible. */
lm_status chat_template_render_vars(const chat_template *ct, json_t *vars, const struct tm *now,
                                    lm_buf *out, lm_error *err);

void chat_template_destroy(chat_template *ct); /* accepts NULL */

#endif
