/* utf8.c — strict UTF-8 checks, decoding and encoding, lossy repair (U+FFFD per maximal invalid
 * subpart, as Rust's from_utf8_lossy and the Unicode standard's recommended practice do), and the
 * White_Space property (utf8.h). */
#include "base/utf8.h"

#include <string.h>

const char utf8_replacement[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

/* Valid range of the second byte for each lead byte (Unicode Table 3-7); later bytes are 80..BF. */
static int second_ok(unsigned char lead, unsigned char b) {
    if (lead == 0xE0) return b >= 0xA0 && b <= 0xBF;
    if (lead == 0xED) return b >= 0x80 && b <= 0x9F;
    if (lead == 0xF0) return b >= 0x90 && b <= 0xBF;
    if (lead == 0xF4) return b >= 0x80 && b <= 0x8F;
    return b >= 0x80 && b <= 0xBF;
}

size_t utf8_seq_len(unsigned char lead) {
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 0; /* continuation byte, C0, C1, F5..FF: never valid as a lead */
}

size_t utf8_maximal_subpart(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    size_t need = utf8_seq_len(s[0]);
    if (need <= 1) return 1;
    size_t i = 1;
    if (i < n && i < need && second_ok(s[0], s[1])) {
        i++;
        while (i < n && i < need && (s[i] & 0xC0) == 0x80) i++;
    }
    return i;
}

size_t utf8_valid_len(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    if (s[0] < 0x80) return 1;
    size_t need = utf8_seq_len(s[0]);
    if (need == 0 || n < need) return 0;
    return utf8_maximal_subpart(s, n) == need ? need : 0;
}

uint32_t utf8_decode(const unsigned char *s, size_t len) {
    switch (len) {
    case 1: return s[0];
    case 2: return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3: return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
}

size_t utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int utf8_append_lossy(lm_buf *out, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0; /* run: start of the pending valid stretch */
    int replaced = 0;
    while (i < n) {
        if (u[i] < 0x80) { i++; continue; }
        size_t l = utf8_valid_len(u + i, n - i);
        if (l) { i += l; continue; }
        buf_append(out, s + run, i - run);
        buf_append(out, utf8_replacement, 3);
        i += utf8_maximal_subpart(u + i, n - i);
        run = i;
        replaced = 1;
    }
    buf_append(out, s + run, n - run);
    return replaced;
}

int utf8_is_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) { i++; continue; }
        size_t l = utf8_valid_len(u + i, n - i);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

int utf8_is_space(uint32_t cp) {
    if (cp >= 0x09 && cp <= 0x0D) return 1;
    switch (cp) {
    case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F:
    case 0x205F: case 0x3000:
        return 1;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}
