/* tests/fuzz/fuzz_sse.c — libFuzzer target for the server's SSE writer (src/server/
 * oai_response.c: oai_chunk_text, oai_chunk_finish, oai_chunk_usage, oai_sse_append,
 * oai_sse_finish), which puts generated text, any bytes a model may produce, on the wire.
 *
 * Input: one flags byte (bit 0 completions instead of chat, bit 1 usage chunk, bit 2 end with an
 * error, bit 3 end cancelled), then text pieces separated by the two bytes FF FF; piece i goes to
 * choice i % 3. The stream written must read back as SSE a client parses: events "data: <one
 * line>\n\n" only (no CR or LF inside a line, so no piece can end an event early or inject one),
 * each a JSON object except the last, which is "[DONE]"; every choice's text read back equals
 * its pieces joined when each piece is valid UTF-8 (a chunk is written whole: the detokenizer
 * never splits a character; text is valid UTF-8 in any case), and each choice is finished once. */
#include "fuzzutil.h"

#include <jansson.h>

#include "server/oai.h"

typedef struct {
    lm_buf want[3], got[3];
    int finished[3];
    int lossy[3]; /* a piece was not valid UTF-8 on its own: written with U+FFFD */
} streams;

/* Reads the stream back; returns the number of events. */
static size_t read_back(const lm_buf *out, int chat, streams *st) {
    const char *p = out->data ? out->data : "";
    size_t n = out->len, i = 0, events = 0;
    int done = 0;
    while (i < n) {
        FUZZ_CHECK(!done); /* nothing after [DONE] */
        FUZZ_CHECK(n - i > 6 && memcmp(p + i, "data: ", 6) == 0);
        size_t start = i + 6, end = start;
        while (end < n && p[end] != '\n') {
            FUZZ_CHECK(p[end] != '\r');
            end++;
        }
        FUZZ_CHECK(end + 1 < n && p[end + 1] == '\n'); /* "\n\n" ends the event */
        events++;
        if (end - start == 6 && memcmp(p + start, "[DONE]", 6) == 0) {
            done = 1;
        } else {
            json_error_t je;
            json_t *j = json_loadb(p + start, end - start, JSON_ALLOW_NUL, &je);
            FUZZ_CHECK(j && json_is_object(j));
            json_t *choices = json_object_get(j, "choices");
            size_t k;
            json_t *c;
            json_array_foreach(choices, k, c) {
                json_int_t idx = json_integer_value(json_object_get(c, "index"));
                FUZZ_CHECK(idx >= 0 && idx < 3);
                json_t *text = chat ? json_object_get(json_object_get(c, "delta"), "content")
                                    : json_object_get(c, "text");
                if (json_is_string(text))
                    buf_append(&st->got[idx], json_string_value(text), json_string_length(text));
                if (json_is_string(json_object_get(c, "finish_reason"))) {
                    FUZZ_CHECK(!st->finished[idx]);
                    st->finished[idx] = 1;
                }
            }
            json_decref(j);
        }
        i = end + 2;
    }
    FUZZ_CHECK(done);
    return events;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 1 << 16) return 0;
    int flags = data[0];
    int chat = !(flags & 1);
    oai_meta m = {chat ? OAI_CHAT : OAI_COMPLETIONS, chat ? "chatcmpl-fuzz" : "cmpl-fuzz", "fuzz/model",
                  1700000000};
    streams st;
    memset(&st, 0, sizeof st);
    lm_buf out = {0};
    const uint8_t *part[256];
    size_t len[256];
    size_t n = fuzz_split(data + 1, size - 1, "\xff\xff", part, len, 256);
    int first[3] = {1, 1, 1};
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i % 3);
        oai_sse_append(&out, oai_chunk_text(&m, c, (const char *)part[i], len[i], first[c], NULL));
        first[c] = 0;
        buf_append(&st.want[c], part[i], len[i]);
        if (!fuzz_valid_utf8(part[i], len[i])) st.lossy[c] = 1;
    }
    for (int c = 0; c < 3; c++) oai_sse_append(&out, oai_chunk_finish(&m, c, c ? GEN_FINISH_STOP : GEN_FINISH_LENGTH));
    lm_error e;
    err_clear(&e);
    err_set(&e, LM_ERR_INTERNAL, "generation failed \"here\"\n\r\x01");
    oai_usage usage = {12, (size_t)n, 3};
    oai_stream_end end = {(flags & 4) ? &e : NULL, (flags & 8) != 0, (flags & 2) ? &usage : NULL};
    oai_sse_finish(&out, &m, &end);
    FUZZ_CHECK(!out.oom);
    read_back(&out, chat, &st);
    for (int c = 0; c < 3; c++) {
        FUZZ_CHECK(st.finished[c]);
        FUZZ_CHECK(fuzz_valid_utf8((const unsigned char *)buf_cstr(&st.got[c]), st.got[c].len));
        if (!st.lossy[c])
            FUZZ_CHECK(st.got[c].len == st.want[c].len &&
                       memcmp(buf_cstr(&st.got[c]), buf_cstr(&st.want[c]), st.want[c].len) == 0);
        buf_fini(&st.want[c]);
        buf_fini(&st.got[c]);
    }
    buf_fini(&out);
    return 0;
}
