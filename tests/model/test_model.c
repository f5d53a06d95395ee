/* tests/model/test_model.c — hostile model files are refused with a clear error: a real oracle
 * GGUF is patched in place (tensor renamed away, a shape changed, absurd dimensions, a NaN block
 * scale) and loaded; also unknown architectures, bad weight formats, HF folders without
 * weights and HF configs whose dimensions are out of range. */
#include "lmtest.h"

#include <string.h>
#include <unistd.h>

#include "base/limits.h"
#include "base/mapfile.h"
#include "model/gguf.h"
#include "model/model.h"

static unsigned char *g_buf;
static size_t g_size;

static void load_file(const char *rel) {
    FILE *f = fopen(lmtest_data(rel), "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    g_size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    g_buf = malloc(g_size);
    assert_int_equal(fread(g_buf, 1, g_size, f), g_size);
    fclose(f);
}

/* Writes the patched bytes to a temp file and loads it; returns the status and the message. */
static lm_status load_patched(const unsigned char *bytes, lm_error *err) {
    char path[] = "/tmp/lmtest_model_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, g_size), (ssize_t)g_size);
    close(fd);
    model *m = NULL;
    err_clear(err);
    lm_status s = model_load(path, NULL, &m, err);
    model_destroy(m);
    unlink(path);
    return s;
}

/* Offset of the first occurrence of `needle` in the file. */
static size_t find(const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= g_size; i++)
        if (memcmp(g_buf + i, needle, n) == 0) return i;
    fail_msg("'%s' not in the file", needle);
    return 0;
}

static void test_original_loads(void **state) {
    (void)state;
    load_file("oracles/llama-q4_0/model.gguf");
    lm_error err;
    assert_int_equal(load_patched(g_buf, &err), LM_OK);
    free(g_buf);
}

static void test_missing_tensor(void **state) {
    (void)state;
    load_file("oracles/llama-q4_0/model.gguf");
    unsigned char *b = malloc(g_size);
    memcpy(b, g_buf, g_size);
    size_t at = find("blk.1.ffn_gate.weight");
    b[at + 6] = 'X'; /* blk.1.Xfn_gate.weight */
    lm_error err;
    assert_int_equal(load_patched(b, &err), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "missing tensor 'blk.1.ffn_gate.weight'"));
    free(b);
    free(g_buf);
}

static void test_wrong_shape(void **state) {
    (void)state;
    load_file("oracles/llama-q4_0/model.gguf");
    gguf_file *f = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(gguf_parse(g_buf, g_size, &f, &err), LM_OK);
    const gguf_tensor *t = gguf_find_tensor(f, "blk.0.attn_v.weight");
    assert_non_null(t);
    /* the tensor info: name | u32 n_dims | u64 ne[0] | u64 ne[1] ...; halve ne[1] */
    size_t at = (size_t)((const char *)t->name.ptr - (const char *)g_buf) + t->name.len + 4 + 8;
    uint64_t ne1;
    memcpy(&ne1, g_buf + at, 8);
    assert_int_equal(ne1, t->ne[1]);
    gguf_close(f);
    unsigned char *b = malloc(g_size);
    memcpy(b, g_buf, g_size);
    ne1 /= 2;
    memcpy(b + at, &ne1, 8);
    assert_int_equal(load_patched(b, &err), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "blk.0.attn_v.weight"));
    assert_non_null(strstr(err.msg, "expected"));
    free(b);
    free(g_buf);
}

static void patch_u32_key(unsigned char *b, const char *key, uint32_t v) {
    size_t at = find(key) + strlen(key);
    uint32_t type;
    memcpy(&type, b + at, 4);
    assert_int_equal(type, 4); /* UINT32 */
    memcpy(b + at + 4, &v, 4);
}

static void test_absurd_dimensions(void **state) {
    (void)state;
    load_file("oracles/llama-q4_0/model.gguf");
    const char *keys[] = {"llama.block_count", "llama.attention.head_count", "llama.embedding_length"};
    for (size_t i = 0; i < 3; i++) {
        unsigned char *b = malloc(g_size);
        memcpy(b, g_buf, g_size);
        patch_u32_key(b, keys[i], 3000000);
        lm_error err;
        lm_status s = load_patched(b, &err);
        assert_true(s == LM_ERR_FORMAT || s == LM_ERR_LIMIT);
        assert_true(strlen(err.msg) > 10);
        print_message("%s = 3000000: %s\n", keys[i], err.msg);
        free(b);
    }
    free(g_buf);
}

static void test_nan_scale(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        const char *file = k ? "oracles/qwen3-q6_k/model.gguf" : "oracles/llama-q4_0/model.gguf";
        load_file(file);
        gguf_file *f = NULL;
        lm_error err;
        err_clear(&err);
        assert_int_equal(gguf_parse(g_buf, g_size, &f, &err), LM_OK);
        const gguf_tensor *t = gguf_find_tensor(f, "blk.1.attn_output.weight");
        size_t at = (size_t)((const unsigned char *)t->data - g_buf);
        size_t scale = k ? 208 : 0; /* Q6_K keeps d at the end of its block */
        gguf_close(f);
        unsigned char *b = malloc(g_size);
        memcpy(b, g_buf, g_size);
        uint16_t nan = 0x7e00;
        memcpy(b + at + 3 * (k ? 210 : 18) + scale, &nan, 2);
        assert_int_equal(load_patched(b, &err), LM_ERR_FORMAT);
        assert_non_null(strstr(err.msg, "blk.1.attn_output.weight"));
        assert_non_null(strstr(err.msg, "non-finite scale"));
        free(b);
        free(g_buf);
    }
}

