/* kernels_pick.c — the run-time choice of a kernel set: the sets this CPU can run (cpu.h), from
 * plainest to best, and the best of them (or the one LM_KERNELS names), chosen once. */
#include <stdlib.h>
#include <string.h>

#include "compute/cpu.h"
#include "compute/kernels.h"
#include "compute/kernels_impl.h"

size_t kern_available(const kern_set **out, size_t max) {
    const cpu_features *f = cpu_features_get();
    size_t n = 0;
    if (n < max) out[n++] = kern_reference();
    int avx2 = f->avx2 && f->fma && f->f16c;
    int avx512 = avx2 && f->avx512f && f->avx512bw && f->avx512vl;
    if (avx2 && n < max) out[n++] = kern_avx2();
    if (avx2 && f->avxvnni && n < max) out[n++] = kern_avxvnni();
    if (avx512 && n < max) out[n++] = kern_avx512();
    if (avx512 && f->avx512vnni && n < max) out[n++] = kern_avx512vnni();
    return n;
}

static const kern_set *choose(void) {
    const kern_set *sets[8];
    size_t n = kern_available(sets, 8);
    const char *force = getenv("LM_KERNELS");
    if (force && *force) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(sets[i]->name, force) == 0) return sets[i];
    }
    return sets[n - 1]; /* sets are listed from plainest to best */
}

const kern_set *kern_best(void) {
    static const kern_set *chosen; /* benign race: every thread computes the same pointer */
    if (!chosen) chosen = choose();
    return chosen;
}
