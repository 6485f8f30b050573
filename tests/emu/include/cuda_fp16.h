/*
 * cuda_fp16.h (padim-emu) - IEEE binary16 for the CPU emulation of tests/emu: the __half
 * storage type and the float conversions that src/kernels/convert.cu uses (the reduced-
 * precision backbone's input and output), round to nearest even as the device's
 * cvt.rn.f16.f32; a NaN becomes the canonical 0x7fff as in CUDA's own header.
 */
#ifndef PADIM_EMU_CUDA_FP16_H
#define PADIM_EMU_CUDA_FP16_H

#ifndef __cplusplus
#error "cuda_fp16.h (padim-emu) is C++"
#endif

#include <cstdint>
#include <cstring>

struct __half {
    unsigned short x; /* the binary16 bits */
};

inline unsigned short __half_as_ushort(__half h) { return h.x; }
inline __half __ushort_as_half(unsigned short v) { return __half{v}; }

/* Round to nearest even. Normal results: drop 13 mantissa bits of the re-biased float.
 * Subnormal results (|f| < 2^-14): the 24-bit significand shifted to units of 2^-24.
 * From 65520 on the value rounds past the largest half (65504) to infinity. */
inline __half __float2half_rn(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    const unsigned short sign = (unsigned short)((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return __half{0x7fff};
    if (a >= 0x477ff000u) return __half{(unsigned short)(sign | 0x7c00u)};
    uint32_t q, rem, halfway;
    if (a >= 0x38800000u) {
        const uint32_t r = a - (112u << 23); /* exponent bias 127 -> 15 */
        q = r >> 13;
        rem = r & 0x1fffu;
        halfway = 0x1000u;
    } else {
        const int e = (int)(a >> 23);
        if (e < 102) return __half{sign}; /* below 2^-25: rounds to zero */
        const uint32_t m = (a & 0x7fffffu) | 0x800000u;
        const int shift = 126 - e; /* 14 .. 24 */
        q = m >> shift;
        rem = m & ((1u << shift) - 1u);
        halfway = 1u << (shift - 1);
    }
    if (rem > halfway || (rem == halfway && (q & 1u))) q++; /* may carry into the exponent */
    return __half{(unsigned short)(sign | q)};
}
inline __half __float2half(float f) { return __float2half_rn(f); }

inline float __half2float(__half h) {
    const uint32_t sign = (uint32_t)(h.x & 0x8000u) << 16;
    const uint32_t e = (h.x >> 10) & 0x1fu, m = h.x & 0x3ffu;
    if (e == 0) {
        const float v = std::ldexp((float)m, -24); /* zero or subnormal, exact */
        return sign ? -v : v;
    }
    const uint32_t u = sign | (e == 31 ? 0x7f800000u | (m << 13) : ((e + 112u) << 23) | (m << 13));
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

#endif
