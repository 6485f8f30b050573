/*
 * half.h - float <-> IEEE half (binary16) conversions (half.c), round to nearest even;
 * Inf and NaN preserved, overflow to Inf, subnormals exact.
 */
#ifndef PADIM_HALF_H
#define PADIM_HALF_H

#include <stdint.h>

uint16_t padim_f32_to_f16(float f);
float padim_f16_to_f32(uint16_t h);

#endif
