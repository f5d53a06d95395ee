/* oai_request.c — parsing and validating OpenAI chat/completions/tokenize requests (oai.h).
 * Every check names the field and the rule; messages follow OVMS's wording where it has one. The
 * HTTP status is decided by the caller from the lm_status (oai_http_status). */
#include "server/oai.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

void oai_error_clear(oai_error *err) {
    err_clear(&err->e);
    err->param[0] = '\0';
}

lm_status oai_fail(oai_error *err, lm_status code, const char *param, const char *fmt, ...) {
    if (!err) return code;
    if (err->e.code != LM_OK) return err->e.code;
    va_list ap;
    va_start(ap, fmt);
    char msg[LM_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err_set(&err->e, code, "%s", msg);
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    return code;
}

/* Deepest nesting of objects and arrays in `body`, stopping as soon as it passes `limit`;
 * brackets inside strings do not count. Malformed JSON is left for the parser to report. */
static int json_depth_over(const char *body, size_t len, int limit, size_t *at) {
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > limit) {
                *at = i;
                return 1;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

lm_status oai_parse_json(const char *body, size_t len, json_t **out, oai_error *err) {
    *out = NULL;
    if (len == 0)
        return oai_fail(err, LM_ERR_FORMAT, "", "request body is empty; expected a JSON object");
    size_t at = 0;
    if (json_depth_over(body, len, LM_REQ_MAX_JSON_DEPTH, &at)) {
        lm_status s = oai_fail(err, LM_ERR_LIMIT, "", "the JSON body nests deeper than %d levels (at byte %zu)",
                               LM_REQ_MAX_JSON_DEPTH, at);
        err->e.offset = (int64_t)at;
        return s;
    }
    json_error_t je;
    /* JSON_ALLOW_NUL is off: a \u0000 in a string is an error, so every string is a C string. */
    json_t *root = json_loadb(body, len, 0, &je);
    if (!root) {
        int utf8 = strncmp(je.text, "unable to decode byte", 21) == 0;
        lm_status s = oai_fail(err, LM_ERR_FORMAT, "", "invalid JSON at byte %d (line %d, column %d): %s%s",
                               je.position, je.line, je.column, je.text,
                               utf8 ? " (request bodies must be UTF-8)" : "");
        err->e.offset = je.position;
        return s;
    }
    *out = root;
    return LM_OK;
}

/* ---------------------------------------------------------------- field readers */

/* Each reader looks up `key` in `obj`: absent or null leaves *out alone and returns LM_OK
 * (optional fields); a value of the wrong type or range is an error naming `key`. *present tells
 * whether a value was there. */

static json_t *field(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return (v && !json_is_null(v)) ? v : NULL;
}

static lm_status read_bool(json_t *obj, const char *key, int *out, int *present, oai_error *err) {
    json_t *v = field(obj, key);
    if (present) *present = v != NULL;
    if (!v) return LM_OK;
    if (!json_is_boolean(v))
        return oai_fail(err, LM_ERR_INVALID, key, "%s accepts values true or false", key);
    *out = json_is_true(v);
    return LM_OK;
}

/* A number in [lo, hi]; lo_open/hi_open exclude the bound. */
static lm_status read_number(json_t *obj, const char *key, double lo, int lo_open, double hi,
                             int hi_open, float *out, int *present, oai_error *err) {
    json_t *v = field(obj, key);
    if (present) *present = v != NULL;
    if (!v) return LM_OK;
    if (!json_is_number(v))
        return oai_fail(err, LM_ERR_INVALID, key, "%s is not a valid number", key);
    double d = json_number_value(v);
    int bad = !isfinite(d) || (lo_open ? d <= lo : d < lo) || (hi_open ? d >= hi : d > hi);
    if (bad) {
        if (isinf(hi))
            return oai_fail(err, LM_ERR_INVALID, key, "%s out of range%c%g, inf): got %g", key,
                            lo_open ? '(' : '[', lo, d);
        return oai_fail(err, LM_ERR_INVALID, key, "%s out of range%c%g, %g%c: got %g", key,
                        lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']', d);
    }
    *out = (float)d;
    return LM_OK;
}

/* An integer in [lo, hi]. A real with an integral value (10.0) counts as an integer. */
static lm_status read_int(json_t *obj, const char *key, int64_t lo, int64_t hi, int64_t *out,
                          int *present, const char *what, oai_error *err) {
    json_t *v = field(obj, key);
    if (present) *present = v != NULL;
    if (!v) return LM_OK;
    int64_t x;
    if (json_is_integer(v)) {
        x = (int64_t)json_integer_value(v);
    } else if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) &&
               fabs(json_real_value(v)) < 9.0e15) {
        x = (int64_t)json_real_value(v);
    } else {
        return oai_fail(err, LM_ERR_INVALID, key, "%s is not %s", key, what);
    }
    if (x < lo) {
        if (lo == 1) return oai_fail(err, LM_ERR_INVALID, key, "%s value should be greater than 0", key);
        return oai_fail(err, LM_ERR_INVALID, key, "%s value should be at least %lld: got %lld", key,
                        (long long)lo, (long long)x);
    }
    if (x > hi)
        return oai_fail(err, LM_ERR_INVALID, key, "%s value can't be greater than %lld: got %lld", key,
                        (long long)hi, (long long)x);
    *out = x;
    return LM_OK;
}

