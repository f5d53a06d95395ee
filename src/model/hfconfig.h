/* hfconfig.h — a Hugging Face model folder's config.json (and generation_config.json) read into
 * a plain struct, with transformers' key names and defaults resolved.
 *
 * config.json is a JSON object written by transformers' PretrainedConfig. Key names differ per
 * model_type; this reader maps them to one set of fields:
 *
 *   field                    keys read (first present wins)
 *   hidden_size              hidden_size; gptj: n_embd
 *   num_hidden_layers        num_hidden_layers; gptj, falcon: n_layer
 *   num_attention_heads      num_attention_heads; gptj, falcon: n_head
 *   num_key_value_heads      num_key_value_heads; falcon: num_kv_heads, n_head_kv
 *   intermediate_size        intermediate_size; gptj: n_inner; falcon: ffn_hidden_size
 *   max_position_embeddings  max_position_embeddings; gptj: n_positions
 *   norm_eps                 rms_norm_eps, layer_norm_eps, layer_norm_epsilon
 *   rope_theta               rope_theta, rope_parameters.rope_theta (transformers 5)
 *   rope_scaling             rope_scaling, rope_parameters (transformers 5)
 *   attention_bias           attention_bias; falcon: bias
 *   torch_dtype              torch_dtype, dtype (transformers 5)
 *   hidden_act               hidden_act, activation_function
 *
 * A key whose value is null counts as absent. Absent optional keys take the default of the
 * model_type's transformers config class (table in hfconfig.c; e.g. qwen3's head_dim 128,
 * mistral's sliding_window 4096, falcon's tied embeddings and multi_query). model_type
 * "RefinedWeb"/"RefinedWebModel" (early Falcon) is read as "falcon".
 *
 * Derived fields: num_key_value_heads defaults to num_attention_heads (falcon: 1 when
 * multi_query, unless new_decoder_architecture); head_dim to hidden_size / num_attention_heads;
 * rotary_dim is gptj's rotary_dim, else head_dim * partial_rotary_factor; sliding_window is 0
 * when use_sliding_window is false (qwen2/qwen3 default) or the window is null.
 *
 * Refused with LM_ERR_FORMAT naming the key: invalid JSON (with line/column), a root that is not
 * an object, a missing required key (model_type, hidden_size, num_hidden_layers,
 * num_attention_heads, vocab_size, and intermediate_size unless the model_type has a default),
 * a value of the wrong JSON type, a size outside [1, LM_HFCONFIG_MAX_INT], heads not divisible
 * by kv heads, a rotary_dim that is odd or over head_dim, non-positive eps/theta, longrope
 * factor lists whose length is not rotary_dim / 2. LM_ERR_LIMIT: file over
 * LM_HFCONFIG_MAX_BYTES, more than LM_HFCONFIG_MAX_EOS EOS ids. Duplicate keys are refused (the
 * file would be ambiguous). Unknown keys are ignored. Which architectures the engine runs is
 * not decided here. */
#ifndef LM_MODEL_HFCONFIG_H
#define LM_MODEL_HFCONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/limits.h"

/* rope_scaling kinds, from "rope_type" (or the older "type"). */
typedef enum {
    HFCONFIG_ROPE_NONE,     /* no rope_scaling (absent, null) or type "default" */
    HFCONFIG_ROPE_LINEAR,   /* positions divided by factor */
    HFCONFIG_ROPE_DYNAMIC,  /* NTK-aware, factor */
    HFCONFIG_ROPE_LLAMA3,   /* factor, low/high_freq_factor, original_max_position_embeddings */
    HFCONFIG_ROPE_LONGROPE, /* "longrope", or its older name "su" (Phi-3): short/long factors */
    HFCONFIG_ROPE_YARN,     /* factor, original_max, attention_factor, beta_fast/slow */
    HFCONFIG_ROPE_OTHER,    /* a type this reader does not know: see `type` */
} hfconfig_rope_kind;

