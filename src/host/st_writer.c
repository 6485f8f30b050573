/*
 * st_writer.c - the safetensors writer (st_writer.h): tensors ordered by element size
 * (largest first, as the Python safetensors library does, so every tensor is aligned to
 * its element size), the JSON header built with cJSON and padded to a multiple of 8, the
 * whole file written through the atomic writer (atomic_file.h).
 */
#include "st_writer.h"

#include "atomic_file.h"
#include "common.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct st_entry {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[8];
    size_t nbytes;
    const void *data;
} st_entry;

struct st_writer {
    int n, cap;
    st_entry *entries;
    int n_meta, cap_meta;
    char **keys, **values;
};

padim_status st_writer_create(st_writer **out) {
    return padim_calloc((void **)out, sizeof(st_writer), "safetensors writer");
}

void st_writer_free(st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->entries[i].name);
    for (int i = 0; i < w->n_meta; i++) {
        free(w->keys[i]);
        free(w->values[i]);
    }
    free(w->entries);
    free(w->keys);
    free(w->values);
    free(w);
}

padim_status st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim,
                           const int64_t *shape, const void *data) {
    if (!name || !*name || !strcmp(name, "__metadata__") || ndim < 0 || ndim > 8 ||
        !st_dtype_size(dtype))
        return padim_fail(PADIM_ERR_ARG, "safetensors writer: invalid tensor '%s' (ndim %d)",
                          name ? name : "(null)", ndim);
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->entries[i].name, name))
            return padim_fail(PADIM_ERR_ARG, "safetensors writer: tensor '%s' added twice", name);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return padim_fail(PADIM_ERR_ARG, "safetensors writer: tensor '%s': negative dimension",
                              name);
        count *= (size_t)shape[i];
    }
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        st_entry *e = realloc(w->entries, (size_t)cap * sizeof(st_entry));
        if (!e) return padim_fail(PADIM_ERR_NOMEM, "safetensors writer: out of memory");
        w->entries = e;
        w->cap = cap;
    }
    st_entry *e = &w->entries[w->n];
    memset(e, 0, sizeof(*e));
    e->name = strdup(name);
    if (!e->name) return padim_fail(PADIM_ERR_NOMEM, "safetensors writer: out of memory");
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->nbytes = count * st_dtype_size(dtype);
    e->data = data;
    w->n++;
    return PADIM_OK;
}

padim_status st_writer_meta(st_writer *w, const char *key, const char *value) {
    for (int i = 0; i < w->n_meta; i++)
        if (!strcmp(w->keys[i], key)) {
            char *v = strdup(value);
            if (!v) return padim_fail(PADIM_ERR_NOMEM, "safetensors writer: out of memory");
            free(w->values[i]);
            w->values[i] = v;
            return PADIM_OK;
        }
    if (w->n_meta == w->cap_meta) {
        int cap = w->cap_meta ? 2 * w->cap_meta : 16;
        char **k = realloc(w->keys, (size_t)cap * sizeof(char *));
        if (!k) return padim_fail(PADIM_ERR_NOMEM, "safetensors writer: out of memory");
        w->keys = k;
        char **v = realloc(w->values, (size_t)cap * sizeof(char *));
        if (!v) return padim_fail(PADIM_ERR_NOMEM, "safetensors writer: out of memory");
        w->values = v;
        w->cap_meta = cap;
    }
    w->keys[w->n_meta] = strdup(key);
    w->values[w->n_meta] = strdup(value);
    w->n_meta++;
    if (!w->keys[w->n_meta - 1] || !w->values[w->n_meta - 1])
        return padim_fail(PADIM_ERR_NOMEM, "safetensors writer: out of memory");
    return PADIM_OK;
}

/* Larger elements first, then by name: every offset is a multiple of its element size
 * (the order the Python safetensors library writes). */
static int entry_cmp(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    size_t sx = st_dtype_size(x->dtype), sy = st_dtype_size(y->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Header JSON padded with spaces to a multiple of 8 bytes. Integers go in as raw JSON so
 * cJSON does not print large offsets through a double format. */
static padim_status build_header(const st_writer *w, char **out, size_t *out_len) {
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && w->n_meta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (int i = 0; ok && i < w->n_meta; i++)
            ok = cJSON_AddStringToObject(meta, w->keys[i], w->values[i]) != NULL;
    }
    size_t offset = 0;
    char num[32];
    for (int i = 0; ok && i < w->n; i++) {
        const st_entry *e = &w->entries[i];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON *shape = t ? cJSON_AddArrayToObject(t, "shape") : NULL;
        ok = t && cJSON_AddStringToObject(t, "dtype", st_dtype_name(e->dtype)) && shape;
        for (int k = 0; ok && k < e->ndim; k++) {
            snprintf(num, sizeof(num), "%lld", (long long)e->shape[k]);
            cJSON *r = cJSON_CreateRaw(num);
            ok = r && cJSON_AddItemToArray(shape, r);
        }
        cJSON *offs = ok ? cJSON_AddArrayToObject(t, "data_offsets") : NULL;
        ok = ok && offs;
        for (int k = 0; ok && k < 2; k++) {
            snprintf(num, sizeof(num), "%zu", k == 0 ? offset : offset + e->nbytes);
            cJSON *r = cJSON_CreateRaw(num);
            ok = r && cJSON_AddItemToArray(offs, r);
        }
        offset += e->nbytes;
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) return padim_fail(PADIM_ERR_NOMEM, "safetensors writer: out of memory for the header");
    size_t len = strlen(json), padded = (len + 7) / 8 * 8;
    char *buf = malloc(padded);
    if (!buf) {
        cJSON_free(json);
        return padim_fail(PADIM_ERR_NOMEM, "safetensors writer: out of memory for the header");
    }
    memcpy(buf, json, len);
    memset(buf + len, ' ', padded - len);
    cJSON_free(json);
    *out = buf;
    *out_len = padded;
    return PADIM_OK;
}

padim_status st_writer_write(st_writer *w, const char *path) {
    qsort(w->entries, (size_t)w->n, sizeof(st_entry), entry_cmp);
    char *header = NULL;
    size_t hlen = 0;
    PADIM_TRY(build_header(w, &header, &hlen));

    padim_afile a;
    padim_status st = padim_afile_open(&a, path);
    if (st == PADIM_OK) {
        unsigned char len8[8];
        for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
        st = padim_afile_write(&a, len8, 8);
        if (st == PADIM_OK) st = padim_afile_write(&a, header, hlen);
        for (int i = 0; st == PADIM_OK && i < w->n; i++)
            st = padim_afile_write(&a, w->entries[i].data, (size_t)w->entries[i].nbytes);
        st = padim_afile_commit(&a); /* reports a remembered write error, removes the temporary */
    }
    free(header);
    return st;
}

