/* tok_load_hf.c — a tokenizer from a Hugging Face model folder.
 *
 * tokenizer.json (or tokenizer.json.gz) describes the whole pipeline:
 *   model           {"type": "BPE", "vocab": {token: id}, "merges": ["a b" | ["a", "b"]], unk_token,
 *                    byte_fallback, fuse_unk, ignore_merges, continuing_subword_prefix, ...}
 *   added_tokens    [{id, content, special, lstrip, rstrip, single_word, normalized}]
 *   normalizer      null | {"type": ...} (Sequence, NFC, NFKC, Prepend, Replace, Lowercase, ...)
 *   pre_tokenizer   null | {"type": ...} (Sequence, Split, ByteLevel, Metaspace, Digits, ...)
 *   post_processor  null | TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, Sequence
 *   decoder         null | ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence, ...
 * tokenizer_config.json and special_tokens_map.json name the BOS/EOS tokens;
 * generation_config.json lists the ids that end generation. Each is optional. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/log.h"
#include "tokenizer/tok_impl.h"


/* Nesting of Sequence steps in tokenizer.json. Real files use 1. */
#define MAX_STEP_DEPTH 8

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char WHITESPACE_PATTERN[] = "\\w+|[^\\w\\s]+";

/* Token texts that end a turn or a document (besides EOS), as llama.cpp recognizes them. */
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
    "<EOT>", "<|end_of_text|>", "<|return|>", "<|call|>", "<eos>", "</s>",
};

typedef struct {
    tok_tokenizer *t;
    const char *file;   /* for messages */
    lm_error *err;
} load_ctx;

/* ---------------------------------------------------------------- files */

/* Reads a whole file, gunzipping if it is gzip (zlib reads plain files unchanged). */
static lm_status read_file(const char *path, lm_buf *out, lm_error *err) {
    gzFile f = gzopen(path, "rb");
    if (!f) return err_set(err, LM_ERR_IO, "%s: cannot open", path);
    char chunk[1 << 16];
    int n;
    while ((n = gzread(f, chunk, sizeof chunk)) > 0) {
        if (out->len + (size_t)n > LM_TOK_MAX_JSON_BYTES) {
            gzclose(f);
            return err_set(err, LM_ERR_LIMIT, "%s: larger than %u bytes", path,
                           (unsigned)LM_TOK_MAX_JSON_BYTES);
        }
        buf_append(out, chunk, (size_t)n);
    }
    int bad = n < 0;
    gzclose(f);
    if (bad) return err_set(err, LM_ERR_IO, "%s: read error", path);
    if (out->oom) return err_set(err, LM_ERR_NOMEM, "%s: out of memory", path);
    return LM_OK;
}

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    return 1;
}

/* Parses an optional JSON file of the folder; NULL when absent (or unreadable as JSON, which is
 * logged: the companions of tokenizer.json are hints, not requirements). */
static json_t *load_optional_json(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!file_exists(path)) return NULL;
    json_error_t je;
    /* integers as reals: configs hold values like model_max_length = 1e30 that overflow int64 */
    json_t *j = json_load_file(path, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
    if (!j) log_warn("%s: ignored, not JSON (line %d: %s)", path, je.line, je.text);
    return j;
}

/* ---------------------------------------------------------------- JSON helpers */

static const char *jstr(json_t *o, const char *key, size_t *len) {
    json_t *v = o ? json_object_get(o, key) : NULL;
    if (!json_is_string(v)) return NULL;
    if (len) *len = json_string_length(v);
    return json_string_value(v);
}

