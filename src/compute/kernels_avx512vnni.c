/* kernels_avx512vnni.c — int8-activation tile products with AVX512-VNNI (vpdpbusd: 64 u8 x s8
 * multiply-adds into 16 int32 lanes per instruction). The set is the AVX-512 set's f32 kernels
 * plus these qgemm entries.
 *
 * One step covers 64 weights = two 32-blocks of the q8 activation row: a zmm of 64 weight codes
 * and a zmm of 64 activations give 16 int32 lanes (8 per block, 4 products each), exact. They are
 * converted to f32 and multiply-added into the pair's accumulator with a per-lane scale
 * (weight scale x activation scale of the lane's block; channel-wise types apply the row scale
 * once at the end). Codes stored with an offset (Q4_0 family q - 8, Q6_K q - 32) go in unsigned
 * with the activations signed, and the accumulator starts at -offset * (sum of the lane's 4
 * activations); int8 weights go in signed with the activations flipped to unsigned (x + 128), the
 * accumulator starting at -128 * (sum of the lane's 4 weights). Q4_K's minimums subtract
 * dmin*m * ds (ds = d * sum q of the block, from the q8 row) in lanes 0 and 8.
 *
 * For long batches (prefill) a task first packs a row tile's weight side (codes, integer starts,
 * lane scales: what the tile loop would decode) once into a buffer, then runs every activation
 * tile against it: decoding then costs once per row instead of once per activation tile, and the
 * values and operations are the same as decoding on the fly, so the bits are too.
 *
 * A tile is 4 weight rows (a short tile repeats its last row and drops the extra results) by
 * 1-4 activation rows; for a single vector (decode) the rows go one at a time, which streams from
 * DRAM 2.6x faster than 4 interleaved rows (65536 x 1024 Q4_0: 1.89 against 4.9 ms); every (row, activation) pair runs the same operations in the same order in
 * every tile shape, so results do not depend on batch composition. */
#include "compute/kernels_impl.h"
#include "compute/quant.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define TV __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline))

enum { TY_Q4_0, TY_I4_G64, TY_I4_G128, TY_I4_CH, TY_Q8_0, TY_I8_CH, TY_Q4_K, TY_Q6_K };

/* Offset subtracted from unsigned codes (0: none), whether weights are signed int8, whether the
 * scale is one per row. */
static inline int ty_offset(int ty) {
    return ty == TY_Q6_K ? 32 : (ty == TY_Q4_0 || ty == TY_I4_G64 || ty == TY_I4_G128 || ty == TY_I4_CH) ? 8 : 0;
}
static inline int ty_signed(int ty) { return ty == TY_Q8_0 || ty == TY_I8_CH; }
static inline int ty_channel(int ty) { return ty == TY_I4_CH || ty == TY_I8_CH; }

/* lanes 0-7 = p[0], lanes 8-15 = p[1] (0 when half) */
TV INL __m512 expand2(const float *p, int half) {
    __m128 v = half ? _mm_load_ss(p) : _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)p));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                 _mm512_castps128_ps512(v));
}

/* two f16 scales -> lanes 0-7 and 8-15 */
TV INL __m512 expand2_f16(uint16_t a, uint16_t b) {
    __m128 v = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)a | (uint32_t)b << 16)));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                 _mm512_castps128_ps512(v));
}

/* 32 bytes of nibble chunks (two chunks: c0 = bytes 0-15, c1 = 16-31) -> 64 codes in weight
 * order: c0 low nibbles, c0 high, c1 low, c1 high. */
TV INL __m512i nibbles2(__m256i v) {
    __m256i m = _mm256_set1_epi8(15);
    __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); /* c0lo c1lo c0hi c1hi */
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}

