/* serve.h — the server command (`lmserve [flags]`): where the program is wired together.
 *
 * cli_serve() parses the OVMS-compatible flags (cli.h) and runs one of the modes they ask for:
 * config management (--add_to_config, --remove_from_config, --list_models: repo/manage.h), pull
 * (--pull: repo/pull.h), or serving. Serving builds the model list (repo/config.h, or the bundled
 * demo model), the registry (serving/registry.h), the HTTP server (server/server.h) and the
 * manager that changes the models while serving (repo/reload.h: the config.json watcher, or the
 * background download of --source_model), loads the models, then waits for SIGINT/SIGTERM, or
 * for the manager to ask for the end, and shuts everything down in order. The libraries below
 * take option structs that the functions here build from the flags; none of them reads the
 * command line, installs a signal handler for the server, or signals the process. */
#ifndef LM_CLI_SERVE_H
#define LM_CLI_SERVE_H

#include <stdio.h>

#include "cli/cli.h"
#include "repo/config.h"
#include "repo/pull.h"

/* The server command: argv as main() got it. Returns the process exit code (cli.h's rule): 0
 * after a signal (or what the manager's stop() says), 1 when the address cannot be bound, a model
 * fails to load or the manager cannot start, 2 and 64 as cli_exit_code(). */
int cli_serve(int argc, char **argv);

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
