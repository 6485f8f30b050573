/*
 * segment.h - binarized anomaly maps at each image's own size (segment.c), the outputs
 * that are judged by MVTec AD 2's protocol: SegF1 on a labeled test set, and the
 * submission of the unlabeled splits (test_private, test_private_mixed) in the layout
 * MVTec's evaluation server reads:
 *
 *   <dir>/anomaly_images/<object>/<split>/<stem>.tiff              float16, one channel,
 *                                                                  the image's size
 *   <dir>/anomaly_images_thresholded/<object>/<split>/<stem>.png   8-bit, one channel,
 *                                                                  0 (good) / 255 (defect)
 *
 * (MVTec's check_and_prepare_data_for_upload.py checks float16 single-channel TIFFs and
 * single-channel {0, 255} PNGs, named like the test images.) Maps go to the source size
 * with padim_map_to_source; pixels the model did not see (PADIM_NOT_SCORED, outside the
 * paper preset's crop) are 0 in the TIFF and good in the PNG and in SegF1.
 */
#ifndef PADIM_SEGMENT_H
#define PADIM_SEGMENT_H

#include "dataset.h"

/* Confusion counts of (map >= threshold) against the full-resolution masks over every
 * pixel of every image of ts (good images: all-normal masks). maps (n, S, S) in ts order;
 * widths / heights (n) the images' sizes. counts: tp, fp, fn. */
padim_status seg_counts(const padim_model *m, const padim_testset *ts, const float *maps, const int *widths,
                        const int *heights, double threshold, int64_t counts[3]);

/* Score object_dir/test_private and object_dir/test_private_mixed (either may be absent,
 * not both) with sc and write the submission layout above under dir for object. *n is the
 * number of images written. */
padim_status submission_write(const padim_model *m, padim_scorer *sc, int threads, const char *object_dir,
                              const char *object, double pixel_threshold, const char *dir, int64_t *n);

#endif
