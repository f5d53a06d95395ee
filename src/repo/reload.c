/* reload.c — the config.json reloader (watcher thread and POST /v1/config/reload) and the
 * --source_model fetcher (pull on a thread, then serve): reload.h. What a change does to the
 * served models is the registry's business (registry_sync); this file decides when to read the
 * files and turns them into the registry's list. */
#include "repo/reload.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/file.h"
#include "base/limits.h"
#include "base/log.h"
#include "repo/pull.h"

void repo_model_to_registry(const repo_model *m, registry_model *out) {
    memset(out, 0, sizeof *out);
    out->cfg = m->cfg;
    out->max_tokens_limit = m->max_tokens_limit > 0 && m->max_tokens_limit <= INT32_MAX ? (int)m->max_tokens_limit : 0;
    out->best_of_limit = m->best_of_limit > 0 && m->best_of_limit <= INT32_MAX ? (int)m->best_of_limit : 0;
}

/* Applies a read configuration to the registry. */
static lm_status apply(registry *reg, const repo_config *c, int *changed, lm_error *err) {
    registry_model *models = calloc(c->n_models ? c->n_models : 1, sizeof *models);
    if (!models) return err_set(err, LM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < c->n_models; i++) repo_model_to_registry(&c->models[i], &models[i]);
    lm_status s = registry_sync(reg, models, c->n_models, changed, err);
    free(models);
    return s;
}

/* Waits up to `seconds` on cv, or until *stop. Caller holds mu. */
static void wait_or_stop(pthread_mutex_t *mu, pthread_cond_t *cv, const int *stop, int seconds) {
    struct timespec ts = clock_deadline((int64_t)seconds * 1000);
    while (!*stop)
        if (pthread_cond_timedwait(cv, mu, &ts) != 0) break;
}

/* ---------------------------------------------------------------- config.json */

struct repo_reloader {
    repo_manager mgr;
    char *path;
    int poll_s;
    registry *reg;               /* set by start() */
    pthread_mutex_t mu;          /* one reload at a time; guards sig and graphs */
    uint64_t sig;                /* signature of the files when last read */
    char **graphs;               /* graph.pbtxt files of the last configuration read well */
    size_t n_graphs;
    pthread_t watcher;
    int watching;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int stop;
};

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

#define FNV_BASIS 0xcbf29ce484222325ull

/* A hash of config.json's bytes. */
static uint64_t config_hash(const char *path) {
    size_t len = 0;
    char *text = file_read_all(path, LM_REPO_MAX_CONFIG_BYTES, &len);
    uint64_t h = text ? fnv1a(FNV_BASIS, text, len) : fnv1a(FNV_BASIS, "\0missing", 8);
    free(text);
    return h;
}

/* What the watcher compares: config.json's hash (cfg) and each graph's size, mtime and inode.
 * Caller holds rl->mu. */
static uint64_t signature(const repo_reloader *rl, uint64_t cfg) {
    uint64_t h = fnv1a(FNV_BASIS, &cfg, sizeof cfg);
    for (size_t i = 0; i < rl->n_graphs; i++) {
        struct stat st;
        int64_t v[4] = {-1, -1, -1, -1};
        if (stat(rl->graphs[i], &st) == 0) {
            v[0] = (int64_t)st.st_size;
            v[1] = (int64_t)st.st_mtim.tv_sec;
            v[2] = (int64_t)st.st_mtim.tv_nsec;
            v[3] = (int64_t)st.st_ino;
        }
        h = fnv1a(h, v, sizeof v);
    }
    return h;
}

static void free_graphs(repo_reloader *rl) {
    for (size_t i = 0; i < rl->n_graphs; i++) free(rl->graphs[i]);
    free(rl->graphs);
    rl->graphs = NULL;
    rl->n_graphs = 0;
}

/* Remembers the graph files of c, for the signature. Caller holds rl->mu. */
static void keep_graphs(repo_reloader *rl, const repo_config *c) {
    free_graphs(rl);
    rl->graphs = calloc(c->n_models ? c->n_models : 1, sizeof *rl->graphs);
    if (!rl->graphs) return;
    for (size_t i = 0; i < c->n_models; i++)
        if (c->models[i].graph_path && (rl->graphs[rl->n_graphs] = strdup(c->models[i].graph_path)))
            rl->n_graphs++;
}

/* Reads and applies config.json. Caller holds rl->mu. */
static lm_status reload_locked(repo_reloader *rl, int *changed, lm_error *err) {
    if (changed) *changed = 0;
    /* hashed before it is read: a write that lands meanwhile shows as a change next time (a graph
     * is stat'ed after it was read; an edit in that instant waits for the next one) */
    uint64_t cfg = config_hash(rl->path);
    repo_config c = {0};
    lm_status s = repo_load_config(rl->path, &c, err);
    for (size_t i = 0; i < c.n_warnings; i++) log_warn("%s", c.warnings[i]);
    if (s == LM_OK) {
        keep_graphs(rl, &c);
        s = apply(rl->reg, &c, changed, err);
    }
    rl->sig = signature(rl, cfg);
    repo_config_fini(&c);
    if (s != LM_OK) log_error("reloading %s failed; the served models did not change: %s", rl->path, err->msg);
    return s;
}

