/* toolcall_gptoss.c — gpt-oss's Harmony format, reasoning and tool calls together (the parser
 * named gptoss in both slots; running it twice is harmless, the second sees clean text).
 *
 * The reply continues the prompt's `<|start|>assistant` with messages:
 *
 *   [<|start|>assistant][ to=functions.NAME]<|channel|>CHANNEL[ json|<|constrain|>json]<|message|>BODY END
 *
 * END is <|end|>, <|return|>, <|call|> or the end of the reply. The analysis channel is
 * reasoning, a message addressed to a recipient (to=functions.NAME, in the header before or after
 * the channel) is a call whose body is its JSON arguments, and everything else (final, plain
 * commentary, text outside messages) is content. Messages of one kind are joined by a space. */
#include <stdlib.h>
#include <string.h>

#include "serving/parsers_impl.h"

enum { H_START, H_TEXT, H_HEADER, H_REASON, H_CONTENT, H_CALL };

#define HARMONY_MAX_HEADER 512

static const char *const markers[] = {"<|start|>", "<|channel|>", "<|message|>", "<|constrain|>",
                                      "<|end|>", "<|return|>", "<|call|>", NULL};
static const char *const starts[] = {"<|channel|>", "<|start|>", " to=", "to=", NULL};

typedef struct {
    lm_buf name;          /* H_CALL: the function */
    int n_reason, n_content; /* messages of each kind that produced text */
    int sep;              /* the current body's first text needs a separating space */
} hm;

/* Earliest of the markers that end a body or start a header; *len = its length, *is_start. */
static size_t find_marker(const char *s, size_t n, size_t *len, int *is_start) {
    static const char *const ends[] = {"<|start|>", "<|channel|>", "<|end|>", "<|return|>", "<|call|>", NULL};
    size_t best = (size_t)-1;
    for (int k = 0; ends[k]; k++) {
        size_t p = tag_find(s, n, 0, ends[k]);
        if (p < best) {
            best = p;
            *len = strlen(ends[k]);
            *is_start = k < 2;
        }
    }
    return best;
}

static void emit_reason(tc *t, const char *s, size_t n, out_sink *next) {
    hm *h = t->ext;
    if (!n) return;
    if (h->sep) {
        out_event sp = {OUT_REASONING, 0, NULL, " ", 1};
        next->emit(next, &sp);
        h->sep = 0;
    }
    out_event ev = {OUT_REASONING, 0, NULL, s, n};
    next->emit(next, &ev);
}

static void emit_content(tc *t, const char *s, size_t n, out_sink *next) {
    hm *h = t->ext;
    if (!n) return;
    if (h->sep) {
        tc_text(t, " ", 1, next);
        h->sep = 0;
    }
    tc_text(t, s, n, next);
}

/* Header words: the word after `key` in h[0..n) (up to space or '<'), or an empty span. */
static const char *header_word(const char *h, size_t n, const char *key, size_t *len) {
    size_t p = tag_find(h, n, 0, key);
    *len = 0;
    if (p == (size_t)-1) return h;
    size_t a = p + strlen(key), b = a;
    while (b < n && (unsigned char)h[b] > 0x20 && h[b] != '<') b++;
    *len = b - a;
    return h + a;
}

static void begin_body(tc *t, const char *h, size_t n) {
    hm *x = t->ext;
    size_t rl, cl;
    const char *rcpt = header_word(h, n, "to=", &rl);
    const char *chan = header_word(h, n, "<|channel|>", &cl);
    if (rl && !(rl == 9 && !memcmp(rcpt, "assistant", 9))) {
        if (rl > 10 && !memcmp(rcpt, "functions.", 10)) {
            rcpt += 10;
            rl -= 10;
        }
        buf_reset(&x->name);
        buf_append(&x->name, rcpt, rl);
        t->state = H_CALL;
        return;
    }
    if (cl == 8 && !memcmp(chan, "analysis", 8)) {
        t->state = H_REASON;
        x->sep = x->n_reason++ > 0;
    } else {
        t->state = H_CONTENT;
        x->sep = x->n_content++ > 0;
    }
}

static int step(tc *t, int final, out_sink *next) {
    hm *x = t->ext;
    const char *s = t->pend.data;
    size_t n = t->pend.len, ml = 0;
    int is_start = 0;
    if (!n) return 0;
    switch (t->state) {
    case H_START:
        for (int k = 0; starts[k]; k++) {
            size_t sl = strlen(starts[k]);
            if (n >= sl && !memcmp(s, starts[k], sl)) {
                t->state = H_HEADER;
                return 1;
            }
            if (!final && tag_is_prefix(s, n, starts[k])) return 0;
        }
        t->state = H_TEXT;
        x->n_content++;
        return 1;
    case H_HEADER: {
        size_t p = tag_find(s, n, 0, "<|message|>");
        if (p == (size_t)-1 || p > HARMONY_MAX_HEADER) {
            if (!final && n <= HARMONY_MAX_HEADER + 11) return 0;
            t->state = H_TEXT; /* not a header after all: content */
            tc_text(t, s, 1, next); /* at least one byte, so the same marker is not read again */
            tc_consume(t, 1);
            return 1;
        }
        begin_body(t, s, p);
        tc_consume(t, p + 11);
        return 1;
    }
    case H_CALL: {
        size_t p = find_marker(s, n, &ml, &is_start);
        if (p == (size_t)-1 && !final) return 0;
        size_t body = p == (size_t)-1 ? n : p, e;
        size_t skip = p == (size_t)-1 ? n : is_start ? p : p + ml;
        if (js_kind(s, body) && js_scan(s, body, 1, &e) == JS_DONE) {
            size_t k = e;
            while (k < body && is_ws(s[k])) k++;
            if (k == body) {
                tc_call(t, x->name.data, x->name.len, s, e, next);
                tc_consume(t, skip);
                t->state = H_TEXT;
                return 1;
            }
        }
        emit_content(t, s, body, next); /* malformed arguments: content */
        tc_consume(t, skip);
        t->state = H_TEXT;
        return 1;
    }
    default: { /* H_TEXT, H_REASON, H_CONTENT */
        size_t p = find_marker(s, n, &ml, &is_start);
        size_t upto = p != (size_t)-1 ? p : final ? n : n - tag_hold(s, n, markers);
        if (t->state == H_REASON) emit_reason(t, s, upto, next);
        else emit_content(t, s, upto, next);
        if (p == (size_t)-1) {
            tc_consume(t, upto);
            return 0;
        }
        if (is_start) {
            tc_consume(t, !memcmp(s + p, "<|start|>", 9) ? p + ml : p);
            t->state = H_HEADER;
        } else {
            tc_consume(t, p + ml);
            t->state = H_TEXT;
        }
        return 1;
    }
    }
}

static void fini(tc *t) {
    hm *x = t->ext;
    buf_fini(&x->name);
    free(x);
}

lm_status harmony_create(const parser_opts *opts, out_stage **out) {
    tc *t = malloc(sizeof *t);
    hm *x = calloc(1, sizeof *x);
    if (!t || !x) {
        free(t);
        free(x);
        return LM_ERR_NOMEM;
    }
    tc_init(t, step, opts);
    t->fini = fini;
    t->ext = x;
    t->state = H_START;
    *out = &t->stage;
    return LM_OK;
}
