/* tests/engine/test_gptj.c — GPT-J has no llama.cpp oracle, so a tiny GPT-J is written here in
 * Hugging Face's own layout (config.json + model.safetensors with transformers' tensor names) and
 * the engine's logits are compared with an independent float64 forward pass written from the
 * GPT-J definition: LayerNorm with bias, one norm feeding parallel attention and MLP, partial
 * rotary on the first rotary_dim dims with adjacent pairs (rotate_every_two), gelu_new, biased
 * MLP and lm_head. */
#include "lmtest.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"
#include "model/model.h"

enum { E = 64, L = 2, H = 4, HD = 16, ROT = 8, F = 256, V = 96, T = 12 };

typedef struct {
    const char *name;
    int rows, cols; /* rows == 0: a vector of cols */
    float *w;
} tensor;

static uint64_t g_rng = 0x243f6a8885a308d3ull;
static float frand(float scale) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return ((float)((g_rng >> 40) & 0xffffff) / (float)0x1000000 * 2.0f - 1.0f) * scale;
}

static tensor g_t[64];
static int g_n;

static float *add(const char *name, int rows, int cols, float scale, float base) {
    tensor *t = &g_t[g_n++];
    t->name = strdup(name);
    t->rows = rows;
    t->cols = cols;
    size_t n = (size_t)(rows ? rows : 1) * (size_t)cols;
    t->w = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) t->w[i] = base + frand(scale);
    return t->w;
}

static float *get(const char *name) {
    for (int i = 0; i < g_n; i++)
        if (!strcmp(g_t[i].name, name)) return g_t[i].w;
    fail_msg("no tensor %s", name);
    return NULL;
}

/* safetensors: u64 header length, JSON header, data (tensors in order) */
static void write_model(const char *dir) {
    char path[512], hdr[16384], entry[256];
    size_t off = 0, hl = 0;
    hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl, "{");
    for (int i = 0; i < g_n; i++) {
        tensor *t = &g_t[i];
        size_t bytes = (size_t)(t->rows ? t->rows : 1) * (size_t)t->cols * 4;
        if (t->rows)
            snprintf(entry, sizeof entry, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}",
                     i ? "," : "", t->name, t->rows, t->cols, off, off + bytes);
        else
            snprintf(entry, sizeof entry, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]}",
                     i ? "," : "", t->name, t->cols, off, off + bytes);
        hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl, "%s", entry);
        off += bytes;
    }
    hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl, "}");
    while (hl % 8) hdr[hl++] = ' ';
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t n = hl;
    fwrite(&n, 8, 1, f);
    fwrite(hdr, 1, hl, f);
    for (int i = 0; i < g_n; i++)
        fwrite(g_t[i].w, 4, (size_t)(g_t[i].rows ? g_t[i].rows : 1) * (size_t)g_t[i].cols, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/config.json", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"architectures\":[\"GPTJForCausalLM\"],\"model_type\":\"gptj\",\"vocab_size\":%d,"
               "\"n_embd\":%d,\"n_layer\":%d,\"n_head\":%d,\"n_inner\":%d,\"rotary_dim\":%d,"
               "\"n_positions\":64,\"layer_norm_epsilon\":1e-05,\"activation_function\":\"gelu_new\","
               "\"tie_word_embeddings\":false,\"bos_token_id\":1,\"eos_token_id\":2}\n",
            V, E, L, H, F, ROT);
    fclose(f);
}

/* ---- the independent reference (float64) -------------------------------------------------- */

