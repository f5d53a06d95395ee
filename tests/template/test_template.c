/* tests/template/test_template.c — the public API against Python Jinja2: every case of
 * tests/data/templates/cases.jsonl.gz (real chat templates, expected renders from Jinja2 3.1.6
 * with transformers' settings) must render byte for byte, or fail with the expected
 * raise_exception message. Set LM_TPL_ONLY=<template name> to run one template, and
 * LM_TPL_VERBOSE=1 to print every failure in full. Also: hostile templates (recursion, huge loops,
 * giant output, deep data) end with clear errors, and concurrent renders of one template. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <zlib.h>

#include "lmtest.h"
#include "template/template.h"

/* The fixed clock of the expected outputs: 2026-01-15 12:00:00. */
static const struct tm case_time = {.tm_year = 126, .tm_mon = 0, .tm_mday = 15, .tm_hour = 12};

static char *read_gz(const char *path, size_t *len) {
    gzFile f = gzopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 65536 > cap) buf = realloc(buf, cap *= 2);
        int r = gzread(f, buf + n, 65536);
        if (r <= 0) break;
        n += (size_t)r;
    }
    gzclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

typedef struct {
    char name[128];
    tpl_template *t;
    lm_error err;
} compiled;

static compiled cache[256];
static int ncache;

static compiled *get_template(json_t *index, const char *name) {
    for (int i = 0; i < ncache; i++)
        if (strcmp(cache[i].name, name) == 0) return &cache[i];
    assert_true(ncache < 256);
    compiled *c = &cache[ncache++];
    snprintf(c->name, sizeof c->name, "%s", name);
    err_clear(&c->err);
    json_t *entry = json_object_get(json_object_get(index, "templates"), name);
    const char *file = json_string_value(json_object_get(entry, "file"));
    char rel[512];
    snprintf(rel, sizeof rel, "templates/%s", file ? file : name);
    size_t len = 0;
    char *src = read_file(lmtest_data(rel), &len);
    if (!src) {
        err_set(&c->err, LM_ERR_IO, "cannot read %s", rel);
        return c;
    }
    tpl_compile(src, len, &c->t, &c->err);
    free(src);
    return c;
}

/* Prints where two renders first differ, with some context. */
static void show_diff(const char *name, const char *cs, const char *want, size_t wn,
                      const char *got, size_t gn) {
    size_t i = 0;
    while (i < wn && i < gn && want[i] == got[i]) i++;
    size_t from = i > 60 ? i - 60 : 0;
    int verbose = getenv("LM_TPL_VERBOSE") != NULL;
    size_t wl = verbose ? wn - from : (wn - from > 120 ? 120 : wn - from);
    size_t gl = verbose ? gn - from : (gn - from > 120 ? 120 : gn - from);
    print_message("FAIL %s/%s: differs at byte %zu (want %zu bytes, got %zu)\n  want: %.*s\n  got:  %.*s\n",
                  name, cs, i, wn, gn, (int)wl, want + from, (int)gl, got + from);
}

static void test_cases_match_jinja2(void **state) {
    (void)state;
    size_t len = 0;
    char *idx_text = read_file(lmtest_data("templates/index.json"), &len);
    assert_non_null(idx_text);
    json_error_t jerr;
    json_t *index = json_loadb(idx_text, len, 0, &jerr);
    free(idx_text);
    assert_non_null(index);
    char *all = read_gz(lmtest_data("templates/cases.jsonl.gz"), &len);
    assert_non_null(all);
    const char *only = getenv("LM_TPL_ONLY");
    tpl_options opt;
    tpl_options_init(&opt);
    opt.now = &case_time;
    int total = 0, passed = 0, errors_total = 0, errors_passed = 0;
    for (char *line = all, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        json_t *c = json_loads(line, 0, &jerr);
        assert_non_null(c);
        const char *name = json_string_value(json_object_get(c, "template"));
        const char *cs = json_string_value(json_object_get(c, "case"));
        if (only && strcmp(only, name) != 0) {
            json_decref(c);
            continue;
        }
        total++;
        compiled *t = get_template(index, name);
        json_t *want_out = json_object_get(c, "expected_output");
        json_t *want_err = json_object_get(c, "expected_error");
        if (!t->t) {
            print_message("FAIL %s/%s: compile error: %s\n", name, cs, t->err.msg);
            json_decref(c);
            continue;
        }
        lm_buf out = {0};
        lm_error err;
        err_clear(&err);
        lm_status st = tpl_render(t->t, json_object_get(c, "context"), &opt, &out, &err);
        if (want_err) {
            errors_total++;
            const char *msg = json_string_value(json_object_get(want_err, "message"));
            if (st == LM_ERR_TEMPLATE && msg && strcmp(msg, err.msg) == 0) {
                passed++;
                errors_passed++;
            } else {
                print_message("FAIL %s/%s: want raise_exception(%s), got status %s: %s\n", name, cs,
                              msg ? msg : "?", err_status_name(st), st ? err.msg : "(rendered)");
            }
        } else if (st != LM_OK) {
            print_message("FAIL %s/%s: error %s: %s\n", name, cs, err_status_name(st), err.msg);
        } else {
            const char *want = json_string_value(want_out);
            size_t wn = json_string_length(want_out);
            if (out.len == wn && memcmp(out.data ? out.data : "", want, wn) == 0) passed++;
            else show_diff(name, cs, want, wn, out.data ? out.data : "", out.len);
        }
        buf_fini(&out);
        json_decref(c);
    }
    print_message("cases.jsonl: %d/%d renders byte-identical to Jinja2 (%d/%d expected errors)\n",
                  passed, total, errors_passed, errors_total);
    for (int i = 0; i < ncache; i++) tpl_destroy(cache[i].t);
    ncache = 0;
    free(all);
    json_decref(index);
    assert_true(total > 0);
    assert_int_equal(passed, total);
}

