/* tests/fuzz/fuzz_st_index.c — libFuzzer target for a sharded safetensors model folder's index,
 * model.safetensors.index.json (src/model/safetensors.c, st_model_open: weight_map, shard name
 * checks, shard validation, the merged lookup).
 *
 * The input is written as the index into a scratch folder that holds two small valid shards,
 * "model-00001-of-00002.safetensors" (tensors a, b) and "model-00002-of-00002.safetensors" (c),
 * and the folder is opened. A refusal must carry a message. An opened model promises: tensors are
 * listed in strcmp order with no duplicate, each is found by name in a shard of the model, and
 * every shard is one of the two files (an index must never reach outside its folder). */
#include "fuzzutil.h"

#include "model/safetensors.h"

/* A safetensors file: u64 header length, JSON header (padded to 8), data. */
static void write_shard(const char *name, const char *header, size_t data_bytes) {
    char buf[1024];
    size_t hl = strlen(header);
    size_t padded = (hl + 7) / 8 * 8;
    uint64_t n = padded;
    memcpy(buf, &n, 8);
    memcpy(buf + 8, header, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    memset(buf + 8 + padded, 0, data_bytes);
    fuzz_write(name, buf, 8 + padded + data_bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 18) return 0;
    const char *dir = fuzz_dir();
    write_shard("model-00001-of-00002.safetensors",
                "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],"
                "\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[16,24]}}",
                24);
    write_shard("model-00002-of-00002.safetensors",
                "{\"c\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]}}", 6);
    fuzz_write("model.safetensors.index.json", data, size);
    st_model *m = NULL;
    lm_error err;
    err_clear(&err);
    if (st_model_open(dir, &m, &err) != LM_OK) {
        FUZZ_CHECK(m == NULL && err.msg[0]);
        return 0;
    }
    size_t nt = st_model_tensor_count(m), ns = st_model_shard_count(m);
    FUZZ_CHECK(ns >= 1 && ns <= 2 && nt <= 3);
    for (size_t i = 0; i < ns; i++) {
        const char *name = st_model_shard_name(m, i);
        FUZZ_CHECK(name && st_model_shard(m, i) != NULL);
        FUZZ_CHECK(strcmp(name, "model-00001-of-00002.safetensors") == 0 ||
                   strcmp(name, "model-00002-of-00002.safetensors") == 0);
    }
    for (size_t i = 0; i < nt; i++) {
        const st_tensor *t = st_model_tensor_at(m, i);
        FUZZ_CHECK(t != NULL && st_model_find(m, t->name) == t);
        if (i) FUZZ_CHECK(strcmp(st_model_tensor_at(m, i - 1)->name, t->name) < 0);
    }
    FUZZ_CHECK(st_model_tensor_at(m, nt) == NULL);
    st_model_close(m);
    return 0;
}
