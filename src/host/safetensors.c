/*
 * safetensors.c - reader of safetensors files (see safetensors.h; the writer is
 * st_writer.c, the fp16 conversions half.c).
 *
 * Layout: u64 little-endian header length N, N bytes of JSON (padded with spaces so the
 * data block starts at a multiple of 8), then the data block; every tensor's
 * "data_offsets" [begin, end) are relative to the data block.
 *
 * Reading maps the whole file read-only (falling back to reading it into one malloc'ed
 * block): weights and models are read in full anyway, and a map lets the kernel drop the
 * pages while the loader keeps its own copy. Tensor data pointers are into the map or the
 * block; the writer orders tensors by
 * element size (largest first) as the Python safetensors library does, so in files we
 * write every tensor is aligned to its element size. Files from elsewhere may not be:
 * readers copy with memcpy rather than dereference a cast pointer.
 */
#include "safetensors.h"

#include "common.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The Python library refuses headers above 100 MB; so do we (a corrupt length would
 * otherwise ask for an absurd allocation). */
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
/* JSON numbers are doubles: integers above 2^53 are not exact. */
#define ST_MAX_JSON_INT 9007199254740992.0

static const char *const dtype_names[] = {"F32", "F16", "BF16", "F64", "I32", "I64", "U8"};
static const size_t dtype_sizes[] = {4, 2, 2, 8, 4, 8, 1};
#define ST_N_DTYPES ((int)(sizeof(dtype_sizes) / sizeof(dtype_sizes[0])))

const char *st_dtype_name(st_dtype d) {
    return (int)d >= 0 && (int)d < ST_N_DTYPES ? dtype_names[d] : "?";
}

size_t st_dtype_size(st_dtype d) { return (int)d >= 0 && (int)d < ST_N_DTYPES ? dtype_sizes[d] : 0; }

void st_format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, ")");
}

static int dtype_parse(const char *s, st_dtype *out) {
    for (int i = 0; i < ST_N_DTYPES; i++)
        if (!strcmp(s, dtype_names[i])) {
            *out = (st_dtype)i;
            return 1;
        }
    return 0;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ---------------------------------------------------------------- reader */

void st_free(st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->blob);
    if (f->map) munmap(f->map, f->map_bytes);
    free(f->path);
    memset(f, 0, sizeof(*f));
}

const st_tensor *st_find(const st_file *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const char *st_meta(const st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
    return NULL;
}

/* A JSON number that is a non-negative integer exactly representable. */
static int json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return 0;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= ST_MAX_JSON_INT) || v != floor(v)) return 0;
    *out = (uint64_t)v;
    return 1;
}

static int read_exact(FILE *fp, void *buf, size_t n) {
    /* fread of more than 2 GB in one call is fine on glibc, but loop on short reads. */
    unsigned char *p = buf;
    while (n > 0) {
        size_t got = fread(p, 1, n, fp);
        if (got == 0) return 0;
        p += got;
        n -= got;
    }
    return 1;
}

