/*
 * blas_threads.h - OpenBLAS to one thread while the CPU backend's own OpenMP loops call
 * it (blas_threads.c). OpenBLAS's thread count is one process-wide setting: a plain
 * save / set 1 / restore by each caller races when scorers run on several threads (one
 * restores the old count while another is still inside its loop, whose GEMMs then run
 * multi-threaded and round differently). Regions are counted instead: the first to enter
 * saves the count and sets 1, the last to leave restores it.
 */
#ifndef PADIM_BLAS_THREADS_H
#define PADIM_BLAS_THREADS_H

void cpu_blas_single_begin(void);
void cpu_blas_single_end(void);

#endif
