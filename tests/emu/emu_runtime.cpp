/*
 * emu_runtime.cpp - the CUDA runtime API subset of the emulator (cuda_runtime_api.h) over
 * host memory, its error state and the padim_emu_* calls (padim_emu.h). One emulated
 * device; "device" memory is malloc'd (so ASan sees every kernel access to it) and
 * registered, so that copies, memsets and kernel pointer arguments can be checked against
 * the allocations; streams are handles, all work is synchronous and in call order.
 */
#include "emu_internal.h"
#include "padim_emu.h"
#include "padim_emu_device.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#ifdef PADIM_EMU_ASAN
#include <sanitizer/asan_interface.h>
#endif

struct CUstream_st {
    int id;
};

namespace padim_emu {

namespace {
cudaError_t last_error = cudaSuccess, sticky = cudaSuccess;
std::string last_message;
bool quiet = false;
std::map<uintptr_t, size_t> allocations; /* base -> bytes */
std::set<cudaStream_t> streams;
int next_stream_id = 1;

std::vector<dynamic_shared_array> &shared_registry() {
    static std::vector<dynamic_shared_array> r;
    return r;
}

/* The allocation holding p (or ending at p), or allocations.end(). */
std::map<uintptr_t, size_t>::const_iterator find_allocation(const void *p) {
    const uintptr_t a = (uintptr_t)p;
    auto it = allocations.upper_bound(a);
    if (it == allocations.begin()) return allocations.end();
    --it;
    return a <= it->first + it->second ? it : allocations.end();
}

/* True when [p, p + bytes) overlaps a live allocation. */
bool overlaps_device(const void *p, size_t bytes) {
    const uintptr_t a = (uintptr_t)p;
    auto it = allocations.upper_bound(a); /* first allocation starting after p */
    if (it != allocations.end() && it->first < a + bytes) return true;
    if (it == allocations.begin()) return false;
    --it;
    return a < it->first + it->second;
}

/* Memory checks of copies and memsets: a range on the device side must lie in one
 * allocation; a host-side range must not overlap any (a wrong cudaMemcpyKind). */
bool check_range(const char *call, const char *role, const void *p, size_t bytes, bool device) {
    if (device ? in_device_memory(p, bytes) : !overlaps_device(p, bytes)) return true;
    if (device)
        report(cudaErrorInvalidValue, false,
               "%s: %s %p (+%zu bytes) is not inside a cudaMalloc allocation", call, role, p,
               bytes);
    else
        report(cudaErrorInvalidValue, false,
               "%s: host %s %p is device memory (wrong cudaMemcpyKind?)", call, role, p);
    return false;
}

cudaError_t memcpy_checked(const char *call, void *dst, const void *src, size_t bytes,
                           enum cudaMemcpyKind kind) {
    std::lock_guard<std::recursive_mutex> lock(device_lock());
    if (sticky != cudaSuccess) return sticky;
    bool dst_dev, src_dev;
    switch (kind) {
    case cudaMemcpyHostToHost: dst_dev = false, src_dev = false; break;
    case cudaMemcpyHostToDevice: dst_dev = true, src_dev = false; break;
    case cudaMemcpyDeviceToHost: dst_dev = false, src_dev = true; break;
    case cudaMemcpyDeviceToDevice: dst_dev = true, src_dev = true; break;
    case cudaMemcpyDefault:
        dst_dev = in_device_memory(dst, bytes);
        src_dev = in_device_memory(src, bytes);
        break;
    default:
        report(cudaErrorInvalidValue, false, "%s: unknown cudaMemcpyKind %d", call, (int)kind);
        return cudaErrorInvalidValue;
    }
    if (bytes == 0) return cudaSuccess;
    if (!dst || !src) {
        report(cudaErrorInvalidValue, false, "%s: null %s", call, dst ? "source" : "destination");
        return cudaErrorInvalidValue;
    }
    if (!check_range(call, "destination", dst, bytes, dst_dev) ||
        !check_range(call, "source", src, bytes, src_dev))
        return cudaErrorInvalidValue;
    memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t memset_checked(const char *call, void *dst, int value, size_t bytes) {
    std::lock_guard<std::recursive_mutex> lock(device_lock());
    if (sticky != cudaSuccess) return sticky;
    if (bytes == 0) return cudaSuccess;
    if (!check_range(call, "destination", dst, bytes, true)) return cudaErrorInvalidValue;
    memset(dst, value, bytes);
    return cudaSuccess;
}
} // namespace

std::recursive_mutex &device_lock() {
    static std::recursive_mutex m;
    return m;
}

void report(cudaError_t e, bool is_sticky, const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    std::lock_guard<std::recursive_mutex> lock(device_lock());
    last_message = buf;
    last_error = e;
    if (is_sticky && sticky == cudaSuccess) sticky = e;
    if (!quiet) fprintf(stderr, "padim-emu: %s\n", buf);
}

cudaError_t sticky_error() { return sticky; }

bool in_device_memory(const void *p, size_t bytes) {
    auto it = find_allocation(p);
    return it != allocations.end() && (uintptr_t)p + bytes <= it->first + it->second;
}

bool valid_stream(cudaStream_t s) { return !s || streams.count(s) != 0; }

dynamic_shared_registrar::dynamic_shared_registrar(unsigned char *(*address)(), size_t bytes,
                                                   const char *name) {
    shared_registry().push_back(dynamic_shared_array{address, bytes, name});
}

const dynamic_shared_array *dynamic_shared_arrays(int *count) {
    *count = (int)shared_registry().size();
    return shared_registry().data();
}

void poison(const void *p, size_t bytes, bool on) {
#ifdef PADIM_EMU_ASAN
    if (on)
        ASAN_POISON_MEMORY_REGION(p, bytes);
    else
        ASAN_UNPOISON_MEMORY_REGION(p, bytes);
#else
    (void)p, (void)bytes, (void)on;
#endif
}

} // namespace padim_emu

using namespace padim_emu;

/* ------------------------------------------------------------------ device, errors */

extern "C" cudaError_t cudaGetDeviceCount(int *count) {
    if (!count) return cudaErrorInvalidValue;
    *count = 1;
    return cudaSuccess;
}

extern "C" cudaError_t cudaSetDevice(int device) {
    return device == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}

extern "C" cudaError_t cudaGetDevice(int *device) {
    if (!device) return cudaErrorInvalidValue;
    *device = 0;
    return cudaSuccess;
}

extern "C" cudaError_t cudaDeviceSynchronize(void) { return sticky_error(); }

extern "C" cudaError_t cudaGetLastError(void) {
    std::lock_guard<std::recursive_mutex> lock(device_lock());
    const cudaError_t e = sticky != cudaSuccess ? sticky : last_error;
    last_error = cudaSuccess;
    return e;
}

extern "C" cudaError_t cudaPeekAtLastError(void) {
    std::lock_guard<std::recursive_mutex> lock(device_lock());
    return sticky != cudaSuccess ? sticky : last_error;
}

extern "C" const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorUnknown: return "cudaErrorUnknown";
    }
    return "cudaErrorUnrecognized";
}

