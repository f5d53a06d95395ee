/* tests/serving/test_prefix_cache.c — prefix caching in the servable and the cache itself: a
 * repeated prompt reuses its cached blocks and gives the same text as without the cache;
 * prompts that share a beginning share blocks while running concurrently; a small KV pool forces
 * LRU eviction and every request still completes correctly. */
#include "lmtest.h"

#include <pthread.h>
#include <string.h>

#include "serving/prefix_cache.h"
#include "engine/engine.h"
#include "model/model.h"
#include "serving/serving.h"

/* 40 tokens: the oracle prompt "Once upon a time" and llama.cpp's continuation */
static const int32_t g_prefix[40] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395,
                                     317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265,
                                     282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432};

static servable *make(int prefix, double cache_gb, int max_seqs) {
    servable_config c = {0};
    c.name = "demo";
    c.path = lmtest_demo_model();
    c.max_num_seqs = max_seqs;
    c.n_ctx = 256;
    c.cache_size_gb = cache_gb;
    c.enable_prefix_caching = prefix;
    servable *s = NULL;
    lm_error err;
    err_clear(&err);
    if (servable_create(&c, &s, &err) != LM_OK) fail_msg("servable_create: %s", err.msg);
    return s;
}

/* Greedy generation of `max` tokens after prompt[0..n); text into *out, cached tokens returned. */
static size_t run(servable *s, const int32_t *prompt, size_t n, int max, lm_buf *out) {
    gen_params p = gen_params_default();
    p.prompt = prompt;
    p.n_prompt = n;
    p.max_tokens = max;
    p.ignore_eos = 1;
    gen_request *r = NULL;
    lm_error err;
    err_clear(&err);
    if (gen_submit(s, &p, &r, &err) != LM_OK) fail_msg("submit: %s", err.msg);
    size_t cached = 0;
    for (;;) {
        gen_chunk c = {0};
        if (!gen_poll(r, &c, 10000)) fail_msg("no output within 10 s");
        buf_append(out, c.text.data ? c.text.data : "", c.text.len);
        gen_finish fin = c.finish;
        if (fin != GEN_FINISH_NONE) {
            assert_int_equal(fin, GEN_FINISH_LENGTH);
            assert_int_equal(c.prompt_tokens, n);
            cached = c.cached_tokens;
        }
        gen_chunk_fini(&c);
        if (fin != GEN_FINISH_NONE) break;
    }
    gen_release(r);
    return cached;
}

static void test_repeated_prompt_reuses_blocks(void **state) {
    (void)state;
    servable *plain = make(0, 0, 4), *cached = make(1, 0, 4);
    lm_buf want = {0}, a = {0}, b = {0};
    assert_int_equal(run(plain, g_prefix, 40, 24, &want), 0);
    assert_int_equal(run(cached, g_prefix, 40, 24, &a), 0);  /* first time: nothing cached */
    assert_int_equal(run(cached, g_prefix, 40, 24, &b), 32); /* (40 - 1) / 16 = 2 full blocks */
    assert_string_equal(buf_cstr(&a), buf_cstr(&want));
    assert_string_equal(buf_cstr(&b), buf_cstr(&want));
    /* a prompt that only shares the first block reuses one block */
    int32_t other[40];
    memcpy(other, g_prefix, sizeof other);
    other[20] = 300;
    lm_buf c = {0}, cw = {0};
    assert_int_equal(run(cached, other, 40, 16, &c), 16);
    run(plain, other, 40, 16, &cw);
    assert_string_equal(buf_cstr(&c), buf_cstr(&cw));
    buf_fini(&want);
    buf_fini(&a);
    buf_fini(&b);
    buf_fini(&c);
    buf_fini(&cw);
    servable_destroy(plain);
    servable_destroy(cached);
}

typedef struct {
    servable *s;
    int variant;
    lm_buf text;
} job;

static void make_prompt(int variant, int32_t *p) {
    memcpy(p, g_prefix, 40 * sizeof *p);
    p[36] = 300 + variant; /* same first two blocks, different ending */
    p[39] = 260 + variant;
}

