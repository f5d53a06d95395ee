/* server.c — the HTTP side of the REST server (server.h): the listening socket, libmicrohttpd's
 * daemon and callbacks, request bodies and routing, suspend/resume of connections that wait for
 * tokens, the disconnect monitor, graceful shutdown, and the `lmserve` server command. The
 * endpoints themselves are in handlers.c. */
#include "server/server_impl.h"
#include "server/ui.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/limits.h"
#include "base/log.h"

/* How often the monitor looks at suspended connections for clients that went away. */
#define MONITOR_PERIOD_MS 200

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- responses */

void server_add_cors(struct MHD_Response *r) {
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
}

enum MHD_Result server_respond_json(server_req *q, unsigned status, json_t *body) {
    char *text = NULL;
    size_t len = 0;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (!text) return MHD_NO;
        len = strlen(text);
    }
    struct MHD_Response *r = text ? MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE)
                                  : MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    if (text) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    server_add_cors(r);
    if (q->route == ROUTE_BAD_METHOD && q->allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, q->allow);
    if (q->retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", q->retry_after_s);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    /* While shutting down, connections close after their response so the server can go. */
    if (atomic_load(&q->srv->stopping)) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result res = MHD_queue_response(q->conn, status, r);
    MHD_destroy_response(r);
    q->phase = PHASE_DONE;
    q->status = status;
    return res;
}

enum MHD_Result server_respond_error(server_req *q, unsigned status, const char *message, const char *param,
                                     const char *code) {
    if (status >= 500) log_warn("HTTP %u: %s", status, message);
    else log_debug("HTTP %u: %s", status, message);
    if (server_route_anthropic(q->route)) return server_respond_json(q, status, anth_error_body((int)status, message));
    if (q->route == ROUTE_RESPONSES) param = resp_param_name(param);
    return server_respond_json(q, status, oai_error_body((int)status, message, param, code));
}

int server_route_anthropic(server_route r) {
    return r == ROUTE_MESSAGES || r == ROUTE_COUNT_TOKENS;
}

/* ---------------------------------------------------------------- wakers */

server_waker *server_waker_get(server *s, struct MHD_Connection *conn, int fd) {
    pthread_mutex_lock(&s->mu);
    server_waker *w = s->free_wakers;
    if (w) {
        s->free_wakers = w->next_free;
    } else {
        if (s->n_wakers == s->cap_wakers) {
            size_t cap = s->cap_wakers ? s->cap_wakers * 2 : 64;
            server_waker **all = realloc(s->wakers, cap * sizeof *all);
            if (!all) {
                pthread_mutex_unlock(&s->mu);
                return NULL;
            }
            s->wakers = all;
            s->cap_wakers = cap;
        }
        w = calloc(1, sizeof *w);
        if (!w) {
            pthread_mutex_unlock(&s->mu);
            return NULL;
        }
        pthread_mutex_init(&w->mu, NULL);
        s->wakers[s->n_wakers++] = w;
    }
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&w->mu);
    w->conn = conn;
    w->fd = fd;
    w->suspended = 0;
    w->pending = 0;
    w->next_free = NULL;
    pthread_mutex_unlock(&w->mu);
    return w;
}

static void waker_put(server *s, server_waker *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->conn = NULL;
    w->fd = -1;
    w->suspended = 0;
    w->pending = 0;
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_lock(&s->mu);
    w->next_free = s->free_wakers;
    s->free_wakers = w;
    pthread_mutex_unlock(&s->mu);
}

/* Resumes w's connection if it is suspended. Caller holds w->mu. */
static void waker_resume_locked(server_waker *w) {
    if (w->suspended && w->conn) {
        w->suspended = 0;
        MHD_resume_connection(w->conn);
    }
}

void server_waker_notify(void *ctx) {
    server_waker *w = ctx;
    pthread_mutex_lock(&w->mu);
    if (w->suspended) waker_resume_locked(w);
    else if (w->conn) w->pending = 1;
    pthread_mutex_unlock(&w->mu);
}

