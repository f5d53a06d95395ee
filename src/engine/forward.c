/* forward.c — one token through a llama-style decoder, top to bottom, in plain C.
 *
 *   x = embed(token)
 *   per layer:  h = x + Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x))
 *               x = h + Wdown · (silu(Wgate·norm(h)) * Wup·norm(h))
 *   logits = Wout · norm(x)
 */
#include "engine/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"

struct engine_seq {
    const model *m;
    const kern_set *k;
    int n_ctx, pos;
    float *x;        /* (n_embd) residual stream */
    float *xn;       /* (n_embd) normalised input of a sub-block */
    float *q;        /* (n_head * head_dim) */
    float *att_out;  /* (n_head * head_dim) attention output before Wo */
    float *tmp;      /* (n_embd) sub-block output */
    float *gate, *up;/* (n_ff) */
    float *scores;   /* (n_ctx) attention weights of one head */
    float *logits;   /* (n_vocab) */
    float *k_cache;  /* (n_layer, n_ctx, n_head_kv * head_dim) */
    float *v_cache;  /* (n_layer, n_ctx, n_head_kv * head_dim) */
    float *rope_inv_freq; /* (rope_dim / 2) theta^(-2i/rope_dim) */
};

/* Row `row` of a weight matrix as f32 (for embeddings). */
static void tensor_row_f32(const model_tensor *t, int64_t row, float *out) {
    const unsigned char *p = (const unsigned char *)t->data + (size_t)row * t->row_bytes;
    switch (t->type) {
    case GGML_TYPE_F32: memcpy(out, p, (size_t)t->cols * sizeof(float)); break;
    case GGML_TYPE_F16:
        for (int64_t i = 0; i < t->cols; i++) out[i] = kern_f16_to_f32(((const uint16_t *)p)[i]);
        break;
    case GGML_TYPE_BF16:
        for (int64_t i = 0; i < t->cols; i++) out[i] = kern_bf16_to_f32(((const uint16_t *)p)[i]);
        break;
    default: memset(out, 0, (size_t)t->cols * sizeof(float)); break; /* model.c rejects others */
    }
}

static void matvec(const engine_seq *s, const model_tensor *w, const float *x, float *y) {
    kern_matvec(s->k, w->type, w->data, w->row_bytes, w->rows, w->cols, x, y);
}

/* RMSNorm: out = x / sqrt(mean(x^2) + eps) * w */
static void rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    float ss = 0.0f;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    float scale = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

/* Rotary embedding of one head vector at position pos: rotate pairs by pos * inv_freq[i]. */
static void rope(const engine_seq *s, float *v, int pos) {
    const model_hparams *hp = &s->m->hp;
    int half = hp->rope_dim / 2;
    for (int i = 0; i < half; i++) {
        float angle = (float)pos * s->rope_inv_freq[i];
        float c = cosf(angle), sn = sinf(angle);
        int a, b;
        if (s->m->arch.rope_pairs == ROPE_PAIRS_ADJACENT) {
            a = 2 * i;
            b = 2 * i + 1;
        } else {
            a = i;
            b = i + half;
        }
        float x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * sn;
        v[b] = x0 * sn + x1 * c;
    }
}

static void softmax(float *x, int n) {
    float max = x[0];
    for (int i = 1; i < n; i++) if (x[i] > max) max = x[i];
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (int i = 0; i < n; i++) x[i] /= sum;
}

/* Causal self-attention of the current position over positions [0, pos], all heads. */
static void attention(engine_seq *s, int layer, int pos) {
    const model_hparams *hp = &s->m->hp;
    int hd = hp->head_dim, kv_dim = hp->n_head_kv * hd, group = hp->n_head / hp->n_head_kv;
    const float *kc = s->k_cache + (size_t)layer * s->n_ctx * kv_dim;
    const float *vc = s->v_cache + (size_t)layer * s->n_ctx * kv_dim;
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < hp->n_head; h++) {
        const float *q = s->q + h * hd;
        int kvh = h / group; /* grouped-query: heads share kv heads */
        for (int t = 0; t <= pos; t++) {
            const float *k = kc + (size_t)t * kv_dim + kvh * hd;
            float dot = 0.0f;
            for (int i = 0; i < hd; i++) dot += q[i] * k[i];
            s->scores[t] = dot * scale;
        }
        softmax(s->scores, pos + 1);
        float *out = s->att_out + h * hd;
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int t = 0; t <= pos; t++) {
            const float *v = vc + (size_t)t * kv_dim + kvh * hd;
            float a = s->scores[t];
            for (int i = 0; i < hd; i++) out[i] += a * v[i];
        }
    }
}

