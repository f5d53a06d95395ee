/* kernels_mt.c — matrix-vector and matrix-matrix products split by rows over a thread pool.
 * Each task takes a contiguous range of rows (ith, nth); within it, rows go in tiles small enough
 * to stay in L2 while every input vector passes over them, so a weight row comes from memory once
 * per product however large the batch. */
#include "compute/kernels.h"
#include "compute/kernels_impl.h"

/* Bytes of weights per tile: a quarter of a small L2 (256 KiB-2 MiB on current x86 cores). */
#define MM_TILE_BYTES (128 * 1024)

/* Below this many weight bytes x vectors a product runs on one thread: waking workers costs
 * more (a few microseconds) than the work. */
#define MM_MIN_PARALLEL_BYTES (64 * 1024)

typedef struct {
    kern_dot_fn dot;
    kern_dotn_fn dotn;       /* NULL: loop over dot */
    const unsigned char *w;
    size_t row_bytes;
    int64_t rows, cols;
    const float *x;          /* [n_batch][cols] */
    int n_batch;
    float *y;                /* [n_batch][rows] */
    int64_t tile_rows;
} mm_job;

static void mm_task(void *ctx, int ith, int nth) {
    const mm_job *j = ctx;
    int64_t r0 = j->rows * ith / nth, r1 = j->rows * (ith + 1) / nth;
    for (int64_t t0 = r0; t0 < r1; t0 += j->tile_rows) {
        int64_t t1 = t0 + j->tile_rows < r1 ? t0 + j->tile_rows : r1;
        for (int b = 0; b < j->n_batch; b += KERN_DOTN_MAX) {
            int nx = j->n_batch - b < KERN_DOTN_MAX ? j->n_batch - b : KERN_DOTN_MAX;
            const float *xb = j->x + (size_t)b * (size_t)j->cols;
            float *yb = j->y + (size_t)b * (size_t)j->rows;
            for (int64_t r = t0; r < t1; r++) {
                const unsigned char *row = j->w + (size_t)r * j->row_bytes;
                if (j->dotn && nx > 1) {
                    float out[KERN_DOTN_MAX];
                    j->dotn(j->cols, row, xb, (size_t)j->cols, nx, out);
                    for (int i = 0; i < nx; i++) yb[(size_t)i * (size_t)j->rows + (size_t)r] = out[i];
                } else {
                    for (int i = 0; i < nx; i++)
                        yb[(size_t)i * (size_t)j->rows + (size_t)r] =
                            j->dot(j->cols, row, xb + (size_t)i * (size_t)j->cols);
                }
            }
        }
    }
}

void kern_matmul(const kern_set *k, pool *p, ggml_type t, const void *w, size_t row_bytes,
                 int64_t rows, int64_t cols, const float *x, int n_batch, float *y) {
    if (rows <= 0 || n_batch <= 0) return;
    mm_job j = {
        .dot = kern_dot_for(k, t),
        .dotn = k->dotn[t],
        .w = w,
        .row_bytes = row_bytes,
        .rows = rows,
        .cols = cols,
        .x = x,
        .n_batch = n_batch,
        .y = y,
        .tile_rows = row_bytes >= MM_TILE_BYTES ? 1 : (int64_t)(MM_TILE_BYTES / row_bytes),
    };
    int n_tasks = pool_size(p);
    if ((double)rows * (double)row_bytes * n_batch < MM_MIN_PARALLEL_BYTES) n_tasks = 1;
    if (n_tasks > rows) n_tasks = (int)rows;
    pool_run(p, n_tasks, mm_task, &j);
}

void kern_matvec_mt(const kern_set *k, pool *p, ggml_type t, const void *w, size_t row_bytes,
                    int64_t rows, int64_t cols, const float *x, float *y) {
    kern_matmul(k, p, t, w, row_bytes, rows, cols, x, 1, y);
}
