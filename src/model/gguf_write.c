/* gguf_write.c — GGUF v3 writer: metadata and tensor infos encoded into memory first (they are
 * small), tensor data streamed to the file afterwards (it is not).
 *
 * Layout and value encodings are those gguf.h spells out; everything is written little-endian
 * byte by byte, whatever the host. Uniqueness of keys and tensor names is checked by a linear
 * scan: the writer's input comes from lmserve itself (hundreds of keys and tensors at most). */
#include "model/gguf_write.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/limits.h"
#include "compute/quant.h"

#define GGUF_VERSION 3u
#define DEFAULT_ALIGNMENT 32u
#define MAX_ALIGNMENT (1u << 20)
#define ALIGNMENT_KEY "general.alignment"

typedef struct {
    char *name;
    ggml_type type;
    uint32_t n_dims;
    uint64_t ne[4];      /* ne[0] fastest; unused dims 1 */
    uint64_t offset;     /* from the start of the data section, a multiple of the alignment */
    uint64_t nbytes;     /* data bytes, without padding */
} wtensor;

struct gguf_writer {
    lm_buf kv;           /* encoded key/value pairs, in order */
    uint64_t n_kv;
    char **keys;         /* copies, for the uniqueness check */
    size_t n_keys, cap_keys;
    wtensor *tensors;
    size_t n_tensors, cap_tensors;
    uint32_t alignment;
    uint64_t data_bytes; /* data section size: every tensor padded to the alignment */
    uint64_t data_offset; /* where the data section starts in the file (known at open) */
    /* streaming state */
    FILE *fp;
    char *path;
    int opened;          /* gguf_writer_open ran (no more adds) */
    size_t cur;          /* tensor receiving data */
    uint64_t cur_done;   /* bytes of it written */
    lm_status failed;    /* first failure; every later call returns it */
};

/* ---- encoding ------------------------------------------------------------------------------ */

static void put_le(lm_buf *b, uint64_t v, int n) {
    unsigned char bytes[8];
    for (int i = 0; i < n; i++) bytes[i] = (unsigned char)(v >> (8 * i));
    buf_append(b, bytes, (size_t)n);
}

static void put_str(lm_buf *b, const char *s, uint64_t len) {
    put_le(b, len, 8);
    buf_append(b, s, (size_t)len);
}

static uint64_t align_up(uint64_t x, uint32_t a) { return (x + a - 1) / a * a; }

/* Bytes of one element of a fixed-size type; 0 for STRING, ARRAY and unknown types. */
static size_t fixed_size(gguf_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

static uint64_t get_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Checks that p[0..avail) starts with one encoded value of type t; sets *used to its size.
 * Returns 0 when the bytes are short, a type is unknown or arrays nest too deep. */
static int encoded_value(gguf_type t, const unsigned char *p, uint64_t avail, int depth,
                         uint64_t *used);

static int encoded_elems(gguf_type elem, uint64_t n, const unsigned char *p, uint64_t avail,
                         int depth, uint64_t *used) {
    size_t fs = fixed_size(elem);
    if (fs) {
        if (n > avail / fs) return 0;
        *used = n * fs;
        return 1;
    }
    if (elem != GGUF_TYPE_STRING && elem != GGUF_TYPE_ARRAY) return 0;
    uint64_t at = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t u;
        if (!encoded_value(elem, p + at, avail - at, depth, &u)) return 0;
        at += u;
    }
    *used = at;
    return 1;
}

static int encoded_value(gguf_type t, const unsigned char *p, uint64_t avail, int depth,
                         uint64_t *used) {
    if (t == GGUF_TYPE_STRING) {
        if (avail < 8 || get_le(p, 8) > avail - 8) return 0;
        *used = 8 + get_le(p, 8);
        return 1;
    }
    if (t == GGUF_TYPE_ARRAY) {
        if (depth >= LM_GGUF_MAX_ARRAY_DEPTH || avail < 12) return 0;
        uint64_t u;
        if (!encoded_elems((gguf_type)get_le(p, 4), get_le(p + 4, 8), p + 12, avail - 12, depth + 1, &u))
            return 0;
        *used = 12 + u;
        return 1;
    }
    size_t fs = fixed_size(t);
    if (!fs || avail < fs) return 0;
    *used = fs;
    return 1;
}

