/* engine.c — engine throughput against the memory-bandwidth roofline.
 *
 *   bench_engine [--model PATH] [--threads N] [--weight_format F] [--group_size G] [--prompt N]
 *
 * Prints a markdown table: prefill tokens/s (one prompt of N tokens, default 512), decode tokens/s
 * at batch 1 and batch 8, weight bytes read per decode step, the machine's measured read bandwidth
 * (1 GiB buffer, this many threads), and the fraction of the roofline a decode step reaches
 * (batch-1 roofline: bandwidth / weight bytes per token). Default model: the bundled demo. */
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

int main(int argc, char **argv) {
    const char *path = LM_SOURCE_DIR "/models/demo/stories260K.gguf", *wf = NULL;
    int threads = 0, n_prompt = 512, group = 128;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) path = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--weight_format")) wf = argv[i + 1];
        else if (!strcmp(argv[i], "--group_size")) group = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--prompt")) n_prompt = atoi(argv[i + 1]);
        else { fprintf(stderr, "unknown flag %s\n", argv[i]); return 64; }
    }
    printf("command:");
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\n\n");
    lm_error err;
    err_clear(&err);
    model_load_opts lo = {MODEL_WEIGHTS_AS_STORED, group};
    if (wf && model_parse_weight_format(wf, &lo.format, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 64;
    }
    model *m = NULL;
    if (model_load(path, &lo, &m, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int V = m->hp.n_vocab, decode_steps = 32;
    int n_ctx = n_prompt + 2 * decode_steps + 1; /* seq 0 decodes in both phases */
    engine_params p = engine_params_default();
    p.n_threads = threads;
    p.n_ctx = n_ctx;
    p.max_seqs = 8;
    p.max_batch_tokens = n_prompt > 8 ? n_prompt : 8;
    engine *e = NULL;
    if (engine_create(m, &p, &e, &err) != LM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    pool *bwp = NULL;
    pool_create(threads, &bwp, &err);
    double bw = measure_bandwidth(bwp);
    int nth = pool_size(bwp);
    pool_destroy(bwp);

    int32_t *ids = malloc((size_t)n_prompt * sizeof *ids);
    for (int i = 0; i < n_prompt; i++) ids[i] = 1 + (i * 7919) % (V - 1);
    float *logits = malloc((size_t)8 * V * sizeof *logits);
    int seq[8];
    for (int i = 0; i < 8; i++) engine_seq_open(e, &seq[i], &err);

    /* prefill: one prompt in one step */
    double t0 = now_s();
    engine_item it = {seq[0], ids, n_prompt, ENGINE_LOGITS_LAST, logits};
    if (engine_step(e, &it, 1, &err) != LM_OK) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double prefill = n_prompt / (now_s() - t0);

    /* decode, batch 1 */
    t0 = now_s();
    for (int s = 0; s < decode_steps; s++) {
        it = (engine_item){seq[0], &ids[s], 1, ENGINE_LOGITS_LAST, logits};
        engine_step(e, &it, 1, &err);
    }
    double dec1 = decode_steps / (now_s() - t0);

    /* decode, batch 8 (sequences 1..7 plus 0, one token each per step) */
    engine_item items[8];
    t0 = now_s();
    for (int s = 0; s < decode_steps; s++) {
        for (int b = 0; b < 8; b++)
            items[b] = (engine_item){seq[b], &ids[s], 1, ENGINE_LOGITS_LAST, logits + (size_t)b * V};
        if (engine_step(e, items, 8, &err) != LM_OK) { fprintf(stderr, "%s\n", err.msg); return 1; }
    }
    double dec8 = 8.0 * decode_steps / (now_s() - t0);

    double wbytes = (double)model_weight_bytes(m);
    double roof = bw / wbytes;
    printf("| model | weights | threads | prefill tok/s (%d) | decode tok/s b=1 | decode tok/s b=8 | "
           "weight MiB/token | bandwidth GB/s | b=1 roofline tok/s | b=1 of roofline |\n",
           n_prompt);
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    printf("| %s | %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f%% |\n", m->arch.name,
           wf ? wf : "as stored", nth, prefill, dec1, dec8, wbytes / 1048576.0, bw / 1e9, roof,
           100.0 * dec1 / roof);
    free(ids);
    free(logits);
    engine_destroy(e);
    model_destroy(m);
    return 0;
}
