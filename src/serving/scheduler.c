/* scheduler.c — the generation loop of one servable: continuous batching, admission, the engine
 * step, and the end-of-sequence rule every generation in the program follows (the server's
 * requests and `lmserve generate` alike).
 *
 * Each iteration admits queued requests (FIFO) whose worst-case KV need (prompt + max_tokens,
 * capped at the context) fits the blocks not yet reserved, so a running sequence can never run
 * out of KV memory. With prefix caching, a prompt's full blocks stay cached after its prefill
 * (prefix_cache.h): a later prompt that starts the same way attaches them instead of
 * recomputing, and unused cached blocks are evicted (LRU) when admission needs room. Then one
 * engine step advances every running request: a prompt chunk for those still prefilling, one
 * token for the others; then each request samples and runs its output chain (request.c).
 * Cancelled requests are finished between steps, on this thread. */
#include "serving/serving_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

/* The end-of-sequence rule: generation_config.json's eos_token_id list, plus every id the
 * tokenizer marks as end of generation. */
int scheduler_is_eos(const servable *s, int32_t id) {
    for (int i = 0; i < s->n_eos; i++)
        if (s->eos[i] == id) return 1;
    return tok_is_eog(s->tok, id);
}

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
    /* tests only: LMSERVE_TEST_ADMISSION_GATE holds every request in the queue while it exists */
    int gated = s->test_gate && !s->stopping && access(s->test_gate, F_OK) == 0;
    while (s->queue_head && s->n_running < s->max_seqs) {
        gen_request *r = s->queue_head;
        if (atomic_load(&r->cancel) || s->stopping) {
            s->queue_head = r->next;
            if (!s->queue_head) s->queue_tail = NULL;
            s->n_queued--;
            request_finish(r, GEN_FINISH_CANCELLED, NULL);
            scheduler_record_finish(s, r);
            request_unref(r);
            continue;
        }
        if (gated || !try_admit(s, r)) break; /* FIFO: wait for room */
        s->queue_head = r->next;
        if (!s->queue_head) s->queue_tail = NULL;
        s->n_queued--;
        s->running[s->n_running++] = r;
    }
    metric_set(s->mx.waiting, s->n_queued);
}

void scheduler_record_finish(servable *s, const gen_request *r) {
    if (!s->mx.e2e) return;
    int64_t now = clock_now_us();
    metric_observe(s->mx.e2e, (double)(now - r->t_submit_us) / 1e6);
    if (r->n_generated > 1)
        metric_observe(s->mx.tpot, (double)(r->t_last_us - r->t_first_us) / 1e6 / (r->n_generated - 1));
}

static void retire(servable *s, int i) {
    gen_request *r = s->running[i];
    scheduler_record_finish(s, r);
    engine_seq_close(s->e, r->seq);
    s->running[i] = s->running[--s->n_running];
    request_unref(r);
}

/* One engine step over every running request; then sampling and output. */
static void step(servable *s) {
    engine_item items[s->n_running > 0 ? s->n_running : 1];
    int owner[s->n_running > 0 ? s->n_running : 1];
    int n_items = 0, budget = SERVING_STEP_TOKENS, V = s->m->hp.n_vocab;
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

void *scheduler_loop(void *arg) {
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
        if (s->n_running == 0 && s->queue_head) {
            /* queued but nothing admitted (the test gate is closed): do not spin */
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        step(s);
        for (int i = s->n_running - 1; i >= 0; i--)
            if (s->running[i]->finished) retire(s, i);
        metric_set(s->mx.running, s->n_running);
        metric_set(s->mx.kv_used, s->n_blocks - engine_free_blocks(s->e));
    }
}

int scheduler_enqueue(servable *s, gen_request *r) {
    pthread_mutex_lock(&s->mu);
    if (s->n_queued >= s->max_queued) {
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    s->n_queued++;
    metric_set(s->mx.waiting, s->n_queued);
    r->next = NULL;
    if (s->queue_tail) s->queue_tail->next = r;
    else s->queue_head = r;
    s->queue_tail = r;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 1;
}

void scheduler_wake(servable *s) {
    pthread_mutex_lock(&s->mu);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}
