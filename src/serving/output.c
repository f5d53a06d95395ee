/* output.c — the output chain of a request (output.h): detokenizer -> stop strings -> reasoning
 * slot -> tool-call slot -> delta builder, and the table that maps parser names to stages. */
#include "serving/output.h"

#include <stdlib.h>
#include <string.h>

#include "serving/parsers.h"

/* ---------------------------------------------------------------- parsers: the one table */

/* The table itself is parsers.c's (parser_create, parser_names); these keep the chain's names. */

int out_parser_known(out_parser_kind kind, const char *name) {
    return parser_exists(kind == OUT_PARSER_TOOL ? PARSER_TOOL : PARSER_REASONING, name);
}

static lm_status make_stage(out_parser_kind kind, const char *name, const parser_opts *opts, out_stage **out,
                            lm_error *err) {
    *out = NULL;
    if (!name) return LM_OK;
    parser_kind k = kind == OUT_PARSER_TOOL ? PARSER_TOOL : PARSER_REASONING;
    if (!parser_exists(k, name))
        return err_set(err, LM_ERR_UNSUPPORTED, "%s parser '%s' is not built in",
                       kind == OUT_PARSER_TOOL ? "tool" : "reasoning", name);
    return parser_create(k, name, opts, out, err);
}

lm_status out_stages_create(const char *reasoning_parser, const char *tool_parser, const parser_opts *opts,
                            out_stage **reasoning, out_stage **tools, lm_error *err) {
    *tools = NULL;
    LM_TRY(make_stage(OUT_PARSER_REASONING, reasoning_parser, opts, reasoning, err));
    lm_status s = make_stage(OUT_PARSER_TOOL, tool_parser, opts, tools, err);
    if (s != LM_OK && *reasoning) {
        (*reasoning)->destroy(*reasoning);
        *reasoning = NULL;
    }
    return s;
}

/* ---------------------------------------------------------------- deltas */

static void tool_event_free(out_tool_event *e) {
    free(e->id);
    free(e->text);
}

void out_deltas_move(out_deltas *dst, out_deltas *src) {
    if (src->text.len) buf_append(&dst->text, src->text.data, src->text.len);
    if (src->reasoning.len) buf_append(&dst->reasoning, src->reasoning.data, src->reasoning.len);
    buf_reset(&src->text);
    buf_reset(&src->reasoning);
    if (src->n_tools) {
        size_t need = dst->n_tools + src->n_tools;
        if (need > dst->cap_tools) {
            out_tool_event *grown = realloc(dst->tools, need * sizeof *grown);
            if (!grown) { /* out of memory: the events are lost, never half-moved */
                for (size_t i = 0; i < src->n_tools; i++) tool_event_free(&src->tools[i]);
                src->n_tools = 0;
                return;
            }
            dst->tools = grown;
            dst->cap_tools = need;
        }
        memcpy(dst->tools + dst->n_tools, src->tools, src->n_tools * sizeof *src->tools);
        dst->n_tools = need;
        src->n_tools = 0;
    }
}

int out_deltas_empty(const out_deltas *d) {
    return d->text.len == 0 && d->reasoning.len == 0 && d->n_tools == 0;
}

void out_deltas_fini(out_deltas *d) {
    buf_fini(&d->text);
    buf_fini(&d->reasoning);
    for (size_t i = 0; i < d->n_tools; i++) tool_event_free(&d->tools[i]);
    free(d->tools);
    memset(d, 0, sizeof *d);
}

/* The delta builder: the chain's last sink. */
static void deltas_emit(out_sink *self, const out_event *ev) {
    out_chain *c = (out_chain *)((char *)self - offsetof(out_chain, to_deltas));
    out_deltas *d = &c->out;
    switch (ev->kind) {
    case OUT_TEXT: buf_append(&d->text, ev->text ? ev->text : "", ev->len); break;
    case OUT_REASONING: buf_append(&d->reasoning, ev->text ? ev->text : "", ev->len); break;
    case OUT_TOOL_BEGIN:
    case OUT_TOOL_ARGS: {
        if (d->n_tools == d->cap_tools) {
            size_t cap = d->cap_tools ? 2 * d->cap_tools : 4;
            out_tool_event *grown = realloc(d->tools, cap * sizeof *grown);
            if (!grown) return;
            d->tools = grown;
            d->cap_tools = cap;
        }
        out_tool_event *e = &d->tools[d->n_tools];
        e->kind = ev->kind;
        e->index = ev->index;
        e->id = ev->id ? strdup(ev->id) : NULL;
        e->text = strndup(ev->text ? ev->text : "", ev->len);
        e->len = e->text ? ev->len : 0;
        d->n_tools++;
        break;
    }
    }
}

