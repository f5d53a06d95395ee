/* model.h — a loaded model: hyper-parameters, architecture description and weight views.
 *
 * Weights are views into the mapped file (never copied). The forward pass (engine/forward.c) reads
 * only this struct, so every architecture difference lives in `model_arch` fields, not in
 * `if (arch == ...)` scattered through the engine. Today: the llama architecture from GGUF. */
#ifndef LM_MODEL_MODEL_H
#define LM_MODEL_MODEL_H

#include <stdint.h>

#include "base/error.h"
#include "compute/dtype.h"
#include "model/gguf.h"

/* A weight matrix view: rows of `cols` elements stored as `type`, `row_bytes` apart. A vector
 * (norm weight) has rows == 1. */
typedef struct {
    ggml_type type;
    int64_t cols;        /* elements per row (input dimension) */
    int64_t rows;        /* output dimension */
    size_t row_bytes;
    const void *data;    /* NULL when the model has no such tensor */
} model_tensor;

/* How rotary embedding pairs dimensions: adjacent (x[2i], x[2i+1]) as GGUF llama stores q/k, or
 * NeoX halves (x[i], x[i + d/2]). */
typedef enum { ROPE_PAIRS_ADJACENT, ROPE_PAIRS_NEOX } model_rope_pairs;

typedef struct {
    char name[32];               /* general.architecture ("llama") */
    model_rope_pairs rope_pairs;
} model_arch;

typedef struct {
    int n_vocab;
    int n_ctx_train;             /* context length the model was trained with */
    int n_embd;                  /* hidden size */
    int n_layer;
    int n_head, n_head_kv;       /* attention heads; kv heads < heads means grouped-query */
    int head_dim;
    int n_ff;                    /* feed-forward hidden size */
    int rope_dim;                /* rotated dimensions per head (<= head_dim) */
    float rope_theta;
    float norm_eps;
} model_hparams;

typedef struct {
    model_tensor attn_norm;      /* (n_embd) RMSNorm weight */
    model_tensor wq;             /* (n_head * head_dim, n_embd) */
    model_tensor wk, wv;         /* (n_head_kv * head_dim, n_embd) */
    model_tensor wo;             /* (n_embd, n_head * head_dim) */
    model_tensor ffn_norm;       /* (n_embd) */
    model_tensor w_gate, w_up;   /* (n_ff, n_embd) */
    model_tensor w_down;         /* (n_embd, n_ff) */
} model_layer;

typedef struct {
    model_arch arch;
    model_hparams hp;
    model_tensor tok_embd;       /* (n_vocab, n_embd): row t is token t's embedding */
    model_tensor output_norm;    /* (n_embd) */
    model_tensor output;         /* (n_vocab, n_embd); tok_embd when tied */
    model_layer *layers;         /* n_layer entries */
    gguf_file *gguf;             /* owns the mapping the views point into */
} model;

/* Opens a GGUF file and maps its weights. Fails with a clear message for an unsupported
 * architecture or weight type, a missing tensor, or a shape that disagrees with the metadata. */
lm_status model_load_gguf(const char *path, model **out, lm_error *err);

/* Frees the model and unmaps its file. Accepts NULL. */
void model_destroy(model *m);

#endif
