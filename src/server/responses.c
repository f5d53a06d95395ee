/* responses.c — the OpenAI Responses API (responses.h): a Responses request becomes a chat
 * completions request; output-chain events become output items, unary and as SSE events. */
#include "server/responses.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"

/* ================================================================ requests */

/* Everything a translation carries from one item to the next. */
typedef struct {
    json_t *messages;            /* the chat messages being built */
    json_t *system;              /* the leading system message, or NULL while there is none */
    int turns;                   /* non-system messages so far: later system messages stay put */
    json_t *last_assistant;      /* the last message, when it is an assistant one tool calls may join */
    lm_buf reasoning;            /* reasoning items waiting for the next assistant message */
    int has_reasoning;
} xlate;

static lm_status fail_type(oai_error *err, const char *path, const char *what) {
    return oai_fail(err, LM_ERR_INVALID, path, "%s must be %s", path, what);
}

/* An optional field of a given JSON type: absent or null is fine, another type is an error. */
static lm_status check_type(json_t *obj, const char *key, json_type type, const char *what, oai_error *err) {
    json_t *v = proto_field(obj, key);
    if (v && json_typeof(v) != type && !(type == JSON_TRUE && json_is_boolean(v)) &&
        !(type == JSON_REAL && json_is_number(v)))
        return fail_type(err, key, what);
    return LM_OK;
}

/* Adds text to the leading system message (created on first use at the front). */
static void add_system(xlate *x, const char *text, size_t len) {
    if (!x->system) {
        x->system = json_pack("{s:s, s:s%}", "role", "system", "content", text, len);
        json_array_insert(x->messages, 0, x->system);
        json_decref(x->system); /* the array holds it; x->system is borrowed */
        return;
    }
    lm_buf b = {0};
    buf_append_str(&b, json_string_value(json_object_get(x->system, "content")));
    buf_append_str(&b, "\n\n");
    buf_append(&b, text, len);
    json_object_set_new(x->system, "content", json_stringn(buf_cstr(&b), b.len));
    buf_fini(&b);
}

/* What a tool's image or file output becomes: the model is told, the agent's loop goes on. */
#define MEDIA_OMITTED "[%s omitted: lmserve serves text-only models]"

/* Joins the text of a content-part array (parts of the given text types) with "\n". Image and
 * file parts are refused, except in a tool's output (tool_output), where a note replaces them:
 * an agent's tool (Codex's view_image) may return one, and refusing would end its session. */
static lm_status join_parts(json_t *parts, const char *path, int tool_output, lm_buf *out, oai_error *err) {
    char p[256];
    size_t i;
    json_t *part;
    json_array_foreach(parts, i, part) {
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        if (!json_is_object(part)) return fail_type(err, p, "a content part object");
        const char *type = json_string_value(json_object_get(part, "type"));
        if (!type) return oai_fail(err, LM_ERR_INVALID, p, "%s.type is missing", p);
        const char *key = "text";
        if (tool_output && (strcmp(type, "input_image") == 0 || strcmp(type, "input_file") == 0)) {
            log_info("responses: %s of type '%s' in a tool output replaced by a note", p, type);
            if (out->len > 0) buf_append_char(out, '\n');
            buf_printf(out, MEDIA_OMITTED, type + 6);
            continue;
        }
        if (strcmp(type, "refusal") == 0) {
            key = "refusal";
        } else if (strcmp(type, "input_text") != 0 && strcmp(type, "output_text") != 0 &&
                   strcmp(type, "text") != 0 && strcmp(type, "summary_text") != 0 &&
                   strcmp(type, "reasoning_text") != 0) {
            return oai_fail(err, LM_ERR_UNSUPPORTED, p,
                            "content part type '%s' is not supported: lmserve serves text-only models "
                            "(input_text and output_text parts are accepted)", type);
        }
        json_t *t = json_object_get(part, key);
        if (!json_is_string(t)) {
            snprintf(p, sizeof p, "%s[%zu].%s", path, i, key);
            return fail_type(err, p, "a string");
        }
        if (out->len > 0) buf_append_char(out, '\n');
        buf_append(out, json_string_value(t), json_string_length(t));
    }
    return LM_OK;
}

/* A content value that may be a string or an array of parts, as one string. */
static lm_status content_text(json_t *content, const char *path, int tool_output, lm_buf *out, oai_error *err) {
    if (!content) return LM_OK;
    if (json_is_string(content)) {
        buf_append(out, json_string_value(content), json_string_length(content));
        return LM_OK;
    }
    if (json_is_array(content)) return join_parts(content, path, tool_output, out, err);
    return fail_type(err, path, "a string or an array of content parts");
}

static void take_reasoning(xlate *x, json_t *msg) {
    if (!x->has_reasoning) return;
    json_object_set_new(msg, "reasoning_content", json_stringn(buf_cstr(&x->reasoning), x->reasoning.len));
    buf_reset(&x->reasoning);
    x->has_reasoning = 0;
}

