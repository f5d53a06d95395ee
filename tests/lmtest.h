/* lmtest.h — helpers shared by the cmocka tests: data paths and small file utilities. */
#ifndef LM_TESTS_LMTEST_H
#define LM_TESTS_LMTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

/* Path of a file under tests/data (LM_TEST_DATA, or the source tree's tests/data). */
static inline const char *lmtest_data(const char *rel) {
    static char buf[4096];
    const char *dir = getenv("LM_TEST_DATA");
    if (dir && *dir)
        snprintf(buf, sizeof buf, "%s/%s", dir, rel);
    else
        snprintf(buf, sizeof buf, "%s/tests/data/%s", LM_SOURCE_DIR, rel);
    return buf;
}

/* Path of the bundled demo model. */
static inline const char *lmtest_demo_model(void) {
    return LM_SOURCE_DIR "/models/demo/stories260K.gguf";
}

#endif
