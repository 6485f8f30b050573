/*
 * test_rng.c - the channel-subset generator (src/host/rng.c) against CPython's `random`:
 * the first values listed in REFERENCE.md (hard-coded), and whole sequences dumped by
 * tests/ref_ops.py with Python's own random (raw 32-bit outputs, _randbelow, sample with
 * both the pool and the set method). Every comparison is exact.
 */
#include "common.h"
#include "rng.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

static void check_first12(uint32_t seed, int n, int k, const int32_t *want) {
    int32_t *got = calloc((size_t)k, sizeof(*got));
    CHECK_OK(padim_sample_channels(seed, n, k, got));
    for (int i = 0; i < 12; i++)
        if (got[i] != want[i]) {
            fprintf(stderr, "seed %u n %d k %d: idx[%d] = %d, REFERENCE.md says %d\n", seed, n, k,
                    i, got[i], want[i]);
            test_failures++;
        }
    free(got);
}

static void check_sample_golden(uint32_t seed, int n, int k) {
    char name[128];
    snprintf(name, sizeof(name), "ops/rng_sample_%u_%d_%d.npy", seed, n, k);
    npy_array ref;
    if (npy_load(golden_path(name), &ref) != 0) {
        test_failures++;
        return;
    }
    CHECK(ref.count == k);
    int32_t *got = calloc((size_t)k, sizeof(*got));
    CHECK_OK(padim_sample_channels(seed, n, k, got));
    int bad = 0;
    for (int i = 0; i < k && i < ref.count; i++)
        if (got[i] != (int32_t)ref.data[i]) {
            if (!bad)
                fprintf(stderr, "%s: first difference at %d: %d vs Python %d\n", name, i, got[i],
                        (int32_t)ref.data[i]);
            bad++;
        }
    CHECK(bad == 0);
    free(got);
    npy_free(&ref);
}

static void check_raw_golden(uint32_t seed) {
    char name[128];
    snprintf(name, sizeof(name), "ops/rng_raw_%u.npy", seed);
    npy_array ref;
    if (npy_load(golden_path(name), &ref) != 0) {
        test_failures++;
        return;
    }
    padim_mt19937 r;
    padim_mt_seed(&r, seed);
    int bad = 0;
    for (int64_t i = 0; i < ref.count; i++) { /* 1500 > 624: crosses a state refill */
        uint32_t v = padim_mt_next(&r);
        if (v != (uint32_t)ref.data[i] && bad++ == 0)
            fprintf(stderr, "%s: first difference at %lld: %u vs Python %u\n", name,
                    (long long)i, v, (uint32_t)ref.data[i]);
    }
    CHECK(bad == 0);
    npy_free(&ref);
}

static void check_randbelow_golden(void) {
    npy_array ref;
    if (npy_load(golden_path("ops/rng_randbelow_123.npy"), &ref) != 0) {
        test_failures++;
        return;
    }
    padim_mt19937 r;
    padim_mt_seed(&r, 123);
    int bad = 0;
    for (int64_t i = 0; i < ref.shape[0]; i++) { /* rows (m, python's _randbelow(m)) */
        uint32_t m = (uint32_t)ref.data[2 * i], want = (uint32_t)ref.data[2 * i + 1];
        uint32_t got = padim_mt_randbelow(&r, m);
        if (got != want && bad++ == 0)
            fprintf(stderr, "randbelow row %lld: m %u -> %u vs Python %u\n", (long long)i, m, got,
                    want);
    }
    CHECK(bad == 0);
    npy_free(&ref);
}

int main(void) {
    /* REFERENCE.md: anomalib seed 42, paper seed 1024; R18 (448 -> 100), WRN50 (1792 -> 550). */
    static const int32_t r18_42[12] = {327, 57, 12, 379, 140, 125, 114, 71, 377, 52, 346, 444};
    static const int32_t wrn_42[12] = {1309, 228, 51, 1518, 563, 501, 457, 285, 1508, 209, 1385, 1516};
    static const int32_t r18_1024[12] = {408, 9, 247, 435, 199, 165, 424, 405, 266, 51, 227, 262};
    static const int32_t wrn_1024[12] = {1632, 39, 990, 1740, 797, 661, 1698, 1623, 1782, 1064, 205, 911};
    check_first12(42, 448, 100, r18_42);
    check_first12(42, 1792, 550, wrn_42);
    check_first12(1024, 448, 100, r18_1024);
    check_first12(1024, 1792, 550, wrn_1024);

    /* Whole sequences from Python: pool method (the PaDiM sizes, k = n), set method
     * (n large against k), k <= 5 (no set-size term), seed 0 and a seed >= 2^31. */
    check_sample_golden(42, 448, 100);
    check_sample_golden(1024, 448, 100);
    check_sample_golden(42, 1792, 550);
    check_sample_golden(1024, 1792, 550);
    check_sample_golden(42, 10000, 10);
    check_sample_golden(7, 100000, 50);
    check_sample_golden(0, 5000, 5);
    check_sample_golden(4000000000u, 300, 300);
    check_sample_golden(3, 1, 1);
    check_raw_golden(42);
    check_raw_golden(0);
    check_raw_golden(4000000000u);
    check_randbelow_golden();

    /* A permutation: every channel of a full sample appears exactly once. */
    int32_t perm[300];
    CHECK_OK(padim_sample_channels(5, 300, 300, perm));
    int seen[300] = {0};
    for (int i = 0; i < 300; i++)
        if (perm[i] >= 0 && perm[i] < 300) seen[perm[i]]++;
    for (int i = 0; i < 300; i++) CHECK(seen[i] == 1);

    /* Invalid sizes are user errors with a message. */
    int32_t dummy[4];
    CHECK(padim_sample_channels(42, 3, 4, dummy) == PADIM_ERR_ARG);
    CHECK(strstr(padim_last_error(), "4 channels out of 3") != NULL);
    CHECK(padim_sample_channels(42, 3, 0, dummy) == PADIM_ERR_ARG);
    return test_finish("test_rng");
}
