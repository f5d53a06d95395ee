/* tests/serving/test_serving.c — the servable and its generation loop on the bundled demo model:
 * llama.cpp's greedy texts through gen_submit/gen_poll, stop strings (cut, kept, across token
 * boundaries), max_tokens, logprobs, many concurrent requests each getting exactly its own text,
 * cancellation, and errors at submission. */
#include "lmtest.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "serving/chat.h"
#include "serving/serving.h"

static servable *g_s;
static json_t *g_oracle;

static int setup(void **state) {
    (void)state;
    servable_config c = {0};
    c.name = "demo";
    c.path = lmtest_demo_model();
    c.max_num_seqs = 8;
    c.n_ctx = 256;
    lm_error err;
    err_clear(&err);
    if (servable_create(&c, &g_s, &err) != LM_OK) {
        print_error("servable_create: %s\n", err.msg);
        return -1;
    }
    json_error_t jerr;
    g_oracle = json_load_file(lmtest_data("oracles/stories260K.json"), 0, &jerr);
    return g_oracle ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    servable_destroy(g_s);
    json_decref(g_oracle);
    return 0;
}

/* Runs a request to the end; returns its finish, text in *text (caller frees with buf_fini). */
static gen_finish run(gen_params *p, lm_buf *text, size_t *n_tokens, double *sum_logprob) {
    gen_request *r = NULL;
    lm_error err;
    err_clear(&err);
    if (gen_submit(g_s, p, &r, &err) != LM_OK) fail_msg("submit: %s", err.msg);
    gen_finish fin = GEN_FINISH_NONE;
    size_t toks = 0;
    double lp = 0;
    while (fin == GEN_FINISH_NONE) {
        gen_chunk c = {0};
        if (!gen_poll(r, &c, 10000)) fail_msg("no output within 10 s");
        buf_append(text, c.text.data ? c.text.data : "", c.text.len);
        for (size_t i = 0; i < c.n_tokens; i++) lp += c.tokens[i].logprob;
        toks += c.n_tokens;
        fin = c.finish;
        if (fin == GEN_FINISH_ERROR) fail_msg("generation error: %s", c.err.msg);
        if (fin != GEN_FINISH_NONE) assert_int_equal(c.prompt_tokens, p->n_prompt);
        gen_chunk_fini(&c);
    }
    if (n_tokens) *n_tokens = toks;
    if (sum_logprob) *sum_logprob = lp;
    gen_release(r);
    return fin;
}

static size_t oracle_prompt(size_t i, int32_t *ids, const char **text) {
    json_t *c = json_array_get(json_object_get(g_oracle, "prompts"), i);
    json_t *jp = json_object_get(c, "prompt_tokens");
    for (size_t k = 0; k < json_array_size(jp); k++) ids[k] = (int32_t)json_integer_value(json_array_get(jp, k));
    if (text) *text = json_string_value(json_object_get(c, "generated_text"));
    return json_array_size(jp);
}

static void test_greedy_texts(void **state) {
    (void)state;
    for (size_t i = 0; i < json_array_size(json_object_get(g_oracle, "prompts")); i++) {
        int32_t ids[64];
        const char *want;
        gen_params p = gen_params_default();
        p.n_prompt = oracle_prompt(i, ids, &want);
        p.prompt = ids;
        p.max_tokens = 64;
        p.ignore_eos = 1;
        lm_buf text = {0};
        assert_int_equal(run(&p, &text, NULL, NULL), GEN_FINISH_LENGTH);
        assert_string_equal(buf_cstr(&text), want);
        buf_fini(&text);
    }
}

