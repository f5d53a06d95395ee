/* tests/server/test_responses.c — the Responses API layer (src/server/responses.c): request
 * translation into a chat request (items, instructions, tools, namespaces, tool_choice, sampling,
 * text.format, reasoning), refusals with the Responses field named, and the writer on scripted
 * output-chain events: unary items, the SSE event sequence, and deltas that add up to the unary
 * answer. */
#include "lmtest.h"

#include <jansson.h>
#include <string.h>

#include "server/responses.h"
#include "ssetest.h"

static json_t *load(const char *text) {
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) fail_msg("bad test JSON at %d: %s", je.position, je.text);
    return j;
}

static lm_status parse(const char *body, resp_request *r, oai_error *e) {
    json_t *root = load(body);
    oai_error_clear(e);
    lm_status s = resp_parse_request(root, r, e);
    json_decref(root);
    return s;
}

static const char *str_at(json_t *j, const char *path) {
    /* a dotted path of keys and array indices: "messages.1.content" */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok && j; tok = strtok(NULL, "."))
        j = (*tok >= '0' && *tok <= '9') ? json_array_get(j, (size_t)atoi(tok)) : json_object_get(j, tok);
    return json_string_value(j);
}

/* ---------------------------------------------------------------- requests */

static void test_string_input(void **state) {
    (void)state;
    resp_request r;
    oai_error e;
    assert_int_equal(parse("{\"model\":\"m\",\"input\":\"hi\",\"instructions\":\"be brief\",\"stream\":true}", &r, &e),
                     LM_OK);
    json_t *msgs = json_object_get(r.chat, "messages");
    assert_int_equal(json_array_size(msgs), 2);
    assert_string_equal(str_at(msgs, "0.role"), "system");
    assert_string_equal(str_at(msgs, "0.content"), "be brief");
    assert_string_equal(str_at(msgs, "1.role"), "user");
    assert_string_equal(str_at(msgs, "1.content"), "hi");
    assert_string_equal(str_at(r.chat, "model"), "m");
    assert_true(r.stream);
    assert_true(json_is_true(json_object_get(r.chat, "stream")));
    assert_string_equal(str_at(r.echo, "instructions"), "be brief");
    /* the translated request is a valid chat request */
    oai_request chat;
    assert_int_equal(oai_parse_request(OAI_CHAT, r.chat, &chat, &e), LM_OK);
    assert_int_equal(json_array_size(chat.messages), 2);
    oai_request_fini(&chat);
    resp_request_fini(&r);
}

/* What Codex sends: instructions, developer and user messages with parts, an earlier turn with
 * reasoning, a function call and its output. */
