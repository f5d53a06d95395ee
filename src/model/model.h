/* model.h — a loaded model: architecture description, hyper-parameters and weight views.
 *
 * Weights are views into the mapped file wherever the stored layout is usable as is; converted
 * weights (requested weight format, re-laid-out tensors) live in buffers the model owns. The
 * forward pass (engine/) reads only this struct, so every architecture difference lives in
 * `model_arch` fields and in which tensors are present (fused qkv, biases, q/k norms), never in
 * `if (arch == ...)` spread through the engine.
 *
 * Supported architectures: llama (Llama 2/3.x, incl. llama3 rope scaling via rope freq factors),
 * mistral, qwen2, qwen3, phi3, falcon, phi2, gptj. */
#ifndef LM_MODEL_MODEL_H
#define LM_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "compute/dtype.h"
#include "model/gguf.h"
#include "model/source.h"

/* A weight view: `rows` rows of `cols` elements stored as `type`, `row_bytes` apart. A vector
 * (norm weight, bias) has rows == 1 and is always F32. data == NULL: the model has no such
 * tensor. */
typedef struct {
    ggml_type type;
    int64_t cols;        /* elements per row (input dimension) */
    int64_t rows;        /* output dimension */
    size_t row_bytes;
    const void *data;
} model_tensor;

/* How rotary embedding pairs the dimensions of a head: adjacent (x[2i], x[2i+1]), as GGUF llama
 * and GPT-J store q/k, or NeoX halves (x[i], x[i + n_rot/2]), as HF's rotate_half. */
typedef enum { ROPE_PAIRS_ADJACENT, ROPE_PAIRS_NEOX } model_rope_pairs;
typedef enum { NORM_RMS, NORM_LAYER } model_norm_kind;
typedef enum { FFN_SWIGLU, FFN_GELU } model_ffn_kind;

typedef struct {
    char name[32];               /* "llama", "qwen3", ... (GGUF general.architecture) */
    model_norm_kind norm;        /* RMSNorm, or LayerNorm with optional bias */
    model_ffn_kind ffn;          /* down(silu(gate) * up), or down(gelu(up)) */
    model_rope_pairs rope_pairs;
    int parallel;                /* attention and FFN both read norm(x): x += attn + ffn */
} model_arch;

typedef struct {
    int n_vocab;
    int n_ctx_train;             /* context length the model was trained with */
    int n_embd;                  /* hidden size */
    int n_layer;
    int n_head, n_head_kv;       /* kv heads < heads: grouped-query (1: multi-query) */
    int head_dim;
    int n_ff;                    /* feed-forward hidden size */
    int rope_dim;                /* rotated dims per head (<= head_dim; partial rotary) */
    float rope_theta;
    float norm_eps;
    int sliding_window;          /* attend to at most this many past positions; 0 = all */
} model_hparams;

/* One block's weights. Either wqkv (fused, rows [Q; K; V]) or wq/wk/wv is present; either
 * w_gate_up (fused, rows [gate; up]) or w_gate/w_up (w_gate absent for FFN_GELU). Biases and
 * q/k norms are present only where the model has them. */
typedef struct {
    model_tensor attn_norm, attn_norm_b;  /* (n_embd) */
    model_tensor wqkv, bqkv;              /* (q_dim + 2 kv_dim, n_embd) fused */
    model_tensor wq, bq;                  /* (n_head * head_dim, n_embd) */
    model_tensor wk, bk, wv, bv;          /* (n_head_kv * head_dim, n_embd) */
    model_tensor q_norm, k_norm;          /* (head_dim) per-head RMSNorm (qwen3) */
    model_tensor wo, bo;                  /* (n_embd, n_head * head_dim) */
    model_tensor ffn_norm, ffn_norm_b;    /* (n_embd); absent when parallel */
    model_tensor w_gate_up;               /* (2 n_ff, n_embd) fused, gate rows first */
    model_tensor w_gate, w_up, b_up;      /* (n_ff, n_embd) */
    model_tensor w_down, b_down;          /* (n_embd, n_ff) */
} model_layer;

typedef struct {
    model_arch arch;
    model_hparams hp;
    model_tensor tok_embd;               /* (n_vocab, n_embd): row t embeds token t */
    model_tensor output_norm, output_norm_b;
    model_tensor output, output_b;       /* (n_vocab, n_embd); tok_embd when tied */
    model_tensor rope_freqs;             /* (rope_dim / 2) angle divisors (llama3), optional */
    model_layer *layers;                 /* n_layer entries */
    gguf_file *gguf;                     /* owns the mapping the views point into (GGUF source) */
    struct st_model *st;                 /* or the safetensors shards (Hugging Face source) */
    struct ir_model *ir;                 /* or an OpenVINO IR (openvino_model.xml/.bin, model/ir.h) */
    void **owned;                        /* buffers of converted weights, freed with the model */
    size_t n_owned;
} model;

/* The weight format a model is loaded as. AS_STORED uses the file's own types (views, no work);
 * the others convert every weight matrix except the token embedding (one row is read per token,
 * so it costs no bandwidth) when loading: FP32/FP16/BF16 by rounding, INT8 symmetric per output
 * channel, INT4 symmetric with group_size -1 (channel-wise, as NPU deployments use) or 32/64/128.
 * Quantized formats need an F32/F16/BF16 source. */
typedef enum {
    MODEL_WEIGHTS_AS_STORED = 0,
    MODEL_WEIGHTS_FP32,
    MODEL_WEIGHTS_FP16,
    MODEL_WEIGHTS_BF16,
    MODEL_WEIGHTS_INT8,
    MODEL_WEIGHTS_INT4,
} model_weight_format;

typedef struct {
    model_weight_format format;
    int group_size;   /* INT4 only: -1 channel-wise, or 32, 64, 128; 0 means 128 */
} model_load_opts;

/* Parses "fp32", "fp16", "bf16", "int8", "int4" (OVMS --weight-format names); LM_ERR_INVALID
 * naming the accepted words otherwise. */
lm_status model_parse_weight_format(const char *name, model_weight_format *out, lm_error *err);

/* Loads a model from a GGUF file, a Hugging Face folder (config.json + safetensors), an OpenVINO
 * IR folder (config.json + openvino_model.xml/.bin, preferred over safetensors when both are
 * there), or a folder without config.json holding model.gguf (as `lmserve export` writes it),
 * and converts its weights as `opts` says (NULL: as stored). */
lm_status model_load(const char *path, const model_load_opts *opts, model **out, lm_error *err);

/* The same from a probed source (source.h): a GGUF source's parse is shared, not repeated (the
 * model keeps its own hold on the mapping); other kinds load from the source's path. */
lm_status model_load_source(const model_source *src, const model_load_opts *opts, model **out, lm_error *err);

/* Opens a GGUF file and maps its weights. Fails with a clear message for an unsupported
 * architecture or weight type, a missing tensor, or a shape that disagrees with the metadata.
 * Metadata `lmserve.rope.pairs` ("neox" or "adjacent"), when present, overrides the
 * architecture's rotary pairing (docs/export.md). */
lm_status model_load_gguf(const char *path, model **out, lm_error *err);

/* Frees the model, its converted weights, and unmaps its file. Accepts NULL. */
void model_destroy(model *m);

/* Bytes of all weights the forward pass reads (for memory reports and the roofline). */
size_t model_weight_bytes(const model *m);

#endif
