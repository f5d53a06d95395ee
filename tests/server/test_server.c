/* tests/server/test_server.c — the HTTP side (src/server/server.c) against a real lmserve on
 * loopback: routing, methods, CORS, keep-alive, the body limit, garbage on the socket (each
 * followed by a good request), disconnects mid-stream, a client that stops reading, 100
 * concurrent streams each getting exactly its own tokens, 1000 idle keep-alive connections, and
 * graceful shutdown on SIGTERM/SIGINT. */
#include "srvtest.h"

#include <sys/resource.h>

static st_server srv;

static int setup(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    return st_server_start(&srv, NULL);
}

static int teardown(void **state) {
    (void)state;
    int rc = st_server_stop(&srv, SIGTERM, 20000, NULL);
    if (rc != 0) fprintf(stderr, "lmserve exited %d (see %s)\n", rc, srv.log);
    else unlink(srv.log);
    return rc;
}

/* Sends raw bytes on a fresh connection and reads whatever comes back until the server closes or
 * timeout_ms passes. Returns the HTTP status of the answer, 0 when there was none. */
static int raw_exchange(const void *data, size_t n, int close_write, int timeout_ms) {
    int fd = st_connect(srv.port);
    assert_true(fd >= 0);
    st_send(fd, data, n); /* the server may close before taking everything */
    if (close_write) shutdown(fd, SHUT_WR);
    st_resp r = {0};
    int status = st_read_response(fd, &r, timeout_ms) == 0 ? r.status : 0;
    st_resp_fini(&r);
    close(fd);
    return status;
}

