/* tests/repo/test_pbtxt.c — protobuf text format reader: OVMS graph files, every syntax form,
 * typed getters, and errors with line:column. */
#include <math.h>
#include <string.h>

#include "base/buf.h"
#include "base/limits.h"
#include "lmtest.h"
#include "repo/pbtxt.h"

/* Parses text that must be valid. */
static pbtxt_doc *parse_ok(const char *text) {
    pbtxt_doc *doc = NULL;
    lm_error err;
    err_clear(&err);
    lm_status s = pbtxt_parse(text, strlen(text), "t.pbtxt", &doc, &err);
    if (s != LM_OK) fail_msg("unexpected error: %s", err.msg);
    assert_non_null(doc);
    return doc;
}

/* Parses text that must fail; checks the message and position. */
static void parse_fails(const char *text, lm_status code, int line, int col, const char *msg_part) {
    pbtxt_doc *doc = (pbtxt_doc *)1;
    lm_error err;
    err_clear(&err);
    lm_status s = pbtxt_parse(text, strlen(text), "t.pbtxt", &doc, &err);
    if (s == LM_OK) fail_msg("parsed, but should fail: %s", text);
    assert_null(doc);
    assert_int_equal(s, code);
    assert_int_equal(err.code, code);
    if (!strstr(err.msg, msg_part)) fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
    if (line) {
        char where[64];
        snprintf(where, sizeof where, "t.pbtxt:%d:%d: ", line, col);
        if (strncmp(err.msg, where, strlen(where)) != 0)
            fail_msg("message '%s' does not start with '%s'", err.msg, where);
        assert_int_equal(err.line, line);
        assert_int_equal(err.col, col);
    }
}

/* The graph OVMS's export script writes for text generation (demos/common/export_models). */
static const char *ovms_graph =
    "# OVMS_GRAPH_QUEUE_MAX_SIZE: AUTO\n"
    "input_stream: \"HTTP_REQUEST_PAYLOAD:input\"\n"
    "output_stream: \"HTTP_RESPONSE_PAYLOAD:output\"\n"
    "\n"
    "node: {\n"
    "  name: \"LLMExecutor\"\n"
    "  calculator: \"HttpLLMCalculator\"\n"
    "  input_stream: \"LOOPBACK:loopback\"\n"
    "  input_stream: \"HTTP_REQUEST_PAYLOAD:input\"\n"
    "  input_side_packet: \"LLM_NODE_RESOURCES:llm\"\n"
    "  output_stream: \"LOOPBACK:loopback\"\n"
    "  output_stream: \"HTTP_RESPONSE_PAYLOAD:output\"\n"
    "  input_stream_info: {\n"
    "    tag_index: 'LOOPBACK:0',\n"
    "    back_edge: true\n"
    "  }\n"
    "  node_options: {\n"
    "      [type.googleapis.com / mediapipe.LLMCalculatorOptions]: {\n"
    "          models_path: \"./\",\n"
    "          plugin_config: '{\"KV_CACHE_PRECISION\": \"u8\"}',\n"
    "          enable_prefix_caching: true,\n"
    "          cache_size: 10,\n"
    "          max_num_seqs: 256,\n"
    "          device: \"CPU\",\n"
    "      }\n"
    "  }\n"
    "  input_stream_handler {\n"
    "    input_stream_handler: \"SyncSetInputStreamHandler\",\n"
    "    options {\n"
    "      [mediapipe.SyncSetInputStreamHandlerOptions.ext] {\n"
    "        sync_set {\n"
    "          tag_index: \"LOOPBACK:0\"\n"
    "        }\n"
    "      }\n"
    "    }\n"
    "  }\n"
    "}\n";

