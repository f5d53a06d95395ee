/* mkir.c — writes a tiny OpenVINO IR folder (openvino_model.xml/.bin + config.json) from a
 * Hugging Face folder (config.json + safetensors), in the layout of the 2026 optimum-intel/NNCF
 * exporter, for tests of the runtime-free IR reader (src/model/ir.h).
 *
 *   lmserve-mkir --from HF_DIR --out DIR --variant NAME
 *
 * Variants (the decompression subgraph of every MatMul weight; embeddings and an untied lm_head
 * are u8 asymmetric per row, as NNCF's default backup mode, except in f32/f16):
 *   f32, f16          plain weights (f16 through a decompression Convert)
 *   i4-cw             i4 [out, in] + f16 scale [out, 1] (int4_sym, group_size -1)
 *   i4-g128           i4 [out, in/128, 128] + f16 scale [out, in/128, 1] + Reshape
 *   u4-legacy         u4 [out, in/128, 128] + u4 zero point 8 + scale (older int4_sym exports)
 *   u4-asym           u4 + per-group u4 zero point + scale (int4_asym, group 128)
 *   i8                i8 [out, in] + f16 scale [out, 1] (int8_sym)
 *   u8-asym           u8 + u8 zero point [out, 1] + scale (int8_asym)
 *   awq               i4-g128 with an AWQ activation multiply (<down_proj>/awq_mul) before every
 *                     down_proj, the up_proj rows divided by the same factors
 * Quantization rounds as lmserve's own quantizer (compute/quant.h): symmetric int4 groups are
 * made by quant_quantize_row itself, so an IR weight is exactly what `lmserve export
 * --weight-format int4` makes of the same floats. The graph has the exporter's decoys: the four
 * Parameters, a ReadValue/Assign pair per layer, the rotary inv_freq Const, decomposed RMSNorms
 * with unnamed weight Consts, small constants sharing one offset, and a 1-byte Const first so
 * every later offset is unaligned. Compiled into tests with MKIR_NO_MAIN (mkir_write()). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "compute/kernels.h"
#include "compute/quant.h"
#include "model/hfconfig.h"
#include "model/safetensors.h"

typedef enum { MV_F32, MV_F16, MV_I4CW, MV_I4G128, MV_U4LEGACY, MV_U4ASYM, MV_I8, MV_U8ASYM, MV_AWQ } mkir_variant;

static const char *const g_variant_names[] = {"f32", "f16", "i4-cw", "i4-g128", "u4-legacy",
                                              "u4-asym", "i8", "u8-asym", "awq"};

typedef struct { int id, port; } mk_ref;

typedef struct {
    lm_buf xml, edges;
    unsigned char *bin;
    size_t bin_len, bin_cap;
    int next_id;
    int const_no;       /* numbering of unnamed Consts */
    mkir_variant v;
    char err[256];
} mk;

/* ---- output ------------------------------------------------------------------------------ */

static void xprintf(lm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void xprintf(lm_buf *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_append(b, tmp, (size_t)(n < (int)sizeof tmp ? n : (int)sizeof tmp - 1));
}

/* Appends bytes to the .bin; small constants already there are shared (as the exporter does). */
static size_t bin_put(mk *k, const void *p, size_t n) {
    if (n <= 8) {
        for (size_t off = 1; off + n <= k->bin_len && off < 4096; off++)
            if (memcmp(k->bin + off, p, n) == 0) return off;
    }
    if (k->bin_len + n > k->bin_cap) {
        size_t cap = k->bin_cap ? k->bin_cap : 1 << 16;
        while (cap < k->bin_len + n) cap *= 2;
        k->bin = realloc(k->bin, cap);
        k->bin_cap = cap;
    }
    memcpy(k->bin + k->bin_len, p, n);
    k->bin_len += n;
    return k->bin_len - n;
}

static const char *prec(const char *et) {
    static const struct { const char *et, *p; } t[] = {
        {"f32", "FP32"}, {"f16", "FP16"}, {"i4", "I4"}, {"u4", "U4"}, {"i8", "I8"},
        {"u8", "U8"}, {"i64", "I64"}, {"i32", "I32"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].et, et)) return t[i].p;
    return "FP32";
}

