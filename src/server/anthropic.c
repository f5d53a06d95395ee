/* anthropic.c — the Anthropic Messages API (anthropic.h): a Messages request becomes a chat
 * completions request; output-chain events become content blocks, unary and as SSE events. */
#include "server/anthropic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* ================================================================ requests */

typedef struct {
    json_t *messages;            /* the chat messages being built */
    json_t *system;              /* the leading system message (borrowed), or NULL */
    int turns;                   /* user/assistant messages so far */
} xlate;

static lm_status fail_type(oai_error *err, const char *path, const char *what) {
    return oai_fail(err, LM_ERR_INVALID, path, "%s: must be %s", path, what);
}

static void add_system(xlate *x, const char *text, size_t len) {
    if (len == 0) return;
    if (!x->system) {
        x->system = json_pack("{s:s, s:s%}", "role", "system", "content", text, len);
        json_array_insert(x->messages, 0, x->system);
        json_decref(x->system); /* the array holds it */
        return;
    }
    lm_buf b = {0};
    buf_append_str(&b, json_string_value(json_object_get(x->system, "content")));
    buf_append_str(&b, "\n\n");
    buf_append(&b, text, len);
    json_object_set_new(x->system, "content", json_stringn(buf_cstr(&b), b.len));
    buf_fini(&b);
}

/* Text of a string or an array of text blocks (joined with "\n"). Other block types are refused,
 * except in a tool result (tool_result = 1): there an image or document becomes a note and a
 * tool_reference (Claude Code's tool search) its tool's name, so that an agent's loop goes on. */
static lm_status text_blocks(json_t *v, const char *path, int tool_result, lm_buf *out, oai_error *err) {
    if (json_is_string(v)) {
        buf_append(out, json_string_value(v), json_string_length(v));
        return LM_OK;
    }
    if (!json_is_array(v)) return fail_type(err, path, "a string or an array of text blocks");
    char p[256];
    size_t i;
    json_t *b;
    json_array_foreach(v, i, b) {
        snprintf(p, sizeof p, "%s.%zu", path, i);
        if (!json_is_object(b)) return fail_type(err, p, "an object");
        const char *type = json_string_value(json_object_get(b, "type"));
        if (!type) return oai_fail(err, LM_ERR_INVALID, p, "%s.type: Field required", p);
        if (tool_result && (strcmp(type, "image") == 0 || strcmp(type, "document") == 0)) {
            log_info("messages: %s of type '%s' in a tool result replaced by a note", p, type);
            if (out->len > 0) buf_append_char(out, '\n');
            buf_printf(out, "[%s omitted: lmserve serves text-only models]", type);
            continue;
        }
        if (tool_result && strcmp(type, "tool_reference") == 0) {
            const char *name = json_string_value(json_object_get(b, "tool_name"));
            if (out->len > 0) buf_append_char(out, '\n');
            buf_printf(out, "[tool loaded: %s]", name ? name : "?");
            continue;
        }
        if (strcmp(type, "text") != 0)
            return oai_fail(err, LM_ERR_UNSUPPORTED, p,
                            "%s: content block type '%s' is not supported here: lmserve serves text-only models", p,
                            type);
        json_t *t = json_object_get(b, "text");
        if (!json_is_string(t)) {
            snprintf(p, sizeof p, "%s.%zu.text", path, i);
            return fail_type(err, p, "a string");
        }
        if (out->len > 0) buf_append_char(out, '\n');
        buf_append(out, json_string_value(t), json_string_length(t));
    }
    return LM_OK;
}

/* A tool_use block as a chat tool call (arguments: the input object). */
static lm_status tool_use_call(json_t *b, const char *path, json_t *calls, oai_error *err) {
    char p[320];
    json_t *id = json_object_get(b, "id"), *name = json_object_get(b, "name"), *input = json_object_get(b, "input");
    snprintf(p, sizeof p, "%s.id", path);
    if (!json_is_string(id)) return fail_type(err, p, "a string");
    snprintf(p, sizeof p, "%s.name", path);
    if (!json_is_string(name)) return fail_type(err, p, "a string");
    snprintf(p, sizeof p, "%s.input", path);
    if (input && !json_is_object(input)) return fail_type(err, p, "an object");
    json_array_append_new(calls, json_pack("{s:O, s:s, s:{s:O, s:o}}", "id", id, "type", "function", "function", "name",
                                           name, "arguments", input ? json_deep_copy(input) : json_object()));
    return LM_OK;
}

