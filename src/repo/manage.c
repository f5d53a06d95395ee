/* manage.c — config management: editing config.json (read, change, write through a temporary
 * file), listing a repository's servables, the base_path of a repository's model. */
#include "repo/manage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/limits.h"

/* ---------------------------------------------------------------- config.json in and out */

/* Reads config.json into *root (an object). *exists says whether the file was there; a
 * missing file is not an error here. */
static lm_status load_json(const char *path, json_t **root, int *exists, lm_error *err) {
    *root = NULL;
    *exists = 0;
    char *text = NULL;
    size_t len = 0;
    lm_error rerr;
    err_clear(&rerr);
    lm_status s = file_read(path, LM_REPO_MAX_CONFIG_BYTES, &text, &len, &rerr);
    if (s == LM_ERR_IO && errno == ENOENT) return LM_OK; /* a missing file is no error here */
    if (s != LM_OK) return err_set(err, s, "%s", rerr.msg);
    *exists = 1;
    {
        json_error_t je;
        *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!*root) {
            int fresh = err && err->code == LM_OK;
            s = err_set(err, LM_ERR_FORMAT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
            if (fresh) {
                err->line = je.line;
                err->col = je.column;
            }
        } else if (!json_is_object(*root)) {
            s = err_set(err, LM_ERR_FORMAT, "%s: expected a JSON object with \"model_config_list\"",
                        path);
        }
    }
    free(text);
    if (s != LM_OK) {
        json_decref(*root);
        *root = NULL;
    }
    return s;
}

/* Writes root to path atomically: a temporary file in the same folder, renamed over it. */
static lm_status save_json(const char *path, json_t *root, lm_error *err) {
    char *text = json_dumps(root, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
    if (!text) return err_set(err, LM_ERR_NOMEM, "out of memory");
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp) {
        free(text);
        return err_set(err, LM_ERR_NOMEM, "out of memory");
    }
    snprintf(tmp, n + 16, "%s.tmp.XXXXXX", path);
    lm_status s = LM_OK;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        s = err_set(err, LM_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    } else {
        /* keep the file's permissions; a new one gets the usual 0666 less the umask */
        struct stat st;
        mode_t mode;
        if (stat(path, &st) == 0) {
            mode = st.st_mode & 07777;
        } else {
            mode_t mask = umask(0);
            umask(mask);
            mode = 0666 & ~mask;
        }
        size_t len = strlen(text);
        ssize_t w = 0;
        size_t done = 0;
        while (done < len && (w = write(fd, text + done, len - done)) > 0) done += (size_t)w;
        int ok = done == len && write(fd, "\n", 1) == 1 && fchmod(fd, mode) == 0 && fsync(fd) == 0;
        int saved = errno;
        if (close(fd) != 0) ok = 0;
        if (!ok || rename(tmp, path) != 0) {
            if (ok) saved = errno;
            unlink(tmp);
            s = err_set(err, LM_ERR_IO, "cannot write %s: %s", path, strerror(saved));
        }
    }
    free(tmp);
    free(text);
    return s;
}

/* The name of a model_config_list item ({"config": {"name": ...}}) or of a mediapipe_config_list
 * item ({"name": ...}); NULL when it has none. */
static const char *item_name(json_t *item, int mediapipe) {
    json_t *obj = mediapipe ? item : json_object_get(item, "config");
    return json_string_value(json_object_get(obj, "name"));
}

/* Index of the item called name in root[list], or -1. Fails for a list that is not an array. */
static lm_status find_item(const char *path, json_t *root, const char *list, const char *name,
                           long *index, lm_error *err) {
    *index = -1;
    json_t *arr = json_object_get(root, list);
    if (!arr) return LM_OK;
    if (!json_is_array(arr))
        return err_set(err, LM_ERR_FORMAT, "%s: %s: expected an array", path, list);
    size_t i;
    json_t *item;
    int mp = strcmp(list, "mediapipe_config_list") == 0;
    json_array_foreach(arr, i, item) {
        const char *n = item_name(item, mp);
        if (n && strcmp(n, name) == 0) {
            *index = (long)i;
            break;
        }
    }
    return LM_OK;
}

