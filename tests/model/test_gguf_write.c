/* tests/model/test_gguf_write.c — the GGUF writer, checked by reading its files back with the
 * reader (gguf_parse): every metadata value type (arrays of strings and nested arrays too),
 * alignments, several tensors of ggml and lmserve types streamed in odd-sized chunks, a verbatim
 * copy of the demo model, and each misuse the writer must refuse. */
#include "lmtest.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "compute/quant.h"
#include "model/gguf.h"
#include "model/gguf_write.h"

static char g_dir[256];

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/lm_test_gguf_write_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name) {
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return p;
}

/* Reads the whole file and parses it; *bytes owns the data (free after gguf_close). */
static gguf_file *read_back(const char *path, void **bytes, size_t *size) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    *bytes = malloc((size_t)n + 1);
    assert_non_null(*bytes);
    assert_int_equal(fread(*bytes, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    if (size) *size = (size_t)n;
    gguf_file *f = NULL;
    lm_error err;
    err_clear(&err);
    if (gguf_parse(*bytes, (size_t)n, &f, &err) != LM_OK) fail_msg("%s does not parse: %s", path, err.msg);
    return f;
}

#define OK(expr)                                                             \
    do {                                                                     \
        err_clear(&err);                                                     \
        if ((expr) != LM_OK) fail_msg("%s: %s", #expr, err.msg);             \
    } while (0)

/* ---- metadata ------------------------------------------------------------------------------ */

static void test_every_value_type(void **state) {
    (void)state;
    lm_error err;
    gguf_writer *w;
    OK(gguf_writer_create(&w, &err));
    OK(gguf_writer_add_u32(w, "h.u32", 4000000000u, &err));
    OK(gguf_writer_add_i32(w, "h.i32", -2000000000, &err));
    OK(gguf_writer_add_u64(w, "h.u64", UINT64_MAX - 1, &err));
    OK(gguf_writer_add_f32(w, "h.f32", 1.5f, &err));
    OK(gguf_writer_add_bool(w, "h.bool", 1, &err));
    OK(gguf_writer_add_str(w, "h.str", "héllo", &err));
    OK(gguf_writer_add_str(w, "h.empty", "", &err));
    /* every scalar type through add_value */
    gguf_value v;
    v = (gguf_value){.type = GGUF_TYPE_UINT8, .v.u64 = 200};
    OK(gguf_writer_add_value(w, "v.u8", &v, &err));
    v = (gguf_value){.type = GGUF_TYPE_INT8, .v.i64 = -100};
    OK(gguf_writer_add_value(w, "v.i8", &v, &err));
    v = (gguf_value){.type = GGUF_TYPE_UINT16, .v.u64 = 60000};
    OK(gguf_writer_add_value(w, "v.u16", &v, &err));
    v = (gguf_value){.type = GGUF_TYPE_INT16, .v.i64 = -30000};
    OK(gguf_writer_add_value(w, "v.i16", &v, &err));
    v = (gguf_value){.type = GGUF_TYPE_UINT32, .v.u64 = 7};
    OK(gguf_writer_add_value(w, "v.u32", &v, &err));
    v = (gguf_value){.type = GGUF_TYPE_INT32, .v.i64 = -7};
    OK(gguf_writer_add_value(w, "v.i32", &v, &err));
    v = (gguf_value){.type = GGUF_TYPE_FLOAT32, .v.f64 = -0.25};
    OK(gguf_writer_add_value(w, "v.f32", &v, &err));
    v = (gguf_value){.type = GGUF_TYPE_BOOL, .v.u64 = 0};
    OK(gguf_writer_add_value(w, "v.bool", &v, &err));
    v = (gguf_value){.type = GGUF_TYPE_STRING, .v.str = {"abc", 3}};
    OK(gguf_writer_add_value(w, "v.str", &v, &err));
    v = (gguf_value){.type = GGUF_TYPE_UINT64, .v.u64 = 1ull << 40};
    OK(gguf_writer_add_value(w, "v.u64", &v, &err));
    v = (gguf_value){.type = GGUF_TYPE_INT64, .v.i64 = INT64_MIN};
    OK(gguf_writer_add_value(w, "v.i64", &v, &err));
    v = (gguf_value){.type = GGUF_TYPE_FLOAT64, .v.f64 = 1e300};
    OK(gguf_writer_add_value(w, "v.f64", &v, &err));
    /* arrays of every fixed type, of strings, and nested */
    const uint8_t a_u8[] = {1, 255};
    const int8_t a_i8[] = {-128, 127};
    const uint16_t a_u16[] = {65535, 2};
    const int16_t a_i16[] = {-32768, 3};
    const uint32_t a_u32[] = {1, 2, 3};
    const int32_t a_i32[] = {-1, INT32_MIN};
    const float a_f32[] = {0.5f, -2.0f};
    const uint8_t a_bool[] = {1, 0, 1};
    const uint64_t a_u64[] = {UINT64_MAX};
    const int64_t a_i64[] = {INT64_MIN, 5};
    const double a_f64[] = {3.25, -1e-300};
    OK(gguf_writer_add_array(w, "a.u8", GGUF_TYPE_UINT8, a_u8, 2, &err));
    OK(gguf_writer_add_array(w, "a.i8", GGUF_TYPE_INT8, a_i8, 2, &err));
    OK(gguf_writer_add_array(w, "a.u16", GGUF_TYPE_UINT16, a_u16, 2, &err));
    OK(gguf_writer_add_array(w, "a.i16", GGUF_TYPE_INT16, a_i16, 2, &err));
    OK(gguf_writer_add_array(w, "a.u32", GGUF_TYPE_UINT32, a_u32, 3, &err));
    OK(gguf_writer_add_array(w, "a.i32", GGUF_TYPE_INT32, a_i32, 2, &err));
    OK(gguf_writer_add_array(w, "a.f32", GGUF_TYPE_FLOAT32, a_f32, 2, &err));
    OK(gguf_writer_add_array(w, "a.bool", GGUF_TYPE_BOOL, a_bool, 3, &err));
    OK(gguf_writer_add_array(w, "a.u64", GGUF_TYPE_UINT64, a_u64, 1, &err));
    OK(gguf_writer_add_array(w, "a.i64", GGUF_TYPE_INT64, a_i64, 2, &err));
    OK(gguf_writer_add_array(w, "a.f64", GGUF_TYPE_FLOAT64, a_f64, 2, &err));
    OK(gguf_writer_add_array(w, "a.none", GGUF_TYPE_UINT32, NULL, 0, &err));
    const char *strs[] = {"a", "", "<|im_end|>", "Ġthe"};
    OK(gguf_writer_add_str_array(w, "a.str", strs, 4, &err));
    /* [[1, 2], [3]] as u8 arrays, encoded by hand */
    static const unsigned char nested[] = {
        0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 2, /* array of 2 u8 */
        0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3,    /* array of 1 u8 */
    };
    v = (gguf_value){.type = GGUF_TYPE_ARRAY};
    v.v.arr.elem = GGUF_TYPE_ARRAY;
    v.v.arr.n = 2;
    v.v.arr.data = nested;
    v.v.arr.size = sizeof nested;
    OK(gguf_writer_add_value(w, "a.nested", &v, &err));
    OK(gguf_writer_open(w, tmp_path("values.gguf"), &err));
    OK(gguf_writer_close(w, &err));
    uint64_t want_size = gguf_writer_file_bytes(w);
    gguf_writer_destroy(w);

    void *bytes;
    size_t size;
    gguf_file *f = read_back(tmp_path("values.gguf"), &bytes, &size);
    assert_int_equal(size, want_size);
    assert_int_equal(gguf_version(f), 3);
    assert_int_equal(gguf_tensor_count(f), 0);
    assert_int_equal(gguf_kv_count(f), 33);
    assert_true(gguf_str_eq(gguf_kv_at(f, 0)->key, "h.u32"));
    assert_true(gguf_str_eq(gguf_kv_at(f, 32)->key, "a.nested"));
    assert_int_equal(gguf_find(f, "h.u32")->value.v.u64, 4000000000u);
    assert_int_equal(gguf_find(f, "h.i32")->value.v.i64, -2000000000);
    assert_true(gguf_find(f, "h.u64")->value.v.u64 == UINT64_MAX - 1);
    assert_true(gguf_find(f, "h.f32")->value.v.f64 == 1.5);
    assert_int_equal(gguf_find(f, "h.bool")->value.type, GGUF_TYPE_BOOL);
    assert_int_equal(gguf_find(f, "h.bool")->value.v.u64, 1);
    assert_true(gguf_str_eq(gguf_find(f, "h.str")->value.v.str, "héllo"));
    assert_int_equal(gguf_find(f, "h.empty")->value.v.str.len, 0);
    static const struct { const char *key; gguf_type t; } types[] = {
        {"v.u8", GGUF_TYPE_UINT8},   {"v.i8", GGUF_TYPE_INT8},     {"v.u16", GGUF_TYPE_UINT16},
        {"v.i16", GGUF_TYPE_INT16},  {"v.u32", GGUF_TYPE_UINT32},  {"v.i32", GGUF_TYPE_INT32},
        {"v.f32", GGUF_TYPE_FLOAT32}, {"v.bool", GGUF_TYPE_BOOL},  {"v.str", GGUF_TYPE_STRING},
        {"v.u64", GGUF_TYPE_UINT64}, {"v.i64", GGUF_TYPE_INT64},   {"v.f64", GGUF_TYPE_FLOAT64},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        assert_int_equal(gguf_find(f, types[i].key)->value.type, types[i].t);
    assert_int_equal(gguf_find(f, "v.u8")->value.v.u64, 200);
    assert_int_equal(gguf_find(f, "v.i8")->value.v.i64, -100);
    assert_int_equal(gguf_find(f, "v.u16")->value.v.u64, 60000);
    assert_int_equal(gguf_find(f, "v.i16")->value.v.i64, -30000);
    assert_int_equal(gguf_find(f, "v.u32")->value.v.u64, 7);
    assert_int_equal(gguf_find(f, "v.i32")->value.v.i64, -7);
    assert_true(gguf_find(f, "v.f32")->value.v.f64 == -0.25);
    assert_int_equal(gguf_find(f, "v.bool")->value.v.u64, 0);
    assert_true(gguf_str_eq(gguf_find(f, "v.str")->value.v.str, "abc"));
    assert_true(gguf_find(f, "v.u64")->value.v.u64 == 1ull << 40);
    assert_true(gguf_find(f, "v.i64")->value.v.i64 == INT64_MIN);
    assert_true(gguf_find(f, "v.f64")->value.v.f64 == 1e300);

    gguf_value a, e;
    err_clear(&err);
    assert_int_equal(gguf_get_array(f, "a.u8", GGUF_TYPE_UINT8, &a, &err), LM_OK);
    assert_int_equal(a.v.arr.n, 2);
    assert_int_equal(gguf_array_get(&a, 1).v.u64, 255);
    assert_int_equal(gguf_get_array(f, "a.i8", GGUF_TYPE_INT8, &a, &err), LM_OK);
    assert_int_equal(gguf_array_get(&a, 0).v.i64, -128);
    assert_int_equal(gguf_get_array(f, "a.u16", GGUF_TYPE_UINT16, &a, &err), LM_OK);
    assert_int_equal(gguf_array_get(&a, 0).v.u64, 65535);
    assert_int_equal(gguf_get_array(f, "a.i16", GGUF_TYPE_INT16, &a, &err), LM_OK);
    assert_int_equal(gguf_array_get(&a, 0).v.i64, -32768);
    assert_int_equal(gguf_get_array(f, "a.u32", GGUF_TYPE_UINT32, &a, &err), LM_OK);
    assert_int_equal(a.v.arr.n, 3);
    assert_int_equal(gguf_array_get(&a, 2).v.u64, 3);
    assert_int_equal(gguf_get_array(f, "a.i32", GGUF_TYPE_INT32, &a, &err), LM_OK);
    assert_int_equal(gguf_array_get(&a, 1).v.i64, INT32_MIN);
    assert_int_equal(gguf_get_array(f, "a.f32", GGUF_TYPE_FLOAT32, &a, &err), LM_OK);
    assert_true(gguf_array_get(&a, 1).v.f64 == -2.0);
    assert_int_equal(gguf_get_array(f, "a.bool", GGUF_TYPE_BOOL, &a, &err), LM_OK);
    assert_int_equal(gguf_array_get(&a, 0).v.u64, 1);
    assert_int_equal(gguf_array_get(&a, 1).v.u64, 0);
    assert_int_equal(gguf_get_array(f, "a.u64", GGUF_TYPE_UINT64, &a, &err), LM_OK);
    assert_true(gguf_array_get(&a, 0).v.u64 == UINT64_MAX);
    assert_int_equal(gguf_get_array(f, "a.i64", GGUF_TYPE_INT64, &a, &err), LM_OK);
    assert_true(gguf_array_get(&a, 0).v.i64 == INT64_MIN);
    assert_int_equal(gguf_get_array(f, "a.f64", GGUF_TYPE_FLOAT64, &a, &err), LM_OK);
    assert_true(gguf_array_get(&a, 1).v.f64 == -1e-300);
    assert_int_equal(gguf_get_array(f, "a.none", GGUF_TYPE_UINT32, &a, &err), LM_OK);
    assert_int_equal(a.v.arr.n, 0);
    assert_int_equal(gguf_get_array(f, "a.str", GGUF_TYPE_STRING, &a, &err), LM_OK);
    assert_int_equal(a.v.arr.n, 4);
    gguf_array_iter it = gguf_array_begin(&a);
    for (size_t i = 0; gguf_array_next(&it, &e); i++) assert_true(gguf_str_eq(e.v.str, strs[i]));
    assert_int_equal(gguf_get_array(f, "a.nested", GGUF_TYPE_ARRAY, &a, &err), LM_OK);
    e = gguf_array_get(&a, 0);
    assert_int_equal(e.v.arr.n, 2);
    assert_int_equal(gguf_array_get(&e, 1).v.u64, 2);
    e = gguf_array_get(&a, 1);
    assert_int_equal(gguf_array_get(&e, 0).v.u64, 3);
    gguf_close(f);
    free(bytes);
}

/* ---- tensors ------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    ggml_type type;
    uint32_t n_dims;
    uint64_t ne[4];
} spec;

static const spec g_specs[] = {
    {"tok_embd.weight", GGML_TYPE_F32, 2, {8, 3, 1, 1}},
    {"norm.weight", GGML_TYPE_F32, 1, {5, 1, 1, 1}},           /* 20 bytes: needs padding */
    {"blk.0.q8", GGML_TYPE_Q8_0, 2, {64, 3, 1, 1}},
    {"blk.0.i8", LM_TYPE_I8_CH, 2, {32, 5, 1, 1}},             /* rows of 4 + 32 bytes */
    {"blk.0.i4ch", LM_TYPE_I4_CH, 2, {64, 3, 1, 1}},
    {"blk.0.i4g32", LM_TYPE_I4_G32, 3, {64, 2, 2, 1}},
    {"blk.0.i4g64", LM_TYPE_I4_G64, 2, {128, 1, 1, 1}},
    {"blk.0.i4g128", LM_TYPE_I4_G128, 4, {256, 1, 2, 1}},
    {"bf16", GGML_TYPE_BF16, 1, {3, 1, 1, 1}},
};
#define N_SPECS (sizeof g_specs / sizeof g_specs[0])

static uint8_t data_byte(size_t t, uint64_t i) { return (uint8_t)(t * 37 + i * 13 + 5); }

/* Writes the spec tensors at `alignment` (0: default), data in chunks of `chunk` bytes, and
 * checks the file read back. */
static void roundtrip_tensors(uint32_t alignment, size_t chunk) {
    lm_error err;
    gguf_writer *w;
    OK(gguf_writer_create(&w, &err));
    if (alignment) OK(gguf_writer_set_alignment(w, alignment, &err));
    OK(gguf_writer_add_str(w, "general.architecture", "test", &err));
    uint64_t total = 0;
    for (size_t i = 0; i < N_SPECS; i++) {
        OK(gguf_writer_add_tensor(w, g_specs[i].name, g_specs[i].type, g_specs[i].n_dims, g_specs[i].ne, &err));
        total += gguf_writer_tensor_bytes(w, i);
    }
    assert_int_equal(gguf_writer_tensor_bytes(w, 3), 5 * (4 + 32));
    assert_int_equal(gguf_writer_tensor_bytes(w, 4), 3 * (4 + 32));
    assert_int_equal(gguf_writer_tensor_bytes(w, 5), 2 * 2 * 2 * 18);
    assert_int_equal(gguf_writer_tensor_bytes(w, 6), 2 * 34);
    assert_int_equal(gguf_writer_tensor_bytes(w, 7), 2 * 2 * 66);
    assert_int_equal(gguf_writer_tensor_bytes(w, N_SPECS), 0);
    unsigned char *all = malloc((size_t)total);
    uint64_t at = 0;
    for (size_t i = 0; i < N_SPECS; i++)
        for (uint64_t j = 0; j < gguf_writer_tensor_bytes(w, i); j++) all[at++] = data_byte(i, j);
    const char *path = tmp_path("tensors.gguf");
    OK(gguf_writer_open(w, path, &err));
    for (uint64_t off = 0; off < total; off += chunk) {
        size_t n = total - off < chunk ? (size_t)(total - off) : chunk;
        OK(gguf_writer_write(w, all + off, n, &err));
    }
    OK(gguf_writer_close(w, &err));
    uint64_t want_size = gguf_writer_file_bytes(w);
    gguf_writer_destroy(w);
    free(all);

    void *bytes;
    size_t size;
    gguf_file *f = read_back(path, &bytes, &size);
    uint32_t a = alignment ? alignment : 32;
    assert_int_equal(size, want_size);
    assert_int_equal(gguf_alignment(f), a);
    assert_int_equal(gguf_kv_count(f), alignment && alignment != 32 ? 2 : 1);
    assert_int_equal(gguf_data_offset(f) % a, 0);
    assert_int_equal(gguf_tensor_count(f), N_SPECS);
    for (size_t i = 0; i < N_SPECS; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        assert_true(gguf_str_eq(t->name, g_specs[i].name));
        assert_int_equal(t->type, g_specs[i].type);
        assert_int_equal(t->n_dims, g_specs[i].n_dims);
        for (int d = 0; d < 4; d++) assert_int_equal(t->ne[d], g_specs[i].ne[d]);
        assert_int_equal(t->offset % a, 0);
        assert_int_equal((size_t)((const unsigned char *)t->data - (const unsigned char *)bytes) % a, 0);
        const unsigned char *p = t->data;
        for (uint64_t j = 0; j < t->nbytes; j++)
            if (p[j] != data_byte(i, j)) fail_msg("tensor %zu byte %llu differs", i, (unsigned long long)j);
    }
    assert_ptr_equal(gguf_find_tensor(f, "blk.0.i8"), gguf_tensor_at(f, 3));
    gguf_close(f);
    free(bytes);
}

static void test_tensors_default_alignment(void **state) {
    (void)state;
    roundtrip_tensors(0, 1 << 20);
    roundtrip_tensors(0, 7); /* chunks that straddle tensor ends */
}

static void test_tensors_other_alignments(void **state) {
    (void)state;
    roundtrip_tensors(1, 3);
    roundtrip_tensors(64, 100);
    roundtrip_tensors(4096, 1);
    roundtrip_tensors(32, 13);
}

/* Copies every key and tensor of the demo model into a new file, verbatim. */
static void test_copy_demo_model(void **state) {
    (void)state;
    lm_error err;
    gguf_file *src;
    OK(gguf_open(lmtest_demo_model(), &src, &err));
    gguf_writer *w;
    OK(gguf_writer_create(&w, &err));
    OK(gguf_writer_set_alignment(w, gguf_alignment(src), &err));
    size_t n_copied = 0;
    for (size_t i = 0; i < gguf_kv_count(src); i++) {
        const gguf_kv *kv = gguf_kv_at(src, i);
        if (gguf_str_eq(kv->key, "general.alignment")) continue;
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        OK(gguf_writer_add_value(w, key, &kv->value, &err));
        n_copied++;
    }
    for (size_t i = 0; i < gguf_tensor_count(src); i++) {
        const gguf_tensor *t = gguf_tensor_at(src, i);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        OK(gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, &err));
    }
    const char *path = tmp_path("demo_copy.gguf");
    OK(gguf_writer_open(w, path, &err));
    for (size_t i = 0; i < gguf_tensor_count(src); i++)
        OK(gguf_writer_write(w, gguf_tensor_at(src, i)->data, gguf_tensor_at(src, i)->nbytes, &err));
    OK(gguf_writer_close(w, &err));
    gguf_writer_destroy(w);

    void *bytes;
    gguf_file *f = read_back(path, &bytes, NULL);
    assert_int_equal(gguf_tensor_count(f), gguf_tensor_count(src));
    for (size_t i = 0, j = 0; i < gguf_kv_count(src); i++) {
        const gguf_kv *a = gguf_kv_at(src, i);
        if (gguf_str_eq(a->key, "general.alignment")) continue;
        const gguf_kv *b = gguf_kv_at(f, j++);
        assert_int_equal(a->key.len, b->key.len);
        assert_memory_equal(a->key.ptr, b->key.ptr, a->key.len);
        assert_int_equal(a->value.type, b->value.type);
        if (a->value.type == GGUF_TYPE_ARRAY) {
            assert_int_equal(a->value.v.arr.n, b->value.v.arr.n);
            assert_int_equal(a->value.v.arr.size, b->value.v.arr.size);
            assert_memory_equal(a->value.v.arr.data, b->value.v.arr.data, a->value.v.arr.size);
        } else if (a->value.type == GGUF_TYPE_STRING) {
            assert_int_equal(a->value.v.str.len, b->value.v.str.len);
            assert_memory_equal(a->value.v.str.ptr, b->value.v.str.ptr, a->value.v.str.len);
        } else {
            assert_memory_equal(&a->value.v, &b->value.v, sizeof a->value.v.u64);
        }
    }
    for (size_t i = 0; i < gguf_tensor_count(src); i++) {
        const gguf_tensor *a = gguf_tensor_at(src, i), *b = gguf_tensor_at(f, i);
        assert_int_equal(a->nbytes, b->nbytes);
        assert_memory_equal(a->data, b->data, a->nbytes);
    }
    gguf_close(f);
    free(bytes);
    gguf_close(src);
}

/* The reader checks lmserve's types like ggml's: a row length that is not a multiple of the
 * type's group, or data past the end, is refused. */
static void test_reader_checks_lmserve_types(void **state) {
    (void)state;
    lm_error err;
    gguf_writer *w;
    OK(gguf_writer_create(&w, &err));
    OK(gguf_writer_add_tensor(w, "w", LM_TYPE_I4_G64, 2, (uint64_t[]){128, 2}, &err));
    const char *path = tmp_path("lmtypes.gguf");
    OK(gguf_writer_open(w, path, &err));
    unsigned char data[2 * 2 * 34] = {0};
    OK(gguf_writer_write(w, data, sizeof data, &err));
    OK(gguf_writer_close(w, &err));
    gguf_writer_destroy(w);
    void *bytes;
    size_t size;
    gguf_file *f = read_back(path, &bytes, &size);
    assert_int_equal(gguf_tensor_at(f, 0)->nbytes, sizeof data);
    gguf_close(f);
    /* ne[0] sits after magic, version, counts, the name (8 + 1) and n_dims (4) */
    unsigned char *ne0 = (unsigned char *)bytes + 24 + 9 + 4;
    assert_int_equal(ne0[0], 128);
    ne0[0] = 96; /* not whole groups of 64 */
    err_clear(&err);
    assert_int_equal(gguf_parse(bytes, size, &f, &err), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "not a multiple of 64"));
    ne0[0] = 0;
    ne0[1] = 1; /* 256: twice the data the file holds */
    err_clear(&err);
    assert_int_equal(gguf_parse(bytes, size, &f, &err), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "past end of file"));
    ne0[1] = 0;
    ne0[0] = 128;
    ne0[16] = 69; /* the type field after ne[0], ne[1]: a number past lmserve's types */
    err_clear(&err);
    assert_int_equal(gguf_parse(bytes, size, &f, &err), LM_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "unknown ggml type 69"));
    free(bytes);
}

