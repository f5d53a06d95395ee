/* grammar.c — the cost of structured output: the per-step token mask over a real vocabulary,
 * against the decode step it is added to.
 *
 *   bench_grammar [--tokenizer DIR] [--model PATH] [--steps N] [--threads N]
 *
 * For each schema, a generation picks tokens uniformly from the mask (seeded) for up to N steps
 * (default 120) and every gmatch_mask() call is timed. With --model (e.g. a random-weight
 * Qwen3-0.6B from `lmserve-mkmodel --preset qwen3-0.6b --out q.gguf`), a batch-1 decode step of
 * that model is timed too and the table gives the mask's cost as a fraction of it. The mask runs
 * on the generation loop's thread; the sampler's own pass over the vocabulary is not counted.
 * Times are the thread's CPU time (the decode step uses a thread pool: its figure is the calling
 * thread's share, so give --threads 1 for a like-for-like ratio). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "model/model.h"
#include "serving/grammar.h"

/* CPU time of this thread: the machines this runs on are shared, and wall time counts the
 * other tenants' time slices. */
static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const struct {
    const char *name, *schema;
} cases[] = {
    {"json_object (any object)", NULL},
    {"person: 4 typed properties", "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":40},"
     "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},\"email\":{\"type\":\"string\"},\"tags\":{\"type\":"
     "\"array\",\"items\":{\"type\":\"string\",\"maxLength\":10},\"maxItems\":5}},\"required\":[\"name\",\"age\"]}"},
    {"enum array + anyOf", "{\"type\":\"array\",\"items\":{\"anyOf\":[{\"enum\":[\"red\",\"green\",\"blue\"]},{\"type\":"
     "\"number\",\"minimum\":-1,\"maximum\":1}]},\"maxItems\":20}"},
};

int main(int argc, char **argv) {
    const char *tok_dir = LM_SOURCE_DIR "/tests/data/tokenizers/qwen3", *model_path = NULL;
    int steps = 120, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) tok_dir = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model_path = argv[++i];
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_grammar [--tokenizer DIR] [--model PATH] [--steps N] [--threads N]\n");
            return 2;
        }
    }
    printf("command:");
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\n\n");
    lm_error err;
    err_clear(&err);
    tok_tokenizer *tok = NULL;
    if (tok_load_path(tok_dir, &tok, &err) != LM_OK) {
        fprintf(stderr, "tokenizer: %s\n", err.msg);
        return 1;
    }
    double t0 = now_ms();
    grammar_vocab *voc = NULL;
    if (grammar_vocab_create(tok, &voc, &err) != LM_OK) {
        fprintf(stderr, "vocab: %s\n", err.msg);
        return 1;
    }
    int V = grammar_vocab_size(voc);
    printf("vocabulary: %d tokens (%s), prepared in %.1f ms\n\n", V, tok_dir, now_ms() - t0);

    double step_ms = 0;
    if (model_path) {
        model *m = NULL;
        engine *e = NULL;
        engine_params p = engine_params_default();
        p.n_ctx = 512;
        p.n_threads = threads;
        if (model_load(model_path, NULL, &m, &err) != LM_OK || engine_create(m, &p, &e, &err) != LM_OK) {
            fprintf(stderr, "model: %s\n", err.msg);
            return 1;
        }
        int seq;
        engine_seq_open(e, &seq, &err);
        float *logits = malloc((size_t)m->hp.n_vocab * sizeof *logits);
        double t[40];
        for (int i = 0; i < 45; i++) {
            int32_t id = 100 + i;
            engine_item it = {seq, &id, 1, ENGINE_LOGITS_LAST, logits};
            double a = now_ms();
            if (engine_step(e, &it, 1, &err) != LM_OK) {
                fprintf(stderr, "step: %s\n", err.msg);
                return 1;
            }
            if (i >= 5) t[i - 5] = now_ms() - a;
        }
        qsort(t, 40, sizeof t[0], cmp_d);
        step_ms = t[20];
        printf("decode step (batch 1, %s, %d layers, vocabulary %d): median %.2f ms\n\n", model_path, m->hp.n_layer,
               m->hp.n_vocab, step_ms);
        free(logits);
        engine_destroy(e);
        model_destroy(m);
    }

    uint8_t *allowed = malloc((size_t)V);
    gmatch_scratch *scratch = gmatch_scratch_create();
    int32_t *cands = malloc((size_t)V * sizeof *cands);
    double *times = malloc((size_t)steps * sizeof *times);
    printf("| schema | steps | mask median (ms) | mean (ms) | max (ms) |%s\n", step_ms > 0 ? " median / decode step |" : "");
    printf("|---|---|---|---|---|%s\n", step_ms > 0 ? "---|" : "");
    uint64_t rng = 12345;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        grammar *g = NULL;
        lm_status s;
        if (cases[c].schema) {
            json_error_t je;
            json_t *sj = json_loads(cases[c].schema, 0, &je);
            s = grammar_compile(sj, &g, &err);
            json_decref(sj);
        } else {
            s = grammar_any_object(&g, &err);
        }
        if (s != LM_OK) {
            fprintf(stderr, "schema: %s\n", err.msg);
            return 1;
        }
        gmatch m;
        gmatch_init(&m, g);
        int n_steps = 0;
        double sum = 0;
        for (; n_steps < steps; n_steps++) {
            double a = now_ms();
            gmatch_mask(&m, voc, scratch, allowed);
            times[n_steps] = now_ms() - a;
            if (getenv("LM_BENCH_DEBUG") && times[n_steps] > 5 && m.n)
                fprintf(stderr, "slow %.1f ms: threads %d, top kind %d phase %d depth %d count %d\n", times[n_steps], m.n,
                        m.t[0].depth ? m.t[0].f[m.t[0].depth - 1].kind : -1, m.t[0].depth ? m.t[0].f[m.t[0].depth - 1].phase : -1,
                        m.t[0].depth, m.t[0].depth ? m.t[0].f[m.t[0].depth - 1].count : -1);
            sum += times[n_steps];
            int n = 0;
            for (int i = 0; i < V; i++)
                if (allowed[i]) cands[n++] = i;
            if (n == 0) break;
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            int32_t id = cands[(rng >> 33) % (uint64_t)n];
            if (tok_is_eog(tok, id)) { /* restart: keep measuring over full generations */
                gmatch_init(&m, g);
                continue;
            }
            gmatch_accept(&m, voc, id);
        }
        qsort(times, (size_t)n_steps, sizeof *times, cmp_d);
        double med = times[n_steps / 2];
        printf("| %s | %d | %.3f | %.3f | %.3f |", cases[c].name, n_steps, med, sum / n_steps, times[n_steps - 1]);
        if (step_ms > 0) printf(" %.1f%% |", 100.0 * med / step_ms);
        printf("\n");
        grammar_destroy(g);
    }
    free(allowed);
    gmatch_scratch_destroy(scratch);
    free(cands);
    free(times);
    grammar_vocab_destroy(voc);
    tok_destroy(tok);
    return 0;
}
