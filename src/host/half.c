/*
 * half.c - float <-> IEEE half conversions (half.h), round to nearest even, used for the
 * fp16 factor of model files and fp16 tensors in weights files. Bit manipulation only: no
 * dependence on the compiler's _Float16 support.
 */
#include "half.h"

#include <string.h>

uint16_t padim_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* Inf stays Inf; NaN stays a (quiet) NaN with its top payload */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0));
    if (ax >= 0x477ff000u) /* >= 65520 rounds (to even) past 65504: Inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax >= 0x38800000u) { /* normal half: rebias exponent 127 -> 15, round to nearest even */
        uint32_t odd = (ax >> 13) & 1u;
        ax += 0xc8000fffu + odd; /* - (112 << 23) + rounding bias */
        return (uint16_t)(sign | (ax >> 13));
    }
    /* Subnormal half or zero: adding 0.5f aligns the value so that the FPU's own
     * round-to-nearest-even rounds at 2^-24; the low mantissa bits are the half. */
    float v, magic;
    const uint32_t magic_bits = 0x3f000000u; /* 0.5f */
    memcpy(&v, &ax, 4);
    memcpy(&magic, &magic_bits, 4);
    v += magic;
    uint32_t r;
    memcpy(&r, &v, 4);
    return (uint16_t)(sign | (r - magic_bits));
}

float padim_f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    uint32_t x;
    if (exp == 0) {
        float v = (float)mant * 5.9604644775390625e-8f; /* mant * 2^-24, exact */
        return sign ? -v : v;
    }
    if (exp == 31) x = sign | 0x7f800000u | (mant << 13);
    else x = sign | ((exp + 112u) << 23) | (mant << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}