static int jbool(json_t *o, const char *key, int dflt) {
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static char *dup_bytes(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* A pattern object {"String": s} or {"Regex": r}: fills the step's literal or compiled regex. */
static lm_status read_pattern(load_ctx *c, json_t *pat, tok_step *s, int *is_regex) {
    size_t n = 0;
    const char *v;
    if ((v = jstr(pat, "String", &n))) {
        *is_regex = 0;
        if (!(s->str = dup_bytes(v, n))) return err_set(c->err, LM_ERR_NOMEM, "out of memory");
        s->str_len = n;
        return LM_OK;
    }
    if ((v = jstr(pat, "Regex", &n))) {
        *is_regex = 1;
        return tok_regex_compile(v, n, &s->re, c->err);
    }
    return err_set(c->err, LM_ERR_FORMAT, "%s: pattern must be {\"String\": ..} or {\"Regex\": ..}",
                   c->file);
}

static lm_status set_str2(load_ctx *c, tok_step *s, const char *v, size_t n) {
    if (!(s->str2 = dup_bytes(v ? v : "", v ? n : 0)))
        return err_set(c->err, LM_ERR_NOMEM, "out of memory");
    s->str2_len = v ? n : 0;
    return LM_OK;
}

static lm_status set_str(load_ctx *c, tok_step *s, const char *v, size_t n) {
    if (!(s->str = dup_bytes(v ? v : "", v ? n : 0)))
        return err_set(c->err, LM_ERR_NOMEM, "out of memory");
    s->str_len = v ? n : 0;
    return LM_OK;
}

static int parse_behavior(const char *b) {
    if (!b) return TOK_SPLIT_ISOLATED;
    if (!strcmp(b, "Removed")) return TOK_SPLIT_REMOVED;
    if (!strcmp(b, "MergedWithPrevious")) return TOK_SPLIT_MERGED_PREV;
    if (!strcmp(b, "MergedWithNext")) return TOK_SPLIT_MERGED_NEXT;
    if (!strcmp(b, "Contiguous")) return TOK_SPLIT_CONTIGUOUS;
    if (!strcmp(b, "Isolated")) return TOK_SPLIT_ISOLATED;
    return -1;
}

/* Metaspace's prepend scheme, from "prepend_scheme" or the older "add_prefix_space". */
static int parse_prepend(json_t *o) {
    const char *p = jstr(o, "prepend_scheme", NULL);
    if (p) return !strcmp(p, "first") ? TOK_PREPEND_FIRST
                 : !strcmp(p, "never") ? TOK_PREPEND_NEVER : TOK_PREPEND_ALWAYS;
    return jbool(o, "add_prefix_space", 1) ? TOK_PREPEND_ALWAYS : TOK_PREPEND_NEVER;
}

/* ---------------------------------------------------------------- normalizer */

static lm_status read_normalizer(load_ctx *c, json_t *o, int depth) {
    if (!o || json_is_null(o)) return LM_OK;
    const char *type = jstr(o, "type", NULL);
    if (!type || depth > MAX_STEP_DEPTH)
        return err_set(c->err, LM_ERR_FORMAT, "%s: normalizer without a type (or nested too deep)",
                       c->file);
    tok_tokenizer *t = c->t;
    if (!strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(o, "normalizers"), *v;
        size_t i;
        json_array_foreach(arr, i, v) LM_TRY(read_normalizer(c, v, depth + 1));
        return LM_OK;
    }
    tok_step s = {0};
    lm_status st = LM_OK;
    size_t n = 0;
    const char *v;
    if (!strcmp(type, "NFC")) s.kind = TOK_NORM_NFC;
    else if (!strcmp(type, "NFD")) s.kind = TOK_NORM_NFD;
    else if (!strcmp(type, "NFKC")) s.kind = TOK_NORM_NFKC;
    else if (!strcmp(type, "NFKD")) s.kind = TOK_NORM_NFKD;
    else if (!strcmp(type, "Lowercase")) s.kind = TOK_NORM_LOWERCASE;
    else if (!strcmp(type, "StripAccents")) s.kind = TOK_NORM_STRIP_ACCENTS;
    else if (!strcmp(type, "Strip")) {
        s.kind = TOK_NORM_STRIP;
        s.flag_a = (uint8_t)jbool(o, "strip_left", 1);
        s.flag_b = (uint8_t)jbool(o, "strip_right", 1);
    } else if (!strcmp(type, "Prepend")) {
        s.kind = TOK_NORM_PREPEND;
        v = jstr(o, "prepend", &n);
        st = set_str(c, &s, v, n);
    } else if (!strcmp(type, "Replace")) {
        int re = 0;
        st = read_pattern(c, json_object_get(o, "pattern"), &s, &re);
        s.kind = re ? TOK_NORM_REPLACE_RE : TOK_NORM_REPLACE;
        v = jstr(o, "content", &n);
        if (st == LM_OK) st = set_str2(c, &s, v, n);
    } else if (!strcmp(type, "BertNormalizer")) {
        s.kind = TOK_NORM_BERT;
        s.flag_a = (uint8_t)jbool(o, "clean_text", 1);
        s.flag_b = (uint8_t)jbool(o, "handle_chinese_chars", 1);
        s.flag_d = (uint8_t)jbool(o, "lowercase", 1);
        s.flag_c = (uint8_t)jbool(o, "strip_accents", s.flag_d); /* null follows lowercase */
    } else if (!strcmp(type, "Precompiled")) {
        /* SentencePiece's compiled normalization table: NFKC is its close approximation */
        log_warn("%s: Precompiled normalizer approximated by NFKC", c->file);
        s.kind = TOK_NORM_NFKC;
    } else {
        return err_set(c->err, LM_ERR_UNSUPPORTED, "%s: normalizer '%s' is not supported", c->file,
                       type);
    }
    if (st == LM_OK) st = tok_push_step(&t->norm, &t->n_norm, &s, c->err);
    if (st != LM_OK) tok_step_fini(&s);
    return st;
}

/* ---------------------------------------------------------------- pre-tokenizer */

static lm_status read_pretok(load_ctx *c, json_t *o, int depth) {
    if (!o || json_is_null(o)) return LM_OK;
    const char *type = jstr(o, "type", NULL);
    if (!type || depth > MAX_STEP_DEPTH)
        return err_set(c->err, LM_ERR_FORMAT,
                       "%s: pre_tokenizer without a type (or nested too deep)", c->file);
    tok_tokenizer *t = c->t;
    if (!strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(o, "pretokenizers"), *v;
        size_t i;
        json_array_foreach(arr, i, v) LM_TRY(read_pretok(c, v, depth + 1));
        return LM_OK;
    }
    tok_step s = {0};
    lm_status st = LM_OK;
    size_t n = 0;
    const char *v;
    if (!strcmp(type, "Split")) {
        s.kind = TOK_PRE_SPLIT;
        int re = 0;
        st = read_pattern(c, json_object_get(o, "pattern"), &s, &re);
        s.behavior = parse_behavior(jstr(o, "behavior", NULL));
        s.flag_a = (uint8_t)jbool(o, "invert", 0);
        if (st == LM_OK && s.behavior < 0)
            st = err_set(c->err, LM_ERR_UNSUPPORTED, "%s: Split behavior '%s' is not supported",
                         c->file, jstr(o, "behavior", NULL));
    } else if (!strcmp(type, "ByteLevel")) {
        s.kind = TOK_PRE_BYTELEVEL;
        s.flag_a = (uint8_t)jbool(o, "add_prefix_space", 1);
        s.flag_b = (uint8_t)jbool(o, "use_regex", 1);
        if (s.flag_b) st = tok_regex_compile(GPT2_PATTERN, sizeof GPT2_PATTERN - 1, &s.re, c->err);
    } else if (!strcmp(type, "Metaspace")) {
        s.kind = TOK_PRE_METASPACE;
        v = jstr(o, "replacement", &n);
        st = set_str(c, &s, v ? v : "\xE2\x96\x81", v ? n : 3);
        s.num = parse_prepend(o);
        s.flag_a = (uint8_t)jbool(o, "split", 1);
    } else if (!strcmp(type, "Digits")) {
        s.kind = TOK_PRE_DIGITS;
        s.flag_a = (uint8_t)jbool(o, "individual_digits", 0);
    } else if (!strcmp(type, "Punctuation")) {
        s.kind = TOK_PRE_PUNCTUATION;
        s.behavior = parse_behavior(jstr(o, "behavior", NULL));
        if (s.behavior < 0) s.behavior = TOK_SPLIT_ISOLATED;
    } else if (!strcmp(type, "Whitespace")) {
        s.kind = TOK_PRE_WHITESPACE;
        st = tok_regex_compile(WHITESPACE_PATTERN, sizeof WHITESPACE_PATTERN - 1, &s.re, c->err);
    } else if (!strcmp(type, "WhitespaceSplit")) {
        s.kind = TOK_PRE_WHITESPACE_SPLIT;
    } else if (!strcmp(type, "BertPreTokenizer")) {
        s.kind = TOK_PRE_BERT;
    } else if (!strcmp(type, "CharDelimiterSplit")) {
        s.kind = TOK_PRE_CHAR_DELIMITER;
        v = jstr(o, "delimiter", &n);
        st = set_str(c, &s, v, n);
    } else {
        return err_set(c->err, LM_ERR_UNSUPPORTED, "%s: pre_tokenizer '%s' is not supported",
                       c->file, type);
    }
    if (st == LM_OK) st = tok_push_step(&t->pre, &t->n_pre, &s, c->err);
    if (st != LM_OK) tok_step_fini(&s);
    return st;
}

/* ---------------------------------------------------------------- decoder */

static lm_status read_decoder(load_ctx *c, json_t *o, int depth) {
    if (!o || json_is_null(o)) return LM_OK;
    const char *type = jstr(o, "type", NULL);
    if (!type || depth > MAX_STEP_DEPTH)
        return err_set(c->err, LM_ERR_FORMAT, "%s: decoder without a type (or nested too deep)",
                       c->file);
    tok_tokenizer *t = c->t;
    if (!strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(o, "decoders"), *v;
        size_t i;
        json_array_foreach(arr, i, v) LM_TRY(read_decoder(c, v, depth + 1));
        return LM_OK;
    }
    tok_step s = {0};
    lm_status st = LM_OK;
    size_t n = 0;
    const char *v;
    if (!strcmp(type, "ByteLevel")) s.kind = TOK_DEC_BYTELEVEL;
    else if (!strcmp(type, "ByteFallback")) s.kind = TOK_DEC_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse")) s.kind = TOK_DEC_FUSE;
    else if (!strcmp(type, "Metaspace")) {
        s.kind = TOK_DEC_METASPACE;
        v = jstr(o, "replacement", &n);
        st = set_str(c, &s, v ? v : "\xE2\x96\x81", v ? n : 3);
        s.num = parse_prepend(o);
    } else if (!strcmp(type, "Strip")) {
        s.kind = TOK_DEC_STRIP;
        v = jstr(o, "content", &n);
        st = set_str(c, &s, v ? v : " ", v ? n : 1);
        json_t *a = json_object_get(o, "start"), *b = json_object_get(o, "stop");
        s.num = json_is_integer(a) ? (int)json_integer_value(a) : 0;
        s.num2 = json_is_integer(b) ? (int)json_integer_value(b) : 0;
    } else if (!strcmp(type, "Replace")) {
        int re = 0;
        st = read_pattern(c, json_object_get(o, "pattern"), &s, &re);
        s.kind = re ? TOK_DEC_REPLACE_RE : TOK_DEC_REPLACE;
        v = jstr(o, "content", &n);
        if (st == LM_OK) st = set_str2(c, &s, v, n);
    } else if (!strcmp(type, "WordPiece")) {
        s.kind = TOK_DEC_WORDPIECE;
        v = jstr(o, "prefix", &n);
        st = set_str(c, &s, v ? v : "##", v ? n : 2);
        s.flag_a = (uint8_t)jbool(o, "cleanup", 1);
    } else if (!strcmp(type, "BPEDecoder")) {
        s.kind = TOK_DEC_BPE;
        v = jstr(o, "suffix", &n);
        st = set_str(c, &s, v ? v : "</w>", v ? n : 4);
    } else {
        return err_set(c->err, LM_ERR_UNSUPPORTED, "%s: decoder '%s' is not supported", c->file,
                       type);
    }
    if (st == LM_OK) st = tok_push_step(&t->dec, &t->n_dec, &s, c->err);
    if (st != LM_OK) tok_step_fini(&s);
    return st;
}

/* ---------------------------------------------------------------- post-processor */

static lm_status push_ids(int32_t **arr, size_t *n, const int32_t *ids, size_t k, int front) {
    int32_t *p = realloc(*arr, (*n + k + 1) * sizeof *p);
    if (!p) return LM_ERR_NOMEM;
    if (front) {
        memmove(p + k, p, *n * sizeof *p);
        memcpy(p, ids, k * sizeof *p);
    } else {
        memcpy(p + *n, ids, k * sizeof *p);
    }
    *arr = p;
    *n += k;
    return LM_OK;
}

/* Adds the ids a processor puts around a single sequence. Each later processor of a Sequence
 * wraps the earlier result: its prefix goes in front, its suffix behind. */
static lm_status read_post(load_ctx *c, json_t *o, int depth) {
    if (!o || json_is_null(o)) return LM_OK;
    const char *type = jstr(o, "type", NULL);
    if (!type || depth > MAX_STEP_DEPTH)
        return err_set(c->err, LM_ERR_FORMAT,
                       "%s: post_processor without a type (or nested too deep)", c->file);
    tok_tokenizer *t = c->t;
    if (!strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(o, "processors"), *v;
        size_t i;
        json_array_foreach(arr, i, v) LM_TRY(read_post(c, v, depth + 1));
        return LM_OK;
    }
    if (!strcmp(type, "ByteLevel")) return LM_OK; /* offsets only */
    int32_t pre[64], suf[64];
    size_t npre = 0, nsuf = 0;
    if (!strcmp(type, "TemplateProcessing")) {
        json_t *single = json_object_get(o, "single"), *specials = json_object_get(o, "special_tokens");
        json_t *item;
        size_t i;
        int after = 0;
        json_array_foreach(single, i, item) {
            if (json_object_get(item, "Sequence")) {
                after = 1;
                continue;
            }
            json_t *sp = json_object_get(item, "SpecialToken");
            const char *name = jstr(sp, "id", NULL);
            json_t *def = name ? json_object_get(specials, name) : NULL;
            json_t *ids = json_object_get(def, "ids"), *idv;
            if (!json_is_array(ids))
                return err_set(c->err, LM_ERR_FORMAT, "%s: TemplateProcessing: special token '%s' "
                               "has no ids", c->file, name ? name : "?");
            size_t k;
            json_array_foreach(ids, k, idv) {
                json_int_t id = json_integer_value(idv);
                if (id < 0 || id >= t->n_vocab || npre >= 64 || nsuf >= 64)
                    return err_set(c->err, LM_ERR_FORMAT, "%s: TemplateProcessing: bad id %lld",
                                   c->file, (long long)id);
                if (after) suf[nsuf++] = (int32_t)id;
                else pre[npre++] = (int32_t)id;
            }
        }
    } else if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        json_t *cls = json_object_get(o, "cls"), *sep = json_object_get(o, "sep");
        json_int_t a = json_integer_value(json_array_get(cls, 1));
        json_int_t b = json_integer_value(json_array_get(sep, 1));
        if (a < 0 || a >= t->n_vocab || b < 0 || b >= t->n_vocab)
            return err_set(c->err, LM_ERR_FORMAT, "%s: %s: bad cls/sep ids", c->file, type);
        pre[npre++] = (int32_t)a;
        suf[nsuf++] = (int32_t)b;
    } else {
        return err_set(c->err, LM_ERR_UNSUPPORTED, "%s: post_processor '%s' is not supported",
                       c->file, type);
    }
    if (push_ids(&t->post_prefix, &t->n_post_prefix, pre, npre, 1) != LM_OK ||
        push_ids(&t->post_suffix, &t->n_post_suffix, suf, nsuf, 0) != LM_OK)
        return err_set(c->err, LM_ERR_NOMEM, "out of memory");
    return LM_OK;
}

/* ---------------------------------------------------------------- model */

/* Splits a merge entry ("a b" or ["a", "b"]) into its two token strings. */
static int merge_parts(json_t *m, const char **a, size_t *al, const char **b, size_t *bl) {
    if (json_is_string(m)) {
        const char *s = json_string_value(m);
        size_t n = json_string_length(m);
        const char *sp = memchr(s, ' ', n);
        if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s))) return 0;
        *a = s;
        *al = (size_t)(sp - s);
        *b = sp + 1;
        *bl = n - *al - 1;
        return 1;
    }
    if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
        json_is_string(json_array_get(m, 1))) {
        *a = json_string_value(json_array_get(m, 0));
        *al = json_string_length(json_array_get(m, 0));
        *b = json_string_value(json_array_get(m, 1));
        *bl = json_string_length(json_array_get(m, 1));
        return 1;
    }
    return 0;
}

