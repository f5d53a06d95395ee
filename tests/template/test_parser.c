/* tests/template/test_parser.c — the grammar (src/template/parser.c): operator priorities,
 * filter/test chains, statements, against Python Jinja2 3.1.6; syntax errors with line and
 * column; the nesting limit. */
#include <stdio.h>
#include <stdlib.h>
#include "tpltest.h"

static const tpltest_case cases[] = {
    {"{{ 1 + 2 * 3 - 4 / 2 }}|{{ 'a' ~ 'b' ~ (1 + 2) }}|{{ 2 * 3 ~ 4 }}|{{ 2 ** 3 * 2 }}|{{ 10 - 2 - 3 }}|{{ 100 / 10 / 5 }}|{{ 2 ** 2 ** 3 }}",
     NULL,
     "5.0|ab3|64|16|5|2.0|64"},
    {"{{ not 1 == 2 }}|{{ not 1 and 0 }}|{{ 1 or 0 and 0 }}|{{ (1 or 0) and 0 }}|{{ not 'a' in 'abc' }}|{{ 1 < 2 == true }}",
     NULL,
     "True|False|1|0|False|False"},
    {"{{ -2 ** 2 }}|{{ - 2|abs }}|{{ -x.y }}|{{ -x.y|abs + 1 }}|{{ x.y|string ~ 'z' }}",
     "{\"x\": {\"y\": 3}}",
     "4|2|-3|4|3z"},
    {"{{ 'a' if 1 > 2 else 'b' ~ 'c' }}|{{ ('a' if 0 else 'b') ~ 'c' }}|{{ [1 if 0 else 2, 3] }}",
     NULL,
     "bc|bc|[2, 3]"},
    {"{{ x is defined and x > 1 }}|{{ x is not none or 'n' }}|{{ 3 is divisibleby 3 and 1 }}|{{ 'a' ~ 'b' is string }}",
     "{\"x\": 2}",
     "True|True|1|aTrue"},
    {"{{ [1, 2,] }}|{{ {'a': 1,} }}|{{ (1, 2,) }}|{{ f }}|{{ ' '.join(['a', 'b'],) }}",
     NULL,
     "[1, 2]|{'a': 1}|(1, 2)||a b"},
    {"{{ d['a']['b'] }}|{{ d.a.b }}|{{ d['a'].b }}|{{ l[0][1] }}|{{ l[0:1][0][1] }}|{{ ('ab')[1] }}|{{ [1, 2, 3][1:][0] }}",
     "{\"d\": {\"a\": {\"b\": \"c\"}}, \"l\": [[1, 2]]}",
     "c|c|c|2|2|b|2"},
    {"{{ 'x'|upper|lower }}|{{ ['b', 'a']|sort|join }}|{{ 'abc'|replace('b', 'x')|upper }}|{{ [1, 2]|map('string')|join('-')|length }}",
     NULL,
     "x|ab|AXC|3"},
    {"{{ 'Hi' ~ ' ' ~ name|default('anon')|upper }}|{{ (name or 'x')|upper }}",
     NULL,
     "Hi ANON|X"},
    {"{% if x is defined and x|length > 2 and x[0] == 'a' %}yes{% endif %}|{% if not (x is string) %}no{% endif %}",
     "{\"x\": \"abc\"}",
     "yes|"},
    {"{% for a, b in d|dictsort if b > 1 %}{{ a }}{% endfor %}|{% for x in [1, 2, 3][::-1] %}{{ x }}{% endfor %}",
     "{\"d\": {\"a\": 1, \"b\": 2, \"c\": 3}}",
     "bc|321"},
    {"{% set x = 1 if true else 2 %}{{ x }}|{% set y = [1, 2] | length %}{{ y }}|{% set z = 'a', 'b' %}{{ z }}",
     NULL,
     "1|2|('a', 'b')"},
    {"{{ range(3) | list | length }}|{{ dict(a=1) | items | list }}|{{ 'abc'[1:] | upper }}",
     NULL,
     "3|[('a', 1)]|BC"},
    {"{% macro m(a, b) -%} {{ a }}-{{ b }} {%- endmacro %}{{ m(*[1, 2]) }}|{{ m(**{'a': 3, 'b': 4}) }}|{{ m(1, **{'b': 5}) }}",
     NULL,
     "1-2|3-4|1-5"},
    {"{{ x is divisibleby 3 }}|{{ x is sameas none }}|{{ x is in [9, 3] }}|{{ 'b' is in ['a', 'b'] }}",
     "{\"x\": 3}",
     "True|False|True|True"},

};

static void test_parser_match_jinja2(void **state) {
    (void)state;
    tpltest_run(cases, sizeof cases / sizeof cases[0]);
}

typedef struct {
    const char *src;
    int line, col;
    const char *part;
} syntax_case;

