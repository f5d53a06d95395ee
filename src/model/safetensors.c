/* safetensors.c — safetensors reader: jansson parses the header, one validating pass builds the
 * tensor table, then the JSON tree is dropped; model folders combine shards into one lookup.
 *
 * The format and the rules are in safetensors.h. Offsets are checked in a form that cannot
 * overflow (against what remains, with checked multiplication for shapes). Overlaps and holes are
 * found by sorting tensors by data_offsets, the way HF's reader does; name lookup uses a second,
 * name-sorted array (O(n log n) whatever the names; a hash table could be driven quadratic). */
#include "model/safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/mapfile.h"

#define HEADER_LEN_BYTES 8u    /* the u64 N before the JSON */
#define META_KEY "__metadata__"
#define SHOW_MAX 80            /* names in messages are cut to this many bytes */
#define SINGLE_FILE "model.safetensors"
#define INDEX_FILE "model.safetensors.index.json"

struct st_file {
    lm_mapfile map;              /* owned mapping (st_open); zeroed for st_parse */
    const unsigned char *base;   /* the parsed bytes */
    size_t size;
    uint64_t data_offset;        /* 8 + N */
    st_tensor *tensors;          /* n_tensors, data order */
    size_t n_tensors;
    const st_tensor **by_name;   /* n_tensors, strcmp order */
    st_meta *meta;               /* n_meta, header order */
    size_t n_meta;
    char *strings;               /* names, keys and values, NUL-terminated, back to back */
};

/* ---------------------------------------------------------------------------------------------
 * Dtypes
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    unsigned bits;
    ggml_type ggml;
} dtype_info;

/* Element widths from HF's Dtype::bitsize (safetensors/src/tensor.rs). */
static const dtype_info dtypes[ST_DTYPE_COUNT] = {
    [ST_DTYPE_BOOL] = {"BOOL", 8, GGML_TYPE_COUNT},
    [ST_DTYPE_U8] = {"U8", 8, GGML_TYPE_COUNT},
    [ST_DTYPE_I8] = {"I8", 8, GGML_TYPE_I8},
    [ST_DTYPE_U16] = {"U16", 16, GGML_TYPE_COUNT},
    [ST_DTYPE_I16] = {"I16", 16, GGML_TYPE_I16},
    [ST_DTYPE_F16] = {"F16", 16, GGML_TYPE_F16},
    [ST_DTYPE_BF16] = {"BF16", 16, GGML_TYPE_BF16},
    [ST_DTYPE_U32] = {"U32", 32, GGML_TYPE_COUNT},
    [ST_DTYPE_I32] = {"I32", 32, GGML_TYPE_I32},
    [ST_DTYPE_F32] = {"F32", 32, GGML_TYPE_F32},
    [ST_DTYPE_U64] = {"U64", 64, GGML_TYPE_COUNT},
    [ST_DTYPE_I64] = {"I64", 64, GGML_TYPE_I64},
    [ST_DTYPE_F64] = {"F64", 64, GGML_TYPE_F64},
    [ST_DTYPE_C64] = {"C64", 64, GGML_TYPE_COUNT},
    [ST_DTYPE_F8_E5M2] = {"F8_E5M2", 8, GGML_TYPE_COUNT},
    [ST_DTYPE_F8_E4M3] = {"F8_E4M3", 8, GGML_TYPE_COUNT},
    [ST_DTYPE_F8_E8M0] = {"F8_E8M0", 8, GGML_TYPE_COUNT},
    [ST_DTYPE_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8, GGML_TYPE_COUNT},
    [ST_DTYPE_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8, GGML_TYPE_COUNT},
    [ST_DTYPE_F4] = {"F4", 4, GGML_TYPE_COUNT},
    [ST_DTYPE_F6_E2M3] = {"F6_E2M3", 6, GGML_TYPE_COUNT},
    [ST_DTYPE_F6_E3M2] = {"F6_E3M2", 6, GGML_TYPE_COUNT},
};

const char *st_dtype_name(st_dtype d) {
    return (unsigned)d < ST_DTYPE_COUNT ? dtypes[d].name : NULL;
}

unsigned st_dtype_bits(st_dtype d) { return (unsigned)d < ST_DTYPE_COUNT ? dtypes[d].bits : 0; }

ggml_type st_dtype_ggml(st_dtype d) {
    return (unsigned)d < ST_DTYPE_COUNT ? dtypes[d].ggml : GGML_TYPE_COUNT;
}