/* ---- state --------------------------------------------------------------------------------- */

static lm_status fail(gguf_writer *w, lm_error *err, lm_status code, const char *fmt, const char *what) {
    err_set(err, code, fmt, what);
    if (!w->failed) w->failed = code;
    return code;
}

/* Common checks before an add: not failed, not opened. */
static lm_status can_add(gguf_writer *w, const char *what, lm_error *err) {
    if (w->failed) return err_set(err, w->failed, "GGUF writer: an earlier call failed");
    if (w->opened)
        return err_set(err, LM_ERR_INVALID, "GGUF writer: '%s' added after gguf_writer_open", what);
    return LM_OK;
}

lm_status gguf_writer_create(gguf_writer **out, lm_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return err_set(err, LM_ERR_NOMEM, "out of memory for a GGUF writer");
    (*out)->alignment = DEFAULT_ALIGNMENT;
    return LM_OK;
}

void gguf_writer_destroy(gguf_writer *w) {
    if (!w) return;
    if (w->fp) fclose(w->fp);
    for (size_t i = 0; i < w->n_keys; i++) free(w->keys[i]);
    free(w->keys);
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    free(w->path);
    buf_fini(&w->kv);
    free(w);
}

lm_status gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment, lm_error *err) {
    LM_TRY(can_add(w, ALIGNMENT_KEY, err));
    if (w->n_tensors > 0)
        return err_set(err, LM_ERR_INVALID, "GGUF writer: the alignment must be set before any tensor");
    if (alignment == 0 || alignment > MAX_ALIGNMENT || (alignment & (alignment - 1)) != 0)
        return err_set(err, LM_ERR_INVALID, "GGUF alignment %" PRIu32 " is not a power of two in "
                       "[1, %u]", alignment, MAX_ALIGNMENT);
    w->alignment = alignment;
    return LM_OK;
}

/* Registers a new key and writes its encoding and value type; the value follows. */
static lm_status begin_kv(gguf_writer *w, const char *key, gguf_type type, lm_error *err) {
    LM_TRY(can_add(w, key ? key : "(null)", err));
    if (!key || !*key) return err_set(err, LM_ERR_INVALID, "GGUF metadata key is empty");
    if (strcmp(key, ALIGNMENT_KEY) == 0)
        return err_set(err, LM_ERR_INVALID, "GGUF writer: set '%s' with gguf_writer_set_alignment",
                       ALIGNMENT_KEY);
    for (size_t i = 0; i < w->n_keys; i++)
        if (strcmp(w->keys[i], key) == 0)
            return err_set(err, LM_ERR_INVALID, "GGUF metadata key '%s' is added twice", key);
    if (w->n_keys == w->cap_keys) {
        size_t cap = w->cap_keys ? 2 * w->cap_keys : 32;
        char **grown = realloc(w->keys, cap * sizeof *grown);
        if (!grown) return fail(w, err, LM_ERR_NOMEM, "out of memory for metadata key '%s'", key);
        w->keys = grown;
        w->cap_keys = cap;
    }
    if (!(w->keys[w->n_keys] = strdup(key)))
        return fail(w, err, LM_ERR_NOMEM, "out of memory for metadata key '%s'", key);
    w->n_keys++;
    w->n_kv++;
    put_str(&w->kv, key, strlen(key));
    put_le(&w->kv, (uint64_t)type, 4);
    return LM_OK;
}

static lm_status end_kv(gguf_writer *w, const char *key, lm_error *err) {
    if (w->kv.oom) return fail(w, err, LM_ERR_NOMEM, "out of memory for the value of '%s'", key);
    return LM_OK;
}

/* ---- metadata ------------------------------------------------------------------------------ */

lm_status gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v, lm_error *err) {
    LM_TRY(begin_kv(w, key, GGUF_TYPE_UINT32, err));
    put_le(&w->kv, v, 4);
    return end_kv(w, key, err);
}

