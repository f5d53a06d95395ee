/* tests/model/test_gguf.c — the GGUF reader (src/model/gguf.c).
 *
 * A small writer in this file builds v2 and v3 files with every value type, nested arrays and
 * tensors of several types; the tests parse them back and check every value. Then the bundled
 * demo model, then damage: the demo truncated everywhere and mutated at random (seed printed,
 * LM_TEST_SEED repeats it), and one hand-made file per corruption class with its exact error.
 * With LM_GGUF_WRITE_CORPUS=<dir> the run also writes the fuzz seed files there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/limits.h"
#include "model/gguf.h"

/* walk_gguf(): the fuzz target's full walk with its consistency checks. */
#include "fuzz/fuzz_gguf.c"

#define DEMO_MODEL LM_SOURCE_DIR "/models/demo/stories260K.gguf"

/* ---------------------------------------------------------------------------------------------
 * A tiny GGUF writer (little-endian, byte by byte)
 * ------------------------------------------------------------------------------------------- */

static void w_u8(lm_buf *b, uint8_t v) { buf_append(b, &v, 1); }

static void w_le(lm_buf *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) w_u8(b, (uint8_t)(v >> (8 * i)));
}

static void w_u16(lm_buf *b, uint16_t v) { w_le(b, v, 2); }
static void w_u32(lm_buf *b, uint32_t v) { w_le(b, v, 4); }
static void w_u64(lm_buf *b, uint64_t v) { w_le(b, v, 8); }

static void w_f32(lm_buf *b, float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    w_u32(b, bits);
}

static void w_f64(lm_buf *b, double x) {
    uint64_t bits;
    memcpy(&bits, &x, 8);
    w_u64(b, bits);
}

static void w_str(lm_buf *b, const char *s) {
    w_u64(b, strlen(s));
    buf_append(b, s, strlen(s));
}

static void w_header(lm_buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    buf_append(b, "GGUF", 4);
    w_u32(b, version);
    w_u64(b, n_tensors);
    w_u64(b, n_kv);
}

/* Key and value type; the caller writes the value. */
static void w_key(lm_buf *b, const char *key, gguf_type t) {
    w_str(b, key);
    w_u32(b, t);
}

static void w_arr(lm_buf *b, gguf_type elem, uint64_t n) {
    w_u32(b, elem);
    w_u64(b, n);
}

static void kv_u32(lm_buf *b, const char *key, uint32_t v) {
    w_key(b, key, GGUF_TYPE_UINT32);
    w_u32(b, v);
}

static void kv_str(lm_buf *b, const char *key, const char *s) {
    w_key(b, key, GGUF_TYPE_STRING);
    w_str(b, s);
}

static void w_tinfo(lm_buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                    uint64_t offset) {
    w_str(b, name);
    w_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) w_u64(b, ne[d]);
    w_u32(b, type);
    w_u64(b, offset);
}

static void w_pad(lm_buf *b, size_t align) {
    while (b->len % align) w_u8(b, 0);
}

/* ---------------------------------------------------------------------------------------------
 * The sample file: every value type, nested arrays, six tensors
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[4];
    ggml_type type;
    uint64_t nbytes; /* worked out by hand from the block table, not by the reader */
} sample_tensor;

static const sample_tensor sample_tensors[] = {
    {"a.f32", 2, {4, 3}, GGML_TYPE_F32, 48},
    {"b.q4_0", 2, {64, 2}, GGML_TYPE_Q4_0, 2 * 2 * 18},
    {"c.q4_K", 1, {256}, GGML_TYPE_Q4_K, 144},
    {"d.f16", 4, {2, 2, 2, 2}, GGML_TYPE_F16, 32},
    {"e.i8", 1, {5}, GGML_TYPE_I8, 5},
    {"f.q8_0", 3, {32, 1, 3}, GGML_TYPE_Q8_0, 3 * 34},
    {"g.bf16", 2, {3, 1}, GGML_TYPE_BF16, 6},
};
#define N_SAMPLE_TENSORS (sizeof sample_tensors / sizeof sample_tensors[0])
#define N_SAMPLE_KV 30 /* with general.alignment */

static uint8_t sample_byte(size_t tensor, uint64_t i) { return (uint8_t)(tensor * 31 + i * 7 + 1); }

/* Builds the sample; `alignment` 0 leaves general.alignment out (default 32). */
static void build_sample(lm_buf *b, uint32_t version, uint32_t alignment) {
    w_header(b, version, N_SAMPLE_TENSORS, N_SAMPLE_KV - (alignment ? 0 : 1));
    w_key(b, "t.u8", GGUF_TYPE_UINT8); w_u8(b, 200);
    w_key(b, "t.i8", GGUF_TYPE_INT8); w_u8(b, (uint8_t)-100);
    w_key(b, "t.u16", GGUF_TYPE_UINT16); w_u16(b, 60000);
    w_key(b, "t.i16", GGUF_TYPE_INT16); w_u16(b, (uint16_t)-30000);
    w_key(b, "t.u32", GGUF_TYPE_UINT32); w_u32(b, 4000000000u);
    w_key(b, "t.i32", GGUF_TYPE_INT32); w_u32(b, (uint32_t)-2000000000);
    w_key(b, "t.i32pos", GGUF_TYPE_INT32); w_u32(b, 7);
    w_key(b, "t.f32", GGUF_TYPE_FLOAT32); w_f32(b, 1.5f);
    w_key(b, "t.bool", GGUF_TYPE_BOOL); w_u8(b, 1);
    w_key(b, "t.str", GGUF_TYPE_STRING); w_str(b, "hello");
    w_key(b, "t.u64", GGUF_TYPE_UINT64); w_u64(b, UINT64_MAX - 1);
    w_key(b, "t.u64small", GGUF_TYPE_UINT64); w_u64(b, 123456);
    w_key(b, "t.i64", GGUF_TYPE_INT64); w_u64(b, (uint64_t)INT64_MIN);
    w_key(b, "t.f64", GGUF_TYPE_FLOAT64); w_f64(b, -3.25);
    w_key(b, "t.f64big", GGUF_TYPE_FLOAT64); w_f64(b, 1e300);
    w_key(b, "t.emptystr", GGUF_TYPE_STRING); w_str(b, "");
    /* One array per element type. */
    w_key(b, "a.u8", GGUF_TYPE_ARRAY); w_arr(b, GGUF_TYPE_UINT8, 3);
    w_u8(b, 1); w_u8(b, 2); w_u8(b, 255);
    w_key(b, "a.i8", GGUF_TYPE_ARRAY); w_arr(b, GGUF_TYPE_INT8, 2);
    w_u8(b, (uint8_t)-128); w_u8(b, 127);
    w_key(b, "a.u16", GGUF_TYPE_ARRAY); w_arr(b, GGUF_TYPE_UINT16, 2);
    w_u16(b, 0); w_u16(b, 65535);
    w_key(b, "a.i16", GGUF_TYPE_ARRAY); w_arr(b, GGUF_TYPE_INT16, 2);
    w_u16(b, (uint16_t)-32768); w_u16(b, 5);
    w_key(b, "a.i32", GGUF_TYPE_ARRAY); w_arr(b, GGUF_TYPE_INT32, 3);
    w_u32(b, (uint32_t)-1); w_u32(b, 0); w_u32(b, 2147483647);
    w_key(b, "a.f32", GGUF_TYPE_ARRAY); w_arr(b, GGUF_TYPE_FLOAT32, 2);
    w_f32(b, 0.25f); w_f32(b, -2.0f);
    w_key(b, "a.bool", GGUF_TYPE_ARRAY); w_arr(b, GGUF_TYPE_BOOL, 3);
    w_u8(b, 1); w_u8(b, 0); w_u8(b, 1);
    w_key(b, "a.str", GGUF_TYPE_ARRAY); w_arr(b, GGUF_TYPE_STRING, 3);
    w_str(b, "a"); w_str(b, ""); w_str(b, "ccc");
    w_key(b, "a.u64", GGUF_TYPE_ARRAY); w_arr(b, GGUF_TYPE_UINT64, 1);
    w_u64(b, 1ull << 40);
    w_key(b, "a.i64", GGUF_TYPE_ARRAY); w_arr(b, GGUF_TYPE_INT64, 1);
    w_u64(b, (uint64_t)-5);
    w_key(b, "a.empty", GGUF_TYPE_ARRAY); w_arr(b, GGUF_TYPE_UINT32, 0);
    /* [["x", "yy"], [], ["zzz"]] */
    w_key(b, "n.strs", GGUF_TYPE_ARRAY); w_arr(b, GGUF_TYPE_ARRAY, 3);
    w_arr(b, GGUF_TYPE_STRING, 2); w_str(b, "x"); w_str(b, "yy");
    w_arr(b, GGUF_TYPE_STRING, 0);
    w_arr(b, GGUF_TYPE_STRING, 1); w_str(b, "zzz");
    /* [[[1, 2], [3]], [[4.5 as f64]]] : element types may differ between siblings */
    w_key(b, "n.deep", GGUF_TYPE_ARRAY); w_arr(b, GGUF_TYPE_ARRAY, 2);
    w_arr(b, GGUF_TYPE_ARRAY, 2);
    w_arr(b, GGUF_TYPE_UINT32, 2); w_u32(b, 1); w_u32(b, 2);
    w_arr(b, GGUF_TYPE_UINT32, 1); w_u32(b, 3);
    w_arr(b, GGUF_TYPE_ARRAY, 1);
    w_arr(b, GGUF_TYPE_FLOAT64, 1); w_f64(b, 4.5);
    if (alignment) kv_u32(b, "general.alignment", alignment);

    uint32_t align = alignment ? alignment : 32;
    uint64_t off = 0;
    for (size_t i = 0; i < N_SAMPLE_TENSORS; i++) {
        const sample_tensor *t = &sample_tensors[i];
        w_tinfo(b, t->name, t->n_dims, t->ne, t->type, off);
        off += (t->nbytes + align - 1) / align * align;
    }
    w_pad(b, align);
    for (size_t i = 0; i < N_SAMPLE_TENSORS; i++) {
        for (uint64_t k = 0; k < sample_tensors[i].nbytes; k++) w_u8(b, sample_byte(i, k));
        if (i + 1 < N_SAMPLE_TENSORS) w_pad(b, align); /* the last one ends the file */
    }
}

