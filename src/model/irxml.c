/* irxml.c — the streaming XML reader of irxml.h: one forward pass over the text, a stack of open
 * element names (views into the text), and a scratch buffer holding the current tag's decoded
 * names and values. */
#include "model/irxml.h"

#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

typedef struct {
    const char *p, *end, *base;
    const irxml_handler *h;
    void *ctx;
    lm_error *err;
    char *scratch;          /* decoded attribute names and values of the current tag */
    size_t cap;
    struct { const char *name; size_t len; } stack[LM_IR_MAX_XML_DEPTH];
    int depth;
    int root_done;
} xp;

static int64_t off(const xp *x) { return (int64_t)(x->p - x->base); }

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int is_name_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':' || c == '.' || c == '-' || c >= 0x80;
}

static void skip_space(xp *x) {
    while (x->p < x->end && is_space(*x->p)) x->p++;
}

static int starts(const xp *x, const char *s) {
    size_t n = strlen(s);
    return (size_t)(x->end - x->p) >= n && memcmp(x->p, s, n) == 0;
}

/* Skips past the next occurrence of `term`; error naming `what` when the text ends first. */
static lm_status skip_past(xp *x, const char *term, const char *what) {
    size_t n = strlen(term);
    const char *start = x->p;
    for (; (size_t)(x->end - x->p) >= n; x->p++) {
        if (memcmp(x->p, term, n) == 0) {
            x->p += n;
            return LM_OK;
        }
    }
    x->p = start;
    return err_set_at(x->err, LM_ERR_FORMAT, off(x), "XML: unterminated %s", what);
}

static lm_status grow(xp *x, size_t need) {
    if (need <= x->cap) return LM_OK;
    size_t cap = x->cap ? x->cap : 256;
    while (cap < need) cap *= 2;
    char *s = realloc(x->scratch, cap);
    if (!s) return err_set(x->err, LM_ERR_NOMEM, "XML: out of memory");
    x->scratch = s;
    x->cap = cap;
    return LM_OK;
}

/* Appends UTF-8 of code point cp at scratch[*n]. */
static lm_status put_utf8(xp *x, size_t *n, uint32_t cp) {
    LM_TRY(grow(x, *n + 4));
    char *o = x->scratch + *n;
    if (cp < 0x80) { o[0] = (char)cp; *n += 1; }
    else if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); *n += 2; }
    else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 63));
        o[2] = (char)(0x80 | (cp & 63)); *n += 3;
    } else {
        o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 63));
        o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63)); *n += 4;
    }
    return LM_OK;
}

/* Decodes one entity at x->p ('&') into scratch. */
static lm_status entity(xp *x, size_t *n) {
    static const struct { const char *name; char c; } named[] = {
        {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''},
    };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        if (starts(x, named[i].name)) {
            x->p += strlen(named[i].name);
            return put_utf8(x, n, (uint32_t)named[i].c);
        }
    }
    if (starts(x, "&#")) {
        const char *q = x->p + 2;
        int hex = q < x->end && *q == 'x';
        if (hex) q++;
        uint32_t cp = 0;
        int digits = 0;
        for (; q < x->end && *q != ';'; q++, digits++) {
            int d = *q >= '0' && *q <= '9' ? *q - '0'
                    : hex && *q >= 'a' && *q <= 'f' ? *q - 'a' + 10
                    : hex && *q >= 'A' && *q <= 'F' ? *q - 'A' + 10 : -1;
            if (d < 0 || digits >= 8) break;
            cp = cp * (hex ? 16u : 10u) + (uint32_t)d;
        }
        if (q < x->end && *q == ';' && digits > 0 && cp > 0 && cp <= 0x10FFFF &&
            !(cp >= 0xD800 && cp <= 0xDFFF)) {
            x->p = q + 1;
            return put_utf8(x, n, cp);
        }
    }
    return err_set_at(x->err, LM_ERR_FORMAT, off(x), "XML: unknown or malformed entity");
}

