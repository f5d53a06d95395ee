/* tests/model/test_hfconfig.c — the config.json / generation_config.json reader
 * (src/model/hfconfig.c).
 *
 * The five real configs of the shared HF oracle cases (tests/data/hf/<case>/config.json), then
 * configs written here in the shape of the published configs of the models the project must run
 * (GPT-J-6B, Falcon-7B/40B, Phi-2, Phi-3/3.5, Mistral v0.1/v0.2, Qwen2, Qwen3, Llama-3.1: key names
 * and hyper-parameters as those models publish them; Phi-3.5's rope factors are made up here),
 * then one config per error class with its message, folders with generation_config.json, and
 * random damage (seed printed, LM_TEST_SEED repeats it). With LM_ST_WRITE_CORPUS=<dir> the run
 * also writes its configs there as fuzz seeds. */
#include "lmtest.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/limits.h"
#include "model/hfconfig.h"

/* check_config(): what the fuzz target checks of every accepted config. */
#include "fuzz/fuzz_safetensors.c"

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static hfconfig cfg; /* large (rope factor arrays): not on the stack */

static void parse_ok(const char *json) {
    lm_error err;
    err_clear(&err);
    if (hfconfig_parse(json, strlen(json), &cfg, &err) != LM_OK)
        fail_msg("config refused: %s\n%s", err.msg, json);
    check_config(&cfg);
}

static void expect_error(const char *json, lm_status code, const char *want1, const char *want2) {
    lm_error err;
    err_clear(&err);
    lm_status s = hfconfig_parse(json, strlen(json), &cfg, &err);
    if (s != code)
        fail_msg("expected %s, got %s (%s) for\n%s", err_status_name(code), err_status_name(s),
                 err.msg, json);
    if (want1 && !strstr(err.msg, want1)) fail_msg("message '%s' lacks '%s'", err.msg, want1);
    if (want2 && !strstr(err.msg, want2)) fail_msg("message '%s' lacks '%s'", err.msg, want2);
}

static void read_text(const char *path, lm_buf *b) {
    FILE *fp = fopen(path, "rb");
    if (!fp) fail_msg("cannot open %s: %s", path, strerror(errno));
    char chunk[4096];
    size_t n;
    buf_reset(b);
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) buf_append(b, chunk, n);
    fclose(fp);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp) fail_msg("cannot write %s: %s", path, strerror(errno));
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    assert_int_equal(fclose(fp), 0);
}

static void remove_file(const char *dir, const char *name) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

/* A small llama config as key/value pairs, so a test can replace or drop one key. */
static const char *const base_pairs[][2] = {
    {"model_type", "\"llama\""},     {"hidden_size", "64"},      {"num_hidden_layers", "2"},
    {"num_attention_heads", "4"},    {"intermediate_size", "128"}, {"vocab_size", "100"},
};
#define N_BASE (sizeof base_pairs / sizeof base_pairs[0])

/* The base config with `key` set to `value` (JSON text; NULL drops the key). Returns a static
 * buffer. */
static const char *cfg_with(const char *key, const char *value) {
    static char out[8192];
    size_t n = (size_t)snprintf(out, sizeof out, "{");
    int found = 0, first = 1;
    for (size_t i = 0; i < N_BASE; i++) {
        const char *v = base_pairs[i][1];
        if (key && strcmp(key, base_pairs[i][0]) == 0) {
            found = 1;
            v = value;
        }
        if (!v) continue;
        n += (size_t)snprintf(out + n, sizeof out - n, "%s\"%s\":%s", first ? "" : ",",
                              base_pairs[i][0], v);
        first = 0;
    }
    if (key && !found && value)
        n += (size_t)snprintf(out + n, sizeof out - n, ",\"%s\":%s", key, value);
    snprintf(out + n, sizeof out - n, "}");
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * The oracle cases' real configs
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    const char *dir;
    const char *arch, *model_type, *dtype;
    int64_t layers, kv, head_dim, ff;
    double eps, theta;
    hfconfig_rope_kind rope;
    int tie, bias;
} real_case;

static const real_case real_cases[] = {
    {"llama-hf-bf16", "LlamaForCausalLM", "llama", "bfloat16", 2, 2, 64, 512, 1e-5, 1e4,
     HFCONFIG_ROPE_NONE, 0, 0},
    {"llama3-hf-bf16", "LlamaForCausalLM", "llama", "bfloat16", 3, 1, 64, 512, 1e-5, 5e5,
     HFCONFIG_ROPE_LLAMA3, 1, 0},
    {"phi3-hf-bf16", "Phi3ForCausalLM", "phi3", "bfloat16", 2, 2, 64, 512, 1e-5, 1e4,
     HFCONFIG_ROPE_NONE, 0, 0},
    {"qwen2-hf-bf16", "Qwen2ForCausalLM", "qwen2", "bfloat16", 2, 2, 64, 640, 1e-6, 1e6,
     HFCONFIG_ROPE_NONE, 1, 1},
    {"qwen3-hf-f32", "Qwen3ForCausalLM", "qwen3", "float32", 2, 2, 128, 512, 1e-6, 1e6,
     HFCONFIG_ROPE_NONE, 1, 0},
};

