/* kernels_impl.h — private to src/compute: the per-ISA kernel sets and shared helpers. */
#ifndef LM_COMPUTE_KERNELS_IMPL_H
#define LM_COMPUTE_KERNELS_IMPL_H

#include "compute/kernels.h"
#include "compute/quant.h"

/* AVX2 + FMA + F16C set (kernels_avx2.c); call only when cpu_features says they are usable. */
const kern_set *kern_avx2(void);

/* AVX-512 F/BW/VL set, plus AVX2/FMA/F16C (kernels_avx512.c); same condition. */
const kern_set *kern_avx512(void);

/* AVX-512 set plus AVX512-VNNI int8-activation kernels (kernels_avx512vnni.c). */
const kern_set *kern_avx512vnni(void);

/* AVX2 set plus AVX-VNNI (VEX vpdpbusd) int8-activation kernels (kernels_avx2.c). */
const kern_set *kern_avxvnni(void);

/* Reference int8-activation tile products (kernels_q8.c), one per supported weight type. */
#define KERN_REF_QGEMM(name)                                                                   \
    void kern_ref_qgemm_##name(int64_t n, const void *w, size_t row_bytes, int nr,             \
                               const void *xq, size_t xq_stride, int nc, float *y, size_t ldy);
KERN_REF_QGEMM(q4_0)
KERN_REF_QGEMM(i4_g32)
KERN_REF_QGEMM(i4_g64)
KERN_REF_QGEMM(i4_g128)
KERN_REF_QGEMM(i4_ch)
KERN_REF_QGEMM(q8_0)
KERN_REF_QGEMM(i8_ch)
KERN_REF_QGEMM(q4_K)
KERN_REF_QGEMM(q6_K)
#undef KERN_REF_QGEMM

/* k's dot for t, or the reference's when k has none. */
kern_dot_fn kern_dot_for(const kern_set *k, ggml_type t);

/* The 8 sub-block scales d*sc[j] and offsets dmin*m[j] of a Q4_K/Q5_K super-block, as f32 (the
 * reference's d1 and m1), unpacked once per super-block so kernels broadcast them from memory. */
static inline void kern_k4_scales(const uint8_t s[12], float d, float dmin, float dsc[8], float dm[8]) {
    for (int j = 0; j < 4; j++) {
        dsc[j] = d * (float)(s[j] & 63);
        dm[j] = dmin * (float)(s[j + 4] & 63);
        dsc[j + 4] = d * (float)((s[j + 8] & 15) | (s[j] >> 6) << 4);
        dm[j + 4] = dmin * (float)((s[j + 8] >> 4) | (s[j + 4] >> 6) << 4);
    }
}

/* The 16 scales d*sc[i] of a Q6_K super-block and -32 times them (the offset of q - 32). */
static inline void kern_k6_scales(const int8_t sc[16], float d, float ds[16], float m32[16]) {
    for (int i = 0; i < 16; i++) {
        ds[i] = d * (float)sc[i];
        m32[i] = -32.0f * ds[i];
    }
}

/* Defines dot_<name> and dotn_<name> (the kern_dot_fn / kern_dotn_fn of a set) from
 * <name>_impl(n, w, x, x_stride, nx, out), which every ISA file writes once per type; TARGET is
 * that file's target attribute. nx is a compile-time constant in each branch so the impl's
 * per-vector loops unroll. */
#define KERN_DEFINE_DOTS(TARGET, name)                                                          \
    TARGET static float dot_##name(int64_t n, const void *w, const float *x) {                  \
        float r;                                                                               \
        name##_impl(n, w, x, 0, 1, &r);                                                        \
        return r;                                                                              \
    }                                                                                          \
    TARGET static void dotn_##name(int64_t n, const void *w, const float *x, size_t xs, int nx, \
                                   float *out) {                                               \
        switch (nx) {                                                                          \
        case 1: name##_impl(n, w, x, xs, 1, out); break;                                       \
        case 2: name##_impl(n, w, x, xs, 2, out); break;                                       \
        case 3: name##_impl(n, w, x, xs, 3, out); break;                                       \
        default: name##_impl(n, w, x, xs, 4, out); break;                                      \
        }                                                                                      \
    }

#endif
