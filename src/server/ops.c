/* ops.c — what an operator needs around the endpoints: the API key check, the HTTP side's
 * Prometheus metrics (OVMS's families and lmserve's per-request ones) and GET /metrics, the
 * access log (one line per request), and per-request deadlines. The generation loop records its
 * own metrics (serving/serving_metrics.h); this file only writes them out. */
#include "server/server_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/secret.h"
#include "serving/serving_metrics.h"

void server_note_request(server_req *q, const char *name, int stream) {
    snprintf(q->model, sizeof q->model, "%s", name ? name : "");
    q->stream = stream;
}

/* ---------------------------------------------------------------- API key */

lm_status server_load_api_key(const char *path, char **out, lm_error *err) {
    *out = NULL;
    char *key = NULL;
    if (path) {
        FILE *f = fopen(path, "r");
        if (!f) return err_set(err, LM_ERR_IO, "--api_key_file %s: cannot be read", path);
        char line[4096];
        if (!fgets(line, sizeof line, f)) line[0] = '\0';
        fclose(f);
        key = strdup(line);
    } else {
        const char *env = getenv("API_KEY");
        if (!env) return LM_OK;
        key = strdup(env);
    }
    if (!key) return err_set(err, LM_ERR_NOMEM, "out of memory");
    /* The first line, right-trimmed (OVMS): drops the newline and trailing blanks. */
    size_t n = strcspn(key, "\r\n");
    while (n && (key[n - 1] == ' ' || key[n - 1] == '\t')) n--;
    key[n] = '\0';
    if (n == 0) {
        free(key);
        if (path) return err_set(err, LM_ERR_INVALID, "--api_key_file %s: the first line is empty", path);
        return LM_OK; /* API_KEY="" means no key, as OVMS */
    }
    *out = key;
    return LM_OK;
}

/* Routes that stay open without --api_key_protect_health: health, readiness and /metrics (what
 * load balancers and Prometheus poll), and CORS preflights (browsers send them without
 * credentials). */
static int is_health_route(server_route r) {
    return r == ROUTE_LIVE || r == ROUTE_READY || r == ROUTE_MODEL_READY || r == ROUTE_METRICS;
}

int server_authorized(const server_req *q) {
    const server *s = q->srv;
    /* the chat page's static files hold no data: the page asks for the key when the API says 401 */
    if (!s->api_key || q->route == ROUTE_OPTIONS || q->route == ROUTE_UI) return 1;
    if (is_health_route(q->route) && !s->protect_health) return 1;
    const char *given = NULL;
    size_t len = 0;
    const char *auth = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        given = auth + 7;
        while (*given == ' ') given++;
        len = strlen(given);
        while (len && given[len - 1] == ' ') len--;
    } else {
        /* Anthropic clients send x-api-key. */
        given = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "x-api-key");
        len = given ? strlen(given) : 0;
    }
    if (!given) return 0;
    return secret_equal(s->api_key, s->api_key_len, given, len);
}

enum MHD_Result server_respond_unauthorized(server_req *q) {
    /* OpenAI's wording and code; the key itself is never echoed or logged. */
    return server_respond_error(q, MHD_HTTP_UNAUTHORIZED,
                                "Invalid or missing API key: send it as 'Authorization: Bearer <key>' "
                                "(or 'x-api-key: <key>')",
                                "", "invalid_api_key");
}

/* ---------------------------------------------------------------- metrics: families */

static const char *const k_ovms_labels[] = {"api", "interface", "method", "name", NULL};
static const char *const k_ovms_time_labels[] = {"method", "name", NULL};
static const char *const k_name_label[] = {"name", NULL};
static const char *const k_reason_labels[] = {"name", "reason", NULL};
static const char *const k_class_labels[] = {"name", "class", NULL};
static const char *const k_state_labels[] = {"name", "state", NULL};

/* OVMS families that describe classic (non-LLM) models: accepted in --metrics_list so that an
 * OVMS command line works unchanged, but nothing in lmserve records them. */
static const char *const k_ovms_not_applicable[] = {
    "ovms_current_requests", "ovms_request_time_us", "ovms_streams", "ovms_inference_time_us",
    "ovms_wait_for_infer_req_time_us", "ovms_infer_req_queue_size", "ovms_infer_req_active",
    "ovms_graph_request_latency_us",
};

