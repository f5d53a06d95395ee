/* tests/base/test_metrics.c — the metrics registry: recording, exposition text, enabling,
 * concurrent recording, and (where promtool is installed) Prometheus's own linter on the output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/metrics.h"

static const char *const k_model_labels[] = {"name", NULL};

static void test_counter_and_gauge(void **state) {
    (void)state;
    metrics *m = metrics_create();
    lm_error err;
    err_clear(&err);
    metric_family *c = metrics_family(m, "x_requests_total", "Requests.", METRIC_COUNTER,
                                      k_model_labels, NULL, 0, &err);
    assert_non_null(c);
    metric *a = metrics_series(c, (const char *[]){"a"});
    metric *b = metrics_series(c, (const char *[]){"b"});
    assert_ptr_equal(metrics_series(c, (const char *[]){"a"}), a);
    assert_ptr_not_equal(a, b);
    metric_inc(a);
    metric_add(a, 2.5);
    metric_add(a, -10); /* counters never go down */
    assert_true(metric_value(a) == 3.5);
    assert_true(metric_value(b) == 0);

    metric_family *g = metrics_family(m, "x_running", "Running.", METRIC_GAUGE, NULL, NULL, 0, &err);
    metric *gs = metrics_series(g, NULL);
    metric_add(gs, 3);
    metric_sub(gs, 1);
    assert_true(metric_value(gs) == 2);
    metric_set(gs, 0.25);
    assert_true(metric_value(gs) == 0.25);
    metrics_family_zero(g);
    assert_true(metric_value(gs) == 0);
    metrics_family_zero(c); /* not a gauge: untouched */
    assert_true(metric_value(a) == 3.5);
    metric_set(gs, 0.25);
    metric_inc(NULL); /* a failed set-up costs nothing */

    lm_buf out = {0};
    metrics_write(m, &out);
    assert_string_equal(buf_cstr(&out),
                        "# HELP x_requests_total Requests.\n"
                        "# TYPE x_requests_total counter\n"
                        "x_requests_total{name=\"a\"} 3.5\n"
                        "x_requests_total{name=\"b\"} 0\n"
                        "# HELP x_running Running.\n"
                        "# TYPE x_running gauge\n"
                        "x_running 0.25\n");
    buf_fini(&out);
    metrics_destroy(m);
}

static void test_histogram_buckets(void **state) {
    (void)state;
    metrics *m = metrics_create();
    lm_error err;
    err_clear(&err);
    const double bounds[] = {0.1, 1, 10};
    metric_family *f = metrics_family(m, "x_latency_seconds", "Latency.", METRIC_HISTOGRAM,
                                      k_model_labels, bounds, 3, &err);
    assert_non_null(f);
    metric *h = metrics_series(f, (const char *[]){"m"});
    metric_observe(h, 0.05); /* bucket 0.1 */
    metric_observe(h, 1);    /* le: exactly on a bound counts in it */
    metric_observe(h, 5);    /* bucket 10 */
    metric_observe(h, 50);   /* +Inf only */
    assert_int_equal(metric_count(h), 4);
    assert_true(metric_value(h) == 56.05);
    lm_buf out = {0};
    metrics_write(m, &out);
    assert_string_equal(buf_cstr(&out),
                        "# HELP x_latency_seconds Latency.\n"
                        "# TYPE x_latency_seconds histogram\n"
                        "x_latency_seconds_bucket{name=\"m\",le=\"0.1\"} 1\n"
                        "x_latency_seconds_bucket{name=\"m\",le=\"1\"} 2\n"
                        "x_latency_seconds_bucket{name=\"m\",le=\"10\"} 3\n"
                        "x_latency_seconds_bucket{name=\"m\",le=\"+Inf\"} 4\n"
                        "x_latency_seconds_sum{name=\"m\"} 56.05\n"
                        "x_latency_seconds_count{name=\"m\"} 4\n");
    buf_fini(&out);
    metrics_destroy(m);
}

static void test_escaping(void **state) {
    (void)state;
    metrics *m = metrics_create();
    metric_family *f = metrics_family(m, "x_total", "A \\ help\nline.", METRIC_COUNTER,
                                      k_model_labels, NULL, 0, NULL);
    metric_inc(metrics_series(f, (const char *[]){"q\"b\\s\nn"}));
    lm_buf out = {0};
    metrics_write(m, &out);
    assert_string_equal(buf_cstr(&out), "# HELP x_total A \\\\ help\\nline.\n"
                                         "# TYPE x_total counter\n"
                                         "x_total{name=\"q\\\"b\\\\s\\nn\"} 1\n");
    buf_fini(&out);
    metrics_destroy(m);
}

