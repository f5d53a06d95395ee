/* Tests for src/serving/parsers.c, reasoning.c and toolcall*.c: every format's events on sample
 * replies, the same events at every split point of the text (streamed == unary), malformed calls
 * released as text, and auto-detection on the real chat templates in tests/data/templates. */
#include "lmtest.h"

#include "base/file.h"
#include "serving/parsers.h"

/* ---- a sink that writes events in a canonical form ------------------------------------------
 * T:text| R:reasoning| B<i>:name| A<i>:args|, adjacent T, R and same-call A events merged, so a
 * streamed run and a one-piece run compare as strings. */
typedef struct {
    out_sink sink;
    lm_buf out;
    int last;     /* last kind written, -1 none */
    int last_idx;
    char ids[16][40];
    int n_ids;
} canon;

static void canon_emit(out_sink *self, const out_event *ev) {
    canon *c = (canon *)self;
    assert_true(ev->len == 0 || ev->text != NULL);
    int merge = (int)ev->kind == c->last && (ev->kind == OUT_TEXT || ev->kind == OUT_REASONING ||
                                             (ev->kind == OUT_TOOL_ARGS && ev->index == c->last_idx));
    if (ev->len == 0 && ev->kind != OUT_TOOL_BEGIN && ev->kind != OUT_TOOL_ARGS) return;
    if (!merge) {
        if (c->last >= 0) buf_append_char(&c->out, '|');
        switch (ev->kind) {
        case OUT_TEXT: buf_append_str(&c->out, "T:"); break;
        case OUT_REASONING: buf_append_str(&c->out, "R:"); break;
        case OUT_TOOL_BEGIN:
            buf_printf(&c->out, "B%d:", ev->index);
            assert_non_null(ev->id);
            assert_true(strlen(ev->id) > 0 && strlen(ev->id) < 40);
            for (int k = 0; k < c->n_ids; k++) assert_string_not_equal(c->ids[k], ev->id); /* unique */
            if (c->n_ids < 16) strcpy(c->ids[c->n_ids++], ev->id);
            break;
        case OUT_TOOL_ARGS: buf_printf(&c->out, "A%d:", ev->index); break;
        }
    }
    buf_append(&c->out, ev->text, ev->len);
    c->last = (int)ev->kind;
    c->last_idx = ev->index;
}

static void canon_init(canon *c) {
    memset(c, 0, sizeof *c);
    c->sink.emit = canon_emit;
    c->last = -1;
}

/* A chain of up to two stages (reasoning, then tool) ending in a canon sink. */
typedef struct {
    out_sink sink;        /* between stage 0 and stage 1 */
    out_stage *st[2];
    int n;
    canon c;
} chain;

static void chain_mid(out_sink *self, const out_event *ev) {
    chain *ch = (chain *)self;
    assert_int_equal(ch->st[1]->push(ch->st[1], ev, &ch->c.sink), LM_OK);
}

static void chain_init(chain *ch, const char *reasoning, const char *tool, const parser_opts *o) {
    memset(ch, 0, sizeof *ch);
    canon_init(&ch->c);
    ch->sink.emit = chain_mid;
    lm_error err;
    err_clear(&err);
    if (reasoning) assert_int_equal(parser_create(PARSER_REASONING, reasoning, o, &ch->st[ch->n++], &err), LM_OK);
    if (tool) assert_int_equal(parser_create(PARSER_TOOL, tool, o, &ch->st[ch->n++], &err), LM_OK);
}

static void chain_push(chain *ch, const char *s, size_t n) {
    out_event ev = {OUT_TEXT, 0, NULL, s, n};
    out_sink *to = ch->n == 2 ? &ch->sink : &ch->c.sink;
    assert_int_equal(ch->st[0]->push(ch->st[0], &ev, to), LM_OK);
}

static void chain_flush(chain *ch) {
    if (ch->n == 2) {
        assert_int_equal(ch->st[0]->flush(ch->st[0], &ch->sink), LM_OK);
        assert_int_equal(ch->st[1]->flush(ch->st[1], &ch->c.sink), LM_OK);
    } else {
        assert_int_equal(ch->st[0]->flush(ch->st[0], &ch->c.sink), LM_OK);
    }
}

