/* cmd_logits.c — `lmserve logits`: evaluate a token sequence and print, for every position, the
 * top-K token ids with their logits as JSON. This is how anyone checks the engine against another
 * engine (llama.cpp, transformers) on the same ids. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/demo.h"
#include "engine/engine.h"
#include "engine/sampler.h"
#include "model/model.h"

typedef struct {
    const char *model, *ids, *weight_format;
    int64_t top, group_size;
    bool help;
} logits_opts;

static const cli_flag logits_flags[] = {
    {.name = "model", .kind = CLI_STRING, .metavar = "PATH", .offset = offsetof(logits_opts, model),
     .help = "GGUF file or Hugging Face folder (default: the bundled demo model)", .implemented = true},
    {.name = "ids", .kind = CLI_STRING, .metavar = "\"1 2 3\"", .required = true,
     .offset = offsetof(logits_opts, ids), .help = "token ids, separated by spaces or commas",
     .implemented = true},
    {.name = "top", .kind = CLI_INT, .min = 1, .max = 1 << 20, .def = "5",
     .offset = offsetof(logits_opts, top), .help = "ids per position, highest logit first",
     .implemented = true},
    {.name = "weight_format", .kind = CLI_STRING, .metavar = "FORMAT",
     .offset = offsetof(logits_opts, weight_format),
     .help = "load weights as fp32, fp16, bf16, int8 or int4 (default: as stored)", .implemented = true},
    {.name = "group_size", .kind = CLI_INT, .min = -1, .max = 128, .def = "128",
     .offset = offsetof(logits_opts, group_size),
     .help = "int4 group size: -1 (channel-wise), 32, 64 or 128", .implemented = true},
    {.name = "help", .kind = CLI_SWITCH, .offset = offsetof(logits_opts, help),
     .help = "show this help and exit", .implemented = true},
};

static const cli_command logits_cmd = {
    .name = "lmserve logits",
    .usage = "lmserve logits --ids \"1 2 3\" [--model PATH] [--top K] [--weight_format F]",
    .about = "Evaluates the ids in one batch (F32 KV cache) and prints, for every position, the "
             "top-K next-token ids and their logits as JSON: "
             "{\"positions\":[{\"pos\":0,\"top_ids\":[...],\"top_logits\":[...]},...]}.",
    .flags = logits_flags,
    .n_flags = sizeof logits_flags / sizeof logits_flags[0],
};

/* Parses "1 2, 3" into a malloc'd array; returns the count or -1 on a bad number. */
static int parse_ids(const char *s, int32_t **out) {
    size_t cap = 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return -1;
    while (*s) {
        if (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n') {
            s++;
            continue;
        }
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX) {
            free(ids);
            return -1;
        }
        if (n == cap) {
            int32_t *grown = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!grown) {
                free(ids);
                return -1;
            }
            ids = grown;
        }
        ids[n++] = (int32_t)v;
        s = end;
    }
    *out = ids;
    return (int)n;
}

int cmd_logits(int argc, char **argv) {
    logits_opts o;
    int rc = cli_parse_or_exit(&logits_cmd, argc, argv, &o);
    if (rc != CLI_CONTINUE) return rc;
    int32_t *ids = NULL;
    int n = parse_ids(o.ids, &ids);
    if (n <= 0) {
        fprintf(stderr, "lmserve logits: --ids: '%s' is not a list of token ids\n", o.ids);
        free(ids);
        return CLI_EXIT_USAGE;
    }
    char demo[4096];
    const char *path = o.model;
    if (!path && cli_demo_model_path(demo, sizeof demo) == 0) path = demo;
    lm_error err;
    err_clear(&err);
    model *m = NULL;
    engine *e = NULL;
    float *logits = NULL;
    sampler_logprob *top = NULL;
    rc = CLI_EXIT_FAILURE;
    if (!path) {
        err_set(&err, LM_ERR_NOT_FOUND, "the bundled demo model was not found; pass --model PATH");
        goto done;
    }
    model_load_opts lo = {MODEL_WEIGHTS_AS_STORED, (int)o.group_size};
    if (o.weight_format && model_parse_weight_format(o.weight_format, &lo.format, &err) != LM_OK) goto done;
    if (model_load(path, &lo, &m, &err) != LM_OK) goto done;
    engine_params p = engine_params_default();
    p.kv_type = GGML_TYPE_F32;
    p.n_ctx = n;
    p.max_batch_tokens = n;
    if (engine_create(m, &p, &e, &err) != LM_OK) goto done;
    int seq, V = m->hp.n_vocab, k = o.top < V ? (int)o.top : V;
    if (engine_seq_open(e, &seq, &err) != LM_OK) goto done;
    logits = malloc((size_t)n * (size_t)V * sizeof *logits);
    top = malloc((size_t)k * sizeof *top);
    if (!logits || !top) {
        err_set(&err, LM_ERR_NOMEM, "out of memory for %d x %d logits", n, V);
        goto done;
    }
    engine_item it = {seq, ids, n, ENGINE_LOGITS_ALL, logits};
    if (engine_step(e, &it, 1, &err) != LM_OK) goto done;
    printf("{\"n_vocab\":%d,\"positions\":[", V);
    for (int pos = 0; pos < n; pos++) {
        const float *row = logits + (size_t)pos * V;
        sampler_logprobs(row, V, -1, k, top);
        printf("%s\n{\"pos\":%d,\"token\":%d,\"top_ids\":[", pos ? "," : "", pos, ids[pos]);
        for (int j = 0; j < k; j++) printf("%s%d", j ? "," : "", top[j].id);
        printf("],\"top_logits\":[");
        for (int j = 0; j < k; j++) printf("%s%.9g", j ? "," : "", (double)row[top[j].id]);
        printf("]}");
    }
    printf("\n]}\n");
    rc = CLI_EXIT_OK;
done:
    if (rc != CLI_EXIT_OK) {
        fprintf(stderr, "lmserve logits: %s\n", err.msg);
        if (err.code == LM_ERR_INVALID) rc = CLI_EXIT_USAGE;
        if (err.code == LM_ERR_UNSUPPORTED) rc = CLI_EXIT_UNSUPPORTED;
    }
    free(top);
    free(logits);
    free(ids);
    engine_destroy(e);
    model_destroy(m);
    return rc;
}