/* Parses `len` bytes from an exact-size heap copy, so ASan catches any read past the end. */
static lm_status parse_copy(const void *data, size_t len, gguf_file **f, void **copy,
                            lm_error *err) {
    *copy = malloc(len ? len : 1);
    assert_non_null(*copy);
    if (len) memcpy(*copy, data, len);
    err_clear(err);
    return gguf_parse(*copy, len, f, err);
}

static void check_sample(const lm_buf *b, uint32_t version, uint32_t alignment) {
    gguf_file *f;
    void *copy;
    lm_error err;
    lm_status s = parse_copy(b->data, b->len, &f, &copy, &err);
    if (s != LM_OK) fail_msg("sample v%u did not parse: %s", version, err.msg);
    uint32_t align = alignment ? alignment : 32;
    assert_int_equal(gguf_version(f), version);
    assert_int_equal(gguf_alignment(f), align);
    assert_int_equal(gguf_kv_count(f), N_SAMPLE_KV - (alignment ? 0 : 1));
    assert_int_equal(gguf_tensor_count(f), N_SAMPLE_TENSORS);
    assert_int_equal(gguf_data_offset(f) % align, 0);

    /* Keys keep file order. */
    assert_true(gguf_str_eq(gguf_kv_at(f, 0)->key, "t.u8"));
    assert_true(gguf_str_eq(gguf_kv_at(f, 1)->key, "t.i8"));
    assert_null(gguf_kv_at(f, gguf_kv_count(f)));

    /* Scalars, through the raw value and the getters. */
    const gguf_kv *kv;
    kv = gguf_find(f, "t.u8");
    assert_int_equal(kv->value.type, GGUF_TYPE_UINT8);
    assert_int_equal(kv->value.v.u64, 200);
    kv = gguf_find(f, "t.i8");
    assert_int_equal(kv->value.type, GGUF_TYPE_INT8);
    assert_int_equal(kv->value.v.i64, -100);
    assert_int_equal(gguf_find(f, "t.u16")->value.v.u64, 60000);
    assert_int_equal(gguf_find(f, "t.i16")->value.v.i64, -30000);
    assert_int_equal(gguf_find(f, "t.u32")->value.v.u64, 4000000000u);
    assert_int_equal(gguf_find(f, "t.i32")->value.v.i64, -2000000000);
    assert_true(gguf_find(f, "t.f32")->value.v.f64 == 1.5);
    assert_int_equal(gguf_find(f, "t.bool")->value.v.u64, 1);
    assert_true(gguf_find(f, "t.u64")->value.v.u64 == UINT64_MAX - 1);
    assert_true(gguf_find(f, "t.i64")->value.v.i64 == INT64_MIN);
    assert_true(gguf_find(f, "t.f64")->value.v.f64 == -3.25);
    assert_null(gguf_find(f, "t.u"));
    assert_null(gguf_find(f, "t.u88"));
    assert_null(gguf_find(f, ""));

    uint32_t u32;
    uint64_t u64;
    float f32;
    int bo;
    gguf_str str;
    gguf_value arr;
    err_clear(&err);
    assert_int_equal(gguf_get_u32(f, "t.u8", &u32, &err), LM_OK);
    assert_int_equal(u32, 200);
    assert_int_equal(gguf_get_u32(f, "t.u16", &u32, &err), LM_OK);
    assert_int_equal(u32, 60000);
    assert_int_equal(gguf_get_u32(f, "t.u32", &u32, &err), LM_OK);
    assert_int_equal(u32, 4000000000u);
    assert_int_equal(gguf_get_u32(f, "t.i32pos", &u32, &err), LM_OK);
    assert_int_equal(u32, 7);
    assert_int_equal(gguf_get_u32(f, "t.u64small", &u32, &err), LM_OK);
    assert_int_equal(u32, 123456);
    assert_int_equal(gguf_get_u64(f, "t.u64", &u64, &err), LM_OK);
    assert_true(u64 == UINT64_MAX - 1);
    assert_int_equal(gguf_get_f32(f, "t.f32", &f32, &err), LM_OK);
    assert_true(f32 == 1.5f);
    assert_int_equal(gguf_get_f32(f, "t.f64", &f32, &err), LM_OK);
    assert_true(f32 == -3.25f);
    assert_int_equal(gguf_get_bool(f, "t.bool", &bo, &err), LM_OK);
    assert_int_equal(bo, 1);
    assert_int_equal(gguf_get_str(f, "t.str", &str, &err), LM_OK);
    assert_true(gguf_str_eq(str, "hello"));
    assert_int_equal(gguf_get_str(f, "t.emptystr", &str, &err), LM_OK);
    assert_true(gguf_str_eq(str, ""));
    assert_int_equal(err.code, LM_OK);

    /* Absent keys leave err untouched, so callers can fall back to a default. */
    assert_int_equal(gguf_get_u32(f, "nope", &u32, &err), LM_ERR_NOT_FOUND);
    assert_int_equal(gguf_get_f32(f, "nope", &f32, &err), LM_ERR_NOT_FOUND);
    assert_int_equal(gguf_get_array(f, "nope", GGUF_TYPE_COUNT, &arr, &err), LM_ERR_NOT_FOUND);
    assert_int_equal(err.code, LM_OK);

    /* Conversions that would not be exact are format errors naming the key and its offset. */
#define EXPECT_FORMAT(call, key)                                                               \
    do {                                                                                       \
        err_clear(&err);                                                                       \
        assert_int_equal((call), LM_ERR_FORMAT);                                               \
        assert_non_null(strstr(err.msg, "'" key "'"));                                         \
        assert_true(err.offset > 0);                                                           \
    } while (0)
    EXPECT_FORMAT(gguf_get_u32(f, "t.i8", &u32, &err), "t.i8");          /* negative */
    EXPECT_FORMAT(gguf_get_u32(f, "t.u64", &u32, &err), "t.u64");        /* too big */
    EXPECT_FORMAT(gguf_get_u64(f, "t.i64", &u64, &err), "t.i64");        /* negative */
    EXPECT_FORMAT(gguf_get_u32(f, "t.f32", &u32, &err), "t.f32");        /* not an integer */
    EXPECT_FORMAT(gguf_get_u32(f, "t.bool", &u32, &err), "t.bool");      /* nor is a bool */
    EXPECT_FORMAT(gguf_get_f32(f, "t.u32", &f32, &err), "t.u32");        /* not a float */
    EXPECT_FORMAT(gguf_get_f32(f, "t.f64big", &f32, &err), "t.f64big");  /* out of range */
    EXPECT_FORMAT(gguf_get_bool(f, "t.u8", &bo, &err), "t.u8");
    EXPECT_FORMAT(gguf_get_str(f, "a.str", &str, &err), "a.str");
    EXPECT_FORMAT(gguf_get_array(f, "t.str", GGUF_TYPE_COUNT, &arr, &err), "t.str");
    EXPECT_FORMAT(gguf_get_array(f, "a.str", GGUF_TYPE_UINT32, &arr, &err), "a.str");
#undef EXPECT_FORMAT

    /* Arrays of every element type: by index and by iterator. */
    err_clear(&err);
    gguf_value e;
    assert_int_equal(gguf_get_array(f, "a.u8", GGUF_TYPE_UINT8, &arr, &err), LM_OK);
    assert_int_equal(arr.v.arr.n, 3);
    assert_int_equal(arr.v.arr.size, 3);
    assert_int_equal(gguf_array_get(&arr, 2).v.u64, 255);
    assert_int_equal(gguf_array_get(&arr, 3).type, GGUF_TYPE_COUNT);
    assert_int_equal(gguf_get_array(f, "a.i8", GGUF_TYPE_INT8, &arr, &err), LM_OK);
    assert_int_equal(gguf_array_get(&arr, 0).v.i64, -128);
    assert_int_equal(gguf_array_get(&arr, 1).v.i64, 127);
    assert_int_equal(gguf_get_array(f, "a.u16", GGUF_TYPE_UINT16, &arr, &err), LM_OK);
    assert_int_equal(gguf_array_get(&arr, 1).v.u64, 65535);
    assert_int_equal(gguf_get_array(f, "a.i16", GGUF_TYPE_INT16, &arr, &err), LM_OK);
    assert_int_equal(gguf_array_get(&arr, 0).v.i64, -32768);
    assert_int_equal(gguf_array_get(&arr, 1).v.i64, 5);
    assert_int_equal(gguf_get_array(f, "a.i32", GGUF_TYPE_INT32, &arr, &err), LM_OK);
    assert_int_equal(gguf_array_get(&arr, 0).v.i64, -1);
    assert_int_equal(gguf_array_get(&arr, 2).v.i64, 2147483647);
    assert_int_equal(gguf_get_array(f, "a.f32", GGUF_TYPE_FLOAT32, &arr, &err), LM_OK);
    assert_true(gguf_array_get(&arr, 0).v.f64 == 0.25);
    assert_true(gguf_array_get(&arr, 1).v.f64 == -2.0);
    assert_int_equal(gguf_get_array(f, "a.bool", GGUF_TYPE_BOOL, &arr, &err), LM_OK);
    assert_int_equal(gguf_array_get(&arr, 0).v.u64, 1);
    assert_int_equal(gguf_array_get(&arr, 1).v.u64, 0);
    assert_int_equal(gguf_get_array(f, "a.u64", GGUF_TYPE_UINT64, &arr, &err), LM_OK);
    assert_true(gguf_array_get(&arr, 0).v.u64 == 1ull << 40);
    assert_int_equal(gguf_get_array(f, "a.i64", GGUF_TYPE_INT64, &arr, &err), LM_OK);
    assert_int_equal(gguf_array_get(&arr, 0).v.i64, -5);
    assert_int_equal(gguf_get_array(f, "a.empty", GGUF_TYPE_COUNT, &arr, &err), LM_OK);
    assert_int_equal(arr.v.arr.n, 0);
    gguf_array_iter it = gguf_array_begin(&arr);
    assert_false(gguf_array_next(&it, &e));

    assert_int_equal(gguf_get_array(f, "a.str", GGUF_TYPE_STRING, &arr, &err), LM_OK);
    const char *want_str[] = {"a", "", "ccc"};
    it = gguf_array_begin(&arr);
    for (int i = 0; i < 3; i++) {
        assert_true(gguf_array_next(&it, &e));
        assert_int_equal(e.type, GGUF_TYPE_STRING);
        assert_true(gguf_str_eq(e.v.str, want_str[i]));
        assert_true(gguf_str_eq(gguf_array_get(&arr, (uint64_t)i).v.str, want_str[i]));
    }
    assert_false(gguf_array_next(&it, &e));
    assert_int_equal(arr.v.arr.size, 3 * 8 + 4);

    /* Nested: [["x", "yy"], [], ["zzz"]] */
    assert_int_equal(gguf_get_array(f, "n.strs", GGUF_TYPE_ARRAY, &arr, &err), LM_OK);
    assert_int_equal(arr.v.arr.n, 3);
    const char *want_nested[3][2] = {{"x", "yy"}, {NULL, NULL}, {"zzz", NULL}};
    const uint64_t want_n[3] = {2, 0, 1};
    it = gguf_array_begin(&arr);
    for (int i = 0; i < 3; i++) {
        assert_true(gguf_array_next(&it, &e));
        assert_int_equal(e.type, GGUF_TYPE_ARRAY);
        assert_int_equal(e.v.arr.elem, GGUF_TYPE_STRING);
        assert_int_equal(e.v.arr.n, want_n[i]);
        gguf_value same = gguf_array_get(&arr, (uint64_t)i);
        assert_ptr_equal(same.v.arr.data, e.v.arr.data);
        assert_int_equal(same.v.arr.size, e.v.arr.size);
        for (uint64_t k = 0; k < want_n[i]; k++)
            assert_true(gguf_str_eq(gguf_array_get(&e, k).v.str, want_nested[i][k]));
    }
    assert_false(gguf_array_next(&it, &e));

    /* [[[1, 2], [3]], [[4.5]]] */
    assert_int_equal(gguf_get_array(f, "n.deep", GGUF_TYPE_ARRAY, &arr, &err), LM_OK);
    gguf_value l1 = gguf_array_get(&arr, 0), l2 = gguf_array_get(&l1, 1);
    assert_int_equal(l1.v.arr.n, 2);
    assert_int_equal(l2.v.arr.elem, GGUF_TYPE_UINT32);
    assert_int_equal(gguf_array_get(&l2, 0).v.u64, 3);
    l2 = gguf_array_get(&l1, 0);
    assert_int_equal(gguf_array_get(&l2, 1).v.u64, 2);
    l1 = gguf_array_get(&arr, 1);
    l2 = gguf_array_get(&l1, 0);
    assert_int_equal(l2.v.arr.elem, GGUF_TYPE_FLOAT64);
    assert_true(gguf_array_get(&l2, 0).v.f64 == 4.5);
    gguf_value scalar = gguf_find(f, "t.u8")->value;
    assert_int_equal(gguf_array_get(&scalar, 0).type, GGUF_TYPE_COUNT);
    it = gguf_array_begin(&scalar);
    assert_false(gguf_array_next(&it, &e));

    /* Tensors: shape, type, size, placement and bytes. */
    for (size_t i = 0; i < N_SAMPLE_TENSORS; i++) {
        const sample_tensor *want = &sample_tensors[i];
        const gguf_tensor *t = gguf_tensor_at(f, i);
        assert_non_null(t);
        assert_ptr_equal(gguf_find_tensor(f, want->name), t);
        assert_true(gguf_str_eq(t->name, want->name));
        assert_int_equal(t->n_dims, want->n_dims);
        for (int d = 0; d < 4; d++)
            assert_int_equal(t->ne[d], d < (int)want->n_dims ? want->ne[d] : 1);
        assert_int_equal(t->type, want->type);
        assert_int_equal(t->nbytes, want->nbytes);
        assert_int_equal(t->offset % align, 0);
        const unsigned char *p = t->data;
        assert_ptr_equal(p, (const unsigned char *)copy + gguf_data_offset(f) + t->offset);
        for (uint64_t k = 0; k < t->nbytes; k++) assert_int_equal(p[k], sample_byte(i, k));
    }
    assert_null(gguf_tensor_at(f, N_SAMPLE_TENSORS));
    assert_null(gguf_find_tensor(f, "a.f3"));
    assert_null(gguf_find_tensor(f, "zzz"));

    walk_gguf(f, copy, b->len);
    gguf_close(f);
    free(copy);
}

