/* tests/template/test_interp.c — the evaluator (src/template/interp.c): Python arithmetic and
 * comparisons, attribute/item lookup, slicing, scoping of set/for/macro/with, loops and `loop`,
 * macros with call blocks, break/continue — against Python Jinja2 3.1.6; run-time errors with
 * their positions. */
#include "tpltest.h"

static const tpltest_case cases[] = {
    {"{{ 1 + 2 }}|{{ 7 / 2 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ -7 % 3 }}|{{ 7 % -3 }}|{{ 2 ** 10 }}|{{ 2 ** -1 }}|{{ 10 / 4 }}|{{ 10.0 // 3 }}|{{ -10.5 % 3 }}|{{ 7.5 // -2 }}|{{ true + 1 }}",
     NULL,
     "3|3.5|3|-4|1|2|-2|1024|0.5|2.5|3.0|1.5|-4.0|2"},
    {"{{ 3 * 'ab' }}|{{ 'ab' * 0 }}|{{ 'ab' * -1 }}|{{ [1] * 3 }}|{{ 2 * (1, 'a') }}|{{ 'a' + 'b' }}|{{ [1] + [2] }}|{{ (1,) + (2,) }}",
     NULL,
     "ababab|||[1, 1, 1]|(1, 'a', 1, 'a')|ab|[1, 2]|(1, 2)"},
    {"{{ 'a' ~ 1 ~ none ~ true ~ [1,'x'] ~ {'k': 'v'} ~ x ~ 1.0 }}",
     NULL,
     "a1NoneTrue[1, 'x']{'k': 'v'}1.0"},
    {"{{ -x }}|{{ +x }}|{{ -1.5 }}|{{ -x|abs }}|{{ -2**2 }}|{{ (-2)**2 }}|{{ 2**3**2 }}|{{ not x }}|{{ not not x }}",
     "{\"x\": 3}",
     "-3|3|-1.5|3|4|4|64|False|True"},
    {"{{ true and 'x' }}|{{ false or 'y' }}|{{ none or [] }}|{{ 0 and 1 }}|{{ 1 and 0 }}|{{ '' or 'b' or 'c' }}|{{ x and x.y }}",
     NULL,
     "x|y|[]|0|0|b|"},
    {"{{ 'yes' if x else 'no' }}|{{ 'yes' if 1 }}|{{ ('a' if false) is defined }}|{{ 1 if 0 else 2 if 0 else 3 }}",
     NULL,
     "no|yes|False|3"},
    {"{{ 'a' in 'abc' }}|{{ 'x' not in 'abc' }}|{{ 1 in [1,2] }}|{{ 'k' in {'k': 1} }}|{{ 'z' in x }}|{{ 'k' in d }}|{{ 'k' not in d }}|{{ 2 in l }}|{{ '' in 'a' }}",
     "{\"d\": {\"k\": 1}, \"l\": [1, 2]}",
     "True|True|True|True|False|True|False|True|True"},
    {"{{ x }}|{{ x ~ 'a' }}|{{ d.y }}|{{ d['y'] }}|{{ none.x }}|{{ d.y is defined }}",
     "{\"d\": {\"a\": 1}}",
     "|a||||False"},
    {"{{ [1,2,3][-1] }}|{{ [1,2,3][5] is defined }}|{{ 'héllo'[1] }}|{{ 'héllo'[1:3] }}|{{ 'héllo'[::-1] }}|{{ [1,2,3,4,5][1:4:2] }}|{{ [1,2,3][::-1] }}|{{ 'abc'[-2:] }}|{{ 'abc'[:-1] }}|{{ 'abc'[5:] }}|{{ [1,2,3][-10:2] }}|{{ (1,2,3)[1:] }}|{{ 'abcdef'[::2] }}|{{ 'abcdef'[4:1:-1] }}|{{ 'ab'[true] }}",
     NULL,
     "3|False|é|él|olléh|[2, 4]|[3, 2, 1]|bc|ab||[1, 2]|(2, 3)|ace|edc|b"},
    {"{{ x.0 }}|{{ x.1.0 }}|{{ x[1][1] }}|{{ m[0].content }}|{{ m[-1]['role'] }}",
     "{\"x\": [5, [6, 7]], \"m\": [{\"role\": \"a\", \"content\": \"c\"}, {\"role\": \"b\"}]}",
     "5|6|7|c|b"},
    {"{{ d['items'] }}|{{ d.content }}|{{ d['get'] is callable }}",
     "{\"d\": {\"items\": 5, \"content\": \"c\"}}",
     "5|c|True"},
    {"{{ {'a': 1, 'b': 2} }}|{{ {1: 'x', none: 2, true: 3, (1, 2): 4} }}|{{ {'a': 1, 'a': 2} }}|{{ {1: 'a', 1.0: 'b'} }}",
     NULL,
     "{'a': 1, 'b': 2}|{1: 3, None: 2, (1, 2): 4}|{'a': 2}|{1: 'b'}"},
    {"{{ 1, 2 }}|{{ (1, 2) }}|{{ (1) }}|{{ () }}",
     NULL,
     "(1, 2)|(1, 2)|1|()"},
    {"{% if x %}a{% elif y %}b{% elif z %}c{% else %}d{% endif %}|{% if 1 %}{% if 0 %}a{% else %}b{% endif %}{% endif %}",
     "{\"z\": 1}",
     "c|b"},
    {"{% for i in x %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.depth }}{{ loop.depth0 }}|{% endfor %}",
     "{\"x\": \"abc\"}",
     "1032TrueFalse310|2121FalseFalse310|3210FalseTrue310|"},
    {"{% for i in x %}[{{ loop.previtem }}-{{ loop.nextitem }}]{{ loop.previtem is defined }}{{ loop.nextitem is defined }}{% endfor %}",
     "{\"x\": [1, 2, 3]}",
     "[-2]FalseTrue[1-3]TrueTrue[2-]TrueFalse"},
    {"{% for i in x if i > 1 %}{{ loop.index }}:{{ i }}{{ loop.last }} {% endfor %}",
     "{\"x\": [1, 2, 3, 0, 5]}",
     "1:2False 2:3False 3:5True "},
    {"{% for i in [] %}x{% else %}empty{% endfor %}|{% for i in [1] if false %}x{% else %}e2{% endfor %}|{% for i in y %}{% else %}undef{% endfor %}|{% for i in [1] %}{{ i }}{% else %}no{% endfor %}",
     NULL,
     "empty|e2|undef|1"},
    {"{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}|{% for i in [1,2] %}{% for j in [1,2,3] %}{% if j == 2 %}{% break %}{% endif %}{{ i }}{{ j }}{% endfor %}{% endfor %}",
     NULL,
     "0134|1121"},
    {"{% for a, b in [(1, 2), [3, 4], 'xy'] %}{{ a }}{{ b }};{% endfor %}|{% for (a, b) in [(1, 2)] %}{{ a }}{{ b }}{% endfor %}",
     NULL,
     "12;34;xy;|12"},
    {"{% set x = 1 %}{% for i in [1,2] %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}",
     NULL,
     "23|1"},
    {"{% for i in [1,2] %}{% if i == 1 %}{% set y = 'a' %}{% endif %}[{{ y }}]{% endfor %}",
     NULL,
     "[a][]"},
    {"{% set y = 'outer' %}{% for i in [1,2] %}[{{ y }}]{% set y = 'in' %}[{{ y }}]{% endfor %}{{ y }}",
     NULL,
     "[outer][in][outer][in]outer"},
    {"{% for i in [1] %}{% set i = 5 %}{{ i }}{% endfor %}{{ i }}",
     NULL,
     "5"},
    {"{% if true %}{% set z = 1 %}{% endif %}{{ z }}|{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set t = 1, 2 %}{{ t }}|{% set c, d = 'xy' %}{{ c }}{{ d }}",
     NULL,
     "1|12|(1, 2)|xy"},
    {"{% set x %}block {{ 1 + 1 }}{% endset %}[{{ x }}]|{% set y | upper %}up{% endset %}{{ y }}|{% set z | trim | upper %}  s  {% endset %}[{{ z }}]|{% set w %}{% set inner = 1 %}{% endset %}{{ inner is defined }}",
     NULL,
     "[block 2]|UP|[S]|False"},
    {"{% set ns = namespace(c=0, l=[]) %}{% for i in range(5) %}{% set ns.c = ns.c + i %}{% set ns.l = ns.l + [i] %}{% endfor %}{{ ns.c }}{{ ns.l }}",
     NULL,
     "10[0, 1, 2, 3, 4]"},
    {"{% macro m(a, b='B', c=none) %}[{{ a }}|{{ b }}|{{ c }}]{% endmacro %}{{ m(1) }}{{ m(1, 2) }}{{ m(1, c=3) }}{{ m() }}{{ m(b=1, a=2) }}",
     NULL,
     "[1|B|None][1|2|None][1|B|3][|B|None][2|1|None]"},
    {"{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, z=4) }}|{{ m(1) }}",
     NULL,
     "1(2, 3){'z': 4}|1(){}"},
    {"{% macro m(a, b=a ~ 'x') %}{{ b }}{% endmacro %}{{ m('q') }}|{% macro n() %}{{ m('r') }}{% endmacro %}{{ n() }}",
     NULL,
     "qx|rx"},
    {"{% macro outer() %}<{{ caller() }}>{% endmacro %}{% call outer() %}inside {{ 1 }}{% endcall %}",
     NULL,
     "<inside 1>"},
    {"{% macro l(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) l([1,2]) %}[{{ x }}]{% endcall %}",
     NULL,
     "[1][2]"},
    {"{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(5) }}",
     NULL,
     "54321"},
    {"{% set g = 'G' %}{% macro m() %}{{ g }}{% endmacro %}{% set g = 'H' %}{{ m() }}|{% macro k() %}{% set q = 1 %}{{ q }}{% endmacro %}{{ k() }}{{ q }}",
     NULL,
     "H|1"},
    {"{% macro m() %}x{% endmacro %}{{ m() ~ m() }}|{{ m()|length }}|{{ m() is string }}",
     NULL,
     "xx|1|True"},
    {"{% for i in [1,2] %}{% macro p() %}{{ i }}{% endmacro %}{{ p() }}{% endfor %}",
     NULL,
     "12"},
    {"{% filter upper %}hello {{ 'x' }}{% endfilter %}|{% filter trim|upper %}  ab  {% endfilter %}|{% filter replace('a', 'b') %}aaa{% endfilter %}",
     NULL,
     "HELLO X|AB|bbb"},
    {"{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a }}|{% set a = 5 %}{% with a = a + 1, b = a %}{{ a }}{{ b }}{% endwith %}{{ a }}|{% with %}{% set q = 1 %}{% endwith %}{{ q }}",
     NULL,
     "3|655|"},
    {"{% generation %}gen {{ 1 }}{% endgeneration %}|{% generation %}{% set g = 1 %}{% endgeneration %}{{ g }}",
     NULL,
     "gen 1|"},
    {"{% for x in tree recursive %}{{ x.n }}{% if x.c %}({{ loop(x.c) }}){% endif %}{% endfor %}",
     "{\"tree\": [{\"n\": \"a\", \"c\": [{\"n\": \"b\", \"c\": [{\"n\": \"c\"}]}, {\"n\": \"d\"}]}, {\"n\": \"e\"}]}",
     "a(b(c)d)e"},
    {"{% for x in tree recursive %}{{ loop.depth }}{% if x.c %}{{ loop(x.c) }}{% endif %}{% endfor %}",
     "{\"tree\": [{\"c\": [{\"c\": [{}]}]}]}",
     "123"},
    {"{% for i in [1,2,3] %}{{ loop.cycle('a','b') }}{% endfor %}|{% for i in [1,1,2] %}{{ loop.changed(i) }}{% endfor %}",
     NULL,
     "aba|TrueFalseTrue"},
    {"{% for i in [1] %}{% for j in [2, 3] %}{{ loop.index }}{% endfor %}{{ loop.index }}{% endfor %}|{% for i in [1, 2] %}{% set outer = loop %}{% for j in [1] %}{{ outer.index }}{% endfor %}{% endfor %}",
     NULL,
     "121|12"},
    {"{{ raise_exception is defined }}{{ messages[0].content }}{{ bos_token }}{{ add_generation_prompt }}",
     "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"bos_token\": \"<s>\", \"add_generation_prompt\": true}",
     "Truehi<s>True"},
    {"{% set range = 5 %}{{ range }}|{{ namespace is defined }}",
     NULL,
     "5|True"},

};

