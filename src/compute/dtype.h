/* dtype.h — element types of weight tensors.
 *
 * Two ranges share one enum. Numbers below GGML_TYPE_COUNT are ggml's, because GGUF files store
 * these numbers. Numbers from LM_TYPE_FIRST up are lmserve's own formats, made by quantizing
 * F32/F16/BF16 weights at load time or by `lmserve export`, which stores them in GGUF files under
 * these numbers (docs/export.md): a number, once given, never changes meaning. Block layouts of every quantized type are in compute/quant.h; facts per type (name,
 * bytes per row) come from quant_type_name() and quant_row_bytes(). */
#ifndef LM_COMPUTE_DTYPE_H
#define LM_COMPUTE_DTYPE_H

/* Tensor element types. Only the types listed here are accepted; others fail parsing with
 * LM_ERR_UNSUPPORTED naming the number. */
typedef enum {
    /* ---- ggml's numbering (GGUF stores these) ---- */
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_I8 = 24,
    GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26,
    GGML_TYPE_I64 = 27,
    GGML_TYPE_F64 = 28,
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_COUNT = 40,   /* bound of ggml's range: tables of GGUF facts are this long */

    /* ---- lmserve's own formats (load time, and files written by lmserve export) ---- */
    LM_TYPE_FIRST = 64,
    LM_TYPE_I8_CH = 64,     /* int8 symmetric, one f32 scale per row (output channel) */
    LM_TYPE_I4_CH = 65,     /* int4 symmetric, one f32 scale per row (group size -1) */
    LM_TYPE_I4_G32 = 66,    /* int4 symmetric, one f16 scale per 32 weights of a row */
    LM_TYPE_I4_G64 = 67,    /* ... per 64 weights */
    LM_TYPE_I4_G128 = 68,   /* ... per 128 weights */
    LM_TYPE_COUNT = 69      /* bound of every type number: tables indexed by type are this long */
} ggml_type;

#endif