static lm_status read_model(load_ctx *c, json_t *root) {
    tok_tokenizer *t = c->t;
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    const char *type = jstr(model, "type", NULL);
    if (!json_is_object(vocab))
        return err_set(c->err, LM_ERR_FORMAT, "%s: model.vocab is not an object", c->file);
    if (type && strcmp(type, "BPE") != 0)
        return err_set(c->err, LM_ERR_UNSUPPORTED, "%s: model type '%s' is not supported (BPE is)",
                       c->file, type);
    if (!type && !merges)
        return err_set(c->err, LM_ERR_UNSUPPORTED, "%s: model is not BPE (no merges)", c->file);

    /* ids: the vocabulary's and the added tokens' */
    json_t *added = json_object_get(root, "added_tokens");
    json_int_t max_id = -1;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id >= LM_TOK_MAX_VOCAB)
            return err_set(c->err, LM_ERR_FORMAT, "%s: vocab entry '%.64s' has a bad id", c->file,
                           key);
        if (id > max_id) max_id = id;
    }
    size_t i;
    json_array_foreach(added, i, val) {
        json_int_t id = json_integer_value(json_object_get(val, "id"));
        if (!json_is_string(json_object_get(val, "content")) || id < 0 || id >= LM_TOK_MAX_VOCAB)
            return err_set(c->err, LM_ERR_FORMAT, "%s: added_tokens[%zu] is malformed", c->file, i);
        if (id > max_id) max_id = id;
    }
    if (max_id < 0) return err_set(c->err, LM_ERR_FORMAT, "%s: empty vocabulary", c->file);
    t->n_vocab = (int32_t)max_id + 1;
    t->pieces = calloc((size_t)t->n_vocab, sizeof *t->pieces);
    if (!t->pieces) return err_set(c->err, LM_ERR_NOMEM, "out of memory");
    for (int32_t k = 0; k < t->n_vocab; k++) t->pieces[k].flags = TOK_F_HOLE;

    lm_buf text = {0};
    size_t n = 0;
    json_object_keylen_foreach(vocab, key, n, val) {
        int32_t id = (int32_t)json_integer_value(val);
        tok_piece *p = &t->pieces[id];
        p->off = (uint32_t)text.len;
        p->len = (uint32_t)n;
        p->type = TOK_TYPE_NORMAL;
        p->flags = 0;
        buf_append(&text, key, n);
        if (tok_map_put(&t->vocab, key, n, id) != LM_OK) {
            buf_fini(&text);
            return err_set(c->err, LM_ERR_NOMEM, "out of memory");
        }
    }
    json_array_foreach(added, i, val) {
        int32_t id = (int32_t)json_integer_value(json_object_get(val, "id"));
        json_t *cv = json_object_get(val, "content");
        n = json_string_length(cv);
        tok_piece *p = &t->pieces[id];
        p->off = (uint32_t)text.len;
        p->len = (uint32_t)n;
        buf_append(&text, json_string_value(cv), n);
        int special = jbool(val, "special", 0);
        p->type = special ? TOK_TYPE_CONTROL : TOK_TYPE_USER_DEFINED;
        p->flags = TOK_F_ADDED | (special ? TOK_F_SPECIAL : 0) |
                   (jbool(val, "lstrip", 0) ? TOK_F_LSTRIP : 0) |
                   (jbool(val, "rstrip", 0) ? TOK_F_RSTRIP : 0) |
                   (jbool(val, "single_word", 0) ? TOK_F_SINGLE_WORD : 0) |
                   (jbool(val, "normalized", !special) ? TOK_F_NORMALIZED : 0);
    }
    if (text.oom || text.len > UINT32_MAX / 2) {
        buf_fini(&text);
        return err_set(c->err, LM_ERR_NOMEM, "%s: vocabulary too large", c->file);
    }
    t->text = text.data ? text.data : calloc(1, 1);
    t->text_len = text.len;
    if (!t->text) return err_set(c->err, LM_ERR_NOMEM, "out of memory");

    /* options */
    const char *v;
    t->model = TOK_MODEL_BPE;
    if ((v = jstr(model, "unk_token", &n))) t->unk_id = tok_map_get(&t->vocab, v, n);
    t->byte_fallback = jbool(model, "byte_fallback", 0);
    t->fuse_unk = jbool(model, "fuse_unk", 0);
    t->ignore_merges = jbool(model, "ignore_merges", 0);
    if ((v = jstr(model, "continuing_subword_prefix", &n)) && n)
        if (!(t->subword_prefix = dup_bytes(v, n))) return err_set(c->err, LM_ERR_NOMEM, "oom");
    if ((v = jstr(model, "end_of_word_suffix", &n)) && n)
        if (!(t->word_suffix = dup_bytes(v, n))) return err_set(c->err, LM_ERR_NOMEM, "oom");

    /* merges: rank = position; the merged token is a + b (minus b's subword prefix) */
    size_t plen = t->subword_prefix ? strlen(t->subword_prefix) : 0;
    lm_buf joined = {0};
    json_t *m;
    json_array_foreach(merges, i, m) {
        const char *a, *b;
        size_t al, bl;
        if (!merge_parts(m, &a, &al, &b, &bl)) {
            buf_fini(&joined);
            return err_set(c->err, LM_ERR_FORMAT, "%s: merges[%zu] is not a pair", c->file, i);
        }
        int32_t ia = tok_map_get(&t->vocab, a, al), ib = tok_map_get(&t->vocab, b, bl);
        buf_reset(&joined);
        buf_append(&joined, a, al);
        if (bl >= plen) buf_append(&joined, b + plen, bl - plen);
        int32_t im = joined.oom ? -1 : tok_map_get(&t->vocab, joined.data, joined.len);
        if (ia < 0 || ib < 0 || im < 0) continue; /* a merge of unknown tokens can never apply */
        if (tok_pairmap_put(&t->merges, ia, ib, (int32_t)i, im) != LM_OK) {
            buf_fini(&joined);
            return err_set(c->err, LM_ERR_NOMEM, "out of memory");
        }
    }
    buf_fini(&joined);
    return LM_OK;
}