static void test_sample_v3_aligned_64(void **state) {
    (void)state;
    lm_buf b = {0};
    build_sample(&b, 3, 64);
    check_sample(&b, 3, 64);
    buf_fini(&b);
}

static void test_sample_v2_default_alignment(void **state) {
    (void)state;
    lm_buf b = {0};
    build_sample(&b, 2, 0);
    check_sample(&b, 2, 0);
    buf_fini(&b);
}

static void test_sample_every_prefix_fails_cleanly(void **state) {
    (void)state;
    lm_buf b = {0};
    build_sample(&b, 3, 0);
    for (size_t len = 0; len < b.len; len++) {
        gguf_file *f;
        void *copy;
        lm_error err;
        lm_status s = parse_copy(b.data, len, &f, &copy, &err);
        if (s == LM_OK) fail_msg("prefix of %zu bytes parsed", len);
        assert_null(f);
        assert_int_equal(err.code, s);
        assert_true(err.msg[0] != '\0');
        free(copy);
    }
    buf_fini(&b);
}

static void test_type_table(void **state) {
    (void)state;
    struct { ggml_type t; const char *name; uint32_t elems, bytes; } want[] = {
        {GGML_TYPE_F32, "f32", 1, 4},       {GGML_TYPE_F16, "f16", 1, 2},
        {GGML_TYPE_BF16, "bf16", 1, 2},     {GGML_TYPE_Q4_0, "q4_0", 32, 18},
        {GGML_TYPE_Q4_1, "q4_1", 32, 20},   {GGML_TYPE_Q5_0, "q5_0", 32, 22},
        {GGML_TYPE_Q5_1, "q5_1", 32, 24},   {GGML_TYPE_Q8_0, "q8_0", 32, 34},
        {GGML_TYPE_Q8_1, "q8_1", 32, 36},   {GGML_TYPE_Q2_K, "q2_K", 256, 84},
        {GGML_TYPE_Q3_K, "q3_K", 256, 110}, {GGML_TYPE_Q4_K, "q4_K", 256, 144},
        {GGML_TYPE_Q5_K, "q5_K", 256, 176}, {GGML_TYPE_Q6_K, "q6_K", 256, 210},
        {GGML_TYPE_Q8_K, "q8_K", 256, 292}, {GGML_TYPE_I8, "i8", 1, 1},
        {GGML_TYPE_I16, "i16", 1, 2},       {GGML_TYPE_I32, "i32", 1, 4},
        {GGML_TYPE_I64, "i64", 1, 8},       {GGML_TYPE_F64, "f64", 1, 8},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_string_equal(ggml_type_name(want[i].t), want[i].name);
        assert_int_equal(ggml_block_elems(want[i].t), want[i].elems);
        assert_int_equal(ggml_block_bytes(want[i].t), want[i].bytes);
    }
    const int unknown[] = {4, 5, 16, 23, 29, 31, 39, 40, 1000, -1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_null(ggml_type_name((ggml_type)unknown[i]));
        assert_int_equal(ggml_block_elems((ggml_type)unknown[i]), 0);
        assert_int_equal(ggml_block_bytes((ggml_type)unknown[i]), 0);
    }
}

