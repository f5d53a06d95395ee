/* error.h — the one project-wide error value.
 *
 * Functions that can fail on input return an lm_status and fill a caller-owned `lm_error *err`.
 * The first failure wins: err_set() does nothing if `err` already holds an error, so a low-level
 * message travels up unchanged. Only the server layer maps a status to an HTTP code.
 * Messages name the thing, the value and what was expected ("tensor 'x': offset 123 past end of
 * file (size 100)"). `where` is a byte offset for files and JSON, line/column for templates. */
#ifndef LM_BASE_ERROR_H
#define LM_BASE_ERROR_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    LM_OK = 0,
    LM_ERR_INVALID,      /* bad argument or request value */
    LM_ERR_FORMAT,       /* malformed file or data (GGUF, JSON, template, ...) */
    LM_ERR_IO,           /* open/read/mmap failed */
    LM_ERR_NOMEM,        /* allocation failed */
    LM_ERR_UNSUPPORTED,  /* valid but not implemented (type, architecture, feature) */
    LM_ERR_LIMIT,        /* a limit from limits.h was exceeded */
    LM_ERR_NOT_FOUND,    /* named thing does not exist */
    LM_ERR_TEMPLATE,     /* template raised an exception */
    LM_ERR_INTERNAL,     /* broken invariant; a bug */
    LM_ERR_BUSY,         /* over capacity now (a full queue): retry later (HTTP 503) */
    LM_ERR_TIMEOUT,      /* a deadline passed (--request_timeout_s) */
} lm_status;

#define LM_ERROR_MSG_MAX 512

typedef struct {
    lm_status code;
    int64_t offset;      /* byte offset in the input, -1 when not applicable */
    int line, col;       /* 1-based position in text input, 0 when not applicable */
    char msg[LM_ERROR_MSG_MAX];
} lm_error;

/* Clears `err` to LM_OK. */
void err_clear(lm_error *err);

/* Records an error unless one is already recorded; returns `code` (or the earlier code) so a
 * caller can write `return err_set(err, LM_ERR_FORMAT, "...")`. `err` may be NULL. */
lm_status err_set(lm_error *err, lm_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As err_set(), also recording a byte offset; the offset is appended to the message. */
lm_status err_set_at(lm_error *err, lm_status code, int64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Short stable name of a status ("format", "io", ...). */
const char *err_status_name(lm_status code);

/* Propagate: `LM_TRY(f(...));` returns the status of f() when it fails. */
#define LM_TRY(expr) do { lm_status lm_try_s_ = (expr); if (lm_try_s_ != LM_OK) return lm_try_s_; } while (0)

#endif