static void chain_fini(chain *ch) {
    for (int i = 0; i < ch->n; i++) ch->st[i]->destroy(ch->st[i]);
    buf_fini(&ch->c.out);
}

/* Runs `text` cut at the offsets cuts[0..n_cuts) (ascending). Returns the canonical events
 * (caller frees). */
static char *run_cuts(const char *reasoning, const char *tool, const parser_opts *o, const char *text,
                      const size_t *cuts, int n_cuts) {
    chain ch;
    chain_init(&ch, reasoning, tool, o);
    size_t prev = 0, n = strlen(text);
    for (int i = 0; i <= n_cuts; i++) {
        size_t at = i < n_cuts ? cuts[i] : n;
        if (at > prev) chain_push(&ch, text + prev, at - prev);
        prev = at;
    }
    chain_flush(&ch);
    char *r = strdup(buf_cstr(&ch.c.out));
    chain_fini(&ch);
    return r;
}

static int utf8_boundary(const char *s, size_t i) { return ((unsigned char)s[i] & 0xC0) != 0x80; }

/* Checks `text` gives `want` in one piece, cut at every point, cut into single characters, and
 * cut at random points (seeded). */
static void check(const char *reasoning, const char *tool, const parser_opts *o, const char *text,
                  const char *want) {
    char *got = run_cuts(reasoning, tool, o, text, NULL, 0);
    if (strcmp(got, want)) fail_msg("%s/%s on\n  %s\ngave\n  %s\nwanted\n  %s", reasoning ? reasoning : "-",
                                    tool ? tool : "-", text, got, want);
    free(got);
    size_t n = strlen(text);
    for (size_t i = 1; i < n; i++) {
        if (!utf8_boundary(text, i)) continue;
        got = run_cuts(reasoning, tool, o, text, &i, 1);
        if (strcmp(got, want)) fail_msg("split at %zu of\n  %s\ngave\n  %s\nwanted\n  %s", i, text, got, want);
        free(got);
    }
    size_t *cuts = malloc((n + 1) * sizeof *cuts);
    int nc = 0;
    for (size_t i = 1; i < n; i++)
        if (utf8_boundary(text, i)) cuts[nc++] = i;
    got = run_cuts(reasoning, tool, o, text, cuts, nc);
    if (strcmp(got, want)) fail_msg("char by char\n  %s\ngave\n  %s\nwanted\n  %s", text, got, want);
    free(got);
    unsigned seed = 12345;
    for (int round = 0; round < 50; round++) {
        nc = 0;
        for (size_t i = 1; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) % 5 == 0 && utf8_boundary(text, i)) cuts[nc++] = i;
        }
        got = run_cuts(reasoning, tool, o, text, cuts, nc);
        if (strcmp(got, want)) fail_msg("random cuts (round %d)\n  %s\ngave\n  %s\nwanted\n  %s", round, text, got, want);
        free(got);
    }
    free(cuts);
}

static const parser_opts no_opts;

/* ---- reasoning ------------------------------------------------------------------------------- */

static void test_qwen3(void **state) {
    (void)state;
    check("qwen3", NULL, &no_opts, "<think>\nLet me think.\n</think>\n\nHello!", "R:Let me think.|T:Hello!");
    check("qwen3", NULL, &no_opts, "\n<think>a  b</think>c", "R:a  b|T:c");
    check("qwen3", NULL, &no_opts, "Just text <think> here", "T:Just text <think> here");
    check("qwen3", NULL, &no_opts, "  plain\n", "T:  plain\n");
    check("qwen3", NULL, &no_opts, "<think>cut off by max_tokens", "R:cut off by max_tokens");
    check("qwen3", NULL, &no_opts, "<thin", "T:<thin");
    check("qwen3", NULL, &no_opts, "<think></think>Only content", "T:Only content");
    check("qwen3", NULL, &no_opts, "<think>a</think>b</think>c", "R:a|T:b</think>c");
    check("qwen3", NULL, &no_opts, "<think>é ü </thi", "R:é ü </thi");
    parser_opts o = {.prompt_opens_think = 1};
    check("qwen3", NULL, &o, "\nReasoning here\n</think>\n\nAnswer", "R:Reasoning here|T:Answer");
    check("qwen3", NULL, &o, "all reasoning", "R:all reasoning");
    const char *p1 = "<|im_start|>assistant\n<think>\n", *p2 = "<|im_start|>assistant\n";
    assert_true(parser_prompt_opens_think(p1, strlen(p1)));
    assert_false(parser_prompt_opens_think(p2, strlen(p2)));
}

