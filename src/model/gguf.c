/* gguf.c — GGUF reader: one validating pass over the mapped bytes, then O(1)/O(log n) views.
 *
 * The format is laid out in gguf.h. Parsing is a bounds-checked cursor: every read first checks
 * what remains, every count is checked against limits.h and against the bytes that remain before
 * anything is allocated from it, so a hostile file costs at most memory proportional to its size.
 * Key and tensor-name uniqueness is checked by sorting (O(n log n) whatever the names; a hash
 * table could be driven quadratic by crafted names). The sorted arrays then serve the lookups. */
#include "model/gguf.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/mapfile.h"
#include "compute/quant.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_ALIGNMENT_KEY "general.alignment"

/* Smallest encodings, used to bound counts by the bytes that remain before allocating:
 * a kv is key length (8) + value type (4) + a 1-byte value; a tensor info is name length (8) +
 * n_dims (4) + one dimension (8) + type (4) + offset (8); a nested array is type (4) + count
 * (8). */
#define MIN_KV_BYTES 13u
#define MIN_TENSOR_BYTES 32u
#define MIN_STRING_BYTES 8u
#define MIN_ARRAY_BYTES 12u

/* Names in messages are cut to this many bytes so one message stays readable. */
#define SHOW_MAX 80

struct gguf_file {
    _Atomic int refs;                   /* gguf_retain / gguf_close */
    lm_mapfile map;                     /* owned mapping (gguf_open); zeroed for gguf_parse */
    const unsigned char *base;          /* the parsed bytes */
    size_t size;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;               /* start of the tensor data section */
    gguf_kv *kv;                        /* n_kv, file order */
    size_t n_kv;
    const gguf_kv **kv_sorted;          /* n_kv, by key bytes: lookup and uniqueness */
    gguf_tensor *tensors;               /* n_tensors, file order */
    size_t n_tensors;
    const gguf_tensor **tensors_sorted; /* n_tensors, by name bytes */
};

/* ---------------------------------------------------------------------------------------------
 * Type tables
 * ------------------------------------------------------------------------------------------- */

/* Bytes of a fixed-size metadata value; 0 for STRING and ARRAY (variable). */
static const uint8_t value_fixed_size[GGUF_TYPE_COUNT] = {
    [GGUF_TYPE_UINT8] = 1,   [GGUF_TYPE_INT8] = 1,    [GGUF_TYPE_UINT16] = 2,
    [GGUF_TYPE_INT16] = 2,   [GGUF_TYPE_UINT32] = 4,  [GGUF_TYPE_INT32] = 4,
    [GGUF_TYPE_FLOAT32] = 4, [GGUF_TYPE_BOOL] = 1,    [GGUF_TYPE_STRING] = 0,
    [GGUF_TYPE_ARRAY] = 0,   [GGUF_TYPE_UINT64] = 8,  [GGUF_TYPE_INT64] = 8,
    [GGUF_TYPE_FLOAT64] = 8,
};

static const char *const value_type_names[GGUF_TYPE_COUNT] = {
    [GGUF_TYPE_UINT8] = "uint8",     [GGUF_TYPE_INT8] = "int8",     [GGUF_TYPE_UINT16] = "uint16",
    [GGUF_TYPE_INT16] = "int16",     [GGUF_TYPE_UINT32] = "uint32", [GGUF_TYPE_INT32] = "int32",
    [GGUF_TYPE_FLOAT32] = "float32", [GGUF_TYPE_BOOL] = "bool",     [GGUF_TYPE_STRING] = "string",
    [GGUF_TYPE_ARRAY] = "array",     [GGUF_TYPE_UINT64] = "uint64", [GGUF_TYPE_INT64] = "int64",
    [GGUF_TYPE_FLOAT64] = "float64",
};

static const char *value_type_name(uint32_t t) {
    return t < GGUF_TYPE_COUNT ? value_type_names[t] : "unknown";
}

/* Block geometry per ggml type; a NULL name marks a number we do not accept. Regenerate from
 * ggml's type_traits (blck_size, type_size) when adding a type. */
typedef struct {
    const char *name;
    uint32_t block_elems;
    uint32_t block_bytes;
} type_info;

static const type_info ggml_types[GGML_TYPE_COUNT] = {
    [GGML_TYPE_F32] = {"f32", 1, 4},        [GGML_TYPE_F16] = {"f16", 1, 2},
    [GGML_TYPE_Q4_0] = {"q4_0", 32, 18},    [GGML_TYPE_Q4_1] = {"q4_1", 32, 20},
    [GGML_TYPE_Q5_0] = {"q5_0", 32, 22},    [GGML_TYPE_Q5_1] = {"q5_1", 32, 24},
    [GGML_TYPE_Q8_0] = {"q8_0", 32, 34},    [GGML_TYPE_Q8_1] = {"q8_1", 32, 36},
    [GGML_TYPE_Q2_K] = {"q2_K", 256, 84},   [GGML_TYPE_Q3_K] = {"q3_K", 256, 110},
    [GGML_TYPE_Q4_K] = {"q4_K", 256, 144},  [GGML_TYPE_Q5_K] = {"q5_K", 256, 176},
    [GGML_TYPE_Q6_K] = {"q6_K", 256, 210},  [GGML_TYPE_Q8_K] = {"q8_K", 256, 292},
    [GGML_TYPE_I8] = {"i8", 1, 1},          [GGML_TYPE_I16] = {"i16", 1, 2},
    [GGML_TYPE_I32] = {"i32", 1, 4},        [GGML_TYPE_I64] = {"i64", 1, 8},
    [GGML_TYPE_F64] = {"f64", 1, 8},        [GGML_TYPE_BF16] = {"bf16", 1, 2},
};

