/* main.c — the lmserve entry point: a subcommand name as first argument runs that tool
 * (src/cli/commands.h); anything else is the OVMS-compatible server command (src/cli/serve.h),
 * which wires the program. */
#include <stddef.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/serve.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
} subcommand;

static const subcommand subcommands[] = {
    {"generate", cmd_generate},
    {"tokenize", cmd_tokenize},
    {"detokenize", cmd_detokenize},
    {"chat-template", cmd_chat_template},
    {"logits", cmd_logits},
    {"export", cmd_export},
};

int main(int argc, char **argv) {
    if (argc >= 2) {
        for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
            if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].run(argc - 1, argv + 1);
    }
    return cli_serve(argc, argv);
}
