/* hub.c — Hugging Face hub client: the model API listing, resumable verified downloads, retries,
 * progress. The protocol and the guarantees are in hub.h. */
#include "repo/hub.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"

/* Bytes of a listing or error response kept; a real listing of a large repository is ~100 KB. */
#define LISTING_MAX (16u << 20)
#define ERROR_BODY_MAX 4096

/* ---------------------------------------------------------------- setup */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct {
    const char *endpoint, *token, *revision;
    int retries, backoff_ms;
    long low_speed_s;
    FILE *log;
    int bar;
    atomic_int *stop;
} hub_cfg;

static hub_cfg resolve(const hub_opts *o) {
    hub_cfg c;
    const char *env_ep = getenv("HF_ENDPOINT"), *env_tok = getenv("HF_TOKEN");
    c.endpoint = o && o->endpoint ? o->endpoint : env_ep && *env_ep ? env_ep : "https://huggingface.co";
    c.token = o && o->token ? o->token : env_tok;
    if (c.token && !*c.token) c.token = NULL;
    c.revision = o && o->revision ? o->revision : "main";
    c.retries = o && o->retries >= 0 ? o->retries : 5;
    c.backoff_ms = o && o->backoff_ms > 0 ? o->backoff_ms : 1000;
    c.low_speed_s = o && o->low_speed_s > 0 ? o->low_speed_s : 60;
    c.log = o && o->log ? o->log : stderr;
    int p = o ? o->progress : -1;
    c.bar = p == 1 || (p == -1 && isatty(fileno(c.log)));
    c.stop = o ? o->stop : NULL;
    return c;
}

static int stopped(const hub_cfg *c) { return c->stop && atomic_load(c->stop); }

/* The endpoint without trailing slashes, for joining. */
static void put_endpoint(lm_buf *b, const char *ep) {
    size_t n = strlen(ep);
    while (n > 0 && ep[n - 1] == '/') n--;
    buf_append(b, ep, n);
}

/* Appends s URL-encoded, keeping '/' (file paths) and unreserved characters. */
static void put_url_path(lm_buf *b, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '_' || c == '.' || c == '~' || c == '/')
            buf_append_char(b, (char)c);
        else
            buf_printf(b, "%%%02X", c);
    }
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---------------------------------------------------------------- names */

lm_status hub_check_model_id(const char *id, lm_error *err) {
    int parts = 1;
    const char *start = id;
    for (const char *p = id;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t n = (size_t)(p - start);
            int dots = n > 0 && strspn(start, ".") >= n;
            if (n == 0 || dots || n > 96)
                return err_set(err, LM_ERR_INVALID, "--source_model: '%s' is not a model id "
                               "(expected org/name)", id);
            if (*p == '\0') break;
            parts++;
            start = p + 1;
            continue;
        }
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.'))
            return err_set(err, LM_ERR_INVALID, "--source_model: '%s' is not a model id (expected "
                           "org/name of letters, digits, '-', '_', '.')", id);
    }
    if (parts > 2)
        return err_set(err, LM_ERR_INVALID, "--source_model: '%s' is not a model id (expected org/name)", id);
    return LM_OK;
}

lm_status hub_check_path(const char *path, lm_error *err) {
    if (!*path || path[0] == '/')
        return err_set(err, LM_ERR_FORMAT, "hub file name '%s' is empty or absolute: refused", path);
    const char *start = path;
    for (const char *p = path;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '/' || c == '\0') {
            size_t n = (size_t)(p - start);
            if (n == 0 || (n == 1 && start[0] == '.') || (n == 2 && start[0] == '.' && start[1] == '.'))
                return err_set(err, LM_ERR_FORMAT, "hub file name '%s' would leave the model folder: "
                               "refused", path);
            if (c == '\0') break;
            start = p + 1;
        } else if (c < 0x20 || c == 0x7f || c == '\\') {
            return err_set(err, LM_ERR_FORMAT, "hub file name '%s' holds a control character or "
                           "backslash: refused", path);
        }
    }
    if (strlen(path) > 4000) return err_set(err, LM_ERR_FORMAT, "hub file name too long: refused");
    return LM_OK;
}

