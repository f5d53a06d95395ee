/* generation.c — generation_submit and generation_poll (generation.h): from a protocol's request
 * to n gen_requests on a servable, and their output back, sample by sample. */
#include "serving/generation.h"

#include "serving/parsers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "serving/serving_impl.h"

struct generation {
    servable *sv;                /* retained by registry_find; released by generation_destroy */
    int n;
    gen_request *req[GEN_MAX_SAMPLES];
    int finished[GEN_MAX_SAMPLES]; /* the sample's last chunk was polled */
    size_t prompt_tokens;
    char *echo;                  /* the prompt's text, when echo was asked */
    size_t echo_len;
    int opens_think;             /* the rendered chat prompt ends with <think> */
};

static lm_status refuse(generation_error *err, lm_status code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static lm_status refuse(generation_error *err, lm_status code, const char *param, const char *fmt, ...) {
    if (err->e.code != LM_OK) return err->e.code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->e.msg, sizeof err->e.msg, fmt, ap);
    va_end(ap);
    err->e.code = code;
    snprintf(err->param, sizeof err->param, "%s", param);
    return code;
}

/* An lm_error from below, about `param`. */
static lm_status refuse_with(generation_error *err, const lm_error *e, const char *param) {
    if (err->e.code == LM_OK) err->e = *e;
    snprintf(err->param, sizeof err->param, "%s", param);
    return err->e.code;
}

/* The prompt's ids: the rendered chat template (special tokens are the template's), or the text
 * with the model's BOS/EOS, or the ids as given. */
/* A prompt whose bytes could not fit in the model's prompt limit even at
 * LM_PROMPT_MAX_BYTES_PER_TOKEN bytes a token is refused before tokenizing it. */
static lm_status check_prompt_bytes(const servable *sv, size_t len, const char *param, generation_error *err) {
    size_t most = (size_t)servable_max_prompt_len(sv) * LM_PROMPT_MAX_BYTES_PER_TOKEN;
    if (len <= most) return LM_OK;
    return refuse(err, LM_ERR_LIMIT, param,
                  "the prompt is %zu bytes: more than the %d tokens this model accepts can hold (at most %zu "
                  "bytes, %d a token)", len, servable_max_prompt_len(sv), most, LM_PROMPT_MAX_BYTES_PER_TOKEN);
}

static lm_status build_prompt(generation *g, const generation_request *q, tok_ids *ids, generation_error *err) {
    lm_error le;
    err_clear(&le);
    const servable *sv = g->sv;
    if (q->kind == GEN_PROMPT_CHAT) {
        lm_buf text = {0};
        lm_status s = servable_render_chat(sv, q->messages, q->tools, q->template_kwargs, &text, &le);
        if (s == LM_OK && check_prompt_bytes(sv, text.len, "messages", err) != LM_OK) {
            buf_fini(&text);
            return err->e.code;
        }
        if (s == LM_OK) g->opens_think = parser_prompt_opens_think(text.data ? text.data : "", text.len);
        if (s == LM_OK) s = servable_tokenize(sv, text.data ? text.data : "", text.len, 0, ids, &le);
        buf_fini(&text);
        return s == LM_OK ? LM_OK : refuse_with(err, &le, "messages");
    }
    if (q->kind == GEN_PROMPT_IDS) {
        size_t vocab = tok_vocab_size(sv->tok);
        for (size_t i = 0; i < q->n_ids; i++) {
            if (q->ids[i] < 0 || (size_t)q->ids[i] >= vocab)
                return refuse(err, LM_ERR_INVALID, "prompt", "prompt token id %d is outside the vocabulary (size %zu)",
                              (int)q->ids[i], vocab);
            tok_ids_push(ids, q->ids[i]);
        }
        if (q->echo) {
            lm_buf t = {0};
            tok_decode(sv->tok, q->ids, q->n_ids, 0, &t, &le);
            g->echo = strndup(t.data ? t.data : "", t.len);
            g->echo_len = t.len;
            buf_fini(&t);
        }
        return LM_OK;
    }
    LM_TRY(check_prompt_bytes(sv, q->text_len, "prompt", err));
    lm_status s = servable_tokenize(sv, q->text, q->text_len, 1, ids, &le);
    if (s != LM_OK) return refuse_with(err, &le, "prompt");
    if (q->echo) {
        g->echo = strndup(q->text, q->text_len);
        g->echo_len = q->text_len;
    }
    return LM_OK;
}

