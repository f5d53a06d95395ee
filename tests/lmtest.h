/* lmtest.h — helpers shared by the cmocka tests: data paths and small file utilities. */
#ifndef LM_TESTS_LMTEST_H
#define LM_TESTS_LMTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"

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

/* Runs the built lmserve (LM_BIN) with argv (NULL-terminated), feeding `in` (may be NULL) on
 * stdin; appends stdout to *out and, when errout is not NULL, stderr to *errout. Returns the exit
 * code (-1 when killed by a signal). */
static inline int lmtest_run(char *const argv[], const char *in, lm_buf *out, lm_buf *errout) {
    const char *bin = getenv("LM_BIN");
    if (!bin) fail_msg("LM_BIN is not set (run through ctest)");
    char errpath[] = "/tmp/lmtest_stderr_XXXXXX";
    int errfd = mkstemp(errpath);
    int pin[2], pout[2];
    if (errfd < 0 || pipe(pin) != 0 || pipe(pout) != 0) fail_msg("cannot set up pipes");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(errfd, 2);
        close(pin[1]);
        close(pout[0]);
        execv(bin, argv);
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    size_t n = in ? strlen(in) : 0; /* small inputs: they fit the pipe before the child reads */
    if (n && write(pin[1], in, n) != (ssize_t)n) fail_msg("cannot write the child's stdin");
    close(pin[1]);
    char chunk[4096];
    ssize_t r;
    while ((r = read(pout[0], chunk, sizeof chunk)) > 0) buf_append(out, chunk, (size_t)r);
    close(pout[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (errout) {
        lseek(errfd, 0, SEEK_SET);
        while ((r = read(errfd, chunk, sizeof chunk)) > 0) buf_append(errout, chunk, (size_t)r);
    }
    close(errfd);
    unlink(errpath);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#endif
