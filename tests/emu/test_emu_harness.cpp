/*
 * test_emu_harness.cpp - the CPU emulator's own test (tests/emu/README.md): the CUDA
 * semantics the kernels of src/kernels rely on (indices in 3-D grids and blocks, barriers
 * and their count/and/or forms, static and dynamic shared memory, every shuffle kind and
 * width, votes, atomics, the 1024-thread block), and that every fault the emulator promises
 * to find is found and named: barriers not reached by every thread or reached at two sites,
 * shuffle masks that leave out the caller, name missing or exited lanes or read outside
 * themselves, a shuffle against a barrier, widths, launch geometry, host pointers, sticky
 * errors. With an argument it makes one deliberate memory error instead, for the ctests
 * that expect the sanitizer's report: shared-overflow, global-overflow.
 */
#include "kernel_util.cuh"
#include "padim_emu.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

static int failures = 0;

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                        \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

template <typename T> static T *dev_alloc(size_t n, const T *init = nullptr) {
    void *p = nullptr;
    if (cudaMalloc(&p, n * sizeof(T)) != cudaSuccess) {
        fprintf(stderr, "FATAL: cudaMalloc of %zu bytes\n", n * sizeof(T));
        exit(1);
    }
    if (init)
        cudaMemcpy(p, init, n * sizeof(T), cudaMemcpyHostToDevice);
    else
        cudaMemset(p, 0, n * sizeof(T));
    return static_cast<T *>(p);
}

