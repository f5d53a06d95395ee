/* manage.h — OVMS's config management mode: add a model to config.json, remove one, list the
 * models in a repository folder, as plain functions; the command the server flags run
 * (`--add_to_config`, `--remove_from_config`, `--list_models`) is cli/'s (cli/serve.h).
 *
 *   lmserve --add_to_config --config_path models/config.json --model_name Qwen/Qwen3-0.6B \
 *           --model_path Qwen/Qwen3-0.6B
 *   lmserve --add_to_config --config_path models/config.json --model_name Qwen/Qwen3-0.6B \
 *           --model_repository_path models          (base_path = models/Qwen/Qwen3-0.6B)
 *   lmserve --remove_from_config --config_path models/config.json --model_name Qwen/Qwen3-0.6B
 *   lmserve --list_models --model_repository_path models
 *
 * OVMS_MODEL_REPOSITORY_PATH, when set and not empty, is the default --model_repository_path,
 * and <it>/config.json the default --config_path, as in OVMS.
 *
 * config.json is rewritten whole (4-space indent, keys in their order), through a temporary
 * file renamed over it, so a server watching the file never reads half of it. Everything else
 * in the file (other lists, other keys) is kept. */
#ifndef LM_REPO_MANAGE_H
#define LM_REPO_MANAGE_H

#include <stddef.h>
#include <stdio.h>

#include "base/error.h"

/* Adds {"config": {"name": name, "base_path": base_path}} to model_config_list of the
 * config.json at `config_path`, creating the file (with just that entry) when it does not exist
 * (its folder must). base_path is written as given (a relative one is relative to the file's
 * folder when served). Fails with LM_ERR_INVALID ("Given model name is already occupied: ...")
 * when either list already has `name`; LM_ERR_FORMAT for a file that is not a config (position
 * given); LM_ERR_IO when it cannot be read or written. */
lm_status repo_config_add(const char *config_path, const char *name, const char *base_path,
                          lm_error *err);

/* Removes the entry named `name` (from model_config_list, or mediapipe_config_list).
 * LM_ERR_NOT_FOUND when the file does not exist ("The provided base path is invalid or doesn't
 * exists: ...") or has no such model ("Model with requested name is not found: ..."). */
lm_status repo_config_remove(const char *config_path, const char *name, lm_error *err);

/* Names of the servables under `repo_path`, sorted: every folder holding graph.pbtxt, named by its
 * path relative to repo_path ("Qwen/Qwen3-0.6B"); folders inside a servable are not searched, nor
 * hidden ones, nor deeper than LM_REPO_MAX_LIST_DEPTH. LM_ERR_NOT_FOUND when repo_path is not a
 * folder ("Path is not a directory: ..."). */
typedef struct {
    char **names;
    size_t n;
} repo_name_list;
lm_status repo_list_models(const char *repo_path, repo_name_list *out, lm_error *err);
void repo_name_list_fini(repo_name_list *l);

/* The base_path --add_to_config writes for model `name` of repository `repo` (config.json at
 * config_path): relative to the config's folder when the repository is that folder, else
 * absolute (OVMS writes "<repo>/<name>", which a relative config path then resolves twice).
 * malloc'd; NULL when out of memory. */
char *repo_model_base_path(const char *config_path, const char *repo, const char *name);

#endif
