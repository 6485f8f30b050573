/*
 * published.h - the published PaDiM values padim-gpu compares itself with (published.c),
 * read from configs/published_padim.json: the one home of those numbers, shared with
 * benchmarks/nightly_mvtec.py. A value exists only where an official source gave one
 * (anomalib's MVTec AD tables); MVTec AD 2 and VisA have none and say so.
 */
#ifndef PADIM_PUBLISHED_H
#define PADIM_PUBLISHED_H

#include "padim.h"

typedef struct published_values {
    int dataset_known;   /* the file has an entry for the dataset */
    char source[256];    /* "" when there is no published source */
    char note[128];      /* e.g. "no published PaDiM value" */
    char title[64];      /* the category's title ("Metal Nut"), "" when unknown */
    /* -1 where not published */
    double image_auroc, pixel_auroc, image_f1, pixel_f1, aupro_03, aupro_005, seg_f1;
} published_values;

/* Look up dataset ("mvtec_ad"), backbone ("resnet18") and category ("bottle") in the JSON
 * file. A missing file, dataset, backbone or category is not an error: the values stay -1.
 * A file that is not valid JSON of this format is (PADIM_ERR_FORMAT, naming it). */
padim_status published_lookup(const char *path, const char *dataset, const char *backbone, const char *category,
                              published_values *out);

#endif
