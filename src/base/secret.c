/* secret.c — constant-time comparison of a presented value against a secret. */
#include "base/secret.h"

#include <stdint.h>

int secret_equal(const void *secret, size_t secret_len, const void *given, size_t given_len) {
    const unsigned char *s = secret, *g = given;
    /* A one-byte stand-in when the secret is empty keeps the loop's reads in bounds; the length
     * difference below makes the answer "unequal" for any non-empty value anyway. */
    static const unsigned char zero = 0;
    if (secret_len == 0) s = &zero;
    size_t n = secret_len ? secret_len : 1;
    /* volatile: the compiler may not turn the accumulation into an early exit. */
    volatile unsigned char diff = 0;
    size_t j = 0;
    for (size_t i = 0; i < given_len; i++) {
        diff |= (unsigned char)(g[i] ^ s[j]);
        /* j = (j + 1) % n without a data-dependent branch or a division. */
        j++;
        j &= (size_t)0 - (size_t)(j < n); /* j < n: all ones (keep j); else 0 (wrap) */
    }
    /* Any length difference, folded to a byte without branching. */
    uint64_t dl = (uint64_t)secret_len ^ (uint64_t)given_len;
    dl |= dl >> 32;
    dl |= dl >> 16;
    dl |= dl >> 8;
    return ((unsigned)diff | (unsigned)(dl & 0xff)) == 0;
}
