/* engine.c — engine throughput in llama-bench's shapes, against the memory-bandwidth roofline.
 *
 *   bench_engine [--model PATH] [--threads N] [--weight_format F] [--group_size G]
 *                [--reps R] [--n-prompt P] [--n-gen G] [--depth D] [--batches 1,4,8,16]
 *                [--f32-activations]
 *
 * Tests, each after one warm-up run of the same test, repeated R times (default 3), reported as
 * the median with the range (llama-bench reports mean +- sd):
 *   ppP      one P-token prompt (default 512) in one step, from an empty context;
 *   tgG      G single-token decode steps (default 128) from an empty context;
 *   tgG@dD   the same after a D-token prompt (default 512; the prompt is not timed);
 *   tgG xB   B sequences (each after a 1-token prompt) decoding together, G/4 steps of B tokens:
 *            aggregate tokens/s (llama-batched-bench's S_TG), for every B in --batches.
 * The machine's read bandwidth is measured in the same run (1 GiB buffer, same threads, best of 5,
 * before and after the tests), and each decode row shows the fraction of the roofline:
 * bandwidth / (weight bytes read per step) x tokens per step. Default model: the bundled demo. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compute/threadpool.h"
#include "engine/engine.h"
#include "model/model.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    const uint64_t *buf;
    size_t n;
    uint64_t sum;
} bw_job;

static void bw_task(void *ctx, int ith, int nth) {
    bw_job *j = ctx;
    size_t a = j->n * (size_t)ith / (size_t)nth, b = j->n * (size_t)(ith + 1) / (size_t)nth;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = a; i + 4 <= b; i += 4) {
        s0 += j->buf[i];
        s1 += j->buf[i + 1];
        s2 += j->buf[i + 2];
        s3 += j->buf[i + 3];
    }
    __atomic_add_fetch(&j->sum, s0 + s1 + s2 + s3, __ATOMIC_RELAXED);
}

/* Read bandwidth in bytes/s over a 1 GiB buffer with the pool's threads (best of 5). */
static double measure_bandwidth(pool *p) {
    size_t bytes = (size_t)1 << 30, n = bytes / 8;
    uint64_t *buf = malloc(bytes);
    if (!buf) return 0;
    for (size_t i = 0; i < n; i++) buf[i] = i;
    double best = 0;
    for (int r = 0; r < 5; r++) {
        bw_job j = {buf, n, 0};
        double t0 = now_s();
        pool_run(p, pool_size(p), bw_task, &j);
        double bw = (double)bytes / (now_s() - t0);
        if (bw > best) best = bw;
        if (j.sum == 42) fprintf(stderr, "!"); /* keep the reads */
    }
    free(buf);
    return best;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    engine *e;
    int V;
    int32_t *ids;
    float *logits;
} bench;

static void die(const lm_error *err) {
    fprintf(stderr, "%s\n", err->msg);
    exit(1);
}

/* Closes every sequence in [0, n) and opens n fresh ones. */
static void fresh(bench *b, int n, int *seq) {
    lm_error err;
    err_clear(&err);
    for (int i = 0; i < n; i++) engine_seq_close(b->e, i);
    for (int i = 0; i < n; i++)
        if (engine_seq_open(b->e, &seq[i], &err) != LM_OK) die(&err);
}

