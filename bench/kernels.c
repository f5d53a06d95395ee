/* bench/kernels.c — matrix-vector kernels against the memory-bandwidth roofline.
 *
 * Measures the machine's read bandwidth (a 1 GiB buffer summed by 1 and 2 threads in 64 MiB
 * pieces, with the widest SIMD the CPU has so the sum is not the limit), then, for every weight type and every
 * kernel set this CPU runs, a rows x cols matrix-vector product (default 4096 x 4096) with 1 and
 * 2 threads. Weights are streamed from memory, not cache: the
 * product cycles through enough copies of the matrix to exceed 1 GiB, as large as the bandwidth
 * buffer and 32 times a 32 MiB L3, so few reads hit a cache. Prints a markdown table:
 * GB/s of weight bytes read and the fraction of the measured bandwidth of the same thread count.
 * Also times the batched product (kern_matmul, 8 vectors) with 2 threads, as vectors per second
 * relative to 8 separate matrix-vector products.
 *
 *   bench_kernels [--rows N] [--cols N] [--bw-mib M] [--types t1,t2] [--sets s1,s2]
 *                 [--stat median|min] [--rounds R]
 *
 * --rounds R measures every figure R times, interleaved with the other kernel sets of the same
 * type, within the same total time, and keeps the fastest round: on a shared machine a neighbour's
 * burst then spoils one round, not the figure. The bandwidth is measured R times too. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "compute/cpu.h"
#include "compute/kernels.h"
#include "compute/quant.h"
#include "compute/threadpool.h"

/* ---- harness -------------------------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Statistic over the repetitions: the median (default), or the minimum (--stat min) for a shared
 * machine, where other tenants' work slows random repetitions and the fastest is the undisturbed
 * speed. */
static int g_use_min;

/* Median (or minimum) seconds of fn(arg) over at least `min_reps` runs and about `budget_s`
 * seconds, after one warm-up run. */
static double time_median(void (*fn)(void *), void *arg, int min_reps, double budget_s) {
    enum { MAX_REPS = 101 };
    double t[MAX_REPS];
    fn(arg);
    int n = 0;
    double start = now_s();
    while (n < MAX_REPS && (n < min_reps || now_s() - start < budget_s)) {
        double t0 = now_s();
        fn(arg);
        t[n++] = now_s() - t0;
    }
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    return g_use_min ? t[0] : t[n / 2];
}

/* ---- memory bandwidth ----------------------------------------------------------------------- */

/* The buffer is read one 64 MiB chunk per timed run, cycling, so a bandwidth sample spans the
 * same time as a 4096 x 4096 F32 product: both see the same moments of a shared memory bus. */
#define BW_CHUNK_WORDS ((size_t)8 << 20)

typedef struct {
    const uint64_t *buf;
    size_t words;           /* whole buffer */
    size_t chunk, n_chunks; /* chunk being read, chunks in the buffer */
    _Atomic uint64_t sink;  /* keeps the reads alive */
} bw_job;

/* Sums words [w0, w1) (w1 - w0 a multiple of 16). The SIMD loops keep several vector sums going
 * so one core reads as fast as memory delivers rather than as fast as it adds. */
