/*
 * inject.c - an LD_PRELOAD fault injector for the writer tests (tests/test_fault_writers.sh):
 * makes the k-th call of one class of file operations fail as a full or broken disk
 * would, or stall so that a test can SIGKILL the process in the middle of a save.
 * Built as a shared library (tests/fault.cmake); not part of padim-gpu.
 *
 *   PADIM_FAULT="CLASS:K:ACTION[,CLASS:K:ACTION...]"
 *     CLASS   open    open/openat/creat creating a file (O_CREAT)
 *             write   write, pwrite, writev, fwrite, fputs, fputc, fflush (a flush is where
 *                     stdio's buffered bytes reach the disk)
 *             fsync   fsync, fdatasync
 *             rename  rename, renameat
 *             close   close, fclose (the last chance for NFS-style deferred errors)
 *     K       the call of that class (1 = first) that fails; calls on stdin, stdout,
 *             stderr (descriptors 0-2 and their streams) are not counted
 *     ACTION  ENOSPC | EIO | EDQUOT | EROFS: the call fails with that errno, doing nothing
 *             (close and fclose still release the descriptor, as the kernel does);
 *             sleep=S: the call waits S seconds, then proceeds
 *   PADIM_FAULT_COUNT=FILE: at exit, append one line "open N write N fsync N rename N
 *     close N" (the calls each class saw) to FILE: a test runs once clean to learn how
 *     many faults it can inject.
 *
 * Interposition works on calls through the dynamic symbol table: the program's and its
 * libraries' (libtiff writes with write()). glibc's stdio reaches the kernel through
 * internal aliases that cannot be interposed, hence the stdio functions above.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { C_OPEN, C_WRITE, C_FSYNC, C_RENAME, C_CLOSE, N_CLASSES };
static const char *const class_names[N_CLASSES] = {"open", "write", "fsync", "rename", "close"};

#define MAX_RULES 8
typedef struct rule {
    int cls;
    long k;
    int err;      /* errno to fail with, or 0 */
    unsigned nap; /* seconds to sleep, when err == 0 */
} rule;

static rule rules[MAX_RULES];
static int n_rules;
static long counts[N_CLASSES];
static int loaded;

static void save_counts(void) {
    const char *path = getenv("PADIM_FAULT_COUNT");
    if (!path) return;
    FILE *(*real_fopen)(const char *, const char *) = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
    FILE *f = real_fopen ? real_fopen(path, "a") : NULL;
    if (!f) return;
    char line[256];
    int n = 0;
    for (int c = 0; c < N_CLASSES; c++)
        n += snprintf(line + n, sizeof(line) - (size_t)n, "%s%s %ld", c ? " " : "", class_names[c], counts[c]);
    snprintf(line + n, sizeof(line) - (size_t)n, "\n");
    /* the real fputs and fclose: these calls are not counted */
    int (*real_fputs)(const char *, FILE *) = (int (*)(const char *, FILE *))dlsym(RTLD_NEXT, "fputs");
    int (*real_fclose)(FILE *) = (int (*)(FILE *))dlsym(RTLD_NEXT, "fclose");
    real_fputs(line, f);
    real_fclose(f);
}

static void load_rules(void) {
    if (loaded) return;
    loaded = 1;
    atexit(save_counts);
    const char *spec = getenv("PADIM_FAULT");
    if (!spec) return;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", spec);
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item && n_rules < MAX_RULES;
         item = strtok_r(NULL, ",", &save)) {
        char cls[16] = "", act[32] = "";
        long k = 0;
        if (sscanf(item, "%15[a-z]:%ld:%31s", cls, &k, act) != 3 || k < 1) {
            fprintf(stderr, "inject: bad PADIM_FAULT item '%s' (CLASS:K:ACTION)\n", item);
            abort();
        }
        rule r = {-1, k, 0, 0};
        for (int c = 0; c < N_CLASSES; c++)
            if (!strcmp(cls, class_names[c])) r.cls = c;
        if (!strcmp(act, "ENOSPC")) r.err = ENOSPC;
        else if (!strcmp(act, "EIO")) r.err = EIO;
        else if (!strcmp(act, "EDQUOT")) r.err = EDQUOT;
        else if (!strcmp(act, "EROFS")) r.err = EROFS;
        else if (!strncmp(act, "sleep=", 6)) r.nap = (unsigned)strtoul(act + 6, NULL, 10);
        if (r.cls < 0 || (!r.err && !r.nap)) {
            fprintf(stderr, "inject: bad PADIM_FAULT item '%s' (classes open write fsync rename close; "
                            "actions ENOSPC EIO EDQUOT EROFS sleep=S)\n", item);
            abort();
        }
        rules[n_rules++] = r;
    }
}