/* A Const layer; shape dims in `shape[0..rank)`. */
static mk_ref cst(mk *k, const char *name, const char *et, const int64_t *shape, int rank,
               const void *data, size_t bytes) {
    int id = k->next_id++;
    char nm[64];
    if (!name) {
        snprintf(nm, sizeof nm, "Constant_%d", 6786000 + k->const_no++);
        name = nm;
    }
    size_t off = bin_put(k, data, bytes);
    xprintf(&k->xml, "\t\t<layer id=\"%d\" name=\"%s\" type=\"Const\" version=\"opset1\">\n", id, name);
    xprintf(&k->xml, "\t\t\t<data element_type=\"%s\" shape=\"", et);
    for (int i = 0; i < rank; i++) xprintf(&k->xml, "%s%lld", i ? ", " : "", (long long)shape[i]);
    xprintf(&k->xml, "\" offset=\"%zu\" size=\"%zu\" />\n", off, bytes);
    xprintf(&k->xml, "\t\t\t<output>\n\t\t\t\t<port id=\"0\" precision=\"%s\"", prec(et));
    if (rank == 0) xprintf(&k->xml, " />\n");
    else {
        xprintf(&k->xml, ">\n");
        for (int i = 0; i < rank; i++) xprintf(&k->xml, "\t\t\t\t\t<dim>%lld</dim>\n", (long long)shape[i]);
        xprintf(&k->xml, "\t\t\t\t</port>\n");
    }
    xprintf(&k->xml, "\t\t\t</output>\n\t\t</layer>\n");
    return (mk_ref){id, 0};
}

/* An operation with inputs in[0..n) (edges to ports 0..n-1) and one output port n. `data` is
 * the inside of its <data .../> (NULL: none); rt: add the decompression rt_info. */
static mk_ref op(mk *k, const char *name, const char *type, const char *data, int rt, int n, const mk_ref *in) {
    int id = k->next_id++;
    xprintf(&k->xml, "\t\t<layer id=\"%d\" name=\"%s\" type=\"%s\" version=\"opset1\">\n", id, name, type);
    if (data) xprintf(&k->xml, "\t\t\t<data %s />\n", data);
    if (rt)
        xprintf(&k->xml, "\t\t\t<rt_info>\n\t\t\t\t<attribute name=\"decompression\" version=\"0\" />\n"
                         "\t\t\t</rt_info>\n");
    if (n > 0) {
        xprintf(&k->xml, "\t\t\t<input>\n");
        for (int i = 0; i < n; i++) xprintf(&k->xml, "\t\t\t\t<port id=\"%d\" precision=\"FP32\" />\n", i);
        xprintf(&k->xml, "\t\t\t</input>\n");
    }
    if (strcmp(type, "Result") != 0 && strcmp(type, "Assign") != 0)
        xprintf(&k->xml, "\t\t\t<output>\n\t\t\t\t<port id=\"%d\" precision=\"FP32\" />\n\t\t\t</output>\n", n);
    xprintf(&k->xml, "\t\t</layer>\n");
    for (int i = 0; i < n; i++)
        xprintf(&k->edges, "\t\t<edge from-layer=\"%d\" from-port=\"%d\" to-layer=\"%d\" to-port=\"%d\" />\n",
                in[i].id, in[i].port, id, i);
    return (mk_ref){id, n};
}

static mk_ref op1(mk *k, const char *name, const char *type, const char *data, mk_ref a) {
    return op(k, name, type, data, 0, 1, &a);
}
static mk_ref op2(mk *k, const char *name, const char *type, const char *data, mk_ref a, mk_ref b) {
    mk_ref in[2] = {a, b};
    return op(k, name, type, data, 0, 2, in);
}

static mk_ref anon(mk *k, const char *type, const char *data, int n, const mk_ref *in) {
    char nm[64];
    snprintf(nm, sizeof nm, "%s_%d", type, 8007000 + k->next_id);
    return op(k, nm, type, data, 0, n, in);
}

static mk_ref f32_const(mk *k, const char *name, const int64_t *shape, int rank, const float *v, size_t n) {
    return cst(k, name, "f32", shape, rank, v, n * sizeof *v);
}

/* ---- weights ------------------------------------------------------------------------------ */

static void put_nibble(unsigned char *p, size_t i, int v) {
    p[i / 2] = (unsigned char)(i & 1 ? (p[i / 2] & 0x0F) | (v & 15) << 4 : (p[i / 2] & 0xF0) | (v & 15));
}

/* Symmetric int4 of one row as lmserve quantizes it: q in [-8, 7] and the f16 scale bits of each
 * group of g (g = cols: one scale for the row, rounded to f16 first). */
static int quant_i4_row(const float *x, int64_t cols, int64_t g, int8_t *q, uint16_t *scales) {
    lm_error err;
    err_clear(&err);
    if (g == 128) {
        size_t rb = quant_row_bytes(LM_TYPE_I4_G128, cols);
        unsigned char *row = malloc(rb);
        if (quant_quantize_row(LM_TYPE_I4_G128, x, cols, row, &err) != LM_OK) {
            free(row);
            return -1;
        }
        for (int64_t b = 0; b < cols / 128; b++) {
            const unsigned char *blk = row + (size_t)b * 66;
            memcpy(&scales[b], blk, 2);
            for (int c = 0; c < 4; c++)
                for (int j = 0; j < 16; j++) {
                    q[b * 128 + c * 32 + j] = (int8_t)((blk[2 + c * 16 + j] & 15) - 8);
                    q[b * 128 + c * 32 + j + 16] = (int8_t)((blk[2 + c * 16 + j] >> 4) - 8);
                }
        }
        free(row);
        return 0;
    }
    /* channel-wise: the scale is stored as f16, so quantize with the rounded scale */
    float amax = 0, sm = 0;
    for (int64_t i = 0; i < cols; i++)
        if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); sm = x[i]; }
    uint16_t d16 = kern_f32_to_f16(sm / -8.0f);
    float d = kern_f16_to_f32(d16);
    scales[0] = d16;
    for (int64_t i = 0; i < cols; i++) {
        float r = d != 0 ? roundf(x[i] / d) : 0;
        q[i] = (int8_t)(r < -8 ? -8 : r > 7 ? 7 : r);
    }
    return 0;
}

