/* oai_response.c — the JSON lmserve answers with (oai.h): unary responses, streamed chunks,
 * logprobs in OpenAI's chat and completions shapes, error bodies, SSE framing. */
#include "server/oai.h"

#include "base/utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---------------------------------------------------------------- small helpers */

json_t *oai_json_string_lossy(const char *s, size_t len) {
    json_t *j = json_stringn(s, len);
    if (j) return j; /* valid already (the common case) */
    lm_buf b = {0};
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        /* one U+FFFD per byte that starts no valid character (the bytes stay countable: a
         * token's text shows as many marks as it has stray bytes) */
        size_t k = utf8_valid_len(u + i, len - i);
        if (k) {
            buf_append(&b, s + i, k);
            i += k;
        } else {
            buf_append_str(&b, "\xEF\xBF\xBD");
            i++;
        }
    }
    j = json_stringn(b.data ? b.data : "", b.len);
    buf_fini(&b);
    return j;
}

void oai_make_id(const char *prefix, char *buf, size_t size) {
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[24];
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
        /* no entropy yet (early boot): a clock-and-counter mix is unique enough for an id */
        static unsigned long counter;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
                     (__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x9E3779B97F4A7C15ull);
        for (size_t i = 0; i < sizeof rnd; i++) {
            x ^= x >> 31;
            x *= 0xBF58476D1CE4E5B9ull;
            rnd[i] = (unsigned char)(x >> 56);
        }
    }
    size_t p = (size_t)snprintf(buf, size, "%s", prefix);
    for (size_t i = 0; i < sizeof rnd && p + 1 < size; i++) buf[p++] = alnum[rnd[i] % 62];
    if (p < size) buf[p] = '\0';
}

const char *oai_finish_reason(gen_finish f) {
    switch (f) {
    case GEN_FINISH_STOP: return "stop";
    case GEN_FINISH_LENGTH: return "length";
    default: return NULL;
    }
}

/* An alternative's bytes, or "<id>" when serving did not resolve them. */
static void alt_bytes(const gen_token *g, int k, lm_buf *out) {
    buf_reset(out);
    if (g->top_text[k]) buf_append(out, g->top_text[k], g->top_len[k]);
    else buf_printf(out, "<%d>", (int)g->top[k].id);
}

/* JSON has no infinities: a logprob of -inf (a token the model rules out) is written as OpenAI
 * does, -9999.0. */
static json_t *logprob_value(float lp) {
    return json_real(isfinite(lp) ? (double)lp : -9999.0);
}

static json_t *bytes_array(const char *s, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer((unsigned char)s[i]));
    return a;
}

/* ---------------------------------------------------------------- logprobs */

void oai_logprobs_append_chat(json_t *content, const gen_token *toks, size_t n) {
    lm_buf alt = {0};
    for (size_t i = 0; i < n; i++) {
        const gen_token *g = &toks[i];
        json_t *e = json_object();
        json_object_set_new(e, "token", oai_json_string_lossy(g->text ? g->text : "", g->text_len));
        json_object_set_new(e, "logprob", logprob_value(g->logprob));
        json_object_set_new(e, "bytes", bytes_array(g->text, g->text_len));
        json_t *top = json_array();
        for (int k = 0; k < g->n_top; k++) {
            alt_bytes(g, k, &alt);
            json_t *a = json_object();
            json_object_set_new(a, "token", oai_json_string_lossy(buf_cstr(&alt), alt.len));
            json_object_set_new(a, "logprob", logprob_value(g->top[k].logprob));
            json_object_set_new(a, "bytes", bytes_array(alt.data, alt.len));
            json_array_append_new(top, a);
        }
        json_object_set_new(e, "top_logprobs", top);
        json_array_append_new(content, e);
    }
    buf_fini(&alt);
}

json_t *oai_logprobs_completions_new(void) {
    json_t *lp = json_object();
    json_object_set_new(lp, "tokens", json_array());
    json_object_set_new(lp, "token_logprobs", json_array());
    json_object_set_new(lp, "top_logprobs", json_array());
    json_object_set_new(lp, "text_offset", json_array());
    return lp;
}

void oai_logprobs_append_completions(json_t *lp, const gen_token *toks, size_t n, size_t *text_offset) {
    json_t *tokens = json_object_get(lp, "tokens"), *lps = json_object_get(lp, "token_logprobs");
    json_t *tops = json_object_get(lp, "top_logprobs"), *offs = json_object_get(lp, "text_offset");
    lm_buf alt = {0};
    for (size_t i = 0; i < n; i++) {
        const gen_token *g = &toks[i];
        json_array_append_new(tokens, oai_json_string_lossy(g->text ? g->text : "", g->text_len));
        json_array_append_new(lps, logprob_value(g->logprob));
        /* OpenAI's shape: a map from token text to logprob (alternatives with the same text
         * collapse into the more likely one, which comes first) */
        json_t *top = json_object();
        for (int k = 0; k < g->n_top; k++) {
            alt_bytes(g, k, &alt);
            json_t *key = oai_json_string_lossy(buf_cstr(&alt), alt.len);
            const char *ks = json_string_value(key);
            if (ks && !json_object_get(top, ks)) json_object_set_new(top, ks, logprob_value(g->top[k].logprob));
            json_decref(key);
        }
        json_array_append_new(tops, top);
        json_array_append_new(offs, json_integer((json_int_t)*text_offset));
        *text_offset += g->text_len;
    }
    buf_fini(&alt);
}

