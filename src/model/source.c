/* source.c — probing a model location once and parsing its shared files once (source.h). */
#include "model/source.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/jsonnum.h"
#include "base/log.h"

#define SOURCE_TEMPLATE_MAX (1 << 20)   /* a chat template file larger than 1 MiB is not a template */
#define SOURCE_GENCONFIG_MAX (1 << 20)  /* generation_config.json is a few hundred bytes */
#define SOURCE_TOKCONFIG_MAX (64 << 20) /* tokenizer_config.json lists added tokens: can be large */

struct model_source {
    model_source_kind kind;
    char *path;
    char dir[4096];
    gguf_file *gguf;             /* held; NULL when the source has no GGUF to share */
    int hf_tokenizer;
    char *chat_template;         /* NULL: none */
    hfconfig_generation gen;
    char gen_error[LM_ERROR_MSG_MAX];
};

static int has_file(const char *dir, const char *name) {
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

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

/* As OVMS: chat_template.jinja in the model folder wins over tokenizer_config.json's
 * chat_template, which wins over the metadata of a .gguf file given by name. */
static char *find_template(const model_source *s) {
    char file[4200];
    snprintf(file, sizeof file, "%s/chat_template.jinja", s->dir);
    char *src = file_read_all(file, SOURCE_TEMPLATE_MAX, NULL);
    if (src) return src;
    snprintf(file, sizeof file, "%s/tokenizer_config.json", s->dir);
    json_t *cfg = NULL;
    char *text = file_read_all(file, SOURCE_TOKCONFIG_MAX, NULL);
    if (text) { /* model_max_length is often 1e30 written as an integer: read it as a real */
        lm_buf wide = {0};
        jsonnum_widen(text, strlen(text), &wide);
        json_error_t je = {.line = 0, .text = "out of memory"};
        cfg = wide.oom ? NULL : json_loadb(wide.data ? wide.data : "", wide.len, 0, &je);
        if (!cfg) log_error("%s: not usable, its chat template is ignored (line %d: %s)", file, je.line, je.text);
        buf_fini(&wide);
        free(text);
    }
    if (cfg) {
        src = config_template(json_object_get(cfg, "chat_template"));
        json_decref(cfg);
        if (src) return src;
    }
    if (s->kind == MODEL_SOURCE_GGUF && s->gguf) {
        gguf_str t;
        if (gguf_get_str(s->gguf, "tokenizer.chat_template", &t, NULL) == LM_OK) src = strndup(t.ptr, (size_t)t.len);
    }
    return src;
}

static void read_generation(model_source *s) {
    char file[4200];
    snprintf(file, sizeof file, "%s/generation_config.json", s->dir);
    size_t len = 0;
    char *text = file_read_all(file, SOURCE_GENCONFIG_MAX, &len);
    if (!text) return;
    lm_error err;
    err_clear(&err);
    if (hfconfig_parse_generation(text, len, &s->gen, &err) != LM_OK) {
        memset(&s->gen, 0, sizeof s->gen);
        snprintf(s->gen_error, sizeof s->gen_error, "%s", err.msg);
    }
    free(text);
}

lm_status model_source_open(const char *path, model_source **out, lm_error *err) {
    *out = NULL;
    struct stat st;
    int is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    model_source *s = calloc(1, sizeof *s);
    if (!s) return err_set(err, LM_ERR_NOMEM, "out of memory");
    s->path = strdup(path);
    if (!s->path) {
        free(s);
        return err_set(err, LM_ERR_NOMEM, "out of memory");
    }
    file_model_dir(path, s->dir, sizeof s->dir);
    lm_status r = LM_OK;
    char gguf[4200];
    if (!is_dir) {
        s->kind = MODEL_SOURCE_GGUF;
        r = gguf_open(path, &s->gguf, err); /* a missing file fails here, naming it */
    } else if (has_file(path, "openvino_model.xml")) {
        s->kind = MODEL_SOURCE_IR_DIR; /* the IR loader reads the graph; the tokenizer is HF's */
        s->hf_tokenizer = 1;
    } else if (!has_file(path, "config.json") && has_file(path, "model.gguf")) {
        s->kind = MODEL_SOURCE_GGUF_DIR;
        snprintf(gguf, sizeof gguf, "%s/model.gguf", path);
        r = gguf_open(gguf, &s->gguf, err);
        s->hf_tokenizer = has_file(path, "tokenizer.json") || has_file(path, "tokenizer.json.gz");
    } else {
        s->kind = MODEL_SOURCE_HF_DIR;
        s->hf_tokenizer = has_file(path, "tokenizer.json") || has_file(path, "tokenizer.json.gz") ||
                          !has_file(path, "model.gguf");
        if (!s->hf_tokenizer) { /* config.json beside model.gguf and no tokenizer.json */
            snprintf(gguf, sizeof gguf, "%s/model.gguf", path);
            r = gguf_open(gguf, &s->gguf, err);
        }
    }
    if (r != LM_OK) {
        model_source_close(s);
        return r;
    }
    s->chat_template = find_template(s);
    read_generation(s);
    *out = s;
    return LM_OK;
}

void model_source_close(model_source *s) {
    if (!s) return;
    gguf_close(s->gguf);
    free(s->chat_template);
    free(s->path);
    free(s);
}

model_source_kind model_source_get_kind(const model_source *s) { return s->kind; }
const char *model_source_path(const model_source *s) { return s->path; }
const char *model_source_dir(const model_source *s) { return s->dir; }
gguf_file *model_source_gguf(const model_source *s) { return s->gguf; }
int model_source_hf_tokenizer(const model_source *s) { return s->hf_tokenizer; }
const char *model_source_chat_template(const model_source *s) { return s->chat_template; }
const hfconfig_generation *model_source_generation(const model_source *s) { return &s->gen; }
const char *model_source_generation_error(const model_source *s) { return s->gen_error; }
