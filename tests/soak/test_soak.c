/* tests/soak/test_soak.c — a bounded load generator against a real lmserve on loopback.
 *
 * N client threads (LM_SOAK_CLIENTS, default 12) run for LM_SOAK_SECONDS (default 40: the short
 * form CI runs; scripts/soak.sh MINUTES runs the long form), each drawing from a fixed-seed
 * random sequence (LM_SOAK_SEED, printed): a streamed completion or chat whose text must equal
 * the same request's solo unary answer (fixed seed, sampled at temperature 1), a unary replay
 * checked the same way, a stream dropped after a random number of bytes, a malformed request
 * (which must get a 4xx or a close), and a health probe. A monitor samples the server's RSS,
 * open sockets and /v2/health/live latency every 250 ms.
 *
 * It prints the figures (requests by kind, 5xx, mixed or wrong streams, RSS and socket counts at
 * start, peak and end, health latency median / p99 / max, how long the abandoned sockets took to
 * close) and fails only on errors: a 5xx or a missing answer to a valid request, a stream that is
 * not its solo answer (mixed streams), a malformed request answered 2xx/5xx, or server sockets
 * still open 5 s after every client is gone (for now only with LM_SOAK_STRICT=1: see issue 17
 * item 3). Latency is recorded, never asserted. */
#include "server/srvtest.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>

static st_server srv;

enum { N_REPLAYS = 24, MAX_CLIENTS = 64, MAX_SAMPLES = 1 << 16 };

typedef struct {
    char body[400];  /* without "stream" */
    int chat;
    char *want;      /* the solo unary answer's text */
} replay;

static replay g_replays[N_REPLAYS];
static atomic_int g_stop;
static atomic_long n_stream, n_unary, n_dropped, n_malformed, n_health, n_5xx, n_noanswer, n_mixed, n_badreject;

typedef struct {
    long rss_kb[MAX_SAMPLES];
    int socks[MAX_SAMPLES];
    int health_ms[MAX_SAMPLES];
    int n;
} samples;
static samples g_samples;

/* xorshift64*: one sequence per client, from the run's seed. */
static uint64_t rnd(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static long proc_rss_kb(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) v = strtol(line + 6, NULL, 10);
    fclose(f);
    return v;
}

/* Open sockets of the server process (the listening one included). */
static int proc_sockets(pid_t pid) {
    char path[64], link[512], target[128];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        ssize_t k = readlink(link, target, sizeof target - 1);
        if (k > 0) {
            target[k] = 0;
            n += strncmp(target, "socket:", 7) == 0;
        }
    }
    closedir(d);
    return n;
}

static char *unary_text(const char *path, const char *body, int chat) {
    st_resp r = {0};
    int status = st_post(srv.port, path, body, &r);
    if (status != 200) fail_msg("solo request failed: %d %s", status, buf_cstr(&r.body));
    json_t *j = st_json(&r);
    json_t *c = json_array_get(json_object_get(j, "choices"), 0);
    const char *t = chat ? json_string_value(json_object_get(json_object_get(c, "message"), "content"))
                         : json_string_value(json_object_get(c, "text"));
    char *out = strdup(t ? t : "");
    json_decref(j);
    st_resp_fini(&r);
    return out;
}

static void make_replays(void) {
    static const char *const prompts[] = {"Once upon a time", "The little dog", "Tom and Lily went", "She saw a big"};
    for (int i = 0; i < N_REPLAYS; i++) {
        replay *r = &g_replays[i];
        r->chat = i % 3 == 2;
        if (r->chat)
            snprintf(r->body, sizeof r->body,
                     "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}],\"max_tokens\":%d,"
                     "\"temperature\":1.0,\"seed\":%d,\"ignore_eos\":true",
                     prompts[i % 4], 6 + i % 13, 7000 + i);
        else
            snprintf(r->body, sizeof r->body,
                     "{\"model\":\"demo\",\"prompt\":\"%s\",\"max_tokens\":%d,\"temperature\":1.0,\"seed\":%d,"
                     "\"ignore_eos\":true",
                     prompts[i % 4], 6 + i % 13, 5000 + i);
        char unary[512];
        snprintf(unary, sizeof unary, "%.400s}", r->body);
        r->want = unary_text(r->chat ? "/v3/chat/completions" : "/v3/completions", unary, r->chat);
    }
}

