/* gguf_write.h — writer for GGUF version 3 files (the layout gguf.h describes), streaming the
 * tensor data so a model never sits in memory twice.
 *
 * A file is written in two phases, because the header holds every tensor's offset:
 *
 *   1. describe: add metadata (any value type, arrays of strings and nested arrays included) and
 *      tensor infos (name, shape, type) in the order they will appear; the writer keeps them
 *      (metadata values are copied; tensor data is not) and computes each tensor's offset;
 *   2. stream: gguf_writer_open() writes header, metadata, tensor infos and the padding to the
 *      alignment, then gguf_writer_write() takes the tensor data as bytes, in tensor order, in
 *      chunks of any size; the writer pads each tensor to the alignment by itself.
 *      gguf_writer_close() checks every declared byte arrived, flushes and syncs the file.
 *
 * Tensor types are ggml's numbers (gguf.h accepts them) and lmserve's own int8/int4 types
 * (dtype.h, numbers >= LM_TYPE_FIRST, row layouts in quant.h), which only lmserve reads: see
 * docs/export.md. Errors say which key, tensor or byte count was wrong; the first failure wins
 * and the writer then refuses further work. One writer is used by one thread. */
#ifndef LM_MODEL_GGUF_WRITE_H
#define LM_MODEL_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "compute/dtype.h"
#include "model/gguf.h"

typedef struct gguf_writer gguf_writer;

/* Creates an empty writer (no metadata, no tensors, alignment 32). */
lm_status gguf_writer_create(gguf_writer **out, lm_error *err);

/* Frees the writer; an open file is closed as it is (incomplete: the caller removes it). Accepts
 * NULL. */
void gguf_writer_destroy(gguf_writer *w);

/* Sets the alignment of the tensor data (a power of two, at most 2^20; 32 when never set). A
 * value other than 32 is written as the general.alignment metadata key, which must not be added
 * by hand. Only before the first tensor is added. */
lm_status gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment, lm_error *err);

/* ---- metadata (phase 1) ------------------------------------------------------------------- */
/* Each adds one key (NUL-terminated, non-empty, unique in the file: a repeat is LM_ERR_INVALID)
 * and copies the value. Keys are written in the order they were added. */

lm_status gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v, lm_error *err);
lm_status gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v, lm_error *err);
lm_status gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v, lm_error *err);
lm_status gguf_writer_add_f32(gguf_writer *w, const char *key, float v, lm_error *err);
lm_status gguf_writer_add_bool(gguf_writer *w, const char *key, int v, lm_error *err);
/* A NUL-terminated string (any bytes but NUL; GGUF strings should be UTF-8). */
lm_status gguf_writer_add_str(gguf_writer *w, const char *key, const char *v, lm_error *err);

/* Any value as gguf.h represents it: every scalar type (u64 for UINT8..UINT64 and BOOL, i64 for
 * INT8..INT64, f64 for FLOAT32/64, range-checked against the type), a string view, or an array
 * whose `arr.data` holds `arr.size` bytes of already encoded elements (as a parsed file's
 * arrays do, so a value read from one file is copied into another verbatim; nested arrays
 * included). An array's bytes are checked to hold exactly arr.n elements of arr.elem. */
lm_status gguf_writer_add_value(gguf_writer *w, const char *key, const gguf_value *v, lm_error *err);

/* An array of n fixed-size elements of type elem (not STRING or ARRAY) given as host values:
 * uint8_t/int8_t/.../double by the type's size, BOOL as uint8_t 0 or 1. */
lm_status gguf_writer_add_array(gguf_writer *w, const char *key, gguf_type elem, const void *elems,
                                uint64_t n, lm_error *err);

/* An array of n NUL-terminated strings. */
lm_status gguf_writer_add_str_array(gguf_writer *w, const char *key, const char *const *strs,
                                    uint64_t n, lm_error *err);

/* ---- tensor infos (phase 1) --------------------------------------------------------------- */

/* Declares the next tensor: name (unique, non-empty), n_dims in [1, 4] dimensions ne[0] fastest
 * (ne[0] is a row), all positive, and the element type. ne[0] must be a whole number of the
 * type's blocks. Its data, quant_row_bytes(type, ne[0]) times the other dimensions (the block
 * size for ggml types), comes later through gguf_writer_write(). */
lm_status gguf_writer_add_tensor(gguf_writer *w, const char *name, ggml_type type, uint32_t n_dims,
                                 const uint64_t *ne, lm_error *err);

/* Bytes of data the tensor at index i (in the order added) takes, without padding; 0 when out of
 * range. */
uint64_t gguf_writer_tensor_bytes(const gguf_writer *w, size_t i);

/* Total file size once every tensor is written (known after the last add). */
uint64_t gguf_writer_file_bytes(const gguf_writer *w);

/* ---- output (phase 2) --------------------------------------------------------------------- */

/* Creates (or truncates) `path` and writes everything up to the first tensor's data. No more
 * metadata or tensors may be added afterwards. LM_ERR_IO naming the path on failure. */
lm_status gguf_writer_open(gguf_writer *w, const char *path, lm_error *err);

/* Appends n bytes of tensor data: the tensors' bytes in the order they were declared, in chunks
 * of any size (a chunk may end one tensor and start the next). LM_ERR_INVALID for bytes beyond
 * the last tensor. */
lm_status gguf_writer_write(gguf_writer *w, const void *data, size_t n, lm_error *err);

/* Checks that every tensor got all its bytes (LM_ERR_INVALID naming the first short one), then
 * flushes, syncs and closes the file. The writer may only be destroyed afterwards. */
lm_status gguf_writer_close(gguf_writer *w, lm_error *err);

#endif
