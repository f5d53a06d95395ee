/* serving_impl.h — private to src/serving: the servable and request structs shared by
 * servable.c (loading), scheduler.c (the generation loop) and request.c (channels, output). */
#ifndef LM_SERVING_SERVING_IMPL_H
#define LM_SERVING_SERVING_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/engine.h"
#include "serving/chat.h"
#include "serving/prefix_cache.h"
#include "serving/serving.h"
#include "serving/serving_metrics.h"

#define SERVABLE_MAX_EOS 16

struct servable {
    servable_config cfg;         /* strings below are owned copies */
    char *name, *path;
    model *m;
    engine *e;
    tok_tokenizer *tok;
    chat_template *chat;         /* NULL when the model has none */
    gen_defaults defaults;
    int32_t eos[SERVABLE_MAX_EOS]; /* generation_config.json eos ids (plus tok_is_eog) */
    int n_eos;
    _Atomic int state;           /* servable_state */
    int64_t created;
    int n_ctx, max_prompt, max_seqs;
    int n_blocks, block_size;
    /* queue: guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    gen_request *queue_head, *queue_tail;
    int n_queued, max_queued;    /* requests in the queue; its bound (LM_ERR_BUSY past it) */
    int stopping;
    serving_metrics mx;          /* all NULL when metrics are off */
    const char *test_gate;       /* LMSERVE_TEST_ADMISSION_GATE: while this file exists nothing
                                  * is admitted (tests fill the queue deterministically) */
    /* loop thread only */
    pthread_t loop;
    int loop_started;
    gen_request **running;       /* (max_seqs) */
    int n_running;
    prefix_cache *prefix;        /* NULL unless enable_prefix_caching */
    int *match;                  /* (blocks per sequence) scratch for prefix matches */
    float *logits;               /* (max_seqs, n_vocab) one row per batch item */
    /* lifetime: guarded by ref_mu; the struct is freed when refs drops to 0 */
    pthread_mutex_t ref_mu;
    pthread_cond_t ref_cv;       /* signalled when only the owner's reference is left */
    int refs;                    /* the owner's (until servable_destroy), one per live
                                  * gen_request, one per servable_retain */
};

struct gen_request {
    servable *s;
    /* immutable after gen_submit */
    int32_t *prompt;
    size_t n_prompt;
    gen_params p;                /* p.stop[] point into stop_store */
    char *stop_store[GEN_MAX_STOP];
    size_t max_stop_len;
    /* shared: guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    out_deltas out;              /* what the output chain yielded, not yet polled */
    gen_token *out_tokens;
    size_t n_out_tokens, cap_out_tokens;
    gen_finish finish;           /* set by the loop when done */
    int stop_string;             /* 1 + the index of the stop string that ended it; 0: none */
    int finish_polled;
    size_t prompt_tokens, completion_tokens;
    lm_error err;
    void (*notify)(void *ctx);
    void *notify_ctx;
    _Atomic int cancel;
    /* loop thread only */
    gen_request *next;           /* queue link (guarded by s->mu while queued) */
    int seq;
    size_t prefilled;            /* prompt tokens evaluated */
    int32_t last;                /* token to feed next */
    int n_generated;
    int reserved;                /* own KV blocks it may still need at most (from admission) */
    int shared;                  /* leading blocks attached from the prefix cache */
    int finished;                /* request_finish was called */
    sampler smp;
    out_chain chain;             /* detokenizer -> stops -> reasoning -> tool calls -> deltas */
    int64_t t_submit_us, t_first_us, t_last_us; /* monotonic: submission, first and last token */
};

#define SERVING_STEP_TOKENS 512   /* most tokens in one engine step */

/* scheduler.c: the generation loop (its thread's body), the queue it takes requests from, the
 * wake-up a cancel sends it, and the end-of-sequence rule */
int scheduler_is_eos(const servable *s, int32_t id);
void *scheduler_loop(void *arg);
/* Appends r to the queue; 0 (r not queued) when the queue already holds max_queued requests. */
int scheduler_enqueue(servable *s, gen_request *r);
/* Metrics of a finished request (loop thread). */
void scheduler_record_finish(servable *s, const gen_request *r);
void scheduler_wake(servable *s);

/* request.c (loop thread) */
void request_on_logits(servable *s, gen_request *r, const float *logits);
void request_finish(gen_request *r, gen_finish why, const lm_error *err);
void request_unref(gen_request *r);

#endif
