/* secret.h — comparing secrets (API keys) without leaking them through timing.
 *
 * A plain memcmp/strcmp returns at the first differing byte, so how long a wrong guess takes tells
 * an attacker how many leading bytes were right, and a length check first tells them the key's
 * length. secret_equal() touches every byte of the presented value whatever it holds, folds the
 * length difference into the same accumulator, and decides only at the end. */
#ifndef LM_BASE_SECRET_H
#define LM_BASE_SECRET_H

#include <stddef.h>

/* 1 when `given` (given_len bytes, from the client) equals `secret` (secret_len bytes), else 0.
 * Its running time depends only on given_len: it reads all of `given` and, for each of its bytes,
 * one byte of `secret` (cycling through it), with no branch on the contents or on which length is
 * longer. An empty secret equals only an empty value. NULL pointers are allowed with length 0. */
int secret_equal(const void *secret, size_t secret_len, const void *given, size_t given_len);

#endif