/* ---------------------------------------------------------------- links */

static void link_emit(out_sink *self, const out_event *ev) {
    out_link *l = (out_link *)self;
    if (!l->stage) {
        l->next->emit(l->next, ev);
        return;
    }
    lm_status s = l->stage->push(l->stage, ev, l->next);
    if (s != LM_OK && l->st == LM_OK) l->st = s;
}

static void link_init(out_link *l, out_stage *stage, out_sink *next) {
    l->sink.emit = link_emit;
    l->stage = stage;
    l->next = next;
    l->st = LM_OK;
}

static lm_status link_flush(out_link *l) {
    if (!l->stage) return LM_OK;
    lm_status s = l->stage->flush(l->stage, l->next);
    return l->st != LM_OK ? l->st : s;
}

/* ---------------------------------------------------------------- stop strings */

static void emit_text(out_sink *next, const char *text, size_t len) {
    if (!len) return;
    out_event ev = {.kind = OUT_TEXT, .text = text, .len = len};
    next->emit(next, &ev);
}

/* The earliest stop string that ends at or after byte `from` of pending; its start, or -1. */
static long stops_find(const out_stops *st, size_t from, size_t *stop_len, int *which) {
    const lm_buf *t = &st->pending;
    long best = -1;
    for (int i = 0; i < st->n_stop; i++) {
        size_t n = strlen(st->stop[i]);
        size_t start = from >= n ? from - n + 1 : 0;
        if (start > t->len) continue;
        const char *hit = memmem(t->data + start, t->len - start, st->stop[i], n);
        if (hit && (best < 0 || hit - t->data < best)) {
            best = hit - t->data;
            *stop_len = n;
            *which = i;
        }
    }
    return best;
}

/* Length of the longest suffix of pending that is a proper prefix of some stop string: the bytes
 * that must be held back because a stop string may be forming. */
static size_t stops_holdback(const out_stops *st) {
    const lm_buf *t = &st->pending;
    size_t best = 0;
    for (int i = 0; i < st->n_stop; i++) {
        size_t n = strlen(st->stop[i]);
        for (size_t k = n - 1; k > best; k--) {
            if (k <= t->len && memcmp(t->data + t->len - k, st->stop[i], k) == 0) {
                best = k;
                break;
            }
        }
    }
    return best;
}

static lm_status stops_push(out_stage *self, const out_event *ev, out_sink *next) {
    out_stops *st = (out_stops *)self;
    if (ev->kind != OUT_TEXT) {
        next->emit(next, ev);
        return LM_OK;
    }
    if (st->stopped) return LM_OK; /* everything after a stop string is dropped */
    if (st->n_stop == 0) {
        emit_text(next, ev->text, ev->len);
        return LM_OK;
    }
    size_t before = st->pending.len;
    buf_append(&st->pending, ev->text ? ev->text : "", ev->len);
    if (st->pending.oom) return LM_ERR_NOMEM;
    size_t stop_len = 0;
    int which = 0;
    long at = stops_find(st, before, &stop_len, &which);
    if (at >= 0) {
        st->stopped = 1 + which;
        emit_text(next, st->pending.data, st->include ? (size_t)at + stop_len : (size_t)at);
        buf_reset(&st->pending);
        return LM_OK;
    }
    size_t keep = stops_holdback(st);
    size_t out = st->pending.len - keep;
    emit_text(next, st->pending.data, out);
    if (out) {
        memmove(st->pending.data, st->pending.data + out, keep);
        st->pending.len = keep;
    }
    return LM_OK;
}

