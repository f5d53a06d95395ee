/* tests/base/test_secret.c — constant-time secret comparison: right answers for every shape of
 * input (equal, one byte off anywhere, shorter, longer, prefix, empty). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/secret.h"

static int eq(const char *secret, const char *given) {
    return secret_equal(secret, strlen(secret), given, strlen(given));
}

static void test_equal_and_unequal(void **state) {
    (void)state;
    assert_true(eq("sk-secret-123", "sk-secret-123"));
    assert_false(eq("sk-secret-123", "sk-secret-124")); /* last byte */
    assert_false(eq("sk-secret-123", "Xk-secret-123")); /* first byte */
    assert_false(eq("sk-secret-123", "sk-secret-12"));  /* a prefix */
    assert_false(eq("sk-secret-123", "sk-secret-1234")); /* longer */
    /* A value that repeats the key: the cycling index must not make it match. */
    assert_false(eq("ab", "abab"));
    assert_false(eq("a", "aa"));
    assert_false(eq("sk", ""));
    assert_false(eq("", "x"));
    assert_true(eq("", ""));
    assert_true(secret_equal(NULL, 0, NULL, 0));
    assert_false(secret_equal("k", 1, NULL, 0));
}

static void test_every_single_byte_difference(void **state) {
    (void)state;
    char key[64], given[64];
    for (size_t i = 0; i < sizeof key; i++) key[i] = (char)('A' + i % 26);
    for (size_t pos = 0; pos < sizeof key; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(given, key, sizeof key);
            given[pos] ^= (char)(1 << bit);
            assert_false(secret_equal(key, sizeof key, given, sizeof given));
        }
    }
    memcpy(given, key, sizeof key);
    assert_true(secret_equal(key, sizeof key, given, sizeof given));
}

static void test_lengths_differing_by_powers_of_two(void **state) {
    (void)state;
    /* The length check folds a 64-bit difference to a byte: differences of 256, 65536 and 2^32
     * must still count (a plain truncation to a byte would call them equal). */
    static char big[70000];
    memset(big, 'k', sizeof big);
    assert_false(secret_equal(big, 256, big, 512));
    assert_false(secret_equal(big, 1, big, 257));
    assert_false(secret_equal(big, 4, big, 4 + 65536));
    assert_true(secret_equal(big, 65537, big, 65537));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_and_unequal),
        cmocka_unit_test(test_every_single_byte_difference),
        cmocka_unit_test(test_lengths_differing_by_powers_of_two),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
