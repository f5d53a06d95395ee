/* sampler.h — choosing the next token from logits.
 *
 * temperature == 0 is greedy: the highest logit, ties to the lower id. Otherwise the logits are
 * divided by the temperature, optionally cut to the top_k highest and to the smallest set whose
 * probability reaches top_p, and one token is drawn with the sampler's own seeded generator, so
 * the same seed gives the same tokens. A sampler belongs to one sequence; it allocates its scratch
 * once at init. */
#ifndef LM_ENGINE_SAMPLER_H
#define LM_ENGINE_SAMPLER_H

#include <stdint.h>

#include "base/error.h"

typedef struct {
    float temperature;  /* 0 = greedy; must be >= 0 */
    int top_k;          /* 0 = off */
    float top_p;        /* 1 = off; in (0, 1] */
    uint64_t seed;
} sampler_params;

typedef struct {
    sampler_params p;
    uint64_t rng;       /* splitmix64 state */
    int n_vocab;
    float *prob;        /* (n_vocab) scratch */
    int32_t *idx;       /* (n_vocab) scratch */
} sampler;

/* Validates params (clear error for out-of-range values) and allocates scratch. */
lm_status sampler_init(sampler *s, const sampler_params *p, int n_vocab, lm_error *err);
void sampler_fini(sampler *s);

/* Picks the next token from n_vocab logits (not modified). */
int32_t sampler_sample(sampler *s, const float *logits);

/* Index of the highest logit, ties to the lower id. */
int32_t sampler_argmax(const float *logits, int n);

#endif
