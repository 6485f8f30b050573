/*
 * test_util.c - see test_util.h.
 */
#include "test_util.h"

#include "padim.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int test_failures = 0;

int test_finish(const char *name) {
    if (test_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, test_failures);
        return 1;
    }
    fprintf(stderr, "%s: all checks passed\n", name);
    return 0;
}

void test_skip(const char *reason) {
    fprintf(stderr, "SKIP: %s\n", reason);
    exit(77);
}

int npy_load(const char *path, npy_array *out) {
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "npy_load: cannot open %s\n", path);
        return -1;
    }
    unsigned char pre[10];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        fprintf(stderr, "npy_load: %s is not a .npy file\n", path);
        fclose(f);
        return -1;
    }
    size_t hlen;
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
    } else {
        unsigned char b[2];
        if (fread(b, 1, 2, f) != 2) {
            fclose(f);
            return -1;
        }
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8) | ((size_t)b[0] << 16) | ((size_t)b[1] << 24);
    }
    char *h = calloc(hlen + 1, 1);
    if (!h || fread(h, 1, hlen, f) != hlen) {
        fprintf(stderr, "npy_load: %s: truncated header\n", path);
        free(h);
        fclose(f);
        return -1;
    }
    const char *d = strstr(h, "'descr': '");
    const char *fo = strstr(h, "'fortran_order': ");
    const char *sh = strstr(h, "'shape': (");
    if (!d || !fo || !sh || strncmp(fo + 17, "False", 5) != 0) {
        fprintf(stderr, "npy_load: %s: unsupported header %s\n", path, h);
        free(h);
        fclose(f);
        return -1;
    }
    snprintf(out->dtype, sizeof(out->dtype), "%.3s", d + 10);
    out->count = 1;
    const char *s = sh + 10;
    while (*s && *s != ')') {
        while (*s == ' ' || *s == ',') s++;
        if (*s == ')') break;
        out->shape[out->ndim++] = strtoll(s, (char **)&s, 10);
        out->count *= out->shape[out->ndim - 1];
    }
    free(h);
    size_t es = 0;
    if (!strcmp(out->dtype, "<f4") || !strcmp(out->dtype, "<i4")) es = 4;
    else if (!strcmp(out->dtype, "<f8") || !strcmp(out->dtype, "<i8")) es = 8;
    else if (!strcmp(out->dtype, "|u1") || !strcmp(out->dtype, "|b1")) es = 1;
    if (!es) {
        fprintf(stderr, "npy_load: %s: unsupported dtype %s\n", path, out->dtype);
        fclose(f);
        return -1;
    }
    unsigned char *raw = malloc((size_t)out->count * es + 1);
    out->data = malloc((size_t)out->count * sizeof(double) + 1);
    if (!raw || !out->data || fread(raw, es, (size_t)out->count, f) != (size_t)out->count) {
        fprintf(stderr, "npy_load: %s: truncated data\n", path);
        free(raw);
        npy_free(out);
        fclose(f);
        return -1;
    }
    fclose(f);
    for (int64_t i = 0; i < out->count; i++) {
        const unsigned char *p = raw + (size_t)i * es;
        if (!strcmp(out->dtype, "<f4")) {
            float v;
            memcpy(&v, p, 4);
            out->data[i] = v;
        } else if (!strcmp(out->dtype, "<f8")) {
            memcpy(&out->data[i], p, 8);
        } else if (!strcmp(out->dtype, "<i4")) {
            int32_t v;
            memcpy(&v, p, 4);
            out->data[i] = v;
        } else if (!strcmp(out->dtype, "<i8")) {
            int64_t v;
            memcpy(&v, p, 8);
            out->data[i] = (double)v;
        } else {
            out->data[i] = p[0];
        }
    }
    free(raw);
    return 0;
}

void npy_free(npy_array *a) {
    free(a->data);
    a->data = NULL;
}

double compare_f32(const char *what, const float *got, const double *ref, int64_t n,
                   double atol, double rtol) {
    double max_err = 0, worst_excess = 0;
    int64_t worst = -1;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            fprintf(stderr, "%s: non-finite value %g at %lld\n", what, (double)got[i], (long long)i);
            test_failures++;
            return INFINITY;
        }
        double e = fabs((double)got[i] - ref[i]);
        if (e > max_err) max_err = e;
        double excess = e - (atol + rtol * fabs(ref[i]));
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = i;
        }
    }
    if (worst >= 0) {
        fprintf(stderr, "%s: mismatch at %lld: got %.9g ref %.9g (atol %g rtol %g), max abs err %g\n",
                what, (long long)worst, (double)got[worst], ref[worst], atol, rtol, max_err);
        test_failures++;
    } else {
        fprintf(stderr, "%s: ok (%lld values, max abs err %.3g)\n", what, (long long)n, max_err);
    }
    return max_err;
}

const char *golden_path(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof(buf), "%s/tests/golden/%s", PADIM_SOURCE_DIR, name);
    return buf;
}

const char *shared_path(const char *rel) {
    static char buf[4096];
    const char *env = getenv("PADIM_SHARED");
    if (env) snprintf(buf, sizeof(buf), "%s/%s", env, rel);
    else snprintf(buf, sizeof(buf), "%s/../shared/%s", PADIM_SOURCE_DIR, rel);
    return buf;
}

void test_write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, n, f) == n);
    fclose(f);
}

int test_count_entries(const char *dir) {
    DIR *dp = opendir(dir);
    if (!dp) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(dp);
    return n;
}
