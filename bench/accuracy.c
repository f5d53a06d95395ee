/* accuracy.c — what each load-time weight format costs in accuracy: the oracle models (Hugging
 * Face F32/BF16 folders) loaded as fp32 and as fp16, bf16, int8, int4 channel-wise and int4 g128/g64,
 * compared position by position with the fp32 run over the oracle sequences: top-1 agreement and
 * mean KL(fp32 || format). Prints a markdown table.
 *
 *   ./build/release/bench/bench_accuracy [tests/data/oracles]                                      */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/sampler.h"
#include "model/model.h"

typedef struct {
    const char *label;
    model_weight_format f;
    int group;
} fmt;

static const fmt g_fmts[] = {
    {"fp16", MODEL_WEIGHTS_FP16, 0},      {"bf16", MODEL_WEIGHTS_BF16, 0},
    {"int8", MODEL_WEIGHTS_INT8, 0},      {"int4 g128", MODEL_WEIGHTS_INT4, 128},
    {"int4 g64", MODEL_WEIGHTS_INT4, 64}, {"int4 channel-wise", MODEL_WEIGHTS_INT4, -1},
};

/* Logits for every position of every sequence: (total positions, n_vocab). */
static float *run(const char *dir, const model_load_opts *o, json_t *seqs, int *n_pos, int *V) {
    model *m = NULL;
    lm_error err;
    err_clear(&err);
    if (model_load(dir, o, &m, &err) != LM_OK) {
        fprintf(stderr, "%s: %s\n", dir, err.msg);
        exit(1);
    }
    *V = m->hp.n_vocab;
    int total = 0;
    for (size_t i = 0; i < json_array_size(seqs); i++)
        total += (int)json_array_size(json_object_get(json_array_get(seqs, i), "tokens"));
    float *logits = malloc((size_t)total * (size_t)*V * sizeof *logits);
    int at = 0;
    for (size_t i = 0; i < json_array_size(seqs); i++) {
        json_t *jt = json_object_get(json_array_get(seqs, i), "tokens");
        int n = (int)json_array_size(jt);
        int32_t *ids = malloc((size_t)n * sizeof *ids);
        for (int k = 0; k < n; k++) ids[k] = (int32_t)json_integer_value(json_array_get(jt, (size_t)k));
        engine_params p = engine_params_default();
        p.kv_type = GGML_TYPE_F32;
        p.n_ctx = n;
        engine *e = NULL;
        int seq;
        if (engine_create(m, &p, &e, &err) != LM_OK || engine_seq_open(e, &seq, &err) != LM_OK) exit(1);
        engine_item it = {seq, ids, n, ENGINE_LOGITS_ALL, logits + (size_t)at * *V};
        if (engine_step(e, &it, 1, &err) != LM_OK) exit(1);
        engine_destroy(e);
        free(ids);
        at += n;
    }
    *n_pos = total;
    model_destroy(m);
    return logits;
}

static void softmax(const float *l, int V, double *p) {
    double max = l[0], sum = 0;
    for (int i = 1; i < V; i++) if (l[i] > max) max = l[i];
    for (int i = 0; i < V; i++) sum += (p[i] = exp(l[i] - max));
    for (int i = 0; i < V; i++) p[i] /= sum;
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : "tests/data/oracles";
    static const char *cases[] = {"llama-hf-bf16", "llama3-hf-bf16", "qwen2-hf-bf16", "qwen3-hf-f32", "phi3-hf-bf16"};
    printf("command: %s %s\n\n", argv[0], root);
    printf("| model | format | top-1 agreement | mean KL (nats) | max KL |\n|---|---|---|---|---|\n");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char dir[4096], ref[4200];
        snprintf(dir, sizeof dir, "%s/%s", root, cases[c]);
        snprintf(ref, sizeof ref, "%s/reference.json", dir);
        json_t *r = json_load_file(ref, 0, NULL);
        if (!r) { fprintf(stderr, "cannot read %s\n", ref); return 1; }
        json_t *refs = json_object_get(r, "references");
        json_t *seqs = json_object_get(json_object_get(refs, "native"), "sequences");
        model_load_opts base = {MODEL_WEIGHTS_FP32, 0};
        int n, V;
        float *l0 = run(dir, &base, seqs, &n, &V);
        double *p = malloc((size_t)V * sizeof *p), *q = malloc((size_t)V * sizeof *q);
        for (size_t f = 0; f < sizeof g_fmts / sizeof g_fmts[0]; f++) {
            model_load_opts o = {g_fmts[f].f, g_fmts[f].group};
            int n1, V1;
            float *l1 = run(dir, &o, seqs, &n1, &V1);
            int agree = 0;
            double kl_sum = 0, kl_max = 0;
            for (int i = 0; i < n; i++) {
                const float *a = l0 + (size_t)i * V, *b = l1 + (size_t)i * V;
                agree += sampler_argmax(a, V) == sampler_argmax(b, V);
                softmax(a, V, p);
                softmax(b, V, q);
                double kl = 0;
                for (int k = 0; k < V; k++) if (p[k] > 0) kl += p[k] * log(p[k] / q[k]);
                kl_sum += kl;
                if (kl > kl_max) kl_max = kl;
            }
            printf("| %s | %s | %.3f (%d/%d) | %.2e | %.2e |\n", cases[c], g_fmts[f].label,
                   (double)agree / n, agree, n, kl_sum / n, kl_max);
            free(l1);
        }
        free(p);
        free(q);
        free(l0);
        json_decref(r);
    }
    return 0;
}
