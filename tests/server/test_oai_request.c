/* tests/server/test_oai_request.c — request parsing and validation (src/server/oai_request.c):
 * every field's type and range rule, the field named in the error, null as absent, message
 * normalization, tools/tool_choice, prompts, precedence of generation parameters, tokenize. */
#include "lmtest.h"

#include <math.h>
#include <string.h>

#include "base/limits.h"
#include "server/oai.h"

typedef struct {
    json_t *root;
    oai_request r;
    oai_error err;
    lm_status s;
} parsed;

/* Parses `text` (which must be valid JSON) as a request to `ep`. */
static parsed parse(oai_endpoint ep, const char *text) {
    parsed p;
    memset(&p, 0, sizeof p);
    oai_error_clear(&p.err);
    json_error_t je;
    p.root = json_loads(text, 0, &je);
    if (!p.root) fail_msg("test JSON does not parse: %s: %s", text, je.text);
    p.s = oai_parse_request(ep, p.root, &p.r, &p.err);
    return p;
}

static void done(parsed *p) {
    if (p->s == LM_OK) oai_request_fini(&p->r);
    json_decref(p->root);
}

/* Expects `text` to fail with `code`, naming `param`, with `needle` in the message. */
static void expect_fail(oai_endpoint ep, const char *text, lm_status code, const char *param, const char *needle) {
    parsed p = parse(ep, text);
    if (p.s != code) fail_msg("%s: status %d, want %d (%s)", text, p.s, code, p.err.e.msg);
    if (strcmp(p.err.param, param) != 0) fail_msg("%s: param '%s', want '%s'", text, p.err.param, param);
    if (!strstr(p.err.e.msg, needle)) fail_msg("%s: message '%s' lacks '%s'", text, p.err.e.msg, needle);
    done(&p);
}

#define CHAT_OK "\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
#define COMP_OK "\"model\":\"m\",\"prompt\":\"Once\""

static void test_json_errors_carry_offsets(void **state) {
    (void)state;
    json_t *root = NULL;
    oai_error e;
    oai_error_clear(&e);
    assert_int_equal(oai_parse_json("", 0, &root, &e), LM_ERR_FORMAT);
    assert_non_null(strstr(e.e.msg, "empty"));

    oai_error_clear(&e);
    const char *bad = "{\"model\": \"m\", \"prompt\": }";
    assert_int_equal(oai_parse_json(bad, strlen(bad), &root, &e), LM_ERR_FORMAT);
    assert_null(root);
    assert_true(e.e.offset > 20 && e.e.offset <= (int64_t)strlen(bad));
    assert_non_null(strstr(e.e.msg, "invalid JSON at byte"));

    /* invalid UTF-8 inside a string: jansson refuses it */
    oai_error_clear(&e);
    const char utf[] = "{\"prompt\": \"a\xff\xfe\"}";
    assert_int_equal(oai_parse_json(utf, sizeof utf - 1, &root, &e), LM_ERR_FORMAT);
    assert_non_null(strstr(e.e.msg, "UTF-8"));

    /* \u0000 is refused (every string must be a C string) */
    oai_error_clear(&e);
    const char *nul = "{\"prompt\": \"a\\u0000b\"}";
    assert_int_equal(oai_parse_json(nul, strlen(nul), &root, &e), LM_ERR_FORMAT);

    /* not NUL-terminated: only len bytes are read */
    oai_error_clear(&e);
    const char two[] = "{}{}";
    assert_int_equal(oai_parse_json(two, 2, &root, &e), LM_OK);
    json_decref(root);
    assert_int_equal(oai_parse_json(two, 4, &root, &e), LM_ERR_FORMAT);
}

/* LM_REQ_MAX_JSON_DEPTH: 100 levels parse, 101 are refused before parsing; brackets inside
 * strings (escaped quotes included) do not count. */
