/* model.c — mapping a GGUF file's metadata and tensors onto the model description.
 *
 * Binding is data-driven: every tensor the forward pass knows is looked up by its GGUF name, its
 * shape checked against the hyper-parameters, and the architecture row plus the set of tensors
 * present (fused or separate qkv, gate, biases, q/k norms) decide which path the engine takes. */
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compute/kernels.h"
#include "base/limits.h"
#include "base/mapfile.h"
#include "compute/quant.h"
#include "compute/threadpool.h"
#include "model/hfconfig.h"
#include "model/ir.h"
#include "model/safetensors.h"

/* name, norm, ffn, rope pairs, parallel block */
static const model_arch g_archs[] = {
    {"llama", NORM_RMS, FFN_SWIGLU, ROPE_PAIRS_ADJACENT, 0},   /* GGUF permutes q/k rows */
    {"mistral", NORM_RMS, FFN_SWIGLU, ROPE_PAIRS_ADJACENT, 0},
    {"qwen2", NORM_RMS, FFN_SWIGLU, ROPE_PAIRS_NEOX, 0},
    {"qwen3", NORM_RMS, FFN_SWIGLU, ROPE_PAIRS_NEOX, 0},
    {"phi3", NORM_RMS, FFN_SWIGLU, ROPE_PAIRS_NEOX, 0},
    {"falcon", NORM_LAYER, FFN_GELU, ROPE_PAIRS_NEOX, 1},
    {"phi2", NORM_LAYER, FFN_GELU, ROPE_PAIRS_NEOX, 1},
    {"gptj", NORM_LAYER, FFN_GELU, ROPE_PAIRS_ADJACENT, 1},
};

/* ---- metadata ------------------------------------------------------------------------------ */

/* Reads "<arch>.<suffix>" as an integer in [1, 2^24]; a missing key gives `def`, or an error when
 * def < 0. */
static lm_status hp_int(const gguf_file *f, const char *arch, const char *suffix, int64_t def,
                        int *out, lm_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v;
    lm_status s = gguf_get_u32(f, key, &v, err);
    if (s == LM_ERR_NOT_FOUND) {
        if (def < 0) return err_set(err, LM_ERR_FORMAT, "missing metadata key '%s'", key);
        *out = (int)def;
        return LM_OK;
    }
    if (s != LM_OK) return s;
    if (v > (uint32_t)LM_MODEL_MAX_VOCAB || (v == 0 && def != 0))
        return err_set(err, LM_ERR_FORMAT, "metadata '%s' = %u is out of range", key, v);
    *out = (int)v;
    return LM_OK;
}

static lm_status hp_float(const gguf_file *f, const char *arch, const char *suffix, float def,
                          float *out, lm_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    lm_status s = gguf_get_f32(f, key, out, err);
    if (s == LM_ERR_NOT_FOUND) {
        *out = def;
        return LM_OK;
    }
    if (s == LM_OK && !(*out > 0.0f && *out < 1e30f))
        return err_set(err, LM_ERR_FORMAT, "metadata '%s' = %g is out of range", key, (double)*out);
    return s;
}

static lm_status load_hparams(model *m, lm_error *err) {
    const gguf_file *f = m->gguf;
    model_hparams *hp = &m->hp;
    const char *a = m->arch.name;
    LM_TRY(hp_int(f, a, "embedding_length", -1, &hp->n_embd, err));
    LM_TRY(hp_int(f, a, "block_count", -1, &hp->n_layer, err));
    LM_TRY(hp_int(f, a, "feed_forward_length", -1, &hp->n_ff, err));
    LM_TRY(hp_int(f, a, "attention.head_count", -1, &hp->n_head, err));
    LM_TRY(hp_int(f, a, "attention.head_count_kv", hp->n_head, &hp->n_head_kv, err));
    LM_TRY(hp_int(f, a, "context_length", 2048, &hp->n_ctx_train, err));
    /* ranges and consistency are checked once for every source, in check_hparams */
    if (hp->n_embd % hp->n_head != 0) /* the default head size below needs it */
        return err_set(err, LM_ERR_FORMAT, "embedding length %d is not a multiple of head count %d",
                       hp->n_embd, hp->n_head);
    LM_TRY(hp_int(f, a, "attention.key_length", hp->n_embd / hp->n_head, &hp->head_dim, err));
    LM_TRY(hp_int(f, a, "rope.dimension_count", hp->head_dim, &hp->rope_dim, err));
    LM_TRY(hp_float(f, a, "rope.freq_base", 10000.0f, &hp->rope_theta, err));
    LM_TRY(hp_int(f, a, "attention.sliding_window", 0, &hp->sliding_window, err));
    const char *eps_key = m->arch.norm == NORM_RMS ? "attention.layer_norm_rms_epsilon"
                                                   : "attention.layer_norm_epsilon";
    return hp_float(f, a, eps_key, 1e-5f, &hp->norm_eps, err);
}

/* ---- tensors ------------------------------------------------------------------------------- */

/* Where weights come from: a GGUF file, a set of safetensors shards, or an OpenVINO IR. */
typedef struct {
    const gguf_file *gguf;
    const st_model *st;
    const ir_model *ir;
} wsource;

typedef struct {
    ggml_type type;
    int64_t cols, rows;   /* innermost dimension, product of the others */
    const void *data;
} raw_tensor;

