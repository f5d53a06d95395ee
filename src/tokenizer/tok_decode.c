/* tok_decode.c — ids to text: the decoder steps over a list of token strings (as Hugging Face's
 * decoders work), whole-sequence decoding, and the incremental decoder for streaming.
 *
 * Streaming decodes each token alone as a continuation (no start-of-text stripping) and holds
 * back the bytes of an incomplete UTF-8 character until the next token completes or breaks it. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

/* A list of byte strings, back to back in one buffer. */
typedef struct {
    lm_buf data;
    size_t *off, *len;
    size_t n, cap;
    int oom;
} strlist;

static void sl_push(strlist *l, const char *s, size_t n) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        size_t *o = realloc(l->off, cap * sizeof *o);
        if (o) l->off = o;
        size_t *m = o ? realloc(l->len, cap * sizeof *m) : NULL;
        if (!o || !m) {
            l->oom = 1;
            return;
        }
        l->len = m;
        l->cap = cap;
    }
    l->off[l->n] = l->data.len;
    l->len[l->n] = n;
    l->n++;
    buf_append(&l->data, s, n);
}

/* Extends the last string (which must be the last bytes of data). */
static void sl_extend(strlist *l, const char *s, size_t n) {
    buf_append(&l->data, s, n);
    l->len[l->n - 1] += n;
}

static void sl_reset(strlist *l) {
    l->n = 0;
    buf_reset(&l->data);
    l->oom = 0;
}

static void sl_fini(strlist *l) {
    buf_fini(&l->data);
    free(l->off);
    free(l->len);
    memset(l, 0, sizeof *l);
}

static const char *sl_str(const strlist *l, size_t i) { return l->data.data + l->off[i]; }

/* ---------------------------------------------------------------- steps */

/* "<0xHH>" -> the byte, or -1. */
static int byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int k = 3; k < 5; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static void replace_all(strlist *dst, const char *s, size_t n, const char *pat, size_t pl,
                        const char *rep, size_t rl) {
    sl_push(dst, "", 0);
    size_t i = 0, run = 0;
    while (pl && i + pl <= n) {
        if (memcmp(s + i, pat, pl) == 0) {
            sl_extend(dst, s + run, i - run);
            sl_extend(dst, rep, rl);
            i += pl;
            run = i;
        } else {
            i++;
        }
    }
    sl_extend(dst, s + run, n - run);
}

/* Byte-level: each string's characters back to bytes (a string with a character outside the
 * alphabet keeps its UTF-8 bytes), all joined into one. */
static void bytelevel_join(strlist *dst, const strlist *src, int lossy) {
    lm_buf raw = {0};
    for (size_t i = 0; i < src->n; i++) {
        const unsigned char *s = (const unsigned char *)sl_str(src, i);
        size_t n = src->len[i], mark = raw.len;
        int ok = 1;
        for (size_t k = 0; k < n && ok;) {
            size_t l = utf8_valid_len(s + k, n - k);
            int b = l ? tok_bytelevel_byte(utf8_decode(s + k, l)) : -1;
            if (b < 0) {
                ok = 0;
                break;
            }
            char c = (char)b;
            buf_append(&raw, &c, 1);
            k += l;
        }
        if (!ok) {
            raw.len = mark;
            buf_append(&raw, s, n);
        }
    }
    sl_push(dst, "", 0);
    if (lossy) {
        lm_buf fixed = {0};
        utf8_append_lossy(&fixed, raw.data ? raw.data : "", raw.len);
        sl_extend(dst, fixed.data ? fixed.data : "", fixed.len);
        if (fixed.oom) dst->oom = 1;
        buf_fini(&fixed);
    } else {
        sl_extend(dst, raw.data ? raw.data : "", raw.len);
    }
    if (raw.oom) dst->oom = 1;
    buf_fini(&raw);
}

/* Byte fallback: runs of <0xHH> strings become their bytes; a run that is not valid UTF-8
 * becomes one U+FFFD per byte (HF's rule) when lossy, raw bytes otherwise. */
