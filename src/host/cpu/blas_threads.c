/*
 * blas_threads.c - see blas_threads.h: a counted "OpenBLAS single-threaded" region shared
 * by every thread of the process that runs the CPU backend.
 */
#include "blas_threads.h"

#include <cblas.h>
#include <pthread.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int depth;
static int saved;

void cpu_blas_single_begin(void) {
    pthread_mutex_lock(&mu);
    if (depth++ == 0) {
        saved = openblas_get_num_threads();
        openblas_set_num_threads(1);
    }
    pthread_mutex_unlock(&mu);
}

void cpu_blas_single_end(void) {
    pthread_mutex_lock(&mu);
    if (--depth == 0) openblas_set_num_threads(saved);
    pthread_mutex_unlock(&mu);
}