/* ---------------------------------------------------------------- messages */

/* Joins a content-part array's text parts into one string (parts separated by "\n"). Image and
 * audio parts are refused: lmserve serves text-only models. */
static lm_status join_content_parts(json_t *parts, const char *path, json_t **out, oai_error *err) {
    char p[192]; /* the parent path (< 128) plus an index */
    if (json_array_size(parts) == 0)
        return oai_fail(err, LM_ERR_INVALID, path, "Invalid message structure - content array is empty");
    lm_buf text = {0};
    size_t i;
    json_t *part;
    json_array_foreach(parts, i, part) {
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        if (!json_is_object(part)) {
            buf_fini(&text);
            return oai_fail(err, LM_ERR_INVALID, p,
                            "Invalid message structure - content array should contain objects");
        }
        const char *type = json_string_value(json_object_get(part, "type"));
        if (!type) {
            buf_fini(&text);
            return oai_fail(err, LM_ERR_INVALID, p, "Invalid message structure - content object type missing");
        }
        if (strcmp(type, "text") != 0) {
            buf_fini(&text);
            return oai_fail(err, LM_ERR_UNSUPPORTED, p,
                            "content part type '%s' is not supported: lmserve serves text-only models "
                            "(only \"text\" parts are accepted)", type);
        }
        json_t *t = json_object_get(part, "text");
        if (!json_is_string(t)) {
            buf_fini(&text);
            return oai_fail(err, LM_ERR_INVALID, p, "Invalid message structure - content text missing");
        }
        if (i > 0) buf_append_char(&text, '\n');
        buf_append(&text, json_string_value(t), json_string_length(t));
    }
    if (text.oom) {
        buf_fini(&text);
        return oai_fail(err, LM_ERR_NOMEM, path, "out of memory joining content parts");
    }
    *out = json_stringn(text.data ? text.data : "", text.len);
    buf_fini(&text);
    return *out ? LM_OK : oai_fail(err, LM_ERR_NOMEM, path, "out of memory");
}

/* Checks one tool call of an assistant message and gives its "arguments" the shape chat templates
 * expect: an object (a JSON string holding an object is parsed; missing arguments become {}). */
static lm_status normalize_tool_call(json_t *call, const char *path, oai_error *err) {
    char p[192]; /* the parent path (< 128) plus a suffix */
    if (!json_is_object(call))
        return oai_fail(err, LM_ERR_INVALID, path, "Each tool_call must be an object");
    json_t *fn = json_object_get(call, "function");
    snprintf(p, sizeof p, "%s.function", path);
    if (!json_is_object(fn))
        return oai_fail(err, LM_ERR_INVALID, p, "Each tool_call must have a 'function' object");
    snprintf(p, sizeof p, "%s.function.name", path);
    if (!json_is_string(json_object_get(fn, "name")))
        return oai_fail(err, LM_ERR_INVALID, p, "tool_call function name is not a string");
    json_t *args = field(fn, "arguments");
    snprintf(p, sizeof p, "%s.function.arguments", path);
    if (!args) {
        json_object_set_new(fn, "arguments", json_object());
    } else if (json_is_string(args)) {
        json_t *parsed = json_loadb(json_string_value(args), json_string_length(args), 0, NULL);
        if (json_is_object(parsed))
            json_object_set_new(fn, "arguments", parsed);
        else
            json_decref(parsed); /* not an object: the template sees the string as sent */
    } else if (!json_is_object(args)) {
        return oai_fail(err, LM_ERR_INVALID, p, "tool_call arguments must be a JSON string or object");
    }
    return LM_OK;
}