/* Every template in the folder compiles, including those without cases (Cohere tool use). */
static void test_all_templates_compile(void **state) {
    (void)state;
    size_t len = 0;
    char *idx_text = read_file(lmtest_data("templates/index.json"), &len);
    assert_non_null(idx_text);
    json_error_t jerr;
    json_t *index = json_loadb(idx_text, len, 0, &jerr);
    free(idx_text);
    const char *name;
    json_t *entry;
    int n = 0, ok = 0;
    json_object_foreach(json_object_get(index, "templates"), name, entry) {
        compiled *c = get_template(index, name);
        n++;
        if (c->t) ok++;
        else print_message("compile %s: %s\n", name, c->err.msg);
    }
    for (int i = 0; i < ncache; i++) tpl_destroy(cache[i].t);
    ncache = 0;
    json_decref(index);
    assert_true(n >= 89);
    assert_int_equal(ok, n);
}

/* ---- hostile templates: each must stop with an error, never crash or hang ---- */

static lm_status render_with(const char *src, const char *ctx_json, const tpl_options *opt,
                             lm_error *err) {
    err_clear(err);
    tpl_template *t = NULL;
    lm_status st = tpl_compile(src, strlen(src), &t, err);
    if (st != LM_OK) return st;
    json_error_t jerr;
    json_t *ctx = ctx_json ? json_loads(ctx_json, 0, &jerr) : NULL;
    lm_buf out = {0};
    buf_append_str(&out, "keep"); /* a failed render leaves the buffer as it was */
    st = tpl_render(t, ctx, opt, &out, err);
    if (st != LM_OK) assert_string_equal(buf_cstr(&out), "keep");
    buf_fini(&out);
    json_decref(ctx);
    tpl_destroy(t);
    return st;
}

/* Each case must stop at its own limit whatever the machine's speed: unless the clock is the
 * limit under test, the time budget is lifted (on a loaded machine under ASan it fired before the
 * memory limit a case expected); every case below is bounded by the limit it tests. */
static void expect_limit(const char *src, const char *ctx_json, const tpl_options *opt, const char *part) {
    lm_error err;
    tpl_options o;
    if (opt) o = *opt;
    else tpl_options_init(&o);
    if (!strstr(part, "took too long")) o.max_time_ms = 0;
    lm_status st = render_with(src, ctx_json, &o, &err);
    if (st != LM_ERR_LIMIT || !strstr(err.msg, part))
        print_message("%.80s\n  want limit [%s], got %s: %s\n", src, part, err_status_name(st), err.msg);
    assert_int_equal(st, LM_ERR_LIMIT);
    assert_non_null(strstr(err.msg, part));
}

