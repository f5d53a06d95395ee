/* request.c — one generation request: submission, its output channel, and what the loop does with
 * each new token (sample, run the output chain, finish).
 *
 * Output flows: token -> the request's output chain (output.h: detokenizer, stop strings,
 * reasoning and tool-call slots, delta builder) -> r->out (the channel) -> gen_poll moves it to
 * the reader. */
#include "serving/parsers.h"
#include "serving/serving_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"

gen_params gen_params_default(void) {
    gen_params p;
    memset(&p, 0, sizeof p);
    p.sampling = sampler_params_default();
    p.skip_special_tokens = 1;
    return p;
}

gen_params gen_params_resolve(const gen_asked *a, const gen_defaults *d, int index, uint64_t random_seed) {
    gen_params p = gen_params_default();
    sampler_params *s = &p.sampling;
    s->temperature = a->has_temperature ? a->temperature
                     : (d && d->has_temperature) ? d->temperature
                                                 : GEN_DEFAULT_TEMPERATURE;
    s->top_p = a->has_top_p ? a->top_p : (d && d->has_top_p) ? d->top_p : GEN_DEFAULT_TOP_P;
    s->top_k = a->has_top_k ? a->top_k : (d && d->has_top_k) ? d->top_k : 0;
    s->repetition_penalty = a->has_repetition_penalty ? a->repetition_penalty
                            : (d && d->has_repetition_penalty) ? d->repetition_penalty
                                                               : 1.0f;
    s->min_p = a->min_p;
    s->presence_penalty = a->presence_penalty;
    s->frequency_penalty = a->frequency_penalty;
    s->seed = (a->has_seed ? a->seed : random_seed) + (uint64_t)index;
    p.max_tokens = a->has_max_tokens ? a->max_tokens
                   : (d && d->has_max_new_tokens) ? d->max_new_tokens
                                                  : 0;
    for (int i = 0; i < a->n_stop; i++) p.stop[i] = a->stop[i];
    p.n_stop = a->n_stop;
    p.include_stop_str_in_output = a->include_stop_str_in_output;
    p.ignore_eos = a->ignore_eos;
    p.skip_special_tokens = a->skip_special_tokens;
    p.logprobs = a->logprobs;
    p.top_logprobs = a->top_logprobs;
    return p;
}

static void token_free(gen_token *t) {
    free(t->text);
    for (int k = 0; k < GEN_MAX_TOP_LOGPROBS; k++) free(t->top_text[k]);
}

void gen_chunk_fini(gen_chunk *c) {
    buf_fini(&c->text);
    buf_fini(&c->reasoning);
    for (size_t i = 0; i < c->n_tool_events; i++) {
        free(c->tool_events[i].id);
        free(c->tool_events[i].text);
    }
    free(c->tool_events);
    for (size_t i = 0; i < c->n_tokens; i++) token_free(&c->tokens[i]);
    free(c->tokens);
    memset(c, 0, sizeof *c);
}

void gen_token_bytes(const tok_tokenizer *t, int32_t id, lm_buf *out) {
    buf_reset(out);
    tok_token_bytes(t, id, out); /* raw bytes, leading space kept, partial characters intact */
    if (!out->data) buf_append(out, "", 0);
}

/* ---- lifetime ------------------------------------------------------------------------------ */

static void request_free(gen_request *r) {
    servable *s = r->s;
    free(r->prompt);
    for (int i = 0; i < GEN_MAX_STOP; i++) free(r->stop_store[i]);
    out_deltas_fini(&r->out);
    for (size_t i = 0; i < r->n_out_tokens; i++) token_free(&r->out_tokens[i]);
    free(r->out_tokens);
    out_chain_fini(&r->chain);
    sampler_fini(&r->smp);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
    servable_release(s); /* last: it may free the servable */
}

void request_unref(gen_request *r) {
    pthread_mutex_lock(&r->mu);
    int left = --r->refs;
    pthread_mutex_unlock(&r->mu);
    if (left == 0) request_free(r);
}

void gen_release(gen_request *r) {
    if (r) request_unref(r);
}

void gen_cancel(gen_request *r) {
    if (!r) return;
    atomic_store(&r->cancel, 1);
    scheduler_wake(r->s);
}