static void test_real_configs(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof real_cases / sizeof real_cases[0]; i++) {
        const real_case *rc = &real_cases[i];
        char rel[256];
        snprintf(rel, sizeof rel, "hf/%s", rc->dir);
        lm_error err;
        err_clear(&err);
        if (hfconfig_load(lmtest_data(rel), &cfg, &err) != LM_OK)
            fail_msg("%s: %s", rc->dir, err.msg);
        check_config(&cfg);
        assert_string_equal(cfg.architecture, rc->arch);
        assert_string_equal(cfg.model_type, rc->model_type);
        assert_string_equal(cfg.torch_dtype, rc->dtype);
        assert_string_equal(cfg.hidden_act, "silu");
        assert_int_equal(cfg.hidden_size, 256);
        assert_int_equal(cfg.num_hidden_layers, rc->layers);
        assert_int_equal(cfg.num_attention_heads, 4);
        assert_int_equal(cfg.num_key_value_heads, rc->kv);
        assert_int_equal(cfg.head_dim, rc->head_dim);
        assert_int_equal(cfg.rotary_dim, rc->head_dim);
        assert_true(cfg.partial_rotary_factor == 1.0);
        assert_int_equal(cfg.intermediate_size, rc->ff);
        assert_int_equal(cfg.vocab_size, 512);
        assert_int_equal(cfg.max_position_embeddings, 512);
        assert_true(cfg.norm_eps == rc->eps);
        assert_true(cfg.rope_theta == rc->theta);
        assert_int_equal(cfg.rope_scaling.kind, rc->rope);
        assert_int_equal(cfg.sliding_window, 0);
        assert_int_equal(cfg.tie_word_embeddings, rc->tie);
        assert_int_equal(cfg.attention_bias, rc->bias);
        assert_int_equal(cfg.bos_token_id, 1);
        assert_int_equal(cfg.n_eos, 1);
        assert_int_equal(cfg.eos_token_ids[0], 2);
        assert_int_equal(cfg.gen.present, 0);
        const int64_t *ids;
        assert_int_equal(hfconfig_eos_ids(&cfg, &ids), 1);
        assert_int_equal(ids[0], 2);
    }
    /* Details of two of them. */
    lm_error err;
    err_clear(&err);
    assert_int_equal(hfconfig_load(lmtest_data("hf/llama3-hf-bf16"), &cfg, &err), LM_OK);
    assert_string_equal(cfg.rope_scaling.type, "llama3");
    assert_true(cfg.rope_scaling.factor == 8.0);
    assert_true(cfg.rope_scaling.low_freq_factor == 1.0);
    assert_true(cfg.rope_scaling.high_freq_factor == 4.0);
    assert_int_equal(cfg.rope_scaling.original_max_position_embeddings, 128);
    assert_int_equal(hfconfig_load(lmtest_data("hf/phi3-hf-bf16"), &cfg, &err), LM_OK);
    assert_int_equal(cfg.rope_scaling.original_max_position_embeddings, 512); /* top level */
    assert_string_equal(cfg.rope_scaling.type, "");
}

/* ---------------------------------------------------------------------------------------------
 * Configs in the shape of the models the project must run
 * ------------------------------------------------------------------------------------------- */

static const char gptj_6b[] =
    "{\"activation_function\":\"gelu_new\",\"architectures\":[\"GPTJForCausalLM\"],"
    "\"attn_pdrop\":0.0,\"bos_token_id\":50256,\"embd_pdrop\":0.0,\"eos_token_id\":50256,"
    "\"gradient_checkpointing\":false,\"initializer_range\":0.02,\"layer_norm_epsilon\":1e-05,"
    "\"model_type\":\"gptj\",\"n_embd\":4096,\"n_head\":16,\"n_inner\":null,\"n_layer\":28,"
    "\"n_positions\":2048,\"resid_pdrop\":0.0,\"rotary\":true,\"rotary_dim\":64,"
    "\"scale_attn_weights\":true,\"tie_word_embeddings\":false,"
    "\"tokenizer_class\":\"GPT2Tokenizer\",\"use_cache\":true,\"vocab_size\":50400}";

static const char falcon_7b[] =
    "{\"alibi\":false,\"apply_residual_connection_post_layernorm\":false,"
    "\"architectures\":[\"FalconForCausalLM\"],\"attention_dropout\":0.0,\"bias\":false,"
    "\"bos_token_id\":11,\"eos_token_id\":11,\"hidden_dropout\":0.0,\"hidden_size\":4544,"
    "\"initializer_range\":0.02,\"layer_norm_epsilon\":1e-05,\"model_type\":\"falcon\","
    "\"multi_query\":true,\"new_decoder_architecture\":false,\"num_attention_heads\":71,"
    "\"num_hidden_layers\":32,\"parallel_attn\":true,\"torch_dtype\":\"bfloat16\","
    "\"use_cache\":true,\"vocab_size\":65024}";

static const char falcon_rw[] =
    "{\"alibi\":false,\"architectures\":[\"RWForCausalLM\"],\"bias\":false,\"bos_token_id\":11,"
    "\"eos_token_id\":11,\"hidden_size\":4544,\"layer_norm_epsilon\":1e-05,"
    "\"model_type\":\"RefinedWebModel\",\"multi_query\":true,\"n_head\":71,\"n_layer\":32,"
    "\"parallel_attn\":true,\"torch_dtype\":\"bfloat16\",\"vocab_size\":65024}";

static const char falcon_40b[] =
    "{\"architectures\":[\"FalconForCausalLM\"],\"bias\":false,\"hidden_size\":8192,"
    "\"layer_norm_epsilon\":1e-05,\"model_type\":\"falcon\",\"new_decoder_architecture\":true,"
    "\"num_attention_heads\":128,\"num_hidden_layers\":60,\"num_kv_heads\":8,"
    "\"parallel_attn\":true,\"vocab_size\":65024}";

static const char phi_2[] =
    "{\"architectures\":[\"PhiForCausalLM\"],\"attention_dropout\":0.0,\"bos_token_id\":50256,"
    "\"embd_pdrop\":0.0,\"eos_token_id\":50256,\"hidden_act\":\"gelu_new\",\"hidden_size\":2560,"
    "\"initializer_range\":0.02,\"intermediate_size\":10240,\"layer_norm_eps\":1e-05,"
    "\"max_position_embeddings\":2048,\"model_type\":\"phi\",\"num_attention_heads\":32,"
    "\"num_hidden_layers\":32,\"num_key_value_heads\":32,\"partial_rotary_factor\":0.4,"
    "\"qk_layernorm\":false,\"resid_pdrop\":0.1,\"rope_scaling\":null,\"rope_theta\":10000.0,"
    "\"tie_word_embeddings\":false,\"torch_dtype\":\"float16\",\"use_cache\":true,"
    "\"vocab_size\":51200}";

static const char phi3_mini_4k[] =
    "{\"architectures\":[\"Phi3ForCausalLM\"],\"attention_dropout\":0.0,\"bos_token_id\":1,"
    "\"embd_pdrop\":0.0,\"eos_token_id\":32000,\"hidden_act\":\"silu\",\"hidden_size\":3072,"
    "\"initializer_range\":0.02,\"intermediate_size\":8192,\"max_position_embeddings\":4096,"
    "\"model_type\":\"phi3\",\"num_attention_heads\":32,\"num_hidden_layers\":32,"
    "\"num_key_value_heads\":32,\"original_max_position_embeddings\":4096,"
    "\"pad_token_id\":32000,\"resid_pdrop\":0.0,\"rms_norm_eps\":1e-05,\"rope_scaling\":null,"
    "\"rope_theta\":10000.0,\"sliding_window\":2047,\"tie_word_embeddings\":false,"
    "\"torch_dtype\":\"bfloat16\",\"use_cache\":true,\"vocab_size\":32064}";