/* Count one call of cls; return the errno it must fail with (0: go on, after any sleep). */
static int fault(int cls) {
    load_rules();
    const long k = ++counts[cls];
    for (int i = 0; i < n_rules; i++) {
        if (rules[i].cls != cls || rules[i].k != k) continue;
        if (rules[i].err) return rules[i].err;
        sleep(rules[i].nap);
    }
    return 0;
}

static int counted_fd(int fd) { return fd > 2; }
static int counted_stream(FILE *f) { return f && fileno(f) > 2; }

/* The next definition of name (libc's), looked up once. */
#define REAL(name, ret, ...)                  \
    static ret (*real_##name)(__VA_ARGS__);  \
    if (!real_##name) real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t n) {
    REAL(write, ssize_t, int, const void *, size_t);
    if (counted_fd(fd)) {
        const int e = fault(C_WRITE);
        if (e) return errno = e, -1;
    }
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    REAL(pwrite, ssize_t, int, const void *, size_t, off_t);
    if (counted_fd(fd)) {
        const int e = fault(C_WRITE);
        if (e) return errno = e, -1;
    }
    return real_pwrite(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n) {
    REAL(writev, ssize_t, int, const struct iovec *, int);
    if (counted_fd(fd)) {
        const int e = fault(C_WRITE);
        if (e) return errno = e, -1;
    }
    return real_writev(fd, iov, n);
}

size_t fwrite(const void *p, size_t size, size_t n, FILE *f) {
    REAL(fwrite, size_t, const void *, size_t, size_t, FILE *);
    if (counted_stream(f)) {
        const int e = fault(C_WRITE);
        if (e) return errno = e, 0;
    }
    return real_fwrite(p, size, n, f);
}

int fputs(const char *s, FILE *f) {
    REAL(fputs, int, const char *, FILE *);
    if (counted_stream(f)) {
        const int e = fault(C_WRITE);
        if (e) return errno = e, EOF;
    }
    return real_fputs(s, f);
}

int fputc(int c, FILE *f) {
    REAL(fputc, int, int, FILE *);
    if (counted_stream(f)) {
        const int e = fault(C_WRITE);
        if (e) return errno = e, EOF;
    }
    return real_fputc(c, f);
}

int fflush(FILE *f) {
    REAL(fflush, int, FILE *);
    if (counted_stream(f)) {
        const int e = fault(C_WRITE);
        if (e) return errno = e, EOF;
    }
    return real_fflush(f);
}

int fsync(int fd) {
    REAL(fsync, int, int);
    const int e = fault(C_FSYNC);
    if (e) return errno = e, -1;
    return real_fsync(fd);
}

int fdatasync(int fd) {
    REAL(fdatasync, int, int);
    const int e = fault(C_FSYNC);
    if (e) return errno = e, -1;
    return real_fdatasync(fd);
}

int rename(const char *from, const char *to) {
    REAL(rename, int, const char *, const char *);
    const int e = fault(C_RENAME);
    if (e) return errno = e, -1;
    return real_rename(from, to);
}

int renameat(int dfrom, const char *from, int dto, const char *to) {
    REAL(renameat, int, int, const char *, int, const char *);
    const int e = fault(C_RENAME);
    if (e) return errno = e, -1;
    return real_renameat(dfrom, from, dto, to);
}

int close(int fd) {
    REAL(close, int, int);
    const int e = counted_fd(fd) ? fault(C_CLOSE) : 0;
    const int r = real_close(fd);
    if (e) return errno = e, -1;
    return r;
}

int fclose(FILE *f) {
    REAL(fclose, int, FILE *);
    const int e = counted_stream(f) ? fault(C_CLOSE) : 0;
    const int r = real_fclose(f);
    if (e) return errno = e, EOF;
    return r;
}

static mode_t mode_arg(int flags, va_list ap) { return (flags & O_CREAT) ? (mode_t)va_arg(ap, int) : 0; }

int open(const char *path, int flags, ...) {
    REAL(open, int, const char *, int, ...);
    va_list ap;
    va_start(ap, flags);
    const mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (flags & O_CREAT) {
        const int e = fault(C_OPEN);
        if (e) return errno = e, -1;
    }
    return real_open(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
    REAL(openat, int, int, const char *, int, ...);
    va_list ap;
    va_start(ap, flags);
    const mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (flags & O_CREAT) {
        const int e = fault(C_OPEN);
        if (e) return errno = e, -1;
    }
    return real_openat(dirfd, path, flags, mode);
}

int creat(const char *path, mode_t mode) {
    REAL(creat, int, const char *, mode_t);
    const int e = fault(C_OPEN);
    if (e) return errno = e, -1;
    return real_creat(path, mode);
}
