/*
 * atomic_file.h - the one atomic file writer of padim-gpu (atomic_file.c): every output
 * (model, weights, PNG, TIFF, JSON, CSV, reports) is written to a temporary file beside
 * its target and renamed into place only when every byte is written and synced, so that a
 * reader never sees a half-written output and a failed save leaves an existing file intact.
 *
 * Temporary names are hidden and say what they are: "<dir>/.<name>.padim-tmp.<pid>.<n>";
 * no output of padim-gpu is ever named so. Nothing is left behind on failure. A process
 * killed while saving (SIGKILL, power loss) leaves its temporary, never a damaged target:
 * the next padim_afile_open of the same target removes such leftovers, i.e. files named
 * ".<name>.padim-tmp.<pid>.<n>" beside it that are regular, owned by this user, and whose
 * <pid> is not a running process (kill(pid, 0) fails with ESRCH). The directory is listed
 * once per process, so writing many files into one folder stays linear.
 */
#ifndef PADIM_ATOMIC_FILE_H
#define PADIM_ATOMIC_FILE_H

#include "padim.h"

#include <stddef.h>
#include <stdio.h>

typedef struct padim_afile {
    FILE *f;    /* open for writing ("wb"), or NULL after commit/abort */
    char *path; /* the target */
    char *tmp;  /* the temporary file beside it */
    int err;    /* first errno seen by padim_afile_write (0: none) */
} padim_afile;

/* Create the temporary file for path (exclusively; never follows or clobbers anything).
 * On failure *a is zeroed and the message names path. */
padim_status padim_afile_open(padim_afile *a, const char *path);
/* Append n bytes; a failure is remembered and reported by commit (and returned here). */
padim_status padim_afile_write(padim_afile *a, const void *data, size_t n);
/* Flush, fsync, close and rename into place. On any failure the temporary file is removed,
 * the target is untouched, and the message names the target and the errno text. Frees *a
 * either way. */
padim_status padim_afile_commit(padim_afile *a);
/* Remove the temporary file and free *a (after an error of the caller's own). Safe on a
 * zeroed or already committed padim_afile. */
void padim_afile_abort(padim_afile *a);

#endif
