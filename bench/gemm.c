/* gemm.c — compute speed of the matrix products in cache: f32 activations (kern_matmul) against
 * int8 activations (kern_quantize_q8_rows + kern_matmul_q8, quantization included), one thread,
 * for every kernel set and every weight type with int8 kernels.
 *
 *   bench_gemm [--rows N] [--cols N] [--batches 1,16,128] [--reps R]
 *
 * Timed as the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), best of R (default 7) after a
 * warm-up: on a shared machine the wall clock of a single thread includes other tenants' time
 * slices, its CPU time much less so. The matrix (default 1024 x 1024) stays in L2, so this is the
 * kernels' arithmetic rate, not memory bandwidth (bench_kernels measures that). Prints GMAC/s
 * (rows x cols x vectors / time) and the int8 speed-up over the fastest f32 set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compute/kernels.h"
#include "compute/quant.h"

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t g_rng = 12345;
static float frand(void) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(g_rng >> 40) / (float)(1u << 24) * 2.0f - 1.0f;
}

int main(int argc, char **argv) {
    int rows = 1024, cols = 1024, reps = 7;
    int batches[8] = {1, 16, 128}, n_b = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rows")) rows = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--cols")) cols = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batches")) {
            n_b = 0;
            for (char *p = argv[i + 1]; p && *p && n_b < 8; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
                batches[n_b++] = atoi(p);
        } else {
            fprintf(stderr, "unknown flag %s\n", argv[i]);
            return 64;
        }
    }
    if (rows < 1 || cols < 256 || cols % 256 || reps < 1 || n_b < 1) {
        fprintf(stderr, "--rows >= 1, --cols a positive multiple of 256, --reps >= 1\n");
        return 64;
    }
    int maxb = 1;
    for (int i = 0; i < n_b; i++) {
        if (batches[i] < 1 || batches[i] > 4096) { fprintf(stderr, "--batches: 1..4096\n"); return 64; }
        maxb = batches[i] > maxb ? batches[i] : maxb;
    }
    printf("command:");
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\n\n");
    const ggml_type types[] = {GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K,
                               LM_TYPE_I4_CH, LM_TYPE_I8_CH, LM_TYPE_I4_G128};
    const kern_set *sets[8];
    size_t n_sets = kern_available(sets, 8);
    float *x = malloc((size_t)maxb * cols * sizeof *x), *y = malloc((size_t)maxb * rows * sizeof *y);
    float *src = malloc((size_t)cols * sizeof *src);
    unsigned char *xq = malloc((size_t)maxb * kern_q8_row_bytes(cols));
    for (size_t i = 0; i < (size_t)maxb * cols; i++) x[i] = frand();
    printf("| type | vectors | set | activations | ms | GMAC/s | vs best f32 |\n|---|---|---|---|---|---|---|\n");
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        ggml_type t = types[ti];
        size_t rb = quant_row_bytes(t, cols);
        unsigned char *w = malloc(rb * (size_t)rows);
        for (int r = 0; r < rows; r++) {
            if (quant_can_quantize(t)) {
                lm_error err;
                for (int i = 0; i < cols; i++) src[i] = frand() * 0.05f;
                if (quant_quantize_row(t, src, cols, w + (size_t)r * rb, &err) != LM_OK) return 1;
            } else { /* K-quants: random bits with small f16 scales */
                for (size_t b = 0; b < rb; b++) w[(size_t)r * rb + b] = (unsigned char)(frand() * 127 + 128);
                for (int b = 0; b < cols / 256; b++) {
                    uint16_t d = kern_f32_to_f16(0.001f);
                    size_t bb = t == GGML_TYPE_Q4_K ? sizeof(quant_block_q4_K) : sizeof(quant_block_q6_K);
                    size_t off = t == GGML_TYPE_Q4_K ? 0 : offsetof(quant_block_q6_K, d);
                    memcpy(w + (size_t)r * rb + (size_t)b * bb + off, &d, 2);
                    if (t == GGML_TYPE_Q4_K) memcpy(w + (size_t)r * rb + (size_t)b * bb + 2, &d, 2);
                }
            }
        }
        for (int bi = 0; bi < n_b; bi++) {
            int nb = batches[bi];
            double best_f32 = 1e30;
            for (int q8 = 0; q8 < 2; q8++) {
                for (size_t s = 0; s < n_sets; s++) {
                    if (!strcmp(sets[s]->name, "scalar")) continue;
                    if (q8 ? !kern_q8_native(sets[s], t) : sets[s]->qgemm[t] != NULL && strstr(sets[s]->name, "vnni"))
                        continue; /* f32 rows: the plain sets only (the vnni sets share their f32 kernels) */
                    double best = 1e30;
                    for (int r = 0; r <= reps; r++) {
                        double t0 = cpu_s();
                        if (q8) {
                            kern_quantize_q8_rows(NULL, cols, x, nb, xq);
                            kern_matmul_q8(sets[s], NULL, t, w, rb, rows, cols, xq, nb, y);
                        } else {
                            kern_matmul(sets[s], NULL, t, w, rb, rows, cols, x, nb, y);
                        }
                        double d = cpu_s() - t0;
                        if (r > 0 && d < best) best = d;
                    }
                    if (!q8 && best < best_f32) best_f32 = best;
                    printf("| %s | %d | %s | %s | %.3f | %.1f | %.2fx |\n", quant_type_name(t), nb,
                           sets[s]->name, q8 ? "int8" : "f32", best * 1e3,
                           (double)rows * cols * nb / best / 1e9, best_f32 / best);
                }
            }
        }
        free(w);
    }
    free(x);
    free(y);
    free(src);
    free(xq);
    return 0;
}
