/* tests/fuzz/fuzz_responses.c — libFuzzer target for the Responses API request translation
 * (src/server/responses.c) and the writer it feeds.
 *
 * The input is a request body. Checks what the layer promises: a body is translated or refused
 * with a status, a non-empty message and the field; a translated request is a chat request with
 * a model and a non-empty array of messages whose roles and contents are strings, which the chat
 * parser either accepts or refuses cleanly; the writer then builds a response (unary and streamed)
 * that serializes, whatever the request held. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/responses.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static void check_error(const oai_error *e) {
    FUZZ_CHECK(e->e.code != LM_OK && e->e.msg[0] != '\0');
    json_t *b = oai_error_body(oai_http_status(e->e.code), e->e.msg, resp_param_name(e->param), NULL);
    char *s = json_dumps(b, JSON_COMPACT);
    FUZZ_CHECK(s != NULL);
    free(s);
    json_decref(b);
}

static void play(const resp_request *r, lm_buf *sse) {
    resp_writer *w = resp_writer_create("resp_fuzz", "m", 0, r);
    FUZZ_CHECK(w != NULL);
    if (sse) resp_writer_begin(w, sse);
    const out_event evs[] = {{OUT_REASONING, 0, NULL, "hm", 2}, {OUT_TEXT, 0, NULL, "hi", 2},
                             {OUT_TOOL_BEGIN, 0, "call_1", "lookup", 6}, {OUT_TOOL_ARGS, 0, NULL, "{}", 2}};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) resp_writer_event(w, &evs[i], sse);
    proto_end end = {GEN_FINISH_STOP, NULL, NULL, 3, 4, 0};
    resp_writer_end(w, &end, sse);
    json_t *resp = resp_writer_response(w);
    char *s = json_dumps(resp, JSON_COMPACT);
    FUZZ_CHECK(s != NULL);
    free(s);
    json_decref(resp);
    resp_writer_destroy(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    oai_error e;
    oai_error_clear(&e);
    json_t *root = NULL;
    if (oai_parse_json((const char *)data, size, &root, &e) != LM_OK) return 0;
    resp_request r;
    if (resp_parse_request(root, &r, &e) != LM_OK) {
        FUZZ_CHECK(r.chat == NULL);
        check_error(&e);
        json_decref(root);
        return 0;
    }
    FUZZ_CHECK(json_is_string(json_object_get(r.chat, "model")));
    json_t *msgs = json_object_get(r.chat, "messages");
    FUZZ_CHECK(json_is_array(msgs) && json_array_size(msgs) > 0);
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        FUZZ_CHECK(json_is_string(json_object_get(m, "role")));
        FUZZ_CHECK(json_is_string(json_object_get(m, "content")));
    }
    oai_request chat;
    oai_error_clear(&e);
    if (oai_parse_request(OAI_CHAT, r.chat, &chat, &e) == LM_OK)
        oai_request_fini(&chat);
    else
        check_error(&e);
    lm_buf sse = {0};
    play(&r, NULL);
    play(&r, &sse);
    FUZZ_CHECK(!sse.oom && sse.len > 0);
    buf_fini(&sse);
    resp_request_fini(&r);
    json_decref(root);
    return 0;
}