static void bytefallback(strlist *dst, const strlist *src, int lossy) {
    lm_buf run = {0};
    size_t n_run = 0;
    for (size_t i = 0; i <= src->n; i++) {
        int b = i < src->n ? byte_token(sl_str(src, i), src->len[i]) : -1;
        if (b >= 0) {
            char c = (char)b;
            buf_append(&run, &c, 1);
            n_run++;
            continue;
        }
        if (n_run) {
            if (!lossy || utf8_is_valid(run.data, run.len)) {
                sl_push(dst, run.data, run.len);
            } else {
                for (size_t k = 0; k < n_run; k++) sl_push(dst, utf8_replacement, 3);
            }
            buf_reset(&run);
            n_run = 0;
        }
        if (i < src->n) sl_push(dst, sl_str(src, i), src->len[i]);
    }
    if (run.oom) dst->oom = 1;
    buf_fini(&run);
}

/* Removes up to `start` leading and `stop` trailing copies of the character c. */
static void strip_chars(strlist *dst, const char *s, size_t n, const char *c, size_t cl,
                        int start, int stop) {
    size_t a = 0, b = n;
    for (int k = 0; k < start && cl && a + cl <= b && memcmp(s + a, c, cl) == 0; k++) a += cl;
    for (int k = 0; k < stop && cl && b >= a + cl && memcmp(s + b - cl, c, cl) == 0; k++) b -= cl;
    sl_push(dst, s + a, b - a);
}

static void wordpiece_cleanup(strlist *dst) {
    static const char *const pairs[][2] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
    };
    strlist cur = {0}, nxt = {0};
    sl_push(&cur, sl_str(dst, dst->n - 1), dst->len[dst->n - 1]);
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        sl_reset(&nxt);
        replace_all(&nxt, sl_str(&cur, 0), cur.len[0], pairs[k][0], strlen(pairs[k][0]),
                    pairs[k][1], strlen(pairs[k][1]));
        strlist tmp = cur;
        cur = nxt;
        nxt = tmp;
    }
    /* replace the last string of dst by the cleaned one */
    dst->data.len = dst->off[dst->n - 1];
    dst->n--;
    sl_push(dst, sl_str(&cur, 0), cur.len[0]);
    if (cur.oom || cur.data.oom) dst->oom = 1;
    sl_fini(&cur);
    sl_fini(&nxt);
}

/* Runs one decoder step from src into dst. `fused`: an earlier step joined everything into one
 * string (so in a continuation, that string does not start the text). */
