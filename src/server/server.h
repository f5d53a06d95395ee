/* server.h — the REST server: OpenAI-compatible and OVMS endpoints over HTTP/1.1.
 *
 * Built on libmicrohttpd with an internal pool of worker threads (epoll), each serving many
 * connections; nothing waits on a thread per connection, so idle keep-alive connections cost
 * only their socket. A generation request is parsed, rendered and tokenized on the worker that
 * received it (generation_submit, serving/generation.h), then run by the servable's generation
 * loop; while it waits for tokens its connection is suspended (it leaves the worker's event
 * loop), and the request's notify callback resumes it when output arrives (generation_poll). A stalled client therefore only holds its own
 * connection: the loop never waits on a socket, and other connections keep being served. A client
 * that disconnects is noticed before the next token is written (or, while its request waits, by
 * a monitor that checks suspended sockets every 200 ms) and its request is cancelled.
 *
 * Endpoints and their JSON are documented in docs/api.md; request parsing lives in oai.h and the
 * model table in serving/registry.h. The program around the server (signals, loading, the
 * manager, shutdown order) is wired in cli/serve.c. */
#ifndef LM_SERVER_SERVER_H
#define LM_SERVER_SERVER_H

#include <stddef.h>

#include "base/error.h"
#include "repo/reload.h"
#include "serving/registry.h"
#include "serving/serving.h"

typedef struct {
    const char *bind_address;    /* IPv4/IPv6 literal or host name; NULL: "0.0.0.0" */
    int port;                    /* 0: any free port (server_port() tells which) */
    int workers;                 /* HTTP worker threads; 0: the CPU count, at least 2 */
    size_t max_body;             /* request body limit in bytes; 0: LM_HTTP_MAX_BODY */
    /* operations (docs/operations.md) */
    const char *api_key;         /* required on every endpoint but health and /metrics; NULL: none
                                  * (copied) */
    int api_key_protect_health;  /* health endpoints and /metrics need the key too */
    struct metrics *metrics;     /* GET /metrics writes it; NULL: metrics off (borrowed: it must
                                  * outlive the server; give the same one to the servables) */
    const char *const *metrics_list; /* families to expose (OVMS names accepted); NULL: all */
    size_t n_metrics_list;
    int request_timeout_s;       /* generation requests running longer end with an error; 0: none */
    int max_queued_requests;     /* per model, before 503 (servable_config); 0: its default */
    const repo_manager *manager; /* POST /v1/config/reload calls its reload(); NULL: the
                                    * models never change (borrowed: must outlive the server) */
} server_config;

typedef struct server server;

/* The API key as OVMS reads it: the first line of `path`, right-trimmed, or when path is NULL the
 * API_KEY environment variable. *out is malloc'ed, or NULL when there is no key (API_KEY unset or
 * empty). Errors: LM_ERR_IO for an unreadable file, LM_ERR_INVALID for an empty first line. */
lm_status server_load_api_key(const char *path, char **out, lm_error *err);

/* Binds and starts serving `models` (borrowed: it must outlive the server). Requests for a model
 * that is not loaded yet get 503 until it is. Errors: LM_ERR_IO when the address cannot be bound
 * (the message names address, port and reason), LM_ERR_INVALID for a bad address. */
lm_status server_start(const server_config *cfg, registry *models, server **out, lm_error *err);

/* The port the server listens on. */
int server_port(const server *s);

/* Shuts down: stops accepting connections, answers new requests on open connections with 503,
 * lets in-flight requests run for up to grace_ms, cancels the rest (streams end with an error
 * event and [DONE], unary requests get 503), waits up to LM_HTTP_CANCEL_WAIT_MS for them to be
 * sent, then closes every connection. Safe to call once; the server serves nothing afterwards. */
void server_stop(server *s, int grace_ms);

/* Frees the server (stopping it first with no grace if needed). Call after the registry's
 * servables are destroyed, or at least after server_stop(): a generation loop may still call a
 * request's notify callback, whose target the server owns. Accepts NULL. */
void server_destroy(server *s);

#endif