static void test_stop_strings(void **state) {
    (void)state;
    int32_t ids[64];
    const char *want;
    gen_params p = gen_params_default();
    p.n_prompt = oracle_prompt(0, ids, &want);
    p.prompt = ids;
    p.max_tokens = 64;
    /* "Lily" spans the tokens " L" "ily" or similar; the text before it must come back exactly */
    const char *stops[][2] = {{"Lily", NULL}, {"park.", "zzz"}, {"red ball", ","}};
    for (size_t k = 0; k < 3; k++) {
        for (int include = 0; include < 2; include++) {
            p.n_stop = stops[k][1] ? 2 : 1;
            p.stop[0] = stops[k][0];
            p.stop[1] = stops[k][1];
            p.include_stop_str_in_output = include;
            lm_buf text = {0};
            assert_int_equal(run(&p, &text, NULL, NULL), GEN_FINISH_STOP);
            /* expected: the oracle text cut at the earliest stop */
            size_t cut = strlen(want), len = 0;
            for (int j = 0; j < p.n_stop; j++) {
                const char *hit = strstr(want, p.stop[j]);
                if (hit && (size_t)(hit - want) < cut) {
                    cut = (size_t)(hit - want);
                    len = strlen(p.stop[j]);
                }
            }
            assert_true(cut < strlen(want));
            size_t n = include ? cut + len : cut;
            if (text.len != n || memcmp(buf_cstr(&text), want, n) != 0)
                fail_msg("stop '%s' include %d: got [%s]", p.stop[0], include, buf_cstr(&text));
            buf_fini(&text);
        }
    }
}

static void test_logprobs_and_length(void **state) {
    (void)state;
    int32_t ids[64];
    gen_params p = gen_params_default();
    p.n_prompt = oracle_prompt(1, ids, NULL);
    p.prompt = ids;
    p.max_tokens = 5;
    p.logprobs = 1;
    p.top_logprobs = 3;
    lm_buf text = {0};
    size_t n = 0;
    double lp = 0;
    assert_int_equal(run(&p, &text, &n, &lp), GEN_FINISH_LENGTH);
    assert_int_equal(n, 5);
    assert_true(lp < 0 && lp > -50);
    buf_fini(&text);
}

typedef struct {
    size_t prompt;
    int seeded;
    lm_buf text;
} job;

static void *worker(void *arg) {
    job *j = arg;
    int32_t ids[64];
    gen_params p = gen_params_default();
    p.n_prompt = oracle_prompt(j->prompt, ids, NULL);
    p.prompt = ids;
    p.max_tokens = 40;
    p.ignore_eos = 1;
    if (j->seeded) {
        p.sampling.temperature = 0.9f;
        p.sampling.seed = 1234 + j->prompt;
    }
    run(&p, &j->text, NULL, NULL);
    return NULL;
}

static void test_concurrent_requests_get_their_own_text(void **state) {
    (void)state;
    enum { N = 24 };
    job jobs[N], alone[6];
    pthread_t th[N];
    /* reference: each kind alone */
    for (int k = 0; k < 6; k++) {
        alone[k] = (job){(size_t)(k % 3), k >= 3, {0}};
        worker(&alone[k]);
    }
    for (int i = 0; i < N; i++) {
        jobs[i] = (job){(size_t)(i % 3), (i / 3) % 2, {0}};
        pthread_create(&th[i], NULL, worker, &jobs[i]);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        job *ref = &alone[jobs[i].prompt + (jobs[i].seeded ? 3 : 0)];
        assert_true(jobs[i].text.len > 0);
        assert_string_equal(buf_cstr(&jobs[i].text), buf_cstr(&ref->text));
        buf_fini(&jobs[i].text);
    }
    for (int k = 0; k < 6; k++) buf_fini(&alone[k].text);
}

static void test_cancel(void **state) {
    (void)state;
    int32_t ids[64];
    gen_params p = gen_params_default();
    p.n_prompt = oracle_prompt(0, ids, NULL);
    p.prompt = ids;
    p.max_tokens = 0; /* until the context is full */
    p.ignore_eos = 1;
    gen_request *r;
    lm_error err;
    err_clear(&err);
    assert_int_equal(gen_submit(g_s, &p, &r, &err), LM_OK);
    gen_chunk c = {0};
    assert_int_equal(gen_poll(r, &c, 10000), 1);
    gen_chunk_fini(&c);
    gen_cancel(r);
    gen_finish fin = GEN_FINISH_NONE;
    for (int i = 0; i < 1000 && fin == GEN_FINISH_NONE; i++) {
        assert_int_equal(gen_poll(r, &c, 10000), 1);
        fin = c.finish;
        gen_chunk_fini(&c);
    }
    assert_true(fin == GEN_FINISH_CANCELLED || fin == GEN_FINISH_LENGTH);
    gen_release(r);
    /* the servable still serves */
    lm_buf text = {0};
    p.max_tokens = 3;
    assert_int_equal(run(&p, &text, NULL, NULL), GEN_FINISH_LENGTH);
    buf_fini(&text);
}