lm_status gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v, lm_error *err) {
    LM_TRY(begin_kv(w, key, GGUF_TYPE_INT32, err));
    put_le(&w->kv, (uint32_t)v, 4);
    return end_kv(w, key, err);
}

lm_status gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v, lm_error *err) {
    LM_TRY(begin_kv(w, key, GGUF_TYPE_UINT64, err));
    put_le(&w->kv, v, 8);
    return end_kv(w, key, err);
}

lm_status gguf_writer_add_f32(gguf_writer *w, const char *key, float v, lm_error *err) {
    LM_TRY(begin_kv(w, key, GGUF_TYPE_FLOAT32, err));
    uint32_t bits;
    memcpy(&bits, &v, 4);
    put_le(&w->kv, bits, 4);
    return end_kv(w, key, err);
}

lm_status gguf_writer_add_bool(gguf_writer *w, const char *key, int v, lm_error *err) {
    LM_TRY(begin_kv(w, key, GGUF_TYPE_BOOL, err));
    put_le(&w->kv, v ? 1 : 0, 1);
    return end_kv(w, key, err);
}

lm_status gguf_writer_add_str(gguf_writer *w, const char *key, const char *v, lm_error *err) {
    if (!v) return err_set(err, LM_ERR_INVALID, "GGUF metadata '%s': string is NULL", key ? key : "");
    LM_TRY(begin_kv(w, key, GGUF_TYPE_STRING, err));
    put_str(&w->kv, v, strlen(v));
    return end_kv(w, key, err);
}

/* Encodes a scalar value of type t after checking it fits the type. */
static lm_status put_scalar(lm_buf *b, const char *key, const gguf_value *v, lm_error *err) {
    uint64_t u = v->v.u64;
    int64_t i = v->v.i64;
    switch (v->type) {
    case GGUF_TYPE_BOOL:
        if (u > 1) break;
        put_le(b, u, 1);
        return LM_OK;
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64: {
        size_t n = fixed_size(v->type);
        if (n < 8 && u >> (8 * n)) break;
        put_le(b, u, (int)n);
        return LM_OK;
    }
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64: {
        size_t n = fixed_size(v->type);
        if (n < 8) {
            int64_t lim = (int64_t)1 << (8 * n - 1);
            if (i < -lim || i >= lim) break;
        }
        put_le(b, (uint64_t)i, (int)n);
        return LM_OK;
    }
    case GGUF_TYPE_FLOAT32: {
        double d = v->v.f64;
        if (d > FLT_MAX || d < -FLT_MAX) break; /* NaN and infinities pass through */
        float f = (float)d;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        put_le(b, bits, 4);
        return LM_OK;
    }
    case GGUF_TYPE_FLOAT64: {
        uint64_t bits;
        memcpy(&bits, &v->v.f64, 8);
        put_le(b, bits, 8);
        return LM_OK;
    }
    default:
        return err_set(err, LM_ERR_INVALID, "GGUF metadata '%s': unknown value type %d", key, (int)v->type);
    }
    return err_set(err, LM_ERR_INVALID, "GGUF metadata '%s': value does not fit its type %d", key,
                   (int)v->type);
}

