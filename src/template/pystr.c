/* pystr.c — UTF-8 code points and the Python str/float behaviours the template engine mirrors.
 * Character tables are small hand-made range lists (see pystr.h for their coverage). */
#include "template/pystr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

/* ---- UTF-8 ---- */

int tpl_utf8_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    size_t len = utf8_valid_len(u, n);
    if (len) *cp = utf8_decode(u, len);
    return (int)len;
}

int tpl_utf8_encode(uint32_t cp, char *out) { return (int)utf8_encode(cp, out); }

int tpl_utf8_valid(const char *s, size_t n, size_t *bad_at) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t len = utf8_valid_len(u + i, n - i);
        if (len == 0) {
            if (bad_at) *bad_at = i;
            return 0;
        }
        i += len;
    }
    return 1;
}

size_t tpl_utf8_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

size_t tpl_utf8_offset(const char *s, size_t n, size_t index) {
    size_t i = 0;
    while (i < n && index > 0) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xc0) == 0x80) i++;
        index--;
    }
    return i;
}

/* ---- character classes ---- */

int tpl_py_isspace(uint32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
           c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

size_t tpl_py_ws_prefix(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int len = tpl_utf8_decode(s + i, n - i, &cp);
        if (len == 0 || !tpl_py_isspace(cp)) break;
        i += (size_t)len;
    }
    return i;
}

size_t tpl_py_ws_suffix(const char *s, size_t n) {
    size_t end = n;
    while (end > 0) {
        size_t start = end - 1;
        while (start > 0 && ((unsigned char)s[start] & 0xc0) == 0x80) start--;
        uint32_t cp;
        if (tpl_utf8_decode(s + start, end - start, &cp) == 0 || !tpl_py_isspace(cp)) break;
        end = start;
    }
    return n - end;
}

/* Case pairs. kind DELTA: [lo,hi] are capitals whose small letter is cp+delta. kind EVEN/ODD:
 * alternating pairs in [lo,hi], capital at even / odd code points, small letter at cp+1. */
enum { DELTA, EVEN, ODD };
static const struct { uint32_t lo, hi; int kind; int delta; } case_ranges[] = {
    {0x41, 0x5a, DELTA, 32},      {0xc0, 0xd6, DELTA, 32},      {0xd8, 0xde, DELTA, 32},
    {0x100, 0x12f, EVEN, 1},      {0x132, 0x137, EVEN, 1},      {0x139, 0x148, ODD, 1},
    {0x14a, 0x177, EVEN, 1},      {0x179, 0x17e, ODD, 1},       {0x182, 0x185, EVEN, 1},
    {0x187, 0x188, ODD, 1},       {0x18b, 0x18c, ODD, 1},       {0x191, 0x192, ODD, 1},
    {0x198, 0x199, EVEN, 1},      {0x1a0, 0x1a5, EVEN, 1},      {0x1a7, 0x1a8, ODD, 1},
    {0x1ac, 0x1ad, EVEN, 1},      {0x1af, 0x1b0, ODD, 1},       {0x1b3, 0x1b6, ODD, 1},
    {0x1b8, 0x1b9, EVEN, 1},      {0x1bc, 0x1bd, EVEN, 1},      {0x1cd, 0x1dc, ODD, 1},
    {0x1de, 0x1ef, EVEN, 1},      {0x1f4, 0x1f5, EVEN, 1},      {0x1f8, 0x21f, EVEN, 1},
    {0x222, 0x233, EVEN, 1},      {0x246, 0x24f, EVEN, 1},      {0x370, 0x373, EVEN, 1},
    {0x376, 0x377, EVEN, 1},      {0x386, 0x386, DELTA, 38},    {0x388, 0x38a, DELTA, 37},
    {0x38c, 0x38c, DELTA, 64},    {0x38e, 0x38f, DELTA, 63},    {0x391, 0x3a1, DELTA, 32},
    {0x3a3, 0x3ab, DELTA, 32},    {0x3d8, 0x3ef, EVEN, 1},      {0x400, 0x40f, DELTA, 80},
    {0x410, 0x42f, DELTA, 32},    {0x460, 0x481, EVEN, 1},      {0x48a, 0x4bf, EVEN, 1},
    {0x4c0, 0x4c0, DELTA, 15},    {0x4c1, 0x4ce, ODD, 1},       {0x4d0, 0x52f, EVEN, 1},
    {0x531, 0x556, DELTA, 48},    {0x10a0, 0x10c5, DELTA, 7264}, {0x13a0, 0x13ef, DELTA, 38864},
    {0x1e00, 0x1e95, EVEN, 1},    {0x1ea0, 0x1eff, EVEN, 1},    {0x1f08, 0x1f0f, DELTA, -8},
    {0x1f18, 0x1f1d, DELTA, -8},  {0x1f28, 0x1f2f, DELTA, -8},  {0x1f38, 0x1f3f, DELTA, -8},
    {0x1f48, 0x1f4d, DELTA, -8},  {0x1f68, 0x1f6f, DELTA, -8},  {0x2160, 0x216f, DELTA, 16},
    {0x24b6, 0x24cf, DELTA, 26},  {0x2c00, 0x2c2f, DELTA, 48},  {0x2c80, 0x2ce3, EVEN, 1},
    {0xa640, 0xa66d, EVEN, 1},    {0xa680, 0xa69b, EVEN, 1},    {0xa722, 0xa72f, EVEN, 1},
    {0xa732, 0xa76f, EVEN, 1},    {0xa77e, 0xa787, EVEN, 1},    {0xa790, 0xa793, EVEN, 1},
    {0xa796, 0xa7a9, EVEN, 1},    {0xff21, 0xff3a, DELTA, 32},  {0x10400, 0x10427, DELTA, 40},
    {0x1e900, 0x1e921, DELTA, 34},
};