static int skipped_block(const char *type) {
    static const char *const skipped[] = {"redacted_thinking", "server_tool_use", "web_search_tool_result",
                                          "web_fetch_tool_result", "code_execution_tool_result",
                                          "mcp_tool_use", "mcp_tool_result", "container_upload"};
    for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; i++)
        if (strcmp(type, skipped[i]) == 0) return 1;
    return 0;
}

/* One message: user content may carry tool results (each becomes a chat "tool" message, in
 * order, before the user's own text); assistant content may carry thinking and tool calls. */
static lm_status parse_message(xlate *x, json_t *m, const char *path, oai_error *err) {
    char p[256];
    snprintf(p, sizeof p, "%s.role", path);
    const char *role = json_string_value(json_object_get(m, "role"));
    if (!role) return oai_fail(err, LM_ERR_INVALID, p, "%s: Field required", p);
    int user = strcmp(role, "user") == 0, assistant = strcmp(role, "assistant") == 0;
    int system = strcmp(role, "system") == 0;
    if (!user && !assistant && !system)
        return oai_fail(err, LM_ERR_INVALID, p, "%s: Input should be 'user' or 'assistant'", p);
    snprintf(p, sizeof p, "%s.content", path);
    json_t *content = json_object_get(m, "content");
    if (!content) return oai_fail(err, LM_ERR_INVALID, p, "%s: Field required", p);
    lm_buf text = {0}, thinking = {0};
    lm_status s = LM_OK;
    if (system) {
        s = text_blocks(content, p, 0, &text, err);
        if (s == LM_OK && x->turns == 0) {
            add_system(x, buf_cstr(&text), text.len);
        } else if (s == LM_OK) {
            json_array_append_new(x->messages,
                                  json_pack("{s:s, s:s%}", "role", "system", "content", buf_cstr(&text), text.len));
        }
        buf_fini(&text);
        return s;
    }
    json_t *calls = json_array();
    if (json_is_string(content)) {
        buf_append(&text, json_string_value(content), json_string_length(content));
    } else if (!json_is_array(content)) {
        s = fail_type(err, p, "a string or an array of content blocks");
    } else {
        size_t i;
        json_t *b;
        json_array_foreach(content, i, b) {
            snprintf(p, sizeof p, "%s.content.%zu", path, i);
            const char *type = json_is_object(b) ? json_string_value(json_object_get(b, "type")) : NULL;
            if (!type) {
                s = oai_fail(err, LM_ERR_INVALID, p, "%s: must be a content block object with a type", p);
                break;
            }
            if (strcmp(type, "text") == 0) {
                json_t *t = json_object_get(b, "text");
                if (!json_is_string(t)) {
                    s = fail_type(err, p, "a text block with a string text");
                    break;
                }
                if (text.len > 0) buf_append_char(&text, '\n');
                buf_append(&text, json_string_value(t), json_string_length(t));
            } else if (strcmp(type, "tool_use") == 0 && assistant) {
                if ((s = tool_use_call(b, p, calls, err)) != LM_OK) break;
            } else if (strcmp(type, "tool_result") == 0 && user) {
                char q[320];
                json_t *id = json_object_get(b, "tool_use_id");
                snprintf(q, sizeof q, "%s.tool_use_id", p);
                if (!json_is_string(id)) {
                    s = fail_type(err, q, "a string");
                    break;
                }
                lm_buf out = {0};
                json_t *c = proto_field(b, "content");
                snprintf(q, sizeof q, "%s.content", p);
                if (c) s = text_blocks(c, q, 1, &out, err);
                if (s == LM_OK)
                    json_array_append_new(x->messages, json_pack("{s:s, s:O, s:s%}", "role", "tool", "tool_call_id", id,
                                                                 "content", buf_cstr(&out), out.len));
                buf_fini(&out);
                if (s != LM_OK) break;
            } else if (strcmp(type, "thinking") == 0 && assistant) {
                json_t *t = json_object_get(b, "thinking");
                if (!json_is_string(t)) {
                    s = fail_type(err, p, "a thinking block with a string thinking");
                    break;
                }
                buf_append(&thinking, json_string_value(t), json_string_length(t));
            } else if (skipped_block(type)) {
                log_info("messages: %s of type '%s' skipped", p, type);
            } else if (strcmp(type, "image") == 0 || strcmp(type, "document") == 0 ||
                       strcmp(type, "search_result") == 0) {
                s = oai_fail(err, LM_ERR_UNSUPPORTED, p,
                             "%s: content block type '%s' is not supported: lmserve serves text-only models", p, type);
                break;
            } else {
                s = oai_fail(err, LM_ERR_INVALID, p, "%s: content block type '%s' is not valid in a %s message", p,
                             type, role);
                break;
            }
        }
    }
    if (s == LM_OK && (text.len > 0 || json_array_size(calls) > 0 || thinking.len > 0 || json_is_string(content) ||
                       (!assistant && json_array_size(content) == 0))) {
        json_t *msg = json_pack("{s:s, s:s%}", "role", role, "content", buf_cstr(&text), text.len);
        if (json_array_size(calls) > 0) json_object_set(msg, "tool_calls", calls);
        if (thinking.len > 0)
            json_object_set_new(msg, "reasoning_content", json_stringn(buf_cstr(&thinking), thinking.len));
        json_array_append_new(x->messages, msg);
    }
    if (s == LM_OK) x->turns++;
    json_decref(calls);
    buf_fini(&text);
    buf_fini(&thinking);
    return s;
}

