/* tpltest.h — helpers for the template tests: render a template string with a JSON context and
 * compare with an expected output (expected outputs in the tables come from Python Jinja2 3.1.6
 * configured as transformers configures it). */
#ifndef LM_TESTS_TEMPLATE_TPLTEST_H
#define LM_TESTS_TEMPLATE_TPLTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "template/template.h"

/* One table row: template source, context as JSON text (NULL: none), expected render. */
typedef struct {
    const char *src;
    const char *ctx;
    const char *want;
} tpltest_case;

/* The clock the expected outputs were made with: 2026-01-15 12:00:00. */
static const struct tm tpltest_time = {.tm_year = 126, .tm_mon = 0, .tm_mday = 15, .tm_hour = 12};

/* Compiles and renders; the status of whichever step failed. */
static inline lm_status tpltest_render(const char *src, const char *ctx_json, const tpl_options *opt,
                                       lm_buf *out, lm_error *err) {
    err_clear(err);
    tpl_template *t = NULL;
    lm_status st = tpl_compile(src, strlen(src), &t, err);
    if (st != LM_OK) return st;
    json_t *ctx = NULL;
    if (ctx_json) {
        json_error_t jerr;
        ctx = json_loads(ctx_json, 0, &jerr);
        assert_non_null(ctx);
    }
    tpl_options o;
    if (!opt) {
        tpl_options_init(&o);
        o.now = &tpltest_time;
        opt = &o;
    }
    st = tpl_render(t, ctx, opt, out, err);
    json_decref(ctx);
    tpl_destroy(t);
    return st;
}

/* Renders every row and checks the output; prints each mismatch, then fails if any. */
static inline void tpltest_run(const tpltest_case *cases, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        lm_buf out = {0};
        lm_error err;
        lm_status st = tpltest_render(cases[i].src, cases[i].ctx, NULL, &out, &err);
        const char *got = out.data ? out.data : "";
        if (st != LM_OK) {
            print_message("case %zu: %s\n  error: %s\n", i, cases[i].src, err.msg);
            bad++;
        } else if (strcmp(got, cases[i].want) != 0 || out.len != strlen(cases[i].want)) {
            print_message("case %zu: %s\n  want: [%s]\n  got:  [%s]\n", i, cases[i].src, cases[i].want, got);
            bad++;
        }
        buf_fini(&out);
    }
    assert_int_equal(bad, 0);
}

/* Expects rendering (or compiling) to fail with `code`, and the message to contain `part`. */
static inline void tpltest_fails(const char *src, const char *ctx_json, lm_status code, const char *part) {
    lm_buf out = {0};
    lm_error err;
    lm_status st = tpltest_render(src, ctx_json, NULL, &out, &err);
    if (st != code || (part && !strstr(err.msg, part)))
        print_message("%s\n  want %s containing [%s], got %s: %s\n", src, err_status_name(code),
                      part ? part : "", err_status_name(st), err.msg);
    assert_int_equal(st, code);
    if (part) assert_non_null(strstr(err.msg, part));
    assert_int_equal(out.len, 0);
    buf_fini(&out);
}

#endif