/* ---- tools ----------------------------------------------------------------------------------- */

static void test_hermes3(void **state) {
    (void)state;
    check(NULL, "hermes3", &no_opts,
          "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"n\": [1, 2.5e3]}}\n</tool_call>",
          "B0:get_weather|A0:{\"city\":\"Paris\",\"n\":[1,2.5e3]}");
    check(NULL, "hermes3", &no_opts,
          "Let me check.\n\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"s\": \"x } y\\\" z\"}}\n</tool_call>\n"
          "<tool_call>\n{\"arguments\": {}, \"name\": \"b\"}\n</tool_call>\n",
          "T:Let me check.|B0:a|A0:{\"s\":\"x } y\\\" z\"}|B1:b|A1:{}");
    /* malformed calls are content, markup included */
    check(NULL, "hermes3", &no_opts, "<tool_call>{\"name\": 1, \"arguments\": {}}</tool_call> after",
          "T:<tool_call>{\"name\": 1, \"arguments\": {}}</tool_call> after");
    check(NULL, "hermes3", &no_opts, "Use <tool_call> tags.", "T:Use <tool_call> tags.");
    check(NULL, "hermes3", &no_opts, "<tool_call>{\"name\": \"f\", \"arguments\": {}} trailing",
          "T:<tool_call>{\"name\": \"f\", \"arguments\": {}} trailing");
    /* the last call may be unterminated (max_tokens, or a stop at </tool_call>) */
    check(NULL, "hermes3", &no_opts, "<tool_call>{\"name\":\"f\",\"arguments\":{}}", "B0:f|A0:{}");
    check(NULL, "hermes3", &no_opts, "<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":", "T:<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":");
    check(NULL, "hermes3", &no_opts, "a <tool", "T:a <tool");
    check(NULL, "hermes3", &no_opts, "no calls at all\n", "T:no calls at all\n");
    check(NULL, "hermes3", &no_opts, "ünï <tool_call>{\"name\":\"é\",\"arguments\":{\"k\":\"ö\"}}</tool_call>",
          "T:ünï|B0:é|A0:{\"k\":\"ö\"}");
}

static void test_qwen3_with_hermes3(void **state) {
    (void)state;
    check("qwen3", "hermes3", &no_opts,
          "<think>\nI should call get_weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
          "{\"city\": \"Paris\"}}\n</tool_call>",
          "R:I should call get_weather.|B0:get_weather|A0:{\"city\":\"Paris\"}");
    /* a tool call inside the reasoning stays reasoning */
    check("qwen3", "hermes3", &no_opts, "<think><tool_call>{}</tool_call></think>ok", "R:<tool_call>{}</tool_call>|T:ok");
}

static void test_llama3(void **state) {
    (void)state;
    check(NULL, "llama3", &no_opts,
          "<|python_tag|>{\"name\": \"f\", \"parameters\": {\"x\": 1}}; {\"name\": \"g\", \"arguments\": {}}",
          "B0:f|A0:{\"x\":1}|B1:g|A1:{}");
    check(NULL, "llama3", &no_opts, "{\"name\": \"f\", \"parameters\": {\"a\": [1, 2]}}", "B0:f|A0:{\"a\":[1,2]}");
    check(NULL, "llama3", &no_opts, "  {\"name\": \"f\", \"parameters\": {}}", "B0:f|A0:{}");
    check(NULL, "llama3", &no_opts, "{not json}", "T:{not json}");
    check(NULL, "llama3", &no_opts, "Text {\"name\": \"f\", \"parameters\": {}}", "T:Text {\"name\": \"f\", \"parameters\": {}}");
    check(NULL, "llama3", &no_opts, "{\"name\": \"f\", \"parameters\": {}} and more", "B0:f|A0:{}|T:and more");
    check(NULL, "llama3", &no_opts, "<|python_tag|>print(1)", "T:<|python_tag|>print(1)");
    check(NULL, "llama3", &no_opts, "{\"a\": 1", "T:{\"a\": 1");
}