template <typename T> static std::vector<T> dev_take(T *d, size_t n) {
    std::vector<T> h(n);
    EXPECT(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
    cudaFree(d);
    return h;
}

/* The launch just made must have failed with e and a message containing text. */
static void expect_fault(const char *what, cudaError_t e, const char *text) {
    const cudaError_t got = cudaGetLastError();
    const char *msg = padim_emu_last_message();
    if (got != e || !strstr(msg, text)) {
        fprintf(stderr, "FAIL %s: got %s \"%s\", expected %s with \"%s\"\n", what,
                cudaGetErrorName(got), msg, cudaGetErrorName(e), text);
        failures++;
    } else {
        fprintf(stderr, "ok: %s: %s\n", what, msg);
    }
    padim_emu_clear_errors();
}

/* ------------------------------------------------------------------ semantics */

__global__ void indices_kernel(unsigned *out) {
    const unsigned b = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    const unsigned t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    out[b * blockDim.x * blockDim.y * blockDim.z + t] += 1u + 1000u * b + t;
}

static void test_indices() {
    const dim3 grid(3, 2, 2), block(5, 3, 2); /* 30 threads: a partial warp */
    const unsigned nb = 12, nt = 30;
    unsigned *d = dev_alloc<unsigned>(nb * nt);
    PADIM_LAUNCH(indices_kernel, grid, block, 0, 0, d);
    EXPECT(cudaGetLastError() == cudaSuccess);
    std::vector<unsigned> h = dev_take(d, nb * nt);
    for (unsigned b = 0; b < nb; b++)
        for (unsigned t = 0; t < nt; t++) EXPECT(h[b * nt + t] == 1u + 1000u * b + t);
}

/* Tree sum over a block of any size in static shared memory, a barrier per level; the
 * barrier variants count the odd inputs. */
__global__ void block_sum_kernel(const int *in, int *out) {
    __shared__ int buf[1024];
    const int t = threadIdx.x, n = blockDim.x;
    const int v = in[blockIdx.x * n + t];
    buf[t] = v;
    const int odd = __syncthreads_count(v & 1);
    const int all_odd = __syncthreads_and(v & 1), any_odd = __syncthreads_or(v & 1);
    int width = 1;
    while (width < n) width <<= 1;
    for (int s = width / 2; s > 0; s >>= 1) {
        if (t < s && t + s < n) buf[t] += buf[t + s];
        __syncthreads();
    }
    if (t == 0) {
        out[4 * blockIdx.x] = buf[0];
        out[4 * blockIdx.x + 1] = odd;
        out[4 * blockIdx.x + 2] = all_odd;
        out[4 * blockIdx.x + 3] = any_odd;
    }
}

static void test_block_sum(int n) {
    const int blocks = 3;
    std::vector<int> in((size_t)(blocks * n));
    for (size_t i = 0; i < in.size(); i++) in[i] = (int)((i * 7919) % 1000);
    for (int i = 0; i < n; i++) in[(size_t)(2 * n + i)] = 2 * i + 1; /* block 2: all odd */
    int *din = dev_alloc<int>(in.size(), in.data()), *dout = dev_alloc<int>(4 * blocks);
    PADIM_LAUNCH(block_sum_kernel, blocks, n, 0, 0, din, dout);
    EXPECT(cudaGetLastError() == cudaSuccess);
    std::vector<int> out = dev_take(dout, 4 * blocks);
    cudaFree(din);
    for (int b = 0; b < blocks; b++) {
        int sum = 0, odd = 0;
        for (int i = 0; i < n; i++)
            sum += in[(size_t)(b * n + i)], odd += in[(size_t)(b * n + i)] & 1;
        EXPECT(out[4 * b] == sum);
        EXPECT(out[4 * b + 1] == odd);
        EXPECT(out[4 * b + 2] == (odd == n));
        EXPECT(out[4 * b + 3] == (odd > 0));
    }
}

template <typename T> __global__ void shuffle_kernel(const T *in, T *out, int width) {
    const int t = threadIdx.x, lane = t % 32;
    const T v = in[t];
    out[6 * t + 0] = __shfl_xor_sync(0xffffffffu, v, 1, width);
    out[6 * t + 1] = __shfl_xor_sync(0xffffffffu, v, 6, width);
    out[6 * t + 2] = __shfl_down_sync(0xffffffffu, v, 3, width);
    out[6 * t + 3] = __shfl_up_sync(0xffffffffu, v, 5, width);
    out[6 * t + 4] = __shfl_sync(0xffffffffu, v, 31 - lane, width);
    out[6 * t + 5] = padim_warp_sum((float)v); /* the kernels' reduction */
}

/* The CUDA rules, written out per lane: segments of width lanes; up/down past the segment
 * and xor into a later segment return the lane's own value; idx wraps modulo width. */
template <typename T> static void test_shuffles(int width) {
    const int n = 64;
    std::vector<T> in(n);
    for (int i = 0; i < n; i++) in[(size_t)i] = (T)(i * 3 + 1);
    T *din = dev_alloc<T>(n, in.data()), *dout = dev_alloc<T>(6 * n);
    PADIM_LAUNCH(shuffle_kernel<T>, 1, n, 0, 0, din, dout, width);
    EXPECT(cudaGetLastError() == cudaSuccess);
    std::vector<T> out = dev_take(dout, 6 * n);
    cudaFree(din);
    for (int t = 0; t < n; t++) {
        const int lane = t % 32, warp0 = t - lane, seg = lane & ~(width - 1), rel = lane - seg;
        auto at = [&](int l) { return in[(size_t)(warp0 + l)]; };
        const int x1 = lane ^ 1, x6 = lane ^ 6;
        EXPECT(out[6 * t + 0] == (x1 >= seg + width ? at(lane) : at(x1)));
        EXPECT(out[6 * t + 1] == (x6 >= seg + width ? at(lane) : at(x6)));
        EXPECT(out[6 * t + 2] == (rel + 3 >= width ? at(lane) : at(lane + 3)));
        EXPECT(out[6 * t + 3] == (rel - 5 < 0 ? at(lane) : at(lane - 5)));
        EXPECT(out[6 * t + 4] == at(seg + ((31 - lane) & (width - 1))));
        float sum = 0.0f;
        for (int l = 0; l < 32; l++) sum += (float)at(l);
        EXPECT(std::fabs((float)out[6 * t + 5] - sum) <= 1e-3f * sum);
    }
}

/* Half warps first, then the full warp: lanes 0-15 wait in the full-mask shuffle while
 * 16-31 do theirs (legal since Volta). */
__global__ void nested_shuffle_kernel(int *out) {
    const int lane = threadIdx.x % 32;
    int v = lane;
    if (lane >= 16) v = __shfl_xor_sync(0xffff0000u, v, 1);
    v = __shfl_xor_sync(0xffffffffu, v, 2);
    out[threadIdx.x] = v;
}

static void test_nested_shuffles() {
    int *d = dev_alloc<int>(64);
    PADIM_LAUNCH(nested_shuffle_kernel, 1, 64, 0, 0, d);
    EXPECT(cudaGetLastError() == cudaSuccess);
    std::vector<int> h = dev_take(d, 64);
    for (int t = 0; t < 64; t++) {
        const int src = (t % 32) ^ 2;
        EXPECT(h[(size_t)t] == (src >= 16 ? src ^ 1 : src));
    }
}

__global__ void vote_kernel(const int *pred, unsigned *out) {
    const int t = threadIdx.x;
    const int p = pred[t];
    out[5 * t + 0] = __ballot_sync(0xffffffffu, p);
    out[5 * t + 1] = (unsigned)__any_sync(0xffffffffu, p);
    out[5 * t + 2] = (unsigned)__all_sync(0xffffffffu, p);
    __syncwarp();
    out[5 * t + 3] = __ballot_sync(0x0000ffffu << (16 * ((t % 32) / 16)), p); /* half warps */
    out[5 * t + 4] = __activemask();
}

static void test_votes() {
    const int n = 64;
    std::vector<int> pred(n);
    for (int i = 0; i < n; i++) pred[(size_t)i] = i < 32 ? (i % 3 == 0) : 1; /* warp 1: all */
    int *dp = dev_alloc<int>(n, pred.data());
    unsigned *dout = dev_alloc<unsigned>(5 * n);
    PADIM_LAUNCH(vote_kernel, 1, n, 0, 0, dp, dout);
    EXPECT(cudaGetLastError() == cudaSuccess);
    std::vector<unsigned> out = dev_take(dout, 5 * n);
    cudaFree(dp);
    for (int t = 0; t < n; t++) {
        const int w = t / 32;
        unsigned ballot = 0;
        for (int l = 0; l < 32; l++) ballot |= (unsigned)(pred[(size_t)(32 * w + l)] != 0) << l;
        const unsigned half = 0x0000ffffu << (16 * ((t % 32) / 16));
        EXPECT(out[5 * t + 0] == ballot);
        EXPECT(out[5 * t + 1] == (ballot != 0));
        EXPECT(out[5 * t + 2] == (ballot == 0xffffffffu));
        EXPECT(out[5 * t + 3] == (ballot & half));
        /* lanes run one after another: only "exists, has not exited yet" is known */
        EXPECT((out[5 * t + 4] >> (t % 32) & 1u) == 1u);
    }
}

__global__ void atomics_kernel(int *ci, float *cf, unsigned *cmax, unsigned long long *ccas) {
    const unsigned g = blockIdx.x * blockDim.x + threadIdx.x;
    atomicAdd(ci, 1);
    atomicAdd(cf, 0.5f);
    atomicMax(cmax, g);
    unsigned long long old = *ccas, seen;
    while ((seen = atomicCAS(ccas, old, old + 2)) != old) old = seen;
    __syncthreads(); /* switches between the threads of a block */
    atomicAdd(ci, 1);
}

static void test_atomics() {
    int *ci = dev_alloc<int>(1);
    float *cf = dev_alloc<float>(1);
    unsigned *cmax = dev_alloc<unsigned>(1);
    unsigned long long *ccas = dev_alloc<unsigned long long>(1);
    PADIM_LAUNCH(atomics_kernel, 4, 96, 0, 0, ci, cf, cmax, ccas);
    EXPECT(cudaGetLastError() == cudaSuccess);
    EXPECT(dev_take(ci, 1)[0] == 2 * 384);
    EXPECT(dev_take(cf, 1)[0] == 192.0f);
    EXPECT(dev_take(cmax, 1)[0] == 383u);
    EXPECT(dev_take(ccas, 1)[0] == 768ull);
}

/* Dynamic shared memory: unwritten bytes read as NaN (0xff), then a reversal through it. */
__global__ void dynamic_shared_kernel(float *out, int n) {
    extern __shared__ float selftest_dyn[];
    const int t = threadIdx.x;
    out[2 * t] = selftest_dyn[t];
    __syncthreads();
    selftest_dyn[t] = (float)t;
    __syncthreads();
    out[2 * t + 1] = selftest_dyn[n - 1 - t];
}

static void test_dynamic_shared() {
    const int n = 100;
    float *d = dev_alloc<float>(2 * n);
    for (int rep = 0; rep < 2; rep++) { /* the second launch must not see the first's data */
        PADIM_LAUNCH(dynamic_shared_kernel, 2, n, n * sizeof(float), 0, d, n);
        EXPECT(cudaGetLastError() == cudaSuccess);
        std::vector<float> h(2 * n);
        cudaMemcpy(h.data(), d, sizeof(float) * 2 * n, cudaMemcpyDeviceToHost);
        for (int t = 0; t < n; t++) {
            EXPECT(std::isnan(h[(size_t)(2 * t)]));
            EXPECT(h[(size_t)(2 * t + 1)] == (float)(n - 1 - t));
        }
    }
    cudaFree(d);
}

/* ------------------------------------------------------------------ faults */

__global__ void exit_before_barrier_kernel(int *out, int first_exiting, int last_exiting) {
    const int t = threadIdx.x;
    if (t >= first_exiting && t <= last_exiting) return;
    __syncthreads();
    out[t] = t;
}

__global__ void two_barriers_kernel(int *out) {
    if (threadIdx.x % 2) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1;
}

/* mode 0: mask 0x0000ffff called by every lane; 1: full mask on a partial warp; 2: lanes
 * 0-15 read lanes 16-31 (xor 16) with mask 0x0000ffff; 3: lanes 16-31 exit, 0-15 shuffle
 * with the full mask; 4: lanes 0-15 shuffle, 16-31 go to the barrier; 5: width 12; 6: odd
 * lanes xor, even lanes down; 7: lanes 0-15 wait for lane 16 (mask 0x0001ffff), lanes
 * 16-31 for lane 0 (mask 0xffff0001). */
__global__ void bad_shuffle_kernel(float *out, int mode) {
    const int t = threadIdx.x, lane = t % 32;
    float v = (float)t;
    switch (mode) {
    case 0: v = __shfl_xor_sync(0x0000ffffu, v, 1); break;
    case 1: v = __shfl_xor_sync(0xffffffffu, v, 1); break;
    case 2:
        if (lane < 16) v = __shfl_xor_sync(0x0000ffffu, v, 16);
        break;
    case 3:
        if (lane >= 16) return;
        v = __shfl_xor_sync(0xffffffffu, v, 1);
        break;
    case 4:
        if (lane < 16) v = __shfl_xor_sync(0xffffffffu, v, 1);
        __syncthreads();
        break;
    case 5: v = __shfl_down_sync(0xffffffffu, v, 1, 12); break;
    case 6:
        if (lane % 2)
            v = __shfl_xor_sync(0xffffffffu, v, 1);
        else
            v = __shfl_down_sync(0xffffffffu, v, 1);
        break;
    case 7:
        if (lane < 16)
            v = __shfl_xor_sync(0x0001ffffu, v, 1);
        else
            v = __shfl_xor_sync(0xffff0001u, v, 1);
        break;
    }
    out[t] = v;
}

__global__ void touch_kernel(int *p) { p[threadIdx.x] = 1; }

static void test_faults() {
    padim_emu_set_quiet(1);
    int *d = dev_alloc<int>(1024);
    float *f = dev_alloc<float>(1024);
    PADIM_LAUNCH(exit_before_barrier_kernel, 2, 64, 0, 0, d, 40, 63);
    expect_fault("threads exit while others wait at a barrier", cudaErrorLaunchFailure,
                 "exits while 40 thread(s) of the block wait at __syncthreads()");
    PADIM_LAUNCH(exit_before_barrier_kernel, 2, 64, 0, 0, d, 0, 7);
    expect_fault("a barrier reached after threads exited", cudaErrorLaunchFailure,
                 "after thread (0,0,0) of the block exited");
    PADIM_LAUNCH(two_barriers_kernel, 1, 64, 0, 0, d);
    expect_fault("barriers at two call sites", cudaErrorLaunchFailure, "divergent barrier");
    const struct {
        int mode, threads;
        const char *what, *text;
    } shuffles[] = {
        {0, 64, "a mask that leaves the caller out", "which leaves the caller out"},
        {1, 48, "the full mask on a partial warp",
         "names lanes 16-31 of warp 1, which do not exist"},
        {2, 64, "a shuffle reading outside its mask", "reads lane 16, outside the mask"},
        {3, 64, "lanes exit while the others shuffle", "exits while lanes of its warp wait for it"},
        {4, 64, "a shuffle against a barrier",
         "while lanes of its warp wait for it in __shfl_xor_sync()"},
        {5, 64, "a shuffle width of 12", "must be a power of two"},
        {6, 64, "two kinds of shuffle in one warp", "divergent warp collective"},
        {7, 64, "two collectives waiting for each other", "deadlock: no thread can run"},
    };
    for (const auto &s : shuffles) {
        PADIM_LAUNCH(bad_shuffle_kernel, 1, s.threads, 0, 0, f, s.mode);
        expect_fault(s.what, cudaErrorLaunchFailure, s.text);
    }

    /* Launch errors: returned once, not sticky. */
    PADIM_LAUNCH(touch_kernel, 1, 1025, 0, 0, d);
    expect_fault("blockDim.x = 1025", cudaErrorInvalidConfiguration, "block dimensions above");
    PADIM_LAUNCH(touch_kernel, 1, dim3(32, 33), 0, 0, d);
    expect_fault("32 x 33 threads per block", cudaErrorInvalidConfiguration,
                 "more than 1024 threads");
    PADIM_LAUNCH(touch_kernel, 1, dim3(1, 1, 65), 0, 0, d);
    expect_fault("blockDim.z = 65", cudaErrorInvalidConfiguration, "above (1024, 1024, 64)");
    PADIM_LAUNCH(touch_kernel, dim3(1, 65536), 1, 0, 0, d);
    expect_fault("gridDim.y = 65536", cudaErrorInvalidConfiguration, "grid dimensions");
    PADIM_LAUNCH(touch_kernel, 0, 1, 0, 0, d);
    expect_fault("an empty grid", cudaErrorInvalidConfiguration, "a zero dimension");
    PADIM_LAUNCH(touch_kernel, 1, 1, 48 * 1024 + 4, 0, d);
    expect_fault("48 KiB + 4 of dynamic shared memory", cudaErrorInvalidValue,
                 "above the 49152-byte limit");
    PADIM_LAUNCH(touch_kernel, 1, 1, 0, (cudaStream_t)&failures, d);
    expect_fault("an unknown stream", cudaErrorInvalidResourceHandle, "unknown stream");
    PADIM_LAUNCH(touch_kernel, 1, 1, 0, 0, d);
    EXPECT(cudaGetLastError() == cudaSuccess); /* launch errors do not stick */

    /* A host pointer: a sticky fault, as the illegal address would be on a GPU. */
    int host[4];
    PADIM_LAUNCH(touch_kernel, 1, 4, 0, 0, host);
    EXPECT(cudaPeekAtLastError() == cudaErrorIllegalAddress);
    EXPECT(cudaMemcpy(host, d, sizeof(host), cudaMemcpyDeviceToHost) == cudaErrorIllegalAddress);
    EXPECT(cudaStreamSynchronize(0) == cudaErrorIllegalAddress);
    expect_fault("a host pointer argument", cudaErrorIllegalAddress,
                 "neither null nor in a cudaMalloc");
    EXPECT(cudaMemcpy(host, d, sizeof(host), cudaMemcpyDeviceToHost) == cudaSuccess);
    EXPECT(cudaMemcpy(d, host, sizeof(host), cudaMemcpyDeviceToHost) != cudaSuccess); /* kinds */
    padim_emu_clear_errors();
    cudaFree(d);
    cudaFree(f);
    padim_emu_set_quiet(0);
}

/* ------------------------------------------------------------------ memory errors */

__global__ void shared_overflow_kernel(float *out, int n) {
    extern __shared__ float selftest_dyn[];
    selftest_dyn[threadIdx.x + 1] = 1.0f; /* thread n - 1 writes past the n floats */
    __syncthreads();
    out[threadIdx.x] = selftest_dyn[threadIdx.x];
    (void)n;
}

__global__ void global_overflow_kernel(const int *in, int *out, int n) {
    const int t = threadIdx.x;
    out[t] = in[t] + (t + 1 < n + 1 ? in[t + 1] : 0); /* reads in[n] */
}

static int memory_error(const char *which) {
    const int n = 64;
    float *f = dev_alloc<float>(n);
    int *a = dev_alloc<int>(n), *b = dev_alloc<int>(n);
    if (!strcmp(which, "shared-overflow")) {
        PADIM_LAUNCH(shared_overflow_kernel, 1, n, n * sizeof(float), 0, f, n);
    } else if (!strcmp(which, "global-overflow")) {
        PADIM_LAUNCH(global_overflow_kernel, 1, n, 0, 0, a, b, n);
    } else {
        fprintf(stderr, "usage: test_emu_harness [shared-overflow|global-overflow]\n");
        return 2;
    }
    const cudaError_t e = cudaGetLastError();
    fprintf(stderr, "%s: launch returned %s: %s\n", which, cudaGetErrorName(e),
            padim_emu_last_message());
    return 1; /* only reached without ASan; the ctest looks for the report either way */
}

int main(int argc, char **argv) {
    if (argc > 1) return memory_error(argv[1]);
    test_indices();
    test_block_sum(1000);
    test_block_sum(1024); /* the largest block: 1024 fibers at each barrier */
    test_block_sum(33);
    test_shuffles<int>(32);
    test_shuffles<int>(8);
    test_shuffles<double>(16);
    test_shuffles<float>(1);
    test_nested_shuffles();
    test_votes();
    test_atomics();
    test_dynamic_shared();
    test_faults();
    test_indices(); /* the emulator works again after faults */
    if (failures) {
        fprintf(stderr, "test_emu_harness: %d check(s) failed\n", failures);
        return 1;
    }
    fprintf(stderr, "test_emu_harness: all checks passed\n");
    return 0;
}