static void test_items(void **state) {
    (void)state;
    resp_request r;
    oai_error e;
    const char *body =
        "{\"model\":\"m\",\"instructions\":\"You are Codex.\",\"input\":["
        "{\"type\":\"message\",\"role\":\"developer\",\"content\":[{\"type\":\"input_text\",\"text\":\"sandbox: on\"}]},"
        "{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"<env/>\"},"
        "{\"type\":\"input_text\",\"text\":\"list files\"}]},"
        "{\"type\":\"reasoning\",\"summary\":[],\"content\":[{\"type\":\"reasoning_text\",\"text\":\"use ls\"}],"
        "\"encrypted_content\":null},"
        "{\"type\":\"function_call\",\"call_id\":\"call_1\",\"name\":\"shell\",\"arguments\":\"{\\\"cmd\\\":[\\\"ls\\\"]}\"},"
        "{\"type\":\"function_call\",\"call_id\":\"call_2\",\"name\":\"shell\",\"arguments\":\"{}\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"call_1\",\"output\":\"a.txt\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"call_2\",\"output\":[{\"type\":\"input_text\",\"text\":\"b\"}]},"
        "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"a.txt\"}]},"
        "{\"role\":\"user\",\"content\":\"thanks\"},"
        "{\"type\":\"message\",\"role\":\"system\",\"content\":\"late note\"},"
        "{\"type\":\"web_search_call\",\"id\":\"ws_1\"}]}";
    assert_int_equal(parse(body, &r, &e), LM_OK);
    json_t *m = json_object_get(r.chat, "messages");
    assert_int_equal(json_array_size(m), 8);
    assert_string_equal(str_at(m, "0.role"), "system");
    assert_string_equal(str_at(m, "0.content"), "You are Codex.\n\nsandbox: on");
    assert_string_equal(str_at(m, "1.role"), "user");
    assert_string_equal(str_at(m, "1.content"), "<env/>\nlist files");
    assert_string_equal(str_at(m, "2.role"), "assistant");
    assert_string_equal(str_at(m, "2.content"), "");
    assert_string_equal(str_at(m, "2.reasoning_content"), "use ls");
    assert_int_equal(json_array_size(json_object_get(json_array_get(m, 2), "tool_calls")), 2);
    assert_string_equal(str_at(m, "2.tool_calls.0.id"), "call_1");
    assert_string_equal(str_at(m, "2.tool_calls.0.type"), "function");
    assert_string_equal(str_at(m, "2.tool_calls.0.function.name"), "shell");
    assert_string_equal(str_at(m, "2.tool_calls.0.function.arguments"), "{\"cmd\":[\"ls\"]}");
    assert_string_equal(str_at(m, "3.role"), "tool");
    assert_string_equal(str_at(m, "3.tool_call_id"), "call_1");
    assert_string_equal(str_at(m, "3.content"), "a.txt");
    assert_string_equal(str_at(m, "4.content"), "b");
    assert_string_equal(str_at(m, "5.role"), "assistant");
    assert_string_equal(str_at(m, "5.content"), "a.txt");
    assert_string_equal(str_at(m, "6.content"), "thanks");
    assert_string_equal(str_at(m, "7.role"), "system"); /* after the first turn: kept in place */
    assert_string_equal(str_at(m, "7.content"), "late note");
    oai_request chat;
    assert_int_equal(oai_parse_request(OAI_CHAT, r.chat, &chat, &e), LM_OK);
    /* the chat layer turned the arguments into an object for the template */
    json_t *args = json_object_get(json_object_get(
        json_array_get(json_object_get(json_array_get(chat.messages, 2), "tool_calls"), 0), "function"), "arguments");
    assert_true(json_is_object(args));
    oai_request_fini(&chat);
    resp_request_fini(&r);
}

