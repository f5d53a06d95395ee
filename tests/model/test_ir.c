/* test_ir.c — OpenVINO IR folders (src/model/ir.c) against their Hugging Face sources.
 *
 * tools/mkir.c (compiled in) writes each IR variant from the oracle HF models; every variant
 * must load into the tensors the HF source gives when quantized the same way (element for
 * element), and its logits must stay within the int4 accuracy of docs/engine.md. Hostile edits of
 * a good IR file must be refused with a message. */
#define MKIR_NO_MAIN
#include "../../tools/mkir.c"

#include <dirent.h>
#include <math.h>

#include "engine/engine.h"
#include "lmtest.h"
#include "model/ir.h"
#include "model/model.h"

static char g_tmp[64];

static const char *const g_sources[] = {"qwen3-hf-f32", "llama-hf-bf16", "qwen2-hf-bf16", "phi3-hf-bf16"};

static void make_ir(const char *source, const char *variant, char *out, size_t n) {
    char src[4300], err[512];
    snprintf(src, sizeof src, "%s", lmtest_data("oracles"));
    snprintf(src + strlen(src), sizeof src - strlen(src), "/%s", source);
    snprintf(out, n, "%s/%s-%s", g_tmp, source, variant);
    if (mkir_write(src, out, variant, err, sizeof err) != 0) fail_msg("mkir %s %s: %s", source, variant, err);
}

static model *load(const char *path, model_weight_format f, int group) {
    model_load_opts o = {f, group};
    model *m = NULL;
    lm_error err;
    err_clear(&err);
    if (model_load(path, &o, &m, &err) != LM_OK) fail_msg("load %s: %s", path, err.msg);
    return m;
}

static const char *hf_path(const char *source) {
    static char p[4300];
    snprintf(p, sizeof p, "%s/%s", lmtest_data("oracles"), source);
    return p;
}

/* Every matrix of every layer (the tensors the int4 conversion touches). */
#define N_LAYER_TENSORS (sizeof(model_layer) / sizeof(model_tensor))

static void assert_same_bits(const model_tensor *a, const model_tensor *b, const char *what) {
    assert_true(a->data && b->data);
    if (a->type != b->type || a->rows != b->rows || a->cols != b->cols)
        fail_msg("%s: %s %lldx%lld vs %s %lldx%lld", what, quant_type_name(a->type), (long long)a->rows,
                 (long long)a->cols, quant_type_name(b->type), (long long)b->rows, (long long)b->cols);
    if (memcmp(a->data, b->data, a->row_bytes * (size_t)a->rows) != 0) fail_msg("%s: bytes differ", what);
}

/* Rows dequantized to f32. */
static float *deq(const model_tensor *t) {
    float *f = malloc((size_t)(t->rows * t->cols) * sizeof *f);
    for (int64_t r = 0; r < t->rows; r++)
        quant_dequantize_row(t->type, (const unsigned char *)t->data + (size_t)r * t->row_bytes, t->cols,
                             f + r * t->cols);
    return f;
}

/* t re-quantized by lmserve from its own dequantized values: identical bits expected. */
static void assert_requant_identical(const model_tensor *t, const char *what) {
    float *f = deq(t);
    size_t rb = quant_row_bytes(t->type, t->cols);
    unsigned char *row = malloc(rb);
    lm_error err;
    err_clear(&err);
    for (int64_t r = 0; r < t->rows; r++) {
        assert_int_equal(quant_quantize_row(t->type, f + r * t->cols, t->cols, row, &err), LM_OK);
        if (memcmp(row, (const unsigned char *)t->data + (size_t)r * t->row_bytes, rb) != 0)
            fail_msg("%s row %lld: re-quantizing the dequantized row changes its bits", what, (long long)r);
    }
    free(row);
    free(f);
}

