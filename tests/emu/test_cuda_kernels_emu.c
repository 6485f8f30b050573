/*
 * test_cuda_kernels_emu.c - every kernel of src/kernels against its CPU twin on the CPU
 * emulator (tests/emu/README.md): the cases of tests/cuda_kernel_cases.c, which
 * test_cuda_ops runs on a real GPU, here with the .cu files compiled as C++ and built
 * with ASan/UBSan. Needs no GPU and no nvcc: it must pass, not skip, on every CI machine.
 */
#include "cuda_kernel_cases.h"
#include "test_util.h"

int main(void) {
    cudaStream_t stream;
    die_cuda(cudaStreamCreate(&stream), "cudaStreamCreate");
    kc_set_stream(stream);
    kc_run_all(1);
    die_cuda(cudaStreamDestroy(stream), "cudaStreamDestroy");
    return test_finish("test_cuda_kernels_emu");
}