int server_try_suspend(server_req *q) {
    server_waker *w = q->w;
    pthread_mutex_lock(&w->mu);
    if (w->pending) {
        w->pending = 0;
        pthread_mutex_unlock(&w->mu);
        return 0;
    }
    /* Under w->mu, so a notify cannot slip between the decision and the suspension. */
    w->suspended = 1;
    MHD_suspend_connection(q->conn);
    pthread_mutex_unlock(&w->mu);
    return 1;
}

static int fd_closed_by_peer(int fd) {
    if (fd < 0) return 0;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return 1; /* orderly shutdown; a pipelined next request would read as > 0 */
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return 1;
    return 0;
}

int server_client_gone(const server_req *q) { return fd_closed_by_peer(q->fd); }

/* ---------------------------------------------------------------- in-flight list */

void server_track(server_req *q) {
    server *s = q->srv;
    pthread_mutex_lock(&s->mu);
    q->prev = NULL;
    q->next = s->inflight;
    if (s->inflight) s->inflight->prev = q;
    s->inflight = q;
    s->n_inflight++;
    q->tracked = 1;
    pthread_mutex_unlock(&s->mu);
    if (q->n_gen > 0 && !q->accepted) {
        q->accepted = 1;
        server_metrics_accepted(q);
    }
}

static void untrack(server_req *q) {
    server *s = q->srv;
    pthread_mutex_lock(&s->mu);
    if (q->tracked) {
        if (q->prev) q->prev->next = q->next;
        else s->inflight = q->next;
        if (q->next) q->next->prev = q->prev;
        s->n_inflight--;
        q->tracked = 0;
    }
    pthread_mutex_unlock(&s->mu);
}

static size_t inflight_count(server *s) {
    pthread_mutex_lock(&s->mu);
    size_t n = s->n_inflight;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* A copy of the waker pool's pointers (wakers are never freed while the server lives, so the
 * copy stays valid without s->mu). Returns the count; *out is malloc'ed (NULL when empty). */
