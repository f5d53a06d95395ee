/* hfconfig.c — config.json / generation_config.json reader: jansson tree, typed getters that
 * name the key on error, then transformers' per-model_type key names and defaults.
 *
 * Which keys map to which field is in hfconfig.h; the per-model_type defaults below come from
 * the transformers config classes (LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config,
 * Phi3Config, PhiConfig, FalconConfig, GPTJConfig). */
#include "model/hfconfig.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/jsonnum.h"
#include "base/mapfile.h"

#define SHOW_MAX 80 /* strings in messages are cut to this many bytes */

/* ---------------------------------------------------------------------------------------------
 * Per-model_type defaults and key aliases
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    const char *model_type;      /* NULL: any other model_type (PretrainedConfig's defaults) */
    double norm_eps;
    double rope_theta;
    int tie_word_embeddings;
    int64_t max_position_embeddings; /* 0: none */
    int ffn_mult;                /* intermediate_size defaults to ffn_mult * hidden; 0: required */
    int64_t head_dim;            /* default head_dim; 0: hidden_size / num_attention_heads */
    int use_sliding_window;      /* default of use_sliding_window */
    int64_t sliding_window;      /* default window when the key is absent */
    double partial_rotary_factor;
    int falcon;                  /* falcon's multi_query / parallel_attn defaults apply */
} family;

static const family families[] = {
    {"llama", 1e-6, 10000.0, 0, 2048, 0, 0, 1, 0, 1.0, 0},
    {"mistral", 1e-6, 10000.0, 0, 4096 * 32, 0, 0, 1, 4096, 1.0, 0},
    {"qwen2", 1e-6, 10000.0, 0, 32768, 0, 0, 0, 4096, 1.0, 0},
    {"qwen3", 1e-6, 10000.0, 0, 32768, 0, 128, 0, 4096, 1.0, 0},
    {"phi3", 1e-5, 10000.0, 0, 4096, 0, 0, 1, 0, 1.0, 0},
    {"phi", 1e-5, 10000.0, 0, 2048, 0, 0, 1, 0, 0.5, 0},
    {"falcon", 1e-5, 10000.0, 1, 2048, 4, 0, 1, 0, 1.0, 1},
    {"gptj", 1e-5, 10000.0, 0, 2048, 4, 0, 1, 0, 1.0, 0},
    {NULL, 1e-5, 10000.0, 1, 0, 0, 0, 1, 0, 1.0, 0},
};

/* GPT-J rotates 64 dims per head unless told otherwise (GPTJConfig.rotary_dim). */
#define GPTJ_DEFAULT_ROTARY_DIM 64

/* Keys other than the field's own name that supply it; family NULL applies to every model_type.
 * Order matters: the first present key wins. */
typedef struct {
    const char *family;
    const char *field;
    const char *key;
} alias;

static const alias aliases[] = {
    {NULL, "norm_eps", "rms_norm_eps"},
    {NULL, "norm_eps", "layer_norm_eps"},
    {NULL, "norm_eps", "layer_norm_epsilon"},
    {NULL, "torch_dtype", "dtype"},
    {NULL, "hidden_act", "activation_function"},
    {"gptj", "hidden_size", "n_embd"},
    {"gptj", "num_hidden_layers", "n_layer"},
    {"gptj", "num_attention_heads", "n_head"},
    {"gptj", "max_position_embeddings", "n_positions"},
    {"gptj", "intermediate_size", "n_inner"},
    {"falcon", "num_hidden_layers", "n_layer"},
    {"falcon", "num_attention_heads", "n_head"},
    {"falcon", "num_key_value_heads", "num_kv_heads"},
    {"falcon", "num_key_value_heads", "n_head_kv"},
    {"falcon", "intermediate_size", "ffn_hidden_size"},
    {"falcon", "attention_bias", "bias"},
};

/* ---------------------------------------------------------------------------------------------
 * Messages
 * ------------------------------------------------------------------------------------------- */

