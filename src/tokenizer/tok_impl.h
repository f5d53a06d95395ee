/* tok_impl.h — the insides of a tokenizer, shared by the files of src/tokenizer/ and nothing else.
 *
 * A loaded tokenizer is a pipeline described by plain data, the shape Hugging Face's
 * tokenizer.json gives it:
 *
 *   text -> (invalid UTF-8 replaced by U+FFFD)
 *        -> added tokens split out (leftmost-longest; lstrip/rstrip/single_word)
 *        -> normalizer steps      (per stretch of text between added tokens)
 *        -> pre-tokenizer steps   (cut a stretch into pieces)
 *        -> model                 (each piece to ids: BPE by merge rank or by token score)
 *        -> post-processor        (BOS/EOS around the ids when add_special)
 *
 *   ids -> token strings -> decoder steps -> text
 *
 * GGUF vocabularies are expressed with the same pieces (a `llama` vocabulary is
 * Prepend("▁") + Replace(" ", "▁"), the score-driven BPE, and the Metaspace-style decoder), so one
 * encoder and one decoder serve both loaders. */
#ifndef LM_TOKENIZER_TOK_IMPL_H
#define LM_TOKENIZER_TOK_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/limits.h"
#include "base/utf8.h"
#include "tokenizer/tokenizer.h"

/* Limits (LM_TOK_MAX_*) are in base/limits.h. */

/* UTF-8: the one codec, base/utf8.h (utf8_*). */

/* Walks the characters of valid UTF-8 text:
 *   tok_char_iter it = {s, n}; while (tok_char_next(&it)) use(it.cp, it.pos, it.len); */
typedef struct {
    const char *s;
    size_t n;
    size_t pos, len;   /* the current character: s[pos .. pos+len) */
    uint32_t cp;
} tok_char_iter;

static inline int tok_char_next(tok_char_iter *it) {
    it->pos += it->len;
    if (it->pos >= it->n) return 0;
    const unsigned char *u = (const unsigned char *)it->s + it->pos;
    size_t l = utf8_valid_len(u, it->n - it->pos);
    it->len = l ? l : 1; /* a stray byte (never in repaired text) counts as one character */
    it->cp = l ? utf8_decode(u, l) : 0xFFFD;
    return 1;
}

/* ---------------------------------------------------------------- string -> id map (tok_map.c) */

/* Open-addressing hash map from byte strings to int32 values. Keys are copied into the map. */
typedef struct {
    char *keys;          /* all key bytes, back to back */
    size_t keys_len, keys_cap;
    struct tok_map_entry { uint32_t off, len; int32_t val; uint32_t hash; } *entries;
    uint32_t n, cap_entries;
    uint32_t *slots;     /* entry index + 1; 0 = empty */
    uint32_t mask;       /* slots - 1 (a power of two minus one) */
} tok_map;

/* Inserts or overwrites key -> val. Returns LM_ERR_NOMEM on allocation failure. */
lm_status tok_map_put(tok_map *m, const char *key, size_t len, int32_t val);
/* Value for key, or -1 when absent. */
int32_t tok_map_get(const tok_map *m, const char *key, size_t len);
void tok_map_fini(tok_map *m);

/* Map from an id pair (a, b) to a merge (rank, merged id). */
typedef struct {
    struct tok_pair_slot { uint64_t key; int32_t rank, id; } *slots; /* key 0 = empty */
    uint32_t n, mask;
} tok_pairmap;

lm_status tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
/* Returns 1 and fills *rank, *id when (a, b) is a merge. */
int tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *id);
void tok_pairmap_fini(tok_pairmap *m);

uint32_t tok_hash_bytes(const void *p, size_t n);

/* ---------------------------------------------------------------- vocabulary */

/* Token kinds, numbered as GGUF's tokenizer.ggml.token_type stores them. */
enum {
    TOK_TYPE_UNDEFINED = 0,
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER_DEFINED = 4,
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6,
};

/* Per-token flags. */
enum {
    TOK_F_SPECIAL = 1 << 0,     /* skipped by skip_special decoding; not matched if parse_special=0 */
    TOK_F_ADDED = 1 << 1,       /* matched in raw text before normalization */
    TOK_F_LSTRIP = 1 << 2,      /* an added token swallows whitespace on its left */
    TOK_F_RSTRIP = 1 << 3,      /* ... and on its right */
    TOK_F_SINGLE_WORD = 1 << 4, /* matched only when not inside a word */
    TOK_F_NORMALIZED = 1 << 5,  /* matched in normalized text rather than raw text */
    TOK_F_EOG = 1 << 6,         /* ends generation (eos, eot, ...) */
    TOK_F_HOLE = 1 << 7,        /* no token has this id (a gap in tokenizer.json's ids) */
};

typedef struct {
    uint32_t off, len;  /* the token's string in tok_tokenizer.text (as tokenizer.json writes it) */
    float score;        /* SentencePiece score (merge priority for TOK_MODEL_SPM) */
    uint8_t type;       /* TOK_TYPE_* */
    uint8_t flags;      /* TOK_F_* */
} tok_piece;

