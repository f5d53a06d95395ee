/* chat.c — finding a model's chat template and rendering chat requests through it. */
#include "serving/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "model/gguf.h"
#include "template/template.h"

#define TEMPLATE_FILE_MAX (1 << 20) /* a chat template file larger than 1 MiB is not a template */

struct chat_template {
    tpl_template *tpl;
    char *bos, *eos;             /* token strings for bos_token / eos_token */
};

/* tokenizer_config.json's chat_template: a string, or a list of {name, template} of which the one
 * named "default" is used. */
static char *config_template(json_t *t) {
    if (json_is_string(t)) return strdup(json_string_value(t));
    size_t i;
    json_t *v;
    json_array_foreach(t, i, v) {
        json_t *name = json_object_get(v, "name"), *tpl = json_object_get(v, "template");
        if (json_is_string(name) && strcmp(json_string_value(name), "default") == 0 && json_is_string(tpl))
            return strdup(json_string_value(tpl));
    }
    return NULL;
}

/* The template source, or NULL when the model has none. As OVMS: chat_template.jinja in the model
 * folder wins over tokenizer_config.json's chat_template, which wins over GGUF metadata. */
static char *find_source(const char *path) {
    char dir[4096], file[4200];
    file_model_dir(path, dir, sizeof dir);
    snprintf(file, sizeof file, "%s/chat_template.jinja", dir);
    char *src = file_read_all(file, TEMPLATE_FILE_MAX, NULL);
    if (src) return src;
    snprintf(file, sizeof file, "%s/tokenizer_config.json", dir);
    json_t *cfg = json_load_file(file, 0, NULL);
    if (cfg) {
        src = config_template(json_object_get(cfg, "chat_template"));
        json_decref(cfg);
        if (src) return src;
    }
    if (!file_is_dir(path)) {
        gguf_file *f = NULL;
        if (gguf_open(path, &f, NULL) == LM_OK) {
            gguf_str t;
            if (gguf_get_str(f, "tokenizer.chat_template", &t, NULL) == LM_OK) src = strndup(t.ptr, (size_t)t.len);
            gguf_close(f);
        }
    }
    return src;
}

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

lm_status chat_template_load(const char *path, const tok_tokenizer *tok, chat_template **out,
                             lm_error *err) {
    *out = NULL;
    char *src = find_source(path);
    if (!src) return err_set(err, LM_ERR_NOT_FOUND, "'%s' has no chat template", path);
    lm_status s = chat_template_compile(src, strlen(src), tok, out, err);
    free(src);
    return s == LM_OK ? LM_OK : err_set(err, s, "chat template of '%s'", path);
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
