/* test_irxml.c — the IR's XML reader (src/model/irxml.c): events, entities, and refusals. */
#include "lmtest.h"
#include "base/limits.h"
#include "model/irxml.h"

typedef struct {
    lm_buf log;
} events;

static lm_status on_start(void *ctx, int depth, const char *name, const irxml_attr *a, int n,
                          int64_t at, lm_error *err) {
    events *e = ctx;
    buf_printf(&e->log, "<%d:%s", depth, name);
    for (int i = 0; i < n; i++) buf_printf(&e->log, " %s=[%s]", a[i].name, a[i].value);
    buf_append_str(&e->log, ">");
    return LM_OK;
}

static lm_status on_end(void *ctx, int depth, const char *name, lm_error *err) {
    events *e = ctx;
    buf_printf(&e->log, "</%d:%s>", depth, name);
    return LM_OK;
}

static lm_status run(const char *xml, lm_buf *log, lm_error *err) {
    events e = {{0}};
    irxml_handler h = {on_start, on_end};
    err_clear(err);
    lm_status s = irxml_parse(xml, strlen(xml), &h, &e, err);
    if (log) *log = e.log;
    else buf_fini(&e.log);
    return s;
}

static void test_events(void **state) {
    lm_buf log;
    lm_error err;
    assert_int_equal(run("\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- c -->\n<net a='1' b=\"x &amp; &lt;y&gt; &#65;&#x42;&#x20AC;\">"
                         "<l id=\"0\"/>text<![CDATA[<no>]]><m></m ></net>\n<!-- tail -->\n", &log, &err), LM_OK);
    assert_string_equal(buf_cstr(&log), "<0:net a=[1] b=[x & <y> AB\xE2\x82\xAC]><1:l id=[0]></1:l><1:m></1:m></0:net>");
    buf_fini(&log);
}

static void expect(const char *xml, lm_status code, const char *msg) {
    lm_error err;
    lm_status s = run(xml, NULL, &err);
    if (s != code || !strstr(err.msg, msg)) fail_msg("'%s': got %d '%s', want '%s'", xml, s, err.msg, msg);
}

static void test_refusals(void **state) {
    expect("", LM_ERR_FORMAT, "no root element");
    expect("<a><b></a>", LM_ERR_FORMAT, "does not close <b>");
    expect("<a><b>", LM_ERR_FORMAT, "<b> still open");
    expect("<a x=\"1", LM_ERR_FORMAT, "attribute value");
    expect("<a x=\"1\" x=\"2\"/>", LM_ERR_FORMAT, "duplicate attribute 'x'");
    expect("<a x=\"&bogus;\"/>", LM_ERR_FORMAT, "entity");
    expect("<a x=\"&#0;\"/>", LM_ERR_FORMAT, "entity");
    expect("<a x=\"<\"/>", LM_ERR_FORMAT, "'<' in an attribute");
    expect("<!DOCTYPE a><a/>", LM_ERR_FORMAT, "DOCTYPE");
    expect("<a/><b/>", LM_ERR_FORMAT, "second root");
    expect("junk<a/>", LM_ERR_FORMAT, "text outside");
    expect("<a/></a>", LM_ERR_FORMAT, "without a start tag");
    expect("<a x=1/>", LM_ERR_FORMAT, "quoted value");
    expect("<a><!-- open", LM_ERR_FORMAT, "unterminated comment");
    lm_buf deep = {0};
    for (int i = 0; i <= LM_IR_MAX_XML_DEPTH; i++) buf_append_str(&deep, "<d>");
    expect(buf_cstr(&deep), LM_ERR_LIMIT, "nested deeper");
    buf_fini(&deep);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
