/* metrics.h — counters, gauges and histograms, written out in the Prometheus text format.
 *
 * A `metrics` registry holds families (a name, a help line, a type, label names, and for a
 * histogram its bucket upper bounds); a family holds series (one value, or one set of buckets,
 * per combination of label values). Setting up is slow and locked: families and series are made
 * once, at start-up or when a model is loaded, and a caller keeps the `metric *` it got. Recording
 * on a `metric *` is lock-free (C11 atomics, relaxed order) and allocation-free, so the
 * generation loop and HTTP threads may record per token without ever waiting on each other or on
 * a scrape. A series lives as long as its registry: a caller may keep recording on it after the
 * thing it describes is gone (a retired model keeps its last values, as Prometheus expects of a
 * counter).
 *
 * metrics_write() renders every enabled family in the text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): `# HELP`, `# TYPE`, then one
 * line per series, label values escaped, histograms as cumulative `_bucket{le=...}` lines plus
 * `_sum` and `_count`. A histogram's `_count` is the sum of its buckets as read, so it always
 * equals its `+Inf` bucket even while observations race with the scrape.
 *
 * Thread-safety: every function may be called from any thread. */
#ifndef LM_BASE_METRICS_H
#define LM_BASE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

/* Most label names per family; most bucket bounds per histogram. */
#define METRICS_MAX_LABELS 8
#define METRICS_MAX_BOUNDS 64

/* OVMS's histogram buckets: 33 upper bounds, bound_i = floor(10 * 1.8^i) microseconds
 * (10 us .. about 24.5 minutes). */
#define METRICS_OVMS_N_BOUNDS 33

typedef struct metrics metrics;
typedef struct metric_family metric_family;
typedef struct metric metric;

/* An empty registry (NULL on out-of-memory). Every family starts enabled. */
metrics *metrics_create(void);
/* Frees the registry, its families and series; no other thread may record afterwards. Accepts
 * NULL. */
void metrics_destroy(metrics *m);

/* Defines a family, or returns the one already defined under `name` when type, label names and
 * bounds agree. `labels` is a NULL-terminated list of label names (NULL: none); `bounds` are a
 * histogram's strictly increasing, finite upper bounds (the `+Inf` bucket is implicit) and must
 * be NULL/0 for other types. Strings are copied. Errors (NULL and *err set): LM_ERR_INVALID for a
 * name or label name that is not a valid Prometheus name (or a label named `le` on a histogram,
 * or reserved `__` prefix), bad bounds, too many labels or bounds, or a redefinition that
 * disagrees; LM_ERR_NOMEM. */
metric_family *metrics_family(metrics *m, const char *name, const char *help, metric_type type,
                              const char *const *labels, const double *bounds, size_t n_bounds,
                              lm_error *err);

/* The series of `f` with these label values (as many as the family has label names, in their
 * order; NULL when it has none), made on first use. Any bytes are allowed in values (they are
 * escaped when written). Returns NULL only on out-of-memory or a NULL family. */
metric *metrics_series(metric_family *f, const char *const *values);

/* ---- recording (lock-free; a NULL metric is ignored, so a failed set-up costs no checks) ---- */

/* Counter or gauge: adds v (a counter ignores v < 0 and NaN: counters never go down). */
void metric_add(metric *c, double v);
static inline void metric_inc(metric *c) { metric_add(c, 1.0); }
/* Gauge: subtracts v. */
void metric_sub(metric *g, double v);
/* Gauge: sets the value. */
void metric_set(metric *g, double v);
/* Histogram: counts v in the first bucket whose bound is >= v (Prometheus's `le`), adds it to the
 * sum. NaN is ignored. */
void metric_observe(metric *h, double v);

/* Gauge family: sets every series to 0 (for state-style gauges rebuilt from a snapshot). */
void metrics_family_zero(metric_family *f);

/* ---- reading (for tests and status pages) ---- */

/* A counter's or gauge's value; a histogram's sum. */
double metric_value(const metric *c);
/* A histogram's number of observations (0 for other types). */
uint64_t metric_count(const metric *h);

/* ---- families on and off (OVMS's metrics_list) ---- */

/* Enables exactly the families named in `names` (n of them) and disables the rest. A name may be
 * given with or without a counter's `_total` suffix. Error: LM_ERR_INVALID naming the first name
 * that is not a defined family (nothing changes then). */
lm_status metrics_enable_only(metrics *m, const char *const *names, size_t n, lm_error *err);
/* Turns one family on or off. */
void metrics_family_enable(metric_family *f, int on);
int metrics_family_enabled(const metric_family *f);

/* Appends every enabled family, in definition order, to *out (check out->oom). */
void metrics_write(metrics *m, lm_buf *out);

/* Fills out[0..METRICS_OVMS_N_BOUNDS) with OVMS's bucket bounds divided by `divisor` (1:
 * microseconds; 1e6: seconds, each the double nearest the exact decimal). */
void metrics_ovms_bounds(double divisor, double *out);

#endif
