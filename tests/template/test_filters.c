/* tests/template/test_filters.c — every builtin filter (src/template/filters.c) against outputs
 * of Python Jinja2 3.1.6 with transformers' tojson, plus the filters' argument errors. */
#include "tpltest.h"

static const tpltest_case cases[] = {
    {"{{ -3|abs }} {{ -3.5|abs }} {{ true|abs }}",
     NULL,
     "3 3.5 1"},
    {"{{ d|attr('a') }}|{{ d|attr('zz') }}|{{ 'x'|attr('upper') is callable }}",
     "{\"d\": {\"a\": 1}}",
     "||True"},
    {"{{ [1,2,3,4,5]|batch(2)|list }}|{{ [1,2,3,4,5]|batch(2, 'x')|list }}",
     NULL,
     "[[1, 2], [3, 4], [5]]|[[1, 2], [3, 4], [5, 'x']]"},
    {"{{ 'hELLO wORLD'|capitalize }}|{{ none|capitalize }}",
     NULL,
     "Hello world|None"},
    {"[{{ 'hello'|center(11) }}][{{ 'hi'|center(5) }}][{{ 'long text'|center(3) }}]",
     NULL,
     "[   hello   ][  hi ][long text]"},
    {"{{ 'abc'|count }}|{{ [1,2]|length }}|{{ {'a': 1}|length }}|{{ undefined_var|length }}",
     NULL,
     "3|2|1|0"},
    {"{{ x|default('d') }}|{{ none|default('d') }}|{{ ''|default('d') }}|{{ ''|default('d', true) }}|{{ 0|d('z', boolean=true) }}|{{ x|default }}",
     NULL,
     "d|None||d|z|"},
    {"{{ d|dictsort }}|{{ d|dictsort(true) }}|{{ d|dictsort(by='value') }}|{{ d|dictsort(reverse=true) }}",
     "{\"d\": {\"b\": 2, \"A\": 3, \"a\": 1}}",
     "[('A', 3), ('a', 1), ('b', 2)]|[('A', 3), ('a', 1), ('b', 2)]|[('a', 1), ('b', 2), ('A', 3)]|[('b', 2), ('A', 3), ('a', 1)]"},
    {"{{ '<a href=\"x\">&\\'</a>'|e }}|{{ '<b>'|escape|escape }}|{{ ('<b>'|safe)|forceescape }}",
     NULL,
     "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt;|&lt;b&gt;|&lt;b&gt;"},
    {"{{ [1,2,3]|first }}|{{ 'abc'|first }}|{{ {'k': 1}|first }}|{{ ([]|first) is defined }}",
     NULL,
     "1|a|k|False"},
    {"{{ '4.5'|float }}|{{ 'x'|float }}|{{ 'x'|float(1.5) }}|{{ 3|float }}|{{ ' 1e3 '|float }}|{{ '1_0.5'|float }}|{{ none|float }}",
     NULL,
     "4.5|0.0|1.5|3.0|1000.0|10.5|0.0"},
    {"{{ '%s-%s'|format('a', 'b') }}|{{ '%(x)s'|format(x=1) }}|{{ '%05.1f'|format(3.14159) }}",
     NULL,
     "a-b|1|003.1"},
    {"{{ 'a\nb\n\nc'|indent }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent(2, blank=true) }}|{{ 'a\nb'|indent('> ') }}|{{ 'a\r\nb c'|indent(1) }}",
     NULL,
     "a\n    b\n\n    c|  a\n  b|a\n  \n  b|a\n> b|a\n b\n c"},
    {"{{ '42'|int }}|{{ ' 42 '|int }}|{{ '-4.7'|int }}|{{ 'x'|int }}|{{ 'x'|int(7) }}|{{ 4.7|int }}|{{ true|int }}|{{ none|int }}|{{ '0x1A'|int(base=16) }}|{{ '1_000'|int }}|{{ '1e3'|int }}|{{ 'nan'|int }}",
     NULL,
     "42|42|-4|0|7|4|1|0|26|1000|1000|0"},
    {"{{ d|items|list }}|{{ x|items|list }}|{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}",
     "{\"d\": {\"b\": 2, \"a\": 1}}",
     "[('b', 2), ('a', 1)]|[]|b=2;a=1;"},
    {"{{ [1,2,3]|join }}|{{ [1,2,3]|join(', ') }}|{{ ['a', none, x, 1.5]|join('|') }}|{{ us|join(',', attribute='n') }}|{{ 'abc'|join('.') }}",
     "{\"us\": [{\"n\": \"a\"}, {\"n\": \"b\"}]}",
     "123|1, 2, 3|a|None||1.5|a,b|a.b.c"},
    {"{{ [1,2,3]|last }}|{{ 'abc'|last }}|{{ ([]|last) is defined }}",
     NULL,
     "3|c|False"},
    {"{{ 'ab'|list }}|{{ {'a': 1, 'b': 2}|list }}|{{ (1, 2)|list }}|{{ x|list }}",
     NULL,
     "['a', 'b']|['a', 'b']|[1, 2]|[]"},
    {"{{ 'ABC Ünï'|lower }}|{{ 'abc ünï ß'|upper }}|{{ 'ΑΒΓ'|lower }}|{{ 'жук'|upper }}|{{ none|upper }}",
     NULL,
     "abc ünï|ABC ÜNÏ SS|αβγ|ЖУК|NONE"},
    {"{{ us|map(attribute='n')|list }}|{{ us|map(attribute='x', default='D')|list }}|{{ ['a','b']|map('upper')|list }}|{{ [1.5, 2]|map('int')|list }}|{{ ['a', 'b']|map('replace', 'a', 'z')|join }}|{{ none|map('upper')|list }}",
     "{\"us\": [{\"n\": \"b\"}, {\"n\": \"a\", \"x\": 1}]}",
     "['b', 'a']|['D', 1]|['A', 'B']|[1, 2]|zb|[]"},
    {"{{ us|map(attribute='p.q')|list }}|{{ us|map(attribute='l.0')|list }}",
     "{\"us\": [{\"p\": {\"q\": 1}, \"l\": [9]}, {\"p\": {\"q\": 2}, \"l\": [8]}]}",
     "[1, 2]|[9, 8]"},
    {"{{ [3,1,2]|min }}|{{ [3,1,2]|max }}|{{ ['b','A']|min }}|{{ ['b','A']|max(case_sensitive=true) }}|{{ ([]|max) is defined }}|{{ us|min(attribute='a') }}",
     "{\"us\": [{\"a\": 2}, {\"a\": 1}]}",
     "1|3|A|b|False|{'a': 1}"},
    {"{{ [1,2,3,4]|select('odd')|list }}|{{ [0,1,'',none,'a']|select|list }}|{{ [1,2,3]|select('divisibleby', 2)|list }}|{{ [1,5,3]|select('gt', 2)|list }}|{{ ['a','b']|select('in', 'ab c')|list }}",
     NULL,
     "[1, 3]|[1, 'a']|[2]|[5, 3]|['a', 'b']"},
    {"{{ [1,2,3,4]|reject('odd')|list }}|{{ [0,1,'']|reject|list }}|{{ [1,2,3]|reject('equalto', 2)|list }}",
     NULL,
     "[2, 4]|[0, '']|[1, 3]"},
    {"{{ ms|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }}|{{ ms|selectattr('x')|list|length }}|{{ ms|selectattr('x', 'defined')|list|length }}|{{ ms|selectattr('role', '==', 'assistant')|list|length }}|{{ ms|selectattr('role', 'eq', 'user')|list|length }}",
     "{\"ms\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\", \"x\": 1}]}",
     "['a']|1|1|1|1"},
    {"{{ ms|rejectattr('role', 'equalto', 'user')|map(attribute='content')|join }}|{{ ms|rejectattr('x', 'undefined')|list|length }}|{{ none|rejectattr('x')|list }}",
     "{\"ms\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\", \"x\": 1}]}",
     "b|1|[]"},
    {"{{ 'a-b-c'|replace('-', '+') }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 'ab'|replace('', '.') }}|{{ 5|replace(5, 6) }}",
     NULL,
     "a+b+c|bba|.a.b.|6"},
    {"{{ [1,2,3]|reverse|list }}|{{ 'héllo'|reverse }}|{{ {'a': 1, 'b': 2}|reverse|list }}",
     NULL,
     "[3, 2, 1]|olléh|['b', 'a']"},
    {"{{ 2.5|round }}|{{ 3.5|round }}|{{ 2.675|round(2) }}|{{ 3|round }}|{{ 2.1|round(method='ceil') }}|{{ 2.9|round(0, 'floor') }}|{{ -0.5|round }}|{{ 1234.5|round(-2) }}",
     NULL,
     "2.0|4.0|2.67|3|3.0|2.0|-0.0|1200.0"},
    {"{{ '<b>'|safe }}|{{ ('<b>'|safe) is escaped }}|{{ '<b>' is escaped }}|{{ ('a'|safe) + '<i>' }}|{{ '<i>' + ('a'|safe) }}",
     NULL,
     "<b>|True|False|a&lt;i&gt;|&lt;i&gt;a"},
    {"{{ [1,2,3,4,5]|slice(2)|list }}|{{ [1,2,3,4,5]|slice(3, 0)|list }}",
     NULL,
     "[[1, 2, 3], [4, 5]]|[[1, 2], [3, 4], [5, 0]]"},
    {"{{ [3,1,2]|sort }}|{{ ['b','A','a','C']|sort }}|{{ ['b','A','a','C']|sort(case_sensitive=true) }}|{{ [3,1,2]|sort(reverse=true) }}|{{ [[2, 'b'], [1, 'z'], [2, 'a']]|sort }}",
     NULL,
     "[1, 2, 3]|['A', 'a', 'b', 'C']|['A', 'C', 'a', 'b']|[3, 2, 1]|[[1, 'z'], [2, 'a'], [2, 'b']]"},
    {"{{ us|sort(attribute='age')|map(attribute='name')|join(',') }}|{{ us|sort(attribute='name,age')|map(attribute='age')|list }}|{{ us|sort(attribute='age', reverse=true)|map(attribute='age')|list }}",
     "{\"us\": [{\"name\": \"b\", \"age\": 3}, {\"name\": \"a\", \"age\": 5}, {\"name\": \"c\", \"age\": 1}, {\"name\": \"a\", \"age\": 2}]}",
     "c,a,b,a|[2, 5, 3, 1]|[5, 3, 2, 1]"},
    {"{{ 3|string }}|{{ none|string }}|{{ [1, 'a']|string }}|{{ x|string }}|{{ 1.0|string }}|{{ true|string }}",
     NULL,
     "3|None|[1, 'a']||1.0|True"},
    {"{{ [1,2,3]|sum }}|{{ [1.5,2]|sum }}|{{ us|sum(attribute='a') }}|{{ [1]|sum(start=10) }}",
     "{\"us\": [{\"a\": 1}, {\"a\": 2}]}",
     "6|3.5|3|11"},
    {"{{ 'hello world'|title }}|{{ 'a-b c(d[e<f{g'|title }}|{{ \"they're bill's\"|title }}|{{ 'ÉCOLE élève'|title }}",
     NULL,
     "Hello World|A-B C(D[E<F{G|They're Bill's|École Élève"},
    {"{{ x|tojson }}",
     "{\"x\": {\"a\": [1, 2.5, null, true, \"é\\n\\\"\\\\\\t\\u0001<>&'\"], \"b\": {}, \"c\": [], \"d\": 22.0, \"e\": 1e-07, \"f\": 1e+22}}",
     "{\"a\": [1, 2.5, null, true, \"é\\n\\\"\\\\\\t\\u0001<>&'\"], \"b\": {}, \"c\": [], \"d\": 22.0, \"e\": 1e-07, \"f\": 1e+22}"},
    {"{{ x|tojson(indent=2) }}|{{ x|tojson(indent=0) }}|{{ x|tojson(indent='\t') }}",
     "{\"x\": {\"b\": [1, {\"z\": 1, \"y\": []}], \"a\": {}}}",
     "{\n  \"b\": [\n    1,\n    {\n      \"z\": 1,\n      \"y\": []\n    }\n  ],\n  \"a\": {}\n}|{\n\"b\": [\n1,\n{\n\"z\": 1,\n\"y\": []\n}\n],\n\"a\": {}\n}|{\n\t\"b\": [\n\t\t1,\n\t\t{\n\t\t\t\"z\": 1,\n\t\t\t\"y\": []\n\t\t}\n\t],\n\t\"a\": {}\n}"},
    {"{{ x|tojson(sort_keys=true) }}|{{ x|tojson(separators=(',', ':')) }}|{{ x|tojson(ensure_ascii=true) }}|{{ x|tojson(true) }}",
     "{\"x\": {\"b\": 1, \"a\": \"é😀\177\"}}",
     "{\"a\": \"é😀\177\", \"b\": 1}|{\"b\":1,\"a\":\"é😀\177\"}|{\"b\": 1, \"a\": \"\\u00e9\\ud83d\\ude00\\u007f\"}|{\"b\": 1, \"a\": \"\\u00e9\\ud83d\\ude00\\u007f\"}"},
    {"{{ 'é'|tojson }}|{{ 5|tojson }}|{{ 1.0|tojson }}|{{ (1, 2)|tojson }}|{{ {1: 2, none: 3, true: 4, 1.5: 5}|tojson }}|{{ none|tojson }}|{{ ('<b>'|safe)|tojson }}",
     NULL,
     "\"é\"|5|1.0|[1, 2]|{\"1\": 4, \"null\": 3, \"1.5\": 5}|null|\"<b>\""},
    {"[{{ '  x  '|trim }}][{{ 'xxhixx'|trim('x') }}][{{ none|trim }}][{{ x|trim }}][{{ '　 x\n'|trim }}]",
     NULL,
     "[x][hi][None][][x]"},
    {"{{ 'abc def ghi'|truncate(7) }}|{{ 'abcdefghijklmnop'|truncate(9, true) }}|{{ 'short'|truncate(10) }}|{{ 'a b c d e f g h i j'|truncate(9, leeway=0) }}|{{ 'abcdefgh'|truncate(5, end='!', leeway=0) }}",
     NULL,
     "abc def ghi|abcdef...|short|a b c...|abcd!"},
    {"{{ [1,2,2,'a','A']|unique|list }}|{{ [1,2,2,'a','A']|unique(case_sensitive=true)|list }}|{{ us|unique(attribute='a')|list }}",
     "{\"us\": [{\"a\": 1, \"i\": 0}, {\"a\": 1, \"i\": 1}, {\"a\": 2}]}",
     "[1, 2, 'a']|[1, 2, 'a', 'A']|[{'a': 1, 'i': 0}, {'a': 2}]"},
    {"{{ 'a b  c'|wordcount }}|{{ 'under_score x1 é-é'|wordcount }}|{{ ''|wordcount }}",
     NULL,
     "3|4|0"},

};

