/* tests/repo/test_hub.c — the hub client against a local fake hub (tests/repo/fake_hub.py on
 * 127.0.0.1; never the internet): listing, download, skip, resume after a dropped connection,
 * servers that ignore ranges, checksum mismatch, 500s, private repositories, unsafe names,
 * symlinks, interruption. */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hub_fixture.h"
#include "lmtest.h"
#include "repo/hub.h"

/* Lists org/tiny and downloads every file into dest. */
static lm_status pull_tiny(const hub_opts *o, lm_error *err, int *n_skipped) {
    hub_listing l;
    LM_TRY(hub_list(o, "org/tiny", &l, err));
    lm_status s = LM_OK;
    if (n_skipped) *n_skipped = 0;
    for (size_t i = 0; s == LM_OK && i < l.n; i++) {
        int sk = 0;
        s = hub_download(o, "org/tiny", &l.files[i], dest, &sk, err);
        if (n_skipped) *n_skipped += sk;
    }
    hub_listing_fini(&l);
    return s;
}

static void check_tiny(void) {
    char a[1024], b[1024];
    const char *files[] = {"config.json", "model.gguf", "sub/tokenizer.json"};
    for (int i = 0; i < 3; i++) {
        setf(a, sizeof a, "%s/%s", dest, files[i]);
        setf(b, sizeof b, "%s/org/tiny/%s", root, files[i]);
        assert_same_file(a, b);
        setf(a, sizeof a, "%s/%s.part", dest, files[i]);
        assert_false(exists(a));
    }
}

/* ---- tests ---- */

static void test_list(void **state) {
    (void)state;
    hub_opts o = opts();
    hub_listing l;
    lm_error err;
    err_clear(&err);
    if (hub_list(&o, "org/tiny", &l, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.commit, "0000000000000000000000000000000000000000");
    assert_string_equal(l.files[0].path, "config.json");
    assert_int_equal(l.files[0].size, 24);
    assert_string_equal(l.files[0].sha256, ""); /* small files have no LFS hash */
    assert_string_equal(l.files[1].path, "model.gguf");
    assert_int_equal(l.files[1].size, MODEL_SIZE);
    assert_int_equal(strlen(l.files[1].sha256), 64);
    assert_string_equal(l.files[2].path, "sub/tokenizer.json");
    assert_int_equal(l.total_bytes, 24 + MODEL_SIZE + 3000);
    hub_listing_fini(&l);
    hub_listing_fini(&l);

    err_clear(&err);
    assert_int_equal(hub_list(&o, "org/nope", &l, &err), LM_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "model org/nope (revision main) not found at http://127.0.0.1:"));
    assert_non_null(strstr(err.msg, "Repository not found"));
    err_clear(&err);
    assert_int_equal(hub_list(&o, "../etc", &l, &err), LM_ERR_INVALID);
    assert_int_equal(hub_list(&o, "a/b/c", &l, &err), LM_ERR_INVALID);
}

