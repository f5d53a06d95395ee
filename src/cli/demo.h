/* demo.h — where the bundled demo model lives. */
#ifndef LM_CLI_DEMO_H
#define LM_CLI_DEMO_H

#include <stddef.h>

/* File name of the demo model inside the models/demo folder. */
#define CLI_DEMO_MODEL_FILE "stories260K.gguf"

/* Finds the demo model: $LMSERVE_DEMO_MODEL if set, else models/demo/<file> next to the binary, one
 * folder up from it (build/lmserve), or in the source tree the binary was built from. Writes the
 * path to buf and returns 0, or returns -1 when none exists. */
int cli_demo_model_path(char *buf, size_t size);

#endif
