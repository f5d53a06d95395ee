/* registry.c — model name -> servable, with load states (registry.h). One mutex guards the
 * entries. An entry lives until registry_destroy() (a removed model stays listed as END), and
 * strings it replaces go to a graveyard freed only then, so names, errors and limits handed out
 * stay valid without copying. Loads and unloads started by registry_sync() run on threads of
 * their own ("jobs"); each entry has a generation number, bumped whenever what it should be
 * changes, so a job whose result is no longer wanted (the model changed again, or was removed)
 * drops it. */
#include "serving/registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

typedef struct {
    registry_model want;         /* what the model should be (strings owned); cfg.path is NULL
                                  * while it is pending */
    servable *sv;                /* where requests go; NULL unless AVAILABLE */
    servable_state state;
    int listed;                  /* in the current configuration */
    int failed;                  /* the last load failed; error says why */
    unsigned gen;                /* bumped when `want` or `listed` changes */
    int max_tokens_limit, best_of_limit; /* of the servable serving now */
    int64_t created;
    const char *error;           /* owned; "" when none */
} entry;

/* A load (m set) or an unload (old set) on its own thread. */
typedef struct job {
    registry *r;
    entry *e;
    unsigned gen;                /* e->gen when the job was started */
    registry_model m;            /* load: what to load (strings owned) */
    servable *old;               /* unload: what to unload once idle */
    pthread_t thread;
    int done;                    /* guarded by r->mu */
    struct job *next;
} job;

struct registry {
    pthread_mutex_t mu;
    pthread_cond_t settled;      /* signalled when a job ends */
    entry **items;               /* entries never move or go away before registry_destroy */
    size_t n, cap;
    job *jobs;                   /* started, not yet joined */
    int busy;                    /* jobs not done */
    int stopping;                /* registry_destroy began: loads drop their result */
    char **dead;                 /* replaced strings, freed by registry_destroy */
    size_t n_dead, cap_dead;
    struct metrics *metrics;     /* given to every servable (registry_set_serving) */
    int max_queued;
};

void registry_set_serving(registry *r, struct metrics *m, int max_queued_requests) {
    r->metrics = m;
    r->max_queued = max_queued_requests;
}

/* What servable_create gets: the model's configuration plus the registry-wide settings. */
static servable_config serving_config(const registry *r, const servable_config *c) {
    servable_config out = *c;
    if (!out.metrics) out.metrics = r->metrics;
    if (!out.max_queued_requests) out.max_queued_requests = r->max_queued;
    return out;
}

lm_status registry_create(registry **out, lm_error *err) {
    registry *r = calloc(1, sizeof *r);
    if (!r) return err_set(err, LM_ERR_NOMEM, "out of memory creating the model registry");
    pthread_mutex_init(&r->mu, NULL);
    clock_cond_init(&r->settled);
    *out = r;
    return LM_OK;
}

/* ---------------------------------------------------------------- strings */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void free_model_strings(registry_model *m) {
    free((char *)m->cfg.name);
    free((char *)m->cfg.path);
    free((char *)m->cfg.tool_parser);
    free((char *)m->cfg.reasoning_parser);
    memset(&m->cfg, 0, sizeof m->cfg);
}

/* *dst = *src with owned copies of its strings; LM_ERR_NOMEM leaves *dst zeroed. */
static lm_status copy_model(registry_model *dst, const registry_model *src, lm_error *err) {
    *dst = *src;
    dst->cfg.name = dup_or_null(src->cfg.name);
    dst->cfg.path = dup_or_null(src->cfg.path);
    dst->cfg.tool_parser = dup_or_null(src->cfg.tool_parser);
    dst->cfg.reasoning_parser = dup_or_null(src->cfg.reasoning_parser);
    if ((src->cfg.name && !dst->cfg.name) || (src->cfg.path && !dst->cfg.path) ||
        (src->cfg.tool_parser && !dst->cfg.tool_parser) ||
        (src->cfg.reasoning_parser && !dst->cfg.reasoning_parser)) {
        free_model_strings(dst);
        return err_set(err, LM_ERR_NOMEM, "out of memory adding model '%s'", src->cfg.name);
    }
    return LM_OK;
}

/* Keeps a string readers may still hold until registry_destroy(). Caller holds r->mu. */
static void bury(registry *r, const char *s) {
    if (!s) return;
    if (r->n_dead == r->cap_dead) {
        size_t cap = r->cap_dead ? r->cap_dead * 2 : 16;
        char **d = realloc(r->dead, cap * sizeof *d);
        if (!d) return; /* leak it rather than free what a reader may hold */
        r->dead = d;
        r->cap_dead = cap;
    }
    r->dead[r->n_dead++] = (char *)s;
}

