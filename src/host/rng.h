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
 * Returns PADIM_ERR_ARG when k > n or k <= 0, PADIM_ERR_ARG when Python would use
 * the set method for these sizes (not needed for PaDiM's sizes). */
padim_status padim_sample_channels(uint32_t seed, int n, int k, int32_t *out);

#endif