typedef struct span {
    uint64_t begin, end;
    int index;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

/* Parse the header JSON into f's tensor and metadata lists (data pointers are set once
 * the data block is read). *data_end: the largest tensor end offset. */
static padim_status parse_header(const char *path, const char *json, size_t json_len, st_file *f,
                                 uint64_t **offsets, uint64_t *data_end) {
    const char *err_at = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, json_len, &err_at, 0);
    if (!root) {
        size_t pos = err_at && err_at >= json ? (size_t)(err_at - json) : 0;
        return padim_fail(PADIM_ERR_FORMAT,
                          "%s: invalid safetensors header: JSON parse error near byte %zu of the "
                          "%zu-byte header; the file is corrupt or not a safetensors file",
                          path, pos, json_len);
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return padim_fail(PADIM_ERR_FORMAT,
                          "%s: invalid safetensors header: the JSON is not an object; the file "
                          "is corrupt or not a safetensors file",
                          path);
    }
    padim_status st = PADIM_OK;
    int n_children = cJSON_GetArraySize(root);
    f->tensors = calloc((size_t)n_children + 1, sizeof(st_tensor));
    *offsets = calloc((size_t)n_children * 2 + 1, sizeof(uint64_t));
    if (!f->tensors || !*offsets) {
        cJSON_Delete(root);
        return padim_fail(PADIM_ERR_NOMEM, "%s: out of memory reading the header", path);
    }
    *data_end = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        const char *name = item->string;
        if (!strcmp(name, "__metadata__")) {
            if (!cJSON_IsObject(item)) {
                st = padim_fail(PADIM_ERR_FORMAT, "%s: header: __metadata__ is not an object", path);
                break;
            }
            int nm = cJSON_GetArraySize(item);
            f->meta_keys = calloc((size_t)nm + 1, sizeof(char *));
            f->meta_values = calloc((size_t)nm + 1, sizeof(char *));
            if (!f->meta_keys || !f->meta_values) {
                st = padim_fail(PADIM_ERR_NOMEM, "%s: out of memory reading the header", path);
                break;
            }
            const cJSON *kv;
            cJSON_ArrayForEach(kv, item) {
                if (!cJSON_IsString(kv)) {
                    st = padim_fail(PADIM_ERR_FORMAT,
                                    "%s: header: __metadata__ value of '%s' is not a string", path,
                                    kv->string);
                    break;
                }
                f->meta_keys[f->n_meta] = dup_str(kv->string);
                f->meta_values[f->n_meta] = dup_str(kv->valuestring);
                f->n_meta++;
                if (!f->meta_keys[f->n_meta - 1] || !f->meta_values[f->n_meta - 1]) {
                    st = padim_fail(PADIM_ERR_NOMEM, "%s: out of memory reading the header", path);
                    break;
                }
            }
            if (st != PADIM_OK) break;
            continue;
        }
        st_tensor *t = &f->tensors[f->n_tensors];
        t->name = dup_str(name);
        if (!t->name) {
            st = padim_fail(PADIM_ERR_NOMEM, "%s: out of memory reading the header", path);
            break;
        }
        f->n_tensors++;
        const cJSON *jd = cJSON_GetObjectItemCaseSensitive(item, "dtype");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(item, "shape");
        const cJSON *jo = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
        if (!cJSON_IsObject(item) || !cJSON_IsString(jd) || !cJSON_IsArray(js) ||
            !cJSON_IsArray(jo)) {
            st = padim_fail(PADIM_ERR_FORMAT,
                            "%s: header: tensor '%s' needs \"dtype\" (string), \"shape\" (array) "
                            "and \"data_offsets\" (array)",
                            path, name);
            break;
        }
        if (!dtype_parse(jd->valuestring, &t->dtype)) {
            st = padim_fail(PADIM_ERR_FORMAT,
                            "%s: header: tensor '%s' has unsupported dtype '%s' (supported: F32, "
                            "F16, BF16, F64, I32, I64, U8)",
                            path, name, jd->valuestring);
            break;
        }
        int ndim = cJSON_GetArraySize(js);
        if (ndim > 8) {
            st = padim_fail(PADIM_ERR_FORMAT, "%s: header: tensor '%s' has %d dimensions (at most 8)",
                            path, name, ndim);
            break;
        }
        t->ndim = ndim;
        /* Element count with an overflow guard: the byte count must fit the file anyway. */
        uint64_t count = 1;
        int d = 0, overflow = 0;
        const cJSON *dim;
        cJSON_ArrayForEach(dim, js) {
            uint64_t v;
            if (!json_uint(dim, &v)) {
                st = padim_fail(PADIM_ERR_FORMAT,
                                "%s: header: tensor '%s': shape entry %d is not a non-negative "
                                "integer",
                                path, name, d);
                break;
            }
            t->shape[d++] = (int64_t)v;
            if (v != 0 && count > (UINT64_MAX / 16) / v) overflow = 1;
            else count *= v;
        }
        if (st != PADIM_OK) break;
        uint64_t b0, b1;
        if (cJSON_GetArraySize(jo) != 2 || !json_uint(cJSON_GetArrayItem(jo, 0), &b0) ||
            !json_uint(cJSON_GetArrayItem(jo, 1), &b1) || b1 < b0) {
            st = padim_fail(PADIM_ERR_FORMAT,
                            "%s: header: tensor '%s': data_offsets must be [begin, end] with "
                            "0 <= begin <= end",
                            path, name);
            break;
        }
        uint64_t expect = overflow ? UINT64_MAX : count * st_dtype_size(t->dtype);
        if (b1 - b0 != expect) {
            char shape[160];
            st_format_shape(shape, sizeof(shape), t->ndim, t->shape);
            st = padim_fail(PADIM_ERR_FORMAT,
                            "%s: header: tensor '%s': data_offsets [%llu, %llu] span %llu bytes "
                            "but shape %s x %s needs %llu",
                            path, name, (unsigned long long)b0, (unsigned long long)b1,
                            (unsigned long long)(b1 - b0), shape, st_dtype_name(t->dtype),
                            (unsigned long long)expect);
            break;
        }
        t->nbytes = (size_t)(b1 - b0);
        (*offsets)[2 * (f->n_tensors - 1)] = b0;
        (*offsets)[2 * (f->n_tensors - 1) + 1] = b1;
        if (b1 > *data_end) *data_end = b1;
    }
    cJSON_Delete(root);
    return st;
}

