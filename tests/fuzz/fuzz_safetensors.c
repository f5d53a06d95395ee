/* tests/fuzz/fuzz_safetensors.c — libFuzzer target for the safetensors reader
 * (src/model/safetensors.c) and, for inputs that look like JSON, the config.json reader
 * (src/model/hfconfig.c).
 *
 * Parses the input with st_parse(); when it parses, walks every tensor and metadata entry and
 * checks what the reader promises (tensors tile the data buffer in order, sizes match shape and
 * dtype, lookups find each tensor, data lies inside the input). An input starting with '{' also
 * goes through hfconfig_parse() and hfconfig_parse_generation(), whose results must satisfy
 * hfconfig.h's ranges. A broken promise aborts so the fuzzer records it; a rejected input must
 * carry a message. tests/model/test_safetensors.c includes this file to reuse walk_st(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "model/hfconfig.h"
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Reading into a volatile sink keeps the compiler from dropping loads ASan must see. */
static volatile unsigned fuzz_sink;

static void touch(const void *p, uint64_t n) {
    const unsigned char *b = p;
    if (n == 0) return;
    fuzz_sink += b[0];
    fuzz_sink += b[n - 1];
}

/* Walks everything a parsed file exposes; `data`/`size` are the bytes it was parsed from. */
static void walk_st(const st_file *f, const unsigned char *data, size_t size) {
    uint64_t data_off = st_data_offset(f);
    FUZZ_CHECK(data_off >= 8 && data_off <= size);
    uint64_t expect = 0; /* tensors tile the data buffer in order */
    size_t n = st_tensor_count(f);
    FUZZ_CHECK(n <= LM_ST_MAX_TENSORS);
    for (size_t i = 0; i < n; i++) {
        const st_tensor *t = st_tensor_at(f, i);
        FUZZ_CHECK(t && t->name);
        touch(t->name, strlen(t->name) + 1);
        FUZZ_CHECK(t->dtype < ST_DTYPE_COUNT && st_dtype_name(t->dtype));
        FUZZ_CHECK(t->type == st_dtype_ggml(t->dtype));
        FUZZ_CHECK(t->n_dims <= LM_ST_MAX_DIMS);
        uint64_t elems = 1;
        for (uint32_t d = 0; d < LM_ST_MAX_DIMS; d++) {
            if (d >= t->n_dims) FUZZ_CHECK(t->shape[d] == 1);
            else elems *= t->shape[d]; /* cannot wrap: the reader checked */
        }
        FUZZ_CHECK(elems == t->n_elems);
        unsigned bits = st_dtype_bits(t->dtype);
        FUZZ_CHECK(t->n_elems * bits % 8 == 0 && t->n_elems * bits / 8 == t->nbytes);
        FUZZ_CHECK(t->offset == expect);
        expect += t->nbytes;
        const unsigned char *p = t->data;
        FUZZ_CHECK(p == data + data_off + t->offset);
        FUZZ_CHECK(t->nbytes <= size - data_off && t->offset <= size - data_off - t->nbytes);
        touch(p, t->nbytes);
        FUZZ_CHECK(st_find_tensor(f, t->name) == t);
    }
    FUZZ_CHECK(expect == size - data_off);
    FUZZ_CHECK(st_tensor_at(f, n) == NULL);
    FUZZ_CHECK(st_find_tensor(f, "__metadata__") == NULL);

    size_t n_meta = st_meta_count(f);
    for (size_t i = 0; i < n_meta; i++) {
        const st_meta *m = st_meta_at(f, i);
        FUZZ_CHECK(m && m->key && m->value);
        touch(m->value, strlen(m->value) + 1);
        const char *v = st_meta_get(f, m->key);
        FUZZ_CHECK(v == m->value); /* keys are unique, so the first match is this one */
    }
    FUZZ_CHECK(st_meta_at(f, n_meta) == NULL);
}

/* What hfconfig.h promises about a config it accepted. */
static void check_config(const hfconfig *c) {
    FUZZ_CHECK(c->model_type[0] != '\0');
    FUZZ_CHECK(c->hidden_size >= 1 && c->hidden_size <= LM_HFCONFIG_MAX_INT);
    FUZZ_CHECK(c->num_hidden_layers >= 1 && c->vocab_size >= 1 && c->intermediate_size >= 1);
    FUZZ_CHECK(c->num_attention_heads >= 1 && c->num_key_value_heads >= 1);
    FUZZ_CHECK(c->num_attention_heads % c->num_key_value_heads == 0);
    FUZZ_CHECK(c->head_dim >= 1);
    FUZZ_CHECK(c->rotary_dim >= 2 && c->rotary_dim <= c->head_dim && c->rotary_dim % 2 == 0);
    FUZZ_CHECK(c->norm_eps > 0 && c->rope_theta > 0);
    FUZZ_CHECK(c->sliding_window >= 0 && c->max_position_embeddings >= 0);
    FUZZ_CHECK(c->n_eos <= LM_HFCONFIG_MAX_EOS);
    const hfconfig_rope_scaling *rs = &c->rope_scaling;
    if (rs->kind == HFCONFIG_ROPE_LONGROPE)
        FUZZ_CHECK(rs->n_short_factor == c->rotary_dim / 2 &&
                   rs->n_long_factor == c->rotary_dim / 2);
    else
        FUZZ_CHECK(rs->n_short_factor == 0 && rs->n_long_factor == 0);
    FUZZ_CHECK(memchr(c->model_type, '\0', sizeof c->model_type));
    FUZZ_CHECK(memchr(rs->type, '\0', sizeof rs->type));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_file *f = NULL;
    lm_error err;
    err_clear(&err);
    lm_status s = st_parse(data, size, &f, &err);
    if (s == LM_OK) {
        FUZZ_CHECK(f != NULL);
        walk_st(f, data, size);
        st_close(f);
    } else {
        FUZZ_CHECK(f == NULL && err.code == s && err.msg[0] != '\0');
    }

    if (size > 0 && data[0] == '{') {
        hfconfig *c = malloc(sizeof *c);
        FUZZ_CHECK(c);
        err_clear(&err);
        s = hfconfig_parse((const char *)data, size, c, &err);
        if (s == LM_OK) check_config(c);
        else FUZZ_CHECK(err.code == s && err.msg[0] != '\0');
        err_clear(&err);
        s = hfconfig_parse_generation((const char *)data, size, &c->gen, &err);
        if (s == LM_OK) {
            FUZZ_CHECK(c->gen.present && c->gen.n_eos <= LM_HFCONFIG_MAX_EOS);
            FUZZ_CHECK(!c->gen.has_top_p || (c->gen.top_p >= 0 && c->gen.top_p <= 1));
        } else {
            FUZZ_CHECK(err.code == s && err.msg[0] != '\0');
        }
        free(c);
    }
    return 0;
}
