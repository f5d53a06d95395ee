/* serve.h — the server command (`lmserve [flags]`): from the command line to a plan that main.c
 * wires into a program.
 *
 * cli_serve_plan_make() parses the OVMS-compatible flags (cli.h) and runs the modes that end at
 * once: --help, --version, config management (--add_to_config, --remove_from_config,
 * --list_models: repo/manage.h) and pull (--pull: repo/pull.h). For serving it fills a plan: the
 * HTTP server's options (server/server.h), the models to load (repo/config.h, or the bundled
 * demo model) and what changes them while serving (a config.json to watch, or a --source_model
 * to pull in the background: repo/reload.h). main.c then builds the registry, the server and the
 * manager, waits for SIGINT/SIGTERM or the manager's end, and shuts down in order. The
 * libraries take option structs that the functions here build from the flags; none of them
 * reads the command line or signals the process. */
#ifndef LM_CLI_SERVE_H
#define LM_CLI_SERVE_H

#include <stdio.h>

#include "cli/cli.h"
#include "repo/config.h"
#include "repo/pull.h"
#include "server/server.h"
#include "serving/registry.h"

/* What the server command is to run. */
typedef struct {
    cli_server_opts o;           /* the parsed flags (strings borrowed from argv) */
    server_config http;          /* address, port, workers; manager left for the wiring */
    registry_model *models;      /* the models to load at start, n_models long (0 with fetch) */
    size_t n_models;
    /* what changes the models while serving: at most one of these */
    const char *watch_config;    /* --config_path: watch it (every watch_poll_s, 0: never) and
                                  * reload on POST /v1/config/reload */
    int watch_poll_s;
    int fetch;                   /* --source_model without --pull: pull in the background */
    repo_pull_opts pull;         /* fetch: what to pull (hub and out left to the fetcher) */
    const char *fetch_name;      /* fetch: the served name; NULL: the source model */
    /* private: what the models' strings point into */
    repo_config rc;
    char demo[4096];
} cli_serve_plan;

/* The server command's front: argv as main() got it. Returns CLI_CONTINUE with *plan filled when
 * there is a program to run (cli_serve_plan_fini it afterwards), else the process exit code of a
 * mode that ran (help, version, config management, pull) or of an error, printed to stderr
 * (cli.h's rule: 1, 2, 64). */
int cli_serve_plan_make(int argc, char **argv, cli_serve_plan *plan);

/* Frees what the plan owns. Accepts a plan cli_serve_plan_make() returned anything for. */
void cli_serve_plan_fini(cli_serve_plan *plan);

/* The models to serve as the flags say (repo_config_from_opts); changed_* compare each flag
 * with its default in the server table. Strings are borrowed from *o. */
repo_config_opts cli_config_opts(const cli_server_opts *o);

/* The pull options the flags give (--pull, and --source_model without it): repository is the
 * folder to pull into. Strings are borrowed from *o. hub and out are left for the caller. */
repo_pull_opts cli_pull_opts(const cli_server_opts *o, const char *repository);

/* True when the flags ask for the config management mode. */
int cli_manage_requested(const cli_server_opts *o);

/* Runs the management command the flags ask for, with OVMS's messages: results and "Config
 * updated: <path>" on `out`; usage errors on `errs` (exit 64); a failed command on `errs` (exit
 * 1), an update as "<path> error on config update : <why>". Returns the process exit code.
 * Differences from OVMS, on purpose: failures go to stderr (OVMS prints them on stdout); a
 * --list_models path that is not a folder exits 1 (OVMS logs it and exits 0); a base_path made
 * from --model_repository_path follows repo_model_base_path(). */
int cli_manage_run(const cli_server_opts *o, FILE *out, FILE *errs);

/* The --pull command: checks the flags (exit 64 with OVMS's messages for a missing
 * --source_model or --model_repository_path, OVMS_MODEL_REPOSITORY_PATH being the default),
 * pulls with a progress bar on a terminal, stops cleanly on SIGINT/SIGTERM ("re-run the same
 * command to resume"), and returns the exit code (0, 1, 2 for a task other than
 * text_generation, given or inferred, 64). */
int cli_pull_run(const cli_server_opts *o, FILE *out, FILE *errs);

#endif