void gen_set_notify(gen_request *r, void (*fn)(void *ctx), void *ctx) {
    pthread_mutex_lock(&r->mu);
    r->notify = fn;
    r->notify_ctx = ctx;
    pthread_mutex_unlock(&r->mu);
}

/* ---- submission ---------------------------------------------------------------------------- */

lm_status gen_submit(servable *s, const gen_params *p, gen_request **out, lm_error *err) {
    *out = NULL;
    if (atomic_load(&s->state) != SERVABLE_AVAILABLE)
        return err_set(err, LM_ERR_UNSUPPORTED, "model '%s' is not available", s->name);
    if (p->n_prompt == 0) return err_set(err, LM_ERR_INVALID, "the prompt is empty");
    if (p->n_prompt > (size_t)s->max_prompt)
        return err_set(err, LM_ERR_LIMIT, "the prompt has %zu tokens, more than the %d this model accepts",
                       p->n_prompt, s->max_prompt);
    if (p->max_tokens < 0) return err_set(err, LM_ERR_INVALID, "max_tokens %d must be >= 0", p->max_tokens);
    /* A full cache makes a request wait; one that could not fit even in an empty cache is refused. */
    int64_t cache_positions = (int64_t)s->n_blocks * s->block_size;
    if (p->max_tokens > 0 && (int64_t)p->n_prompt + p->max_tokens > cache_positions)
        return err_set(err, LM_ERR_LIMIT, "the prompt (%zu tokens) plus max_tokens (%d) needs %lld positions, more "
                       "than the whole KV cache holds (%lld): it could never run", p->n_prompt, p->max_tokens,
                       (long long)p->n_prompt + p->max_tokens, (long long)cache_positions);
    if (p->n_stop < 0 || p->n_stop > GEN_MAX_STOP)
        return err_set(err, LM_ERR_INVALID, "stop: at most %d strings", GEN_MAX_STOP);
    if (p->top_logprobs < 0 || p->top_logprobs > GEN_MAX_TOP_LOGPROBS)
        return err_set(err, LM_ERR_INVALID, "top_logprobs %d must be in [0, %d]", p->top_logprobs,
                       GEN_MAX_TOP_LOGPROBS);
    int V = s->m->hp.n_vocab;
    for (size_t i = 0; i < p->n_prompt; i++)
        if (p->prompt[i] < 0 || p->prompt[i] >= V)
            return err_set(err, LM_ERR_INVALID, "prompt token %d is outside the vocabulary [0, %d)",
                           p->prompt[i], V);

    gen_request *r = calloc(1, sizeof *r);
    if (!r) return err_set(err, LM_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    clock_cond_init(&r->cv);
    r->s = s;
    servable_retain(s); /* dropped by request_free */
    r->p = *p;
    r->refs = 2; /* the caller's and the loop's */
    r->seq = -1;
    r->prompt = malloc(p->n_prompt * sizeof *r->prompt);
    lm_status st = r->prompt ? LM_OK : err_set(err, LM_ERR_NOMEM, "out of memory");
    if (st == LM_OK) {
        memcpy(r->prompt, p->prompt, p->n_prompt * sizeof *r->prompt);
        r->n_prompt = p->n_prompt;
        r->p.prompt = r->prompt;
    }
    for (int i = 0; st == LM_OK && i < p->n_stop; i++) {
        if (!p->stop[i] || !*p->stop[i]) {
            st = err_set(err, LM_ERR_INVALID, "stop[%d] must be a non-empty string", i);
            break;
        }
        r->stop_store[i] = strdup(p->stop[i]);
        if (!r->stop_store[i]) st = err_set(err, LM_ERR_NOMEM, "out of memory");
        r->p.stop[i] = r->stop_store[i];
        size_t n = strlen(p->stop[i]);
        if (n > r->max_stop_len) r->max_stop_len = n;
    }
    for (int i = p->n_stop; i < GEN_MAX_STOP; i++) r->p.stop[i] = NULL;
    if (st == LM_OK) st = sampler_init(&r->smp, &p->sampling, V, err);
    out_stage *reasoning = NULL, *tools = NULL;
    int parse = p->parse_output && p->skip_special_tokens;
    int with_tools = parse && p->tools && json_array_size(p->tools) > 0;
    parser_opts po = {.tools = with_tools ? p->tools : NULL, .prompt_opens_think = p->prompt_opens_think};
    const char *rname = parse ? s->cfg.reasoning_parser : NULL, *tname = with_tools ? s->cfg.tool_parser : NULL;
    if (st == LM_OK) st = out_stages_create(rname, tname, &po, &reasoning, &tools, err);
    /* the chain is built even on failure (stages NULL), so request_free can always fini it */
    out_chain_init(&r->chain, s->tok, p->skip_special_tokens, (const char *const *)r->stop_store,
                   st == LM_OK ? p->n_stop : 0, p->include_stop_str_in_output, reasoning, tools);
    if (st != LM_OK) {
        request_free(r);
        return st;
    }
    r->p.tools = NULL; /* borrowed only for the call */
    if (rname) out_chain_keep_special(&r->chain, s->tok, parser_special_tokens(rname));
    if (tname) out_chain_keep_special(&r->chain, s->tok, parser_special_tokens(tname));
    sampler_set_prompt(&r->smp, r->prompt, r->n_prompt);
    r->prompt_tokens = r->n_prompt;
    r->t_submit_us = clock_now_us();
    if (!scheduler_enqueue(s, r)) {
        st = err_set(err, LM_ERR_BUSY, "model '%s' has %d requests waiting, its limit "
                     "(--max_queued_requests); retry later", s->name, s->max_queued);
        request_free(r);
        return st;
    }
    *out = r;
    return LM_OK;
}

/* ---- reading ------------------------------------------------------------------------------- */

static int has_output(const gen_request *r) {
    return !out_deltas_empty(&r->out) || r->n_out_tokens > 0 || (r->finish != GEN_FINISH_NONE);
}

int gen_poll(gen_request *r, gen_chunk *chunk, int timeout_ms) {
    pthread_mutex_lock(&r->mu);
    if (timeout_ms < 0) {
        while (!has_output(r)) pthread_cond_wait(&r->cv, &r->mu);
    } else if (timeout_ms > 0 && !has_output(r)) {
        struct timespec ts = clock_deadline(timeout_ms);
        while (!has_output(r))
            if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT) break;
    }
    int got = has_output(r);
    if (got) {
        /* hand the buffers over whole: no copy */
        buf_fini(&chunk->text);
        buf_fini(&chunk->reasoning);
        chunk->text = r->out.text;
        chunk->reasoning = r->out.reasoning;
        memset(&r->out.text, 0, sizeof r->out.text);
        memset(&r->out.reasoning, 0, sizeof r->out.reasoning);
        chunk->tool_events = r->out.tools;
        chunk->n_tool_events = r->out.n_tools;
        r->out.tools = NULL;
        r->out.n_tools = r->out.cap_tools = 0;
        chunk->tokens = r->out_tokens;
        chunk->n_tokens = r->n_out_tokens;
        r->out_tokens = NULL;
        r->n_out_tokens = r->cap_out_tokens = 0;
        chunk->finish = r->finish;
        if (r->finish != GEN_FINISH_NONE) {
            chunk->prompt_tokens = r->prompt_tokens;
            chunk->completion_tokens = r->completion_tokens;
            chunk->cached_tokens = (size_t)r->shared * (size_t)r->s->block_size;
            chunk->stop_string = r->finish == GEN_FINISH_STOP ? r->stop_string : 0;
            chunk->ttft_s = r->t_first_us ? (double)(r->t_first_us - r->t_submit_us) / 1e6 : -1;
            chunk->err = r->err;
            r->finish_polled = 1;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return got;
}

/* ---- the loop's side ----------------------------------------------------------------------- */

/* Moves what the chain yielded (and the token record, and the finish) to the reader's channel,
 * and wakes the reader. */
static void deliver(gen_request *r, gen_token *tok, gen_finish fin, const lm_error *err) {
    pthread_mutex_lock(&r->mu);
    out_deltas_move(&r->out, &r->chain.out);
    if (tok) {
        if (r->n_out_tokens == r->cap_out_tokens) {
            size_t cap = r->cap_out_tokens ? 2 * r->cap_out_tokens : 8;
            gen_token *grown = realloc(r->out_tokens, cap * sizeof *grown);
            if (grown) {
                r->out_tokens = grown;
                r->cap_out_tokens = cap;
            }
        }
        if (r->n_out_tokens < r->cap_out_tokens) r->out_tokens[r->n_out_tokens++] = *tok;
        else token_free(tok);
    }
    if (fin != GEN_FINISH_NONE && r->finish == GEN_FINISH_NONE) {
        r->finish = fin;
        r->completion_tokens = (size_t)r->n_generated;
        if (err) r->err = *err;
    }
    void (*fn)(void *) = r->notify;
    void *ctx = r->notify_ctx;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (fn) fn(ctx);
}

void request_finish(gen_request *r, gen_finish why, const lm_error *err) {
    if (r->finished) return;
    r->finished = 1;
    /* a natural end releases the detokenizer's incomplete bytes (as U+FFFD: they may complete a
     * stop string); a cancel or an error only releases what the stages hold */
    int natural = why == GEN_FINISH_STOP || why == GEN_FINISH_LENGTH;
    out_chain_finish(&r->chain, natural);
    if (natural && out_chain_stopped(&r->chain)) {
        why = GEN_FINISH_STOP;
        r->stop_string = out_chain_stopped(&r->chain);
    }
    deliver(r, NULL, why, err);
}

/* Makes the logprobs record of a chosen token. */
static int token_record(gen_request *r, const float *logits, int32_t id, gen_token *out) {
    memset(out, 0, sizeof *out);
    out->id = id;
    out->n_top = r->p.top_logprobs;
    out->logprob = sampler_logprobs(logits, r->s->m->hp.n_vocab, id, out->n_top, out->top);
    lm_buf b = {0};
    int oom = 0;
    for (int k = 0; k < out->n_top; k++) {
        gen_token_bytes(r->s->tok, out->top[k].id, &b);
        oom |= b.oom;
        out->top_text[k] = b.data;
        out->top_len[k] = b.len;
        memset(&b, 0, sizeof b);
    }
    gen_token_bytes(r->s->tok, id, &b);
    out->text = b.data;
    out->text_len = b.len;
    if (b.oom || oom) {
        token_free(out);
        return -1;
    }
    return 0;
}

void request_on_logits(servable *s, gen_request *r, const float *logits) {
    int32_t id = sampler_sample(&r->smp, logits);
    sampler_accept(&r->smp, id);
    r->n_generated++;
    if (s->mx.ttft) { /* metrics on: time the token (one clock read) */
        int64_t now = clock_now_us();
        if (r->n_generated == 1) {
            r->t_first_us = now;
            metric_observe(s->mx.ttft, (double)(now - r->t_submit_us) / 1e6);
        } else {
            metric_observe(s->mx.itl, (double)(now - r->t_last_us) / 1e6);
        }
        r->t_last_us = now;
    } else if (r->n_generated == 1) {
        r->t_first_us = clock_now_us(); /* for the access log's TTFT */
    }
    r->last = id;
    gen_token rec, *tok = NULL;
    if (r->p.logprobs && token_record(r, logits, id, &rec) == 0) tok = &rec;

    if (!r->p.ignore_eos && scheduler_is_eos(s, id)) {
        if (tok) deliver(r, tok, GEN_FINISH_NONE, NULL);
        request_finish(r, GEN_FINISH_STOP, NULL);
        return;
    }
    out_chain_push_token(&r->chain, id);
    if (out_chain_stopped(&r->chain)) { /* a stop string: the text ends before (or after) it */
        r->finished = 1;
        r->stop_string = out_chain_stopped(&r->chain);
        out_chain_finish(&r->chain, 0);
        deliver(r, tok, GEN_FINISH_STOP, NULL);
        return;
    }
    int at_limit = (r->p.max_tokens > 0 && r->n_generated >= r->p.max_tokens) ||
                   r->n_prompt + (size_t)r->n_generated >= (size_t)s->n_ctx;
    if (at_limit) {
        if (tok) deliver(r, tok, GEN_FINISH_NONE, NULL);
        request_finish(r, GEN_FINISH_LENGTH, NULL);
        return;
    }
    deliver(r, tok, GEN_FINISH_NONE, NULL);
}
