/* tests/fuzz/fuzz_ir.c — libFuzzer target for the OpenVINO IR reader (src/model/ir.c) and its
 * XML parser (src/model/irxml.c).
 *
 * The input is the XML, then a NUL byte, then the .bin; without a NUL the bytes serve as both
 * (Const offsets index into the text), so the fuzzer reaches weight recovery with real data. When the IR loads, every recovered tensor is walked:
 * known type, positive shape, row bytes as quant.h says, first and last byte readable, found again
 * by name, names in strictly increasing order. A rejected input must carry a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute/quant.h"
#include "model/ir.h"
#include "model/irxml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static volatile unsigned fuzz_sink;

static lm_status count_start(void *ctx, int depth, const char *name, const irxml_attr *a, int n,
                             int64_t at, lm_error *err) {
    FUZZ_CHECK(depth >= 0 && name && name[0] && at >= 0);
    for (int i = 0; i < n; i++) fuzz_sink += (unsigned)strlen(a[i].name) + (unsigned)strlen(a[i].value);
    ++*(int *)ctx;
    return LM_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lm_error err;
    err_clear(&err);
    int n_elems = 0;
    irxml_handler h = {count_start, NULL};
    lm_status s = irxml_parse((const char *)data, size, &h, &n_elems, &err);
    if (s != LM_OK) FUZZ_CHECK(err.code == s && err.msg[0]);

    const uint8_t *nul = memchr(data, 0, size);
    size_t xml_len = nul ? (size_t)(nul - data) : size;
    const uint8_t *bin = nul ? nul + 1 : data;
    size_t bin_len = nul ? size - xml_len - 1 : size;
    ir_model *m = NULL;
    err_clear(&err);
    s = ir_model_parse((const char *)data, xml_len, bin, bin_len, &m, &err);
    if (s != LM_OK) {
        FUZZ_CHECK(m == NULL && err.code == s && err.msg[0]);
        return 0;
    }
    size_t n = ir_model_tensor_count(m);
    for (size_t i = 0; i < n; i++) {
        const ir_tensor *t = ir_model_tensor_at(m, i);
        FUZZ_CHECK(t && t->name && t->name[0]);
        if (i > 0) FUZZ_CHECK(strcmp(ir_model_tensor_at(m, i - 1)->name, t->name) < 0);
        FUZZ_CHECK(ir_model_find(m, t->name) == t);
        FUZZ_CHECK(quant_type_known(t->type));
        FUZZ_CHECK(t->cols > 0 && t->rows > 0);
        if (t->rows > 1 || t->type >= LM_TYPE_FIRST) FUZZ_CHECK(t->row_bytes == quant_row_bytes(t->type, t->cols));
        const unsigned char *p = t->data;
        size_t bytes = t->row_bytes * (size_t)t->rows;
        fuzz_sink += p[0];
        fuzz_sink += p[bytes - 1];
    }
    FUZZ_CHECK(ir_model_tensor_at(m, n) == NULL);
    int nf = 0;
    const float *f = ir_model_inv_freq(m, &nf);
    if (f) fuzz_sink += (unsigned)f[nf - 1];
    ir_model_close(m);
    return 0;
}
