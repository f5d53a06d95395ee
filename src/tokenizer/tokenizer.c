/* tokenizer.c — the tokenizer object: allocation and teardown, id arrays, vocabulary queries, and
 * the tables loaders build once the vocabulary is known (added-token tries, byte tokens, the
 * byte-level alphabet). Encoding is in tok_encode.c, decoding in tok_decode.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

/* ---------------------------------------------------------------- id arrays */

void tok_ids_push(tok_ids *v, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->ids, cap * sizeof *p);
        if (!p) {
            fprintf(stderr, "lmserve: out of memory growing a token array\n");
            abort();
        }
        v->ids = p;
        v->cap = cap;
    }
    v->ids[v->n++] = id;
}

void tok_ids_fini(tok_ids *v) {
    free(v->ids);
    v->ids = NULL;
    v->n = v->cap = 0;
}

/* ---------------------------------------------------------------- object */

tok_tokenizer *tok_alloc(void) {
    tok_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->unk_id = t->bos_id = t->eos_id = -1;
    for (int b = 0; b < 256; b++) t->byte_ids[b] = t->bytelevel_ids[b] = -1;
    return t;
}

void tok_step_fini(tok_step *s) {
    free(s->str);
    free(s->str2);
    tok_regex_free(s->re);
    memset(s, 0, sizeof *s);
}

static void free_steps(tok_step *v, size_t n) {
    for (size_t i = 0; i < n; i++) tok_step_fini(&v[i]);
    free(v);
}

void tok_destroy(tok_tokenizer *t) {
    if (!t) return;
    free(t->pieces);
    free(t->text);
    tok_map_fini(&t->vocab);
    tok_map_fini(&t->added_by_text);
    tok_trie_fini(&t->added_raw);
    tok_trie_fini(&t->added_norm);
    tok_pairmap_fini(&t->merges);
    free(t->subword_prefix);
    free(t->word_suffix);
    free_steps(t->norm, t->n_norm);
    free_steps(t->pre, t->n_pre);
    free_steps(t->dec, t->n_dec);
    free(t->post_prefix);
    free(t->post_suffix);
    free(t);
}

lm_status tok_push_step(tok_step **arr, size_t *n, const tok_step *s, lm_error *err) {
    tok_step *p = realloc(*arr, (*n + 1) * sizeof *p);
    if (!p) return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory");
    p[*n] = *s;
    *arr = p;
    (*n)++;
    return LM_OK;
}

lm_status tok_build_added(tok_tokenizer *t, lm_error *err) {
    lm_buf norm = {0};
    lm_status st = LM_OK;
    for (int32_t id = 0; id < t->n_vocab && st == LM_OK; id++) {
        const tok_piece *p = &t->pieces[id];
        if (!(p->flags & TOK_F_ADDED) || p->len == 0) continue;
        const char *s = t->text + p->off;
        size_t len = p->len;
        if (p->flags & TOK_F_NORMALIZED) {
            /* matched in normalized text, so its own text is normalized the same way */
            buf_reset(&norm);
            buf_append(&norm, s, len);
            st = tok_normalize(t, t->norm, t->n_norm, 0, &norm, err);
            if (st != LM_OK) break;
            if (norm.oom) st = LM_ERR_NOMEM;
            st = st == LM_OK ? tok_trie_add(&t->added_norm, norm.data, norm.len, id) : st;
            t->has_added_norm = 1;
        } else {
            st = tok_trie_add(&t->added_raw, s, len, id);
            t->has_added = 1;
        }
        if (st == LM_OK && tok_map_get(&t->added_by_text, s, len) < 0)
            st = tok_map_put(&t->added_by_text, s, len, id);
        if (st != LM_OK) st = err_set(err, st, "tokenizer: cannot index added token %d", id);
    }
    buf_fini(&norm);
    return st;
}

/* ---------------------------------------------------------------- byte tables */

/* GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * are written as U+0100.. in byte order, so every byte has a visible character. */
static int byte_is_printable(int b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t tok_bytelevel_char(uint8_t b) {
    if (byte_is_printable(b)) return b;
    if (b <= 0x20) return 256u + b;                  /* 0x00..0x20 -> U+0100..U+0120 */
    if (b >= 0x7F && b <= 0xA0) return 289u + (b - 0x7Fu); /* 0x7F..0xA0 -> U+0121..U+0142 */
    return 323u;                                     /* 0xAD -> U+0143 */
}

int tok_bytelevel_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable((int)cp) ? (int)cp : -1;
    if (cp <= 288) return (int)(cp - 256);
    if (cp <= 322) return (int)(0x7F + cp - 289);
    return cp == 323 ? 0xAD : -1;
}

void tok_build_byte_tables(tok_tokenizer *t) {
    char s[8];
    for (int b = 0; b < 256; b++) {
        snprintf(s, sizeof s, "<0x%02X>", b);
        t->byte_ids[b] = tok_map_get(&t->vocab, s, 6);
        size_t n = utf8_encode(tok_bytelevel_char((uint8_t)b), s);
        t->bytelevel_ids[b] = tok_map_get(&t->vocab, s, n);
    }
}

void tok_build_chunking(tok_tokenizer *t) {
    static const char META[] = "\xE2\x96\x81";
    t->chunk_at_meta = 0;
    memset(t->meta_glued, 0, sizeof t->meta_glued);
    if (t->byte_level || t->ignore_merges || t->subword_prefix || t->word_suffix || t->n_pre)
        return;
    if (tok_map_get(&t->vocab, META, 3) < 0) return;
    /* merges of byte tokens would build tokens whose text is not their span: stay whole */
    uint8_t *is_byte = calloc((size_t)t->n_vocab, 1);
    if (!is_byte) return;
    for (int v = 0; v < 256; v++)
        if (t->byte_ids[v] >= 0) is_byte[t->byte_ids[v]] = 1;
    int byte_merges = 0;
    for (uint32_t i = 0; t->merges.slots && i <= t->merges.mask && !byte_merges; i++) {
        uint64_t k = t->merges.slots[i].key;
        if (!k) continue;
        int32_t a = (int32_t)(k >> 32) - 1, b = (int32_t)(uint32_t)k - 1;
        byte_merges = is_byte[a] || is_byte[b];
    }
    free(is_byte);
    if (byte_merges) return;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const tok_piece *p = &t->pieces[id];
        const char *s = t->text + p->off;
        for (uint32_t j = 1; j + 3 <= p->len; j++) {
            if (memcmp(s + j, META, 3) != 0) continue;
            if (j >= 3 && memcmp(s + j - 3, META, 3) == 0) continue;
            t->meta_glued[(unsigned char)s[j - 1]] = 1;
        }
    }
    t->chunk_at_meta = 1;
}

/* ---------------------------------------------------------------- queries */

size_t tok_vocab_size(const tok_tokenizer *t) { return (size_t)t->n_vocab; }
int32_t tok_bos_id(const tok_tokenizer *t) { return t->bos_id; }
int32_t tok_eos_id(const tok_tokenizer *t) { return t->eos_id; }

int tok_is_special(const tok_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && (t->pieces[id].flags & TOK_F_SPECIAL);
}

int tok_is_eog(const tok_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && (id == t->eos_id || (t->pieces[id].flags & TOK_F_EOG));
}

const char *tok_token_text(const tok_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab || (t->pieces[id].flags & TOK_F_HOLE)) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->pieces[id].len;
    return t->text + t->pieces[id].off;
}

int32_t tok_token_id(const tok_tokenizer *t, const char *text, size_t len) {
    int32_t id = tok_map_get(&t->added_by_text, text, len);
    return id >= 0 ? id : tok_map_get(&t->vocab, text, len);
}
