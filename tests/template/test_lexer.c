/* tests/template/test_lexer.c — tokens and Jinja2's whitespace rules (src/template/lexer.c):
 * trim_blocks, lstrip_blocks, -/+ modifiers, comments, raw blocks, line endings, literals. */
#include "template/lexer.h"
#include "tpltest.h"

static const tpltest_case cases[] = {
    {"a\n  {% if true %}\n    b\n  {% endif %}\nc\n",
     NULL,
     "a\n    b\nc"},
    {"a  {% if true %}b{% endif %}  c",
     NULL,
     "a  b  c"},
    {"  {% if true %}x{% endif %}\n",
     NULL,
     "x"},
    {"{% if true %}  \n x{% endif %}",
     NULL,
     "  \n x"},
    {"a {{- ' b ' -}} c\n  {{ 'd' }}  \n",
     NULL,
     "a b c\n  d  "},
    {"a\n   {%- if true -%}   \n b \n {%- endif %}\n",
     NULL,
     "ab"},
    {"a\n  {%+ if true %}b{% endif +%}\nc",
     NULL,
     "a\n  b\nc"},
    {"a\n  {# comment #}\nb\n  {#- c2 -#}  \n c",
     NULL,
     "a\nbc"},
    {"x {# multi\nline #} y\n{#- a -#}\nz|{#+ k +#}\n.",
     NULL,
     "x  yz|\n."},
    {"{% raw %}{{ not evaluated }}{% endraw %}|{%- raw -%}  {{x}}  {%- endraw -%}  |",
     NULL,
     "{{ not evaluated }}|{{x}}|"},
    {"  {% raw %}\n  a\n  {% endraw %}\nb",
     NULL,
     "\n  a\nb"},
    {"line1\r\nline2\r{{ 'x' }}\r\n",
     NULL,
     "line1\nline2\nx"},
    {"trailing\n\n",
     NULL,
     "trailing\n"},
    {"{{ 'x' }}\n",
     NULL,
     "x"},
    {"\t  {% set x = 1 %}\t\n{{ x }}",
     NULL,
     "\t\n1"},
    {"{% for i in [1,2,3] %}\n  {{ i }}\n{% endfor %}\n",
     NULL,
     "  1\n  2\n  3\n"},
    {"{% for i in [1,2,3] -%}\n  {{ i }}\n{%- endfor %}",
     NULL,
     "123"},
    {"{{ '{{' }} {{ '}}' }} {{ {'a': {'b': 1}} }} {{ ['%}'] }}",
     NULL,
     "{{ }} {'a': {'b': 1}} ['%}']"},
    {"{% set x = {'a': {'b': '%}'}} %}{{ x.a.b }}",
     NULL,
     "%}"},
    {"{{ 'a' 'b' \"c\" }}|{{ \"x\\ty\" }}|{{ '\\q\\d' }}|{{ '\\101\\x41\\u0041\\U00000041' }}|{{ 'multi\nline' }}|{{ 'a\\\nb' }}",
     NULL,
     "abc|x\ty|\\q\\d|AAAA|multi\nline|ab"},
    {"{{ 0x1F }}|{{ 0b101 }}|{{ 0o17 }}|{{ 0_0 }}|{{ 1_2_3 }}|{{ 0.5 }}|{{ 00.5 }}|{{ 1e3 }}|{{ 1_0.0_1 }}|{{ 1E-2 }}|{{ 2.5e+1 }}",
     NULL,
     "31|5|15|0|123|0.5|0.5|1000.0|10.01|0.01|25.0"},
    {"{{x}}{{-x-}}{%if 1%}y{%endif%}",
     "{\"x\": 1}",
     "11y"},
    {"{{- 'a' }}   \n\n  {{- 'b' }}",
     NULL,
     "ab"},
    {"<{%- if true %} x {% endif -%}>",
     NULL,
     "< x >"},
    {"a\n{# c #}\nb\n{% if true %}\n\nc{% endif %}",
     NULL,
     "a\nb\n\nc"},
    {"\n  {% if true %}\n  {% endif %}\n  x",
     NULL,
     "\n  x"},
    {"{{ 1 }}  {% if true %}{% endif %}",
     NULL,
     "1  "},
    {"{% if true %}\r\n  x\r\n{% endif %}\r\n",
     NULL,
     "  x\n"},
    {"é {{ 'ü' }} 😀\n  {% if true %}中{% endif %}",
     NULL,
     "é ü 😀\n中"},

};

static void test_lexer_match_jinja2(void **state) {
    (void)state;
    tpltest_run(cases, sizeof cases / sizeof cases[0]);
}

static void test_token_stream(void **state) {
    (void)state;
    const char *src = "hi {{ x.y[0] | f('s\\n', 2.5) }}{% if a >= 1_0 %}";
    lm_arena a;
    arena_init(&a, 0);
    tpl_lexer lx;
    tpl_lex_init(&lx, src, strlen(src), &a);
    static const tpl_token_type want[] = {
        TPL_TK_DATA, TPL_TK_VAR_BEGIN, TPL_TK_NAME, TPL_TK_DOT, TPL_TK_NAME, TPL_TK_LBRACKET,
        TPL_TK_INT, TPL_TK_RBRACKET, TPL_TK_PIPE, TPL_TK_NAME, TPL_TK_LPAREN, TPL_TK_STRING,
        TPL_TK_COMMA, TPL_TK_FLOAT, TPL_TK_RPAREN, TPL_TK_VAR_END, TPL_TK_BLOCK_BEGIN, TPL_TK_NAME,
        TPL_TK_NAME, TPL_TK_GTEQ, TPL_TK_INT, TPL_TK_BLOCK_END, TPL_TK_EOF, TPL_TK_EOF,
    };
    lm_error err;
    err_clear(&err);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        tpl_token t;
        assert_int_equal(tpl_lex_next(&lx, &t, &err), LM_OK);
        if (t.type != want[i]) print_message("token %zu: want %s got %s\n", i, tpl_lex_describe(want[i]), tpl_lex_describe(t.type));
        assert_int_equal(t.type, want[i]);
        if (t.type == TPL_TK_STRING) {
            assert_int_equal(t.n, 2);
            assert_memory_equal(t.p, "s\n", 2);
        }
        if (t.type == TPL_TK_FLOAT) assert_true(t.f == 2.5);
        if (i == 20) assert_int_equal(t.i, 10);
        if (i == 2) {
            assert_int_equal(t.line, 1);
            assert_int_equal(t.col, 7);
        }
    }
    arena_fini(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lexer_match_jinja2),
        cmocka_unit_test(test_token_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
