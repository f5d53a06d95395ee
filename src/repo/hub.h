/* hub.h — a Hugging Face hub client (libcurl): list a model repository's files at a revision,
 * download them with resume and verification.
 *
 * Endpoints used (the public hub's, and any server that speaks them, as HF_ENDPOINT names):
 *   GET <endpoint>/api/models/<id>/revision/<rev>?blobs=true
 *       -> {"sha": commit, "siblings": [{"rfilename", "size", "lfs": {"sha256", "size"}}]}
 *   GET <endpoint>/<id>/resolve/<rev>/<file>   (redirects followed; Range honoured)
 *
 * Downloads go to "<dir>/<file>.part" and are renamed to "<dir>/<file>" only once complete and
 * verified: the size of every file the listing gives a size for, and the sha256 of every file it
 * gives one for (large "LFS" files). So a file under its final name is always complete, and a
 * later run skips it; a ".part" file is resumed with an HTTP Range request (restarted when the
 * server ignores the range). A checksum mismatch deletes the part and downloads again.
 * Transient failures (connection errors, timeouts, HTTP 408, 429 and 5xx) are retried with
 * exponential backoff. HF_TOKEN is sent as "Authorization: Bearer ..." to the hub (libcurl does
 * not forward it to a redirect's other host); proxies come from the usual environment variables
 * (https_proxy, no_proxy, ...), as libcurl reads them.
 *
 * File names from the listing are untrusted: absolute paths, "..", empty or "." components,
 * backslashes and control characters are refused, and no folder on the way may be a symlink.
 *
 * Functions here block; they are meant for the pull command and its background thread. They
 * are safe to call from several threads at once (libcurl is initialised once, thread-safely). */
#ifndef LM_REPO_HUB_H
#define LM_REPO_HUB_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

typedef struct {
    const char *endpoint;        /* NULL: $HF_ENDPOINT, else "https://huggingface.co" */
    const char *token;           /* NULL: $HF_TOKEN (empty means none) */
    const char *revision;        /* NULL: "main" */
    int retries;                 /* further attempts after a transient failure; -1: 5 */
    int backoff_ms;              /* delay before the first retry, doubled each time; 0: 1000 */
    long low_speed_s;            /* abort a transfer that moves < 1 byte/s for this long; 0: 60 */
    FILE *log;                   /* progress and notes; NULL: stderr */
    int progress;                /* 1: a progress bar; 0: one line per file; -1: bar when log is
                                  * a terminal */
    atomic_int *stop;            /* when it becomes non-zero, transfers stop (Ctrl+C, or another
                                  * thread: an atomic, which a signal handler may set too); NULL:
                                  * none */
} hub_opts;

typedef struct {
    char *path;                  /* file name in the repository ("onnx/model.bin") */
    int64_t size;                /* bytes; -1 when the listing gives none */
    char sha256[65];             /* lowercase hex; "" when the listing gives none */
} hub_file;

typedef struct {
    char *commit;                /* the revision's commit id; NULL when not given */
    hub_file *files;
    size_t n;
    int64_t total_bytes;         /* sum of the known sizes */
} hub_listing;

/* Lists <model_id>'s files. model_id is "org/name" (letters, digits, "-", "_", "."). Errors:
 * LM_ERR_INVALID for a malformed id; LM_ERR_NOT_FOUND (404: no such repository or revision);
 * LM_ERR_IO for 401/403 ("... set HF_TOKEN ...") and network failures after the retries;
 * LM_ERR_FORMAT for a listing that is not what the hub sends or names an unsafe file. */
lm_status hub_list(const hub_opts *o, const char *model_id, hub_listing *out, lm_error *err);
void hub_listing_fini(hub_listing *l);

/* Reads a listing's JSON (what hub_list fetched; `where`, the URL, prefixes messages). Errors:
 * LM_ERR_FORMAT for JSON that is not a listing, a sibling without rfilename, an unsafe file name
 * or sizes that overflow; LM_ERR_NOMEM. On failure *out is empty. */
lm_status hub_parse_listing(const char *json, size_t len, const char *where, hub_listing *out,
                            lm_error *err);

/* Downloads one listed file into dir (created, with the file's sub-folders). Returns LM_OK when
 * the file is in place and verified, also when it already was (*skipped set to 1; may be NULL).
 * On interruption (o->stop) returns LM_ERR_IO with "interrupted; re-run the same command to
 * resume" and leaves the .part file. */
lm_status hub_download(const hub_opts *o, const char *model_id, const hub_file *f, const char *dir,
                       int *skipped, lm_error *err);

/* Checks a repository file name (see above); LM_ERR_FORMAT naming it when unsafe. */
lm_status hub_check_path(const char *path, lm_error *err);

/* Checks a model id ("org/name"); LM_ERR_INVALID when malformed. */
lm_status hub_check_model_id(const char *model_id, lm_error *err);

#endif