static lm_status item_message(xlate *x, json_t *item, const char *path, oai_error *err) {
    char p[256];
    snprintf(p, sizeof p, "%s.role", path);
    const char *role = json_string_value(json_object_get(item, "role"));
    if (!role) return fail_type(err, p, "one of user, assistant, system, developer");
    int system = strcmp(role, "system") == 0 || strcmp(role, "developer") == 0;
    if (!system && strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)
        return oai_fail(err, LM_ERR_INVALID, p, "%s must be one of user, assistant, system, developer: got '%s'", p,
                        role);
    snprintf(p, sizeof p, "%s.content", path);
    lm_buf text = {0};
    lm_status s = content_text(json_object_get(item, "content"), p, 0, &text, err);
    if (s != LM_OK) {
        buf_fini(&text);
        return s;
    }
    if (system && x->turns == 0) {
        add_system(x, buf_cstr(&text), text.len);
        buf_fini(&text);
        return LM_OK;
    }
    json_t *m = json_pack("{s:s, s:s%}", "role", system ? "system" : role, "content", buf_cstr(&text), text.len);
    buf_fini(&text);
    if (strcmp(role, "assistant") == 0) {
        take_reasoning(x, m);
        x->last_assistant = m;
    } else {
        x->last_assistant = NULL;
    }
    x->turns++;
    json_array_append_new(x->messages, m);
    return LM_OK;
}

static lm_status item_function_call(xlate *x, json_t *item, const char *path, oai_error *err) {
    char p[256];
    static const char *const keys[] = {"call_id", "name", "arguments"};
    for (size_t k = 0; k < 3; k++) {
        if (!json_is_string(json_object_get(item, keys[k]))) {
            snprintf(p, sizeof p, "%s.%s", path, keys[k]);
            return fail_type(err, p, "a string");
        }
    }
    snprintf(p, sizeof p, "%s.namespace", path);
    json_t *ns = proto_field(item, "namespace");
    if (ns && !json_is_string(ns)) return fail_type(err, p, "a string");
    json_t *call = json_pack("{s:O, s:s, s:{s:O, s:O}}", "id", json_object_get(item, "call_id"), "type", "function",
                             "function", "name", json_object_get(item, "name"), "arguments",
                             json_object_get(item, "arguments"));
    if (!x->last_assistant) {
        x->last_assistant = json_pack("{s:s, s:s}", "role", "assistant", "content", "");
        take_reasoning(x, x->last_assistant);
        json_array_append_new(x->messages, x->last_assistant);
        x->turns++;
    }
    json_t *calls = json_object_get(x->last_assistant, "tool_calls");
    if (!calls) {
        calls = json_array();
        json_object_set_new(x->last_assistant, "tool_calls", calls);
    }
    json_array_append_new(calls, call);
    return LM_OK;
}

static lm_status item_function_call_output(xlate *x, json_t *item, const char *path, oai_error *err) {
    char p[256];
    snprintf(p, sizeof p, "%s.call_id", path);
    json_t *id = json_object_get(item, "call_id");
    if (!json_is_string(id)) return fail_type(err, p, "a string");
    snprintf(p, sizeof p, "%s.output", path);
    json_t *output = json_object_get(item, "output");
    if (!output) return oai_fail(err, LM_ERR_INVALID, p, "%s is missing", p);
    lm_buf text = {0};
    lm_status s = content_text(output, p, 1, &text, err);
    if (s == LM_OK)
        json_array_append_new(x->messages, json_pack("{s:s, s:O, s:s%}", "role", "tool", "tool_call_id", id, "content",
                                                     buf_cstr(&text), text.len));
    buf_fini(&text);
    x->last_assistant = NULL;
    x->turns++;
    return s;
}

/* A reasoning item: its text (content, else summary) goes to the next assistant message's
 * reasoning_content, which templates that keep thinking render. encrypted_content is opaque to
 * lmserve and dropped. */
static lm_status item_reasoning(xlate *x, json_t *item, const char *path, oai_error *err) {
    char p[256];
    json_t *content = proto_field(item, "content");
    const char *key = content ? "content" : "summary";
    json_t *parts = content ? content : proto_field(item, "summary");
    snprintf(p, sizeof p, "%s.%s", path, key);
    if (!parts) return LM_OK;
    if (!json_is_array(parts)) return fail_type(err, p, "an array");
    lm_buf text = {0};
    lm_status s = join_parts(parts, p, 0, &text, err);
    if (s == LM_OK && text.len > 0) {
        if (x->has_reasoning) buf_append_char(&x->reasoning, '\n');
        buf_append(&x->reasoning, text.data, text.len);
        x->has_reasoning = 1;
    }
    buf_fini(&text);
    return s;
}

/* Items of tools lmserve never offers (so its model never produced them): skipped. */
static int skipped_item(const char *type) {
    static const char *const skipped[] = {
        "custom_tool_call", "custom_tool_call_output", "local_shell_call", "local_shell_call_output",
        "web_search_call", "file_search_call", "computer_call", "computer_call_output", "code_interpreter_call",
        "image_generation_call", "mcp_call", "mcp_list_tools", "mcp_approval_request", "mcp_approval_response",
        "shell_call", "shell_call_output", "apply_patch_call", "apply_patch_call_output", "compaction",
        "tool_search_call", "tool_search_output",
    };
    for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; i++)
        if (strcmp(type, skipped[i]) == 0) return 1;
    return 0;
}

