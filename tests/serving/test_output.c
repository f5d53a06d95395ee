/* tests/serving/test_output.c — the output chain (src/serving/output.c): the stop-strings stage on
 * scripted text (held back while a stop may form, cut across pushes, kept with include, released
 * by flush, nothing after a stop), the slots carrying a stage's reasoning and tool events to the
 * delta builder, the detokenizer feeding the chain from real token ids, and the parser table. */
#include "lmtest.h"

#include <string.h>

#include "serving/output.h"

/* A sink that records text events into one buffer. */
typedef struct {
    out_sink sink;
    lm_buf text;
    int events;
} collect;

static void collect_emit(out_sink *self, const out_event *ev) {
    collect *c = (collect *)self;
    assert_int_equal(ev->kind, OUT_TEXT);
    assert_true(ev->len > 0); /* stages never emit empty text */
    buf_append(&c->text, ev->text, ev->len);
    c->events++;
}

static void push(out_stops *st, collect *c, const char *text) {
    out_event ev = {.kind = OUT_TEXT, .text = text, .len = strlen(text)};
    assert_int_equal(st->base.push(&st->base, &ev, &c->sink), LM_OK);
}

static void test_stops_hold_and_cut(void **state) {
    (void)state;
    static const char *const stops[] = {"STOP", "\n\n"};
    out_stops st;
    out_stops_init(&st, stops, 2, 0);
    collect c = {{collect_emit}, {0}, 0};
    push(&st, &c, "Hello S");
    assert_string_equal(buf_cstr(&c.text), "Hello "); /* "S" may start STOP */
    push(&st, &c, "T");
    assert_string_equal(buf_cstr(&c.text), "Hello ");
    push(&st, &c, "AY\n");
    assert_string_equal(buf_cstr(&c.text), "Hello STAY"); /* "\n" may start "\n\n" */
    push(&st, &c, "\nafter");
    assert_int_equal(st.stopped, 2); /* 1 + the index of "\n\n": which stop string ended it */
    assert_string_equal(buf_cstr(&c.text), "Hello STAY");
    push(&st, &c, "more"); /* dropped */
    assert_int_equal(st.base.flush(&st.base, &c.sink), LM_OK);
    assert_string_equal(buf_cstr(&c.text), "Hello STAY");
    st.base.destroy(&st.base);
    buf_fini(&c.text);
}

static void test_stops_include_and_flush(void **state) {
    (void)state;
    static const char *const stops[] = {"END"};
    out_stops st;
    out_stops_init(&st, stops, 1, 1);
    collect c = {{collect_emit}, {0}, 0};
    push(&st, &c, "a E");
    push(&st, &c, "NDb");
    assert_true(st.stopped);
    assert_string_equal(buf_cstr(&c.text), "a END");
    st.base.destroy(&st.base);
    buf_reset(&c.text);

    /* no stop: flush releases what was held */
    out_stops_init(&st, stops, 1, 0);
    push(&st, &c, "x EN");
    assert_string_equal(buf_cstr(&c.text), "x ");
    assert_int_equal(st.base.flush(&st.base, &c.sink), LM_OK);
    assert_false(st.stopped);
    assert_string_equal(buf_cstr(&c.text), "x EN");
    st.base.destroy(&st.base);

    /* no stop strings: everything passes at once */
    buf_reset(&c.text);
    out_stops_init(&st, NULL, 0, 0);
    push(&st, &c, "abc");
    assert_string_equal(buf_cstr(&c.text), "abc");
    st.base.destroy(&st.base);
    buf_fini(&c.text);
}

/* A test stage for the reasoning slot: text up to "|" is reasoning, the rest answer; "#" in the
 * answer begins tool call 0 named "f" whose arguments are the rest. */
typedef struct {
    out_stage base;
    int answer, tool;
} split_stage;

static lm_status split_push(out_stage *self, const out_event *ev, out_sink *next) {
    split_stage *s = (split_stage *)self;
    if (ev->kind != OUT_TEXT) {
        next->emit(next, ev);
        return LM_OK;
    }
    for (size_t i = 0; i < ev->len; i++) {
        char ch = ev->text[i];
        if (!s->answer && ch == '|') {
            s->answer = 1;
            continue;
        }
        if (s->answer && !s->tool && ch == '#') {
            s->tool = 1;
            out_event b = {.kind = OUT_TOOL_BEGIN, .index = 0, .id = "call_0", .text = "f", .len = 1};
            next->emit(next, &b);
            continue;
        }
        out_event e = {.kind = s->tool ? OUT_TOOL_ARGS : s->answer ? OUT_TEXT : OUT_REASONING,
                       .text = &ev->text[i], .len = 1};
        next->emit(next, &e);
    }
    return LM_OK;
}