static lm_status run_step(const tok_step *s, const strlist *src, strlist *dst, int continuation,
                          int lossy, int *fused, lm_error *err) {
    switch (s->kind) {
    case TOK_DEC_BYTELEVEL:
        bytelevel_join(dst, src, lossy);
        *fused = 1;
        break;
    case TOK_DEC_BYTEFALLBACK:
        bytefallback(dst, src, lossy);
        break;
    case TOK_DEC_FUSE:
        sl_push(dst, "", 0);
        for (size_t i = 0; i < src->n; i++) sl_extend(dst, sl_str(src, i), src->len[i]);
        *fused = 1;
        break;
    case TOK_DEC_REPLACE:
        for (size_t i = 0; i < src->n; i++)
            replace_all(dst, sl_str(src, i), src->len[i], s->str, s->str_len, s->str2, s->str2_len);
        break;
    case TOK_DEC_REPLACE_RE:
        for (size_t i = 0; i < src->n; i++) {
            const char *p = sl_str(src, i);
            size_t n = src->len[i], pos = 0, ms, me;
            sl_push(dst, "", 0);
            while (pos <= n && tok_regex_find(s->re, p, n, pos, &ms, &me) == 1) {
                sl_extend(dst, p + pos, ms - pos);
                sl_extend(dst, s->str2, s->str2_len);
                if (me == ms) {
                    if (ms < n) sl_extend(dst, p + ms, 1);
                    pos = ms + 1;
                } else {
                    pos = me;
                }
            }
            if (pos < n) sl_extend(dst, p + pos, n - pos);
        }
        break;
    case TOK_DEC_STRIP:
        for (size_t i = 0; i < src->n; i++) {
            /* a fused string in a continuation is the middle of the text: leave its ends */
            int keep = continuation && *fused;
            strip_chars(dst, sl_str(src, i), src->len[i], s->str, s->str_len,
                        keep ? 0 : s->num, keep ? 0 : s->num2);
        }
        break;
    case TOK_DEC_METASPACE:
        for (size_t i = 0; i < src->n; i++) {
            int first = i == 0 && !continuation;
            const char *p = sl_str(src, i);
            size_t n = src->len[i], pos = 0, run = 0;
            sl_push(dst, "", 0);
            while (s->str_len && pos + s->str_len <= n) {
                if (memcmp(p + pos, s->str, s->str_len) == 0) {
                    sl_extend(dst, p + run, pos - run);
                    if (!(first && s->num != TOK_PREPEND_NEVER)) sl_extend(dst, " ", 1);
                    pos += s->str_len;
                    run = pos;
                } else {
                    pos++;
                }
            }
            sl_extend(dst, p + run, n - run);
        }
        break;
    case TOK_DEC_WORDPIECE:
        for (size_t i = 0; i < src->n; i++) {
            const char *p = sl_str(src, i);
            size_t n = src->len[i];
            if (i != 0 || continuation) {
                if (n >= s->str_len && memcmp(p, s->str, s->str_len) == 0) {
                    sl_push(dst, p + s->str_len, n - s->str_len);
                } else {
                    sl_push(dst, " ", 1);
                    sl_extend(dst, p, n);
                }
            } else {
                sl_push(dst, p, n);
            }
            if (s->flag_a) wordpiece_cleanup(dst);
        }
        break;
    case TOK_DEC_BPE:
        for (size_t i = 0; i < src->n; i++) {
            int last = i + 1 == src->n && !continuation;
            replace_all(dst, sl_str(src, i), src->len[i], s->str, s->str_len, last ? "" : " ",
                        last ? 0 : 1);
        }
        break;
    default:
        return err_set(err, LM_ERR_UNSUPPORTED, "tokenizer: decoder kind %d not supported",
                       s->kind);
    }
    return LM_OK;
}

lm_status tok_decode_strings(const tok_tokenizer *t, const char **strs, const size_t *lens,
                             size_t n, int continuation, int lossy, lm_buf *out, lm_error *err) {
    strlist a = {0}, b = {0};
    for (size_t i = 0; i < n; i++) sl_push(&a, strs[i], lens[i]);
    lm_status st = LM_OK;
    int fused = 0;
    for (size_t k = 0; k < t->n_dec && st == LM_OK; k++) {
        sl_reset(&b);
        st = run_step(&t->dec[k], &a, &b, continuation, lossy, &fused, err);
        strlist tmp = a;
        a = b;
        b = tmp;
    }
    if (st == LM_OK) {
        /* without a decoder HF joins the tokens with spaces */
        lm_buf joined = {0};
        for (size_t i = 0; i < a.n; i++) {
            if (i && t->n_dec == 0) buf_append(&joined, " ", 1);
            buf_append(&joined, sl_str(&a, i), a.len[i]);
        }
        if (continuation && t->n_dec == 0 && a.n) {
            lm_buf sp = {0};
            buf_append(&sp, " ", 1);
            buf_append(&sp, joined.data, joined.len);
            buf_fini(&joined);
            joined = sp;
        }
        if (lossy) utf8_append_lossy(out, joined.data ? joined.data : "", joined.len);
        else buf_append(out, joined.data ? joined.data : "", joined.len);
        if (joined.oom || a.oom || a.data.oom || out->oom)
            st = err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory decoding");
        buf_fini(&joined);
    }
    sl_fini(&a);
    sl_fini(&b);
    return st;
}

/* ---------------------------------------------------------------- public decoding */

static int id_ok(const tok_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && !(t->pieces[id].flags & TOK_F_HOLE);
}

