/* tests/serving/test_servable.c — a servable's users (src/serving/servable.c): retain/release,
 * servable_wait_idle() waiting for in-flight requests to finish on their own (what a live reload
 * does before unloading a removed model), and requests released or cancelled after the destroy
 * (the struct outlives it until its last user is gone; ASan checks the memory). */
#include "lmtest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "serving/serving.h"

static servable *make(void) {
    servable_config c = {0};
    c.name = "demo";
    c.path = lmtest_demo_model();
    c.max_num_seqs = 4;
    c.n_ctx = 256;
    servable *s = NULL;
    lm_error err;
    err_clear(&err);
    if (servable_create(&c, &s, &err) != LM_OK) fail_msg("servable_create: %s", err.msg);
    return s;
}

static gen_request *submit(servable *s, int max_tokens) {
    static const int32_t prompt[] = {1, 403, 407, 261, 378};
    gen_params p = gen_params_default();
    p.prompt = prompt;
    p.n_prompt = sizeof prompt / sizeof prompt[0];
    p.max_tokens = max_tokens;
    p.ignore_eos = 1;
    gen_request *r = NULL;
    lm_error err;
    err_clear(&err);
    if (gen_submit(s, &p, &r, &err) != LM_OK) fail_msg("submit: %s", err.msg);
    return r;
}

/* Reads r to its end; returns the finish. */
static gen_finish read_all(gen_request *r) {
    gen_finish fin = GEN_FINISH_NONE;
    for (int i = 0; i < 100000 && fin == GEN_FINISH_NONE; i++) {
        gen_chunk c = {0};
        if (!gen_poll(r, &c, 10000)) fail_msg("no output within 10 s");
        fin = c.finish;
        gen_chunk_fini(&c);
    }
    return fin;
}

static void test_retain_release(void **state) {
    (void)state;
    servable *s = make();
    assert_int_equal(servable_wait_idle(s, 0), 1);
    servable_retain(s);
    servable_retain(s);
    assert_int_equal(servable_wait_idle(s, 0), 0);
    assert_int_equal(servable_wait_idle(s, 30), 0); /* times out */
    servable_release(s);
    assert_int_equal(servable_wait_idle(s, 0), 0);
    servable_release(s);
    assert_int_equal(servable_wait_idle(s, -1), 1);
    servable_release(NULL);
    servable_destroy(s);
}

static void test_request_is_a_user_until_released(void **state) {
    (void)state;
    servable *s = make();
    gen_request *r = submit(s, 8);
    assert_int_equal(servable_wait_idle(s, 0), 0);
    assert_int_equal(read_all(r), GEN_FINISH_LENGTH);
    /* finished, but the reader still holds it */
    assert_int_equal(servable_wait_idle(s, 20), 0);
    gen_release(r);
    assert_int_equal(servable_wait_idle(s, 5000), 1);
    servable_destroy(s);
}

typedef struct {
    servable *s;
    atomic_int idle;             /* wait_idle returned */
} drainer;

static void *drain_main(void *arg) {
    drainer *d = arg;
    servable_wait_idle(d->s, -1);
    atomic_store(&d->idle, 1);
    servable_destroy(d->s);
    return NULL;
}

/* The owner drains while requests run: they finish normally (not cancelled), and the servable is
 * destroyed only once the last one is released. */
static void test_drain_lets_requests_finish(void **state) {
    (void)state;
    servable *s = make();
    gen_request *a = submit(s, 40), *b = submit(s, 200);
    drainer d = {s, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, drain_main, &d), 0);
    assert_int_equal(read_all(a), GEN_FINISH_LENGTH);
    gen_release(a);
    struct timespec ms20 = {0, 20 * 1000000L};
    nanosleep(&ms20, NULL);
    assert_int_equal(atomic_load(&d.idle), 0); /* b still holds it */
    assert_int_equal(read_all(b), GEN_FINISH_LENGTH);
    nanosleep(&ms20, NULL);
    assert_int_equal(atomic_load(&d.idle), 0);
    gen_release(b);
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&d.idle), 1);
}

/* Destroying with requests in flight cancels them; reading, cancelling and releasing them
 * afterwards touches no freed memory. */
static void test_release_after_destroy(void **state) {
    (void)state;
    servable *s = make();
    gen_request *r = submit(s, 0); /* until the context is full */
    gen_chunk c = {0};
    assert_int_equal(gen_poll(r, &c, 10000), 1);
    gen_chunk_fini(&c);
    servable_destroy(s);
    gen_finish fin = read_all(r);
    assert_true(fin == GEN_FINISH_CANCELLED || fin == GEN_FINISH_LENGTH);
    gen_cancel(r);
    gen_release(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retain_release),
        cmocka_unit_test(test_request_is_a_user_until_released),
        cmocka_unit_test(test_drain_lets_requests_finish),
        cmocka_unit_test(test_release_after_destroy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