static const char *show(const char *s, char *buf, size_t cap) {
    size_t n = 0;
    for (; s[n] && n < cap - 4; n++) {
        unsigned char ch = (unsigned char)s[n];
        buf[n] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (s[n]) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* Short rendering of a JSON value for a message. */
static const char *show_value(const json_t *v, char *buf, size_t cap) {
    char tmp[SHOW_MAX + 4];
    switch (json_typeof(v)) {
    case JSON_INTEGER: snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: snprintf(buf, cap, "%g", json_real_value(v)); break;
    case JSON_STRING:
        snprintf(buf, cap, "\"%s\"", show(json_string_value(v), tmp, sizeof tmp));
        break;
    case JSON_OBJECT: snprintf(buf, cap, "an object"); break;
    case JSON_ARRAY: snprintf(buf, cap, "an array"); break;
    case JSON_TRUE: snprintf(buf, cap, "true"); break;
    case JSON_FALSE: snprintf(buf, cap, "false"); break;
    case JSON_NULL: snprintf(buf, cap, "null"); break;
    }
    return buf;
}

/* ---------------------------------------------------------------------------------------------
 * Typed reads of one value; `key` names it in messages ("rope_scaling.factor")
 * ------------------------------------------------------------------------------------------- */

static lm_status type_error(lm_error *err, const char *key, const json_t *v, const char *want) {
    char vb[SHOW_MAX + 8];
    return err_set(err, LM_ERR_FORMAT, "key '%s' is %s, expected %s", key,
                   show_value(v, vb, sizeof vb), want);
}

static lm_status read_int(const json_t *v, const char *key, int64_t lo, int64_t hi, int64_t *out,
                          lm_error *err) {
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char want[96];
        snprintf(want, sizeof want, "an integer in [%" PRId64 ", %" PRId64 "]", lo, hi);
        return type_error(err, key, v, want);
    }
    *out = json_integer_value(v);
    return LM_OK;
}

/* A number (integer or real) in [lo, hi]; `open_lo` excludes lo itself. */
static lm_status read_num(const json_t *v, const char *key, double lo, int open_lo, double hi,
                          double *out, lm_error *err) {
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    if (!json_is_number(v) || !(open_lo ? x > lo : x >= lo) || !(x <= hi)) {
        char want[96];
        snprintf(want, sizeof want, "a number in %s%g, %g]", open_lo ? "(" : "[", lo, hi);
        return type_error(err, key, v, want);
    }
    *out = x;
    return LM_OK;
}

static lm_status read_bool(const json_t *v, const char *key, int *out, lm_error *err) {
    if (!json_is_boolean(v)) return type_error(err, key, v, "true or false");
    *out = json_is_true(v);
    return LM_OK;
}

static lm_status read_str(const json_t *v, const char *key, char *buf, size_t cap,
                          lm_error *err) {
    if (!json_is_string(v)) return type_error(err, key, v, "a string");
    size_t n = json_string_length(v);
    if (n >= cap || memchr(json_string_value(v), '\0', n))
        return err_set(err, LM_ERR_FORMAT, "key '%s': string of %zu bytes, at most %zu supported",
                       key, n, cap - 1);
    memcpy(buf, json_string_value(v), n + 1);
    return LM_OK;
}

/* One token id, or a list of them (eos_token_id). */
static lm_status read_ids(const json_t *v, const char *key, int64_t *ids, uint32_t *n,
                          lm_error *err) {
    *n = 0;
    if (json_is_integer(v)) {
        LM_TRY(read_int(v, key, 0, LM_HFCONFIG_MAX_INT, &ids[0], err));
        *n = 1;
        return LM_OK;
    }
    if (!json_is_array(v)) return type_error(err, key, v, "a token id or a list of token ids");
    if (json_array_size(v) > LM_HFCONFIG_MAX_EOS)
        return err_set(err, LM_ERR_LIMIT, "key '%s': %zu token ids, at most %d supported "
                       "(LM_HFCONFIG_MAX_EOS)", key, json_array_size(v), LM_HFCONFIG_MAX_EOS);
    for (size_t i = 0; i < json_array_size(v); i++) {
        char k[96];
        snprintf(k, sizeof k, "%s[%zu]", key, i);
        LM_TRY(read_int(json_array_get(v, i), k, 0, LM_HFCONFIG_MAX_INT, &ids[i], err));
    }
    *n = (uint32_t)json_array_size(v);
    return LM_OK;
}

/* A value of `obj` that is present and not null; NULL otherwise. */
static const json_t *get(const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

/* ---------------------------------------------------------------------------------------------
 * config.json
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    const json_t *root;
    const family *fam;
    lm_error *err;
} reader;

/* The value supplying `field`: the key of that name, else its aliases for this model_type.
 * Sets *key to the key found (for messages); NULL when absent or null. */
static const json_t *find(const reader *r, const char *field, const char **key) {
    *key = field;
    const json_t *v = get(r->root, field);
    if (v) return v;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        const alias *a = &aliases[i];
        if (strcmp(a->field, field) != 0) continue;
        if (a->family && (!r->fam->model_type || strcmp(a->family, r->fam->model_type) != 0))
            continue;
        if ((v = get(r->root, a->key))) {
            *key = a->key;
            return v;
        }
    }
    return NULL;
}

/* "'hidden_size' (or 'n_embd')" for a missing-key message. */
static const char *keys_of(const reader *r, const char *field, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "'%s'", field);
    int first = 1;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0] && n < cap; i++) {
        const alias *a = &aliases[i];
        if (strcmp(a->field, field) != 0) continue;
        if (a->family && (!r->fam->model_type || strcmp(a->family, r->fam->model_type) != 0))
            continue;
        n += (size_t)snprintf(buf + n, cap - n, "%s'%s'", first ? " (or " : ", ", a->key);
        first = 0;
    }
    if (!first && n < cap) snprintf(buf + n, cap - n, ")");
    return buf;
}

