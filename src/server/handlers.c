/* handlers.c — the endpoints of the REST server: models, OVMS status and health, tokenize, and
 * chat/completions generation (unary and streamed). Requests arrive here with their body
 * complete (server.c); generation requests then alternate between polling their gen_requests
 * and suspending their connection until the generation loop has more (server_try_suspend). */
#include "server/server_impl.h"
#include "server/ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/log.h"

/* Looks up a model by name for a request; on failure answers 404 (unknown) or 503 (not loaded
 * yet) and returns NULL. */
static servable *find_model(server_req *q, const char *name, registry_model *limits, enum MHD_Result *res) {
    int st = -1;
    servable *sv = registry_find(q->srv->models, name, &st, limits);
    if (sv) return sv;
    char msg[LM_ERROR_MSG_MAX];
    if (st < 0) {
        snprintf(msg, sizeof msg, "The model `%s` does not exist", name);
        *res = server_respond_error(q, MHD_HTTP_NOT_FOUND, msg, "model", "model_not_found");
    } else {
        snprintf(msg, sizeof msg, "The model `%s` is not available (state %s)", name, servable_state_name(st));
        *res = server_respond_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, msg, "model", "model_not_ready");
    }
    return NULL;
}

static enum MHD_Result respond_oai_error(server_req *q, const oai_error *e) {
    return server_respond_error(q, (unsigned)oai_http_status(e->e.code), e->e.msg, e->param, NULL);
}

/* ---------------------------------------------------------------- models, status, health */

static json_t *model_object(const registry_info *info) {
    json_t *m = json_object();
    json_object_set_new(m, "id", json_string(info->name));
    json_object_set_new(m, "object", json_string("model"));
    json_object_set_new(m, "created", json_integer(info->created));
    json_object_set_new(m, "owned_by", json_string("lmserve"));
    return m;
}

static enum MHD_Result handle_models(server_req *q) {
    json_t *data = json_array();
    registry_info info;
    for (size_t i = 0; registry_info_at(q->srv->models, i, &info) == 0; i++)
        if (info.state == SERVABLE_AVAILABLE) json_array_append_new(data, model_object(&info));
    json_t *r = json_object();
    json_object_set_new(r, "object", json_string("list"));
    json_object_set_new(r, "data", data);
    return server_respond_json(q, MHD_HTTP_OK, r);
}

static enum MHD_Result handle_model(server_req *q) {
    registry_info info;
    for (size_t i = 0; registry_info_at(q->srv->models, i, &info) == 0; i++)
        if (strcmp(info.name, q->route_arg) == 0 && info.state == SERVABLE_AVAILABLE)
            return server_respond_json(q, MHD_HTTP_OK, model_object(&info));
    char msg[LM_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg, "The model `%s` does not exist", q->route_arg);
    return server_respond_error(q, MHD_HTTP_NOT_FOUND, msg, "model", "model_not_found");
}

/* OVMS's GET /v1/config: each model's version status. lmserve models have one version, "1". A
 * model that failed to load is LOADING with FAILED_PRECONDITION, as OVMS reports a graph whose
 * validation failed, and the reason as the message. */
static json_t *config_status(registry *models) {
    json_t *r = json_object();
    registry_info info;
    for (size_t i = 0; registry_info_at(models, i, &info) == 0; i++) {
        json_t *status = json_object();
        int failed = info.failed || (info.error && *info.error);
        json_object_set_new(status, "error_code", json_string(failed ? "FAILED_PRECONDITION" : "OK"));
        json_object_set_new(status, "error_message", json_string(failed ? info.error : "OK"));
        json_t *v = json_object();
        json_object_set_new(v, "version", json_string("1"));
        json_object_set_new(v, "state", json_string(servable_state_name((int)info.state)));
        json_object_set_new(v, "status", status);
        json_t *versions = json_array();
        json_array_append_new(versions, v);
        json_t *m = json_object();
        json_object_set_new(m, "model_version_status", versions);
        json_object_set_new(r, info.name, m);
    }
    return r;
}

static enum MHD_Result handle_config(server_req *q) {
    return server_respond_json(q, MHD_HTTP_OK, config_status(q->srv->models));
}

