/* log.h — leveled logging to stderr. Thread-safe (one fprintf per line). */
#ifndef LM_BASE_LOG_H
#define LM_BASE_LOG_H

typedef enum { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR } log_level;

/* Sets the least severe level printed (default LOG_INFO). */
void log_set_level(log_level level);

/* Parses an OVMS --log_level name (TRACE, DEBUG, INFO, WARNING, ERROR; case-insensitive).
 * Returns 0 and sets *out, or -1 for an unknown name. */
int log_parse_level(const char *name, log_level *out);

void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
