/* template.c — the public API: source checks and newline normalisation, compile (parser.c),
 * render setup (limits, clock, output) around the interpreter (interp.c). */
#include "template/template.h"

#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/arena.h"
#include "template/interp.h"
#include "template/lexer.h"
#include "template/parser.h"
#include "template/pystr.h"

struct tpl_template {
    lm_arena arena;   /* source copy, AST, literals, symbols */
    const char *src;
    size_t len;
    tpl_node *root;
    tpl_symtab syms;
};

void tpl_options_init(tpl_options *o) {
    memset(o, 0, sizeof *o);
    o->max_output = LM_TPL_MAX_OUTPUT;
    o->max_memory = LM_TPL_MAX_MEMORY;
    o->max_steps = LM_TPL_MAX_STEPS;
    o->max_depth = LM_TPL_MAX_DEPTH;
    o->max_time_ms = LM_TPL_MAX_TIME_MS;
    o->now = NULL;
}

/* Line and column of byte `pos` in `s` (for errors before lexing). */
static void where(const char *s, size_t pos, int *line, int *col) {
    *line = 1;
    size_t start = 0;
    for (size_t i = 0; i < pos; i++) {
        if (s[i] == '\n') {
            (*line)++;
            start = i + 1;
        }
    }
    *col = (int)tpl_utf8_count(s + start, pos - start) + 1;
}

lm_status tpl_compile(const char *source, size_t len, tpl_template **out, lm_error *err) {
    *out = NULL;
    if (!source && len) return err_set(err, LM_ERR_INVALID, "template source is NULL");
    if (len > LM_TPL_MAX_SOURCE)
        return err_set(err, LM_ERR_LIMIT, "template is %zu bytes (limit is %u)", len,
                       (unsigned)LM_TPL_MAX_SOURCE);
    size_t bad;
    if (!tpl_utf8_valid(source, len, &bad)) {
        int line, col;
        where(source, bad, &line, &col);
        return tpl_lex_error_at(err, LM_ERR_FORMAT, line, col, "template is not valid UTF-8");
    }
    tpl_template *t = calloc(1, sizeof *t);
    if (!t) return err_set(err, LM_ERR_NOMEM, "out of memory compiling template");
    arena_init(&t->arena, 0);
    char *src = arena_alloc(&t->arena, len + 1);
    if (!src) {
        tpl_destroy(t);
        return err_set(err, LM_ERR_NOMEM, "out of memory compiling template");
    }
    /* Jinja2 reads "\r\n" and "\r" as "\n" and drops one trailing newline. */
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (source[i] == '\r') {
            src[n++] = '\n';
            if (i + 1 < len && source[i + 1] == '\n') i++;
        } else {
            src[n++] = source[i];
        }
    }
    if (n && src[n - 1] == '\n') n--;
    src[n] = '\0';
    t->src = src;
    t->len = n;
    lm_status st = tpl_parse(src, n, &t->arena, &t->syms, LM_TPL_MAX_NESTING, &t->root, err);
    if (st != LM_OK) {
        tpl_destroy(t);
        return st;
    }
    *out = t;
    return LM_OK;
}

int tpl_mentions(const tpl_template *t, const char *name) {
    size_t n = strlen(name);
    for (uint32_t i = 0; i < t->syms.n; i++)
        if (t->syms.lens[i] == n && memcmp(t->syms.names[i], name, n) == 0) return 1;
    return 0;
}

lm_status tpl_render(const tpl_template *t, json_t *context, const tpl_options *opt, lm_buf *out,
                     lm_error *err) {
    tpl_options defaults;
    if (!opt) {
        tpl_options_init(&defaults);
        opt = &defaults;
    }
    if (context && !json_is_object(context))
        return err_set(err, LM_ERR_INVALID, "template context must be a JSON object");
    tpl_rt rt;
    memset(&rt, 0, sizeof rt);
    arena_init(&rt.arena, opt->max_memory);
    /* the output has an arena of its own so that it grows in place; 2x for doubling slack */
    arena_init(&rt.out_arena, opt->max_output > SIZE_MAX / 4 ? 0 : opt->max_output * 2 + (1u << 16));
    rt.err = err;
    rt.ctx = context;
    rt.max_depth = opt->max_depth > 0 ? opt->max_depth : 1;
    rt.nsyms = t->syms.n;
    rt.max_steps = opt->max_steps;
    rt.max_output = opt->max_output;
    if (opt->now) { /* normalise the given wall time (fills weekday and day of year) */
        struct tm tmp = *opt->now;
        time_t secs = timegm(&tmp);
        gmtime_r(&secs, &rt.now);
    } else {
        time_t secs = time(NULL);
        localtime_r(&secs, &rt.now);
    }
    if (opt->max_time_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        rt.deadline_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + opt->max_time_ms;
    }
    tpl_sb top;
    tpl_sb_init(&top, &rt.out_arena, opt->max_output);
    rt.out = &top;
    lm_status st = tpl_interp_run(&rt, t->root);
    if (st == LM_OK && top.failed) {
        tpl_value dummy;
        st = tpl_sb_finish(&rt, &top, &dummy);
    }
    if (st == LM_OK) {
        buf_append(out, top.p ? top.p : "", top.n);
        if (out->oom) st = err_set(err, LM_ERR_NOMEM, "out of memory storing the rendered prompt");
    }
    arena_fini(&rt.arena);
    arena_fini(&rt.out_arena);
    return st;
}

void tpl_destroy(tpl_template *t) {
    if (!t) return;
    arena_fini(&t->arena);
    free(t);
}
