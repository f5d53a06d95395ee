/* tests/fuzz/fuzz_gguf.c — libFuzzer target for the GGUF reader (src/model/gguf.c).
 *
 * Parses the input; when it parses, walks every metadata value (arrays both sequentially and by
 * index, nested arrays recursively), every getter, every lookup and every tensor's bytes, and
 * checks that what the reader promises holds (counts, lookups, data inside the input). A broken
 * promise aborts so the fuzzer records it; a rejected input must carry a message.
 * tests/model/test_gguf.c includes this file to reuse walk_gguf() on mutated models. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "compute/quant.h"
#include "model/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Reading into a volatile sink keeps the compiler from dropping loads ASan must see. */
static volatile unsigned fuzz_sink;

static void touch(const void *p, uint64_t n) {
    const unsigned char *b = p;
    if (n == 0) return;
    fuzz_sink += b[0];
    fuzz_sink += b[n - 1];
}

static int same_value(const gguf_value *a, const gguf_value *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case GGUF_TYPE_STRING: return a->v.str.ptr == b->v.str.ptr && a->v.str.len == b->v.str.len;
    case GGUF_TYPE_ARRAY:
        return a->v.arr.elem == b->v.arr.elem && a->v.arr.n == b->v.arr.n &&
               a->v.arr.data == b->v.arr.data && a->v.arr.size == b->v.arr.size;
    case GGUF_TYPE_FLOAT32:
    case GGUF_TYPE_FLOAT64: return memcmp(&a->v.f64, &b->v.f64, sizeof a->v.f64) == 0;
    default: return a->v.u64 == b->v.u64; /* ints and bools share the 64-bit slot */
    }
}

static void walk_value(const gguf_value *v, int depth);

static void walk_array(const gguf_value *a, int depth) {
    FUZZ_CHECK(depth <= LM_GGUF_MAX_ARRAY_DEPTH);
    FUZZ_CHECK(a->v.arr.elem < GGUF_TYPE_COUNT);
    touch(a->v.arr.data, a->v.arr.size);
    gguf_array_iter it = gguf_array_begin(a);
    gguf_value e;
    uint64_t n = 0;
    while (gguf_array_next(&it, &e)) {
        FUZZ_CHECK(e.type == a->v.arr.elem);
        /* Random access is O(i) for strings: compare a few elements, not all. */
        if (n < 3 || n + 1 == a->v.arr.n) {
            gguf_value g = gguf_array_get(a, n);
            FUZZ_CHECK(same_value(&g, &e));
        }
        walk_value(&e, depth);
        n++;
    }
    FUZZ_CHECK(n == a->v.arr.n);
    FUZZ_CHECK(it.p == a->v.arr.data + a->v.arr.size);
    FUZZ_CHECK(gguf_array_get(a, n).type == GGUF_TYPE_COUNT);
}

static void walk_value(const gguf_value *v, int depth) {
    switch (v->type) {
    case GGUF_TYPE_STRING: touch(v->v.str.ptr, v->v.str.len); break;
    case GGUF_TYPE_ARRAY: walk_array(v, depth + 1); break;
    case GGUF_TYPE_BOOL: FUZZ_CHECK(v->v.u64 <= 1); break;
    default: FUZZ_CHECK(v->type < GGUF_TYPE_COUNT); break;
    }
}

/* NUL-terminated copy of a view, or NULL when it holds a NUL (then no C string can name it). */
static char *cstr_of(gguf_str s) {
    if (memchr(s.ptr, 0, (size_t)s.len)) return NULL;
    char *c = malloc((size_t)s.len + 1);
    FUZZ_CHECK(c);
    memcpy(c, s.ptr, (size_t)s.len);
    c[s.len] = '\0';
    return c;
}

/* A getter may succeed or refuse the type, but never report a present key as absent. */
static void check_getter(lm_status s, const lm_error *err) {
    FUZZ_CHECK(s != LM_ERR_NOT_FOUND);
    if (s != LM_OK) FUZZ_CHECK(err->code == s && err->msg[0] != '\0');
}

