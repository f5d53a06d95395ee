/* serving_metrics.h — what the generation loop records for Prometheus, per model (label `name`):
 * time to first token, time per output token, inter-token latency and end-to-end request time
 * (histograms, seconds, OVMS's bucket bounds), requests running and waiting, and KV-cache blocks
 * used and total (gauges). Recording happens on the loop thread with lock-free atomics
 * (base/metrics.h); nothing here waits on a scrape. The HTTP side's families (OVMS's request
 * counters, tokens, finish reasons, errors) are the server's (src/server/ops.c). */
#ifndef LM_SERVING_SERVING_METRICS_H
#define LM_SERVING_SERVING_METRICS_H

#include "base/error.h"
#include "base/metrics.h"

/* One model's series; all NULL when metrics are off (recording on NULL does nothing). */
typedef struct {
    metric *ttft;                /* submit -> first generated token */
    metric *tpot;                /* (last token - first token) / (tokens - 1), per request */
    metric *itl;                 /* between consecutive tokens of a request */
    metric *e2e;                 /* submit -> finish */
    metric *running, *waiting;   /* sequences in the batch; requests queued */
    metric *kv_used, *kv_total;  /* KV-cache blocks */
} serving_metrics;

/* Defines the serving families in `m` (idempotent: a second call finds them). */
lm_status serving_metrics_define(metrics *m, lm_error *err);

/* Fills *out with the series of model `name` (defining the families if needed); zeroes it when
 * m is NULL or on failure (then metrics are simply not recorded for this model). */
void serving_metrics_model(metrics *m, const char *name, serving_metrics *out);

#endif
