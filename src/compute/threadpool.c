/* threadpool.c — the compute thread pool: one packed atomic job state, spin then sleep.
 *
 * Job protocol (why it is race-free): `state` packs (generation, task count, next task number).
 * The caller writes fn and ctx, then publishes a new generation with next = 0 (release). Anyone
 * claims task i by a compare-and-swap from (gen, n, i) to (gen, n, i + 1), having read fn and ctx
 * before it: if the swap succeeds the job was still unfinished at that moment, so the caller had
 * not yet overwritten fn and ctx, and the values read were this job's. Count and index come from
 * the same snapshot, so a stale worker can never run a task of a newer job by mistake. The caller
 * returns when `done` reaches n; a worker that never woke up for a job does not hold it up. */
#include "compute/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Spin iterations before sleeping: about 100-400 us of pause instructions, longer than the gap
 * between the matrix products of one decode step, far shorter than a scheduler tick. */
#define POOL_SPIN 20000

/* state = gen (bits 40..63) | n_tasks (bits 20..39) | next (bits 0..19) */
#define ST_IDX_BITS 20
#define ST_MAX_TASKS ((1 << ST_IDX_BITS) - 1)
_Static_assert(ST_MAX_TASKS == POOL_MAX_TASKS, "state packing holds POOL_MAX_TASKS");
#define ST_GEN(s) ((uint32_t)((s) >> 40))
#define ST_N(s) ((int)(((s) >> ST_IDX_BITS) & ST_MAX_TASKS))
#define ST_IDX(s) ((int)((s) & ST_MAX_TASKS))
#define ST_MAKE(gen, n) (((uint64_t)((gen) & 0xffffff) << 40) | ((uint64_t)(n) << ST_IDX_BITS))

struct pool {
    int n;                    /* threads, the caller's included */
    pthread_t *workers;       /* n - 1 */
    pthread_mutex_t run_lock; /* serialises pool_run() callers */
    pthread_mutex_t mu;       /* guards sleeping and waking */
    pthread_cond_t cv_work;   /* workers wait here for a new generation */
    pthread_cond_t cv_done;   /* the caller waits here for the last task */
    _Atomic(pool_task_fn) fn; /* the current job (read by workers before they claim) */
    _Atomic(void *) ctx;
    _Atomic uint64_t state;   /* packed (gen, n_tasks, next) */
    atomic_int done;          /* tasks of the current job that have returned */
    atomic_int stop;          /* set once, by pool_destroy */
};

/* The pool whose task this thread is running (NULL outside tasks): detects nesting. */
static _Thread_local const pool *tl_in_task;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Claims and runs tasks of generation gen until none are left. */
static void run_tasks(pool *p, uint32_t gen) {
    uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
    for (;;) {
        if (ST_GEN(s) != (gen & 0xffffff) || ST_IDX(s) >= ST_N(s)) return;
        pool_task_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&p->ctx, memory_order_relaxed);
        if (!atomic_compare_exchange_weak_explicit(&p->state, &s, s + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* s now holds the current state */
        int n = ST_N(s);
        fn(ctx, ST_IDX(s), n);
        if (atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel) + 1 == n) {
            pthread_mutex_lock(&p->mu); /* the caller may be asleep */
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
        s = atomic_load_explicit(&p->state, memory_order_acquire);
    }
}

static uint32_t current_gen(pool *p) {
    return ST_GEN(atomic_load_explicit(&p->state, memory_order_acquire));
}

static void *worker_main(void *arg) {
    pool *p = arg;
    tl_in_task = p;
    uint32_t seen = 0; /* the generation at creation: a job published before we got here counts */
    for (;;) {
        uint32_t g;
        int spins = 0;
        while ((g = current_gen(p)) == seen && !atomic_load_explicit(&p->stop, memory_order_acquire) &&
               spins < POOL_SPIN) {
            cpu_relax();
            spins++;
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = current_gen(p)) == seen && !atomic_load_explicit(&p->stop, memory_order_acquire))
                pthread_cond_wait(&p->cv_work, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (g == seen) break; /* stop requested and no new job */
        seen = g;
        run_tasks(p, g);
    }
    return NULL;
}

/* ---- cores ---------------------------------------------------------------------------------- */

static int read_int_file(const char *path, int *out) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int ok = fscanf(f, "%d", out) == 1;
    fclose(f);
    return ok;
}

