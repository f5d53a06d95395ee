/* config.c — reading OVMS config.json and LLM graph.pbtxt files (and the direct flags) into
 * repo_model entries. The formats and rules are in config.h; graph syntax is pbtxt.c's job. */
#include "repo/config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/limits.h"
#include "repo/pbtxt.h"

/* Strings the entries point to; freed by repo_config_fini. */
struct repo_config_store {
    char **strs;
    size_t n, cap;
};

/* ---------------------------------------------------------------- small helpers */

/* Keeps `s` (malloc'd) in the store; returns it, or NULL (and frees it) when out of memory. */
static char *keep(repo_config *c, char *s) {
    if (!s) return NULL;
    if (!c->store) {
        c->store = calloc(1, sizeof *c->store);
        if (!c->store) {
            free(s);
            return NULL;
        }
    }
    struct repo_config_store *st = c->store;
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 16;
        char **g = realloc(st->strs, cap * sizeof *g);
        if (!g) {
            free(s);
            return NULL;
        }
        st->strs = g;
        st->cap = cap;
    }
    st->strs[st->n++] = s;
    return s;
}

static char *keep_str(repo_config *c, const char *s) { return s ? keep(c, strdup(s)) : NULL; }

static lm_status nomem(lm_error *err) { return err_set(err, LM_ERR_NOMEM, "out of memory"); }

static void add_warning_text(repo_config *c, char *msg) {
    if (!msg) return;
    char **g = realloc(c->warnings, (c->n_warnings + 1) * sizeof *g);
    if (!g) {
        free(msg);
        return; /* a warning lost to OOM is not worth failing the load */
    }
    c->warnings = g;
    c->warnings[c->n_warnings++] = msg;
}

static void warn(repo_config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(repo_config *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) msg = NULL;
    va_end(ap);
    add_warning_text(c, msg);
}