static void test_download_and_skip(void **state) {
    (void)state;
    hub_opts o = opts();
    lm_error err;
    err_clear(&err);
    int skipped = -1;
    if (pull_tiny(&o, &err, &skipped) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(skipped, 0);
    check_tiny();
    /* the LFS file went through the redirect */
    assert_int_equal(log_count("/org/tiny/resolve/main/model.gguf 302"), 1);
    assert_int_equal(log_count("/cdn/org/tiny/model.gguf 200"), 1);
    /* a second run downloads nothing */
    unlink(hublog);
    if (pull_tiny(&o, &err, &skipped) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(skipped, 3);
    assert_int_equal(log_count("/resolve/"), 0);
    check_tiny();
}

static void test_resume_after_drop(void **state) {
    (void)state;
    set_faults("{\"faults\": [{\"kind\": \"drop\", \"path\": \"model.gguf\", \"after\": 300000, \"times\": 1}]}");
    hub_opts o = opts();
    lm_error err;
    err_clear(&err);
    if (pull_tiny(&o, &err, NULL) != LM_OK) fail_msg("%s", err.msg);
    check_tiny();
    /* the second request asked for the rest only */
    assert_int_equal(log_count("/cdn/org/tiny/model.gguf 200 range=-"), 1);
    assert_int_equal(log_count("/cdn/org/tiny/model.gguf 206 range=bytes=300000-"), 1);
}

static void test_resume_existing_part(void **state) {
    (void)state;
    /* a part left by an earlier, killed run */
    sh("mkdir -p '%s' && head -c 123456 '%s/org/tiny/model.gguf' > '%s/model.gguf.part'", dest, root, dest);
    hub_opts o = opts();
    lm_error err;
    err_clear(&err);
    if (pull_tiny(&o, &err, NULL) != LM_OK) fail_msg("%s", err.msg);
    check_tiny();
    assert_int_equal(log_count("/cdn/org/tiny/model.gguf 206 range=bytes=123456-"), 1);

    /* a server that ignores the range: the part is started over */
    setf(err.msg, sizeof err.msg, "%s", "");
    char final[700];
    setf(final, sizeof final, "%s/model.gguf", dest);
    unlink(final);
    sh("head -c 5000 '%s/org/tiny/model.gguf' > '%s/model.gguf.part'", root, dest);
    set_faults("{\"faults\": [{\"kind\": \"no_range\", \"path\": \"model.gguf\"}]}");
    if (pull_tiny(&o, &err, NULL) != LM_OK) fail_msg("%s", err.msg);
    check_tiny();

    /* a part longer than the file is discarded */
    unlink(final);
    set_faults("{}");
    sh("cat '%s/org/tiny/model.gguf' '%s/org/tiny/config.json' > '%s/model.gguf.part'", root, root, dest);
    if (pull_tiny(&o, &err, NULL) != LM_OK) fail_msg("%s", err.msg);
    check_tiny();

    /* a complete part is verified and renamed without a request */
    unlink(final);
    unlink(hublog);
    sh("cp '%s/org/tiny/model.gguf' '%s/model.gguf.part'", root, dest);
    if (pull_tiny(&o, &err, NULL) != LM_OK) fail_msg("%s", err.msg);
    check_tiny();
    assert_int_equal(log_count("/cdn/"), 0);
}

static void test_checksum_mismatch(void **state) {
    (void)state;
    set_faults("{\"faults\": [{\"kind\": \"corrupt\", \"path\": \"model.gguf\", \"times\": 1}]}");
    hub_opts o = opts();
    lm_error err;
    err_clear(&err);
    if (pull_tiny(&o, &err, NULL) != LM_OK) fail_msg("%s", err.msg);
    check_tiny();
    assert_int_equal(log_count("/cdn/org/tiny/model.gguf 200"), 2);

    /* always corrupt: give up with the reason, leave nothing behind */
    each_setup(NULL);
    set_faults("{\"faults\": [{\"kind\": \"corrupt\", \"path\": \"model.gguf\"}]}");
    o.retries = 2;
    err_clear(&err);
    assert_int_equal(pull_tiny(&o, &err, NULL), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "model.gguf: sha256 "));
    assert_non_null(strstr(err.msg, "does not match the hub's"));
    char p[700];
    setf(p, sizeof p, "%s/model.gguf", dest);
    assert_false(exists(p));
    setf(p, sizeof p, "%s/model.gguf.part", dest);
    assert_false(exists(p));
    assert_int_equal(log_count("/cdn/org/tiny/model.gguf 200"), 3);
}

static void test_server_errors_retried(void **state) {
    (void)state;
    set_faults("{\"faults\": [{\"kind\": \"status\", \"code\": 500, \"api\": true, \"times\": 2},"
               " {\"kind\": \"status\", \"code\": 503, \"path\": \"tokenizer.json\", \"times\": 1}]}");
    hub_opts o = opts();
    lm_error err;
    err_clear(&err);
    if (pull_tiny(&o, &err, NULL) != LM_OK) fail_msg("%s", err.msg);
    check_tiny();
    assert_int_equal(log_count("/api/models/org/tiny/revision/main?blobs=true 500"), 2);

    each_setup(NULL);
    set_faults("{\"faults\": [{\"kind\": \"status\", \"code\": 500, \"api\": true}]}");
    o.retries = 1;
    err_clear(&err);
    assert_int_equal(pull_tiny(&o, &err, NULL), LM_ERR_IO);
    assert_non_null(strstr(err.msg, "HTTP 500: injected"));
    assert_int_equal(log_count(" 500 "), 2);

    /* a 404 is not retried */
    each_setup(NULL);
    set_faults("{\"faults\": [{\"kind\": \"status\", \"code\": 404, \"path\": \"config.json\"}]}");
    err_clear(&err);
    assert_int_equal(pull_tiny(&o, &err, NULL), LM_ERR_NOT_FOUND);
    assert_int_equal(log_count("config.json 404"), 1);
}

static void test_private_repository(void **state) {
    (void)state;
    hub_opts o = opts();
    hub_listing l;
    lm_error err;
    err_clear(&err);
    assert_int_equal(hub_list(&o, "org/private", &l, &err), LM_ERR_IO);
    assert_non_null(strstr(err.msg, "HTTP 401: Invalid credentials in Authorization header; the "
                                    "repository is private or gated: set HF_TOKEN to a token that may read it"));
    o.token = "wrong";
    err_clear(&err);
    assert_int_equal(hub_list(&o, "org/private", &l, &err), LM_ERR_IO);
    assert_non_null(strstr(err.msg, "check that HF_TOKEN may read it"));
    /* from the environment, as the pull command passes it */
    o.token = NULL;
    setenv("HF_TOKEN", "secret", 1);
    err_clear(&err);
    if (hub_list(&o, "org/private", &l, &err) != LM_OK) fail_msg("%s", err.msg);
    assert_int_equal(l.n, 1);
    int sk;
    if (hub_download(&o, "org/private", &l.files[0], dest, &sk, &err) != LM_OK) fail_msg("%s", err.msg);
    hub_listing_fini(&l);
    unsetenv("HF_TOKEN");
    /* HF_ENDPOINT names the hub when the options do not */
    setenv("HF_ENDPOINT", endpoint, 1);
    o.endpoint = NULL;
    err_clear(&err);
    assert_int_equal(hub_list(&o, "org/tiny", &l, &err), LM_OK);
    hub_listing_fini(&l);
    unsetenv("HF_ENDPOINT");
}

static void test_unsafe_names(void **state) {
    (void)state;
    lm_error err;
    const char *bad[] = {"../evil", "/etc/passwd", "a/../../b", "a//b", "./x", "a/.", "", "a\\b",
                         "x\ny", "sub/.."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear(&err);
        if (hub_check_path(bad[i], &err) != LM_ERR_FORMAT) fail_msg("accepted '%s'", bad[i]);
        assert_non_null(strstr(err.msg, "refused"));
    }
    const char *good[] = {"config.json", "sub/dir/file.bin", "..hidden", "a..b", ".gitattributes"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        err_clear(&err);
        if (hub_check_path(good[i], &err) != LM_OK) fail_msg("refused '%s': %s", good[i], err.msg);
    }
    /* a listing that names one: nothing is downloaded */
    set_faults("{\"extra_siblings\": [{\"rfilename\": \"../../escaped\", \"size\": 3}]}");
    hub_opts o = opts();
    hub_listing l;
    err_clear(&err);
    assert_int_equal(hub_list(&o, "org/tiny", &l, &err), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "'../../escaped' would leave the model folder"));
    assert_null(l.files);
    /* downloading it directly is refused as well */
    hub_file f = {.path = (char *)"../x", .size = 1};
    err_clear(&err);
    assert_int_equal(hub_download(&o, "org/tiny", &f, dest, NULL, &err), LM_ERR_FORMAT);
}