static int source_find(const wsource *src, const char *name, raw_tensor *out) {
    if (src->gguf) {
        const gguf_tensor *g = gguf_find_tensor(src->gguf, name);
        if (!g) return 0;
        *out = (raw_tensor){g->type, (int64_t)g->ne[0], (int64_t)(g->ne[1] * g->ne[2] * g->ne[3]), g->data};
        return 1;
    }
    if (src->ir) {
        const ir_tensor *t = ir_model_find(src->ir, name);
        if (!t) return 0;
        *out = (raw_tensor){t->type, t->cols, t->rows, t->data};
        return 1;
    }
    const st_tensor *t = st_model_find(src->st, name);
    if (!t) return 0;
    uint64_t rows = 1;
    for (uint32_t i = 0; i + 1 < t->n_dims; i++) rows *= t->shape[i];
    *out = (raw_tensor){t->type, t->n_dims ? (int64_t)t->shape[t->n_dims - 1] : 1, (int64_t)rows, t->data};
    return 1;
}

static lm_status keep_owned(model *m, void *p, lm_error *err);

/* Byte offsets of the f16 scales inside one block of a GGUF quantized type (-1 ends the list). */
static const int *scale_offsets(ggml_type t) {
    static const int d0[] = {0, -1}, d0m2[] = {0, 2, -1}, q6k[] = {208, -1};
    switch (t) {
    case GGML_TYPE_Q4_0: case GGML_TYPE_Q5_0: case GGML_TYPE_Q8_0: return d0;
    case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1: case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: return d0m2;
    case GGML_TYPE_Q6_K: return q6k;
    default: return NULL;
    }
}

/* lmserve's types (files written by `lmserve export`): an f32 scale at the start of each row
 * (channel-wise), or an f16 scale at the start of each group's block. */
static lm_status check_lm_scales(const char *name, ggml_type type, const unsigned char *p,
                                 int64_t cols, int64_t rows, lm_error *err) {
    size_t rb = quant_row_bytes(type, cols);
    int64_t g = quant_row_multiple(type), per_row = cols / g;
    size_t block = 2 + (size_t)g / 2; /* f16 scale + g nibbles */
    for (int64_t r = 0; r < rows; r++, p += rb) {
        if (type == LM_TYPE_I8_CH || type == LM_TYPE_I4_CH) {
            float d;
            memcpy(&d, p, sizeof d);
            if (!isfinite(d))
                return err_set(err, LM_ERR_FORMAT, "tensor '%s': row %lld has a non-finite scale",
                               name, (long long)r);
            continue;
        }
        for (int64_t b = 0; b < per_row; b++) {
            uint16_t h;
            memcpy(&h, p + (size_t)b * block, 2);
            if ((h & 0x7c00) == 0x7c00)
                return err_set(err, LM_ERR_FORMAT, "tensor '%s': row %lld group %lld has a "
                               "non-finite scale (f16 0x%04x)", name, (long long)r, (long long)b, h);
        }
    }
    return LM_OK;
}

/* A hostile or damaged file may hold NaN or infinite block scales, which would poison every
 * logit: refuse them at load (a pass over the scales, one read of the tensor's pages). */
static lm_status check_scales(const char *name, ggml_type type, const void *data, int64_t cols,
                              int64_t rows, lm_error *err) {
    if (type >= LM_TYPE_FIRST) return check_lm_scales(name, type, data, cols, rows, err);
    const int *offs = scale_offsets(type);
    if (!offs) return LM_OK;
    size_t block = ggml_block_bytes(type);
    size_t n_blocks = (size_t)(cols / ggml_block_elems(type)) * (size_t)rows;
    const unsigned char *p = data;
    for (size_t b = 0; b < n_blocks; b++, p += block) {
        for (const int *o = offs; *o >= 0; o++) {
            uint16_t h;
            memcpy(&h, p + *o, 2);
            if ((h & 0x7c00) == 0x7c00)
                return err_set(err, LM_ERR_FORMAT, "tensor '%s': block %zu has a non-finite scale "
                               "(f16 0x%04x)", name, b, h);
        }
    }
    return LM_OK;
}

/* Binds tensor `name` if present. rows == 1 means a vector, kept as F32 (converted into a buffer
 * the model owns when stored otherwise). A shape different from (cols, rows) is an error. */
static lm_status bind(model *m, const wsource *src, const char *name, int64_t cols, int64_t rows,
                      model_tensor *t, lm_error *err) {
    memset(t, 0, sizeof *t);
    raw_tensor r;
    if (!source_find(src, name, &r)) return LM_OK;
    if (r.cols != cols || r.rows != rows)
        return err_set(err, LM_ERR_FORMAT, "tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]",
                       name, (long long)r.cols, (long long)r.rows, (long long)cols, (long long)rows);
    if (!kern_supports(r.type))
        return err_set(err, LM_ERR_UNSUPPORTED, "tensor '%s': weight type %s is not supported",
                       name, quant_type_name(r.type) ? quant_type_name(r.type) : "?");
    if (cols % quant_row_multiple(r.type) != 0)
        return err_set(err, LM_ERR_FORMAT, "tensor '%s': rows of %lld are not whole %s blocks", name,
                       (long long)cols, quant_type_name(r.type));
    LM_TRY(check_scales(name, r.type, r.data, cols, rows, err));
    t->type = r.type;
    t->cols = cols;
    t->rows = rows;
    t->row_bytes = quant_row_bytes(r.type, cols);
    t->data = r.data;
    if (rows == 1 && r.type != GGML_TYPE_F32) {
        float *f = malloc((size_t)cols * sizeof *f);
        if (!f) return err_set(err, LM_ERR_NOMEM, "out of memory");
        LM_TRY(keep_owned(m, f, err));
        quant_dequantize_row(r.type, r.data, cols, f);
        t->type = GGML_TYPE_F32;
        t->row_bytes = (size_t)cols * sizeof *f;
        t->data = f;
    }
    return LM_OK;
}

