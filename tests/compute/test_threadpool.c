/* tests/compute/test_threadpool.c — the compute pool: every task runs exactly once, for many
 * jobs in a row and more tasks than threads; nesting runs serially; callers on several threads
 * are serialised; destroy joins (also right after create). */
#include "lmtest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "compute/threadpool.h"

enum { MAX_TASKS = 1000 };

typedef struct {
    atomic_int runs[MAX_TASKS];
    atomic_int nth_seen_wrong;
} count_ctx;

static void count_task(void *ctx, int ith, int nth) {
    count_ctx *c = ctx;
    atomic_fetch_add(&c->runs[ith], 1);
    (void)nth;
}

static void check_once(count_ctx *c, int n_tasks) {
    for (int i = 0; i < n_tasks; i++)
        if (atomic_load(&c->runs[i]) != 1)
            fail_msg("task %d of %d ran %d times", i, n_tasks, atomic_load(&c->runs[i]));
    for (int i = n_tasks; i < MAX_TASKS; i++) assert_int_equal(atomic_load(&c->runs[i]), 0);
}

static void test_cores_and_size(void **state) {
    (void)state;
    int cores = pool_physical_cores();
    print_message("physical cores: %d\n", cores);
    assert_true(cores >= 1);
    assert_int_equal(pool_size(NULL), 1);
    lm_error err;
    err_clear(&err);
    pool *p = NULL;
    assert_int_equal(pool_create(0, &p, &err), LM_OK);
    assert_int_equal(pool_size(p), cores);
    pool_destroy(p);
    assert_int_equal(pool_create(3, &p, &err), LM_OK);
    assert_int_equal(pool_size(p), 3);
    pool_destroy(p);
    assert_int_equal(pool_create(POOL_MAX_THREADS + 1, &p, &err), LM_ERR_INVALID);
    assert_null(p);
    pool_destroy(NULL);
}

static void test_every_task_once(void **state) {
    (void)state;
    lm_error err;
    err_clear(&err);
    const int sizes[] = {1, 2, 3, 5};
    static count_ctx c;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        pool *p = NULL;
        assert_int_equal(pool_create(sizes[s], &p, &err), LM_OK);
        const int task_counts[] = {0, 1, 2, 3, 4, 7, 64, MAX_TASKS};
        for (size_t k = 0; k < sizeof task_counts / sizeof task_counts[0]; k++) {
            memset(&c, 0, sizeof c);
            pool_run(p, task_counts[k], count_task, &c);
            check_once(&c, task_counts[k]);
        }
        /* many small jobs back to back: workers must never miss or repeat a generation */
        for (int rep = 0; rep < 20000; rep++) {
            int n = 1 + rep % 5;
            for (int i = 0; i < n; i++) atomic_store(&c.runs[i], 0);
            pool_run(p, n, count_task, &c);
            for (int i = 0; i < n; i++)
                if (atomic_load(&c.runs[i]) != 1)
                    fail_msg("pool %d rep %d: task %d ran %d times", sizes[s], rep, i,
                             atomic_load(&c.runs[i]));
        }
        pool_destroy(p);
    }
    /* no pool: the caller runs everything */
    memset(&c, 0, sizeof c);
    pool_run(NULL, 9, count_task, &c);
    check_once(&c, 9);
}

/* (ith, nth) splits: the ranges of all tasks tile [0, n) */
typedef struct {
    int64_t n;
    atomic_int covered[4096];
} split_ctx;

static void split_task(void *ctx, int ith, int nth) {
    split_ctx *s = ctx;
    int64_t r0 = s->n * ith / nth, r1 = s->n * (ith + 1) / nth;
    for (int64_t r = r0; r < r1; r++) atomic_fetch_add(&s->covered[r], 1);
}

static void test_split_covers_rows(void **state) {
    (void)state;
    lm_error err;
    err_clear(&err);
    pool *p = NULL;
    assert_int_equal(pool_create(4, &p, &err), LM_OK);
    static split_ctx s;
    memset(&s, 0, sizeof s);
    s.n = 4093;
    pool_run(p, 13, split_task, &s);
    for (int64_t r = 0; r < s.n; r++) assert_int_equal(atomic_load(&s.covered[r]), 1);
    pool_destroy(p);
}

/* A task that calls pool_run again on the same pool: must complete, serially. */
typedef struct {
    pool *p;
    count_ctx inner[4];
    atomic_int outer_runs;
} nest_ctx;

static void nested_task(void *ctx, int ith, int nth) {
    nest_ctx *n = ctx;
    atomic_fetch_add(&n->outer_runs, 1);
    pool_run(n->p, 10, count_task, &n->inner[ith]);
    (void)nth;
}

static void test_nested_is_safe(void **state) {
    (void)state;
    lm_error err;
    err_clear(&err);
    static nest_ctx n;
    memset(&n, 0, sizeof n);
    assert_int_equal(pool_create(2, &n.p, &err), LM_OK);
    pool_run(n.p, 4, nested_task, &n);
    assert_int_equal(atomic_load(&n.outer_runs), 4);
    for (int i = 0; i < 4; i++) check_once(&n.inner[i], 10);
    pool_destroy(n.p);
}

/* Two outside threads share one pool: calls are serialised, each job complete. */
typedef struct {
    pool *p;
    int failures;
} caller_ctx;

static void *caller_main(void *arg) {
    caller_ctx *cc = arg;
    static _Thread_local count_ctx c;
    for (int rep = 0; rep < 3000; rep++) {
        for (int i = 0; i < 6; i++) atomic_store(&c.runs[i], 0);
        pool_run(cc->p, 6, count_task, &c);
        for (int i = 0; i < 6; i++)
            if (atomic_load(&c.runs[i]) != 1) cc->failures++;
    }
    return NULL;
}

static void test_concurrent_callers(void **state) {
    (void)state;
    lm_error err;
    err_clear(&err);
    pool *p = NULL;
    assert_int_equal(pool_create(2, &p, &err), LM_OK);
    caller_ctx a = {p, 0}, b = {p, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, caller_main, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, caller_main, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.failures, 0);
    assert_int_equal(b.failures, 0);
    pool_destroy(p);
}

static void test_create_destroy_joins(void **state) {
    (void)state;
    lm_error err;
    err_clear(&err);
    for (int i = 0; i < 200; i++) { /* destroy right after create: workers may not have started */
        pool *p = NULL;
        assert_int_equal(pool_create(1 + i % 4, &p, &err), LM_OK);
        if (i % 2) {
            static count_ctx c;
            memset(&c, 0, sizeof c);
            pool_run(p, 3, count_task, &c);
            check_once(&c, 3);
        }
        pool_destroy(p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cores_and_size),
        cmocka_unit_test(test_every_task_once),
        cmocka_unit_test(test_split_covers_rows),
        cmocka_unit_test(test_nested_is_safe),
        cmocka_unit_test(test_concurrent_callers),
        cmocka_unit_test(test_create_destroy_joins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
