/* chat.c — compiling a model's chat template (model/source.h finds its text) and rendering chat
 * requests through it. */
#include "serving/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "model/source.h"
#include "template/template.h"

struct chat_template {
    tpl_template *tpl;
    char *bos, *eos;             /* token strings for bos_token / eos_token */
};

static char *token_string(const tok_tokenizer *tok, int32_t id) {
    size_t len;
    const char *t = tok ? tok_token_text(tok, id, &len) : NULL;
    return t ? strndup(t, len) : NULL; /* no such token: the variable stays undefined */
}

lm_status chat_template_compile(const char *source, size_t len, const tok_tokenizer *tok,
                                chat_template **out, lm_error *err) {
    *out = NULL;
    chat_template *ct = calloc(1, sizeof *ct);
    if (!ct) return err_set(err, LM_ERR_NOMEM, "out of memory");
    lm_status s = tpl_compile(source, len, &ct->tpl, err);
    if (s != LM_OK) {
        free(ct);
        return s;
    }
    ct->bos = token_string(tok, tok ? tok_bos_id(tok) : -1);
    ct->eos = token_string(tok, tok ? tok_eos_id(tok) : -1);
    *out = ct;
    return LM_OK;
}

lm_status chat_template_load_source(const model_source *src, const tok_tokenizer *tok, chat_template **out,
                                    lm_error *err) {
    *out = NULL;
    const char *text = model_source_chat_template(src);
    const char *path = model_source_path(src);
    if (!text) return err_set(err, LM_ERR_NOT_FOUND, "'%s' has no chat template", path);
    lm_status s = chat_template_compile(text, strlen(text), tok, out, err);
    return s == LM_OK ? LM_OK : err_set(err, s, "chat template of '%s'", path);
}

lm_status chat_template_load(const char *path, const tok_tokenizer *tok, chat_template **out,
                             lm_error *err) {
    *out = NULL;
    model_source *src = NULL;
    lm_error serr;
    err_clear(&serr);
    if (model_source_open(path, &src, &serr) != LM_OK) {
        /* not a model (a tokenizer.json given by name, a file that is not GGUF): the side files
         * of its folder still count, as they always did */
        char dir[4096];
        file_model_dir(path, dir, sizeof dir);
        err_clear(&serr);
        if (strcmp(dir, path) == 0 || model_source_open(dir, &src, &serr) != LM_OK)
            return err_set(err, LM_ERR_NOT_FOUND, "'%s' has no chat template", path);
    }
    lm_status s = chat_template_load_source(src, tok, out, err);
    model_source_close(src);
    return s;
}

void chat_template_destroy(chat_template *ct) {
    if (!ct) return;
    tpl_destroy(ct->tpl);
    free(ct->bos);
    free(ct->eos);
    free(ct);
}

/* Sets key to a token string unless present or the model has none; strings that are not valid UTF-8 become "". */
static void set_token(json_t *ctx, const char *key, const char *text) {
    if (!text || json_object_get(ctx, key)) return;
    json_t *v = json_string(text);
    json_object_set_new(ctx, key, v ? v : json_string(""));
}

lm_status chat_template_render_vars(const chat_template *ct, json_t *vars, const struct tm *now,
                                    lm_buf *out, lm_error *err) {
    if (!json_is_object(vars)) return err_set(err, LM_ERR_INVALID, "template variables must be a JSON object");
    json_t *ctx = json_copy(vars); /* shallow: the values stay the caller's */
    if (!ctx) return err_set(err, LM_ERR_NOMEM, "out of memory");
    set_token(ctx, "bos_token", ct->bos);
    set_token(ctx, "eos_token", ct->eos);
    tpl_options opt;
    tpl_options_init(&opt);
    opt.now = now;
    lm_status st = tpl_render(ct->tpl, ctx, &opt, out, err);
    json_decref(ctx);
    return st;
}

lm_status chat_template_render(const chat_template *ct, json_t *messages, json_t *tools,
                               json_t *kwargs, lm_buf *out, lm_error *err) {
    if (!json_is_array(messages)) return err_set(err, LM_ERR_INVALID, "messages must be an array");
    json_t *ctx = json_object();
    if (!ctx) return err_set(err, LM_ERR_NOMEM, "out of memory");
    /* kwargs first, so the request's own fields win over same-named kwargs */
    if (json_is_object(kwargs)) json_object_update(ctx, kwargs);
    if (!json_object_get(ctx, "add_generation_prompt"))
        json_object_set_new(ctx, "add_generation_prompt", json_true());
    json_object_set(ctx, "messages", messages);
    /* as transformers' apply_chat_template: tools and documents are None when not given, so
     * `tools is not none` and `tools is defined` behave as templates expect */
    json_object_set_new(ctx, "tools", tools && !json_is_null(tools) ? json_incref(tools) : json_null());
    if (!json_object_get(ctx, "documents")) json_object_set_new(ctx, "documents", json_null());
    lm_status st = chat_template_render_vars(ct, ctx, NULL, out, err);
    json_decref(ctx);
    return st;
}
