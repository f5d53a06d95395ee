/* tests/template/test_value.c — Python semantics of values (src/template/value.c): str() and
 * repr() of every kind, truth, len, iteration, == and ordering, against Python Jinja2 3.1.6. */
#include "tpltest.h"
#include "template/value.h"

static const tpltest_case cases[] = {
    {"{{ 1 }}|{{ -5 }}|{{ 1.5 }}|{{ 22.0 }}|{{ 1e-07 }}|{{ 1e16 }}|{{ 1e15 }}|{{ 123456789.125 }}|{{ 0.0001 }}|{{ 0.00001 }}|{{ -0.0 }}|{{ 0.1 + 0.2 }}|{{ 1/3 }}|{{ 2**62 }}",
     NULL,
     "1|-5|1.5|22.0|1e-07|1e+16|1000000000000000.0|123456789.125|0.0001|1e-05|-0.0|0.30000000000000004|0.3333333333333333|4611686018427387904"},
    {"{{ true }}|{{ false }}|{{ none }}|{{ x }}|{{ [] }}|{{ {} }}|{{ () }}|{{ (1,) }}|{{ (1, 'a') }}",
     NULL,
     "True|False|None||[]|{}|()|(1,)|(1, 'a')"},
    {"{{ [1, 'a', none, true, 1.5, [2], {'x': (1,)}, ('a',)] }}",
     NULL,
     "[1, 'a', None, True, 1.5, [2], {'x': (1,)}, ('a',)]"},
    {"{{ \"it's\" }}|{{ ['it\\'s', 'a\"b', 'both\\'\"', 'tab\\there', 'nl\\n', 'bs\\\\', 'cr\\r'] }}",
     NULL,
     "it's|[\"it's\", 'a\"b', 'both\\'\"', 'tab\\there', 'nl\\n', 'bs\\\\', 'cr\\r']"},
    {"{{ ['\\u00e9', '\\u00a0', '\\u200b', '\\x7f', '\\x01', '\\u2028', '\\U0001F600', '\\u00ad', '\\ufeff', '\\ue000'] }}",
     NULL,
     "['é', '\\xa0', '\\u200b', '\\x7f', '\\x01', '\\u2028', '😀', '\\xad', '\\ufeff', '\\ue000']"},
    {"{{ msgs }}",
     "{\"msgs\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"a\": [1, 2.5, null, true, false], \"b\": {\"c\": \"d'e\"}}]}",
     "[{'role': 'user', 'content': 'hi'}, {'a': [1, 2.5, None, True, False], 'b': {'c': \"d'e\"}}]"},
    {"{% set n = namespace(a=1, b='x') %}{{ n }}|{{ ('a'|safe, 'b') }}",
     NULL,
     "<Namespace {'a': 1, 'b': 'x'}>|(Markup('a'), 'b')"},
    {"{{ 1 == 1.0 }}|{{ 1 == true }}|{{ 0 == false }}|{{ 'a' == 'a' }}|{{ [1,2] == [1,2] }}|{{ (1,2) == [1,2] }}|{{ (1,2) == (1,2) }}|{{ {'a':1} == {'a':1} }}|{{ none == none }}|{{ x == y }}|{{ x == none }}|{{ 1 == '1' }}",
     NULL,
     "True|True|True|True|True|False|True|True|True|True|False|False"},
    {"{{ d == {'b': [1, 2], 'a': 1} }}|{{ l == [1, 'x', none] }}|{{ d == {'a': 1} }}",
     "{\"d\": {\"a\": 1, \"b\": [1, 2]}, \"l\": [1, \"x\", null]}",
     "True|True|False"},
    {"{{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}|{{ 'a' < 'b' }}|{{ 'B' < 'a' }}|{{ 'é' > 'z' }}|{{ [1,2] < [1,3] }}|{{ [1] < [1, 0] }}|{{ 2 >= 2 }}|{{ 1 != 2 }}|{{ 1.5 > 1 }}|{{ true > 0 }}",
     NULL,
     "True|False|True|True|True|True|True|True|True|True|True"},
    {"{{ 'abc'|length }}|{{ 'héllo😀'|length }}|{{ l|length }}|{{ d|length }}|{{ x|length }}",
     "{\"l\": [1, 2], \"d\": {\"a\": 1}}",
     "3|6|2|1|0"},
    {"{% if '' %}a{% endif %}{% if 'x' %}b{% endif %}{% if [] %}c{% endif %}{% if [0] %}d{% endif %}{% if {} %}e{% endif %}{% if 0.0 %}f{% endif %}{% if 0.1 %}g{% endif %}{% if none %}h{% endif %}{% if x %}i{% endif %}{% if l %}j{% endif %}{% if d %}k{% endif %}",
     "{\"l\": [], \"d\": {}}",
     "bdg"},
    {"{% for c in 'héllo' %}[{{ c }}]{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{% for x in y %}never{% endfor %}",
     "{\"d\": {\"z\": 1, \"a\": 2}}",
     "[h][é][l][l][o]|za|"},

};

static void test_value_match_jinja2(void **state) {
    (void)state;
    tpltest_run(cases, sizeof cases / sizeof cases[0]);
}

static void test_json_views_are_not_copied(void **state) {
    (void)state;
    /* a JSON string is viewed in place: str values point into jansson's memory */
    json_t *s = json_string("hello");
    tpl_value v = tpl_from_json(s);
    assert_int_equal(v.kind, TPL_STR);
    assert_ptr_equal(v.u.s.p, json_string_value(s));
    json_decref(s);
    json_t *a = json_pack("[i, f, b, n, {s: i}]", 1, 2.5, 1, "k", 2);
    tpl_value l = tpl_from_json(a);
    assert_int_equal(l.kind, TPL_JLIST);
    assert_int_equal(tpl_seq_len(&l), 5);
    tpl_value x = tpl_seq_get(&l, 0);
    assert_int_equal(x.kind, TPL_INT);
    x = tpl_seq_get(&l, 1);
    assert_int_equal(x.kind, TPL_FLOAT);
    x = tpl_seq_get(&l, 2);
    assert_int_equal(x.kind, TPL_BOOL);
    x = tpl_seq_get(&l, 3);
    assert_int_equal(x.kind, TPL_NONE);
    x = tpl_seq_get(&l, 4);
    assert_int_equal(x.kind, TPL_JDICT);
    tpl_value k;
    assert_true(tpl_map_get_str(&x, "k", 1, &k));
    assert_int_equal(k.u.i, 2);
    assert_false(tpl_map_get_str(&x, "kk", 2, &k));
    json_decref(a);
}

static void test_equality_and_truth(void **state) {
    (void)state;
    tpl_value one = tpl_int(1), onef = tpl_float(1.0), t = tpl_bool(1), s = tpl_str("1", 1);
    assert_true(tpl_equal(&one, &onef));
    assert_true(tpl_equal(&one, &t));
    assert_false(tpl_equal(&one, &s));
    tpl_value u = tpl_undef("x", 1), n = tpl_none();
    assert_true(tpl_equal(&u, &u));
    assert_false(tpl_equal(&u, &n));
    assert_false(tpl_truthy(&u));
    assert_false(tpl_truthy(&n));
    tpl_value e = tpl_str("", 0), z = tpl_float(0.0);
    assert_false(tpl_truthy(&e));
    assert_false(tpl_truthy(&z));
    assert_true(tpl_truthy(&s));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_match_jinja2),
        cmocka_unit_test(test_json_views_are_not_copied),
        cmocka_unit_test(test_equality_and_truth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
