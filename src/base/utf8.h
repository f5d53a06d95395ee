/* utf8.h — the one UTF-8 codec: strict validation (Unicode Table 3-7: no overlong forms, no
 * surrogates, nothing past U+10FFFF), decoding and encoding code points, lossy repair (U+FFFD per
 * maximal invalid subpart, as the Unicode standard recommends and Rust's from_utf8_lossy does),
 * and the White_Space property. Used by the tokenizer, the template engine, the protocol writers
 * and the repository readers alike. Pure functions, any thread. */
#ifndef LM_BASE_UTF8_H
#define LM_BASE_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Length of the valid UTF-8 character at s[0..n) (1..4), or 0 if the bytes there are not a
 * complete valid character. Overlong forms, surrogates and code points past U+10FFFF are invalid. */
size_t utf8_valid_len(const unsigned char *s, size_t n);
/* Length of the maximal prefix of s[0..n) that could start a valid character (used to decide
 * between "incomplete, wait for more" and "invalid": a return < n means invalid). Returns 1..n for
 * n <= 4; callers pass the bytes left. Never 0 for n > 0 (an invalid lead byte counts as 1). */
size_t utf8_maximal_subpart(const unsigned char *s, size_t n);
/* Bytes of the character a lead byte starts (1..4), or 0 if it can never start one. */
size_t utf8_seq_len(unsigned char lead);
/* Decodes the valid character at s (as checked by utf8_valid_len) to its code point. */
uint32_t utf8_decode(const unsigned char *s, size_t len);
/* Writes cp as UTF-8 into out (>= 4 bytes); returns the byte count. */
size_t utf8_encode(uint32_t cp, char *out);
/* Appends s[0..n) to out with every maximal invalid subpart replaced by U+FFFD (as Rust's
 * String::from_utf8_lossy does). Returns whether anything was replaced. */
int utf8_append_lossy(lm_buf *out, const char *s, size_t n);
/* Whether s[0..n) is entirely valid UTF-8. */
int utf8_is_valid(const char *s, size_t n);
/* Unicode White_Space property (what Rust's char::is_whitespace tests). */
int utf8_is_space(uint32_t cp);

extern const char utf8_replacement[3]; /* U+FFFD, 3 bytes, no NUL */

#endif
