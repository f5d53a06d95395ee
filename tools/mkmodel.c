/* mkmodel.c — writes a full-size random-weight model as a GGUF file, for load and memory tests of
 * real model shapes without downloading anything.
 *
 *   lmserve-mkmodel --preset qwen3-0.6b|llama3.1-8b|tiny --out FILE [--type bf16|f16|f32|q8_0|q4_0] [--seed N]
 *
 * Weights are N(0, 0.02²)-like (sum of uniforms) from a seeded generator, norms are 1, the
 * vocabulary is a synthetic SentencePiece-style one (<unk> <s> </s>, 256 byte tokens, then filler
 * pieces) so text prompts work. --type q8_0|q4_0 quantizes every matrix (norms stay f32) with
 * lmserve's quantizers, for kernel and engine benchmarks on quantized files. The file streams to
 * disk: memory use is one row. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute/kernels.h"
#include "compute/quant.h"

typedef struct {
    const char *name, *arch;
    int n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, tied, qk_norm;
    float rope_theta;
    int rope_freqs; /* llama3 scaling factors tensor */
} preset;

static const preset g_presets[] = {
    {"tiny", "llama", 256, 2, 4, 2, 64, 512, 1024, 0, 0, 10000.0f, 0},
    {"qwen3-0.6b", "qwen3", 1024, 28, 16, 8, 128, 3072, 151936, 1, 1, 1000000.0f, 0},
    {"llama3.1-8b", "llama", 4096, 32, 32, 8, 128, 14336, 128256, 0, 0, 500000.0f, 1},
};

static uint64_t g_rng;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 32);
}
/* roughly N(0, std^2): sum of 4 uniforms, rescaled (variance of U(-1,1) is 1/3) */
static float gauss(float std) {
    float s = 0;
    for (int i = 0; i < 4; i++) s += (float)rnd() / 2147483648.0f - 1.0f;
    return s * std * 0.8660254f;
}

static void w_u32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }
static void w_u64(FILE *f, uint64_t v) { fwrite(&v, 8, 1, f); }
static void w_str(FILE *f, const char *s) {
    w_u64(f, strlen(s));
    fwrite(s, 1, strlen(s), f);
}
static void kv_u32(FILE *f, const char *k, uint32_t v) { w_str(f, k); w_u32(f, 4); w_u32(f, v); }
static void kv_f32(FILE *f, const char *k, float v) { w_str(f, k); w_u32(f, 6); fwrite(&v, 4, 1, f); }
static void kv_str(FILE *f, const char *k, const char *v) { w_str(f, k); w_u32(f, 8); w_str(f, v); }
static void kv_bool(FILE *f, const char *k, int v) { w_str(f, k); w_u32(f, 7); fputc(v ? 1 : 0, f); }

typedef struct {
    char name[64];
    int n_dims;
    uint64_t ne[2];
    int type;      /* 0 f32, 1 f16, 30 bf16 */
    int kind;      /* 0 matrix, 1 norm (ones), 2 rope freqs */
    float std;
    uint64_t offset, nbytes;
} tensor;

static tensor *g_t;
static int g_n;