static const type_info *ggml_info(uint32_t t) {
    if (t >= GGML_TYPE_COUNT || !ggml_types[t].name) return NULL;
    return &ggml_types[t];
}

const char *ggml_type_name(ggml_type t) {
    const type_info *ti = ggml_info((uint32_t)t);
    if (ti) return ti->name;
    return (unsigned)t >= LM_TYPE_FIRST ? quant_type_name(t) : NULL; /* lmserve's own types */
}

uint32_t ggml_block_elems(ggml_type t) {
    const type_info *ti = ggml_info((uint32_t)t);
    return ti ? ti->block_elems : 0;
}

uint32_t ggml_block_bytes(ggml_type t) {
    const type_info *ti = ggml_info((uint32_t)t);
    return ti ? ti->block_bytes : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Little-endian decoding (byte by byte: the host's order and the data's alignment do not matter)
 * ------------------------------------------------------------------------------------------- */

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p) {
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Two's-complement reinterpretation without implementation-defined conversions. */
static int64_t sign_extend(uint64_t v, unsigned bits) {
    if (bits < 64 && (v >> (bits - 1)) & 1) return -(int64_t)((1ull << bits) - v);
    if (bits == 64 && v > (uint64_t)INT64_MAX) return -(int64_t)(~v) - 1;
    return (int64_t)v;
}

/* Decodes a fixed-size value of type `t` at `p` (already known to be in bounds). */
static void decode_fixed(gguf_type t, const unsigned char *p, gguf_value *v) {
    v->type = t;
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_BOOL: v->v.u64 = p[0]; break;
    case GGUF_TYPE_INT8: v->v.i64 = sign_extend(p[0], 8); break;
    case GGUF_TYPE_UINT16: v->v.u64 = (uint64_t)p[0] | (uint64_t)p[1] << 8; break;
    case GGUF_TYPE_INT16: v->v.i64 = sign_extend((uint64_t)p[0] | (uint64_t)p[1] << 8, 16); break;
    case GGUF_TYPE_UINT32: v->v.u64 = le32(p); break;
    case GGUF_TYPE_INT32: v->v.i64 = sign_extend(le32(p), 32); break;
    case GGUF_TYPE_UINT64: v->v.u64 = le64(p); break;
    case GGUF_TYPE_INT64: v->v.i64 = sign_extend(le64(p), 64); break;
    case GGUF_TYPE_FLOAT32: {
        uint32_t bits = le32(p);
        float x;
        memcpy(&x, &bits, sizeof x);
        v->v.f64 = x;
        break;
    }
    case GGUF_TYPE_FLOAT64: {
        uint64_t bits = le64(p);
        double x;
        memcpy(&x, &bits, sizeof x);
        v->v.f64 = x;
        break;
    }
    default: break; /* callers pass fixed-size types only */
    }
}

/* ---------------------------------------------------------------------------------------------
 * Names in messages
 * ------------------------------------------------------------------------------------------- */

/* Copies a name from the file into `buf` for a message: bytes outside printable ASCII become '?'
 * (messages end up in JSON error bodies and terminals), long names are cut with "...". */