static lm_status parse_input(json_t *root, xlate *x, oai_error *err) {
    json_t *input = json_object_get(root, "input");
    if (!input || json_is_null(input)) return oai_fail(err, LM_ERR_INVALID, "input", "input is missing");
    if (json_is_string(input)) {
        json_array_append_new(x->messages, json_pack("{s:s, s:O}", "role", "user", "content", input));
        x->turns++;
        return LM_OK;
    }
    if (!json_is_array(input)) return fail_type(err, "input", "a string or an array of input items");
    char p[64];
    size_t i;
    json_t *item;
    json_array_foreach(input, i, item) {
        snprintf(p, sizeof p, "input[%zu]", i);
        if (!json_is_object(item)) return fail_type(err, p, "an object");
        json_t *jt = proto_field(item, "type");
        if (jt && !json_is_string(jt)) {
            snprintf(p, sizeof p, "input[%zu].type", i);
            return fail_type(err, p, "a string");
        }
        const char *type = jt ? json_string_value(jt) : "message"; /* EasyInputMessage has no type */
        if (strcmp(type, "message") == 0) {
            LM_TRY(item_message(x, item, p, err));
        } else if (strcmp(type, "function_call") == 0) {
            LM_TRY(item_function_call(x, item, p, err));
        } else if (strcmp(type, "function_call_output") == 0) {
            LM_TRY(item_function_call_output(x, item, p, err));
        } else if (strcmp(type, "reasoning") == 0) {
            LM_TRY(item_reasoning(x, item, p, err));
        } else if (strcmp(type, "item_reference") == 0) {
            return oai_fail(err, LM_ERR_UNSUPPORTED, p,
                            "item_reference is not supported: lmserve stores no items; send the items themselves");
        } else if (skipped_item(type)) {
            log_info("responses: %s of type '%s' skipped (lmserve offers no such tool)", p, type);
        } else {
            return oai_fail(err, LM_ERR_INVALID, p, "unknown input item type '%s'", type);
        }
    }
    if (x->turns == 0) return oai_fail(err, LM_ERR_INVALID, "input", "input has no message to answer");
    return LM_OK;
}

/* One function tool ({type, name, description, parameters, strict}) as a chat tool. */
static lm_status function_tool(json_t *t, const char *path, json_t *out, oai_error *err) {
    char p[256];
    snprintf(p, sizeof p, "%s.name", path);
    json_t *name = json_object_get(t, "name");
    if (!json_is_string(name) || json_string_length(name) == 0) return fail_type(err, p, "a non-empty string");
    json_t *fn = json_pack("{s:O}", "name", name);
    json_t *desc = proto_field(t, "description");
    snprintf(p, sizeof p, "%s.description", path);
    if (desc && !json_is_string(desc)) {
        json_decref(fn);
        return fail_type(err, p, "a string");
    }
    if (desc) json_object_set(fn, "description", desc);
    json_t *params = proto_field(t, "parameters");
    snprintf(p, sizeof p, "%s.parameters", path);
    if (params && !json_is_object(params)) {
        json_decref(fn);
        return fail_type(err, p, "an object (a JSON schema)");
    }
    json_object_set_new(fn, "parameters",
                        params ? json_incref(params) : json_pack("{s:s, s:{}}", "type", "object", "properties"));
    json_t *strict = proto_field(t, "strict");
    if (strict && json_is_boolean(strict)) json_object_set(fn, "strict", strict);
    json_array_append_new(out, json_pack("{s:s, s:o}", "type", "function", "function", fn));
    return LM_OK;
}

static lm_status parse_tools(json_t *root, json_t *chat, json_t *namespaces, oai_error *err) {
    json_t *tools = proto_field(root, "tools");
    if (!tools) return LM_OK;
    if (!json_is_array(tools)) return fail_type(err, "tools", "an array");
    json_t *out = json_array();
    json_object_set_new(chat, "tools", out);
    char p[64], q[96];
    size_t i, j;
    json_t *t, *inner;
    json_array_foreach(tools, i, t) {
        snprintf(p, sizeof p, "tools[%zu]", i);
        if (!json_is_object(t)) return fail_type(err, p, "an object");
        const char *type = json_string_value(json_object_get(t, "type"));
        if (!type) return oai_fail(err, LM_ERR_INVALID, p, "%s.type is missing", p);
        if (strcmp(type, "function") == 0) {
            LM_TRY(function_tool(t, p, out, err));
        } else if (strcmp(type, "namespace") == 0) {
            const char *ns = json_string_value(json_object_get(t, "name"));
            json_t *inner_tools = json_object_get(t, "tools");
            snprintf(q, sizeof q, "%s.tools", p);
            if (!ns) return oai_fail(err, LM_ERR_INVALID, p, "%s.name must be a string", p);
            if (!json_is_array(inner_tools)) return fail_type(err, q, "an array");
            json_array_foreach(inner_tools, j, inner) {
                snprintf(q, sizeof q, "%s.tools[%zu]", p, j);
                const char *itype = json_string_value(json_object_get(inner, "type"));
                if (!json_is_object(inner) || !itype) return oai_fail(err, LM_ERR_INVALID, q, "%s.type is missing", q);
                if (strcmp(itype, "function") != 0) {
                    log_info("responses: tool %s of type '%s' in namespace '%s' skipped (only function tools are "
                             "offered)", q, itype, ns);
                    continue;
                }
                LM_TRY(function_tool(inner, q, out, err));
                json_object_set_new(namespaces, json_string_value(json_object_get(inner, "name")), json_string(ns));
            }
        } else {
            log_info("responses: %s of type '%s' skipped (only function tools are offered)", p, type);
        }
    }
    return LM_OK;
}

