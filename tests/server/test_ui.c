/* tests/server/test_ui.c — the chat page (src/server/ui.c): asset lookup, Accept-Encoding and
 * If-None-Match parsing, then a real lmserve on loopback: content types, the security headers, a
 * gzip body that inflates to the plain one, 304 revalidation, HEAD, methods and unknown paths. */
#include "srvtest.h"

#include <zlib.h>

#include "server/ui.h"

static st_server srv;

static int setup(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    return st_server_start(&srv, NULL);
}

static int teardown(void **state) {
    (void)state;
    int rc = st_server_stop(&srv, SIGTERM, 20000, NULL);
    if (rc == 0) unlink(srv.log);
    return rc;
}

/* ---------------------------------------------------------------- pure functions */

static void test_find(void **state) {
    (void)state;
    const ui_asset *index = ui_find("/ui/index.html");
    assert_non_null(index);
    assert_ptr_equal(ui_find("/"), index);
    assert_ptr_equal(ui_find("/ui"), index);
    assert_ptr_equal(ui_find("/ui/"), index);
    assert_ptr_equal(ui_find("/?x=1"), index);
    assert_non_null(ui_find("/ui/app.js"));
    assert_non_null(ui_find("/ui/app.css"));
    assert_null(ui_find("/ui/app"));
    assert_null(ui_find("/ui/app.js/"));
    assert_null(ui_find("//"));
    assert_null(ui_find("/uix"));
    assert_null(ui_find("/v3/models"));
    assert_null(ui_find(""));
    assert_null(ui_find(NULL));
    for (size_t i = 0; i < ui_n_assets; i++) {
        const ui_asset *a = &ui_assets[i];
        assert_true(a->len > 0 && a->gz_len > 0);
        /* the gzip copy inflates to the very bytes */
        unsigned char *out = malloc(a->len + 1);
        z_stream z = {0};
        assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
        z.next_in = (Bytef *)a->gz;
        z.avail_in = (uInt)a->gz_len;
        z.next_out = out;
        z.avail_out = (uInt)a->len + 1;
        assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
        assert_int_equal(z.total_out, a->len);
        assert_memory_equal(out, a->data, a->len);
        inflateEnd(&z);
        free(out);
    }
}

static void test_accepts_gzip(void **state) {
    (void)state;
    assert_false(ui_accepts_gzip(NULL));
    assert_false(ui_accepts_gzip(""));
    assert_true(ui_accepts_gzip("gzip"));
    assert_true(ui_accepts_gzip("GZIP"));
    assert_true(ui_accepts_gzip("x-gzip"));
    assert_true(ui_accepts_gzip("gzip, deflate, br"));
    assert_true(ui_accepts_gzip("br;q=1.0, gzip;q=0.8, *;q=0.1"));
    assert_true(ui_accepts_gzip("deflate , gzip ; q=0.5"));
    assert_true(ui_accepts_gzip("*"));
    assert_true(ui_accepts_gzip("gzip;q=1"));
    assert_false(ui_accepts_gzip("identity"));
    assert_false(ui_accepts_gzip("deflate, br"));
    assert_false(ui_accepts_gzip("gzip;q=0"));
    assert_false(ui_accepts_gzip("gzip;q=0.000"));
    assert_false(ui_accepts_gzip("*, gzip;q=0"));     /* listed and refused: * does not apply */
    assert_false(ui_accepts_gzip("*;q=0"));
    assert_false(ui_accepts_gzip("gzipx"));
    assert_false(ui_accepts_gzip("gzip;q=2"));        /* malformed weights are not trusted */
    assert_false(ui_accepts_gzip("gzip;q=1.5"));
    assert_false(ui_accepts_gzip("gzip;q=0.12345"));
    assert_false(ui_accepts_gzip("gzip;q="));
    assert_false(ui_accepts_gzip(",,,;;;==="));
}

static void test_etag_matches(void **state) {
    (void)state;
    const char *e = "\"0123456789abcdef\"";
    assert_true(ui_etag_matches("\"0123456789abcdef\"", e));
    assert_true(ui_etag_matches("W/\"0123456789abcdef\"", e));
    assert_true(ui_etag_matches("\"x\", \"0123456789abcdef\"", e));
    assert_true(ui_etag_matches("*", e));
    assert_false(ui_etag_matches("\"0123456789abcde\"", e));
    assert_false(ui_etag_matches("\"x\"", e));
    assert_false(ui_etag_matches("", e));
    assert_false(ui_etag_matches(NULL, e));
    assert_false(ui_etag_matches(",,, ,", e));
}

/* ---------------------------------------------------------------- over HTTP */

