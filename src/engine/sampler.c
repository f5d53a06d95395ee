/* sampler.c — penalties, greedy, and seeded temperature / top-k / top-p / min-p sampling. */
#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform double in [0, 1) from 53 random bits. */
static double uniform(uint64_t *state) { return (double)(splitmix64(state) >> 11) * 0x1.0p-53; }

sampler_params sampler_params_default(void) {
    sampler_params p = {0};
    p.top_p = 1.0f;
    p.repetition_penalty = 1.0f;
    return p;
}

#define CHECK(cond, ...) do { if (!(cond)) return err_set(err, LM_ERR_INVALID, __VA_ARGS__); } while (0)

lm_status sampler_init(sampler *s, const sampler_params *p, int n_vocab, lm_error *err) {
    memset(s, 0, sizeof *s);
    CHECK(p->temperature >= 0.0f && isfinite(p->temperature),
          "temperature %g must be a finite number >= 0", (double)p->temperature);
    CHECK(p->top_k >= 0, "top_k %d must be >= 0", p->top_k);
    CHECK(p->top_p > 0.0f && p->top_p <= 1.0f, "top_p %g must be in (0, 1]", (double)p->top_p);
    CHECK(p->min_p >= 0.0f && p->min_p <= 1.0f, "min_p %g must be in [0, 1]", (double)p->min_p);
    CHECK(p->repetition_penalty > 0.0f && isfinite(p->repetition_penalty),
          "repetition_penalty %g must be a finite number > 0", (double)p->repetition_penalty);
    CHECK(p->presence_penalty >= -2.0f && p->presence_penalty <= 2.0f,
          "presence_penalty %g must be in [-2, 2]", (double)p->presence_penalty);
    CHECK(p->frequency_penalty >= -2.0f && p->frequency_penalty <= 2.0f,
          "frequency_penalty %g must be in [-2, 2]", (double)p->frequency_penalty);
    CHECK(n_vocab > 0, "empty vocabulary");
    s->p = *p;
    s->rng = p->seed;
    s->n_vocab = n_vocab;
    s->work = malloc((size_t)n_vocab * sizeof *s->work);
    s->prob = malloc((size_t)n_vocab * sizeof *s->prob);
    s->idx = malloc((size_t)n_vocab * sizeof *s->idx);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    s->seen = calloc((size_t)n_vocab, 1);
    if (!s->work || !s->prob || !s->idx || !s->count || !s->seen) {
        sampler_fini(s);
        return err_set(err, LM_ERR_NOMEM, "out of memory for the sampler");
    }
    return LM_OK;
}

void sampler_fini(sampler *s) {
    free(s->work);
    free(s->prob);
    free(s->idx);
    free(s->count);
    free(s->seen);
    memset(s, 0, sizeof *s);
}

void sampler_set_prompt(sampler *s, const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < s->n_vocab) s->seen[ids[i]] = 1;
}

void sampler_accept(sampler *s, int32_t id) {
    if (id < 0 || id >= s->n_vocab) return;
    s->seen[id] = 1;
    s->count[id]++;
}

int32_t sampler_argmax(const float *logits, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

/* qsort has no context argument in C11: the comparator reads a thread-local pointer. */
static _Thread_local const float *g_sort_key;

static int by_key_desc(const void *a, const void *b) {
    int32_t ia = *(const int32_t *)a, ib = *(const int32_t *)b;
    float ka = g_sort_key[ia], kb = g_sort_key[ib];
    if (ka != kb) return ka < kb ? 1 : -1;
    return ia < ib ? -1 : 1; /* ties: lower id first */
}

static void sort_desc(int32_t *idx, int n, const float *key) {
    g_sort_key = key;
    qsort(idx, (size_t)n, sizeof *idx, by_key_desc);
}

/* Returns the logits to sample from: `logits` itself when no penalty applies. */
static const float *apply_penalties(sampler *s, const float *logits) {
    const sampler_params *p = &s->p;
    if (p->repetition_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f)
        return logits;
    memcpy(s->work, logits, (size_t)s->n_vocab * sizeof *s->work);
    for (int i = 0; i < s->n_vocab; i++) {
        float *l = &s->work[i];
        if (s->seen[i] && p->repetition_penalty != 1.0f)
            *l = *l > 0 ? *l / p->repetition_penalty : *l * p->repetition_penalty;
        if (s->count[i] > 0) *l -= p->frequency_penalty * (float)s->count[i] + p->presence_penalty;
    }
    return s->work;
}

int32_t sampler_sample(sampler *s, const float *logits) {
    int n = s->n_vocab;
    const sampler_params *p = &s->p;
    logits = apply_penalties(s, logits);
    if (p->temperature == 0.0f) return sampler_argmax(logits, n);

    /* softmax(logits / T) */
    float max = logits[sampler_argmax(logits, n)];
    for (int i = 0; i < n; i++) {
        s->prob[i] = expf((logits[i] - max) / p->temperature);
        s->idx[i] = i;
    }
    int keep = n;
    if (p->top_k > 0 || p->top_p < 1.0f || p->min_p > 0.0f) {
        sort_desc(s->idx, n, s->prob);
        double total = 0.0;
        for (int i = 0; i < n; i++) total += s->prob[i];
        if (p->top_k > 0 && p->top_k < keep) keep = p->top_k;
        if (p->top_p < 1.0f) {
            double cum = 0.0;
            for (int i = 0; i < keep; i++) {
                cum += s->prob[s->idx[i]] / total;
                if (cum >= p->top_p) {
                    keep = i + 1;
                    break;
                }
            }
        }
        if (p->min_p > 0.0f) { /* probabilities relative to the best: prob[idx[0]] is exp(0) = 1 */
            float floor = p->min_p * s->prob[s->idx[0]];
            int k = 1;
            while (k < keep && s->prob[s->idx[k]] >= floor) k++;
            keep = k;
        }
    }
    double sum = 0.0;
    for (int i = 0; i < keep; i++) sum += s->prob[s->idx[i]];
    double r = uniform(&s->rng) * sum, cum = 0.0;
    for (int i = 0; i < keep; i++) {
        cum += s->prob[s->idx[i]];
        if (r < cum) return s->idx[i];
    }
    return s->idx[keep - 1]; /* rounding left r just past the total */
}

float sampler_logprobs(const float *logits, int n_vocab, int32_t chosen, int top_n,
                       sampler_logprob *top) {
    float max = logits[sampler_argmax(logits, n_vocab)];
    double sum = 0.0;
    for (int i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - max);
    float log_z = max + (float)log(sum);
    if (top_n > n_vocab) top_n = n_vocab;
    /* selection of the top_n: small n in practice (OpenAI allows <= 20), so insertion suffices */
    int filled = 0;
    for (int i = 0; i < n_vocab && top_n > 0; i++) {
        float l = logits[i];
        if (filled == top_n && l <= logits[top[filled - 1].id]) continue;
        int j = filled < top_n ? filled++ : top_n - 1;
        while (j > 0 && logits[top[j - 1].id] < l) {
            top[j] = top[j - 1];
            j--;
        }
        top[j].id = i;
    }
    for (int i = 0; i < filled; i++) top[i].logprob = logits[top[i].id] - log_z;
    return (chosen >= 0 && chosen < n_vocab) ? logits[chosen] - log_z : -INFINITY;
}
