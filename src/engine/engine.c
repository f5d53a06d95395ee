/* engine.c — batched forward pass over a paged KV cache, one architecture description for all
 * supported families.
 *
 * A step stacks every item's tokens into one activation matrix X[T][n_embd], then per layer:
 *
 *   H = norm(X)                                   RMSNorm, or LayerNorm (+ bias)
 *   Q,K,V = H·Wqkv (+ b)                          fused or separate; per-head q/k RMSNorm (qwen3)
 *   rope(Q), rope(K) at each token's position     adjacent or NeoX pairs, partial, freq factors
 *   K,V -> the token's sequence's KV blocks
 *   A = softmax(Q·K^T / sqrt(hd)) · V             causal, own sequence only, optional window
 *   X += A·Wo (+ b)                               and, for parallel blocks, + ffn(H)
 *   X += ffn(norm2(X))                            sequential blocks: SwiGLU or GELU MLP
 *
 * and finally logits = norm(X)·Wout (+ b) for the rows an item asked for. */
#include "engine/engine.h"

#include "compute/quant.h"
#include "engine/replay.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int open;
    int len;         /* positions held */
    int *blocks;     /* block table: logical block -> physical block; max_blocks_per_seq entries */
    int n_blocks;    /* entries in use */
} seq_state;

struct engine {
    const model *m;
    engine_params p;
    const kern_set *k;
    pool *pool;              /* compute threads (matmuls, attention) */
    int q_dim, kv_dim, qkv_dim;
    size_t kv_elem;          /* bytes per cached element */
    size_t block_stride;     /* bytes of one block of one layer: block_size * kv_dim * kv_elem */
    unsigned char *k_pool;   /* (n_layer, n_blocks, block_size, kv_dim) */
    unsigned char *v_pool;
    int *block_ref;          /* (n_blocks) sequences using each block; 0 = free */
    int *free_list;          /* stack of free block ids */
    int n_free;
    int max_blocks_per_seq;
    seq_state *seqs;         /* (max_seqs) */
    /* scratch, rows = max_batch_tokens */
    float *x;                /* (T, n_embd) residual stream */
    float *h;                /* (T, n_embd) normalised */
    float *qkv;              /* (T, qkv_dim) */
    float *att;              /* (T, q_dim) */
    float *o;                /* (T, n_embd) */
    float *ff;               /* (T, 2 n_ff) */
    float *ff2;              /* (T, n_embd) */
    float *lin;              /* (T, max(q_dim, n_ff)) matmul output before a strided copy */
    unsigned char *xq;       /* (T) q8 rows of the widest product input (int8 activations) */
    const float *xq_of;      /* the f32 matrix xq holds now (NULL: none) ... */
    int xq_T;                /* ... its rows ... */
    int64_t xq_cols;         /* ... and columns */
    float *scores;           /* (n_threads, n_ctx) one row per attention task */
    int n_tasks;             /* attention tasks per layer: one per thread */
    int att_layer, att_T;    /* the attention job being run */
    float *rope_inv_freq;    /* (rope_dim / 2) */
    int *tok_seq, *tok_pos;  /* (T) per stacked token */
};

engine_params engine_params_default(void) {
    engine_params p = {0};
    p.block_size = 16;
    p.max_seqs = 1;
    p.max_batch_tokens = 512;
    p.kv_type = GGML_TYPE_F16;
    return p;
}

const model *engine_model(const engine *e) { return e->m; }

/* ---- math ---------------------------------------------------------------------------------- */

/* Marks the quantized copy of the activations stale: called whenever a product input is
 * rewritten. */
static void xq_invalidate(engine *e) { e->xq_of = NULL; }

/* Y[t] = W · X[t] (+ b) for t < T; X rows are w->cols apart, Y rows ldy apart. Every weight row
 * is read once for all T tokens, split over the pool by rows. With int8 activations X is
 * quantized once and reused by the following products of the same input (q/k/v, gate/up). */
