/* kernels.h — the kernel dispatch table and the matrix products built on it.
 *
 * A kernel set holds, per weight type, a dot product of one weight row with an f32 vector, and
 * optionally a multi-vector variant that decodes the row once for several vectors (prefill and
 * batched decode). Matrix-vector and matrix-matrix products are built on them, single-threaded
 * or split over a thread pool by rows. The scalar reference set (kernels_ref.c) is the oracle:
 * dot(row, x) = sum of (exact dequantized weight, quant.h) * x, in f32. SIMD sets
 * (kernels_avx2.c, kernels_avx512.c) are compiled with per-function target attributes for a
 * baseline x86-64 binary and chosen at run time from cpu_features. They keep x in f32 too, so
 * they differ from the reference only by summation order (tests: tests/compute/test_kernels.c).
 * Adding a weight type = its layout in quant.h, one function per set, its table entries.
 *
 * Threads: every function here is reentrant; kern_best() caches its choice on first use. */
#ifndef LM_COMPUTE_KERNELS_H
#define LM_COMPUTE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "compute/dtype.h"
#include "compute/threadpool.h"

/* Dot product of n elements of a weight row (stored as its type) with x (f32). n is a multiple
 * of quant_row_multiple(type). */
typedef float (*kern_dot_fn)(int64_t n, const void *w_row, const float *x);

/* Most vectors one kern_dotn_fn call takes. */
#define KERN_DOTN_MAX 4

/* out[b] = dot(n, w_row, x + b * x_stride) for b < nx, 1 <= nx <= KERN_DOTN_MAX: the row is
 * decoded once for all nx vectors. Same numbers as nx calls of the set's dot, up to summation
 * order. */
typedef void (*kern_dotn_fn)(int64_t n, const void *w_row, const float *x, size_t x_stride, int nx,
                             float *out);

/* y[i] += a * row[i] for i < n, the row stored as its type: the attention's weighted sum of
 * cached values. Only F32 and F16 (the KV cache types) have one. */
typedef void (*kern_axpy_fn)(int64_t n, float a, const void *row, float *y);

/* ---- int8 activations --------------------------------------------------------------------
 * An activation row of n floats (n a multiple of KERN_Q8_BLOCK) is quantized once per product
 * into a "q8 row": per block of 32, d = max|x| / 127 and q = round(x / d) (ties away from zero) in
 * [-127, 127], as llama.cpp's Q8_0. Layout (kern_q8_row_bytes(n) bytes, a multiple of 64):
 * n int8 q, then n/32 f32 d, then n/32 f32 ds = d * sum(q of the block) (for types with a
 * per-block minimum), then padding. Quantizing is the same on every set (kern_quantize_q8).
 *
 * A set's qgemm[t] multiplies a tile of nr <= KERN_QGEMM_MR weight rows (row_bytes apart) by
 * nc <= KERN_QGEMM_NC q8 rows (xq_stride apart): y[c * ldy + r] = dot(row r, q8 row c), computed
 * per block as an exact integer sum of weight codes times q, scaled in f32 (kernels_q8.c defines
 * the reference). Every (r, c) result is computed by the same operations in the same order
 * whatever nr and nc are, so a token's numbers do not depend on the batch it is in. */
#define KERN_Q8_BLOCK 32
#define KERN_QGEMM_MR 4
#define KERN_QGEMM_NC 4

typedef void (*kern_qgemm_fn)(int64_t n, const void *w, size_t row_bytes, int nr, const void *xq,
                              size_t xq_stride, int nc, float *y, size_t ldy);

/* Optional packed path for long batches: qpack(n, w, row_bytes, nr, buf) writes the weight side
 * of an nr-row tile into buf in the set's own layout and returns its size (buf == NULL: only the
 * size); qgemm_packed then takes that buffer as w (row_bytes unused) and gives the same bits as
 * qgemm on the rows. */
typedef size_t (*kern_qpack_fn)(int64_t n, const void *w, size_t row_bytes, int nr, void *buf);

typedef struct {
    const char *name;                 /* "scalar", "avx2", "avx512", "avx512vnni", ... */
    kern_dot_fn dot[LM_TYPE_COUNT];   /* NULL: type not handled by this set (fall back to ref) */
    kern_dotn_fn dotn[LM_TYPE_COUNT]; /* NULL: loop over dot */
    kern_axpy_fn axpy[LM_TYPE_COUNT]; /* NULL: the reference's */
    kern_qgemm_fn qgemm[LM_TYPE_COUNT]; /* NULL: no int8-activation kernel of its own */
    kern_qpack_fn qpack[LM_TYPE_COUNT]; /* NULL: no packed path (qgemm_packed NULL too) */
    kern_qgemm_fn qgemm_packed[LM_TYPE_COUNT];
} kern_set;

