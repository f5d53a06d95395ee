/* prefix_cache.h — private to src/serving: full KV blocks of earlier prompts, found again by
 * their tokens, so a prompt that starts the same way skips recomputing that part.
 *
 * An entry is one full block: the block_size tokens it holds, its parent entry (the block before
 * it in the prompt) and the KV block id, which the cache retains in the engine. Lookups walk the
 * chain from the first block, so a match is always a true prefix (tokens compared, not only
 * hashed). When the pool runs short, the least recently used leaves held by nobody but the cache
 * are evicted. Used by the generation loop thread only. */
#ifndef LM_SERVING_PREFIX_CACHE_H
#define LM_SERVING_PREFIX_CACHE_H

#include <stdint.h>

#include "engine/engine.h"

typedef struct prefix_cache prefix_cache;

/* A cache for at most max_entries blocks of block_size tokens; NULL when out of memory. */
prefix_cache *prefix_cache_create(int max_entries, int block_size);
/* Releases every retained block in `e` and frees the cache. Accepts NULL. */
void prefix_cache_destroy(prefix_cache *c, engine *e);

/* The longest cached chain matching tokens[0 .. n_blocks * block_size): writes its block ids to
 * out and returns how many (<= n_blocks). Marks them recently used. */
int prefix_cache_match(prefix_cache *c, const int32_t *tokens, int n_blocks, int *out);

/* Caches the first n_blocks full blocks of a prompt whose KV lives in blocks[] (the sequence's
 * block table), retaining each new one in `e`. Blocks already cached are left as they are; when
 * the cache is full the rest is skipped. */
void prefix_cache_insert(prefix_cache *c, engine *e, const int32_t *tokens, int n_blocks,
                         const int *blocks);

/* Evicts least recently used entries that no sequence uses and that have no cached children,
 * until `want` blocks went back to the pool or none is left; returns how many. */
int prefix_cache_evict(prefix_cache *c, engine *e, int want);

/* Entries (= retained blocks) held now. */
int prefix_cache_size(const prefix_cache *c);

#endif
