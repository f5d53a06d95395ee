/* cmd_generate.c — `lmserve generate`: continue a prompt with a model, printing text as it comes.
 *
 * The one generation path of the program: a servable (serving.h) with one sequence, the prompt
 * tokenized with BOS as the vocabulary says, submitted to the servable's generation loop
 * (scheduler.c: the same batching, sampler, output chain and end-of-sequence rule as the
 * server), and its output polled to stdout as it comes. Timing goes to stderr so stdout is
 * exactly the continuation's bytes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/limits.h"
#include "base/log.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/demo.h"
#include "compute/kernels.h"
#include "serving/serving.h"

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

static void report_memory(const servable *sv, double t_load) {
    servable_stats st;
    servable_get_stats(sv, &st);
    size_t rss = rss_bytes();
    fprintf(stderr, "lmserve generate: loaded %s (%d layers, %d embd, vocab %d) in %.2f s\n", st.arch,
            st.n_layer, st.n_embd, st.n_vocab, t_load);
    fprintf(stderr, "  weights read per token %8.1f MiB\n", (double)st.weight_bytes / 1048576.0);
    fprintf(stderr, "  KV cache (%5d pos)    %8.1f MiB\n", st.kv_positions, (double)st.kv_bytes / 1048576.0);
    fprintf(stderr, "  resident (VmRSS)       %8.1f MiB (other: %.1f MiB)\n", (double)rss / 1048576.0,
            ((double)rss - (double)st.weight_bytes - (double)st.kv_bytes) / 1048576.0);
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "%s: [", label);
    for (size_t i = 0; i < n; i++) fprintf(stderr, "%s%d", i ? ", " : "", ids[i]);
    fprintf(stderr, "]\n");
}

/* A servable holding one sequence of n_ctx positions. */
static lm_status open_servable(const char *path, const model_load_opts *lo, int n_ctx, servable **out,
                               lm_error *err) {
    servable_config c = {0};
    c.name = "generate";
    c.path = path;
    c.weights = *lo;
    c.max_num_seqs = 1;
    c.n_ctx = n_ctx;
    return servable_create(&c, out, err);
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
    if (!o->verbose) log_set_level(LOG_WARNING); /* the servable's load lines only with --verbose */

    lm_error err;
    err_clear(&err);
    servable *sv = NULL;
    gen_request *req = NULL;
    int32_t *prompt = NULL;
    size_t n_prompt = 0;
    int32_t *out_ids = NULL;
    size_t n_out = 0, cap_out = 0;
    int rc = CLI_EXIT_FAILURE;

    model_load_opts lo = {MODEL_WEIGHTS_AS_STORED, (int)o->group_size};
    if (o->weight_format && model_parse_weight_format(o->weight_format, &lo.format, &err) != LM_OK)
        goto done;
    /* The KV cache is sized for this prompt and max_tokens only: a token holds at least one byte,
     * plus BOS/EOS and a SentencePiece leading space. A prompt that still tokenizes longer (a
     * normalizer that expands text) reopens the servable at the exact size. */
    size_t bound = strlen(o->prompt) + 4;
    double t_load = now_s();
    if (open_servable(path, &lo, (int)(bound + (size_t)o->max_tokens), &sv, &err) != LM_OK) goto done;
    t_load = now_s() - t_load;
    if (servable_tokenize_ids(sv, o->prompt, strlen(o->prompt), 1, &prompt, &n_prompt, &err) != LM_OK) goto done;
    if (n_prompt == 0) {
        err_set(&err, LM_ERR_INVALID, "the prompt encodes to no tokens");
        goto done;
    }
    if (n_prompt > bound) {
        servable_destroy(sv);
        sv = NULL;
        if (open_servable(path, &lo, (int)(n_prompt + (size_t)o->max_tokens), &sv, &err) != LM_OK) goto done;
    }
    servable_stats st;
    servable_get_stats(sv, &st);
    if ((int64_t)n_prompt + o->max_tokens > st.n_ctx_train)
        fprintf(stderr, "lmserve generate: note: %d positions exceed the model's trained context of %d\n",
                (int)(n_prompt + (size_t)o->max_tokens), st.n_ctx_train);
    if (o->verbose) report_memory(sv, t_load);

    gen_params p = gen_params_default();
    p.prompt = prompt;
    p.n_prompt = n_prompt;
    p.sampling.temperature = (float)o->temperature;
    p.sampling.top_k = (int)o->top_k;
    p.sampling.top_p = (float)o->top_p;
    p.sampling.seed = (uint64_t)o->seed;
    p.max_tokens = (int)o->max_tokens;
    p.ignore_eos = o->ignore_eos;
    p.logprobs = o->show_ids; /* the token records carry the generated ids */

    double t0 = now_s(), t1 = 0;
    if (gen_submit(sv, &p, &req, &err) != LM_OK) goto done;
    gen_chunk c = {0};
    size_t generated = 0;
    for (;;) {
        gen_poll(req, &c, -1);
        if (!t1 && (c.text.len || c.n_tokens || c.finish != GEN_FINISH_NONE)) t1 = now_s();
        if (c.text.len) {
            fwrite(c.text.data, 1, c.text.len, stdout);
            fflush(stdout);
        }
        for (size_t i = 0; i < c.n_tokens; i++) {
            if (n_out == cap_out) {
                cap_out = cap_out ? 2 * cap_out : 64;
                int32_t *grown = realloc(out_ids, cap_out * sizeof *grown);
                if (!grown) break;
                out_ids = grown;
            }
            out_ids[n_out++] = c.tokens[i].id;
        }
        gen_finish fin = c.finish;
        if (fin != GEN_FINISH_NONE) {
            generated = c.completion_tokens;
            if (fin == GEN_FINISH_ERROR) err = c.err;
        }
        gen_chunk_fini(&c);
        if (fin == GEN_FINISH_ERROR) goto done;
        if (fin != GEN_FINISH_NONE) break;
    }
    double t2 = now_s();

    if (o->show_ids) {
        print_ids("prompt_ids", prompt, n_prompt);
        print_ids("generated_ids", out_ids, n_out);
    }
    fprintf(stderr, "\nlmserve generate: %zu prompt tokens in %.1f ms (to the first token), %zu generated in %.1f ms (%.1f tokens/s), kernels %s\n",
            n_prompt, (t1 - t0) * 1e3, generated, (t2 - t0) * 1e3,
            (t2 > t0) ? (double)generated / (t2 - t0) : 0.0, kern_best()->name);
    rc = CLI_EXIT_OK;

done:
    if (rc != CLI_EXIT_OK) {
        fprintf(stderr, "lmserve generate: %s\n", err.msg[0] ? err.msg : "failed");
        if (err.code == LM_ERR_INVALID) rc = CLI_EXIT_USAGE;
        if (err.code == LM_ERR_UNSUPPORTED) rc = CLI_EXIT_UNSUPPORTED;
    }
    gen_release(req);
    free(prompt);
    free(out_ids);
    servable_destroy(sv);
    return rc;
}

int cmd_generate(int argc, char **argv) {
    gen_opts o;
    int rc = cli_parse_or_exit(&gen_cmd, argc, argv, &o);
    if (rc != CLI_CONTINUE) return rc;
    return run(&o);
}