/* "<source>:<line>:<col>: <name>: <msg>" at a graph field's name. */
static void warn_field(repo_config *c, const pbtxt_field *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn_field(repo_config *c, const pbtxt_field *f, const char *fmt, ...) {
    char what[LM_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    warn(c, "%s:%d:%d: %s: %s", f->source, f->line, f->col, f->name, what);
}

static int is_abs(const char *p) { return p[0] == '/'; }

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* dir joined with rel: rel when absolute or dir is empty/"."; leading "./" of rel and trailing
 * slashes of the result dropped ("models" + "./" = "models"). malloc'd. */
static char *path_join(const char *dir, const char *rel) {
    while (rel[0] == '.' && rel[1] == '/') {
        rel += 2;
        while (*rel == '/') rel++;
    }
    if (strcmp(rel, ".") == 0) rel = "";
    char *out;
    if (is_abs(rel) || !dir || !*dir || strcmp(dir, ".") == 0) {
        out = strdup(*rel ? rel : (dir && *dir ? dir : "."));
    } else if (!*rel) {
        out = strdup(dir);
    } else {
        size_t dn = strlen(dir);
        while (dn > 1 && dir[dn - 1] == '/') dn--;
        out = malloc(dn + 1 + strlen(rel) + 1);
        if (out) sprintf(out, "%.*s/%s", (int)dn, dir, rel);
    }
    if (out) {
        size_t n = strlen(out);
        while (n > 1 && out[n - 1] == '/') out[--n] = '\0';
    }
    return out;
}

/* The folder part of a file path ("." when it has none). malloc'd. */
static char *path_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* The last component of a path, trailing slashes ignored. malloc'd. */
static char *path_base(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t i = n;
    while (i > 0 && path[i - 1] != '/') i--;
    return strndup(path + i, n - i);
}

typedef enum { PATH_MISSING, PATH_DIR, PATH_FILE, PATH_OTHER } path_kind;

static path_kind path_stat(const char *p) {
    struct stat st;
    if (stat(p, &st) != 0) return PATH_MISSING;
    if (S_ISDIR(st.st_mode)) return PATH_DIR;
    if (S_ISREG(st.st_mode)) return PATH_FILE;
    return PATH_OTHER;
}

/* What a folder without a graph holds: FOLDER_HF (config.json: a Hugging Face folder),
 * FOLDER_GGUF (one GGUF model: *gguf is its file, or a split file's first part, malloc'd),
 * FOLDER_SEVERAL (more than one GGUF model: *gguf lists them), or FOLDER_NONE. */
typedef enum { FOLDER_NONE, FOLDER_HF, FOLDER_GGUF, FOLDER_SEVERAL } folder_kind;

static folder_kind folder_model(const char *dir, char **gguf) {
    *gguf = NULL;
    char *cfg = path_join(dir, "config.json");
    int hf = cfg && path_stat(cfg) == PATH_FILE;
    free(cfg);
    if (hf) return FOLDER_HF;
    DIR *d = opendir(dir);
    if (!d) return FOLDER_NONE;
    lm_buf names = {0};
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        if (!ends_with(nm, ".gguf") || nm[0] == '.') continue;
        /* later parts of a split file ("-00002-of-00003.gguf") belong to its first part */
        const char *of = strstr(nm, "-of-");
        if (of && of - nm >= 6 && strncmp(of - 6, "-00001", 6) != 0) continue;
        buf_printf(&names, "%s%s", n ? ", " : "", nm);
        n++;
    }
    closedir(d);
    folder_kind k = n == 0 ? FOLDER_NONE : n == 1 ? FOLDER_GGUF : FOLDER_SEVERAL;
    if (k == FOLDER_GGUF) *gguf = path_join(dir, buf_cstr(&names));
    else if (k == FOLDER_SEVERAL) *gguf = strdup(buf_cstr(&names));
    buf_fini(&names);
    return k;
}

/* ---------------------------------------------------------------- entries */

static void model_fini(repo_model *m) {
    json_decref(m->options);
    memset(m, 0, sizeof *m);
}

/* Appends a zeroed entry with OVMS defaults; NULL when out of memory or over the limit. */
static repo_model *new_model(repo_config *c, lm_error *err) {
    if (c->n_models >= LM_REPO_MAX_MODELS) {
        err_set(err, LM_ERR_LIMIT, "more than %u models (LM_REPO_MAX_MODELS)",
                (unsigned)LM_REPO_MAX_MODELS);
        return NULL;
    }
    repo_model *g = realloc(c->models, (c->n_models + 1) * sizeof *g);
    if (!g) {
        nomem(err);
        return NULL;
    }
    c->models = g;
    repo_model *m = &c->models[c->n_models++];
    memset(m, 0, sizeof *m);
    m->max_tokens_limit = -1;
    m->best_of_limit = -1;
    m->max_num_batched_tokens = -1;
    m->dynamic_split_fuse = -1;
    return m;
}

/* Drops entries past n (a failed load leaves earlier results as they were). */
static void truncate_models(repo_config *c, size_t n) {
    while (c->n_models > n) model_fini(&c->models[--c->n_models]);
}

const repo_model *repo_config_find(const repo_config *c, const char *name) {
    for (size_t i = 0; i < c->n_models; i++)
        if (strcmp(c->models[i].cfg.name, name) == 0) return &c->models[i];
    return NULL;
}

void repo_config_fini(repo_config *c) {
    if (!c) return;
    truncate_models(c, 0);
    free(c->models);
    for (size_t i = 0; i < c->n_warnings; i++) free(c->warnings[i]);
    free(c->warnings);
    if (c->store) {
        for (size_t i = 0; i < c->store->n; i++) free(c->store->strs[i]);
        free(c->store->strs);
        free(c->store);
    }
    memset(c, 0, sizeof *c);
}

/* ---------------------------------------------------------------- graph.pbtxt */

/* A calculator option as JSON (see repo_model.options). */
static json_t *field_to_json(const pbtxt_field *f);

static json_t *message_to_json(const pbtxt_field *msg) {
    json_t *obj = json_object();
    if (!obj) return NULL;
    for (const pbtxt_field *f = msg->first; f; f = f->next) {
        json_t *v = field_to_json(f);
        if (!v) v = json_null();
        json_t *prev = json_object_get(obj, f->name);
        if (!prev) {
            json_object_set_new(obj, f->name, v);
        } else if (json_is_array(prev)) { /* only repeats make arrays: values never are */
            json_array_append_new(prev, v);
        } else {
            json_t *arr = json_array();
            json_array_append(arr, prev);
            json_array_append_new(arr, v);
            json_object_set_new(obj, f->name, arr);
        }
    }
    return obj;
}

static json_t *field_to_json(const pbtxt_field *f) {
    switch (f->type) {
    case PBTXT_MESSAGE: return message_to_json(f);
    case PBTXT_STRING: return json_stringn(f->text, f->len); /* NULL for invalid UTF-8 */
    case PBTXT_IDENT:
        if (!strcmp(f->text, "true") || !strcmp(f->text, "True")) return json_true();
        if (!strcmp(f->text, "false") || !strcmp(f->text, "False")) return json_false();
        return json_string(f->text);
    case PBTXT_NUMBER: {
        int64_t v;
        if (pbtxt_get_int(f, INT64_MIN, INT64_MAX, &v, NULL) == LM_OK) return json_integer(v);
        double d;
        if (pbtxt_get_double(f, &d, NULL) == LM_OK && isfinite(d)) return json_real(d);
        return json_string(f->text);
    }
    }
    return NULL;
}

/* How lmserve treats each LLMCalculatorOptions field (llm_calculator.proto in OVMS). */
typedef enum { OPT_USED, OPT_IGNORED } opt_use;
typedef struct {
    const char *name;
    opt_use use;
    const char *why; /* for ignored options: what the warning says */
} opt_row;

static const opt_row llm_options[] = {
    {"models_path", OPT_USED, NULL},
    {"max_num_batched_tokens", OPT_USED, NULL},
    {"cache_size", OPT_USED, NULL},
    {"max_num_seqs", OPT_USED, NULL},
    {"dynamic_split_fuse", OPT_USED, NULL},
    {"device", OPT_USED, NULL},
    {"plugin_config", OPT_USED, NULL},
    {"best_of_limit", OPT_USED, NULL},
    {"max_tokens_limit", OPT_USED, NULL},
    {"enable_prefix_caching", OPT_USED, NULL},
    {"tool_parser", OPT_USED, NULL},
    {"reasoning_parser", OPT_USED, NULL},
    {"pipeline_type", OPT_USED, NULL},
    {"draft_models_path", OPT_IGNORED, "speculative decoding is not supported; ignored"},
    {"draft_device", OPT_IGNORED, "speculative decoding is not supported; ignored"},
    {"draft_max_num_batched_tokens", OPT_IGNORED, "speculative decoding is not supported; ignored"},
    {"draft_cache_size", OPT_IGNORED, "speculative decoding is not supported; ignored"},
    {"draft_block_size", OPT_IGNORED, "speculative decoding is not supported; ignored"},
    {"draft_max_num_seqs", OPT_IGNORED, "speculative decoding is not supported; ignored"},
    {"draft_dynamic_split_fuse", OPT_IGNORED, "speculative decoding is not supported; ignored"},
    {"draft_eagle3_mode", OPT_IGNORED, "speculative decoding is not supported; ignored"},
    {"cache_eviction_config", OPT_IGNORED, "KV cache eviction is not supported; ignored"},
    {"sparse_attention_config", OPT_IGNORED, "sparse attention is not supported; ignored"},
    {"enable_tool_guided_generation", OPT_IGNORED, "guided generation is not supported; ignored"},
    {"cache_interval_multiplier", OPT_IGNORED, "not used by lmserve; ignored"},
    {"chat_template_mode", OPT_IGNORED, "lmserve has one template engine; ignored"},
};

static const opt_row *find_option(const char *name) {
    for (size_t i = 0; i < sizeof llm_options / sizeof llm_options[0]; i++)
        if (strcmp(llm_options[i].name, name) == 0) return &llm_options[i];
    return NULL;
}

/* The context of one graph being read. */
typedef struct {
    repo_config *c;
    repo_model *m;
    const char *base_path;    /* relative models_path is relative to this (OVMS: the graph's
                               * base path, which is graph.pbtxt's folder unless graph_path
                               * points elsewhere) */
    lm_error *err;
} graph_ctx;

/* plugin_config: a JSON object as text; reads MAX_PROMPT_LEN and KV_CACHE_PRECISION. */
static lm_status read_plugin_config(graph_ctx *g, const pbtxt_field *f) {
    const char *text;
    LM_TRY(pbtxt_get_string(f, &text, g->err));
    g->m->plugin_config = keep_str(g->c, text);
    if (!g->m->plugin_config) return nomem(g->err);
    const char *p = text;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (!*p) return LM_OK; /* "" is OVMS's default: no plugin options */
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return pbtxt_error_at(g->err, LM_ERR_FORMAT, f, "not valid JSON: %s (at column %d of the "
                              "string)", je.text, je.column);
    lm_status s = LM_OK;
    if (!json_is_object(root)) {
        s = pbtxt_error_at(g->err, LM_ERR_FORMAT, f, "expected a JSON object, as "
                           "'{\"KV_CACHE_PRECISION\": \"u8\"}'");
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "MAX_PROMPT_LEN") == 0) {
            /* OVMS writes it as a number; a numeric string is accepted as the plugin does */
            long long n = -1;
            if (json_is_integer(v)) {
                n = json_integer_value(v);
            } else if (json_is_string(v)) {
                char *end;
                errno = 0;
                n = strtoll(json_string_value(v), &end, 10);
                if (errno || end == json_string_value(v) || *end) n = -1;
            }
            if (n < 1 || n > (1 << 24)) {
                s = pbtxt_error_at(g->err, LM_ERR_INVALID, f, "MAX_PROMPT_LEN must be an integer "
                                   "in [1, %d]", 1 << 24);
                goto done;
            }
            g->m->cfg.max_prompt_len = (int)n;
        } else if (strcmp(key, "KV_CACHE_PRECISION") == 0) {
            if (!json_is_string(v)) {
                s = pbtxt_error_at(g->err, LM_ERR_INVALID, f, "KV_CACHE_PRECISION must be a string "
                                   "(\"u8\", \"f16\", \"f32\")");
                goto done;
            }
            g->m->kv_cache_precision = keep_str(g->c, json_string_value(v));
            if (!g->m->kv_cache_precision) {
                s = nomem(g->err);
                goto done;
            }
        } else {
            warn_field(g->c, f, "plugin option '%s' is not used by lmserve; ignored", key);
        }
    }