static lm_status split_flush(out_stage *self, out_sink *next) {
    (void)self, (void)next;
    return LM_OK;
}

static void split_destroy(out_stage *self) { free(self); }

static out_stage *split_new(void) {
    split_stage *s = calloc(1, sizeof *s);
    s->base = (out_stage){split_push, split_flush, split_destroy};
    return &s->base;
}

static void test_chain_slots_and_deltas(void **state) {
    (void)state;
    tok_tokenizer *t = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(tok_load_path(lmtest_demo_model(), &t, &err), LM_OK);
    tok_ids ids = {0};
    const char *text = "think|say #{\"a\":1}";
    assert_int_equal(tok_encode(t, text, strlen(text), 0, &ids, &err), LM_OK);

    static const char *const stops[] = {"never"};
    out_chain c;
    out_chain_init(&c, t, 1, stops, 1, 0, split_new(), NULL);
    for (size_t i = 0; i < ids.n; i++) assert_int_equal(out_chain_push_token(&c, ids.ids[i]), LM_OK);
    assert_int_equal(out_chain_finish(&c, 1), LM_OK);
    assert_false(out_chain_stopped(&c));
    out_deltas d = {0};
    out_deltas_move(&d, &c.out);
    assert_true(out_deltas_empty(&c.out));
    /* the demo vocabulary's pieces may carry a leading space: compare without it */
    const char *r = buf_cstr(&d.reasoning);
    while (*r == ' ') r++;
    assert_string_equal(r, "think");
    assert_string_equal(buf_cstr(&d.text), "say ");
    assert_true(d.n_tools >= 2);
    assert_int_equal(d.tools[0].kind, OUT_TOOL_BEGIN);
    assert_string_equal(d.tools[0].id, "call_0");
    assert_string_equal(d.tools[0].text, "f");
    lm_buf args = {0};
    for (size_t i = 1; i < d.n_tools; i++) {
        assert_int_equal(d.tools[i].kind, OUT_TOOL_ARGS);
        buf_append(&args, d.tools[i].text, d.tools[i].len);
    }
    assert_string_equal(buf_cstr(&args), "{\"a\":1}");
    buf_fini(&args);
    out_deltas_fini(&d);
    out_chain_fini(&c);
    tok_ids_fini(&ids);
    tok_destroy(t);
}

static void test_chain_stop_ends_text(void **state) {
    (void)state;
    tok_tokenizer *t = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(tok_load_path(lmtest_demo_model(), &t, &err), LM_OK);
    tok_ids ids = {0};
    const char *text = "Once upon a time there was";
    assert_int_equal(tok_encode(t, text, strlen(text), 0, &ids, &err), LM_OK);
    static const char *const stops[] = {"dragon", "time"};
    out_chain c;
    out_chain_init(&c, t, 1, stops, 2, 0, NULL, NULL);
    size_t i = 0;
    while (i < ids.n && !out_chain_stopped(&c)) assert_int_equal(out_chain_push_token(&c, ids.ids[i++]), LM_OK);
    assert_int_equal(out_chain_stopped(&c), 2); /* "time", the second */
    assert_true(i < ids.n); /* it stopped before the end of the text */
    assert_int_equal(out_chain_finish(&c, 0), LM_OK);
    assert_non_null(strstr(buf_cstr(&c.out.text), "upon a "));
    assert_null(strstr(buf_cstr(&c.out.text), "time"));
    out_chain_fini(&c);
    tok_ids_fini(&ids);
    tok_destroy(t);
}

static void test_parser_table(void **state) {
    (void)state;
    out_stage *r = (out_stage *)1, *tl = (out_stage *)1;
    lm_error err;
    err_clear(&err);
    assert_int_equal(out_stages_create(NULL, NULL, NULL, &r, &tl, &err), LM_OK);
    assert_null(r);
    assert_null(tl);
    assert_false(out_parser_known(OUT_PARSER_TOOL, "no-such-parser"));
    assert_int_equal(out_stages_create(NULL, "no-such-parser", NULL, &r, &tl, &err), LM_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "no-such-parser"));
    assert_null(r);
    assert_null(tl);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stops_hold_and_cut),
        cmocka_unit_test(test_stops_include_and_flush),
        cmocka_unit_test(test_chain_slots_and_deltas),
        cmocka_unit_test(test_chain_stop_ends_text),
        cmocka_unit_test(test_parser_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