lm_status repo_reloader_reload(repo_reloader *rl, int *changed, lm_error *err) {
    if (!rl->reg) return err_set(err, LM_ERR_INTERNAL, "the reloader is not started");
    pthread_mutex_lock(&rl->mu);
    lm_status s = reload_locked(rl, changed, err);
    pthread_mutex_unlock(&rl->mu);
    return s;
}

static void *watch_main(void *arg) {
    repo_reloader *rl = arg;
    pthread_mutex_lock(&rl->stop_mu);
    for (;;) {
        wait_or_stop(&rl->stop_mu, &rl->stop_cv, &rl->stop, rl->poll_s);
        if (rl->stop) break;
        pthread_mutex_unlock(&rl->stop_mu);
        pthread_mutex_lock(&rl->mu);
        if (signature(rl, config_hash(rl->path)) != rl->sig) {
            log_info("%s changed: reloading", rl->path);
            lm_error err;
            err_clear(&err);
            int changed = 0;
            if (reload_locked(rl, &changed, &err) == LM_OK && !changed)
                log_info("%s: no model changed", rl->path);
        }
        pthread_mutex_unlock(&rl->mu);
        pthread_mutex_lock(&rl->stop_mu);
    }
    pthread_mutex_unlock(&rl->stop_mu);
    return NULL;
}

static lm_status reloader_start(void *ctx, registry *models, lm_error *err) {
    repo_reloader *rl = ctx;
    pthread_mutex_lock(&rl->mu);
    rl->reg = models;
    /* The server loaded what the file said a moment ago: applying it again changes nothing, unless
     * it was edited since, and records its signature. A failure is logged, and not fatal. */
    lm_error ignored;
    err_clear(&ignored);
    reload_locked(rl, NULL, &ignored);
    pthread_mutex_unlock(&rl->mu);
    if (rl->poll_s > 0) {
        if (pthread_create(&rl->watcher, NULL, watch_main, rl) != 0)
            return err_set(err, LM_ERR_INTERNAL, "cannot start the thread that watches %s", rl->path);
        rl->watching = 1;
        log_info("watching %s for changes every %d s", rl->path, rl->poll_s);
    }
    return LM_OK;
}

static lm_status reloader_reload(void *ctx, int *changed, lm_error *err) {
    return repo_reloader_reload(ctx, changed, err);
}

static int reloader_stop(void *ctx) {
    repo_reloader *rl = ctx;
    pthread_mutex_lock(&rl->stop_mu);
    rl->stop = 1;
    pthread_cond_broadcast(&rl->stop_cv);
    pthread_mutex_unlock(&rl->stop_mu);
    if (rl->watching) pthread_join(rl->watcher, NULL);
    rl->watching = 0;
    return 0;
}

lm_status repo_reloader_create(const char *config_path, int poll_s, repo_reloader **out, lm_error *err) {
    *out = NULL;
    repo_reloader *rl = calloc(1, sizeof *rl);
    if (!rl || !(rl->path = strdup(config_path))) {
        free(rl);
        return err_set(err, LM_ERR_NOMEM, "out of memory");
    }
    rl->poll_s = poll_s > 0 ? poll_s : 0;
    pthread_mutex_init(&rl->mu, NULL);
    pthread_mutex_init(&rl->stop_mu, NULL);
    clock_cond_init(&rl->stop_cv);
    rl->mgr = (repo_manager){reloader_start, reloader_reload, reloader_stop, NULL, rl};
    *out = rl;
    return LM_OK;
}

const repo_manager *repo_reloader_manager(repo_reloader *rl) { return &rl->mgr; }

void repo_reloader_destroy(repo_reloader *rl) {
    if (!rl) return;
    reloader_stop(rl);
    free_graphs(rl);
    pthread_mutex_destroy(&rl->mu);
    pthread_mutex_destroy(&rl->stop_mu);
    pthread_cond_destroy(&rl->stop_cv);
    free(rl->path);
    free(rl);
}

/* ---------------------------------------------------------------- --source_model */

struct repo_fetcher {
    repo_manager mgr;
    repo_pull_opts pull;         /* strings borrowed from the creator */
    const char *source_model;
    const char *repository;
    const char *name;            /* what clients call it */
    registry *reg;
    pthread_t thread;
    int started;
    atomic_int stop;             /* the hub client polls it */
    int exit_code;               /* set by the thread before it raises `ended` */
    atomic_int ended;            /* the pull or load failed: the program should end */
};

/* Reports a failure and asks the program to end (the wiring's main loop reads `ended` through
 * the manager; nothing here sends a signal). */