/* Keeps only the tools named in an allowed_tools choice. */
static lm_status allowed_tools(json_t *tc, json_t *chat, oai_error *err) {
    json_t *list = json_object_get(tc, "tools");
    if (!json_is_array(list)) return fail_type(err, "tool_choice.tools", "an array");
    const char *mode = json_string_value(json_object_get(tc, "mode"));
    if (!mode || (strcmp(mode, "auto") != 0 && strcmp(mode, "required") != 0))
        return fail_type(err, "tool_choice.mode", "'auto' or 'required'");
    json_t *tools = json_object_get(chat, "tools");
    json_t *kept = json_array();
    size_t i, j;
    json_t *t, *a;
    json_array_foreach(tools, i, t) {
        const char *name = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
        json_array_foreach(list, j, a) {
            const char *an = json_string_value(json_object_get(a, "name"));
            if (an && name && strcmp(an, name) == 0) {
                json_array_append(kept, t);
                break;
            }
        }
    }
    json_object_set_new(chat, "tools", kept);
    json_object_set_new(chat, "tool_choice", json_string(mode));
    return LM_OK;
}

static lm_status parse_tool_choice(json_t *root, json_t *chat, oai_error *err) {
    json_t *tc = proto_field(root, "tool_choice");
    if (!tc) return LM_OK;
    if (json_is_string(tc)) {
        const char *s = json_string_value(tc);
        if (strcmp(s, "none") != 0 && strcmp(s, "auto") != 0 && strcmp(s, "required") != 0)
            return oai_fail(err, LM_ERR_INVALID, "tool_choice",
                            "tool_choice must be 'none', 'auto', 'required' or an object: got '%s'", s);
        json_object_set(chat, "tool_choice", tc);
        return LM_OK;
    }
    if (!json_is_object(tc)) return fail_type(err, "tool_choice", "a string or an object");
    const char *type = json_string_value(json_object_get(tc, "type"));
    if (!type) return oai_fail(err, LM_ERR_INVALID, "tool_choice.type", "tool_choice.type is missing");
    if (strcmp(type, "function") == 0) {
        json_t *name = json_object_get(tc, "name");
        if (!json_is_string(name)) return fail_type(err, "tool_choice.name", "a string");
        json_object_set_new(chat, "tool_choice", json_pack("{s:s, s:{s:O}}", "type", "function", "function", "name", name));
        return LM_OK;
    }
    if (strcmp(type, "allowed_tools") == 0) return allowed_tools(tc, chat, err);
    return oai_fail(err, LM_ERR_UNSUPPORTED, "tool_choice",
                    "tool_choice of type '%s' is not supported: lmserve offers function tools only", type);
}

static lm_status parse_text(json_t *root, json_t *chat, oai_error *err) {
    json_t *text = proto_field(root, "text");
    if (!text) return LM_OK;
    if (!json_is_object(text)) return fail_type(err, "text", "an object");
    json_t *verbosity = proto_field(text, "verbosity");
    if (verbosity && !json_is_string(verbosity)) return fail_type(err, "text.verbosity", "a string");
    json_t *fmt = proto_field(text, "format");
    if (!fmt) return LM_OK;
    if (!json_is_object(fmt)) return fail_type(err, "text.format", "an object");
    const char *type = json_string_value(json_object_get(fmt, "type"));
    if (!type) return oai_fail(err, LM_ERR_INVALID, "text.format.type", "text.format.type is missing");
    if (strcmp(type, "text") == 0) return LM_OK;
    if (strcmp(type, "json_object") == 0) {
        json_object_set_new(chat, "response_format", json_pack("{s:s}", "type", "json_object"));
        return LM_OK;
    }
    if (strcmp(type, "json_schema") != 0)
        return oai_fail(err, LM_ERR_INVALID, "text.format.type",
                        "text.format.type must be 'text', 'json_object' or 'json_schema': got '%s'", type);
    json_t *schema = json_object_get(fmt, "schema");
    if (!json_is_object(schema)) return fail_type(err, "text.format.schema", "an object (a JSON schema)");
    json_t *name = proto_field(fmt, "name");
    if (name && !json_is_string(name)) return fail_type(err, "text.format.name", "a string");
    json_t *js = json_pack("{s:s, s:O}", "name", name ? json_string_value(name) : "response", "schema", schema);
    json_t *strict = proto_field(fmt, "strict");
    if (strict) json_object_set(js, "strict", strict);
    json_t *desc = proto_field(fmt, "description");
    if (json_is_string(desc)) json_object_set(js, "description", desc);
    json_object_set_new(chat, "response_format", json_pack("{s:s, s:o}", "type", "json_schema", "json_schema", js));
    return LM_OK;
}

