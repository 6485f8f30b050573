/* cli.c - placeholder until the command line lands. */
#include "padim.h"
#include <stdio.h>
int main(void) {
    fprintf(stderr, "padim-gpu: not built yet\n");
    return 1;
}