/* Offsets must not overlap; names must be unique. */
static padim_status check_layout(const char *path, st_file *f, const uint64_t *offsets) {
    padim_status st = PADIM_OK;
    int n = f->n_tensors;
    span *sp = calloc((size_t)n + 1, sizeof(span));
    st_tensor *sorted = calloc((size_t)n + 1, sizeof(st_tensor));
    if (!sp || !sorted) {
        free(sp);
        free(sorted);
        return padim_fail(PADIM_ERR_NOMEM, "%s: out of memory reading the header", path);
    }
    for (int i = 0; i < n; i++) {
        sp[i].begin = offsets[2 * i];
        sp[i].end = offsets[2 * i + 1];
        sp[i].index = i;
    }
    qsort(sp, (size_t)n, sizeof(span), span_cmp);
    for (int i = 1; i < n && st == PADIM_OK; i++)
        if (sp[i].begin < sp[i - 1].end)
            st = padim_fail(PADIM_ERR_FORMAT,
                            "%s: header: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap",
                            path, f->tensors[sp[i - 1].index].name,
                            (unsigned long long)sp[i - 1].begin, (unsigned long long)sp[i - 1].end,
                            f->tensors[sp[i].index].name, (unsigned long long)sp[i].begin,
                            (unsigned long long)sp[i].end);
    if (n > 0) memcpy(sorted, f->tensors, (size_t)n * sizeof(st_tensor));
    qsort(sorted, (size_t)n, sizeof(st_tensor), name_cmp);
    for (int i = 1; i < n && st == PADIM_OK; i++)
        if (!strcmp(sorted[i].name, sorted[i - 1].name))
            st = padim_fail(PADIM_ERR_FORMAT, "%s: header: tensor '%s' appears twice", path,
                            sorted[i].name);
    free(sp);
    free(sorted);
    return st;
}

