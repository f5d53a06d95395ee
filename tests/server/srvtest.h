/* srvtest.h — helpers for the server tests that talk to a real `lmserve` process over loopback:
 * start/stop the binary (LM_BIN) on a free port with the bundled demo model, a minimal HTTP/1.1
 * client (Content-Length and chunked bodies), and SSE event splitting. Every wait is bounded. */
#ifndef LM_TESTS_SERVER_SRVTEST_H
#define LM_TESTS_SERVER_SRVTEST_H

#include "lmtest.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"

static inline int64_t st_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void st_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- sockets */

/* A blocking loopback connection to port, or -1. */
static inline int st_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static inline int st_send(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads what is available within timeout_ms into b. Returns bytes read, 0 on EOF, -1 on
 * error or timeout. */
static inline ssize_t st_recv_some(int fd, lm_buf *b, int timeout_ms) {
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, timeout_ms);
    if (r <= 0) return -1;
    char tmp[65536];
    ssize_t k = recv(fd, tmp, sizeof tmp, 0);
    if (k > 0) buf_append(b, tmp, (size_t)k);
    return k < 0 ? -1 : k;
}

/* ---------------------------------------------------------------- HTTP responses */

typedef struct {
    int status;
    lm_buf head;                 /* status line and headers */
    lm_buf body;                 /* de-chunked */
    int chunked;
} st_resp;

static inline void st_resp_fini(st_resp *r) {
    buf_fini(&r->head);
    buf_fini(&r->body);
    memset(r, 0, sizeof *r);
}

/* The value of header `name` (case-insensitive) copied into out, or NULL. */
static inline const char *st_header(const st_resp *r, const char *name, char *out, size_t size) {
    const char *h = buf_cstr(&r->head);
    size_t n = strlen(name);
    for (const char *line = strstr(h, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
            const char *v = l + n + 1;
            while (*v == ' ') v++;
            const char *e = strstr(v, "\r\n");
            size_t len = e ? (size_t)(e - v) : strlen(v);
            if (len >= size) len = size - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return out;
        }
    }
    return NULL;
}

/* Tries to parse one complete response from raw[0..n). Returns the bytes it used, 0 when more
 * are needed, -1 when malformed. eof: the connection has closed (ends a body without length). */
static inline ssize_t st_parse(const char *raw, size_t n, int eof, st_resp *r) {
    const char *end = memmem(raw, n, "\r\n\r\n", 4);
    if (!end) return eof ? -1 : 0;
    size_t hlen = (size_t)(end - raw) + 4;
    buf_reset(&r->head);
    buf_reset(&r->body);
    buf_append(&r->head, raw, hlen - 2);
    if (sscanf(raw, "HTTP/1.%*d %d", &r->status) != 1) return -1;
    char v[64];
    r->chunked = st_header(r, "Transfer-Encoding", v, sizeof v) && strcasecmp(v, "chunked") == 0;
    if (r->status == 204 || r->status == 304) return (ssize_t)hlen;
    if (r->chunked) {
        size_t pos = hlen;
        for (;;) {
            const char *crlf = memmem(raw + pos, n - pos, "\r\n", 2);
            if (!crlf) return eof ? -1 : 0;
            unsigned long sz = strtoul(raw + pos, NULL, 16);
            size_t data = (size_t)(crlf - raw) + 2;
            if (sz == 0) {
                const char *fin = memmem(raw + data - 2, n - (data - 2), "\r\n\r\n", 4);
                if (!fin) return eof ? -1 : 0;
                return (ssize_t)((size_t)(fin - raw) + 4);
            }
            if (n < data + sz + 2) return eof ? -1 : 0;
            buf_append(&r->body, raw + data, sz);
            pos = data + sz + 2;
        }
    }
    if (st_header(r, "Content-Length", v, sizeof v)) {
        size_t cl = strtoul(v, NULL, 10);
        if (n < hlen + cl) return eof ? -1 : 0;
        buf_append(&r->body, raw + hlen, cl);
        return (ssize_t)(hlen + cl);
    }
    if (!eof) return 0;
    buf_append(&r->body, raw + hlen, n - hlen);
    return (ssize_t)n;
}

