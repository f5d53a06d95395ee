/* output.h — the output chain's contract: the events that flow after the sampler, and the stage
 * interface every step of the chain implements.
 *
 *   sampler -> incremental detokenizer -> stop strings -> reasoning parser -> tool-call parser
 *           -> delta builder (what gen_poll hands to the server)
 *
 * Every stage is a small struct with an explicit cursor, owned by one request and run on one
 * thread (the generation loop). A stage receives events from the stage before it through push(),
 * and hands what it is sure of to the next one through an out_sink; it may hold back text only
 * while a markup tag or stop string may still be forming at its end. flush() is called once, when
 * the generation ends (stop, length, cancel): the stage releases everything it holds (a
 * half-formed tag is released as plain text; a malformed tool call as OUT_TEXT, never an error).
 *
 * The first stages see only OUT_TEXT. A reasoning parser turns some of it into OUT_REASONING; a
 * tool-call parser turns some into OUT_TOOL_BEGIN + OUT_TOOL_ARGS. A stage passes through, in
 * order and unchanged, every event kind it does not handle. Event text is always complete UTF-8.
 *
 * Streaming contract: for one tool call, OUT_TOOL_BEGIN (index, id, name) comes first, then zero
 * or more OUT_TOOL_ARGS fragments whose concatenation is exactly the call's arguments as a compact
 * JSON text (the same string a unary response reports). Tool calls are numbered from 0 in the
 * order they begin. */
#ifndef LM_SERVING_OUTPUT_H
#define LM_SERVING_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef enum {
    OUT_TEXT = 0,      /* answer text ("content") */
    OUT_REASONING,     /* reasoning text ("reasoning_content") */
    OUT_TOOL_BEGIN,    /* a new tool call: index, id, and the function name in text */
    OUT_TOOL_ARGS,     /* a fragment of the current call's arguments (JSON text) */
} out_kind;

typedef struct {
    out_kind kind;
    int index;         /* OUT_TOOL_*: the call's index (0, 1, ...); 0 otherwise */
    const char *id;    /* OUT_TOOL_BEGIN: the call id (NUL-terminated); NULL otherwise */
    const char *text;  /* borrowed: valid only during the push/emit call */
    size_t len;
} out_event;

/* Where a stage sends its events: the next stage, or the request's delta builder. */
typedef struct out_sink {
    void (*emit)(struct out_sink *self, const out_event *ev);
} out_sink;

typedef struct out_stage {
    /* Takes one event; emits zero or more to `next`. Never fails on model output (malformed
     * markup becomes text); LM_ERR_NOMEM is the only error. */
    lm_status (*push)(struct out_stage *self, const out_event *ev, out_sink *next);
    /* End of the generation: emits everything still held. */
    lm_status (*flush)(struct out_stage *self, out_sink *next);
    /* Frees the stage (accepts a stage that was never pushed to). */
    void (*destroy)(struct out_stage *self);
} out_stage;

#endif