static lm_status require(const model_tensor *t, const char *name, lm_error *err) {
    return t->data ? LM_OK : err_set(err, LM_ERR_FORMAT, "missing tensor '%s'", name);
}

/* Tensor names of one source format; layer names are printf patterns with the layer's %d.
 * NULL: the format has no such tensor. */
typedef struct {
    const char *attn_norm, *attn_norm_b, *wqkv, *bqkv, *wq, *bq, *wk, *bk, *wv, *bv;
    const char *q_norm, *k_norm, *wo, *bo, *ffn_norm, *ffn_norm_b;
    const char *w_gate_up, *w_gate, *w_up, *b_up, *w_down, *b_down;
    const char *tok_embd, *output_norm, *output_norm_b, *output, *output_b, *rope_freqs;
} name_table;

static const name_table g_gguf_names = {
    "blk.%d.attn_norm.weight", "blk.%d.attn_norm.bias", "blk.%d.attn_qkv.weight",
    "blk.%d.attn_qkv.bias", "blk.%d.attn_q.weight", "blk.%d.attn_q.bias", "blk.%d.attn_k.weight",
    "blk.%d.attn_k.bias", "blk.%d.attn_v.weight", "blk.%d.attn_v.bias",
    "blk.%d.attn_q_norm.weight", "blk.%d.attn_k_norm.weight", "blk.%d.attn_output.weight",
    "blk.%d.attn_output.bias", "blk.%d.ffn_norm.weight", "blk.%d.ffn_norm.bias",
    NULL /* fused gate+up is ffn_up with 2 n_ff rows */, "blk.%d.ffn_gate.weight",
    "blk.%d.ffn_up.weight", "blk.%d.ffn_up.bias", "blk.%d.ffn_down.weight", "blk.%d.ffn_down.bias",
    "token_embd.weight", "output_norm.weight", "output_norm.bias", "output.weight", "output.bias",
    "rope_freqs.weight",
};

/* transformers' Llama/Mistral/Qwen2/Qwen3/Phi3 layout */
static const name_table g_hf_llama_names = {
    "model.layers.%d.input_layernorm.weight", NULL, "model.layers.%d.self_attn.qkv_proj.weight", NULL,
    "model.layers.%d.self_attn.q_proj.weight", "model.layers.%d.self_attn.q_proj.bias",
    "model.layers.%d.self_attn.k_proj.weight", "model.layers.%d.self_attn.k_proj.bias",
    "model.layers.%d.self_attn.v_proj.weight", "model.layers.%d.self_attn.v_proj.bias",
    "model.layers.%d.self_attn.q_norm.weight", "model.layers.%d.self_attn.k_norm.weight",
    "model.layers.%d.self_attn.o_proj.weight", "model.layers.%d.self_attn.o_proj.bias",
    "model.layers.%d.post_attention_layernorm.weight", NULL,
    "model.layers.%d.mlp.gate_up_proj.weight", "model.layers.%d.mlp.gate_proj.weight",
    "model.layers.%d.mlp.up_proj.weight", NULL, "model.layers.%d.mlp.down_proj.weight", NULL,
    "model.embed_tokens.weight", "model.norm.weight", NULL, "lm_head.weight", NULL, NULL,
};

/* transformers' Phi (phi-2) layout */
static const name_table g_hf_phi_names = {
    "model.layers.%d.input_layernorm.weight", "model.layers.%d.input_layernorm.bias", NULL, NULL,
    "model.layers.%d.self_attn.q_proj.weight", "model.layers.%d.self_attn.q_proj.bias",
    "model.layers.%d.self_attn.k_proj.weight", "model.layers.%d.self_attn.k_proj.bias",
    "model.layers.%d.self_attn.v_proj.weight", "model.layers.%d.self_attn.v_proj.bias",
    NULL, NULL, "model.layers.%d.self_attn.dense.weight", "model.layers.%d.self_attn.dense.bias",
    NULL, NULL, NULL, NULL, "model.layers.%d.mlp.fc1.weight", "model.layers.%d.mlp.fc1.bias",
    "model.layers.%d.mlp.fc2.weight", "model.layers.%d.mlp.fc2.bias",
    "model.embed_tokens.weight", "model.final_layernorm.weight", "model.final_layernorm.bias",
    "lm_head.weight", "lm_head.bias", NULL,
};

/* transformers' GPT-J layout */
static const name_table g_hf_gptj_names = {
    "transformer.h.%d.ln_1.weight", "transformer.h.%d.ln_1.bias", NULL, NULL,
    "transformer.h.%d.attn.q_proj.weight", NULL, "transformer.h.%d.attn.k_proj.weight", NULL,
    "transformer.h.%d.attn.v_proj.weight", NULL, NULL, NULL, "transformer.h.%d.attn.out_proj.weight",
    NULL, NULL, NULL, NULL, NULL, "transformer.h.%d.mlp.fc_in.weight", "transformer.h.%d.mlp.fc_in.bias",
    "transformer.h.%d.mlp.fc_out.weight", "transformer.h.%d.mlp.fc_out.bias",
    "transformer.wte.weight", "transformer.ln_f.weight", "transformer.ln_f.bias", "lm_head.weight",
    "lm_head.bias", NULL,
};

