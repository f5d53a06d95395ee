/* tests/fuzz/fuzz_ui_headers.c — libFuzzer target for the chat page's request-header parsers
 * (src/server/ui.c): Accept-Encoding (ui_accepts_gzip) and If-None-Match (ui_etag_matches), and
 * the asset lookup by path (ui_find). The input is one header value, NUL-terminated as
 * libmicrohttpd hands it over. Checks what they promise: answers are 0 or 1, a found asset is one
 * of the table's, and adding a refusing weight for gzip at the end never turns a refusal into
 * acceptance. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/ui.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *s = malloc(size + 16);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    int gz = ui_accepts_gzip(s);
    FUZZ_CHECK(gz == 0 || gz == 1);
    /* a later "gzip;q=0" refuses, whatever came before, unless gzip was already accepted */
    size_t n = strlen(s);
    memcpy(s + n, ",gzip;q=0", 10);
    int gz2 = ui_accepts_gzip(s);
    FUZZ_CHECK(gz2 == 0 || gz2 == 1);
    FUZZ_CHECK(gz2 <= gz);
    s[n] = '\0';

    int m = ui_etag_matches(s, "\"0123456789abcdef\"");
    FUZZ_CHECK(m == 0 || m == 1);
    FUZZ_CHECK(ui_etag_matches(s, "\"0123456789abcdef\"") == m);

    const ui_asset *a = ui_find(s);
    if (a) FUZZ_CHECK(a >= ui_assets && a < ui_assets + ui_n_assets);
    free(s);
    return 0;
}