lm_status server_metrics_define(server *s, const char *const *list, size_t n_list, lm_error *err) {
    metrics *m = s->mx;
    server_metrics *f = &s->hm;
    double us[METRICS_OVMS_N_BOUNDS];
    metrics_ovms_bounds(1e6, us);
    LM_TRY(serving_metrics_define(m, err));
#define FAM(field, name, help, type, labels, bounds, nb)                                          \
    if (!(f->field = metrics_family(m, name, help, type, labels, bounds, nb, err))) return err->code;
    FAM(current_graphs, "ovms_current_graphs", "Generation requests running now (OVMS: graphs executing).",
        METRIC_GAUGE, k_name_label, NULL, 0);
    FAM(accepted, "ovms_requests_accepted_total", "Generation requests accepted for a model.",
        METRIC_COUNTER, k_ovms_labels, NULL, 0);
    FAM(rejected, "ovms_requests_rejected_total",
        "Generation requests refused before they ran: queue full, model not available.",
        METRIC_COUNTER, k_ovms_labels, NULL, 0);
    FAM(responses, "ovms_responses_total",
        "Responses sent: one per unary request, one per write of a stream.", METRIC_COUNTER,
        k_ovms_labels, NULL, 0);
    FAM(graph_error, "ovms_graph_error_total",
        "Generation requests for a model that ended in an error (validation included).",
        METRIC_COUNTER, k_ovms_labels, NULL, 0);
    FAM(processing_time, "ovms_graph_processing_time_seconds",
        "Time from accepting a generation request to its end (OVMS's ovms_graph_processing_time_us, "
        "in seconds).", METRIC_HISTOGRAM, k_ovms_time_labels, us, METRICS_OVMS_N_BOUNDS);
    FAM(req_success, "ovms_requests_success_total", "KServe model readiness checks answered.",
        METRIC_COUNTER, k_ovms_labels, NULL, 0);
    FAM(req_fail, "ovms_requests_fail_total", "KServe model readiness checks that failed.",
        METRIC_COUNTER, k_ovms_labels, NULL, 0);
    FAM(prompt_tokens, "lmserve_prompt_tokens_total", "Prompt tokens of finished requests.",
        METRIC_COUNTER, k_name_label, NULL, 0);
    FAM(generation_tokens, "lmserve_generation_tokens_total", "Tokens generated (all samples).",
        METRIC_COUNTER, k_name_label, NULL, 0);
    FAM(cached_tokens, "lmserve_prompt_tokens_cached_total",
        "Prompt tokens served from the prefix cache.", METRIC_COUNTER, k_name_label, NULL, 0);
    FAM(prefix_hit_ratio, "lmserve_prefix_cache_hit_ratio",
        "Cached prompt tokens over all prompt tokens since start.", METRIC_GAUGE, k_name_label, NULL, 0);
    FAM(finished, "lmserve_requests_finished_total",
        "Samples finished, by reason: stop, length, abort (cancelled or client gone), error.",
        METRIC_COUNTER, k_reason_labels, NULL, 0);
    FAM(errors, "lmserve_request_errors_total",
        "Requests answered with an error, by class (bad_request, unauthorized, not_found, "
        "too_large, overloaded, unavailable, timeout, internal); name is empty when no model was "
        "named.", METRIC_COUNTER, k_class_labels, NULL, 0);
    FAM(model_state, "lmserve_model_state", "1 for the state each model is in (OVMS's states).",
        METRIC_GAUGE, k_state_labels, NULL, 0);
#undef FAM
    if (!list) return LM_OK;
    /* OVMS names map onto ours: a counter may be named without _total, the _us histogram is our
     * _seconds one, and OVMS families that do not apply to LLM graphs are accepted empty. */
    const char **names = calloc(n_list ? n_list : 1, sizeof *names);
    if (!names) return err_set(err, LM_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < n_list; i++) {
        int skip = 0;
        for (size_t k = 0; k < sizeof k_ovms_not_applicable / sizeof *k_ovms_not_applicable; k++)
            if (strcmp(list[i], k_ovms_not_applicable[k]) == 0) skip = 1;
        if (skip) {
            log_warn("--metrics_list: %s does not apply to LLM serving; lmserve exposes nothing for it",
                     list[i]);
            continue;
        }
        names[n++] = strcmp(list[i], "ovms_graph_processing_time_us") == 0
                         ? "ovms_graph_processing_time_seconds"
                         : list[i];
    }
    lm_status st = metrics_enable_only(m, names, n, err);
    free(names);
    return st;
}

