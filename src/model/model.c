/* model.c — mapping a GGUF file's tensors and metadata onto the model description. */
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute/kernels.h"

/* Reads "<arch>.<suffix>" as u32 into *out; a missing key is an error unless `def` >= 0. */
static lm_status get_hp_u32(const gguf_file *f, const char *arch, const char *suffix, int64_t def,
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
    if (v == 0 || v > (1u << 24)) return err_set(err, LM_ERR_FORMAT, "'%s' = %u is out of range", key, v);
    *out = (int)v;
    return LM_OK;
}

static lm_status get_hp_f32(const gguf_file *f, const char *arch, const char *suffix, float def,
                            float *out, lm_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    lm_status s = gguf_get_f32(f, key, out, err);
    if (s == LM_ERR_NOT_FOUND) {
        *out = def;
        return LM_OK;
    }
    return s;
}

/* Binds tensor `name` with the expected shape (cols, rows); rows == 1 means a vector. A missing
 * tensor is an error unless `optional`. */
static lm_status bind(const gguf_file *f, const char *name, int64_t cols, int64_t rows,
                      int optional, model_tensor *t, lm_error *err) {
    memset(t, 0, sizeof *t);
    const gguf_tensor *g = gguf_find_tensor(f, name);
    if (!g) {
        if (optional) return LM_OK;
        return err_set(err, LM_ERR_FORMAT, "missing tensor '%s'", name);
    }
    int64_t grows = (int64_t)(g->ne[1] * g->ne[2] * g->ne[3]);
    if ((int64_t)g->ne[0] != cols || grows != rows)
        return err_set(err, LM_ERR_FORMAT,
                       "tensor '%s' has shape [%llu, %lld], expected [%lld, %lld]", name,
                       (unsigned long long)g->ne[0], (long long)grows, (long long)cols,
                       (long long)rows);
    if (!kern_supports(g->type))
        return err_set(err, LM_ERR_UNSUPPORTED, "tensor '%s': weight type %s is not supported yet",
                       name, ggml_type_name(g->type) ? ggml_type_name(g->type) : "?");
    t->type = g->type;
    t->cols = cols;
    t->rows = rows;
    t->row_bytes = (size_t)(cols / ggml_block_elems(g->type)) * ggml_block_bytes(g->type);
    t->data = g->data;
    return LM_OK;
}

static lm_status bind_layer(const gguf_file *f, const model_hparams *hp, int il, model_layer *l,
                            lm_error *err) {
    char name[96];
    int64_t q_dim = (int64_t)hp->n_head * hp->head_dim, kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
#define BIND(field, suffix, cols, rows)                                   \
    snprintf(name, sizeof name, "blk.%d.%s.weight", il, suffix);          \
    LM_TRY(bind(f, name, cols, rows, 0, &l->field, err))
    BIND(attn_norm, "attn_norm", hp->n_embd, 1);
    BIND(wq, "attn_q", hp->n_embd, q_dim);
    BIND(wk, "attn_k", hp->n_embd, kv_dim);
    BIND(wv, "attn_v", hp->n_embd, kv_dim);
    BIND(wo, "attn_output", q_dim, hp->n_embd);
    BIND(ffn_norm, "ffn_norm", hp->n_embd, 1);
    BIND(w_gate, "ffn_gate", hp->n_embd, hp->n_ff);
    BIND(w_up, "ffn_up", hp->n_embd, hp->n_ff);
    BIND(w_down, "ffn_down", hp->n_ff, hp->n_embd);
#undef BIND
    if (l->attn_norm.type != GGML_TYPE_F32 || l->ffn_norm.type != GGML_TYPE_F32)
        return err_set(err, LM_ERR_UNSUPPORTED, "layer %d: norm weights must be F32", il);
    return LM_OK;
}