/* Reads a name at x->p into scratch[*n] (NUL-terminated); sets *len to its length. */
static lm_status read_name(xp *x, size_t *n, const char *what) {
    const char *s = x->p;
    while (x->p < x->end && is_name_char((unsigned char)*x->p)) x->p++;
    if (x->p == s) {
        if (x->p >= x->end)
            return err_set_at(x->err, LM_ERR_FORMAT, off(x), "XML: file ends inside a tag");
        return err_set_at(x->err, LM_ERR_FORMAT, off(x), "XML: expected %s, found '%c'", what, *x->p);
    }
    size_t len = (size_t)(x->p - s);
    LM_TRY(grow(x, *n + len + 1));
    memcpy(x->scratch + *n, s, len);
    x->scratch[*n + len] = '\0';
    *n += len + 1;
    return LM_OK;
}

/* <name attr="v" ...> or <name .../> at x->p ('<'). */
static lm_status start_tag(xp *x) {
    int64_t at = off(x);
    if (x->root_done)
        return err_set_at(x->err, LM_ERR_FORMAT, at, "XML: a second root element");
    if (x->depth >= LM_IR_MAX_XML_DEPTH)
        return err_set_at(x->err, LM_ERR_LIMIT, at, "XML: elements nested deeper than %d",
                          LM_IR_MAX_XML_DEPTH);
    x->p++;
    const char *name = x->p;
    size_t n = 0;
    LM_TRY(read_name(x, &n, "an element name"));
    size_t name_len = (size_t)(x->p - name);
    size_t offs[2 * LM_IR_MAX_XML_ATTRS];
    int n_attrs = 0;
    int self_close = 0;
    for (;;) {
        const char *before = x->p;
        skip_space(x);
        if (x->p >= x->end)
            return err_set_at(x->err, LM_ERR_FORMAT, at, "XML: file ends inside the tag <%.*s>",
                              (int)(name_len > 64 ? 64 : name_len), name);
        if (*x->p == '>') { x->p++; break; }
        if (starts(x, "/>")) { x->p += 2; self_close = 1; break; }
        if (x->p == before)
            return err_set_at(x->err, LM_ERR_FORMAT, off(x), "XML: expected a space before an attribute");
        if (n_attrs >= LM_IR_MAX_XML_ATTRS)
            return err_set_at(x->err, LM_ERR_LIMIT, at, "XML: more than %d attributes on one element",
                              LM_IR_MAX_XML_ATTRS);
        offs[2 * n_attrs] = n;
        LM_TRY(read_name(x, &n, "an attribute name"));
        skip_space(x);
        if (x->p >= x->end || *x->p != '=')
            return err_set_at(x->err, LM_ERR_FORMAT, off(x), "XML: expected '=' after attribute '%s'",
                              x->scratch + offs[2 * n_attrs]);
        x->p++;
        skip_space(x);
        if (x->p >= x->end || (*x->p != '"' && *x->p != '\''))
            return err_set_at(x->err, LM_ERR_FORMAT, off(x), "XML: expected a quoted value");
        char quote = *x->p++;
        offs[2 * n_attrs + 1] = n;
        for (;;) {
            if (x->p >= x->end)
                return err_set_at(x->err, LM_ERR_FORMAT, at, "XML: file ends inside an attribute value");
            char c = *x->p;
            if (c == quote) { x->p++; break; }
            if (c == '<' || c == '\0')
                return err_set_at(x->err, LM_ERR_FORMAT, off(x), "XML: '%s' in an attribute value",
                                  c ? "<" : "NUL");
            if (c == '&') {
                LM_TRY(entity(x, &n));
                continue;
            }
            LM_TRY(grow(x, n + 1));
            x->scratch[n++] = c;
            x->p++;
        }
        LM_TRY(grow(x, n + 1));
        x->scratch[n++] = '\0';
        n_attrs++;
    }
    /* pointers only now: scratch may have moved while growing */
    irxml_attr attrs[LM_IR_MAX_XML_ATTRS];
    for (int i = 0; i < n_attrs; i++) {
        attrs[i].name = x->scratch + offs[2 * i];
        attrs[i].value = x->scratch + offs[2 * i + 1];
        for (int j = 0; j < i; j++)
            if (strcmp(attrs[j].name, attrs[i].name) == 0)
                return err_set_at(x->err, LM_ERR_FORMAT, at, "XML: duplicate attribute '%s'",
                                  attrs[i].name);
    }
    const char *ename = x->scratch; /* the element name is first in scratch */
    if (x->h && x->h->start)
        LM_TRY(x->h->start(x->ctx, x->depth, ename, attrs, n_attrs, at, x->err));
    if (self_close) {
        if (x->h && x->h->end) LM_TRY(x->h->end(x->ctx, x->depth, x->scratch, x->err));
        if (x->depth == 0) x->root_done = 1;
        return LM_OK;
    }
    x->stack[x->depth].name = name;
    x->stack[x->depth].len = name_len;
    x->depth++;
    return LM_OK;
}