/* ---------------------------------------------------------------- one HTTP exchange */

typedef enum { SINK_MEMORY, SINK_FILE } sink_kind;

typedef struct {
    const hub_cfg *cfg;
    CURL *curl;
    sink_kind kind;
    lm_buf mem;            /* SINK_MEMORY body, or an error body */
    size_t mem_max;
    int fd;                /* SINK_FILE */
    int64_t offset;        /* bytes already in the file when the request was made */
    int64_t written;       /* bytes written by this request */
    int decided;           /* the status was looked at */
    long status;
    int to_file;           /* a 200/206 body goes to the file */
    int io_error;          /* a write to the file failed */
    int too_big;
    /* progress */
    const char *label;
    int64_t expect;        /* the file's size, -1 unknown */
    double t0, last_draw;
} xfer;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
    xfer *x = ud;
    size_t n = size * nmemb;
    if (!x->decided) {
        x->decided = 1;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
        x->to_file = x->kind == SINK_FILE && (x->status == 200 || x->status == 206);
        if (x->to_file && x->status == 200 && x->offset > 0) {
            /* the server ignored the range: start the file over */
            if (ftruncate(x->fd, 0) != 0 || lseek(x->fd, 0, SEEK_SET) != 0) {
                x->io_error = 1;
                return 0;
            }
            x->offset = 0;
        }
    }
    if (x->to_file) {
        size_t done = 0;
        while (done < n) {
            ssize_t w = write(x->fd, data + done, n - done);
            if (w < 0) {
                if (errno == EINTR) continue;
                x->io_error = 1;
                return 0;
            }
            done += (size_t)w;
        }
        x->written += (int64_t)n;
        return n;
    }
    /* memory: listings, and error bodies for the message */
    size_t max = x->kind == SINK_MEMORY ? x->mem_max : ERROR_BODY_MAX;
    if (x->mem.len + n > max) {
        if (x->kind == SINK_MEMORY) {
            x->too_big = 1;
            return 0;
        }
        n = x->mem.len < max ? max - x->mem.len : 0;
        buf_append(&x->mem, data, n);
        return size * nmemb;
    }
    buf_append(&x->mem, data, n);
    return n;
}

static void human(double bytes, char *out, size_t cap) {
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (bytes >= 1000 && i < 4) {
        bytes /= 1000;
        i++;
    }
    snprintf(out, cap, i ? "%.1f %s" : "%.0f %s", bytes, u[i]);
}

static void draw_bar(xfer *x, int final) {
    double t = now_s();
    if (!final && t - x->last_draw < 0.2) return;
    x->last_draw = t;
    int64_t have = x->offset + x->written;
    double rate = t > x->t0 ? (double)x->written / (t - x->t0) : 0;
    char h[32], tot[32], r[32];
    human((double)have, h, sizeof h);
    human((double)(x->expect > 0 ? x->expect : have), tot, sizeof tot);
    human(rate, r, sizeof r);
    int pct = x->expect > 0 ? (int)(100.0 * (double)have / (double)x->expect) : 100;
    char eta[32] = "";
    if (x->expect > 0 && rate > 0 && have < x->expect)
        snprintf(eta, sizeof eta, " ETA %.0fs", (double)(x->expect - have) / rate);
    fprintf(x->cfg->log, "\r%-40.40s %3d%% %s / %s %s/s%s\033[K", x->label, pct, h, tot, r, eta);
    if (final) fputc('\n', x->cfg->log);
    fflush(x->cfg->log);
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    xfer *x = ud;
    if (stopped(x->cfg)) return 1; /* aborts the transfer */
    if (x->kind == SINK_FILE && x->cfg->bar && x->to_file) draw_bar(x, 0);
    return 0;
}

typedef enum { FAIL_NONE, FAIL_TRANSIENT, FAIL_PERMANENT, FAIL_STOPPED } fail_kind;

/* Runs one GET of url into x (range from x->offset when a file sink has bytes). Returns how it
 * failed; *err holds the message for failures. */
