/*
 * calibrate.h - good-only thresholds (calibrate.c): the rule behind padim_calibrate
 * (padim.h), without storing them in the model, for evaluation (MVTec AD 2 calibrates on
 * validation/good while the model stays const).
 */
#ifndef PADIM_CALIBRATE_H
#define PADIM_CALIBRATE_H

#include "padim.h"

/* Score the n good images of paths with m and compute the thresholds of padim_calibrate's
 * rule into *out (not stored anywhere). */
padim_status calibration_compute(const padim_model *m, const padim_runtime *rt, const char *const *paths,
                                 int64_t n, double fpr, padim_calibration *out);

#endif