static const char mistral_v01[] =
    "{\"architectures\":[\"MistralForCausalLM\"],\"bos_token_id\":1,\"eos_token_id\":2,"
    "\"hidden_act\":\"silu\",\"hidden_size\":4096,\"initializer_range\":0.02,"
    "\"intermediate_size\":14336,\"max_position_embeddings\":32768,\"model_type\":\"mistral\","
    "\"num_attention_heads\":32,\"num_hidden_layers\":32,\"num_key_value_heads\":8,"
    "\"rms_norm_eps\":1e-05,\"rope_theta\":10000.0,\"sliding_window\":4096,"
    "\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\",\"use_cache\":true,"
    "\"vocab_size\":32000}";

static const char qwen2_7b[] =
    "{\"architectures\":[\"Qwen2ForCausalLM\"],\"attention_dropout\":0.0,"
    "\"bos_token_id\":151643,\"eos_token_id\":151645,\"hidden_act\":\"silu\","
    "\"hidden_size\":3584,\"initializer_range\":0.02,\"intermediate_size\":18944,"
    "\"max_position_embeddings\":32768,\"max_window_layers\":28,\"model_type\":\"qwen2\","
    "\"num_attention_heads\":28,\"num_hidden_layers\":28,\"num_key_value_heads\":4,"
    "\"rms_norm_eps\":1e-06,\"rope_theta\":1000000.0,\"sliding_window\":131072,"
    "\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\",\"use_cache\":true,"
    "\"use_sliding_window\":false,\"vocab_size\":152064}";

static const char qwen3_8b[] =
    "{\"architectures\":[\"Qwen3ForCausalLM\"],\"attention_bias\":false,"
    "\"attention_dropout\":0.0,\"bos_token_id\":151643,\"eos_token_id\":151645,"
    "\"head_dim\":128,\"hidden_act\":\"silu\",\"hidden_size\":4096,\"initializer_range\":0.02,"
    "\"intermediate_size\":12288,\"max_position_embeddings\":40960,\"max_window_layers\":36,"
    "\"model_type\":\"qwen3\",\"num_attention_heads\":32,\"num_hidden_layers\":36,"
    "\"num_key_value_heads\":8,\"rms_norm_eps\":1e-06,\"rope_scaling\":null,"
    "\"rope_theta\":1000000,\"sliding_window\":null,\"tie_word_embeddings\":false,"
    "\"torch_dtype\":\"bfloat16\",\"use_cache\":true,\"use_sliding_window\":false,"
    "\"vocab_size\":151936}";

static const char llama31_8b[] =
    "{\"architectures\":[\"LlamaForCausalLM\"],\"attention_bias\":false,"
    "\"attention_dropout\":0.0,\"bos_token_id\":128000,\"eos_token_id\":[128001,128008,128009],"
    "\"hidden_act\":\"silu\",\"hidden_size\":4096,\"initializer_range\":0.02,"
    "\"intermediate_size\":14336,\"max_position_embeddings\":131072,\"mlp_bias\":false,"
    "\"model_type\":\"llama\",\"num_attention_heads\":32,\"num_hidden_layers\":32,"
    "\"num_key_value_heads\":8,\"pretraining_tp\":1,\"rms_norm_eps\":1e-05,"
    "\"rope_scaling\":{\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
    "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},"
    "\"rope_theta\":500000.0,\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\","
    "\"use_cache\":true,\"vocab_size\":128256}";

static const char llama31_gen[] =
    "{\"bos_token_id\":128000,\"do_sample\":true,\"eos_token_id\":[128001,128008,128009],"
    "\"temperature\":0.6,\"top_p\":0.9,\"transformers_version\":\"4.42.3\"}";

static const char qwen3_gen[] =
    "{\"bos_token_id\":151643,\"do_sample\":true,\"eos_token_id\":[151645,151643],"
    "\"pad_token_id\":151643,\"temperature\":0.6,\"top_k\":20,\"top_p\":0.95,"
    "\"transformers_version\":\"4.51.0\"}";

/* Phi-3.5-mini's layout: longrope with 48 short and 48 long factors (values made up here). */
static const char *phi35_mini(int n_short, int n_long, const char *type) {
    static lm_buf b;
    buf_reset(&b);
    buf_append_str(&b,
        "{\"architectures\":[\"Phi3ForCausalLM\"],\"attention_bias\":false,\"bos_token_id\":1,"
        "\"eos_token_id\":32000,\"hidden_act\":\"silu\",\"hidden_size\":3072,"
        "\"intermediate_size\":8192,\"max_position_embeddings\":131072,\"model_type\":\"phi3\","
        "\"num_attention_heads\":32,\"num_hidden_layers\":32,\"num_key_value_heads\":32,"
        "\"original_max_position_embeddings\":4096,\"rms_norm_eps\":1e-05,\"rope_scaling\":{");
    buf_append_str(&b, "\"long_factor\":[");
    for (int i = 0; i < n_long; i++) buf_printf(&b, "%s%g", i ? "," : "", 1.0 + 0.5 * i);
    buf_append_str(&b, "],\"short_factor\":[");
    for (int i = 0; i < n_short; i++) buf_printf(&b, "%s%g", i ? "," : "", 1.0 + 0.01 * i);
    buf_printf(&b, "],\"type\":\"%s\"},\"rope_theta\":10000.0,\"sliding_window\":262144,"
                   "\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\","
                   "\"vocab_size\":32064}", type);
    return buf_cstr(&b);
}