static lm_status stops_flush(out_stage *self, out_sink *next) {
    out_stops *st = (out_stops *)self;
    if (!st->stopped) emit_text(next, st->pending.data, st->pending.len);
    buf_reset(&st->pending);
    return LM_OK;
}

static void stops_destroy(out_stage *self) {
    out_stops *st = (out_stops *)self;
    buf_fini(&st->pending);
}

void out_stops_init(out_stops *st, const char *const *stop, int n_stop, int include) {
    memset(st, 0, sizeof *st);
    st->base.push = stops_push;
    st->base.flush = stops_flush;
    st->base.destroy = stops_destroy;
    st->stop = stop;
    st->n_stop = n_stop;
    st->include = include;
}

/* ---------------------------------------------------------------- the chain */

void out_chain_init(out_chain *c, const tok_tokenizer *t, int skip_special, const char *const *stop,
                    int n_stop, int include_stop, out_stage *reasoning, out_stage *tools) {
    memset(c, 0, sizeof *c);
    tok_stream_init(&c->detok, t, skip_special);
    out_stops_init(&c->stops, stop, n_stop, include_stop);
    c->reasoning = reasoning;
    c->tools = tools;
    c->to_deltas.emit = deltas_emit;
    link_init(&c->to_tools, tools, &c->to_deltas);
    link_init(&c->to_reasoning, reasoning, &c->to_tools.sink);
    link_init(&c->to_stops, &c->stops.base, &c->to_reasoning.sink);
}

/* Sends the scratch text (what the detokenizer completed) into the stop-strings stage. */
static lm_status push_scratch(out_chain *c) {
    if (c->scratch.oom) return LM_ERR_NOMEM;
    if (c->scratch.len) {
        out_event ev = {.kind = OUT_TEXT, .text = c->scratch.data, .len = c->scratch.len};
        c->to_stops.sink.emit(&c->to_stops.sink, &ev);
    }
    buf_reset(&c->scratch);
    lm_status s = c->to_stops.st;
    if (s == LM_OK) s = c->to_reasoning.st;
    if (s == LM_OK) s = c->to_tools.st;
    return s;
}

void out_chain_keep_special(out_chain *c, const tok_tokenizer *t, const char *const *texts) {
    for (; texts && *texts && c->n_keep < OUT_CHAIN_MAX_KEEP; texts++) {
        int32_t id = tok_token_id(t, *texts, strlen(*texts));
        if (id >= 0 && tok_is_special(t, id)) c->keep[c->n_keep++] = id;
    }
    c->tok = t;
}

lm_status out_chain_push_token(out_chain *c, int32_t id) {
    for (int i = 0; i < c->n_keep; i++)
        if (c->keep[i] == id) { /* a parser's special token: its text, even when specials are skipped */
            size_t len;
            const char *text = tok_token_text(c->tok, id, &len);
            if (text) buf_append(&c->scratch, text, len);
            return push_scratch(c);
        }
    tok_stream_push(&c->detok, id, &c->scratch);
    return push_scratch(c);
}

int out_chain_stopped(const out_chain *c) { return c->stops.stopped; }

lm_status out_chain_finish(out_chain *c, int flush_detok) {
    lm_status s = LM_OK;
    if (flush_detok) {
        tok_stream_flush(&c->detok, &c->scratch);
        s = push_scratch(c);
    }
    /* in chain order: each flush may push into the stages after it */
    lm_status f = link_flush(&c->to_stops);
    if (s == LM_OK) s = f;
    f = link_flush(&c->to_reasoning);
    if (s == LM_OK) s = f;
    f = link_flush(&c->to_tools);
    if (s == LM_OK) s = f;
    return s;
}

void out_chain_fini(out_chain *c) {
    c->stops.base.destroy(&c->stops.base);
    if (c->reasoning) c->reasoning->destroy(c->reasoning);
    if (c->tools) c->tools->destroy(c->tools);
    out_deltas_fini(&c->out);
    buf_fini(&c->scratch);
    memset(c, 0, sizeof *c);
}
