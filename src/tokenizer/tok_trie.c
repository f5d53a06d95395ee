/* tok_trie.c — byte trie over the added tokens' strings, for leftmost-longest matching.
 *
 * Edges live in one hash table keyed by (node, byte), so a node costs no more than its edges and
 * a step is one probe. A scan tries each start position and walks at most max_len bytes, so
 * matching is linear in the text (times the longest added token, tens of bytes). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

static uint32_t edge_hash(uint32_t key) {
    key *= 0x9E3779B1u;
    return key ^ (key >> 15);
}

static lm_status trie_grow_edges(tok_trie *tr) {
    uint32_t cap = tr->edges ? (tr->mask + 1) * 2 : 256;
    struct tok_trie_edge *e = calloc(cap, sizeof *e);
    if (!e) return LM_ERR_NOMEM;
    for (uint32_t i = 0; tr->edges && i <= tr->mask; i++) {
        if (!tr->edges[i].key) continue;
        uint32_t j = edge_hash(tr->edges[i].key) & (cap - 1);
        while (e[j].key) j = (j + 1) & (cap - 1);
        e[j] = tr->edges[i];
    }
    free(tr->edges);
    tr->edges = e;
    tr->mask = cap - 1;
    return LM_OK;
}

static lm_status trie_new_node(tok_trie *tr, uint32_t *out) {
    if (tr->n_nodes == tr->cap_nodes) {
        uint32_t cap = tr->cap_nodes ? tr->cap_nodes * 2 : 64;
        int32_t *p = realloc(tr->node_id, cap * sizeof *p);
        if (!p) return LM_ERR_NOMEM;
        tr->node_id = p;
        tr->cap_nodes = cap;
    }
    tr->node_id[tr->n_nodes] = -1;
    *out = tr->n_nodes++;
    return LM_OK;
}

static uint32_t trie_child(const tok_trie *tr, uint32_t node, unsigned char b) {
    uint32_t key = (node << 8 | b) + 1;
    uint32_t j = edge_hash(key) & tr->mask;
    for (;;) {
        if (!tr->edges[j].key) return 0;
        if (tr->edges[j].key == key) return tr->edges[j].child;
        j = (j + 1) & tr->mask;
    }
}

lm_status tok_trie_add(tok_trie *tr, const char *s, size_t len, int32_t id) {
    if (len == 0) return LM_OK; /* an empty token can never be matched */
    if (tr->n_nodes == 0) {
        uint32_t root;
        LM_TRY(trie_new_node(tr, &root));
    }
    if (tr->n_nodes + len >= (1u << 23)) return LM_ERR_LIMIT; /* node << 8 must fit 31 bits */
    uint32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        uint32_t child = tr->edges ? trie_child(tr, node, b) : 0;
        if (!child) {
            if (!tr->edges || (tr->n_edges + 1) * 2 > tr->mask + 1) LM_TRY(trie_grow_edges(tr));
            LM_TRY(trie_new_node(tr, &child));
            uint32_t key = (node << 8 | b) + 1;
            uint32_t j = edge_hash(key) & tr->mask;
            while (tr->edges[j].key) j = (j + 1) & tr->mask;
            tr->edges[j] = (struct tok_trie_edge){key, child};
            tr->n_edges++;
        }
        node = child;
    }
    /* the first token added with a given string keeps it (loaders add in id order) */
    if (tr->node_id[node] < 0) tr->node_id[node] = id;
    tr->first[(unsigned char)s[0]] = 1;
    if (len > tr->max_len) tr->max_len = len;
    return LM_OK;
}

int32_t tok_trie_longest(const tok_trie *tr, const char *s, size_t n, size_t *len) {
    if (n == 0 || !tr->n_nodes || !tr->first[(unsigned char)s[0]]) return -1;
    uint32_t node = 0;
    int32_t best = -1;
    for (size_t i = 0; i < n; i++) {
        node = trie_child(tr, node, (unsigned char)s[i]);
        if (!node) break;
        if (tr->node_id[node] >= 0) {
            best = tr->node_id[node];
            *len = i + 1;
        }
    }
    return best;
}

void tok_trie_fini(tok_trie *tr) {
    free(tr->edges);
    free(tr->node_id);
    memset(tr, 0, sizeof *tr);
}
