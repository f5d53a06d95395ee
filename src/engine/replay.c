/* replay.c — the replay model (replay.h): scripted replies in place of a forward pass, for tests
 * of everything around the engine with real tokenizers and chat templates. */
#include "engine/replay.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

#define REPLAY_ARCH_NAME "lmserve-replay" /* model_arch.name of a replay model */
#define REPLAY_DIM 16                     /* width of the dummy transformer */
#define REPLAY_MAX_FILE (16u << 20)       /* replay.json and config.json size bound */
#define REPLAY_MAX_RULES 4096
#define REPLAY_MAX_SEQS 65536             /* engine_create's bound on max_seqs */
#define REPLAY_NEG (-1e9f)

enum { OWN_WEIGHTS, OWN_RULES, OWN_REPLIES, OWN_BLOCKS, OWN_SEQS, OWN_N };

typedef struct {
    const char *when;      /* NULL: always matches */
    int32_t *reply;        /* reply ids */
    size_t n_reply;
} rule;

typedef struct {
    int prompt_len;        /* positions of the prompt; -1: no reply chosen */
    int rule;
} seq_reply;

typedef struct {
    model m;               /* first: the model pointer is the replay pointer */
    replay_codec codec;
    rule *rules;           /* in owned[OWN_RULES] */
    int n_rules;
    int32_t *block_tok;    /* (cap_blocks, block_size) the token at each cached position */
    size_t cap_blocks;
    int block_size;
    seq_reply *seqs;       /* (REPLAY_MAX_SEQS) */
} replay_model;

int replay_is(const model *m) { return m && !strcmp(m->arch.name, REPLAY_ARCH_NAME); }

static lm_status read_json_file(const char *dir, const char *name, json_t **out, lm_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    char *text = file_read_all(path, REPLAY_MAX_FILE, &len);
    if (!text)
        return err_set(err, LM_ERR_IO, "%s: cannot read (missing, unreadable or over %u bytes)", path, REPLAY_MAX_FILE);
    json_error_t je;
    *out = json_loadb(text, len, 0, &je);
    free(text);
    if (!*out) return err_set(err, LM_ERR_FORMAT, "%s: line %d: %s", path, je.line, je.text);
    return LM_OK;
}

int replay_is_model_dir(const char *path) {
    if (!path || !file_is_dir(path)) return 0;
    json_t *cfg = NULL;
    lm_error err;
    err_clear(&err);
    if (read_json_file(path, "config.json", &cfg, &err) != LM_OK) return 0;
    json_t *a = json_array_get(json_object_get(cfg, "architectures"), 0);
    int yes = json_is_string(a) && !strcmp(json_string_value(a), REPLAY_ARCHITECTURE);
    json_decref(cfg);
    return yes;
}

static model_tensor tensor(float *data, int64_t rows, int64_t cols) {
    model_tensor t = {GGML_TYPE_F32, cols, rows, (size_t)cols * sizeof(float), data};
    return t;
}

/* A one-layer llama-shaped transformer of width REPLAY_DIM with zero weights (norms 1): the
 * engine runs it unchanged, and its logits are overwritten. */
