/*
 * dataset_visa.c - the raw VisA layout: the rows of split_csv/1cls.csv for one category,
 * checked against the files under <category>/Data/ (rules in dataset_visa.h).
 */
#include "dataset_visa.h"

#include "common.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* One row of 1cls.csv for this category; paths already joined with the dataset root. */
typedef struct visa_row {
    char *image, *mask; /* mask NULL when the column is empty */
    int test, anomaly;
    int line;           /* 1-based line in the CSV, for messages */
} visa_row;

typedef struct visa_split {
    char csv[4096];     /* <root>/split_csv/1cls.csv */
    char cdir[4096];    /* <root>/<object>, the category folder as the rows name it */
    visa_row *rows;
    int64_t n;
} visa_split;

static void split_free(visa_split *v) {
    for (int64_t i = 0; i < v->n; i++) {
        free(v->rows[i].image);
        free(v->rows[i].mask);
    }
    free(v->rows);
    v->rows = NULL;
    v->n = 0;
}

static int file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Next CSV field of *p (commas; double quotes with "" inside a quoted field), copied into
 * out (cap bytes). Returns 0 at the end of the line. */
static int next_field(const char **p, char *out, size_t cap) {
    const char *s = *p;
    size_t k = 0;
    if (*s == '\0' || *s == '\n' || *s == '\r') return 0;
    if (*s == '"') {
        for (s++; *s && !(*s == '"' && s[1] != '"'); s++) {
            if (*s == '"') s++;
            if (k + 1 < cap) out[k++] = *s;
        }
        if (*s == '"') s++;
    }
    for (; *s && *s != ',' && *s != '\n' && *s != '\r'; s++)
        if (k + 1 < cap) out[k++] = *s;
    out[k] = '\0';
    if (*s == ',') s++; /* a line end stays: the next call returns 0 */
    *p = s;
    return 1;
}

static padim_status join_root(const visa_split *v, const char *rel, char **out) {
    size_t root_len = strlen(v->cdir) - strlen(strrchr(v->cdir, '/'));
    size_t len = root_len + strlen(rel) + 2;
    PADIM_TRY(padim_alloc((void **)out, len, "VisA path"));
    snprintf(*out, len, "%.*s/%s", (int)root_len, v->cdir, rel);
    return PADIM_OK;
}

