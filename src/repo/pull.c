/* pull.c — the pull mode: pick the files of a hub repository, download them (hub.c), write the
 * graph (graph.c). The --pull command around it (flags, signals, messages) is cli/serve.c. */
#include "repo/pull.h"

#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/limits.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The part count of "<stem>-00001-of-NNNNN.gguf", or 0 when the name is not a split's first
 * part. *stem_len is the length of "<stem>-". */
static int split_parts(const char *name, size_t *stem_len) {
    size_t n = strlen(name);
    const size_t tail = strlen("00001-of-00000.gguf");
    if (n < tail + 1 || name[n - tail - 1] != '-') return 0;
    const char *t = name + n - tail;
    if (strncmp(t, "00001-of-", 9) != 0 || strcmp(t + 14, ".gguf") != 0) return 0;
    int parts = 0;
    for (int i = 9; i < 14; i++) {
        if (t[i] < '0' || t[i] > '9') return 0;
        parts = parts * 10 + (t[i] - '0');
    }
    *stem_len = n - tail;
    return parts >= 1 ? parts : 0;
}

static const hub_file *find_file(const hub_listing *l, const char *name) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->files[i].path, name) == 0) return &l->files[i];
    return NULL;
}

/* Fills sel (indexes into l) with the files to fetch; *gguf is the file models_path names, or
 * NULL for the folder. */
static lm_status select_files(const repo_pull_opts *o, const hub_listing *l, size_t *sel, size_t *n_sel,
                              const char **gguf, lm_error *err) {
    *n_sel = 0;
    *gguf = NULL;
    if (o->gguf_filename) {
        LM_TRY(hub_check_path(o->gguf_filename, err));
        size_t stem = 0;
        int parts = split_parts(o->gguf_filename, &stem);
        if (!parts && strstr(o->gguf_filename, "-of-") && ends_with(o->gguf_filename, ".gguf"))
            return err_set(err, LM_ERR_INVALID, "--gguf_filename: '%s' looks like a part of a split "
                           "file; name its first part (<name>-00001-of-0000N.gguf)", o->gguf_filename);
        for (int p = 1; p <= (parts ? parts : 1); p++) {
            char name[4200];
            if (parts)
                snprintf(name, sizeof name, "%.*s%05d-of-%05d.gguf", (int)stem, o->gguf_filename, p, parts);
            else
                snprintf(name, sizeof name, "%s", o->gguf_filename);
            const hub_file *f = find_file(l, name);
            if (!f) {
                lm_buf have = {0};
                for (size_t i = 0; i < l->n; i++)
                    if (ends_with(l->files[i].path, ".gguf"))
                        buf_printf(&have, "%s%s", have.len ? ", " : "", l->files[i].path);
                lm_status s = err_set(err, LM_ERR_NOT_FOUND, "--gguf_filename: %s is not in %s (its "
                                      ".gguf files: %s)", name, o->source_model,
                                      have.len ? buf_cstr(&have) : "none");
                buf_fini(&have);
                return s;
            }
            sel[(*n_sel)++] = (size_t)(f - l->files);
        }
        *gguf = o->gguf_filename;
        return LM_OK;
    }
    /* the whole repository; a GGUF-only repository must hold one model */
    size_t n_gguf = 0, n_st = 0;
    const char *first = NULL;
    lm_buf names = {0};
    for (size_t i = 0; i < l->n; i++) {
        const char *p = l->files[i].path;
        if (ends_with(p, ".safetensors")) n_st++;
        if (!ends_with(p, ".gguf")) continue;
        size_t stem;
        int parts = split_parts(p, &stem);
        int is_later_part = !parts && strstr(p, "-of-") != NULL;
        if (is_later_part) continue;
        n_gguf++;
        if (!first) first = p;
        buf_printf(&names, "%s%s", names.len ? ", " : "", p);
    }
    if (n_st == 0 && n_gguf > 1) {
        lm_status s = err_set(err, LM_ERR_INVALID, "%s holds several GGUF models; pick one with "
                              "--gguf_filename: %s", o->source_model, buf_cstr(&names));
        buf_fini(&names);
        return s;
    }
    buf_fini(&names);
    for (size_t i = 0; i < l->n; i++) sel[(*n_sel)++] = i;
    if (n_st == 0 && n_gguf == 1) *gguf = first;
    return LM_OK;
}

/* ---------------------------------------------------------------- the task */

/* --task's words, in the order of the flag's choices. */
static const char *const task_names[] = {"text_generation", "embeddings", "rerank", "image_generation"};
enum { TASK_TEXT_GENERATION, TASK_EMBEDDINGS, TASK_RERANK, TASK_IMAGE_GENERATION };

/* The task a transformers architecture name is for, or -1. */
static int task_of_architecture(const char *a) {
    if (ends_with(a, "ForCausalLM") || ends_with(a, "LMHeadModel") || ends_with(a, "ForConditionalGeneration"))
        return TASK_TEXT_GENERATION;
    if (ends_with(a, "ForSequenceClassification")) return TASK_RERANK;
    if (ends_with(a, "Model") || ends_with(a, "ForMaskedLM")) return TASK_EMBEDDINGS;
    return -1;
}

/* Infers the task from what the repository holds (pull.h says how); config.json is fetched into
 * dir first. LM_ERR_INVALID ("pass --task") when nothing tells. */
