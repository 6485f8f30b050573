/*
 * fuzz_model.c - libFuzzer target over the model file loader (padim_model_load: the
 * safetensors container, then every metadata field, derived size, tensor dtype and shape,
 * channel indices, finiteness and the backbone tensors). A model that loads must be
 * consistent enough to describe (padim_model_get_info) and free. Seeds:
 * tests/fuzz/make_corpus.py (small models of a tiny configuration, whole and damaged).
 */
#include "padim.h"

#include "fuzz_util.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_input("input.padim", data, size);
    padim_model *m = NULL;
    if (padim_model_load(path, &m) == PADIM_OK) {
        padim_model_info info;
        padim_model_get_info(m, &info);
        if (info.input_size < 16 || info.config.d < 1 || info.config.d > info.channels_total) abort();
        for (int i = 0; i < info.config.d; i++)
            if (info.idx[i] < 0 || info.idx[i] >= info.channels_total) abort();
        padim_model_free(m);
    } else if (m) {
        abort(); /* a failed load returns no model */
    }
    return 0;
}