/* Read the rows of this category from the CSV, checking every field and file. */
static padim_status split_read(const char *category_dir, visa_split *v) {
    memset(v, 0, sizeof(*v));
    /* The category folder without trailing slashes; the dataset root is its parent. */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", category_dir);
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dir[--dl] = '\0';
    const char *slash = strrchr(dir, '/');
    const char *object = slash ? slash + 1 : dir;
    if (slash) snprintf(v->cdir, sizeof(v->cdir), "%s", dir);
    else snprintf(v->cdir, sizeof(v->cdir), "./%s", dir);
    snprintf(v->csv, sizeof(v->csv), "%.*s/split_csv/1cls.csv", (int)(strrchr(v->cdir, '/') - v->cdir), v->cdir);
    FILE *f = fopen(v->csv, "rb");
    if (!f)
        return padim_fail(PADIM_ERR_ARG, "%s: cannot open the VisA split file: %s (the raw VisA layout keeps "
                          "split_csv/1cls.csv beside the category folders)", v->csv, strerror(errno));
    padim_status s = PADIM_OK;
    char line[8192], field[5][4096];
    int64_t cap = 0;
    for (int ln = 1; s == PADIM_OK && fgets(line, sizeof(line), f); ln++) {
        const char *p = line;
        int nf = 0;
        while (nf < 5 && next_field(&p, field[nf], sizeof(field[nf]))) nf++;
        if (ln == 1) {
            static const char *hdr[5] = {"object", "split", "label", "image", "mask"};
            int ok = nf == 5;
            for (int i = 0; ok && i < 5; i++) ok = !strcmp(field[i], hdr[i]);
            if (!ok)
                s = padim_fail(PADIM_ERR_FORMAT, "%s:1: header is not \"object,split,label,image,mask\"", v->csv);
            continue;
        }
        if (nf == 0) continue; /* empty line */
        if (nf < 4) {
            s = padim_fail(PADIM_ERR_FORMAT, "%s:%d: expected 5 columns (object,split,label,image,mask), got %d",
                           v->csv, ln, nf);
            break;
        }
        if (strcmp(field[0], object)) continue;
        if (nf == 4) field[4][0] = '\0';
        const int test = !strcmp(field[1], "test"), anomaly = !strcmp(field[2], "anomaly");
        if (!test && strcmp(field[1], "train"))
            s = padim_fail(PADIM_ERR_FORMAT, "%s:%d: split '%s'; expected train or test", v->csv, ln, field[1]);
        else if (!anomaly && strcmp(field[2], "normal"))
            s = padim_fail(PADIM_ERR_FORMAT, "%s:%d: label '%s'; expected normal or anomaly", v->csv, ln, field[2]);
        else if (!test && anomaly)
            s = padim_fail(PADIM_ERR_FORMAT, "%s:%d: training image %s is labeled anomaly (1cls trains on normal "
                           "images only)", v->csv, ln, field[3]);
        else if (anomaly && !field[4][0])
            s = padim_fail(PADIM_ERR_ARG, "%s:%d: anomaly image %s has no mask in the mask column", v->csv, ln,
                           field[3]);
        if (s != PADIM_OK) break;
        if (v->n == cap) {
            cap = cap ? 2 * cap : 256;
            visa_row *r = realloc(v->rows, (size_t)cap * sizeof(visa_row));
            if (!r) {
                s = padim_fail(PADIM_ERR_NOMEM, "out of memory reading %s", v->csv);
                break;
            }
            v->rows = r;
        }
        visa_row *r = &v->rows[v->n++];
        memset(r, 0, sizeof(*r));
        r->test = test;
        r->anomaly = anomaly;
        r->line = ln;
        s = join_root(v, field[3], &r->image);
        if (s == PADIM_OK && field[4][0] && anomaly) s = join_root(v, field[4], &r->mask);
        if (s == PADIM_OK && !file_exists(r->image))
            s = padim_fail(PADIM_ERR_ARG, "%s: image is missing (named by %s:%d)", r->image, v->csv, ln);
        if (s == PADIM_OK && r->mask && !file_exists(r->mask))
            s = padim_fail(PADIM_ERR_ARG, "%s: mask is missing (named by %s:%d for %s)", r->mask, v->csv, ln,
                           r->image);
    }
    fclose(f);
    if (s == PADIM_OK && v->n == 0)
        s = padim_fail(PADIM_ERR_ARG, "%s: no rows for the category '%s' (object column)", v->csv, object);
    if (s != PADIM_OK) split_free(v);
    return s;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int cmp_row(const void *a, const void *b) {
    return strcmp(((const visa_row *)a)->image, ((const visa_row *)b)->image);
}

/* Every file under cdir/Data/{Images/Normal,Images/Anomaly,Masks/Anomaly} is named by
 * exactly one row, and no image is named twice. */
static padim_status split_check_files(visa_split *v) {
    int64_t nn = 2 * v->n;
    char **named = NULL;
    PADIM_TRY(padim_alloc((void **)&named, (size_t)nn * sizeof(char *), "VisA names"));
    int64_t k = 0;
    for (int64_t i = 0; i < v->n; i++) {
        named[k++] = v->rows[i].image;
        if (v->rows[i].mask) named[k++] = v->rows[i].mask;
    }
    qsort(named, (size_t)k, sizeof(char *), cmp_str);
    padim_status s = PADIM_OK;
    for (int64_t i = 1; i < k && s == PADIM_OK; i++)
        if (!strcmp(named[i], named[i - 1]))
            s = padim_fail(PADIM_ERR_FORMAT, "%s: named twice in %s (each file belongs to one row)", named[i], v->csv);
    static const char *subs[3] = {"Data/Images/Normal", "Data/Images/Anomaly", "Data/Masks/Anomaly"};
    for (int d = 0; d < 3 && s == PADIM_OK; d++) {
        char dir[4200], **files = NULL;
        int64_t nf = 0;
        snprintf(dir, sizeof(dir), "%s/%s", v->cdir, subs[d]);
        s = list_images_strict(dir, d > 0, &files, &nf);
        for (int64_t i = 0; i < nf && s == PADIM_OK; i++)
            if (!bsearch(&files[i], named, (size_t)k, sizeof(char *), cmp_str))
                s = padim_fail(PADIM_ERR_ARG, "%s: stray file: no row of %s names it (object '%s')", files[i], v->csv,
                               strrchr(v->cdir, '/') + 1);
        padim_free_paths(files, nf);
    }
    free(named);
    return s;
}

static padim_status split_load(const char *category_dir, visa_split *v) {
    PADIM_TRY(split_read(category_dir, v));
    padim_status s = split_check_files(v);
    if (s != PADIM_OK) split_free(v);
    else qsort(v->rows, (size_t)v->n, sizeof(visa_row), cmp_row);
    return s;
}

padim_status testset_load_visa_raw(const char *category_dir, padim_testset *out) {
    memset(out, 0, sizeof(*out));
    visa_split v;
    PADIM_TRY(split_load(category_dir, &v));
    padim_status s = PADIM_OK;
    int64_t cap = 0;
    for (int64_t i = 0; i < v.n && s == PADIM_OK; i++)
        if (v.rows[i].test)
            s = testset_push(out, &cap, v.rows[i].image, v.rows[i].anomaly, v.rows[i].anomaly ? "bad" : "good",
                             v.rows[i].mask);
    if (s == PADIM_OK && out->n == 0)
        s = padim_fail(PADIM_ERR_ARG, "%s: no test rows for this category", v.csv);
    out->has_masks = 1;
    out->kind = PADIM_DATASET_VISA;
    out->mask_cut = 0;
    split_free(&v);
    if (s != PADIM_OK) testset_free(out);
    return s;
}

padim_status trainset_list_visa_raw(const char *category_dir, char ***paths, int64_t *n) {
    *paths = NULL;
    *n = 0;
    visa_split v;
    PADIM_TRY(split_load(category_dir, &v));
    padim_status s = padim_calloc((void **)paths, (size_t)v.n * sizeof(char *), "training paths");
    for (int64_t i = 0; i < v.n && s == PADIM_OK; i++) {
        if (v.rows[i].test) continue;
        (*paths)[(*n)++] = v.rows[i].image;
        v.rows[i].image = NULL; /* moved */
    }
    if (s == PADIM_OK && *n == 0) s = padim_fail(PADIM_ERR_ARG, "%s: no training rows for this category", v.csv);
    split_free(&v);
    if (s != PADIM_OK) {
        padim_free_paths(*paths, *n);
        *paths = NULL;
        *n = 0;
    }
    return s;
}