static void bury_model(registry *r, registry_model *m) {
    bury(r, m->cfg.name);
    bury(r, m->cfg.path);
    bury(r, m->cfg.tool_parser);
    bury(r, m->cfg.reasoning_parser);
    memset(&m->cfg, 0, sizeof m->cfg);
}

/* Sets e->error (a copy of msg; "" clears it). Caller holds r->mu. */
static void set_error(registry *r, entry *e, const char *msg) {
    if (e->error && *e->error) bury(r, e->error);
    e->error = "";
    if (msg && *msg) {
        char *copy = strdup(msg);
        e->error = copy ? copy : "out of memory recording a load error";
    }
}

static int limit_of(int v, int dflt) { return v > 0 && v < dflt ? v : dflt; }

static void set_limits(entry *e, const registry_model *m) {
    e->max_tokens_limit = m->max_tokens_limit > 0 ? m->max_tokens_limit : 0;
    e->best_of_limit = limit_of(m->best_of_limit, GEN_MAX_SAMPLES);
}

/* ---------------------------------------------------------------- entries */

/* Caller holds r->mu. */
static entry *find_entry(registry *r, const char *name) {
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->items[i]->want.cfg.name, name) == 0) return r->items[i];
    return NULL;
}

/* A new entry named after m (strings copied), appended; NULL on out-of-memory. Caller holds
 * r->mu. */
static entry *new_entry(registry *r, const registry_model *m, lm_error *err) {
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        entry **items = realloc(r->items, cap * sizeof *items);
        if (!items) {
            err_set(err, LM_ERR_NOMEM, "out of memory adding model '%s'", m->cfg.name);
            return NULL;
        }
        r->items = items;
        r->cap = cap;
    }
    entry *e = calloc(1, sizeof *e);
    if (!e) {
        err_set(err, LM_ERR_NOMEM, "out of memory adding model '%s'", m->cfg.name);
        return NULL;
    }
    if (copy_model(&e->want, m, err) != LM_OK) {
        free(e);
        return NULL;
    }
    e->error = "";
    e->listed = 1;
    set_limits(e, m);
    r->items[r->n++] = e;
    return e;
}

void registry_destroy(registry *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    job *jobs = r->jobs;
    r->jobs = NULL;
    pthread_mutex_unlock(&r->mu);
    while (jobs) {
        job *j = jobs;
        jobs = j->next;
        pthread_join(j->thread, NULL);
        free(j);
    }
    for (size_t i = 0; i < r->n; i++) {
        entry *e = r->items[i];
        if (e->sv) {
            pthread_mutex_lock(&r->mu);
            e->state = SERVABLE_UNLOADING;
            pthread_mutex_unlock(&r->mu);
            servable_destroy(e->sv);
            e->sv = NULL;
        }
        e->state = SERVABLE_END;
        free_model_strings(&e->want);
        if (e->error && *e->error) free((char *)e->error);
        free(e);
    }
    for (size_t i = 0; i < r->n_dead; i++) free(r->dead[i]);
    free(r->dead);
    free(r->items);
    pthread_cond_destroy(&r->settled);
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
    pthread_mutex_lock(&r->mu);
    lm_status s = LM_OK;
    if (find_entry(r, cfg->name)) s = err_set(err, LM_ERR_INVALID, "model name '%s' is used twice", cfg->name);
    else if (!new_entry(r, m, err)) s = LM_ERR_NOMEM;
    pthread_mutex_unlock(&r->mu);
    return s;
}

lm_status registry_add_pending(registry *r, const char *name, lm_error *err) {
    if (!name || !*name) return err_set(err, LM_ERR_INVALID, "a served model needs a name");
    registry_model m;
    memset(&m, 0, sizeof m);
    m.cfg.name = name;
    pthread_mutex_lock(&r->mu);
    lm_status s = LM_OK;
    entry *e = NULL;
    if (find_entry(r, name)) s = err_set(err, LM_ERR_INVALID, "model name '%s' is used twice", name);
    else if (!(e = new_entry(r, &m, err))) s = LM_ERR_NOMEM;
    else e->state = SERVABLE_LOADING;
    pthread_mutex_unlock(&r->mu);
    return s;
}

