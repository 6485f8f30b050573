/*
 * test_image_pil.c - every decoder against PIL, pixel for pixel: the files and PIL's
 * decoding of them come from tests/make_image_fixtures.py (ctest image_pil_fixtures, into
 * $PADIM_IMAGE_FIXTURE_DIR): PNG of every colour type and depth, Adam7, JPEG 4:2:0 /
 * 4:2:2 / 4:4:4 / progressive / gray, BMP 1/8/24/32-bit, TIFF uncompressed / LZW / deflate
 * / packbits / palette. Each decoded image is brought to RGB as PIL's convert("RGB") does
 * and must equal PIL's (JPEG included: libjpeg-turbo with PIL's settings), or the
 * documented 16-bit rounding; files marked "refuse" must fail with a message naming the
 * file and the problem. Skips (77) when the fixtures are absent (no PIL).
 */
#include "padim.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[4096];

static const char *fixture(const char *name) {
    static char buf[4400];
    snprintf(buf, sizeof(buf), "%s/%s", dir, name);
    return buf;
}

/* img as RGB (gray replicated, alpha dropped) vs ref (H, W, 3). */
static void compare_rgb(const char *name, const padim_image *img, const npy_array *ref, int max_lsb) {
    if (ref->ndim != 3 || ref->shape[0] != img->height || ref->shape[1] != img->width || ref->shape[2] != 3) {
        fprintf(stderr, "FAIL %s: decoded %dx%d, PIL %lldx%lld\n", name, img->width, img->height,
                (long long)(ref->ndim > 1 ? ref->shape[1] : 0), (long long)ref->shape[0]);
        test_failures++;
        return;
    }
    int worst = 0;
    int64_t n_diff = 0;
    const int64_t np = (int64_t)img->width * img->height;
    for (int64_t i = 0; i < np; i++)
        for (int c = 0; c < 3; c++) {
            const int v = img->data[i * img->channels + (img->channels >= 3 ? c : 0)];
            const int e = abs(v - (int)ref->data[i * 3 + c]);
            if (e > worst) worst = e;
            n_diff += e != 0;
        }
    fprintf(stderr, "%-28s %4dx%-4d %d ch: max |diff| %d LSB, %lld of %lld values differ (allowed %d)\n", name,
            img->width, img->height, img->channels, worst, (long long)n_diff, (long long)(np * 3), max_lsb);
    if (worst > max_lsb) test_failures++;
}

int main(void) {
    const char *env = getenv("PADIM_IMAGE_FIXTURE_DIR");
    if (!env) test_skip("PADIM_IMAGE_FIXTURE_DIR not set (run through ctest: image_pil_fixtures makes them)");
    snprintf(dir, sizeof(dir), "%s", env);
    FILE *m = fopen(fixture("manifest.txt"), "r");
    if (!m) test_skip("fixtures absent: image_pil_fixtures was skipped (no PIL / NumPy)");
    char line[1024];
    int n_files = 0;
    int line_no = 0;
    while (fgets(line, sizeof(line), m)) {
        char name[256], rule[16], arg[64];
        int channels, w, h;
        line_no++;
        if (line[strspn(line, " \t\r\n")] == '\0' || line[0] == '#') continue; /* blank or comment */
        if (sscanf(line, "%255s %d %15s %63s %d %d", name, &channels, rule, arg, &w, &h) != 6) {
            /* a fixture line the test cannot read would silently test nothing */
            fprintf(stderr, "FAIL manifest.txt line %d is not 'name channels rule arg width height': %s", line_no,
                    line);
            test_failures++;
            continue;
        }
        n_files++;
        char path[4400];
        snprintf(path, sizeof(path), "%s", fixture(name));
        padim_image img;
        const padim_status s = padim_image_load(path, &img);
        if (!strcmp(rule, "refuse")) {
            fprintf(stderr, "%-28s refused: %s\n", name, padim_last_error());
            CHECK(s == PADIM_ERR_FORMAT);
            CHECK(strstr(padim_last_error(), path) != NULL);
            CHECK(strstr(padim_last_error(), arg) != NULL);
            CHECK(img.data == NULL);
            padim_image_free(&img);
            continue;
        }
        CHECK_OK(s);
        if (s != PADIM_OK) {
            fprintf(stderr, "FAIL %s: %s\n", name, padim_last_error());
            continue;
        }
        CHECK(img.channels == channels);
        if (img.channels != channels)
            fprintf(stderr, "FAIL %s: %d channels, the policy says %d\n", name, img.channels, channels);
        char golden[4500];
        snprintf(golden, sizeof(golden), "%s.npy", path);
        npy_array ref;
        if (npy_load(golden, &ref) == 0) {
            compare_rgb(name, &img, &ref, atoi(arg));
            npy_free(&ref);
        } else {
            test_failures++;
        }
        padim_image_free(&img);
    }
    fclose(m);
    fprintf(stderr, "%d fixture files\n", n_files);
    CHECK(n_files >= 30);
    return test_finish("test_image_pil");
}
