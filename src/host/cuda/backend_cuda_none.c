/*
 * backend_cuda_none.c - stands in for backend_cuda.c when the project is built without
 * CUDA (PADIM_CUDA=OFF): the pipeline then reports that the CUDA backend is not built.
 */
#include "backend.h"

const backend_ops *padim_backend_cuda(void) { return NULL; }
