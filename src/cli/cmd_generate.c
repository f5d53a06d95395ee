/* cmd_generate.c — `lmserve generate`: continue a prompt with a model, printing text as it comes.
 *
 * prompt -> tokenizer (BOS added as the vocabulary says) -> forward pass one token at a time ->
 * sampler -> incremental detokenizer -> stdout. Timing goes to stderr so stdout is exactly the
 * continuation's bytes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/limits.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/demo.h"
#include "engine/engine.h"
#include "engine/sampler.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    const char *model, *prompt, *weight_format;
    int64_t max_tokens, seed, top_k, group_size;
    double temperature, top_p;
    bool ignore_eos, show_ids, verbose, help;
} gen_opts;

static const cli_flag gen_flags[] = {
    {.name = "model", .kind = CLI_STRING, .metavar = "PATH", .offset = offsetof(gen_opts, model),
     .help = "GGUF model file (default: the bundled demo model)", .implemented = true},
    {.name = "prompt", .kind = CLI_STRING, .metavar = "TEXT", .required = true,
     .offset = offsetof(gen_opts, prompt), .help = "text to continue", .implemented = true},
    {.name = "max_tokens", .kind = CLI_INT, .min = 1, .max = LM_MAX_NEW_TOKENS, .def = "64",
     .offset = offsetof(gen_opts, max_tokens), .help = "most tokens to generate",
     .implemented = true},
    {.name = "temperature", .kind = CLI_FLOAT, .fmin = 0, .fmax = 100, .def = "0",
     .offset = offsetof(gen_opts, temperature), .help = "0 = greedy (argmax)", .implemented = true},
    {.name = "top_k", .kind = CLI_INT, .min = 0, .max = 1 << 24, .def = "0",
     .offset = offsetof(gen_opts, top_k), .help = "sample from the k most likely (0 = all)",
     .implemented = true},
    {.name = "top_p", .kind = CLI_FLOAT, .fmin = 1e-6, .fmax = 1, .def = "1",
     .offset = offsetof(gen_opts, top_p), .help = "nucleus sampling threshold (1 = off)",
     .implemented = true},
    {.name = "seed", .kind = CLI_INT, .min = 0, .max = INT64_MAX, .def = "0",
     .offset = offsetof(gen_opts, seed), .help = "sampling seed (same seed, same text)",
     .implemented = true},
    {.name = "ignore_eos", .kind = CLI_SWITCH, .offset = offsetof(gen_opts, ignore_eos),
     .help = "keep generating past the end-of-sequence token", .implemented = true},
    {.name = "show_ids", .kind = CLI_SWITCH, .offset = offsetof(gen_opts, show_ids),
     .help = "print prompt and generated token ids to stderr as JSON", .implemented = true},
    {.name = "weight_format", .kind = CLI_STRING, .metavar = "FORMAT",
     .offset = offsetof(gen_opts, weight_format),
     .help = "load weights as fp32, fp16, bf16, int8 or int4 (default: as stored)", .implemented = true},
    {.name = "group_size", .kind = CLI_INT, .min = -1, .max = 128, .def = "128",
     .offset = offsetof(gen_opts, group_size),
     .help = "int4 group size: -1 (channel-wise), 32, 64 or 128", .implemented = true},
    {.name = "verbose", .kind = CLI_SWITCH, .offset = offsetof(gen_opts, verbose),
     .help = "print load time and the memory breakdown to stderr", .implemented = true},
    {.name = "help", .kind = CLI_SWITCH, .offset = offsetof(gen_opts, help),
     .help = "show this help and exit", .implemented = true},
};

static const cli_command gen_cmd = {
    .name = "lmserve generate",
    .usage = "lmserve generate --prompt TEXT [--model PATH] [--max_tokens N] [--temperature T] "
             "[--seed S]",
    .about = "Continues a prompt with a model and prints the generated text (the prompt is not "
             "repeated). Timing goes to stderr.",
    .flags = gen_flags,
    .n_flags = sizeof gen_flags / sizeof gen_flags[0],
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident memory of this process in bytes (VmRSS), 0 when unknown. */
static size_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %zu kB", &kb) == 1) break;
    fclose(f);
    return kb * 1024;
}

static void report_memory(const model *m, const engine_params *ep, double t_load) {
    const model_hparams *hp = &m->hp;
    size_t weights = model_weight_bytes(m);
    size_t kv = 2 * (size_t)hp->n_layer * (size_t)ep->n_ctx * (size_t)hp->n_head_kv *
                (size_t)hp->head_dim * (ep->kv_type == GGML_TYPE_F32 ? 4 : 2);
    size_t rss = rss_bytes();
    fprintf(stderr, "lmserve generate: loaded %s (%d layers, %d embd, vocab %d) in %.2f s\n",
            m->arch.name, hp->n_layer, hp->n_embd, hp->n_vocab, t_load);
    fprintf(stderr, "  weights read per token %8.1f MiB\n", (double)weights / 1048576.0);
    fprintf(stderr, "  KV cache (%5d pos)    %8.1f MiB\n", ep->n_ctx, (double)kv / 1048576.0);
    fprintf(stderr, "  resident (VmRSS)       %8.1f MiB (other: %.1f MiB)\n", (double)rss / 1048576.0,
            ((double)rss - (double)weights - (double)kv) / 1048576.0);
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "%s: [", label);
    for (size_t i = 0; i < n; i++) fprintf(stderr, "%s%d", i ? ", " : "", ids[i]);
    fprintf(stderr, "]\n");
}

static void write_out(lm_buf *piece) {
    if (piece->len) {
        fwrite(piece->data, 1, piece->len, stdout);
        fflush(stdout);
    }
    buf_reset(piece);
}

