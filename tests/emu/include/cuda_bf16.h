/*
 * cuda_bf16.h (padim-emu) - bfloat16 for the CPU emulation of tests/emu: the
 * __nv_bfloat16 storage type and the float conversions of src/kernels/convert.cu, round to
 * nearest even (the upper 16 bits of a float, rounded); a NaN becomes the canonical 0x7fff
 * as in CUDA's own header.
 */
#ifndef PADIM_EMU_CUDA_BF16_H
#define PADIM_EMU_CUDA_BF16_H

#ifndef __cplusplus
#error "cuda_bf16.h (padim-emu) is C++"
#endif

#include <cstdint>
#include <cstring>

struct __nv_bfloat16 {
    unsigned short x; /* the bfloat16 bits */
};

inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short v) { return __nv_bfloat16{v}; }

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return __nv_bfloat16{0x7fff};
    const uint32_t low = u & 0xffffu, q = u >> 16;
    const uint32_t up =
        low > 0x8000u || (low == 0x8000u && (q & 1u)); /* to even; Inf on overflow */
    return __nv_bfloat16{(unsigned short)(q + up)};
}
inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }

inline float __bfloat162float(__nv_bfloat16 h) {
    const uint32_t u = (uint32_t)h.x << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

#endif
