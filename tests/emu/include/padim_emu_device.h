/*
 * padim_emu_device.h - the device side of CUDA as the CPU emulator of tests/emu provides it
 * to the .cu files of src/kernels compiled as C++17 (README.md there has the design):
 * qualifiers, dim3 / uint3 and the built-in indices, __syncthreads and its variants, warp
 * shuffles and votes, atomics, the float intrinsics the kernels use, and
 * padim_emu_launch, which PADIM_LAUNCH (src/kernels/kernel_util.cuh) expands to.
 *
 * Every emulated thread of a block runs as a fiber on one OS thread (tests/emu/
 * emu_fiber.cpp); a fiber is left only inside a barrier or a warp collective. So a plain
 * read-modify-write is atomic here, and the built-in indices are one context that the
 * scheduler rewrites before it resumes a fiber.
 */
#ifndef PADIM_EMU_DEVICE_H
#define PADIM_EMU_DEVICE_H

#ifndef __cplusplus
#error                                                                                             \
    "padim_emu_device.h is the C++ device side of the emulator; C code includes cuda_runtime_api.h"
#endif

#include "cuda_runtime_api.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

/* ------------------------------------------------------------------ qualifiers */

#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
/* Block shared memory. thread_local is the one storage word valid in both forms a kernel
 * writes: "__shared__ float red[8];" at block scope (thread_local implies static: one
 * object for all fibers, i.e. for the whole block, since fibers share their OS thread) and
 * "extern __shared__ float shm[];" (the launch's dynamic shared memory: a namespace-scope
 * thread_local array that tests/emu/scan_shared.cmake defines with PADIM_EMU_DYNAMIC_SHARED
 * for every such name it finds in src/kernels). Blocks run one after another, so one
 * object per name is the shared memory of the running block. */
#define __shared__ thread_local

/* ------------------------------------------------------------------ indices */

struct uint3 {
    unsigned x, y, z;
};

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};

constexpr int warpSize = 32;

namespace padim_emu {

/* The running emulated thread's indices (set by the scheduler before it resumes a fiber;
 * one launch runs at a time). */
struct thread_context {
    uint3 thread_idx, block_idx;
    dim3 block_dim, grid_dim;
};
extern thread_context ctx;

/* Kinds of block barriers and warp collectives (the scheduler checks that all threads of
 * one barrier / collective use the same kind). */
enum collective_kind {
    BARRIER_SYNC,
    BARRIER_COUNT,
    BARRIER_AND,
    BARRIER_OR,
    WARP_SHFL_IDX,
    WARP_SHFL_UP,
    WARP_SHFL_DOWN,
    WARP_SHFL_XOR,
    WARP_VOTE_ALL,
    WARP_VOTE_ANY,
    WARP_VOTE_BALLOT,
    WARP_SYNC
};

/* Block barrier: waits until every thread of the block arrives at the same call site;
 * returns the number of arriving threads whose pred was non-zero. */
int block_barrier(collective_kind kind, int pred, const char *file, int line);

/* Warp collective over the lanes of mask: every lane deposits value (<= 8 bytes) and arg
 * (source lane, delta or lane mask), waits for all lanes of mask, gets its result. */
uint64_t warp_collective(collective_kind kind, unsigned mask, uint64_t value, int arg, int width,
                         const char *file, int line);

/* Lanes of the running thread's warp that exist and have not exited. */
unsigned active_mask();

template <typename T>
inline T shuffle(collective_kind kind, unsigned mask, T var, int arg, int width, const char *file,
                 int line) {
    static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8,
                  "warp shuffles move trivially copyable values of at most 8 bytes");
    uint64_t bits = 0;
    std::memcpy(&bits, &var, sizeof(T));
    bits = warp_collective(kind, mask, bits, arg, width, file, line);
    T out;
    std::memcpy(&out, &bits, sizeof(T));
    return out;
}

template <typename T> struct same_type { using type = T; }; /* non-deduced argument */
template <typename T, typename... U> constexpr bool one_of = (std::is_same<T, U>::value || ...);

} // namespace padim_emu