uint32_t tpl_py_tolower(uint32_t c) {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (c == 0x130) return 'i';   /* İ (Python gives "i̇"; the dot is dropped here) */
    if (c == 0x178) return 0xff;  /* Ÿ */
    if (c == 0x3a2) return c;     /* unassigned */
    for (size_t i = 0; i < sizeof case_ranges / sizeof case_ranges[0]; i++) {
        if (c < case_ranges[i].lo || c > case_ranges[i].hi) continue;
        switch (case_ranges[i].kind) {
        case DELTA: return (uint32_t)((int32_t)c + case_ranges[i].delta);
        case EVEN: return (c % 2 == 0) ? c + 1 : c;
        case ODD: return (c % 2 == 1) ? c + 1 : c;
        }
    }
    return c;
}

uint32_t tpl_py_toupper(uint32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
    switch (c) {
    case 0xb5: return 0x39c;   /* µ */
    case 0xff: return 0x178;   /* ÿ */
    case 0x131: return 'I';    /* ı */
    case 0x17f: return 'S';    /* ſ */
    case 0x3c2: return 0x3a3;  /* final sigma */
    }
    for (size_t i = 0; i < sizeof case_ranges / sizeof case_ranges[0]; i++) {
        int32_t d = case_ranges[i].kind == DELTA ? case_ranges[i].delta : 1;
        uint32_t lo = (uint32_t)((int32_t)case_ranges[i].lo + d);
        uint32_t hi = (uint32_t)((int32_t)case_ranges[i].hi + d);
        if (c < lo || c > hi) continue;
        switch (case_ranges[i].kind) {
        case DELTA: return (uint32_t)((int32_t)c - d);
        case EVEN: return (c % 2 == 1) ? c - 1 : c;
        case ODD: return (c % 2 == 0) ? c - 1 : c;
        }
    }
    return c;
}

int tpl_py_isupper(uint32_t c) { return tpl_py_tolower(c) != c; }

int tpl_py_islower(uint32_t c) {
    if (tpl_py_toupper(c) != c) return 1;
    return c == 0xdf || c == 0x138 || c == 0x149 || c == 0xaa || c == 0xba; /* ß ĸ ŉ ª º */
}

