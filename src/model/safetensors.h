/* safetensors.h — reader for Hugging Face .safetensors files and sharded model folders, by mmap,
 * never copying tensor data.
 *
 * File layout:
 *
 *   u64 N (little-endian) | N bytes of JSON header (UTF-8; writers pad it with spaces) | data
 *
 *   header = { "<tensor name>": { "dtype": "BF16", "shape": [d0, d1, ...],
 *                                 "data_offsets": [begin, end] },
 *              ...,
 *              "__metadata__": { "<key>": "<string value>", ... } }      (optional)
 *
 *   begin/end are byte offsets from the start of the data buffer (file offset 8 + N). A tensor is
 *   row-major: d0 is the outermost dimension, the last one is contiguous (PyTorch's order, the
 *   reverse of GGUF's ne[]). Elements are little-endian.
 *
 * st_parse() validates the whole file before returning, with the rules of Hugging Face's own
 * reader (the `safetensors` crate) plus duplicate keys, so that a file loads here exactly when
 * it loads there:
 *   - N <= LM_ST_MAX_HEADER and 8 + N <= file size;
 *   - the header is JSON (jansson, duplicate keys refused at every level), an object; each entry
 *     other than "__metadata__" is an object with a known "dtype" string, a "shape" array of at
 *     most LM_ST_MAX_DIMS non-negative integers whose product (times the element size) does not
 *     overflow 64 bits, and "data_offsets" [begin, end] with begin <= end <= data size and
 *     end - begin == bytes of shape x dtype; other keys of an entry are ignored (as HF does);
 *   - "__metadata__", when present and not null, maps strings to strings;
 *   - sorted by data_offsets, the tensors tile the data buffer exactly: no overlap, no hole, and
 *     the last one ends at the end of the file (HF refuses holes and trailing bytes too);
 *   - at most LM_ST_MAX_TENSORS tensors.
 * Errors (LM_ERR_FORMAT; LM_ERR_LIMIT for limits.h; LM_ERR_UNSUPPORTED for an unknown dtype
 * string) name the tensor, the offending value and a byte offset in the file: of the JSON syntax
 * error, of the tensor's entry in the header, or of its data.
 *
 * Data alignment: `data` points into a page-aligned mapping at 8 + N + begin. HF's writer pads
 * the header to a multiple of 8 and orders tensors by decreasing alignment, so its tensors are
 * aligned to their element size; other writers need not be. A caller that reads elements in
 * place must check ((uintptr_t)data % element size) itself.
 *
 * Names and metadata are NUL-terminated copies (JSON cannot carry a NUL here: jansson refuses
 * \u0000 by default) valid until st_close(). A parsed file is immutable; concurrent readers are
 * fine. Costs: O(header bytes) memory while parsing (jansson's tree, up to ~20x the header),
 * O(number of tensors + name bytes) afterwards; lookups O(log n). */
#ifndef LM_MODEL_SAFETENSORS_H
#define LM_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/limits.h"
#include "compute/dtype.h"

/* Element types of the format, named as in the file ("F8_E4M3"). All are recognised; which ones
 * the engine accepts is its own decision (st_dtype_ggml() tells which ggml has). */
typedef enum {
    ST_DTYPE_BOOL,
    ST_DTYPE_U8,
    ST_DTYPE_I8,
    ST_DTYPE_U16,
    ST_DTYPE_I16,
    ST_DTYPE_F16,
    ST_DTYPE_BF16,
    ST_DTYPE_U32,
    ST_DTYPE_I32,
    ST_DTYPE_F32,
    ST_DTYPE_U64,
    ST_DTYPE_I64,
    ST_DTYPE_F64,
    ST_DTYPE_C64,         /* complex: two F32 */
    ST_DTYPE_F8_E5M2,
    ST_DTYPE_F8_E4M3,
    ST_DTYPE_F8_E8M0,     /* MX scale */
    ST_DTYPE_F8_E4M3FNUZ,
    ST_DTYPE_F8_E5M2FNUZ,
    ST_DTYPE_F4,          /* MXFP4, two per byte */
    ST_DTYPE_F6_E2M3,     /* MXFP6, 6 bits */
    ST_DTYPE_F6_E3M2,
    ST_DTYPE_COUNT
} st_dtype;

/* The dtype's name as the file spells it ("BF16"); NULL outside the enum. */
const char *st_dtype_name(st_dtype d);
/* Bits per element (4, 6, 8, 16, 32 or 64); 0 outside the enum. */
unsigned st_dtype_bits(st_dtype d);
/* The ggml type with the same element encoding: F32, F16, BF16, F64, I8, I16, I32, I64; else
 * GGML_TYPE_COUNT (unsigned ints, bool, complex, FP8/FP6/FP4 have no ggml equivalent). */
