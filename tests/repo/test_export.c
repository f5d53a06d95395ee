/* tests/repo/test_export.c — `lmserve export`: the options (optimum-style quantization
 * parameters, the NPU rules and what they print), exports of the oracle models (Hugging Face
 * folders and GGUF files, every architecture family, int4/int8/fp16/bf16/fp32) that must load as
 * stored into exactly the model, and the logits, that loading the source with the same format
 * gives, with no conversion at load; tokenizers travelling along (files, GGUF metadata); the
 * folder appearing whole or not at all; hostile edits of an exported file; the command line. */
#include "lmtest.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "engine/engine.h"
#include "model/gguf.h"
#include "model/model.h"
#include "repo/export.h"
#include "tokenizer/tokenizer.h"

static char g_dir[256];
static int32_t g_ids[64];
static int g_n_ids;

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/lm_test_export_XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    json_error_t jerr;
    json_t *index = json_load_file(lmtest_data("oracles/index.json"), 0, &jerr);
    if (!index) return -1;
    json_t *seq = json_object_get(json_object_get(index, "sequences"), "short");
    for (size_t i = 0; i < json_array_size(seq) && g_n_ids < 64; i++)
        g_ids[g_n_ids++] = (int32_t)json_integer_value(json_array_get(seq, i));
    json_decref(index);
    return g_n_ids > 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *rel) {
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, rel);
    return p[k];
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Reads a whole file (NUL-terminated); *size gets its length. */
static char *slurp(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    lm_buf b = {0};
    char chunk[1 << 14];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) buf_append(&b, chunk, n);
    fclose(fp);
    if (size) *size = b.len;
    if (!b.data) buf_append(&b, "", 0);
    return b.data;
}

static void expect_msg(const lm_error *err, const char *needle) {
    if (!strstr(err->msg, needle)) fail_msg("message '%s' lacks '%s'", err->msg, needle);
}

/* ---- options ------------------------------------------------------------------------------- */

