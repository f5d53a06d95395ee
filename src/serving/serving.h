/* serving.h — a loaded model ready to serve, and the lifecycle of one generation request.
 *
 * A servable bundles what one served model needs: the model weights, the engine (paged KV cache),
 * the tokenizer, the chat template, and the generation defaults from generation_config.json. It
 * owns one generation-loop thread, the only thread that touches the engine. HTTP threads never
 * touch tensors: they render the template and tokenize (servable_render_chat, servable_tokenize
 * are thread-safe), submit a request, then read its output from the request's channel.
 *
 *   HTTP thread                              generation loop thread
 *   -----------                              ----------------------
 *   servable_render_chat / servable_tokenize
 *   gen_submit(s, &params) -> gen_request*  -> queue -> engine steps -> sampler -> detokenizer
 *   gen_poll(r, &chunk, timeout) <-------------------- text pieces, logprobs, finish, usage
 *   gen_cancel(r) (client gone)  ------------> seen between steps; KV blocks freed on the loop
 *   gen_release(r)
 *
 * Text leaves the channel only as complete UTF-8, and never while a stop string may still be
 * forming at its end; stop strings are cut (or kept with include_stop_str_in_output). Bytes that
 * never form a character become U+FFFD. Thread-safety: every function here may be called from
 * any thread unless it says otherwise; one gen_request is read by one thread at a time. */
#ifndef LM_SERVING_SERVING_H
#define LM_SERVING_SERVING_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "engine/sampler.h"
#include "model/model.h"
#include "serving/output.h"
#include "tokenizer/tokenizer.h"

/* ---- servable ------------------------------------------------------------------------------ */

typedef struct {
    const char *name;            /* the model name clients send ("model" field) */
    const char *path;            /* a .gguf file, or a Hugging Face folder */
    model_load_opts weights;     /* weight format to load as */
    int max_num_seqs;            /* sequences generating at once; 0 = 256 (OVMS default) */
    int max_prompt_len;          /* longest prompt in tokens; 0 = the model's context */
    int n_ctx;                   /* positions per sequence; 0 = the model's context length */
    double cache_size_gb;        /* KV cache size; 0 = enough for a few full sequences */
    int enable_prefix_caching;   /* reuse KV blocks of a shared prompt prefix (scheduler issue) */
    const char *tool_parser;     /* NULL = none (tool-calling issue) */
    const char *reasoning_parser;/* NULL = none */
    int max_queued_requests;     /* requests that may wait for the batch; past it gen_submit fails
                                  * with LM_ERR_BUSY; 0 = 4 x max_num_seqs */
    struct metrics *metrics;     /* where the loop records (serving_metrics.h); NULL: nowhere.
                                  * Borrowed: it must outlive the servable */
} servable_config;

/* OVMS model states, as /v1/config reports them. */
typedef enum {
    SERVABLE_START, SERVABLE_LOADING, SERVABLE_AVAILABLE, SERVABLE_UNLOADING, SERVABLE_END
} servable_state;

/* "START", "LOADING", "AVAILABLE", "UNLOADING", "END" (OVMS's words), "UNKNOWN" otherwise. */
const char *servable_state_name(int state);

typedef struct servable servable;

/* Loads the model, tokenizer, template and generation config from cfg->path and starts the
 * generation loop. Strings in cfg are copied. */
lm_status servable_create(const servable_config *cfg, servable **out, lm_error *err);

/* Stops accepting requests, cancels what is queued or running (their readers get a finish with
 * GEN_FINISH_CANCELLED), joins the loop thread and frees everything. Accepts NULL. No other
 * thread may use `s` after this returns; readers must have released their requests first or
 * release them afterwards (requests hold their own reference). */
void servable_destroy(servable *s);

/* Users. A servable counts who still uses it, so that its owner can retire it only once they are
 * done (a model removed by a live reload unloads after its in-flight requests finish): every
 * gen_request counts from gen_submit until its last reference is dropped, and servable_retain()
 * adds one for a caller that uses the servable outside a request (an HTTP request between finding
 * the model and submitting to it). The struct itself outlives servable_destroy() until the last
 * user is gone, so releasing (or cancelling) a request after the destroy is safe. */
void servable_retain(servable *s);
/* Drops a servable_retain(). Accepts NULL. */
void servable_release(servable *s);
/* Waits up to timeout_ms (-1: forever) until no request or servable_retain() uses `s`. Returns 1
 * when none does, 0 on timeout. Only the owner calls it, after making sure nobody can find `s`
 * any more (else a new user may come right after it returns). */
int servable_wait_idle(servable *s, int timeout_ms);