/* A size field in [1, LM_HFCONFIG_MAX_INT]. Absent: *out = dflt, or an error when dflt < 0. */
static lm_status field_size(const reader *r, const char *field, int64_t dflt, int64_t *out) {
    const char *key;
    const json_t *v = find(r, field, &key);
    if (!v) {
        if (dflt >= 0) {
            *out = dflt;
            return LM_OK;
        }
        char kb[160];
        return err_set(r->err, LM_ERR_FORMAT, "config.json has no %s, which %s needs",
                       keys_of(r, field, kb, sizeof kb),
                       r->fam->model_type ? r->fam->model_type : "every model");
    }
    return read_int(v, key, 1, LM_HFCONFIG_MAX_INT, out, r->err);
}

static lm_status field_bool(const reader *r, const char *field, int dflt, int *out) {
    const char *key;
    const json_t *v = find(r, field, &key);
    *out = dflt;
    return v ? read_bool(v, key, out, r->err) : LM_OK;
}

static lm_status field_str(const reader *r, const char *field, char *buf, size_t cap) {
    const char *key;
    const json_t *v = find(r, field, &key);
    buf[0] = '\0';
    return v ? read_str(v, key, buf, cap, r->err) : LM_OK;
}

/* Numbers of a rope_scaling object: `name` is its key for messages. */
static lm_status rope_num(const json_t *obj, const char *name, const char *key, double *out,
                          lm_error *err) {
    const json_t *v = get(obj, key);
    char k[96];
    snprintf(k, sizeof k, "%s.%s", name, key);
    return v ? read_num(v, k, 0.0, 0, DBL_MAX, out, err) : LM_OK;
}

static lm_status rope_factors(const json_t *obj, const char *name, const char *key,
                              int64_t want, float *out, uint32_t *n, lm_error *err) {
    const json_t *v = get(obj, key);
    char k[96];
    snprintf(k, sizeof k, "%s.%s", name, key);
    if (!v) return err_set(err, LM_ERR_FORMAT, "key '%s' is missing; longrope needs it", k);
    if (!json_is_array(v)) return type_error(err, k, v, "a list of numbers");
    size_t len = json_array_size(v);
    if (len > LM_HFCONFIG_MAX_ROPE_FACTORS)
        return err_set(err, LM_ERR_LIMIT, "key '%s': %zu factors, at most %d supported "
                       "(LM_HFCONFIG_MAX_ROPE_FACTORS)", k, len, LM_HFCONFIG_MAX_ROPE_FACTORS);
    if ((int64_t)len != want)
        return err_set(err, LM_ERR_FORMAT,
                       "key '%s' has %zu factors, expected rotary_dim / 2 = %" PRId64, k, len,
                       want);
    for (size_t i = 0; i < len; i++) {
        char ki[112];
        double x = 0;
        snprintf(ki, sizeof ki, "%s[%zu]", k, i);
        /* Frequencies are divided by these, in float. */
        LM_TRY(read_num(json_array_get(v, i), ki, 0.0, 1, FLT_MAX, &x, err));
        out[i] = (float)x;
    }
    *n = (uint32_t)len;
    return LM_OK;
}