static int send_request(int fd, const char *path, const char *body) {
    char head[256];
    snprintf(head, sizeof head,
             "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n", path, strlen(body));
    return st_send(fd, head, strlen(head)) == 0 && st_send(fd, body, strlen(body)) == 0 ? 0 : -1;
}

/* A streamed replay: the events' text must be the solo answer, every chunk of one id. */
static void do_stream(const replay *r) {
    char body[512];
    snprintf(body, sizeof body, "%.400s,\"stream\":true}", r->body);
    int fd = st_connect(srv.port);
    if (fd < 0 || send_request(fd, r->chat ? "/v3/chat/completions" : "/v3/completions", body) != 0) {
        atomic_fetch_add(&n_noanswer, 1);
        if (fd >= 0) close(fd);
        return;
    }
    st_resp resp = {0};
    int rc = st_read_response(fd, &resp, 120000);
    close(fd);
    atomic_fetch_add(&n_stream, 1);
    if (rc != 0) { atomic_fetch_add(&n_noanswer, 1); st_resp_fini(&resp); return; }
    if (resp.status >= 500) atomic_fetch_add(&n_5xx, 1);
    if (resp.status != 200) { atomic_fetch_add(&n_noanswer, 1); st_resp_fini(&resp); return; }
    json_t *events = st_sse_events(buf_cstr(&resp.body), resp.body.len);
    lm_buf text = {0};
    st_stream_text(events, 0, &text);
    const char *id0 = NULL;
    int mixed = 0;
    size_t k;
    json_t *ev;
    json_array_foreach(events, k, ev) {
        const char *id = json_string_value(json_object_get(ev, "id"));
        if (!id) continue;
        if (!id0) id0 = id;
        else if (strcmp(id, id0) != 0) mixed = 1;
    }
    if (mixed || strcmp(buf_cstr(&text), r->want) != 0) {
        atomic_fetch_add(&n_mixed, 1);
        fprintf(stderr, "soak: stream differs from its solo answer%s:\n  want [%s]\n  got  [%s]\n",
                mixed ? " (chunk ids mixed)" : "", r->want, buf_cstr(&text));
    }
    buf_fini(&text);
    json_decref(events);
    st_resp_fini(&resp);
}

static void do_unary(const replay *r) {
    char body[512];
    snprintf(body, sizeof body, "%.400s}", r->body);
    st_resp resp = {0};
    int status = st_post(srv.port, r->chat ? "/v3/chat/completions" : "/v3/completions", body, &resp);
    atomic_fetch_add(&n_unary, 1);
    if (status >= 500) atomic_fetch_add(&n_5xx, 1);
    if (status != 200) {
        atomic_fetch_add(&n_noanswer, 1);
    } else {
        json_t *j = st_json(&resp);
        json_t *c = json_array_get(json_object_get(j, "choices"), 0);
        const char *t = r->chat ? json_string_value(json_object_get(json_object_get(c, "message"), "content"))
                                : json_string_value(json_object_get(c, "text"));
        if (!t || strcmp(t, r->want) != 0) atomic_fetch_add(&n_mixed, 1);
        json_decref(j);
    }
    st_resp_fini(&resp);
}

