/* log.h — leveled logging to stderr, as text or as JSON lines. Thread-safe (one write per line).
 *
 * Text lines read `[2026-12-08 02:55:01.123][INFO] message`; with LOG_FORMAT_JSON every line is
 * one JSON object, `{"ts":"2026-12-08T02:55:01.123Z","level":"INFO","msg":"message"}`, for log
 * shippers. log_fields() writes a structured event (the access log): in text, `event key=value
 * ...` (strings quoted when they hold spaces, quotes or control characters); in JSON, the
 * fields become keys of the object. Bytes that are not UTF-8 are written as U+FFFD in JSON. */
#ifndef LM_BASE_LOG_H
#define LM_BASE_LOG_H

#include <stddef.h>

typedef enum { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR } log_level;
typedef enum { LOG_FORMAT_TEXT, LOG_FORMAT_JSON } log_format;

/* Sets the least severe level printed (default LOG_INFO). */
void log_set_level(log_level level);
/* 1 when messages of `level` are printed (skip building an expensive line otherwise). */
int log_enabled(log_level level);
/* Sets the line format (default LOG_FORMAT_TEXT). Call before other threads log. */
void log_set_format(log_format format);
log_format log_get_format(void);

/* Parses an OVMS --log_level name (TRACE, DEBUG, INFO, WARNING, ERROR; case-insensitive).
 * Returns 0 and sets *out, or -1 for an unknown name. */
int log_parse_level(const char *name, log_level *out);

void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One field of a structured line: a string (str != NULL; NULL fields are left out when is_num
 * is 0 too) or a number. */
typedef struct {
    const char *key;             /* [a-z_]+ */
    const char *str;
    double num;
    int is_num;
} log_field;

/* Writes one structured line: `event` plus the fields, in order. */
void log_fields(log_level level, const char *event, const log_field *fields, size_t n);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