lm_status gguf_writer_add_value(gguf_writer *w, const char *key, const gguf_value *v, lm_error *err) {
    if (!v || (unsigned)v->type >= GGUF_TYPE_COUNT)
        return err_set(err, LM_ERR_INVALID, "GGUF metadata '%s': no value or unknown type", key ? key : "");
    if (v->type == GGUF_TYPE_ARRAY) {
        uint64_t used = 0;
        if ((v->v.arr.size && !v->v.arr.data) ||
            !encoded_elems(v->v.arr.elem, v->v.arr.n, v->v.arr.data, v->v.arr.size, 1, &used) ||
            used != v->v.arr.size)
            return err_set(err, LM_ERR_INVALID, "GGUF metadata '%s': array bytes (%" PRIu64 ") do not "
                           "hold %" PRIu64 " encoded elements of type %d", key ? key : "",
                           v->v.arr.size, v->v.arr.n, (int)v->v.arr.elem);
    } else if (v->type == GGUF_TYPE_STRING && v->v.str.len && !v->v.str.ptr) {
        return err_set(err, LM_ERR_INVALID, "GGUF metadata '%s': string is NULL", key ? key : "");
    } else if (v->type != GGUF_TYPE_STRING) {
        lm_buf probe = {0}; /* range check before the key is registered */
        lm_status s = put_scalar(&probe, key ? key : "", v, err);
        buf_fini(&probe);
        LM_TRY(s);
    }
    LM_TRY(begin_kv(w, key, v->type, err));
    if (v->type == GGUF_TYPE_STRING) {
        put_str(&w->kv, v->v.str.ptr, v->v.str.len);
    } else if (v->type == GGUF_TYPE_ARRAY) {
        put_le(&w->kv, (uint64_t)v->v.arr.elem, 4);
        put_le(&w->kv, v->v.arr.n, 8);
        buf_append(&w->kv, v->v.arr.data, (size_t)v->v.arr.size);
    } else {
        LM_TRY(put_scalar(&w->kv, key, v, err));
    }
    return end_kv(w, key, err);
}

lm_status gguf_writer_add_array(gguf_writer *w, const char *key, gguf_type elem, const void *elems,
                                uint64_t n, lm_error *err) {
    size_t fs = fixed_size(elem);
    if (!fs)
        return err_set(err, LM_ERR_INVALID, "GGUF metadata '%s': array element type %d is not a "
                       "fixed-size type", key ? key : "", (int)elem);
    if (n && !elems) return err_set(err, LM_ERR_INVALID, "GGUF metadata '%s': elements are NULL", key ? key : "");
    if (elem == GGUF_TYPE_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (((const uint8_t *)elems)[i] > 1)
                return err_set(err, LM_ERR_INVALID, "GGUF metadata '%s': bool element %" PRIu64
                               " is not 0 or 1", key ? key : "", i);
    LM_TRY(begin_kv(w, key, GGUF_TYPE_ARRAY, err));
    put_le(&w->kv, (uint64_t)elem, 4);
    put_le(&w->kv, n, 8);
    const unsigned char *p = elems;
    for (uint64_t i = 0; i < n && !w->kv.oom; i++, p += fs) {
        uint64_t v = 0;
        switch (fs) { /* host value -> its bits (this code runs on little-endian hosts only) */
        case 1: v = p[0]; break;
        case 2: { uint16_t x; memcpy(&x, p, 2); v = x; break; }
        case 4: { uint32_t x; memcpy(&x, p, 4); v = x; break; }
        default: memcpy(&v, p, 8); break;
        }
        put_le(&w->kv, v, (int)fs);
    }
    return end_kv(w, key, err);
}

lm_status gguf_writer_add_str_array(gguf_writer *w, const char *key, const char *const *strs,
                                    uint64_t n, lm_error *err) {
    for (uint64_t i = 0; i < n; i++)
        if (!strs || !strs[i])
            return err_set(err, LM_ERR_INVALID, "GGUF metadata '%s': string %" PRIu64 " is NULL",
                           key ? key : "", i);
    LM_TRY(begin_kv(w, key, GGUF_TYPE_ARRAY, err));
    put_le(&w->kv, GGUF_TYPE_STRING, 4);
    put_le(&w->kv, n, 8);
    for (uint64_t i = 0; i < n && !w->kv.oom; i++) put_str(&w->kv, strs[i], strlen(strs[i]));
    return end_kv(w, key, err);
}

/* ---- tensors ------------------------------------------------------------------------------- */

/* Bytes of one row of n elements of type t: lmserve's types by their row layout, ggml's by
 * whole blocks. 0 when the type is unknown or n is not a whole number of blocks. */
static uint64_t row_bytes(ggml_type t, uint64_t n) {
    if (t >= LM_TYPE_FIRST) return quant_type_known(t) && n <= INT64_MAX ? quant_row_bytes(t, (int64_t)n) : 0;
    uint32_t be = ggml_block_elems(t), bb = ggml_block_bytes(t);
    if (!be || n % be != 0) return 0;
    if (n / be > UINT64_MAX / bb) return 0;
    return n / be * bb;
}

lm_status gguf_writer_add_tensor(gguf_writer *w, const char *name, ggml_type type, uint32_t n_dims,
                                 const uint64_t *ne, lm_error *err) {
    LM_TRY(can_add(w, name ? name : "(null)", err));
    if (!name || !*name) return err_set(err, LM_ERR_INVALID, "GGUF tensor name is empty");
    if (n_dims < 1 || n_dims > LM_GGUF_MAX_DIMS || !ne)
        return err_set(err, LM_ERR_INVALID, "GGUF tensor '%s': %" PRIu32 " dimensions, expected 1 to %d",
                       name, n_dims, LM_GGUF_MAX_DIMS);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return err_set(err, LM_ERR_INVALID, "GGUF tensor '%s' is added twice", name);
    wtensor t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}};
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] == 0 || ne[d] > INT64_MAX)
            return err_set(err, LM_ERR_INVALID, "GGUF tensor '%s': dimension %" PRIu32 " is %" PRIu64,
                           name, d, ne[d]);
        t.ne[d] = ne[d];
    }
    uint64_t bytes = row_bytes(type, ne[0]);
    if (!bytes)
        return err_set(err, LM_ERR_INVALID, "GGUF tensor '%s': type %d with rows of %" PRIu64
                       " elements (unknown type, or not whole blocks)", name, (int)type, ne[0]);
    for (uint32_t d = 1; d < n_dims; d++) {
        if (bytes > UINT64_MAX / ne[d])
            return err_set(err, LM_ERR_INVALID, "GGUF tensor '%s' has more than 2^64 bytes", name);
        bytes *= ne[d];
    }
    t.nbytes = bytes;
    t.offset = w->data_bytes;
    if (bytes > UINT64_MAX / 2 - t.offset)
        return err_set(err, LM_ERR_INVALID, "GGUF tensor '%s': the data section exceeds 2^63 bytes", name);
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 64;
        wtensor *grown = realloc(w->tensors, cap * sizeof *grown);
        if (!grown) return fail(w, err, LM_ERR_NOMEM, "out of memory for tensor '%s'", name);
        w->tensors = grown;
        w->cap_tensors = cap;
    }
    if (!(t.name = strdup(name))) return fail(w, err, LM_ERR_NOMEM, "out of memory for tensor '%s'", name);
    w->tensors[w->n_tensors++] = t;
    w->data_bytes = align_up(t.offset + t.nbytes, w->alignment);
    return LM_OK;
}

