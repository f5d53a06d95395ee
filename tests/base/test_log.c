/* tests/base/test_log.c — log lines as text and as JSON (each line parses, escapes hold, bytes
 * that are not UTF-8 become U+FFFD), structured access-log fields, and level filtering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"

/* Runs fn with stderr redirected to a temporary file; returns what it wrote. */
static void capture(void (*fn)(void), lm_buf *out) {
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    char chunk[1024];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, tmp)) > 0) buf_append(out, chunk, n);
    fclose(tmp);
}

static const log_field k_fields[] = {
    {.key = "method", .str = "POST"},
    {.key = "path", .str = "/v3/chat/completions"},
    {.key = "model", .str = "my \"model\"\n\xff"},
    {.key = "status", .num = 200, .is_num = 1},
    {.key = "ttft_s", .num = 0.0125, .is_num = 1},
    {.key = "finish", .str = NULL}, /* absent: left out */
};

static void emit(void) {
    log_msg(LOG_INFO, "hello \"world\"\tok");
    log_msg(LOG_DEBUG, "hidden at INFO");
    log_fields(LOG_INFO, "access", k_fields, sizeof k_fields / sizeof k_fields[0]);
}

static void test_text_lines(void **state) {
    (void)state;
    log_set_level(LOG_INFO);
    log_set_format(LOG_FORMAT_TEXT);
    lm_buf out = {0};
    capture(emit, &out);
    const char *s = buf_cstr(&out);
    assert_non_null(strstr(s, "][INFO] hello \"world\"\tok\n"));
    assert_null(strstr(s, "hidden"));
    assert_non_null(strstr(s, "][INFO] access method=POST path=/v3/chat/completions "
                              "model=\"my \\\"model\\\"\\n\\ufffd\" status=200 ttft_s=0.0125\n"));
    assert_null(strstr(s, "finish"));
    buf_fini(&out);
}

static void test_json_lines(void **state) {
    (void)state;
    log_set_level(LOG_INFO);
    log_set_format(LOG_FORMAT_JSON);
    lm_buf out = {0};
    capture(emit, &out);
    log_set_format(LOG_FORMAT_TEXT);
    char *save = NULL;
    int lines = 0;
    for (char *line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o) fail_msg("not JSON: %s (%s)", line, je.text);
        assert_string_equal(json_string_value(json_object_get(o, "level")), "INFO");
        assert_non_null(json_string_value(json_object_get(o, "ts")));
        if (lines == 0) {
            assert_string_equal(json_string_value(json_object_get(o, "msg")), "hello \"world\"\tok");
        } else {
            assert_string_equal(json_string_value(json_object_get(o, "event")), "access");
            assert_string_equal(json_string_value(json_object_get(o, "method")), "POST");
            assert_string_equal(json_string_value(json_object_get(o, "model")),
                                "my \"model\"\n\xef\xbf\xbd");
            assert_int_equal(json_integer_value(json_object_get(o, "status")), 200);
            assert_true(json_real_value(json_object_get(o, "ttft_s")) == 0.0125);
            assert_null(json_object_get(o, "finish"));
        }
        json_decref(o);
        lines++;
    }
    assert_int_equal(lines, 2);
    buf_fini(&out);
}

static void test_levels(void **state) {
    (void)state;
    log_set_level(LOG_WARNING);
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_ERROR));
    log_level l;
    assert_int_equal(log_parse_level("debug", &l), 0);
    assert_int_equal(l, LOG_DEBUG);
    assert_int_equal(log_parse_level("verbose", &l), -1);
    log_set_level(LOG_INFO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_lines),
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
