/* cli.h — table-driven command-line parsing: the OVMS-compatible server flags and a reusable
 * parser for subcommands (generate, tokenize, chat-template).
 *
 * A command is a table of cli_flag rows, one per flag. Each row names the flag, the kind of value
 * it takes (integer in a range, float in a range, string, true/false word, switch with no value,
 * or one of a fixed list of words), its help text, its default, whether the feature behind it is
 * built yet, and where in the caller's options struct the value goes (offsetof). cli_parse() walks
 * argv against the table, fills the struct and reports the first problem as an lm_error; defaults
 * come from the same table, so what --help shows is what the program uses.
 *
 * Accepted syntax: `--flag value` and `--flag=value`; a switch takes no value (`--help`, never
 * `--help=true`). A flag given twice keeps the last value. Anything that is not a flag is an
 * error (no positional arguments). Strings are borrowed from argv (or from the table's default
 * text): they live as long as argv does and are never freed.
 *
 * Exit codes (cli_exit_code), the rule every command follows:
 *   0   success (and --help, --version)
 *   1   the command ran and failed (a model file would not load, an output could not be written)
 *   2   the command is well formed but asks for a feature that is not built yet
 *   64  usage error: unknown flag, bad or missing value (EX_USAGE, as OVMS does)
 *
 * Example: a subcommand with its own flags (this is how cmd_generate is meant to use it).
 *
 *     typedef struct {
 *         const char *model, *prompt;
 *         int64_t max_tokens, seed;
 *         double temperature;
 *         bool help;
 *     } gen_opts;
 *
 *     static const cli_flag gen_flags[] = {
 *         {.name = "model", .kind = CLI_STRING, .metavar = "PATH", .offset = offsetof(gen_opts, model),
 *          .def = "models/demo/stories260K.gguf", .help = "GGUF model file", .implemented = true},
 *         {.name = "prompt", .kind = CLI_STRING, .metavar = "TEXT", .required = true,
 *          .offset = offsetof(gen_opts, prompt), .help = "text to continue", .implemented = true},
 *         {.name = "max_tokens", .kind = CLI_INT, .min = 1, .max = 1 << 20, .def = "64",
 *          .offset = offsetof(gen_opts, max_tokens), .help = "tokens to generate", .implemented = true},
 *         {.name = "temperature", .kind = CLI_FLOAT, .fmin = 0, .fmax = 100, .def = "0",
 *          .offset = offsetof(gen_opts, temperature), .help = "0 = greedy", .implemented = true},
 *         {.name = "seed", .kind = CLI_INT, .min = 0, .max = INT64_MAX, .def = "0",
 *          .offset = offsetof(gen_opts, seed), .help = "sampling seed", .implemented = true},
 *         {.name = "help", .kind = CLI_SWITCH, .offset = offsetof(gen_opts, help),
 *          .help = "show this help and exit", .implemented = true},
 *     };
 *     static const cli_command gen_cmd = {
 *         .name = "lmserve generate",
 *         .usage = "lmserve generate --prompt TEXT [--model PATH] [options]",
 *         .about = "Generates text from a prompt and prints it.",
 *         .flags = gen_flags, .n_flags = sizeof gen_flags / sizeof gen_flags[0],
 *     };
 *
 *     int cmd_generate(int argc, char **argv) {
 *         gen_opts o;
 *         int rc = cli_parse_or_exit(&gen_cmd, argc, argv, &o); // prints help / errors itself
 *         if (rc != CLI_CONTINUE) return rc;
 *         ... run; on a runtime failure print "lmserve generate: <err.msg>" and return 1 ...
 *     }
 */
#ifndef LM_CLI_CLI_H
#define LM_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

/* Exit codes; see the rule above. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1,
    CLI_EXIT_UNSUPPORTED = 2,
    CLI_EXIT_USAGE = 64,
};

/* Most rows a table may have (a parse tracks which rows were given in a 64-bit mask). */
#define CLI_MAX_FLAGS 64

/* What a flag's value is and which C type its options-struct field must have. */
typedef enum {
    CLI_SWITCH, /* no value; field `bool`, set to true when present */
    CLI_BOOL,   /* value "true" or "false"; field `bool` */
    CLI_INT,    /* decimal integer in [min, max]; field `int64_t` */
    CLI_FLOAT,  /* decimal number in [fmin, fmax]; field `double` */
    CLI_STRING, /* non-empty text; field `const char *` (borrowed from argv or the default) */
    CLI_ENUM,   /* one of `choices` ("A|B|C", exact match); field `int`, the index of the word */
} cli_kind;

/* One flag: one row of a command's table. Designated initializers keep rows readable. */
typedef struct {
    const char *name;    /* without the leading "--", e.g. "rest_port" */
    cli_kind kind;
    size_t offset;       /* offsetof(<options struct>, <field>) */
    int64_t min, max;    /* CLI_INT range, inclusive */
    double fmin, fmax;   /* CLI_FLOAT range, inclusive */
    const char *choices; /* CLI_ENUM allowed words, '|'-separated */
    const char *metavar; /* placeholder shown in help ("PORT"); NULL: derived from the kind */
    const char *def;     /* default as text, parsed like a user value and applied before argv;
                          * NULL: field left zero (false, 0, NULL), or -1 for CLI_ENUM (no
                          * word given) */
    const char *help;    /* one line for --help */
    const char *group;   /* help heading; NULL continues the previous row's group */
    bool required;       /* parse fails when the flag is absent */
    bool implemented;    /* false: giving the flag fails with "<flag>: not supported yet" */
} cli_flag;