const char *servable_name(const servable *s);
servable_state servable_get_state(const servable *s);
/* Unix time the servable finished loading (the "created" field of /v3/models). */
int64_t servable_created(const servable *s);
/* Positions one sequence may hold, and the longest prompt accepted (max_prompt_len or context). */
int servable_context_len(const servable *s);
int servable_max_prompt_len(const servable *s);
const tok_tokenizer *servable_tokenizer(const servable *s);

/* What a loaded servable holds, for reports (lmserve generate --verbose). */
typedef struct {
    const char *arch;            /* the model's architecture name */
    int n_layer, n_embd, n_vocab, n_ctx_train;
    size_t weight_bytes;         /* weights read per token */
    int kv_positions;            /* positions the KV cache holds (all sequences) */
    size_t kv_bytes;
} servable_stats;
void servable_get_stats(const servable *s, servable_stats *out);

/* Defaults from generation_config.json (fields absent there are "unset"), for the precedence
 * request > generation_config > built-in. */
typedef struct {
    int has_temperature, has_top_p, has_top_k, has_repetition_penalty, has_max_new_tokens;
    float temperature, top_p, repetition_penalty;
    int top_k, max_new_tokens;
} gen_defaults;
const gen_defaults *servable_defaults(const servable *s);

/* Renders the chat template for a chat request. `messages` and `tools` are the request's JSON
 * arrays (tools may be NULL); `kwargs` is chat_template_kwargs (an object or NULL: its keys become
 * template variables, add_generation_prompt among them, default true). Template errors and
 * raise_exception() give LM_ERR_TEMPLATE with the template's message (a 400 for the client). */
lm_status servable_render_chat(const servable *s, json_t *messages, json_t *tools, json_t *kwargs,
                               lm_buf *out, lm_error *err);

/* Tokenizes text; add_special adds BOS/EOS as the tokenizer says (completions: 1; rendered chat
 * prompts: 0, the template wrote them). */
lm_status servable_tokenize(const servable *s, const char *text, size_t len, int add_special,
                            tok_ids *out, lm_error *err);

/* The same, into a plain array for callers above serving (the tokenize endpoint): *ids is
 * malloc'd (free() it; NULL when *n is 0). */
lm_status servable_tokenize_ids(const servable *s, const char *text, size_t len, int add_special,
                                int32_t **ids, size_t *n, lm_error *err);

/* ---- generation requests ------------------------------------------------------------------- */

#define GEN_MAX_SAMPLES 20      /* samples (n) one request may ask; OVMS's best_of_limit default */
#define GEN_MAX_STOP 16          /* stop strings per request (OpenAI allows 4, OVMS 16) */
#define GEN_MAX_TOP_LOGPROBS 20  /* alternatives per token (OpenAI's bound) */

typedef struct {
    const int32_t *prompt;       /* prompt ids (copied by gen_submit) */
    size_t n_prompt;
    sampler_params sampling;     /* final values after precedence */
    int max_tokens;              /* most tokens to generate; 0 = until the context is full */
    const char *stop[GEN_MAX_STOP]; /* stop strings (copied); NULL-terminated or n_stop long */
    int n_stop;
    int include_stop_str_in_output;
    int ignore_eos;              /* do not stop at the end-of-sequence ids */
    int skip_special_tokens;     /* default 1 */
    int logprobs;                /* report the chosen token's logprob per token */
    int top_logprobs;            /* 0..GEN_MAX_TOP_LOGPROBS alternatives per token */
    /* the servable's reasoning and tool parsers (docs/tools.md) */
    int parse_output;            /* run the parsers (chat requests; off with skip_special_tokens 0) */
    json_t *tools;               /* the request's tools: the tool parser runs only when non-NULL
                                  * (borrowed for gen_submit; parsers copy what they keep) */
    int prompt_opens_think;      /* the rendered prompt ends with <think> (qwen3's implicit start) */
} gen_params;

/* Sensible starting values: greedy, skip_special_tokens on, everything else off. */
gen_params gen_params_default(void);

/* Built-in defaults (OpenAI's): temperature 1, top_p 1, top_k off, repetition_penalty 1,
 * min_p/presence/frequency 0, no token limit but the context. */
#define GEN_DEFAULT_TEMPERATURE 1.0f
#define GEN_DEFAULT_TOP_P 1.0f

/* The sampling and output settings as a client asked for them; has_* says which it set. */
typedef struct {
    int has_max_tokens, has_temperature, has_top_p, has_top_k, has_repetition_penalty, has_seed;
    int max_tokens;
    float temperature, top_p, repetition_penalty;
    int top_k;                   /* 0 = off */
    float min_p, presence_penalty, frequency_penalty;
    uint64_t seed;
    const char *stop[GEN_MAX_STOP]; /* borrowed */
    int n_stop;
    int include_stop_str_in_output;
    int ignore_eos;
    int skip_special_tokens;
    int logprobs;
    int top_logprobs;
} gen_asked;

