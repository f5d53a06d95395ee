/* template.h — chat templates: compile a model's Jinja chat template once, render it per request.
 *
 * The engine renders the Jinja2 subset real chat templates use, byte for byte as Python Jinja2
 * 3.1 does with the environment Hugging Face transformers builds for apply_chat_template:
 * ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the loopcontrols
 * extension and the {% generation %} tag, lenient Undefined, no autoescaping, transformers'
 * tojson (json.dumps with ensure_ascii=False) and its globals raise_exception(msg) and
 * strftime_now(fmt). docs/templates.md lists what is supported and how it differs.
 *
 * Templates are untrusted (they come with downloaded models): they cannot reach files or the
 * environment, and every render runs under limits (recursion depth, loop iterations and calls,
 * output size, memory, time) that end it with LM_ERR_LIMIT instead of a crash or a hang.
 *
 * Typical use:
 *     tpl_template *t;
 *     if (tpl_compile(src, len, &t, &err) != LM_OK) ...         // err.line/err.col: where
 *     json_t *ctx = json_pack("{s:O, s:b, s:s}", "messages", msgs,
 *                             "add_generation_prompt", 1, "bos_token", "<s>");
 *     lm_buf prompt = {0};
 *     if (tpl_render(t, ctx, NULL, &prompt, &err) != LM_OK) ... // LM_ERR_TEMPLATE: raise_exception
 *     tpl_destroy(t);
 *
 * Errors: LM_ERR_FORMAT for syntax errors (line and column in err and in the message),
 * LM_ERR_TEMPLATE when the template called raise_exception (err.msg is exactly its message, for
 * the client), LM_ERR_INVALID for other run-time errors (undefined variable used in arithmetic,
 * type errors...), LM_ERR_LIMIT when a limit is hit, LM_ERR_UNSUPPORTED for template features
 * chat templates do not need (extends, include, import), LM_ERR_NOMEM. Run-time errors carry
 * the line and column of the innermost expression involved. */
#ifndef LM_TEMPLATE_TEMPLATE_H
#define LM_TEMPLATE_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/buf.h"
#include "base/error.h"

/* A compiled template: immutable after tpl_compile, so any number of threads may render it at
 * the same time. */
typedef struct tpl_template tpl_template;

/* Per-render settings; tpl_options_init() fills the defaults from base/limits.h. */
typedef struct {
    size_t max_output;      /* bytes of output and of any one string (LM_TPL_MAX_OUTPUT) */
    size_t max_memory;      /* scratch bytes of one render (LM_TPL_MAX_MEMORY) */
    uint64_t max_steps;     /* loop iterations plus macro calls (LM_TPL_MAX_STEPS) */
    int max_depth;          /* nested evaluation incl. macro recursion (LM_TPL_MAX_DEPTH) */
    uint32_t max_time_ms;   /* wall-clock budget; 0: none (LM_TPL_MAX_TIME_MS) */
    const struct tm *now;   /* strftime_now()'s clock as local wall time; NULL: the system's */
} tpl_options;

/* Fills `o` with the defaults. */
void tpl_options_init(tpl_options *o);

/* Compiles `len` bytes of template source (UTF-8; "\r\n" and "\r" read as "\n"; one trailing
 * newline dropped, as Jinja2's keep_trailing_newline=False does). On success *out owns
 * everything it needs (the source is copied). On failure *out is NULL and err says why and
 * where (LM_ERR_FORMAT, LM_ERR_LIMIT for sources over LM_TPL_MAX_SOURCE or nesting over
 * LM_TPL_MAX_NESTING, LM_ERR_UNSUPPORTED, LM_ERR_NOMEM). */
lm_status tpl_compile(const char *source, size_t len, tpl_template **out, lm_error *err);

/* Renders `t` with the variables of `context` (a JSON object: messages, tools, documents,
 * add_generation_prompt, bos_token, eos_token and any extra keyword arguments such as
 * enable_thinking; NULL for none). JSON values are read in place, never copied or modified;
 * object key order is kept (it is the order of |items and tojson). `opt` may be NULL for the
 * defaults. The rendered text is appended to `out` only when the render succeeds; on failure
 * `out` is unchanged and err says why (see the top of this file). */
lm_status tpl_render(const tpl_template *t, json_t *context, const tpl_options *opt, lm_buf *out,
                     lm_error *err);

/* 1 when the template refers to a variable or attribute named `name` anywhere (a cheap
 * syntactic check, e.g. whether it reads `tools` or `enable_thinking`), else 0. */
int tpl_mentions(const tpl_template *t, const char *name);

/* Frees the template; NULL is allowed. No render of it may be running. */
void tpl_destroy(tpl_template *t);

#endif
