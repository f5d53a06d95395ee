/* chat.c — rendering a chat request through the model's chat template, as transformers'
 * apply_chat_template does: the template sees messages, tools, add_generation_prompt (default
 * true), bos_token, eos_token and every chat_template_kwargs key as variables. */
#include <stdlib.h>
#include <string.h>

#include "serving/serving_impl.h"
#include "template/template.h"

lm_status servable_template_compile(servable *s, lm_error *err) {
    tpl_template *t = NULL;
    lm_status st = tpl_compile(s->template_src, strlen(s->template_src), &t, err);
    if (st != LM_OK) return err_set(err, st, "chat template of '%s'", s->name);
    s->tpl = t;
    return LM_OK;
}

void servable_template_free(servable *s) {
    tpl_destroy(s->tpl);
    s->tpl = NULL;
}

lm_status servable_render_chat(const servable *s, json_t *messages, json_t *tools, json_t *kwargs,
                               lm_buf *out, lm_error *err) {
    if (!s->tpl)
        return err_set(err, LM_ERR_UNSUPPORTED, "model '%s' has no chat template; use /v3/completions",
                       s->name);
    if (!json_is_array(messages))
        return err_set(err, LM_ERR_INVALID, "messages must be an array");
    json_t *ctx = json_object();
    if (!ctx) return err_set(err, LM_ERR_NOMEM, "out of memory");
    /* kwargs first, so the request's own fields win over same-named kwargs */
    if (json_is_object(kwargs)) json_object_update(ctx, kwargs);
    if (!json_object_get(ctx, "add_generation_prompt"))
        json_object_set_new(ctx, "add_generation_prompt", json_true());
    json_object_set(ctx, "messages", messages);
    if (tools && !json_is_null(tools)) json_object_set(ctx, "tools", tools);
    json_object_set_new(ctx, "bos_token", json_string(s->bos_text ? s->bos_text : ""));
    json_object_set_new(ctx, "eos_token", json_string(s->eos_text ? s->eos_text : ""));
    lm_status st = tpl_render(s->tpl, ctx, NULL, out, err);
    json_decref(ctx);
    return st;
}