done:
    json_decref(root);
    return s;
}

/* Reads one option the table marks OPT_USED into the entry. */
static lm_status read_option(graph_ctx *g, const pbtxt_field *f) {
    repo_model *m = g->m;
    servable_config *cfg = &m->cfg;
    int64_t v;
    int b;
    const char *s;
    const char *n = f->name;
    if (!strcmp(n, "models_path")) {
        LM_TRY(pbtxt_get_string(f, &s, g->err));
        if (!*s) return pbtxt_error_at(g->err, LM_ERR_INVALID, f, "must not be empty");
        char *full = path_join(g->base_path, s);
        if (!full || !keep(g->c, full)) return nomem(g->err);
        path_kind k = path_stat(full);
        if (k == PATH_MISSING)
            return pbtxt_error_at(g->err, LM_ERR_NOT_FOUND, f, "'%s' (resolved to '%s') does not "
                                  "exist", s, full);
        if (k != PATH_DIR && !(k == PATH_FILE && ends_with(full, ".gguf")))
            return pbtxt_error_at(g->err, LM_ERR_INVALID, f, "'%s' (resolved to '%s') is not a "
                                  "folder nor a .gguf file", s, full);
        cfg->path = full;
    } else if (!strcmp(n, "max_num_seqs")) {
        LM_TRY(pbtxt_get_int(f, 1, 65536, &v, g->err));
        cfg->max_num_seqs = (int)v;
    } else if (!strcmp(n, "cache_size")) {
        LM_TRY(pbtxt_get_int(f, 0, 1 << 20, &v, g->err));
        cfg->cache_size_gb = (double)v;
    } else if (!strcmp(n, "enable_prefix_caching")) {
        LM_TRY(pbtxt_get_bool(f, &b, g->err));
        cfg->enable_prefix_caching = b;
    } else if (!strcmp(n, "max_num_batched_tokens")) {
        LM_TRY(pbtxt_get_int(f, 1, INT32_MAX, &v, g->err));
        m->max_num_batched_tokens = v;
    } else if (!strcmp(n, "dynamic_split_fuse")) {
        LM_TRY(pbtxt_get_bool(f, &b, g->err));
        m->dynamic_split_fuse = b;
    } else if (!strcmp(n, "best_of_limit")) {
        LM_TRY(pbtxt_get_int(f, 0, UINT32_MAX, &v, g->err));
        m->best_of_limit = v;
    } else if (!strcmp(n, "max_tokens_limit")) {
        LM_TRY(pbtxt_get_int(f, 0, UINT32_MAX, &v, g->err));
        m->max_tokens_limit = v;
    } else if (!strcmp(n, "device")) {
        LM_TRY(pbtxt_get_string(f, &s, g->err));
        if (!(m->device = keep_str(g->c, s))) return nomem(g->err);
        if (*s && strcmp(s, "CPU") != 0)
            warn_field(g->c, f, "no %s support: serving this model on the CPU", s);
    } else if (!strcmp(n, "plugin_config")) {
        LM_TRY(read_plugin_config(g, f));
    } else if (!strcmp(n, "tool_parser") || !strcmp(n, "reasoning_parser")) {
        LM_TRY(pbtxt_get_string(f, &s, g->err));
        const char *kept = NULL;
        if (*s && !(kept = keep_str(g->c, s))) return nomem(g->err);
        if (n[0] == 't') cfg->tool_parser = kept;
        else cfg->reasoning_parser = kept;
    } else if (!strcmp(n, "pipeline_type")) {
        LM_TRY(pbtxt_get_ident(f, &s, g->err));
        if (!strcmp(s, "VLM") || !strcmp(s, "VLM_CB") || !strcmp(s, "OMNI"))
            warn_field(g->c, f, "%s pipelines (image or audio input) are not supported; served as "
                       "a text-only model", s);
        else if (strcmp(s, "LM") && strcmp(s, "LM_CB") && strcmp(s, "AUTO"))
            return pbtxt_error_at(g->err, LM_ERR_FORMAT, f, "unknown pipeline type '%s' (expected "
                                  "LM, LM_CB, VLM, VLM_CB, OMNI or AUTO)", s);
    }
    return LM_OK;
}