/* transformers' Falcon layout (7B style: multi-query, fused [Q; K; V]) */
static const name_table g_hf_falcon_names = {
    "transformer.h.%d.input_layernorm.weight", "transformer.h.%d.input_layernorm.bias",
    "transformer.h.%d.self_attention.query_key_value.weight",
    "transformer.h.%d.self_attention.query_key_value.bias", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, "transformer.h.%d.self_attention.dense.weight", "transformer.h.%d.self_attention.dense.bias",
    NULL, NULL, NULL, NULL, "transformer.h.%d.mlp.dense_h_to_4h.weight", "transformer.h.%d.mlp.dense_h_to_4h.bias",
    "transformer.h.%d.mlp.dense_4h_to_h.weight", "transformer.h.%d.mlp.dense_4h_to_h.bias",
    "transformer.word_embeddings.weight", "transformer.ln_f.weight", "transformer.ln_f.bias",
    "lm_head.weight", NULL, NULL,
};

static lm_status bind_layer(model *m, const wsource *src, const name_table *nt, int il, lm_error *err) {
    const model_hparams *hp = &m->hp;
    model_layer *l = &m->layers[il];
    int64_t E = hp->n_embd, q_dim = (int64_t)hp->n_head * hp->head_dim;
    int64_t kv_dim = (int64_t)hp->n_head_kv * hp->head_dim, F = hp->n_ff;
    char name[160];
    /* binds nt->field (if the format has it) into l->field */
#define BIND(field, cols, rows)                                                     \
    do {                                                                            \
        memset(&l->field, 0, sizeof l->field);                                      \
        if (nt->field) {                                                            \
            snprintf(name, sizeof name, nt->field, il);                             \
            LM_TRY(bind(m, src, name, cols, rows, &l->field, err));                 \
        }                                                                           \
    } while (0)
#define REQUIRE(field) LM_TRY(require(&l->field, nt->field ? name : #field, err))
    BIND(attn_norm, E, 1);
    REQUIRE(attn_norm);
    BIND(attn_norm_b, E, 1);
    BIND(wqkv, E, q_dim + 2 * kv_dim);
    BIND(bqkv, q_dim + 2 * kv_dim, 1);
    if (!l->wqkv.data) {
        BIND(wq, E, q_dim);
        REQUIRE(wq);
        BIND(wk, E, kv_dim);
        REQUIRE(wk);
        BIND(wv, E, kv_dim);
        REQUIRE(wv);
        BIND(bq, q_dim, 1);
        BIND(bk, kv_dim, 1);
        BIND(bv, kv_dim, 1);
    }
    BIND(q_norm, hp->head_dim, 1);
    BIND(k_norm, hp->head_dim, 1);
    BIND(wo, q_dim, E);
    REQUIRE(wo);
    BIND(bo, E, 1);
    if (!m->arch.parallel) {
        BIND(ffn_norm, E, 1);
        REQUIRE(ffn_norm);
        BIND(ffn_norm_b, E, 1);
    }
    if (m->arch.ffn == FFN_SWIGLU) {
        BIND(w_gate, E, F);
        if (l->w_gate.data) {
            BIND(w_up, E, F);
            REQUIRE(w_up);
        } else if (nt->w_gate_up) { /* fused [gate; up] under its own name (HF phi3) */
            BIND(w_gate_up, E, 2 * F);
            REQUIRE(w_gate_up);
        } else { /* fused [gate; up] stored as the up projection (GGUF phi3) */
            raw_tensor up;
            snprintf(name, sizeof name, nt->w_up, il);
            if (source_find(src, name, &up) && up.rows == F) { /* a plain up: the gate is missing */
                snprintf(name, sizeof name, nt->w_gate, il);
                return err_set(err, LM_ERR_FORMAT, "missing tensor '%s'", name);
            }
            LM_TRY(bind(m, src, name, E, 2 * F, &l->w_gate_up, err));
            REQUIRE(w_gate_up);
        }
    } else {
        BIND(w_up, E, F);
        REQUIRE(w_up);
    }
    BIND(b_up, F, 1);
    BIND(w_down, F, E);
    REQUIRE(w_down);
    BIND(b_down, E, 1);
#undef BIND
#undef REQUIRE
    return LM_OK;
}

/* Binds every tensor once hparams and arch are known. */
static lm_status bind_all(model *m, const wsource *src, const name_table *nt, lm_error *err) {
    model_hparams *hp = &m->hp;
    raw_tensor emb;
    if (!source_find(src, nt->tok_embd, &emb))
        return err_set(err, LM_ERR_FORMAT, "missing tensor '%s'", nt->tok_embd);
    if (emb.rows <= 0 || emb.rows > LM_MODEL_MAX_VOCAB)
        return err_set(err, LM_ERR_FORMAT, "'%s' has %lld rows", nt->tok_embd, (long long)emb.rows);
    if (hp->n_vocab == 0) hp->n_vocab = (int)emb.rows;
    LM_TRY(bind(m, src, nt->tok_embd, hp->n_embd, hp->n_vocab, &m->tok_embd, err));
    LM_TRY(bind(m, src, nt->output_norm, hp->n_embd, 1, &m->output_norm, err));
    LM_TRY(require(&m->output_norm, nt->output_norm, err));
    if (nt->output_norm_b) LM_TRY(bind(m, src, nt->output_norm_b, hp->n_embd, 1, &m->output_norm_b, err));
    LM_TRY(bind(m, src, nt->output, hp->n_embd, hp->n_vocab, &m->output, err));
    if (!m->output.data) m->output = m->tok_embd; /* tied embeddings */
    if (nt->output_b) LM_TRY(bind(m, src, nt->output_b, hp->n_vocab, 1, &m->output_b, err));
    if (nt->rope_freqs) LM_TRY(bind(m, src, nt->rope_freqs, hp->rope_dim / 2, 1, &m->rope_freqs, err));
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return err_set(err, LM_ERR_NOMEM, "out of memory for %d layers", hp->n_layer);
    for (int il = 0; il < hp->n_layer; il++) LM_TRY(bind_layer(m, src, nt, il, err));
    return LM_OK;
}

