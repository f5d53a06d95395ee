/* ui.h — the chat page (src/server/ui/): static files embedded in the binary at build time and
 * served same-origin at `/` and `/ui`, with a strict Content-Security-Policy, a strong ETag and a
 * gzip copy sent when the client accepts it.
 *
 * The files' bytes come from a generated source (src/server/ui/gen_assets.c, run by
 * CMakeLists.txt), so the page needs no install step and works with no network. */
#ifndef LM_SERVER_UI_H
#define LM_SERVER_UI_H

#include <microhttpd.h>
#include <stddef.h>

/* One embedded file. */
typedef struct {
    const char *path;            /* URL path, e.g. "/ui/app.js" */
    const char *type;            /* Content-Type */
    const unsigned char *data;   /* the file's bytes */
    size_t len;
    const unsigned char *gz;     /* the same bytes gzip'ed */
    size_t gz_len;
    const char *etag;            /* quoted strong ETag of data */
} ui_asset;

extern const ui_asset ui_assets[]; /* generated */
extern const size_t ui_n_assets;

/* The Content-Security-Policy sent with every page file: scripts, styles, images and fetches
 * from this origin only, no inline script or style, no framing, no forms posted elsewhere. */
#define UI_CSP                                                                                         \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* The asset served at url ("/", "/ui" and "/ui/" are the page itself; a query string is
 * ignored), or NULL. */
const ui_asset *ui_find(const char *url);

/* Whether an Accept-Encoding header value (may be NULL) accepts gzip: a "gzip" or "x-gzip"
 * coding, or "*" when gzip is not listed, with a q-value that is not zero (RFC 9110 12.5.3).
 * Malformed parts are skipped, never trusted. */
int ui_accepts_gzip(const char *accept_encoding);

/* Whether an If-None-Match header value (may be NULL) matches etag ("*" or a list containing it,
 * weak or strong). */
int ui_etag_matches(const char *if_none_match, const char *etag);

struct server_req;
/* Answers a GET/HEAD for the chat page asset at url: 200 with the file (gzip'ed when accepted),
 * 304 when the client's copy is current, 404 when url is not a page file. */
enum MHD_Result ui_respond(struct server_req *q, const char *url);

#endif
