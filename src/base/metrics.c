/* metrics.c — the metrics registry: lock-free recording on atomics, locked set-up and
 * exposition in the Prometheus text format. Values are doubles kept as their bit patterns in
 * 64-bit atomics (C11 has no atomic add on floating types), updated by compare-and-swap. */
#include "base/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metric {
    metric_family *fam;
    char **values;                   /* label values, fam->n_labels of them */
    _Atomic uint64_t value;          /* counter/gauge value, histogram sum (double bits) */
    _Atomic uint64_t *buckets;       /* histogram: n_bounds + 1 counts (last: +Inf), not cumulative */
    struct metric *next;
};

struct metric_family {
    metrics *reg;
    char *name, *help;
    metric_type type;
    char *labels[METRICS_MAX_LABELS];
    size_t n_labels;
    double *bounds;
    size_t n_bounds;
    atomic_int enabled;
    metric *series, *last;
    struct metric_family *next;
};

struct metrics {
    pthread_mutex_t mu;              /* families and series lists (set-up and writing only) */
    metric_family *families, *last;
};

/* ---- doubles in atomics ---------------------------------------------------------------------- */

static uint64_t dbits(double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double bitsd(uint64_t u) {
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static void atomic_add_double(_Atomic uint64_t *a, double v) {
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, dbits(bitsd(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* ---- recording ------------------------------------------------------------------------------- */

void metric_add(metric *c, double v) {
    if (!c || isnan(v)) return;
    if (c->fam->type == METRIC_COUNTER && v < 0) return;
    if (c->fam->type == METRIC_HISTOGRAM) return;
    atomic_add_double(&c->value, v);
}

void metric_sub(metric *g, double v) {
    if (!g || g->fam->type != METRIC_GAUGE || isnan(v)) return;
    atomic_add_double(&g->value, -v);
}

void metric_set(metric *g, double v) {
    if (!g || g->fam->type != METRIC_GAUGE) return;
    atomic_store_explicit(&g->value, dbits(v), memory_order_relaxed);
}

void metric_observe(metric *h, double v) {
    if (!h || h->fam->type != METRIC_HISTOGRAM || isnan(v)) return;
    const metric_family *f = h->fam;
    /* Binary search for the first bound >= v; n_bounds when v is above them all (+Inf). */
    size_t lo = 0, hi = f->n_bounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->bounds[mid] >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->buckets[lo], 1, memory_order_relaxed);
    atomic_add_double(&h->value, v);
}

double metric_value(const metric *c) {
    if (!c) return 0;
    return bitsd(atomic_load_explicit(&((metric *)c)->value, memory_order_relaxed));
}

uint64_t metric_count(const metric *h) {
    if (!h || h->fam->type != METRIC_HISTOGRAM) return 0;
    uint64_t n = 0;
    for (size_t i = 0; i <= h->fam->n_bounds; i++)
        n += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    return n;
}

/* ---- set-up ---------------------------------------------------------------------------------- */

metrics *metrics_create(void) {
    metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

static void series_free(metric *s) {
    if (!s) return;
    if (s->values)
        for (size_t i = 0; i < s->fam->n_labels; i++) free(s->values[i]);
    free(s->values);
    free(s->buckets);
    free(s);
}

static void family_free(metric_family *f) {
    if (!f) return;
    for (metric *s = f->series, *next; s; s = next) {
        next = s->next;
        series_free(s);
    }
    free(f->name);
    free(f->help);
    for (size_t i = 0; i < f->n_labels; i++) free(f->labels[i]);
    free(f->bounds);
    free(f);
}

void metrics_destroy(metrics *m) {
    if (!m) return;
    for (metric_family *f = m->families, *next; f; f = next) {
        next = f->next;
        family_free(f);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; labels the same without ':'. */
static int valid_name(const char *s, int allow_colon) {
    if (!s || !*s) return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':') || (p > s && c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return 1;
}

static int family_matches(const metric_family *f, metric_type type, const char *const *labels,
                          size_t n_labels, const double *bounds, size_t n_bounds) {
    if (f->type != type || f->n_labels != n_labels || f->n_bounds != n_bounds) return 0;
    for (size_t i = 0; i < n_labels; i++)
        if (strcmp(f->labels[i], labels[i]) != 0) return 0;
    for (size_t i = 0; i < n_bounds; i++)
        if (f->bounds[i] != bounds[i]) return 0;
    return 1;
}

metric_family *metrics_family(metrics *m, const char *name, const char *help, metric_type type,
                              const char *const *labels, const double *bounds, size_t n_bounds,
                              lm_error *err) {
    if (!valid_name(name, 1)) {
        err_set(err, LM_ERR_INVALID, "metric name '%s' is not a valid Prometheus name",
                name ? name : "(null)");
        return NULL;
    }
    size_t n_labels = 0;
    while (labels && labels[n_labels]) {
        const char *l = labels[n_labels];
        if (!valid_name(l, 0) || strncmp(l, "__", 2) == 0 ||
            (type == METRIC_HISTOGRAM && strcmp(l, "le") == 0)) {
            err_set(err, LM_ERR_INVALID, "metric '%s': label name '%s' is not allowed", name, l);
            return NULL;
        }
        if (++n_labels > METRICS_MAX_LABELS) {
            err_set(err, LM_ERR_INVALID, "metric '%s': more than %d labels", name,
                    METRICS_MAX_LABELS);
            return NULL;
        }
    }
    if (type == METRIC_HISTOGRAM) {
        if (!bounds || n_bounds == 0 || n_bounds > METRICS_MAX_BOUNDS) {
            err_set(err, LM_ERR_INVALID, "metric '%s': a histogram needs 1 to %d bucket bounds",
                    name, METRICS_MAX_BOUNDS);
            return NULL;
        }
        for (size_t i = 0; i < n_bounds; i++) {
            if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
                err_set(err, LM_ERR_INVALID,
                        "metric '%s': bucket bounds must be finite and strictly increasing", name);
                return NULL;
            }
        }
    } else if (bounds || n_bounds) {
        err_set(err, LM_ERR_INVALID, "metric '%s': only a histogram has bucket bounds", name);
        return NULL;
    }

    pthread_mutex_lock(&m->mu);
    for (metric_family *f = m->families; f; f = f->next) {
        if (strcmp(f->name, name) != 0) continue;
        pthread_mutex_unlock(&m->mu);
        if (family_matches(f, type, labels, n_labels, bounds, n_bounds)) return f;
        err_set(err, LM_ERR_INVALID, "metric '%s' is already defined differently", name);
        return NULL;
    }
    metric_family *f = calloc(1, sizeof *f);
    int ok = f != NULL;
    if (ok) {
        f->reg = m;
        f->type = type;
        f->name = strdup(name);
        f->help = strdup(help ? help : "");
        ok = f->name && f->help;
        for (size_t i = 0; ok && i < n_labels; i++) {
            f->labels[i] = strdup(labels[i]);
            f->n_labels = i + 1;
            ok = f->labels[i] != NULL;
        }
        if (ok && n_bounds) {
            f->bounds = malloc(n_bounds * sizeof *f->bounds);
            ok = f->bounds != NULL;
            if (ok) {
                memcpy(f->bounds, bounds, n_bounds * sizeof *bounds);
                f->n_bounds = n_bounds;
            }
        }
        atomic_init(&f->enabled, 1);
    }
    if (!ok) {
        pthread_mutex_unlock(&m->mu);
        family_free(f);
        err_set(err, LM_ERR_NOMEM, "out of memory defining metric '%s'", name);
        return NULL;
    }
    if (m->last)
        m->last->next = f;
    else
        m->families = f;
    m->last = f;
    pthread_mutex_unlock(&m->mu);
    return f;
}

metric *metrics_series(metric_family *f, const char *const *values) {
    if (!f) return NULL;
    metrics *m = f->reg;
    pthread_mutex_lock(&m->mu);
    for (metric *s = f->series; s; s = s->next) {
        size_t i = 0;
        while (i < f->n_labels && strcmp(s->values[i], values[i] ? values[i] : "") == 0) i++;
        if (i == f->n_labels) {
            pthread_mutex_unlock(&m->mu);
            return s;
        }
    }
    metric *s = calloc(1, sizeof *s);
    int ok = s != NULL;
    if (ok) {
        s->fam = f;
        atomic_init(&s->value, dbits(0.0));
        if (f->n_labels) {
            s->values = calloc(f->n_labels, sizeof *s->values);
            ok = s->values != NULL;
            for (size_t i = 0; ok && i < f->n_labels; i++) {
                s->values[i] = strdup(values[i] ? values[i] : "");
                ok = s->values[i] != NULL;
            }
        }
        if (ok && f->type == METRIC_HISTOGRAM) {
            s->buckets = calloc(f->n_bounds + 1, sizeof *s->buckets);
            ok = s->buckets != NULL;
            for (size_t i = 0; ok && i <= f->n_bounds; i++) atomic_init(&s->buckets[i], 0);
        }
    }
    if (!ok) {
        pthread_mutex_unlock(&m->mu);
        series_free(s);
        return NULL;
    }
    if (f->last)
        f->last->next = s;
    else
        f->series = s;
    f->last = s;
    pthread_mutex_unlock(&m->mu);
    return s;
}

void metrics_family_zero(metric_family *f) {
    if (!f || f->type != METRIC_GAUGE) return;
    pthread_mutex_lock(&f->reg->mu);
    for (metric *s = f->series; s; s = s->next) atomic_store_explicit(&s->value, dbits(0.0), memory_order_relaxed);
    pthread_mutex_unlock(&f->reg->mu);
}

/* ---- enabling ---------------------------------------------------------------------------------- */

void metrics_family_enable(metric_family *f, int on) {
    if (f) atomic_store(&f->enabled, on ? 1 : 0);
}

int metrics_family_enabled(const metric_family *f) {
    return f && atomic_load(&((metric_family *)f)->enabled);
}

/* `name` names f as written, or f is a counter named name + "_total". */
static int names_family(const metric_family *f, const char *name) {
    if (strcmp(f->name, name) == 0) return 1;
    size_t n = strlen(name), fn = strlen(f->name);
    return f->type == METRIC_COUNTER && fn == n + 6 && strncmp(f->name, name, n) == 0 &&
           strcmp(f->name + n, "_total") == 0;
}

lm_status metrics_enable_only(metrics *m, const char *const *names, size_t n, lm_error *err) {
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (metric_family *f = m->families; f && !found; f = f->next) found = names_family(f, names[i]);
        if (!found) {
            pthread_mutex_unlock(&m->mu);
            return err_set(err, LM_ERR_INVALID, "unknown metric family '%s'", names[i]);
        }
    }
    for (metric_family *f = m->families; f; f = f->next) {
        int on = 0;
        for (size_t i = 0; i < n && !on; i++) on = names_family(f, names[i]);
        atomic_store(&f->enabled, on);
    }
    pthread_mutex_unlock(&m->mu);
    return LM_OK;
}

/* ---- exposition -------------------------------------------------------------------------------- */

/* Shortest decimal that reads back as v (Prometheus parses Go floats); NaN and infinities in the
 * format's spelling. */
static void write_double(lm_buf *out, double v) {
    if (isnan(v)) {
        buf_append_str(out, "NaN");
        return;
    }
    if (isinf(v)) {
        buf_append_str(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char s[40];
    if (v == floor(v) && fabs(v) < 1e15) { /* integers as integers: "10", not "1e+01" */
        snprintf(s, sizeof s, "%.0f", v);
        buf_append_str(out, s);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, v);
        if (strtod(s, NULL) == v) break;
    }
    buf_append_str(out, s);
}

/* Label values escape backslash, double quote and newline; help text backslash and newline. */
static void write_escaped(lm_buf *out, const char *s, int quote) {
    for (; *s; s++) {
        if (*s == '\\')
            buf_append_str(out, "\\\\");
        else if (*s == '\n')
            buf_append_str(out, "\\n");
        else if (quote && *s == '"')
            buf_append_str(out, "\\\"");
        else
            buf_append_char(out, *s);
    }
}

/* name{labels[,le="x"]} — `le` NULL for none. */
static void write_series_name(lm_buf *out, const metric_family *f, const metric *s,
                              const char *suffix, const char *le) {
    buf_append_str(out, f->name);
    buf_append_str(out, suffix);
    if (f->n_labels == 0 && !le) return;
    buf_append_char(out, '{');
    for (size_t i = 0; i < f->n_labels; i++) {
        if (i) buf_append_char(out, ',');
        buf_printf(out, "%s=\"", f->labels[i]);
        write_escaped(out, s->values[i], 1);
        buf_append_char(out, '"');
    }
    if (le) buf_printf(out, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    buf_append_char(out, '}');
}

static const char *type_name(metric_type t) {
    return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

static void write_family(lm_buf *out, const metric_family *f) {
    buf_printf(out, "# HELP %s ", f->name);
    write_escaped(out, f->help, 0);
    buf_printf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type));
    for (const metric *s = f->series; s; s = s->next) {
        if (f->type != METRIC_HISTOGRAM) {
            write_series_name(out, f, s, "", NULL);
            buf_append_char(out, ' ');
            write_double(out, metric_value(s));
            buf_append_char(out, '\n');
            continue;
        }
        uint64_t cum = 0;
        for (size_t i = 0; i <= f->n_bounds; i++) {
            cum += atomic_load_explicit(&((metric *)s)->buckets[i], memory_order_relaxed);
            char le[40];
            if (i == f->n_bounds) {
                strcpy(le, "+Inf");
            } else {
                lm_buf b = {0};
                write_double(&b, f->bounds[i]);
                snprintf(le, sizeof le, "%s", buf_cstr(&b));
                buf_fini(&b);
            }
            write_series_name(out, f, s, "_bucket", le);
            buf_printf(out, " %llu\n", (unsigned long long)cum);
        }
        write_series_name(out, f, s, "_sum", NULL);
        buf_append_char(out, ' ');
        write_double(out, metric_value(s));
        buf_append_char(out, '\n');
        write_series_name(out, f, s, "_count", NULL);
        buf_printf(out, " %llu\n", (unsigned long long)cum);
    }
}

void metrics_write(metrics *m, lm_buf *out) {
    pthread_mutex_lock(&m->mu);
    for (const metric_family *f = m->families; f; f = f->next)
        if (atomic_load(&((metric_family *)f)->enabled)) write_family(out, f);
    pthread_mutex_unlock(&m->mu);
}

void metrics_ovms_bounds(double divisor, double *out) {
    for (int i = 0; i < METRICS_OVMS_N_BOUNDS; i++) out[i] = floor(10.0 * pow(1.8, i)) / divisor;
}