/* Each element of `t` is within one quantization step `step_frac` x row range of the source. */
static void assert_close_rows(const model_tensor *t, const model_tensor *src, double frac, const char *what) {
    float *a = deq(t), *b = deq(src);
    assert_int_equal(t->rows, src->rows);
    assert_int_equal(t->cols, src->cols);
    for (int64_t r = 0; r < t->rows; r++) {
        float mn = 0, mx = 0;
        for (int64_t i = 0; i < t->cols; i++) {
            float v = b[r * t->cols + i];
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
        double tol = (mx - mn) * frac + 1e-6;
        for (int64_t i = 0; i < t->cols; i++)
            if (fabs(a[r * t->cols + i] - b[r * t->cols + i]) > tol)
                fail_msg("%s [%lld,%lld] = %g, source %g (tolerance %g)", what, (long long)r, (long long)i,
                         (double)a[r * t->cols + i], (double)b[r * t->cols + i], tol);
    }
    free(a);
    free(b);
}

/* Logits at every position of a fixed prompt. */
static float *logits_all(const model *m, int n) {
    engine_params p = engine_params_default();
    p.n_ctx = 64;
    p.n_threads = 1;
    engine *e = NULL;
    lm_error err;
    err_clear(&err);
    if (engine_create(m, &p, &e, &err) != LM_OK) fail_msg("engine: %s", err.msg);
    int seq;
    assert_int_equal(engine_seq_open(e, &seq, &err), LM_OK);
    int32_t toks[32];
    for (int i = 0; i < n; i++) toks[i] = (int32_t)((i * 97 + 13) % m->hp.n_vocab);
    float *out = malloc((size_t)n * (size_t)m->hp.n_vocab * sizeof *out);
    engine_item it = {seq, toks, n, ENGINE_LOGITS_ALL, out};
    if (engine_step(e, &it, 1, &err) != LM_OK) fail_msg("step: %s", err.msg);
    engine_destroy(e);
    return out;
}

/* Largest KL(softmax(ref) || softmax(got)) over the positions. */
static double max_kl(const float *want, const float *got, int n, int vocab) {
    double worst = 0;
    for (int t = 0; t < n; t++) {
        const float *a = want + (size_t)t * vocab, *b = got + (size_t)t * vocab;
        double ma = a[0], mb = b[0], sa = 0, sb = 0;
        for (int i = 0; i < vocab; i++) ma = a[i] > ma ? a[i] : ma, mb = b[i] > mb ? b[i] : mb;
        for (int i = 0; i < vocab; i++) sa += exp(a[i] - ma), sb += exp(b[i] - mb);
        double kl = 0;
        for (int i = 0; i < vocab; i++) {
            double la = a[i] - ma - log(sa), lb = b[i] - mb - log(sb);
            kl += exp(la) * (la - lb);
        }
        worst = kl > worst ? kl : worst;
    }
    return worst;
}

static double kl_between(const model *want, const model *got) {
    int n = 24;
    float *a = logits_all(want, n), *b = logits_all(got, n);
    double kl = max_kl(a, b, n, want->hp.n_vocab);
    free(a);
    free(b);
    return kl;
}

/* ---- variants against their sources --------------------------------------------------------- */

/* int4 group 128 (and the legacy u4 + zero point 8 form): bit-identical to lmserve's own int4 g128
 * of the HF floats, tensor by tensor. */
static void test_int4_group_bit_identical(void **state) {
    static const char *const variants[] = {"i4-g128", "u4-legacy"};
    for (size_t s = 0; s < sizeof g_sources / sizeof g_sources[0]; s++) {
        model *hq = load(hf_path(g_sources[s]), MODEL_WEIGHTS_INT4, 128);
        model *fp = load(hf_path(g_sources[s]), MODEL_WEIGHTS_FP32, 0);
        for (size_t v = 0; v < 2; v++) {
            char dir[4400], what[128];
            make_ir(g_sources[s], variants[v], dir, sizeof dir);
            model *ir = load(dir, MODEL_WEIGHTS_AS_STORED, 0);
            for (int il = 0; il < hq->hp.n_layer; il++) {
                const model_tensor *a = (const model_tensor *)&ir->layers[il], *b = (const model_tensor *)&hq->layers[il];
                for (size_t i = 0; i < N_LAYER_TENSORS; i++) {
                    snprintf(what, sizeof what, "%s %s layer %d tensor %zu", g_sources[s], variants[v], il, i);
                    if (!b[i].data) {
                        assert_null(a[i].data);
                        continue;
                    }
                    if (b[i].rows == 1) { /* norms, biases: the source's values (f32) */
                        assert_int_equal(a[i].cols, b[i].cols);
                        if (memcmp(a[i].data, ((const model_tensor *)&fp->layers[il])[i].data, (size_t)a[i].cols * 4))
                            fail_msg("%s: vector differs", what);
                        continue;
                    }
                    assert_same_bits(&a[i], &b[i], what);
                }
            }
            /* the embedding is u8 asymmetric per row: within half a step (range / 255) */
            assert_close_rows(&ir->tok_embd, &fp->tok_embd, 0.5 / 255 + 1e-3, "embedding");
            double kl = kl_between(hq, ir);
            if (kl > 1e-3) fail_msg("%s %s: KL vs HF int4 g128 %g", g_sources[s], variants[v], kl);
            kl = kl_between(fp, ir);
            if (kl > 2e-2) fail_msg("%s %s: KL vs HF fp32 %g, over the int4 tolerance", g_sources[s], variants[v], kl);
            model_destroy(ir);
        }
        model_destroy(hq);
        model_destroy(fp);
    }
}

/* Channel-wise int4 and int8: the engine's per-row types, the IR's f16 scale kept exactly (so
 * quantizing the dequantized rows again gives the same bits), within a step of the source. */
static void test_channelwise(void **state) {
    static const struct { const char *v; ggml_type t; double frac, kl; } cases[] = {
        {"i4-cw", LM_TYPE_I4_CH, 1.0 / 15 + 1e-3, 2e-2},
        {"i8", LM_TYPE_I8_CH, 1.0 / 254 + 1e-3, 1e-3},
    };
    for (size_t s = 0; s < sizeof g_sources / sizeof g_sources[0]; s++) {
        model *fp = load(hf_path(g_sources[s]), MODEL_WEIGHTS_FP32, 0);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            char dir[4400], what[128];
            make_ir(g_sources[s], cases[c].v, dir, sizeof dir);
            model *ir = load(dir, MODEL_WEIGHTS_AS_STORED, 0);
            for (int il = 0; il < ir->hp.n_layer; il++) {
                const model_tensor *a = (const model_tensor *)&ir->layers[il], *b = (const model_tensor *)&fp->layers[il];
                for (size_t i = 0; i < N_LAYER_TENSORS; i++) {
                    if (!a[i].data || a[i].rows == 1) continue;
                    snprintf(what, sizeof what, "%s %s layer %d tensor %zu", g_sources[s], cases[c].v, il, i);
                    assert_int_equal(a[i].type, cases[c].t);
                    assert_requant_identical(&a[i], what);
                    assert_close_rows(&a[i], &b[i], cases[c].frac, what);
                }
            }
            double kl = kl_between(fp, ir);
            if (kl > cases[c].kl) fail_msg("%s %s: KL vs HF fp32 %g", g_sources[s], cases[c].v, kl);
            model_destroy(ir);
        }
        model_destroy(fp);
    }
}

