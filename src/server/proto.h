/* proto.h — what the agent protocols (OpenAI Responses: responses.h, Anthropic Messages:
 * anthropic.h) share on top of the OpenAI chat layer (oai.h).
 *
 * Both protocols are a second face of chat completions: a request is translated into the JSON of
 * an equivalent chat completions request, which then goes through oai_parse_request like any
 * other, so there is one internal request and one generation path. On the way back, each
 * protocol's writer reads the output chain's events (serving/output.h: text, reasoning, tool call
 * begin/arguments) and the end of the generation (proto_end), and builds both the unary JSON and,
 * when streaming, the SSE events, from the same state: a streamed and a unary answer to the same
 * generation are equal by construction. */
#ifndef LM_SERVER_PROTO_H
#define LM_SERVER_PROTO_H

#include <jansson.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/error.h"
#include "server/oai.h"
#include "serving/output.h"
#include "serving/serving.h"

/* How a generation ended, as the writers need it. */
typedef struct {
    gen_finish finish;           /* STOP, LENGTH, CANCELLED or ERROR */
    const char *stop_sequence;   /* the request's stop string that ended it; NULL: EOS or other */
    const lm_error *error;       /* finish == GEN_FINISH_ERROR: what failed (NULL: unknown) */
    size_t prompt_tokens;        /* usage */
    size_t completion_tokens;
    size_t cached_tokens;        /* prompt tokens served from the prefix cache */
} proto_end;

/* Appends one SSE event "event: <name>\ndata: <compact json>\n\n" and releases `data`. An
 * allocation failure marks `out` oom. */
void proto_sse_event(lm_buf *out, const char *name, json_t *data);

/* The value of `key` in `obj`, or NULL when absent or JSON null (an optional field not set). */
json_t *proto_field(json_t *obj, const char *key);

#endif
