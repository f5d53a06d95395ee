/* cmd_stubs.c — the subcommands whose features are not built yet: tokenize and chat-template
 * parse their flags and answer --help, then report "not supported yet" (exit 2). */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/commands.h"

/* ---------------------------------------------------------------- tokenize */

typedef struct {
    const char *model;
    bool add_special_tokens;
    bool jsonl;
    bool help;
} tokenize_opts;

static const cli_flag tokenize_flags[] = {
    {.name = "model", .kind = CLI_STRING, .offset = offsetof(tokenize_opts, model),
     .metavar = "PATH", .required = true, .help = "model file whose tokenizer is used",
     .implemented = true},
    {.name = "add_special_tokens", .kind = CLI_BOOL,
     .offset = offsetof(tokenize_opts, add_special_tokens), .def = "true",
     .help = "add the model's special tokens (BOS, ...) around the text", .implemented = true},
    {.name = "jsonl", .kind = CLI_SWITCH, .offset = offsetof(tokenize_opts, jsonl),
     .help = "tokenize each input line on its own; print one JSON array per line",
     .implemented = true},
    {.name = "help", .kind = CLI_SWITCH, .offset = offsetof(tokenize_opts, help),
     .help = "show this help and exit", .implemented = true},
};

static const cli_command tokenize_command = {
    .name = "lmserve tokenize",
    .usage = "lmserve tokenize --model PATH [--add_special_tokens true|false] [--jsonl] < text",
    .about = "Reads text from stdin and prints its token ids as a JSON array, e.g. [1, 415, 2936].",
    .flags = tokenize_flags,
    .n_flags = sizeof tokenize_flags / sizeof tokenize_flags[0],
};

int cmd_tokenize(int argc, char **argv) {
    tokenize_opts o;
    int rc = cli_parse_or_exit(&tokenize_command, argc, argv, &o);
    if (rc != CLI_CONTINUE) return rc;
    fprintf(stderr, "%s: not supported yet\n", tokenize_command.name);
    return CLI_EXIT_UNSUPPORTED;
}

/* ---------------------------------------------------------------- chat-template */

typedef struct {
    const char *model;
    const char *messages;
    bool add_generation_prompt;
    bool help;
} chat_template_opts;

static const cli_flag chat_template_flags[] = {
    {.name = "model", .kind = CLI_STRING, .offset = offsetof(chat_template_opts, model),
     .metavar = "PATH", .required = true, .help = "model whose chat template is rendered",
     .implemented = true},
    {.name = "messages", .kind = CLI_STRING, .offset = offsetof(chat_template_opts, messages),
     .metavar = "FILE.json", .required = true,
     .help = "JSON array of chat messages ({\"role\": ..., \"content\": ...})", .implemented = true},
    {.name = "add_generation_prompt", .kind = CLI_SWITCH,
     .offset = offsetof(chat_template_opts, add_generation_prompt),
     .help = "end with the prompt that starts the assistant's turn", .implemented = true},
    {.name = "help", .kind = CLI_SWITCH, .offset = offsetof(chat_template_opts, help),
     .help = "show this help and exit", .implemented = true},
};

static const cli_command chat_template_command = {
    .name = "lmserve chat-template",
    .usage = "lmserve chat-template --model PATH --messages FILE.json [--add_generation_prompt]",
    .about = "Prints the prompt text that the model's chat template renders for the messages.",
    .flags = chat_template_flags,
    .n_flags = sizeof chat_template_flags / sizeof chat_template_flags[0],
};

int cmd_chat_template(int argc, char **argv) {
    chat_template_opts o;
    int rc = cli_parse_or_exit(&chat_template_command, argc, argv, &o);
    if (rc != CLI_CONTINUE) return rc;
    fprintf(stderr, "%s: not supported yet\n", chat_template_command.name);
    return CLI_EXIT_UNSUPPORTED;
}
