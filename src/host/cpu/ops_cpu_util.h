/*
 * ops_cpu_util.h - what the CPU operations' files share (ops_cpu.c, mahalanobis_cpu.c):
 * the image chunk that bounds per-thread scratch, and the scratch allocation that aborts
 * on failure (the second error regime of ops_cpu.c's header comment).
 */
#ifndef PADIM_OPS_CPU_UTIL_H
#define PADIM_OPS_CPU_UTIL_H

#include "common.h"

#include <stdio.h>
#include <stdlib.h>

/* Images per BLAS call in accumulate / mahalanobis: bounds the per-thread scratch
 * whatever N the caller passes. */
enum { OPS_IMAGE_CHUNK = 64 };

static inline void *scratch_alloc(size_t bytes) {
    void *p = NULL;
    if (padim_alloc_aligned(&p, bytes, "CPU op scratch") != PADIM_OK) {
        fprintf(stderr, "padim-gpu: %s\n", padim_last_error());
        abort();
    }
    return p;
}

#endif
