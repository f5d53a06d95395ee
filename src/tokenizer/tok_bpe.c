/* tok_bpe.c — the models: one pre-tokenized piece of text to token ids.
 *
 * Both models start from one symbol per character (per byte for byte-level vocabularies) and
 * repeatedly merge the best adjacent pair, kept in a binary heap keyed by (priority, left
 * position) with stale entries skipped on pop: O(n log n) for a piece of n characters, so a
 * 10 MB word without spaces is no worse than many short ones.
 *
 *   TOK_MODEL_BPE  the pair must be in the merge list; priority = its rank (Hugging Face BPE).
 *   TOK_MODEL_SPM  the pair's concatenation must be a token; priority = that token's score, higher
 *                  first (llama.cpp's SentencePiece-BPE). Leftover characters that are not tokens
 *                  become their <0xNN> byte tokens.
 *
 * Characters missing from the vocabulary become byte-fallback tokens or the unknown token. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

typedef struct {
    int32_t id;         /* token of this symbol (-1: not a token, SPM only) */
    uint32_t start, len;/* bytes of the piece; len 0 = merged away */
    int32_t prev, next; /* neighbours, -1 at the ends */
} sym;

typedef struct {
    uint64_t key;       /* priority << 32 | left position: smaller pops first */
    int32_t aux;        /* BPE: merged id; SPM: right position */
    uint32_t len;       /* byte length of the merged pair, to skip stale entries */
    int32_t a, b;       /* BPE: the pair's ids when pushed */
} merge_cand;

struct tok_workspace {
    sym *syms;
    size_t cap_syms;
    merge_cand *heap;
    size_t n_heap, cap_heap;
    lm_buf tmp;
};

tok_workspace *tok_workspace_create(void) { return calloc(1, sizeof(tok_workspace)); }

void tok_workspace_destroy(tok_workspace *ws) {
    if (!ws) return;
    free(ws->syms);
    free(ws->heap);
    buf_fini(&ws->tmp);
    free(ws);
}

static lm_status reserve_syms(tok_workspace *ws, size_t n) {
    if (n <= ws->cap_syms) return LM_OK;
    size_t cap = ws->cap_syms ? ws->cap_syms : 64;
    while (cap < n) cap *= 2;
    sym *p = realloc(ws->syms, cap * sizeof *p);
    if (!p) return LM_ERR_NOMEM;
    ws->syms = p;
    ws->cap_syms = cap;
    return LM_OK;
}

/* ---------------------------------------------------------------- 4-ary min-heap */

/* Four children per node: half the depth of a binary heap, and siblings share cache lines, which
 * is what matters once a long piece's heap outgrows the caches. */
#define HEAP_D 4

static lm_status heap_push(tok_workspace *ws, merge_cand c) {
    if (ws->n_heap == ws->cap_heap) {
        size_t cap = ws->cap_heap ? ws->cap_heap * 2 : 64;
        merge_cand *p = realloc(ws->heap, cap * sizeof *p);
        if (!p) return LM_ERR_NOMEM;
        ws->heap = p;
        ws->cap_heap = cap;
    }
    merge_cand *h = ws->heap;
    size_t i = ws->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / HEAP_D;
        if (h[parent].key <= c.key) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = c;
    return LM_OK;
}

static merge_cand heap_pop(tok_workspace *ws) {
    merge_cand *h = ws->heap;
    merge_cand top = h[0];
    merge_cand last = h[--ws->n_heap];
    size_t n = ws->n_heap, i = 0;
    for (;;) {
        size_t c = HEAP_D * i + 1;
        if (c >= n) break;
        size_t end = c + HEAP_D < n ? c + HEAP_D : n, best = c;
        for (size_t k = c + 1; k < end; k++)
            if (h[k].key < h[best].key) best = k;
        if (last.key <= h[best].key) break;
        h[i] = h[best];
        i = best;
    }
    if (n) h[i] = last;
    return top;
}

/* ---------------------------------------------------------------- symbols */

static void push_sym(tok_workspace *ws, size_t *n, int32_t id, uint32_t start, uint32_t len) {
    sym *s = &ws->syms[*n];
    s->id = id;
    s->start = start;
    s->len = len;
    s->prev = (int32_t)*n - 1;
    s->next = (int32_t)*n + 1;
    (*n)++;
}

/* A character that is not in the vocabulary: its byte tokens, or the unknown token (fused with a
 * preceding unknown when fuse_unk). Returns 0 when it produces nothing. */
static void push_unknown(const tok_tokenizer *t, tok_workspace *ws, size_t *n, uint32_t start,
                         uint32_t len, const char *p) {
    if (t->byte_fallback) {
        int all = 1;
        for (uint32_t k = 0; k < len; k++)
            if (t->byte_ids[(unsigned char)p[start + k]] < 0) all = 0;
        if (all) {
            for (uint32_t k = 0; k < len; k++)
                push_sym(ws, n, t->byte_ids[(unsigned char)p[start + k]], start + k, 1);
            return;
        }
    }
    if (t->unk_id < 0) return; /* no unknown token: the character is dropped, as HF does */
    if (t->fuse_unk && *n > 0 && ws->syms[*n - 1].id == t->unk_id &&
        ws->syms[*n - 1].start + ws->syms[*n - 1].len == start) {
        ws->syms[*n - 1].len += len;
        return;
    }
    push_sym(ws, n, t->unk_id, start, len);
}