/* A tool may return an image (Codex's view_image): a note replaces it, the loop goes on. */
static void test_tool_output_media(void **state) {
    (void)state;
    resp_request r;
    oai_error e;
    assert_int_equal(parse("{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"look\"},"
                           "{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"view_image\",\"arguments\":\"{}\"},"
                           "{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":[{\"type\":\"input_text\","
                           "\"text\":\"pic:\"},{\"type\":\"input_image\",\"image_url\":\"data:x\"}]}]}",
                           &r, &e),
                     LM_OK);
    assert_string_equal(str_at(json_object_get(r.chat, "messages"), "2.content"),
                        "pic:\n[image omitted: lmserve serves text-only models]");
    resp_request_fini(&r);
}

static void test_tools(void **state) {
    (void)state;
    resp_request r;
    oai_error e;
    const char *body =
        "{\"model\":\"m\",\"input\":\"x\",\"tools\":["
        "{\"type\":\"function\",\"name\":\"shell\",\"description\":\"run\",\"strict\":false,"
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"cmd\":{\"type\":\"string\"}}}},"
        "{\"type\":\"web_search\"},"
        "{\"type\":\"custom\",\"name\":\"apply_patch\",\"format\":{\"type\":\"grammar\"}},"
        "{\"type\":\"namespace\",\"name\":\"crm\",\"description\":\"CRM\",\"tools\":["
        "{\"type\":\"function\",\"name\":\"lookup\"},{\"type\":\"custom\",\"name\":\"free\"}]}],"
        "\"tool_choice\":{\"type\":\"function\",\"name\":\"lookup\"},\"parallel_tool_calls\":false}";
    assert_int_equal(parse(body, &r, &e), LM_OK);
    json_t *t = json_object_get(r.chat, "tools");
    assert_int_equal(json_array_size(t), 2);
    assert_string_equal(str_at(t, "0.type"), "function");
    assert_string_equal(str_at(t, "0.function.name"), "shell");
    assert_string_equal(str_at(t, "0.function.description"), "run");
    assert_true(json_is_object(json_object_get(json_object_get(json_array_get(t, 0), "function"), "parameters")));
    assert_string_equal(str_at(t, "1.function.name"), "lookup");
    /* a function without parameters gets an empty object schema */
    assert_string_equal(str_at(t, "1.function.parameters.type"), "object");
    assert_string_equal(str_at(r.namespaces, "lookup"), "crm");
    assert_null(json_object_get(r.namespaces, "shell"));
    assert_string_equal(str_at(r.chat, "tool_choice.function.name"), "lookup");
    assert_true(json_is_false(json_object_get(r.chat, "parallel_tool_calls")));
    /* the echo keeps the tools as sent */
    assert_int_equal(json_array_size(json_object_get(r.echo, "tools")), 4);
    oai_request chat;
    assert_int_equal(oai_parse_request(OAI_CHAT, r.chat, &chat, &e), LM_OK);
    assert_int_equal(json_array_size(chat.tools), 1); /* the named one */
    oai_request_fini(&chat);
    resp_request_fini(&r);

    assert_int_equal(parse("{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"a\"},"
                           "{\"type\":\"function\",\"name\":\"b\"}],\"tool_choice\":{\"type\":\"allowed_tools\","
                           "\"mode\":\"required\",\"tools\":[{\"type\":\"function\",\"name\":\"b\"}]}}",
                           &r, &e),
                     LM_OK);
    assert_int_equal(json_array_size(json_object_get(r.chat, "tools")), 1);
    assert_string_equal(str_at(r.chat, "tools.0.function.name"), "b");
    assert_string_equal(str_at(r.chat, "tool_choice"), "required");
    resp_request_fini(&r);
}

static void test_sampling_format_reasoning(void **state) {
    (void)state;
    resp_request r;
    oai_error e;
    const char *body =
        "{\"model\":\"m\",\"input\":\"x\",\"max_output_tokens\":64,\"temperature\":0.5,\"top_p\":0.9,"
        "\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"out\",\"strict\":true,"
        "\"schema\":{\"type\":\"object\"}},\"verbosity\":\"low\"},"
        "\"reasoning\":{\"effort\":\"minimal\",\"summary\":\"auto\"},\"store\":false,\"include\":"
        "[\"reasoning.encrypted_content\"],\"prompt_cache_key\":\"k\",\"client_metadata\":{\"a\":1},"
        "\"metadata\":{\"b\":\"c\"},\"service_tier\":\"auto\",\"truncation\":\"disabled\"}";
    assert_int_equal(parse(body, &r, &e), LM_OK);
    assert_int_equal(json_integer_value(json_object_get(r.chat, "max_completion_tokens")), 64);
    assert_true(json_real_value(json_object_get(r.chat, "temperature")) == 0.5);
    assert_true(json_real_value(json_object_get(r.chat, "top_p")) == 0.9);
    assert_string_equal(str_at(r.chat, "response_format.type"), "json_schema");
    assert_string_equal(str_at(r.chat, "response_format.json_schema.name"), "out");
    assert_string_equal(str_at(r.chat, "response_format.json_schema.schema.type"), "object");
    assert_true(json_is_true(json_object_get(json_object_get(json_object_get(r.chat, "response_format"), "json_schema"),
                                             "strict")));
    json_t *kw = json_object_get(r.chat, "chat_template_kwargs");
    assert_true(json_is_false(json_object_get(kw, "enable_thinking")));
    assert_string_equal(str_at(kw, "reasoning_effort"), "minimal");
    assert_string_equal(str_at(r.echo, "reasoning.effort"), "minimal");
    assert_true(json_is_false(json_object_get(r.echo, "store")));
    resp_request_fini(&r);

    assert_int_equal(parse("{\"model\":\"m\",\"input\":\"x\",\"reasoning\":{\"effort\":\"high\"},"
                           "\"text\":{\"format\":{\"type\":\"json_object\"}}}",
                           &r, &e),
                     LM_OK);
    assert_true(json_is_true(json_object_get(json_object_get(r.chat, "chat_template_kwargs"), "enable_thinking")));
    assert_string_equal(str_at(r.chat, "response_format.type"), "json_object");
    resp_request_fini(&r);
}

static void expect_error(const char *body, lm_status code, const char *param, const char *in_msg) {
    resp_request r;
    oai_error e;
    lm_status s = parse(body, &r, &e);
    if (s != code) fail_msg("%s: status %d, expected %d (%s)", body, s, code, e.e.msg);
    assert_string_equal(e.param, param);
    if (!strstr(e.e.msg, in_msg)) fail_msg("message '%s' lacks '%s'", e.e.msg, in_msg);
    assert_null(r.chat);
}

static void test_errors(void **state) {
    (void)state;
    expect_error("[]", LM_ERR_INVALID, "", "object");
    expect_error("{\"input\":\"x\"}", LM_ERR_INVALID, "model", "model");
    expect_error("{\"model\":3,\"input\":\"x\"}", LM_ERR_INVALID, "model", "string");
    expect_error("{\"model\":\"m\"}", LM_ERR_INVALID, "input", "missing");
    expect_error("{\"model\":\"m\",\"input\":5}", LM_ERR_INVALID, "input", "string or an array");
    expect_error("{\"model\":\"m\",\"input\":[]}", LM_ERR_INVALID, "input", "no message");
    expect_error("{\"model\":\"m\",\"input\":[7]}", LM_ERR_INVALID, "input[0]", "object");
    expect_error("{\"model\":\"m\",\"input\":[{\"role\":\"bot\",\"content\":\"x\"}]}", LM_ERR_INVALID, "input[0].role",
                 "bot");
    expect_error("{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\","
                 "\"image_url\":\"x\"}]}]}",
                 LM_ERR_UNSUPPORTED, "input[0].content[0]", "input_image");
    expect_error("{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"x\"},{\"type\":\"function_call\","
                 "\"name\":\"f\",\"arguments\":\"{}\"}]}",
                 LM_ERR_INVALID, "input[1].call_id", "string");
    expect_error("{\"model\":\"m\",\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"c\"}]}",
                 LM_ERR_INVALID, "input[0].output", "missing");
    expect_error("{\"model\":\"m\",\"input\":[{\"type\":\"teleport\"}]}", LM_ERR_INVALID, "input[0]", "teleport");
    expect_error("{\"model\":\"m\",\"input\":[{\"type\":\"item_reference\",\"id\":\"x\"}]}", LM_ERR_UNSUPPORTED,
                 "input[0]", "stores no items");
    expect_error("{\"model\":\"m\",\"input\":\"x\",\"previous_response_id\":\"resp_1\"}", LM_ERR_UNSUPPORTED,
                 "previous_response_id", "stores no responses");
    expect_error("{\"model\":\"m\",\"input\":\"x\",\"background\":true}", LM_ERR_UNSUPPORTED, "background", "background");
    expect_error("{\"model\":\"m\",\"input\":\"x\",\"stream\":\"yes\"}", LM_ERR_INVALID, "stream", "boolean");
    expect_error("{\"model\":\"m\",\"input\":\"x\",\"store\":1}", LM_ERR_INVALID, "store", "boolean");
    expect_error("{\"model\":\"m\",\"input\":\"x\",\"instructions\":[1]}", LM_ERR_INVALID, "instructions", "string");
    expect_error("{\"model\":\"m\",\"input\":\"x\",\"tools\":{}}", LM_ERR_INVALID, "tools", "array");
    expect_error("{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"function\"}]}", LM_ERR_INVALID,
                 "tools[0].name", "string");
    expect_error("{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"f\","
                 "\"parameters\":\"x\"}]}",
                 LM_ERR_INVALID, "tools[0].parameters", "object");
    expect_error("{\"model\":\"m\",\"input\":\"x\",\"tool_choice\":\"sometimes\"}", LM_ERR_INVALID, "tool_choice",
                 "sometimes");
    expect_error("{\"model\":\"m\",\"input\":\"x\",\"tool_choice\":{\"type\":\"web_search_preview\"}}",
                 LM_ERR_UNSUPPORTED, "tool_choice", "web_search_preview");
    expect_error("{\"model\":\"m\",\"input\":\"x\",\"text\":{\"format\":{\"type\":\"xml\"}}}", LM_ERR_INVALID,
                 "text.format.type", "xml");
    expect_error("{\"model\":\"m\",\"input\":\"x\",\"text\":{\"format\":{\"type\":\"json_schema\"}}}", LM_ERR_INVALID,
                 "text.format.schema", "object");
    expect_error("{\"model\":\"m\",\"input\":\"x\",\"reasoning\":{\"effort\":\"max\"}}", LM_ERR_INVALID,
                 "reasoning.effort", "one of");
    expect_error("{\"model\":\"m\",\"input\":\"x\",\"include\":[1]}", LM_ERR_INVALID, "include", "strings");
}

static void test_param_names(void **state) {
    (void)state;
    assert_string_equal(resp_param_name("max_completion_tokens"), "max_output_tokens");
    assert_string_equal(resp_param_name("response_format"), "text.format");
    assert_string_equal(resp_param_name("messages[2].content"), "input");
    assert_string_equal(resp_param_name("temperature"), "temperature");
}

/* ---------------------------------------------------------------- the writer */

static void push(resp_writer *w, out_kind kind, int index, const char *id, const char *text, lm_buf *sse) {
    out_event ev = {kind, index, id, text, text ? strlen(text) : 0};
    resp_writer_event(w, &ev, sse);
}

static resp_writer *writer_for(const char *body) {
    resp_request r;
    oai_error e;
    if (parse(body, &r, &e) != LM_OK) fail_msg("%s", e.e.msg);
    resp_writer *w = resp_writer_create("resp_1", "m", 1700000000, &r);
    resp_request_fini(&r);
    assert_non_null(w);
    return w;
}

/* Reasoning, text, then two tool calls (one from a namespace), through one writer. */
static void script(resp_writer *w, lm_buf *sse) {
    push(w, OUT_REASONING, 0, NULL, "Let me ", sse);
    push(w, OUT_REASONING, 0, NULL, "think.", sse);
    push(w, OUT_TEXT, 0, NULL, "Running ", sse);
    push(w, OUT_TEXT, 0, NULL, "ls.", sse);
    push(w, OUT_TOOL_BEGIN, 0, "call_a", "shell", sse);
    push(w, OUT_TOOL_ARGS, 0, NULL, "{\"cmd\":", sse);
    push(w, OUT_TOOL_ARGS, 0, NULL, "\"ls\"}", sse);
    push(w, OUT_TOOL_BEGIN, 1, "call_b", "lookup", sse);
    push(w, OUT_TOOL_ARGS, 1, NULL, "{}", sse);
}

static const char *script_request =
    "{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"shell\"},"
    "{\"type\":\"namespace\",\"name\":\"crm\",\"description\":\"\",\"tools\":[{\"type\":\"function\","
    "\"name\":\"lookup\"}]}]}";

static void check_scripted_output(json_t *resp) {
    assert_string_equal(str_at(resp, "status"), "completed");
    assert_string_equal(str_at(resp, "object"), "response");
    assert_string_equal(str_at(resp, "id"), "resp_1");
    json_t *out = json_object_get(resp, "output");
    assert_int_equal(json_array_size(out), 4);
    assert_string_equal(str_at(out, "0.type"), "reasoning");
    assert_string_equal(str_at(out, "0.content.0.type"), "reasoning_text");
    assert_string_equal(str_at(out, "0.content.0.text"), "Let me think.");
    assert_string_equal(str_at(out, "1.type"), "message");
    assert_string_equal(str_at(out, "1.role"), "assistant");
    assert_string_equal(str_at(out, "1.status"), "completed");
    assert_string_equal(str_at(out, "1.content.0.type"), "output_text");
    assert_string_equal(str_at(out, "1.content.0.text"), "Running ls.");
    assert_string_equal(str_at(out, "2.type"), "function_call");
    assert_string_equal(str_at(out, "2.call_id"), "call_a");
    assert_string_equal(str_at(out, "2.name"), "shell");
    assert_string_equal(str_at(out, "2.arguments"), "{\"cmd\":\"ls\"}");
    assert_null(json_object_get(json_array_get(out, 2), "namespace"));
    assert_string_equal(str_at(out, "3.name"), "lookup");
    assert_string_equal(str_at(out, "3.namespace"), "crm");
    assert_string_equal(str_at(out, "3.arguments"), "{}");
    for (size_t i = 0; i < 4; i++) {
        const char *id = str_at(json_array_get(out, i), "id");
        assert_non_null(id);
        for (size_t k = 0; k < i; k++) assert_string_not_equal(id, str_at(json_array_get(out, k), "id"));
    }
    json_t *u = json_object_get(resp, "usage");
    assert_int_equal(json_integer_value(json_object_get(u, "input_tokens")), 10);
    assert_int_equal(json_integer_value(json_object_get(u, "output_tokens")), 20);
    assert_int_equal(json_integer_value(json_object_get(u, "total_tokens")), 30);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(u, "input_tokens_details"), "cached_tokens")), 4);
}

