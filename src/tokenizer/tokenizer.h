/* tokenizer.h — text <-> token ids, byte-exact with the model's own tokenizer.
 *
 * A tokenizer is loaded from a GGUF file's embedded vocabulary (tokenizer.ggml.*) or from a
 * Hugging Face model folder (tokenizer.json and friends). Once loaded it is immutable and may be
 * used from many threads at once. Decoding never produces broken UTF-8 in streaming: the
 * incremental decoder holds bytes back until a character is complete.
 *
 * This header is the contract the rest of lmserve relies on; algorithms live in the .c files of
 * this folder. */
#ifndef LM_TOKENIZER_TOKENIZER_H
#define LM_TOKENIZER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "model/gguf.h"
#include "model/source.h"

typedef struct tok_tokenizer tok_tokenizer;

/* Growable id array; a zeroed one is empty. Free with tok_ids_fini(). */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} tok_ids;

void tok_ids_push(tok_ids *v, int32_t id);   /* aborts only on out-of-memory */
void tok_ids_fini(tok_ids *v);

/* Loads the vocabulary embedded in a GGUF file (tokenizer.ggml.model = "llama" SentencePiece-
 * style with scores and byte fallback, or "gpt2" byte-level BPE with merges). The tokenizer copies
 * what it needs: `f` may be closed afterwards. */
lm_status tok_load_gguf(const gguf_file *f, tok_tokenizer **out, lm_error *err);

/* Loads tokenizer.json (or tokenizer.json.gz) from a model folder, with tokenizer_config.json,
 * special_tokens_map.json and generation_config.json when present (they name BOS/EOS and the ids
 * that end generation). Models: BPE (byte-level or with byte fallback); other model types fail
 * with LM_ERR_UNSUPPORTED naming the type. docs/tokenizer.md lists the supported steps. */
lm_status tok_load_hf(const char *dir, tok_tokenizer **out, lm_error *err);

/* Loads whatever `path` names: a .gguf file (its embedded vocabulary), a model folder
 * (tokenizer.json and friends; a folder without tokenizer.json that holds model.gguf, as
 * `lmserve export` writes from a GGUF source, gives that file's vocabulary), or a tokenizer.json
 * file (its folder is loaded). */
lm_status tok_load_path(const char *path, tok_tokenizer **out, lm_error *err);

/* The tokenizer of a probed model source (model/source.h): tokenizer.json in its folder, or the
 * vocabulary of the GGUF file the source already parsed. */
lm_status tok_load_source(const model_source *src, tok_tokenizer **out, lm_error *err);

void tok_destroy(tok_tokenizer *t); /* accepts NULL */

size_t tok_vocab_size(const tok_tokenizer *t);
int32_t tok_bos_id(const tok_tokenizer *t);   /* -1 when none */
int32_t tok_eos_id(const tok_tokenizer *t);   /* -1 when none */
/* Whether id is a special/control token (skipped by skip_special decoding). */
int tok_is_special(const tok_tokenizer *t, int32_t id);
/* Whether id ends generation: the EOS id, or a special token that ends a turn or a document
 * (<|eot_id|>, <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>, ... and generation_config.json's
 * eos_token_id list for Hugging Face folders). */
int tok_is_eog(const tok_tokenizer *t, int32_t id);
/* The token's string as the vocabulary writes it (e.g. "▁the", "Ġthe", "<0x0A>", "<s>"), not
 * NUL-terminated, valid while t lives; NULL (and *len = 0) for an id outside the vocabulary. */
const char *tok_token_text(const tok_tokenizer *t, int32_t id, size_t *len);
/* The id of the token whose string is exactly text[0..len) (added tokens first), or -1. */
int32_t tok_token_id(const tok_tokenizer *t, const char *text, size_t len);

/* Appends the ids of `text` (len bytes, any bytes: invalid UTF-8 gives a sane result, never an
 * error: each maximal invalid sequence is read as U+FFFD) to *out. add_special: add BOS/EOS as
 * the tokenizer's configuration says. Special tokens written in the text are matched as single
 * ids (as Hugging Face does by default). Time is O(n log n) in the longest pre-tokenized piece
 * and linear otherwise; scratch memory is about 50 bytes per byte of that piece. */
lm_status tok_encode(const tok_tokenizer *t, const char *text, size_t len, int add_special,
                     tok_ids *out, lm_error *err);

/* Options of tok_encode_with(). */
typedef struct {
    int add_special;   /* add BOS/EOS as the tokenizer's post-processor says */
    int parse_special; /* match special tokens written in the text (tok_encode: on). Off, their
                        * text is tokenized as plain text (use for untrusted user content);
                        * non-special added tokens are still matched, as in Hugging Face. */
} tok_encode_opts;

/* tok_encode() with options. Errors: LM_ERR_LIMIT past LM_TOK_MAX_TEXT_BYTES, LM_ERR_NOMEM. */
lm_status tok_encode_with(const tok_tokenizer *t, const char *text, size_t len,
                          const tok_encode_opts *opts, tok_ids *out, lm_error *err);

/* Appends the decoded text of ids[0..n) to *out, as the tokenizer's decoder does for a whole
 * sequence (e.g. SentencePiece drops the leading space of the first piece). Ids outside the
 * vocabulary are skipped (as Hugging Face does). The text is valid UTF-8: bytes that do not form
 * characters become U+FFFD. */
lm_status tok_decode(const tok_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                     lm_buf *out, lm_error *err);

/* Appends the raw bytes token `id` contributes to a continuation (the decoder applied as in
 * streaming, but no UTF-8 repair: a byte-fallback or byte-level token may be part of a
 * character). What OpenAI logprobs report as a token's `bytes`. Nothing for ids outside the
 * vocabulary. */
void tok_token_bytes(const tok_tokenizer *t, int32_t id, lm_buf *out);

/* Incremental decoder for streaming a continuation: feed one id at a time, get the newly complete
 * text. Concatenating all outputs (plus tok_stream_flush) equals the bytes of the continuation
 * with no character re-emitted or dropped; bytes that never form a valid character become U+FFFD.
 * A continuation keeps its leading space (it follows earlier text). */
typedef struct {
    const tok_tokenizer *t;
    int skip_special;
    unsigned char pending[8]; /* bytes of an incomplete UTF-8 character */
    size_t n_pending;
} tok_stream;

/* A stream belongs to one sequence (one thread at a time); it holds no heap memory, so dropping
 * it needs no call. */
void tok_stream_init(tok_stream *s, const tok_tokenizer *t, int skip_special);
/* Appends the text that `id` completes to *out (possibly nothing). Ids outside the vocabulary
 * are ignored. */
void tok_stream_push(tok_stream *s, int32_t id, lm_buf *out);
/* Appends what is left (incomplete bytes as U+FFFD). */
void tok_stream_flush(tok_stream *s, lm_buf *out);

#endif