/* The LLMCalculatorOptions message of an HttpLLMCalculator node, or NULL (error set). */
static const pbtxt_field *find_llm_options(graph_ctx *g, const pbtxt_field *node) {
    const pbtxt_field *found = NULL;
    /* current form: node_options: { [type.googleapis.com/mediapipe.LLMCalculatorOptions]: {...} } */
    for (const pbtxt_field *no = pbtxt_find(node, "node_options"); no; no = pbtxt_find_next(no)) {
        if (no->type != PBTXT_MESSAGE) continue;
        for (const pbtxt_field *f = no->first; f; f = f->next) {
            if (!f->extension || !ends_with(f->name, "/mediapipe.LLMCalculatorOptions")) continue;
            if (found) {
                pbtxt_error_at(g->err, LM_ERR_FORMAT, f, "LLMCalculatorOptions given twice (first "
                               "at %d:%d)", found->line, found->col);
                return NULL;
            }
            found = f;
        }
    }
    /* older form: options: { [mediapipe.LLMCalculatorOptions.ext]: {...} } */
    const pbtxt_field *opts = pbtxt_find(node, "options");
    for (; opts; opts = pbtxt_find_next(opts)) {
        if (opts->type != PBTXT_MESSAGE) continue;
        for (const pbtxt_field *f = opts->first; f; f = f->next) {
            if (!f->extension || strcmp(f->name, "mediapipe.LLMCalculatorOptions.ext") != 0) continue;
            if (found) {
                pbtxt_error_at(g->err, LM_ERR_FORMAT, f, "LLMCalculatorOptions given twice (first "
                               "at %d:%d)", found->line, found->col);
                return NULL;
            }
            found = f;
        }
    }
    if (!found) {
        err_set(g->err, LM_ERR_FORMAT, "%s:%d:%d: node: the HttpLLMCalculator node has no options; "
                "expected node_options: { [type.googleapis.com/mediapipe.LLMCalculatorOptions]: "
                "{ models_path: \"...\" } }", node->source, node->line, node->col);
        return NULL;
    }
    if (found->type != PBTXT_MESSAGE) {
        pbtxt_error_at(g->err, LM_ERR_FORMAT, found, "expected a message ('{ ... }'), found %s",
                       pbtxt_type_name(found->type));
        return NULL;
    }
    return found;
}