/* Plain and asymmetric variants: f32 is the source exactly, f16 its rounding, u4/u8 asymmetric
 * within half a step (as f16); AWQ folds its activation factors back into the up projection. */
static void test_plain_asym_awq(void **state) {
    static const struct { const char *v; double frac, kl; } cases[] = {
        {"f32", 0, 1e-9}, {"f16", 1e-3, 1e-4}, {"u4-asym", 0.5 / 15 + 2e-3, 2e-2},
        {"u8-asym", 0.5 / 255 + 1e-3, 1e-3}, {"awq", 1.0 / 15 + 1e-2, 2e-2},
    };
    for (size_t s = 0; s < sizeof g_sources / sizeof g_sources[0]; s++) {
        model *fp = load(hf_path(g_sources[s]), MODEL_WEIGHTS_FP32, 0);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            char dir[4400], what[128];
            make_ir(g_sources[s], cases[c].v, dir, sizeof dir);
            model *ir = load(dir, MODEL_WEIGHTS_AS_STORED, 0);
            for (int il = 0; il < ir->hp.n_layer && cases[c].frac >= 0; il++) {
                const model_tensor *a = (const model_tensor *)&ir->layers[il], *b = (const model_tensor *)&fp->layers[il];
                for (size_t i = 0; i < N_LAYER_TENSORS; i++) {
                    if (!a[i].data) continue;
                    snprintf(what, sizeof what, "%s %s layer %d tensor %zu", g_sources[s], cases[c].v, il, i);
                    assert_close_rows(&a[i], &b[i], a[i].rows == 1 ? 0 : cases[c].frac, what);
                }
            }
            double kl = kl_between(fp, ir);
            if (kl > cases[c].kl) fail_msg("%s %s: KL vs HF fp32 %g", g_sources[s], cases[c].v, kl);
            model_destroy(ir);
        }
        model_destroy(fp);
    }
}