static const char *show(gguf_str s, char *buf, size_t cap) {
    size_t n = s.len < cap - 4 ? (size_t)s.len : cap - 4;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        buf[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (n < s.len) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* ---------------------------------------------------------------------------------------------
 * Cursor over untrusted bytes
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    const unsigned char *base;
    size_t size;
    size_t pos;      /* invariant: pos <= size */
    lm_error *err;
    const char *ctx; /* what is being read, for messages ("key 'general.name'") */
} cursor;

static size_t remaining(const cursor *c) { return c->size - c->pos; }

static lm_status need(cursor *c, size_t n, const char *what) {
    if (remaining(c) >= n) return LM_OK;
    return err_set_at(c->err, LM_ERR_FORMAT, (int64_t)c->pos,
                      "%s: file ends inside %s (needs %zu bytes, %zu remain of file size %zu)",
                      c->ctx, what, n, remaining(c), c->size);
}

static lm_status read_u32(cursor *c, const char *what, uint32_t *out) {
    LM_TRY(need(c, 4, what));
    *out = le32(c->base + c->pos);
    c->pos += 4;
    return LM_OK;
}

static lm_status read_u64(cursor *c, const char *what, uint64_t *out) {
    LM_TRY(need(c, 8, what));
    *out = le64(c->base + c->pos);
    c->pos += 8;
    return LM_OK;
}

static lm_status read_str(cursor *c, const char *what, gguf_str *out) {
    size_t at = c->pos;
    uint64_t len;
    LM_TRY(read_u64(c, what, &len));
    if (len > remaining(c))
        return err_set_at(c->err, LM_ERR_FORMAT, (int64_t)at,
                          "%s: %s length %" PRIu64 " past end of file (%zu bytes remain)", c->ctx,
                          what, len, remaining(c));
    out->ptr = (const char *)c->base + c->pos;
    out->len = len;
    c->pos += (size_t)len;
    return LM_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Metadata values
 * ------------------------------------------------------------------------------------------- */

static lm_status parse_array(cursor *c, int depth, gguf_value *out);

/* Validates one value of `type` (known < GGUF_TYPE_COUNT) at the cursor and steps over it;
 * fills *out unless it is NULL (elements of arrays are validated, not stored). */
static lm_status parse_value(cursor *c, gguf_type type, int depth, gguf_value *out) {
    if (type == GGUF_TYPE_ARRAY) return parse_array(c, depth + 1, out);
    if (type == GGUF_TYPE_STRING) {
        gguf_str s;
        LM_TRY(read_str(c, "string value", &s));
        if (out) {
            out->type = GGUF_TYPE_STRING;
            out->v.str = s;
        }
        return LM_OK;
    }
    size_t n = value_fixed_size[type];
    LM_TRY(need(c, n, value_type_names[type]));
    const unsigned char *p = c->base + c->pos;
    /* Bools must be 0 or 1 so that readers can trust the value (gguf.h promises 0 or 1). */
    if (type == GGUF_TYPE_BOOL && p[0] > 1)
        return err_set_at(c->err, LM_ERR_FORMAT, (int64_t)c->pos,
                          "%s: bool value %u is not 0 or 1", c->ctx, p[0]);
    if (out) decode_fixed(type, p, out);
    c->pos += n;
    return LM_OK;
}

/* An array value: u32 element type | u64 count | elements. `depth` is 1 for a top-level array. */
static lm_status parse_array(cursor *c, int depth, gguf_value *out) {
    size_t at = c->pos;
    if (depth > LM_GGUF_MAX_ARRAY_DEPTH)
        return err_set_at(c->err, LM_ERR_LIMIT, (int64_t)at,
                          "%s: arrays nested deeper than %d levels (LM_GGUF_MAX_ARRAY_DEPTH)",
                          c->ctx, LM_GGUF_MAX_ARRAY_DEPTH);
    uint32_t elem;
    uint64_t n;
    LM_TRY(read_u32(c, "array element type", &elem));
    if (elem >= GGUF_TYPE_COUNT)
        return err_set_at(c->err, LM_ERR_FORMAT, (int64_t)at,
                          "%s: unknown array element type %" PRIu32 " (known: 0..%d)", c->ctx,
                          elem, GGUF_TYPE_COUNT - 1);
    LM_TRY(read_u64(c, "array count", &n));
    size_t start = c->pos;
    size_t rem = remaining(c);
    /* The smallest element bounds the count by the bytes left, before any loop or arithmetic. */
    size_t min_elem = value_fixed_size[elem]   ? value_fixed_size[elem]
                      : elem == GGUF_TYPE_STRING ? MIN_STRING_BYTES
                                                 : MIN_ARRAY_BYTES;
    if (n > rem / min_elem)
        return err_set_at(c->err, LM_ERR_FORMAT, (int64_t)at,
                          "%s: array of %" PRIu64 " %s elements does not fit in the %zu bytes "
                          "that remain",
                          c->ctx, n, value_type_names[elem], rem);
    if (value_fixed_size[elem] && elem != GGUF_TYPE_BOOL) {
        c->pos += (size_t)n * min_elem;
    } else {
        for (uint64_t i = 0; i < n; i++) LM_TRY(parse_value(c, (gguf_type)elem, depth, NULL));
    }
    if (out) {
        out->type = GGUF_TYPE_ARRAY;
        out->v.arr.elem = (gguf_type)elem;
        out->v.arr.n = n;
        out->v.arr.data = c->base + start;
        out->v.arr.size = c->pos - start;
    }
    return LM_OK;
}

/* Bytes of the elements of a validated array body at `p`. Recurses at most
 * LM_GGUF_MAX_ARRAY_DEPTH deep because parsing already enforced the limit. */
static uint64_t array_body_bytes(gguf_type elem, uint64_t n, const unsigned char *p);

static uint64_t value_bytes(gguf_type t, const unsigned char *p) {
    if (t < GGUF_TYPE_COUNT && value_fixed_size[t]) return value_fixed_size[t];
    if (t == GGUF_TYPE_STRING) return MIN_STRING_BYTES + le64(p);
    return MIN_ARRAY_BYTES + array_body_bytes((gguf_type)le32(p), le64(p + 4), p + MIN_ARRAY_BYTES);
}

static uint64_t array_body_bytes(gguf_type elem, uint64_t n, const unsigned char *p) {
    if (value_fixed_size[elem]) return n * value_fixed_size[elem];
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) total += value_bytes(elem, p + total);
    return total;
}

/* Decodes a validated element of type `t` at `p`; returns its size in bytes. */
static uint64_t decode_elem(gguf_type t, const unsigned char *p, gguf_value *v) {
    memset(v, 0, sizeof *v);
    if (value_fixed_size[t]) {
        decode_fixed(t, p, v);
        return value_fixed_size[t];
    }
    v->type = t;
    if (t == GGUF_TYPE_STRING) {
        v->v.str.len = le64(p);
        v->v.str.ptr = (const char *)p + MIN_STRING_BYTES;
        return MIN_STRING_BYTES + v->v.str.len;
    }
    v->v.arr.elem = (gguf_type)le32(p);
    v->v.arr.n = le64(p + 4);
    v->v.arr.data = p + MIN_ARRAY_BYTES;
    v->v.arr.size = array_body_bytes(v->v.arr.elem, v->v.arr.n, v->v.arr.data);
    return MIN_ARRAY_BYTES + v->v.arr.size;
}

static int is_array(const gguf_value *a) {
    return a && a->type == GGUF_TYPE_ARRAY && a->v.arr.elem < GGUF_TYPE_COUNT;
}

gguf_value gguf_array_get(const gguf_value *array, uint64_t i) {
    gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = GGUF_TYPE_COUNT; /* "no value" for a bad index or a non-array */
    if (!is_array(array) || i >= array->v.arr.n) return v;
    gguf_type t = array->v.arr.elem;
    const unsigned char *p = array->v.arr.data;
    if (value_fixed_size[t]) {
        decode_fixed(t, p + i * value_fixed_size[t], &v);
        return v;
    }
    for (uint64_t k = 0; k < i; k++) p += value_bytes(t, p);
    decode_elem(t, p, &v);
    return v;
}

gguf_array_iter gguf_array_begin(const gguf_value *array) {
    gguf_array_iter it = {array, 0, is_array(array) ? array->v.arr.data : NULL};
    return it;
}

/* One step is O(1) except for an element that is itself an array of strings or arrays: its byte
 * size (needed to find the next element) is found by walking it. Walking a whole value therefore
 * stays linear in its bytes, per nesting level. */
int gguf_array_next(gguf_array_iter *it, gguf_value *out) {
    if (!it || !is_array(it->array) || it->i >= it->array->v.arr.n) return 0;
    it->p += decode_elem(it->array->v.arr.elem, it->p, out);
    it->i++;
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * Sorted views for lookup
 * ------------------------------------------------------------------------------------------- */

/* Byte-wise order, shorter first on a common prefix (keys may hold any bytes, even NUL). */
static int str_cmp(const char *a, uint64_t alen, const char *b, uint64_t blen) {
    uint64_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, (size_t)n) : 0;
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

static int cmp_kv(const void *a, const void *b) {
    const gguf_kv *x = *(const gguf_kv *const *)a, *y = *(const gguf_kv *const *)b;
    return str_cmp(x->key.ptr, x->key.len, y->key.ptr, y->key.len);
}

static int cmp_tensor(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return str_cmp(x->name.ptr, x->name.len, y->name.ptr, y->name.len);
}

const gguf_kv *gguf_find(const gguf_file *f, const char *key) {
    if (!f || !key) return NULL;
    size_t klen = strlen(key), lo = 0, hi = f->n_kv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gguf_kv *kv = f->kv_sorted[mid];
        int c = str_cmp(kv->key.ptr, kv->key.len, key, klen);
        if (c == 0) return kv;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    if (!f || !name) return NULL;
    size_t nlen = strlen(name), lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gguf_tensor *t = f->tensors_sorted[mid];
        int c = str_cmp(t->name.ptr, t->name.len, name, nlen);
        if (c == 0) return t;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Parsing: header, metadata, tensor infos, data section
 * ------------------------------------------------------------------------------------------- */

static int64_t offset_of(const gguf_file *f, const void *p) {
    return (int64_t)((const unsigned char *)p - f->base);
}

static lm_status parse_header(gguf_file *f, cursor *c, uint64_t *n_tensors, uint64_t *n_kv) {
    c->ctx = "header";
    if (c->size < 4 || memcmp(c->base, GGUF_MAGIC, 4) != 0) {
        char got[16];
        gguf_str m = {(const char *)c->base, c->size < 4 ? c->size : 4};
        return err_set_at(c->err, LM_ERR_FORMAT, 0,
                          "not a GGUF file: magic is '%s', expected 'GGUF'",
                          c->size ? show(m, got, sizeof got) : "");
    }
    c->pos = 4;
    uint32_t version;
    LM_TRY(read_u32(c, "version", &version));
    if (version == 1)
        return err_set_at(c->err, LM_ERR_UNSUPPORTED, 4,
                          "GGUF version 1 is not supported (only versions 2 and 3)");
    if (version != 2 && version != 3) {
        uint32_t swapped = __builtin_bswap32(version);
        if (swapped >= 1 && swapped <= 3)
            return err_set_at(c->err, LM_ERR_UNSUPPORTED, 4,
                              "GGUF version %" PRIu32 " looks byte-swapped: big-endian files are "
                              "not supported",
                              swapped);
        return err_set_at(c->err, LM_ERR_UNSUPPORTED, 4,
                          "GGUF version %" PRIu32 " is not supported (only versions 2 and 3)",
                          version);
    }
    f->version = version;
    LM_TRY(read_u64(c, "tensor count", n_tensors));
    LM_TRY(read_u64(c, "metadata count", n_kv));
    return LM_OK;
}

static lm_status parse_kvs(gguf_file *f, cursor *c, uint64_t n_kv) {
    c->ctx = "header";
    if (n_kv > LM_GGUF_MAX_KV)
        return err_set_at(c->err, LM_ERR_LIMIT, 16,
                          "metadata count %" PRIu64 " exceeds the limit %u (LM_GGUF_MAX_KV)", n_kv,
                          (unsigned)LM_GGUF_MAX_KV);
    if (n_kv > remaining(c) / MIN_KV_BYTES)
        return err_set_at(c->err, LM_ERR_FORMAT, 16,
                          "metadata count %" PRIu64 " cannot fit in the %zu bytes that remain",
                          n_kv, remaining(c));
    if (n_kv == 0) return LM_OK;
    f->kv = calloc((size_t)n_kv, sizeof *f->kv);
    f->kv_sorted = calloc((size_t)n_kv, sizeof *f->kv_sorted);
    if (!f->kv || !f->kv_sorted)
        return err_set(c->err, LM_ERR_NOMEM, "out of memory for %" PRIu64 " metadata entries",
                       n_kv);

    char ctx[SHOW_MAX + 16], name[SHOW_MAX];
    for (size_t i = 0; i < (size_t)n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        size_t at = c->pos;
        snprintf(ctx, sizeof ctx, "metadata entry #%zu", i);
        c->ctx = ctx;
        LM_TRY(read_str(c, "key", &kv->key));
        if (kv->key.len == 0)
            return err_set_at(c->err, LM_ERR_FORMAT, (int64_t)at, "metadata entry #%zu has an "
                              "empty key", i);
        snprintf(ctx, sizeof ctx, "key '%s'", show(kv->key, name, sizeof name));
        size_t type_at = c->pos;
        uint32_t type;
        LM_TRY(read_u32(c, "value type", &type));
        if (type >= GGUF_TYPE_COUNT)
            return err_set_at(c->err, LM_ERR_FORMAT, (int64_t)type_at,
                              "%s: unknown value type %" PRIu32 " (known: 0..%d)", ctx, type,
                              GGUF_TYPE_COUNT - 1);
        LM_TRY(parse_value(c, (gguf_type)type, 0, &kv->value));
        f->kv_sorted[i] = kv;
        f->n_kv = i + 1;
    }

    if (f->n_kv > 1) qsort(f->kv_sorted, f->n_kv, sizeof *f->kv_sorted, cmp_kv);
    for (size_t i = 1; i < f->n_kv; i++) {
        const gguf_kv *a = f->kv_sorted[i - 1], *b = f->kv_sorted[i];
        if (cmp_kv(&a, &b) != 0) continue;
        if (a->key.ptr > b->key.ptr) { /* report the later one, naming the first */
            const gguf_kv *t = a;
            a = b;
            b = t;
        }
        return err_set_at(c->err, LM_ERR_FORMAT, offset_of(f, b->key.ptr) - 8,
                          "duplicate metadata key '%s' (first at byte offset %" PRId64 ")",
                          show(b->key, name, sizeof name), offset_of(f, a->key.ptr) - 8);
    }
    return LM_OK;
}

/* general.alignment: optional; when present a uint32 that is a nonzero power of two. */
static lm_status read_alignment(gguf_file *f, lm_error *err) {
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = gguf_find(f, GGUF_ALIGNMENT_KEY);
    if (!kv) return LM_OK;
    int64_t at = offset_of(f, kv->key.ptr) - 8;
    if (kv->value.type != GGUF_TYPE_UINT32)
        return err_set_at(err, LM_ERR_FORMAT, at, "'%s' has type %s, expected uint32",
                          GGUF_ALIGNMENT_KEY, value_type_name(kv->value.type));
    uint64_t a = kv->value.v.u64;
    if (a == 0 || (a & (a - 1)) != 0)
        return err_set_at(err, LM_ERR_FORMAT, at,
                          "'%s' = %" PRIu64 " is not a nonzero power of two",
                          GGUF_ALIGNMENT_KEY, a);
    f->alignment = (uint32_t)a;
    return LM_OK;
}

/* Formats a shape as "[a, b, c]" for messages. */
static const char *show_shape(const gguf_tensor *t, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (uint32_t d = 0; d < t->n_dims && n < cap; d++) {
        int w = snprintf(buf + n, cap - n, "%s%" PRIu64, d ? ", " : "[", t->ne[d]);
        if (w < 0) break;
        n += (size_t)w;
    }
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

/* lmserve's own int8/int4 types (dtype.h, numbers >= LM_TYPE_FIRST) appear in files lmserve
 * exports (docs/export.md). Their rows are not whole ggml blocks (a row may start with an f32
 * scale), so their size comes from quant_row_bytes(). */
static int lm_type_known(uint32_t type) {
    return type >= LM_TYPE_FIRST && type < LM_TYPE_COUNT && quant_type_known((ggml_type)type);
}

static lm_status lm_tensor_bytes(cursor *c, gguf_tensor *t, const char *ctx, size_t dims_at) {
    const char *name = quant_type_name(t->type);
    int64_t mult = quant_row_multiple(t->type);
    if (t->ne[0] % (uint64_t)mult != 0)
        return err_set_at(c->err, LM_ERR_FORMAT, (int64_t)dims_at,
                          "%s: row of %" PRIu64 " elements is not a multiple of %" PRId64 " (%s)",
                          ctx, t->ne[0], mult, name);
    uint64_t nbytes = quant_row_bytes(t->type, (int64_t)t->ne[0]); /* ne[0] < 2^63: checked */
    for (uint32_t d = 1; d < t->n_dims; d++) {
        if (nbytes > UINT64_MAX / t->ne[d])
            return err_set_at(c->err, LM_ERR_FORMAT, (int64_t)dims_at,
                              "%s: %s tensor has more than 2^64-1 bytes", ctx, name);
        nbytes *= t->ne[d];
    }
    t->nbytes = nbytes;
    return LM_OK;
}

/* Reads one tensor info and checks what it says on its own: rank, dims, type, whole blocks per
 * row and a byte size that fits 64 bits. Offsets are checked once the data section is known. */
static lm_status parse_tensor_info(cursor *c, size_t i, gguf_tensor *t) {
    char ctx[SHOW_MAX + 16], name[SHOW_MAX], shape[128];
    size_t at = c->pos;
    snprintf(ctx, sizeof ctx, "tensor #%zu", i);
    c->ctx = ctx;
    LM_TRY(read_str(c, "name", &t->name));
    if (t->name.len == 0)
        return err_set_at(c->err, LM_ERR_FORMAT, (int64_t)at, "tensor #%zu has an empty name", i);
    snprintf(ctx, sizeof ctx, "tensor '%s'", show(t->name, name, sizeof name));

    size_t dims_at = c->pos;
    LM_TRY(read_u32(c, "n_dims", &t->n_dims));
    if (t->n_dims < 1 || t->n_dims > LM_GGUF_MAX_DIMS)
        return err_set_at(c->err, LM_ERR_FORMAT, (int64_t)dims_at,
                          "%s: n_dims %" PRIu32 " is not in [1, %d]", ctx, t->n_dims,
                          LM_GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < LM_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    uint64_t n_elems = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        size_t ne_at = c->pos;
        LM_TRY(read_u64(c, "dimension", &t->ne[d]));
        if (t->ne[d] == 0)
            return err_set_at(c->err, LM_ERR_FORMAT, (int64_t)ne_at,
                              "%s: dimension %" PRIu32 " is 0", ctx, d);
        /* ggml counts elements in int64_t; so do the engines that read these shapes. */
        if (t->ne[d] > (uint64_t)INT64_MAX / n_elems)
            return err_set_at(c->err, LM_ERR_FORMAT, (int64_t)ne_at,
                              "%s: dimension %" PRIu32 " = %" PRIu64
                              " makes the element count exceed 2^63-1",
                              ctx, d, t->ne[d]);
        n_elems *= t->ne[d];
    }

    size_t type_at = c->pos;
    uint32_t type;
    LM_TRY(read_u32(c, "type", &type));
    const type_info *ti = ggml_info(type);
    if (!ti && lm_type_known(type)) {
        t->type = (ggml_type)type;
        LM_TRY(read_u64(c, "offset", &t->offset));
        return lm_tensor_bytes(c, t, ctx, dims_at);
    }
    if (!ti)
        return err_set_at(c->err, LM_ERR_UNSUPPORTED, (int64_t)type_at,
                          "%s: unknown ggml type %" PRIu32, ctx, type);
    t->type = (ggml_type)type;
    LM_TRY(read_u64(c, "offset", &t->offset));

    if (t->ne[0] % ti->block_elems != 0)
        return err_set_at(c->err, LM_ERR_FORMAT, (int64_t)dims_at,
                          "%s: row of %" PRIu64 " elements is not a whole number of %s blocks "
                          "(%" PRIu32 " elements each)",
                          ctx, t->ne[0], ti->name, ti->block_elems);
    uint64_t nbytes = t->ne[0] / ti->block_elems;
    if (nbytes > UINT64_MAX / ti->block_bytes) goto too_big;
    nbytes *= ti->block_bytes;
    for (uint32_t d = 1; d < t->n_dims; d++) {
        if (nbytes > UINT64_MAX / t->ne[d]) goto too_big;
        nbytes *= t->ne[d];
    }
    t->nbytes = nbytes;
    return LM_OK;
too_big:
    return err_set_at(c->err, LM_ERR_FORMAT, (int64_t)dims_at,
                      "%s: %s shape %s has more than 2^64-1 bytes", ctx, ti->name,
                      show_shape(t, shape, sizeof shape));
}

/* Offset of a tensor info's `offset` field, recomputed so tensors need not store it. */
static int64_t tensor_offset_field(const gguf_file *f, const gguf_tensor *t) {
    return offset_of(f, t->name.ptr) + (int64_t)t->name.len + 4 + 8 * (int64_t)t->n_dims + 4;
}

/* Places each tensor in the data section: aligned offset, bytes inside the file. */
static lm_status place_tensors(gguf_file *f, lm_error *err) {
    char name[SHOW_MAX];
    for (size_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        int64_t at = tensor_offset_field(f, t);
        if (t->offset % f->alignment != 0)
            return err_set_at(err, LM_ERR_FORMAT, at,
                              "tensor '%s': offset %" PRIu64 " is not a multiple of the alignment "
                              "%" PRIu32,
                              show(t->name, name, sizeof name), t->offset, f->alignment);
        if (t->offset > UINT64_MAX - f->data_offset || f->data_offset + t->offset > f->size)
            return err_set_at(err, LM_ERR_FORMAT, at,
                              "tensor '%s': data offset %" PRIu64 " (data section at %" PRIu64
                              ") past end of file (size %zu)",
                              show(t->name, name, sizeof name), t->offset, f->data_offset, f->size);
        uint64_t start = f->data_offset + t->offset;
        if (t->nbytes > f->size - start) {
            if (t->nbytes > UINT64_MAX - start)
                return err_set_at(err, LM_ERR_FORMAT, at,
                                  "tensor '%s': data at %" PRIu64 " (%" PRIu64
                                  " bytes) past end of file (size %zu)",
                                  show(t->name, name, sizeof name), start, t->nbytes, f->size);
            return err_set_at(err, LM_ERR_FORMAT, at,
                              "tensor '%s': data [%" PRIu64 ", %" PRIu64
                              ") past end of file (size %zu)",
                              show(t->name, name, sizeof name), start, start + t->nbytes, f->size);
        }
        t->data = f->base + start;
    }
    return LM_OK;
}

static lm_status parse_tensors(gguf_file *f, cursor *c, uint64_t n_tensors) {
    c->ctx = "header";
    if (n_tensors > LM_GGUF_MAX_TENSORS)
        return err_set_at(c->err, LM_ERR_LIMIT, 8,
                          "tensor count %" PRIu64 " exceeds the limit %u (LM_GGUF_MAX_TENSORS)",
                          n_tensors, (unsigned)LM_GGUF_MAX_TENSORS);
    if (n_tensors > remaining(c) / MIN_TENSOR_BYTES)
        return err_set_at(c->err, LM_ERR_FORMAT, 8,
                          "tensor count %" PRIu64 " cannot fit in the %zu bytes left after the "
                          "metadata",
                          n_tensors, remaining(c));
    if (n_tensors > 0) {
        f->tensors = calloc((size_t)n_tensors, sizeof *f->tensors);
        f->tensors_sorted = calloc((size_t)n_tensors, sizeof *f->tensors_sorted);
        if (!f->tensors || !f->tensors_sorted)
            return err_set(c->err, LM_ERR_NOMEM, "out of memory for %" PRIu64 " tensors",
                           n_tensors);
    }
    for (size_t i = 0; i < (size_t)n_tensors; i++) {
        LM_TRY(parse_tensor_info(c, i, &f->tensors[i]));
        f->tensors_sorted[i] = &f->tensors[i];
        f->n_tensors = i + 1;
    }

    char name[SHOW_MAX];
    if (f->n_tensors > 1) /* qsort's base may not be NULL, even for 0 elements */
        qsort(f->tensors_sorted, f->n_tensors, sizeof *f->tensors_sorted, cmp_tensor);
    for (size_t i = 1; i < f->n_tensors; i++) {
        const gguf_tensor *a = f->tensors_sorted[i - 1], *b = f->tensors_sorted[i];
        if (cmp_tensor(&a, &b) != 0) continue;
        if (a->name.ptr > b->name.ptr) {
            const gguf_tensor *t = a;
            a = b;
            b = t;
        }
        return err_set_at(c->err, LM_ERR_FORMAT, offset_of(f, b->name.ptr) - 8,
                          "duplicate tensor name '%s' (first at byte offset %" PRId64 ")",
                          show(b->name, name, sizeof name), offset_of(f, a->name.ptr) - 8);
    }

    /* The data section starts at the next multiple of the alignment. A file without tensors may
     * end before it, so only placing tensors checks it against the file size. */
    uint64_t pad = (f->alignment - c->pos % f->alignment) % f->alignment;
    f->data_offset = (uint64_t)c->pos + pad; /* pos < 2^63 in practice; pad < 2^32 */
    return place_tensors(f, c->err);
}

lm_status gguf_parse(const void *data, size_t size, gguf_file **out, lm_error *err) {
    if (!out) return err_set(err, LM_ERR_INVALID, "gguf_parse: out is NULL");
    *out = NULL;
    if (!data && size > 0) return err_set(err, LM_ERR_INVALID, "gguf_parse: data is NULL");
    if (size < 4)
        return err_set_at(err, LM_ERR_FORMAT, 0,
                          "not a GGUF file: %zu bytes is too small for the header", size);
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) return err_set(err, LM_ERR_NOMEM, "out of memory for a GGUF file");
    atomic_init(&f->refs, 1);
    f->base = data;
    f->size = size;
    cursor c = {f->base, size, 0, err, "header"};
    uint64_t n_tensors = 0, n_kv = 0;
    lm_status s = parse_header(f, &c, &n_tensors, &n_kv);
    if (s == LM_OK) s = parse_kvs(f, &c, n_kv);
    if (s == LM_OK) s = read_alignment(f, err);
    if (s == LM_OK) s = parse_tensors(f, &c, n_tensors);
    if (s != LM_OK) {
        gguf_close(f);
        return s;
    }
    *out = f;
    return LM_OK;
}

lm_status gguf_open(const char *path, gguf_file **out, lm_error *err) {
    if (!out) return err_set(err, LM_ERR_INVALID, "gguf_open: out is NULL");
    *out = NULL;
    lm_mapfile map;
    LM_TRY(mapfile_open(&map, path, err));
    /* Parse into a local error so the message can name the file. */
    lm_error e;
    err_clear(&e);
    gguf_file *f = NULL;
    lm_status s = gguf_parse(map.data, map.size, &f, &e);
    if (s != LM_OK) {
        mapfile_close(&map);
        if (err && err->code == LM_OK) {
            err_set(err, e.code, "%s: %s", path, e.msg);
            err->offset = e.offset;
        }
        return s;
    }
    f->map = map;
    *out = f;
    return LM_OK;
}

gguf_file *gguf_retain(gguf_file *f) {
    if (f) atomic_fetch_add(&f->refs, 1);
    return f;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    if (atomic_fetch_sub(&f->refs, 1) > 1) return; /* another holder keeps it */
    free(f->kv);
    free(f->kv_sorted);
    free(f->tensors);
    free(f->tensors_sorted);
    mapfile_close(&f->map);
    free(f);
}

/* ---------------------------------------------------------------------------------------------
 * Accessors
 * ------------------------------------------------------------------------------------------- */

uint32_t gguf_version(const gguf_file *f) { return f->version; }
uint32_t gguf_alignment(const gguf_file *f) { return f->alignment; }
uint64_t gguf_data_offset(const gguf_file *f) { return f->data_offset; }
size_t gguf_kv_count(const gguf_file *f) { return f->n_kv; }
size_t gguf_tensor_count(const gguf_file *f) { return f->n_tensors; }

const gguf_kv *gguf_kv_at(const gguf_file *f, size_t i) {
    return i < f->n_kv ? &f->kv[i] : NULL;
}

const gguf_tensor *gguf_tensor_at(const gguf_file *f, size_t i) {
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

int gguf_str_eq(gguf_str s, const char *cstr) {
    size_t n = strlen(cstr);
    return s.len == n && (n == 0 || memcmp(s.ptr, cstr, n) == 0);
}

static int64_t kv_offset(const gguf_file *f, const gguf_kv *kv) {
    return offset_of(f, kv->key.ptr) - 8;
}

/* Reads an integer-typed value that must lie in [0, max]. */
static lm_status get_uint(const gguf_file *f, const char *key, uint64_t max, const char *want,
                          uint64_t *out, lm_error *err) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return LM_ERR_NOT_FOUND;
    const gguf_value *v = &kv->value;
    switch (v->type) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64:
        if (v->v.u64 > max)
            return err_set_at(err, LM_ERR_FORMAT, kv_offset(f, kv),
                              "key '%s': %s value %" PRIu64 " does not fit in %s", key,
                              value_type_name(v->type), v->v.u64, want);
        *out = v->v.u64;
        return LM_OK;
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64:
        if (v->v.i64 < 0 || (uint64_t)v->v.i64 > max)
            return err_set_at(err, LM_ERR_FORMAT, kv_offset(f, kv),
                              "key '%s': %s value %" PRId64 " does not fit in %s", key,
                              value_type_name(v->type), v->v.i64, want);
        *out = (uint64_t)v->v.i64;
        return LM_OK;
    default:
        return err_set_at(err, LM_ERR_FORMAT, kv_offset(f, kv),
                          "key '%s' has type %s, expected an integer (%s)", key,
                          value_type_name(v->type), want);
    }
}

lm_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, lm_error *err) {
    uint64_t v = 0;
    lm_status s = get_uint(f, key, UINT32_MAX, "uint32", &v, err);
    if (s == LM_OK) *out = (uint32_t)v;
    return s;
}

lm_status gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, lm_error *err) {
    return get_uint(f, key, UINT64_MAX, "uint64", out, err);
}