/* The parameters of sample `index` (0..n-1): what was asked first, then the servable's
 * generation_config.json defaults `d` (may be NULL), then the built-in ones. The seed is
 * a->seed + index when asked, else random_seed + index. Stop strings are borrowed from a; the
 * prompt is left for the caller to set. */
gen_params gen_params_resolve(const gen_asked *a, const gen_defaults *d, int index, uint64_t random_seed);

typedef enum {
    GEN_FINISH_NONE = 0,     /* still running */
    GEN_FINISH_STOP,         /* EOS or a stop string ("stop") */
    GEN_FINISH_LENGTH,       /* max_tokens or the context ("length") */
    GEN_FINISH_CANCELLED,    /* gen_cancel or servable shutdown */
    GEN_FINISH_ERROR,        /* see gen_chunk.err */
} gen_finish;

/* One generated token, for logprobs. Every token's bytes are resolved here, in serving (the
 * tokenizer's raw bytes, leading space kept, partial characters intact): the layers above never
 * ask the tokenizer. */
typedef struct {
    int32_t id;
    float logprob;
    char *text;                  /* the token's own bytes (NUL-terminated; may be partial UTF-8) */
    size_t text_len;
    int n_top;
    sampler_logprob top[GEN_MAX_TOP_LOGPROBS];
    char *top_text[GEN_MAX_TOP_LOGPROBS]; /* each alternative's bytes (owned; NULL: unknown) */
    size_t top_len[GEN_MAX_TOP_LOGPROBS];
} gen_token;

/* The bytes of token `id` (tok_token_bytes) into *out (reset first). */
void gen_token_bytes(const tok_tokenizer *t, int32_t id, lm_buf *out);

/* What gen_poll hands back: everything produced since the previous poll. Owned by the caller;
 * gen_chunk_fini frees it (and is safe on a zeroed chunk). */
typedef struct {
    int index;                   /* generation_poll: which of the request's samples (0..n-1) */
    lm_buf text;                 /* newly complete answer text, OUT_TEXT (may be empty) */
    lm_buf reasoning;            /* newly complete reasoning text, OUT_REASONING (empty unless a
                                  * reasoning parser runs) */
    out_tool_event *tool_events; /* OUT_TOOL_BEGIN / OUT_TOOL_ARGS in order (tool parser) */
    size_t n_tool_events;
    gen_token *tokens;           /* tokens whose text is in `text` (when logprobs was asked) */
    size_t n_tokens;
    gen_finish finish;           /* set once, on the last chunk */
    int stop_string;             /* finish STOP at a stop string: 1 + its index in
                                  * gen_params.stop; 0 otherwise (EOS, other finishes) */
    size_t prompt_tokens;        /* usage, valid when finish != NONE */
    size_t completion_tokens;
    size_t cached_tokens;        /* prompt tokens served from the prefix cache (in prompt_tokens) */
    double ttft_s;               /* seconds from gen_submit to the first token; -1 when none came
                                  * (valid when finish != NONE) */
    lm_error err;                /* when finish == GEN_FINISH_ERROR */
} gen_chunk;

void gen_chunk_fini(gen_chunk *c);

typedef struct gen_request gen_request;

/* Queues a request. Fails at once (nothing queued) for an invalid parameter (LM_ERR_INVALID,
 * message names the field), a prompt over servable_max_prompt_len (LM_ERR_LIMIT, message has both
 * numbers), a request whose worst case (prompt + max_tokens) exceeds the whole KV cache
 * (LM_ERR_LIMIT: it could never run), a full waiting queue (LM_ERR_BUSY: retry later), or a
 * servable that is shutting down. On success *out holds one reference for the
 * caller. */
lm_status gen_submit(servable *s, const gen_params *p, gen_request **out, lm_error *err);

/* Waits up to timeout_ms (-1: forever, 0: no wait) until the request has new output or has
 * finished, then moves it into *chunk (which must be zeroed or finied). Returns 1 when *chunk
 * has something (text, tokens or a finish), 0 on timeout. After a chunk with finish != NONE,
 * further polls return an empty finished chunk at once. */
int gen_poll(gen_request *r, gen_chunk *chunk, int timeout_ms);

/* Called (on the loop thread, briefly, no locks held that the callback may need) whenever the
 * request gains output or finishes: for event-driven servers that resume a suspended connection.
 * Set before the request can produce output, i.e. right after gen_submit; NULL to clear. */
void gen_set_notify(gen_request *r, void (*fn)(void *ctx), void *ctx);

/* Asks the loop to stop the request (client gone). Safe to call more than once, from any thread;
 * the loop frees its KV memory within one step and finishes it with GEN_FINISH_CANCELLED. */
void gen_cancel(gen_request *r);

/* Drops the caller's reference (the loop holds its own until the request finishes). */
void gen_release(gen_request *r);

#endif
