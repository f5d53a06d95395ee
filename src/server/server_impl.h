/* server_impl.h — what server.c (connections, routing, suspend/resume, lifecycle) and
 * handlers.c (the endpoints) share. Internal to src/server. */
#ifndef LM_SERVER_SERVER_IMPL_H
#define LM_SERVER_SERVER_IMPL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "base/buf.h"
#include "server/anthropic.h"
#include "base/metrics.h"
#include "server/oai.h"
#include "server/responses.h"
#include "server/server.h"
#include "serving/generation.h"
#include "serving/registry.h"

/* Wakes a suspended connection when its request has output. Wakers live in a pool the server
 * owns and frees last: a generation loop may call a notify callback a moment after the request
 * was released, and then it must find valid memory (a stale wake of a reused waker only makes
 * its new connection poll once for nothing). */
typedef struct server_waker {
    pthread_mutex_t mu;
    struct MHD_Connection *conn; /* NULL while in the free list */
    int fd;                      /* conn's socket, for the disconnect monitor */
    int suspended;               /* the connection is suspended; a notify resumes it */
    int pending;                 /* output arrived while not suspended: poll before suspending */
    struct server_waker *next_free;
} server_waker;

typedef enum {
    ROUTE_NOT_FOUND,
    ROUTE_BAD_METHOD,
    ROUTE_OPTIONS,
    ROUTE_CHAT,
    ROUTE_COMPLETIONS,
    ROUTE_TOKENIZE,
    ROUTE_RESPONSES,             /* OpenAI Responses API (responses.h) */
    ROUTE_MESSAGES,              /* Anthropic Messages API (anthropic.h) */
    ROUTE_COUNT_TOKENS,          /* Anthropic /v1/messages/count_tokens */
    ROUTE_MODELS,
    ROUTE_MODEL,                 /* arg: model id */
    ROUTE_CONFIG,
    ROUTE_CONFIG_RELOAD,
    ROUTE_LIVE,
    ROUTE_READY,
    ROUTE_MODEL_READY,           /* arg: model name */
    ROUTE_METRICS,
    ROUTE_UI,                    /* arg: path of a chat page file (ui.h) */
} server_route;

typedef enum { PHASE_BODY, PHASE_GENERATING, PHASE_DONE } server_phase;

/* Output of one of a request's n samples. */
typedef struct {
    lm_buf text;                 /* unary: the whole text so far */
    json_t *logprobs;            /* unary: accumulated logprobs object (NULL when not asked) */
    gen_finish finish;           /* set when its last chunk arrived */
    size_t completion_tokens;
    size_t text_offset;          /* completions logprobs: bytes of text before the next token */
    int started;                 /* stream: a chunk for this choice was sent */
    lm_buf reasoning;            /* unary: reasoning_content so far */
    json_t *tool_calls;          /* unary: message.tool_calls so far (NULL: none) */
    int n_calls;                 /* tool calls seen (unary and stream) */
} server_choice;

/* One HTTP request, from its headers to the end of its response (MHD's per-request context). */
typedef struct server_req {
    server *srv;
    struct MHD_Connection *conn;
    int fd;                      /* the connection's socket (disconnect checks) */
    server_route route;
    char *route_arg;             /* model id/name from the path (owned) or NULL */
    const char *allow;           /* ROUTE_BAD_METHOD: the Allow header */
    lm_buf body;
    int too_large;               /* the body passed the limit: discard it, answer 413 */
    size_t discarded;
    server_phase phase;

    /* generation requests: what this HTTP request sends; the generation it drives is serving's
     * object (generation.h), reached only through generation_submit and generation_poll */
    json_t *root;                /* the request JSON; oreq borrows its strings */
    oai_request oreq;
    int oreq_valid;
    generation *gen;             /* NULL until submitted */
    char id[64];
    oai_meta meta;
    const char *echo_text;       /* completions with echo: the prompt's text (gen's) */
    size_t echo_len;
    int n_gen;                   /* samples */
    server_choice ch[OAI_MAX_N];
    size_t prompt_tokens;
    size_t cached_tokens;        /* of those, served from the prefix cache */
    int failed;                  /* a sample finished with GEN_FINISH_ERROR: fail_err */
    lm_error fail_err;
    int cancelled;               /* a sample was cancelled by shutdown */
    server_waker *w;
    int tracked;                 /* in the server's in-flight list */
    struct server_req *prev, *next;

    /* agent protocols (ROUTE_RESPONSES, ROUTE_MESSAGES): the translated request and the writer
     * that turns the output into the protocol's JSON and SSE events */
    resp_request rreq;
    anth_request areq;
    resp_writer *rw;
    anth_writer *aw;
    int agent_ended;             /* the writer saw the end of the generation */

    /* operations (ops.c) */
    char model[128];             /* the model asked for ("" before the body is parsed) */
    int stream;                  /* a streamed generation */
    char method[8];
    char *path;                  /* for the access log (owned; truncated) */
    unsigned status;             /* HTTP status sent; 0 before */
    int64_t t_start_us;          /* headers received (monotonic) */
    double ttft_s;               /* from the first sample's finish chunk; -1 unknown */
    int accepted;                /* generation submitted (counted in the metrics) */
    int busy;                    /* refused because the model's queue was full */
    int retry_after_s;           /* > 0: the response carries Retry-After */
    atomic_int timed_out;        /* the deadline passed (set by the monitor): cancelled */
    int done_recorded;

    /* streaming */
    lm_buf out;                  /* SSE bytes not yet handed to MHD */
    size_t out_pos;
    int stream_end;              /* [DONE] is in `out`: end after it drains */
} server_req;

