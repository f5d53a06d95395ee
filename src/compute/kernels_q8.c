/* kernels_q8.c — int8 activations: the q8 row quantizer, the scalar reference of the
 * int8-activation products (the oracle for the SIMD qgemm kernels), and their threaded driver.
 *
 * Reference definition. Every supported weight type is read as 32-weight blocks of integer codes
 * with a float scale per 16 weights and a float minimum per 32: w[i] = scale * code[i] - min
 * (exactly the dequantized weight, up to the one rounding of the product). With the activation
 * block x[i] ~ dx * q[i], the block's dot is
 *     sum over its two halves h: (float)(sum code*q over h) * (scale_h * dx)  -  min * ds
 * (ds = dx * sum q, stored in the q8 row), and a row's dot is the f32 sum of its blocks in order.
 * Integer sums are exact, so a SIMD kernel differs from this only in how it splits and orders
 * the f32 part. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compute/kernels.h"
#include "compute/kernels_impl.h"
#include "compute/quant.h"

size_t kern_q8_row_bytes(int64_t n) {
    size_t nb = (size_t)n / KERN_Q8_BLOCK;
    size_t bytes = (size_t)n + nb * 2 * sizeof(float);
    return (bytes + 63) / 64 * 64;
}

void kern_quantize_q8(int64_t n, const float *x, void *row) {
    int8_t *q = row;
    float *d = (float *)((unsigned char *)row + n), *ds = d + n / KERN_Q8_BLOCK;
    for (int64_t b = 0; b < n / KERN_Q8_BLOCK; b++) {
        const float *xb = x + b * KERN_Q8_BLOCK;
        float amax = 0.0f;
        for (int i = 0; i < KERN_Q8_BLOCK; i++) {
            float a = fabsf(xb[i]);
            amax = a > amax ? a : amax; /* a NaN never wins */
        }
        if (!(amax <= 3.0e38f)) amax = 3.0e38f; /* infinities: keep the row finite */
        float db = amax / 127.0f, id = db > 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int i = 0; i < KERN_Q8_BLOCK; i++) {
            float v = xb[i] * id;
            v = v != v ? 0.0f : v;
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            int qi = (int)(v + (v >= 0.0f ? 0.5f : -0.5f)); /* nearest, ties away from zero */
            q[b * KERN_Q8_BLOCK + i] = (int8_t)qi;
            sum += qi;
        }
        d[b] = db;
        ds[b] = db * (float)sum;
    }
}

typedef struct {
    int64_t n;
    const float *x;
    void *xq;
    size_t stride;
    int T;
} qz_job;

static void qz_task(void *ctx, int ith, int nth) {
    const qz_job *j = ctx;
    for (int t = ith; t < j->T; t += nth)
        kern_quantize_q8(j->n, j->x + (size_t)t * (size_t)j->n, (unsigned char *)j->xq + (size_t)t * j->stride);
}

void kern_quantize_q8_rows(pool *p, int64_t n, const float *x, int T, void *xq) {
    qz_job j = {n, x, xq, kern_q8_row_bytes(n), T};
    int tasks = T >= 8 ? pool_size(p) : 1;
    pool_run(p, tasks < T ? tasks : T, qz_task, &j);
}

/* ---- reference ------------------------------------------------------------------------------- */