static hfconfig_rope_kind rope_kind(const char *type) {
    static const struct {
        const char *name;
        hfconfig_rope_kind kind;
    } kinds[] = {
        {"default", HFCONFIG_ROPE_NONE},     {"linear", HFCONFIG_ROPE_LINEAR},
        {"dynamic", HFCONFIG_ROPE_DYNAMIC},  {"llama3", HFCONFIG_ROPE_LLAMA3},
        {"longrope", HFCONFIG_ROPE_LONGROPE}, {"su", HFCONFIG_ROPE_LONGROPE},
        {"yarn", HFCONFIG_ROPE_YARN},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].name, type) == 0) return kinds[i].kind;
    return HFCONFIG_ROPE_OTHER;
}

/* rope_scaling (or transformers 5's rope_parameters); needs rotary_dim already known. */
static lm_status read_rope_scaling(const reader *r, hfconfig *c) {
    hfconfig_rope_scaling *rs = &c->rope_scaling;
    const char *name = "rope_scaling";
    const json_t *obj = get(r->root, name);
    if (!obj && json_is_object(get(r->root, "rope_parameters"))) {
        name = "rope_parameters";
        obj = get(r->root, name);
    }
    const json_t *top_orig = get(r->root, "original_max_position_embeddings");
    if (top_orig)
        LM_TRY(read_int(top_orig, "original_max_position_embeddings", 1, LM_HFCONFIG_MAX_INT,
                        &rs->original_max_position_embeddings, r->err));
    if (!obj) return LM_OK;
    if (!json_is_object(obj)) return type_error(r->err, name, obj, "an object or null");

    char k[96];
    const json_t *t = get(obj, "rope_type");
    snprintf(k, sizeof k, "%s.rope_type", name);
    if (!t) {
        t = get(obj, "type");
        snprintf(k, sizeof k, "%s.type", name);
    }
    if (!t) {
        if (strcmp(name, "rope_parameters") == 0) return LM_OK; /* only rope_theta there */
        return err_set(r->err, LM_ERR_FORMAT, "key 'rope_scaling' has no 'rope_type' (or 'type')");
    }
    LM_TRY(read_str(t, k, rs->type, sizeof rs->type, r->err));
    rs->kind = rope_kind(rs->type);

    LM_TRY(rope_num(obj, name, "factor", &rs->factor, r->err));
    LM_TRY(rope_num(obj, name, "low_freq_factor", &rs->low_freq_factor, r->err));
    LM_TRY(rope_num(obj, name, "high_freq_factor", &rs->high_freq_factor, r->err));
    LM_TRY(rope_num(obj, name, "attention_factor", &rs->attention_factor, r->err));
    LM_TRY(rope_num(obj, name, "beta_fast", &rs->beta_fast, r->err));
    LM_TRY(rope_num(obj, name, "beta_slow", &rs->beta_slow, r->err));
    LM_TRY(rope_num(obj, name, "short_mscale", &rs->short_mscale, r->err));
    LM_TRY(rope_num(obj, name, "long_mscale", &rs->long_mscale, r->err));
    const json_t *orig = get(obj, "original_max_position_embeddings");
    snprintf(k, sizeof k, "%s.original_max_position_embeddings", name);
    if (orig)
        LM_TRY(read_int(orig, k, 1, LM_HFCONFIG_MAX_INT, &rs->original_max_position_embeddings,
                        r->err));

    /* What each kind's formula divides by or cannot do without. */
    switch (rs->kind) {
    case HFCONFIG_ROPE_LINEAR:
    case HFCONFIG_ROPE_DYNAMIC:
    case HFCONFIG_ROPE_YARN:
    case HFCONFIG_ROPE_LLAMA3:
        if (!(rs->factor > 0))
            return err_set(r->err, LM_ERR_FORMAT, "key '%s.factor' must be a positive number "
                           "for rope type '%s'", name, rs->type);
        if (rs->kind != HFCONFIG_ROPE_LLAMA3) break;
        if (!(rs->low_freq_factor > 0) || !(rs->high_freq_factor > rs->low_freq_factor))
            return err_set(r->err, LM_ERR_FORMAT,
                           "key '%s': llama3 needs 0 < low_freq_factor < high_freq_factor "
                           "(got %g and %g)", name, rs->low_freq_factor, rs->high_freq_factor);
        if (rs->original_max_position_embeddings == 0)
            return err_set(r->err, LM_ERR_FORMAT, "key '%s': llama3 needs "
                           "original_max_position_embeddings", name);
        break;
    case HFCONFIG_ROPE_LONGROPE:
        LM_TRY(rope_factors(obj, name, "short_factor", c->rotary_dim / 2, rs->short_factor,
                            &rs->n_short_factor, r->err));
        LM_TRY(rope_factors(obj, name, "long_factor", c->rotary_dim / 2, rs->long_factor,
                            &rs->n_long_factor, r->err));
        break;
    default: break;
    }
    return LM_OK;
}