TV INL __m256i load2x16(const uint8_t *a, const uint8_t *b, int half) {
    __m128i lo = _mm_loadu_si128((const __m128i *)a);
    __m128i hi = half ? _mm_setzero_si128() : _mm_loadu_si128((const __m128i *)b);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

/* Per-row state kept across the steps of a K-quant super-block. */
typedef struct {
    float dsc[8], dm[8];
} kstate;

/* Weight side of step k (weights 64k..64k+63) of one row: codes a, integer start init (signed
 * types), lane scales sc (block types), minimums mn (Q4_K). */
TV INL void wstep(const int ty, const unsigned char *row, int64_t k, int half, kstate *ks,
                  __m512i *a, __m512i *init, __m512 *sc, __m512 *mn) {
    switch (ty) {
    case TY_Q4_0: {
        const quant_block_q4_0 *b = (const quant_block_q4_0 *)row + 2 * k;
        *a = nibbles2(load2x16(b[0].qs, half ? b[0].qs : b[1].qs, half));
        *sc = expand2_f16(b[0].d, half ? 0 : b[1].d);
        break;
    }
    case TY_I4_G64: {
        const quant_block_i4_g64 *b = (const quant_block_i4_g64 *)row + k;
        *a = nibbles2(_mm256_loadu_si256((const __m256i *)b->qs));
        *sc = _mm512_set1_ps(_cvtsh_ss(b->d));
        break;
    }
    case TY_I4_G128: {
        const quant_block_i4_g128 *b = (const quant_block_i4_g128 *)row + k / 2;
        *a = nibbles2(_mm256_loadu_si256((const __m256i *)(b->qs + 32 * (k % 2))));
        *sc = _mm512_set1_ps(_cvtsh_ss(b->d));
        break;
    }
    case TY_I4_CH: {
        const uint8_t *qs = row + sizeof(quant_row_header) + 32 * k;
        *a = nibbles2(load2x16(qs, qs + 16, half));
        break;
    }
    case TY_Q8_0: {
        const quant_block_q8_0 *b = (const quant_block_q8_0 *)row + 2 * k;
        __m256i lo = _mm256_loadu_si256((const __m256i *)b[0].qs);
        __m256i hi = half ? _mm256_setzero_si256() : _mm256_loadu_si256((const __m256i *)b[1].qs);
        *a = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        *init = _mm512_sub_epi32(_mm512_setzero_si512(),
                                 _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)0x80), *a));
        *sc = expand2_f16(b[0].d, half ? 0 : b[1].d);
        break;
    }
    case TY_I8_CH: {
        const int8_t *q = (const int8_t *)(row + sizeof(quant_row_header)) + 64 * k;
        *a = half ? _mm512_maskz_loadu_epi8(0xffffffffull, q) : _mm512_loadu_si512(q);
        *init = _mm512_sub_epi32(_mm512_setzero_si512(),
                                 _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)0x80), *a));
        break;
    }
    case TY_Q4_K: {
        const quant_block_q4_K *b = (const quant_block_q4_K *)row + k / 4;
        int c = (int)(k % 4);
        if (c == 0) kern_k4_scales(b->scales, _cvtsh_ss(b->d), _cvtsh_ss(b->dmin), ks->dsc, ks->dm);
        __m256i v = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * c));
        __m256i m = _mm256_set1_epi8(15);
        __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
        *a = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        *sc = expand2(ks->dsc + 2 * c, 0);
        *mn = _mm512_maskz_permutexvar_ps((__mmask16)0x0101,
                                          _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0),
                                          _mm512_castps128_ps512(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(ks->dm + 2 * c)))));
        break;
    }
    case TY_Q6_K: {
        const quant_block_q6_K *b = (const quant_block_q6_K *)row + k / 4;
        int h = (int)(k % 4) / 2, s = (int)(k % 2);
        __m512i ql = _mm512_loadu_si512(b->ql + 64 * h);
        __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
        __m512i m15 = _mm512_set1_epi8(15), m3 = _mm512_set1_epi8(3);
        __m512i lo = s ? _mm512_and_si512(_mm512_srli_epi16(ql, 4), m15) : _mm512_and_si512(ql, m15);
        __m256i h0 = s ? _mm256_srli_epi16(qh, 4) : qh, h1 = _mm256_srli_epi16(qh, s ? 6 : 2);
        __m512i hz = _mm512_inserti64x4(_mm512_castsi256_si512(h0), h1, 1);
        *a = _mm512_or_si512(lo, _mm512_slli_epi16(_mm512_and_si512(hz, m3), 4));
        int scl;
        memcpy(&scl, b->scales + 8 * h + 4 * s, sizeof scl);
        __m128 s4 = _mm_mul_ps(_mm_cvtepi32_ps(_mm_cvtepi8_epi32(_mm_cvtsi32_si128(scl))),
                               _mm_set1_ps(_cvtsh_ss(b->d)));
        *sc = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                    _mm512_castps128_ps512(s4));
        break;
    }
    }
}

