/*
 * test_safetensors.c - the safetensors reader/writer (safetensors.h): round trip of every
 * dtype with metadata; the byte layout against the format description; a hand-written
 * file (not from our writer); damaged files (truncated, bad JSON, offsets out of bounds
 * or overlapping, wrong header length, unknown dtype, trailing bytes), each a
 * PADIM_ERR_FORMAT whose message names the path; a failed write leaves nothing behind;
 * fp16 conversion against IEEE definitions.
 */
#include "half.h"
#include "safetensors.h"
#include "st_writer.h"

#include "test_util.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static const char *tmp_path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof(buf), "%s/%s", dir, name);
    return buf;
}

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len + 1);
    *n = fread(buf, 1, (size_t)len, f);
    fclose(f);
    return buf;
}

/* A file made of a JSON header (length given explicitly or strlen) and data bytes. */
static void write_raw(const char *path, uint64_t hlen, const char *json, const void *data,
                      size_t ndata) {
    size_t jl = strlen(json);
    unsigned char *buf = calloc(8 + jl + ndata + 1, 1);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, json, jl);
    if (ndata) memcpy(buf + 8 + jl, data, ndata);
    test_write_bytes(path, buf, 8 + jl + ndata);
    free(buf);
}

static void expect_error(const char *what, const char *path, padim_status want,
                         const char *needle) {
    st_file f;
    padim_status s = st_read(path, &f);
    const char *msg = padim_last_error();
    int ok = s == want && strstr(msg, path) != NULL && (!needle || strstr(msg, needle) != NULL);
    fprintf(stderr, "  %-28s -> %s: %s\n", what, padim_status_name(s), msg);
    if (!ok) {
        fprintf(stderr, "  ^ expected %s with the path%s%s%s\n", padim_status_name(want),
                needle ? " and '" : "", needle ? needle : "", needle ? "'" : "");
        test_failures++;
    }
    if (s == PADIM_OK) st_free(&f);
}

static void test_round_trip(void) {
    /* One tensor per dtype, odd shapes, a scalar and an empty tensor. */
    float f32[2 * 3 * 5];
    uint16_t f16[7], bf16[3];
    double f64[4];
    int32_t i32[3 * 1 * 2];
    int64_t i64[5];
    uint8_t u8[9];
    for (int i = 0; i < 30; i++) f32[i] = (float)i * 0.37f - 3.0f;
    for (int i = 0; i < 7; i++) f16[i] = (uint16_t)(0x3c00 + 17 * i);
    for (int i = 0; i < 3; i++) bf16[i] = (uint16_t)(0x4049 + i);
    for (int i = 0; i < 4; i++) f64[i] = 1.0 / (i + 3);
    for (int i = 0; i < 6; i++) i32[i] = -1000000 * i + 7;
    for (int i = 0; i < 5; i++) i64[i] = (int64_t)1 << (10 * i + 3);
    for (int i = 0; i < 9; i++) u8[i] = (uint8_t)(250 + i);
    int32_t scalar = 42;
    struct {
        const char *name;
        st_dtype dt;
        int ndim;
        int64_t shape[3];
        const void *data;
        size_t nbytes;
    } ts[] = {
        {"u8", ST_U8, 1, {9}, u8, sizeof(u8)},
        {"a.f32", ST_F32, 3, {2, 3, 5}, f32, sizeof(f32)},
        {"f16", ST_F16, 1, {7}, f16, sizeof(f16)},
        {"bf16", ST_BF16, 2, {1, 3}, bf16, sizeof(bf16)},
        {"f64", ST_F64, 2, {2, 2}, f64, sizeof(f64)},
        {"i32", ST_I32, 3, {3, 1, 2}, i32, sizeof(i32)},
        {"i64", ST_I64, 1, {5}, i64, sizeof(i64)},
        {"scalar", ST_I32, 0, {0}, &scalar, 4},
        {"empty", ST_F32, 2, {0, 4}, f32, 0},
    };
    const int n = (int)(sizeof(ts) / sizeof(ts[0]));
    st_writer *w;
    CHECK_OK(st_writer_create(&w));
    for (int i = 0; i < n; i++)
        CHECK_OK(st_writer_add(w, ts[i].name, ts[i].dt, ts[i].ndim, ts[i].shape, ts[i].data));
    CHECK(st_writer_add(w, "a.f32", ST_F32, 1, ts[1].shape, f32) == PADIM_ERR_ARG);
    CHECK_OK(st_writer_meta(w, "format", "test"));
    CHECK_OK(st_writer_meta(w, "quote\"key", "line\nbreak \"quoted\" \\ caf\xc3\xa9"));
    CHECK_OK(st_writer_meta(w, "format", "test2")); /* replaces */
    const char *path = tmp_path("round.safetensors");
    CHECK_OK(st_writer_write(w, path));
    st_writer_free(w);

    st_file f;
    CHECK_OK(st_read(path, &f));
    CHECK(f.n_tensors == n);
    CHECK(f.n_meta == 2);
    CHECK(st_meta(&f, "format") && !strcmp(st_meta(&f, "format"), "test2"));
    CHECK(st_meta(&f, "quote\"key") &&
          !strcmp(st_meta(&f, "quote\"key"), "line\nbreak \"quoted\" \\ caf\xc3\xa9"));
    CHECK(st_meta(&f, "absent") == NULL);
    CHECK(st_find(&f, "absent") == NULL);
    for (int i = 0; i < n; i++) {
        const st_tensor *t = st_find(&f, ts[i].name);
        CHECK(t != NULL);
        if (!t) continue;
        CHECK(t->dtype == ts[i].dt);
        CHECK(t->ndim == ts[i].ndim);
        for (int k = 0; k < ts[i].ndim; k++) CHECK(t->shape[k] == ts[i].shape[k]);
        CHECK(t->nbytes == ts[i].nbytes);
        CHECK(ts[i].nbytes == 0 || memcmp(t->data, ts[i].data, ts[i].nbytes) == 0);
        /* Our writer orders by element size: every tensor aligned to its element size. */
        size_t off = (size_t)((const unsigned char *)t->data - (const unsigned char *)f.blob);
        CHECK(off % st_dtype_size(t->dtype) == 0);
    }
    st_free(&f);

    /* Byte layout, read independently: u64 LE header length, multiple of 8, header is a
     * JSON object padded with spaces, then exactly the data bytes. */
    size_t len;
    unsigned char *raw = read_bytes(path, &len);
    CHECK(raw != NULL);
    if (raw) {
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | raw[i];
        size_t total = 0;
        for (int i = 0; i < n; i++) total += ts[i].nbytes;
        CHECK(hlen % 8 == 0);
        CHECK(len == 8 + hlen + total);
        CHECK(raw[8] == '{');
        size_t end = 8 + (size_t)hlen;
        while (end > 8 && raw[end - 1] == ' ') end--;
        CHECK(raw[end - 1] == '}');
        CHECK(8 + hlen - end < 8);
        CHECK(strstr((const char *)raw + 8, "\"__metadata__\"") != NULL);
        /* The largest-element tensors come first: the F64 data opens the data block. */
        CHECK(memcmp(raw + 8 + hlen, f64, 8) == 0 || memcmp(raw + 8 + hlen, i64, 8) == 0);
        free(raw);
    }
    fprintf(stderr, "round trip of %d tensors (all 7 dtypes, scalar, empty) ok\n", n);
}