static int run(const gen_opts *o) {
    char demo[4096];
    const char *path = o->model;
    if (!path) {
        if (cli_demo_model_path(demo, sizeof demo) != 0) {
            fprintf(stderr, "lmserve generate: the bundled demo model was not found; pass --model PATH\n");
            return CLI_EXIT_FAILURE;
        }
        path = demo;
    }

    lm_error err;
    err_clear(&err);
    model *m = NULL;
    tok_tokenizer *tok = NULL;
    engine *eng = NULL;
    int seq = -1;
    sampler smp = {0};
    tok_ids prompt = {0}, out_ids = {0};
    lm_buf piece = {0};
    int rc = CLI_EXIT_FAILURE;
    float *logits = NULL;

    model_load_opts lo = {MODEL_WEIGHTS_AS_STORED, (int)o->group_size};
    if (o->weight_format && model_parse_weight_format(o->weight_format, &lo.format, &err) != LM_OK)
        goto done;
    double t_load = now_s();
    if (model_load(path, &lo, &m, &err) != LM_OK) goto done;
    t_load = now_s() - t_load;
    if (tok_load_path(path, &tok, &err) != LM_OK) goto done;
    if (tok_encode(tok, o->prompt, strlen(o->prompt), 1, &prompt, &err) != LM_OK) goto done;
    if (prompt.n == 0) {
        err_set(&err, LM_ERR_INVALID, "the prompt encodes to no tokens");
        goto done;
    }
    int n_ctx = (int)prompt.n + (int)o->max_tokens;
    if (n_ctx > m->hp.n_ctx_train)
        fprintf(stderr, "lmserve generate: note: %d positions exceed the model's trained context of %d\n",
                n_ctx, m->hp.n_ctx_train);
    engine_params ep = engine_params_default();
    ep.n_ctx = n_ctx;
    if (engine_create(m, &ep, &eng, &err) != LM_OK) goto done;
    if (o->verbose) report_memory(m, &ep, t_load);
    if (engine_seq_open(eng, &seq, &err) != LM_OK) goto done;
    logits = malloc((size_t)m->hp.n_vocab * sizeof *logits);
    if (!logits) {
        err_set(&err, LM_ERR_NOMEM, "out of memory");
        goto done;
    }
    sampler_params sp = sampler_params_default();
    sp.temperature = (float)o->temperature;
    sp.top_k = (int)o->top_k;
    sp.top_p = (float)o->top_p;
    sp.seed = (uint64_t)o->seed;
    if (sampler_init(&smp, &sp, m->hp.n_vocab, &err) != LM_OK) goto done;
    sampler_set_prompt(&smp, prompt.ids, prompt.n);

    double t0 = now_s();
    /* the prompt in chunks of at most one step's batch */
    for (size_t i = 0; i < prompt.n;) {
        int n = (int)(prompt.n - i) < ep.max_batch_tokens ? (int)(prompt.n - i) : ep.max_batch_tokens;
        engine_item it = {.seq = seq, .tokens = prompt.ids + i, .n_tokens = n,
                          .want = i + (size_t)n == prompt.n ? ENGINE_LOGITS_LAST : ENGINE_LOGITS_NONE,
                          .logits = logits};
        if (engine_step(eng, &it, 1, &err) != LM_OK) goto done;
        i += (size_t)n;
    }
    double t1 = now_s();

    tok_stream ts;
    tok_stream_init(&ts, tok, 1);
    int32_t eos = tok_eos_id(tok);
    for (int64_t i = 0; i < o->max_tokens; i++) {
        int32_t id = sampler_sample(&smp, logits);
        sampler_accept(&smp, id);
        tok_ids_push(&out_ids, id);
        if (id == eos && !o->ignore_eos) break;
        tok_stream_push(&ts, id, &piece);
        write_out(&piece);
        engine_item it = {.seq = seq, .tokens = &id, .n_tokens = 1, .want = ENGINE_LOGITS_LAST,
                          .logits = logits};
        if (i + 1 < o->max_tokens && engine_step(eng, &it, 1, &err) != LM_OK) goto done;
    }
    tok_stream_flush(&ts, &piece);
    write_out(&piece);
    double t2 = now_s();

    if (o->show_ids) {
        print_ids("prompt_ids", prompt.ids, prompt.n);
        print_ids("generated_ids", out_ids.ids, out_ids.n);
    }
    fprintf(stderr, "\nlmserve generate: %zu prompt tokens in %.1f ms, %zu generated in %.1f ms (%.1f tokens/s), kernels %s\n",
            prompt.n, (t1 - t0) * 1e3, out_ids.n, (t2 - t1) * 1e3,
            (t2 > t1) ? (double)out_ids.n / (t2 - t1) : 0.0, kern_best()->name);
    rc = CLI_EXIT_OK;

done:
    if (rc != CLI_EXIT_OK) {
        fprintf(stderr, "lmserve generate: %s\n", err.msg[0] ? err.msg : "failed");
        if (err.code == LM_ERR_INVALID) rc = CLI_EXIT_USAGE;
        if (err.code == LM_ERR_UNSUPPORTED) rc = CLI_EXIT_UNSUPPORTED;
    }
    buf_fini(&piece);
    tok_ids_fini(&prompt);
    tok_ids_fini(&out_ids);
    sampler_fini(&smp);
    free(logits);
    engine_destroy(eng);
    tok_destroy(tok);
    model_destroy(m);
    return rc;
}

int cmd_generate(int argc, char **argv) {
    gen_opts o;
    int rc = cli_parse_or_exit(&gen_cmd, argc, argv, &o);
    if (rc != CLI_CONTINUE) return rc;
    return run(&o);
}