lm_status gguf_get_f32(const gguf_file *f, const char *key, float *out, lm_error *err) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return LM_ERR_NOT_FOUND;
    if (kv->value.type != GGUF_TYPE_FLOAT32 && kv->value.type != GGUF_TYPE_FLOAT64)
        return err_set_at(err, LM_ERR_FORMAT, kv_offset(f, kv),
                          "key '%s' has type %s, expected float32 or float64", key,
                          value_type_name(kv->value.type));
    double x = kv->value.v.f64;
    /* Converting a finite double beyond float's range is undefined behaviour in C. */
    if (isfinite(x) && fabs(x) > FLT_MAX)
        return err_set_at(err, LM_ERR_FORMAT, kv_offset(f, kv),
                          "key '%s': value %g is out of float32 range", key, x);
    *out = (float)x;
    return LM_OK;
}

lm_status gguf_get_bool(const gguf_file *f, const char *key, int *out, lm_error *err) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return LM_ERR_NOT_FOUND;
    if (kv->value.type != GGUF_TYPE_BOOL)
        return err_set_at(err, LM_ERR_FORMAT, kv_offset(f, kv),
                          "key '%s' has type %s, expected bool", key,
                          value_type_name(kv->value.type));
    *out = kv->value.v.u64 != 0;
    return LM_OK;
}