int tpl_py_iscased(uint32_t c) { return tpl_py_isupper(c) || tpl_py_islower(c); }

int tpl_py_isdigit(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    return c == 0xb2 || c == 0xb3 || c == 0xb9 || (c >= 0x660 && c <= 0x669) ||
           (c >= 0x6f0 && c <= 0x6f9) || (c >= 0x966 && c <= 0x96f) ||
           (c >= 0x2070 && c <= 0x2079 && c != 0x2071 && c != 0x2072 && c != 0x2073) ||
           (c >= 0x2080 && c <= 0x2089) || (c >= 0xff10 && c <= 0xff19);
}

int tpl_py_isalpha(uint32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (tpl_py_iscased(c)) return 1;
    return (c >= 0x5d0 && c <= 0x5ea) || (c >= 0x620 && c <= 0x64a) ||
           (c >= 0x671 && c <= 0x6d3) || (c >= 0x904 && c <= 0x939) ||
           (c >= 0xe01 && c <= 0xe30) || (c >= 0x3041 && c <= 0x3096) ||
           (c >= 0x30a1 && c <= 0x30fa) || (c >= 0x3400 && c <= 0x4dbf) ||
           (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xac00 && c <= 0xd7a3) ||
           (c >= 0x20000 && c <= 0x2fa1f);
}

int tpl_py_isprintable(uint32_t c) {
    if (c < 0x20 || (c >= 0x7f && c <= 0xa0)) return 0;       /* Cc, and NBSP (Zs) */
    if (c == 0xad || c == 0x61c || c == 0x6dd || c == 0x70f || c == 0x180e) return 0;  /* Cf */
    if ((c >= 0x600 && c <= 0x605) || c == 0x890 || c == 0x891 || c == 0x8e2) return 0;
    if (c == 0x1680 || (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f)) return 0;
    if ((c >= 0x205f && c <= 0x2064) || (c >= 0x2066 && c <= 0x206f) || c == 0x3000) return 0;
    if (c >= 0xd800 && c <= 0xf8ff) return 0;                   /* surrogates, private use */
    if ((c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) == 0xfffe) return 0;  /* noncharacters */
    if (c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb)) return 0;
    if (c == 0x110bd || c == 0x110cd || (c >= 0x13430 && c <= 0x1343f)) return 0;
    if ((c >= 0x1bca0 && c <= 0x1bca3) || (c >= 0x1d173 && c <= 0x1d17a)) return 0;
    if (c == 0xe0001 || (c >= 0xe0020 && c <= 0xe007f) || c >= 0xf0000) return 0;
    return 1;
}

/* ---- float repr ---- */

int tpl_py_float_repr(double x, char *out) {
    if (isnan(x)) return sprintf(out, "nan");
    if (isinf(x)) return sprintf(out, x < 0 ? "-inf" : "inf");
    if (x == 0) return sprintf(out, signbit(x) ? "-0.0" : "0.0");
    char buf[48];
    /* Shortest digit string that reads back as x: the digits Python's repr prints. */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, x);
        if (strtod(buf, NULL) == x) break;
    }
    char digits[24];
    int nd = 0, neg = 0;
    const char *p = buf;
    if (*p == '-') { neg = 1; p++; }
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int decpt = exp10 + 1; /* x = 0.d1d2... * 10^decpt */
    char *o = out;
    if (neg) *o++ = '-';
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -decpt; i++) *o++ = '0';
            for (int i = 0; i < nd; i++) *o++ = digits[i];
        } else if (decpt >= nd) {
            for (int i = 0; i < nd; i++) *o++ = digits[i];
            for (int i = nd; i < decpt; i++) *o++ = '0';
            *o++ = '.';
            *o++ = '0';
        } else {
            for (int i = 0; i < decpt; i++) *o++ = digits[i];
            *o++ = '.';
            for (int i = decpt; i < nd; i++) *o++ = digits[i];
        }
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            for (int i = 1; i < nd; i++) *o++ = digits[i];
        }
        int e = decpt - 1;
        o += sprintf(o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    *o = '\0';
    return (int)(o - out);
}