static void attention_block(engine_seq *s, int il) {
    const model_hparams *hp = &s->m->hp;
    const model_layer *l = &s->m->layers[il];
    int hd = hp->head_dim, kv_dim = hp->n_head_kv * hd;
    float *k = s->k_cache + ((size_t)il * s->n_ctx + (size_t)s->pos) * kv_dim;
    float *v = s->v_cache + ((size_t)il * s->n_ctx + (size_t)s->pos) * kv_dim;

    rmsnorm(s->xn, s->x, l->attn_norm.data, hp->n_embd, hp->norm_eps);
    matvec(s, &l->wq, s->xn, s->q);
    matvec(s, &l->wk, s->xn, k);
    matvec(s, &l->wv, s->xn, v);
    for (int h = 0; h < hp->n_head; h++) rope(s, s->q + h * hd, s->pos);
    for (int h = 0; h < hp->n_head_kv; h++) rope(s, k + h * hd, s->pos);
    attention(s, il, s->pos);
    matvec(s, &l->wo, s->att_out, s->tmp);
    for (int i = 0; i < hp->n_embd; i++) s->x[i] += s->tmp[i];
}

static void ffn_block(engine_seq *s, int il) {
    const model_hparams *hp = &s->m->hp;
    const model_layer *l = &s->m->layers[il];
    rmsnorm(s->xn, s->x, l->ffn_norm.data, hp->n_embd, hp->norm_eps);
    matvec(s, &l->w_gate, s->xn, s->gate);
    matvec(s, &l->w_up, s->xn, s->up);
    for (int i = 0; i < hp->n_ff; i++) {
        float g = s->gate[i];
        s->gate[i] = g / (1.0f + expf(-g)) * s->up[i]; /* SiLU(gate) * up */
    }
    matvec(s, &l->w_down, s->gate, s->tmp);
    for (int i = 0; i < hp->n_embd; i++) s->x[i] += s->tmp[i];
}

lm_status engine_seq_step(engine_seq *s, int32_t token, const float **logits, lm_error *err) {
    const model *m = s->m;
    const model_hparams *hp = &m->hp;
    if (token < 0 || token >= hp->n_vocab)
        return err_set(err, LM_ERR_INVALID, "token id %d outside the vocabulary [0, %d)", token,
                       hp->n_vocab);
    if (s->pos >= s->n_ctx)
        return err_set(err, LM_ERR_LIMIT, "context is full (%d positions)", s->n_ctx);

    tensor_row_f32(&m->tok_embd, token, s->x);
    for (int il = 0; il < hp->n_layer; il++) {
        attention_block(s, il);
        ffn_block(s, il);
    }
    rmsnorm(s->xn, s->x, m->output_norm.data, hp->n_embd, hp->norm_eps);
    matvec(s, &m->output, s->xn, s->logits);
    s->pos++;
    *logits = s->logits;
    return LM_OK;
}

int engine_seq_len(const engine_seq *s) { return s->pos; }

void engine_seq_destroy(engine_seq *s) {
    if (!s) return;
    free(s->x);
    free(s->xn);
    free(s->q);
    free(s->att_out);
    free(s->tmp);
    free(s->gate);
    free(s->up);
    free(s->scores);
    free(s->logits);
    free(s->k_cache);
    free(s->v_cache);
    free(s->rope_inv_freq);
    free(s);
}

lm_status engine_seq_create(const model *m, int n_ctx, const kern_set *k, engine_seq **out,
                            lm_error *err) {
    *out = NULL;
    const model_hparams *hp = &m->hp;
    if (n_ctx <= 0 || n_ctx > (1 << 20))
        return err_set(err, LM_ERR_INVALID, "context size %d out of range [1, %d]", n_ctx, 1 << 20);
    engine_seq *s = calloc(1, sizeof *s);
    if (!s) return err_set(err, LM_ERR_NOMEM, "out of memory");
    s->m = m;
    s->k = k ? k : kern_best();
    s->n_ctx = n_ctx;
    size_t q_dim = (size_t)hp->n_head * hp->head_dim, kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    size_t cache = (size_t)hp->n_layer * (size_t)n_ctx * kv_dim;
    s->x = calloc((size_t)hp->n_embd, sizeof(float));
    s->xn = calloc((size_t)hp->n_embd, sizeof(float));
    s->q = calloc(q_dim, sizeof(float));
    s->att_out = calloc(q_dim, sizeof(float));
    s->tmp = calloc((size_t)hp->n_embd, sizeof(float));
    s->gate = calloc((size_t)hp->n_ff, sizeof(float));
    s->up = calloc((size_t)hp->n_ff, sizeof(float));
    s->scores = calloc((size_t)n_ctx, sizeof(float));
    s->logits = calloc((size_t)hp->n_vocab, sizeof(float));
    s->k_cache = calloc(cache, sizeof(float));
    s->v_cache = calloc(cache, sizeof(float));
    s->rope_inv_freq = calloc((size_t)hp->rope_dim / 2 + 1, sizeof(float));
    if (!s->x || !s->xn || !s->q || !s->att_out || !s->tmp || !s->gate || !s->up || !s->scores ||
        !s->logits || !s->k_cache || !s->v_cache || !s->rope_inv_freq) {
        engine_seq_destroy(s);
        return err_set(err, LM_ERR_NOMEM, "out of memory for a %d-position context", n_ctx);
    }
    for (int i = 0; i < hp->rope_dim / 2; i++)
        s->rope_inv_freq[i] = powf(hp->rope_theta, -2.0f * (float)i / (float)hp->rope_dim);
    *out = s;
    return LM_OK;
}