static void test_interp_match_jinja2(void **state) {
    (void)state;
    tpltest_run(cases, sizeof cases / sizeof cases[0]);
}

static void test_runtime_errors(void **state) {
    (void)state;
    tpltest_fails("{{ x + 'a' }}", NULL, LM_ERR_INVALID, "'x' is undefined");
    tpltest_fails("{{ x.y }}", NULL, LM_ERR_INVALID, "'x' is undefined");
    tpltest_fails("{{ x() }}", NULL, LM_ERR_INVALID, "'x' is undefined");
    tpltest_fails("{{ d.y.z }}", "{\"d\": {}}", LM_ERR_INVALID, "'y' is undefined");
    tpltest_fails("{{ 1 + 'a' }}", NULL, LM_ERR_INVALID, "unsupported operand type(s) for +: 'int' and 'str'");
    tpltest_fails("{{ 'a' + 1 }}", NULL, LM_ERR_INVALID, "'str' and 'int'");
    tpltest_fails("{{ 'a' - 'b' }}", NULL, LM_ERR_INVALID, "for -");
    tpltest_fails("{{ 1 / 0 }}", NULL, LM_ERR_INVALID, "division by zero");
    tpltest_fails("{{ 1 // 0 }}", NULL, LM_ERR_INVALID, "by zero");
    tpltest_fails("{{ 1 % 0 }}", NULL, LM_ERR_INVALID, "by zero");
    tpltest_fails("{{ 1 < 'a' }}", NULL, LM_ERR_INVALID, "'<' not supported");
    tpltest_fails("{{ 1 in 'abc' }}", NULL, LM_ERR_INVALID, "requires string as left operand");
    tpltest_fails("{{ 1 in 5 }}", NULL, LM_ERR_INVALID, "not iterable");
    tpltest_fails("{{ -'a' }}", NULL, LM_ERR_INVALID, "bad operand type for unary -");
    tpltest_fails("{{ [1] + (2,) }}", NULL, LM_ERR_INVALID, "can only concatenate");
    tpltest_fails("{{ 'abc'[::0] }}", NULL, LM_ERR_INVALID, "slice step cannot be zero");
    tpltest_fails("{{ 5[0:1] }}", NULL, LM_ERR_INVALID, "not subscriptable");
    tpltest_fails("{{ {[1]: 2} }}", NULL, LM_ERR_INVALID, "unhashable");
    tpltest_fails("{% for i in 5 %}{% endfor %}", NULL, LM_ERR_INVALID, "'int' object is not iterable");
    tpltest_fails("{% for i in none %}{% endfor %}", NULL, LM_ERR_INVALID, "'NoneType' object is not iterable");
    tpltest_fails("{% for a, b in [(1, 2, 3)] %}{% endfor %}", NULL, LM_ERR_INVALID, "too many values to unpack");
    tpltest_fails("{% for a, b in [(1,)] %}{% endfor %}", NULL, LM_ERR_INVALID, "not enough values to unpack");
    tpltest_fails("{% set x = 5 %}{% set x.y = 1 %}", NULL, LM_ERR_INVALID, "non-namespace");
    tpltest_fails("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", NULL, LM_ERR_INVALID, "takes not more than 1");
    tpltest_fails("{% macro m(a) %}{% endmacro %}{{ m(1, z=2) }}", NULL, LM_ERR_INVALID, "no keyword argument 'z'");
    tpltest_fails("{% macro m() %}{{ caller() }}{% endmacro %}{{ m() }}", NULL, LM_ERR_INVALID, "'caller' is undefined");
    tpltest_fails("{% for i in [1] %}{{ loop(i) }}{% endfor %}", NULL, LM_ERR_INVALID, "recursive");
    tpltest_fails("{{ 9223372036854775807 + 1 }}", NULL, LM_ERR_UNSUPPORTED, "overflow");
    tpltest_fails("{{ 'a'() }}", NULL, LM_ERR_INVALID, "not callable");
}

/* A run-time error names the line and column of the innermost expression involved. */
static void test_runtime_error_position(void **state) {
    (void)state;
    lm_buf out = {0};
    lm_error err;
    const char *src = "line one\n{% for m in messages %}\n  {{ m.content + 1 }}\n{% endfor %}";
    lm_status st = tpltest_render(src, "{\"messages\": [{\"content\": \"x\"}]}", NULL, &out, &err);
    assert_int_equal(st, LM_ERR_INVALID);
    assert_int_equal(err.line, 3);
    assert_int_equal(err.col, 6);
    assert_non_null(strstr(err.msg, "(line 3, column 6)"));
    buf_fini(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interp_match_jinja2),
        cmocka_unit_test(test_runtime_errors),
        cmocka_unit_test(test_runtime_error_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
