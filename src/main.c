/* main.c — the lmserve command line (placeholder until src/cli lands). */
#include <stdio.h>

int main(void) {
    printf("lmserve %s\n", LM_VERSION);
    return 0;
}