lm_status tok_decode(const tok_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                     lm_buf *out, lm_error *err) {
    const char **strs = malloc((n ? n : 1) * sizeof *strs);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    if (!strs || !lens) {
        free(strs);
        free(lens);
        return err_set(err, LM_ERR_NOMEM, "tokenizer: out of memory decoding");
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        /* unknown ids are dropped, as HF does (models often pad their output layer) */
        if (!id_ok(t, ids[i])) continue;
        const tok_piece *p = &t->pieces[ids[i]];
        if (skip_special && (p->flags & TOK_F_SPECIAL)) continue;
        strs[m] = t->text + p->off;
        lens[m] = p->len;
        m++;
    }
    lm_status st = tok_decode_strings(t, strs, lens, m, 0, 1, out, err);
    free(strs);
    free(lens);
    return st;
}

void tok_token_bytes(const tok_tokenizer *t, int32_t id, lm_buf *out) {
    if (!id_ok(t, id)) return;
    const char *str = t->text + t->pieces[id].off;
    size_t len = t->pieces[id].len;
    lm_error err;
    err_clear(&err);
    tok_decode_strings(t, &str, &len, 1, 1, 0, out, &err);
}

/* ---------------------------------------------------------------- streaming */

void tok_stream_init(tok_stream *s, const tok_tokenizer *t, int skip_special) {
    memset(s, 0, sizeof *s);
    s->t = t;
    s->skip_special = skip_special;
}

/* Emits the complete characters of pending + bytes, keeping an incomplete tail pending. */
static void stream_feed(tok_stream *s, const unsigned char *p, size_t n, lm_buf *out) {
    size_t i = 0;
    while (i < n) {
        if (s->n_pending == 0 && p[i] < 0x80) {
            size_t j = i;
            while (j < n && p[j] < 0x80) j++;
            buf_append(out, p + i, j - i);
            i = j;
            continue;
        }
        /* pending bytes + the next few new bytes */
        unsigned char w[8];
        size_t wn = s->n_pending;
        memcpy(w, s->pending, wn);
        size_t take = 0;
        while (wn < 4 && i + take < n) w[wn++] = p[i + take++];
        size_t l = utf8_valid_len(w, wn);
        if (l) {
            buf_append(out, w, l);
            i += l - s->n_pending; /* bytes of this character that came from p */
            s->n_pending = 0;
            continue;
        }
        size_t sub = utf8_maximal_subpart(w, wn);
        if (sub == wn && i + take == n && wn < utf8_seq_len(w[0])) {
            /* a valid prefix that the input ran out in: wait for more */
            memcpy(s->pending, w, wn);
            s->n_pending = wn;
            return;
        }
        buf_append(out, utf8_replacement, 3);
        /* the invalid subpart is consumed; everything after it is read again */
        if (sub <= s->n_pending) {
            memmove(s->pending, s->pending + sub, s->n_pending - sub);
            s->n_pending -= sub;
        } else {
            i += sub - s->n_pending;
            s->n_pending = 0;
        }
    }
}

void tok_stream_push(tok_stream *s, int32_t id, lm_buf *out) {
    const tok_tokenizer *t = s->t;
    if (!id_ok(t, id)) return;
    const tok_piece *p = &t->pieces[id];
    if (s->skip_special && (p->flags & TOK_F_SPECIAL)) return;
    const char *str = t->text + p->off;
    size_t len = p->len;
    lm_buf bytes = {0};
    lm_error err;
    err_clear(&err);
    if (tok_decode_strings(t, &str, &len, 1, 1, 0, &bytes, &err) == LM_OK)
        stream_feed(s, (const unsigned char *)bytes.data, bytes.len, out);
    buf_fini(&bytes);
}

void tok_stream_flush(tok_stream *s, lm_buf *out) {
    /* what is left is a valid prefix that never completed: one U+FFFD for it */
    if (s->n_pending) buf_append(out, utf8_replacement, 3);
    s->n_pending = 0;
}
