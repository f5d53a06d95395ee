/* limits.h — every limit on untrusted input, in one place.
 *
 * Each constant says what it bounds, why this value, and which error it raises (LM_ERR_LIMIT
 * unless noted). Tests may lower them by defining the macro before including this header. */
#ifndef LM_BASE_LIMITS_H
#define LM_BASE_LIMITS_H

/* GGUF: metadata key/value pairs in one file. Real files have < 100; 1M stops count bombs. */
#ifndef LM_GGUF_MAX_KV
#define LM_GGUF_MAX_KV (1u << 20)
#endif

/* GGUF: tensors in one file. The largest real models have tens of thousands. */
#ifndef LM_GGUF_MAX_TENSORS
#define LM_GGUF_MAX_TENSORS (1u << 20)
#endif

/* GGUF: nesting depth of array-of-array metadata values. Real files use 1. */
#ifndef LM_GGUF_MAX_ARRAY_DEPTH
#define LM_GGUF_MAX_ARRAY_DEPTH 8
#endif

/* GGUF: tensor rank. ggml supports 4. */
#define LM_GGUF_MAX_DIMS 4

/* Generation: most tokens one `generate` call may produce. */
#ifndef LM_MAX_NEW_TOKENS
#define LM_MAX_NEW_TOKENS (1 << 20)
#endif

#endif
