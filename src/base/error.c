/* error.c — recording the first error with its message and location. */
#include "base/error.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_clear(lm_error *err) {
    if (!err) return;
    memset(err, 0, sizeof *err);
    err->offset = -1;
}

static lm_status err_vset(lm_error *err, lm_status code, int64_t offset, const char *fmt,
                          va_list ap) {
    if (!err) return code;
    if (err->code != LM_OK) return err->code; /* first failure wins */
    err->code = code;
    err->offset = offset;
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    if (offset >= 0 && n >= 0 && (size_t)n < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, " (at byte offset %" PRId64 ")", offset);
    return code;
}

lm_status err_set(lm_error *err, lm_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lm_status s = err_vset(err, code, -1, fmt, ap);
    va_end(ap);
    return s;
}

lm_status err_set_at(lm_error *err, lm_status code, int64_t offset, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lm_status s = err_vset(err, code, offset, fmt, ap);
    va_end(ap);
    return s;
}

const char *err_status_name(lm_status code) {
    switch (code) {
    case LM_OK: return "ok";
    case LM_ERR_INVALID: return "invalid";
    case LM_ERR_FORMAT: return "format";
    case LM_ERR_IO: return "io";
    case LM_ERR_NOMEM: return "nomem";
    case LM_ERR_UNSUPPORTED: return "unsupported";
    case LM_ERR_LIMIT: return "limit";
    case LM_ERR_NOT_FOUND: return "not_found";
    case LM_ERR_TEMPLATE: return "template";
    case LM_ERR_INTERNAL: return "internal";
    case LM_ERR_BUSY: return "busy";
    case LM_ERR_TIMEOUT: return "timeout";
    }
    return "unknown";
}