static lm_status parse_messages(json_t *root, oai_request *r, oai_error *err) {
    json_t *msgs = json_object_get(root, "messages");
    if (!msgs || json_is_null(msgs))
        return oai_fail(err, LM_ERR_INVALID, "messages", "Messages missing in request");
    if (!json_is_array(msgs))
        return oai_fail(err, LM_ERR_INVALID, "messages", "Messages are not an array");
    if (json_array_size(msgs) == 0)
        return oai_fail(err, LM_ERR_INVALID, "messages", "Messages array cannot be empty");
    if (json_array_size(msgs) > LM_REQ_MAX_MESSAGES)
        return oai_fail(err, LM_ERR_LIMIT, "messages", "too many messages: %zu (limit is %d)", json_array_size(msgs),
                        LM_REQ_MAX_MESSAGES);
    /* A deep copy: normalizing must not change the tree the borrowed strings point into. */
    r->messages = json_deep_copy(msgs);
    if (!r->messages) return oai_fail(err, LM_ERR_NOMEM, "messages", "out of memory copying messages");
    char p[128];
    size_t i;
    json_t *m;
    json_array_foreach(r->messages, i, m) {
        snprintf(p, sizeof p, "messages[%zu]", i);
        if (!json_is_object(m)) return oai_fail(err, LM_ERR_INVALID, p, "Message is not a JSON object");
        json_t *role = json_object_get(m, "role");
        snprintf(p, sizeof p, "messages[%zu].role", i);
        if (!role) return oai_fail(err, LM_ERR_INVALID, p, "Every message must have 'role' field");
        if (!json_is_string(role)) return oai_fail(err, LM_ERR_INVALID, p, "message role is not a string");

        json_t *calls = field(m, "tool_calls");
        if (calls) {
            snprintf(p, sizeof p, "messages[%zu].tool_calls", i);
            if (!json_is_array(calls)) return oai_fail(err, LM_ERR_INVALID, p, "tool_calls is not an array");
            size_t j;
            json_t *c;
            json_array_foreach(calls, j, c) {
                snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu]", i, j);
                LM_TRY(normalize_tool_call(c, p, err));
            }
        }

        json_t *content = json_object_get(m, "content");
        snprintf(p, sizeof p, "messages[%zu].content", i);
        if (!content) {
            /* Templates index message['content'] freely; OVMS adds an empty one too. */
            json_object_set_new(m, "content", json_string(""));
        } else if (json_is_null(content)) {
            /* null beside tool_calls is what OpenAI clients send back; templates test it with
             * `in` and `split` (Qwen3), which a string survives and None does not */
            json_object_set_new(m, "content", json_string(""));
        } else if (json_is_array(content)) {
            json_t *joined = NULL;
            LM_TRY(join_content_parts(content, p, &joined, err));
            json_object_set_new(m, "content", joined);
        } else if (!json_is_string(content)) {
            return oai_fail(err, LM_ERR_INVALID, p,
                            "message content must be a string, an array of content parts or null");
        }

        static const char *const string_fields[] = {"name", "tool_call_id", "reasoning_content"};
        for (size_t k = 0; k < sizeof string_fields / sizeof string_fields[0]; k++) {
            json_t *v = field(m, string_fields[k]);
            snprintf(p, sizeof p, "messages[%zu].%s", i, string_fields[k]);
            if (v && !json_is_string(v)) return oai_fail(err, LM_ERR_INVALID, p, "%s is not a string", p);
        }
    }
    return LM_OK;
}