/* OVMS's POST /v1/config/reload: re-reads the configuration and applies it; 201 with the new
 * status when something changed, 200 when nothing did, or OVMS's {"error": ...} (nothing
 * changed). Models being loaded show LOADING: the loads go on in the background. */
static enum MHD_Result handle_config_reload(server_req *q) {
    const repo_manager *m = q->srv->manager;
    if (!m || !m->reload) {
        json_t *e = json_object();
        json_object_set_new(e, "error", json_string("the server was not started with --config_path: "
                                                    "there is no configuration to reload"));
        return server_respond_json(q, MHD_HTTP_BAD_REQUEST, e);
    }
    int changed = 0;
    lm_error le;
    err_clear(&le);
    if (m->reload(m->ctx, &changed, &le) != LM_OK) {
        json_t *e = json_object();
        json_object_set_new(e, "error", oai_json_string_lossy(le.msg, strlen(le.msg)));
        return server_respond_json(q, (unsigned)oai_http_status(le.code), e);
    }
    return server_respond_json(q, changed ? MHD_HTTP_CREATED : MHD_HTTP_OK, config_status(q->srv->models));
}

static enum MHD_Result handle_model_ready(server_req *q) {
    int st = -1;
    servable_release(registry_find(q->srv->models, q->route_arg, &st, NULL));
    if (st < 0) {
        char msg[LM_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "The model `%s` does not exist", q->route_arg);
        return server_respond_error(q, MHD_HTTP_NOT_FOUND, msg, "model", "model_not_found");
    }
    return server_respond_json(q, st == SERVABLE_AVAILABLE ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, NULL);
}

/* ---------------------------------------------------------------- tokenize */

static enum MHD_Result handle_tokenize(server_req *q) {
    oai_error oe;
    oai_error_clear(&oe);
    json_t *root = NULL;
    if (oai_parse_json(q->body.data, q->body.len, &root, &oe) != LM_OK) return respond_oai_error(q, &oe);
    oai_tokenize_request tr;
    if (oai_parse_tokenize(root, &tr, &oe) != LM_OK) {
        json_decref(root);
        return respond_oai_error(q, &oe);
    }
    server_note_request(q, tr.model, 0);
    enum MHD_Result res = MHD_NO;
    servable *sv = find_model(q, tr.model, NULL, &res);
    if (sv) {
        json_t *all = json_array();
        lm_error le;
        err_clear(&le);
        lm_status s = LM_OK;
        for (size_t i = 0; i < tr.n_texts && s == LM_OK; i++) {
            int32_t *ids = NULL;
            size_t n_ids = 0;
            s = servable_tokenize_ids(sv, tr.texts[i], tr.text_lens[i], tr.add_special_tokens, &ids, &n_ids, &le);
            json_t *arr = json_array();
            size_t n = tr.max_length && n_ids > tr.max_length ? tr.max_length : n_ids;
            for (size_t k = 0; k < n; k++) json_array_append_new(arr, json_integer(ids[k]));
            json_array_append_new(all, arr);
            free(ids);
        }
        if (s != LM_OK) {
            json_decref(all);
            res = server_respond_error(q, (unsigned)oai_http_status(s), le.msg, "text", NULL);
        } else {
            json_t *r = json_object();
            json_object_set(r, "tokens", tr.batched ? all : json_array_get(all, 0));
            json_decref(all);
            res = server_respond_json(q, MHD_HTTP_OK, r);
        }
    }
    servable_release(sv);
    oai_tokenize_request_fini(&tr);
    json_decref(root);
    return res;
}

/* ---------------------------------------------------------------- generation: shared */

static int all_finished(const server_req *q) {
    for (int i = 0; i < q->n_gen; i++)
        if (q->ch[i].finish == GEN_FINISH_NONE) return 0;
    return 1;
}

static void cancel_all(server_req *q) {
    generation_cancel(q->gen);
}

