/* cpu.c — CPUID/XGETBV feature detection and the AMX permission request. */
#include "compute/cpu.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

static unsigned long long xgetbv0(void) {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

/* Linux: ask for permission to use AMX tile data (ARCH_REQ_XCOMP_PERM = 0x1023,
 * XFEATURE_XTILEDATA = 18). Without it the first tile instruction faults. */
static int amx_request_permission(void) {
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
}

static void detect(cpu_features *f) {
    unsigned a, b, c, d;
    memset(f, 0, sizeof *f);
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int osxsave = (c >> 27) & 1;
    int fma = (c >> 12) & 1, f16c = (c >> 29) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return;
    unsigned long long xcr0 = xgetbv0();
    int os_avx = (xcr0 & 0x6) == 0x6;             /* XMM and YMM state */
    int os_avx512 = (xcr0 & 0xe6) == 0xe6;        /* plus opmask, ZMM_Hi256, Hi16_ZMM */
    int os_amx = (xcr0 & (3ull << 17)) == (3ull << 17); /* XTILECFG and XTILEDATA */
    if (!os_avx) return;
    f->fma = fma;
    f->f16c = f16c;
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    f->avx2 = (b >> 5) & 1;
    {
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        f->avxvnni = (a1 >> 4) & 1;
        (void)b1; (void)c1; (void)d1;
    }
    if (os_avx512) {
        f->avx512f = (b >> 16) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
        f->avx512vnni = (c >> 11) & 1;
        f->avx512fp16 = (d >> 23) & 1;
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        f->avx512bf16 = (a1 >> 5) & 1;
        (void)b1; (void)c1; (void)d1;
    }
    int amx_tile = (d >> 24) & 1, amx_int8 = (d >> 25) & 1, amx_bf16 = (d >> 22) & 1;
    if (os_amx && amx_tile && amx_request_permission()) {
        f->amx_tile = amx_tile;
        f->amx_int8 = amx_int8;
        f->amx_bf16 = amx_bf16;
    }
}
#else
static void detect(cpu_features *f) { memset(f, 0, sizeof *f); }
#endif

static cpu_features g_features;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void detect_once(void) { detect(&g_features); }

const cpu_features *cpu_features_get(void) {
    pthread_once(&g_once, detect_once);
    return &g_features;
}

void cpu_features_describe(const cpu_features *f, char *buf, unsigned size) {
    static const struct { size_t off; const char *name; } names[] = {
        {offsetof(cpu_features, avx2), "avx2"},         {offsetof(cpu_features, fma), "fma"},
        {offsetof(cpu_features, f16c), "f16c"},         {offsetof(cpu_features, avxvnni), "avxvnni"},
        {offsetof(cpu_features, avx512f), "avx512f"},
        {offsetof(cpu_features, avx512bw), "avx512bw"}, {offsetof(cpu_features, avx512vl), "avx512vl"},
        {offsetof(cpu_features, avx512vnni), "avx512vnni"},
        {offsetof(cpu_features, avx512bf16), "avx512bf16"},
        {offsetof(cpu_features, avx512fp16), "avx512fp16"},
        {offsetof(cpu_features, amx_tile), "amx-tile"}, {offsetof(cpu_features, amx_int8), "amx-int8"},
        {offsetof(cpu_features, amx_bf16), "amx-bf16"},
    };
    size_t n = 0;
    if (size) buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!*(const int *)((const char *)f + names[i].off)) continue;
        int w = snprintf(buf + n, size - n, "%s%s", n ? " " : "", names[i].name);
        if (w < 0 || (size_t)w >= size - n) break;
        n += (size_t)w;
    }
}
