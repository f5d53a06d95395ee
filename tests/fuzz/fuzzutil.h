/* tests/fuzz/fuzzutil.h — helpers shared by the fuzz targets whose parser reads files from a
 * folder (tokenizer.json, config.json, graph.pbtxt, a safetensors index): the check macro, and one
 * scratch folder per process (under /dev/shm when it exists, so writing the input each run costs
 * no disk I/O) that is emptied before each input and removed at exit. */
#ifndef LM_TESTS_FUZZ_FUZZUTIL_H
#define LM_TESTS_FUZZ_FUZZUTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise aborts, so libFuzzer records the input as a crash. */
#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static char fuzz_dir_path[256];

/* Removes every plain file of the scratch folder (targets create no subfolders). */
static inline void fuzz_dir_clear(void) {
    DIR *d = opendir(fuzz_dir_path);
    if (!d) return;
    struct dirent *e;
    char p[600];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
        snprintf(p, sizeof p, "%s/%s", fuzz_dir_path, e->d_name);
        unlink(p);
    }
    closedir(d);
}

static inline void fuzz_dir_remove(void) {
    fuzz_dir_clear();
    rmdir(fuzz_dir_path);
}

/* The scratch folder, created on first use and emptied on every call. */
static inline const char *fuzz_dir(void) {
    if (!fuzz_dir_path[0]) {
        struct stat st;
        const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/lmfuzz-XXXXXX", base);
        if (!mkdtemp(fuzz_dir_path)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_dir_remove);
    }
    fuzz_dir_clear();
    return fuzz_dir_path;
}

/* Writes data[0..size) as fuzz_dir()/name; returns the path (static storage). */
static inline const char *fuzz_write(const char *name, const void *data, size_t size) {
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir_path, name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("fuzz: write");
        abort();
    }
    return path;
}

/* Splits an input into parts at each occurrence of `sep` (a line no real file holds), so one
 * input can supply several files. Returns how many parts were found (at most max). */
static inline size_t fuzz_split(const uint8_t *data, size_t size, const char *sep, const uint8_t **part,
                                size_t *len, size_t max) {
    size_t n = 0, sl = strlen(sep), start = 0;
    for (size_t i = 0; n + 1 < max && i + sl <= size; i++) {
        if (memcmp(data + i, sep, sl) != 0) continue;
        part[n] = data + start;
        len[n++] = i - start;
        start = i + sl;
        i = start - 1;
    }
    part[n] = data + start;
    len[n++] = size - start;
    return n;
}

/* 1 when s[0..n) is valid UTF-8 (no surrogates, no overlongs). */
static inline int fuzz_valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n) return 0;
        uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

#endif