/* Reads graph_path (an LLM graph) into the entry g->m. */
static lm_status read_graph(graph_ctx *g, const char *graph_path) {
    pbtxt_doc *doc = NULL;
    LM_TRY(pbtxt_parse_file(graph_path, &doc, g->err));
    lm_status s = LM_OK;
    const pbtxt_field *root = pbtxt_root(doc);
    const pbtxt_field *llm = NULL;
    for (const pbtxt_field *node = pbtxt_find(root, "node"); node; node = pbtxt_find_next(node)) {
        if (node->type != PBTXT_MESSAGE) {
            s = pbtxt_error_at(g->err, LM_ERR_FORMAT, node, "expected a message ('{ ... }'), found %s",
                               pbtxt_type_name(node->type));
            goto done;
        }
        const pbtxt_field *calc = pbtxt_find(node, "calculator");
        const char *name = NULL;
        if (!calc) {
            s = err_set(g->err, LM_ERR_FORMAT, "%s:%d:%d: node: has no calculator", node->source,
                        node->line, node->col);
            goto done;
        }
        if ((s = pbtxt_get_string(calc, &name, g->err)) != LM_OK) goto done;
        if (strcmp(name, "HttpLLMCalculator") != 0) {
            warn_field(g->c, calc, "node with calculator '%s' is not run by lmserve; ignored", name);
            continue;
        }
        if (llm) {
            s = pbtxt_error_at(g->err, LM_ERR_UNSUPPORTED, calc, "a second HttpLLMCalculator node "
                               "(the first is at %d:%d): lmserve serves one model per graph",
                               llm->line, llm->col);
            goto done;
        }
        llm = node;
    }
    if (!llm) {
        s = err_set(g->err, LM_ERR_UNSUPPORTED, "%s: no node with calculator \"HttpLLMCalculator\": "
                    "lmserve serves text generation graphs only", graph_path);
        goto done;
    }
    const pbtxt_field *opts = find_llm_options(g, llm);
    if (!opts) {
        s = g->err->code;
        goto done;
    }
    for (const pbtxt_field *f = opts->first; f; f = f->next) {
        const opt_row *row = find_option(f->name);
        if (!row) {
            warn_field(g->c, f, "unknown LLM calculator option; ignored");
            continue;
        }
        /* every option is optional scalar or message in the proto: a repeat is an error there */
        const pbtxt_field *first = pbtxt_find(opts, f->name);
        if (first != f) {
            s = pbtxt_error_at(g->err, LM_ERR_FORMAT, f, "given twice (first at %d:%d)", first->line,
                               first->col);
            goto done;
        }
        if (row->use == OPT_IGNORED) {
            warn_field(g->c, f, "%s", row->why);
            continue;
        }
        if ((s = read_option(g, f)) != LM_OK) goto done;
    }
    if (!g->m->cfg.path) {
        s = err_set(g->err, LM_ERR_FORMAT, "%s:%d:%d: %s: models_path is required", opts->source,
                    opts->line, opts->col, opts->name);
        goto done;
    }
    g->m->options = message_to_json(opts);
    if (!g->m->options) s = nomem(g->err);
done:
    pbtxt_destroy(doc);
    return s;
}

/* Fills entry m for a model called `name` in folder (or file) `base`. graph_path: the graph to
 * read, or NULL for base/graph.pbtxt when it exists. `where` prefixes messages about base_path
 * ("models/config.json: model_config_list[0].config.base_path"). */