/* The context length and sliding window, checked again after rope scaling replaces the first. */
static lm_status check_context(const model_hparams *hp, lm_error *err) {
    if (hp->n_ctx_train <= 0 || hp->n_ctx_train > LM_MODEL_MAX_CTX)
        return err_set(err, LM_ERR_FORMAT, "context length %d is out of range (1 to %d positions)",
                       hp->n_ctx_train, LM_MODEL_MAX_CTX);
    if (hp->sliding_window < 0 || hp->sliding_window > LM_MODEL_MAX_CTX)
        return err_set(err, LM_ERR_FORMAT, "sliding window %d is out of range (0 to %d positions)",
                       hp->sliding_window, LM_MODEL_MAX_CTX);
    return LM_OK;
}

static lm_status check_hparams(const model_hparams *hp, lm_error *err) {
    if (hp->n_layer <= 0 || hp->n_layer > LM_MODEL_MAX_LAYERS || hp->n_head <= 0 ||
        hp->n_head > LM_MODEL_MAX_HEADS || hp->n_embd <= 0 || hp->n_embd > LM_MODEL_MAX_EMBD ||
        hp->n_ff <= 0 || hp->n_ff > LM_MODEL_MAX_FF || hp->head_dim <= 0 ||
        hp->head_dim > LM_MODEL_MAX_HEADS)
        return err_set(err, LM_ERR_FORMAT, "absurd model dimensions (%d layers, %d heads of %d, "
                       "%d embd, %d ff)", hp->n_layer, hp->n_head, hp->head_dim, hp->n_embd, hp->n_ff);
    if (hp->n_vocab < 0 || hp->n_vocab > LM_MODEL_MAX_VOCAB)
        return err_set(err, LM_ERR_FORMAT, "vocabulary size %d is out of range (at most %d)", hp->n_vocab,
                       LM_MODEL_MAX_VOCAB);
    LM_TRY(check_context(hp, err));
    if (hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv != 0)
        return err_set(err, LM_ERR_FORMAT, "head count %d is not a multiple of kv head count %d",
                       hp->n_head, hp->n_head_kv);
    if (hp->rope_dim > hp->head_dim || hp->rope_dim % 2 != 0 || hp->rope_dim <= 0)
        return err_set(err, LM_ERR_FORMAT, "rope dimension %d does not fit head size %d",
                       hp->rope_dim, hp->head_dim);
    if (!(hp->norm_eps > 0) || !(hp->rope_theta > 0))
        return err_set(err, LM_ERR_FORMAT, "norm epsilon %g and rope theta %g must be positive",
                       (double)hp->norm_eps, (double)hp->rope_theta);
    return LM_OK;
}