padim_status st_read(const char *path, st_file *out) {
    memset(out, 0, sizeof(*out));
    FILE *fp = fopen(path, "rb");
    if (!fp) return padim_fail(PADIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return padim_fail(PADIM_ERR_IO, "%s: not a regular file", path);
    }
    const uint64_t file_size = (uint64_t)sb.st_size;
    padim_status st = PADIM_OK;
    char *json = NULL;
    uint64_t *offsets = NULL;
    out->path = dup_str(path);
    if (!out->path) {
        fclose(fp);
        return padim_fail(PADIM_ERR_NOMEM, "%s: out of memory", path);
    }

    unsigned char len8[8];
    if (file_size < 8 || !read_exact(fp, len8, 8)) {
        st = padim_fail(PADIM_ERR_FORMAT,
                        "%s: truncated: expected at least 8 bytes (header length), file has %llu",
                        path, (unsigned long long)file_size);
        goto done;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | len8[i];
    if (hlen < 2 || hlen > ST_MAX_HEADER) {
        st = padim_fail(PADIM_ERR_FORMAT,
                        "%s: header length %llu is implausible (expected 2 .. %llu bytes); the file "
                        "is corrupt or not a safetensors file",
                        path, (unsigned long long)hlen, (unsigned long long)ST_MAX_HEADER);
        goto done;
    }
    if (8 + hlen > file_size) {
        st = padim_fail(PADIM_ERR_FORMAT,
                        "%s: truncated: expected at least %llu bytes (8 + header length %llu), "
                        "file has %llu",
                        path, (unsigned long long)(8 + hlen), (unsigned long long)hlen,
                        (unsigned long long)file_size);
        goto done;
    }
    json = malloc((size_t)hlen + 1);
    if (!json) {
        st = padim_fail(PADIM_ERR_NOMEM, "%s: out of memory for a %llu-byte header", path,
                        (unsigned long long)hlen);
        goto done;
    }
    if (!read_exact(fp, json, (size_t)hlen)) {
        st = padim_fail(PADIM_ERR_IO, "%s: read error in the header: %s", path, strerror(errno));
        goto done;
    }
    json[hlen] = '\0';
    uint64_t data_end = 0;
    st = parse_header(path, json, (size_t)hlen, out, &offsets, &data_end);
    if (st != PADIM_OK) goto done;
    st = check_layout(path, out, offsets);
    if (st != PADIM_OK) goto done;
    const uint64_t expect = 8 + hlen + data_end;
    if (file_size < expect) {
        st = padim_fail(PADIM_ERR_FORMAT, "%s: truncated: expected %llu bytes, file has %llu", path,
                        (unsigned long long)expect, (unsigned long long)file_size);
        goto done;
    }
    if (file_size > expect) {
        st = padim_fail(PADIM_ERR_FORMAT,
                        "%s: %llu bytes after the last tensor (expected %llu bytes, file has "
                        "%llu): data_offsets do not match the data block",
                        path, (unsigned long long)(file_size - expect), (unsigned long long)expect,
                        (unsigned long long)file_size);
        goto done;
    }
    out->blob_bytes = (size_t)data_end;
    /* Map the file rather than copy it: a model's factor is up to 2.5 GB (WRN50), and the
     * loader copies what it keeps, so a private read-only map avoids holding it twice.
     * Reading into memory stays as the fallback (pipes, file systems without mmap);
     * PADIM_NO_MMAP=1 forces it (the tests run both paths). */
    const char *no_mmap = getenv("PADIM_NO_MMAP");
    if (data_end > 0 && !(no_mmap && no_mmap[0] == '1')) {
        void *map = mmap(NULL, (size_t)file_size, PROT_READ, MAP_PRIVATE, fileno(fp), 0);
        if (map != MAP_FAILED) {
            out->map = map;
            out->map_bytes = (size_t)file_size;
            for (int i = 0; i < out->n_tensors; i++)
                out->tensors[i].data = (const unsigned char *)map + 8 + hlen + offsets[2 * i];
            goto done;
        }
    }
    out->blob = malloc(out->blob_bytes ? out->blob_bytes : 1);
    if (!out->blob) {
        st = padim_fail(PADIM_ERR_NOMEM, "%s: out of host memory for the %zu-byte data block", path,
                        out->blob_bytes);
        goto done;
    }
    if (!read_exact(fp, out->blob, out->blob_bytes)) {
        st = padim_fail(PADIM_ERR_IO, "%s: read error in the data block: %s", path,
                        ferror(fp) ? strerror(errno) : "file shrank while reading");
        goto done;
    }
    for (int i = 0; i < out->n_tensors; i++)
        out->tensors[i].data = (const unsigned char *)out->blob + offsets[2 * i];

done:
    fclose(fp);
    free(json);
    free(offsets);
    if (st != PADIM_OK) st_free(out);
    return st;
}