uint64_t gguf_writer_tensor_bytes(const gguf_writer *w, size_t i) {
    return i < w->n_tensors ? w->tensors[i].nbytes : 0;
}

/* Encodes header, metadata and tensor infos, without the padding that follows them. */
static void encode_head(const gguf_writer *w, lm_buf *b) {
    int extra_key = w->alignment != DEFAULT_ALIGNMENT;
    buf_append(b, "GGUF", 4);
    put_le(b, GGUF_VERSION, 4);
    put_le(b, w->n_tensors, 8);
    put_le(b, w->n_kv + (uint64_t)extra_key, 8);
    buf_append(b, w->kv.data, w->kv.len);
    if (extra_key) {
        put_str(b, ALIGNMENT_KEY, strlen(ALIGNMENT_KEY));
        put_le(b, GGUF_TYPE_UINT32, 4);
        put_le(b, w->alignment, 4);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        put_str(b, t->name, strlen(t->name));
        put_le(b, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) put_le(b, t->ne[d], 8);
        put_le(b, (uint64_t)t->type, 4);
        put_le(b, t->offset, 8);
    }
}

static uint64_t head_bytes(const gguf_writer *w) {
    uint64_t n = 4 + 4 + 8 + 8 + w->kv.len;
    if (w->alignment != DEFAULT_ALIGNMENT) n += 8 + strlen(ALIGNMENT_KEY) + 4 + 4;
    for (size_t i = 0; i < w->n_tensors; i++)
        n += 8 + strlen(w->tensors[i].name) + 4 + 8 * (uint64_t)w->tensors[i].n_dims + 4 + 8;
    return n;
}

