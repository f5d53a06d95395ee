/* template.c — chat template render speed: the Qwen3 template with a 50-message conversation
 * with tools (user, assistant with a tool call, tool result, ...), compiled once, rendered many
 * times. Prints a markdown table of compile and render time (median of repeats).
 *
 *   ./build/release/bench/bench_template [tests/data/templates/Qwen-Qwen3-8B.jinja]          */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/file.h"
#include "template/template.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static json_t *conversation(int n) {
    json_t *msgs = json_array();
    json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content",
                                          "You are a helpful assistant with tools."));
    for (int i = 1; i < n; i++) {
        char text[160];
        switch (i % 4) {
        case 1:
            snprintf(text, sizeof text, "Question %d: what is the weather in city %d today?", i, i);
            json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", text));
            break;
        case 2:
            snprintf(text, sizeof text, "{\"city\": \"city %d\"}", i);
            json_array_append_new(msgs, json_pack("{s:s,s:s,s:[{s:s,s:{s:s,s:s}}]}", "role", "assistant",
                                                  "content", "", "tool_calls", "type", "function",
                                                  "function", "name", "get_weather", "arguments", text));
            break;
        case 3:
            json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "tool", "content",
                                                  "{\"temperature\": 21, \"sky\": \"clear\"}"));
            break;
        default:
            snprintf(text, sizeof text, "<think>\nThe tool said 21 degrees.\n</think>\n\nIt is 21 degrees and clear in city %d.", i);
            json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "assistant", "content", text));
        }
    }
    return msgs;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : LM_SOURCE_DIR "/tests/data/templates/Qwen-Qwen3-8B.jinja";
    printf("command: %s %s\n\n", argv[0], path);
    size_t len;
    char *src = file_read_all(path, 1 << 20, &len);
    if (!src) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    enum { REPEATS = 2000 };
    static double t[REPEATS];
    lm_error err;
    err_clear(&err);
    tpl_template *tpl = NULL;
    for (int r = 0; r < 200; r++) {
        double t0 = now_s();
        tpl_template *x = NULL;
        if (tpl_compile(src, len, &x, &err) != LM_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        t[r] = now_s() - t0;
        if (r == 0) tpl = x;
        else tpl_destroy(x);
    }
    qsort(t, 200, sizeof t[0], cmp_double);
    double compile = t[100];

    json_t *ctx = json_object();
    json_object_set_new(ctx, "messages", conversation(50));
    json_object_set_new(ctx, "tools", json_pack("[{s:s,s:{s:s,s:s,s:{s:s,s:{s:{s:s}},s:[s]}}}]",
                                                "type", "function", "function", "name", "get_weather",
                                                "description", "Weather of a city", "parameters",
                                                "type", "object", "properties", "city", "type", "string",
                                                "required", "city"));
    json_object_set_new(ctx, "add_generation_prompt", json_true());
    size_t out_len = 0;
    for (int r = 0; r < REPEATS; r++) {
        lm_buf out = {0};
        double t0 = now_s();
        if (tpl_render(tpl, ctx, NULL, &out, &err) != LM_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        t[r] = now_s() - t0;
        out_len = out.len;
        buf_fini(&out);
    }
    qsort(t, REPEATS, sizeof t[0], cmp_double);
    printf("| template | messages | output bytes | compile (median) | render (median) | render (p99) |\n");
    printf("|---|---|---|---|---|---|\n");
    printf("| %s | 50 + tools | %zu | %.3f ms | %.3f ms | %.3f ms |\n", strrchr(path, '/') ? strrchr(path, '/') + 1 : path,
           out_len, compile * 1e3, t[REPEATS / 2] * 1e3, t[REPEATS * 99 / 100] * 1e3);
    json_decref(ctx);
    tpl_destroy(tpl);
    free(src);
    return 0;
}