/* </name> at x->p. */
static lm_status end_tag(xp *x) {
    int64_t at = off(x);
    x->p += 2;
    const char *name = x->p;
    size_t n = 0;
    LM_TRY(read_name(x, &n, "an element name"));
    size_t len = (size_t)(x->p - name);
    skip_space(x);
    if (x->p >= x->end || *x->p != '>')
        return err_set_at(x->err, LM_ERR_FORMAT, at, "XML: malformed end tag");
    x->p++;
    if (x->depth == 0)
        return err_set_at(x->err, LM_ERR_FORMAT, at, "XML: end tag </%.*s> without a start tag",
                          (int)(len > 64 ? 64 : len), name);
    if (x->stack[x->depth - 1].len != len || memcmp(x->stack[x->depth - 1].name, name, len) != 0)
        return err_set_at(x->err, LM_ERR_FORMAT, at, "XML: end tag </%.*s> does not close <%.*s>",
                          (int)(len > 64 ? 64 : len), name,
                          (int)(x->stack[x->depth - 1].len > 64 ? 64 : x->stack[x->depth - 1].len),
                          x->stack[x->depth - 1].name);
    x->depth--;
    if (x->h && x->h->end) LM_TRY(x->h->end(x->ctx, x->depth, x->scratch, x->err));
    if (x->depth == 0) x->root_done = 1;
    return LM_OK;
}

static lm_status parse(xp *x) {
    if (starts(x, "\xEF\xBB\xBF")) x->p += 3;
    while (x->p < x->end) {
        char c = *x->p;
        if (c == '<') {
            if (starts(x, "<?")) LM_TRY(skip_past(x, "?>", "processing instruction"));
            else if (starts(x, "<!--")) LM_TRY(skip_past(x, "-->", "comment"));
            else if (starts(x, "<![CDATA[")) {
                if (x->depth == 0)
                    return err_set_at(x->err, LM_ERR_FORMAT, off(x), "XML: CDATA outside the root element");
                LM_TRY(skip_past(x, "]]>", "CDATA section"));
            } else if (starts(x, "<!"))
                return err_set_at(x->err, LM_ERR_FORMAT, off(x), "XML: DOCTYPE and declarations are "
                                  "not accepted in an IR file");
            else if (starts(x, "</")) LM_TRY(end_tag(x));
            else LM_TRY(start_tag(x));
            continue;
        }
        if (c == '\0') return err_set_at(x->err, LM_ERR_FORMAT, off(x), "XML: NUL byte in the text");
        if (x->depth == 0 && !is_space(c))
            return err_set_at(x->err, LM_ERR_FORMAT, off(x), "XML: text outside the root element");
        x->p++;
    }
    if (x->depth > 0)
        return err_set_at(x->err, LM_ERR_FORMAT, off(x), "XML: file ends with <%.*s> still open "
                          "(truncated?)", (int)(x->stack[x->depth - 1].len > 64 ? 64 : x->stack[x->depth - 1].len),
                          x->stack[x->depth - 1].name);
    if (!x->root_done) return err_set_at(x->err, LM_ERR_FORMAT, off(x), "XML: no root element");
    return LM_OK;
}

lm_status irxml_parse(const char *text, size_t len, const irxml_handler *h, void *ctx, lm_error *err) {
    if (len > LM_IR_MAX_XML_BYTES)
        return err_set(err, LM_ERR_LIMIT, "XML: %zu bytes is over the limit of %u", len,
                       (unsigned)LM_IR_MAX_XML_BYTES);
    xp x;
    memset(&x, 0, sizeof x);
    x.p = x.base = text;
    x.end = text + len;
    x.h = h;
    x.ctx = ctx;
    x.err = err;
    lm_status s = parse(&x);
    free(x.scratch);
    return s;
}

const char *irxml_attr_get(const irxml_attr *attrs, int n_attrs, const char *name) {
    for (int i = 0; i < n_attrs; i++)
        if (strcmp(attrs[i].name, name) == 0) return attrs[i].value;
    return NULL;
}