static void test_parse_quant_params(void **state) {
    (void)state;
    repo_export_quant q;
    lm_error err;
    err_clear(&err);
    assert_int_equal(repo_export_parse_quant(NULL, &q, &err), LM_OK);
    assert_false(q.has_sym || q.has_ratio || q.has_group);
    assert_true(q.ratio == 1.0);
    assert_int_equal(repo_export_parse_quant("  --sym --ratio 1.0 --group-size -1 ", &q, &err), LM_OK);
    assert_true(q.sym && q.has_sym && q.has_ratio && q.has_group);
    assert_int_equal(q.group_size, -1);
    assert_int_equal(repo_export_parse_quant("--ratio=0.5\t--group_size=64", &q, &err), LM_OK);
    assert_true(q.ratio == 0.5);
    assert_int_equal(q.group_size, 64);
    assert_false(q.has_sym);

    static const struct { const char *text; lm_status want; const char *msg; } bad[] = {
        {"--awq --sym", LM_ERR_UNSUPPORTED, "--awq is not supported"},
        {"--sym --scale-estimation", LM_ERR_UNSUPPORTED, "calibration"},
        {"--dataset wikitext2", LM_ERR_UNSUPPORTED, "--dataset"},
        {"--all-layers", LM_ERR_UNSUPPORTED, "embedding"},
        {"--symmetric", LM_ERR_INVALID, "unknown option '--symmetric'"},
        {"sym", LM_ERR_INVALID, "unknown option 'sym'"},
        {"--ratio", LM_ERR_INVALID, "--ratio needs a value"},
        {"--ratio abc", LM_ERR_INVALID, "'abc' is not a number"},
        {"--group-size 12x", LM_ERR_INVALID, "'12x'"},
        {"--group-size -5", LM_ERR_INVALID, "'-5'"},
        {"--sym=1", LM_ERR_INVALID, "takes no value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear(&err);
        assert_int_equal(repo_export_parse_quant(bad[i].text, &q, &err), bad[i].want);
        expect_msg(&err, bad[i].msg);
    }
}

/* Resolves the options, returning the notes printed. */
static lm_status resolve(const char *format, const char *params, const char *device,
                         model_load_opts *lo, char **notes, lm_error *err) {
    size_t len;
    FILE *f = open_memstream(notes, &len);
    assert_non_null(f);
    repo_export_opts o = {.weight_format = format, .quant_params = params, .target_device = device};
    err_clear(err);
    lm_status s = repo_export_resolve(&o, lo, f, err);
    fclose(f);
    return s;
}

static void test_resolve_formats(void **state) {
    (void)state;
    model_load_opts lo;
    lm_error err;
    char *notes;
    /* export_model.py's default is int8; lmserve notes that it is symmetric */
    assert_int_equal(resolve(NULL, NULL, NULL, &lo, &notes, &err), LM_OK);
    assert_int_equal(lo.format, MODEL_WEIGHTS_INT8);
    assert_non_null(strstr(notes, "symmetrically"));
    free(notes);
    assert_int_equal(resolve("int4", "--sym", "CPU", &lo, &notes, &err), LM_OK);
    assert_int_equal(lo.format, MODEL_WEIGHTS_INT4);
    assert_int_equal(lo.group_size, 128);
    assert_string_equal(notes, "");
    free(notes);
    assert_int_equal(resolve("int4", "--sym --group-size 32 --ratio 1", NULL, &lo, &notes, &err), LM_OK);
    assert_int_equal(lo.group_size, 32);
    free(notes);
    assert_int_equal(resolve("int8", "--sym --group-size 64", NULL, &lo, &notes, &err), LM_OK);
    assert_int_equal(lo.format, MODEL_WEIGHTS_INT8);
    assert_non_null(strstr(notes, "int4 only"));
    free(notes);
    assert_int_equal(resolve("fp16", "--sym", NULL, &lo, &notes, &err), LM_OK);
    assert_int_equal(lo.format, MODEL_WEIGHTS_FP16);
    assert_non_null(strstr(notes, "ignored for fp16"));
    free(notes);
    assert_int_equal(resolve("bf16", NULL, "GPU", &lo, &notes, &err), LM_OK);
    assert_non_null(strstr(notes, "runs models on the CPU"));
    free(notes);
    /* refusals */
    assert_int_equal(resolve("int3", NULL, NULL, &lo, &notes, &err), LM_ERR_INVALID);
    expect_msg(&err, "int3");
    free(notes);
    assert_int_equal(resolve("int4", "--sym --group-size 48", NULL, &lo, &notes, &err), LM_ERR_INVALID);
    expect_msg(&err, "-1 (channel-wise), 32, 64 or 128");
    free(notes);
    assert_int_equal(resolve("int4", "--sym --ratio 0.8", NULL, &lo, &notes, &err), LM_ERR_UNSUPPORTED);
    expect_msg(&err, "--ratio 0.8");
    free(notes);
    assert_int_equal(resolve("int4", "--ratio 1.5", NULL, &lo, &notes, &err), LM_ERR_INVALID);
    free(notes);
}

static void test_resolve_npu(void **state) {
    (void)state;
    model_load_opts lo;
    lm_error err;
    char *notes;
    /* as export_model.py: int4, and its parameters when none are given */
    assert_int_equal(resolve("int8", NULL, "NPU", &lo, &notes, &err), LM_OK);
    assert_int_equal(lo.format, MODEL_WEIGHTS_INT4);
    assert_int_equal(lo.group_size, -1);
    assert_non_null(strstr(notes, "changing --weight-format int8 to int4"));
    assert_non_null(strstr(notes, "--sym --ratio 1.0 --group-size -1"));
    free(notes);
    /* given parameters are overridden, each change said */
    assert_int_equal(resolve("int4", "--ratio 0.8 --group-size 128", "NPU", &lo, &notes, &err), LM_OK);
    assert_int_equal(lo.format, MODEL_WEIGHTS_INT4);
    assert_int_equal(lo.group_size, -1);
    assert_null(strstr(notes, "changing --weight-format"));
    assert_non_null(strstr(notes, "(--sym) enforced"));
    assert_non_null(strstr(notes, "--ratio 0.8 changed to 1.0"));
    assert_non_null(strstr(notes, "--group-size 128 changed to -1"));
    free(notes);
    /* already NPU-shaped: nothing to say */
    assert_int_equal(resolve("int4", "--sym --ratio 1.0 --group-size -1", "NPU", &lo, &notes, &err), LM_OK);
    assert_string_equal(notes, "");
    free(notes);
}

/* ---- exports of the oracle models ------------------------------------------------------------ */

static void same_tensor(const model_tensor *a, const model_tensor *b, const char *what) {
    if (!a->data != !b->data) fail_msg("%s: present in one model only", what);
    if (!a->data) return;
    if (a->type != b->type || a->cols != b->cols || a->rows != b->rows || a->row_bytes != b->row_bytes)
        fail_msg("%s: type %d [%lld x %lld] vs type %d [%lld x %lld]", what, a->type, (long long)a->cols,
                 (long long)a->rows, b->type, (long long)b->cols, (long long)b->rows);
    if (memcmp(a->data, b->data, a->row_bytes * (size_t)a->rows) != 0) fail_msg("%s: bytes differ", what);
}

static void same_model(const model *a, const model *b) {
    assert_string_equal(a->arch.name, b->arch.name);
    assert_int_equal(a->arch.norm, b->arch.norm);
    assert_int_equal(a->arch.ffn, b->arch.ffn);
    assert_int_equal(a->arch.rope_pairs, b->arch.rope_pairs);
    assert_int_equal(a->arch.parallel, b->arch.parallel);
    assert_memory_equal(&a->hp, &b->hp, sizeof a->hp);
    same_tensor(&a->tok_embd, &b->tok_embd, "tok_embd");
    same_tensor(&a->output_norm, &b->output_norm, "output_norm");
    same_tensor(&a->output_norm_b, &b->output_norm_b, "output_norm_b");
    same_tensor(&a->output, &b->output, "output");
    same_tensor(&a->output_b, &b->output_b, "output_b");
    same_tensor(&a->rope_freqs, &b->rope_freqs, "rope_freqs");
    assert_int_equal(a->output.data == a->tok_embd.data, b->output.data == b->tok_embd.data);
    char what[64];
    for (int il = 0; il < a->hp.n_layer; il++) {
        const model_tensor *ta = (const model_tensor *)&a->layers[il], *tb = (const model_tensor *)&b->layers[il];
        for (size_t i = 0; i < sizeof(model_layer) / sizeof(model_tensor); i++) {
            snprintf(what, sizeof what, "layer %d field %zu", il, i);
            same_tensor(&ta[i], &tb[i], what);
        }
    }
}

/* All positions' logits of the oracle's short sequence (F32 KV cache). */
static float *logits_of(const model *m) {
    engine_params p = engine_params_default();
    p.kv_type = GGML_TYPE_F32;
    p.n_ctx = 128;
    engine *e = NULL;
    lm_error err;
    err_clear(&err);
    if (engine_create(m, &p, &e, &err) != LM_OK) fail_msg("engine: %s", err.msg);
    int seq;
    assert_int_equal(engine_seq_open(e, &seq, &err), LM_OK);
    float *logits = malloc((size_t)g_n_ids * (size_t)m->hp.n_vocab * sizeof *logits);
    assert_non_null(logits);
    engine_item it = {seq, g_ids, g_n_ids, ENGINE_LOGITS_ALL, logits};
    if (engine_step(e, &it, 1, &err) != LM_OK) fail_msg("step: %s", err.msg);
    engine_destroy(e);
    return logits;
}

typedef struct {
    const char *source;     /* under tests/data/oracles */
    const char *format;
    const char *params;
    ggml_type want_type;    /* type of blk.0's output projection in the export */
} export_case;

static void export_and_compare(const export_case *c) {
    char src[4200], name[128];
    snprintf(name, sizeof name, "oracles/%s", c->source);
    snprintf(src, sizeof src, "%s", lmtest_data(name));
    snprintf(name, sizeof name, "%s-%s%s", c->source, c->format, c->params ? "-p" : "");
    for (char *p = name; *p; p++)
        if (*p == '/') *p = '_';
    repo_export_opts o = {.source_model = src, .repository = tmp_path("repo"), .model_name = name,
                          .weight_format = c->format, .quant_params = c->params};
    repo_export_result res;
    lm_error err;
    err_clear(&err);
    if (repo_export_run(&o, &res, NULL, &err) != LM_OK) fail_msg("%s as %s: %s", c->source, c->format, err.msg);
    assert_false(res.skipped);
    assert_true(res.model_bytes > 0 && res.source_bytes > 0 && res.n_tensors > 0);
    char gguf[4400];
    snprintf(gguf, sizeof gguf, "%s/model.gguf", res.dir);
    struct stat st;
    assert_int_equal(stat(gguf, &st), 0);
    assert_int_equal((uint64_t)st.st_size, res.model_bytes);

    model *want = NULL, *got = NULL;
    err_clear(&err);
    if (model_load(src, &res.format, &want, &err) != LM_OK) fail_msg("source: %s", err.msg);
    if (model_load(res.dir, NULL, &got, &err) != LM_OK) fail_msg("export: %s", err.msg);
    /* no work at start-up: every weight is a view into the mapped model.gguf */
    assert_non_null(got->gguf);
    assert_int_equal(got->n_owned, 0);
    assert_int_equal(got->layers[0].wo.type, c->want_type);
    same_model(want, got);
    size_t n = (size_t)g_n_ids * (size_t)want->hp.n_vocab;
    float *a = logits_of(want), *b = logits_of(got);
    if (memcmp(a, b, n * sizeof *a) != 0) fail_msg("%s as %s: logits differ", c->source, c->format);
    print_message("  %-22s %-5s %-34s %8llu -> %8llu bytes, identical logits\n", c->source, c->format,
                  c->params ? c->params : "", (unsigned long long)res.source_bytes,
                  (unsigned long long)res.model_bytes);
    free(a);
    free(b);
    model_destroy(want);
    model_destroy(got);
}

static void test_hf_exports_match_load_time_conversion(void **state) {
    (void)state;
    static const export_case cases[] = {
        {"qwen3-hf-f32", "int4", "--sym --ratio 1.0 --group-size -1", LM_TYPE_I4_CH},
        {"qwen3-hf-f32", "int4", NULL, LM_TYPE_I4_G128},
        {"qwen3-hf-f32", "int8", NULL, LM_TYPE_I8_CH},
        {"qwen3-hf-f32", "bf16", NULL, GGML_TYPE_BF16},
        {"qwen3-hf-f32", "fp32", NULL, GGML_TYPE_F32}, /* as stored: the tied head stays tied */
        {"llama-hf-bf16", "int4", "--sym --group-size -1", LM_TYPE_I4_CH}, /* NeoX pairs */
        {"llama-hf-bf16", "int8", NULL, LM_TYPE_I8_CH},
        {"llama-hf-bf16", "fp16", NULL, GGML_TYPE_F16},
        {"llama3-hf-bf16", "int4", "--group-size 64", LM_TYPE_I4_G64}, /* computed rope factors */
        {"qwen2-hf-bf16", "int4", "--group-size 32", LM_TYPE_I4_G32},  /* biases */
        {"qwen2-hf-bf16", "int8", NULL, LM_TYPE_I8_CH},
        {"phi3-hf-bf16", "int4", NULL, LM_TYPE_I4_G128},               /* fused qkv, gate_up */
        {"phi3-hf-bf16", "int8", NULL, LM_TYPE_I8_CH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) export_and_compare(&cases[i]);
}

static void test_gguf_exports_match_load_time_conversion(void **state) {
    (void)state;
    static const export_case cases[] = {
        {"llama-f16/model.gguf", "int8", NULL, LM_TYPE_I8_CH},       /* adjacent pairs */
        {"llama-f16/model.gguf", "int4", "--group-size -1", LM_TYPE_I4_CH},
        {"falcon-f16/model.gguf", "int4", NULL, LM_TYPE_I4_G128},    /* fused qkv, LayerNorm */
        {"phi2-f32/model.gguf", "int8", NULL, LM_TYPE_I8_CH},        /* biases, partial rotary */
        {"phi3-f32/model.gguf", "int4", "--group-size 64", LM_TYPE_I4_G64},
        {"qwen3-bf16/model.gguf", "fp16", NULL, GGML_TYPE_F16},
        {"llama3-f16/model.gguf", "int4", NULL, LM_TYPE_I4_G128},    /* rope_freqs tensor */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) export_and_compare(&cases[i]);
}

/* The rotary pairing is stated in the file: NeoX for Hugging Face llama (q/k rows as
 * transformers keeps them), adjacent for a GGUF llama (rows permuted by its converter). */
static void test_rope_pairs_recorded(void **state) {
    (void)state;
    static const struct { const char *src, *name, *want; } cases[] = {
        {"llama-hf-bf16", "pairs-hf", "neox"},
        {"llama-f16/model.gguf", "pairs-gguf", "adjacent"},
        {"qwen2-hf-bf16", "pairs-qwen2", "neox"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char src[4200], rel[128];
        snprintf(rel, sizeof rel, "oracles/%s", cases[i].src);
        snprintf(src, sizeof src, "%s", lmtest_data(rel));
        repo_export_opts o = {.source_model = src, .repository = tmp_path("repo"),
                              .model_name = cases[i].name, .weight_format = "int8"};
        repo_export_result res;
        lm_error err;
        err_clear(&err);
        assert_int_equal(repo_export_run(&o, &res, NULL, &err), LM_OK);
        char path[4400];
        snprintf(path, sizeof path, "%s/model.gguf", res.dir);
        gguf_file *f;
        assert_int_equal(gguf_open(path, &f, &err), LM_OK);
        gguf_str s;
        assert_int_equal(gguf_get_str(f, "lmserve.rope.pairs", &s, &err), LM_OK);
        assert_true(gguf_str_eq(s, cases[i].want));
        assert_int_equal(gguf_get_str(f, "lmserve.weight_format", &s, &err), LM_OK);
        assert_true(gguf_str_eq(s, "int8"));
        gguf_close(f);
    }
}

/* ---- tokenizers ----------------------------------------------------------------------------- */

static void same_tokens(const tok_tokenizer *a, const tok_tokenizer *b, const char *text) {
    tok_ids x = {0}, y = {0};
    lm_error err;
    err_clear(&err);
    assert_int_equal(tok_encode(a, text, strlen(text), 1, &x, &err), LM_OK);
    assert_int_equal(tok_encode(b, text, strlen(text), 1, &y, &err), LM_OK);
    assert_true(x.n > 1);
    assert_int_equal(x.n, y.n);
    assert_memory_equal(x.ids, y.ids, x.n * sizeof *x.ids);
    tok_ids_fini(&x);
    tok_ids_fini(&y);
}

/* A GGUF source's vocabulary moves into the new file: the folder tokenizes as the source did. */
static void test_gguf_tokenizer_metadata_copied(void **state) {
    (void)state;
    repo_export_opts o = {.source_model = lmtest_demo_model(), .repository = tmp_path("repo"),
                          .weight_format = "fp16"};
    repo_export_result res;
    lm_error err;
    err_clear(&err);
    if (repo_export_run(&o, &res, NULL, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_non_null(strstr(res.dir, "/stories260K")); /* the default name: file name less .gguf */
    assert_int_equal(res.side_bytes, 0);
    tok_tokenizer *a = NULL, *b = NULL;
    assert_int_equal(tok_load_path(lmtest_demo_model(), &a, &err), LM_OK);
    if (tok_load_path(res.dir, &b, &err) != LM_OK) fail_msg("tokenizer of the export: %s", err.msg);
    assert_int_equal(tok_vocab_size(a), tok_vocab_size(b));
    assert_int_equal(tok_bos_id(a), tok_bos_id(b));
    assert_int_equal(tok_eos_id(a), tok_eos_id(b));
    same_tokens(a, b, "Once upon a time, there was a little girl named Lily.");
    tok_destroy(a);
    tok_destroy(b);
    /* every tokenizer.* key, byte for byte */
    gguf_file *src, *dst;
    char path[4400];
    snprintf(path, sizeof path, "%s/model.gguf", res.dir);
    assert_int_equal(gguf_open(lmtest_demo_model(), &src, &err), LM_OK);
    assert_int_equal(gguf_open(path, &dst, &err), LM_OK);
    int n = 0;
    for (size_t i = 0; i < gguf_kv_count(src); i++) {
        const gguf_kv *kv = gguf_kv_at(src, i);
        if (kv->key.len < 10 || memcmp(kv->key.ptr, "tokenizer.", 10) != 0) continue;
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        const gguf_kv *c = gguf_find(dst, key);
        if (!c) fail_msg("%s was not copied", key);
        assert_int_equal(c->value.type, kv->value.type);
        if (kv->value.type == GGUF_TYPE_ARRAY) {
            assert_int_equal(c->value.v.arr.size, kv->value.v.arr.size);
            assert_memory_equal(c->value.v.arr.data, kv->value.v.arr.data, kv->value.v.arr.size);
        }
        n++;
    }
    assert_true(n >= 3);
    gguf_close(src);
    gguf_close(dst);
}

/* A Hugging Face folder's tokenizer files are copied (links followed), config.json is not. */
static void test_hf_tokenizer_files_copied(void **state) {
    (void)state;
    const char *src = tmp_path("hf-src");
    assert_int_equal(mkdir(src, 0755), 0);
    static const struct { const char *from, *to; } links[] = {
        {"oracles/qwen3-hf-f32/config.json", "config.json"},
        {"oracles/qwen3-hf-f32/model.safetensors", "model.safetensors"},
        {"tokenizers/qwen3/tokenizer.json.gz", "tokenizer.json.gz"},
        {"tokenizers/qwen3/tokenizer_config.json", "tokenizer_config.json"},
    };
    char path[4400], from[4400];
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(from, sizeof from, "%s", lmtest_data(links[i].from));
        snprintf(path, sizeof path, "%s/%s", src, links[i].to);
        assert_int_equal(symlink(from, path), 0);
    }
    static const char *const written[][2] = {
        {"generation_config.json", "{\"eos_token_id\": [151645, 151643], \"temperature\": 0.6}\n"},
        {"chat_template.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}"},
        {"README.md", "not copied"},
    };
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", src, written[i][0]);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(written[i][1], fp);
        fclose(fp);
    }
    repo_export_opts o = {.source_model = src, .repository = tmp_path("repo"), .model_name = "org/qwen3-tok",
                          .weight_format = "int4"};
    repo_export_result res;
    lm_error err;
    err_clear(&err);
    if (repo_export_run(&o, &res, NULL, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_string_equal(res.dir, tmp_path("repo/org/qwen3-tok"));
    static const char *const copied[] = {"tokenizer.json.gz", "tokenizer_config.json",
                                         "generation_config.json", "chat_template.jinja"};
    uint64_t total = 0;
    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++) {
        size_t na = 0, nb = 0;
        snprintf(from, sizeof from, "%s/%s", src, copied[i]);
        snprintf(path, sizeof path, "%s/%s", res.dir, copied[i]);
        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        char *a = slurp(from, &na), *b = slurp(path, &nb);
        assert_non_null(b);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
        total += na;
        free(a);
        free(b);
    }
    assert_int_equal(res.side_bytes, total);
    snprintf(path, sizeof path, "%s/config.json", res.dir);
    assert_false(exists(path));
    snprintf(path, sizeof path, "%s/README.md", res.dir);
    assert_false(exists(path));
    tok_tokenizer *t = NULL;
    if (tok_load_path(res.dir, &t, &err) != LM_OK) fail_msg("tokenizer: %s", err.msg);
    assert_true(tok_is_eog(t, 151645));
    tok_destroy(t);
}

/* ---- the folder, whole or not at all ---------------------------------------------------------- */

/* No temporary folders or partial exports under dir. */
static void no_leftovers(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".export-")) fail_msg("left behind: %s/%s", dir, e->d_name);
    closedir(d);
}

static void test_existing_folder_and_overwrite(void **state) {
    (void)state;
    repo_export_opts o = {.source_model = NULL, .repository = tmp_path("ow"), .model_name = "m",
                          .weight_format = "int8"};
    char src[4200];
    snprintf(src, sizeof src, "%s", lmtest_data("oracles/qwen2-hf-bf16"));
    o.source_model = src;
    repo_export_result res;
    lm_error err;
    err_clear(&err);
    assert_int_equal(repo_export_run(&o, &res, NULL, &err), LM_OK);
    char marker[4400], gguf[4400];
    snprintf(marker, sizeof marker, "%s/marker", res.dir);
    snprintf(gguf, sizeof gguf, "%s/model.gguf", res.dir);
    FILE *fp = fopen(marker, "w");
    assert_non_null(fp);
    fclose(fp);
    /* exists: left alone */
    o.weight_format = "int4";
    assert_int_equal(repo_export_run(&o, &res, NULL, &err), LM_OK);
    assert_true(res.skipped);
    assert_true(exists(marker));
    /* overwrite: replaced as a whole */
    o.overwrite = 1;
    assert_int_equal(repo_export_run(&o, &res, NULL, &err), LM_OK);
    assert_false(res.skipped);
    assert_false(exists(marker));
    gguf_file *f;
    assert_int_equal(gguf_open(gguf, &f, &err), LM_OK);
    gguf_str s;
    assert_int_equal(gguf_get_str(f, "lmserve.weight_format", &s, &err), LM_OK);
    assert_true(gguf_str_eq(s, "int4"));
    gguf_close(f);
    no_leftovers(tmp_path("ow"));
    /* a failed overwrite (quantizing a quantized source) keeps the old folder */
    snprintf(src, sizeof src, "%s", lmtest_data("oracles/qwen3-q8_0/model.gguf"));
    err_clear(&err);
    assert_int_equal(repo_export_run(&o, &res, NULL, &err), LM_ERR_INVALID);
    expect_msg(&err, "needs an F32/F16/BF16 source");
    assert_true(exists(gguf));
    no_leftovers(tmp_path("ow"));
}

static void test_refusals(void **state) {
    (void)state;
    char src[4200];
    snprintf(src, sizeof src, "%s", lmtest_data("oracles/qwen2-hf-bf16"));
    static const struct { const char *source, *name; lm_status want; const char *msg; } cases[] = {
        {NULL, "../escape", LM_ERR_INVALID, "'..'"},
        {NULL, "/abs", LM_ERR_INVALID, "relative"},
        {NULL, "a//b", LM_ERR_INVALID, "empty"},
        {NULL, "a/./b", LM_ERR_INVALID, "'.'"},
        {"Qwen/Qwen3-0.6B", NULL, LM_ERR_NOT_FOUND, "--pull"},
        {"", NULL, LM_ERR_INVALID, "--source_model"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        repo_export_opts o = {.source_model = cases[i].source ? cases[i].source : src,
                              .repository = tmp_path("bad"), .model_name = cases[i].name};
        repo_export_result res;
        lm_error err;
        err_clear(&err);
        assert_int_equal(repo_export_run(&o, &res, NULL, &err), cases[i].want);
        expect_msg(&err, cases[i].msg);
    }
    /* a model whose rows do not fit int4 groups: nothing is left behind */
    repo_export_opts o = {.source_model = lmtest_demo_model(), .repository = tmp_path("bad"),
                          .weight_format = "int4"};
    repo_export_result res;
    lm_error err;
    err_clear(&err);
    assert_int_equal(repo_export_run(&o, &res, NULL, &err), LM_ERR_INVALID);
    assert_false(exists(tmp_path("bad/stories260K")));
    no_leftovers(tmp_path("bad"));
}

/* ---- hostile edits of an exported file -------------------------------------------------------- */

/* Exports llama-hf-bf16 as `format` and returns the path of its model.gguf. */
static const char *export_llama(const char *name, const char *format, const char *params) {
    static char path[4400];
    char src[4200];
    snprintf(src, sizeof src, "%s", lmtest_data("oracles/llama-hf-bf16"));
    repo_export_opts o = {.source_model = src, .repository = tmp_path("hostile"), .model_name = name,
                          .weight_format = format, .quant_params = params};
    repo_export_result res;
    lm_error err;
    err_clear(&err);
    if (repo_export_run(&o, &res, NULL, &err) != LM_OK) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/model.gguf", res.dir);
    return path;
}

/* Overwrites n bytes at the start of tensor `name`'s data (+ skip). */
static void patch_tensor(const char *path, const char *name, size_t skip, const void *bytes, size_t n) {
    gguf_file *f;
    lm_error err;
    err_clear(&err);
    assert_int_equal(gguf_open(path, &f, &err), LM_OK);
    const gguf_tensor *t = gguf_find_tensor(f, name);
    assert_non_null(t);
    long at = (long)(gguf_data_offset(f) + t->offset + skip);
    gguf_close(f);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, at, SEEK_SET), 0);
    assert_int_equal(fwrite(bytes, 1, n, fp), n);
    fclose(fp);
}

static void expect_load_fails(const char *path, const char *msg) {
    char dir[4400];
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
    model *m = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(model_load(dir, NULL, &m, &err), LM_ERR_FORMAT);
    expect_msg(&err, msg);
    assert_null(m);
}

static void test_hostile_exported_files(void **state) {
    (void)state;
    const float nan = __builtin_nanf("");
    const float inf = __builtin_inff();
    const char *p = export_llama("nan-ch", "int8", NULL);
    patch_tensor(p, "blk.1.attn_q.weight", 0, &nan, 4); /* row 0's f32 scale */
    expect_load_fails(p, "non-finite scale");
    p = export_llama("inf-ch", "int4", "--group-size -1");
    patch_tensor(p, "blk.0.ffn_down.weight", 4 + 256, &inf, 4); /* row 1 (4 + 512/2 bytes) */
    expect_load_fails(p, "row 1 has a non-finite scale");
    p = export_llama("nan-g", "int4", "--group-size 64");
    const uint16_t h = 0x7e00;
    patch_tensor(p, "output.weight", 34, &h, 2); /* row 0, group 1 */
    expect_load_fails(p, "group 1 has a non-finite scale");
    /* an unknown rotary pairing */
    p = export_llama("pairs", "int8", NULL);
    size_t n;
    char *bytes = slurp(p, &n);
    char *at = memmem(bytes, n, "neox", 4);
    assert_non_null(at);
    memcpy(at, "nope", 4);
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, n, fp), n);
    fclose(fp);
    free(bytes);
    expect_load_fails(p, "'lmserve.rope.pairs' is 'nope'");
}

