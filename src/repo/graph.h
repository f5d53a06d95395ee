/* graph.h — writing the graph.pbtxt of a text generation model, as `ovms --pull` writes it from
 * its task flags (--target_device, --max_num_seqs, --enable_prefix_caching, --cache_size,
 * --max_prompt_len, --tool_parser, --reasoning_parser, --max_num_batched_tokens,
 * --dynamic_split_fuse, --cache_dir, --plugin_config).
 *
 * The output is the graph OVMS writes (same node, streams and option names), so a folder pulled
 * by lmserve can be served by OVMS and the other way round; config.h reads it back. */
#ifndef LM_REPO_GRAPH_H
#define LM_REPO_GRAPH_H

#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"

/* The options written; repo_graph_defaults() gives OVMS's pull defaults. Strings may be NULL
 * (not written). */
typedef struct {
    const char *models_path;        /* relative to the graph's folder: "./" (a Hugging Face
                                     * folder) or "./<file>.gguf" */
    const char *device;             /* "CPU" */
    int64_t max_num_seqs;           /* 256 */
    int enable_prefix_caching;      /* 1 */
    int64_t cache_size;             /* GB; 10 as OVMS's pull writes */
    int64_t max_prompt_len;         /* > 0: plugin_config MAX_PROMPT_LEN */
    const char *kv_cache_precision; /* plugin_config KV_CACHE_PRECISION */
    const char *cache_dir;          /* plugin_config CACHE_DIR */
    const char *plugin_config;      /* a JSON object the keys above are merged into */
    const char *tool_parser;
    const char *reasoning_parser;
    int64_t max_num_batched_tokens; /* > 0: written */
    int dynamic_split_fuse;         /* 0: written as false (true is the default) */
} repo_graph_opts;

repo_graph_opts repo_graph_defaults(void);

/* Appends the graph text to *out. LM_ERR_INVALID for a plugin_config that is not a JSON object,
 * a value out of range (max_num_seqs < 1, cache_size < 0), or a string that is not UTF-8. */
lm_status repo_graph_render(const repo_graph_opts *o, lm_buf *out, lm_error *err);

/* Writes <dir>/graph.pbtxt (replacing it, through a temporary file renamed over it). */
lm_status repo_graph_write(const char *dir, const repo_graph_opts *o, lm_error *err);

#endif
