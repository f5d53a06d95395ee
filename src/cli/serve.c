/* serve.c — the server command: flags to option structs, the repository modes (--pull, config
 * management), and the plan of what to serve that main.c wires into a program. See serve.h. */
#include "cli/serve.h"

#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/limits.h"
#include "base/log.h"
#include "cli/demo.h"
#include "repo/manage.h"
#include "repo/reload.h"

/* ---------------------------------------------------------------- flags to option structs */

/* The server table's default for an integer or boolean flag. */
static int64_t flag_default(const char *name) {
    const cli_flag *f = cli_find_flag(&cli_server_command, name);
    if (!f || !f->def) return 0;
    if (!strcmp(f->def, "true")) return 1;
    if (!strcmp(f->def, "false")) return 0;
    return strtoll(f->def, NULL, 10);
}

repo_config_opts cli_config_opts(const cli_server_opts *o) {
    repo_config_opts r = {
        .config_path = o->config_path,
        .model_path = o->model_path,
        .model_name = o->model_name,
        .source_model = o->source_model,
        .model_repository_path = o->model_repository_path,
        .pull = o->pull,
        .max_num_seqs = (int)o->max_num_seqs,
        .cache_size = (double)o->cache_size,
        .enable_prefix_caching = o->enable_prefix_caching,
        .max_prompt_len = (int)o->max_prompt_len,
        .tool_parser = o->tool_parser,
        .reasoning_parser = o->reasoning_parser,
        .changed_max_num_seqs = o->max_num_seqs != flag_default("max_num_seqs"),
        .changed_cache_size = o->cache_size != flag_default("cache_size"),
        .changed_enable_prefix_caching = (int64_t)o->enable_prefix_caching != flag_default("enable_prefix_caching"),
        .changed_max_prompt_len = o->max_prompt_len != flag_default("max_prompt_len"),
    };
    return r;
}

static atomic_int interrupted; /* lock-free: safe to set from a signal handler */
static void on_signal(int sig) {
    (void)sig;
    atomic_store(&interrupted, 1);
}

repo_pull_opts cli_pull_opts(const cli_server_opts *o, const char *repository) {
    repo_pull_opts p = {
        .source_model = o->source_model,
        .repository_path = repository,
        .gguf_filename = o->gguf_filename,
        .task = o->task,
        .overwrite = o->overwrite_models,
        .graph = repo_graph_defaults(),
    };
    p.graph.max_num_seqs = o->max_num_seqs;
    p.graph.enable_prefix_caching = o->enable_prefix_caching;
    p.graph.cache_size = o->cache_size;
    p.graph.max_prompt_len = o->max_prompt_len;
    p.graph.tool_parser = o->tool_parser;
    p.graph.reasoning_parser = o->reasoning_parser;
    p.graph.cache_dir = o->cache_dir;
    p.graph.plugin_config = o->plugin_config;
    if (o->max_num_batched_tokens > 0) p.graph.max_num_batched_tokens = o->max_num_batched_tokens;
    p.graph.dynamic_split_fuse = o->dynamic_split_fuse;
    /* written as given (OVMS's NPU demo); serving such a graph runs it on the CPU and says so */
    p.graph.device = o->target_device == 1 ? "NPU" : "CPU"; /* --target_device CPU|NPU */
    return p;
}

/* ---------------------------------------------------------------- --pull */