/* The chain from the weight Const to its decompression Convert(f32); returns that Convert. */
static mk_ref weight(mk *k, const char *hfname, const char *module, const float *w, int64_t rows,
                  int64_t cols, int embedding) {
    char name[256], nm[320];
    snprintf(name, sizeof name, "self.%s", hfname);
    char conv_name[300];
    snprintf(conv_name, sizeof conv_name, "__module.%s/ov_ext::%s/Convert", module,
             embedding ? "embedding" : "linear");
    int64_t shp[3] = {rows, cols, 1};
    size_t n = (size_t)(rows * cols);
    mkir_variant v = k->v;
    int asym8 = embedding || (v == MV_U8ASYM);
    if (v == MV_F32) return (mk_ref)f32_const(k, name, shp, 2, w, n);
    if (v == MV_F16) {
        uint16_t *h = malloc(n * 2);
        for (size_t i = 0; i < n; i++) h[i] = kern_f32_to_f16(w[i]);
        mk_ref c = cst(k, name, "f16", shp, 2, h, n * 2);
        free(h);
        return op(k, conv_name, "Convert", "destination_type=\"f32\"", 1, 1, &c);
    }
    mk_ref q, scale, zp = {-1, 0}, out;
    if (asym8 || v == MV_I8) { /* per row int8 */
        unsigned char *qb = malloc(n);
        uint16_t *sc = malloc((size_t)rows * 2);
        unsigned char *zb = malloc((size_t)rows);
        for (int64_t r = 0; r < rows; r++) {
            const float *x = w + r * cols;
            float mn = x[0], mx = x[0], amax = 0;
            for (int64_t i = 0; i < cols; i++) {
                mn = x[i] < mn ? x[i] : mn;
                mx = x[i] > mx ? x[i] : mx;
                amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
            }
            if (asym8) {
                mn = mn > 0 ? 0 : mn;
                mx = mx < 0 ? 0 : mx;
                float d = kern_f16_to_f32(sc[r] = kern_f32_to_f16((mx - mn) / 255.0f));
                float z = roundf(-mn / d);
                zb[r] = (unsigned char)(z < 0 ? 0 : z > 255 ? 255 : z);
                for (int64_t i = 0; i < cols; i++) {
                    float qq = roundf(x[i] / d) + zb[r];
                    qb[r * cols + i] = (unsigned char)(qq < 0 ? 0 : qq > 255 ? 255 : qq);
                }
            } else {
                float d = kern_f16_to_f32(sc[r] = kern_f32_to_f16(amax / 127.0f));
                for (int64_t i = 0; i < cols; i++) {
                    float qq = d ? roundf(x[i] / d) : 0;
                    qb[r * cols + i] = (unsigned char)(int8_t)(qq < -127 ? -127 : qq > 127 ? 127 : qq);
                }
            }
        }
        q = cst(k, name, asym8 ? "u8" : "i8", shp, 2, qb, n);
        snprintf(nm, sizeof nm, "%s/scale", name);
        int64_t ss[2] = {rows, 1};
        scale = cst(k, nm, "f16", ss, 2, sc, (size_t)rows * 2);
        if (asym8) {
            snprintf(nm, sizeof nm, "%s/zero_point", name);
            int64_t zs[2] = {rows, 1};
            zp = cst(k, nm, "u8", zs, 2, zb, (size_t)rows);
        }
        free(qb);
        free(sc);
        free(zb);
        mk_ref cq = anon(k, "Convert", "destination_type=\"f16\"", 1, &q);
        if (zp.id >= 0) {
            mk_ref cz = anon(k, "Convert", "destination_type=\"f16\"", 1, &zp);
            snprintf(nm, sizeof nm, "%s/zero_point/subtract", name);
            cq = op2(k, nm, "Subtract", "auto_broadcast=\"numpy\"", cq, cz);
        }
        snprintf(nm, sizeof nm, "%s/fq_weights_%d", name, embedding ? 0 : 1);
        out = op2(k, nm, "Multiply", "auto_broadcast=\"numpy\"", cq, scale);
        return op(k, conv_name, "Convert", "destination_type=\"f32\"", 1, 1, &out);
    }
    /* int4 */
    int64_t g = v == MV_I4CW ? cols : 128, groups = cols / g;
    int8_t *qv = malloc(n);
    uint16_t *sc = malloc((size_t)(rows * groups) * 2);
    unsigned char *zb = calloc((size_t)(rows * groups + 1) / 2 + 1, 1);
    unsigned char *packed = calloc(n / 2 + 1, 1);
    for (int64_t r = 0; r < rows; r++) {
        if (v == MV_U4ASYM) {
            for (int64_t b = 0; b < groups; b++) {
                const float *x = w + r * cols + b * g;
                float mn = 0, mx = 0;
                for (int64_t i = 0; i < g; i++) {
                    mn = x[i] < mn ? x[i] : mn;
                    mx = x[i] > mx ? x[i] : mx;
                }
                float d = kern_f16_to_f32(sc[r * groups + b] = kern_f32_to_f16((mx - mn) / 15.0f));
                float z = d ? roundf(-mn / d) : 0;
                z = z < 0 ? 0 : z > 15 ? 15 : z;
                put_nibble(zb, (size_t)(r * groups + b), (int)z);
                for (int64_t i = 0; i < g; i++) {
                    float qq = (d ? roundf(x[i] / d) : 0) + z;
                    qv[r * cols + b * g + i] = (int8_t)(qq < 0 ? 0 : qq > 15 ? 15 : qq);
                }
            }
        } else if (quant_i4_row(w + r * cols, cols, g, qv + r * cols, sc + r * groups) != 0) {
            snprintf(k->err, sizeof k->err, "cannot quantize %s", hfname);
        }
    }
    int u4 = v == MV_U4LEGACY || v == MV_U4ASYM;
    for (size_t i = 0; i < n; i++) put_nibble(packed, i, u4 && v == MV_U4LEGACY ? qv[i] + 8 : qv[i]);
    int64_t wshape[3] = {rows, groups, g}, sshape[3] = {rows, groups, 1};
    int rank = v == MV_I4CW ? 2 : 3;
    if (rank == 2) wshape[1] = cols, sshape[1] = 1;
    q = cst(k, name, u4 ? "u4" : "i4", wshape, rank, packed, n / 2);
    mk_ref cq = anon(k, "Convert", "destination_type=\"f16\"", 1, &q);
    snprintf(nm, sizeof nm, "%s/scale", name);
    scale = cst(k, nm, "f16", sshape, rank, sc, (size_t)(rows * groups) * 2);
    if (u4) {
        snprintf(nm, sizeof nm, "%s/zero_point", name);
        if (v == MV_U4LEGACY)
            for (int64_t i = 0; i < rows * groups; i++) put_nibble(zb, (size_t)i, 8);
        zp = cst(k, nm, "u4", sshape, rank, zb, (size_t)(rows * groups + 1) / 2);
        mk_ref cz = anon(k, "Convert", "destination_type=\"f16\"", 1, &zp);
        snprintf(nm, sizeof nm, "%s/zero_point/subtract", name);
        cq = op2(k, nm, "Subtract", "auto_broadcast=\"numpy\"", cq, cz);
    }
    snprintf(nm, sizeof nm, "%s/fq_weights_1", name);
    out = op2(k, nm, "Multiply", "auto_broadcast=\"numpy\"", cq, scale);
    if (rank == 3) {
        int64_t two = 2, target[2] = {rows, cols};
        mk_ref shape = cst(k, NULL, "i64", &two, 1, target, sizeof target);
        out = anon(k, "Reshape", "special_zero=\"false\"", 2, (mk_ref[]){out, shape});
    }
    free(qv);
    free(sc);
    free(zb);
    free(packed);
    return op(k, conv_name, "Convert", "destination_type=\"f32\"", 1, 1, &out);
}

