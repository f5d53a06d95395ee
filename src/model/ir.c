/* ir.c — OpenVINO IR weights without OpenVINO (see ir.h): the XML is read into a table of
 * layers and edges, validated (ids, ports, Const bounds, acyclic), then every weight consumer is
 * walked back through its decompression subgraph and the weight recovered into an engine layout. */
#include "model/ir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/limits.h"
#include "base/mapfile.h"
#include "compute/kernels.h"
#include "compute/quant.h"
#include "compute/threadpool.h"
#include "model/irxml.h"

/* ---- element types ------------------------------------------------------------------------- */

typedef enum {
    ET_UNKNOWN, ET_F32, ET_F16, ET_BF16, ET_F64, ET_I4, ET_U4, ET_I8, ET_U8, ET_I16, ET_U16,
    ET_I32, ET_U32, ET_I64, ET_U64, ET_U1, ET_U2, ET_U3, ET_U6, ET_BOOL, ET_NF4, ET_F4E2M1,
    ET_F8E4M3, ET_F8E5M2, ET_F8E8M0, ET_STRING,
} etype;

static const struct { const char *name; etype t; unsigned bits; } g_etypes[] = {
    {"f32", ET_F32, 32}, {"f16", ET_F16, 16}, {"bf16", ET_BF16, 16}, {"f64", ET_F64, 64},
    {"i4", ET_I4, 4}, {"u4", ET_U4, 4}, {"i8", ET_I8, 8}, {"u8", ET_U8, 8}, {"i16", ET_I16, 16},
    {"u16", ET_U16, 16}, {"i32", ET_I32, 32}, {"u32", ET_U32, 32}, {"i64", ET_I64, 64},
    {"u64", ET_U64, 64}, {"u1", ET_U1, 1}, {"u2", ET_U2, 2}, {"u3", ET_U3, 3}, {"u6", ET_U6, 6},
    {"boolean", ET_BOOL, 8}, {"nf4", ET_NF4, 4}, {"f4e2m1", ET_F4E2M1, 4}, {"f8e4m3", ET_F8E4M3, 8},
    {"f8e5m2", ET_F8E5M2, 8}, {"f8e8m0", ET_F8E8M0, 8}, {"string", ET_STRING, 0},
};

static etype etype_parse(const char *s, unsigned *bits) {
    for (size_t i = 0; i < sizeof g_etypes / sizeof g_etypes[0]; i++)
        if (strcmp(g_etypes[i].name, s) == 0) {
            *bits = g_etypes[i].bits;
            return g_etypes[i].t;
        }
    *bits = 0;
    return ET_UNKNOWN;
}

/* Types whose byte size is exactly ceil(elements * bits / 8) and that this reader reads. */
static int etype_checked(etype t) {
    return t == ET_F32 || t == ET_F16 || t == ET_BF16 || t == ET_I4 || t == ET_U4 || t == ET_I8 ||
           t == ET_U8 || t == ET_I32 || t == ET_I64;
}

/* ---- graph ----------------------------------------------------------------------------------- */

typedef struct {
    int64_t id;
    char *name, *type;
    int has_data;             /* <data> seen */
    /* Const */
    etype et;
    unsigned bits;
    char et_name[16];
    int rank;                 /* -1: no shape attribute */
    int64_t shape[LM_IR_MAX_DIMS];
    uint64_t elems;
    uint64_t offset, size;
    int has_offset;
    /* Convert */
    etype dest;
    /* MatMul */
    int transpose_b;
} layer;

typedef struct {
    int64_t from, to;         /* layer ids while reading, then indices into layers */
    int64_t from_port, to_port;
} edge;

struct ir_model {
    lm_mapfile xml_map, bin_map;
    const unsigned char *bin;
    size_t bin_len;
    int version;
    layer *layers;
    size_t n_layers, cap_layers;
    edge *edges;              /* sorted by (to, to_port) */
    size_t n_edges, cap_edges;
    int lora;                 /* rt_info nncf weight_compression lora_correction */
    char mode[32];            /* rt_info nncf weight_compression mode */
    ir_tensor *tensors;       /* sorted by name after loading */
    size_t n_tensors, cap_tensors;
    void **owned;
    size_t n_owned;
    pool *pool;               /* workers repacking int4 weights (made at the first one) */
    const float *inv_freq;
    int n_inv_freq;
};

/* ---- reading the XML ------------------------------------------------------------------------- */

typedef struct {
    ir_model *m;
    const char *path[LM_IR_MAX_XML_DEPTH];  /* element names along the open path (static strings) */
    int in_layer;                            /* a top-level <layer> is open */
} reader;

static lm_status parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s) return LM_ERR_FORMAT;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10) return LM_ERR_FORMAT;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return LM_OK;
}

static lm_status parse_i64(const char *s, int64_t *out) {
    int neg = s && *s == '-';
    uint64_t v;
    if (parse_u64(neg ? s + 1 : s, &v) != LM_OK || v > (uint64_t)INT64_MAX) return LM_ERR_FORMAT;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return LM_OK;
}

