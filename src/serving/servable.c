/* servable.c — loading a model for serving and the generation loop that drives its engine.
 *
 * The loop does continuous batching: each iteration admits queued requests (FIFO) whose
 * worst-case KV need (prompt + max_tokens, capped at the context) fits the blocks not yet
 * reserved, so a running sequence can never run out of KV memory. With prefix caching, a prompt's
 * full blocks stay cached after its prefill (prefix_cache.h): a later prompt that starts the same
 * way attaches them instead of recomputing, and unused cached blocks are evicted (LRU) when
 * admission needs room; then one engine step advances
 * every running request: a prompt chunk for those still prefilling, one token for the others;
 * then samples, detokenizes, checks stop conditions and hands text to each request's channel
 * (request.c). Cancelled requests are finished between steps, on this thread. */
#include "serving/serving_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/file.h"
#include "base/log.h"
#include "model/hfconfig.h"

#define DEFAULT_MAX_SEQS 256      /* OVMS's max_num_seqs default */
#define DEFAULT_KV_BYTES (2.0 * 1024 * 1024 * 1024) /* default KV cache budget: 2 GiB */
#define STEP_TOKENS 512           /* most tokens in one engine step */

/* ---- loading ------------------------------------------------------------------------------- */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void load_defaults(servable *s, const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    char *text = file_read_all(path, 1 << 20, NULL);
    if (!text) return;
    hfconfig_generation g;
    lm_error err;
    err_clear(&err);
    if (hfconfig_parse_generation(text, strlen(text), &g, &err) != LM_OK) {
        log_warn("%s: ignoring generation_config.json: %s", s->name, err.msg);
        free(text);
        return;
    }
    free(text);
    gen_defaults *d = &s->defaults;
    if (g.has_temperature) { d->has_temperature = 1; d->temperature = (float)g.temperature; }
    if (g.has_top_p) { d->has_top_p = 1; d->top_p = (float)g.top_p; }
    if (g.has_top_k) { d->has_top_k = 1; d->top_k = (int)g.top_k; }
    if (g.has_repetition_penalty) {
        d->has_repetition_penalty = 1;
        d->repetition_penalty = (float)g.repetition_penalty;
    }
    if (g.has_max_new_tokens) { d->has_max_new_tokens = 1; d->max_new_tokens = (int)g.max_new_tokens; }
    for (uint32_t i = 0; i < g.n_eos && s->n_eos < SERVABLE_MAX_EOS; i++)
        s->eos[s->n_eos++] = (int32_t)g.eos_token_ids[i];
}