static fail_kind http_get(const hub_cfg *c, const char *url, xfer *x, lm_error *err) {
    CURL *h = curl_easy_init();
    if (!h) {
        err_set(err, LM_ERR_NOMEM, "cannot start libcurl");
        return FAIL_PERMANENT;
    }
    x->curl = h;
    x->decided = 0;
    x->status = 0;
    x->written = 0;
    x->to_file = 0;
    buf_reset(&x->mem);
    struct curl_slist *hdrs = NULL;
    lm_buf auth = {0};
    if (c->token) {
        buf_printf(&auth, "Authorization: Bearer %s", c->token);
        hdrs = curl_slist_append(hdrs, buf_cstr(&auth));
    }
    hdrs = curl_slist_append(hdrs, "Accept: application/json, */*");
    char range[64];
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "lmserve/" LM_VERSION);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->low_speed_s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    /* listings compress well; files are fetched raw, so ranges count stored bytes */
    if (x->kind == SINK_MEMORY) curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    if (x->kind == SINK_FILE && x->offset > 0) {
        snprintf(range, sizeof range, "%lld-", (long long)x->offset);
        curl_easy_setopt(h, CURLOPT_RANGE, range);
    }
    x->t0 = now_s();
    CURLcode rc = curl_easy_perform(h);
    if (!x->decided) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    buf_fini(&auth);
    x->curl = NULL;

    if (stopped(c) || rc == CURLE_ABORTED_BY_CALLBACK) {
        err_set(err, LM_ERR_IO, "interrupted; re-run the same command to resume");
        return FAIL_STOPPED;
    }
    if (x->io_error) {
        err_set(err, LM_ERR_IO, "cannot write the download: %s", strerror(errno));
        return FAIL_PERMANENT;
    }
    if (x->too_big) {
        err_set(err, LM_ERR_LIMIT, "%s: response larger than %zu bytes", url, x->mem_max);
        return FAIL_PERMANENT;
    }
    if (rc != CURLE_OK) {
        err_set(err, LM_ERR_IO, "%s: %s", url, curl_easy_strerror(rc));
        /* a malformed URL or an unsupported protocol does not get better by retrying */
        return rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL ? FAIL_PERMANENT
                                                                             : FAIL_TRANSIENT;
    }
    if (x->status == 200 || x->status == 206) return FAIL_NONE;
    /* the hub's JSON errors say {"error": "..."}; keep a short, printable text */
    char detail[256] = "";
    json_t *j = x->mem.len ? json_loadb(x->mem.data, x->mem.len, 0, NULL) : NULL;
    const char *e = j ? json_string_value(json_object_get(j, "error")) : NULL;
    if (e) snprintf(detail, sizeof detail, ": %s", e);
    json_decref(j);
    if (x->status == 401 || x->status == 403) {
        err_set(err, LM_ERR_IO, "%s: HTTP %ld%s; the repository is private or gated: %s", url,
                x->status, detail, c->token ? "check that HF_TOKEN may read it"
                                            : "set HF_TOKEN to a token that may read it");
        return FAIL_PERMANENT;
    }
    if (x->status == 404) {
        err_set(err, LM_ERR_NOT_FOUND, "%s: HTTP 404%s", url, detail);
        return FAIL_PERMANENT;
    }
    err_set(err, x->status == 416 ? LM_ERR_FORMAT : LM_ERR_IO, "%s: HTTP %ld%s", url, x->status, detail);
    if (x->status == 408 || x->status == 429 || x->status >= 500) return FAIL_TRANSIENT;
    return FAIL_PERMANENT;
}

/* ---------------------------------------------------------------- listing */