/* The HTTP side's metric families (ops.c). */
typedef struct {
    metric_family *current_graphs, *accepted, *rejected, *responses, *graph_error, *processing_time;
    metric_family *req_success, *req_fail;
    metric_family *prompt_tokens, *generation_tokens, *cached_tokens, *prefix_hit_ratio;
    metric_family *finished, *errors, *model_state;
} server_metrics;

struct server {
    struct MHD_Daemon *d;
    registry *models;
    const repo_manager *manager; /* NULL: the model set never changes */
    int port;
    size_t max_body;
    atomic_int stopping;

    /* Lock order: mu, then a waker's mu, then libmicrohttpd's own locks; nothing calls into
     * libmicrohttpd while holding mu, since libmicrohttpd calls back (on_completed) into code
     * that takes it. */
    pthread_mutex_t mu;          /* the in-flight list and the waker pool */
    server_req *inflight;
    size_t n_inflight;
    server_waker *free_wakers;
    server_waker **wakers;       /* every waker ever made, freed by server_destroy */
    size_t n_wakers, cap_wakers;

    pthread_t monitor;
    int monitor_started;
    atomic_int monitor_stop;

    /* operations (ops.c) */
    char *api_key;               /* NULL: no key required */
    size_t api_key_len;
    int protect_health;
    metrics *mx;                 /* NULL: metrics off */
    pthread_mutex_t scrape_mu;   /* one GET /metrics at a time */
    server_metrics hm;
    int request_timeout_ms;      /* 0: none */
};

/* ---- server.c: responses, suspend/resume, tracking ---- */

/* Queues a response with the CORS headers; `body` (may be NULL: empty) is sent as
 * application/json and released. Returns MHD's result. */
enum MHD_Result server_respond_json(server_req *q, unsigned status, json_t *body);
/* An OpenAI-style error response (oai_error_body). */
enum MHD_Result server_respond_error(server_req *q, unsigned status, const char *message,
                                     const char *param, const char *code);
/* Adds the CORS header every response carries. */
void server_add_cors(struct MHD_Response *r);

/* Gets a waker for a connection and its socket (NULL on out-of-memory). */
server_waker *server_waker_get(server *s, struct MHD_Connection *conn, int fd);
/* The gen_set_notify callback: resumes the connection if suspended, else marks a wake pending. */
void server_waker_notify(void *ctx);
/* Suspends q's connection until the next notify. Returns 1 when suspended; 0 when a wake was
 * pending (the caller polls again first). Call only from MHD's callbacks for q. */
int server_try_suspend(server_req *q);
/* 1 when the client has closed or reset its connection. */
int server_client_gone(const server_req *q);
/* Adds q to / removes it from the in-flight list (shutdown cancels what is in it). */
void server_track(server_req *q);

/* 1 for the routes of the Anthropic API, whose errors take Anthropic's shape. */
int server_route_anthropic(server_route r);

/* ---- handlers_agents.c: the Responses and Anthropic protocols on the generation path ---- */

/* 1 when q speaks an agent protocol (Responses or Anthropic Messages). */
int server_agent_route(const server_req *q);
/* Translates q->root (the protocol's body) into the equivalent chat request, which replaces
 * q->root; the protocol's own request stays in q->rreq / q->areq. */
lm_status server_agent_translate(server_req *q, oai_error *err);
/* Creates the writer once the request is submitted (q->meta, q->prompt_tokens set); for a
 * stream, appends the opening events to q->out. 0 on out-of-memory. */
int server_agent_begin(server_req *q);
/* Feeds one polled chunk of the (single) sample to the writer; with `sse`, appends the events.
 * The chunk that finishes the generation ends the writer. */
void server_agent_chunk(server_req *q, const gen_chunk *c, lm_buf *sse);
/* The unary answer, once the generation has finished. */
enum MHD_Result server_agent_respond(server_req *q);
/* Frees the protocol state (request teardown). */
void server_agent_release(server_req *q);

/* ---- ops.c: API key, metrics, access log, deadlines ---- */

/* Remembers the model (and streaming) of q for its metrics and log line. */
void server_note_request(server_req *q, const char *model, int stream);
/* 1 when q may proceed: no key is set, the route is open, or the request carries the key. */
int server_authorized(const server_req *q);
/* 401 with an OpenAI-style body (never the key). */
enum MHD_Result server_respond_unauthorized(server_req *q);
/* Defines the families in s->mx and applies the --metrics_list selection. */
lm_status server_metrics_define(server *s, const char *const *list, size_t n_list, lm_error *err);
/* A generation request was submitted (accepted counter, running gauge). */
void server_metrics_accepted(server_req *q);
/* A streamed response handed bytes to the connection. */
void server_metrics_stream_write(server_req *q);
/* GET /metrics. */
enum MHD_Result server_handle_metrics(server_req *q);
/* The request ends: its metrics and its access-log line (once; before its generation state is
 * released). */
void server_request_done(server_req *q);
/* Cancels generation requests past --request_timeout_s (the monitor thread). */
void server_check_deadlines(server *s);

/* ---- handlers.c: the endpoints ---- */

/* Answers q (body complete) according to q->route. */
enum MHD_Result server_dispatch(server_req *q);
/* Called when a suspended unary generation request is resumed. */
enum MHD_Result server_generate_resume(server_req *q);
/* Cancels and releases q's generation requests (request teardown). */
void server_generate_release(server_req *q);

#endif
