/* kernels_impl.h — private to src/compute: the per-ISA kernel sets and shared helpers. */
#ifndef LM_COMPUTE_KERNELS_IMPL_H
#define LM_COMPUTE_KERNELS_IMPL_H

#include "compute/kernels.h"
#include "compute/quant.h"

/* AVX2 + FMA + F16C set (kernels_avx2.c); call only when cpu_features says they are usable. */
const kern_set *kern_avx2(void);

/* AVX-512 F/BW/VL set, plus AVX2/FMA/F16C (kernels_avx512.c); same condition. */
const kern_set *kern_avx512(void);

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

#endif