static void test_mistral(void **state) {
    (void)state;
    check(NULL, "mistral", &no_opts,
          "[TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {\"a\": 1}, \"id\": \"abcdefghi\"}, "
          "{\"name\": \"g\", \"arguments\": {\"b\": \"c\"}}]",
          "B0:f|A0:{\"a\":1}|B1:g|A1:{\"b\":\"c\"}");
    check(NULL, "mistral", &no_opts, "[{\"name\": \"f\", \"arguments\": {}}]", "B0:f|A0:{}");
    check(NULL, "mistral", &no_opts, "[1, 2] is a list", "T:[1, 2] is a list");
    check(NULL, "mistral", &no_opts, "[", "T:[");
    check(NULL, "mistral", &no_opts, "Sure [TOOL_CALLS][{\"name\":\"f\",\"arguments\":{}}]", "T:Sure|B0:f|A0:{}");
    check(NULL, "mistral", &no_opts, "[TOOL_CALLS] [{\"name\": \"f\"}]", "T:[TOOL_CALLS] [{\"name\": \"f\"}]");
}

static void test_devstral(void **state) {
    (void)state;
    check(NULL, "devstral", &no_opts,
          "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]f[CALL_ID]abc123def[ARGS]{}",
          "B0:get_weather|A0:{\"city\":\"Paris\"}|B1:f|A1:{}");
    check(NULL, "devstral", &no_opts, "Hi [TOOL_CALLS]bad name[ARGS]{}", "T:Hi [TOOL_CALLS]bad name[ARGS]{}");
    check(NULL, "devstral", &no_opts, "[TOOL_CALLS]f[ARGS]{\"a\":", "T:[TOOL_CALLS]f[ARGS]{\"a\":");
}

static void test_phi4(void **state) {
    (void)state;
    check(NULL, "phi4", &no_opts, "Sure. functools[{\"name\": \"f\", \"arguments\": {\"q\": \"x y\"}}]",
          "T:Sure.|B0:f|A0:{\"q\":\"x y\"}");
    check(NULL, "phi4", &no_opts, "functools is a module", "T:functools is a module");
    check(NULL, "phi4", &no_opts, "functool", "T:functool");
}

static void test_qwen3coder(void **state) {
    (void)state;
    json_error_t je;
    json_t *tools = json_loads(
        "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
        "\"properties\":{\"city\":{\"type\":\"string\"},\"zip\":{\"type\":\"string\"},\"days\":{\"type\":\"integer\"},"
        "\"metric\":{\"type\":\"boolean\"},\"opts\":{\"type\":\"object\"},\"note\":{\"type\":[\"string\",\"null\"]}}}}}]",
        0, &je);
    assert_non_null(tools);
    parser_opts o = {.tools = tools};
    check(NULL, "qwen3coder", &o,
          "I'll check.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
          "<parameter=zip>\n75001\n</parameter>\n<parameter=days>\n3\n</parameter>\n<parameter=metric>\nTrue\n"
          "</parameter>\n<parameter=opts>\n{\"a\": [1]}\n</parameter>\n<parameter=note>\nnull\n</parameter>\n"
          "</function>\n</tool_call>",
          "T:I'll check.|B0:get_weather|A0:{\"city\":\"Paris\",\"zip\":\"75001\",\"days\":3,\"metric\":true,"
          "\"opts\":{\"a\":[1]},\"note\":null}");
    /* bare <function=...>, a parameter the schema does not list, a value with quotes */
    check(NULL, "qwen3coder", &o, "<function=other>\n<parameter=x>\nsay \"hi\"\n</parameter>\n<parameter=y>\n[1]\n</parameter>\n</function>",
          "B0:other|A0:{\"x\":\"say \\\"hi\\\"\",\"y\":[1]}");
    check(NULL, "qwen3coder", &o, "<tool_call>\n<function=f>\n<parameter=a>\n1", "T:<tool_call>\n<function=f>\n<parameter=a>\n1");
    check(NULL, "qwen3coder", &o, "<tool_call>no function</tool_call>", "T:<tool_call>no function</tool_call>");
    json_decref(tools);
}