static void test_other_refusals(void **state) {
    (void)state;
    lm_error err;
    err_clear(&err);
    model_weight_format wf;
    assert_int_equal(model_parse_weight_format("int3", &wf, &err), LM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "int4"));
    /* a quantized source cannot be requantized */
    model *m = NULL;
    err_clear(&err);
    model_load_opts o = {MODEL_WEIGHTS_INT4, -1};
    assert_int_equal(model_load(lmtest_data("oracles/llama-q4_0/model.gguf"), &o, &m, &err), LM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "F32/F16/BF16"));
    /* bad group size */
    err_clear(&err);
    o.group_size = 48;
    assert_int_equal(model_load(lmtest_data("oracles/llama-f16/model.gguf"), &o, &m, &err), LM_ERR_INVALID);
    /* an HF folder without weights */
    err_clear(&err);
    assert_int_equal(model_load(lmtest_data("hf"), NULL, &m, &err) != LM_OK, 1);
    assert_null(m);
    /* the same F16 model as int4 channel-wise and int8 loads and keeps the shapes */
    err_clear(&err);
    o = (model_load_opts){MODEL_WEIGHTS_INT4, -1};
    assert_int_equal(model_load(lmtest_data("oracles/llama-f16/model.gguf"), &o, &m, &err), LM_OK);
    assert_int_equal(m->layers[0].wq.type, LM_TYPE_I4_CH);
    assert_int_equal(m->tok_embd.type, GGML_TYPE_F16); /* the embedding stays as stored */
    model_destroy(m);
}


/* Slurps a file into a NUL-terminated heap string. */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* Writes the llama-hf-bf16 case as a loadable HF folder (its real safetensors header with zeroed
 * data) with config.json's `from` replaced by `to`, loads it and returns the status. */
static lm_status load_hf_patched(const char *from, const char *to, lm_error *err) {
    char dir[] = "/tmp/lmtest_hfdims_XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    size_t hl, cl;
    char *h = slurp(lmtest_data("hf/llama-hf-bf16/model.safetensors.header"), &hl);
    char *c = slurp(lmtest_data("hf/llama-hf-bf16/config.json"), &cl);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t n = hl;
    fwrite(&n, 8, 1, f);
    fwrite(h, 1, hl, f);
    static const char zeros[4096];
    for (size_t left = 2886144; left > 0;) {
        size_t k = left < sizeof zeros ? left : sizeof zeros;
        fwrite(zeros, 1, k, f);
        left -= k;
    }
    fclose(f);
    char *at = strstr(c, from);
    if (!at) fail_msg("'%s' not in config.json", from);
    snprintf(path, sizeof path, "%s/config.json", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%.*s%s%s", (int)(at - c), c, to, at + strlen(from));
    fclose(f);
    model *m = NULL;
    err_clear(err);
    lm_status s = model_load(dir, NULL, &m, err);
    if (s == LM_OK) {
        assert_non_null(m);
        print_message("loaded: context %d, sliding window %d\n", m->hp.n_ctx_train, m->hp.sliding_window);
    }
    model_destroy(m);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
    free(h);
    free(c);
    return s;
}

/* config.json's dimensions are bounded as GGUF's: max_position_embeddings near 2^31 loaded and
 * overflowed the servable's block arithmetic (a sanitizer server died on a live reload). */
static void test_hf_dimension_bounds(void **state) {
    (void)state;
    lm_error err;
    assert_int_equal(load_hf_patched("\"max_position_embeddings\": 512", "\"max_position_embeddings\": 512", &err),
                     LM_OK);
    char big[64];
    static const long long ctx[] = {2147483633LL, 2147483647LL, (long long)LM_MODEL_MAX_CTX + 1};
    for (size_t i = 0; i < sizeof ctx / sizeof ctx[0]; i++) {
        snprintf(big, sizeof big, "\"max_position_embeddings\": %lld", ctx[i]);
        lm_status s = load_hf_patched("\"max_position_embeddings\": 512", big, &err);
        print_message("%s: %s\n", big, err.msg);
        assert_int_equal(s, LM_ERR_FORMAT);
        assert_non_null(strstr(err.msg, "context length"));
    }
    snprintf(big, sizeof big, "\"max_position_embeddings\": %d", LM_MODEL_MAX_CTX);
    assert_int_equal(load_hf_patched("\"max_position_embeddings\": 512", big, &err), LM_OK);
    /* the sliding window: same bound */
    assert_int_equal(load_hf_patched("\"pretraining_tp\": 1", "\"pretraining_tp\": 1, \"sliding_window\": 2147483647",
                                     &err), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "sliding window"));
    /* a vocabulary past GGUF's bound */
    assert_int_equal(load_hf_patched("\"vocab_size\": 512", "\"vocab_size\": 2147483000", &err), LM_ERR_FORMAT);
    print_message("vocab_size 2147483000: %s\n", err.msg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_original_loads),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test(test_absurd_dimensions),
        cmocka_unit_test(test_nan_scale),
        cmocka_unit_test(test_other_refusals),
        cmocka_unit_test(test_hf_dimension_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
