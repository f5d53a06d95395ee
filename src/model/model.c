/* model.c — mapping a GGUF file's metadata and tensors onto the model description.
 *
 * Binding is data-driven: every tensor the forward pass knows is looked up by its GGUF name, its
 * shape checked against the hyper-parameters, and the architecture row plus the set of tensors
 * present (fused or separate qkv, gate, biases, q/k norms) decide which path the engine takes. */
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute/kernels.h"

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
    if (v > (1u << 24) || (v == 0 && def != 0))
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
    if (hp->n_layer > 4096 || hp->n_head > 4096 || hp->n_embd > (1 << 20))
        return err_set(err, LM_ERR_FORMAT, "absurd model dimensions (%d layers, %d heads, %d embd)",
                       hp->n_layer, hp->n_head, hp->n_embd);
    if (hp->n_head_kv == 0 || hp->n_head % hp->n_head_kv != 0)
        return err_set(err, LM_ERR_FORMAT, "head count %d is not a multiple of kv head count %d",
                       hp->n_head, hp->n_head_kv);
    if (hp->n_embd % hp->n_head != 0)
        return err_set(err, LM_ERR_FORMAT, "embedding length %d is not a multiple of head count %d",
                       hp->n_embd, hp->n_head);
    LM_TRY(hp_int(f, a, "attention.key_length", hp->n_embd / hp->n_head, &hp->head_dim, err));
    LM_TRY(hp_int(f, a, "rope.dimension_count", hp->head_dim, &hp->rope_dim, err));
    LM_TRY(hp_float(f, a, "rope.freq_base", 10000.0f, &hp->rope_theta, err));
    LM_TRY(hp_int(f, a, "attention.sliding_window", 0, &hp->sliding_window, err));
    const char *eps_key = m->arch.norm == NORM_RMS ? "attention.layer_norm_rms_epsilon"
                                                   : "attention.layer_norm_epsilon";
    LM_TRY(hp_float(f, a, eps_key, 1e-5f, &hp->norm_eps, err));
    if (hp->rope_dim > hp->head_dim || hp->rope_dim % 2 != 0)
        return err_set(err, LM_ERR_FORMAT, "rope dimension %d does not fit head size %d",
                       hp->rope_dim, hp->head_dim);
    return LM_OK;
}

/* ---- tensors ------------------------------------------------------------------------------- */

/* Binds tensor `name` if present. rows == 1 means a vector (must be F32). A shape different from
 * (cols, rows) is an error; `rows` < 0 accepts any row count (checked by the caller). */
static lm_status bind(const gguf_file *f, const char *name, int64_t cols, int64_t rows,
                      model_tensor *t, lm_error *err) {
    memset(t, 0, sizeof *t);
    const gguf_tensor *g = gguf_find_tensor(f, name);
    if (!g) return LM_OK;
    int64_t grows = (int64_t)(g->ne[1] * g->ne[2] * g->ne[3]);
    if ((int64_t)g->ne[0] != cols || (rows >= 0 && grows != rows))
        return err_set(err, LM_ERR_FORMAT, "tensor '%s' has shape [%llu, %lld], expected [%lld, %lld]",
                       name, (unsigned long long)g->ne[0], (long long)grows, (long long)cols,
                       (long long)rows);
    if (rows == 1 && g->type != GGML_TYPE_F32)
        return err_set(err, LM_ERR_UNSUPPORTED, "vector tensor '%s' must be F32, not %s", name,
                       ggml_type_name(g->type));
    if (!kern_supports(g->type))
        return err_set(err, LM_ERR_UNSUPPORTED, "tensor '%s': weight type %s is not supported yet",
                       name, ggml_type_name(g->type) ? ggml_type_name(g->type) : "?");
    t->type = g->type;
    t->cols = cols;
    t->rows = grows;
    t->row_bytes = (size_t)(cols / ggml_block_elems(g->type)) * ggml_block_bytes(g->type);
    t->data = g->data;
    return LM_OK;
}

static lm_status require(const model_tensor *t, const char *name, lm_error *err) {
    return t->data ? LM_OK : err_set(err, LM_ERR_FORMAT, "missing tensor '%s'", name);
}

