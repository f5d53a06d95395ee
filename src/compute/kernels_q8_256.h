/* kernels_q8_256.h — private to src/compute: the 256-bit int8-activation tile products, one
 * body included by kernels_avx2.c (AVX2: vpmaddubsw + vpmaddwd) and kernels_avxvnni.c (AVX-VNNI:
 * VEX vpdpbusd). The includer defines Q8_TARGET (a target attribute), Q8_DPBUSD(acc, u8, s8)
 * (acc + the 4-product sums of each int32 lane) and Q8_NAME(x) (a name prefix).
 *
 * One step is one 32-block: 32 weight codes against the block's 32 activations give 8 exact
 * int32 lanes, converted to f32 and multiply-added with the lane's scale (weight scale x
 * activation scale; channel-wise types apply the row scale at the end). Codes stored with an
 * offset (Q4_0 family q - 8, Q6_K q - 32) go in unsigned, the lanes starting at -offset x (sum
 * of the lane's 4 activations); int8 weights use the sign trick (|w| unsigned, x with w's sign),
 * which keeps every vpmaddubsw pair sum below 2^15, so both includers compute exactly the same
 * integers. Tiles as in kernels_avx512vnni.c: 4 weight rows by 1-4 activation rows, the same
 * operations for every (row, activation) pair in any tile shape. */
#ifndef Q8_TARGET
#error "define Q8_TARGET, Q8_DPBUSD and Q8_NAME before including kernels_q8_256.h"
#endif

#include <string.h>

enum { Q8_TY_Q4_0, Q8_TY_I4_G64, Q8_TY_I4_G128, Q8_TY_I4_CH, Q8_TY_Q8_0, Q8_TY_I8_CH, Q8_TY_Q4_K, Q8_TY_Q6_K };

#define Q8_INL static inline __attribute__((always_inline))

Q8_TARGET Q8_INL __m256i Q8_NAME(nib16)(const uint8_t *p) {
    __m128i v = _mm_loadu_si128((const __m128i *)p), m = _mm_set1_epi8(15);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

typedef struct {
    float dsc[8], dm[8];
} Q8_NAME(kstate);

/* Weight side of block k of one row: unsigned codes a (|w| for int8 types, whose signs are in
 * sg), lane scales sc (block types), minimum mn in lane 0 (Q4_K). */
Q8_TARGET Q8_INL void Q8_NAME(wstep)(const int ty, const unsigned char *row, int64_t k,
                                     Q8_NAME(kstate) *ks, __m256i *a, __m256i *sg, __m256 *sc,
                                     __m256 *mn) {
    switch (ty) {
    case Q8_TY_Q4_0: {
        const quant_block_q4_0 *b = (const quant_block_q4_0 *)row + k;
        *a = Q8_NAME(nib16)(b->qs);
        *sc = _mm256_set1_ps(_cvtsh_ss(b->d));
        break;
    }
    case Q8_TY_I4_G64: {
        const quant_block_i4_g64 *b = (const quant_block_i4_g64 *)row + k / 2;
        *a = Q8_NAME(nib16)(b->qs + 16 * (k % 2));
        *sc = _mm256_set1_ps(_cvtsh_ss(b->d));
        break;
    }
    case Q8_TY_I4_G128: {
        const quant_block_i4_g128 *b = (const quant_block_i4_g128 *)row + k / 4;
        *a = Q8_NAME(nib16)(b->qs + 16 * (k % 4));
        *sc = _mm256_set1_ps(_cvtsh_ss(b->d));
        break;
    }
    case Q8_TY_I4_CH:
        *a = Q8_NAME(nib16)(row + sizeof(quant_row_header) + 16 * k);
        break;
    case Q8_TY_Q8_0: {
        const quant_block_q8_0 *b = (const quant_block_q8_0 *)row + k;
        *sg = _mm256_loadu_si256((const __m256i *)b->qs);
        *a = _mm256_abs_epi8(*sg);
        *sc = _mm256_set1_ps(_cvtsh_ss(b->d));
        break;
    }
    case Q8_TY_I8_CH:
        *sg = _mm256_loadu_si256((const __m256i *)(row + sizeof(quant_row_header) + 32 * k));
        *a = _mm256_abs_epi8(*sg);
        break;
    case Q8_TY_Q4_K: {
        const quant_block_q4_K *b = (const quant_block_q4_K *)row + k / 8;
        int j = (int)(k % 8);
        if (j == 0) kern_k4_scales(b->scales, _cvtsh_ss(b->d), _cvtsh_ss(b->dmin), ks->dsc, ks->dm);
        __m256i v = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * (j / 2)));
        if (j & 1) v = _mm256_srli_epi16(v, 4);
        *a = _mm256_and_si256(v, _mm256_set1_epi8(15));
        *sc = _mm256_set1_ps(ks->dsc[j]);
        *mn = _mm256_castps128_ps256(_mm_set_ss(ks->dm[j]));
        *mn = _mm256_insertf128_ps(*mn, _mm_setzero_ps(), 1);
        break;
    }
    case Q8_TY_Q6_K: {
        const quant_block_q6_K *b = (const quant_block_q6_K *)row + k / 8;
        int j = (int)(k % 8), h = j / 4, qd = j % 4;
        __m256i v = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + (qd & 1 ? 32 : 0)));
        if (qd >= 2) v = _mm256_srli_epi16(v, 4);
        __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
        qh = _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * qd));
        *a = _mm256_or_si256(_mm256_and_si256(v, _mm256_set1_epi8(15)),
                             _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(3)), 4));
        float d = _cvtsh_ss(b->d);
        __m128 s0 = _mm_set1_ps(d * (float)b->scales[8 * h + 2 * qd]);
        __m128 s1 = _mm_set1_ps(d * (float)b->scales[8 * h + 2 * qd + 1]);
        *sc = _mm256_set_m128(s1, s0);
        break;
    }
    }
}

