/* tests/server/test_anthropic.c — the Anthropic Messages layer (src/server/anthropic.c):
 * request translation into a chat request (system, content blocks, tool use and results,
 * thinking, tools, tool_choice, sampling), refusals naming the field, error bodies, and the
 * writer on scripted output-chain events: unary content blocks and stop_reason, the SSE event
 * sequence, and deltas that add up to the unary message. */
#include "lmtest.h"

#include <jansson.h>
#include <string.h>

#include "server/anthropic.h"
#include "ssetest.h"

static json_t *load(const char *text) {
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (!j) fail_msg("bad test JSON at %d: %s", je.position, je.text);
    return j;
}

static lm_status parse(const char *body, int count_tokens, anth_request *r, oai_error *e) {
    json_t *root = load(body);
    oai_error_clear(e);
    lm_status s = anth_parse_request(root, count_tokens, r, e);
    json_decref(root);
    return s;
}

static json_t *at(json_t *j, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok && j; tok = strtok(NULL, "."))
        j = (*tok >= '0' && *tok <= '9') ? json_array_get(j, (size_t)atoi(tok)) : json_object_get(j, tok);
    return j;
}

static const char *str_at(json_t *j, const char *path) {
    return json_string_value(at(j, path));
}

/* ---------------------------------------------------------------- requests */

/* What Claude Code sends: system blocks with cache_control, a system message, a tool round. */
static void test_conversation(void **state) {
    (void)state;
    anth_request r;
    oai_error e;
    const char *body =
        "{\"model\":\"m\",\"max_tokens\":100,\"stream\":true,"
        "\"system\":[{\"type\":\"text\",\"text\":\"You are Claude Code.\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
        "\"messages\":["
        "{\"role\":\"system\",\"content\":\"Be terse.\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"<reminder/>\"},{\"type\":\"text\","
        "\"text\":\"list files\",\"cache_control\":{\"type\":\"ephemeral\"}}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"use ls\",\"signature\":\"\"},"
        "{\"type\":\"text\",\"text\":\"Listing.\"},{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"Bash\","
        "\"input\":{\"command\":\"ls\"}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":"
        "[{\"type\":\"text\",\"text\":\"a.txt\"}]},{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_2\","
        "\"content\":\"b.txt\",\"is_error\":false},{\"type\":\"text\",\"text\":\"go on\"}]},"
        "{\"role\":\"assistant\",\"content\":\"Done.\"}]}";
    assert_int_equal(parse(body, 0, &r, &e), LM_OK);
    json_t *m = json_object_get(r.chat, "messages");
    assert_int_equal(json_array_size(m), 7);
    assert_string_equal(str_at(m, "0.role"), "system");
    assert_string_equal(str_at(m, "0.content"), "You are Claude Code.\n\nBe terse.");
    assert_string_equal(str_at(m, "1.role"), "user");
    assert_string_equal(str_at(m, "1.content"), "<reminder/>\nlist files");
    assert_string_equal(str_at(m, "2.role"), "assistant");
    assert_string_equal(str_at(m, "2.content"), "Listing.");
    assert_string_equal(str_at(m, "2.reasoning_content"), "use ls");
    assert_string_equal(str_at(m, "2.tool_calls.0.id"), "toolu_1");
    assert_string_equal(str_at(m, "2.tool_calls.0.function.name"), "Bash");
    assert_string_equal(str_at(m, "2.tool_calls.0.function.arguments.command"), "ls");
    assert_string_equal(str_at(m, "3.role"), "tool");
    assert_string_equal(str_at(m, "3.tool_call_id"), "toolu_1");
    assert_string_equal(str_at(m, "3.content"), "a.txt");
    assert_string_equal(str_at(m, "4.tool_call_id"), "toolu_2");
    assert_string_equal(str_at(m, "4.content"), "b.txt");
    assert_string_equal(str_at(m, "5.role"), "user");
    assert_string_equal(str_at(m, "5.content"), "go on");
    assert_string_equal(str_at(m, "6.role"), "assistant");
    assert_string_equal(str_at(m, "6.content"), "Done.");
    assert_int_equal(json_integer_value(json_object_get(r.chat, "max_completion_tokens")), 100);
    assert_true(r.stream);
    oai_request chat;
    assert_int_equal(oai_parse_request(OAI_CHAT, r.chat, &chat, &e), LM_OK);
    oai_request_fini(&chat);
    anth_request_fini(&r);
}