/* ---- the graph ---------------------------------------------------------------------------- */

typedef struct {
    st_model *st;
    hfconfig cfg;
} mk_hf;

/* The tensor as floats (caller frees); NULL when absent. */
static float *hf_floats(const mk_hf *h, const char *name, int64_t *rows, int64_t *cols) {
    const st_tensor *t = st_model_find(h->st, name);
    if (!t || t->n_dims < 1) return NULL;
    *cols = (int64_t)t->shape[t->n_dims - 1];
    *rows = (int64_t)(t->n_elems / t->shape[t->n_dims - 1]);
    float *f = malloc((size_t)t->n_elems * sizeof *f);
    quant_dequantize_row(t->type, t->data, (int64_t)t->n_elems, f);
    return f;
}

static mk_ref linear(mk *k, const mk_hf *h, mk_ref x, const char *module, float *awq_div) {
    char hfname[200], nm[320];
    snprintf(hfname, sizeof hfname, "%s.weight", module);
    int64_t rows, cols;
    float *w = hf_floats(h, hfname, &rows, &cols);
    if (!w) {
        snprintf(k->err, sizeof k->err, "missing %s", hfname);
        return x;
    }
    if (awq_div) /* AWQ: rows divided, the activation multiplied back */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t i = 0; i < cols; i++) w[r * cols + i] /= awq_div[r];
    mk_ref wr = weight(k, hfname, module, w, rows, cols, 0);
    free(w);
    snprintf(nm, sizeof nm, "__module.%s/ov_ext::linear/MatMul", module);
    mk_ref y = op2(k, nm, "MatMul", "transpose_a=\"false\" transpose_b=\"true\"", x, wr);
    snprintf(hfname, sizeof hfname, "%s.bias", module);
    int64_t br, bc;
    float *b = hf_floats(h, hfname, &br, &bc);
    if (b) {
        snprintf(nm, sizeof nm, "self.%s", hfname);
        mk_ref bias = f32_const(k, nm, &bc, 1, b, (size_t)bc);
        free(b);
        snprintf(nm, sizeof nm, "__module.%s/ov_ext::linear/Add", module);
        y = op2(k, nm, "Add", "auto_broadcast=\"numpy\"", y, bias);
    }
    return y;
}