/* tools and tool_choice: the tools the template sees. "none" hides them; a named function keeps
 * only that tool (as OVMS does); "auto" and "required" keep all. */
static lm_status parse_tools(json_t *root, oai_request *r, oai_error *err) {
    const char *choice = "auto";
    json_t *tc = field(root, "tool_choice");
    if (tc) {
        if (json_is_string(tc)) {
            choice = json_string_value(tc);
            if (strcmp(choice, "none") != 0 && strcmp(choice, "auto") != 0 && strcmp(choice, "required") != 0)
                return oai_fail(err, LM_ERR_INVALID, "tool_choice",
                                "tool_choice should be either 'none' or 'auto' or 'required'");
        } else if (json_is_object(tc)) {
            json_t *fn = json_object_get(tc, "function");
            if (!json_is_object(fn))
                return oai_fail(err, LM_ERR_INVALID, "tool_choice.function",
                                "tool_choice.function is not a valid JSON object");
            choice = json_string_value(json_object_get(fn, "name"));
            if (!choice)
                return oai_fail(err, LM_ERR_INVALID, "tool_choice.function.name",
                                "tool_choice.function.name is not a valid string");
        } else {
            return oai_fail(err, LM_ERR_INVALID, "tool_choice", "tool_choice is not a valid JSON object or string");
        }
    }
    json_t *tools = field(root, "tools");
    if (!tools) return LM_OK;
    if (!json_is_array(tools)) return oai_fail(err, LM_ERR_INVALID, "tools", "Tools are not an array");
    if (json_array_size(tools) > LM_REQ_MAX_TOOLS)
        return oai_fail(err, LM_ERR_LIMIT, "tools", "too many tools: %zu (limit is %d)", json_array_size(tools),
                        LM_REQ_MAX_TOOLS);
    int named = strcmp(choice, "auto") != 0 && strcmp(choice, "required") != 0 && strcmp(choice, "none") != 0;
    json_t *kept = json_array();
    char p[128];
    size_t i;
    json_t *t;
    int found = 0;
    json_array_foreach(tools, i, t) {
        snprintf(p, sizeof p, "tools[%zu]", i);
        if (!json_is_object(t)) {
            json_decref(kept);
            return oai_fail(err, LM_ERR_INVALID, p, "Tool is not a JSON object");
        }
        json_t *fn = json_object_get(t, "function");
        if (!json_is_object(fn)) {
            json_decref(kept);
            return oai_fail(err, LM_ERR_INVALID, p, "Function is not a valid JSON object");
        }
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!name) {
            json_decref(kept);
            snprintf(p, sizeof p, "tools[%zu].function.name", i);
            return oai_fail(err, LM_ERR_INVALID, p, "Function object does not contain a valid name field");
        }
        if (!named || strcmp(name, choice) == 0) {
            json_array_append(kept, t);
            found = 1;
        }
    }
    if (named && !found) {
        json_decref(kept);
        return oai_fail(err, LM_ERR_INVALID, "tool_choice", "tool_choice names function '%s', which is not in tools",
                        choice);
    }
    if (strcmp(choice, "none") == 0 || json_array_size(kept) == 0) {
        json_decref(kept);
        return LM_OK;
    }
    r->tools = kept;
    return LM_OK;
}

/* ---------------------------------------------------------------- prompt (completions) */

static lm_status read_ids(json_t *arr, const char *path, oai_request *r, oai_error *err) {
    size_t n = json_array_size(arr);
    if (n == 0) return oai_fail(err, LM_ERR_INVALID, path, "prompt token array is empty");
    r->prompt_ids = malloc(n * sizeof *r->prompt_ids);
    if (!r->prompt_ids) return oai_fail(err, LM_ERR_NOMEM, path, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
            return oai_fail(err, LM_ERR_INVALID, path,
                            "prompt token ids must be integers in [0, 2147483647] (element %zu)", i);
        r->prompt_ids[i] = (int32_t)json_integer_value(v);
    }
    r->n_prompt_ids = n;
    return LM_OK;
}