lm_status hub_parse_listing(const char *json, size_t len, const char *where, hub_listing *out,
                            lm_error *err) {
    memset(out, 0, sizeof *out);
    lm_status s = LM_OK;
    json_error_t je;
    json_t *root = json_loadb(json, len, 0, &je);
    json_t *sib = root ? json_object_get(root, "siblings") : NULL;
    if (!root || !json_is_array(sib)) {
        s = err_set(err, LM_ERR_FORMAT, "%s: not a model listing (%s)", where,
                    root ? "no \"siblings\" array" : je.text);
        json_decref(root);
        return s;
    }
    const char *commit = json_string_value(json_object_get(root, "sha"));
    if (commit && !(out->commit = strdup(commit))) s = err_set(err, LM_ERR_NOMEM, "out of memory");
    size_t n = json_array_size(sib);
    out->files = n ? calloc(n, sizeof *out->files) : NULL;
    if (n && !out->files) s = err_set(err, LM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; s == LM_OK && i < n; i++) {
        json_t *it = json_array_get(sib, i);
        const char *name = json_string_value(json_object_get(it, "rfilename"));
        if (!name) {
            s = err_set(err, LM_ERR_FORMAT, "%s: siblings[%zu] has no rfilename", where, i);
            break;
        }
        if ((s = hub_check_path(name, err)) != LM_OK) break;
        hub_file *f = &out->files[out->n];
        if (!(f->path = strdup(name))) {
            s = err_set(err, LM_ERR_NOMEM, "out of memory");
            break;
        }
        out->n++;
        json_t *lfs = json_object_get(it, "lfs");
        json_t *size = json_object_get(it, "size");
        if (!json_is_integer(size)) size = json_object_get(lfs, "size");
        f->size = json_is_integer(size) && json_integer_value(size) >= 0 ? json_integer_value(size) : -1;
        const char *sha = json_string_value(json_object_get(lfs, "sha256"));
        if (sha && strlen(sha) == 64 && strspn(sha, "0123456789abcdefABCDEF") == 64) {
            for (int k = 0; k < 64; k++) f->sha256[k] = (char)(sha[k] | 0x20); /* lowercase */
            f->sha256[64] = '\0';
        }
        /* sizes are the listing's word: a sum past int64 (no real repository) is refused */
        if (f->size > 0 && f->size > INT64_MAX - out->total_bytes) {
            s = err_set(err, LM_ERR_FORMAT, "%s: file sizes add up to more than %" PRId64 " bytes", where,
                        INT64_MAX);
            break;
        }
        if (f->size > 0) out->total_bytes += f->size;
    }
    json_decref(root);
    if (s != LM_OK) hub_listing_fini(out);
    return s;
}

lm_status hub_list(const hub_opts *o, const char *model_id, hub_listing *out, lm_error *err) {
    memset(out, 0, sizeof *out);
    LM_TRY(hub_check_model_id(model_id, err));
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) return err_set(err, LM_ERR_IO, "cannot initialise libcurl");
    hub_cfg c = resolve(o);
    lm_buf url = {0};
    put_endpoint(&url, c.endpoint);
    buf_append_str(&url, "/api/models/");
    put_url_path(&url, model_id);
    buf_append_str(&url, "/revision/");
    put_url_path(&url, c.revision);
    buf_append_str(&url, "?blobs=true");
    if (url.oom) return err_set(err, LM_ERR_NOMEM, "out of memory");

    xfer x = {.cfg = &c, .kind = SINK_MEMORY, .mem_max = LISTING_MAX, .fd = -1};
    lm_status s = LM_OK;
    int delay = c.backoff_ms;
    for (int attempt = 0;; attempt++) {
        lm_error e;
        err_clear(&e);
        fail_kind f = http_get(&c, url.data, &x, &e);
        if (f == FAIL_NONE) break;
        if (f != FAIL_TRANSIENT || attempt >= c.retries) {
            if (e.code == LM_ERR_NOT_FOUND)
                s = err_set(err, LM_ERR_NOT_FOUND, "model %s (revision %s) not found at %s (%s)",
                            model_id, c.revision, c.endpoint, e.msg);
            else
                s = err_set(err, e.code, "%s", e.msg);
            goto done;
        }
        fprintf(c.log, "%s; retrying in %.1f s\n", e.msg, delay / 1000.0);
        sleep_ms(delay);
        if (stopped(&c)) {
            s = err_set(err, LM_ERR_IO, "interrupted; re-run the same command to resume");
            goto done;
        }
        delay *= 2;
    }

    s = hub_parse_listing(x.mem.data ? x.mem.data : "", x.mem.len, url.data, out, err);
done:
    buf_fini(&x.mem);
    buf_fini(&url);
    if (s != LM_OK) hub_listing_fini(out);
    return s;
}

void hub_listing_fini(hub_listing *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->files[i].path);
    free(l->files);
    free(l->commit);
    memset(l, 0, sizeof *l);
}

