/* main.c — the lmserve entry point, and where the serving program is wired: a subcommand name as
 * first argument runs that tool (src/cli/commands.h); anything else is the OVMS-compatible
 * server command, whose flags src/cli/serve.h turns into a plan that run_program() below
 * assembles (registry, HTTP server, the manager that changes the models, signals, shutdown). */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/metrics.h"
#include "cli/commands.h"
#include "cli/serve.h"
#include "repo/reload.h"
#include "server/server.h"
#include "serving/registry.h"

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

/* Loads `models` (in order), starts the manager if any, serves until SIGINT or SIGTERM, or until
 * the manager's ended() says so, then shuts down gracefully: the manager stops first, then the
 * HTTP server (grace period for in-flight requests), then the models. Returns the exit code: 0
 * after a signal (or what the manager's stop() says), 1 when the address cannot be bound, a
 * model fails to load or the manager cannot start. */
static int run_program(const server_config *http, const registry_model *models, size_t n_models) {
    /* Before any thread exists: every thread inherits the mask, and only sigtimedwait() below
     * sees SIGINT/SIGTERM. SIGPIPE would kill us on a write to a closed socket. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    lm_error err;
    err_clear(&err);
    registry *reg = NULL;
    server *srv = NULL;
    const repo_manager *mgr = http->manager;
    int rc = 1;
    if (registry_create(&reg, &err) != LM_OK) goto fail;
    registry_set_serving(reg, http->metrics, http->max_queued_requests);
    for (size_t i = 0; i < n_models; i++)
        if (registry_add(reg, &models[i], &err) != LM_OK) goto fail;
    if (server_start(http, reg, &srv, &err) != LM_OK) goto fail;
    if (registry_load_all(reg, &err) != LM_OK) goto fail;
    if (mgr && mgr->start && mgr->start(mgr->ctx, reg, &err) != LM_OK) goto fail;
    if (log_get_format() == LOG_FORMAT_JSON) /* every stderr line stays JSON */
        log_info("serving %zu model(s) on port %d", registry_count(reg), server_port(srv));
    else
        fprintf(stderr, "lmserve: serving %zu model(s) on port %d; press Ctrl-C to stop\n", registry_count(reg),
                server_port(srv));

    /* the main loop: a signal, or the manager asking for the end (checked every 200 ms) */
    for (;;) {
        struct timespec tick = {0, 200 * 1000000L};
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info("received %s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        if (mgr && mgr->ended && mgr->ended(mgr->ctx)) {
            log_info("shutting down");
            break;
        }
    }
    rc = mgr && mgr->stop ? mgr->stop(mgr->ctx) : 0;
    server_stop(srv, LM_HTTP_SHUTDOWN_GRACE_MS);
    registry_destroy(reg);
    server_destroy(srv);
    log_info("stopped");
    return rc;

fail:
    if (log_get_format() == LOG_FORMAT_JSON) log_error("%s", err.msg);
    else fprintf(stderr, "lmserve: %s\n", err.msg);
    server_stop(srv, 0);
    registry_destroy(reg);
    server_destroy(srv);
    return rc;
}

/* ---- operations: API key, metrics, queue bound, deadline (docs/operations.md) ---- */

#define MAX_METRIC_NAMES 64

typedef struct {
    char *api_key;
    metrics *mx;
    char *list;                  /* a copy of the metrics list, split in place */
    const char *names[MAX_METRIC_NAMES];
} ops_state;

static void ops_fini(ops_state *st) {
    free(st->api_key);
    metrics_destroy(st->mx);
    free(st->list);
    memset(st, 0, sizeof *st);
}

/* Fills the operations fields of *http from the flags and config.json's monitoring (rc may be
 * NULL). Returns 0, or an exit code after printing why. */
static int ops_init(const cli_server_opts *o, const repo_config *rc, server_config *http, ops_state *st) {
    memset(st, 0, sizeof *st);
    lm_error err;
    err_clear(&err);
    if (server_load_api_key(o->api_key_file, &st->api_key, &err) != LM_OK) {
        fprintf(stderr, "lmserve: %s\n", err.msg);
        return CLI_EXIT_USAGE;
    }
    int enable = o->metrics_enable || (rc && rc->metrics_enable);
    const char *list = o->metrics_list ? o->metrics_list : rc ? rc->metrics_list : NULL;
    if (list && !enable) {
        fprintf(stderr, "lmserve: %s needs metrics to be enabled (--metrics_enable or "
                        "monitoring.metrics.enable in config.json)\n",
                o->metrics_list ? "--metrics_list" : "monitoring.metrics.metrics_list");
        return CLI_EXIT_USAGE;
    }
    size_t n = 0;
    if (list) {
        st->list = strdup(list);
        if (!st->list) return CLI_EXIT_FAILURE;
        char *save = NULL;
        for (char *t = strtok_r(st->list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ') t++;
            size_t len = strlen(t);
            while (len && t[len - 1] == ' ') t[--len] = '\0';
            if (!*t) continue;
            if (n == MAX_METRIC_NAMES) {
                fprintf(stderr, "lmserve: --metrics_list: more than %d names\n", MAX_METRIC_NAMES);
                return CLI_EXIT_USAGE;
            }
            st->names[n++] = t;
        }
    }
    if (enable) {
        st->mx = metrics_create();
        if (!st->mx) return CLI_EXIT_FAILURE;
    }
    http->api_key = st->api_key;
    http->api_key_protect_health = o->api_key_protect_health;
    http->metrics = st->mx;
    http->metrics_list = list ? st->names : NULL;
    http->n_metrics_list = n;
    http->request_timeout_s = (int)o->request_timeout_s;
    http->max_queued_requests = (int)o->max_queued_requests;
    return 0;
}

/* The plan's manager (repo/reload.h), then the program. */
static int serve(const cli_serve_plan *p) {
    server_config http = p->http;
    repo_reloader *rl = NULL;
    repo_fetcher *f = NULL;
    lm_error err;
    err_clear(&err);
    if (p->fetch) {
        lm_status s = repo_fetcher_create(&p->pull, p->fetch_name, &f, &err);
        if (s != LM_OK) {
            fprintf(stderr, "lmserve: %s\n", err.msg);
            return cli_exit_code(s);
        }
        http.manager = repo_fetcher_manager(f);
    } else if (p->watch_config) {
        if (repo_reloader_create(p->watch_config, p->watch_poll_s, &rl, &err) != LM_OK) {
            fprintf(stderr, "lmserve: %s\n", err.msg);
            return CLI_EXIT_FAILURE;
        }
        http.manager = repo_reloader_manager(rl);
    }
    ops_state ops;
    int code = ops_init(&p->o, &p->rc, &http, &ops);
    if (code == 0) code = run_program(&http, p->models, p->n_models);
    ops_fini(&ops);
    repo_fetcher_destroy(f);
    repo_reloader_destroy(rl);
    return code;
}

int main(int argc, char **argv) {
    if (argc >= 2) {
        for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
            if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].run(argc - 1, argv + 1);
    }
    cli_serve_plan plan;
    int code = cli_serve_plan_make(argc, argv, &plan);
    if (code == CLI_CONTINUE) code = serve(&plan);
    cli_serve_plan_fini(&plan);
    return code;
}