static void test_writer_unary(void **state) {
    (void)state;
    resp_writer *w = writer_for(script_request);
    script(w, NULL);
    proto_end end = {GEN_FINISH_STOP, NULL, NULL, 10, 20, 4};
    resp_writer_end(w, &end, NULL);
    json_t *resp = resp_writer_response(w);
    check_scripted_output(resp);
    assert_string_equal(str_at(resp, "model"), "m");
    assert_true(json_is_null(json_object_get(resp, "error")));
    assert_int_equal(json_array_size(json_object_get(resp, "tools")), 2);
    json_decref(resp);
    resp_writer_destroy(w);
}

/* Plays the events as the official client's ResponseStream does, checking each refers to what
 * exists; returns the snapshot built from deltas alone. */
static json_t *accumulate(json_t *events) {
    json_t *snap = json_deep_copy(json_object_get(json_array_get(events, 0), "response"));
    json_t *out = json_object_get(snap, "output");
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev) {
        const char *type = str_at(ev, "type");
        json_t *item = json_array_get(out, (size_t)json_integer_value(json_object_get(ev, "output_index")));
        if (strcmp(type, "response.output_item.added") == 0) {
            assert_int_equal(json_integer_value(json_object_get(ev, "output_index")), json_array_size(out));
            json_array_append_new(out, json_deep_copy(json_object_get(ev, "item")));
        } else if (strcmp(type, "response.content_part.added") == 0) {
            assert_non_null(item);
            assert_string_equal(str_at(ev, "item_id"), str_at(item, "id"));
            json_array_append_new(json_object_get(item, "content"), json_deep_copy(json_object_get(ev, "part")));
        } else if (strcmp(type, "response.output_text.delta") == 0 ||
                   strcmp(type, "response.reasoning_text.delta") == 0) {
            assert_non_null(item);
            json_t *part = json_array_get(json_object_get(item, "content"),
                                          (size_t)json_integer_value(json_object_get(ev, "content_index")));
            assert_non_null(part);
            assert_string_equal(str_at(part, "type"),
                                type[9] == 'o' ? "output_text" : "reasoning_text");
            char *t = NULL;
            assert_true(asprintf(&t, "%s%s", str_at(part, "text"), str_at(ev, "delta")) > 0);
            json_object_set_new(part, "text", json_string(t));
            free(t);
        } else if (strcmp(type, "response.function_call_arguments.delta") == 0) {
            assert_non_null(item);
            assert_string_equal(str_at(item, "type"), "function_call");
            char *t = NULL;
            assert_true(asprintf(&t, "%s%s", str_at(item, "arguments"), str_at(ev, "delta")) > 0);
            json_object_set_new(item, "arguments", json_string(t));
            free(t);
        }
    }
    return snap;
}

