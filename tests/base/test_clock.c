/* tests/base/test_clock.c — monotonic time and wait deadlines (src/base/clock.c): the clock never
 * goes back, a deadline is on the monotonic clock a condition variable from clock_cond_init()
 * waits against (an elapsed deadline times out instead of waiting), and deadlines normalize. */
#include "lmtest.h"

#include <errno.h>

#include "base/clock.h"

static void test_now_never_goes_back(void **state) {
    (void)state;
    int64_t prev = clock_now_ms();
    for (int i = 0; i < 1000; i++) {
        int64_t now = clock_now_ms();
        assert_true(now >= prev);
        prev = now;
    }
}

static void test_deadline_waits(void **state) {
    (void)state;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv;
    assert_int_equal(clock_cond_init(&cv), 0);
    pthread_mutex_lock(&mu);
    struct timespec past = clock_deadline(0);
    assert_int_equal(pthread_cond_timedwait(&cv, &mu, &past), ETIMEDOUT);
    struct timespec soon = clock_deadline(20);
    assert_int_equal(pthread_cond_timedwait(&cv, &mu, &soon), ETIMEDOUT);
    pthread_mutex_unlock(&mu);
    pthread_cond_destroy(&cv);
}

static void test_deadline_normalized(void **state) {
    (void)state;
    int64_t ms[] = {0, 1, 999, 1000, 1999, 123456, -5};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        struct timespec ts = clock_deadline(ms[i]);
        assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
        int64_t at = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        assert_true(at >= clock_now_ms() + (ms[i] > 0 ? ms[i] : 0) - 1000); /* generous: no timing */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now_never_goes_back),
        cmocka_unit_test(test_deadline_waits),
        cmocka_unit_test(test_deadline_normalized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
