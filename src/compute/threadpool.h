/* threadpool.h — a fixed pool of compute threads that run one data-parallel job at a time.
 *
 * A job is n_tasks calls fn(ctx, ith, nth) with ith in [0, nth), nth = n_tasks: each task picks
 * its share of the work from (ith, nth), as ggml's ops do, so results do not depend on which
 * thread runs which task. The thread calling pool_run() runs tasks too, so a pool of n threads
 * starts n - 1 workers. Workers spin briefly after a job (decode issues hundreds of small jobs
 * per token) and then sleep on a condition variable, so an idle pool costs no CPU once the spin
 * (well under a millisecond) is over.
 *
 * Threads: pool_run() may be called from any thread; calls from different threads are serialised.
 * A pool_run() issued from inside a task (of this or any pool) runs its tasks one after another
 * on the calling thread: nesting is safe, never parallel, never a deadlock. DESIGN: this pool is
 * for compute only and sized to physical cores; HTTP threads are elsewhere. */
#ifndef LM_COMPUTE_THREADPOOL_H
#define LM_COMPUTE_THREADPOOL_H

#include "base/error.h"

typedef struct pool pool;

/* One task of a job: do share ith of nth of the work described by ctx. */
typedef void (*pool_task_fn)(void *ctx, int ith, int nth);

/* Physical cores this process may run on (hyper-threads of one core count once); >= 1. */
int pool_physical_cores(void);

/* Creates a pool of n_threads threads, the caller's included (n_threads <= 0: one per physical
 * core). Fails with LM_ERR_NOMEM / LM_ERR_INTERNAL when memory or threads cannot be had;
 * LM_ERR_INVALID above POOL_MAX_THREADS. */
#define POOL_MAX_THREADS 256
lm_status pool_create(int n_threads, pool **out, lm_error *err);

/* Stops and joins every worker, then frees the pool. Accepts NULL. Must not be called from a
 * task or while another thread is inside pool_run() on this pool. */
void pool_destroy(pool *p);

/* Threads of the pool, the caller's included (1 for NULL). */
int pool_size(const pool *p);

/* Runs fn(ctx, i, n_tasks) once for every i in [0, n_tasks) and returns when all have returned.
 * p == NULL, n_tasks == 1 or n_tasks > POOL_MAX_TASKS runs them on the calling thread;
 * n_tasks <= 0 does nothing. Tasks may outnumber threads: threads claim task numbers until none
 * are left; a worker that is asleep or descheduled simply claims none. */
#define POOL_MAX_TASKS ((1 << 20) - 1)
void pool_run(pool *p, int n_tasks, pool_task_fn fn, void *ctx);

#endif
