/* tests/template/test_template.c — the public API against Python Jinja2: every case of
 * tests/data/templates/cases.jsonl.gz (real chat templates, expected renders from Jinja2 3.1.6
 * with transformers' settings) must render byte for byte, or fail with the expected
 * raise_exception message. Set LM_TPL_ONLY=<template name> to run one template, and
 * LM_TPL_VERBOSE=1 to print every failure in full. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_templates_compile),
        cmocka_unit_test(test_cases_match_jinja2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
