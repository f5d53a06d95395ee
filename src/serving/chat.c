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

/* The template source, or NULL when the model has none. */
static char *find_source(const char *path) {
    char dir[4096], file[4200];
    if (!file_is_dir(path)) {
        gguf_file *f = NULL;
        if (gguf_open(path, &f, NULL) == LM_OK) {
            gguf_str t;
            char *src = gguf_get_str(f, "tokenizer.chat_template", &t, NULL) == LM_OK
                            ? strndup(t.ptr, (size_t)t.len) : NULL;
            gguf_close(f);
            if (src) return src;
        }
    }
    file_model_dir(path, dir, sizeof dir);
    snprintf(file, sizeof file, "%s/tokenizer_config.json", dir);
    json_t *cfg = json_load_file(file, 0, NULL);
    if (cfg) {
        json_t *t = json_object_get(cfg, "chat_template");
        char *src = json_is_string(t) ? strdup(json_string_value(t)) : NULL;
        json_decref(cfg);
        if (src) return src;
    }
    snprintf(file, sizeof file, "%s/chat_template.jinja", dir);
    return file_read_all(file, TEMPLATE_FILE_MAX, NULL);
}

static char *token_string(const tok_tokenizer *tok, int32_t id) {
    size_t len;
    const char *t = tok ? tok_token_text(tok, id, &len) : NULL;
    return t ? strndup(t, len) : strdup("");
}

lm_status chat_template_load(const char *path, const tok_tokenizer *tok, chat_template **out,
                             lm_error *err) {
    *out = NULL;
    char *src = find_source(path);
    if (!src) return err_set(err, LM_ERR_NOT_FOUND, "'%s' has no chat template", path);
    chat_template *ct = calloc(1, sizeof *ct);
    if (!ct) {
        free(src);
        return err_set(err, LM_ERR_NOMEM, "out of memory");
    }
    lm_status s = tpl_compile(src, strlen(src), &ct->tpl, err);
    free(src);
    if (s != LM_OK) {
        free(ct);
        return err_set(err, s, "chat template of '%s'", path);
    }
    ct->bos = token_string(tok, tok ? tok_bos_id(tok) : -1);
    ct->eos = token_string(tok, tok ? tok_eos_id(tok) : -1);
    *out = ct;
    return LM_OK;
}

void chat_template_destroy(chat_template *ct) {
    if (!ct) return;
    tpl_destroy(ct->tpl);
    free(ct->bos);
    free(ct->eos);
    free(ct);
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
    if (tools && !json_is_null(tools)) json_object_set(ctx, "tools", tools);
    /* token strings that are not valid UTF-8 become "" (json_string refuses them) */
    json_t *bos = json_string(ct->bos), *eos = json_string(ct->eos);
    json_object_set_new(ctx, "bos_token", bos ? bos : json_string(""));
    json_object_set_new(ctx, "eos_token", eos ? eos : json_string(""));
    lm_status st = tpl_render(ct->tpl, ctx, NULL, out, err);
    json_decref(ctx);
    return st;
}
