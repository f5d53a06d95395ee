/* tests/template/test_pystr.c — UTF-8 helpers and the Python character behaviours
 * (src/template/pystr.c): isspace, case mapping, isprintable, float repr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "template/pystr.h"

static void test_utf8(void **state) {
    (void)state;
    uint32_t cp;
    assert_int_equal(tpl_utf8_decode("\xc3\xa9", 2, &cp), 2);
    assert_int_equal(cp, 0xe9);
    assert_int_equal(tpl_utf8_decode("\xf0\x9f\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1f600);
    assert_int_equal(tpl_utf8_decode("\xf0\x9f\x98", 3, &cp), 0);      /* truncated */
    assert_int_equal(tpl_utf8_decode("\xc0\xaf", 2, &cp), 0);          /* overlong */
    assert_int_equal(tpl_utf8_decode("\xed\xa0\x80", 3, &cp), 0);      /* surrogate */
    assert_int_equal(tpl_utf8_decode("\xf4\x90\x80\x80", 4, &cp), 0);  /* > U+10FFFF */
    char buf[4];
    assert_int_equal(tpl_utf8_encode(0x20ac, buf), 3);
    assert_memory_equal(buf, "\xe2\x82\xac", 3);
    size_t bad = 0;
    assert_true(tpl_utf8_valid("a\xc3\xa9z", 4, &bad));
    assert_false(tpl_utf8_valid("ab\xff", 3, &bad));
    assert_int_equal(bad, 2);
    assert_int_equal(tpl_utf8_count("h\xc3\xa9llo\xf0\x9f\x98\x80", 10), 6);
    assert_int_equal(tpl_utf8_offset("h\xc3\xa9llo", 6, 2), 3);
    assert_int_equal(tpl_utf8_offset("ab", 2, 9), 2);
}

static void test_isspace_and_strip(void **state) {
    (void)state;
    const uint32_t spaces[] = {' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1f, 0x85, 0xa0, 0x1680,
                               0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000};
    for (size_t i = 0; i < sizeof spaces / sizeof spaces[0]; i++) assert_true(tpl_py_isspace(spaces[i]));
    assert_false(tpl_py_isspace(0x200b)); /* zero-width space is not whitespace in Python */
    assert_false(tpl_py_isspace('x'));
    const char *s = "\xe3\x80\x80 x \xc2\xa0\n";
    assert_int_equal(tpl_py_ws_prefix(s, strlen(s)), 4);
    assert_int_equal(tpl_py_ws_suffix(s, strlen(s)), 4);
    assert_int_equal(tpl_py_ws_prefix("   ", 3), 3);
}

static void test_case_mapping(void **state) {
    (void)state;
    assert_int_equal(tpl_py_toupper('a'), 'A');
    assert_int_equal(tpl_py_tolower('Z'), 'z');
    assert_int_equal(tpl_py_toupper(0xe9), 0xc9);    /* é */
    assert_int_equal(tpl_py_toupper(0xff), 0x178);   /* ÿ */
    assert_int_equal(tpl_py_tolower(0x100), 0x101);  /* Ā */
    assert_int_equal(tpl_py_toupper(0x3b1), 0x391);  /* α */
    assert_int_equal(tpl_py_toupper(0x3c2), 0x3a3);  /* final sigma */
    assert_int_equal(tpl_py_tolower(0x416), 0x436);  /* Ж */
    assert_int_equal(tpl_py_tolower(0x401), 0x451);  /* Ё */
    assert_int_equal(tpl_py_toupper(0x561), 0x531);  /* Armenian */
    assert_int_equal(tpl_py_toupper(0xff41), 0xff21); /* full-width a */
    assert_int_equal(tpl_py_toupper(0x4e2d), 0x4e2d); /* 中 has no case */
    assert_true(tpl_py_isupper('A'));
    assert_true(tpl_py_islower(0xdf));               /* ß */
    assert_false(tpl_py_iscased('1'));
    assert_true(tpl_py_isalpha(0x4e2d));
    assert_true(tpl_py_isdigit(0x661));              /* Arabic-Indic one */
}

static void test_isprintable(void **state) {
    (void)state;
    assert_true(tpl_py_isprintable('a'));
    assert_true(tpl_py_isprintable(0xe9));
    assert_true(tpl_py_isprintable(0x1f600));
    assert_false(tpl_py_isprintable(0x7f));
    assert_false(tpl_py_isprintable(0xa0));
    assert_false(tpl_py_isprintable(0x200b));
    assert_false(tpl_py_isprintable(0x2028));
    assert_false(tpl_py_isprintable(0xfeff));
    assert_false(tpl_py_isprintable(0xe000));
}

static void test_float_repr(void **state) {
    (void)state;
    static const struct { double x; const char *want; } cases[] = {
        {22.0, "22.0"}, {0.1, "0.1"}, {0.1 + 0.2, "0.30000000000000004"}, {1e16, "1e+16"},
        {1e15, "1000000000000000.0"}, {1e-5, "1e-05"}, {0.0001, "0.0001"}, {-0.0, "-0.0"},
        {1.5e-7, "1.5e-07"}, {123456789.125, "123456789.125"}, {1e22, "1e+22"},
        {1.0 / 3, "0.3333333333333333"}, {-2.5, "-2.5"}, {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
    };
    char buf[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tpl_py_float_repr(cases[i].x, buf);
        assert_string_equal(buf, cases[i].want);
    }
    tpl_py_float_repr(INFINITY, buf);
    assert_string_equal(buf, "inf");
    tpl_py_float_repr(-INFINITY, buf);
    assert_string_equal(buf, "-inf");
    tpl_py_float_repr(NAN, buf);
    assert_string_equal(buf, "nan");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_isspace_and_strip),
        cmocka_unit_test(test_case_mapping),
        cmocka_unit_test(test_isprintable),
        cmocka_unit_test(test_float_repr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