static lm_status fill_model(repo_config *c, repo_model *m, const char *name, const char *base,
                            const char *graph_path, const char *where, lm_error *err) {
    if (!(m->cfg.name = keep_str(c, name)) || !(m->base_path = keep_str(c, base))) return nomem(err);
    path_kind k = path_stat(base);
    if (k == PATH_MISSING)
        return err_set(err, LM_ERR_NOT_FOUND, "%s: '%s' does not exist", where, base);
    char *graph = NULL;
    if (graph_path) {
        graph = path_join(base, graph_path);
        if (!graph || !keep(c, graph)) return nomem(err);
        if (path_stat(graph) != PATH_FILE)
            return err_set(err, LM_ERR_NOT_FOUND, "%s: graph '%s' does not exist", where, graph);
    } else if (k == PATH_DIR) {
        graph = path_join(base, "graph.pbtxt");
        if (!graph || !keep(c, graph)) return nomem(err);
        if (path_stat(graph) != PATH_FILE) graph = NULL;
    }
    if (graph) {
        m->graph_path = graph;
        graph_ctx g = {.c = c, .m = m, .base_path = base, .err = err};
        return read_graph(&g, graph);
    }
    /* no graph: a model file or folder served with default options */
    if (k == PATH_FILE && ends_with(base, ".gguf")) {
        m->cfg.path = m->base_path;
    } else {
        char *gguf = NULL;
        folder_kind fk = k == PATH_DIR ? folder_model(base, &gguf) : FOLDER_NONE;
        if (fk == FOLDER_SEVERAL) {
            lm_status s = err_set(err, LM_ERR_INVALID, "%s: '%s' has no graph.pbtxt and several GGUF "
                                  "models (%s): name one file as the model path", where, base,
                                  gguf ? gguf : "?");
            free(gguf);
            return s;
        }
        if (fk == FOLDER_NONE)
            return err_set(err, LM_ERR_NOT_FOUND, "%s: '%s' has no graph.pbtxt and no model (a .gguf "
                           "file, or a Hugging Face folder with config.json)", where, base);
        if (fk == FOLDER_GGUF && !keep(c, gguf)) return nomem(err);
        m->cfg.path = fk == FOLDER_GGUF ? gguf : m->base_path;
    }
    warn(c, "%s: no graph.pbtxt in '%s': serving model '%s' with default options", where, base,
         name);
    return LM_OK;
}

lm_status repo_add_model(const char *name, const char *base_path, repo_config *out, lm_error *err) {
    size_t n0 = out->n_models;
    repo_model *m = new_model(out, err);
    if (!m) return err->code;
    char where[LM_ERROR_MSG_MAX];
    snprintf(where, sizeof where, "model '%s'", name);
    lm_status s = fill_model(out, m, name, base_path, NULL, where, err);
    if (s != LM_OK) truncate_models(out, n0);
    return s;
}

/* ---------------------------------------------------------------- config.json */

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* Reads an optional string member; LM_OK with *out NULL when absent. */
static lm_status get_str(const json_t *obj, const char *key, const char *path, const char *where,
                         const char **out, lm_error *err) {
    *out = NULL;
    json_t *v = json_object_get(obj, key);
    if (!v) return LM_OK;
    if (!json_is_string(v))
        return err_set(err, LM_ERR_FORMAT, "%s: %s.%s: expected a string, found %s", path, where,
                       key, json_kind(v));
    *out = json_string_value(v);
    if (strlen(*out) != json_string_length(v))
        return err_set(err, LM_ERR_FORMAT, "%s: %s.%s: the string holds a NUL byte", path, where, key);
    return LM_OK;
}

/* Keys of a model_config_list entry's "config" that OVMS uses for classic (non-graph) models. */
static const char *const classic_keys[] = {
    "batch_size", "shape", "layout", "nireq", "target_device", "allow_cache", "plugin_config",
    "model_version_policy", "custom_loader_options", "subconfig", "stateful",
    "idle_sequence_cleanup", "low_latency_transformation", "max_sequence_number",
};

/* One entry: `entry` is the object holding name/base_path/graph_path; `where` names it. */
static lm_status read_entry(repo_config *c, const char *path, const char *dir, json_t *entry,
                            const char *where, int mediapipe, lm_error *err) {
    if (!json_is_object(entry))
        return err_set(err, LM_ERR_FORMAT, "%s: %s: expected an object, found %s", path, where,
                       json_kind(entry));
    const char *name, *base, *graph;
    LM_TRY(get_str(entry, "name", path, where, &name, err));
    LM_TRY(get_str(entry, "base_path", path, where, &base, err));
    LM_TRY(get_str(entry, "graph_path", path, where, &graph, err));
    if (!name) return err_set(err, LM_ERR_FORMAT, "%s: %s: \"name\" is required", path, where);
    if (!*name) return err_set(err, LM_ERR_FORMAT, "%s: %s.name: must not be empty", path, where);
    const repo_model *dup = repo_config_find(c, name);
    if (dup)
        return err_set(err, LM_ERR_INVALID, "%s: %s.name: model '%s' is defined twice", path, where,
                       name);
    const char *key;
    json_t *v;
    json_object_foreach(entry, key, v) {
        if (!strcmp(key, "name") || !strcmp(key, "base_path") || !strcmp(key, "graph_path")) continue;
        int classic = 0;
        for (size_t i = 0; !mediapipe && i < sizeof classic_keys / sizeof classic_keys[0]; i++)
            classic |= !strcmp(key, classic_keys[i]);
        if (classic || (mediapipe && !strcmp(key, "subconfig")))
            warn(c, "%s: %s.%s: not used for LLM graphs; ignored", path, where, key);
        else
            warn(c, "%s: %s.%s: unknown key; ignored", path, where, key);
    }
    /* OVMS: an empty or missing base_path means a folder named after the model */
    char *full = path_join(dir, base && *base ? base : name);
    if (!full || !keep(c, full)) return nomem(err);
    repo_model *m = new_model(c, err);
    if (!m) return err->code;
    char bwhere[LM_ERROR_MSG_MAX];
    snprintf(bwhere, sizeof bwhere, "%s: %s.%s", path, where, base ? "base_path" : "name");
    return fill_model(c, m, name, full, graph && *graph ? graph : NULL, bwhere, err);
}

