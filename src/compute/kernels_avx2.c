/* kernels_avx2.c — AVX2/FMA/F16C kernels. Compiled for baseline x86-64 with per-function target
 * attributes, so the binary runs everywhere and these run only where cpu.c found the features. */
#include "compute/kernels_impl.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

AVX2_TARGET static float hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

AVX2_TARGET static float dot_f32(int64_t n, const void *w_row, const float *x) {
    const float *w = w_row;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), acc0);
    float sum = hsum256(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) sum += w[i] * x[i];
    return sum;
}

AVX2_TARGET static float dot_f16(int64_t n, const void *w_row, const float *x) {
    const uint16_t *w = w_row;
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 wv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
        acc = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + i), acc);
    }
    float sum = hsum256(acc);
    for (; i < n; i++) sum += kern_f16_to_f32(w[i]) * x[i];
    return sum;
}

static const kern_set g_avx2 = {
    .name = "avx2",
    .dot = {
        [GGML_TYPE_F32] = dot_f32,
        [GGML_TYPE_F16] = dot_f16,
    },
};

const kern_set *kern_avx2(void) { return &g_avx2; }
#else
const kern_set *kern_avx2(void) { return kern_reference(); }
#endif