/* Bytes of one packed (step, row): the weight side of a step as the tile loop consumes it. */
static inline size_t pk_stride(int ty) {
    return 64 * (size_t)(1 + ty_signed(ty) + !ty_channel(ty) + (ty == TY_Q4_K));
}

/* Packs the weight side of every step of NR rows (short tiles repeat the last row) into buf,
 * step-major: what qtile would compute on the fly, computed once for all activation tiles. */
TV INL void qpack(const int ty, int64_t n, const unsigned char *w, size_t rb, int nr, unsigned char *buf) {
    enum { NR = KERN_QGEMM_MR };
    const size_t ps = pk_stride(ty);
    const int sgn = ty_signed(ty), chan = ty_channel(ty);
    int64_t steps = (n + 63) / 64;
    int odd = (n % 64) != 0;
    for (int r = 0; r < NR; r++) {
        const unsigned char *row = w + (size_t)(r < nr ? r : nr - 1) * rb;
        kstate ks;
        for (int64_t k = 0; k < steps; k++) {
            __m512i a, init = _mm512_setzero_si512();
            __m512 sc = _mm512_setzero_ps(), mn = _mm512_setzero_ps();
            wstep(ty, row, k, odd && k == steps - 1, &ks, &a, &init, &sc, &mn);
            unsigned char *p = buf + ((size_t)k * NR + (size_t)r) * ps;
            _mm512_storeu_si512(p, a);
            p += 64;
            if (sgn) { _mm512_storeu_si512(p, init); p += 64; }
            if (!chan) { _mm512_storeu_ps(p, sc); p += 64; }
            if (ty == TY_Q4_K) _mm512_storeu_ps(p, mn);
        }
    }
}

/* The tile product; PK: the weight side comes from a qpack buffer (w = the buffer) instead of
 * being decoded here. Both ways feed the same values to the same operations. */