static lm_status dummy_weights(replay_model *r, int n_ctx, lm_error *err) {
    model *m = &r->m;
    const int D = REPLAY_DIM, V = r->codec.n_vocab;
    strcpy(m->arch.name, REPLAY_ARCH_NAME);
    m->arch.norm = NORM_RMS;
    m->arch.ffn = FFN_SWIGLU;
    m->arch.rope_pairs = ROPE_PAIRS_NEOX;
    m->hp = (model_hparams){.n_vocab = V, .n_ctx_train = n_ctx, .n_embd = D, .n_layer = 1, .n_head = 1,
                            .n_head_kv = 1, .head_dim = D, .n_ff = D, .rope_dim = D, .rope_theta = 10000.0f,
                            .norm_eps = 1e-6f};
    size_t n = (size_t)V * D /* embedding = output */ + 7 * (size_t)D * D + 3 * (size_t)D /* norms */;
    float *w = calloc(n, sizeof *w);
    m->layers = calloc(1, sizeof *m->layers);
    if (!w || !m->layers) {
        free(w);
        return err_set(err, LM_ERR_NOMEM, "out of memory for the replay model");
    }
    m->owned[OWN_WEIGHTS] = w;
    float *p = w;
    m->tok_embd = m->output = tensor(p, V, D);
    p += (size_t)V * D;
    model_layer *l = &m->layers[0];
    model_tensor *mats[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
    for (int i = 0; i < 7; i++, p += (size_t)D * D) *mats[i] = tensor(p, D, D);
    model_tensor *norms[] = {&l->attn_norm, &l->ffn_norm, &m->output_norm};
    for (int i = 0; i < 3; i++, p += D) {
        for (int k = 0; k < D; k++) p[k] = 1.0f;
        *norms[i] = tensor(p, 1, D);
    }
    return LM_OK;
}

static lm_status load_rules(replay_model *r, const char *dir, lm_error *err) {
    json_t *doc = NULL;
    lm_status s = read_json_file(dir, "replay.json", &doc, err);
    if (s != LM_OK) return s;
    json_t *rules = json_object_get(doc, "rules");
    size_t n = json_array_size(rules);
    if (!json_is_array(rules) || n == 0 || n > REPLAY_MAX_RULES) {
        s = err_set(err, LM_ERR_FORMAT, "%s/replay.json: \"rules\" must be an array of 1 to %d rules", dir,
                    REPLAY_MAX_RULES);
        goto done;
    }
    /* one block: the rule array, then each `when` string */
    size_t bytes = n * sizeof(rule);
    for (size_t i = 0; i < n; i++) {
        json_t *w = json_object_get(json_array_get(rules, i), "when");
        if (json_is_string(w)) bytes += json_string_length(w) + 1;
    }
    r->rules = calloc(1, bytes);
    if (!r->rules) {
        s = err_set(err, LM_ERR_NOMEM, "out of memory for replay.json");
        goto done;
    }
    r->m.owned[OWN_RULES] = r->rules;
    r->n_rules = (int)n;
    char *strings = (char *)(r->rules + n);
    for (size_t i = 0; i < n && s == LM_OK; i++) {
        json_t *ru = json_array_get(rules, i), *w = json_object_get(ru, "when"), *rep = json_object_get(ru, "reply");
        if (!json_is_object(ru) || !json_is_string(rep) || (w && !json_is_string(w))) {
            s = err_set(err, LM_ERR_FORMAT, "%s/replay.json: rule %zu needs a string \"reply\" (and \"when\", if any, a string)",
                        dir, i);
            break;
        }
        if (w) {
            memcpy(strings, json_string_value(w), json_string_length(w) + 1);
            r->rules[i].when = strings;
            strings += json_string_length(w) + 1;
        }
        s = r->codec.encode(r->codec.ctx, json_string_value(rep), json_string_length(rep), &r->rules[i].reply,
                            &r->rules[i].n_reply, err);
    }
    /* the replies move into one block the model owns */
    size_t total = 1;
    for (int i = 0; i < r->n_rules; i++) total += r->rules[i].n_reply;
    int32_t *all = s == LM_OK ? malloc(total * sizeof *all) : NULL;
    if (s == LM_OK && !all) s = err_set(err, LM_ERR_NOMEM, "out of memory for replay.json");
    r->m.owned[OWN_REPLIES] = all;
    for (int i = 0; i < r->n_rules; i++) {
        if (all) {
            memcpy(all, r->rules[i].reply, r->rules[i].n_reply * sizeof *all);
            free(r->rules[i].reply);
            r->rules[i].reply = all;
            all += r->rules[i].n_reply;
        } else {
            free(r->rules[i].reply);
            r->rules[i].reply = NULL;
        }
    }
done:
    json_decref(doc);
    return s;
}


lm_status replay_model_load(const char *path, const replay_codec *codec, model **out, lm_error *err) {
    *out = NULL;
    json_t *cfg = NULL;
    lm_status s = read_json_file(path, "config.json", &cfg, err);
    if (s != LM_OK) return s;
    json_t *mp = json_object_get(cfg, "max_position_embeddings");
    int n_ctx = json_is_integer(mp) && json_integer_value(mp) >= 16 && json_integer_value(mp) <= (1 << 20)
                    ? (int)json_integer_value(mp) : 32768;
    json_decref(cfg);
    if (codec->n_vocab < 1 || codec->eos < 0 || codec->eos >= codec->n_vocab)
        return err_set(err, LM_ERR_FORMAT, "%s: a replay model needs a tokenizer with an end-of-sequence token", path);
    replay_model *r = calloc(1, sizeof *r);
    void **owned = calloc(OWN_N, sizeof *owned);
    if (!r || !owned) {
        free(r);
        free(owned);
        return err_set(err, LM_ERR_NOMEM, "out of memory for the replay model");
    }
    r->m.owned = owned;
    r->m.n_owned = OWN_N;
    r->codec = *codec;
    r->seqs = calloc(REPLAY_MAX_SEQS, sizeof *r->seqs);
    r->m.owned[OWN_SEQS] = r->seqs;
    s = r->seqs ? LM_OK : err_set(err, LM_ERR_NOMEM, "out of memory for the replay model");
    for (int i = 0; r->seqs && i < REPLAY_MAX_SEQS; i++) r->seqs[i].prompt_len = -1;
    if (s == LM_OK) s = dummy_weights(r, n_ctx, err);
    if (s == LM_OK) s = load_rules(r, path, err);
    if (s != LM_OK) {
        model_destroy(&r->m);
        return s;
    }
    *out = &r->m;
    return LM_OK;
}

/* ---- the step hook --------------------------------------------------------------------------- */

/* The token at position pos of sequence seq (its block table from the engine). */
static int32_t tok_at(const replay_model *r, const int *blocks, int pos) {
    return r->block_tok[(size_t)blocks[pos / r->block_size] * (size_t)r->block_size + (size_t)(pos % r->block_size)];
}

static int grow_blocks(replay_model *r, const int *blocks, int n) {
    size_t need = 0;
    for (int i = 0; i < n; i++)
        if ((size_t)blocks[i] + 1 > need) need = (size_t)blocks[i] + 1;
    if (need <= r->cap_blocks) return 1;
    size_t cap = r->cap_blocks ? r->cap_blocks : 64;
    while (cap < need) cap *= 2;
    int32_t *p = realloc(r->block_tok, cap * (size_t)r->block_size * sizeof *p);
    if (!p) return 0;
    r->block_tok = p;
    r->m.owned[OWN_BLOCKS] = p;
    r->cap_blocks = cap;
    return 1;
}

/* The reply for the sequence whose first len positions are known: continues the chosen reply
 * while the positions after its prompt are that reply, else takes positions [0, len) as a new
 * prompt and picks its rule. */
static const rule *pick(replay_model *r, int seq, const int *blocks, int len) {
    seq_reply *sr = &r->seqs[seq];
    if (sr->prompt_len >= 0 && sr->prompt_len < len) { /* k == 0 would be a new prompt of the same length */
        const rule *ru = &r->rules[sr->rule];
        int k = len - sr->prompt_len, ok = 1;
        for (int i = 0; i < k && ok; i++)
            ok = (size_t)i < ru->n_reply ? tok_at(r, blocks, sr->prompt_len + i) == ru->reply[i]
                                         : tok_at(r, blocks, sr->prompt_len + i) == r->codec.eos;
        if (ok) return ru;
    }
    int32_t *ids = malloc((size_t)len * sizeof *ids + 1);
    lm_buf text = {0};
    if (ids) {
        for (int i = 0; i < len; i++) ids[i] = tok_at(r, blocks, i);
        r->codec.decode(r->codec.ctx, ids, (size_t)len, &text);
    }
    free(ids);
    int chosen = -1;
    for (int i = 0; i < r->n_rules && chosen < 0; i++)
        if (!r->rules[i].when || strstr(buf_cstr(&text), r->rules[i].when)) chosen = i;
    buf_fini(&text);
    sr->prompt_len = len;
    sr->rule = chosen;
    return chosen >= 0 ? &r->rules[chosen] : NULL;
}

static void one_hot(float *row, int n_vocab, int32_t id) {
    for (int i = 0; i < n_vocab; i++) row[i] = REPLAY_NEG;
    row[id] = 0.0f;
}

void replay_logits(engine *e, const engine_item *items, int n_items) {
    replay_model *r = (replay_model *)engine_model(e);
    int V = r->m.hp.n_vocab;
    r->block_size = engine_block_size(e);
    for (int i = 0; i < n_items; i++) {
        const engine_item *it = &items[i];
        if (it->seq < 0 || it->seq >= REPLAY_MAX_SEQS) continue;
        const int *blocks;
        int nb = engine_seq_blocks(e, it->seq, &blocks);
        int len = engine_seq_len(e, it->seq), start = len - it->n_tokens;
        if (!grow_blocks(r, blocks, nb)) { /* out of memory: end the reply */
            if (it->want != ENGINE_LOGITS_NONE) one_hot(it->logits + (it->want == ENGINE_LOGITS_ALL ?
                                                       (size_t)(it->n_tokens - 1) * V : 0), V, r->codec.eos);
            continue;
        }
        for (int j = 0; j < it->n_tokens; j++) {
            int pos = start + j;
            r->block_tok[(size_t)blocks[pos / r->block_size] * (size_t)r->block_size + (size_t)(pos % r->block_size)] =
                it->tokens[j];
        }
        if (it->want == ENGINE_LOGITS_NONE) continue;
        if (it->want == ENGINE_LOGITS_ALL) /* earlier rows: the prompt's own next token */
            for (int j = 0; j + 1 < it->n_tokens; j++) one_hot(it->logits + (size_t)j * V, V, it->tokens[j + 1]);
        float *row = it->logits + (it->want == ENGINE_LOGITS_ALL ? (size_t)(it->n_tokens - 1) * V : 0);
        const rule *ru = pick(r, it->seq, blocks, len);
        size_t k = ru ? (size_t)(len - r->seqs[it->seq].prompt_len) : 0;
        one_hot(row, V, ru && k < ru->n_reply ? ru->reply[k] : r->codec.eos);
    }
}