lm_status repo_config_add(const char *config_path, const char *name, const char *base_path,
                          lm_error *err) {
    json_t *root;
    int exists;
    LM_TRY(load_json(config_path, &root, &exists, err));
    lm_status s = LM_OK;
    if (!exists && !(root = json_object())) return err_set(err, LM_ERR_NOMEM, "out of memory");
    long a, b;
    if ((s = find_item(config_path, root, "model_config_list", name, &a, err)) != LM_OK ||
        (s = find_item(config_path, root, "mediapipe_config_list", name, &b, err)) != LM_OK)
        goto done;
    if (a >= 0 || b >= 0) {
        s = err_set(err, LM_ERR_INVALID, "Given model name is already occupied: '%s'", name);
        goto done;
    }
    json_t *list = json_object_get(root, "model_config_list");
    if (!list) {
        list = json_array();
        if (!list || json_object_set_new(root, "model_config_list", list) != 0) {
            s = err_set(err, LM_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    json_t *item = json_pack("{s:{s:s, s:s}}", "config", "name", name, "base_path", base_path);
    if (!item) {
        s = err_set(err, LM_ERR_INVALID, "model name and path must be valid UTF-8");
        goto done;
    }
    json_array_append_new(list, item);
    s = save_json(config_path, root, err);
done:
    json_decref(root);
    return s;
}

lm_status repo_config_remove(const char *config_path, const char *name, lm_error *err) {
    json_t *root;
    int exists;
    LM_TRY(load_json(config_path, &root, &exists, err));
    if (!exists)
        return err_set(err, LM_ERR_NOT_FOUND, "The provided base path is invalid or doesn't exists: "
                       "%s", config_path);
    long a, b;
    lm_status s;
    if ((s = find_item(config_path, root, "model_config_list", name, &a, err)) == LM_OK &&
        (s = find_item(config_path, root, "mediapipe_config_list", name, &b, err)) == LM_OK) {
        if (a >= 0)
            json_array_remove(json_object_get(root, "model_config_list"), (size_t)a);
        else if (b >= 0)
            json_array_remove(json_object_get(root, "mediapipe_config_list"), (size_t)b);
        else
            s = err_set(err, LM_ERR_NOT_FOUND, "Model with requested name is not found: '%s'", name);
    }
    if (s == LM_OK) s = save_json(config_path, root, err);
    json_decref(root);
    return s;
}

/* ---------------------------------------------------------------- listing */

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static lm_status add_name(repo_name_list *l, const char *name, lm_error *err) {
    char **g = realloc(l->names, (l->n + 1) * sizeof *g);
    if (!g) return err_set(err, LM_ERR_NOMEM, "out of memory");
    l->names = g;
    if (!(l->names[l->n] = strdup(name))) return err_set(err, LM_ERR_NOMEM, "out of memory");
    l->n++;
    return LM_OK;
}

/* Looks at folder `dir` (named `rel` below the repository): a servable when it holds
 * graph.pbtxt, else each sub-folder in turn. */
static lm_status walk(const char *dir, const char *rel, int depth, repo_name_list *out, lm_error *err) {
    lm_buf p = {0};
    buf_printf(&p, "%s/graph.pbtxt", dir);
    int graph = !p.oom && is_file(buf_cstr(&p));
    buf_fini(&p);
    if (graph) return add_name(out, rel, err);
    if (depth >= LM_REPO_MAX_LIST_DEPTH) return LM_OK;
    DIR *d = opendir(dir);
    if (!d) return LM_OK; /* unreadable folders hold nothing we can serve */
    lm_status s = LM_OK;
    struct dirent *e;
    while (s == LM_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ., .., and hidden folders (.cache of downloads) */
        lm_buf sub = {0}, subrel = {0};
        buf_printf(&sub, "%s/%s", dir, e->d_name);
        buf_printf(&subrel, "%s/%s", rel, e->d_name);
        if (sub.oom || subrel.oom) s = err_set(err, LM_ERR_NOMEM, "out of memory");
        else if (is_dir(buf_cstr(&sub))) s = walk(buf_cstr(&sub), buf_cstr(&subrel), depth + 1, out, err);
        buf_fini(&sub);
        buf_fini(&subrel);
    }
    closedir(d);
    return s;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

lm_status repo_list_models(const char *repo_path, repo_name_list *out, lm_error *err) {
    out->names = NULL;
    out->n = 0;
    if (!is_dir(repo_path))
        return err_set(err, LM_ERR_NOT_FOUND, "Path is not a directory: %s", repo_path);
    DIR *d = opendir(repo_path);
    if (!d) return err_set(err, LM_ERR_IO, "cannot read %s: %s", repo_path, strerror(errno));
    lm_status s = LM_OK;
    struct dirent *e;
    while (s == LM_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        lm_buf sub = {0};
        buf_printf(&sub, "%s/%s", repo_path, e->d_name);
        if (sub.oom) s = err_set(err, LM_ERR_NOMEM, "out of memory");
        else if (is_dir(buf_cstr(&sub))) s = walk(buf_cstr(&sub), e->d_name, 1, out, err);
        buf_fini(&sub);
    }
    closedir(d);
    if (s != LM_OK) {
        repo_name_list_fini(out);
        return s;
    }
    if (out->n > 1) qsort(out->names, out->n, sizeof *out->names, cmp_names);
    return LM_OK;
}

void repo_name_list_fini(repo_name_list *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->n = 0;
}

/* ---------------------------------------------------------------- paths */

char *repo_model_base_path(const char *config_path, const char *repo, const char *name) {
    char cfg_dir[PATH_MAX], repo_real[PATH_MAX];
    const char *slash = strrchr(config_path, '/');
    lm_buf d = {0};
    if (slash) buf_append(&d, config_path, (size_t)(slash - config_path) + (slash == config_path));
    else buf_append_str(&d, ".");
    int same = !d.oom && realpath(buf_cstr(&d), cfg_dir) && realpath(repo, repo_real) &&
               strcmp(cfg_dir, repo_real) == 0;
    buf_fini(&d);
    lm_buf out = {0};
    if (same) buf_append_str(&out, name);
    else if (repo[0] == '/' || !realpath(repo, repo_real)) buf_printf(&out, "%s/%s", repo, name);
    else buf_printf(&out, "%s/%s", repo_real, name);
    if (out.oom) {
        buf_fini(&out);
        return NULL;
    }
    return out.data;
}