int cli_pull_run(const cli_server_opts *o, FILE *out, FILE *errs) {
    const char *env = getenv("OVMS_MODEL_REPOSITORY_PATH");
    const char *repo = o->model_repository_path ? o->model_repository_path : env && *env ? env : NULL;
    if (!o->source_model) {
        fprintf(errs, "source_model parameter is required for pull mode\n");
        return CLI_EXIT_USAGE;
    }
    if (!repo) {
        fprintf(errs, "model_repository_path parameter is required for pull mode\n");
        return CLI_EXIT_USAGE;
    }
    if (o->task > 0) {
        fprintf(errs, "lmserve: --task: only text_generation is supported\n");
        return CLI_EXIT_UNSUPPORTED;
    }
    repo_pull_opts p = cli_pull_opts(o, repo);
    p.hub = (hub_opts){.retries = -1, .progress = -1, .log = errs};
    p.out = out;

    /* Ctrl+C stops the transfer at once and leaves a resumable state */
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    atomic_store(&interrupted, 0);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    p.hub.stop = &interrupted;

    lm_error err;
    err_clear(&err);
    lm_status s = repo_pull(&p, NULL, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (s == LM_OK) return CLI_EXIT_OK;
    fprintf(errs, "lmserve: pulling %s failed: %s\n", o->source_model, err.msg);
    return s == LM_ERR_INVALID ? CLI_EXIT_USAGE : s == LM_ERR_UNSUPPORTED ? CLI_EXIT_UNSUPPORTED : CLI_EXIT_FAILURE;
}

/* ---------------------------------------------------------------- config management */

int cli_manage_requested(const cli_server_opts *o) {
    return o->add_to_config || o->remove_from_config || o->list_models;
}

static int usage(FILE *errs, const char *msg) {
    fprintf(errs, "%s\n", msg);
    return CLI_EXIT_USAGE;
}

static const char usage_add_remove[] =
    "Usage: \n"
    "  lmserve --add_to_config --model_name <model_name> --model_repository_path <repo_path> --config_path <config_path>\n"
    "  lmserve --add_to_config --model_name <model_name> --model_path <model_path> --config_path <config_path>\n"
    "  lmserve --remove_from_config --model_name <model_name> --config_path <config_path>\n";

int cli_manage_run(const cli_server_opts *o, FILE *out, FILE *errs) {
    const char *env = getenv("OVMS_MODEL_REPOSITORY_PATH");
    if (env && !*env) env = NULL;
    const char *repo = o->model_repository_path ? o->model_repository_path : env;
    int hf = o->pull || o->source_model;

    if (o->list_models) {
        if (hf) return usage(errs, "error parsing options - --list_models cannot be used with --pull or --task");
        if (o->add_to_config) return usage(errs, "error parsing options - --list_models cannot be used with --add_to_config");
        if (o->remove_from_config) return usage(errs, "error parsing options - --list_models cannot be used with --remove_from_config");
        if (!repo) return usage(errs, "Use --list_models with --model_repository_path");
        fprintf(out, "Listing models in repository...\nModel repository path: %s\n", repo);
        repo_name_list l;
        lm_error err;
        err_clear(&err);
        if (repo_list_models(repo, &l, &err) != LM_OK) {
            fprintf(errs, "%s\n", err.msg);
            return CLI_EXIT_FAILURE;
        }
        for (size_t i = 0; i < l.n; i++) fprintf(out, "%s\n", l.names[i]);
        repo_name_list_fini(&l);
        return CLI_EXIT_OK;
    }
    if (!o->add_to_config && !o->remove_from_config) return usage(errs, "no config management flag given");

    const char *flag = o->add_to_config ? "--add_to_config" : "--remove_from_config";
    char msg[160];
    if (hf) {
        snprintf(msg, sizeof msg, "error parsing options - %s cannot be used with --pull or --task", flag);
        return usage(errs, msg);
    }
    if (o->add_to_config && o->remove_from_config)
        return usage(errs, "error parsing options - --add_to_config cannot be used with --remove_from_config");
    if (o->remove_from_config && o->model_path)
        return usage(errs, "error parsing options - --model_path cannot be used with --remove_from_config");
    char *default_config = NULL;
    const char *config = o->config_path;
    if (!config && env) {
        lm_buf b = {0};
        buf_printf(&b, "%s/config.json", env);
        default_config = b.data;
        config = default_config;
        if (config) fprintf(out, "Using default config path: %s\n", config);
    }
    int rc = CLI_EXIT_OK;
    char *derived = NULL;
    if (!config) {
        rc = usage(errs, "Set config_path with add_to_config/remove_from_config");
    } else if (!o->model_name) {
        fprintf(errs, "Set model_name with add_to_config/remove_from_config\n%s", usage_add_remove);
        rc = CLI_EXIT_USAGE;
    } else {
        lm_error err;
        err_clear(&err);
        lm_status s;
        if (o->add_to_config) {
            const char *path = o->model_path;
            if (!path && repo) path = derived = repo_model_base_path(config, repo, o->model_name);
            if (!path) {
                fprintf(errs, "Set model_name either with model_path or model_repository_path with "
                              "add_to_config\n%s", usage_add_remove);
                free(default_config);
                return CLI_EXIT_USAGE;
            }
            s = repo_config_add(config, o->model_name, path, &err);
        } else {
            s = repo_config_remove(config, o->model_name, &err);
        }
        if (s == LM_OK) {
            fprintf(out, "Config updated: %s\n", config);
        } else {
            fprintf(errs, "%s error on config update : %s\n", config, err.msg);
            rc = CLI_EXIT_FAILURE;
        }
    }
    free(derived);
    free(default_config);
    return rc;
}

/* ---------------------------------------------------------------- serving: the plan */

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
static int plan_source(cli_serve_plan *p) {
    const cli_server_opts *o = &p->o;
    if (o->task > 0) {
        fprintf(stderr, "lmserve: --task: only text_generation is supported\n");
        return CLI_EXIT_UNSUPPORTED;
    }
    const char *env = getenv("OVMS_MODEL_REPOSITORY_PATH");
    const char *repo = o->model_repository_path ? o->model_repository_path : env && *env ? env : NULL;
    p->fetch = 1;
    p->pull = cli_pull_opts(o, repo);
    p->fetch_name = o->model_name;
    return CLI_CONTINUE;
}

/* What the flags name (repo_config_from_opts: --config_path's models, or --model_path as
 * --model_name), or with no model flags the bundled demo model as "demo", on --rest_port (0, the
 * OVMS default meaning "REST off", serves on 8000: lmserve has no gRPC, so REST is all there is). */
static int plan_models(cli_serve_plan *p) {
    const cli_server_opts *o = &p->o;
    if (o->source_model && !o->config_path && !o->model_path) return plan_source(p);
    lm_error err;
    err_clear(&err);
    repo_config_opts ro = cli_config_opts(o);
    lm_status s = repo_config_from_opts(&ro, &p->rc, &err);
    for (size_t i = 0; i < p->rc.n_warnings; i++) log_warn("%s", p->rc.warnings[i]);
    if (o->target_device == 1) /* NPU */
        log_warn("no NPU support: serving %s on the CPU", o->model_name ? o->model_name : "every model");
    if (s != LM_OK) {
        fprintf(stderr, "lmserve: %s\n", err.msg);
        if (s == LM_ERR_INVALID) fprintf(stderr, "Try 'lmserve --help'.\n");
        return cli_exit_code(s);
    }
    size_t n = p->rc.n_models ? p->rc.n_models : 1;
    p->models = calloc(n, sizeof *p->models);
    if (!p->models) {
        fprintf(stderr, "lmserve: out of memory\n");
        return CLI_EXIT_FAILURE;
    }
    if (p->rc.n_models == 0) {
        if (cli_demo_model_path(p->demo, sizeof p->demo) != 0) {
            fprintf(stderr, "lmserve: no model given and the bundled demo model (models/demo/%s) is not "
                            "found; pass --model_path or --config_path\n", CLI_DEMO_MODEL_FILE);
            return CLI_EXIT_FAILURE;
        }
        servable_config *c = &p->models[0].cfg;
        c->path = p->demo;
        c->name = "demo";
        c->max_num_seqs = (int)o->max_num_seqs;
        c->max_prompt_len = (int)o->max_prompt_len;
        c->cache_size_gb = (double)o->cache_size;
        c->enable_prefix_caching = o->enable_prefix_caching;
    }
    for (size_t i = 0; i < p->rc.n_models; i++) repo_model_to_registry(&p->rc.models[i], &p->models[i]);
    p->n_models = n;
    if (o->config_path) {
        p->watch_config = o->config_path; /* reloaded on change and on request */
        p->watch_poll_s = (int)o->file_system_poll_wait_seconds;
    }
    return CLI_CONTINUE;
}

int cli_serve_plan_make(int argc, char **argv, cli_serve_plan *p) {
    memset(p, 0, sizeof *p);
    cli_server_opts *o = &p->o;
    lm_error err;
    err_clear(&err);
    lm_status s = cli_parse(&cli_server_command, argc, argv, o, &err);
    /* --help and --version win over flags that are valid but not built yet */
    if (s == LM_OK || s == LM_ERR_UNSUPPORTED) {
        if (o->help) {
            cli_print_help(stdout, &cli_server_command);
            return CLI_EXIT_OK;
        }
        if (o->version) {
            printf("lmserve %s\n", LM_VERSION);
            return CLI_EXIT_OK;
        }
        /* config management mode (it reads --config_path and --model_repository_path itself) */
        if (cli_manage_requested(o)) return cli_manage_run(o, stdout, stderr);
        /* pull mode: downloads, writes graph.pbtxt and exits (the task flags shape the graph) */
        if (o->pull) return cli_pull_run(o, stdout, stderr);
    }
    if (s != LM_OK) {
        fprintf(stderr, "lmserve: %s\n", err.msg);
        if (s == LM_ERR_INVALID) fprintf(stderr, "Try 'lmserve --help'.\n");
        return cli_exit_code(s);
    }
    log_set_level((log_level)o->log_level);
    log_set_format(o->log_format == 1 ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
    p->http = http_config(o);
    return plan_models(p);
}

void cli_serve_plan_fini(cli_serve_plan *p) {
    free(p->models);
    p->models = NULL;
    repo_config_fini(&p->rc);
}
