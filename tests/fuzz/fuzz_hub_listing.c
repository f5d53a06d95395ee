/* tests/fuzz/fuzz_hub_listing.c — libFuzzer target for the hub's model listing JSON
 * (src/repo/hub.c, hub_parse_listing: what `lmserve pull` reads from a hub or an HF_ENDPOINT
 * before it writes any file).
 *
 * A refusal must carry a message and leave the listing empty. An accepted listing promises: every
 * path passes hub_check_path (no absolute path, "..", empty component, backslash or control
 * character reaches the download code), sizes are -1 or >= 0 and add up to total_bytes without
 * overflow, and a sha256 is empty or 64 lowercase hex digits. */
#include "fuzzutil.h"

#include "repo/hub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 20) return 0;
    hub_listing l;
    lm_error err;
    err_clear(&err);
    if (hub_parse_listing((const char *)data, size, "fuzz", &l, &err) != LM_OK) {
        FUZZ_CHECK(err.msg[0] && l.n == 0 && l.files == NULL && l.commit == NULL);
        return 0;
    }
    int64_t total = 0;
    for (size_t i = 0; i < l.n; i++) {
        const hub_file *f = &l.files[i];
        lm_error e;
        err_clear(&e);
        FUZZ_CHECK(f->path && hub_check_path(f->path, &e) == LM_OK);
        FUZZ_CHECK(f->size >= -1);
        if (f->size > 0) {
            FUZZ_CHECK(f->size <= INT64_MAX - total);
            total += f->size;
        }
        size_t n = strlen(f->sha256);
        FUZZ_CHECK(n == 0 || (n == 64 && strspn(f->sha256, "0123456789abcdef") == 64));
    }
    FUZZ_CHECK(total == l.total_bytes);
    hub_listing_fini(&l);
    return 0;
}