/* Reads one response from fd within timeout_ms. Returns 0, or -1 (timeout, reset, malformed). */
static inline int st_read_response(int fd, st_resp *r, int timeout_ms) {
    lm_buf raw = {0};
    int64_t deadline = st_now_ms() + timeout_ms;
    int eof = 0, rc = -1;
    for (;;) {
        ssize_t used = st_parse(raw.data ? raw.data : "", raw.len, eof, r);
        if (used > 0) {
            rc = 0;
            break;
        }
        if (used < 0 || eof) break;
        int left = (int)(deadline - st_now_ms());
        if (left <= 0) break;
        ssize_t k = st_recv_some(fd, &raw, left);
        if (k == 0) eof = 1;
        else if (k < 0) break;
    }
    buf_fini(&raw);
    return rc;
}

/* One request on a fresh connection ("Connection: close"): body may be NULL. Returns 0 with *r
 * filled, or -1. Extra headers (each ending in \r\n) may be NULL. */
static inline int st_request(int port, const char *method, const char *path, const char *body, const char *headers,
                             st_resp *r) {
    int fd = st_connect(port);
    if (fd < 0) return -1;
    lm_buf req = {0};
    buf_printf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s", method, path,
               headers ? headers : "");
    if (body) buf_printf(&req, "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    else buf_append_str(&req, "\r\n");
    int rc = st_send(fd, req.data, req.len);
    buf_fini(&req);
    if (rc == 0) rc = st_read_response(fd, r, 60000);
    close(fd);
    return rc;
}

/* POST body to path; fails the test unless the request completes. Returns the status. */
static inline int st_post(int port, const char *path, const char *body, st_resp *r) {
    if (st_request(port, "POST", path, body, NULL, r) != 0) fail_msg("POST %s: no response", path);
    return r->status;
}

/* The response body as JSON (fails the test when it is not). */
static inline json_t *st_json(const st_resp *r) {
    json_error_t je;
    json_t *j = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &je);
    if (!j) fail_msg("response body is not JSON (%s): %.300s", je.text, buf_cstr(&r->body));
    return j;
}

/* ---------------------------------------------------------------- SSE */

/* Splits an SSE body into its events' data payloads (one json_t per event, or a JSON string
 * "[DONE]"). Fails the test on bad framing: every event must be exactly "data: <payload>\n\n". */
static inline json_t *st_sse_events(const char *body, size_t len) {
    json_t *events = json_array();
    size_t pos = 0;
    while (pos < len) {
        if (len - pos < 6 || memcmp(body + pos, "data: ", 6) != 0)
            fail_msg("SSE: expected 'data: ' at byte %zu: %.80s", pos, body + pos);
        const char *end = memmem(body + pos, len - pos, "\n\n", 2);
        if (!end) fail_msg("SSE: unterminated event at byte %zu", pos);
        const char *payload = body + pos + 6;
        size_t plen = (size_t)(end - payload);
        if (memchr(payload, '\n', plen)) fail_msg("SSE: event with a raw newline at byte %zu", pos);
        if (plen == 6 && memcmp(payload, "[DONE]", 6) == 0) {
            json_array_append_new(events, json_string("[DONE]"));
        } else {
            json_error_t je;
            json_t *j = json_loadb(payload, plen, 0, &je);
            if (!j) fail_msg("SSE: event is not JSON (%s): %.200s", je.text, payload);
            json_array_append_new(events, j);
        }
        pos = (size_t)(end - body) + 2;
    }
    return events;
}

