/* registry.h — the models one server serves: model name -> servable, with OVMS's load states.
 *
 * Models are added (state START) before the HTTP server starts, so /v1/config can report them
 * while they load; registry_load_all() then loads each in turn (LOADING -> AVAILABLE, or END with
 * the load error). Lookups and status reads may come from any thread at any time; servables stay
 * valid until registry_destroy(), which the owner calls only after the HTTP server has stopped. */
#ifndef LM_SERVER_REGISTRY_H
#define LM_SERVER_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "serving/serving.h"

typedef struct registry registry;

/* One model to serve: what servable_create() needs, plus the request limits of its graph. */
typedef struct {
    servable_config cfg;
    int max_tokens_limit;        /* largest max_tokens a request may ask, and the default; 0: none */
    int best_of_limit;           /* largest n (samples) a request may ask; 0: OAI_MAX_N */
} registry_model;

lm_status registry_create(registry **out, lm_error *err);

/* Unloads every servable (UNLOADING -> END) and frees everything. Accepts NULL. */
void registry_destroy(registry *r);

/* Adds a model to serve; its strings are copied. A second model with the same name is
 * LM_ERR_INVALID, a path that does not exist LM_ERR_IO. Must not be called once
 * registry_load_all() has begun. */
lm_status registry_add(registry *r, const registry_model *m, lm_error *err);

/* Loads every added model, one after the other. Stops at the first failure: that model is left
 * in SERVABLE_END with its error recorded, and the error is returned. */
lm_status registry_load_all(registry *r, lm_error *err);

size_t registry_count(const registry *r);

/* A snapshot of one model's status. Strings stay valid until registry_destroy(). */
typedef struct {
    const char *name;
    servable_state state;
    int64_t created;             /* Unix time it became available; 0 before */
    const char *error;           /* load error message, "" when none */
} registry_info;

/* Fills *out for model i (0..count-1); returns 0, or -1 when i is out of range. */
int registry_info_at(registry *r, size_t i, registry_info *out);

/* The servable of `name` when it is AVAILABLE, else NULL; *state (may be NULL) receives its
 * state, or -1 for an unknown name; *limits (may be NULL) its request limits (best_of_limit
 * resolved: never 0). */
servable *registry_find(registry *r, const char *name, int *state, registry_model *limits);

/* 1 when every model is AVAILABLE (and there is at least one). */
int registry_all_ready(registry *r);

#endif