static void test_ovms_graph(void **state) {
    (void)state;
    pbtxt_doc *doc = parse_ok(ovms_graph);
    const pbtxt_field *root = pbtxt_root(doc);
    assert_int_equal(root->type, PBTXT_MESSAGE);
    assert_int_equal(pbtxt_count(root, "input_stream"), 1);
    assert_int_equal(pbtxt_count(root, "node"), 1);
    const pbtxt_field *node = pbtxt_find(root, "node");
    assert_int_equal(node->type, PBTXT_MESSAGE);
    assert_int_equal(node->line, 5);
    assert_int_equal(node->col, 1);
    assert_int_equal(pbtxt_count(node, "input_stream"), 2);
    const pbtxt_field *f = pbtxt_find(node, "input_stream");
    assert_string_equal(f->text, "LOOPBACK:loopback");
    f = pbtxt_find_next(f);
    assert_string_equal(f->text, "HTTP_REQUEST_PAYLOAD:input");
    assert_null(pbtxt_find_next(f));

    const char *s;
    lm_error err;
    err_clear(&err);
    assert_int_equal(pbtxt_get_string(pbtxt_find(node, "calculator"), &s, &err), LM_OK);
    assert_string_equal(s, "HttpLLMCalculator");
    const pbtxt_field *info = pbtxt_find(node, "input_stream_info");
    assert_string_equal(pbtxt_find(info, "tag_index")->text, "LOOPBACK:0");
    int b = -1;
    assert_int_equal(pbtxt_get_bool(pbtxt_find(info, "back_edge"), &b, &err), LM_OK);
    assert_int_equal(b, 1);

    const pbtxt_field *no = pbtxt_find(node, "node_options");
    const pbtxt_field *opts = pbtxt_find(no, "type.googleapis.com/mediapipe.LLMCalculatorOptions");
    assert_non_null(opts);
    assert_int_equal(opts->extension, 1);
    assert_int_equal(opts->line, 18);
    assert_int_equal(opts->col, 7);
    assert_string_equal(pbtxt_find(opts, "models_path")->text, "./");
    assert_string_equal(pbtxt_find(opts, "plugin_config")->text, "{\"KV_CACHE_PRECISION\": \"u8\"}");
    int64_t v = 0;
    assert_int_equal(pbtxt_get_int(pbtxt_find(opts, "cache_size"), 0, 1 << 20, &v, &err), LM_OK);
    assert_int_equal(v, 10);
    assert_int_equal(pbtxt_get_int(pbtxt_find(opts, "max_num_seqs"), 1, 65536, &v, &err), LM_OK);
    assert_int_equal(v, 256);
    const pbtxt_field *mps = pbtxt_find(opts, "max_num_seqs");
    assert_int_equal(mps->line, 23);
    assert_int_equal(mps->col, 11);
    assert_int_equal(mps->vline, 23);
    assert_int_equal(mps->vcol, 25);

    const pbtxt_field *h = pbtxt_find(node, "input_stream_handler");
    const pbtxt_field *ext = pbtxt_find(pbtxt_find(h, "options"), "mediapipe.SyncSetInputStreamHandlerOptions.ext");
    assert_non_null(ext);
    assert_string_equal(pbtxt_find(pbtxt_find(ext, "sync_set"), "tag_index")->text, "LOOPBACK:0");
    assert_int_equal(err.code, LM_OK);
    pbtxt_destroy(doc);
}