static void test_model_families(void **state) {
    (void)state;
    parse_ok(gptj_6b);
    assert_string_equal(cfg.model_type, "gptj");
    assert_string_equal(cfg.hidden_act, "gelu_new");
    assert_int_equal(cfg.hidden_size, 4096);
    assert_int_equal(cfg.num_hidden_layers, 28);
    assert_int_equal(cfg.num_attention_heads, 16);
    assert_int_equal(cfg.num_key_value_heads, 16);
    assert_int_equal(cfg.head_dim, 256);
    assert_int_equal(cfg.intermediate_size, 4 * 4096); /* n_inner null: 4 * n_embd */
    assert_int_equal(cfg.max_position_embeddings, 2048);
    assert_int_equal(cfg.rotary_dim, 64);
    assert_true(cfg.partial_rotary_factor == 0.25);
    assert_true(cfg.norm_eps == 1e-5);
    assert_true(cfg.rope_theta == 10000.0);
    assert_int_equal(cfg.tie_word_embeddings, 0);
    assert_int_equal(cfg.bos_token_id, 50256);
    assert_int_equal(cfg.eos_token_ids[0], 50256);

    parse_ok(falcon_7b);
    assert_int_equal(cfg.num_key_value_heads, 1); /* multi_query */
    assert_int_equal(cfg.head_dim, 64);
    assert_int_equal(cfg.intermediate_size, 4 * 4544);
    assert_int_equal(cfg.max_position_embeddings, 2048);
    assert_int_equal(cfg.tie_word_embeddings, 1);
    assert_true(cfg.parallel_attn && cfg.multi_query && !cfg.new_decoder_architecture);
    assert_int_equal(cfg.alibi, 0);
    assert_int_equal(cfg.attention_bias, 0);
    assert_int_equal(cfg.bos_token_id, 11);

    parse_ok(falcon_rw);
    assert_string_equal(cfg.model_type, "falcon");
    assert_string_equal(cfg.architecture, "RWForCausalLM");
    assert_int_equal(cfg.num_hidden_layers, 32);
    assert_int_equal(cfg.num_attention_heads, 71);
    assert_int_equal(cfg.num_key_value_heads, 1);

    parse_ok(falcon_40b);
    assert_int_equal(cfg.num_key_value_heads, 8);
    assert_int_equal(cfg.multi_query, 1); /* the default, overridden by the new layout */
    assert_int_equal(cfg.new_decoder_architecture, 1);

    parse_ok(phi_2);
    assert_int_equal(cfg.head_dim, 80);
    assert_int_equal(cfg.rotary_dim, 32);
    assert_true(fabs(cfg.partial_rotary_factor - 0.4) < 1e-12);
    assert_true(cfg.norm_eps == 1e-5);

    parse_ok(phi3_mini_4k);
    assert_int_equal(cfg.head_dim, 96);
    assert_int_equal(cfg.sliding_window, 2047);
    assert_int_equal(cfg.rope_scaling.kind, HFCONFIG_ROPE_NONE);
    assert_int_equal(cfg.rope_scaling.original_max_position_embeddings, 4096);
    assert_int_equal(cfg.eos_token_ids[0], 32000);

    parse_ok(phi35_mini(48, 48, "longrope"));
    assert_int_equal(cfg.rope_scaling.kind, HFCONFIG_ROPE_LONGROPE);
    assert_string_equal(cfg.rope_scaling.type, "longrope");
    assert_int_equal(cfg.rope_scaling.n_short_factor, 48);
    assert_int_equal(cfg.rope_scaling.n_long_factor, 48);
    assert_true(fabsf(cfg.rope_scaling.short_factor[47] - 1.47f) < 1e-6f);
    assert_true(cfg.rope_scaling.long_factor[2] == 2.0f);
    assert_int_equal(cfg.rope_scaling.original_max_position_embeddings, 4096);
    assert_int_equal(cfg.max_position_embeddings, 131072);
    assert_int_equal(cfg.sliding_window, 262144);
    parse_ok(phi35_mini(48, 48, "su")); /* Phi-3-128k's older name */
    assert_int_equal(cfg.rope_scaling.kind, HFCONFIG_ROPE_LONGROPE);
    expect_error(phi35_mini(47, 48, "longrope"), LM_ERR_FORMAT,
                 "key 'rope_scaling.short_factor' has 47 factors, expected rotary_dim / 2 = 48",
                 NULL);
    expect_error(phi35_mini(48, 0, "longrope"), LM_ERR_FORMAT, "rope_scaling.long_factor", NULL);
    expect_error(phi35_mini(600, 48, "longrope"), LM_ERR_LIMIT, "LM_HFCONFIG_MAX_ROPE_FACTORS",
                 NULL);

    parse_ok(mistral_v01);
    assert_int_equal(cfg.sliding_window, 4096);
    assert_int_equal(cfg.num_key_value_heads, 8);
    assert_int_equal(cfg.head_dim, 128);

    parse_ok(qwen2_7b);
    assert_int_equal(cfg.sliding_window, 0); /* use_sliding_window false */
    assert_int_equal(cfg.attention_bias, 0);
    assert_int_equal(cfg.num_key_value_heads, 4);

    parse_ok(qwen3_8b);
    assert_int_equal(cfg.head_dim, 128);
    assert_int_equal(cfg.sliding_window, 0);
    assert_true(cfg.rope_theta == 1e6); /* an integer where a number is expected */

    parse_ok(llama31_8b);
    assert_int_equal(cfg.n_eos, 3);
    assert_int_equal(cfg.eos_token_ids[0], 128001);
    assert_int_equal(cfg.eos_token_ids[2], 128009);
    assert_int_equal(cfg.bos_token_id, 128000);
    assert_int_equal(cfg.rope_scaling.kind, HFCONFIG_ROPE_LLAMA3);
    assert_int_equal(cfg.rope_scaling.original_max_position_embeddings, 8192);
    assert_int_equal(cfg.head_dim, 128);
}

