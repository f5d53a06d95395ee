/* engine.h — the batched transformer engine over a paged KV cache.
 *
 * An engine owns, for one model: the KV cache as a pool of fixed-size blocks (block_size
 * positions each, all layers), the sequences (each a block table: logical block i of the sequence
 * -> physical block), and scratch activations sized for max_batch_tokens; all allocated at
 * creation, nothing during a step. One call, engine_step(), advances many sequences at once, each
 * at its own position: prompt chunks of any length and single decode tokens mix in one step.
 *
 * Blocks carry reference counts so that the scheduler can later share a prompt prefix between
 * sequences (engine_seq_fork) without the engine changing.
 *
 * Threads: an engine is driven by one thread (the model's generation loop); it may use a compute
 * pool internally. */
#ifndef LM_ENGINE_ENGINE_H
#define LM_ENGINE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "compute/kernels.h"
#include "model/model.h"

typedef struct {
    int block_size;        /* positions per KV block; 0 = 16 */
    int n_blocks;          /* blocks in the KV pool; 0 = enough for max_seqs x n_ctx */
    int n_ctx;             /* most positions one sequence may hold; 0 = the model's n_ctx_train */
    int max_seqs;          /* most sequences open at once; 0 = 1 */
    int max_batch_tokens;  /* most tokens in one step; 0 = 512 */
    ggml_type kv_type;     /* GGML_TYPE_F16 or GGML_TYPE_F32 (start from engine_params_default) */
    const kern_set *kernels; /* NULL = kern_best() */
    int n_threads;         /* compute threads; 0 = one per physical core */
    int f32_activations;   /* 1: keep activations in f32 for every product (the f32_dequant
                            * numerics of docs/kernels.md); 0 (default): quantize activations to
                            * int8 per 32-block for the weights the kernel set has int8 kernels
                            * for (kern_q8_native), as llama.cpp does */
} engine_params;

/* Defaults: block 16, f16 KV, one sequence of the model's trained context, 512-token steps. */
engine_params engine_params_default(void);

typedef struct engine engine;

lm_status engine_create(const model *m, const engine_params *p, engine **out, lm_error *err);
void engine_destroy(engine *e); /* accepts NULL */

/* Opens an empty sequence; *id is its handle. LM_ERR_LIMIT when max_seqs are open. */
lm_status engine_seq_open(engine *e, int *id, lm_error *err);
/* Closes a sequence and releases its blocks. Ignores an id that is not open. */
void engine_seq_close(engine *e, int id);
/* Positions held by a sequence (the next token's position); -1 for an id that is not open. */
int engine_seq_len(const engine *e, int id);
/* Drops positions >= n (keeps the first n); n must be <= the length. */
lm_status engine_seq_truncate(engine *e, int id, int n, lm_error *err);
/* Free KV blocks in the pool. */
int engine_free_blocks(const engine *e);

/* ---- prefix sharing ----
 * A block holds block_size positions of every layer. Full blocks of a prompt can be shared: a
 * holder (the serving layer's prefix cache) retains a block so it outlives its sequence, and a
 * new sequence starts from retained blocks with engine_seq_attach instead of recomputing them.
 * Shared blocks are never written: a sequence only writes positions past what it attached. */

int engine_block_size(const engine *e);
/* The block table of an open sequence: *blocks points at n = ceil(len / block_size) ids, valid
 * until the sequence changes. Returns n (0 for an id that is not open). */
int engine_seq_blocks(const engine *e, int seq, const int **blocks);
/* Starts an empty open sequence with n full blocks (retained for it): its length becomes
 * n * block_size. LM_ERR_INVALID if the sequence is not empty or n is out of range. */
lm_status engine_seq_attach(engine *e, int seq, const int *blocks, int n, lm_error *err);
/* Keeps a block out of the free pool until the matching release; a block returns to the pool when
 * its last holder (sequence or retainer) lets go. */
void engine_block_retain(engine *e, int block);
void engine_block_release(engine *e, int block);
/* Holders of a block (0 = free). */
int engine_block_refs(const engine *e, int block);

/* Which logits a batch item wants back. */
typedef enum {
    ENGINE_LOGITS_NONE, /* prompt chunk that is not the last */
    ENGINE_LOGITS_LAST, /* n_vocab floats for the last token */
    ENGINE_LOGITS_ALL,  /* n_tokens * n_vocab floats, one row per token */
} engine_logits;

typedef struct {
    int seq;               /* an open sequence */
    const int32_t *tokens; /* appended at positions [len, len + n_tokens) */
    int n_tokens;          /* >= 1 */
    engine_logits want;
    float *logits;         /* caller-owned output, sized by `want` */
} engine_item;

/* Evaluates every item's tokens. The total token count must be <= max_batch_tokens; a sequence
 * may appear in at most one item. Fails before changing anything for a bad item (unknown
 * sequence, token outside the vocabulary, context full: LM_ERR_INVALID / LM_ERR_LIMIT) or when
 * the KV pool has too few free blocks (LM_ERR_LIMIT). */
lm_status engine_step(engine *e, const engine_item *items, int n_items, lm_error *err);

const model *engine_model(const engine *e);

#endif