static long proc_status_field(pid_t pid, const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

/* ---------------------------------------------------------------- routing and HTTP */

static void test_routes_methods_cors(void **state) {
    (void)state;
    st_resp r = {0};
    char v[256];
    assert_int_equal(st_request(srv.port, "GET", "/nope", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    json_t *j = st_json(&r);
    assert_non_null(json_object_get(json_object_get(j, "error"), "message"));
    json_decref(j);
    assert_non_null(st_header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    assert_string_equal(v, "*");

    assert_int_equal(st_request(srv.port, "GET", "/v3/chat/completions", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 405);
    assert_non_null(st_header(&r, "Allow", v, sizeof v));
    assert_non_null(strstr(v, "POST"));
    assert_int_equal(st_request(srv.port, "POST", "/v3/models", "{}", NULL, &r), 0);
    assert_int_equal(r.status, 405);

    assert_int_equal(st_request(srv.port, "OPTIONS", "/v3/chat/completions", NULL,
                                "Origin: http://example.com\r\nAccess-Control-Request-Method: POST\r\n"
                                "Access-Control-Request-Headers: content-type, authorization\r\n",
                                &r),
                     0);
    assert_int_equal(r.status, 204);
    assert_non_null(st_header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    assert_non_null(st_header(&r, "Access-Control-Allow-Methods", v, sizeof v));
    assert_non_null(strstr(v, "POST"));
    assert_non_null(st_header(&r, "Access-Control-Allow-Headers", v, sizeof v));
    assert_non_null(strstr(v, "authorization"));

    assert_int_equal(st_request(srv.port, "HEAD", "/v2/health/live", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    st_resp_fini(&r);
}

static void test_keep_alive(void **state) {
    (void)state;
    int fd = st_connect(srv.port);
    assert_true(fd >= 0);
    const char *body = "{\"model\":\"demo\",\"prompt\":\"Once\",\"max_tokens\":4}";
    for (int i = 0; i < 6; i++) {
        char req[512];
        if (i % 3 == 0) snprintf(req, sizeof req, "GET /v3/models HTTP/1.1\r\nHost: x\r\n\r\n");
        else if (i % 3 == 1)
            snprintf(req, sizeof req, "POST /v3/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
        else
            snprintf(req, sizeof req, "POST /v3/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      "%zx\r\n%s\r\n0\r\n\r\n", strlen(body), body);
        assert_int_equal(st_send(fd, req, strlen(req)), 0);
        st_resp r = {0};
        assert_int_equal(st_read_response(fd, &r, 30000), 0);
        assert_int_equal(r.status, 200);
        st_resp_fini(&r);
    }
    /* a streamed response also leaves the connection usable (chunked framing) */
    const char *sbody = "{\"model\":\"demo\",\"prompt\":\"Once\",\"max_tokens\":4,\"stream\":true}";
    char req[512];
    snprintf(req, sizeof req, "POST /v3/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s", strlen(sbody),
             sbody);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(st_send(fd, req, strlen(req)), 0);
        st_resp r = {0};
        assert_int_equal(st_read_response(fd, &r, 30000), 0);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(buf_cstr(&r.body), "data: [DONE]\n\n"));
        st_resp_fini(&r);
    }
    close(fd);
}

static void test_body_limit(void **state) {
    (void)state;
    /* declared too large: 413 before the body is sent */
    const char *big = "POST /v3/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 16777217\r\n\r\n";
    assert_int_equal(raw_exchange(big, strlen(big), 0, 10000), 413);
    st_assert_serving(srv.port);

    /* chunked past the limit: 413 at the end, or the connection is dropped */
    int fd = st_connect(srv.port);
    const char *head = "POST /v3/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    st_send(fd, head, strlen(head));
    size_t chunk = 1 << 20;
    char *data = malloc(chunk);
    memset(data, 'a', chunk);
    char line[32];
    int sent_all = 1;
    for (int i = 0; i < 18 && sent_all; i++) {
        snprintf(line, sizeof line, "%zx\r\n", chunk);
        sent_all = st_send(fd, line, strlen(line)) == 0 && st_send(fd, data, chunk) == 0 && st_send(fd, "\r\n", 2) == 0;
    }
    if (sent_all) st_send(fd, "0\r\n\r\n", 5);
    free(data);
    st_resp r = {0};
    if (st_read_response(fd, &r, 20000) == 0) assert_int_equal(r.status, 413);
    st_resp_fini(&r);
    close(fd);
    st_assert_serving(srv.port);
}

static void test_garbage_then_good(void **state) {
    (void)state;
#define G(lit) {lit, sizeof lit - 1}
    static const struct {
        const char *s;
        size_t n;
    } garbage[] = {
        G("\x00\x01\x02\xff\xfe garbage\r\n\r\n"),
        G("HELLO\r\n\r\n"),
        G("GET / HTTP/9.9\r\n\r\n"),
        G("GET /v3/models HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n"),
        G("POST /v3/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
        G("POST /v3/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
        G("POST /v3/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n"),
        G("POST /v3/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"model\":"),
        G("POST /v3/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n{\"model\":\"d\xc3\x28\"}"),
        G("POST /v3/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n\0\0\0\0\0\0\0\0\0\0\0\0"),
        G("POST /v3/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 24\r\n\r\n[[[[[[[[[[[[[[[[[[[[[[[["),
        G("GET /v3/models/%ZZ%00%ff HTTP/1.1\r\nHost: x\r\n\r\n"),
        G("POST /v3/completions"),
    };
#undef G
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        int status = raw_exchange(garbage[i].s, garbage[i].n, 1, 5000);
        /* an HTTP error, or no answer at all (connection closed) — never a success, never a crash */
        if (status != 0 && (status < 400 || status >= 600)) fail_msg("garbage %zu got status %d", i, status);
        st_assert_serving(srv.port);
    }
    /* a header block bigger than the connection's buffer */
    lm_buf h = {0};
    buf_append_str(&h, "GET /v3/models HTTP/1.1\r\nHost: x\r\nX-Big: ");
    for (int i = 0; i < 100000; i++) buf_append_char(&h, 'a');
    buf_append_str(&h, "\r\n\r\n");
    int status = raw_exchange(h.data, h.len, 0, 5000);
    assert_true(status == 0 || status == 431 || status == 413 || status == 400);
    buf_fini(&h);
    st_assert_serving(srv.port);

    /* deeply nested JSON */
    lm_buf deep = {0};
    buf_append_str(&deep, "{\"model\":\"demo\",\"prompt\":");
    for (int i = 0; i < 100000; i++) buf_append_char(&deep, '[');
    st_resp r = {0};
    assert_int_equal(st_post(srv.port, "/v3/completions", buf_cstr(&deep), &r), 400);
    st_resp_fini(&r);
    buf_fini(&deep);
    st_assert_serving(srv.port);
}

/* ---------------------------------------------------------------- disconnects and slow clients */

static const char *long_stream =
    "{\"model\":\"demo\",\"prompt\":\"Once\",\"max_tokens\":30000,\"ignore_eos\":true,\"stream\":true,\"n\":4}";

static int send_post(int fd, const char *path, const char *body) {
    char head[256];
    snprintf(head, sizeof head, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", path, strlen(body));
    return st_send(fd, head, strlen(head)) == 0 && st_send(fd, body, strlen(body)) == 0 ? 0 : -1;
}

static void test_disconnect_mid_stream(void **state) {
    (void)state;
    for (int i = 0; i < 20; i++) {
        int fd = st_connect(srv.port);
        assert_true(fd >= 0);
        assert_int_equal(send_post(fd, "/v3/completions", long_stream), 0);
        lm_buf got = {0};
        int64_t deadline = st_now_ms() + 20000;
        while (!strstr(buf_cstr(&got), "data: ") && st_now_ms() < deadline)
            if (st_recv_some(fd, &got, 1000) <= 0) break;
        assert_non_null(strstr(buf_cstr(&got), "data: "));
        buf_fini(&got);
        if (i % 2) {
            /* a reset instead of an orderly close */
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(fd);
    }
    /* the server noticed (before writing the next token) and cancelled those still running */
    st_sleep_ms(300);
    int cancelled = st_log_count(&srv, "client went away: cancelling");
    fprintf(stderr, "%d of 20 streams were cancelled on disconnect\n", cancelled);
    assert_true(cancelled >= 1);
    /* unary requests whose client leaves at once */
    for (int i = 0; i < 10; i++) {
        int fd = st_connect(srv.port);
        send_post(fd, "/v3/chat/completions",
                  "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":30000,"
                  "\"ignore_eos\":true,\"n\":8}");
        close(fd);
    }
    st_assert_serving(srv.port);
    /* and a full stream afterwards is complete */
    st_resp r = {0};
    assert_int_equal(st_post(srv.port, "/v3/completions",
                             "{\"model\":\"demo\",\"prompt\":\"Once\",\"max_tokens\":10,\"stream\":true}", &r),
                     200);
    json_t *ev = st_sse_events(r.body.data, r.body.len);
    assert_string_equal(json_string_value(json_array_get(ev, json_array_size(ev) - 1)), "[DONE]");
    json_decref(ev);
    st_resp_fini(&r);
}

static void test_stalled_reader_blocks_nobody(void **state) {
    (void)state;
    /* A client that asks for a big stream (20 samples with 20 alternatives per token) and never
     * reads it: its socket buffers fill up, yet everyone else is served promptly. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)srv.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(send_post(fd, "/v3/chat/completions",
                               "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":30000,"
                               "\"ignore_eos\":true,\"n\":20,\"logprobs\":true,\"top_logprobs\":20,\"stream\":true}"),
                     0);
    st_sleep_ms(300);
    for (int i = 0; i < 5; i++) {
        int64_t t0 = st_now_ms();
        st_assert_serving(srv.port);
        int64_t took = st_now_ms() - t0;
        if (took > 5000) fail_msg("a request took %lld ms while another client stalled", (long long)took);
    }
    close(fd);
    st_assert_serving(srv.port);
}

/* ---------------------------------------------------------------- concurrency */

#define N_CLIENTS 100

static void test_concurrent_streams_get_their_own_tokens(void **state) {
    (void)state;
    /* What each client should get: its seed's unary completion. */
    char *want[N_CLIENTS];
    char body[N_CLIENTS][256];
    for (int i = 0; i < N_CLIENTS; i++) {
        snprintf(body[i], sizeof body[i],
                 "{\"model\":\"demo\",\"prompt\":\"%s\",\"max_tokens\":%d,\"temperature\":1.0,\"seed\":%d,\"ignore_eos\":true",
                 i % 2 ? "Once upon a time" : "The little dog", 8 + i % 17, 1000 + i);
        char unary[300];
        snprintf(unary, sizeof unary, "%.255s}", body[i]);
        st_resp r = {0};
        assert_int_equal(st_post(srv.port, "/v3/completions", unary, &r), 200);
        json_t *j = st_json(&r);
        want[i] = strdup(json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text")));
        json_decref(j);
        st_resp_fini(&r);
    }
    /* All streams at once. */
    int fds[N_CLIENTS];
    lm_buf raw[N_CLIENTS];
    int open_n = 0;
    for (int i = 0; i < N_CLIENTS; i++) {
        memset(&raw[i], 0, sizeof raw[i]);
        fds[i] = st_connect(srv.port);
        assert_true(fds[i] >= 0);
        char sb[320], req[640];
        snprintf(sb, sizeof sb, "%.255s,\"stream\":true}", body[i]);
        snprintf(req, sizeof req, "POST /v3/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                 strlen(sb), sb);
        assert_int_equal(st_send(fds[i], req, strlen(req)), 0);
        open_n++;
    }
    int64_t deadline = st_now_ms() + 120000;
    while (open_n > 0 && st_now_ms() < deadline) {
        struct pollfd p[N_CLIENTS];
        for (int i = 0; i < N_CLIENTS; i++) p[i] = (struct pollfd){fds[i], POLLIN, 0};
        if (poll(p, N_CLIENTS, 1000) <= 0) continue;
        for (int i = 0; i < N_CLIENTS; i++) {
            if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char tmp[16384];
            ssize_t k = recv(fds[i], tmp, sizeof tmp, 0);
            if (k > 0) {
                buf_append(&raw[i], tmp, (size_t)k);
            } else {
                close(fds[i]);
                fds[i] = -1;
                open_n--;
            }
        }
    }
    if (open_n > 0) fail_msg("%d streams did not finish in time", open_n);
    for (int i = 0; i < N_CLIENTS; i++) {
        st_resp r = {0};
        assert_true(st_parse(raw[i].data, raw[i].len, 1, &r) > 0);
        assert_int_equal(r.status, 200);
        json_t *ev = st_sse_events(r.body.data, r.body.len);
        lm_buf got = {0};
        st_stream_text(ev, 0, &got);
        if (strcmp(buf_cstr(&got), want[i]) != 0)
            fail_msg("client %d got '%s', want '%s'", i, buf_cstr(&got), want[i]);
        assert_string_equal(json_string_value(json_array_get(ev, json_array_size(ev) - 1)), "[DONE]");
        buf_fini(&got);
        json_decref(ev);
        st_resp_fini(&r);
        buf_fini(&raw[i]);
        free(want[i]);
    }
}

#define N_IDLE 1000

static void test_idle_keepalive_connections_are_cheap(void **state) {
    (void)state;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < N_IDLE + 100) {
        fprintf(stderr, "skipped: open-file hard limit %llu < %d\n", (unsigned long long)rl.rlim_max, N_IDLE + 100);
        skip();
    }
    if (rl.rlim_cur < N_IDLE + 100) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? N_IDLE + 100 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    long threads0 = proc_status_field(srv.pid, "Threads"), rss0 = proc_status_field(srv.pid, "VmRSS");
    int *fds = malloc(N_IDLE * sizeof *fds);
    const char *req = "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < N_IDLE; i++) {
        fds[i] = st_connect(srv.port);
        if (fds[i] < 0) fail_msg("connection %d refused", i);
        assert_int_equal(st_send(fds[i], req, strlen(req)), 0);
        st_resp r = {0};
        if (st_read_response(fds[i], &r, 10000) != 0 || r.status != 200) fail_msg("connection %d: no answer", i);
        st_resp_fini(&r);
    }
    /* all 1000 stay open and idle; the server still streams for someone else, promptly */
    int64_t t0 = st_now_ms();
    st_assert_serving(srv.port);
    assert_true(st_now_ms() - t0 < 5000);
    long threads1 = proc_status_field(srv.pid, "Threads"), rss1 = proc_status_field(srv.pid, "VmRSS");
    fprintf(stderr, "1000 idle connections: threads %ld -> %ld, RSS %ld -> %ld kB\n", threads0, threads1, rss0, rss1);
    assert_true(threads1 - threads0 <= 4);      /* no thread per connection */
    assert_true(rss1 - rss0 < 64 * 1024);       /* well under 64 KiB each */
    /* and each is still usable */
    for (int i = 0; i < N_IDLE; i += 97) {
        assert_int_equal(st_send(fds[i], req, strlen(req)), 0);
        st_resp r = {0};
        assert_int_equal(st_read_response(fds[i], &r, 10000), 0);
        assert_int_equal(r.status, 200);
        st_resp_fini(&r);
    }
    for (int i = 0; i < N_IDLE; i++) close(fds[i]);
    free(fds);
}

/* ---------------------------------------------------------------- shutdown */

static void test_graceful_shutdown(void **state) {
    (void)state;
    for (int round = 0; round < 2; round++) {
        st_server s2;
        st_server_start(&s2, NULL);
        /* in flight: a stream being read, a stream nobody reads, an idle keep-alive connection */
        int reading = st_connect(s2.port), stalled = st_connect(s2.port), idle = st_connect(s2.port);
        const char *live = "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n";
        st_send(idle, live, strlen(live));
        st_resp r = {0};
        assert_int_equal(st_read_response(idle, &r, 5000), 0);
        send_post(reading, "/v3/completions", "{\"model\":\"demo\",\"prompt\":\"Once\",\"max_tokens\":30000,\"ignore_eos\":true,\"stream\":true,\"n\":2}");
        send_post(stalled, "/v3/completions", long_stream);
        lm_buf got = {0};
        while (!strstr(buf_cstr(&got), "data: ")) assert_true(st_recv_some(reading, &got, 10000) > 0);

        int64_t took = 0;
        int code = st_server_stop(&s2, round ? SIGINT : SIGTERM, 15000, &took);
        assert_int_equal(code, 0);
        fprintf(stderr, "shutdown took %lld ms\n", (long long)took);
        /* the read stream ended properly: its last event is [DONE] */
        while (st_recv_some(reading, &got, 2000) > 0) {
        }
        st_resp_fini(&r);
        assert_true(st_parse(got.data, got.len, 1, &r) > 0);
        json_t *ev = st_sse_events(r.body.data, r.body.len);
        assert_string_equal(json_string_value(json_array_get(ev, json_array_size(ev) - 1)), "[DONE]");
        json_decref(ev);
        st_resp_fini(&r);
        buf_fini(&got);
        close(reading);
        close(stalled);
        close(idle);
        assert_int_equal(st_connect(s2.port), -1); /* nobody listens any more */
        unlink(s2.log);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_methods_cors),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_garbage_then_good),
        cmocka_unit_test(test_disconnect_mid_stream),
        cmocka_unit_test(test_stalled_reader_blocks_nobody),
        cmocka_unit_test(test_concurrent_streams_get_their_own_tokens),
        cmocka_unit_test(test_idle_keepalive_connections_are_cheap),
        cmocka_unit_test(test_graceful_shutdown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