static void test_defaults_and_variants(void **state) {
    (void)state;
    /* Mistral without sliding_window: MistralConfig's 4096; null: none (v0.2). */
    parse_ok(cfg_with("model_type", "\"mistral\""));
    assert_int_equal(cfg.sliding_window, 4096);
    assert_true(cfg.norm_eps == 1e-6);
    assert_int_equal(cfg.max_position_embeddings, 131072);
    parse_ok("{\"model_type\":\"mistral\",\"hidden_size\":64,\"num_hidden_layers\":2,"
             "\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":100,"
             "\"sliding_window\":null,\"rope_theta\":1000000.0}");
    assert_int_equal(cfg.sliding_window, 0);
    /* Qwen2 with the window switched on. */
    parse_ok("{\"model_type\":\"qwen2\",\"hidden_size\":64,\"num_hidden_layers\":2,"
             "\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":100,"
             "\"use_sliding_window\":true,\"sliding_window\":1024}");
    assert_int_equal(cfg.sliding_window, 1024);
    /* Qwen3 without head_dim: Qwen3Config's 128, not hidden / heads. */
    parse_ok(cfg_with("model_type", "\"qwen3\""));
    assert_int_equal(cfg.head_dim, 128);
    assert_int_equal(cfg.rotary_dim, 128);
    /* Llama without the optional keys. */
    parse_ok(cfg_with(NULL, NULL));
    assert_int_equal(cfg.num_key_value_heads, 4);
    assert_int_equal(cfg.head_dim, 16);
    assert_true(cfg.norm_eps == 1e-6);
    assert_true(cfg.rope_theta == 10000.0);
    assert_int_equal(cfg.max_position_embeddings, 2048);
    assert_int_equal(cfg.tie_word_embeddings, 0);
    assert_int_equal(cfg.bos_token_id, -1);
    assert_int_equal(cfg.n_eos, 0);
    assert_string_equal(cfg.architecture, "");
    assert_string_equal(cfg.torch_dtype, "");
    /* An unknown model_type takes PretrainedConfig's defaults (tied embeddings). */
    parse_ok(cfg_with("model_type", "\"somethingnew\""));
    assert_int_equal(cfg.tie_word_embeddings, 1);
    assert_int_equal(cfg.max_position_embeddings, 0);
    /* Nulls count as absent. */
    parse_ok(cfg_with("bos_token_id", "null"));
    assert_int_equal(cfg.bos_token_id, -1);
    parse_ok(cfg_with("architectures", "[]"));
    assert_string_equal(cfg.architecture, "");
    parse_ok(cfg_with("head_dim", "null"));
    assert_int_equal(cfg.head_dim, 16);
    /* GPT-J: rotary_dim null rotates the whole head, absent rotates 64 dims. */
    parse_ok("{\"model_type\":\"gptj\",\"n_embd\":1024,\"n_head\":8,\"n_layer\":2,"
             "\"vocab_size\":100,\"rotary_dim\":null}");
    assert_int_equal(cfg.rotary_dim, 128);
    parse_ok("{\"model_type\":\"gptj\",\"n_embd\":1024,\"n_head\":8,\"n_layer\":2,"
             "\"vocab_size\":100}");
    assert_int_equal(cfg.rotary_dim, 64);
    assert_int_equal(cfg.max_position_embeddings, 2048);
    /* Other names: dtype (transformers 5), activation_function, layer_norm_eps. */
    parse_ok("{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":2,"
             "\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":100,"
             "\"dtype\":\"bfloat16\",\"activation_function\":\"gelu\",\"layer_norm_eps\":0.001}");
    assert_string_equal(cfg.torch_dtype, "bfloat16");
    assert_string_equal(cfg.hidden_act, "gelu");
    assert_true(cfg.norm_eps == 0.001);
    /* transformers 5's rope_parameters. */
    parse_ok(cfg_with("rope_parameters", "{\"rope_type\":\"default\",\"rope_theta\":500000.0}"));
    assert_true(cfg.rope_theta == 500000.0);
    assert_int_equal(cfg.rope_scaling.kind, HFCONFIG_ROPE_NONE);
    parse_ok(cfg_with("rope_parameters",
                      "{\"rope_type\":\"llama3\",\"rope_theta\":500000.0,\"factor\":8,"
                      "\"low_freq_factor\":1,\"high_freq_factor\":4,"
                      "\"original_max_position_embeddings\":8192}"));
    assert_int_equal(cfg.rope_scaling.kind, HFCONFIG_ROPE_LLAMA3);
    parse_ok(cfg_with("rope_parameters", "{\"rope_theta\":20000}"));
    assert_true(cfg.rope_theta == 20000.0);
    /* Older rope_scaling spellings and other kinds. */
    parse_ok(cfg_with("rope_scaling", "{\"type\":\"linear\",\"factor\":2.0}"));
    assert_int_equal(cfg.rope_scaling.kind, HFCONFIG_ROPE_LINEAR);
    assert_true(cfg.rope_scaling.factor == 2.0);
    parse_ok(cfg_with("rope_scaling", "{\"type\":\"dynamic\",\"factor\":4}"));
    assert_int_equal(cfg.rope_scaling.kind, HFCONFIG_ROPE_DYNAMIC);
    parse_ok(cfg_with("rope_scaling", "{\"rope_type\":\"yarn\",\"factor\":4.0,"
                                      "\"original_max_position_embeddings\":32768,"
                                      "\"beta_fast\":32,\"beta_slow\":1}"));
    assert_int_equal(cfg.rope_scaling.kind, HFCONFIG_ROPE_YARN);
    assert_true(cfg.rope_scaling.beta_fast == 32.0);
    assert_int_equal(cfg.rope_scaling.original_max_position_embeddings, 32768);
    parse_ok(cfg_with("rope_scaling", "{\"rope_type\":\"mrope\",\"mrope_section\":[16,24,24]}"));
    assert_int_equal(cfg.rope_scaling.kind, HFCONFIG_ROPE_OTHER);
    assert_string_equal(cfg.rope_scaling.type, "mrope");
    parse_ok(cfg_with("rope_scaling", "{\"rope_type\":\"default\"}"));
    assert_int_equal(cfg.rope_scaling.kind, HFCONFIG_ROPE_NONE);
    /* Unknown keys are ignored. */
    parse_ok(cfg_with("quantization_config", "{\"bits\":4,\"x\":[1,2,{}]}"));
}

/* ---------------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------------- */