static void test_syntax_forms(void **state) {
    (void)state;
    pbtxt_doc *doc = parse_ok(
        "a: 1; b: -2, c: 0x1F d: 017 e: 1.5 f: .25 g: 1e3 h: 2.5f i: -inf j: nan k: FOO\n"
        "m < x: 1 > n: < y: 2 > o {} p: []\n"
        "q: [1, 2, 3] r: [{z: 1}, <z: 2>]\n"
        "s: \"ab\" 'cd'  # comment \"not a string\"\n"
        "   \"ef\"\n"
        "t: \"\\a\\b\\f\\n\\r\\t\\v\\\\\\'\\\"\\?\" u: \"\\101\\x42\\0\\u00e9\\U0001F600\"\n"
        "[ext.a/b.C] { w: true } v: - 3\n");
    const pbtxt_field *root = pbtxt_root(doc);
    lm_error err;
    err_clear(&err);
    int64_t v;
    double d;
    assert_int_equal(pbtxt_get_int(pbtxt_find(root, "a"), INT64_MIN, INT64_MAX, &v, &err), LM_OK);
    assert_int_equal(v, 1);
    assert_int_equal(pbtxt_get_int(pbtxt_find(root, "b"), INT64_MIN, INT64_MAX, &v, &err), LM_OK);
    assert_int_equal(v, -2);
    assert_int_equal(pbtxt_get_int(pbtxt_find(root, "c"), INT64_MIN, INT64_MAX, &v, &err), LM_OK);
    assert_int_equal(v, 31);
    assert_int_equal(pbtxt_get_int(pbtxt_find(root, "d"), INT64_MIN, INT64_MAX, &v, &err), LM_OK);
    assert_int_equal(v, 15);
    assert_int_equal(pbtxt_get_double(pbtxt_find(root, "e"), &d, &err), LM_OK);
    assert_true(d == 1.5);
    assert_int_equal(pbtxt_get_double(pbtxt_find(root, "f"), &d, &err), LM_OK);
    assert_true(d == 0.25);
    assert_int_equal(pbtxt_get_double(pbtxt_find(root, "g"), &d, &err), LM_OK);
    assert_true(d == 1000.0);
    assert_int_equal(pbtxt_get_double(pbtxt_find(root, "h"), &d, &err), LM_OK);
    assert_true(d == 2.5);
    assert_int_equal(pbtxt_get_double(pbtxt_find(root, "i"), &d, &err), LM_OK);
    assert_true(isinf(d) && d < 0);
    assert_int_equal(pbtxt_get_double(pbtxt_find(root, "j"), &d, &err), LM_OK);
    assert_true(isnan(d));
    assert_int_equal(pbtxt_get_double(pbtxt_find(root, "a"), &d, &err), LM_OK);
    assert_true(d == 1.0);
    const char *id;
    assert_int_equal(pbtxt_get_ident(pbtxt_find(root, "k"), &id, &err), LM_OK);
    assert_string_equal(id, "FOO");
    assert_int_equal(pbtxt_find(pbtxt_find(root, "m"), "x")->type, PBTXT_NUMBER);
    assert_int_equal(pbtxt_find(pbtxt_find(root, "n"), "y")->type, PBTXT_NUMBER);
    assert_int_equal(pbtxt_find(root, "o")->type, PBTXT_MESSAGE);
    assert_null(pbtxt_find(root, "o")->first);
    assert_null(pbtxt_find(root, "p")); /* an empty list adds nothing */
    assert_int_equal(pbtxt_count(root, "q"), 3);
    const pbtxt_field *q = pbtxt_find(root, "q");
    assert_string_equal(q->text, "1");
    assert_string_equal(pbtxt_find_next(q)->text, "2");
    assert_string_equal(pbtxt_find_next(pbtxt_find_next(q))->text, "3");
    assert_int_equal(pbtxt_count(root, "r"), 2);
    assert_string_equal(pbtxt_find(pbtxt_find_next(pbtxt_find(root, "r")), "z")->text, "2");
    assert_string_equal(pbtxt_find(root, "s")->text, "abcdef");
    assert_string_equal(pbtxt_find(root, "t")->text, "\a\b\f\n\r\t\v\\'\"?");
    const pbtxt_field *u = pbtxt_find(root, "u");
    assert_int_equal(u->len, 2 + 1 + 2 + 4);
    assert_memory_equal(u->text, "AB\0\xc3\xa9\xf0\x9f\x98\x80", 9);
    const char *s;
    assert_int_equal(pbtxt_get_string(u, &s, &err), LM_ERR_FORMAT); /* the NUL inside */
    assert_non_null(strstr(err.msg, "NUL"));
    err_clear(&err);
    const pbtxt_field *ext = pbtxt_find(root, "ext.a/b.C");
    assert_non_null(ext);
    assert_true(ext->extension);
    int b;
    assert_int_equal(pbtxt_get_bool(pbtxt_find(ext, "w"), &b, &err), LM_OK);
    assert_int_equal(b, 1);
    assert_int_equal(pbtxt_get_int(pbtxt_find(root, "v"), INT64_MIN, INT64_MAX, &v, &err), LM_OK);
    assert_int_equal(v, -3);
    pbtxt_destroy(doc);

    /* empty input and comments only */
    doc = parse_ok("");
    assert_null(pbtxt_root(doc)->first);
    pbtxt_destroy(doc);
    doc = parse_ok("# nothing\n\n  # at all");
    assert_null(pbtxt_root(doc)->first);
    pbtxt_destroy(doc);
}

