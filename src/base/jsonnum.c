/* jsonnum.c — widening out-of-range JSON integers to reals (see jsonnum.h): one pass that tracks
 * whether it is inside a string, and looks at each number token outside strings. */
#include "base/jsonnum.h"

#include <string.h>

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Whether the digits d[0..n) (no sign, no leading zeros beyond one) exceed int64 (with `neg`,
 * beyond -2^63). */
static int beyond_int64(const char *d, size_t n, int neg) {
    const char *lim = neg ? "9223372036854775808" : "9223372036854775807";
    while (n > 1 && *d == '0') d++, n--;
    if (n != 19) return n > 19;
    return memcmp(d, lim, 19) > 0;
}

size_t jsonnum_widen(const char *text, size_t len, lm_buf *out) {
    size_t widened = 0, i = 0, copied = 0;
    int in_string = 0;
    while (i < len) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') i += 2;
            else {
                if (c == '"') in_string = 0;
                i++;
            }
            continue;
        }
        if (c == '"') {
            in_string = 1;
            i++;
            continue;
        }
        if (c != '-' && !is_digit(c)) {
            i++;
            continue;
        }
        /* a number token: [-] digits [. digits] [e [+-] digits] */
        size_t start = i, j = i;
        int neg = text[j] == '-';
        if (neg) j++;
        size_t d0 = j;
        while (j < len && is_digit(text[j])) j++;
        size_t nd = j - d0;
        int integer = nd > 0 && (j >= len || (text[j] != '.' && text[j] != 'e' && text[j] != 'E'));
        while (j < len && (is_digit(text[j]) || text[j] == '.' || text[j] == 'e' || text[j] == 'E' ||
                           text[j] == '+' || text[j] == '-'))
            j++;
        if (integer && beyond_int64(text + d0, nd, neg)) {
            buf_append(out, text + copied, start - copied);
            if (nd > 300) buf_append_str(out, neg ? "-1e308" : "1e308");
            else {
                buf_append(out, text + start, d0 + nd - start);
                buf_append_str(out, ".0");
            }
            copied = d0 + nd;
            widened++;
        }
        i = j;
    }
    buf_append(out, text + copied, len - copied);
    return widened;
}
