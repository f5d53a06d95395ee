/* ui.c — serves the embedded chat page files (ui.h): lookup, content negotiation (gzip), ETag
 * revalidation and the security headers. The bytes are generated into the build folder. */
#include "server/ui.h"

#include <string.h>
#include <strings.h>

#include "server/server_impl.h"

const ui_asset *ui_find(const char *url) {
    if (!url) return NULL;
    size_t n = strcspn(url, "?#");
    if ((n == 1 && url[0] == '/') || (n == 3 && memcmp(url, "/ui", 3) == 0) || (n == 4 && memcmp(url, "/ui/", 4) == 0))
        url = "/ui/index.html", n = strlen(url);
    for (size_t i = 0; i < ui_n_assets; i++)
        if (strlen(ui_assets[i].path) == n && memcmp(ui_assets[i].path, url, n) == 0) return &ui_assets[i];
    return NULL;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* A q-value ("0", "0.5", "1.000"): 1 when above zero, 0 when zero, -1 when malformed. */
static int qvalue_positive(const char *p, size_t n) {
    if (n == 0 || (p[0] != '0' && p[0] != '1')) return -1;
    int positive = p[0] == '1';
    if (n == 1) return positive;
    if (p[1] != '.' || n > 5) return -1;
    for (size_t i = 2; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        if (p[i] != '0') {
            if (p[0] == '1') return -1; /* above 1 */
            positive = 1;
        }
    }
    return positive;
}

int ui_accepts_gzip(const char *h) {
    if (!h) return 0;
    int gzip = -1, star = -1; /* -1 not listed, 0 refused, 1 accepted */
    while (*h) {
        size_t len = strcspn(h, ",");
        const char *p = h, *end = h + len;
        h = *end ? end + 1 : end;
        while (p < end && is_ows(*p)) p++;
        const char *name = p;
        while (p < end && *p != ';' && !is_ows(*p)) p++;
        size_t name_len = (size_t)(p - name);
        int ok = 1; /* q defaults to 1 */
        while (p < end) {
            while (p < end && (is_ows(*p) || *p == ';')) p++;
            const char *param = p;
            while (p < end && *p != ';') p++;
            const char *pe = p;
            while (pe > param && is_ows(pe[-1])) pe--;
            if (pe - param >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
                int q = qvalue_positive(param + 2, (size_t)(pe - param - 2));
                ok = q < 0 ? 0 : q; /* a malformed weight is not trusted as acceptance */
            }
        }
        if ((name_len == 4 && strncasecmp(name, "gzip", 4) == 0) || (name_len == 6 && strncasecmp(name, "x-gzip", 6) == 0))
            gzip = gzip == 1 ? 1 : ok;
        else if (name_len == 1 && name[0] == '*')
            star = ok;
    }
    return gzip >= 0 ? gzip : star == 1;
}

int ui_etag_matches(const char *h, const char *etag) {
    if (!h || !etag) return 0;
    size_t n = strlen(etag);
    while (*h) {
        while (*h == ',' || is_ows(*h)) h++;
        if (*h == '*') return 1;
        if (strncmp(h, "W/", 2) == 0) h += 2;
        size_t len = strcspn(h, ",");
        size_t t = len;
        while (t && is_ows(h[t - 1])) t--;
        if (t == n && memcmp(h, etag, n) == 0) return 1;
        h += len;
    }
    return 0;
}

enum MHD_Result ui_respond(server_req *q, const char *url) {
    const ui_asset *a = ui_find(url);
    if (!a) return server_respond_error(q, MHD_HTTP_NOT_FOUND, "no such endpoint (see docs/api.md)", "", "not_found");
    q->phase = PHASE_DONE;
    const char *inm = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    const char *ae = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    int not_modified = ui_etag_matches(inm, a->etag);
    int gz = !not_modified && ui_accepts_gzip(ae);
    struct MHD_Response *r;
    if (not_modified) r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    else r = MHD_create_response_from_buffer(gz ? a->gz_len : a->len, (void *)(gz ? a->gz : a->data),
                                             MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    if (!not_modified) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
    if (gz) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, a->etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache"); /* revalidate: the binary may change */
    MHD_add_response_header(r, "Content-Security-Policy", UI_CSP);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    enum MHD_Result res = MHD_queue_response(q->conn, not_modified ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return res;
}
