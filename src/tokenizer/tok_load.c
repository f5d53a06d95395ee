/* tok_load.c — tok_load_path(): picks the loader for a path (GGUF file, model folder, or a
 * tokenizer.json file). A folder without tokenizer.json that holds model.gguf loads that file's
 * vocabulary. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenizer/tok_impl.h"

static int has_file(const char *dir, const char *name) {
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

lm_status tok_load_path(const char *path, tok_tokenizer **out, lm_error *err) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return err_set(err, LM_ERR_IO, "%s: no such file or folder", path);
    char gguf[4200];
    if (S_ISDIR(st.st_mode)) {
        /* a folder `lmserve export` made from a GGUF source: the vocabulary is in its model.gguf */
        if (has_file(path, "tokenizer.json") || has_file(path, "tokenizer.json.gz") ||
            !has_file(path, "model.gguf"))
            return tok_load_hf(path, out, err);
        snprintf(gguf, sizeof gguf, "%s/model.gguf", path);
        path = gguf;
    }
    size_t n = strlen(path);
    if (n >= 14 && strcmp(path + n - 14, "tokenizer.json") == 0) {
        char dir[4096];
        size_t dl = n - 14;
        if (dl >= sizeof dir) return err_set(err, LM_ERR_INVALID, "path too long: %s", path);
        memcpy(dir, path, dl);
        dir[dl] = '\0';
        return tok_load_hf(dl ? dir : ".", out, err);
    }
    gguf_file *f = NULL;
    LM_TRY(gguf_open(path, &f, err));
    lm_status s = tok_load_gguf(f, out, err);
    gguf_close(f);
    return s;
}

lm_status tok_load_source(const model_source *src, tok_tokenizer **out, lm_error *err) {
    *out = NULL;
    if (model_source_hf_tokenizer(src) || !model_source_gguf(src)) return tok_load_hf(model_source_dir(src), out, err);
    return tok_load_gguf(model_source_gguf(src), out, err);
}