static size_t snapshot_wakers(server *s, server_waker ***out) {
    pthread_mutex_lock(&s->mu);
    size_t n = s->n_wakers;
    *out = n ? malloc(n * sizeof **out) : NULL;
    if (*out) memcpy(*out, s->wakers, n * sizeof **out);
    else n = 0;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Resumes every suspended connection (shutdown), or only those whose client is gone. */
static void resume_wakers(server *s, int only_gone) {
    server_waker **ws;
    size_t n = snapshot_wakers(s, &ws);
    for (size_t i = 0; i < n; i++) {
        server_waker *w = ws[i];
        pthread_mutex_lock(&w->mu);
        /* a suspended connection cannot close under us, so w->fd is still its socket */
        if (w->suspended && (!only_gone || fd_closed_by_peer(w->fd))) waker_resume_locked(w);
        pthread_mutex_unlock(&w->mu);
    }
    free(ws);
}

/* Every MONITOR_PERIOD_MS: a suspended connection whose client is gone is resumed, so its own
 * callback sees the closed socket and cancels the request. This catches requests that produce
 * no output for a while (queued, or in a long prefill). */
static void *monitor_main(void *arg) {
    server *s = arg;
    while (!atomic_load(&s->monitor_stop)) {
        sleep_ms(MONITOR_PERIOD_MS);
        server_check_deadlines(s);
        resume_wakers(s, 1);
    }
    return NULL;
}

/* ---------------------------------------------------------------- routing */

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int is_get(const char *m) { return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0; }

/* Sets q->route (and route_arg) from the method and the path. */
static void route(server_req *q, const char *method, const char *url) {
    int get = is_get(method), post = strcmp(method, "POST") == 0;
    q->route = ROUTE_NOT_FOUND;
    if (strcmp(method, "OPTIONS") == 0) {
        q->route = ROUTE_OPTIONS;
        return;
    }
    server_route r = ROUTE_NOT_FOUND;
    int want_post = 0;
    const char *arg = NULL;

    if (strcmp(url, "/v1/config") == 0) r = ROUTE_CONFIG;
    else if (strcmp(url, "/metrics") == 0) r = ROUTE_METRICS;
    else if (strcmp(url, "/v1/config/reload") == 0) r = ROUTE_CONFIG_RELOAD, want_post = 1;
    else if (strcmp(url, "/v2/health/live") == 0) r = ROUTE_LIVE;
    else if (strcmp(url, "/v2/health/ready") == 0) r = ROUTE_READY;
    else if (ui_find(url)) r = ROUTE_UI, arg = url; /* the chat page */
    else if (starts_with(url, "/v2/models/")) {
        /* /v2/models/{name}/ready, where name may contain '/' */
        const char *name = url + strlen("/v2/models/");
        size_t n = strlen(name);
        if (n > strlen("/ready") && strcmp(name + n - strlen("/ready"), "/ready") == 0) {
            r = ROUTE_MODEL_READY;
            q->route_arg = strndup(name, n - strlen("/ready"));
        }
    } else {
        /* OpenAI routes under /v3, /v1 and /v3/v1 */
        const char *rest = NULL;
        if (starts_with(url, "/v3/v1/")) rest = url + 6;
        else if (starts_with(url, "/v3/") || starts_with(url, "/v1/")) rest = url + 3;
        if (rest) {
            if (strcmp(rest, "/chat/completions") == 0) r = ROUTE_CHAT, want_post = 1;
            else if (strcmp(rest, "/completions") == 0) r = ROUTE_COMPLETIONS, want_post = 1;
            else if (strcmp(rest, "/tokenize") == 0) r = ROUTE_TOKENIZE, want_post = 1;
            else if (strcmp(rest, "/responses") == 0) r = ROUTE_RESPONSES, want_post = 1;
            else if (strcmp(rest, "/messages") == 0) r = ROUTE_MESSAGES, want_post = 1;
            else if (strcmp(rest, "/messages/count_tokens") == 0) r = ROUTE_COUNT_TOKENS, want_post = 1;
            else if (strcmp(rest, "/models") == 0) r = ROUTE_MODELS;
            else if (starts_with(rest, "/models/") && rest[8]) r = ROUTE_MODEL, arg = rest + 8;
        }
    }
    if (r == ROUTE_NOT_FOUND) return;
    if (want_post ? !post : !get) {
        q->route = ROUTE_BAD_METHOD;
        q->allow = want_post ? "POST, OPTIONS" : "GET, HEAD, OPTIONS";
        return;
    }
    q->route = r;
    if (arg) q->route_arg = strdup(arg);
}

/* ---------------------------------------------------------------- MHD callbacks */

static enum MHD_Result respond_preflight(server_req *q) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    server_add_cors(r);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    const char *h = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", h && *h ? h : "Content-Type, Authorization");
    MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
    enum MHD_Result res = MHD_queue_response(q->conn, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    q->phase = PHASE_DONE;
    q->status = MHD_HTTP_NO_CONTENT;
    return res;
}

/* 1 for an address only this machine can reach (127.0.0.0/8, ::1, localhost). */
static int is_loopback(const char *addr) {
    return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 || strcmp(addr, "localhost") == 0 ||
           strcmp(addr, "[::1]") == 0;
}

static enum MHD_Result too_large(server_req *q) {
    char msg[160];
    snprintf(msg, sizeof msg, "request body is larger than the limit of %zu bytes", q->srv->max_body);
    return server_respond_error(q, MHD_HTTP_CONTENT_TOO_LARGE, msg, "", "request_too_large");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    server *s = cls;
    server_req *q = *con_cls;
    if (!q) {
        /* First call: headers only. */
        q = calloc(1, sizeof *q);
        if (!q) return MHD_NO;
        q->srv = s;
        q->conn = conn;
        q->t_start_us = clock_now_us();
        q->ttft_s = -1;
        snprintf(q->method, sizeof q->method, "%s", method);
        q->path = strndup(url, 256);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        q->fd = ci ? ci->connect_fd : -1;
        *con_cls = q;
        route(q, method, url);
        /* The key is checked on the headers: an unauthorized body is never read. */
        if (!server_authorized(q)) return server_respond_unauthorized(q);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno == 0 && *end == '\0' && n > s->max_body) return too_large(q); /* body never read */
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (q->phase != PHASE_BODY) return MHD_YES;
        if (q->too_large || q->body.len + n > s->max_body) {
            /* A chunked body over the limit: drop it and answer 413 at its end, unless it goes on
             * past twice the limit, then close the connection. */
            if (!q->too_large) buf_fini(&q->body);
            q->too_large = 1;
            q->discarded += n;
            return q->discarded > s->max_body ? MHD_NO : MHD_YES;
        }
        buf_append(&q->body, upload_data, n);
        return q->body.oom ? MHD_NO : MHD_YES;
    }
    switch (q->phase) {
    case PHASE_BODY:
        if (q->too_large) return too_large(q);
        if (q->route == ROUTE_OPTIONS) return respond_preflight(q);
        if (q->route == ROUTE_METRICS) return server_handle_metrics(q);
        if (atomic_load(&s->stopping))
            return server_respond_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is shutting down", "",
                                        "unavailable");
        return server_dispatch(q);
    case PHASE_GENERATING: return server_generate_resume(q);
    case PHASE_DONE: break;
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    server_req *q = *con_cls;
    if (!q) return;
    *con_cls = NULL;
    untrack(q); /* first: server_stop() cancels tracked requests' gen_requests */
    server_request_done(q); /* metrics and access log, while the request's state is whole */
    server_generate_release(q); /* cancels what still runs: the client is gone or the server stops */
    waker_put(q->srv, q->w);
    free(q->route_arg);
    free(q->path);
    buf_fini(&q->body);
    buf_fini(&q->out);
    free(q);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    log_debug("http: %s", msg);
}

