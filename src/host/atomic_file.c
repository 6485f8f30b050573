/*
 * atomic_file.c - see atomic_file.h. The temporary file lives in the target's directory so
 * that rename() stays within one filesystem (and so is atomic on POSIX). Temporaries of
 * writers that were killed are removed by the next writer of the same target.
 */
#include "atomic_file.h"
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- stale temporaries */

#define TMP_TAG ".padim-tmp."

/* The writer PID of a temporary name ".<target>.padim-tmp.<pid>.<n>" when name is one
 * (for any target: *target_len gets its length), else 0. */
static long tmp_owner(const char *name, size_t *target_len) {
    if (name[0] != '.') return 0;
    const char *tag = NULL;
    for (const char *p = strstr(name + 1, TMP_TAG); p; p = strstr(p + 1, TMP_TAG)) tag = p; /* the last */
    if (!tag || tag == name + 1) return 0;
    const char *p = tag + strlen(TMP_TAG);
    char *end;
    errno = 0;
    const long pid = strtol(p, &end, 10);
    if (errno || end == p || *end != '.' || pid <= 0 || p[0] < '0' || p[0] > '9') return 0;
    const char *n = end + 1;
    if (!*n) return 0;
    for (; *n; n++)
        if (*n < '0' || *n > '9') return 0;
    *target_len = (size_t)(tag - name - 1);
    return pid;
}

static int pid_dead(long pid) { return pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH; }

/* Temporaries left by writers that died (SIGKILL, power loss) in a directory this process
 * writes to: listed once per directory per process (a folder of 100 000 heatmaps is not
 * read again for each one), then each target's own are removed when that target is next
 * opened. Only names of our exact pattern, regular files owned by this user, whose writer
 * PID no longer exists (checked again right before unlink). Caveat: in a folder shared
 * between hosts or PID namespaces a live writer elsewhere can look dead here; its rename
 * then fails and it reports the error: a target is never damaged. */
typedef struct stale_dir {
    char *dir;
    char **names; /* candidates not yet removed */
    size_t n;
    struct stale_dir *next;
} stale_dir;

static pthread_mutex_t stale_mu = PTHREAD_MUTEX_INITIALIZER;
static stale_dir *stale_dirs;

static stale_dir *stale_scan(const char *dir) {
    stale_dir *sd = calloc(1, sizeof(*sd));
    if (!sd || !(sd->dir = strdup(dir))) {
        free(sd);
        return NULL;
    }
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t tl;
        const long pid = tmp_owner(e->d_name, &tl);
        if (!pid || !pid_dead(pid)) continue;
        char **v = realloc(sd->names, (sd->n + 1) * sizeof(char *));
        if (!v) break;
        sd->names = v;
        if ((sd->names[sd->n] = strdup(e->d_name))) sd->n++;
    }
    if (d) closedir(d);
    sd->next = stale_dirs;
    stale_dirs = sd;
    return sd;
}

static void remove_stale_temporaries(const char *path, size_t dir_len) {
    char dir[4096];
    if (dir_len >= sizeof(dir)) return;
    if (dir_len) snprintf(dir, sizeof(dir), "%.*s", (int)dir_len, path);
    else snprintf(dir, sizeof(dir), "./");
    const char *base = path + dir_len;
    const size_t base_len = strlen(base);
    pthread_mutex_lock(&stale_mu);
    stale_dir *sd = stale_dirs;
    while (sd && strcmp(sd->dir, dir)) sd = sd->next;
    if (!sd) sd = stale_scan(dir);
    for (size_t i = 0; sd && i < sd->n;) {
        size_t tl = 0;
        const char *name = sd->names[i];
        const long pid = tmp_owner(name, &tl);
        if (tl != base_len || memcmp(name + 1, base, base_len)) {
            i++;
            continue;
        }
        char full[4400];
        struct stat sb;
        snprintf(full, sizeof(full), "%s%s", dir, name);
        if (pid_dead(pid) && lstat(full, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_uid == geteuid())
            unlink(full);
        free(sd->names[i]);
        sd->names[i] = sd->names[--sd->n];
    }
    pthread_mutex_unlock(&stale_mu);
}

/* ---------------------------------------------------------------- the writer */

padim_status padim_afile_open(padim_afile *a, const char *path) {
    static atomic_uint counter;
    memset(a, 0, sizeof(*a));
    if (!path || !*path) return padim_fail(PADIM_ERR_ARG, "output path is empty");
    const char *slash = strrchr(path, '/');
    const size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = path + dir_len;
    if (!*base) return padim_fail(PADIM_ERR_ARG, "%s: output path names a directory", path);
    remove_stale_temporaries(path, dir_len);
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
