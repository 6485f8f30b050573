/*
 * emu_internal.h - what the emulator's scheduler (emu_device.cpp) and its runtime API
 * (emu_runtime.cpp) share: the error state and diagnostics, the registry of "device"
 * allocations, stream handles, the dynamic shared arrays. Not for tests.
 */
#ifndef PADIM_EMU_INTERNAL_H
#define PADIM_EMU_INTERNAL_H

#include "cuda_runtime_api.h"

#include <stddef.h>

#include <mutex>

/* Built with AddressSanitizer (GCC's macro, Clang's feature test). */
#if defined(__SANITIZE_ADDRESS__)
#define PADIM_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PADIM_EMU_ASAN 1
#endif
#endif

namespace padim_emu {

/* One lock for the emulated device: API calls and launches run one at a time. */
std::recursive_mutex &device_lock();

/* Record an error: the message (printf format) is kept for padim_emu_last_message and
 * printed on stderr with a "padim-emu: " prefix unless quiet; cudaGetLastError returns e
 * once, or until padim_emu_clear_errors when sticky (a kernel fault). */
void report(cudaError_t e, bool sticky, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The sticky error (cudaSuccess when none). */
cudaError_t sticky_error();

/* True when [p, p + bytes) lies inside one live cudaMalloc allocation (bytes may be 0). */
bool in_device_memory(const void *p, size_t bytes);

/* True for the default stream (0) and streams created and not yet destroyed. */
bool valid_stream(cudaStream_t s);

/* The dynamic shared arrays registered by PADIM_EMU_DYNAMIC_SHARED. */
struct dynamic_shared_array {
    unsigned char *(*address)(); /* the calling OS thread's copy */
    size_t bytes;
    const char *name;
};
const dynamic_shared_array *dynamic_shared_arrays(int *count);

/* ASan poisoning (no-op without ASan). */
void poison(const void *p, size_t bytes, bool on);

} // namespace padim_emu
#endif