static void linear(engine *e, const model_tensor *w, const model_tensor *b, const float *X,
                   int T, float *Y, size_t ldy) {
    int direct = ldy == (size_t)w->rows;
    float *out = direct ? Y : e->lin;
    if (!e->p.f32_activations && kern_q8_native(e->k, w->type)) {
        if (e->xq_of != X || e->xq_T != T || e->xq_cols != w->cols) {
            kern_quantize_q8_rows(e->pool, w->cols, X, T, e->xq);
            e->xq_of = X;
            e->xq_T = T;
            e->xq_cols = w->cols;
        }
        kern_matmul_q8(e->k, e->pool, w->type, w->data, w->row_bytes, w->rows, w->cols, e->xq, T, out);
    } else {
        kern_matmul(e->k, e->pool, w->type, w->data, w->row_bytes, w->rows, w->cols, X, T, out);
    }
    for (int t = 0; t < T; t++) {
        float *y = Y + (size_t)t * ldy;
        if (!direct) memcpy(y, out + (size_t)t * w->rows, (size_t)w->rows * sizeof *y);
        if (b && b->data) {
            const float *bb = b->data;
            for (int64_t i = 0; i < w->rows; i++) y[i] += bb[i];
        }
    }
}

/* RMSNorm: x / sqrt(mean(x^2) + eps) * w */
static void rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    float ss = 0.0f;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    float scale = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

