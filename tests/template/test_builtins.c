/* tests/template/test_builtins.c — Jinja2's tests and the globals (range, namespace, dict,
 * strftime_now, raise_exception) from src/template/builtins.c against Python Jinja2 3.1.6. */
#include "tpltest.h"

static const tpltest_case cases[] = {
    {"{{ x is defined }}|{{ y is defined }}|{{ y is undefined }}|{{ d.k is defined }}|{{ d.z is defined }}|{{ d['z'] is undefined }}",
     "{\"x\": null, \"d\": {\"k\": 0}}",
     "True|False|True|True|False|True"},
    {"{{ none is none }}|{{ 0 is none }}|{{ x is none }}|{{ true is boolean }}|{{ 1 is boolean }}|{{ true is true }}|{{ 1 is true }}|{{ false is false }}|{{ 0 is false }}",
     "{\"x\": null}",
     "True|False|True|True|False|True|False|True|False"},
    {"{{ 1 is integer }}|{{ true is integer }}|{{ 1.0 is integer }}|{{ 1.0 is float }}|{{ 1 is number }}|{{ 1.5 is number }}|{{ true is number }}|{{ '1' is number }}",
     NULL,
     "True|False|False|True|True|True|True|False"},
    {"{{ 's' is string }}|{{ 1 is string }}|{{ ('x'|safe) is string }}|{{ {} is mapping }}|{{ [] is mapping }}|{{ ns is mapping }}|{{ d is mapping }}",
     "{\"d\": {}}",
     "True|False|True|True|False|False|True"},
    {"{{ [] is iterable }}|{{ 'a' is iterable }}|{{ {} is iterable }}|{{ none is iterable }}|{{ 1 is iterable }}|{{ y is iterable }}|{{ l is iterable }}",
     "{\"l\": [1]}",
     "True|True|True|False|False|True|True"},
    {"{{ [] is sequence }}|{{ 'a' is sequence }}|{{ {} is sequence }}|{{ 1 is sequence }}|{{ none is sequence }}|{{ y is sequence }}",
     NULL,
     "True|True|True|False|False|True"},
    {"{{ range is callable }}|{{ 'a'.upper is callable }}|{{ 1 is callable }}|{% macro m() %}{% endmacro %}{{ m is callable }}",
     NULL,
     "True|True|False|True"},
    {"{{ 3 is odd }}|{{ 4 is odd }}|{{ 4 is even }}|{{ -3 is odd }}|{{ 3.0 is odd }}|{{ 9 is divisibleby 3 }}|{{ 9 is divisibleby(2) }}|{{ -9 is divisibleby 3 }}",
     NULL,
     "True|False|True|True|True|True|False|True"},
    {"{{ 1 is eq 1 }}|{{ 1 is equalto 2 }}|{{ 1 is ne 2 }}|{{ 2 is gt 1 }}|{{ 2 is greaterthan 3 }}|{{ 2 is ge 2 }}|{{ 1 is lt 2 }}|{{ 1 is lessthan 0 }}|{{ 2 is le 2 }}|{{ [1,2]|select('==', 1)|list }}{{ [1,2]|select('!=', 1)|list }}{{ [1,2]|select('>', 1)|list }}{{ [1,2]|select('>=', 2)|list }}{{ [1,2]|select('<', 2)|list }}{{ [1,2]|select('<=', 1)|list }}",
     NULL,
     "True|False|True|True|False|True|True|False|True|[1][2][2][2][1][1]"},
    {"{{ 'a' is in 'abc' }}|{{ 1 is in [1] }}|{{ 'k' is in {'k': 1} }}|{{ 'z' is in [] }}",
     NULL,
     "True|True|True|False"},
    {"{{ 'ab' is lower }}|{{ 'Ab' is lower }}|{{ 'AB' is upper }}|{{ '1' is upper }}|{{ ('<b>'|safe) is escaped }}|{{ 'b' is escaped }}",
     NULL,
     "True|False|True|False|True|False"},
    {"{{ none is sameas none }}|{{ true is sameas true }}|{{ 1 is sameas 1 }}|{{ x is sameas x }}|{{ [1] is sameas [1] }}",
     "{\"x\": [1]}",
     "True|True|True|True|False"},
    {"{{ 'upper' is filter }}|{{ 'nofilter' is filter }}|{{ 'odd' is test }}|{{ 'notest' is test }}",
     NULL,
     "True|False|True|False"},
    {"{{ 1 is not none }}|{{ x is not defined }}|{{ not x is defined }}|{{ 1 is not odd }}",
     NULL,
     "True|True|True|False"},
    {"{{ range(3)|list }}|{{ range(1, 10, 3)|list }}|{{ range(5, 0, -2)|list }}|{{ range(0)|list }}|{{ range(-3)|list }}|{{ range(true)|list }}",
     NULL,
     "[0, 1, 2]|[1, 4, 7]|[5, 3, 1]|[]|[]|[0]"},
    /* elements near the int64 ends: start + i * step overflowed before the sum came back in range
     * (UBSan aborted the sanitizer build) */
    {"{{ range(-9223372036854775807, 9223372036854775807, 4611686018427387904)|list }}|{{ range(9223372036854775807, -9223372036854775807, -4611686018427387904)|list }}",
     NULL,
     "[-9223372036854775807, -4611686018427387903, 1, 4611686018427387905]|[9223372036854775807, 4611686018427387903, -1, -4611686018427387905]"},
    {"{% set ns = namespace(a=1, b='x') %}{% set ns.a = ns.a + 1 %}{{ ns.a }}{{ ns.b }}{{ ns.c is defined }}|{{ namespace({'q': 1}).q }}|{% set n2 = namespace() %}{% set n2.z = [1] %}{{ n2.z }}{{ n2['z'] }}",
     NULL,
     "2xFalse|1|[1][1]"},
    {"{% set d = dict(a=1, b=2) %}{{ d }}|{{ dict(d, c=3) }}|{{ dict([('x', 1)]) }}|{{ dict() }}",
     NULL,
     "{'a': 1, 'b': 2}|{'a': 1, 'b': 2, 'c': 3}|{'x': 1}|{}"},
    {"{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A %j %f %z%Z') }}|{{ strftime_now('%-d %B %y') }}|{{ strftime_now('') }}|{{ strftime_now('%%') }}",
     NULL,
     "15 Jan 2026|2026-01-15 12:00:00 Thursday 015 000000 |15 January 26||%"},

};