static void test_json_depth_limit(void **state) {
    (void)state;
    char body[512];
    json_t *root = NULL;
    oai_error e;
    for (int depth = LM_REQ_MAX_JSON_DEPTH; depth <= LM_REQ_MAX_JSON_DEPTH + 1; depth++) {
        size_t n = 0;
        for (int i = 0; i < depth; i++) body[n++] = '[';
        for (int i = 0; i < depth; i++) body[n++] = ']';
        oai_error_clear(&e);
        lm_status s = oai_parse_json(body, n, &root, &e);
        if (depth <= LM_REQ_MAX_JSON_DEPTH) {
            assert_int_equal(s, LM_OK);
            json_decref(root);
        } else {
            assert_int_equal(s, LM_ERR_LIMIT);
            assert_non_null(strstr(e.e.msg, "nests deeper than 100 levels (at byte 100)"));
        }
    }
    /* 150 brackets inside a string, with an escaped quote before them */
    size_t n = (size_t)snprintf(body, sizeof body, "{\"s\": \"\\\"");
    for (int i = 0; i < 150; i++) body[n++] = '[';
    n += (size_t)snprintf(body + n, sizeof body - n, "\"}");
    oai_error_clear(&e);
    assert_int_equal(oai_parse_json(body, n, &root, &e), LM_OK);
    json_decref(root);
}

static void test_minimal_requests_and_defaults(void **state) {
    (void)state;
    parsed p = parse(OAI_CHAT, "{" CHAT_OK "}");
    assert_int_equal(p.s, LM_OK);
    assert_string_equal(p.r.model, "m");
    assert_int_equal(p.r.n, 1);
    assert_int_equal(p.r.stream, 0);
    assert_int_equal(p.r.skip_special_tokens, 1);
    assert_int_equal(p.r.has_max_tokens + p.r.has_temperature + p.r.has_seed, 0);
    assert_int_equal(json_array_size(p.r.messages), 1);
    assert_null(p.r.tools);
    done(&p);

    p = parse(OAI_COMPLETIONS, "{" COMP_OK "}");
    assert_int_equal(p.s, LM_OK);
    assert_string_equal(p.r.prompt, "Once");
    assert_int_equal(p.r.prompt_len, 4);
    assert_null(p.r.prompt_ids);
    done(&p);

    expect_fail(OAI_CHAT, "[1,2]", LM_ERR_INVALID, "", "not an object");
    expect_fail(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", LM_ERR_INVALID, "model",
                "model missing");
    expect_fail(OAI_CHAT, "{\"model\":7,\"messages\":[]}", LM_ERR_INVALID, "model", "model is not a string");
}

static void test_null_is_absent(void **state) {
    (void)state;
    parsed p = parse(OAI_CHAT, "{" CHAT_OK ",\"temperature\":null,\"stop\":null,\"n\":null,\"logprobs\":null,"
                               "\"tools\":null,\"tool_choice\":null,\"response_format\":null,\"seed\":null,"
                               "\"stream\":null,\"stream_options\":null,\"max_tokens\":null}");
    assert_int_equal(p.s, LM_OK);
    assert_int_equal(p.r.has_temperature, 0);
    assert_int_equal(p.r.n_stop, 0);
    assert_int_equal(p.r.n, 1);
    done(&p);
}

