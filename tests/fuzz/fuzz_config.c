/*
 * fuzz_config.c - libFuzzer target over YAML configs (padim_config_load through libyaml:
 * flat key: value mappings, every key's range, the relative weights path). A config that
 * loads must validate; a failed load must leave the config untouched. Seeds:
 * tests/fuzz/make_corpus.py (the YAML files of configs/ and variants).
 */
#include "padim.h"

#include "fuzz_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_input("input.yaml", data, size);
    padim_config cfg, before;
    padim_config_default(&cfg, PADIM_BACKBONE_RESNET18, PADIM_PRESET_ANOMALIB);
    before = cfg;
    if (padim_config_load(path, &cfg) == PADIM_OK) {
        if (padim_config_validate(&cfg) != PADIM_OK) abort();
        if (memchr(cfg.weights, 0, sizeof(cfg.weights)) == NULL) abort();
    } else if (memcmp(&cfg, &before, sizeof(cfg)) != 0) {
        abort();
    }
    return 0;
}
