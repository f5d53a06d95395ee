/* log.c — timestamped leveled lines on stderr. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

static log_level g_level = LOG_INFO;
static const char *const g_names[] = {"TRACE", "DEBUG", "INFO", "WARNING", "ERROR"};

void log_set_level(log_level level) { g_level = level; }

int log_parse_level(const char *name, log_level *out) {
    for (int i = 0; i <= LOG_ERROR; i++) {
        if (strcasecmp(name, g_names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_msg(log_level level, const char *fmt, ...) {
    if (level < g_level) return;
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "[%04d-%02d-%02d %02d:%02d:%02d.%03ld][%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, g_names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
