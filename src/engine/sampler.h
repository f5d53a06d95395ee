/* sampler.h — choosing the next token from logits.
 *
 * Order of operations (as vLLM and HF apply them):
 *   1. penalties on a copy of the logits: repetition (HF: divide positive / multiply negative
 *      logits of every token seen in the prompt or output), then frequency and presence (OpenAI:
 *      logit -= frequency * count + presence * [count > 0], over output tokens);
 *   2. temperature == 0: greedy, the highest logit, ties to the lower id;
 *   3. otherwise softmax(logits / T), then top_k, top_p, min_p cut the candidates, and one token
 *      is drawn with the sampler's own seeded generator: same seed, same tokens.
 * A sampler belongs to one sequence; it allocates its scratch once at init. Feed it the prompt
 * (sampler_set_prompt) and every chosen token (sampler_accept) so penalties see the history. */
#ifndef LM_ENGINE_SAMPLER_H
#define LM_ENGINE_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct {
    float temperature;        /* 0 = greedy; >= 0 */
    int top_k;                /* 0 = off; >= 0 */
    float top_p;              /* 1 = off; in (0, 1] */
    float min_p;              /* 0 = off; in [0, 1] */
    float repetition_penalty; /* 1 = off; > 0 */
    float presence_penalty;   /* 0 = off; in [-2, 2] */
    float frequency_penalty;  /* 0 = off; in [-2, 2] */
    uint64_t seed;
} sampler_params;

/* Neutral parameters: greedy, every filter and penalty off, seed 0. */
sampler_params sampler_params_default(void);

typedef struct {
    sampler_params p;
    uint64_t rng;             /* splitmix64 state */
    int n_vocab;
    float *work;              /* (n_vocab) penalised logits */
    float *prob;              /* (n_vocab) */
    int32_t *idx;             /* (n_vocab) */
    int32_t *count;           /* (n_vocab) times each token was output */
    unsigned char *seen;      /* (n_vocab) token appeared in the prompt or output */
} sampler;

/* Validates params (a clear error naming the value for anything out of range) and allocates. */
lm_status sampler_init(sampler *s, const sampler_params *p, int n_vocab, lm_error *err);
void sampler_fini(sampler *s);

/* Records the prompt for the repetition penalty. Ids outside the vocabulary are ignored. */
void sampler_set_prompt(sampler *s, const int32_t *ids, size_t n);
/* Records a chosen token (updates the penalty counts). */
void sampler_accept(sampler *s, int32_t id);

/* Picks the next token from n_vocab logits (not modified). Does not call sampler_accept. */
int32_t sampler_sample(sampler *s, const float *logits);

/* Index of the highest logit, ties to the lower id. */
int32_t sampler_argmax(const float *logits, int n);

/* A token and its log-probability under softmax(logits) (the model's distribution, before
 * penalties and temperature, as OpenAI reports it). */
typedef struct {
    int32_t id;
    float logprob;
} sampler_logprob;

/* Log-probability of `chosen`, and the top_n most likely tokens (highest first, ties to the lower
 * id) written to top[0..top_n). Returns the chosen token's log-probability. */
float sampler_logprobs(const float *logits, int n_vocab, int32_t chosen, int top_n,
                       sampler_logprob *top);

#endif
