/* generation.h — the one door between a protocol handler and serving: a handler describes what
 * a client asked (model name, prompt, samples, sampling) in a generation_request, submits it once,
 * and polls the generation it gets back for output until every sample has finished.
 *
 *   HTTP thread (server/)                       serving/
 *   ---------------------                       --------
 *   generation_submit(models, &req)  --------->  registry_find, request limits, chat template,
 *                                                tokenizer, gen_submit for each of the n samples
 *   generation_poll(g, &chunk)       <---------  text, tokens with their bytes, finish, usage
 *   generation_cancel(g) / generation_destroy(g)
 *
 * Everything between the protocol's JSON and the engine happens behind this header: finding the
 * model, its request limits, rendering the chat template, tokenizing (and decoding a token-id
 * prompt for echo), resolving each token's bytes for logprobs. The handler never sees the
 * tokenizer (h2o keeps a request and its generator apart the same way: the HTTP request struct
 * holds one of these, the generation knows nothing of HTTP).
 *
 * Threads: generation_submit and generation_poll run on the caller's thread; one generation is
 * used by one thread at a time. The request's notify callback is called from the generation
 * loop whenever a sample gains output (see gen_set_notify). */
#ifndef LM_SERVING_GENERATION_H
#define LM_SERVING_GENERATION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "serving/registry.h"
#include "serving/serving.h"

typedef enum {
    GEN_PROMPT_CHAT,             /* messages (+ tools, template kwargs) through the chat template */
    GEN_PROMPT_TEXT,             /* text, tokenized with the model's BOS/EOS */
    GEN_PROMPT_IDS,              /* token ids as given (checked against the vocabulary) */
} gen_prompt_kind;

/* What a client asked for. Everything is borrowed for the duration of generation_submit only. */
typedef struct {
    const char *model;           /* the model name */
    gen_prompt_kind kind;
    json_t *messages;            /* CHAT: the messages array */
    json_t *tools;               /* CHAT: the tools the template sees, or NULL */
    json_t *template_kwargs;     /* CHAT: chat_template_kwargs (object) or NULL */
    const char *text;            /* TEXT */
    size_t text_len;
    const int32_t *ids;          /* IDS */
    size_t n_ids;
    int echo;                    /* TEXT/IDS: keep the prompt's text (generation_echo) */
    int n;                       /* samples, 1..GEN_MAX_SAMPLES */
    gen_asked asked;             /* sampling as asked; precedence applied per sample */
    uint64_t random_seed;        /* seeds the samples when asked.has_seed is 0 */
    void (*notify)(void *ctx);   /* called when a sample gains output (may be NULL) */
    void *notify_ctx;
} generation_request;

/* Why a submission was refused. */
typedef struct {
    lm_error e;                  /* the code (LM_ERR_INVALID, _LIMIT, _TEMPLATE, _NOT_FOUND, ...)
                                  * and a message for the client */
    char param[32];              /* the request field it is about ("model", "messages", ...) */
    const char *code;            /* a short machine-readable code ("model_not_found",
                                  * "model_not_ready") or NULL */
    int unavailable;             /* the model exists but cannot take requests now (loading,
                                  * unloading, shutting down): try again later */
} generation_error;

typedef struct generation generation;

/* Finds the model, applies its request limits (graph.pbtxt's max_tokens_limit, best_of_limit),
 * builds the prompt and submits the n samples. On success *out is the generation (destroy it with
 * generation_destroy); on failure nothing runs and *err says why. */
lm_status generation_submit(registry *models, const generation_request *req, generation **out,
                            generation_error *err);

/* Moves the output of the first sample that has any into *chunk (zeroed or finied), with
 * chunk->index naming the sample. Returns 1 when *chunk has something, 0 when no sample has
 * output now (never waits: the notify callback says when to poll again). A sample's last chunk
 * has finish != GEN_FINISH_NONE; after it the sample is not polled again. */
int generation_poll(generation *g, gen_chunk *chunk);

/* 1 when every sample's last chunk has been polled. */
int generation_done(const generation *g);

/* Samples, prompt tokens, and (TEXT/IDS with echo) the prompt's text. */
int generation_samples(const generation *g);
size_t generation_prompt_tokens(const generation *g);
const char *generation_echo(const generation *g, size_t *len);

/* Asks every unfinished sample to stop (they finish with GEN_FINISH_CANCELLED). Any thread. */
void generation_cancel(generation *g);

/* Clears the notify callback, cancels what still runs and frees. Accepts NULL. */
void generation_destroy(generation *g);

#endif