static lm_status load(model *m, lm_error *err) {
    const gguf_file *f = m->gguf;
    gguf_str arch;
    if (gguf_get_str(f, "general.architecture", &arch, err) != LM_OK)
        return err_set(err, LM_ERR_FORMAT, "missing metadata key 'general.architecture'");
    if (arch.len >= sizeof m->arch.name) arch.len = sizeof m->arch.name - 1;
    memcpy(m->arch.name, arch.ptr, arch.len);
    m->arch.name[arch.len] = '\0';
    if (strcmp(m->arch.name, "llama") != 0)
        return err_set(err, LM_ERR_UNSUPPORTED, "architecture '%s' is not supported yet", m->arch.name);
    m->arch.rope_pairs = ROPE_PAIRS_ADJACENT; /* the GGUF converter permutes llama q/k rows */

    model_hparams *hp = &m->hp;
    const char *a = m->arch.name;
    LM_TRY(get_hp_u32(f, a, "embedding_length", -1, &hp->n_embd, err));
    LM_TRY(get_hp_u32(f, a, "block_count", -1, &hp->n_layer, err));
    LM_TRY(get_hp_u32(f, a, "feed_forward_length", -1, &hp->n_ff, err));
    LM_TRY(get_hp_u32(f, a, "attention.head_count", -1, &hp->n_head, err));
    LM_TRY(get_hp_u32(f, a, "attention.head_count_kv", hp->n_head, &hp->n_head_kv, err));
    LM_TRY(get_hp_u32(f, a, "context_length", 2048, &hp->n_ctx_train, err));
    if (hp->n_embd % hp->n_head != 0)
        return err_set(err, LM_ERR_FORMAT, "embedding length %d is not a multiple of head count %d",
                       hp->n_embd, hp->n_head);
    LM_TRY(get_hp_u32(f, a, "attention.key_length", hp->n_embd / hp->n_head, &hp->head_dim, err));
    LM_TRY(get_hp_u32(f, a, "rope.dimension_count", hp->head_dim, &hp->rope_dim, err));
    LM_TRY(get_hp_f32(f, a, "rope.freq_base", 10000.0f, &hp->rope_theta, err));
    LM_TRY(get_hp_f32(f, a, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->norm_eps, err));
    if (hp->n_head % hp->n_head_kv != 0)
        return err_set(err, LM_ERR_FORMAT, "head count %d is not a multiple of kv head count %d",
                       hp->n_head, hp->n_head_kv);
    if (hp->rope_dim > hp->head_dim || hp->rope_dim % 2 != 0)
        return err_set(err, LM_ERR_FORMAT, "rope dimension %d does not fit head size %d",
                       hp->rope_dim, hp->head_dim);

    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb) return err_set(err, LM_ERR_FORMAT, "missing tensor 'token_embd.weight'");
    if (emb->ne[1] == 0 || emb->ne[1] > (1u << 24))
        return err_set(err, LM_ERR_FORMAT, "token_embd.weight has %llu rows",
                       (unsigned long long)emb->ne[1]);
    hp->n_vocab = (int)emb->ne[1];
    LM_TRY(bind(f, "token_embd.weight", hp->n_embd, hp->n_vocab, 0, &m->tok_embd, err));
    LM_TRY(bind(f, "output_norm.weight", hp->n_embd, 1, 0, &m->output_norm, err));
    LM_TRY(bind(f, "output.weight", hp->n_embd, hp->n_vocab, 1, &m->output, err));
    if (!m->output.data) m->output = m->tok_embd; /* tied embeddings */
    if (m->output_norm.type != GGML_TYPE_F32)
        return err_set(err, LM_ERR_UNSUPPORTED, "output_norm.weight must be F32");

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return err_set(err, LM_ERR_NOMEM, "out of memory for %d layers", hp->n_layer);
    for (int il = 0; il < hp->n_layer; il++) LM_TRY(bind_layer(f, hp, il, &m->layers[il], err));
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
    free(m->layers);
    gguf_close(m->gguf);
    free(m);
}
