/*
 * test_image_limits.c - hostile image headers are refused from the header, fast and
 * without allocating for the pixels: crafted PNG, JPEG, TIFF and BMP files whose headers
 * claim just over the pixel limit (16385 x 16384) or far over it must fail with
 * PADIM_ERR_FORMAT and a message naming the file, the width, the height and the limit,
 * while the address space is capped (RLIMIT_AS: an attempted allocation of the ~800 MB
 * they claim would fail as PADIM_ERR_NOMEM instead). Small files within the limit that
 * hold no real image data (the shapes of the fuzzer's findings: a JPEG without tables or
 * scan, a TIFF "bomb" with a 16-byte strip, a BMP with an impossible palette) fail fast
 * with little memory touched. Also: padim_decode_options (max_pixels exactly at / one
 * below the size), the batch budget of padim_images_load_ex, the config key max_pixels and
 * padim_decode_options_resolve precedence; preprocessing refuses aspect ratios whose resize
 * intermediates would dwarf the image.
 */
#include "image.h"
#include "padim.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

static const char *tmp_path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
    return buf;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static long max_rss_kb(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

/* ------------------------------------------------------------------ crafted files */

typedef struct buf {
    uint8_t b[512];
    size_t n;
} buf;

static void put(buf *o, const void *p, size_t n) {
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static void put8(buf *o, unsigned v) { o->b[o->n++] = (uint8_t)v; }
static void be16(buf *o, unsigned v) { put8(o, v >> 8); put8(o, v); }
static void be32(buf *o, uint32_t v) { be16(o, v >> 16); be16(o, v & 0xffff); }
static void le16(buf *o, unsigned v) { put8(o, v); put8(o, v >> 8); }
static void le32(buf *o, uint32_t v) { le16(o, v & 0xffff); le16(o, v >> 16); }

static uint32_t crc32_png(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static void png_chunk(buf *o, const char *tag, const uint8_t *data, size_t n) {
    be32(o, (uint32_t)n);
    const size_t start = o->n;
    put(o, tag, 4);
    if (n) put(o, data, n);
    be32(o, crc32_png(o->b + start, n + 4));
}

static buf make_png(uint32_t w, uint32_t h) {
    buf o = {{0}, 0};
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    put(&o, sig, 8);
    uint8_t ihdr[13] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
                        (uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h, 8, 2, 0, 0, 0};
    png_chunk(&o, "IHDR", ihdr, 13);
    static const uint8_t idat[] = {0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01}; /* one zero byte */
    png_chunk(&o, "IDAT", idat, sizeof(idat));
    png_chunk(&o, "IEND", NULL, 0);
    return o;
}

/* SOI, SOF0 (3 components, 4:2:0), SOS, EOI: no tables, no entropy-coded data. */
static buf make_jpeg(unsigned w, unsigned h) {
    buf o = {{0}, 0};
    be16(&o, 0xffd8);
    be16(&o, 0xffc0);
    be16(&o, 17);
    put8(&o, 8);
    be16(&o, h);
    be16(&o, w);
    put8(&o, 3);
    for (unsigned c = 1; c <= 3; c++) {
        put8(&o, c);
        put8(&o, c == 1 ? 0x22 : 0x11);
        put8(&o, 0);
    }
    be16(&o, 0xffda);
    be16(&o, 12);
    put8(&o, 3);
    for (unsigned c = 1; c <= 3; c++) {
        put8(&o, c);
        put8(&o, 0);
    }
    put8(&o, 0);
    put8(&o, 63);
    put8(&o, 0);
    be16(&o, 0xffd9);
    return o;
}

static void tiff_entry(buf *o, unsigned tag, unsigned type, uint32_t count, uint32_t value) {
    le16(o, tag);
    le16(o, type);
    le32(o, count);
    if (type == 3 && count == 1) {
        le16(o, value);
        le16(o, 0);
    } else {
        le32(o, value);
    }
}

/* One 8-bit gray strip, deflate-compressed, 16 bytes long (a "bomb" of w x h). */
static buf make_tiff(uint32_t w, uint32_t h) {
    buf o = {{0}, 0};
    put(&o, "II*\0", 4);
    le32(&o, 8);
    le16(&o, 9);
    const uint32_t data = 8 + 2 + 9 * 12 + 4;
    tiff_entry(&o, 256, 4, 1, w);         /* ImageWidth */
    tiff_entry(&o, 257, 4, 1, h);         /* ImageLength */
    tiff_entry(&o, 258, 3, 1, 8);         /* BitsPerSample */
    tiff_entry(&o, 259, 3, 1, 8);         /* Compression: deflate */
    tiff_entry(&o, 262, 3, 1, 1);         /* BlackIsZero */
    tiff_entry(&o, 273, 4, 1, data);      /* StripOffsets */
    tiff_entry(&o, 277, 3, 1, 1);         /* SamplesPerPixel */
    tiff_entry(&o, 278, 4, 1, h);         /* RowsPerStrip */
    tiff_entry(&o, 279, 4, 1, 16);        /* StripByteCounts */
    le32(&o, 0);
    static const uint8_t z[16] = {0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00, 0x00, 0x00, 0xc2, 0xa0, 0xf7, 0x4f, 0x6d, 0x0e, 0x37};
    put(&o, z, sizeof(z));
    return o;
}

static buf make_bmp(int32_t w, int32_t h, unsigned bpp, uint32_t colors) {
    buf o = {{0}, 0};
    put(&o, "BM", 2);
    le32(&o, 14 + 40 + 8 + 64);
    le32(&o, 0);
    le32(&o, 14 + 40 + 8);
    le32(&o, 40);
    le32(&o, (uint32_t)w);
    le32(&o, (uint32_t)h);
    le16(&o, 1);
    le16(&o, bpp);
    le32(&o, 0);
    le32(&o, 0);
    le32(&o, 2835);
    le32(&o, 2835);
    le32(&o, colors);
    le32(&o, 0);
    for (int i = 0; i < 8; i++) put8(&o, i < 4 ? 0 : 255); /* palette: black, white */
    for (int i = 0; i < 64; i++) put8(&o, i < 4 ? 255 : 0);  /* pixels */
    return o;
}

/* ------------------------------------------------------------------ checks */

/* path must be refused with PADIM_ERR_FORMAT, fast, the message holding every word. */
static void expect_refused(const char *what, const buf *file, const char *const *words, int n_words) {
    const char *p = tmp_path(what);
    char path[512];
    snprintf(path, sizeof(path), "%s", p);
    test_write_bytes(path, file->b, file->n);
    padim_image img;
    const long rss0 = max_rss_kb();
    const double t0 = now();
    const padim_status s = padim_image_load(path, &img);
    const double dt = now() - t0;
    const long drss = max_rss_kb() - rss0;
    fprintf(stderr, "%-26s %zu bytes: %s in %.1f ms, peak RSS +%ld KB: %s\n", what, file->n, padim_status_name(s),
            dt * 1e3, drss, padim_last_error());
    CHECK(s == PADIM_ERR_FORMAT);
    CHECK(img.data == NULL);
    CHECK(strstr(padim_last_error(), path) != NULL);
    for (int i = 0; i < n_words; i++) {
        if (!strstr(padim_last_error(), words[i])) {
            fprintf(stderr, "FAIL %s: message lacks '%s'\n", what, words[i]);
            test_failures++;
        }
    }
    CHECK(dt < 1.0);          /* a hang guard, not a benchmark: these take well under 1 ms */
    CHECK(drss < 64 * 1024);  /* never touches the pixels it claims */
}

static void test_over_limit(void) {
    static const char *const over[] = {"16385 x 16384", "268435456", "max_pixels"};
    buf b = make_png(16385, 16384);
    expect_refused("over_limit.png", &b, over, 3);
    b = make_jpeg(16385, 16384);
    expect_refused("over_limit.jpg", &b, over, 3);
    b = make_tiff(16385, 16384);
    expect_refused("over_limit.tif", &b, over, 3);
    b = make_bmp(16385, 16384, 24, 0);
    expect_refused("over_limit.bmp", &b, over, 3);
    b = make_bmp(16385, -16384, 24, 0); /* top-down */
    expect_refused("over_limit_topdown.bmp", &b, over, 3);
    static const char *const huge_jpeg[] = {"65500 x 65500", "268435456"};
    b = make_jpeg(65500, 65500); /* libjpeg itself stops at 65500 */
    expect_refused("huge.jpg", &b, huge_jpeg, 2);
    static const char *const huge_png[] = {"2000000 x 2000000"};
    b = make_png(2000000, 2000000);
    expect_refused("huge.png", &b, huge_png, 1);
    static const char *const side[] = {"4000000000 x 1", "side above"};
    b = make_tiff(4000000000u, 1);
    expect_refused("huge_side.tif", &b, side, 2);
}

/* A chunk after IHDR whose type bytes are not letters (an escape among them) and whose
 * length claims more than the file holds: refused, the type named in hex, not raw. */
static buf make_png_bad_chunk(void) {
    buf o = make_png(8, 8);
    o.n = 8 + 25; /* signature + IHDR */
    static const uint8_t chunk[] = {0x31, 0x00, 0x00, 0x12, 0x01, 0x1b, '[', 'm', 0, 0, 0, 0, 0, 0, 0, 0};
    put(&o, chunk, sizeof(chunk));
    return o;
}

/* The shapes of the fuzzer's findings: within the limit, no real data. */
static void test_findings(void) {
    static const char *const chunk_words[] = {"chunk 0x011b5b6d claims 822083602 bytes", "the file has 4 left"};
    buf c = make_png_bad_chunk();
    expect_refused("chunk_type_not_letters.png", &c, chunk_words, 2);
    static const char *const jpeg_words[] = {"JPEG"};
    buf b = make_jpeg(16384, 16384);
    expect_refused("finding_no_tables.jpg", &b, jpeg_words, 1);
    static const char *const tiff_words[] = {"TIFF"};
    b = make_tiff(16384, 16384);
    expect_refused("finding_bomb.tif", &b, tiff_words, 1);
    static const char *const bmp_words[] = {"impossible BMP palette", "256 colours for 1-bit"};
    b = make_bmp(8, 8, 1, 256);
    expect_refused("finding_palette.bmp", &b, bmp_words, 2);
    static const char *const idx_words[] = {"colour 255 of a 2-colour palette"};
    b = make_bmp(8, 8, 8, 2); /* 8-bit pixels (255 255 255 255 0 ...) over a 2-colour palette */
    expect_refused("palette_index.bmp", &b, idx_words, 1);
    static const char *const trunc_words[] = {"truncated", "16384 x 16384"};
    b = make_bmp(16384, 16384, 24, 0);
    expect_refused("finding_truncated.bmp", &b, trunc_words, 2);
}

static void test_options(void) {
    const char *png = golden_path("image/rgb_97x131.png");
    char path[4200];
    snprintf(path, sizeof(path), "%s", png);
    padim_decode_options o;
    padim_decode_options_default(&o);
    CHECK(o.max_pixels == PADIM_DEFAULT_MAX_PIXELS && o.max_batch_bytes == PADIM_DEFAULT_MAX_BATCH_BYTES);
    padim_image img;
    o.max_pixels = 97 * 131;
    CHECK_OK(padim_image_load_ex(path, &o, &img));
    CHECK(img.width == 97 && img.height == 131);
    padim_image_free(&img);
    o.max_pixels = 97 * 131 - 1;
    CHECK(padim_image_load_ex(path, &o, &img) == PADIM_ERR_FORMAT);
    CHECK(strstr(padim_last_error(), "97 x 131 = 12707 pixels") && strstr(padim_last_error(), "12706"));
    fprintf(stderr, "max_pixels 12706: %s\n", padim_last_error());

    /* A batch of three 97x131 RGB images (38121 bytes each) in a budget of two. */
    const char *paths[3] = {path, path, path};
    padim_image imgs[3];
    padim_decode_options_default(&o);
    o.max_batch_bytes = 2 * 38121;
    CHECK(padim_images_load_ex(paths, 3, 1, &o, imgs) == PADIM_ERR_NOMEM);
    CHECK(strstr(padim_last_error(), "max_batch_bytes = 76242") != NULL);
    fprintf(stderr, "batch budget: %s\n", padim_last_error());
    for (int i = 0; i < 3; i++) CHECK(imgs[i].data == NULL);
    o.max_batch_bytes = 3 * 38121;
    CHECK_OK(padim_images_load_ex(paths, 3, 2, &o, imgs));
    for (int i = 0; i < 3; i++) padim_image_free(&imgs[i]);

    /* Precedence: runtime over config over default. */
    padim_runtime rt;
    padim_runtime_default(&rt);
    padim_config cfg;
    padim_config_default(&cfg, PADIM_BACKBONE_RESNET18, PADIM_PRESET_ANOMALIB);
    CHECK(cfg.max_pixels == 0);
    padim_decode_options_resolve(&rt, &cfg, &o);
    CHECK(o.max_pixels == PADIM_DEFAULT_MAX_PIXELS && o.max_batch_bytes == PADIM_DEFAULT_MAX_BATCH_BYTES);
    cfg.max_pixels = 1000;
    padim_decode_options_resolve(&rt, &cfg, &o);
    CHECK(o.max_pixels == 1000);
    rt.decode.max_pixels = 2000;
    rt.decode.max_batch_bytes = 3000;
    padim_decode_options_resolve(&rt, &cfg, &o);
    CHECK(o.max_pixels == 2000 && o.max_batch_bytes == 3000);
    padim_decode_options_resolve(NULL, NULL, &o);
    CHECK(o.max_pixels == PADIM_DEFAULT_MAX_PIXELS);

    /* The config key. */
    const char *yaml = tmp_path("limits.yaml");
    char ypath[512];
    snprintf(ypath, sizeof(ypath), "%s", yaml);
    test_write_bytes(ypath, "max_pixels: 150000000\n", 22);
    padim_config_default(&cfg, PADIM_BACKBONE_RESNET18, PADIM_PRESET_ANOMALIB);
    CHECK_OK(padim_config_load(ypath, &cfg));
    CHECK(cfg.max_pixels == 150000000);
    test_write_bytes(ypath, "max_pixels: -5\n", 15);
    CHECK(padim_config_load(ypath, &cfg) == PADIM_ERR_ARG);
    CHECK(strstr(padim_last_error(), "max_pixels") != NULL);
    CHECK(cfg.max_pixels == 150000000); /* a failed load leaves cfg as it was */
}

/* Extreme aspect ratios: refused before the resize allocates its intermediates. */
static void test_preprocess_aspect(void) {
    padim_config cfg;
    padim_config_default(&cfg, PADIM_BACKBONE_RESNET18, PADIM_PRESET_PAPER);
    float *out = malloc(sizeof(float) * 3 * 256 * 256);
    uint8_t *px = calloc((size_t)16 * 100000, 1);
    padim_image thin = {16, 100000, 1, px}; /* paper: 256 x 1600000 resized image */
    CHECK(padim_preprocess(&thin, &cfg, out) == PADIM_ERR_ARG);
    CHECK(strstr(padim_last_error(), "16 x 100000") && strstr(padim_last_error(), "aspect ratio"));
    fprintf(stderr, "paper 16x100000: %s\n", padim_last_error());
    padim_image ok = {100, 10000, 1, px}; /* aspect 100: 256 x 25600, allowed */
    CHECK_OK(padim_preprocess(&ok, &cfg, out));
    padim_config_default(&cfg, PADIM_BACKBONE_RESNET18, PADIM_PRESET_ANOMALIB);
    padim_image tall = {10, 100000, 1, px}; /* anomalib width pass: (3, 100000, 256) */
    CHECK(padim_preprocess(&tall, &cfg, out) == PADIM_ERR_ARG);
    fprintf(stderr, "anomalib 10x100000: %s\n", padim_last_error());
    padim_image wide = {100000, 10, 1, px};
    CHECK_OK(padim_preprocess(&wide, &cfg, out)); /* (3, 10, 256): small */
    free(px);
    free(out);
}

/* Cap the address space at what the process maps now plus 256 MB: any attempt to
 * allocate the ~800 MB an over-limit header claims then fails. Not under ASan, which
 * reserves terabytes of shadow memory. */
static int cap_address_space(void) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return 0;
#else
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0;
    if (!f) return 0;
    if (fscanf(f, "%ld", &pages) != 1) pages = 0;
    fclose(f);
    if (pages <= 0) return 0;
    const rlim_t cap = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)256 << 20);
    struct rlimit rl = {cap, cap};
    if (setrlimit(RLIMIT_AS, &rl) != 0) return 0;
    fprintf(stderr, "address space capped at %.0f MB\n", (double)cap / (1 << 20));
    return 1;
#endif
}

int main(void) {
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/padim_test_limits_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_findings();
    test_options();
    test_preprocess_aspect();
    if (!cap_address_space()) fprintf(stderr, "NOTE: address space not capped (sanitizer build)\n");
    test_over_limit();
    const char *names[] = {"over_limit.png", "over_limit.jpg", "over_limit.tif", "over_limit.bmp",
                           "over_limit_topdown.bmp", "huge.jpg", "huge.png", "huge_side.tif",
                           "finding_no_tables.jpg", "finding_bomb.tif", "finding_palette.bmp",
                           "palette_index.bmp", "finding_truncated.bmp", "limits.yaml"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) remove(tmp_path(names[i]));
    rmdir(tmpdir);
    return test_finish("test_image_limits");
}