Q8_TARGET Q8_INL void Q8_NAME(qtile)(const int ty, int64_t n, const unsigned char *w, size_t rb,
                                     int nr, const unsigned char *xq, size_t xs, const int NC,
                                     float *y, size_t ldy) {
    enum { NR = KERN_QGEMM_MR };
    const unsigned char *rows[NR];
    for (int r = 0; r < NR; r++) rows[r] = w + (size_t)(r < nr ? r : nr - 1) * rb;
    const float *dx[KERN_QGEMM_NC];
    for (int c = 0; c < NC; c++) dx[c] = (const float *)(xq + (size_t)c * xs + n);
    __m256 acc[NR][KERN_QGEMM_NC];
    for (int r = 0; r < NR; r++)
        for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    Q8_NAME(kstate) ks[NR];
    const int off = ty == Q8_TY_Q6_K ? 32 : ty <= Q8_TY_I4_CH ? 8 : 0;
    const int sgn = ty == Q8_TY_Q8_0 || ty == Q8_TY_I8_CH, chan = ty == Q8_TY_I4_CH || ty == Q8_TY_I8_CH;
    const int64_t nb = n / KERN_Q8_BLOCK;
    for (int64_t k = 0; k < nb; k++) {
        __m256i xv[KERN_QGEMM_NC], xi[KERN_QGEMM_NC];
        __m256 dxv[KERN_QGEMM_NC], dsv[KERN_QGEMM_NC];
        for (int c = 0; c < NC; c++) {
            xv[c] = _mm256_loadu_si256((const __m256i *)(xq + (size_t)c * xs + 32 * k));
            xi[c] = off ? _mm256_sub_epi32(_mm256_setzero_si256(),
                                           Q8_DPBUSD(_mm256_setzero_si256(), _mm256_set1_epi8((char)off), xv[c]))
                        : _mm256_setzero_si256();
            dxv[c] = _mm256_set1_ps(dx[c][k]);
            if (ty == Q8_TY_Q4_K) dsv[c] = _mm256_set1_ps(dx[c][nb + k]);
        }
        for (int r = 0; r < NR; r++) {
            __m256i a, sg = _mm256_setzero_si256();
            __m256 sc = _mm256_setzero_ps(), mn = _mm256_setzero_ps();
            Q8_NAME(wstep)(ty, rows[r], k, &ks[r], &a, &sg, &sc, &mn);
            for (int c = 0; c < NC; c++) {
                __m256i l = sgn ? Q8_DPBUSD(_mm256_setzero_si256(), a, _mm256_sign_epi8(xv[c], sg))
                                : Q8_DPBUSD(xi[c], a, xv[c]);
                __m256 f = _mm256_cvtepi32_ps(l);
                acc[r][c] = _mm256_fmadd_ps(f, chan ? dxv[c] : _mm256_mul_ps(sc, dxv[c]), acc[r][c]);
                if (ty == Q8_TY_Q4_K) acc[r][c] = _mm256_fnmadd_ps(mn, dsv[c], acc[r][c]);
            }
        }
    }
    for (int r = 0; r < nr; r++) {
        float dw = 1.0f;
        if (chan) memcpy(&dw, rows[r], sizeof dw);
        for (int c = 0; c < NC; c++) {
            __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[r][c]), _mm256_extractf128_ps(acc[r][c], 1));
            s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            s = _mm_add_ss(s, _mm_movehdup_ps(s));
            float v = _mm_cvtss_f32(s);
            y[(size_t)c * ldy + (size_t)r] = chan ? v * dw : v;
        }
    }
}

