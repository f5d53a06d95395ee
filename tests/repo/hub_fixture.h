/* tests/repo/hub_fixture.h — a local fake hub (tests/repo/fake_hub.py on 127.0.0.1, never the
 * internet) for the hub and pull tests: group setup/teardown start and stop it over a scratch
 * folder holding these repositories:
 *   org/tiny     config.json (small), model.gguf (700 KiB), sub/tokenizer.json (3000 B)
 *   org/private  config.json; needs the token "secret"
 *   org/multi    a-Q4_K_M.gguf, a-Q8_0.gguf, b-00001-of-00002.gguf, b-00002-of-00002.gguf, README.md
 *   org/hf       config.json, model.safetensors
 * Faults are set per test with set_faults() (see fake_hub.py); each_setup() gives a fresh `dest`
 * folder and clears faults and the request log. */
#ifndef LM_TESTS_REPO_HUB_FIXTURE_H
#define LM_TESTS_REPO_HUB_FIXTURE_H

#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lmtest.h"
#include "repo/hub.h"

static char tmp[256];       /* everything of this test run */
static char root[512];      /* the hub's repositories */
static char faults[512];    /* the hub's fault file */
static char hublog[512];    /* the hub's request log */
static char endpoint[64];
static pid_t hub_pid;

static inline void setf(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline void setf(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

static inline void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) fail_msg("command failed: %s", cmd);
}

static inline void write_file(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

/* Deterministic bytes: model files with distinct content at every offset. */
static inline unsigned char *pattern(size_t n, unsigned seed) {
    unsigned char *b = malloc(n);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        b[i] = (unsigned char)(x >> 24);
    }
    return b;
}

#define MODEL_SIZE (700u * 1024u)

static inline void set_faults(const char *json) { write_file(faults, json, strlen(json)); }

static inline int group_setup(void **state) {
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/lm_test_hub_XXXXXX");
    if (!mkdtemp(tmp)) return -1;
    setf(root, sizeof root, "%s/hub", tmp);
    setf(faults, sizeof faults, "%s/faults.json", tmp);
    setf(hublog, sizeof hublog, "%s/hub.log", tmp);
    sh("mkdir -p '%s/org/tiny/sub' '%s/org/private' '%s/org/multi' '%s/org/hf'", root, root, root, root);
    char p[1024];
    setf(p, sizeof p, "%s/org/tiny/config.json", root);
    write_file(p, "{\"model_type\": \"llama\"}\n", 24);
    unsigned char *m = pattern(MODEL_SIZE, 1);
    setf(p, sizeof p, "%s/org/tiny/model.gguf", root);
    write_file(p, m, MODEL_SIZE);
    free(m);
    unsigned char *t = pattern(3000, 2);
    setf(p, sizeof p, "%s/org/tiny/sub/tokenizer.json", root);
    write_file(p, t, 3000);
    free(t);
    setf(p, sizeof p, "%s/org/private/config.json", root);
    write_file(p, "{}", 2);
    /* several GGUF models, one split in two parts */
    const char *multi[] = {"a-Q4_K_M.gguf", "a-Q8_0.gguf", "b-00001-of-00002.gguf", "b-00002-of-00002.gguf"};
    for (int i = 0; i < 4; i++) {
        setf(p, sizeof p, "%s/org/multi/%s", root, multi[i]);
        unsigned char *g = pattern(2000 + 100 * (size_t)i, 10 + (unsigned)i);
        write_file(p, g, 2000 + 100 * (size_t)i);
        free(g);
    }
    setf(p, sizeof p, "%s/org/multi/README.md", root);
    write_file(p, "# multi\n", 8);
    /* a Hugging Face folder */
    setf(p, sizeof p, "%s/org/hf/config.json", root);
    write_file(p, "{\"model_type\": \"llama\"}", 23);
    unsigned char *w = pattern(5000, 20);
    setf(p, sizeof p, "%s/org/hf/model.safetensors", root);
    write_file(p, w, 5000);
    free(w);
    set_faults("{}");

    /* never a proxy for 127.0.0.1, never a token or endpoint from the environment */
    const char *vars[] = {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                          "all_proxy", "HF_TOKEN", "HF_ENDPOINT"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);

    char port_file[600], script[600];
    setf(port_file, sizeof port_file, "%s/port", tmp);
    setf(script, sizeof script, "%s/tests/repo/fake_hub.py", LM_SOURCE_DIR);
    hub_pid = fork();
    if (hub_pid == 0) {
        execlp("python3", "python3", script, "--root", root, "--port-file", port_file, "--faults",
               faults, "--log", hublog, "--private", "org/private=secret", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) { /* up to 10 s */
        FILE *fp = fopen(port_file, "r");
        if (fp) {
            int port = 0;
            int ok = fscanf(fp, "%d", &port) == 1;
            fclose(fp);
            if (ok && port > 0) {
                setf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
                return 0;
            }
        }
        usleep(50000);
    }
    fprintf(stderr, "the fake hub did not start (python3 missing?)\n");
    return -1;
}

static inline int group_teardown(void **state) {
    (void)state;
    if (hub_pid > 0) {
        kill(hub_pid, SIGTERM);
        waitpid(hub_pid, NULL, 0);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* A fresh download folder, no faults, an empty request log. */
static char dest[600];
static inline int each_setup(void **state) {
    (void)state;
    static int n;
    setf(dest, sizeof dest, "%s/dl%d", tmp, n++);
    set_faults("{}");
    unlink(hublog);
    return 0;
}

static FILE *quiet_log;

static inline hub_opts opts(void) {
    if (!quiet_log) quiet_log = fopen("/dev/null", "w");
    hub_opts o = {.endpoint = endpoint, .retries = 3, .backoff_ms = 10, .log = quiet_log,
                  .progress = 0};
    return o;
}

/* Lines of the hub's request log containing `part`. */
static inline int log_count(const char *part) {
    FILE *fp = fopen(hublog, "r");
    if (!fp) return 0;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, fp))
        if (strstr(line, part)) n++;
    fclose(fp);
    return n;
}

static inline void assert_same_file(const char *a, const char *b) {
    char cmd[2048];
    setf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    if (system(cmd) != 0) fail_msg("%s differs from %s", a, b);
}

static inline int exists(const char *p) {
    struct stat st;
    return lstat(p, &st) == 0;
}

#endif