/* Concatenates the text of choice `index` over a stream's events (chat deltas or completions). */
static inline void st_stream_text(json_t *events, int index, lm_buf *out) {
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        json_t *ch = json_object_get(e, "choices");
        size_t k;
        json_t *c;
        json_array_foreach(ch, k, c) {
            if (json_integer_value(json_object_get(c, "index")) != index) continue;
            json_t *t = json_object_get(c, "text");
            if (!t) t = json_object_get(json_object_get(c, "delta"), "content");
            if (json_is_string(t)) buf_append(out, json_string_value(t), json_string_length(t));
        }
    }
}

/* ---------------------------------------------------------------- the server process */

typedef struct {
    pid_t pid;
    int port;
    char log[128];               /* its stderr */
} st_server;

static inline int st_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("no free port");
    close(fd);
    return ntohs(a.sin_port);
}

/* Starts LM_BIN serving the demo model on a free loopback port, with extra arguments (NULL-
 * terminated list, may be empty), and waits until /v2/health/ready answers 200. Returns 0. */
static inline int st_server_start(st_server *s, const char *const *extra) {
    const char *bin = getenv("LM_BIN");
    if (!bin) fail_msg("LM_BIN is not set (run through ctest)");
    for (int attempt = 0; attempt < 3; attempt++) {
        s->port = st_free_port();
        snprintf(s->log, sizeof s->log, "/tmp/lmserve-test-%d-%d.log", (int)getpid(), s->port);
        char port[16];
        snprintf(port, sizeof port, "%d", s->port);
        const char *argv[32] = {bin, "--rest_port", port, "--rest_bind_address", "127.0.0.1", "--log_level", "DEBUG"};
        int argc = 7;
        for (int i = 0; extra && extra[i] && argc < 31; i++) argv[argc++] = extra[i];
        argv[argc] = NULL;
        s->pid = fork();
        if (s->pid < 0) fail_msg("fork failed");
        if (s->pid == 0) {
            int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) dup2(fd, 2);
            int nul = open("/dev/null", O_RDWR);
            if (nul >= 0) dup2(nul, 1), dup2(nul, 0);
            execv(bin, (char *const *)argv);
            _exit(127);
        }
        int64_t deadline = st_now_ms() + 30000;
        while (st_now_ms() < deadline) {
            int status;
            if (waitpid(s->pid, &status, WNOHANG) == s->pid) break; /* died: maybe the port was taken */
            st_resp r = {0};
            if (st_request(s->port, "GET", "/v2/health/ready", NULL, NULL, &r) == 0 && r.status == 200) {
                st_resp_fini(&r);
                return 0;
            }
            st_resp_fini(&r);
            st_sleep_ms(50);
        }
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    fail_msg("lmserve did not become ready (see %s)", s->log);
    return -1;
}

/* Sends sig and waits up to timeout_ms for the exit. Returns the exit code (or 128 + signal);
 * fails the test (after SIGKILL) on timeout. *took_ms (may be NULL) receives the time. */
static inline int st_server_stop(st_server *s, int sig, int timeout_ms, int64_t *took_ms) {
    int64_t t0 = st_now_ms();
    kill(s->pid, sig);
    int status = 0;
    while (waitpid(s->pid, &status, WNOHANG) != s->pid) {
        if (st_now_ms() - t0 > timeout_ms) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            fail_msg("lmserve did not exit within %d ms of signal %d (see %s)", timeout_ms, sig, s->log);
        }
        st_sleep_ms(10);
    }
    if (took_ms) *took_ms = st_now_ms() - t0;
    s->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* How many lines of the server's log contain `needle`. */
static inline int st_log_count(const st_server *s, const char *needle) {
    FILE *f = fopen(s->log, "r");
    if (!f) return -1;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle)) n++;
    fclose(f);
    return n;
}

/* The server is still serving: a completion request succeeds with 200. */
static inline void st_assert_serving(int port) {
    st_resp r = {0};
    int status = st_post(port, "/v3/completions",
                         "{\"model\":\"demo\",\"prompt\":\"Once upon a time\",\"max_tokens\":8,\"temperature\":0}", &r);
    if (status != 200) fail_msg("server no longer serves: %d %s", status, buf_cstr(&r.body));
    st_resp_fini(&r);
}

#endif