/* ---- refusals and hostile files ------------------------------------------------------------- */

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    b[len] = '\0';
    *n = (size_t)len;
    return b;
}

static void write_all(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* Replaces the first `from` in the model's XML by `to` (the whole text after it when to == NULL:
 * truncation), then expects model_load to fail with a message containing `expect`. */
static void expect_refused(const char *dir, const char *xml, const char *from, const char *to,
                           const char *expect) {
    const char *at = strstr(xml, from);
    if (!at) fail_msg("test setup: '%s' not in the XML", from);
    lm_buf b = {0};
    buf_append(&b, xml, (size_t)(at - xml));
    if (to) {
        buf_append_str(&b, to);
        buf_append_str(&b, at + strlen(from));
    }
    char path[4500];
    snprintf(path, sizeof path, "%s/openvino_model.xml", dir);
    write_all(path, b.data, b.len);
    buf_fini(&b);
    model *m = NULL;
    lm_error err;
    err_clear(&err);
    lm_status s = model_load(dir, NULL, &m, &err);
    if (s == LM_OK) fail_msg("edit '%s' -> '%s' was accepted", from, to ? to : "(truncated)");
    assert_null(m);
    if (!strstr(err.msg, expect)) fail_msg("edit '%s': message '%s' lacks '%s'", from, err.msg, expect);
}

static void test_hostile(void **state) {
    char dir[4400];
    make_ir("qwen3-hf-f32", "i4-g128", dir, sizeof dir);
    char path[4500];
    snprintf(path, sizeof path, "%s/openvino_model.xml", dir);
    size_t n;
    char *xml = read_all(path, &n);
    expect_refused(dir, xml, "<layer id=\"40\"", NULL, "still open");
    expect_refused(dir, xml, "</net>", "</nett>", "does not close");
    expect_refused(dir, xml, "version=\"11\"", "version=\"9\"", "IR version '9'");
    expect_refused(dir, xml, "offset=\"1\" size=\"131072\"", "offset=\"99999999\" size=\"131072\"", "past the end");
    expect_refused(dir, xml, "offset=\"1\" size=\"131072\"", "offset=\"1\" size=\"131070\"", "does not match");
    expect_refused(dir, xml, "shape=\"512, 256\" offset=\"1\"", "shape=\"512, 99999999999999999\" offset=\"1\"",
                   "absurd shape");
    expect_refused(dir, xml, "<layer id=\"1\" ", "<layer id=\"0\" ", "two layers have id 0");
    expect_refused(dir, xml, "\t</edges>", "<edge from-layer=\"999999\" from-port=\"0\" to-layer=\"1\" to-port=\"0\" /></edges>",
                   "does not exist");
    { /* one input port fed twice: the first edge repeated */
        const char *e0 = strstr(xml, "<edge "), *e1 = e0 ? strstr(e0, "/>") : NULL;
        assert_non_null(e1);
        char dup[256];
        snprintf(dup, sizeof dup, "%.*s%.*s", (int)(e1 + 2 - e0), e0, (int)(e1 + 2 - e0), e0);
        char first[256];
        snprintf(first, sizeof first, "%.*s", (int)(e1 + 2 - e0), e0);
        expect_refused(dir, xml, first, dup, "has two inputs");
    }
    expect_refused(dir, xml, "type=\"Swish\"", "type=\"GroupedMatMul\"", "mixture-of-experts");
    expect_refused(dir, xml, "<lora_correction value=\"False\" />", "<lora_correction value=\"True\" />", "LoRA");
    expect_refused(dir, xml, "element_type=\"i4\"", "element_type=\"nf4\"", "nf4");
    expect_refused(dir, xml, "transpose_a=\"false\" transpose_b=\"true\"", "transpose_a=\"false\" transpose_b=\"false\"",
                   "transpose_b");
    expect_refused(dir, xml, "<?xml", "<!DOCTYPE x [<!ENTITY a \"b\">]><?xml", "DOCTYPE");
    expect_refused(dir, xml, "name=\"Model0\"", "name=\"Model0\" name=\"x\"", "duplicate attribute");
    free(xml);
}