typedef struct {
    hfconfig_rope_kind kind;
    char type[32];               /* as written ("su", "llama3"); "" when none */
    double factor;               /* 0 when absent */
    double low_freq_factor;      /* llama3; 0 when absent */
    double high_freq_factor;     /* llama3; 0 when absent */
    int64_t original_max_position_embeddings; /* from rope_scaling, else the top-level key
                                                  (phi3 keeps it there); 0 when absent */
    double attention_factor;     /* yarn/longrope; 0 when absent */
    double beta_fast, beta_slow; /* yarn; 0 when absent */
    double short_mscale, long_mscale; /* longrope (Phi-3-small/MoE); 0 when absent */
    uint32_t n_short_factor;     /* longrope: both rotary_dim / 2; 0 for other kinds */
    uint32_t n_long_factor;
    float short_factor[LM_HFCONFIG_MAX_ROPE_FACTORS];
    float long_factor[LM_HFCONFIG_MAX_ROPE_FACTORS];
} hfconfig_rope_scaling;

/* generation_config.json: sampling defaults the model's authors chose. Each has_* says whether
 * the key was present (and not null); unset values are 0. */
typedef struct {
    int present;                 /* the file was read */
    int64_t bos_token_id;        /* -1 when absent */
    uint32_t n_eos;              /* 0 when absent */
    int64_t eos_token_ids[LM_HFCONFIG_MAX_EOS];
    int has_do_sample, do_sample;
    int has_temperature;
    double temperature;          /* >= 0 */
    int has_top_p;
    double top_p;                /* in [0, 1] */
    int has_top_k;
    int64_t top_k;               /* >= 0 (0: off) */
    int has_repetition_penalty;
    double repetition_penalty;   /* > 0 */
    int has_max_new_tokens;
    int64_t max_new_tokens;      /* >= 0 */
} hfconfig_generation;

typedef struct {
    char architecture[128];      /* architectures[0]; "" when absent */
    char model_type[64];         /* "llama", "qwen3", "falcon", ... */
    char torch_dtype[32];        /* "bfloat16", ...; "" when absent */
    char hidden_act[32];         /* "silu", "gelu_new", ...; "" when absent */
    int64_t hidden_size;
    int64_t num_hidden_layers;
    int64_t num_attention_heads;
    int64_t num_key_value_heads; /* divides num_attention_heads */
    int64_t head_dim;
    int64_t intermediate_size;
    int64_t vocab_size;
    int64_t max_position_embeddings; /* 0 when absent and the model_type has no default */
    double norm_eps;             /* > 0 */
    double rope_theta;           /* > 0 */
    hfconfig_rope_scaling rope_scaling;
    double partial_rotary_factor;    /* in (0, 1]; 1 when absent (phi: 0.5) */
    int64_t rotary_dim;          /* rotated dims per head: even, in [2, head_dim] */
    int64_t sliding_window;      /* attend to at most this many positions; 0 = unlimited */
    int tie_word_embeddings;     /* lm_head shares the token embedding */
    int attention_bias;          /* the key's value (falcon: "bias"); qwen2's q/k/v biases
                                    come with its architecture, not with this key */
    int parallel_attn;           /* falcon: attention and MLP read the same norm (default 1) */
    int multi_query;             /* falcon: one kv head (default 1) */
    int new_decoder_architecture;/* falcon 40B/180B layout (default 0) */
    int alibi;                   /* falcon: ALiBi instead of RoPE (default 0) */
    int64_t bos_token_id;        /* -1 when absent */
    uint32_t n_eos;              /* eos_token_id: one id or a list; 0 when absent */
    int64_t eos_token_ids[LM_HFCONFIG_MAX_EOS];
    hfconfig_generation gen;     /* generation_config.json (gen.present == 0 without it) */
} hfconfig;

/* Reads dir/config.json and, when present, dir/generation_config.json into *out (fully
 * overwritten). Messages name the file. LM_ERR_NOT_FOUND when config.json is absent. */
lm_status hfconfig_load(const char *dir, hfconfig *out, lm_error *err);

/* Parses config.json text (`len` bytes, not NUL-terminated). out->gen is reset to "absent". */
lm_status hfconfig_parse(const char *text, size_t len, hfconfig *out, lm_error *err);

/* Parses generation_config.json text into *out (fully overwritten; out->present = 1). */
lm_status hfconfig_parse_generation(const char *text, size_t len, hfconfig_generation *out,
                                    lm_error *err);

/* The EOS ids generation should stop on: generation_config.json's when it sets any, else
 * config.json's. Returns the count and points *ids at the array inside `c`. */
uint32_t hfconfig_eos_ids(const hfconfig *c, const int64_t **ids);

#endif