static lm_status parse_messages(json_t *root, xlate *x, oai_error *err) {
    json_t *sys = proto_field(root, "system");
    if (sys) {
        lm_buf t = {0};
        lm_status s = text_blocks(sys, "system", 0, &t, err);
        if (s == LM_OK) add_system(x, buf_cstr(&t), t.len);
        buf_fini(&t);
        LM_TRY(s);
    }
    json_t *msgs = json_object_get(root, "messages");
    if (!msgs) return oai_fail(err, LM_ERR_INVALID, "messages", "messages: Field required");
    if (!json_is_array(msgs)) return fail_type(err, "messages", "an array");
    char p[64];
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        snprintf(p, sizeof p, "messages.%zu", i);
        if (!json_is_object(m)) return fail_type(err, p, "an object");
        LM_TRY(parse_message(x, m, p, err));
    }
    if (x->turns == 0) return oai_fail(err, LM_ERR_INVALID, "messages", "messages: at least one message is required");
    return LM_OK;
}

static lm_status parse_tools(json_t *root, json_t *chat, oai_error *err) {
    json_t *tools = proto_field(root, "tools");
    if (!tools) return LM_OK;
    if (!json_is_array(tools)) return fail_type(err, "tools", "an array");
    json_t *out = json_array();
    json_object_set_new(chat, "tools", out);
    char p[64], q[96];
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        snprintf(p, sizeof p, "tools.%zu", i);
        if (!json_is_object(t)) return fail_type(err, p, "an object");
        json_t *type = proto_field(t, "type");
        if (type && !json_is_string(type)) {
            snprintf(q, sizeof q, "%s.type", p);
            return fail_type(err, q, "a string");
        }
        if (type && strcmp(json_string_value(type), "custom") != 0) {
            log_info("messages: %s of type '%s' skipped (only custom tools are offered)", p, json_string_value(type));
            continue;
        }
        json_t *name = json_object_get(t, "name");
        snprintf(q, sizeof q, "%s.name", p);
        if (!json_is_string(name) || json_string_length(name) == 0) return fail_type(err, q, "a non-empty string");
        json_t *schema = json_object_get(t, "input_schema");
        snprintf(q, sizeof q, "%s.input_schema", p);
        if (!json_is_object(schema)) return fail_type(err, q, "an object (a JSON schema)");
        json_t *fn = json_pack("{s:O}", "name", name);
        json_t *desc = proto_field(t, "description");
        snprintf(q, sizeof q, "%s.description", p);
        if (desc && !json_is_string(desc)) {
            json_decref(fn);
            return fail_type(err, q, "a string");
        }
        if (desc) json_object_set(fn, "description", desc);
        json_object_set(fn, "parameters", schema);
        json_array_append_new(out, json_pack("{s:s, s:o}", "type", "function", "function", fn));
    }
    return LM_OK;
}

