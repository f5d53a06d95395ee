/* tok_load_gguf.c — a tokenizer from the vocabulary embedded in a GGUF file.
 *
 * Keys read (as llama.cpp's converter writes them):
 *   tokenizer.ggml.model         "llama": SentencePiece-style, merges driven by token scores;
 *                                "gpt2": byte-level BPE with a merge list
 *   tokenizer.ggml.pre           (gpt2) which pre-tokenizer regex: "llama3"/"llama-bpe",
 *                                "qwen2", "default"/"gpt-2" and a few aliases
 *   tokenizer.ggml.merges        (gpt2) "a b" strings, best first
 *   tokenizer.ggml.tokens        string per id
 *   tokenizer.ggml.scores        float32 per id (optional, default 0)
 *   tokenizer.ggml.token_type    int32 per id: 1 normal, 2 unknown, 3 control, 4 user-defined,
 *                                5 unused, 6 byte (optional, default normal)
 *   tokenizer.ggml.{bos,eos,unknown}_token_id, add_bos_token, add_eos_token, add_space_prefix
 *
 * The vocabulary becomes the same pipeline the model's tokenizer.json describes. For "llama":
 * control, unknown and user-defined tokens are matched in the text first, each stretch of text
 * between them gets a leading "▁" and its spaces written as "▁", and the decoder undoes that. For
 * "gpt2": the regex split, byte-level BPE and the byte-level decoder of Llama 3 / Qwen2 / GPT-2. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "tokenizer/tok_impl.h"

static const char META_SPACE[] = "\xE2\x96\x81"; /* U+2581 "▁" */

/* Token texts that end a turn or a document, beside the declared EOS (llama.cpp's list). */
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
    "<EOT>", "<|end_of_text|>", "<|return|>", "<|call|>", "<eos>", "</s>",
};

/* Pre-tokenizer regexes by tokenizer.ggml.pre (the patterns of the models' tokenizer.json). */
static const char RE_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char RE_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const struct {
    const char *name;
    const char *regex;
    int ignore_merges, nfc, add_bos;
} PRE_TYPES[] = {
    {"default", RE_GPT2, 0, 0, 0},
    {"gpt-2", RE_GPT2, 0, 0, 0},
    {"phi-2", RE_GPT2, 0, 0, 0},
    {"llama3", RE_LLAMA3, 1, 0, 1},
    {"llama-v3", RE_LLAMA3, 1, 0, 1},
    {"llama-bpe", RE_LLAMA3, 1, 0, 1},
    {"smaug-bpe", RE_LLAMA3, 1, 0, 1},
    {"qwen2", RE_QWEN2, 0, 1, 0},
    {"deepseek-r1-qwen", RE_QWEN2, 0, 1, 0},
};

static char *dup_bytes(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Reads an optional token id. Ids outside the vocabulary (such as 0xFFFFFFFF or -1 for "none")
 * keep the default, as llama.cpp does. */
static void get_id(const gguf_file *f, const char *key, int32_t n_vocab, int32_t *id) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return;
    const gguf_value *v = &kv->value;
    switch (v->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        if (v->v.u64 < (uint64_t)n_vocab) *id = (int32_t)v->v.u64;
        break;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
        if (v->v.i64 >= 0 && v->v.i64 < n_vocab) *id = (int32_t)v->v.i64;
        break;
    default:
        break;
    }
}

/* Reads an optional boolean (an integer is accepted: nonzero is true). */
static void get_flag(const gguf_file *f, const char *key, int *flag) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return;
    const gguf_value *v = &kv->value;
    switch (v->type) {
    case GGUF_TYPE_BOOL: case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64:
        *flag = v->v.u64 != 0;
        break;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
        *flag = v->v.i64 != 0;
        break;
    default:
        break;
    }
}

static lm_status push_simple_step(tok_step **arr, size_t *n, int kind, const char *a, size_t al,
                                  const char *b, size_t bl, int num, int num2, lm_error *err) {
    tok_step s = {.kind = kind, .num = num, .num2 = num2};
    if (a && !(s.str = dup_bytes(a, al))) goto oom;
    s.str_len = al;
    if (b && !(s.str2 = dup_bytes(b, bl))) goto oom;
    s.str2_len = bl;
    if (tok_push_step(arr, n, &s, err) == LM_OK) return LM_OK;
oom:
    tok_step_fini(&s);
    return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory");
}

