/* sampler.c — greedy and seeded temperature / top-k / top-p sampling. */
#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform double in [0, 1) from 53 random bits. */
static double uniform(uint64_t *state) { return (double)(splitmix64(state) >> 11) * 0x1.0p-53; }

lm_status sampler_init(sampler *s, const sampler_params *p, int n_vocab, lm_error *err) {
    s->prob = NULL;
    s->idx = NULL;
    if (!(p->temperature >= 0.0f) || !isfinite(p->temperature))
        return err_set(err, LM_ERR_INVALID, "temperature %g must be a finite number >= 0",
                       (double)p->temperature);
    if (p->top_k < 0) return err_set(err, LM_ERR_INVALID, "top_k %d must be >= 0", p->top_k);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return err_set(err, LM_ERR_INVALID, "top_p %g must be in (0, 1]", (double)p->top_p);
    if (n_vocab <= 0) return err_set(err, LM_ERR_INVALID, "empty vocabulary");
    s->p = *p;
    s->rng = p->seed;
    s->n_vocab = n_vocab;
    s->prob = malloc((size_t)n_vocab * sizeof *s->prob);
    s->idx = malloc((size_t)n_vocab * sizeof *s->idx);
    if (!s->prob || !s->idx) {
        sampler_fini(s);
        return err_set(err, LM_ERR_NOMEM, "out of memory for the sampler");
    }
    return LM_OK;
}

void sampler_fini(sampler *s) {
    free(s->prob);
    free(s->idx);
    s->prob = NULL;
    s->idx = NULL;
}

int32_t sampler_argmax(const float *logits, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

/* qsort context is not portable in C11; sort indices by descending probability with a static
 * comparator over a thread-local pointer. */
static _Thread_local const float *g_sort_prob;

static int by_prob_desc(const void *a, const void *b) {
    float pa = g_sort_prob[*(const int32_t *)a], pb = g_sort_prob[*(const int32_t *)b];
    if (pa != pb) return pa < pb ? 1 : -1;
    return *(const int32_t *)a < *(const int32_t *)b ? -1 : 1; /* stable: lower id first */
}

int32_t sampler_sample(sampler *s, const float *logits) {
    int n = s->n_vocab;
    if (s->p.temperature == 0.0f) return sampler_argmax(logits, n);

    /* softmax(logits / T) */
    float max = logits[sampler_argmax(logits, n)];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        s->prob[i] = expf((logits[i] - max) / s->p.temperature);
        sum += s->prob[i];
        s->idx[i] = i;
    }
    int keep = n;
    if (s->p.top_k > 0 || s->p.top_p < 1.0f) {
        g_sort_prob = s->prob;
        qsort(s->idx, (size_t)n, sizeof *s->idx, by_prob_desc);
        if (s->p.top_k > 0 && s->p.top_k < keep) keep = s->p.top_k;
        if (s->p.top_p < 1.0f) {
            double cum = 0.0;
            for (int i = 0; i < keep; i++) {
                cum += s->prob[s->idx[i]] / sum;
                if (cum >= s->p.top_p) {
                    keep = i + 1;
                    break;
                }
            }
        }
        sum = 0.0;
        for (int i = 0; i < keep; i++) sum += s->prob[s->idx[i]];
    }
    double r = uniform(&s->rng) * sum, cum = 0.0;
    for (int i = 0; i < keep; i++) {
        cum += s->prob[s->idx[i]];
        if (r < cum) return s->idx[i];
    }
    return s->idx[keep - 1]; /* rounding left r just past the total */
}
