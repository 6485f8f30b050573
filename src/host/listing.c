/*
 * listing.c - image files of a folder (optionally recursive), sorted, for fit / score /
 * eval inputs.
 */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int is_image_name(const char *name) {
    static const char *exts[] = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"};
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
        if (!strcasecmp(dot, exts[i])) return 1;
    return 0;
}

typedef struct path_list {
    char **v;
    int64_t n, cap;
} path_list;

static padim_status push(path_list *l, const char *path) {
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, (size_t)cap * sizeof(char *));
        if (!v) return padim_fail(PADIM_ERR_NOMEM, "out of memory listing images");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n] = strdup(path);
    if (!l->v[l->n]) return padim_fail(PADIM_ERR_NOMEM, "out of memory listing images");
    l->n++;
    return PADIM_OK;
}

static padim_status walk(const char *dir, int recursive, path_list *l) {
    DIR *d = opendir(dir);
    if (!d) return padim_fail(PADIM_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    padim_status st = PADIM_OK;
    struct dirent *e;
    while (st == PADIM_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(len);
        if (!path) {
            st = padim_fail(PADIM_ERR_NOMEM, "out of memory listing images");
            break;
        }
        snprintf(path, len, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) == 0) {
            if (S_ISDIR(sb.st_mode)) {
                if (recursive) st = walk(path, recursive, l);
            } else if (S_ISREG(sb.st_mode) && is_image_name(e->d_name)) {
                st = push(l, path);
            }
        }
        free(path);
    }
    closedir(d);
    return st;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

padim_status padim_list_images(const char *dir, int recursive, char ***paths, int64_t *n) {
    *paths = NULL;
    *n = 0;
    path_list l = {0};
    padim_status st = walk(dir, recursive, &l);
    if (st == PADIM_OK && l.n == 0)
        st = padim_fail(PADIM_ERR_ARG, "%s: no images found%s (looked for .png .jpg .jpeg .bmp .tif .tiff)", dir,
                        recursive ? " in it or its subfolders" : "");
    if (st != PADIM_OK) {
        padim_free_paths(l.v, l.n);
        return st;
    }
    qsort(l.v, (size_t)l.n, sizeof(char *), cmp_str);
    *paths = l.v;
    *n = l.n;
    return PADIM_OK;
}

void padim_free_paths(char **paths, int64_t n) {
    if (!paths) return;
    for (int64_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
}