static lm_status read_list(repo_config *c, const char *path, const char *dir, json_t *root,
                           const char *list, int mediapipe, lm_error *err) {
    json_t *arr = json_object_get(root, list);
    if (!arr) return LM_OK;
    if (!json_is_array(arr))
        return err_set(err, LM_ERR_FORMAT, "%s: %s: expected an array, found %s", path, list,
                       json_kind(arr));
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item) {
        char where[128];
        if (mediapipe) {
            snprintf(where, sizeof where, "%s[%zu]", list, i);
            LM_TRY(read_entry(c, path, dir, item, where, 1, err));
            continue;
        }
        snprintf(where, sizeof where, "%s[%zu]", list, i);
        if (!json_is_object(item))
            return err_set(err, LM_ERR_FORMAT, "%s: %s: expected an object, found %s", path, where,
                           json_kind(item));
        json_t *cfg = json_object_get(item, "config");
        if (!cfg)
            return err_set(err, LM_ERR_FORMAT, "%s: %s: \"config\" is required ({\"config\": "
                           "{\"name\": ..., \"base_path\": ...}})", path, where);
        const char *key;
        json_t *v;
        json_object_foreach(item, key, v)
            if (strcmp(key, "config") != 0) warn(c, "%s: %s.%s: unknown key; ignored", path, where, key);
        snprintf(where, sizeof where, "%s[%zu].config", list, i);
        LM_TRY(read_entry(c, path, dir, cfg, where, 0, err));
    }
    return LM_OK;
}

static lm_status read_monitoring(repo_config *out, const char *path, json_t *mon, lm_error *err);

lm_status repo_load_config(const char *path, repo_config *out, lm_error *err) {
    char *text = NULL;
    size_t len = 0;
    LM_TRY(file_read(path, LM_REPO_MAX_CONFIG_BYTES, &text, &len, err));
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!root) {
        int fresh = err && err->code == LM_OK;
        lm_status s = err_set(err, LM_ERR_FORMAT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        if (fresh) {
            err->line = je.line;
            err->col = je.column;
        }
        return s;
    }
    size_t n0 = out->n_models;
    lm_status s = LM_OK;
    char *dir = path_dir(path);
    if (!dir) {
        s = nomem(err);
    } else if (!json_is_object(root)) {
        s = err_set(err, LM_ERR_FORMAT, "%s: expected a JSON object with \"model_config_list\", "
                    "found %s", path, json_kind(root));
    } else if (!json_object_get(root, "model_config_list") &&
               !json_object_get(root, "mediapipe_config_list")) {
        s = err_set(err, LM_ERR_FORMAT, "%s: \"model_config_list\" is required", path);
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v) {
            if (!strcmp(key, "model_config_list") || !strcmp(key, "mediapipe_config_list")) continue;
            if (!strcmp(key, "monitoring")) {
                s = read_monitoring(out, path, v, err);
                if (s != LM_OK) break;
            } else if (!strcmp(key, "pipeline_config_list") || !strcmp(key, "custom_loader_config_list") ||
                !strcmp(key, "custom_node_library_config_list"))
                warn(out, "%s: %s: not used by lmserve (it serves LLM graphs only); ignored", path, key);
            else
                warn(out, "%s: %s: unknown key; ignored", path, key);
        }
        if (s == LM_OK) s = read_list(out, path, dir, root, "model_config_list", 0, err);
        if (s == LM_OK) s = read_list(out, path, dir, root, "mediapipe_config_list", 1, err);
    }
    free(dir);
    json_decref(root);
    if (s != LM_OK) truncate_models(out, n0);
    return s;
}