TV INL void qtile(const int ty, const int PK, int64_t n, const unsigned char *w, size_t rb, int nr,
                  const unsigned char *xq, size_t xs, const int NC, float *y, size_t ldy, const int NR) {
    const unsigned char *rows[KERN_QGEMM_MR];
    for (int r = 0; r < NR; r++) rows[r] = PK ? w : w + (size_t)(r < nr ? r : nr - 1) * rb;
    const float *dx[KERN_QGEMM_NC], *dsx[KERN_QGEMM_NC];
    for (int c = 0; c < NC; c++) {
        dx[c] = (const float *)(xq + (size_t)c * xs + n);
        dsx[c] = dx[c] + n / KERN_Q8_BLOCK;
    }
    __m512 acc[KERN_QGEMM_MR][KERN_QGEMM_NC];
    for (int r = 0; r < NR; r++)
        for (int c = 0; c < NC; c++) acc[r][c] = _mm512_setzero_ps();
    kstate ks[KERN_QGEMM_MR];
    const int off = ty_offset(ty), sgn = ty_signed(ty), chan = ty_channel(ty);
    const size_t ps = pk_stride(ty);
    int64_t steps = (n + 63) / 64;
    int odd = (n % 64) != 0;
    for (int64_t k = 0; k < steps; k++) {
        int half = odd && k == steps - 1;
        __m512i xv[KERN_QGEMM_NC], xi[KERN_QGEMM_NC];
        __m512 dx2[KERN_QGEMM_NC], ds2[KERN_QGEMM_NC];
        for (int c = 0; c < NC; c++) {
            const int8_t *q = (const int8_t *)(xq + (size_t)c * xs) + 64 * k;
            xv[c] = half ? _mm512_maskz_loadu_epi8(0xffffffffull, q) : _mm512_loadu_si512(q);
            if (sgn)
                xi[c] = _mm512_xor_si512(xv[c], _mm512_set1_epi8((char)0x80));
            else if (off)
                xi[c] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                         _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)off), xv[c]));
            else
                xi[c] = _mm512_setzero_si512();
            dx2[c] = expand2(dx[c] + 2 * k, half);
            if (ty == TY_Q4_K) ds2[c] = expand2(dsx[c] + 2 * k, 0);
        }
        for (int r = 0; r < NR; r++) {
            __m512i a, init = _mm512_setzero_si512();
            __m512 sc = _mm512_setzero_ps(), mn = _mm512_setzero_ps();
            if (PK) {
                const unsigned char *p = w + ((size_t)k * KERN_QGEMM_MR + (size_t)r) * ps;
                a = _mm512_loadu_si512(p);
                p += 64;
                if (sgn) { init = _mm512_loadu_si512(p); p += 64; }
                if (!chan) { sc = _mm512_loadu_ps(p); p += 64; }
                if (ty == TY_Q4_K) mn = _mm512_loadu_ps(p);
            } else {
                wstep(ty, rows[r], k, half, &ks[r], &a, &init, &sc, &mn);
            }
            for (int c = 0; c < NC; c++) {
                __m512i l = sgn ? _mm512_dpbusd_epi32(init, xi[c], a) : _mm512_dpbusd_epi32(xi[c], a, xv[c]);
                __m512 f = _mm512_cvtepi32_ps(l);
                acc[r][c] = _mm512_fmadd_ps(f, chan ? dx2[c] : _mm512_mul_ps(sc, dx2[c]), acc[r][c]);
                if (ty == TY_Q4_K) acc[r][c] = _mm512_fnmadd_ps(mn, ds2[c], acc[r][c]);
            }
        }
    }
    for (int r = 0; r < (nr < NR ? nr : NR); r++) {
        float dw = 1.0f;
        if (chan) memcpy(&dw, PK ? w + (size_t)steps * KERN_QGEMM_MR * ps + (size_t)r * sizeof dw : rows[r], sizeof dw);
        for (int c = 0; c < NC; c++) {
            float v = _mm512_reduce_add_ps(acc[r][c]);
            y[(size_t)c * ldy + (size_t)r] = chan ? v * dw : v;
        }
    }
}