#define threadIdx (static_cast<const uint3 &>(padim_emu::ctx.thread_idx))
#define blockIdx (static_cast<const uint3 &>(padim_emu::ctx.block_idx))
#define blockDim (static_cast<const dim3 &>(padim_emu::ctx.block_dim))
#define gridDim (static_cast<const dim3 &>(padim_emu::ctx.grid_dim))

/* ------------------------------------------------------------------ barriers, warps */

/* The file:line default arguments name the caller's call site (GCC/Clang builtins), so a
 * divergent barrier or shuffle is reported where the kernel calls it. */
#define PADIM_EMU_SITE const char *file_ = __builtin_FILE(), int line_ = __builtin_LINE()

inline void __syncthreads(PADIM_EMU_SITE) {
    padim_emu::block_barrier(padim_emu::BARRIER_SYNC, 0, file_, line_);
}
inline int __syncthreads_count(int pred, PADIM_EMU_SITE) {
    return padim_emu::block_barrier(padim_emu::BARRIER_COUNT, pred, file_, line_);
}
inline int __syncthreads_and(int pred, PADIM_EMU_SITE) {
    return padim_emu::block_barrier(padim_emu::BARRIER_AND, pred, file_, line_) ==
           (int)(blockDim.x * blockDim.y * blockDim.z);
}
inline int __syncthreads_or(int pred, PADIM_EMU_SITE) {
    return padim_emu::block_barrier(padim_emu::BARRIER_OR, pred, file_, line_) != 0;
}

template <typename T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize, PADIM_EMU_SITE) {
    return padim_emu::shuffle(padim_emu::WARP_SHFL_IDX, mask, var, src_lane, width, file_, line_);
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                        PADIM_EMU_SITE) {
    return padim_emu::shuffle(padim_emu::WARP_SHFL_UP, mask, var, (int)delta, width, file_, line_);
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                          PADIM_EMU_SITE) {
    return padim_emu::shuffle(padim_emu::WARP_SHFL_DOWN, mask, var, (int)delta, width, file_,
                              line_);
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize,
                         PADIM_EMU_SITE) {
    return padim_emu::shuffle(padim_emu::WARP_SHFL_XOR, mask, var, lane_mask, width, file_, line_);
}

inline int __all_sync(unsigned mask, int pred, PADIM_EMU_SITE) {
    return (int)padim_emu::warp_collective(padim_emu::WARP_VOTE_ALL, mask, pred != 0, 0, warpSize,
                                           file_, line_);
}
inline int __any_sync(unsigned mask, int pred, PADIM_EMU_SITE) {
    return (int)padim_emu::warp_collective(padim_emu::WARP_VOTE_ANY, mask, pred != 0, 0, warpSize,
                                           file_, line_);
}
inline unsigned __ballot_sync(unsigned mask, int pred, PADIM_EMU_SITE) {
    return (unsigned)padim_emu::warp_collective(padim_emu::WARP_VOTE_BALLOT, mask, pred != 0, 0,
                                                warpSize, file_, line_);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, PADIM_EMU_SITE) {
    padim_emu::warp_collective(padim_emu::WARP_SYNC, mask, 0, 0, warpSize, file_, line_);
}
inline unsigned __activemask() { return padim_emu::active_mask(); }

/* Fences order memory between threads that run at once; here none do. */
inline void __threadfence() {}
inline void __threadfence_block() {}

/* ------------------------------------------------------------------ atomics */

/* Fibers switch only inside barriers and warp collectives: a plain read-modify-write
 * cannot be interleaved with another emulated thread's. */
template <typename T,
          std::enable_if_t<padim_emu::one_of<T, int, unsigned, unsigned long long, float, double>,
                           int> = 0>
