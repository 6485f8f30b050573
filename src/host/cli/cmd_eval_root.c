/*
 * cmd_eval_root.c - `padim-gpu eval --root ROOT`: every category folder of ROOT (or those
 * of --categories) through eval_one, each into OUT/<category>/, then the summaries:
 * OUT/summary.md (a Markdown table) and OUT/report.html (padim_write_summary_report,
 * linking the categories' reports).
 */
#include "cli_util.h"
#include "cmd_eval.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "0.994" or "n/a" for an unavailable metric. */
const char *eval_mdnum(char *buf, double v) {
    if (v < 0) return "n/a";
    snprintf(buf, 32, "%.3f", v);
    return buf;
}

/* Mean of the available values (>= 0) of one metric over the summary rows; -1 when none. */
static double mean_metric(const eval_summary *rows, int n, size_t offset) {
    double sum = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        const double v = *(const double *)((const char *)&rows[i] + offset);
        if (rows[i].ok && v >= 0) sum += v, k++;
    }
    return k ? sum / k : -1;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void add_name(char ***names, int *n, const char *name) {
    char **grown = realloc(*names, (size_t)(*n + 1) * sizeof(char *));
    if (!grown) return;
    *names = grown;
    if ((grown[*n] = strdup(name)) != NULL) (*n)++;
}

/* Is root/name a category folder of one of the labeled layouts? */
static int is_category(const char *root, const char *name) {
    static const char *subs[3] = {"test", "test_public", "Data/Images"};
    for (int i = 0; i < 3; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s/%s", root, name, subs[i]);
        if (cli_is_dir(p)) return 1;
    }
    return 0;
}

/* Categories: the list given, or every subfolder of root with test/ (MVTec AD, converted
 * VisA), test_public/ (MVTec AD 2) or Data/Images/ (raw VisA), sorted. Returns -1 when
 * root cannot be read. */
static int list_categories(const char *root, const char *list, char ***names) {
    int n = 0;
    *names = NULL;
    if (list) {
        char *copy = strdup(list), *save = NULL;
        for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) add_name(names, &n, t);
        free(copy);
        return n;
    }
    DIR *d = opendir(root);
    if (!d) {
        fprintf(stderr, "padim-gpu eval: error: %s: cannot open folder: %s\n", root, strerror(errno));
        return -1;
    }
    for (struct dirent *ent; (ent = readdir(d)) != NULL;)
        if (ent->d_name[0] != '.' && is_category(root, ent->d_name)) add_name(names, &n, ent->d_name);
    closedir(d);
    if (n) qsort(*names, (size_t)n, sizeof(char *), cmp_cstr);
    return n;
}

/* The summary table: one row per category and the mean over the categories evaluated. */
static char *summary_md(const eval_summary *rows, int n) {
    cli_buf md = {0};
    char b[5][32];
    cli_printf(&md, "| category | images | image AUROC | pixel AUROC | image F1 | pixel F1 | AUPRO | fit s | score s |\n"
                    "|---|---|---|---|---|---|---|---|---|\n");
    for (int c = 0; c < n; c++) {
        const eval_summary *r = &rows[c];
        if (!r->ok) {
            cli_printf(&md, "| %s | failed or not found | | | | | | | |\n", r->category);
            continue;
        }
        cli_printf(&md, "| %s | %lld | %s | %s | %s | %s | %s | %.1f | %.1f |\n", r->category, (long long)r->n_images,
                   eval_mdnum(b[0], r->image_auroc), eval_mdnum(b[1], r->pixel_auroc), eval_mdnum(b[2], r->image_f1),
                   eval_mdnum(b[3], r->pixel_f1), eval_mdnum(b[4], r->aupro), r->fit_s, r->score_s);
    }
    cli_printf(&md, "| mean | | %s | %s | %s | %s | %s | | |\n",
               eval_mdnum(b[0], mean_metric(rows, n, offsetof(eval_summary, image_auroc))),
               eval_mdnum(b[1], mean_metric(rows, n, offsetof(eval_summary, pixel_auroc))),
               eval_mdnum(b[2], mean_metric(rows, n, offsetof(eval_summary, image_f1))),
               eval_mdnum(b[3], mean_metric(rows, n, offsetof(eval_summary, pixel_f1))),
               eval_mdnum(b[4], mean_metric(rows, n, offsetof(eval_summary, aupro))));
    return md.s;
}