/* Looks up a dtype by its exact (case-sensitive, as HF) name; ST_DTYPE_COUNT when unknown. */
static st_dtype dtype_by_name(const char *s) {
    for (int d = 0; d < ST_DTYPE_COUNT; d++)
        if (strcmp(dtypes[d].name, s) == 0) return (st_dtype)d;
    return ST_DTYPE_COUNT;
}

/* ---------------------------------------------------------------------------------------------
 * Messages
 * ------------------------------------------------------------------------------------------- */

/* Copies `s` for a message: bytes outside printable ASCII become '?' (messages end up in JSON
 * error bodies and terminals), long strings are cut with "...". */
static const char *show(const char *s, char *buf, size_t cap) {
    size_t n = 0;
    for (; s[n] && n < cap - 4; n++) {
        unsigned char ch = (unsigned char)s[n];
        buf[n] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (s[n]) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

/* Short rendering of a JSON value for a message ("-3", "1.5", "\"x\"", "an array"). */
static const char *show_value(const json_t *v, char *buf, size_t cap) {
    char tmp[SHOW_MAX + 4];
    if (json_is_integer(v))
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, cap, "%g", json_real_value(v));
    else if (json_is_string(v))
        snprintf(buf, cap, "\"%s\"", show(json_string_value(v), tmp, sizeof tmp));
    else
        snprintf(buf, cap, "%s", json_kind(v));
    return buf;
}

/* File offset of a tensor's entry in the header: where `"name"` appears as a key. Only used to
 * place an error, so a name the writer escaped (and therefore not found verbatim) falls back to
 * the header's start. */
static int64_t entry_offset(const unsigned char *hdr, size_t n, const char *name) {
    size_t len = strlen(name);
    const unsigned char *p = hdr, *end = hdr + n;
    while (len + 2 <= (size_t)(end - p)) {
        const unsigned char *q = memchr(p, '"', (size_t)(end - p) - len - 1);
        if (!q) break;
        if (memcmp(q + 1, name, len) == 0 && q[len + 1] == '"') {
            const unsigned char *c = q + len + 2;
            while (c < end && (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r')) c++;
            if (c < end && *c == ':') return (int64_t)(HEADER_LEN_BYTES + (size_t)(q - hdr));
        }
        p = q + 1;
    }
    return HEADER_LEN_BYTES;
}

/* Where a message about entry `name` points. A macro so that the O(header) search runs only when
 * an error is reported, never once per tensor (which would be quadratic). */
#define ENTRY_AT(name) entry_offset(p->hdr, p->hdr_len, (name))

/* ---------------------------------------------------------------------------------------------
 * Parsing one tensor entry
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    st_file *f;
    const unsigned char *hdr;   /* header bytes */
    size_t hdr_len;
    uint64_t data_size;         /* bytes of the data buffer */
    lm_error *err;
} parser;

/* A JSON integer in [0, INT64_MAX]; fails with a message naming `what` otherwise. */
static lm_status get_count(parser *p, const char *name, const char *what, const json_t *v,
                           uint64_t *out) {
    char nb[SHOW_MAX + 4], vb[SHOW_MAX + 8];
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return err_set_at(p->err, LM_ERR_FORMAT, ENTRY_AT(name),
                          "tensor '%s': %s is %s, expected a non-negative integer",
                          show(name, nb, sizeof nb), what, show_value(v, vb, sizeof vb));
    *out = (uint64_t)json_integer_value(v);
    return LM_OK;
}

/* Renders a parsed shape "[2, 3]" for messages. */
static const char *show_shape(const st_tensor *t, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (uint32_t d = 0; d < t->n_dims && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRIu64, d ? ", " : "", t->shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

static lm_status parse_dtype(parser *p, const char *name, const json_t *v, st_tensor *t) {
    char nb[SHOW_MAX + 4], vb[SHOW_MAX + 8];
    if (!v)
        return err_set_at(p->err, LM_ERR_FORMAT, ENTRY_AT(name), "tensor '%s': no \"dtype\"",
                          show(name, nb, sizeof nb));
    if (!json_is_string(v))
        return err_set_at(p->err, LM_ERR_FORMAT, ENTRY_AT(name),
                          "tensor '%s': dtype is %s, expected a string",
                          show(name, nb, sizeof nb), show_value(v, vb, sizeof vb));
    t->dtype = dtype_by_name(json_string_value(v));
    if (t->dtype == ST_DTYPE_COUNT)
        return err_set_at(p->err, LM_ERR_UNSUPPORTED, ENTRY_AT(name),
                          "tensor '%s': unknown dtype %s (known: BOOL, U8, I8, U16, I16, F16, "
                          "BF16, U32, I32, F32, U64, I64, F64, C64, F8_E5M2, F8_E4M3, F8_E8M0, "
                          "F8_E4M3FNUZ, F8_E5M2FNUZ, F4, F6_E2M3, F6_E3M2)",
                          show(name, nb, sizeof nb), show_value(v, vb, sizeof vb));
    t->type = dtypes[t->dtype].ggml;
    return LM_OK;
}

/* Shape, element count and byte size; every product is checked before it is formed. */
static lm_status parse_shape(parser *p, const char *name, const json_t *v, st_tensor *t,
                             uint64_t *nbytes) {
    char nb[SHOW_MAX + 4], vb[SHOW_MAX + 8], sb[256];
    if (!v)
        return err_set_at(p->err, LM_ERR_FORMAT, ENTRY_AT(name), "tensor '%s': no \"shape\"",
                          show(name, nb, sizeof nb));
    if (!json_is_array(v))
        return err_set_at(p->err, LM_ERR_FORMAT, ENTRY_AT(name),
                          "tensor '%s': shape is %s, expected an array",
                          show(name, nb, sizeof nb), show_value(v, vb, sizeof vb));
    size_t rank = json_array_size(v);
    if (rank > LM_ST_MAX_DIMS)
        return err_set_at(p->err, LM_ERR_LIMIT, ENTRY_AT(name),
                          "tensor '%s': shape has %zu dimensions, at most %d supported "
                          "(LM_ST_MAX_DIMS)",
                          show(name, nb, sizeof nb), rank, LM_ST_MAX_DIMS);
    t->n_dims = (uint32_t)rank;
    for (int d = 0; d < LM_ST_MAX_DIMS; d++) t->shape[d] = 1;
    uint64_t n = 1;
    int overflow = 0;
    for (size_t d = 0; d < rank; d++) {
        char what[32];
        snprintf(what, sizeof what, "shape[%zu]", d);
        LM_TRY(get_count(p, name, what, json_array_get(v, d), &t->shape[d]));
        /* Like HF, a running product that overflows is an error even if a later dim is 0. */
        if (t->shape[d] != 0 && n > UINT64_MAX / t->shape[d]) overflow = 1;
        n *= t->shape[d];
    }
    unsigned bits = dtypes[t->dtype].bits;
    if (overflow || n > UINT64_MAX / bits)
        return err_set_at(p->err, LM_ERR_FORMAT, ENTRY_AT(name),
                          "tensor '%s': shape %s of %s overflows 64 bits of size",
                          show(name, nb, sizeof nb), show_shape(t, sb, sizeof sb),
                          dtypes[t->dtype].name);
    if (n * bits % 8 != 0)
        return err_set_at(p->err, LM_ERR_FORMAT, ENTRY_AT(name),
                          "tensor '%s': shape %s of %s (%u bits each) is not a whole number of "
                          "bytes",
                          show(name, nb, sizeof nb), show_shape(t, sb, sizeof sb),
                          dtypes[t->dtype].name, bits);
    t->n_elems = n;
    *nbytes = n * bits / 8;
    return LM_OK;
}

static lm_status parse_offsets(parser *p, const char *name, const json_t *v, st_tensor *t,
                               uint64_t want) {
    char nb[SHOW_MAX + 4], vb[SHOW_MAX + 8], sb[256];
    if (!v)
        return err_set_at(p->err, LM_ERR_FORMAT, ENTRY_AT(name), "tensor '%s': no \"data_offsets\"",
                          show(name, nb, sizeof nb));
    if (!json_is_array(v) || json_array_size(v) != 2)
        return err_set_at(p->err, LM_ERR_FORMAT, ENTRY_AT(name),
                          "tensor '%s': data_offsets is %s, expected [begin, end]",
                          show(name, nb, sizeof nb),
                          json_is_array(v) ? "an array of other than 2 values"
                                           : show_value(v, vb, sizeof vb));
    uint64_t begin, end;
    LM_TRY(get_count(p, name, "data_offsets[0]", json_array_get(v, 0), &begin));
    LM_TRY(get_count(p, name, "data_offsets[1]", json_array_get(v, 1), &end));
    if (begin > end)
        return err_set_at(p->err, LM_ERR_FORMAT, ENTRY_AT(name),
                          "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] end before they "
                          "begin",
                          show(name, nb, sizeof nb), begin, end);
    if (end > p->data_size)
        return err_set_at(p->err, LM_ERR_FORMAT, ENTRY_AT(name),
                          "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] past the end of "
                          "the %" PRIu64 "-byte data buffer",
                          show(name, nb, sizeof nb), begin, end, p->data_size);
    if (end - begin != want)
        return err_set_at(p->err, LM_ERR_FORMAT, ENTRY_AT(name),
                          "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                          " bytes but shape %s of %s needs %" PRIu64,
                          show(name, nb, sizeof nb), begin, end, end - begin,
                          show_shape(t, sb, sizeof sb), dtypes[t->dtype].name, want);
    t->offset = begin;
    t->nbytes = want;
    t->data = p->f->base + p->f->data_offset + begin;
    return LM_OK;
}

static lm_status parse_tensor(parser *p, const char *name, const json_t *entry, st_tensor *t) {
    char nb[SHOW_MAX + 4], vb[SHOW_MAX + 8];
    if (!json_is_object(entry))
        return err_set_at(p->err, LM_ERR_FORMAT, ENTRY_AT(name),
                          "tensor '%s': entry is %s, expected an object",
                          show(name, nb, sizeof nb), show_value(entry, vb, sizeof vb));
    uint64_t nbytes = 0;
    LM_TRY(parse_dtype(p, name, json_object_get(entry, "dtype"), t));
    LM_TRY(parse_shape(p, name, json_object_get(entry, "shape"), t, &nbytes));
    return parse_offsets(p, name, json_object_get(entry, "data_offsets"), t, nbytes);
}

/* ---------------------------------------------------------------------------------------------
 * Parsing the header
 * ------------------------------------------------------------------------------------------- */

/* Appends `s` with its NUL to the string block; returns the copy. The block was sized by a first
 * pass, so this cannot run out. */
static const char *keep(char **cursor, const char *s) {
    size_t n = strlen(s) + 1;
    char *dst = *cursor;
    memcpy(dst, s, n);
    *cursor += n;
    return dst;
}

static lm_status parse_metadata(parser *p, const json_t *meta, char **strings) {
    if (json_is_null(meta)) return LM_OK; /* HF reads a null as "no metadata" */
    char vb[SHOW_MAX + 8], kb[SHOW_MAX + 4];
    if (!json_is_object(meta))
        return err_set_at(p->err, LM_ERR_FORMAT, ENTRY_AT(META_KEY),
                          META_KEY " is %s, expected an object",
                          show_value(meta, vb, sizeof vb));
    p->f->meta = calloc(json_object_size(meta) ? json_object_size(meta) : 1, sizeof(st_meta));
    if (!p->f->meta) return err_set(p->err, LM_ERR_NOMEM, "out of memory for safetensors metadata");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)meta, key, v) {
        if (!json_is_string(v))
            return err_set_at(p->err, LM_ERR_FORMAT, ENTRY_AT(META_KEY),
                              META_KEY ": value of '%s' is %s, expected a string",
                              show(key, kb, sizeof kb), show_value(v, vb, sizeof vb));
        st_meta *m = &p->f->meta[p->f->n_meta++];
        m->key = keep(strings, key);
        m->value = keep(strings, json_string_value(v));
    }
    return LM_OK;
}

/* Bytes the string block needs: every tensor name, metadata key and string value with its NUL.
 * Sums at most the header's size plus one NUL per string, so it cannot overflow. */
static size_t strings_size(const json_t *root) {
    size_t total = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v) {
        if (strcmp(key, META_KEY) != 0) {
            total += strlen(key) + 1;
            continue;
        }
        if (!json_is_object(v)) continue;
        const char *mk;
        json_t *mv;
        json_object_foreach(v, mk, mv) {
            total += strlen(mk) + 1;
            if (json_is_string(mv)) total += strlen(json_string_value(mv)) + 1;
        }
    }
    return total;
}

static int cmp_by_offsets(const void *a, const void *b) {
    const st_tensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_by_name(const void *a, const void *b) {
    const st_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Sorted by data_offsets, the tensors must tile [0, data_size) exactly (HF's rule). */
static lm_status check_tiling(parser *p) {
    st_file *f = p->f;
    char nb[SHOW_MAX + 4], pb[SHOW_MAX + 4];
    uint64_t expect = 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        int64_t at = (int64_t)(f->data_offset + t->offset);
        if (t->offset < expect) {
            const st_tensor *prev = &f->tensors[i - 1]; /* expect > 0 only after a tensor */
            return err_set_at(p->err, LM_ERR_FORMAT, at,
                              "tensors '%s' [%" PRIu64 ", %" PRIu64 ") and '%s' [%" PRIu64
                              ", %" PRIu64 ") overlap",
                              show(prev->name, pb, sizeof pb), prev->offset,
                              prev->offset + prev->nbytes, show(t->name, nb, sizeof nb),
                              t->offset, t->offset + t->nbytes);
        }
        if (t->offset > expect)
            return err_set_at(p->err, LM_ERR_FORMAT, (int64_t)(f->data_offset + expect),
                              "data bytes [%" PRIu64 ", %" PRIu64 ") before tensor '%s' belong "
                              "to no tensor (a hole; safetensors files have none)",
                              expect, t->offset, show(t->name, nb, sizeof nb));
        expect = t->offset + t->nbytes;
    }
    if (expect != p->data_size)
        return err_set_at(p->err, LM_ERR_FORMAT, (int64_t)(f->data_offset + expect),
                          "%" PRIu64 " bytes after the last tensor's data belong to no tensor "
                          "(data buffer is %" PRIu64 " bytes, tensors end at %" PRIu64 ")",
                          p->data_size - expect, p->data_size, expect);
    return LM_OK;
}

static lm_status parse_header(parser *p, const json_t *root) {
    st_file *f = p->f;
    char vb[SHOW_MAX + 8];
    if (!json_is_object(root))
        return err_set_at(p->err, LM_ERR_FORMAT, HEADER_LEN_BYTES,
                          "header is %s, expected a JSON object", show_value(root, vb, sizeof vb));
    const json_t *meta = json_object_get(root, META_KEY);
    size_t n = json_object_size(root) - (meta ? 1 : 0);
    if (n > LM_ST_MAX_TENSORS)
        return err_set_at(p->err, LM_ERR_LIMIT, HEADER_LEN_BYTES,
                          "header lists %zu tensors, at most %u supported (LM_ST_MAX_TENSORS)", n,
                          (unsigned)LM_ST_MAX_TENSORS);
    f->strings = malloc(strings_size(root) + 1);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    f->by_name = calloc(n ? n : 1, sizeof *f->by_name);
    if (!f->strings || !f->tensors || !f->by_name)
        return err_set(p->err, LM_ERR_NOMEM, "out of memory for %zu safetensors tensors", n);
    char *cursor = f->strings;
    if (meta) LM_TRY(parse_metadata(p, meta, &cursor));

    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v) {
        if (strcmp(key, META_KEY) == 0) continue;
        st_tensor *t = &f->tensors[f->n_tensors];
        t->name = keep(&cursor, key);
        LM_TRY(parse_tensor(p, t->name, v, t));
        f->n_tensors++;
    }

    qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_by_offsets);
    LM_TRY(check_tiling(p));
    for (size_t i = 0; i < f->n_tensors; i++) f->by_name[i] = &f->tensors[i];
    qsort(f->by_name, f->n_tensors, sizeof *f->by_name, cmp_by_name);
    /* jansson refused duplicate keys already; this guards the lookup's invariant. */
    for (size_t i = 1; i < f->n_tensors; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0)
            return err_set(p->err, LM_ERR_INTERNAL, "duplicate tensor name after parsing");
    return LM_OK;
}

lm_status st_parse(const void *data, size_t size, st_file **out, lm_error *err) {
    if (!out) return err_set(err, LM_ERR_INVALID, "st_parse: out is NULL");
    *out = NULL;
    if (!data && size > 0) return err_set(err, LM_ERR_INVALID, "st_parse: data is NULL");
    if (size < HEADER_LEN_BYTES)
        return err_set_at(err, LM_ERR_FORMAT, 0,
                          "not a safetensors file: %zu bytes is too small for the 8-byte header "
                          "length",
                          size);
    const unsigned char *base = data;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | base[i];
    if (n > LM_ST_MAX_HEADER)
        return err_set_at(err, LM_ERR_LIMIT, 0,
                          "header length %" PRIu64 " is over the %u-byte limit "
                          "(LM_ST_MAX_HEADER)",
                          n, (unsigned)LM_ST_MAX_HEADER);
    if (n > size - HEADER_LEN_BYTES)
        return err_set_at(err, LM_ERR_FORMAT, 0,
                          "header length %" PRIu64 " runs past the end of the file (%zu bytes "
                          "after the length)",
                          n, size - HEADER_LEN_BYTES);

    json_error_t jerr;
    json_t *root = json_loadb((const char *)base + HEADER_LEN_BYTES, (size_t)n,
                              JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        int64_t at = HEADER_LEN_BYTES + (jerr.position > 0 ? (int64_t)jerr.position : 0);
        return err_set_at(err, LM_ERR_FORMAT, at, "header is not valid JSON: %s", jerr.text);
    }
    st_file *f = calloc(1, sizeof *f);
    if (!f) {
        json_decref(root);
        return err_set(err, LM_ERR_NOMEM, "out of memory for a safetensors file");
    }
    f->base = base;
    f->size = size;
    f->data_offset = HEADER_LEN_BYTES + n;
    parser p = {f, base + HEADER_LEN_BYTES, (size_t)n, size - f->data_offset, err};
    lm_status s = parse_header(&p, root);
    json_decref(root);
    if (s != LM_OK) {
        st_close(f);
        return s;
    }
    *out = f;
    return LM_OK;
}

lm_status st_open(const char *path, st_file **out, lm_error *err) {
    if (!out) return err_set(err, LM_ERR_INVALID, "st_open: out is NULL");
    *out = NULL;
    lm_mapfile map;
    LM_TRY(mapfile_open(&map, path, err));
    /* Parse into a local error so the message can name the file. */
    lm_error e;
    err_clear(&e);
    st_file *f = NULL;
    lm_status s = st_parse(map.data, map.size, &f, &e);
    if (s != LM_OK) {
        mapfile_close(&map);
        if (err && err->code == LM_OK) {
            err_set(err, e.code, "%s: %s", path, e.msg);
            err->offset = e.offset;
        }
        return s;
    }
    f->map = map;
    *out = f;
    return LM_OK;
}

void st_close(st_file *f) {
    if (!f) return;
    free(f->tensors);
    free(f->by_name);
    free(f->meta);
    free(f->strings);
    mapfile_close(&f->map);
    free(f);
}

/* ---------------------------------------------------------------------------------------------
 * Accessors
 * ------------------------------------------------------------------------------------------- */

uint64_t st_data_offset(const st_file *f) { return f->data_offset; }
size_t st_tensor_count(const st_file *f) { return f->n_tensors; }
size_t st_meta_count(const st_file *f) { return f->n_meta; }

const st_tensor *st_tensor_at(const st_file *f, size_t i) {
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const st_meta *st_meta_at(const st_file *f, size_t i) {
    return i < f->n_meta ? &f->meta[i] : NULL;
}

const st_tensor *st_find_tensor(const st_file *f, const char *name) {
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* Metadata is small (a handful of keys), so a scan is fine. */
const char *st_meta_get(const st_file *f, const char *key) {
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Model folders
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    const st_tensor *t;
    size_t shard;
} model_entry;

struct st_model {
    size_t n_shards;
    char **shard_names;        /* n_shards, strcmp order */
    st_file **shards;          /* n_shards, parallel to shard_names */
    model_entry *entries;      /* n_entries, by tensor name */
    size_t n_entries;
};

/* Joins dir and name into buf; LM_ERR_LIMIT when the path does not fit PATH_MAX. */
static lm_status join_path(char *buf, size_t cap, const char *dir, const char *name,
                           lm_error *err) {
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    char db[SHOW_MAX + 4], nb[SHOW_MAX + 4];
    if (n < 0 || (size_t)n >= cap)
        return err_set(err, LM_ERR_LIMIT, "path of '%s' in folder '%s' is longer than %zu bytes",
                       show(name, nb, sizeof nb), show(dir, db, sizeof db), cap - 1);
    return LM_OK;
}

/* 1 when `path` exists (as anything); 0 when absent. Other stat failures count as present, so
 * that opening it reports the real error. */
static int path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 || errno != ENOENT;
}

/* A shard name must stay inside the folder. */
static lm_status check_shard_name(const char *index_path, const char *tensor, const char *shard,
                                  lm_error *err) {
    char tb[SHOW_MAX + 4], sb[SHOW_MAX + 4];
    if (shard[0] == '\0' || strchr(shard, '/') || strchr(shard, '\\') || strstr(shard, ".."))
        return err_set(err, LM_ERR_FORMAT,
                       "%s: weight_map puts tensor '%s' in '%s': a shard must be a plain file "
                       "name in the same folder (no '/', '\\' or '..')",
                       index_path, show(tensor, tb, sizeof tb), show(shard, sb, sizeof sb));
    return LM_OK;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_entry(const void *a, const void *b) {
    const model_entry *x = a, *y = b;
    int c = strcmp(x->t->name, y->t->name);
    if (c) return c;
    return x->shard < y->shard ? -1 : x->shard > y->shard;
}

static const model_entry *find_entry(const st_model *m, const char *name) {
    size_t lo = 0, hi = m->n_entries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->entries[mid].t->name, name);
        if (c == 0) return &m->entries[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* Index of shard `name`; SIZE_MAX when absent. */
static size_t shard_index(const st_model *m, const char *name) {
    size_t lo = 0, hi = m->n_shards;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->shard_names[mid], name);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return SIZE_MAX;
}

/* Reads the index's weight_map and records the distinct shard names (sorted, unique). */
static lm_status read_index(st_model *m, const char *index_path, json_t **root_out,
                            lm_error *err) {
    lm_mapfile map;
    LM_TRY(mapfile_open(&map, index_path, err));
    if (map.size > LM_ST_MAX_INDEX) {
        size_t sz = map.size;
        mapfile_close(&map);
        return err_set(err, LM_ERR_LIMIT,
                       "%s: %zu bytes is over the %u-byte limit (LM_ST_MAX_INDEX)",
                       index_path, sz, (unsigned)LM_ST_MAX_INDEX);
    }
    json_error_t jerr;
    json_t *root = json_loadb((const char *)map.data, map.size, JSON_REJECT_DUPLICATES, &jerr);
    mapfile_close(&map);
    if (!root)
        return err_set_at(err, LM_ERR_FORMAT, jerr.position > 0 ? jerr.position : 0,
                          "%s: not valid JSON: %s (line %d, column %d)", index_path, jerr.text,
                          jerr.line, jerr.column);
    *root_out = root;
    json_t *wm = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(wm))
        return err_set(err, LM_ERR_FORMAT, "%s: no \"weight_map\" object", index_path);
    size_t n = json_object_size(wm);
    if (n == 0) return err_set(err, LM_ERR_FORMAT, "%s: weight_map is empty", index_path);
    if (n > LM_ST_MAX_TENSORS)
        return err_set(err, LM_ERR_LIMIT,
                       "%s: weight_map lists %zu tensors, at most %u supported "
                       "(LM_ST_MAX_TENSORS)",
                       index_path, n, (unsigned)LM_ST_MAX_TENSORS);
    /* Borrowed pointers into the JSON tree, then sorted and deduplicated into owned copies. */
    const char **names = malloc(n * sizeof *names);
    if (!names) return err_set(err, LM_ERR_NOMEM, "out of memory for %zu shard names", n);
    size_t k = 0;
    const char *key;
    json_t *v;
    char tb[SHOW_MAX + 4], vb[SHOW_MAX + 8];
    json_object_foreach(wm, key, v) {
        lm_status s = LM_OK;
        if (!json_is_string(v))
            s = err_set(err, LM_ERR_FORMAT, "%s: weight_map entry '%s' is %s, expected a file name",
                        index_path, show(key, tb, sizeof tb), show_value(v, vb, sizeof vb));
        else
            s = check_shard_name(index_path, key, json_string_value(v), err);
        if (s != LM_OK) {
            free(names);
            return s;
        }
        names[k++] = json_string_value(v);
    }
    qsort(names, k, sizeof *names, cmp_str_ptr);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || strcmp(names[u - 1], names[i]) != 0) names[u++] = names[i];
    if (u > LM_ST_MAX_SHARDS) {
        free(names);
        return err_set(err, LM_ERR_LIMIT,
                       "%s: weight_map names %zu shard files, at most %u supported "
                       "(LM_ST_MAX_SHARDS)",
                       index_path, u, (unsigned)LM_ST_MAX_SHARDS);
    }
    m->shard_names = calloc(u, sizeof *m->shard_names);
    m->shards = calloc(u, sizeof *m->shards);
    if (!m->shard_names || !m->shards) {
        free(names);
        return err_set(err, LM_ERR_NOMEM, "out of memory for %zu shards", u);
    }
    for (size_t i = 0; i < u; i++) {
        m->shard_names[i] = strdup(names[i]);
        if (!m->shard_names[i]) {
            free(names);
            return err_set(err, LM_ERR_NOMEM, "out of memory for shard names");
        }
        m->n_shards++;
    }
    free(names);
    return LM_OK;
}

/* Opens every shard and builds the name-sorted table over all of them. */
static lm_status open_shards(st_model *m, const char *dir, lm_error *err) {
    char path[PATH_MAX];
    size_t total = 0;
    for (size_t i = 0; i < m->n_shards; i++) {
        LM_TRY(join_path(path, sizeof path, dir, m->shard_names[i], err));
        LM_TRY(st_open(path, &m->shards[i], err));
        total += st_tensor_count(m->shards[i]);
        if (total > LM_ST_MAX_TENSORS)
            return err_set(err, LM_ERR_LIMIT,
                           "%s: shards hold more than %u tensors (LM_ST_MAX_TENSORS)", dir,
                           (unsigned)LM_ST_MAX_TENSORS);
    }
    m->entries = calloc(total ? total : 1, sizeof *m->entries);
    if (!m->entries) return err_set(err, LM_ERR_NOMEM, "out of memory for %zu tensors", total);
    for (size_t i = 0; i < m->n_shards; i++)
        for (size_t j = 0; j < st_tensor_count(m->shards[i]); j++)
            m->entries[m->n_entries++] = (model_entry){st_tensor_at(m->shards[i], j), i};
    qsort(m->entries, m->n_entries, sizeof *m->entries, cmp_entry);
    char tb[SHOW_MAX + 4];
    for (size_t i = 1; i < m->n_entries; i++) {
        const model_entry *a = &m->entries[i - 1], *b = &m->entries[i];
        if (strcmp(a->t->name, b->t->name) == 0)
            return err_set(err, LM_ERR_FORMAT, "%s: tensor '%s' is in both '%s' and '%s'", dir,
                           show(a->t->name, tb, sizeof tb), m->shard_names[a->shard],
                           m->shard_names[b->shard]);
    }
    return LM_OK;
}

/* Every weight_map entry must name the shard that really holds the tensor. */
static lm_status check_weight_map(const st_model *m, const json_t *wm, const char *index_path,
                                  lm_error *err) {
    char tb[SHOW_MAX + 4], sb[SHOW_MAX + 4];
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)wm, key, v) {
        const char *shard = json_string_value(v);
        const model_entry *e = find_entry(m, key);
        if (!e)
            return err_set(err, LM_ERR_FORMAT,
                           "%s: weight_map puts tensor '%s' in '%s', which has no such tensor",
                           index_path, show(key, tb, sizeof tb), show(shard, sb, sizeof sb));
        if (e->shard != shard_index(m, shard))
            return err_set(err, LM_ERR_FORMAT,
                           "%s: weight_map puts tensor '%s' in '%s', but it is in '%s'",
                           index_path, show(key, tb, sizeof tb), show(shard, sb, sizeof sb),
                           m->shard_names[e->shard]);
    }
    return LM_OK;
}