static void test_builtins_match_jinja2(void **state) {
    (void)state;
    tpltest_run(cases, sizeof cases / sizeof cases[0]);
}

static void test_raise_exception_message_is_exact(void **state) {
    (void)state;
    lm_buf out = {0};
    lm_error err;
    const char *src = "{% if messages|length > 1 %}{{ raise_exception('Roles must alternate user/assistant/...') }}{% endif %}";
    lm_status st = tpltest_render(src, "{\"messages\": [1, 2]}", NULL, &out, &err);
    assert_int_equal(st, LM_ERR_TEMPLATE);
    assert_string_equal(err.msg, "Roles must alternate user/assistant/...");
    assert_int_equal(err.line, 1);
    assert_int_equal(out.len, 0);
    buf_fini(&out);
    tpltest_fails("{{ raise_exception(42) }}", NULL, LM_ERR_TEMPLATE, "42");
}

static void test_strftime_now_uses_the_given_clock(void **state) {
    (void)state;
    struct tm day = {.tm_year = 124, .tm_mon = 1, .tm_mday = 29, .tm_hour = 23, .tm_min = 59};
    tpl_options o;
    tpl_options_init(&o);
    o.now = &day;
    lm_buf out = {0};
    lm_error err;
    assert_int_equal(tpltest_render("{{ strftime_now('%A %d %B %Y %H:%M') }}", NULL, &o, &out, &err), LM_OK);
    assert_string_equal(out.data, "Thursday 29 February 2024 23:59");
    buf_fini(&out);
    /* the system clock: some date, four-digit year */
    o.now = NULL;
    assert_int_equal(tpltest_render("{{ strftime_now('%Y')|length }}", NULL, &o, &out, &err), LM_OK);
    assert_string_equal(out.data, "4");
    buf_fini(&out);
}

static void test_builtin_errors(void **state) {
    (void)state;
    tpltest_fails("{{ range(1, 2, 0) }}", NULL, LM_ERR_INVALID, "must not be zero");
    tpltest_fails("{{ range(1.5) }}", NULL, LM_ERR_INVALID, "integer");
    tpltest_fails("{{ range(200000)|length }}", NULL, LM_ERR_LIMIT, "range too big");
    tpltest_fails("{{ range(-9223372036854775807, 9223372036854775807)|length }}", NULL, LM_ERR_LIMIT, "range too big");
    tpltest_fails("{{ dict(1, 2) }}", NULL, LM_ERR_INVALID, "at most 1");
    tpltest_fails("{{ 'x' is divisibleby 2 }}", NULL, LM_ERR_INVALID, NULL);
    tpltest_fails("{{ 1 is nosuchtest }}", NULL, LM_ERR_INVALID, "no test named");
    tpltest_fails("{{ strftime_now(5) }}", NULL, LM_ERR_INVALID, "must be str");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtins_match_jinja2),
        cmocka_unit_test(test_raise_exception_message_is_exact),
        cmocka_unit_test(test_strftime_now_uses_the_given_clock),
        cmocka_unit_test(test_builtin_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
