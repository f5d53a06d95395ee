/* tests/fuzz/fuzz_oai_request.c — libFuzzer target for the OpenAI request parser
 * (src/server/oai_request.c) and the response writer it feeds.
 *
 * The first byte picks the endpoint (chat, completions, tokenize); the rest is the request body.
 * Checks what the parser promises: a body is accepted or refused with a status and a message (a
 * JSON error also with its byte offset inside the body); an accepted request has values inside
 * their documented ranges and its gen_params pass the same bounds; an accepted chat request's
 * normalized messages are an array of objects whose content is a string or null; every error body
 * and every response built from the request serializes as JSON. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "server/oai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* The error body for e serializes, with the message and param as written. */
static void check_error(const oai_error *e) {
    FUZZ_CHECK(e->e.code != LM_OK);
    FUZZ_CHECK(e->e.msg[0] != '\0');
    int status = oai_http_status(e->e.code);
    FUZZ_CHECK(status == 400 || status == 404 || status == 500);
    json_t *b = oai_error_body(status, e->e.msg, e->param, NULL);
    char *s = json_dumps(b, JSON_COMPACT);
    FUZZ_CHECK(s != NULL);
    free(s);
    json_decref(b);
}

static void check_request(const oai_request *r) {
    FUZZ_CHECK(r->model != NULL);
    FUZZ_CHECK(r->n >= 1 && r->n <= OAI_MAX_N);
    FUZZ_CHECK(r->n_stop >= 0 && r->n_stop <= GEN_MAX_STOP);
    for (int i = 0; i < r->n_stop; i++) FUZZ_CHECK(r->stop[i] && r->stop[i][0]);
    FUZZ_CHECK(r->top_logprobs >= 0 && r->top_logprobs <= GEN_MAX_TOP_LOGPROBS);
    FUZZ_CHECK(!r->include_usage || r->stream);
    if (r->has_max_tokens) FUZZ_CHECK(r->max_tokens >= 1 && r->max_tokens <= LM_MAX_NEW_TOKENS);
    gen_params p = oai_gen_params(r, NULL, r->n - 1, 12345);
    const sampler_params *s = &p.sampling;
    FUZZ_CHECK(s->temperature >= 0 && s->temperature <= 2);
    FUZZ_CHECK(s->top_p > 0 && s->top_p <= 1);
    FUZZ_CHECK(s->top_k >= 0);
    FUZZ_CHECK(s->min_p >= 0 && s->min_p <= 1);
    FUZZ_CHECK(s->repetition_penalty > 0 && isfinite(s->repetition_penalty));
    FUZZ_CHECK(fabsf(s->presence_penalty) <= 2 && fabsf(s->frequency_penalty) <= 2);
    if (r->endpoint == OAI_CHAT) {
        FUZZ_CHECK(json_is_array(r->messages) && json_array_size(r->messages) > 0);
        size_t i;
        json_t *m;
        json_array_foreach(r->messages, i, m) {
            FUZZ_CHECK(json_is_object(m));
            FUZZ_CHECK(json_is_string(json_object_get(m, "role")));
            json_t *c = json_object_get(m, "content");
            FUZZ_CHECK(json_is_string(c) || json_is_null(c));
        }
        FUZZ_CHECK(!r->tools || json_array_size(r->tools) > 0);
    } else {
        FUZZ_CHECK((r->prompt && r->prompt_len > 0) || (r->prompt_ids && r->n_prompt_ids > 0));
        FUZZ_CHECK(!(r->echo && r->logprobs));
    }
    /* a response for it serializes (the model name comes from the request) */
    oai_meta meta = {r->endpoint, "cmpl-fuzz", r->model, 0};
    oai_choice c = {"text", 4, NULL, GEN_FINISH_STOP, NULL, 0, NULL};
    oai_usage u = {1, 1, 0};
    json_t *resp = oai_response_unary(&meta, &c, 1, &u);
    char *s1 = json_dumps(resp, JSON_COMPACT);
    FUZZ_CHECK(s1 != NULL);
    free(s1);
    json_decref(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int which = data[0] % 3;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    oai_error e;
    oai_error_clear(&e);
    json_t *root = NULL;
    if (oai_parse_json(body, len, &root, &e) != LM_OK) {
        FUZZ_CHECK(root == NULL);
        FUZZ_CHECK(e.e.code == LM_ERR_FORMAT || e.e.code == LM_ERR_LIMIT); /* LIMIT: LM_REQ_MAX_JSON_DEPTH */
        FUZZ_CHECK(len == 0 || (e.e.offset >= 0 && (size_t)e.e.offset <= len));
        check_error(&e);
        return 0;
    }
    if (which == 2) {
        oai_tokenize_request t;
        if (oai_parse_tokenize(root, &t, &e) == LM_OK) {
            FUZZ_CHECK(t.model && t.n_texts >= 1);
            for (size_t i = 0; i < t.n_texts; i++) FUZZ_CHECK(t.texts[i] != NULL);
            FUZZ_CHECK(!t.batched || t.n_texts > 1);
            oai_tokenize_request_fini(&t);
        } else {
            check_error(&e);
        }
    } else {
        oai_request r;
        if (oai_parse_request(which == 0 ? OAI_CHAT : OAI_COMPLETIONS, root, &r, &e) == LM_OK) {
            check_request(&r);
            oai_request_fini(&r);
        } else {
            check_error(&e);
        }
    }
    json_decref(root);
    return 0;
}