static void test_config_errors(void **state) {
    (void)state;
    expect_error("{\"model_type\":", LM_ERR_FORMAT, "not valid JSON", "line 1");
    expect_error("", LM_ERR_FORMAT, "not valid JSON", NULL);
    expect_error("[1]", LM_ERR_FORMAT, "key '(root)' is an array, expected a JSON object", NULL);
    expect_error("{\"model_type\":\"llama\",\"model_type\":\"qwen2\"}", LM_ERR_FORMAT,
                 "duplicate", NULL);
    expect_error("{\"a\":NaN}", LM_ERR_FORMAT, "not valid JSON", NULL);

    /* Missing required keys, with the aliases the model_type allows. */
    expect_error(cfg_with("model_type", NULL), LM_ERR_FORMAT, "config.json has no 'model_type'",
                 NULL);
    expect_error(cfg_with("hidden_size", NULL), LM_ERR_FORMAT, "config.json has no 'hidden_size',",
                 "llama");
    expect_error(cfg_with("vocab_size", NULL), LM_ERR_FORMAT, "no 'vocab_size'", NULL);
    expect_error(cfg_with("intermediate_size", NULL), LM_ERR_FORMAT, "no 'intermediate_size'",
                 NULL);
    expect_error("{\"model_type\":\"gptj\",\"n_head\":8,\"n_layer\":2,\"vocab_size\":100}",
                 LM_ERR_FORMAT, "no 'hidden_size' (or 'n_embd')", "gptj");
    expect_error("{\"model_type\":\"falcon\",\"hidden_size\":64,\"n_layer\":2,\"vocab_size\":10}",
                 LM_ERR_FORMAT, "no 'num_attention_heads' (or 'n_head')", NULL);

    /* Wrong JSON types and out-of-range values name the key and the value. */
    expect_error(cfg_with("hidden_size", "\"4096\""), LM_ERR_FORMAT,
                 "key 'hidden_size' is \"4096\", expected an integer in [1, 2147483647]", NULL);
    expect_error(cfg_with("hidden_size", "64.0"), LM_ERR_FORMAT, "key 'hidden_size' is 64", NULL);
    expect_error(cfg_with("hidden_size", "true"), LM_ERR_FORMAT, "'hidden_size' is true", NULL);
    expect_error(cfg_with("num_attention_heads", "0"), LM_ERR_FORMAT,
                 "key 'num_attention_heads' is 0", NULL);
    expect_error(cfg_with("vocab_size", "-5"), LM_ERR_FORMAT, "'vocab_size' is -5", NULL);
    expect_error(cfg_with("vocab_size", "2147483648"), LM_ERR_FORMAT, "'vocab_size' is 2147483648",
                 NULL);
    /* an empty model_type was accepted (and stopped every safetensors fuzz campaign) */
    expect_error(cfg_with("model_type", "\"\""), LM_ERR_FORMAT, "'model_type' is empty", NULL);
    expect_error(cfg_with("model_type", "7"), LM_ERR_FORMAT, "key 'model_type' is 7, expected a "
                                                             "string", NULL);
    expect_error(cfg_with("architectures", "\"LlamaForCausalLM\""), LM_ERR_FORMAT,
                 "key 'architectures' is \"LlamaForCausalLM\", expected a list of strings", NULL);
    expect_error(cfg_with("architectures", "[3]"), LM_ERR_FORMAT, "key 'architectures[0]' is 3",
                 NULL);
    expect_error(cfg_with("tie_word_embeddings", "1"), LM_ERR_FORMAT,
                 "key 'tie_word_embeddings' is 1, expected true or false", NULL);
    expect_error(cfg_with("rms_norm_eps", "0"), LM_ERR_FORMAT, "key 'rms_norm_eps' is 0, expected "
                                                               "a number in (0, 1]", NULL);
    expect_error(cfg_with("rms_norm_eps", "\"1e-5\""), LM_ERR_FORMAT, "rms_norm_eps", NULL);
    expect_error(cfg_with("rope_theta", "-1"), LM_ERR_FORMAT, "key 'rope_theta' is -1", NULL);
    expect_error(cfg_with("torch_dtype", "[\"bf16\"]"), LM_ERR_FORMAT,
                 "key 'torch_dtype' is an array", NULL);
    expect_error(cfg_with("bos_token_id", "-1"), LM_ERR_FORMAT, "key 'bos_token_id' is -1", NULL);
    expect_error(cfg_with("eos_token_id", "\"</s>\""), LM_ERR_FORMAT,
                 "key 'eos_token_id' is \"</s>\", expected a token id or a list", NULL);
    expect_error(cfg_with("eos_token_id", "[1,2.5]"), LM_ERR_FORMAT, "key 'eos_token_id[1]' is 2.5",
                 NULL);
    expect_error(cfg_with("eos_token_id", "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,"
                                          "21,22,23,24,25,26,27,28,29,30,31,32,33]"),
                 LM_ERR_LIMIT, "33 token ids, at most 32", NULL);
    expect_error(cfg_with("sliding_window", "\"4096\""), LM_ERR_FORMAT, "key 'sliding_window'",
                 NULL);
    expect_error(cfg_with("use_sliding_window", "\"yes\""), LM_ERR_FORMAT,
                 "key 'use_sliding_window'", NULL);
    expect_error(cfg_with("model_type", "\"0123456789012345678901234567890123456789012345678901234"
                                        "567890123456789\""),
                 LM_ERR_FORMAT, "key 'model_type': string of 70 bytes, at most 63", NULL);

    /* Shapes that cannot work. */
    expect_error(cfg_with("num_key_value_heads", "3"), LM_ERR_FORMAT,
                 "num_attention_heads 4 is not a multiple of num_key_value_heads 3", NULL);
    expect_error(cfg_with("num_key_value_heads", "8"), LM_ERR_FORMAT, "not a multiple", NULL);
    expect_error(cfg_with("hidden_size", "66"), LM_ERR_FORMAT,
                 "hidden_size 66 is not a multiple of num_attention_heads 4 and config.json gives "
                 "no head_dim", NULL);
    parse_ok("{\"model_type\":\"llama\",\"hidden_size\":66,\"num_hidden_layers\":2,"
             "\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":100,"
             "\"head_dim\":16}");
    expect_error(cfg_with("partial_rotary_factor", "0"), LM_ERR_FORMAT,
                 "key 'partial_rotary_factor' is 0, expected a number in (0, 1]", NULL);
    expect_error(cfg_with("partial_rotary_factor", "1.5"), LM_ERR_FORMAT, "partial_rotary_factor",
                 NULL);
    parse_ok(cfg_with("partial_rotary_factor", "0.3")); /* 16 * 0.3 = 4.8: 4 dims */
    assert_int_equal(cfg.rotary_dim, 4);
    expect_error(cfg_with("partial_rotary_factor", "0.2"), LM_ERR_FORMAT,
                 "llama: rotary_dim 3 must be even and in [2, head_dim 16]", NULL);
    expect_error(cfg_with("partial_rotary_factor", "0.05"), LM_ERR_FORMAT, "rotary_dim 0", NULL);
    expect_error(cfg_with("rotary_dim", "32"), LM_ERR_FORMAT, "rotary_dim 32 must be", NULL);
}

