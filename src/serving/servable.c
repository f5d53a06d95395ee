/* servable.c — loading a model for serving: weights, tokenizer, chat template, generation
 * defaults, the engine and its KV cache; the servable's users and lifetime. The generation loop
 * that drives the engine is scheduler.c. */
#include "serving/serving_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "model/source.h"
#include "serving/parsers.h"
#include "serving/replay_load.h"

#define DEFAULT_MAX_SEQS 256      /* OVMS's max_num_seqs default */
#define DEFAULT_KV_BYTES (2.0 * 1024 * 1024 * 1024) /* default KV cache budget: 2 GiB */

/* ---- loading ------------------------------------------------------------------------------- */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* generation_config.json, as the model source parsed it. */
static void load_defaults(servable *s, const model_source *src) {
    const char *why = model_source_generation_error(src);
    if (*why) log_warn("%s: ignoring generation_config.json: %s", s->name, why);
    const hfconfig_generation *g = model_source_generation(src);
    if (!g->present) return;
    gen_defaults *d = &s->defaults;
    if (g->has_temperature) { d->has_temperature = 1; d->temperature = (float)g->temperature; }
    if (g->has_top_p) { d->has_top_p = 1; d->top_p = (float)g->top_p; }
    if (g->has_top_k) { d->has_top_k = 1; d->top_k = (int)g->top_k; }
    if (g->has_repetition_penalty) {
        d->has_repetition_penalty = 1;
        d->repetition_penalty = (float)g->repetition_penalty;
    }
    if (g->has_max_new_tokens) { d->has_max_new_tokens = 1; d->max_new_tokens = (int)g->max_new_tokens; }
    for (uint32_t i = 0; i < g->n_eos && s->n_eos < SERVABLE_MAX_EOS; i++)
        s->eos[s->n_eos++] = (int32_t)g->eos_token_ids[i];
}

static lm_status make_engine(servable *s, lm_error *err) {
    const model_hparams *hp = &s->m->hp;
    engine_params p = engine_params_default();
    p.n_ctx = s->n_ctx;
    p.max_seqs = s->max_seqs;
    p.max_batch_tokens = SERVING_STEP_TOKENS;
    int blocks_per_seq = (s->n_ctx + p.block_size - 1) / p.block_size;
    size_t block_bytes = 2 * (size_t)hp->n_layer * (size_t)p.block_size *
                         (size_t)hp->n_head_kv * (size_t)hp->head_dim * 2 /* f16 */;
    int64_t n_blocks;
    if (s->cfg.cache_size_gb > 0)
        n_blocks = (int64_t)(s->cfg.cache_size_gb * 1e9 / (double)block_bytes);
    else { /* every sequence at full context if that fits the budget, else as many blocks as fit */
        n_blocks = (int64_t)blocks_per_seq * s->max_seqs;
        if ((double)n_blocks * (double)block_bytes > DEFAULT_KV_BYTES)
            n_blocks = (int64_t)(DEFAULT_KV_BYTES / (double)block_bytes);
    }
    if (n_blocks < blocks_per_seq) n_blocks = blocks_per_seq; /* one full sequence always fits */
    if (n_blocks > (1 << 24)) n_blocks = 1 << 24;
    p.n_blocks = (int)n_blocks;
    s->n_blocks = p.n_blocks;
    s->block_size = p.block_size;
    log_info("%s: KV cache %d blocks of %d positions (%.1f MiB), %d sequences of up to %d",
             s->name, p.n_blocks, p.block_size, (double)n_blocks * (double)block_bytes / 1048576.0,
             s->max_seqs, s->n_ctx);
    return engine_create(s->m, &p, &s->e, err);
}

/* The parsers (docs/tools.md): a name given must be a parser of its kind ("none" turns the slot
 * off); an unset one is detected from the chat template as OVMS does. An unknown name fails the
 * load, never silently ignored. */
static lm_status pick_parsers(servable *s, const model_source *src, lm_error *err) {
    const char **names[2] = {&s->cfg.reasoning_parser, &s->cfg.tool_parser};
    parser_kind kinds[2] = {PARSER_REASONING, PARSER_TOOL};
    const char *detected[2] = {NULL, NULL};
    parser_detect(model_source_chat_template(src), &detected[1], &detected[0]);
    for (int i = 0; i < 2; i++) {
        const char *name = *names[i];
        if (name && (!*name || !strcmp(name, "none"))) {
            free((char *)name);
            *names[i] = NULL;
            continue;
        }
        if (!name) {
            if (detected[i]) {
                *names[i] = strdup(detected[i]);
                if (!*names[i]) return err_set(err, LM_ERR_NOMEM, "out of memory");
                log_info("%s: %s parser %s (detected from the chat template)", s->name, i ? "tool" : "reasoning",
                         detected[i]);
            }
            continue;
        }
        if (!parser_exists(kinds[i], name)) {
            lm_buf known = {0};
            for (const char *const *n = parser_names(kinds[i]); *n; n++) buf_printf(&known, "%s, ", *n);
            err_set(err, LM_ERR_INVALID, "%s: unknown %s_parser '%s' (known: %snone)", s->name,
                    i ? "tool" : "reasoning", name, buf_cstr(&known));
            buf_fini(&known);
            return LM_ERR_INVALID;
        }
    }
    return LM_OK;
}