static size_t char_len(const char *p, size_t n) {
    size_t l = utf8_valid_len((const unsigned char *)p, n);
    return l ? l : 1; /* input was repaired before; a stray byte still moves forward */
}

/* Looks up a character of the piece, with the BPE subword prefix/suffix when configured. */
static int32_t lookup_char(const tok_tokenizer *t, tok_workspace *ws, const char *c, size_t len,
                           int first, int last) {
    if (!t->subword_prefix && !t->word_suffix) return tok_map_get(&t->vocab, c, len);
    buf_reset(&ws->tmp);
    if (!first && t->subword_prefix) buf_append_str(&ws->tmp, t->subword_prefix);
    buf_append(&ws->tmp, c, len);
    if (last && t->word_suffix) buf_append_str(&ws->tmp, t->word_suffix);
    return ws->tmp.oom ? -1 : tok_map_get(&t->vocab, ws->tmp.data, ws->tmp.len);
}

/* The byte-level spelling of raw bytes (each byte as its GPT-2 alphabet character). */
static void bytelevel_spell(lm_buf *out, const char *p, size_t n) {
    char enc[4];
    for (size_t i = 0; i < n; i++)
        buf_append(out, enc, utf8_encode(tok_bytelevel_char((unsigned char)p[i]), enc));
}

/* ---------------------------------------------------------------- ranked merges (HF BPE) */

/* Queues the merge of symbol `left` with its right neighbour, if the pair is a merge. */
static lm_status bpe_try_pair(const tok_tokenizer *t, tok_workspace *ws, int32_t left) {
    const sym *l = &ws->syms[left], *r = &ws->syms[l->next];
    int32_t rank, id;
    if (!tok_pairmap_get(&t->merges, l->id, r->id, &rank, &id)) return LM_OK;
    merge_cand c = {(uint64_t)(uint32_t)rank << 32 | (uint32_t)left, id, l->len + r->len, l->id, r->id};
    return heap_push(ws, c);
}

static lm_status bpe_encode(const tok_tokenizer *t, tok_workspace *ws, const char *p, size_t n,
                            tok_ids *out) {
    if (t->ignore_merges) {
        int32_t id;
        if (t->byte_level) {
            buf_reset(&ws->tmp);
            bytelevel_spell(&ws->tmp, p, n);
            if (ws->tmp.oom) return LM_ERR_NOMEM;
            id = tok_map_get(&t->vocab, ws->tmp.data, ws->tmp.len);
        } else {
            id = tok_map_get(&t->vocab, p, n);
        }
        if (id >= 0) {
            tok_ids_push(out, id);
            return LM_OK;
        }
    }
    LM_TRY(reserve_syms(ws, n + 1));
    size_t ns = 0;
    char enc[8];
    for (size_t i = 0; i < n;) {
        size_t cl = t->byte_level ? 1 : char_len(p + i, n - i);
        int first = i == 0, last = i + cl == n;
        int32_t id;
        if (t->byte_level && !t->subword_prefix && !t->word_suffix) {
            id = t->bytelevel_ids[(unsigned char)p[i]];
        } else if (t->byte_level) {
            size_t el = utf8_encode(tok_bytelevel_char((unsigned char)p[i]), enc);
            id = lookup_char(t, ws, enc, el, first, last);
        } else {
            id = lookup_char(t, ws, p + i, cl, first, last);
        }
        if (id >= 0) push_sym(ws, &ns, id, (uint32_t)i, (uint32_t)cl);
        else push_unknown(t, ws, &ns, (uint32_t)i, (uint32_t)cl, p);
        i += cl;
    }
    if (ns == 0) return LM_OK;
    sym *s = ws->syms;
    s[ns - 1].next = -1;

    ws->n_heap = 0;
    for (size_t i = 0; i + 1 < ns; i++) LM_TRY(bpe_try_pair(t, ws, (int32_t)i));
    while (ws->n_heap) {
        merge_cand c = heap_pop(ws);
        uint32_t pos = (uint32_t)c.key;
        sym *l = &s[pos];
        if (l->len == 0 || l->next < 0) continue;
        sym *r = &s[l->next];
        /* Stale unless the pair there still merges into the same token (HF's test). The same ids
         * pass at once; a pair of another total length cannot make the same token. */
        if (l->id != c.a || r->id != c.b) {
            int32_t rank, id;
            if (l->len + r->len != c.len || !tok_pairmap_get(&t->merges, l->id, r->id, &rank, &id) ||
                id != c.aux)
                continue;
        }
        l->id = c.aux;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = (int32_t)pos;
        if (l->prev >= 0) LM_TRY(bpe_try_pair(t, ws, l->prev));
        if (l->next >= 0) LM_TRY(bpe_try_pair(t, ws, (int32_t)pos));
    }
    for (int32_t i = 0; i >= 0; i = s[i].next) tok_ids_push(out, s[i].id);
    return LM_OK;
}

