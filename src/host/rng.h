/*
 * rng.h - the channel-subset generator: a bit-exact reproduction of CPython's
 * `random.seed(s); random.sample(range(n), k)` (Mersenne Twister MT19937, init_by_array,
 * getrandbits/_randbelow, the pool method of sample). See REFERENCE.md.
 */
#ifndef PADIM_RNG_H
#define PADIM_RNG_H

#include "padim.h"

#include <stdint.h>

typedef struct padim_mt19937 {
    uint32_t mt[624];
    int mti;
} padim_mt19937;

/* random.seed(seed) for a non-negative int that fits 32 bits: init_by_array([seed]). */
void padim_mt_seed(padim_mt19937 *r, uint32_t seed);
uint32_t padim_mt_next(padim_mt19937 *r);
/* random._randbelow(m) for 1 <= m < 2^32. */
uint32_t padim_mt_randbelow(padim_mt19937 *r, uint32_t m);
/* out[0..k) = random.sample(range(n), k) after random.seed(seed); 0 < k <= n.
 * Returns PADIM_ERR_ARG when k > n or k <= 0. Both of Python's strategies are
 * reproduced (the pool method, which PaDiM's sizes use, and the set method used when
 * n > 21 + 4^ceil(log4(3k))), so any n, k gives Python's answer. */
padim_status padim_sample_channels(uint32_t seed, int n, int k, int32_t *out);

#endif