inline T atomicAdd(T *address, typename padim_emu::same_type<T>::type val) {
    const T old = *address;
    *address = old + val;
    return old;
}
template <typename T, std::enable_if_t<padim_emu::one_of<T, int, unsigned>, int> = 0>
inline T atomicSub(T *address, typename padim_emu::same_type<T>::type val) {
    const T old = *address;
    *address = old - val;
    return old;
}
template <typename T,
          std::enable_if_t<padim_emu::one_of<T, int, unsigned, unsigned long long, float>, int> = 0>
inline T atomicExch(T *address, typename padim_emu::same_type<T>::type val) {
    const T old = *address;
    *address = val;
    return old;
}
template <
    typename T,
    std::enable_if_t<padim_emu::one_of<T, int, unsigned, unsigned long long, long long>, int> = 0>
inline T atomicMin(T *address, typename padim_emu::same_type<T>::type val) {
    const T old = *address;
    *address = val < old ? val : old;
    return old;
}
template <
    typename T,
    std::enable_if_t<padim_emu::one_of<T, int, unsigned, unsigned long long, long long>, int> = 0>
inline T atomicMax(T *address, typename padim_emu::same_type<T>::type val) {
    const T old = *address;
    *address = val > old ? val : old;
    return old;
}
template <typename T,
          std::enable_if_t<padim_emu::one_of<T, int, unsigned, unsigned long long, unsigned short>,
                           int> = 0>
inline T atomicCAS(T *address, typename padim_emu::same_type<T>::type compare,
                   typename padim_emu::same_type<T>::type val) {
    const T old = *address;
    if (old == compare) *address = val;
    return old;
}
template <typename T,
          std::enable_if_t<padim_emu::one_of<T, int, unsigned, unsigned long long>, int> = 0>
inline T atomicAnd(T *address, typename padim_emu::same_type<T>::type val) {
    const T old = *address;
    *address = old & val;
    return old;
}
template <typename T,
          std::enable_if_t<padim_emu::one_of<T, int, unsigned, unsigned long long>, int> = 0>
inline T atomicOr(T *address, typename padim_emu::same_type<T>::type val) {
    const T old = *address;
    *address = old | val;
    return old;
}
template <typename T,
          std::enable_if_t<padim_emu::one_of<T, int, unsigned, unsigned long long>, int> = 0>
inline T atomicXor(T *address, typename padim_emu::same_type<T>::type val) {
    const T old = *address;
    *address = old ^ val;
    return old;
}
inline unsigned atomicInc(unsigned *address, unsigned val) {
    const unsigned old = *address;
    *address = old >= val ? 0u : old + 1u;
    return old;
}
inline unsigned atomicDec(unsigned *address, unsigned val) {
    const unsigned old = *address;
    *address = (old == 0u || old > val) ? val : old - 1u;
    return old;
}

/* ------------------------------------------------------------------ intrinsics */

/* The _rn operations are the plain IEEE operations: the emulated build is compiled with
 * -ffp-contract=off, so nothing is fused behind them (the point of the intrinsics on the
 * device). fmaf is the C library's correctly rounded fused multiply-add, as the device's. */
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }

namespace padim_emu {
template <typename To, typename From> inline To bit_cast(From v) {
    static_assert(sizeof(To) == sizeof(From), "bit_cast between types of one size");
    To out;
    std::memcpy(&out, &v, sizeof(To));
    return out;
}
} // namespace padim_emu

inline float __int_as_float(int v) { return padim_emu::bit_cast<float>(v); }
inline int __float_as_int(float v) { return padim_emu::bit_cast<int>(v); }
inline float __uint_as_float(unsigned v) { return padim_emu::bit_cast<float>(v); }
inline unsigned __float_as_uint(float v) { return padim_emu::bit_cast<unsigned>(v); }
inline double __longlong_as_double(long long v) { return padim_emu::bit_cast<double>(v); }
inline long long __double_as_longlong(double v) { return padim_emu::bit_cast<long long>(v); }

inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __popcll(unsigned long long v) { return __builtin_popcountll(v); }
inline int __clz(int v) { return v == 0 ? 32 : __builtin_clz((unsigned)v); }
inline int __ffs(int v) { return __builtin_ffs(v); }

