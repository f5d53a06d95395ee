/* tests/base/test_buf.c — growable buffer and error recording. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"

static void test_buf_grows_and_terminates(void **state) {
    (void)state;
    lm_buf b = {0};
    assert_string_equal(buf_cstr(&b), "");
    for (int i = 0; i < 1000; i++) buf_printf(&b, "%d,", i % 10);
    assert_int_equal(b.len, 2000);
    assert_int_equal(b.data[b.len], '\0');
    assert_memory_equal(b.data, "0,1,2,", 6);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    buf_append_str(&b, "xy");
    assert_string_equal(buf_cstr(&b), "xy");
    buf_fini(&b);
}

static void test_error_first_wins(void **state) {
    (void)state;
    lm_error e;
    err_clear(&e);
    assert_int_equal(e.code, LM_OK);
    assert_int_equal(err_set_at(&e, LM_ERR_FORMAT, 42, "bad %s", "magic"), LM_ERR_FORMAT);
    assert_int_equal(err_set(&e, LM_ERR_IO, "later"), LM_ERR_FORMAT);
    assert_string_equal(e.msg, "bad magic (at byte offset 42)");
    assert_int_equal(e.offset, 42);
    assert_int_equal(err_set(NULL, LM_ERR_IO, "ignored"), LM_ERR_IO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_grows_and_terminates),
        cmocka_unit_test(test_error_first_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
