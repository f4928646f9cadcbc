#include "HostFeatures.h"

#if defined(__x86_64__) && defined(__clang__)
#include <stdatomic.h>

int npucc_host_features(void) {
    // -1 until first asked; threads that ask at once all store the same answer.
    static _Atomic int features = -1;
    int known = atomic_load_explicit(&features, memory_order_relaxed);
    if (known < 0) {
        __builtin_cpu_init();
        known = (__builtin_cpu_supports("avx") ? NPUCC_HOST_AVX : 0) | (__builtin_cpu_supports("avx2") ? NPUCC_HOST_AVX2 : 0);
        atomic_store_explicit(&features, known, memory_order_relaxed);
    }
    return known;
}

#else

int npucc_host_features(void) { return 0; }

#endif