static lm_status make_engine(servable *s, lm_error *err) {
    const model_hparams *hp = &s->m->hp;
    engine_params p = engine_params_default();
    p.n_ctx = s->n_ctx;
    p.max_seqs = s->max_seqs;
    p.max_batch_tokens = STEP_TOKENS;
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

static lm_status load(servable *s, lm_error *err) {
    const servable_config *c = &s->cfg;
    char dir[4096];
    file_model_dir(c->path, dir, sizeof dir);
    LM_TRY(model_load(c->path, &c->weights, &s->m, err));
    LM_TRY(tok_load_path(c->path, &s->tok, err));
    s->n_ctx = c->n_ctx > 0 ? c->n_ctx : s->m->hp.n_ctx_train;
    s->max_prompt = c->max_prompt_len > 0 && c->max_prompt_len < s->n_ctx ? c->max_prompt_len : s->n_ctx - 1;
    s->max_seqs = c->max_num_seqs > 0 ? c->max_num_seqs : DEFAULT_MAX_SEQS;
    LM_TRY(make_engine(s, err));
    s->match = malloc(((size_t)s->n_ctx / (size_t)s->block_size + 1) * sizeof *s->match);
    if (!s->match) return err_set(err, LM_ERR_NOMEM, "out of memory");
    if (c->enable_prefix_caching) {
        s->prefix = prefix_cache_create(s->n_blocks, s->block_size);
        if (!s->prefix) return err_set(err, LM_ERR_NOMEM, "out of memory for the prefix cache");
    }
    load_defaults(s, dir);
    lm_error terr;
    err_clear(&terr);
    lm_status ts = chat_template_load(c->path, s->tok, &s->chat, &terr);
    if (ts == LM_ERR_NOT_FOUND)
        log_warn("%s: no chat template; only /v3/completions will work", s->name);
    else if (ts != LM_OK)
        return err_set(err, ts, "%s", terr.msg);
    return LM_OK;
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
    pthread_cond_init(&s->ref_cv, NULL);
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
    if (st == LM_OK && pthread_create(&s->loop, NULL, servable_loop, s) != 0)
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
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
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

int servable_is_eos(const servable *s, int32_t id) {
    for (int i = 0; i < s->n_eos; i++)
        if (s->eos[i] == id) return 1;
    return tok_is_eog(s->tok, id);
}

/* ---- the generation loop ------------------------------------------------------------------- */

static int blocks_for(const servable *s, int64_t positions) {
    if (positions > s->n_ctx) positions = s->n_ctx;
    return (int)((positions + s->block_size - 1) / s->block_size);
}

/* Worst-case KV blocks a request may need. */
static int reserve_of(const servable *s, const gen_request *r) {
    int64_t gen = r->p.max_tokens > 0 ? r->p.max_tokens : s->n_ctx;
    return blocks_for(s, (int64_t)r->n_prompt + gen);
}

/* KV blocks running requests may still allocate at most (reserved minus what they hold). */
static int outstanding(const servable *s) {
    int n = 0;
    for (int i = 0; i < s->n_running; i++) {
        const gen_request *r = s->running[i];
        const int *blocks;
        int own = engine_seq_blocks(s->e, r->seq, &blocks) - r->shared;
        n += r->reserved > own ? r->reserved - own : 0;
    }
    return n;
}

/* Admits r if its worst case fits the pool (after evicting unused cached blocks if needed):
 * opens its sequence and attaches the cached blocks of its prompt's longest cached prefix.
 * Returns 0 when r must wait. At least one prompt token is always computed (it gives the logits),
 * so at most (n_prompt - 1) / block_size blocks are shared. */
static int try_admit(servable *s, gen_request *r) {
    int matched = 0;
    if (s->prefix) {
        int full = (int)((r->n_prompt - 1) / (size_t)s->block_size);
        matched = prefix_cache_match(s->prefix, r->prompt, full, s->match);
        for (int i = 0; i < matched; i++) engine_block_retain(s->e, s->match[i]); /* keep through eviction */
    }
    int need = reserve_of(s, r) - matched;
    int avail = engine_free_blocks(s->e) - outstanding(s);
    if (need > avail && s->prefix) avail += prefix_cache_evict(s->prefix, s->e, need - avail);
    lm_error err;
    err_clear(&err);
    int ok = need <= avail && engine_seq_open(s->e, &r->seq, &err) == LM_OK;
    if (ok && matched && engine_seq_attach(s->e, r->seq, s->match, matched, &err) != LM_OK) {
        engine_seq_close(s->e, r->seq); /* cannot happen for an empty sequence; be safe */
        ok = 0;
    }
    for (int i = 0; i < matched; i++) engine_block_release(s->e, s->match[i]);
    if (!ok) return 0;
    r->reserved = need;
    r->shared = matched;
    r->prefilled = (size_t)matched * (size_t)s->block_size;
    return 1;
}

/* Takes queued requests that fit, in order; finishes cancelled ones. Called with s->mu held. */
static void admit(servable *s) {
    while (s->queue_head && s->n_running < s->max_seqs) {
        gen_request *r = s->queue_head;
        if (atomic_load(&r->cancel) || s->stopping) {
            s->queue_head = r->next;
            if (!s->queue_head) s->queue_tail = NULL;
            request_finish(r, GEN_FINISH_CANCELLED, NULL);
            request_unref(r);
            continue;
        }
        if (!try_admit(s, r)) break; /* FIFO: wait for room */
        s->queue_head = r->next;
        if (!s->queue_head) s->queue_tail = NULL;
        s->running[s->n_running++] = r;
    }
}

static void retire(servable *s, int i) {
    gen_request *r = s->running[i];
    engine_seq_close(s->e, r->seq);
    s->running[i] = s->running[--s->n_running];
    request_unref(r);
}

/* One engine step over every running request; then sampling and output. */
static void step(servable *s) {
    engine_item items[s->n_running > 0 ? s->n_running : 1];
    int owner[s->n_running > 0 ? s->n_running : 1];
    int n_items = 0, budget = STEP_TOKENS, V = s->m->hp.n_vocab;
    /* decode tokens first (one each), then prompt chunks with what is left */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < s->n_running && budget > 0; i++) {
            gen_request *r = s->running[i];
            int prefill = r->prefilled < r->n_prompt;
            if (prefill != pass) continue;
            float *logits = s->logits + (size_t)n_items * V;
            if (!prefill) {
                items[n_items] = (engine_item){r->seq, &r->last, 1, ENGINE_LOGITS_LAST, logits};
                budget--;
            } else {
                size_t left = r->n_prompt - r->prefilled;
                int n = left < (size_t)budget ? (int)left : budget;
                int last = r->prefilled + (size_t)n == r->n_prompt;
                items[n_items] = (engine_item){r->seq, r->prompt + r->prefilled, n,
                                               last ? ENGINE_LOGITS_LAST : ENGINE_LOGITS_NONE,
                                               logits};
                budget -= n;
            }
            owner[n_items++] = i;
        }
    }
    if (!n_items) return;
    lm_error err;
    err_clear(&err);
    if (engine_step(s->e, items, n_items, &err) != LM_OK) {
        log_error("%s: engine step failed: %s", s->name, err.msg);
        for (int j = n_items - 1; j >= 0; j--) {
            request_finish(s->running[owner[j]], GEN_FINISH_ERROR, &err);
        }
        return;
    }
    for (int j = 0; j < n_items; j++) {
        gen_request *r = s->running[owner[j]];
        if (r->prefilled < r->n_prompt) {
            r->prefilled += (size_t)items[j].n_tokens;
            if (r->prefilled < r->n_prompt) continue; /* more prompt to go */
            if (s->prefix) { /* the prompt's full blocks are complete: offer them to later prompts */
                const int *blocks;
                engine_seq_blocks(s->e, r->seq, &blocks);
                prefix_cache_insert(s->prefix, s->e, r->prompt, (int)(r->n_prompt / (size_t)s->block_size), blocks);
            }
        }
        request_on_logits(s, r, items[j].logits);
    }
}