static void test_gptoss(void **state) {
    (void)state;
    check("gptoss", "gptoss", &no_opts,
          "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary "
          "to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Paris\"}<|call|>",
          "R:Need the weather.|B0:get_weather|A0:{\"city\":\"Paris\"}");
    check("gptoss", "gptoss", &no_opts,
          "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>analysis<|message|>More.<|end|>"
          "<|start|>assistant<|channel|>final<|message|>Hi there<|return|>",
          "R:Think. More.|T:Hi there");
    check(NULL, "gptoss", &no_opts, " to=functions.f<|channel|>commentary json<|message|>{}<|call|>", "B0:f|A0:{}");
    check("gptoss", NULL, &no_opts, "<|channel|>final<|message|>Plain", "T:Plain");
    check("gptoss", NULL, &no_opts, "No harmony here", "T:No harmony here");
    check("gptoss", "gptoss", &no_opts, "<|channel|>commentary to=functions.f<|message|>{bad<|call|>after",
          "T:{badafter");
}

/* ---- names and detection --------------------------------------------------------------------- */

static void test_names(void **state) {
    (void)state;
    for (const char *const *n = parser_names(PARSER_TOOL); *n; n++) assert_true(parser_exists(PARSER_TOOL, *n));
    for (const char *const *n = parser_names(PARSER_REASONING); *n; n++)
        assert_true(parser_exists(PARSER_REASONING, *n));
    assert_false(parser_exists(PARSER_TOOL, "qwen3"));
    assert_false(parser_exists(PARSER_REASONING, "hermes3"));
    assert_false(parser_exists(PARSER_TOOL, "none"));
    out_stage *st = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(parser_create(PARSER_TOOL, "bogus", NULL, &st, &err), LM_ERR_NOT_FOUND);
    assert_null(st);
    assert_non_null(strstr(err.msg, "bogus"));
    assert_non_null(strstr(err.msg, "hermes3"));
    assert_string_equal(parser_special_tokens("llama3")[0], "<|python_tag|>");
    assert_null(parser_special_tokens("hermes3")[0]);
}

static void detect_file(const char *file, const char *tool, const char *reasoning) {
    char rel[256];
    snprintf(rel, sizeof rel, "templates/%s", file);
    size_t len;
    char *src = file_read_all(lmtest_data(rel), 1 << 20, &len);
    assert_non_null(src);
    const char *t, *r;
    parser_detect(src, &t, &r);
    if ((tool == NULL) != (t == NULL) || (tool && strcmp(tool, t)))
        fail_msg("%s: tool parser %s, wanted %s", file, t ? t : "none", tool ? tool : "none");
    if ((reasoning == NULL) != (r == NULL) || (reasoning && strcmp(reasoning, r)))
        fail_msg("%s: reasoning parser %s, wanted %s", file, r ? r : "none", reasoning ? reasoning : "none");
    free(src);
}

static void test_detect(void **state) {
    (void)state;
    detect_file("Qwen-Qwen3-8B.jinja", "hermes3", "qwen3");
    detect_file("Qwen3-Coder.jinja", "qwen3coder", NULL);
    detect_file("meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3", NULL);
    detect_file("mistralai-Mistral-7B-Instruct-v0.3.jinja", "mistral", NULL);
    detect_file("Mistral-Small-3.2-24B-Instruct-2506.jinja", "devstral", NULL);
    detect_file("openai-gpt-oss-120b.jinja", "gptoss", "gptoss");
    detect_file("Qwen-QwQ-32B.jinja", "hermes3", "qwen3");
    detect_file("HuggingFaceH4-zephyr-7b-beta.jinja", NULL, NULL);
    const char *t, *r;
    parser_detect(NULL, &t, &r);
    assert_null(t);
    parser_detect("{{ 'functools[' }}", &t, &r);
    assert_string_equal(t, "phi4");
    assert_null(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen3),   cmocka_unit_test(test_hermes3),    cmocka_unit_test(test_qwen3_with_hermes3),
        cmocka_unit_test(test_llama3),  cmocka_unit_test(test_mistral),    cmocka_unit_test(test_devstral),
        cmocka_unit_test(test_phi4),    cmocka_unit_test(test_qwen3coder), cmocka_unit_test(test_gptoss),
        cmocka_unit_test(test_names),   cmocka_unit_test(test_detect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