static void test_hand_written(void) {
    /* Written per the format description, not by st_writer: no padding, unsorted keys,
     * an unaligned F32 after a U8 (readers must not assume alignment). */
    const char *json = "{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                       "\"a\":{\"data_offsets\":[1,9],\"shape\":[2],\"dtype\":\"F32\"},"
                       "\"__metadata__\":{\"k\":\"v\"}}";
    unsigned char data[9];
    const float vals[2] = {1.5f, -2.25f};
    data[0] = 7;
    memcpy(data + 1, vals, 8);
    const char *path = tmp_path("hand.safetensors");
    write_raw(path, strlen(json), json, data, sizeof(data));
    st_file f;
    CHECK_OK(st_read(path, &f));
    const st_tensor *a = st_find(&f, "a"), *b = st_find(&f, "b");
    CHECK(a && b && f.n_tensors == 2);
    if (a && b) {
        float got[2];
        memcpy(got, a->data, 8);
        CHECK(got[0] == 1.5f && got[1] == -2.25f);
        CHECK(((const uint8_t *)b->data)[0] == 7);
        CHECK(a->dtype == ST_F32 && a->ndim == 1 && a->shape[0] == 2);
    }
    CHECK(st_meta(&f, "k") && !strcmp(st_meta(&f, "k"), "v"));
    st_free(&f);
}