/* ---------------------------------------------------------------- responses and chunks */

static json_t *response_head(const oai_meta *m, const char *object) {
    json_t *r = json_object();
    json_object_set_new(r, "id", json_string(m->id));
    json_object_set_new(r, "object", json_string(object));
    json_object_set_new(r, "created", json_integer(m->created));
    json_object_set_new(r, "model", oai_json_string_lossy(m->model, strlen(m->model)));
    json_object_set_new(r, "system_fingerprint", json_string(OAI_SYSTEM_FINGERPRINT));
    return r;
}

static json_t *usage_object(const oai_usage *u) {
    json_t *o = json_object();
    json_object_set_new(o, "prompt_tokens", json_integer((json_int_t)u->prompt_tokens));
    json_object_set_new(o, "completion_tokens", json_integer((json_int_t)u->completion_tokens));
    json_object_set_new(o, "total_tokens", json_integer((json_int_t)(u->prompt_tokens + u->completion_tokens)));
    json_object_set_new(o, "prompt_tokens_details",
                        json_pack("{s:I}", "cached_tokens", (json_int_t)u->cached_tokens));
    return o;
}

static json_t *finish_value(gen_finish f) {
    const char *s = oai_finish_reason(f);
    return s ? json_string(s) : json_null();
}

json_t *oai_response_unary(const oai_meta *m, const oai_choice *choices, size_t n, const oai_usage *usage) {
    int chat = m->endpoint == OAI_CHAT;
    json_t *r = response_head(m, chat ? "chat.completion" : "text_completion");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const oai_choice *c = &choices[i];
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer((json_int_t)i));
        json_t *text = oai_json_string_lossy(c->text ? c->text : "", c->len);
        int calls = chat && c->tool_calls && json_array_size(c->tool_calls) > 0;
        if (chat) {
            json_t *msg = json_object();
            json_object_set_new(msg, "role", json_string("assistant"));
            if (calls && c->len == 0) {
                json_decref(text);
                text = json_null();
            }
            json_object_set_new(msg, "content", text);
            if (c->reasoning && c->reasoning_len)
                json_object_set_new(msg, "reasoning_content", oai_json_string_lossy(c->reasoning, c->reasoning_len));
            if (calls) json_object_set(msg, "tool_calls", c->tool_calls);
            json_object_set_new(o, "message", msg);
        } else {
            json_object_set_new(o, "text", text);
        }
        json_object_set(o, "logprobs", c->logprobs ? c->logprobs : json_null());
        json_object_set_new(o, "finish_reason",
                            calls && c->finish == GEN_FINISH_STOP ? json_string("tool_calls") : finish_value(c->finish));
        json_array_append_new(arr, o);
    }
    json_object_set_new(r, "choices", arr);
    json_object_set_new(r, "usage", usage_object(usage));
    return r;
}

static json_t *chunk(const oai_meta *m, int index, json_t *payload_delta_or_text, json_t *logprobs,
                     gen_finish finish) {
    int chat = m->endpoint == OAI_CHAT;
    json_t *r = response_head(m, chat ? "chat.completion.chunk" : "text_completion");
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer(index));
    json_object_set_new(c, chat ? "delta" : "text", payload_delta_or_text);
    json_object_set(c, "logprobs", logprobs ? logprobs : json_null());
    json_object_set_new(c, "finish_reason", finish_value(finish));
    json_t *arr = json_array();
    json_array_append_new(arr, c);
    json_object_set_new(r, "choices", arr);
    return r;
}

json_t *oai_chunk_text(const oai_meta *m, int index, const char *text, size_t len, int first_for_choice,
                       json_t *logprobs) {
    json_t *t = oai_json_string_lossy(text ? text : "", len);
    if (m->endpoint != OAI_CHAT) return chunk(m, index, t, logprobs, GEN_FINISH_NONE);
    json_t *delta = json_object();
    if (first_for_choice) json_object_set_new(delta, "role", json_string("assistant"));
    json_object_set_new(delta, "content", t);
    return chunk(m, index, delta, logprobs, GEN_FINISH_NONE);
}

json_t *oai_chunk_finish(const oai_meta *m, int index, gen_finish finish) {
    json_t *payload = m->endpoint == OAI_CHAT ? json_object() : json_string("");
    return chunk(m, index, payload, NULL, finish);
}

json_t *oai_chunk_finish_calls(const oai_meta *m, int index, gen_finish finish, int had_tool_calls) {
    json_t *r = oai_chunk_finish(m, index, finish);
    if (had_tool_calls && finish == GEN_FINISH_STOP)
        json_object_set_new(json_array_get(json_object_get(r, "choices"), 0), "finish_reason", json_string("tool_calls"));
    return r;
}

