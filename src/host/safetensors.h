/*
 * safetensors.h - read safetensors files (st_writer.h writes them), the format timm and Hugging Face
 * publish weights in: 8-byte little-endian header length, a JSON header parsed with
 * cJSON ({"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {str: str}}), then
 * the raw little-endian tensor bytes. Used for backbone weights and for model files.
 */
#ifndef PADIM_SAFETENSORS_H
#define PADIM_SAFETENSORS_H

#include "padim.h"

#include <stddef.h>
#include <stdint.h>

typedef enum st_dtype { ST_F32 = 0, ST_F16, ST_BF16, ST_F64, ST_I32, ST_I64, ST_U8 } st_dtype;

typedef struct st_tensor {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[8];
    size_t nbytes;
    const void *data; /* points into the file's data block (owned by st_file) */
} st_tensor;

typedef struct st_file {
    char *path;
    int n_tensors;
    st_tensor *tensors;
    int n_meta;
    char **meta_keys, **meta_values;
    void *blob; /* whole data block when read into memory, else NULL */
    size_t blob_bytes;
    void *map;  /* the whole file when memory-mapped (read-only), else NULL */
    size_t map_bytes;
} st_file;

/* Read and validate a whole file: header JSON, dtypes, offsets in bounds and not
 * overlapping, file length equal to the header's end (truncation -> PADIM_ERR_FORMAT
 * naming the path, expected and actual size). */
padim_status st_read(const char *path, st_file *out);
void st_free(st_file *f);
/* NULL when absent. */
const st_tensor *st_find(const st_file *f, const char *name);
const char *st_meta(const st_file *f, const char *key);
const char *st_dtype_name(st_dtype d);
size_t st_dtype_size(st_dtype d);
/* "(128, 64, 3, 3)" into buf (truncated to cap), for error messages. */
void st_format_shape(char *buf, size_t cap, int ndim, const int64_t *shape);

#endif
