/* tests/base/test_arena.c — the bump allocator (src/base/arena.c):
 * alignment, in-place growth, big blocks, the byte limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/arena.h"

static void test_alloc_and_align(void **state) {
    (void)state;
    lm_arena a;
    arena_init(&a, 0);
    for (int i = 1; i < 200; i++) {
        char *p = arena_alloc(&a, (size_t)i);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)i);
    }
    char *z = arena_zalloc(&a, 100);
    for (int i = 0; i < 100; i++) assert_int_equal(z[i], 0);
    char *big = arena_alloc(&a, 1 << 20); /* bigger than a chunk: a chunk of its own */
    assert_non_null(big);
    memset(big, 1, 1 << 20);
    char *s = arena_strdup(&a, "hello", 3);
    assert_string_equal(s, "hel");
    arena_fini(&a);
    assert_null(a.head);
}

static void test_grow_in_place(void **state) {
    (void)state;
    lm_arena a;
    arena_init(&a, 0);
    char *p = arena_alloc(&a, 16);
    memcpy(p, "0123456789abcdef", 16);
    char *q = arena_grow(&a, p, 16, 64);
    assert_ptr_equal(p, q); /* newest allocation: extended where it is */
    char *other = arena_alloc(&a, 8);
    assert_non_null(other);
    char *r = arena_grow(&a, q, 64, 128); /* no longer the newest: copied */
    assert_ptr_not_equal(r, q);
    assert_memory_equal(r, "0123456789abcdef", 16);
    char *huge = arena_grow(&a, r, 128, 1 << 20);
    assert_non_null(huge);
    assert_memory_equal(huge, "0123456789abcdef", 16);
    arena_fini(&a);
}

static void test_limit(void **state) {
    (void)state;
    lm_arena a;
    arena_init(&a, 200 * 1024);
    int got = 0;
    while (arena_alloc(&a, 1000)) got++;
    assert_true(a.over_limit);
    assert_true(got >= 100 && got < 200);
    assert_null(arena_alloc(&a, 1 << 20));
    assert_true(a.taken <= 200 * 1024);
    arena_fini(&a);
    assert_int_equal(a.limit, 200 * 1024); /* reusable with the same limit */
    assert_false(a.over_limit);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_and_align),
        cmocka_unit_test(test_grow_in_place),
        cmocka_unit_test(test_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
