// npucc_round_half_blocks: float32 values rounded to half precision eight at a time with
// AVX2, for the blocks whose values all round in place: zeros, and values that round to
// normal halves (2^-14 <= |x| < 65520), whose float32 fraction is rounded to 10 bits,
// ties to even, a carry moving into the exponent (Float16Codec.round's fast path, bit for
// bit). The caller rounds the others: subnormal halves, overflow, infinities and NaNs.
#include "SimulatorKernels.h"
#include "HostFeatures.h"

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

AVX2 static ptrdiff_t round_blocks_avx2(const float *x, float *out, ptrdiff_t n) {
    const __m256i sign = _mm256_set1_epi32(0x7FFFFFFF), below = _mm256_set1_epi32(0x387FFFFF);
    const __m256i above = _mm256_set1_epi32(0x477FF000), zero = _mm256_setzero_si256();
    const __m256i half_ulp = _mm256_set1_epi32(0x0FFF), one = _mm256_set1_epi32(1);
    const __m256i keep = _mm256_set1_epi32((int)0xFFFFE000);
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i bits = _mm256_loadu_si256((const __m256i *)(x + i));
        __m256i magnitude = _mm256_and_si256(bits, sign);
        // Signed compares: a magnitude is below 2^31.
        __m256i normal = _mm256_and_si256(_mm256_cmpgt_epi32(magnitude, below), _mm256_cmpgt_epi32(above, magnitude));
        __m256i ok = _mm256_or_si256(normal, _mm256_cmpeq_epi32(magnitude, zero));
        if (_mm256_movemask_ps(_mm256_castsi256_ps(ok)) != 0xFF) break;
        __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 13), one);
        __m256i rounded = _mm256_and_si256(_mm256_add_epi32(_mm256_add_epi32(bits, half_ulp), odd), keep);
        _mm256_storeu_si256((__m256i *)(out + i), rounded);
    }
    return i;
}

ptrdiff_t npucc_round_half_blocks(const float *x, float *out, ptrdiff_t n) {
    return npucc_host_features() & NPUCC_HOST_AVX2 ? round_blocks_avx2(x, out, n) : -1;
}

#else

ptrdiff_t npucc_round_half_blocks(const float *x, float *out, ptrdiff_t n) {
    (void)x, (void)out, (void)n;
    return -1;
}

#endif