json_t *oai_chunk_reasoning(const oai_meta *m, int index, const char *text, size_t len, int first_for_choice) {
    json_t *delta = json_object();
    if (first_for_choice) json_object_set_new(delta, "role", json_string("assistant"));
    json_object_set_new(delta, "reasoning_content", oai_json_string_lossy(text ? text : "", len));
    return chunk(m, index, delta, NULL, GEN_FINISH_NONE);
}

json_t *oai_chunk_tool_event(const oai_meta *m, int index, const out_tool_event *e, int first_for_choice) {
    json_t *call = json_object(), *fn = json_object();
    json_object_set_new(call, "index", json_integer(e->index));
    if (e->kind == OUT_TOOL_BEGIN) {
        json_object_set_new(call, "id", json_string(e->id ? e->id : ""));
        json_object_set_new(call, "type", json_string("function"));
        json_object_set_new(fn, "name", oai_json_string_lossy(e->text ? e->text : "", e->len));
        json_object_set_new(fn, "arguments", json_string(""));
    } else {
        json_object_set_new(fn, "arguments", oai_json_string_lossy(e->text ? e->text : "", e->len));
    }
    json_object_set_new(call, "function", fn);
    json_t *delta = json_object();
    if (first_for_choice) json_object_set_new(delta, "role", json_string("assistant"));
    if (first_for_choice) json_object_set_new(delta, "content", json_null());
    json_object_set_new(delta, "tool_calls", json_pack("[o]", call));
    return chunk(m, index, delta, NULL, GEN_FINISH_NONE);
}

void oai_tool_calls_add(json_t **calls, const out_tool_event *e) {
    if (e->kind == OUT_TOOL_BEGIN) {
        if (!*calls) *calls = json_array();
        json_t *fn = json_object();
        json_object_set_new(fn, "name", oai_json_string_lossy(e->text ? e->text : "", e->len));
        json_object_set_new(fn, "arguments", json_string(""));
        json_array_append_new(*calls, json_pack("{s:s, s:s, s:o}", "id", e->id ? e->id : "", "type", "function",
                                                "function", fn));
        return;
    }
    json_t *fn = json_object_get(json_array_get(*calls, json_array_size(*calls) - 1), "function");
    json_t *args = json_object_get(fn, "arguments");
    if (!args) return;
    lm_buf b = {0};
    buf_append(&b, json_string_value(args), json_string_length(args));
    buf_append(&b, e->text ? e->text : "", e->len);
    json_object_set_new(fn, "arguments", oai_json_string_lossy(buf_cstr(&b), b.len));
    buf_fini(&b);
}

json_t *oai_chunk_usage(const oai_meta *m, const oai_usage *usage) {
    json_t *r = response_head(m, m->endpoint == OAI_CHAT ? "chat.completion.chunk" : "text_completion");
    json_object_set_new(r, "choices", json_array());
    json_object_set_new(r, "usage", usage_object(usage));
    return r;
}

/* ---------------------------------------------------------------- errors and SSE */

int oai_http_status(lm_status code) {
    switch (code) {
    case LM_OK: return 200;
    case LM_ERR_INVALID:
    case LM_ERR_FORMAT:
    case LM_ERR_TEMPLATE:
    case LM_ERR_LIMIT:
    case LM_ERR_UNSUPPORTED: return 400;
    case LM_ERR_NOT_FOUND: return 404;
    case LM_ERR_TIMEOUT: return 408;
    case LM_ERR_BUSY: return 503;
    default: return 500;
    }
}

json_t *oai_error_body(int http_status, const char *message, const char *param, const char *code) {
    json_t *e = json_object();
    json_object_set_new(e, "message", oai_json_string_lossy(message, strlen(message)));
    json_object_set_new(e, "type", json_string(http_status >= 500 ? "server_error" : "invalid_request_error"));
    json_object_set_new(e, "param", param && *param ? oai_json_string_lossy(param, strlen(param)) : json_null());
    json_object_set_new(e, "code", code ? json_string(code) : json_null());
    json_t *r = json_object();
    json_object_set_new(r, "error", e);
    return r;
}

void oai_sse_append(lm_buf *out, json_t *j) {
    if (!j) return;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s) {
        out->oom = 1;
        return;
    }
    /* a compact dump has no raw newlines, so one data: line frames the event */
    buf_append_str(out, "data: ");
    buf_append_str(out, s);
    buf_append_str(out, "\n\n");
    free(s);
}

void oai_sse_finish(lm_buf *out, const oai_meta *m, const oai_stream_end *end) {
    if (end->error) {
        oai_sse_append(out, oai_error_body(oai_http_status(end->error->code), end->error->msg, "", NULL));
    } else if (end->cancelled) {
        oai_sse_append(out, oai_error_body(503, "the server is shutting down; the request was cancelled", "",
                                           "unavailable"));
    } else if (end->usage) {
        oai_sse_append(out, oai_chunk_usage(m, end->usage));
    }
    buf_append_str(out, "data: [DONE]\n\n");
}
