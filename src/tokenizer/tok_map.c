/* tok_map.c — the hash maps the tokenizer looks things up in: byte string -> id (vocabulary,
 * added tokens) and id pair -> merge (BPE). Open addressing with linear probing, load <= 1/2. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

/* A multiply-xorshift hash over 8-byte words: fast on short keys, good enough spread for a
 * power-of-two table. */
uint32_t tok_hash_bytes(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) w |= (uint64_t)s[i] << (8 * i);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    return (uint32_t)h;
}

static lm_status map_grow_slots(tok_map *m) {
    uint32_t cap = m->slots ? (m->mask + 1) * 2 : 64;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return LM_ERR_NOMEM;
    for (uint32_t e = 0; e < m->n; e++) {
        uint32_t i = m->entries[e].hash & (cap - 1);
        while (slots[i]) i = (i + 1) & (cap - 1);
        slots[i] = e + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->mask = cap - 1;
    return LM_OK;
}

static uint32_t *map_find_slot(const tok_map *m, const char *key, size_t len, uint32_t h) {
    uint32_t i = h & m->mask;
    for (;;) {
        uint32_t e = m->slots[i];
        if (!e) return &m->slots[i];
        const struct tok_map_entry *en = &m->entries[e - 1];
        if (en->hash == h && en->len == len && memcmp(m->keys + en->off, key, len) == 0)
            return &m->slots[i];
        i = (i + 1) & m->mask;
    }
}

lm_status tok_map_put(tok_map *m, const char *key, size_t len, int32_t val) {
    if (len > UINT32_MAX / 2 || m->keys_len > UINT32_MAX / 2) return LM_ERR_LIMIT;
    if (!m->slots || (m->n + 1) * 2 > m->mask + 1) LM_TRY(map_grow_slots(m));
    uint32_t h = tok_hash_bytes(key, len);
    uint32_t *slot = map_find_slot(m, key, len, h);
    if (*slot) {
        m->entries[*slot - 1].val = val;
        return LM_OK;
    }
    if (m->n == m->cap_entries) {
        uint32_t cap = m->cap_entries ? m->cap_entries * 2 : 64;
        void *p = realloc(m->entries, cap * sizeof *m->entries);
        if (!p) return LM_ERR_NOMEM;
        m->entries = p;
        m->cap_entries = cap;
    }
    if (m->keys_len + len > m->keys_cap) {
        size_t cap = m->keys_cap ? m->keys_cap : 1024;
        while (cap < m->keys_len + len) cap *= 2;
        char *p = realloc(m->keys, cap);
        if (!p) return LM_ERR_NOMEM;
        m->keys = p;
        m->keys_cap = cap;
    }
    if (len) memcpy(m->keys + m->keys_len, key, len);
    m->entries[m->n] = (struct tok_map_entry){(uint32_t)m->keys_len, (uint32_t)len, val, h};
    m->keys_len += len;
    m->n++;
    *slot = m->n;
    return LM_OK;
}

int32_t tok_map_get(const tok_map *m, const char *key, size_t len) {
    if (!m->slots) return -1;
    uint32_t *slot = map_find_slot(m, key, len, tok_hash_bytes(key, len));
    return *slot ? m->entries[*slot - 1].val : -1;
}

void tok_map_fini(tok_map *m) {
    free(m->keys);
    free(m->entries);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- pair map */

static uint64_t pair_key(int32_t a, int32_t b) {
    /* +1 on each half keeps key 0 free to mean "empty" (ids are >= 0) */
    return ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
}

static uint32_t pair_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDull;
    k ^= k >> 33;
    return (uint32_t)k;
}

lm_status tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id) {
    if (!m->slots || (m->n + 1) * 2 > m->mask + 1) {
        uint32_t cap = m->slots ? (m->mask + 1) * 2 : 1024;
        struct tok_pair_slot *s = calloc(cap, sizeof *s);
        if (!s) return LM_ERR_NOMEM;
        for (uint32_t i = 0; m->slots && i <= m->mask; i++) {
            if (!m->slots[i].key) continue;
            uint32_t j = pair_hash(m->slots[i].key) & (cap - 1);
            while (s[j].key) j = (j + 1) & (cap - 1);
            s[j] = m->slots[i];
        }
        free(m->slots);
        m->slots = s;
        m->mask = cap - 1;
    }
    uint64_t k = pair_key(a, b);
    uint32_t j = pair_hash(k) & m->mask;
    while (m->slots[j].key && m->slots[j].key != k) j = (j + 1) & m->mask;
    /* a pair listed twice keeps its last rank, as Hugging Face's map construction does */
    if (!m->slots[j].key) m->n++;
    m->slots[j] = (struct tok_pair_slot){k, rank, id};
    return LM_OK;
}

int tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *id) {
    if (!m->slots) return 0;
    uint64_t k = pair_key(a, b);
    uint32_t j = pair_hash(k) & m->mask;
    for (;;) {
        const struct tok_pair_slot *s = &m->slots[j];
        if (!s->key) return 0;
        if (s->key == k) {
            *rank = s->rank;
            *id = s->id;
            return 1;
        }
        j = (j + 1) & m->mask;
    }
}

void tok_pairmap_fini(tok_pairmap *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}