/* A cycle through layers whose ports are otherwise free is found by the topological check. */
static void test_cycle(void **state) {
    static const char xml[] =
        "<?xml version=\"1.0\"?><net name=\"x\" version=\"11\"><layers>"
        "<layer id=\"1\" name=\"a\" type=\"Relu\" version=\"opset1\"/>"
        "<layer id=\"2\" name=\"b\" type=\"Relu\" version=\"opset1\"/>"
        "</layers><edges><edge from-layer=\"1\" from-port=\"1\" to-layer=\"2\" to-port=\"0\"/>"
        "<edge from-layer=\"2\" from-port=\"1\" to-layer=\"1\" to-port=\"0\"/></edges></net>";
    ir_model *m = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(ir_model_parse(xml, sizeof xml - 1, "", 0, &m, &err), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "cycle"));
}

/* config.json that disagrees with the graph's inv_freq, and an architecture lmserve lacks. */
static void test_config_checks(void **state) {
    char dir[4400], path[4500];
    make_ir("llama-hf-bf16", "i4-cw", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t n;
    char *cfg = read_all(path, &n);
    char *at = strstr(cfg, "\"rope_theta\": 10000.0");
    assert_non_null(at);
    lm_buf b = {0};
    buf_append(&b, cfg, (size_t)(at - cfg));
    buf_append_str(&b, "\"rope_theta\": 500000.0");
    buf_append_str(&b, at + strlen("\"rope_theta\": 10000.0"));
    write_all(path, b.data, b.len);
    model *m = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_not_equal(model_load(dir, NULL, &m, &err), LM_OK);
    assert_non_null(strstr(err.msg, "inv_freq"));
    buf_reset(&b);
    at = strstr(cfg, "\"model_type\": \"llama\"");
    assert_non_null(at);
    buf_append(&b, cfg, (size_t)(at - cfg));
    buf_append_str(&b, "\"model_type\": \"gemma3\"");
    buf_append_str(&b, at + strlen("\"model_type\": \"llama\""));
    write_all(path, b.data, b.len);
    err_clear(&err);
    assert_int_not_equal(model_load(dir, NULL, &m, &err), LM_OK);
    assert_non_null(strstr(err.msg, "gemma3"));
    buf_fini(&b);
    free(cfg);
}

static int setup(void **state) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/lmtest_ir_XXXXXX");
    return mkdtemp(g_tmp) ? 0 : -1;
}

static int teardown(void **state) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int4_group_bit_identical),
        cmocka_unit_test(test_channelwise),
        cmocka_unit_test(test_plain_asym_awq),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_config_checks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
