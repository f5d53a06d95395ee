/* tests/template/test_methods.c — Python str/dict/list methods, %-formatting and str.format
 * (src/template/methods.c) against Python Jinja2 3.1.6, plus their argument errors. */
#include "tpltest.h"

static const tpltest_case cases[] = {
    {"{{ '  a b  c '.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a b c'.split(' ', 1) }}|{{ '  a b  c '.split(none, 1) }}|{{ ''.split() }}|{{ ''.split(',') }}|{{ 'a<sep>b'.split('<sep>') }}|{{ 'a b'.split(maxsplit=0) }}",
     NULL,
     "['a', 'b', 'c']|['a', 'b', '', 'c']|['a', 'b c']|['a', 'b  c ']|[]|['']|['a', 'b']|['a b']"},
    {"{{ 'a,b,c'.rsplit(',', 1) }}|{{ '  a b  c '.rsplit(none, 1) }}|{{ 'a b c'.rsplit() }}|{{ 'abab'.rsplit('b') }}",
     NULL,
     "['a,b', 'c']|['  a b', 'c']|['a', 'b', 'c']|['a', 'a', '']"},
    {"[{{ ' x '.strip() }}][{{ 'xyx'.strip('x') }}][{{ '\\n\\t x'.lstrip() }}][{{ 'x \\n'.rstrip() }}][{{ 'abcc'.rstrip('c') }}][{{ 'éaé'.strip('é') }}][{{ 'ab'.lstrip(none) }}]",
     NULL,
     "[x][y][x][x][ab][a][ab]"},
    {"{{ 'a'.startswith('a') }}|{{ 'abc'.endswith(('x','c')) }}|{{ 'abc'.startswith('b', 1) }}|{{ 'abc'.endswith('b', 0, 2) }}|{{ 'héllo'.startswith('él', 1) }}|{{ ''.startswith('') }}",
     NULL,
     "True|True|True|True|True|True"},
    {"{{ 'Hello World'.upper() }}|{{ 'Hello'.lower() }}|{{ 'hello world 3rd x'.title() }}|{{ 'aBc dEF'.capitalize() }}|{{ 'aBc'.swapcase() }}|{{ 'ÀÉ'.casefold() }}",
     NULL,
     "HELLO WORLD|hello|Hello World 3Rd X|Abc def|AbC|àé"},
    {"{{ 'a-b'.replace('-', '+') }}|{{ 'aaa'.replace('a', 'b', 2) }}|{{ 'ab'.replace('', '-') }}|{{ 'ab'.replace('x', 'y') }}",
     NULL,
     "a+b|bba|-a-b-|ab"},
    {"{{ 'abcabc'.find('c') }}|{{ 'abcabc'.rfind('c') }}|{{ 'abc'.find('z') }}|{{ 'ééa'.find('a') }}|{{ 'abcabc'.find('b', 2) }}|{{ 'abcabc'.index('c') }}|{{ 'abcabc'.rindex('a') }}|{{ 'abcabc'.count('b') }}|{{ 'abc'.count('') }}",
     NULL,
     "2|5|-1|2|4|2|3|2|4"},
    {"{{ ','.join(['a','b']) }}|{{ ''.join('xyz') }}|{{ '-'.join([]) }}",
     NULL,
     "a,b|xyz|"},
    {"{{ 'a1'.isalnum() }}|{{ '12'.isdigit() }}|{{ ''.isdigit() }}|{{ 'ab'.isalpha() }}|{{ ' '.isspace() }}|{{ 'ab1'.islower() }}|{{ 'AB'.isupper() }}|{{ '1'.isupper() }}",
     NULL,
     "True|True|False|True|True|True|True|False"},
    {"{{ 'a\\nb\\r\\nc\\rd'.splitlines() }}|{{ 'a\\nb\\n'.splitlines(true) }}|{{ ''.splitlines() }}",
     NULL,
     "['a', 'b', 'c', 'd']|['a\\n', 'b\\n']|[]"},
    {"{{ 'a=b=c'.partition('=') }}|{{ 'a=b=c'.rpartition('=') }}|{{ 'abc'.partition('x') }}|{{ 'abc'.rpartition('x') }}",
     NULL,
     "('a', '=', 'b=c')|('a=b', '=', 'c')|('abc', '', '')|('', '', 'abc')"},
    {"[{{ '5'.zfill(3) }}][{{ '-5'.zfill(3) }}][{{ 'ab'.ljust(4, '*') }}][{{ 'ab'.rjust(4) }}][{{ 'ab'.center(5, '.') }}][{{ 'abc'.center(6) }}]",
     NULL,
     "[005][-05][ab**][  ab][..ab.][ abc  ]"},
    {"{{ 'prefix_x'.removeprefix('prefix_') }}|{{ 'x.txt'.removesuffix('.txt') }}|{{ 'x'.removesuffix('y') }}",
     NULL,
     "x|x|x"},
    {"{{ '{} {}'.format(1, 'a') }}|{{ '{0}{1}{0}'.format('x', 'y') }}|{{ '{name}!'.format(name='n') }}|{{ '{{}}{}'.format(1) }}|{{ '{!r}'.format('a') }}|{{ '{0[k]} {1.a}'.format({'k': 'v'}, ns) }}",
     "{\"ns\": {\"a\": 5}}",
     "1 a|xyx|n!|{}1|'a'|v 5"},
    {"{{ '{:>5}|{:<5}|{:^5}|{:*^7}|{:05.1f}|{:,}|{:x}|{:#x}|{:b}|{:+d}|{:e}|{:.2%}|{:8.3f}|{:.3}|{:g}'.format('a', 'b', 'c', 'd', 3.14159, 1234567, 255, 255, 5, 3, 12345.678, 0.256, 2.5, 3.14159, 0.00001) }}",
     NULL,
     "    a|b    |  c  |***d***|003.1|1,234,567|ff|0xff|101|+3|1.234568e+04|25.60%|   2.500|3.14|1e-05"},
    {"{{ '{}'.format(1.5) }}|{{ '{}'.format(none) }}|{{ '{}'.format([1, 'a']) }}|{{ '{:10}'.format(7) }}|{{ '{:10}'.format('s') }}",
     NULL,
     "1.5|None|[1, 'a']|         7|s         "},
    {"{{ '%s-%d' % ('a', 3) }}|{{ '%5.2f|%-5s|%05d|%x|%r|%X|%o|%e|%g|%i' % (3.14159, 'ab', 42, 255, 'q', 255, 8, 1234.5, 0.0001, 7) }}|{{ '%(a)s!' % {'a': 1} }}|{{ '100%%' % () }}|{{ '%s' % [1,2] }}|{{ '%c%c' % (65, 'b') }}|{{ '%s' % 'x' }}|{{ '%.2s' % 'abc' }}|{{ '%*d' % (4, 2) }}|{{ '%d' % 3.9 }}",
     NULL,
     "a-3| 3.14|ab   |00042|ff|'q'|FF|10|1.234500e+03|0.0001|7|1!|100%|[1, 2]|Ab|x|ab|   2|3"},
    {"{{ d.get('a') }}|{{ d.get('z') }}|{{ d.get('z', 5) }}|{{ d.keys()|list }}|{{ d.values()|list }}|{{ d.items()|list }}|{{ d.copy() }}",
     "{\"d\": {\"a\": 1, \"b\": [2]}}",
     "1|None|5|['a', 'b']|[1, [2]]|[('a', 1), ('b', [2])]|{'a': 1, 'b': [2]}"},
    {"{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{{ {'x': 1}.items()|list }}",
     "{\"d\": {\"b\": 2, \"a\": 1}}",
     "b=2;a=1;|[('x', 1)]"},
    {"{{ [1,2,3].index(2) }}|{{ [1,2,2].count(2) }}|{{ (1,2).index(2) }}|{{ l.index('b') }}|{{ l.count('a') }}",
     "{\"l\": [\"a\", \"b\"]}",
     "1|2|1|1|1"},
    {"{{ x.append is defined }}|{{ x.pop is defined }}|{{ d.pop is defined }}|{{ d.update is defined }}",
     "{\"x\": [1], \"d\": {}}",
     "False|False|False|False"},

};