static void test_syntax_errors(void **state) {
    (void)state;
    static const syntax_case bad[] = {
        {"{% if %}{% endif %}", 1, 7, "expected an expression"},
        {"a\n{% if x %}", 2, 11, "unexpected end of template, expected 'elif' or 'else' or 'endif'"},
        {"{% for %}", 1, 8, "expected an expression"},
        {"{% for x in %}{% endfor %}", 1, 13, "expected an expression"},
        {"{% for x y %}", 1, 10, "expected 'in'"},
        {"{% endfor %}", 1, 4, "unknown tag 'endfor'"},
        {"{% if x %}\n  {% endfor %}", 2, 6, "the innermost block needs to be closed by 'elif' 'else' 'endif'"},
        {"{{ x y }}", 1, 6, "expected end of print statement, got 'y'"},
        {"{{ 'unterminated }}", 1, 4, "unterminated string"},
        {"ab\n{# unterminated", 2, 1, "missing end of comment tag"},
        {"{% raw %}x", 1, 1, "missing end of raw directive"},
        {"{{ x[ }}", 1, 7, "unexpected '}', expected ']'"},
        {"{{ (1 }}", 1, 7, "expected ')'"},
        {"{% foo %}", 1, 4, "unknown tag 'foo'"},
        {"{{ ) }}", 1, 4, "unexpected ')'"},
        {"{% set %}", 1, 8, "expected an expression"},
        {"{% set 1 = 2 %}", 1, 8, "can't assign"},
        {"{% macro m(a=1, b) %}{% endmacro %}", 1, 17, "non-default argument follows default argument"},
        {"{% break %}", 1, 4, "'break' outside a loop"},
        {"{% for x in y %}{% macro m() %}{% continue %}{% endmacro %}{% endfor %}", 1, 35, "'continue' outside a loop"},
        {"{% call m %}{% endcall %}", 1, 4, "expected call"},
        {"{{ f(a=1, 2) }}", 1, 5, "invalid syntax for function call"},
        {"{{ 1 is }}", 1, 9, "expected a test name"},
        {"{{ x|  }}", 1, 8, "expected a filter name"},
        {"{{ x is defined is none }}", 1, 17, "cannot chain multiple tests"},
        {"{{ 012 }}", 1, 5, "expected end of print statement"},
        {"{{ 99999999999999999999 }}", 1, 4, "too large"},
        {"{{ '\\x4' }}", 1, 4, "truncated \\xXX escape"},
        {"{{ a ! b }}", 1, 6, "unexpected char '!'"},
        {"{% include 'other.jinja' %}", 1, 4, "not supported"},
        {"x\n\xff", 2, 1, "not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tpl_template *t = NULL;
        lm_error err;
        err_clear(&err);
        lm_status st = tpl_compile(bad[i].src, strlen(bad[i].src), &t, &err);
        if (st == LM_OK || err.line != bad[i].line || err.col != bad[i].col || !strstr(err.msg, bad[i].part))
            print_message("%s\n  want %d:%d [%s]\n  got  %s %d:%d %s\n", bad[i].src, bad[i].line, bad[i].col,
                          bad[i].part, err_status_name(st), err.line, err.col, err.msg);
        assert_int_not_equal(st, LM_OK);
        assert_null(t);
        assert_int_equal(err.line, bad[i].line);
        assert_int_equal(err.col, bad[i].col);
        assert_non_null(strstr(err.msg, bad[i].part));
    }
}

/* Deep nesting stops at LM_TPL_MAX_NESTING with LM_ERR_LIMIT instead of exhausting the stack. */
static void test_nesting_limit(void **state) {
    (void)state;
    const char *shapes[][2] = {{"(", ")"}, {"[", "]"}, {"{% if 1 %}", "{% endif %}"}, {"-", ""},
                               {"not ", ""}, {"{'a': ", "}"}, {"f(", ")"}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        size_t depth = 40000, n = 0; /* 40000 levels of the longest shape stay under the source limit */
        size_t cap = depth * (strlen(shapes[k][0]) + strlen(shapes[k][1])) + 32;
        char *src = malloc(cap);
        int tag = shapes[k][0][0] == '{' && shapes[k][0][1] == '%';
        if (!tag) n += (size_t)sprintf(src + n, "{{ ");
        for (size_t i = 0; i < depth; i++) n += (size_t)sprintf(src + n, "%s", shapes[k][0]);
        n += (size_t)sprintf(src + n, "1");
        for (size_t i = 0; i < depth; i++) n += (size_t)sprintf(src + n, "%s", shapes[k][1]);
        if (!tag) n += (size_t)sprintf(src + n, " }}");
        tpl_template *t = NULL;
        lm_error err;
        err_clear(&err);
        assert_int_equal(tpl_compile(src, n, &t, &err), LM_ERR_LIMIT);
        if (!strstr(err.msg, "nesting too deep")) print_message("shape %zu: %s\n", k, err.msg);
        assert_non_null(strstr(err.msg, "nesting too deep"));
        assert_null(t);
        free(src);
    }
    /* 50 levels are fine */
    char src[1024];
    size_t n = (size_t)sprintf(src, "{{ ");
    for (int i = 0; i < 50; i++) n += (size_t)sprintf(src + n, "(");
    n += (size_t)sprintf(src + n, "7");
    for (int i = 0; i < 50; i++) n += (size_t)sprintf(src + n, ")");
    sprintf(src + n, " }}");
    lm_buf out = {0};
    lm_error err;
    assert_int_equal(tpltest_render(src, NULL, NULL, &out, &err), LM_OK);
    assert_string_equal(out.data, "7");
    buf_fini(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parser_match_jinja2),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_nesting_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