/* ---------------------------------------------------------------- score-driven merges (SPM) */

/* Maps a float to a key that sorts highest score first. */
static uint32_t score_key(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* ascending with f */
    return ~u;
}

static lm_status spm_try_pair(const tok_tokenizer *t, tok_workspace *ws, const char *p,
                              int32_t left, int32_t right) {
    if (left < 0 || right < 0) return LM_OK;
    const sym *l = &ws->syms[left], *r = &ws->syms[right];
    uint32_t len = l->len + r->len;
    int32_t id = tok_map_get(&t->vocab, p + l->start, len);
    if (id < 0) return LM_OK;
    merge_cand c = {(uint64_t)score_key(t->pieces[id].score) << 32 | (uint32_t)left, right, len, 0, 0};
    return heap_push(ws, c);
}

static lm_status spm_encode(const tok_tokenizer *t, tok_workspace *ws, const char *p, size_t n,
                            tok_ids *out) {
    LM_TRY(reserve_syms(ws, n + 1));
    size_t ns = 0;
    for (size_t i = 0; i < n;) {
        size_t cl = char_len(p + i, n - i);
        push_sym(ws, &ns, -1, (uint32_t)i, (uint32_t)cl);
        i += cl;
    }
    if (ns == 0) return LM_OK;
    sym *s = ws->syms;
    s[ns - 1].next = -1;

    ws->n_heap = 0;
    for (size_t i = 1; i < ns; i++) LM_TRY(spm_try_pair(t, ws, p, (int32_t)i - 1, (int32_t)i));
    while (ws->n_heap) {
        merge_cand c = heap_pop(ws);
        sym *l = &s[(uint32_t)c.key], *r = &s[c.aux];
        /* stale: one side was merged into something else since */
        if (l->len == 0 || r->len == 0 || l->len + r->len != c.len) continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = (int32_t)(uint32_t)c.key;
        LM_TRY(spm_try_pair(t, ws, p, l->prev, (int32_t)(uint32_t)c.key));
        LM_TRY(spm_try_pair(t, ws, p, (int32_t)(uint32_t)c.key, l->next));
    }
    for (int32_t i = 0; i >= 0; i = s[i].next) {
        int32_t id = tok_map_get(&t->vocab, p + s[i].start, s[i].len);
        if (id >= 0) {
            tok_ids_push(out, id);
            continue;
        }
        for (uint32_t k = 0; k < s[i].len; k++) {
            int32_t b = t->byte_ids[(unsigned char)p[s[i].start + k]];
            if (b >= 0) tok_ids_push(out, b);
            else if (t->unk_id >= 0) tok_ids_push(out, t->unk_id);
        }
    }
    return LM_OK;
}

static lm_status encode_chunk(const tok_tokenizer *t, tok_workspace *ws, const char *p, size_t n,
                              tok_ids *out) {
    return t->model == TOK_MODEL_SPM ? spm_encode(t, ws, p, n, out) : bpe_encode(t, ws, p, n, out);
}

/* Where the next chunk of SentencePiece-style text starts: at a "▁" that no token can glue to the
 * character before it (see chunk_at_meta), or n. */
static size_t next_chunk(const tok_tokenizer *t, const char *p, size_t n, size_t from) {
    for (size_t i = from + 1; i + 3 <= n;) {
        const char *hit = memchr(p + i, 0xE2, n - i - 2);
        if (!hit) break;
        i = (size_t)(hit - p);
        if ((unsigned char)p[i + 1] == 0x96 && (unsigned char)p[i + 2] == 0x81 &&
            !(i >= 3 && memcmp(p + i - 3, "\xE2\x96\x81", 3) == 0) &&
            !t->meta_glued[(unsigned char)p[i - 1]])
            return i;
        i++;
    }
    return n;
}

lm_status tok_model_encode(const tok_tokenizer *t, tok_workspace *ws, const char *p, size_t n,
                           tok_ids *out, lm_error *err) {
    if (n == 0) return LM_OK;
    if (n >= UINT32_MAX / 2)
        return err_set(err, LM_ERR_LIMIT, "tokenizer: piece of %zu bytes is too long", n);
    lm_status s = LM_OK;
    if (!t->chunk_at_meta) {
        s = encode_chunk(t, ws, p, n, out);
    } else {
        /* independent chunks give the same merges and keep the heap small (cache-friendly) */
        for (size_t a = 0; a < n && s == LM_OK;) {
            size_t b = next_chunk(t, p, n, a);
            s = encode_chunk(t, ws, p + a, b - a, out);
            a = b;
        }
    }
    if (s != LM_OK) return err_set(err, s, "tokenizer: out of memory encoding a piece");
    return LM_OK;
}