static void walk_getters(const gguf_file *f, const gguf_kv *kv, const char *key) {
    lm_error err;
    uint32_t u32;
    uint64_t u64;
    float f32;
    int b;
    gguf_str s;
    gguf_value v;
    err_clear(&err);
    check_getter(gguf_get_u32(f, key, &u32, &err), &err);
    err_clear(&err);
    check_getter(gguf_get_u64(f, key, &u64, &err), &err);
    err_clear(&err);
    check_getter(gguf_get_f32(f, key, &f32, &err), &err);
    err_clear(&err);
    check_getter(gguf_get_bool(f, key, &b, &err), &err);
    err_clear(&err);
    check_getter(gguf_get_str(f, key, &s, &err), &err);
    err_clear(&err);
    lm_status st = gguf_get_array(f, key, GGUF_TYPE_COUNT, &v, &err);
    check_getter(st, &err);
    FUZZ_CHECK((st == LM_OK) == (kv->value.type == GGUF_TYPE_ARRAY));
}

/* Walks everything a parsed file exposes; `data`/`size` are the bytes it was parsed from. */
static void walk_gguf(const gguf_file *f, const unsigned char *data, size_t size) {
    FUZZ_CHECK(gguf_version(f) == 2 || gguf_version(f) == 3);
    uint32_t align = gguf_alignment(f);
    FUZZ_CHECK(align != 0 && (align & (align - 1)) == 0);
    uint64_t data_off = gguf_data_offset(f);
    FUZZ_CHECK(data_off % align == 0);

    size_t n_kv = gguf_kv_count(f);
    for (size_t i = 0; i < n_kv; i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        FUZZ_CHECK(kv && kv->key.len > 0);
        touch(kv->key.ptr, kv->key.len);
        walk_value(&kv->value, 0);
        char *key = cstr_of(kv->key);
        if (key) {
            FUZZ_CHECK(gguf_find(f, key) == kv);
            FUZZ_CHECK(gguf_str_eq(kv->key, key));
            walk_getters(f, kv, key);
            free(key);
        }
    }
    FUZZ_CHECK(gguf_kv_at(f, n_kv) == NULL);

    size_t n_t = gguf_tensor_count(f);
    for (size_t i = 0; i < n_t; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        FUZZ_CHECK(t && t->name.len > 0);
        FUZZ_CHECK(t->n_dims >= 1 && t->n_dims <= 4);
        FUZZ_CHECK(ggml_type_name(t->type) != NULL);
        uint64_t nbytes;
        if ((unsigned)t->type >= LM_TYPE_FIRST) { /* lmserve's types: sized by their row layout */
            FUZZ_CHECK(t->ne[0] % (uint64_t)quant_row_multiple(t->type) == 0);
            nbytes = quant_row_bytes(t->type, (int64_t)t->ne[0]);
        } else {
            uint32_t be = ggml_block_elems(t->type), bb = ggml_block_bytes(t->type);
            FUZZ_CHECK(be && bb);
            FUZZ_CHECK(t->ne[0] % be == 0);
            nbytes = t->ne[0] / be * bb;
        }
        for (int d = 0; d < 4; d++) {
            FUZZ_CHECK(t->ne[d] > 0);
            if (d > 0) nbytes *= t->ne[d]; /* cannot wrap: the reader checked */
            if (d >= (int)t->n_dims) FUZZ_CHECK(t->ne[d] == 1);
        }
        FUZZ_CHECK(nbytes == t->nbytes);
        FUZZ_CHECK(t->offset % align == 0);
        const unsigned char *p = t->data;
        FUZZ_CHECK(p == data + data_off + t->offset);
        FUZZ_CHECK(p >= data && t->nbytes <= size && (size_t)(p - data) <= size - t->nbytes);
        touch(p, t->nbytes);
        char *name = cstr_of(t->name);
        if (name) {
            FUZZ_CHECK(gguf_find_tensor(f, name) == t);
            free(name);
        }
    }
    FUZZ_CHECK(gguf_tensor_at(f, n_t) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *f = NULL;
    lm_error err;
    err_clear(&err);
    lm_status s = gguf_parse(data, size, &f, &err);
    if (s == LM_OK) {
        FUZZ_CHECK(f != NULL);
        walk_gguf(f, data, size);
        gguf_close(f);
    } else {
        FUZZ_CHECK(f == NULL && err.code == s && err.msg[0] != '\0');
    }
    return 0;
}