#define Q8_QGEMM(name, TY)                                                                     \
    Q8_TARGET static void Q8_NAME(qgemm_##name)(int64_t n, const void *w, size_t rb, int nr,    \
                                                const void *xq, size_t xs, int nc, float *y,   \
                                                size_t ldy) {                                  \
        switch (nc) {                                                                          \
        case 1: Q8_NAME(qtile)(TY, n, w, rb, nr, xq, xs, 1, y, ldy); break;                    \
        case 2: Q8_NAME(qtile)(TY, n, w, rb, nr, xq, xs, 2, y, ldy); break;                    \
        case 3: Q8_NAME(qtile)(TY, n, w, rb, nr, xq, xs, 3, y, ldy); break;                    \
        default: Q8_NAME(qtile)(TY, n, w, rb, nr, xq, xs, 4, y, ldy); break;                   \
        }                                                                                      \
    }
Q8_QGEMM(q4_0, Q8_TY_Q4_0)
Q8_QGEMM(i4_g64, Q8_TY_I4_G64)
Q8_QGEMM(i4_g128, Q8_TY_I4_G128)
Q8_QGEMM(i4_ch, Q8_TY_I4_CH)
Q8_QGEMM(q8_0, Q8_TY_Q8_0)
Q8_QGEMM(i8_ch, Q8_TY_I8_CH)
Q8_QGEMM(q4_K, Q8_TY_Q4_K)
Q8_QGEMM(q6_K, Q8_TY_Q6_K)

/* The qgemm entries of a set, for a designated initializer. */
#define Q8_TABLE                                                                               \
    [GGML_TYPE_Q4_0] = Q8_NAME(qgemm_q4_0), [LM_TYPE_I4_G32] = Q8_NAME(qgemm_q4_0),           \
    [LM_TYPE_I4_G64] = Q8_NAME(qgemm_i4_g64), [LM_TYPE_I4_G128] = Q8_NAME(qgemm_i4_g128),     \
    [LM_TYPE_I4_CH] = Q8_NAME(qgemm_i4_ch), [GGML_TYPE_Q8_0] = Q8_NAME(qgemm_q8_0),           \
    [LM_TYPE_I8_CH] = Q8_NAME(qgemm_i8_ch), [GGML_TYPE_Q4_K] = Q8_NAME(qgemm_q4_K),           \
    [GGML_TYPE_Q6_K] = Q8_NAME(qgemm_q6_K)
