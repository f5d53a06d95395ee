/* tests/tokenizer/test_tok_normalize.c — normalizer steps; the ASCII fast path of the Unicode
 * normal forms against utf8proc on the whole text, on random strings built to stress composition
 * (combining marks, Hangul jamo, compatibility characters, composition exclusions). Random tests
 * print their seed; LM_TEST_SEED=<n> replays one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_normalize.c" /* reaches the static unicode_form* functions */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static uint64_t seed_from_env(void) {
    const char *s = getenv("LM_TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 10) : 0x5EED0001ull;
    fprintf(stderr, "seed %llu (LM_TEST_SEED to replay)\n", (unsigned long long)seed);
    return seed ? seed : 1;
}

/* A code point from pools chosen to interact under normalization. */
static uint32_t random_cp(void) {
    static const uint32_t pool[] = {
        'a', 'e', 'o', 'A', 'E', 'O', ' ', '1', '.', 0x0300, 0x0301, 0x0308, 0x0323, 0x0327,
        0x0344, 0x0345, 0x00C5, 0x00E9, 0x212B, 0x1E9B, 0x1100, 0x1161, 0x11A8, 0xAC00, 0xAC01,
        0xFB01, 0x2460, 0xFF21, 0x0929, 0x093C, 0x0928, 0x0F73, 0x0F71, 0x0F72, 0x3099, 0x304B,
        0x1F80, 0x03B1, 0x0313, 0x1D15E, 0x1D165, 0x00A0, 0x2126, 0x00B5, 0x0387, 0x05B7, 0x05B8,
    };
    return pool[rnd(sizeof pool / sizeof pool[0])];
}

static void test_unicode_forms_match_whole(void **state) {
    (void)state;
    rng_state = seed_from_env();
    static const int forms[] = {UTF8PROC_COMPOSE, UTF8PROC_DECOMPOSE,
                                UTF8PROC_COMPOSE | UTF8PROC_COMPAT,
                                UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT};
    lm_buf text = {0}, fast = {0}, whole = {0};
    for (int iter = 0; iter < 3000; iter++) {
        buf_reset(&text);
        int n = 1 + (int)rnd(24);
        for (int i = 0; i < n; i++) {
            char e[4];
            buf_append(&text, e, utf8_encode(random_cp(), e));
        }
        for (size_t f = 0; f < 4; f++) {
            buf_reset(&fast);
            buf_reset(&whole);
            assert_int_equal(unicode_form(&fast, text.data, text.len, forms[f]), LM_OK);
            assert_int_equal(unicode_form_region(&whole, text.data, text.len, forms[f]), LM_OK);
            if (fast.len != whole.len || memcmp(buf_cstr(&fast), buf_cstr(&whole), fast.len)) {
                fprintf(stderr, "form %zu differs on iteration %d: \"%s\"\n", f, iter, text.data);
                fail();
            }
        }
    }
    buf_fini(&text);
    buf_fini(&fast);
    buf_fini(&whole);
}

static void normalize_expect(const tok_step *steps, size_t n, const char *in, const char *want) {
    lm_buf b = {0};
    lm_error err;
    err_clear(&err);
    buf_append_str(&b, in);
    assert_int_equal(tok_normalize(NULL, steps, n, 1, &b, &err), LM_OK);
    assert_string_equal(buf_cstr(&b), want);
    buf_fini(&b);
}

static void test_steps(void **state) {
    (void)state;
    tok_step lower = {.kind = TOK_NORM_LOWERCASE};
    /* Rust's to_lowercase: İ -> i + U+0307, final sigma */
    normalize_expect(&lower, 1, "ABC \xC4\xB0 \xCE\x9F\xCE\xA3 \xCE\xA3\xCE\x9F",
                     "abc i\xCC\x87 \xCE\xBF\xCF\x82 \xCF\x83\xCE\xBF");
    tok_step strip = {.kind = TOK_NORM_STRIP, .flag_a = 1, .flag_b = 1};
    normalize_expect(&strip, 1, " \t\xE3\x80\x80x y\n", "x y");
    tok_step accents[] = {{.kind = TOK_NORM_NFD}, {.kind = TOK_NORM_STRIP_ACCENTS}};
    normalize_expect(accents, 2, "caf\xC3\xA9 na\xC3\xAFve", "cafe naive");
    tok_step nfkc = {.kind = TOK_NORM_NFKC};
    normalize_expect(&nfkc, 1, "\xEF\xAC\x81 \xE2\x91\xA0 \xEF\xBC\xA1", "fi 1 A");
    tok_step bert = {.kind = TOK_NORM_BERT, .flag_a = 1, .flag_b = 1, .flag_c = 1, .flag_d = 1};
    normalize_expect(&bert, 1, "H\xC3\xA9llo\t\x01\xE4\xB8\xAD!", "hello  \xE4\xB8\xAD !");
    /* empty text stays empty whatever the steps */
    char x[] = "x";
    tok_step pre = {.kind = TOK_NORM_PREPEND, .str = x, .str_len = 1};
    normalize_expect(&pre, 1, "", "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unicode_forms_match_whole),
        cmocka_unit_test(test_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
