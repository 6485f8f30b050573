/*
 * atomic_file.c - see atomic_file.h. The temporary file lives in the target's directory so
 * that rename() stays within one filesystem (and so is atomic on POSIX).
 */
#include "atomic_file.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

padim_status padim_afile_open(padim_afile *a, const char *path) {
    static atomic_uint counter;
    memset(a, 0, sizeof(*a));
    if (!path || !*path) return padim_fail(PADIM_ERR_ARG, "output path is empty");
    const char *slash = strrchr(path, '/');
    const size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = path + dir_len;
    if (!*base) return padim_fail(PADIM_ERR_ARG, "%s: output path names a directory", path);
    const size_t tlen = strlen(path) + 64;
    PADIM_TRY(padim_alloc((void **)&a->tmp, tlen, "temporary file name"));
    const unsigned id = atomic_fetch_add(&counter, 1u);
    snprintf(a->tmp, tlen, "%.*s.%s.padim-tmp.%ld.%u", (int)dir_len, path, base, (long)getpid(), id);
    a->path = strdup(path);
    const int fd = a->path ? open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644) : -1;
    if (fd < 0 || !(a->f = fdopen(fd, "wb"))) {
        const int e = a->path ? errno : ENOMEM;
        if (fd >= 0) {
            close(fd);
            unlink(a->tmp);
        }
        padim_status s = padim_fail(e == ENOMEM ? PADIM_ERR_NOMEM : PADIM_ERR_IO,
                                    "%s: cannot create output (temporary %s): %s", path, a->tmp,
                                    strerror(e));
        free(a->tmp);
        free(a->path);
        memset(a, 0, sizeof(*a));
        return s;
    }
    return PADIM_OK;
}

padim_status padim_afile_write(padim_afile *a, const void *data, size_t n) {
    if (a->err) return PADIM_ERR_IO;
    if (n == 0) return PADIM_OK;
    errno = 0;
    if (fwrite(data, 1, n, a->f) != n) {
        a->err = errno ? errno : EIO;
        return padim_fail(PADIM_ERR_IO, "%s: write error: %s (disk full?)", a->path, strerror(a->err));
    }
    return PADIM_OK;
}

static void afile_free(padim_afile *a) {
    free(a->tmp);
    free(a->path);
    memset(a, 0, sizeof(*a));
}

padim_status padim_afile_commit(padim_afile *a) {
    if (!a->f) return padim_fail(PADIM_ERR_ARG, "atomic file: commit without open");
    int err = a->err;
    errno = 0;
    if (!err && fflush(a->f) != 0) err = errno ? errno : EIO;
    if (!err && fsync(fileno(a->f)) != 0) err = errno ? errno : EIO;
    if (fclose(a->f) != 0 && !err) err = errno ? errno : EIO;
    a->f = NULL;
    if (!err && rename(a->tmp, a->path) != 0) err = errno ? errno : EIO;
    if (err) {
        unlink(a->tmp);
        padim_status s = padim_fail(PADIM_ERR_IO, "%s: cannot write: %s%s", a->path, strerror(err),
                                    err == ENOSPC ? " (disk full)" : "");
        afile_free(a);
        return s;
    }
    afile_free(a);
    return PADIM_OK;
}

void padim_afile_abort(padim_afile *a) {
    if (a->f) fclose(a->f);
    if (a->tmp) unlink(a->tmp);
    afile_free(a);
}

padim_status padim_write_file(const char *path, const void *data, size_t n) {
    padim_afile a;
    PADIM_TRY(padim_afile_open(&a, path));
    if (padim_afile_write(&a, data, n) != PADIM_OK) {
        /* commit reports the remembered error with the target's name and cleans up */
    }
    return padim_afile_commit(&a);
}
