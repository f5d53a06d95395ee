/* oai.h — the OpenAI API surface: request parsing and validation, response writing.
 *
 * Pure functions over jansson values, with no sockets and no servable, so every rule can be tested
 * on its own; the HTTP layer (http.c) glues them to the servable (serving.h).
 *
 * Requests. oai_parse_json() turns a body into a JSON tree (a malformed body gives the byte offset
 * of the problem). oai_parse_request() checks every field of a chat or completions request —
 * type, range and combination, in OVMS's wording where it has one — and fills an oai_request.
 * Optional fields that are absent or null keep their defaults; unknown fields are ignored, as OVMS
 * does. oai_gen_params() then applies the precedence request > generation_config.json > built-in
 * defaults and gives the gen_params for one of the request's n samples.
 *
 * Responses. The oai_response_* and oai_chunk_* functions build the JSON of unary responses and
 * of streamed chunks (one SSE event each); oai_logprobs_* append logprob entries in OpenAI's two
 * shapes (chat: content[]; completions: tokens/token_logprobs/top_logprobs/text_offset);
 * oai_error_body() writes {"error":{message,type,param,code}}.
 *
 * Errors are an lm_error plus the path of the offending field ("messages[2].content"), so the
 * 400 body can name it in "param". oai_http_status() maps a status to the HTTP code. */
#ifndef LM_SERVER_OAI_H
#define LM_SERVER_OAI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "serving/serving.h"

/* Most samples one request may ask for (n). OVMS's best_of_limit defaults to 20. */
#define OAI_MAX_N GEN_MAX_SAMPLES

typedef enum { OAI_CHAT, OAI_COMPLETIONS } oai_endpoint;

/* An error with the request field it is about. */
typedef struct {
    lm_error e;          /* code and message; the message names the field and the rule */
    char param[128];     /* the field as a path ("temperature", "messages[1].content"); "" none */
} oai_error;

void oai_error_clear(oai_error *err);

