/* main.c — the lmserve entry point: a subcommand name as first argument runs that tool
 * (src/cli/commands.h); anything else is the OVMS-compatible server command line (src/cli/cli.h). */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"
#include "cli/commands.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
} subcommand;

static const subcommand subcommands[] = {
    {"generate", cmd_generate},
    {"tokenize", cmd_tokenize},
    {"chat-template", cmd_chat_template},
};

static int run_server(int argc, char **argv) {
    cli_server_opts o;
    lm_error err;
    err_clear(&err);
    lm_status s = cli_parse(&cli_server_command, argc, argv, &o, &err);
    /* --help and --version win over flags that are valid but not built yet */
    if (s == LM_OK || s == LM_ERR_UNSUPPORTED) {
        if (o.help) {
            cli_print_help(stdout, &cli_server_command);
            return CLI_EXIT_OK;
        }
        if (o.version) {
            printf("lmserve %s\n", LM_VERSION);
            return CLI_EXIT_OK;
        }
    }
    if (s != LM_OK) {
        fprintf(stderr, "lmserve: %s\n", err.msg);
        if (s == LM_ERR_INVALID) fprintf(stderr, "Try 'lmserve --help'.\n");
        return cli_exit_code(s);
    }
    log_set_level((log_level)o.log_level);
    fprintf(stderr, "lmserve: the server is not built yet; 'lmserve generate --prompt TEXT' works "
                    "(see 'lmserve --help')\n");
    return CLI_EXIT_UNSUPPORTED;
}

int main(int argc, char **argv) {
    if (argc >= 2) {
        for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
            if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].run(argc - 1, argv + 1);
    }
    return run_server(argc, argv);
}