static void test_hostile_recursion(void **state) {
    (void)state;
    expect_limit("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", NULL, NULL, "recursion too deep");
    expect_limit("{% macro a(n) %}{{ b(n) }}{% endmacro %}{% macro b(n) %}x{{ a(n + 1) }}{% endmacro %}{{ a(0) }}",
                 NULL, NULL, "recursion too deep");
    expect_limit("{% macro f() %}{% if false %}{{ caller() }}{% endif %}{% call f() %}{% endcall %}{% endmacro %}{{ f() }}",
                 NULL, NULL, "recursion too deep");
    expect_limit("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", NULL, NULL, "recursion too deep");
    expect_limit("{% macro f(n) %}{% set x %}{{ f(n) }}{% endset %}{% endmacro %}{{ f(1) }}", NULL, NULL,
                 "recursion too deep");
    /* chains the parser reads iteratively are bounded when evaluated */
    size_t n = 0, cap = 64 * 1024;
    char *chain = malloc(cap);
    n += (size_t)snprintf(chain, cap, "{%% filter upper");
    for (int i = 0; i < 5000; i++) n += (size_t)snprintf(chain + n, cap - n, "|trim");
    snprintf(chain + n, cap - n, " %%}x{%% endfilter %%}");
    expect_limit(chain, NULL, NULL, "recursion too deep");
    n = (size_t)snprintf(chain, cap, "{{ x");
    for (int i = 0; i < 5000; i++) n += (size_t)snprintf(chain + n, cap - n, " ~ x");
    snprintf(chain + n, cap - n, " }}");
    expect_limit(chain, NULL, NULL, "recursion too deep");
    free(chain);
}

static void test_hostile_loops(void **state) {
    (void)state;
    tpl_options o;
    tpl_options_init(&o);
    o.max_steps = 100000;
    expect_limit("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", NULL, &o,
                 "too many loop iterations");
    expect_limit("{{ range(10**9)|length }}", NULL, NULL, "range too big");
    /* quadratic builtins count their work too */
    tpl_options_init(&o);
    o.max_steps = UINT64_MAX;
    o.max_time_ms = 100;
    expect_limit("{{ range(100000)|unique|list|length }}", NULL, &o, "took too long");
    /* with the step count out of the way, the clock stops it */
    tpl_options_init(&o);
    o.max_steps = UINT64_MAX;
    o.max_time_ms = 50;
    expect_limit("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", NULL, &o,
                 "took too long");
}

/* A single built-in call over a 10 MB string, whose work is not bounded by its output, stops at
 * the time budget too: each case below is 10^12 byte comparisons or more (seconds in a Release
 * build, minutes under ASan), 100 times the budget or more on any machine; it ran to the end. */
static void test_hostile_builtins(void **state) {
    (void)state;
    tpl_options o;
    tpl_options_init(&o);
    o.max_steps = UINT64_MAX;
    o.max_time_ms = 100;
    const char *set = "{% set s = 'a' * 10000000 %}{% set sep = 'a' * 1000000 ~ 'b' %}";
    static const char *const calls[] = {
        "{{ s.rsplit(sep)|length }}",
        "{{ s.rfind(sep) }}",
        "{{ s.rindex(sep) if sep in s else -1 }}{{ s.rfind(sep, 5) }}",
        "{{ s.rpartition(sep)|length }}",
        "{{ s.strip('b' * 1000000 ~ 'a')|length }}",
        "{{ s.rstrip('b' * 1000000 ~ 'a')|length }}",
        "{{ ([s] * 50000)|sort|length }}",
    };
    char src[512];
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        snprintf(src, sizeof src, "%s%s", set, calls[i]);
        expect_limit(src, NULL, &o, "took too long");
    }
}

