/* mapfile.h — read-only memory mapping of a whole file (model weights are never copied). */
#ifndef LM_BASE_MAPFILE_H
#define LM_BASE_MAPFILE_H

#include <stddef.h>

#include "base/error.h"

typedef struct {
    const unsigned char *data; /* mapped bytes; NULL for an empty file */
    size_t size;               /* file size in bytes */
} lm_mapfile;

/* Maps `path` read-only. On failure returns LM_ERR_IO with the path and errno text in `err`. */
lm_status mapfile_open(lm_mapfile *m, const char *path, lm_error *err);
/* Tells the kernel the whole pages inside [p, p + n) of a read-only file mapping are not needed
 * now: they leave the resident set and are read back from the file on the next access. For after
 * a one-off pass such as a load-time conversion. */
void mapfile_release_range(const void *p, size_t n);

/* Unmaps; accepts a zeroed or already-closed map. */
void mapfile_close(lm_mapfile *m);

#endif