/* The summary page OUT/report.html linking OUT/<category>/report.html (library-made). */
static int summary_page(const eval_opts *e, const eval_summary *rows, int n) {
    padim_summary_row *pr = calloc((size_t)n, sizeof(*pr));
    char (*links)[300] = calloc((size_t)n, sizeof(*links));
    int rc = !pr || !links;
    for (int c = 0; !rc && c < n; c++) {
        const eval_summary *r = &rows[c];
        snprintf(links[c], sizeof(links[c]), "%s/report.html", r->category);
        pr[c] = (padim_summary_row){.category = r->category, .report = e->no_report ? NULL : links[c], .ok = r->ok,
                                    .dataset = padim_dataset_name(r->dataset), .image_auroc = r->image_auroc,
                                    .pixel_auroc = r->pixel_auroc, .image_f1 = r->image_f1, .pixel_f1 = r->pixel_f1,
                                    .aupro = r->aupro, .seg_f1 = r->seg_f1};
    }
    char p[PATH_MAX + 32];
    snprintf(p, sizeof(p), "%s/report.html", e->outdir);
    if (!rc && padim_write_summary_report(p, pr, n, e->pro_limit) != PADIM_OK) rc = cli_fail("eval", PADIM_ERR_IO);
    else if (!rc) printf("wrote %s\n", p);
    free(pr);
    free(links);
    return rc;
}

/* Every category in turn (fitted on its own training images), outputs in OUT/<category>/,
 * then the summary (OUT/summary.md, OUT/report.html). A category that fails is reported
 * and the others go on. */
int eval_root(eval_opts *e) {
    char **names;
    const int n = list_categories(e->root, e->categories, &names);
    if (n < 0) return 1;
    if (!n) {
        fprintf(stderr, "padim-gpu eval: error: %s: no category folders (with test/, test_public/ or Data/Images/) "
                        "found\n", e->root);
        return 1;
    }
    eval_summary *rows = calloc((size_t)n, sizeof(eval_summary));
    int failures = 0;
    for (int c = 0; rows && c < n; c++) {
        char cat_dir[PATH_MAX], cat_out[PATH_MAX + 256];
        snprintf(cat_dir, sizeof(cat_dir), "%s/%s", e->root, names[c]);
        snprintf(cat_out, sizeof(cat_out), "%s/%s", e->outdir ? e->outdir : "", names[c]);
        snprintf(rows[c].category, sizeof(rows[c].category), "%s", names[c]);
        if (!cli_is_dir(cat_dir)) fprintf(stderr, "padim-gpu eval: %s: not found, skipped\n", cat_dir);
        if (!cli_is_dir(cat_dir) || eval_one(e, cat_dir, e->outdir ? cat_out : NULL, &rows[c]) != 0) failures++;
    }
    char *md = rows ? summary_md(rows, n) : NULL;
    int rc = failures || !md ? 1 : 0;
    if (md) printf("\n%s", md);
    if (md && e->outdir) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof(p), "%s/summary.md", e->outdir);
        if (cli_mkdir_p(e->outdir) != 0 || cli_write_text(p, md)) rc = 1;
        else printf("wrote %s\n", p);
        if (summary_page(e, rows, n)) rc = 1;
    }
    if (failures) fprintf(stderr, "padim-gpu eval: %d of %d categories failed or were not found\n", failures, n);
    free(md);
    for (int c = 0; c < n; c++) free(names[c]);
    free(names);
    free(rows);
    return rc;
}