/* map, select, reject, selectattr, rejectattr, unique, batch, slice, items and reverse return
 * generators in Jinja2: always true, no len(), consumed by iterating, errors raised lazily. */
static const tpltest_case generators[] = {
    {"{% if []|select %}always{% endif %}|{% if x|selectattr('a') %}also{% endif %}|{{ [1]|map('string') is sequence }}|{{ [1]|map('string') is iterable }}",
     "{\"x\": []}",
     "always|also|False|True"},
    {"{% set g = [1, 2, 3]|map('string') %}{{ g|first }}{{ g|list }}{{ g|list }}|{% set h = [1, 2]|select %}{% for i in h %}{{ i }}{% endfor %}{% for i in h %}{{ i }}{% endfor %}|{% set k = [1, 2, 3]|reject('none') %}{{ 2 in k }}{{ k|list }}",
     NULL,
     "1['2', '3'][]|12|True[3]"},
    {"{% set e = 5|map('upper') %}{% set f = 1|items %}lazy",
     NULL,
     "lazy"},
    {"{{ {'a': 1}|items|list }}|{{ [3, 1]|reverse|list }}|{{ [1, 2, 3]|batch(2)|list }}|{{ [1, 1]|unique|list }}",
     NULL,
     "[('a', 1)]|[1, 3]|[[1, 2], [3]]|[1]"},

};