/* Tool results may hold images and Claude Code's tool references: notes replace them. */
static void test_tool_result_blocks(void **state) {
    (void)state;
    anth_request r;
    oai_error e;
    assert_int_equal(parse("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                           "\"tool_result\",\"tool_use_id\":\"t\",\"content\":[{\"type\":\"tool_reference\",\"tool_name\":"
                           "\"WebFetch\"},{\"type\":\"image\",\"source\":{}},{\"type\":\"text\",\"text\":\"done\"}]}]}]}",
                           0, &r, &e),
                     LM_OK);
    assert_string_equal(str_at(json_object_get(r.chat, "messages"), "0.content"),
                        "[tool loaded: WebFetch]\n[image omitted: lmserve serves text-only models]\ndone");
    anth_request_fini(&r);
}

static void test_tools_and_options(void **state) {
    (void)state;
    anth_request r;
    oai_error e;
    const char *body =
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"tools\":[{\"name\":\"Bash\",\"description\":\"run\",\"input_schema\":{\"type\":\"object\"}},"
        "{\"type\":\"web_search_20250305\",\"name\":\"web_search\"},"
        "{\"type\":\"custom\",\"name\":\"Read\",\"input_schema\":{\"type\":\"object\"}}],"
        "\"tool_choice\":{\"type\":\"any\",\"disable_parallel_tool_use\":true},"
        "\"temperature\":0.7,\"top_p\":0.5,\"top_k\":40,\"stop_sequences\":[\"END\"],"
        "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024},\"metadata\":{\"user_id\":\"u\"},"
        "\"context_management\":{},\"output_config\":{\"effort\":\"high\"}}";
    assert_int_equal(parse(body, 0, &r, &e), LM_OK);
    json_t *t = json_object_get(r.chat, "tools");
    assert_int_equal(json_array_size(t), 2);
    assert_string_equal(str_at(t, "0.function.name"), "Bash");
    assert_string_equal(str_at(t, "0.function.description"), "run");
    assert_string_equal(str_at(t, "0.function.parameters.type"), "object");
    assert_string_equal(str_at(t, "1.function.name"), "Read");
    assert_string_equal(str_at(r.chat, "tool_choice"), "required");
    assert_true(json_is_false(json_object_get(r.chat, "parallel_tool_calls")));
    assert_true(json_real_value(json_object_get(r.chat, "temperature")) == 0.7);
    assert_int_equal(json_integer_value(json_object_get(r.chat, "top_k")), 40);
    assert_string_equal(str_at(r.chat, "stop.0"), "END");
    assert_true(json_is_true(at(r.chat, "chat_template_kwargs.enable_thinking")));
    oai_request chat;
    assert_int_equal(oai_parse_request(OAI_CHAT, r.chat, &chat, &e), LM_OK);
    assert_int_equal(chat.n_stop, 1);
    assert_int_equal(chat.top_k, 40);
    oai_request_fini(&chat);
    anth_request_fini(&r);

    assert_int_equal(parse("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                           "\"tools\":[{\"name\":\"A\",\"input_schema\":{}},{\"name\":\"B\",\"input_schema\":{}}],"
                           "\"tool_choice\":{\"type\":\"tool\",\"name\":\"B\"},\"thinking\":{\"type\":\"disabled\"}}",
                           0, &r, &e),
                     LM_OK);
    assert_string_equal(str_at(r.chat, "tool_choice.function.name"), "B");
    assert_true(json_is_false(at(r.chat, "chat_template_kwargs.enable_thinking")));
    assert_int_equal(oai_parse_request(OAI_CHAT, r.chat, &chat, &e), LM_OK);
    assert_int_equal(json_array_size(chat.tools), 1);
    oai_request_fini(&chat);
    anth_request_fini(&r);

    /* count_tokens needs no max_tokens, and never streams */
    assert_int_equal(parse("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}", 1,
                           &r, &e),
                     LM_OK);
    assert_false(r.stream);
    anth_request_fini(&r);
}

static void expect_error(const char *body, lm_status code, const char *param, const char *in_msg) {
    anth_request r;
    oai_error e;
    lm_status s = parse(body, 0, &r, &e);
    if (s != code) fail_msg("%s: status %d, expected %d (%s)", body, s, code, e.e.msg);
    assert_string_equal(e.param, param);
    if (!strstr(e.e.msg, in_msg)) fail_msg("message '%s' lacks '%s'", e.e.msg, in_msg);
    assert_null(r.chat);
}