static void *worker(void *arg) {
    job *j = arg;
    int32_t p[40];
    make_prompt(j->variant, p);
    run(j->s, p, 40, 20, &j->text);
    return NULL;
}

static void test_concurrent_shared_prefixes_and_eviction(void **state) {
    (void)state;
    /* a pool of ~40 blocks (10240 bytes each for the demo model): 8 concurrent requests of up to
     * 60 positions (4 blocks each) plus a growing cache must evict to make room */
    servable *plain = make(0, 0, 8), *cached = make(1, 40 * 10240 / 1e9, 8);
    enum { N = 24 };
    lm_buf want[6] = {{0}};
    for (int v = 0; v < 6; v++) {
        int32_t p[40];
        make_prompt(v, p);
        run(plain, p, 40, 20, &want[v]);
    }
    job jobs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (job){cached, i % 6, {0}};
        pthread_create(&th[i], NULL, worker, &jobs[i]);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        assert_string_equal(buf_cstr(&jobs[i].text), buf_cstr(&want[jobs[i].variant]));
        buf_fini(&jobs[i].text);
    }
    /* many distinct prompts through the small pool: eviction keeps everything flowing */
    for (int k = 0; k < 30; k++) {
        int32_t p[40];
        for (int i = 0; i < 40; i++) p[i] = 1 + (k * 131 + i * 17) % 500;
        lm_buf t = {0};
        run(cached, p, 40, 4, &t);
        buf_fini(&t);
    }
    for (int v = 0; v < 6; v++) buf_fini(&want[v]);
    servable_destroy(plain);
    servable_destroy(cached);
}

/* The cache alone: chains, exact token comparison, LRU eviction of unused leaves only. */
static void test_cache_structure(void **state) {
    (void)state;
    model *m = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(model_load_gguf(lmtest_demo_model(), &m, &err), LM_OK);
    engine_params ep = engine_params_default();
    ep.block_size = 4;
    ep.n_ctx = 16;
    ep.max_seqs = 2;
    engine *e = NULL;
    assert_int_equal(engine_create(m, &ep, &e, &err), LM_OK);
    int seq;
    int32_t toks[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    float logits[512];
    assert_int_equal(engine_seq_open(e, &seq, &err), LM_OK);
    engine_item it = {seq, toks, 12, ENGINE_LOGITS_LAST, logits};
    assert_int_equal(engine_step(e, &it, 1, &err), LM_OK);
    const int *blocks;
    assert_int_equal(engine_seq_blocks(e, seq, &blocks), 3);
    int b[3] = {blocks[0], blocks[1], blocks[2]};

    prefix_cache *c = prefix_cache_create(8, 4);
    assert_non_null(c);
    prefix_cache_insert(c, e, toks, 3, b);
    assert_int_equal(prefix_cache_size(c), 3);
    int out[3];
    assert_int_equal(prefix_cache_match(c, toks, 3, out), 3);
    assert_memory_equal(out, b, sizeof b);
    int32_t diff[12];
    memcpy(diff, toks, sizeof diff);
    diff[5] = 99; /* second block differs: only the first matches */
    assert_int_equal(prefix_cache_match(c, diff, 3, out), 1);
    diff[5] = 6;
    diff[0] = 2; /* first block differs: the later blocks must not match on their own */
    assert_int_equal(prefix_cache_match(c, diff, 3, out), 0);
    /* while the sequence holds them nothing can be evicted */
    assert_int_equal(prefix_cache_evict(c, e, 3), 0);
    engine_seq_close(e, seq);
    /* leaves go first: one at a time, the chain shrinks from its end */
    assert_int_equal(prefix_cache_evict(c, e, 1), 1);
    assert_int_equal(prefix_cache_match(c, toks, 3, out), 2);
    assert_int_equal(prefix_cache_evict(c, e, 5), 2);
    assert_int_equal(prefix_cache_size(c), 0);
    assert_int_equal(engine_free_blocks(e), 2 * 16 / 4);
    prefix_cache_destroy(c, e);
    engine_destroy(e);
    model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_structure),
        cmocka_unit_test(test_repeated_prompt_reuses_blocks),
        cmocka_unit_test(test_concurrent_shared_prefixes_and_eviction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
