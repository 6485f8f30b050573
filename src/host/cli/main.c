/*
 * main.c - the `padim-gpu` command line: a thin client of padim.h. This file holds only
 * the dispatch table (one cmd_*.c per command, declared in commands.h), the top-level help
 * and --version. Shared options live in cli_opts.c, small helpers in cli_util.c. User
 * errors print one clear message on stderr and exit 1 (2 for usage errors).
 */
#include "cli_util.h"
#include "commands.h"
#include "padim.h"

#include <stdio.h>
#include <string.h>

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"demo", cmd_demo, "generate a small synthetic dataset, fit, score, write heatmaps"},
    {"fit", cmd_fit, "fit a model on a folder of good images"},
    {"score", cmd_score, "score images with a model: scores, anomaly maps, heatmaps"},
    {"calibrate", cmd_calibrate, "thresholds from good images only (a false-positive rate)"},
    {"eval", cmd_eval, "evaluate on a labeled test set (MVTec AD layout): AUROC, F1, AUPRO"},
    {"bench", cmd_bench, "measure fit / score throughput, latency, per-stage times, memory"},
    {"info", cmd_info, "print a model file's metadata"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_help(FILE *f) {
    fputs("usage: padim-gpu COMMAND [options]\n"
          "\n"
          "PaDiM anomaly detection (Defard et al. 2020), exact on the CPU, fast on NVIDIA GPUs.\n"
          "\n"
          "commands:\n",
          f);
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\n'padim-gpu COMMAND --help' describes each command. padim-gpu " PADIM_VERSION_STRING "\n", f);
}

int main(int argc, char **argv) {
    padim_cpu_blas_restart(argv);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        print_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("padim-gpu %s (library %s; configs and weights: %s)\n", PADIM_VERSION_STRING, padim_version(),
               cli_data_dir());
        printf("CPU backbone: %s\n", padim_cpu_backbone());
        printf("BLAS: %s\n", padim_cpu_blas());
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "padim-gpu: unknown command '%s'\n\n", argv[1]);
    print_help(stderr);
    return 2;
}
