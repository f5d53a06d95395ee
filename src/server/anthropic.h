/* anthropic.h — the Anthropic Messages API (POST /v1/messages, /v3/messages and
 * /v1/messages/count_tokens), what Claude Code speaks: request translation into a chat
 * completions request, the writer of the message and its SSE events, and Anthropic's error shape.
 * Pure functions over jansson values, as oai.h.
 *
 * Requests. anth_parse_request() validates a Messages body and builds the equivalent chat request
 * (proto.h): `system` (a string or text blocks; role "system" messages at the start of `messages`
 * join it), `messages` with content as a string or blocks (text, tool_use, tool_result with string
 * or text-block content, thinking; redacted_thinking and server tool blocks skipped),
 * cache_control ignored, custom `tools` with input_schema (server tools, which have a "type",
 * are skipped and logged), tool_choice (auto, any, tool, none; disable_parallel_tool_use),
 * max_tokens, temperature, top_p, top_k, stop_sequences, thinking (enabled / adaptive /
 * disabled: the template's enable_thinking), output_config.format (structured output), stream.
 * metadata, context_management, service_tier and output_config.effort are checked for type and
 * accepted. Errors name the field as Anthropic does ("messages.2.content").
 *
 * Responses. An anth_writer turns the output chain's events into content blocks — thinking, text,
 * tool_use (input: the arguments as an object) — in order, and ends with a stop_reason: end_turn,
 * max_tokens, stop_sequence or tool_use. When given an SSE buffer it appends message_start, ping,
 * content_block_start / content_block_delta (text_delta, thinking_delta, input_json_delta) /
 * content_block_stop, message_delta (stop_reason, usage) and message_stop; a failed generation
 * ends the stream with an `error` event. */
#ifndef LM_SERVER_ANTHROPIC_H
#define LM_SERVER_ANTHROPIC_H

#include <jansson.h>

#include "base/buf.h"
#include "server/oai.h"
#include "server/proto.h"

typedef struct {
    json_t *chat;                /* the equivalent chat completions request (owned) */
    int stream;
} anth_request;

/* Validates `root` and translates it into *out (zeroed first; needs no fini on failure).
 * count_tokens: a /v1/messages/count_tokens body (max_tokens not required). LM_ERR_INVALID for
 * a wrong type or value, LM_ERR_UNSUPPORTED for what lmserve cannot serve (images, documents). */
lm_status anth_parse_request(json_t *root, int count_tokens, anth_request *out, oai_error *err);
void anth_request_fini(anth_request *r);

/* Anthropic's error body {"type":"error","error":{"type","message"}}; the error type follows
 * the HTTP status (400 invalid_request_error, 404 not_found_error, 413 request_too_large,
 * 503 overloaded_error, other 5xx api_error). */
json_t *anth_error_body(int http_status, const char *message);

typedef struct anth_writer anth_writer;

/* A writer for one message; `id` ("msg_...") and `model` are copied. prompt_tokens is what
 * message_start reports. NULL on out-of-memory. */
anth_writer *anth_writer_create(const char *id, const char *model, size_t prompt_tokens);
void anth_writer_destroy(anth_writer *w); /* accepts NULL */

/* Streaming only: appends message_start and a ping. */
void anth_writer_begin(anth_writer *w, lm_buf *sse);

/* One event of the output chain; with `sse`, appends the events it causes. */
void anth_writer_event(anth_writer *w, const out_event *ev, lm_buf *sse);

/* Ends the message (stop_reason, usage); with `sse`, appends content_block_stop, message_delta
 * and message_stop, or an error event when the generation failed or was cancelled. Call once. */
void anth_writer_end(anth_writer *w, const proto_end *end, lm_buf *sse);

/* 1 when the generation failed (anth_writer_end saw an error or a cancel): the unary answer is
 * then an error (*status, *message), not the message. */
int anth_writer_failed(const anth_writer *w, int *status, const char **message);

/* The message object as it stands (a new reference): after anth_writer_end, the unary body. */
json_t *anth_writer_message(const anth_writer *w);

#endif