int pool_physical_cores(void) {
    cpu_set_t set;
    int n_logical = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n_logical = CPU_COUNT(&set);
    if (n_logical <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (int)n : 1;
    }
    /* distinct (package, core) pairs among the CPUs we may use */
    enum { MAX_CORES = 1024 };
    int seen_pkg[MAX_CORES], seen_core[MAX_CORES];
    int n_cores = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        char path[128];
        int pkg = 0, core = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
        if (!read_int_file(path, &pkg)) return n_logical;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        if (!read_int_file(path, &core)) return n_logical;
        int dup = 0;
        for (int i = 0; i < n_cores && !dup; i++) dup = seen_pkg[i] == pkg && seen_core[i] == core;
        if (dup) continue;
        if (n_cores == MAX_CORES) break;
        seen_pkg[n_cores] = pkg;
        seen_core[n_cores] = core;
        n_cores++;
    }
    return n_cores > 0 ? n_cores : n_logical;
}

/* ---- lifetime ------------------------------------------------------------------------------- */

lm_status pool_create(int n_threads, pool **out, lm_error *err) {
    *out = NULL;
    if (n_threads <= 0) n_threads = pool_physical_cores();
    if (n_threads > POOL_MAX_THREADS)
        return err_set(err, LM_ERR_INVALID, "thread pool of %d threads: at most %d", n_threads,
                       POOL_MAX_THREADS);
    pool *p = calloc(1, sizeof *p);
    if (!p) return err_set(err, LM_ERR_NOMEM, "thread pool: out of memory");
    p->n = n_threads;
    p->workers = calloc((size_t)n_threads, sizeof *p->workers);
    if (!p->workers) {
        free(p);
        return err_set(err, LM_ERR_NOMEM, "thread pool: out of memory");
    }
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    atomic_init(&p->fn, NULL);
    atomic_init(&p->ctx, NULL);
    atomic_init(&p->state, ST_MAKE(0, 0));
    atomic_init(&p->done, 0);
    atomic_init(&p->stop, 0);
    for (int i = 0; i < n_threads - 1; i++) {
        int rc = pthread_create(&p->workers[i], NULL, worker_main, p);
        if (rc != 0) {
            p->n = i + 1; /* join the ones that started */
            pool_destroy(p);
            return err_set(err, LM_ERR_INTERNAL, "thread pool: cannot start thread %d of %d: %s",
                           i + 1, n_threads - 1, strerror(rc));
        }
    }
    *out = p;
    return LM_OK;
}

void pool_destroy(pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n - 1; i++) pthread_join(p->workers[i], NULL);
    pthread_cond_destroy(&p->cv_done);
    pthread_cond_destroy(&p->cv_work);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->run_lock);
    free(p->workers);
    free(p);
}

int pool_size(const pool *p) { return p ? p->n : 1; }

/* ---- jobs ----------------------------------------------------------------------------------- */

void pool_run(pool *p, int n_tasks, pool_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (!p || p->n == 1 || n_tasks == 1 || n_tasks > POOL_MAX_TASKS || tl_in_task) {
        const pool *outer = tl_in_task;
        tl_in_task = p ? p : outer; /* tasks that nest again stay serial */
        for (int i = 0; i < n_tasks; i++) fn(ctx, i, n_tasks);
        tl_in_task = outer;
        return;
    }
    pthread_mutex_lock(&p->run_lock);
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    uint32_t gen = (current_gen(p) + 1) & 0xffffff;
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->state, ST_MAKE(gen, n_tasks), memory_order_release);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);

    tl_in_task = p;
    run_tasks(p, gen);
    tl_in_task = NULL;

    int spins = 0;
    while (atomic_load_explicit(&p->done, memory_order_acquire) < n_tasks && spins < POOL_SPIN) {
        cpu_relax();
        spins++;
    }
    if (atomic_load_explicit(&p->done, memory_order_acquire) < n_tasks) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load_explicit(&p->done, memory_order_acquire) < n_tasks)
            pthread_cond_wait(&p->cv_done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&p->run_lock);
}