/* The scalar reference set: handles every type quant_type_known() knows. */
const kern_set *kern_reference(void);

/* The best set for this CPU, chosen once. The environment variable LM_KERNELS=<name> forces a set
 * (e.g. "scalar") if this machine can run it. */
const kern_set *kern_best(void);

/* Fills out[] with every set this machine can run, plainest first (reference first, best last);
 * returns how many. */
size_t kern_available(const kern_set **out, size_t max);

/* Whether the reference set handles weight type t. */
int kern_supports(ggml_type t);

/* ---- products ------------------------------------------------------------------------------ */

/* y[r] = dot(row r of w, x) for r in [0, rows). Rows are row_bytes apart. Uses k->dot[t], or the
 * reference when k has none for t. */
void kern_matvec(const kern_set *k, ggml_type t, const void *w, size_t row_bytes, int64_t rows,
                 int64_t cols, const float *x, float *y);

/* kern_matvec split by rows over the pool's threads (p == NULL: on the calling thread). */
void kern_matvec_mt(const kern_set *k, pool *p, ggml_type t, const void *w, size_t row_bytes,
                    int64_t rows, int64_t cols, const float *x, float *y);

/* y[b][r] = dot(row r of w, x[b]) for b < n_batch, r < rows; x is [n_batch][cols] and y is
 * [n_batch][rows], both row-major. Each weight row is read from memory once for all n_batch
 * vectors (rows are processed in cache-sized tiles). Split by rows over the pool (NULL: calling
 * thread). n_batch == 1 is kern_matvec_mt. */
void kern_matmul(const kern_set *k, pool *p, ggml_type t, const void *w, size_t row_bytes,
                 int64_t rows, int64_t cols, const float *x, int n_batch, float *y);

/* ---- int8-activation products (see "int8 activations" above) ------------------------------- */

/* Bytes of one q8 row of n activations (n a multiple of 32); a multiple of 64. */
size_t kern_q8_row_bytes(int64_t n);

/* Quantizes x[0..n) into one q8 row (n a multiple of 32). Non-finite inputs give an unspecified
 * but finite row. */
void kern_quantize_q8(int64_t n, const float *x, void *row);

/* Quantizes T rows of n floats (x rows n apart) into q8 rows kern_q8_row_bytes(n) apart, split
 * over the pool (NULL: calling thread). */
void kern_quantize_q8_rows(pool *p, int64_t n, const float *x, int T, void *xq);

/* Whether type t has an int8-activation product in the reference (every set can then run it). */
int kern_q8_supports(ggml_type t);

/* Whether set k has its own int8-activation kernel for t and it is faster than the f32 path at
 * every batch size: the engine uses int8 activations for exactly these weights (Q4_K is not
 * among them; kernels_q8.c says why). */
int kern_q8_native(const kern_set *k, ggml_type t);

/* y[b][r] = dot(row r of w, q8 row b) for b < n_batch, r < rows (xq rows kern_q8_row_bytes(cols)
 * apart, y rows `rows` apart). Row tiles of KERN_QGEMM_MR stay in L1 while every q8 row passes,
 * so weights come from memory once; split by rows over the pool (NULL: calling thread). Uses
 * k->qgemm[t], else the reference's. */
void kern_matmul_q8(const kern_set *k, pool *p, ggml_type t, const void *w, size_t row_bytes,
                    int64_t rows, int64_t cols, const void *xq, int n_batch, float *y);

/* ---- conversions --------------------------------------------------------------------------- */

/* out[0..n) = row of type t as f32, exactly (for embeddings; see quant_dequantize_row). */
void kern_row_to_f32(ggml_type t, const void *row, int64_t n, float *out);

/* IEEE half and bfloat16 conversions (scalar, exact; round-to-nearest-even for f32 -> f16 and
 * f32 -> bf16; NaN stays NaN). */
float kern_f16_to_f32(uint16_t h);
uint16_t kern_f32_to_f16(float f);
float kern_bf16_to_f32(uint16_t h);
uint16_t kern_f32_to_bf16(float f);

#endif
