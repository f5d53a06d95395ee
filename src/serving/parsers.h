/* parsers.h — reasoning and tool-call parsers: the two parser slots of the output chain.
 *
 * Each parser is an out_stage (serving/output.h) that reads the model's text and turns markup
 * into events: a reasoning parser turns `<think>...</think>` (qwen3) or Harmony's analysis
 * channel (gptoss) into OUT_REASONING; a tool-call parser turns a format's calls into
 * OUT_TOOL_BEGIN + OUT_TOOL_ARGS. Everything else passes through as OUT_TEXT, without the
 * consumed markup. Names follow OVMS (../shared/reference/ovms-spec.md §4):
 *
 *   reasoning: qwen3 gptoss
 *   tools:     hermes3 llama3 mistral devstral phi4 qwen3coder gptoss
 *
 * Streaming: a stage holds back text only while a tag may still be forming at its end, or while
 * a tool call is open; a call is emitted (OUT_TOOL_BEGIN, then its whole compact arguments as one
 * OUT_TOOL_ARGS) once it is complete and valid. A call that turns out malformed is released as
 * OUT_TEXT, markup included: never an error. The events of one output are the same however the
 * text is split across pushes (merge adjacent events of one kind to compare).
 *
 * Whitespace: reasoning text is trimmed at both ends and content after `</think>` starts at its
 * first non-space character; in a tool stage, whitespace-only text next to a call is dropped (so
 * a reply that holds only calls has no content).
 *
 * Some formats mark calls with special tokens (`<|python_tag|>`, `[TOOL_CALLS]`, Harmony's
 * `<|channel|>`...). parser_special_tokens() lists the ones a parser needs to see: the chain's
 * detokenizer keeps those in the text even when skip_special_tokens drops the others.
 *
 * Thread-safety: the functions below are pure or create independent stages; one stage is used by
 * one thread at a time. */
#ifndef LM_SERVING_PARSERS_H
#define LM_SERVING_PARSERS_H

#include <jansson.h>
#include <stdint.h>

#include "base/error.h"
#include "serving/output.h"

typedef enum { PARSER_REASONING, PARSER_TOOL } parser_kind;

/* Per-request facts a parser may need. A zeroed struct is valid. */
typedef struct parser_opts {
    json_t *tools;            /* the request's "tools" array (copied by the stage; qwen3coder
                                 types parameter values by each tool's JSON schema) */
    int prompt_opens_think;   /* the rendered prompt, right-trimmed, ends with "<think>": the
                                 output starts inside the reasoning (qwen3's implicit start) */
    uint64_t id_seed;         /* tool call ids derive from it; 0 = a fresh seed per stage */
} parser_opts;

/* Creates the named parser of `kind` as a new stage (*out; destroy with (*out)->destroy).
 * LM_ERR_NOT_FOUND with a message listing the valid names for an unknown name ("none" included:
 * callers treat "none" as no stage). LM_ERR_NOMEM. */
lm_status parser_create(parser_kind kind, const char *name, const parser_opts *opts, out_stage **out,
                        lm_error *err);

/* 1 when `name` is a parser of `kind` (so a configuration can be checked at load), else 0.
 * "none" is not a parser: check it separately. */
int parser_exists(parser_kind kind, const char *name);

/* The names of `kind`, NULL-terminated, in the order of this header's table. */
const char *const *parser_names(parser_kind kind);

/* Auto-detection from a chat template's source, as OVMS (ovms-spec.md §4.1): sets *tool and
 * *reasoning to a parser name, or NULL when nothing matches. Formats lmserve does not implement
 * (onyx, gemma4, minicpm5, lfm2) detect as NULL. `src` may be NULL. */
void parser_detect(const char *src, const char **tool, const char **reasoning);

/* Special-token texts the parser `name` needs in the text it is fed (NULL-terminated; empty for
 * parsers that need none or an unknown name). */
const char *const *parser_special_tokens(const char *name);

/* 1 when the rendered prompt, right-trimmed, ends with "<think>" (to fill prompt_opens_think). */
int parser_prompt_opens_think(const char *prompt, size_t len);

#endif
