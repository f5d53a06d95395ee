/* serving_metrics.c — the generation loop's metric families and per-model series. */
#include "serving/serving_metrics.h"

#include <string.h>

static const char *const k_name[] = {"name", NULL};

typedef struct {
    const char *name, *help;
    metric_type type;
} family_def;

/* In serving_metrics field order. */
static const family_def k_defs[] = {
    {"lmserve_time_to_first_token_seconds", "Time from a request's submission to its first token.",
     METRIC_HISTOGRAM},
    {"lmserve_time_per_output_token_seconds",
     "Per request: time between its first and last token over the tokens in between.", METRIC_HISTOGRAM},
    {"lmserve_inter_token_latency_seconds", "Time between consecutive tokens of a request.",
     METRIC_HISTOGRAM},
    {"lmserve_request_duration_seconds", "Time from a request's submission to its end.", METRIC_HISTOGRAM},
    {"lmserve_requests_running", "Sequences in the running batch.", METRIC_GAUGE},
    {"lmserve_requests_waiting", "Requests queued for a place in the batch.", METRIC_GAUGE},
    {"lmserve_kv_cache_used_blocks", "KV-cache blocks in use (prefix-cached blocks included).", METRIC_GAUGE},
    {"lmserve_kv_cache_capacity_blocks", "KV-cache blocks in the pool.", METRIC_GAUGE},
};
#define N_DEFS (sizeof k_defs / sizeof k_defs[0])

static metric_family *define(metrics *m, const family_def *d, lm_error *err) {
    double b[METRICS_OVMS_N_BOUNDS];
    metrics_ovms_bounds(1e6, b);
    int h = d->type == METRIC_HISTOGRAM;
    return metrics_family(m, d->name, d->help, d->type, k_name, h ? b : NULL, h ? METRICS_OVMS_N_BOUNDS : 0, err);
}

lm_status serving_metrics_define(metrics *m, lm_error *err) {
    for (size_t i = 0; i < N_DEFS; i++)
        if (!define(m, &k_defs[i], err)) return err->code;
    return LM_OK;
}

void serving_metrics_model(metrics *m, const char *name, serving_metrics *out) {
    memset(out, 0, sizeof *out);
    if (!m) return;
    metric **slots[N_DEFS] = {&out->ttft, &out->tpot, &out->itl, &out->e2e,
                              &out->running, &out->waiting, &out->kv_used, &out->kv_total};
    for (size_t i = 0; i < N_DEFS; i++) {
        lm_error err;
        err_clear(&err);
        metric_family *f = define(m, &k_defs[i], &err);
        *slots[i] = f ? metrics_series(f, &name) : NULL;
    }
}