/* tokens, scores and types into t->pieces / t->text / t->vocab */
static lm_status read_vocab(const gguf_file *f, tok_tokenizer *t, lm_error *err) {
    gguf_value toks, scores, types;
    lm_status ts = gguf_get_array(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &toks, err);
    if (ts == LM_ERR_NOT_FOUND) /* the getter leaves err empty for a missing key */
        return err_set(err, LM_ERR_FORMAT, "GGUF file has a tokenizer but no tokenizer.ggml.tokens");
    if (ts != LM_OK) return ts;
    if (toks.v.arr.n == 0 || toks.v.arr.n > LM_TOK_MAX_VOCAB)
        return err_set(err, LM_ERR_LIMIT, "tokenizer.ggml.tokens: %llu tokens, expected 1..%d",
                       (unsigned long long)toks.v.arr.n, LM_TOK_MAX_VOCAB);
    int32_t n = (int32_t)toks.v.arr.n;
    int have_scores = 0, have_types = 0;
    lm_status s = gguf_get_array(f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, &scores, err);
    if (s == LM_OK) have_scores = 1;
    else if (s != LM_ERR_NOT_FOUND) return s;
    s = gguf_get_array(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &types, err);
    if (s == LM_OK) have_types = 1;
    else if (s != LM_ERR_NOT_FOUND) return s;
    if (have_scores && scores.v.arr.n != (uint64_t)n)
        return err_set(err, LM_ERR_FORMAT, "tokenizer.ggml.scores: %llu values for %d tokens",
                       (unsigned long long)scores.v.arr.n, n);
    if (have_types && types.v.arr.n != (uint64_t)n)
        return err_set(err, LM_ERR_FORMAT, "tokenizer.ggml.token_type: %llu values for %d tokens",
                       (unsigned long long)types.v.arr.n, n);

    t->pieces = calloc((size_t)n, sizeof *t->pieces);
    if (!t->pieces) return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory");
    t->n_vocab = n;
    lm_buf text = {0};
    gguf_array_iter it = gguf_array_begin(&toks);
    gguf_value v;
    for (int32_t i = 0; i < n && gguf_array_next(&it, &v); i++) {
        if (v.v.str.len > UINT32_MAX / 4 || text.len > UINT32_MAX / 2) {
            buf_fini(&text);
            return err_set(err, LM_ERR_LIMIT, "tokenizer.ggml.tokens: token %d too long", i);
        }
        t->pieces[i].off = (uint32_t)text.len;
        t->pieces[i].len = (uint32_t)v.v.str.len;
        t->pieces[i].type = TOK_TYPE_NORMAL;
        buf_append(&text, v.v.str.ptr, v.v.str.len);
    }
    if (text.oom) {
        buf_fini(&text);
        return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory");
    }
    t->text = text.data ? text.data : calloc(1, 1);
    t->text_len = text.len;
    if (!t->text) return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory");
    if (have_scores) {
        it = gguf_array_begin(&scores);
        for (int32_t i = 0; i < n && gguf_array_next(&it, &v); i++)
            t->pieces[i].score = (float)v.v.f64;
    }
    if (have_types) {
        it = gguf_array_begin(&types);
        for (int32_t i = 0; i < n && gguf_array_next(&it, &v); i++) {
            int64_t ty = v.v.i64;
            t->pieces[i].type = ty >= 0 && ty <= TOK_TYPE_BYTE ? (uint8_t)ty : TOK_TYPE_NORMAL;
        }
    }
    for (int32_t i = 0; i < n; i++) {
        /* a text listed twice resolves to its last id, as llama.cpp's map does */
        if (tok_map_put(&t->vocab, t->text + t->pieces[i].off, t->pieces[i].len, i) != LM_OK)
            return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory");
    }
    return LM_OK;
}

/* Which tokens are matched in text and which are special, from their GGUF types. */
static void mark_added(const gguf_file *f, tok_tokenizer *t) {
    for (int32_t i = 0; i < t->n_vocab; i++) {
        tok_piece *p = &t->pieces[i];
        if (p->type == TOK_TYPE_CONTROL || p->type == TOK_TYPE_UNKNOWN)
            p->flags |= TOK_F_ADDED | TOK_F_SPECIAL;
        else if (p->type == TOK_TYPE_USER_DEFINED)
            p->flags |= TOK_F_ADDED;
        if (!(p->flags & TOK_F_ADDED)) continue;
        for (size_t k = 0; k < sizeof EOG_TEXTS / sizeof EOG_TEXTS[0]; k++)
            if (p->len == strlen(EOG_TEXTS[k]) && memcmp(t->text + p->off, EOG_TEXTS[k], p->len) == 0)
                p->flags |= TOK_F_EOG;
    }
    /* Phi-3's chat tokens swallow the whitespace after them (rstrip in its tokenizer.json); GGUF
     * has no field for that, so llama.cpp recognizes the model by name, and so do we. */
    gguf_str name;
    lm_error ignore;
    err_clear(&ignore);
    if (gguf_get_str(f, "general.name", &name, &ignore) != LM_OK) return;
    char lower[256];
    size_t ln = name.len < sizeof lower - 1 ? (size_t)name.len : sizeof lower - 1;
    for (size_t i = 0; i < ln; i++) lower[i] = (char)tolower((unsigned char)name.ptr[i]);
    lower[ln] = '\0';
    if (!strstr(lower, "phi3") && !strstr(lower, "phi-3")) return;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        tok_piece *p = &t->pieces[i];
        if (!(p->flags & TOK_F_ADDED)) continue;
        const char *s = t->text + p->off;
        int keep = (p->len == 5 && memcmp(s, "<unk>", 5) == 0) ||
                   (p->len == 3 && memcmp(s, "<s>", 3) == 0) ||
                   (p->len == 13 && memcmp(s, "<|endoftext|>", 13) == 0);
        if (!keep) p->flags |= TOK_F_RSTRIP;
    }
}