static void test_getters(void **state) {
    (void)state;
    pbtxt_doc *doc = parse_ok("a: 1.5\nb: \"x\"\nc: 300\nd: yes\ne: 1\nf: 0\ng: {}\nh: 9223372036854775808\n"
                              "i: -9223372036854775808\nj: 0x\nk: 1.2.3\nl: False\nm: 08\n");
    const pbtxt_field *r = pbtxt_root(doc);
    lm_error err;
    int64_t v;
    int b;
    double d;
    const char *s;
    const pbtxt_field *m;

    err_clear(&err);
    assert_int_equal(pbtxt_get_int(pbtxt_find(r, "a"), 0, 10, &v, &err), LM_ERR_FORMAT);
    assert_string_equal(err.msg, "t.pbtxt:1:4: a: expected an integer, found '1.5'");
    assert_int_equal(err.line, 1);
    assert_int_equal(err.col, 4);
    err_clear(&err);
    assert_int_equal(pbtxt_get_int(pbtxt_find(r, "b"), 0, 10, &v, &err), LM_ERR_FORMAT);
    assert_string_equal(err.msg, "t.pbtxt:2:4: b: expected an integer, found a string");
    err_clear(&err);
    assert_int_equal(pbtxt_get_int(pbtxt_find(r, "c"), 0, 255, &v, &err), LM_ERR_FORMAT);
    assert_string_equal(err.msg, "t.pbtxt:3:4: c: 300 is out of range [0, 255]");
    err_clear(&err);
    assert_int_equal(pbtxt_get_bool(pbtxt_find(r, "d"), &b, &err), LM_ERR_FORMAT);
    assert_string_equal(err.msg, "t.pbtxt:4:4: d: expected true or false, found 'yes'");
    err_clear(&err);
    assert_int_equal(pbtxt_get_bool(pbtxt_find(r, "e"), &b, &err), LM_OK);
    assert_int_equal(b, 1);
    assert_int_equal(pbtxt_get_bool(pbtxt_find(r, "f"), &b, &err), LM_OK);
    assert_int_equal(b, 0);
    assert_int_equal(pbtxt_get_bool(pbtxt_find(r, "c"), &b, &err), LM_ERR_FORMAT);
    err_clear(&err);
    assert_int_equal(pbtxt_get_bool(pbtxt_find(r, "l"), &b, &err), LM_OK);
    assert_int_equal(b, 0);
    assert_int_equal(pbtxt_get_string(pbtxt_find(r, "g"), &s, &err), LM_ERR_FORMAT);
    assert_string_equal(err.msg, "t.pbtxt:7:4: g: expected a string, found a message");
    err_clear(&err);
    assert_int_equal(pbtxt_get_message(pbtxt_find(r, "g"), &m, &err), LM_OK);
    assert_int_equal(pbtxt_get_message(pbtxt_find(r, "a"), &m, &err), LM_ERR_FORMAT);
    err_clear(&err);
    assert_int_equal(pbtxt_get_int(pbtxt_find(r, "h"), INT64_MIN, INT64_MAX, &v, &err), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "out of range"));
    err_clear(&err);
    assert_int_equal(pbtxt_get_int(pbtxt_find(r, "i"), INT64_MIN, INT64_MAX, &v, &err), LM_OK);
    assert_true(v == INT64_MIN);
    assert_int_equal(pbtxt_get_int(pbtxt_find(r, "j"), 0, 10, &v, &err), LM_ERR_FORMAT);
    err_clear(&err);
    assert_int_equal(pbtxt_get_double(pbtxt_find(r, "k"), &d, &err), LM_ERR_FORMAT);
    assert_string_equal(err.msg, "t.pbtxt:11:4: k: expected a number, found '1.2.3'");
    err_clear(&err);
    assert_int_equal(pbtxt_get_int(pbtxt_find(r, "m"), 0, 100, &v, &err), LM_ERR_FORMAT);
    err_clear(&err);
    assert_int_equal(pbtxt_get_ident(pbtxt_find(r, "b"), &s, &err), LM_ERR_FORMAT);
    err_clear(&err);
    assert_int_equal(pbtxt_error_at(&err, LM_ERR_INVALID, pbtxt_find(r, "c"), "must be %s", "small"),
                     LM_ERR_INVALID);
    assert_string_equal(err.msg, "t.pbtxt:3:4: c: must be small");
    pbtxt_destroy(doc);
}