void registry_fail(registry *r, const char *name, const char *why) {
    pthread_mutex_lock(&r->mu);
    entry *e = find_entry(r, name);
    if (e) {
        e->failed = 1;
        e->state = SERVABLE_LOADING;
        set_error(r, e, why);
    }
    pthread_mutex_unlock(&r->mu);
}

lm_status registry_load_all(registry *r, lm_error *err) {
    lm_status first = LM_OK;
    lm_error first_err;
    err_clear(&first_err);
    size_t loaded = 0;
    for (size_t i = 0; i < r->n; i++) {
        entry *e = r->items[i];
        if (e->state != SERVABLE_START) continue;
        pthread_mutex_lock(&r->mu);
        e->state = SERVABLE_LOADING;
        pthread_mutex_unlock(&r->mu);
        log_info("loading model '%s' from %s", e->want.cfg.name, e->want.cfg.path);
        servable *sv = NULL;
        lm_error le;
        err_clear(&le);
        servable_config cfg = serving_config(r, &e->want.cfg);
        lm_status s = servable_create(&cfg, &sv, &le);
        pthread_mutex_lock(&r->mu);
        if (s == LM_OK) {
            e->sv = sv;
            e->state = SERVABLE_AVAILABLE;
            e->created = servable_created(sv);
            if (e->created == 0) e->created = (int64_t)time(NULL);
        } else {
            e->failed = 1;
            set_error(r, e, le.msg);
        }
        pthread_mutex_unlock(&r->mu);
        if (s != LM_OK) { /* one failing model never stops the others */
            log_error("model '%s' failed to load from %s: %s", e->want.cfg.name, e->want.cfg.path, le.msg);
            if (first == LM_OK) {
                first = s;
                err_set(&first_err, s, "model '%s' (%s): %s", e->want.cfg.name, e->want.cfg.path, le.msg);
            }
            continue;
        }
        log_info("model '%s' is available", e->want.cfg.name);
        loaded++;
    }
    if (loaded > 0 || first == LM_OK) return LM_OK;
    return err_set(err, first, "%s", first_err.msg);
}

size_t registry_count(const registry *r) {
    pthread_mutex_lock((pthread_mutex_t *)&r->mu);
    size_t n = r->n;
    pthread_mutex_unlock((pthread_mutex_t *)&r->mu);
    return n;
}

