/*
 * consumer.c - a C program that uses an installed padim-gpu through pkg-config
 * (tests/test_install.sh): load a model, score images, print "path score" per image.
 * Build: cc consumer.c $(pkg-config --cflags --libs padim)
 */
#include <padim.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: consumer MODEL IMAGE...\n");
        return 2;
    }
    padim_model *m = NULL;
    padim_scorer *s = NULL;
    if (padim_model_load(argv[1], &m) || padim_scorer_create(m, NULL, &s)) {
        fprintf(stderr, "consumer: %s\n", padim_last_error());
        return 1;
    }
    int rc = 0;
    for (int i = 2; i < argc && !rc; i++) {
        padim_image img;
        float score;
        if (padim_image_load(argv[i], &img) || padim_score_images(s, &img, 1, &score, NULL)) {
            fprintf(stderr, "consumer: %s\n", padim_last_error());
            rc = 1;
            break;
        }
        printf("%s %.6f\n", argv[i], score);
        padim_image_free(&img);
    }
    padim_scorer_free(s);
    padim_model_free(m);
    return rc;
}
