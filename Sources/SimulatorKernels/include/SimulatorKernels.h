// The simulator's inner loops that Swift cannot compile for the vector width the host
// has: Swift builds one baseline x86-64 binary, so its SIMD8<Float> is two SSE halves.
#ifndef NPUCC_SIMULATOR_KERNELS_H
#define NPUCC_SIMULATOR_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

/// acc[r * n + c] += a[r * k + p] * wt[p * n + c] for p = 0, 1, ..., k - 1 in turn, each
/// product rounded to float32 and then added (never fused), and any NaN among the sums made
/// 0x7FC00000: the `mma` arithmetic of schemas/formats.md. Runs with 256-bit vectors when the host has AVX and returns true;
/// returns false, touching nothing, when it has not (the caller then runs its own loop).
bool npucc_ordered_product(const float *a, const float *wt, float *acc, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k);

/// Rounds x[0], x[1], ... to half precision into out (which may be x), eight at a time,
/// while every value of the next eight is a zero or rounds to a normal half (the float32
/// fraction rounded to 10 bits in place, ties to even). Returns how many it rounded, a
/// multiple of 8: the caller rounds the next value itself and calls again past it. Returns
/// -1, touching nothing, when the host has no AVX2.
ptrdiff_t npucc_round_half_blocks(const float *x, float *out, ptrdiff_t n);

#endif