static lm_status bind_layer(model *m, int il, lm_error *err) {
    const gguf_file *f = m->gguf;
    const model_hparams *hp = &m->hp;
    model_layer *l = &m->layers[il];
    int64_t E = hp->n_embd, q_dim = (int64_t)hp->n_head * hp->head_dim;
    int64_t kv_dim = (int64_t)hp->n_head_kv * hp->head_dim, F = hp->n_ff;
    char name[96];
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d.%s", il, suffix), name)
    LM_TRY(bind(f, NAME("attn_norm.weight"), E, 1, &l->attn_norm, err));
    LM_TRY(require(&l->attn_norm, name, err));
    LM_TRY(bind(f, NAME("attn_norm.bias"), E, 1, &l->attn_norm_b, err));
    LM_TRY(bind(f, NAME("attn_qkv.weight"), E, q_dim + 2 * kv_dim, &l->wqkv, err));
    LM_TRY(bind(f, NAME("attn_qkv.bias"), q_dim + 2 * kv_dim, 1, &l->bqkv, err));
    if (!l->wqkv.data) {
        LM_TRY(bind(f, NAME("attn_q.weight"), E, q_dim, &l->wq, err));
        LM_TRY(require(&l->wq, name, err));
        LM_TRY(bind(f, NAME("attn_k.weight"), E, kv_dim, &l->wk, err));
        LM_TRY(require(&l->wk, name, err));
        LM_TRY(bind(f, NAME("attn_v.weight"), E, kv_dim, &l->wv, err));
        LM_TRY(require(&l->wv, name, err));
        LM_TRY(bind(f, NAME("attn_q.bias"), q_dim, 1, &l->bq, err));
        LM_TRY(bind(f, NAME("attn_k.bias"), kv_dim, 1, &l->bk, err));
        LM_TRY(bind(f, NAME("attn_v.bias"), kv_dim, 1, &l->bv, err));
    }
    LM_TRY(bind(f, NAME("attn_q_norm.weight"), hp->head_dim, 1, &l->q_norm, err));
    LM_TRY(bind(f, NAME("attn_k_norm.weight"), hp->head_dim, 1, &l->k_norm, err));
    LM_TRY(bind(f, NAME("attn_output.weight"), q_dim, E, &l->wo, err));
    LM_TRY(require(&l->wo, name, err));
    LM_TRY(bind(f, NAME("attn_output.bias"), E, 1, &l->bo, err));
    if (!m->arch.parallel) {
        LM_TRY(bind(f, NAME("ffn_norm.weight"), E, 1, &l->ffn_norm, err));
        LM_TRY(require(&l->ffn_norm, name, err));
        LM_TRY(bind(f, NAME("ffn_norm.bias"), E, 1, &l->ffn_norm_b, err));
    }
    if (m->arch.ffn == FFN_SWIGLU) {
        LM_TRY(bind(f, NAME("ffn_gate.weight"), E, F, &l->w_gate, err));
        if (l->w_gate.data) {
            LM_TRY(bind(f, NAME("ffn_up.weight"), E, F, &l->w_up, err));
            LM_TRY(require(&l->w_up, name, err));
        } else { /* fused [gate; up] (phi3) */
            LM_TRY(bind(f, NAME("ffn_up.weight"), E, 2 * F, &l->w_gate_up, err));
            LM_TRY(require(&l->w_gate_up, name, err));
        }
    } else {
        LM_TRY(bind(f, NAME("ffn_up.weight"), E, F, &l->w_up, err));
        LM_TRY(require(&l->w_up, name, err));
    }
    LM_TRY(bind(f, NAME("ffn_up.bias"), F, 1, &l->b_up, err));
    LM_TRY(bind(f, NAME("ffn_down.weight"), F, E, &l->w_down, err));
    LM_TRY(require(&l->w_down, name, err));
    LM_TRY(bind(f, NAME("ffn_down.bias"), E, 1, &l->b_down, err));
#undef NAME
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
    LM_TRY(load_hparams(m, err));
    model_hparams *hp = &m->hp;

    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb) return err_set(err, LM_ERR_FORMAT, "missing tensor 'token_embd.weight'");
    if (emb->ne[1] == 0 || emb->ne[1] > (1u << 24))
        return err_set(err, LM_ERR_FORMAT, "token_embd.weight has %llu rows",
                       (unsigned long long)emb->ne[1]);
    hp->n_vocab = (int)emb->ne[1];
    LM_TRY(bind(f, "token_embd.weight", hp->n_embd, hp->n_vocab, &m->tok_embd, err));
    LM_TRY(bind(f, "output_norm.weight", hp->n_embd, 1, &m->output_norm, err));
    LM_TRY(require(&m->output_norm, "output_norm.weight", err));
    LM_TRY(bind(f, "output_norm.bias", hp->n_embd, 1, &m->output_norm_b, err));
    LM_TRY(bind(f, "output.weight", hp->n_embd, hp->n_vocab, &m->output, err));
    if (!m->output.data) m->output = m->tok_embd; /* tied embeddings */
    LM_TRY(bind(f, "output.bias", hp->n_vocab, 1, &m->output_b, err));
    LM_TRY(bind(f, "rope_freqs.weight", hp->rope_dim / 2, 1, &m->rope_freqs, err));

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return err_set(err, LM_ERR_NOMEM, "out of memory for %d layers", hp->n_layer);
    for (int il = 0; il < hp->n_layer; il++) LM_TRY(bind_layer(m, il, err));
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

void model_destroy(model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    gguf_close(m->gguf);
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