/* ---------------------------------------------------------------- companions */

/* A token named in a config: "text" or {"content": "text"}. Returns its id or -1. */
static int32_t named_token(const tok_tokenizer *t, json_t *v) {
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v)) return -1;
    return tok_token_id(t, json_string_value(v), json_string_length(v));
}

/* An id in a config file (read as a real, see load_optional_json), or -1. */
static int32_t config_id(const tok_tokenizer *t, json_t *v) {
    if (!json_is_number(v)) return -1;
    double d = json_number_value(v);
    return d >= 0 && d < t->n_vocab && d == (double)(int32_t)d ? (int32_t)d : -1;
}

static void read_companions(tok_tokenizer *t, const char *dir) {
    json_t *cfg = load_optional_json(dir, "tokenizer_config.json");
    json_t *map = load_optional_json(dir, "special_tokens_map.json");
    json_t *gen = load_optional_json(dir, "generation_config.json");
    int32_t id;
    /* tokenizer_config.json decides when it names the token, even as null (Qwen has no BOS) */
    json_t *g = json_object_get(gen, "eos_token_id"), *e;
    if (json_object_get(cfg, "bos_token")) t->bos_id = named_token(t, json_object_get(cfg, "bos_token"));
    else if ((id = named_token(t, json_object_get(map, "bos_token"))) >= 0 ||
             (id = config_id(t, json_object_get(gen, "bos_token_id"))) >= 0)
        t->bos_id = id;
    if (json_object_get(cfg, "eos_token")) t->eos_id = named_token(t, json_object_get(cfg, "eos_token"));
    else if ((id = named_token(t, json_object_get(map, "eos_token"))) >= 0 ||
             (id = config_id(t, g)) >= 0 || (id = config_id(t, json_array_get(g, 0))) >= 0)
        t->eos_id = id;
    /* generation_config's eos ids (one or a list) all end generation */
    size_t i;
    if ((id = config_id(t, g)) >= 0) t->pieces[id].flags |= TOK_F_EOG;
    json_array_foreach(g, i, e)
        if ((id = config_id(t, e)) >= 0) t->pieces[id].flags |= TOK_F_EOG;
    json_decref(cfg);
    json_decref(map);
    json_decref(gen);
    if (t->eos_id >= 0) t->pieces[t->eos_id].flags |= TOK_F_EOG;
    for (int32_t k = 0; k < t->n_vocab; k++) {
        tok_piece *p = &t->pieces[k];
        if (!(p->flags & TOK_F_SPECIAL)) continue;
        for (size_t j = 0; j < sizeof EOG_TEXTS / sizeof EOG_TEXTS[0]; j++)
            if (p->len == strlen(EOG_TEXTS[j]) && !memcmp(t->text + p->off, EOG_TEXTS[j], p->len))
                p->flags |= TOK_F_EOG;
    }
}

