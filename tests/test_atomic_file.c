/*
 * test_atomic_file.c - the atomic writer's clean-up of temporaries left by killed writers
 * (atomic_file.h): opening a target removes ".<name>.padim-tmp.<pid>.<n>" beside it when
 * <pid> is dead, the file regular and ours; it keeps a live writer's temporary, other
 * targets' temporaries, names that only look alike and symbolic links. Also: a write
 * replaces the target atomically and leaves no temporary. (The whole-program checks under
 * injected disk faults and SIGKILL are tests/test_fault_writers.sh.)
 */
#include "padim.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];

static const char *in_dir(const char *name) {
    static char buf[2][512];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
    return buf[k];
}

static int exists(const char *name) {
    struct stat sb;
    return lstat(in_dir(name), &sb) == 0;
}

/* The PID of a process that has exited and been reaped: dead (PIDs are not reused that
 * fast on Linux, which allocates them cyclically). */
static long dead_pid(void) {
    const pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return (long)p;
}

int main(void) {
    snprintf(dir, sizeof(dir), "/tmp/padim_test_afile_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const long dead = dead_pid(), live = (long)getppid();
    char name[8][128];
    snprintf(name[0], 128, ".m.bin.padim-tmp.%ld.0", dead);     /* removed */
    snprintf(name[1], 128, ".m.bin.padim-tmp.%ld.17", dead);    /* removed */
    snprintf(name[2], 128, ".m.bin.padim-tmp.%ld.0", live);     /* live writer: kept */
    snprintf(name[3], 128, ".other.bin.padim-tmp.%ld.0", dead); /* other target: kept */
    snprintf(name[4], 128, "m.bin.padim-tmp.%ld.0", dead);      /* not hidden: kept */
    snprintf(name[5], 128, ".m.bin.padim-tmp.%ld.x", dead);     /* not our pattern: kept */
    snprintf(name[6], 128, ".m.bin.padim-tmp.%ld.5", dead);     /* a symbolic link: kept */
    snprintf(name[7], 128, ".xm.bin.padim-tmp.%ld.0", dead);    /* a longer target: kept */
    for (int i = 0; i < 8; i++)
        if (i != 6) test_write_bytes(in_dir(name[i]), "partial", 7);
    CHECK(symlink("m.bin", in_dir(name[6])) == 0);
    test_write_bytes(in_dir("m.bin"), "old", 3);

    CHECK_OK(padim_write_file(in_dir("m.bin"), "new contents", 12));
    const int want[8] = {0, 0, 1, 1, 1, 1, 1, 1};
    for (int i = 0; i < 8; i++) {
        const int e = exists(name[i]);
        fprintf(stderr, "%-40s %s (expected %s)\n", name[i], e ? "kept" : "removed", want[i] ? "kept" : "removed");
        CHECK(e == want[i]);
    }
    FILE *f = fopen(in_dir("m.bin"), "rb");
    char got[32] = "";
    CHECK(f && fread(got, 1, sizeof(got), f) == 12);
    if (f) fclose(f);
    CHECK(memcmp(got, "new contents", 12) == 0);
    CHECK(test_count_entries(dir) == 7); /* m.bin + the 6 kept */

    /* The other target's leftover goes when that target is written. */
    CHECK_OK(padim_write_file(in_dir("other.bin"), "x", 1));
    CHECK(!exists(name[3]));

    for (int i = 0; i < 8; i++) remove(in_dir(name[i]));
    remove(in_dir("m.bin"));
    remove(in_dir("other.bin"));
    CHECK(test_count_entries(dir) == 0);
    rmdir(dir);
    return test_finish("test_atomic_file");
}