static lm_status parse_prompt(json_t *root, oai_request *r, oai_error *err) {
    json_t *p = field(root, "prompt");
    if (!p) return oai_fail(err, LM_ERR_INVALID, "prompt", "prompt is missing");
    if (json_is_string(p)) {
        r->prompt = json_string_value(p);
        r->prompt_len = json_string_length(p);
    } else if (json_is_array(p)) {
        size_t n = json_array_size(p);
        json_t *first = json_array_get(p, 0);
        if (n == 0) return oai_fail(err, LM_ERR_INVALID, "prompt", "prompt array is empty");
        if (json_is_integer(first)) return read_ids(p, "prompt", r, err);
        if (n > 1)
            return oai_fail(err, LM_ERR_UNSUPPORTED, "prompt",
                            "several prompts in one request are not supported yet; send one request per prompt");
        if (json_is_string(first)) {
            r->prompt = json_string_value(first);
            r->prompt_len = json_string_length(first);
        } else if (json_is_array(first)) {
            return read_ids(first, "prompt[0]", r, err);
        } else {
            return oai_fail(err, LM_ERR_INVALID, "prompt",
                            "prompt is not a string, an array of token ids or an array of one string");
        }
    } else {
        return oai_fail(err, LM_ERR_INVALID, "prompt", "prompt is not a string");
    }
    if (r->prompt && r->prompt_len == 0) return oai_fail(err, LM_ERR_INVALID, "prompt", "prompt is missing");
    return LM_OK;
}

/* ---------------------------------------------------------------- the request */

static lm_status parse_stop(json_t *root, oai_request *r, oai_error *err) {
    json_t *s = field(root, "stop");
    if (!s) return LM_OK;
    if (json_is_string(s)) {
        if (json_string_length(s) == 0) return oai_fail(err, LM_ERR_INVALID, "stop", "stop string must not be empty");
        r->stop[r->n_stop++] = json_string_value(s);
        return LM_OK;
    }
    if (!json_is_array(s)) return oai_fail(err, LM_ERR_INVALID, "stop", "stop is not a string or array of strings");
    if (json_array_size(s) > GEN_MAX_STOP)
        return oai_fail(err, LM_ERR_INVALID, "stop", "stop array must have no more than %d strings: got %zu",
                        GEN_MAX_STOP, json_array_size(s));
    size_t i;
    json_t *v;
    json_array_foreach(s, i, v) {
        if (!json_is_string(v)) return oai_fail(err, LM_ERR_INVALID, "stop", "stop array contains non string element");
        if (json_string_length(v) == 0)
            return oai_fail(err, LM_ERR_INVALID, "stop", "stop strings must not be empty (element %zu)", i);
        r->stop[r->n_stop++] = json_string_value(v);
    }
    return LM_OK;
}

static lm_status parse_stream(json_t *root, oai_request *r, oai_error *err) {
    LM_TRY(read_bool(root, "stream", &r->stream, NULL, err));
    json_t *so = field(root, "stream_options");
    if (!so) return LM_OK;
    if (!r->stream)
        return oai_fail(err, LM_ERR_INVALID, "stream_options", "stream_options provided, but stream not set to true");
    if (!json_is_object(so)) return oai_fail(err, LM_ERR_INVALID, "stream_options", "stream_options is not an object");
    const char *key;
    json_t *v;
    json_object_foreach(so, key, v) {
        if (strcmp(key, "include_usage") != 0)
            return oai_fail(err, LM_ERR_INVALID, "stream_options",
                            "Found unexpected stream options. Properties accepted in stream_options: include_usage");
        if (!json_is_boolean(v))
            return oai_fail(err, LM_ERR_INVALID, "stream_options.include_usage",
                            "stream_options.include_usage is not a boolean");
        r->include_usage = json_is_true(v);
    }
    return LM_OK;
}