static void test_sampling_ranges(void **state) {
    (void)state;
    parsed p = parse(OAI_CHAT, "{" CHAT_OK ",\"temperature\":0,\"top_p\":0.5,\"top_k\":40,\"min_p\":0.1,"
                               "\"repetition_penalty\":1.1,\"presence_penalty\":-2,\"frequency_penalty\":2,"
                               "\"seed\":9223372036854775807,\"max_tokens\":12}");
    assert_int_equal(p.s, LM_OK);
    assert_true(p.r.has_temperature && p.r.temperature == 0.0f);
    assert_true(p.r.has_top_p && fabsf(p.r.top_p - 0.5f) < 1e-6f);
    assert_true(p.r.has_top_k && p.r.top_k == 40);
    assert_true(fabsf(p.r.min_p - 0.1f) < 1e-6f);
    assert_true(p.r.has_repetition_penalty && fabsf(p.r.repetition_penalty - 1.1f) < 1e-6f);
    assert_true(p.r.presence_penalty == -2.0f && p.r.frequency_penalty == 2.0f);
    assert_true(p.r.has_seed && p.r.seed == 9223372036854775807ull);
    assert_true(p.r.has_max_tokens && p.r.max_tokens == 12);
    done(&p);

    /* integers count as numbers; integral reals count as integers */
    p = parse(OAI_COMPLETIONS, "{" COMP_OK ",\"temperature\":1,\"max_tokens\":10.0,\"top_k\":-1}");
    assert_int_equal(p.s, LM_OK);
    assert_true(p.r.temperature == 1.0f && p.r.max_tokens == 10 && p.r.top_k == 0);
    done(&p);

    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"temperature\":2.5}", LM_ERR_INVALID, "temperature",
                "temperature out of range[0, 2]: got 2.5");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"temperature\":-0.1}", LM_ERR_INVALID, "temperature", "out of range");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"temperature\":\"hot\"}", LM_ERR_INVALID, "temperature",
                "temperature is not a valid number");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"top_p\":0}", LM_ERR_INVALID, "top_p", "top_p out of range(0, 1]");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"top_p\":1.01}", LM_ERR_INVALID, "top_p", "out of range");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"top_k\":1.5}", LM_ERR_INVALID, "top_k", "top_k is not an integer");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"top_k\":-2}", LM_ERR_INVALID, "top_k", "at least -1");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"min_p\":1.5}", LM_ERR_INVALID, "min_p", "min_p out of range[0, 1]");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"repetition_penalty\":0}", LM_ERR_INVALID, "repetition_penalty",
                "repetition_penalty out of range(0, inf)");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"presence_penalty\":2.5}", LM_ERR_INVALID, "presence_penalty",
                "presence_penalty out of range[-2, 2]");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"frequency_penalty\":-3}", LM_ERR_INVALID, "frequency_penalty",
                "out of range");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"seed\":-1}", LM_ERR_INVALID, "seed", "seed is not an unsigned integer");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"seed\":\"7\"}", LM_ERR_INVALID, "seed", "unsigned integer");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"seed\":1.5}", LM_ERR_INVALID, "seed", "unsigned integer");
}

static void test_max_tokens_and_n(void **state) {
    (void)state;
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"max_tokens\":0}", LM_ERR_INVALID, "max_tokens",
                "max_tokens value should be greater than 0");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"max_tokens\":1.5}", LM_ERR_INVALID, "max_tokens",
                "max_tokens is not an unsigned integer");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"max_tokens\":\"5\"}", LM_ERR_INVALID, "max_tokens", "unsigned integer");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"max_tokens\":99999999999}", LM_ERR_INVALID, "max_tokens",
                "can't be greater than");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"max_completion_tokens\":-4}", LM_ERR_INVALID, "max_completion_tokens",
                "greater than 0");
    /* max_completion_tokens wins over max_tokens */
    parsed p = parse(OAI_CHAT, "{" CHAT_OK ",\"max_tokens\":5,\"max_completion_tokens\":7}");
    assert_int_equal(p.s, LM_OK);
    assert_int_equal(p.r.max_tokens, 7);
    done(&p);

    p = parse(OAI_CHAT, "{" CHAT_OK ",\"n\":20}");
    assert_int_equal(p.s, LM_OK);
    assert_int_equal(p.r.n, 20);
    done(&p);
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"n\":0}", LM_ERR_INVALID, "n", "n value should be greater than 0");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"n\":21}", LM_ERR_INVALID, "n", "can't be greater than 20");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"n\":true}", LM_ERR_INVALID, "n", "n is not an unsigned integer");
    /* best_of: equal to n is plain sampling; more needs beam search */
    p = parse(OAI_COMPLETIONS, "{" COMP_OK ",\"n\":2,\"best_of\":2}");
    assert_int_equal(p.s, LM_OK);
    done(&p);
    expect_fail(OAI_COMPLETIONS, "{" COMP_OK ",\"n\":2,\"best_of\":1}", LM_ERR_INVALID, "best_of",
                "n value cannot be greater than best_of");
    expect_fail(OAI_COMPLETIONS, "{" COMP_OK ",\"best_of\":3}", LM_ERR_UNSUPPORTED, "best_of", "not supported yet");
}