/* reasoning.effort: the template's thinking switch (enable_thinking: off for none/minimal) and
 * its reasoning_effort variable (gpt-oss reads it). */
static lm_status parse_reasoning(json_t *root, json_t *chat, oai_error *err) {
    json_t *r = proto_field(root, "reasoning");
    if (!r) return LM_OK;
    if (!json_is_object(r)) return fail_type(err, "reasoning", "an object");
    json_t *summary = proto_field(r, "summary");
    if (summary && !json_is_string(summary)) return fail_type(err, "reasoning.summary", "a string");
    json_t *effort = proto_field(r, "effort");
    if (!effort) return LM_OK;
    static const char *const efforts[] = {"none", "minimal", "low", "medium", "high", "xhigh"};
    const char *e = json_string_value(effort);
    size_t k = 0;
    while (e && k < 6 && strcmp(e, efforts[k]) != 0) k++;
    if (!e || k == 6)
        return oai_fail(err, LM_ERR_INVALID, "reasoning.effort",
                        "reasoning.effort must be one of none, minimal, low, medium, high, xhigh");
    json_t *kw = json_object_get(chat, "chat_template_kwargs");
    if (!kw) {
        kw = json_object();
        json_object_set_new(chat, "chat_template_kwargs", kw);
    }
    if (!json_object_get(kw, "enable_thinking")) json_object_set_new(kw, "enable_thinking", json_boolean(k >= 2));
    if (!json_object_get(kw, "reasoning_effort")) json_object_set_new(kw, "reasoning_effort", json_string(e));
    return LM_OK;
}