int registry_info_at(registry *r, size_t i, registry_info *out) {
    pthread_mutex_lock(&r->mu);
    int rc = -1;
    if (i < r->n) {
        entry *e = r->items[i];
        out->name = e->want.cfg.name;
        out->state = e->state;
        out->created = e->state == SERVABLE_AVAILABLE ? e->created : 0;
        out->failed = e->failed;
        out->error = e->error;
        rc = 0;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

servable *registry_find(registry *r, const char *name, int *state, registry_model *limits) {
    servable *sv = NULL;
    int st = -1;
    pthread_mutex_lock(&r->mu);
    entry *e = find_entry(r, name);
    if (e) {
        st = (int)e->state;
        if (e->state == SERVABLE_AVAILABLE && e->sv) {
            sv = e->sv;
            servable_retain(sv); /* under mu: a sync cannot retire it before this */
        }
        if (limits) {
            limits->cfg = e->want.cfg;
            limits->max_tokens_limit = e->max_tokens_limit;
            limits->best_of_limit = e->best_of_limit;
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (state) *state = st;
    return sv;
}

int registry_all_ready(registry *r) {
    pthread_mutex_lock(&r->mu);
    int listed = 0, ok = 1;
    for (size_t i = 0; i < r->n; i++) {
        if (!r->items[i]->listed) continue;
        listed++;
        if (r->items[i]->state != SERVABLE_AVAILABLE) ok = 0;
    }
    pthread_mutex_unlock(&r->mu);
    return listed > 0 && ok;
}

/* ---------------------------------------------------------------- jobs */

static void job_end(job *j) {
    registry *r = j->r;
    pthread_mutex_lock(&r->mu);
    j->done = 1;
    r->busy--;
    pthread_cond_broadcast(&r->settled);
    pthread_mutex_unlock(&r->mu);
}

/* Waits for the old servable's users, then unloads it. */
static void unload_idle(const char *name, servable *old) {
    if (!servable_wait_idle(old, 0)) {
        log_info("model '%s': waiting for its requests in flight before unloading", name);
        servable_wait_idle(old, -1);
    }
    servable_destroy(old);
}

static void *unload_main(void *arg) {
    job *j = arg;
    registry *r = j->r;
    entry *e = j->e;
    pthread_mutex_lock(&r->mu);
    char name[256];
    snprintf(name, sizeof name, "%s", e->want.cfg.name);
    pthread_mutex_unlock(&r->mu);
    unload_idle(name, j->old);
    pthread_mutex_lock(&r->mu);
    int ended = e->gen == j->gen && !e->listed;
    if (ended) e->state = SERVABLE_END;
    pthread_mutex_unlock(&r->mu);
    if (ended) log_info("model '%s' is unloaded", name);
    job_end(j);
    return NULL;
}

static void *load_main(void *arg) {
    job *j = arg;
    registry *r = j->r;
    entry *e = j->e;
    const char *name = j->m.cfg.name;
    log_info("loading model '%s' from %s", name, j->m.cfg.path);
    servable *sv = NULL;
    lm_error le;
    err_clear(&le);
    servable_config cfg = serving_config(r, &j->m.cfg);
    lm_status s = servable_create(&cfg, &sv, &le);
    servable *drop = NULL, *old = NULL;
    pthread_mutex_lock(&r->mu);
    int current = e->gen == j->gen && !r->stopping;
    if (!current) {
        drop = sv; /* superseded: nobody ever saw it */
    } else {
        old = e->sv;
        e->sv = NULL;
        if (s == LM_OK) {
            e->sv = sv;
            e->state = SERVABLE_AVAILABLE;
            e->failed = 0;
            set_error(r, e, "");
            set_limits(e, &j->m);
            e->created = servable_created(sv);
            if (e->created == 0) e->created = (int64_t)time(NULL);
        } else {
            e->state = SERVABLE_LOADING;
            e->failed = 1;
            set_error(r, e, le.msg);
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (!current) log_debug("model '%s': a newer configuration superseded this load", name);
    else if (s == LM_OK) log_info("model '%s' is available%s", name, old ? " (reloaded)" : "");
    else log_error("model '%s' failed to load: %s", name, le.msg);
    servable_destroy(drop);
    if (old) unload_idle(name, old);
    free_model_strings(&j->m);
    job_end(j);
    return NULL;
}

/* Starts a job on its own thread. Caller holds r->mu. Returns 0, or -1 when no thread could be
 * started (the job is then freed, its strings too). */
static int job_start(registry *r, job *j, void *(*fn)(void *)) {
    j->r = r;
    r->busy++;
    if (pthread_create(&j->thread, NULL, fn, j) != 0) {
        r->busy--;
        free_model_strings(&j->m);
        free(j);
        return -1;
    }
    j->next = r->jobs;
    r->jobs = j;
    return 0;
}

/* Joins the jobs that are done. */
static void reap_jobs(registry *r) {
    job *done = NULL;
    pthread_mutex_lock(&r->mu);
    for (job **p = &r->jobs; *p;) {
        job *j = *p;
        if (j->done) {
            *p = j->next;
            j->next = done;
            done = j;
        } else {
            p = &j->next;
        }
    }
    pthread_mutex_unlock(&r->mu);
    while (done) {
        job *j = done;
        done = j->next;
        pthread_join(j->thread, NULL);
        free(j);
    }
}

/* Starts loading m into e (a new generation). Caller holds r->mu. */
static void start_load(registry *r, entry *e, const registry_model *m) {
    job *j = calloc(1, sizeof *j);
    lm_error err;
    err_clear(&err);
    if (!j || copy_model(&j->m, m, &err) != LM_OK) {
        free(j);
        e->failed = 1;
        e->state = SERVABLE_LOADING;
        set_error(r, e, "out of memory starting the load");
        return;
    }
    j->e = e;
    j->gen = e->gen;
    if (job_start(r, j, load_main) != 0) {
        e->failed = 1;
        e->state = SERVABLE_LOADING;
        set_error(r, e, "cannot start a thread to load the model");
    }
}

/* Takes e out of service: UNLOADING until its servable is idle and unloaded, then END. Caller
 * holds r->mu. */
static void start_unload(registry *r, entry *e) {
    servable *old = e->sv;
    e->sv = NULL;
    e->failed = 0;
    set_error(r, e, "");
    if (!old) {
        e->state = SERVABLE_END;
        return;
    }
    e->state = SERVABLE_UNLOADING;
    job *j = calloc(1, sizeof *j);
    if (j) {
        j->e = e;
        j->gen = e->gen;
        j->old = old;
        if (job_start(r, j, unload_main) == 0) return;
    }
    /* no thread: the requests it has in flight are cancelled instead of waited for */
    log_warn("model '%s': cannot start an unloading thread; unloading at once", e->want.cfg.name);
    servable_destroy(old);
    e->state = SERVABLE_END;
}

static int same_str(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

/* Whether two configurations load the same servable (keep in step with servable_config). */
static int same_servable(const servable_config *a, const servable_config *b) {
    return same_str(a->path, b->path) && a->weights.format == b->weights.format &&
           a->weights.group_size == b->weights.group_size && a->max_num_seqs == b->max_num_seqs &&
           a->max_prompt_len == b->max_prompt_len && a->n_ctx == b->n_ctx &&
           a->cache_size_gb == b->cache_size_gb && a->enable_prefix_caching == b->enable_prefix_caching &&
           same_str(a->tool_parser, b->tool_parser) && same_str(a->reasoning_parser, b->reasoning_parser);
}

/* Replaces e->want with a copy of m (the old strings are buried). Caller holds r->mu. */
static lm_status set_want(registry *r, entry *e, const registry_model *m, lm_error *err) {
    registry_model copy;
    LM_TRY(copy_model(&copy, m, err));
    bury_model(r, &e->want);
    e->want = copy;
    return LM_OK;
}

lm_status registry_sync(registry *r, const registry_model *models, size_t n, int *changed, lm_error *err) {
    if (changed) *changed = 0;
    for (size_t i = 0; i < n; i++) {
        const servable_config *c = &models[i].cfg;
        if (!c->name || !*c->name) return err_set(err, LM_ERR_INVALID, "model %zu has no name", i);
        if (!c->path || !*c->path) return err_set(err, LM_ERR_INVALID, "model '%s' has no path", c->name);
        for (size_t k = 0; k < i; k++)
            if (strcmp(models[k].cfg.name, c->name) == 0)
                return err_set(err, LM_ERR_INVALID, "model name '%s' is used twice", c->name);
    }
    reap_jobs(r);
    lm_status s = LM_OK;
    int any = 0;
    pthread_mutex_lock(&r->mu);
    /* removed models first: their names may not come back in this sync */
    for (size_t i = 0; i < r->n; i++) {
        entry *e = r->items[i];
        if (!e->listed) continue;
        int kept = 0;
        for (size_t k = 0; k < n && !kept; k++) kept = strcmp(models[k].cfg.name, e->want.cfg.name) == 0;
        if (kept) continue;
        e->listed = 0;
        e->gen++;
        log_info("model '%s' is removed from the configuration", e->want.cfg.name);
        start_unload(r, e);
        any = 1;
    }
    for (size_t k = 0; k < n && s == LM_OK; k++) {
        const registry_model *m = &models[k];
        entry *e = find_entry(r, m->cfg.name);
        if (!e) {
            if (!(e = new_entry(r, m, err))) {
                s = LM_ERR_NOMEM;
                break;
            }
            e->state = SERVABLE_LOADING;
            log_info("model '%s' is added to the configuration", m->cfg.name);
        } else if (!e->listed || e->failed || !e->want.cfg.path || !same_servable(&e->want.cfg, &m->cfg)) {
            if ((s = set_want(r, e, m, err)) != LM_OK) break;
            if (!e->listed) log_info("model '%s' is added to the configuration again", m->cfg.name);
            else if (!e->failed && e->sv) log_info("model '%s' changed: loading it again", m->cfg.name);
            e->listed = 1;
            e->failed = 0;
            set_error(r, e, "");
            if (!e->sv) e->state = SERVABLE_LOADING; /* else the current one serves meanwhile */
        } else {
            if (e->want.max_tokens_limit != m->max_tokens_limit || e->want.best_of_limit != m->best_of_limit) {
                e->want.max_tokens_limit = m->max_tokens_limit;
                e->want.best_of_limit = m->best_of_limit;
                set_limits(e, m);
                any = 1;
            }
            continue;
        }
        e->gen++;
        start_load(r, e, &e->want);
        any = 1;
    }
    pthread_mutex_unlock(&r->mu);
    if (changed) *changed = any;
    return s;
}

int registry_wait_settled(registry *r, int timeout_ms) {
    struct timespec ts = clock_deadline(timeout_ms);
    pthread_mutex_lock(&r->mu);
    while (r->busy > 0) {
        if (timeout_ms < 0) pthread_cond_wait(&r->settled, &r->mu);
        else if (pthread_cond_timedwait(&r->settled, &r->mu, &ts) != 0) break;
    }
    int ok = r->busy == 0;
    pthread_mutex_unlock(&r->mu);
    return ok;
}