/* Codes, the two half scales and the minimum of block b (32 weights) of a row of type t. */
static void ref_block(ggml_type t, const unsigned char *row, int64_t b, int8_t code[32],
                      float scale[2], float *min) {
    *min = 0.0f;
    switch (t) {
    case GGML_TYPE_Q4_0:
    case LM_TYPE_I4_G32:
    case LM_TYPE_I4_G64:
    case LM_TYPE_I4_G128:
    case LM_TYPE_I4_CH: {
        const uint8_t *qs;
        float d;
        if (t == LM_TYPE_I4_CH) {
            memcpy(&d, row, sizeof d);
            qs = row + sizeof(quant_row_header) + 16 * b;
        } else {
            int per = t == LM_TYPE_I4_G64 ? 2 : t == LM_TYPE_I4_G128 ? 4 : 1;
            size_t gbytes = 2 + 16 * (size_t)per;
            const unsigned char *g = row + (size_t)(b / per) * gbytes;
            uint16_t h;
            memcpy(&h, g, 2);
            d = kern_f16_to_f32(h);
            qs = g + 2 + 16 * (b % per);
        }
        for (int j = 0; j < 16; j++) {
            code[j] = (int8_t)((qs[j] & 15) - 8);
            code[j + 16] = (int8_t)((qs[j] >> 4) - 8);
        }
        scale[0] = scale[1] = d;
        return;
    }
    case GGML_TYPE_Q8_0: {
        const quant_block_q8_0 *blk = (const quant_block_q8_0 *)row + b;
        memcpy(code, blk->qs, 32);
        scale[0] = scale[1] = kern_f16_to_f32(blk->d);
        return;
    }
    case LM_TYPE_I8_CH: {
        float d;
        memcpy(&d, row, sizeof d);
        memcpy(code, row + sizeof(quant_row_header) + 32 * b, 32);
        scale[0] = scale[1] = d;
        return;
    }
    case GGML_TYPE_Q4_K: {
        const quant_block_q4_K *blk = (const quant_block_q4_K *)row + b / 8;
        int j = (int)(b % 8);
        float dsc[8], dm[8];
        kern_k4_scales(blk->scales, kern_f16_to_f32(blk->d), kern_f16_to_f32(blk->dmin), dsc, dm);
        const uint8_t *q = blk->qs + 32 * (j / 2);
        for (int l = 0; l < 32; l++) code[l] = (int8_t)(j & 1 ? q[l] >> 4 : q[l] & 15);
        scale[0] = scale[1] = dsc[j];
        *min = dm[j];
        return;
    }
    case GGML_TYPE_Q6_K: {
        const quant_block_q6_K *blk = (const quant_block_q6_K *)row + b / 8;
        int j = (int)(b % 8), h = j / 4, qd = j % 4;
        const uint8_t *ql = blk->ql + 64 * h, *qh = blk->qh + 32 * h;
        for (int l = 0; l < 32; l++) {
            int lo = qd & 1 ? ql[32 + l] : ql[l];
            lo = qd >= 2 ? lo >> 4 : lo & 15;
            int hi = (qh[l] >> (2 * qd)) & 3;
            code[l] = (int8_t)((lo | hi << 4) - 32);
        }
        float d = kern_f16_to_f32(blk->d);
        scale[0] = d * (float)blk->scales[8 * h + 2 * qd];
        scale[1] = d * (float)blk->scales[8 * h + 2 * qd + 1];
        return;
    }
    default:
        memset(code, 0, 32);
        scale[0] = scale[1] = 0.0f;
        return;
    }
}

static float ref_qdot(ggml_type t, int64_t n, const unsigned char *row, const unsigned char *xq) {
    const int8_t *q = (const int8_t *)xq;
    const float *d = (const float *)(xq + n), *ds = d + n / KERN_Q8_BLOCK;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / KERN_Q8_BLOCK; b++) {
        int8_t code[32];
        float scale[2], min;
        ref_block(t, row, b, code, scale, &min);
        for (int h = 0; h < 2; h++) {
            int32_t is = 0;
            for (int i = 0; i < 16; i++) is += (int32_t)code[16 * h + i] * q[32 * b + 16 * h + i];
            sum += (float)is * (scale[h] * d[b]);
        }
        if (min != 0.0f) sum -= min * ds[b];
    }
    return sum;
}

#define REF_QGEMM(name, type)                                                                  \
    void kern_ref_qgemm_##name(int64_t n, const void *w, size_t row_bytes, int nr,             \
                               const void *xq, size_t xq_stride, int nc, float *y, size_t ldy) { \
        for (int c = 0; c < nc; c++)                                                           \
            for (int r = 0; r < nr; r++)                                                       \
                y[(size_t)c * ldy + (size_t)r] =                                               \
                    ref_qdot(type, n, (const unsigned char *)w + (size_t)r * row_bytes,        \
                             (const unsigned char *)xq + (size_t)c * xq_stride);               \
    }
REF_QGEMM(q4_0, GGML_TYPE_Q4_0)
REF_QGEMM(i4_g32, LM_TYPE_I4_G32)
REF_QGEMM(i4_g64, LM_TYPE_I4_G64)
REF_QGEMM(i4_g128, LM_TYPE_I4_G128)
REF_QGEMM(i4_ch, LM_TYPE_I4_CH)
REF_QGEMM(q8_0, GGML_TYPE_Q8_0)
REF_QGEMM(i8_ch, LM_TYPE_I8_CH)
REF_QGEMM(q4_K, GGML_TYPE_Q4_K)
REF_QGEMM(q6_K, GGML_TYPE_Q6_K)

int kern_q8_supports(ggml_type t) {
    return (unsigned)t < LM_TYPE_COUNT && kern_reference()->qgemm[t] != NULL;
}