static void test_page_over_http(void **state) {
    (void)state;
    const ui_asset *index = ui_find("/");
    const char *paths[] = {"/", "/ui", "/ui/"};
    char v[512];
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        st_resp r = {0};
        assert_int_equal(st_request(srv.port, "GET", paths[i], NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(st_header(&r, "Content-Type", v, sizeof v), "text/html; charset=utf-8");
        assert_string_equal(st_header(&r, "Content-Security-Policy", v, sizeof v), UI_CSP);
        assert_string_equal(st_header(&r, "X-Content-Type-Options", v, sizeof v), "nosniff");
        assert_null(st_header(&r, "Content-Encoding", v, sizeof v));
        assert_null(st_header(&r, "Access-Control-Allow-Origin", v, sizeof v)); /* same origin only */
        assert_int_equal(r.body.len, index->len);
        assert_memory_equal(r.body.data, index->data, index->len);
        assert_non_null(strstr(buf_cstr(&r.body), "<script src=\"/ui/app.js\""));
        st_resp_fini(&r);
    }

    const struct { const char *path, *type; } files[] = {
        {"/ui/app.js", "text/javascript; charset=utf-8"},
        {"/ui/app.css", "text/css; charset=utf-8"},
        {"/ui/icon.svg", "image/svg+xml"},
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        const ui_asset *a = ui_find(files[i].path);
        st_resp r = {0};
        assert_int_equal(st_request(srv.port, "GET", files[i].path, NULL, "Accept-Encoding: gzip, br\r\n", &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(st_header(&r, "Content-Type", v, sizeof v), files[i].type);
        assert_string_equal(st_header(&r, "Content-Encoding", v, sizeof v), "gzip");
        assert_string_equal(st_header(&r, "Vary", v, sizeof v), "Accept-Encoding");
        assert_int_equal(r.body.len, a->gz_len);
        assert_memory_equal(r.body.data, a->gz, a->gz_len);
        char etag[64];
        assert_non_null(st_header(&r, "ETag", etag, sizeof etag));
        st_resp_fini(&r);

        /* revalidation */
        char hdr[128];
        snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", etag);
        assert_int_equal(st_request(srv.port, "GET", files[i].path, NULL, hdr, &r), 0);
        assert_int_equal(r.status, 304);
        assert_int_equal(r.body.len, 0);
        st_resp_fini(&r);
        assert_int_equal(st_request(srv.port, "GET", files[i].path, NULL, "If-None-Match: \"other\"\r\n", &r), 0);
        assert_int_equal(r.status, 200);
        st_resp_fini(&r);
    }

    /* gzip refused by weight: the plain bytes */
    st_resp r = {0};
    assert_int_equal(st_request(srv.port, "GET", "/ui/app.js", NULL, "Accept-Encoding: gzip;q=0, *\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(st_header(&r, "Content-Encoding", v, sizeof v));
    assert_int_equal(r.body.len, ui_find("/ui/app.js")->len);
    st_resp_fini(&r);

    /* HEAD: headers, no body */
    int fd = st_connect(srv.port);
    assert_true(fd >= 0);
    const char *head = "HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    assert_int_equal(st_send(fd, head, strlen(head)), 0);
    lm_buf raw = {0};
    while (st_recv_some(fd, &raw, 10000) > 0) {}
    close(fd);
    assert_non_null(strstr(buf_cstr(&raw), "HTTP/1.1 200"));
    assert_non_null(strstr(buf_cstr(&raw), "Content-Security-Policy"));
    const char *end = strstr(buf_cstr(&raw), "\r\n\r\n");
    assert_non_null(end);
    assert_int_equal(strlen(end + 4), 0);
    buf_fini(&raw);

    /* other methods and paths */
    assert_int_equal(st_request(srv.port, "POST", "/", "{}", NULL, &r), 0);
    assert_int_equal(r.status, 405);
    assert_string_equal(st_header(&r, "Allow", v, sizeof v), "GET, HEAD, OPTIONS");
    st_resp_fini(&r);
    assert_int_equal(st_request(srv.port, "GET", "/ui/../v1/config", NULL, NULL, &r), 0);
    assert_true(r.status == 404 || r.status == 200); /* MHD may normalise; never a page file */
    assert_null(st_header(&r, "Content-Security-Policy", v, sizeof v));
    st_resp_fini(&r);
    assert_int_equal(st_request(srv.port, "GET", "/ui/nope.js", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    st_resp_fini(&r);

    /* the API still answers on the same server */
    st_assert_serving(srv.port);
}

int main(void) {
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_accepts_gzip),
        cmocka_unit_test(test_etag_matches),
    };
    const struct CMUnitTest live[] = {
        cmocka_unit_test(test_page_over_http),
    };
    int rc = cmocka_run_group_tests_name("ui", pure, NULL, NULL);
    return rc | cmocka_run_group_tests_name("ui over http", live, setup, teardown);
}
