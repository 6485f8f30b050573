/*
 * cuda_runtime.h (padim-emu) - what a .cu file of src/kernels gets from <cuda_runtime.h>
 * in the CPU emulation of tests/emu: the runtime API subset (cuda_runtime_api.h) and, for
 * C++, the device side (padim_emu_device.h: qualifiers, built-in indices, barriers, warp
 * shuffles and votes, atomics, intrinsics, the kernel launcher).
 */
#ifndef PADIM_EMU_CUDA_RUNTIME_H
#define PADIM_EMU_CUDA_RUNTIME_H

#include "cuda_runtime_api.h"

#ifdef __cplusplus
#include "padim_emu_device.h"
#endif

#endif