/* Heads, head size and rotary dims, with falcon's multi-query rule. */
static lm_status read_heads(const reader *r, hfconfig *c) {
    char hb[SHOW_MAX + 4];
    LM_TRY(field_size(r, "num_key_value_heads", c->num_attention_heads, &c->num_key_value_heads));
    /* FalconModel: one kv head for multi_query unless new_decoder_architecture. */
    if (r->fam->falcon && c->multi_query && !c->new_decoder_architecture)
        c->num_key_value_heads = 1;
    if (c->num_key_value_heads > c->num_attention_heads ||
        c->num_attention_heads % c->num_key_value_heads != 0)
        return err_set(r->err, LM_ERR_FORMAT,
                       "num_attention_heads %" PRId64 " is not a multiple of num_key_value_heads "
                       "%" PRId64, c->num_attention_heads, c->num_key_value_heads);

    int64_t dflt = r->fam->head_dim;
    if (dflt == 0) {
        if (c->hidden_size % c->num_attention_heads != 0 && !get(r->root, "head_dim"))
            return err_set(r->err, LM_ERR_FORMAT,
                           "hidden_size %" PRId64 " is not a multiple of num_attention_heads "
                           "%" PRId64 " and config.json gives no head_dim", c->hidden_size,
                           c->num_attention_heads);
        dflt = c->hidden_size / c->num_attention_heads;
    }
    LM_TRY(field_size(r, "head_dim", dflt, &c->head_dim));

    const json_t *pr = get(r->root, "partial_rotary_factor");
    c->partial_rotary_factor = r->fam->partial_rotary_factor;
    if (pr) LM_TRY(read_num(pr, "partial_rotary_factor", 0.0, 1, 1.0, &c->partial_rotary_factor,
                            r->err));
    const json_t *rd = json_object_get(r->root, "rotary_dim");
    int gptj = r->fam->model_type && strcmp(r->fam->model_type, "gptj") == 0;
    if (rd && !json_is_null(rd)) {
        LM_TRY(read_int(rd, "rotary_dim", 1, LM_HFCONFIG_MAX_INT, &c->rotary_dim, r->err));
    } else if (gptj) {
        /* GPTJConfig: 64 when absent, the whole head when explicitly null. */
        c->rotary_dim = rd ? c->head_dim : GPTJ_DEFAULT_ROTARY_DIM;
    } else {
        c->rotary_dim = (int64_t)((double)c->head_dim * c->partial_rotary_factor);
    }
    if (c->rotary_dim < 2 || c->rotary_dim > c->head_dim || c->rotary_dim % 2 != 0)
        return err_set(r->err, LM_ERR_FORMAT,
                       "%s: rotary_dim %" PRId64 " must be even and in [2, head_dim %" PRId64 "]",
                       show(c->model_type, hb, sizeof hb), c->rotary_dim, c->head_dim);
    if (rd && !json_is_null(rd)) c->partial_rotary_factor = (double)c->rotary_dim / c->head_dim;
    return LM_OK;
}

