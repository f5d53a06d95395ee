/* registry.h — the models one server serves: model name -> servable, with OVMS's load states.
 *
 * At start-up models are added (state START) before the HTTP server starts, so /v1/config can
 * report them while they load; registry_load_all() then loads each in turn (LOADING ->
 * AVAILABLE). While serving, registry_sync() changes the set (live reload of config.json): new
 * and changed models load on background threads while the others keep serving, removed ones
 * stop taking requests at once and unload once their in-flight requests finish. A model whose
 * load failed stays LOADING with `failed` set and the reason (OVMS's FAILED_PRECONDITION); a
 * removed one stays listed as END. Lookups and status reads may come from any thread at any
 * time; a servable a lookup returns stays valid until its finder releases it (servable_release),
 * and every string this header hands out until registry_destroy(), which the owner calls only
 * after the HTTP server has stopped. */
#ifndef LM_SERVING_REGISTRY_H
#define LM_SERVING_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "serving/serving.h"

typedef struct registry registry;

/* One model to serve: what servable_create() needs, plus the request limits of its graph. */
typedef struct {
    servable_config cfg;
    int max_tokens_limit;        /* largest max_tokens a request may ask, and the default; 0: none */
    int best_of_limit;           /* largest n (samples) a request may ask; 0: GEN_MAX_SAMPLES */
} registry_model;

lm_status registry_create(registry **out, lm_error *err);

/* Waits for the loads and unloads registry_sync() started (a load cannot be interrupted), then
 * unloads every servable (UNLOADING -> END) and frees everything. Accepts NULL. */
void registry_destroy(registry *r);

/* Adds a model to serve; its strings are copied. A second model with the same name is
 * LM_ERR_INVALID, a path that does not exist LM_ERR_IO. Must not be called once
 * registry_load_all() has begun. */
lm_status registry_add(registry *r, const registry_model *m, lm_error *err);

/* Loads every added model, one after the other. A model that fails is logged (name, path, reason)
 * and left LOADING with `failed` and its error recorded (/v1/config reports it); the others load
 * and serve. Returns the first failure only when no model loaded at all (err holds it, naming the
 * model and its path), LM_OK otherwise. */
lm_status registry_load_all(registry *r, lm_error *err);

size_t registry_count(const registry *r);

/* A snapshot of one model's status. Strings stay valid until registry_destroy(). */
typedef struct {
    const char *name;
    servable_state state;
    int64_t created;             /* Unix time it became available; 0 before */
    int failed;                  /* its last load failed (state LOADING): error says why */
    const char *error;           /* load error message, "" when none */
} registry_info;

/* Settings every servable gets (servable_config.metrics, .max_queued_requests) unless its own
 * configuration sets them; call before registry_load_all(). */
void registry_set_serving(registry *r, struct metrics *m, int max_queued_requests);

/* Fills *out for model i (0..count-1); returns 0, or -1 when i is out of range. */
int registry_info_at(registry *r, size_t i, registry_info *out);

/* The servable of `name` when it is AVAILABLE, else NULL; *state (may be NULL) receives its
 * state, or -1 for an unknown name; *limits (may be NULL) its request limits (best_of_limit
 * resolved: never 0). A servable returned is retained for the caller, who must hand it back with
 * servable_release() once done with it (its requests count on their own): a model removed by
 * a reload is unloaded only after that. */
servable *registry_find(registry *r, const char *name, int *state, registry_model *limits);

/* 1 when every model of the current configuration is AVAILABLE (and there is at least one). */
int registry_all_ready(registry *r);

/* ---- changing the models while serving ---- */

/* Makes `models` (n entries, names unique) the served set, as a reload of config.json does:
 *   - a model not served yet is added (LOADING) and loaded in the background;
 *   - a served model whose servable_config differs is loaded again in the background while its
 *     current servable keeps serving (it stays AVAILABLE), then swapped in; the old one unloads
 *     once its in-flight requests finish. Changed request limits alone apply at once;
 *   - a model whose last load failed, or that is pending (registry_add_pending), is loaded;
 *   - a model not in `models` stops taking requests at once (UNLOADING) and unloads once its
 *     in-flight requests finish (END);
 *   - models that did not change are not touched and keep serving.
 * A failed load leaves the model LOADING with `failed` and the reason (a changed model's old
 * servable is unloaded then: the state follows the configuration). Returns at once; *changed
 * (may be NULL) is 1 when anything was added, changed or removed. LM_ERR_INVALID (nothing
 * changed) for a model without a name or path, or a name given twice. Several syncs may run one
 * after the other; the last one wins. */
lm_status registry_sync(registry *r, const registry_model *models, size_t n, int *changed, lm_error *err);

/* Adds `name` as LOADING with nothing to load yet (a model still being downloaded): a later
 * registry_sync() naming it loads it, registry_fail() records why it never will. LM_ERR_INVALID
 * when the name is taken. */
lm_status registry_add_pending(registry *r, const char *name, lm_error *err);

/* Marks `name` as failed (LOADING, FAILED_PRECONDITION) with `why`. Unknown names are ignored. */
void registry_fail(registry *r, const char *name, const char *why);

/* Waits up to timeout_ms (-1: forever) until no load or unload started by registry_sync() is
 * under way. Returns 1 when none is, 0 on timeout. */
int registry_wait_settled(registry *r, int timeout_ms);

#endif