static void test_writer_stream(void **state) {
    (void)state;
    resp_writer *w = writer_for(script_request);
    lm_buf sse = {0};
    resp_writer_begin(w, &sse);
    script(w, &sse);
    proto_end end = {GEN_FINISH_STOP, NULL, NULL, 10, 20, 4};
    resp_writer_end(w, &end, &sse);
    json_t *events = ssetest_parse(buf_cstr(&sse));
    assert_non_null(events);
    static const char *const expected[] = {
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added", "response.reasoning_text.delta",
        "response.reasoning_text.delta", "response.reasoning_text.done", "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.done", "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed"};
    size_t n = sizeof expected / sizeof expected[0];
    assert_int_equal(json_array_size(events), n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(ssetest_type(events, i), expected[i]);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(events, i), "sequence_number")), i);
    }
    assert_string_equal(str_at(events, "0.response.status"), "in_progress");
    assert_int_equal(json_array_size(json_object_get(json_object_get(json_array_get(events, 0), "response"), "output")), 0);
    /* the completed response is the unary one */
    json_t *done = json_object_get(json_array_get(events, n - 1), "response");
    check_scripted_output(done);
    json_t *unary = resp_writer_response(w);
    assert_true(json_equal(done, unary));
    /* the deltas add up to the same texts and arguments */
    json_t *snap = accumulate(events);
    json_t *a = json_object_get(snap, "output"), *b = json_object_get(done, "output");
    assert_int_equal(json_array_size(a), 4);
    assert_string_equal(str_at(a, "0.content.0.text"), str_at(b, "0.content.0.text"));
    assert_string_equal(str_at(a, "1.content.0.text"), str_at(b, "1.content.0.text"));
    assert_string_equal(str_at(a, "2.arguments"), str_at(b, "2.arguments"));
    assert_string_equal(str_at(a, "3.arguments"), str_at(b, "3.arguments"));
    /* the .done events carry the whole text */
    assert_string_equal(str_at(events, "6.text"), "Let me think.");
    assert_string_equal(str_at(events, "13.text"), "Running ls.");
    assert_string_equal(str_at(events, "19.arguments"), "{\"cmd\":\"ls\"}");
    assert_string_equal(str_at(events, "19.name"), "shell");
    json_decref(snap);
    json_decref(unary);
    json_decref(events);
    buf_fini(&sse);
    resp_writer_destroy(w);
}

