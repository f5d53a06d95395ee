/* reload.h — the served models changing while the server runs: the two repo_manager
 * implementations (serving/registry.h) the server command uses.
 *
 * repo_reloader (--config_path): config.json is read again and applied (registry_sync: new
 * models load in the background while the others keep serving, removed ones unload once their
 * in-flight requests finish, changed ones reload) on POST /v1/config/reload, and by a watcher
 * thread whenever the file, or a graph.pbtxt it names, changes (checked every
 * --file_system_poll_wait_seconds; 0 turns the watcher off). A config.json that cannot be read
 * (bad JSON, a bad entry, a graph that does not parse) changes nothing: the error is logged, and
 * the reload endpoint answers with it. The watcher compares config.json's bytes and each graph's
 * size, modification time and inode, so an edit in place and a rename over the file are both
 * seen; a file being written may be read half-way, fail, and be read again on the next check.
 *
 * repo_fetcher (--source_model without --pull): the model is listed at once as LOADING, pulled
 * into <--model_repository_path>/<source_model> on a background thread (pull.h: complete files
 * skipped, partial ones resumed, graph.pbtxt written from the flags) while the server answers
 * liveness and status, then loaded and served. When the hub cannot be reached but the folder
 * already holds a graph.pbtxt, what is there is served (with a warning). A pull or load that fails
 * ends the server with exit code 1, as a failed load at start-up does. */
#ifndef LM_REPO_RELOAD_H
#define LM_REPO_RELOAD_H

#include "base/error.h"
#include "repo/config.h"
#include "repo/pull.h"
#include "serving/registry.h"

/* ---- the manager interface ---- */

/* The owner of a registry's model set while the program runs: the config.json watcher and the
 * download behind --source_model below implement it. The program's wiring calls start()
 * once the port is open and the initial models are loaded, and stop() on shutdown before the
 * models are unloaded; the HTTP server calls reload() for POST /v1/config/reload (on an HTTP
 * worker: it must not block for long; loads go to the background). A manager may ask the program
 * to end early through ended(), which the wiring's main loop reads; stop()'s return value is
 * then the exit code. Any function may be NULL. */
typedef struct {
    lm_status (*start)(void *ctx, registry *models, lm_error *err);
    /* Re-reads the configuration and applies it (registry_sync); *changed = 1 when models were
     * added, changed or removed. An error leaves the models as they were. */
    lm_status (*reload)(void *ctx, int *changed, lm_error *err);
    /* Stops the background work; returns the exit code (0 for a normal shutdown). */
    int (*stop)(void *ctx);
    /* 1 once the manager wants the program to end (a download or load it owns failed). Any
     * thread. */
    int (*ended)(void *ctx);
    void *ctx;
} repo_manager;

/* What the registry needs of one configured model (its request limits clamped to int). */
void repo_model_to_registry(const repo_model *m, registry_model *out);

/* ---- config.json ---- */

typedef struct repo_reloader repo_reloader;

/* For the config.json at config_path (copied), checked every poll_s seconds (0: never). Nothing
 * runs until the manager's start(). */
lm_status repo_reloader_create(const char *config_path, int poll_s, repo_reloader **out, lm_error *err);

/* The manager to hand to the server and the wiring (valid as long as rl). */
const repo_manager *repo_reloader_manager(repo_reloader *rl);

/* Reads config.json and applies it now (what the endpoint and the watcher call); *changed as
 * registry_sync() says. Needs the manager started. Errors: those of repo_load_config() and
 * registry_sync(); the models are left as they were. */
lm_status repo_reloader_reload(repo_reloader *rl, int *changed, lm_error *err);

/* Stops the watcher (if the manager's stop() did not) and frees. Accepts NULL. */
void repo_reloader_destroy(repo_reloader *rl);

/* ---- --source_model ---- */

typedef struct repo_fetcher repo_fetcher;

/* Pulls with *pull (copied; its strings are borrowed and must outlive the fetcher: source_model,
 * repository_path, the task and graph options; hub and out are the fetcher's) and serves the
 * model as model_name (NULL: the source model). LM_ERR_INVALID when source_model or
 * repository_path is NULL. A pull or load that fails raises the manager's ended() (exit code 1
 * from stop()). */
lm_status repo_fetcher_create(const repo_pull_opts *pull, const char *model_name, repo_fetcher **out,
                              lm_error *err);

const repo_manager *repo_fetcher_manager(repo_fetcher *f);

/* Stops the pull (if the manager's stop() did not) and frees. Accepts NULL. */
void repo_fetcher_destroy(repo_fetcher *f);

#endif
