/* kernels.h — the kernel dispatch table.
 *
 * A kernel set holds, per weight type, a dot product of one weight row with an f32 vector; the
 * matrix-vector product is built on it. The scalar reference set (kernels_ref.c) is the oracle;
 * SIMD sets (kernels_avx2.c, ...) are compiled with per-function target attributes and chosen at
 * run time from cpu_features. Tests run every set this machine supports against the reference.
 * Adding a weight type = one function per set plus its table entry. */
#ifndef LM_COMPUTE_KERNELS_H
#define LM_COMPUTE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "compute/dtype.h"

/* Dot product of n elements of a weight row (stored as its type) with x (f32). n is a multiple of
 * the type's block size. */
typedef float (*kern_dot_fn)(int64_t n, const void *w_row, const float *x);

typedef struct {
    const char *name;                 /* "scalar", "avx2", ... */
    kern_dot_fn dot[GGML_TYPE_COUNT]; /* NULL: type not handled by this set (fall back to ref) */
} kern_set;

/* The scalar reference set: handles every type the engine supports. */
const kern_set *kern_reference(void);

/* The best set for this CPU, chosen once. The environment variable LM_KERNELS=<name> forces a set
 * (e.g. "scalar") if this machine can run it. */
const kern_set *kern_best(void);

/* Fills out[] with every set this machine can run (reference first); returns how many. */
size_t kern_available(const kern_set **out, size_t max);

/* y[r] = dot(row r of w, x) for r in [0, rows). Rows are row_bytes apart. Uses k->dot[t], or the
 * reference when k has none for t. */
void kern_matvec(const kern_set *k, ggml_type t, const void *w, size_t row_bytes, int64_t rows,
                 int64_t cols, const float *x, float *y);

/* Converts n elements (a whole number of blocks) of one row of type t to f32. Every type the
 * reference set handles has a dequantizer (the embedding lookup and tests use it). */
void kern_dequantize_row(ggml_type t, const void *row, float *out, int64_t n);

/* Whether the reference set handles weight type t. */
int kern_supports(ggml_type t);

/* IEEE half and bfloat16 conversions (scalar, exact; round-to-nearest-even for f32 -> f16). */
float kern_f16_to_f32(uint16_t h);
uint16_t kern_f32_to_f16(float f);
float kern_bf16_to_f32(uint16_t h);

#endif