uint64_t gguf_writer_file_bytes(const gguf_writer *w) {
    return align_up(head_bytes(w), w->alignment) + w->data_bytes;
}

/* ---- output -------------------------------------------------------------------------------- */

static lm_status io_fail(gguf_writer *w, lm_error *err, const char *what) {
    int e = errno;
    err_set(err, LM_ERR_IO, "%s: %s: %s", w->path ? w->path : "GGUF file", what, strerror(e));
    if (!w->failed) w->failed = LM_ERR_IO;
    return LM_ERR_IO;
}

static lm_status put_zeros(gguf_writer *w, uint64_t n, lm_error *err) {
    static const unsigned char zeros[256];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (fwrite(zeros, 1, k, w->fp) != k) return io_fail(w, err, "write failed");
        n -= k;
    }
    return LM_OK;
}

lm_status gguf_writer_open(gguf_writer *w, const char *path, lm_error *err) {
    if (w->failed) return err_set(err, w->failed, "GGUF writer: an earlier call failed");
    if (w->opened) return err_set(err, LM_ERR_INVALID, "GGUF writer: opened twice");
    w->opened = 1;
    if (!(w->path = strdup(path))) return fail(w, err, LM_ERR_NOMEM, "out of memory for '%s'", path);
    lm_buf head = {0};
    encode_head(w, &head);
    if (head.oom) {
        buf_fini(&head);
        return fail(w, err, LM_ERR_NOMEM, "out of memory encoding the header of '%s'", path);
    }
    w->data_offset = align_up(head.len, w->alignment);
    w->fp = fopen(path, "wb");
    if (!w->fp) {
        buf_fini(&head);
        return io_fail(w, err, "cannot create");
    }
    setvbuf(w->fp, NULL, _IOFBF, 1 << 20);
    lm_status s = LM_OK;
    if (fwrite(head.data, 1, head.len, w->fp) != head.len) s = io_fail(w, err, "write failed");
    if (s == LM_OK) s = put_zeros(w, w->data_offset - head.len, err);
    buf_fini(&head);
    w->cur = 0;
    w->cur_done = 0;
    return s;
}

lm_status gguf_writer_write(gguf_writer *w, const void *data, size_t n, lm_error *err) {
    if (w->failed) return err_set(err, w->failed, "GGUF writer: an earlier call failed");
    if (!w->fp) return err_set(err, LM_ERR_INVALID, "GGUF writer: data written before gguf_writer_open");
    const unsigned char *p = data;
    while (n > 0) {
        if (w->cur >= w->n_tensors)
            return fail(w, err, LM_ERR_INVALID, "GGUF writer: %s: more data than the tensors declared",
                        w->path);
        wtensor *t = &w->tensors[w->cur];
        uint64_t left = t->nbytes - w->cur_done;
        size_t k = n < left ? n : (size_t)left;
        if (fwrite(p, 1, k, w->fp) != k) return io_fail(w, err, "write failed");
        p += k;
        n -= k;
        w->cur_done += k;
        if (w->cur_done == t->nbytes) {
            LM_TRY(put_zeros(w, align_up(t->nbytes, w->alignment) - t->nbytes, err));
            w->cur++;
            w->cur_done = 0;
        }
    }
    return LM_OK;
}

lm_status gguf_writer_close(gguf_writer *w, lm_error *err) {
    if (w->failed) return err_set(err, w->failed, "GGUF writer: an earlier call failed");
    if (!w->fp) return err_set(err, LM_ERR_INVALID, "GGUF writer: closed before gguf_writer_open");
    if (w->cur < w->n_tensors)
        return fail(w, err, LM_ERR_INVALID, "GGUF writer: tensor '%s' did not get all its data",
                    w->tensors[w->cur].name);
    FILE *fp = w->fp;
    w->fp = NULL;
    int bad = fflush(fp) != 0 || fsync(fileno(fp)) != 0;
    if (bad) {
        lm_status s = io_fail(w, err, "write failed");
        fclose(fp);
        return s;
    }
    if (fclose(fp) != 0) return io_fail(w, err, "close failed");
    return LM_OK;
}
