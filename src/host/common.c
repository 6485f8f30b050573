/*
 * common.c - error messages (thread-local), checked allocation, timing, output folders,
 * thread count.
 */
#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char error_message[2048];

const char *padim_last_error(void) { return error_message; }

void padim_clear_error(void) { error_message[0] = '\0'; }

const char *padim_status_name(padim_status s) {
    switch (s) {
    case PADIM_OK: return "PADIM_OK";
    case PADIM_ERR_ARG: return "PADIM_ERR_ARG";
    case PADIM_ERR_IO: return "PADIM_ERR_IO";
    case PADIM_ERR_FORMAT: return "PADIM_ERR_FORMAT";
    case PADIM_ERR_MISMATCH: return "PADIM_ERR_MISMATCH";
    case PADIM_ERR_NOMEM: return "PADIM_ERR_NOMEM";
    case PADIM_ERR_DEVICE: return "PADIM_ERR_DEVICE";
    case PADIM_ERR_NUMERIC: return "PADIM_ERR_NUMERIC";
    }
    return "PADIM_ERR_UNKNOWN";
}

padim_status padim_fail(padim_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof(error_message), fmt, ap);
    va_end(ap);
    return s;
}

padim_status padim_fail_context(padim_status s, const char *fmt, ...) {
    char prefix[1024], old[sizeof(error_message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, error_message, sizeof(old));
    /* Truncation of very long messages is acceptable: compose by hand to say so. */
    size_t lp = strnlen(prefix, sizeof(prefix) - 1), lo = strnlen(old, sizeof(old) - 1);
    size_t cap = sizeof(error_message) - 1;
    size_t n = 0;
    for (size_t i = 0; i < lp && n < cap; i++) error_message[n++] = prefix[i];
    for (const char *sep = ": "; *sep && n < cap; sep++) error_message[n++] = *sep;
    for (size_t i = 0; i < lo && n < cap; i++) error_message[n++] = old[i];
    error_message[n] = '\0';
    return s;
}

padim_status padim_alloc(void **out, size_t bytes, const char *what) {
    *out = malloc(bytes ? bytes : 1);
    if (!*out)
        return padim_fail(PADIM_ERR_NOMEM, "out of host memory allocating %zu bytes for %s", bytes, what);
    return PADIM_OK;
}

padim_status padim_calloc(void **out, size_t bytes, const char *what) {
    *out = calloc(1, bytes ? bytes : 1);
    if (!*out)
        return padim_fail(PADIM_ERR_NOMEM, "out of host memory allocating %zu bytes for %s", bytes, what);
    return PADIM_OK;
}

padim_status padim_alloc_aligned(void **out, size_t bytes, const char *what) {
    size_t rounded = (bytes + 63) / 64 * 64;
    *out = aligned_alloc(64, rounded ? rounded : 64);
    if (!*out)
        return padim_fail(PADIM_ERR_NOMEM, "out of host memory allocating %zu bytes for %s", bytes, what);
    return PADIM_OK;
}

padim_status padim_alloc_aligned_touched(void **out, size_t bytes, const char *what) {
    PADIM_TRY(padim_alloc_aligned(out, bytes, what));
    memset(*out, 0, bytes);
    return PADIM_OK;
}

double padim_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

padim_status padim_make_dirs(const char *path) {
    char buf[4096];
    if (!path || !path[0] || strlen(path) >= sizeof(buf))
        return padim_fail(PADIM_ERR_ARG, "cannot create folder '%s': empty or too long a path", path ? path : "");
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1;; p++) {
        const char c = *p;
        if (c != '/' && c != '\0') continue;
        *p = '\0';
        struct stat sb;
        if (mkdir(buf, 0755) != 0 && !(errno == EEXIST && stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode)))
            return padim_fail(PADIM_ERR_IO, "%s: cannot create folder: %s", buf, strerror(errno));
        if (c == '\0') break;
        *p = c;
    }
    return PADIM_OK;
}

int padim_thread_count(int rt_threads) {
    if (rt_threads > 0) return rt_threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