/* Decomposed RMSNorm as the exporter writes it; the weight is an unnamed Const. */
static mk_ref rmsnorm(mk *k, const mk_hf *h, mk_ref x, const char *module, int per_head) {
    char hfname[200], nm[320];
    snprintf(hfname, sizeof hfname, "%s.weight", module);
    int64_t rows, cols;
    float *w = hf_floats(h, hfname, &rows, &cols);
    if (!w) {
        snprintf(k->err, sizeof k->err, "missing %s", hfname);
        return x;
    }
    int64_t one3[4] = {1, 1, 1, 1};
    float two = 2.0f, eps = (float)h->cfg.norm_eps, unit = 1.0f;
    int rank = per_head ? 4 : 3;
    mk_ref c2 = f32_const(k, NULL, one3, rank, &two, 1);
    snprintf(nm, sizeof nm, "__module.%s/aten::pow/Power", module);
    mk_ref p = op2(k, nm, "Power", "auto_broadcast=\"numpy\"", x, c2);
    int64_t axis = -1, one = 1;
    mk_ref ax = cst(k, NULL, "i64", &one, 1, &axis, sizeof axis);
    snprintf(nm, sizeof nm, "__module.%s/aten::mean/ReduceMean", module);
    mk_ref mean = op2(k, nm, "ReduceMean", "keep_dims=\"true\"", p, ax);
    mk_ref ce = f32_const(k, NULL, one3, rank, &eps, 1);
    snprintf(nm, sizeof nm, "__module.%s/aten::add/Add", module);
    mk_ref add = op2(k, nm, "Add", "auto_broadcast=\"numpy\"", mean, ce);
    snprintf(nm, sizeof nm, "__module.%s/aten::rsqrt/Sqrt", module);
    mk_ref sq = op1(k, nm, "Sqrt", NULL, add);
    mk_ref c1 = f32_const(k, NULL, one3, rank, &unit, 1);
    snprintf(nm, sizeof nm, "__module.%s/aten::rsqrt/Divide", module);
    mk_ref dv = op2(k, nm, "Divide", "auto_broadcast=\"numpy\" m_pythondiv=\"true\"", c1, sq);
    snprintf(nm, sizeof nm, "__module.%s/aten::mul/Multiply", module);
    mk_ref mul = op2(k, nm, "Multiply", "auto_broadcast=\"numpy\"", x, dv);
    int64_t wshape[4] = {1, 1, 1, cols};
    if (!per_head) wshape[2] = cols;
    mk_ref wc = f32_const(k, NULL, wshape, rank, w, (size_t)cols);
    free(w);
    snprintf(nm, sizeof nm, "__module.%s/aten::mul/Multiply_1", module);
    return op2(k, nm, "Multiply", "auto_broadcast=\"numpy\"", wc, mul);
}

/* KV-cache decoy: ReadValue -> Concat(past, new) -> Assign, as the stateful export has. */
static mk_ref kv_state(mk *k, mk_ref init, mk_ref cur, int il, const char *kv) {
    char data[200], nm[100];
    snprintf(data, sizeof data, "variable_id=\"past_key_values.%d.%spresent.%d.%s\" variable_type=\"f32\" "
             "variable_shape=\"?,2,?,64\"", il, kv, il, kv);
    snprintf(nm, sizeof nm, "ReadValue_%d", 7185000 + k->next_id);
    mk_ref rv = op1(k, nm, "ReadValue", data, init);
    snprintf(nm, sizeof nm, "__module.model.layers.%d.self_attn/aten::cat/Concat_%s", il, kv);
    mk_ref cat = op2(k, nm, "Concat", "axis=\"-2\"", rv, cur);
    snprintf(nm, sizeof nm, "Assign_%d", 7186000 + k->next_id);
    snprintf(data, sizeof data, "variable_id=\"past_key_values.%d.%spresent.%d.%s\"", il, kv, il, kv);
    op1(k, nm, "Assign", data, cat);
    return cat;
}