/* ---------------------------------------------------------------- metrics: recording */

static const char *method_label(const server_req *q) { return q->stream ? "Stream" : "Unary"; }

static metric *ovms_series(metric_family *f, const server_req *q, const char *api, const char *method,
                           const char *name) {
    const char *v[] = {api, "REST", method, name};
    return metrics_series(f, v);
}

static metric *named(metric_family *f, const char *name) { return metrics_series(f, &name); }

/* Routes whose requests generate for a client (count_tokens generates one token internally and
 * is not counted). */
static int is_generation_route(const server_req *q) {
    return q->route == ROUTE_CHAT || q->route == ROUTE_COMPLETIONS || q->route == ROUTE_RESPONSES ||
           q->route == ROUTE_MESSAGES;
}

void server_metrics_accepted(server_req *q) {
    server *s = q->srv;
    if (!s->mx || !q->model[0] || !is_generation_route(q)) return;
    metric_inc(ovms_series(s->hm.accepted, q, "V3", method_label(q), q->model));
    metric_inc(named(s->hm.current_graphs, q->model));
}

void server_metrics_stream_write(server_req *q) {
    server *s = q->srv;
    if (s->mx && q->model[0]) metric_inc(ovms_series(s->hm.responses, q, "V3", "Stream", q->model));
}

/* The error class of an HTTP status (and what we know of why). */
static const char *error_class(const server_req *q, unsigned status) {
    if (q->timed_out) return "timeout";
    switch (status) {
    case 400: case 405: case 412: case 415: return "bad_request";
    case 401: return "unauthorized";
    case 404: return "not_found";
    case 408: return "timeout";
    case 413: return "too_large";
    case 503: return q->busy ? "overloaded" : "unavailable";
    default: return status >= 500 ? "internal" : "bad_request";
    }
}

static const char *finish_reason(gen_finish f) {
    switch (f) {
    case GEN_FINISH_STOP: return "stop";
    case GEN_FINISH_LENGTH: return "length";
    case GEN_FINISH_CANCELLED: return "abort";
    case GEN_FINISH_ERROR: return "error";
    default: return NULL;
    }
}

static void record_metrics(server_req *q, unsigned status, double seconds) {
    server *s = q->srv;
    server_metrics *f = &s->hm;
    const char *mname = q->model;
    int is_gen = is_generation_route(q);
    int failed = status >= 400 || q->failed;
    if (status >= 400 || q->failed) {
        const char *v[] = {mname, error_class(q, status >= 400 ? status : (unsigned)oai_http_status(q->fail_err.code))};
        metric_inc(metrics_series(f->errors, v));
    }
    if (q->route == ROUTE_MODEL_READY && q->route_arg) {
        metric_inc(ovms_series(status == 200 ? f->req_success : f->req_fail, q, "KServe", "ModelReady",
                               q->route_arg));
        return;
    }
    if (!is_gen || !q->model[0]) return;
    const char *method = method_label(q);
    if (q->accepted) {
        metric_sub(named(f->current_graphs, mname), 1);
        const char *tv[] = {method, mname};
        metric_observe(metrics_series(f->processing_time, tv), seconds);
        if (!q->stream && status) metric_inc(ovms_series(f->responses, q, "V3", method, mname));
        metric *pt = named(f->prompt_tokens, mname), *ct = named(f->cached_tokens, mname);
        metric_add(pt, (double)q->prompt_tokens);
        metric_add(ct, (double)q->cached_tokens);
        size_t gen = 0;
        for (int i = 0; i < q->n_gen; i++) {
            gen += q->ch[i].completion_tokens;
            const char *reason = finish_reason(q->ch[i].finish);
            if (!reason) reason = "abort"; /* the client went away before it finished */
            const char *rv[] = {mname, reason};
            metric_inc(metrics_series(f->finished, rv));
        }
        metric_add(named(f->generation_tokens, mname), (double)gen);
        double all = metric_value(pt);
        if (all > 0) metric_set(named(f->prefix_hit_ratio, mname), metric_value(ct) / all);
    } else if (status == 503) {
        metric_inc(ovms_series(f->rejected, q, "V3", method, mname));
    }
    if (failed && (q->accepted || status != 503))
        metric_inc(ovms_series(f->graph_error, q, "V3", method, mname));
}