void *servable_loop(void *arg) {
    servable *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stopping && !s->queue_head && s->n_running == 0) pthread_cond_wait(&s->cv, &s->mu);
        int stopping = s->stopping;
        admit(s);
        pthread_mutex_unlock(&s->mu);

        /* finish what was cancelled (or everything, when stopping) */
        for (int i = s->n_running - 1; i >= 0; i--) {
            gen_request *r = s->running[i];
            if (stopping || atomic_load(&r->cancel)) request_finish(r, GEN_FINISH_CANCELLED, NULL);
        }
        for (int i = s->n_running - 1; i >= 0; i--)
            if (s->running[i]->finished) retire(s, i);
        if (stopping) {
            pthread_mutex_lock(&s->mu);
            admit(s); /* drains the queue as cancelled */
            pthread_mutex_unlock(&s->mu);
            for (int i = s->n_running - 1; i >= 0; i--) {
                request_finish(s->running[i], GEN_FINISH_CANCELLED, NULL);
                retire(s, i);
            }
            return NULL;
        }
        step(s);
        for (int i = s->n_running - 1; i >= 0; i--)
            if (s->running[i]->finished) retire(s, i);
    }
}

void servable_enqueue(servable *s, gen_request *r) {
    pthread_mutex_lock(&s->mu);
    r->next = NULL;
    if (s->queue_tail) s->queue_tail->next = r;
    else s->queue_head = r;
    s->queue_tail = r;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void servable_wake(servable *s) {
    pthread_mutex_lock(&s->mu);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}