/* Records what a finished chunk says about sample i. */
static void note_finish(server_req *q, int i, const gen_chunk *c) {
    if (c->finish == GEN_FINISH_CANCELLED && atomic_load(&q->timed_out)) {
        /* --request_timeout_s: the monitor cancelled it; the client gets a timeout error */
        gen_chunk t = *c;
        t.finish = GEN_FINISH_ERROR;
        err_clear(&t.err);
        err_set(&t.err, LM_ERR_TIMEOUT, "the request took longer than the server's limit of %d s "
                "(--request_timeout_s)", q->srv->request_timeout_ms / 1000);
        note_finish(q, i, &t);
        return;
    }
    if (i == 0) q->ttft_s = c->ttft_s;
    q->ch[i].finish = c->finish;
    q->ch[i].completion_tokens = c->completion_tokens;
    if (c->prompt_tokens) {
        q->prompt_tokens = c->prompt_tokens;
        q->cached_tokens = c->cached_tokens;
    }
    if (c->finish == GEN_FINISH_ERROR) {
        if (!q->failed) q->fail_err = c->err;
        q->failed = 1;
        cancel_all(q); /* one failed sample fails the request */
    } else if (c->finish == GEN_FINISH_CANCELLED) {
        q->cancelled = 1;
    }
}

static size_t total_completion_tokens(const server_req *q) {
    size_t n = 0;
    for (int i = 0; i < q->n_gen; i++) n += q->ch[i].completion_tokens;
    return n;
}

void server_generate_release(server_req *q) {
    generation_destroy(q->gen); /* cancels what still runs */
    q->gen = NULL;
    for (int i = 0; i < OAI_MAX_N; i++) {
        buf_fini(&q->ch[i].text);
        buf_fini(&q->ch[i].reasoning);
        json_decref(q->ch[i].logprobs);
        q->ch[i].logprobs = NULL;
        json_decref(q->ch[i].tool_calls);
        q->ch[i].tool_calls = NULL;
        q->ch[i].n_calls = 0;
    }
    q->n_gen = 0;
    server_agent_release(q);
    if (q->oreq_valid) oai_request_fini(&q->oreq);
    q->oreq_valid = 0;
    json_decref(q->root);
    q->root = NULL;
    q->echo_text = NULL;
}

/* ---------------------------------------------------------------- generation: unary */

/* Moves everything the samples have produced so far into q->ch. */
static void drain_unary(server_req *q) {
    gen_chunk c = {0};
    while (generation_poll(q->gen, &c) == 1) {
        int i = c.index;
        server_choice *ch = &q->ch[i];
        if (server_agent_route(q)) { /* the protocol's writer takes the output */
            if (c.finish != GEN_FINISH_NONE) note_finish(q, i, &c);
            server_agent_chunk(q, &c, NULL);
            gen_chunk_fini(&c);
            continue;
        }
        buf_append(&ch->text, c.text.data ? c.text.data : "", c.text.len);
        buf_append(&ch->reasoning, c.reasoning.data ? c.reasoning.data : "", c.reasoning.len);
        for (size_t k = 0; k < c.n_tool_events; k++) {
            oai_tool_calls_add(&ch->tool_calls, &c.tool_events[k]);
            ch->n_calls += c.tool_events[k].kind == OUT_TOOL_BEGIN;
        }
        if (q->oreq.logprobs && c.n_tokens) {
            if (q->oreq.endpoint == OAI_CHAT) {
                if (!ch->logprobs) {
                    ch->logprobs = json_object();
                    json_object_set_new(ch->logprobs, "content", json_array());
                }
                oai_logprobs_append_chat(json_object_get(ch->logprobs, "content"), c.tokens, c.n_tokens);
            } else {
                if (!ch->logprobs) ch->logprobs = oai_logprobs_completions_new();
                oai_logprobs_append_completions(ch->logprobs, c.tokens, c.n_tokens, &ch->text_offset);
            }
        }
        if (c.finish != GEN_FINISH_NONE) note_finish(q, i, &c);
        gen_chunk_fini(&c);
    }
}