static void test_bad_files(void) {
    const float data[4] = {1, 2, 3, 4};
    const char *good = "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    char p[512];

    snprintf(p, sizeof(p), "%s", tmp_path("truncated.safetensors"));
    write_raw(p, strlen(good), good, data, 12);
    size_t expect_len = 8 + strlen(good) + 16;
    char needle[128];
    snprintf(needle, sizeof(needle), "truncated: expected %zu bytes, file has %zu", expect_len,
             expect_len - 4);
    expect_error("truncated data", p, PADIM_ERR_FORMAT, needle);

    snprintf(p, sizeof(p), "%s", tmp_path("short.safetensors"));
    test_write_bytes(p, "\x10\x00\x00", 3);
    expect_error("shorter than 8 bytes", p, PADIM_ERR_FORMAT, "truncated");

    snprintf(p, sizeof(p), "%s", tmp_path("badjson.safetensors"));
    const char *bad = "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]";
    write_raw(p, strlen(bad), bad, data, 16);
    expect_error("bad JSON", p, PADIM_ERR_FORMAT, "JSON");

    snprintf(p, sizeof(p), "%s", tmp_path("notobject.safetensors"));
    write_raw(p, 4, "[1] ", NULL, 0);
    expect_error("JSON array header", p, PADIM_ERR_FORMAT, "not an object");

    snprintf(p, sizeof(p), "%s", tmp_path("oob.safetensors"));
    const char *oob = "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,32]}}";
    write_raw(p, strlen(oob), oob, data, 16);
    expect_error("offsets past the end", p, PADIM_ERR_FORMAT, "truncated");

    snprintf(p, sizeof(p), "%s", tmp_path("size.safetensors"));
    const char *sz = "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}";
    write_raw(p, strlen(sz), sz, data, 12);
    expect_error("offsets vs shape", p, PADIM_ERR_FORMAT, "needs 16");

    snprintf(p, sizeof(p), "%s", tmp_path("reversed.safetensors"));
    const char *rev = "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[16,0]}}";
    write_raw(p, strlen(rev), rev, data, 16);
    expect_error("begin > end", p, PADIM_ERR_FORMAT, "data_offsets");

    snprintf(p, sizeof(p), "%s", tmp_path("overlap.safetensors"));
    const char *ov = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
    write_raw(p, strlen(ov), ov, data, 12);
    expect_error("overlapping tensors", p, PADIM_ERR_FORMAT, "overlap");

    snprintf(p, sizeof(p), "%s", tmp_path("dup.safetensors"));
    const char *dup = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
    write_raw(p, strlen(dup), dup, data, 16);
    expect_error("duplicate name", p, PADIM_ERR_FORMAT, "twice");

    snprintf(p, sizeof(p), "%s", tmp_path("dtype.safetensors"));
    const char *dt = "{\"x\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}";
    write_raw(p, strlen(dt), dt, data, 4);
    expect_error("unknown dtype", p, PADIM_ERR_FORMAT, "F8_E4M3");

    snprintf(p, sizeof(p), "%s", tmp_path("negshape.safetensors"));
    const char *ns = "{\"x\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}";
    write_raw(p, strlen(ns), ns, data, 16);
    expect_error("negative dimension", p, PADIM_ERR_FORMAT, "shape");

    snprintf(p, sizeof(p), "%s", tmp_path("trailing.safetensors"));
    write_raw(p, strlen(good), good, data, 16);
    FILE *fa = fopen(p, "ab");
    fputs("junk", fa);
    fclose(fa);
    expect_error("trailing bytes", p, PADIM_ERR_FORMAT, "after the last tensor");

    snprintf(p, sizeof(p), "%s", tmp_path("hlen_big.safetensors"));
    write_raw(p, strlen(good) + 100, good, data, 16);
    expect_error("header length too large", p, PADIM_ERR_FORMAT, "truncated");

    snprintf(p, sizeof(p), "%s", tmp_path("hlen_small.safetensors"));
    write_raw(p, strlen(good) - 10, good, data, 16);
    expect_error("header length too small", p, PADIM_ERR_FORMAT, "JSON");

    snprintf(p, sizeof(p), "%s", tmp_path("hlen_huge.safetensors"));
    write_raw(p, (uint64_t)1 << 62, good, data, 16);
    expect_error("header length absurd", p, PADIM_ERR_FORMAT, "implausible");

    snprintf(p, sizeof(p), "%s", tmp_path("meta.safetensors"));
    const char *mt = "{\"__metadata__\":{\"k\":3}}";
    write_raw(p, strlen(mt), mt, NULL, 0);
    expect_error("non-string metadata", p, PADIM_ERR_FORMAT, "'k'");

    snprintf(p, sizeof(p), "%s", tmp_path("does_not_exist.safetensors"));
    expect_error("missing file", p, PADIM_ERR_IO, NULL);
}