ggml_type st_dtype_ggml(st_dtype d);

/* One tensor (a view into the mapping). */
typedef struct {
    const char *name;               /* NUL-terminated, owned by the file */
    st_dtype dtype;
    ggml_type type;                 /* st_dtype_ggml(dtype); GGML_TYPE_COUNT when none */
    uint32_t n_dims;                /* 0 (a scalar) to LM_ST_MAX_DIMS */
    uint64_t shape[LM_ST_MAX_DIMS]; /* as in the file: shape[0] outermost, shape[n_dims - 1]
                                       contiguous; entries from n_dims on are 1 */
    uint64_t n_elems;               /* product of the shape: 1 for a scalar, 0 if a dim is 0 */
    uint64_t offset;                /* begin, from the start of the data buffer */
    uint64_t nbytes;                /* end - begin == n_elems * bits / 8 */
    const void *data;               /* first byte in the mapping (one past the end if nbytes 0) */
} st_tensor;

/* One "__metadata__" entry. */
typedef struct {
    const char *key;
    const char *value;
} st_meta;

typedef struct st_file st_file;

/* Maps and parses the file at `path`; messages name the path. On success *out owns the mapping;
 * free with st_close(). */
lm_status st_open(const char *path, st_file **out, lm_error *err);

/* Parses `size` bytes at `data` (not copied: they must outlive the result). Used by fuzzing and
 * tests; st_open() maps the file and calls this. */
lm_status st_parse(const void *data, size_t size, st_file **out, lm_error *err);

/* Frees the file (and unmaps it when opened by st_open). Accepts NULL. */
void st_close(st_file *f);

/* File offset of the data buffer: 8 + N. */
uint64_t st_data_offset(const st_file *f);

/* Tensors in data order (increasing offset); at() returns NULL for i >= count. */
size_t st_tensor_count(const st_file *f);
const st_tensor *st_tensor_at(const st_file *f, size_t i);
/* The tensor named `name`; NULL when absent. */
const st_tensor *st_find_tensor(const st_file *f, const char *name);

/* "__metadata__" entries, in header order. */
size_t st_meta_count(const st_file *f);
const st_meta *st_meta_at(const st_file *f, size_t i);
/* Value of metadata `key`; NULL when absent. */
const char *st_meta_get(const st_file *f, const char *key);

/* ---------------------------------------------------------------------------------------------
 * A model folder: one model.safetensors, or model.safetensors.index.json plus shards.
 *
 * st_model_open(dir) looks, like transformers, first for dir/model.safetensors, then for
 * dir/model.safetensors.index.json:
 *
 *   { "metadata": {...}, "weight_map": { "<tensor name>": "<shard file name>", ... } }
 *
 * Shard names are resolved relative to `dir`; a name that is empty or holds '/', '\' or ".." is
 * refused (an index must not reach outside its folder). Every named shard is opened once and
 * fully validated; the lookup covers all tensors of all shards. Refused: a tensor name present
 * in two shards, a weight_map entry whose shard lacks that tensor (or whose file is missing), an
 * empty weight_map, more than LM_ST_MAX_SHARDS shards or LM_ST_MAX_TENSORS tensors, an index
 * larger than LM_ST_MAX_INDEX bytes. Tensors a shard holds beyond its weight_map entries are
 * kept (transformers loads them too). Immutable after opening; concurrent readers are fine.
 * ------------------------------------------------------------------------------------------- */

typedef struct st_model st_model;

/* Opens the model in folder `dir`. LM_ERR_NOT_FOUND when the folder has neither file. */
lm_status st_model_open(const char *dir, st_model **out, lm_error *err);
/* Closes every shard. Accepts NULL. */
void st_model_close(st_model *m);

/* All tensors, by name (strcmp order); at() returns NULL for i >= count. */
size_t st_model_tensor_count(const st_model *m);
const st_tensor *st_model_tensor_at(const st_model *m, size_t i);
/* The tensor named `name` in whichever shard holds it; NULL when absent. */
const st_tensor *st_model_find(const st_model *m, const char *name);

/* Shards, by file name (a single file is one shard named "model.safetensors"). */
size_t st_model_shard_count(const st_model *m);
const st_file *st_model_shard(const st_model *m, size_t i);
const char *st_model_shard_name(const st_model *m, size_t i);

#endif