static lm_status read_sliding_window(const reader *r, hfconfig *c) {
    int use = r->fam->use_sliding_window;
    const json_t *u = get(r->root, "use_sliding_window");
    if (u) LM_TRY(read_bool(u, "use_sliding_window", &use, r->err));
    const json_t *w = json_object_get(r->root, "sliding_window");
    c->sliding_window = 0;
    if (!use) return LM_OK;
    if (!w) {
        c->sliding_window = r->fam->sliding_window;
        return LM_OK;
    }
    if (json_is_null(w)) return LM_OK;
    return read_int(w, "sliding_window", 0, LM_HFCONFIG_MAX_INT, &c->sliding_window, r->err);
}

static const family *family_of(const char *model_type) {
    size_t i = 0;
    for (; families[i].model_type; i++)
        if (strcmp(families[i].model_type, model_type) == 0) break;
    return &families[i];
}

static lm_status read_config(reader *r, hfconfig *c) {
    lm_error *err = r->err;
    const json_t *root = r->root;
    const json_t *v;
    if (!json_is_object(root)) return type_error(err, "(root)", root, "a JSON object");

    if (!(v = get(root, "model_type")))
        return err_set(err, LM_ERR_FORMAT, "config.json has no 'model_type'");
    LM_TRY(read_str(v, "model_type", c->model_type, sizeof c->model_type, err));
    if (!c->model_type[0]) /* transformers' AutoConfig refuses it too */
        return err_set(err, LM_ERR_FORMAT, "config.json's 'model_type' is empty");
    /* Early Falcon checkpoints; transformers reads them as falcon too. */
    if (strcmp(c->model_type, "RefinedWeb") == 0 || strcmp(c->model_type, "RefinedWebModel") == 0)
        snprintf(c->model_type, sizeof c->model_type, "falcon");
    r->fam = family_of(c->model_type);
    const family *fam = r->fam;

    if ((v = get(root, "architectures"))) {
        if (!json_is_array(v)) return type_error(err, "architectures", v, "a list of strings");
        if (json_array_size(v) > 0)
            LM_TRY(read_str(json_array_get(v, 0), "architectures[0]", c->architecture,
                            sizeof c->architecture, err));
    }
    LM_TRY(field_str(r, "torch_dtype", c->torch_dtype, sizeof c->torch_dtype));
    LM_TRY(field_str(r, "hidden_act", c->hidden_act, sizeof c->hidden_act));

    LM_TRY(field_size(r, "hidden_size", -1, &c->hidden_size));
    LM_TRY(field_size(r, "num_hidden_layers", -1, &c->num_hidden_layers));
    LM_TRY(field_size(r, "num_attention_heads", -1, &c->num_attention_heads));
    LM_TRY(field_size(r, "vocab_size", -1, &c->vocab_size));
    int64_t ffn = fam->ffn_mult ? fam->ffn_mult * c->hidden_size : -1;
    if (ffn > LM_HFCONFIG_MAX_INT) ffn = LM_HFCONFIG_MAX_INT;
    LM_TRY(field_size(r, "intermediate_size", ffn, &c->intermediate_size));
    LM_TRY(field_size(r, "max_position_embeddings", fam->max_position_embeddings,
                      &c->max_position_embeddings));

    LM_TRY(field_bool(r, "multi_query", fam->falcon, &c->multi_query));
    LM_TRY(field_bool(r, "parallel_attn", fam->falcon, &c->parallel_attn));
    LM_TRY(field_bool(r, "new_decoder_architecture", 0, &c->new_decoder_architecture));
    LM_TRY(field_bool(r, "alibi", 0, &c->alibi));
    LM_TRY(field_bool(r, "tie_word_embeddings", fam->tie_word_embeddings,
                      &c->tie_word_embeddings));
    LM_TRY(field_bool(r, "attention_bias", 0, &c->attention_bias));
    LM_TRY(read_heads(r, c));

    const char *key;
    c->norm_eps = fam->norm_eps;
    if ((v = find(r, "norm_eps", &key)))
        LM_TRY(read_num(v, key, 0.0, 1, 1.0, &c->norm_eps, err));
    c->rope_theta = fam->rope_theta;
    const json_t *rp = get(root, "rope_parameters");
    if ((v = get(root, "rope_theta")))
        LM_TRY(read_num(v, "rope_theta", 0.0, 1, DBL_MAX, &c->rope_theta, err));
    else if (json_is_object(rp) && (v = get(rp, "rope_theta")))
        LM_TRY(read_num(v, "rope_parameters.rope_theta", 0.0, 1, DBL_MAX, &c->rope_theta, err));
    LM_TRY(read_rope_scaling(r, c));
    LM_TRY(read_sliding_window(r, c));

    if ((v = get(root, "bos_token_id")))
        LM_TRY(read_int(v, "bos_token_id", 0, LM_HFCONFIG_MAX_INT, &c->bos_token_id, err));
    if ((v = get(root, "eos_token_id")))
        LM_TRY(read_ids(v, "eos_token_id", c->eos_token_ids, &c->n_eos, err));
    return LM_OK;
}

