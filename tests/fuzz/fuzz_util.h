/*
 * fuzz_util.h - helpers shared by the libFuzzer targets of tests/fuzz/ (header-only, each
 * target is one translation unit): a private scratch folder per process (on tmpfs when
 * there is one), the fuzz input written to a file there for the readers that take a path,
 * and recursive removal of what a target created. Built only by the PADIM_FUZZ build
 * (tests/fuzz.cmake); nothing here is part of the library.
 */
#ifndef PADIM_FUZZ_UTIL_H
#define PADIM_FUZZ_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline void fuzz_remove_tree(const char *path);
static char fuzz_scratch_dir[64];
static inline void fuzz_scratch_remove(void) { fuzz_remove_tree(fuzz_scratch_dir); }

/* The process's scratch folder ("/dev/shm/padim-fuzz-XXXXXX" or under /tmp), made once and
 * removed at exit (libFuzzer's fork mode starts a process per job). */
static inline const char *fuzz_scratch(void) {
    if (!fuzz_scratch_dir[0]) {
        snprintf(fuzz_scratch_dir, sizeof(fuzz_scratch_dir), "%s/padim-fuzz-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(fuzz_scratch_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_scratch_remove);
    }
    return fuzz_scratch_dir;
}

/* Remove path and everything below it (never follows symbolic links). */
static inline void fuzz_remove_tree(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            for (struct dirent *e; (e = readdir(d));) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char child[4096];
                snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
                fuzz_remove_tree(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Write the input to <scratch>/<name> and return that path (static buffer). */
static inline const char *fuzz_write_input(const char *name, const uint8_t *data, size_t size) {
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", fuzz_scratch(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("fuzz: writing the input");
        abort();
    }
    return path;
}

#endif