#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint64_t *p, size_t w0, size_t w1) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = w0; i < w1; i += 16) {
        a0 = _mm256_add_epi64(a0, _mm256_loadu_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_loadu_si256((const __m256i *)(p + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_loadu_si256((const __m256i *)(p + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_loadu_si256((const __m256i *)(p + i + 12)));
    }
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t t[4];
    _mm256_storeu_si256((__m256i *)t, a0);
    return t[0] + t[1] + t[2] + t[3];
}

__attribute__((target("avx512f"))) static uint64_t sum_avx512(const uint64_t *p, size_t w0, size_t w1) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = w0;
    for (; i + 32 <= w1; i += 32) {
        a0 = _mm512_add_epi64(a0, _mm512_loadu_si512((const void *)(p + i)));
        a1 = _mm512_add_epi64(a1, _mm512_loadu_si512((const void *)(p + i + 8)));
        a2 = _mm512_add_epi64(a2, _mm512_loadu_si512((const void *)(p + i + 16)));
        a3 = _mm512_add_epi64(a3, _mm512_loadu_si512((const void *)(p + i + 24)));
    }
    for (; i < w1; i += 8) a0 = _mm512_add_epi64(a0, _mm512_loadu_si512((const void *)(p + i)));
    a0 = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
    return (uint64_t)_mm512_reduce_add_epi64(a0);
}
#endif

static uint64_t sum_plain(const uint64_t *p, size_t w0, size_t w1) {
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = w0; i < w1; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    return s0 + s1 + s2 + s3;
}

/* The second reader: the best kernel set's F32 dot over the chunk seen as rows of 4096 floats.
 * It streams a little faster than the plain sum on some machines (its loads are spread between
 * multiply-adds); the roofline is the faster of the two. */
static void bw_dot_task(void *ctx, int ith, int nth) {
    bw_job *j = ctx;
    const float *f = (const float *)(j->buf + j->chunk * BW_CHUNK_WORDS);
    int64_t rows = (int64_t)(BW_CHUNK_WORDS * 2 / 4096), r0 = rows * ith / nth, r1 = rows * (ith + 1) / nth;
    float y[64];
    for (int64_t r = r0; r < r1; r += 64) {
        int64_t n = r1 - r < 64 ? r1 - r : 64;
        kern_matvec(kern_best(), GGML_TYPE_F32, f + (size_t)r * 4096, 4096 * 4, n, 4096, f, y);
    }
    atomic_fetch_add(&j->sink, (uint64_t)(y[0] != 0.0f));
}

static void bw_task(void *ctx, int ith, int nth) {
    bw_job *j = ctx;
    size_t base = j->chunk * BW_CHUNK_WORDS;
    size_t w0 = base + BW_CHUNK_WORDS * (size_t)ith / (size_t)nth / 16 * 16;
    size_t w1 = base + BW_CHUNK_WORDS * (size_t)(ith + 1) / (size_t)nth / 16 * 16;
    uint64_t s;
#if defined(__x86_64__)
    if (cpu_features_get()->avx512f)
        s = sum_avx512(j->buf, w0, w1);
    else if (cpu_features_get()->avx2)
        s = sum_avx2(j->buf, w0, w1);
    else
#endif
        s = sum_plain(j->buf, w0, w1);
    atomic_fetch_add(&j->sink, s);
}

typedef struct {
    pool *p;
    bw_job *job;
    int dot; /* read with bw_dot_task instead of bw_task */
} bw_run_arg;

static void bw_run(void *arg) {
    bw_run_arg *a = arg;
    a->job->chunk = (a->job->chunk + 1) % a->job->n_chunks;
    pool_run(a->p, pool_size(a->p), a->dot ? bw_dot_task : bw_task, a->job);
}

/* ---- matrix-vector products ----------------------------------------------------------------- */

typedef struct {
    const kern_set *k;
    pool *p;
    ggml_type t;
    unsigned char *w; /* n_copies matrices, each rows * row_bytes */
    size_t row_bytes;
    int64_t rows, cols;
    int n_copies, next;
    const float *x;
    float *y;
    int n_batch;
} mv_arg;

static void mv_run(void *arg) {
    mv_arg *a = arg;
    const unsigned char *w = a->w + (size_t)a->next * (size_t)a->rows * a->row_bytes;
    a->next = (a->next + 1) % a->n_copies;
    if (a->n_batch == 1)
        kern_matvec_mt(a->k, a->p, a->t, w, a->row_bytes, a->rows, a->cols, a->x, a->y);
    else
        kern_matmul(a->k, a->p, a->t, w, a->row_bytes, a->rows, a->cols, a->x, a->n_batch, a->y);
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float frand(void) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((g_rng >> 40) & 0xffffff) / (float)0x1000000 * 2.0f - 1.0f;
}

/* Fills one matrix of type t with plausible weights (random bits + sane scales for K-quants). */
static int fill_matrix(ggml_type t, unsigned char *w, size_t row_bytes, int64_t rows, int64_t cols) {
    float *tmp = malloc((size_t)cols * sizeof(float));
    if (!tmp) return -1;
    lm_error err;
    err_clear(&err);
    for (int64_t r = 0; r < rows; r++) {
        unsigned char *row = w + (size_t)r * row_bytes;
        if (quant_can_quantize(t)) {
            for (int64_t i = 0; i < cols; i++) tmp[i] = 0.05f * frand();
            if (quant_quantize_row(t, tmp, cols, row, &err) != LM_OK) {
                free(tmp);
                return -1;
            }
        } else {
            for (size_t i = 0; i < row_bytes; i++) row[i] = (unsigned char)(frand() * 127.0f + 128.0f);
            size_t bb = quant_row_bytes(t, 256), d_off = t == GGML_TYPE_Q6_K ? 208 : 0;
            for (size_t b = 0; b < row_bytes / bb; b++) {
                uint16_t d = kern_f32_to_f16(0.001f);
                memcpy(row + b * bb + d_off, &d, 2);
                if (t != GGML_TYPE_Q6_K) memcpy(row + b * bb + 2, &d, 2);
            }
        }
    }
    free(tmp);
    return 0;
}

static int in_list(const char *list, const char *name) {
    if (!list) return 1;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int64_t rows = 4096, cols = 4096;
    long bw_mib = 1024;
    int rounds = 1;
    const char *types_arg = NULL, *sets_arg = NULL;
    printf("command:");
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\n\n");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rows") && i + 1 < argc) rows = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--cols") && i + 1 < argc) cols = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--bw-mib") && i + 1 < argc) bw_mib = atol(argv[++i]);
        else if (!strcmp(argv[i], "--types") && i + 1 < argc) types_arg = argv[++i];
        else if (!strcmp(argv[i], "--sets") && i + 1 < argc) sets_arg = argv[++i];
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--stat") && i + 1 < argc && !strcmp(argv[i + 1], "min")) g_use_min = 1, i++;
        else if (!strcmp(argv[i], "--stat") && i + 1 < argc && !strcmp(argv[i + 1], "median")) g_use_min = 0, i++;
        else {
            fprintf(stderr, "usage: %s [--rows N] [--cols N] [--bw-mib M] [--types t1,t2] [--sets s1,s2] "
                    "[--stat median|min] [--rounds R]\n", argv[0]);
            return 2;
        }
    }
    if (rows <= 0 || cols <= 0 || cols % 256 != 0 || bw_mib < 64 || bw_mib % 64 || rounds < 1 ||
        rounds > 20) {
        fprintf(stderr, "rows must be > 0, cols a multiple of 256, bw-mib a multiple of 64, rounds 1..20\n");
        return 2;
    }

    char desc[256], load[64] = "unknown";
    cpu_features_describe(cpu_features_get(), desc, sizeof desc);
    FILE *lf = fopen("/proc/loadavg", "r"); /* other work on the machine skews every figure */
    if (lf) {
        if (!fgets(load, sizeof load, lf)) strcpy(load, "unknown");
        load[strcspn(load, "\n")] = '\0';
        fclose(lf);
    }
    printf("cpu features: %s; physical cores: %d; load average at start: %s\n\n", desc,
           pool_physical_cores(), load);

    lm_error err;
    err_clear(&err);
    pool *pools[2] = {NULL, NULL};
    if (pool_create(1, &pools[0], &err) != LM_OK || pool_create(2, &pools[1], &err) != LM_OK) {
        fprintf(stderr, "pool: %s\n", err.msg);
        return 1;
    }

    /* memory bandwidth: read a bw_mib buffer */
    double bw[2];
    {
        size_t bytes = (size_t)bw_mib << 20;
        uint64_t *buf = aligned_alloc(4096, bytes); /* no load straddles two cache lines */
        if (!buf) {
            fprintf(stderr, "cannot allocate %ld MiB\n", bw_mib);
            return 1;
        }
        for (size_t i = 0; i < bytes / 4; i++) ((float *)buf)[i] = (float)(i % 1000) * 0.001f;
        bw_job job = {.buf = buf, .words = bytes / 8, .chunk = 0, .n_chunks = bytes / 8 / BW_CHUNK_WORDS};
        atomic_init(&job.sink, 0);
        double rd[2][2] = {{0, 0}, {0, 0}}; /* [reader][threads] */
        for (int round = 0; round < rounds; round++)
            for (int rdr = 0; rdr < 2; rdr++)
                for (int t = 0; t < 2; t++) {
                    bw_run_arg a = {pools[t], &job, rdr};
                    double sec = time_median(bw_run, &a, (int)job.n_chunks, 0.25 / rounds);
                    double gbs = (double)(BW_CHUNK_WORDS * 8) / sec / 1e9;
                    if (gbs > rd[rdr][t]) rd[rdr][t] = gbs;
                }
        for (int t = 0; t < 2; t++) bw[t] = rd[0][t] > rd[1][t] ? rd[0][t] : rd[1][t];
        printf("memory read bandwidth (%ld MiB buffer read in 64 MiB chunks; plain SIMD sum / %s F32 "
               "dot): %.1f / %.1f GB/s with 1 thread, %.1f / %.1f GB/s with 2 threads; roofline = the "
               "faster (checksum %llx)\n\n", bw_mib, kern_best()->name, rd[0][0], rd[1][0], rd[0][1],
               rd[1][1], (unsigned long long)atomic_load(&job.sink) & 0xf);
        free(buf);
    }

    const ggml_type types[] = {
        GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16,   GGML_TYPE_Q8_0,   GGML_TYPE_Q4_0,
        GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,   GGML_TYPE_Q4_K,   GGML_TYPE_Q5_K,
        GGML_TYPE_Q6_K, LM_TYPE_I8_CH,  LM_TYPE_I4_CH,    LM_TYPE_I4_G32,   LM_TYPE_I4_G64,
        LM_TYPE_I4_G128,
    };
    const kern_set *sets[8];
    size_t n_sets = kern_available(sets, 8);

    float *x = malloc((size_t)cols * 8 * sizeof(float)), *y = malloc((size_t)rows * 8 * sizeof(float));
    if (!x || !y) return 1;
    for (int64_t i = 0; i < cols * 8; i++) x[i] = frand();

    printf("Times are the %s of the repetitions of each measurement, best of %d round%s.\n\n",
           g_use_min ? "minimum" : "median", rounds, rounds == 1 ? "" : "s");
    printf("%lld x %lld matrix-vector product, weights streamed from memory (copies cycled through "
           ">= 1 GiB); GB/s = weight bytes / time; %% = of the measured bandwidth with the same "
           "threads. b=8: kern_matmul of 8 vectors, 2 threads, speed-up over 8 matrix-vector "
           "products.\n\n", (long long)rows, (long long)cols);
    printf("| type | bits/weight | set | own kernel | 1 thread GB/s | %% of 1-thread BW | 2 threads GB/s | "
           "%% of 2-thread BW | b=8 speed-up |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        ggml_type t = types[ti];
        if (!in_list(types_arg, quant_type_name(t))) continue;
        size_t rb = quant_row_bytes(t, cols);
        size_t mat = rb * (size_t)rows;
        int n_copies = (int)((1u << 30) / mat) + 1;
        unsigned char *w = malloc(mat * (size_t)n_copies);
        if (!w || fill_matrix(t, w, rb, rows, cols) != 0) {
            fprintf(stderr, "cannot build %s weights\n", quant_type_name(t));
            return 1;
        }
        for (int c = 1; c < n_copies; c++) memcpy(w + (size_t)c * mat, w, mat);
        /* rounds interleave the sets; each figure keeps its best round */
        enum { MAX_SETS = 8 };
        double sec[MAX_SETS][3];
        for (size_t si = 0; si < n_sets; si++) sec[si][0] = sec[si][1] = sec[si][2] = 1e30;
        for (int round = 0; round < rounds; round++) {
            for (size_t si = 0; si < n_sets; si++) {
                if (!in_list(sets_arg, sets[si]->name)) continue;
                /* the scalar set is slow; fewer repetitions keep the run short */
                double budget = (si == 0 ? 0.05 : 0.2) / rounds;
                for (int m = 0; m < 3; m++) {
                    mv_arg a = {sets[si], pools[m == 0 ? 0 : 1], t, w, rb, rows, cols, n_copies, 0, x, y,
                                m == 2 ? 8 : 1};
                    double tm = time_median(mv_run, &a, 3, budget);
                    if (tm < sec[si][m]) sec[si][m] = tm;
                }
            }
        }
        for (size_t si = 0; si < n_sets; si++) {
            if (!in_list(sets_arg, sets[si]->name)) continue;
            double gbs[2] = {(double)mat / sec[si][0] / 1e9, (double)mat / sec[si][1] / 1e9};
            printf("| %s | %.2f | %s | %s | %.1f | %.0f%% | %.1f | %.0f%% | %.1fx |\n", quant_type_name(t),
                   8.0 * (double)rb / (double)cols, sets[si]->name, sets[si]->dot[t] ? "yes" : "no (scalar)",
                   gbs[0], 100.0 * gbs[0] / bw[0], gbs[1], 100.0 * gbs[1] / bw[1],
                   8.0 * sec[si][1] / sec[si][2]);
        }
        fflush(stdout);
        free(w);
    }
    free(x);
    free(y);
    pool_destroy(pools[0]);
    pool_destroy(pools[1]);
    return 0;
}
