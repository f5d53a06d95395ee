/* file.c — whole-file reads and path helpers. */
#include "base/file.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"

int file_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *file_read_all(const char *path, size_t max, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    lm_buf b = {0};
    char chunk[8192];
    size_t n;
    while (b.len <= max && (n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad || b.oom || b.len > max) {
        buf_fini(&b);
        return NULL;
    }
    if (!b.data) buf_append(&b, "", 0);
    if (len) *len = b.len;
    return b.data;
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