static void build(mk *k, const mk_hf *h) {
    const hfconfig *c = &h->cfg;
    char mod[200], nm[300];
    /* 1 byte first: every later offset is odd */
    unsigned char flag = 1;
    int64_t one = 1;
    cst(k, NULL, "u8", &one, 1, &flag, 1);
    mk_ref ids = op(k, "input_ids", "Parameter", "shape=\"?,?\" element_type=\"i64\"", 0, 0, NULL);
    mk_ref mask = op(k, "attention_mask", "Parameter", "shape=\"?,?\" element_type=\"i64\"", 0, 0, NULL);
    mk_ref pos = op(k, "position_ids", "Parameter", "shape=\"?,?\" element_type=\"i64\"", 0, 0, NULL);
    op(k, "beam_idx", "Parameter", "shape=\"?\" element_type=\"i32\"", 0, 0, NULL);
    /* embedding */
    int64_t rows, cols;
    float *e = hf_floats(h, "model.embed_tokens.weight", &rows, &cols);
    if (!e) {
        snprintf(k->err, sizeof k->err, "missing model.embed_tokens.weight");
        return;
    }
    mk_ref emb = weight(k, "model.embed_tokens.weight", "model.embed_tokens", e, rows, cols, 1);
    free(e);
    int32_t zero = 0;
    mk_ref axis0 = cst(k, "__module.model.embed_tokens/ov_ext::embedding/Constant", "i32", NULL, 0, &zero, 4);
    mk_ref ids32 = op1(k, "__module.model.embed_tokens/ov_ext::embedding/Convert_1", "Convert",
                    "destination_type=\"i32\"", ids);
    mk_ref x = op(k, "__module.model.embed_tokens/ov_ext::embedding/Gather", "Gather", "batch_dims=\"0\"", 0, 3,
               (mk_ref[]){emb, ids32, axis0});
    /* rotary inv_freq, consumed by the cos/sin subgraph */
    int half = (int)c->rotary_dim / 2;
    float *inv = malloc((size_t)half * sizeof *inv);
    for (int i = 0; i < half; i++) inv[i] = (float)pow(c->rope_theta, -2.0 * i / (double)c->rotary_dim);
    int64_t ishape[3] = {1, half, 1};
    mk_ref invc = f32_const(k, "__module.model.rotary_emb/aten::to/Convert", ishape, 3, inv, (size_t)half);
    free(inv);
    mk_ref posf = op1(k, "__module.model.rotary_emb/aten::to/Convert_3", "Convert", "destination_type=\"f32\"", pos);
    mk_ref freqs = op2(k, "__module.model.rotary_emb/aten::matmul/MatMul", "MatMul",
                    "transpose_a=\"false\" transpose_b=\"false\"", invc, posf);
    mk_ref cosv = op1(k, "__module.model.rotary_emb/aten::cos/Cos", "Cos", NULL, freqs);
    mk_ref sinv = op1(k, "__module.model.rotary_emb/aten::sin/Sin", "Sin", NULL, freqs);
    float zf = 0;
    mk_ref init = f32_const(k, NULL, &one, 1, &zf, 1);
    for (int il = 0; il < c->num_hidden_layers && !k->err[0]; il++) {
        snprintf(mod, sizeof mod, "model.layers.%d.input_layernorm", il);
        mk_ref hn = rmsnorm(k, h, x, mod, 0);
        mk_ref q, kk, vv;
        snprintf(nm, sizeof nm, "model.layers.%d.self_attn.qkv_proj.weight", il);
        if (st_model_find(h->st, nm)) {
            snprintf(mod, sizeof mod, "model.layers.%d.self_attn.qkv_proj", il);
            mk_ref qkv = linear(k, h, hn, mod, NULL);
            q = anon(k, "VariadicSplit", NULL, 1, &qkv);
            kk = q, vv = q;
        } else {
            snprintf(mod, sizeof mod, "model.layers.%d.self_attn.q_proj", il);
            q = linear(k, h, hn, mod, NULL);
            snprintf(mod, sizeof mod, "model.layers.%d.self_attn.k_proj", il);
            kk = linear(k, h, hn, mod, NULL);
            snprintf(mod, sizeof mod, "model.layers.%d.self_attn.v_proj", il);
            vv = linear(k, h, hn, mod, NULL);
        }
        snprintf(nm, sizeof nm, "model.layers.%d.self_attn.q_norm.weight", il);
        if (st_model_find(h->st, nm)) {
            snprintf(mod, sizeof mod, "model.layers.%d.self_attn.q_norm", il);
            q = rmsnorm(k, h, q, mod, 1);
            snprintf(mod, sizeof mod, "model.layers.%d.self_attn.k_norm", il);
            kk = rmsnorm(k, h, kk, mod, 1);
        }
        snprintf(nm, sizeof nm, "__module.model.layers.%d.self_attn/aten::mul/Multiply_rope_q", il);
        q = op(k, nm, "Multiply", "auto_broadcast=\"numpy\"", 0, 2, (mk_ref[]){q, cosv});
        snprintf(nm, sizeof nm, "__module.model.layers.%d.self_attn/aten::mul/Multiply_rope_k", il);
        kk = op(k, nm, "Multiply", "auto_broadcast=\"numpy\"", 0, 2, (mk_ref[]){kk, sinv});
        kk = kv_state(k, init, kk, il, "key");
        vv = kv_state(k, init, vv, il, "value");
        snprintf(nm, sizeof nm, "__module.model.layers.%d.self_attn/aten::scaled_dot_product_attention/"
                 "ScaledDotProductAttention", il);
        mk_ref att = op(k, nm, "ScaledDotProductAttention", "causal=\"false\"", 0, 4, (mk_ref[]){q, kk, vv, mask});
        snprintf(mod, sizeof mod, "model.layers.%d.self_attn.o_proj", il);
        mk_ref o = linear(k, h, att, mod, NULL);
        snprintf(nm, sizeof nm, "__module.model.layers.%d/aten::add/Add", il);
        x = op2(k, nm, "Add", "auto_broadcast=\"numpy\"", x, o);
        snprintf(mod, sizeof mod, "model.layers.%d.post_attention_layernorm", il);
        hn = rmsnorm(k, h, x, mod, 0);
        mk_ref act;
        int64_t n_ff = c->intermediate_size;
        float *awq = NULL;
        if (k->v == MV_AWQ) { /* smooth factors in [0.5, 2), deterministic */
            awq = malloc((size_t)n_ff * sizeof *awq);
            for (int64_t i = 0; i < n_ff; i++) awq[i] = 0.5f + (float)((i * 37 + il * 11) % 64) / 42.0f;
        }
        snprintf(nm, sizeof nm, "model.layers.%d.mlp.gate_up_proj.weight", il);
        if (st_model_find(h->st, nm)) {
            snprintf(mod, sizeof mod, "model.layers.%d.mlp.gate_up_proj", il);
            float *div = NULL;
            if (awq) { /* rows [gate; up]: only the up half is divided */
                div = malloc((size_t)(2 * n_ff) * sizeof *div);
                for (int64_t i = 0; i < n_ff; i++) div[i] = 1.0f, div[n_ff + i] = awq[i];
            }
            mk_ref gu = linear(k, h, hn, mod, div);
            free(div);
            mk_ref g = anon(k, "VariadicSplit", NULL, 1, &gu);
            snprintf(nm, sizeof nm, "__module.model.layers.%d.mlp.activation_fn/aten::silu/Swish", il);
            mk_ref sw = op1(k, nm, "Swish", NULL, g);
            snprintf(nm, sizeof nm, "__module.model.layers.%d.mlp/aten::mul/Multiply", il);
            act = op2(k, nm, "Multiply", "auto_broadcast=\"numpy\"", sw, g);
        } else {
            snprintf(mod, sizeof mod, "model.layers.%d.mlp.gate_proj", il);
            mk_ref g = linear(k, h, hn, mod, NULL);
            snprintf(mod, sizeof mod, "model.layers.%d.mlp.up_proj", il);
            mk_ref u = linear(k, h, hn, mod, awq);
            snprintf(nm, sizeof nm, "__module.model.layers.%d.mlp.act_fn/aten::silu/Swish", il);
            mk_ref sw = op1(k, nm, "Swish", NULL, g);
            snprintf(nm, sizeof nm, "__module.model.layers.%d.mlp/aten::mul/Multiply", il);
            act = op2(k, nm, "Multiply", "auto_broadcast=\"numpy\"", sw, u);
        }
        if (awq) {
            mk_ref s = f32_const(k, NULL, &n_ff, 1, awq, (size_t)n_ff);
            snprintf(nm, sizeof nm, "__module.model.layers.%d.mlp.down_proj/ov_ext::linear/MatMul/awq_mul", il);
            act = op2(k, nm, "Multiply", "auto_broadcast=\"numpy\"", act, s);
            free(awq);
        }
        snprintf(mod, sizeof mod, "model.layers.%d.mlp.down_proj", il);
        mk_ref d = linear(k, h, act, mod, NULL);
        snprintf(nm, sizeof nm, "__module.model.layers.%d/aten::add/Add_1", il);
        x = op2(k, nm, "Add", "auto_broadcast=\"numpy\"", x, d);
    }
    if (k->err[0]) return;
    x = rmsnorm(k, h, x, "model.norm", 0);
    mk_ref logits;
    if (st_model_find(h->st, "lm_head.weight")) {
        float *w = hf_floats(h, "lm_head.weight", &rows, &cols);
        mk_ref wr = weight(k, "lm_head.weight", "lm_head", w, rows, cols, 1); /* u8 asym as embeddings */
        free(w);
        logits = op2(k, "__module.lm_head/ov_ext::linear/MatMul", "MatMul",
                     "transpose_a=\"false\" transpose_b=\"true\"", x, wr);
    } else { /* tied: the head reads the embedding's decompressed weight */
        logits = op2(k, "__module.lm_head/ov_ext::linear/MatMul", "MatMul",
                     "transpose_a=\"false\" transpose_b=\"true\"", x, emb);
    }
    op1(k, "Result_logits", "Result", NULL, logits);
}