/* ---------------------------------------------------------------- entry */

static lm_status load_root(load_ctx *c, json_t *root, const char *dir) {
    tok_tokenizer *t = c->t;
    LM_TRY(read_model(c, root));
    LM_TRY(read_normalizer(c, json_object_get(root, "normalizer"), 0));
    LM_TRY(read_pretok(c, json_object_get(root, "pre_tokenizer"), 0));
    LM_TRY(read_decoder(c, json_object_get(root, "decoder"), 0));
    LM_TRY(read_post(c, json_object_get(root, "post_processor"), 0));
    /* a final ByteLevel pre-tokenizer leaves the byte spelling to the model */
    t->byte_level = t->n_pre > 0 && t->pre[t->n_pre - 1].kind == TOK_PRE_BYTELEVEL;
    tok_build_byte_tables(t);
    tok_build_chunking(t);
    LM_TRY(tok_build_added(t, c->err));
    read_companions(t, dir);
    return LM_OK;
}

lm_status tok_load_hf(const char *dir, tok_tokenizer **out, lm_error *err) {
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (!file_exists(path)) snprintf(path, sizeof path, "%s/tokenizer.json.gz", dir);
    if (!file_exists(path))
        return err_set(err, LM_ERR_NOT_FOUND, "%s: no tokenizer.json in the folder", dir);
    lm_buf raw = {0};
    lm_status s = read_file(path, &raw, err);
    if (s != LM_OK) {
        buf_fini(&raw);
        return s;
    }
    json_error_t je;
    json_t *root = json_loadb(raw.data ? raw.data : "", raw.len, JSON_ALLOW_NUL, &je);
    buf_fini(&raw);
    if (!root)
        return err_set_at(err, LM_ERR_FORMAT, je.position, "%s: not JSON: %s (line %d)", path,
                          je.text, je.line);
    tok_tokenizer *t = tok_alloc();
    if (!t) {
        json_decref(root);
        return err_set(err, LM_ERR_NOMEM, "out of memory");
    }
    load_ctx c = {.t = t, .file = path, .err = err};
    s = load_root(&c, root, dir);
    json_decref(root);
    if (s != LM_OK) {
        tok_destroy(t);
        return s;
    }
    *out = t;
    return LM_OK;
}