/* One run of a test; returns tokens/s. kind: 0 pp, 1 tg from depth, 2 batched tg. */
static double run_once(bench *b, int kind, int n, int depth, int batch) {
    lm_error err;
    err_clear(&err);
    int seq[64];
    fresh(b, batch, seq);
    if (kind == 0) {
        engine_item it = {seq[0], b->ids, n, ENGINE_LOGITS_LAST, b->logits};
        double t0 = now_s();
        if (engine_step(b->e, &it, 1, &err) != LM_OK) die(&err);
        return n / (now_s() - t0);
    }
    if (kind == 1) {
        if (depth > 0) {
            engine_item it = {seq[0], b->ids, depth, ENGINE_LOGITS_LAST, b->logits};
            if (engine_step(b->e, &it, 1, &err) != LM_OK) die(&err);
        }
        double t0 = now_s();
        for (int s = 0; s < n; s++) {
            engine_item it = {seq[0], &b->ids[s], 1, ENGINE_LOGITS_LAST, b->logits};
            if (engine_step(b->e, &it, 1, &err) != LM_OK) die(&err);
        }
        return n / (now_s() - t0);
    }
    engine_item items[64];
    for (int i = 0; i < batch; i++) items[i] = (engine_item){seq[i], &b->ids[i], 1, ENGINE_LOGITS_NONE, NULL};
    if (engine_step(b->e, items, batch, &err) != LM_OK) die(&err);
    double t0 = now_s();
    for (int s = 0; s < n; s++) {
        for (int i = 0; i < batch; i++)
            items[i] = (engine_item){seq[i], &b->ids[s + i], 1, ENGINE_LOGITS_LAST, b->logits + (size_t)i * b->V};
        if (engine_step(b->e, items, batch, &err) != LM_OK) die(&err);
    }
    return (double)n * batch / (now_s() - t0);
}

/* median, min, max over reps after one warm-up */
static void run_test(bench *b, int reps, int kind, int n, int depth, int batch, double out[3]) {
    double v[64];
    run_once(b, kind, n, depth, batch);
    for (int r = 0; r < reps; r++) v[r] = run_once(b, kind, n, depth, batch);
    qsort(v, (size_t)reps, sizeof v[0], cmp_double);
    out[0] = v[reps / 2];
    out[1] = v[0];
    out[2] = v[reps - 1];
}