/* "4096, 16, 128" (spaces optional), "" for a scalar. */
static lm_status parse_shape(layer *l, const char *s, lm_error *err) {
    l->rank = 0;
    l->elems = 1;
    while (*s == ' ') s++;
    if (!*s) return LM_OK;
    for (;;) {
        while (*s == ' ') s++;
        char num[24];
        size_t n = 0;
        while (*s >= '0' && *s <= '9' && n < sizeof num - 1) num[n++] = *s++;
        num[n] = '\0';
        while (*s == ' ') s++;
        uint64_t v;
        if (n == 0 || (*s && *s != ',') || parse_u64(num, &v) != LM_OK)
            return err_set(err, LM_ERR_FORMAT, "layer '%s': malformed shape", l->name);
        if (l->rank >= LM_IR_MAX_DIMS)
            return err_set(err, LM_ERR_LIMIT, "layer '%s': more than %d dimensions", l->name,
                           LM_IR_MAX_DIMS);
        if (v > (uint64_t)LM_IR_MAX_DIM || __builtin_mul_overflow(l->elems, v, &l->elems) ||
            l->elems > ((uint64_t)1 << 50))
            return err_set(err, LM_ERR_FORMAT, "layer '%s': absurd shape (dimension %llu)", l->name,
                           (unsigned long long)v);
        l->shape[l->rank++] = (int64_t)v;
        if (!*s) return LM_OK;
        s++;
    }
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static lm_status on_layer(ir_model *m, const irxml_attr *a, int n, int64_t at, lm_error *err) {
    if (m->n_layers >= LM_IR_MAX_LAYERS)
        return err_set(err, LM_ERR_LIMIT, "more than %u layers", (unsigned)LM_IR_MAX_LAYERS);
    if (m->n_layers == m->cap_layers) {
        size_t cap = m->cap_layers ? 2 * m->cap_layers : 256;
        layer *g = realloc(m->layers, cap * sizeof *g);
        if (!g) return err_set(err, LM_ERR_NOMEM, "out of memory");
        m->layers = g;
        m->cap_layers = cap;
    }
    layer *l = &m->layers[m->n_layers];
    memset(l, 0, sizeof *l);
    l->rank = -1;
    const char *id = irxml_attr_get(a, n, "id"), *name = irxml_attr_get(a, n, "name");
    const char *type = irxml_attr_get(a, n, "type");
    if (!id || !type || parse_i64(id, &l->id) != LM_OK)
        return err_set_at(err, LM_ERR_FORMAT, at, "<layer> without a numeric id and a type");
    l->name = dup_str(name ? name : "");
    l->type = dup_str(type);
    m->n_layers++;                 /* owned from here: freed with the model */
    if (!l->name || !l->type) return err_set(err, LM_ERR_NOMEM, "out of memory");
    return LM_OK;
}

static lm_status on_data(layer *l, const irxml_attr *a, int n, lm_error *err) {
    l->has_data = 1;
    const char *et = irxml_attr_get(a, n, "element_type");
    if (et && strcmp(l->type, "Const") == 0) {
        l->et = etype_parse(et, &l->bits);
        snprintf(l->et_name, sizeof l->et_name, "%s", et);
        const char *shape = irxml_attr_get(a, n, "shape");
        const char *offset = irxml_attr_get(a, n, "offset"), *size = irxml_attr_get(a, n, "size");
        if (!shape || !offset || !size)
            return err_set(err, LM_ERR_FORMAT, "Const '%s' lacks shape, offset or size", l->name);
        LM_TRY(parse_shape(l, shape, err));
        if (parse_u64(offset, &l->offset) != LM_OK || parse_u64(size, &l->size) != LM_OK)
            return err_set(err, LM_ERR_FORMAT, "Const '%s': offset '%.32s' / size '%.32s' are not "
                           "byte counts", l->name, offset, size);
        l->has_offset = 1;
    }
    const char *dest = irxml_attr_get(a, n, "destination_type");
    if (dest) {
        unsigned bits;
        l->dest = etype_parse(dest, &bits);
    }
    const char *tb = irxml_attr_get(a, n, "transpose_b");
    if (tb) l->transpose_b = strcmp(tb, "true") == 0 || strcmp(tb, "1") == 0;
    return LM_OK;
}

static lm_status on_edge(ir_model *m, const irxml_attr *a, int n, int64_t at, lm_error *err) {
    if (m->n_edges >= LM_IR_MAX_EDGES)
        return err_set(err, LM_ERR_LIMIT, "more than %u edges", (unsigned)LM_IR_MAX_EDGES);
    if (m->n_edges == m->cap_edges) {
        size_t cap = m->cap_edges ? 2 * m->cap_edges : 256;
        edge *g = realloc(m->edges, cap * sizeof *g);
        if (!g) return err_set(err, LM_ERR_NOMEM, "out of memory");
        m->edges = g;
        m->cap_edges = cap;
    }
    edge *e = &m->edges[m->n_edges];
    if (parse_i64(irxml_attr_get(a, n, "from-layer"), &e->from) != LM_OK ||
        parse_i64(irxml_attr_get(a, n, "from-port"), &e->from_port) != LM_OK ||
        parse_i64(irxml_attr_get(a, n, "to-layer"), &e->to) != LM_OK ||
        parse_i64(irxml_attr_get(a, n, "to-port"), &e->to_port) != LM_OK)
        return err_set_at(err, LM_ERR_FORMAT, at, "<edge> needs numeric from-layer, from-port, "
                          "to-layer and to-port");
    m->n_edges++;
    return LM_OK;
}

static int path_is(const reader *r, int depth, const char *const *names) {
    for (int i = 0; i < depth; i++)
        if (!names[i] || !r->path[i] || strcmp(r->path[i], names[i]) != 0) return 0;
    return names[depth] == NULL;
}

static lm_status xml_start(void *ctx, int depth, const char *name, const irxml_attr *a, int n,
                           int64_t at, lm_error *err) {
    reader *r = ctx;
    ir_model *m = r->m;
    /* remember the path only for the elements this reader looks at (static strings) */
    static const char *const known[] = {"net", "layers", "layer", "data", "rt_info", "edges", "edge",
                                        "nncf", "weight_compression", "attribute", NULL};
    r->path[depth] = "";
    for (int i = 0; known[i]; i++)
        if (strcmp(known[i], name) == 0) r->path[depth] = known[i];
    if (depth == 0) {
        if (strcmp(name, "net") != 0)
            return err_set_at(err, LM_ERR_FORMAT, at, "root element is <%.32s>, expected <net>", name);
        const char *v = irxml_attr_get(a, n, "version");
        int64_t ver = 0;
        if (!v || parse_i64(v, &ver) != LM_OK || (ver != 10 && ver != 11))
            return err_set_at(err, LM_ERR_UNSUPPORTED, at, "IR version '%.16s' is not supported "
                              "(lmserve reads IR v10 and v11)", v ? v : "(none)");
        m->version = (int)ver;
        return LM_OK;
    }
    static const char *const p_layer[] = {"net", "layers", NULL};
    static const char *const p_data[] = {"net", "layers", "layer", NULL};
    static const char *const p_edge[] = {"net", "edges", NULL};
    static const char *const p_wc[] = {"net", "rt_info", "nncf", "weight_compression", NULL};
    if (depth == 2 && strcmp(name, "layer") == 0 && path_is(r, 2, p_layer)) {
        r->in_layer = 1;
        return on_layer(m, a, n, at, err);
    }
    if (depth == 3 && strcmp(name, "data") == 0 && r->in_layer && path_is(r, 3, p_data))
        return on_data(&m->layers[m->n_layers - 1], a, n, err);
    if (depth == 2 && strcmp(name, "edge") == 0 && path_is(r, 2, p_edge)) return on_edge(m, a, n, at, err);
    if (depth == 4 && path_is(r, 4, p_wc)) {
        const char *v = irxml_attr_get(a, n, "value");
        if (v && strcmp(name, "lora_correction") == 0) m->lora = strcmp(v, "True") == 0 || strcmp(v, "true") == 0;
        if (v && strcmp(name, "mode") == 0) snprintf(m->mode, sizeof m->mode, "%s", v);
    }
    return LM_OK;
}

static lm_status xml_end(void *ctx, int depth, const char *name, lm_error *err) {
    reader *r = ctx;
    if (depth == 2 && r->path[1] && strcmp(r->path[1], "layers") == 0) r->in_layer = 0;
    return LM_OK;
}

/* ---- validating the graph -------------------------------------------------------------------- */

static int cmp_layer_id(const void *a, const void *b) {
    const layer *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int64_t layer_index(const ir_model *m, int64_t id) {
    size_t lo = 0, hi = m->n_layers;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->layers[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < m->n_layers && m->layers[lo].id == id ? (int64_t)lo : -1;
}

static int cmp_edge_to(const void *a, const void *b) {
    const edge *x = a, *y = b;
    if (x->to != y->to) return (x->to > y->to) - (x->to < y->to);
    return (x->to_port > y->to_port) - (x->to_port < y->to_port);
}

/* Kahn's algorithm: every layer must be reachable in a topological order. */
static lm_status check_acyclic(const ir_model *m, lm_error *err) {
    size_t n = m->n_layers;
    uint32_t *indeg = calloc(n ? n : 1, sizeof *indeg);
    size_t *start = calloc(n + 1, sizeof *start);  /* out-edges by from-layer (counting sort) */
    uint32_t *out = malloc((m->n_edges ? m->n_edges : 1) * sizeof *out);
    uint32_t *queue = malloc((n ? n : 1) * sizeof *queue);
    lm_status s = LM_OK;
    if (!indeg || !start || !out || !queue) {
        s = err_set(err, LM_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < m->n_edges; i++) {
        start[m->edges[i].from + 1]++;
        indeg[m->edges[i].to]++;
    }
    for (size_t i = 0; i < n; i++) start[i + 1] += start[i];
    size_t *fill = calloc(n ? n : 1, sizeof *fill);
    if (!fill) {
        s = err_set(err, LM_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < m->n_edges; i++) {
        size_t f = (size_t)m->edges[i].from;
        out[start[f] + fill[f]++] = (uint32_t)m->edges[i].to;
    }
    free(fill);
    size_t qh = 0, qt = 0;
    for (size_t i = 0; i < n; i++)
        if (indeg[i] == 0) queue[qt++] = (uint32_t)i;
    while (qh < qt) {
        uint32_t v = queue[qh++];
        for (size_t k = start[v]; k < start[v + 1]; k++)
            if (--indeg[out[k]] == 0) queue[qt++] = out[k];
    }
    if (qt != n) {
        for (size_t i = 0; i < n; i++) {
            if (indeg[i]) {
                s = err_set(err, LM_ERR_FORMAT, "the graph has a cycle through layer %lld ('%.80s')",
                            (long long)m->layers[i].id, m->layers[i].name);
                break;
            }
        }
    }
done:
    free(indeg);
    free(start);
    free(out);
    free(queue);
    return s;
}

static lm_status validate(ir_model *m, lm_error *err) {
    if (m->version == 0) return err_set(err, LM_ERR_FORMAT, "no <net> element");
    if (m->n_layers) qsort(m->layers, m->n_layers, sizeof *m->layers, cmp_layer_id);
    for (size_t i = 1; i < m->n_layers; i++)
        if (m->layers[i].id == m->layers[i - 1].id)
            return err_set(err, LM_ERR_FORMAT, "two layers have id %lld", (long long)m->layers[i].id);
    for (size_t i = 0; i < m->n_layers; i++) {
        layer *l = &m->layers[i];
        if (strcmp(l->type, "Const") != 0) continue;
        if (!l->has_offset) return err_set(err, LM_ERR_FORMAT, "Const '%s' has no <data>", l->name);
        if (l->size > m->bin_len || l->offset > m->bin_len - l->size)
            return err_set(err, LM_ERR_FORMAT, "Const '%s': bytes [%llu, +%llu) lie past the end of "
                           "the .bin (%zu bytes)", l->name, (unsigned long long)l->offset,
                           (unsigned long long)l->size, m->bin_len);
        if (etype_checked(l->et)) {
            uint64_t bytes = (l->elems * l->bits + 7) / 8; /* elems <= 2^50: no overflow */
            if (bytes != l->size)
                return err_set(err, LM_ERR_FORMAT, "Const '%s': size %llu bytes does not match its "
                               "%llu elements of %s (%llu bytes)", l->name, (unsigned long long)l->size,
                               (unsigned long long)l->elems, l->et_name, (unsigned long long)bytes);
        }
    }
    for (size_t i = 0; i < m->n_edges; i++) {
        edge *e = &m->edges[i];
        int64_t f = layer_index(m, e->from), t = layer_index(m, e->to);
        if (f < 0 || t < 0)
            return err_set(err, LM_ERR_FORMAT, "edge %lld -> %lld names a layer that does not exist",
                           (long long)e->from, (long long)e->to);
        e->from = f;
        e->to = t;
    }
    if (m->n_edges) qsort(m->edges, m->n_edges, sizeof *m->edges, cmp_edge_to);
    for (size_t i = 1; i < m->n_edges; i++)
        if (m->edges[i].to == m->edges[i - 1].to && m->edges[i].to_port == m->edges[i - 1].to_port)
            return err_set(err, LM_ERR_FORMAT, "port %lld of layer '%.80s' has two inputs",
                           (long long)m->edges[i].to_port, m->layers[m->edges[i].to].name);
    return check_acyclic(m, err);
}

/* Index of the layer feeding input `port` of layer `li`, or -1. */
static int64_t input_of(const ir_model *m, int64_t li, int64_t port) {
    size_t lo = 0, hi = m->n_edges;
    edge key = {0, li, 0, port};
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cmp_edge_to(&m->edges[mid], &key) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < m->n_edges && m->edges[lo].to == li && m->edges[lo].to_port == port ? m->edges[lo].from : -1;
}

static int is(const layer *l, const char *type) { return strcmp(l->type, type) == 0; }

/* ---- owned buffers and the tensor table ------------------------------------------------------ */

static lm_status own(ir_model *m, size_t bytes, void **out, lm_error *err) {
    void **g = realloc(m->owned, (m->n_owned + 1) * sizeof *g);
    if (!g) return err_set(err, LM_ERR_NOMEM, "out of memory");
    m->owned = g;
    void *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!p) return err_set(err, LM_ERR_NOMEM, "out of memory (%zu bytes)", bytes);
    m->owned[m->n_owned++] = p;
    *out = p;
    return LM_OK;
}

static ir_tensor *find_mut(ir_model *m, const char *name) {
    for (size_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

static lm_status add_tensor(ir_model *m, const char *name, ggml_type type, int64_t cols, int64_t rows,
                            size_t row_bytes, const void *data, lm_error *err) {
    if (m->n_tensors == m->cap_tensors) {
        size_t cap = m->cap_tensors ? 2 * m->cap_tensors : 64;
        ir_tensor *g = realloc(m->tensors, cap * sizeof *g);
        if (!g) return err_set(err, LM_ERR_NOMEM, "out of memory");
        m->tensors = g;
        m->cap_tensors = cap;
    }
    char *n = dup_str(name);
    if (!n) return err_set(err, LM_ERR_NOMEM, "out of memory");
    m->tensors[m->n_tensors++] = (ir_tensor){n, type, cols, rows, row_bytes, data};
    return LM_OK;
}

/* ---- recovering one weight ------------------------------------------------------------------- */

typedef struct {
    int64_t w, scale, zp;     /* Const layer indices (-1: absent) */
    int64_t reshape;          /* Reshape layer index or -1 */
} chain;

static int is_float(etype t) { return t == ET_F32 || t == ET_F16 || t == ET_BF16; }

/* A Const, possibly behind Converts; -1 otherwise. */
static int64_t const_behind(const ir_model *m, int64_t li) {
    for (int k = 0; k < 3 && li >= 0; k++) {
        if (is(&m->layers[li], "Const")) return li;
        if (!is(&m->layers[li], "Convert")) return -1;
        li = input_of(m, li, 0);
    }
    return -1;
}

/* Follows the weight input `li` back to its Consts. Returns 0 when the input is not a weight (an
 * activation), 1 when `c` describes one, -1 on an error (set). */
static int walk_chain(const ir_model *m, int64_t li, const char *consumer, chain *c, lm_error *err) {
    c->w = c->scale = c->zp = c->reshape = -1;
    for (int k = 0; k < 2 && li >= 0 && is(&m->layers[li], "Convert"); k++) li = input_of(m, li, 0);
    if (li < 0) return 0;
    if (is(&m->layers[li], "Reshape")) {
        c->reshape = li;
        li = input_of(m, li, 0);
        for (int k = 0; k < 2 && li >= 0 && is(&m->layers[li], "Convert"); k++) li = input_of(m, li, 0);
        if (li < 0) return 0;
    }
    if (is(&m->layers[li], "Const")) {
        c->w = li;
        return 1;
    }
    if (!is(&m->layers[li], "Multiply")) return 0;
    int64_t a = input_of(m, li, 0), b = input_of(m, li, 1);
    int64_t sa = a >= 0 ? const_behind(m, a) : -1, sb = b >= 0 ? const_behind(m, b) : -1;
    /* the scale is the float Const; the other side holds the integers (behind a Convert) */
    int fa = sa >= 0 && is_float(m->layers[sa].et), fb = sb >= 0 && is_float(m->layers[sb].et);
    int64_t data;
    if (fb && !fa) { c->scale = sb; data = a; }
    else if (fa && !fb) { c->scale = sa; data = b; }
    else return 0; /* two activations, or two float constants: not a decompression */
    if (data < 0) return 0;
    if (is(&m->layers[data], "Subtract")) {
        int64_t za = input_of(m, data, 1);
        c->zp = za >= 0 ? const_behind(m, za) : -1;
        data = input_of(m, data, 0);
        if (c->zp < 0 || data < 0) {
            err_set(err, LM_ERR_UNSUPPORTED, "weight of '%.100s': a zero-point Subtract without a "
                    "constant zero point", consumer);
            return -1;
        }
    }
    if (!is(&m->layers[data], "Convert")) {
        /* an activation times a constant (e.g. a norm's weight): not a decompression */
        if (c->zp < 0) return 0;
        err_set(err, LM_ERR_UNSUPPORTED, "weight of '%.100s' comes through an unrecognised "
                "subgraph (%.40s before the zero point)", consumer, m->layers[data].type);
        return -1;
    }
    int64_t w = input_of(m, data, 0);
    if (w < 0 || !is(&m->layers[w], "Const")) return 0;
    c->w = w;
    return 1;
}

static float f16f(uint16_t h) { return kern_f16_to_f32(h); }

/* Reads element i of a float Const (f32/f16/bf16) or an integer scalar-ish Const. */
static double const_elem(const ir_model *m, const layer *l, uint64_t i) {
    const unsigned char *p = m->bin + l->offset;
    switch (l->et) {
    case ET_F32: { float f; memcpy(&f, p + 4 * i, 4); return f; }
    case ET_F16: { uint16_t h; memcpy(&h, p + 2 * i, 2); return f16f(h); }
    case ET_BF16: { uint16_t h; memcpy(&h, p + 2 * i, 2); return kern_bf16_to_f32(h); }
    case ET_I8: return (int8_t)p[i];
    case ET_U8: return p[i];
    case ET_I4: { int v = (p[i / 2] >> (4 * (i & 1))) & 15; return v >= 8 ? v - 16 : v; }
    case ET_U4: return (p[i / 2] >> (4 * (i & 1))) & 15;
    case ET_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case ET_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
    default: return NAN;
    }
}

/* Quantized value q of weight element i (i4 signed; u4/u8 unsigned; i8 signed). */
static int qval(const unsigned char *p, etype t, uint64_t i) {
    switch (t) {
    case ET_I4: { int v = (p[i / 2] >> (4 * (i & 1))) & 15; return v >= 8 ? v - 16 : v; }
    case ET_U4: return (p[i / 2] >> (4 * (i & 1))) & 15;
    case ET_I8: return (int8_t)p[i];
    default: return p[i];
    }
}

/* Re-orders symmetric int4 rows into the engine's layout (scales copied, nibbles re-chunked);
 * rows ith, ith + nth, ... of one weight, so a pool splits the work. */
typedef struct {
    const ir_model *m;
    const unsigned char *wp;   /* packed nibbles, row-major, element 0 in the low nibble */
    const layer *sc;
    int flip;                  /* 8 for i4 (two's complement), 0 for u4 with zero point 8 */
    ggml_type t;
    unsigned char *out;
    size_t rb;
    int64_t rows, cols, g, groups;
    size_t block;
} repack_job;

static void repack_task(void *ctx, int ith, int nth) {
    const repack_job *j = ctx;
    const unsigned char *sbase = j->m->bin + j->sc->offset;
    unsigned char x = (unsigned char)j->flip;
    for (int64_t r = ith; r < j->rows; r += nth) {
        unsigned char *row = j->out + (size_t)r * j->rb;
        const unsigned char *src = j->wp + (size_t)r * (size_t)j->cols / 2; /* cols is even */
        for (int64_t gi = 0; gi < j->cols / j->g; gi++) {
            unsigned char *qs;
            if (j->t == LM_TYPE_I4_CH) {
                float d;
                if (j->sc->et == ET_F32) memcpy(&d, sbase + 4 * (size_t)r, 4);
                else {
                    uint16_t h;
                    memcpy(&h, sbase + 2 * (size_t)r, 2);
                    d = kern_f16_to_f32(h);
                }
                memcpy(row, &d, 4);
                qs = row + 4;
            } else {
                unsigned char *b = row + (size_t)gi * j->block;
                memcpy(b, sbase + 2 * ((size_t)r * (size_t)j->groups + (size_t)gi), 2); /* f16 as is */
                qs = b + 2;
            }
            /* chunk of 32: byte k = (q[k] + 8) | (q[k + 16] + 8) << 4; source byte i holds
             * elements 2i (low nibble) and 2i + 1 (high) */
            for (int64_t ch = 0; ch < j->g / 32; ch++) {
                const unsigned char *s = src + (size_t)(gi * j->g + ch * 32) / 2;
                unsigned char *o = qs + ch * 16;
                for (int k = 0; k < 16; k += 2) {
                    unsigned char a = s[k / 2], b = s[8 + k / 2];
                    o[k] = (unsigned char)(((a & 15) ^ x) | (((b & 15) ^ x) << 4));
                    o[k + 1] = (unsigned char)(((a >> 4) ^ x) | (((b >> 4) ^ x) << 4));
                }
            }
        }
    }
}

static const char *short_name(const char *n) { return strncmp(n, "self.", 5) == 0 ? n + 5 : n; }

/* (q - zp) * scale for rows ith, ith + nth, ... of one weight, as f16 (rounded once) or f32. */
typedef struct {
    const ir_model *m;
    const unsigned char *wp;
    etype et;
    const layer *sc, *zp;
    unsigned char *out;
    int64_t rows, cols, groups, gsize;
    int as_f32;
    int64_t bad;               /* an element that does not fit f16, or -1 */
} dequant_job;

static void dequant_task(void *ctx, int ith, int nth) {
    dequant_job *j = ctx;
    for (int64_t r = ith; r < j->rows; r += nth) {
        for (int64_t gi = 0; gi < j->groups; gi++) {
            uint64_t sg = (uint64_t)(r * j->groups + gi);
            float d = (float)const_elem(j->m, j->sc, sg);
            float z = j->zp ? (float)const_elem(j->m, j->zp, j->zp->elems == 1 ? 0 : sg) : 0.0f;
            uint64_t e = (uint64_t)r * (uint64_t)j->cols + (uint64_t)(gi * j->gsize);
            for (int64_t k = 0; k < j->gsize; k++, e++) {
                float v = ((float)qval(j->wp, j->et, e) - z) * d;
                if (j->as_f32) {
                    memcpy(j->out + e * 4, &v, 4);
                } else if (fabsf(v) <= 65504.0f) {
                    uint16_t h = kern_f32_to_f16(v);
                    memcpy(j->out + e * 2, &h, 2);
                } else {
                    __atomic_store_n(&j->bad, (int64_t)e, __ATOMIC_RELAXED);
                    return;
                }
            }
        }
    }
}

/* Recovers the weight described by `c` under `name`. */
static lm_status recover(ir_model *m, const chain *c, const char *name, const char *consumer,
                         lm_error *err) {
    const layer *w = &m->layers[c->w];
    const unsigned char *wp = m->bin + w->offset;
    if (c->scale < 0) { /* a plain float weight */
        ggml_type t = w->et == ET_F32 ? GGML_TYPE_F32 : w->et == ET_F16 ? GGML_TYPE_F16
                      : w->et == ET_BF16 ? GGML_TYPE_BF16 : GGML_TYPE_COUNT;
        if (t == GGML_TYPE_COUNT)
            return err_set(err, LM_ERR_UNSUPPORTED, "weight '%s' is stored as %s without a "
                           "decompression subgraph (lmserve reads i4, u4, i8, u8, f16, bf16, f32)",
                           w->name, w->et_name);
        if (w->rank < 1) return err_set(err, LM_ERR_FORMAT, "weight '%s' is a scalar", w->name);
        int64_t cols = w->shape[w->rank - 1];
        int64_t rows = cols ? (int64_t)(w->elems / (uint64_t)cols) : 0;
        if (cols <= 0 || rows <= 0) return err_set(err, LM_ERR_FORMAT, "weight '%s' is empty", w->name);
        size_t es = w->bits / 8;
        const void *data = wp;
        if (w->offset % es != 0) { /* element-misaligned in the .bin: kernels need aligned rows */
            void *copy = NULL;
            LM_TRY(own(m, w->size, &copy, err));
            memcpy(copy, wp, w->size);
            data = copy;
        }
        return add_tensor(m, name, t, cols, rows, (size_t)cols * es, data, err);
    }
    /* quantized: q [out, in] or [out, G, g], scale [out, 1] or [out, G, 1] */
    const layer *sc = &m->layers[c->scale], *zp = c->zp >= 0 ? &m->layers[c->zp] : NULL;
    if (w->et != ET_I4 && w->et != ET_U4 && w->et != ET_I8 && w->et != ET_U8)
        return err_set(err, LM_ERR_UNSUPPORTED, "weight '%s' is stored as %s, which lmserve does not "
                       "support (it reads i4, u4, i8, u8, f16, bf16, f32 weights)", w->name, w->et_name);
    if (sc->et != ET_F16 && sc->et != ET_F32)
        return err_set(err, LM_ERR_UNSUPPORTED, "weight '%s': scale '%s' is %s (expected f16 or f32)",
                       w->name, sc->name, sc->et_name);
    int64_t rows, groups, gsize;
    if (w->rank == 2 && c->reshape < 0) {
        rows = w->shape[0], groups = 1, gsize = w->shape[1];
    } else if (w->rank == 3 && c->reshape >= 0) {
        rows = w->shape[0], groups = w->shape[1], gsize = w->shape[2];
    } else {
        return err_set(err, LM_ERR_UNSUPPORTED, "weight '%s' has shape rank %d %s a Reshape: not a "
                       "known decompression layout", w->name, w->rank, c->reshape >= 0 ? "with" : "without");
    }
    int64_t cols = groups * gsize;
    if (rows <= 0 || cols <= 0) return err_set(err, LM_ERR_FORMAT, "weight '%s' is empty", w->name);
    /* the scale holds one value per (row, group) */
    if (sc->elems != (uint64_t)(rows * groups) || sc->rank < 1 || sc->shape[0] != rows ||
        (sc->rank >= 2 && sc->shape[sc->rank - 1] != 1))
        return err_set(err, LM_ERR_FORMAT, "weight '%s': scale '%s' has %llu values, expected one per "
                       "row and group (%lld x %lld)", w->name, sc->name, (unsigned long long)sc->elems,
                       (long long)rows, (long long)groups);
    if (zp && zp->elems != 1 && zp->elems != (uint64_t)(rows * groups))
        return err_set(err, LM_ERR_FORMAT, "weight '%s': zero point '%s' has %llu values, expected 1 or "
                       "%lld", w->name, zp->name, (unsigned long long)zp->elems, (long long)(rows * groups));
    if (zp && zp->et != ET_I4 && zp->et != ET_U4 && zp->et != ET_I8 && zp->et != ET_U8 &&
        zp->et != ET_F16 && zp->et != ET_F32)
        return err_set(err, LM_ERR_UNSUPPORTED, "weight '%s': zero point '%s' is %s", w->name, zp->name,
                       zp->et_name);
    if (c->reshape >= 0) { /* the Reshape must give [rows, cols] */
        int64_t shp = input_of(m, c->reshape, 1);
        const layer *s = shp >= 0 && is(&m->layers[shp], "Const") ? &m->layers[shp] : NULL;
        if (!s || s->elems != 2 || (s->et != ET_I64 && s->et != ET_I32) ||
            !(const_elem(m, s, 1) == (double)cols &&
              (const_elem(m, s, 0) == (double)rows || const_elem(m, s, 0) == -1)))
            return err_set(err, LM_ERR_UNSUPPORTED, "weight '%s': the Reshape after its decompression "
                           "does not give [%lld, %lld]", w->name, (long long)rows, (long long)cols);
    }
    /* symmetric when there is no zero point, or a zero point of exactly 2^(bits-1) on u4/u8 */
    int zero_mid = 0;
    if (zp && (w->et == ET_U4 || w->et == ET_U8)) {
        double mid = w->et == ET_U4 ? 8 : 128;
        zero_mid = 1;
        for (uint64_t i = 0; i < zp->elems && zero_mid; i++) zero_mid = const_elem(m, zp, i) == mid;
    }
    int sym = ((w->et == ET_I4 || w->et == ET_I8) && !zp) || zero_mid;
    int four = w->et == ET_I4 || w->et == ET_U4;
    int qoff = zero_mid ? (w->et == ET_U4 ? 8 : 128) : 0; /* q = stored - qoff when symmetric */
    for (uint64_t i = 0; i < sc->elems; i++)
        if (!isfinite(const_elem(m, sc, i)))
            return err_set(err, LM_ERR_FORMAT, "weight '%s': scale %llu is not finite", w->name,
                           (unsigned long long)i);

    if (sym && four) {
        ggml_type t = GGML_TYPE_COUNT;
        if (groups == 1 && cols % 32 == 0) t = LM_TYPE_I4_CH;
        else if (sc->et == ET_F16 && gsize == 32) t = LM_TYPE_I4_G32;
        else if (sc->et == ET_F16 && gsize == 64) t = LM_TYPE_I4_G64;
        else if (sc->et == ET_F16 && gsize == 128) t = LM_TYPE_I4_G128;
        if (t != GGML_TYPE_COUNT) {
            size_t rb = quant_row_bytes(t, cols);
            unsigned char *out = NULL;
            LM_TRY(own(m, rb * (size_t)rows, (void **)&out, err));
            int64_t g = t == LM_TYPE_I4_CH ? cols : gsize;
            size_t block = t == LM_TYPE_I4_CH ? 0 : 2 + (size_t)g / 2;
            repack_job j = {m, wp, sc, w->et == ET_I4 ? 8 : 0, t, out, rb, rows, cols, g, groups, block};
            if (!m->pool) LM_TRY(pool_create(0, &m->pool, err)); /* once, at the first int4 weight */
            pool_run(m->pool, pool_size(m->pool), repack_task, &j);
            return add_tensor(m, name, t, cols, rows, rb, out, err);
        }
    }
    if (sym && !four && groups == 1 && cols % 32 == 0) { /* int8 per row: LM_TYPE_I8_CH */
        int has_min = 0;
        for (uint64_t i = 0; i < w->elems && !has_min; i++) has_min = qval(wp, w->et, i) - qoff < -127;
        if (!has_min) {
            size_t rb = quant_row_bytes(LM_TYPE_I8_CH, cols);
            unsigned char *out = NULL;
            LM_TRY(own(m, rb * (size_t)rows, (void **)&out, err));
            for (int64_t r = 0; r < rows; r++) {
                unsigned char *row = out + (size_t)r * rb;
                float d = (float)const_elem(m, sc, (uint64_t)r);
                memcpy(row, &d, 4);
                for (int64_t i = 0; i < cols; i++)
                    row[4 + i] = (unsigned char)(int8_t)(qval(wp, w->et, (uint64_t)(r * cols + i)) - qoff);
            }
            return add_tensor(m, name, LM_TYPE_I8_CH, cols, rows, rb, out, err);
        }
    }
    /* everything else: (q - zp) * scale, rounded to f16 as the f16 graph computes it (f32 when
     * the scale is f32) */
    int as_f32 = sc->et == ET_F32;
    size_t es = as_f32 ? 4 : 2, rb = (size_t)cols * es;
    unsigned char *out = NULL;
    LM_TRY(own(m, rb * (size_t)rows, (void **)&out, err));
    dequant_job j = {m, wp, w->et, sc, zp, out, rows, cols, groups, gsize, as_f32, -1};
    if (!m->pool) LM_TRY(pool_create(0, &m->pool, err));
    pool_run(m->pool, pool_size(m->pool), dequant_task, &j);
    if (j.bad >= 0)
        return err_set(err, LM_ERR_FORMAT, "weight '%s': element %lld does not fit f16", w->name,
                       (long long)j.bad);
    (void)consumer;
    return add_tensor(m, name, as_f32 ? GGML_TYPE_F32 : GGML_TYPE_F16, cols, rows, rb, out, err);
}

/* Recovers the weight feeding port `port` of consumer layer `li`, if it is one. Weights already
 * recovered (a tied embedding feeds the Gather and the head) are kept once. */
static lm_status recover_input(ir_model *m, int64_t li, int64_t port, lm_error *err) {
    int64_t in = input_of(m, li, port);
    if (in < 0) return LM_OK;
    chain c;
    int r = walk_chain(m, in, m->layers[li].name, &c, err);
    if (r < 0) return err->code;
    if (r == 0) return LM_OK;
    const layer *w = &m->layers[c.w];
    if (strncmp(w->name, "self.", 5) != 0) {
        /* unnamed Consts: shape tensors, masks; a quantized one is a weight we cannot name */
        if (c.scale >= 0)
            return err_set(err, LM_ERR_UNSUPPORTED, "the weight of '%.100s' (Const '%.60s') has no "
                           "'self.' name: cannot tell which model weight it is", m->layers[li].name, w->name);
        return LM_OK;
    }
    if (is(&m->layers[li], "MatMul") && !m->layers[li].transpose_b)
        return err_set(err, LM_ERR_UNSUPPORTED, "MatMul '%.100s' reads weight '%s' without transpose_b: "
                       "not a layout lmserve reads", m->layers[li].name, w->name);
    const char *name = short_name(w->name);
    if (find_mut(m, name)) return LM_OK;
    return recover(m, &c, name, m->layers[li].name, err);
}

/* ---- norms, rotary, awq, refusals ------------------------------------------------------------ */

/* "__module.model.layers.0.input_layernorm/aten::mul/Multiply_1" -> "model.layers.0.input_layernorm"
 * when the module ends in "norm" (or is an "ln_*" module); 0 otherwise. */
static int norm_module(const char *name, char *out, size_t size) {
    if (strncmp(name, "__module.", 9) != 0) return 0;
    const char *s = name + 9, *slash = strchr(s, '/');
    if (!slash) return 0;
    size_t n = (size_t)(slash - s);
    const char *last = s;  /* the module's last dotted component */
    for (const char *p = s; p < slash; p++)
        if (*p == '.') last = p + 1;
    int is_norm = (n >= 4 && memcmp(slash - 4, "norm", 4) == 0) ||      /* input_layernorm, q_norm */
                  (slash - last >= 3 && memcmp(last, "ln_", 3) == 0);  /* GPT-J's ln_1, ln_f */
    if (!is_norm || n >= size) return 0;
    memcpy(out, s, n);
    out[n] = '\0';
    return 1;
}

static lm_status recover_norms(ir_model *m, lm_error *err) {
    for (size_t i = 0; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        int mul = is(l, "Multiply"), add = is(l, "Add");
        char mod[256];
        if ((!mul && !add) || !norm_module(l->name, mod, sizeof mod)) continue;
        for (int64_t port = 0; port < 2; port++) {
            int64_t in = input_of(m, (int64_t)i, port);
            int64_t c = in >= 0 ? const_behind(m, in) : -1;
            if (c < 0) continue;
            const layer *k = &m->layers[c];
            if (k->elems <= 1 || (k->et != ET_F32 && k->et != ET_F16 && k->et != ET_BF16)) continue;
            char name[300];
            snprintf(name, sizeof name, "%s.%s", mod, mul ? "weight" : "bias");
            ir_tensor *have = find_mut(m, name);
            if (have) {
                if (have->cols != (int64_t)k->elems)
                    return err_set(err, LM_ERR_FORMAT, "two different constants for '%s'", name);
                continue;
            }
            chain ch = {c, -1, -1, -1};
            LM_TRY(recover(m, &ch, name, l->name, err));
            ir_tensor *t = find_mut(m, name); /* a norm weight is a vector whatever its rank */
            t->cols = (int64_t)k->elems;
            t->rows = 1;
            t->row_bytes = (size_t)k->elems * (k->bits / 8);
        }
    }
    return LM_OK;
}

static lm_status find_inv_freq(ir_model *m, lm_error *err) {
    for (size_t i = 0; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        if (!is(l, "Const") || !strstr(l->name, "rotary_emb") || l->et != ET_F32 || l->rank != 3 ||
            l->shape[0] != 1 || l->shape[2] != 1 || l->elems < 1 || l->elems > 65536)
            continue;
        float *f = NULL;
        LM_TRY(own(m, l->size, (void **)&f, err));
        memcpy(f, m->bin + l->offset, l->size);
        m->inv_freq = f;
        m->n_inv_freq = (int)l->elems;
        return LM_OK;
    }
    return LM_OK;
}

/* Multiplies row r of tensor t by s[r] (scales of quantized rows; elements otherwise). */
static lm_status scale_rows(ir_model *m, ir_tensor *t, int64_t r0, const layer *s, lm_error *err) {
    size_t bytes = t->row_bytes * (size_t)t->rows;
    int owned = 0;
    for (size_t i = 0; i < m->n_owned && !owned; i++) owned = m->owned[i] == t->data;
    if (!owned) {
        void *copy = NULL;
        LM_TRY(own(m, bytes, &copy, err));
        memcpy(copy, t->data, bytes);
        t->data = copy;
    }
    unsigned char *base = (unsigned char *)t->data;
    for (uint64_t k = 0; k < s->elems; k++) {
        float f = (float)const_elem(m, s, k);
        unsigned char *row = base + (size_t)(r0 + (int64_t)k) * t->row_bytes;
        if (t->type == LM_TYPE_I4_CH || t->type == LM_TYPE_I8_CH) {
            float d;
            memcpy(&d, row, 4);
            d *= f;
            memcpy(row, &d, 4);
        } else if (t->type == LM_TYPE_I4_G32 || t->type == LM_TYPE_I4_G64 || t->type == LM_TYPE_I4_G128) {
            int64_t g = quant_row_multiple(t->type);
            for (int64_t b = 0; b < t->cols / g; b++) {
                unsigned char *p = row + (size_t)b * (2 + (size_t)g / 2);
                uint16_t h;
                memcpy(&h, p, 2);
                h = kern_f32_to_f16(f16f(h) * f);
                memcpy(p, &h, 2);
            }
        } else if (t->type == GGML_TYPE_F32) {
            for (int64_t i = 0; i < t->cols; i++) ((float *)row)[i] *= f;
        } else if (t->type == GGML_TYPE_F16) {
            uint16_t *h = (uint16_t *)row;
            for (int64_t i = 0; i < t->cols; i++) h[i] = kern_f32_to_f16(f16f(h[i]) * f);
        } else {
            return err_set(err, LM_ERR_UNSUPPORTED, "awq_mul: cannot scale rows of '%s' (%s)", t->name,
                           quant_type_name(t->type));
        }
    }
    return LM_OK;
}

/* <src>/awq_mul on the activation input of down_proj: act * s. The activation is
 * silu(gate) * up, so scaling row i of up_proj by s[i] gives the same product. */
static lm_status fold_awq(ir_model *m, lm_error *err) {
    for (size_t i = 0; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        if (!is(l, "MatMul")) continue;
        int64_t a = input_of(m, (int64_t)i, 0);
        if (a < 0 || !is(&m->layers[a], "Multiply") || !strstr(m->layers[a].name, "awq_mul")) continue;
        const layer *mul = &m->layers[a];
        int64_t s0 = input_of(m, a, 0), s1 = input_of(m, a, 1);
        int64_t sc = s1 >= 0 ? const_behind(m, s1) : -1;
        if (sc < 0) sc = s0 >= 0 ? const_behind(m, s0) : -1;
        chain c;
        int64_t win = input_of(m, (int64_t)i, 1);
        if (sc < 0 || win < 0 || walk_chain(m, win, l->name, &c, err) != 1)
            return err_set(err, LM_ERR_UNSUPPORTED, "AWQ multiply '%.100s' is not a constant on a "
                           "weight MatMul's input", mul->name);
        const char *wname = short_name(m->layers[c.w].name);
        const char *suffix = "mlp.down_proj.weight";
        size_t wl = strlen(wname), sl = strlen(suffix);
        if (wl < sl || strcmp(wname + wl - sl, suffix) != 0)
            return err_set(err, LM_ERR_UNSUPPORTED, "AWQ multiply '%.100s' before '%s': lmserve folds "
                           "AWQ scales only before mlp.down_proj", mul->name, wname);
        const layer *s = &m->layers[sc];
        char up[300];
        snprintf(up, sizeof up, "%.*smlp.up_proj.weight", (int)(wl - sl), wname);
        ir_tensor *t = find_mut(m, up);
        int64_t r0 = 0;
        if (!t) {
            snprintf(up, sizeof up, "%.*smlp.gate_up_proj.weight", (int)(wl - sl), wname);
            t = find_mut(m, up);
            if (t) r0 = t->rows / 2; /* rows [gate; up]: the up half */
        }
        if (!t || (int64_t)s->elems != t->rows - r0 || (s->et != ET_F32 && s->et != ET_F16))
            return err_set(err, LM_ERR_UNSUPPORTED, "AWQ multiply '%.100s': no up projection of %llu "
                           "rows to fold it into", mul->name, (unsigned long long)s->elems);
        LM_TRY(scale_rows(m, t, r0, s, err));
    }
    return LM_OK;
}

static lm_status refuse_unsupported(const ir_model *m, lm_error *err) {
    if (m->lora)
        return err_set(err, LM_ERR_UNSUPPORTED, "the IR was exported with NNCF LoRA correction "
                       "adapters (lora_correction), which lmserve does not support");
    for (size_t i = 0; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        if (is(l, "GroupedMatMul") || strstr(l->type, "MoE"))
            return err_set(err, LM_ERR_UNSUPPORTED, "mixture-of-experts layer '%.100s' (%s) is not "
                           "supported", l->name, l->type);
        if (strstr(l->name, "_lora_A") || strstr(l->name, "_lora_B"))
            return err_set(err, LM_ERR_UNSUPPORTED, "LoRA correction adapter '%.100s' is not supported",
                           l->name);
    }
    return LM_OK;
}

/* ---- entry points ---------------------------------------------------------------------------- */

static int cmp_tensor(const void *a, const void *b) {
    return strcmp(((const ir_tensor *)a)->name, ((const ir_tensor *)b)->name);
}

static lm_status load(ir_model *m, const char *xml, size_t xml_len, lm_error *err) {
    reader r;
    memset(&r, 0, sizeof r);
    r.m = m;
    irxml_handler h = {xml_start, xml_end};
    LM_TRY(irxml_parse(xml, xml_len, &h, &r, err));
    LM_TRY(validate(m, err));
    LM_TRY(refuse_unsupported(m, err));
    for (size_t i = 0; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        if (is(l, "MatMul")) {
            LM_TRY(recover_input(m, (int64_t)i, 1, err)); /* weights are the second operand */
        } else if (is(l, "Gather")) {
            LM_TRY(recover_input(m, (int64_t)i, 0, err));
        }
    }
    /* named float Consts nothing above used (biases feeding an Add) */
    for (size_t i = 0; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        if (!is(l, "Const") || strncmp(l->name, "self.", 5) != 0 || strchr(l->name, '/')) continue;
        if (find_mut(m, short_name(l->name))) continue;
        if (l->et != ET_F32 && l->et != ET_F16 && l->et != ET_BF16)
            return err_set(err, LM_ERR_UNSUPPORTED, "weight '%s' (%s) feeds no decompression subgraph "
                           "lmserve knows", l->name, l->et_name);
        chain c = {(int64_t)i, -1, -1, -1};
        LM_TRY(recover(m, &c, short_name(l->name), l->name, err));
    }
    LM_TRY(recover_norms(m, err));
    LM_TRY(find_inv_freq(m, err));
    LM_TRY(fold_awq(m, err));
    if (m->n_tensors) qsort(m->tensors, m->n_tensors, sizeof *m->tensors, cmp_tensor);
    return LM_OK;
}

lm_status ir_model_parse(const char *xml, size_t xml_len, const void *bin, size_t bin_len,
                         ir_model **out, lm_error *err) {
    *out = NULL;
    ir_model *m = calloc(1, sizeof *m);
    if (!m) return err_set(err, LM_ERR_NOMEM, "out of memory");
    m->bin = bin;
    m->bin_len = bin_len;
    lm_status s = load(m, xml, xml_len, err);
    if (s != LM_OK) {
        ir_model_close(m);
        return s;
    }
    *out = m;
    return LM_OK;
}

int ir_folder_has_model(const char *dir) {
    char path[4200];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/openvino_model.xml", dir);
    return n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

lm_status ir_model_open(const char *dir, ir_model **out, lm_error *err) {
    *out = NULL;
    char xp[4200], bp[4200];
    snprintf(xp, sizeof xp, "%s/openvino_model.xml", dir);
    snprintf(bp, sizeof bp, "%s/openvino_model.bin", dir);
    ir_model *m = calloc(1, sizeof *m);
    if (!m) return err_set(err, LM_ERR_NOMEM, "out of memory");
    lm_status s = mapfile_open(&m->xml_map, xp, err);
    if (s == LM_OK) s = mapfile_open(&m->bin_map, bp, err);
    if (s == LM_OK) {
        m->bin = m->bin_map.data;
        m->bin_len = m->bin_map.size;
        lm_error inner;
        err_clear(&inner);
        s = load(m, (const char *)m->xml_map.data, m->xml_map.size, &inner);
        if (s != LM_OK) s = err_set(err, s, "%s: %s", xp, inner.msg);
    }
    if (s != LM_OK) {
        ir_model_close(m);
        return s;
    }
    *out = m;
    return LM_OK;
}

void ir_model_close(ir_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_layers; i++) {
        free(m->layers[i].name);
        free(m->layers[i].type);
    }
    free(m->layers);
    free(m->edges);
    for (size_t i = 0; i < m->n_tensors; i++) free((char *)m->tensors[i].name);
    free(m->tensors);
    for (size_t i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    pool_destroy(m->pool);
    mapfile_close(&m->xml_map);
    mapfile_close(&m->bin_map);
    free(m);
}

const ir_tensor *ir_model_find(const ir_model *m, const char *name) {
    size_t lo = 0, hi = m->n_tensors;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->tensors[mid].name, name);
        if (c == 0) return &m->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

size_t ir_model_tensor_count(const ir_model *m) { return m->n_tensors; }

const ir_tensor *ir_model_tensor_at(const ir_model *m, size_t i) {
    return i < m->n_tensors ? &m->tensors[i] : NULL;
}

const float *ir_model_inv_freq(const ir_model *m, int *n) {
    *n = m->n_inv_freq;
    return m->inv_freq;
}

lm_status ir_model_check_rope(const ir_model *m, int rope_dim, double theta, const float *factors,
                              lm_error *err) {
    if (!m->inv_freq) return LM_OK;
    if (m->n_inv_freq != rope_dim / 2)
        return err_set(err, LM_ERR_FORMAT, "the IR's rotary inv_freq has %d entries but config.json "
                       "implies %d (rotary dimensions / 2)", m->n_inv_freq, rope_dim / 2);
    for (int i = 0; i < m->n_inv_freq; i++) {
        double want = pow(theta, -2.0 * i / rope_dim);
        if (factors) want /= factors[i];
        double got = m->inv_freq[i];
        if (!(fabs(got - want) <= 1e-3 * fabs(want)))
            return err_set(err, LM_ERR_FORMAT, "the IR's rotary inv_freq[%d] = %g but config.json "
                           "(rope_theta, rope_scaling) gives %g", i, got, want);
    }
    return LM_OK;
}