static void test_stop_and_flags(void **state) {
    (void)state;
    parsed p = parse(OAI_CHAT, "{" CHAT_OK ",\"stop\":\"END\",\"ignore_eos\":true,\"skip_special_tokens\":false,"
                               "\"include_stop_str_in_output\":true}");
    assert_int_equal(p.s, LM_OK);
    assert_int_equal(p.r.n_stop, 1);
    assert_string_equal(p.r.stop[0], "END");
    assert_int_equal(p.r.ignore_eos, 1);
    assert_int_equal(p.r.skip_special_tokens, 0);
    assert_int_equal(p.r.include_stop_str_in_output, 1);
    done(&p);

    lm_buf b = {0};
    buf_append_str(&b, "{" CHAT_OK ",\"stop\":[");
    for (int i = 0; i < 16; i++) buf_printf(&b, "%s\"s%d\"", i ? "," : "", i);
    buf_append_str(&b, "]}");
    p = parse(OAI_CHAT, buf_cstr(&b));
    assert_int_equal(p.s, LM_OK);
    assert_int_equal(p.r.n_stop, 16);
    assert_string_equal(p.r.stop[15], "s15");
    done(&p);
    buf_reset(&b);
    buf_append_str(&b, "{" CHAT_OK ",\"stop\":[");
    for (int i = 0; i < 17; i++) buf_printf(&b, "%s\"s%d\"", i ? "," : "", i);
    buf_append_str(&b, "]}");
    expect_fail(OAI_CHAT, buf_cstr(&b), LM_ERR_INVALID, "stop", "stop array must have no more than 16 strings");
    buf_fini(&b);
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"stop\":[\"a\",3]}", LM_ERR_INVALID, "stop", "non string element");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"stop\":5}", LM_ERR_INVALID, "stop", "not a string or array");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"stop\":\"\"}", LM_ERR_INVALID, "stop", "must not be empty");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"ignore_eos\":1}", LM_ERR_INVALID, "ignore_eos",
                "ignore_eos accepts values true or false");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"skip_special_tokens\":\"no\"}", LM_ERR_INVALID, "skip_special_tokens",
                "true or false");
}

static void test_stream_options(void **state) {
    (void)state;
    parsed p = parse(OAI_CHAT, "{" CHAT_OK ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    assert_int_equal(p.s, LM_OK);
    assert_int_equal(p.r.stream, 1);
    assert_int_equal(p.r.include_usage, 1);
    done(&p);
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"stream\":\"yes\"}", LM_ERR_INVALID, "stream", "true or false");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"stream_options\":{\"include_usage\":true}}", LM_ERR_INVALID,
                "stream_options", "stream not set to true");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"stream\":true,\"stream_options\":{\"x\":1}}", LM_ERR_INVALID,
                "stream_options", "Properties accepted in stream_options: include_usage");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"stream\":true,\"stream_options\":{\"include_usage\":1}}", LM_ERR_INVALID,
                "stream_options.include_usage", "not a boolean");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"stream\":true,\"stream_options\":[]}", LM_ERR_INVALID, "stream_options",
                "not an object");
}

static void test_logprobs(void **state) {
    (void)state;
    parsed p = parse(OAI_CHAT, "{" CHAT_OK ",\"logprobs\":true,\"top_logprobs\":20}");
    assert_int_equal(p.s, LM_OK);
    assert_int_equal(p.r.logprobs, 1);
    assert_int_equal(p.r.top_logprobs, 20);
    done(&p);
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"logprobs\":1}", LM_ERR_INVALID, "logprobs", "true or false");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"top_logprobs\":2}", LM_ERR_INVALID, "top_logprobs",
                "requires logprobs to be true");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"logprobs\":true,\"top_logprobs\":21}", LM_ERR_INVALID, "top_logprobs",
                "can't be greater than 20");

    p = parse(OAI_COMPLETIONS, "{" COMP_OK ",\"logprobs\":3}");
    assert_int_equal(p.s, LM_OK);
    assert_int_equal(p.r.logprobs, 1);
    assert_int_equal(p.r.top_logprobs, 3);
    done(&p);
    p = parse(OAI_COMPLETIONS, "{" COMP_OK ",\"logprobs\":0}");
    assert_int_equal(p.s, LM_OK);
    assert_int_equal(p.r.logprobs, 1);
    assert_int_equal(p.r.top_logprobs, 0);
    done(&p);
    expect_fail(OAI_COMPLETIONS, "{" COMP_OK ",\"logprobs\":true}", LM_ERR_INVALID, "logprobs",
                "logprobs accepts integer values");
    expect_fail(OAI_COMPLETIONS, "{" COMP_OK ",\"logprobs\":-1}", LM_ERR_INVALID, "logprobs", "at least 0");
    expect_fail(OAI_COMPLETIONS, "{" COMP_OK ",\"logprobs\":2,\"echo\":true}", LM_ERR_UNSUPPORTED, "echo",
                "echo together with logprobs");
}