/* Parses JSON text; a syntax error becomes LM_ERR_FORMAT with its position. */
static lm_status load_json(const char *text, size_t len, json_t **out, lm_error *err) {
    json_error_t jerr;
    /* integers beyond int64 read as (very large) reals, never a reason to refuse the file */
    lm_buf wide = {0};
    if (jsonnum_widen(text, len, &wide) > 0 && !wide.oom) {
        *out = json_loadb(wide.data, wide.len, JSON_REJECT_DUPLICATES, &jerr);
    } else {
        *out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    }
    buf_fini(&wide);
    if (*out) return LM_OK;
    lm_status s = err_set(err, LM_ERR_FORMAT, "not valid JSON: %s (line %d, column %d)",
                          jerr.text, jerr.line, jerr.column);
    if (err && err->offset < 0 && jerr.position >= 0) err->offset = jerr.position;
    return s;
}

lm_status hfconfig_parse(const char *text, size_t len, hfconfig *out, lm_error *err) {
    if (!out) return err_set(err, LM_ERR_INVALID, "hfconfig_parse: out is NULL");
    memset(out, 0, sizeof *out);
    out->bos_token_id = -1;
    out->gen.bos_token_id = -1;
    if (!text && len > 0) return err_set(err, LM_ERR_INVALID, "hfconfig_parse: text is NULL");
    if (len > LM_HFCONFIG_MAX_BYTES)
        return err_set(err, LM_ERR_LIMIT, "config of %zu bytes is over the %u-byte limit "
                       "(LM_HFCONFIG_MAX_BYTES)", len, (unsigned)LM_HFCONFIG_MAX_BYTES);
    json_t *root;
    LM_TRY(load_json(text ? text : "", len, &root, err));
    reader r = {root, &families[sizeof families / sizeof families[0] - 1], err};
    lm_status s = read_config(&r, out);
    json_decref(root);
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * generation_config.json
 * ------------------------------------------------------------------------------------------- */

static lm_status read_generation(const json_t *root, hfconfig_generation *g, lm_error *err) {
    const json_t *v;
    if (!json_is_object(root)) return type_error(err, "(root)", root, "a JSON object");
    if ((v = get(root, "bos_token_id")))
        LM_TRY(read_int(v, "bos_token_id", 0, LM_HFCONFIG_MAX_INT, &g->bos_token_id, err));
    if ((v = get(root, "eos_token_id")))
        LM_TRY(read_ids(v, "eos_token_id", g->eos_token_ids, &g->n_eos, err));
    if ((v = get(root, "do_sample"))) {
        LM_TRY(read_bool(v, "do_sample", &g->do_sample, err));
        g->has_do_sample = 1;
    }
    if ((v = get(root, "temperature"))) {
        LM_TRY(read_num(v, "temperature", 0.0, 0, DBL_MAX, &g->temperature, err));
        g->has_temperature = 1;
    }
    if ((v = get(root, "top_p"))) {
        LM_TRY(read_num(v, "top_p", 0.0, 0, 1.0, &g->top_p, err));
        g->has_top_p = 1;
    }
    if ((v = get(root, "top_k"))) {
        LM_TRY(read_int(v, "top_k", 0, LM_HFCONFIG_MAX_INT, &g->top_k, err));
        g->has_top_k = 1;
    }
    if ((v = get(root, "repetition_penalty"))) {
        LM_TRY(read_num(v, "repetition_penalty", 0.0, 1, DBL_MAX, &g->repetition_penalty, err));
        g->has_repetition_penalty = 1;
    }
    if ((v = get(root, "max_new_tokens"))) {
        LM_TRY(read_int(v, "max_new_tokens", 0, LM_HFCONFIG_MAX_INT, &g->max_new_tokens, err));
        g->has_max_new_tokens = 1;
    }
    return LM_OK;
}

lm_status hfconfig_parse_generation(const char *text, size_t len, hfconfig_generation *out,
                                    lm_error *err) {
    if (!out) return err_set(err, LM_ERR_INVALID, "hfconfig_parse_generation: out is NULL");
    memset(out, 0, sizeof *out);
    out->bos_token_id = -1;
    if (!text && len > 0)
        return err_set(err, LM_ERR_INVALID, "hfconfig_parse_generation: text is NULL");
    if (len > LM_HFCONFIG_MAX_BYTES)
        return err_set(err, LM_ERR_LIMIT, "generation config of %zu bytes is over the %u-byte "
                       "limit (LM_HFCONFIG_MAX_BYTES)", len, (unsigned)LM_HFCONFIG_MAX_BYTES);
    json_t *root;
    LM_TRY(load_json(text ? text : "", len, &root, err));
    lm_status s = read_generation(root, out, err);
    json_decref(root);
    if (s == LM_OK) out->present = 1;
    return s;
}

uint32_t hfconfig_eos_ids(const hfconfig *c, const int64_t **ids) {
    if (c->gen.present && c->gen.n_eos > 0) {
        *ids = c->gen.eos_token_ids;
        return c->gen.n_eos;
    }
    *ids = c->eos_token_ids;
    return c->n_eos;
}

/* ---------------------------------------------------------------------------------------------
 * Loading from a folder
 * ------------------------------------------------------------------------------------------- */

/* Maps `path` and runs `parse` on it; messages are prefixed with the path. */
static lm_status load_file(const char *path, lm_status (*parse)(const char *, size_t, void *,
                                                                 lm_error *),
                           void *out, lm_error *err) {
    lm_mapfile map;
    LM_TRY(mapfile_open(&map, path, err));
    lm_error e;
    err_clear(&e);
    lm_status s = parse((const char *)map.data, map.size, out, &e);
    mapfile_close(&map);
    if (s != LM_OK && err && err->code == LM_OK) {
        err_set(err, e.code, "%s: %s", path, e.msg);
        err->offset = e.offset;
    }
    return s;
}

static lm_status parse_config_cb(const char *t, size_t n, void *out, lm_error *err) {
    return hfconfig_parse(t, n, out, err);
}

static lm_status parse_generation_cb(const char *t, size_t n, void *out, lm_error *err) {
    return hfconfig_parse_generation(t, n, out, err);
}

lm_status hfconfig_load(const char *dir, hfconfig *out, lm_error *err) {
    if (!out) return err_set(err, LM_ERR_INVALID, "hfconfig_load: out is NULL");
    char path[PATH_MAX], db[SHOW_MAX + 4];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/config.json", dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return err_set(err, LM_ERR_LIMIT, "path of config.json in folder '%s' is too long",
                       show(dir, db, sizeof db));
    if (stat(path, &st) != 0 && errno == ENOENT)
        return err_set(err, LM_ERR_NOT_FOUND, "'%s' has no config.json", dir);
    LM_TRY(load_file(path, parse_config_cb, out, err));

    n = snprintf(path, sizeof path, "%s/generation_config.json", dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return err_set(err, LM_ERR_LIMIT,
                       "path of generation_config.json in folder '%s' is too long",
                       show(dir, db, sizeof db));
    if (stat(path, &st) != 0 && errno == ENOENT) return LM_OK;
    return load_file(path, parse_generation_cb, &out->gen, err);
}