static enum MHD_Result respond_unary(server_req *q) {
    if (q->failed)
        return server_respond_error(q, (unsigned)oai_http_status(q->fail_err.code), q->fail_err.msg, "", NULL);
    if (q->cancelled)
        return server_respond_error(q, MHD_HTTP_SERVICE_UNAVAILABLE,
                                    "the server is shutting down; the request was cancelled", "", "unavailable");
    oai_choice choices[OAI_MAX_N];
    lm_buf echoed[OAI_MAX_N];
    memset(echoed, 0, sizeof echoed);
    for (int i = 0; i < q->n_gen; i++) {
        server_choice *ch = &q->ch[i];
        choices[i].text = ch->text.data;
        choices[i].len = ch->text.len;
        if (q->echo_text) {
            buf_append(&echoed[i], q->echo_text, q->echo_len);
            buf_append(&echoed[i], ch->text.data ? ch->text.data : "", ch->text.len);
            choices[i].text = echoed[i].data;
            choices[i].len = echoed[i].len;
        }
        if (q->oreq.logprobs && !ch->logprobs) {
            /* asked for, but no tokens came: an empty list in the right shape */
            if (q->oreq.endpoint == OAI_CHAT) {
                ch->logprobs = json_object();
                json_object_set_new(ch->logprobs, "content", json_array());
            } else {
                ch->logprobs = oai_logprobs_completions_new();
            }
        }
        choices[i].logprobs = ch->logprobs;
        choices[i].finish = ch->finish;
        choices[i].reasoning = ch->reasoning.data;
        choices[i].reasoning_len = ch->reasoning.len;
        choices[i].tool_calls = ch->tool_calls;
    }
    oai_usage u = {q->prompt_tokens, total_completion_tokens(q), q->cached_tokens};
    json_t *r = oai_response_unary(&q->meta, choices, (size_t)q->n_gen, &u);
    for (int i = 0; i < q->n_gen; i++) buf_fini(&echoed[i]);
    return server_respond_json(q, MHD_HTTP_OK, r);
}

enum MHD_Result server_generate_resume(server_req *q) {
    for (;;) {
        if (server_client_gone(q)) {
            log_debug("client went away: cancelling %s", q->id);
            cancel_all(q);
            return MHD_NO; /* close; on_completed releases the requests */
        }
        drain_unary(q);
        if (all_finished(q)) return server_agent_route(q) ? server_agent_respond(q) : respond_unary(q);
        if (server_try_suspend(q)) return MHD_YES;
    }
}

/* ---------------------------------------------------------------- generation: streaming */

/* Turns one chunk of sample i into SSE events in q->out. */
static void emit_chunk(server_req *q, int i, const gen_chunk *c) {
    server_choice *ch = &q->ch[i];
    int has_tokens = q->oreq.logprobs && c->n_tokens;
    if (!ch->started && q->echo_text) {
        oai_sse_append(&q->out, oai_chunk_text(&q->meta, i, q->echo_text, q->echo_len, 1, NULL));
        ch->started = 1;
    }
    int ends_normally = c->finish == GEN_FINISH_STOP || c->finish == GEN_FINISH_LENGTH;
    if (c->reasoning.len) {
        oai_sse_append(&q->out, oai_chunk_reasoning(&q->meta, i, c->reasoning.data, c->reasoning.len, !ch->started));
        ch->started = 1;
    }
    if (c->text.len || has_tokens || (ends_normally && !ch->started && !c->n_tool_events)) {
        json_t *lp = NULL;
        if (has_tokens) {
            if (q->oreq.endpoint == OAI_CHAT) {
                lp = json_object();
                json_t *content = json_array();
                oai_logprobs_append_chat(content, c->tokens, c->n_tokens);
                json_object_set_new(lp, "content", content);
            } else {
                lp = oai_logprobs_completions_new();
                oai_logprobs_append_completions(lp, c->tokens, c->n_tokens, &ch->text_offset);
            }
        }
        oai_sse_append(&q->out, oai_chunk_text(&q->meta, i, c->text.data, c->text.len, !ch->started, lp));
        json_decref(lp);
        ch->started = 1;
    }
    for (size_t k = 0; k < c->n_tool_events; k++) {
        oai_sse_append(&q->out, oai_chunk_tool_event(&q->meta, i, &c->tool_events[k], !ch->started));
        ch->started = 1;
        ch->n_calls += c->tool_events[k].kind == OUT_TOOL_BEGIN;
    }
    if (ends_normally) oai_sse_append(&q->out, oai_chunk_finish_calls(&q->meta, i, c->finish, ch->n_calls > 0));
    if (c->finish != GEN_FINISH_NONE) note_finish(q, i, c);
}

/* Polls every running sample and appends what they produced; once all are done, appends the
 * usage chunk (if asked), or the error event, and [DONE]. */