/* ---------------------------------------------------------------- added-token matcher (tok_added.c) */

/* A byte trie over added-token strings, answering "longest token starting here". */
typedef struct {
    struct tok_trie_edge { uint32_t key; uint32_t child; } *edges; /* key = node << 8 | byte + 1 */
    uint32_t n_edges, mask;
    int32_t *node_id;   /* per node: token id ending here, or -1 */
    uint32_t n_nodes, cap_nodes;
    uint8_t first[256]; /* whether any token starts with this byte (fast reject) */
    size_t max_len;
} tok_trie;

lm_status tok_trie_add(tok_trie *tr, const char *s, size_t len, int32_t id);
/* Longest token that s[0..n) starts with: returns its id and sets *len, or -1. */
int32_t tok_trie_longest(const tok_trie *tr, const char *s, size_t n, size_t *len);
void tok_trie_fini(tok_trie *tr);

/* ---------------------------------------------------------------- pipeline steps */

typedef enum {
    TOK_NORM_PREPEND,      /* str: prepended to non-empty text */
    TOK_NORM_REPLACE,      /* str -> str2 (pattern a literal string) */
    TOK_NORM_REPLACE_RE,   /* regex -> str2 */
    TOK_NORM_NFC,
    TOK_NORM_NFD,
    TOK_NORM_NFKC,
    TOK_NORM_NFKD,
    TOK_NORM_LOWERCASE,
    TOK_NORM_STRIP,        /* flag_a: strip left, flag_b: strip right */
    TOK_NORM_STRIP_ACCENTS,
    TOK_NORM_BERT,         /* flag_a clean_text, flag_b handle_chinese_chars, flag_c strip_accents, flag_d lowercase */
} tok_norm_kind;

typedef enum {
    TOK_SPLIT_REMOVED,
    TOK_SPLIT_ISOLATED,
    TOK_SPLIT_MERGED_PREV,
    TOK_SPLIT_MERGED_NEXT,
    TOK_SPLIT_CONTIGUOUS,
} tok_split_behavior;

typedef enum {
    TOK_PRE_SPLIT,         /* regex (or literal str), behavior, invert */
    TOK_PRE_BYTELEVEL,     /* flag_a add_prefix_space, flag_b use_regex */
    TOK_PRE_METASPACE,     /* str replacement, prepend scheme in num, flag_a split */
    TOK_PRE_DIGITS,        /* flag_a individual digits */
    TOK_PRE_PUNCTUATION,   /* behavior */
    TOK_PRE_WHITESPACE,    /* \w+|[^\w\s]+ */
    TOK_PRE_WHITESPACE_SPLIT,
    TOK_PRE_BERT,
    TOK_PRE_CHAR_DELIMITER,/* str (one char) removed */
} tok_pre_kind;

typedef enum {
    TOK_DEC_BYTELEVEL,
    TOK_DEC_METASPACE,     /* str replacement, num prepend scheme (0 always, 1 first, 2 never) */
    TOK_DEC_BYTEFALLBACK,
    TOK_DEC_FUSE,
    TOK_DEC_STRIP,         /* str: one character, num: start count, num2: stop count */
    TOK_DEC_REPLACE,       /* str -> str2 */
    TOK_DEC_REPLACE_RE,    /* regex -> str2 */
    TOK_DEC_WORDPIECE,     /* str prefix, flag_a cleanup */
    TOK_DEC_BPE,           /* str suffix */
} tok_dec_kind;

enum { TOK_PREPEND_ALWAYS = 0, TOK_PREPEND_FIRST = 1, TOK_PREPEND_NEVER = 2 };

/* A compiled regex (PCRE2 code + JIT), opaque outside tok_regex.c. */
typedef struct tok_regex tok_regex;

/* One step of a normalizer, pre-tokenizer or decoder: a kind and its few parameters. */
typedef struct {
    int kind;
    char *str, *str2;      /* owned, NUL-terminated; NULL when unused */
    size_t str_len, str2_len;
    tok_regex *re;         /* owned; NULL when unused */
    int num, num2;
    int behavior;          /* tok_split_behavior */
    uint8_t flag_a, flag_b, flag_c, flag_d;
} tok_step;

void tok_step_fini(tok_step *s);

/* ---------------------------------------------------------------- the tokenizer */

typedef enum {
    TOK_MODEL_BPE,   /* merges ranked by position in a merge list (tokenizer.json, GGUF gpt2) */
    TOK_MODEL_SPM,   /* merge whichever adjacent pair forms the best-scored token (GGUF llama) */
} tok_model_kind;

struct tok_tokenizer {
    /* vocabulary: ids 0..n_vocab-1 */
    tok_piece *pieces;
    int32_t n_vocab;
    char *text;                /* all token strings */
    size_t text_len;
    tok_map vocab;             /* model vocabulary: string -> id (what BPE looks up) */
    tok_map added_by_text;     /* added tokens: content -> id */
    tok_trie added_raw;        /* added tokens matched in raw text */
    tok_trie added_norm;       /* added tokens matched in normalized text */
    int has_added, has_added_norm;

