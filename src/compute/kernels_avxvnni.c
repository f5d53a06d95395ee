/* kernels_avxvnni.c — the AVX2 set with AVX-VNNI (VEX-encoded vpdpbusd on ymm) int8-activation
 * tiles: the same body as the AVX2 set's (kernels_q8_256.h, same integers, same results), one
 * instruction where AVX2 needs two. */
#include "compute/kernels_impl.h"
#include "compute/quant.h"

#include <pthread.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define Q8_TARGET __attribute__((target("avx2,fma,f16c,avxvnni")))
#define Q8_DPBUSD _mm256_dpbusd_avx_epi32
#define Q8_NAME(x) avxvnni_##x
#include "compute/kernels_q8_256.h"

static kern_set g_set;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_set(void) {
    static const kern_set q8 = {.qgemm = {Q8_TABLE}};
    g_set = *kern_avx2();
    g_set.name = "avxvnni";
    for (int t = 0; t < LM_TYPE_COUNT; t++)
        if (q8.qgemm[t]) g_set.qgemm[t] = q8.qgemm[t];
}

const kern_set *kern_avxvnni(void) {
    pthread_once(&g_once, init_set);
    return &g_set;
}
#else
const kern_set *kern_avxvnni(void) { return kern_reference(); }
#endif
