/*
 * dataset_visa.h - the raw VisA layout (dataset_visa.c), one of the test-set layouts of
 * dataset.h. A category C = R/<object> holds C/Data/Images/{Normal,Anomaly}/ and
 * C/Data/Masks/Anomaly/; the split is R/split_csv/1cls.csv beside the categories, with the
 * header "object,split,label,image,mask", split train|test, label normal|anomaly and paths
 * relative to R (the mask column empty for normal images).
 *
 * Strict, so that a broken copy of the data fails loudly instead of scoring a subset:
 * a row naming a missing image or (test anomaly) a missing mask, an anomaly row without a
 * mask, a training row labeled anomaly, an unknown split or label, a repeated image, and a
 * file under C/Data/ that no row of this category names ("stray file") are errors naming
 * the file and the CSV line. Masks are VisA's: nonzero = defect (mask_cut 0).
 */
#ifndef PADIM_DATASET_VISA_H
#define PADIM_DATASET_VISA_H

#include "dataset.h"

/* Test rows of the category (label 0 normal / 1 anomaly, defect type "good" / "bad"),
 * sorted by image path. */
padim_status testset_load_visa_raw(const char *category_dir, padim_testset *out);
/* Training rows of the category, sorted by path. Free with padim_free_paths. */
padim_status trainset_list_visa_raw(const char *category_dir, char ***paths, int64_t *n);

#endif