/* ---------------------------------------------------------------- start and stop */

/* Opens the listening socket ourselves: clear errors ("Address already in use") and any address
 * family getaddrinfo knows. */
static lm_status open_listener(const char *addr, int port, int *fd_out, int *ipv6, lm_error *err) {
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(addr, portstr, &hints, &res);
    if (rc != 0) return err_set(err, LM_ERR_INVALID, "--rest_bind_address '%s': %s", addr, gai_strerror(rc));
    int saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0) {
            *fd_out = fd;
            *ipv6 = ai->ai_family == AF_INET6;
            freeaddrinfo(res);
            return LM_OK;
        }
        saved = errno;
        close(fd);
    }
    freeaddrinfo(res);
    return err_set(err, LM_ERR_IO, "cannot listen on %s port %d: %s", addr, port, strerror(saved));
}

static int socket_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/* Idle keep-alive connections each hold a descriptor: raise the soft limit toward the hard one. */
static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t want = LM_HTTP_MAX_CONNECTIONS + 256;
    if (rl.rlim_cur >= want) return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

lm_status server_start(const server_config *cfg, registry *models, server **out, lm_error *err) {
    *out = NULL;
    const char *addr = cfg->bind_address ? cfg->bind_address : "0.0.0.0";
    int workers = cfg->workers;
    if (workers <= 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        workers = ncpu < 2 ? 2 : (int)(ncpu > 64 ? 64 : ncpu);
    }
    raise_fd_limit();
    int fd = -1, ipv6 = 0;
    LM_TRY(open_listener(addr, cfg->port, &fd, &ipv6, err));

    server *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        return err_set(err, LM_ERR_NOMEM, "out of memory starting the server");
    }
    s->models = models;
    s->manager = cfg->manager;
    s->max_body = cfg->max_body ? cfg->max_body : LM_HTTP_MAX_BODY;
    s->port = socket_port(fd);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->scrape_mu, NULL);
    s->protect_health = cfg->api_key_protect_health;
    s->request_timeout_ms = cfg->request_timeout_s > 0 ? cfg->request_timeout_s * 1000 : 0;
    s->mx = cfg->metrics;
    lm_status ost = LM_OK;
    if (cfg->api_key && *cfg->api_key) {
        s->api_key = strdup(cfg->api_key);
        s->api_key_len = strlen(cfg->api_key);
        if (!s->api_key) ost = err_set(err, LM_ERR_NOMEM, "out of memory");
    }
    if (ost == LM_OK && s->mx) ost = server_metrics_define(s, cfg->metrics_list, cfg->n_metrics_list, err);
    if (ost != LM_OK) {
        close(fd);
        pthread_mutex_destroy(&s->mu);
        free(s->api_key);
        free(s);
        return ost;
    }
    if (!s->api_key && !is_loopback(addr))
        log_warn("no API key is set and the REST API listens on %s: anyone who can reach it can use "
                 "it (set --api_key_file or API_KEY; docs/operations.md)", addr);

    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ipv6) flags |= MHD_USE_IPv6;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, s}, /* first, so it catches everything */
        {MHD_OPTION_LISTEN_SOCKET, fd, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, LM_HTTP_MAX_CONNECTIONS, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, LM_HTTP_CONN_MEMORY, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, LM_HTTP_IDLE_TIMEOUT_S, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
        {workers > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, workers, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!s->d) {
        close(fd);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return err_set(err, LM_ERR_IO, "libmicrohttpd could not start on %s port %d", addr, cfg->port);
    }
    if (pthread_create(&s->monitor, NULL, monitor_main, s) == 0) s->monitor_started = 1;
    log_info("REST API listening on %s port %d (%d workers)", addr, s->port, workers);
    *out = s;
    return LM_OK;
}

