/* pystr.h — the Python text behaviours templates depend on: UTF-8 code points, str.isspace(),
 * case mapping, str.isprintable() (for repr), and float repr.
 *
 * All strings here are valid UTF-8 (template source is validated at compile time and jansson
 * validates request strings), so decoders may assume well-formed input but never read past `n`.
 * Case mapping and character classes cover Latin, Greek, Cyrillic, Armenian and full-width
 * Latin, plus the Unicode whitespace and format characters; other scripts have no case in
 * practice and are treated as caseless letters. */
#ifndef LM_TEMPLATE_PYSTR_H
#define LM_TEMPLATE_PYSTR_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one code point at `s` (n > 0 bytes available); returns its byte length (1..4), or 0
 * for an invalid or truncated sequence. */
int tpl_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Encodes `cp` into `out` (4 bytes room); returns the length. */
int tpl_utf8_encode(uint32_t cp, char *out);

/* Returns 1 when s[0..n) is valid UTF-8, else 0 with the offset of the first bad byte. */
int tpl_utf8_valid(const char *s, size_t n, size_t *bad_at);

/* Number of code points in valid UTF-8 text. */
size_t tpl_utf8_count(const char *s, size_t n);

/* Byte offset of code point number `index` (clamped to n). */
size_t tpl_utf8_offset(const char *s, size_t n, size_t index);

/* Python str.isspace() for one code point. */
int tpl_py_isspace(uint32_t cp);

/* Bytes of leading / trailing Python whitespace in s[0..n). */
size_t tpl_py_ws_prefix(const char *s, size_t n);
size_t tpl_py_ws_suffix(const char *s, size_t n);

/* Python str.upper()/str.lower() for one code point (single-code-point mappings only). */
uint32_t tpl_py_toupper(uint32_t cp);
uint32_t tpl_py_tolower(uint32_t cp);

/* Python's character classes for one code point. */
int tpl_py_isupper(uint32_t cp);
int tpl_py_islower(uint32_t cp);
int tpl_py_iscased(uint32_t cp);
int tpl_py_isalpha(uint32_t cp);
int tpl_py_isdigit(uint32_t cp);
int tpl_py_isprintable(uint32_t cp);

/* Python repr() of a float ("22.0", "1e-07", "inf", "nan"); `out` needs 32 bytes. Returns the
 * length. */
int tpl_py_float_repr(double x, char *out);

#endif
