/* kernels_impl.h — private to src/compute: the per-ISA kernel sets. */
#ifndef LM_COMPUTE_KERNELS_IMPL_H
#define LM_COMPUTE_KERNELS_IMPL_H

#include "compute/kernels.h"

/* AVX2 + FMA + F16C set (kernels_avx2.c); call only when cpu_features says they are usable. */
const kern_set *kern_avx2(void);

#endif
