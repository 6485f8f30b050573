/*
 * fuzz_safetensors.c - libFuzzer target over the safetensors reader (st_read: the
 * 8-byte header length, the JSON header through cJSON, dtypes, shapes, offsets, the data
 * block by mmap and, on every other input, by read into memory). A file that reads must
 * keep every tensor inside the data it claims (checked by touching each tensor's bytes).
 * Seeds: tests/fuzz/make_corpus.py.
 */
#include "padim.h"
#include "safetensors.h"

#include "fuzz_util.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static unsigned calls;
    const char *path = fuzz_write_input("input.safetensors", data, size);
    /* both read paths: the map and the in-memory fallback */
    if (++calls & 1) setenv("PADIM_NO_MMAP", "1", 1);
    else unsetenv("PADIM_NO_MMAP");
    st_file f;
    if (st_read(path, &f) == PADIM_OK) {
        unsigned sum = 0;
        for (int i = 0; i < f.n_tensors; i++) {
            const st_tensor *t = &f.tensors[i];
            if (st_find(&f, t->name) == NULL) abort();
            const unsigned char *b = t->data;
            if (t->nbytes) sum += b[0] + b[t->nbytes - 1];
            size_t expect = st_dtype_size(t->dtype);
            for (int d = 0; d < t->ndim; d++) expect *= (size_t)t->shape[d];
            if (expect != t->nbytes) abort();
        }
        for (int i = 0; i < f.n_meta; i++)
            if (st_meta(&f, f.meta_keys[i]) == NULL) abort();
        (void)sum;
        st_free(&f);
    }
    return 0;
}