#define QGEMM(name, TY)                                                                        \
    TV static void qgemm_##name(int64_t n, const void *w, size_t rb, int nr, const void *xq,    \
                                size_t xs, int nc, float *y, size_t ldy) {                     \
        switch (nc) {                                                                          \
        case 1: /* one vector (decode): one row at a time streams better; same bits */         \
            for (int r = 0; r < nr; r++)                                                       \
                qtile(TY, 0, n, (const unsigned char *)w + (size_t)r * rb, rb, 1, xq, xs, 1, y + r, ldy, 1); \
            break;                                                                             \
        case 2: qtile(TY, 0, n, w, rb, nr, xq, xs, 2, y, ldy, KERN_QGEMM_MR); break;                          \
        case 3: qtile(TY, 0, n, w, rb, nr, xq, xs, 3, y, ldy, KERN_QGEMM_MR); break;                          \
        default: qtile(TY, 0, n, w, rb, nr, xq, xs, 4, y, ldy, KERN_QGEMM_MR); break;                         \
        }                                                                                      \
    }                                                                                          \
    TV static void qgemmp_##name(int64_t n, const void *w, size_t rb, int nr, const void *xq,   \
                                 size_t xs, int nc, float *y, size_t ldy) {                    \
        switch (nc) {                                                                          \
        case 1: qtile(TY, 1, n, w, rb, nr, xq, xs, 1, y, ldy, KERN_QGEMM_MR); break;                          \
        case 2: qtile(TY, 1, n, w, rb, nr, xq, xs, 2, y, ldy, KERN_QGEMM_MR); break;                          \
        case 3: qtile(TY, 1, n, w, rb, nr, xq, xs, 3, y, ldy, KERN_QGEMM_MR); break;                          \
        default: qtile(TY, 1, n, w, rb, nr, xq, xs, 4, y, ldy, KERN_QGEMM_MR); break;                         \
        }                                                                                      \
    }                                                                                          \
    TV static size_t qpack_##name(int64_t n, const void *w, size_t rb, int nr, void *buf) {     \
        size_t steps = (size_t)(n + 63) / 64, bytes = steps * KERN_QGEMM_MR * pk_stride(TY);   \
        if (ty_channel(TY)) bytes += KERN_QGEMM_MR * sizeof(float);                            \
        if (!buf) return bytes;                                                                \
        qpack(TY, n, w, rb, nr, buf);                                                          \
        if (ty_channel(TY))                                                                    \
            for (int r = 0; r < nr; r++)                                                       \
                memcpy((unsigned char *)buf + steps * KERN_QGEMM_MR * pk_stride(TY) + (size_t)r * sizeof(float), \
                       (const unsigned char *)w + (size_t)r * rb, sizeof(float));              \
        return bytes;                                                                          \
    }
QGEMM(q4_0, TY_Q4_0)
QGEMM(i4_g64, TY_I4_G64)
QGEMM(i4_g128, TY_I4_G128)
QGEMM(i4_ch, TY_I4_CH)
QGEMM(q8_0, TY_Q8_0)
QGEMM(i8_ch, TY_I8_CH)
QGEMM(q4_K, TY_Q4_K)
QGEMM(q6_K, TY_Q6_K)

static kern_set g_set;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_set(void) {
    g_set = *kern_avx512();
    g_set.name = "avx512vnni";
    g_set.qgemm[GGML_TYPE_Q4_0] = qgemm_q4_0;
    g_set.qgemm[LM_TYPE_I4_G32] = qgemm_q4_0; /* byte-identical rows */
    g_set.qgemm[LM_TYPE_I4_G64] = qgemm_i4_g64;
    g_set.qgemm[LM_TYPE_I4_G128] = qgemm_i4_g128;
    g_set.qgemm[LM_TYPE_I4_CH] = qgemm_i4_ch;
    g_set.qgemm[GGML_TYPE_Q8_0] = qgemm_q8_0;
    g_set.qgemm[LM_TYPE_I8_CH] = qgemm_i8_ch;
    g_set.qgemm[GGML_TYPE_Q4_K] = qgemm_q4_K;
    g_set.qgemm[GGML_TYPE_Q6_K] = qgemm_q6_K;
#define PACKED(t, name) (g_set.qpack[t] = qpack_##name, g_set.qgemm_packed[t] = qgemmp_##name)
    PACKED(GGML_TYPE_Q4_0, q4_0);
    PACKED(LM_TYPE_I4_G32, q4_0);
    PACKED(LM_TYPE_I4_G64, i4_g64);
    PACKED(LM_TYPE_I4_G128, i4_g128);
    PACKED(LM_TYPE_I4_CH, i4_ch);
    PACKED(GGML_TYPE_Q8_0, q8_0);
    PACKED(LM_TYPE_I8_CH, i8_ch);
    PACKED(GGML_TYPE_Q4_K, q4_K);
    PACKED(GGML_TYPE_Q6_K, q6_K);
#undef PACKED
}

const kern_set *kern_avx512vnni(void) {
    pthread_once(&g_once, init_set);
    return &g_set;
}
#else
const kern_set *kern_avx512vnni(void) { return kern_reference(); }
#endif
