/* cpu.h — run-time CPU feature detection.
 *
 * Features count only when both the CPU advertises them (CPUID) and the OS saves their register
 * state (XGETBV); AMX additionally needs the kernel's permission, requested once by
 * cpu_features_get(). The shipped binary targets baseline x86-64; SIMD kernels are picked at run
 * time from these flags (see kernels.h). */
#ifndef LM_COMPUTE_CPU_H
#define LM_COMPUTE_CPU_H

typedef struct {
    int avx2, fma, f16c;                 /* AVX2 family (Haswell+) */
    int avxvnni;                         /* VEX-encoded vpdpbusd on ymm (Alder Lake, Zen 5) */
    int avx512f, avx512bw, avx512vl;     /* AVX-512 foundation */
    int avx512vnni, avx512bf16, avx512fp16;
    int amx_tile, amx_int8, amx_bf16;    /* usable only if the kernel granted AMX state */
} cpu_features;

/* Detected features of this machine; computed once, thread-safe. */
const cpu_features *cpu_features_get(void);

/* Writes a short space-separated list of usable features ("avx2 fma avx512f ...") to buf. */
void cpu_features_describe(const cpu_features *f, char *buf, unsigned size);

#endif
