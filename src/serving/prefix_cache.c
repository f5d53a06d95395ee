/* prefix_cache.c — chained full-block entries in a hash table keyed by (parent, tokens). */
#include "serving/prefix_cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int used;
    int parent;          /* entry index of the block before, -1 for a prompt's first block */
    int block;           /* the KV block, retained in the engine */
    int children;        /* cached entries whose parent this is */
    uint64_t key;        /* hash of (parent key, tokens) */
    uint64_t last_used;
    int next;            /* next entry in the same bucket, -1 ends */
} entry;

struct prefix_cache {
    int cap, size, block_size, n_buckets;
    uint64_t clock;
    entry *e;
    int32_t *tokens;     /* (cap, block_size) */
    int *buckets;        /* heads of chains, -1 empty */
    int free_head;       /* unused entries, linked through next */
};

static uint64_t hash_block(uint64_t parent_key, const int32_t *t, int n) {
    uint64_t h = parent_key ^ 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < n; i++) {
        h ^= (uint32_t)t[i];
        h *= 0x100000001b3ull; /* FNV-style mixing per token */
        h ^= h >> 29;
    }
    return h;
}

prefix_cache *prefix_cache_create(int max_entries, int block_size) {
    if (max_entries < 1 || block_size < 1) return NULL;
    prefix_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cap = max_entries;
    c->block_size = block_size;
    c->n_buckets = 1;
    while (c->n_buckets < 2 * max_entries) c->n_buckets *= 2;
    c->e = calloc((size_t)max_entries, sizeof *c->e);
    c->tokens = malloc((size_t)max_entries * (size_t)block_size * sizeof *c->tokens);
    c->buckets = malloc((size_t)c->n_buckets * sizeof *c->buckets);
    if (!c->e || !c->tokens || !c->buckets) {
        prefix_cache_destroy(c, NULL);
        return NULL;
    }
    for (int i = 0; i < c->n_buckets; i++) c->buckets[i] = -1;
    for (int i = 0; i < max_entries; i++) c->e[i].next = i + 1 < max_entries ? i + 1 : -1;
    c->free_head = 0;
    return c;
}

void prefix_cache_destroy(prefix_cache *c, engine *e) {
    if (!c) return;
    if (e && c->e)
        for (int i = 0; i < c->cap; i++)
            if (c->e[i].used) engine_block_release(e, c->e[i].block);
    free(c->e);
    free(c->tokens);
    free(c->buckets);
    free(c);
}

int prefix_cache_size(const prefix_cache *c) { return c ? c->size : 0; }

/* The entry for (parent, tokens), or -1. */
static int find(const prefix_cache *c, int parent, uint64_t key, const int32_t *t) {
    for (int i = c->buckets[key & (uint64_t)(c->n_buckets - 1)]; i >= 0; i = c->e[i].next) {
        const entry *x = &c->e[i];
        if (x->key == key && x->parent == parent &&
            memcmp(c->tokens + (size_t)i * c->block_size, t, (size_t)c->block_size * sizeof *t) == 0)
            return i;
    }
    return -1;
}

int prefix_cache_match(prefix_cache *c, const int32_t *tokens, int n_blocks, int *out) {
    int parent = -1, n = 0;
    uint64_t key = 0;
    for (; n < n_blocks; n++) {
        const int32_t *t = tokens + (size_t)n * c->block_size;
        key = hash_block(key, t, c->block_size);
        int i = find(c, parent, key, t);
        if (i < 0) break;
        c->e[i].last_used = ++c->clock;
        out[n] = c->e[i].block;
        parent = i;
    }
    return n;
}

void prefix_cache_insert(prefix_cache *c, engine *e, const int32_t *tokens, int n_blocks,
                         const int *blocks) {
    int parent = -1;
    uint64_t key = 0;
    for (int n = 0; n < n_blocks; n++) {
        const int32_t *t = tokens + (size_t)n * c->block_size;
        key = hash_block(key, t, c->block_size);
        int i = find(c, parent, key, t);
        if (i < 0) {
            if (c->free_head < 0) return; /* full: keep what is there */
            i = c->free_head;
            c->free_head = c->e[i].next;
            entry *x = &c->e[i];
            x->used = 1;
            x->parent = parent;
            x->block = blocks[n];
            x->children = 0;
            x->key = key;
            memcpy(c->tokens + (size_t)i * c->block_size, t, (size_t)c->block_size * sizeof *t);
            size_t b = key & (uint64_t)(c->n_buckets - 1);
            x->next = c->buckets[b];
            c->buckets[b] = i;
            if (parent >= 0) c->e[parent].children++;
            engine_block_retain(e, blocks[n]);
            c->size++;
        }
        c->e[i].last_used = ++c->clock;
        parent = i;
    }
}

static void remove_entry(prefix_cache *c, engine *e, int i) {
    entry *x = &c->e[i];
    size_t b = x->key & (uint64_t)(c->n_buckets - 1);
    for (int *p = &c->buckets[b]; *p >= 0; p = &c->e[*p].next) {
        if (*p == i) {
            *p = x->next;
            break;
        }
    }
    if (x->parent >= 0) c->e[x->parent].children--;
    engine_block_release(e, x->block);
    x->used = 0;
    x->next = c->free_head;
    c->free_head = i;
    c->size--;
}

int prefix_cache_evict(prefix_cache *c, engine *e, int want) {
    int freed = 0;
    while (freed < want) {
        int best = -1;
        for (int i = 0; i < c->cap; i++) {
            const entry *x = &c->e[i];
            if (x->used && x->children == 0 && engine_block_refs(e, x->block) == 1 &&
                (best < 0 || x->last_used < c->e[best].last_used))
                best = i;
        }
        if (best < 0) break;
        remove_entry(c, e, best);
        freed++;
    }
    return freed;
}
