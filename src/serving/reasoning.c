/* reasoning.c — the qwen3 reasoning parser: `<think>reasoning</think>content`.
 *
 * `<think>` counts only at the start of the reply (after whitespace); with prompt_opens_think
 * the reply starts inside the reasoning (Qwen3's templates may end the prompt with `<think>`).
 * Everything up to `</think>` is reasoning, trimmed at both ends; an unclosed reasoning runs to
 * the end of the reply (cut off by max_tokens: streaming could not have known otherwise). After
 * `</think>` the content starts at its first non-space character and passes unchanged. A reply
 * without `<think>` is content, unchanged. */
#include <stdlib.h>
#include <string.h>

#include "serving/parsers_impl.h"

enum { R_START, R_THINK, R_CONTENT };

static const char open_tag[] = "<think>", close_tag[] = "</think>";

typedef struct {
    out_stage stage;
    int state;
    int r_started;    /* non-space reasoning was emitted */
    int c_started;    /* content is passing unchanged */
    lm_buf pend;      /* undecided text */
    lm_buf ws;        /* trailing whitespace of the reasoning so far */
    lm_status status;
} rq;

static void emit(out_sink *next, out_kind kind, const char *s, size_t n) {
    if (!n) return;
    out_event ev = {kind, 0, NULL, s, n};
    next->emit(next, &ev);
}

static void consume(rq *r, size_t n) {
    memmove(r->pend.data, r->pend.data + n, r->pend.len - n);
    r->pend.len -= n;
    r->pend.data[r->pend.len] = 0;
}

/* Reasoning text, trimmed: leading space dropped, trailing space held until more follows. */
static void reasoning(rq *r, const char *s, size_t n, out_sink *next) {
    size_t i = 0;
    if (!r->r_started)
        while (i < n && is_ws(s[i])) i++;
    size_t j = n;
    while (j > i && is_ws(s[j - 1])) j--;
    if (j == i) {
        if (r->r_started) buf_append(&r->ws, s + i, n - i);
        return;
    }
    emit(next, OUT_REASONING, r->ws.data, r->ws.len);
    buf_reset(&r->ws);
    emit(next, OUT_REASONING, s + i, j - i);
    r->r_started = 1;
    buf_append(&r->ws, s + j, n - j);
}

static void content(rq *r, const char *s, size_t n, out_sink *next) {
    size_t i = 0;
    if (!r->c_started) {
        while (i < n && is_ws(s[i])) i++;
        if (i < n) r->c_started = 1;
    }
    emit(next, OUT_TEXT, s + i, n - i);
}

static void run(rq *r, int final, out_sink *next) {
    for (;;) {
        const char *s = r->pend.data;
        size_t n = r->pend.len;
        if (!n) return;
        if (r->state == R_START) {
            size_t i = 0;
            while (i < n && is_ws(s[i])) i++;
            if (n - i >= sizeof open_tag - 1 && !memcmp(s + i, open_tag, sizeof open_tag - 1)) {
                consume(r, i + sizeof open_tag - 1);
                r->state = R_THINK;
                continue;
            }
            if (!final && tag_is_prefix(s + i, n - i, open_tag)) return;
            r->state = R_CONTENT;
            r->c_started = 1; /* no reasoning: the reply passes unchanged */
            continue;
        }
        if (r->state == R_CONTENT) {
            content(r, s, n, next);
            consume(r, n);
            return;
        }
        size_t p = tag_find(s, n, 0, close_tag);
        if (p != (size_t)-1) {
            reasoning(r, s, p, next);
            buf_reset(&r->ws);
            consume(r, p + sizeof close_tag - 1);
            r->state = R_CONTENT;
            continue;
        }
        static const char *const tags[] = {close_tag, NULL};
        size_t hold = final ? 0 : tag_hold(s, n, tags);
        reasoning(r, s, n - hold, next);
        consume(r, n - hold);
        return;
    }
}

static lm_status rq_push(out_stage *self, const out_event *ev, out_sink *next) {
    rq *r = (rq *)self;
    if (ev->kind != OUT_TEXT) {
        next->emit(next, ev);
        return r->status;
    }
    buf_append(&r->pend, ev->text, ev->len);
    if (r->pend.oom || r->ws.oom) return r->status = LM_ERR_NOMEM;
    run(r, 0, next);
    return r->status;
}

static lm_status rq_flush(out_stage *self, out_sink *next) {
    rq *r = (rq *)self;
    run(r, 1, next);
    buf_reset(&r->ws);
    return r->pend.oom || r->ws.oom ? LM_ERR_NOMEM : r->status;
}

static void rq_destroy(out_stage *self) {
    rq *r = (rq *)self;
    if (!r) return;
    buf_fini(&r->pend);
    buf_fini(&r->ws);
    free(r);
}

lm_status reasoning_qwen3_create(const parser_opts *opts, out_stage **out) {
    rq *r = calloc(1, sizeof *r);
    if (!r) return LM_ERR_NOMEM;
    r->stage.push = rq_push;
    r->stage.flush = rq_flush;
    r->stage.destroy = rq_destroy;
    r->state = opts->prompt_opens_think ? R_THINK : R_START;
    *out = &r->stage;
    return LM_OK;
}