int server_port(const server *s) { return s->port; }

/* Waits until no request is in flight or deadline_ms passes. */
static void wait_drained(server *s, int64_t deadline_ms) {
    while (inflight_count(s) > 0 && now_ms() < deadline_ms) sleep_ms(10);
}

void server_stop(server *s, int grace_ms) {
    if (!s || !s->d) return;
    atomic_store(&s->stopping, 1);
    /* No new connections; open ones are answered 503 and closed. */
    int lfd = MHD_quiesce_daemon(s->d);
    if (lfd >= 0) close(lfd);

    wait_drained(s, now_ms() + (grace_ms > 0 ? grace_ms : 0));
    size_t left = inflight_count(s);
    if (left > 0) {
        log_info("shutting down: cancelling %zu request(s) still running", left);
        pthread_mutex_lock(&s->mu);
        for (server_req *q = s->inflight; q; q = q->next) generation_cancel(q->gen);
        pthread_mutex_unlock(&s->mu);
        wait_drained(s, now_ms() + LM_HTTP_CANCEL_WAIT_MS);
    }
    /* MHD must not be stopped with suspended connections: resume whatever still is. */
    resume_wakers(s, 0);

    atomic_store(&s->monitor_stop, 1);
    if (s->monitor_started) pthread_join(s->monitor, NULL);
    s->monitor_started = 0;
    /* Give resumed connections a moment to be taken back by their workers. */
    if (inflight_count(s) > 0) sleep_ms(50);
    MHD_stop_daemon(s->d); /* closes every connection; on_completed releases their requests */
    s->d = NULL;
}

void server_destroy(server *s) {
    if (!s) return;
    server_stop(s, 0);
    for (size_t i = 0; i < s->n_wakers; i++) {
        pthread_mutex_destroy(&s->wakers[i]->mu);
        free(s->wakers[i]);
    }
    free(s->wakers);
    pthread_mutex_destroy(&s->mu);
    free(s->api_key);
    pthread_mutex_destroy(&s->scrape_mu);
    free(s);
}