lm_status gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, lm_error *err) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return LM_ERR_NOT_FOUND;
    if (kv->value.type != GGUF_TYPE_STRING)
        return err_set_at(err, LM_ERR_FORMAT, kv_offset(f, kv),
                          "key '%s' has type %s, expected string", key,
                          value_type_name(kv->value.type));
    *out = kv->value.v.str;
    return LM_OK;
}

lm_status gguf_get_array(const gguf_file *f, const char *key, gguf_type elem, gguf_value *out,
                         lm_error *err) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return LM_ERR_NOT_FOUND;
    if (kv->value.type != GGUF_TYPE_ARRAY)
        return err_set_at(err, LM_ERR_FORMAT, kv_offset(f, kv),
                          "key '%s' has type %s, expected an array of %s", key,
                          value_type_name(kv->value.type),
                          elem == GGUF_TYPE_COUNT ? "any type" : value_type_name(elem));
    if (elem != GGUF_TYPE_COUNT && kv->value.v.arr.elem != elem)
        return err_set_at(err, LM_ERR_FORMAT, kv_offset(f, kv),
                          "key '%s' is an array of %s, expected an array of %s", key,
                          value_type_name(kv->value.v.arr.elem), value_type_name(elem));
    *out = kv->value;
    return LM_OK;
}
