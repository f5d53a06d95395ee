/* log.c — timestamped leveled lines on stderr, as text or JSON. Each line is built in memory and
 * written with one fwrite, so lines from different threads never interleave. */
#include "base/log.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/buf.h"
#include "base/utf8.h"

static atomic_int g_level = LOG_INFO;
static atomic_int g_format = LOG_FORMAT_TEXT;
static const char *const g_names[] = {"TRACE", "DEBUG", "INFO", "WARNING", "ERROR"};

void log_set_level(log_level level) { atomic_store(&g_level, (int)level); }
int log_enabled(log_level level) { return (int)level >= atomic_load(&g_level); }
void log_set_format(log_format format) { atomic_store(&g_format, (int)format); }
log_format log_get_format(void) { return (log_format)atomic_load(&g_format); }

int log_parse_level(const char *name, log_level *out) {
    for (int i = 0; i <= LOG_ERROR; i++) {
        if (strcasecmp(name, g_names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    return -1;
}

/* A JSON string literal of s. */
static void json_str(lm_buf *b, const char *s) {
    buf_append_char(b, '"');
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            buf_append_char(b, '\\');
            buf_append_char(b, (char)c);
            i++;
        } else if (c == '\n') {
            buf_append_str(b, "\\n"), i++;
        } else if (c == '\r') {
            buf_append_str(b, "\\r"), i++;
        } else if (c == '\t') {
            buf_append_str(b, "\\t"), i++;
        } else if (c < 0x20 || c == 0x7F) {
            buf_printf(b, "\\u%04x", c), i++;
        } else {
            size_t len = utf8_valid_len(p + i, n - i);
            if (len == 0) {
                buf_append_str(b, "\\ufffd");
                i++;
            } else {
                buf_append(b, p + i, len);
                i += len;
            }
        }
    }
    buf_append_char(b, '"');
}

/* Text value: bare when it is a plain word, else quoted with escapes. */
static void text_value(lm_buf *b, const char *s) {
    int plain = *s != '\0';
    for (const unsigned char *p = (const unsigned char *)s; *p && plain; p++)
        plain = *p > 0x20 && *p != '"' && *p != '\\' && *p != '=' && *p != 0x7F;
    if (plain) buf_append_str(b, s);
    else json_str(b, s);
}

static void number(lm_buf *b, double v) {
    if (!isfinite(v)) buf_append_str(b, "null");
    else if (v == floor(v) && fabs(v) < 1e15) buf_printf(b, "%.0f", v);
    else buf_printf(b, "%.6g", v);
}

/* Starts a line: the text prefix or the JSON object's time and level. */
static void line_start(lm_buf *b, log_level level, int json) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    if (json)
        buf_printf(b, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\"",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000000, g_names[level]);
    else
        buf_printf(b, "[%04d-%02d-%02d %02d:%02d:%02d.%03ld][%s] ", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000000, g_names[level]);
}

static void line_end(lm_buf *b, int json) {
    if (json) buf_append_char(b, '}');
    buf_append_char(b, '\n');
    if (!b->oom) fwrite(b->data, 1, b->len, stderr);
    buf_fini(b);
}

void log_msg(log_level level, const char *fmt, ...) {
    if (!log_enabled(level)) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int json = atomic_load(&g_format) == LOG_FORMAT_JSON;
    lm_buf b = {0};
    line_start(&b, level, json);
    if (json) {
        buf_append_str(&b, ",\"msg\":");
        json_str(&b, msg);
    } else {
        buf_append_str(&b, msg);
    }
    line_end(&b, json);
}

void log_fields(log_level level, const char *event, const log_field *fields, size_t n) {
    if (!log_enabled(level)) return;
    int json = atomic_load(&g_format) == LOG_FORMAT_JSON;
    lm_buf b = {0};
    line_start(&b, level, json);
    if (json) {
        buf_append_str(&b, ",\"event\":");
        json_str(&b, event);
    } else {
        buf_append_str(&b, event);
    }
    for (size_t i = 0; i < n; i++) {
        const log_field *f = &fields[i];
        if (!f->is_num && !f->str) continue;
        if (json) {
            buf_printf(&b, ",\"%s\":", f->key);
            if (f->is_num) number(&b, f->num);
            else json_str(&b, f->str);
        } else {
            buf_printf(&b, " %s=", f->key);
            if (f->is_num) number(&b, f->num);
            else text_value(&b, f->str);
        }
    }
    line_end(&b, json);
}
