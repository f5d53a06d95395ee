/* tests/fuzz/fuzz_template.c — libFuzzer target for the chat-template engine (src/template).
 *
 * Input: template source, optionally followed by a NUL byte and a JSON context object; without
 * one, a fixed chat context (messages with tool calls, tools, special tokens) is used. The
 * template is compiled and, when it compiles, rendered under small limits so that each input
 * runs fast. Checks the engine's promises: a failure carries a status and a message, syntax
 * errors carry a position, a success produces valid UTF-8 and leaves the buffer's earlier
 * contents alone. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static const char default_ctx[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": \"Hi <b>&\\n\\u00e9\\ud83d\\ude00 {{ x }}\"},"
    " {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"a1b2c3d4e\", \"type\": \"function\","
    "  \"function\": {\"name\": \"get\", \"arguments\": {\"city\": \"Paris\", \"n\": 2.5}}}]},"
    " {\"role\": \"tool\", \"content\": \"22\", \"tool_call_id\": \"a1b2c3d4e\"},"
    " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"part\"}]}],"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get\", \"description\": \"d\","
    "  \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}}}}],"
    " \"documents\": null, \"add_generation_prompt\": true, \"bos_token\": \"<s>\","
    " \"eos_token\": \"</s>\", \"enable_thinking\": false}";

static int valid_utf8(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (!len || i + len > n) return 0;
        uint32_t cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if (((unsigned char)s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *src = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t src_len = nul ? (size_t)(nul - data) : size;
    json_t *ctx;
    json_error_t jerr;
    if (nul) ctx = json_loadb((const char *)nul + 1, size - src_len - 1, JSON_DECODE_ANY, &jerr);
    else ctx = json_loads(default_ctx, 0, &jerr);
    FUZZ_CHECK(nul || ctx);
    if (ctx && !json_is_object(ctx)) {
        json_decref(ctx);
        ctx = NULL;
    }

    tpl_template *t = NULL;
    lm_error err;
    err_clear(&err);
    lm_status st = tpl_compile(src, src_len, &t, &err);
    if (st != LM_OK) {
        FUZZ_CHECK(t == NULL);
        FUZZ_CHECK(err.code == st && err.msg[0]);
        if (st == LM_ERR_FORMAT) FUZZ_CHECK(err.line >= 1 && err.col >= 1);
        json_decref(ctx);
        return 0;
    }
    tpl_options opt;
    tpl_options_init(&opt);
    opt.max_output = 1 << 16;
    opt.max_memory = 32u << 20;
    opt.max_steps = 20000;
    opt.max_time_ms = 500;
    static const struct tm fixed = {.tm_year = 126, .tm_mon = 0, .tm_mday = 15, .tm_hour = 12};
    opt.now = &fixed;
    lm_buf out = {0};
    buf_append_str(&out, "pre");
    err_clear(&err);
    st = tpl_render(t, ctx, &opt, &out, &err);
    FUZZ_CHECK(out.len >= 3 && memcmp(out.data, "pre", 3) == 0);
    if (st == LM_OK) {
        FUZZ_CHECK(out.len - 3 <= opt.max_output);
        FUZZ_CHECK(valid_utf8(out.data + 3, out.len - 3));
    } else {
        FUZZ_CHECK(out.len == 3);
        FUZZ_CHECK(err.code == st && err.msg[0]);
    }
    (void)tpl_mentions(t, "tools");
    buf_fini(&out);
    tpl_destroy(t);
    json_decref(ctx);
    return 0;
}