static void test_writer_incomplete_failed_empty(void **state) {
    (void)state;
    resp_writer *w = writer_for("{\"model\":\"m\",\"input\":\"x\",\"max_output_tokens\":3}");
    lm_buf sse = {0};
    resp_writer_begin(w, &sse);
    push(w, OUT_TEXT, 0, NULL, "cut sh", &sse);
    proto_end end = {GEN_FINISH_LENGTH, NULL, NULL, 5, 3, 0};
    resp_writer_end(w, &end, &sse);
    json_t *events = ssetest_parse(buf_cstr(&sse));
    assert_non_null(events);
    size_t n = json_array_size(events);
    assert_string_equal(ssetest_type(events, n - 1), "response.incomplete");
    json_t *r = resp_writer_response(w);
    assert_string_equal(str_at(r, "status"), "incomplete");
    assert_string_equal(str_at(r, "incomplete_details.reason"), "max_output_tokens");
    assert_string_equal(str_at(r, "output.0.status"), "incomplete");
    assert_int_equal(json_integer_value(json_object_get(r, "max_output_tokens")), 3);
    json_decref(r);
    json_decref(events);
    buf_fini(&sse);
    resp_writer_destroy(w);

    w = writer_for("{\"model\":\"m\",\"input\":\"x\"}");
    buf_reset(&sse);
    lm_error le;
    err_clear(&le);
    err_set(&le, LM_ERR_INTERNAL, "the engine broke");
    proto_end fail = {GEN_FINISH_ERROR, NULL, &le, 5, 0, 0};
    resp_writer_end(w, &fail, &sse);
    events = ssetest_parse(buf_cstr(&sse));
    assert_string_equal(ssetest_type(events, json_array_size(events) - 1), "response.failed");
    r = resp_writer_response(w);
    assert_string_equal(str_at(r, "status"), "failed");
    assert_string_equal(str_at(r, "error.code"), "server_error");
    assert_string_equal(str_at(r, "error.message"), "the engine broke");
    json_decref(r);
    json_decref(events);
    buf_fini(&sse);
    resp_writer_destroy(w);

    /* nothing generated: still one (empty) message */
    w = writer_for("{\"model\":\"m\",\"input\":\"x\"}");
    proto_end stop = {GEN_FINISH_STOP, NULL, NULL, 5, 1, 0};
    resp_writer_end(w, &stop, NULL);
    r = resp_writer_response(w);
    assert_int_equal(json_array_size(json_object_get(r, "output")), 1);
    assert_string_equal(str_at(r, "output.0.content.0.text"), "");
    json_decref(r);
    resp_writer_destroy(w);
}