/* ---- the command line ---------------------------------------------------------------------- */

static int run_bin(char *const argv[], lm_buf *out, lm_buf *errout) {
    const char *bin = getenv("LM_BIN");
    if (!bin) fail_msg("LM_BIN is not set (run through ctest)");
    int fo[2], fe[2];
    assert_int_equal(pipe(fo), 0);
    assert_int_equal(pipe(fe), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fo[1], 1);
        dup2(fe[1], 2);
        close(fo[0]);
        close(fe[0]);
        execv(bin, argv);
        _exit(127);
    }
    close(fo[1]);
    close(fe[1]);
    char chunk[4096];
    ssize_t k;
    while ((k = read(fo[0], chunk, sizeof chunk)) > 0) buf_append(out, chunk, (size_t)k);
    while ((k = read(fe[0], chunk, sizeof chunk)) > 0) buf_append(errout, chunk, (size_t)k);
    close(fo[0]);
    close(fe[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_command_line(void **state) {
    (void)state;
    char src[4200], repo[4200];
    snprintf(src, sizeof src, "%s", lmtest_data("oracles/qwen3-hf-f32"));
    snprintf(repo, sizeof repo, "%s", tmp_path("cli"));
    lm_buf out = {0}, eo = {0};
    /* the parameters as one argument starting with "--", as OVMS users write them */
    char *ok[] = {"lmserve", "export", "--source_model", src, "--weight-format", "int4",
                  "--extra_quantization_params", "--sym --ratio 1.0 --group-size -1",
                  "--model_repository_path", repo, "--model_name", "q", NULL};
    assert_int_equal(run_bin(ok, &out, &eo), 0);
    assert_non_null(strstr(buf_cstr(&out), "as int4 channel-wise"));
    assert_non_null(strstr(buf_cstr(&out), "before"));
    assert_non_null(strstr(buf_cstr(&out), "loads as stored in"));
    assert_true(exists(tmp_path("cli/q/model.gguf")));
    buf_reset(&out);
    /* NPU: the default int8 becomes int4, and says so */
    char *npu[] = {"lmserve", "export", "--source_model", src, "--target_device", "NPU",
                   "--model_repository_path", repo, "--model_name", "npu", NULL};
    assert_int_equal(run_bin(npu, &out, &eo), 0);
    assert_non_null(strstr(buf_cstr(&out), "changing --weight-format int8 to int4"));
    assert_non_null(strstr(buf_cstr(&out), "int4 channel-wise"));
    buf_reset(&out);
    buf_reset(&eo);
    char *exists_again[] = {"lmserve", "export", "--source_model", src, "--model_repository_path", repo,
                            "--model_name", "npu", "--weight_format", "fp16", NULL};
    assert_int_equal(run_bin(exists_again, &out, &eo), 0);
    assert_non_null(strstr(buf_cstr(&out), "--overwrite_models"));
    /* usage errors 64, unsupported 2, failures 1 */
    char *bad_format[] = {"lmserve", "export", "--source_model", src, "--weight-format", "int3", NULL};
    assert_int_equal(run_bin(bad_format, &out, &eo), 64);
    assert_non_null(strstr(buf_cstr(&eo), "int3"));
    char *awq[] = {"lmserve", "export", "--source_model", src, "--extra_quantization_params", "--awq", NULL};
    assert_int_equal(run_bin(awq, &out, &eo), 2);
    char *missing[] = {"lmserve", "export", "--source_model", "no/such/model", "--model_repository_path",
                       repo, NULL};
    assert_int_equal(run_bin(missing, &out, &eo), 1);
    char *no_source[] = {"lmserve", "export", NULL};
    assert_int_equal(run_bin(no_source, &out, &eo), 64);
    buf_reset(&out);
    char *help[] = {"lmserve", "export", "--help", NULL};
    assert_int_equal(run_bin(help, &out, &eo), 0);
    assert_non_null(strstr(buf_cstr(&out), "--extra_quantization_params"));
    buf_fini(&out);
    buf_fini(&eo);
}

/* The exported demo model generates the same text as the source converted at load time. */
static void test_generate_from_export(void **state) {
    (void)state;
    char repo[4200], dir[4400];
    snprintf(repo, sizeof repo, "%s", tmp_path("gen"));
    snprintf(dir, sizeof dir, "%s/demo", repo);
    lm_buf out = {0}, eo = {0}, want = {0};
    char *exp[] = {"lmserve", "export", "--source_model", (char *)lmtest_demo_model(), "--weight-format",
                   "fp16", "--model_repository_path", repo, "--model_name", "demo", NULL};
    assert_int_equal(run_bin(exp, &out, &eo), 0);
    char *gen[] = {"lmserve", "generate", "--model", dir, "--prompt", "Once upon a time", "--max_tokens",
                   "24", NULL};
    buf_reset(&out);
    assert_int_equal(run_bin(gen, &out, &eo), 0);
    char *ref[] = {"lmserve", "generate", "--model", (char *)lmtest_demo_model(), "--weight_format",
                   "fp16", "--prompt", "Once upon a time", "--max_tokens", "24", NULL};
    assert_int_equal(run_bin(ref, &want, &eo), 0);
    assert_true(out.len > 0);
    assert_string_equal(buf_cstr(&out), buf_cstr(&want));
    buf_fini(&out);
    buf_fini(&eo);
    buf_fini(&want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_quant_params),
        cmocka_unit_test(test_resolve_formats),
        cmocka_unit_test(test_resolve_npu),
        cmocka_unit_test(test_hf_exports_match_load_time_conversion),
        cmocka_unit_test(test_gguf_exports_match_load_time_conversion),
        cmocka_unit_test(test_rope_pairs_recorded),
        cmocka_unit_test(test_gguf_tokenizer_metadata_copied),
        cmocka_unit_test(test_hf_tokenizer_files_copied),
        cmocka_unit_test(test_existing_folder_and_overwrite),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_hostile_exported_files),
        cmocka_unit_test(test_command_line),
        cmocka_unit_test(test_generate_from_export),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