enum MHD_Result server_handle_metrics(server_req *q) {
    server *s = q->srv;
    if (!s->mx) {
        /* OVMS answers 400 when metrics are off. */
        return server_respond_error(q, MHD_HTTP_BAD_REQUEST,
                                    "metrics are disabled: start lmserve with --metrics_enable", "", NULL);
    }
    /* Model states are read now, from the registry, rather than recorded on each change; a model
     * removed by a reload keeps its series, all 0. One scrape at a time (scrapes are rare), so
     * another cannot catch the states between zeroing and setting. */
    static const char *const states[] = {"START", "LOADING", "AVAILABLE", "UNLOADING", "END"};
    lm_buf out = {0};
    pthread_mutex_lock(&s->scrape_mu);
    metrics_family_zero(s->hm.model_state);
    registry_info info;
    for (size_t i = 0; registry_info_at(s->models, i, &info) == 0; i++)
        for (int k = 0; k < 5; k++) {
            const char *v[] = {info.name, states[k]};
            metric_set(metrics_series(s->hm.model_state, v), (int)info.state == k ? 1 : 0);
        }
    metrics_write(s->mx, &out);
    pthread_mutex_unlock(&s->scrape_mu);
    if (out.oom) {
        buf_fini(&out);
        return server_respond_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", "", NULL);
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(out.len, out.data ? out.data : "",
                                                             out.data ? MHD_RESPMEM_MUST_FREE
                                                                      : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        buf_fini(&out);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    server_add_cors(r);
    q->status = MHD_HTTP_OK;
    enum MHD_Result res = MHD_queue_response(q->conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    q->phase = PHASE_DONE;
    return res;
}

/* ---------------------------------------------------------------- the end of a request */

void server_request_done(server_req *q) {
    if (q->done_recorded) return;
    q->done_recorded = 1;
    /* A stream's status is 200 once it started; a request that never got an answer (the client
     * left first) is logged with status 0. */
    unsigned status = q->status;
    double seconds = (double)(clock_now_us() - q->t_start_us) / 1e6;
    if (q->srv->mx) record_metrics(q, status, seconds);
    if (!log_enabled(LOG_INFO)) return;
    int is_gen = q->accepted;
    size_t gen = 0;
    for (int i = 0; i < q->n_gen; i++) gen += q->ch[i].completion_tokens;
    const char *finish = NULL;
    if (is_gen) {
        finish = q->timed_out ? "timeout" : q->n_gen ? finish_reason(q->ch[0].finish) : NULL;
        if (!finish) finish = "abort";
    }
    log_field f[] = {
        {.key = "method", .str = q->method},
        {.key = "path", .str = q->path},
        {.key = "model", .str = q->model[0] ? q->model : NULL},
        {.key = "status", .num = status, .is_num = 1},
        {.key = "stream", .str = is_gen ? (q->stream ? "true" : "false") : NULL},
        {.key = "prompt_tokens", .num = (double)q->prompt_tokens, .is_num = is_gen},
        {.key = "completion_tokens", .num = (double)gen, .is_num = is_gen},
        {.key = "ttft_s", .num = q->ttft_s, .is_num = is_gen && q->ttft_s >= 0},
        {.key = "duration_s", .num = seconds, .is_num = 1},
        {.key = "finish", .str = finish},
        {.key = "id", .str = q->id[0] ? q->id : NULL},
    };
    log_fields(LOG_INFO, "access", f, sizeof f / sizeof f[0]);
}

/* ---------------------------------------------------------------- deadlines */

void server_check_deadlines(server *s) {
    if (s->request_timeout_ms <= 0) return;
    int64_t now = clock_now_us();
    pthread_mutex_lock(&s->mu);
    for (server_req *q = s->inflight; q; q = q->next) {
        if (q->timed_out || now - q->t_start_us < (int64_t)s->request_timeout_ms * 1000) continue;
        q->timed_out = 1;
        generation_cancel(q->gen);
    }
    pthread_mutex_unlock(&s->mu);
}