static void test_submit_errors(void **state) {
    (void)state;
    int32_t ids[300];
    for (int i = 0; i < 300; i++) ids[i] = 1 + i % 400;
    gen_params p = gen_params_default();
    gen_request *r = NULL;
    lm_error err;
    err_clear(&err);
    p.prompt = ids;
    p.n_prompt = 300; /* context is 256 */
    assert_int_equal(gen_submit(g_s, &p, &r, &err), LM_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "300"));
    err_clear(&err);
    p.n_prompt = 0;
    assert_int_equal(gen_submit(g_s, &p, &r, &err), LM_ERR_INVALID);
    err_clear(&err);
    ids[0] = 9999;
    p.n_prompt = 3;
    assert_int_equal(gen_submit(g_s, &p, &r, &err), LM_ERR_INVALID);
    err_clear(&err);
    ids[0] = 1;
    p.sampling.temperature = -2;
    assert_int_equal(gen_submit(g_s, &p, &r, &err), LM_ERR_INVALID);
    assert_null(r);
}

static void test_chat_template(void **state) {
    (void)state;
    json_error_t jerr;
    json_t *msgs = json_loads("[{\"role\":\"user\",\"content\":\"Once upon a time\"}]", 0, &jerr);
    assert_non_null(msgs);
    lm_buf out = {0};
    lm_error err;
    err_clear(&err);
    if (servable_render_chat(g_s, msgs, NULL, NULL, &out, &err) != LM_OK) fail_msg("render: %s", err.msg);
    /* the demo template concatenates the message contents (models/demo/chat_template.jinja) */
    assert_non_null(strstr(buf_cstr(&out), "Once upon a time"));
    buf_fini(&out);
    /* a non-array is rejected, not rendered */
    err_clear(&err);
    assert_int_equal(servable_render_chat(g_s, json_object_get(json_array_get(msgs, 0), "role"), NULL,
                                          NULL, &out, &err), LM_ERR_INVALID);
    json_decref(msgs);
}

/* As transformers: absent tools and documents are None, not undefined. */
static void test_chat_tools_default_to_none(void **state) {
    (void)state;
    const char *src = "{{ tools is none }}|{{ documents is none }}|{{ add_generation_prompt }}|"
                      "{{ tools | length if tools is not none else 0 }}";
    chat_template *ct = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(chat_template_compile(src, strlen(src), NULL, &ct, &err), LM_OK);
    json_t *msgs = json_array(), *tools = json_loads("[{\"type\":\"function\"}]", 0, NULL);
    lm_buf out = {0};
    assert_int_equal(chat_template_render(ct, msgs, NULL, NULL, &out, &err), LM_OK);
    assert_string_equal(buf_cstr(&out), "True|True|True|0");
    buf_reset(&out);
    assert_int_equal(chat_template_render(ct, msgs, tools, NULL, &out, &err), LM_OK);
    assert_string_equal(buf_cstr(&out), "False|True|True|1");
    buf_fini(&out);
    json_decref(msgs);
    json_decref(tools);
    chat_template_destroy(ct);
}

static void test_token_bytes_with_real_tokenizer(void **state) {
    (void)state;
    tok_tokenizer *t = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(tok_load_path(lmtest_demo_model(), &t, &err), LM_OK);
    tok_ids ids = {0};
    assert_int_equal(tok_encode(t, "Once upon", 9, 0, &ids, &err), LM_OK);
    assert_true(ids.n >= 2);
    lm_buf b = {0}, all = {0};
    for (size_t i = 0; i < ids.n; i++) {
        gen_token_bytes(t, ids.ids[i], &b);
        buf_append(&all, b.data, b.len);
    }
    /* pieces keep their leading spaces: they concatenate to the text (with SentencePiece's
     * leading space on the first word) */
    assert_true(strstr(buf_cstr(&all), "Once upon") != NULL);
    buf_fini(&b);
    buf_fini(&all);
    tok_ids_fini(&ids);
    tok_destroy(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_texts),
        cmocka_unit_test(test_stop_strings),
        cmocka_unit_test(test_logprobs_and_length),
        cmocka_unit_test(test_concurrent_requests_get_their_own_text),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_submit_errors),
        cmocka_unit_test(test_chat_template),
        cmocka_unit_test(test_chat_tools_default_to_none),
        cmocka_unit_test(test_token_bytes_with_real_tokenizer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