extern "C" const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure:
        return "unspecified launch failure (emulator: see padim_emu_last_message)";
    case cudaErrorUnknown: return "unknown error";
    }
    return "unrecognized error code";
}

/* ------------------------------------------------------------------ memory */

extern "C" cudaError_t cudaMalloc(void **ptr, size_t bytes) {
    std::lock_guard<std::recursive_mutex> lock(device_lock());
    if (!ptr) return cudaErrorInvalidValue;
    if (sticky != cudaSuccess) return sticky;
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        report(cudaErrorMemoryAllocation, false, "cudaMalloc: %zu bytes: out of host memory",
               bytes);
        return cudaErrorMemoryAllocation;
    }
    allocations[(uintptr_t)p] = bytes;
    *ptr = p;
    return cudaSuccess;
}

extern "C" cudaError_t cudaFree(void *ptr) {
    std::lock_guard<std::recursive_mutex> lock(device_lock());
    if (!ptr) return cudaSuccess;
    auto it = allocations.find((uintptr_t)ptr);
    if (it == allocations.end()) {
        report(cudaErrorInvalidValue, false,
               "cudaFree: %p is not the start of a cudaMalloc allocation", ptr);
        return cudaErrorInvalidValue;
    }
    allocations.erase(it);
    free(ptr);
    return cudaSuccess;
}

extern "C" cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes,
                                  enum cudaMemcpyKind kind) {
    return memcpy_checked("cudaMemcpy", dst, src, bytes, kind);
}

extern "C" cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes,
                                       enum cudaMemcpyKind kind, cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(device_lock());
    if (!valid_stream(stream)) return cudaErrorInvalidResourceHandle;
    return memcpy_checked("cudaMemcpyAsync", dst, src, bytes, kind);
}

extern "C" cudaError_t cudaMemset(void *dst, int value, size_t bytes) {
    return memset_checked("cudaMemset", dst, value, bytes);
}

extern "C" cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(device_lock());
    if (!valid_stream(stream)) return cudaErrorInvalidResourceHandle;
    return memset_checked("cudaMemsetAsync", dst, value, bytes);
}

/* ------------------------------------------------------------------ streams */

extern "C" cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned flags) {
    std::lock_guard<std::recursive_mutex> lock(device_lock());
    if (!stream || flags > cudaStreamNonBlocking) return cudaErrorInvalidValue;
    cudaStream_t s = new CUstream_st{next_stream_id++};
    streams.insert(s);
    *stream = s;
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamCreate(cudaStream_t *stream) {
    return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}

extern "C" cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(device_lock());
    if (!stream || !streams.erase(stream)) return cudaErrorInvalidResourceHandle;
    delete stream;
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(device_lock());
    if (!valid_stream(stream)) return cudaErrorInvalidResourceHandle;
    return sticky;
}

/* ------------------------------------------------------------------ padim_emu.h */

extern "C" const char *padim_emu_last_message(void) { return last_message.c_str(); }

extern "C" void padim_emu_clear_errors(void) {
    std::lock_guard<std::recursive_mutex> lock(device_lock());
    last_error = sticky = cudaSuccess;
    last_message.clear();
}

extern "C" void padim_emu_set_quiet(int q) { quiet = q != 0; }

extern "C" void padim_emu_poison(const void *ptr, size_t bytes, int on) {
    poison(ptr, bytes, on != 0);
}