static void test_unsupported_fields(void **state) {
    (void)state;
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"response_format\":{\"type\":\"json_object\"}}", LM_ERR_UNSUPPORTED,
                "response_format", "not supported yet");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"response_format\":\"json\"}", LM_ERR_INVALID, "response_format",
                "not an object");
    parsed p = parse(OAI_CHAT, "{" CHAT_OK ",\"response_format\":{\"type\":\"text\"},\"logit_bias\":{},"
                               "\"user\":\"u\",\"unknown_field\":[1,2,3]}");
    assert_int_equal(p.s, LM_OK);
    done(&p);
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"logit_bias\":{\"5\":10}}", LM_ERR_UNSUPPORTED, "logit_bias",
                "not supported yet");
    expect_fail(OAI_COMPLETIONS, "{" COMP_OK ",\"suffix\":\"end\"}", LM_ERR_UNSUPPORTED, "suffix", "not supported");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"user\":5}", LM_ERR_INVALID, "user", "not a string");
}

static void test_messages(void **state) {
    (void)state;
    expect_fail(OAI_CHAT, "{\"model\":\"m\"}", LM_ERR_INVALID, "messages", "Messages missing in request");
    expect_fail(OAI_CHAT, "{\"model\":\"m\",\"messages\":{}}", LM_ERR_INVALID, "messages", "not an array");
    expect_fail(OAI_CHAT, "{\"model\":\"m\",\"messages\":[]}", LM_ERR_INVALID, "messages", "cannot be empty");
    expect_fail(OAI_CHAT, "{\"model\":\"m\",\"messages\":[\"hi\"]}", LM_ERR_INVALID, "messages[0]",
                "not a JSON object");
    expect_fail(OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"content\":\"b\"}]}",
                LM_ERR_INVALID, "messages[1].role", "must have 'role'");
    expect_fail(OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", LM_ERR_INVALID,
                "messages[0].content", "must be a string");
    expect_fail(OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[]}]}", LM_ERR_INVALID,
                "messages[0].content", "content array is empty");
    expect_fail(OAI_CHAT,
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                "\"image_url\":{\"url\":\"x\"}}]}]}",
                LM_ERR_UNSUPPORTED, "messages[0].content[0]", "text-only");
    expect_fail(OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
                LM_ERR_INVALID, "messages[0].content[0]", "content text missing");
    expect_fail(OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\",\"tool_call_id\":1}]}",
                LM_ERR_INVALID, "messages[0].tool_call_id", "not a string");

    /* parts are joined, missing content becomes "", tool call arguments become objects, and the
     * caller's JSON is left as it was */
    parsed p = parse(OAI_CHAT,
                     "{\"model\":\"m\",\"messages\":["
                     "{\"role\":\"system\"},"
                     "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},"
                     "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
                     "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\": 1}\"}},"
                     "{\"function\":{\"name\":\"g\"}},{\"function\":{\"name\":\"h\",\"arguments\":\"not json\"}}]},"
                     "{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":\"c1\",\"name\":\"f\"}]}");
    assert_int_equal(p.s, LM_OK);
    json_t *m = p.r.messages;
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "content")), "");
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "content")), "a\nb");
    json_t *asst = json_array_get(m, 2);
    assert_string_equal(json_string_value(json_object_get(asst, "content")), ""); /* null: the template gets "" */
    json_t *calls = json_object_get(asst, "tool_calls");
    json_t *args0 = json_object_get(json_object_get(json_array_get(calls, 0), "function"), "arguments");
    assert_true(json_is_object(args0));
    assert_int_equal(json_integer_value(json_object_get(args0, "x")), 1);
    assert_true(json_is_object(json_object_get(json_object_get(json_array_get(calls, 1), "function"), "arguments")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(calls, 2), "function"), "arguments")),
        "not json");
    json_t *orig = json_array_get(json_object_get(p.root, "messages"), 1);
    assert_true(json_is_array(json_object_get(orig, "content")));
    done(&p);

    expect_fail(OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":3}]}]}",
                LM_ERR_INVALID, "messages[0].tool_calls[0].function", "'function' object");
}