static void test_rope_errors(void **state) {
    (void)state;
    expect_error(cfg_with("rope_scaling", "[]"), LM_ERR_FORMAT,
                 "key 'rope_scaling' is an array, expected an object or null", NULL);
    expect_error(cfg_with("rope_scaling", "{\"factor\":2.0}"), LM_ERR_FORMAT,
                 "key 'rope_scaling' has no 'rope_type' (or 'type')", NULL);
    expect_error(cfg_with("rope_scaling", "{\"type\":2}"), LM_ERR_FORMAT,
                 "key 'rope_scaling.type' is 2, expected a string", NULL);
    expect_error(cfg_with("rope_scaling", "{\"rope_type\":\"linear\"}"), LM_ERR_FORMAT,
                 "key 'rope_scaling.factor' must be a positive number for rope type 'linear'",
                 NULL);
    expect_error(cfg_with("rope_scaling", "{\"rope_type\":\"linear\",\"factor\":\"2\"}"),
                 LM_ERR_FORMAT, "key 'rope_scaling.factor' is \"2\"", NULL);
    expect_error(cfg_with("rope_scaling", "{\"rope_type\":\"llama3\",\"factor\":8,"
                                          "\"low_freq_factor\":4,\"high_freq_factor\":4,"
                                          "\"original_max_position_embeddings\":8192}"),
                 LM_ERR_FORMAT, "llama3 needs 0 < low_freq_factor < high_freq_factor", NULL);
    expect_error(cfg_with("rope_scaling", "{\"rope_type\":\"llama3\",\"factor\":8,"
                                          "\"low_freq_factor\":1,\"high_freq_factor\":4}"),
                 LM_ERR_FORMAT, "llama3 needs original_max_position_embeddings", NULL);
    expect_error(cfg_with("rope_scaling", "{\"rope_type\":\"llama3\",\"factor\":8,"
                                          "\"low_freq_factor\":1,\"high_freq_factor\":4,"
                                          "\"original_max_position_embeddings\":0}"),
                 LM_ERR_FORMAT, "key 'rope_scaling.original_max_position_embeddings' is 0", NULL);
    expect_error(cfg_with("rope_scaling", "{\"rope_type\":\"longrope\",\"short_factor\":[1,1,1,1,"
                                          "1,1,1,1],\"long_factor\":[1,1,1,1,1,1,1,0]}"),
                 LM_ERR_FORMAT, "key 'rope_scaling.long_factor[7]' is 0", NULL);
    expect_error(cfg_with("rope_scaling", "{\"rope_type\":\"longrope\",\"short_factor\":[1,1,1,1,"
                                          "1,1,1,1e300],\"long_factor\":[1,1,1,1,1,1,1,1]}"),
                 LM_ERR_FORMAT, "short_factor[7]", NULL);
    parse_ok(cfg_with("rope_scaling", "{\"rope_type\":\"longrope\",\"short_factor\":[1,1,1,1,"
                                      "1,1,1,1],\"long_factor\":[1,1,1,1,1,1,1,2]}"));
    assert_int_equal(cfg.rope_scaling.n_long_factor, 8);
    expect_error(cfg_with("rope_parameters", "{\"rope_theta\":\"big\"}"), LM_ERR_FORMAT,
                 "key 'rope_parameters.rope_theta' is \"big\"", NULL);
    expect_error(cfg_with("original_max_position_embeddings", "-3"), LM_ERR_FORMAT,
                 "key 'original_max_position_embeddings' is -3", NULL);
}

static void test_generation(void **state) {
    (void)state;
    hfconfig_generation g;
    lm_error err;
    err_clear(&err);
    assert_int_equal(hfconfig_parse_generation(llama31_gen, strlen(llama31_gen), &g, &err), LM_OK);
    assert_true(g.present);
    assert_int_equal(g.bos_token_id, 128000);
    assert_int_equal(g.n_eos, 3);
    assert_int_equal(g.eos_token_ids[1], 128008);
    assert_true(g.has_do_sample && g.do_sample);
    assert_true(g.has_temperature && g.temperature == 0.6);
    assert_true(g.has_top_p && g.top_p == 0.9);
    assert_false(g.has_top_k || g.has_repetition_penalty || g.has_max_new_tokens);

    assert_int_equal(hfconfig_parse_generation(qwen3_gen, strlen(qwen3_gen), &g, &err), LM_OK);
    assert_true(g.has_top_k && g.top_k == 20);
    assert_int_equal(g.n_eos, 2);

    const char *all = "{\"eos_token_id\":7,\"do_sample\":false,\"temperature\":0,"
                      "\"top_p\":1,\"top_k\":0,\"repetition_penalty\":1.1,\"max_new_tokens\":256,"
                      "\"bos_token_id\":null}";
    assert_int_equal(hfconfig_parse_generation(all, strlen(all), &g, &err), LM_OK);
    assert_int_equal(g.n_eos, 1);
    assert_int_equal(g.eos_token_ids[0], 7);
    assert_true(g.has_do_sample && !g.do_sample);
    assert_true(g.has_temperature && g.temperature == 0.0);
    assert_true(g.has_repetition_penalty && g.repetition_penalty == 1.1);
    assert_true(g.has_max_new_tokens && g.max_new_tokens == 256);
    assert_int_equal(g.bos_token_id, -1);

    static const struct {
        const char *json;
        lm_status code;
        const char *want;
    } bad[] = {
        {"{\"temperature\":\"hot\"}", LM_ERR_FORMAT, "key 'temperature' is \"hot\""},
        {"{\"temperature\":-0.5}", LM_ERR_FORMAT, "key 'temperature' is -0.5"},
        {"{\"top_p\":1.5}", LM_ERR_FORMAT, "key 'top_p' is 1.5, expected a number in [0, 1]"},
        {"{\"top_k\":-1}", LM_ERR_FORMAT, "key 'top_k' is -1"},
        {"{\"top_k\":2.5}", LM_ERR_FORMAT, "key 'top_k' is 2.5"},
        {"{\"repetition_penalty\":0}", LM_ERR_FORMAT, "key 'repetition_penalty' is 0"},
        {"{\"max_new_tokens\":\"many\"}", LM_ERR_FORMAT, "key 'max_new_tokens'"},
        {"{\"do_sample\":\"true\"}", LM_ERR_FORMAT, "key 'do_sample' is \"true\""},
        {"{\"eos_token_id\":[1,\"2\"]}", LM_ERR_FORMAT, "key 'eos_token_id[1]' is \"2\""},
        {"[]", LM_ERR_FORMAT, "expected a JSON object"},
        {"{", LM_ERR_FORMAT, "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear(&err);
        lm_status s = hfconfig_parse_generation(bad[i].json, strlen(bad[i].json), &g, &err);
        if (s != bad[i].code || !strstr(err.msg, bad[i].want))
            fail_msg("%s: got %s '%s', want '%s'", bad[i].json, err_status_name(s), err.msg,
                     bad[i].want);
    }
}

static void test_size_limit(void **state) {
    (void)state;
    size_t n = LM_HFCONFIG_MAX_BYTES + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    lm_error err;
    err_clear(&err);
    assert_int_equal(hfconfig_parse(big, n, &cfg, &err), LM_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "LM_HFCONFIG_MAX_BYTES"));
    hfconfig_generation g;
    err_clear(&err);
    assert_int_equal(hfconfig_parse_generation(big, n, &g, &err), LM_ERR_LIMIT);
    free(big);
    err_clear(&err);
    assert_int_equal(hfconfig_parse(NULL, 0, NULL, &err), LM_ERR_INVALID);
}

