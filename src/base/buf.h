/* buf.h — growable byte buffer (always NUL-terminated) for building text.
 *
 * A zeroed `lm_buf` is empty and valid. Appending never fails silently: on allocation failure the
 * buffer is marked `oom` and further appends are ignored, so callers check once at the end. */
#ifndef LM_BASE_BUF_H
#define LM_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *data;   /* NUL-terminated when len > 0 or cap > 0; NULL when never grown */
    size_t len;   /* bytes used, excluding the NUL */
    size_t cap;   /* bytes allocated */
    int oom;      /* an append failed for lack of memory */
} lm_buf;

void buf_append(lm_buf *b, const void *data, size_t n);
void buf_append_str(lm_buf *b, const char *s);
void buf_append_char(lm_buf *b, char c);
void buf_printf(lm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(lm_buf *b, const char *fmt, va_list ap);
/* Empties the buffer, keeping its memory. */
void buf_reset(lm_buf *b);
/* Frees the memory; `b` is empty and reusable afterwards. */
void buf_fini(lm_buf *b);
/* Returns the contents ("" when empty); valid until the next append. */
const char *buf_cstr(const lm_buf *b);

#endif