#define MSGS "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static void test_errors(void **state) {
    (void)state;
    expect_error("7", LM_ERR_INVALID, "", "object");
    expect_error("{\"max_tokens\":5," MSGS "}", LM_ERR_INVALID, "model", "model");
    expect_error("{\"model\":\"m\"," MSGS "}", LM_ERR_INVALID, "max_tokens", "Field required");
    expect_error("{\"model\":\"m\",\"max_tokens\":0," MSGS "}", LM_ERR_INVALID, "max_tokens", "greater than 0");
    expect_error("{\"model\":\"m\",\"max_tokens\":5}", LM_ERR_INVALID, "messages", "Field required");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"messages\":{}}", LM_ERR_INVALID, "messages", "array");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[]}", LM_ERR_INVALID, "messages", "at least one");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"bot\",\"content\":\"x\"}]}", LM_ERR_INVALID,
                 "messages.0.role", "'user' or 'assistant'");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\"}]}", LM_ERR_INVALID,
                 "messages.0.content", "Field required");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":5}]}", LM_ERR_INVALID,
                 "messages.0.content", "string or an array");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\","
                 "\"source\":{}}]}]}",
                 LM_ERR_UNSUPPORTED, "messages.0.content.0", "image");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_use\","
                 "\"id\":\"x\",\"name\":\"n\",\"input\":{}}]}]}",
                 LM_ERR_INVALID, "messages.0.content.0", "not valid in a user message");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":"
                 "\"tool_use\",\"id\":\"x\",\"name\":\"n\",\"input\":[]}]}]}",
                 LM_ERR_INVALID, "messages.0.content.0.input", "object");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                 "\"tool_result\",\"content\":\"x\"}]}]}",
                 LM_ERR_INVALID, "messages.0.content.0.tool_use_id", "string");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"system\":5," MSGS "}", LM_ERR_INVALID, "system", "string");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"temperature\":1.5," MSGS "}", LM_ERR_INVALID, "temperature",
                 "[0, 1]");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"top_k\":-1," MSGS "}", LM_ERR_INVALID, "top_k", "non-negative");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"stop_sequences\":[\"\"]," MSGS "}", LM_ERR_INVALID,
                 "stop_sequences", "non-empty");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"stream\":1," MSGS "}", LM_ERR_INVALID, "stream", "boolean");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"tools\":[{\"name\":\"x\"}]," MSGS "}", LM_ERR_INVALID,
                 "tools.0.input_schema", "object");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"tool_choice\":{\"type\":\"maybe\"}," MSGS "}", LM_ERR_INVALID,
                 "tool_choice.type", "maybe");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"thinking\":{\"type\":\"on\"}," MSGS "}", LM_ERR_INVALID,
                 "thinking.type", "enabled");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"metadata\":[]," MSGS "}", LM_ERR_INVALID, "metadata", "object");
    expect_error("{\"model\":\"m\",\"max_tokens\":5,\"mcp_servers\":[{}]," MSGS "}", LM_ERR_UNSUPPORTED, "mcp_servers",
                 "MCP");
}