template <typename T> inline T __ldg(const T *p) { return *p; }

/* ------------------------------------------------------------------ launches */

namespace padim_emu {

struct launch_desc {
    const char *kernel; /* as written in the launch: "mahalanobis_kernel<8>" */
    const char *file;
    int line;
    dim3 grid, block;
    size_t shmem;
    cudaStream_t stream;
};

/* A pointer argument of a launch (index in the parameter list, value): the launcher
 * refuses pointers that are neither null nor inside a cudaMalloc allocation. */
struct pointer_arg {
    int index;
    const void *ptr;
};

/* Checks the geometry, then runs every block (one after another) and every thread of a
 * block (as fibers): body(closure) is one emulated thread. Records a launch error or a
 * kernel fault in the runtime's error state (cudaGetLastError). */
void launch(const launch_desc &d, const pointer_arg *ptrs, int nptrs, void (*body)(void *),
            void *closure);

template <size_t I, typename Tuple>
inline void note_pointer(const Tuple &t, pointer_arg *out, int &n) {
    using E = std::tuple_element_t<I, Tuple>;
    if constexpr (std::is_pointer<E>::value)
        out[n++] = pointer_arg{(int)I, (const void *)std::get<I>(t)};
}

template <typename Tuple, size_t... I>
inline int note_pointers(const Tuple &t, pointer_arg *out, std::index_sequence<I...>) {
    int n = 0;
    (note_pointer<I>(t, out, n), ...);
    return n;
}

/* The registry of dynamic shared arrays (PADIM_EMU_DYNAMIC_SHARED below). */
struct dynamic_shared_registrar {
    dynamic_shared_registrar(unsigned char *(*address)(), size_t bytes, const char *name);
};

} // namespace padim_emu

/* What kernel<<<grid, block, shmem, stream>>>(args...) does, as PADIM_LAUNCH under the
 * emulator: the arguments are converted to the kernel's parameter types once (the
 * launch's copy), every emulated thread gets its own copy of them as by-value
 * parameters. Runs synchronously; the error, if any, is left for cudaGetLastError. */
template <typename... P, typename... A>
inline void padim_emu_launch(const char *name, const char *file, int line, void (*kernel)(P...),
                             dim3 grid, dim3 block, size_t shmem, cudaStream_t stream,
                             A &&...args) {
    static_assert(sizeof...(P) == sizeof...(A),
                  "kernel launched with the wrong number of arguments");
    struct state {
        void (*kernel)(P...);
        std::tuple<std::decay_t<P>...> params;
    } st{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
    padim_emu::pointer_arg ptrs[sizeof...(P) + 1];
    const int nptrs = padim_emu::note_pointers(st.params, ptrs, std::index_sequence_for<P...>{});
    const padim_emu::launch_desc d{name, file, line, grid, block, shmem, stream};
    padim_emu::launch(
        d, ptrs, nptrs,
        [](void *c) {
            state *s = static_cast<state *>(c);
            std::apply(s->kernel, s->params);
        },
        &st);
}

/* Dynamic shared memory: the launch's shmem bytes at the front of a fixed array, the rest
 * of it poisoned (ASan) and filled with a canary checked after each block. 48 KiB is the
 * per-block limit without opting in (src/kernels never opts in). */
#define PADIM_EMU_DYNAMIC_SHARED_BYTES (48u * 1024u)
#define PADIM_EMU_DYNAMIC_SHARED_TAIL 4096u /* always poisoned: catches runs past the limit */
#define PADIM_EMU_DYNAMIC_SHARED(name)                                                             \
    alignas(16) thread_local unsigned char                                                         \
        name[PADIM_EMU_DYNAMIC_SHARED_BYTES + PADIM_EMU_DYNAMIC_SHARED_TAIL];                      \
    static const padim_emu::dynamic_shared_registrar padim_emu_registrar_##name(                   \
        []() -> unsigned char * { return name; }, sizeof(name), #name)

#endif
