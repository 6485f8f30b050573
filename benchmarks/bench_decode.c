/*
 * bench_decode.c - workbench of the PNG decoders (not a test): decodes the same files,
 * read into memory first, with stb_image (the decoder before hardening), libpng through
 * the library's own path (image_reader_open_memory + decode: what padim_image_load runs
 * after reading the file) and, when built with it, libspng (the other hardened
 * candidate). Checks that all three give the same pixels, prints a table of ms per image
 * (best of --reps passes) and writes JSON.
 *
 *   build/bench_decode [--reps N] [--json FILE] FILE.png...
 *   e.g. build/bench_decode ../shared/data/mvtec_ad/bottle/test/good/0*.png
 * Results: benchmarks/RESULTS.md "PNG decoding".
 */
#include "image.h"
#include "padim.h"

#include <stb_image.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef PADIM_BENCH_SPNG
#include <spng.h>
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU seconds of this process (single-threaded here): what a shared, loaded machine
 * distorts least. */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct file {
    const char *path;
    uint8_t *buf;
    size_t len;
} file;

/* Decode file f with decoder k into a malloc'ed buffer; NULL on failure. */
static uint8_t *decode(int k, const file *f, int *w, int *h, int *c) {
    if (k == 0) return stbi_load_from_memory(f->buf, (int)f->len, w, h, c, 0);
    if (k == 1) {
        image_reader *r;
        image_header hdr;
        padim_image img;
        if (image_reader_open_memory(f->path, f->buf, f->len, NULL, &r, &hdr) != PADIM_OK) return NULL;
        padim_status s = image_reader_decode(r, &img);
        image_reader_close(r);
        if (s != PADIM_OK) return NULL;
        *w = img.width;
        *h = img.height;
        *c = img.channels;
        return img.data;
    }
#ifdef PADIM_BENCH_SPNG
    spng_ctx *ctx = spng_ctx_new(0);
    struct spng_ihdr ih;
    size_t n = 0;
    uint8_t *out = NULL;
    if (ctx && !spng_set_png_buffer(ctx, f->buf, f->len) && !spng_get_ihdr(ctx, &ih) &&
        !spng_decoded_image_size(ctx, SPNG_FMT_RGB8, &n) && (out = malloc(n)) &&
        !spng_decode_image(ctx, out, n, SPNG_FMT_RGB8, 0)) {
        *w = (int)ih.width;
        *h = (int)ih.height;
        *c = 3;
    } else {
        free(out);
        out = NULL;
    }
    spng_ctx_free(ctx);
    return out;
#else
    return NULL;
#endif
}

int main(int argc, char **argv) {
    int reps = 3;
    const char *json = "bench_decode.json";
    file *files = calloc((size_t)argc, sizeof(file));
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else {
            FILE *fp = fopen(argv[i], "rb");
            if (!fp) {
                fprintf(stderr, "bench_decode: %s: cannot open\n", argv[i]);
                return 1;
            }
            fseek(fp, 0, SEEK_END);
            const long len = ftell(fp);
            fseek(fp, 0, SEEK_SET);
            files[n].path = argv[i];
            files[n].len = (size_t)len;
            files[n].buf = malloc((size_t)len);
            if (fread(files[n].buf, 1, (size_t)len, fp) != (size_t)len) return 1;
            fclose(fp);
            n++;
        }
    }
    if (n == 0) {
        fprintf(stderr, "usage: bench_decode [--reps N] [--json FILE] FILE.png...\n");
        return 2;
    }
    static const char *const names[3] = {"stb_image", "libpng (padim_image_load)", "libspng"};
#ifdef PADIM_BENCH_SPNG
    const int n_dec = 3;
#else
    const int n_dec = 2;
#endif
    double best[3] = {1e30, 1e30, 1e30}, best_cpu[3] = {1e30, 1e30, 1e30};
    int w0 = 0, h0 = 0, mismatches = 0;
    for (int rep = 0; rep < reps; rep++)
        for (int k = 0; k < n_dec; k++) {
            const double t0 = now(), c0 = cpu_now();
            for (int i = 0; i < n; i++) {
                int w = 0, h = 0, c = 0;
                uint8_t *px = decode(k, &files[i], &w, &h, &c);
                if (!px) {
                    fprintf(stderr, "bench_decode: %s fails on %s\n", names[k], files[i].path);
                    return 1;
                }
                if (rep == 0 && k > 0) { /* same pixels as stb_image */
                    int w1, h1, c1;
                    uint8_t *ref = decode(0, &files[i], &w1, &h1, &c1);
                    mismatches += !ref || w1 != w || h1 != h || c1 != c || memcmp(ref, px, (size_t)w * h * c);
                    stbi_image_free(ref);
                }
                w0 = w;
                h0 = h;
                free(px);
            }
            const double t = (now() - t0) / n, c = (cpu_now() - c0) / n;
            if (t < best[k]) best[k] = t;
            if (c < best_cpu[k]) best_cpu[k] = c;
        }
    printf("| decoder | wall ms per image | CPU ms per image |\n|---|---|---|\n");
    for (int k = 0; k < n_dec; k++) printf("| %s | %.2f | %.2f |\n", names[k], best[k] * 1e3, best_cpu[k] * 1e3);
    printf("(%dx%d, best of %d passes over %d files, read into memory first)\n", w0, h0, reps, n);
    printf("pixels identical across decoders: %s\n", mismatches ? "NO" : "yes");
    FILE *fj = fopen(json, "w");
    if (fj) {
        fprintf(fj, "{\"files\": %d, \"width\": %d, \"height\": %d, \"reps\": %d, \"ms_per_image\": {", n, w0, h0, reps);
        for (int k = 0; k < n_dec; k++)
            fprintf(fj, "%s\"%s\": {\"wall\": %.4f, \"cpu\": %.4f}", k ? ", " : "", names[k], best[k] * 1e3,
                    best_cpu[k] * 1e3);
        fprintf(fj, "}, \"identical\": %s}\n", mismatches ? "false" : "true");
        fclose(fj);
    }
    return mismatches ? 1 : 0;
}
