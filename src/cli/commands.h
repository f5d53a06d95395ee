/* commands.h — the tool subcommands that share the lmserve binary.
 *
 * main() calls cmd_<name>(argc, argv) when the first argument is a subcommand name; argv[0] is
 * then the subcommand name ("generate"), argv[1..] its own flags. Each returns the process exit
 * code, following the rule in cli.h (0 ok, 1 runtime failure, 2 not supported yet, 64 usage).
 * Each parses its flags with cli_parse_or_exit() and answers --help. */
#ifndef LM_CLI_COMMANDS_H
#define LM_CLI_COMMANDS_H

/* `lmserve generate --prompt TEXT [--model PATH] [--max_tokens N] [--temperature T] [--seed S]`:
 * prints the continuation of the prompt. Implemented in cmd_generate.c. */
int cmd_generate(int argc, char **argv);

/* `lmserve tokenize --model PATH [--add_special_tokens true|false] [--jsonl]`: reads text from
 * stdin and prints its token ids as a JSON array (one array per input line with --jsonl). */
int cmd_tokenize(int argc, char **argv);

/* `lmserve detokenize --model PATH [--skip_special_tokens true|false] [--jsonl]`: reads a JSON
 * array of ids from stdin and prints the text (one JSON string per line with --jsonl). */
int cmd_detokenize(int argc, char **argv);

/* `lmserve chat-template --model PATH --messages FILE.json [--add_generation_prompt]`: prints
 * the prompt the model's chat template renders for the messages. */
int cmd_chat_template(int argc, char **argv);

/* `lmserve logits --ids "1 2 3" [--model PATH] [--top K]`: evaluates the ids and prints, for
 * every position, the top-K ids and logits as JSON (for checking against another engine). */
int cmd_logits(int argc, char **argv);

/* `lmserve export --source_model PATH --weight-format int4|int8|fp16|bf16|fp32 [...]`: writes a
 * ready-to-serve model folder with converted weights (src/repo/export.h). */
int cmd_export(int argc, char **argv);

#endif