static lm_status load(model *m, lm_error *err) {
    const gguf_file *f = m->gguf;
    gguf_str arch;
    if (gguf_get_str(f, "general.architecture", &arch, err) != LM_OK)
        return err_set(err, LM_ERR_FORMAT, "missing metadata key 'general.architecture'");
    const model_arch *found = NULL;
    for (size_t i = 0; i < sizeof g_archs / sizeof g_archs[0]; i++)
        if (gguf_str_eq(arch, g_archs[i].name)) found = &g_archs[i];
    if (!found)
        return err_set(err, LM_ERR_UNSUPPORTED, "architecture '%.*s' is not supported",
                       (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
    m->arch = *found;
    /* written by `lmserve export` for Hugging Face llama/mistral sources, whose q/k rows are not
     * permuted for adjacent pairs (docs/export.md) */
    gguf_str pairs;
    lm_status ps = gguf_get_str(f, "lmserve.rope.pairs", &pairs, err);
    if (ps == LM_OK) {
        if (gguf_str_eq(pairs, "neox")) m->arch.rope_pairs = ROPE_PAIRS_NEOX;
        else if (gguf_str_eq(pairs, "adjacent")) m->arch.rope_pairs = ROPE_PAIRS_ADJACENT;
        else
            return err_set(err, LM_ERR_FORMAT, "metadata 'lmserve.rope.pairs' is '%.*s', expected "
                           "'neox' or 'adjacent'", (int)(pairs.len > 32 ? 32 : pairs.len), pairs.ptr);
    } else if (ps != LM_ERR_NOT_FOUND) {
        return ps;
    }
    LM_TRY(load_hparams(m, err));
    LM_TRY(check_hparams(&m->hp, err));
    wsource src = {f, NULL, NULL};
    LM_TRY(bind_all(m, &src, &g_gguf_names, err));
    /* Phi-3 long-context (longrope) files carry short and long factors; lmserve uses the short
     * ones and keeps the context within the original length they are meant for */
    if (!m->rope_freqs.data) {
        LM_TRY(bind(m, &src, "rope_factors_short.weight", m->hp.rope_dim / 2, 1, &m->rope_freqs, err));
        int orig = 0;
        if (m->rope_freqs.data &&
            hp_int(f, m->arch.name, "rope.scaling.original_context_length", 0, &orig, err) == LM_OK && orig > 0)
            m->hp.n_ctx_train = orig;
    }
    return check_context(&m->hp, err);
}

/* ---- Hugging Face folders ------------------------------------------------------------------ */

static const model_arch *arch_named(const char *name) {
    for (size_t i = 0; i < sizeof g_archs / sizeof g_archs[0]; i++)
        if (strcmp(g_archs[i].name, name) == 0) return &g_archs[i];
    return NULL;
}

/* Llama-3 rope scaling as transformers computes it, stored as the per-pair angle divisors GGUF
 * files carry (rope_freqs). */
static lm_status llama3_factors(model *m, const hfconfig_rope_scaling *rs, lm_error *err) {
    int half = m->hp.rope_dim / 2;
    float *f = malloc((size_t)half * sizeof *f);
    if (!f) return err_set(err, LM_ERR_NOMEM, "out of memory");
    LM_TRY(keep_owned(m, f, err));
    double old_ctx = (double)rs->original_max_position_embeddings;
    double low_wl = old_ctx / rs->low_freq_factor, high_wl = old_ctx / rs->high_freq_factor;
    for (int i = 0; i < half; i++) {
        double inv = pow((double)m->hp.rope_theta, -2.0 * i / m->hp.rope_dim);
        double wl = 2 * M_PI / inv, scaled;
        if (wl < high_wl) scaled = inv;
        else if (wl > low_wl) scaled = inv / rs->factor;
        else {
            double smooth = (old_ctx / wl - rs->low_freq_factor) / (rs->high_freq_factor - rs->low_freq_factor);
            scaled = (1 - smooth) * inv / rs->factor + smooth * inv;
        }
        f[i] = (float)(inv / scaled);
    }
    m->rope_freqs = (model_tensor){GGML_TYPE_F32, half, 1, (size_t)half * sizeof *f, f};
    return LM_OK;
}

static lm_status load_hf(model *m, const char *dir, lm_error *err) {
    hfconfig *c = calloc(1, sizeof *c);
    if (!c) return err_set(err, LM_ERR_NOMEM, "out of memory");
    lm_status s = hfconfig_load(dir, c, err);
    const name_table *nt = &g_hf_llama_names;
    const char *arch = c->model_type;
    if (s == LM_OK) {
        if (!strcmp(arch, "phi")) {
            arch = "phi2";
            nt = &g_hf_phi_names;
        } else if (!strcmp(arch, "gptj")) {
            nt = &g_hf_gptj_names;
        } else if (!strcmp(arch, "falcon")) {
            nt = &g_hf_falcon_names;
            if (c->new_decoder_architecture || c->alibi || !c->parallel_attn)
                s = err_set(err, LM_ERR_UNSUPPORTED, "%s/config.json: only Falcon-7B-style models "
                            "(parallel attention, RoPE, old decoder layout) are supported", dir);
        }
    }
    const model_arch *a = s == LM_OK ? arch_named(arch) : NULL;
    if (s == LM_OK && !a)
        s = err_set(err, LM_ERR_UNSUPPORTED, "%s/config.json: model_type '%s' is not supported", dir,
                    c->model_type);
    if (s == LM_OK) {
        m->arch = *a;
        /* HF keeps q/k rows unpermuted: rotate_half (NeoX) pairs for llama and mistral too */
        if (strcmp(arch, "gptj") != 0) m->arch.rope_pairs = ROPE_PAIRS_NEOX;
        model_hparams *hp = &m->hp;
        hp->n_vocab = (int)c->vocab_size;
        hp->n_embd = (int)c->hidden_size;
        hp->n_layer = (int)c->num_hidden_layers;
        hp->n_head = (int)c->num_attention_heads;
        hp->n_head_kv = (int)c->num_key_value_heads;
        if (!strcmp(arch, "falcon") && c->multi_query) hp->n_head_kv = 1;
        hp->head_dim = (int)c->head_dim;
        hp->n_ff = (int)c->intermediate_size;
        hp->rope_dim = (int)c->rotary_dim;
        hp->rope_theta = (float)c->rope_theta;
        hp->norm_eps = (float)c->norm_eps;
        hp->sliding_window = (int)c->sliding_window;
        hp->n_ctx_train = c->max_position_embeddings > 0 ? (int)c->max_position_embeddings : 2048;
        s = check_hparams(hp, err);
    }
    if (s == LM_OK) {
        const hfconfig_rope_scaling *rs = &c->rope_scaling;
        switch (rs->kind) {
        case HFCONFIG_ROPE_NONE: break;
        case HFCONFIG_ROPE_LLAMA3: s = llama3_factors(m, rs, err); break;
        case HFCONFIG_ROPE_LONGROPE: {
            /* short factors: the context stays within the original length (see docs/engine.md) */
            int half = m->hp.rope_dim / 2;
            if ((int)rs->n_short_factor != half) {
                s = err_set(err, LM_ERR_FORMAT, "rope_scaling.short_factor has %u entries, expected %d",
                            rs->n_short_factor, half);
                break;
            }
            float *f = malloc((size_t)half * sizeof *f);
            if (!f || keep_owned(m, f, err) != LM_OK) {
                s = err_set(err, LM_ERR_NOMEM, "out of memory");
                break;
            }
            memcpy(f, rs->short_factor, (size_t)half * sizeof *f);
            m->rope_freqs = (model_tensor){GGML_TYPE_F32, half, 1, (size_t)half * sizeof *f, f};
            if (rs->original_max_position_embeddings > 0)
                m->hp.n_ctx_train = (int)rs->original_max_position_embeddings;
            break;
        }
        default:
            s = err_set(err, LM_ERR_UNSUPPORTED, "rope_scaling type '%s' is not supported", rs->type);
        }
    }
    if (s == LM_OK) s = check_context(&m->hp, err); /* rope scaling may have set it */
    if (s == LM_OK && ir_folder_has_model(dir)) { /* OpenVINO IR: weights from the graph */
        s = ir_model_open(dir, &m->ir, err);
        if (s == LM_OK)
            s = ir_model_check_rope(m->ir, m->hp.rope_dim, m->hp.rope_theta, m->rope_freqs.data, err);
    } else if (s == LM_OK) {
        s = st_model_open(dir, &m->st, err);
    }
    if (s == LM_OK) {
        wsource src = {NULL, m->st, m->ir};
        s = bind_all(m, &src, nt, err);
    }
    free(c);
    return s;
}

/* A model from a parsed GGUF file; takes one hold on f (released when loading fails). */
static lm_status load_gguf_file(gguf_file *f, model **out, lm_error *err) {
    *out = NULL;
    model *m = calloc(1, sizeof *m);
    if (!m) {
        gguf_close(f);
        return err_set(err, LM_ERR_NOMEM, "out of memory");
    }
    m->gguf = f;
    lm_status s = load(m, err);
    if (s != LM_OK) {
        model_destroy(m);
        return s;
    }
    *out = m;
    return LM_OK;
}

lm_status model_load_gguf(const char *path, model **out, lm_error *err) {
    *out = NULL;
    model *m = calloc(1, sizeof *m);
    if (!m) return err_set(err, LM_ERR_NOMEM, "out of memory");
    lm_status s = gguf_open(path, &m->gguf, err);
    if (s == LM_OK) s = load(m, err);
    if (s != LM_OK) {
        model_destroy(m);
        return s;
    }
    *out = m;
    return LM_OK;
}

/* ---- weight formats ------------------------------------------------------------------------ */

lm_status model_parse_weight_format(const char *name, model_weight_format *out, lm_error *err) {
    static const struct { const char *name; model_weight_format f; } names[] = {
        {"fp32", MODEL_WEIGHTS_FP32}, {"fp16", MODEL_WEIGHTS_FP16}, {"bf16", MODEL_WEIGHTS_BF16},
        {"int8", MODEL_WEIGHTS_INT8}, {"int4", MODEL_WEIGHTS_INT4},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].f;
            return LM_OK;
        }
    }
    return err_set(err, LM_ERR_INVALID, "weight format '%s' is not one of fp32, fp16, bf16, int8, int4",
                   name);
}

