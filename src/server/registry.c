/* registry.c — model name -> servable, with load states (registry.h). One mutex guards the
 * states; servable pointers never change after loading, so a found servable is used unlocked. */
#include "server/registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "server/oai.h"

typedef struct {
    servable_config cfg;         /* strings owned (copied) */
    int max_tokens_limit, best_of_limit;
    servable *sv;                /* set once loaded */
    servable_state state;
    int64_t created;
    char error[LM_ERROR_MSG_MAX];
} entry;

struct registry {
    pthread_mutex_t mu;
    entry *items;
    size_t n, cap;
};

lm_status registry_create(registry **out, lm_error *err) {
    registry *r = calloc(1, sizeof *r);
    if (!r) return err_set(err, LM_ERR_NOMEM, "out of memory creating the model registry");
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return LM_OK;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void free_cfg_strings(servable_config *c) {
    free((char *)c->name);
    free((char *)c->path);
    free((char *)c->tool_parser);
    free((char *)c->reasoning_parser);
}

void registry_destroy(registry *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        entry *e = &r->items[i];
        if (e->sv) {
            pthread_mutex_lock(&r->mu);
            e->state = SERVABLE_UNLOADING;
            pthread_mutex_unlock(&r->mu);
            servable_destroy(e->sv);
            e->sv = NULL;
        }
        e->state = SERVABLE_END;
        free_cfg_strings(&e->cfg);
    }
    free(r->items);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

lm_status registry_add(registry *r, const registry_model *m, lm_error *err) {
    const servable_config *cfg = &m->cfg;
    if (!cfg->name || !*cfg->name) return err_set(err, LM_ERR_INVALID, "a served model needs a name");
    if (!cfg->path || !*cfg->path) return err_set(err, LM_ERR_INVALID, "model '%s' has no path", cfg->name);
    /* checked here, before the server binds its port, so a mistyped path fails at once */
    if (access(cfg->path, R_OK) != 0)
        return err_set(err, LM_ERR_IO, "model '%s': '%s' does not exist or cannot be read", cfg->name, cfg->path);
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->items[i].cfg.name, cfg->name) == 0)
            return err_set(err, LM_ERR_INVALID, "model name '%s' is used twice", cfg->name);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        entry *items = realloc(r->items, cap * sizeof *items);
        if (!items) return err_set(err, LM_ERR_NOMEM, "out of memory adding model '%s'", cfg->name);
        r->items = items;
        r->cap = cap;
    }
    entry *e = &r->items[r->n];
    memset(e, 0, sizeof *e);
    e->cfg = *cfg;
    e->cfg.name = dup_or_null(cfg->name);
    e->cfg.path = dup_or_null(cfg->path);
    e->cfg.tool_parser = dup_or_null(cfg->tool_parser);
    e->cfg.reasoning_parser = dup_or_null(cfg->reasoning_parser);
    if (!e->cfg.name || !e->cfg.path || (cfg->tool_parser && !e->cfg.tool_parser) ||
        (cfg->reasoning_parser && !e->cfg.reasoning_parser)) {
        free_cfg_strings(&e->cfg);
        return err_set(err, LM_ERR_NOMEM, "out of memory adding model '%s'", cfg->name);
    }
    e->state = SERVABLE_START;
    e->max_tokens_limit = m->max_tokens_limit > 0 ? m->max_tokens_limit : 0;
    e->best_of_limit = m->best_of_limit > 0 && m->best_of_limit < OAI_MAX_N ? m->best_of_limit : OAI_MAX_N;
    pthread_mutex_lock(&r->mu);
    r->n++;
    pthread_mutex_unlock(&r->mu);
    return LM_OK;
}

lm_status registry_load_all(registry *r, lm_error *err) {
    for (size_t i = 0; i < r->n; i++) {
        entry *e = &r->items[i];
        pthread_mutex_lock(&r->mu);
        e->state = SERVABLE_LOADING;
        pthread_mutex_unlock(&r->mu);
        log_info("loading model '%s' from %s", e->cfg.name, e->cfg.path);
        servable *sv = NULL;
        lm_error le;
        err_clear(&le);
        lm_status s = servable_create(&e->cfg, &sv, &le);
        pthread_mutex_lock(&r->mu);
        if (s == LM_OK) {
            e->sv = sv;
            e->state = SERVABLE_AVAILABLE;
            e->created = servable_created(sv);
            if (e->created == 0) e->created = (int64_t)time(NULL);
        } else {
            e->state = SERVABLE_END;
            snprintf(e->error, sizeof e->error, "%s", le.msg);
        }
        pthread_mutex_unlock(&r->mu);
        if (s != LM_OK) return err_set(err, s, "model '%s' (%s): %s", e->cfg.name, e->cfg.path, le.msg);
        log_info("model '%s' is available", e->cfg.name);
    }
    return LM_OK;
}

size_t registry_count(const registry *r) { return r->n; }

int registry_info_at(registry *r, size_t i, registry_info *out) {
    if (i >= r->n) return -1;
    pthread_mutex_lock(&r->mu);
    entry *e = &r->items[i];
    out->name = e->cfg.name;
    out->state = e->state;
    out->created = e->created;
    out->error = e->error;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

servable *registry_find(registry *r, const char *name, int *state, registry_model *limits) {
    servable *sv = NULL;
    int st = -1;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        entry *e = &r->items[i];
        if (strcmp(e->cfg.name, name) == 0) {
            st = (int)e->state;
            if (e->state == SERVABLE_AVAILABLE) sv = e->sv;
            if (limits) {
                limits->cfg = e->cfg;
                limits->max_tokens_limit = e->max_tokens_limit;
                limits->best_of_limit = e->best_of_limit;
            }
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (state) *state = st;
    return sv;
}

int registry_all_ready(registry *r) {
    pthread_mutex_lock(&r->mu);
    int ok = r->n > 0;
    for (size_t i = 0; i < r->n && ok; i++) ok = r->items[i].state == SERVABLE_AVAILABLE;
    pthread_mutex_unlock(&r->mu);
    return ok;
}