/* Probes the model location once (model/source.h) and loads everything from that one probe. */
static lm_status load_from(servable *s, const model_source *src, lm_error *err) {
    const servable_config *c = &s->cfg;
    LM_TRY(tok_load_source(src, &s->tok, err));
    LM_TRY(servable_load_model(src, &c->weights, s->tok, &s->m, err)); /* replay_load.h */
    s->n_ctx = c->n_ctx > 0 ? c->n_ctx : s->m->hp.n_ctx_train;
    s->max_prompt = c->max_prompt_len > 0 && c->max_prompt_len < s->n_ctx ? c->max_prompt_len : s->n_ctx - 1;
    s->max_seqs = c->max_num_seqs > 0 ? c->max_num_seqs : DEFAULT_MAX_SEQS;
    s->max_queued = c->max_queued_requests > 0 ? c->max_queued_requests : 4 * s->max_seqs;
    LM_TRY(make_engine(s, err));
    s->match = malloc(((size_t)s->n_ctx / (size_t)s->block_size + 1) * sizeof *s->match);
    if (!s->match) return err_set(err, LM_ERR_NOMEM, "out of memory");
    if (c->enable_prefix_caching) {
        s->prefix = prefix_cache_create(s->n_blocks, s->block_size);
        if (!s->prefix) return err_set(err, LM_ERR_NOMEM, "out of memory for the prefix cache");
    }
    load_defaults(s, src);
    lm_error terr;
    err_clear(&terr);
    lm_status ts = chat_template_load_source(src, s->tok, &s->chat, &terr);
    if (ts == LM_ERR_NOT_FOUND)
        log_warn("%s: no chat template; only /v3/completions will work", s->name);
    else if (ts != LM_OK)
        return err_set(err, ts, "%s", terr.msg);
    return LM_OK;
}

static lm_status load(servable *s, lm_error *err) {
    model_source *src = NULL;
    LM_TRY(model_source_open(s->cfg.path, &src, err));
    lm_status st = pick_parsers(s, src, err);
    if (st == LM_OK) st = load_from(s, src, err);
    model_source_close(src);
    return st;
}

lm_status servable_create(const servable_config *cfg, servable **out, lm_error *err) {
    *out = NULL;
    if (!cfg->name || !*cfg->name) return err_set(err, LM_ERR_INVALID, "a served model needs a name");
    if (!cfg->path || !*cfg->path)
        return err_set(err, LM_ERR_INVALID, "model '%s' has no path", cfg->name);
    servable *s = calloc(1, sizeof *s);
    if (!s) return err_set(err, LM_ERR_NOMEM, "out of memory");
    s->cfg = *cfg;
    s->name = strdup(cfg->name);
    s->cfg.name = s->name;
    s->cfg.path = s->path = strdup(cfg->path);
    s->cfg.tool_parser = dup_or_null(cfg->tool_parser);
    s->cfg.reasoning_parser = dup_or_null(cfg->reasoning_parser);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->ref_mu, NULL);
    clock_cond_init(&s->ref_cv);
    s->refs = 1; /* the owner's, dropped by servable_destroy */
    atomic_store(&s->state, SERVABLE_LOADING);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lm_status st = (s->name && s->path) ? load(s, err) : err_set(err, LM_ERR_NOMEM, "out of memory");
    if (st == LM_OK) {
        s->running = calloc((size_t)s->max_seqs, sizeof *s->running);
        s->logits = malloc((size_t)s->max_seqs * (size_t)s->m->hp.n_vocab * sizeof(float));
        if (!s->running || !s->logits) st = err_set(err, LM_ERR_NOMEM, "out of memory");
    }
    if (st == LM_OK) {
        serving_metrics_model(cfg->metrics, s->name, &s->mx);
        metric_set(s->mx.kv_total, s->n_blocks);
        s->test_gate = getenv("LMSERVE_TEST_ADMISSION_GATE");
    }
    if (st == LM_OK && pthread_create(&s->loop, NULL, scheduler_loop, s) != 0)
        st = err_set(err, LM_ERR_INTERNAL, "cannot start the generation loop thread");
    if (st != LM_OK) {
        s->loop_started = 0;
        servable_destroy(s);
        return st;
    }
    s->loop_started = 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s->created = (int64_t)time(NULL);
    atomic_store(&s->state, SERVABLE_AVAILABLE);
    log_info("%s: loaded %s (%s, %d layers, %.1f MiB of weights) in %.2f s", s->name, s->path,
             s->m->arch.name, s->m->hp.n_layer, (double)model_weight_bytes(s->m) / 1048576.0,
             (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
    *out = s;
    return LM_OK;
}

void servable_destroy(servable *s) {
    if (!s) return;
    atomic_store(&s->state, SERVABLE_UNLOADING);
    if (s->loop_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->loop, NULL);
    }
    chat_template_destroy(s->chat);
    free(s->running);
    free(s->logits);
    prefix_cache_destroy(s->prefix, s->e);
    free(s->match);
    engine_destroy(s->e);
    tok_destroy(s->tok);
    model_destroy(s->m);
    free((char *)s->cfg.tool_parser);
    free((char *)s->cfg.reasoning_parser);
    free(s->name);
    free(s->path);
    s->name = s->path = NULL;
    s->cfg.name = s->cfg.path = s->cfg.tool_parser = s->cfg.reasoning_parser = NULL;
    /* The struct stays until its last user is gone: a request released (or cancelled, which
     * wakes the loop through s->mu) after this point still finds valid memory. */
    servable_release(s);
}