static lm_status target_type(const model_load_opts *o, ggml_type *t, lm_error *err) {
    switch (o->format) {
    case MODEL_WEIGHTS_FP32: *t = GGML_TYPE_F32; return LM_OK;
    case MODEL_WEIGHTS_FP16: *t = GGML_TYPE_F16; return LM_OK;
    case MODEL_WEIGHTS_BF16: *t = GGML_TYPE_BF16; return LM_OK;
    case MODEL_WEIGHTS_INT8: *t = LM_TYPE_I8_CH; return LM_OK;
    case MODEL_WEIGHTS_INT4:
        switch (o->group_size) {
        case -1: *t = LM_TYPE_I4_CH; return LM_OK;
        case 32: *t = LM_TYPE_I4_G32; return LM_OK;
        case 64: *t = LM_TYPE_I4_G64; return LM_OK;
        case 0: case 128: *t = LM_TYPE_I4_G128; return LM_OK;
        default:
            return err_set(err, LM_ERR_INVALID, "int4 group size %d is not one of -1, 32, 64, 128",
                           o->group_size);
        }
    case MODEL_WEIGHTS_AS_STORED: break;
    }
    return err_set(err, LM_ERR_INVALID, "unknown weight format %d", (int)o->format);
}

static lm_status keep_owned(model *m, void *p, lm_error *err) {
    void **grown = realloc(m->owned, (m->n_owned + 1) * sizeof *grown);
    if (!grown) {
        free(p);
        return err_set(err, LM_ERR_NOMEM, "out of memory");
    }
    m->owned = grown;
    m->owned[m->n_owned++] = p;
    return LM_OK;
}

typedef struct {
    const model_tensor *src;
    ggml_type dst;
    unsigned char *buf;
    size_t row_bytes;
    int64_t widest;
    lm_status status;    /* first failure of any task (LM_OK otherwise) */
    int64_t bad_row;
} convert_job;

/* pool task: rows ith, ith + nth, ... */
static void convert_task(void *ctx, int ith, int nth) {
    convert_job *j = ctx;
    float *scratch = malloc((size_t)j->widest * sizeof *scratch);
    lm_error err;
    err_clear(&err);
    const unsigned char *src = j->src->data;
    for (int64_t r = ith; r < j->src->rows; r += nth) {
        lm_status s = scratch ? quant_convert_row(j->dst, j->buf + (size_t)r * j->row_bytes, j->src->type,
                                                  src + (size_t)r * j->src->row_bytes, j->src->cols,
                                                  scratch, &err)
                              : LM_ERR_NOMEM;
        if (s != LM_OK) {
            __atomic_store_n(&j->bad_row, r, __ATOMIC_RELAXED);
            __atomic_store_n(&j->status, s, __ATOMIC_RELAXED);
            break;
        }
    }
    free(scratch);
}

/* Converts one matrix to type `dst` into a buffer the model owns, rows split over the pool;
 * vectors and absent tensors are left alone. The source pages are released afterwards (they were
 * read once). */
