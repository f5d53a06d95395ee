/* forward.h — the transformer forward pass for one sequence (reference path, F32 activations).
 *
 * An engine_seq holds one sequence's run state: its KV cache (contiguous, F32, n_ctx positions)
 * and scratch activations, all allocated at creation; a step allocates nothing. Tokens are fed in
 * order; after each, the logits for the next position are available. The model must outlive the
 * sequence. Not thread-safe: one sequence is driven by one thread. (The batched, paged-KV engine
 * API of the engine issue replaces this single-sequence entry point.) */
#ifndef LM_ENGINE_FORWARD_H
#define LM_ENGINE_FORWARD_H

#include <stdint.h>

#include "base/error.h"
#include "compute/kernels.h"
#include "model/model.h"

typedef struct engine_seq engine_seq;

/* Creates run state for up to n_ctx positions using kernel set `k` (kern_best() when NULL). */
lm_status engine_seq_create(const model *m, int n_ctx, const kern_set *k, engine_seq **out,
                            lm_error *err);
void engine_seq_destroy(engine_seq *s); /* accepts NULL */

/* Number of positions already evaluated (the next token's position). */
int engine_seq_len(const engine_seq *s);

/* Evaluates `token` at the next position and returns the logits over the vocabulary (n_vocab
 * floats, valid until the next call). Fails with LM_ERR_LIMIT when the context is full and
 * LM_ERR_INVALID for a token outside the vocabulary. */
lm_status engine_seq_step(engine_seq *s, int32_t token, const float **logits, lm_error *err);

#endif