static lm_status parse_tool_choice(json_t *root, json_t *chat, oai_error *err) {
    json_t *tc = proto_field(root, "tool_choice");
    if (!tc) return LM_OK;
    if (!json_is_object(tc)) return fail_type(err, "tool_choice", "an object");
    const char *type = json_string_value(json_object_get(tc, "type"));
    if (!type) return oai_fail(err, LM_ERR_INVALID, "tool_choice.type", "tool_choice.type: Field required");
    json_t *dp = proto_field(tc, "disable_parallel_tool_use");
    if (dp && !json_is_boolean(dp)) return fail_type(err, "tool_choice.disable_parallel_tool_use", "a boolean");
    if (json_is_true(dp)) json_object_set_new(chat, "parallel_tool_calls", json_false());
    if (strcmp(type, "auto") == 0 || strcmp(type, "none") == 0) {
        json_object_set_new(chat, "tool_choice", json_string(type));
    } else if (strcmp(type, "any") == 0) {
        json_object_set_new(chat, "tool_choice", json_string("required"));
    } else if (strcmp(type, "tool") == 0) {
        json_t *name = json_object_get(tc, "name");
        if (!json_is_string(name)) return fail_type(err, "tool_choice.name", "a string");
        json_object_set_new(chat, "tool_choice", json_pack("{s:s, s:{s:O}}", "type", "function", "function", "name", name));
    } else {
        return oai_fail(err, LM_ERR_INVALID, "tool_choice.type",
                        "tool_choice.type: must be 'auto', 'any', 'tool' or 'none': got '%s'", type);
    }
    return LM_OK;
}

/* thinking: the template's thinking switch. */
static lm_status parse_thinking(json_t *root, json_t *chat, oai_error *err) {
    json_t *th = proto_field(root, "thinking");
    if (!th) return LM_OK;
    if (!json_is_object(th)) return fail_type(err, "thinking", "an object");
    const char *type = json_string_value(json_object_get(th, "type"));
    int on;
    if (type && (strcmp(type, "enabled") == 0 || strcmp(type, "adaptive") == 0)) {
        on = 1;
    } else if (type && strcmp(type, "disabled") == 0) {
        on = 0;
    } else {
        return oai_fail(err, LM_ERR_INVALID, "thinking.type", "thinking.type: must be 'enabled', 'adaptive' or 'disabled'");
    }
    json_t *budget = proto_field(th, "budget_tokens");
    if (budget && !json_is_integer(budget)) return fail_type(err, "thinking.budget_tokens", "an integer");
    json_object_set_new(chat, "chat_template_kwargs", json_pack("{s:b}", "enable_thinking", on));
    return LM_OK;
}

/* output_config: format is structured output; effort has no switch here and is accepted. */
static lm_status parse_output_config(json_t *root, json_t *chat, oai_error *err) {
    json_t *oc = proto_field(root, "output_config");
    if (!oc) return LM_OK;
    if (!json_is_object(oc)) return fail_type(err, "output_config", "an object");
    json_t *effort = proto_field(oc, "effort");
    if (effort && !json_is_string(effort)) return fail_type(err, "output_config.effort", "a string");
    json_t *fmt = proto_field(oc, "format");
    if (!fmt) return LM_OK;
    if (!json_is_object(fmt)) return fail_type(err, "output_config.format", "an object");
    const char *type = json_string_value(json_object_get(fmt, "type"));
    json_t *schema = json_object_get(fmt, "schema");
    if (!type || strcmp(type, "json_schema") != 0)
        return oai_fail(err, LM_ERR_INVALID, "output_config.format.type", "output_config.format.type: must be 'json_schema'");
    if (!json_is_object(schema)) return fail_type(err, "output_config.format.schema", "an object (a JSON schema)");
    json_object_set_new(chat, "response_format", json_pack("{s:s, s:{s:s, s:O}}", "type", "json_schema", "json_schema",
                                                           "name", "output", "schema", schema));
    return LM_OK;
}

