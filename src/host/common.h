/*
 * common.h - internal helpers shared by every host file: error reporting (the status +
 * message regime of STYLE.md), checked allocation, timing. Not part of the public API.
 */
#ifndef PADIM_COMMON_H
#define PADIM_COMMON_H

#include "padim.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__GNUC__)
#define PADIM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PADIM_PRINTF(a, b)
#endif

/* Record a user-facing failure (message printf-style) and return the status, so that
 * `return padim_fail(PADIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));` reads
 * as one statement. The message should name the file, the expected and actual value and,
 * where one exists, a hint. */
padim_status padim_fail(padim_status s, const char *fmt, ...) PADIM_PRINTF(2, 3);
/* Prefix the current message with "context: " (keeps the status). */
padim_status padim_fail_context(padim_status s, const char *fmt, ...) PADIM_PRINTF(2, 3);
void padim_clear_error(void);

/* Internal bug or driver failure: print context and abort (second regime of STYLE.md). */
#define PADIM_ASSERT(cond)                                                                 \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "padim-gpu: internal error: %s (%s, %s:%d)\n", #cond, __func__, \
                    __FILE__, __LINE__);                                                   \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Propagate a non-OK status. */
#define PADIM_TRY(expr)                                                                    \
    do {                                                                                   \
        padim_status try_status_ = (expr);                                                 \
        if (try_status_ != PADIM_OK) return try_status_;                                   \
    } while (0)

/* malloc/calloc that report PADIM_ERR_NOMEM with the byte count and what it was for.
 * Sizes are size_t products computed by the caller in 64 bits. */
padim_status padim_alloc(void **out, size_t bytes, const char *what);
padim_status padim_calloc(void **out, size_t bytes, const char *what);
/* 64-byte aligned allocation (free with free()). */
padim_status padim_alloc_aligned(void **out, size_t bytes, const char *what);
/* The same, zero-filled at once: its pages are faulted in now (at a backend's creation),
 * not later in the first batch that touches them. */
padim_status padim_alloc_aligned_touched(void **out, size_t bytes, const char *what);

/* Monotonic seconds. */
double padim_now(void);

/* mkdir -p for outputs (reports, submissions): every missing folder of path is created
 * (0755); an existing folder is fine. The error names the folder that failed. */
padim_status padim_make_dirs(const char *path);

/* Number of threads to use: rt_threads when > 0, else the number of online CPUs. */
int padim_thread_count(int rt_threads);

#endif
