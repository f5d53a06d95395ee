/* pull.h — OVMS's pull mode: download a model from a Hugging Face hub into the repository and
 * write its graph.pbtxt, as `ovms --pull` does.
 *
 *   lmserve --pull --source_model Qwen/Qwen3-0.6B --model_repository_path models \
 *           --task text_generation [--max_num_seqs N --enable_prefix_caching B --cache_size GB
 *           --max_prompt_len N --tool_parser P --reasoning_parser P --target_device CPU
 *           --cache_dir D] [--overwrite_models]
 *
 * The model lands in <model_repository_path>/<source_model> (org folder included). Files already
 * complete are skipped and partial ones resumed (hub.h), so re-running the command finishes an
 * interrupted pull; graph.pbtxt is rewritten every time from the flags. --overwrite_models
 * deletes the model's folder first. A repository with several .gguf files needs gguf_filename
 * (only that file is fetched, or all parts of a split file "<name>-00001-of-0000N.gguf");
 * models_path in the graph then names it.
 *
 * Without --task, the task is inferred before the weights are fetched: from the "architectures"
 * of the repository's config.json (fetched first) — *ForCausalLM, *LMHeadModel and
 * *ForConditionalGeneration are text_generation, *ForSequenceClassification rerank, *Model and
 * *ForMaskedLM embeddings —, else image_generation for a diffusers model_index.json, else
 * text_generation for a repository of GGUF files. lmserve serves text_generation only: another
 * task, given or inferred, is LM_ERR_UNSUPPORTED. */
#ifndef LM_REPO_PULL_H
#define LM_REPO_PULL_H

#include <stdio.h>

#include "base/error.h"
#include "repo/graph.h"
#include "repo/hub.h"

typedef struct {
    const char *source_model;    /* "org/name" */
    const char *repository_path; /* the folder holding models */
    const char *gguf_filename;   /* NULL: the whole repository */
    int task;                    /* index into --task's choices (0: text_generation); -1: infer */
    int overwrite;               /* delete the model's folder first */
    repo_graph_opts graph;       /* the graph's options (models_path is filled in) */
    hub_opts hub;
    FILE *out;                   /* "Model: ... downloaded to: ...", "Graph: ..." (NULL: none) */
} repo_pull_opts;

/* Downloads and writes the graph. On success, when dir is not NULL, *dir is the model's folder
 * (malloc'd). Errors: those of hub_list/hub_download, LM_ERR_NOT_FOUND for a gguf_filename the
 * repository does not have, LM_ERR_INVALID for a repository with several .gguf files and no
 * gguf_filename (the message lists them), LM_ERR_IO for the folder. */
lm_status repo_pull(const repo_pull_opts *o, char **dir, lm_error *err);

#endif
