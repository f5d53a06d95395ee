/* main.c — the lmserve entry point: a subcommand name as first argument runs that tool
 * (src/cli/commands.h); anything else is the OVMS-compatible server command line (src/cli/cli.h). */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/demo.h"
#include "repo/manage.h"
#include "repo/pull.h"
#include "server/server.h"

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
};

/* Serves --model_path as --model_name (default: the file or folder name), or with neither the
 * bundled demo model as "demo", on --rest_port (0, the OVMS default meaning "REST off", serves on
 * 8000: lmserve has no gRPC, so REST is all there is). */
static int serve(const cli_server_opts *o) {
    char demo[4096], name[256];
    servable_config m = {0};
    if (o->model_path) {
        m.path = o->model_path;
        m.name = o->model_name;
        if (!m.name) {
            const char *base = strrchr(o->model_path, '/');
            base = base && base[1] ? base + 1 : o->model_path;
            snprintf(name, sizeof name, "%s", base);
            char *dot = strrchr(name, '.');
            if (dot && strcmp(dot, ".gguf") == 0) *dot = '\0';
            m.name = name;
        }
    } else {
        if (o->model_name) {
            fprintf(stderr, "lmserve: --model_name needs --model_path\nTry 'lmserve --help'.\n");
            return CLI_EXIT_USAGE;
        }
        if (cli_demo_model_path(demo, sizeof demo) != 0) {
            fprintf(stderr, "lmserve: no model given and the bundled demo model (models/demo/%s) is not "
                            "found; pass --model_path\n", CLI_DEMO_MODEL_FILE);
            return CLI_EXIT_FAILURE;
        }
        m.path = demo;
        m.name = "demo";
    }
    server_config http = {
        .bind_address = o->rest_bind_address,
        .port = o->rest_port ? (int)o->rest_port : 8000,
        .workers = (int)o->rest_workers,
    };
    return server_run(&http, &m, 1);
}

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
        /* config management mode (it reads --config_path and --model_repository_path itself) */
        if (repo_manage_requested(&o)) return repo_manage_run(&o, stdout, stderr);
        /* pull mode: downloads, writes graph.pbtxt and exits (the task flags shape the graph) */
        if (o.pull) return repo_pull_run(&o, stdout, stderr);
    }
    if (s != LM_OK) {
        fprintf(stderr, "lmserve: %s\n", err.msg);
        if (s == LM_ERR_INVALID) fprintf(stderr, "Try 'lmserve --help'.\n");
        return cli_exit_code(s);
    }
    log_set_level((log_level)o.log_level);
    return serve(&o);
}

int main(int argc, char **argv) {
    if (argc >= 2) {
        for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
            if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].run(argc - 1, argv + 1);
    }
    return run_server(argc, argv);
}
