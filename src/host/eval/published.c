/*
 * published.c - published_lookup: one (dataset, backbone, category) of
 * configs/published_padim.json ({"datasets": {name: {"source", "note", "categories":
 * [[folder, title]], "values": {metric: {backbone: {category | "average": value}}}}}}).
 */
#include "published.h"

#include "common.h"

#include <cJSON.h>
#include <string.h>

static void copy_str(char *dst, size_t cap, const cJSON *item) {
    if (cJSON_IsString(item)) snprintf(dst, cap, "%s", item->valuestring);
}

static double metric_value(const cJSON *values, const char *metric, const char *backbone, const char *category) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(values, metric);
    v = cJSON_GetObjectItemCaseSensitive(v, backbone);
    v = cJSON_GetObjectItemCaseSensitive(v, category);
    return cJSON_IsNumber(v) ? v->valuedouble : -1.0;
}

padim_status published_lookup(const char *path, const char *dataset, const char *backbone, const char *category,
                              published_values *out) {
    memset(out, 0, sizeof(*out));
    out->image_auroc = out->pixel_auroc = out->image_f1 = out->pixel_f1 = -1;
    out->aupro_03 = out->aupro_005 = out->seg_f1 = -1;
    if (!path) return PADIM_OK;
    FILE *f = fopen(path, "rb");
    if (!f) return PADIM_OK;
    char *text = NULL;
    size_t n = 0, cap = 0;
    padim_status st = PADIM_OK;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 65536;
            char *t = realloc(text, cap);
            if (!t) {
                st = padim_fail(PADIM_ERR_NOMEM, "%s: out of memory reading", path);
                break;
            }
            text = t;
        }
        size_t got = fread(text + n, 1, 4096, f);
        n += got;
        if (got < 4096) break;
    }
    fclose(f);
    cJSON *root = st == PADIM_OK ? cJSON_ParseWithLength(text, n) : NULL;
    free(text);
    if (st != PADIM_OK) return st;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!root || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, "padim-gpu-published")) {
        cJSON_Delete(root);
        return padim_fail(PADIM_ERR_FORMAT, "%s: not a published-values file (expected JSON with \"format\": "
                          "\"padim-gpu-published\")", path);
    }
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "datasets"), dataset);
    if (cJSON_IsObject(ds)) {
        out->dataset_known = 1;
        copy_str(out->source, sizeof(out->source), cJSON_GetObjectItemCaseSensitive(ds, "source"));
        copy_str(out->note, sizeof(out->note), cJSON_GetObjectItemCaseSensitive(ds, "note"));
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(ds, "categories")) {
            const cJSON *key = cJSON_GetArrayItem(c, 0);
            if (cJSON_IsString(key) && !strcmp(key->valuestring, category))
                copy_str(out->title, sizeof(out->title), cJSON_GetArrayItem(c, 1));
        }
        const cJSON *values = cJSON_GetObjectItemCaseSensitive(ds, "values");
        out->image_auroc = metric_value(values, "image_auroc", backbone, category);
        out->pixel_auroc = metric_value(values, "pixel_auroc", backbone, category);
        out->image_f1 = metric_value(values, "image_f1", backbone, category);
        out->pixel_f1 = metric_value(values, "pixel_f1", backbone, category);
        out->aupro_03 = metric_value(values, "aupro_0.3", backbone, category);
        out->aupro_005 = metric_value(values, "aupro_0.05", backbone, category);
        out->seg_f1 = metric_value(values, "seg_f1", backbone, category);
    }
    cJSON_Delete(root);
    return PADIM_OK;
}