static void stream_produce(server_req *q) {
    gen_chunk c = {0};
    while (generation_poll(q->gen, &c) == 1) {
        if (server_agent_route(q)) {
            if (c.finish != GEN_FINISH_NONE) note_finish(q, c.index, &c);
            server_agent_chunk(q, &c, &q->out);
        } else {
            emit_chunk(q, c.index, &c);
        }
        gen_chunk_fini(&c);
    }
    if (!all_finished(q) || q->stream_end) return;
    if (server_agent_route(q)) { /* the writer ended the stream with its own last events */
        q->stream_end = 1;
        return;
    }
    oai_usage u = {q->prompt_tokens, total_completion_tokens(q), q->cached_tokens};
    oai_stream_end end = {q->failed ? &q->fail_err : NULL, q->cancelled, q->oreq.include_usage ? &u : NULL};
    oai_sse_finish(&q->out, &q->meta, &end);
    q->stream_end = 1;
}

/* MHD's content reader for an SSE response: hands over pending bytes, else polls for more, else
 * suspends the connection until the generation loop notifies. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    server_req *q = cls;
    for (;;) {
        if (q->out_pos < q->out.len) {
            size_t n = q->out.len - q->out_pos;
            if (n > max) n = max;
            memcpy(buf, q->out.data + q->out_pos, n);
            q->out_pos += n;
            if (q->out_pos == q->out.len) {
                buf_reset(&q->out);
                q->out_pos = 0;
            }
            return (ssize_t)n;
        }
        if (q->stream_end) return MHD_CONTENT_READER_END_OF_STREAM;
        if (q->out.oom) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (server_client_gone(q)) {
            log_debug("client went away: cancelling %s", q->id);
            cancel_all(q);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        stream_produce(q);
        if (q->out.len > 0) {
            server_metrics_stream_write(q);
            continue;
        }
        if (server_try_suspend(q)) return 0;
    }
}

static enum MHD_Result start_stream(server_req *q) {
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, q, NULL);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    server_add_cors(r);
    enum MHD_Result res = MHD_queue_response(q->conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    q->status = MHD_HTTP_OK;
    return res;
}

/* ---------------------------------------------------------------- generation: start */

static uint64_t random_seed(void) {
    uint64_t x;
    if (getrandom(&x, sizeof x, GRND_NONBLOCK) == (ssize_t)sizeof x) return x;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec;
}

/* The one crossing into serving: what the client asked, as serving takes it. */
static generation_request generation_request_of(server_req *q) {
    const oai_request *r = &q->oreq;
    generation_request g;
    memset(&g, 0, sizeof g);
    g.model = r->model;
    if (r->endpoint == OAI_CHAT) {
        g.kind = GEN_PROMPT_CHAT;
        g.messages = r->messages;
        g.tools = r->tools;
        g.template_kwargs = r->template_kwargs;
    } else if (r->prompt_ids) {
        g.kind = GEN_PROMPT_IDS;
        g.ids = r->prompt_ids;
        g.n_ids = r->n_prompt_ids;
    } else {
        g.kind = GEN_PROMPT_TEXT;
        g.text = r->prompt;
        g.text_len = r->prompt_len;
    }
    g.echo = r->echo;
    g.n = r->n;
    g.asked = oai_gen_asked(r);
    g.random_seed = random_seed();
    g.notify = server_waker_notify;
    g.notify_ctx = q->w;
    return g;
}

static enum MHD_Result handle_generate(server_req *q, oai_endpoint endpoint) {
    oai_error oe;
    oai_error_clear(&oe);
    if (oai_parse_json(q->body.data, q->body.len, &q->root, &oe) != LM_OK) return respond_oai_error(q, &oe);
    if ((server_agent_route(q) || q->route == ROUTE_COUNT_TOKENS) && server_agent_translate(q, &oe) != LM_OK)
        return respond_oai_error(q, &oe);
    if (oai_parse_request(endpoint, q->root, &q->oreq, &oe) != LM_OK) return respond_oai_error(q, &oe);
    q->oreq_valid = 1;
    if (q->route == ROUTE_COUNT_TOKENS) { /* only the prompt is needed: one token, then cancelled */
        q->oreq.has_max_tokens = 1;
        q->oreq.max_tokens = 1;
        q->oreq.stream = 0;
    }
    server_note_request(q, q->oreq.model, q->oreq.stream);
    q->w = server_waker_get(q->srv, q->conn, q->fd);
    if (!q->w) return server_respond_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", "", NULL);

