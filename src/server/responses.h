/* responses.h — the OpenAI Responses API (POST /v3/responses, /v1/responses), what Codex CLI
 * speaks: request translation into a chat completions request, and the writer of the response
 * object and its SSE event sequence. Pure functions over jansson values, as oai.h.
 *
 * Requests. resp_parse_request() validates a Responses body and builds the equivalent chat
 * request JSON (proto.h): `input` (a string, or items: messages with input_text/output_text parts,
 * function_call, function_call_output, reasoning), `instructions` as the leading system message
 * (system and developer messages before the first turn are merged into it), function tools (a
 * namespace tool's functions are offered as plain functions; other tool types are skipped and
 * logged), tool_choice, parallel_tool_calls, max_output_tokens, temperature, top_p,
 * text.format (response_format), reasoning.effort (the template's enable_thinking and
 * reasoning_effort), stream. Fields with no effect here (store, include, prompt_cache_key,
 * metadata, client_metadata, user, service_tier, truncation, safety_identifier,
 * reasoning.summary, text.verbosity) are checked for type and accepted; previous_response_id,
 * conversation, background and prompt are refused (nothing is stored). Errors name the
 * Responses field ("input[3].call_id"), for the OpenAI error body.
 *
 * Responses. A resp_writer turns the output chain's events into output items — `reasoning`
 * (reasoning_text content), `message` (one output_text part), `function_call` (call_id, name,
 * arguments) — in the order they come, and ends with status completed, incomplete
 * (max_output_tokens) or failed. When given an SSE buffer it appends the events clients rely on,
 * each with its sequence_number: response.created, response.in_progress,
 * response.output_item.added, response.content_part.added, response.output_text.delta /
 * response.reasoning_text.delta / response.function_call_arguments.delta, their .done events,
 * response.content_part.done, response.output_item.done, then response.completed /
 * response.incomplete / response.failed. */
#ifndef LM_SERVER_RESPONSES_H
#define LM_SERVER_RESPONSES_H

#include <jansson.h>
#include <stdint.h>

#include "base/buf.h"
#include "server/oai.h"
#include "server/proto.h"

/* A translated Responses request. */
typedef struct {
    json_t *chat;                /* the equivalent chat completions request (owned) */
    json_t *echo;                /* request fields the response object repeats (owned object) */
    json_t *namespaces;          /* function name -> its namespace tool's name (owned object) */
    int stream;
} resp_request;

/* Validates `root` (a Responses request body) and translates it into *out (zeroed first; needs
 * no fini on failure). LM_ERR_INVALID for a wrong type or value, LM_ERR_UNSUPPORTED for what
 * lmserve cannot serve (stored state, images). */
lm_status resp_parse_request(json_t *root, resp_request *out, oai_error *err);
void resp_request_fini(resp_request *r);

/* Maps a chat request field named in an oai_parse_request error back to the Responses field
 * ("max_completion_tokens" -> "max_output_tokens"); other names are returned unchanged. */
const char *resp_param_name(const char *chat_param);

typedef struct resp_writer resp_writer;

/* A writer for one response. `id` ("resp_..."), `model` are copied; `req` (borrowed, only during
 * this call) supplies the echoed fields and tool namespaces. NULL on out-of-memory. */
resp_writer *resp_writer_create(const char *id, const char *model, int64_t created_at,
                                const resp_request *req);
void resp_writer_destroy(resp_writer *w); /* accepts NULL */

/* Streaming only: appends response.created and response.in_progress. */
void resp_writer_begin(resp_writer *w, lm_buf *sse);

/* One event of the output chain. With `sse` non-NULL, appends the events it causes. */
void resp_writer_event(resp_writer *w, const out_event *ev, lm_buf *sse);

/* Ends the response: closes the open item and sets status and usage; with `sse`, appends the
 * closing events and the terminal one. Call once. */
void resp_writer_end(resp_writer *w, const proto_end *end, lm_buf *sse);

/* The response object as it stands (a new reference): after resp_writer_end, the unary body. */
json_t *resp_writer_response(const resp_writer *w);

#endif