/* Invalid UTF-8 from the model never breaks the JSON; arguments without an open call are
 * dropped rather than misattributed. */
static void test_writer_robust(void **state) {
    (void)state;
    resp_writer *w = writer_for("{\"model\":\"m\",\"input\":\"x\"}");
    lm_buf sse = {0};
    push(w, OUT_TOOL_ARGS, 0, NULL, "{\"stray\":1}", &sse);
    out_event bad = {OUT_TEXT, 0, NULL, "a\xff", 2};
    resp_writer_event(w, &bad, &sse);
    proto_end end = {GEN_FINISH_STOP, NULL, NULL, 1, 1, 0};
    resp_writer_end(w, &end, &sse);
    json_t *events = ssetest_parse(buf_cstr(&sse));
    assert_non_null(events);
    json_decref(events);
    json_t *r = resp_writer_response(w);
    assert_int_equal(json_array_size(json_object_get(r, "output")), 1);
    assert_string_equal(str_at(r, "output.0.content.0.text"), "a\xEF\xBF\xBD");
    json_decref(r);
    buf_fini(&sse);
    resp_writer_destroy(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_input),
        cmocka_unit_test(test_items),
        cmocka_unit_test(test_tool_output_media),
        cmocka_unit_test(test_tools),
        cmocka_unit_test(test_sampling_format_reasoning),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_param_names),
        cmocka_unit_test(test_writer_unary),
        cmocka_unit_test(test_writer_stream),
        cmocka_unit_test(test_writer_incomplete_failed_empty),
        cmocka_unit_test(test_writer_robust),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