static lm_status parse_sampling(json_t *root, json_t *chat, int count_tokens, oai_error *err) {
    json_t *mt = proto_field(root, "max_tokens");
    if (!mt && !count_tokens) return oai_fail(err, LM_ERR_INVALID, "max_tokens", "max_tokens: Field required");
    if (mt && (!json_is_integer(mt) || json_integer_value(mt) < 1))
        return fail_type(err, "max_tokens", "an integer greater than 0");
    if (mt) json_object_set(chat, "max_completion_tokens", mt);
    json_t *t = proto_field(root, "temperature");
    if (t && (!json_is_number(t) || json_number_value(t) < 0 || json_number_value(t) > 1))
        return fail_type(err, "temperature", "a number in [0, 1]");
    if (t) json_object_set(chat, "temperature", t);
    json_t *tp = proto_field(root, "top_p");
    if (tp && (!json_is_number(tp) || json_number_value(tp) <= 0 || json_number_value(tp) > 1))
        return fail_type(err, "top_p", "a number in (0, 1]");
    if (tp) json_object_set(chat, "top_p", tp);
    json_t *tk = proto_field(root, "top_k");
    if (tk && (!json_is_integer(tk) || json_integer_value(tk) < 0))
        return fail_type(err, "top_k", "a non-negative integer");
    if (tk) json_object_set(chat, "top_k", tk);
    json_t *ss = proto_field(root, "stop_sequences");
    if (ss) {
        if (!json_is_array(ss)) return fail_type(err, "stop_sequences", "an array of strings");
        size_t i;
        json_t *v;
        json_array_foreach(ss, i, v) {
            if (!json_is_string(v) || json_string_length(v) == 0)
                return fail_type(err, "stop_sequences", "an array of non-empty strings");
        }
        if (json_array_size(ss) > 0) json_object_set(chat, "stop", ss);
    }
    json_t *st = proto_field(root, "stream");
    if (st && !json_is_boolean(st)) return fail_type(err, "stream", "a boolean");
    return LM_OK;
}

static lm_status check_accepted(json_t *root, oai_error *err) {
    static const char *const objects[] = {"metadata", "context_management"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = proto_field(root, objects[i]);
        if (v && !json_is_object(v)) return fail_type(err, objects[i], "an object");
    }
    json_t *tier = proto_field(root, "service_tier");
    if (tier && !json_is_string(tier)) return fail_type(err, "service_tier", "a string");
    json_t *mcp = proto_field(root, "mcp_servers");
    if (mcp && json_array_size(mcp) > 0)
        return oai_fail(err, LM_ERR_UNSUPPORTED, "mcp_servers", "mcp_servers: remote MCP servers are not supported");
    json_t *container = proto_field(root, "container");
    if (container)
        return oai_fail(err, LM_ERR_UNSUPPORTED, "container", "container: code execution containers are not supported");
    return LM_OK;
}

lm_status anth_parse_request(json_t *root, int count_tokens, anth_request *out, oai_error *err) {
    memset(out, 0, sizeof *out);
    if (!json_is_object(root)) return oai_fail(err, LM_ERR_INVALID, "", "the request body must be a JSON object");
    json_t *jmodel = json_object_get(root, "model");
    if (!jmodel || json_is_null(jmodel)) return oai_fail(err, LM_ERR_INVALID, "model", "model: Field required");
    if (!json_is_string(jmodel)) return fail_type(err, "model", "a string");
    out->chat = json_pack("{s:O}", "model", jmodel);
    if (!out->chat) return oai_fail(err, LM_ERR_NOMEM, "", "out of memory");
    xlate x = {.messages = json_array()};
    json_object_set_new(out->chat, "messages", x.messages);
    lm_status s = check_accepted(root, err);
    if (s == LM_OK) s = parse_sampling(root, out->chat, count_tokens, err);
    if (s == LM_OK) s = parse_messages(root, &x, err);
    if (s == LM_OK) s = parse_tools(root, out->chat, err);
    if (s == LM_OK) s = parse_tool_choice(root, out->chat, err);
    if (s == LM_OK) s = parse_thinking(root, out->chat, err);
    if (s == LM_OK) s = parse_output_config(root, out->chat, err);
    if (s != LM_OK) {
        anth_request_fini(out);
        return s;
    }
    out->stream = !count_tokens && json_is_true(json_object_get(root, "stream"));
    if (out->stream) json_object_set_new(out->chat, "stream", json_true());
    return LM_OK;
}

void anth_request_fini(anth_request *r) {
    json_decref(r->chat);
    r->chat = NULL;
}