int kern_q8_native(const kern_set *k, ggml_type t) {
    /* Q4_K's tiles unpack the six-bit scales per row and super-block, which makes them slower
     * than the f32 kernel for one vector (bench_gemm: 0.4-0.5x) though faster from 16 on (1.2x);
     * decode matters more, and a type cannot switch paths by batch size (batch invariance), so
     * Q4_K keeps f32 activations. Its tiles stay in the sets and tested. */
    if (t == GGML_TYPE_Q4_K) return 0;
    return kern_q8_supports(t) && k->qgemm[t] != NULL &&
           (k == kern_reference() || k->qgemm[t] != kern_reference()->qgemm[t]);
}

/* ---- threaded driver ------------------------------------------------------------------------- */

typedef struct {
    kern_qgemm_fn fn;
    kern_qpack_fn pack;      /* NULL: tiles read the weights directly */
    kern_qgemm_fn fn_packed;
    const unsigned char *w;
    size_t row_bytes;
    int64_t rows, cols;
    const unsigned char *xq;
    size_t xq_stride;
    int n_batch;
    float *y;
} qmm_job;

static void qmm_task(void *ctx, int ith, int nth) {
    const qmm_job *j = ctx;
    int64_t tiles = (j->rows + KERN_QGEMM_MR - 1) / KERN_QGEMM_MR;
    int64_t r0 = tiles * ith / nth * KERN_QGEMM_MR, r1 = tiles * (ith + 1) / nth * KERN_QGEMM_MR;
    if (r1 > j->rows) r1 = j->rows;
    unsigned char *buf = NULL;
    if (j->pack && r0 < r1) buf = malloc(j->pack(j->cols, j->w, j->row_bytes, KERN_QGEMM_MR, NULL));
    for (int64_t r = r0; r < r1; r += KERN_QGEMM_MR) {
        int nr = r1 - r < KERN_QGEMM_MR ? (int)(r1 - r) : KERN_QGEMM_MR;
        if (buf) {
            j->pack(j->cols, j->w + (size_t)r * j->row_bytes, j->row_bytes, nr, buf);
            for (int b = 0; b < j->n_batch; b += KERN_QGEMM_NC) {
                int nc = j->n_batch - b < KERN_QGEMM_NC ? j->n_batch - b : KERN_QGEMM_NC;
                j->fn_packed(j->cols, buf, 0, nr, j->xq + (size_t)b * j->xq_stride, j->xq_stride, nc,
                             j->y + (size_t)b * (size_t)j->rows + (size_t)r, (size_t)j->rows);
            }
            continue;
        }
        for (int b = 0; b < j->n_batch; b += KERN_QGEMM_NC) {
            int nc = j->n_batch - b < KERN_QGEMM_NC ? j->n_batch - b : KERN_QGEMM_NC;
            j->fn(j->cols, j->w + (size_t)r * j->row_bytes, j->row_bytes, nr,
                  j->xq + (size_t)b * j->xq_stride, j->xq_stride, nc,
                  j->y + (size_t)b * (size_t)j->rows + (size_t)r, (size_t)j->rows);
        }
    }
    free(buf);
}

/* From this many vectors on, a set's packed path (if any) is used: decoding a row tile once pays
 * for itself when several activation tiles reuse it. */
#define QMM_PACK_MIN_BATCH (2 * KERN_QGEMM_NC)

/* Below this many weight bytes x vectors a product runs on one thread (as kern_matmul). */
#define QMM_MIN_PARALLEL_BYTES (64 * 1024)

void kern_matmul_q8(const kern_set *k, pool *p, ggml_type t, const void *w, size_t row_bytes,
                    int64_t rows, int64_t cols, const void *xq, int n_batch, float *y) {
    if (rows <= 0 || n_batch <= 0) return;
    qmm_job j = {
        .fn = k->qgemm[t] ? k->qgemm[t] : kern_reference()->qgemm[t],
        .w = w,
        .row_bytes = row_bytes,
        .rows = rows,
        .cols = cols,
        .xq = xq,
        .xq_stride = kern_q8_row_bytes(cols),
        .n_batch = n_batch,
        .y = y,
    };
    if (k->qpack[t] && k->qgemm_packed[t] && n_batch >= QMM_PACK_MIN_BATCH) {
        j.pack = k->qpack[t];
        j.fn_packed = k->qgemm_packed[t];
    }
    int n_tasks = pool_size(p);
    if ((double)rows * (double)row_bytes * n_batch < QMM_MIN_PARALLEL_BYTES) n_tasks = 1;
    int64_t tiles = (rows + KERN_QGEMM_MR - 1) / KERN_QGEMM_MR;
    if (n_tasks > tiles) n_tasks = (int)tiles;
    pool_run(p, n_tasks, qmm_task, &j);
}