/* Records the first error (later ones are ignored, as err_set does) and returns its code. */
lm_status oai_fail(oai_error *err, lm_status code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- requests -------------------------------------------------------------------------- */

/* Parses a request body. Anything that is not one JSON value in valid UTF-8 is LM_ERR_FORMAT
 * with the byte offset (err->e.offset) and jansson's description. The body need not be
 * NUL-terminated. On success *out holds a new reference. */
lm_status oai_parse_json(const char *body, size_t len, json_t **out, oai_error *err);

/* A validated chat or completions request. Strings are borrowed from the JSON root given to
 * oai_parse_request (keep it alive as long as this); json_t members are owned references,
 * released by oai_request_fini. */
typedef struct {
    oai_endpoint endpoint;
    const char *model;

    /* chat */
    json_t *messages;            /* normalized copy: content parts joined into one string,
                                  * missing content "", tool_call arguments parsed to objects */
    json_t *tools;               /* the tools the template sees (NULL: none, or tool_choice
                                  * "none"; only the named one for a named tool_choice) */
    json_t *template_kwargs;     /* chat_template_kwargs or NULL */

    /* completions */
    const char *prompt;          /* text prompt, or NULL when token ids were given */
    size_t prompt_len;
    int32_t *prompt_ids;         /* token prompt (owned), n_prompt_ids long; NULL for text */
    size_t n_prompt_ids;
    int echo;                    /* put the prompt in front of the completion text */

    /* both */
    int stream;
    int include_usage;           /* stream_options.include_usage */
    int n;                       /* independent samples, 1..OAI_MAX_N */
    int logprobs;                /* report the chosen tokens' logprobs */
    int top_logprobs;            /* alternatives per token, 0..GEN_MAX_TOP_LOGPROBS */

    /* sampling; has_* says the request set it (else generation_config or built-in applies) */
    int has_max_tokens, has_temperature, has_top_p, has_top_k, has_repetition_penalty, has_seed;
    int max_tokens;              /* max_completion_tokens, else max_tokens */
    float temperature, top_p, repetition_penalty;
    int top_k;                   /* 0 = off (-1 is accepted as off too) */
    float min_p, presence_penalty, frequency_penalty;
    uint64_t seed;

    const char *stop[GEN_MAX_STOP]; /* borrowed */
    int n_stop;
    int include_stop_str_in_output;
    int ignore_eos;
    int skip_special_tokens;     /* default 1 */
} oai_request;

/* Validates `root` as a request to `endpoint` and fills *out (zeroed first). On failure *out
 * needs no fini. Errors: LM_ERR_INVALID for a wrong type, range or combination;
 * LM_ERR_UNSUPPORTED for a valid request lmserve cannot serve yet (response_format, image
 * content, best_of > n, logit_bias, suffix, several prompts, echo with logprobs). */
lm_status oai_parse_request(oai_endpoint endpoint, json_t *root, oai_request *out, oai_error *err);

void oai_request_fini(oai_request *r);

/* Built-in defaults (OpenAI's): temperature 1, top_p 1, top_k off, repetition_penalty 1,
 * min_p/presence/frequency 0, no token limit but the context. */
#define OAI_DEFAULT_TEMPERATURE GEN_DEFAULT_TEMPERATURE
#define OAI_DEFAULT_TOP_P GEN_DEFAULT_TOP_P

/* The request's sampling and output settings as serving takes them (has_* kept). */
gen_asked oai_gen_asked(const oai_request *r);

/* The generation parameters of sample `index` (0..n-1) of `r`: request values first, then the
 * servable's generation_config.json defaults `d` (may be NULL), then the built-in ones. The seed
 * is r->seed + index when the request has one, else random_seed + index. Stop strings are
 * borrowed from r; the prompt is left for the caller to set. (gen_params_resolve on
 * oai_gen_asked: serving applies the same rule to what the server submits.) */
gen_params oai_gen_params(const oai_request *r, const gen_defaults *d, int index,
                          uint64_t random_seed);

/* POST /v3/tokenize: {"model", "text": string | [string, ...], "add_special_tokens": bool,
 * "max_length": N}. */
typedef struct {
    const char *model;           /* borrowed */
    const char **texts;          /* owned array of borrowed strings */
    size_t *text_lens;
    size_t n_texts;
    int batched;                 /* text was an array of more than one string */
    int add_special_tokens;      /* default 1 */
    size_t max_length;           /* 0: no truncation */
} oai_tokenize_request;

lm_status oai_parse_tokenize(json_t *root, oai_tokenize_request *out, oai_error *err);
void oai_tokenize_request_fini(oai_tokenize_request *r);

/* ---- responses ------------------------------------------------------------------------- */

/* What every response and chunk of one request shares. */
typedef struct {
    oai_endpoint endpoint;
    const char *id;              /* "chatcmpl-..." or "cmpl-..." */
    const char *model;
    int64_t created;             /* Unix seconds */
} oai_meta;

/* Writes a fresh id, prefix + 24 random alphanumerics, into buf. */
void oai_make_id(const char *prefix, char *buf, size_t size);

/* The system_fingerprint every response carries. */
#define OAI_SYSTEM_FINGERPRINT "lmserve-" LM_VERSION

/* "stop", "length", or NULL for a request that did not finish normally. */
const char *oai_finish_reason(gen_finish f);

/* Appends one entry per token to a chat logprobs "content" array:
 * {"token", "logprob", "bytes": [...], "top_logprobs": [{"token","logprob","bytes"}...]}.
 * "token" is the token's text with bytes that are not UTF-8 replaced by U+FFFD; "bytes" are the
 * exact bytes (serving resolved them: gen_token). An alternative whose bytes are unknown is
 * written "<id>". This and oai_logprobs_append_completions are the one place logprobs JSON is
 * built. */
void oai_logprobs_append_chat(json_t *content, const gen_token *toks, size_t n);

/* A fresh completions logprobs object {"tokens":[], "token_logprobs":[], "top_logprobs":[],
 * "text_offset":[]}. */
json_t *oai_logprobs_completions_new(void);

/* Appends the tokens to a completions logprobs object. *text_offset is the byte offset of the
 * next token's text in the choice's text, advanced by each token's length. */
void oai_logprobs_append_completions(json_t *lp, const gen_token *toks, size_t n,
                                     size_t *text_offset);

/* One choice of a unary response. */
typedef struct {
    const char *text;
    size_t len;
    json_t *logprobs;            /* borrowed; NULL writes "logprobs": null */
    gen_finish finish;
    const char *reasoning;       /* chat: reasoning_content (NULL or empty: none) */
    size_t reasoning_len;
    json_t *tool_calls;          /* chat: message.tool_calls (borrowed; NULL or empty: none); with
                                  * calls, content is null when empty and a stop is "tool_calls" */
} oai_choice;

typedef struct {
    size_t prompt_tokens, completion_tokens;
    size_t cached_tokens;        /* prompt tokens served from the prefix cache */
} oai_usage;

/* A whole unary response: chat.completion or text_completion. */
json_t *oai_response_unary(const oai_meta *m, const oai_choice *choices, size_t n,
                           const oai_usage *usage);

/* A streamed chunk carrying text (and its tokens' logprobs, borrowed, may be NULL) for choice
 * `index`; first_for_choice adds "role": "assistant" to a chat delta. */
json_t *oai_chunk_text(const oai_meta *m, int index, const char *text, size_t len,
                       int first_for_choice, json_t *logprobs);

/* The chunk that ends choice `index`: empty delta (chat) or text (completions), finish_reason. */
json_t *oai_chunk_finish(const oai_meta *m, int index, gen_finish finish);
/* As oai_chunk_finish; with had_tool_calls a stop reports "tool_calls". */
json_t *oai_chunk_finish_calls(const oai_meta *m, int index, gen_finish finish, int had_tool_calls);

/* Chat deltas from the output chain's parsers: reasoning text, and one tool-call event (BEGIN:
 * index, id, type and function.name with empty arguments; ARGS: a fragment of the arguments). */
json_t *oai_chunk_reasoning(const oai_meta *m, int index, const char *text, size_t len, int first_for_choice);
json_t *oai_chunk_tool_event(const oai_meta *m, int index, const out_tool_event *e, int first_for_choice);

/* Adds one tool event to a unary message.tool_calls array (*calls created on the first BEGIN). */
void oai_tool_calls_add(json_t **calls, const out_tool_event *e);

/* The usage chunk (stream_options.include_usage): "choices": [] and "usage". */
json_t *oai_chunk_usage(const oai_meta *m, const oai_usage *usage);

/* HTTP status for a failed request: 400 for bad input (invalid, format, template, limit,
 * unsupported), 404 not found, 500 otherwise. */
int oai_http_status(lm_status code);

/* {"error": {"message", "type", "param", "code"}}: type "invalid_request_error" below 500,
 * "server_error" from 500; param null when empty; code may be NULL. */
json_t *oai_error_body(int http_status, const char *message, const char *param, const char *code);

/* Appends one SSE event "data: <compact json>\n\n" and releases `j` (NULL appends nothing). */
void oai_sse_append(lm_buf *out, json_t *j);

/* How a stream ends, after every choice has finished. */
typedef struct {
    const lm_error *error;       /* generation failed: an error event (NULL: it did not) */
    int cancelled;               /* cancelled by shutdown: an error event with code "unavailable" */
    const oai_usage *usage;      /* stream_options.include_usage: the usage chunk (NULL: none) */
} oai_stream_end;

/* Appends the stream's last events: the error event (error or cancelled) or the usage chunk,
 * then "data: [DONE]". */
void oai_sse_finish(lm_buf *out, const oai_meta *m, const oai_stream_end *end);

/* A string of bytes that may hold invalid UTF-8, with each invalid sequence replaced by U+FFFD. */
json_t *oai_json_string_lossy(const char *s, size_t len);

#endif
