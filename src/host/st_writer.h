/*
 * st_writer.h - write safetensors files (st_writer.c); the reader and the dtypes are in
 * safetensors.h.
 */
#ifndef PADIM_ST_WRITER_H
#define PADIM_ST_WRITER_H

#include "safetensors.h"

/* Writer: collect tensors (data pointers borrowed until st_writer_write) and metadata,
 * then write atomically to path (atomic_file.h: temporary beside it, fsync, rename). */
typedef struct st_writer st_writer;
padim_status st_writer_create(st_writer **out);
padim_status st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim,
                           const int64_t *shape, const void *data);
padim_status st_writer_meta(st_writer *w, const char *key, const char *value);
padim_status st_writer_write(st_writer *w, const char *path);
void st_writer_free(st_writer *w);

#endif