static lm_status parse_logprobs(json_t *root, oai_request *r, oai_error *err) {
    json_t *lp = field(root, "logprobs");
    if (r->endpoint == OAI_CHAT) {
        LM_TRY(read_bool(root, "logprobs", &r->logprobs, NULL, err));
        int64_t top = 0;
        int has_top = 0;
        LM_TRY(read_int(root, "top_logprobs", 0, GEN_MAX_TOP_LOGPROBS, &top, &has_top, "an integer", err));
        if (has_top && !r->logprobs)
            return oai_fail(err, LM_ERR_INVALID, "top_logprobs", "top_logprobs requires logprobs to be true");
        r->top_logprobs = (int)top;
        return LM_OK;
    }
    /* completions: logprobs is the number of alternatives (0: the chosen tokens only) */
    if (!lp) return LM_OK;
    if (json_is_boolean(lp))
        return oai_fail(err, LM_ERR_INVALID, "logprobs", "logprobs accepts integer values");
    int64_t k = 0;
    LM_TRY(read_int(root, "logprobs", 0, GEN_MAX_TOP_LOGPROBS, &k, NULL, "an integer", err));
    r->logprobs = 1;
    r->top_logprobs = (int)k;
    return LM_OK;
}

/* Fields lmserve refuses rather than silently ignores: honouring them changes the output. */
static lm_status refuse_unsupported(json_t *root, oai_request *r, oai_error *err) {
    json_t *rf = field(root, "response_format");
    if (rf) {
        if (!json_is_object(rf)) return oai_fail(err, LM_ERR_INVALID, "response_format", "response_format is not an object");
        const char *type = json_string_value(json_object_get(rf, "type"));
        if (!type || strcmp(type, "text") != 0)
            return oai_fail(err, LM_ERR_UNSUPPORTED, "response_format",
                            "response_format of type '%s' is not supported yet (structured output); "
                            "only {\"type\": \"text\"} is accepted", type ? type : "(missing)");
    }
    json_t *lb = field(root, "logit_bias");
    if (lb) {
        if (!json_is_object(lb)) return oai_fail(err, LM_ERR_INVALID, "logit_bias", "logit_bias is not an object");
        if (json_object_size(lb) > LM_REQ_MAX_LOGIT_BIAS)
            return oai_fail(err, LM_ERR_LIMIT, "logit_bias", "too many logit_bias entries: %zu (limit is %d)",
                            json_object_size(lb), LM_REQ_MAX_LOGIT_BIAS);
        if (json_object_size(lb) > 0)
            return oai_fail(err, LM_ERR_UNSUPPORTED, "logit_bias", "logit_bias is not supported yet");
    }
    if (r->endpoint == OAI_COMPLETIONS) {
        json_t *sfx = field(root, "suffix");
        if (sfx && !(json_is_string(sfx) && json_string_length(sfx) == 0))
            return oai_fail(err, LM_ERR_UNSUPPORTED, "suffix", "suffix is not supported yet");
    }
    int64_t best_of = 0;
    int has_best_of = 0;
    LM_TRY(read_int(root, "best_of", 1, OAI_MAX_N, &best_of, &has_best_of, "an unsigned integer", err));
    if (has_best_of) {
        if (best_of < r->n) return oai_fail(err, LM_ERR_INVALID, "best_of", "n value cannot be greater than best_of");
        if (best_of > r->n)
            return oai_fail(err, LM_ERR_UNSUPPORTED, "best_of",
                            "best_of greater than n is not supported yet (no beam search): best_of %lld, n %d",
                            (long long)best_of, r->n);
    }
    json_t *user = field(root, "user");
    if (user && !json_is_string(user)) return oai_fail(err, LM_ERR_INVALID, "user", "user is not a string");
    return LM_OK;
}