static void test_definitions_checked(void **state) {
    (void)state;
    metrics *m = metrics_create();
    lm_error err;
    const double bounds[] = {1, 2};
    const double bad_bounds[] = {2, 1};
    metric_family *f = metrics_family(m, "x_total", "", METRIC_COUNTER, k_model_labels, NULL, 0, NULL);
    assert_ptr_equal(metrics_family(m, "x_total", "", METRIC_COUNTER, k_model_labels, NULL, 0, NULL), f);
    err_clear(&err);
    assert_null(metrics_family(m, "x_total", "", METRIC_GAUGE, k_model_labels, NULL, 0, &err));
    assert_non_null(strstr(err.msg, "already defined differently"));
    err_clear(&err);
    assert_null(metrics_family(m, "9x", "", METRIC_GAUGE, NULL, NULL, 0, &err));
    assert_int_equal(err.code, LM_ERR_INVALID);
    err_clear(&err);
    assert_null(metrics_family(m, "x-y", "", METRIC_GAUGE, NULL, NULL, 0, &err));
    err_clear(&err);
    assert_null(metrics_family(m, "h", "", METRIC_HISTOGRAM, (const char *[]){"le", NULL}, bounds,
                               2, &err));
    assert_non_null(strstr(err.msg, "'le'"));
    err_clear(&err);
    assert_null(metrics_family(m, "h", "", METRIC_HISTOGRAM, NULL, bad_bounds, 2, &err));
    assert_non_null(strstr(err.msg, "increasing"));
    err_clear(&err);
    assert_null(metrics_family(m, "h", "", METRIC_HISTOGRAM, NULL, NULL, 0, &err));
    err_clear(&err);
    assert_null(metrics_family(m, "g", "", METRIC_GAUGE, NULL, bounds, 2, &err));
    err_clear(&err);
    assert_null(metrics_family(m, "g", "", METRIC_GAUGE, (const char *[]){"__x", NULL}, NULL, 0, &err));
    metrics_destroy(m);
}

static void test_enable_only(void **state) {
    (void)state;
    metrics *m = metrics_create();
    metric_family *a = metrics_family(m, "ovms_requests_accepted_total", "", METRIC_COUNTER, NULL,
                                      NULL, 0, NULL);
    metric_family *b = metrics_family(m, "ovms_current_graphs", "", METRIC_GAUGE, NULL, NULL, 0, NULL);
    metrics_series(a, NULL);
    metrics_series(b, NULL);
    lm_error err;
    err_clear(&err);
    const char *bad[] = {"ovms_current_graphs", "ovms_nope"};
    assert_int_equal(metrics_enable_only(m, bad, 2, &err), LM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'ovms_nope'"));
    assert_true(metrics_family_enabled(a) && metrics_family_enabled(b)); /* nothing changed */
    const char *ok[] = {"ovms_requests_accepted"}; /* a counter's name without _total */
    assert_int_equal(metrics_enable_only(m, ok, 1, NULL), LM_OK);
    assert_true(metrics_family_enabled(a));
    assert_false(metrics_family_enabled(b));
    lm_buf out = {0};
    metrics_write(m, &out);
    assert_non_null(strstr(buf_cstr(&out), "ovms_requests_accepted_total 0\n"));
    assert_null(strstr(buf_cstr(&out), "ovms_current_graphs"));
    buf_fini(&out);
    metrics_destroy(m);
}

static void test_ovms_bounds(void **state) {
    (void)state;
    double b[METRICS_OVMS_N_BOUNDS];
    metrics_ovms_bounds(1, b);
    /* floor(10 * 1.8^i): 10, 18, 32.4 -> 32, 58.32 -> 58, ... */
    assert_true(b[0] == 10 && b[1] == 18 && b[2] == 32 && b[3] == 58 && b[4] == 104);
    for (int i = 1; i < METRICS_OVMS_N_BOUNDS; i++) assert_true(b[i] > b[i - 1]);
    assert_true(b[32] > 1.4e9 && b[32] < 1.5e9); /* about 24.5 minutes */
    double s[METRICS_OVMS_N_BOUNDS];
    metrics_ovms_bounds(1e6, s);
    assert_true(s[0] == 1e-5 && s[1] == 1.8e-5);
    metrics *m = metrics_create();
    metric_family *f = metrics_family(m, "t_seconds", "", METRIC_HISTOGRAM, NULL, s,
                                      METRICS_OVMS_N_BOUNDS, NULL);
    assert_non_null(f);
    metrics_series(f, NULL);
    lm_buf out = {0};
    metrics_write(m, &out);
    /* Bounds print as the short decimals they are, not as 1.0000000000000001e-05. */
    assert_non_null(strstr(buf_cstr(&out), "t_seconds_bucket{le=\"1e-05\"} 0\n"));
    assert_non_null(strstr(buf_cstr(&out), "t_seconds_bucket{le=\"0.000104\"} 0\n"));
    buf_fini(&out);
    metrics_destroy(m);
}

/* ---- concurrent recording: totals are exact ---- */

#define N_THREADS 4
#define N_PER_THREAD 100000

static void *record(void *arg) {
    metric **ms = arg;
    for (int i = 0; i < N_PER_THREAD; i++) {
        metric_inc(ms[0]);
        metric_observe(ms[1], (double)(i % 3)); /* 0, 1, 2: sums to an exact integer */
        metric_add(ms[2], 1);
        metric_sub(ms[2], 1);
    }
    return NULL;
}

static void test_concurrent_recording(void **state) {
    (void)state;
    metrics *m = metrics_create();
    const double bounds[] = {0.5, 1.5};
    metric *ms[3] = {
        metrics_series(metrics_family(m, "c_total", "", METRIC_COUNTER, NULL, NULL, 0, NULL), NULL),
        metrics_series(metrics_family(m, "h", "", METRIC_HISTOGRAM, NULL, bounds, 2, NULL), NULL),
        metrics_series(metrics_family(m, "g", "", METRIC_GAUGE, NULL, NULL, 0, NULL), NULL),
    };
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) pthread_create(&t[i], NULL, record, ms);
    /* Scrapes while the recorders run: must neither block them nor see a torn histogram. */
    for (int i = 0; i < 20; i++) {
        lm_buf out = {0};
        metrics_write(m, &out);
        assert_false(out.oom);
        buf_fini(&out);
    }
    for (int i = 0; i < N_THREADS; i++) pthread_join(t[i], NULL);
    assert_true(metric_value(ms[0]) == (double)N_THREADS * N_PER_THREAD);
    assert_int_equal(metric_count(ms[1]), N_THREADS * N_PER_THREAD);
    /* Per thread: values 0,1,2 repeating, N_PER_THREAD of them. */
    double per = 0;
    for (int i = 0; i < N_PER_THREAD; i++) per += i % 3;
    assert_true(metric_value(ms[1]) == per * N_THREADS);
    assert_true(metric_value(ms[2]) == 0);
    metrics_destroy(m);
}