/* ---- users --------------------------------------------------------------------------------- */

void servable_retain(servable *s) {
    pthread_mutex_lock(&s->ref_mu);
    s->refs++;
    pthread_mutex_unlock(&s->ref_mu);
}

void servable_release(servable *s) {
    if (!s) return;
    pthread_mutex_lock(&s->ref_mu);
    int left = --s->refs;
    if (left == 1) pthread_cond_broadcast(&s->ref_cv);
    pthread_mutex_unlock(&s->ref_mu);
    if (left > 0) return;
    /* the owner has destroyed it and the last user is gone */
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->ref_mu);
    pthread_cond_destroy(&s->ref_cv);
    free(s);
}

int servable_wait_idle(servable *s, int timeout_ms) {
    pthread_mutex_lock(&s->ref_mu);
    if (timeout_ms < 0) {
        while (s->refs > 1) pthread_cond_wait(&s->ref_cv, &s->ref_mu);
    } else if (s->refs > 1) {
        struct timespec ts = clock_deadline(timeout_ms);
        while (s->refs > 1)
            if (pthread_cond_timedwait(&s->ref_cv, &s->ref_mu, &ts) != 0) break;
    }
    int idle = s->refs <= 1;
    pthread_mutex_unlock(&s->ref_mu);
    return idle;
}

const char *servable_name(const servable *s) { return s->name; }
servable_state servable_get_state(const servable *s) { return (servable_state)atomic_load(&s->state); }
int64_t servable_created(const servable *s) { return s->created; }
int servable_context_len(const servable *s) { return s->n_ctx; }
int servable_max_prompt_len(const servable *s) { return s->max_prompt; }
const tok_tokenizer *servable_tokenizer(const servable *s) { return s->tok; }
const gen_defaults *servable_defaults(const servable *s) { return &s->defaults; }

void servable_get_stats(const servable *s, servable_stats *out) {
    const model_hparams *hp = &s->m->hp;
    out->arch = s->m->arch.name;
    out->n_layer = hp->n_layer;
    out->n_embd = hp->n_embd;
    out->n_vocab = hp->n_vocab;
    out->n_ctx_train = hp->n_ctx_train;
    out->weight_bytes = model_weight_bytes(s->m);
    out->kv_positions = s->n_blocks * s->block_size;
    out->kv_bytes = 2 * (size_t)hp->n_layer * (size_t)out->kv_positions * (size_t)hp->n_head_kv *
                    (size_t)hp->head_dim * 2 /* f16 */;
}

lm_status servable_render_chat(const servable *s, json_t *messages, json_t *tools, json_t *kwargs,
                               lm_buf *out, lm_error *err) {
    if (!s->chat)
        return err_set(err, LM_ERR_UNSUPPORTED, "model '%s' has no chat template; use /v3/completions",
                       s->name);
    return chat_template_render(s->chat, messages, tools, kwargs, out, err);
}

lm_status servable_tokenize(const servable *s, const char *text, size_t len, int add_special,
                            tok_ids *out, lm_error *err) {
    return tok_encode(s->tok, text, len, add_special, out, err);
}

lm_status servable_tokenize_ids(const servable *s, const char *text, size_t len, int add_special,
                                int32_t **ids, size_t *n, lm_error *err) {
    tok_ids t = {0};
    *ids = NULL;
    *n = 0;
    lm_status st = tok_encode(s->tok, text, len, add_special, &t, err);
    if (st != LM_OK) {
        tok_ids_fini(&t);
        return st;
    }
    *ids = t.ids; /* handed over whole */
    *n = t.n;
    return LM_OK;
}

const char *servable_state_name(int state) {
    switch (state) {
    case SERVABLE_START: return "START";
    case SERVABLE_LOADING: return "LOADING";
    case SERVABLE_AVAILABLE: return "AVAILABLE";
    case SERVABLE_UNLOADING: return "UNLOADING";
    case SERVABLE_END: return "END";
    default: return "UNKNOWN";
    }
}