static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb");
    if (!in) return errno == ENOENT ? 0 : -1;
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return -1;
    }
    char b[8192];
    size_t n;
    while ((n = fread(b, 1, sizeof b, in)) > 0) fwrite(b, 1, n, out);
    fclose(in);
    return fclose(out) == 0 ? 0 : -1;
}

/* Writes the IR folder `out_dir` (created if needed) from the HF folder `hf_dir`. Returns 0, or
 * -1 with a message in errbuf. */
int mkir_write(const char *hf_dir, const char *out_dir, const char *variant, char *errbuf, size_t errlen);
int mkir_write(const char *hf_dir, const char *out_dir, const char *variant, char *errbuf, size_t errlen) {
    mk k;
    memset(&k, 0, sizeof k);
    int vi = -1;
    for (size_t i = 0; i < sizeof g_variant_names / sizeof g_variant_names[0]; i++)
        if (!strcmp(variant, g_variant_names[i])) vi = (int)i;
    if (vi < 0) {
        snprintf(errbuf, errlen, "unknown variant '%s'", variant);
        return -1;
    }
    k.v = (mkir_variant)vi;
    mk_hf h;
    memset(&h, 0, sizeof h);
    lm_error err;
    err_clear(&err);
    if (hfconfig_load(hf_dir, &h.cfg, &err) != LM_OK || st_model_open(hf_dir, &h.st, &err) != LM_OK) {
        snprintf(errbuf, errlen, "%s", err.msg);
        st_model_close(h.st);
        return -1;
    }
    build(&k, &h);
    st_model_close(h.st);
    int rc = 0;
    if (k.err[0]) {
        snprintf(errbuf, errlen, "%s", k.err);
        rc = -1;
    }
    char path[4200];
    mkdir(out_dir, 0755);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/openvino_model.xml", out_dir);
        FILE *f = fopen(path, "wb");
        if (!f) {
            snprintf(errbuf, errlen, "cannot write %s", path);
            rc = -1;
        } else {
            fprintf(f, "<?xml version=\"1.0\"?>\n<net name=\"Model0\" version=\"11\">\n\t<layers>\n");
            fwrite(k.xml.data, 1, k.xml.len, f);
            fprintf(f, "\t</layers>\n\t<edges>\n");
            fwrite(k.edges.data, 1, k.edges.len, f);
            fprintf(f, "\t</edges>\n\t<rt_info>\n\t\t<nncf>\n\t\t\t<weight_compression>\n"
                       "\t\t\t\t<awq value=\"%s\" />\n\t\t\t\t<group_size value=\"%d\" />\n"
                       "\t\t\t\t<lora_correction value=\"False\" />\n\t\t\t\t<mode value=\"%s\" />\n"
                       "\t\t\t</weight_compression>\n\t\t</nncf>\n\t</rt_info>\n</net>\n",
                    k.v == MV_AWQ ? "True" : "False", k.v == MV_I4CW || k.v == MV_I8 || k.v == MV_U8ASYM ? -1 : 128,
                    g_variant_names[k.v]);
            if (fclose(f) != 0) rc = -1;
        }
        snprintf(path, sizeof path, "%s/openvino_model.bin", out_dir);
        f = fopen(path, "wb");
        if (!f || fwrite(k.bin, 1, k.bin_len, f) != k.bin_len) rc = -1;
        if (f && fclose(f) != 0) rc = -1;
        static const char *const files[] = {"config.json", "generation_config.json", "tokenizer.json",
                                            "tokenizer_config.json"};
        for (size_t i = 0; i < sizeof files / sizeof files[0] && rc == 0; i++) {
            char from[4200];
            snprintf(from, sizeof from, "%s/%s", hf_dir, files[i]);
            snprintf(path, sizeof path, "%s/%s", out_dir, files[i]);
            if (copy_file(from, path) != 0) {
                snprintf(errbuf, errlen, "cannot copy %s", from);
                rc = -1;
            }
        }
    }
    buf_fini(&k.xml);
    buf_fini(&k.edges);
    free(k.bin);
    return rc;
}

#ifndef MKIR_NO_MAIN
int main(int argc, char **argv) {
    const char *from = NULL, *out = NULL, *variant = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--from")) from = argv[i + 1];
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else if (!strcmp(argv[i], "--variant")) variant = argv[i + 1];
        else {
            fprintf(stderr, "mkir: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!from || !out || !variant) {
        fprintf(stderr, "usage: lmserve-mkir --from HF_DIR --out DIR --variant f32|f16|i4-cw|i4-g128|"
                        "u4-legacy|u4-asym|i8|u8-asym|awq\n");
        return 2;
    }
    char err[512];
    if (mkir_write(from, out, variant, err, sizeof err) != 0) {
        fprintf(stderr, "mkir: %s\n", err);
        return 1;
    }
    return 0;
}
#endif