static lm_status convert_tensor(model *m, pool *pl, model_tensor *t, ggml_type dst, const char *what,
                                int64_t widest, lm_error *err) {
    if (!t->data || t->rows == 1 || t->type == dst) return LM_OK;
    if (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16 && t->type != GGML_TYPE_BF16)
        return err_set(err, LM_ERR_INVALID, "%s: converting to %s needs an F32/F16/BF16 source, not %s",
                       what, quant_type_name(dst), quant_type_name(t->type));
    if (t->cols % quant_row_multiple(dst) != 0)
        return err_set(err, LM_ERR_INVALID, "%s: row length %lld is not a multiple of %lld, as %s needs",
                       what, (long long)t->cols, (long long)quant_row_multiple(dst), quant_type_name(dst));
    size_t row_bytes = quant_row_bytes(dst, t->cols);
    /* 64-byte aligned: SIMD loads that straddle cache lines stream weights much slower */
    size_t bytes = (row_bytes * (size_t)t->rows + 63) & ~(size_t)63;
    unsigned char *buf = aligned_alloc(64, bytes);
    if (!buf) return err_set(err, LM_ERR_NOMEM, "out of memory converting %s", what);
    LM_TRY(keep_owned(m, buf, err));
    convert_job j = {t, dst, buf, row_bytes, widest, LM_OK, -1};
    pool_run(pl, pool_size(pl), convert_task, &j);
    if (j.status != LM_OK)
        return err_set(err, j.status, "%s row %lld cannot be converted to %s (NaN, infinity or "
                       "out-of-range values?)", what, (long long)j.bad_row, quant_type_name(dst));
    mapfile_release_range(t->data, t->row_bytes * (size_t)t->rows);
    t->type = dst;
    t->row_bytes = row_bytes;
    t->data = buf;
    return LM_OK;
}

static lm_status convert_weights(model *m, const model_load_opts *o, lm_error *err) {
    if (!o || o->format == MODEL_WEIGHTS_AS_STORED) return LM_OK;
    ggml_type dst = GGML_TYPE_F32;
    LM_TRY(target_type(o, &dst, err));
    int64_t widest = m->hp.n_embd;          /* longest row of any matrix */
    if (m->hp.n_ff > widest) widest = m->hp.n_ff;
    if ((int64_t)m->hp.n_head * m->hp.head_dim > widest) widest = (int64_t)m->hp.n_head * m->hp.head_dim;
    pool *pl = NULL;
    LM_TRY(pool_create(0, &pl, err));
    lm_status s = LM_OK;
    char what[64];
    for (int il = 0; il < m->hp.n_layer && s == LM_OK; il++) {
        model_tensor *t = (model_tensor *)&m->layers[il];
        for (size_t i = 0; i < sizeof(model_layer) / sizeof(model_tensor) && s == LM_OK; i++) {
            snprintf(what, sizeof what, "layer %d weight %zu", il, i);
            s = convert_tensor(m, pl, &t[i], dst, what, widest, err);
        }
    }
    /* the output head (a copy when tied: the embedding stays as stored) */
    if (s == LM_OK) s = convert_tensor(m, pl, &m->output, dst, "output", widest, err);
    pool_destroy(pl);
    return s;
}

/* A folder without config.json that holds model.gguf (what `lmserve export` writes) is that GGUF
 * file; sets `out` to its path. */
static int folder_gguf(const char *dir, char *out, size_t size) {
    struct stat st;
    snprintf(out, size, "%s/config.json", dir);
    if (stat(out, &st) == 0) return 0;
    int n = snprintf(out, size, "%s/model.gguf", dir);
    return n > 0 && (size_t)n < size && stat(out, &st) == 0 && S_ISREG(st.st_mode);
}

lm_status model_load(const char *path, const model_load_opts *opts, model **out, lm_error *err) {
    *out = NULL;
    model *m = NULL;
    struct stat st;
    char gguf_path[4200];
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && folder_gguf(path, gguf_path, sizeof gguf_path)) {
        LM_TRY(model_load_gguf(gguf_path, &m, err));
    } else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        m = calloc(1, sizeof *m);
        if (!m) return err_set(err, LM_ERR_NOMEM, "out of memory");
        lm_status s = load_hf(m, path, err);
        if (s != LM_OK) {
            model_destroy(m);
            return s;
        }
    } else {
        LM_TRY(model_load_gguf(path, &m, err));
    }
    lm_status s = convert_weights(m, opts, err);
    if (s != LM_OK) {
        model_destroy(m);
        return s;
    }
    *out = m;
    return LM_OK;
}

lm_status model_load_source(const model_source *src, const model_load_opts *opts, model **out, lm_error *err) {
    *out = NULL;
    model_source_kind kind = model_source_get_kind(src);
    if (kind != MODEL_SOURCE_GGUF && kind != MODEL_SOURCE_GGUF_DIR) /* HF folders; IR folders' own loader */
        return model_load(model_source_path(src), opts, out, err);
    model *m = NULL;
    LM_TRY(load_gguf_file(gguf_retain(model_source_gguf(src)), &m, err));
    lm_status s = convert_weights(m, opts, err);
    if (s != LM_OK) {
        model_destroy(m);
        return s;
    }
    *out = m;
    return LM_OK;
}

void model_destroy(model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    gguf_close(m->gguf);
    st_model_close(m->st);
    ir_model_close(m->ir);
    free(m);
}

static size_t tensor_bytes(const model_tensor *t) {
    return t->data ? t->row_bytes * (size_t)t->rows : 0;
}

size_t model_weight_bytes(const model *m) {
    size_t n = tensor_bytes(&m->output) + tensor_bytes(&m->output_norm) + tensor_bytes(&m->output_b);
    for (int il = 0; il < m->hp.n_layer; il++) {
        const model_tensor *t = (const model_tensor *)&m->layers[il];
        for (size_t i = 0; i < sizeof(model_layer) / sizeof(model_tensor); i++) n += tensor_bytes(&t[i]);
    }
    return n;
}