/* ---- Prometheus's linter: promtool check metrics (installed by scripts/install-deps.sh) ---- */

static int have_promtool(void) { return system("command -v promtool >/dev/null 2>&1") == 0; }

static void test_promtool_accepts_output(void **state) {
    (void)state;
    if (!have_promtool()) {
        fprintf(stderr, "SKIPPED: promtool not installed (scripts/install-deps.sh installs it)\n");
        skip();
    }
    metrics *m = metrics_create();
    double s[METRICS_OVMS_N_BOUNDS];
    metrics_ovms_bounds(1e6, s);
    metric_family *c = metrics_family(m, "lm_test_prompt_tokens_total", "Prompt tokens.",
                                      METRIC_COUNTER, k_model_labels, NULL, 0, NULL);
    metric_family *g = metrics_family(m, "lm_test_requests_running", "Running \"now\".",
                                      METRIC_GAUGE, k_model_labels, NULL, 0, NULL);
    metric_family *h = metrics_family(m, "lm_test_ttft_seconds", "TTFT.", METRIC_HISTOGRAM,
                                      k_model_labels, s, METRICS_OVMS_N_BOUNDS, NULL);
    const char *names[] = {"a", "we\"ird\\name\n"};
    for (int i = 0; i < 2; i++) {
        metric_add(metrics_series(c, &names[i]), 12);
        metric_set(metrics_series(g, &names[i]), 3);
        metric_observe(metrics_series(h, &names[i]), 0.0123);
    }
    lm_buf out = {0};
    metrics_write(m, &out);
    char path[] = "/tmp/lm_metrics_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, out.data, out.len), (ssize_t)out.len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    int rc = system(cmd);
    unlink(path);
    if (rc != 0) fprintf(stderr, "promtool rejected:\n%s", buf_cstr(&out));
    assert_int_equal(rc, 0);
    buf_fini(&out);
    metrics_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_definitions_checked),
        cmocka_unit_test(test_enable_only),
        cmocka_unit_test(test_ovms_bounds),
        cmocka_unit_test(test_concurrent_recording),
        cmocka_unit_test(test_promtool_accepts_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