static void layernorm(const double *x, const float *w, const float *b, double *out) {
    double mean = 0, var = 0;
    for (int i = 0; i < E; i++) mean += x[i];
    mean /= E;
    for (int i = 0; i < E; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= E;
    for (int i = 0; i < E; i++) out[i] = (x[i] - mean) / sqrt(var + 1e-5) * w[i] + b[i];
}

/* y = W x (+ b), W row-major [rows][cols] */
static void matvec(const float *W, const float *b, const double *x, int rows, int cols, double *y) {
    for (int r = 0; r < rows; r++) {
        double s = b ? b[r] : 0;
        for (int c = 0; c < cols; c++) s += (double)W[(size_t)r * cols + c] * x[c];
        y[r] = s;
    }
}

/* HF GPT-J: sin/cos of pos * inv_freq repeated interleaved; rotate_every_two */
static void rotary(double *v, int pos) {
    double out[HD];
    memcpy(out, v, sizeof out);
    for (int i = 0; i < ROT; i++) {
        int j = i / 2;
        double inv = 1.0 / pow(10000.0, (2.0 * j) / ROT), a = pos * inv;
        double rot = (i % 2 == 0) ? -v[i + 1] : v[i - 1];
        out[i] = v[i] * cos(a) + rot * sin(a);
    }
    memcpy(v, out, sizeof out);
}

static double gelu_new(double x) { return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }

static void reference(const int32_t *ids, double *logits /* [T][V] */) {
    static double x[T][E], h[T][E], q[T][E], k[T][E], v[T][E], a[T][E], o[E], f1[F], f2[E];
    char name[128];
    for (int t = 0; t < T; t++)
        for (int i = 0; i < E; i++) x[t][i] = get("transformer.wte.weight")[(size_t)ids[t] * E + i];
    for (int l = 0; l < L; l++) {
#define W(s) (snprintf(name, sizeof name, "transformer.h.%d." s, l), get(name))
        for (int t = 0; t < T; t++) {
            layernorm(x[t], W("ln_1.weight"), W("ln_1.bias"), h[t]);
            matvec(W("attn.q_proj.weight"), NULL, h[t], E, E, q[t]);
            matvec(W("attn.k_proj.weight"), NULL, h[t], E, E, k[t]);
            matvec(W("attn.v_proj.weight"), NULL, h[t], E, E, v[t]);
            for (int hh = 0; hh < H; hh++) {
                rotary(q[t] + hh * HD, t);
                rotary(k[t] + hh * HD, t);
            }
        }
        for (int t = 0; t < T; t++) {
            for (int hh = 0; hh < H; hh++) {
                double sc[T], max = -1e300, sum = 0;
                for (int p = 0; p <= t; p++) {
                    double d = 0;
                    for (int i = 0; i < HD; i++) d += q[t][hh * HD + i] * k[p][hh * HD + i];
                    sc[p] = d / sqrt(HD);
                    if (sc[p] > max) max = sc[p];
                }
                for (int p = 0; p <= t; p++) sum += (sc[p] = exp(sc[p] - max));
                for (int i = 0; i < HD; i++) {
                    double s = 0;
                    for (int p = 0; p <= t; p++) s += sc[p] / sum * v[p][hh * HD + i];
                    a[t][hh * HD + i] = s;
                }
            }
        }
        for (int t = 0; t < T; t++) {
            matvec(W("attn.out_proj.weight"), NULL, a[t], E, E, o);
            matvec(W("mlp.fc_in.weight"), W("mlp.fc_in.bias"), h[t], F, E, f1);
            for (int i = 0; i < F; i++) f1[i] = gelu_new(f1[i]);
            matvec(W("mlp.fc_out.weight"), W("mlp.fc_out.bias"), f1, E, F, f2);
            for (int i = 0; i < E; i++) x[t][i] += o[i] + f2[i];
        }
#undef W
    }
    for (int t = 0; t < T; t++) {
        layernorm(x[t], get("transformer.ln_f.weight"), get("transformer.ln_f.bias"), h[t]);
        matvec(get("lm_head.weight"), get("lm_head.bias"), h[t], V, E, logits + (size_t)t * V);
    }
}

static void test_gptj_hf_layout_matches_reference(void **state) {
    (void)state;
    char name[128];
    add("transformer.wte.weight", V, E, 0.5f, 0);
    for (int l = 0; l < L; l++) {
#define A(s, r, c, sc, b) (snprintf(name, sizeof name, "transformer.h.%d." s, l), add(name, r, c, sc, b))
        A("ln_1.weight", 0, E, 0.1f, 1.0f);
        A("ln_1.bias", 0, E, 0.05f, 0);
        A("attn.q_proj.weight", E, E, 0.25f, 0);
        A("attn.k_proj.weight", E, E, 0.25f, 0);
        A("attn.v_proj.weight", E, E, 0.1f, 0);
        A("attn.out_proj.weight", E, E, 0.1f, 0);
        A("mlp.fc_in.weight", F, E, 0.1f, 0);
        A("mlp.fc_in.bias", 0, F, 0.05f, 0);
        A("mlp.fc_out.weight", E, F, 0.05f, 0);
        A("mlp.fc_out.bias", 0, E, 0.05f, 0);
#undef A
    }
    add("transformer.ln_f.weight", 0, E, 0.1f, 1.0f);
    add("transformer.ln_f.bias", 0, E, 0.05f, 0);
    add("lm_head.weight", V, E, 0.3f, 0);
    add("lm_head.bias", 0, V, 0.05f, 0);

    char dir[] = "/tmp/lmtest_gptj_XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_model(dir);
    model *m = NULL;
    lm_error err;
    err_clear(&err);
    if (model_load(dir, NULL, &m, &err) != LM_OK) fail_msg("load: %s", err.msg);
    assert_string_equal(m->arch.name, "gptj");
    assert_int_equal(m->arch.rope_pairs, ROPE_PAIRS_ADJACENT);
    assert_int_equal(m->hp.rope_dim, ROT);

    int32_t ids[T];
    for (int t = 0; t < T; t++) ids[t] = (t * 37 + 5) % V;
    static double want[T * V];
    reference(ids, want);

    const kern_set *sets[8];
    size_t n_sets = kern_available(sets, 8);
    static float got[T * V];
    for (size_t k = 0; k < n_sets; k++) {
        engine_params p = engine_params_default();
        p.kv_type = GGML_TYPE_F32;
        p.n_ctx = T;
        p.kernels = sets[k];
        engine *e = NULL;
        int seq;
        assert_int_equal(engine_create(m, &p, &e, &err), LM_OK);
        assert_int_equal(engine_seq_open(e, &seq, &err), LM_OK);
        engine_item it = {seq, ids, T, ENGINE_LOGITS_ALL, got};
        assert_int_equal(engine_step(e, &it, 1, &err), LM_OK);
        double worst = 0;
        for (int i = 0; i < T * V; i++) {
            double d = fabs(got[i] - want[i]);
            if (d > worst) worst = d;
            if (d > 1e-3) fail_msg("[%s] position %d token %d: engine %.6f, reference %.6f", sets[k]->name,
                                   i / V, i % V, (double)got[i], want[i]);
        }
        print_message("gptj [%s]: max |diff| %.2e over %d logits\n", sets[k]->name, worst, T * V);
        engine_destroy(e);
    }
    model_destroy(m);
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    rmdir(dir);
    for (int i = 0; i < g_n; i++) {
        free((void *)g_t[i].name);
        free(g_t[i].w);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gptj_hf_layout_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
