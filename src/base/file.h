/* file.h — small whole-file helpers for configuration and text files (weights use mapfile.h). */
#ifndef LM_BASE_FILE_H
#define LM_BASE_FILE_H

#include <stddef.h>

/* 1 when `path` names a directory (following links), else 0. */
int file_is_dir(const char *path);

/* Reads the whole file into a NUL-terminated malloc'd buffer (its length in *len when len is not
 * NULL). NULL when the file is absent, unreadable, or larger than `max` bytes. */
char *file_read_all(const char *path, size_t max, size_t *len);

/* Writes the folder that holds a model's side files into out: `path` itself when it is a
 * directory, else the folder of the file it names ("." for a bare file name). */
void file_model_dir(const char *path, char *out, size_t size);

#endif