static lm_status parse_body_fields(json_t *root, oai_request *r, oai_error *err) {
    json_t *jmodel = json_object_get(root, "model");
    if (!jmodel || json_is_null(jmodel)) return oai_fail(err, LM_ERR_INVALID, "model", "model missing in request");
    if (!json_is_string(jmodel)) return oai_fail(err, LM_ERR_INVALID, "model", "model is not a string");
    r->model = json_string_value(jmodel);

    LM_TRY(parse_stream(root, r, err));

    int64_t v = 0;
    int has = 0;
    LM_TRY(read_int(root, "max_tokens", 1, LM_MAX_NEW_TOKENS, &v, &has, "an unsigned integer", err));
    if (has) r->has_max_tokens = 1, r->max_tokens = (int)v;
    LM_TRY(read_int(root, "max_completion_tokens", 1, LM_MAX_NEW_TOKENS, &v, &has, "an unsigned integer", err));
    if (has) r->has_max_tokens = 1, r->max_tokens = (int)v;

    LM_TRY(read_number(root, "temperature", 0, 0, 2, 0, &r->temperature, &r->has_temperature, err));
    LM_TRY(read_number(root, "top_p", 0, 1, 1, 0, &r->top_p, &r->has_top_p, err));
    LM_TRY(read_int(root, "top_k", -1, INT32_MAX, &v, &has, "an integer", err));
    if (has) r->has_top_k = 1, r->top_k = v < 0 ? 0 : (int)v;
    LM_TRY(read_number(root, "min_p", 0, 0, 1, 0, &r->min_p, NULL, err));
    LM_TRY(read_number(root, "repetition_penalty", 0, 1, INFINITY, 0, &r->repetition_penalty,
                       &r->has_repetition_penalty, err));
    LM_TRY(read_number(root, "presence_penalty", -2, 0, 2, 0, &r->presence_penalty, NULL, err));
    LM_TRY(read_number(root, "frequency_penalty", -2, 0, 2, 0, &r->frequency_penalty, NULL, err));

    /* seed: jansson integers are signed 64-bit, so the largest accepted seed is 2^63-1 */
    json_t *seed = field(root, "seed");
    if (seed) {
        if (!json_is_integer(seed) || json_integer_value(seed) < 0)
            return oai_fail(err, LM_ERR_INVALID, "seed", "seed is not an unsigned integer");
        r->has_seed = 1;
        r->seed = (uint64_t)json_integer_value(seed);
    }

    LM_TRY(parse_stop(root, r, err));
    LM_TRY(read_bool(root, "include_stop_str_in_output", &r->include_stop_str_in_output, NULL, err));
    LM_TRY(read_bool(root, "ignore_eos", &r->ignore_eos, NULL, err));
    LM_TRY(read_bool(root, "skip_special_tokens", &r->skip_special_tokens, NULL, err));

    LM_TRY(read_int(root, "n", 1, OAI_MAX_N, &v, &has, "an unsigned integer", err));
    if (has) r->n = (int)v;

    LM_TRY(parse_logprobs(root, r, err));
    LM_TRY(refuse_unsupported(root, r, err));

    if (r->endpoint == OAI_CHAT) {
        LM_TRY(parse_messages(root, r, err));
        LM_TRY(parse_tools(root, r, err));
        json_t *kw = field(root, "chat_template_kwargs");
        if (kw) {
            if (!json_is_object(kw))
                return oai_fail(err, LM_ERR_INVALID, "chat_template_kwargs", "chat_template_kwargs is not an object");
            r->template_kwargs = json_incref(kw);
        }
    } else {
        LM_TRY(parse_prompt(root, r, err));
        LM_TRY(read_bool(root, "echo", &r->echo, NULL, err));
        if (r->echo && r->logprobs)
            return oai_fail(err, LM_ERR_UNSUPPORTED, "echo",
                            "echo together with logprobs is not supported yet (prompt logprobs)");
    }
    return LM_OK;
}

lm_status oai_parse_request(oai_endpoint endpoint, json_t *root, oai_request *out, oai_error *err) {
    memset(out, 0, sizeof *out);
    out->endpoint = endpoint;
    out->n = 1;
    out->skip_special_tokens = 1;
    if (!json_is_object(root)) return oai_fail(err, LM_ERR_INVALID, "", "Received json is not an object");
    lm_status s = parse_body_fields(root, out, err);
    if (s != LM_OK) oai_request_fini(out);
    return s;
}

void oai_request_fini(oai_request *r) {
    json_decref(r->messages);
    json_decref(r->tools);
    json_decref(r->template_kwargs);
    free(r->prompt_ids);
    r->messages = r->tools = r->template_kwargs = NULL;
    r->prompt_ids = NULL;
    r->n_prompt_ids = 0;
}

