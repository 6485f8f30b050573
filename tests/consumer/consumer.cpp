// consumer.cpp - a C++ program that uses an installed padim-gpu through
// find_package(padim) (tests/test_install.sh): the same output as consumer.c, with RAII.
#include <padim.h>

#include <cstdio>
#include <memory>

struct model_deleter {
    void operator()(padim_model *m) const { padim_model_free(m); }
};
struct scorer_deleter {
    void operator()(padim_scorer *s) const { padim_scorer_free(s); }
};

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: consumer_cpp MODEL IMAGE...\n");
        return 2;
    }
    padim_model *mp = nullptr;
    if (padim_model_load(argv[1], &mp) != PADIM_OK) {
        std::fprintf(stderr, "consumer_cpp: %s\n", padim_last_error());
        return 1;
    }
    std::unique_ptr<padim_model, model_deleter> model(mp);
    padim_scorer *sp = nullptr;
    if (padim_scorer_create(model.get(), nullptr, &sp) != PADIM_OK) {
        std::fprintf(stderr, "consumer_cpp: %s\n", padim_last_error());
        return 1;
    }
    std::unique_ptr<padim_scorer, scorer_deleter> scorer(sp);
    for (int i = 2; i < argc; i++) {
        padim_image img;
        float score = 0;
        if (padim_image_load(argv[i], &img) != PADIM_OK ||
            padim_score_images(scorer.get(), &img, 1, &score, nullptr) != PADIM_OK) {
            std::fprintf(stderr, "consumer_cpp: %s\n", padim_last_error());
            return 1;
        }
        std::printf("%s %.6f\n", argv[i], score);
        padim_image_free(&img);
    }
    std::printf("# padim %s\n", padim_version());
    return 0;
}
