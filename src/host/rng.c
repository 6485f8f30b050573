/*
 * rng.c - the channel-subset generator: CPython's `random` reproduced bit for bit
 * (MT19937 with init_by_array as in Modules/_randommodule.c, getrandbits / _randbelow and
 * both strategies of Random.sample from Lib/random.py, CPython 3.2 to 3.13). The model
 * stores the resulting idx, so this runs once per fit; clarity over speed.
 */
#include "rng.h"

#include "common.h"

#include <math.h>
#include <stdlib.h>

enum { MT_N = 624, MT_M = 397 };

static void mt_init_genrand(padim_mt19937 *r, uint32_t s) {
    r->mt[0] = s;
    for (int i = 1; i < MT_N; i++)
        r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->mti = MT_N;
}

/* init_by_array with a one-word key: what random.seed(int) does for 0 <= seed < 2^32
 * (CPython splits abs(seed) into 32-bit words, least significant first; 0 -> [0]). */
void padim_mt_seed(padim_mt19937 *r, uint32_t seed) {
    const uint32_t key[1] = {seed};
    const int key_length = 1;
    mt_init_genrand(r, 19650218u);
    int i = 1, j = 0;
    for (int k = MT_N > key_length ? MT_N : key_length; k; k--) {
        r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1664525u)) + key[j] +
                   (uint32_t)j;
        i++;
        j++;
        if (i >= MT_N) {
            r->mt[0] = r->mt[MT_N - 1];
            i = 1;
        }
        if (j >= key_length) j = 0;
    }
    for (int k = MT_N - 1; k; k--) {
        r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= MT_N) {
            r->mt[0] = r->mt[MT_N - 1];
            i = 1;
        }
    }
    r->mt[0] = 0x80000000u; /* MSB is 1, assuring a non-zero initial array */
    r->mti = MT_N;
}

uint32_t padim_mt_next(padim_mt19937 *r) {
    static const uint32_t mag01[2] = {0u, 0x9908b0dfu};
    const uint32_t upper = 0x80000000u, lower = 0x7fffffffu;
    if (r->mti >= MT_N) {
        int kk;
        uint32_t y;
        for (kk = 0; kk < MT_N - MT_M; kk++) {
            y = (r->mt[kk] & upper) | (r->mt[kk + 1] & lower);
            r->mt[kk] = r->mt[kk + MT_M] ^ (y >> 1) ^ mag01[y & 1u];
        }
        for (; kk < MT_N - 1; kk++) {
            y = (r->mt[kk] & upper) | (r->mt[kk + 1] & lower);
            r->mt[kk] = r->mt[kk + (MT_M - MT_N)] ^ (y >> 1) ^ mag01[y & 1u];
        }
        y = (r->mt[MT_N - 1] & upper) | (r->mt[0] & lower);
        r->mt[MT_N - 1] = r->mt[MT_M - 1] ^ (y >> 1) ^ mag01[y & 1u];
        r->mti = 0;
    }
    uint32_t y = r->mt[r->mti++];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= (y >> 18);
    return y;
}

/* _randbelow_with_getrandbits: k = m.bit_length(); r = getrandbits(k) until r < m, where
 * getrandbits(k) for 1 <= k <= 32 is genrand_uint32() >> (32 - k). */
uint32_t padim_mt_randbelow(padim_mt19937 *r, uint32_t m) {
    if (m == 0) return 0; /* Python returns 0 for m = 0 without drawing */
    int k = 0;
    for (uint32_t v = m; v; v >>= 1) k++;
    uint32_t x = padim_mt_next(r) >> (32 - k);
    while (x >= m) x = padim_mt_next(r) >> (32 - k);
    return x;
}

/* Python's choice between the two strategies: setsize = 21; if k > 5: setsize +=
 * 4 ** ceil(log(3k, 4)); pool method when n <= setsize. math.log(x, 4) is log(x)/log(4)
 * in C doubles, as here (3k is never a power of 4, so no rounding edge exists). */
static int sample_uses_pool(int n, int k) {
    double setsize = 21.0;
    if (k > 5) setsize += pow(4.0, ceil(log(3.0 * (double)k) / log(4.0)));
    return (double)n <= setsize;
}

padim_status padim_sample_channels(uint32_t seed, int n, int k, int32_t *out) {
    if (k <= 0 || k > n)
        return padim_fail(PADIM_ERR_ARG,
                          "channel subset: cannot sample %d channels out of %d (expected "
                          "0 < d <= %d); lower d in the config",
                          k, n, n);
    padim_mt19937 r;
    padim_mt_seed(&r, seed);
    if (sample_uses_pool(n, k)) {
        int32_t *pool;
        PADIM_TRY(padim_alloc((void **)&pool, (size_t)n * sizeof(*pool), "the sample pool"));
        for (int i = 0; i < n; i++) pool[i] = i;
        for (int i = 0; i < k; i++) {
            uint32_t j = padim_mt_randbelow(&r, (uint32_t)(n - i));
            out[i] = pool[j];
            pool[j] = pool[n - i - 1]; /* move the non-selected item into the vacancy */
        }
        free(pool);
    } else {
        /* Set method: draw from range(n) until the value is new. A bitmap stands in for
         * Python's set; only membership matters, so the draws are identical. */
        uint8_t *selected;
        PADIM_TRY(padim_calloc((void **)&selected, (size_t)n, "the sample set"));
        for (int i = 0; i < k; i++) {
            uint32_t j = padim_mt_randbelow(&r, (uint32_t)n);
            while (selected[j]) j = padim_mt_randbelow(&r, (uint32_t)n);
            selected[j] = 1;
            out[i] = (int32_t)j;
        }
        free(selected);
    }
    return PADIM_OK;
}
