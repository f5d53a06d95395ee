/* clock.c — monotonic time and wait deadlines (clock.h). */
#include "base/clock.h"

int64_t clock_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int clock_cond_init(pthread_cond_t *cv) {
    pthread_condattr_t a;
    int r = pthread_condattr_init(&a);
    if (r != 0) return r;
    r = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    if (r == 0) r = pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
    return r;
}

struct timespec clock_deadline(int64_t timeout_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (timeout_ms < 0) timeout_ms = 0;
    ts.tv_sec += (time_t)(timeout_ms / 1000);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int64_t clock_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