static void add(const char *name, uint64_t cols, uint64_t rows, int type, int kind, float std) {
    g_t = realloc(g_t, (size_t)(g_n + 1) * sizeof *g_t);
    tensor *t = &g_t[g_n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = rows > 1 ? 2 : 1;
    t->ne[0] = cols;
    t->ne[1] = rows;
    t->type = kind ? 0 : type;
    t->kind = kind;
    t->std = std;
    t->nbytes = rows * quant_row_bytes((ggml_type)t->type, (int64_t)cols);
}

static char g_piece[64];
static const char *token_text(int i) {
    if (i == 0) return "<unk>";
    if (i == 1) return "<s>";
    if (i == 2) return "</s>";
    if (i < 3 + 256) {
        snprintf(g_piece, sizeof g_piece, "<0x%02X>", i - 3);
        return g_piece;
    }
    snprintf(g_piece, sizeof g_piece, "\xe2\x96\x81t%d", i); /* "▁t<i>" */
    return g_piece;
}

int main(int argc, char **argv) {
    const char *name = NULL, *out = NULL, *type_name = "bf16";
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--preset")) name = argv[i + 1];
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else if (!strcmp(argv[i], "--type")) type_name = argv[i + 1];
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
        else { fprintf(stderr, "unknown flag %s\n", argv[i]); return 64; }
    }
    const preset *p = NULL;
    for (size_t i = 0; i < sizeof g_presets / sizeof g_presets[0]; i++)
        if (name && !strcmp(name, g_presets[i].name)) p = &g_presets[i];
    int type = !strcmp(type_name, "f32") ? 0 : !strcmp(type_name, "f16") ? 1 : !strcmp(type_name, "bf16") ? 30
             : !strcmp(type_name, "q8_0") ? GGML_TYPE_Q8_0 : !strcmp(type_name, "q4_0") ? GGML_TYPE_Q4_0 : -1;
    if (!p || !out || type < 0) {
        fprintf(stderr, "usage: %s --preset tiny|qwen3-0.6b|llama3.1-8b --out FILE [--type bf16|f16|f32|q8_0|q4_0] [--seed N]\n", argv[0]);
        return 64;
    }
    g_rng = seed * 0x9e3779b97f4a7c15ull + 1;

    int E = p->n_embd, Q = p->n_head * p->head_dim, KV = p->n_head_kv * p->head_dim;
    char nm[64];
    add("token_embd.weight", E, p->n_vocab, type, 0, 0.02f);
    if (p->rope_freqs) add("rope_freqs.weight", p->head_dim / 2, 1, 0, 2, 0);
    for (int l = 0; l < p->n_layer; l++) {
#define T(suffix, c, r, kind) (snprintf(nm, sizeof nm, "blk.%d." suffix, l), add(nm, c, r, type, kind, 0.02f))
        T("attn_norm.weight", E, 1, 1);
        T("attn_q.weight", E, Q, 0);
        T("attn_k.weight", E, KV, 0);
        T("attn_v.weight", E, KV, 0);
        if (p->qk_norm) {
            T("attn_q_norm.weight", p->head_dim, 1, 1);
            T("attn_k_norm.weight", p->head_dim, 1, 1);
        }
        T("attn_output.weight", Q, E, 0);
        T("ffn_norm.weight", E, 1, 1);
        T("ffn_gate.weight", E, p->n_ff, 0);
        T("ffn_up.weight", E, p->n_ff, 0);
        T("ffn_down.weight", p->n_ff, E, 0);
#undef T
    }
    add("output_norm.weight", E, 1, type, 1, 0);
    if (!p->tied) add("output.weight", E, p->n_vocab, type, 0, 0.02f);

    FILE *f = fopen(out, "wb");
    if (!f) { perror(out); return 1; }
    fwrite("GGUF", 1, 4, f);
    w_u32(f, 3);
    w_u64(f, (uint64_t)g_n);
    w_u64(f, 21); /* metadata keys written below: 14 model + 7 tokenizer */
    char key[96];
#define K(s) (snprintf(key, sizeof key, "%s.%s", p->arch, s), key)
    kv_str(f, "general.architecture", p->arch);
    kv_str(f, "general.name", p->name);
    kv_u32(f, K("context_length"), 4096);
    kv_u32(f, K("embedding_length"), (uint32_t)E);
    kv_u32(f, K("block_count"), (uint32_t)p->n_layer);
    kv_u32(f, K("feed_forward_length"), (uint32_t)p->n_ff);
    kv_u32(f, K("attention.head_count"), (uint32_t)p->n_head);
    kv_u32(f, K("attention.head_count_kv"), (uint32_t)p->n_head_kv);
    kv_u32(f, K("attention.key_length"), (uint32_t)p->head_dim);
    kv_u32(f, K("attention.value_length"), (uint32_t)p->head_dim);
    kv_f32(f, K("attention.layer_norm_rms_epsilon"), 1e-6f);
    kv_f32(f, K("rope.freq_base"), p->rope_theta);
    kv_u32(f, K("rope.dimension_count"), (uint32_t)p->head_dim);
    kv_u32(f, "general.alignment", 32);
#undef K
    kv_str(f, "tokenizer.ggml.model", "llama");
    /* tokens, scores, token types */
    w_str(f, "tokenizer.ggml.tokens");
    w_u32(f, 9);
    w_u32(f, 8);
    w_u64(f, (uint64_t)p->n_vocab);
    for (int i = 0; i < p->n_vocab; i++) w_str(f, token_text(i));
    w_str(f, "tokenizer.ggml.scores");
    w_u32(f, 9);
    w_u32(f, 6);
    w_u64(f, (uint64_t)p->n_vocab);
    for (int i = 0; i < p->n_vocab; i++) {
        float sc = i < 3 + 256 ? 0.0f : -(float)i;
        fwrite(&sc, 4, 1, f);
    }
    w_str(f, "tokenizer.ggml.token_type");
    w_u32(f, 9);
    w_u32(f, 5);
    w_u64(f, (uint64_t)p->n_vocab);
    for (int i = 0; i < p->n_vocab; i++) {
        int32_t tt = i == 0 ? 2 : i < 3 ? 3 : i < 3 + 256 ? 6 : 1;
        fwrite(&tt, 4, 1, f);
    }
    kv_u32(f, "tokenizer.ggml.bos_token_id", 1);
    kv_u32(f, "tokenizer.ggml.eos_token_id", 2);
    kv_bool(f, "tokenizer.ggml.add_bos_token", 1);

    uint64_t off = 0;
    for (int i = 0; i < g_n; i++) {
        tensor *t = &g_t[i];
        t->offset = off;
        off += (t->nbytes + 31) / 32 * 32;
        w_str(f, t->name);
        w_u32(f, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) w_u64(f, t->ne[d]);
        w_u32(f, (uint32_t)t->type);
        w_u64(f, t->offset);
    }
    long pos = ftell(f);
    while (pos % 32) { fputc(0, f); pos++; }

    size_t row_cap = 0;
    unsigned char *row = NULL;
    uint64_t written = 0;
    for (int i = 0; i < g_n; i++) {
        tensor *t = &g_t[i];
        size_t rb = quant_row_bytes((ggml_type)t->type, (int64_t)t->ne[0]);
        if (rb > row_cap) row = realloc(row, row_cap = rb);
        float *vals = malloc(t->ne[0] * sizeof *vals);
        for (uint64_t r = 0; r < t->ne[1]; r++) {
            for (uint64_t c = 0; c < t->ne[0]; c++) {
                float v = t->kind == 1 ? 1.0f : t->kind == 2 ? (c < t->ne[0] / 4 ? 1.0f : 8.0f) : gauss(t->std);
                vals[c] = v;
                if (t->type == 0) memcpy(row + c * 4, &v, 4);
                else if (t->type == 1) { uint16_t h = kern_f32_to_f16(v); memcpy(row + c * 2, &h, 2); }
                else if (t->type == 30) { uint32_t b; memcpy(&b, &v, 4); uint16_t h = (uint16_t)((b + 0x7fff + ((b >> 16) & 1)) >> 16); memcpy(row + c * 2, &h, 2); }
            }
            if (t->type != 0 && t->type != 1 && t->type != 30) {
                lm_error err;
                if (quant_quantize_row((ggml_type)t->type, vals, (int64_t)t->ne[0], row, &err) != LM_OK) {
                    fprintf(stderr, "%s: %s\n", t->name, err.msg);
                    return 1;
                }
            }
            fwrite(row, 1, rb, f);
        }
        free(vals);
        for (uint64_t pad = t->nbytes; pad % 32; pad++) fputc(0, f);
        written += t->nbytes;
    }
    free(row);
    free(g_t);
    if (fclose(f) != 0) { perror(out); return 1; }
    fprintf(stderr, "%s: %s, %d tensors, %.2f GB of weights (%s)\n", out, p->name, g_n,
            (double)written / 1e9, type_name);
    return 0;
}
