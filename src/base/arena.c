/* arena.c — chunked bump allocation with a byte limit; big requests get a chunk of their own. */
#include "base/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16
#define ARENA_CHUNK (64u * 1024u)  /* default chunk; a small template fits in one or two */

struct arena_chunk {
    arena_chunk *next;
    size_t size;  /* usable bytes after the header */
    _Alignas(16) char data[];
};

void arena_init(lm_arena *a, size_t limit) {
    memset(a, 0, sizeof *a);
    a->limit = limit;
}

static size_t align_up(size_t n) { return (n + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1); }

static int arena_add_chunk(lm_arena *a, size_t need) {
    size_t size = need > ARENA_CHUNK ? need : ARENA_CHUNK;
    if (size > SIZE_MAX - sizeof(arena_chunk)) return 0;
    if (a->limit && (a->taken > a->limit || size + sizeof(arena_chunk) > a->limit - a->taken)) {
        a->over_limit = 1;
        return 0;
    }
    arena_chunk *c = malloc(sizeof(arena_chunk) + size);
    if (!c) return 0;
    c->next = a->head;
    c->size = size;
    a->head = c;
    a->cur = c->data;
    a->end = c->data + size;
    a->taken += sizeof(arena_chunk) + size;
    return 1;
}

void *arena_alloc(lm_arena *a, size_t n) {
    if (n > SIZE_MAX - ARENA_ALIGN) return NULL;
    size_t need = align_up(n ? n : 1);
    if ((size_t)(a->end - a->cur) < need && !arena_add_chunk(a, need)) return NULL;
    void *p = a->cur;
    a->cur += need;
    a->last = p;
    return p;
}

void *arena_zalloc(lm_arena *a, size_t n) {
    void *p = arena_alloc(a, n);
    if (p) memset(p, 0, n);
    return p;
}

char *arena_strdup(lm_arena *a, const char *s, size_t n) {
    if (n == SIZE_MAX) return NULL;
    char *p = arena_alloc(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *arena_grow(lm_arena *a, void *p, size_t old, size_t n) {
    if (n <= old) return p;
    if (p && p == a->last && n <= SIZE_MAX - ARENA_ALIGN) {
        size_t need = align_up(n);
        if ((size_t)(a->end - (char *)p) >= need) {  /* extend the newest allocation in place */
            a->cur = (char *)p + need;
            return p;
        }
    }
    void *q = arena_alloc(a, n);
    if (!q) return NULL;
    if (old) memcpy(q, p, old);
    return q;
}

void arena_fini(lm_arena *a) {
    arena_chunk *c = a->head;
    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    size_t limit = a->limit;
    arena_init(a, limit);
}
