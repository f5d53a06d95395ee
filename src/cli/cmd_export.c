/* cmd_export.c — `lmserve export`: the command line of repo_export_run() (src/repo/export.h),
 * with OVMS export_model.py's flag names. Progress and the time/size report go to stdout, errors
 * to stderr. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "repo/export.h"

typedef struct {
    const char *source_model, *weight_format, *quant_params, *target_device, *repository,
        *model_name;
    bool overwrite, help;
} export_opts;

#define OPT(field) .offset = offsetof(export_opts, field)

static const cli_flag export_flags[] = {
    {.name = "source_model", .kind = CLI_STRING, OPT(source_model), .metavar = "PATH", .required = true,
     .help = "Hugging Face model folder (config.json + safetensors), .gguf file, or exported folder",
     .implemented = true},
    {.name = "weight-format", .kind = CLI_STRING, OPT(weight_format), .metavar = "FORMAT", .def = "int8",
     .help = "int4, int8, fp16, bf16 or fp32", .implemented = true},
    {.name = "weight_format", .kind = CLI_STRING, OPT(weight_format), .metavar = "FORMAT",
     .help = "same as --weight-format", .implemented = true},
    {.name = "extra_quantization_params", .kind = CLI_STRING, OPT(quant_params), .metavar = "\"--sym ...\"",
     .help = "optimum-style: --sym, --ratio 1.0, --group-size -1|32|64|128 (int4; default 128)",
     .implemented = true},
    {.name = "target_device", .kind = CLI_STRING, OPT(target_device), .metavar = "DEVICE", .def = "CPU",
     .help = "NPU forces int4 symmetric channel-wise (--sym --ratio 1.0 --group-size -1)",
     .implemented = true},
    {.name = "model_repository_path", .kind = CLI_STRING, OPT(repository), .metavar = "DIR",
     .def = "models", .help = "where the model folder is written", .implemented = true},
    {.name = "model_name", .kind = CLI_STRING, OPT(model_name), .metavar = "NAME",
     .help = "folder name inside the repository (default: the source's name)", .implemented = true},
    {.name = "overwrite_models", .kind = CLI_SWITCH, OPT(overwrite),
     .help = "replace an existing folder (otherwise it is left alone)", .implemented = true},
    {.name = "help", .kind = CLI_SWITCH, OPT(help), .help = "show this help and exit", .implemented = true},
};

#undef OPT

static const cli_command export_cmd = {
    .name = "lmserve export",
    .usage = "lmserve export --source_model PATH [--weight-format int4|int8|fp16|bf16|fp32]\n"
             "    [--extra_quantization_params \"--sym --ratio 1.0 --group-size 128\"] "
             "[--target_device NPU]\n"
             "    [--model_repository_path DIR] [--model_name NAME] [--overwrite_models]",
    .about = "Converts a model's weights (int4/int8 symmetric quantization, or fp16/bf16/fp32) and "
             "writes a ready-to-serve folder DIR/NAME with model.gguf and the tokenizer files; "
             "the folder loads by mmap with no conversion at start-up (docs/export.md).",
    .flags = export_flags,
    .n_flags = sizeof export_flags / sizeof export_flags[0],
};

int cmd_export(int argc, char **argv) {
    /* The parameters start with "--" ("--sym --ratio 1.0"), which the parser would take for the
     * next flag: join them to the flag as "--extra_quantization_params=<text>". */
    char **args = calloc((size_t)argc + 1, sizeof *args);
    char *joined = NULL;
    if (!args) {
        fprintf(stderr, "lmserve export: out of memory\n");
        return CLI_EXIT_FAILURE;
    }
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--extra_quantization_params") == 0 && i + 1 < argc && !joined) {
            size_t len = strlen(argv[i]) + strlen(argv[i + 1]) + 2;
            if (!(joined = malloc(len))) {
                free(args);
                fprintf(stderr, "lmserve export: out of memory\n");
                return CLI_EXIT_FAILURE;
            }
            snprintf(joined, len, "%s=%s", argv[i], argv[i + 1]);
            args[n++] = joined;
            i++;
            continue;
        }
        args[n++] = argv[i];
    }
    export_opts o;
    int rc = cli_parse_or_exit(&export_cmd, n, args, &o);
    if (rc == CLI_CONTINUE) {
        repo_export_opts eo = {
            .source_model = o.source_model,
            .repository = o.repository,
            .model_name = o.model_name,
            .weight_format = o.weight_format,
            .quant_params = o.quant_params,
            .target_device = o.target_device,
            .overwrite = o.overwrite,
        };
        repo_export_result res;
        lm_error err;
        err_clear(&err);
        lm_status s = repo_export_run(&eo, &res, stdout, &err);
        if (s != LM_OK) fprintf(stderr, "lmserve export: %s\n", err.msg);
        rc = cli_exit_code(s);
    }
    free(joined);
    free(args);
    return rc;
}