int main(int argc, char **argv) {
    const char *path = LM_SOURCE_DIR "/models/demo/stories260K.gguf", *wf = NULL;
    const char *batches_arg = "1,4,8,16";
    int threads = 0, n_prompt = 512, n_gen = 128, depth = 512, group = 128, reps = 3, f32act = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--f32-activations")) { f32act = 1; continue; }
        if (!v) { fprintf(stderr, "%s needs a value\n", a); return 64; }
        i++;
        if (!strcmp(a, "--model")) path = v;
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--weight_format")) wf = v;
        else if (!strcmp(a, "--group_size")) group = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--n-prompt") || !strcmp(a, "--prompt")) n_prompt = atoi(v);
        else if (!strcmp(a, "--n-gen")) n_gen = atoi(v);
        else if (!strcmp(a, "--depth")) depth = atoi(v);
        else if (!strcmp(a, "--batches")) batches_arg = v;
        else { fprintf(stderr, "unknown flag %s\n", a); return 64; }
    }
    int batches[16], n_batches = 0;
    for (const char *p = batches_arg; *p && n_batches < 16;) {
        int bsz = atoi(p);
        if (bsz < 1 || bsz > 64) { fprintf(stderr, "--batches: sizes 1..64\n"); return 64; }
        batches[n_batches++] = bsz;
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }
    if (reps < 1 || reps > 64 || n_prompt < 1 || n_gen < 4 || depth < 0) {
        fprintf(stderr, "bad --reps (1..64), --n-prompt, --n-gen (>= 4) or --depth\n");
        return 64;
    }
    printf("command:");
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\n\n");
    lm_error err;
    err_clear(&err);
    model_load_opts lo = {MODEL_WEIGHTS_AS_STORED, group};
    if (wf && model_parse_weight_format(wf, &lo.format, &err) != LM_OK) die(&err);
    model *m = NULL;
    if (model_load(path, &lo, &m, &err) != LM_OK) die(&err);
    int V = m->hp.n_vocab, max_batch = 1;
    for (int i = 0; i < n_batches; i++) max_batch = batches[i] > max_batch ? batches[i] : max_batch;
    int longest = n_prompt > depth + n_gen ? n_prompt : depth + n_gen;
    engine_params p = engine_params_default();
    p.n_threads = threads;
    p.n_ctx = longest + n_gen + 64;
    p.max_seqs = max_batch;
    p.max_batch_tokens = n_prompt > depth ? n_prompt : depth;
    if (p.max_batch_tokens < max_batch) p.max_batch_tokens = max_batch;
    p.f32_activations = f32act;
    engine *e = NULL;
    if (engine_create(m, &p, &e, &err) != LM_OK) die(&err);
    pool *bwp = NULL;
    if (pool_create(threads, &bwp, &err) != LM_OK) die(&err);
    int nth = pool_size(bwp);
    double bw0 = measure_bandwidth(bwp);

    bench b = {e, V, NULL, NULL};
    int n_ids = longest + n_gen + max_batch + 64;
    b.ids = malloc((size_t)n_ids * sizeof *b.ids);
    for (int i = 0; i < n_ids; i++) b.ids[i] = 1 + (int32_t)(((int64_t)i * 7919) % (V - 1));
    b.logits = malloc((size_t)max_batch * V * sizeof *b.logits);

    double wbytes = (double)model_weight_bytes(m);
    const char *wname = wf ? wf : "as stored";
    char label[64];
    double r[3];
    typedef struct { char test[32]; double r[3]; double tokens_per_step; } row;
    row rows[24];
    int nrows = 0;
    run_test(&b, reps, 0, n_prompt, 0, 1, r);
    snprintf(rows[nrows].test, sizeof rows[0].test, "pp%d", n_prompt);
    memcpy(rows[nrows].r, r, sizeof r);
    rows[nrows++].tokens_per_step = 0;
    run_test(&b, reps, 1, n_gen, 0, 1, r);
    snprintf(rows[nrows].test, sizeof rows[0].test, "tg%d", n_gen);
    memcpy(rows[nrows].r, r, sizeof r);
    rows[nrows++].tokens_per_step = 1;
    if (depth > 0) {
        run_test(&b, reps, 1, n_gen, depth, 1, r);
        snprintf(rows[nrows].test, sizeof rows[0].test, "tg%d @ d%d", n_gen, depth);
        memcpy(rows[nrows].r, r, sizeof r);
        rows[nrows++].tokens_per_step = 1;
    }
    for (int i = 0; i < n_batches; i++) {
        run_test(&b, reps, 2, n_gen / 4, 0, batches[i], r);
        snprintf(rows[nrows].test, sizeof rows[0].test, "tg%d x%d", n_gen / 4, batches[i]);
        memcpy(rows[nrows].r, r, sizeof r);
        rows[nrows++].tokens_per_step = batches[i];
    }
    double bw1 = measure_bandwidth(bwp);
    double bw = bw0 > bw1 ? bw0 : bw1;
    pool_destroy(bwp);

    printf("model %s (%s), %s, %d threads, activations %s; weights read per step %.1f MiB; "
           "read bandwidth %.1f GB/s before, %.1f after (roofline uses %.1f)\n\n",
           m->arch.name, path, wname, nth, f32act ? "f32" : "int8 where the kernels have it",
           wbytes / 1048576.0, bw0 / 1e9, bw1 / 1e9, bw / 1e9);
    printf("| test | tokens/s (median of %d) | range | roofline tokens/s | of roofline |\n", reps);
    printf("|---|---|---|---|---|\n");
    for (int i = 0; i < nrows; i++) {
        if (rows[i].tokens_per_step > 0) {
            double roof = bw / wbytes * rows[i].tokens_per_step;
            snprintf(label, sizeof label, "%.1f | %.0f%%", roof, 100.0 * rows[i].r[0] / roof);
        } else {
            snprintf(label, sizeof label, "- | -");
        }
        printf("| %s | %.1f | %.1f-%.1f | %s |\n", rows[i].test, rows[i].r[0], rows[i].r[1], rows[i].r[2], label);
    }
    free(b.ids);
    free(b.logits);
    engine_destroy(e);
    model_destroy(m);
    return 0;
}
