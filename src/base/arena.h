/* arena.h — the one bump allocator of the program: memory that lives and dies together, freed in
 * one call. The template engine takes one per compiled template (AST, literals) and one per
 * render (values, strings, scopes); the pbtxt reader one per document.
 *
 * Allocations are 16-byte aligned and never freed one by one. An optional byte limit makes an
 * allocation fail once the arena has taken that much from malloc; `over_limit` then tells a
 * limit from a real out-of-memory. Not thread-safe: one arena belongs to one thread at a time. */
#ifndef LM_BASE_ARENA_H
#define LM_BASE_ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk;

typedef struct {
    arena_chunk *head;  /* newest chunk; older ones follow */
    char *cur, *end;  /* free space in the newest chunk */
    char *last;       /* start of the most recent allocation (for in-place growth) */
    size_t taken;     /* bytes obtained from malloc so far */
    size_t limit;     /* 0: unlimited */
    int over_limit;   /* an allocation failed because of `limit` */
} lm_arena;

/* Starts an empty arena that may take at most `limit` bytes (0: no limit). */
void arena_init(lm_arena *a, size_t limit);

/* Returns `n` bytes (uninitialised), or NULL when memory or the limit runs out. */
void *arena_alloc(lm_arena *a, size_t n);

/* Returns `n` zeroed bytes, or NULL. */
void *arena_zalloc(lm_arena *a, size_t n);

/* Copies `n` bytes and adds a NUL; NULL on failure. */
char *arena_strdup(lm_arena *a, const char *s, size_t n);

/* Grows the block `p` (of `old` bytes, from this arena) to `n` bytes, in place when it is the
 * most recent allocation, else by copying. Returns the block or NULL (then `p` is unchanged). */
void *arena_grow(lm_arena *a, void *p, size_t old, size_t n);

/* Frees every chunk; the arena is empty and reusable with the same limit. */
void arena_fini(lm_arena *a);

#endif