/* A command: its table plus the text around it in --help. */
typedef struct {
    const char *name;    /* prefix of error messages, e.g. "lmserve generate" */
    const char *usage;   /* usage line(s) for --help */
    const char *about;   /* short paragraph for --help; may be NULL */
    const cli_flag *flags;
    size_t n_flags;      /* at most CLI_MAX_FLAGS */
} cli_command;

/* Parses argv[1..argc-1] (argv[0], the program or subcommand name, is skipped) against
 * cmd->flags into `opts`, which must be the struct the table's offsets refer to. `opts` is first
 * zeroed (up to the end of the last field the table names) and filled with the defaults.
 * Returns LM_OK, or:
 *   LM_ERR_INVALID     usage error (unknown flag, with the nearest valid flag suggested; bad,
 *                      missing or unexpected value; missing required flag); parsing stops there
 *   LM_ERR_UNSUPPORTED a flag whose row says implemented = false was given; every argument was
 *                      parsed first, so *opts is complete and a caller may still let --help win
 *   LM_ERR_INTERNAL    the table itself is broken (bad default, too many rows)
 * Messages start with the flag ("--rest_port: '80x' is not an integer in [0, 65535]"). */
lm_status cli_parse(const cli_command *cmd, int argc, char **argv, void *opts, lm_error *err);

/* Writes the usage, the about text and one line per flag (value, default, status, help) grouped
 * under the rows' headings. */
void cli_print_help(FILE *out, const cli_command *cmd);

/* Maps a status to the process exit code: LM_OK 0, LM_ERR_INVALID 64, LM_ERR_UNSUPPORTED 2,
 * anything else 1. */
int cli_exit_code(lm_status status);

/* Returned by cli_parse_or_exit() when the command should go on and run. */
#define CLI_CONTINUE (-1)

/* The usual front of a subcommand: when argv holds "--help" anywhere, prints cli_print_help() to
 * stdout and returns 0; otherwise runs cli_parse() and, on failure, prints
 * "<cmd->name>: <message>" (plus a hint to try --help for usage errors) to stderr and returns
 * cli_exit_code(); on success returns CLI_CONTINUE. */
int cli_parse_or_exit(const cli_command *cmd, int argc, char **argv, void *opts);

/* The table row named `name` (without "--"), or NULL. */
const cli_flag *cli_find_flag(const cli_command *cmd, const char *name);

/* The row whose name is nearest to `name` (leading dashes ignored) by edit distance; ties go to
 * the earlier row. NULL only for an empty table. */
const cli_flag *cli_nearest_flag(const cli_command *cmd, const char *name);

/* ---- the server command (plain `lmserve [flags]`) ---- */

/* Options of the server command, one field per row of the server table. Ports and counts are
 * int64_t and enums are indexes into the row's choices, as cli_kind requires. */
typedef struct {
    /* server */
    int64_t rest_port;           /* REST port; 0: REST off */
    int64_t port;                /* gRPC port; 0: gRPC off */
    const char *rest_bind_address;
    int64_t rest_workers;        /* 0: chosen from the CPU count */
    int log_level;               /* a log_level value (TRACE..ERROR share the enum's order) */
    int log_format;              /* 0 text, 1 json (one JSON object per line) */
    bool metrics_enable;         /* GET /metrics serves Prometheus text */
    const char *metrics_list;    /* comma-separated metric families; NULL: the default set */
    const char *api_key_file;    /* first line is the API key; NULL: the API_KEY variable */
    bool api_key_protect_health; /* health endpoints and /metrics need the key too */
    int64_t max_queued_requests; /* waiting requests per model before 503; 0: from max_num_seqs */
    int64_t request_timeout_s;   /* per-request deadline; 0: none */
    /* models */
    const char *config_path;
    int64_t file_system_poll_wait_seconds; /* 0: config.json is not watched */
    const char *model_path;
    const char *model_name;
    int target_device;           /* index into the row's choices: 0 CPU, 1 NPU */
    const char *cache_dir;
    /* pull and config management */
    bool pull;
    const char *source_model;
    const char *model_repository_path;
    const char *gguf_filename;   /* NULL: the whole repository */
    int task;                    /* index into the row's choices (0 is text_generation); -1 when
                                  * not given: inferred from the repository */
    bool overwrite_models;
    bool add_to_config;
    bool remove_from_config;
    bool list_models;
    /* text generation */
    bool enable_prefix_caching;
    int64_t max_prompt_len;      /* 0: unset */
    int64_t max_num_seqs;
    int64_t cache_size;          /* KV cache in GB; 0: grow as needed */
    const char *tool_parser;     /* NULL: none; names are checked when the parsers exist */
    const char *reasoning_parser;
    int64_t max_num_batched_tokens; /* 0: unset (graph default) */
    bool dynamic_split_fuse;
    const char *plugin_config;   /* a JSON object, as text */
    /* other */
    bool help;
    bool version;
} cli_server_opts;

/* The server command: `lmserve [flags]`. */
extern const cli_command cli_server_command;

#endif