static void test_symlinks_refused(void **state) {
    (void)state;
    sh("mkdir -p '%s' '%s/elsewhere' && ln -s '%s/elsewhere' '%s/sub'", dest, tmp, tmp, dest);
    hub_opts o = opts();
    lm_error err;
    err_clear(&err);
    assert_int_equal(pull_tiny(&o, &err, NULL), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "is a symlink: refusing to download through it"));
    char p[700];
    setf(p, sizeof p, "%s/elsewhere/tokenizer.json", tmp);
    assert_false(exists(p));
    setf(p, sizeof p, "%s/elsewhere/tokenizer.json.part", tmp);
    assert_false(exists(p));

    each_setup(NULL);
    sh("mkdir -p '%s' && ln -s /etc/hostname '%s/config.json'", dest, dest);
    err_clear(&err);
    assert_int_equal(pull_tiny(&o, &err, NULL), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "is not a regular file"));
}

static atomic_int stop_flag;

static void *stop_later(void *arg) {
    (void)arg;
    usleep(400000);
    stop_flag = 1;
    return NULL;
}

static void test_interrupt_then_resume(void **state) {
    (void)state;
    set_faults("{\"faults\": [{\"kind\": \"slow\", \"path\": \"model.gguf\", \"delay\": 0.15}]}");
    hub_opts o = opts();
    stop_flag = 0;
    o.stop = &stop_flag;
    pthread_t t;
    pthread_create(&t, NULL, stop_later, NULL);
    lm_error err;
    err_clear(&err);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    lm_status s = pull_tiny(&o, &err, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    pthread_join(t, NULL);
    assert_int_equal(s, LM_ERR_IO);
    assert_string_equal(err.msg, "interrupted; re-run the same command to resume");
    /* it stopped promptly, leaving the part */
    assert_true((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9 < 3.0);
    char p[700];
    setf(p, sizeof p, "%s/model.gguf.part", dest);
    assert_true(exists(p));
    setf(p, sizeof p, "%s/model.gguf", dest);
    assert_false(exists(p));

    stop_flag = 0;
    set_faults("{}");
    err_clear(&err);
    if (pull_tiny(&o, &err, NULL) != LM_OK) fail_msg("%s", err.msg);
    check_tiny();
    assert_int_equal(log_count("/cdn/org/tiny/model.gguf 206 range=bytes="), 1);
}

static void test_progress_output(void **state) {
    (void)state;
    char out[8192] = "";
    FILE *fp = fmemopen(out, sizeof out - 1, "w");
    hub_opts o = opts();
    o.log = fp;
    o.progress = 1;
    lm_error err;
    err_clear(&err);
    if (pull_tiny(&o, &err, NULL) != LM_OK) fail_msg("%s", err.msg);
    fclose(fp);
    assert_non_null(strstr(out, "model.gguf"));
    assert_non_null(strstr(out, "100% 716.8 KB / 716.8 KB"));

    /* plain lines when not a terminal */
    each_setup(NULL);
    memset(out, 0, sizeof out);
    fp = fmemopen(out, sizeof out - 1, "w");
    o.log = fp;
    o.progress = -1;
    if (pull_tiny(&o, &err, NULL) != LM_OK) fail_msg("%s", err.msg);
    fclose(fp);
    assert_non_null(strstr(out, "model.gguf: downloading\nmodel.gguf: done\n"));
}

/* A listing read without the network: the parser hub_list uses. Sizes that add up past int64
 * were summed with signed overflow (UBSan stopped the sanitizer build); they are refused. */
static void test_parse_listing(void **state) {
    (void)state;
    hub_listing l;
    lm_error err;
    err_clear(&err);
    const char *ok = "{\"sha\": \"abc\", \"siblings\": [{\"rfilename\": \"config.json\", \"size\": 10}, "
                     "{\"rfilename\": \"m.safetensors\", \"lfs\": {\"size\": 20, \"sha256\": "
                     "\"ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\"}}, {\"rfilename\": \"x\"}]}";
    assert_int_equal(hub_parse_listing(ok, strlen(ok), "test", &l, &err), LM_OK);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.commit, "abc");
    assert_int_equal(l.total_bytes, 30);
    assert_int_equal(l.files[2].size, -1);
    assert_string_equal(l.files[1].sha256, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
    hub_listing_fini(&l);
    const char *big = "{\"siblings\": [{\"rfilename\": \"a\", \"size\": 9223372036854775807}, "
                      "{\"rfilename\": \"b\", \"size\": 9223372036854775807}]}";
    err_clear(&err);
    assert_int_equal(hub_parse_listing(big, strlen(big), "test", &l, &err), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "add up"));
    assert_int_equal(l.n, 0);
    assert_null(l.files);
    const char *bad = "{\"siblings\": [{\"rfilename\": \"../x\"}]}";
    err_clear(&err);
    assert_int_equal(hub_parse_listing(bad, strlen(bad), "test", &l, &err), LM_ERR_FORMAT);
    err_clear(&err);
    assert_int_equal(hub_parse_listing("[]", 2, "test", &l, &err), LM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "siblings"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_listing),
        cmocka_unit_test_setup(test_list, each_setup),
        cmocka_unit_test_setup(test_download_and_skip, each_setup),
        cmocka_unit_test_setup(test_resume_after_drop, each_setup),
        cmocka_unit_test_setup(test_resume_existing_part, each_setup),
        cmocka_unit_test_setup(test_checksum_mismatch, each_setup),
        cmocka_unit_test_setup(test_server_errors_retried, each_setup),
        cmocka_unit_test_setup(test_private_repository, each_setup),
        cmocka_unit_test_setup(test_unsafe_names, each_setup),
        cmocka_unit_test_setup(test_symlinks_refused, each_setup),
        cmocka_unit_test_setup(test_interrupt_then_resume, each_setup),
        cmocka_unit_test_setup(test_progress_output, each_setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