static lm_status infer_task(const repo_pull_opts *o, const hub_listing *l, const char *dir, int *task,
                            lm_error *err) {
    int has_gguf = 0;
    for (size_t i = 0; i < l->n; i++) has_gguf |= ends_with(l->files[i].path, ".gguf");
    const hub_file *cfg = find_file(l, "config.json");
    if (!cfg) {
        if (find_file(l, "model_index.json")) *task = TASK_IMAGE_GENERATION;
        else if (has_gguf) *task = TASK_TEXT_GENERATION;
        else return err_set(err, LM_ERR_INVALID, "cannot infer --task: %s has no config.json; pass --task",
                            o->source_model);
        return LM_OK;
    }
    LM_TRY(hub_download(&o->hub, o->source_model, cfg, dir, NULL, err));
    lm_buf path = {0};
    buf_printf(&path, "%s/config.json", dir);
    char *text = path.oom ? NULL : file_read_all(path.data, LM_HFCONFIG_MAX_BYTES, NULL);
    buf_fini(&path);
    json_error_t je;
    json_t *root = text ? json_loads(text, 0, &je) : NULL;
    free(text);
    json_t *archs = json_object_get(root, "architectures");
    lm_status s = LM_OK;
    *task = -1;
    size_t i;
    json_t *a;
    json_array_foreach(archs, i, a) {
        if (json_is_string(a) && (*task = task_of_architecture(json_string_value(a))) >= 0) break;
    }
    if (*task < 0) {
        if (json_array_size(archs) == 0 && has_gguf) {
            *task = TASK_TEXT_GENERATION; /* GGUF files are language models */
        } else if (json_array_size(archs) == 0) {
            s = err_set(err, LM_ERR_INVALID, "cannot infer --task: %s's config.json %s; pass --task",
                        o->source_model, root ? "names no \"architectures\"" : "cannot be read as JSON");
        } else {
            a = json_array_get(archs, 0);
            s = err_set(err, LM_ERR_INVALID, "cannot infer --task from %s's architecture %s; pass --task",
                        o->source_model, json_is_string(a) ? json_string_value(a) : "(not a string)");
        }
    }
    json_decref(root);
    return s;
}

/* ---------------------------------------------------------------- pulling */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

lm_status repo_pull(const repo_pull_opts *o, char **dir_out, lm_error *err) {
    if (dir_out) *dir_out = NULL;
    LM_TRY(hub_check_model_id(o->source_model, err));
    lm_buf dir = {0};
    buf_printf(&dir, "%s/%s", o->repository_path, o->source_model);
    if (dir.oom) return err_set(err, LM_ERR_NOMEM, "out of memory");
    lm_status s = LM_OK;
    hub_listing l = {0};
    size_t *sel = NULL;
    struct stat st;
    if (o->overwrite && lstat(dir.data, &st) == 0) {
        /* FTW_PHYS: a symlink inside is removed, never followed */
        if (nftw(dir.data, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
            s = err_set(err, LM_ERR_IO, "cannot remove %s: %s", dir.data, strerror(errno));
            goto done;
        }
    }
    /* the repository path and the org folder */
    if (mkdir(o->repository_path, 0777) != 0 && errno != EEXIST) {
        s = err_set(err, LM_ERR_IO, "cannot create %s: %s", o->repository_path, strerror(errno));
        goto done;
    }
    const char *slash = strchr(o->source_model, '/');
    if (slash) {
        lm_buf org = {0};
        buf_printf(&org, "%s/%.*s", o->repository_path, (int)(slash - o->source_model), o->source_model);
        int bad = org.oom || (mkdir(org.data, 0777) != 0 && errno != EEXIST);
        if (bad) s = err_set(err, LM_ERR_IO, "cannot create %s: %s", buf_cstr(&org), strerror(errno));
        buf_fini(&org);
        if (bad) goto done;
    }
    if ((s = hub_list(&o->hub, o->source_model, &l, err)) != LM_OK) goto done;
    sel = malloc((l.n + 1) * sizeof *sel);
    if (!sel) {
        s = err_set(err, LM_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t n_sel;
    const char *gguf;
    if ((s = select_files(o, &l, sel, &n_sel, &gguf, err)) != LM_OK) goto done;
    int task = o->task;
    if (task < 0 && (s = infer_task(o, &l, dir.data, &task, err)) != LM_OK) goto done;
    if (task != TASK_TEXT_GENERATION) {
        s = err_set(err, LM_ERR_UNSUPPORTED, "--task %s%s: lmserve serves text_generation only",
                    task < (int)(sizeof task_names / sizeof task_names[0]) ? task_names[task] : "?",
                    o->task < 0 ? " (inferred from the repository)" : "");
        goto done;
    }
    for (size_t i = 0; i < n_sel; i++)
        if ((s = hub_download(&o->hub, o->source_model, &l.files[sel[i]], dir.data, NULL, err)) != LM_OK)
            goto done;
    if (o->out) fprintf(o->out, "Model: %s downloaded to: %s\n", o->source_model, dir.data);
    repo_graph_opts g = o->graph;
    lm_buf mp = {0};
    if (gguf) buf_printf(&mp, "./%s", gguf);
    g.models_path = gguf ? buf_cstr(&mp) : "./";
    s = mp.oom ? err_set(err, LM_ERR_NOMEM, "out of memory") : repo_graph_write(dir.data, &g, err);
    buf_fini(&mp);
    if (s != LM_OK) goto done;
    if (o->out) fprintf(o->out, "Graph: graph.pbtxt created in: %s\n", dir.data);
    if (dir_out) {
        *dir_out = dir.data;
        dir.data = NULL;
    }
done:
    free(sel);
    hub_listing_fini(&l);
    buf_fini(&dir);
    return s;
}

