/* export.h — `lmserve export`: turns a Hugging Face safetensors folder or a GGUF file into a
 * ready-to-serve model folder whose weights load by mmap with no work at start-up.
 *
 * The source is loaded with model_load() and converted to the requested weight format exactly as
 * the server would convert it at load time; the converted weights are then written, as they sit
 * in memory, to <repository>/<name>/model.gguf (GGUF v3: tensor names and hyper-parameter keys of
 * the model's architecture; lmserve's int8/int4 types under their numbers >= 64). Loading that
 * folder as stored therefore gives bit for bit the model (and the logits) the server would get
 * from the source with the same format. The tokenizer travels along: tokenizer.json and its
 * companion files are copied from a source folder, and a GGUF source's tokenizer.* metadata is
 * copied into the new file. docs/export.md describes the format and the flags.
 *
 * Flags follow OVMS's export_model.py: --weight-format, --extra_quantization_params ("--sym
 * --ratio 1.0 --group-size 128"), --target_device (NPU forces int4 symmetric channel-wise, as
 * that script does, and says what it changed), --model_repository_path, --model_name,
 * --overwrite_models.
 *
 * The folder appears complete or not at all: everything is written into a temporary folder
 * beside it, checked by loading it back, then renamed into place. */
#ifndef LM_REPO_EXPORT_H
#define LM_REPO_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "model/model.h"

/* What the user asked for, as the command line gives it. Strings are borrowed. */
typedef struct {
    const char *source_model;    /* a Hugging Face folder, a .gguf file, or an exported folder */
    const char *repository;      /* --model_repository_path; NULL: "models" */
    const char *model_name;      /* NULL: the source's file or folder name without ".gguf" */
    const char *weight_format;   /* "int4" | "int8" | "fp16" | "bf16" | "fp32"; NULL: "int8" */
    const char *quant_params;    /* --extra_quantization_params; NULL: none */
    const char *target_device;   /* NULL or "CPU": no effect; "NPU": int4 sym channel-wise */
    int overwrite;               /* --overwrite_models: replace an existing folder */
} repo_export_opts;

/* Parsed --extra_quantization_params (optimum-cli's names). */
typedef struct {
    int sym, has_sym;            /* --sym */
    double ratio;                /* --ratio R (fraction of int4 layers); 1.0 when absent */
    int has_ratio;
    int group_size, has_group;   /* --group-size N */
} repo_export_quant;

/* Parses "--sym --ratio 1.0 --group-size 128" (also "--ratio=1.0", "--group_size"). Unknown
 * words are LM_ERR_INVALID; optimum's data-aware options (--awq, --scale-estimation, --gptq,
 * --dataset, ...) are LM_ERR_UNSUPPORTED naming the option. Values are checked later. */
lm_status repo_export_parse_quant(const char *text, repo_export_quant *out, lm_error *err);

/* Decides the load options the export converts with: the weight format, the extra parameters,
 * then the target device (NPU: int4, --sym, --ratio 1.0, --group-size -1, each change written
 * to `notes` as one line). Lines also note what lmserve does differently from optimum (it
 * quantizes symmetrically only; int8 is channel-wise). LM_ERR_INVALID for a bad format or
 * group size, LM_ERR_UNSUPPORTED for --ratio below 1. `notes` may be NULL. */
lm_status repo_export_resolve(const repo_export_opts *o, model_load_opts *out, FILE *notes,
                              lm_error *err);

/* What an export did (sizes in bytes). */
typedef struct {
    char dir[4096];              /* the folder: <repository>/<name> */
    int skipped;                 /* it existed and overwrite was not asked: nothing was done */
    model_load_opts format;      /* what the weights were converted to */
    uint64_t source_bytes;       /* the source's weight files (*.safetensors, or the .gguf) */
    uint64_t model_bytes;        /* model.gguf */
    uint64_t side_bytes;         /* tokenizer and generation files copied */
    uint64_t n_tensors;
    double seconds;              /* load + convert + write + copy + check */
    double reload_seconds;       /* loading the written folder back, as stored */
} repo_export_result;

/* Runs the export. Progress and notes go to `log` (NULL: quiet). Errors: LM_ERR_INVALID for
 * options (bad name: empty, absolute, or with "." / ".." parts), whatever model_load reports for
 * the source (LM_ERR_UNSUPPORTED for an architecture, LM_ERR_INVALID for a format the source's
 * weights cannot convert to), LM_ERR_IO naming the path for file system failures. On failure
 * nothing is left behind. */
lm_status repo_export_run(const repo_export_opts *o, repo_export_result *res, FILE *log,
                          lm_error *err);

#endif