lm_status generation_submit(registry *models, const generation_request *q, generation **out,
                            generation_error *err) {
    *out = NULL;
    memset(err, 0, sizeof *err);
    int st = -1;
    registry_model lim;
    servable *sv = registry_find(models, q->model, &st, &lim);
    if (!sv) {
        if (st < 0) {
            refuse(err, LM_ERR_NOT_FOUND, "model", "The model `%s` does not exist", q->model);
            err->code = "model_not_found";
        } else {
            refuse(err, LM_ERR_UNSUPPORTED, "model", "The model `%s` is not available (state %s)", q->model,
                   servable_state_name(st));
            err->code = "model_not_ready";
            err->unavailable = 1;
        }
        return err->e.code;
    }
    /* the limits of the model's graph.pbtxt (OVMS's wording) */
    gen_asked asked = q->asked;
    lm_status s = LM_OK;
    if (lim.max_tokens_limit > 0) {
        if (!asked.has_max_tokens) {
            asked.has_max_tokens = 1;
            asked.max_tokens = lim.max_tokens_limit;
        } else if (asked.max_tokens > lim.max_tokens_limit) {
            s = refuse(err, LM_ERR_INVALID, "max_tokens", "max_tokens exceeds limit provided in graph config: %d",
                       lim.max_tokens_limit);
        }
    }
    if (s == LM_OK && q->n > lim.best_of_limit)
        s = refuse(err, LM_ERR_INVALID, "n", "n exceeds best_of limit provided in graph config: %d", lim.best_of_limit);
    if (s == LM_OK && (q->n < 1 || q->n > GEN_MAX_SAMPLES))
        s = refuse(err, LM_ERR_INVALID, "n", "n %d must be in [1, %d]", q->n, GEN_MAX_SAMPLES);
    generation *g = NULL;
    if (s == LM_OK) {
        g = calloc(1, sizeof *g);
        if (!g) s = refuse(err, LM_ERR_NOMEM, "", "out of memory");
    }
    if (s != LM_OK) {
        servable_release(sv);
        return s;
    }
    g->sv = sv;
    tok_ids ids = {0};
    s = build_prompt(g, q, &ids, err);
    for (int i = 0; s == LM_OK && i < q->n; i++) {
        gen_params p = gen_params_resolve(&asked, servable_defaults(sv), i, q->random_seed);
        p.prompt = ids.ids;
        p.n_prompt = ids.n;
        p.parse_output = q->kind == GEN_PROMPT_CHAT; /* /v3/completions is not parsed (as OVMS) */
        p.tools = q->kind == GEN_PROMPT_CHAT ? q->tools : NULL;
        p.prompt_opens_think = g->opens_think;
        lm_error le;
        err_clear(&le);
        s = gen_submit(sv, &p, &g->req[i], &le);
        if (s != LM_OK) {
            refuse_with(err, &le, q->kind == GEN_PROMPT_CHAT ? "messages" : "prompt");
            break;
        }
        g->n = i + 1;
        gen_set_notify(g->req[i], q->notify, q->notify_ctx);
    }
    g->prompt_tokens = ids.n;
    tok_ids_fini(&ids);
    if (s != LM_OK) {
        generation_destroy(g); /* cancels the samples already submitted */
        return s;
    }
    *out = g;
    return LM_OK;
}

int generation_poll(generation *g, gen_chunk *chunk) {
    for (int i = 0; i < g->n; i++) {
        if (g->finished[i]) continue;
        if (gen_poll(g->req[i], chunk, 0) != 1) continue;
        chunk->index = i;
        if (chunk->finish != GEN_FINISH_NONE) g->finished[i] = 1;
        return 1;
    }
    return 0;
}

int generation_done(const generation *g) {
    for (int i = 0; i < g->n; i++)
        if (!g->finished[i]) return 0;
    return 1;
}

int generation_samples(const generation *g) { return g->n; }
size_t generation_prompt_tokens(const generation *g) { return g->prompt_tokens; }

const char *generation_echo(const generation *g, size_t *len) {
    *len = g->echo_len;
    return g->echo;
}

void generation_cancel(generation *g) {
    if (!g) return;
    for (int i = 0; i < g->n; i++)
        if (!g->finished[i]) gen_cancel(g->req[i]);
}

void generation_destroy(generation *g) {
    if (!g) return;
    for (int i = 0; i < g->n; i++) {
        gen_set_notify(g->req[i], NULL, NULL);
        if (!g->finished[i]) gen_cancel(g->req[i]);
        gen_release(g->req[i]);
    }
    free(g->echo);
    servable_release(g->sv); /* registry_find retained it */
    free(g);
}