static void test_errors_with_position(void **state) {
    (void)state;
    parse_fails("node {\n  name: \"x\"\n", LM_ERR_FORMAT, 3, 1, "expected '}' to close 'node'");
    parse_fails("a: 1\n}\n", LM_ERR_FORMAT, 2, 1, "unexpected '}'");
    parse_fails("a 1\n", LM_ERR_FORMAT, 1, 3, "expected ':' or '{' after field name 'a', found number '1'");
    parse_fails("a: \"abc\n\"", LM_ERR_FORMAT, 1, 4, "string not closed before the end of the line");
    parse_fails("a: 'abc", LM_ERR_FORMAT, 1, 4, "string not closed before the end of the input");
    parse_fails("a: \"x\\qy\"", LM_ERR_FORMAT, 1, 6, "invalid escape '\\q'");
    parse_fails("a: \"\\777\"", LM_ERR_FORMAT, 1, 5, "larger than a byte");
    parse_fails("a: \"\\x\"", LM_ERR_FORMAT, 1, 5, "\\x must be followed by a hex digit");
    parse_fails("a: \"\\u12\"", LM_ERR_FORMAT, 1, 5, "4 hex digits");
    parse_fails("a: \"\\uD800\"", LM_ERR_FORMAT, 1, 5, "not a Unicode scalar value");
    parse_fails("a: [1, 2", LM_ERR_FORMAT, 1, 9, "expected ',' or ']' in a list");
    parse_fails("a: [1, ]", LM_ERR_FORMAT, 1, 8, "expected a value");
    parse_fails("a: -x", LM_ERR_FORMAT, 1, 5, "expected a number after '-'");
    parse_fails("a: }", LM_ERR_FORMAT, 1, 4, "expected a value");
    parse_fails("  : 1", LM_ERR_FORMAT, 1, 3, "expected a field name");
    parse_fails("[a.b { }", LM_ERR_FORMAT, 1, 6, "expected '.', '/' or ']'");
    parse_fails("[] { }", LM_ERR_FORMAT, 1, 2, "expected a type name");
    parse_fails("a { b: 1 >", LM_ERR_FORMAT, 1, 10, "expected '}' to close 'a'");
    parse_fails("a: 1\n\n   b: @", LM_ERR_FORMAT, 3, 7, "found '@'");
    parse_fails("a: \x01", LM_ERR_FORMAT, 1, 4, "found byte 0x01");
}

static void test_limits(void **state) {
    (void)state;
    /* nesting: LM_PBTXT_MAX_DEPTH levels are fine, one more is not */
    lm_buf b = {0};
    for (int i = 0; i < LM_PBTXT_MAX_DEPTH; i++) buf_append_str(&b, "a{");
    for (int i = 0; i < LM_PBTXT_MAX_DEPTH; i++) buf_append_str(&b, "}");
    pbtxt_doc *doc = parse_ok(buf_cstr(&b));
    pbtxt_destroy(doc);
    buf_reset(&b);
    for (int i = 0; i < LM_PBTXT_MAX_DEPTH + 1; i++) buf_append_str(&b, "a{");
    parse_fails(buf_cstr(&b), LM_ERR_LIMIT, 1, 2 * LM_PBTXT_MAX_DEPTH + 2, "nested deeper than");

    /* field count */
    buf_reset(&b);
    buf_append_str(&b, "a: [");
    for (unsigned i = 0; i < LM_PBTXT_MAX_FIELDS; i++) buf_append_str(&b, i ? ",1" : "1");
    buf_append_str(&b, "]");
    doc = parse_ok(buf_cstr(&b));
    assert_int_equal(pbtxt_count(pbtxt_root(doc), "a"), LM_PBTXT_MAX_FIELDS);
    pbtxt_destroy(doc);
    buf_reset(&b);
    buf_append_str(&b, "a: [");
    for (unsigned i = 0; i <= LM_PBTXT_MAX_FIELDS; i++) buf_append_str(&b, i ? ",1" : "1");
    buf_append_str(&b, "]");
    parse_fails(buf_cstr(&b), LM_ERR_LIMIT, 0, 0, "LM_PBTXT_MAX_FIELDS");

    /* size */
    doc = (pbtxt_doc *)1;
    lm_error err;
    err_clear(&err);
    assert_int_equal(pbtxt_parse(b.data, (size_t)LM_PBTXT_MAX_BYTES + 1, "big", &doc, &err), LM_ERR_LIMIT);
    assert_null(doc);
    buf_fini(&b);
}

static void test_parse_file(void **state) {
    (void)state;
    pbtxt_doc *doc = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(pbtxt_parse_file(lmtest_data("repo/demo/models/Qwen/Qwen3-0.6B/graph.pbtxt"),
                                      &doc, &err), LM_OK);
    const pbtxt_field *node = pbtxt_find(pbtxt_root(doc), "node");
    assert_non_null(node);
    assert_non_null(strstr(node->source, "Qwen3-0.6B/graph.pbtxt"));
    pbtxt_destroy(doc);

    err_clear(&err);
    assert_int_equal(pbtxt_parse_file(lmtest_data("repo/no/such/graph.pbtxt"), &doc, &err), LM_ERR_IO);
    assert_null(doc);
    assert_non_null(strstr(err.msg, "no/such/graph.pbtxt"));
    err_clear(&err);
    assert_int_equal(pbtxt_parse_file(lmtest_data("repo"), &doc, &err), LM_ERR_IO);
    assert_non_null(strstr(err.msg, "folder"));
    pbtxt_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ovms_graph),
        cmocka_unit_test(test_syntax_forms),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_errors_with_position),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_parse_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
