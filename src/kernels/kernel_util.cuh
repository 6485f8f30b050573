/*
 * kernel_util.cuh - small device helpers shared by the .cu files of src/kernels: the one
 * launch macro, grid sizing for grid-stride loops over int64_t element counts, warp and
 * block reductions.
 */
#ifndef PADIM_KERNEL_UTIL_CUH
#define PADIM_KERNEL_UTIL_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "shared_math.h"

#define PADIM_THREADS 256

/* Every kernel launch of src/kernels: kernel<<<grid, block, shmem, stream>>>(args...) under
 * nvcc; with the CPU emulator's headers (tests/emu/include first on the include path, the
 * .cu compiled as C++) the emulator's launcher, which runs the same kernel body on the CPU
 * (tests/emu/README.md). Either way the launcher checks it with cudaGetLastError(). */
#if defined(__CUDACC__)
#define PADIM_LAUNCH(kernel, grid, block, shmem, stream, ...)                            \
    kernel<<<(grid), (block), (shmem), (stream)>>>(__VA_ARGS__)
#elif defined(PADIM_EMU)
#define PADIM_LAUNCH(kernel, grid, block, shmem, stream, ...)                            \
    padim_emu_launch(#kernel, __FILE__, __LINE__, kernel, (grid), (block), (shmem),      \
                     (stream), __VA_ARGS__)
#else
#error "src/kernels compiles with nvcc, or as C++ with tests/emu/include first on the include path"
#endif

/* Blocks for a grid-stride loop over count elements: enough to fill any current GPU,
 * never more than the count needs (and at least 1 so that a zero count still launches
 * a valid, empty grid). */
static inline unsigned padim_grid(int64_t count) {
    int64_t b = (count + PADIM_THREADS - 1) / PADIM_THREADS;
    if (b > 65535) b = 65535;
    if (b < 1) b = 1;
    return (unsigned)b;
}

#define PADIM_GRID_STRIDE(i, count)                                                      \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (count);        \
         i += (int64_t)gridDim.x * blockDim.x)

__device__ __forceinline__ float padim_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float padim_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

#endif