/* ---- misuse -------------------------------------------------------------------------------- */

static void expect(lm_status got, lm_status want, const lm_error *err, const char *needle) {
    assert_int_equal(got, want);
    if (needle && !strstr(err->msg, needle)) fail_msg("message '%s' lacks '%s'", err->msg, needle);
}

static void test_refuses_misuse(void **state) {
    (void)state;
    lm_error err;
    gguf_writer *w;
    OK(gguf_writer_create(&w, &err));
    OK(gguf_writer_add_u32(w, "k", 1, &err));
    err_clear(&err);
    expect(gguf_writer_add_str(w, "k", "x", &err), LM_ERR_INVALID, &err, "'k' is added twice");
    err_clear(&err);
    expect(gguf_writer_add_u32(w, "", 1, &err), LM_ERR_INVALID, &err, "empty");
    err_clear(&err);
    expect(gguf_writer_add_u32(w, "general.alignment", 64, &err), LM_ERR_INVALID, &err,
           "gguf_writer_set_alignment");
    err_clear(&err);
    expect(gguf_writer_set_alignment(w, 48, &err), LM_ERR_INVALID, &err, "power of two");
    gguf_value v = {.type = GGUF_TYPE_UINT8, .v.u64 = 300};
    err_clear(&err);
    expect(gguf_writer_add_value(w, "u8", &v, &err), LM_ERR_INVALID, &err, "does not fit");
    v = (gguf_value){.type = GGUF_TYPE_INT16, .v.i64 = -40000};
    err_clear(&err);
    expect(gguf_writer_add_value(w, "i16", &v, &err), LM_ERR_INVALID, &err, "does not fit");
    v = (gguf_value){.type = GGUF_TYPE_BOOL, .v.u64 = 2};
    err_clear(&err);
    expect(gguf_writer_add_value(w, "b", &v, &err), LM_ERR_INVALID, &err, "does not fit");
    static const unsigned char short_str[] = {5, 0, 0, 0, 0, 0, 0, 0, 'a', 'b'};
    v = (gguf_value){.type = GGUF_TYPE_ARRAY};
    v.v.arr.elem = GGUF_TYPE_STRING;
    v.v.arr.n = 1;
    v.v.arr.data = short_str;
    v.v.arr.size = sizeof short_str;
    err_clear(&err);
    expect(gguf_writer_add_value(w, "a", &v, &err), LM_ERR_INVALID, &err, "do not hold");
    v.v.arr.elem = GGUF_TYPE_UINT32;
    v.v.arr.n = 3;
    v.v.arr.size = 10;
    err_clear(&err);
    expect(gguf_writer_add_value(w, "a", &v, &err), LM_ERR_INVALID, &err, "do not hold");
    const uint8_t bad_bool[] = {0, 7};
    err_clear(&err);
    expect(gguf_writer_add_array(w, "bb", GGUF_TYPE_BOOL, bad_bool, 2, &err), LM_ERR_INVALID, &err, "bool");
    err_clear(&err);
    expect(gguf_writer_add_array(w, "s", GGUF_TYPE_STRING, NULL, 0, &err), LM_ERR_INVALID, &err,
           "fixed-size");
    /* tensors */
    uint64_t ne[2] = {33, 2};
    err_clear(&err);
    expect(gguf_writer_add_tensor(w, "q", GGML_TYPE_Q8_0, 2, ne, &err), LM_ERR_INVALID, &err, "whole blocks");
    err_clear(&err);
    expect(gguf_writer_add_tensor(w, "i", LM_TYPE_I4_G128, 2, (uint64_t[]){64, 1}, &err), LM_ERR_INVALID,
           &err, "whole blocks");
    err_clear(&err);
    expect(gguf_writer_add_tensor(w, "u", (ggml_type)4, 1, ne, &err), LM_ERR_INVALID, &err, "unknown type");
    err_clear(&err);
    expect(gguf_writer_add_tensor(w, "z", GGML_TYPE_F32, 2, (uint64_t[]){4, 0}, &err), LM_ERR_INVALID,
           &err, "dimension 1 is 0");
    err_clear(&err);
    expect(gguf_writer_add_tensor(w, "d", GGML_TYPE_F32, 5, ne, &err), LM_ERR_INVALID, &err, "dimensions");
    OK(gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 2, ne, &err));
    OK(gguf_writer_add_tensor(w, "t2", GGML_TYPE_F16, 1, ne, &err));
    err_clear(&err);
    expect(gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 2, ne, &err), LM_ERR_INVALID, &err, "added twice");
    err_clear(&err);
    expect(gguf_writer_set_alignment(w, 64, &err), LM_ERR_INVALID, &err, "before any tensor");
    /* streaming */
    err_clear(&err);
    expect(gguf_writer_write(w, "x", 1, &err), LM_ERR_INVALID, &err, "before gguf_writer_open");
    OK(gguf_writer_open(w, tmp_path("misuse.gguf"), &err));
    err_clear(&err);
    expect(gguf_writer_add_u32(w, "late", 1, &err), LM_ERR_INVALID, &err, "after gguf_writer_open");
    float data[66 + 33] = {0};
    OK(gguf_writer_write(w, data, 66 * sizeof(float), &err));
    err_clear(&err);
    expect(gguf_writer_close(w, &err), LM_ERR_INVALID, &err, "'t2' did not get all its data");
    err_clear(&err);
    expect(gguf_writer_write(w, data, 1, &err), LM_ERR_INVALID, &err, "earlier call failed");
    gguf_writer_destroy(w);

    OK(gguf_writer_create(&w, &err));
    OK(gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 1, ne, &err));
    OK(gguf_writer_open(w, tmp_path("misuse2.gguf"), &err));
    err_clear(&err);
    expect(gguf_writer_write(w, data, 34 * sizeof(float), &err), LM_ERR_INVALID, &err, "more data");
    gguf_writer_destroy(w);

    OK(gguf_writer_create(&w, &err));
    err_clear(&err);
    expect(gguf_writer_open(w, "/nonexistent-dir/x.gguf", &err), LM_ERR_IO, &err, "/nonexistent-dir/x.gguf");
    gguf_writer_destroy(w);
    gguf_writer_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_value_type),
        cmocka_unit_test(test_tensors_default_alignment),
        cmocka_unit_test(test_tensors_other_alignments),
        cmocka_unit_test(test_copy_demo_model),
        cmocka_unit_test(test_reader_checks_lmserve_types),
        cmocka_unit_test(test_refuses_misuse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