    generation_request greq = generation_request_of(q);
    generation_error ge;
    if (generation_submit(q->srv->models, &greq, &q->gen, &ge) != LM_OK) {
        if (ge.unavailable)
            return server_respond_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, ge.e.msg, ge.param, ge.code);
        if (ge.e.code == LM_ERR_NOT_FOUND) return server_respond_error(q, MHD_HTTP_NOT_FOUND, ge.e.msg, ge.param, ge.code);
        if (atomic_load(&q->srv->stopping))
            return server_respond_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is shutting down", "",
                                        "unavailable");
        if (ge.e.code == LM_ERR_BUSY) { /* the model's queue is full: come back in a second */
            q->busy = 1;
            q->retry_after_s = 1;
            return server_respond_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, ge.e.msg, "", "overloaded");
        }
        return server_respond_error(q, (unsigned)oai_http_status(ge.e.code), ge.e.msg, ge.param, ge.code);
    }
    q->n_gen = generation_samples(q->gen);
    q->prompt_tokens = generation_prompt_tokens(q->gen);
    q->echo_text = generation_echo(q->gen, &q->echo_len);
    if (q->route == ROUTE_COUNT_TOKENS) { /* Anthropic's count_tokens: the rendered prompt's size */
        generation_destroy(q->gen);
        q->gen = NULL;
        q->n_gen = 0;
        return server_respond_json(q, MHD_HTTP_OK, json_pack("{s:I}", "input_tokens", (json_int_t)q->prompt_tokens));
    }

    oai_make_id(q->route == ROUTE_RESPONSES  ? "resp_"
                : q->route == ROUTE_MESSAGES ? "msg_"
                : endpoint == OAI_CHAT       ? "chatcmpl-"
                                             : "cmpl-",
                q->id, sizeof q->id);
    q->meta.endpoint = endpoint;
    q->meta.id = q->id;
    q->meta.model = q->oreq.model;
    q->meta.created = (int64_t)time(NULL);
    q->phase = PHASE_GENERATING;
    server_track(q);
    log_debug("%s: %d sample(s), %zu prompt tokens, %s", q->id, q->n_gen, q->prompt_tokens,
              q->oreq.stream ? "streamed" : "unary");
    if (server_agent_route(q) && !server_agent_begin(q)) {
        cancel_all(q);
        return server_respond_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", "", NULL);
    }
    if (q->oreq.stream) return start_stream(q);
    return server_generate_resume(q);
}

/* ---------------------------------------------------------------- dispatch */

enum MHD_Result server_dispatch(server_req *q) {
    switch (q->route) {
    case ROUTE_CHAT: return handle_generate(q, OAI_CHAT);
    case ROUTE_COMPLETIONS: return handle_generate(q, OAI_COMPLETIONS);
    case ROUTE_TOKENIZE: return handle_tokenize(q);
    case ROUTE_RESPONSES:
    case ROUTE_MESSAGES:
    case ROUTE_COUNT_TOKENS: return handle_generate(q, OAI_CHAT);
    case ROUTE_MODELS: return handle_models(q);
    case ROUTE_MODEL: return handle_model(q);
    case ROUTE_CONFIG: return handle_config(q);
    case ROUTE_CONFIG_RELOAD: return handle_config_reload(q);
    case ROUTE_LIVE: return server_respond_json(q, MHD_HTTP_OK, NULL);
    case ROUTE_READY:
        return server_respond_json(q, registry_all_ready(q->srv->models) ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                                   NULL);
    case ROUTE_MODEL_READY: return handle_model_ready(q);
    case ROUTE_METRICS: return server_handle_metrics(q);
    case ROUTE_UI: return ui_respond(q, q->route_arg);
    case ROUTE_BAD_METHOD:
        return server_respond_error(q, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed for this path", "", NULL);
    case ROUTE_OPTIONS:
    case ROUTE_NOT_FOUND: break;
    }
    return server_respond_error(q, MHD_HTTP_NOT_FOUND, "no such endpoint (see docs/api.md)", "", "not_found");
}