static void test_failed_write(void) {
    char sub[512], target[600];
    snprintf(sub, sizeof(sub), "%s/w", dir);
    CHECK(mkdir(sub, 0700) == 0);
    const float x[2] = {1, 2};
    const int64_t shape[1] = {2};
    st_writer *w;
    CHECK_OK(st_writer_create(&w));
    CHECK_OK(st_writer_add(w, "x", ST_F32, 1, shape, x));

    /* Into a missing directory: IO error naming the path; nothing written. */
    snprintf(target, sizeof(target), "%s/missing/out.safetensors", sub);
    padim_status s = st_writer_write(w, target);
    fprintf(stderr, "  %-28s -> %s: %s\n", "write into missing dir", padim_status_name(s),
            padim_last_error());
    CHECK(s == PADIM_ERR_IO && strstr(padim_last_error(), target));
    CHECK(test_count_entries(sub) == 0);

    /* Onto an existing directory: the rename fails, the temporary file is removed. */
    snprintf(target, sizeof(target), "%s/isdir", sub);
    CHECK(mkdir(target, 0700) == 0);
    s = st_writer_write(w, target);
    fprintf(stderr, "  %-28s -> %s: %s\n", "write onto a directory", padim_status_name(s),
            padim_last_error());
    CHECK(s == PADIM_ERR_IO && strstr(padim_last_error(), target));
    CHECK(test_count_entries(sub) == 1);
    CHECK(test_count_entries(target) == 0);
    rmdir(target);

    /* A successful write replaces an existing file and leaves no temporary. */
    snprintf(target, sizeof(target), "%s/ok.safetensors", sub);
    test_write_bytes(target, "old", 3);
    CHECK_OK(st_writer_write(w, target));
    CHECK(test_count_entries(sub) == 1);
    st_file f;
    CHECK_OK(st_read(target, &f));
    if (f.n_tensors == 1) CHECK(memcmp(f.tensors[0].data, x, 8) == 0);
    st_free(&f);
    remove(target);
    rmdir(sub);
    st_writer_free(w);
}

/* IEEE binary16 value of h, from the definition. */
static double half_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static void test_f16(void) {
    /* half -> float: every finite half against the definition; round trip is identity. */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = padim_f16_to_f32((uint16_t)h);
        double ref = half_value((uint16_t)h);
        if (isnan(ref)) {
            bad += !isnan(f) || !isnan(padim_f16_to_f32(padim_f32_to_f16(f)));
            continue;
        }
        bad += (double)f != ref || !signbit(f) != !signbit(ref);
        bad += padim_f32_to_f16(f) != (uint16_t)h;
    }
    CHECK(bad == 0);

    /* float -> half, known values (IEEE 754 round to nearest, ties to even). */
    struct {
        float f;
        uint16_t h;
    } known[] = {
        {0.0f, 0x0000},          {-0.0f, 0x8000},         {1.0f, 0x3c00},
        {-2.0f, 0xc000},         {0.1f, 0x2e66},          {65504.0f, 0x7bff},
        {65519.0f, 0x7bff},      {65520.0f, 0x7c00},      {1e6f, 0x7c00},
        {-1e6f, 0xfc00},         {INFINITY, 0x7c00},      {0x1p-14f, 0x0400},
        {0x1p-24f, 0x0001},      {0x1p-25f, 0x0000},      {0x1.8p-25f, 0x0001},
        {0x1.8p-24f, 0x0002},    {0x1.002p0f, 0x3c00},    {0x1.006p0f, 0x3c02},
        {0x1.0021p0f, 0x3c01},   {0x1.ffep-15f, 0x0400},  {0x1p-26f, 0x0000},
        {0x1.ff4p-15f, 0x03fe},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        uint16_t got = padim_f32_to_f16(known[i].f);
        if (got != known[i].h) {
            fprintf(stderr, "f32_to_f16(%a) = 0x%04x, expected 0x%04x\n", (double)known[i].f, got,
                    known[i].h);
            test_failures++;
        }
    }
    CHECK((padim_f32_to_f16(NAN) & 0x7c00) == 0x7c00 && (padim_f32_to_f16(NAN) & 0x3ff) != 0);

    /* Random floats across the half range: the result is a nearest half, ties to even. */
    uint32_t state = 12345;
    int wrong = 0;
    for (int i = 0; i < 200000; i++) {
        state = state * 1664525u + 1013904223u;
        float f = ldexpf((float)(state >> 8) / 16777216.0f, (int)(state % 44) - 28);
        if (state & 1) f = -f;
        uint16_t h = padim_f32_to_f16(f);
        double v = half_value(h), e = fabs((double)f - v);
        for (int d = -1; d <= 1; d += 2) {
            uint16_t n = (uint16_t)(h + d);
            if ((n & 0x7fff) > 0x7c00 || (n ^ h) & 0x8000) continue;
            double en = fabs((double)f - half_value(n));
            if (en < e || (en == e && (h & 1))) wrong++;
        }
    }
    CHECK(wrong == 0);
    fprintf(stderr, "f16: 65536 halves exact, %d known roundings, 200000 random nearest-even ok\n",
            (int)(sizeof(known) / sizeof(known[0])));
}

int main(void) {
    snprintf(dir, sizeof(dir), "/tmp/padim_test_st_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_hand_written();
    test_bad_files();
    test_failed_write();
    test_f16();
    /* Remove what the tests wrote (only ours: files directly in our mkdtemp folder). */
    DIR *dp = opendir(dir);
    struct dirent *e;
    while (dp && (e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) remove(tmp_path(e->d_name));
    if (dp) closedir(dp);
    rmdir(dir);
    return test_finish("test_safetensors");
}