/* A stream abandoned after `keep` bytes of the answer (0: right after sending). */
static void do_drop(const replay *r, size_t keep) {
    char body[300];
    snprintf(body, sizeof body,
             "{\"model\":\"demo\",\"%s\":%s,\"max_tokens\":400,\"ignore_eos\":true,\"stream\":true}",
             r->chat ? "messages" : "prompt",
             r->chat ? "[{\"role\":\"user\",\"content\":\"Tell a story\"}]" : "\"Once upon a time\"");
    int fd = st_connect(srv.port);
    if (fd < 0) return;
    if (send_request(fd, r->chat ? "/v3/chat/completions" : "/v3/completions", body) == 0 && keep > 0) {
        lm_buf got = {0};
        int64_t deadline = st_now_ms() + 10000;
        while (got.len < keep && st_now_ms() < deadline && st_recv_some(fd, &got, 1000) > 0) {}
        buf_fini(&got);
    }
    if (keep % 2) { /* half the drops reset the connection instead of closing it */
        struct linger l = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(fd);
    atomic_fetch_add(&n_dropped, 1);
}

static void do_malformed(uint64_t *s) {
    static const char *const bad[] = {
        "POST /v3/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{{{{{",
        "POST /v3/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{\"model\":\"demo\"}",
        "GET /v3/nothing HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        "POST /v3/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\nConnection: close\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 tls hello\r\n\r\n",
        "POST /v3/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 47\r\nConnection: close\r\n\r\n"
        "{\"model\":\"demo\",\"prompt\":\"a\",\"max_tokens\":-3}",
    };
    const char *req = bad[rnd(s) % (sizeof bad / sizeof bad[0])];
    int fd = st_connect(srv.port);
    if (fd < 0) return;
    st_send(fd, req, strlen(req));
    st_resp r = {0};
    int status = st_read_response(fd, &r, 20000) == 0 ? r.status : 0;
    close(fd);
    st_resp_fini(&r);
    atomic_fetch_add(&n_malformed, 1);
    if (status >= 500) atomic_fetch_add(&n_5xx, 1);
    if (status != 0 && (status < 400 || status >= 500)) atomic_fetch_add(&n_badreject, 1);
}

static void do_health(void) {
    st_resp r = {0};
    int status = st_request(srv.port, "GET", "/v2/health/live", NULL, NULL, &r) == 0 ? r.status : 0;
    st_resp_fini(&r);
    atomic_fetch_add(&n_health, 1);
    if (status != 200) atomic_fetch_add(&n_noanswer, 1);
}

static void *client(void *arg) {
    uint64_t s = (uint64_t)(uintptr_t)arg;
    while (!atomic_load(&g_stop)) {
        unsigned pick = (unsigned)(rnd(&s) % 100);
        const replay *r = &g_replays[rnd(&s) % N_REPLAYS];
        if (pick < 40) do_stream(r);
        else if (pick < 55) do_unary(r);
        else if (pick < 75) do_drop(r, (size_t)(rnd(&s) % 3000));
        else if (pick < 90) do_malformed(&s);
        else do_health();
    }
    return NULL;
}

static void *monitor(void *arg) {
    (void)arg;
    while (!atomic_load(&g_stop) && g_samples.n < MAX_SAMPLES) {
        int64_t t0 = st_now_ms();
        st_resp r = {0};
        int ok = st_request(srv.port, "GET", "/v2/health/live", NULL, NULL, &r) == 0 && r.status == 200;
        st_resp_fini(&r);
        int i = g_samples.n;
        g_samples.health_ms[i] = ok ? (int)(st_now_ms() - t0) : -1;
        g_samples.rss_kb[i] = proc_rss_kb(srv.pid);
        g_samples.socks[i] = proc_sockets(srv.pid);
        g_samples.n = i + 1;
        st_sleep_ms(250);
    }
    return NULL;
}

static int cmp_int(const void *a, const void *b) {
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static long env_long(const char *name, long def) {
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : def;
}

static void test_soak(void **state) {
    (void)state;
    long seconds = env_long("LM_SOAK_SECONDS", 40);
    int clients = (int)env_long("LM_SOAK_CLIENTS", 12);
    if (clients < 1 || clients > MAX_CLIENTS) fail_msg("LM_SOAK_CLIENTS must be 1 to %d", MAX_CLIENTS);
    uint64_t seed = (uint64_t)env_long("LM_SOAK_SEED", (long)time(NULL));
    print_message("soak: %ld s, %d clients, seed %llu (LM_SOAK_SEED repeats the choices)\n", seconds, clients,
                  (unsigned long long)seed);
    make_replays();
    int socks0 = proc_sockets(srv.pid);
    long rss0 = proc_rss_kb(srv.pid);

    pthread_t th[MAX_CLIENTS], mon;
    pthread_create(&mon, NULL, monitor, NULL);
    for (int i = 0; i < clients; i++)
        pthread_create(&th[i], NULL, client, (void *)(uintptr_t)(seed * 0x9E3779B97F4A7C15ull + (uint64_t)i + 1));
    int64_t end = st_now_ms() + seconds * 1000;
    while (st_now_ms() < end) st_sleep_ms(100);
    atomic_store(&g_stop, 1);
    for (int i = 0; i < clients; i++) pthread_join(th[i], NULL);
    pthread_join(mon, NULL);

    /* every client is gone: the server's sockets must go back to what they were */
    int64_t t_gone = st_now_ms();
    int socks = proc_sockets(srv.pid);
    while (socks > socks0 && st_now_ms() - t_gone < 5000) {
        st_sleep_ms(20);
        socks = proc_sockets(srv.pid);
    }
    long close_ms = (long)(st_now_ms() - t_gone);
    long rss1 = proc_rss_kb(srv.pid);

    int n = g_samples.n, lat[MAX_SAMPLES], nl = 0, failed_probes = 0, peak_socks = 0;
    long peak_rss = 0;
    for (int i = 0; i < n; i++) {
        if (g_samples.health_ms[i] >= 0) lat[nl++] = g_samples.health_ms[i];
        else failed_probes++;
        if (g_samples.socks[i] > peak_socks) peak_socks = g_samples.socks[i];
        if (g_samples.rss_kb[i] > peak_rss) peak_rss = g_samples.rss_kb[i];
    }
    qsort(lat, (size_t)nl, sizeof lat[0], cmp_int);
    print_message("soak: requests: %ld streamed, %ld unary, %ld dropped streams, %ld malformed, %ld health\n",
                  atomic_load(&n_stream), atomic_load(&n_unary), atomic_load(&n_dropped), atomic_load(&n_malformed),
                  atomic_load(&n_health));
    print_message("soak: errors: %ld 5xx, %ld valid requests without an answer, %ld mixed or wrong streams, "
                  "%ld malformed requests accepted\n",
                  atomic_load(&n_5xx), atomic_load(&n_noanswer), atomic_load(&n_mixed), atomic_load(&n_badreject));
    print_message("soak: RSS %ld kB at start, %ld peak, %ld at the end; sockets %d at start, %d peak, %d at the "
                  "end (%ld ms after the last client left)\n",
                  rss0, peak_rss, rss1, socks0, peak_socks, socks, close_ms);
    if (nl)
        print_message("soak: /v2/health/live over %d probes: median %d ms, p99 %d ms, max %d ms, %d failed\n", nl,
                      lat[nl / 2], lat[(nl * 99) / 100 < nl ? (nl * 99) / 100 : nl - 1], lat[nl - 1], failed_probes);
    assert_int_equal(atomic_load(&n_5xx), 0);
    assert_int_equal(atomic_load(&n_noanswer), 0);
    assert_int_equal(atomic_load(&n_mixed), 0);
    assert_int_equal(atomic_load(&n_badreject), 0);
    assert_int_equal(failed_probes, 0);
    if (socks > socks0) {
        /* issue 17 item 3: a share of abandoned streams keep their socket until the idle timeout;
         * reported until that is fixed, an error with LM_SOAK_STRICT=1 */
        print_message("soak: %d server sockets still open 5 s after every client left%s\n", socks - socks0,
                      getenv("LM_SOAK_STRICT") ? "" : " (known defect, issue 17 item 3; LM_SOAK_STRICT=1 fails on it)");
        if (getenv("LM_SOAK_STRICT")) fail_msg("leaked sockets");
    }
    st_assert_serving(srv.port);
}

static int setup(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    return st_server_start(&srv, NULL);
}

static int teardown(void **state) {
    (void)state;
    int rc = st_server_stop(&srv, SIGTERM, 30000, NULL);
    if (rc != 0) fprintf(stderr, "lmserve exited %d (see %s)\n", rc, srv.log);
    else unlink(srv.log);
    return rc;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_soak, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
