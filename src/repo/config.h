/* config.h — what to serve: OVMS's config.json and graph.pbtxt files, or the direct flags,
 * turned into one list of servable_config (serving/serving.h).
 *
 * config.json (OVMS "multi model" configuration):
 *
 *   { "model_config_list": [ {"config": {"name": "Qwen/Qwen3-0.6B", "base_path": "Qwen/Qwen3-0.6B"}} ],
 *     "mediapipe_config_list": [ {"name": "x", "base_path": "dir", "graph_path": "g.pbtxt"} ] }
 *
 * Both lists are read (mediapipe_config_list is OVMS's older, deprecated form). For every entry:
 * base_path defaults to the name; a relative base_path is relative to the folder of config.json;
 * graph_path defaults to "graph.pbtxt" and a relative one is relative to base_path. Names must be
 * unique across both lists.
 *
 * graph.pbtxt: the MediaPipe graph with one node whose calculator is HttpLLMCalculator; its
 * options ([type.googleapis.com/mediapipe.LLMCalculatorOptions] under node_options, or the older
 * [mediapipe.LLMCalculatorOptions.ext] under options) give models_path (required; a Hugging Face
 * folder or a .gguf file; a relative path is relative to base_path, as in OVMS) and the serving
 * options. A base_path without graph.pbtxt that holds a model (a .gguf file, a folder with
 * config.json, or a folder with one GGUF model: cfg.path then names its file, or a split file's
 * first part) is served with default options, and a warning says so.
 *
 * Options lmserve does not use (speculative decoding, cache eviction, other devices, ...) and
 * options it does not know are never dropped silently: each adds a warning, with file, line and
 * column, to the list returned. Errors (LM_ERR_IO, LM_ERR_FORMAT, LM_ERR_INVALID, LM_ERR_LIMIT,
 * LM_ERR_NOT_FOUND, LM_ERR_UNSUPPORTED) name the file, the key and its position: a line and
 * column for graph.pbtxt and for JSON syntax errors, the entry ("model_config_list[2].config.
 * base_path") for JSON values.
 *
 * Nothing here loads weights: servable_create() does that with each entry's `cfg`. */
#ifndef LM_REPO_CONFIG_H
#define LM_REPO_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "serving/serving.h"

/* One model to serve. Every string is owned by the repo_config holding the entry. */
typedef struct {
    servable_config cfg;          /* what servable_create() needs; cfg.name and cfg.path set */
    const char *base_path;        /* the model's folder (or file) as resolved */
    const char *graph_path;       /* the graph.pbtxt read, NULL when there was none */
    /* LLM calculator options servable_config has no field for; -1 / NULL when not given */
    int64_t max_tokens_limit;     /* largest max_tokens a request may ask for */
    int64_t best_of_limit;        /* largest best_of a request may ask for (OVMS default 20) */
    int64_t max_num_batched_tokens; /* tokens in one engine step (OVMS default 256) */
    int dynamic_split_fuse;       /* 1/0; -1 when not given (OVMS default on) */
    const char *device;           /* "CPU" (others are warned about and served on the CPU) */
    const char *plugin_config;    /* the plugin_config JSON text as written */
    const char *kv_cache_precision; /* plugin_config KV_CACHE_PRECISION ("u8", "f16", ...) */
    json_t *options;              /* every calculator option, as JSON (strings, numbers, true/
                                   * false, objects for messages, arrays for repeated fields);
                                   * owned; NULL when there was no graph */
} repo_model;

/* The models to serve plus the warnings found while reading them. Zero it before the first
 * load; repo_config_fini() frees it. */
typedef struct {
    repo_model *models;
    size_t n_models;
    char **warnings;              /* "<file>:<line>:<col>: <message>" or "<file>: <message>" */
    size_t n_warnings;
    /* config.json "monitoring": {"metrics": {"enable": bool, "metrics_list": [names]}} */
    int metrics_enable;           /* 1 when monitoring.metrics.enable is true */
    const char *metrics_list;     /* its metrics_list joined with commas; NULL when absent */
    struct repo_config_store *store; /* owned strings (private) */
} repo_config;

/* Reads config.json at `path` and the graph of every entry, appending to *out (which must be
 * zeroed or hold earlier results). On failure *out is left as it was, except that warnings found
 * before the failure may have been added; the caller still calls repo_config_fini(). */
lm_status repo_load_config(const char *path, repo_config *out, lm_error *err);

/* Adds one model named `name` whose folder (or .gguf file) is `base_path`, reading
 * base_path/graph.pbtxt when it exists (the servable --model_path names). */
lm_status repo_add_model(const char *name, const char *base_path, repo_config *out, lm_error *err);

/* What to serve, as the server's flags say it (cli/ builds this from the command line). */
typedef struct {
    const char *config_path;
    const char *model_path;
    const char *model_name;
    const char *source_model;
    const char *model_repository_path;
    int pull;                     /* --pull: source_model is downloaded, not served */
    /* the text generation options of a model without a graph.pbtxt */
    int max_num_seqs;
    double cache_size;
    int enable_prefix_caching;
    int max_prompt_len;
    const char *tool_parser;      /* NULL: none */
    const char *reasoning_parser; /* NULL: none */
    /* which of the four above differ from their defaults (a graph.pbtxt overrides them, with a
     * warning for each); tool_parser and reasoning_parser count when not NULL */
    int changed_max_num_seqs, changed_cache_size, changed_enable_prefix_caching, changed_max_prompt_len;
} repo_config_opts;

/* Builds the list the options ask for, so the program has one path:
 *   config_path P              repo_load_config(P)
 *   model_path M               repo_add_model(model_name, M); without model_name the name is
 *                              M's last component (".gguf" dropped), with a warning
 *   source_model S (no pull)   the same for <model_repository_path>/S, named S unless
 *                              model_name says otherwise (the caller downloads it first)
 *   none of these              an empty list (the caller serves its demo model)
 * A model folder with a graph.pbtxt is served with the graph's options; the text generation
 * options (max_num_seqs, cache_size, enable_prefix_caching, max_prompt_len, tool_parser,
 * reasoning_parser) then only add a warning ("--<flag> is ignored: ...") when changed. Without a
 * graph, the options apply. config_path together with model_path or model_name is
 * LM_ERR_INVALID, as in OVMS. */
lm_status repo_config_from_opts(const repo_config_opts *o, repo_config *out, lm_error *err);

/* Frees everything; *c is zeroed and reusable. Accepts a zeroed struct. */
void repo_config_fini(repo_config *c);

/* The model named `name`, or NULL. */
const repo_model *repo_config_find(const repo_config *c, const char *name);

#endif