/* LayerNorm: (x - mean) / sqrt(var + eps) * w + b */
static void layernorm(float *out, const float *x, const float *w, const float *b, int n, float eps) {
    float mean = 0.0f, var = 0.0f;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= (float)n;
    for (int i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    float scale = 1.0f / sqrtf(var / (float)n + eps);
    for (int i = 0; i < n; i++) out[i] = (x[i] - mean) * scale * w[i] + (b ? b[i] : 0.0f);
}

static void norm_rows(engine *e, const model_tensor *w, const model_tensor *b, int T,
                      const float *X, float *H) {
    const model_hparams *hp = &e->m->hp;
    xq_invalidate(e);
    for (int t = 0; t < T; t++) {
        const float *x = X + (size_t)t * hp->n_embd;
        float *h = H + (size_t)t * hp->n_embd;
        if (e->m->arch.norm == NORM_RMS)
            rmsnorm(h, x, w->data, hp->n_embd, hp->norm_eps);
        else
            layernorm(h, x, w->data, b->data, hp->n_embd, hp->norm_eps);
    }
}

/* Rotary embedding of one head vector at position pos. */
static void rope(const engine *e, float *v, int pos) {
    const model *m = e->m;
    int half = m->hp.rope_dim / 2;
    const float *factors = m->rope_freqs.data;
    for (int i = 0; i < half; i++) {
        float angle = (float)pos * e->rope_inv_freq[i];
        if (factors) angle /= factors[i];
        float c = cosf(angle), s = sinf(angle);
        int a = m->arch.rope_pairs == ROPE_PAIRS_ADJACENT ? 2 * i : i;
        int b = m->arch.rope_pairs == ROPE_PAIRS_ADJACENT ? 2 * i + 1 : i + half;
        float x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
    }
}

static float gelu(float x) { /* tanh approximation, as the served models were trained with */
    return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
}

/* ---- KV cache ------------------------------------------------------------------------------ */

static void *kv_at(const engine *e, unsigned char *base, int layer, int block, int offset) {
    return base + ((size_t)layer * (size_t)e->p.n_blocks + (size_t)block) * e->block_stride +
           (size_t)offset * (size_t)e->kv_dim * e->kv_elem;
}

static void kv_store(const engine *e, void *dst, const float *src, int n) {
    if (e->p.kv_type == GGML_TYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
    } else {
        uint16_t *d = dst;
        for (int i = 0; i < n; i++) d[i] = kern_f32_to_f16(src[i]);
    }
}

/* dot(q, cached k) over hd elements, with the kernel set's f32/f16 dot */
static float kv_dot(const engine *e, const float *q, const void *kc, int hd) {
    kern_dot_fn dot = e->k->dot[e->p.kv_type] ? e->k->dot[e->p.kv_type]
                                                : kern_reference()->dot[e->p.kv_type];
    return dot(hd, kc, q);
}

/* out += a * cached v over hd elements, with the kernel set's axpy */
static void kv_axpy(const engine *e, float *out, float a, const void *vc, int hd) {
    kern_axpy_fn axpy = e->k->axpy[e->p.kv_type] ? e->k->axpy[e->p.kv_type]
                                                  : kern_reference()->axpy[e->p.kv_type];
    axpy(hd, a, vc, out);
}

static int block_alloc(engine *e) {
    int b = e->free_list[--e->n_free];
    e->block_ref[b] = 1;
    return b;
}

static void block_release(engine *e, int b) {
    if (--e->block_ref[b] == 0) e->free_list[e->n_free++] = b;
}

/* ---- sequences ----------------------------------------------------------------------------- */

lm_status engine_seq_open(engine *e, int *id, lm_error *err) {
    for (int i = 0; i < e->p.max_seqs; i++) {
        if (!e->seqs[i].open) {
            e->seqs[i].open = 1;
            e->seqs[i].len = 0;
            e->seqs[i].n_blocks = 0;
            *id = i;
            return LM_OK;
        }
    }
    return err_set(err, LM_ERR_LIMIT, "all %d sequences are in use", e->p.max_seqs);
}

static seq_state *seq_get(const engine *e, int id) {
    if (id < 0 || id >= e->p.max_seqs || !e->seqs[id].open) return NULL;
    return &e->seqs[id];
}

void engine_seq_close(engine *e, int id) {
    seq_state *s = seq_get(e, id);
    if (!s) return;
    for (int i = 0; i < s->n_blocks; i++) block_release(e, s->blocks[i]);
    s->open = 0;
    s->n_blocks = 0;
    s->len = 0;
}

int engine_seq_len(const engine *e, int id) {
    const seq_state *s = seq_get(e, id);
    return s ? s->len : -1;
}

lm_status engine_seq_truncate(engine *e, int id, int n, lm_error *err) {
    seq_state *s = seq_get(e, id);
    if (!s) return err_set(err, LM_ERR_INVALID, "sequence %d is not open", id);
    if (n < 0 || n > s->len)
        return err_set(err, LM_ERR_INVALID, "cannot truncate a %d-position sequence to %d", s->len, n);
    int keep = (n + e->p.block_size - 1) / e->p.block_size;
    while (s->n_blocks > keep) block_release(e, s->blocks[--s->n_blocks]);
    s->len = n;
    return LM_OK;
}

int engine_free_blocks(const engine *e) { return e->n_free; }

/* ---- prefix sharing ------------------------------------------------------------------------ */

int engine_block_size(const engine *e) { return e->p.block_size; }

int engine_seq_blocks(const engine *e, int seq, const int **blocks) {
    const seq_state *s = seq_get(e, seq);
    if (!s) return 0;
    *blocks = s->blocks;
    return s->n_blocks;
}

lm_status engine_seq_attach(engine *e, int seq, const int *blocks, int n, lm_error *err) {
    seq_state *s = seq_get(e, seq);
    if (!s || s->len != 0)
        return err_set(err, LM_ERR_INVALID, "sequence %d is not an open empty sequence", seq);
    if (n < 0 || n > e->max_blocks_per_seq || (int64_t)n * e->p.block_size > e->p.n_ctx)
        return err_set(err, LM_ERR_INVALID, "%d blocks do not fit a sequence", n);
    for (int i = 0; i < n; i++)
        if (blocks[i] < 0 || blocks[i] >= e->p.n_blocks || e->block_ref[blocks[i]] <= 0)
            return err_set(err, LM_ERR_INVALID, "block %d is not held", blocks[i]);
    for (int i = 0; i < n; i++) {
        e->block_ref[blocks[i]]++;
        s->blocks[i] = blocks[i];
    }
    s->n_blocks = n;
    s->len = n * e->p.block_size;
    return LM_OK;
}

void engine_block_retain(engine *e, int block) {
    if (block >= 0 && block < e->p.n_blocks && e->block_ref[block] > 0) e->block_ref[block]++;
}

void engine_block_release(engine *e, int block) {
    if (block >= 0 && block < e->p.n_blocks && e->block_ref[block] > 0) block_release(e, block);
}

int engine_block_refs(const engine *e, int block) {
    return block >= 0 && block < e->p.n_blocks ? e->block_ref[block] : 0;
}

/* ---- the step ------------------------------------------------------------------------------ */

static lm_status validate(engine *e, const engine_item *items, int n_items, int *total,
                          lm_error *err) {
    const model_hparams *hp = &e->m->hp;
    int tokens = 0, blocks_needed = 0;
    for (int i = 0; i < n_items; i++) {
        const engine_item *it = &items[i];
        const seq_state *s = seq_get(e, it->seq);
        if (!s) return err_set(err, LM_ERR_INVALID, "item %d: sequence %d is not open", i, it->seq);
        for (int j = 0; j < i; j++)
            if (items[j].seq == it->seq)
                return err_set(err, LM_ERR_INVALID, "sequence %d appears twice in one step", it->seq);
        if (it->n_tokens < 1 || !it->tokens)
            return err_set(err, LM_ERR_INVALID, "item %d has no tokens", i);
        if (it->want != ENGINE_LOGITS_NONE && !it->logits)
            return err_set(err, LM_ERR_INVALID, "item %d wants logits but gave no buffer", i);
        if (it->n_tokens > e->p.n_ctx - s->len)
            return err_set(err, LM_ERR_LIMIT, "sequence %d: %d + %d tokens exceed the context of %d",
                           it->seq, s->len, it->n_tokens, e->p.n_ctx);
        for (int j = 0; j < it->n_tokens; j++)
            if (it->tokens[j] < 0 || it->tokens[j] >= hp->n_vocab)
                return err_set(err, LM_ERR_INVALID, "token id %d outside the vocabulary [0, %d)",
                               it->tokens[j], hp->n_vocab);
        tokens += it->n_tokens;
        int need = (s->len + it->n_tokens + e->p.block_size - 1) / e->p.block_size;
        blocks_needed += need - s->n_blocks;
    }
    if (tokens > e->p.max_batch_tokens)
        return err_set(err, LM_ERR_LIMIT, "%d tokens in one step exceed the batch limit of %d",
                       tokens, e->p.max_batch_tokens);
    if (blocks_needed > e->n_free)
        return err_set(err, LM_ERR_LIMIT, "KV cache full: %d blocks needed, %d free",
                       blocks_needed, e->n_free);
    *total = tokens;
    return LM_OK;
}

/* Causal attention of stacked token t (already stored in the cache) for query head h over its
 * own sequence, with `scores` as scratch (n_ctx floats). */
static void attend(engine *e, int layer, int t, int h, float *scores) {
    const model_hparams *hp = &e->m->hp;
    const seq_state *s = &e->seqs[e->tok_seq[t]];
    int pos = e->tok_pos[t], hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    int first = 0;
    if (hp->sliding_window > 0 && pos - hp->sliding_window + 1 > 0) first = pos - hp->sliding_window + 1;
    float scale = 1.0f / sqrtf((float)hd);
    int bs = e->p.block_size;
    const float *q = e->qkv + (size_t)t * e->qkv_dim + (size_t)h * hd;
    int kvh = h / group;
    float max = -INFINITY;
    for (int p = first; p <= pos; p++) {
        const void *k = kv_at(e, e->k_pool, layer, s->blocks[p / bs], p % bs);
        float sc = kv_dot(e, q, (const unsigned char *)k + (size_t)kvh * hd * e->kv_elem, hd) * scale;
        scores[p] = sc;
        if (sc > max) max = sc;
    }
    float sum = 0.0f;
    for (int p = first; p <= pos; p++) {
        scores[p] = expf(scores[p] - max);
        sum += scores[p];
    }
    float *out = e->att + (size_t)t * e->q_dim + (size_t)h * hd;
    memset(out, 0, (size_t)hd * sizeof(float));
    for (int p = first; p <= pos; p++) {
        const void *v = kv_at(e, e->v_pool, layer, s->blocks[p / bs], p % bs);
        kv_axpy(e, out, scores[p] / sum, (const unsigned char *)v + (size_t)kvh * hd * e->kv_elem, hd);
    }
}

/* pool task: (token, head) pairs ith, ith + nth, ... of the current attention job, so that one
 * decoding token spreads its heads over every thread */
static void attend_task(void *ctx, int ith, int nth) {
    engine *e = ctx;
    float *scores = e->scores + (size_t)ith * (size_t)e->p.n_ctx;
    int H = e->m->hp.n_head;
    for (int u = ith; u < e->att_T * H; u += nth) attend(e, e->att_layer, u / H, u % H, scores);
}

static void attention_layer(engine *e, int il, int T) {
    const model *m = e->m;
    const model_hparams *hp = &m->hp;
    const model_layer *l = &m->layers[il];
    int hd = hp->head_dim, bs = e->p.block_size;
    size_t ld = (size_t)e->qkv_dim;
    if (l->wqkv.data) {
        linear(e, &l->wqkv, &l->bqkv, e->h, T, e->qkv, ld);
    } else {
        linear(e, &l->wq, &l->bq, e->h, T, e->qkv, ld);
        linear(e, &l->wk, &l->bk, e->h, T, e->qkv + e->q_dim, ld);
        linear(e, &l->wv, &l->bv, e->h, T, e->qkv + e->q_dim + e->kv_dim, ld);
    }
    for (int t = 0; t < T; t++) {
        float *q = e->qkv + (size_t)t * ld, *k = q + e->q_dim, *v = k + e->kv_dim;
        for (int h = 0; h < hp->n_head; h++) {
            if (l->q_norm.data) rmsnorm(q + h * hd, q + h * hd, l->q_norm.data, hd, hp->norm_eps);
            rope(e, q + h * hd, e->tok_pos[t]);
        }
        for (int h = 0; h < hp->n_head_kv; h++) {
            if (l->k_norm.data) rmsnorm(k + h * hd, k + h * hd, l->k_norm.data, hd, hp->norm_eps);
            rope(e, k + h * hd, e->tok_pos[t]);
        }
        const seq_state *s = &e->seqs[e->tok_seq[t]];
        int pos = e->tok_pos[t], block = s->blocks[pos / bs];
        kv_store(e, kv_at(e, e->k_pool, il, block, pos % bs), k, e->kv_dim);
        kv_store(e, kv_at(e, e->v_pool, il, block, pos % bs), v, e->kv_dim);
    }
    e->att_layer = il;
    e->att_T = T;
    int units = T * hp->n_head;
    pool_run(e->pool, units < e->n_tasks ? units : e->n_tasks, attend_task, e);
    xq_invalidate(e);
    linear(e, &l->wo, &l->bo, e->att, T, e->o, hp->n_embd);
}

/* ffn(H) -> out, both (T, n_embd) */
static void ffn_layer(engine *e, int il, int T, const float *H, float *out) {
    const model *m = e->m;
    const model_layer *l = &m->layers[il];
    int F = m->hp.n_ff, E = m->hp.n_embd;
    size_t ld = 2 * (size_t)F;
    if (m->arch.ffn == FFN_SWIGLU) {
        if (l->w_gate_up.data) {
            linear(e, &l->w_gate_up, NULL, H, T, e->ff, ld);
        } else {
            linear(e, &l->w_gate, NULL, H, T, e->ff, ld);
            linear(e, &l->w_up, &l->b_up, H, T, e->ff + F, ld);
        }
        for (int t = 0; t < T; t++) {
            float *g = e->ff + (size_t)t * ld, *u = g + F;
            for (int i = 0; i < F; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i]; /* silu(g) * u */
        }
    } else {
        linear(e, &l->w_up, &l->b_up, H, T, e->ff, ld);
        for (int t = 0; t < T; t++) {
            float *u = e->ff + (size_t)t * ld;
            for (int i = 0; i < F; i++) u[i] = gelu(u[i]);
        }
    }
    xq_invalidate(e);
    /* the down projection reads [T][n_ff] rows: compact the 2 n_ff-strided activations first */
    if (ld != (size_t)F)
        for (int t = 1; t < T; t++) memmove(e->ff + (size_t)t * F, e->ff + (size_t)t * ld, (size_t)F * sizeof(float));
    linear(e, &l->w_down, &l->b_down, e->ff, T, out, E);
}

static void embed(const engine *e, int32_t token, float *out) {
    const model_tensor *t = &e->m->tok_embd;
    quant_dequantize_row(t->type, (const unsigned char *)t->data + (size_t)token * t->row_bytes,
                         t->cols, out);
}

lm_status engine_step(engine *e, const engine_item *items, int n_items, lm_error *err) {
    const model *m = e->m;
    const model_hparams *hp = &m->hp;
    int T = 0;
    LM_TRY(validate(e, items, n_items, &T, err));

    /* stack tokens, grow block tables */
    int t = 0;
    for (int i = 0; i < n_items; i++) {
        seq_state *s = &e->seqs[items[i].seq];
        int need = (s->len + items[i].n_tokens + e->p.block_size - 1) / e->p.block_size;
        while (s->n_blocks < need) s->blocks[s->n_blocks++] = block_alloc(e);
        for (int j = 0; j < items[i].n_tokens; j++, t++) {
            e->tok_seq[t] = items[i].seq;
            e->tok_pos[t] = s->len + j;
            embed(e, items[i].tokens[j], e->x + (size_t)t * hp->n_embd);
        }
    }

    int E = hp->n_embd;
    for (int il = 0; il < hp->n_layer; il++) {
        const model_layer *l = &m->layers[il];
        norm_rows(e, &l->attn_norm, &l->attn_norm_b, T, e->x, e->h);
        attention_layer(e, il, T);
        if (m->arch.parallel) {
            ffn_layer(e, il, T, e->h, e->ff2);
            for (size_t i = 0; i < (size_t)T * E; i++) e->x[i] += e->o[i] + e->ff2[i];
        } else {
            for (size_t i = 0; i < (size_t)T * E; i++) e->x[i] += e->o[i];
            norm_rows(e, &l->ffn_norm, &l->ffn_norm_b, T, e->x, e->h);
            ffn_layer(e, il, T, e->h, e->ff2);
            for (size_t i = 0; i < (size_t)T * E; i++) e->x[i] += e->ff2[i];
        }
    }

    /* logits for the rows items asked for */
    t = 0;
    for (int i = 0; i < n_items; i++) {
        const engine_item *it = &items[i];
        int first = it->want == ENGINE_LOGITS_ALL ? 0 : it->n_tokens - 1;
        if (it->want != ENGINE_LOGITS_NONE) {
            int rows = it->n_tokens - first;
            const float *X = e->x + (size_t)(t + first) * E;
            norm_rows(e, &m->output_norm, &m->output_norm_b, rows, X, e->h);
            linear(e, &m->output, &m->output_b, e->h, rows, it->logits, (size_t)hp->n_vocab);
        }
        e->seqs[it->seq].len += it->n_tokens;
        t += it->n_tokens;
    }
    if (replay_is(m)) replay_logits(e, items, n_items); /* test model: scripted logits */
    return LM_OK;
}

/* ---- lifetime ------------------------------------------------------------------------------ */

void engine_destroy(engine *e) {
    if (!e) return;
    if (e->seqs)
        for (int i = 0; i < e->p.max_seqs; i++) free(e->seqs[i].blocks);
    free(e->seqs);
    free(e->k_pool);
    free(e->v_pool);
    free(e->block_ref);
    free(e->free_list);
    free(e->x);
    free(e->h);
    free(e->qkv);
    free(e->att);
    free(e->o);
    free(e->ff);
    free(e->ff2);
    free(e->lin);
    free(e->xq);
    free(e->scores);
    pool_destroy(e->pool);
    free(e->rope_inv_freq);
    free(e->tok_seq);
    free(e->tok_pos);
    free(e);
}

lm_status engine_create(const model *m, const engine_params *params, engine **out, lm_error *err) {
    *out = NULL;
    const model_hparams *hp = &m->hp;
    engine_params p = params ? *params : engine_params_default();
    if (p.block_size == 0) p.block_size = 16;
    if (p.max_seqs == 0) p.max_seqs = 1;
    if (p.max_batch_tokens == 0) p.max_batch_tokens = 512;
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train;
    if (p.block_size < 1 || p.block_size > 4096 || p.max_seqs < 1 || p.max_seqs > 65536 ||
        p.max_batch_tokens < 1 || p.max_batch_tokens > (1 << 20) || p.n_ctx < 1 || p.n_ctx > (1 << 24))
        return err_set(err, LM_ERR_INVALID,
                       "engine parameters out of range (block %d, seqs %d, batch %d, ctx %d)",
                       p.block_size, p.max_seqs, p.max_batch_tokens, p.n_ctx);
    if (p.kv_type != GGML_TYPE_F16 && p.kv_type != GGML_TYPE_F32)
        return err_set(err, LM_ERR_UNSUPPORTED, "KV cache type must be f16 or f32");
    int max_blocks_per_seq = (p.n_ctx + p.block_size - 1) / p.block_size;
    if (p.n_blocks == 0) {
        int64_t nb = (int64_t)max_blocks_per_seq * p.max_seqs;
        p.n_blocks = nb > (1 << 24) ? (1 << 24) : (int)nb;
    }
    if (p.n_blocks < 1) return err_set(err, LM_ERR_INVALID, "KV pool needs at least one block");

    engine *e = calloc(1, sizeof *e);
    if (!e) return err_set(err, LM_ERR_NOMEM, "out of memory");
    e->m = m;
    e->p = p;
    e->k = p.kernels ? p.kernels : kern_best();
    if (pool_create(p.n_threads, &e->pool, err) != LM_OK) {
        engine_destroy(e);
        return LM_ERR_INTERNAL;
    }
    e->n_tasks = pool_size(e->pool);
    e->q_dim = hp->n_head * hp->head_dim;
    e->kv_dim = hp->n_head_kv * hp->head_dim;
    e->qkv_dim = e->q_dim + 2 * e->kv_dim;
    e->kv_elem = p.kv_type == GGML_TYPE_F32 ? 4 : 2;
    e->block_stride = (size_t)p.block_size * (size_t)e->kv_dim * e->kv_elem;
    e->max_blocks_per_seq = max_blocks_per_seq;
    size_t pool_bytes = (size_t)hp->n_layer * (size_t)p.n_blocks * e->block_stride;
    size_t T = (size_t)p.max_batch_tokens;

    e->k_pool = malloc(pool_bytes);
    e->v_pool = malloc(pool_bytes);
    e->block_ref = calloc((size_t)p.n_blocks, sizeof *e->block_ref);
    e->free_list = malloc((size_t)p.n_blocks * sizeof *e->free_list);
    e->seqs = calloc((size_t)p.max_seqs, sizeof *e->seqs);
    e->x = malloc(T * (size_t)hp->n_embd * sizeof(float));
    e->h = malloc(T * (size_t)hp->n_embd * sizeof(float));
    e->qkv = malloc(T * (size_t)e->qkv_dim * sizeof(float));
    e->att = malloc(T * (size_t)e->q_dim * sizeof(float));
    e->o = malloc(T * (size_t)hp->n_embd * sizeof(float));
    e->ff = malloc(T * 2 * (size_t)hp->n_ff * sizeof(float));
    e->ff2 = malloc(T * (size_t)hp->n_embd * sizeof(float));
    size_t widest = (size_t)(e->q_dim > hp->n_ff ? e->q_dim : hp->n_ff);
    e->lin = malloc(T * widest * sizeof(float));
    int64_t in_widest = hp->n_embd > e->q_dim ? hp->n_embd : e->q_dim;
    if (hp->n_ff > in_widest) in_widest = hp->n_ff;
    e->xq = malloc(T * kern_q8_row_bytes((in_widest + 31) / 32 * 32));
    e->scores = malloc((size_t)e->n_tasks * (size_t)p.n_ctx * sizeof(float));
    e->rope_inv_freq = malloc(((size_t)hp->rope_dim / 2 + 1) * sizeof(float));
    e->tok_seq = malloc(T * sizeof(int));
    e->tok_pos = malloc(T * sizeof(int));
    int ok = e->k_pool && e->v_pool && e->block_ref && e->free_list && e->seqs && e->x && e->h &&
             e->qkv && e->att && e->o && e->ff && e->ff2 && e->lin && e->xq && e->scores && e->rope_inv_freq &&
             e->tok_seq && e->tok_pos;
    for (int i = 0; ok && i < p.max_seqs; i++) {
        e->seqs[i].blocks = malloc((size_t)max_blocks_per_seq * sizeof(int));
        ok = e->seqs[i].blocks != NULL;
    }
    if (!ok) {
        engine_destroy(e);
        return err_set(err, LM_ERR_NOMEM, "out of memory for the engine (KV pool %zu MiB)",
                       2 * pool_bytes >> 20);
    }
    for (int i = 0; i < p.n_blocks; i++) e->free_list[i] = p.n_blocks - 1 - i; /* pop 0 first */
    e->n_free = p.n_blocks;
    for (int i = 0; i < hp->rope_dim / 2; i++)
        e->rope_inv_freq[i] = (float)pow((double)hp->rope_theta, -2.0 * i / hp->rope_dim);
    *out = e;
    return LM_OK;
}
