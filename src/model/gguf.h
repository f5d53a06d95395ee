/* gguf.h — reader for GGUF model files (versions 2 and 3), by mmap, never copying.
 *
 * File layout (all integers little-endian):
 *
 *   magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv times:      string key | u32 value_type | value
 *   n_tensors times: string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset
 *   padding to `general.alignment` (u32 metadata, default 32)
 *   tensor data: each tensor at data_start + offset, offset a multiple of the alignment
 *
 *   string = u64 length | bytes (no NUL)
 *   value  = scalar of the type | string | array: u32 elem_type | u64 count | count values
 *            (arrays may nest: an element type of ARRAY is an array value per element)
 *
 * gguf_parse() validates the whole structure before returning: every count and offset is checked
 * against the bytes that remain (in a form that cannot overflow) and against limits.h; keys must be
 * unique, tensor names unique, types known, shapes positive with whole blocks per row, tensor data
 * aligned and inside the file. Tensor types are ggml's numbers plus lmserve's own int8/int4 types
 * (>= LM_TYPE_FIRST, as `lmserve export` writes them; docs/export.md). Afterwards the accessors below cannot fail on bounds. Errors say
 * what was wrong and at which byte offset.
 *
 * Strings are views into the mapping (pointer + length, not NUL-terminated) valid until
 * gguf_close(). Thread-safety: a parsed file is immutable; concurrent readers are fine. */
#ifndef LM_MODEL_GGUF_H
#define LM_MODEL_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "compute/dtype.h"

/* Metadata value types, as numbered in the file. */
typedef enum {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_type;


/* A byte string inside the file. */
typedef struct {
    const char *ptr;
    uint64_t len;
} gguf_str;

/* A metadata value (a view). For arrays, `arr.data` points at the first element's bytes in the
 * file; use gguf_array_get() to read element i. */
typedef struct {
    gguf_type type;
    union {
        uint64_t u64;   /* UINT8/16/32/64 and BOOL (0 or 1) */
        int64_t i64;    /* INT8/16/32/64 */
        double f64;     /* FLOAT32/64 */
        gguf_str str;   /* STRING */
        struct {
            gguf_type elem;             /* element type */
            uint64_t n;                 /* element count */
            const unsigned char *data;  /* first element */
            uint64_t size;              /* bytes of all elements */
        } arr;          /* ARRAY */
    } v;
} gguf_value;

typedef struct {
    gguf_str key;
    gguf_value value;
} gguf_kv;

typedef struct {
    gguf_str name;
    uint32_t n_dims;
    uint64_t ne[4];     /* elements per dimension, ne[0] fastest (a row); unused dims are 1 */
    ggml_type type;
    uint64_t offset;    /* from the start of the data section */
    uint64_t nbytes;    /* bytes of data */
    const void *data;   /* the tensor's bytes in the mapping */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Maps and parses the file at `path`. On success *out owns the mapping; free with gguf_close(). */
lm_status gguf_open(const char *path, gguf_file **out, lm_error *err);

/* Parses `size` bytes at `data` (not copied: they must outlive the result). Used by fuzzing and
 * tests; gguf_open() maps the file and calls this. */
lm_status gguf_parse(const void *data, size_t size, gguf_file **out, lm_error *err);

/* Adds a holder: the file stays mapped until every holder has called gguf_close() (a model
 * source and the model loaded from it share one parse). Returns f. Accepts NULL. */
gguf_file *gguf_retain(gguf_file *f);

/* Drops a holder; the last one frees the file (and unmaps it when opened by gguf_open). Accepts
 * NULL. */
void gguf_close(gguf_file *f);

uint32_t gguf_version(const gguf_file *f);
uint32_t gguf_alignment(const gguf_file *f);
/* Byte offset of the tensor data section from the start of the file. */
uint64_t gguf_data_offset(const gguf_file *f);

/* Metadata, in file order. */
size_t gguf_kv_count(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, size_t i);
/* Finds a key (NUL-terminated); NULL when absent. */
const gguf_kv *gguf_find(const gguf_file *f, const char *key);

/* Typed getters. Each returns LM_OK and sets *out; LM_ERR_NOT_FOUND when the key is absent (err
 * untouched, so callers can fall back to a default); LM_ERR_FORMAT when present with a type that
 * cannot convert exactly (integers accept any integer type whose value fits; floats accept
 * FLOAT32/FLOAT64). */
lm_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, lm_error *err);
lm_status gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, lm_error *err);
lm_status gguf_get_f32(const gguf_file *f, const char *key, float *out, lm_error *err);
lm_status gguf_get_bool(const gguf_file *f, const char *key, int *out, lm_error *err);
lm_status gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, lm_error *err);
/* Array: sets *out to the array value; LM_ERR_FORMAT if not an array of `elem` (GGUF_TYPE_COUNT
 * accepts any element type). */
lm_status gguf_get_array(const gguf_file *f, const char *key, gguf_type elem, gguf_value *out,
                         lm_error *err);

/* Element i (< arr.n) of an array value, as a value of the element type. O(1) for fixed-size
 * elements; O(i) for strings and nested arrays (walk with gguf_array_iter for whole arrays). */
gguf_value gguf_array_get(const gguf_value *array, uint64_t i);

/* Sequential walk over an array's elements: O(1) per step for scalars and strings; an element that
 * is itself an array of strings or arrays costs a walk of its bytes (a whole walk stays linear).
 *   gguf_array_iter it = gguf_array_begin(&arr); gguf_value v;
 *   while (gguf_array_next(&it, &v)) { ... } */
typedef struct {
    const gguf_value *array;
    uint64_t i;
    const unsigned char *p;
} gguf_array_iter;
gguf_array_iter gguf_array_begin(const gguf_value *array);
int gguf_array_next(gguf_array_iter *it, gguf_value *out);

/* Tensors, in file order. */
size_t gguf_tensor_count(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, size_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Type facts: name ("q4_0"; lmserve's own types too), and for ggml's types elements and bytes per
 * block; 0/NULL for unknown. */
const char *ggml_type_name(ggml_type t);
uint32_t ggml_block_elems(ggml_type t);
uint32_t ggml_block_bytes(ggml_type t);

/* Compares a view with a NUL-terminated string. */
int gguf_str_eq(gguf_str s, const char *cstr);

#endif