/* ---------------------------------------------------------------------------------------------
 * The demo model
 * ------------------------------------------------------------------------------------------- */

static void load_demo(lm_buf *b) {
    FILE *fp = fopen(DEMO_MODEL, "rb");
    if (!fp) fail_msg("cannot open %s", DEMO_MODEL);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) buf_append(b, chunk, n);
    fclose(fp);
    assert_false(b->oom);
}

static void test_demo_model(void **state) {
    (void)state;
    gguf_file *f;
    lm_error err;
    err_clear(&err);
    if (gguf_open(DEMO_MODEL, &f, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(gguf_version(f), 3);
    assert_int_equal(gguf_kv_count(f), 19);
    assert_int_equal(gguf_tensor_count(f), 48);
    assert_int_equal(gguf_alignment(f), 32);
    assert_int_equal(gguf_data_offset(f), 14176);

    uint32_t u32;
    assert_int_equal(gguf_get_u32(f, "llama.block_count", &u32, &err), LM_OK);
    assert_int_equal(u32, 5);
    assert_int_equal(gguf_get_u32(f, "llama.embedding_length", &u32, &err), LM_OK);
    assert_int_equal(u32, 64);
    assert_int_equal(gguf_get_u32(f, "llama.attention.head_count_kv", &u32, &err), LM_OK);
    assert_int_equal(u32, 4);
    assert_int_equal(gguf_get_u32(f, "tokenizer.ggml.padding_token_id", &u32, &err), LM_OK);
    assert_int_equal(u32, UINT32_MAX);
    float eps;
    assert_int_equal(gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &eps, &err), LM_OK);
    assert_true(fabsf(eps - 1e-5f) < 1e-9f);
    gguf_str arch;
    assert_int_equal(gguf_get_str(f, "general.architecture", &arch, &err), LM_OK);
    assert_true(gguf_str_eq(arch, "llama"));

    gguf_value tokens, scores, types;
    assert_int_equal(gguf_get_array(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, &err),
                     LM_OK);
    assert_int_equal(tokens.v.arr.n, 512);
    assert_true(gguf_str_eq(gguf_array_get(&tokens, 0).v.str, "<unk>"));
    assert_true(gguf_str_eq(gguf_array_get(&tokens, 1).v.str, "<s>"));
    assert_true(gguf_str_eq(gguf_array_get(&tokens, 2).v.str, "</s>"));
    gguf_array_iter it = gguf_array_begin(&tokens);
    gguf_value e;
    size_t count = 0;
    while (gguf_array_next(&it, &e)) {
        assert_int_equal(e.type, GGUF_TYPE_STRING);
        count++;
    }
    assert_int_equal(count, 512);
    assert_int_equal(gguf_get_array(f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, &scores, &err),
                     LM_OK);
    assert_int_equal(scores.v.arr.n, 512);
    assert_int_equal(gguf_get_array(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &types, &err),
                     LM_OK);
    assert_int_equal(gguf_array_get(&types, 0).v.i64, 2);
    assert_int_equal(err.code, LM_OK);

    const gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
    assert_non_null(t);
    assert_ptr_equal(t, gguf_tensor_at(f, 0));
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    assert_int_equal(t->type, GGML_TYPE_F32);
    assert_int_equal(t->nbytes, 64 * 512 * 4);
    assert_int_equal(t->offset, 0);
    t = gguf_find_tensor(f, "blk.4.ffn_norm.weight");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 1);
    assert_int_equal(t->ne[0], 64);
    /* The last tensor ends exactly at the end of the file. */
    assert_int_equal(gguf_data_offset(f) + t->offset + t->nbytes, 1185376);
    t = gguf_find_tensor(f, "blk.2.ffn_down.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 172);
    assert_int_equal(t->ne[1], 64);
    assert_null(gguf_find_tensor(f, "blk.5.ffn_norm.weight"));
    gguf_close(f);
}

static void test_open_errors(void **state) {
    (void)state;
    gguf_file *f = (gguf_file *)1;
    lm_error err;
    err_clear(&err);
    assert_int_equal(gguf_open("/nonexistent/model.gguf", &f, &err), LM_ERR_IO);
    assert_null(f);
    assert_non_null(strstr(err.msg, "/nonexistent/model.gguf"));

    char path[] = "/tmp/lm_test_gguf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd); /* empty file */
    err_clear(&err);
    assert_int_equal(gguf_open(path, &f, &err), LM_ERR_FORMAT);
    assert_null(f);
    assert_non_null(strstr(err.msg, path)); /* the message names the file */
    assert_non_null(strstr(err.msg, "too small"));

    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fwrite("GGUF\x01\x00\x00\x00", 1, 8, fp);
    fclose(fp);
    err_clear(&err);
    assert_int_equal(gguf_open(path, &f, &err), LM_ERR_UNSUPPORTED);
    assert_int_equal(err.offset, 4);
    unlink(path);

    err_clear(&err);
    assert_int_equal(gguf_parse(NULL, 0, &f, &err), LM_ERR_FORMAT);
    gguf_close(NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Damage to the demo model
 * ------------------------------------------------------------------------------------------- */

static void expect_clean(lm_status s, gguf_file *f, const lm_error *err, const void *data,
                         size_t len, const char *what) {
    if (s == LM_OK) {
        assert_non_null(f);
        walk_gguf(f, data, len);
        gguf_close(f);
        return;
    }
    if (f || err->code != s || err->msg[0] == '\0')
        fail_msg("%s: status %s with message '%s'", what, err_status_name(s), err->msg);
    if (s != LM_ERR_FORMAT && s != LM_ERR_UNSUPPORTED && s != LM_ERR_LIMIT)
        fail_msg("%s: unexpected status %s: %s", what, err_status_name(s), err->msg);
}

static void test_demo_truncated(void **state) {
    (void)state;
    lm_buf b = {0};
    load_demo(&b);
    /* Every byte through the metadata and tensor infos, then every 1 KiB through the data. */
    const size_t meta_end = 14176;
    size_t runs = 0;
    for (size_t len = 0; len < b.len; len = len < meta_end ? len + 1 : (len / 1024 + 1) * 1024) {
        gguf_file *f;
        void *copy;
        lm_error err;
        lm_status s = parse_copy(b.data, len, &f, &copy, &err);
        /* The last tensor ends at the end of the file: any prefix loses some of it. */
        if (s == LM_OK) fail_msg("prefix of %zu bytes parsed", len);
        expect_clean(s, f, &err, copy, len, "truncation");
        free(copy);
        runs++;
    }
    assert_true(runs > meta_end);
    buf_fini(&b);
}

/* xorshift64*: small, seedable, the same everywhere. */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static void test_demo_mutated(void **state) {
    (void)state;
    const char *env = getenv("LM_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0)
                        : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (seed == 0) seed = 1;
    printf("test_demo_mutated: seed %llu (set LM_TEST_SEED to repeat)\n", (unsigned long long)seed);
    fflush(stdout);
    uint64_t rng = seed;

    lm_buf b = {0};
    load_demo(&b);
    unsigned char *data = malloc(b.len);
    assert_non_null(data);
    memcpy(data, b.data, b.len);
    const size_t meta_end = 14176;
    size_t ok = 0, failed = 0;
    for (int round = 0; round < 4000; round++) {
        enum { MAX_EDITS = 4 };
        size_t pos[MAX_EDITS * 8];
        unsigned char old[MAX_EDITS * 8];
        size_t n_saved = 0;
        int edits = 1 + (int)(rng_next(&rng) % MAX_EDITS);
        for (int k = 0; k < edits; k++) {
            /* Mostly the metadata, where the structure is; sometimes anywhere. */
            uint64_t r = rng_next(&rng);
            size_t at = (r % 10 < 9) ? (size_t)(rng_next(&rng) % meta_end)
                                     : (size_t)(rng_next(&rng) % b.len);
            uint64_t kind = rng_next(&rng) % 5, v = rng_next(&rng);
            size_t width = kind == 4 ? 8 : 1;
            if (at + width > b.len) at = b.len - width;
            for (size_t j = 0; j < width; j++) {
                pos[n_saved] = at + j;
                old[n_saved++] = data[at + j];
            }
            switch (kind) {
            case 0: data[at] ^= (unsigned char)(1u << (v % 8)); break; /* bit flip */
            case 1: data[at] = (unsigned char)v; break;               /* random byte */
            case 2: data[at] = 0xff; break;
            case 3: data[at] = 0; break;
            default: { /* a 64-bit count or length: extreme or slightly off */
                const uint64_t pick[] = {0, 1, UINT64_MAX, 1ull << 63, (uint64_t)LM_GGUF_MAX_KV + 1,
                                         v, v & 0xffff, 0x7fffffffffffffffull};
                uint64_t x = pick[(v >> 32) % 8];
                for (size_t j = 0; j < 8; j++) data[at + j] = (unsigned char)(x >> (8 * j));
                break;
            }
            }
        }
        gguf_file *f = NULL;
        lm_error err;
        err_clear(&err);
        lm_status s = gguf_parse(data, b.len, &f, &err);
        char what[64];
        snprintf(what, sizeof what, "mutation round %d (seed %llu)", round,
                 (unsigned long long)seed);
        expect_clean(s, f, &err, data, b.len, what);
        if (s == LM_OK) ok++;
        else failed++;
        while (n_saved > 0) { /* undo in reverse: edits may overlap */
            n_saved--;
            data[pos[n_saved]] = old[n_saved];
        }
    }
    printf("test_demo_mutated: %zu parsed, %zu rejected\n", ok, failed);
    assert_memory_equal(data, b.data, b.len);
    free(data);
    buf_fini(&b);
}

/* ---------------------------------------------------------------------------------------------
 * One file per corruption class
 * ------------------------------------------------------------------------------------------- */

/* Parses `b` and checks the status and that the message mentions each of the `want` strings. */
static void expect_error(const lm_buf *b, lm_status code, const char *want1, const char *want2) {
    gguf_file *f = (gguf_file *)1;
    void *copy;
    lm_error err;
    lm_status s = parse_copy(b->data, b->len, &f, &copy, &err);
    free(copy);
    if (s != code)
        fail_msg("expected %s, got %s: '%s'", err_status_name(code), err_status_name(s), err.msg);
    assert_null(f);
    assert_int_equal(err.code, code);
    assert_true(err.offset >= 0);
    if (want1 && !strstr(err.msg, want1)) fail_msg("'%s' does not mention '%s'", err.msg, want1);
    if (want2 && !strstr(err.msg, want2)) fail_msg("'%s' does not mention '%s'", err.msg, want2);
}

static void expect_ok(const lm_buf *b) {
    gguf_file *f;
    void *copy;
    lm_error err;
    lm_status s = parse_copy(b->data, b->len, &f, &copy, &err);
    if (s != LM_OK) fail_msg("expected success: %s", err.msg);
    walk_gguf(f, copy, b->len);
    gguf_close(f);
    free(copy);
}

/* A file with one metadata entry (`kv` writes it) and no tensors. */
typedef void (*kv_writer)(lm_buf *b);

static void one_kv_file(lm_buf *b, kv_writer kv) {
    buf_reset(b);
    w_header(b, 3, 0, 1);
    kv(b);
}

/* A file with the given tensor infos (already written by `infos`), then data of `data_bytes`. */
static void tensor_file(lm_buf *b, uint64_t n_tensors, void (*infos)(lm_buf *), size_t data_bytes) {
    buf_reset(b);
    w_header(b, 3, n_tensors, 1);
    kv_str(b, "general.architecture", "test");
    infos(b);
    w_pad(b, 32);
    for (size_t i = 0; i < data_bytes; i++) w_u8(b, 0);
}

static void test_corrupt_header(void **state) {
    (void)state;
    lm_buf b = {0};
    w_header(&b, 3, 0, 0);
    expect_ok(&b);

    buf_reset(&b);
    buf_append(&b, "GGUX", 4);
    w_u32(&b, 3); w_u64(&b, 0); w_u64(&b, 0);
    expect_error(&b, LM_ERR_FORMAT, "magic", "GGUX");

    buf_reset(&b);
    buf_append(&b, "GG", 2);
    expect_error(&b, LM_ERR_FORMAT, "too small", NULL);

    buf_reset(&b);
    w_header(&b, 1, 0, 0);
    expect_error(&b, LM_ERR_UNSUPPORTED, "version 1", NULL);
    buf_reset(&b);
    w_header(&b, 99, 0, 0);
    expect_error(&b, LM_ERR_UNSUPPORTED, "version 99", NULL);
    buf_reset(&b);
    w_header(&b, 0x03000000u, 0, 0);
    expect_error(&b, LM_ERR_UNSUPPORTED, "big-endian", NULL);

    buf_reset(&b);
    buf_append(&b, "GGUF", 4);
    w_u32(&b, 3);
    w_u64(&b, 0);
    expect_error(&b, LM_ERR_FORMAT, "metadata count", "file ends");

    /* Counts: past the limit is LM_ERR_LIMIT; within it but past the bytes is a format error. */
    buf_reset(&b);
    w_header(&b, 3, 0, UINT64_MAX);
    expect_error(&b, LM_ERR_LIMIT, "metadata count 18446744073709551615", "LM_GGUF_MAX_KV");
    buf_reset(&b);
    w_header(&b, 3, 0, (uint64_t)LM_GGUF_MAX_KV + 1);
    expect_error(&b, LM_ERR_LIMIT, "metadata count", NULL);
    buf_reset(&b);
    w_header(&b, 3, 0, 1000);
    expect_error(&b, LM_ERR_FORMAT, "metadata count 1000", "cannot fit");
    buf_reset(&b);
    w_header(&b, 3, UINT64_MAX, 0);
    expect_error(&b, LM_ERR_LIMIT, "tensor count", "LM_GGUF_MAX_TENSORS");
    buf_reset(&b);
    w_header(&b, 3, (uint64_t)LM_GGUF_MAX_TENSORS + 1, 0);
    expect_error(&b, LM_ERR_LIMIT, "tensor count", NULL);
    buf_reset(&b);
    w_header(&b, 3, 1000, 0);
    expect_error(&b, LM_ERR_FORMAT, "tensor count 1000", "cannot fit");
    buf_fini(&b);
}

static void kv_key_too_long(lm_buf *b) {
    w_u64(b, 1000);
    buf_append(b, "general.x", 9);
}
static void kv_value_too_long(lm_buf *b) {
    w_key(b, "general.name", GGUF_TYPE_STRING);
    w_u64(b, UINT64_MAX);
    buf_append(b, "abc", 3);
}
static void kv_unknown_type(lm_buf *b) {
    w_key(b, "general.x", (gguf_type)13);
    w_u32(b, 0);
}
static void kv_unknown_elem(lm_buf *b) {
    w_key(b, "general.arr", GGUF_TYPE_ARRAY);
    w_arr(b, (gguf_type)77, 1);
    w_u32(b, 0);
}
static void kv_bad_bool(lm_buf *b) {
    w_key(b, "general.flag", GGUF_TYPE_BOOL);
    w_u8(b, 2);
}
static void kv_bad_bool_in_array(lm_buf *b) {
    w_key(b, "general.flags", GGUF_TYPE_ARRAY);
    w_arr(b, GGUF_TYPE_BOOL, 3);
    w_u8(b, 0); w_u8(b, 1); w_u8(b, 7);
}
static void kv_array_too_long(lm_buf *b) {
    w_key(b, "general.arr", GGUF_TYPE_ARRAY);
    w_arr(b, GGUF_TYPE_UINT64, 1ull << 61); /* n * 8 wraps 64 bits */
    w_u64(b, 0);
}
static void kv_string_array_too_long(lm_buf *b) {
    w_key(b, "tokens", GGUF_TYPE_ARRAY);
    w_arr(b, GGUF_TYPE_STRING, 3);
    w_str(b, "a");
    w_str(b, "b");
}
static void kv_empty_key(lm_buf *b) {
    w_key(b, "", GGUF_TYPE_UINT8);
    w_u8(b, 0);
}
static void kv_truncated_scalar(lm_buf *b) {
    w_key(b, "general.count", GGUF_TYPE_UINT64);
    w_u32(b, 1);
}

static void test_corrupt_metadata(void **state) {
    (void)state;
    lm_buf b = {0};
    one_kv_file(&b, kv_key_too_long);
    expect_error(&b, LM_ERR_FORMAT, "key length 1000 past end of file", "metadata entry #0");
    one_kv_file(&b, kv_value_too_long);
    expect_error(&b, LM_ERR_FORMAT, "key 'general.name': string value length", "past end");
    one_kv_file(&b, kv_unknown_type);
    expect_error(&b, LM_ERR_FORMAT, "unknown value type 13", "general.x");
    one_kv_file(&b, kv_unknown_elem);
    expect_error(&b, LM_ERR_FORMAT, "unknown array element type 77", "general.arr");
    one_kv_file(&b, kv_bad_bool);
    expect_error(&b, LM_ERR_FORMAT, "bool value 2", "general.flag");
    one_kv_file(&b, kv_bad_bool_in_array);
    expect_error(&b, LM_ERR_FORMAT, "bool value 7", "general.flags");
    one_kv_file(&b, kv_array_too_long);
    expect_error(&b, LM_ERR_FORMAT, "array of 2305843009213693952 uint64", "general.arr");
    one_kv_file(&b, kv_string_array_too_long);
    expect_error(&b, LM_ERR_FORMAT, "tokens", NULL);
    one_kv_file(&b, kv_empty_key);
    expect_error(&b, LM_ERR_FORMAT, "empty key", NULL);
    one_kv_file(&b, kv_truncated_scalar);
    expect_error(&b, LM_ERR_FORMAT, "general.count", "uint64");

    /* Duplicate keys, reported at the second one with a pointer to the first. */
    buf_reset(&b);
    w_header(&b, 3, 0, 3);
    kv_u32(&b, "llama.block_count", 5);
    kv_str(&b, "general.name", "x");
    kv_u32(&b, "llama.block_count", 6);
    expect_error(&b, LM_ERR_FORMAT, "duplicate metadata key 'llama.block_count'",
                 "first at byte offset 24");
    /* Keys that differ only after a NUL or in length are distinct. */
    buf_reset(&b);
    w_header(&b, 3, 0, 3);
    w_u64(&b, 3); buf_append(&b, "a\0b", 3); w_u32(&b, GGUF_TYPE_UINT8); w_u8(&b, 1);
    w_u64(&b, 3); buf_append(&b, "a\0c", 3); w_u32(&b, GGUF_TYPE_UINT8); w_u8(&b, 2);
    w_u64(&b, 1); buf_append(&b, "a", 1); w_u32(&b, GGUF_TYPE_UINT8); w_u8(&b, 3);
    expect_ok(&b);

    /* Names in messages are made printable and cut. */
    buf_reset(&b);
    w_header(&b, 3, 0, 1);
    char longkey[300];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    longkey[0] = '\n';
    w_key(&b, longkey, (gguf_type)42);
    expect_error(&b, LM_ERR_FORMAT, "key '?kkk", "...'");
    buf_fini(&b);
}

/* Depth bomb: `levels` arrays, each holding one array, the innermost one uint8. */
static void nested_file(lm_buf *b, int levels) {
    buf_reset(b);
    w_header(b, 3, 0, 1);
    w_key(b, "bomb", GGUF_TYPE_ARRAY);
    for (int i = 1; i < levels; i++) w_arr(b, GGUF_TYPE_ARRAY, 1);
    w_arr(b, GGUF_TYPE_UINT8, 1);
    w_u8(b, 42);
}

static void test_corrupt_nesting(void **state) {
    (void)state;
    lm_buf b = {0};
    nested_file(&b, LM_GGUF_MAX_ARRAY_DEPTH);
    expect_ok(&b);
    {
        gguf_file *f;
        void *copy;
        lm_error err;
        assert_int_equal(parse_copy(b.data, b.len, &f, &copy, &err), LM_OK);
        gguf_value v = gguf_find(f, "bomb")->value;
        for (int i = 1; i < LM_GGUF_MAX_ARRAY_DEPTH; i++) {
            assert_int_equal(v.v.arr.elem, GGUF_TYPE_ARRAY);
            v = gguf_array_get(&v, 0);
        }
        assert_int_equal(v.v.arr.elem, GGUF_TYPE_UINT8);
        assert_int_equal(gguf_array_get(&v, 0).v.u64, 42);
        gguf_close(f);
        free(copy);
    }
    nested_file(&b, LM_GGUF_MAX_ARRAY_DEPTH + 1);
    expect_error(&b, LM_ERR_LIMIT, "nested deeper", "bomb");
    nested_file(&b, 100000);
    expect_error(&b, LM_ERR_LIMIT, "LM_GGUF_MAX_ARRAY_DEPTH", "bomb");
    buf_fini(&b);
}

static void kv_align(lm_buf *b, uint32_t a) {
    buf_reset(b);
    w_header(b, 3, 0, 1);
    kv_u32(b, "general.alignment", a);
}

static void test_corrupt_alignment(void **state) {
    (void)state;
    lm_buf b = {0};
    kv_align(&b, 0);
    expect_error(&b, LM_ERR_FORMAT, "general.alignment", "= 0 is not a nonzero power of two");
    kv_align(&b, 3);
    expect_error(&b, LM_ERR_FORMAT, "general.alignment", "= 3 is not");
    kv_align(&b, 1u << 31);
    expect_ok(&b);
    kv_align(&b, 1);
    expect_ok(&b);
    buf_reset(&b);
    w_header(&b, 3, 0, 1);
    w_key(&b, "general.alignment", GGUF_TYPE_UINT64);
    w_u64(&b, 32);
    expect_error(&b, LM_ERR_FORMAT, "general.alignment", "uint64, expected uint32");
    buf_fini(&b);
}

static const uint64_t ne_64x2[] = {64, 2};

static void ti_ok(lm_buf *b) { w_tinfo(b, "w", 2, ne_64x2, GGML_TYPE_F32, 0); }
static void ti_dup(lm_buf *b) {
    w_tinfo(b, "w", 2, ne_64x2, GGML_TYPE_F32, 0);
    w_tinfo(b, "v", 2, ne_64x2, GGML_TYPE_F32, 512);
    w_tinfo(b, "w", 2, ne_64x2, GGML_TYPE_F32, 1024);
}
static void ti_type4(lm_buf *b) { w_tinfo(b, "blk.0.attn_q.weight", 2, ne_64x2, 4, 0); }
static void ti_type_huge(lm_buf *b) { w_tinfo(b, "w", 2, ne_64x2, 0xffffffffu, 0); }
static void ti_dims0(lm_buf *b) { w_tinfo(b, "w0", 0, ne_64x2, GGML_TYPE_F32, 0); }
static void ti_dims5(lm_buf *b) {
    const uint64_t ne[5] = {1, 1, 1, 1, 1};
    w_tinfo(b, "w5", 5, ne, GGML_TYPE_F32, 0);
}
static void ti_zero_dim(lm_buf *b) {
    const uint64_t ne[2] = {64, 0};
    w_tinfo(b, "wz", 2, ne, GGML_TYPE_F32, 0);
}
static void ti_partial_block(lm_buf *b) {
    const uint64_t ne[2] = {33, 2};
    w_tinfo(b, "wq", 2, ne, GGML_TYPE_Q4_0, 0);
}
static void ti_misaligned(lm_buf *b) { w_tinfo(b, "wm", 2, ne_64x2, GGML_TYPE_F32, 8); }
static void ti_past_end(lm_buf *b) {
    w_tinfo(b, "blk.0.attn_q.weight", 2, ne_64x2, GGML_TYPE_F32, 0);
}
static void ti_offset_huge(lm_buf *b) {
    w_tinfo(b, "wo", 2, ne_64x2, GGML_TYPE_F32, UINT64_MAX - 31);
}
static void ti_elems_overflow(lm_buf *b) {
    const uint64_t ne[3] = {1ull << 32, 1ull << 32, 1ull << 32};
    w_tinfo(b, "wbig", 3, ne, GGML_TYPE_F32, 0);
}
static void ti_bytes_overflow(lm_buf *b) {
    const uint64_t ne[1] = {1ull << 62};
    w_tinfo(b, "wbytes", 1, ne, GGML_TYPE_F64, 0);
}
static void ti_bytes_huge(lm_buf *b) {
    const uint64_t ne[1] = {1ull << 61};
    w_tinfo(b, "whuge", 1, ne, GGML_TYPE_I8, 0);
}
static void ti_empty_name(lm_buf *b) { w_tinfo(b, "", 2, ne_64x2, GGML_TYPE_F32, 0); }

static void test_corrupt_tensors(void **state) {
    (void)state;
    lm_buf b = {0};
    tensor_file(&b, 1, ti_ok, 512);
    expect_ok(&b);
    tensor_file(&b, 3, ti_dup, 1536);
    expect_error(&b, LM_ERR_FORMAT, "duplicate tensor name 'w'", "first at byte offset");
    tensor_file(&b, 1, ti_type4, 512);
    expect_error(&b, LM_ERR_UNSUPPORTED, "unknown ggml type 4", "blk.0.attn_q.weight");
    tensor_file(&b, 1, ti_type_huge, 512);
    expect_error(&b, LM_ERR_UNSUPPORTED, "unknown ggml type 4294967295", "tensor 'w'");
    tensor_file(&b, 1, ti_dims0, 512);
    expect_error(&b, LM_ERR_FORMAT, "n_dims 0 is not in [1, 4]", "w0");
    tensor_file(&b, 1, ti_dims5, 512);
    expect_error(&b, LM_ERR_FORMAT, "n_dims 5 is not in [1, 4]", "w5");
    tensor_file(&b, 1, ti_zero_dim, 512);
    expect_error(&b, LM_ERR_FORMAT, "dimension 1 is 0", "wz");
    tensor_file(&b, 1, ti_partial_block, 512);
    expect_error(&b, LM_ERR_FORMAT, "row of 33 elements is not a whole number of q4_0 blocks",
                 "tensor 'wq'");
    tensor_file(&b, 1, ti_misaligned, 1024);
    expect_error(&b, LM_ERR_FORMAT, "offset 8 is not a multiple of the alignment 32", "wm");
    tensor_file(&b, 1, ti_past_end, 511);
    char want[128];
    size_t data_at = b.len - 511;
    snprintf(want, sizeof want, "data [%zu, %zu) past end of file (size %zu)", data_at,
             data_at + 512, b.len);
    expect_error(&b, LM_ERR_FORMAT, "tensor 'blk.0.attn_q.weight'", want);
    tensor_file(&b, 1, ti_past_end, 0); /* the file ends at the data section */
    expect_error(&b, LM_ERR_FORMAT, "past end of file", "blk.0.attn_q.weight");
    tensor_file(&b, 1, ti_offset_huge, 512);
    expect_error(&b, LM_ERR_FORMAT, "past end of file", "wo");
    tensor_file(&b, 1, ti_elems_overflow, 512);
    expect_error(&b, LM_ERR_FORMAT, "2^63-1", "wbig");
    tensor_file(&b, 1, ti_bytes_overflow, 512);
    expect_error(&b, LM_ERR_FORMAT, "2^64-1 bytes", "wbytes");
    tensor_file(&b, 1, ti_bytes_huge, 512);
    expect_error(&b, LM_ERR_FORMAT, "past end of file", "whuge");
    /* The file ends inside the last dimension of a tensor info. */
    buf_reset(&b);
    w_header(&b, 3, 1, 0);
    w_str(&b, "wt");
    w_u32(&b, 4);
    w_u64(&b, 64); w_u64(&b, 2); w_u64(&b, 3);
    expect_error(&b, LM_ERR_FORMAT, "tensor 'wt': file ends inside dimension", NULL);
    tensor_file(&b, 1, ti_empty_name, 512);
    expect_error(&b, LM_ERR_FORMAT, "tensor #0 has an empty name", NULL);
    buf_fini(&b);
}

/* ---------------------------------------------------------------------------------------------
 * Fuzz seeds (LM_GGUF_WRITE_CORPUS=<dir>)
 * ------------------------------------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const void *data, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp) fail_msg("cannot write %s", path);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

static void test_write_corpus(void **state) {
    (void)state;
    const char *dir = getenv("LM_GGUF_WRITE_CORPUS");
    if (!dir) return; /* only on request */
    lm_buf b = {0};
    build_sample(&b, 3, 64);
    write_file(dir, "sample_v3.gguf", b.data, b.len);
    buf_reset(&b);
    build_sample(&b, 2, 0);
    write_file(dir, "sample_v2.gguf", b.data, b.len);
    buf_reset(&b);
    w_header(&b, 3, 0, 0);
    write_file(dir, "empty_v3.gguf", b.data, b.len);
    nested_file(&b, LM_GGUF_MAX_ARRAY_DEPTH);
    write_file(dir, "nested_max_depth.gguf", b.data, b.len);
    tensor_file(&b, 1, ti_ok, 512);
    write_file(dir, "one_tensor.gguf", b.data, b.len);
    /* A few rejected files, so the fuzzer starts next to each error path. */
    nested_file(&b, LM_GGUF_MAX_ARRAY_DEPTH + 1);
    write_file(dir, "bad_depth.gguf", b.data, b.len);
    tensor_file(&b, 3, ti_dup, 1536);
    write_file(dir, "bad_dup_tensor.gguf", b.data, b.len);
    tensor_file(&b, 1, ti_partial_block, 512);
    write_file(dir, "bad_partial_block.gguf", b.data, b.len);
    tensor_file(&b, 1, ti_past_end, 511);
    write_file(dir, "bad_past_end.gguf", b.data, b.len);
    kv_align(&b, 3);
    write_file(dir, "bad_alignment.gguf", b.data, b.len);
    one_kv_file(&b, kv_bad_bool_in_array);
    write_file(dir, "bad_bool.gguf", b.data, b.len);

    /* The demo's header and metadata (vocabulary included) without its tensors. */
    lm_buf demo = {0};
    load_demo(&demo);
    gguf_file *f;
    lm_error err;
    err_clear(&err);
    assert_int_equal(gguf_parse(demo.data, demo.len, &f, &err), LM_OK);
    const gguf_tensor *t0 = gguf_tensor_at(f, 0);
    size_t meta_end = (size_t)(t0->name.ptr - demo.data) - 8;
    gguf_close(f);
    memset(demo.data + 8, 0, 8); /* n_tensors = 0 */
    write_file(dir, "demo_metadata.gguf", demo.data, meta_end);
    buf_fini(&demo);
    buf_fini(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_sample_v3_aligned_64),
        cmocka_unit_test(test_sample_v2_default_alignment),
        cmocka_unit_test(test_sample_every_prefix_fails_cleanly),
        cmocka_unit_test(test_demo_model),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_demo_truncated),
        cmocka_unit_test(test_demo_mutated),
        cmocka_unit_test(test_corrupt_header),
        cmocka_unit_test(test_corrupt_metadata),
        cmocka_unit_test(test_corrupt_nesting),
        cmocka_unit_test(test_corrupt_alignment),
        cmocka_unit_test(test_corrupt_tensors),
        cmocka_unit_test(test_write_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