static void test_methods_match_jinja2(void **state) {
    (void)state;
    tpltest_run(cases, sizeof cases / sizeof cases[0]);
}

static void test_method_errors(void **state) {
    (void)state;
    tpltest_fails("{{ d.get('a', default=1) }}", "{\"d\": {}}", LM_ERR_INVALID, "takes no keyword arguments");
    tpltest_fails("{{ 'a'.split('') }}", NULL, LM_ERR_INVALID, "empty separator");
    tpltest_fails("{{ [1].append(2) }}", NULL, LM_ERR_INVALID, "unsafe");
    tpltest_fails("{{ d.pop('a') }}", "{\"d\": {\"a\": 1}}", LM_ERR_INVALID, "unsafe");
    tpltest_fails("{{ 'abc'.index('z') }}", NULL, LM_ERR_INVALID, "substring not found");
    tpltest_fails("{{ [1].index(5) }}", NULL, LM_ERR_INVALID, "not in list");
    tpltest_fails("{{ '%d' % 'x' }}", NULL, LM_ERR_INVALID, "real number is required");
    tpltest_fails("{{ '%s %s' % (1,) }}", NULL, LM_ERR_INVALID, "not enough arguments");
    tpltest_fails("{{ '%s' % (1, 2) }}", NULL, LM_ERR_INVALID, "not all arguments converted");
    tpltest_fails("{{ '{} {}'.format(1) }}", NULL, LM_ERR_INVALID, "out of range");
    tpltest_fails("{{ '{'.format(1) }}", NULL, LM_ERR_INVALID, "format string");
    tpltest_fails("{{ '}'.format(1) }}", NULL, LM_ERR_INVALID, "Single '}'");
    tpltest_fails("{{ ','.join([1]) }}", NULL, LM_ERR_INVALID, "expected str instance");
    tpltest_fails("{{ '%d' % x }}", NULL, LM_ERR_INVALID, "real number");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_methods_match_jinja2),
        cmocka_unit_test(test_method_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