/* BOS/EOS around the ids when add_special, as the add_*_token flags say. */
static lm_status set_post(tok_tokenizer *t, int add_bos, int add_eos, lm_error *err) {
    if (add_bos && t->bos_id >= 0) {
        if (!(t->post_prefix = malloc(sizeof *t->post_prefix)))
            return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory");
        t->post_prefix[0] = t->bos_id;
        t->n_post_prefix = 1;
    }
    if (add_eos && t->eos_id >= 0) {
        if (!(t->post_suffix = malloc(sizeof *t->post_suffix)))
            return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory");
        t->post_suffix[0] = t->eos_id;
        t->n_post_suffix = 1;
    }
    return LM_OK;
}

static lm_status load_llama(const gguf_file *f, tok_tokenizer *t, lm_error *err) {
    t->model = TOK_MODEL_SPM;
    t->bos_id = t->n_vocab > 1 ? 1 : -1;
    t->eos_id = t->n_vocab > 2 ? 2 : -1;
    t->unk_id = 0;
    int add_bos = 1, add_eos = 0, add_space_prefix = 1;
    get_id(f, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos_id);
    get_id(f, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos_id);
    get_id(f, "tokenizer.ggml.unknown_token_id", t->n_vocab, &t->unk_id);
    get_flag(f, "tokenizer.ggml.add_bos_token", &add_bos);
    get_flag(f, "tokenizer.ggml.add_eos_token", &add_eos);
    get_flag(f, "tokenizer.ggml.add_space_prefix", &add_space_prefix);
    t->byte_fallback = 1;

    if (add_space_prefix)
        LM_TRY(push_simple_step(&t->norm, &t->n_norm, TOK_NORM_PREPEND, META_SPACE, 3, NULL, 0, 0,
                                0, err));
    LM_TRY(push_simple_step(&t->norm, &t->n_norm, TOK_NORM_REPLACE, " ", 1, META_SPACE, 3, 0, 0,
                            err));
    LM_TRY(push_simple_step(&t->dec, &t->n_dec, TOK_DEC_REPLACE, META_SPACE, 3, " ", 1, 0, 0, err));
    LM_TRY(push_simple_step(&t->dec, &t->n_dec, TOK_DEC_BYTEFALLBACK, NULL, 0, NULL, 0, 0, 0, err));
    LM_TRY(push_simple_step(&t->dec, &t->n_dec, TOK_DEC_FUSE, NULL, 0, NULL, 0, 0, 0, err));
    if (add_space_prefix)
        LM_TRY(push_simple_step(&t->dec, &t->n_dec, TOK_DEC_STRIP, " ", 1, NULL, 0, 1, 0, err));

    return set_post(t, add_bos, add_eos, err);
}

/* The merge list into t->merges: entry i is "a b" with rank i. */
static lm_status read_merges(const gguf_file *f, tok_tokenizer *t, lm_error *err) {
    gguf_value merges;
    lm_status ms = gguf_get_array(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &merges, err);
    if (ms == LM_ERR_NOT_FOUND)
        return err_set(err, LM_ERR_FORMAT, "GGUF file has a byte-level BPE tokenizer but no tokenizer.ggml.merges");
    if (ms != LM_OK) return ms;
    gguf_array_iter it = gguf_array_begin(&merges);
    gguf_value v;
    lm_buf joined = {0};
    for (uint64_t i = 0; gguf_array_next(&it, &v); i++) {
        const char *s = v.v.str.ptr;
        size_t n = (size_t)v.v.str.len;
        const char *sp = memchr(s, ' ', n);
        if (!sp) {
            buf_fini(&joined);
            return err_set(err, LM_ERR_FORMAT, "tokenizer.ggml.merges[%llu]: no space in '%.*s'",
                           (unsigned long long)i, (int)(n > 64 ? 64 : n), s);
        }
        size_t al = (size_t)(sp - s), bl = n - al - 1;
        int32_t a = tok_map_get(&t->vocab, s, al), b = tok_map_get(&t->vocab, sp + 1, bl);
        buf_reset(&joined);
        buf_append(&joined, s, al);
        buf_append(&joined, sp + 1, bl);
        int32_t m = joined.oom ? -1 : tok_map_get(&t->vocab, joined.data, joined.len);
        if (a < 0 || b < 0 || m < 0 || i > INT32_MAX) continue; /* can never apply */
        if (tok_pairmap_put(&t->merges, a, b, (int32_t)i, m) != LM_OK) {
            buf_fini(&joined);
            return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory");
        }
    }
    buf_fini(&joined);
    return LM_OK;
}