/* Fields that need stored state or features lmserve does not have: refused, never ignored. */
static lm_status refuse_stateful(json_t *root, oai_error *err) {
    static const struct {
        const char *key, *why;
    } refused[] = {
        {"previous_response_id", "lmserve stores no responses; send the whole conversation in input"},
        {"conversation", "lmserve stores no conversations; send the whole conversation in input"},
        {"prompt", "stored prompt templates are not supported; send instructions and input"},
        {"max_tool_calls", "max_tool_calls is not supported"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (proto_field(root, refused[i].key))
            return oai_fail(err, LM_ERR_UNSUPPORTED, refused[i].key, "%s is not supported: %s", refused[i].key,
                            refused[i].why);
    json_t *bg = proto_field(root, "background");
    if (bg && !json_is_boolean(bg)) return fail_type(err, "background", "a boolean");
    if (json_is_true(bg))
        return oai_fail(err, LM_ERR_UNSUPPORTED, "background",
                        "background responses are not supported: lmserve stores no responses");
    json_t *top = proto_field(root, "top_logprobs");
    if (top && !json_is_integer(top)) return fail_type(err, "top_logprobs", "an integer");
    if (top && json_integer_value(top) != 0)
        return oai_fail(err, LM_ERR_UNSUPPORTED, "top_logprobs", "top_logprobs is not supported on /responses yet");
    return LM_OK;
}

/* Fields with no effect here, checked for their type and accepted. */
static lm_status check_accepted(json_t *root, oai_error *err) {
    LM_TRY(check_type(root, "store", JSON_TRUE, "a boolean", err));
    LM_TRY(check_type(root, "parallel_tool_calls", JSON_TRUE, "a boolean", err));
    LM_TRY(check_type(root, "stream", JSON_TRUE, "a boolean", err));
    LM_TRY(check_type(root, "metadata", JSON_OBJECT, "an object", err));
    LM_TRY(check_type(root, "client_metadata", JSON_OBJECT, "an object", err));
    LM_TRY(check_type(root, "stream_options", JSON_OBJECT, "an object", err));
    LM_TRY(check_type(root, "include", JSON_ARRAY, "an array of strings", err));
    static const char *const strings[] = {"user", "prompt_cache_key", "safety_identifier", "service_tier",
                                          "truncation", "prompt_cache_retention"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        LM_TRY(check_type(root, strings[i], JSON_STRING, "a string", err));
    json_t *inc = proto_field(root, "include");
    size_t i;
    json_t *v;
    json_array_foreach(inc, i, v) {
        if (!json_is_string(v)) return fail_type(err, "include", "an array of strings");
    }
    return LM_OK;
}

/* The response object repeats these request fields (with OpenAI's defaults when absent). */
static json_t *make_echo(json_t *root) {
    json_t *e = json_object();
    json_t *v;
    json_object_set_new(e, "instructions", (v = proto_field(root, "instructions")) ? json_incref(v) : json_null());
    json_object_set_new(e, "max_output_tokens", (v = proto_field(root, "max_output_tokens")) ? json_incref(v) : json_null());
    json_object_set_new(e, "parallel_tool_calls", json_boolean(!json_is_false(json_object_get(root, "parallel_tool_calls"))));
    json_object_set_new(e, "previous_response_id", json_null());
    json_t *r = proto_field(root, "reasoning");
    json_t *effort = proto_field(r, "effort"), *summary = proto_field(r, "summary");
    json_object_set_new(e, "reasoning", json_pack("{s:O, s:O}", "effort", effort ? effort : json_null(), "summary",
                                                  summary ? summary : json_null()));
    json_object_set_new(e, "store", json_boolean(!json_is_false(json_object_get(root, "store"))));
    json_object_set_new(e, "temperature", (v = proto_field(root, "temperature")) ? json_incref(v) : json_real(1.0));
    json_t *text = proto_field(root, "text");
    json_object_set_new(e, "text", (v = proto_field(text, "format"))
                                       ? json_pack("{s:O}", "format", v)
                                       : json_pack("{s:{s:s}}", "format", "type", "text"));
    json_object_set_new(e, "tool_choice", (v = proto_field(root, "tool_choice")) ? json_incref(v) : json_string("auto"));
    json_object_set_new(e, "tools", (v = proto_field(root, "tools")) ? json_incref(v) : json_array());
    json_object_set_new(e, "top_p", (v = proto_field(root, "top_p")) ? json_incref(v) : json_real(1.0));
    json_object_set_new(e, "truncation", (v = proto_field(root, "truncation")) ? json_incref(v) : json_string("disabled"));
    json_object_set_new(e, "metadata", (v = proto_field(root, "metadata")) ? json_incref(v) : json_object());
    json_object_set_new(e, "user", (v = proto_field(root, "user")) ? json_incref(v) : json_null());
    return e;
}

static lm_status translate(json_t *root, resp_request *out, oai_error *err) {
    json_t *jmodel = json_object_get(root, "model");
    if (!jmodel || json_is_null(jmodel)) return oai_fail(err, LM_ERR_INVALID, "model", "model missing in request");
    if (!json_is_string(jmodel)) return fail_type(err, "model", "a string");
    LM_TRY(check_accepted(root, err));
    LM_TRY(refuse_stateful(root, err));
    out->stream = json_is_true(json_object_get(root, "stream"));

    json_t *chat = out->chat;
    json_object_set(chat, "model", jmodel);
    xlate x = {.messages = json_array()};
    json_object_set_new(chat, "messages", x.messages);
    json_t *instr = proto_field(root, "instructions");
    if (instr && !json_is_string(instr)) return fail_type(err, "instructions", "a string");
    if (instr) add_system(&x, json_string_value(instr), json_string_length(instr));
    lm_status s = parse_input(root, &x, err);
    buf_fini(&x.reasoning);
    LM_TRY(s);

    LM_TRY(parse_tools(root, chat, out->namespaces, err));
    LM_TRY(parse_tool_choice(root, chat, err));
    json_t *v;
    if ((v = proto_field(root, "parallel_tool_calls"))) json_object_set(chat, "parallel_tool_calls", v);
    if ((v = proto_field(root, "max_output_tokens"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return fail_type(err, "max_output_tokens", "an integer greater than 0");
        json_object_set(chat, "max_completion_tokens", v);
    }
    if ((v = proto_field(root, "temperature"))) json_object_set(chat, "temperature", v);
    if ((v = proto_field(root, "top_p"))) json_object_set(chat, "top_p", v);
    if ((v = proto_field(root, "chat_template_kwargs"))) {
        if (!json_is_object(v)) return fail_type(err, "chat_template_kwargs", "an object");
        json_object_set_new(chat, "chat_template_kwargs", json_deep_copy(v));
    }
    LM_TRY(parse_text(root, chat, err));
    LM_TRY(parse_reasoning(root, chat, err));
    if (out->stream) json_object_set_new(chat, "stream", json_true());
    return LM_OK;
}

lm_status resp_parse_request(json_t *root, resp_request *out, oai_error *err) {
    memset(out, 0, sizeof *out);
    if (!json_is_object(root)) return oai_fail(err, LM_ERR_INVALID, "", "the request body must be a JSON object");
    out->chat = json_object();
    out->namespaces = json_object();
    if (!out->chat || !out->namespaces) {
        resp_request_fini(out);
        return oai_fail(err, LM_ERR_NOMEM, "", "out of memory");
    }
    lm_status s = translate(root, out, err);
    if (s == LM_OK) out->echo = make_echo(root);
    if (s == LM_OK && !out->echo) s = oai_fail(err, LM_ERR_NOMEM, "", "out of memory");
    if (s != LM_OK) resp_request_fini(out);
    return s;
}

void resp_request_fini(resp_request *r) {
    json_decref(r->chat);
    json_decref(r->echo);
    json_decref(r->namespaces);
    r->chat = r->echo = r->namespaces = NULL;
}

const char *resp_param_name(const char *p) {
    if (!p) return p;
    if (strcmp(p, "max_completion_tokens") == 0 || strcmp(p, "max_tokens") == 0) return "max_output_tokens";
    if (strcmp(p, "response_format") == 0) return "text.format";
    if (strncmp(p, "messages", 8) == 0) return "input";
    return p;
}

/* ================================================================ the writer */

typedef enum { ITEM_NONE, ITEM_MESSAGE, ITEM_REASONING, ITEM_CALL } item_kind;

struct resp_writer {
    json_t *resp;                /* the response object; resp.output holds every item */
    json_t *output;              /* borrowed: resp.output */
    json_t *namespaces;          /* function name -> namespace (owned reference) */
    item_kind open;              /* the item being written */
    json_t *item;                /* borrowed: the open item, in output */
    char item_id[64];
    int output_index;
    lm_buf text;                 /* the open item's text, or a call's arguments */
    long long seq;               /* next sequence_number */
};

resp_writer *resp_writer_create(const char *id, const char *model_name, int64_t created_at, const resp_request *req) {
    resp_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->resp = json_object();
    w->output = json_array();
    if (!w->resp || !w->output) {
        json_decref(w->output);
        resp_writer_destroy(w);
        return NULL;
    }
    json_t *r = w->resp;
    json_object_set_new(r, "id", json_string(id));
    json_object_set_new(r, "object", json_string("response"));
    json_object_set_new(r, "created_at", json_integer(created_at));
    json_object_set_new(r, "status", json_string("in_progress"));
    json_object_set_new(r, "error", json_null());
    json_object_set_new(r, "incomplete_details", json_null());
    json_object_set_new(r, "model", oai_json_string_lossy(model_name, strlen(model_name)));
    json_object_set_new(r, "output", w->output);
    if (req && req->echo) json_object_update(r, req->echo);
    json_object_set_new(r, "usage", json_null());
    w->namespaces = json_incref(req ? req->namespaces : NULL);
    w->output_index = -1;
    return w;
}

void resp_writer_destroy(resp_writer *w) {
    if (!w) return;
    json_decref(w->resp);
    json_decref(w->namespaces);
    buf_fini(&w->text);
    free(w);
}

/* Appends one event: type and sequence_number first, then the fields of `ev` (released). */
static void emit(resp_writer *w, lm_buf *sse, const char *type, json_t *ev) {
    if (!sse) {
        json_decref(ev);
        return;
    }
    json_t *e = json_pack("{s:s, s:I}", "type", type, "sequence_number", (json_int_t)w->seq++);
    json_object_update(e, ev);
    json_decref(ev);
    proto_sse_event(sse, type, e);
}

void resp_writer_begin(resp_writer *w, lm_buf *sse) {
    emit(w, sse, "response.created", json_pack("{s:O}", "response", w->resp));
    emit(w, sse, "response.in_progress", json_pack("{s:O}", "response", w->resp));
}

static json_t *text_part(const char *type, const char *text, size_t len) {
    json_t *p = json_pack("{s:s, s:o}", "type", type, "text", oai_json_string_lossy(text, len));
    if (strcmp(type, "output_text") == 0) {
        json_object_set_new(p, "annotations", json_array());
        json_object_set_new(p, "logprobs", json_array());
    }
    return p;
}

/* Starts an item; `item` (owned) is its empty form, as response.output_item.added shows it. */
static void open_item(resp_writer *w, item_kind kind, const char *prefix, json_t *item, lm_buf *sse) {
    oai_make_id(prefix, w->item_id, sizeof w->item_id);
    json_t *head = json_pack("{s:s}", "id", w->item_id);
    json_object_update(head, item);
    json_decref(item);
    w->open = kind;
    w->item = head;
    w->output_index = (int)json_array_size(w->output);
    json_array_append_new(w->output, head);
    buf_reset(&w->text);
    emit(w, sse, "response.output_item.added",
         json_pack("{s:i, s:o}", "output_index", w->output_index, "item", json_deep_copy(head)));
    if (kind == ITEM_MESSAGE || kind == ITEM_REASONING) {
        emit(w, sse, "response.content_part.added",
             json_pack("{s:s, s:i, s:i, s:o}", "item_id", w->item_id, "output_index", w->output_index, "content_index",
                       0, "part", text_part(kind == ITEM_MESSAGE ? "output_text" : "reasoning_text", "", 0)));
    }
}

/* Finishes the open item with `status`: its full content goes into the output, then the .done
 * events. */
static void close_item(resp_writer *w, const char *status, lm_buf *sse) {
    if (w->open == ITEM_NONE) return;
    const char *text = buf_cstr(&w->text);
    size_t len = w->text.len;
    json_object_set_new(w->item, "status", json_string(status));
    if (w->open == ITEM_CALL) {
        json_t *args = oai_json_string_lossy(text, len);
        json_object_set(w->item, "arguments", args);
        emit(w, sse, "response.function_call_arguments.done",
             json_pack("{s:s, s:i, s:O, s:o}", "item_id", w->item_id, "output_index", w->output_index, "name",
                       json_object_get(w->item, "name"), "arguments", args));
    } else {
        int msg = w->open == ITEM_MESSAGE;
        json_t *part = text_part(msg ? "output_text" : "reasoning_text", text, len);
        json_array_append(json_object_get(w->item, "content"), part);
        json_t *done = json_pack("{s:s, s:i, s:i, s:o}", "item_id", w->item_id, "output_index", w->output_index,
                                 "content_index", 0, "text", oai_json_string_lossy(text, len));
        if (msg) json_object_set_new(done, "logprobs", json_array());
        emit(w, sse, msg ? "response.output_text.done" : "response.reasoning_text.done", done);
        emit(w, sse, "response.content_part.done",
             json_pack("{s:s, s:i, s:i, s:o}", "item_id", w->item_id, "output_index", w->output_index, "content_index",
                       0, "part", part));
    }
    emit(w, sse, "response.output_item.done",
         json_pack("{s:i, s:o}", "output_index", w->output_index, "item", json_deep_copy(w->item)));
    w->open = ITEM_NONE;
    w->item = NULL;
    buf_reset(&w->text);
}

static void delta(resp_writer *w, const char *type, const out_event *ev, lm_buf *sse) {
    buf_append(&w->text, ev->text, ev->len);
    json_t *d = json_pack("{s:s, s:i}", "item_id", w->item_id, "output_index", w->output_index);
    if (w->open != ITEM_CALL) json_object_set_new(d, "content_index", json_integer(0));
    json_object_set_new(d, "delta", oai_json_string_lossy(ev->text ? ev->text : "", ev->len));
    if (w->open == ITEM_MESSAGE) json_object_set_new(d, "logprobs", json_array());
    emit(w, sse, type, d);
}

void resp_writer_event(resp_writer *w, const out_event *ev, lm_buf *sse) {
    switch (ev->kind) {
    case OUT_TEXT:
        if (ev->len == 0) return;
        if (w->open != ITEM_MESSAGE) {
            close_item(w, "completed", sse);
            open_item(w, ITEM_MESSAGE, "msg_",
                      json_pack("{s:s, s:s, s:s, s:[]}", "type", "message", "status", "in_progress", "role",
                                "assistant", "content"),
                      sse);
        }
        delta(w, "response.output_text.delta", ev, sse);
        return;
    case OUT_REASONING:
        if (ev->len == 0) return;
        if (w->open != ITEM_REASONING) {
            close_item(w, "completed", sse);
            open_item(w, ITEM_REASONING, "rs_",
                      json_pack("{s:s, s:s, s:[], s:[]}", "type", "reasoning", "status", "in_progress", "summary",
                                "content"),
                      sse);
        }
        delta(w, "response.reasoning_text.delta", ev, sse);
        return;
    case OUT_TOOL_BEGIN: {
        close_item(w, "completed", sse);
        const char *name = ev->text ? ev->text : "";
        json_t *item = json_pack("{s:s, s:s, s:s, s:s, s:s%}", "type", "function_call", "status", "in_progress",
                                 "arguments", "", "call_id", ev->id ? ev->id : "", "name", name, ev->len);
        const char *ns = json_string_value(json_object_get(w->namespaces, json_string_value(json_object_get(item, "name"))));
        if (ns) json_object_set_new(item, "namespace", json_string(ns));
        open_item(w, ITEM_CALL, "fc_", item, sse);
        return;
    }
    case OUT_TOOL_ARGS:
        if (w->open != ITEM_CALL || ev->len == 0) return; /* arguments belong to the open call */
        delta(w, "response.function_call_arguments.delta", ev, sse);
        return;
    }
}

void resp_writer_end(resp_writer *w, const proto_end *end, lm_buf *sse) {
    json_t *r = w->resp;
    const char *status = "completed", *event = "response.completed";
    if (end->finish == GEN_FINISH_LENGTH) {
        status = "incomplete";
        event = "response.incomplete";
        json_object_set_new(r, "incomplete_details", json_pack("{s:s}", "reason", "max_output_tokens"));
    } else if (end->finish == GEN_FINISH_ERROR || end->finish == GEN_FINISH_CANCELLED) {
        status = "failed";
        event = "response.failed";
        const char *msg = end->finish == GEN_FINISH_CANCELLED ? "the server is shutting down; the request was cancelled"
                          : end->error                        ? end->error->msg
                                                              : "generation failed";
        json_object_set_new(r, "error", json_pack("{s:s, s:o}", "code", "server_error", "message",
                                                  oai_json_string_lossy(msg, strlen(msg))));
    }
    close_item(w, strcmp(status, "completed") == 0 ? "completed" : "incomplete", sse);
    if (json_array_size(w->output) == 0 && strcmp(status, "failed") != 0) {
        /* nothing was generated: an empty message, so the answer still has one */
        open_item(w, ITEM_MESSAGE, "msg_",
                  json_pack("{s:s, s:s, s:s, s:[]}", "type", "message", "status", "in_progress", "role", "assistant",
                            "content"),
                  sse);
        close_item(w, strcmp(status, "completed") == 0 ? "completed" : "incomplete", sse);
    }
    json_object_set_new(r, "status", json_string(status));
    json_object_set_new(
        r, "usage",
        json_pack("{s:I, s:{s:I}, s:I, s:{s:I}, s:I}", "input_tokens", (json_int_t)end->prompt_tokens,
                  "input_tokens_details", "cached_tokens", (json_int_t)end->cached_tokens, "output_tokens",
                  (json_int_t)end->completion_tokens, "output_tokens_details", "reasoning_tokens", (json_int_t)0,
                  "total_tokens", (json_int_t)(end->prompt_tokens + end->completion_tokens)));
    emit(w, sse, event, json_pack("{s:O}", "response", r));
}

json_t *resp_writer_response(const resp_writer *w) {
    return json_deep_copy(w->resp);
}