/* config.json's "monitoring" (OVMS: read once per process start; a reload does not change it). */
static lm_status read_monitoring(repo_config *out, const char *path, json_t *mon, lm_error *err) {
    if (!json_is_object(mon)) return err_set(err, LM_ERR_FORMAT, "%s: monitoring: expected an object", path);
    const char *key;
    json_t *v;
    json_object_foreach(mon, key, v) {
        if (strcmp(key, "metrics") != 0) warn(out, "%s: monitoring.%s: unknown key; ignored", path, key);
    }
    json_t *m = json_object_get(mon, "metrics");
    if (!m) return LM_OK;
    if (!json_is_object(m)) return err_set(err, LM_ERR_FORMAT, "%s: monitoring.metrics: expected an object", path);
    json_object_foreach(m, key, v) {
        if (!strcmp(key, "enable")) {
            if (!json_is_boolean(v))
                return err_set(err, LM_ERR_FORMAT, "%s: monitoring.metrics.enable: expected true or false", path);
            out->metrics_enable = json_is_true(v);
        } else if (!strcmp(key, "metrics_list")) {
            if (!json_is_array(v))
                return err_set(err, LM_ERR_FORMAT, "%s: monitoring.metrics.metrics_list: expected an array of "
                               "metric names", path);
            size_t i, len = 0;
            json_t *name;
            json_array_foreach(v, i, name) {
                if (!json_is_string(name) || json_string_length(name) == 0 || strchr(json_string_value(name), ','))
                    return err_set(err, LM_ERR_FORMAT, "%s: monitoring.metrics.metrics_list[%zu]: expected a "
                                   "metric name", path, i);
                len += json_string_length(name) + 1;
            }
            char *csv = malloc(len + 1);
            if (!csv) return err_set(err, LM_ERR_NOMEM, "out of memory");
            csv[0] = '\0';
            json_array_foreach(v, i, name) {
                if (i) strcat(csv, ",");
                strcat(csv, json_string_value(name));
            }
            out->metrics_list = keep(out, csv);
            if (!out->metrics_list) return err_set(err, LM_ERR_NOMEM, "out of memory");
        } else {
            warn(out, "%s: monitoring.metrics.%s: unknown key; ignored", path, key);
        }
    }
    return LM_OK;
}

/* ---------------------------------------------------------------- flags */

/* Flags given for a model whose graph sets the options: warn about each that would change
 * something. */
static void warn_flags_over_graph(repo_config *c, const repo_config_opts *o, const repo_model *m) {
    struct {
        const char *name;
        int differs;
    } rows[] = {
        {"max_num_seqs", o->changed_max_num_seqs},
        {"cache_size", o->changed_cache_size},
        {"enable_prefix_caching", o->changed_enable_prefix_caching},
        {"max_prompt_len", o->changed_max_prompt_len},
        {"tool_parser", o->tool_parser != NULL},
        {"reasoning_parser", o->reasoning_parser != NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (rows[i].differs)
            warn(c, "--%s is ignored: %s sets the options of model '%s'", rows[i].name, m->graph_path,
                 m->cfg.name);
}

lm_status repo_config_from_opts(const repo_config_opts *o, repo_config *out, lm_error *err) {
    if (o->config_path && (o->model_path || o->model_name))
        return err_set(err, LM_ERR_INVALID, "use either --config_path or --model_path with "
                       "--model_name, not both");
    if (o->config_path) return repo_load_config(o->config_path, out, err);

    const char *base = NULL, *name = o->model_name;
    char *joined = NULL, *derived = NULL;
    if (o->model_path) {
        base = o->model_path;
    } else if (o->source_model && !o->pull) {
        joined = path_join(o->model_repository_path ? o->model_repository_path : ".", o->source_model);
        if (!joined) return nomem(err);
        base = joined;
        if (!name) name = o->source_model;
    } else if (o->model_name) {
        return err_set(err, LM_ERR_INVALID, "--model_name needs --model_path (or use --config_path)");
    } else {
        return LM_OK; /* nothing asked: the caller serves its demo model */
    }
    if (!name) {
        derived = path_base(base);
        if (!derived) {
            free(joined);
            return nomem(err);
        }
        size_t n = strlen(derived);
        if (n > 5 && ends_with(derived, ".gguf")) derived[n - 5] = '\0';
        name = derived;
        warn(out, "no --model_name: serving '%s' as '%s'", base, name);
    }
    size_t n0 = out->n_models;
    lm_status s = repo_add_model(name, base, out, err);
    if (s == LM_OK) {
        repo_model *m = &out->models[n0];
        if (m->graph_path) {
            warn_flags_over_graph(out, o, m);
        } else {
            m->cfg.max_num_seqs = o->max_num_seqs;
            m->cfg.cache_size_gb = o->cache_size;
            m->cfg.enable_prefix_caching = o->enable_prefix_caching;
            m->cfg.max_prompt_len = o->max_prompt_len;
            if (o->tool_parser && !(m->cfg.tool_parser = keep_str(out, o->tool_parser))) s = nomem(err);
            if (o->reasoning_parser && !(m->cfg.reasoning_parser = keep_str(out, o->reasoning_parser)))
                s = nomem(err);
            if (s != LM_OK) truncate_models(out, n0);
        }
    }
    free(joined);
    free(derived);
    return s;
}
