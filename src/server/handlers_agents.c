/* handlers_agents.c — the OpenAI Responses and Anthropic Messages endpoints on the one generation
 * path of handlers.c: their bodies become chat requests (responses.h, anthropic.h), and what the
 * generation produces goes through the protocol's writer instead of the chat chunk builder. */
#include "server/server_impl.h"

#include <string.h>

int server_agent_route(const server_req *q) {
    return q->route == ROUTE_RESPONSES || q->route == ROUTE_MESSAGES;
}

lm_status server_agent_translate(server_req *q, oai_error *err) {
    json_t *chat = NULL;
    if (q->route == ROUTE_RESPONSES) {
        LM_TRY(resp_parse_request(q->root, &q->rreq, err));
        chat = json_incref(q->rreq.chat);
    } else {
        LM_TRY(anth_parse_request(q->root, q->route == ROUTE_COUNT_TOKENS, &q->areq, err));
        chat = json_incref(q->areq.chat);
    }
    json_decref(q->root);
    q->root = chat; /* oai_parse_request borrows its strings from here */
    return LM_OK;
}

int server_agent_begin(server_req *q) {
    lm_buf *sse = q->oreq.stream ? &q->out : NULL;
    if (q->route == ROUTE_RESPONSES) {
        q->rw = resp_writer_create(q->id, q->oreq.model, q->meta.created, &q->rreq);
        if (!q->rw) return 0;
        if (sse) resp_writer_begin(q->rw, sse);
    } else {
        q->aw = anth_writer_create(q->id, q->oreq.model, q->prompt_tokens);
        if (!q->aw) return 0;
        if (sse) anth_writer_begin(q->aw, sse);
    }
    return 1;
}

static void feed(server_req *q, const out_event *ev, lm_buf *sse) {
    if (q->rw) resp_writer_event(q->rw, ev, sse);
    if (q->aw) anth_writer_event(q->aw, ev, sse);
}

void server_agent_chunk(server_req *q, const gen_chunk *c, lm_buf *sse) {
    if (q->agent_ended) return;
    /* a chunk keeps each kind apart; in the model's output reasoning comes before the answer,
     * and tool calls end it */
    if (c->reasoning.len) {
        out_event ev = {OUT_REASONING, 0, NULL, c->reasoning.data, c->reasoning.len};
        feed(q, &ev, sse);
    }
    if (c->text.len) {
        out_event ev = {OUT_TEXT, 0, NULL, c->text.data, c->text.len};
        feed(q, &ev, sse);
    }
    for (size_t i = 0; i < c->n_tool_events; i++) {
        const out_tool_event *t = &c->tool_events[i];
        out_event ev = {t->kind, t->index, t->id, t->text, t->len};
        feed(q, &ev, sse);
    }
    if (c->finish == GEN_FINISH_NONE) return;
    const char *stop = c->stop_string > 0 && c->stop_string <= q->oreq.n_stop ? q->oreq.stop[c->stop_string - 1] : NULL;
    proto_end end = {c->finish, stop, &c->err, q->prompt_tokens, c->completion_tokens, q->cached_tokens};
    if (q->rw) resp_writer_end(q->rw, &end, sse);
    if (q->aw) anth_writer_end(q->aw, &end, sse);
    q->agent_ended = 1;
}

enum MHD_Result server_agent_respond(server_req *q) {
    if (q->aw) {
        int status = 500;
        const char *msg = NULL;
        if (anth_writer_failed(q->aw, &status, &msg)) return server_respond_error(q, (unsigned)status, msg, "", NULL);
        return server_respond_json(q, MHD_HTTP_OK, anth_writer_message(q->aw));
    }
    if (q->failed)
        return server_respond_error(q, (unsigned)oai_http_status(q->fail_err.code), q->fail_err.msg, "", NULL);
    if (q->cancelled)
        return server_respond_error(q, MHD_HTTP_SERVICE_UNAVAILABLE,
                                    "the server is shutting down; the request was cancelled", "", "unavailable");
    return server_respond_json(q, MHD_HTTP_OK, resp_writer_response(q->rw));
}

void server_agent_release(server_req *q) {
    resp_writer_destroy(q->rw);
    anth_writer_destroy(q->aw);
    q->rw = NULL;
    q->aw = NULL;
    resp_request_fini(&q->rreq);
    anth_request_fini(&q->areq);
    q->agent_ended = 0;
}