/* ---------------------------------------------------------------- files */

/* Creates dir/<each folder of rel> (not the last component), refusing symlinks on the way. */
static lm_status make_parents(const char *dir, const char *rel, lm_error *err) {
    lm_buf p = {0};
    buf_append_str(&p, dir);
    lm_status s = LM_OK;
    const char *start = rel;
    for (const char *q = rel; *q; q++) {
        if (*q != '/') continue;
        buf_append_char(&p, '/');
        buf_append(&p, start, (size_t)(q - start));
        start = q + 1;
        if (p.oom) {
            s = err_set(err, LM_ERR_NOMEM, "out of memory");
            break;
        }
        struct stat st;
        if (lstat(p.data, &st) == 0) {
            if (S_ISLNK(st.st_mode)) {
                s = err_set(err, LM_ERR_FORMAT, "%s is a symlink: refusing to download through it", p.data);
                break;
            }
            if (!S_ISDIR(st.st_mode)) {
                s = err_set(err, LM_ERR_IO, "%s exists and is not a folder", p.data);
                break;
            }
        } else if (mkdir(p.data, 0777) != 0 && errno != EEXIST) {
            s = err_set(err, LM_ERR_IO, "cannot create %s: %s", p.data, strerror(errno));
            break;
        }
    }
    buf_fini(&p);
    return s;
}

/* sha256 of a whole file as lowercase hex. */
static lm_status file_sha256(const char *path, char hex[65], lm_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set(err, LM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(1 << 16);
    lm_status s = LM_OK;
    if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        s = err_set(err, LM_ERR_INTERNAL, "sha256 unavailable");
    } else {
        size_t n;
        while ((n = fread(buf, 1, 1 << 16, fp)) > 0) EVP_DigestUpdate(ctx, buf, n);
        if (ferror(fp)) s = err_set(err, LM_ERR_IO, "cannot read %s", path);
        unsigned char md[32];
        unsigned int len = 0;
        if (s == LM_OK && EVP_DigestFinal_ex(ctx, md, &len) == 1 && len == 32) {
            for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
        } else if (s == LM_OK) {
            s = err_set(err, LM_ERR_INTERNAL, "sha256 failed");
        }
    }
    EVP_MD_CTX_free(ctx);
    free(buf);
    fclose(fp);
    return s;
}

static int64_t file_size(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
}

