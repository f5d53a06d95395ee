/* demo.c — locating the bundled demo model from wherever the binary runs. */
#include "cli/demo.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int exists(const char *path) { return access(path, R_OK) == 0; }

int cli_demo_model_path(char *buf, size_t size) {
    const char *env = getenv("LMSERVE_DEMO_MODEL");
    if (env && *env) {
        snprintf(buf, size, "%s", env);
        return exists(buf) ? 0 : -1;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        const char *dir = dirname(exe);
        static const char *const rel[] = {"models/demo", "../models/demo", "../share/lmserve/models/demo"};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            snprintf(buf, size, "%s/%s/%s", dir, rel[i], CLI_DEMO_MODEL_FILE);
            if (exists(buf)) return 0;
        }
    }
    snprintf(buf, size, "%s/models/demo/%s", LM_SOURCE_DIR, CLI_DEMO_MODEL_FILE);
    return exists(buf) ? 0 : -1;
}