json_t *anth_error_body(int http_status, const char *message) {
    const char *type = "api_error";
    switch (http_status) {
    case 400: type = "invalid_request_error"; break;
    case 401: type = "authentication_error"; break;
    case 403: type = "permission_error"; break;
    case 404: type = "not_found_error"; break;
    case 413: type = "request_too_large"; break;
    case 429: type = "rate_limit_error"; break;
    case 503: type = "overloaded_error"; break;
    default:
        if (http_status < 500) type = "invalid_request_error";
    }
    return json_pack("{s:s, s:{s:s, s:o}}", "type", "error", "error", "type", type, "message",
                     oai_json_string_lossy(message, strlen(message)));
}

/* ================================================================ the writer */

typedef enum { BLOCK_NONE, BLOCK_TEXT, BLOCK_THINKING, BLOCK_TOOL } block_kind;

struct anth_writer {
    json_t *msg;                 /* the message; msg.content holds every block */
    json_t *content;             /* borrowed: msg.content */
    block_kind open;
    json_t *block;               /* borrowed: the open block, in content */
    int index;                   /* the open block's index */
    lm_buf text;                 /* the open block's text, or a tool call's input JSON */
    size_t prompt_tokens;
    int tool_calls;              /* tool_use blocks so far */
    int failed;
    int fail_status;
    char fail_msg[LM_ERROR_MSG_MAX];
};

anth_writer *anth_writer_create(const char *id, const char *model_name, size_t prompt_tokens) {
    anth_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->content = json_array();
    w->msg = json_pack("{s:s, s:s, s:s, s:o, s:o, s:n, s:n, s:{s:I, s:I, s:I, s:I}}", "id", id, "type", "message",
                       "role", "assistant", "model", oai_json_string_lossy(model_name, strlen(model_name)), "content", w->content,
                       "stop_reason", "stop_sequence", "usage", "input_tokens", (json_int_t)prompt_tokens,
                       "output_tokens", (json_int_t)0, "cache_creation_input_tokens", (json_int_t)0,
                       "cache_read_input_tokens", (json_int_t)0);
    if (!w->msg) {
        free(w);
        return NULL;
    }
    w->prompt_tokens = prompt_tokens;
    w->index = -1;
    return w;
}

void anth_writer_destroy(anth_writer *w) {
    if (!w) return;
    json_decref(w->msg);
    buf_fini(&w->text);
    free(w);
}

static void emit(lm_buf *sse, const char *type, json_t *ev) {
    if (!sse) {
        json_decref(ev);
        return;
    }
    json_t *e = json_pack("{s:s}", "type", type);
    json_object_update(e, ev);
    json_decref(ev);
    proto_sse_event(sse, type, e);
}

void anth_writer_begin(anth_writer *w, lm_buf *sse) {
    emit(sse, "message_start", json_pack("{s:O}", "message", w->msg));
    emit(sse, "ping", json_object());
}

/* Starts a block; `block` (owned) is its empty form, as content_block_start shows it. */
static void open_block(anth_writer *w, block_kind kind, json_t *block, lm_buf *sse) {
    w->open = kind;
    w->block = block;
    w->index = (int)json_array_size(w->content);
    json_array_append_new(w->content, block);
    buf_reset(&w->text);
    emit(sse, "content_block_start",
         json_pack("{s:i, s:o}", "index", w->index, "content_block", json_deep_copy(block)));
}

static void close_block(anth_writer *w, lm_buf *sse) {
    if (w->open == BLOCK_NONE) return;
    const char *text = buf_cstr(&w->text);
    if (w->open == BLOCK_TEXT) {
        json_object_set_new(w->block, "text", oai_json_string_lossy(text, w->text.len));
    } else if (w->open == BLOCK_THINKING) {
        json_object_set_new(w->block, "thinking", oai_json_string_lossy(text, w->text.len));
    } else {
        /* the arguments are a JSON object by the output chain's contract; anything else (a
         * truncated call) becomes an empty input rather than a broken block */
        json_t *input = json_loadb(text, w->text.len, 0, NULL);
        if (!json_is_object(input)) {
            json_decref(input);
            input = json_object();
        }
        json_object_set_new(w->block, "input", input);
    }
    emit(sse, "content_block_stop", json_pack("{s:i}", "index", w->index));
    w->open = BLOCK_NONE;
    w->block = NULL;
    buf_reset(&w->text);
}

