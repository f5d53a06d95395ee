/* main.c — the lmserve entry point: a subcommand name as first argument runs that tool
 * (src/cli/commands.h); anything else is the OVMS-compatible server command line (src/cli/cli.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/demo.h"
#include "repo/config.h"
#include "repo/manage.h"
#include "repo/pull.h"
#include "repo/reload.h"
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
    {"export", cmd_export},
};

static server_config http_config(const cli_server_opts *o) {
    server_config http = {
        .bind_address = o->rest_bind_address,
        .port = o->rest_port ? (int)o->rest_port : 8000,
        .workers = (int)o->rest_workers,
    };
    return http;
}

/* --source_model without --pull: the model is pulled in the background while the server answers
 * liveness and status, then served (repo/reload.h's fetcher). */
static int serve_source(const cli_server_opts *o) {
    if (o->task > 0) {
        fprintf(stderr, "lmserve: --task: only text_generation is supported\n");
        return CLI_EXIT_UNSUPPORTED;
    }
    repo_fetcher *f = NULL;
    lm_error err;
    err_clear(&err);
    lm_status s = repo_fetcher_create(o, &f, &err);
    if (s != LM_OK) {
        fprintf(stderr, "lmserve: %s\n", err.msg);
        return cli_exit_code(s);
    }
    server_config http = http_config(o);
    http.manager = repo_fetcher_manager(f);
    int code = server_run(&http, NULL, 0);
    repo_fetcher_destroy(f);
    return code;
}

/* Serves what the flags name (repo_from_flags: --config_path's models, or --model_path as
 * --model_name), or with no model flags the bundled demo model as "demo", on --rest_port (0, the
 * OVMS default meaning "REST off", serves on 8000: lmserve has no gRPC, so REST is all there is). */
static int serve(const cli_server_opts *o) {
    if (o->source_model && !o->config_path && !o->model_path) return serve_source(o);
    repo_config rc = {0};
    lm_error err;
    err_clear(&err);
    lm_status s = repo_from_flags(o, &rc, &err);
    for (size_t i = 0; i < rc.n_warnings; i++) log_warn("%s", rc.warnings[i]);
    if (s != LM_OK) {
        fprintf(stderr, "lmserve: %s\n", err.msg);
        if (s == LM_ERR_INVALID) fprintf(stderr, "Try 'lmserve --help'.\n");
        repo_config_fini(&rc);
        return cli_exit_code(s);
    }
    size_t n = rc.n_models ? rc.n_models : 1;
    registry_model *models = calloc(n, sizeof *models);
    char demo[4096];
    int code = CLI_EXIT_FAILURE;
    repo_reloader *rl = NULL; /* --config_path: reloaded on change and on request */
    if (!models) {
        fprintf(stderr, "lmserve: out of memory\n");
        goto done;
    }
    if (rc.n_models == 0) {
        if (cli_demo_model_path(demo, sizeof demo) != 0) {
            fprintf(stderr, "lmserve: no model given and the bundled demo model (models/demo/%s) is not "
                            "found; pass --model_path or --config_path\n", CLI_DEMO_MODEL_FILE);
            goto done;
        }
        servable_config *c = &models[0].cfg;
        c->path = demo;
        c->name = "demo";
        c->max_num_seqs = (int)o->max_num_seqs;
        c->max_prompt_len = (int)o->max_prompt_len;
        c->cache_size_gb = (double)o->cache_size;
        c->enable_prefix_caching = o->enable_prefix_caching;
    }
    for (size_t i = 0; i < rc.n_models; i++) repo_model_to_registry(&rc.models[i], &models[i]);
    server_config http = http_config(o);
    if (o->config_path) {
        if (repo_reloader_create(o->config_path, (int)o->file_system_poll_wait_seconds, &rl, &err) != LM_OK) {
            fprintf(stderr, "lmserve: %s\n", err.msg);
            goto done;
        }
        http.manager = repo_reloader_manager(rl);
    }
    code = server_run(&http, models, n);
done:
    repo_reloader_destroy(rl);
    free(models);
    repo_config_fini(&rc);
    return code;
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
