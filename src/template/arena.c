/* arena.c — chunked bump allocation with a byte limit; big requests get a chunk of their own. */
#include "template/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16
#define ARENA_CHUNK (64u * 1024u)  /* default chunk; a small template fits in one or two */

struct tpl_chunk {
    tpl_chunk *next;
    size_t size;  /* usable bytes after the header */
    _Alignas(16) char data[];
};

void tpl_arena_init(tpl_arena *a, size_t limit) {
    memset(a, 0, sizeof *a);
    a->limit = limit;
}

static size_t align_up(size_t n) { return (n + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1); }

static int arena_add_chunk(tpl_arena *a, size_t need) {
    size_t size = need > ARENA_CHUNK ? need : ARENA_CHUNK;
    if (size > SIZE_MAX - sizeof(tpl_chunk)) return 0;
    if (a->limit && (a->taken > a->limit || size + sizeof(tpl_chunk) > a->limit - a->taken)) {
        a->over_limit = 1;
        return 0;
    }
    tpl_chunk *c = malloc(sizeof(tpl_chunk) + size);
    if (!c) return 0;
    c->next = a->head;
    c->size = size;
    a->head = c;
    a->cur = c->data;
    a->end = c->data + size;
    a->taken += sizeof(tpl_chunk) + size;
    return 1;
}

void *tpl_arena_alloc(tpl_arena *a, size_t n) {
    if (n > SIZE_MAX - ARENA_ALIGN) return NULL;
    size_t need = align_up(n ? n : 1);
    if ((size_t)(a->end - a->cur) < need && !arena_add_chunk(a, need)) return NULL;
    void *p = a->cur;
    a->cur += need;
    a->last = p;
    return p;
}

void *tpl_arena_zalloc(tpl_arena *a, size_t n) {
    void *p = tpl_arena_alloc(a, n);
    if (p) memset(p, 0, n);
    return p;
}

char *tpl_arena_strdup(tpl_arena *a, const char *s, size_t n) {
    if (n == SIZE_MAX) return NULL;
    char *p = tpl_arena_alloc(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *tpl_arena_grow(tpl_arena *a, void *p, size_t old, size_t n) {
    if (n <= old) return p;
    if (p && p == a->last && n <= SIZE_MAX - ARENA_ALIGN) {
        size_t need = align_up(n);
        if ((size_t)(a->end - (char *)p) >= need) {  /* extend the newest allocation in place */
            a->cur = (char *)p + need;
            return p;
        }
    }
    void *q = tpl_arena_alloc(a, n);
    if (!q) return NULL;
    if (old) memcpy(q, p, old);
    return q;
}

void tpl_arena_fini(tpl_arena *a) {
    tpl_chunk *c = a->head;
    while (c) {
        tpl_chunk *next = c->next;
        free(c);
        c = next;
    }
    size_t limit = a->limit;
    tpl_arena_init(a, limit);
}