static void fetch_failed(repo_fetcher *f, const char *what, const char *why) {
    registry_fail(f->reg, f->name, why);
    fprintf(stderr, "lmserve: %s %s failed: %s\n", what, f->source_model, why);
    f->exit_code = 1;
    atomic_store(&f->ended, 1);
}

/* Waits for the load registry_sync() started, checking f->stop. Returns 1 when it succeeded. */
static int wait_loaded(repo_fetcher *f, char *why, size_t cap) {
    while (!f->stop && !registry_wait_settled(f->reg, 200)) {}
    registry_info info;
    for (size_t i = 0; registry_info_at(f->reg, i, &info) == 0; i++) {
        if (strcmp(info.name, f->name) != 0) continue;
        if (!info.failed) return info.state == SERVABLE_AVAILABLE;
        snprintf(why, cap, "%s", info.error);
        return 0;
    }
    snprintf(why, cap, "the model is gone");
    return 0;
}

static void *fetch_main(void *arg) {
    repo_fetcher *f = arg;
    repo_pull_opts p = f->pull;
    p.hub = (hub_opts){.retries = -1, .progress = 0, .log = stderr, .stop = &f->stop};
    log_info("pulling %s into %s/%s", f->source_model, f->repository, f->source_model);
    lm_error err;
    err_clear(&err);
    char *dir = NULL;
    lm_status s = repo_pull(&p, &dir, &err);
    if (s != LM_OK && f->stop) return NULL; /* shutting down: the .part files stay for next time */
    if (s == LM_ERR_IO) {
        /* offline, or the hub is down: serve what an earlier pull left, if it is complete */
        char graph[4200];
        snprintf(graph, sizeof graph, "%s/%s/graph.pbtxt", f->repository, f->source_model);
        if (access(graph, R_OK) == 0) {
            log_warn("pulling %s failed (%s); serving the copy in %s/%s", f->source_model, err.msg,
                     f->repository, f->source_model);
            size_t n = strlen(graph) - strlen("/graph.pbtxt");
            dir = strndup(graph, n);
            s = dir ? LM_OK : err_set(&err, LM_ERR_NOMEM, "out of memory");
        }
    }
    if (s != LM_OK) {
        fetch_failed(f, "pulling", err.msg);
        return NULL;
    }
    log_info("%s is in %s", f->source_model, dir);
    repo_config c = {0};
    err_clear(&err);
    s = repo_add_model(f->name, dir, &c, &err);
    for (size_t i = 0; i < c.n_warnings; i++) log_warn("%s", c.warnings[i]);
    if (s == LM_OK) s = apply(f->reg, &c, NULL, &err);
    repo_config_fini(&c);
    free(dir);
    if (s != LM_OK) {
        fetch_failed(f, "serving", err.msg);
        return NULL;
    }
    char why[LM_ERROR_MSG_MAX];
    if (!wait_loaded(f, why, sizeof why) && !f->stop) fetch_failed(f, "loading", why);
    return NULL;
}

static lm_status fetcher_start(void *ctx, registry *models, lm_error *err) {
    repo_fetcher *f = ctx;
    f->reg = models;
    LM_TRY(registry_add_pending(models, f->name, err));
    if (pthread_create(&f->thread, NULL, fetch_main, f) != 0)
        return err_set(err, LM_ERR_INTERNAL, "cannot start the thread that pulls %s", f->source_model);
    f->started = 1;
    return LM_OK;
}

static int fetcher_ended(void *ctx) {
    repo_fetcher *f = ctx;
    return atomic_load(&f->ended);
}

static int fetcher_stop(void *ctx) {
    repo_fetcher *f = ctx;
    atomic_store(&f->stop, 1);
    if (f->started) pthread_join(f->thread, NULL);
    f->started = 0;
    return f->exit_code;
}

lm_status repo_fetcher_create(const repo_pull_opts *pull, const char *model_name, repo_fetcher **out,
                              lm_error *err) {
    *out = NULL;
    if (!pull->source_model) return err_set(err, LM_ERR_INVALID, "--source_model is not set");
    if (!pull->repository_path)
        return err_set(err, LM_ERR_INVALID, "--source_model needs --model_repository_path (the folder to pull "
                       "into) or OVMS_MODEL_REPOSITORY_PATH");
    repo_fetcher *f = calloc(1, sizeof *f);
    if (!f) return err_set(err, LM_ERR_NOMEM, "out of memory");
    f->pull = *pull;
    f->source_model = pull->source_model;
    f->repository = pull->repository_path;
    f->name = model_name ? model_name : pull->source_model;
    f->mgr = (repo_manager){fetcher_start, NULL, fetcher_stop, fetcher_ended, f};
    *out = f;
    return LM_OK;
}

const repo_manager *repo_fetcher_manager(repo_fetcher *f) { return &f->mgr; }

void repo_fetcher_destroy(repo_fetcher *f) {
    if (!f) return;
    fetcher_stop(f);
    free(f);
}