static void test_hostile_output(void **state) {
    (void)state;
    tpl_options o;
    tpl_options_init(&o);
    o.max_output = 1 << 20;
    expect_limit("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", NULL, &o, "too long");
    expect_limit("{{ 'x' * 10**12 }}", NULL, NULL, "too long");
    expect_limit("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                 NULL, &o, "too long");
    expect_limit("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
                 NULL, &o, "too long");
    expect_limit("{% for i in range(100000) %}{% set x %}{{ 'y' * 100000 }}{% endset %}{% endfor %}", NULL, &o,
                 "memory");
    tpl_options_init(&o);
    o.max_memory = 8 << 20;
    expect_limit("{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
                 NULL, &o, "memory");
    expect_limit("{{ [1] * 10**12 }}", NULL, NULL, "too long");
}

static void test_hostile_data(void **state) {
    (void)state;
    /* JSON nested 1500 deep: printing and tojson stop at the value nesting bound */
    size_t depth = 1500, n = 0;
    char *ctx = malloc(depth * 2 + 16);
    n += (size_t)sprintf(ctx, "{\"x\": ");
    for (size_t i = 0; i < depth; i++) ctx[n++] = '[';
    for (size_t i = 0; i < depth; i++) ctx[n++] = ']';
    ctx[n++] = '}';
    ctx[n] = '\0';
    expect_limit("{{ x }}", ctx, NULL, "nested too deeply");
    expect_limit("{{ x|tojson }}", ctx, NULL, "nested too deeply");
    expect_limit("{{ x == x }}{{ x < x }}", ctx, NULL, "nested too deeply");
    free(ctx);
    expect_limit("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", NULL, NULL, "nested too deeply");
}

static void test_hostile_source(void **state) {
    (void)state;
    size_t n = 10u << 20; /* a 10 MB literal */
    char *src = malloc(n + 16);
    memcpy(src, "{{ '", 4);
    memset(src + 4, 'a', n);
    memcpy(src + 4 + n, "' }}", 5);
    tpl_template *t = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(tpl_compile(src, n + 8, &t, &err), LM_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "limit is"));
    assert_null(t);
    free(src);
    /* a near-limit template on one line with 40,000 distinct names compiles and runs in linear
     * time (positions and symbols are not rescanned per token) */
    size_t cap = 1 << 20, len = 0;
    char *many = malloc(cap);
    for (int i = 0; i < 40000; i++) len += (size_t)snprintf(many + len, cap - len, "{%% set v%d = %d %%}", i, i);
    len += (size_t)snprintf(many + len, cap - len, "{{ v39999 }}");
    lm_error e2;
    err_clear(&e2);
    assert_int_equal(tpl_compile(many, len, &t, &e2), LM_OK);
    lm_buf out = {0};
    assert_int_equal(tpl_render(t, NULL, NULL, &out, &e2), LM_OK);
    assert_string_equal(out.data, "39999");
    buf_fini(&out);
    tpl_destroy(t);
    free(many);
    /* a template without tags is fine */
    err_clear(&err);
    assert_int_equal(tpl_compile("plain", 5, &t, &err), LM_OK);
    tpl_destroy(t);
    tpl_destroy(NULL);
}

/* ---- one compiled template rendered by several threads at once ---- */

typedef struct {
    const tpl_template *t;
    json_t *ctx;
    int ok;
} render_job;

static const char qwen_like[] =
    "{%- for m in messages %}{% set ns = namespace(x=loop.index) %}<|im_start|>{{ m.role }}\n"
    "{{ m.content|trim }}{% if m.tool_calls %}{{ m.tool_calls|tojson }}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

static void *render_many(void *arg) {
    render_job *job = arg;
    lm_buf first = {0};
    lm_error err;
    job->ok = 1;
    for (int i = 0; i < 200 && job->ok; i++) {
        lm_buf out = {0};
        err_clear(&err);
        if (tpl_render(job->t, job->ctx, NULL, &out, &err) != LM_OK) job->ok = 0;
        else if (i == 0) buf_append(&first, out.data, out.len);
        else if (out.len != first.len || memcmp(out.data, first.data, out.len) != 0) job->ok = 0;
        buf_fini(&out);
    }
    buf_fini(&first);
    return NULL;
}

static void test_concurrent_renders(void **state) {
    (void)state;
    tpl_template *t = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(tpl_compile(qwen_like, strlen(qwen_like), &t, &err), LM_OK);
    json_error_t jerr;
    json_t *ctx = json_loads("{\"messages\": [{\"role\": \"user\", \"content\": \" hi \"}, {\"role\": "
                             "\"assistant\", \"content\": \"\", \"tool_calls\": [{\"name\": \"f\"}]}], "
                             "\"add_generation_prompt\": true}", 0, &jerr);
    assert_non_null(ctx);
    pthread_t th[4];
    render_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (render_job){t, ctx, 0};
        assert_int_equal(pthread_create(&th[i], NULL, render_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(jobs[i].ok);
    }
    lm_buf out = {0};
    assert_int_equal(tpl_render(t, ctx, NULL, &out, &err), LM_OK);
    assert_string_equal(out.data, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
                                  "[{\"name\": \"f\"}]<|im_end|>\n<|im_start|>assistant\n");
    assert_true(tpl_mentions(t, "add_generation_prompt"));
    assert_true(tpl_mentions(t, "tool_calls"));
    assert_false(tpl_mentions(t, "enable_thinking"));
    buf_fini(&out);
    json_decref(ctx);
    tpl_destroy(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_templates_compile),
        cmocka_unit_test(test_cases_match_jinja2),
        cmocka_unit_test(test_hostile_recursion),
        cmocka_unit_test(test_hostile_loops),
        cmocka_unit_test(test_hostile_builtins),
        cmocka_unit_test(test_hostile_output),
        cmocka_unit_test(test_hostile_data),
        cmocka_unit_test(test_hostile_source),
        cmocka_unit_test(test_concurrent_renders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