static void test_tools(void **state) {
    (void)state;
#define TOOLS "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}},{\"type\":\"function\",\"function\":{\"name\":\"b\"}}]"
    parsed p = parse(OAI_CHAT, "{" CHAT_OK "," TOOLS "}");
    assert_int_equal(p.s, LM_OK);
    assert_int_equal(json_array_size(p.r.tools), 2);
    done(&p);
    p = parse(OAI_CHAT, "{" CHAT_OK "," TOOLS ",\"tool_choice\":\"none\"}");
    assert_int_equal(p.s, LM_OK);
    assert_null(p.r.tools);
    done(&p);
    p = parse(OAI_CHAT, "{" CHAT_OK "," TOOLS ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"b\"}}}");
    assert_int_equal(p.s, LM_OK);
    assert_int_equal(json_array_size(p.r.tools), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(p.r.tools, 0), "function"),
                                                          "name")),
                        "b");
    done(&p);
    p = parse(OAI_CHAT, "{" CHAT_OK "," TOOLS ",\"tool_choice\":\"required\",\"chat_template_kwargs\":"
                        "{\"enable_thinking\":false}}");
    assert_int_equal(p.s, LM_OK);
    assert_int_equal(json_array_size(p.r.tools), 2);
    assert_true(json_is_false(json_object_get(p.r.template_kwargs, "enable_thinking")));
    done(&p);
    expect_fail(OAI_CHAT, "{" CHAT_OK "," TOOLS ",\"tool_choice\":\"sometimes\"}", LM_ERR_INVALID, "tool_choice",
                "either 'none' or 'auto' or 'required'");
    expect_fail(OAI_CHAT, "{" CHAT_OK "," TOOLS ",\"tool_choice\":{\"function\":{\"name\":\"zz\"}}}", LM_ERR_INVALID,
                "tool_choice", "not in tools");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"tool_choice\":5}", LM_ERR_INVALID, "tool_choice", "not a valid JSON");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"tools\":{}}", LM_ERR_INVALID, "tools", "Tools are not an array");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"tools\":[{\"function\":{}}]}", LM_ERR_INVALID, "tools[0].function.name",
                "valid name");
    expect_fail(OAI_CHAT, "{" CHAT_OK ",\"chat_template_kwargs\":[]}", LM_ERR_INVALID, "chat_template_kwargs",
                "not an object");
#undef TOOLS
}

