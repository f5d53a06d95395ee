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

#include "base/buf.h"
#include "base/error.h"
#include "tokenizer/tokenizer.h"

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

/* ---- the chain a request runs (serving's side of the contract) ----------------------------
 *
 * Extension of the contract above, used by request.c; a parser author needs only the table in
 * output.c (out_stages_create). The chain is: detokenizer (token ids in, OUT_TEXT out: complete
 * UTF-8 only) -> stop strings (an out_stage) -> reasoning slot -> tool-call slot -> delta builder
 * (an out_sink collecting into out_deltas, which the request's channel hands to gen_poll). A slot
 * holding NULL passes every event through unchanged. */

/* A tool event as the delta builder keeps it (strings owned, NUL-terminated). */
typedef struct {
    out_kind kind;               /* OUT_TOOL_BEGIN or OUT_TOOL_ARGS */
    int index;                   /* the call's index */
    char *id;                    /* BEGIN: the call id; NULL otherwise */
    char *text;                  /* BEGIN: the function name; ARGS: a fragment of the arguments */
    size_t len;
} out_tool_event;

/* What the chain has yielded and the request's channel has not taken yet. */
typedef struct {
    lm_buf text;                 /* OUT_TEXT, concatenated */
    lm_buf reasoning;            /* OUT_REASONING, concatenated */
    out_tool_event *tools;       /* OUT_TOOL_* in order */
    size_t n_tools, cap_tools;
} out_deltas;

/* Moves everything in *src to the end of *dst (src is left empty). */
void out_deltas_move(out_deltas *dst, out_deltas *src);
int out_deltas_empty(const out_deltas *d);
void out_deltas_fini(out_deltas *d);

/* The stop-strings stage: holds back text while a stop string may be forming at its end; once
 * one is complete, emits the text before it (with it, when `include`), sets `stopped` and drops
 * everything after. Passes non-text events through. */
typedef struct {
    out_stage base;
    const char *const *stop;     /* borrowed, n_stop strings, none empty */
    int n_stop;
    int include;                 /* include_stop_str_in_output */
    lm_buf pending;              /* text held back */
    int stopped;                 /* 0, or 1 + the index of the stop string found */
} out_stops;

void out_stops_init(out_stops *st, const char *const *stop, int n_stop, int include);

/* One link: the sink a stage emits into, which pushes into the next stage (or, for a NULL stage,
 * forwards to `next` unchanged). */
typedef struct {
    out_sink sink;
    out_stage *stage;            /* NULL: pass-through */
    out_sink *next;
    lm_status st;                /* the first failure of a push */
} out_link;

#define OUT_CHAIN_MAX_KEEP 8

/* The chain of one request (loop thread only). */
typedef struct {
    tok_stream detok;            /* the incremental detokenizer */
    out_stops stops;
    out_stage *reasoning;        /* owned; NULL: pass-through */
    out_stage *tools;            /* owned; NULL: pass-through */
    out_link to_stops, to_reasoning, to_tools;
    out_sink to_deltas;          /* the delta builder */
    out_deltas out;
    lm_buf scratch;
    int32_t keep[OUT_CHAIN_MAX_KEEP]; /* special tokens passed as text (out_chain_keep_special) */
    int n_keep;
    const tok_tokenizer *tok;
} out_chain;

/* Builds the chain; takes ownership of the two stages (NULL: pass-through). `stop` is borrowed
 * and must outlive the chain. */
void out_chain_init(out_chain *c, const tok_tokenizer *t, int skip_special, const char *const *stop,
                    int n_stop, int include_stop, out_stage *reasoning, out_stage *tools);
/* Special tokens (by their text) that reach the parsers as text even when skip_special drops
 * the others: the ones parser_special_tokens() names for the chain's parsers. */
void out_chain_keep_special(out_chain *c, const tok_tokenizer *t, const char *const *texts);
/* Feeds one generated token id through the chain. */
lm_status out_chain_push_token(out_chain *c, int32_t id);
/* Non-zero once a stop string has been found (the generation ends there): 1 + its index among
 * the request's stop strings. */
int out_chain_stopped(const out_chain *c);
/* The end of the generation: with flush_detok, the detokenizer's incomplete bytes are released
 * (as U+FFFD; they may still complete a stop string), then every stage flushes in order. */
lm_status out_chain_finish(out_chain *c, int flush_detok);
void out_chain_fini(out_chain *c);

/* ---- choosing the parsers ---- */

typedef enum { OUT_PARSER_REASONING, OUT_PARSER_TOOL } out_parser_kind;

/* 1 when a parser of that kind and name is built in (the table in output.c). */
int out_parser_known(out_parser_kind kind, const char *name);

/* THE place a servable's parser names become stages, for one request: *reasoning and *tools
 * receive new stages (NULL for a NULL name: the slot passes through), made by parsers.h with the
 * request's `opts` (may be NULL). A new parser adds one row to the table in parsers.c.
 * LM_ERR_UNSUPPORTED for a name the table does not know. */
struct parser_opts; /* serving/parsers.h */
lm_status out_stages_create(const char *reasoning_parser, const char *tool_parser, const struct parser_opts *opts,
                            out_stage **reasoning, out_stage **tools, lm_error *err);

#endif
