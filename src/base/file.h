/* file.h — small whole-file helpers for configuration and text files (weights use mapfile.h). */
#ifndef LM_BASE_FILE_H
#define LM_BASE_FILE_H

#include <stddef.h>

#include "base/error.h"

/* 1 when `path` names a directory (following links), else 0. */
int file_is_dir(const char *path);

/* Reads the whole file into a NUL-terminated malloc'd buffer *out (its length in *len when len is
 * not NULL), saying why when it cannot: LM_ERR_IO "cannot open <path>: <reason>" (errno is left
 * as open() set it: ENOENT for a missing file), "cannot read <path>: it is a folder", "cannot
 * read <path>"; LM_ERR_LIMIT "<path> is larger than the <max> bytes allowed"; LM_ERR_NOMEM. */
lm_status file_read(const char *path, size_t max, char **out, size_t *len, lm_error *err);

/* file_read() for callers to whom any failure means "no file": NULL then. */
char *file_read_all(const char *path, size_t max, size_t *len);

/* Writes the folder that holds a model's side files into out: `path` itself when it is a
 * directory, else the folder of the file it names ("." for a bare file name). */
void file_model_dir(const char *path, char *out, size_t size);

#endif
