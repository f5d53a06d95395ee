/* file.c — whole-file reads and path helpers. */
#include "base/file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"

int file_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

lm_status file_read(const char *path, size_t max, char **out, size_t *len, lm_error *err) {
    *out = NULL;
    if (len) *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        int e = errno;
        err_set(err, LM_ERR_IO, "cannot open %s: %s", path, strerror(e));
        errno = e;
        return LM_ERR_IO;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        return err_set(err, LM_ERR_IO, "cannot read %s: it is a folder", path);
    }
    lm_buf b = {0};
    char chunk[8192];
    size_t got;
    /* at most one chunk past the limit: the size is known without trusting st_size */
    while (b.len <= max && (got = fread(chunk, 1, sizeof chunk, fp)) > 0) buf_append(&b, chunk, got);
    int rerr = ferror(fp);
    fclose(fp);
    lm_status s = LM_OK;
    if (rerr) s = err_set(err, LM_ERR_IO, "cannot read %s", path);
    else if (b.oom) s = err_set(err, LM_ERR_NOMEM, "out of memory reading %s", path);
    else if (b.len > max) s = err_set(err, LM_ERR_LIMIT, "%s is larger than the %zu bytes allowed", path, max);
    if (s == LM_OK && !b.data) buf_append(&b, "", 0);
    if (s == LM_OK && b.oom) s = err_set(err, LM_ERR_NOMEM, "out of memory reading %s", path);
    if (s != LM_OK) {
        buf_fini(&b);
        return s;
    }
    *out = b.data;
    if (len) *len = b.len;
    return LM_OK;
}

char *file_read_all(const char *path, size_t max, size_t *len) {
    char *out = NULL;
    return file_read(path, max, &out, len, NULL) == LM_OK ? out : NULL;
}

void file_model_dir(const char *path, char *out, size_t size) {
    if (file_is_dir(path)) {
        snprintf(out, size, "%s", path);
        return;
    }
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(out, size, ".");
    else if (slash == path) snprintf(out, size, "/");
    else snprintf(out, size, "%.*s", (int)(slash - path), path);
}
