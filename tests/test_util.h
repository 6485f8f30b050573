/*
 * test_util.h - helpers for the C tests: checks that report and count failures, a .npy
 * reader for the goldens the PyTorch reference dumps (tests/golden/), and comparison
 * with NaN/Inf checks first, then a tolerance.
 */
#ifndef PADIM_TEST_UTIL_H
#define PADIM_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int test_failures;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            test_failures++;                                                          \
        }                                                                             \
    } while (0)

/* Checks a padim_status is PADIM_OK, printing padim_last_error() otherwise. */
#define CHECK_OK(expr)                                                                   \
    do {                                                                                 \
        padim_status check_s_ = (expr);                                                  \
        if (check_s_ != PADIM_OK) {                                                      \
            fprintf(stderr, "CHECK_OK failed: %s -> %s: %s (%s:%d)\n", #expr,           \
                    padim_status_name(check_s_), padim_last_error(), __FILE__, __LINE__); \
            test_failures++;                                                             \
        }                                                                                \
    } while (0)

/* Print the summary; return the process exit code (0 ok, 1 failures). */
int test_finish(const char *name);
/* Exit 77 (ctest skip) with a reason on stderr. */
void test_skip(const char *reason);

/* A .npy array (little-endian, C order) converted to float64 or kept raw. */
typedef struct npy_array {
    char dtype[8]; /* "<f4", "<f8", "<i4", "<i8", "|u1" */
    int ndim;
    int64_t shape[8];
    int64_t count;
    double *data; /* converted to double */
} npy_array;

/* Load; returns 0 on success, prints the reason and returns -1 otherwise. */
int npy_load(const char *path, npy_array *out);
void npy_free(npy_array *a);

/* Compare n values: fails (and prints the worst index) on NaN/Inf in got or when
 * |got - ref| > atol + rtol * |ref| anywhere. Returns the max abs error. */
double compare_f32(const char *what, const float *got, const double *ref, int64_t n,
                   double atol, double rtol);

/* Write n bytes to path (a check fails when it cannot). */
void test_write_bytes(const char *path, const void *data, size_t n);
/* Entries of a folder besides . and .. (-1 when it cannot be opened): tests use it to
 * prove that nothing, not even a temporary file, was left behind. */
int test_count_entries(const char *dir);

/* Path of a golden file: PADIM_SOURCE_DIR/tests/golden/<name>. Static buffer. */
const char *golden_path(const char *name);
/* Shared data root (../shared relative to the source tree), static buffer. */
const char *shared_path(const char *rel);

#endif