static void test_error_body(void **state) {
    (void)state;
    static const struct {
        int status;
        const char *type;
    } cases[] = {{400, "invalid_request_error"}, {404, "not_found_error"}, {413, "request_too_large"},
                 {503, "overloaded_error"},      {500, "api_error"},       {405, "invalid_request_error"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *b = anth_error_body(cases[i].status, "boom");
        assert_string_equal(str_at(b, "type"), "error");
        assert_string_equal(str_at(b, "error.type"), cases[i].type);
        assert_string_equal(str_at(b, "error.message"), "boom");
        json_decref(b);
    }
}

/* ---------------------------------------------------------------- the writer */

static void push(anth_writer *w, out_kind kind, int index, const char *id, const char *text, lm_buf *sse) {
    out_event ev = {kind, index, id, text, text ? strlen(text) : 0};
    anth_writer_event(w, &ev, sse);
}

static void script(anth_writer *w, lm_buf *sse) {
    push(w, OUT_REASONING, 0, NULL, "Let me ", sse);
    push(w, OUT_REASONING, 0, NULL, "think.", sse);
    push(w, OUT_TEXT, 0, NULL, "Running ", sse);
    push(w, OUT_TEXT, 0, NULL, "ls.", sse);
    push(w, OUT_TOOL_BEGIN, 0, "toolu_a", "Bash", sse);
    push(w, OUT_TOOL_ARGS, 0, NULL, "{\"command\":", sse);
    push(w, OUT_TOOL_ARGS, 0, NULL, "\"ls\"}", sse);
}

static void check_scripted(json_t *msg) {
    assert_string_equal(str_at(msg, "type"), "message");
    assert_string_equal(str_at(msg, "role"), "assistant");
    assert_string_equal(str_at(msg, "id"), "msg_1");
    assert_string_equal(str_at(msg, "model"), "m");
    json_t *c = json_object_get(msg, "content");
    assert_int_equal(json_array_size(c), 3);
    assert_string_equal(str_at(c, "0.type"), "thinking");
    assert_string_equal(str_at(c, "0.thinking"), "Let me think.");
    assert_string_equal(str_at(c, "1.type"), "text");
    assert_string_equal(str_at(c, "1.text"), "Running ls.");
    assert_string_equal(str_at(c, "2.type"), "tool_use");
    assert_string_equal(str_at(c, "2.id"), "toolu_a");
    assert_string_equal(str_at(c, "2.name"), "Bash");
    assert_string_equal(str_at(c, "2.input.command"), "ls");
    assert_string_equal(str_at(msg, "stop_reason"), "tool_use");
    assert_true(json_is_null(json_object_get(msg, "stop_sequence")));
    assert_int_equal(json_integer_value(at(msg, "usage.input_tokens")), 6);
    assert_int_equal(json_integer_value(at(msg, "usage.cache_read_input_tokens")), 4);
    assert_int_equal(json_integer_value(at(msg, "usage.output_tokens")), 20);
}

static void test_writer_unary(void **state) {
    (void)state;
    anth_writer *w = anth_writer_create("msg_1", "m", 10);
    script(w, NULL);
    proto_end end = {GEN_FINISH_STOP, NULL, NULL, 10, 20, 4};
    anth_writer_end(w, &end, NULL);
    assert_false(anth_writer_failed(w, NULL, NULL));
    json_t *msg = anth_writer_message(w);
    check_scripted(msg);
    json_decref(msg);
    anth_writer_destroy(w);
}

static void test_writer_stream(void **state) {
    (void)state;
    anth_writer *w = anth_writer_create("msg_1", "m", 10);
    lm_buf sse = {0};
    anth_writer_begin(w, &sse);
    script(w, &sse);
    proto_end end = {GEN_FINISH_STOP, NULL, NULL, 10, 20, 4};
    anth_writer_end(w, &end, &sse);
    json_t *ev = ssetest_parse(buf_cstr(&sse));
    assert_non_null(ev);
    static const char *const expected[] = {
        "message_start", "ping",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop"};
    size_t n = sizeof expected / sizeof expected[0];
    assert_int_equal(json_array_size(ev), n);
    for (size_t i = 0; i < n; i++) assert_string_equal(ssetest_type(ev, i), expected[i]);
    assert_int_equal(json_array_size(at(ev, "0.message.content")), 0);
    assert_true(json_is_null(at(ev, "0.message.stop_reason")));
    assert_int_equal(json_integer_value(at(ev, "0.message.usage.input_tokens")), 10);
    assert_string_equal(str_at(ev, "2.content_block.type"), "thinking");
    assert_string_equal(str_at(ev, "3.delta.type"), "thinking_delta");
    assert_string_equal(str_at(ev, "7.delta.type"), "text_delta");
    assert_string_equal(str_at(ev, "10.content_block.type"), "tool_use");
    assert_string_equal(str_at(ev, "10.content_block.id"), "toolu_a");
    assert_true(json_is_object(at(ev, "10.content_block.input")));
    assert_int_equal(json_object_size(at(ev, "10.content_block.input")), 0);
    assert_string_equal(str_at(ev, "11.delta.type"), "input_json_delta");
    assert_string_equal(str_at(ev, "14.delta.stop_reason"), "tool_use");
    assert_int_equal(json_integer_value(at(ev, "14.usage.output_tokens")), 20);

    /* accumulate as the SDK's MessageStream does and compare with the unary message */
    json_t *snap = json_deep_copy(at(ev, "0.message"));
    json_t *content = json_object_get(snap, "content");
    lm_buf partial = {0};
    for (size_t i = 1; i < n; i++) {
        json_t *e = json_array_get(ev, i);
        const char *type = ssetest_type(ev, i);
        if (strcmp(type, "content_block_start") == 0) {
            assert_int_equal(json_integer_value(json_object_get(e, "index")), json_array_size(content));
            json_array_append_new(content, json_deep_copy(json_object_get(e, "content_block")));
        } else if (strcmp(type, "content_block_delta") == 0) {
            json_t *blk = json_array_get(content, (size_t)json_integer_value(json_object_get(e, "index")));
            assert_non_null(blk);
            const char *dt = str_at(e, "delta.type");
            const char *key = strcmp(dt, "text_delta") == 0 ? "text" : strcmp(dt, "thinking_delta") == 0 ? "thinking" : NULL;
            if (key) {
                char *t = NULL;
                assert_true(asprintf(&t, "%s%s", str_at(blk, key), str_at(e, strcmp(key, "text") == 0 ? "delta.text"
                                                                                                      : "delta.thinking")) > 0);
                json_object_set_new(blk, key, json_string(t));
                free(t);
            } else {
                buf_append_str(&partial, str_at(e, "delta.partial_json"));
            }
        } else if (strcmp(type, "content_block_stop") == 0) {
            json_t *blk = json_array_get(content, (size_t)json_integer_value(json_object_get(e, "index")));
            if (strcmp(str_at(blk, "type"), "tool_use") == 0) {
                json_object_set_new(blk, "input", json_loads(buf_cstr(&partial), 0, NULL));
                buf_reset(&partial);
            }
        } else if (strcmp(type, "message_delta") == 0) {
            json_object_set(snap, "stop_reason", at(e, "delta.stop_reason"));
            json_object_set(snap, "stop_sequence", at(e, "delta.stop_sequence"));
            json_object_update(json_object_get(snap, "usage"), json_object_get(e, "usage"));
        }
    }
    check_scripted(snap);
    json_t *unary = anth_writer_message(w);
    assert_true(json_equal(snap, unary));
    json_decref(unary);
    json_decref(snap);
    buf_fini(&partial);
    json_decref(ev);
    buf_fini(&sse);
    anth_writer_destroy(w);
}

static void test_writer_stop_reasons(void **state) {
    (void)state;
    static const struct {
        gen_finish finish;
        const char *stop;
        int tool;
        const char *reason;
    } cases[] = {{GEN_FINISH_STOP, NULL, 0, "end_turn"},
                 {GEN_FINISH_LENGTH, NULL, 0, "max_tokens"},
                 {GEN_FINISH_LENGTH, NULL, 1, "max_tokens"},
                 {GEN_FINISH_STOP, "END", 0, "stop_sequence"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        anth_writer *w = anth_writer_create("msg_1", "m", 3);
        push(w, OUT_TEXT, 0, NULL, "x", NULL);
        if (cases[i].tool) push(w, OUT_TOOL_BEGIN, 0, "t", "f", NULL);
        proto_end end = {cases[i].finish, cases[i].stop, NULL, 3, 1, 0};
        anth_writer_end(w, &end, NULL);
        json_t *m = anth_writer_message(w);
        assert_string_equal(str_at(m, "stop_reason"), cases[i].reason);
        if (cases[i].stop) assert_string_equal(str_at(m, "stop_sequence"), cases[i].stop);
        else assert_true(json_is_null(json_object_get(m, "stop_sequence")));
        if (cases[i].tool) assert_int_equal(json_object_size(at(m, "content.1.input")), 0); /* cut: {} */
        json_decref(m);
        anth_writer_destroy(w);
    }
}

static void test_writer_failure(void **state) {
    (void)state;
    anth_writer *w = anth_writer_create("msg_1", "m", 3);
    lm_buf sse = {0};
    anth_writer_begin(w, &sse);
    push(w, OUT_TEXT, 0, NULL, "par", &sse);
    lm_error le;
    err_clear(&le);
    err_set(&le, LM_ERR_INTERNAL, "the engine broke");
    proto_end end = {GEN_FINISH_ERROR, NULL, &le, 3, 1, 0};
    anth_writer_end(w, &end, &sse);
    json_t *ev = ssetest_parse(buf_cstr(&sse));
    assert_non_null(ev);
    size_t n = json_array_size(ev);
    assert_string_equal(ssetest_type(ev, n - 1), "error");
    assert_string_equal(str_at(json_array_get(ev, n - 1), "error.type"), "api_error");
    assert_string_equal(str_at(json_array_get(ev, n - 1), "error.message"), "the engine broke");
    assert_string_equal(ssetest_type(ev, n - 2), "content_block_stop");
    int status = 0;
    const char *msg = NULL;
    assert_true(anth_writer_failed(w, &status, &msg));
    assert_int_equal(status, 500);
    assert_string_equal(msg, "the engine broke");
    json_decref(ev);
    buf_fini(&sse);
    anth_writer_destroy(w);

    w = anth_writer_create("msg_2", "m", 3);
    proto_end cancel = {GEN_FINISH_CANCELLED, NULL, NULL, 3, 0, 0};
    anth_writer_end(w, &cancel, NULL);
    assert_true(anth_writer_failed(w, &status, &msg));
    assert_int_equal(status, 503);
    anth_writer_destroy(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversation),
        cmocka_unit_test(test_tool_result_blocks),
        cmocka_unit_test(test_tools_and_options),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_body),
        cmocka_unit_test(test_writer_unary),
        cmocka_unit_test(test_writer_stream),
        cmocka_unit_test(test_writer_stop_reasons),
        cmocka_unit_test(test_writer_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
