/* export.c — `lmserve export`: options (weight format, optimum-style quantization parameters,
 * target device), then load + convert through model_load(), write the converted weights to
 * model.gguf with gguf_write, copy the tokenizer files, load the result back as a check, and
 * rename the folder into place. The layout written is in docs/export.md. */
#include "repo/export.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compute/quant.h"
#include "model/gguf_write.h"

#define EXPORT_FORMAT_VERSION 1u  /* lmserve.format_version: bump when the layout changes */
#define DEFAULT_REPOSITORY "models"
#define DEFAULT_FORMAT "int8"     /* export_model.py's default */
#define DEFAULT_GROUP 128         /* optimum's int4 default */
#define PATH_MAX_LEN 4096

/* Files a Hugging Face folder keeps beside the weights that serving reads (the tokenizer, its
 * special tokens, the chat template, the generation defaults). */
static const char *const g_side_files[] = {
    "tokenizer.json", "tokenizer.json.gz", "tokenizer_config.json", "special_tokens_map.json",
    "generation_config.json", "chat_template.jinja",
};

static void say(FILE *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(FILE *log, const char *fmt, ...) {
    if (!log) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(log, fmt, ap);
    va_end(ap);
    fputc('\n', log);
    fflush(log);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const char *human(uint64_t n, char *buf, size_t size) {
    if (n >= (1ull << 30)) snprintf(buf, size, "%.2f GiB", (double)n / (double)(1ull << 30));
    else if (n >= (1ull << 20)) snprintf(buf, size, "%.2f MiB", (double)n / (double)(1ull << 20));
    else if (n >= 1024) snprintf(buf, size, "%.1f KiB", (double)n / 1024.0);
    else snprintf(buf, size, "%llu B", (unsigned long long)n);
    return buf;
}

/* ---- options ------------------------------------------------------------------------------- */

/* optimum-cli options lmserve does not do, and why */
static const struct { const char *flag, *why; } g_unsupported[] = {
    {"--awq", "data-aware quantization (AWQ) needs a calibration run"},
    {"--scale-estimation", "data-aware scale estimation needs a calibration run"},
    {"--gptq", "GPTQ needs a calibration run"},
    {"--lora-correction", "LoRA correction needs a calibration run"},
    {"--dataset", "lmserve quantizes without calibration data"},
    {"--num-samples", "lmserve quantizes without calibration data"},
    {"--sensitivity-metric", "mixed precision by sensitivity is not available"},
    {"--backup-precision", "mixed precision is not available"},
    {"--all-layers", "the token embedding stays as stored (one row is read per token)"},
    {"--quant-mode", "activation quantization is not available"},
};

/* Splits "--name=value" or takes the next word as the value. */
static lm_status take_value(const char *word, size_t wl, const char *eq, const char **p,
                            char *out, size_t size, lm_error *err) {
    const char *v;
    size_t vl;
    if (eq) {
        v = eq + 1;
        vl = wl - (size_t)(v - word);
    } else {
        while (**p == ' ' || **p == '\t' || **p == '\n') (*p)++;
        v = *p;
        vl = strcspn(v, " \t\n");
        *p += vl;
    }
    if (vl == 0 || vl >= size)
        return err_set(err, LM_ERR_INVALID, "--extra_quantization_params: %.*s needs a value",
                       (int)(eq ? (size_t)(eq - word) : wl), word);
    memcpy(out, v, vl);
    out[vl] = '\0';
    return LM_OK;
}

lm_status repo_export_parse_quant(const char *text, repo_export_quant *out, lm_error *err) {
    memset(out, 0, sizeof *out);
    out->ratio = 1.0;
    const char *p = text ? text : "";
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        if (!*p) return LM_OK;
        const char *word = p;
        size_t wl = strcspn(p, " \t\n");
        p += wl;
        const char *eq = memchr(word, '=', wl);
        size_t nl = eq ? (size_t)(eq - word) : wl;
        char value[64];
        char *end;
#define IS(s) (nl == strlen(s) && memcmp(word, s, nl) == 0)
        if (IS("--sym")) {
            if (eq) return err_set(err, LM_ERR_INVALID, "--extra_quantization_params: --sym takes no value");
            out->sym = out->has_sym = 1;
        } else if (IS("--ratio")) {
            LM_TRY(take_value(word, wl, eq, &p, value, sizeof value, err));
            out->ratio = strtod(value, &end);
            if (*end || end == value)
                return err_set(err, LM_ERR_INVALID, "--extra_quantization_params: --ratio '%s' is not "
                               "a number", value);
            out->has_ratio = 1;
        } else if (IS("--group-size") || IS("--group_size")) {
            LM_TRY(take_value(word, wl, eq, &p, value, sizeof value, err));
            long g = strtol(value, &end, 10);
            if (*end || end == value || g < -1 || g > 1 << 20)
                return err_set(err, LM_ERR_INVALID, "--extra_quantization_params: --group-size '%s' "
                               "is not -1 or a positive integer", value);
            out->group_size = (int)g;
            out->has_group = 1;
        } else {
            for (size_t i = 0; i < sizeof g_unsupported / sizeof g_unsupported[0]; i++)
                if (IS(g_unsupported[i].flag))
                    return err_set(err, LM_ERR_UNSUPPORTED, "--extra_quantization_params: %s is not "
                                   "supported: %s", g_unsupported[i].flag, g_unsupported[i].why);
            return err_set(err, LM_ERR_INVALID, "--extra_quantization_params: unknown option '%.*s' "
                           "(lmserve accepts --sym, --ratio, --group-size)", (int)(wl > 64 ? 64 : wl), word);
        }
#undef IS
    }
}

lm_status repo_export_resolve(const repo_export_opts *o, model_load_opts *out, FILE *notes,
                              lm_error *err) {
    const char *wf = o->weight_format ? o->weight_format : DEFAULT_FORMAT;
    model_weight_format f;
    LM_TRY(model_parse_weight_format(wf, &f, err));
    repo_export_quant q;
    LM_TRY(repo_export_parse_quant(o->quant_params, &q, err));
    int given = q.has_sym || q.has_ratio || q.has_group;
    const char *dev = o->target_device ? o->target_device : "CPU";
    if (strcmp(dev, "NPU") == 0) { /* as export_model.py: int4, symmetric, channel-wise */
        if (f != MODEL_WEIGHTS_INT4)
            say(notes, "NPU target device requires int4 precision: changing --weight-format %s to int4", wf);
        if (!given) {
            say(notes, "NPU target device: using --sym --ratio 1.0 --group-size -1 (int4 symmetric "
                "channel-wise)");
        } else {
            if (!q.has_sym) say(notes, "NPU target device: symmetric quantization (--sym) enforced");
            if (q.has_ratio && q.ratio != 1.0)
                say(notes, "NPU target device: --ratio %g changed to 1.0", q.ratio);
            if (!q.has_group || q.group_size != -1) {
                if (q.has_group) say(notes, "NPU target device: --group-size %d changed to -1 "
                                     "(channel-wise)", q.group_size);
                else say(notes, "NPU target device: --group-size -1 (channel-wise) enforced");
            }
        }
        f = MODEL_WEIGHTS_INT4;
        q = (repo_export_quant){.sym = 1, .has_sym = 1, .ratio = 1.0, .has_ratio = 1,
                                .group_size = -1, .has_group = 1};
    } else if (strcmp(dev, "CPU") != 0) {
        say(notes, "--target_device %s: lmserve runs models on the CPU; the export is the same for "
            "every device", dev);
    }
    if (q.has_ratio && !(q.ratio > 0.0 && q.ratio <= 1.0))
        return err_set(err, LM_ERR_INVALID, "--extra_quantization_params: --ratio %g is not in (0, 1]",
                       q.ratio);
    out->format = f;
    out->group_size = 0;
    if (f != MODEL_WEIGHTS_INT4 && f != MODEL_WEIGHTS_INT8) {
        if (given) say(notes, "--extra_quantization_params apply to int4 and int8; ignored for %s", wf);
        return LM_OK;
    }
    if (!q.has_sym)
        say(notes, "lmserve quantizes symmetrically (as with --sym); asymmetric %s is not available", wf);
    if (f == MODEL_WEIGHTS_INT8) {
        if (q.has_group && q.group_size != -1)
            say(notes, "--group-size applies to int4 only: int8 has one scale per output channel");
        return LM_OK;
    }
    if (q.ratio < 1.0)
        return err_set(err, LM_ERR_UNSUPPORTED, "--extra_quantization_params: --ratio %g (some layers "
                       "int8, the rest int4) is not supported yet; use --ratio 1.0", q.ratio);
    int g = q.has_group ? q.group_size : DEFAULT_GROUP;
    if (g != -1 && g != 32 && g != 64 && g != 128)
        return err_set(err, LM_ERR_INVALID, "--extra_quantization_params: --group-size %d: int4 takes "
                       "-1 (channel-wise), 32, 64 or 128", g);
    out->group_size = g;
    return LM_OK;
}

/* ---- paths --------------------------------------------------------------------------------- */

/* A model name is a relative path of plain parts ("Qwen/Qwen3-0.6B"): never absolute, empty, or
 * with "." or ".." parts, so the folder stays inside the repository. */
static lm_status check_name(const char *name, lm_error *err) {
    if (!*name || name[0] == '/')
        return err_set(err, LM_ERR_INVALID, "model name '%s' must be a relative path", name);
    for (const char *p = name;;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return err_set(err, LM_ERR_INVALID, "model name '%s' has an empty, '.' or '..' part "
                           "(pass --model_name)", name);
        if (!p[n]) return LM_OK;
        p += n + 1;
    }
}

/* The default name: the source's last path part, without ".gguf". */
static void default_name(const char *source, char *out, size_t size) {
    size_t n = strlen(source);
    while (n > 1 && source[n - 1] == '/') n--;
    size_t start = n;
    while (start > 0 && source[start - 1] != '/') start--;
    size_t len = n - start;
    if (len > 5 && memcmp(source + n - 5, ".gguf", 5) == 0) len -= 5;
    snprintf(out, size, "%.*s", (int)len, source + start);
}

static lm_status mkdir_p(const char *path, lm_error *err) {
    char buf[PATH_MAX_LEN];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return err_set(err, LM_ERR_INVALID, "path too long: %s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return err_set(err, LM_ERR_IO, "%s: cannot create folder: %s", buf, strerror(errno));
        *p = c;
        if (!c) return LM_OK;
    }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Removes a folder we created, with everything in it (links are removed, not followed). */
static void remove_tree(const char *dir) { nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Bytes of the source's weight files: the file itself, or a folder's *.safetensors / *.gguf. */
static uint64_t weight_files_bytes(const char *source) {
    struct stat st;
    if (stat(source, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return (uint64_t)st.st_size;
    uint64_t total = 0;
    DIR *d = opendir(source);
    if (!d) return 0;
    struct dirent *e;
    char path[PATH_MAX_LEN + 256];
    while ((e = readdir(d)) != NULL) {
        if (!ends_with(e->d_name, ".safetensors") && !ends_with(e->d_name, ".gguf")) continue;
        snprintf(path, sizeof path, "%s/%s", source, e->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

/* Copies a regular file (links followed: hub caches link to blobs); adds its size to *bytes. */
static lm_status copy_file(const char *from, const char *to, uint64_t *bytes, lm_error *err) {
    FILE *in = fopen(from, "rb");
    if (!in) return err_set(err, LM_ERR_IO, "%s: cannot open: %s", from, strerror(errno));
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return err_set(err, LM_ERR_IO, "%s: cannot create: %s", to, strerror(errno));
    }
    char buf[1 << 16];
    size_t n;
    lm_status s = LM_OK;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        if (fwrite(buf, 1, n, out) != n) {
            s = err_set(err, LM_ERR_IO, "%s: write failed: %s", to, strerror(errno));
            break;
        }
        *bytes += n;
    }
    if (s == LM_OK && ferror(in)) s = err_set(err, LM_ERR_IO, "%s: read failed", from);
    fclose(in);
    if (fclose(out) != 0 && s == LM_OK) s = err_set(err, LM_ERR_IO, "%s: write failed: %s", to, strerror(errno));
    return s;
}

/* ---- the model as GGUF ----------------------------------------------------------------------- */

/* GGUF names of model_layer's fields, in field order (the engine's loader reads these names). */
static const struct { size_t offset; const char *name; } g_layer_names[] = {
    {offsetof(model_layer, attn_norm), "blk.%d.attn_norm.weight"},
    {offsetof(model_layer, attn_norm_b), "blk.%d.attn_norm.bias"},
    {offsetof(model_layer, wqkv), "blk.%d.attn_qkv.weight"},
    {offsetof(model_layer, bqkv), "blk.%d.attn_qkv.bias"},
    {offsetof(model_layer, wq), "blk.%d.attn_q.weight"},
    {offsetof(model_layer, bq), "blk.%d.attn_q.bias"},
    {offsetof(model_layer, wk), "blk.%d.attn_k.weight"},
    {offsetof(model_layer, bk), "blk.%d.attn_k.bias"},
    {offsetof(model_layer, wv), "blk.%d.attn_v.weight"},
    {offsetof(model_layer, bv), "blk.%d.attn_v.bias"},
    {offsetof(model_layer, q_norm), "blk.%d.attn_q_norm.weight"},
    {offsetof(model_layer, k_norm), "blk.%d.attn_k_norm.weight"},
    {offsetof(model_layer, wo), "blk.%d.attn_output.weight"},
    {offsetof(model_layer, bo), "blk.%d.attn_output.bias"},
    {offsetof(model_layer, ffn_norm), "blk.%d.ffn_norm.weight"},
    {offsetof(model_layer, ffn_norm_b), "blk.%d.ffn_norm.bias"},
    /* fused [gate; up]: GGUF (phi3) stores it as ffn_up with 2 n_ff rows */
    {offsetof(model_layer, w_gate_up), "blk.%d.ffn_up.weight"},
    {offsetof(model_layer, w_gate), "blk.%d.ffn_gate.weight"},
    {offsetof(model_layer, w_up), "blk.%d.ffn_up.weight"},
    {offsetof(model_layer, b_up), "blk.%d.ffn_up.bias"},
    {offsetof(model_layer, w_down), "blk.%d.ffn_down.weight"},
    {offsetof(model_layer, b_down), "blk.%d.ffn_down.bias"},
};
#define N_LAYER_NAMES (sizeof g_layer_names / sizeof g_layer_names[0])
_Static_assert(N_LAYER_NAMES == sizeof(model_layer) / sizeof(model_tensor),
               "every model_layer field needs its GGUF name here");

typedef struct {
    char name[64];
    const model_tensor *t;
} named_tensor;

/* The tensors the file holds, in file order; returns their count (out has room for all). */
static size_t list_tensors(const model *m, named_tensor *out) {
    size_t n = 0;
#define PUT(tensor, ...)                                                \
    do {                                                                \
        if ((tensor)->data) {                                           \
            snprintf(out[n].name, sizeof out[n].name, __VA_ARGS__);     \
            out[n++].t = (tensor);                                      \
        }                                                               \
    } while (0)
    PUT(&m->tok_embd, "token_embd.weight");
    PUT(&m->rope_freqs, "rope_freqs.weight");
    for (int il = 0; il < m->hp.n_layer; il++)
        for (size_t i = 0; i < N_LAYER_NAMES; i++)
            PUT((const model_tensor *)((const char *)&m->layers[il] + g_layer_names[i].offset),
                g_layer_names[i].name, il);
    PUT(&m->output_norm, "output_norm.weight");
    PUT(&m->output_norm_b, "output_norm.bias");
    /* a tied head that was not converted is the embedding itself: the loader ties it again */
    if (m->output.data != m->tok_embd.data) PUT(&m->output, "output.weight");
    PUT(&m->output_b, "output.bias");
#undef PUT
    return n;
}

static const char *format_name(const model_load_opts *lo) {
    switch (lo->format) {
    case MODEL_WEIGHTS_FP32: return "fp32";
    case MODEL_WEIGHTS_FP16: return "fp16";
    case MODEL_WEIGHTS_BF16: return "bf16";
    case MODEL_WEIGHTS_INT8: return "int8";
    case MODEL_WEIGHTS_INT4: return "int4";
    case MODEL_WEIGHTS_AS_STORED: break;
    }
    return "as stored";
}

/* Hyper-parameters under the keys model_load_gguf() reads for the architecture. */
static lm_status add_hparams(gguf_writer *w, const model *m, lm_error *err) {
    const char *a = m->arch.name;
    const model_hparams *hp = &m->hp;
    char key[128];
#define U32(suffix, v)                                                          \
    do {                                                                        \
        snprintf(key, sizeof key, "%s.%s", a, suffix);                          \
        LM_TRY(gguf_writer_add_u32(w, key, (uint32_t)(v), err));                \
    } while (0)
#define F32(suffix, v)                                                          \
    do {                                                                        \
        snprintf(key, sizeof key, "%s.%s", a, suffix);                          \
        LM_TRY(gguf_writer_add_f32(w, key, (v), err));                          \
    } while (0)
    U32("vocab_size", hp->n_vocab);
    U32("context_length", hp->n_ctx_train);
    U32("embedding_length", hp->n_embd);
    U32("block_count", hp->n_layer);
    U32("feed_forward_length", hp->n_ff);
    U32("attention.head_count", hp->n_head);
    U32("attention.head_count_kv", hp->n_head_kv);
    U32("attention.key_length", hp->head_dim);
    U32("attention.value_length", hp->head_dim);
    U32("rope.dimension_count", hp->rope_dim);
    F32("rope.freq_base", hp->rope_theta);
    F32(m->arch.norm == NORM_RMS ? "attention.layer_norm_rms_epsilon" : "attention.layer_norm_epsilon",
        hp->norm_eps);
    if (hp->sliding_window > 0) U32("attention.sliding_window", hp->sliding_window);
#undef U32
#undef F32
    return LM_OK;
}

/* A GGUF source's tokenizer (tokenizer.ggml.*, tokenizer.chat_template, ...), copied verbatim. */
static lm_status add_tokenizer_keys(gguf_writer *w, const gguf_file *f, lm_error *err) {
    for (size_t i = 0; i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        if (kv->key.len < 10 || memcmp(kv->key.ptr, "tokenizer.", 10) != 0) continue;
        char *key = strndup(kv->key.ptr, (size_t)kv->key.len);
        if (!key) return err_set(err, LM_ERR_NOMEM, "out of memory");
        lm_status s = gguf_writer_add_value(w, key, &kv->value, err);
        free(key);
        LM_TRY(s);
    }
    return LM_OK;
}

static lm_status describe(gguf_writer *w, const model *m, const char *name, const model_load_opts *lo,
                          const named_tensor *list, size_t n, lm_error *err) {
    LM_TRY(gguf_writer_add_str(w, "general.architecture", m->arch.name, err));
    LM_TRY(gguf_writer_add_str(w, "general.name", name, err));
    LM_TRY(add_hparams(w, m, err));
    LM_TRY(gguf_writer_add_u32(w, "lmserve.format_version", EXPORT_FORMAT_VERSION, err));
    LM_TRY(gguf_writer_add_str(w, "lmserve.rope.pairs",
                               m->arch.rope_pairs == ROPE_PAIRS_NEOX ? "neox" : "adjacent", err));
    LM_TRY(gguf_writer_add_str(w, "lmserve.weight_format", format_name(lo), err));
    if (lo->format == MODEL_WEIGHTS_INT4) LM_TRY(gguf_writer_add_i32(w, "lmserve.group_size", lo->group_size, err));
    if (m->gguf) LM_TRY(add_tokenizer_keys(w, m->gguf, err));
    for (size_t i = 0; i < n; i++) {
        const model_tensor *t = list[i].t;
        uint64_t ne[2] = {(uint64_t)t->cols, (uint64_t)t->rows};
        LM_TRY(gguf_writer_add_tensor(w, list[i].name, t->type, t->rows == 1 ? 1 : 2, ne, err));
        if (gguf_writer_tensor_bytes(w, i) != t->row_bytes * (uint64_t)t->rows)
            return err_set(err, LM_ERR_INTERNAL, "tensor '%s': %zu bytes per row in memory, GGUF "
                           "sizes it otherwise", list[i].name, t->row_bytes);
    }
    return LM_OK;
}

/* Writes model.gguf; sets *n_tensors. */
static lm_status write_gguf(const model *m, const char *name, const model_load_opts *lo,
                            const char *path, uint64_t *n_tensors, lm_error *err) {
    size_t cap = 8 + (size_t)m->hp.n_layer * N_LAYER_NAMES;
    named_tensor *list = calloc(cap, sizeof *list);
    gguf_writer *w = NULL;
    if (!list) return err_set(err, LM_ERR_NOMEM, "out of memory");
    size_t n = list_tensors(m, list);
    lm_status s = gguf_writer_create(&w, err);
    if (s == LM_OK) s = describe(w, m, name, lo, list, n, err);
    if (s == LM_OK) s = gguf_writer_open(w, path, err);
    for (size_t i = 0; i < n && s == LM_OK; i++)
        s = gguf_writer_write(w, list[i].t->data, list[i].t->row_bytes * (size_t)list[i].t->rows, err);
    if (s == LM_OK) s = gguf_writer_close(w, err);
    *n_tensors = n;
    gguf_writer_destroy(w);
    free(list);
    return s;
}

/* ---- the export ---------------------------------------------------------------------------- */

static int same_shape(const model *a, const model_hparams *hp, const model_arch *arch) {
    return memcmp(&a->hp, hp, sizeof *hp) == 0 && strcmp(a->arch.name, arch->name) == 0 &&
           a->arch.norm == arch->norm && a->arch.ffn == arch->ffn &&
           a->arch.rope_pairs == arch->rope_pairs && a->arch.parallel == arch->parallel;
}

/* Fills the temporary folder: model.gguf, the side files, then a load-back check. */
static lm_status export_into(const char *source, const char *name, const char *tmp,
                             repo_export_result *res, FILE *log, lm_error *err) {
    char path[2 * PATH_MAX_LEN], from[2 * PATH_MAX_LEN];
    double t0 = now_s();
    model *m = NULL;
    LM_TRY(model_load(source, &res->format, &m, err));
    say(log, "loaded %s (%s, %d layers) and converted it in %.2f s", source, m->arch.name,
        m->hp.n_layer, now_s() - t0);
    model_hparams hp = m->hp;
    model_arch arch = m->arch;
    size_t weight_bytes = model_weight_bytes(m);
    snprintf(path, sizeof path, "%s/model.gguf", tmp);
    double t1 = now_s();
    lm_status s = write_gguf(m, name, &res->format, path, &res->n_tensors, err);
    model_destroy(m);
    m = NULL;
    LM_TRY(s);
    struct stat st;
    if (stat(path, &st) == 0) res->model_bytes = (uint64_t)st.st_size;
    say(log, "wrote model.gguf (%llu tensors) in %.2f s", (unsigned long long)res->n_tensors, now_s() - t1);

    if (is_dir(source)) {
        for (size_t i = 0; i < sizeof g_side_files / sizeof g_side_files[0]; i++) {
            snprintf(from, sizeof from, "%s/%s", source, g_side_files[i]);
            if (stat(from, &st) != 0 || !S_ISREG(st.st_mode)) continue;
            snprintf(path, sizeof path, "%s/%s", tmp, g_side_files[i]);
            LM_TRY(copy_file(from, path, &res->side_bytes, err));
            say(log, "copied %s", g_side_files[i]);
        }
    }

    /* the check: the folder loads as stored, into the same model */
    double t2 = now_s();
    LM_TRY(model_load(tmp, NULL, &m, err));
    res->reload_seconds = now_s() - t2;
    int same = same_shape(m, &hp, &arch) && model_weight_bytes(m) == weight_bytes;
    model_destroy(m);
    if (!same)
        return err_set(err, LM_ERR_INTERNAL, "the exported model does not load back as the model "
                       "that was written (a bug: please report it)");
    return LM_OK;
}

/* Renames tmp to dir, replacing an existing dir (moved aside first, removed after). */
static lm_status install(const char *tmp, const char *dir, lm_error *err) {
    struct stat st;
    if (lstat(dir, &st) != 0) {
        if (rename(tmp, dir) != 0)
            return err_set(err, LM_ERR_IO, "%s: cannot rename into place: %s", dir, strerror(errno));
        return LM_OK;
    }
    char old[2 * PATH_MAX_LEN];
    snprintf(old, sizeof old, "%s.old", tmp);
    if (rename(dir, old) != 0)
        return err_set(err, LM_ERR_IO, "%s: cannot move the old folder aside: %s", dir, strerror(errno));
    if (rename(tmp, dir) != 0) {
        int e = errno;
        rename(old, dir);
        return err_set(err, LM_ERR_IO, "%s: cannot rename into place: %s", dir, strerror(e));
    }
    remove_tree(old);
    return LM_OK;
}

lm_status repo_export_run(const repo_export_opts *o, repo_export_result *res, FILE *log,
                          lm_error *err) {
    memset(res, 0, sizeof *res);
    if (!o->source_model || !*o->source_model)
        return err_set(err, LM_ERR_INVALID, "--source_model is required");
    LM_TRY(repo_export_resolve(o, &res->format, log, err));
    const char *source = o->source_model;
    struct stat st;
    if (stat(source, &st) != 0)
        return err_set(err, LM_ERR_NOT_FOUND, "source model '%s' is not a local folder or .gguf file "
                       "(download it first: lmserve --pull --source_model ... --model_repository_path ...)",
                       source);
    char name[1024];
    if (o->model_name) snprintf(name, sizeof name, "%s", o->model_name);
    else default_name(source, name, sizeof name);
    LM_TRY(check_name(name, err));
    const char *repo = o->repository ? o->repository : DEFAULT_REPOSITORY;
    if (!*repo) return err_set(err, LM_ERR_INVALID, "--model_repository_path is empty");
    if (snprintf(res->dir, sizeof res->dir, "%s/%s", repo, name) >= (int)sizeof res->dir)
        return err_set(err, LM_ERR_INVALID, "output path too long: %s/%s", repo, name);
    if (lstat(res->dir, &st) == 0 && !o->overwrite) {
        res->skipped = 1;
        say(log, "%s already exists: nothing exported (pass --overwrite_models to replace it)", res->dir);
        return LM_OK;
    }

    /* the temporary folder sits beside the final one, so the last step is a rename */
    char parent[PATH_MAX_LEN], tmp[PATH_MAX_LEN + 64];
    snprintf(parent, sizeof parent, "%s", res->dir);
    char *slash = strrchr(parent, '/');
    const char *leaf = res->dir + (slash - parent) + 1;
    *slash = '\0';
    LM_TRY(mkdir_p(parent, err));
    snprintf(tmp, sizeof tmp, "%s/.%s.export-XXXXXX", parent, leaf);
    if (!mkdtemp(tmp) || chmod(tmp, 0755) != 0)
        return err_set(err, LM_ERR_IO, "%s: cannot create a temporary folder: %s", parent, strerror(errno));
    char fmt[48];
    if (res->format.format != MODEL_WEIGHTS_INT4) snprintf(fmt, sizeof fmt, "%s", format_name(&res->format));
    else if (res->format.group_size == -1) snprintf(fmt, sizeof fmt, "int4 channel-wise");
    else snprintf(fmt, sizeof fmt, "int4 group size %d", res->format.group_size);
    say(log, "exporting %s as %s to %s", source, fmt, res->dir);

    double t0 = now_s();
    res->source_bytes = weight_files_bytes(source);
    lm_status s = export_into(source, name, tmp, res, log, err);
    if (s == LM_OK) s = install(tmp, res->dir, err);
    if (s != LM_OK) {
        remove_tree(tmp);
        return s;
    }
    res->seconds = now_s() - t0;
    char a[32], b[32], c[32];
    say(log, "exported %s to %s in %.2f s", source, res->dir, res->seconds);
    say(log, "  weights: %s before, %s after (model.gguf, %.0f%%)", human(res->source_bytes, a, sizeof a),
        human(res->model_bytes, b, sizeof b),
        res->source_bytes ? 100.0 * (double)res->model_bytes / (double)res->source_bytes : 0.0);
    if (res->side_bytes) say(log, "  tokenizer files: %s", human(res->side_bytes, c, sizeof c));
    say(log, "  loads as stored in %.3f s", res->reload_seconds);
    return LM_OK;
}
