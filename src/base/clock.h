/* clock.h — monotonic time and wait deadlines. Waits measure CLOCK_MONOTONIC, never the wall
 * clock, so setting the system time (NTP, a user) neither cuts a wait short nor makes it last
 * forever.
 *
 *   pthread_cond_t cv;  clock_cond_init(&cv);            (once)
 *   struct timespec until = clock_deadline(timeout_ms);  (before the wait loop)
 *   while (!ready) if (pthread_cond_timedwait(&cv, &mu, &until) != 0) break; */
#ifndef LM_BASE_CLOCK_H
#define LM_BASE_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock (an arbitrary origin: only differences mean anything). */
int64_t clock_now_ms(void);
/* The same in microseconds (latency metrics). */
int64_t clock_now_us(void);

/* Initializes a condition variable whose timed waits take CLOCK_MONOTONIC deadlines. Returns 0,
 * or an errno value. */
int clock_cond_init(pthread_cond_t *cv);

/* The CLOCK_MONOTONIC instant timeout_ms (>= 0) from now, for pthread_cond_timedwait on a
 * condition variable made by clock_cond_init(). */
struct timespec clock_deadline(int64_t timeout_ms);

#endif