lm_status st_model_open(const char *dir, st_model **out, lm_error *err) {
    if (!out) return err_set(err, LM_ERR_INVALID, "st_model_open: out is NULL");
    *out = NULL;
    st_model *m = calloc(1, sizeof *m);
    if (!m) return err_set(err, LM_ERR_NOMEM, "out of memory for a safetensors model");
    char single[PATH_MAX], index[PATH_MAX];
    lm_status s = join_path(single, sizeof single, dir, SINGLE_FILE, err);
    if (s == LM_OK) s = join_path(index, sizeof index, dir, INDEX_FILE, err);
    json_t *root = NULL;
    if (s == LM_OK) {
        if (path_exists(single)) {
            m->shard_names = calloc(1, sizeof *m->shard_names);
            m->shards = calloc(1, sizeof *m->shards);
            if (m->shard_names && m->shards) m->shard_names[0] = strdup(SINGLE_FILE);
            if (!m->shard_names || !m->shards || !m->shard_names[0])
                s = err_set(err, LM_ERR_NOMEM, "out of memory for a safetensors model");
            else
                m->n_shards = 1;
            if (s == LM_OK) s = open_shards(m, dir, err);
        } else if (path_exists(index)) {
            s = read_index(m, index, &root, err);
            if (s == LM_OK) s = open_shards(m, dir, err);
            if (s == LM_OK)
                s = check_weight_map(m, json_object_get(root, "weight_map"), index, err);
        } else {
            s = err_set(err, LM_ERR_NOT_FOUND, "'%s' has neither " SINGLE_FILE " nor " INDEX_FILE,
                        dir);
        }
    }
    json_decref(root);
    if (s != LM_OK) {
        st_model_close(m);
        return s;
    }
    *out = m;
    return LM_OK;
}

void st_model_close(st_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_shards; i++) {
        if (m->shards) st_close(m->shards[i]);
        free(m->shard_names[i]);
    }
    free(m->shards);
    free(m->shard_names);
    free(m->entries);
    free(m);
}

size_t st_model_tensor_count(const st_model *m) { return m->n_entries; }
size_t st_model_shard_count(const st_model *m) { return m->n_shards; }

const st_tensor *st_model_tensor_at(const st_model *m, size_t i) {
    return i < m->n_entries ? m->entries[i].t : NULL;
}

const st_tensor *st_model_find(const st_model *m, const char *name) {
    const model_entry *e = find_entry(m, name);
    return e ? e->t : NULL;
}

const st_file *st_model_shard(const st_model *m, size_t i) {
    return i < m->n_shards ? m->shards[i] : NULL;
}

const char *st_model_shard_name(const st_model *m, size_t i) {
    return i < m->n_shards ? m->shard_names[i] : NULL;
}