lm_status hub_download(const hub_opts *o, const char *model_id, const hub_file *f, const char *dir,
                       int *skipped, lm_error *err) {
    if (skipped) *skipped = 0;
    LM_TRY(hub_check_model_id(model_id, err));
    LM_TRY(hub_check_path(f->path, err));
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) return err_set(err, LM_ERR_IO, "cannot initialise libcurl");
    hub_cfg c = resolve(o);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return err_set(err, LM_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    LM_TRY(make_parents(dir, f->path, err));

    lm_buf final = {0}, part = {0}, url = {0};
    buf_printf(&final, "%s/%s", dir, f->path);
    buf_printf(&part, "%s/%s.part", dir, f->path);
    put_endpoint(&url, c.endpoint);
    buf_append_char(&url, '/');
    put_url_path(&url, model_id);
    buf_append_str(&url, "/resolve/");
    put_url_path(&url, c.revision);
    buf_append_char(&url, '/');
    put_url_path(&url, f->path);
    lm_status s = LM_OK;
    int fd = -1;
    if (final.oom || part.oom || url.oom) {
        s = err_set(err, LM_ERR_NOMEM, "out of memory");
        goto done;
    }
    struct stat st;
    if (lstat(final.data, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            s = err_set(err, LM_ERR_FORMAT, "%s exists and is not a regular file (a symlink or a "
                        "folder): refused", final.data);
            goto done;
        }
        /* under its final name a file was verified when it got the name */
        if (f->size < 0 || (int64_t)st.st_size == f->size) {
            if (skipped) *skipped = 1;
            if (!c.bar) fprintf(c.log, "%s: already downloaded\n", f->path);
            goto done;
        }
        /* a different size: an older revision of the file; fetch it again */
        unlink(final.data);
    }
    if (lstat(part.data, &st) == 0 && !S_ISREG(st.st_mode)) {
        s = err_set(err, LM_ERR_FORMAT, "%s is not a regular file: refused", part.data);
        goto done;
    }

    int delay = c.backoff_ms;
    for (int attempt = 0;; attempt++) {
        fd = open(part.data, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0666);
        if (fd < 0) {
            s = err_set(err, LM_ERR_IO, "cannot open %s: %s", part.data, strerror(errno));
            goto done;
        }
        int64_t have = file_size(part.data);
        if (have < 0) have = 0;
        if (f->size >= 0 && have > f->size) { /* longer than the file can be: start over */
            if (ftruncate(fd, 0) != 0) {
                s = err_set(err, LM_ERR_IO, "cannot truncate %s: %s", part.data, strerror(errno));
                goto done;
            }
            have = 0;
        }
        lm_error e;
        err_clear(&e);
        fail_kind fk = FAIL_NONE;
        xfer x = {.cfg = &c, .kind = SINK_FILE, .fd = fd, .offset = have, .label = f->path,
                  .expect = f->size};
        if (!(f->size >= 0 && have == f->size)) { /* else: complete already, just verify */
            if (!c.bar) fprintf(c.log, "%s: downloading%s\n", f->path, have ? " (resuming)" : "");
            fk = http_get(&c, url.data, &x, &e);
            if (fk == FAIL_NONE && c.bar) draw_bar(&x, 1);
            if (fk != FAIL_NONE && c.bar && x.written) fputc('\n', c.log);
            /* a 416 for a complete part: the range starts at the end; verify what is there */
            if (fk == FAIL_PERMANENT && x.status == 416 && have > 0) fk = FAIL_NONE;
        }
        buf_fini(&x.mem);
        if (fsync(fd) != 0 && fk == FAIL_NONE) {
            e.code = LM_OK;
            err_set(&e, LM_ERR_IO, "cannot write %s: %s", part.data, strerror(errno));
            fk = FAIL_PERMANENT;
        }
        close(fd);
        fd = -1;
        if (fk == FAIL_NONE) {
            int64_t got = file_size(part.data);
            const char *why = NULL;
            char hex[65] = "";
            if (f->size >= 0 && got != f->size) {
                why = "size";
            } else if (f->sha256[0]) {
                if ((s = file_sha256(part.data, hex, err)) != LM_OK) goto done;
                if (strcmp(hex, f->sha256) != 0) why = "sha256";
            }
            if (!why) {
                if (rename(part.data, final.data) != 0) {
                    s = err_set(err, LM_ERR_IO, "cannot rename %s: %s", part.data, strerror(errno));
                    goto done;
                }
                if (!c.bar) fprintf(c.log, "%s: done\n", f->path);
                goto done;
            }
            /* wrong bytes: never resume from them */
            unlink(part.data);
            err_clear(&e);
            if (why[0] == 's' && why[1] == 'i')
                err_set(&e, LM_ERR_FORMAT, "%s: got %lld bytes, the hub lists %lld", f->path,
                        (long long)got, (long long)f->size);
            else
                err_set(&e, LM_ERR_FORMAT, "%s: sha256 %s does not match the hub's %s", f->path, hex,
                        f->sha256);
            fk = FAIL_TRANSIENT;
            fprintf(c.log, "%s; downloading it again\n", e.msg);
        }
        if (fk == FAIL_STOPPED || fk == FAIL_PERMANENT || attempt >= c.retries) {
            s = err_set(err, e.code ? e.code : LM_ERR_IO, "%s", e.msg);
            goto done;
        }
        if (!(e.code == LM_ERR_FORMAT)) fprintf(c.log, "%s; retrying in %.1f s\n", e.msg, delay / 1000.0);
        sleep_ms(delay);
        delay = delay < 60000 ? delay * 2 : delay;
        if (stopped(&c)) {
            s = err_set(err, LM_ERR_IO, "interrupted; re-run the same command to resume");
            goto done;
        }
    }
done:
    if (fd >= 0) close(fd);
    buf_fini(&final);
    buf_fini(&part);
    buf_fini(&url);
    return s;
}