static void test_filters_match_jinja2(void **state) {
    (void)state;
    tpltest_run(cases, sizeof cases / sizeof cases[0]);
    tpltest_run(generators, sizeof generators / sizeof generators[0]);
}

static void test_filter_errors(void **state) {
    (void)state;
    tpltest_fails("{{ x|nosuchfilter }}", NULL, LM_ERR_INVALID, "no filter named 'nosuchfilter'");
    tpltest_fails("{{ x|tojson }}", NULL, LM_ERR_INVALID, "not JSON serializable");
    tpltest_fails("{{ [1]|batch(0)|list }}", NULL, LM_ERR_INVALID, "batch size");
    tpltest_fails("{{ [1]|join(d=',', x=1) }}", NULL, LM_ERR_INVALID, "unexpected keyword argument 'x'");
    tpltest_fails("{{ {'a': 1}|dictsort(by='x') }}", NULL, LM_ERR_INVALID, "sort by either");
    tpltest_fails("{{ 1|items|list }}", NULL, LM_ERR_INVALID, "mapping"); /* raised when consumed */
    tpltest_fails("{{ [1]|map('string')|length }}", NULL, LM_ERR_INVALID, "'generator' has no len()");
    tpltest_fails("{{ ([1]|map('string'))[0] }}", NULL, LM_ERR_INVALID, "not subscriptable");
    tpltest_fails("{{ [1]|map('string')|tojson }}", NULL, LM_ERR_INVALID, "not JSON serializable");
    tpltest_fails("{{ [1]|map('string')|last }}", NULL, LM_ERR_INVALID, "not reversible");
    tpltest_fails("{{ [1, 'a']|sort }}", NULL, LM_ERR_INVALID, "not supported between");
    tpltest_fails("{{ 5|indent }}", NULL, LM_ERR_INVALID, "indent");
    tpltest_fails("{{ [1]|map|list }}", NULL, LM_ERR_INVALID, "map requires a filter argument");
    tpltest_fails("{{ 'x'|round }}", NULL, LM_ERR_INVALID, "__round__");
    tpltest_fails("{{ 'abc'|truncate(1) }}", NULL, LM_ERR_INVALID, "expected length >= 3");
    /* an unknown filter in a branch that never runs is not an error (Jinja2 defers it too) */
    lm_buf out = {0};
    lm_error err;
    assert_int_equal(tpltest_render("{% if false %}{{ x|from_json }}{% endif %}ok", NULL, NULL, &out, &err), LM_OK);
    assert_string_equal(out.data, "ok");
    buf_fini(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters_match_jinja2),
        cmocka_unit_test(test_filter_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
