/* interp.h — the render state and the evaluator of the syntax tree.
 *
 * One tpl_rt lives for one render: its arena holds every value made while rendering, its scope
 * chain holds template variables, and its counters enforce the limits of tpl_options. The
 * compiled template is only read, so many threads may render one template at once, each with
 * its own tpl_rt. Builtins (builtins.c) and value operations (value.c) receive the tpl_rt to
 * allocate and to report errors. */
#ifndef LM_TEMPLATE_INTERP_H
#define LM_TEMPLATE_INTERP_H

#include <jansson.h>
#include <stdint.h>
#include <time.h>

#include "base/error.h"
#include "base/arena.h"
#include "template/ast.h"
#include "template/value.h"

/* One scope: variables set in a template body, a loop iteration, a macro call or a with block. */
typedef struct tpl_frame {
    struct tpl_frame *parent;  /* enclosing scope; NULL at the top */
    uint32_t n, cap;
    uint32_t *syms;
    tpl_value *vals;
    uint32_t *index;           /* symbol -> slot + 1, built once a scope holds many variables */
    int captured;              /* a macro closes over it: never reuse it for another iteration */
} tpl_frame;

typedef struct tpl_rt {
    lm_arena arena;           /* values, strings, scopes */
    lm_arena out_arena;       /* the top-level output only (so it grows in place) */
    tpl_sb *out;               /* where output goes now (the top, or a capture) */
    lm_error *err;
    json_t *ctx;               /* the render context object (top-level variables) */
    tpl_frame *scope;
    int depth, max_depth;
    uint64_t steps, max_steps;
    size_t work;               /* work units (tpl_rt_work) since the clock was last read */
    uint32_t nsyms;            /* symbols of the template (size of a frame index) */
    size_t max_output;         /* bytes of output, and of any one string */
    int64_t deadline_ms;       /* monotonic clock; 0: none */
    struct tm now;             /* strftime_now's clock */
    int ctl;                   /* pending break/continue (TPL_CTL_*) */
} tpl_rt;

enum { TPL_CTL_NONE = 0, TPL_CTL_BREAK, TPL_CTL_CONTINUE };

/* Records an error (first one wins) and returns its code. */
lm_status tpl_rt_fail(tpl_rt *rt, lm_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Arena allocation that records NOMEM or LIMIT (memory budget) on failure. */
void *tpl_rt_alloc(tpl_rt *rt, size_t n);

/* Records the failure of an arena allocation: LIMIT when the memory budget ran out, else NOMEM. */
lm_status tpl_rt_nomem(tpl_rt *rt);

/* Counts one unit of work (a loop iteration or a call) against the step and time limits. */
lm_status tpl_rt_step(tpl_rt *rt);

/* Charges work done inside one evaluation (a built-in scanning or building `units` bytes or
 * elements; one evaluation counts 64) against the time limit, reading the clock once enough has
 * gathered. Built-ins whose work is not bounded by their output (a search, a split of 10 MB) call
 * it as they go, so a single call cannot run far past the deadline. */
lm_status tpl_rt_work(tpl_rt *rt, size_t units);

/* obj.name: attribute first (methods), then key — Jinja2's getattr. */
lm_status tpl_getattr(tpl_rt *rt, const tpl_value *obj, const char *name, size_t n,
                      tpl_value *out);

/* obj[key]: key or index first, then attribute — Jinja2's getitem. */
lm_status tpl_getitem(tpl_rt *rt, const tpl_value *obj, const tpl_value *key, tpl_value *out);

/* Calls any callable value (builtin, macro, loop) with arguments. */
lm_status tpl_call(tpl_rt *rt, const tpl_value *fn, tpl_args *args, tpl_value *out);

/* Applies a test by name (select/reject/selectattr use this). */
lm_status tpl_apply_test(tpl_rt *rt, const char *name, size_t n, const tpl_value *v,
                         tpl_args *args, int *out);

/* Applies a filter by name (map uses this). */
lm_status tpl_apply_filter(tpl_rt *rt, const char *name, size_t n, const tpl_value *v,
                           tpl_args *args, tpl_value *out);

/* Renders `root` with the context object into rt->out. rt must be set up by the caller. */
lm_status tpl_interp_run(tpl_rt *rt, const tpl_node *root);

#endif
