/* tests/fuzz/fuzz_anthropic.c — libFuzzer target for the Anthropic Messages request translation
 * (src/server/anthropic.c) and the writer it feeds.
 *
 * The first byte picks messages or count_tokens; the rest is the request body. Checks what the
 * layer promises: a body is translated or refused with a status and a non-empty message, whose
 * Anthropic error body serializes; a translated request is a chat request with a model and a
 * non-empty array of messages whose roles and contents are strings, which the chat parser accepts
 * or refuses cleanly; the writer's message (unary and streamed) serializes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/anthropic.h"

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
    json_t *b = anth_error_body(oai_http_status(e->e.code), e->e.msg);
    char *s = json_dumps(b, JSON_COMPACT);
    FUZZ_CHECK(s != NULL);
    free(s);
    json_decref(b);
}

static void play(lm_buf *sse) {
    anth_writer *w = anth_writer_create("msg_fuzz", "m", 3);
    FUZZ_CHECK(w != NULL);
    if (sse) anth_writer_begin(w, sse);
    const out_event evs[] = {{OUT_REASONING, 0, NULL, "hm", 2}, {OUT_TEXT, 0, NULL, "hi", 2},
                             {OUT_TOOL_BEGIN, 0, "toolu_1", "Bash", 4}, {OUT_TOOL_ARGS, 0, NULL, "{\"a\":", 5}};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) anth_writer_event(w, &evs[i], sse);
    proto_end end = {GEN_FINISH_LENGTH, NULL, NULL, 3, 4, 1};
    anth_writer_end(w, &end, sse);
    json_t *msg = anth_writer_message(w);
    char *s = json_dumps(msg, JSON_COMPACT);
    FUZZ_CHECK(s != NULL);
    free(s);
    json_decref(msg);
    anth_writer_destroy(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int count_tokens = data[0] & 1;
    oai_error e;
    oai_error_clear(&e);
    json_t *root = NULL;
    if (oai_parse_json((const char *)data + 1, size - 1, &root, &e) != LM_OK) return 0;
    anth_request r;
    if (anth_parse_request(root, count_tokens, &r, &e) != LM_OK) {
        FUZZ_CHECK(r.chat == NULL);
        check_error(&e);
        json_decref(root);
        return 0;
    }
    FUZZ_CHECK(!count_tokens || !r.stream);
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
    play(NULL);
    play(&sse);
    FUZZ_CHECK(!sse.oom && sse.len > 0);
    buf_fini(&sse);
    anth_request_fini(&r);
    json_decref(root);
    return 0;
}
