/*
 * fuzz_dataset.c - libFuzzer target over the test-set layouts and image / mask pairing
 * (src/host/eval/dataset.c): the input describes a small folder tree, one relative path
 * per line ("test/crack/001.png", "ground_truth/crack/001_mask.png", "masks/x.bmp", a
 * trailing "/" makes a folder), which is created (empty files) under a scratch folder;
 * then testset_load (MVTec or generic layout) and trainset_list_mvtec run on it. A set
 * that loads must be consistent: labels, defect types and masks per image. Paths are
 * restricted to [A-Za-z0-9._-/] without ".." so the target never writes outside its
 * folder. Seeds: tests/fuzz/make_corpus.py.
 */
#include "eval/dataset.h"
#include "padim.h"

#include "fuzz_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_ENTRIES 64
#define MAX_DEPTH 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int path_ok(const char *p) {
    if (!*p || *p == '/' || strstr(p, "..") || strstr(p, "//")) return 0;
    int depth = 0;
    for (const char *c = p; *c; c++) {
        if (*c == '/') depth++;
        else if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                   *c == '.' || *c == '_' || *c == '-'))
            return 0;
    }
    return depth <= MAX_DEPTH;
}

/* mkdir -p of every parent of rel under root; then the entry itself. */
static void create(const char *root, const char *rel) {
    char path[4096];
    const size_t len = strlen(rel);
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    const size_t base = strlen(root) + 1;
    for (size_t i = base; path[i]; i++) {
        if (path[i] != '/') continue;
        path[i] = '\0';
        mkdir(path, 0755); /* may exist, or be a file: then what follows fails, fine */
        path[i] = '/';
    }
    if (rel[len - 1] == '/') return;
    FILE *f = fopen(path, "wb");
    if (f) fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char root[128];
    snprintf(root, sizeof(root), "%s/tree", fuzz_scratch());
    fuzz_remove_tree(root);
    if (mkdir(root, 0755) != 0) abort();
    char line[256];
    size_t pos = 0;
    for (int n = 0; pos < size && n < MAX_ENTRIES; n++) {
        size_t k = 0;
        while (pos < size && data[pos] != '\n' && k + 1 < sizeof(line)) line[k++] = (char)data[pos++];
        while (pos < size && data[pos] != '\n') pos++;
        pos++;
        line[k] = '\0';
        if (path_ok(line)) create(root, line);
    }
    padim_testset ts;
    memset(&ts, 0, sizeof(ts));
    if (testset_load(root, &ts) == PADIM_OK) {
        if (ts.n < 1 || ts.n_good + ts.n_defective != ts.n) abort();
        for (int64_t i = 0; i < ts.n; i++) {
            if (!ts.paths[i] || !ts.defect_types[i] || strncmp(ts.paths[i], root, strlen(root))) abort();
            if (ts.labels[i] > 1) abort();
            if (ts.labels[i] == 0 && strcmp(ts.defect_types[i], "good")) abort();
            if (ts.has_masks && ts.labels[i] == 1 && !ts.mask_paths[i]) abort();
            if (ts.mask_paths && ts.mask_paths[i] && ts.labels[i] == 0) abort();
        }
        for (int64_t i = 0; i < ts.n; i++) /* every image once */
            for (int64_t j = i + 1; j < ts.n; j++)
                if (!strcmp(ts.paths[i], ts.paths[j])) abort();
        testset_free(&ts);
    }
    char **paths = NULL;
    int64_t n = 0;
    if (trainset_list_mvtec(root, &paths, &n) == PADIM_OK) padim_free_paths(paths, n);
    return 0;
}