gen_asked oai_gen_asked(const oai_request *r) {
    gen_asked a;
    memset(&a, 0, sizeof a);
    a.has_max_tokens = r->has_max_tokens;
    a.has_temperature = r->has_temperature;
    a.has_top_p = r->has_top_p;
    a.has_top_k = r->has_top_k;
    a.has_repetition_penalty = r->has_repetition_penalty;
    a.has_seed = r->has_seed;
    a.max_tokens = r->max_tokens;
    a.temperature = r->temperature;
    a.top_p = r->top_p;
    a.repetition_penalty = r->repetition_penalty;
    a.top_k = r->top_k;
    a.min_p = r->min_p;
    a.presence_penalty = r->presence_penalty;
    a.frequency_penalty = r->frequency_penalty;
    a.seed = r->seed;
    for (int i = 0; i < r->n_stop; i++) a.stop[i] = r->stop[i];
    a.n_stop = r->n_stop;
    a.include_stop_str_in_output = r->include_stop_str_in_output;
    a.ignore_eos = r->ignore_eos;
    a.skip_special_tokens = r->skip_special_tokens;
    a.logprobs = r->logprobs;
    a.top_logprobs = r->top_logprobs;
    return a;
}

gen_params oai_gen_params(const oai_request *r, const gen_defaults *d, int index, uint64_t random_seed) {
    gen_asked a = oai_gen_asked(r);
    return gen_params_resolve(&a, d, index, random_seed);
}

/* ---------------------------------------------------------------- tokenize */

lm_status oai_parse_tokenize(json_t *root, oai_tokenize_request *out, oai_error *err) {
    memset(out, 0, sizeof *out);
    out->add_special_tokens = 1;
    if (!json_is_object(root)) return oai_fail(err, LM_ERR_INVALID, "", "Received json is not an object");
    json_t *jmodel = field(root, "model");
    if (!jmodel) return oai_fail(err, LM_ERR_INVALID, "model", "model missing in request");
    if (!json_is_string(jmodel)) return oai_fail(err, LM_ERR_INVALID, "model", "model is not a string");
    out->model = json_string_value(jmodel);

    json_t *text = field(root, "text");
    if (!text) return oai_fail(err, LM_ERR_INVALID, "text", "text field is required");
    size_t n = json_is_array(text) ? json_array_size(text) : 1;
    if (json_is_array(text) && n == 0) return oai_fail(err, LM_ERR_INVALID, "text", "text array should not be empty");
    if (!json_is_string(text) && !json_is_array(text))
        return oai_fail(err, LM_ERR_INVALID, "text", "text should be a string or an array of strings");
    out->texts = calloc(n, sizeof *out->texts);
    out->text_lens = calloc(n, sizeof *out->text_lens);
    if (!out->texts || !out->text_lens) {
        oai_tokenize_request_fini(out);
        return oai_fail(err, LM_ERR_NOMEM, "text", "out of memory");
    }
    out->n_texts = n;
    out->batched = json_is_array(text) && n > 1;
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_is_array(text) ? json_array_get(text, i) : text;
        if (!json_is_string(t)) {
            oai_tokenize_request_fini(out);
            return oai_fail(err, LM_ERR_INVALID, "text", "every element in text array should be a string");
        }
        out->texts[i] = json_string_value(t);
        out->text_lens[i] = json_string_length(t);
    }
    lm_status s = read_bool(root, "add_special_tokens", &out->add_special_tokens, NULL, err);
    int64_t ml = 0;
    int has_ml = 0;
    if (s == LM_OK) s = read_int(root, "max_length", 1, INT32_MAX, &ml, &has_ml, "an unsigned integer", err);
    if (s == LM_OK && has_ml) out->max_length = (size_t)ml;
    if (s == LM_OK && (field(root, "pad_to_max_length") || field(root, "padding_side")))
        s = oai_fail(err, LM_ERR_UNSUPPORTED, "pad_to_max_length", "padding is not supported yet");
    if (s != LM_OK) oai_tokenize_request_fini(out);
    return s;
}

void oai_tokenize_request_fini(oai_tokenize_request *r) {
    free(r->texts);
    free(r->text_lens);
    r->texts = NULL;
    r->text_lens = NULL;
    r->n_texts = 0;
}