static void test_prompts(void **state) {
    (void)state;
    expect_fail(OAI_COMPLETIONS, "{\"model\":\"m\"}", LM_ERR_INVALID, "prompt", "prompt is missing");
    expect_fail(OAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"\"}", LM_ERR_INVALID, "prompt", "prompt is missing");
    expect_fail(OAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":5}", LM_ERR_INVALID, "prompt", "not a string");
    expect_fail(OAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", LM_ERR_UNSUPPORTED, "prompt",
                "several prompts");
    expect_fail(OAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[1,-2]}", LM_ERR_INVALID, "prompt", "element 1");
    expect_fail(OAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[1,\"x\"]}", LM_ERR_INVALID, "prompt", "element 1");
    parsed p = parse(OAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[\"only\"],\"echo\":true}");
    assert_int_equal(p.s, LM_OK);
    assert_string_equal(p.r.prompt, "only");
    assert_int_equal(p.r.echo, 1);
    done(&p);
    p = parse(OAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[1,2,3]}");
    assert_int_equal(p.s, LM_OK);
    assert_null(p.r.prompt);
    assert_int_equal(p.r.n_prompt_ids, 3);
    assert_int_equal(p.r.prompt_ids[2], 3);
    done(&p);
    p = parse(OAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[[7,8]]}");
    assert_int_equal(p.s, LM_OK);
    assert_int_equal(p.r.n_prompt_ids, 2);
    done(&p);
    expect_fail(OAI_COMPLETIONS, "{" COMP_OK ",\"echo\":\"yes\"}", LM_ERR_INVALID, "echo", "true or false");
}

static void test_gen_params_precedence(void **state) {
    (void)state;
    gen_defaults d;
    memset(&d, 0, sizeof d);
    d.has_temperature = 1, d.temperature = 0.6f;
    d.has_top_k = 1, d.top_k = 20;
    d.has_max_new_tokens = 1, d.max_new_tokens = 99;

    /* built-ins without generation_config */
    parsed p = parse(OAI_CHAT, "{" CHAT_OK "}");
    gen_params g = oai_gen_params(&p.r, NULL, 0, 1000);
    assert_true(g.sampling.temperature == 1.0f && g.sampling.top_p == 1.0f && g.sampling.top_k == 0);
    assert_true(g.sampling.repetition_penalty == 1.0f);
    assert_int_equal(g.max_tokens, 0);
    assert_int_equal(g.sampling.seed, 1000);
    assert_int_equal(g.skip_special_tokens, 1);
    /* generation_config next */
    g = oai_gen_params(&p.r, &d, 2, 1000);
    assert_true(g.sampling.temperature == 0.6f && g.sampling.top_k == 20 && g.sampling.top_p == 1.0f);
    assert_int_equal(g.max_tokens, 99);
    assert_int_equal(g.sampling.seed, 1002);
    done(&p);

    /* the request wins; seed + index */
    p = parse(OAI_CHAT, "{" CHAT_OK ",\"temperature\":0,\"top_k\":3,\"max_tokens\":4,\"seed\":50,\"stop\":[\"x\",\"y\"],"
                        "\"logprobs\":true,\"top_logprobs\":2,\"ignore_eos\":true,\"min_p\":0.2}");
    g = oai_gen_params(&p.r, &d, 3, 1000);
    assert_true(g.sampling.temperature == 0.0f && g.sampling.top_k == 3);
    assert_int_equal(g.max_tokens, 4);
    assert_int_equal(g.sampling.seed, 53);
    assert_int_equal(g.n_stop, 2);
    assert_string_equal(g.stop[1], "y");
    assert_int_equal(g.logprobs, 1);
    assert_int_equal(g.top_logprobs, 2);
    assert_int_equal(g.ignore_eos, 1);
    assert_true(fabsf(g.sampling.min_p - 0.2f) < 1e-6f);
    done(&p);
}

static void test_tokenize_requests(void **state) {
    (void)state;
    json_t *root = json_loads("{\"model\":\"m\",\"text\":\"hello\"}", 0, NULL);
    oai_tokenize_request t;
    oai_error e;
    oai_error_clear(&e);
    assert_int_equal(oai_parse_tokenize(root, &t, &e), LM_OK);
    assert_int_equal(t.n_texts, 1);
    assert_int_equal(t.batched, 0);
    assert_int_equal(t.add_special_tokens, 1);
    assert_string_equal(t.texts[0], "hello");
    oai_tokenize_request_fini(&t);
    json_decref(root);

    root = json_loads("{\"model\":\"m\",\"text\":[\"a\",\"b\"],\"add_special_tokens\":false,\"max_length\":3}", 0, NULL);
    assert_int_equal(oai_parse_tokenize(root, &t, &e), LM_OK);
    assert_int_equal(t.n_texts, 2);
    assert_int_equal(t.batched, 1);
    assert_int_equal(t.add_special_tokens, 0);
    assert_int_equal(t.max_length, 3);
    oai_tokenize_request_fini(&t);
    json_decref(root);

    static const char *const bad[][2] = {
        {"{\"text\":\"a\"}", "model"},
        {"{\"model\":\"m\"}", "text"},
        {"{\"model\":\"m\",\"text\":[]}", "text"},
        {"{\"model\":\"m\",\"text\":[\"a\",1]}", "text"},
        {"{\"model\":\"m\",\"text\":\"a\",\"max_length\":0}", "max_length"},
        {"{\"model\":\"m\",\"text\":\"a\",\"add_special_tokens\":1}", "add_special_tokens"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        root = json_loads(bad[i][0], 0, NULL);
        oai_error_clear(&e);
        assert_int_equal(oai_parse_tokenize(root, &t, &e), LM_ERR_INVALID);
        assert_string_equal(e.param, bad[i][1]);
        json_decref(root);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_errors_carry_offsets),
        cmocka_unit_test(test_json_depth_limit),
        cmocka_unit_test(test_minimal_requests_and_defaults),
        cmocka_unit_test(test_null_is_absent),
        cmocka_unit_test(test_sampling_ranges),
        cmocka_unit_test(test_max_tokens_and_n),
        cmocka_unit_test(test_stop_and_flags),
        cmocka_unit_test(test_stream_options),
        cmocka_unit_test(test_logprobs),
        cmocka_unit_test(test_unsupported_fields),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_tools),
        cmocka_unit_test(test_prompts),
        cmocka_unit_test(test_gen_params_precedence),
        cmocka_unit_test(test_tokenize_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
