// What the host's CPU offers the kernels, asked once (x86-64 with clang; nothing elsewhere).
#ifndef NPUCC_HOST_FEATURES_H
#define NPUCC_HOST_FEATURES_H

enum { NPUCC_HOST_AVX = 1, NPUCC_HOST_AVX2 = 2 };

/// The NPUCC_HOST_* flags of the features the host has.
int npucc_host_features(void);

#endif
