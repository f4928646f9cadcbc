// npucc_ordered_product: the ordered float32 product of `mma`, with AVX where the host has
// it. Each accumulator lane is one output element and sees its products in increasing p;
// the vectors only run several elements side by side, so the bits are those of the scalar
// loop. Contraction into fused multiply-adds is off: a product is rounded before its add.
// Each output is stored once, after its last product, with any NaN made the canonical one
// (positive, quiet, payload 0: 0x7FC00000), as `mma` leaves its results.
#include "SimulatorKernels.h"
#include "HostFeatures.h"

#pragma clang fp contract(off)

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>

#define AVX __attribute__((target("avx")))
#define INLINE __attribute__((always_inline)) inline

// Every NaN lane, of either sign and any payload, becomes 0x7FC00000.
AVX static INLINE __m256 canonical8(__m256 v) {
    return _mm256_blendv_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FC00000)), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}
AVX static INLINE __m128 canonical4(__m128 v) {
    return _mm_blendv_ps(v, _mm_castsi128_ps(_mm_set1_epi32(0x7FC00000)), _mm_cmp_ps(v, v, _CMP_UNORD_Q));
}
static INLINE float canonical1(float v) { return v != v ? __builtin_nanf("") : v; }

// Rows 0..rows-1 (at most 4) by columns 0..15: two accumulators a row, each load of wt
// feeding every row. Called with a constant `rows`, so the arrays live in registers.
AVX static INLINE void block16(const float *a, const float *wt, float *acc, int rows, ptrdiff_t n, ptrdiff_t k) {
    __m256 s0[4], s1[4];
    for (int r = 0; r < rows; r++) s0[r] = _mm256_loadu_ps(acc + r * n), s1[r] = _mm256_loadu_ps(acc + r * n + 8);
    for (ptrdiff_t p = 0; p < k; p++) {
        __m256 w0 = _mm256_loadu_ps(wt + p * n), w1 = _mm256_loadu_ps(wt + p * n + 8);
        for (int r = 0; r < rows; r++) {
            __m256 v = _mm256_broadcast_ss(a + r * k + p);
            s0[r] = _mm256_add_ps(s0[r], _mm256_mul_ps(v, w0));
            s1[r] = _mm256_add_ps(s1[r], _mm256_mul_ps(v, w1));
        }
    }
    for (int r = 0; r < rows; r++)
        _mm256_storeu_ps(acc + r * n, canonical8(s0[r])), _mm256_storeu_ps(acc + r * n + 8, canonical8(s1[r]));
}

// Columns 0..7 (block8, 256-bit vectors) or 0..3 (block4, 128-bit): one accumulator a row.
#define ONE_VECTOR_BLOCK(name, vector, load, store, add, mul, broadcast, canonical)                       \
    AVX static INLINE void name(const float *a, const float *wt, float *acc, int rows, ptrdiff_t n, ptrdiff_t k) { \
        vector s[4];                                                                                         \
        for (int r = 0; r < rows; r++) s[r] = load(acc + r * n);                                             \
        for (ptrdiff_t p = 0; p < k; p++) {                                                                  \
            vector w = load(wt + p * n);                                                                     \
            for (int r = 0; r < rows; r++) s[r] = add(s[r], mul(broadcast(a + r * k + p), w));             \
        }                                                                                                    \
        for (int r = 0; r < rows; r++) store(acc + r * n, canonical(s[r]));                                  \
    }
ONE_VECTOR_BLOCK(
    block8, __m256, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, _mm256_mul_ps, _mm256_broadcast_ss, canonical8)
ONE_VECTOR_BLOCK(block4, __m128, _mm_loadu_ps, _mm_storeu_ps, _mm_add_ps, _mm_mul_ps, _mm_broadcast_ss, canonical4)

// Rows 0..rows-1 over every column: sixteen, eight, four, then one at a time.
AVX static INLINE void row_block(const float *a, const float *wt, float *acc, int rows, ptrdiff_t n, ptrdiff_t k) {
    ptrdiff_t c = 0;
    for (; c + 16 <= n; c += 16) block16(a, wt + c, acc + c, rows, n, k);
    if (c + 8 <= n) block8(a, wt + c, acc + c, rows, n, k), c += 8;
    if (c + 4 <= n) block4(a, wt + c, acc + c, rows, n, k), c += 4;
    for (int r = 0; r < rows; r++)
        for (ptrdiff_t cc = c; cc < n; cc++) {
            float s = acc[r * n + cc];
            for (ptrdiff_t p = 0; p < k; p++) {
                float product = a[r * k + p] * wt[p * n + cc];
                s = s + product;
            }
            acc[r * n + cc] = canonical1(s);
        }
}

AVX static void product_avx(const float *a, const float *wt, float *acc, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k) {
    ptrdiff_t r = 0;
    for (; r + 4 <= m; r += 4) row_block(a + r * k, wt, acc + r * n, 4, n, k);
    switch (m - r) {
    case 3: row_block(a + r * k, wt, acc + r * n, 3, n, k); break;
    case 2: row_block(a + r * k, wt, acc + r * n, 2, n, k); break;
    case 1: row_block(a + r * k, wt, acc + r * n, 1, n, k); break;
    default: break;
    }
}

bool npucc_ordered_product(const float *a, const float *wt, float *acc, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k) {
    if (!(npucc_host_features() & NPUCC_HOST_AVX)) return false;
    product_avx(a, wt, acc, m, n, k);
    return true;
}

#else

bool npucc_ordered_product(const float *a, const float *wt, float *acc, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k) {
    (void)a, (void)wt, (void)acc, (void)m, (void)n, (void)k;
    return false;
}

#endif