static void delta(anth_writer *w, const char *type, const char *key, const out_event *ev, lm_buf *sse) {
    buf_append(&w->text, ev->text, ev->len);
    emit(sse, "content_block_delta",
         json_pack("{s:i, s:{s:s, s:o}}", "index", w->index, "delta", "type", type, key,
                   oai_json_string_lossy(ev->text ? ev->text : "", ev->len)));
}

void anth_writer_event(anth_writer *w, const out_event *ev, lm_buf *sse) {
    switch (ev->kind) {
    case OUT_TEXT:
        if (ev->len == 0) return;
        if (w->open != BLOCK_TEXT) {
            close_block(w, sse);
            open_block(w, BLOCK_TEXT, json_pack("{s:s, s:s}", "type", "text", "text", ""), sse);
        }
        delta(w, "text_delta", "text", ev, sse);
        return;
    case OUT_REASONING:
        if (ev->len == 0) return;
        if (w->open != BLOCK_THINKING) {
            close_block(w, sse);
            open_block(w, BLOCK_THINKING, json_pack("{s:s, s:s, s:s}", "type", "thinking", "thinking", "", "signature", ""),
                       sse);
        }
        delta(w, "thinking_delta", "thinking", ev, sse);
        return;
    case OUT_TOOL_BEGIN:
        close_block(w, sse);
        open_block(w, BLOCK_TOOL,
                   json_pack("{s:s, s:s, s:s%, s:{}}", "type", "tool_use", "id", ev->id ? ev->id : "", "name",
                             ev->text ? ev->text : "", ev->text ? ev->len : 0, "input"),
                   sse);
        w->tool_calls++;
        return;
    case OUT_TOOL_ARGS:
        if (w->open != BLOCK_TOOL || ev->len == 0) return;
        delta(w, "input_json_delta", "partial_json", ev, sse);
        return;
    }
}

void anth_writer_end(anth_writer *w, const proto_end *end, lm_buf *sse) {
    close_block(w, sse);
    if (end->finish == GEN_FINISH_ERROR || end->finish == GEN_FINISH_CANCELLED) {
        w->failed = 1;
        int cancelled = end->finish == GEN_FINISH_CANCELLED;
        w->fail_status = cancelled ? 503 : end->error ? oai_http_status(end->error->code) : 500;
        snprintf(w->fail_msg, sizeof w->fail_msg, "%s",
                 cancelled    ? "the server is shutting down; the request was cancelled"
                 : end->error ? end->error->msg
                              : "generation failed");
        json_t *body = anth_error_body(w->fail_status, w->fail_msg);
        emit(sse, "error", json_pack("{s:O}", "error", json_object_get(body, "error")));
        json_decref(body);
        return;
    }
    const char *reason = "end_turn";
    if (end->finish == GEN_FINISH_LENGTH) reason = "max_tokens";
    else if (end->stop_sequence) reason = "stop_sequence";
    else if (w->tool_calls > 0) reason = "tool_use";
    json_object_set_new(w->msg, "stop_reason", json_string(reason));
    json_object_set_new(w->msg, "stop_sequence",
                        end->stop_sequence && end->finish != GEN_FINISH_LENGTH ? json_string(end->stop_sequence)
                                                                               : json_null());
    /* Anthropic counts input_tokens without the cache reads */
    size_t cached = end->cached_tokens <= end->prompt_tokens ? end->cached_tokens : end->prompt_tokens;
    json_t *usage = json_pack("{s:I, s:I, s:I, s:I}", "input_tokens", (json_int_t)(end->prompt_tokens - cached),
                              "output_tokens", (json_int_t)end->completion_tokens, "cache_creation_input_tokens",
                              (json_int_t)0, "cache_read_input_tokens", (json_int_t)cached);
    json_object_set(w->msg, "usage", usage);
    emit(sse, "message_delta",
         json_pack("{s:{s:O, s:O}, s:o}", "delta", "stop_reason", json_object_get(w->msg, "stop_reason"), "stop_sequence",
                   json_object_get(w->msg, "stop_sequence"), "usage", usage));
    emit(sse, "message_stop", json_object());
}

int anth_writer_failed(const anth_writer *w, int *status, const char **message) {
    if (!w->failed) return 0;
    if (status) *status = w->fail_status;
    if (message) *message = w->fail_msg;
    return 1;
}

json_t *anth_writer_message(const anth_writer *w) {
    return json_deep_copy(w->msg);
}