static lm_status load_gpt2(const gguf_file *f, tok_tokenizer *t, lm_error *err) {
    t->model = TOK_MODEL_BPE;
    t->byte_level = 1;
    gguf_str pre = {"default", 7};
    lm_error ignore;
    err_clear(&ignore);
    gguf_get_str(f, "tokenizer.ggml.pre", &pre, &ignore);
    size_t k = 0, n_types = sizeof PRE_TYPES / sizeof PRE_TYPES[0];
    while (k < n_types && !gguf_str_eq(pre, PRE_TYPES[k].name)) k++;
    if (k == n_types) {
        log_warn("tokenizer.ggml.pre '%.*s' is not known: using GPT-2's pre-tokenizer",
                 (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
        k = 0;
    }
    t->ignore_merges = PRE_TYPES[k].ignore_merges;
    int add_bos = PRE_TYPES[k].add_bos, add_eos = 0;
    get_id(f, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos_id);
    get_id(f, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos_id);
    get_id(f, "tokenizer.ggml.unknown_token_id", t->n_vocab, &t->unk_id);
    get_flag(f, "tokenizer.ggml.add_bos_token", &add_bos);
    get_flag(f, "tokenizer.ggml.add_eos_token", &add_eos);
    LM_TRY(read_merges(f, t, err));

    if (PRE_TYPES[k].nfc)
        LM_TRY(push_simple_step(&t->norm, &t->n_norm, TOK_NORM_NFC, NULL, 0, NULL, 0, 0, 0, err));
    tok_step split = {.kind = TOK_PRE_SPLIT, .behavior = TOK_SPLIT_ISOLATED};
    LM_TRY(tok_regex_compile(PRE_TYPES[k].regex, strlen(PRE_TYPES[k].regex), &split.re, err));
    if (tok_push_step(&t->pre, &t->n_pre, &split, err) != LM_OK) {
        tok_step_fini(&split);
        return LM_ERR_NOMEM;
    }
    LM_TRY(push_simple_step(&t->pre, &t->n_pre, TOK_PRE_BYTELEVEL, NULL, 0, NULL, 0, 0, 0, err));
    LM_TRY(push_simple_step(&t->dec, &t->n_dec, TOK_DEC_BYTELEVEL, NULL, 0, NULL, 0, 0, 0, err));
    return set_post(t, add_bos, add_eos, err);
}

lm_status tok_load_gguf(const gguf_file *f, tok_tokenizer **out, lm_error *err) {
    *out = NULL;
    gguf_str model;
    lm_status s = gguf_get_str(f, "tokenizer.ggml.model", &model, err);
    if (s == LM_ERR_NOT_FOUND)
        return err_set(err, LM_ERR_NOT_FOUND, "GGUF file has no tokenizer (tokenizer.ggml.model)");
    if (s != LM_OK) return s;
    int is_llama = gguf_str_eq(model, "llama"), is_gpt2 = gguf_str_eq(model, "gpt2");
    if (!is_llama && !is_gpt2)
        return err_set(err, LM_ERR_UNSUPPORTED, "tokenizer.ggml.model '%.*s' is not supported",
                       (int)(model.len > 64 ? 64 : model.len), model.ptr);

    tok_tokenizer *t = tok_alloc();
    if (!t) return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory");
    s = read_vocab(f, t, err);
    if (s == LM_OK) {
        mark_added(f, t);
        s = is_llama ? load_llama(f, t, err) : load_gpt2(f, t, err);
    }
    if (s == LM_OK) {
        if (t->eos_id >= 0) t->pieces[t->eos_id].flags |= TOK_F_EOG;
        tok_build_byte_tables(t);
        tok_build_chunking(t);
        s = tok_build_added(t, err);
    }
    if (s != LM_OK) {
        tok_destroy(t);
        return s;
    }
    *out = t;
    return LM_OK;
}