    /* model */
    tok_model_kind model;
    tok_pairmap merges;        /* TOK_MODEL_BPE */
    int32_t unk_id;            /* -1 when none */
    int byte_fallback;         /* unknown characters become <0xNN> tokens */
    int fuse_unk;
    int ignore_merges;         /* a piece that is itself a token is emitted whole (Llama 3) */
    int byte_level;            /* the pieces are byte-level mapped (GPT-2 alphabet) */
    int32_t byte_ids[256];     /* <0xNN> token per byte (byte fallback), -1 when absent */
    int32_t bytelevel_ids[256];/* token of the byte-level character for each byte, -1 when absent */
    char *subword_prefix, *word_suffix; /* BPE continuing_subword_prefix / end_of_word_suffix */
    /* SentencePiece-style text is one long piece (no pre-tokenizer). When no token spans a "▁"
     * that follows another character, such a "▁" starts an independent chunk; the exceptions are
     * "▁"s after a character whose last byte is marked here (e.g. Gemma's ">▁</"). */
    int chunk_at_meta;
    uint8_t meta_glued[256];

    /* pipeline */
    tok_step *norm; size_t n_norm;
    tok_step *pre; size_t n_pre;
    tok_step *dec; size_t n_dec;

    /* post-processor: ids around a single sequence when add_special */
    int32_t *post_prefix; size_t n_post_prefix;
    int32_t *post_suffix; size_t n_post_suffix;

    int32_t bos_id, eos_id;    /* -1 when none */
};

/* Allocates an empty tokenizer with every id field at -1; NULL on out-of-memory. */
tok_tokenizer *tok_alloc(void);

/* Appends a pipeline step (copied shallowly: the array takes ownership of its strings/regex). */
lm_status tok_push_step(tok_step **arr, size_t *n, const tok_step *s, lm_error *err);

/* Builds the added-token tries and the content map from the pieces flagged TOK_F_ADDED.
 * Called by loaders once the vocabulary is final. */
lm_status tok_build_added(tok_tokenizer *t, lm_error *err);

/* Fills byte_ids[] (looking up "<0xNN>") and bytelevel_ids[] from the vocabulary. */
void tok_build_byte_tables(tok_tokenizer *t);

/* Decides chunk_at_meta / meta_glued from the vocabulary and merges (after the byte tables). */
void tok_build_chunking(tok_tokenizer *t);

/* The byte-level (GPT-2) alphabet: the character each byte is written as, and back. */
uint32_t tok_bytelevel_char(uint8_t b);
/* Byte for a byte-level character, or -1 when cp is not in the alphabet. */
int tok_bytelevel_byte(uint32_t cp);

/* Runs the model on one piece (bytes p[0..n)), appending ids. `mapped`: the piece is raw bytes to
 * be read as byte-level characters. Scratch memory is in *ws. */
typedef struct tok_workspace tok_workspace;
lm_status tok_model_encode(const tok_tokenizer *t, tok_workspace *ws, const char *p, size_t n,
                           tok_ids *out, lm_error *err);
tok_workspace *tok_workspace_create(void);
void tok_workspace_destroy(tok_workspace *ws);

/* Normalizer / pre-tokenizer application (tok_normalize.c / tok_pretok.c). */
lm_status tok_normalize(const tok_tokenizer *t, const tok_step *steps, size_t n_steps,
                        int at_start, lm_buf *text, lm_error *err);

/* Pre-tokenization (tok_pretok.c) runs depth first: each piece a step cuts is passed on to the
 * next step at once and finally to `fn`, so memory stays proportional to one piece, not to the
 * text. `st` holds reusable per-step scratch; zero it before first use, free with
 * tok_pretok_fini(). */
typedef lm_status (*tok_piece_fn)(void *ctx, const char *p, size_t n);
typedef struct tok_pretok_state tok_pretok_state;
lm_status tok_pretokenize(const tok_tokenizer *t, tok_pretok_state **st, const char *text,
                          size_t n, int at_start, tok_piece_fn fn, void *ctx, lm_error *err);
void tok_pretok_fini(tok_pretok_state *st);

/* Regex (tok_regex.c): compile a Rust-regex-syntax pattern, and find matches. */
lm_status tok_regex_compile(const char *pattern, size_t len, tok_regex **out, lm_error *err);
void tok_regex_free(tok_regex *re);
/* Finds the first match in s[start..n); returns 1 and sets [*ms, *me), 0 when none, -1 on error
 * (match limit). */
int tok_regex_find(const tok_regex *re, const char *s, size_t n, size_t start, size_t *ms,
                   size_t *me);

/* Decoding of a list of token strings by the decoder steps (tok_decode.c). `continuation`: the
 * tokens follow earlier text (no start-of-sequence stripping). `lossy`: invalid UTF-8 becomes
 * U+FFFD as Hugging Face does; otherwise raw bytes come out (streaming validates on its own). */
lm_status tok_decode_strings(const tok_tokenizer *t, const char **strs, const size_t *lens,
                             size_t n, int continuation, int lossy, lm_buf *out, lm_error *err);

#endif