/* ---------------------------------------------------------------------------------------------
 * Folders
 * ------------------------------------------------------------------------------------------- */

static void test_load_folder(void **state) {
    (void)state;
    char dir[4096];
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lm_hfc_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) fail_msg("mkdtemp: %s", strerror(errno));
    lm_error err;
    err_clear(&err);
    assert_int_equal(hfconfig_load(dir, &cfg, &err), LM_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "has no config.json"));

    write_text(dir, "config.json", llama31_8b);
    err_clear(&err);
    assert_int_equal(hfconfig_load(dir, &cfg, &err), LM_OK);
    assert_false(cfg.gen.present);
    const int64_t *ids;
    assert_int_equal(hfconfig_eos_ids(&cfg, &ids), 3);

    write_text(dir, "generation_config.json", "{\"eos_token_id\":5,\"temperature\":0.7}");
    assert_int_equal(hfconfig_load(dir, &cfg, &err), LM_OK);
    assert_true(cfg.gen.present && cfg.gen.has_temperature);
    assert_int_equal(hfconfig_eos_ids(&cfg, &ids), 1); /* the generation config's win */
    assert_int_equal(ids[0], 5);
    assert_int_equal(cfg.n_eos, 3);

    write_text(dir, "generation_config.json", "{\"temperature\":0.7}");
    assert_int_equal(hfconfig_load(dir, &cfg, &err), LM_OK);
    assert_int_equal(hfconfig_eos_ids(&cfg, &ids), 3); /* none there: config.json's */

    write_text(dir, "generation_config.json", "{\"top_p\":7}");
    err_clear(&err);
    assert_int_equal(hfconfig_load(dir, &cfg, &err), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "generation_config.json: key 'top_p' is 7"));
    assert_non_null(strstr(err.msg, dir));

    write_text(dir, "config.json", "{\n  \"model_type\": \"llama\",\n  \"hidden_size\": ,\n}");
    err_clear(&err);
    assert_int_equal(hfconfig_load(dir, &cfg, &err), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "config.json: not valid JSON"));
    assert_non_null(strstr(err.msg, "line 3"));
    assert_true(err.offset > 0);

    write_text(dir, "config.json", "");
    err_clear(&err);
    assert_int_equal(hfconfig_load(dir, &cfg, &err), LM_ERR_FORMAT);

    remove_file(dir, "config.json");
    remove_file(dir, "generation_config.json");
    rmdir(dir);

    char longdir[PATH_MAX + 16];
    memset(longdir, 'd', sizeof longdir - 1);
    longdir[0] = '/';
    longdir[sizeof longdir - 1] = '\0';
    err_clear(&err);
    assert_int_equal(hfconfig_load(longdir, &cfg, &err), LM_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "path of config.json in folder '/ddd"));
    assert_non_null(strstr(err.msg, "...' is too long"));
}

/* ---------------------------------------------------------------------------------------------
 * Random damage
 * ------------------------------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static void test_mutated(void **state) {
    (void)state;
    const char *env = getenv("LM_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0)
                        : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (seed == 0) seed = 1;
    printf("test_mutated: seed %llu (set LM_TEST_SEED to repeat)\n", (unsigned long long)seed);
    fflush(stdout);
    uint64_t rng = seed;
    const char *inputs[] = {gptj_6b, falcon_7b, phi_2, qwen3_8b, llama31_8b, llama31_gen,
                            phi35_mini(48, 48, "longrope")};
    size_t ok = 0, refused = 0;
    static const char interesting[] = "{}[],:\"0123456789-.e ntrufalsn";
    for (size_t k = 0; k < sizeof inputs / sizeof inputs[0]; k++) {
        size_t len = strlen(inputs[k]);
        char *data = malloc(len);
        assert_non_null(data);
        for (int round = 0; round < 1500; round++) {
            memcpy(data, inputs[k], len);
            int edits = 1 + (int)(rng_next(&rng) % 3);
            for (int e = 0; e < edits; e++) {
                size_t at = (size_t)(rng_next(&rng) % len);
                uint64_t v = rng_next(&rng);
                data[at] = (v % 3 == 0) ? (char)(v >> 8)
                                        : interesting[(v >> 8) % (sizeof interesting - 1)];
            }
            size_t cut = (rng_next(&rng) % 8 == 0) ? (size_t)(rng_next(&rng) % len) : len;
            /* The fuzz target's checks: accepted configs satisfy the header's ranges. */
            LLVMFuzzerTestOneInput((const uint8_t *)data, cut);
            lm_error err;
            err_clear(&err);
            if (hfconfig_parse(data, cut, &cfg, &err) == LM_OK) ok++;
            else refused++;
        }
        free(data);
    }
    printf("test_mutated: %zu parsed, %zu refused\n", ok, refused);
}

/* ---------------------------------------------------------------------------------------------
 * Fuzz seeds (LM_ST_WRITE_CORPUS=<dir>): the configs, next to the safetensors seeds
 * ------------------------------------------------------------------------------------------- */

static void test_write_corpus(void **state) {
    (void)state;
    const char *dir = getenv("LM_ST_WRITE_CORPUS");
    if (!dir) return; /* only on request */
    static const struct {
        const char *name;
        const char *text;
    } seeds[] = {
        {"config_gptj.json", gptj_6b},       {"config_falcon.json", falcon_7b},
        {"config_falcon_rw.json", falcon_rw}, {"config_phi2.json", phi_2},
        {"config_mistral.json", mistral_v01}, {"config_qwen2.json", qwen2_7b},
        {"config_qwen3.json", qwen3_8b},     {"config_llama31.json", llama31_8b},
        {"generation_llama31.json", llama31_gen}, {"generation_qwen3.json", qwen3_gen},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        write_text(dir, seeds[i].name, seeds[i].text);
    write_text(dir, "config_phi35_longrope.json", phi35_mini(48, 48, "longrope"));
    lm_buf b = {0};
    read_text(lmtest_data("hf/llama3-hf-bf16/config.json"), &b);
    write_text(dir, "config_llama3_oracle.json", buf_cstr(&b));
    buf_fini(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_configs),
        cmocka_unit_test(test_model_families),
        cmocka_unit_test(test_defaults_and_variants),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_rope_errors),
        cmocka_unit_test(test_generation),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_load_folder),
        cmocka_unit_test(test_mutated),
        cmocka_unit_test(test_write_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
